"""README.md's generated blocks: measured numbers and commands written from the files they come from.

    python -m fdunlearn.readme           # rewrite every block of README.md from data/ and the study list
    python -m fdunlearn.readme --check   # exit 1, naming each block that is out of date (tests/test_readme_numbers.py)

A block (``<!-- BEGIN name -->`` to ``<!-- END name -->``) is written by its ``BLOCKS`` function: rerun, then reread it.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from fdunlearn import config, course, validate
from fdunlearn.course import run_notebooks
from fdunlearn.studies import claims, guide_bands, guide_fit, guide_target, vdu_digits, vdu_oracle, vdu_report
from fdunlearn.unlearning import guide, replay

README = config.REPO_ROOT / "README.md"
WIDTH = 118
NAMES = {0: "zeros", 1: "ones", 2: "twos", 3: "threes", 4: "fours", 5: "fives", 6: "sixes", 7: "sevens",
         8: "eights", 9: "nines"}
FOCUS = (7, 3)  # the digits with every seed; the other eight follow
MINUS = "\u2212"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}"


def _signed(x: float) -> str:
    """A relative change in whole percent, with its sign (a typographic minus)."""
    return f"{round(100 * x):+d}%".replace("-", MINUS)


def _pm(stat: tuple[float, float], n_seeds: int, digits: int = 1, scale: float = 100.0) -> str:
    return f"{scale * stat[0]:.{digits}f}" + (f" ± {scale * stat[1]:.{digits}f}" if n_seeds > 1 else "")


def _pm_signed(s: tuple[float, float], n_seeds: int) -> str:
    return (f"{round(100 * s[0]):+d} ± {100 * s[1]:.0f}%" if n_seeds > 1 else _signed(s[0])).replace("-", MINUS)


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _vdu_fs(results: dict | None, variant: str = "vdu-fs") -> tuple[dict, dict, list[dict]]:
    results = results if results is not None else vdu_report.load("vdu-fs-digits")
    return results, vdu_report.digit_rows(results), [r for r in results["rows"] if r["variant"] == variant]


def vdu_fs_headline(results: dict | None = None) -> str:
    """Sevens and threes under vdu-fs: forget share before -> after, the other digits, time, FID rise by seed."""
    results, stats, rows = _vdu_fs(results)
    b = vdu_report.BARS
    parts, fs, lo, hi = [], [], [], []
    for d in FOCUS:
        base, s = stats["pretrained", d], stats["vdu-fs", d]
        parts.append(f"{NAMES[d]} {_pm(base['forget_share'], base['n_seeds'])}% → "
                     f"{_pm(s['forget_share'], s['n_seeds'])}%")
        fs.append(s["forget_share"][0])
        lo.append(s["other_min"][0])
        hi.append(s["other_max"][0])
    seven = stats["vdu-fs", FOCUS[0]]
    fid_ok = [stats["vdu-fs", d]["fid_remaining_rise"][0] <= b["fid_remaining_rise"] for d in FOCUS]
    fids = []
    for d in FOCUS:
        s = stats["vdu-fs", d]
        by_seed = [_signed(r["fid_remaining_rise"]) for r in sorted(rows, key=lambda r: r["seed"]) if r["digit"] == d]
        fids.append(f"{_pm_signed(s['fid_remaining_rise'], s['n_seeds'])} for {NAMES[d]}"
                    + (f" ({', '.join(by_seed)} by seed)" if len(by_seed) > 1 else ""))
    quality = ("and it **meets the image-quality bar**" if all(fid_ok) else
               "but it **misses the image-quality bar**" if not any(fid_ok) else
               "but it meets the image-quality bar only in part")
    other_ok = min(lo) >= b["other_min"] and max(hi) <= b["other_max"]
    return (f"{', '.join(parts)} (bar {100 * b['forget_share']:.0f}%: {_met(max(fs) <= b['forget_share'])}), "
            f"other digits {_pct(min(lo))}–{_pct(max(hi))}% (bar {100 * b['other_min']:.0f}–"
            f"{100 * b['other_max']:.0f}%: {_met(other_ok)}), "
            f"{_pm(seven['unlearn_seconds'], seven['n_seeds'], 0, 1)} s "
            f"per run for {NAMES[FOCUS[0]]} on an idle machine (bar {b['unlearn_seconds'] / 60:.0f} min: "
            f"{_met(seven['unlearn_seconds'][0] <= b['unlearn_seconds'])}); {quality}: FID on the other digits "
            f"{_and(fids)}; bar +{100 * b['fid_remaining_rise']:.0f}%.")


def vdu_fs_other_digits(results: dict | None = None, variant: str = "vdu-fs") -> str:
    """The other eight digits under ``variant``: seeds so far, forget share, FID rise, which meet every bar."""
    results, stats, rows = _vdu_fs(results, variant)
    b = vdu_report.BARS
    others = sorted(d for v, d in stats if v == variant and d not in FOCUS)
    if not others:
        return "(not run yet)."
    planned = results["settings"]["budget"]["seeds"]
    seeds = {d: sorted(r["seed"] for r in rows if r["digit"] == d) for d in others}
    counts = sorted({len(s) for s in seeds.values()})
    if counts == [len(planned)]:
        when = f"{len(planned)} seeds"
    else:
        done = sorted(set().union(*map(set, seeds.values())))
        so_far = (f"seed {done[0]} only" if counts == [1] and len(done) == 1 else
                  f"{counts[0]}–{counts[-1]} of {len(planned)} seeds")
        rest = [s for s in planned if s not in done]
        when = (f"{so_far} so far; the same command resumes with "
                + (f"seeds {_and([str(s) for s in rest])}" if len(rest) > 1 else
                   f"seed {rest[0]}" if rest else "the missing seeds"))
    share = {d: stats[variant, d]["forget_share"][0] for d in others}
    low = [d for d in others if share[d] <= b["forget_share"]]
    high = sorted((d for d in others if share[d] > b["forget_share"]), key=lambda d: share[d])
    detail = ([f"at most {100 * b['forget_share']:.0f}% for {_and([str(d) for d in low])}"] if low else []) + \
        [f"{_pct(share[d])}% for {d}" for d in high]
    rises = [stats[variant, d]["fid_remaining_rise"][0] for d in others]
    every = [d for d in others if all(vdu_report.check_bars(stats[variant, d]).values())]
    verdict = (f"digit {every[0]} meets every bar" if len(every) == 1 else
               f"digits {_and([str(d) for d in every])} meet every bar" if every else "none meets every bar")
    return (f"({when}): forget share {_pct(min(share.values()))}–{_pct(max(share.values()))}% "
            f"({'; '.join([', '.join(detail[:1]), ', '.join(detail[1:])] if low and high else detail)}), "
            f"FID on the other digits {_signed(min(rises))} to {_signed(max(rises))}; {verdict}.")


def claims_table(path: str | Path = claims.PATH) -> str:
    """The ledger's verdicts, one line per claim (the full table: ``claims.table_markdown()``)."""
    ledger = claims.load(path)
    lines = ["| paper | claim | verdict | lesson |", "|---|---|---|---|"]
    for c in ledger["claims"]:
        paper = ledger["papers"][c["paper"]].split(",")[0] + " et al."
        claim = " ".join(c["claim"].split()).replace("|", "\\|")
        lines.append(f"| {paper} | {claim} | **{c['verdict']}** | {c['lesson']} |")
    return "\n".join(lines)


