# The two quickstart commands: `make serve` and `make test`. Both install into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test install lint bench schema browser

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) browser

# Debian's chromium for the dashboard's browser test, installed when missing (see the script).
browser:
	scripts/ensure-chromium

serve: $(STAMP)
	$(BIN)/alertwhisperer serve --demo --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

schema: $(STAMP)
	$(BIN)/alertwhisperer export-schema -o graph/schema.graphql

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
