#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io, docker-compose and debootstrap if
# they are missing (root, apt), and start dockerd in the background if it is not running.
#   scripts/docker.sh start
# Exits non-zero with the reason when Docker cannot run here (no root, no apt, dockerd fails).
set -euo pipefail
log=${DOCKERD_LOG:-/tmp/azaion-dockerd.log}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "docker: ${missing[*]} missing and this is not a root Debian/Ubuntu shell to install them" >&2
    exit 1
  fi
  echo "docker: installing ${missing[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "docker: no Docker engine answers and only root can start dockerd here" >&2
  exit 1
fi
echo "docker: starting dockerd (log: $log) ..."
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { echo "docker: engine is up"; exit 0; }
  sleep 1
done
tail -n 20 "$log" >&2
echo "docker: dockerd did not answer within 60 s (see $log)" >&2
exit 1
