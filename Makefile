# Two commands for a newcomer: `make run` and `make test`. Everything else is here so they stay short.
PYTHON ?= python3.11
UV_TOOLS := .tools
UV := $(UV_TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install install-dev lint typecheck schema lock clean screenshots

# uv itself, pinned by hash, in its own environment so syncing the project never removes it.
$(UV): tools/uv.txt
	$(PYTHON) -m venv $(UV_TOOLS)
	$(UV_TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r tools/uv.txt
	touch $(UV)

install: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

install-dev: $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)

run: install
	$(BIN)/gateway db upgrade
	$(BIN)/gateway seed demo
	$(BIN)/gateway welcome --host $(HOST) --port $(PORT)
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# The README's screenshots of the staff portal, from the demo data, in Debian's Chromium (apt-get install chromium).
screenshots: install-dev
	$(BIN)/python tools/screenshots.py

schema: install
	$(BIN)/gateway export-schema > schema.graphql

lock: $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) $(UV_TOOLS) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
