# Azaion pipeline: the commands a developer, CI and a newcomer use.
#   make demo    run the end-to-end path on this machine (sets everything up)
#   make test    set up, start RabbitMQ, run the whole test suite and the TUF conformance suite
#   make tuf-conformance   only the TUF project's client conformance suite against the fleet's client
#   make setup   the development virtualenv (.venv) with every package; a no-op when up to date
#   make lint    ruff
#   make docs    the documentation site in site/ (mkdocs-material, --strict); docs-pictures remakes its screenshots
#   make bench   every benchmark in bench/, results in bench/RESULTS.md
#   make images  every service image (no network in the build; SERVICES="api ingestor ..." for some)
#   make edge-images ARCH=arm64 / make edge-bundle ARCH=arm64 TARGET=rockchip   the edge images for boards
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYPROJECTS := $(wildcard shared/pyproject.toml services/*/pyproject.toml)
PYTEST_ARGS ?=

RKNN_VENV := .venv-rknn
RKNN_STAMP := $(RKNN_VENV)/.installed

export AZAION_RUN_DIR ?= $(CURDIR)/.run
# The RKNN converter's own virtualenv (make rknn-env), for the trainer's RKNN export and its test.
export AZAION_TRAINER__RKNN_PYTHON ?= $(CURDIR)/$(RKNN_VENV)/bin/python
# Ultralytics must never download or pip-install anything at run time.
export YOLO_AUTOINSTALL := false
export YOLO_OFFLINE := true

.PHONY: docs docs-pictures help setup rknn-env test tuf-conformance lint format bench demo broker broker-stop browser lock clean wheelhouse base-images images edge-images edge-bundle docker

help:
	@sed -n '2,10p' Makefile | sed 's/^# *//'

setup: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt $(PYPROJECTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Python 3.11 is required (found $$($(PYTHON) --version)); set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	@touch $@
	@echo "setup: $(VENV) is ready"

# rknn-toolkit2 2.3.2 in its own virtualenv (several minutes and about 5.6 GB the first time).
rknn-env: $(RKNN_STAMP)

$(RKNN_STAMP): services/trainer/requirements-rknn.txt
	@test -x $(RKNN_VENV)/bin/python || $(PYTHON) -m venv $(RKNN_VENV)
	$(RKNN_VENV)/bin/python -m pip install --quiet -r services/trainer/requirements-rknn.txt
	@touch $@
	@echo "rknn-env: $(RKNN_VENV) is ready"

broker:
	@scripts/rabbitmq.sh start

broker-stop:
	@scripts/rabbitmq.sh stop

browser:
	@scripts/chromium.sh

test: setup broker rknn-env browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@scripts/tuf-conformance.sh

tuf-conformance: setup
	@scripts/tuf-conformance.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The site reads offline from site/index.html; the reference pages are regenerated from the code first.
docs: setup
	$(BIN)/python scripts/docs_reference.py
	$(BIN)/mkdocs build --strict --quiet
	@echo "docs: site/index.html"

# The pictures in the docs come from a demo run, never drawn by hand.
docs-pictures: demo
	$(BIN)/python scripts/docs_pictures.py

bench: setup broker browser
	$(BIN)/python bench/run.py

demo: setup broker browser
	$(BIN)/python scripts/demo.py

SERVICES ?= api ingestor augmentor console trainer inference

# Docker: the engine (started if needed), the wheelhouse, base images made locally, the images.
docker:
	@scripts/docker.sh start

wheelhouse: setup
	@scripts/wheelhouse.sh $(SERVICES)

base-images: docker
	@scripts/base-images.sh

images: setup docker
	@SERVICES="$(SERVICES)" scripts/images.sh

# The edge images for arm64, built here under qemu emulation (ARCH=arm64; amd64's cpu image is in
# `make images`): TARGET="cpu rockchip" by default, jetson where NVIDIA's L4T base is loaded.
# edge-bundle: one tarball for an air-gapped board, dist/azaion-edge-TARGET-arm64.tar.gz.
ARCH ?= arm64
edge-images: setup docker
	@test "$(ARCH)" = arm64 || { echo "edge-images: ARCH=arm64 (amd64: make images SERVICES=inference)"; exit 1; }
	@scripts/edge-arm64.sh $(TARGET)

edge-bundle: setup docker
	@test "$(ARCH)" = arm64 || { echo "edge-bundle: ARCH=arm64 is the one bundled"; exit 1; }
	@test -n "$(TARGET)" || { echo "edge-bundle: TARGET=cpu, rockchip or jetson"; exit 1; }
	@scripts/edge-bundle.sh $(TARGET)

# Refresh constraints.txt from the current virtualenv (after changing a pyproject.toml).
lock: setup
	@{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip list --format=freeze --exclude-editable \
		| grep -vE '^(pip|setuptools|wheel)=='; } > constraints.txt.new && mv constraints.txt.new constraints.txt

clean: broker-stop
	rm -rf $(VENV) $(RKNN_VENV) site .run .pytest_cache .ruff_cache .hypothesis wheelhouse
