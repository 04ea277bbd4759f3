"""Lesson 04's attack table (``attack_study``) read for the lesson: the paraphrase attack split by how the digit is
written, the images each attack recovers, and the findings in words computed from the rows."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from fdunlearn import config
from fdunlearn.datasets import captions, samples
from fdunlearn.erasure import attacks as attack
from fdunlearn.studies import attack_study, vdu_relearn, vdu_study
from fdunlearn.studies.results import load as load_results
from fdunlearn.studies.results import mean_sd

RESULTS = config.REPO_ROOT / "data" / "results" / "attacks.json"
# the erased weights (about 1 MB each) go to runs/, outside data/results/, so a resumed study does not erase again
COMMAND = "python -m fdunlearn.attack_study --out data/results/attacks.json --weights-dir runs/attack_study"


def load(path: str | Path | None = None) -> dict:
    """The results file; a clear error with the command that makes it when it is missing."""
    return load_results(path or RESULTS, COMMAND)


def _pct(values: list[float]) -> str:
    """Mean ± sd over seeds of success rates (fractions), in percent."""
    mean, sd = mean_sd(values)
    return f"{100 * mean:.1f} ± {100 * sd:.1f}"


def writing_table(rows: list[dict]) -> str:
    """Markdown: the paraphrase attack's success rate (mean ± sd over seeds, %) per model and per way of writing the
    digit (``captions.WRITINGS``: word, numeral, misspelling)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("phase") == "attack" and r["method"] == "paraphrase":
            groups.setdefault(r["label"], []).append(r)
    lines = ["| model | " + " | ".join(f"written as {w} %" for w in captions.WRITINGS) + " | seeds |",
             "|---|" + "---|" * len(captions.WRITINGS) + "---|"]
    for label, rs in groups.items():
        cells = []
        for w in captions.WRITINGS:
            vals = [r["by_writing"][w] for r in rs if w in r.get("by_writing", {})]
            cells.append(_pct(vals) if vals else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {len(rs)} |")
    return "\n".join(lines)


def plot_recovered(rows: list[dict], seed: int = 0, variants: tuple[str, ...] | None = None,
                   methods: tuple[str, ...] = attack.METHODS) -> plt.Figure:
    """A grid of figures: one row per model, one column per attack, each the first 16 images that scored the attack
    at ``seed`` with its success rate in the title."""
    by_key = {(r["variant"], r["method"]): r for r in rows if r.get("phase") == "attack" and r["seed"] == seed}
    if not by_key:
        seeds = sorted({r["seed"] for r in rows if r.get("phase") == "attack"})
        raise ValueError(f"no attack rows for seed {seed}; accepted: {seeds}")
    names = variants or tuple(dict.fromkeys(v for v, _ in by_key))
    fig, axes = plt.subplots(len(names), len(methods), figsize=(2.3 * len(methods), 2.4 * len(names)), squeeze=False)
    for i, v in enumerate(names):
        for j, m in enumerate(methods):
            ax = axes[i, j]
            ax.axis("off")
            r = by_key.get((v, m))
            if r is None:
                continue
            ax.imshow(samples.thumbnail(r), cmap="gray")
            ax.set_title(f"{m}: {100 * r['success_rate']:.0f}% sevens", fontsize=8)
            if j == 0:
                ax.text(-8, ax.get_ylim()[0] / 2, r["label"], ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def _spread(values: list[float]) -> str:
    """"a%" or "a–b%": the range of success rates (fractions) in whole percent."""
    lo, hi = round(100 * min(values)), round(100 * max(values))
    return f"{lo}%" if lo == hi else f"{lo}–{hi}%"


def _misspelled(rows: list[dict]) -> dict[str, float]:
    """Per model: the share of sevens from the paraphrase attack's misspelled phrasings (not scored), mean over
    seeds."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        if r.get("phase") == "attack" and r["method"] == "paraphrase" and "misspelled" in r.get("by_writing", {}):
            groups.setdefault(r["variant"], []).append(r["by_writing"]["misspelled"])
    return {v: sum(x) / len(x) for v, x in groups.items()}


def findings(results: dict) -> list[str]:
    """Sentences computed from the rows: the sanity check on the base model, what each attack recovers after
    erasure (mean over erased models and seeds), and which erasers, if any, stay low under every attack."""
    rows = results["rows"]
    summary = attack_study.summarise(rows)
    out = []
    for m in attack.METHODS:
        base = summary.get(("base", m))
        erased = [e["success_rate"][0] for (v, w), e in summary.items() if w == m and v != "base"]
        if base is None or not erased:
            continue
        out.append(f"{m}: {100 * base['success_rate'][0]:.0f}% sevens on the base MiniSD, {_spread(erased)} after "
                   f"erasure ({len(erased)} erased models, means over seeds)")
    miss = _misspelled(rows)
    if "base" in miss and len(miss) > 1:
        erased = [m for v, m in miss.items() if v != "base"]
        out.append(f"paraphrase misspelled (reported, not scored: the base model does not read a misspelling as the "
                   f"digit either): {100 * miss['base']:.0f}% on the base MiniSD, {_spread(erased)} after erasure")
    strong = attack_study.strong_erasers(summary, rows)
    out.append("erasers whose success rate stays at the anchor's floor under every attack: "
               + (", ".join(strong) if strong else "none"))
    return out


def relearn_table(*relearns: dict) -> str:
    """Lesson 03's relearning checks (``vdu_digits relearn``, one file per method and number of forget images) as an
    attack on the unlearned DDPM, in the attack table's format: the attack is a short fine-tune on a few forget images,
    its success rate the share of samples read as the forgotten digit, "before unlearning" the same fine-tune from
    the pretrained model and "retrained without it" from the model trained without the digit (exact unlearning, the
    floor an attack on any unlearned model starts from; "–" where the file has no such rows)."""
    lines = ["| model | attack | success % | before unlearning % | retrained without it % | seeds |",
             "|---|---|---|---|---|---|"]
    shown: set[tuple[str, int]] = set()  # (variant, digit) whose unattacked row is in the table already
    for relearn in relearns:
        s = relearn["settings"]
        digit, variant = s["digit"], s.get("variant", "vdu-fs")
        n = s.get("relearn_n", vdu_study.RELEARN_N)
        groups: dict[tuple[str, int], list[float]] = {}
        for r in relearn["rows"]:
            groups.setdefault((r["start"], r["relearn_steps"]), []).append(r["forget_share"])
        start = vdu_relearn.unlearned_start(relearn)  # the method run, e.g. fs-guide for fs-guide-ema
        for steps in sorted({k for _, k in groups}):
            after, before, exact = (groups.get((k, steps)) for k in (start, "pretrained", "retrained"))
            if after is None or (steps == 0 and (variant, digit) in shown):
                continue
            shown |= {(variant, digit)} if steps == 0 else set()
            attack_name = ("none (the unlearned model itself)" if steps == 0
                           else f"relearn: {steps} fine-tuning steps on {n} forget image{'s' * (n > 1)}")
            lines.append(f"| {variant}, MNIST DDPM, digit {digit} | {attack_name} | {_pct(after)} | "
                         f"{_pct(before) if before else '–'} | {_pct(exact) if exact else '–'} | {len(after)} |")
    return "\n".join(lines)
