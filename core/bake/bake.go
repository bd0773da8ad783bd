// Package bake makes the images plex nodes boot from. A bake launches a
// transient instance from an OS base image, provisions it for a node type,
// cleans it, stops it and publishes it as the image alias <base>_<type>,
// recording on the image what went into it. Each bake is one ordered list of
// actions with one status line each (see actions); on failure or
// cancellation everything the bake made is deleted again, unless Retain is
// set.
//
// Images are cached by content: the inputs hash (base image fingerprint,
// Kubernetes binaries' sums, the provisioning scripts, the settings) is
// stored on the image, and a bake whose inputs match the alias's image does
// nothing.
package bake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/status"
)

// Node types.
const (
	// TypeKube is a Kubernetes node: containerd, kubelet, kubeadm, kubectl.
	TypeKube = "kube"
	// TypeRegistry is the registry cache instance: the distribution registry
	// (see registry.go).
	TypeRegistry = "registry"
)

// DefaultKubernetesVersion is the Kubernetes version baked when none is given.
const DefaultKubernetesVersion = "v1.34.4"

// Server is what a bake needs from Incus; *incus.Server implements it.
type Server interface {
	ResolveImage(ctx context.Context, ref string, vm bool) (*incus.ImageSource, error)
	ImageByAlias(ctx context.Context, alias string) (*incus.Image, error)
	CreateInstance(ctx context.Context, spec incus.InstanceSpec) error
	GetInstance(ctx context.Context, name string) (*incus.Instance, error)
	Start(ctx context.Context, name string) error
	Shutdown(ctx context.Context, name string, timeout time.Duration) error
	Delete(ctx context.Context, name string) error
	Exec(ctx context.Context, name string, cmd []string, o incus.ExecOptions) (int, error)
	PushFile(ctx context.Context, name, path string, content []byte, mode int) error
	MakeDir(ctx context.Context, name, path string, mode int) error
	PushReader(ctx context.Context, name, path string, r io.ReadSeeker, mode int) error
	PublishImage(ctx context.Context, p incus.PublishSpec) (string, error)
	SetImageAlias(ctx context.Context, alias, fingerprint, description string) (string, error)
	DeleteImage(ctx context.Context, fingerprint string) error
	Architecture(ctx context.Context) (string, error)
}

var _ Server = (*incus.Server)(nil)

// Result is what a bake made or found.
type Result struct {
	// Alias and Fingerprint name the image.
	Alias       string
	Fingerprint string
	// Inputs is the inputs hash.
	Inputs string
	// Cached is true when the alias already had an image with these inputs
	// and nothing was baked.
	Cached bool
	// Properties are the image's plex properties.
	Properties map[string]string
	// Instance is the transient instance's name.
	Instance string
	// Steps are the actions' titles (what DryRun lists).
	Steps []string
	// Elapsed is the bake's duration.
	Elapsed time.Duration
}

// ErrUnknownType is returned for a node type bake does not know.
var ErrUnknownType = errors.New("unknown node type")

// Bake bakes (or finds up to date) the image for opts.Type on opts.Base.
func Bake(ctx context.Context, srv Server, opts Options) (res Result, err error) {
	o, err := opts.complete()
	if err != nil {
		return Result{}, err
	}
	b := &baker{srv: srv, o: o, log: o.Log, typ: typeOf(o.Type), instance: InstanceName(o.Alias)}
	b.rv = action.NewReverter(b.log, o.Retain)
	actions := b.actions()
	res = Result{Alias: o.Alias, Instance: b.instance, Steps: titles(actions)}
	if o.DryRun {
		b.log.Infof("dry run: baking %s would take these steps:", o.Alias)
		for i, title := range res.Steps {
			b.log.Infof("  %2d. %s", i+1, title)
		}
		return res, nil
	}
	if srv == nil {
		return res, errors.New("baking needs an Incus server")
	}
	defer func() {
		if err != nil && o.Retain {
			b.explainRetained()
		}
		err = b.rv.Fail(err)
	}()
	start := time.Now()
	err = action.Run(ctx, b.log, actions...)
	res.Elapsed = time.Since(start)
	res.Fingerprint, res.Inputs, res.Cached, res.Properties = b.fingerprint, b.hash, b.cached, b.props
	if err != nil {
		return res, fmt.Errorf("baking %s: %w", o.Alias, err)
	}
	return res, nil
}

