"""Which seed moves the share left: the unlearning run's or the scored samples' (lesson 03 section 7.21).

A seed of the digits tables fixes three things at once: the 100 forget images and the optimiser's noise (the run's
seed, ``UnlearnConfig.seed``) and the noise of the 1,000 samples the model is scored on (the sampler's seed,
``vdu_study.draw``). Here each run seed's model is scored on the samples of every sampler seed, so the two split::

    python -m fdunlearn.vdu_digits seeds --model mnist-ddpm --digit 3 --variants fs-guide-ema-scale1.25-lr2e4 \\
        --out FILE.json      # lesson 03's file: vdu_digits.COMMANDS["fs-guide-seeds"]
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from fdunlearn.models import registry as models
from fdunlearn.studies import guide_bands, guide_fit, vdu_study
from fdunlearn.studies.results import Results
from fdunlearn.unlearning import unlearn


def crossed(model: str, out: str | Path, digit: int, variants: tuple[str, ...], seeds: tuple[int, ...] = (0, 1, 2),
            cfg0: unlearn.UnlearnConfig | None = None, n_samples: int | None = None) -> Path:
    """Run (or resume) one unlearning run per variant and run seed, each scored on every sampler seed's samples; the
    pretrained model is scored once per sampler seed (FID rises are against the same samples' pretrained FID)."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    guide_fit.check_runs("seeds", digit, variants, seeds)
    cfg0 = cfg0 or unlearn.UnlearnConfig()
    b = vd._budget(n_samples)
    old, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    results = Results(out, vd._settings("seeds", model, dataset, b, cfg0, digit=digit))
    base = {}
    for s in seeds:
        base[s] = results.get(f"base/sample={s}")
        if base[s] is None:
            base[s] = {"key": f"base/sample={s}", "variant": "pretrained", "sample": s,
                       **guide_bands.brief_score(vdu_study.draw(old, scheduler, b, s), dataset, digit, b)}
            results.add(base[s])
    for v in variants:
        for r in seeds:
            todo = [s for s in seeds if results.get(f"{v}/run={r}/sample={s}") is None]
            if not todo:
                continue
            print(f"[vdu_digits] seeds {v}/digit={digit}/run={r}", flush=True)
            cfg = dataclasses.replace(cfg0, forget_class=digit, seed=r, **vd.VARIANTS[v])
            new = vd.unlearned_net(model, cfg)
            for s in todo:
                row = guide_bands.brief_score(vdu_study.draw(new, scheduler, b, s), dataset, digit, b)
                results.add({"key": f"{v}/run={r}/sample={s}", "variant": v, "run": r, "sample": s, **row,
                             "fid_rise": row["fid_remaining"] / base[s]["fid_remaining"] - 1})
    return Path(out)


def by_seed(results: dict, variant: str) -> dict[str, dict[int, float]]:
    """The share left, averaged over the other seed: per run seed (``run``) and per sampler seed (``sample``); the
    pretrained model's share per sampler seed (``pretrained``)."""
    rows = [r for r in results["rows"] if r["variant"] == variant]
    if not rows:
        raise ValueError(f"no runs of {variant!r} in this file; it holds: "
                         + ", ".join(sorted({r["variant"] for r in results["rows"]})))
    out: dict[str, dict[int, float]] = {}
    for kind in ("run", "sample"):
        groups: dict[int, list[float]] = {}
        for r in rows:
            groups.setdefault(r[kind], []).append(r["forget_share"])
        out[kind] = {k: sum(v) / len(v) for k, v in sorted(groups.items())}
    out["pretrained"] = {r["sample"]: r["forget_share"] for r in results["rows"] if r["variant"] == "pretrained"}
    return out


def line(results: dict, variant: str) -> str:
    """One sentence: the share left by sampler seed and by run seed (each averaged over the other) and the range of
    each; the mean of every scoring against that of the ones a digits table makes (run seed = sampler seed); and one
    scoring's binomial sd at that mean, sqrt(p (1 - p) / n): how far a share moves by the samples drawn alone."""
    s = by_seed(results, variant)
    rows = [r for r in results["rows"] if r["variant"] == variant]
    every = sum(r["forget_share"] for r in rows) / len(rows)
    same = [r["forget_share"] for r in rows if r["run"] == r["sample"]]
    n = results["settings"]["budget"]["n_samples"]
    noise = (f"; all {len(rows)} scorings {100 * every:.2f}%"
             + (f", the {len(same)} a digits table makes (run seed = sampler seed) {100 * sum(same) / len(same):.2f}%"
                if same else "")
             + f"; one scoring of {n:,} samples has a binomial sd of {100 * math.sqrt(every * (1 - every) / n):.2f}"
             " points at that share")

    def part(kind: str, what: str) -> str:
        v = s[kind]
        return (f"by {what} " + ", ".join(f"{k}: {100 * x:.2f}%" for k, x in v.items())
                + f" ({100 * (max(v.values()) - min(v.values())):.2f} points apart)")

    n_runs, n_samples = len(s["run"]), len(s["sample"])
    return (f"{variant}, digit {results['settings']['digit']}, {n_runs} runs each scored on {n_samples} sample sets: "
            f"share left {part('sample', 'sampler seed')}; {part('run', 'run seed (forget set and optimiser)')}"
            + noise)
