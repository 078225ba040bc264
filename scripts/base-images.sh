#!/usr/bin/env bash
# Make the base images locally where no registry can be reached (../shared/notes/environment.md):
#   azaion/python-base:bookworm    Debian 12 minbase + Python 3.11 (venv) + tini + CA certificates
#   azaion/rabbitmq-base:bookworm  Debian 12 minbase + rabbitmq-server 3.10 (Debian's)
# Each is a debootstrap'ed root file system imported with `docker import` (about a minute, both in
# parallel). Existing images are kept; FORCE=1 makes them again. MIRROR overrides the Debian mirror
# (default: the first one configured in /etc/apt).
#   BASE_ARCH=arm64 scripts/base-images.sh   azaion/python-base:bookworm-arm64 for the boards' images
#     (scripts/edge-arm64.sh): debootstrap's second stage runs under qemu (about 3.5 minutes here), and
#     the tree goes through a FROM scratch build for linux/arm64, since `docker import` would record
#     this host's architecture.
set -euo pipefail
arch="${BASE_ARCH:-}"

need() { command -v "$1" >/dev/null || { echo "base-images: $1 is missing (apt-get install -y $2)" >&2; exit 1; }; }
need debootstrap debootstrap
need docker docker.io

mirror="${MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror=$(grep -rhoE '^(URIs:|deb) *https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?$' | head -n 1 || true)
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

declare -A packages=(
  [python-base]="python3,python3-venv,ca-certificates,tini"
  [rabbitmq-base]="rabbitmq-server,ca-certificates,tini"
)
suffix="" foreign=()
if [[ -n $arch ]]; then
  suffix="-$arch" foreign=(--arch="$arch")
  unset 'packages[rabbitmq-base]'  # the boards run only the inference service
fi

# `import_tree TREE NAME`: the root file system TREE as the image NAME, for this host or for BASE_ARCH.
import_tree() {
  local path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  if [[ -z $arch ]]; then
    tar -C "$1" -c . | docker import --change "$path" - "$2" >/dev/null
    return
  fi
  local context="$1.context"
  mkdir -p "$context"
  tar -C "$1" -cf "$context/rootfs.tar" .
  printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' "$path" 'CMD ["/bin/bash"]' >"$context/Dockerfile"
  docker build -q --platform "linux/$arch" -t "$2" "$context" >/dev/null
}
work=$(mktemp -d /tmp/azaion-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT

pids=()
for name in "${!packages[@]}"; do
  image="azaion/$name:bookworm$suffix"
  if [[ -z "${FORCE:-}" ]] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "base-images: $image exists (FORCE=1 to make it again)"
    continue
  fi
  (
    started=$SECONDS
    if ! debootstrap "${foreign[@]}" --variant=minbase --include="${packages[$name]}" bookworm "$work/$name" "$mirror" \
        >"$work/$name.log" 2>&1; then
      tail -n 20 "$work/$name.log" >&2
      echo "base-images: debootstrap of $name from $mirror failed" >&2
      exit 1
    fi
    rm -rf "$work/$name"/var/cache/apt/archives/*.deb "$work/$name"/var/lib/apt/lists/*
    import_tree "$work/$name" "$image"
    echo "base-images: $image made in $((SECONDS - started)) s"
  ) &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
