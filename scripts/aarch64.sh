# Sourced by scripts/wheelhouse.sh and scripts/edge-arm64.sh: how they run pip for the boards' aarch64
# (arm64) wheels, fetched or installed on any host, x86-64 included.
# shellcheck shell=bash
# Binary wheels only: nothing is built for arm64 here.
aarch64_wheels=(--platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64
  --only-binary=:all: --implementation cp)
# pip (PIP, or the venv's), without the warning a machine's own find-links (not there) prints for every package.
quiet_pip() { ${PIP:-.venv/bin/pip} "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
