"""Lesson 05's evaluation and table: CLIP score, CLIP accuracy and KID on a tiny random CLIPModel built from a
config (no download), the table runner on the tiny Stable-Diffusion-structured pipeline, replay, resume, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fdunlearn import cli
from fdunlearn.evaluation import clip as sd_eval
from fdunlearn.models import sd
from fdunlearn.studies import sd_table

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return sd_eval.tiny_clip(tmp_path_factory.mktemp("clip"), seed=0)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def test_embeddings_are_unit_norm_and_batch_independent(clip):
    images = _images(5)
    a, b = clip.image_embeds(images), clip.image_embeds(images, batch=2)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(5))
    t = clip.text_embeds(["a painting of a boat, in the style of Van Gogh", "a dog"])
    assert t.shape == (2, 16)


def test_clip_score_is_100_times_the_clamped_cosine(clip):
    images, prompts = _images(4), ["a cat", "a dog", "R2D2 on the moon", "a painting"]
    cos = (clip.image_embeds(images) * clip.text_embeds(prompts)).sum(-1)
    torch.testing.assert_close(sd_eval.clip_score(clip, images, prompts), 100 * cos.clamp_min(0))


def test_clip_accuracy_compares_own_prompt_with_the_paired_one(clip):
    images, p, q = _images(6), ["a cat"] * 6, ["a dog"] * 6
    acc = sd_eval.clip_accuracy(clip, images, p, q)
    assert acc.dtype == torch.bool and torch.equal(acc, ~sd_eval.clip_accuracy(clip, images, q, p))
    assert not sd_eval.clip_accuracy(clip, images, p, p).any()
    with pytest.raises(ValueError, match="same number"):
        sd_eval.clip_accuracy(clip, images, p, q[:2])


def test_kid_is_near_zero_for_identical_sets_and_refuses_one_image(clip):
    images = _images(12)
    mean, _ = sd_eval.kid(clip, images, images)
    other, _ = sd_eval.kid(clip, images, 255 - images)
    assert abs(mean) < 1e-3 and other > mean
    with pytest.raises(ValueError, match="at least 2"):
        sd_eval.kid(clip, images[:1], images)


def test_missing_clip_weights_fail_early(monkeypatch):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    with pytest.raises(sd.Unavailable, match="FDUNLEARN_ONLINE=1"):
        sd_eval.load_clip("nobody-here/no-such-clip-fdunlearn")


def test_format_table_has_the_papers_columns():
    row = {"target_cs": 30.0, "target_ca": 0.25, "retained_cs": 31.0, "retained_ca": 0.9, "kid": 0.0012,
           "kid_std": 0.0003}
    text = sd_eval.format_table({"original model": {k: v for k, v in row.items() if "kid" not in k}, "MSE": row})
    assert "target CS" in text and "retained CA" in text and "| KID ×10³ ↓ |" in text  # tables.KID_LABEL
    assert "| MSE | 30.00 | 25.0% | 31.00 | 90.0% | 1.20 ± 0.30 |" in text


@pytest.fixture(scope="module")
def table(tmp_path_factory, clip):
    out = tmp_path_factory.mktemp("table")
    cfg = sd_table.TableConfig(model="tiny-sd", settings="ci", n_eval_prompts=2, n_per_prompt=2, eval_steps=2,
                               clip="tiny", overrides={"steps": 3, "n_anchor_images": 4, "anchor_steps": 2,
                                                       "critic_warmup": 1})
    loaded = sd.Loaded(sd.load("tiny-sd", device="cpu"), "tiny-sd", "sd14")
    return cfg, out, loaded, sd_table.run(cfg, out, loaded=loaded, clip=clip, progress=False)


def test_table_runs_every_row_on_the_fallback_and_replays(table):
    cfg, out, _, results = table
    assert results["fallback"] and not results["real_weights"] and results["clip"] == "tiny random CLIP"
    assert set(results["rows"]) == {"original model", *cfg.methods}
    for method in cfg.methods:
        assert {"target_cs", "target_ca", "retained_cs", "retained_ca", "kid"} <= set(results["rows"][method])
        assert (out / "erasures" / sd_table.slug(method) / "record.json").is_file()
    replay = sd_table.load_results(out)
    assert replay.methods == list(cfg.methods)
    assert replay.table().splitlines()[2].startswith("| original model |")
    prompt = replay.pairs["target"][0][0]
    before, after = replay.prompt_images("base", prompt), replay.prompt_images("MSE", prompt)
    assert before.shape == after.shape == (2, 16, 16, 3) and before.dtype == np.uint8
    with pytest.raises(ValueError, match="not an evaluation prompt"):
        replay.prompt_images("MSE", "a prompt nobody used")


def test_a_rerun_reuses_the_rows_already_made(table, clip):
    cfg, out, loaded, results = table
    before = {p: p.stat().st_mtime_ns for p in (out / "rows").glob("*.npz")}
    again = sd_table.run(cfg, out, loaded=loaded, clip=clip, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (out / "rows").glob("*.npz")} == before
    # The scores are recomputed from the same saved images; CPU kernels may differ in the last float bits.
    assert again["rows"].keys() == results["rows"].keys()
    for method, row in results["rows"].items():
        assert again["rows"][method] == pytest.approx(row, rel=1e-5, abs=1e-8), method


def test_multi_concept_roles():
    cfg = sd_table.TableConfig(presets=("snoopy", "grumpy_cat"), n_eval_prompts=1)
    pairs = sd_table.eval_pairs(cfg)
    assert {"snoopy/target", "grumpy_cat/target", "snoopy/anchor", "grumpy_cat/anchor", "wall_e", "r2d2"} == \
        set(pairs)  # an erased concept is never counted as retained


@pytest.mark.parametrize(("argv", "match"), [
    (["--preset", "monet"], "unknown preset 'monet'"),
    (["--anchor", "far"], "unknown anchor kind 'far'"),
    (["--method", "KL"], "accepted: MSE, Hellinger"),
    (["--settings", "slow"], "unknown settings preset"),
    (["--n-per-prompt", "0"], "--n-per-prompt: got '0'"),
    (["--model", "no-such-model"], "unknown model"),
])
def test_cli_bad_values_exit_2_with_the_accepted_ones(tmp_path, capsys, argv, match):
    extra = [] if "--model" in argv else ["--model", "tiny-sd"]
    assert cli.main(["sd-table", *extra, "--clip", "tiny", "--out", str(tmp_path / "t"), *argv]) == 2
    assert match in capsys.readouterr().err


def test_cli_without_clip_weights_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    code = cli.main(["sd-table", "--model", "tiny-sd", "--clip", "nobody-here/no-clip", "--out", str(tmp_path / "t")])
    assert code == 2 and "FDUNLEARN_ONLINE=1" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
