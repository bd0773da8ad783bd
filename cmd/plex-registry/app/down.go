package app

import (
	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/registry"
)

func newDownCommand(g *globalOptions, s Streams) *cobra.Command {
	o := registry.DownOptions{}
	cmd := &cobra.Command{
		Use:   "down [NAME]",
		Short: "Delete the cache instance; keep what it cached unless --purge",
		Long: `Delete the cache instance of plex NAME (or of -f SPEC, or --instance, or the
only cache on the server). Only instances labelled as plex caches are
touched. The cache volume, and so everything cached, stays for the next
` + "`plex-registry up`" + ` unless --purge is given.

Nodes keep their hosts.toml: while the cache is away, containerd pulls from
the upstream registries themselves.`,
		Example: `  plex-registry down omniplex
  plex-registry down --instance plex-registry --purge`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			o.Target = g.target
			o.Log = g.log(s)
			return registry.Down(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.File, "file", "f", "", "plex spec file: the cache of its plex (NAME picks the plex)")
	fl.StringVar(&o.Instance, "instance", "", "the cache instance of this name")
	fl.BoolVar(&o.Purge, "purge", false, "also delete the cache volume and everything cached on it")
	return cmd
}
