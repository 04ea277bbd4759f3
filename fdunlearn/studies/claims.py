"""The claims ledger (``data/claims.json``): every claim of the two papers, next to what this course measured.

One entry per claim: the paper (``papers``), the claim, the paper's number or statement, our number (or null), a
verdict (``VERDICTS``: holds / does not hold / cannot be tested here / not yet measured), the command that measured
it (or will), the results file, the lesson that shows it, and a note. Verdicts come only from the shipped results in
``data/results/`` and the lessons; a study that has not run yet says "not yet measured".

``load()`` reads and checks it, ``table_markdown()`` renders it as a Markdown table (for the README or a lesson).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fdunlearn import config
from fdunlearn import files as io

PATH = config.REPO_ROOT / "data" / "claims.json"
VERDICTS = ("holds", "does not hold", "cannot be tested here", "not yet measured")
TEXT_FIELDS = ("id", "paper", "claim", "paper_value", "verdict", "lesson")
OPTIONAL_TEXT = ("our_value", "command", "source", "note")  # a string or null
LESSONS = ("00", "01", "02", "03", "04", "05")


def check(ledger: Any, where: str = "claims ledger") -> dict:
    """``ledger`` if it has the ledger's shape, else a ValueError naming the first problem."""
    if not isinstance(ledger, dict) or not isinstance(ledger.get("claims"), list) or not ledger["claims"]:
        raise ValueError(f"{where}: accepted: an object with a non-empty 'claims' list")
    if tuple(ledger.get("verdicts", ())) != VERDICTS:
        raise ValueError(f"{where}: 'verdicts' must list {', '.join(VERDICTS)}")
    papers = ledger.get("papers")
    if not isinstance(papers, dict) or not papers:
        raise ValueError(f"{where}: accepted: a 'papers' object naming each paper")
    seen = set()
    for k, c in enumerate(ledger["claims"]):
        name = f"{where}: claim {k} ({c.get('id') if isinstance(c, dict) else c!r})"
        if not isinstance(c, dict):
            raise ValueError(f"{name}: accepted: an object")
        missing = [f for f in (*TEXT_FIELDS, *OPTIONAL_TEXT) if f not in c]
        if missing:
            raise ValueError(f"{name}: missing field(s) {', '.join(missing)}")
        for f in TEXT_FIELDS:
            if not isinstance(c[f], str) or not c[f].strip():
                raise ValueError(f"{name}: {f} must be non-empty text")
        for f in OPTIONAL_TEXT:
            if c[f] is not None and (not isinstance(c[f], str) or not c[f].strip()):
                raise ValueError(f"{name}: {f} must be non-empty text or null")
        if c["verdict"] not in VERDICTS:
            raise ValueError(f"{name}: verdict {c['verdict']!r}; accepted: {', '.join(VERDICTS)}")
        if c["paper"] not in papers:
            raise ValueError(f"{name}: paper {c['paper']!r}; accepted: {', '.join(papers)}")
        if c["lesson"] not in LESSONS:
            raise ValueError(f"{name}: lesson {c['lesson']!r}; accepted: {', '.join(LESSONS)}")
        if c["verdict"] in ("holds", "does not hold") and not (c["our_value"] and c["command"] and c["source"]):
            raise ValueError(f"{name}: a measured verdict needs our_value, command and source")
        if c["verdict"] == "not yet measured" and c["our_value"] is not None:
            raise ValueError(f"{name}: 'not yet measured' with a value; accepted: our_value null")
        if c["id"] in seen:
            raise ValueError(f"{name}: id {c['id']!r} given twice")
        seen.add(c["id"])
    return ledger


def load(path: str | Path = PATH) -> dict:
    """The checked ledger."""
    return check(io.read_json(path, "claims ledger"), str(path))


def _cell(text: str | None) -> str:
    return "–" if text is None else " ".join(str(text).split()).replace("|", "\\|")


def table_markdown(path: str | Path = PATH, paper: str | None = None) -> str:
    """The ledger as a Markdown table (one row per claim; ``paper`` keeps one paper's claims)."""
    ledger = load(path)
    lines = ["| paper | claim | the paper | measured here | verdict | lesson | command |",
             "|---|---|---|---|---|---|---|"]
    for c in ledger["claims"]:
        if paper is not None and c["paper"] != paper:
            continue
        command = "–" if c["command"] is None else f"`{_cell(c['command'])}`"
        lines.append(f"| {_cell(c['paper'])} | {_cell(c['claim'])} | {_cell(c['paper_value'])} | "
                     f"{_cell(c['our_value'])} | **{c['verdict']}** | {c['lesson']} | {command} |")
    return "\n".join(lines)
