"""``python -m fdunlearn.course``: the commands it builds (no notebook or study is run here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from fdunlearn import config, course

PY = r"C:\course\.venv\Scripts\python.exe"  # a Windows interpreter path is kept as it is


def test_test_steps_are_ruff_then_pytest_in_fast_mode():
    lint, tests = course.test_steps(PY, extra=["-k", "data"])
    assert lint.argv == (PY, "-m", "ruff", "check", ".") and lint.env == {}
    assert tests.argv == (PY, "-m", "pytest", "-q", "--durations=15", "--nbval-lax", "--nbval-current-env",
                          "tests", "notebooks", "-k", "data")
    assert tests.env == {"FDUNLEARN_FAST": "1"}


def test_course_runs_every_lesson_in_order_in_full_mode():
    (step,) = course.course_steps(PY)
    names = [p.name for p in sorted((config.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert step.argv[:3] == (PY, "-m", "fdunlearn.run_notebooks")
    assert list(step.argv[3:]) == [f"notebooks/{n}" for n in names] and len(names) >= 6
    assert step.env == {}
    (fast,) = course.course_steps(PY, paths=["notebooks/00_welcome.ipynb"], fast=True)
    assert fast.argv[3:] == ("notebooks/00_welcome.ipynb",) and fast.env == {"FDUNLEARN_FAST": "1"}


def test_every_results_file_is_made_by_a_reproduce_command():
    outs = course.outputs(course.study_steps(PY)) + course.outputs(course.gpu_steps(PY))
    assert len(outs) == len(set(outs))
    shipped = sorted(f"data/results/{p.name}" for p in (config.REPO_ROOT / "data" / "results").glob("*.json"))
    assert shipped and [f for f in shipped if f not in outs] == []


def test_reproduce_steps_resume_or_are_skipped_when_done():
    steps = course.study_steps(PY)
    modules = {s.argv[2] for s in steps}
    assert modules == {"fdunlearn.eta_study", "fdunlearn.vdu_study", "fdunlearn", "fdunlearn.toy2d",
                       "fdunlearn.vdu_digits", "fdunlearn.erase_study", "fdunlearn.erase_regimes",
                       "fdunlearn.erase_defaults", "fdunlearn.attack_study"}
    for s in steps:
        out = s.argv[s.argv.index("--out") + 1]
        if s.argv[2] in ("fdunlearn.eta_study", "fdunlearn.toy2d"):  # they write once, at the end: skipped if done
            assert s.done_if == out
        elif s.argv[2] == "fdunlearn":  # training continues from its checkpoint (or starts when there is none)
            assert s.argv[3] == "train" and "--resume" in s.argv and s.done_if is None
        elif s.argv[3] == "retrain":  # lesson 03's retrained models: resumed, or left as they are when finished
            assert s.done_if is None and out.startswith("runs/mnist-ddpm-")
        else:  # the studies skip their finished runs
            assert s.done_if is None and out.startswith("data/results/")
    # the wider model is trained before the sweep that loads it
    train = next(i for i, s in enumerate(steps) if s.argv[2] == "fdunlearn")
    wide = next(i for i, s in enumerate(steps) if course.WIDE_MODEL in s.argv and s.argv[2] != "fdunlearn")
    assert train < wide
    # the retrained models are trained before the study that scores them
    retrain = [i for i, s in enumerate(steps) if s.argv[3] == "retrain"]
    scored = next(i for i, s in enumerate(steps) if s.argv[3] == "retrained")
    assert len(retrain) == 3 and max(retrain) < scored
    # then the course, so the notebooks show the fresh results
    assert course.reproduce_steps(PY)[-1] == course.course_steps(PY)[0]


def test_gpu_steps_train_the_large_model_first_and_copy_its_record_beside_the_results():
    """Lesson 03's larger model is made on a GPU: not part of `make reproduce`, printed in the README instead."""
    from fdunlearn.studies import vdu_report

    steps = course.gpu_steps(PY)
    lines = [s.line("python").split("   #")[0] for s in steps]
    assert lines[0] == "python -m fdunlearn train --recipe mnist-ddpm-large --out runs/mnist-ddpm-large --resume"
    assert lines[1] == "cp runs/mnist-ddpm-large/record.json data/results/mnist-ddpm-large-record.json"
    assert lines[2:] == [vdu_report.command(n) for n in vdu_report.LARGE_COMMANDS]
    assert all("runs/mnist-ddpm-large" in line for line in lines)
    assert not set(course.outputs(steps)) & set(course.outputs(course.study_steps(PY)))


