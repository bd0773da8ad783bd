#!/bin/sh
# Checks the provisioned instance before it is published: the Kubernetes
# binaries are the requested version, containerd runs with the baked
# configuration, kubelet is enabled, and the tools kubeadm's preflight and
# kube-proxy look for are on PATH.
#
# Env: PLEX_KUBE_VERSION, PLEX_CONTAINERD_CONFIG_PATH, PLEX_SANDBOX_IMAGE,
# PLEX_RUNTIME (release or distro) and, for release, PLEX_CONTAINERD_VERSION
# and PLEX_RUNC_VERSION (2.4.2, 1.5.3: what the binaries must report).
set -eu

: "${PLEX_KUBE_VERSION:?}" "${PLEX_CONTAINERD_CONFIG_PATH:?}" "${PLEX_SANDBOX_IMAGE:?}" "${PLEX_RUNTIME:?}"
fail() {
  echo "verify: $*"
  exit 1
}

got=$(kubeadm version -o short) || fail "kubeadm does not run"
[ "$got" = "$PLEX_KUBE_VERSION" ] || fail "kubeadm is $got, want $PLEX_KUBE_VERSION"
got=$(kubelet --version) || fail "kubelet does not run"
[ "$got" = "Kubernetes $PLEX_KUBE_VERSION" ] || fail "kubelet says '$got', want 'Kubernetes $PLEX_KUBE_VERSION'"
kubectl version --client >/dev/null || fail "kubectl does not run"

for unit in containerd kubelet; do
  systemctl is-enabled -q "$unit" || fail "$unit is not enabled"
done
for unit in $(cat /etc/plex/masked-units); do
  [ "$(systemctl is-enabled "$unit" 2>/dev/null)" = masked ] || fail "$unit is not masked (see /etc/plex/masked-units)"
done
systemctl cat kubelet | grep -qx 'ConditionPathExists=/var/lib/kubelet/config.yaml' ||
  fail "kubelet does not wait for /var/lib/kubelet/config.yaml"
systemctl is-active -q containerd || fail "containerd is not running: $(systemctl status containerd --no-pager 2>&1 | tail -n 20)"
[ -S /run/containerd/containerd.sock ] || fail "containerd has no socket at /run/containerd/containerd.sock"
# The effective config: what containerd made of the file, defaults and
# migrations included. containerd 2.x prints strings in single quotes.
dump=$(containerd config dump) || fail "containerd config dump failed"
has() { printf '%s\n' "$dump" | grep -Eq "^[[:space:]]*$1[[:space:]]*\$" || fail "containerd's effective config has no '$1' ($2)"; }
q="[\"']"
has "config_path = $q$PLEX_CONTAINERD_CONFIG_PATH$q" "the registry mirrors' hosts.toml directory"
has 'SystemdCgroup = false' "the cgroupfs driver kubelet uses"
has 'disable_apparmor = true' "no AppArmor in a privileged system container"
if [ "$PLEX_RUNTIME" = release ]; then
  has 'version = [34]' "schema version 3 or 4"
  journalctl -u containerd -b --no-pager 2>/dev/null | grep -q 'Configuration migrated' &&
    fail "containerd migrated its config at start: $(journalctl -u containerd -b --no-pager | grep 'Configuration migrated' | tail -n1)"
  has "sandbox = $q$PLEX_SANDBOX_IMAGE$q" "the pinned sandbox image"
  has 'discard_unpacked_layers = true' "pulled images keep their unpacked layers only"
  has "\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.runc\]" "the runc runtime"
  has "bin_dirs = \[$q/opt/cni/bin$q\]" "the CNI plugins"
  got=$(containerd --version | awk '{print $3}')
  [ "$got" = "v$PLEX_CONTAINERD_VERSION" ] || fail "containerd is $got, want v$PLEX_CONTAINERD_VERSION"
  got=$(runc --version | awk 'NR == 1 {print $3}')
  [ "$got" = "$PLEX_RUNC_VERSION" ] || fail "runc is $got, want $PLEX_RUNC_VERSION"
  runc --version | grep -q '^libseccomp: ' || fail "runc has no seccomp support: $(runc --version)"
  [ "$(command -v containerd-shim-runc-v2)" = /usr/local/bin/containerd-shim-runc-v2 ] || fail "containerd-shim-runc-v2 is not /usr/local/bin's"
else
  has "sandbox_image = $q$PLEX_SANDBOX_IMAGE$q" "the sandbox image"
fi

for p in bridge host-local loopback portmap; do
  [ -x "/opt/cni/bin/$p" ] || fail "CNI plugin $p missing from /opt/cni/bin"
done
for tool in runc conntrack iptables ip6tables ebtables ethtool socat nsenter mount ip modprobe sysctl; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
echo "verified: kubeadm $PLEX_KUBE_VERSION, $(containerd --version | awk '{print $1" "$3}'), $(runc --version | head -n1)"