def reproduce_commands() -> str:
    """The studies behind ``data/results/``, in the order ``make reproduce`` runs them."""
    lines = [s.line(".venv/bin/python") for s in course.study_steps()]
    return "```bash\n" + "\n".join(lines) + "\n```"


REGIMES = config.REPO_ROOT / "data" / "results" / "erasure_regimes.json"


def erase_regimes_summary(path: str | Path = REGIMES) -> str:
    """Lesson 04's regimes study in one paragraph: the comparisons with MSE, which separate (``regimes_report``)."""
    from fdunlearn import files as io
    from fdunlearn.studies import erase_regimes, regimes_report

    rows = io.read_json(path, "erase_regimes results")["rows"]
    comps = erase_regimes.comparisons(rows)
    seeds = sorted({s for e in comps for s in e["seeds"]})
    found = regimes_report.separated(comps)
    lines = regimes_report.findings(comps)
    head = (f"Where the choice of f shows (`python -m fdunlearn.erase_regimes`; MSE, Hellinger and chi² on "
            f"{len(seeds)} paired seeds, 200 steps; {len(comps)} settings compared with MSE (the leaky critic with "
            "the fixed one), each on target, held-out and retained accuracy):")
    if not found:
        return f"{head} {lines[0]}."
    return f"{head} {len(found)} of {3 * len(comps)} paired 95% intervals exclude 0: " + "; ".join(lines) + "."


