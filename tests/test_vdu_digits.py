import json

import pytest

from fdunlearn.studies import vdu_digits, vdu_mix
from fdunlearn.unlearning import unlearn

CFG = unlearn.UnlearnConfig(steps=2, n_forget=4, batch_size=4, replay_n=4)


def test_table_scores_the_base_once_per_seed_and_resumes(fast_ddpm, tmp_path):
    out = tmp_path / "t.json"
    vdu_digits.table(str(fast_ddpm), out, ("vdu-fs", "ga"), (3, 7), CFG)
    data = json.loads(out.read_text())
    keys = [r["key"] for r in data["rows"]]
    assert keys == ["base/digit=3/seed=0", "vdu-fs/digit=3/seed=0", "ga/digit=3/seed=0",
                    "base/digit=7/seed=0", "vdu-fs/digit=7/seed=0", "ga/digit=7/seed=0"]
    base3, base7 = data["rows"][0], data["rows"][3]
    assert base3["grid_png"] == base7["grid_png"] and base3["class_share"] == base7["class_share"]
    fs = data["rows"][1]
    assert fs["config"]["method"] == "vdu-fs" and fs["config"]["forget_class"] == 3 and fs["replay"]["n"] == 4
    assert fs["pul"] == pytest.approx(100 * (base3["forget_share"] - fs["forget_share"]) / base3["forget_share"]) \
        if base3["forget_share"] > 0 else fs["pul"] is None
    vdu_digits.table(str(fast_ddpm), out, ("vdu-fs", "ga"), (3, 7), CFG)
    assert json.loads(out.read_text()) == data


def test_filter_audit_counts_what_the_filter_drops_by_class(fast_ddpm, tmp_path):
    from fdunlearn.studies import vdu_report

    out = tmp_path / "filter.json"
    vdu_digits.filter_audit(str(fast_ddpm), out, (7,), (0.5, 100.0), CFG)
    rows = json.loads(out.read_text())["rows"]
    assert [(r["digit"], r["ratio"]) for r in rows] == [(7, 0.5), (7, 100.0)]  # fast mode: one seed
    strict = rows[1]
    assert strict["dropped"] == strict["replay_n"] == 4 and strict["digit_kept"] == 0  # ratio 100: all look like D_f
    assert all(sum(r["kept_per_class"]) == r["replay_n"] - r["dropped"] for r in rows)
    assert rows[0]["digit_kept"] <= rows[0]["read_as_digit"]
    table = vdu_report.filter_markdown(json.loads(out.read_text())).splitlines()
    assert len(table) == 4 and table[3].startswith("| 7 | 100 | ")
    with pytest.raises(ValueError, match=r"filter ratio 0; accepted: numbers > 0"):
        vdu_digits.filter_audit(str(fast_ddpm), tmp_path / "bad.json", (7,), (0,), CFG)


def test_mix_of_a_row_drawn_like_the_pretrained_model_explains_none_of_its_rise(fast_ddpm, tmp_path):
    table = tmp_path / "t.json"
    vdu_digits.table(str(fast_ddpm), table, ("ga",), (3,), CFG)
    data = json.loads(table.read_text())
    base, row = data["rows"]
    row["class_share"] = base["class_share"]  # a model that draws the pretrained mix
    table.write_text(json.dumps(data))
    out = tmp_path / "mix.json"
    vdu_mix.mix(str(fast_ddpm), out, table, ("ga",))
    (mixed,) = json.loads(out.read_text())["rows"]
    assert mixed["key"] == "ga/digit=3/seed=0" and mixed["base_shares_match"]
    assert mixed["mix_rise"] == 0.0 if mixed["n"] >= 2 else mixed["mix_rise"] is None
    with pytest.raises(ValueError, match="holds no rows of vdu-fs"):
        vdu_mix.mix(str(fast_ddpm), tmp_path / "m2.json", table, ("vdu-fs",))


def test_trajectory_scores_every_snapshot(fast_ddpm, tmp_path):
    out = tmp_path / "traj.json"
    vdu_digits.trajectory(str(fast_ddpm), out, 7, ("vdu-fs",), every=1, base_cfg=CFG)
    steps = [(r["variant"], r["step"]) for r in json.loads(out.read_text())["rows"]]
    assert steps == [("pretrained", 0), ("vdu-fs", 1), ("vdu-fs", 2)]


@pytest.mark.parametrize(("args", "message"), [
    (["table", "--variants", "nope"], "unknown variant 'nope'; accepted: vdu-fs"),
    (["table", "--digits", "3,11"], r"bad digit list \[3, 11\]; accepted: distinct classes in 0..9"),
    (["trajectory", "--digit", "12"], r"bad digit list \[12\]"),
    (["table", "--n-samples", "1"], "n_samples=1; accepted: an integer >= 2"),
    (["relearn", "--relearn-n", "0"], r"relearning images n=0; accepted: an integer 1\.\.4 \(the forget set\)"),
    (["mix", "--variants", "vdu-fs"], "mix needs --table FILE and --variants; accepted: e.g. --table"),
    (["mix", "--variants", "vdu-fs", "--table", "missing.json"], "missing.json is missing; make it with"),
    (["residue", "--digits", "3,3"], r"bad digit list \[3, 3\]; accepted: distinct classes in 0..9"),
    (["residue", "--variants", "nope"], "unknown variant 'nope'; accepted: vdu-fs"),
    (["decided", "--digit", "12"], r"bad digit list \[12\]"),
])
def test_bad_arguments_name_the_value(args, message, tmp_path, capsys, fast_ddpm):
    import re

    assert vdu_digits.main([*args, "--model", str(fast_ddpm), "--out", str(tmp_path / "x.json")]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_every_variant_is_a_valid_config_with_a_label():
    import dataclasses

    for name, fields in vdu_digits.VARIANTS.items():
        cfg = dataclasses.replace(unlearn.UnlearnConfig(), **fields)
        unlearn.check(cfg, n_available=1000)
        assert name in vdu_digits.LABELS


def test_fs_guide_ema_is_what_unlearn_runs_for_fs_guide_and_the_older_rows_keep_their_settings():
    import dataclasses

    ema = {k: v for k, v in vdu_digits.VARIANTS["fs-guide-ema"].items() if k not in ("method", "replay_filter")}
    assert ema == unlearn.METHOD_DEFAULTS["fs-guide"]
    for name in ("fs-guide", "fs-guide-scale1.5", "fs-guide-placebo"):  # 100 steps, the last step's weights
        cfg = dataclasses.replace(unlearn.UnlearnConfig(), **vdu_digits.VARIANTS[name])
        assert (cfg.steps, cfg.ema) == (100, 0.0), name


def test_lesson_03_reads_every_variant_of_the_5k_table_in_one_section():
    command = vdu_digits.COMMANDS["digit3-5k"].split()
    variants = command[command.index("--variants") + 1].split(",")
    read = [v for section in vdu_digits.DIGIT3_5K_SECTIONS.values() for v in section]
    assert sorted(read) == sorted(variants) and len(read) == len(set(read))
