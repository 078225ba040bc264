#!/usr/bin/env bash
# `make images`: every service image, built with no network inside the build.
#   SERVICES="api ingestor augmentor console trainer inference"  which images (default: all)
#   TAG=latest                                            image tag (azaion/<service>:TAG; inference: cpu)
#   BASE=python:3.11-slim-bookworm                        base image; default: the official one if it is
#                                                         here or can be pulled, else the locally made
#                                                         azaion/python-base:bookworm (scripts/base-images.sh)
#   RABBITMQ_LOCAL=1                                      also build azaion/rabbitmq:local (Debian's server)
# Python packages come from wheelhouse/<service>/ (scripts/wheelhouse.sh, run first).
set -euo pipefail
cd "$(dirname "$0")/.."
services=${SERVICES:-api ingestor augmentor console trainer inference}
tag=${TAG:-latest}
official=python:3.11-slim-bookworm

base=${BASE:-}
if [[ -z "$base" ]]; then
  if docker image inspect "$official" >/dev/null 2>&1 || timeout 30 docker pull -q "$official" >/dev/null 2>&1; then
    base=$official
  else
    echo "images: $official cannot be pulled here; using a locally made base image"
    scripts/base-images.sh
    base=azaion/python-base:bookworm
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# docker's notice about the legacy builder is noise here; everything else is shown on failure
quiet() { grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' -e BuildKit "$1" || true; }

# shellcheck disable=SC2086
scripts/wheelhouse.sh $services
# The light services share docker/service.Dockerfile: its port and command for each.
declare -A light=([api]="8000 serve" [ingestor]="8081 run" [augmentor]="8082 run" [console]="8090 serve")
for service in $services; do
  started=$SECONDS
  name="azaion/$service:$tag"
  if [[ -n "${light[$service]:-}" ]]; then
    read -r port command <<<"${light[$service]}"
    dockerfile=docker/service.Dockerfile
    args=(--build-arg "SERVICE=$service" --build-arg "PORT=$port" --build-arg "COMMAND=$command")
  else
    dockerfile="services/$service/Dockerfile"
    args=()
  fi
  args+=(-f "$dockerfile" --build-arg "BASE=$base")
  if [[ "$service" == inference ]]; then
    args+=(--target cpu)
    name="azaion/inference:${TAG:-cpu}"
  fi
  # The context is only what this image needs (its wheels), not every wheelhouse in the tree.
  context=("wheelhouse/$service" docker)
  [[ "$dockerfile" == docker/* ]] || context+=("$dockerfile")
  previous=$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)
  if ! tar -c "${context[@]}" \
      | docker build -q "${args[@]}" -t "$name" - >"$log" 2>&1; then
    quiet "$log" >&2
    echo "images: building $name failed (above)" >&2
    exit 1
  fi
  # What a rebuild leaves behind: the image it replaced and the build stage (the trainer's is ~10 GB).
  if [[ -n $previous && $previous != "$(docker image inspect -f '{{.Id}}' "$name")" ]]; then
    docker rmi "$previous" >/dev/null 2>&1 || true  # kept while a container or another tag uses it
  fi
  docker image prune -f --filter label=azaion.stage=build >/dev/null
  echo "images: $name on $base in $((SECONDS - started)) s"
done
if [[ -n "${RABBITMQ_LOCAL:-}" ]]; then
  scripts/base-images.sh
  if ! tar -c docker | docker build -q -f docker/rabbitmq/Dockerfile -t azaion/rabbitmq:local - >"$log" 2>&1; then
    quiet "$log" >&2
    echo "images: building azaion/rabbitmq:local failed (above)" >&2
    exit 1
  fi
  echo "images: azaion/rabbitmq:local"
fi
