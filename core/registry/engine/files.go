package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// Paths inside the cache instance.
const (
	// StorageDir is where the cache volume is mounted: everything cached
	// lives below it and survives re-creating the instance.
	StorageDir = "/var/lib/plex-registry"
	// ConfigDir holds the engines' configuration files.
	ConfigDir = "/etc/plex-registry"
	// ZotBinary is where plex puts the Zot binary.
	ZotBinary = "/usr/local/bin/zot"
	// DistributionBinary is Debian's docker-registry, baked into the image.
	DistributionBinary = "/usr/bin/docker-registry"
	unitDir            = "/etc/systemd/system"
	serveScript        = "/usr/local/lib/plex-registry/serve-distribution"
)

// File is a file plex writes into the cache instance.
type File struct {
	Path    string
	Mode    int
	Content string
	// Units are the units to restart when the file changes; "*" is all.
	Units []string
}

// Units are the systemd units a layout runs, in order.
func (l Layout) Units() []string {
	if l.Engine == EngineZot {
		return []string{UnitName(EngineZot, "")}
	}
	out := make([]string, 0, len(l.Endpoints))
	for _, e := range l.Endpoints {
		out = append(out, UnitName(l.Engine, e.Name))
	}
	return out
}

// Files are the configuration files, scripts and units of a layout.
func (l Layout) Files() ([]File, error) {
	switch l.Engine {
	case EngineZot:
		cfg, err := NewZotConfig(l)
		if err != nil {
			return nil, err
		}
		b, err := cfg.JSON()
		if err != nil {
			return nil, err
		}
		unit := UnitName(EngineZot, "")
		return []File{
			{Path: ConfigDir + "/zot.json", Mode: 0o644, Content: string(b), Units: []string{unit}},
			{Path: unitDir + "/" + unit, Mode: 0o644, Content: zotUnit(), Units: []string{unit}},
		}, nil
	case EngineDistribution:
		files := []File{{Path: serveScript, Mode: 0o755, Content: serveDistribution, Units: []string{"*"}}}
		for _, e := range l.Endpoints {
			unit := UnitName(l.Engine, e.Name)
			online, err := NewDistributionConfig(e, false).YAML()
			if err != nil {
				return nil, err
			}
			offline, err := NewDistributionConfig(e, true).YAML()
			if err != nil {
				return nil, err
			}
			files = append(files,
				File{Path: ConfigDir + "/" + e.Name + ".yml", Mode: 0o644, Content: string(online), Units: []string{unit}},
				File{Path: ConfigDir + "/" + e.Name + ".offline.yml", Mode: 0o644, Content: string(offline), Units: []string{unit}},
				File{Path: unitDir + "/" + unit, Mode: 0o644, Content: distributionUnit(e), Units: []string{unit}},
			)
		}
		return files, nil
	}
	return nil, fmt.Errorf("unknown cache engine %q", l.Engine)
}

// UnitName is the systemd unit serving an upstream (distribution) or the
// whole cache (zot).
func UnitName(eng, upstream string) string {
	if eng == EngineZot {
		return "plex-registry-zot.service"
	}
	return "plex-registry-" + strings.ReplaceAll(upstream, ":", "_") + ".service"
}

func zotUnit() string {
	return `# Written by plex-registry.
[Unit]
Description=plex read-through image cache (zot)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=` + StorageDir + `

[Service]
ExecStart=` + ZotBinary + ` serve ` + ConfigDir + `/zot.json
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

func distributionUnit(e Endpoint) string {
	return `# Written by plex-registry.
[Unit]
Description=plex read-through image cache of ` + e.Name + ` (distribution proxy on :` + strconv.Itoa(e.Port) + `)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=` + StorageDir + `

[Service]
ExecStart=` + serveScript + ` ` + ConfigDir + `/` + e.Name + `.yml ` + ConfigDir + `/` + e.Name + `.offline.yml
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

// serveDistribution runs one proxy. docker-registry 2.8 asks the upstream
// for /v2/ when it starts and panics when it gets no answer, so a cache
// restarted while its upstream is away would serve nothing. When the proxy
// dies at once, this serves the same storage read-only without the proxy
// for a while, then tries the proxy again.
const serveDistribution = `#!/bin/sh
# Written by plex-registry: serve a distribution proxy, or its cache
# read-only while the upstream does not answer.
# Usage: serve-distribution PROXY.yml OFFLINE.yml
set -u
while :; do
  started=$(date +%s)
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ ` + DistributionBinary + ` serve "$1"
  rc=$?
  if [ $(($(date +%s) - started)) -ge 30 ]; then
    exit "$rc"
  fi
  echo "plex-registry: the proxy exited at start ($rc), most likely because the upstream does not answer; serving the cache read-only for 5 minutes"
  timeout 300 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ ` + DistributionBinary + ` serve "$2"
done
`
