"""The lessons' interactive views, built on ``widgets``: each answers from formulas or stored results, no training.

- lesson 01: ``divergence_curves``, the loss phi(delta) and gradient multiplier phi'(delta) of a chosen divergence
  over a chosen delta range, against KL (weighted MSE);
- lesson 03: ``vdu_methods`` (method / digit / seed over the vdu-fs results files, with their sample grids) and
  ``vdu_sweeps`` (the published VDU's table, gamma and steps sweeps).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from fdunlearn.datasets import images as data
from fdunlearn.datasets import samples
from fdunlearn.lessons import plots, widgets
from fdunlearn.studies import vdu_report
from fdunlearn.theory import losses

# ----------------------------------------------------------------------------- lesson 01
DIVERGENCES: dict[str, tuple[str, dict[str, float]]] = {
    "KL (= weighted MSE)": ("kl", {}),
    "reverse KL": ("reverse_kl", {}),
    "Jeffreys": ("jeffreys", {}),
    "squared Hellinger": ("hellinger", {}),
    "Pearson χ² (= Neyman χ²)": ("pearson_chi2", {}),
    "total variation": ("total_variation", {}),
    "α = 0.3": ("alpha", {"alpha": 0.3}),
    "α = 2": ("alpha", {"alpha": 2.0}),
    "α = 3": ("alpha", {"alpha": 3.0}),
}
DELTA_RANGES: dict[str, tuple[float, float]] = {
    "0.01 to 1000 (all)": (1e-2, 1e3),
    "0.01 to 1 (close predictions)": (1e-2, 1.0),
    "1 to 100": (1.0, 100.0),
    "10 to 1000 (unrelated predictions)": (10.0, 1e3),
}
OVERFLOW_DELTA = 88.7  # exp(delta) overflows float32 beyond it
VANISH_DELTA = 8 * math.log(1e6)  # exact Hellinger multiplier exp(-delta/8)/4 below 1e-6 beyond it
OFF_CHART = 1e12  # larger values are not drawn


def _curve(name: str, params: dict[str, float], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """phi and phi' (exact scaling); values beyond ``OFF_CHART`` (chi^2 overflows) are NaN, not drawn."""
    value, slope = losses.loss_curve(name, x, scaling="exact", max_exponent=math.inf, **params)
    return tuple(v.masked_fill(~(v.abs() < OFF_CHART), math.nan) for v in (value, slope))


def divergence_figure(divergence: str, delta: str) -> Figure:
    """Loss and gradient multiplier of ``divergence`` (a ``DIVERGENCES`` label) over ``delta`` (a ``DELTA_RANGES``
    label), KL dashed for reference."""
    name, params = DIVERGENCES[divergence]
    lo, hi = DELTA_RANGES[delta]
    x = torch.logspace(math.log10(lo), math.log10(hi), 200, dtype=torch.float64)
    fig, (ax_loss, ax_mult) = plt.subplots(1, 2, figsize=(8.5, 3))
    shown = [(divergence, name, params, "C0-")]
    if name != "kl":
        shown.append(("KL (reference)", "kl", {}, "k--"))
    for label, n, p, style in shown:
        value, slope = _curve(n, p, x)
        ax_loss.plot(x, value, style, label=label)
        ax_mult.plot(x, slope, style, label=label)
    _, slope = _curve(name, params, x)
    finite = slope[torch.isfinite(slope)]
    spread = (f"φ' changes ×{float(finite[-1] / finite[0]):.2g} over this range" if len(finite) == len(slope)
              else f"φ' beyond {OFF_CHART:.0e} (not drawn) in this range")
    for ax in (ax_loss, ax_mult):
        for edge, color in [(OVERFLOW_DELTA, "r"), (VANISH_DELTA, "purple")]:
            if lo <= edge <= hi:
                ax.axvline(edge, color=color, ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel=r"$\delta = \kappa_t \|\Delta\varepsilon\|^2$")
        ax.minorticks_off()  # a log axis's minor ticks make the layout several times slower (the view's 1-s answer)
        ax.grid(True, alpha=0.3)
    ax_loss.set(ylabel=r"loss $\varphi(\delta)$", title=f"{divergence}: loss")
    ax_mult.set(ylabel=r"multiplier $\varphi'(\delta)$", title=spread)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


def divergence_curves() -> W.VBox:
    """Lesson 01: pick a divergence and a delta range; the static figure shows four members over all deltas."""
    overview = [{"divergence": d} for d in ("KL (= weighted MSE)", "squared Hellinger", "Pearson χ² (= Neyman χ²)",
                                            "α = 3")]
    return widgets.chooser({"divergence": list(DIVERGENCES),
                            "delta": W.Dropdown(options=list(DELTA_RANGES), description="δ range")},
                           divergence_figure, overview=overview, ncol=2)


# ----------------------------------------------------------------------------- lesson 03
FS_RESULTS = ("vdu-fs-digits", "vdu-fs-baselines", "vdu-fs-unfiltered", "vdu-fs-late", "fs-redirect-digits",
              "fs-guide-digits")
METHODS = {  # results key prefix -> label
    "vdu-fs": "vdu-fs (prior over functions)",
    "vdu-fs-unfiltered": "vdu-fs without replay filter",
    "vdu": "VDU (published)",
    "ga": "gradient ascent",
    "l2": "L2",
    "salun": "SalUn",
    "vdu-fs-late": "vdu-fs-late (ascent only at late timesteps)",
    "fs-redirect": "fs-redirect (led to replay samples)",
    "fs-guide": "fs-guide (Bayes-corrected target)",
}
DIGIT_NAMES = data.CLASS_NAMES["mnist"]


