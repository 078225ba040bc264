#!/usr/bin/env bash
# `make edge-bundle ARCH=arm64 TARGET=cpu|rockchip|jetson`: one file to carry to an air-gapped board.
#   dist/azaion-edge-<TARGET>-arm64.tar.gz
# It is at once the image's `docker save` archive (docker load reads manifest.json and the layers, and
# ignores the rest) and the folder azaion-edge/ with what the device needs besides the image:
#   docker-compose.edge.yml (+ the target's own), .env.example (.env.edge.example: a Device user, the
#   model key, the publisher's public key; no server secrets), INSTALL.md, empty certs/ keys/ edge/.
# On the board:  docker load -i FILE && tar -xzf FILE azaion-edge && cd azaion-edge  (then INSTALL.md).
# The image is built first when it is not here (scripts/edge-arm64.sh; jetson needs NVIDIA's base).
# OUT overrides the output folder (default dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-${TARGET:-}}"
case "$target" in
  cpu|rockchip|jetson) ;;
  *) echo "edge-bundle: TARGET=cpu, rockchip or jetson (got '${target}')" >&2; exit 2 ;;
esac
image="azaion/inference:$target-arm64"
out="${OUT:-dist}"
bundle="$out/azaion-edge-$target-arm64.tar.gz"
started=$SECONDS

if [[ "$(docker image inspect -f '{{.Architecture}}' "$image" 2>/dev/null)" != arm64 ]]; then
  echo "edge-bundle: $image is not here; building it"
  scripts/edge-arm64.sh "$target"
  [[ "$(docker image inspect -f '{{.Architecture}}' "$image" 2>/dev/null)" == arm64 ]] \
    || { echo "edge-bundle: no arm64 $image to bundle (above: what it needs)" >&2; exit 1; }
fi

# A line every 5 s while a long step writes a file: how many MB it has so far.
watch_size() {  # FILE WHAT
  while sleep 5; do echo "edge-bundle: $2: $(du -sm "$1" 2>/dev/null | cut -f1) MB so far"; done
}

work=$(mktemp -d /tmp/azaion-bundle.XXXXXX)
watch_size "$work" "saving $image" & watcher=$!
trap 'kill "${watcher:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
docker save "$image" | tar -x -C "$work"
kill "$watcher" 2>/dev/null || true
dir="$work/azaion-edge"
mkdir -p "$dir/certs" "$dir/keys" "$dir/edge/input" "$dir/edge/output"
cp docker-compose.edge.yml "$dir/"
compose="docker compose -f docker-compose.edge.yml"
if [[ $target != cpu ]]; then
  cp "docker-compose.$target.yml" "$dir/"
  compose="$compose -f docker-compose.$target.yml"
fi
sed "s|^INFERENCE_IMAGE=.*|INFERENCE_IMAGE=$image|" .env.edge.example >"$dir/.env.example"
grep -q "^INFERENCE_IMAGE=$image$" "$dir/.env.example" || { echo "edge-bundle: INFERENCE_IMAGE not set" >&2; exit 1; }
case $target in
  cpu) board="any arm64 board with Docker (ONNX Runtime on the CPU)" ;;
  rockchip) board="an RK3588 board (OrangePi 5) with Docker: RKNN on the NPU" ;;
  jetson) board="a Jetson on JetPack 6.1 (L4T r36.4) with Docker and the NVIDIA container runtime: TensorRT" ;;
esac
needs=""
[[ $target == rockchip ]] && needs="
- The board's Rockchip runtime, \`/usr/lib/librknnrt.so\` version **2.3.2** (Rockchip's board images
  ship it; else take \`rknpu2/runtime/Linux/librknn_api/aarch64/librknnrt.so\` of rknn-toolkit2 v2.3.2).
  Another path: \`RKNN_RUNTIME=/path/librknnrt.so\` in \`.env\`. Without it the service says so in its
  first lines and runs the ONNX model on the CPU instead.
- The NPU driver (rknpu 0.9.x in Rockchip's BSP kernel: \`/dev/dri\`); on a kernel with \`/dev/rknpu\`,
  uncomment that line in \`docker-compose.rockchip.yml\`."
[[ $target == jetson ]] && needs="
- JetPack 6.1 (L4T r36.4.0: CUDA 12.6, TensorRT 10.3) and \`nvidia-container-toolkit\` (\`runtime: nvidia\`).
  The first start builds a TensorRT engine for this GPU from the ONNX model (minutes) and caches it."
cat >"$dir/INSTALL.md" <<EOF
# Azaion edge: $target (linux/arm64)

For $board. Everything is in this file; the device needs no network but its own to the training
server's api (and none at all to run the model it last had).

## What the device needs
- Docker with compose (\`docker compose\` or \`docker-compose\`).$needs

## Install
\`\`\`
docker load -i $(basename "$bundle")            # loads $image
tar -xzf $(basename "$bundle") azaion-edge
cd azaion-edge
cp .env.example .env                            # then fill in, below
\`\`\`
In \`.env\`: \`AZAION_API_CLIENT__URL\` (the training server's api), \`AZAION_API_CLIENT__EMAIL\` /
\`AZAION_API_CLIENT__PASSWORD\` (a user with the Device role: \`python -m api users add --role Device\` there),
\`AZAION_MODEL_KEY\` (the site's model key). From the training server: its CA certificate as
\`certs/ca.crt\` and the publisher's public key as \`keys/publisher.pub\`. The video to read goes in
\`edge/input/video.mp4\` (or set \`INFERENCE_SOURCE\` to a camera number or an rtsp:// URL).

## Run
\`\`\`
$compose up -d
$compose logs -f inference          # the model's version, the backend, frames per second
\`\`\`
Detections go to \`edge/output/detections.jsonl\`, the annotated video to \`edge/output/annotated.mp4\`;
the live view is on port 8090. A new release on the channel is fetched, verified and swapped in
while the video runs.
EOF
mkdir -p "$out"
watch_size "$bundle.part" "compressing" & watcher=$!
tar -C "$work" -c . | gzip -6 >"$bundle.part"
kill "$watcher" 2>/dev/null || true
mv "$bundle.part" "$bundle"
size=$(du -m "$bundle" | cut -f1)
echo "edge-bundle: $bundle ($size MB; $image $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1048576}') unpacked) in $((SECONDS - started)) s"
