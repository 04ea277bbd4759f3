"""Lesson 04's regimes study: when does the choice of f show?

On MiniSD at the reference settings every closed form erases exactly like MSE (``erase_study``): the gap m between
the two noise predictions is ~1e-3, so each loss phi(m) is "MSE times a nearly constant factor", and AdamW divides
that factor out. Per sample the gradient of a closed form is w_i times MSE's (``losses.multipliers``); f can only
matter through how much w_i varies (from sample to sample, and over the run) or, under an optimiser that does not
normalise the step, through its size. This study puts MSE, Hellinger and chi^2 (``DIVERGENCES``), on the same
paired seeds, into the regimes where that can happen:

* ``temperature``: the temperature s in {1, 0.3, 0.1, 0.03} under Adam: the argument m/s^2 grows as 1/s^2, which
  moves Hellinger and chi^2 out of their linear regime (MSE ignores s: its s = 1 runs are the baseline for every s);
* ``sgd``: plain SGD (no momentum), where the step is lr times the gradient, so Hellinger's 1/8 and chi^2's e^m reach
  the weights, at the MATCHED lr (the one at which SGD's first update has the norm of Adam's for MSE at the reference
  lr, computed on each seed's first batch: lr = ||Adam's first update|| / ||gradient|| / batch size, the geometric
  mean over seeds, row ``calibration/sgd-lr``) and at 10 times it;
* ``far``: a far anchor, "seven" -> the empty prompt "" (the unconditional prediction), Adam, s = 1: a larger gap m;
* ``critic``: the variational Hellinger with the reference code's leaky critic (its critic gradients leak from the
  generator's backward into the critic's next step) against our fixed critic, on the first three seeds; here the
  partner of the leaky run is the fixed one, not MSE.

Each row: ``target_acc``, ``heldout_acc``, ``retained_acc``, ``kid`` (``erase_study.score``: the same images, scorer
and classifier as lesson 04's table), ``erase_seconds`` (wall time of the erasure, anchors cached), the per-sample
multipliers over the run (``multipliers``: mean, min, max, and the within-batch max/min ratio, mean and max over
steps) and ``weight_distance`` = ||W_f - W_mse|| / ||W_mse - W_0|| to the MSE run of the same regime and seed
(``paired.weight_distance``). Weights are not stored in the results: the MSE runs' trained weights are kept in
``--weights-dir`` (about 1 MB each) until their partners have run. ``comparisons`` pairs every row with its MSE
partner by seed (``paired.paired_difference``: mean difference, bootstrap interval, verdict).

The file is rewritten atomically after every run; an interrupted study resumes where it stopped::

    python -m fdunlearn.erase_regimes --out data/results/erasure_regimes.json
    FDUNLEARN_FAST=1 python -m fdunlearn.erase_regimes --out outputs/erasure_regimes_fast.json   # seconds
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.datasets import captions
from fdunlearn.datasets import images as data
from fdunlearn.erasure import erase
from fdunlearn.evaluation import paired
from fdunlearn.models import classifier as clf
from fdunlearn.models import minisd
from fdunlearn.studies import erase_study, erase_tasks
from fdunlearn.studies.regimes_runs import (
    ANCHOR_SECONDS,
    ANCHORS,
    BUDGETS,
    CALIBRATION_KEY,
    DIVERGENCES,
    EXPERIMENTS,
    FIRST_SEEDS,
    LABELS,
    METRICS,
    REFERENCE_LR,
    SCORE_SECONDS,
    STEP_SECONDS,
    TASK,
    Budget,
    Run,
    _duration,
    budget,
    concepts,
    estimate_seconds,
    label,
    multiplier_summary,
    run_list,
)
from fdunlearn.studies.results import Results, minisd_study_parser, open_results, run_with_scratch

# The study's one face: its runs' definitions (``regimes_runs``) are reached as erase_regimes.NAME too.
__all__ = ["ANCHOR_SECONDS", "BUDGETS", "CALIBRATION_KEY", "DIVERGENCES", "EXPERIMENTS", "FIRST_SEEDS", "LABELS",
           "REFERENCE_LR", "SCORE_SECONDS", "STEP_SECONDS", "Budget", "Run", "comparisons", "concepts",
           "estimate_seconds", "main", "multiplier_summary", "run_list", "study"]


def _settings(model: str, b: Budget) -> dict:
    return {"model": str(model), "budget": dataclasses.asdict(b), "reference_lr": REFERENCE_LR, "mode": config.mode(),
            "anchors": ANCHORS, "task": dataclasses.asdict(TASK), "eval_seed_offset": 10_000, "scaling": "reference"}


def _settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _empty_prompt_images(pipe, n: int, seed: int, b: erase_study.Budget) -> torch.Tensor:
    """``n`` model-space images at the empty prompt, sampled as ``minisd.generate`` samples (which refuses "")."""
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size
    latents = torch.randn((n, pipe.unet.config.in_channels, size, size), generator=torch.Generator().manual_seed(seed))
    images = pipe([""] * n, latents=latents.to(pipe.device), num_inference_steps=b.ddim_steps,
                  guidance_scale=b.guidance, output_type="pt").images
    return images.float().cpu().mul(2).sub(1)


# ----------------------------------------------------------------------------- the study
class _Study:
    """One loaded pipeline, classifier, real images, anchor cache and MSE-weights folder for the whole study."""

    def __init__(self, model: str, results: Results, b: Budget, cache_dir: Path, weights_dir: Path,
                 progress: bool) -> None:
        self.pipe = minisd.load_pipeline(model)
        self.model, self.results, self.b, self.cache, self.progress = model, results, b, cache_dir, progress
        self.weights_dir = weights_dir / _settings_hash(results.data["settings"])
        self.classifier = clf.load("mnist-classifier")
        self.real = data.load("mnist", "heldout", verbose=False)
        self.anchors_ready: set[tuple[str, int]] = set()

    def _cfg(self, r: Run, lr: float, steps: int | None = None) -> erase.EraseConfig:
        variational = {"variational": True, "critic": r.critic} if r.critic else {}
        return erase.EraseConfig(divergence=r.divergence, scaling="reference", temperature=r.temperature,
                                 **variational,
                                 optimizer=r.optimizer, steps=steps or self.b.steps, lr=lr, seed=r.seed,
                                 n_anchor_images=self.b.scoring.n_anchor_images,
                                 anchor_steps=self.b.scoring.anchor_steps)

    def _anchors(self, task: str, seed: int) -> float:
        """Generate (or find) the anchor images of ``task`` at ``seed``; the seconds it took."""
        t0 = time.time()
        erase.prepare(self.pipe, concepts(ANCHORS[task]), self._cfg(Run("temperature", "mse", seed), REFERENCE_LR, 1),
                      cache_dir=self.cache, progress=self.progress)
        self.anchors_ready.add((task, seed))
        return time.time() - t0

    def base(self, task: str, seed: int) -> dict:
        """The base model's scores (generic) or its share of sevens at the empty prompt (far), and the time the task's
        anchor images took (cold cache)."""
        key = f"base/{task}/seed={seed}"
        if (row := self.results.get(key)) is not None:
            return row
        print(f"[erase_regimes] {key}", flush=True)
        anchor_seconds = self._anchors(task, seed)
        row = {"key": key, "phase": "base", "task": task, "seed": seed, "anchor": ANCHORS[task],
               "anchor_seconds": round(anchor_seconds, 1)}
        if task == "generic":
            row |= erase_study.score(self.pipe, TASK, seed, self.b.scoring, self.classifier, self.real, base=True,
                                     grids=seed == self.b.seeds[0])
        else:  # the same target/retained scores as the generic base; only the anchor's own share differs
            images = _empty_prompt_images(self.pipe, self.b.scoring.target_images, 10_000 + 1_000 * seed + 3,
                                          self.b.scoring)
            digit = captions.digit_of(TASK.target)
            row["anchor_share"] = (clf.predict(self.classifier, images)[0].argmax(-1) == digit).float().mean().item()
        self.results.add(row)
        return row

    def calibrate(self) -> dict:
        """The matched SGD lr: on each seed's first batch, ||Adam's first update|| / ||MSE's gradient|| / batch size
        (Adam at the reference lr, MSE); their geometric mean over the seeds."""
        if (row := self.results.get(CALIBRATION_KEY)) is not None:
            return row
        print(f"[erase_regimes] {CALIBRATION_KEY}", flush=True)
        per_seed = {}
        for seed in self.b.seeds:
            self.base("generic", seed)  # its anchor images, timed there
            if ("generic", seed) not in self.anchors_ready:  # a resumed study: fill the cache
                self._anchors("generic", seed)
            cfg = self._cfg(Run("sgd", "mse", seed), REFERENCE_LR, steps=1)
            result = erase.erase(self.pipe, concepts(ANCHORS["generic"]), cfg, cache_dir=self.cache, progress=False)
            erase.apply(self.pipe, result.original)
            update = math.sqrt(sum(float((result.weights[n] - result.original[n]).double().pow(2).sum())
                                   for n in result.weights))
            grad = result.log[0]["grad_norm"]
            if not (grad > 0 and update > 0):
                raise ValueError(f"seed {seed}: MSE's first gradient ({grad}) or Adam's first update ({update}) is "
                                 "zero; the matched SGD lr is undefined")
            per_seed[str(seed)] = {"adam_update_norm": update, "grad_norm": grad,
                                   "lr": update / grad / cfg.batch_size}
        lr = math.exp(sum(math.log(v["lr"]) for v in per_seed.values()) / len(per_seed))
        if lr * max(self.b.sgd_lr_mults) > erase.MAX_SGD_LR:
            raise ValueError(f"the matched SGD lr {lr:.3g} x {max(self.b.sgd_lr_mults):g} exceeds the limit "
                             f"{erase.MAX_SGD_LR:g} per sample")
        row = {"key": CALIBRATION_KEY, "phase": "calibration", "lr": lr, "adam_lr": REFERENCE_LR,
               "batch_size": erase.EraseConfig().batch_size, "per_seed": per_seed,
               "rule": "per seed: ||Adam's first update|| / ||MSE gradient|| / batch size; geometric mean over seeds"}
        self.results.add(row)
        return row

    def _weights_file(self, r: Run) -> Path:
        return self.weights_dir / (r.key.replace("/", "_").replace("=", "-") + ".safetensors")

    def run(self, r: Run) -> dict:
        if (row := self.results.get(r.key)) is not None:
            return row
        task = "far" if r.experiment == "far" else "generic"
        self.base("generic", r.seed)
        base = self.base(task, r.seed) if task == "far" else None
        lr = REFERENCE_LR * r.lr_mult if r.optimizer == "adam" else self.calibrate()["lr"] * r.lr_mult
        print(f"[erase_regimes] {r.key}", flush=True)
        if (task, r.seed) not in self.anchors_ready:  # a resumed study: fill the cache outside the timing
            self._anchors(task, r.seed)
        cfg = self._cfg(r, lr)
        result = erase.erase(self.pipe, concepts(r.anchor), cfg, base=str(self.model), cache_dir=self.cache,
                             progress=self.progress)
        try:
            scores = erase_study.score(self.pipe, TASK, r.seed, self.b.scoring, self.classifier, self.real,
                                       grids=r.seed == self.b.seeds[0])
        finally:
            erase.apply(self.pipe, result.original)
        distance, note = 0.0, ""
        if r.partner() == r:  # a partner (MSE, or the fixed critic): keep its weights for the others' distance
            self.weights_dir.mkdir(parents=True, exist_ok=True)
            io.save_tensors(result.weights, self._weights_file(r))
        elif self._weights_file(r.partner()).is_file():
            distance = paired.weight_distance(result.weights, io.load_tensors(self._weights_file(r.partner())),
                                              result.original)
        else:
            distance, note = None, f"the MSE run's weights ({self._weights_file(r.partner())}) are missing"
        final = result.log[-1] if result.log else {}
        row = {"key": r.key, "phase": "run", "experiment": r.experiment, "divergence": r.divergence,
               "label": label(r), "setting": r.setting, "seed": r.seed,
               "temperature": r.temperature, "optimizer": r.optimizer, "lr_mult": r.lr_mult, "lr": lr,
               "anchor": r.anchor, "steps": cfg.steps, "partner": r.partner().key,
               "erase_seconds": round(result.seconds, 1), "multipliers": multiplier_summary(result.log),
               "weight_distance": distance, "final": {k: v for k, v in final.items() if k != "seconds"}, **scores}
        if base is not None:
            row["anchor_share"] = base["anchor_share"]
        if note:
            row["note"] = note
        if r.seed == self.b.seeds[0]:
            row["log"] = erase_tasks._downsample(result.log)
        self.results.add(row)
        return row


def study(out: str | Path, model: str = "minisd", experiments: tuple[str, ...] = EXPERIMENTS, b: Budget | None = None,
          cache_dir: str | Path | None = None, weights_dir: str | Path | None = None, progress: bool = False) -> Path:
    """Run (or resume) the study into ``out``; ``experiments`` limits it to some of ``EXPERIMENTS``.
    ``weights_dir``: where the MSE runs' weights wait for their partners (default ``<output dir>/erase_regimes``)."""
    validate.known("experiment", experiments, EXPERIMENTS)
    b = b or budget()
    results = open_results(out, "erase_regimes", _settings(model, b))
    weights_dir = Path(weights_dir) if weights_dir is not None else config.output_dir() / "erase_regimes"
    with tempfile.TemporaryDirectory() as tmp:
        s = _Study(model, results, b, Path(cache_dir or tmp), weights_dir, progress)
        for r in run_list(b, experiments):
            s.run(r)
    return Path(out)