def erase_defaults_summary(path: str | Path = config.REPO_ROOT / "data" / "results" / "erase_defaults.json") -> str:
    """The `erase` command's defaults on MiniSD against lesson 04's bars (``erase_defaults.headline``)."""
    from fdunlearn.studies import erase_defaults
    return erase_defaults.headline(erase_defaults.load(path))


def vdu_fs_frontier() -> str:
    """Lesson 03 section 7.7: three vdu-fs settings off the defaults on digits 7 and 3, against both bars."""
    results = vdu_report.load("vdu-fs-frontier")
    stats = vdu_report.digit_rows(results)
    parts, names = [], {7: "sevens", 3: "threes"}
    for v in dict.fromkeys(v for v, _ in stats if v != "pretrained"):
        per = [f"{names[d]} {_pct(stats[v, d]['forget_share'][0])}% left, FID on the other digits "
               f"{_signed(stats[v, d]['fid_remaining_rise'][0])}" for d in (7, 3) if (v, d) in stats]
        parts.append(f"{vdu_digits.LABELS.get(v, v)}: " + ", ".join(per))
    both = [k for k, st in stats.items() if k[0] != "pretrained"
            and all(vdu_report.check_bars(st)[b] for b in ("forget share <= 1%", "FID rise <= 15%"))]
    verdict = "none meets" if not both else f"{len(both)} of {len(parts) * 2} meet"
    return (f"Three settings off the defaults (`{vdu_report.command('vdu-fs-frontier')}`; "
            f"{len(results['settings']['budget']['seeds'])} seeds, means): " + "; ".join(parts)
            + f"; {verdict} the forget and the quality bar together.")


def _variant_parts(stats: dict, variant: str) -> list[str]:
    """Per digit 7 and 3: before -> after forget share, FID rise, time and the bars missed, for one variant."""
    parts = []
    for d in (d for d in (7, 3) if (variant, d) in stats):
        s, base = stats[variant, d], stats["pretrained", d]
        n = s["n_seeds"]
        missed = [k for k, ok in vdu_report.check_bars(s).items() if not ok]
        after = _pm(s["forget_share"], n, vdu_report.share_digits(s["forget_share"][0]))
        parts.append(f"{NAMES[d]} {_pm(base['forget_share'], n)}% → {after}%, FID on the other "
                     f"digits {_pm_signed(s['fid_remaining_rise'], n)}, {s['unlearn_seconds'][0]:.0f} s per run "
                     f"({'every bar met' if not missed else 'missed: ' + ', '.join(missed)})")
    return parts


def _digits_headline(name: str, variant: str, what: str | None = None) -> str:
    """One digits table (``name``) of ``variant`` against the bars: command, ``what`` (its label), seeds, bars."""
    what = vdu_digits.LABELS[variant] if what is None else what
    results = vdu_report.load(name)
    parts = _variant_parts(vdu_report.digit_rows(results), variant)
    seeds = sorted({r["seed"] for r in results["rows"]})
    return (f"{variant} (`{vdu_report.command(name)}`; {what}; seeds {', '.join(map(str, seeds))}): "
            + "; ".join(parts) + ".")