def test_commands_are_the_ones_the_results_record():
    """vdu_study/vdu_digits lines come from vdu_report (the lessons print the same ones)."""
    from fdunlearn.studies import vdu_report

    lines = {s.line("python").split("   #")[0] for s in course.study_steps(PY)}
    for name in [*vdu_report.COMMANDS, *vdu_report.FS_COMMANDS]:
        assert vdu_report.command(name) in lines


def test_run_prints_each_command_skips_done_ones_and_stops_at_the_first_failure(tmp_path, monkeypatch, capsys):
    (tmp_path / "done.json").write_text("{}")
    steps = [course.Step(("python", "-m", "a"), done_if="done.json"), course.Step(("python", "-m", "b"), {"X": "1"}),
             course.Step(("python", "-m", "c")), course.Step(("python", "-m", "d"))]
    calls = []

    def call(argv, cwd, env):
        calls.append((argv, cwd, env.get("X")))
        return 3 if argv[-1] == "c" else 0

    monkeypatch.setattr(course.subprocess, "call", call)
    assert course.run(steps, root=tmp_path) == 3
    assert calls == [(("python", "-m", "b"), tmp_path, "1"), (("python", "-m", "c"), tmp_path, None)]
    out = capsys.readouterr()
    assert "done already (done.json exists)" in out.out and "X=1 python -m b" in out.out
    assert "exit status 3" in out.err
    calls.clear()
    assert course.run(steps, dry_run=True, root=tmp_path) == 0 and calls == []


def test_main_parses_each_command(monkeypatch):
    seen = {}
    monkeypatch.setattr(course, "run", lambda steps, dry_run: seen.update(steps=steps, dry=dry_run) or 0)
    assert course.main(["--dry-run", "test", "-x"]) == 0
    assert seen["dry"] and seen["steps"][1].argv[-1] == "-x"
    assert course.main(["run", "--fast", "notebooks/01_mse_is_an_f_divergence.ipynb"]) == 0
    assert seen["steps"][0].env == {"FDUNLEARN_FAST": "1"} and not seen["dry"]
    assert course.main(["reproduce"]) == 0 and len(seen["steps"]) == len(course.reproduce_steps())
    assert course.main(["lab"]) == 0 and seen["steps"][0].argv[1:] == ("-m", "jupyterlab", "notebooks/")
    with pytest.raises(SystemExit):
        course.main(["run", "--bogus"])


def test_makefile_targets_call_the_module():
    text = (config.REPO_ROOT / "Makefile").read_text()
    assert "$(BIN)/python -m fdunlearn.course run" in text
    assert "$(BIN)/python -m fdunlearn.course test" in text
    assert "fdunlearn.course $(if $(findstring n,$(firstword -$(MAKEFLAGS))),--dry-run) reproduce" in text


@pytest.mark.skipif(shutil.which("make") is None or not (config.REPO_ROOT / ".venv" / "bin" / "python").exists(),
                    reason="needs make and .venv/bin/python")
def test_make_n_reproduce_lists_every_study_and_runs_none():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    out = subprocess.run(["make", "-n", "reproduce"], cwd=config.REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    for step in course.reproduce_steps(sys.executable):
        assert step.line(".venv/bin/python").split("   #")[0] in out
