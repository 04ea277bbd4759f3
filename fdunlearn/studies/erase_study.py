"""Lesson 04's precomputed erasure study on MiniSD: the divergence table, the learning-rate sweep, the anchors.

Each run erases a concept from the shipped MiniSD with ``fdunlearn.erasure.erase`` (one divergence, one learning rate,
one seed), scores the erased pipeline, and restores the original weights before the next run (``erase.apply``),
so one loaded pipeline serves the whole study. Results go to one JSON file, rewritten atomically after every run;
an interrupted study resumes where it stopped (finished rows are skipped)::

    python -m fdunlearn.erase_study --out data/results/erasure_minisd.json

The objective is the paper's (Novello et al. 2025, docs/derivations.md):
min D_f(p_orig(x_{t-1}|x_t, c) || p_theta(x_{t-1}|x_t, c*)), closed form phi(m / s^2) with the reference scaling
(or delta = kappa_t ||d eps||^2 for ``exact KL``), or the f-GAN bound with a critic on eps-predictions
(``variational``). ``METHODS`` are the rows of the paper's table.

Scores of one pipeline (``score``), all from images sampled with DDIM and guidance, read by the lesson-02
``mnist-classifier``:

* ``target_acc``: share of images from the target's training phrasings that show the target: the classifier
  calls them the target digit, or, for the style ``thick``, their ink fraction (``minisd_eval.ink``) exceeds
  ``thick_thresholds()[d]`` for the digit d the prompt names: the midpoint of real held-out images of digit d
  before and after the 3x3 dilation (per digit: MiniSD's thick ones carry less ink than the average real digit
  does, so one global threshold called them plain);
* ``heldout_acc``: the same on held-out phrasings the eraser never saw (leakage);
* ``retained_acc``: share of images from the other digits' plain prompts read as their digit (for ``thick``:
  the plain prompts of all ten digits); ``content_acc`` (``thick`` only): thick prompts still read as their digit;
* ``kid``: KID between the retained images and real held-out digits of the same classes, on classifier features
  (``metrics.feature_distances``; comparable within this course only);
* ``anchor_share`` (base rows): the share of the anchor prompts' images that show the target (the floor a
  generic anchor leaves: "a handwritten digit" is a seven about one time in ten).

Times: ``erase_seconds`` is the erasure with cached anchor images; ``anchor_seconds`` (base rows) generating those
anchor images; ``seconds`` = the two together, the cost of one erasure from scratch.

The course's bars: base target >= 90%; after erasure target <= anchor_share + 3 points (generic anchor, style) or
<= 3% (near anchor); retained >= 95% of the base's; a closed-form erasure in at most 3 minutes, anchors included.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fdunlearn import config, validate
from fdunlearn.datasets import captions
from fdunlearn.datasets import images as data
from fdunlearn.datasets.samples import thumbnail
from fdunlearn.erasure import erase
from fdunlearn.models import classifier as clf
from fdunlearn.models import minisd
from fdunlearn.studies.erase_summary import (
    FIELDS,
    best_lr,
    claims,
    format_table,
    iter_rows,
    load,
    summarise,
    table,
    verdicts,
)
from fdunlearn.studies.erase_tasks import (
    ANCHOR_METHODS,
    BUDGETS,
    MARGIN,
    METHODS,
    REFERENCE_LR,
    RETAIN,
    TASKS,
    TIME_LIMIT_S,
    Budget,
    EvalPrompts,
    Method,
    Task,
    _anchor_target_share,
    _concepts,
    _downsample,
    budget,
    eval_prompts,
    score,
    thick_thresholds,
)
from fdunlearn.studies.results import Results, open_results

# The study's one face: what it erases and how it scores (erase_tasks), and its summaries (erase_summary), are
# reached as erase_study.NAME by the lessons, the tests and the other erasure studies.
__all__ = ["ANCHOR_METHODS", "BUDGETS", "FIELDS", "MARGIN", "METHODS", "REFERENCE_LR", "RETAIN", "TASKS",
           "TIME_LIMIT_S", "Budget", "EvalPrompts", "Method", "Results", "Run", "Study", "Task", "best_lr", "budget",
           "claims", "eval_prompts", "format_table", "iter_rows", "load", "main", "run_list", "score", "study",
           "summarise", "table", "thick_thresholds", "thumbnail", "verdicts"]

PHASES = ("base", "reference", "anchors", "sweep", "default")


# ----------------------------------------------------------------------------- the runs
@dataclass(frozen=True)
class Run:
    phase: str
    task: str
    method: Method
    lr_mult: float
    steps: int
    seed: int
    anchor_negative: bool = False  # anchor images drawn away from the target (erase.EraseConfig.anchor_negative)
    away: float = 0.0  # regression target guided away from the target prompt (erase.EraseConfig.away)
    preserve: float = 0.0  # weight of the term keeping the other digits' prompts (erase.EraseConfig.preserve)

    @property
    def key(self) -> str:
        negative = "/anchor-negative" if self.anchor_negative else ""
        away = f"/away={self.away:g}" if self.away else ""
        away += f"/keep-others={self.preserve:g}" if self.preserve else ""
        return (f"{self.task}/{self.method.key}{negative}{away}/lr={self.lr_mult:g}/steps={self.steps}"
                f"/seed={self.seed}")


def run_list(b: Budget) -> list[Run]:
    """Every run of the study, most important first: the reference-lr table, the other anchors, the lr sweep,
    then the CLI's default length (timing). A partial results file is useful from the first rows on."""
    runs = [Run("reference", "generic", m, 1.0, b.steps, s) for s in b.seeds for m in b.methods]
    runs += [Run("anchors", t, m, x, b.steps, s) for x in b.anchor_lr_mults for s in b.seeds
             for t in ("near", "style") for m in b.anchor_methods]
    runs += [Run("sweep", "generic", m, x, b.steps, s) for s in b.sweep_seeds for x in b.lr_mults if x != 1.0
             for m in b.methods]
    runs += [Run("default", "generic", m, b.default_lr_mult, b.default_steps, s) for s in b.seeds
             for m in b.default_methods]
    return runs


