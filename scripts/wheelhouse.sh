#!/usr/bin/env bash
# `make wheelhouse`: every wheel an image needs, prepared on the host, so that `docker build` needs
# no network (air-gapped sites, and CI where containers have no route to the package index).
#   scripts/wheelhouse.sh api ingestor augmentor trainer inference
# makes wheelhouse/<service>/ with the service, the shared library and all their dependencies at the
# versions of constraints.txt, plus dumb-init (PID 1 in the images). A second run reuses pip's cache.
# Edge variants, made on the device with its own Python (on an x86-64 host, `make edge-images ARCH=arm64`
# downloads the aarch64 wheels instead: wheelhouse/inference-arm64 and inference-jetson):
#   inference-rockchip  the inference service + rknn-toolkit-lite2 (arm64, Python 3.11)
#   inference-jetson    the pins of services/inference/requirements-jetson.txt (JetPack 6, Python 3.10);
#                       PIP="python3 -m pip" by default there, since the venv of `make setup` is x86-64
set -euo pipefail
cd "$(dirname "$0")/.."
pip="${PIP:-.venv/bin/pip}"

extras() {
  case "$1" in
    api) echo "" ;;
    ingestor|augmentor) echo "[service]" ;;
    console) echo "[transfer,service]" ;;
    trainer|inference|inference-jetson|inference-rockchip) echo "[crypto,transfer]" ;;
    *) echo "wheelhouse: unknown service $1 (api ingestor augmentor console trainer inference)" >&2; exit 1 ;;
  esac
}

for service in "${@:-api ingestor augmentor console trainer inference}"; do
  for one in $service; do
    dir="wheelhouse/$one"
    mkdir -p "$dir"
    started=$SECONDS
    case "$one" in
      inference-jetson)
        ${PIP:-python3 -m pip} wheel --quiet --wheel-dir "$dir" --no-deps ./shared ./services/inference
        ${PIP:-python3 -m pip} wheel --quiet --wheel-dir "$dir" --no-deps -r services/inference/requirements-jetson.txt ;;
      inference-rockchip)
        $pip wheel --quiet --wheel-dir "$dir" -c constraints.txt \
          "./shared[crypto,transfer]" "./services/inference[rknn]" "dumb-init==1.2.5" ;;
      *)
        [[ -x "${pip%% *}" ]] || { echo "wheelhouse: run 'make setup' first" >&2; exit 1; }
        $pip wheel --quiet --wheel-dir "$dir" -c constraints.txt \
          "./shared$(extras "$one")" "./services/$one" "dumb-init==1.2.5" ;;
    esac
    rm -rf shared/build services/*/build  # setuptools' leftovers in the source tree
    echo "wheelhouse: $dir ($(ls "$dir" | wc -l) wheels, $(du -sh "$dir" | cut -f1)) in $((SECONDS - started)) s"
  done
done
