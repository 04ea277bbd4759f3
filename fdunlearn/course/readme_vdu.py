"""README.md's generated blocks for lesson 03 (vdu-fs and fs-guide against the course's bars), written from the
files in data/results/ that the lesson prints; ``fdunlearn.course.readme`` puts them in place."""

from __future__ import annotations

from fdunlearn.course.readme_text import FOCUS, NAMES, and_list, met, pct, pm, pm_signed, signed
from fdunlearn.studies import (
    filter_space,
    guide_bands,
    guide_fit,
    guide_levers,
    guide_residue,
    guide_seeds,
    guide_target,
    large_model,
    vdu_digits,
    vdu_oracle,
    vdu_relearn,
    vdu_report,
    vdu_retrained,
)
from fdunlearn.unlearning import guide, replay


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
        parts.append(f"{NAMES[d]} {pm(base['forget_share'], base['n_seeds'])}% → "
                     f"{pm(s['forget_share'], s['n_seeds'])}%")
        fs.append(s["forget_share"][0])
        lo.append(s["other_min"][0])
        hi.append(s["other_max"][0])
    seven = stats["vdu-fs", FOCUS[0]]
    fid_ok = [stats["vdu-fs", d]["fid_remaining_rise"][0] <= b["fid_remaining_rise"] for d in FOCUS]
    fids = []
    for d in FOCUS:
        s = stats["vdu-fs", d]
        by_seed = [signed(r["fid_remaining_rise"]) for r in sorted(rows, key=lambda r: r["seed"]) if r["digit"] == d]
        fids.append(f"{pm_signed(s['fid_remaining_rise'], s['n_seeds'])} for {NAMES[d]}"
                    + (f" ({', '.join(by_seed)} by seed)" if len(by_seed) > 1 else ""))
    quality = ("and it **meets the image-quality bar**" if all(fid_ok) else
               "but it **misses the image-quality bar**" if not any(fid_ok) else
               "but it meets the image-quality bar only in part")
    other_ok = min(lo) >= b["other_min"] and max(hi) <= b["other_max"]
    return (f"{', '.join(parts)} (bar {100 * b['forget_share']:.0f}%: {met(max(fs) <= b['forget_share'])}), "
            f"other digits {pct(min(lo))}–{pct(max(hi))}% (bar {100 * b['other_min']:.0f}–"
            f"{100 * b['other_max']:.0f}%: {met(other_ok)}), "
            f"{pm(seven['unlearn_seconds'], seven['n_seeds'], 0, 1)} s "
            f"per run for {NAMES[FOCUS[0]]} on an idle machine (bar {b['unlearn_seconds'] / 60:.0f} min: "
            f"{met(seven['unlearn_seconds'][0] <= b['unlearn_seconds'])}); {quality}: FID on the other digits "
            f"{and_list(fids)}; bar +{100 * b['fid_remaining_rise']:.0f}%.")


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
                + (f"seeds {and_list([str(s) for s in rest])}" if len(rest) > 1 else
                   f"seed {rest[0]}" if rest else "the missing seeds"))
    share = {d: stats[variant, d]["forget_share"][0] for d in others}
    low = [d for d in others if share[d] <= b["forget_share"]]
    high = sorted((d for d in others if share[d] > b["forget_share"]), key=lambda d: share[d])
    detail = ([f"at most {100 * b['forget_share']:.0f}% for {and_list([str(d) for d in low])}"] if low else []) + \
        [f"{pct(share[d])}% for {d}" for d in high]
    rises = [stats[variant, d]["fid_remaining_rise"][0] for d in others]
    every = [d for d in others if all(vdu_report.check_bars(stats[variant, d]).values())]
    verdict = (f"digit {every[0]} meets every bar" if len(every) == 1 else
               f"digits {and_list([str(d) for d in every])} meet every bar" if every else "none meets every bar")
    return (f"({when}): forget share {pct(min(share.values()))}–{pct(max(share.values()))}% "
            f"({'; '.join([', '.join(detail[:1]), ', '.join(detail[1:])] if low and high else detail)}), "
            f"FID on the other digits {signed(min(rises))} to {signed(max(rises))}; {verdict}.")