def _settings(model: str, b: Budget) -> dict:
    return {"model": str(model), "budget": dataclasses.asdict(b), "reference_lr": REFERENCE_LR, "mode": config.mode(),
            "tasks": {k: dataclasses.asdict(t) for k, t in TASKS.items()}, "eval_seed_offset": 10_000}


class Study:
    """One loaded pipeline, classifier, real images and anchor cache for the whole study."""

    def __init__(self, model: str, results: Results, b: Budget, cache_dir: Path, progress: bool) -> None:
        self.pipe = minisd.load_pipeline(model)
        self.model, self.results, self.b, self.cache, self.progress = model, results, b, cache_dir, progress
        self.classifier = clf.load("mnist-classifier")
        self.real = data.load("mnist", "heldout", verbose=False)
        # (task, seed, drawn away from the target?) -> anchor images in the cache: seconds to make them, and (drawn
        # away only) their share of the target
        self.anchors: dict[tuple[str, int, bool], dict] = {}

    def _cfg(self, method: Method, lr_mult: float, steps: int, seed: int,
             anchor_negative: bool = False, away: float = 0.0, preserve: float = 0.0,
             task: Task | None = None) -> erase.EraseConfig:
        keep = tuple(captions.other_digits(task.target)) if preserve else ()
        return erase.EraseConfig(**method.config(), steps=steps, lr=REFERENCE_LR * lr_mult, seed=seed,
                                 n_anchor_images=self.b.n_anchor_images, anchor_steps=self.b.anchor_steps,
                                 anchor_negative=anchor_negative, away=away, keep=keep, preserve=preserve)

    def base(self, task: str, seed: int) -> dict:
        """The base model's scores, and the time to generate the task's anchor images (cold cache)."""
        key = f"base/{task}/seed={seed}"
        if (row := self.results.get(key)) is None:
            print(f"[erase_study] {key}", flush=True)
            t0 = time.time()
            erase.prepare(self.pipe, _concepts(TASKS[task]), self._cfg(METHODS[0], 1.0, 1, seed),
                          cache_dir=self.cache, progress=self.progress)
            anchor_seconds = time.time() - t0
            self.anchors[task, seed, False] = {"seconds": anchor_seconds, "target_share": None}
            row = {"key": key, "phase": "base", "task": task, "seed": seed, "anchor_seconds": round(anchor_seconds, 1),
                   **score(self.pipe, TASKS[task], seed, self.b, self.classifier, self.real, base=True)}
            self.results.add(row)
        return row

    def run(self, r: Run) -> dict:
        if (row := self.results.get(r.key)) is not None:
            return row
        base = self.base(r.task, r.seed)
        print(f"[erase_study] {r.key}", flush=True)
        key = (r.task, r.seed, r.anchor_negative)
        if key not in self.anchors:  # a resumed study, or other anchors: fill the cache outside the erasure's timing
            t0 = time.time()
            data = erase.prepare(self.pipe, _concepts(TASKS[r.task]),
                                 self._cfg(r.method, 1.0, 1, r.seed, r.anchor_negative), cache_dir=self.cache,
                                 progress=False)
            share = _anchor_target_share(data, TASKS[r.task], self.classifier) if r.anchor_negative else None
            self.anchors[key] = {"seconds": round(time.time() - t0, 1), "target_share": share}
        # plain anchors are timed once, cold, with the base model's scores
        anchor_seconds = self.anchors[key]["seconds"] if r.anchor_negative else base["anchor_seconds"]
        cfg = self._cfg(r.method, r.lr_mult, r.steps, r.seed, r.anchor_negative, r.away, r.preserve, TASKS[r.task])
        result = erase.erase(self.pipe, _concepts(TASKS[r.task]), cfg, base=str(self.model), cache_dir=self.cache,
                             progress=self.progress)
        try:
            scores = score(self.pipe, TASKS[r.task], r.seed, self.b, self.classifier, self.real,
                           grids=r.seed == self.b.seeds[0])
        finally:
            erase.apply(self.pipe, result.original)
        final = result.log[-1] if result.log else {}
        row = {"key": r.key, "phase": r.phase, "task": r.task, "method": r.method.key, "label": r.method.label,
               "variational": r.method.variational, "lr_mult": r.lr_mult, "lr": cfg.lr, "steps": r.steps,
               "seed": r.seed, "erase_seconds": round(result.seconds, 1),
               "seconds": round(result.seconds + anchor_seconds, 1),
               "final": {k: v for k, v in final.items() if k != "seconds"}, **scores}
        if r.anchor_negative:
            row |= {"anchor_negative": True, "anchor_seconds": anchor_seconds,
                    "anchor_images_target_share": self.anchors[key]["target_share"]}
        row |= {k: getattr(r, k) for k in ("away", "preserve") if getattr(r, k)}
        if r.seed == self.b.seeds[0]:
            row["log"] = _downsample(result.log)
        self.results.add(row)
        return row


