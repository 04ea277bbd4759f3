import json
import math

import pytest

from fdunlearn.datasets import images as data
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.studies import vdu_digits, vdu_retrained


def test_without_names_the_run_and_checks_the_classes():
    recipe = ddpm.RECIPES["mnist-ddpm"]
    assert ddpm.without(recipe, ()) is recipe
    three = ddpm.without(recipe, (7, 3))
    assert (three.name, three.exclude) == ("mnist-ddpm-without-3-7", (3, 7))
    assert three.block_out_channels == recipe.block_out_channels and three.steps == recipe.steps
    for bad in ((10,), (3, 3), (True,)):
        with pytest.raises(ValueError, match=r"accepted: distinct integers in 0\.\.9"):
            ddpm.without(recipe, bad)


def test_retrain_leaves_the_class_out_and_keeps_a_finished_run(fast_ddpm, tmp_path, capsys):
    out = tmp_path / vdu_retrained.folder_name(str(fast_ddpm), 3)
    assert out.name == f"{fast_ddpm.name}-without-3"
    vdu_retrained.retrain(str(fast_ddpm), 3, out, progress=False)
    train = data.load("mnist", "train", verbose=False)
    assert f"left out class(es) [3]: {int((train.labels != 3).sum())} training images" in capsys.readouterr().out
    rec = models.read_record(out)
    assert rec["recipe"]["exclude"] == [3] and rec["recipe"]["name"] == "mnist-ddpm-without-3"
    assert rec["seed"] == models.read_record(fast_ddpm)["seed"]
    vdu_retrained.retrain(str(fast_ddpm), 3, out, progress=False)
    assert "is a finished run of mnist-ddpm-without-3" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"digit=12; accepted: a class in 0\.\.9, or -1"):
        vdu_retrained.recipe_for(str(fast_ddpm), 12)


