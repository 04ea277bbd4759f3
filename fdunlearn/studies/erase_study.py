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
  calls them the target digit, or, for the style ``thick``, their ink fraction (``minisd.ink``) exceeds
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
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.datasets import captions
from fdunlearn.datasets import images as data
from fdunlearn.erasure import erase
from fdunlearn.evaluation import metrics
from fdunlearn.models import classifier as clf
from fdunlearn.models import minisd
from fdunlearn.studies.vdu_study import Results, encode_grid, thumbnail

__all__ = ["BUDGETS", "METHODS", "TASKS", "Budget", "Method", "Results", "Task", "best_lr", "claims", "run_list",
           "score", "study", "summarise", "table", "thick_thresholds", "thumbnail", "verdicts"]

PHASES = ("base", "reference", "anchors", "sweep", "default")
REFERENCE_LR = erase.EraseConfig().lr  # 7e-5 per sample (the reference's), times the batch size
MARGIN = 0.03  # the bar's 3 points
RETAIN = 0.95  # retained accuracy at least 95% of the base model's
TIME_LIMIT_S = 180.0  # a closed-form erasure in at most 3 minutes, anchors included


@dataclass(frozen=True)
class Task:
    """What is erased (a ``captions`` concept) and the concept it is mapped to."""

    target: str
    anchor: str

    @property
    def key(self) -> str:
        return f"{self.target}->{self.anchor}"

    @property
    def style(self) -> bool:
        return captions.digit_of(self.target) is None

    @property
    def near(self) -> bool:
        """A near anchor is another digit (its own share of the target digit should be about zero)."""
        return captions.digit_of(self.anchor) is not None


TASKS = {"generic": Task("seven", "digit"), "near": Task("seven", "one"), "style": Task("thick", "plain")}


@dataclass(frozen=True)
class Method:
    """A row of the paper's table: a divergence, its form (closed or variational) and its scaling."""

    divergence: str
    alpha: float | None = None
    variational: bool = False
    scaling: str = "reference"

    @property
    def key(self) -> str:
        name = f"alpha={self.alpha:g}" if self.divergence == "alpha" else self.divergence
        return ("var-" if self.variational else "") + name + ("-exact" if self.scaling == "exact" else "")

    @property
    def label(self) -> str:
        names = {"mse": "MSE (Concept Ablation)", "kl": "KL", "hellinger": "Hellinger", "pearson_chi2": "chi^2",
                 "jensen_shannon": "JS"}
        name = f"alpha = {self.alpha:g}" if self.divergence == "alpha" else names.get(self.divergence, self.divergence)
        if self.variational:
            return f"variational {name}"
        return f"exact {name}" if self.scaling == "exact" else name

    def config(self) -> dict:
        return {"divergence": self.divergence, "alpha": self.alpha, "variational": self.variational,
                "scaling": self.scaling}


METHODS = (Method("mse"), Method("kl", scaling="exact"), Method("hellinger"), Method("pearson_chi2"),
           Method("alpha", 0.25), Method("alpha", 1.5), Method("kl", variational=True),
           Method("hellinger", variational=True), Method("jensen_shannon", variational=True))
ANCHOR_METHODS = (Method("mse"),)  # run on the near-anchor and style tasks too


@dataclass(frozen=True)
class Budget:
    """Sizes of the study (one place): seeds, erasure steps, the lr sweep and the images that score a pipeline."""

    seeds: tuple[int, ...]
    steps: int  # erasure steps of every table/sweep run
    default_steps: int  # the `erase` CLI's default length on MiniSD (erase.MINISD_STEPS), on every seed
    lr_mults: tuple[float, ...]  # learning rates swept, as multiples of the reference's
    sweep_seeds: tuple[int, ...]  # seeds of the lr sweep beyond the reference lr (and of the default-length run)
    target_images: int  # images per scoring group: the first n prompts, or whole images per prompt beyond that
    heldout_images: int
    retained_images: int
    ddim_steps: int
    guidance: float
    n_anchor_images: int
    anchor_steps: int
    methods: tuple[Method, ...] = METHODS
    anchor_methods: tuple[Method, ...] = ANCHOR_METHODS
    anchor_lr_mults: tuple[float, ...] = (1.0,)  # learning rates of the near/style runs (every seed)
    default_methods: tuple[Method, ...] = ANCHOR_METHODS  # run at the CLI's default length (generic task)
    default_lr_mult: float = 1.0  # and the CLI's default lr (erase.MINISD_LR_MULT)


