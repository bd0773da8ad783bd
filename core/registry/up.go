package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/digest"
	"github.com/plex-dev/plex/core/status"
)

// UpOptions are the inputs of Up.
type UpOptions struct {
	// File and Name pick a plex of a spec file; the cache is its registry
	// node. Without File, Placement says where the cache goes.
	File, Name string
	Placement
	Target
	// Engine is EngineZot (default) or EngineDistribution.
	Engine string
	// Upstreams are the registries to mirror; empty means DefaultUpstreams.
	Upstreams []Upstream
	// SkipTLSVerify names upstreams whose certificate is not checked.
	SkipTLSVerify []string
	// ZotBinary is a local Zot binary; empty downloads ZotVersion from
	// ZotReleaseURL (defaults DefaultZotVersion, DefaultZotReleaseURL) into
	// DownloadCache (default <user cache dir>/plex/zot).
	ZotBinary, ZotVersion, ZotReleaseURL, DownloadCache string
	HTTPClient                                          *http.Client
	// VolumeSize limits the cache volume (Incus "size", like 50GiB) where
	// the pool supports it; empty: no limit.
	VolumeSize string
	// Kubeconfig is where the plex's context (plex-<name>) is looked up to
	// publish the local-registry-hosting ConfigMap; empty: like kubectl.
	Kubeconfig string
	// Retain keeps what a failed run created.
	Retain bool
	// Log receives the status lines; nil prints nothing.
	Log *status.Logger
}

// UpResult is what Up made or found.
type UpResult struct {
	Cache *Cache
	// Created is true when this run created the instance.
	Created bool
	// Changed lists what this run changed (files, units, labels, nodes).
	Changed []string
	// Nodes are the running kube nodes of the plex now pointed at the cache.
	Nodes []string
	// ConfigMap says whether (and why not) the local-registry-hosting
	// ConfigMap was published.
	ConfigMap string
	Elapsed   time.Duration
}

// upRun is one Up in progress.
type upRun struct {
	o     UpOptions
	srv   Server
	log   *status.Logger
	site  *site
	cache *Cache
	res   *UpResult
	undos []func(context.Context) error
	what  []string
}

