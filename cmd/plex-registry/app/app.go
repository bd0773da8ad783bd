// Package app builds the cobra command tree of plex-registry.
package app

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/version"
)

// NewCommand returns the root plex-registry command.
func NewCommand(out, errOut io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plex-registry",
		Short: "Run a read-through image cache next to your plexes",
		Long: `plex-registry provisions a read-through cache of container registries
(docker.io, registry.k8s.io, ghcr.io, quay.io, gcr.io) as an Incus instance
next to a plex, points the plex's nodes at it, and warms it ahead of time, so
that re-creating a cluster does not pull from the internet again.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this build",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := io.WriteString(out, version.String("plex-registry")+"\n")
			return err
		},
	})
	return cmd
}
