"""Lesson 03 section 7.11's mix study: how much of a table row's FID rise its class mix alone explains::

    python -m fdunlearn.vdu_digits mix --model mnist-ddpm --table data/results/vdu-fs-late.json --variants vdu-fs-late \
        --out data/results/vdu-fs-late-mix.json
"""

from __future__ import annotations

from pathlib import Path

import torch

from fdunlearn.evaluation import metrics
from fdunlearn.models import registry as models
from fdunlearn.studies import vdu_study
from fdunlearn.studies.results import Results
from fdunlearn.studies.results import load as load_results
from fdunlearn.studies.vdu_digits import _check_variants, _settings
from fdunlearn.unlearning import unlearn


def mix(model: str, out: str | Path, table_file: str | Path, variants: tuple[str, ...]) -> Path:
    """How much of each row's FID rise its class mix alone explains. The FID is taken on the classifier's features,
    where the digits sit in clusters, so it weighs *which* digits are drawn as much as how well: the table's own
    pretrained samples (drawn again with its budget and seeds) are re-mixed to a row's shares of the remaining digits
    (``metrics.mix_indices``) and scored like it, beside the same samples at their own mix, both at one count per seed
    (the largest every row of that seed allows: FID's bias moves with the count)."""
    from fdunlearn.models import classifier as clf

    _check_variants(variants)
    table_rows = load_results(table_file, f"python -m fdunlearn.vdu_digits table ... --out {table_file}")
    unet, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    budget = table_rows["settings"]["budget"]
    b = vdu_study.Budget(**{**budget, "seeds": tuple(budget["seeds"])})
    rows = [r for r in table_rows["rows"] if r.get("variant") in variants]
    if not rows:
        raise ValueError(f"{table_file} holds no rows of {', '.join(variants)}; accepted: a table with those variants")
    results = Results(out, _settings("mix", model, dataset, b, unlearn.UnlearnConfig(), table=str(table_file),
                                     variants=list(variants)))
    classifier = clf.load(f"{dataset}-classifier")
    bases = {r["key"]: r for r in table_rows["rows"] if r.get("variant") == "pretrained"}
    for seed in sorted({r["seed"] for r in rows}):
        mine = [r for r in rows if r["seed"] == seed and results.get(r["key"]) is None]
        if not mine:
            continue
        images = vdu_study.draw(unet, scheduler, b, seed)  # the table's pretrained samples again
        labels = clf.predict(classifier, images)[0].argmax(-1)
        shares = (torch.bincount(labels, minlength=10) / len(labels)).tolist()
        rest = {r["digit"]: [c for c in range(10) if c != r["digit"]] for r in mine}
        n = min(metrics.mix_capacity(labels, r["class_share"], rest[r["digit"]]) for r in mine)
        base_fid = {d: _mix_fid(dataset, images, labels, shares, classes, n, classifier) for d, classes in rest.items()}
        for r in mine:
            fid = _mix_fid(dataset, images, labels, r["class_share"], rest[r["digit"]], n, classifier)
            base = bases[f"base/digit={r['digit']}/seed={seed}"]
            b_fid = base_fid[r["digit"]]
            results.add({"key": r["key"], "variant": r["variant"], "digit": r["digit"], "seed": seed, "n": n,
                         "fid_remaining_rise": r["fid_remaining_rise"], "mix_fid": fid, "base_fid": b_fid,
                         "mix_rise": None if fid is None or not b_fid else fid / b_fid - 1,
                         "class_share": r["class_share"],
                         "base_shares_match": [round(x, 6) for x in shares] == [round(x, 6) for x in
                                                                                 base["class_share"]]})
    return Path(out)


def _mix_fid(dataset: str, images: torch.Tensor, labels: torch.Tensor, shares: list[float], classes: list[int],
             n: int, classifier) -> float | None:
    """FID on ``classes`` of ``n`` of ``images`` re-mixed to ``shares``; None when n is too small (fast mode)."""
    if n < metrics.MIN_IMAGES:
        return None
    pick = metrics.mix_indices(labels, shares, classes, n, torch.Generator().manual_seed(0))
    return metrics.evaluate(dataset, images[pick], classes, classifier)["fid"]
