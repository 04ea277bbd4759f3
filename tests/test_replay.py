"""vdu-fs's function-space prior: the replay set, the forget-like filter, the stability term."""

import dataclasses

import pytest
import torch

from fdunlearn.cli import main
from fdunlearn.models import registry as models
from fdunlearn.unlearning import replay, unlearn

CFG = unlearn.UnlearnConfig(method="vdu-fs", n_forget=8, steps=3, batch_size=4, replay_n=6)


def test_replay_set_is_drawn_once_and_cached(fast_ddpm):
    unet, sched, rec = models.load_ddpm(fast_ddpm)
    a, first = replay.replay_set(unet, sched, rec["sha256"], 3, seed=5, steps=2)
    b, second = replay.replay_set(unet, sched, rec["sha256"], 3, seed=5, steps=2)
    assert a.shape == (3, 1, 32, 32) and torch.equal(a, b)
    assert not first["cached"] and second["cached"] and second["seed"] == 5 and second["n"] == 3
    assert replay.cache_path(rec["sha256"], 3, 5, 2).is_file()
    with pytest.raises(ValueError, match="replay count n=0; accepted: an integer >= 1"):
        replay.replay_set(unet, sched, rec["sha256"], 0, seed=5)


def test_forget_like_flags_what_sits_among_the_forget_images():
    g = torch.Generator().manual_seed(0)
    forget = torch.randn(20, 1, 4, 4, generator=g) * 0.1 + 1.0  # a tight cluster around +1
    others = torch.randn(30, 1, 4, 4, generator=g) * 0.1 - 1.0  # the rest of the replay set, around -1
    alike = torch.randn(5, 1, 4, 4, generator=g) * 0.1 + 1.0
    mask = replay.forget_like(torch.cat([others, alike]), forget)
    assert not mask[:30].any() and mask[30:].all()


def test_replay_neighbours_scale_with_the_sets_sizes_from_the_defaults():
    assert replay.replay_neighbours(5, *replay.FILTER_SIZES) == 5  # the defaults' test, unchanged
    assert replay.replay_neighbours(5, 100, 2048) == 20 and replay.replay_neighbours(5, 50, 512) == 10
    assert replay.replay_neighbours(5, 100, 8) == 1  # never below one neighbour
    assert replay.replay_neighbours(5, 2, 512) == 100  # a D_f of 2 images: its 2 nearest, and the same share of 512
    with pytest.raises(ValueError, match="n_forget=0, n_replay=512; accepted: integers >= 1"):
        replay.replay_neighbours(5, 0, 512)


def test_forget_like_keeps_its_meaning_when_the_replay_set_grows():
    """A replay set with 10% of the forget class: at 512 samples and at 2,048 the filter flags (nearly) all of that
    class and none of the rest. With the same k on both sides, the larger set's own samples of the class sit denser
    around each other than D_f's 100 images do, and the plain test keeps a large part of them."""
    g = torch.Generator().manual_seed(0)
    forget = torch.randn(100, 1, 4, 4, generator=g) * 0.5 + 1.0
    for n in (512, 2048):
        n_class = n // 10
        pool = torch.cat([torch.randn(n - n_class, 1, 4, 4, generator=g) * 0.5 - 1.0,
                          torch.randn(n_class, 1, 4, 4, generator=g) * 0.5 + 1.0])
        mask = replay.forget_like(pool, forget)
        assert mask[-n_class:].float().mean() >= 0.95 and not mask[:-n_class].any()
        if n == 2048:
            plain = replay.forget_like(pool, forget, k_replay=replay.FILTER_K)
            assert plain[-n_class:].float().mean() < 0.8
    # ten forget images instead of 100: the plain test flags few of the class, the scaled one all of it
    few, pool = forget[:10], torch.cat([torch.randn(461, 1, 4, 4, generator=g) * 0.5 - 1.0,
                                        torch.randn(51, 1, 4, 4, generator=g) * 0.5 + 1.0])
    assert replay.forget_like(pool, few)[-51:].all() and not replay.forget_like(pool, few)[:-51].any()
    assert replay.forget_like(pool, few, k_replay=replay.FILTER_K)[-51:].float().mean() < 0.5


