#!/usr/bin/env bash
# `make edge-images ARCH=arm64 [TARGET="cpu rockchip jetson"]`: the edge images for linux/arm64, built on
# an x86-64 host with no network inside the builds:
#   1. arm64 binaries run here under QEMU >= 8 (scripts/qemu-arm64.sh: Debian 12's 7.2 crashes in
#      onnxruntime, so Debian 13's, verified, is registered in binfmt_misc when needed);
#   2. azaion/python-base:bookworm-arm64: an arm64 Debian 12 minbase + Python 3.11 made with debootstrap
#      (its second stage runs under qemu; several minutes the first time, then kept; FORCE=1 remakes it);
#   3. wheelhouse/inference-arm64 (scripts/wheelhouse.sh): the service, the shared library,
#      rknn-toolkit-lite2 and every dependency as aarch64 wheels (pip download --platform
#      manylinux_2_28_aarch64 --only-binary=:all:, at the versions of constraints.txt);
#   4. build/edge-arm64/{cpu,rockchip}: each variant's venv contents installed here from that wheelhouse
#      (pip install --target --platform: unpacked and compiled to bytecode natively, in seconds; under
#      emulation it took minutes), then azaion/inference:cpu-arm64 and :rockchip-arm64 from
#      services/inference/arm64.Dockerfile (--platform linux/arm64), each checked inside, under
#      emulation: `uname -m` is aarch64 and the service, onnxruntime (and rknnlite) import;
#   5. jetson: wheelhouse/inference-jetson (scripts/wheelhouse.sh: cp310 aarch64 wheels of
#      requirements-jetson.txt); the image only where NVIDIA's L4T base (JETSON_BASE) is loaded here,
#      else it says how.
# TARGET picks (default "cpu rockchip"). MIRROR overrides the Debian mirror (default: the first one
# configured in /etc/apt).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/aarch64.sh
base=azaion/python-base:bookworm-arm64
jetson_base="${JETSON_BASE:-nvcr.io/nvidia/l4t-jetpack:r36.4.0}"
wheels=wheelhouse/inference-arm64
targets="${*:-${TARGET:-cpu rockchip}}"
started=$SECONDS
for target in $targets; do
  [[ $target == cpu || $target == rockchip || $target == jetson ]] \
    || { echo "edge-arm64: unknown target $target (cpu, rockchip, jetson)" >&2; exit 2; }
done

[[ $(uname -m) == aarch64 ]] || scripts/qemu-arm64.sh

# Builds an image for linux/arm64 from a context of only what it needs: build DOCKERFILE IMAGE PATHS -- ARGS.
# The image it replaces is removed (each is about 700 MB; run after run they would fill the disk).
build() {
  local dockerfile=$1 image=$2 log paths=() previous
  previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  shift 2
  while [[ $1 != -- ]]; do paths+=("$1"); shift; done
  shift
  log=$(mktemp)
  if ! tar -c "${paths[@]}" "$dockerfile" | docker build -q --platform linux/arm64 -f "$dockerfile" "$@" \
      -t "$image" - >"$log" 2>&1; then
    grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' "$log" >&2 || true
    echo "edge-arm64: building $image failed (above)" >&2
    exit 1
  fi
  rm -f "$log"
  if [[ -n $previous && $previous != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
    docker rmi "$previous" >/dev/null 2>&1 || true  # kept while a container or another tag uses it
  fi
}

# One variant's venv contents, installed here for aarch64: build/edge-arm64/VARIANT/{site-packages,bin}.
venv_tree() {
  local variant=$1 dir=build/edge-arm64/$1
  shift
  rm -rf "$dir" && mkdir -p "$dir"
  quiet_pip install --quiet --no-index --find-links "$wheels" --target "$dir/site-packages" \
    "${aarch64_wheels[@]}" --python-version 3.11 "$@"
  mv "$dir/site-packages/bin" "$dir/bin"
  find "$dir/site-packages" -depth -type d -name tests -exec rm -rf {} +
  echo "edge-arm64: $dir ($(du -sh "$dir" | cut -f1))"
}

# The checks every arm64 image passes here, under emulation.
check() {
  local image=$1 imports=$2 arch
  arch=$(docker run --rm --platform linux/arm64 --entrypoint uname "$image" -m)
  [[ "$arch" == aarch64 ]] || { echo "edge-arm64: $image reports $arch, not aarch64" >&2; exit 1; }
  docker run --rm --platform linux/arm64 "$image" python -c "import $imports" 2>/dev/null \
    || { echo "edge-arm64: $imports do not all import in $image" >&2; exit 1; }
  echo "edge-arm64: $image ($arch, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1048576}'))"
}

if [[ " $targets " == *" cpu "* || " $targets " == *" rockchip "* ]]; then
  BASE_ARCH=arm64 scripts/base-images.sh

  scripts/wheelhouse.sh inference-arm64
fi

for target in $targets; do
  case $target in
    cpu)
      venv_tree cpu azaion-inference dumb-init==1.2.5
      build services/inference/arm64.Dockerfile azaion/inference:cpu-arm64 build/edge-arm64/cpu -- \
        --build-arg "BASE=$base" --build-arg VARIANT=cpu --build-arg BACKEND=auto
      check azaion/inference:cpu-arm64 "cv2, numpy, onnxruntime, cryptography, trackers, inference.pipeline" ;;
    rockchip)
      venv_tree rockchip "azaion-inference[rknn]" dumb-init==1.2.5
      build services/inference/arm64.Dockerfile azaion/inference:rockchip-arm64 build/edge-arm64/rockchip -- \
        --build-arg "BASE=$base" --build-arg VARIANT=rockchip --build-arg BACKEND=rknn
      check azaion/inference:rockchip-arm64 "onnxruntime, rknnlite.api, inference.backends.rknn, inference.pipeline" ;;
    jetson)
      jwheels=wheelhouse/inference-jetson
      scripts/wheelhouse.sh inference-jetson
      if [[ "$(docker image inspect -f '{{.Architecture}}' "$jetson_base" 2>/dev/null)" == arm64 ]]; then
        build services/inference/jetson.Dockerfile azaion/inference:jetson-arm64 "$jwheels" -- \
          --build-arg "JETSON_BASE=$jetson_base"
        check azaion/inference:jetson-arm64 "cv2, numpy, onnxruntime, inference.pipeline"
      else
        echo "edge-arm64: azaion/inference:jetson-arm64 not built: NVIDIA's base image $jetson_base is not" \
          "here (no registry answers this machine). Load it (docker load -i l4t-jetpack-r36.4.0.tar, saved on a" \
          "machine that can pull nvcr.io) and run this again, or build on the Jetson (docs/guides/devices.md, "Edge images for arm64")."
      fi ;;
  esac
done
echo "edge-arm64: $targets in $((SECONDS - started)) s"
