# shellcheck shell=bash
# shellcheck disable=SC2034 # IMAGE_BUILD_WORK is read by hack/harness.sh's exit trap
# The harness base images: Debian system-container images (debian12 from
# bookworm; debian13 from trixie) built with debootstrap, cached by a hash of its inputs, imported into Incus under an
# alias. Sourced by hack/harness.sh, which provides say/run_logged/die and the
# PLEX_* settings.

# The image is rebuilt when its inputs hash changes: this version, the suite,
# and every file under image/ (packages, templates, metadata, overlay,
# customize.sh) and under the suite's own image.<suite>/ (see image_suite_dir).
# Bump the version when image_build below changes what it makes.
IMAGE_SCRIPT_VERSION=2
IMAGE_DIR="$HARNESS_DIR/image"

# image_suite_dir prints the suite's own overlay (image.<suite>/rootfs, copied
# over image/rootfs), or nothing. It lives beside image/ so that adding one
# for a suite leaves the other suites' inputs hashes alone.
image_suite_dir() {
  local d="$HARNESS_DIR/image.$PLEX_IMAGE_SUITE"
  if [[ -d $d ]]; then echo "$d"; fi
}

# image_packages prints the --include list for debootstrap, comma-separated.
image_packages() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$IMAGE_DIR/packages" | grep -v '^$' | paste -sd, -
}

# image_inputs_hash prints a sha256 over everything that decides the image's
# content.
image_inputs_hash() {
  {
    echo "version=$IMAGE_SCRIPT_VERSION suite=$PLEX_IMAGE_SUITE arch=$(dpkg --print-architecture)"
    echo "packages=$(image_packages)"
    (cd "$IMAGE_DIR" && find . -type f | LC_ALL=C sort | while read -r f; do
      echo "== $f"
      cat "$f"
    done)
    local suite_dir
    suite_dir=$(image_suite_dir)
    if [[ -n $suite_dir ]]; then
      (cd "$suite_dir" && find . -type f | LC_ALL=C sort | while read -r f; do
        echo "== $PLEX_IMAGE_SUITE $f"
        cat "$f"
      done)
    fi
  } | sha256sum | cut -d' ' -f1
}

# image_tarball prints the cache path of the unified image tarball for a hash.
image_tarball() {
  echo "$PLEX_CACHE/images/$PLEX_IMAGE-$1.tar.zst"
}

