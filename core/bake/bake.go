// Package bake makes the images plex nodes boot from. A bake launches a
// transient instance from an OS base image, provisions it for a node type,
// cleans it, stops it and publishes it as the image alias <base>_<type>,
// recording on the image what went into it. Each bake is an ordered list of
// steps with one status line each; on failure or cancellation everything the
// bake made is deleted again, unless Keep is set.
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
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus"
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

// Options are the inputs of Bake. Zero values mean the defaults.
type Options struct {
	// Type is the node type: TypeKube or TypeRegistry.
	Type string
	// Base is the OS image to start from: a local alias or fingerprint
	// ("debian12"), or "remote:alias" on a remote of the incus client
	// configuration ("images:debian/12/cloud").
	Base string
	// Alias is the image alias to publish; default DefaultAlias(Base, Type).
	Alias string
	// KubernetesVersion of kubeadm, kubelet and kubectl; default
	// DefaultKubernetesVersion.
	KubernetesVersion string
	// KubeArtifacts is a directory with kubeadm, kubelet and kubectl of that
	// version (air-gapped use). Empty means downloading the upstream release
	// binaries from ReleaseURL, checked against their published sha256.
	KubeArtifacts string
	// ReleaseURL overrides DefaultReleaseURL.
	ReleaseURL string
	// DownloadCache keeps downloaded release binaries; default
	// <user cache dir>/plex/kubernetes.
	DownloadCache string
	// HTTPClient downloads release binaries; nil means http.DefaultClient.
	HTTPClient *http.Client
	// AptProxy is an http:// proxy URL for apt in the transient instance,
	// for networks where the instance reaches the base's mirror only through
	// a proxy. It is not left in the image.
	AptProxy string
	// Compression of the published image: "none" (default: fastest, for
	// images used on the server that baked them), "zstd", "gzip", ….
	Compression string
	// VM bakes a virtual-machine image instead of a container image.
	VM bool
	// Force bakes even when the alias's image has the same inputs.
	Force bool
	// Keep leaves the transient instance (and any image) in place when the
	// bake fails, for debugging.
	Keep bool
	// Wait waits for a running bake of the same alias to finish instead of
	// refusing.
	Wait bool
	// DryRun lists the steps and does nothing.
	DryRun bool
	// BootTimeout bounds the wait for the instance to boot; default 3 min.
	BootTimeout time.Duration
	// Log receives the status lines; nil prints nothing.
	Log *status.Logger

	// afterStep, when set, runs after each step (by its key) and fails the
	// step when it returns an error: the tests' way to make a bake fail.
	afterStep func(ctx context.Context, step, instance string) error
}

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
	// Steps are the steps' titles (what DryRun lists).
	Steps []string
	// Elapsed is the bake's duration.
	Elapsed time.Duration
}

// ErrUnknownType is returned for a node type bake does not know.
var ErrUnknownType = errors.New("unknown node type")

// Bake bakes (or finds up to date) the image for opts.Type on opts.Base.
func Bake(ctx context.Context, srv Server, opts Options) (Result, error) {
	o, err := opts.complete()
	if err != nil {
		return Result{}, err
	}
	b := &baker{srv: srv, o: o, log: o.Log, instance: InstanceName(o.Alias)}
	steps := b.steps()
	res := Result{Alias: o.Alias, Instance: b.instance}
	for _, s := range steps {
		res.Steps = append(res.Steps, s.title)
	}
	if o.DryRun {
		b.log.Infof("dry run: baking %s would take these steps:", o.Alias)
		for i, s := range steps {
			b.log.Infof("  %2d. %s", i+1, s.title)
		}
		return res, nil
	}
	if srv == nil {
		return res, errors.New("baking needs an Incus server")
	}
	start := time.Now()
	err = b.run(ctx, steps)
	res.Elapsed = time.Since(start)
	res.Fingerprint, res.Inputs, res.Cached, res.Properties = b.fingerprint, b.hash, b.cached, b.props
	if err != nil {
		return res, fmt.Errorf("baking %s: %w", o.Alias, err)
	}
	return res, nil
}

var (
	kubeVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	compressions  = []string{"none", "gzip", "zstd", "xz", "bzip2", "lzma", "lz4", "squashfs"}
)

