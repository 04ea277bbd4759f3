"""A perfect unlearner scored on lesson 03's bars: how much of a table row's FID rise sampling noise alone gives.

The model retrained without class K would draw the pretrained model's samples *conditioned on not being a K* (the
pretrained model stands in for the data, as everywhere in lesson 03). That model can be sampled exactly, with no
training, by rejection: draw from the pretrained model and keep the samples the evaluation classifier does not call
K. Two such oracles, each scored like a table row against the table's own pretrained rows (same budget, same seeds):

* ``oracle-replace``: the table's pretrained samples with each K swapped for a fresh non-K sample: the smallest
  change that forgets K, as a method that touches nothing but the K trajectories would draw;
* ``oracle-fresh``: ``DRAWS`` independent sets of non-K samples per seed: a forgetting model whose samples share no
  randomness with the pretrained ones (what any change to the weights tends towards under the eta = 1 sampler).

Their FID rises are the floor (``replace``) and the noise band (``fresh``) of the table's FID bar::

    python -m fdunlearn.vdu_digits oracle --model mnist-ddpm --digits 3,7 --out data/results/fs-oracle.json
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import torch

from fdunlearn.models import classifier as clf
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.studies import vdu_study
from fdunlearn.studies.results import Results, mean_sd_float
from fdunlearn.unlearning import unlearn

DRAWS = 3  # independent fresh sets per seed
FRESH_SEED = 20_000  # sampler seed of fresh draw j for table seed s: FRESH_SEED + 100 s + j (the table uses 1000 + s)
SPARE_SEED = 30_000  # sampler seed of the replacements for table seed s: SPARE_SEED + s


def _draw_non(unet, scheduler, b: vdu_study.Budget, seed: int, labels_of, digits: tuple[int, ...],
              n: int) -> dict[int, torch.Tensor]:
    """Per digit K, the first ``n`` of ``ceil(1.25 n) + 8`` samples (sampler seed ``seed``) that the classifier does
    not call K (a class drawn a tenth of the time leaves about 1.1 n)."""
    images = ddpm.sample(unet, scheduler, math.ceil(1.25 * n) + 8, seed=seed, steps=b.ddim_steps, progress=False,
                         eta=b.eta)
    labels = labels_of(images)
    out = {}
    for d in digits:
        keep = torch.nonzero(labels != d).flatten()
        if len(keep) < n:
            raise ValueError(f"the pretrained model drew only {len(keep)} non-{d} samples of {len(images)} (seed "
                             f"{seed}); accepted: a model that draws class {d} at most about a fifth of the time")
        out[d] = images[keep[:n]]
    return out


def oracle(model: str, out: str | Path, digits: tuple[int, ...] = (3, 7), draws: int = DRAWS,
           n_samples: int | None = None) -> Path:
    """Run (or resume) both oracles for ``digits`` on the table's budget and seeds; rows like the table's."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    vd._check_digits(digits)
    if draws < 1:
        raise ValueError(f"draws={draws}; accepted: an integer >= 1")
    unet, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    b = vd._budget(n_samples)
    results = Results(out, vd._settings("oracle", model, dataset, b, unlearn.UnlearnConfig(), draws=draws,
                                        fresh_seed=FRESH_SEED, spare_seed=SPARE_SEED, oversample=1.25))
    classifier = clf.load(f"{dataset}-classifier")

    def labels_of(images: torch.Tensor) -> torch.Tensor:
        return clf.predict(classifier, images)[0].argmax(-1)

    def add(key: str, variant: str, digit: int, seed: int, images: torch.Tensor, base: dict, **extra) -> dict:
        row = vdu_study.score_images(images, dataset, digit, b)
        row.pop("grid_png")
        row = {"key": key, "variant": variant, "digit": digit, "seed": seed, **extra, **row}
        if variant != "pretrained":
            row["fid_remaining_rise"] = row["fid_remaining"] / base["fid_remaining"] - 1
        results.add(row)
        return row

    for seed in b.seeds:
        todo = [d for d in digits if results.get(f"oracle-replace/digit={d}/seed={seed}") is None]
        bases = {d: results.get(f"base/digit={d}/seed={seed}") for d in digits}
        if todo or any(r is None for r in bases.values()):
            images = vdu_study.draw(unet, scheduler, b, seed)  # the table's pretrained samples
            labels = labels_of(images)
            need = max(int((labels == d).sum()) for d in digits)
            spare = _draw_non(unet, scheduler, b, SPARE_SEED + seed, labels_of, digits, need)
            for d in digits:
                if bases[d] is None:
                    bases[d] = add(f"base/digit={d}/seed={seed}", "pretrained", d, seed, images, {})
                if d in todo:
                    swapped = images.clone()
                    own = torch.nonzero(labels == d).flatten()
                    swapped[own] = spare[d][:len(own)]
                    add(f"oracle-replace/digit={d}/seed={seed}", "oracle-replace", d, seed, swapped, bases[d],
                        swapped=len(own))
        for j in range(draws):
            todo = [d for d in digits if results.get(f"oracle-fresh/digit={d}/seed={seed}/draw={j}") is None]
            if not todo:
                continue
            print(f"[vdu_oracle] fresh draw {j} for seed {seed}", flush=True)
            fresh = _draw_non(unet, scheduler, b, FRESH_SEED + 100 * seed + j, labels_of, tuple(todo), b.n_samples)
            for d in todo:
                add(f"oracle-fresh/digit={d}/seed={seed}/draw={j}", "oracle-fresh", d, seed, fresh[d], bases[d],
                    draw=j)
    return Path(out)


