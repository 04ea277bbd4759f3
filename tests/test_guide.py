"""fs-guide's target: the pretrained score with the forget class taken out by Bayes' rule (kernel mixtures)."""

import dataclasses
import math

import pytest
import torch

from fdunlearn.cli import main
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.unlearning import guide, unlearn


def _mixture_log_density(x: torch.Tensor, a: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """log mean_j N(x; sqrt(a) r_j, (1 - a) I), written out in full."""
    d2 = (x.flatten(1)[:, None, :] - a.sqrt().view(-1, 1, 1) * refs.flatten(1)[None]).pow(2).sum(-1)
    dim = x[0].numel()
    log_n = -d2 / (2 * (1 - a).view(-1, 1)) - 0.5 * dim * torch.log(2 * math.pi * (1 - a)).view(-1, 1)
    return torch.logsumexp(log_n, dim=1) - math.log(len(refs))


def test_the_correction_is_sqrt_1_minus_a_times_the_gradient_of_log_1_minus_w():
    g = torch.Generator().manual_seed(0)
    forget = torch.randn(7, 1, 3, 3, generator=g, dtype=torch.float64) + 1.0
    kept = torch.randn(11, 1, 3, 3, generator=g, dtype=torch.float64) - 1.0
    x = torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    a = torch.tensor([0.9, 0.5, 0.3, 0.1, 0.02], dtype=torch.float64)
    pi_f = 0.15
    log_pf, log_pk = _mixture_log_density(x, a, forget), _mixture_log_density(x, a, kept)
    log_1mw = math.log(1 - pi_f) + log_pk - torch.logaddexp(math.log(pi_f) + log_pf, math.log(1 - pi_f) + log_pk)
    (grad,) = torch.autograd.grad(log_1mw.sum(), x)
    shift, w = guide.correction(x.detach(), a, forget, kept, pi_f)
    torch.testing.assert_close(shift, (1 - a).sqrt().view(-1, 1, 1, 1) * grad)
    torch.testing.assert_close(w, 1 - log_1mw.exp().detach())


def test_the_posterior_weight_tells_the_forget_cluster_from_the_kept_one():
    g = torch.Generator().manual_seed(1)
    forget = torch.randn(20, 1, 4, 4, generator=g) * 0.1 + 1.0
    kept = torch.randn(40, 1, 4, 4, generator=g) * 0.1 - 1.0
    a = torch.full((2,), 0.8)
    x = torch.cat([forget[:1], kept[:1]]) * a.sqrt()[0]
    shift, w = guide.correction(x, a, forget, kept, 0.1)
    assert w[0] > 0.99 and w[1] < 0.01
    assert shift[1].abs().max() < 1e-3 and shift[0].mean() < -1  # the forget point's guess moves towards -1
    with pytest.raises(ValueError, match="pi_f=0; accepted: 0 < pi_f < 1"):
        guide.correction(x, a, forget, kept, 0)


def test_reference_estimates_the_forget_share_and_needs_kept_samples():
    images = torch.zeros(4, 1, 2, 2)
    ref = guide.reference(torch.ones(3, 1, 2, 2), images, torch.tensor([True, False, False, False]))
    assert ref.pi_f == 2 / 6 and len(ref.kept) == 3 and ref.kept_index.tolist() == [-1, 0, 1, 2]
    assert guide.reference(torch.ones(3, 1, 2, 2), images, torch.zeros(4, dtype=torch.bool)).pi_f == 1 / 6
    with pytest.raises(ValueError, match="dropped all 4"):
        guide.reference(torch.ones(3, 1, 2, 2), images, torch.ones(4, dtype=torch.bool))


def test_the_gate_keeps_the_correction_below_gate_t_only_where_w_is_sure():
    """Below gate_t the shift survives only on rows whose posterior reads the forget class (w >= gate_w)."""
    from types import SimpleNamespace

    class Zero:
        def __call__(self, x, t):
            return SimpleNamespace(sample=torch.zeros_like(x))

    g = torch.Generator().manual_seed(1)
    forget = torch.randn(20, 1, 4, 4, generator=g) * 0.1 + 1.0
    kept = torch.randn(40, 1, 4, 4, generator=g) * 0.1 - 1.0
    scheduler = ddpm.build_scheduler(ddpm.get_recipe("mnist-ddpm"))
    t = torch.tensor([250, 250, 450, 450])
    a = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    x = a.sqrt() * torch.cat([forget[:1], kept[:1], forget[1:2], kept[1:2]])  # forget-like, kept-like, twice
    rows = {}
    for gate_t in (0, 300):
        ref = guide.reference(forget, kept, torch.zeros(len(kept), dtype=torch.bool), gate_t=gate_t, gate_w=0.9)
        rows[gate_t] = guide.target(Zero(), scheduler, x, t, ref, 1.0, 200, 600).flatten(1).abs().amax(1)
    assert (rows[0] > 0).all()
    # below the gate: the forget-like row keeps its shift, the kept-like row loses it; above: both as without a gate
    assert rows[300][0] == rows[0][0] and rows[300][1] == 0
    torch.testing.assert_close(rows[300][2:], rows[0][2:])
    for gate_t, gate_w in ((-1, 0.9), (300, 1.5), (True, 0.9)):
        with pytest.raises(ValueError, match=r"guide_gate_[tw]=.*; accepted"):
            guide.reference(forget, kept, torch.zeros(len(kept), dtype=torch.bool), gate_t=gate_t, gate_w=gate_w)


def test_fs_guide_needs_a_nonempty_band():
    cfg = unlearn.UnlearnConfig(method="fs-guide", forget_t_min=500, guide_t_max=500)
    with pytest.raises(ValueError, match="guide_t_max=500 <= forget_t_min=500"):
        unlearn.check(cfg, n_available=100)


def test_cli_fs_guide_takes_its_own_defaults_and_refuses_its_options_elsewhere(fast_ddpm, tmp_path, capsys):
    base = ["unlearn", "--model", str(fast_ddpm), "--forget-class", "3", "--n-forget", "4", "--seed", "0",
            "--replay-n", "4", "--steps", "1"]
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "a")]) == 0
    record = models.read_record(tmp_path / "a")["unlearn"]
    assert {k: record[k] for k in guide.DEFAULTS} == guide.DEFAULTS and record["guide_scale"] == 1.0
    assert record["ema"] == guide.RUN["ema"] == 0.97  # lesson 03's fs-guide-ema (--steps 1 here; 200 by default)
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "e"), "--ema", "0"]) == 0
    assert models.read_record(tmp_path / "e")["unlearn"]["ema"] == 0.0
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "b"), "--guide-scale", "2",
                 "--guide-t-max", "900", "--replay-near", "0"]) == 0
    record = models.read_record(tmp_path / "b")["unlearn"]
    assert (record["guide_scale"], record["guide_t_max"], record["replay_near"]) == (2.0, 900, 0)
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "c"), "--guide-scale", "2"]) == 2
    assert ("--guide-scale, --guide-t-max, --guide-band-only, --guide-gate-t and --guide-gate-w apply to --method "
            "fs-guide only, not 'vdu-fs'") in capsys.readouterr().err
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "h"), "--forget-t-min", "200",
                 "--guide-gate-t", "300"]) == 0
    record = models.read_record(tmp_path / "h")["unlearn"]
    assert (record["forget_t_min"], record["guide_gate_t"], record["guide_gate_w"]) == (200, 300, 0.9)
    assert main([*base, "--method", "vdu-fs", "--out", str(tmp_path / "i"), "--guide-gate-w", "0.5"]) == 2
    assert "apply to --method fs-guide only, not 'vdu-fs'" in capsys.readouterr().err
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "j"), "--guide-gate-w", "2"]) == 2
    assert "--guide-gate-w" in capsys.readouterr().err
    assert main([*base, "--method", "fs-redirect", "--out", str(tmp_path / "f"), "--guide-band-only"]) == 2
    assert "apply to --method fs-guide only, not 'fs-redirect'" in capsys.readouterr().err
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "g"), "--guide-band-only"]) == 0
    assert models.read_record(tmp_path / "g")["unlearn"]["guide_band_only"] is True
    assert main([*base, "--method", "fs-guide", "--out", str(tmp_path / "d"), "--guide-t-max", "200"]) == 2
    assert "guide_t_max=200 <= forget_t_min=300" in capsys.readouterr().err


