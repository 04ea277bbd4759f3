"""The regimes study (issue #16): its run list, the SGD calibration, paired comparisons, and a fast end-to-end run
that resumes."""

from __future__ import annotations

import json
import shutil

import pytest

from fdunlearn.erasure import erase
from fdunlearn.studies import erase_regimes


def test_the_full_run_list_pairs_every_divergence_with_an_earlier_mse_run():
    b = erase_regimes.BUDGETS["full"]
    runs = erase_regimes.run_list(b)
    assert b.seeds == (0, 1, 2, 3, 4) and b.divergences == ("mse", "hellinger", "pearson_chi2")
    assert len({r.key for r in runs}) == len(runs) == 5 * (1 + 2 * 4) + 5 * 3 * 2 + 5 * 3 + 3 * 2
    position = {r.key: i for i, r in enumerate(runs)}
    for r in runs:
        partner = r.partner()
        assert partner.seed == r.seed and partner.experiment == r.experiment
        assert partner.divergence == "mse" if not r.critic else partner.critic == "fixed"
        assert position[partner.key] <= position[r.key]  # the partner's weights exist when its partners run
    critic = [r for r in runs if r.experiment == "critic"]
    assert {(r.critic, r.seed) for r in critic} == {(c, s) for c in ("fixed", "leaky") for s in range(3)}
    assert {r.divergence for r in critic} == {"hellinger"} and len({r.key for r in critic}) == 6
    temps = {r.temperature for r in runs if r.experiment == "temperature" and r.divergence == "hellinger"}
    assert temps == {1.0, 0.3, 0.1, 0.03}
    assert not any(r.divergence == "mse" and r.temperature != 1.0 for r in runs)  # MSE ignores s: run once
    sgd = {(r.divergence, r.lr_mult) for r in runs if r.experiment == "sgd"}
    assert sgd == {(d, x) for d in b.divergences for x in (1.0, 10.0)}
    assert all(r.optimizer == "sgd" for r in runs if r.experiment == "sgd")
    assert {r.anchor for r in runs if r.experiment == "far"} == {""}
    assert {r.anchor for r in runs if r.experiment != "far"} == {"digit"}


def test_the_estimate_counts_runs_base_models_and_calibration():
    b = erase_regimes.BUDGETS["full"]
    runs = len(erase_regimes.run_list(b))
    expected = (runs * (b.steps * erase_regimes.STEP_SECONDS + erase_regimes.SCORE_SECONDS)
                + 10 * (erase_regimes.ANCHOR_SECONDS + erase_regimes.SCORE_SECONDS) + 5)
    assert erase_regimes.estimate_seconds(b) == pytest.approx(expected)
    assert 45 * 60 < expected < 90 * 60


def test_help_says_how_long_full_mode_takes_and_that_it_is_an_estimate(capsys):
    with pytest.raises(SystemExit):
        erase_regimes.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    duration = erase_regimes._duration(erase_regimes.estimate_seconds(erase_regimes.BUDGETS["full"]))
    assert "ESTIMATE" in text and f"about {duration} on one core" in text and duration.endswith("min")
    assert "FDUNLEARN_FAST=1" in text and "96 erasures" in text


def test_the_far_anchor_is_the_empty_prompt_for_every_target_phrasing():
    (far,) = erase_regimes.concepts("")
    (near,) = erase_regimes.concepts("digit")
    assert far.targets == near.targets and set(far.anchors) == {""} and len(far.anchors) == len(far.targets)
    assert erase.as_concepts(far)[0].anchors == far.anchors


def test_multiplier_summary_of_a_log():
    log = [{"mult_mean": 1.0, "mult_min": 0.5, "mult_max": 2.0}, {"mult_mean": 3.0, "mult_min": 1.0, "mult_max": 1.5},
           {"estimate": 0.1}]
    s = erase_regimes.multiplier_summary(log)
    assert s == {"mean": 2.0, "min": 0.5, "max": 2.0, "first": 1.0, "last": 3.0, "batch_ratio_mean": 2.75,
                 "batch_ratio_max": 4.0}
    assert erase_regimes.multiplier_summary([{"estimate": 0.1}]) is None


def _row(experiment, div, seed, target, setting="s=1", distance=0.0):
    run = erase_regimes.Run(experiment, div, seed)
    return {"phase": "run", "key": f"{experiment}/{div}/{setting}/{seed}", "experiment": experiment,
            "divergence": div, "label": div, "setting": setting, "seed": seed,
            "partner": f"{experiment}/mse/s=1/{seed}" if div != "mse" else run.key, "target_acc": target,
            "heldout_acc": 0.0, "retained_acc": 1.0, "kid": 0.0, "weight_distance": distance,
            "multipliers": {"mean": 1.0, "batch_ratio_max": 1.5}}


