"""guide_residue: the samples called the forgotten digit, split by the scorer's confidence (lesson 03 section 7.22)."""

import matplotlib
import pytest
import torch

from fdunlearn.studies import guide_residue, vdu_digits

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def test_anatomy_splits_sure_and_unsure_calls_and_names_the_runner_up():
    probs = torch.tensor([[0.05, 0.0, 0.0, 0.95],   # a sure 3
                          [0.0, 0.0, 0.4, 0.6],     # an unsure 3, runner-up 2
                          [0.3, 0.0, 0.0, 0.7],     # an unsure 3, runner-up 0
                          [0.0, 0.9, 0.0, 0.1]])    # a 1
    a = guide_residue.anatomy(probs, 3)
    assert a == {"n": 4, "called": 3, "confident": 1, "runner_up": [1, 0, 1, 0]}
    assert guide_residue.anatomy(probs, 1)["called"] == 1


def test_anatomy_refuses_a_digit_outside_the_classes():
    with pytest.raises(ValueError, match=r"digit 4; accepted: \(n, classes\) and 0 <= digit < classes"):
        guide_residue.anatomy(torch.ones(2, 4) / 4, 4)


def test_images_survive_the_8_bit_code():
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    back = guide_residue.decode(guide_residue.encode(x))
    assert back.shape == (3, 1, 32, 32)
    assert (back - (x + 1) / 2).abs().max() <= 0.5 / 255 + 1e-6
    assert guide_residue.decode([]).shape == (0, 1, 32, 32)
    with pytest.raises(ValueError, match="an image of 2 pixels; accepted: 1024"):
        guide_residue.decode(["00ff"])


def _results() -> dict:
    def row(variant, seed, called, confident, runner=None, **extra):
        return {"variant": variant, "digit": 3, "seed": seed, "n": 1000, "called": called, "confident": confident,
                "runner_up": runner or [0] * 10, **extra}
    rows = [row("pretrained", 0, 110, 100), row("pretrained", 1, 112, 96),
            row("v", 0, 12, 4, [0, 0, 1, 0, 0, 5, 0, 0, 2, 0], images=guide_residue.encode(-torch.ones(2, 1, 32, 32)),
                p_digit=[0.95, 0.5]),
            row("v", 1, 8, 4, [0, 0, 0, 0, 0, 3, 0, 0, 1, 0])]
    return {"settings": {"confident": 0.9}, "rows": rows}


def test_split_and_line_average_over_seeds():
    s = guide_residue.split(_results(), "v", 3)
    assert s["called"] == pytest.approx(0.010) and s["confident"] == pytest.approx(0.004)
    assert s["unsure"] == pytest.approx(0.006) and s["runner_up"][5] == 8 and s["seeds"] == [0, 1]
    assert guide_residue.line(_results(), "v", 3) == (
        "v, digit 3 (2 seeds): 1.00% of the samples called 3, 0.40% with p >= 0.9 and 0.60% unsure (runner-up of the "
        "unsure calls, over all seeds: 5 (8), 8 (3), 2 (1)); sure calls 40% of its calls against 88% of the "
        "pretrained model's (11.10% called, 9.80% sure)")


def test_an_absent_run_is_named_with_the_ones_present():
    with pytest.raises(ValueError, match="no runs of 'v' on digit 7 in this file; it holds: pretrained on 3, v on 3"):
        guide_residue.split(_results(), "v", 7)


def test_against_table_names_each_run_whose_share_differs():
    table = {"rows": [{"variant": "v", "digit": 3, "seed": 0, "forget_share": 0.012},
                      {"variant": "v", "digit": 3, "seed": 1, "forget_share": 0.009}]}
    assert guide_residue.against_table(_results(), table) == ["v digit 3 seed 1: 0.008 here, 0.009 in the table"]


def test_picture_draws_the_kept_samples():
    fig = plt.figure()
    assert guide_residue.picture(fig, _results(), "v", 3, columns=4) == 2
    assert len(fig.axes) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="no kept samples of 'v' on digit 7"):
        guide_residue.picture(plt.figure(), _results(), "v", 7)


@pytest.mark.parametrize(("digits", "variants", "seeds", "match"), [
    ((3,), ("no-such",), (0,), "no-such"), ((11,), ("fs-guide-ema",), (0,), "bad digit list"),
    ((3,), ("fs-guide-ema",), (1, 1), r"seeds \[1, 1\]; accepted: distinct integers >= 0"),
])
def test_bad_input_is_refused_before_any_run(tmp_path, digits, variants, seeds, match):
    with pytest.raises(ValueError, match=match):
        guide_residue.residue("mnist-ddpm", tmp_path / "out.json", digits, variants, seeds)
    assert not (tmp_path / "out.json").exists()


def test_the_shipped_study_is_one_of_the_commands():
    assert vdu_digits.COMMANDS["fs-guide-residue"].startswith("residue --model mnist-ddpm --digits 3,7 ")


def _decided() -> dict:
    ts = [800, 600, 400, 200, 0]
    return {"settings": {"digit": 3}, "rows": [
        {"variant": "pretrained", "seed": 0, "final": 110, "timesteps": ts, "read": [0.0, 0.2, 0.7, 0.95, 1.0]},
        {"variant": "v", "seed": 0, "final": 20, "timesteps": ts, "read": [0.0, 0.05, 0.3, 0.8, 1.0]},
        {"variant": "w", "seed": 1, "final": 0, "timesteps": ts, "read": [None] * 5}]}


def test_half_decided_is_the_first_timestep_where_half_read_as_the_digit():
    rows = _decided()["rows"]
    assert [guide_residue.half_decided(r) for r in rows] == [400, 200, None]


def test_decided_line_compares_with_the_pretrained_model_of_the_same_seed():
    assert guide_residue.decided_line(_decided(), "v") == (
        "v, digit 3: seed 0: 20 samples end as 3, half of them read as 3 from t = 200 (the pretrained model's 110: "
        "from t = 400)")
    assert guide_residue.decided_line(_decided(), "w") == ("w, digit 3: seed 1: 0 samples end as 3, half of them "
                                                           "read as 3 at no step")
    with pytest.raises(ValueError, match="no runs of 'x' in this file; it holds: pretrained, v, w"):
        guide_residue.decided_line(_decided(), "x")


def test_decided_plot_draws_a_curve_per_run_and_the_band():
    fig, ax = plt.subplots()
    guide_residue.decided_plot(ax, _decided(), band=(300, 600))
    assert len(ax.lines) == 3 and ax.xaxis_inverted()
    plt.close(fig)


def test_decided_refuses_bad_input_before_any_run(tmp_path):
    with pytest.raises(ValueError, match=r"seeds \[\]; accepted: distinct integers >= 0"):
        guide_residue.decided("mnist-ddpm", tmp_path / "out.json", 3, ("fs-guide-ema",), ())
    with pytest.raises(ValueError, match=r"bad digit list \[10\]"):
        guide_residue.decided("mnist-ddpm", tmp_path / "out.json", 10, ("fs-guide-ema",))
    assert not (tmp_path / "out.json").exists()
