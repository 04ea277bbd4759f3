"""fs-guide-ema and every lever tried on it (lesson 03 sections 7.14-7.20), read together (section 7.21).

No new run: the five digits tables those sections made, summarised per digit: where the settings land against the
forget and the quality bars, and how the share left varies with the seed (the forget set, the run and the samples'
noise all follow the seed) next to how it varies with the setting.
"""

from __future__ import annotations

from pathlib import Path

from fdunlearn.studies import vdu_report

# the digits tables of sections 7.14-7.20, in the order the lesson made them
TABLES = ("fs-guide-ema", "fs-guide-ema-scale", "fs-guide-levers", "fs-guide-low200", "fs-guide-ema-lr")


def load(folder: Path | None = None) -> list[dict]:
    """The tables of ``TABLES`` (``vdu_report.load``: a missing one is named with the command that makes it)."""
    return [vdu_report.load(name, folder) for name in TABLES]


def shares(files: list[dict], digit: int) -> dict[str, dict[int, float]]:
    """variant -> seed -> share of ``digit`` left (a fraction), over every table's runs of ``digit``."""
    out: dict[str, dict[int, float]] = {}
    for results in files:
        for r in results["rows"]:
            if r["digit"] == digit and r["variant"] != "pretrained":
                out.setdefault(r["variant"], {})[r["seed"]] = r["forget_share"]
    if not out:
        raise ValueError(f"no runs of digit {digit} in the tables {', '.join(TABLES)}")
    return out


def setting_line(files: list[dict], digit: int) -> str:
    """The settings on ``digit``: the range of their mean shares and FID rises, and which meet every bar."""
    stats: dict[tuple[str, int], dict] = {}
    for results in files:
        stats |= {k: s for k, s in vdu_report.digit_rows(results).items() if k[1] == digit and k[0] != "pretrained"}
    if not stats:
        raise ValueError(f"no runs of digit {digit} in the tables {', '.join(TABLES)}")
    share = {v: s["forget_share"][0] for (v, _), s in stats.items()}
    rise = [s["fid_remaining_rise"][0] for s in stats.values()]
    every = [v for (v, _), s in stats.items() if all(vdu_report.check_bars(s).values())]
    fewest = min(share, key=share.get)
    return (f"digit {digit}, {len(stats)} settings: mean share left {100 * min(share.values()):.2f}–"
            f"{100 * max(share.values()):.2f}%, FID rise on the other digits {round(100 * min(rise)):+d}% to "
            f"{round(100 * max(rise)):+d}%; fewest left: {fewest} ({100 * share[fewest]:.2f}%); every bar met by "
            f"{len(every)} of {len(stats)}" + (f" ({', '.join(every)})" if every else ""))


def seed_line(files: list[dict], digit: int) -> str:
    """The share left per seed, averaged over the settings, and how often each seed leaves the most of any seed."""
    runs = {v: s for v, s in shares(files, digit).items() if len(s) > 1}
    seeds = sorted({seed for s in runs.values() for seed in s})
    if not runs or len(seeds) < 2:
        return f"digit {digit}: fewer than two seeds per setting, no seed to compare"
    full = {v: s for v, s in runs.items() if set(s) == set(seeds)}
    mean = {seed: sum(s[seed] for s in full.values()) / len(full) for seed in seeds}
    most = {seed: sum(max(s, key=s.get) == seed for s in full.values()) for seed in seeds}
    spread = [max(s.values()) - min(s.values()) for s in full.values()]
    across = [max(s[seed] for s in full.values()) - min(s[seed] for s in full.values()) for seed in seeds]
    return (f"digit {digit}, the {len(full)} settings run on seeds {', '.join(map(str, seeds))}: mean share left by "
            "seed " + ", ".join(f"{seed}: {100 * mean[seed]:.2f}%" for seed in seeds) + "; the most left by seed "
            + ", ".join(f"{seed} in {most[seed]}" for seed in seeds) + f"; within a setting the seeds lie "
            f"{100 * min(spread):.1f}–{100 * max(spread):.1f} points apart, within a seed the settings "
            f"{100 * min(across):.1f}–{100 * max(across):.1f}")


def plot(ax, files: list[dict], digits: tuple[int, ...] = (3, 7)) -> dict[tuple[str, int], tuple[float, float]]:
    """Every setting of the tables on one forget/quality picture (``vdu_report.plot_frontier``)."""
    return vdu_report.plot_frontier(ax, *files, digits=digits)
