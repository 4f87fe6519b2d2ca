# Varsel — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VARSEL_DATA_DIR ?= $(CURDIR)/data

.PHONY: help demo serve test lint bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml varsel/matching/_prefilter.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) ## Install, create an SQLite hub with demo data and serve it on 127.0.0.1:8000
	$(BIN)/varsel init
	@if [ ! -f "$(VARSEL_DATA_DIR)/demo-credentials.txt" ]; then $(BIN)/varsel demo; \
	else echo "demo data already present; credentials in $(VARSEL_DATA_DIR)/demo-credentials.txt"; \
	     cat "$(VARSEL_DATA_DIR)/demo-credentials.txt"; fi
	$(BIN)/varsel serve --host 127.0.0.1 --port 8000

serve: $(STAMP) ## Serve the hub (VARSEL_DATABASE_URL or the SQLite default)
	$(BIN)/varsel init
	$(BIN)/varsel serve

test: $(STAMP) ## Run the whole test suite (lint, SQLite and PostgreSQL)
	bash scripts/test

lint: $(STAMP) ## Lint, format-check, type-check and check the layers (lint-imports)
	$(BIN)/ruff check varsel tests benchmarks
	$(BIN)/ruff format --check varsel tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP) ## Run the benchmarks (see docs/benchmarks.md)
	$(BIN)/python benchmarks/taxii_bench.py

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) data .pytest_cache .hypothesis
