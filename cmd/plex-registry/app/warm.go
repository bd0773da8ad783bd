package app

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/cli"
	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/registry/warm"
)

func newWarmCommand(g *globalOptions, s Streams) *cobra.Command {
	o := registry.WarmOptions{}
	var output string
	var platforms []string
	var load registry.LoadOptions
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "warm [IMAGE…] [-f LIST] [--kubernetes-version vX] [--from-cluster NAME] | warm --from-oci SRC…",
		Short: "Pull images through the cache so that it holds them",
		Long: `Pull images through the cache ahead of time: the manifests of each image (for
a multi-platform image, those of the --platform chosen, default the Incus
server's linux/<arch>) and every blob, read through the cache, which stores
them. Images are named as nodes name them (registry.k8s.io/pause:3.10.1,
nginx:1.27, ghcr.io/org/app@sha256:…); each goes to the cache's endpoint for
its registry.

Images come from the arguments, from -f LIST files (one image a line, '#'
comments; - is standard input), from --kubernetes-version (what kubeadm pulls
for that version) and from --from-cluster (the images of the pods running in
that plex, through its kubeconfig context plex-NAME).

Blobs download --jobs at a time, biggest first. A blob the cache holds already
(it looks in the cache's storage) or that another image shares is fetched
once or not at all; --force fetches every blob again. A failed manifest or
blob is retried (--attempts) and reported; the command then fails. At the end
it checks that the cache stored every blob fetched, and reports bytes, blobs,
time and throughput; -o json prints the same as JSON.

The cache is the only one on the server, or the one of --plex, --instance or
--spec FILE [--plex NAME].

--from-oci SRC (repeatable) loads images built elsewhere into the cache's lab
namespace instead: SRC is an OCI image layout directory, an OCI archive
(podman/buildah save --format oci-archive) or a docker save tarball. Each
image keeps its digest and its name without the registry host:
example.com/team/app:v1 becomes <cache>:<lab port>/lab/team/app:v1; an image
named by a tag alone goes to lab/<--repository, default SRC's file name>.
The lab port is 5000 under Zot and 5050 under distribution; nodes pull from
there. A cache made with --push-htpasswd needs --username and
--password-stdin.`,
		Example: `  plex-registry warm --plex omniplex --kubernetes-version v1.34.4
  plex-registry warm nginx:1.27 ghcr.io/fluxcd/source-controller:v1.7.3 --platform linux/amd64,linux/arm64
  kubectl get pods -A -o jsonpath='{..image}' | tr ' ' '\n' | plex-registry warm -f -
  plex-registry warm --from-cluster omniplex -o json
  plex-registry warm --plex omniplex --from-oci ./app-oci --repository app
  echo "$PASS" | plex-registry warm --plex omniplex --from-oci app.tar --username ci --password-stdin`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("unknown output format %q: use text or json", output)
			}
			if len(load.Sources) > 0 {
				if len(args) > 0 || len(o.Lists) > 0 || o.KubernetesVersion != "" || o.FromCluster != "" {
					return fmt.Errorf("--from-oci loads the lab's own images; warm upstream images (IMAGE, -f, --kubernetes-version, --from-cluster) in another run")
				}
				if passwordStdin {
					b, err := io.ReadAll(s.In)
					if err != nil {
						return err
					}
					load.Password = strings.TrimRight(string(b), "\r\n")
				}
				load.Selector, load.Target, load.Log = o.Selector, g.target, g.log(s)
				loaded, err := registry.Load(cmd.Context(), load)
				if output == "json" {
					if perr := cli.WriteData(s.Out, output, loaded); perr != nil {
						return perr
					}
				} else {
					for _, l := range loaded {
						fmt.Fprintf(s.Out, " ✓ %s → %s (%s)\n", l.Source, l.Ref, short(l.Digest))
					}
				}
				return err
			} else if load.Repository != "" || load.Username != "" || passwordStdin {
				return fmt.Errorf("--repository, --username and --password-stdin go with --from-oci")
			}
			o.Images = args
			for _, p := range platforms {
				for _, q := range strings.Split(p, ",") {
					if q = strings.TrimSpace(q); q != "" {
						o.Platforms = append(o.Platforms, q)
					}
				}
			}
			o.Target = g.target
			o.Stdin = s.In
			o.Log = g.log(s)
			o.Progress = s.ErrOut
			o.Interactive = interactive(s.ErrOut)
			rep, err := registry.Warm(cmd.Context(), o)
			if rep != nil {
				if output == "json" {
					if perr := cli.WriteData(s.Out, output, rep); perr != nil {
						return perr
					}
				} else {
					printWarm(s, rep)
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Lists, "file", "f", nil, "file listing images, one a line; - reads standard input (repeatable)")
	fl.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "also warm kubeadm's images of this version, like v1.34.4")
	fl.StringVar(&o.FromCluster, "from-cluster", "", "also warm the images of the pods running in this plex")
	fl.StringArrayVar(&platforms, "platform", nil, "platforms of multi-platform images, like linux/amd64,linux/arm64, or all (default: the Incus server's)")
	fl.IntVarP(&o.Jobs, "jobs", "j", 8, "blobs downloaded at once")
	fl.IntVar(&o.Attempts, "attempts", 3, "tries per manifest or blob before it counts as failed")
	fl.BoolVar(&o.Force, "force", false, "fetch every blob, even those the cache holds")
	fl.DurationVar(&o.Settle, "settle", time.Minute, "how long to wait for the cache to store what it served (negative: do not check)")
	fl.StringVar(&o.Selector.Name, "plex", "", "the cache of this plex")
	fl.StringVar(&o.Selector.Instance, "instance", "", "the cache instance of this name")
	fl.StringVar(&o.Selector.File, "spec", "", "plex spec file; the cache is its plex's registry node (--plex picks the plex)")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for --from-cluster (default: like kubectl)")
	fl.StringVarP(&output, "output", "o", "text", "report format: text or json")
	fl.StringArrayVar(&load.Sources, "from-oci", nil, "load an OCI layout directory, OCI archive or docker save tarball into the lab namespace (repeatable)")
	fl.StringVar(&load.Repository, "repository", "", "with --from-oci: repository under lab/ for images named by a tag alone (default: the source's file name)")
	fl.StringVar(&load.Username, "username", "", "with --from-oci: user of the cache's --push-htpasswd file")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "with --from-oci: read the password from standard input")
	return cmd
}

