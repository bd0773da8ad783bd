#!/bin/sh
# Provisions a `kube` node image in the transient bake instance, after the
# Kubernetes binaries were pushed into /usr/bin and (PLEX_RUNTIME=release)
# containerd, its runc shim and runc into /usr/local/bin: distribution
# packages from the base's own mirror, containerd configured for kubelet in a
# system container, the sysctls, and kubelet's systemd units.
#
# Env (set by core/bake; every value is part of the image's inputs hash):
#   PLEX_PACKAGES                 packages to install, space-separated
#   PLEX_RUNTIME                  release: containerd 2.x and runc were pushed
#                                 in, plex writes their unit and config
#                                 (schema version 3, or 4 for 2.4+); distro: the base's containerd and
#                                 runc packages (in PLEX_PACKAGES), their
#                                 default config edited
#   PLEX_SANDBOX_IMAGE            containerd's pause image
#   PLEX_CONTAINERD_CONFIG_PATH   containerd's registry config_path (certs.d)
#   PLEX_CNI_BIN_DIR              where the base's CNI plugins are
#   PLEX_CGROUP_DRIVER            cgroupfs or systemd, as kubelet is configured
#   PLEX_APT_PROXY                optional http:// proxy for apt (not hashed)
#
# Prints "plex-fact KEY=VALUE" lines that the bake records on the image.
set -eu

: "${PLEX_PACKAGES:?}" "${PLEX_RUNTIME:?}" "${PLEX_SANDBOX_IMAGE:?}" "${PLEX_CONTAINERD_CONFIG_PATH:?}" "${PLEX_CNI_BIN_DIR:?}" "${PLEX_CGROUP_DRIVER:?}"
export DEBIAN_FRONTEND=noninteractive

fact() { echo "plex-fact $1=$2"; }
step() { echo "--- $*"; }

# --- packages ----------------------------------------------------------------
if [ -n "${PLEX_APT_PROXY:-}" ]; then
  step "apt through $PLEX_APT_PROXY"
  # clean.sh removes this file, so the image keeps the base's plain apt setup.
  cat >/etc/apt/apt.conf.d/00plexbake-proxy <<CONF
Acquire::http::Proxy "$PLEX_APT_PROXY";
Acquire::Retries "3";
CONF
fi

# A node image carries no documentation, man pages or translations, and none
# of what kubelet never uses: containerd's legacy shims (the CRI runs
# io.containerd.runc.v2 only), its ctr debugging client (22 MB) and the rarer
# CNI plugins. dpkg's path filters keep later installs on the nodes just as
# lean; the files the base already has go now. Also left out: Perl's module
# library (keepalived links net-snmp, which links libperl, but no Perl code
# runs on a node: about 45 MB), the locale sources (C.UTF-8 is built into
# libc and nothing runs locale-gen: 17 MB) and the iconv modules for legacy
# and CJK charsets (8 MB). Together about 200 MB, which keeps the image under
# 500 MiB with the Kubernetes binaries.
step "slim: no docs, man pages, translations, Perl modules, locale sources, ctr, legacy shims, rare CNI plugins"
mkdir -p /etc/dpkg/dpkg.cfg.d
cat >/etc/dpkg/dpkg.cfg.d/90-plex-node-image <<'CONF'
# Written by incus plexbake to keep node images small. Remove this file and
# reinstall a package (apt-get install --reinstall containerd) to get what it
# leaves out back.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/perl/*
path-exclude=/usr/lib/*/perl/*
path-exclude=/usr/share/i18n/locales/*
path-exclude=/usr/share/i18n/charmaps/*
path-exclude=/usr/lib/*/gconv/*
path-include=/usr/lib/*/gconv/gconv-modules*
path-include=/usr/lib/*/gconv/UTF-*
path-include=/usr/lib/*/gconv/UNICODE.so
path-include=/usr/lib/*/gconv/ISO8859-1.so
path-exclude=/usr/bin/containerd-shim
path-exclude=/usr/bin/containerd-shim-runc-v1
path-exclude=/usr/bin/ctr
path-exclude=/usr/lib/cni/*
path-include=/usr/lib/cni/bandwidth
path-include=/usr/lib/cni/bridge
path-include=/usr/lib/cni/host-local
path-include=/usr/lib/cni/loopback
path-include=/usr/lib/cni/portmap
path-include=/usr/lib/cni/tuning
CONF
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf /usr/share/perl/* /usr/lib/*/perl/* /usr/share/i18n/locales/* /usr/share/i18n/charmaps/*
find /usr/lib/*/gconv -mindepth 1 -maxdepth 1 ! -name 'gconv-modules*' ! -name 'UTF-*' \
  ! -name UNICODE.so ! -name ISO8859-1.so -exec rm -rf {} +