# image_umount_all unmounts anything left mounted below a build rootfs, so that
# removing it can never reach into the host's /proc, /sys or /dev.
image_umount_all() {
  local root=$1 m
  { findmnt -rn -o TARGET | grep -F "$root/" || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

# image_build builds the tarball for inputs hash $1 into the cache.
image_build() {
  local hash=$1 out work rootfs
  out=$(image_tarball "$hash")
  work="$PLEX_CACHE/build/$PLEX_IMAGE-$hash"
  rootfs="$work/rootfs"
  mkdir -p "$PLEX_CACHE/images" "$PLEX_CACHE/debootstrap"

  # A killed or failed earlier build leaves a half-made tree behind. The
  # harness lock is held, so no other build is running: clear them all.
  local old
  for old in "$PLEX_CACHE/build/$PLEX_IMAGE"-*; do
    [[ -d $old ]] || continue
    image_umount_all "$old"
    rm -rf --one-file-system "$old"
  done
  mkdir -p "$work"
  # hack/harness.sh's exit trap unmounts below this if the build dies midway.
  IMAGE_BUILD_WORK=$work

  say "building $PLEX_IMAGE: Debian $PLEX_IMAGE_SUITE from $PLEX_DEBIAN_MIRROR (a few minutes; log in $LOG_DIR)"
  local t
  t=$(now_us)
  # Two stages, so that dpkg in the second one can skip its fsync calls
  # (force-unsafe-io): a throwaway build tree needs no crash safety.
  run_logged image-debootstrap debootstrap --foreign --variant=minbase \
    --cache-dir="$PLEX_CACHE/debootstrap" \
    --include="$(image_packages)" \
    "$PLEX_IMAGE_SUITE" "$rootfs" "$PLEX_DEBIAN_MIRROR"
  say "debootstrap stage 1 (fetch, unpack) $(since "$t") s"
  t=$(now_us)
  echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/plex-build-unsafe-io"
  run_logged image-debootstrap2 chroot "$rootfs" /debootstrap/debootstrap --second-stage
  say "debootstrap stage 2 (configure $(image_packages | tr ',' ' ' | wc -w) packages and their dependencies) $(since "$t") s"

  t=$(now_us)
  cp -a "$IMAGE_DIR/rootfs/." "$rootfs/"
  local suite_dir
  suite_dir=$(image_suite_dir)
  if [[ -n $suite_dir ]]; then cp -a "$suite_dir/rootfs/." "$rootfs/"; fi
  cp "$IMAGE_DIR/customize.sh" "$rootfs/tmp/plex-customize.sh"
  mount -t proc proc "$rootfs/proc"
  run_logged image-customize chroot "$rootfs" /bin/sh /tmp/plex-customize.sh
  umount "$rootfs/proc"
  rm -f "$rootfs/tmp/plex-customize.sh" "$rootfs/etc/dpkg/dpkg.cfg.d/plex-build-unsafe-io"
  say "customised the rootfs $(since "$t") s"

  mkdir -p "$work/templates"
  cp "$IMAGE_DIR"/templates/*.tpl "$work/templates/"
  image_metadata "$hash" >"$work/metadata.yaml"

  t=$(now_us)
  local size
  size=$(du -sm --apparent-size "$rootfs" | cut -f1)
  run_logged image-pack sh -c "tar --numeric-owner --xattrs --xattrs-include='*' \
    -C '$work' -cf - metadata.yaml templates rootfs | zstd -q -T0 -3 -o '$out.tmp' -f"
  mv -f "$out.tmp" "$out"
  sha256sum "$out" | cut -d' ' -f1 >"$out.sha256"
  say "packed the $size MiB rootfs into $(du -m "$out" | cut -f1) MiB $(since "$t") s"

  image_umount_all "$work"
  rm -rf --one-file-system "$work"
  IMAGE_BUILD_WORK=
}

# image_metadata prints the image's metadata.yaml for inputs hash $1.
image_metadata() {
  sed -e '/^#/d' -e "s/@ARCH@/$(uname -m)/" -e "s/@DATE@/$(date +%s)/" \
    -e "s/@SUITE@/$PLEX_IMAGE_SUITE/" -e "s/@HASH12@/${1:0:12}/" -e "s/@HASH@/$1/" \
    "$IMAGE_DIR/metadata.yaml.in"
}

# image_alias_target prints the fingerprint the alias points at, or nothing.
image_alias_target() {
  local json
  json=$(incus query "/1.0/images/aliases/$PLEX_IMAGE" 2>/dev/null) || return 0
  sed -n 's/^[[:space:]]*"target":[[:space:]]*"\([0-9a-f]*\)".*/\1/p' <<<"$json"
}

# image_ensure makes the alias point at an image built from the current inputs,
# building and importing only what is missing.
image_ensure() {
  local hash out fp current
  hash=$(image_inputs_hash)
  out=$(image_tarball "$hash")
  if [[ ! -s $out || ! -s $out.sha256 ]]; then
    image_build "$hash"
  else
    say "cached image $(basename "$out")"
  fi
  fp=$(cat "$out.sha256")
  current=$(image_alias_target)
  if [[ $current == "$fp" ]]; then
    say "alias $PLEX_IMAGE -> ${fp:0:12} is current"
    return 0
  fi

  if ! incus query "/1.0/images/$fp" >/dev/null 2>&1; then
    local t
    t=$(now_us)
    run_logged image-import incus image import "$out"
    say "imported ${fp:0:12} $(since "$t") s"
  fi
  if [[ -n $current ]]; then
    incus image alias delete "$PLEX_IMAGE"
  fi
  incus image alias create "$PLEX_IMAGE" "$fp" >/dev/null
  say "alias $PLEX_IMAGE -> ${fp:0:12}${current:+ (was ${current:0:12})}"

  # The image the alias left is ours if it carries our property; instances made
  # from it keep their own copy, so it can go once nothing else names it.
  if [[ -n $current ]] && [[ -n $(incus image get-property "$current" user.plex.inputs 2>/dev/null) ]] &&
    ! incus query "/1.0/images/$current" | grep -q '"aliases": \[$'; then
    incus image delete "$current" && say "deleted the old image ${current:0:12}"
  fi
}
