package app

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/cli"
	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/registry/warm"
)

func newStatusCommand(g *globalOptions, s Streams) *cobra.Command {
	sel := registry.Selector{}
	var output string
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "List the caches: upstreams and whether they answer, size, cached repositories",
		Long: `List the caches on the Incus server (or the cache of plex NAME, of -f SPEC,
or --instance): engine, address, state, storage volume, how many repositories
and bytes it holds, and per upstream where it is mirrored, whether it answers
now, the bytes and blobs stored and the repositories cached. The last row,
(lab), is the lab namespace: where images are pushed, who may push, where
nodes pull them, and its repositories.

Whether an upstream answers is asked from this machine (GET /v2/, at most 2s;
200 or 401 is an answer), not from the cache instance. While an upstream does
not answer, the cache serves only what it holds.`,
		Example: `  plex-registry status
  plex-registry status omniplex -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				sel.Name = args[0]
			}
			sel.Target = g.target
			st, err := registry.GetStatus(cmd.Context(), sel)
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return cli.WriteData(s.Out, output, st)
			case "table":
			default:
				return fmt.Errorf("unknown output format %q: use table, json or yaml", output)
			}
			if len(st) == 0 {
				fmt.Fprintln(s.Out, "no caches: create one with `plex-registry up`")
				return nil
			}
			for i, c := range st {
				if i > 0 {
					fmt.Fprintln(s.Out)
				}
				plex := c.Plex
				if plex == "" {
					plex = "-"
				}
				fmt.Fprintf(s.Out, "cache %s (plex %s): %s, %s at %s, volume %s/%s, %d repositories, %s stored\n",
					c.Instance, plex, c.Engine, c.Status, c.Address, c.Pool, c.Volume, c.RepositoryCount, warm.HumanBytes(c.Size))
				if c.Error != "" {
					fmt.Fprintf(s.Out, "  storage not read: %s\n", c.Error)
				}
				tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  UPSTREAM\tFROM\tANSWERS\tMIRROR\tSIZE\tBLOBS\tREPOSITORIES")
				for _, u := range c.Upstreams {
					from := u.URL
					if !u.TLSVerify {
						from += " (TLS not verified)"
					}
					repos := strings.Join(u.Repositories, ", ")
					if repos == "" {
						repos = "-"
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", u.Name, from, answers(u.Probe), u.Mirror, warm.HumanBytes(u.Size), u.Blobs, repos)
				}
				repos := strings.Join(c.Lab.Repositories, ", ")
				if repos == "" {
					repos = "-"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", "(lab)", "push "+c.Lab.PushHost+" ("+pushWho(c.Lab.PushAuth)+")", "-", c.Lab.Host, warm.HumanBytes(c.Lab.Size), "-", repos)
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&sel.File, "file", "f", "", "plex spec file: the cache of its plex (NAME picks the plex)")
	fl.StringVar(&sel.Instance, "instance", "", "the cache instance of this name")
	fl.StringVarP(&output, "output", "o", "table", "table, json or yaml")
	return cmd
}

// answers is an upstream's probe as the table shows it.
func answers(p registry.Probe) string {
	if p.Answers {
		return "yes"
	}
	return "no: " + p.Detail
}
