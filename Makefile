# The README's commands. Nothing is assumed but Python 3.11+, make and apt-get.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED := $(abspath ../shared/data)
# where MovieLens dataset folders live: $SPARROW_DATA, else ../shared/data, else ./data (downloaded)
DATA   ?= $(or $(SPARROW_DATA),$(if $(wildcard $(SHARED)/ml-latest-small),$(SHARED),$(CURDIR)/data))
DATASET ?= ml-latest-small
BUILD  ?= build/$(DATASET)

.PHONY: setup dev build demo test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { \
	  echo "installing python3-venv with apt-get"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

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

test: lint $(CHROMIUM)  ## lint, then the whole test suite (unit, contract, integration, e2e)
	$(BIN)/pytest

bench: setup  ## feature build speed and memory (writes bench/results/features.json)
	$(BIN)/python bench/features.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