# ----------------------------------------------------------------------------- summaries
def comparisons(rows: list[dict], metrics: tuple[str, ...] = METRICS, n_boot: int = paired.N_BOOTSTRAP) -> list[dict]:
    """Every (experiment, setting, divergence) that has a partner (MSE; for the leaky critic, the fixed critic) against
    it on the shared seeds: per metric the paired difference (run minus partner: mean, bootstrap interval, verdict),
    the partner's label, and the mean weight distance and multipliers. Settings whose partner rows are missing are
    skipped."""
    runs = [r for r in rows if r.get("phase") == "run"]
    by_key = {r["key"]: r for r in runs}
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        if r["partner"] != r["key"]:
            groups.setdefault((r["experiment"], r["setting"], r["divergence"]), []).append(r)
    out = []
    for (exp, setting, div), group in groups.items():
        pairs = [(r, by_key[r["partner"]]) for r in group if r["partner"] in by_key]
        if not pairs:
            continue
        entry = {"experiment": exp, "setting": setting, "divergence": div, "label": group[0]["label"],
                 "partner_label": pairs[0][1]["label"],
                 "seeds": sorted(r["seed"] for r, _ in pairs), "n": len(pairs)}
        for m in metrics:
            if all(m in r and m in p for r, p in pairs):
                entry[m] = paired.paired_difference({r["seed"]: r[m] for r, _ in pairs},
                                                    {r["seed"]: p[m] for r, p in pairs}, n_boot=n_boot)
                entry[m]["value"] = sum(r[m] for r, _ in pairs) / len(pairs)
                entry[m]["mse_value"] = sum(p[m] for _, p in pairs) / len(pairs)
        dists = [r["weight_distance"] for r, _ in pairs if r.get("weight_distance") is not None]
        entry["weight_distance"] = sum(dists) / len(dists) if dists else None
        mults = [r["multipliers"] for r, _ in pairs if r.get("multipliers")]
        entry["batch_ratio_max"] = max((m["batch_ratio_max"] or 1.0) for m in mults) if mults else None
        entry["multiplier_mean"] = sum(m["mean"] for m in mults) / len(mults) if mults else None
        out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    full = BUDGETS["full"]
    p = minisd_study_parser(
        "python -m fdunlearn.erase_regimes", __doc__,
        work=f"Full mode (default) runs {len(run_list(full))} erasures of {full.steps} steps on seeds "
        f"{', '.join(map(str, full.seeds))}, plus the base models and the SGD calibration",
        duration=_duration(estimate_seconds(full)),
        basis=f"lesson 04's measured times (about {STEP_SECONDS:g} s per erasure step, {SCORE_SECONDS:g} s to score a "
        f"pipeline, {ANCHOR_SECONDS:g} s of anchor images per task and seed)",
        fast="2 seeds, 2-step erasures, MSE and Hellinger")
    p.add_argument("--experiments", default=",".join(EXPERIMENTS),
                   help=f"comma-separated subset of: {', '.join(EXPERIMENTS)}")
    p.add_argument("--cache-dir", help="anchor-image cache (default: a temporary folder)")
    p.add_argument("--weights-dir", help="where the MSE runs' weights are kept for the weight distance "
                   "(default: <output dir>/erase_regimes)")
    p.add_argument("--progress", action="store_true", help="progress bars for each erasure")

    def body() -> None:
        args = p.parse_args(argv)
        config.device()
        experiments = validate.comma_subset("--experiments", args.experiments, EXPERIMENTS)
        run_with_scratch(args, "erase_regimes", lambda: study(
            args.out, args.model, experiments, cache_dir=args.cache_dir, weights_dir=args.weights_dir,
            progress=args.progress))

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
