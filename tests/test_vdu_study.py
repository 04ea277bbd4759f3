import json

import pytest

from fdunlearn import config
from fdunlearn.models import registry as models
from fdunlearn.studies import vdu_study
from fdunlearn.unlearning import unlearn


def test_pul_is_the_relative_drop_of_the_forget_share():
    assert vdu_study.pul(0.10, 0.01) == pytest.approx(90.0)
    assert vdu_study.pul(0.10, 0.10) == 0.0 and vdu_study.pul(0.10, 0.2) == pytest.approx(-100.0)
    assert vdu_study.pul(0.0, 0.0) is None  # undefined, and JSON-safe (no NaN in the results file)


def test_summarise_gives_mean_and_spread_over_seeds():
    rows = [{"gamma": 0.5, "pul": 80.0}, {"gamma": 0.5, "pul": 100.0}, {"gamma": 0.9, "pul": 10.0}, {"other": 1}]
    summary = vdu_study.summarise(rows, "gamma", ("pul",))
    assert summary[0.5]["pul"][0] == 90.0 and summary[0.5]["pul"][1] == pytest.approx(14.142, abs=1e-3)
    assert summary[0.9] == {"pul": (10.0, 0.0), "n_seeds": 1}


def test_gamma_sweep_writes_scored_rows_and_resumes_without_rerunning(fast_ddpm, tmp_path):
    out = tmp_path / "gamma.json"
    cfg = unlearn.UnlearnConfig(steps=2, n_forget=4, batch_size=4)
    vdu_study.study("gamma", str(fast_ddpm), 3, out, cfg)
    first = json.loads(out.read_text())
    keys = [r["key"] for r in first["rows"]]
    assert keys == ["base/seed=0", "gamma=0.0/seed=0", "gamma=0.9/seed=0"]
    row = first["rows"][1]
    assert 0 <= row["forget_share"] <= 1 and len(row["class_share"]) == 10 and row["steps_run"] == 2
    assert row["pul"] == pytest.approx(vdu_study.pul(first["rows"][0]["forget_share"], row["forget_share"]))
    vdu_study.study("gamma", str(fast_ddpm), 3, out, cfg)  # finished: nothing is recomputed
    assert json.loads(out.read_text()) == first


def test_resuming_with_other_settings_is_refused(fast_ddpm, tmp_path):
    out = tmp_path / "gamma.json"
    vdu_study.study("gamma", str(fast_ddpm), 3, out, unlearn.UnlearnConfig(steps=1, n_forget=4, batch_size=4))
    with pytest.raises(ValueError, match="other settings"):
        vdu_study.study("gamma", str(fast_ddpm), 5, out, unlearn.UnlearnConfig(steps=1, n_forget=4, batch_size=4))


def test_relearning_rows_cover_both_starts(fast_ddpm, tmp_path):
    out = tmp_path / "relearn.json"
    vdu_study.study("relearn", str(fast_ddpm), 3, out, unlearn.UnlearnConfig(steps=2, n_forget=4, batch_size=4))
    rows = json.loads(out.read_text())["rows"]
    assert {(r["start"], r["relearn_steps"]) for r in rows} == {("pretrained", 0), ("pretrained", 2), ("vdu", 0),
                                                                ("vdu", 2)}


