"""Lesson 04's view of the regimes study (``erase_regimes``): where does the choice of f show?

Every closed form's per-sample gradient is MSE's times a multiplier w_i = phi'(m_i / s^2) / s^2 (m_i the sample's mean
squared gap between the two noise predictions, s the temperature; docs/derivations.md, section 5). Adam divides the
update by its running gradient scale, so a multiplier that is nearly the same for every sample of a batch cancels;
only its spread across samples (and over the run) can change what Adam does. SGD keeps the scale.

* ``initial_gaps``: the m_i of one batch at the start of an erasure (the base model at the target prompt against
  the same model at the anchor prompt, on noised anchor latents, exactly as ``erase`` draws its batches);
* ``multipliers_at``: w_i for each divergence and temperature from those gaps (``losses.loss_curve``), and
  ``plot_multipliers`` their histograms (relative to each batch's mean: what Adam sees);
* ``settings_markdown`` / ``plot_optimizers`` / ``plot_tradeoff``: the study's table, the "Adam hides, SGD shows"
  figure, and the target-retained trade-off (``erase_study``'s step and lr sweep, and the temperatures);
* ``separated``: the comparisons whose paired interval excludes zero (the bar of the lesson).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

from fdunlearn.erasure import erase
from fdunlearn.erasure import step as erase_step
from fdunlearn.evaluation import tables
from fdunlearn.studies import erase_regimes
from fdunlearn.studies.results import mean_sd_float
from fdunlearn.theory import losses

__all__ = ["findings", "initial_gaps", "mse_gaps", "multipliers_at", "plot_multipliers", "plot_optimizers",
           "plot_tradeoff", "separated", "setting_means", "settings_markdown"]

LABELS = erase_regimes.LABELS
COLORS = {"mse": "tab:blue", "hellinger": "tab:orange", "pearson_chi2": "tab:green"}


def initial_gaps(pipe, anchor: str = "digit", n: int = 256, seed: int = 0, *, n_anchor_images: int | None = None,
                 anchor_steps: int | None = None, cache_dir=None) -> torch.Tensor:
    """m_i (n,) at step 0 of erasing "seven" towards ``anchor``: the per-sample mean squared difference between the
    model's noise prediction at the target prompt and at the anchor prompt, on ``n`` noised anchor latents drawn as
    ``erase`` draws its batches (seed ``seed``). The model is not changed."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n={n!r}; accepted: a positive integer")
    defaults = erase.EraseConfig()
    cfg = erase.EraseConfig(seed=seed, n_anchor_images=n_anchor_images or defaults.n_anchor_images,
                            anchor_steps=anchor_steps or defaults.anchor_steps)
    data = erase.prepare(pipe, erase_regimes.concepts(anchor), cfg, cache_dir=cache_dir, progress=False)
    x_t, t, cond_target, cond_anchor = data.batch(torch.Generator().manual_seed(seed), n)
    with torch.no_grad():
        eps = [erase_step.to_eps(pipe.unet(x_t, t, encoder_hidden_states=c).sample, x_t, t, data.scheduler)
               for c in (cond_target, cond_anchor)]
    return (eps[0] - eps[1]).float().pow(2).flatten(1).mean(1).cpu()


def multipliers_at(gaps: torch.Tensor, divergence: str, temperature: float) -> torch.Tensor:
    """w_i = phi'(m_i / s^2) / s^2 for the reference-scaled closed form ``divergence`` (1 for MSE at any s). As in the
    loss, chi^2's exponent is capped at ``losses.EXP_CAP`` (the loss continues along its tangent beyond it), silently
    here: a histogram is not a training run."""
    if divergence == "mse":
        return torch.ones_like(gaps, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="exponent .* > max_exponent")
        _, slope = losses.loss_curve(divergence, gaps.double() / temperature**2, scaling="reference")
    return slope / temperature**2


