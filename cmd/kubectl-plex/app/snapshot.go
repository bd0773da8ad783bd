package app

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/cli"
	"github.com/plex-dev/plex/core/cluster"
)

func newSnapshotCommand(s Streams, c core) *cobra.Command {
	o := cluster.SnapshotOptions{}
	cmd := &cobra.Command{
		Use:   "snapshot NAME [SNAP]",
		Short: "Save the state of every node of a plex, etcd included, under one name",
		Long: `Save the state of every Kubernetes node of plex NAME as snapshot SNAP (by
default the time in UTC, like 20261202-031500), so that restore can put the
whole plex back to it in seconds.

plex first saves a copy of etcd's data on the first control-plane node (in
` + cluster.EtcdSnapshotPath("SNAP") + `), then takes a stateless Incus snapshot of every node
at once, live: the nodes keep running, and each node's filesystem is caught
as a power cut would leave it, which etcd and containerd are made to survive.
On a btrfs or zfs storage pool a snapshot is copy-on-write: it costs no copy
and grows only with what changes afterwards. The snapshots carry plex's
labels and the plex's spec hash; down deletes them with the nodes. The
registry cache (plex-registry) is not part of a plex's snapshot.

A plex named "list" or "delete" is snapshotted with ` + "`snapshot -- list`" + `.`,
		Example: `  kubectl plex snapshot omniplex                  # named by the time
  kubectl plex snapshot omniplex before-upgrade
  kubectl plex snapshot list omniplex
  kubectl plex restore omniplex before-upgrade
  kubectl plex snapshot delete omniplex before-upgrade`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if len(args) == 2 {
				o.Snapshot = args[1]
			}
			o.Log = newLog(cmd, s)
			name, err := c.snapshot(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Out, name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote the plex is on (default: the default remote)")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	cmd.AddCommand(newSnapshotListCommand(s, c), newSnapshotDeleteCommand(s, c))
	return cmd
}

func newSnapshotListCommand(s Streams, c core) *cobra.Command {
	o := cluster.SnapshotListOptions{}
	var output string
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "List the snapshots of a plex",
		Long: `List plex NAME's snapshots, oldest first: when each was taken, the plex's
spec hash then, its nodes, and whether the plex's nodes still match them.
A snapshot whose nodes differ (a worker joined, or a node drained and
deleted, since) is restored only with restore --force. Only snapshots plex
took are listed.`,
		Example: `  kubectl plex snapshot list omniplex
  kubectl plex snapshot list omniplex -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if output != "table" && output != "json" && output != "yaml" {
				return fmt.Errorf("unknown output format %q: use table, json or yaml", output)
			}
			list, err := c.listSnapshots(cmd.Context(), o)
			if err != nil {
				return err
			}
			if output != "table" {
				return cli.WriteData(s.Out, output, list)
			}
			if len(list) == 0 {
				fmt.Fprintf(s.Out, "plex %s has no snapshots; take one with: kubectl plex snapshot %s\n", o.Name, o.Name)
				return nil
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SNAPSHOT\tTAKEN\tSPEC HASH\tNODES\tMATCHES")
			for _, p := range list {
				matches := "yes"
				if !p.Matches() {
					var d []string
					if len(p.Added) > 0 {
						d = append(d, "added "+strings.Join(p.Added, ","))
					}
					if len(p.Missing) > 0 {
						d = append(d, "missing "+strings.Join(p.Missing, ","))
					}
					matches = "no: " + strings.Join(d, "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.CreatedAt.UTC().Format(time.RFC3339), dash(p.SpecHash), strings.Join(p.Nodes, ","), matches)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote the plex is on (default: the default remote)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, yaml")
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func newSnapshotDeleteCommand(s Streams, c core) *cobra.Command {
	o := cluster.DeleteSnapshotOptions{}
	cmd := &cobra.Command{
		Use:   "delete NAME SNAP",
		Short: "Delete a snapshot of a plex from every node",
		Long: `Delete plex NAME's snapshot SNAP from every node that holds it. Snapshots
that plex did not take (incus snapshot create) are never touched, even of
the same name.`,
		Example: `  kubectl plex snapshot delete omniplex before-upgrade`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Snapshot = args[0], args[1]
			o.Log = newLog(cmd, s)
			return c.deleteSnapshot(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote the plex is on (default: the default remote)")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func newRestoreCommand(s Streams, c core) *cobra.Command {
	o := cluster.RestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore NAME SNAP",
		Short: "Put every node of a plex back to a snapshot and wait until all are Ready",
		Long: `Put every Kubernetes node of plex NAME back to snapshot SNAP (see
kubectl plex snapshot), all at once: Incus stops each node, rolls back its
filesystem and config, and starts it again. Then plex waits until every node
is Ready, as reported by its kubelet since the restore.

Everything in the cluster is as it was at the snapshot: objects, etcd
members, certificates and keys. So the kubeconfig context plex-NAME and the
known_hosts file stay valid. Time did not stop, though: leases and tokens
that expired meanwhile are expired, and a Flux source reconciles again on
its next interval.

plex refuses, and changes nothing, when the plex's nodes are no longer the
snapshot's (a worker joined, or a node was deleted, since): --force then
restores the nodes that hold the snapshot and leaves the others as they are.`,
		Example: `  kubectl plex restore omniplex before-upgrade
  kubectl plex restore omniplex before-upgrade --force   # after a join`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Snapshot = args[0], args[1]
			o.Log = newLog(cmd, s)
			return c.restore(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote the plex is on (default: the default remote)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "restore even if nodes were added or removed since the snapshot")
	cmd.Flags().DurationVar(&o.ReadyTimeout, "wait", 5*time.Minute, "how long to wait for every node to be Ready")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	return cmd
}
