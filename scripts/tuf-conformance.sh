#!/usr/bin/env bash
# Runs the TUF project's client conformance suite (third_party/tuf-conformance, MIT) against the
# fleet's update client (scripts/tuf-client). The suite has its own pinned dependencies, so it gets a
# virtualenv of its own (.venv-conformance); it needs Debian's faketime (installed with apt-get as root).
set -euo pipefail
cd "$(dirname "$0")/.."
suite=third_party/tuf-conformance
venv=.venv-conformance
if ! command -v faketime >/dev/null; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "tuf-conformance: install faketime (apt-get install faketime)" >&2
    exit 1
  fi
  echo "tuf-conformance: installing faketime with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
fi
stamp=$venv/.installed
if [[ ! -f $stamp || $suite/pyproject.toml -nt $stamp ]]; then
  python3.11 -m venv $venv 2>/dev/null || python3 -m venv $venv
  $venv/bin/python -m pip install --quiet "securesystemslib[crypto]==1.4.0" "tuf==7.0.0" "pytest==9.1.1" \
    "pytest-json-report==1.5.0"
  touch $stamp
fi
cd $suite
exec ../../$venv/bin/python -m pytest -c pyproject.toml -q -p no:cacheprovider tuf_conformance \
  --entrypoint "$(cd ../.. && pwd)/scripts/tuf-client" "$@"
