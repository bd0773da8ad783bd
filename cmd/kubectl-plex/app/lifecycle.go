package app

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/cluster"
)

func newUpCommand(s Streams, c core) *cobra.Command {
	o := cluster.UpOptions{}
	cmd := &cobra.Command{
		Use:   "up -f FILE [NAME]",
		Short: "Create or converge plexes: nodes, kubeadm init, CNI, joins, kubeconfig",
		Long: `Bring every plex of the spec (or only NAME) to what the spec says:
create the missing nodes from the baked image, run kubeadm init on the first
control-plane node, set up the pod network, join the workers with a
short-lived token pinned to the cluster CA, wait until every node is Ready,
and merge the admin kubeconfig as context plex-<name> (file mode 0600).

Re-running adopts what exists and says "no changes" when there is nothing to
do. Ctrl-C stops at once (exit code 130). If a run fails or is interrupted,
what it created is deleted again, unless --retain. --recreate deletes the plex's instances first and builds it
anew.`,
		Example: `  kubectl plex up -f examples/omniplex.yaml
  kubectl plex up -f examples/omniplex.yaml omniplex --recreate
  kubectl --context plex-omniplex get nodes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.File == "" {
				return fmt.Errorf("no spec file: give one with -f FILE (see examples/omniplex.yaml)")
			}
			if len(args) == 1 {
				o.Name = args[0]
			}
			o.Log = newLog(cmd, s)
			return c.up(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "plex spec file (required)")
	addKubeconfigFlag(cmd, &o.Kubeconfig, "kubeconfig file to merge each plex's context plex-NAME into")
	cmd.Flags().BoolVar(&o.Retain, "retain", false, "keep what a failed run created, for debugging")
	cmd.Flags().BoolVar(&o.Recreate, "recreate", false, "delete the plex's instances first and build it anew")
	cmd.Flags().DurationVar(&o.ReadyTimeout, "wait", 5*time.Minute, "how long to wait for every node to be Ready")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func newJoinCommand(s Streams, c core) *cobra.Command {
	o := cluster.JoinOptions{}
	cmd := &cobra.Command{
		Use:   "join -f FILE NAME [INDICES | --count N]",
		Short: "Add worker nodes to a running plex",
		Long: `Add workers to a running plex. The new nodes are made like the spec's first
kube node group (base image, limits, placement), get their static address and
pod CIDR from their index, and join with a fresh 15-minute token pinned to
the cluster CA. The pod routes on every node are updated.

The workers are not written into the spec file: add their indices there to
keep them when the plex is re-created.`,
		Example: `  kubectl plex join -f examples/omniplex.yaml omniplex 4
  kubectl plex join -f examples/omniplex.yaml omniplex --count 2`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.File == "" {
				return fmt.Errorf("no spec file: give the plex's spec with -f FILE")
			}
			o.Name = args[0]
			if len(args) == 2 {
				o.Indices = args[1]
			}
			if (o.Indices == "") == (o.Count == 0) {
				return fmt.Errorf("give either INDICES (like 4 or \"4-6\") or --count N")
			}
			o.Log = newLog(cmd, s)
			return c.join(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "plex spec file (required)")
	addKubeconfigFlag(cmd, &o.Kubeconfig, "kubeconfig file to merge the plex's context plex-NAME into")
	cmd.Flags().IntVar(&o.Count, "count", 0, "add N workers at the next free indices")
	cmd.Flags().BoolVar(&o.Retain, "retain", false, "keep what a failed run created, for debugging")
	cmd.Flags().DurationVar(&o.ReadyTimeout, "wait", 5*time.Minute, "how long to wait for the new nodes to be Ready")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func newDrainCommand(s Streams, c core) *cobra.Command {
	o := cluster.DrainOptions{}
	cmd := &cobra.Command{
		Use:   "drain NODE [--delete]",
		Short: "Cordon a node and evict its pods; with --delete, remove it",
		Long: `Cordon NODE and evict its pods the way kubectl drain does
(k8s.io/kubectl/pkg/drain): PodDisruptionBudgets are respected, and the flags
mean what kubectl's mean. A budget that blocks the drain gives an error that
names the pods; the node stays cordoned and is not deleted.

With --delete, plex then runs kubeadm reset on the node, deletes the Node
object, removes the routes to its pods from the other nodes, and deletes the
instance last: a drain that fails on the way finds the node again when run
again, and carries on. On a control-plane node, kubeadm reset also removes
its etcd member; plex refuses when the members left would have no healthy
majority (unless --ignore-quorum), and never deletes the last control-plane
node (use down).`,
		Example: `  kubectl plex drain omniplex3 --ignore-daemonsets --timeout 2m
  kubectl plex drain omniplex3 --ignore-daemonsets --delete-emptydir-data --delete`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Node = args[0]
			o.Log = newLog(cmd, s)
			o.Out = s.ErrOut
			return c.drain(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote the node is on (default: the default remote)")
	cmd.Flags().BoolVar(&o.IgnoreDaemonSets, "ignore-daemonsets", false, "ignore DaemonSet-managed pods")
	cmd.Flags().BoolVar(&o.DeleteEmptyDirData, "delete-emptydir-data", false, "continue even if there are pods using emptyDir (their data is lost)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "continue even if there are pods not managed by a controller")
	cmd.Flags().IntVar(&o.GracePeriodSeconds, "grace-period", -1, "seconds each pod gets to terminate; negative uses the pod's own")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "give up after this long; 0 waits forever, like kubectl")
	cmd.Flags().BoolVar(&o.Delete, "delete", false, "after draining, reset the node and delete it from the cluster and from Incus")
	cmd.Flags().BoolVar(&o.IgnoreQuorum, "ignore-quorum", false, "with --delete on a control-plane node, remove it even if etcd loses its quorum")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func newDownCommand(s Streams, c core) *cobra.Command {
	o := cluster.DownOptions{}
	cmd := &cobra.Command{
		Use:   "down NAME | down -f FILE [NAME]",
		Short: "Delete a plex: every instance labelled for it, and its kubeconfig context",
		Long: `Delete every Incus instance labelled as a node of plex NAME, remove its
context plex-NAME from the kubeconfig, and its known_hosts file. Instances
that plex did not create are never touched. Deleting a plex that is not
there is not an error. The plex's registry cache (plex-registry up) stays,
with what it cached, for the plex's next up; plex-registry down removes it.

With -f FILE and no NAME, every plex of the file goes down, each on the
remote the file names, in parallel.`,
		Example: `  kubectl plex down omniplex
  kubectl plex down verniplex -f examples/labs.yaml   # on the remote the spec names
  kubectl plex down -f examples/labs.yaml             # every plex of the file`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && o.File == "" {
				return fmt.Errorf("say which plex to delete: give its NAME, or -f FILE for every plex of a spec file")
			}
			if len(args) == 1 {
				o.Name = args[0]
			}
			o.Log = newLog(cmd, s)
			return c.down(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "spec file that says which incus remote the plex is on (default: the default remote)")
	addKubeconfigFlag(cmd, &o.Kubeconfig, "kubeconfig file to remove the plex's context plex-NAME from")
	addNoWaitFlag(cmd, &o.NoWait)
	addVerboseFlag(cmd)
	addTargetFlags(cmd, &o.Target)
	return cmd
}

// addNoWaitFlag is --no-wait, for the verbs that hold a plex's lock while
// they run (up, join, drain, down).
func addNoWaitFlag(cmd *cobra.Command, noWait *bool) {
	cmd.Flags().BoolVar(noWait, "no-wait", false, "fail at once if another run holds the plex, instead of waiting")
}

// addVerboseFlag gives a verb that works in the nodes -v, read by newLog.
func addVerboseFlag(cmd *cobra.Command) {
	cmd.Flags().BoolP("verbose", "v", false, "show each command run in a node, and its output as it comes (bootstrap tokens and certificate keys hidden)")
}
