"""The forget-like filter measured in pixels and in the pretrained network's own features (lesson 03 section 7.27).

``replay.forget_like`` compares distances from each replay sample to D_f and to the rest of the replay set. In pixels
digits that share strokes sit near each other; ``replay.denoiser_features`` measures the same test in the pretrained
network's bottleneck instead. Per digit, forget-set seed and space, audited by the course classifier (which
the filter never sees): the replay samples read as the digit, how many the filter drops at its ratio, how many of the
digit it keeps, and the statistic's AUC (the chance that a replay sample of the digit ranks as more forget-like than
one of another digit: 1 means the statistic alone separates them)::

    python -m fdunlearn.vdu_digits filter-space --model mnist-ddpm --digits 3,7 --out FILE.json
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from fdunlearn.models import registry as models
from fdunlearn.studies.results import Results
from fdunlearn.unlearning import replay, unlearn


def auc(statistic: torch.Tensor, positive: torch.Tensor) -> float:
    """P(a positive's statistic < a negative's), ties counting half (Mann-Whitney): lower means more forget-like."""
    pos, neg = statistic[positive], statistic[~positive]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"AUC needs both classes; got {len(pos)} positive and {len(neg)} negative samples")
    pos, neg = pos.view(-1, 1), neg.view(1, -1)
    return float((pos < neg).double().mean() + 0.5 * (pos == neg).double().mean())


def audit(model: str, out: str | Path, digits: tuple[int, ...] = (3, 7),
          base_cfg: unlearn.UnlearnConfig | None = None) -> Path:
    """Run (or resume) the audit: one row per digit, forget-set seed (the tables' seeds) and space
    (``replay.FILTER_SPACES``)."""
    from fdunlearn.models import classifier as clf
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    vd._check_digits(digits)
    cfg0 = base_cfg or unlearn.UnlearnConfig()
    unet, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    budget = vd._budget(None)
    results = Results(out, vd._settings("filter-space", model, dataset, budget, cfg0,
                                        spaces=list(replay.FILTER_SPACES)))
    images, _ = replay.replay_set(unet, scheduler, rec["sha256"], cfg0.replay_n, cfg0.replay_seed)
    labels = clf.predict(clf.load(f"{dataset}-classifier"), images)[0].argmax(-1)
    for digit in digits:
        is_digit = labels == digit
        for seed in budget.seeds:
            x_forget, _ = unlearn.forget_set(dataset, dataclasses.replace(cfg0, forget_class=digit, seed=seed))
            for space in replay.FILTER_SPACES:
                key = f"filter-space/digit={digit}/seed={seed}/space={space}"
                if results.get(key):
                    continue
                replay_side, forget_side = replay.filter_space(unet, images, x_forget, space)
                stat = replay.forget_like_statistic(replay_side, forget_side)
                drop = replay.forget_like(replay_side, forget_side, ratio=cfg0.replay_filter_ratio)
                results.add({"key": key, "digit": digit, "seed": seed, "space": space, "replay_n": len(images),
                             "ratio": cfg0.replay_filter_ratio, "read_as_digit": int(is_digit.sum()),
                             "dropped": int(drop.sum()), "digit_kept": int((is_digit & ~drop).sum()),
                             "others_dropped": int((~is_digit & drop).sum()),
                             "auc": auc(stat, is_digit) if 0 < int(is_digit.sum()) < len(images) else None})
    return Path(out)


def _mean(rows: list[dict], name: str) -> float:
    """The mean of ``name`` over ``rows`` (the forget sets of the seeds), skipping a None (an AUC with one class)."""
    values = [r[name] for r in rows if r[name] is not None]
    return sum(values) / len(values) if values else float("nan")


def markdown(results: dict) -> str:
    """The audit as a table: per digit and space, means over the forget sets of the seeds."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in results["rows"]:
        groups.setdefault((r["digit"], r["space"]), []).append(r)
    lines = ["| digit | space | replay samples read as the digit | dropped: of the digit + others | "
             "of the digit kept | AUC | forget sets |", "|---|---|---|---|---|---|---|"]
    for (digit, space), rs in groups.items():
        lines.append(f"| {digit} | {space} | {_mean(rs, 'read_as_digit'):.0f} of {rs[0]['replay_n']} | "
                     f"{_mean(rs, 'dropped') - _mean(rs, 'others_dropped'):.1f} + {_mean(rs, 'others_dropped'):.1f} | "
                     f"{_mean(rs, 'digit_kept'):.1f} | {_mean(rs, 'auc'):.3f} | {len(rs)} |")
    return "\n".join(lines)


def headline(results: dict, command: str) -> str:
    """One sentence per digit for the README: what each space keeps of the digit and drops of the others."""
    parts, n = [], results["rows"][0]["replay_n"]
    for digit in dict.fromkeys(r["digit"] for r in results["rows"]):
        def mean(space: str, name: str, digit: int = digit) -> float:
            return _mean([r for r in results["rows"] if r["digit"] == digit and r["space"] == space], name)
        parts.append(f"digit {digit} ({mean('pixels', 'read_as_digit'):.0f} of {n} replay samples): "
                     + " against ".join(f"{mean(s, 'digit_kept'):.1f} kept and {mean(s, 'others_dropped'):.0f} other "
                                        f"samples dropped in {s} (AUC {mean(s, 'auc'):.3f})"
                                        for s in ("features", "pixels")))
    return f"`{command}` (means over the forget sets of the seeds): " + "; ".join(parts) + "."
