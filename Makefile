# bench: face detection/alignment benchmark. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MLFLOW_DB := $(CURDIR)/mlruns.db
UI_PORT ?= 5000
ARGS ?=
export YOLO_OFFLINE := 1

.DEFAULT_GOAL := help
.PHONY: help install bench acceptance perf test test-slow lint format ui clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# opencv-python (Ultralytics) and opencv-contrib-python (mediapipe) both write cv2/:
	@# reinstall the pinned contrib build last so that the cv2 on disk is always the same one.
	$(PY) -m pip install -q --no-deps --force-reinstall "$$(grep -o 'opencv-contrib-python==[0-9.]*' pyproject.toml)"
	touch $@

install: $(INSTALLED) ## Create .venv and install the project with its dev tools

bench: install ## Run the benchmark (YuNet + EdgeFace-XS on full LFW); extra Hydra overrides in ARGS="..."
	$(PY) -m bench $(ARGS)

acceptance: install ## Full-LFW runs of the core acceptance table (YuNet, MTCNN, aligned ceiling, int8 models)
	$(PY) -m bench detector=yunet,mtcnn -m
	$(PY) -m bench dataset=lfw_aligned detector=none
	$(PY) -m bench model=edgeface_xs_q,edgeface_xxs_q -m

perf: install ## Throughput benchmark: naive vs fast vs cache-warm on full LFW, with floors (ARGS="--pairs-per-fold 60" for a subset)
	$(PY) benchmarks/perf.py $(ARGS)

test: install ## Run the test suite (CPU, real weights, LFW subsets)
	$(PY) -m pytest -m "not slow"

test-slow: install ## Run the slow checks too (full-LFW accuracy targets)
	$(PY) -m pytest

lint: install ## ruff check and format check
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

format: install ## Apply ruff's formatting and safe fixes
	$(PY) -m ruff check --fix src tests benchmarks
	$(PY) -m ruff format src tests benchmarks

ui: install ## Open the MLflow UI on the default SQLite store
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(MLFLOW_DB) --host 127.0.0.1 --port $(UI_PORT)

clean: ## Remove run dirs and caches (keeps the MLflow store and .venv)
	rm -rf outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