def plot_multipliers(gaps: torch.Tensor, temperatures: Sequence[float], divergences: Sequence[str] = ("hellinger",
                     "pearson_chi2"), bins: int = 40):
    """One panel per divergence: histograms of w_i / mean(w) over the batch at each temperature (log x axis; values
    below 1e-6 are drawn at 1e-6), lower temperatures darker. A narrow spike at 1 (the dotted line, where MSE puts
    every sample) is "MSE times a constant", which Adam cancels. Returns the figure."""
    import matplotlib.pyplot as plt

    shades = plt.get_cmap("viridis_r")
    fig, axes = plt.subplots(1, len(divergences), figsize=(5.5 * len(divergences), 3.4), squeeze=False)
    for ax, div in zip(axes[0], divergences, strict=True):
        raw = {s: multipliers_at(gaps, div, s) for s in temperatures}
        ratio = {s: float(w.max() / w.min()) for s, w in raw.items()}  # before the clamp, as the lesson prints it
        rel = {s: (w / w.mean()).clamp(min=1e-6) for s, w in raw.items()}
        lo = min(float(w.min()) for w in rel.values())
        hi = max(float(w.max()) for w in rel.values())
        edges = torch.logspace(torch.log10(torch.tensor(lo * 0.9)), torch.log10(torch.tensor(hi * 1.1)), bins)
        for i, (s, w) in enumerate(sorted(rel.items(), reverse=True)):
            color = shades(0.15 + 0.7 * i / max(len(rel) - 1, 1))
            ax.hist(w.numpy(), bins=edges.numpy(), histtype="stepfilled", alpha=0.25, color=color)
            ax.hist(w.numpy(), bins=edges.numpy(), histtype="step", lw=1.6, color=color,
                    label=f"s={s:g}: max/min {ratio[s]:.3g}")
        ax.axvline(1.0, color="k", ls=":", lw=1, label="1 (MSE: every sample)")
        ax.set_xscale("log")
        ax.set(title=f"{LABELS.get(div, div)}: per-sample multiplier / batch mean",
               xlabel="w_i / mean(w), dimensionless (below 1e-6: drawn at 1e-6)",
               ylabel=f"samples (of {len(gaps)})")
        ax.legend(fontsize=8, title="temperature", title_fontsize=8)
    fig.tight_layout()
    return fig


def setting_means(rows: list[dict], metric: str = "target_acc") -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(experiment, setting, divergence) -> (mean, sd, n seeds) of ``metric`` over the study's runs. MSE ignores the
    temperature, so MSE's s = 1 runs are listed under every temperature setting."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    runs = [r for r in rows if r.get("phase") == "run" and metric in r]
    settings = {(r["experiment"], r["setting"]) for r in runs}
    for r in runs:
        targets = [(r["experiment"], r["setting"])]
        if r["divergence"] == "mse" and r["experiment"] == "temperature":
            targets = [s for s in settings if s[0] == "temperature"]
        for exp, setting in targets:
            groups.setdefault((exp, setting, r["divergence"]), []).append(r[metric])
    return {k: (*mean_sd_float(v), len(v)) for k, v in groups.items()}


def _pct(entry: dict | None) -> str:
    if entry is None:
        return "–"
    return f"{100 * entry['mean']:+.1f} [{100 * entry['lo']:+.1f}, {100 * entry['hi']:+.1f}]"


def _kid_cell(entry: dict) -> str:
    """KID on the classifier's features (``tables.format_kid``, unscaled) and its paired difference to the partner
    with the interval."""
    def signed(x: float) -> str:
        return ("+" if x >= 0 else "") + tables.format_kid(x, scale=tables.CLASSIFIER_KID)

    interval = f"[{signed(entry['lo'])}, {signed(entry['hi'])}]"
    return f"{tables.format_kid(entry['value'], scale=tables.CLASSIFIER_KID)} ({signed(entry['mean'])} {interval})"


