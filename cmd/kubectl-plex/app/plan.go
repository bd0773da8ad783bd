package app

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/cli"
	"github.com/plex-dev/plex/core/cluster"
	"github.com/plex-dev/plex/core/plan"
)

type planOptions struct {
	cluster.PlanOptions
	output string
}

var planFormats = []string{"table", "yaml", "json", "hosts", "genders", "ansible"}

func newPlanCommand(s Streams, c core) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan -f FILE [NAME]",
		Short: "Show the resolved plan of a spec and what exists on Incus; changes nothing",
		Long: `Resolve a plex spec into its nodes (name, role, static address, pod CIDR,
image alias, Incus member, limits, profiles) and compare it with the instances
plex already made on each plex's Incus remote: every node is "create",
"exists", or "conflict" (an instance of that name that plex did not make);
instances labelled for the plex but no longer in the spec are "remove".

plan never changes anything. An invalid spec prints every error with its
field path and exits non-zero.

Output formats: table (default), yaml, json, and, for the tools you have,
hosts (an /etc/hosts block), genders (a genders file) and ansible (an
inventory).`,
		Example: `  # every plex in the file, against the incus remotes the spec names
  kubectl plex plan -f examples/omniplex.yaml

  # one plex, as an /etc/hosts block, without asking Incus
  kubectl plex plan -f examples/labs.yaml verniplex -o hosts --offline`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			if err := o.validate(); err != nil {
				return err
			}
			// Export formats describe the plan only; don't ask Incus for them.
			if o.output != "table" && o.output != "yaml" && o.output != "json" {
				o.Offline = true
			}
			res, err := c.plan(cmd.Context(), o.PlanOptions)
			if err != nil {
				return err
			}
			return writePlan(s.Out, o.output, res)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "plex spec file (required)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, yaml, json, hosts, genders, ansible")
	cmd.Flags().BoolVar(&o.Offline, "offline", false, "do not contact Incus; show the plan only")
	addTargetFlags(cmd, &o.Target)
	return cmd
}

func (o *planOptions) validate() error {
	if o.File == "" {
		return fmt.Errorf("no spec file: give one with -f FILE (see examples/omniplex.yaml)")
	}
	for _, f := range planFormats {
		if o.output == f {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q: use one of %v", o.output, planFormats)
}

func writePlan(w io.Writer, format string, res *cluster.PlanResult) error {
	switch format {
	case "yaml", "json":
		return cli.WriteData(w, format, res)
	case "hosts":
		return plan.WriteHosts(w, res.Plan)
	case "genders":
		return plan.WriteGenders(w, res.Plan)
	case "ansible":
		return plan.WriteAnsible(w, res.Plan)
	}
	var all []plan.Change
	for _, px := range res.Plan.Plexes {
		all = append(all, res.Changes[px.Name]...)
	}
	if err := plan.WriteTable(w, res.Plan, plan.States(all)); err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, c := range all {
		switch c.Action {
		case plan.ActionRemove:
			fmt.Fprintf(w, "remove: %s is labelled for plex %s but not in the spec (%s)\n", c.Node, c.Plex, c.Status)
		case plan.ActionConflict:
			fmt.Fprintf(w, "conflict: an instance named %s exists but plex did not create it; plex will not touch it: rename the node or remove the instance yourself\n", c.Node)
		}
	}
	return nil
}

// addTargetFlags adds the flags that point a verb at another Incus remote or
// project than the spec's.
func addTargetFlags(cmd *cobra.Command, t *cluster.Target) {
	cmd.Flags().StringVar(&t.Remote, "remote", "", "incus remote to use for every plex, overriding the spec (names from 'incus remote list')")
	cmd.Flags().StringVar(&t.Project, "project", "", "incus project to use, overriding the spec")
	cmd.Flags().StringVar(&t.IncusConfig, "incus-config", "", "incus client config.yml (default: $INCUS_CONF/config.yml or ~/.config/incus/config.yml, like the incus CLI)")
}
