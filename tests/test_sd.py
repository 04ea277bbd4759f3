"""Lesson 05's Stable Diffusion loader: pinned names, early clear errors (offline, no GPU), the fallback chain."""

from __future__ import annotations

import pytest
import torch

from fdunlearn import config
from fdunlearn.models import registry as models
from fdunlearn.models import sd


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
    ({"name": "stable-diffusion"}, "accepted: sd14, sd21, sd21-base, minisd, tiny-sd"),
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


def test_the_fallback_is_the_trained_minisd(monkeypatch, one_thread):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    loaded = sd.load_with_fallback("nobody-here/no-such-model-fdunlearn", device="cpu")
    assert loaded.name == "minisd" and loaded.is_fallback and not loaded.is_real
    assert list(loaded.skipped) == ["nobody-here/no-such-model-fdunlearn"]
    assert "using 'minisd'" in loaded.describe()
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert models.read_record(models.resolve("minisd"))["kind"] == "pipeline"  # the shipped, trained weights


def test_without_minisd_the_chain_ends_with_tiny_sd_and_says_why(monkeypatch, tmp_path, one_thread):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    monkeypatch.setattr(config, "CHECKPOINT_DIR", tmp_path)  # a clone whose checkpoints are missing
    loaded = sd.load_with_fallback("nobody-here/no-such-model-fdunlearn", device="cpu")
    assert loaded.name == "tiny-sd" and "shipped model 'minisd' is missing" in loaded.skipped["minisd"]
    assert "minisd: skipped" in loaded.describe() and "using 'tiny-sd'" in loaded.describe()


def test_tiny_sd_stays_available_for_structure_tests(one_thread):
    loaded = sd.load_with_fallback("tiny-sd", device="cpu")
    assert (loaded.name, loaded.is_fallback, loaded.is_real) == ("tiny-sd", False, False)
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert type(loaded.pipe.text_encoder).__name__ == "CLIPTextModel"


def test_save_pretrained_folder_loads_like_a_hub_model(tmp_path, one_thread):
    pipe = sd.load("tiny-sd", device="cpu")
    pipe.save_pretrained(tmp_path / "pipe")
    again = sd.load(str(tmp_path / "pipe"), device="cpu", allow_cpu=True, attention="slicing")
    assert sum(p.numel() for p in again.unet.parameters()) == sum(p.numel() for p in pipe.unet.parameters())
    torch.testing.assert_close(next(again.unet.parameters()), next(pipe.unet.parameters()))


def test_sampling_swaps_the_scheduler_and_restores_it_even_after_an_error():
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

    class Pipe:  # the two things ``sampling`` touches
        def __init__(self):
            self.scheduler, self._progress_bar_config = DDPMScheduler(), {"desc": "mine"}

        def set_progress_bar_config(self, **kwargs):
            self._progress_bar_config = kwargs

    pipe = Pipe()
    original = pipe.scheduler
    with pytest.raises(RuntimeError, match="boom"), sd.sampling(pipe, "dpm-solver"):
        assert isinstance(pipe.scheduler, DPMSolverMultistepScheduler)
        assert pipe._progress_bar_config == {"disable": True}
        raise RuntimeError("boom")
    assert pipe.scheduler is original and pipe._progress_bar_config == {"desc": "mine"}
    with sd.sampling(pipe, "pipeline"):
        assert pipe.scheduler is original
    with pytest.raises(ValueError, match="unknown sampler 'ddim'; accepted: dpm-solver, pipeline"), \
            sd.sampling(pipe, "ddim"):
        pass
