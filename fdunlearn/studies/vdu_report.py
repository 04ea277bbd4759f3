"""Lesson 03's precomputed results (``vdu_study``) as tables, bar checks and plots: means over seeds with their sd
("mean ± sd"), from the JSON files that ``python -m fdunlearn.vdu_study ...`` writes under ``data/results/``."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from fdunlearn import config
from fdunlearn.studies import vdu_digits, vdu_study
from fdunlearn.studies.results import load as load_results
from fdunlearn.studies.results import mean_sd_float

RESULTS_DIR = config.REPO_ROOT / "data" / "results"
COMMANDS = {  # the commands that made the shipped results (budgets sized for a 2-core CPU; see lesson 03)
    "vdu-mnist-table": "table --model mnist-ddpm --forget-class 7 --n-samples 1000 --ddim-steps 25",
    "vdu-mnist-gamma": "gamma --model mnist-ddpm --forget-class 7 --n-samples 128",
    # the same sweep with the Fisher prior, whose edge sits lower (probed on seed 0 between 0.5 and 0.4)
    "vdu-mnist-gamma-fisher": "gamma --model mnist-ddpm --forget-class 7 --prior fisher "
                              "--gammas 0,0.3,0.4,0.45,0.5,0.6,0.7,0.9 --n-samples 128",
    "vdu-mnist-n": "n-forget --model mnist-ddpm --forget-class 7 --n-samples 256",
    "vdu-mnist-steps": "steps --model mnist-ddpm --forget-class 7 --n-samples 128",
    "vdu-mnist-relearn": "relearn --model mnist-ddpm --forget-class 7 --n-samples 128",
    "vdu-cifar10-table": "table --model cifar10-ddpm --forget-class 6 --methods vdu-checkpoints,ga-checkpoints "
                         "--budget sweep --n-samples 256",
    # the course's default sampler (eta = 1, lesson 02) on the table's VDU row: same picture as eta = 0
    "vdu-mnist-eta1": "table --model mnist-ddpm --forget-class 7 --methods vdu-checkpoints --budget sweep "
                      "--n-samples 256 --eta 1",
    # the gamma sweep on a 2.2x larger MNIST DDPM, not shipped (25 MB); train it first (about 2 h on 2 cores):
    # python -m fdunlearn train --recipe mnist-ddpm-wide --out runs/mnist-ddpm-wide
    "vdu-mnist-wide-gamma": "gamma --model runs/mnist-ddpm-wide --forget-class 7 --gammas 0.7,0.8,0.85,0.875,0.9 "
                            "--n-samples 128",
}
FS_COMMANDS = vdu_digits.COMMANDS  # lesson 03's vdu-fs studies (``python -m fdunlearn.vdu_digits``)
LARGE_COMMANDS = vdu_digits.LARGE_COMMANDS  # the same on section 7.23's larger model (trained on a GPU)
# The course's bars for VDU on MNIST (1,000 samples, DDIM 50, at most 100 forget images).
BARS = {"forget_share": 0.01, "fid_remaining_rise": 0.15, "other_min": 0.06, "other_max": 0.16,
        "unlearn_seconds": 120.0}
FIELDS = ("forget_share", "pul", "fid_remaining", "fid_remaining_rise", "entropy", "confident_share",
          "other_min", "other_max", "unlearn_seconds", "steps_run")
LABELS = {("vdu", "checkpoints"): "VDU, checkpoint prior (the paper)",
          ("vdu", "fisher"): "VDU, Fisher prior (EWC-like)",
          ("ga", "checkpoints"): "gradient ascent alone (gamma = 0)",
          ("l2", "checkpoints"): "L2 to the pretrained weights",
          ("salun", "checkpoints"): "SalUn-style masked ascent + L2"}


def command(name: str) -> str:
    """The full command line that makes the shipped results file ``name``."""
    digits = FS_COMMANDS | LARGE_COMMANDS
    if name in digits:
        return f"python -m fdunlearn.vdu_digits {digits[name]} --out data/results/{name}.json"
    if name not in COMMANDS:
        raise ValueError(f"unknown results {name!r}; accepted: {', '.join([*COMMANDS, *digits])}")
    return f"python -m fdunlearn.vdu_study {COMMANDS[name]} --out data/results/{name}.json"


def load(name: str, folder: Path | None = None) -> dict:
    """One results file (``name`` as in ``COMMANDS``, from ``folder`` or ``RESULTS_DIR``); a clear error with the
    command that makes it when it is missing."""
    made_by = command(name)  # names the accepted files when ``name`` is unknown
    return load_results(Path(folder or RESULTS_DIR) / f"{name}.json", made_by)


def _stats(rows: list[dict], field: str) -> tuple[float, float]:
    x = [float(r[field]) for r in rows if r.get(field) is not None]
    return mean_sd_float(x) if x else (math.nan, math.nan)


def method_rows(results: dict) -> dict[str, dict[str, tuple[float, float]]]:
    """Per table row (``pretrained`` first, then ``method-prior``): mean and sd over seeds of ``FIELDS``."""
    groups: dict[str, list[dict]] = {}
    for r in results["rows"]:
        name = "pretrained" if r["method"] == "pretrained" else f"{r['method']}-{r['prior']}"
        groups.setdefault(name, []).append(r)
    return {name: {f: _stats(rows, f) for f in FIELDS} | {"n_seeds": len(rows)} for name, rows in groups.items()}


def _pm(stat: tuple[float, float], scale: float = 1.0, digits: int = 1) -> str:
    mean, sd = stat
    if math.isnan(mean):
        return "–"
    shown = 0.0 if round(scale * mean, digits) == 0 else scale * mean  # no "-0"
    return f"{shown:.{digits}f} ± {scale * sd:.{digits}f}"


def _mean_only(stat: tuple[float, float], scale: float = 1.0, digits: int = 1) -> str:
    """One seed: the value alone (no spread to show)."""
    return "–" if math.isnan(stat[0]) else f"{scale * stat[0]:.{digits}f}"


def table_markdown(results: dict) -> str:
    """The method table: forget share, PUL, FID on the remaining classes (and its rise), entropy, time."""
    b = results["settings"]["budget"]
    head = (f"| method ({b['n_samples']} samples, DDIM {b['ddim_steps']}, seeds {len(b['seeds'])}) | forget share % "
            "| PUL % | FID remaining | FID rise % | entropy | confident % | other classes min–max % | time (s) |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for name, s in method_rows(results).items():
        key = tuple(name.split("-", 1)) if name != "pretrained" else None
        label = LABELS.get(key, name) if key else "pretrained model"
        lines.append(f"| {label} | {_pm(s['forget_share'], 100)} | {_pm(s['pul'])} | {_pm(s['fid_remaining'])} "
                     f"| {_pm(s['fid_remaining_rise'], 100)} | {_pm(s['entropy'], 1, 3)} "
                     f"| {_pm(s['confident_share'], 100)} "
                     f"| {100 * s['other_min'][0]:.1f}–{100 * s['other_max'][0]:.1f} "
                     f"| {_pm(s['unlearn_seconds'], 1, 0)} |")
    return "\n".join(lines)


def share_digits(share: float) -> int:
    """Decimals to print a forget share in percent with: one, or two where one would round it onto the forget bar
    it misses or meets (1.03% is printed 1.03, not 1.0, beside "missed: forget share <= 1%")."""
    pct, bar = round(100 * share, 4), round(100 * BARS["forget_share"], 4)
    return 2 if pct != bar and round(pct, 1) == round(bar, 1) else 1


def check_bars(stats: dict[str, tuple[float, float]]) -> dict[str, bool]:
    """Which of the course's bars one row's means meet (shares at 6 decimals: float32 counts / n)."""
    return {"forget share <= 1%": round(stats["forget_share"][0], 6) <= BARS["forget_share"],
            "FID rise <= 15%": stats["fid_remaining_rise"][0] <= BARS["fid_remaining_rise"],
            "other classes within 6-16%": (round(stats["other_min"][0], 6) >= BARS["other_min"]
                                           and round(stats["other_max"][0], 6) <= BARS["other_max"]),
            "time <= 2 min": stats["unlearn_seconds"][0] <= BARS["unlearn_seconds"]}


def sweep(results: dict, by: str, field: str, where: dict | None = None) -> tuple[list, list[float], list[float]]:
    """x values, means and sds of ``field`` over seeds, for rows that have ``by`` (and match ``where``)."""
    rows = [r for r in results["rows"] if by in r and all(r.get(k) == v for k, v in (where or {}).items())]
    summary = vdu_study.summarise(rows, by, (field,))
    xs = sorted(summary)
    return xs, [summary[x][field][0] for x in xs], [summary[x][field][1] for x in xs]


def plot_sweep(ax: plt.Axes, results: dict, by: str, field: str, scale: float = 1.0, label: str = "",
               x_transform=None, where: dict | None = None, **style) -> plt.Axes:
    """Mean ± sd of ``field`` against ``by``, error bars (``x_transform``: x -> e.g. 1 - gamma; ``style``: color...)."""
    xs, mean, sd = sweep(results, by, field, where)
    xs = [x_transform(x) if x_transform else x for x in xs]
    ax.errorbar(xs, [scale * m for m in mean], [scale * e for e in sd], marker="o", capsize=3, label=label, **style)
    return ax


SWEEP_COLUMNS = {  # field -> (column heading, scale, decimals) of sweep_markdown
    "forget_share": ("share of the forgotten class %", 100, 1), "pul": ("PUL %", 1, 0),
    "fid_remaining": ("FID on the other classes", 1, 1), "other_max": ("largest other class %", 100, 1),
    "unlearn_seconds": ("time (s)", 1, 0),
}


def sweep_markdown(results: dict, by: str, fields: tuple[str, ...] = ("forget_share", "fid_remaining", "other_max"),
                   where: dict | None = None, label: str | None = None) -> str:
    """The numbers behind a ``plot_sweep`` figure: one line per value of ``by``, mean ± sd over seeds of ``fields``
    (the keys of ``SWEEP_COLUMNS``), the pretrained model first when the file has it, so that the prose can quote
    what a cell printed."""
    unknown = [f for f in fields if f not in SWEEP_COLUMNS]
    if unknown:
        raise ValueError(f"unknown sweep field(s) {unknown}; accepted: {', '.join(SWEEP_COLUMNS)}")
    rows = [r for r in results["rows"] if by in r and all(r.get(k) == v for k, v in (where or {}).items())]
    summary = vdu_study.summarise(rows, by, fields)
    lines = [f"| {label or by} | seeds | " + " | ".join(SWEEP_COLUMNS[f][0] for f in fields) + " |",
             "|---|---|" + "---|" * len(fields)]
    base = [r for r in results["rows"] if r.get("method") == "pretrained"]
    if base:  # the reference line of the figure
        summary_base = {f: _stats(base, f) for f in fields} | {"n_seeds": len(base)}
        lines.append(_sweep_line("pretrained", summary_base, fields))
    lines += [_sweep_line(f"{x:g}", summary[x], fields) for x in sorted(summary)]
    return "\n".join(lines)


def _sweep_line(name: str, s: dict, fields: tuple[str, ...]) -> str:
    pm = _pm if s["n_seeds"] > 1 else _mean_only
    return (f"| {name} | {s['n_seeds']} | "
            + " | ".join(pm(s[f], SWEEP_COLUMNS[f][1], SWEEP_COLUMNS[f][2]) for f in fields) + " |")


def base_value(results: dict, field: str) -> tuple[float, float]:
    """Mean and sd over seeds of the pretrained model's ``field`` (the reference line in every plot)."""
    return _stats([r for r in results["rows"] if r.get("method") == "pretrained"], field)