BUDGETS = {
    # sized on this 2-core CPU, one core: a 200-step K/V erasure takes about 26 s, 100 images about 13 s to score
    "full": Budget(seeds=(0, 1, 2), steps=200, default_steps=erase.MINISD_STEPS,
                   default_lr_mult=erase.MINISD_LR_MULT, lr_mults=(1.0, 3.0), sweep_seeds=(0,),
                   target_images=36, heldout_images=20, retained_images=45, ddim_steps=25, guidance=3.0,
                   n_anchor_images=128, anchor_steps=25, anchor_lr_mults=(1.0, 0.3),
                   default_methods=(METHODS[0], METHODS[2], METHODS[3])),
    "fast": Budget(seeds=(0,), steps=2, default_steps=3, lr_mults=(1.0, 10.0), sweep_seeds=(0,), target_images=4,
                   heldout_images=4,
                   retained_images=9, ddim_steps=2, guidance=3.0, n_anchor_images=4, anchor_steps=2,
                   methods=(Method("mse"), Method("hellinger"), Method("kl", variational=True)),
                   anchor_methods=(Method("mse"),), anchor_lr_mults=(1.0, 0.3)),
}


def budget() -> Budget:
    return BUDGETS[config.mode()]


# ----------------------------------------------------------------------------- scoring
@lru_cache(maxsize=1)
def thick_thresholds() -> torch.Tensor:
    """Per digit (10,), the ink fraction above which an image of that digit counts as thick: the midpoint of real
    held-out images of the digit before and after the 3x3 dilation that defined the style in training. One global
    threshold called every thick one plain (their ink, 0.11-0.14, sits below the all-digit midpoint, 0.153)."""
    real = data.load("mnist", "heldout", verbose=False)
    plain, thick = minisd.ink(real.images), minisd.ink(minisd.dilate(real.images))
    return torch.stack([(plain[real.labels == d].mean() + thick[real.labels == d].mean()) / 2 for d in range(10)])




@dataclass(frozen=True)
class EvalPrompts:
    """The prompt groups that score a pipeline for one task, with the digit each prompt names."""

    target: list[str]
    heldout: list[str]
    retained: list[str]
    retained_digits: list[int]
    anchor: list[str]
    target_digits: list[int]  # the digit of each target prompt (style task; the target digit otherwise)
    heldout_digits: list[int]


def eval_prompts(task: Task) -> EvalPrompts:
    """Target (train phrasings), held-out phrasings, retained prompts (template-major, so a grid's first row spans
    digits) and anchor prompts for ``task``."""
    train, held = captions.templates("train"), captions.templates("heldout")
    if task.style:
        target = [captions.fill(t, d, True) for t in train for d in range(10)]
        heldout = [captions.fill(t, d, True) for t in held for d in range(10)]
        retained = [captions.fill(t, d) for t in train for d in range(10)]
        digits = list(range(10)) * len(train)
        return EvalPrompts(target, heldout, retained, digits, retained, digits, list(range(10)) * len(held))
    k = captions.digit_of(task.target)
    target = [captions.fill(t, k, thick) for t in train for thick in (False, True)]
    heldout = [captions.fill(t, k, thick) for t in held for thick in (False, True)]
    others = [d for d in range(10) if d != k]
    retained = [captions.fill(t, d) for t in train for d in others]
    anchor = captions.pairs(task.target, task.anchor)[1]
    return EvalPrompts(target, heldout, retained, others * len(train), anchor, [k] * len(target), [k] * len(heldout))


def _images(pipe, prompts: list[str], n: int, seed: int, b: Budget) -> tuple[torch.Tensor, int, int]:
    """About ``n`` images: one each for the first n prompts, or ceil(n / len(prompts)) for every prompt.
    Returns the images (prompt-major), images per prompt and the number of prompts used."""
    k = min(n, len(prompts))
    per = max(1, math.ceil(n / len(prompts)))
    images = minisd.generate(pipe, prompts[:k], per, seed=seed, steps=b.ddim_steps, guidance=b.guidance)
    return images, per, k


