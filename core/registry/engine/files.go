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
	out := make([]string, 0, len(l.Endpoints)+2)
	for _, e := range l.Endpoints {
		out = append(out, UnitName(l.Engine, e.Name))
	}
	out = append(out, labUnit)
	if l.PushAuth {
		out = append(out, labPushUnit)
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
		return append([]File{
			{Path: ConfigDir + "/zot.json", Mode: 0o644, Content: string(b), Units: []string{unit}},
			{Path: unitDir + "/" + unit, Mode: 0o644, Content: zotUnit(), Units: []string{unit}},
		}, l.htpasswdFile(unit)...), nil
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
		lab, err := l.labFiles()
		if err != nil {
			return nil, err
		}
		return append(files, lab...), nil
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
	host, port := e.HostPort()
	return `# Written by plex-registry.
[Unit]
Description=plex read-through image cache of ` + e.Name + ` (distribution proxy on :` + strconv.Itoa(e.Port) + `)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=` + StorageDir + `

[Service]
ExecStart=` + serveScript + ` ` + ConfigDir + `/` + e.Name + `.yml ` + ConfigDir + `/` + e.Name + `.offline.yml ` + host + ` ` + port + `
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`
}

// serveDistribution runs one proxy while its upstream answers, and the same
// storage read-only without the proxy while it does not.
//
// docker-registry 2.8's proxy asks the upstream about every tag before it
// serves its own copy, with Go's 30 s dial timeout and no setting to shorten
// it. An upstream that refuses connections costs nothing (measured: cached
// tags in 4–8 ms, an uncached image 404 in 3 ms), but one that drops packets,
// as an unplugged network does, made every pull by tag wait 30 s. So the
// script asks the upstream for a TCP connection every 5 s, with 2 s to
// answer: after two misses in a row it restarts the registry without the
// proxy, which serves what is cached at once and an uncached image 404 at
// once; after one answer it restarts the proxy. The proxy also panics at
// start when the upstream does not answer, which the same switch avoids; a
// proxy that dies anyway is kept off for a minute.
const serveDistribution = `#!/bin/bash
# Written by plex-registry: serve a distribution proxy while its upstream
# answers, and its cache read-only while it does not.
# Usage: serve-distribution PROXY.yml OFFLINE.yml UPSTREAM-HOST UPSTREAM-PORT
set -u
proxy=$1 offline=$2 host=$3 port=$4
answers() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; }
child= mode= misses=0 hold=0
stop() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  child=
}
trap 'stop; exit 0' TERM INT
while :; do
  if answers; then misses=0; else misses=$((misses + 1)); fi
  want=$mode
  if [ -z "$mode" ]; then
    want=proxy; [ "$misses" -gt 0 ] && want=offline
  elif [ "$mode" = proxy ] && [ "$misses" -ge 2 ]; then
    want=offline
  elif [ "$mode" = offline ] && [ "$misses" -eq 0 ] && [ "$(date +%s)" -ge "$hold" ]; then
    want=proxy
  fi
  if [ -n "$child" ] && ! kill -0 "$child" 2>/dev/null; then
    wait "$child"; rc=$?; child=
    if [ "$mode" = proxy ]; then
      echo "plex-registry: the proxy exited ($rc); serving the cache read-only for a minute"
      want=offline hold=$(($(date +%s) + 60))
    fi
  fi
  if [ "$want" != "$mode" ] || [ -z "$child" ]; then
    stop
    if [ "$want" = offline ]; then
      echo "plex-registry: the upstream $host:$port does not answer: serving the cache read-only"
      cfg=$offline
    else
      [ "$mode" = offline ] && echo "plex-registry: the upstream $host:$port answers again: serving the proxy"
      cfg=$proxy
    fi
    mode=$want
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ ` + DistributionBinary + ` serve "$cfg" &
    child=$!
  fi
  sleep 5 &
  wait $!
done
`
