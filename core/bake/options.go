package bake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/status"
)

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
	// ContainerdVersion is the containerd 2.x release a kube image runs
	// (default DefaultContainerdVersion), or ContainerdDistro for the base's
	// own containerd and runc packages.
	ContainerdVersion string
	// RuncVersion is the runc release beside it; default DefaultRuncVersion.
	// With ContainerdDistro it must be empty or ContainerdDistro.
	RuncVersion string
	// RuntimeArtifacts is a directory with containerd,
	// containerd-shim-runc-v2 and runc of those versions (air-gapped use).
	// Empty means downloading the upstream release files from
	// ContainerdReleaseURL and RuncReleaseURL, checked against their
	// published sha256.
	RuntimeArtifacts string
	// ContainerdReleaseURL and RuncReleaseURL override
	// DefaultContainerdReleaseURL and DefaultRuncReleaseURL.
	ContainerdReleaseURL, RuncReleaseURL string
	// DownloadCache keeps downloaded release binaries; default
	// <user cache dir>/plex/kubernetes.
	DownloadCache string
	// HTTPClient downloads release binaries; nil means http.DefaultClient.
	HTTPClient *http.Client
	// PreloadImages pulls the images that kubeadm init and join run
	// (kubeadm config images list: the control plane, etcd, CoreDNS,
	// kube-proxy and pause) into a kube image's containerd store, so that
	// nodes start them without a pull.
	PreloadImages bool
	// PreloadMirror is the registry the bake pulls those images from
	// instead of registry.k8s.io: a mirror of it, as plex's registryMirror
	// (http://host:port). There is no fallback to registry.k8s.io, so an
	// air-gapped bake fails at a missing image rather than waiting on the
	// network. Empty means registry.k8s.io itself.
	PreloadMirror string
	// AptProxy is an http:// proxy URL for apt in the transient instance,
	// for networks where the instance reaches the base's mirror only through
	// a proxy. It is not left in the image.
	AptProxy string
	// Compression of the published image: "zstd" (default), "none",
	// "gzip", "xz", …. Measured on the 2-core harness for the kube image:
	// none 479 MiB, gzip 154 MiB, zstd 144 MiB; zstd's bake took ~5 s more
	// than none's and the first launch from it ~3 s more (Incus unpacks an
	// image once per storage pool; later launches are snapshots). The
	// smaller image is what a member of an Incus cluster copies before it
	// starts its first node.
	Compression string
	// VM bakes a virtual-machine image instead of a container image.
	VM bool
	// Force bakes even when the alias's image has the same inputs.
	Force bool
	// Retain leaves the transient instance (and any image) in place when
	// the bake fails, for debugging.
	Retain bool
	// Wait waits for a running bake of the same alias to finish instead of
	// refusing.
	Wait bool
	// DryRun lists the actions and does nothing.
	DryRun bool
	// BootTimeout bounds the wait for the instance to boot; default 3 min.
	BootTimeout time.Duration
	// Log receives the status lines; nil prints nothing.
	Log *status.Logger

	// afterStep, when set, runs after each action (by its key) and fails
	// the action when it returns an error: the tests' way to make a bake
	// fail.
	afterStep func(ctx context.Context, step, instance string) error
}

// The container runtime of a kube image: containerd and runc releases, or
// the base's packages (containerd 1.6.20 and runc 1.1.5 on Debian 12).
const (
	DefaultContainerdVersion = "v2.4.2"
	DefaultRuncVersion       = "v1.5.3"
	ContainerdDistro         = "distro"
)

// DefaultCompression is the published image's compression when none is
// given (see Options.Compression).
const DefaultCompression = "zstd"

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
	errs = append(errs, o.completeRuntime()...)
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
	errs = append(errs, o.completePreload()...)
	if o.Compression == "" {
		o.Compression = DefaultCompression
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

var releaseVersionRE = regexp.MustCompile(`^v?([0-9]+)\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// completeRuntime checks and defaults the container runtime's options; the
// errors name the flags, since the versions are typed by hand.
func (o *Options) completeRuntime() []error {
	var errs []error
	if o.ContainerdVersion == "" {
		o.ContainerdVersion = DefaultContainerdVersion
	}
	if o.ContainerdVersion == ContainerdDistro {
		if o.RuncVersion != "" && o.RuncVersion != ContainerdDistro {
			errs = append(errs, fmt.Errorf("--runc-version %q: with --containerd-version %s, runc is the base's package too; leave --runc-version out", o.RuncVersion, ContainerdDistro))
		}
		if o.RuntimeArtifacts != "" {
			errs = append(errs, fmt.Errorf("--runtime-artifacts %q: with --containerd-version %s, containerd and runc are the base's packages; leave --runtime-artifacts out", o.RuntimeArtifacts, ContainerdDistro))
		}
		o.RuncVersion = ContainerdDistro
		return errs
	}
	if m := releaseVersionRE.FindStringSubmatch(o.ContainerdVersion); m == nil {
		errs = append(errs, fmt.Errorf("--containerd-version %q is not a release version like %s (or %q for the base's package)", o.ContainerdVersion, DefaultContainerdVersion, ContainerdDistro))
	} else if m[1] != "2" {
		errs = append(errs, fmt.Errorf("--containerd-version %q: plex writes the config of containerd 2.x (schema version 3 or 4); give a 2.x release like %s, or %q for the base's package", o.ContainerdVersion, DefaultContainerdVersion, ContainerdDistro))
	} else {
		o.ContainerdVersion = "v" + strings.TrimPrefix(o.ContainerdVersion, "v")
	}
	if o.RuncVersion == "" {
		o.RuncVersion = DefaultRuncVersion
	}
	if !releaseVersionRE.MatchString(o.RuncVersion) {
		errs = append(errs, fmt.Errorf("--runc-version %q is not a release version like %s", o.RuncVersion, DefaultRuncVersion))
	} else {
		o.RuncVersion = "v" + strings.TrimPrefix(o.RuncVersion, "v")
	}
	if o.RuntimeArtifacts != "" {
		if abs, err := filepath.Abs(o.RuntimeArtifacts); err == nil {
			o.RuntimeArtifacts = abs
		}
		if st, err := os.Stat(o.RuntimeArtifacts); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("--runtime-artifacts %q is not a directory; give one with containerd, containerd-shim-runc-v2 and runc (hack/runtime-artifacts.sh builds them)", o.RuntimeArtifacts))
		}
	}
	if o.ContainerdReleaseURL == "" {
		o.ContainerdReleaseURL = DefaultContainerdReleaseURL
	}
	if o.RuncReleaseURL == "" {
		o.RuncReleaseURL = DefaultRuncReleaseURL
	}
	return errs
}

// completePreload checks the image preload's options, by their flags.
func (o *Options) completePreload() []error {
	var errs []error
	if o.PreloadImages && o.Type == TypeRegistry {
		errs = append(errs, fmt.Errorf("--preload-images: a %s image runs no Kubernetes images; leave it out", TypeRegistry))
	}
	if o.PreloadMirror == "" {
		return errs
	}
	if !o.PreloadImages {
		errs = append(errs, fmt.Errorf("--preload-mirror %q is where --preload-images pulls from; give --preload-images too, or leave --preload-mirror out", o.PreloadMirror))
	}
	if _, err := preloadHostsTOML(o.PreloadMirror); err != nil {
		errs = append(errs, fmt.Errorf("--preload-mirror: %w", err))
	}
	return errs
}

// distroRuntime is true when a kube image gets the base's containerd.
func (o Options) distroRuntime() bool { return o.ContainerdVersion == ContainerdDistro }