def fs_redirect_headline() -> str:
    """Lesson 03 section 7.8: fs-redirect on digits 7 and 3 against the course's bars."""
    return (_digits_headline("fs-redirect-digits", "fs-redirect", "vdu-fs's stability term, with a regression that "
                             "leads noised forget images to kept replay samples in place of gradient ascent, lambda 20")
            + _mix_sentence("fs-redirect-mix") + ": its forgotten samples land more evenly than vdu-fs-late's (a "
            "smaller rise from the mix alone), and most of its rise is left over for the images.")


def fs_guide_headline() -> str:
    """Lesson 03 section 7.12: fs-guide on digits 3 and 7 against the course's bars, its correction x1.5, 200 steps."""
    d, n = guide.DEFAULTS, vdu_digits.VARIANTS["fs-guide-long"]["steps"]
    return (_digits_headline("fs-guide-digits", "fs-guide", "no ascent: a regression to the pretrained model's "
                             "prediction with the forgotten class taken out by Bayes' rule, estimated from D_f and the "
                             f"kept replay samples, at {d['forget_t_min']} <= t < {d['guide_t_max']}, lambda "
                             f"{d['fs_weight']:g}") + _mix_sentence("fs-guide-mix") + ". Turned up: "
            + _digits_headline("fs-guide-scale", "fs-guide-scale1.5", "the correction 1.5 times as strong")
            + " Run longer: " + _digits_headline("fs-guide-long", "fs-guide-long", f"{n} steps, otherwise fs-guide"))


def fs_guide_ema_headline() -> str:
    """Lesson 03 sections 7.14-7.20: fs-guide-long saving its weights' average (EMA), and what was tried beyond it."""
    head = _digits_headline("fs-guide-ema", "fs-guide-ema")
    others = vdu_fs_other_digits(vdu_report.load("fs-guide-ema-digits"), "fs-guide-ema")
    return (head + f" fs-guide-ema on the other eight digits (`{vdu_report.command('fs-guide-ema-digits')}`) " + others
            + " Turned up (section 7.15): " + _digits_headline("fs-guide-ema-scale", "fs-guide-ema-scale1.25")
            + " Its digit-3 runs scored on 5,000 samples per model (the digit3-5k command above): "
            + _at_5k(vdu_digits.DIGIT3_5K_SECTIONS["7.15"]) + "." + _levers())


def _levers() -> str:
    """Lesson 03 sections 7.16-7.20: levers on digit 3, the share learned, the change by timestep, the target, lr."""
    stats = vdu_report.digit_rows(vdu_report.load("fs-guide-levers"))
    parts = [f"{v} ({vdu_digits.LABELS[v].removeprefix('fs-guide-ema, ')}): {_variant_parts(stats, v)[0]}"
             for v in dict.fromkeys(v for v, _ in stats if v != "pretrained")]
    fit, bands, target = ((vdu_report.load(n), vdu_report.command(n))
                          for n in ("fs-guide-fit", "fs-guide-bands", "fs-guide-target"))
    return (f" Two more levers on digit 3 (section 7.16, `{vdu_report.command('fs-guide-levers')}`): "
            + "; ".join(parts) + ". " + guide_fit.headline(*fit) + " " + guide_bands.headline(*bands)
            + " From t = 200 (section 7.18): " + _digits_headline("fs-guide-low200", "fs-guide-ema-low200")
            + " " + guide_target.headline(*target) + " Adam's step doubled (section 7.20): "
            + _digits_headline("fs-guide-ema-lr", "fs-guide-ema-scale1.25-lr2e4")
            + " On 5,000 samples (the digit3-5k command above): " + _at_5k(vdu_digits.DIGIT3_5K_SECTIONS["7.20"]) + ".")