def test_a_placebo_starts_at_its_target_so_only_round_off_can_move_it(fast_ddpm, tmp_path):
    """guide_scale 0 (vdu_digits' fs-guide-placebo): every target is the frozen copy's own prediction, so the first
    loss is zero up to float round-off; whatever moves the network afterwards is Adam rescaling that round-off."""
    cfg = unlearn.UnlearnConfig(method="fs-guide", forget_class=3, n_forget=4, replay_n=4, steps=2, seed=0,
                                **{**guide.DEFAULTS, "replay_near": 0}, guide_scale=0.0)
    record = models.read_record(unlearn.unlearn(str(fast_ddpm), cfg, tmp_path / "placebo", progress=False))
    first = record["log"][0]
    assert first["loss"] < 1e-9 and first["forget"] < 1e-9 and first["stability"] < 1e-9


def test_noise_batch_draws_t_inside_its_band_and_names_a_bad_one():
    g = torch.Generator().manual_seed(0)
    scheduler = ddpm.build_scheduler(ddpm.get_recipe("mnist-ddpm"))
    _, t, _ = ddpm.noise_batch(scheduler, torch.zeros(512, 1, 2, 2), g, torch.device("cpu"), 300, 600)
    assert t.min() >= 300 and t.max() < 600 and t.max() > 590
    with pytest.raises(ValueError, match=r"t_min=600, t_max=600; accepted: 0 <= t_min < t_max <= 1000"):
        ddpm.noise_batch(scheduler, torch.zeros(2, 1, 2, 2), g, torch.device("cpu"), 600, 600)


@pytest.mark.parametrize("band_only, forget_band", [(False, (300, 1000)), (True, (300, 600))])
def test_band_only_noises_the_forget_images_inside_the_correction_band(fast_ddpm, tmp_path, monkeypatch,
                                                                        band_only, forget_band):
    """fs-guide-ema-band: D_f's batches are noised only where their target differs from the pretrained prediction;
    the replay's batches keep every t."""
    calls, real = [], ddpm.noise_batch

    def spy(scheduler, x0, generator, device, t_min=0, t_max=ddpm.T_STEPS):
        calls.append((t_min, t_max))
        return real(scheduler, x0, generator, device, t_min, t_max)

    monkeypatch.setattr(ddpm, "noise_batch", spy)
    cfg = unlearn.UnlearnConfig(method="fs-guide", forget_class=3, n_forget=4, replay_n=4, steps=2, seed=0,
                                **{**guide.DEFAULTS, "replay_near": 0}, guide_band_only=band_only)
    unlearn.unlearn(str(fast_ddpm), cfg, tmp_path / "m", progress=False)
    # the forget loss measured at the start, then per step one D_f batch and one replay batch
    assert calls == [(300, 1000), *[forget_band, (0, 1000)] * 2]
    with pytest.raises(ValueError, match="guide_band_only='yes'; accepted: True or False"):
        unlearn.check(dataclasses.replace(cfg, guide_band_only="yes"), n_available=100)
