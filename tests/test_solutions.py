"""Every exercise solution file runs, and each solution passes the very check its notebook cell runs."""

import ast
import runpy

import pytest

from fdunlearn import config
from fdunlearn.lessons import exercises

SOLUTIONS = sorted((config.REPO_ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.py"))
EXERCISES = sorted(exercises.EXERCISES.values(), key=lambda ex: (ex.notebook, ex.number or 0))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_file_runs(path):
    runpy.run_path(str(path), run_name="__main__")


@pytest.mark.parametrize("ex", EXERCISES, ids=[f"{ex.notebook[:2]}-{ex.name}" for ex in EXERCISES])
def test_solution_passes_the_notebook_check(ex, capsys):
    solution = runpy.run_path(str(config.REPO_ROOT / ex.solution_file))[ex.name]
    assert exercises.grade(solution) is True
    assert capsys.readouterr().out == f"{ex.label}: correct\n"


@pytest.mark.parametrize("ex", EXERCISES, ids=[f"{ex.notebook[:2]}-{ex.name}" for ex in EXERCISES])
def test_solution_is_numbered_like_the_notebook(ex):
    """The solution's docstring starts "Exercise N:" with the notebook's N ("Exercise:" for an unnumbered one)."""
    tree = ast.parse((config.REPO_ROOT / ex.solution_file).read_text())
    (fn,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == ex.name]
    assert ast.get_docstring(fn).startswith(f"{ex.label.capitalize()}:"), (ex.solution_file, ex.name)
