package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ProvisionScript is the bash script that installs a layout's files in the
// cache instance, restarts the units whose files changed, removes the units
// of upstreams no longer served, and waits until every port answers /v2/.
// A port that asks for a password (401) answers too. It prints
// "plex-changed PATH" and "plex-removed UNIT" lines.
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
  case $line in "HTTP/1."?" 200"* | "HTTP/1."?" 401"*) exit 0 ;; esac
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
		fmt.Fprintf(&b, "mkdir -p %s\n", LabStorageDir)
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
	if l.PushAuth {
		fmt.Fprintf(&b, "test -s %s || { echo \"%s is missing: give up --push-htpasswd FILE\"; exit 1; }\n", HtpasswdFile, HtpasswdFile)
	}
	fmt.Fprintf(&b, "want=\" %s \"\n", strings.Join(units, " "))
	b.WriteString(`for f in ` + unitDir + `/plex-registry-*.service ` + unitDir + `/plex-lab-registry*.service; do
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
