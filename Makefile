# Two entry points, as the README gives them: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install docs docs-install napari napari-install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Install discT2 into .venv and run the whole pipeline on the bundled sample study.
demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(BIN)/discT2 demo --out discT2-demo

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"

LINT_PATHS := src tests $(wildcard benchmarks plugins docs/*.py docs/_ext docs/figures)

lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

# Everything CI checks: lint, the whole suite (slow tests included), the documentation build and
# the napari plugin's headless tests (plugins/napari/ci.sh installs Xvfb and Qt's libraries when
# missing, which needs root, and its own .venv-napari). tests/install-dciodvfy.sh installs the
# DICOM validator (dicom3tools) that the DICOM results tests run.
test: install lint
	tests/install-dciodvfy.sh
	$(BIN)/python -m pytest -m "slow or not slow"
	rm -rf docs/_build
	$(MAKE) docs
	plugins/napari/ci.sh

docs-install: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[docs]"

# The documentation site, warnings as errors (the API and CLI pages are written at build time).
docs: docs-install
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# napari, discT2 and its napari plugin in one environment (.venv-napari). discT2 is installed from
# this checkout in the same pip call as the plugin, so pip never looks for it on a package index.
# On Linux napari needs an X server and Qt's xcb libraries (README: "The napari plugin").
NAPARI_VENV ?= .venv-napari
NAPARI_BIN := $(NAPARI_VENV)/bin

napari-install:
	[ -x $(NAPARI_BIN)/python ] || $(PYTHON) -m venv $(NAPARI_VENV)
	$(NAPARI_BIN)/python -m pip install -q --upgrade pip
	$(NAPARI_BIN)/python -m pip install -q -e ".[napari]" -e plugins/napari

# Open napari on the bundled sample exam with the plugin's widgets docked.
napari: napari-install
	$(NAPARI_BIN)/python -m napari_disct2
