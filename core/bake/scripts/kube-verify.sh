#!/bin/sh
# Checks the provisioned instance before it is published: the Kubernetes
# binaries are the requested version, containerd runs with the baked
# configuration, kubelet is enabled, and the tools kubeadm's preflight and
# kube-proxy look for are on PATH.
#
# Env: PLEX_KUBE_VERSION, PLEX_CONTAINERD_CONFIG_PATH.
set -eu

: "${PLEX_KUBE_VERSION:?}" "${PLEX_CONTAINERD_CONFIG_PATH:?}"
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
systemctl is-active -q containerd || fail "containerd is not running: $(systemctl status containerd --no-pager 2>&1 | tail -n 20)"
[ -S /run/containerd/containerd.sock ] || fail "containerd has no socket at /run/containerd/containerd.sock"
containerd config dump | grep -q "config_path = \"$PLEX_CONTAINERD_CONFIG_PATH\"" ||
  fail "containerd's effective config has no config_path = \"$PLEX_CONTAINERD_CONFIG_PATH\""
containerd config dump | grep -q 'SystemdCgroup = false' || fail "containerd does not use the cgroupfs driver"

for p in bridge host-local loopback portmap; do
  [ -x "/opt/cni/bin/$p" ] || fail "CNI plugin $p missing from /opt/cni/bin"
done
for tool in runc conntrack iptables ip6tables ebtables ethtool socat nsenter mount ip modprobe sysctl; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
echo "verified: kubeadm $PLEX_KUBE_VERSION, $(containerd --version | awk '{print $1" "$3}'), $(runc --version | head -n1)"
