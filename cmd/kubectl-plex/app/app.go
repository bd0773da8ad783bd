// Package app builds the cobra command tree of `kubectl plex`.
package app

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/status"
	"github.com/plex-dev/plex/core/version"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// NewCommand returns the root `kubectl plex` command.
func NewCommand(s Streams) *cobra.Command {
	return newCommand(s, realCore())
}

func newCommand(s Streams, c core) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-plex",
		Short: "Real multi-node kubeadm clusters in Incus system containers",
		Long: `plex turns one Incus server, or several, into real multi-node Kubernetes lab
clusters ("plexes"). Each node is a privileged Incus system container running
stock kubelet and kube-apiserver, brought up by kubeadm. One spec file
describes every plex; plex re-creates them from it.

Start with:
  kubectl plex plan -f examples/omniplex.yaml     # what would be created
  kubectl plex up -f examples/omniplex.yaml       # create it
  kubectl plex status                             # look at it
  kubectl plex snapshot omniplex before-upgrade   # save it, etcd included
  kubectl plex restore omniplex before-upgrade    # put it back, in seconds
  kubectl plex down omniplex                      # delete it

` + kubectlFlagsHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl plex"},
	}
	cmd.SetIn(s.In)
	cmd.SetOut(s.Out)
	cmd.SetErr(s.ErrOut)
	cmd.SetFlagErrorFunc(explainFlagError)
	cmd.AddCommand(
		newPlanCommand(s, c),
		newUpCommand(s, c),
		newJoinCommand(s, c),
		newDrainCommand(s, c),
		newDownCommand(s, c),
		newStatusCommand(s, c),
		newSnapshotCommand(s, c),
		newRestoreCommand(s, c),
		newKubeconfigCommand(s, c),
		newSSHCommand(s, c),
		newFluxstrapCommand(s, c),
		newVersionCommand(s, "kubectl-plex"),
	)
	return cmd
}

// newLog is the status Logger of a command, verbose with -v where the verb
// has it (addVerboseFlag).
func newLog(cmd *cobra.Command, s Streams) *status.Logger {
	l := status.New(s.ErrOut)
	l.Verbose, _ = cmd.Flags().GetBool("verbose")
	return l
}

func newVersionCommand(s Streams, program string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(s.Out, version.String(program)+"\n")
			return err
		},
	}
}