def _rises_by_seed(results: dict, digit: int, variant: str) -> dict[int, list[float]]:
    """``variant``'s FID rises on ``digit``, grouped by seed (seeds in order)."""
    out: dict[int, list[float]] = {}
    for r in results["rows"]:
        if r["variant"] == variant and r["digit"] == digit and r.get("fid_remaining_rise") is not None:
            out.setdefault(r["seed"], []).append(r["fid_remaining_rise"])
    return dict(sorted(out.items()))


def band(results: dict, digit: int) -> dict[str, float]:
    """One digit's oracles: the replace oracle's mean rise over seeds; the fresh oracle's mean over every draw, its
    range, and the sd of a method's 3-seed mean rise that sampling noise alone gives (each seed's base is fixed, so
    that sd is sqrt(mean over seeds of the within-seed variance of the draws / number of seeds))."""
    replace = [x for v in _rises_by_seed(results, digit, "oracle-replace").values() for x in v]
    per_seed = _rises_by_seed(results, digit, "oracle-fresh")
    if not replace or not per_seed:
        raise ValueError(f"no oracle rows for digit {digit}; accepted: a digit the oracle study ran")
    within = [mean_sd_float(v)[1] ** 2 for v in per_seed.values() if len(v) > 1]
    draws = [x for v in per_seed.values() for x in v]
    return {"replace_mean": mean_sd_float(replace)[0], "fresh_mean": mean_sd_float(draws)[0],
            "fresh_min": min(draws), "fresh_max": max(draws),
            "fresh_seed_means": {s: mean_sd_float(v)[0] for s, v in per_seed.items()},
            "fresh_mean_sd": math.sqrt(sum(within) / len(within) / len(per_seed)) if within else math.nan}


def bar_share(results: dict, digit: int, bar: float) -> tuple[int, int]:
    """Of the ways to pick one fresh draw per seed, how many give a 3-seed mean FID rise within ``bar``: how often a
    perfect unlearner whose samples share no randomness with the pretrained ones meets the quality bar."""
    picks = list(itertools.product(*_rises_by_seed(results, digit, "oracle-fresh").values()))
    return sum(sum(p) / len(p) <= bar for p in picks), len(picks)