# ----------------------------------------------------------------------------- vdu-fs: digits x variants
def digit_rows(results: dict) -> dict[tuple[str, int], dict]:
    """Per (variant, digit), ``pretrained`` included: mean and sd over seeds of ``FIELDS``."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in results["rows"]:
        groups.setdefault((r["variant"], r["digit"]), []).append(r)
    return {k: {f: _stats(rows, f) for f in FIELDS} | {"n_seeds": len(rows)} for k, rows in groups.items()}


def digits_markdown(*files: dict, variants: tuple[str, ...] | None = None) -> str:
    """One line per digit and variant (pretrained first) over one or more ``vdu_digits table`` files."""
    stats: dict[tuple[str, int], dict] = {}
    for results in files:
        stats |= digit_rows(results)
    b = files[0]["settings"]["budget"]
    head = (f"| digit | method ({b['n_samples']} samples, DDIM {b['ddim_steps']}, eta {b['eta']:g}) | seeds "
            "| forget share % | PUL % | FID remaining | FID rise % | confident % | other digits min–max % | time (s) "
            "| bars |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    digits = sorted({d for _, d in stats})
    names = variants or tuple(dict.fromkeys(v for v, _ in stats if v != "pretrained"))
    for d in digits:
        for v in ("pretrained", *names):
            if (v, d) not in stats:
                continue
            s = stats[v, d]
            pm = _pm if s["n_seeds"] > 1 else _mean_only
            met = "" if v == "pretrained" else ("all met" if all(check_bars(s).values()) else
                                                 "missed: " + ", ".join(k for k, ok in check_bars(s).items()
                                                                        if not ok))
            lines.append(f"| {d} | {vdu_digits.LABELS.get(v, v)} | {s['n_seeds']} "
                         f"| {pm(s['forget_share'], 100, share_digits(s['forget_share'][0]))} "
                         f"| {pm(s['pul'], 1, 0)} | {pm(s['fid_remaining'])} "
                         f"| {pm(s['fid_remaining_rise'], 100, 0)} "
                         f"| {pm(s['confident_share'], 100)} "
                         f"| {100 * s['other_min'][0]:.1f}–{100 * s['other_max'][0]:.1f} "
                         f"| {pm(s['unlearn_seconds'], 1, 0)} | {met} |")
    return "\n".join(lines)


def verdict_lines(stats: dict[tuple[str, int], dict], variant: str, digits: tuple[int, ...] = (7, 3),
                  time_on: str | None = None) -> list[str]:
    """Per digit: what ``variant`` leaves of it against the pretrained model, the FID rise on the other digits, the time
    and the bars missed (``stats``: ``digit_rows``); ``time_on``: where times not from 2 cores came from (unjudged)."""
    out = []
    for d in [d for d in digits if (variant, d) in stats]:
        s, base = stats[variant, d], stats.get(("pretrained", d))
        missed = [k for k, ok in check_bars(s).items() if not ok and not (time_on and k == "time <= 2 min")]
        before = f" (pretrained {100 * base['forget_share'][0]:.1f}%)" if base else ""
        k = share_digits(s["forget_share"][0])
        where, aside = (f" on {time_on}", " (the time bar aside)") if time_on else ("", "")
        out.append(f"{variant}, digit {d}: {_pm(s['forget_share'], 100, k)}% left"
                   f"{before}, FID on the other digits {round(100 * s['fid_remaining_rise'][0]):+d} ± "
                   f"{100 * s['fid_remaining_rise'][1]:.0f}%, {s['unlearn_seconds'][0]:.0f} s per run{where}; bars "
                   f"missed{aside}: {', '.join(missed) or 'none'}")
    return out


def fid_noise_line(results: dict, digits: tuple[int, ...] = (7, 3)) -> str:
    """How much the pretrained model's own FID on the remaining digits moves between sampling seeds: the noise under
    the +15% quality bar (a rise is read against the same seed's pretrained FID)."""
    parts = []
    for d in digits:
        fids = [r["fid_remaining"] for r in results["rows"] if r["variant"] == "pretrained" and r["digit"] == d]
        if len(fids) > 1:
            parts.append(f"digit {d}: {min(fids):.2f}–{max(fids):.2f} ({100 * (max(fids) / min(fids) - 1):.0f}% apart)")
    return ("the pretrained model's FID on the remaining digits across its sampling seeds: " + "; ".join(parts)
            if parts else "one sampling seed: no FID spread to report")


def mix_markdown(results: dict) -> str:
    """The mix study (``vdu_mix.mix``) as a table: per row, the FID rise measured and the rise of the pretrained
    model's own samples re-mixed to that row's class shares (no image changed, only which digits are drawn)."""
    lines = ["| digit | seed | FID rise measured | same rise from the class mix alone | images re-mixed |",
             "|---|---|---|---|---|"]
    for r in sorted(results["rows"], key=lambda r: (r["digit"] not in (7, 3), r["digit"] != 7, r["digit"], r["seed"])):
        alone = "n/a" if r["mix_rise"] is None else f"{round(100 * r['mix_rise']):+d}%"
        rise = round(100 * r["fid_remaining_rise"])
        lines.append(f"| {r['digit']} | {r['seed']} | {rise:+d}% | {alone} | {r['n']} |")
    return "\n".join(lines)


def mix_summary(results: dict) -> str:
    """One line: per digit 7 and 3 the mean rise measured and from the mix alone, and the largest gap over all rows."""
    rows = [r for r in results["rows"] if r["mix_rise"] is not None]
    parts = [f"digit {d}: {round(100 * _stats(mine, 'fid_remaining_rise')[0]):+d}% measured, "
             f"{round(100 * _stats(mine, 'mix_rise')[0]):+d}% from the mix alone (mean of {len(mine)} seeds)"
             for d in (7, 3) if (mine := [r for r in rows if r["digit"] == d])]
    gap = max((abs(r["fid_remaining_rise"] - r["mix_rise"]) for r in rows), default=math.nan)
    return "; ".join(parts) + f"; largest gap over all {len(rows)} rows: {100 * gap:.0f} points"


def digits_bars(results: dict, variant: str = "vdu-fs") -> dict[int, dict[str, bool]]:
    """The bar checks of one variant, per digit (on the means over seeds)."""
    return {d: check_bars(s) for (v, d), s in sorted(digit_rows(results).items(), key=lambda kv: kv[0][1])
            if v == variant}


def plot_trajectory(axes, results: dict) -> None:
    """Forget share and FID on the remaining digits against the optimiser step, one line per variant."""
    rows = results["rows"]
    base = next(r for r in rows if r["variant"] == "pretrained")
    for v in dict.fromkeys(r["variant"] for r in rows if r["variant"] != "pretrained"):
        mine = sorted((r for r in rows if r["variant"] == v), key=lambda r: r["step"])
        steps = [0] + [r["step"] for r in mine]
        for ax, field, scale in ((axes[0], "forget_share", 100), (axes[1], "fid_remaining", 1)):
            ax.plot(steps, [scale * base[field]] + [scale * r[field] for r in mine], marker="o",
                    label=vdu_digits.LABELS.get(v, v))
    axes[0].set(xlabel="optimiser step", ylabel=f"share of {results['settings']['digit']}s (%)")
    axes[1].set(xlabel="optimiser step", ylabel="FID on the other digits", yscale="log")
    axes[0].axhline(100 * BARS["forget_share"], color="k", ls=":", lw=1, label="bar (1%)")
    axes[0].legend(fontsize=8)


HEATMAP_FIELDS = {  # field -> (scale, what it shows, colour-bar label with the unit, decimals) of a digits_heatmap
    "forget_share": (100, "share of the forgotten digit among the samples (%)", "forget share, %", 1),
    "fid_remaining": (1, "FID on the other digits", "FID (classifier features)", 1),
    "fid_remaining_rise": (100, "FID on the other digits: rise over the pretrained model's (%)", "FID rise, %", 0),
    "confident_share": (100, "samples recognised with confidence >= 0.9 (%)", "confident share, %", 0),
}


def digits_heatmap(ax, results: dict, variants: tuple[str, ...] = ("pretrained", "vdu-fs"),
                   field: str = "forget_share", colorbar: bool = True) -> None:
    """``field`` (``HEATMAP_FIELDS``; default the forget share, %) per digit forgotten (columns) and variant (rows),
    mean over seeds, annotated in each cell, with a labelled colour bar. Cells without a value stay blank, and a
    variant without any value is left out."""
    import numpy as np

    if field not in HEATMAP_FIELDS:
        raise ValueError(f"unknown heatmap field {field!r}; accepted: {', '.join(HEATMAP_FIELDS)}")
    scale, what, unit, decimals = HEATMAP_FIELDS[field]
    stats = digit_rows(results)
    digits = sorted({d for _, d in stats})
    grid = np.array([[scale * stats[v, d][field][0] if (v, d) in stats else np.nan for d in digits]
                     for v in variants], dtype=float)
    shown = np.isfinite(grid).any(axis=1)  # a variant without any value (the pretrained model's rise) is left out
    if shown.any():
        grid, variants = grid[shown], tuple(v for v, keep in zip(variants, shown, strict=True) if keep)
    finite = grid[np.isfinite(grid)]
    top = float(finite.max()) if finite.size else 1.0
    vmax = max(16.0, top) if field == "forget_share" else top  # the forget share: pretrained (~10%) stays mid-scale
    low = float(finite.min()) if finite.size else 0.0
    vmin = low if field == "fid_remaining" else min(0.0, low)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="magma_r", vmin=vmin, vmax=vmax, aspect="auto")
    for i, j in np.ndindex(grid.shape):
        if np.isfinite(grid[i, j]):
            dark = (grid[i, j] - vmin) / max(vmax - vmin, 1e-12) > 0.5
            ax.text(j, i, f"{grid[i, j]:.{decimals}f}", ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
    budget = results.get("settings", {}).get("budget", {})
    how = [f"{budget['n_samples']:,} samples per model"] if budget.get("n_samples") else []
    how += [f"mean over {len(budget['seeds'])} seeds"] if budget.get("seeds") else []
    ax.set(xticks=range(len(digits)), xticklabels=digits, yticks=range(len(variants)),
           yticklabels=[vdu_digits.LABELS.get(v, v).split(" (")[0] for v in variants], xlabel="digit forgotten",
           title=what + (f"; {', '.join(how)}" if how else ""))
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=unit, fraction=0.04, pad=0.01)


