#!/usr/bin/env bash
# Make the base images locally where no registry can be reached (../shared/notes/environment.md):
#   azaion/python-base:bookworm    Debian 12 minbase + Python 3.11 (venv) + tini + CA certificates
#   azaion/rabbitmq-base:bookworm  Debian 12 minbase + rabbitmq-server 3.10 (Debian's)
# Each is a debootstrap'ed root file system imported with `docker import` (about a minute, both in
# parallel). Existing images are kept; FORCE=1 makes them again. MIRROR overrides the Debian mirror
# (default: the first one configured in /etc/apt).
set -euo pipefail

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
work=$(mktemp -d /tmp/azaion-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT

pids=()
for name in "${!packages[@]}"; do
  image="azaion/$name:bookworm"
  if [[ -z "${FORCE:-}" ]] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "base-images: $image exists (FORCE=1 to make it again)"
    continue
  fi
  (
    started=$SECONDS
    if ! debootstrap --variant=minbase --include="${packages[$name]}" bookworm "$work/$name" "$mirror" \
        >"$work/$name.log" 2>&1; then
      tail -n 20 "$work/$name.log" >&2
      echo "base-images: debootstrap of $name from $mirror failed" >&2
      exit 1
    fi
    rm -rf "$work/$name"/var/cache/apt/archives/*.deb "$work/$name"/var/lib/apt/lists/*
    tar -C "$work/$name" -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
    echo "base-images: $image made in $((SECONDS - started)) s"
  ) &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
