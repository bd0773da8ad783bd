// Package app builds the cobra command tree of plex-registry.
package app

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/status"
	"github.com/plex-dev/plex/core/version"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// globalOptions are the flags every verb shares: which Incus to talk to.
type globalOptions struct {
	target  registry.Target
	verbose bool
}

func (g *globalOptions) log(s Streams) *status.Logger {
	l := status.New(s.ErrOut)
	l.Verbose = g.verbose
	return l
}

// NewCommand returns the root plex-registry command.
func NewCommand(s Streams) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "plex-registry",
		Short: "Run a read-through image cache next to your plexes",
		Long: `plex-registry provisions a read-through cache of container registries
(docker.io, registry.k8s.io, ghcr.io, quay.io, gcr.io) as an Incus instance
next to a plex, points the plex's nodes at it, and warms it ahead of time, so
that re-creating a cluster does not pull from the internet again.

The cache runs Zot (default) or the CNCF distribution registry
(--engine distribution, one proxy per upstream). Its storage is an Incus
custom volume, so it survives re-creating the instance.`,
		Example: `  incus plexbake bake registry debian12            # the cache's image, once
  plex-registry up -f examples/labs.yaml omniplex   # the plex's registry node
  plex-registry warm --plex omniplex --kubernetes-version v1.34.4
  plex-registry status
  plex-registry down omniplex`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(s.In)
	cmd.SetOut(s.Out)
	cmd.SetErr(s.ErrOut)
	f := cmd.PersistentFlags()
	f.StringVar(&g.target.Remote, "remote", "", "incus remote (default: the spec's, else the client configuration's default)")
	f.StringVar(&g.target.Project, "project", "", "incus project (default: the spec's, else the remote's)")
	f.BoolVarP(&g.verbose, "verbose", "v", false, "more output")
	cmd.AddCommand(
		newUpCommand(g, s),
		newWarmCommand(g, s),
		newStatusCommand(g, s),
		newDownCommand(g, s),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version and commit of this build",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				_, err := io.WriteString(s.Out, version.String("plex-registry")+"\n")
				return err
			},
		},
	)
	return cmd
}

// interactive reports whether w is a terminal, where progress redraws one
// line instead of printing many.
func interactive(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
