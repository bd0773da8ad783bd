# shellcheck shell=bash
# hack/lib/debroot.sh — sourced by the image scripts that take files from
# Debian's packages (hack/k8s-images.sh for kube-proxy's iptables,
# hack/conformance-images.sh for the conformance suite's shell tools).

# deb_root BASE PKG…: download the .debs of PKG… once into BASE/debs, and
# unpack them all (dpkg-deb -x) into a fresh BASE/root whenever the set of
# .debs there changes. hack/imagebuild then picks the files it needs by
# following ELF dependencies.
deb_root() {
  local base="$1"; shift
  local debs="${base}/debs" root="${base}/root" p missing=()
  mkdir -p "${debs}"
  for p in "$@"; do
    compgen -G "${debs}/${p}_*.deb" >/dev/null || missing+=("${p}")
  done
  if ((${#missing[@]} > 0)); then
    echo "    apt-get download ${missing[*]}"
    # Run as root without the _apt sandbox: the cache directory is root's.
    if ! (cd "${debs}" && apt-get -q -o APT::Sandbox::User=root download "${missing[@]}"); then
      echo "    apt-get download failed; running apt-get update once and retrying"
      apt-get -q update
      (cd "${debs}" && apt-get -q -o APT::Sandbox::User=root download "${missing[@]}")
    fi
  fi
  local want
  want="$(cd "${debs}" && printf '%s\n' ./*.deb | sort)"
  if [[ -f "${root}/.plex-debs" && "$(cat "${root}/.plex-debs")" == "${want}" ]]; then
    echo "    ${root} is up to date"
    return 0
  fi
  rm -rf "${root}.new"
  mkdir -p "${root}.new"
  local d
  for d in "${debs}"/*.deb; do dpkg-deb -x "${d}" "${root}.new"; done
  echo "${want}" >"${root}.new/.plex-debs"
  rm -rf "${root}"
  mv "${root}.new" "${root}"
  echo "    unpacked $(wc -l <<<"${want}") packages into ${root}"
}
