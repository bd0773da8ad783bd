package bake

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
)

// rawLXC is what kubelet and containerd need in a privileged system
// container (see core/cluster's kube profile): the bake runs them to check
// the image, so the transient instance gets the same settings.
const rawLXC = "lxc.apparmor.profile=unconfined\n" +
	"lxc.cap.drop=\n" +
	"lxc.cgroup.devices.allow=a\n" +
	"lxc.mount.auto=proc:rw sys:rw cgroup:rw:force\n" +
	"lxc.mount.entry=/dev/kmsg dev/kmsg none bind,create=file 0 0\n"

// lock creates the transient instance. Its name is the lock: a second bake
// of the same alias finds it and waits (Wait) or refuses with what to do.
func (b *baker) lock(ctx context.Context) error {
	id := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())
	cfg := map[string]string{
		incus.LabelManaged:     "true",
		incus.LabelType:        b.o.Type,
		incus.LabelBake:        b.o.Alias,
		incus.LabelBakeStarted: time.Now().UTC().Format(time.RFC3339),
		incus.LabelBakeID:      id,
	}
	if !b.o.VM {
		cfg["security.privileged"] = "true"
		cfg["security.nesting"] = "true"
		cfg["raw.lxc"] = rawLXC
	}
	spec := incus.InstanceSpec{
		Name: b.instance, Fingerprint: b.base.Fingerprint, VM: b.o.VM, Config: cfg,
		ImageServer: b.base.Server, ImageProtocol: b.base.Protocol,
	}
	waited := false
	for {
		err := b.srv.CreateInstance(ctx, spec)
		if err == nil {
			break
		}
		holder, gerr := b.srv.GetInstance(ctx, b.instance)
		if gerr != nil {
			return err
		}
		if holder.Config[incus.LabelBakeID] == id {
			// Ours, half made (cancelled while creating).
			b.createdInstance()
			return err
		}
		if holder.Config[incus.LabelBake] != b.o.Alias {
			return fmt.Errorf("instance %s exists and is not a plex bake of %s; rename or delete it, or bake under another --alias", b.instance, b.o.Alias)
		}
		since := "at an unknown time"
		if t, perr := time.Parse(time.RFC3339, holder.Config[incus.LabelBakeStarted]); perr == nil {
			since = time.Since(t).Round(time.Second).String() + " ago"
		}
		if !b.o.Wait {
			return fmt.Errorf("another bake of %s is running in instance %s (started %s); wait for it with --wait, or, if no bake is running any more (a killed bake leaves its instance behind), remove it with `incus delete --force %s`", b.o.Alias, b.instance, since, b.instance)
		}
		if !waited {
			b.log.Infof("   another bake of %s runs in %s (started %s); waiting for it (--wait)", b.o.Alias, b.instance, since)
			waited = true
		}
		if err := b.waitGone(ctx); err != nil {
			return err
		}
	}
	b.createdInstance()
	if waited && !b.o.Force {
		// The bake we waited for may have made just this image.
		if img, err := b.srv.ImageByAlias(ctx, b.o.Alias); err == nil && img.Properties[incus.PropInputs] == b.hash {
			b.cached, b.fingerprint, b.props = true, img.Fingerprint, plexProps(img.Properties)
			b.log.Infof("   the other bake made %s with these inputs (image %s); nothing to do", b.o.Alias, short(img.Fingerprint))
			if err := b.removeInstance(ctx); err != nil {
				return err
			}
			return action.SkipRest
		}
	}
	return nil
}

func (b *baker) createdInstance() {
	b.created("instance", b.instance, "incus delete --force "+b.instance, b.removeInstance)
}

// waitGone waits until the transient instance no longer exists.
func (b *baker) waitGone(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if _, err := b.srv.GetInstance(ctx, b.instance); incus.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the other bake in %s: %w", b.instance, ctx.Err())
		case <-t.C:
		}
	}
}