def _at_5k(variants: tuple[str, ...]) -> str:
    """Digit 3's runs of ``variants`` scored on 5,000 samples per model (``digit3-5k``), one clause each."""
    big = vdu_report.digit_rows(vdu_report.load("digit3-5k"))
    return "; ".join(f"{v}: {_variant_parts(big, v)[0]}" for v in variants if (v, 3) in big)


def fs_oracle_headline() -> str:
    """Lesson 03 section 7.13: a perfect unlearner (rejection), fs-guide's placebo, digit 3 on 5,000 samples."""
    oracle = vdu_oracle.summary(vdu_report.load("fs-oracle"), vdu_report.BARS["fid_remaining_rise"])
    placebo = vdu_oracle.placebo_summary(vdu_report.load("fs-guide-placebo"), vdu_report.load("fs-guide-digits"))
    return (f"`{vdu_report.command('fs-oracle')}`: {oracle} fs-guide's own run with its correction off (a placebo, "
            f"`{vdu_report.command('fs-guide-placebo')}`): {placebo} The same runs of digit 3 scored on 5,000 samples "
            f"per model (`{vdu_report.command('digit3-5k')}`): {_at_5k(vdu_digits.DIGIT3_5K_SECTIONS['7.13'])}.")


def _mix_sentence(name: str) -> str:
    """What one table's FID rise is made of: the mix study ``name`` (``vdu_digits mix``), in one sentence."""
    return (f" What the FID rise measures (`{vdu_report.command(name)}`: the pretrained model's own samples re-mixed "
            "to each row's class shares, no image changed): " + vdu_report.mix_summary(vdu_report.load(name)))


def vdu_fs_strict_headline() -> str:
    """Lesson 03 section 7.9: vdu-fs and fs-redirect with the stricter forget-like filter, on digits 7 and 3."""
    audit = vdu_report.load("replay-filter")["rows"]
    strict = vdu_digits.VARIANTS["vdu-fs-strict"]["replay_filter_ratio"]

    def kept(ratio: float) -> str:
        counts = [r["digit_kept"] for r in audit if r["ratio"] == ratio]
        return f"{min(counts)}–{max(counts)}" if min(counts) != max(counts) else f"{counts[0]}"

    total = sorted({r["read_as_digit"] for r in audit})
    lead = (f"The forget-like filter, audited by the course classifier (`{vdu_report.command('replay-filter')}`), "
            f"leaves {kept(replay.FILTER_RATIO)} of the {total[0]}–{total[-1]} forgotten-digit samples in the replay "
            f"set at its default ratio {replay.FILTER_RATIO:g}, {kept(strict)} at {strict:g} (digits 7 and 3, 3 forget "
            "sets each). ")
    results = vdu_report.load("vdu-fs-strict")
    stats = vdu_report.digit_rows(results)
    seeds = sorted({r["seed"] for r in results["rows"]})
    parts = [f"{vdu_digits.LABELS[v]}: " + "; ".join(_variant_parts(stats, v))
             for v in ("vdu-fs-strict", "fs-redirect-strict") if any((v, d) in stats for d in (7, 3))]
    noise = vdu_report.fid_noise_line(vdu_report.load("vdu-fs-digits"))
    return lead + (f"With the stricter filter (`{vdu_report.command('vdu-fs-strict')}`; seeds "
                   f"{', '.join(map(str, seeds))}): " + ". ".join(parts) + f". For scale, {noise} (section 7.2's "
                   "table, 1,000 samples): the +15% quality bar is within the measurement's own spread.")


def vdu_fs_late_headline() -> str:
    """Lesson 03 section 7.10: vdu-fs with its gradient ascent restricted to late timesteps, on digits 7 and 3."""
    head = _digits_headline("vdu-fs-late", "vdu-fs-late", f"ascent only at t >= {vdu_digits.LATE_T_MIN}, lambda "
                            f"{vdu_digits.LATE_FS_WEIGHT:g}")
    return (head + " The other eight digits with the same settings "
            + vdu_fs_other_digits(vdu_report.load("vdu-fs-late"), "vdu-fs-late")
            + _mix_sentence("vdu-fs-late-mix")
            + "; the rise is mostly where the forgotten samples go, not how the other digits are drawn.")


