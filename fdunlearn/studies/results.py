"""What every study shares: its results file (``Results``, resumed run by run), the check of ``--out`` before any
work, the loader that names the command making a missing file, and the mean ± sd over seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from fdunlearn import config, validate
from fdunlearn import files as io


def _same_settings(old, new) -> bool:
    """``old == new``, except that a key ``new`` has and ``old`` lacks is accepted (a setting added to the
    code after the file was made, e.g. a new ``UnlearnConfig`` field at its default)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return set(old) <= set(new) and all(_same_settings(v, new[k]) for k, v in old.items())
    return old == new


class Results:
    """A JSON results file rewritten atomically after each run; finished runs are looked up by key."""

    def __init__(self, path: str | Path, settings: dict) -> None:
        self.path = Path(path)
        settings = json.loads(json.dumps(settings))  # compare as stored (tuples become lists)
        self.data = {"settings": settings, "rows": []}
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a folder; accepted: a results .json file (new, or one to resume)")
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ValueError(f"{self.path} is not a readable results file ({err}); nothing was changed; "
                                 "accepted: a results file written by this study, or a new --out") from err
            if not _same_settings(old.get("settings"), settings):
                raise ValueError(f"{self.path} holds results of other settings ({old.get('settings')}); "
                                 "accepted: the same settings to resume, or a new --out")
            self.data = old

    def get(self, key: str) -> dict | None:
        return next((r for r in self.data["rows"] if r["key"] == key), None)

    def add(self, row: dict) -> None:
        self.data["rows"].append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        io.write_json(self.data, self.path)


def check_results_file(out: str | Path, study: str, option: str = "--out") -> Path:
    """Before any work: ``out`` is a new JSON file in a writable place, or a results file of ``study`` (resumed);
    a folder, or a file that is not such a results file, is refused naming it."""
    out = validate.output_file(out, suffix=".json", resume=True, option=option)
    if out.exists():
        old = io.read_json(out, f"{study} results file")
        if not (isinstance(old, dict) and isinstance(old.get("rows"), list) and isinstance(old.get("settings"), dict)):
            raise ValueError(f"{option} {out} is not a results file of {study} (no 'settings' and 'rows'); "
                             "accepted: a new .json path, or a results file to resume")
    return out


def open_results(out: str | Path, study: str, settings: dict) -> Results:
    """``check_results_file``, then the results file to fill (resumed when it holds the same settings)."""
    check_results_file(out, study)
    return Results(out, settings)


def minisd_study_parser(prog: str, doc: str, *, work: str, duration: str, basis: str,
                        fast: str) -> validate.ArgumentParser:
    """The command line every MiniSD study starts from: ``--out`` (a results file, resumed) and ``--model``, with an
    epilog that gives the full run's ``work`` and its estimated ``duration`` (from ``basis``) and the ``fast`` mode."""
    epilog = (f"{work}: about {duration} on one core of a 2-core CPU. That is an ESTIMATE from {basis}, not a "
              f"measurement; a busy machine takes longer. FDUNLEARN_FAST=1 runs a tiny version ({fast}) in well under "
              "a minute. Resumable: rerun the same command to continue.")
    p = validate.ArgumentParser(prog=prog, description=doc.splitlines()[0], epilog=epilog)
    p.add_argument("--out", required=True, help="results .json (resumed when it is one; a folder or another file is "
                   "refused before any work)")
    p.add_argument("--model", default="minisd", help="minisd or a MiniSD model folder")
    return p


def run_with_scratch(args, study: str, call) -> None:
    """The end of a study's command line: refuse a bad ``--out``, ``--cache-dir`` or ``--weights-dir`` before any
    work, then run ``call()`` and print the file it wrote."""
    check_results_file(args.out, study)
    validate.scratch_folders({"--cache-dir": args.cache_dir, "--weights-dir": args.weights_dir})
    print(f"wrote {call()}")


# Mean and sample standard deviation over seeds (sd 0 for one value), two ways that agree to the last bit or one
# ulp apart (about one list in ten): the erasure studies' summaries were made with torch's float64 sums, lesson 03's
# and the regimes' reports with Python's; each keeps its own so that no stored or printed number moves.
def mean_sd(values: list[float]) -> tuple[float, float]:
    """Torch float64 (the erasure and attack studies)."""
    x = torch.tensor(values, dtype=torch.float64)
    return x.mean().item(), (x.std().item() if len(x) > 1 else 0.0)


def mean_sd_float(values: list[float]) -> tuple[float, float]:
    """Python floats (lesson 03's report, the regimes' report)."""
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def load(path: str | Path, command: str, what: str = "results file") -> dict:
    """A results file; FileNotFoundError with the command that makes it when it is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{config.display_path(path)} is missing; make it with: {command}")
    return io.read_json(path, what)
