"""README.md's measured numbers agree with the files they come from (``data/results/``, ``data/claims.json``).

The generated blocks (``python -m fdunlearn.readme``) must be up to date; the key numbers are also re-derived here
from the results files, read when the test runs (studies still running may extend them: nothing is frozen here).
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from fdunlearn import config
from fdunlearn.course import readme, readme_vdu
from fdunlearn.studies import claims, eta_study, vdu_report

TEXT = readme.README.read_text(encoding="utf-8")
FLAT = " ".join(TEXT.split())  # wrapped lines joined, so a number split over two lines still matches


def _pm(stat, digits=1, scale=100.0):
    return f"{scale * stat[0]:.{digits}f} ± {scale * stat[1]:.{digits}f}"


def test_generated_blocks_are_up_to_date():
    assert readme.stale() == [], "run: python -m fdunlearn.readme"


def test_vdu_fs_sevens_and_threes_match_the_results_file():
    stats = vdu_report.digit_rows(vdu_report.load("vdu-fs-digits"))
    for digit, name in ((7, "sevens"), (3, "threes")):
        base, fs = stats["pretrained", digit], stats["vdu-fs", digit]
        assert f"{name} {_pm(base['forget_share'])}% → {_pm(fs['forget_share'])}%" in FLAT
        rise = fs["fid_remaining_rise"]
        assert f"{100 * rise[0]:+.0f} ± {100 * rise[1]:.0f}% for {name}" in FLAT
    bars = vdu_report.digits_bars(vdu_report.load("vdu-fs-digits"))
    verdict = "met" if all(bars[d]["forget share <= 1%"] for d in (7, 3)) else "not met"
    assert f"→ {_pm(stats['vdu-fs', 3]['forget_share'])}% (bar 1%: {verdict})" in FLAT
    misses = not any(bars[d]["FID rise <= 15%"] for d in (7, 3))
    assert ("**misses the image-quality bar**" in FLAT) == misses


def test_vdu_fs_other_digits_match_the_results_file():
    results = vdu_report.load("vdu-fs-digits")
    stats = vdu_report.digit_rows(results)
    others = sorted(d for v, d in stats if v == "vdu-fs" and d not in (7, 3))
    shares = [stats["vdu-fs", d]["forget_share"][0] for d in others]
    assert f"forget share {100 * min(shares):.1f}–{100 * max(shares):.1f}%" in FLAT
    every = [str(d) for d, b in vdu_report.digits_bars(results).items() if d in others and all(b.values())]
    if len(every) > 1:
        assert f"digits {', '.join(every[:-1])} and {every[-1]} meet every bar" in FLAT


def test_the_published_vdu_numbers_match_the_results_file():
    rows = vdu_report.method_rows(vdu_report.load("vdu-mnist-table"))
    assert (f"{_pm(rows['vdu-checkpoints']['forget_share'])}% against {_pm(rows['pretrained']['forget_share'])}% "
            "pretrained") in FLAT
    assert f"+{_pm(rows['vdu-checkpoints']['fid_remaining_rise'], 0)}% checkpoint" in FLAT
    assert f"+{_pm(rows['vdu-fisher']['fid_remaining_rise'], 0)}% Fisher prior" in FLAT


def test_the_sampler_numbers_match_the_results_file():
    summary = {r["eta"]: r for r in eta_study.summary(json.loads(
        (config.REPO_ROOT / "data" / "results" / "sampler-eta-mnist.json").read_text()))}
    assert f"eta = 0 sampler reach only {100 * summary[0.0]['confident_mean']:.1f}%" in FLAT
    one = summary[1.0]
    assert f"samples are {100 * one['confident_max']:.1f}% confidently recognised" in FLAT
    assert f"{100 * one['confident_min']:.1f}% on a second seed" in FLAT


def test_the_claims_table_lists_every_claim_with_its_verdict():
    ledger = claims.load()
    block = re.search(r"<!-- BEGIN claims -->(.*?)<!-- END claims -->", TEXT, re.S).group(1)
    rows = [line for line in block.strip().splitlines()[2:] if line.startswith("|")]
    assert len(rows) == len(ledger["claims"])
    for row, c in zip(rows, ledger["claims"], strict=True):
        assert " ".join(c["claim"].split()) in row and f"**{c['verdict']}**" in row and f"| {c['lesson']} |" in row


def test_the_reproduce_block_is_make_reproduce():
    from fdunlearn import course

    block = re.search(r"<!-- BEGIN reproduce -->(.*?)<!-- END reproduce -->", TEXT, re.S).group(1)
    for out in course.outputs(course.study_steps()):
        assert f"--out {out}" in block


def test_the_other_digits_text_follows_the_seeds_in_the_file():
    results = copy.deepcopy(vdu_report.load("vdu-fs-digits"))
    other = readme_vdu.vdu_fs_other_digits
    first = [r for r in results["rows"] if r["digit"] not in readme_vdu.FOCUS and r["seed"] == 0]
    results["rows"] = [r for r in results["rows"] if r["digit"] in readme_vdu.FOCUS] + first
    assert other(results).startswith("(seed 0 only so far; the same command resumes with seeds 1 and 2):")
    results["rows"] += [{**r, "seed": s} for r in first for s in (1, 2)]
    assert other(results).startswith("(3 seeds):")
    results["rows"] = [r for r in results["rows"] if r["digit"] in readme_vdu.FOCUS]
    assert other(results) == "(not run yet)."


def test_render_refuses_a_missing_or_doubled_block():
    with pytest.raises(ValueError, match="'claims' found 0 times"):
        readme.render(TEXT.replace("<!-- BEGIN claims -->", ""))
    with pytest.raises(ValueError, match="found 2 times"):
        readme.render(TEXT + "\n<!-- BEGIN claims -->\n<!-- END claims -->\n")


def test_wrapped_lines_never_start_a_list():
    text = "x " * 50 + "- 3 items, + 4 more and 1. that 2) too, # no heading " * 8
    for line in readme._wrap(text).splitlines():
        assert not readme._LIST_START.match(line) and len(line) <= readme.WIDTH


def test_the_regimes_paragraph_states_every_separation_in_the_results_file():
    from fdunlearn.studies import erase_regimes, regimes_report

    rows = json.loads(readme.REGIMES.read_text())["rows"]
    comps = erase_regimes.comparisons(rows)
    text = " ".join(readme.README.read_text(encoding="utf-8").split())
    found = regimes_report.separated(comps)
    assert (f"{len(found)} of {3 * len(comps)} paired 95% intervals exclude 0" in text) == bool(found)
    for line in regimes_report.findings(comps):
        assert line in text


def test_the_relearning_attack_block_gives_each_files_longest_fine_tune():
    """Lesson 04's relearning attack in the README: every file's share after its longest fine-tune, re-derived from
    the rows (not from ``vdu_relearn.lines``, which writes the block)."""
    for name in readme_vdu.RELEARN_ATTACK:
        res = vdu_report.load(name)
        longest = max(r["relearn_steps"] for r in res["rows"])
        for start in ("pretrained", "retrained"):
            shares = [r["forget_share"] for r in res["rows"] if r["start"] == start and r["relearn_steps"] == longest]
            if shares:
                mean = sum(shares) / len(shares)
                assert f"{100 * mean:.1f} ±" in FLAT
        assert vdu_report.command(name) in FLAT
    assert f"after {longest} steps on 100 forget images" in FLAT
