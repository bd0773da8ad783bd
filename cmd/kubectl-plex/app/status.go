package app

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/cli"
	"github.com/plex-dev/plex/core/cluster"
)

func newStatusCommand(s Streams, c core) *cobra.Command {
	o := cluster.StatusOptions{}
	var output string
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show the nodes of plexes as Incus and Kubernetes see them",
		Long: `Show every node of plex NAME (or of every plex on the remote): role,
address, Incus member, instance state, and Kubernetes state (Ready, NotReady,
absent when the node never registered, unknown when the API server cannot be
asked), then the API endpoint and etcd's health: each member, and whether
quorum holds.

With -f FILE and no NAME, show every plex of the file, each asked on the
remote the file names, in parallel; the lines are grouped by plex in the
file's order, and a plex that is not up shows its planned nodes as absent.`,
		Example: `  kubectl plex status
  kubectl plex status omniplex -o json
  kubectl plex status -f examples/labs.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			if output != "table" && output != "json" && output != "yaml" {
				return fmt.Errorf("unknown output format %q: use table, json or yaml", output)
			}
			st, err := c.status(cmd.Context(), o)
			if err != nil {
				return err
			}
			if output != "table" {
				return cli.WriteData(s.Out, output, st)
			}
			if len(st) == 0 {
				fmt.Fprintln(s.Out, "no plexes on this remote")
				return nil
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PLEX\tREMOTE\tNODE\tROLE\tADDRESS\tMEMBER\tINCUS\tKUBERNETES\tVERSION\tRUNTIME")
			for _, p := range st {
				for _, n := range p.Nodes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Remote, n.Name, n.Role, n.Address, dash(n.Member), n.Incus, n.Kubernetes, dash(n.Version), dash(n.Runtime))
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range st {
				if p.Endpoint != "" {
					fmt.Fprintf(s.Out, "%s: API endpoint %s\n", p.Name, p.Endpoint)
				}
				if p.APIError != "" {
					fmt.Fprintf(s.Out, "%s: Kubernetes not asked: %s\n", p.Name, p.APIError)
				}
				if p.Etcd != nil {
					quorum := "quorum holds"
					if !p.Etcd.Quorum {
						quorum = "NO QUORUM"
					}
					fmt.Fprintf(s.Out, "%s: etcd %d/%d healthy, %s\n", p.Name, p.Etcd.Healthy, len(p.Etcd.Members), quorum)
					for _, m := range p.Etcd.Members {
						state := "healthy"
						if m.Leader {
							state += ", leader"
						}
						if !m.Healthy {
							state = "unhealthy: " + m.Error
						}
						fmt.Fprintf(s.Out, "  etcd %s: %s\n", m.Name, state)
					}
				} else if p.EtcdError != "" {
					fmt.Fprintf(s.Out, "%s: etcd not asked: %s\n", p.Name, p.EtcdError)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote to look at (default: the default remote); without NAME, every plex of the file")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, yaml")
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
