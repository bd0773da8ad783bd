// Package app builds the cobra command tree of `kubectl plex`.
package app

import (
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

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
  kubectl plex down omniplex                      # delete it`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl plex"},
	}
	cmd.SetIn(s.In)
	cmd.SetOut(s.Out)
	cmd.SetErr(s.ErrOut)
	kf := genericclioptions.NewConfigFlags(false)
	kf.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newPlanCommand(s),
		newUpCommand(s, kf),
		newJoinCommand(s, kf),
		newDrainCommand(s),
		newDownCommand(s, kf),
		newStatusCommand(s),
		newKubeconfigCommand(s, kf),
		newSSHCommand(s),
		newFluxstrapCommand(s),
		newVersionCommand(s, "kubectl-plex"),
	)
	return cmd
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
