"""Lesson 05's Stable Diffusion loader: pinned names, early clear errors (offline, no GPU), the fallback chain."""

from __future__ import annotations

import pytest
import torch

from fdunlearn import sd


def test_pinned_models_have_full_commit_revisions():
    assert set(sd.MODELS) == {"sd14", "sd21", "sd21-base"}
    assert sd.MODELS["sd14"][0] == "CompVis/stable-diffusion-v1-4"
    for repo, revision in sd.MODELS.values():
        assert "/" in repo and len(revision) == 40 and int(revision, 16) >= 0


def test_missing_weights_fail_early_with_the_way_out(monkeypatch):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    with pytest.raises(sd.Unavailable, match="FDUNLEARN_ONLINE=1"):
        sd.weights_folder("nobody-here/no-such-model-fdunlearn")


def test_full_size_model_without_gpu_names_both_problems(monkeypatch):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(sd.Unavailable, match="no CUDA GPU"):
        sd.load("nobody-here/no-such-model-fdunlearn", device="cpu")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "stable-diffusion"}, "accepted: sd14, sd21, sd21-base, tiny-sd, minisd"),
    ({"name": "sd14", "dtype": "fp8"}, "accepted: auto, fp32, fp16, bf16"),
    ({"name": "sd14", "dtype": "fp16", "device": "cpu"}, "needs a CUDA GPU"),
    ({"name": "sd14", "attention": "flash", "allow_cpu": True}, "accepted: sdpa, slicing, classic"),
])
def test_bad_options_name_the_accepted_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sd.load(**kwargs)


def test_folder_without_model_index_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"model_index\.json"):
        sd.weights_folder(str(tmp_path))


def test_fallback_chain_says_why_and_gives_a_stable_diffusion_structured_pipeline(monkeypatch, one_thread):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    loaded = sd.load_with_fallback("nobody-here/no-such-model-fdunlearn", device="cpu")
    assert loaded.name == "tiny-sd" and loaded.is_fallback and not loaded.is_real
    assert "nobody-here/no-such-model-fdunlearn" in loaded.skipped
    assert "using 'tiny-sd'" in loaded.describe()
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert type(loaded.pipe.text_encoder).__name__ == "CLIPTextModel"


def test_save_pretrained_folder_loads_like_a_hub_model(tmp_path, one_thread):
    pipe = sd.load("tiny-sd", device="cpu")
    pipe.save_pretrained(tmp_path / "pipe")
    again = sd.load(str(tmp_path / "pipe"), device="cpu", allow_cpu=True, attention="slicing")
    assert sum(p.numel() for p in again.unet.parameters()) == sum(p.numel() for p in pipe.unet.parameters())
    torch.testing.assert_close(next(again.unet.parameters()), next(pipe.unet.parameters()))
