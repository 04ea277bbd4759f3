import json

import pytest

from fdunlearn.datasets import captions
from fdunlearn.erasure import erase
from fdunlearn.evaluation import minisd_eval, tables
from fdunlearn.studies import erase_study


def test_eval_prompts_keep_heldout_phrasings_apart_and_name_their_digits():
    p = erase_study.eval_prompts(erase_study.TASKS["generic"])
    train_only = set(captions.prompts("seven", "train"))
    assert set(p.target) == train_only and not set(p.heldout) & train_only
    assert set(p.heldout) == set(captions.prompts("seven", "heldout"))
    assert 7 not in p.retained_digits and len(p.retained) == len(p.retained_digits) == 9 * len(captions.TRAIN)
    assert p.retained[:9] == [captions.fill(captions.TRAIN[0], d) for d in range(10) if d != 7]  # template-major
    assert set(p.anchor) == {captions.fill(t, None, thick) for t in captions.TRAIN for thick in (False, True)}
    style = erase_study.eval_prompts(erase_study.TASKS["style"])
    assert all("thick" in q for q in style.target + style.heldout) and not any("thick" in q for q in style.retained)


def test_thick_thresholds_lie_between_plain_and_dilated_real_digits_of_each_class():
    real = erase_study.data.load("mnist", "heldout", verbose=False)
    t = erase_study.thick_thresholds()
    assert t.shape == (10,)
    for d in range(10):
        x = real.images[real.labels == d]
        plain, thick = minisd_eval.ink(x).mean(), minisd_eval.ink(erase_study.data.dilate(x)).mean()
        assert plain < t[d] < thick
    assert t[1] < t[0]  # ones need a lower threshold than zeros


def test_method_labels_and_keys_are_the_papers_rows():
    labels = [m.label for m in erase_study.METHODS]
    assert labels == ["MSE (Concept Ablation)", "exact KL", "Hellinger", "chi^2", "alpha = 0.25", "alpha = 1.5",
                      "variational KL", "variational Hellinger", "variational JS"]
    assert len({m.key for m in erase_study.METHODS}) == len(erase_study.METHODS)


def test_run_list_puts_the_reference_table_first_and_sweeps_every_method():
    b = erase_study.BUDGETS["full"]
    runs = erase_study.run_list(b)
    assert [r.phase for r in runs[:27]] == ["reference"] * 27
    sweep = {(r.method.key, r.lr_mult, r.seed) for r in runs if r.phase == "sweep"}
    assert len(sweep) == len(b.methods) * (len(b.lr_mults) - 1) * len(b.sweep_seeds)
    assert len({r.key for r in runs}) == len(runs)


def _row(task, method, x, seed, target, retained, kid=0.1, variational=False, phase="sweep"):
    return {"phase": phase, "task": task, "method": method, "label": method, "lr_mult": x, "steps": 200,
            "seed": seed, "target_acc": target, "heldout_acc": target, "retained_acc": retained, "kid": kid,
            "seconds": 60.0, "variational": variational}


def test_best_lr_erases_hardest_among_lrs_that_keep_retained_accuracy():
    base = {"phase": "base", "task": "generic", "seed": 0, "target_acc": 1.0, "heldout_acc": 1.0,
            "retained_acc": 1.0, "kid": 0.1, "anchor_share": 0.1, "anchor_seconds": 20.0}
    rows = [base, _row("generic", "mse", 1.0, 0, 0.5, 0.99), _row("generic", "mse", 3.0, 0, 0.2, 0.97),
            _row("generic", "mse", 10.0, 0, 0.0, 0.80), _row("generic", "hellinger", 1.0, 0, 0.9, 0.5)]
    s = erase_study.summarise(rows)
    assert erase_study.best_lr(s, "generic", "mse", 200) == 3.0
    assert erase_study.best_lr(s, "generic", "hellinger", 200) is None
    best = erase_study.table(s, "generic", 200, "best", erase_study.METHODS[:3:2])
    assert [(e["method"], e["lr_mult"], bool(e["note"])) for e in best] == [("mse", 3.0, False),
                                                                            ("hellinger", 1.0, True)]
    assert "| MSE (Concept Ablation) | 3 | 20.0 ± 0.0 |" in erase_study.format_table(best)
    with pytest.raises(ValueError, match="accepted: reference, best"):
        erase_study.table(s, which="nope")


