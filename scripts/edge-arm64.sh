#!/usr/bin/env bash
# `make edge-images ARCH=arm64`: the edge image for linux/arm64 (its cpu variant), built on an x86-64
# host with no network inside the build:
#   1. arm64 binaries run here under emulation: Debian's qemu-user-static and binfmt-support
#      (installed with apt-get when missing, as root), binfmt_misc mounted;
#   2. azaion/python-base:bookworm-arm64: an arm64 Debian 12 minbase + Python 3.11 made with debootstrap
#      (its second stage runs under qemu; several minutes the first time, then kept; FORCE=1 remakes it);
#   3. wheelhouse/inference-arm64: the service, the shared library and every dependency as aarch64 wheels
#      (pip download --platform manylinux_2_28_aarch64 --only-binary=:all:, at the versions of
#      constraints.txt; the two local packages are pure-Python wheels);
#   4. azaion/inference:cpu-arm64 from services/inference/Dockerfile (target cpu, --platform linux/arm64),
#      then `uname -m` and `python -m inference device` inside it, under emulation.
# MIRROR overrides the Debian mirror (default: the first one configured in /etc/apt).
set -euo pipefail
cd "$(dirname "$0")/.."
pip="${PIP:-.venv/bin/pip}"
base=azaion/python-base:bookworm-arm64
image=azaion/inference:cpu-arm64
wheels=wheelhouse/inference-arm64
started=$SECONDS

if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  if ! command -v qemu-aarch64-static >/dev/null && ! [[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]]; then
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null \
      || { echo "edge-arm64: install qemu-user-static and binfmt-support (as root)" >&2; exit 1; }
    echo "edge-arm64: installing qemu-user-static and binfmt-support with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support >/dev/null
  fi
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || { echo "edge-arm64: qemu-aarch64 is not registered" >&2; exit 1; }

# An arm64 image from a root file system (`docker import` here records the host's architecture, so
# the tree goes through a FROM scratch build for linux/arm64 instead).
import_base() {
  local context
  context=$(mktemp -d /tmp/azaion-base-arm64.XXXXXX)
  tar -C "$1" -cf "$context/rootfs.tar" .
  printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["/bin/bash"]' >"$context/Dockerfile"
  docker build -q --platform linux/arm64 -t "$base" "$context" >/dev/null
  rm -rf "$context"
}

if [[ -n "${FORCE:-}" ]] || [[ "$(docker image inspect -f '{{.Architecture}}' "$base" 2>/dev/null)" != arm64 ]]; then
  command -v debootstrap >/dev/null || { echo "edge-arm64: apt-get install -y debootstrap" >&2; exit 1; }
  mirror="${MIRROR:-}"
  if [[ -z "$mirror" ]]; then
    mirror=$(grep -rhoE '^(URIs:|deb) *https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
      | grep -oE 'https?://[^ ]+/debian/?$' | head -n 1 || true)
    mirror="${mirror:-http://deb.debian.org/debian}"
  fi
  work=$(mktemp -d /tmp/azaion-rootfs-arm64.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "edge-arm64: debootstrap of an arm64 bookworm (its second stage under qemu: minutes)"
  if ! debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
      bookworm "$work/root" "$mirror" >"$work/log" 2>&1; then
    tail -n 20 "$work/log" >&2
    echo "edge-arm64: debootstrap failed" >&2
    exit 1
  fi
  rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/lib/apt/lists/*
  import_base "$work/root"
  echo "edge-arm64: $base made"
fi

rm -rf "$wheels" && mkdir -p "$wheels"
$pip wheel --quiet --no-deps --wheel-dir "$wheels" ./shared ./services/inference
rm -rf shared/build services/*/build
$pip download --quiet --dest "$wheels" --find-links "$wheels" -c constraints.txt \
  --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
  --only-binary=:all: --python-version 3.11 --implementation cp \
  azaion-inference "azaion-shared[crypto,transfer]" dumb-init==1.2.5
echo "edge-arm64: $wheels ($(ls "$wheels" | wc -l) wheels, $(du -sh "$wheels" | cut -f1))"

log=$(mktemp)
if ! tar -c "$wheels" services/inference/Dockerfile | docker build -q --platform linux/arm64 \
    -f services/inference/Dockerfile --target cpu --build-arg "BASE=$base" --build-arg "WHEELS=$wheels" \
    -t "$image" - >"$log" 2>&1; then
  grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' "$log" >&2 || true
  echo "edge-arm64: building $image failed (above)" >&2
  exit 1
fi
rm -f "$log"
arch=$(docker run --rm --platform linux/arm64 --entrypoint uname "$image" -m)
[[ "$arch" == aarch64 ]] || { echo "edge-arm64: $image reports $arch, not aarch64" >&2; exit 1; }
docker run --rm --platform linux/arm64 "$image" \
  python -c "import cv2, numpy, cryptography, trackers, inference.pipeline, inference.acquire" \
  || { echo "edge-arm64: the service does not import in $image" >&2; exit 1; }
# onnxruntime >= 1.28 crashes at import under Debian 12's qemu 7.2 (SIGSEGV; 1.27.0 is the newest that
# imports and runs a model there, tested): said, not failed, until the emulator or the pin changes.
if docker run --rm --platform linux/arm64 "$image" python -c "import onnxruntime" >/dev/null 2>&1; then
  echo "edge-arm64: onnxruntime imports under emulation"
else
  echo "edge-arm64: WARNING: onnxruntime $(grep -i '^onnxruntime==' constraints.txt | cut -d= -f3) does not import" \
    "under this host's qemu (Debian 12: 7.2);" \
    "the image is not proven to run a model here (README, Limitations)" >&2
fi
echo "edge-arm64: $image ($arch, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1048576}')) in $((SECONDS - started)) s"
