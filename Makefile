# bench: face detection/alignment benchmark. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MLFLOW_DB := $(CURDIR)/mlruns.db
UI_PORT ?= 5000
# make server: a tracking server for tracking=server. Any SQLAlchemy database URI works as the
# store; SERVER_HOST=0.0.0.0 lets other machines log to it (artifacts are uploaded through it).
SERVER_HOST ?= 127.0.0.1
SERVER_PORT ?= 5001
BACKEND_STORE_URI ?= sqlite:///$(CURDIR)/mlflow-server.db
SERVER_ARTIFACTS ?= $(CURDIR)/mlartifacts-server
ARGS ?=
export YOLO_OFFLINE := 1

.DEFAULT_GOAL := help
.PHONY: help install bench sweep matrix stress tolerance quality quality-bounds acceptance scale perf perf-pipeline tune train-smoke train-lfw-view1 test test-slow test-e2e test-cluster lint format ui server clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# opencv-python (Ultralytics) and opencv-contrib-python (mediapipe) both write cv2/:
	@# reinstall the pinned contrib build last so that the cv2 on disk is always the same one.
	$(PY) -m pip install -q --no-deps --force-reinstall "$$(grep -o 'opencv-contrib-python==[0-9.]*' pyproject.toml)"
	$(PY) -m pip install -q --no-deps --target checkpoints/reference facenet-pytorch==2.6.0
	touch $@

install: $(INSTALLED) ## Create .venv and install the project with its dev tools

bench: install ## Run the benchmark (YuNet + EdgeFace-XS on full LFW); extra Hydra overrides in ARGS="..."
	$(PY) -m bench $(ARGS)

# Every detector whose packages and weights are here (bench.api.sweep_methods): not `none`, which
# is for already aligned data, nor `reference`, the median of other methods.
SWEEP_METHODS = $(PY) -c 'from bench.api import sweep_methods; print(",".join(sweep_methods()))'
sweep: install ## Every method available here on full LFW as one sweep, compared in one report; extra overrides in ARGS="..."
	methods=$$($(SWEEP_METHODS)) && $(PY) -m bench -m detector=$$methods $(ARGS)

# The detector x model matrix: every available method x each family's reference model
# (bench.api.matrix_models) as one sweep, reported as a heatmap with significance groups within
# each model and Kendall's tau between the models' detector orders; then the template mismatch:
# each model on each template, with one detector. MATRIX_ARGS narrows it (dataset.folds=[0,1]).
MATRIX_MODELS = $(PY) -c 'from bench.api import matrix_models; print(",".join(matrix_models()))'
MATRIX_TEMPLATES ?= arcface_112,dlib_chip_150
MATRIX_DETECTOR ?= yunet
matrix: install ## Every available detector x every recognition family on full LFW (one sweep), then each family on each template
	methods=$$($(SWEEP_METHODS)) && models=$$($(MATRIX_MODELS)) && \
	$(PY) -m bench -m detector=$$methods model=$$models $(ARGS) && \
	$(PY) -m bench -m detector=$(MATRIX_DETECTOR) model=$$models model.template=$(MATRIX_TEMPLATES) $(ARGS)

# The stress grid: every available method and the model-only row (none: the reference-aligned
# faces) x these conditions x severities, on two folds, as one sweep with its stress report.
# Hydra varies the last override fastest: detector last, so that the methods of one condition
# and severity run one after another on the same degraded images (degraded once, bench.stress).
STRESS_CONDITIONS ?= gaussian_noise,motion_blur,jpeg_compression,downscale,rotation,occlusion
STRESS_SEVERITIES ?= 1,3,5
STRESS_FOLDS ?= [0,1]
stress: install ## The stress grid (STRESS_CONDITIONS x STRESS_SEVERITIES, clean included) on two folds, as one sweep
	methods=$$($(SWEEP_METHODS)) && \
	$(PY) -m bench -m stress=none,$(STRESS_CONDITIONS) stress.severity=$(STRESS_SEVERITIES) \
	  dataset.folds='$(STRESS_FOLDS)' detector=$$methods,none $(ARGS)

