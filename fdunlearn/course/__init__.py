"""The course's commands without ``make`` (Windows, conda): the same steps as ``make course``, ``make test`` and
``make reproduce``, which call this module, so the two cannot drift apart.

    python -m fdunlearn.course run [--fast] [NOTEBOOK ...]   # make course: every notebook top to bottom, in place
    python -m fdunlearn.course test [PYTEST ARGS ...]        # make test: ruff, then the tests and notebooks (fast mode)
    python -m fdunlearn.course reproduce                     # make reproduce: every study behind data/results/, then
                                                             # the course (hours on a 2-core CPU; each study resumes)
    python -m fdunlearn.course lab                           # make lab: JupyterLab on notebooks/

``--dry-run`` (before the command name) prints the commands without running them. Each command runs with this
Python (``sys.executable``) from the repository root, and is printed before it runs; the first failure stops the
rest and its exit status is returned. Run it with the environment's Python: ``.venv/bin/python`` (Linux, macOS),
``.venv\\Scripts\\python`` (Windows), or ``python`` inside ``conda activate fdunlearn``.

Beside the commands, this package holds the maintainer tools they run: ``run_notebooks`` (execute lessons in place,
times to outputs/), ``readme`` (README.md's generated blocks; lesson 03's are written by
``readme_vdu``, in ``readme_text``'s wording) and ``ship`` (train and record the shipped models).
It is the top of the package: it may import everything.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fdunlearn import config
from fdunlearn.studies import attack_report, vdu_report, vdu_retrained, vdu_variants

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PYTEST_ARGS = ("-q", "--durations=15", "--nbval-lax", "--nbval-current-env", "tests", "notebooks")
WIDE_MODEL = "runs/mnist-ddpm-wide"  # lesson 03's wider DDPM (not shipped): trained before its gamma sweep


@dataclass(frozen=True)
class Step:
    """One command: ``argv`` (``argv[0]`` the Python interpreter), extra environment variables, a note for the
    reader, and ``done_if``: a path (from the repository root) whose existence means the step has nothing left to
    do (for the two studies that write their file once, at the end, and do not resume)."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    done_if: str | None = None
    shell: bool = False  # argv[0] is a shell command (``cp``), not the Python interpreter

    def line(self, python: str | None = None) -> str:
        """The command as a shell line (``python`` replaces the interpreter's path, e.g. ``.venv/bin/python``)."""
        argv = (self.argv[0] if self.shell else python or _shown(self.argv[0]), *self.argv[1:])
        note = f"   # {self.note}" if self.note else ""
        return " ".join([*(f"{k}={v}" for k, v in self.env.items()), shlex.join(argv)]) + note


def _shown(path: str, root: Path = config.REPO_ROOT) -> str:
    """An interpreter inside the repository (``.venv``) relative to it, so printed commands carry no local path."""
    try:
        return Path(path).absolute().relative_to(root).as_posix()
    except ValueError:
        return path


def notebooks(root: Path = config.REPO_ROOT) -> list[str]:
    """The lessons in order, as paths relative to ``root`` (forward slashes on every system)."""
    return [p.relative_to(root).as_posix() for p in sorted((root / "notebooks").glob(NOTEBOOK_GLOB))]


def course_steps(python: str = sys.executable, paths: list[str] | None = None, fast: bool = False) -> list[Step]:
    """``make course``: execute every notebook in place (full mode unless ``fast``), times to outputs/."""
    env = {"FDUNLEARN_FAST": "1"} if fast else {}
    return [Step((python, "-m", "fdunlearn.run_notebooks", *(paths or notebooks())), env)]


def test_steps(python: str = sys.executable, extra: list[str] | None = None) -> list[Step]:
    """``make test``: lint, then the unit tests and every notebook under nbval, in fast mode."""
    return [Step((python, "-m", "ruff", "check", ".")),
            Step((python, "-m", "pytest", *PYTEST_ARGS, *(extra or [])), {"FDUNLEARN_FAST": "1"})]


def lab_steps(python: str = sys.executable) -> list[Step]:
    return [Step((python, "-m", "jupyterlab", "notebooks/"))]


def _module(python: str, command: str, note: str = "", done_if: str | None = None) -> Step:
    """A ``python -m ...`` line as written in the results files' commands, run with ``python``."""
    argv = shlex.split(command)
    assert argv[0] == "python", command
    return Step((python, *argv[1:]), note=note, done_if=done_if)