// actions is the whole bake, in order. Every node type shares the head (a
// booted transient instance with the bake's scripts in it) and the tail
// (clean, publish, alias); the type's middle installs and checks what it
// holds. The cache check ends the list early when the image is up to date.
func (b *baker) actions() []action.Action {
	o := b.o
	head := []action.Action{
		b.step("resolve", "resolve base image "+o.Base, b.resolveBase),
		b.step("inputs", "compute the inputs hash", b.computeInputs),
		b.step("cache", "look for "+o.Alias+" with these inputs", b.checkCache),
		b.step("lock", fmt.Sprintf("create transient instance %s (locks %s)", b.instance, o.Alias), b.lock),
		action.If(!o.VM, b.step("files", "write boot-time files into "+b.instance+" (networkd without udev)", b.writeBootFiles)),
		b.step("start", "start "+b.instance, func(ctx context.Context) error { return b.srv.Start(ctx, b.instance) }),
		b.step("boot", "wait for "+b.instance+" to boot", b.waitBoot),
		b.step("scripts", "copy the bake's scripts into "+b.instance+" ("+scriptDir+")", b.pushScripts),
	}
	tail := []action.Action{
		b.step("clean", "clean instance state (cloud-init, machine-id, SSH host keys, apt caches)", b.clean),
		b.step("stop", "stop "+b.instance, func(ctx context.Context) error { return b.srv.Shutdown(ctx, b.instance, shutdownTimeout) }),
		b.step("publish", fmt.Sprintf("publish %s as an image (compression %s)", b.instance, o.Compression), b.publish),
		b.step("delete", "delete transient instance "+b.instance, b.removeInstance),
		// Last, so that once the alias names the new image nothing is left
		// that could fail and have the reverter delete the image under it.
		b.step("alias", "point "+o.Alias+" at the new image", b.setAlias),
	}
	return slices.Concat(head, b.typ.middle(b), tail)
}

// baker carries one bake's state from action to action.
type baker struct {
	srv      Server
	o        Options
	typ      nodeType
	log      *status.Logger
	instance string
	rv       *action.Reverter
	// byHand are the commands that remove what the bake made, for the user
	// when Retain keeps it.
	byHand []string

	base        *incus.ImageSource
	artifacts   []artifact
	inputs      Inputs
	hash        string
	previous    *incus.Image
	facts       map[string]string
	fingerprint string
	props       map[string]string
	cached      bool
}

// step makes one action of the bake. key names it for the tests' afterStep
// hook; the error names the action, since the user sees it after the
// reverter's lines, away from the action's own ✗.
func (b *baker) step(key, title string, do func(ctx context.Context) error) action.Action {
	return action.New(title, func(ctx context.Context) error {
		err := do(ctx)
		if err == nil && b.o.afterStep != nil {
			err = b.o.afterStep(ctx, key, b.instance)
		}
		if err != nil && !errors.Is(err, action.SkipRest) {
			return fmt.Errorf("%s: %w", title, err)
		}
		return err
	})
}

// created registers the undo of something this bake has just made, and the
// command that removes it by hand.
func (b *baker) created(kind, name, byHand string, undo func(ctx context.Context) error) {
	b.rv.Add(kind, name, undo)
	b.byHand = append(b.byHand, byHand)
}

// explainRetained tells the user how to look into what a failed bake kept,
// and how to remove it: until the transient instance is gone, it holds the
// lock, and baking again refuses.
func (b *baker) explainRetained() {
	if len(b.byHand) == 0 {
		return
	}
	b.log.Infof("   look inside with: incus exec %s -- bash (the bake's scripts are in %s)", b.instance, scriptDir)
	for _, cmd := range b.byHand {
		b.log.Infof("   remove when done, before baking %s again: %s", b.o.Alias, cmd)
	}
}

// titles are the titles of the actions that print a status line.
func titles(actions []action.Action) []string {
	var out []string
	for _, a := range actions {
		if !a.Quiet {
			out = append(out, a.Title)
		}
	}
	return out
}