command -v apt-get >/dev/null || {
  echo "this base has no apt-get: only Debian-family bases can be baked so far"
  exit 1
}
step "apt-get update"
# Error-Mode=any: a mirror that cannot be reached fails here, not later as
# "Unable to locate package".
if ! apt-get -q -o Dpkg::Use-Pty=0 -o APT::Update::Error-Mode=any update; then
  echo "apt-get update failed: the instance has to reach the base's package mirror, directly or through --apt-proxy${PLEX_APT_PROXY:+ (now $PLEX_APT_PROXY)}"
  exit 1
fi
step "apt-get install $PLEX_PACKAGES"
# shellcheck disable=SC2086 # the list is meant to split
apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends $PLEX_PACKAGES

# --- CNI plugins ----------------------------------------------------------------
# kubelet and the CNI conflists look in /opt/cni/bin; Debian puts the plugins
# in /usr/lib/cni.
step "/opt/cni/bin -> $PLEX_CNI_BIN_DIR"
[ -x "$PLEX_CNI_BIN_DIR/bridge" ] || {
  echo "no CNI bridge plugin in $PLEX_CNI_BIN_DIR"
  exit 1
}
mkdir -p /opt/cni /etc/cni/net.d
if [ -d /opt/cni/bin ] && [ ! -L /opt/cni/bin ]; then
  rmdir /opt/cni/bin
fi
ln -sfn "$PLEX_CNI_BIN_DIR" /opt/cni/bin

# --- containerd -------------------------------------------------------------------
# runc sets oom_score_adj on every pod sandbox (-998). Where no process may
# lower its own oom_score_adj (no CAP_SYS_RESOURCE, as on some sandboxed
# hosts), every sandbox dies with "can't get final child's PID from pipe";
# restrict_oom_score_adj makes containerd keep the value within what it may
# set. Normal hosts do not need it, so it is detected, not assumed.
restrict=false
# The child cat inherits the shell's value, so it shows whether the write took.
if ! sh -c 'echo -998 >/proc/self/oom_score_adj; [ "$(cat /proc/self/oom_score_adj)" = -998 ]' 2>/dev/null; then
  restrict=true
fi

case $PLEX_CGROUP_DRIVER in
cgroupfs) systemd_cgroup=false ;;
systemd) systemd_cgroup=true ;;
*)
  echo "unknown cgroup driver '$PLEX_CGROUP_DRIVER' (cgroupfs or systemd)"
  exit 1
  ;;
esac

mkdir -p /etc/containerd "$PLEX_CONTAINERD_CONFIG_PATH"
case $PLEX_RUNTIME in
release)
  # containerd 2.x: plex's own config, in the schema version this
  # containerd writes (3 or 4), and plex's own unit. Everything not set
  # here keeps containerd's default.
  step "containerd config, plex's own (restrict_oom_score_adj=$restrict)"
  for b in containerd containerd-shim-runc-v2 runc; do
    [ -x "/usr/local/bin/$b" ] || {
      echo "/usr/local/bin/$b is missing: the bake pushes it before this script runs"
      exit 1
    }
  done
  # Schema version 3 is containerd 2.0's; 2.4 moved to 4, which keeps every
  # key set here, and migrates a version 3 file in memory with a warning at
  # each start. So the file says the version this containerd writes itself.
  schema=$(containerd config default | sed -n 's/^version = //p')
  case $schema in
  3 | 4) ;;
  *)
    echo "containerd $(containerd --version) uses config schema version '$schema'; plex writes versions 3 and 4 only"
    exit 1
    ;;
  esac
  cat >/etc/containerd/config.toml.plex <<CONF
