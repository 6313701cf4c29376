# Two commands for a newcomer: `make run` (train on MNIST, tracked in ./mlflow.db) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
ARGS ?=
# GPU=1: the `gpu` extra, TensorFlow with its CUDA libraries in place of tensorflow-cpu
# (docs/devices.md); an environment installed so stays so for later targets.
GPU ?=
comma := ,
STAMP := $(VENV)/.installed$(if $(or $(GPU),$(wildcard $(VENV)/.installed-gpu)),-gpu)

.PHONY: setup run sweep ui dashboard test test-fast test-slow lint bench screenshot clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench$(if $(findstring -gpu,$@),$(comma)gpu)]"
ifneq ($(findstring -gpu,$(STAMP)),)
	# tensorflow-cpu and tensorflow hold the same files: keep tensorflow's (with CUDA)
	$(BIN)/python -m pip uninstall --quiet --yes tensorflow-cpu
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps \
		"tensorflow==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("tensorflow"))')"
endif
	touch $@

run: setup          ## train once with the defaults (full MNIST); extra: ARGS="-P epochs=5", GPU=1
	$(BIN)/mlflow run . --env-manager local $(ARGS)

sweep: setup        ## an Optuna study; extra: ARGS="-P n_trials=20"
	$(BIN)/mlflow run . -e sweep --env-manager local $(ARGS)

ui: setup           ## the MLflow UI on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

dashboard: setup    ## optuna-dashboard on http://127.0.0.1:8080
	$(BIN)/optuna-dashboard sqlite:///optuna.db --port 8080

# Tests in TEST_WORKERS processes (pytest-xdist; a test file, or the tests sharing the
# registered models, per process: tests/conftest.py), except the slow cases marked `serial`,
# which time real processes and signals or check that both cores are used: one at a time.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadfile

test: setup lint    ## what CI runs: the default suite, then the slow end-to-end cases
	$(BIN)/python -m pytest -q $(XDIST)
	$(BIN)/python -m pytest -q -m "slow and not serial" $(XDIST)
	$(BIN)/python -m pytest -q -m "slow and serial"

test-fast: setup
	$(BIN)/python -m pytest -q $(XDIST)

test-slow: setup
	$(BIN)/python -m pytest -q -m "slow and not serial" $(XDIST)
	$(BIN)/python -m pytest -q -m "slow and serial"

lint: setup
	$(BIN)/ruff check src pipelines tests benchmarks examples
	$(BIN)/ruff format --check src pipelines tests benchmarks examples
	$(BIN)/mypy

bench: setup        ## the benchmarks on MNIST (about an hour on 2 cores), then benchmarks/README.md's table
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/pruning.py
	$(BIN)/python benchmarks/champion.py
	$(BIN)/python benchmarks/sweep_quality.py
	$(BIN)/python benchmarks/hyperband.py
	$(BIN)/python benchmarks/hyperband.py --epochs 10 --out benchmarks/results/hyperband-max10.json
	$(BIN)/python benchmarks/diagnosis_agreement.py
	$(BIN)/python benchmarks/cnn.py
	$(BIN)/python benchmarks/report.py

screenshot: setup   ## the README's picture, docs/images/mlflow-run.png, from a real run in headless Chromium
	DOCS_IMAGES=docs/images $(BIN)/python -m pytest -q -m slow tests/pipelines_tests/test_ui_browser.py -k readme_picture

clean:
	rm -rf $(VENV) mlflow.db mlruns optuna.db