def study_steps(python: str = sys.executable) -> list[Step]:
    """Every command that writes a file under ``data/results/``, in the lessons' order (02, 03, 04). Each one
    resumes where it stopped (finished runs are skipped), except ``eta_study`` and ``toy2d``, which write their file
    once at the end: they are skipped when it exists."""
    eta = "data/results/sampler-eta-mnist.json"
    steps = [_module(python, f"python -m fdunlearn.eta_study --model mnist-ddpm --out {eta}",
                     "lesson 02's sampler choice, 22 min", done_if=eta)]
    notes = {"vdu-mnist-table": "lesson 03's method table, hours on 2 cores", "vdu-mnist-wide-gamma": "20 min"}
    for name in vdu_report.COMMANDS:
        if name == "vdu-mnist-wide-gamma":
            steps.append(_module(python, f"python -m fdunlearn train --recipe mnist-ddpm-wide --out {WIDE_MODEL} "
                                         "--resume", "lesson 03's wider model (not shipped), about 2 h"))
        steps.append(_module(python, vdu_report.command(name), notes.get(name, "")))
    steps.append(_module(python, "python -m fdunlearn.toy2d --out data/results/toy2d.json",
                         "lesson 03's 2-D picture, 3 min on one core", done_if="data/results/toy2d.json"))
    notes = {"vdu-fs-digits": "vdu-fs on every digit, about 2 min per run"}
    for name in vdu_report.FS_COMMANDS:
        if name == "fs-retrained":  # lesson 03's exact-unlearning reference: the models are trained first
            steps += [_module(python, vdu_retrained.retrain_command("mnist-ddpm", d), "2-3 h on 2 cores")
                      for d in vdu_retrained.DIGITS]
        steps.append(_module(python, vdu_report.command(name), notes.get(name, "")))
    steps.append(_module(python, "python -m fdunlearn.erase_study --out data/results/erasure_minisd.json",
                         "lesson 04's table, about 1 h 30 min"))
    steps.append(_module(python, "python -m fdunlearn.erase_regimes --out data/results/erasure_regimes.json",
                         "lesson 04's regimes, an estimated 1 h"))
    steps.append(_module(python, "python -m fdunlearn.erase_defaults --out data/results/erase_defaults.json",
                         "the erase command's defaults on MiniSD, about 40 min"))
    steps.append(_module(python, attack_report.COMMAND, "lesson 04's attacks, about 30 min on one core"))
    return steps


def gpu_steps(python: str = sys.executable) -> list[Step]:
    """Lesson 03's larger model (section 7.23) and its studies: for a CUDA GPU, so not part of ``make reproduce``.
    The model's record is copied beside the results, since the model itself is not shipped."""
    notes = {"vdu-fs-large": "about 30 s per run on an H200", "vdu-fs-large-cpu": "on 2 CPU cores, about 20 min"}
    record = f"{vdu_variants.LARGE_MODEL}/record.json"
    return [_module(python, vdu_variants.LARGE_TRAIN, "lesson 03's larger model (not shipped), 250 s on an H200"),
            Step(("cp", record, "data/results/mnist-ddpm-large-record.json"), note="which model the tables scored",
                 shell=True),
            *(_module(python, vdu_report.command(name), notes[name]) for name in vdu_report.LARGE_COMMANDS)]


def reproduce_steps(python: str = sys.executable) -> list[Step]:
    """``make reproduce``: every study, then the course (so the notebooks show the fresh results)."""
    return [*study_steps(python), *course_steps(python)]


def outputs(steps: list[Step]) -> list[str]:
    """The ``--out`` paths of ``steps`` (a shell step's last argument: ``cp``'s target), in order."""
    return [s.argv[-1] if s.shell else s.argv[s.argv.index("--out") + 1] for s in steps if s.shell or "--out" in s.argv]


def run(steps: list[Step], dry_run: bool = False, root: Path = config.REPO_ROOT) -> int:
    """Run ``steps`` in order from ``root``, each printed first; stop at the first failure and return its status."""
    for step in steps:
        if step.done_if and (root / step.done_if).exists():
            print(f"[course] done already ({step.done_if} exists): {step.line()}", flush=True)
            continue
        print(f"[course] {step.line()}", flush=True)
        if dry_run:
            continue
        status = subprocess.call(step.argv, cwd=root, env={**os.environ, **step.env})
        if status:
            print(f"[course] stopped: exit status {status}; rerun the same command to go on", file=sys.stderr)
            return status
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fdunlearn.course", description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="make course: execute every notebook in place (full mode)")
    r.add_argument("--fast", action="store_true", help="fast mode (FDUNLEARN_FAST=1)")
    r.add_argument("notebooks", nargs="*", help="default: every lesson in notebooks/")
    sub.add_parser("test", help="make test: ruff, then pytest on tests/ and notebooks/ in fast mode "
                                "(further arguments go to pytest)")
    sub.add_parser("reproduce", help="make reproduce: every study behind data/results/, then the course")
    sub.add_parser("lab", help="make lab: JupyterLab on notebooks/")
    args, rest = p.parse_known_args(argv)
    if rest and args.what != "test":
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    steps = {"run": lambda: course_steps(paths=args.notebooks if args.what == "run" else None,
                                         fast=getattr(args, "fast", False)),
             "test": lambda: test_steps(extra=rest),
             "reproduce": reproduce_steps,
             "lab": lab_steps}[args.what]()
    return run(steps, dry_run=args.dry_run)

