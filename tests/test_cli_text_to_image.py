"""The command line on MiniSD: sample with a prompt, erase a concept, sample the erasure."""

import json

import numpy as np
import pytest

from fdunlearn.cli import main
from fdunlearn.datasets import captions


def _sample(model, out, prompt="a handwritten seven", seed="1"):
    args = ["sample", "--model", str(model), "--n", "3", "--seed", seed, "--out", str(out), "--steps", "3"]
    return main(args + (["--prompt", prompt] if prompt is not None else []))


def test_sample_with_a_prompt_is_deterministic(fast_minisd, tmp_path):
    assert _sample(fast_minisd, tmp_path / "a.npz") == 0
    assert _sample(fast_minisd, tmp_path / "b.npz") == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a["images"].shape == (3, 32, 32, 1) and np.array_equal(a["images"], b["images"])
        record = json.loads(str(a["record"]))
        assert record["prompt"] == "a handwritten seven" and record["guidance"] == 3.0


@pytest.mark.parametrize("prompt, message", [(None, "needs a non-empty prompt"), ("  ", "needs a non-empty prompt")])
def test_text_to_image_sampling_needs_a_prompt(fast_minisd, tmp_path, capsys, prompt, message):
    assert _sample(fast_minisd, tmp_path / "a.npz", prompt=prompt) == 2
    assert message in capsys.readouterr().err


def test_prompt_on_an_unconditional_model_is_refused(fast_ddpm, tmp_path, capsys):
    assert _sample(fast_ddpm, tmp_path / "a.npz") == 2
    assert "unconditional" in capsys.readouterr().err


def test_erase_writes_a_folder_that_sample_reads(fast_minisd, tmp_path):
    out = tmp_path / "erased"
    assert main(["erase", "--model", str(fast_minisd), "--target", "seven", "--anchor", "digit",
                 "--divergence", "hellinger", "--steps", "2", "--seed", "0", "--out", str(out)]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["kind"] == "pipeline-erasure"
    assert _sample(out, tmp_path / "erased.npz") == 0
    assert _sample(fast_minisd, tmp_path / "base.npz") == 0
    with np.load(tmp_path / "erased.npz") as a, np.load(tmp_path / "base.npz") as b:
        assert a["images"].shape == b["images"].shape


def test_erase_options_reach_the_erasure_and_the_preset_is_the_reference_code(fast_minisd, tmp_path):
    out = tmp_path / "erased"
    assert main(["erase", "--model", str(fast_minisd), "--target", "seven", "--anchor", "digit", "--divergence",
                 "pearson_chi2", "--preset", "reference-code", "--temperature", "0.5", "--optimizer", "sgd",
                 "--away", "1.5", "--preserve", "2", "--steps", "2", "--seed", "0", "--out", str(out)]) == 0
    record = json.loads((out / "record.json").read_text())
    cfg = record["erase"]
    assert cfg["preserve"] == 2.0 and cfg["keep"] == captions.other_digits("seven")  # --keep's default: others
    assert (cfg["scaling"], cfg["weight_decay"], cfg["border"]) == ("reference-code", 1e-2, 1)  # the preset
    assert (cfg["temperature"], cfg["optimizer"], record["optimizer"], cfg["away"]) == (0.5, "sgd", "sgd", 1.5)
    out = tmp_path / "var"
    assert main(["erase", "--model", str(fast_minisd), "--target", "seven", "--anchor", "digit", "--divergence", "kl",
                 "--variational", "--critic", "leaky", "--preset", "reference-code", "--border", "0",
                 "--weight-decay", "0", "--steps", "2", "--seed", "0", "--out", str(out)]) == 0
    cfg = json.loads((out / "record.json").read_text())["erase"]
    assert (cfg["critic"], cfg["border"], cfg["weight_decay"]) == ("leaky", 0, 0.0)  # explicit options win


@pytest.mark.parametrize("args, message", [
    (["--target", "unicorn", "--anchor", "digit"], "unknown concept 'unicorn'"),
    (["--target", "seven", "--anchor", "plain"], "cannot pair content concept"),
    (["--target", "seven", "--anchor", "digit", "--divergence", "wasserstein"], "wasserstein"),
    (["--target", "seven", "--anchor", "digit", "--divergence", "kl", "--scaling", "reference-code"],
     "accepted: mse, hellinger, pearson_chi2"),
    (["--target", "seven", "--anchor", "digit", "--critic", "leaky"], "variational form only"),
    (["--target", "seven", "--anchor", "digit", "--keep", "nine", "--preserve", "0"],
     "keep has 18 prompts and preserve=0.0"),
    (["--target", "seven", "--anchor", "digit", "--keep", "7", "--preserve", "1"], "keep concept '7' is a target"),
    (["--target", "thick", "--anchor", "plain", "--preserve", "1"], "keep 'others' needs digit targets"),
])
def test_erase_bad_input_names_the_bad_value(fast_minisd, tmp_path, capsys, args, message):
    code = main(["erase", "--model", str(fast_minisd), "--seed", "0", "--out", str(tmp_path / "e"), *args])
    assert code == 2 and message in capsys.readouterr().err


def test_erase_refuses_an_unconditional_model(fast_ddpm, tmp_path, capsys):
    code = main(["erase", "--model", str(fast_ddpm), "--target", "seven", "--anchor", "digit", "--seed", "0",
                 "--out", str(tmp_path / "e")])
    assert code == 2 and "'ddpm' folder" in capsys.readouterr().err


def test_eta_on_a_text_to_image_model_is_refused(fast_minisd, tmp_path, capsys):
    args = ["sample", "--model", str(fast_minisd), "--n", "1", "--seed", "0", "--out", str(tmp_path / "a.npz"),
            "--prompt", "a handwritten seven", "--eta", "1"]
    assert main(args) == 2
    assert "--eta applies to unconditional DDPMs only" in capsys.readouterr().err


def test_erase_keeps_other_digits_by_default_only_for_digit_targets(fast_minisd, tmp_path):
    for target, anchor, keep in (("thick", "plain", []), ("seven", "digit", captions.other_digits("seven"))):
        out = tmp_path / target
        assert main(["erase", "--model", str(fast_minisd), "--target", target, "--anchor", anchor, "--steps", "1",
                     "--seed", "0", "--out", str(out)]) == 0
        cfg = json.loads((out / "record.json").read_text())["erase"]
        assert cfg["keep"] == keep and cfg["preserve"] == (1.0 if keep else 0.0)