# The alignment-tolerance curve: every method's clean run on two folds (their landmarks and
# accuracy: the points), then the reference landmarks (the median of four detectors) under a
# growing controlled error (the curve); the second sweep's report draws both.
TOLERANCE_FOLDS ?= [0,1]
TOLERANCE_KIND ?= noise
TOLERANCE_MAGNITUDES ?= 0,0.025,0.05,0.075,0.1,0.15,0.2,0.3
tolerance: install ## The alignment-tolerance curve: accuracy against landmark error (NME), each method a point on it
	methods=$$($(SWEEP_METHODS)) && $(PY) -m bench -m detector=$$methods dataset.folds='$(TOLERANCE_FOLDS)' $(ARGS)
	$(PY) -m bench -m detector=reference perturbation.kind=$(TOLERANCE_KIND) \
	  perturbation.magnitude=$(TOLERANCE_MAGNITUDES) dataset.folds='$(TOLERANCE_FOLDS)' $(ARGS)

# Which signal predicts a recognition error: every quality signal's error-versus-discard curve
# (quality.csv, edc.csv, edc.png of each run) with YuNet on full LFW, clean and then under one
# stress condition, each as a sweep over two recognition families, whose reports set the jobs'
# signals side by side (edc_by_job.md) and score each family's signals against the other's errors
# (edc_cross_model.csv). QUALITY_ARGS adds overrides to both (dataset.folds=[0,1]).
QUALITY_DETECTOR ?= yunet
QUALITY_MODELS ?= edgeface_xs_gamma_06,sface_int8
QUALITY_STRESS ?= stress=gaussian_noise stress.severity=3
QUALITY_ARGS ?=
quality: install ## Every quality signal's error-versus-discard curve, two families crossed: full LFW clean, then under one stress condition
	$(PY) -m bench -m detector=$(QUALITY_DETECTOR) model=$(QUALITY_MODELS) quality.mirror_agreement=true $(QUALITY_ARGS)
	$(PY) -m bench -m detector=$(QUALITY_DETECTOR) model=$(QUALITY_MODELS) quality.mirror_agreement=true $(QUALITY_STRESS) $(QUALITY_ARGS)

quality-bounds: install ## How far any per-image quality signal can go: oracle bounds on the EDC (YuNet, Gaussian noise 3, folds 0-1)
	$(PY) benchmarks/edc_bounds.py $(ARGS)

acceptance: install ## Full-LFW runs of the core acceptance table (YuNet, MTCNN, aligned ceiling, int8 models)
	$(PY) -m bench detector=yunet,mtcnn -m
	$(PY) -m bench dataset=lfw_aligned detector=none
	$(PY) -m bench model=edgeface_xs_q,edgeface_xxs_q -m

scale: install ## Cost against size: 1k/10k/100k distinct images, the cache at 1M rows, IJB-C-size evaluation (10 min; ARGS="--sizes 1000 10000" for less)
	$(PY) benchmarks/scale.py --out outputs/scale.json $(ARGS)

# ISA=avx2: a benchmark with every library that reads a variable held to AVX2 (bench isa).
UNDER_ISA = $(if $(ISA),$(PY) -m bench isa --cap $(ISA) --,)

perf: install ## Every method on full LFW against the bound its own stage floors set, per-stage CPU, the sweep time (ARGS="--pairs-per-fold 60" for a subset; ISA=avx2)
	$(UNDER_ISA) $(PY) benchmarks/methods.py $(ARGS)

perf-pipeline: install ## The pipeline on one method: naive vs fast vs cache-warm on full LFW, with floors and per-stage CPU (ISA=avx2)
	$(UNDER_ISA) $(PY) benchmarks/perf.py $(ARGS)