func printWarm(s Streams, r *warm.Report) {
	for _, im := range r.Images {
		if im.Error != "" {
			fmt.Fprintf(s.Out, " ✗ %s: %s\n", im.Image, im.Error)
			continue
		}
		plats := ""
		if len(im.Platforms) > 0 {
			plats = " [" + strings.Join(im.Platforms, ", ") + "]"
		}
		retried := ""
		if im.Attempts > 1 {
			retried = fmt.Sprintf(", %d attempts", im.Attempts)
		}
		fmt.Fprintf(s.Out, " ✓ %s%s: %d blobs, %s%s (%s)\n", im.Image, plats, im.Blobs, warm.HumanBytes(im.Size), retried, short(im.Digest))
	}
	stored := ""
	if r.Stored != nil {
		stored = fmt.Sprintf("; %d of %d fetched stored", *r.Stored, r.Fetched)
	}
	fmt.Fprintf(s.Out, "warmed %d image(s), %d manifests: %d blobs (%d fetched, %d cached already, %d shared, %d failed), %s fetched (%s cached already) in %.1fs, %s/s, %d retries%s\n",
		len(r.Images), r.Manifests, r.Blobs, r.Fetched, r.Skipped, r.Shared, r.Failed,
		warm.HumanBytes(r.Bytes), warm.HumanBytes(r.SkippedBytes), r.Seconds, warm.HumanBytes(int64(r.Throughput)), r.Retries, stored)
}

func short(digest string) string {
	if i := strings.Index(digest, ":"); i >= 0 && len(digest) > i+13 {
		return digest[:i+13]
	}
	return digest
}
