"""Lesson 03 section 7.23: fs-guide-ema, the command line's defaults, on ``mnist-ddpm-large`` (a larger MNIST DDPM
trained on a CUDA GPU), read beside the same runs on the shipped ``mnist-ddpm``.

The model is not shipped: ``course.gpu_steps`` lists the commands that make it and its table (``vdu-fs-large``), and
``data/results/mnist-ddpm-large-record.json`` is its folder's ``record.json`` (recipe, machine, training time, weights'
SHA-256), so a clone can tell which model the table scored. The GPU time lent to the course ran out before digit 7's
third seed; that run was made on the 2-core CPU (``vdu-fs-large-cpu``), which also measures what one run of this model
costs where the course's time bar is set.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.datasets import samples
from fdunlearn.models import ddpm
from fdunlearn.studies import vdu_report

LARGE, SMALL = "mnist-ddpm-large", "mnist-ddpm"
VARIANT = "fs-guide-ema"
RECORD = config.REPO_ROOT / "data" / "results" / f"{LARGE}-record.json"


def parameters(recipe: str) -> int:
    """The number of weights of a DDPM recipe's network (built, not trained: no file needed)."""
    return sum(p.numel() for p in ddpm.build_unet(ddpm.RECIPES[recipe]).parameters())


def load_record(path: str | Path = RECORD) -> dict:
    """The large model's training record (a clear error naming the file when it is missing or not a record)."""
    rec = io.read_json(Path(path), f"{LARGE}'s training record")
    if not isinstance(rec, dict) or rec.get("kind") != "ddpm" or "recipe" not in rec:
        raise ValueError(f"{path} is not a DDPM training record; accepted: a copy of runs/{LARGE}/record.json")
    return rec


def recipe_line(record: dict) -> str:
    """The two recipes side by side, and how the large one was trained (from its record)."""
    small, large = ddpm.RECIPES[SMALL], ddpm.RECIPES[LARGE]
    n_small, n_large = parameters(SMALL), parameters(LARGE)

    def shape(r: ddpm.DDPMRecipe, n: int) -> str:
        return (f"{r.name}: {n / 1e6:.2f}M parameters, channels {'/'.join(map(str, r.block_out_channels))}, "
                f"{r.layers_per_block} layer(s) per block, {r.steps:,} steps of {r.batch_size}")

    return (f"{shape(large, n_large)} ({n_large / n_small:.1f}x); {shape(small, n_small)}. {LARGE} was trained on "
            f"{record.get('hardware', 'an unrecorded machine')} in {record.get('train_seconds', float('nan')):.0f} s "
            f"(torch {record.get('torch_version', '?')}, data {record.get('data_source', '?')}, final loss "
            f"{record.get('final_loss', float('nan')):.4f}; weights SHA-256 {str(record.get('sha256', '?'))[:12]}...)")


def seeds_line(results: dict, variant: str = VARIANT) -> str:
    """Which seeds of ``variant`` a table holds, per digit."""
    seeds: dict[int, list[int]] = {}
    for r in results["rows"]:
        if r["variant"] == variant:
            seeds.setdefault(int(r["digit"]), []).append(int(r["seed"]))
    return "; ".join(f"digit {d}: seed(s) {', '.join(map(str, sorted(s)))}" for d, s in sorted(seeds.items()))


def lines(large: dict, small: dict | None, digits: tuple[int, ...] = (3, 7), variant: str = VARIANT) -> list[str]:
    """Per digit, ``vdu_report.verdict_lines`` of ``variant`` on the large model (its times are the GPU's, so the time
    bar is read on the CPU instead: ``cpu_line``), then on mnist-ddpm (``small``), each prefixed with its model."""
    big = vdu_report.digit_rows(large)
    small_stats = vdu_report.digit_rows(small) if small is not None else {}
    out = []
    for d in digits:
        out += [f"{LARGE}: {line}" for line in vdu_report.verdict_lines(big, variant, (d,), time_on="the GPU")]
        out += [f"{SMALL}: {line}" for line in vdu_report.verdict_lines(small_stats, variant, (d,))]
    return out


def cpu_line(cpu: dict, variant: str = VARIANT) -> str:
    """The runs of ``variant`` made on the 2-core CPU: what they left, and their time against the course's bar (with
    the part that drew the replay set, which a second run on the same model finds cached)."""
    parts = []
    bar = vdu_report.BARS["unlearn_seconds"]
    for r in sorted((r for r in cpu["rows"] if r["variant"] == variant), key=lambda r: (r["digit"], r["seed"])):
        base = _row(cpu, "pretrained", r["digit"], r["seed"])
        replay = r.get("replay") or {}
        drawn = (f", of which {replay['seconds']:.0f} s drew the replay set (cached for later runs: "
                 f"{(r['unlearn_seconds'] - replay['seconds']) / bar:.1f}x the bar without it)"
                 if replay.get("cached") is False else "")
        parts.append(f"digit {r['digit']}, seed {r['seed']}: {100 * r['forget_share']:.1f}% left (pretrained "
                     f"{100 * base['forget_share']:.1f}%), FID on the other digits "
                     f"{round(100 * r['fid_remaining_rise']):+d}%, {r['unlearn_seconds']:.0f} s for the run on 2 cores "
                     f"({r['unlearn_seconds'] / bar:.1f}x the {bar:.0f} s bar{drawn})")
    return f"{LARGE} on the CPU: " + "; ".join(parts)


def combined(large: dict, cpu: dict, variant: str = VARIANT) -> dict:
    """The GPU table with the CPU's runs of ``variant`` added (each scored against its own machine's pretrained row,
    which stays in its own file): every seed of a digit in one set of rows, for the verdict over all of them. The
    added rows' times are left out, so the times read are the GPU's."""
    have = {r["key"] for r in large["rows"]}
    extra = [r | {"unlearn_seconds": None} for r in cpu["rows"] if r["variant"] == variant and r["key"] not in have]
    return {**large, "rows": large["rows"] + extra}  # the times stay the GPU's: the CPU's are ``cpu_line``'s


def _row(results: dict, variant: str, digit: int, seed: int) -> dict | None:
    key = f"{'base' if variant == 'pretrained' else variant}/digit={digit}/seed={seed}"
    return next((r for r in results["rows"] if r["key"] == key), None)


def figure(large: dict, small: dict | None, digit: int = 3, seed: int = 0, variant: str = VARIANT) -> plt.Figure:
    """The first 16 samples of each model before and after ``variant`` (one run: ``digit``, ``seed``; the same
    sampler noise on every panel)."""
    models = [(LARGE, large)] + ([(SMALL, small)] if small is not None else [])
    n = large["settings"]["budget"]["n_samples"]
    fig, axes = plt.subplots(len(models), 2, figsize=(7, 3.6 * len(models)), squeeze=False)
    for (name, results), row_axes in zip(models, axes, strict=True):
        for ax, v in zip(row_axes, ("pretrained", variant), strict=True):
            row = _row(results, v, digit, seed)
            ax.axis("off")
            if row is None:
                ax.set_title(f"{name}, {v}: not run", fontsize=9)
                continue
            ax.imshow(samples.thumbnail(row), cmap="gray")
            ax.set_title(f"{name}, {v}: {100 * row['forget_share']:.1f}% {digit}s", fontsize=9)
    fig.suptitle(f"forget digit {digit}, seed {seed}: the first samples of the {n:,} scored")
    fig.tight_layout()
    return fig