def digit_runs(names: tuple[str, ...] = FS_RESULTS, folder: Path | None = None) -> dict[tuple[str, int, int], dict]:
    """Rows of the vdu-fs results files by (method, digit, seed); the pretrained model is method "base".
    Files not computed yet are skipped."""
    runs: dict[tuple[str, int, int], dict] = {}
    for name in names:
        try:
            rows = vdu_report.load(name, folder)["rows"]
        except FileNotFoundError:
            continue
        for r in rows:
            runs.setdefault((r["key"].split("/")[0], int(r["digit"]), int(r["seed"])), r)
    return runs


def _grid(ax: plt.Axes, row: dict, title: str) -> None:
    ax.imshow(samples.thumbnail(row), cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def vdu_methods_figure(runs: dict[tuple[str, int, int], dict], method: str, digit: int, seed: int) -> Figure | None:
    """Pretrained and unlearned samples for one run, and the unlearned model's class shares (pretrained: black
    marks); None, with a printed note, when that run was not computed."""
    base, row = runs.get(("base", digit, seed)), runs.get((method, digit, seed))
    if base is None or row is None:
        have = sorted({(d, s) for m, d, s in runs if m == method})
        print(f"no {METHODS.get(method, method)} run for digit {digit}, seed {seed}.\n"
              f"precomputed (digit, seed): {', '.join(map(str, have)) or 'none'}")
        return None
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), width_ratios=[1, 1, 1.6])
    _grid(axes[0], base, f"pretrained: {base['forget_share']:.1%} {digit}s")
    _grid(axes[1], row, f"{method}: {row['forget_share']:.1%} {digit}s")
    plots.class_histogram(row["class_share"], DIGIT_NAMES, axes[2], highlight=digit,
                          title=f"FID on the other digits {base['fid_remaining']:.1f} → {row['fid_remaining']:.1f}")
    axes[2].plot(range(len(base["class_share"])), [100 * s for s in base["class_share"]], "k_", ms=14,
                 label="pretrained")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def vdu_methods_overview(runs: dict[tuple[str, int, int], dict], digit: int, seed: int = 0) -> bytes:
    """One row of sample grids, pretrained then every method on ``digit`` (the static figure)."""
    keys = [m for m in ["base", *METHODS] if (m, digit, seed) in runs]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.2 * len(keys), 2.6), squeeze=False)
    for ax, m in zip(axes[0], keys, strict=True):
        r = runs[(m, digit, seed)]
        _grid(ax, r, f"{'pretrained' if m == 'base' else m}\n{r['forget_share']:.1%} {digit}s, "
                     f"FID {r['fid_remaining']:.0f}")
    fig.suptitle(f"forget digit {digit} (seed {seed}): samples, share of {digit}s, FID on the other digits",
                 fontsize=9)
    fig.tight_layout()
    return widgets.figure_png(fig)


def vdu_methods(digit: int = 7, folder: Path | None = None) -> W.VBox:
    """Lesson 03: method / digit / seed over the vdu-fs results (digits, baselines, unfiltered)."""
    runs = digit_runs(folder=folder)
    methods = {label: m for m, label in METHODS.items() if any(k[0] == m for k in runs)}
    digits = sorted({d for m, d, _ in runs if m != "base"}, key=lambda d: (d != digit, d))
    seeds = sorted({s for *_, s in runs})
    return widgets.chooser({"method": methods, "digit": digits, "seed": seeds},
                           lambda method, digit, seed: vdu_methods_figure(runs, method, digit, seed),
                           overview=vdu_methods_overview(runs, digit))


def sweep_runs(forget: int = 7, folder: Path | None = None) -> dict[str, dict[int, dict]]:
    """The published VDU's runs by "<study>: <key>" and seed (the table, the gamma and the steps sweeps)."""
    catalogue: dict[str, dict[int, dict]] = {}
    for name, label in [("vdu-mnist-table", "table"), ("vdu-mnist-gamma", "gamma"), ("vdu-mnist-steps", "steps")]:
        for r in vdu_report.load(name, folder)["rows"]:
            catalogue.setdefault(f"{label}: {r['key'].split('/')[0]}", {})[int(r["seed"])] = r
    return catalogue


def sweep_figure(catalogue: dict[str, dict[int, dict]], run: str, seed: int, forget: int = 7) -> Figure | None:
    """First 16 samples and class shares of one run; None, with a printed note, when the seed is missing."""
    r = catalogue[run].get(seed)
    if r is None:
        print(f"no seed {seed} for {run}")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), width_ratios=[1, 1.6])
    _grid(axes[0], r, run)
    plots.class_histogram(r["class_share"], DIGIT_NAMES, axes[1], highlight=forget,
                          title=f"share of {forget}: {r['forget_share']:.1%}, FID remaining {r['fid_remaining']:.1f}")
    fig.tight_layout()
    return fig


def vdu_sweeps(forget: int = 7, folder: Path | None = None) -> W.VBox:
    """Lesson 03: the published VDU's runs (table, gamma, steps) by run and seed; the static figure is the gamma
    cliff (no change, damage, collapse)."""
    catalogue = sweep_runs(forget, folder)
    cliff = [f"gamma: gamma={g}" for g in ("0.9", "0.7", "0.65", "0.6")]
    overview: list[dict[str, Any]] = [{"run": run} for run in cliff if run in catalogue]
    return widgets.chooser({"run": list(catalogue), "seed": sorted({s for v in catalogue.values() for s in v})},
                           lambda run, seed: sweep_figure(catalogue, run, seed, forget),
                           overview=overview or None, ncol=2)
