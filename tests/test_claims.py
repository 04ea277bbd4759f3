"""The claims ledger (data/claims.json): its schema, its verdicts, its sources, and the Markdown table."""

from __future__ import annotations

import copy
import json

import pytest

from fdunlearn import config
from fdunlearn.studies import claims


def test_the_ledger_has_its_schema_and_only_allowed_verdicts():
    ledger = claims.load()
    assert set(ledger["papers"]) == {"novello2026", "panda2026"}
    assert {c["paper"] for c in ledger["claims"]} == set(ledger["papers"])
    for c in ledger["claims"]:
        assert c["verdict"] in claims.VERDICTS
        assert set(c) >= {"id", "paper", "claim", "paper_value", "our_value", "verdict", "command", "source", "lesson"}
        if c["source"] is not None:  # a measured claim names a shipped results file
            assert (config.REPO_ROOT / c["source"]).is_file(), c["source"]
            assert c["source"].startswith("data/results/")
        if c["command"] is not None:
            assert "python -m fdunlearn" in c["command"]
    ids = [c["id"] for c in ledger["claims"]]
    assert len(set(ids)) == len(ids)
    assert {"fdiv-hellinger-dominates-mse", "fdiv-chi2-erases-hardest", "fdiv-variational-aggressive-costs-quality",
            "vdu-forgets-a-class-from-few-images"} <= set(ids)


def test_the_regimes_claim_agrees_with_its_study():
    import json

    from fdunlearn.studies import erase_regimes, regimes_report

    c = {c["id"]: c for c in claims.load()["claims"]}["fdiv-f-matters-outside-the-linear-regime"]
    assert c["command"].startswith("python -m fdunlearn.erase_regimes")
    comps = erase_regimes.comparisons(json.loads((config.REPO_ROOT / c["source"]).read_text())["rows"])
    found = regimes_report.separated(comps)
    assert c["verdict"] == ("holds" if found else "does not hold")
    assert f"{len(found)} of {3 * len(comps)} paired intervals exclude 0" in c["our_value"]


def test_table_markdown_has_one_row_per_claim():
    ledger = claims.load()
    table = claims.table_markdown()
    rows = table.splitlines()[2:]
    assert len(rows) == len(ledger["claims"])
    assert all(r.startswith("| ") and r.endswith(" |") for r in rows)
    assert "**does not hold**" in table and "**holds**" in table
    assert all(f"**{c['verdict']}**" in row for c, row in zip(ledger["claims"], rows, strict=True))
    assert len(claims.table_markdown(paper="panda2026").splitlines()) == 2 + sum(
        c["paper"] == "panda2026" for c in ledger["claims"])


@pytest.mark.parametrize(("change", "match"), [
    (lambda c: c.update(verdict="mostly holds"), "verdict 'mostly holds'; accepted: holds, does not hold"),
    (lambda c: c.pop("command"), "missing field"),
    (lambda c: c.update(paper="someone2025"), "paper 'someone2025'"),
    (lambda c: c.update(our_value=None), "needs our_value"),
    (lambda c: c.update(lesson="4"), "lesson '4'"),
])
def test_a_broken_entry_is_refused_naming_the_problem(tmp_path, change, match):
    ledger = copy.deepcopy(claims.load())
    change(ledger["claims"][0])
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(ledger))
    with pytest.raises(ValueError, match=match):
        claims.load(path)