def test_score_rows_sit_beside_the_tables_and_resume(fast_ddpm, tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(FileNotFoundError, match=r"retrain --model .* --digit 3 --out"):
        vdu_retrained.score(str(fast_ddpm), tmp_path / "r.json", runs, (3,))
    for d in (3, vdu_retrained.RERUN):  # the rerun is optional: scored when present
        vdu_retrained.retrain(str(fast_ddpm), d, runs / vdu_retrained.folder_name(str(fast_ddpm), d), progress=False)
    out = tmp_path / "r.json"
    vdu_retrained.score(str(fast_ddpm), out, runs, (3,))
    res = json.loads(out.read_text())
    assert [r["key"] for r in res["rows"]] == ["real/digit=3", "base/digit=3/seed=0", "retrained/digit=3/seed=0",
                                               "rerun/digit=3/seed=0"]  # fast mode: one seed
    real, base, again = res["rows"][:3]
    assert real["forget_share"] == pytest.approx(real["called"] / real["n_images"])
    assert again["fid_remaining_rise"] == pytest.approx(again["fid_remaining"] / base["fid_remaining"] - 1)
    assert again["called_png"] is None or isinstance(again["called_png"], str)
    assert set(res["settings"]["retrained"]) == {"3", "-1"}
    vdu_retrained.score(str(fast_ddpm), out, runs, (3,))
    assert json.loads(out.read_text()) == res
    # a run trained after the first scoring: its record joins the settings, the finished rows stay
    vdu_retrained.retrain(str(fast_ddpm), 7, runs / vdu_retrained.folder_name(str(fast_ddpm), 7), progress=False)
    vdu_retrained.score(str(fast_ddpm), out, runs, (3, 7))
    grown = json.loads(out.read_text())
    assert set(grown["settings"]["retrained"]) == {"3", "7", "-1"} and grown["rows"][:4] == res["rows"]
    grown["settings"]["retrained"]["3"]["sha256"] = "another"  # rows of other weights are not resumed
    out.write_text(json.dumps(grown))
    with pytest.raises(ValueError, match="holds results of other settings"):
        vdu_retrained.score(str(fast_ddpm), out, runs, (3, 7))
    assert vdu_digits.main(["retrain", "--model", str(fast_ddpm), "--digit", "12", "--out", str(tmp_path / "x")]) != 0


def _row(variant, seed, share, rise=None):
    return {"variant": variant, "digit": 3, "seed": seed, "forget_share": share, "fid_remaining_rise": rise}


def test_lines_and_markdown_read_the_rows():
    rows = [{"variant": "real", "digit": 3, "called": 1, "n_images": 450, "forget_share": 1 / 450},
            _row("pretrained", 0, 0.1), _row("pretrained", 1, 0.12), _row("retrained", 1, 0.02, 0.1),
            _row("retrained", 0, 0.01, 0.3), _row("rerun", 0, 0.1, 0.0), _row("rerun", 1, 0.11, 0.2)]
    (line,) = vdu_retrained.lines({"rows": rows})
    assert line.startswith("Digit 3: the pretrained model draws 11.0%; retrained without 3: 1.50 ± 0.71% of its "
                           "samples read as 3 (1.0 / 2.0), FID on the other digits +20 ± 14%")
    assert ("retrained on every digit (the control): 10.50 ± 0.71% of its samples read as 3 (10.0 / 11.0), FID on the "
            "other digits +10 ± 14%; the classifier calls 1 of the 450 held-out real images of the other digits 3 "
            "(0.22%).") in line
    for r in rows:
        r |= {"fid_remaining": 5.0, "confident_share": 0.9, "other_min": 0.08 + r.get("seed", 0) / 100,
              "other_max": 0.12}
    table = vdu_retrained.markdown({"rows": rows}).splitlines()
    assert table[2] == "| 3 | real held-out images of the other digits | – | 0.22 (1 of 450) | – | – | – | – |"
    assert table[4] == ("| 3 | retrained without the digit | 2 | 1.50 ± 0.71 (1.0 / 2.0) | 5.00 ± 0.00 | +20 ± 14 "
                        "| 90.0 ± 0.0 | 8.5–12.0 |")


def test_gap_lines_measure_a_method_from_the_retrained_model():
    rows = [_row("retrained", 0, 0.005), _row("retrained", 1, 0.009)]
    stats = {("fs-guide-ema", 3): {"forget_share": (0.0173, 0.004)}, ("fs-guide-ema", 7): {"forget_share": (0.009, 0)}}
    assert vdu_retrained.gap_lines({"rows": rows}, stats, ("fs-guide-ema", "absent")) == [
        "fs-guide-ema, digit 3: 1.73% left, +1.03 points from the retrained model's 0.70% (2.5x)"]


def test_pass_chance_is_the_binomial_cdf_of_the_seeds_summed_counts():
    # 2 seeds of 3 samples, bar 1/3: the 6 draws may hold at most 2 of the class
    p = 0.3
    brute = sum(math.comb(6, k) * p ** k * (1 - p) ** (6 - k) for k in range(3))
    assert vdu_retrained.pass_chance(p, 3, 2, 1 / 3) == pytest.approx(brute, rel=1e-12)
    assert vdu_retrained.pass_chance(0.0, 1000, 3, 0.01) == 1.0
    assert vdu_retrained.pass_chance(1.0, 1000, 3, 0.01) == 0.0
    chances = [vdu_retrained.pass_chance(s, 1000, 3, 0.01) for s in (0.005, 0.007, 0.01, 0.0105, 0.0173)]
    assert chances == sorted(chances, reverse=True) and chances[0] > 0.99 and chances[-1] < 0.01
    assert 0.4 < chances[2] < 0.6  # a share right at the bar passes about half the time
    with pytest.raises(ValueError, match=r"share=1.5, bar=0.01; accepted: probabilities in \[0, 1\]"):
        vdu_retrained.pass_chance(1.5, 1000, 3, 0.01)
    with pytest.raises(ValueError, match="n_samples=0, n_seeds=3; accepted: integers >= 1"):
        vdu_retrained.pass_chance(0.01, 0, 3, 0.01)


def test_odds_lines_read_the_retrained_rows_and_the_budget():
    results = {"settings": {"budget": {"n_samples": 1000, "seeds": [0, 1, 2]}},
               "rows": [_row("retrained", 0, 0.005), _row("retrained", 1, 0.009), _row("pretrained", 0, 0.1)]}
    lines = vdu_retrained.odds_lines(results, {"a setting": {3: 0.0173}}, 0.01)
    assert lines[0].startswith("digit 3: retrained without 3, 0.70% read as 3: one seed's share on 1,000 samples has "
                               "a binomial sd of 0.26 points (its seeds: 0.28); a model this good passes the 1% bar "
                               "on the mean of 3 seeds with probability 98%")
    assert lines[1] == "digit 3: a setting, 1.73% read as 3: a model this good passes it with probability 0%"


def test_relearn_with_a_missing_retrained_model_names_the_command_that_makes_it(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "relearn.json"
    argv = ["relearn", "--model", str(fast_ddpm), "--digit", "7", "--variants", "fs-guide-ema", "--retrained",
            str(tmp_path / "runs"), "--out", str(out)]
    assert vdu_digits.main(argv) != 0
    err = capsys.readouterr().err
    assert f"no retrained model at {tmp_path / 'runs' / vdu_retrained.folder_name(str(fast_ddpm), 7)}" in err
    assert "python -m fdunlearn.vdu_digits retrain" in err and not out.exists()
