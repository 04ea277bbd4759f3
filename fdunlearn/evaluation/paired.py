"""Paired-seed statistics: does divergence A differ from divergence B on the same seeds? (lesson 04)

Two erasures that share a seed share everything random (anchor images, batches, noise, the scoring images), so the
right comparison is the per-seed difference d_s = a_s - b_s, not two independent means. ``paired_difference``
returns its mean and a percentile bootstrap confidence interval (resampling the seeds with replacement, seeded, so
the same inputs always give the same interval), and the verdict ``"differs"`` when the interval excludes 0, else
``"no detectable difference"``. With five seeds the interval is coarse; a tie (every d_s = 0) gives [0, 0].

``weight_distance(W_f, W_mse, W_0) = ||W_f - W_mse|| / ||W_mse - W_0||`` over the trained parameters: how far the
weights of divergence f land from MSE's, in units of how far MSE moved from the original weights (0: the same
weights; 1: as far from MSE's as MSE's from the start).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

DIFFERS = "differs"
NO_DIFFERENCE = "no detectable difference"
VERDICTS = (DIFFERS, NO_DIFFERENCE)
N_BOOTSTRAP = 10_000
LEVEL = 0.95


def _pairs(a: Mapping | Sequence[float], b: Mapping | Sequence[float]) -> tuple[list, list[float], list[float]]:
    """Aligned (seeds, a values, b values): mappings seed -> value must hold the same seeds; sequences the same
    length (position i is seed i)."""
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise ValueError("a and b must both be mappings seed -> value, or both sequences; accepted: the same kind")
    if isinstance(a, Mapping):
        if set(a) != set(b):
            raise ValueError(f"a and b are not paired: seeds {sorted(a, key=str)} vs {sorted(b, key=str)}; accepted: "
                             "values of both on the same seeds")
        seeds = sorted(a, key=str)
        xa, xb = [a[s] for s in seeds], [b[s] for s in seeds]
    else:
        if len(a) != len(b):
            raise ValueError(f"a has {len(a)} values but b has {len(b)}; accepted: one value of each per seed")
        seeds, xa, xb = list(range(len(a))), list(a), list(b)
    if not seeds:
        raise ValueError("no seeds; accepted: at least one paired value")
    for name, values in (("a", xa), ("b", xb)):
        for s, v in zip(seeds, values, strict=True):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{name} at seed {s} is {v!r}; accepted: finite numbers")
    return seeds, [float(v) for v in xa], [float(v) for v in xb]


def paired_difference(a: Mapping | Sequence[float], b: Mapping | Sequence[float], *, n_boot: int = N_BOOTSTRAP,
                      level: float = LEVEL, seed: int = 0) -> dict:
    """Mean of a_s - b_s over the paired seeds, its percentile bootstrap interval and the verdict.

    ``a``, ``b``: {seed: value} (the same seeds) or equal-length sequences. ``n_boot`` resamples of the seeds (with
    replacement), drawn from a generator seeded with ``seed``; ``level``: the interval's coverage (0.95: the 2.5th
    and 97.5th percentiles of the resampled means). Returns {"n", "seeds", "differences", "mean", "lo", "hi",
    "level", "n_boot", "verdict"}; verdict "differs" when [lo, hi] excludes 0.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r}; accepted: a positive integer")
    if not (isinstance(level, float | int) and 0 < level < 1):
        raise ValueError(f"level={level!r}; accepted: a number in (0, 1)")
    seeds, xa, xb = _pairs(a, b)
    d = torch.tensor(xa, dtype=torch.float64) - torch.tensor(xb, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(d), (n_boot, len(d)), generator=gen)
    means = d[idx].mean(1)
    q = torch.tensor([(1 - level) / 2, 1 - (1 - level) / 2], dtype=torch.float64)
    lo, hi = torch.quantile(means, q).tolist()
    verdict = DIFFERS if lo > 0 or hi < 0 else NO_DIFFERENCE
    return {"n": len(d), "seeds": seeds, "differences": d.tolist(), "mean": float(d.mean()), "lo": lo, "hi": hi,
            "level": level, "n_boot": n_boot, "verdict": verdict}


def weight_distance(w_f: Mapping[str, torch.Tensor], w_mse: Mapping[str, torch.Tensor],
                    w_0: Mapping[str, torch.Tensor]) -> float:
    """||W_f - W_mse|| / ||W_mse - W_0|| over the trained parameters (the same names in all three; Frobenius norm
    of all of them together, in float64). ValueError when the names differ or MSE did not move (a zero denominator)."""
    names = set(w_f)
    if names != set(w_mse) or names != set(w_0) or not names:
        raise ValueError(f"the three weight sets name different parameters ({len(w_f)}, {len(w_mse)}, {len(w_0)} "
                         "names); accepted: the same trained parameters in each")
    num = den = 0.0
    for n in sorted(names):
        f, m, o = (w[n].detach().double().cpu() for w in (w_f, w_mse, w_0))
        if not f.shape == m.shape == o.shape:
            raise ValueError(f"parameter {n!r} has shapes {tuple(f.shape)}, {tuple(m.shape)}, {tuple(o.shape)}; "
                             "accepted: the same shape in each")
        num += float((f - m).pow(2).sum())
        den += float((m - o).pow(2).sum())
    if den == 0.0:
        raise ValueError("W_mse equals W_0 (MSE did not move the weights): the distance has no scale")
    return math.sqrt(num / den)