def test_comparisons_pair_by_seed_and_give_verdicts():
    rows = [_row("temperature", "mse", s, 0.1 + 0.01 * s) for s in range(5)]
    rows += [_row("temperature", "hellinger", s, 0.1 + 0.01 * s, distance=0.02) for s in range(5)]  # a tie
    rows += [_row("temperature", "pearson_chi2", s, 0.05 + 0.01 * s, "s=0.1", 0.5) for s in range(5)]  # 5 points lower
    rows += [{"phase": "base", "key": "base/generic/seed=0"}]
    out = {e["divergence"]: e for e in erase_regimes.comparisons(rows, n_boot=500)}
    assert out["hellinger"]["target_acc"]["verdict"] == "no detectable difference"
    chi = out["pearson_chi2"]
    assert chi["target_acc"]["verdict"] == "differs" and chi["target_acc"]["mean"] == pytest.approx(-0.05)
    assert chi["setting"] == "s=0.1" and chi["n"] == 5 and chi["weight_distance"] == pytest.approx(0.5)
    assert chi["retained_acc"]["verdict"] == "no detectable difference" and chi["batch_ratio_max"] == 1.5
    from fdunlearn.studies import regimes_report

    table = regimes_report.settings_markdown(list(out.values()), ("target_acc",))
    assert "| temperature | s=0.1 | pearson_chi2 | **7.0 (-5.0 [-5.0, -5.0])** | 0.500 | 1.5 |" in table


def test_unknown_experiment_and_bad_results_file_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="accepted: temperature, sgd, far"):
        erase_regimes.study(tmp_path / "x.json", experiments=("nope",))
    assert erase_regimes.main(["--out", str(tmp_path / "x.json"), "--experiments", "sgd,nope"]) == 2
    assert "accepted: a comma-separated subset of temperature, sgd, far" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    assert erase_regimes.main(["--out", str(other)]) == 2
    assert "not a results file of erase_regimes" in capsys.readouterr().err


def test_fast_study_scores_calibrates_measures_distances_and_resumes(fast_minisd, tmp_path, one_thread):
    b = erase_regimes.BUDGETS["fast"]
    out, weights = tmp_path / "regimes.json", tmp_path / "weights"
    erase_regimes.study(out, str(fast_minisd), b=b, weights_dir=weights)
    first = json.loads(out.read_text())
    rows = {r["key"]: r for r in first["rows"]}
    runs = erase_regimes.run_list(b)
    assert set(rows) == {r.key for r in runs} | {"calibration/sgd-lr"} | {
        f"base/{t}/seed={s}" for t in ("generic", "far") for s in b.seeds}

    cal = rows["calibration/sgd-lr"]
    per_seed = cal["per_seed"]["0"]
    assert per_seed["lr"] == pytest.approx(per_seed["adam_update_norm"] / per_seed["grad_norm"] / 4)
    assert cal["lr"] > 0 and rows[runs[0].key]["lr"] == erase_regimes.REFERENCE_LR
    for r in runs:
        row = rows[r.key]
        assert 0 <= row["target_acc"] <= 1 and 0 <= row["retained_acc"] <= 1 and row["steps"] == b.steps
        assert row["erase_seconds"] >= 0 and row["optimizer"] == r.optimizer
        assert row["lr"] == pytest.approx(cal["lr"] * r.lr_mult if r.optimizer == "sgd" else 7e-5 * r.lr_mult)
        m = row["multipliers"]
        if r.critic:  # variational: no closed-form multipliers; the fixed critic is the leaky one's partner
            assert m is None and (row["weight_distance"] == 0.0 if r.critic == "fixed" else row["weight_distance"] >= 0)
            assert row["label"] == f"variational Hellinger, {r.critic} critic"
        elif r.divergence == "mse":
            assert row["weight_distance"] == 0.0 and m["min"] == m["max"] == pytest.approx(1.0)
        else:  # Hellinger: exp(-m/(8 s^2)) / (8 s^2), about 1/(8 s^2) for the small gaps here
            assert row["weight_distance"] > 0 and m["mean"] == pytest.approx(1 / (8 * r.temperature**2), rel=0.01)
    assert rows["base/far/seed=0"]["anchor"] == "" and 0 <= rows["base/far/seed=0"]["anchor_share"] <= 1
    entries = erase_regimes.comparisons(first["rows"], n_boot=200)
    assert {(e["experiment"], e["setting"]) for e in entries} == {
        ("temperature", "s=1"), ("temperature", "s=0.1"), ("sgd", "sgd lr x1"), ("sgd", "sgd lr x10"),
        ("far", "anchor ''"), ("critic", "critic leaky")}
    critic = next(e for e in entries if e["experiment"] == "critic")
    assert critic["partner_label"] == "variational Hellinger, fixed critic"
    assert all(e["n"] == 2 and e["target_acc"]["verdict"] in ("differs", "no detectable difference")
               for e in entries)

    erase_regimes.study(out, str(fast_minisd), b=b, weights_dir=weights)  # finished: nothing reruns
    assert json.loads(out.read_text()) == first

    # a partner's weights gone: the row is still written, its distance is None with a note
    last = runs[-1]
    first["rows"] = [r for r in first["rows"] if r["key"] != last.key]
    out.write_text(json.dumps(first))
    shutil.rmtree(weights)
    erase_regimes.study(out, str(fast_minisd), b=b, weights_dir=weights)
    redone = {r["key"]: r for r in json.loads(out.read_text())["rows"]}[last.key]
    assert redone["weight_distance"] is None and "missing" in redone["note"]


def test_every_experiment_has_three_paired_seeds_before_any_fourth_seed_runs():
    runs = erase_regimes.run_list(erase_regimes.BUDGETS["full"])
    first_late = next(i for i, r in enumerate(runs) if r.seed >= erase_regimes.FIRST_SEEDS)
    assert {(r.experiment, r.seed) for r in runs[:first_late]} == {(e, s) for e in erase_regimes.EXPERIMENTS
                                                                  for s in range(3)}
