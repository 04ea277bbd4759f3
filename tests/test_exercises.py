"""fdunlearn.lessons.exercises: placeholders are detected without being called, and every notebook's exercise cells
use them."""

from __future__ import annotations

import contextlib
import functools
import io
import math
import re

import nbformat
import pytest
import torch

from fdunlearn import config
from fdunlearn.lessons import exercises

NOTEBOOKS = sorted({ex.notebook for ex in exercises.EXERCISES.values()})
HEADING = re.compile(r"^### ✏️ Exercise(?: (\d+))? ", re.M)


def _stub_ellipsis(x):
    ...


def _stub_pass(x):
    pass


def _stub_docstring(x):
    """Only a docstring."""


def _stub_raises(x):
    raise NotImplementedError("exercise 1: compute it")


def _stub_raises_class(x):
    raise NotImplementedError


def _stub_return_ellipsis(x):
    return ...


def _answer(x):
    return 2 * x


def _answer_returning_none(x):
    x.append(1)


def _answer_raising(x):
    raise ValueError("a student's own error")


@functools.wraps(_stub_raises)
def _wrapped_stub(x):
    return _stub_raises(x)


class _Holder:
    def stub(self, x): ...

    def answer(self, x):
        return x


@pytest.mark.parametrize("stub", [..., _stub_ellipsis, _stub_pass, _stub_docstring, _stub_raises, _stub_raises_class,
                                  _stub_return_ellipsis, lambda x: None, _wrapped_stub, _Holder().stub])
def test_placeholders_are_not_attempted(stub):
    assert not exercises.attempted(stub)  # the raising stubs are never called: this would raise


@pytest.mark.parametrize("answer", [_answer, _answer_returning_none, _answer_raising, lambda x: x, _Holder().answer,
                                    math.sqrt, torch.exp, 0, None, "text", torch.zeros(2)])
def test_anything_else_is_attempted(answer):
    assert exercises.attempted(answer)


def _q_sample(x0, eps, t, alpha_bar):
    a = alpha_bar[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def test_check_prints_not_attempted_without_calling_the_stub(capsys):
    def q_sample(x0, eps, t, alpha_bar):
        raise NotImplementedError

    assert exercises.grade(q_sample) is False
    assert capsys.readouterr().out == ("exercise 1: not attempted yet — see the solution in "
                                       "notebooks/solutions/02_ddpm_mnist_cifar.py (function q_sample)\n")


def test_check_runs_the_checker_on_an_answer(capsys):
    assert exercises.grade(_q_sample, name="q_sample") is True
    assert capsys.readouterr().out == "exercise 1: correct\n"


def test_check_explains_a_wrong_answer(capsys):
    def q_sample(x0, eps, t, alpha_bar):
        return _q_sample(x0, eps, t, alpha_bar) + 1e-2

    with pytest.raises(AssertionError, match=r"(?s)exercise 1: q_sample does not pass its check yet: .*Mismatched.*"
                                             r"solution: notebooks/solutions/02_ddpm_mnist_cifar.py"):
        exercises.check(q_sample)
    assert capsys.readouterr().out == ""


def test_unnumbered_exercise_and_plain_assert(capsys):
    def erasure_pairs(target_digit, anchor_digit):
        return [], []

    assert exercises.grade(..., name="clip_accuracy_from_embeddings") is False
    assert capsys.readouterr().out.startswith("exercise: not attempted yet")
    with pytest.raises(AssertionError, match="exercise 2: erasure_pairs does not pass its check yet: erasure_pairs"):
        exercises.check(erasure_pairs)


def test_unknown_exercise():
    with pytest.raises(KeyError, match="no exercise named 'nope'"):
        exercises.check(_answer, name="nope")
    with pytest.raises(ValueError, match="registered twice"):
        exercises.exercise("02_ddpm_mnist_cifar", 1, "q_sample")(lambda fn: None)


def test_checkers_leave_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    exercises.check(_q_sample, name="q_sample")
    assert torch.equal(torch.random.get_rng_state(), state)


def _exercise_cells(stem: str) -> list[tuple[int | None, nbformat.NotebookNode]]:
    """(number of the ✏️ heading above it, cell) for every code cell of the notebook that calls exercises.check."""
    nb = nbformat.read(config.REPO_ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    found, number = [], "no heading"
    for cell in nb.cells:
        for m in HEADING.finditer(cell.source) if cell.cell_type == "markdown" else ():
            number = None if m.group(1) is None else int(m.group(1))
        if cell.cell_type == "code" and "exercises.check(" in cell.source:
            found.append((number, cell))
    return found


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_exercise_cells_match_the_registry(stem):
    """Each stub cell: its heading's number is the registered one, and its stored output is what it prints today."""
    cells = _exercise_cells(stem)
    names = [re.search(r"exercises\.check\((\w+)\)", cell.source).group(1) for _, cell in cells]
    assert sorted(names) == sorted(n for n, ex in exercises.EXERCISES.items() if ex.notebook == stem)
    for (number, cell), name in zip(cells, names, strict=True):
        assert exercises.EXERCISES[name].number == number, (stem, name, number)
        assert cell.source.startswith(f"def {name}("), cell.source
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(cell.source, f"{stem}:{cell.id}", "exec"), {"exercises": exercises})  # the stub, unfilled
        assert out.getvalue().endswith(f"not attempted yet — see the solution in notebooks/solutions/{stem}.py "
                                       f"(function {name})\n")
        assert [o.get("text") for o in cell.outputs] == [out.getvalue()], (stem, name)
