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
from fdunlearn.course import readme_vdu as vdu
from fdunlearn.course import run_notebooks
from fdunlearn.studies import claims

README = config.REPO_ROOT / "README.md"
WIDTH = 118


def claims_table(path: str | Path = claims.PATH) -> str:
    """The ledger's verdicts, one line per claim (the full table: ``claims.table_markdown()``)."""
    ledger = claims.load(path)
    lines = ["| paper | claim | verdict | lesson |", "|---|---|---|---|"]
    for c in ledger["claims"]:
        paper = ledger["papers"][c["paper"]].split(",")[0] + " et al."
        claim = " ".join(c["claim"].split()).replace("|", "\\|")
        lines.append(f"| {paper} | {claim} | **{c['verdict']}** | {c['lesson']} |")
    return "\n".join(lines)


def reproduce_commands(steps: Callable[[], list] = course.study_steps) -> str:
    """The studies behind ``data/results/``, in the order ``make reproduce`` runs them (``steps``: another list,
    e.g. ``course.gpu_steps``)."""
    lines = [s.line(".venv/bin/python") for s in steps()]
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
    "vdu-fs-headline": (vdu.vdu_fs_headline, True),
    "vdu-fs-other-digits": (vdu.vdu_fs_other_digits, True),
    "erase-regimes": (erase_regimes_summary, True),
    "erase-defaults": (erase_defaults_summary, True),
    "vdu-fs-frontier": (vdu.vdu_fs_frontier, True),
    "fs-redirect": (vdu.fs_redirect_headline, True),
    "fs-guide": (vdu.fs_guide_headline, True),
    "fs-guide-ema": (vdu.fs_guide_ema_headline, True),
    "fs-oracle": (vdu.fs_oracle_headline, True),
    "vdu-fs-strict": (vdu.vdu_fs_strict_headline, True),
    "vdu-fs-late": (vdu.vdu_fs_late_headline, True),
    "attacks": (attacks_summary, True),
    "claims": (claims_table, False),
    "reproduce": (reproduce_commands, False),
    "reproduce-gpu": (lambda: reproduce_commands(course.gpu_steps), False),
    "vdu-fs-large": (vdu.vdu_fs_large_headline, True),
    "fs-retrained": (vdu.fs_retrained_headline, True),
    "fs-guide-relearn": (vdu.fs_guide_relearn_headline, True),
    "relearn-attack": (vdu.relearn_attack_headline, True),
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
