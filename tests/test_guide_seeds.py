"""guide_seeds: each run seed's model scored on every sampler seed's samples (lesson 03 section 7.21)."""

import pytest

from fdunlearn.studies import guide_seeds, vdu_digits


def _results() -> dict:
    rows = [{"variant": "pretrained", "sample": s, "forget_share": 0.11} for s in (0, 1)]
    # the sampler seed moves the share by a point, the run seed by a tenth of one
    rows += [{"variant": "v", "run": r, "sample": s, "forget_share": 0.015 - 0.01 * s + 0.001 * r}
             for r in (0, 1) for s in (0, 1)]
    return {"settings": {"digit": 3, "budget": {"n_samples": 1000}}, "rows": rows}


def test_by_seed_averages_over_the_other_seed():
    s = guide_seeds.by_seed(_results(), "v")
    assert s["sample"] == pytest.approx({0: 0.0155, 1: 0.0055})
    assert s["run"] == pytest.approx({0: 0.010, 1: 0.011})
    assert s["pretrained"] == {0: 0.11, 1: 0.11}


def test_line_says_which_seed_moves_the_share():
    line = guide_seeds.line(_results(), "v")
    assert line.startswith("v, digit 3, 2 runs each scored on 2 sample sets: ")
    assert "by sampler seed 0: 1.55%, 1: 0.55% (1.00 points apart)" in line
    assert "by run seed (forget set and optimiser) 0: 1.00%, 1: 1.10% (0.10 points apart)" in line
    # mean of the four 1.05%; the two with run = sample seed: 1.5% and 0.6%; sqrt(0.0105 * 0.9895 / 1000) = 0.32%
    assert line.endswith("; all 4 scorings 1.05%, the 2 a digits table makes (run seed = sampler seed) 1.05%; one "
                         "scoring of 1,000 samples has a binomial sd of 0.32 points at that share")


def test_an_absent_variant_is_named_with_the_ones_present():
    with pytest.raises(ValueError, match="no runs of 'w' in this file; it holds: pretrained, v"):
        guide_seeds.by_seed(_results(), "w")


@pytest.mark.parametrize(("variants", "seeds", "match"), [
    (("vdu-fs",), (0, 1), "seeds reads fs-guide runs; 'vdu-fs' is not one"),
    (("fs-guide-ema",), (0, 0), r"seeds \[0, 0\]; accepted: distinct integers >= 0"),
    (("no-such",), (0, 1), "no-such"),
])
def test_bad_input_is_refused_before_any_run(tmp_path, variants, seeds, match):
    with pytest.raises(ValueError, match=match):
        guide_seeds.crossed("mnist-ddpm", tmp_path / "out.json", 3, variants, seeds)
    assert not (tmp_path / "out.json").exists()


def test_the_shipped_study_is_one_of_the_commands():
    assert vdu_digits.COMMANDS["fs-guide-seeds"].startswith("seeds --model mnist-ddpm --digit 3 ")
