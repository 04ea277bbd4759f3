import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from fdunlearn.studies import attack_report
from fdunlearn.studies.vdu_study import encode_grid

GRID = encode_grid(torch.zeros(4, 1, 8, 8))


def _attack(variant, label, method, seed, rate, writing=None):
    row = {"phase": "attack", "variant": variant, "label": label, "method": method, "seed": seed,
           "success_rate": rate, "success_before": None, "retained_acc": 1.0, "target_acc": 1.0, "seconds": 3.0,
           "grid_png": GRID}
    return row | ({"by_writing": writing} if writing else {})


ROWS = [{"phase": "model", "variant": "base", "seed": s, "anchor_share": 0.05} for s in (0, 1)] + [
    _attack(v, label, m, s, rate, {"word": rate, "numeral": rate, "misspelled": rate / 7} if m == "paraphrase"
            else None)
    for s in (0, 1)
    for v, label, rates in [("base", "MiniSD", (0.7, 1.0, 1.0)), ("mse", "MSE", (0.02, 1.0, 0.9))]
    for m, rate in zip(("paraphrase", "inversion", "prompt-opt"), rates, strict=True)]


def test_writing_table_splits_the_paraphrase_attack_by_writing():
    lines = attack_report.writing_table(ROWS).splitlines()
    assert lines[0] == "| model | written as word % | written as numeral % | written as misspelled % | seeds |"
    assert lines[2] == "| MiniSD | 70.0 ± 0.0 | 70.0 ± 0.0 | 10.0 ± 0.0 | 2 |" and len(lines) == 4


def test_findings_are_computed_from_the_rows():
    text = attack_report.findings({"rows": ROWS})
    assert text[0] == "paraphrase: 70% sevens on the base MiniSD, 2% after erasure (1 erased models, means over seeds)"
    assert text[2].startswith("prompt-opt: 100% sevens") and ", 90% after" in text[2]
    assert text[3].startswith("paraphrase misspelled (reported, not scored") and text[3].endswith(
        "10% on the base MiniSD, 0% after erasure")
    assert text[-1].endswith("none")


def test_recovered_grid_has_a_panel_per_model_and_attack_and_refuses_unknown_seeds():
    fig = attack_report.plot_recovered(ROWS, seed=1)
    assert len(fig.axes) == 6 and fig.axes[1].get_title() == "inversion: 100% sevens"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"no attack rows for seed 5; accepted: \[0, 1\]"):
        attack_report.plot_recovered(ROWS, seed=5)


def test_missing_results_name_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m fdunlearn\.attack_study --out data/results/attacks\.json"):
        attack_report.load(tmp_path / "nope.json")
    (tmp_path / "a.json").write_text(json.dumps({"rows": []}))
    assert attack_report.load(tmp_path / "a.json") == {"rows": []}


def test_relearn_table_reads_the_relearning_check_as_an_attack():
    rows = [{"start": start, "relearn_steps": k, "seed": s, "forget_share": share}
            for s in (0, 1) for start, shares in (("pretrained", (0.1, 0.2, 0.4)), ("vdu-fs", (0.0, 0.02, 0.2)))
            for k, share in zip((0, 10, 50), shares, strict=True)]
    lines = attack_report.relearn_table({"settings": {"digit": 7, "variant": "vdu-fs"}, "rows": rows}).splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("| model | attack | success % | before unlearning % | retrained without it % |")
    assert lines[2] == ("| vdu-fs, MNIST DDPM, digit 7 | none (the unlearned model itself) | 0.0 ± 0.0 | 10.0 ± 0.0 "
                        "| – | 2 |")
    assert lines[4] == ("| vdu-fs, MNIST DDPM, digit 7 | relearn: 50 fine-tuning steps on 10 forget images | "
                        "20.0 ± 0.0 | 40.0 ± 0.0 | – | 2 |")
    one = {"settings": {"digit": 7, "variant": "fs-redirect", "relearn_n": 1},
           "rows": [r | {"start": "fs-redirect"} if r["start"] == "vdu-fs" else r for r in rows]}
    both = attack_report.relearn_table({"settings": {"digit": 7, "variant": "vdu-fs"}, "rows": rows}, one)
    assert len(both.splitlines()) == 8 and "relearn: 10 fine-tuning steps on 1 forget image |" in both
    again = attack_report.relearn_table({"settings": {"digit": 7, "variant": "vdu-fs"}, "rows": rows},
                                        {"settings": {"digit": 7, "variant": "vdu-fs", "relearn_n": 1}, "rows": rows})
    assert again.count("none (the unlearned model itself)") == 1 and len(again.splitlines()) == 7
    # a variant whose rows carry its method's name (fs-guide-ema runs fs-guide), beside a retrained start
    guide = {"settings": {"digit": 3, "variant": "fs-guide-ema"},
             "rows": [r | {"start": "fs-guide"} if r["start"] == "vdu-fs" else r for r in rows]
             + [{"start": "retrained", "relearn_steps": 0, "seed": 0, "forget_share": 0.5}]}
    lines = attack_report.relearn_table(guide).splitlines()
    assert len(lines) == 5 and lines[2] == ("| fs-guide-ema, MNIST DDPM, digit 3 | none (the unlearned model itself) | "
                                            "0.0 ± 0.0 | 10.0 ± 0.0 | 50.0 ± 0.0 | 2 |")
