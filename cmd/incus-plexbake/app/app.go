// Package app builds the cobra command tree of `incus plexbake`.
package app

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/version"
)

// globalOptions are the flags every verb shares: which Incus to talk to.
type globalOptions struct {
	remote  string
	project string
	verbose bool
}

func (g *globalOptions) connect(ctx context.Context) (*incus.Server, error) {
	return incus.Connect(ctx, incus.ConnectOptions{Remote: g.remote, Project: g.project})
}

// NewCommand returns the root `incus plexbake` command.
func NewCommand(out, errOut io.Writer) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "incus-plexbake",
		Short: "Bake Kubernetes node images for plex on Incus",
		Long: `incus plexbake bakes the images plex nodes boot from: for a node type (kube, registry)
and an OS base image, it launches a transient instance, provisions it,
cleans it, and publishes it as the image alias <base>_<type>.

Images are cached by content: the image records a hash of everything that
went into it, and baking again with the same inputs does nothing.

It is meant to be run as "incus plexbake" through an incus alias, because
Incus has no plugin lookup on PATH. Install the alias with:
  incus-plexbake alias install`,
		Example: `  incus plexbake bake kube debian12
  incus plexbake bake kube images:debian/12/cloud --kubernetes-version v1.34.4
  incus plexbake list`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "incus plexbake"},
	}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	f := cmd.PersistentFlags()
	f.StringVar(&g.remote, "remote", "", "incus remote to bake on (default: the client configuration's default remote)")
	f.StringVar(&g.project, "project", "", "incus project (default: the remote's project)")
	f.BoolVarP(&g.verbose, "verbose", "v", false, "show the output of the commands run in the instance")
	cmd.AddCommand(
		newBakeCommand(g, out, errOut),
		newListCommand(g, out),
		newAliasCommand(out, thisExecutable),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version and commit of this build",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				_, err := io.WriteString(out, version.String("incus-plexbake")+"\n")
				return err
			},
		},
	)
	return cmd
}
