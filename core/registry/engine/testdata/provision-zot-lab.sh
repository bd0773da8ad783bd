#!/bin/bash
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
mkdir -p /var/lib/plex-registry /etc/plex-registry
test -x /usr/local/bin/zot || { echo "/usr/local/bin/zot is missing"; exit 1; }
mkdir -p /var/lib/plex-registry/zot
install_file /etc/plex-registry/zot.json 0644 plex-registry-zot.service <<'PLEX_EOF'
{
  "distSpecVersion": "1.1.1",
  "storage": {
    "rootDirectory": "/var/lib/plex-registry/zot",
    "dedupe": true,
    "gc": true
  },
  "http": {
    "address": "0.0.0.0",
    "port": "5000",
    "compat": [
      "docker2s2"
    ]
  },
  "log": {
    "level": "info"
  },
  "extensions": {
    "sync": {
      "enable": true,
      "registries": [
        {
          "urls": [
            "https://registry-1.docker.io"
          ],
          "onDemand": true,
          "tlsVerify": true,
          "preserveDigest": true,
          "maxRetries": 1,
          "retryDelay": "100ms",
          "content": [
            {
              "prefix": "**",
              "destination": "/docker.io"
            }
          ]
        },
        {
          "urls": [
            "https://myreg.lab:5443"
          ],
          "onDemand": true,
          "tlsVerify": false,
          "preserveDigest": true,
          "maxRetries": 1,
          "retryDelay": "100ms",
          "content": [
            {
              "prefix": "**",
              "destination": "/myreg.lab_5443"
            }
          ]
        },
        {
          "urls": [
            "http://10.212.0.1:5000"
          ],
          "onDemand": true,
          "tlsVerify": true,
          "preserveDigest": true,
          "maxRetries": 1,
          "retryDelay": "100ms",
          "content": [
            {
              "prefix": "**",
              "destination": "/registry.k8s.io"
            }
          ]
        }
      ]
    }
  }
}
PLEX_EOF
install_file /etc/systemd/system/plex-registry-zot.service 0644 plex-registry-zot.service <<'PLEX_EOF'
# Written by plex-registry.
[Unit]
Description=plex read-through image cache (zot)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=/var/lib/plex-registry

[Service]
ExecStart=/usr/local/bin/zot serve /etc/plex-registry/zot.json
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
PLEX_EOF
want=" plex-registry-zot.service "
for f in /etc/systemd/system/plex-registry-*.service /etc/systemd/system/plex-lab-registry*.service; do
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
for p in 5000; do
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
echo "plex-ready 5000"