def vdu_fs_frontier() -> str:
    """Lesson 03 section 7.7: three vdu-fs settings off the defaults on digits 7 and 3, against both bars."""
    results = vdu_report.load("vdu-fs-frontier")
    stats = vdu_report.digit_rows(results)
    parts, names = [], {7: "sevens", 3: "threes"}
    for v in dict.fromkeys(v for v, _ in stats if v != "pretrained"):
        per = [f"{names[d]} {pct(stats[v, d]['forget_share'][0])}% left, FID on the other digits "
               f"{signed(stats[v, d]['fid_remaining_rise'][0])}" for d in (7, 3) if (v, d) in stats]
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
        after = pm(s["forget_share"], n, vdu_report.share_digits(s["forget_share"][0]))
        parts.append(f"{NAMES[d]} {pm(base['forget_share'], n)}% → {after}%, FID on the other "
                     f"digits {pm_signed(s['fid_remaining_rise'], n)}, {s['unlearn_seconds'][0]:.0f} s per run "
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
    """Lesson 03 sections 7.14-7.21: fs-guide-long saving its weights' average (EMA), and what was tried beyond it."""
    head = _digits_headline("fs-guide-ema", "fs-guide-ema")
    others = vdu_fs_other_digits(vdu_report.load("fs-guide-ema-digits"), "fs-guide-ema")
    return (head + " Its digit-3 runs scored on 5,000 samples per model (the digit3-5k command above, lesson 03 "
            + "section 7.25): " + _at_5k(vdu_digits.DIGIT3_5K_SECTIONS["7.25"]) + "."
            + f" fs-guide-ema on the other eight digits (`{vdu_report.command('fs-guide-ema-digits')}`) " + others
            + " Turned up (section 7.15): " + _digits_headline("fs-guide-ema-scale", "fs-guide-ema-scale1.25")
            + " Its digit-3 runs scored on 5,000 samples per model (the digit3-5k command above): "
            + _at_5k(vdu_digits.DIGIT3_5K_SECTIONS["7.15"]) + "." + _levers() + " fs-guide-ema-scale1.25 on the other "
            + f"eight digits (section 7.21, `{vdu_report.command('fs-guide-ema-scale-digits')}`) "
            + vdu_fs_other_digits(vdu_report.load("fs-guide-ema-scale-digits"), "fs-guide-ema-scale1.25"))


RESIDUE_RUNS = ("fs-guide-ema", "fs-guide-ema-scale1.25-lr2e4")  # the runs section 7.22 looks into


def _levers() -> str:
    """Lesson 03 sections 7.16-7.21: levers on digit 3, the share learned, by timestep, the target, lr, all."""
    stats = vdu_report.digit_rows(vdu_report.load("fs-guide-levers"))
    parts = [f"{v} ({vdu_digits.LABELS[v].removeprefix('fs-guide-ema, ')}): {_variant_parts(stats, v)[0]}"
             for v in dict.fromkeys(v for v, _ in stats if v != "pretrained")]
    levers = guide_levers.load()
    residue, decided = vdu_report.load("fs-guide-residue"), vdu_report.load("fs-guide-decided")
    fit, bands, target = ((vdu_report.load(n), vdu_report.command(n))
                          for n in ("fs-guide-fit", "fs-guide-bands", "fs-guide-target"))
    return (f" Two more levers on digit 3 (section 7.16, `{vdu_report.command('fs-guide-levers')}`): "
            + "; ".join(parts) + ". " + guide_fit.headline(*fit) + " " + guide_bands.headline(*bands)
            + " From t = 200 (section 7.18): " + _digits_headline("fs-guide-low200", "fs-guide-ema-low200")
            + " " + guide_target.headline(*target) + " Adam's step doubled (section 7.20): "
            + _digits_headline("fs-guide-ema-lr", "fs-guide-ema-scale1.25-lr2e4") + " The same step for 280 steps: "
            + "; ".join(_variant_parts(vdu_report.digit_rows(vdu_report.load("fs-guide-ema-lr")),
                                       "fs-guide-ema-scale1.25-lr2e4-280")) + "."
            + " On 5,000 samples (the digit3-5k command above): " + _at_5k(vdu_digits.DIGIT3_5K_SECTIONS["7.20"]) + "."
            + " Every setting read together (section 7.21, `fdunlearn.studies.guide_levers`): "
            + "; ".join(f(levers, 3) for f in (guide_levers.setting_line, guide_levers.seed_line))
            + f". Which seed it is (`{vdu_report.command('fs-guide-seeds')}`): "
            + guide_seeds.line(vdu_report.load("fs-guide-seeds"), "fs-guide-ema-scale1.25-lr2e4") + "."
            + f" What is left (section 7.22, `{vdu_report.command('fs-guide-residue')}`): "
            + "; ".join(guide_residue.line(residue, v, d) for v in RESIDUE_RUNS for d in (3, 7))
            + f". When along the sampler (`{vdu_report.command('fs-guide-decided')}`): "
            + "; ".join(guide_residue.decided_line(decided, v) for v in RESIDUE_RUNS)
            + f" (the correction acts at {guide.DEFAULTS['forget_t_min']} <= t < {guide.DEFAULTS['guide_t_max']})."
            + " Below the band, gated by the posterior (section 7.24): "
            + _digits_headline("fs-guide-gate", "fs-guide-ema-gate")
            + " The forget-like filter in the network's own features (section 7.27): "
            + filter_space.headline(vdu_report.load("filter-space"), vdu_report.command("filter-space")) + " "
            + _digits_headline("fs-guide-features", "fs-guide-ema-features"))


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


def vdu_fs_large_headline() -> str:
    """Lesson 03 section 7.23: fs-guide-ema, unchanged, on mnist-ddpm-large (trained on a GPU), and its CPU run."""
    results, cpu = vdu_report.load("vdu-fs-large"), vdu_report.load("vdu-fs-large-cpu")
    both = large_model.combined(results, cpu)
    runs = large_model.lines(both, None)
    return (large_model.recipe_line(large_model.load_record()) + f". fs-guide-ema on it, unchanged (on the GPU: "
            f"`{vdu_report.command('vdu-fs-large')}`; digit 7's third seed on the CPU: "
            f"`{vdu_report.command('vdu-fs-large-cpu')}`; {large_model.seeds_line(both)}): "
            + "; ".join(r.split(": ", 1)[1] for r in runs) + ". " + large_model.cpu_line(cpu) + ".")


def fs_retrained_headline() -> str:
    """Lesson 03 section 7.25: mnist-ddpm's recipe retrained without the digit (and on every digit), scored."""
    models = "; ".join(f"`{vdu_retrained.retrain_command('mnist-ddpm', d)}`" for d in vdu_retrained.DIGITS)
    return (f"`{vdu_report.command('fs-retrained')}` (the models, 2-3 h each on 2 cores: {models}): "
            + " ".join(vdu_retrained.lines(vdu_report.load("fs-retrained"))))


def fs_guide_relearn_headline() -> str:
    """Lesson 03 section 7.26: the relearning check for the command line's defaults, on digits 7 and 3."""
    return " ".join(f"`{vdu_report.command(name)}`: " + "; ".join(vdu_relearn.lines(vdu_report.load(name))) + "."
                    for name in ("fs-guide-relearn", "fs-guide-relearn-3"))


RELEARN_ATTACK = ("vdu-fs-relearn-1", "vdu-fs-relearn", "vdu-fs-relearn-100", "fs-guide-relearn-1", "fs-guide-relearn",
                  "fs-guide-relearn-100")


def relearn_attack_headline() -> str:
    """Lesson 04 section 7's relearning attack on lesson 03's unlearned DDPM: each file's share after its longest
    fine-tune, beside the pretrained (and the retrained) model fine-tuned the same way."""
    return "; ".join(f"{vdu_relearn.lines(vdu_report.load(name))[-1]} (`{vdu_report.command(name)}`)"
                     for name in RELEARN_ATTACK) + "."