# Written by incus plexbake: containerd's configuration for a plex node.
# Settings not named here keep containerd's defaults (containerd config dump
# shows them all).
version = $schema

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  # An image keeps its unpacked layers only, not the compressed blobs
  # beside them: less disk for every pull, and an image baked with
  # --preload-images grows by the unpacked size alone.
  discard_unpacked_layers = true

  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$PLEX_SANDBOX_IMAGE'

  # Registry mirrors: one hosts.toml per registry, which plex writes on
  # each node.
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = '$PLEX_CONTAINERD_CONFIG_PATH'

[plugins.'io.containerd.cri.v1.runtime']
  # Privileged system containers run unconfined; AppArmor profiles cannot
  # load.
  disable_apparmor = true
  # Detected by the bake; plex turns it on at node start on a host that
  # needs it.
  restrict_oom_score_adj = $restrict

  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      sandboxer = 'podsandbox'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        # Must match kubelet's cgroupDriver ($PLEX_CGROUP_DRIVER).
        SystemdCgroup = $systemd_cgroup

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/opt/cni/bin']
    conf_dir = '/etc/cni/net.d'
CONF
  mv /etc/containerd/config.toml.plex /etc/containerd/config.toml
  chmod 644 /etc/containerd/config.toml

  step "containerd unit"
  cat >/usr/lib/systemd/system/containerd.service <<'CONF'
# Written by incus plexbake for containerd in /usr/local/bin.
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target dbus.service

[Service]
ExecStart=/usr/local/bin/containerd
Type=notify
# The shims and the containers they start live in containerd's cgroup and
# must survive a containerd restart.
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
# Containers inherit these; kernel and cgroup settings bound them instead.
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
CONF
  ;;
distro)
  # The base's containerd package (1.6 on Debian 12): its default config
  # (schema version 2) with plex's settings edited in.
  step "containerd config from the package's default (restrict_oom_score_adj=$restrict)"
  containerd config default >/etc/containerd/config.toml.plex
  # set_key KEY VALUE sets every "KEY = …" line; fails if there is none, so
  # a containerd whose default config changed shape stops the bake instead
  # of baking a half-configured image.
  set_key() {
    grep -Eq "^[[:space:]]*$1 = " /etc/containerd/config.toml.plex || {
      echo "containerd's default config has no '$1' setting; cannot configure it"
      exit 1
    }
    sed -i -E "s|^([[:space:]]*$1) = .*|\1 = $2|" /etc/containerd/config.toml.plex
  }
  # The cgroup driver must match kubelet's.
  set_key SystemdCgroup "$systemd_cgroup"
  set_key config_path "\"$PLEX_CONTAINERD_CONFIG_PATH\""
  # Privileged system containers run unconfined; AppArmor profiles cannot load.
  set_key disable_apparmor true
  set_key restrict_oom_score_adj "$restrict"
  set_key sandbox_image "\"$PLEX_SANDBOX_IMAGE\""
  mv /etc/containerd/config.toml.plex /etc/containerd/config.toml
  chmod 644 /etc/containerd/config.toml
  ;;
*)
  echo "unknown PLEX_RUNTIME '$PLEX_RUNTIME' (release or distro)"
  exit 1
  ;;
esac

# --- kernel settings ----------------------------------------------------------------
step "sysctls"
cat >/etc/sysctl.d/90-plex-kubernetes.conf <<'CONF'
# Written by incus plexbake: what kubeadm's preflight and pod networking need.
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
CONF
# Applies at boot; here it only has to be accepted where the keys exist.
sysctl -q -p /etc/sysctl.d/90-plex-kubernetes.conf 2>/dev/null || true

# --- kubelet ------------------------------------------------------------------------
# The units the upstream kubelet and kubeadm packages install.
step "kubelet units"
mkdir -p /usr/lib/systemd/system/kubelet.service.d /etc/kubernetes/manifests /var/lib/kubelet
cat >/usr/lib/systemd/system/kubelet.service <<'CONF'
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
CONF
cat >/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf <<'CONF'
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
CONF
[ -e /etc/default/kubelet ] || echo 'KUBELET_EXTRA_ARGS=' >/etc/default/kubelet

