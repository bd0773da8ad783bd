package registry

import (
	"fmt"
	"path"
	"slices"
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
		return []string{unitName(EngineZot, "")}
	}
	out := make([]string, 0, len(l.Endpoints))
	for _, e := range l.Endpoints {
		out = append(out, unitName(l.Engine, e.Name))
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
		unit := unitName(EngineZot, "")
		return []File{
			{Path: ConfigDir + "/zot.json", Mode: 0o644, Content: string(b), Units: []string{unit}},
			{Path: unitDir + "/" + unit, Mode: 0o644, Content: zotUnit(), Units: []string{unit}},
		}, nil
	case EngineDistribution:
		files := []File{{Path: serveScript, Mode: 0o755, Content: serveDistribution, Units: []string{"*"}}}
		for _, e := range l.Endpoints {
			unit := unitName(l.Engine, e.Name)
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

// ProvisionScript is the bash script that installs a layout's files in the
// cache instance, restarts the units whose files changed, removes the units
// of upstreams no longer served, and waits until every port answers /v2/.
// It prints "plex-changed PATH" and "plex-removed UNIT" lines.
func (l Layout) ProvisionScript() (string, error) {
	files, err := l.Files()
	if err != nil {
		return "", err
	}
	units := l.Units()
	var b strings.Builder
	b.WriteString(`#!/bin/bash
# Written by plex-registry up.
set -euo pipefail
changed=" "
install_file() { # PATH MODE UNIT... (content on stdin)
  local p=$1 mode=$2 tmp
  shift 2
  mkdir -p "$(dirname "$p")"
  tmp=$(mktemp "$p.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if cmp -s "$tmp" "$p"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$p"
    changed="$changed$* "
    echo "plex-changed $p"
  fi
}
answers() ( # PORT
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  IFS= read -r -t 5 line <&3 || exit 1
  case $line in "HTTP/1."?" 200"*) exit 0 ;; esac
  exit 1
)
`)
	fmt.Fprintf(&b, "mkdir -p %s %s\n", StorageDir, ConfigDir)
	if l.Engine == EngineZot {
		fmt.Fprintf(&b, "test -x %s || { echo \"%s is missing\"; exit 1; }\n", ZotBinary, ZotBinary)
		fmt.Fprintf(&b, "mkdir -p %s\n", ZotStorageDir)
	} else {
		fmt.Fprintf(&b, "test -x %s || { echo \"%s is missing: the image was not baked with \\`incus plexbake bake registry\\`\"; exit 1; }\n", DistributionBinary, DistributionBinary)
		for _, e := range l.Endpoints {
			fmt.Fprintf(&b, "mkdir -p %s\n", DistributionStorageDir(e.Name))
		}
	}
	for _, f := range files {
		delim := "PLEX_EOF"
		for strings.Contains(f.Content, delim) {
			delim += "_"
		}
		content := f.Content
		if !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		fmt.Fprintf(&b, "install_file %s %04o %s <<'%s'\n%s%s\n", f.Path, f.Mode, strings.Join(f.Units, " "), delim, content, delim)
	}
	fmt.Fprintf(&b, "want=\" %s \"\n", strings.Join(units, " "))
	b.WriteString(`for f in ` + unitDir + `/plex-registry-*.service; do
  [ -e "$f" ] || continue
  u=${f##*/}
  case $want in *" $u "*) continue ;; esac
  systemctl disable --now "$u" >/dev/null 2>&1 || true
  rm -f "$f"
  echo "plex-removed $u"
done
systemctl daemon-reload
for u in $want; do
  systemctl enable -q "$u"
  case $changed in
  *" $u "* | *" * "*) systemctl restart "$u" ;;
  *) systemctl start "$u" ;;
  esac
done
`)
	ports := l.Ports()
	slices.Sort(ports)
	ps := make([]string, len(ports))
	for i, p := range ports {
		ps[i] = strconv.Itoa(p)
	}
	fmt.Fprintf(&b, `for p in %s; do
  for i in $(seq 1 120); do
    answers "$p" && break
    if [ "$i" -eq 120 ]; then
      echo "the cache does not answer http://127.0.0.1:$p/v2/ after 60 s:"
      for u in $want; do systemctl --no-pager status "$u" 2>&1 | tail -n 15; done
      exit 1
    fi
    sleep 0.5
  done
done
echo "plex-ready %s"
`, strings.Join(ps, " "), strings.Join(ps, " "))
	return b.String(), nil
}

// storageScript prints what the cache holds, one fact a line:
// "blob UPSTREAM DIGEST" (stored data), "link UPSTREAM REPO DIGEST" (a blob
// a repository can serve), "repo UPSTREAM REPOSITORY" and
// "size UPSTREAM BYTES"; repositories are named as the upstream names them.
// A blob counts once its data is complete: distribution moves a blob into
// place and links it when it is committed, Zot after checking its digest.
// A blob serves only the repositories it is linked into, which is why warm
// looks at links.
func (l Layout) storageScript(blobs, repos bool) string {
	var b strings.Builder
	b.WriteString("set -u\n")
	if l.Engine == EngineZot {
		fmt.Fprintf(&b, "cd %s 2>/dev/null || exit 0\n", ZotStorageDir)
		for _, e := range l.Endpoints {
			fmt.Fprintf(&b, "if [ -d %s ]; then\n", e.Prefix)
			fmt.Fprintf(&b, "  echo \"size %s $(du -sb %s | cut -f1)\"\n", e.Name, e.Prefix)
			if blobs {
				fmt.Fprintf(&b, "  find %s -path '*/blobs/sha256/*' ! -path '*/.sync/*' -type f | sed -n 's|^%s/\\(.*\\)/blobs/sha256/\\([0-9a-f]*\\)$|link %s \\1 sha256:\\2|p'\n", e.Prefix, e.Prefix, e.Name)
			}
			if repos {
				fmt.Fprintf(&b, "  find %s -name index.json ! -path '*/.sync/*' -type f | sed -n 's|^%s/\\(.*\\)/index.json$|repo %s \\1|p'\n", e.Prefix, e.Prefix, e.Name)
			}
			b.WriteString("fi\n")
		}
		return b.String()
	}
	for _, e := range l.Endpoints {
		dir := DistributionStorageDir(e.Name)
		v2 := dir + "/docker/registry/v2"
		fmt.Fprintf(&b, "if [ -d %s ]; then\n", dir)
		fmt.Fprintf(&b, "  echo \"size %s $(du -sb %s | cut -f1)\"\n", e.Name, dir)
		if blobs {
			fmt.Fprintf(&b, "  [ -d %s/blobs ] && find %s/blobs/sha256 -name data -type f | sed -n 's|^.*/\\([0-9a-f]*\\)/data$|blob %s sha256:\\1|p'\n", v2, v2, e.Name)
			fmt.Fprintf(&b, "  [ -d %s/repositories ] && find %s/repositories -path '*/_layers/sha256/*/link' -type f | sed -n 's|^%s/repositories/\\(.*\\)/_layers/sha256/\\([0-9a-f]*\\)/link$|link %s \\1 sha256:\\2|p'\n", v2, v2, v2, e.Name)
		}
		if repos {
			fmt.Fprintf(&b, "  [ -d %s/repositories ] && find %s/repositories -name _manifests -type d | sed -n 's|^%s/repositories/\\(.*\\)/_manifests$|repo %s \\1|p'\n", v2, v2, v2, e.Name)
		}
		b.WriteString("fi\n")
	}
	b.WriteString("true\n")
	return b.String()
}

// storageFacts reads storageScript's output.
type storageFacts struct {
	blobs map[string]map[string]bool // upstream → digests stored
	links map[string]map[string]bool // upstream → "repo@digest" servable
	repos map[string][]string        // upstream → repositories
	size  map[string]int64           // upstream → bytes
}

func parseStorage(out string) storageFacts {
	f := storageFacts{blobs: map[string]map[string]bool{}, links: map[string]map[string]bool{}, repos: map[string][]string{}, size: map[string]int64{}}
	add := func(m map[string]map[string]bool, up, key string) {
		if m[up] == nil {
			m[up] = map[string]bool{}
		}
		m[up][key] = true
	}
	zotBlobs := map[string]map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 4 && fields[0] == "link" {
			add(f.links, fields[1], fields[2]+"@"+fields[3])
			add(zotBlobs, fields[1], fields[3])
			continue
		}
		if len(fields) != 3 {
			continue
		}
		up := fields[1]
		switch fields[0] {
		case "blob":
			add(f.blobs, up, fields[2])
		case "repo":
			f.repos[up] = append(f.repos[up], path.Clean(fields[2]))
		case "size":
			n, _ := strconv.ParseInt(fields[2], 10, 64)
			f.size[up] = n
		}
	}
	for up := range f.repos {
		slices.Sort(f.repos[up])
	}
	// Zot keeps blobs per repository: its stored blobs are its links'.
	for up, ds := range zotBlobs {
		if _, ok := f.blobs[up]; !ok {
			f.blobs[up] = ds
		}
	}
	return f
}