def test_borderline_ranks_by_the_filter_statistic_not_by_pixel_distance():
    g = torch.Generator().manual_seed(0)
    forget = torch.randn(20, 1, 4, 4, generator=g) * 0.1 + 1.0
    far = torch.randn(30, 1, 4, 4, generator=g) * 0.1 - 1.0  # a tight class far from D_f
    between = torch.randn(6, 1, 4, 4, generator=g) * 0.4  # a loose class between the two
    faint = torch.randn(6, 1, 4, 4, generator=g) * 0.02 + 0.5  # nearer D_f in pixels, a tight cluster of its own
    pool = torch.cat([far, between, faint])
    picked = replay.borderline(pool, forget, 6)
    assert sorted(picked.tolist()) == list(range(30, 36))  # the loose ones between, not the faint ones
    assert torch.cdist(faint.flatten(1), forget.flatten(1)).mean() < torch.cdist(between.flatten(1),
                                                                                forget.flatten(1)).mean()
    assert len(replay.borderline(pool, forget, 1000)) == len(pool)
    with pytest.raises(ValueError, match="borderline: n=0"):
        replay.borderline(pool, forget, 0)


def test_replay_near_draws_half_of_each_stability_batch_from_the_borderline_samples():
    g = torch.Generator().manual_seed(0)
    fs = {"images": torch.zeros(100, 1, 2, 2), "near": torch.tensor([7, 8])}
    idx = unlearn._stability_batch(fs, 32, g)
    assert len(idx) == 32 and set(idx[:16].tolist()) <= {7, 8} and len(set(idx[16:].tolist())) > 2
    uniform = unlearn._stability_batch(fs | {"near": None}, 32, torch.Generator().manual_seed(0))
    assert torch.equal(uniform, torch.randint(0, 100, (32,), generator=torch.Generator().manual_seed(0)))


def test_function_stability_is_zero_for_the_frozen_copy_and_grows_away(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    frozen = replay.frozen_copy(unet)
    x = torch.zeros(2, 1, 32, 32)
    assert replay.function_stability(unet, frozen, sched, x, torch.Generator().manual_seed(0)).item() == 0.0
    with torch.no_grad():
        unet.conv_out.bias.add_(0.1)
    s = replay.function_stability(unet, frozen, sched, x, torch.Generator().manual_seed(0)).item()
    assert s == pytest.approx(0.01, rel=1e-4)  # every eps prediction moved by 0.1
    assert not any(p.requires_grad for p in frozen.parameters())


@pytest.mark.parametrize("filtered", [False, True])
def test_vdu_fs_writes_a_model_and_records_its_replay(fast_ddpm, tmp_path, filtered):
    cfg = dataclasses.replace(CFG, replay_filter=filtered)
    rec = models.read_record(unlearn.unlearn(fast_ddpm, cfg, tmp_path / "m", progress=False))
    assert rec["unlearn"]["method"] == "vdu-fs" and rec["steps_run"] == 3
    assert rec["replay"]["n"] == 6 and rec["replay"]["seed"] == 0
    assert ("kept" in rec["replay"]) == filtered
    assert all(e["stability"] >= 0 for e in rec["log"])


def test_the_function_prior_holds_the_model_back(fast_ddpm, tmp_path):
    """Same forget images and steps: a heavy function-space prior moves the outputs less than none."""
    unet0, _, _ = models.load_ddpm(fast_ddpm)
    x = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    t = torch.full((4,), 500)
    moved = {}
    for w in (0.0, 1000.0):
        cfg = dataclasses.replace(CFG, fs_weight=w, steps=4, lr=1e-2)
        unet, _, _ = models.load_ddpm(unlearn.unlearn(fast_ddpm, cfg, tmp_path / f"w{w}", progress=False))
        moved[w] = (unet(x, t).sample - unet0(x, t).sample).pow(2).mean().item()
    assert moved[1000.0] < moved[0.0]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("fs_weight", -1.0, r"fs_weight=-1.0; accepted: a finite number >= 0"),
    ("fs_weight", float("nan"), r"fs_weight=nan"),
    ("replay_n", 0, r"replay_n=0; accepted: an integer >= 1"),
    ("replay_filter_ratio", 0.0, r"replay_filter_ratio=0.0; accepted: a finite number > 0 \(default 1.1\)"),
    ("replay_filter_ratio", float("inf"), r"replay_filter_ratio=inf"),
    ("lr", 0.0, r"lr=0.0; accepted: a finite number > 0"),
    ("replay_near", -1, r"replay_near=-1; accepted: an integer >= 0"),
    ("replay_near", 2.5, r"replay_near=2.5; accepted: an integer >= 0"),
])
def test_bad_vdu_fs_settings_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        unlearn.check(dataclasses.replace(CFG, **{field: value}), n_available=100)