def attacks_summary() -> str:
    """Lesson 04 section 7: the attack table's findings (``attack_report.findings``)."""
    from fdunlearn.studies import attack_report

    results = attack_report.load()
    seeds = sorted({r["seed"] for r in results["rows"] if r.get("phase") == "attack"})
    return (f"Attacks on the erased MiniSD (`{attack_report.COMMAND}`; attack success rate = share of the attack's "
            f"images read as a 7, seeds {', '.join(map(str, seeds))}): " + "; ".join(attack_report.findings(results))
            + ".")


# name -> (writer, inline): an inline block continues a paragraph of a list item (wrapped, indented by two spaces);
# the others stand alone between blank lines
BLOCKS: dict[str, tuple[Callable[[], str], bool]] = {
    "vdu-fs-headline": (vdu_fs_headline, True),
    "vdu-fs-other-digits": (vdu_fs_other_digits, True),
    "erase-regimes": (erase_regimes_summary, True),
    "erase-defaults": (erase_defaults_summary, True),
    "vdu-fs-frontier": (vdu_fs_frontier, True),
    "fs-redirect": (fs_redirect_headline, True),
    "fs-guide": (fs_guide_headline, True),
    "fs-guide-ema": (fs_guide_ema_headline, True),
    "fs-oracle": (fs_oracle_headline, True),
    "vdu-fs-strict": (vdu_fs_strict_headline, True),
    "vdu-fs-late": (vdu_fs_late_headline, True),
    "attacks": (attacks_summary, True),
    "claims": (claims_table, False),
    "reproduce": (reproduce_commands, False),
    "notebook-times": (run_notebooks.notebook_times, False),
}
_LIST_START = re.compile(r"^\s*([-+*>#]|\d+[.)])(\s|$)")


def _wrap(text: str, indent: str = "  ") -> str:
    """``text`` as lines of at most ``WIDTH``, none of which Markdown would read as the start of a list or heading."""
    for width in range(WIDTH, WIDTH - 30, -1):
        lines = textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent, break_long_words=False,
                              break_on_hyphens=False)
        if not any(_LIST_START.match(line) for line in lines):
            return "\n".join(lines)
    raise ValueError(f"cannot wrap {text[:60]!r}... safely")


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- BEGIN {re.escape(name)} -->)(.*?)(<!-- END {re.escape(name)} -->)", re.S)


def render(text: str) -> str:
    """``text`` (the README) with every block rewritten; a ValueError names a block that is missing or doubled."""
    for name, (write, inline) in BLOCKS.items():
        found = _pattern(name).findall(text)
        if len(found) != 1:
            raise ValueError(f"README.md: block {name!r} found {len(found)} times; accepted: exactly once")
        body = "\n" + (_wrap(write()) if inline else write() + "\n")
        text = _pattern(name).sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return text


def stale(path: Path = README) -> list[str]:
    """Names of the blocks of ``path`` that differ from what their files give now."""
    text = path.read_text(encoding="utf-8")
    fresh = render(text)
    return [n for n in BLOCKS if _pattern(n).search(text).group(2) != _pattern(n).search(fresh).group(2)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fdunlearn.readme", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    args = p.parse_args(argv)

    def body() -> int:
        if args.check:
            names = stale()
            for n in names:
                print(f"README.md: block {n!r} is out of date; run: python -m fdunlearn.readme", file=sys.stderr)
            return 1 if names else 0
        text = README.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            README.write_text(new, encoding="utf-8")
        print(f"README.md: {len(BLOCKS)} blocks {'rewritten' if new != text else 'already up to date'}")
        return 0

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