def test_format_table_prints_the_classifier_kid_unscaled_with_a_note_when_it_reads_as_noise():
    rows = [_row("generic", "mse", 1.0, s, 0.1, 0.98, kid=k) for s, k in ((0, 12.0), (1, 14.0))]
    entries = erase_study.table(erase_study.summarise(rows), "generic", 200, "reference", erase_study.METHODS[:1])
    text = erase_study.format_table(entries)
    assert "| KID (classifier features) |" in text.splitlines()[0] and "| 13.0 ± 1.4 |" in text
    assert entries[0]["kid"][0] == pytest.approx(13.0)
    assert tables.KID_NOTE not in text
    base = {"target_acc": (1.0, 0.0), "heldout_acc": (1.0, 0.0), "retained_acc": (1.0, 0.0), "kid": (-4.8253, 0.3311),
            "n_seeds": 3}
    text = erase_study.format_table(entries, base)
    assert "| base model | – | 100.0 ± 0.0 | 100.0 ± 0.0 | 100.0 ± 0.0 | -4.83 ± 0.33 | – | 3 |" in text
    assert text.endswith(f"\n\n*{tables.KID_NOTE}*")  # a negative KID: the note follows the table
    del entries[0]["kid"]
    assert "| 98.0 ± 0.0 | – | 60 ± 0 |" in erase_study.format_table(entries)


def test_summarise_gives_mean_and_spread_over_seeds():
    rows = [_row("generic", "mse", 1.0, s, t, 1.0) for s, t in ((0, 0.0), (1, 0.1), (2, 0.2))]
    s = erase_study.summarise(rows)[("generic", "mse", 1.0, 200)]
    assert s["target_acc"] == pytest.approx((0.1, 0.1)) and s["n_seeds"] == 3 and s["seeds"] == [0, 1, 2]


def test_unknown_phase_is_refused(tmp_path):
    with pytest.raises(ValueError, match="accepted: base, reference, anchors, sweep, default"):
        erase_study.study(tmp_path / "x.json", phases=("nope",))


def test_missing_results_file_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m fdunlearn\.erase_study --out"):
        erase_study.load(tmp_path / "none.json")


def test_study_writes_scored_rows_resumes_and_checks_bars(fast_minisd, tmp_path, one_thread):
    b = erase_study.BUDGETS["fast"]
    out = tmp_path / "erasure.json"
    erase_study.study(out, str(fast_minisd), phases=("base", "reference"), b=b)
    first = json.loads(out.read_text())
    keys = [r["key"] for r in first["rows"]]
    assert keys[:3] == ["base/generic/seed=0", "base/near/seed=0", "base/style/seed=0"]
    assert [k.split("/")[1] for k in keys[3:]] == ["mse", "hellinger", "var-kl"]
    row = first["rows"][3]
    assert 0 <= row["target_acc"] <= 1 and 0 <= row["retained_acc"] <= 1 and row["steps"] == 2
    assert row["seconds"] >= row["erase_seconds"] and len(row["log"]) == 2
    assert erase_study.thumbnail({"grid_png": row["grid_png"]["target"]}).dtype.name == "uint8"
    erase_study.study(out, str(fast_minisd), phases=("base", "reference"), b=b)  # finished: nothing reruns
    assert json.loads(out.read_text()) == first
    s = erase_study.summarise(first["rows"])
    v = erase_study.verdicts(s, steps=2)
    assert {e["what"] for e in v} >= {"base target accuracy", "target accuracy after erasure", "retained accuracy"}
    assert all(isinstance(e["pass"], bool) for e in v)
    assert [c["claim"].split()[0] for c in erase_study.claims(s, steps=2)] == ["Hellinger", "variational"]


def test_the_default_phase_runs_the_cli_length_on_every_seed():
    b = erase_study.BUDGETS["full"]
    assert b.default_steps == erase.MINISD_STEPS
    runs = [r for r in erase_study.run_list(b) if r.phase == "default"]
    assert {(r.method.key, r.seed, r.steps) for r in runs} == {
        (m.key, s, erase.MINISD_STEPS) for m in b.default_methods for s in b.seeds}


def test_a_claimed_win_with_equal_numbers_is_a_tie_not_a_hold():
    def entry(target, retained):
        return {"target_acc": (target, 0.0), "retained_acc": (retained, 0.0), "kid": (0.0, 0.0), "n_seeds": 3,
                "seeds": [0, 1, 2], "label": ""}
    summary = {("generic", "mse", 1.0, 200): entry(0.13, 0.978), ("generic", "hellinger", 1.0, 200): entry(0.13, 0.978),
               ("generic", "pearson_chi2", 1.0, 200): entry(0.10, 0.978)}
    verdicts = {c["claim"].split()[0]: (c["verdict"], c["holds"]) for c in erase_study.claims(summary, steps=200)}
    assert verdicts["Hellinger"] == ("tie", False)
    assert verdicts["chi^2"] == ("holds", True)  # strictly lowest
    summary[("generic", "hellinger", 1.0, 200)] = entry(0.20, 0.978)
    verdicts = {c["claim"].split()[0]: c["verdict"] for c in erase_study.claims(summary, steps=200)}
    assert verdicts["Hellinger"] == "does not hold"
