"""The sampler-eta measurement: it runs the kit per (eta, seed) and summarises honestly."""

import json

import pytest

from fdunlearn.studies import eta_study


def test_measure_writes_one_row_per_eta_and_seed(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "eta.json"
    assert eta_study.main(["--model", str(fast_ddpm), "--out", str(out), "--n", "4", "--steps", "2",
                           "--etas", "0,1", "--seeds", "0,1"]) == 0
    result = json.loads(out.read_text())
    assert [(r["eta"], r["seed"]) for r in result["rows"]] == [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1)]
    assert result["settings"]["n"] == 4 and result["settings"]["ddim_steps"] == 2
    assert "| 0 | 2 |" in capsys.readouterr().out


def test_summary_averages_over_seeds():
    rows = [{"eta": 1.0, "seed": s, "confident_share": c, "fid": f, "class_share": [0.1] * 9 + [sh]}
            for s, c, f, sh in [(0, 0.9, 3.0, 0.05), (1, 0.8, 5.0, 0.2)]]
    (r,) = eta_study.summary({"rows": rows})
    assert r["confident_mean"] == pytest.approx(0.85) and r["fid_mean"] == pytest.approx(4.0)
    assert (r["confident_min"], r["confident_max"], r["share_min"], r["share_max"]) == (0.8, 0.9, 0.05, 0.2)


def test_bad_eta_exits_nonzero_naming_it(fast_ddpm, tmp_path, capsys):
    assert eta_study.main(["--model", str(fast_ddpm), "--out", str(tmp_path / "x.json"), "--etas", "0,3"]) == 2
    assert "eta must be in [0, 1], got 3.0" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
