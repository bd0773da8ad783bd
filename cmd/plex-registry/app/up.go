package app

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/mirror"
)

// upFlags are up's flags before they become registry.UpOptions.
type upFlags struct {
	o         registry.UpOptions
	upstreams []string
}

func newUpCommand(g *globalOptions, s Streams) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up [-f SPEC [NAME] | --address ADDR]",
		Short: "Create the cache instance, or bring it to its configuration",
		Long: `Create the read-through cache as an Incus instance, or bring an existing one
to the configuration given, and point the plex's nodes at it.

Where: with -f SPEC, the cache is the plex's node of type registry (its name,
static address, network, pool, image <base>_registry and limits come from the
spec). Without a spec, --address (and --network, --instance) say where.

The instance is created from the image baked by
` + "`incus plexbake bake registry debian12`" + `. Its storage is a custom volume
<instance>-cache mounted at /var/lib/plex-registry: it outlives the instance,
so a re-created cache still holds what it cached.

Engines: zot (default) mirrors every upstream on port 5000, each under its own
prefix (registry.k8s.io/pause is <cache>:5000/registry.k8s.io/pause). The
binary is Zot's upstream release, or --zot-binary. distribution runs Debian's
docker-registry as one pull-through proxy per upstream, each on its own port
(docker.io 5001, registry.k8s.io 5002, ghcr.io 5003, quay.io 5004, gcr.io 5005,
others from 5010); a proxy restarted while its upstream does not answer serves
its cache read-only until the upstream is back.

Upstreams: by default docker.io, registry.k8s.io, ghcr.io, quay.io and
gcr.io. --upstream NAME[=URL] (repeatable) names them instead; URL makes the
cache pull NAME's repositories from another registry (a lab or air-gapped
mirror). TLS certificates of upstreams are verified unless --skip-tls-verify
NAME.

Nodes: the plex's running kube nodes get a containerd hosts.toml for each
upstream at once (containerd reads them on every pull); nodes created later by
` + "`kubectl plex up`" + ` get them from cloud-init. A pull tries the cache first and
the upstream itself when the cache does not answer. When the plex's kubeconfig
context exists, the KEP-1755 ConfigMap kube-public/local-registry-hosting is
published too.

Lab namespace: the cache also keeps the lab's own images, which have no
upstream, under lab/: <cache>:5000/lab/NAME:TAG with Zot, and with
distribution a plain registry on <cache>:5050 (its proxies take no pushes).
Nodes pull from there over plain HTTP; ` + "`plex-registry warm --from-oci`" + ` loads
images built elsewhere. Anyone who reaches the cache's network may push,
unless --push-htpasswd FILE (bcrypt: htpasswd -cB FILE USER): then pushes
need a user of FILE (with distribution, on port 5051, while 5050 serves
pulls read-only), and pulls stay open.

A re-run changes only what differs. On failure, what the run created is
deleted (never the content of an existing volume), unless --retain.`,
		Example: `  # the registry node of plex omniplex in a spec
  plex-registry up -f examples/labs.yaml omniplex

  # a lab: registry.k8s.io's repositories come from the harness registry
  plex-registry up -f plex.yaml --engine distribution \
      --upstream registry.k8s.io=http://10.212.0.1:5000

  # no spec: a cache at 10.212.0.30 on plexbr0
  plex-registry up --address 10.212.0.30 --network plexbr0 --zot-binary ./zot`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := f.o
			if len(args) == 1 {
				if o.File == "" {
					return fmt.Errorf("NAME picks a plex of a spec: give -f SPEC too")
				}
				o.Name = args[0]
			}
			if o.File != "" && (o.Address != "" || o.Instance != "") {
				return fmt.Errorf("--address and --instance are for a cache without a spec; with -f, the spec's registry node says where the cache goes")
			}
			for _, u := range f.upstreams {
				up, err := engine.ParseUpstream(u)
				if err != nil {
					return err
				}
				o.Upstreams = append(o.Upstreams, up)
			}
			o.Target = g.target
			o.Log = g.log(s)
			res, err := registry.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printUp(s, res)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.o.File, "file", "f", "", "plex spec file; the cache is the plex's registry node")
	fl.StringVar(&f.o.Instance, "instance", "", "instance name without a spec (default "+registry.DefaultInstance+")")
	fl.StringVar(&f.o.Address, "address", "", "static IPv4 address without a spec")
	fl.StringVar(&f.o.Network, "network", "", "managed Incus network without a spec (default incusbr0)")
	fl.StringVar(&f.o.StoragePool, "storage-pool", "", "pool of the instance and the cache volume without a spec (default: the default profile's)")
	fl.StringVar(&f.o.Image, "image", "", "image alias without a spec (default "+registry.DefaultImage+")")
	fl.StringVar(&f.o.Engine, "engine", engine.EngineZot, "cache engine: "+strings.Join(engine.Engines, " or "))
	fl.StringArrayVar(&f.upstreams, "upstream", nil, "upstream to mirror, NAME or NAME=URL (repeatable; default: "+strings.Join(engine.DefaultUpstreamNames, ", ")+")")
	fl.StringArrayVar(&f.o.SkipTLSVerify, "skip-tls-verify", nil, "upstream NAME whose TLS certificate is not verified (repeatable)")
	fl.StringVar(&f.o.PushHtpasswd, "push-htpasswd", "", "htpasswd file (bcrypt) whose users alone may push into the lab namespace (default: anyone on the network)")
	fl.StringVar(&f.o.ZotBinary, "zot-binary", "", "local Zot binary (air-gapped); default: download Zot's release")
	fl.StringVar(&f.o.ZotVersion, "zot-version", registry.DefaultZotVersion, "Zot release to download")
	fl.StringVar(&f.o.VolumeSize, "volume-size", "", "size limit of a new cache volume, like 50GiB (default: none)")
	fl.StringVar(&f.o.Kubeconfig, "kubeconfig", "", "kubeconfig holding the plex's context plex-NAME (default: like kubectl)")
	fl.BoolVar(&f.o.Retain, "retain", false, "on failure keep what this run created, for debugging")
	fl.BoolVar(&f.o.NoWait, "no-wait", false, "fail at once if another run holds the cache instance, instead of waiting")
	return cmd
}

