package app

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/bake"
	"github.com/plex-dev/plex/core/status"
)

func newBakeCommand(g *globalOptions, out, errOut io.Writer) *cobra.Command {
	var o bake.Options
	cmd := &cobra.Command{
		Use:   "bake TYPE BASE",
		Short: "Bake a node image (or find it up to date)",
		Long: `Bake a node image of TYPE from the OS image BASE and publish it as the image
alias <base>_<type> (BASE without its remote, lowercased, other characters
as '-': images:debian/12/cloud gives debian-12-cloud_kube).

Types: kube (containerd 2.x and runc of --containerd-version and
--runc-version, with plex's own systemd unit and containerd config, in the
schema version that containerd writes itself: 3, or 4 from 2.4; CNI plugins
from the base's packages; kubeadm, kubelet and kubectl of
--kubernetes-version; kubelet enabled), and registry (the CNCF
distribution registry from the base's packages, for the read-through cache
of plex-registry; the version flags do not apply).

The Kubernetes binaries come from the upstream release downloads (checked
against their published sha256), or from --kube-artifacts DIR for air-gapped
use. containerd and runc likewise come from their GitHub release files
(containerd's tarball and runc's binary, checked against the published
sha256sum lists), or from --runtime-artifacts DIR (containerd,
containerd-shim-runc-v2 and runc). --containerd-version distro takes the
base's own containerd and runc packages instead (1.6 on Debian 12), for
comparison. Packages come from the base's own mirror, fetched by the
transient instance; --apt-proxy sends them through an HTTP proxy
(apt-cacher-ng).

--preload-images pulls the images kubeadm init and join run (the control
plane, etcd, CoreDNS, kube-proxy and pause of --kubernetes-version) into
the image's containerd, as kind's node images hold them: nodes then start
them without a pull, and the registry mirrors are used for the workload
only. They come from registry.k8s.io, or from --preload-mirror URL, a
mirror of it (no fallback to registry.k8s.io).

If the alias's image was baked from the same inputs (base image, binaries,
provisioning scripts, settings), nothing is done; --force bakes again. On
failure everything the bake made (the transient instance, a published image)
is deleted, unless --retain keeps it for debugging; remove it by hand
before baking the alias again.`,
		Example: `  # bake debian12_kube from the local image debian12
  incus plexbake bake kube debian12

  # from a remote image, a given Kubernetes version
  incus plexbake bake kube images:debian/12/cloud --kubernetes-version v1.34.4

  # air-gapped: binaries from a directory, packages through a proxy
  incus plexbake bake kube debian12 --kube-artifacts /var/cache/plex-dev/k8s/v1.34.4/bin \
      --apt-proxy http://10.212.0.1:3142

  # air-gapped, containerd and runc too (hack/runtime-artifacts.sh builds them)
  incus plexbake bake kube debian12 --kube-artifacts /var/cache/plex-dev/k8s/v1.34.4/bin \
      --runtime-artifacts /var/cache/plex-dev/runtime/v2.4.2-v1.5.3/bin --apt-proxy http://10.212.0.1:3142

  # the control-plane images inside the image, pulled from a mirror of registry.k8s.io
  incus plexbake bake kube debian12 --preload-images --preload-mirror http://10.212.0.1:5000

  # the base's packaged containerd and runc, under another alias
  incus plexbake bake kube debian12 --containerd-version distro --alias debian12_kube_distro

  # the registry cache image debian12_registry, packages through a proxy
  incus plexbake bake registry debian12 --apt-proxy http://10.212.0.1:3142

  # only show the steps
  incus plexbake bake kube debian12 --dry-run

  # keep the transient instance when the bake fails, to look inside
  incus plexbake bake kube debian12 --retain`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Type, o.Base = args[0], args[1]
			log := status.New(errOut)
			log.Verbose = g.verbose
			o.Log = log
			if o.DryRun {
				_, err := bake.Bake(cmd.Context(), nil, o)
				return err
			}
			srv, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			res, err := bake.Bake(cmd.Context(), srv, o)
			if err != nil {
				return err
			}
			state := "baked"
			if res.Cached {
				state = "up to date"
			}
			_, err = fmt.Fprintf(out, "%s: image %s, %s in %s (inputs %.12s)\n", res.Alias, res.Fingerprint, state, res.Elapsed.Round(100*time.Millisecond), res.Inputs)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Alias, "alias", "", "image alias to publish (default <base>_<type>)")
	f.StringVar(&o.KubernetesVersion, "kubernetes-version", bake.DefaultKubernetesVersion, "version of kubeadm, kubelet and kubectl")
	f.StringVar(&o.KubeArtifacts, "kube-artifacts", "", "directory with kubeadm, kubelet and kubectl (default: download the upstream release)")
	f.StringVar(&o.ContainerdVersion, "containerd-version", bake.DefaultContainerdVersion, `containerd 2.x release, or "distro" for the base's containerd and runc packages`)
	// Empty, not DefaultRuncVersion, so that --containerd-version distro
	// alone is not a conflict.
	f.StringVar(&o.RuncVersion, "runc-version", "", "runc release (default "+bake.DefaultRuncVersion+"; not with --containerd-version distro)")
	f.StringVar(&o.RuntimeArtifacts, "runtime-artifacts", "", "directory with containerd, containerd-shim-runc-v2 and runc of those versions (default: download the upstream releases)")
	f.BoolVar(&o.PreloadImages, "preload-images", false, "pull the images of kubeadm init and join into the image's containerd (kube only)")
	f.StringVar(&o.PreloadMirror, "preload-mirror", "", "registry to pull --preload-images from instead of registry.k8s.io, like http://10.212.0.1:5000 (no fallback)")
	f.StringVar(&o.AptProxy, "apt-proxy", "", "HTTP proxy for apt in the transient instance, like http://10.212.0.1:3142 (not kept in the image)")
	f.StringVar(&o.Compression, "compression", bake.DefaultCompression, "image compression: zstd (144 MiB for the kube image), none (479 MiB, a few seconds faster to bake and to launch the first time), gzip, xz")
	f.BoolVar(&o.Force, "force", false, "bake even if the image is up to date")
	f.BoolVar(&o.Retain, "retain", false, "on failure keep the transient instance (and any image) for debugging")
	// --keep was the flag's name before it matched kubectl plex and
	// plex-registry; it stays for one release.
	f.BoolVar(&o.Retain, "keep", false, "on failure keep the transient instance (and any image) for debugging")
	_ = f.MarkDeprecated("keep", "use --retain")
	_ = f.MarkHidden("keep")
	// pflag prints the deprecation notice to the flag set's output, which
	// cobra would copy to stdout, among the bake's results.
	f.SetOutput(errOut)
	f.BoolVar(&o.Wait, "wait", false, "wait for a running bake of the same alias instead of refusing")
	f.BoolVar(&o.DryRun, "dry-run", false, "list the steps without doing anything")
	f.BoolVar(&o.VM, "vm", false, "bake a virtual-machine image instead of a container image")
	f.DurationVar(&o.BootTimeout, "boot-timeout", 3*time.Minute, "how long the transient instance may take to boot")
	return cmd
}
