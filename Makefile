# The README's commands. Nothing is assumed but Python 3.11+, make and apt-get.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED := $(abspath ../shared/data)
# where MovieLens dataset folders live: $SPARROW_DATA, else ../shared/data, else ./data (downloaded)
DATA   ?= $(or $(SPARROW_DATA),$(if $(wildcard $(SHARED)/ml-latest-small),$(SHARED),$(CURDIR)/data))
DATASET ?= ml-latest-small
BUILD  ?= build/$(DATASET)

.PHONY: setup dev demo test lint bench clean

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

demo: setup  ## get ml-latest-small, show it, build its features
	@[ -d "$(DATA)/$(DATASET)" ] || $(BIN)/sparrow data fetch $(DATASET) --dest "$(DATA)"
	$(BIN)/sparrow data info "$(DATA)/$(DATASET)"
	$(BIN)/sparrow features build --data "$(DATA)/$(DATASET)" --out $(BUILD)

lint: dev  ## ruff and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint  ## lint, then the whole test suite
	$(BIN)/pytest

bench: setup  ## feature build speed and memory (writes bench/results/features.json)
	$(BIN)/python bench/features.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
