#!/usr/bin/env bash
# `make wheelhouse`: every wheel an image needs, prepared on the host, so that `docker build` needs
# no network (air-gapped sites, and CI where containers have no route to the package index).
#   scripts/wheelhouse.sh api ingestor augmentor trainer inference
# makes wheelhouse/<service>/ with the service, the shared library and all their dependencies at the
# versions of constraints.txt, plus dumb-init (PID 1 in the images). A second run reuses pip's cache.
# The boards' wheelhouses hold aarch64 wheels, downloaded for that platform on any host (x86-64 too);
# scripts/edge-arm64.sh (make edge-images ARCH=arm64) makes them:
#   inference-arm64   the inference service + rknn-toolkit-lite2 + every dependency at the versions of
#                     constraints.txt, for Python 3.11 (the cpu-arm64 and rockchip-arm64 images)
#   inference-jetson  the pins of services/inference/requirements-jetson.txt (JetPack 6, Python 3.10)
# TORCH_INDEX_URL: another source of the trainer's torch and torchvision at the same versions, for a
# GPU server whose NVIDIA driver is older than the default build's CUDA needs (PyPI's torch 2.14.1 is
# the CUDA 13.0 build: a 580-series driver or newer). PyTorch's own index holds a build per CUDA:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 make images SERVICES=trainer   (driver 525 or newer)
# pip takes the local build (2.14.1+cu126) over PyPI's (2.14.1) since it sorts higher; the rest still
# comes from the usual index. Remove wheelhouse/trainer first when switching builds.
set -euo pipefail
cd "$(dirname "$0")/.."
pip="${PIP:-.venv/bin/pip}"
source scripts/aarch64.sh

extras() {
  case "$1" in
    api) echo "" ;;
    ingestor|augmentor) echo "[service]" ;;
    console) echo "[transfer,service]" ;;
    trainer|inference) echo "[crypto,transfer]" ;;
    *) echo "wheelhouse: unknown service $1 (api ingestor augmentor console trainer inference)" >&2; exit 1 ;;
  esac
}

for service in "${@:-api ingestor augmentor console trainer inference}"; do
  for one in $service; do
    dir="wheelhouse/$one"
    mkdir -p "$dir"
    started=$SECONDS
    [[ -x "${pip%% *}" ]] || { echo "wheelhouse: run 'make setup' first" >&2; exit 1; }
    case "$one" in
      inference-arm64) rm -f "$dir"/azaion_*.whl ;;&  # the local packages are built afresh
      inference-jetson) rm -f "$dir"/*.whl ;;&  # jetson.Dockerfile installs every wheel here: none stale
      inference-arm64|inference-jetson)
        quiet_pip wheel --quiet --no-deps --wheel-dir "$dir" ./shared ./services/inference ;;&
      inference-arm64)
        quiet_pip download --quiet --dest "$dir" --find-links "$dir" -c constraints.txt "${aarch64_wheels[@]}" \
          --python-version 3.11 "azaion-inference[rknn]" "azaion-shared[crypto,transfer]" dumb-init==1.2.5 ;;
      inference-jetson)
        quiet_pip download --quiet --no-deps --dest "$dir" "${aarch64_wheels[@]}" --python-version 3.10 \
          -r services/inference/requirements-jetson.txt ;;
      trainer)
        $pip wheel --quiet --wheel-dir "$dir" -c constraints.txt ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
          "./shared$(extras "$one")" "./services/$one" "dumb-init==1.2.5" ;;
      *)
        $pip wheel --quiet --wheel-dir "$dir" -c constraints.txt \
          "./shared$(extras "$one")" "./services/$one" "dumb-init==1.2.5" ;;
    esac
    rm -rf shared/build services/*/build  # setuptools' leftovers in the source tree
    echo "wheelhouse: $dir ($(ls "$dir" | wc -l) wheels, $(du -sh "$dir" | cut -f1)) in $((SECONDS - started)) s"
  done
done