TUNE_METHODS ?= yunet
tune: install ## Measure each method's worker and thread counts and model batch on this CPU and keep the fastest for later runs (3 min a method; TUNE_METHODS="yunet mtcnn", ISA=avx2)
	for method in $(TUNE_METHODS); do $(UNDER_ISA) $(PY) -m bench tune $(ARGS) -- detector=$$method || exit 1; done

# A short training run from scratch (EdgeFace-XS, ArcFace, AdamW) on the reference-aligned LFW
# faces of the 153 people with 6 or more (1,180 faces), validated on 1,000 LFW pairs, which share
# people with the training faces: it shows the loss falling, a checkpoint and an MLflow run.
train-smoke: install ## A short training run (about 3 minutes on 2 cores): the loss falls, a checkpoint is written, MLflow has the run
	$(PY) -m bench.train steps=200 batch_size=64 log_every=20 data.min_images=6 \
	  optimizer=adamw optimizer.lr=0.002 optimizer.warmup_steps=20 validation_pairs_per_fold=100 \
	  hydra.run.dir=outputs/train-smoke $(ARGS)

# LFW View 1 from scratch: its training people (aligned by YuNet, 1,184 people with 2+ faces)
# and its test pairs (other people), in VIEW1_DIR.
VIEW1_DIR ?= outputs/lfw-view1
train-lfw-view1: install ## Train from scratch on LFW View 1's training people, validated on its test pairs (about 15 minutes)
	test -f $(VIEW1_DIR)/pairsDevTest.bin || $(PY) -m bench.training.lfw_view1 $(VIEW1_DIR)
	$(PY) -m bench.train data=folder data.path=$(VIEW1_DIR)/train data.min_images=2 \
	  'validation=[$(VIEW1_DIR)/pairsDevTest.bin]' steps=900 batch_size=64 log_every=50 validate_every=300 \
	  optimizer=adamw optimizer.lr=0.002 optimizer.warmup_steps=50 hydra.run.dir=outputs/train-lfw-view1 $(ARGS)

test: install ## Run the test suite (CPU, real weights, LFW subsets)
	$(PY) -m pytest -m "not slow and not e2e and not cluster"

test-slow: install ## Run the slow checks too (full-LFW accuracy targets)
	$(PY) -m pytest

test-e2e: install ## The MLflow UI in headless Chromium (installs Debian's chromium + driver if missing)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	  else echo "chromium/chromedriver missing and apt-get not usable as $$(id -un): the e2e tests will skip"; fi; \
	fi
	$(PY) -m pytest -m e2e

test-cluster: install ## Tests on a real single-node Slurm cluster (munge, slurmctld, slurmd, slurmdbd + MariaDB; installed as root if missing)
	@if [ "$$(id -u)" = 0 ]; then tests/cluster/cluster.sh install; \
	else echo "not root: Slurm's packages are not installed here; the cluster tests skip if they are missing"; fi
	$(PY) -m pytest -m cluster

lint: install ## ruff check and format check
	$(PY) -m ruff check src tests benchmarks hubconf.py
	$(PY) -m ruff format --check src tests benchmarks hubconf.py

format: install ## Apply ruff's formatting and safe fixes
	$(PY) -m ruff check --fix src tests benchmarks hubconf.py
	$(PY) -m ruff format src tests benchmarks hubconf.py

ui: install ## Open the MLflow UI on the default SQLite store
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(MLFLOW_DB) --host 127.0.0.1 --port $(UI_PORT)

server: install ## MLflow tracking server for tracking=server on 127.0.0.1:5001 (SERVER_PORT=..., BACKEND_STORE_URI=...)
	@# No job runner: its workers serve GenAI judges and evaluations, which bench does not use.
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow server --host $(SERVER_HOST) --port $(SERVER_PORT) \
	  --backend-store-uri '$(BACKEND_STORE_URI)' \
	  --serve-artifacts --artifacts-destination '$(SERVER_ARTIFACTS)'

clean: ## Remove run dirs and caches (keeps the MLflow store and .venv)
	rm -rf outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
