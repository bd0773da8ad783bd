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
test -x /usr/bin/docker-registry || { echo "/usr/bin/docker-registry is missing: the image was not baked with \`incus plexbake bake registry\`"; exit 1; }
mkdir -p /var/lib/plex-registry/distribution/docker.io
mkdir -p /var/lib/plex-registry/distribution/myreg.lab:5443
mkdir -p /var/lib/plex-registry/distribution/registry.k8s.io
mkdir -p /var/lib/plex-registry/lab
install_file /usr/local/lib/plex-registry/serve-distribution 0755 * <<'PLEX_EOF'
#!/bin/bash
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
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ /usr/bin/docker-registry serve "$cfg" &
    child=$!
  fi
  sleep 5 &
  wait $!
done
PLEX_EOF
install_file /etc/plex-registry/docker.io.yml 0644 plex-registry-docker.io.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5001
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    service: plex-registry
    upstream: docker.io
  level: info
proxy:
  remoteurl: https://registry-1.docker.io
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/distribution/docker.io
version: "0.1"
PLEX_EOF
install_file /etc/plex-registry/docker.io.offline.yml 0644 plex-registry-docker.io.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5001
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    mode: offline
    service: plex-registry
    upstream: docker.io
  level: info
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/distribution/docker.io
  maintenance:
    readonly:
      enabled: true
version: "0.1"
PLEX_EOF
install_file /etc/systemd/system/plex-registry-docker.io.service 0644 plex-registry-docker.io.service <<'PLEX_EOF'
# Written by plex-registry.
[Unit]
Description=plex read-through image cache of docker.io (distribution proxy on :5001)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=/var/lib/plex-registry

[Service]
ExecStart=/usr/local/lib/plex-registry/serve-distribution /etc/plex-registry/docker.io.yml /etc/plex-registry/docker.io.offline.yml registry-1.docker.io 443
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
PLEX_EOF
install_file /etc/plex-registry/myreg.lab:5443.yml 0644 plex-registry-myreg.lab_5443.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5010
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    service: plex-registry
    upstream: myreg.lab:5443
  level: info
proxy:
  remoteurl: https://myreg.lab:5443
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/distribution/myreg.lab:5443
version: "0.1"
PLEX_EOF
install_file /etc/plex-registry/myreg.lab:5443.offline.yml 0644 plex-registry-myreg.lab_5443.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5010
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    mode: offline
    service: plex-registry
    upstream: myreg.lab:5443
  level: info
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/distribution/myreg.lab:5443
  maintenance:
    readonly:
      enabled: true
version: "0.1"
PLEX_EOF
install_file /etc/systemd/system/plex-registry-myreg.lab_5443.service 0644 plex-registry-myreg.lab_5443.service <<'PLEX_EOF'
# Written by plex-registry.
[Unit]
Description=plex read-through image cache of myreg.lab:5443 (distribution proxy on :5010)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=/var/lib/plex-registry

[Service]
ExecStart=/usr/local/lib/plex-registry/serve-distribution /etc/plex-registry/myreg.lab:5443.yml /etc/plex-registry/myreg.lab:5443.offline.yml myreg.lab 5443
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
PLEX_EOF
install_file /etc/plex-registry/registry.k8s.io.yml 0644 plex-registry-registry.k8s.io.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5002
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    service: plex-registry
    upstream: registry.k8s.io
  level: info
proxy:
  remoteurl: http://10.212.0.1:5000
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/distribution/registry.k8s.io
version: "0.1"
PLEX_EOF
install_file /etc/plex-registry/registry.k8s.io.offline.yml 0644 plex-registry-registry.k8s.io.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5002
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    mode: offline
    service: plex-registry
    upstream: registry.k8s.io
  level: info
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/distribution/registry.k8s.io
  maintenance:
    readonly:
      enabled: true
version: "0.1"
PLEX_EOF
install_file /etc/systemd/system/plex-registry-registry.k8s.io.service 0644 plex-registry-registry.k8s.io.service <<'PLEX_EOF'
# Written by plex-registry.
[Unit]
Description=plex read-through image cache of registry.k8s.io (distribution proxy on :5002)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=/var/lib/plex-registry

[Service]
ExecStart=/usr/local/lib/plex-registry/serve-distribution /etc/plex-registry/registry.k8s.io.yml /etc/plex-registry/registry.k8s.io.offline.yml 10.212.0.1 5000
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
PLEX_EOF
install_file /etc/plex-registry/plex-lab-registry.yml 0644 plex-lab-registry.service <<'PLEX_EOF'
# Written by plex-registry; rewritten by every `plex-registry up`.
health:
  storagedriver:
    enabled: false
http:
  addr: :5050
  headers:
    X-Content-Type-Options:
    - nosniff
log:
  accesslog:
    disabled: true
  fields:
    namespace: lab
    service: plex-registry
  level: info
storage:
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  filesystem:
    rootdirectory: /var/lib/plex-registry/lab
version: "0.1"
PLEX_EOF
install_file /etc/systemd/system/plex-lab-registry.service 0644 plex-lab-registry.service <<'PLEX_EOF'
# Written by plex-registry.
[Unit]
Description=plex lab image registry (distribution on :5050)
After=network-online.target
Wants=network-online.target
RequiresMountsFor=/var/lib/plex-registry

[Service]
ExecStart=/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ /usr/bin/docker-registry serve /etc/plex-registry/plex-lab-registry.yml
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
PLEX_EOF
want=" plex-registry-docker.io.service plex-registry-myreg.lab_5443.service plex-registry-registry.k8s.io.service plex-lab-registry.service "
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
for p in 5001 5002 5010 5050; do
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
echo "plex-ready 5001 5002 5010 5050"