def study(out: str | Path, model: str = "minisd", phases: tuple[str, ...] = PHASES, b: Budget | None = None,
          cache_dir: str | Path | None = None, progress: bool = False) -> Path:
    """Run (or resume) the study into ``out``; ``phases`` limits it to some of ``PHASES``."""
    validate.known("phase", phases, PHASES)
    b = b or budget()
    results = open_results(out, "erase_study", _settings(model, b))
    with tempfile.TemporaryDirectory() as tmp:
        s = Study(model, results, b, Path(cache_dir or tmp), progress)
        if "base" in phases:
            for seed in b.seeds:
                for task in TASKS:
                    s.base(task, seed)
        for r in run_list(b):
            if r.phase in phases:
                s.run(r)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    p = validate.ArgumentParser(prog="python -m fdunlearn.erase_study", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="results .json (resumed when it is one; a folder or another file is "
                   "refused before any work)")
    p.add_argument("--model", default="minisd", help="minisd or a MiniSD model folder")
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of: {', '.join(PHASES)}")
    p.add_argument("--cache-dir", help="anchor-image cache (default: a temporary folder)")
    p.add_argument("--progress", action="store_true", help="progress bars for each erasure")

    def body() -> None:
        args = p.parse_args(argv)
        config.device()
        phases = tuple(x.strip() for x in args.phases.split(",") if x.strip())
        if args.cache_dir is not None:
            validate.output_folder(args.cache_dir, option="--cache-dir",
                                   previous=lambda f: True)  # a cache may hold anything; only a file is refused
        out = study(args.out, args.model, phases, cache_dir=args.cache_dir, progress=args.progress)
        print(f"wrote {out}")

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
