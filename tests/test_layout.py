"""The package layout is the architecture (`fdunlearn/__init__.py`): folders are layers, imports run downward only.

Pins the bars of the layout refactor: no module over 400 lines, at most 6 modules at the top level, no module named
after a standard-library one, every subpackage opens with a docstring, and each subpackage imports only the
layers below it (theory imports nothing of ours; studies may import everything but the lessons and the course).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fdunlearn"
MAX_LINES = 400
MAX_TOP_LEVEL = 6
BASE = {"config", "validate", "files"}  # the top-level helpers every layer may use
# subpackage -> the subpackages it may import (besides BASE)
ALLOWED = {
    "theory": set(),
    "datasets": set(),
    "models": {"datasets", "theory"},
    "evaluation": {"datasets", "models", "theory"},
    "unlearning": {"datasets", "models", "theory"},
    "erasure": {"datasets", "models", "theory", "evaluation"},
    "studies": {"datasets", "models", "theory", "evaluation", "unlearning", "erasure"},
    "lessons": {"datasets", "models", "theory", "evaluation", "unlearning", "erasure", "studies"},
    "course": {"datasets", "models", "theory", "evaluation", "unlearning", "erasure", "studies", "lessons"},
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imported_subpackages(path: Path) -> set[str]:
    """The fdunlearn subpackages (and BASE modules) that ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fdunlearn":
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "fdunlearn"]
        else:
            continue
        found |= {n.split(".")[1] for n in names if len(n.split(".")) > 1}
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_the_line_limit(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines; the layout allows at most {MAX_LINES}"


def test_top_level_is_small_and_shadows_nothing():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top
    every = {p.stem for p in _modules()} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert not every & set(sys.stdlib_module_names) - {"__init__", "__main__"}


def test_every_subpackage_says_what_it_holds():
    for pkg in ALLOWED:
        assert ast.get_docstring(ast.parse((PACKAGE / pkg / "__init__.py").read_text())), pkg


def test_imports_run_downward_only():
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(ALLOWED)
    wrong = []
    for pkg, allowed in ALLOWED.items():
        for path in (PACKAGE / pkg).rglob("*.py"):
            extra = _imported_subpackages(path) - allowed - BASE - {pkg}
            wrong += [f"{path.relative_to(PACKAGE)} imports fdunlearn.{e}" for e in sorted(extra)]
    assert not wrong, wrong


def test_the_layer_rule_can_fail(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("from fdunlearn.studies import vdu_digits\n")
    assert _imported_subpackages(bad) - ALLOWED["theory"] - BASE == {"studies"}