# --- SSH host key -------------------------------------------------------------------
# plex gives every node its own ed25519 host key through cloud-init and pins
# it in the user's known_hosts; sshd uses that key only. Generating RSA and
# ECDSA keys on first boot (ssh-keygen -A) held multi-user.target, and so
# cloud-init's final stage, back by 2-3 s of CPU on every node.
step "sshd: the ed25519 host key only"
mkdir -p /etc/ssh/sshd_config.d /etc/systemd/system/ssh.service.d
cat >/etc/ssh/sshd_config.d/50-plex-hostkey.conf <<'CONF'
# Written by incus plexbake: plex gives each node this key (cloud-init).
HostKey /etc/ssh/ssh_host_ed25519_key
CONF
cat >/etc/systemd/system/ssh.service.d/50-plex-hostkey.conf <<'CONF'
# Written by incus plexbake: make only the ed25519 host key, and only when
# cloud-init has not written one.
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c '[ -e /etc/ssh/ssh_host_ed25519_key ] || exec /usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
ExecStartPre=/usr/sbin/sshd -t
CONF

# --- boot ---------------------------------------------------------------------------
# A node boots beside the plex's other nodes, on shared cores: each unit it
# starts for nothing is CPU taken from the others. These have nothing to do in
# a system container: no modules to load, no binfmt (its failure left bookworm
# nodes "degraded"), no hugetlbfs, debugfs or tracefs, no ext4 to scrub, no
# SSD to trim, no kernel command line to turn into networkd config, and no
# unattended apt runs on a lab node. Masked, so that neither boot nor a timer
# starts them; `systemctl unmask` gives one back.
PLEX_MASKED_UNITS="modprobe@.service systemd-modules-load.service systemd-binfmt.service
proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount dev-hugepages.mount
sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount
systemd-network-generator.service e2scrub_reap.service e2scrub_all.timer fstrim.timer
apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer"
step "boot: mask the units a node container never needs"
# shellcheck disable=SC2086 # one unit per word
systemctl mask -q $PLEX_MASKED_UNITS
mkdir -p /etc/plex
echo "$PLEX_MASKED_UNITS" | tr ' ' '\n' >/etc/plex/masked-units
# Until kubeadm init or join writes its config, the kubelet can only fail and
# restart every 10 s; kubeadm starts it once the config is there.
mkdir -p /usr/lib/systemd/system/kubelet.service.d
cat >/usr/lib/systemd/system/kubelet.service.d/05-plex-wait-config.conf <<'CONF'
# Written by incus plexbake: no kubelet before kubeadm has configured it.
[Unit]
ConditionPathExists=/var/lib/kubelet/config.yaml
CONF

step "enable and (re)start containerd, enable kubelet"
systemctl daemon-reload
systemctl enable -q containerd kubelet
systemctl restart containerd

# --- facts ----------------------------------------------------------------------------
# The versions the binaries report ("containerd <pkg> v2.4.2 <rev>",
# "runc version 1.5.3"); the distro's are the packages' (1.6.20~ds1-1+b1).
if [ "$PLEX_RUNTIME" = distro ]; then
  containerd_version=$(dpkg-query -W -f='${Version}' containerd)
  runc_version=$(dpkg-query -W -f='${Version}' runc)
else
  containerd_version=$(containerd --version | awk '{print $3}')
  containerd_version=${containerd_version#v}
  runc_version=$(runc --version | awk 'NR == 1 {print $3}')
fi
mkdir -p /etc/plex
cat >/etc/plex/node-image.env <<CONF
# Written by incus plexbake: what this node image holds.
PLEX_IMAGE_TYPE=kube
PLEX_KUBERNETES_VERSION=$(kubeadm version -o short)
PLEX_CONTAINER_RUNTIME=$PLEX_RUNTIME
PLEX_CONTAINERD_VERSION=$containerd_version
PLEX_RUNC_VERSION=$runc_version
PLEX_RESTRICT_OOM_SCORE_ADJ=$restrict
CONF
fact containerd-version "$containerd_version"
fact runc-version "$runc_version"
fact restrict-oom-score-adj "$restrict"
