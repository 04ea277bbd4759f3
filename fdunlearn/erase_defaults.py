"""The `erase` command's defaults on MiniSD, measured: which learning rate and length meet the course's bars.

Bars (lesson 04): erasing "seven" -> "a handwritten digit" with MSE leaves a target accuracy <= 5% on HELD-OUT
phrasings (prompts never seen during the erasure), keeps retained accuracy >= 95% of the base model's, and takes at
most 3 minutes on a 2-core CPU, anchor images included.

Each candidate (lr as a multiple of the reference's 7e-5 per sample, steps) runs on the same seeds and is scored by
``erase_study.score`` with a larger held-out set than lesson 04's table (``HELDOUT_IMAGES`` images: each held-out
prompt several times, so one image is not 5 points). ``erase.MINISD_LR_MULT`` and ``erase.MINISD_STEPS`` are the
candidate this file chose (``choose``: the fastest that meets every bar on the mean over seeds); a test checks that
they agree with ``data/results/erase_defaults.json``.

The file is rewritten atomically after every run; an interrupted study resumes where it stopped::

    python -m fdunlearn.erase_defaults --out data/results/erase_defaults.json
    FDUNLEARN_FAST=1 python -m fdunlearn.erase_defaults --out outputs/erase_defaults_fast.json   # seconds
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fdunlearn import config, erase_study, io, validate
from fdunlearn.vdu_study import Results

__all__ = ["BARS", "BUDGETS", "Budget", "choose", "run_list", "study", "summary"]

HELDOUT_IMAGES = 60  # 10 held-out prompts x 6 (lesson 04's table: 20, i.e. 5 points per image)
BARS = {"heldout_acc": 0.05, "retained_ratio": 0.95, "seconds": 180.0}
PHASE = "defaults"


@dataclass(frozen=True)
class Budget:
    seeds: tuple[int, ...]
    candidates: tuple[tuple[float, int], ...]  # (lr multiple of the reference's, steps)
    scoring: erase_study.Budget


BUDGETS = {
    "full": Budget(seeds=(0, 1, 2, 3, 4), candidates=((1.0, 1000), (3.0, 500), (2.0, 1000), (3.0, 1000)),
                   scoring=dataclasses.replace(erase_study.BUDGETS["full"], seeds=(0, 1, 2, 3, 4),
                                               heldout_images=HELDOUT_IMAGES)),
    "fast": Budget(seeds=(0, 1), candidates=((1.0, 3), (3.0, 2)),
                   scoring=dataclasses.replace(erase_study.BUDGETS["fast"], seeds=(0, 1))),
}
FIRST_SEEDS = 3  # every candidate runs on the first three seeds before any runs on the rest


def budget() -> Budget:
    return BUDGETS[config.mode()]


def run_list(b: Budget) -> list[erase_study.Run]:
    """MSE on the generic task, every candidate on the first seeds, then on the rest."""
    mse = erase_study.Method("mse")
    order = list(b.seeds[:FIRST_SEEDS]) + list(b.seeds[FIRST_SEEDS:])
    return [erase_study.Run(PHASE, "generic", mse, lr, steps, s) for s in order for lr, steps in b.candidates]


def study(out: str | Path, model: str = "minisd", b: Budget | None = None, cache_dir: str | Path | None = None,
          progress: bool = False) -> Path:
    """Run (or resume) every candidate into ``out``."""
    b = b or budget()
    erase_study.check_results_file(out, study="erase_defaults")
    settings = {"model": str(model), "candidates": [list(c) for c in b.candidates], "seeds": list(b.seeds),
                "scoring": dataclasses.asdict(b.scoring), "bars": BARS, "mode": config.mode()}
    results = Results(out, settings)
    with tempfile.TemporaryDirectory() as tmp:
        s = erase_study.Study(model, results, b.scoring, Path(cache_dir or tmp), progress)
        for r in run_list(b):
            s.run(r)
    return Path(out)


def summary(results: dict) -> list[dict]:
    """One entry per candidate: mean and std over its seeds of held-out, target and retained accuracy (retained as
    a ratio to the base's on the same seed), the time, and whether each bar is met on the mean."""
    rows = results["rows"]
    base = {r["seed"]: r for r in rows if r.get("phase") == "base"}
    out = []
    for lr, steps in results["settings"]["candidates"]:
        runs = [r for r in rows if r.get("phase") == PHASE and r["lr_mult"] == lr and r["steps"] == steps]
        if not runs:
            continue
        ratio = [r["retained_acc"] / base[r["seed"]]["retained_acc"] for r in runs]
        entry = {"lr_mult": lr, "steps": steps, "seeds": sorted(r["seed"] for r in runs)}
        for name, values in (("heldout_acc", [r["heldout_acc"] for r in runs]),
                             ("target_acc", [r["target_acc"] for r in runs]), ("retained_ratio", ratio),
                             ("seconds", [r["seconds"] for r in runs]), ("kid", [r["kid"] for r in runs])):
            entry[name] = erase_study._stats(values)
        entry["seconds_max"] = max(r["seconds"] for r in runs)
        entry["meets"] = {"heldout_acc": entry["heldout_acc"][0] <= BARS["heldout_acc"],
                          "retained_ratio": entry["retained_ratio"][0] >= BARS["retained_ratio"],
                          "seconds": entry["seconds_max"] <= BARS["seconds"]}
        out.append(entry)
    return out


def load(path: str | Path) -> dict:
    """A results file written by ``study``; FileNotFoundError with the command that writes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; write it with: python -m fdunlearn.erase_defaults --out {path}")
    return io.read_json(path, "erase_defaults results file")


def choose(entries: list[dict], n_seeds: int) -> dict | None:
    """The fastest candidate measured on all ``n_seeds`` seeds that meets every bar; None if none does."""
    ok = [e for e in entries if len(e["seeds"]) == n_seeds and all(e["meets"].values())]
    return min(ok, key=lambda e: e["seconds"][0]) if ok else None


def format_summary(entries: list[dict]) -> str:
    lines = ["| lr (x ref) | steps | held-out % | target % | retained / base | time (s, max) | seeds | bars |",
             "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        bars = "all met" if all(e["meets"].values()) else "misses " + ", ".join(k for k, v in e["meets"].items()
                                                                              if not v)
        lines.append(f"| {e['lr_mult']:g} | {e['steps']} | {100 * e['heldout_acc'][0]:.1f} ± "
                     f"{100 * e['heldout_acc'][1]:.1f} | {100 * e['target_acc'][0]:.1f} ± {100 * e['target_acc'][1]:.1f}"
                     f" | {100 * e['retained_ratio'][0]:.1f}% ± {100 * e['retained_ratio'][1]:.1f} | "
                     f"{e['seconds'][0]:.0f} ({e['seconds_max']:.0f}) | {len(e['seeds'])} | {bars} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    full = BUDGETS["full"]
    p = validate.ArgumentParser(prog="python -m fdunlearn.erase_defaults", description=__doc__.splitlines()[0],
                                epilog=f"Full mode runs {len(run_list(full))} MSE erasures (up to "
                                f"{max(s for _, s in full.candidates)} steps) plus the base models: about 40 minutes "
                                "on a 2-core CPU (an estimate from lesson 04's times). FDUNLEARN_FAST=1: seconds. "
                                "Resumable: rerun the same command to continue.")
    p.add_argument("--out", required=True, help="results .json (resumed when it is one; a folder or another file is "
                   "refused before any work)")
    p.add_argument("--model", default="minisd", help="minisd or a MiniSD model folder")
    p.add_argument("--cache-dir", help="anchor-image cache (default: a temporary folder)")
    p.add_argument("--progress", action="store_true", help="progress bars for each erasure")

    def body() -> None:
        args = p.parse_args(argv)
        config.device()
        erase_study.check_results_file(args.out, study="erase_defaults")
        validate.scratch_folders({"--cache-dir": args.cache_dir})
        out = study(args.out, args.model, cache_dir=args.cache_dir, progress=args.progress)
        entries = summary(load(out))
        print(format_summary(entries))
        best = choose(entries, len(budget().seeds))
        print(f"chosen: lr x{best['lr_mult']:g}, {best['steps']} steps" if best else "no candidate meets every bar")
        print(f"wrote {out}")

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