// complete validates the options and fills in the defaults, reporting every
// problem at once.
func (o Options) complete() (Options, error) {
	var errs []error
	switch o.Type {
	case TypeKube, TypeRegistry:
	case "":
		errs = append(errs, fmt.Errorf("no node type given (known types: %s, %s)", TypeKube, TypeRegistry))
	default:
		errs = append(errs, fmt.Errorf("%w %q (known types: %s, %s)", ErrUnknownType, o.Type, TypeKube, TypeRegistry))
	}
	if o.Base == "" {
		errs = append(errs, errors.New("no base image given: name a local image alias like debian12, or a remote one like images:debian/12/cloud"))
	} else if BaseName(o.Base) == "" {
		errs = append(errs, fmt.Errorf("base %q has no letters or digits to name the image after; give --alias", o.Base))
	}
	if o.Alias == "" && o.Base != "" {
		o.Alias = DefaultAlias(o.Base, o.Type)
	}
	if o.Alias != "" && (strings.ContainsAny(o.Alias, "/: \t\n") || len(o.Alias) > 200) {
		errs = append(errs, fmt.Errorf("alias %q is not a valid image alias: no '/', ':' or spaces", o.Alias))
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = DefaultKubernetesVersion
	}
	if !kubeVersionRE.MatchString(o.KubernetesVersion) {
		errs = append(errs, fmt.Errorf("kubernetes version %q is not a release version like %s", o.KubernetesVersion, DefaultKubernetesVersion))
	}
	if o.KubeArtifacts != "" {
		abs, err := filepath.Abs(o.KubeArtifacts)
		if err == nil {
			o.KubeArtifacts = abs
		}
		if st, err := os.Stat(o.KubeArtifacts); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("kube artifacts %q is not a directory", o.KubeArtifacts))
		}
	}
	if o.ReleaseURL == "" {
		o.ReleaseURL = DefaultReleaseURL
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.DownloadCache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		o.DownloadCache = filepath.Join(dir, "plex", "kubernetes")
	}
	if o.AptProxy != "" {
		u, err := url.Parse(o.AptProxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("apt proxy %q is not an http:// URL like http://10.0.0.1:3142", o.AptProxy))
		}
	}
	if o.Compression == "" {
		o.Compression = "none"
	}
	known := false
	for _, c := range compressions {
		known = known || o.Compression == c
	}
	if !known {
		errs = append(errs, fmt.Errorf("compression %q is not one of %s", o.Compression, strings.Join(compressions, ", ")))
	}
	if o.BootTimeout <= 0 {
		o.BootTimeout = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = status.Discard()
	}
	return o, errors.Join(errs...)
}

// step is one action of a bake.
type step struct {
	// key names the step for tests and hooks; title is its status line.
	key, title string
	do         func(ctx context.Context) error
}

// undo deletes something the bake made; manual is the command that does it
// by hand.
type undo struct {
	key, what, manual string
	do                func(ctx context.Context) error
}

// baker carries one bake's state from step to step.
type baker struct {
	srv      Server
	o        Options
	log      *status.Logger
	instance string

	base        *incus.ImageSource
	artifacts   []artifact
	inputs      Inputs
	hash        string
	previous    *incus.Image
	facts       map[string]string
	fingerprint string
	props       map[string]string
	cached      bool
	undos       []undo
}

// run runs the steps in order, and on the first failure (or cancellation)
// undoes what was made.
func (b *baker) run(ctx context.Context, steps []step) (err error) {
	defer func() {
		if err != nil {
			b.revert(ctx)
		}
	}()
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		a := b.log.Start("%s", s.title)
		err := s.do(ctx)
		if err == nil && b.o.afterStep != nil {
			err = b.o.afterStep(ctx, s.key, b.instance)
		}
		if err := a.End(err); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		if b.cached {
			return nil
		}
	}
	return nil
}

// onFailure registers an undo for something just made.
func (b *baker) onFailure(key, what, manual string, do func(ctx context.Context) error) {
	b.undos = append(b.undos, undo{key: key, what: what, manual: manual, do: do})
}

// commit drops an undo: the thing is no longer the bake's to remove.
func (b *baker) commit(key string) {
	for i, u := range b.undos {
		if u.key == key {
			b.undos = append(b.undos[:i], b.undos[i+1:]...)
			return
		}
	}
}

// revert undoes in reverse order, with a fresh context: the bake's own may
// be the reason it failed.
func (b *baker) revert(ctx context.Context) {
	if len(b.undos) == 0 {
		return
	}
	if b.o.Keep {
		for _, u := range b.undos {
			b.log.Infof("kept for debugging (--keep): %s; remove it when done with: %s", u.what, u.manual)
		}
		b.log.Infof("look inside with: incus exec %s -- bash (the bake's scripts are in %s)", b.instance, scriptDir)
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for i := len(b.undos) - 1; i >= 0; i-- {
		u := b.undos[i]
		a := b.log.Start("clean up: delete %s", u.what)
		if err := a.End(u.do(cctx)); err != nil {
			b.log.Infof("   could not delete %s: %v; delete it by hand: %s", u.what, err, u.manual)
		}
	}
	b.undos = nil
}