// Up brings a cache to its configuration: it creates the cache volume and
// the instance when they are missing, installs the engine's configuration
// and systemd units, waits until every endpoint answers, records the layout
// on the instance, points the plex's running nodes at it, and publishes the
// local-registry-hosting ConfigMap when the plex's cluster is reachable. A
// re-run adopts what exists. On failure, what this run created is deleted
// unless Retain is set; the volume's content is never touched.
func Up(ctx context.Context, o UpOptions) (res *UpResult, err error) {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.Engine == "" {
		o.Engine = EngineZot
	}
	start := time.Now()
	layout, err := NewLayout(o.Engine, o.Upstreams, o.SkipTLSVerify)
	if err != nil {
		return nil, err
	}
	r := &upRun{o: o, log: o.Log, res: &UpResult{}}
	var srv *incus.Server
	if o.File != "" {
		if r.site, err = siteFromSpec(o.File, o.Name); err != nil {
			return nil, err
		}
		if srv, err = o.connect(ctx, r.site.remote, r.site.project); err != nil {
			return nil, err
		}
		r.srv = srv
	} else {
		if srv, err = o.connect(ctx, "", ""); err != nil {
			return nil, err
		}
		r.srv = srv
		if r.site, err = siteFromPlacement(ctx, r.srv, o.Placement); err != nil {
			return nil, err
		}
	}
	r.cache = &Cache{Instance: r.site.node.Name, Plex: r.site.plex, Address: r.site.node.Address, Layout: layout}
	r.res.Cache = r.cache
	defer func() {
		if err != nil {
			r.revert(ctx)
		}
		r.res.Elapsed = time.Since(start)
	}()
	if err := r.up(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

func (r *upRun) step(format string, args ...any) func(error) error {
	a := r.log.Start(format, args...)
	return a.End
}

func (r *upRun) onFailure(what string, undo func(context.Context) error) {
	r.what = append(r.what, what)
	r.undos = append(r.undos, undo)
}

func (r *upRun) revert(ctx context.Context) {
	if len(r.undos) == 0 {
		return
	}
	if r.o.Retain {
		r.log.Infof(" ! kept what this run made (--retain): %s", strings.Join(r.what, ", "))
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for i := len(r.undos) - 1; i >= 0; i-- {
		end := r.step("cleaning up: deleting %s", r.what[i])
		if err := end(r.undos[i](cctx)); err != nil {
			r.log.Infof("   could not delete %s: %v", r.what[i], err)
		}
	}
}

func (r *upRun) changed(what string) { r.res.Changed = append(r.res.Changed, what) }

func (r *upRun) up(ctx context.Context) error {
	name := r.cache.Instance
	existing, err := r.preflight(ctx)
	if err != nil {
		return err
	}
	end := r.step("ensuring profile %s", ProfileName)
	if err := end(r.srv.EnsureProfile(ctx, incus.Profile{Name: ProfileName, Description: "plex read-through image cache"})); err != nil {
		return err
	}
	if err := r.ensureVolume(ctx, existing); err != nil {
		return err
	}
	if existing == nil {
		if err := r.create(ctx); err != nil {
			return err
		}
	} else if existing.Status != "Running" {
		end := r.step("starting %s", name)
		if err := end(r.srv.Start(ctx, name)); err != nil {
			return err
		}
		r.changed("started " + name)
	}
	end = r.step("waiting for %s to boot with %s", name, r.cache.Address)
	if err := end(r.waitBoot(ctx)); err != nil {
		return err
	}
	if r.cache.Engine == EngineZot {
		if err := r.installZot(ctx); err != nil {
			return err
		}
	}
	end = r.step("configuring %s: %s", r.cache.Engine, strings.Join(r.cache.Units(), ", "))
	if err := end(r.provision(ctx)); err != nil {
		return err
	}
	labels, err := r.cache.labels()
	if err != nil {
		return err
	}
	if existing == nil || !sameLabels(existing.Config, labels) {
		end = r.step("recording the cache layout on %s", name)
		if err := end(r.srv.SetInstanceConfig(ctx, name, labels)); err != nil {
			return err
		}
		if existing != nil {
			r.changed("layout labels")
		}
	}
	r.cache.Status = "Running"
	// Made and configured: from here on a failure leaves the cache in place.
	r.undos, r.what = nil, nil
	if err := r.pointNodes(ctx); err != nil {
		return err
	}
	r.publishConfigMap(ctx)
	return nil
}

// preflight checks the instance name, the image and the volume label before
// anything is made, and returns the instance when it exists.
func (r *upRun) preflight(ctx context.Context) (*incus.Instance, error) {
	n := r.site.node
	in, err := r.srv.GetInstance(ctx, n.Name)
	switch {
	case err == nil:
		if !in.Managed() || in.Config[incus.LabelRole] != "registry" || in.Config[incus.LabelPlex] != r.site.plex {
			return nil, fmt.Errorf("an instance named %s exists but plex did not create it as this cache; plex will not touch it: delete or rename it, or give the cache another name", n.Name)
		}
		if a := in.Config[incus.LabelAddress]; a != "" && a != n.Address {
			return nil, fmt.Errorf("cache %s exists with address %s, not %s: delete it first (`plex-registry down`; the cached content stays on its volume)", n.Name, a, n.Address)
		}
		return in, nil
	case !incus.IsNotFound(err):
		return nil, fmt.Errorf("looking up instance %s: %w", n.Name, err)
	}
	if _, err := r.srv.ImageByAlias(ctx, n.Image); err != nil {
		if incus.IsNotFound(err) {
			return nil, fmt.Errorf("image %s is not on this Incus server: bake it with `incus plexbake bake registry %s`", n.Image, baseOf(n.Image))
		}
		return nil, fmt.Errorf("looking up image %s: %w", n.Image, err)
	}
	return nil, nil
}

// volumeName is the cache volume of an instance.
func volumeName(instance string) string { return instance + "-cache" }

func (r *upRun) ensureVolume(ctx context.Context, existing *incus.Instance) error {
	pool, vol := "", volumeName(r.cache.Instance)
	if existing != nil {
		if p, v, ok := strings.Cut(existing.Config[LabelVolume], "/"); ok {
			pool, vol = p, v
		}
	}
	if pool == "" {
		pool = r.site.pool
	}
	if pool == "" {
		var err error
		if pool, err = r.srv.DefaultPool(ctx); err != nil {
			return err
		}
	}
	r.cache.Pool, r.cache.Volume = pool, vol
	v, err := r.srv.GetVolume(ctx, pool, vol)
	if err == nil {
		if !v.Managed() || v.Config[LabelCacheInstance] != r.cache.Instance {
			return fmt.Errorf("storage volume %s in pool %s exists but is not %s's cache volume (no %s=%s): rename or delete it", vol, pool, r.cache.Instance, LabelCacheInstance, r.cache.Instance)
		}
		if existing == nil {
			r.log.Infof("   reusing the cache volume %s/%s and what it holds", pool, vol)
		}
		return nil
	}
	if !incus.IsNotFound(err) {
		return fmt.Errorf("looking up storage volume %s in pool %s: %w", vol, pool, err)
	}
	if existing != nil {
		return fmt.Errorf("cache %s is there but its volume %s/%s is gone: delete the instance with `plex-registry down` and run up again", r.cache.Instance, pool, vol)
	}
	cfg := map[string]string{incus.LabelManaged: "true", LabelCacheInstance: r.cache.Instance}
	if r.site.plex != "" {
		cfg[incus.LabelPlex] = r.site.plex
	}
	if r.o.VolumeSize != "" {
		cfg["size"] = r.o.VolumeSize
	}
	end := r.step("creating cache volume %s in pool %s", vol, pool)
	if err := end(r.srv.CreateVolume(ctx, incus.Volume{Pool: pool, Name: vol, Config: cfg, Description: "plex read-through image cache of " + r.cache.Instance})); err != nil {
		return err
	}
	r.changed("volume " + pool + "/" + vol)
	r.onFailure("cache volume "+pool+"/"+vol, func(ctx context.Context) error { return r.srv.DeleteVolume(ctx, pool, vol) })
	return nil
}

// create creates and starts the instance.
func (r *upRun) create(ctx context.Context) error {
	spec, err := r.instanceSpec()
	if err != nil {
		return err
	}
	end := r.step("creating %s (%s, %s) from %s", spec.Name, r.cache.Address, r.cache.Engine, r.site.node.Image)
	if err := end(r.srv.CreateInstance(ctx, spec)); err != nil {
		return err
	}
	r.res.Created = true
	r.changed("instance " + spec.Name)
	r.onFailure("instance "+spec.Name, func(ctx context.Context) error { return r.srv.Delete(ctx, spec.Name) })
	end = r.step("starting %s", spec.Name)
	return end(r.srv.Start(ctx, spec.Name))
}

// instanceSpec is the cache instance: an unprivileged container (a
// registry needs nothing more) with the node labels, a static address, and
// the cache volume at StorageDir.
func (r *upRun) instanceSpec() (incus.InstanceSpec, error) {
	n := r.site.node
	var hosts []cloudinit.Host
	for _, h := range r.site.hosts {
		hosts = append(hosts, cloudinit.Host{Name: h.Name, Address: h.Address})
	}
	if len(hosts) == 0 {
		hosts = []cloudinit.Host{{Name: n.Name, Address: n.Address}}
	}
	userData, err := cloudinit.UserData(cloudinit.UserDataInput{Hostname: n.Name, Hosts: hosts})
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	netConfig, err := cloudinit.NetworkConfig(n, r.site.gateway, r.site.bits, []string{r.site.gateway})
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	labels, err := r.cache.labels()
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	cfg := map[string]string{
		incus.LabelManaged:          "true",
		incus.LabelRole:             n.Role,
		incus.LabelType:             n.Type,
		incus.LabelAddress:          n.Address,
		"cloud-init.user-data":      string(userData),
		"cloud-init.network-config": string(netConfig),
		"boot.autostart":            "true",
	}
	if r.site.plex != "" {
		cfg[incus.LabelPlex] = r.site.plex
		cfg[incus.LabelIndex] = strconv.Itoa(n.Index)
	}
	for k, v := range labels {
		cfg[k] = v
	}
	if n.CPU != "" {
		cfg["limits.cpu"] = n.CPU
	}
	if n.Memory != "" {
		cfg["limits.memory"] = n.Memory
	}
	nic := map[string]string{"type": "nic", "name": cloudinit.Interface}
	if r.site.bridged {
		nic["nictype"], nic["parent"] = "bridged", r.site.network
	} else {
		nic["network"], nic["ipv4.address"] = r.site.network, n.Address
	}
	devices := map[string]map[string]string{
		"eth0":  nic,
		"cache": {"type": "disk", "pool": r.cache.Pool, "source": r.cache.Volume, "path": StorageDir},
	}
	if r.site.pool != "" {
		devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": r.site.pool}
	}
	return incus.InstanceSpec{Name: n.Name, Image: n.Image, Profiles: n.Profiles, Config: cfg, Devices: devices, Target: n.Target}, nil
}

const bootScript = `cloud-init status --wait >/dev/null 2>&1 || true
echo "addr=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n1) "`

func (r *upRun) waitBoot(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last string
	var lastErr error
	for {
		out, err := r.srv.Run(ctx, r.cache.Instance, "sh", "-c", bootScript)
		if err == nil && strings.Contains(out, "addr="+r.cache.Address+" ") {
			return nil
		}
		last, lastErr = strings.TrimSpace(out), err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%s did not boot: %w", r.cache.Instance, lastErr)
			}
			return fmt.Errorf("%s booted without its address %s (got %s): check `incus exec %s -- cloud-init status --long`", r.cache.Instance, r.cache.Address, last, r.cache.Instance)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (r *upRun) installZot(ctx context.Context) error {
	o := r.o
	arch, err := r.srv.Architecture(ctx)
	if err != nil {
		return err
	}
	src := zotSource{Binary: o.ZotBinary, Version: o.ZotVersion, ReleaseURL: o.ZotReleaseURL, CacheDir: o.DownloadCache, Client: o.HTTPClient}
	if src.Version == "" {
		src.Version = DefaultZotVersion
	}
	if src.ReleaseURL == "" {
		src.ReleaseURL = DefaultZotReleaseURL
	}
	if src.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		src.CacheDir = filepath.Join(dir, "plex", "zot")
	}
	from := "release " + src.Version
	if src.Binary != "" {
		from = src.Binary
	}
	end := r.step("installing zot (%s) in %s", from, r.cache.Instance)
	return end(func() error {
		p, err := src.path(ctx, arch)
		if err != nil {
			return err
		}
		sum, err := digest.FileSHA256(p)
		if err != nil {
			return err
		}
		if out, err := r.srv.Run(ctx, r.cache.Instance, "sh", "-c", "sha256sum "+ZotBinary+" 2>/dev/null || true"); err == nil && strings.HasPrefix(out, sum) {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := r.srv.PushReader(ctx, r.cache.Instance, ZotBinary, f, 0o755); err != nil {
			return err
		}
		r.changed(ZotBinary)
		return nil
	}())
}

func (r *upRun) provision(ctx context.Context) error {
	script, err := r.cache.ProvisionScript()
	if err != nil {
		return err
	}
	const path = "/usr/local/lib/plex-registry/provision.sh"
	if err := r.srv.PushFile(ctx, r.cache.Instance, path, []byte(script), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := r.srv.Run(ctx, r.cache.Instance, "bash", path)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		for _, p := range []string{"plex-changed ", "plex-removed "} {
			if s, ok := strings.CutPrefix(line, p); ok && !r.res.Created {
				r.changed(strings.TrimSpace(s))
			}
		}
	}
	return nil
}

// pointNodes writes the cache's hosts.toml into the plex's running kube
// nodes. containerd reads certs.d on every pull, so nothing restarts. New
// nodes get the same files from cloud-init when `kubectl plex up` creates
// them.
func (r *upRun) pointNodes(ctx context.Context) error {
	if len(r.site.kube) == 0 {
		return nil
	}
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, in := range list {
		if in.Plex() == r.site.plex && in.Status == "Running" {
			running[in.Name] = true
		}
	}
	var nodes []string
	for _, n := range r.site.kube {
		if running[n.Name] {
			nodes = append(nodes, n.Name)
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	files, err := HostsFiles(NodeMirrors(r.cache, r.site.explicit))
	if err != nil {
		return err
	}
	end := r.step("pointing %d running node(s) at the cache: %s", len(nodes), strings.Join(nodes, ", "))
	var errs []error
	for _, n := range nodes {
		for _, f := range files {
			errs = append(errs, r.srv.PushFile(ctx, n, f.Path, []byte(f.Content), 0o644))
		}
	}
	if err := end(errors.Join(errs...)); err != nil {
		return err
	}
	r.res.Nodes = nodes
	return nil
}

func (r *upRun) publishConfigMap(ctx context.Context) {
	if r.site.plex == "" {
		r.res.ConfigMap = "not published: the cache belongs to no plex"
		return
	}
	cs, err := clientForContext(r.o.Kubeconfig, "plex-"+r.site.plex)
	if errors.Is(err, errNoContext) {
		r.res.ConfigMap = "not published yet: plex " + r.site.plex + " has no kubeconfig context; `kubectl plex up` publishes it"
		return
	}
	end := r.step("publishing ConfigMap %s/%s in plex %s", HostingConfigMapNamespace, HostingConfigMapName, r.site.plex)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = PublishHosting(ctx, cs, r.cache)
	}
	if end(err) != nil {
		r.res.ConfigMap = fmt.Sprintf("not published: %v", err)
		return
	}
	r.res.ConfigMap = "published"
}

func sameLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// baseOf guesses the base from an image alias "<base>_<type>".
func baseOf(alias string) string {
	if i := strings.LastIndex(alias, "_"); i > 0 {
		return alias[:i]
	}
	return alias
}