func printUp(s Streams, res *registry.UpResult) error {
	c := res.Cache
	state := "ready"
	if !res.Created && len(res.Changed) == 0 {
		state = "no changes"
	}
	fmt.Fprintf(s.Out, "cache %s (%s) at %s: %s in %s; storage on volume %s/%s\n",
		c.Instance, c.Engine, c.Address, state, res.Elapsed.Round(100*time.Millisecond), c.Pool, c.Volume)
	m := c.Mirrors(c.Address)
	ups := make([]string, 0, len(m))
	for u := range m {
		ups = append(ups, u)
	}
	sort.Strings(ups)
	for _, u := range ups {
		e, _ := c.Endpoint(u)
		verify := ""
		if !e.TLSVerify {
			verify = " (TLS not verified)"
		}
		fmt.Fprintf(s.Out, "  %-18s ← %s%s, mirrored at %s\n", u, e.URL, verify, m[u])
	}
	fmt.Fprintf(s.Out, "  %-18s → push to %s/lab/NAME:TAG (%s), pods pull %s/lab/NAME:TAG\n", "lab namespace", c.LabPushHost(c.Address), pushWho(c.PushAuth), c.LabHost(c.Address))
	if len(res.Nodes) > 0 {
		fmt.Fprintf(s.Out, "nodes pointed at the cache: %s\n", strings.Join(res.Nodes, ", "))
	}
	if res.ConfigMap != "" {
		fmt.Fprintf(s.Out, "ConfigMap %s/%s: %s\n", mirror.HostingConfigMapNamespace, mirror.HostingConfigMapName, res.ConfigMap)
	}
	return nil
}

// pushWho says who may push into the lab namespace.
func pushWho(auth bool) string {
	if auth {
		return "users of the --push-htpasswd file"
	}
	return "anyone on the network: see --push-htpasswd"
}
