"""The forget-like filter in the pretrained network's own features (replay.denoiser_features) and its audit."""

import dataclasses
import json

import pytest
import torch

from fdunlearn.models import registry as models
from fdunlearn.studies import filter_space
from fdunlearn.unlearning import replay, unlearn

CFG = unlearn.UnlearnConfig(steps=2, n_forget=4, batch_size=4, replay_n=4)


def test_denoiser_features_are_the_mid_blocks_output_at_t0_in_any_batch(fast_ddpm):
    unet, _, _ = models.load_ddpm(fast_ddpm)
    x = torch.randn(5, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    whole, split = replay.denoiser_features(unet, x), replay.denoiser_features(unet, x, batch=2)
    mid = unet.config.block_out_channels[-1] * (32 // 2 ** (len(unet.config.block_out_channels) - 1)) ** 2
    assert whole.shape == (5, mid) and torch.allclose(whole, split, atol=1e-5)
    assert not unet.mid_block._forward_hooks  # the hook is gone afterwards
    assert not torch.equal(whole[0], replay.denoiser_features(unet, x[1:2])[0])  # one row per image


def test_filter_space_passes_pixels_through_and_names_a_bad_space(fast_ddpm):
    unet, _, _ = models.load_ddpm(fast_ddpm)
    a, b = torch.zeros(3, 1, 32, 32), torch.ones(2, 1, 32, 32)
    assert replay.filter_space(unet, a, b, "pixels") == (a, b)
    fa, fb = replay.filter_space(unet, a, b, "features")
    assert fa.shape[0] == 3 and fb.shape[0] == 2 and fa.dim() == 2
    with pytest.raises(ValueError, match=r"replay filter space 'latent'; accepted: pixels, features"):
        replay.filter_space(unet, a, b, "latent")
    with pytest.raises(ValueError, match=r"replay_filter_space='latent'; accepted: pixels, features"):
        unlearn.check(dataclasses.replace(CFG, replay_filter_space="latent"), n_available=100)


def test_the_statistic_is_the_filters_own_ratio():
    g = torch.Generator().manual_seed(0)
    forget, rep = torch.randn(20, 8, generator=g) + 1.0, torch.randn(40, 8, generator=g)
    stat = replay.forget_like_statistic(rep, forget)
    for ratio in (0.9, 1.1, 1.3):
        assert torch.equal(stat <= ratio, replay.forget_like(rep, forget, ratio=ratio))


def test_auc_counts_pairs_ranked_right_and_ties_as_half():
    pos = torch.tensor([True, True, False, False])
    assert filter_space.auc(torch.tensor([0.1, 0.2, 0.3, 0.4]), pos) == 1.0
    assert filter_space.auc(torch.tensor([0.5, 0.6, 0.3, 0.4]), pos) == 0.0
    assert filter_space.auc(torch.tensor([0.3, 0.3, 0.3, 0.3]), pos) == 0.5
    with pytest.raises(ValueError, match="AUC needs both classes; got 0 positive and 4 negative"):
        filter_space.auc(torch.zeros(4), torch.zeros(4, dtype=torch.bool))


def test_an_unlearning_run_filters_in_feature_space(fast_ddpm, tmp_path):
    cfg = dataclasses.replace(CFG, method="fs-guide", replay_filter_space="features", replay_filter_ratio=100.0,
                              forget_t_min=300, guide_t_max=600)
    with pytest.raises(ValueError, match="fs-guide needs kept replay samples; the forget-like filter dropped all 4"):
        unlearn.unlearn(fast_ddpm, cfg, tmp_path / "all", progress=False)  # ratio 100: every sample looks like D_f
    rec = models.read_record(unlearn.unlearn(fast_ddpm, dataclasses.replace(cfg, replay_filter_ratio=0.01),
                                             tmp_path / "m", progress=False))
    assert rec["unlearn"]["replay_filter_space"] == "features" and rec["replay"]["kept"] == 4  # ratio 0.01: none


def test_audit_rows_per_space_resume_and_read_as_a_table(fast_ddpm, tmp_path):
    out = tmp_path / "space.json"
    filter_space.audit(str(fast_ddpm), out, (7,), CFG)
    data = json.loads(out.read_text())
    assert [r["space"] for r in data["rows"]] == list(replay.FILTER_SPACES)  # fast mode: one forget-set seed
    for r in data["rows"]:
        assert r["dropped"] == r["read_as_digit"] - r["digit_kept"] + r["others_dropped"]
    filter_space.audit(str(fast_ddpm), out, (7,), CFG)
    assert json.loads(out.read_text()) == data  # resumed: nothing rerun
    table = filter_space.markdown(data).splitlines()
    assert len(table) == 4 and table[2].startswith("| 7 | pixels | ") and table[3].startswith("| 7 | features | ")
    with pytest.raises(ValueError, match=r"bad digit list \[12\]"):
        filter_space.audit(str(fast_ddpm), tmp_path / "bad.json", (12,), CFG)
