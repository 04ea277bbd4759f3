"""Paired-seed statistics: known differences, a tie, determinism, and the weight distance."""

from __future__ import annotations

import math

import pytest
import torch

from fdunlearn.evaluation import paired


def test_a_constant_difference_differs_and_its_interval_is_that_difference():
    a = {0: 0.5, 1: 0.4, 2: 0.3, 3: 0.45, 4: 0.2}
    b = {s: v - 0.1 for s, v in a.items()}
    r = paired.paired_difference(a, b)
    assert r["mean"] == pytest.approx(0.1) and r["lo"] == pytest.approx(0.1) and r["hi"] == pytest.approx(0.1)
    assert r["verdict"] == "differs" and r["n"] == 5 and r["seeds"] == [0, 1, 2, 3, 4]
    assert paired.paired_difference(b, a)["verdict"] == "differs"  # and the other way round, negative
    assert paired.paired_difference(b, a)["hi"] == pytest.approx(-0.1)


def test_a_tie_is_no_detectable_difference():
    a = [0.13, 0.11, 0.11, 0.2, 0.05]
    r = paired.paired_difference(a, list(a))
    assert (r["mean"], r["lo"], r["hi"]) == (0.0, 0.0, 0.0)
    assert r["verdict"] == "no detectable difference"


def test_noisy_differences_of_both_signs_include_zero():
    r = paired.paired_difference([0.1, -0.1, 0.2, -0.15, 0.0], [0.0] * 5)
    assert r["lo"] < 0 < r["hi"] and r["verdict"] == "no detectable difference"
    assert r["mean"] == pytest.approx(0.01)


def test_the_interval_is_the_percentile_bootstrap():
    d = [0.3, 0.1, 0.2, 0.25, 0.15]
    r = paired.paired_difference(d, [0.0] * 5, n_boot=2000, seed=3)
    gen = torch.Generator().manual_seed(3)
    means = torch.tensor(d, dtype=torch.float64)[torch.randint(0, 5, (2000, 5), generator=gen)].mean(1)
    assert r["lo"] == pytest.approx(float(means.quantile(0.025)))
    assert r["hi"] == pytest.approx(float(means.quantile(0.975)))
    assert 0.1 <= r["lo"] < r["mean"] < r["hi"] <= 0.3 and r["verdict"] == "differs"


def test_the_bootstrap_is_deterministic_given_its_seed():
    a, b = [0.2, 0.1, 0.4, 0.3, 0.0], [0.1, 0.15, 0.2, 0.2, 0.05]
    first, again = paired.paired_difference(a, b), paired.paired_difference(a, b)
    assert first == again
    assert first["lo"] <= first["mean"] <= first["hi"]
    small = [paired.paired_difference(a, b, n_boot=20, seed=s) for s in range(5)]  # the seed drives the resamples
    assert len({(r["lo"], r["hi"]) for r in small}) > 1 and len({r["mean"] for r in small}) == 1


@pytest.mark.parametrize(("a", "b", "match"), [
    ({0: 1.0, 1: 2.0}, {0: 1.0, 2: 2.0}, "not paired"),
    ([1.0, 2.0], [1.0], "2 values but b has 1"),
    ([], [], "no seeds"),
    ([1.0, math.nan], [1.0, 2.0], "finite numbers"),
    ({0: 1.0}, [1.0], "must both be mappings"),
])
def test_unpaired_or_bad_values_are_refused(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired.paired_difference(a, b)


def test_weight_distance_is_relative_to_mses_own_move():
    w0 = {"k": torch.zeros(2, 2), "v": torch.zeros(3)}
    w_mse = {"k": torch.ones(2, 2), "v": torch.zeros(3)}  # moved by ||.|| = 2
    w_f = {"k": torch.ones(2, 2), "v": torch.tensor([0.0, 1.0, 0.0])}  # 1 away from MSE's
    assert paired.weight_distance(w_f, w_mse, w0) == pytest.approx(0.5)
    assert paired.weight_distance(w_mse, w_mse, w0) == 0.0
    with pytest.raises(ValueError, match="different parameters"):
        paired.weight_distance({"k": w_f["k"]}, w_mse, w0)
    with pytest.raises(ValueError, match="did not move"):
        paired.weight_distance(w_f, w0, w0)
