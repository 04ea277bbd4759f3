# The two commands of the course (see README.md):
#   make course   set up .venv if missing, then execute every notebook top to bottom (full mode)
#   make test     set up .venv if missing, then lint, unit tests and every notebook in fast mode
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: course test setup lint lab clean-venv

setup: $(STAMP)

# Re-installs whenever pyproject.toml changes; every dependency comes from pyproject.toml.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

course: $(STAMP)
	$(BIN)/python -m fdunlearn.run_notebooks $(NOTEBOOKS)

test: $(STAMP)
	$(BIN)/ruff check .
	FDUNLEARN_FAST=1 $(BIN)/python -m pytest -q --durations=15 \
		--nbval-lax --nbval-current-env tests notebooks

lint: $(STAMP)
	$(BIN)/ruff check .

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
