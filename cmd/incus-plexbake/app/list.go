package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/bake"
	"github.com/plex-dev/plex/core/cli"
)

func newListCommand(g *globalOptions, out io.Writer) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the images plex baked, with what went into them",
		Example: `  incus plexbake list
  incus plexbake list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--output %q: use table or json", format)
			}
			srv, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			images, err := bake.List(cmd.Context(), srv)
			if err != nil {
				return err
			}
			if format == "json" {
				return cli.WriteData(out, format, images)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ALIAS\tFINGERPRINT\tTYPE\tBASE\tKUBERNETES\tCONTAINERD\tRUNC\tSIZE\tCREATED\tINPUTS")
			for _, i := range images {
				alias := strings.Join(i.Aliases, ",")
				if alias == "" {
					alias = "-"
				}
				fmt.Fprintf(w, "%s\t%.12s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.12s\n", alias, i.Fingerprint, i.Type, i.Base,
					dash(i.KubernetesVersion), dash(i.ContainerdVersion), dash(i.RuncVersion), mib(i.Size), i.Created.Local().Format(time.DateTime), i.Inputs)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }
