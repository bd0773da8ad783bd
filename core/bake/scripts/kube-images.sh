#!/bin/sh
# Preloads the images that kubeadm init and join run (kubeadm config images
# list for PLEX_KUBE_VERSION: the control plane, etcd, CoreDNS, kube-proxy
# and pause) into containerd's store, so that a node starts them without a
# pull, as kind's node images do. containerd keeps only the unpacked layers
# (discard_unpacked_layers in its config), so the image grows by the
# unpacked size alone.
#
# With PLEX_PRELOAD_HOSTS_TOML, registry.k8s.io is pulled from the mirror that
# file names, for this pull only: the file is removed again, and the node's
# mirrors stay plex's to write at node creation.
#
# Writes the list to /etc/plex/preloaded-images.
#
# Env: PLEX_KUBE_VERSION; PLEX_PRELOAD_HOSTS_TOML (optional).
set -eu

: "${PLEX_KUBE_VERSION:?}"
fact() { echo "plex-fact $1=$2"; }
sock=unix:///run/containerd/containerd.sock
dir=/etc/containerd/certs.d/registry.k8s.io

if [ -n "${PLEX_PRELOAD_HOSTS_TOML:-}" ]; then
  if [ -e "$dir" ]; then
    echo "$dir exists before the pull; the image must not carry a mirror of its own"
    exit 1
  fi
  mkdir -p "$dir"
  printf '%s' "$PLEX_PRELOAD_HOSTS_TOML" >"$dir/hosts.toml"
  trap 'rm -rf "$dir"' EXIT
fi

images=$(kubeadm config images list --kubernetes-version "$PLEX_KUBE_VERSION")
before=$(du -sm /var/lib/containerd | cut -f1)
kubeadm config images pull --kubernetes-version "$PLEX_KUBE_VERSION" --cri-socket "$sock"
after=$(du -sm /var/lib/containerd | cut -f1)

# The list, for the node: plex's boot-time pull (plex-prepull.service,
# core/nodefiles) does not run where this file exists.
printf '%s\n' "$images" >/etc/plex/preloaded-images.tmp
mv /etc/plex/preloaded-images.tmp /etc/plex/preloaded-images

fact preloaded-images "$(printf '%s\n' "$images" | tr '\n' ' ' | sed 's/ *$//')"
fact preloaded-mib "$((after - before))"
