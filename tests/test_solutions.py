"""Every exercise solution file runs and passes its own checks."""

import runpy

import pytest

from fdunlearn import config

SOLUTIONS = sorted((config.REPO_ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_file_runs(path):
    runpy.run_path(str(path), run_name="__main__")