def test_relearning_uses_the_requested_number_of_forget_images(fast_ddpm, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(vdu_study, "relearn", lambda unet, sch, images, steps, seed: seen.append(len(images)))
    cfg = unlearn.UnlearnConfig(steps=1, n_forget=4, batch_size=4)
    results = vdu_study.Results(tmp_path / "r.json", {})
    vdu_study.relearn_study(results, str(fast_ddpm), cfg, "mnist", vdu_study.Budget(4, 2, (0,)), 0, n_images=2)
    assert seen and set(seen) == {2}
    assert vdu_study.relearn_count(cfg, None) == 4 and vdu_study.relearn_count(cfg, 3) == 3
    with pytest.raises(ValueError, match=r"n=5; accepted: an integer 1\.\.4"):
        vdu_study.relearn_count(cfg, 5)


def test_relearning_adds_the_retrained_start_and_resumes_without_unlearning_again(fast_ddpm, tmp_path, monkeypatch):
    cfg = unlearn.UnlearnConfig(steps=1, n_forget=4, batch_size=4)
    results = vdu_study.Results(tmp_path / "r.json", {})
    b = vdu_study.Budget(4, 2, (0,))
    vdu_study.relearn_study(results, str(fast_ddpm), cfg, "mnist", b, 0, n_images=2)
    assert {r["start"] for r in results.data["rows"]} == {"pretrained", "vdu"}
    calls = []
    monkeypatch.setattr(vdu_study.unlearn, "unlearn", lambda *a, **k: calls.append(a))
    # the model itself stands in for one retrained without the class
    vdu_study.relearn_study(results, str(fast_ddpm), cfg, "mnist", b, 0, n_images=2, retrained=fast_ddpm)
    assert not calls  # every row of the unlearned start was there: no unlearning run again
    rows = [r for r in results.data["rows"] if r["start"] == "retrained"]
    assert [r["relearn_steps"] for r in rows] == list(config.pick(vdu_study.RELEARN_STEPS, (0, 2)))
    assert rows[0]["model_sha256"] == models.read_record(fast_ddpm)["sha256"]


def test_unknown_experiment_is_refused(tmp_path):
    with pytest.raises(ValueError, match="accepted: table, n-forget, gamma, relearn"):
        vdu_study.study("nope", "mnist-ddpm", 3, tmp_path / "x.json", unlearn.UnlearnConfig())


def test_steps_experiment_runs_the_budget_with_and_without_the_stop(fast_ddpm, tmp_path):
    out = tmp_path / "steps.json"
    vdu_study.study("steps", str(fast_ddpm), 3, out, unlearn.UnlearnConfig(n_forget=4, batch_size=4))
    rows = {r["key"]: r for r in json.loads(out.read_text())["rows"]}
    assert [rows[f"steps={m}/seed=0"]["steps_run"] for m in (1, 2)] == [1, 2]
    assert rows["stop/seed=0"]["stopped"] and rows["stop/seed=0"]["config"]["stop_factor"] == vdu_study.STOP_FACTOR
    image = vdu_study.thumbnail(rows["steps=2/seed=0"])  # rows of 4 grey 32x32 digits with 2-pixel borders
    n = rows["steps=2/seed=0"]["n_samples"]
    assert image.dtype.name == "uint8" and image.shape == (-(-min(n, 16) // 4) * 34 + 2, 4 * 34 + 2)


def test_table_rows_and_budget_can_be_chosen_and_bad_ones_are_named(fast_ddpm, tmp_path):
    out = tmp_path / "table.json"
    cfg = unlearn.UnlearnConfig(steps=1, n_forget=4, batch_size=4)
    vdu_study.study("table", str(fast_ddpm), 3, out, cfg, methods=(("ga", "checkpoints"),), budget_kind="sweep")
    data = json.loads(out.read_text())
    assert [r["key"] for r in data["rows"]] == ["base/seed=0", "ga-checkpoints/seed=0"]
    assert data["settings"]["methods"] == [["ga", "checkpoints"]]
    accepted = "accepted: vdu, vdu-fs, fs-redirect, fs-guide, ga, l2, salun"
    with pytest.raises(ValueError, match=f"unknown method 'nope'; {accepted}"):
        vdu_study.study("table", str(fast_ddpm), 3, tmp_path / "y.json", cfg, methods=(("nope", "checkpoints"),))
    with pytest.raises(ValueError, match="unknown budget 'huge'; accepted: table, sweep"):
        vdu_study.study("table", str(fast_ddpm), 3, tmp_path / "y.json", cfg, budget_kind="huge")


def test_the_scoring_sampler_is_recorded_and_a_bad_eta_is_named(fast_ddpm, tmp_path):
    cfg = unlearn.UnlearnConfig(steps=1, n_forget=4, batch_size=4)
    vdu_study.study("table", str(fast_ddpm), 3, tmp_path / "a.json", cfg, methods=(("ga", "checkpoints"),))
    vdu_study.study("table", str(fast_ddpm), 3, tmp_path / "b.json", cfg, methods=(("ga", "checkpoints"),), eta=1.0)
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["settings"]["budget"]["eta"] == vdu_study.ETA == 0.0 and b["settings"]["budget"]["eta"] == 1.0
    assert a["rows"][0]["grid_png"] != b["rows"][0]["grid_png"]  # same seed, other sampler, other images
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\], got 1.5"):
        vdu_study.study("table", str(fast_ddpm), 3, tmp_path / "c.json", cfg, eta=1.5)


def test_every_shipped_results_file_records_its_sampler():
    from fdunlearn.studies import vdu_report

    for name in vdu_report.COMMANDS:
        eta = vdu_report.load(name)["settings"]["budget"]["eta"]
        assert eta == (1.0 if "--eta 1" in vdu_report.command(name) else vdu_study.ETA), name


def test_gamma_values_and_prior_can_be_chosen_from_the_command_line(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "g.json"
    assert vdu_study.main(["gamma", "--model", str(fast_ddpm), "--forget-class", "3", "--out", str(out),
                           "--prior", "fisher", "--gammas", "0.2,0.8"]) == 0
    data = json.loads(out.read_text())
    assert data["settings"]["gammas"] == [0.2, 0.8] and data["settings"]["base_config"]["prior"] == "fisher"
    assert [r["key"] for r in data["rows"]] == ["base/seed=0", "gamma=0.2/seed=0", "gamma=0.8/seed=0"]
    assert vdu_study.main(["gamma", "--model", str(fast_ddpm), "--out", str(tmp_path / "h.json"),
                           "--gammas", "0.5,1.2"]) == 2
    assert "gamma must be in [0, 1], got 1.2" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["folder", "garbage"])
def test_a_results_path_that_is_a_folder_or_not_json_is_named(tmp_path, bad):
    path = tmp_path / "r.json"
    if bad == "folder":
        path.mkdir()
    else:
        path.write_text("{not json")
    with pytest.raises(ValueError, match=r"r\.json is (a folder|not a readable results file)"):
        vdu_study.Results(path, {"a": 1})


@pytest.mark.parametrize(("args", "message"), [
    (["--forget-class", "11"], "forget class 11 out of range; accepted: 0..9"),
    (["--n-samples", "-5"], "n_samples=-5; accepted: an integer >= 2"),
    (["--lr", "nan"], "lr=nan; accepted: a finite number > 0"),
    (["--gammas", "0.5,2"], "gamma must be in \\[0, 1\\], got 2.0"),
])
def test_bad_study_arguments_are_refused_before_any_work(args, message, fast_ddpm, tmp_path, capsys):
    import re

    out = tmp_path / "g.json"
    assert vdu_study.main(["gamma", "--model", str(fast_ddpm), "--out", str(out), *args]) == 2
    assert re.search(message, capsys.readouterr().err) and not out.exists()
