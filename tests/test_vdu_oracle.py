import json
import math

import pytest

from fdunlearn.studies import vdu_digits, vdu_oracle


def test_oracles_never_draw_the_class_and_resume(fast_ddpm, tmp_path):
    out = tmp_path / "oracle.json"
    vdu_oracle.oracle(str(fast_ddpm), out, (3,), draws=2)
    data = json.loads(out.read_text())
    keys = [r["key"] for r in data["rows"]]
    assert keys == ["base/digit=3/seed=0", "oracle-replace/digit=3/seed=0", "oracle-fresh/digit=3/seed=0/draw=0",
                    "oracle-fresh/digit=3/seed=0/draw=1"]  # fast mode: one seed
    base, replace, *fresh = data["rows"]
    assert replace["swapped"] == round(base["forget_share"] * base["n_samples"])
    for row in (replace, *fresh):
        assert row["forget_share"] == 0.0 and row["n_samples"] == base["n_samples"]
        assert row["fid_remaining_rise"] == pytest.approx(row["fid_remaining"] / base["fid_remaining"] - 1)
    assert fresh[0]["fid_remaining"] != fresh[1]["fid_remaining"]  # two independent draws
    vdu_oracle.oracle(str(fast_ddpm), out, (3,), draws=2)
    assert json.loads(out.read_text()) == data


def _row(variant, seed, rise, **extra):
    return {"key": f"{variant}/{seed}/{extra}", "variant": variant, "digit": 3, "seed": seed,
            "fid_remaining_rise": rise, **extra}


# two seeds: one swapped row each, two fresh draws each
ORACLE_ROWS = [_row("oracle-replace", 0, 0.02), _row("oracle-replace", 1, -0.04),
               _row("oracle-fresh", 0, 0.1, draw=0), _row("oracle-fresh", 0, 0.3, draw=1),
               _row("oracle-fresh", 1, -0.1, draw=0), _row("oracle-fresh", 1, 0.1, draw=1)]


def test_band_is_the_noise_of_a_three_seed_mean():
    rows = ORACLE_ROWS
    band = vdu_oracle.band({"rows": rows}, 3)
    assert band["replace_mean"] == pytest.approx(-0.01)
    assert band["fresh_mean"] == pytest.approx(0.1)
    assert (band["fresh_min"], band["fresh_max"]) == (-0.1, 0.3)
    assert band["fresh_seed_means"] == pytest.approx({0: 0.2, 1: 0.0})
    # each seed's draws vary by 0.02 (sample variance); a 2-seed mean of single draws: sqrt(0.02 / 2)
    assert band["fresh_mean_sd"] == pytest.approx(math.sqrt(0.02 / 2))
    with pytest.raises(ValueError, match="no oracle rows for digit 7"):
        vdu_oracle.band({"rows": rows}, 7)


def test_bad_oracle_input_names_the_accepted_values(fast_ddpm, tmp_path):
    with pytest.raises(ValueError, match="draws=0; accepted: an integer >= 1"):
        vdu_oracle.oracle(str(fast_ddpm), tmp_path / "o.json", (3,), draws=0)
    assert vdu_digits.main(["oracle", "--model", str(fast_ddpm), "--digits", "3,12",
                            "--out", str(tmp_path / "o.json")]) != 0
    assert not (tmp_path / "o.json").exists()


def test_markdown_and_summary_place_methods_against_the_oracle():
    rows = ORACLE_ROWS
    table = {"rows": [{"variant": "pretrained", "digit": 3, "seed": 0, "fid_remaining_rise": None},
                      {"variant": "fs-guide", "digit": 3, "seed": 1, "fid_remaining_rise": 0.5},  # a resumed file
                      {"variant": "fs-guide", "digit": 3, "seed": 0, "fid_remaining_rise": 0.3}]}
    text = vdu_oracle.markdown({"rows": rows}, table).splitlines()
    assert len(text) == 5 and text[4] == "| 3 | fs-guide | +40% | +30 / +50 | +30 points (+3.0 sd) |"
    assert "| +20 / +0 (draws averaged) | 0 |" in text[3]
    # one draw per seed: (0.1, -0.1), (0.1, 0.1), (0.3, -0.1), (0.3, 0.1) -> means 0, 0.1, 0.1, 0.2
    assert vdu_oracle.bar_share({"rows": rows}, 3, 0.15) == (3, 4)
    assert vdu_oracle.summary({"rows": rows}, 0.15) == (
        "digit 3: a perfect unlearner's FID rises +10 ± 10% on fresh samples (3 of the 4 ways to pick one draw per "
        "seed meet the +15% bar) and -1% when only the class's own samples change.")


def test_placebo_summary_pairs_the_runs_seed_by_seed():
    def row(variant, seed, share, rise):
        return {"variant": variant, "digit": 3, "seed": seed, "forget_share": share, "fid_remaining_rise": rise}
    placebo = {"rows": [row("pretrained", 0, 0.11, None), row("pretrained", 1, 0.13, None),
                        row("fs-guide-placebo", 0, 0.10, -0.1), row("fs-guide-placebo", 1, 0.12, 0.3),
                        row("fs-guide-placebo", 2, 0.5, 0.9)]}  # seed 2: not in the method's table, left out
    method = {"rows": [row("fs-guide", 0, 0.02, 0.1), row("fs-guide", 1, 0.03, 0.3)]}
    assert vdu_oracle.placebo_summary(placebo, method) == (
        "digit 3: the placebo leaves 11.0% of the digit (pretrained 12.0%) and its FID rises +10%, where fs-guide "
        "rises +20%: +10 points over the placebo (per seed +20 / +0).")
    placebo["rows"][2]["first_losses"], placebo["rows"][3]["first_losses"] = [2e-13, 1e-4], [3e-13, 5e-3]
    assert vdu_oracle.placebo_summary(placebo, method).startswith(
        "the placebo's first logged loss is at most 3e-13 (round-off: it starts at its target); digit 3: ")
    with pytest.raises(ValueError, match="no seed of digit 3 in both 'fs-guide-placebo' and 'vdu-fs'; accepted"):
        vdu_oracle.placebo_summary(placebo, method, variant="vdu-fs")