def _method_rises(tables: tuple[dict, ...], digit: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for table in tables:  # per variant in seed order (a resumed table may hold its rows in another order)
        for r in sorted(table["rows"], key=lambda r: r["seed"]):
            if r["digit"] == digit and r["variant"] != "pretrained" and r.get("fid_remaining_rise") is not None:
                out.setdefault(r["variant"], []).append(r["fid_remaining_rise"])
    return out


def markdown(results: dict, *tables: dict) -> str:
    """Per digit: both oracles, then every method row of ``tables`` (``vdu_digits table`` files on the same budget
    and seeds), as mean FID rise over seeds and its distance above the fresh oracle in sds of a 3-seed mean."""
    lines = ["| digit | model | FID rise, mean over seeds | per seed | above a perfect unlearner (fresh) |",
             "|---|---|---|---|---|"]
    for d in sorted({r["digit"] for r in results["rows"]}):
        b = band(results, d)
        seeds = sorted(b["fresh_seed_means"])
        replace = " / ".join(f"{100 * x:+.0f}" for v in _rises_by_seed(results, d, "oracle-replace").values()
                             for x in v)
        lines.append(f"| {d} | perfect unlearner, the pretrained samples with the class swapped | "
                     f"{100 * b['replace_mean']:+.0f}% | {replace} | "
                     f"{100 * (b['replace_mean'] - b['fresh_mean']):+.0f} points |")
        fresh = " / ".join(f"{100 * b['fresh_seed_means'][s]:+.0f}" for s in seeds)
        lines.append(f"| {d} | perfect unlearner, fresh samples (every draw: {100 * b['fresh_min']:+.0f} to "
                     f"{100 * b['fresh_max']:+.0f}%) | {100 * b['fresh_mean']:+.0f} ± {100 * b['fresh_mean_sd']:.0f}%"
                     f" | {fresh} (draws averaged) | 0 |")
        for v, rises in _method_rises(tables, d).items():
            m = sum(rises) / len(rises)
            gap = m - b["fresh_mean"]  # rounded before printing, so that a gap of -0.004 reads +0, not -0
            lines.append(f"| {d} | {v} | {100 * m:+.0f}% | {' / '.join(f'{100 * x:+.0f}' for x in rises)} | "
                         f"{round(100 * gap):+d} points ({round(gap / b['fresh_mean_sd'], 1) + 0:+.1f} sd) |")
    return "\n".join(lines)


def summary(results: dict, bar: float) -> str:
    """One sentence per digit: where a perfect unlearner lands against the quality bar ``bar``."""
    parts = []
    for d in sorted({r["digit"] for r in results["rows"]}):
        b, (ok, n) = band(results, d), bar_share(results, d, bar)
        parts.append(f"digit {d}: a perfect unlearner's FID rises {100 * b['fresh_mean']:+.0f} ± "
                     f"{100 * b['fresh_mean_sd']:.0f}% on fresh samples ({ok} of the {n} ways to pick one draw per "
                     f"seed meet the +{100 * bar:.0f}% bar) and {100 * b['replace_mean']:+.0f}% when only the "
                     "class's own samples change")
    return "; ".join(parts) + "."


def _by_seed(table: dict, variant: str, digit: int, field: str) -> dict[int, float]:
    return {r["seed"]: float(r[field]) for r in table["rows"] if r["variant"] == variant and r["digit"] == digit
            and r.get(field) is not None}


def _pct(values: dict[int, float], seeds: list[int]) -> float:
    return 100 * sum(values[s] for s in seeds) / len(seeds)


def placebo_summary(placebo: dict, method: dict, variant: str = "fs-guide",
                    placebo_variant: str = "fs-guide-placebo") -> str:
    """One clause per digit: the placebo run (``variant`` with its correction off) against ``variant`` itself, seed
    by seed (same training and sampler seeds, so the difference of their FID rises is paired): what the same steps
    with no signal do to the forget share and the FID rise, and what the correction adds on top. A placebo starts at
    its own target, so its first logged loss is float round-off (printed when the rows record it); every later step
    is Adam rescaling that round-off into a step of about lr on every weight."""
    firsts = [r["first_losses"][0] for r in placebo["rows"] if r["variant"] == placebo_variant
              and r.get("first_losses")]
    parts = []
    if firsts:
        parts.append(f"the placebo's first logged loss is at most {max(firsts):.0e} (round-off: it starts at its "
                     "target)")
    for d in sorted({r["digit"] for r in placebo["rows"] if r["variant"] == placebo_variant}):
        base = _by_seed(placebo, "pretrained", d, "forget_share")
        kept = _by_seed(placebo, placebo_variant, d, "forget_share")
        p_rise = _by_seed(placebo, placebo_variant, d, "fid_remaining_rise")
        m_rise = _by_seed(method, variant, d, "fid_remaining_rise")
        seeds = sorted(set(p_rise) & set(m_rise))
        if not seeds:
            raise ValueError(f"no seed of digit {d} in both {placebo_variant!r} and {variant!r}; accepted: tables "
                             "that ran the same digits and seeds")
        gaps = [m_rise[s] - p_rise[s] for s in seeds]
        parts.append(f"digit {d}: the placebo leaves {_pct(kept, seeds):.1f}% of the digit (pretrained "
                     f"{_pct(base, seeds):.1f}%) and its FID rises {_pct(p_rise, seeds):+.0f}%, where {variant} "
                     f"rises {_pct(m_rise, seeds):+.0f}%: {100 * sum(gaps) / len(gaps):+.0f} points over the placebo "
                     f"(per seed {' / '.join(f'{100 * g:+.0f}' for g in gaps)})")
    return "; ".join(parts) + "."
