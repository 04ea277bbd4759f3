"""Unlearning losses: kappa_t against diffusers, the exact KL as a weighted MSE, gradient factors,
the t = 1 (index 0) case of beta~, numerical safety, the variational bound, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

from fdunlearn.theory import divergences, losses


@pytest.fixture(scope="module")
def scheduler() -> DDPMScheduler:
    # the course's schedule (fdunlearn.models.ddpm.build_scheduler): T = 1000, linear betas 1e-4 .. 0.02
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")


def _pair(batch: int = 4, shape: tuple[int, ...] = (1, 8, 8), scale: float = 0.3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    eps_orig = torch.randn(batch, *shape, generator=gen, dtype=torch.float64)
    eps_new = eps_orig + scale * torch.randn(batch, *shape, generator=gen, dtype=torch.float64)
    return eps_new.requires_grad_(True), eps_orig


# ----------------------------------------------------------------------------- kappa and the reverse step
def test_kappa_matches_the_schedule(scheduler):
    beta = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)  # independent of the scheduler's tensors
    alpha_bar = torch.cumprod(1 - beta, 0)
    t = torch.tensor([1, 2, 10, 500, 999])  # diffusers indices; the paper's t is one more
    expected_beta = beta[t] / ((1 - beta[t]) * (1 - alpha_bar[t]))
    expected_tilde = beta[t] / ((1 - beta[t]) * (1 - alpha_bar[t - 1]))
    torch.testing.assert_close(losses.kappa(scheduler, t, "beta", torch.float64), expected_beta,
                               rtol=1e-5, atol=0)
    torch.testing.assert_close(losses.kappa(scheduler, t, "beta_tilde", torch.float64), expected_tilde,
                               rtol=1e-5, atol=0)


def test_kappa_at_index_zero(scheduler):
    """Paper t = 1: beta~_1 = 0 makes kappa infinite; with sigma^2 = beta_1 it is 1 / alpha_1."""
    assert math.isinf(float(losses.kappa(scheduler, 0, "beta_tilde")))
    assert float(losses.reverse_variance(scheduler, 0, "beta_tilde")) == 0.0
    assert float(losses.kappa(scheduler, 0, "beta", torch.float64)) == pytest.approx(1 / (1 - 1e-4), rel=1e-6)


@pytest.mark.parametrize("t", [0, 1, 37, 500, 999])
def test_reverse_mean_agrees_with_diffusers_step(scheduler, t):
    gen = torch.Generator().manual_seed(t)
    x_t, eps_a, eps_b = (torch.randn(2, 1, 8, 8, generator=gen) for _ in range(3))
    ours = losses.reverse_mean(scheduler, x_t, eps_a, t) - losses.reverse_mean(scheduler, x_t, eps_b, t)
    theirs = losses.diffusers_mean_gap(scheduler, x_t, eps_a, eps_b, t)
    torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=1e-5)  # diffusers works in float32


def test_diffusers_variance_is_beta_tilde(scheduler):
    for t in (1, 10, 999):
        ours = float(losses.reverse_variance(scheduler, t, "beta_tilde"))
        # diffusers keeps alphas_cumprod in float32: 1 - alphabar_1 is off by 2e-4 relative
        assert float(scheduler._get_variance(t)) == pytest.approx(ours, rel=1e-3)


# ----------------------------------------------------------------------------- the exact scaling
@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_exact_kl_is_kappa_weighted_mse(scheduler, variance):
    eps_new, eps_orig = _pair()
    t = torch.tensor([1, 20, 300, 999])
    kl = losses.closed_form_loss(eps_new, eps_orig, "kl", scaling="exact", t=t, scheduler=scheduler,
                                 variance=variance)
    k = losses.kappa(scheduler, t, variance, torch.float64)
    sq = (eps_new - eps_orig).pow(2).flatten(1)
    dims = sq.shape[1]
    torch.testing.assert_close(kl, k / 2 * sq.sum(1))
    torch.testing.assert_close(kl, k * dims * sq.mean(1) / 2)
    # independently: KL between the two reverse-step Gaussians, from their means and variance
    x_t = torch.randn(eps_new.shape, dtype=torch.float64)
    sigma = losses.reverse_variance(scheduler, t, variance).sqrt().reshape(-1, 1, 1, 1)
    p_orig = torch.distributions.Normal(losses.reverse_mean(scheduler, x_t, eps_orig, t), sigma)
    p_new = torch.distributions.Normal(losses.reverse_mean(scheduler, x_t, eps_new.detach(), t), sigma)
    reference = torch.distributions.kl_divergence(p_orig, p_new).flatten(1).sum(1)
    torch.testing.assert_close(kl.detach(), reference)


def test_exact_scaling_uses_the_registry_closed_form(scheduler):
    eps_new, eps_orig = _pair(scale=0.05)
    t = torch.tensor([3, 30, 300, 900])
    delta = losses.kappa(scheduler, t, "beta", torch.float64) * (eps_new - eps_orig).pow(2).flatten(1).sum(1)
    cases = [("hellinger", {}), ("pearson_chi2", {}), ("total_variation", {}), ("alpha", {"alpha": 3})]
    for name, params in cases:
        loss = losses.closed_form_loss(eps_new, eps_orig, name, scaling="exact", t=t, scheduler=scheduler,
                                       **params)
        torch.testing.assert_close(loss, divergences.get(name, **params).gaussian(delta))


def test_index_zero_with_beta_tilde_falls_back_to_beta(scheduler):
    eps_new, eps_orig = _pair()
    t = torch.tensor([0, 0, 5, 5])
    for name in ("kl", "hellinger", "pearson_chi2"):
        tilde = losses.closed_form_loss(eps_new, eps_orig, name, scaling="exact", t=t, scheduler=scheduler,
                                        variance="beta_tilde")
        beta = losses.closed_form_loss(eps_new, eps_orig, name, scaling="exact", t=t, scheduler=scheduler,
                                       variance="beta")
        assert torch.isfinite(tilde).all()
        torch.testing.assert_close(tilde[:2], beta[:2])
        assert not torch.allclose(tilde[2:], beta[2:])  # elsewhere beta~ and beta differ
        tilde.sum().backward()
        assert torch.isfinite(eps_new.grad).all()
        eps_new.grad = None


# ----------------------------------------------------------------------------- the reference scaling
def test_reference_losses_follow_the_reference_code():
    eps_new, eps_orig = _pair()
    m = (eps_new - eps_orig).pow(2).flatten(1).mean(1)
    for s in (1.0, 0.5):
        ref = {n: losses.closed_form_loss(eps_new, eps_orig, n, temperature=s)
               for n in ("mse", "hellinger", "pearson_chi2", "kl")}
        torch.testing.assert_close(ref["mse"], m)
        torch.testing.assert_close(ref["hellinger"], -torch.exp(-m / (8 * s**2)))
        torch.testing.assert_close(ref["pearson_chi2"], torch.exp(m / s**2))
        torch.testing.assert_close(ref["kl"], m / (2 * s**2))


# Two samples, C = 2 channels, 3x3 latents: the gap d = eps_new - eps_orig, written out
GAP = torch.tensor([[[[1., 0., 2.], [0., 1., 0.], [0., 0., 1.]], [[0., 3., 0.], [1., 2., 0.], [0., 0., 0.]]],
                    [[[0., 0., 0.], [0., 1., 0.], [0., 0., 0.]], [[0., 0., 0.], [0., 0., 0.], [0., 0., 0.]]]],
                   dtype=torch.float64) / 10


def _hand_x(gap: torch.Tensor, border: int) -> list[float]:
    """x by loops: for each sample, the squared gap summed over channels, averaged over the kept pixels."""
    out = []
    for b in range(gap.shape[0]):
        kept = [(i, j) for i in range(border, 3 - border) for j in range(border, 3 - border)]
        total = sum(float(gap[b, c, i, j]) ** 2 for c in range(gap.shape[1]) for i, j in kept)
        out.append(total / len(kept))
    return out


@pytest.mark.parametrize("border", [0, 1])
def test_reference_code_scaling_matches_a_hand_computation(border):
    from fdunlearn.erasure.step import crop

    eps_orig = torch.zeros_like(GAP)
    eps_new = crop(GAP.clone(), border)
    x = torch.tensor(_hand_x(GAP, border), dtype=torch.float64)
    # border 0: (1 + 4 + 1 + 1 + 9 + 1 + 4) / 100 / 9 and 1 / 100 / 9; border 1: (1 + 4) / 100 and 1 / 100
    expected_x = [21 / 900, 1 / 900] if border == 0 else [5 / 100, 1 / 100]
    torch.testing.assert_close(x, torch.tensor(expected_x, dtype=torch.float64))
    eps_orig = crop(eps_orig, border)

    def loss(name, s=1.0):
        return losses.closed_form_loss(eps_new, eps_orig, name, scaling="reference-code", temperature=s)

    torch.testing.assert_close(loss("mse"), x)
    torch.testing.assert_close(loss("hellinger"), -torch.exp(-x / 8))
    torch.testing.assert_close(loss("pearson_chi2"), torch.exp(x))
    torch.testing.assert_close(loss("hellinger", 0.5), -torch.exp(-x / (8 * 0.25)))
    torch.testing.assert_close(loss("pearson_chi2", 0.5), torch.exp(x / 0.25))
    torch.testing.assert_close(loss("mse", 0.5), x)  # mse ignores the temperature, as in every scaling
    # x = C m: the "reference" scaling at s = 1/sqrt(C) gives the same closed forms
    ref = losses.closed_form_loss(eps_new, eps_orig, "pearson_chi2", temperature=1 / math.sqrt(2))
    torch.testing.assert_close(ref, loss("pearson_chi2"))


def test_reference_code_scaling_refuses_what_the_reference_code_lacks():
    eps_new, eps_orig = _pair()
    for name, params in (("kl", {}), ("alpha", {"alpha": 0.5}), ("jensen_shannon", {})):
        with pytest.raises(ValueError, match=r"reference-code.*accepted: mse, hellinger, pearson_chi2"):
            losses.closed_form_loss(eps_new, eps_orig, name, scaling="reference-code", **params)
    with pytest.raises(ValueError, match=r"accepted: mse, hellinger, pearson_chi2"):
        losses.loss_curve("kl", torch.tensor([0.1]), scaling="reference-code")
    with pytest.raises(ValueError, match=r"sums over channels.*\(B, C, H, W\)"):
        losses.closed_form_loss(torch.zeros(3, 5), torch.zeros(3, 5), "mse", scaling="reference-code")


@pytest.mark.parametrize("scaling", ["reference", "reference-code"])
def test_multipliers_are_the_analytic_factors(scaling):
    eps_new, eps_orig = _pair(shape=(4, 3, 3))
    m = (eps_new - eps_orig).pow(2).flatten(1).mean(1).detach()
    c = 4.0 if scaling == "reference-code" else 1.0
    s = 0.3

    def w(name):
        return losses.multipliers(eps_new, eps_orig, name, scaling=scaling, temperature=s)

    torch.testing.assert_close(w("mse"), torch.full_like(m, c), rtol=1e-5, atol=0)
    torch.testing.assert_close(w("hellinger"), c / s**2 * torch.exp(-c * m / (8 * s**2)) / 8, rtol=1e-5, atol=0)
    torch.testing.assert_close(w("pearson_chi2"), c / s**2 * torch.exp(c * m / s**2), rtol=1e-5, atol=0)
    same = eps_orig.clone()
    assert torch.isnan(losses.multipliers(same, eps_orig, "mse")).all()  # no gap, no direction


def _per_sample_grad(loss_fn, eps_new: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(loss_fn().sum(), eps_new)  # samples are independent: sum = per sample
    return grad


@pytest.mark.parametrize("s", [1.0, 0.3])
def test_reference_gradients_are_mse_gradients_times_analytic_factors(s):
    eps_new, eps_orig = _pair()
    m = (eps_new - eps_orig).pow(2).flatten(1).mean(1).detach().reshape(-1, 1, 1, 1)
    g_mse = _per_sample_grad(lambda: losses.closed_form_loss(eps_new, eps_orig, "mse"), eps_new)
    g_hel = _per_sample_grad(lambda: losses.closed_form_loss(eps_new, eps_orig, "hellinger", temperature=s),
                             eps_new)
    g_chi = _per_sample_grad(
        lambda: losses.closed_form_loss(eps_new, eps_orig, "pearson_chi2", temperature=s), eps_new)
    torch.testing.assert_close(g_hel, g_mse * torch.exp(-m / (8 * s**2)) / (8 * s**2))
    torch.testing.assert_close(g_chi, g_mse * torch.exp(m / s**2) / s**2)


def test_exact_gradients_are_mse_gradients_times_analytic_factors(scheduler):
    eps_new, eps_orig = _pair(scale=0.05)
    t = torch.tensor([2, 40, 400, 999])
    k = losses.kappa(scheduler, t, "beta", torch.float64).reshape(-1, 1, 1, 1)
    dims = eps_new[0].numel()
    delta = k * dims * (eps_new - eps_orig).pow(2).flatten(1).mean(1).detach().reshape(-1, 1, 1, 1)
    g_mse = _per_sample_grad(lambda: losses.closed_form_loss(eps_new, eps_orig, "mse"), eps_new)

    def grad(name: str) -> torch.Tensor:
        return _per_sample_grad(lambda: losses.closed_form_loss(eps_new, eps_orig, name, scaling="exact", t=t,
                                                                scheduler=scheduler), eps_new)

    torch.testing.assert_close(grad("kl"), g_mse * k * dims / 2)
    torch.testing.assert_close(grad("hellinger"), g_mse * k * dims * torch.exp(-delta / 8) / 4)
    torch.testing.assert_close(grad("pearson_chi2"), g_mse * k * dims * torch.exp(delta))


def test_loss_curve_slope_is_the_analytic_multiplier():
    x = torch.tensor([0.01, 0.5, 3.0, 20.0], dtype=torch.float64)
    _, slope = losses.loss_curve("hellinger", x, scaling="exact")
    torch.testing.assert_close(slope, torch.exp(-x / 8) / 4)
    _, slope = losses.loss_curve("hellinger", x, scaling="reference")
    torch.testing.assert_close(slope, torch.exp(-x / 8) / 8)
    value, slope = losses.loss_curve("mse", x)
    torch.testing.assert_close(value, x)
    torch.testing.assert_close(slope, torch.ones_like(x))
    _, slope = losses.loss_curve("alpha", x, alpha=2.0)
    torch.testing.assert_close(slope, torch.exp(x) / 2)


def test_the_anchor_is_a_constant():
    eps_new, eps_orig = _pair()
    eps_orig.requires_grad_(True)
    losses.closed_form_loss(eps_new, eps_orig, "hellinger").sum().backward()
    assert eps_orig.grad is None and eps_new.grad is not None


# ----------------------------------------------------------------------------- numerical safety
@pytest.mark.parametrize("name,params", [("pearson_chi2", {}), ("neyman_chi2", {}), ("alpha", {"alpha": 3.0}),
                                         ("alpha", {"alpha": -1.0})])
@pytest.mark.parametrize("scaling", ["reference", "exact"])
def test_large_differences_never_give_inf_or_nan(scheduler, name, params, scaling):
    gen = torch.Generator().manual_seed(0)
    eps_orig = torch.randn(3, 1, 32, 32, generator=gen)
    eps_new = (eps_orig + 20 * torch.randn(3, 1, 32, 32, generator=gen)).requires_grad_(True)  # m ~ 400
    with pytest.warns(RuntimeWarning, match="max_exponent"):
        loss = losses.closed_form_loss(eps_new, eps_orig, name, scaling=scaling, t=torch.tensor([0, 10, 900]),
                                       scheduler=scheduler, **params)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(eps_new.grad).all()
    assert bool((eps_new.grad.flatten(1) * (eps_new - eps_orig).detach().flatten(1)).sum(1).gt(0).all())


def test_exact_hellinger_gradient_vanishes_at_large_delta(scheduler):
    """The failure mode the reference scaling avoids: delta in the hundreds leaves no gradient."""
    eps_orig = torch.zeros(1, 1, 32, 32)
    eps_new = torch.full((1, 1, 32, 32), 1.0, requires_grad=True)  # m = 1, delta = kappa_1 * 1024
    loss = losses.closed_form_loss(eps_new, eps_orig, "hellinger", scaling="exact", t=0, scheduler=scheduler)
    loss.sum().backward()
    assert float(eps_new.grad.abs().max()) == 0.0
    eps_new.grad = None
    losses.closed_form_loss(eps_new, eps_orig, "hellinger").sum().backward()
    assert float(eps_new.grad.abs().min()) > 1e-5


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_value_errors_naming_the_value(scheduler):
    eps_new, eps_orig = _pair()
    with pytest.raises(ValueError, match=r"\(4, 1, 8, 8\).*\(4, 1, 8, 9\)"):
        losses.closed_form_loss(eps_new, torch.zeros(4, 1, 8, 9), "kl")
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"temperature=.*accepted: a finite number > 0"):
            losses.closed_form_loss(eps_new, eps_orig, "kl", temperature=bad)
    with pytest.raises(ValueError, match=r"'chi2'.*accepted: mse, kl, reverse_kl"):
        losses.closed_form_loss(eps_new, eps_orig, "chi2")
    with pytest.raises(ValueError, match=r"alpha=1\.0.*accepted"):
        losses.closed_form_loss(eps_new, eps_orig, "alpha", alpha=1.0)
    with pytest.raises(ValueError, match=r"'exactly'.*accepted: reference, exact"):
        losses.closed_form_loss(eps_new, eps_orig, "kl", scaling="exactly")
    with pytest.raises(ValueError, match="needs t="):
        losses.closed_form_loss(eps_new, eps_orig, "kl", scaling="exact")
    with pytest.raises(ValueError, match=r"'sigma'.*accepted: beta, beta_tilde"):
        losses.kappa(scheduler, 3, "sigma")
    with pytest.raises(ValueError, match=r"1000.*accepted: integers 0 \.\. 999"):
        losses.kappa(scheduler, 1000)
    with pytest.raises(ValueError, match="t has 3 entries for a batch of 4"):
        losses.closed_form_loss(eps_new, eps_orig, "kl", scaling="exact", t=torch.tensor([1, 2, 3]),
                                scheduler=scheduler)


# ----------------------------------------------------------------------------- variational (f-GAN)
def test_bound_and_losses_are_consistent():
    gen = torch.Generator().manual_seed(0)
    v_p, v_q = torch.randn(100, generator=gen), torch.randn(100, generator=gen)
    div = divergences.get("hellinger")
    bound = losses.variational_bound(div, v_p, v_q)
    expected = div.activation(v_p).mean() - div.conjugate(div.activation(v_q)).mean()
    torch.testing.assert_close(bound, expected)
    torch.testing.assert_close(losses.critic_loss("hellinger", v_p, v_q), -expected)
    torch.testing.assert_close(losses.generator_loss("hellinger", v_q),
                               -div.conjugate(div.activation(v_q)).mean())


@pytest.mark.parametrize("name", ["kl", "hellinger", "pearson_chi2"])
def test_any_critic_gives_a_lower_bound(name):
    """Fenchel-Young: E_P[T] - E_Q[f*(T)] <= D_f for every T, here random untrained critics."""
    p, q = losses.gaussian_samplers(1.0, dim=2)
    gen = torch.Generator().manual_seed(1)
    x_p, x_q = p(200_000, gen), q(200_000, gen)
    closed = float(divergences.get(name).gaussian(torch.tensor(1.0)))
    for seed in range(3):
        torch.manual_seed(seed)
        critic = losses.Critic(2, hidden=16)
        with torch.no_grad():
            assert float(losses.variational_bound(name, critic(x_p), critic(x_q))) < closed


@pytest.mark.parametrize("name,steps,rel", [("kl", 400, 0.05), ("hellinger", 400, 0.05),
                                            ("total_variation", 400, 0.05)])
def test_trained_critic_approaches_the_closed_form(name, steps, rel):
    p, q = losses.gaussian_samplers(1.0)
    result = losses.train_critic(name, p, q, steps=steps, batch_size=256, eval_samples=100_000, seed=0)
    closed = float(divergences.get(name).gaussian(torch.tensor(1.0)))
    assert result.history.shape == (steps,)
    assert closed * (1 - rel) < result.estimate < closed * 1.02  # a lower bound, up to sampling error


def test_trained_critic_estimates_jensen_shannon():
    p, q = losses.gaussian_samplers(1.0)
    result = losses.train_critic("jensen_shannon", p, q, steps=400, batch_size=256, eval_samples=100_000)
    reference = divergences.gaussian_quadrature(divergences.get("jensen_shannon"), 1.0)
    assert result.estimate == pytest.approx(reference, rel=0.05)


# ----------------------------------------------------------------------------- delta on a DDPM
def test_measure_delta_on_a_tiny_unet(scheduler):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is fastest on a busy machine
    try:
        _check_measure_delta(scheduler)
    finally:
        torch.set_num_threads(threads)


def _check_measure_delta(scheduler):
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=32, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), layers_per_block=1,
                       norm_num_groups=4).eval()
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    res = losses.measure_delta(unet, scheduler, images, [0, 10, 999], batch_size=3, seed=5)
    assert res.delta.shape == res.m.shape == (3, 3) and res.dims == 1024
    torch.testing.assert_close(res.delta, res.kappa[:, None] * 1024 * res.m)
    # the same number by hand at t = 10: one noise draw per timestep and batch, in order
    gen = torch.Generator().manual_seed(5)
    torch.randn(3, 1, 32, 32, generator=gen)  # the draw for t = 0
    eps = torch.randn(3, 1, 32, 32, generator=gen)
    x_t = scheduler.add_noise(images, eps, torch.full((3,), 10))
    with torch.no_grad():
        m = (unet(x_t, torch.full((3,), 10)).sample - eps).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(res.m[1].float(), m)
    other = losses.measure_delta(unet, scheduler, images, [10], other=unet)
    assert float(other.delta.abs().max()) == 0.0
    assert "median" in res.summary()