def test_cli_vdu_fs_and_its_refusals(fast_ddpm, tmp_path, capsys):
    base = ["unlearn", "--model", str(fast_ddpm), "--forget-class", "3", "--n-forget", "4", "--seed", "0"]
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "a"), "--replay-n", "4", "--steps", "1",
                 "--fs-weight", "3"]) == 0
    assert models.read_record(tmp_path / "a")["unlearn"]["fs_weight"] == 3.0
    redirect = ["--method", "fs-redirect", "--out", str(tmp_path / "r"), "--replay-n", "4", "--steps", "1"]
    assert main([*base, *redirect]) == 0
    assert models.read_record(tmp_path / "r")["unlearn"]["fs_weight"] == 20.0  # its own default (METHOD_DEFAULTS)
    assert main([*base, "--method", "vdu", "--out", str(tmp_path / "b"), "--fs-weight", "3"]) == 2
    assert "apply to --method vdu-fs, fs-redirect, fs-guide only, not 'vdu'" in capsys.readouterr().err
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "c"), "--gamma", "0.5"]) == 2
    assert "--gamma applies to --method vdu" in capsys.readouterr().err
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "d"), "--replay-n", "0"]) == 2
    assert "--replay-n: got '0'" in capsys.readouterr().err
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "e"), "--replay-n", "4", "--steps", "1",
                 "--replay-filter-ratio", "1.3"]) == 0
    assert models.read_record(tmp_path / "e")["unlearn"]["replay_filter_ratio"] == 1.3
    assert main([*base, "--method", "ga", "--out", str(tmp_path / "f"), "--replay-filter-ratio", "1.3"]) == 2
    assert "--replay-filter-ratio" in capsys.readouterr().err
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "g"), "--replay-n", "4", "--steps", "1",
                 "--replay-near", "2"]) == 0
    record = models.read_record(tmp_path / "g")
    assert record["unlearn"]["replay_near"] == 2 and record["replay"]["near"] == 2
    assert main([*base, "--method", "ga", "--out", str(tmp_path / "h"), "--replay-near", "2"]) == 2
    assert "--replay-near" in capsys.readouterr().err


def test_vdu_fs_stops_at_its_runaway_guard_unless_told_otherwise():
    assert unlearn.stop_at(CFG) == unlearn.FS_STOP_FACTOR
    assert unlearn.stop_at(dataclasses.replace(CFG, stop_factor=3.0)) == 3.0
    assert unlearn.stop_at(dataclasses.replace(CFG, method="vdu")) is None


def test_redirect_loss_targets_the_noise_that_leads_to_the_replay_sample(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    g = torch.Generator().manual_seed(0)
    x_f, x_r = torch.randn(3, 1, 32, 32, generator=g), torch.randn(3, 1, 32, 32, generator=g)
    got = replay.redirect_loss(unet, sched, x_f, x_r, torch.Generator().manual_seed(1), t_min=900)
    # by hand, with the same draws: t in [900, 1000), x_t from the forget image, eps' from the replay sample
    h = torch.Generator().manual_seed(1)
    t = torch.randint(900, 1000, (3,), generator=h)
    eps = torch.randn(x_f.shape, generator=h)
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x_f + (1 - a).sqrt() * eps
    eps_r = (x_t - a.sqrt() * x_r) / (1 - a).sqrt()
    assert torch.allclose(x_t, a.sqrt() * x_r + (1 - a).sqrt() * eps_r, atol=1e-5)  # x_t is a noised x_r under eps'
    torch.testing.assert_close(got, (unet(x_t, t).sample - eps_r).pow(2).mean())
    # redirecting to the forget image itself is the plain denoising loss at those timesteps
    same = replay.redirect_loss(unet, sched, x_f, x_f, torch.Generator().manual_seed(1), t_min=900)
    torch.testing.assert_close(same, (unet(x_t, t).sample - eps).pow(2).mean())
    with pytest.raises(ValueError, match="redirect t_min=1000; accepted: 0 <= t_min < 1000"):
        replay.redirect_loss(unet, sched, x_f, x_r, g, t_min=1000)


def test_fs_redirect_writes_a_model_and_checks_its_t_min(fast_ddpm, tmp_path):
    cfg = dataclasses.replace(CFG, method="fs-redirect")
    rec = models.read_record(unlearn.unlearn(fast_ddpm, cfg, tmp_path / "m", progress=False))
    assert rec["unlearn"]["method"] == "fs-redirect" and rec["steps_run"] == 3 and rec["stop_factor_used"] is None
    assert all(e["forget"] >= 0 and e["loss"] >= 0 for e in rec["log"])  # both terms are regressions: no ascent
    with pytest.raises(ValueError, match=r"redirect_t_min=-1; accepted: an integer 0\.\.999"):
        unlearn.check(dataclasses.replace(cfg, redirect_t_min=-1), n_available=100)
