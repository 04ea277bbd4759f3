"""The relearning check's read-out (``vdu_relearn``): the unlearned start beside the pretrained one, per step count."""

import pytest

from fdunlearn.studies import vdu_relearn


def _rows(start, shares):
    return [{"key": f"relearn/{start}/steps={steps}/seed={seed}", "start": start, "relearn_steps": steps, "seed": seed,
             "forget_share": share} for steps, per_seed in shares.items() for seed, share in enumerate(per_seed)]


def test_lines_set_the_unlearned_start_beside_the_pretrained_one():
    results = {"settings": {"digit": 7, "variant": "fs-guide-ema"},
               "rows": _rows("pretrained", {0: [0.1, 0.1], 10: [0.2, 0.16]})
               + _rows("fs-guide", {0: [0.01, 0.0], 10: [0.02, 0.04]})}
    assert vdu_relearn.unlearned_start(results) == "fs-guide"
    assert vdu_relearn.lines(results, "fs-guide-ema") == [
        "digit 7, fs-guide-ema, before fine-tuning: 0.5 ± 0.7% of the samples read as 7 (the pretrained model: "
        "10.0 ± 0.0%)",
        "digit 7, fs-guide-ema, after 10 steps on 10 forget images: 3.0 ± 1.4% of the samples read as 7 (the "
        "pretrained model fine-tuned the same way: 18.0 ± 2.8%)"]
    results["settings"]["relearn_n"] = 1
    assert "after 10 steps on 1 forget image:" in vdu_relearn.lines(results)[1]


def test_a_file_without_exactly_one_unlearned_start_is_refused():
    with pytest.raises(ValueError, match="one unlearned start beside 'pretrained', found none"):
        vdu_relearn.unlearned_start({"rows": _rows("pretrained", {0: [0.1]})})
    with pytest.raises(ValueError, match=r"found \['a', 'b'\]"):
        vdu_relearn.unlearned_start({"rows": _rows("a", {0: [0.1]}) + _rows("b", {0: [0.1]})})


def test_lines_add_the_retrained_model_when_the_file_has_it():
    results = {"settings": {"digit": 3},
               "rows": _rows("pretrained", {0: [0.1], 10: [0.2]}) + _rows("fs-guide", {0: [0.01], 10: [0.05]})
               + _rows("retrained", {0: [0.005], 10: [0.02]})}
    assert vdu_relearn.unlearned_start(results) == "fs-guide"
    assert vdu_relearn.lines(results)[1] == (
        "digit 3, fs-guide, after 10 steps on 10 forget images: 5.0 ± 0.0% of the samples read as 3 (the pretrained "
        "model fine-tuned the same way: 20.0 ± 0.0%; the model retrained without 3: 2.0 ± 0.0%)")