def settings_markdown(comparisons: list[dict], metrics: Sequence[str] = ("target_acc", "heldout_acc",
                      "retained_acc")) -> str:
    """One row per (experiment, setting, divergence): the divergence's mean and its paired difference to MSE with
    the 95% bootstrap interval, in percentage points, for each metric (``kid``: unscaled, and then ``tables.KID_NOTE``
    under the table when a mean KID is negative); the weight distance; and the largest within-batch multiplier ratio.
    Bold where the interval excludes zero."""
    names = {"target_acc": "target %", "heldout_acc": "held-out %", "retained_acc": "retained %",
             "kid": tables.kid_label(tables.CLASSIFIER_KID)}
    head = ["experiment", "setting", "divergence"] + [f"{names.get(m, m + ' %')}, minus partner [95% CI]"
                                                     for m in metrics]
    lines = ["| " + " | ".join([*head, "weight distance", "max w ratio"]) + " |", "|" + "---|" * (len(head) + 2)]
    for e in comparisons:
        cells = [e["experiment"], e["setting"], e["label"]]
        for m in metrics:
            d = e.get(m)
            if d is None:
                text = "–"
            else:
                text = _kid_cell(d) if m == "kid" else f"{100 * d['value']:.1f} ({_pct(d)})"
            cells.append(f"**{text}**" if d is not None and d["verdict"] == "differs" else text)
        cells.append("–" if e.get("weight_distance") is None else f"{e['weight_distance']:.3f}")
        cells.append("–" if e.get("batch_ratio_max") is None else f"{e['batch_ratio_max']:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    kids = [(d[k], None) for e in comparisons if (d := e.get("kid")) is not None for k in ("value", "mse_value")]
    return "\n".join(lines) + (tables.kid_note(kids) if "kid" in metrics else "")


def separated(comparisons: list[dict], metrics: Sequence[str] = ("target_acc", "heldout_acc", "retained_acc")
              ) -> list[tuple[str, str, str, str]]:
    """(experiment, setting, divergence label, metric) of every comparison whose paired interval excludes zero."""
    return [(e["experiment"], e["setting"], e["label"], m) for e in comparisons for m in metrics
            if e.get(m) is not None and e[m]["verdict"] == "differs"]


def plot_optimizers(rows: list[dict], metrics: Sequence[str] = ("target_acc", "retained_acc")):
    """"Adam hides the divergence, SGD shows it": per optimiser setting (Adam at the reference lr, s = 1; SGD at the
    matched lr; SGD at 10 times it), each divergence's mean ± sd over the seeds. Returns the figure."""
    import matplotlib.pyplot as plt

    means = {m: setting_means(rows, m) for m in metrics}
    settings = [("temperature", "s=1", "Adam, reference lr")]
    settings += sorted({(e, s, s.replace("sgd lr x", "SGD, matched lr x")) for (e, s, _) in means[metrics[0]]
                        if e == "sgd"}, key=lambda x: float(x[1].rsplit("x", 1)[1]))
    divs = [d for d in erase_regimes.DIVERGENCES if any(k[2] == d for k in means[metrics[0]])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.3), squeeze=False)
    width = 0.8 / max(len(divs), 1)
    for ax, m in zip(axes[0], metrics, strict=True):
        for j, div in enumerate(divs):
            xs, ys, es = [], [], []
            for i, (exp, setting, _) in enumerate(settings):
                if (exp, setting, div) in means[m]:
                    mean, sd, _ = means[m][(exp, setting, div)]
                    xs.append(i + (j - (len(divs) - 1) / 2) * width)
                    ys.append(100 * mean)
                    es.append(100 * sd)
            ax.bar(xs, ys, width, yerr=es, capsize=3, color=COLORS.get(div), label=LABELS.get(div, div))
        ax.set_xticks(range(len(settings)), [s[2] for s in settings], fontsize=8)
        ax.set(ylabel=f"{m.replace('_acc', '')} accuracy, %", title=m.replace("_acc", " accuracy"))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_tradeoff(study_rows: list[dict], regime_rows: list[dict]):
    """Target against retained accuracy, one colour per divergence: left, lesson 04's table over erasure length and
    learning rate (``erase_study``: 200 steps at lr x1 and x3, 1000 steps at x1; the generic anchor); right, the
    regimes study over the temperature (Adam). Each point is the mean over its seeds with ± sd error bars in both
    directions; the small dots are the single seeds. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.9))
    names = {"MSE (Concept Ablation)": "mse", "Hellinger": "hellinger", "chi^2": "pearson_chi2"}
    size = {"mse": 11, "hellinger": 7, "pearson_chi2": 4}  # nested markers: identical points stay visible
    labelled: list = []  # coinciding points share one label
    for label, div in names.items():
        points: dict[tuple, list[tuple[float, float]]] = {}
        for r in study_rows:
            if r.get("phase") != "base" and r.get("task") == "generic" and r.get("label") == label:
                points.setdefault((r["steps"], r["lr_mult"]), []).append((r["target_acc"], r["retained_acc"]))
        order = sorted(points)
        _spread(left, [[(100 * rt, 100 * t) for t, rt in points[k]] for k in order], COLORS[div], LABELS[div],
                size[div], ls="none")
        for k in order:
            x = 100 * sum(p[1] for p in points[k]) / len(points[k])
            y = 100 * sum(p[0] for p in points[k]) / len(points[k])
            _label_once(left, f"{k[0]} st, lr x{k[1]:g} ({len(points[k])} seed{'s' * (len(points[k]) > 1)})", x, y,
                        labelled, fontsize=6)
    runs = [r for r in regime_rows if r.get("phase") == "run" and r.get("experiment") == "temperature"
            and "target_acc" in r and "retained_acc" in r]
    for div in erase_regimes.DIVERGENCES:
        settings = sorted({r["setting"] for r in runs if r["divergence"] == div}, key=lambda x: -float(x.split("=")[1]))
        if div == "mse":
            settings = settings[:1]  # MSE ignores the temperature: its s = 1 runs
        seeds = [[(100 * r["retained_acc"], 100 * r["target_acc"]) for r in runs
                  if r["divergence"] == div and r["setting"] == setting] for setting in settings]
        _spread(right, seeds, COLORS[div], LABELS[div], size[div], ls="-")
        for setting, group in zip(settings, seeds, strict=True):
            if group:
                _label_once(right, setting, sum(p[0] for p in group) / len(group),
                            sum(p[1] for p in group) / len(group), labelled, fontsize=7)
    left.set(title="over erasure length and lr (lesson 04's table)")
    right.set(title=f"over the temperature s (Adam, {_seed_count(runs)})")
    for ax in (left, right):
        ax.set(xlabel="retained accuracy, %  (higher: kept)", ylabel="target accuracy, %  (lower: erased)")
        ax.legend(fontsize=8, title="mean ± sd over seeds; dots: seeds", title_fontsize=7)
    fig.tight_layout()
    return fig


def _spread(ax, groups: list[list[tuple[float, float]]], color, label: str, size: float, ls: str) -> None:
    """Per group of (x, y) seeds: the mean with ± sd error bars in x and y (sd 0 for one seed), and the seeds as
    faint dots; ``ls`` joins the means."""
    groups = [g for g in groups if g]
    if not groups:
        return
    xs = [mean_sd_float([p[0] for p in g]) for g in groups]
    ys = [mean_sd_float([p[1] for p in g]) for g in groups]
    ax.errorbar([m for m, _ in xs], [m for m, _ in ys], xerr=[sd for _, sd in xs], yerr=[sd for _, sd in ys],
                marker="o", ms=size, ls=ls, color=color, label=label, capsize=2, elinewidth=1, alpha=0.85)
    ax.scatter([p[0] for g in groups for p in g], [p[1] for g in groups for p in g], s=9, color=color, alpha=0.35,
               linewidths=0)


def _label_once(ax, text: str, x: float, y: float, labelled: list, fontsize: float) -> None:
    """Annotate (x, y) with ``text``; where an earlier label of this axes sits within 0.3 points, add ``text`` to it
    instead (if it is not there yet), so coinciding points carry one readable label."""
    for u, v, texts, note in labelled:
        if note.axes is ax and abs(x - u) < 0.3 and abs(y - v) < 0.3:
            if text not in texts:
                texts.append(text)
                note.set_text("; ".join(texts))
            return
    labelled.append((x, y, [text], ax.annotate(text, (x, y), fontsize=fontsize, alpha=0.7, xytext=(4, 3),
                                               textcoords="offset points")))


def _seed_count(runs: list[dict]) -> str:
    """ "200 steps, 5 seeds" (the steps when every run names the same number)."""
    n = len({r["seed"] for r in runs})
    steps = {r.get("steps") for r in runs}
    return (f"{steps.pop()} steps, " if len(steps) == 1 and None not in steps else "") + f"{n} seed{'s' * (n != 1)}"


def findings(comparisons: list[dict], metrics: Sequence[str] = ("target_acc", "heldout_acc", "retained_acc")
             ) -> list[str]:
    """One sentence per separated comparison (its numbers and interval), or one saying that none separates."""
    names = {"target_acc": "target accuracy", "heldout_acc": "held-out accuracy", "retained_acc": "retained accuracy"}
    out = []
    for e in comparisons:
        for m in metrics:
            d = e.get(m)
            if d is not None and d["verdict"] == "differs":
                out.append(f"{e['experiment']}, {e['setting']}, {e['label']}: {names.get(m, m)} {100 * d['value']:.1f}%"
                           f" vs {e.get('partner_label', 'MSE')}'s {100 * d['mse_value']:.1f}% on the same {e['n']} "
                           "seeds (difference "
                           f"{100 * d['mean']:+.1f} points, 95% CI [{100 * d['lo']:+.1f}, {100 * d['hi']:+.1f}])")
    if not out:
        out.append(f"no setting separates any divergence from MSE: every paired 95% interval of {len(comparisons)} "
                   "comparisons contains 0")
    return out


def mse_gaps(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Per anchor ("digit", "" ...), MSE's gap m at the first and the last logged step of its logged run (Adam,
    the first seed): how far apart the two predictions start, and where the erasure leaves them."""
    out = {}
    for r in rows:
        if (r.get("phase") == "run" and r["divergence"] == "mse" and r["optimizer"] == "adam" and r.get("log")
                and r["anchor"] not in out):
            out[r["anchor"]] = (r["log"][0]["m"], r["log"][-1]["m"])
    return out