def _shows_target(task: Task, model, images: torch.Tensor, digits: list[int], per: int) -> torch.Tensor:
    """1 per image that shows the target; ``digits`` (the digit of each prompt, ``per`` images each) sets the style's
    per-digit threshold."""
    if task.style:
        labels = torch.tensor(digits[:len(images) // per]).repeat_interleave(per)
        return (minisd.ink(images) > thick_thresholds()[labels]).float()
    return (clf.predict(model, images)[0].argmax(-1) == captions.digit_of(task.target)).float()


def _anchor_target_share(data: erase.ErasureData, task: Task, model) -> float | None:
    """Share of the anchor images (uint8) that the classifier reads as the target digit (None for the style task).
    Not the floor of an erasure: the eraser copies the frozen model's prediction at the anchor PROMPT, whose own
    share (``anchor_share``) is that floor."""
    if task.style:
        return None
    images = data.anchors.images.float().div(127.5).sub(1)
    return _shows_target(task, model, images, [], 1).mean().item()


def _reads_as(model, images: torch.Tensor, digits: list[int], per: int) -> torch.Tensor:
    labels = torch.tensor(digits[:len(images) // per]).repeat_interleave(per)
    return (clf.predict(model, images)[0].argmax(-1) == labels).float()


def score(pipe, task: Task, seed: int, b: Budget, model=None, real: data.ImageData | None = None,
          base: bool = False, grids: bool = True) -> dict:
    """Score ``pipe`` on ``task`` (module docstring); the same initial latents for every pipeline at one seed."""
    model = model or clf.load("mnist-classifier")
    real = real or data.load("mnist", "heldout", verbose=False)
    p = eval_prompts(task)
    s0 = 10_000 + 1_000 * seed
    target, per_t, _ = _images(pipe, p.target, b.target_images, s0, b)
    heldout, per_h, _ = _images(pipe, p.heldout, b.heldout_images, s0 + 1, b)
    retained, per_r, k_r = _images(pipe, p.retained, b.retained_images, s0 + 2, b)
    classes = sorted(set(p.retained_digits[:k_r]))
    kid = metrics.feature_distances(real.images[torch.isin(real.labels, torch.tensor(classes))], retained, model)
    row = {"target_acc": _shows_target(task, model, target, p.target_digits, per_t).mean().item(),
           "heldout_acc": _shows_target(task, model, heldout, p.heldout_digits, per_h).mean().item(),
           "retained_acc": _reads_as(model, retained, p.retained_digits, per_r).mean().item(),
           "kid": kid["kid_mean"], "kid_std": kid["kid_std"],
           "n_images": {"target": len(target), "heldout": len(heldout), "retained": len(retained)}}
    if task.style:
        row["content_acc"] = _reads_as(model, target, p.target_digits, per_t).mean().item()
    if base:
        if task.style:  # the anchor prompts are the retained ones
            row["anchor_share"] = _shows_target(task, model, retained, p.retained_digits, per_r).mean().item()
        else:
            anchor, per_a, _ = _images(pipe, list(dict.fromkeys(p.anchor)), b.target_images, s0 + 3, b)
            row["anchor_share"] = _shows_target(task, model, anchor, [], per_a).mean().item()
    if grids:  # 8 images each: two target prompts x 4 (digit tasks) or the first prompts in order
        row["grid_png"] = {"target": encode_grid(target[:8]), "heldout": encode_grid(heldout[:8]),
                           "retained": encode_grid(retained[:8])}
    return row


def _downsample(log: list[dict], points: int = 40) -> list[dict]:
    """Every k-th log entry (and the last), rounded: the loss and gradient curves the lesson plots."""
    k = max(1, len(log) // points)
    keep = log[k - 1::k] if log else []
    if log and keep[-1] is not log[-1]:
        keep.append(log[-1])
    return [{key: (round(v, 8) if isinstance(v, float) else v) for key, v in e.items()} for e in keep]


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

    @property
    def key(self) -> str:
        negative = "/anchor-negative" if self.anchor_negative else ""
        away = f"/away={self.away:g}" if self.away else ""
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


def _concepts(task: Task) -> list[erase.Concept]:
    targets, anchors = captions.pairs(task.target, task.anchor)
    return [erase.Concept(tuple(targets), tuple(anchors), name=task.target)]


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
             anchor_negative: bool = False, away: float = 0.0) -> erase.EraseConfig:
        return erase.EraseConfig(**method.config(), steps=steps, lr=REFERENCE_LR * lr_mult, seed=seed,
                                 n_anchor_images=self.b.n_anchor_images, anchor_steps=self.b.anchor_steps,
                                 anchor_negative=anchor_negative, away=away)

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
        cfg = self._cfg(r.method, r.lr_mult, r.steps, r.seed, r.anchor_negative, r.away)
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
        if r.away:
            row["away"] = r.away
        if r.seed == self.b.seeds[0]:
            row["log"] = _downsample(result.log)
        self.results.add(row)
        return row


def check_results_file(out: str | Path, option: str = "--out", study: str = "erase_study") -> Path:
    """Before any work: ``out`` is a new JSON file in a writable place, or a results file of ``study`` (resumed);
    a folder, or a file that is not such a results file, is refused naming it."""
    out = validate.output_file(out, suffix=".json", resume=True, option=option)
    if out.exists():
        old = io.read_json(out, f"{study} results file")
        if not (isinstance(old, dict) and isinstance(old.get("rows"), list) and isinstance(old.get("settings"), dict)):
            raise ValueError(f"{option} {out} is not a results file of {study} (no 'settings' and 'rows'); "
                             "accepted: a new .json path, or a results file to resume")
    return out


def study(out: str | Path, model: str = "minisd", phases: tuple[str, ...] = PHASES, b: Budget | None = None,
          cache_dir: str | Path | None = None, progress: bool = False) -> Path:
    """Run (or resume) the study into ``out``; ``phases`` limits it to some of ``PHASES``."""
    bad = [p for p in phases if p not in PHASES]
    if bad or not phases:
        raise ValueError(f"unknown phase(s) {bad or list(phases)!r}; accepted: {', '.join(PHASES)}")
    b = b or budget()
    check_results_file(out)
    results = Results(out, _settings(model, b))
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


# ----------------------------------------------------------------------------- summaries
FIELDS = ("target_acc", "heldout_acc", "retained_acc", "kid", "seconds", "erase_seconds", "content_acc",
          "anchor_share", "anchor_seconds")


def _stats(values: list[float]) -> tuple[float, float]:
    x = torch.tensor(values, dtype=torch.float64)
    return x.mean().item(), (x.std().item() if len(x) > 1 else 0.0)


def summarise(rows: list[dict]) -> dict[tuple, dict]:
    """Mean and standard deviation over seeds of every score, keyed by (task, method, lr_mult, steps); base rows
    by (task, "base", None, None)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["task"], "base", None, None) if r["phase"] == "base" else (r["task"], r["method"], r["lr_mult"],
                                                                            r["steps"])
        groups.setdefault(key, []).append(r)
    out = {}
    for key, group in groups.items():
        stats = {f: _stats([float(r[f]) for r in group]) for f in FIELDS if all(f in r for r in group)}
        out[key] = stats | {"n_seeds": len(group), "seeds": sorted(r["seed"] for r in group),
                            "label": group[0].get("label", "base model")}
    return out


def best_lr(summary: dict, task: str, method: str, steps: int) -> float | None:
    """The swept learning rate (multiple of the reference's) that erases hardest (lowest mean target accuracy)
    while keeping mean retained accuracy >= 95% of the base's; ties go to lower KID. None when no lr keeps it
    (then the lesson shows the one that retains most)."""
    base = summary.get((task, "base", None, None))
    cands = {k[2]: v for k, v in summary.items() if k[0] == task and k[1] == method and k[3] == steps}
    if not cands or base is None:
        return None
    ok = {x: v for x, v in cands.items() if v["retained_acc"][0] >= RETAIN * base["retained_acc"][0]}
    if not ok:
        return None
    return min(ok, key=lambda x: (round(ok[x]["target_acc"][0], 6), ok[x]["kid"][0]))


def table(summary: dict, task: str = "generic", steps: int | None = None, which: str = "reference",
          methods: tuple[Method, ...] = METHODS) -> list[dict]:
    """The paper-shaped table: one entry per method (label, lr_mult, and (mean, std) of each score), at the
    reference lr (``which="reference"``) or at each method's best swept lr (``"best"``)."""
    if which not in ("reference", "best"):
        raise ValueError(f"unknown table {which!r}; accepted: reference, best")
    steps = steps or budget().steps
    out = []
    for m in methods:
        x = 1.0 if which == "reference" else best_lr(summary, task, m.key, steps)
        note = ""
        if x is None:  # no lr keeps retained accuracy: show the one that retains most
            cands = [k for k in summary if k[0] == task and k[1] == m.key and k[3] == steps]
            if not cands:
                continue
            x = max(cands, key=lambda k: summary[k]["retained_acc"][0])[2]
            note = "no swept lr keeps 95% retained; shown: the lr that retains most"
        if (s := summary.get((task, m.key, x, steps))) is None:
            continue
        out.append({"method": m.key, "label": m.label, "variational": m.variational, "lr_mult": x, "note": note,
                    **{f: s[f] for f in ("target_acc", "heldout_acc", "retained_acc", "kid", "seconds") if f in s},
                    "n_seeds": s["n_seeds"]})
    return out


def format_table(entries: list[dict], base: dict | None = None) -> str:
    """A Markdown table (percentages, mean ± std over seeds; KID on the classifier's features, unscaled,
    ``tables``), with ``tables.KID_NOTE`` under it when a KID in it is negative or smaller than its spread."""
    from fdunlearn.evaluation import tables

    kid_label = tables.kid_label(tables.CLASSIFIER_KID)

    def pct(v):
        return f"{100 * v[0]:.1f} ± {100 * v[1]:.1f}"

    def kid(row):
        return tables.format_kid(*row["kid"], scale=tables.CLASSIFIER_KID) if "kid" in row else "–"

    lines = [f"| divergence | lr (x ref) | target acc % | held-out % | retained acc % | {kid_label} "
             "| time (s) | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    if base is not None:
        lines.append(f"| base model | – | {pct(base['target_acc'])} | {pct(base['heldout_acc'])} | "
                     f"{pct(base['retained_acc'])} | {kid(base)} | – | {base['n_seeds']} |")
    for e in entries:
        lines.append(f"| {e['label']} | {e['lr_mult']:g}{' *' if e['note'] else ''} | {pct(e['target_acc'])} | "
                     f"{pct(e['heldout_acc'])} | {pct(e['retained_acc'])} | {kid(e)} | "
                     f"{e['seconds'][0]:.0f} ± {e['seconds'][1]:.0f} | {e['n_seeds']} |")
    kids = [row["kid"] for row in [*([base] if base is not None else []), *entries] if "kid" in row]
    return "\n".join(lines) + tables.kid_note(kids)


def verdicts(summary: dict, steps: int | None = None, tasks: tuple[str, ...] = tuple(TASKS)) -> list[dict]:
    """The course's bars, one entry per (task, method, lr) measured on every seed of the study (the reference lr, and
    the anchor tasks' other lr): the bar, the value, pass. ``method`` names the lr when it is not the reference's."""
    steps = steps or budget().steps
    n_seeds = max((v["n_seeds"] for v in summary.values()), default=0)
    out = []
    for task_name, task in TASKS.items():
        base = summary.get((task_name, "base", None, None))
        if base is None or task_name not in tasks:
            continue
        out.append({"task": task_name, "what": "base target accuracy", "bar": ">= 90%",
                    "value": base["target_acc"], "pass": base["target_acc"][0] >= 0.90})
        limit = MARGIN if task.near else base["anchor_share"][0] + MARGIN
        for key, s in sorted(summary.items(), key=lambda kv: str(kv[0])):
            if key[0] != task_name or key[1] == "base" or key[3] != steps or (key[2] != 1.0 and s["n_seeds"] < n_seeds):
                continue
            method = key[1] if key[2] == 1.0 else f"{key[1]} (lr x{key[2]:g})"
            out.append({"task": task_name, "method": method, "what": "target accuracy after erasure",
                        "bar": f"<= {100 * limit:.1f}%" + ("" if task.near else " (anchor's own share + 3 points)"),
                        "value": s["target_acc"], "pass": s["target_acc"][0] <= limit})
            floor = RETAIN * base["retained_acc"][0]
            out.append({"task": task_name, "method": method, "what": "retained accuracy",
                        "bar": f">= {100 * floor:.1f}% (95% of base)", "value": s["retained_acc"],
                        "pass": s["retained_acc"][0] >= floor})
            if not key[1].startswith("var-"):
                out.append({"task": task_name, "method": method, "what": "time incl. anchor images",
                            "bar": f"<= {TIME_LIMIT_S:.0f} s", "value": s["seconds"],
                            "pass": s["seconds"][0] <= TIME_LIMIT_S})
    return out


def _verdict(holds: bool, tie: bool) -> dict:
    """A claimed win that comes out as equal numbers is a tie, not a win."""
    verdict = "tie" if holds and tie else "holds" if holds else "does not hold"
    return {"verdict": verdict, "holds": verdict == "holds"}


def claims(summary: dict, task: str = "generic", steps: int | None = None, which: str = "reference") -> list[dict]:
    """The paper's three claims, checked on the table (``which``): ``verdict`` "holds", "tie" (equal numbers: the
    claimed win is not there) or "does not hold", ``holds`` (True only for "holds"), and the numbers behind it."""
    rows = {e["method"]: e for e in table(summary, task, steps, which)}
    out = []
    if "mse" in rows and "hellinger" in rows:
        m, h = rows["mse"], rows["hellinger"]
        holds = h["target_acc"][0] <= m["target_acc"][0] and h["retained_acc"][0] >= m["retained_acc"][0]
        tie = h["target_acc"][0] == m["target_acc"][0] and h["retained_acc"][0] == m["retained_acc"][0]
        out.append({"claim": "Hellinger at least as good as MSE on both sides (erases as much, retains as much)",
                    **_verdict(holds, tie),
                    "evidence": f"target {100 * h['target_acc'][0]:.1f}% vs {100 * m['target_acc'][0]:.1f}%, "
                    f"retained {100 * h['retained_acc'][0]:.1f}% vs {100 * m['retained_acc'][0]:.1f}%"
                    + (" (equal: a tie, not a win)" if tie else "")})
    closed = {k: e for k, e in rows.items() if not e["variational"]}
    if "pearson_chi2" in closed and len(closed) > 1:
        hardest = min(closed.values(), key=lambda e: e["target_acc"][0])
        chi = closed["pearson_chi2"]
        others = [e for k, e in closed.items() if k != "pearson_chi2"]
        tie = chi["target_acc"][0] <= hardest["target_acc"][0] and any(
            abs(e["target_acc"][0] - chi["target_acc"][0]) < 1e-9 for e in others)
        out.append({"claim": "chi^2 erases hardest (lowest target accuracy among closed forms)",
                    **_verdict(chi["target_acc"][0] <= hardest["target_acc"][0], tie),
                    "evidence": f"chi^2 {100 * chi['target_acc'][0]:.1f}%, lowest {hardest['label']} "
                                f"{100 * hardest['target_acc'][0]:.1f}%" + (" (a tie, not a win)" if tie else "")})
    var = [e for e in rows.values() if e["variational"]]
    if var and closed:
        def mean(es, f):
            return sum(e[f][0] for e in es) / len(es)
        more = mean(var, "target_acc") < mean(closed.values(), "target_acc")
        worse = mean(var, "kid") > mean(closed.values(), "kid")
        out.append({"claim": "variational erases more but costs quality (higher KID)",
                    **_verdict(more and worse, False),
                    "evidence": f"mean target {100 * mean(var, 'target_acc'):.1f}% (variational) vs "
                                f"{100 * mean(closed.values(), 'target_acc'):.1f}% (closed); mean KID "
                                f"{mean(var, 'kid'):.3f} vs {mean(closed.values(), 'kid'):.3f}"})
    return out


def load(path: str | Path) -> dict:
    """A results file written by ``study``; FileNotFoundError with the command that writes it."""
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FileNotFoundError(f"{path} not found; write it with: python -m fdunlearn.erase_study --out {path}")
    return io.read_json(path, "erase_study results file")


def iter_rows(results: dict, **match) -> Iterator[dict]:
    """Rows whose fields equal ``match`` (e.g. ``task="generic", method="mse"``)."""
    for r in results["rows"]:
        if all(r.get(k) == v for k, v in match.items()):
            yield r


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
