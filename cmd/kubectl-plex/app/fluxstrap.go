package app

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/flux"
)

func newFluxstrapCommand(s Streams, c core) *cobra.Command {
	o := flux.StrapOptions{}
	var export bool
	var knownHosts string
	cmd := &cobra.Command{
		Use:   "fluxstrap NAME [-f FILE] [--url URL] [--manifests DIR]",
		Short: "Install Flux on a plex and sync it from a Git repository",
		Long: `Install Flux on plex NAME and point it at a Git repository, the way
` + "`flux bootstrap`" + ` does, without the flux CLI: the Flux components (pinned
version, chosen components), a GitRepository for the URL and branch, and a
Kustomization for the path (default clusters/NAME). The source comes from the
plex's flux block in the spec (-f FILE), or from --url/--branch/--path, which
override it.

Everything is applied server-side through the plex's admin kubeconfig (field
manager "plex"); fluxstrap then waits until every controller is available
and the first sync is ready, one status line each. A re-run converges to the
same objects.

By default the component manifests are downloaded from Flux's GitHub release,
which needs the network. Air-gapped, give --manifests DIR: a directory with
what the release's manifests.tar.gz holds (<component>.yaml, rbac.yaml,
policies.yaml); hack/flux-artifacts.sh builds one from the Go module proxy.
Where the nodes cannot reach ghcr.io, --registry names where the controller
images are, e.g. registry.k8s.io/fluxcd behind plex's registry mirror.

For an ssh:// URL, fluxstrap generates an ed25519 deploy key, stores it as the
Flux secret (identity, identity.pub, known_hosts) and prints the public key:
add it to the repository. The server's host key is scanned unless
--ssh-known-hosts FILE is given. A re-run keeps the key.

--export prints the manifests instead of applying them; it needs no plex.`,
		Example: `  kubectl plex fluxstrap omniplex -f examples/omniplex.yaml
  kubectl plex fluxstrap omniplex --url https://git.example.com/fleet.git --branch main
  kubectl plex fluxstrap omniplex --url ssh://git@git.example.com/fleet.git
  kubectl plex fluxstrap omniplex --url http://10.212.0.1:8080/fleet.git \
      --manifests /var/cache/plex-dev/flux/v2.7.3/manifests --registry registry.k8s.io/fluxcd
  kubectl plex fluxstrap omniplex -f examples/omniplex.yaml --export > flux.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if knownHosts != "" {
				b, err := flux.ReadKnownHosts(knownHosts)
				if err != nil {
					return err
				}
				o.KnownHosts = b
			}
			if export {
				o.Export = s.Out
			}
			o.Log = newLog(cmd, s)
			res, err := c.fluxstrap(cmd.Context(), o)
			if err != nil {
				return err
			}
			if res.DeployKey != "" {
				what := "deploy key (kept from the existing secret)"
				if res.KeyCreated {
					what = "deploy key (new: add it to the repository, read-only)"
				}
				fmt.Fprintf(s.ErrOut, "%s:\n", what)
				if !export {
					_, err = fmt.Fprintln(s.Out, res.DeployKey)
				} else {
					_, err = fmt.Fprintln(s.ErrOut, res.DeployKey)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.File, "file", "f", "", "spec file with the plex's flux block (url, branch, path); also says which incus remote the plex is on")
	f.StringVar(&o.URL, "url", "", "Git repository URL (http://, https:// or ssh://), overriding the spec")
	f.StringVar(&o.Branch, "branch", "", "branch to follow, overriding the spec (default main)")
	f.StringVar(&o.Path, "path", "", "path in the repository to apply, overriding the spec (default clusters/NAME)")
	f.DurationVar(&o.Interval, "interval", flux.DefaultInterval, "how often Flux fetches the repository")
	f.StringVar(&o.Version, "version", flux.DefaultVersion, "Flux release to install")
	f.StringSliceVar(&o.Components, "components", flux.DefaultComponents, "Flux components to install")
	f.StringVar(&o.Registry, "registry", flux.DefaultRegistry, "registry path of the controller images (image = REGISTRY/COMPONENT:VERSION)")
	f.StringVar(&o.ManifestsDir, "manifests", "", "directory with the release's component manifests, for air-gapped use (default: download them)")
	f.StringVar(&o.Namespace, "namespace", flux.DefaultNamespace, "namespace Flux runs in")
	f.StringVar(&knownHosts, "ssh-known-hosts", "", "known_hosts file with the SSH Git server's host keys (default: scan the server)")
	f.BoolVar(&export, "export", false, "print the manifests instead of applying them")
	f.BoolVar(&o.NoWaitSync, "no-wait-sync", false, "return once the controllers are available, without waiting for the first sync")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the CRDs, each controller, and the first sync")
	addTargetFlags(cmd, &o.Target)
	return cmd
}