def shade_bars(ax, bars: tuple[float, float]) -> None:
    """Shade the corner of a forget-share (%, y) against FID-rise (%, x) plot where both ``bars`` (fractions) hold."""
    ax.fill_between([min(0.0, ax.get_xlim()[0]), 100 * bars[1]], 0, 100 * bars[0], color="green", alpha=0.25,
                    label="both bars met")


def plot_frontier(ax, *files: dict, digits: tuple[int, ...] = (7, 3)) -> dict[tuple[str, int], tuple[float, float]]:
    """Forget share (%) against the FID rise on the other digits (%), one point per variant and digit (mean ± sd over
    seeds, as error bars), over one or more ``vdu_digits table`` files; the pretrained model sits at zero rise (a
    star) and the region meeting both bars is shaded. Returns the plotted means, keyed by (variant, digit)."""
    stats: dict[tuple[str, int], dict] = {}
    for results in files:
        stats |= {k: s for k, s in digit_rows(results).items() if k[1] in digits}
    if not any(v != "pretrained" for v, _ in stats):
        raise ValueError(f"no vdu-fs rows for digits {digits}; the files hold digits "
                         f"{sorted({r['digit'] for f in files for r in f['rows']})}")
    markers = dict(zip(sorted(digits), "os^vD<>ph", strict=False))
    hollow = {d: j % 2 == 1 for j, d in enumerate(sorted(digits))}
    variants = list(dict.fromkeys(v for v, _ in stats if v != "pretrained"))
    points = {}
    for d in sorted(digits):
        if ("pretrained", d) in stats:
            ax.plot(0, 100 * stats["pretrained", d]["forget_share"][0], marker="*", ms=12, color="k", ls="none",
                    label="pretrained (each digit)" if d == min(digits) else None)
        for i, v in enumerate(variants):
            if (v, d) not in stats:
                continue
            s = stats[v, d]
            x, y = 100 * s["fid_remaining_rise"][0], 100 * s["forget_share"][0]
            points[v, d] = (x, y)
            ax.errorbar(x, y, xerr=100 * s["fid_remaining_rise"][1], yerr=100 * s["forget_share"][1],
                        marker=markers[d], color=f"C{i}", capsize=3, ls="none", ms=7,
                        mfc="white" if hollow[d] else None,  # the digits differ by fill too, legible in the legend
                        label=f"{vdu_digits.LABELS.get(v, v).split(' (')[0]}, digit {d}")
    shade_bars(ax, (BARS["forget_share"], BARS["fid_remaining_rise"]))
    ax.set(xlabel="FID rise on the other digits (%)", ylabel="share of the forgotten digit (%)",
           title="forgetting against image quality (mean ± sd over seeds)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return points


def filter_markdown(results: dict) -> str:
    """The forget-like filter's audit (``vdu_digits filter``) as a table: per digit and ratio, means over the forget
    sets of the seeds: replay samples the course classifier reads as the digit, dropped, of the digit still kept, and
    the fewest kept of any other digit."""
    groups: dict[tuple[int, float], list[dict]] = {}
    for r in results["rows"]:
        groups.setdefault((r["digit"], r["ratio"]), []).append(r)
    lines = ["| digit | filter ratio | replay samples read as the digit | dropped | of the digit kept | "
             "fewest kept of another digit | seeds |", "|---|---|---|---|---|---|---|"]
    for (digit, ratio), rs in groups.items():
        def mean(f, rs=rs) -> float:
            return sum(f(r) for r in rs) / len(rs)
        fewest = mean(lambda r: min(c for k, c in enumerate(r["kept_per_class"]) if k != r["digit"]))
        lines.append(f"| {digit} | {ratio:g} | {mean(lambda r: r['read_as_digit']):.0f} of {rs[0]['replay_n']} | "
                     f"{mean(lambda r: r['dropped']):.0f} | {mean(lambda r: r['digit_kept']):.1f} | {fewest:.0f} | "
                     f"{len(rs)} |")
    return "\n".join(lines)
