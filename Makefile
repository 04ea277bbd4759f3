# The two commands of the course (see README.md):
#   make course   set up .venv if missing, then execute every notebook top to bottom (full mode)
#   make test     set up .venv if missing, then lint, unit tests and every notebook in fast mode
#   make reproduce  every study behind data/results/ (each resumes where it stopped), then make course: hours
#   make test-browser  JupyterLab in headless Chromium runs every lesson's widgets (tests/browser), a few minutes
# Each calls python -m fdunlearn.course, which prints every command it runs (the same entry without make:
# README, "Windows and conda"); `make -n reproduce` lists the study commands without running any.
# The Python that creates .venv: the first of 3.11 (the measured one), 3.12, 3.13 found; PYTHON=... overrides.
PYTHON ?= $(firstword $(foreach v,3.11 3.12 3.13,$(if $(shell command -v python$(v) 2>/dev/null),python$(v))) python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: course test test-browser reproduce setup lint lab clean-venv

setup: $(STAMP)

# Re-installs whenever pyproject.toml changes; every dependency comes from pyproject.toml.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

course: $(STAMP)
	$(BIN)/python -m fdunlearn.course run

test: $(STAMP)
	$(BIN)/python -m fdunlearn.course test

# Python playwright comes from the test extras; the browser is the system's Chromium (installed from Debian's
# chromium package by scripts/ensure-chromium when missing; never downloaded by playwright). CHROMIUM=... overrides.
CHROMIUM ?= /usr/bin/chromium
test-browser: $(STAMP)
	scripts/ensure-chromium $(CHROMIUM)
	FDUNLEARN_BROWSER=1 FDUNLEARN_FAST=1 FDUNLEARN_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q --durations=10 tests/browser

# "+" runs the line under `make -n` too, with --dry-run: it then prints every command and runs none.
reproduce: $(STAMP)
	+$(BIN)/python -m fdunlearn.course $(if $(findstring n,$(firstword -$(MAKEFLAGS))),--dry-run) reproduce

lint: $(STAMP)
	$(BIN)/ruff check .

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
