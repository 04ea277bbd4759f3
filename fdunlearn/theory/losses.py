"""Unlearning losses for eps-prediction diffusion models, built from the f-divergence registry.

The erasure objective (Novello et al. 2025; docs/derivations.md) pulls the fine-tuned model's reverse
step at the target concept c* onto the frozen model's reverse step at the anchor c:

    min D_f( p_orig(x_{t-1} | x_t, c) || p_new(x_{t-1} | x_t, c*) ).

Both steps are Gaussians N(mu, sigma_t^2 I) with the same fixed variance (Ho et al. 2020, Eq. 11):

    mu(x_t, eps) = (x_t - beta_t / sqrt(1 - alphabar_t) * eps) / sqrt(alpha_t),

so every closed form depends on the means only through

    delta = ||mu_1 - mu_2||^2 / sigma_t^2 = kappa_t * ||eps_new - eps_orig||^2,
    kappa_t = beta_t^2 / (sigma_t^2 alpha_t (1 - alphabar_t)),   sigma_t^2 in {beta_t, beta~_t},

with the squared norm SUMMED over all D dimensions.

Timestep convention. diffusers indexes timesteps i = 0 .. T-1; index i is the paper's t = i + 1
(``scheduler.alphas_cumprod[i]`` is alphabar_{i+1}). Index 0 is the last reverse step p(x_0 | x_1), where
beta~_1 = beta_1 (1 - alphabar_0) / (1 - alphabar_1) = 0: that step is deterministic, ``kappa`` returns +inf
there, and ``closed_form_loss`` (exact scaling, ``variance="beta_tilde"``) falls back to sigma_1^2 = beta_1,
i.e. kappa = 1 / alpha_1 (about 1), for the samples at index 0 (two point masses carry no gradient signal).

Two scalings of the closed-form loss:

- ``"exact"``: the registry's closed form at delta = kappa_t ||d eps||^2 / s^2. On a real model delta
  reaches the hundreds (``measure_delta``), where exp(delta) overflows float32 (delta > 88.7) and the
  Hellinger gradient factor exp(-delta/8)/4 underflows: chi^2 explodes and Hellinger stops learning.
- ``"reference"``: the reference implementation's losses on the per-sample MEAN m of squared differences
  (m = ||d eps||^2 / D) and a temperature s: mse -> m, hellinger -> -exp(-m/(8 s^2)),
  pearson_chi2 -> exp(m/s^2); any other member -> its closed form at m/s^2 (KL -> m/(2 s^2)).
  m is O(0.01 .. 1), so every multiplier stays O(1). Up to a constant, hellinger there is the paper's
  1 - BC (half the registry's f-GAN convention) and pearson_chi2 is chi^2 + 1.
- ``"reference-code"``: exactly what the paper's reference code computes (docs/reference-code.md): the argument
  x = the squared difference SUMMED over the channel dimension (dim 1, the latent channels) and AVERAGED over the
  remaining (spatial) positions, i.e. x = C m for C channels; mse -> x, hellinger -> -exp(-x/8),
  pearson_chi2 -> exp(x), no per-timestep weight. A temperature s divides the closed forms' argument, x/s^2
  (the reference code has s = 1); mse stays x, as in the other scalings. Only these three losses exist in the
  reference code, so any other divergence is refused (``REFERENCE_CODE_LOSSES``). "reference" at s = 1/sqrt(C)
  gives the same hellinger and pearson_chi2 losses. The reference code masks a one-pixel border of the latent out
  of the average: crop the predictions first (``erase_step.crop``, ``EraseConfig.border``).

Per sample every loss is phi(x) with x = delta, m/s^2 or C m/s^2, hence grad = phi'(x) * grad x: the same direction
as MSE's gradient, rescaled by an analytic factor (``loss_curve`` returns phi and phi'; ``multipliers`` measures the
factor relative to the gradient of m on a batch).

Numerical safety: exponentials that grow with delta (chi^2, alpha outside [0, 1]) are evaluated exactly up to
an exponent of ``max_exponent`` (default 40) and continue along their tangent above it, with a RuntimeWarning
(``divergences.safe_expm1``): the loss and its gradient stay finite and monotone.

Split by topic: the reverse-step maths (``kappa``, ``reverse_mean``, ...) live in ``fdunlearn.theory.schedule``, the
variational (f-GAN) form and its critic in ``fdunlearn.theory.variational``; both are reached from here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fdunlearn.theory import divergences
from fdunlearn.theory.divergences import EXP_CAP, FDivergence, safe_expm1
from fdunlearn.theory.schedule import (
    VARIANCES,
    _check_variance,
    _index,
    _loss_kappa,
    diffusers_mean_gap,
    kappa,
    reverse_mean,
    reverse_variance,
)
from fdunlearn.theory.variational import (
    Critic,
    CriticResult,
    _one_cpu_thread,
    critic_loss,
    gaussian_samplers,
    generator_loss,
    train_critic,
    variational_bound,
)

__all__ = ["EXP_CAP", "REFERENCE_CODE_LOSSES", "SCALINGS", "VARIANCES", "Critic", "CriticResult", "DeltaMeasurement",
           "check_reference_code", "closed_form_loss", "critic_loss", "diffusers_mean_gap", "gaussian_samplers",
           "generator_loss", "kappa", "loss_curve", "loss_names", "measure_delta", "multipliers", "reverse_mean",
           "reverse_variance", "train_critic", "variational_bound"]

SCALINGS = ("reference", "exact", "reference-code")
REFERENCE_CODE_LOSSES = ("mse", "hellinger", "pearson_chi2")  # the only closed forms in the reference code


def loss_names() -> list[str]:
    """Names accepted by ``closed_form_loss``: "mse" (Concept Ablation) plus the registry."""
    return ["mse", *divergences.names()]


# ----------------------------------------------------------------------------- closed-form losses
def _check_pair(eps_new: Tensor, eps_orig: Tensor) -> None:
    if eps_new.shape != eps_orig.shape:
        raise ValueError(f"eps_new has shape {tuple(eps_new.shape)} but eps_orig has shape "
                         f"{tuple(eps_orig.shape)}; accepted: two tensors of the same shape (B, ...)")
    if eps_new.dim() < 2:
        raise ValueError(f"eps tensors of shape {tuple(eps_new.shape)}; accepted: a batch (B, D) or "
                         "(B, C, H, W)")


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature={temperature!r}; accepted: a finite number > 0")


def check_reference_code(divergence: str | FDivergence) -> None:
    """ValueError unless ``divergence`` is one of the reference code's three closed forms."""
    name = divergence if isinstance(divergence, str) else divergence.name
    if name not in REFERENCE_CODE_LOSSES:
        raise ValueError(f"scaling 'reference-code' has no {name!r} loss (the reference code defines only three "
                         f"closed forms); accepted: {', '.join(REFERENCE_CODE_LOSSES)}")


def _phi(name_or_div: str | FDivergence, x: Tensor, scaling: str, max_exponent: float,
         params: dict[str, float]) -> Tensor:
    """The loss as a function of its argument x (m/s^2 for "reference", C m/s^2 for "reference-code", delta for
    "exact")."""
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; accepted: {', '.join(SCALINGS)}")
    if scaling == "reference-code":
        check_reference_code(name_or_div)
    if isinstance(name_or_div, str) and name_or_div == "mse":
        if params:
            raise ValueError(f"'mse' takes no parameters, got {sorted(params)}")
        return x
    if isinstance(name_or_div, str) and name_or_div not in divergences.names():
        raise ValueError(f"unknown divergence {name_or_div!r}; accepted: {', '.join(loss_names())}")
    div = divergences.get(name_or_div, **params)
    if scaling in ("reference", "reference-code") and div.name == "hellinger":
        return -torch.exp(-x / 8.0)  # reference code: -exp(-x / 8)
    if scaling in ("reference", "reference-code") and div.name == "pearson_chi2":
        return safe_expm1(x, max_exponent) + 1.0  # reference code: exp(x)
    return div.gaussian(x, max_exponent=max_exponent)


def closed_form_loss(eps_new: Tensor, eps_orig: Tensor, divergence: str | FDivergence, *,
                     scaling: str = "reference", t: int | Tensor | None = None, scheduler=None,
                     temperature: float = 1.0, variance: str = "beta", max_exponent: float = EXP_CAP,
                     **params: float) -> Tensor:
    """Per-sample closed-form unlearning loss (B,) pulling eps_new(x_t, c*, t) onto eps_orig(x_t, c, t).

    ``eps_orig`` is detached (the frozen model's prediction is a target, not a variable).
    ``divergence``: "mse" (Concept Ablation: m, or C m for "reference-code"; it ignores t and the temperature) or
    any registry name (with ``alpha=`` for "alpha") or a built ``FDivergence``.
    ``scaling="reference"``: phi(m / s^2) with the reference code's losses (module docstring).
    ``scaling="reference-code"``: phi(C m / s^2), x = squared difference summed over dim 1 (channels) and averaged
    over the other dimensions; mse, hellinger and pearson_chi2 only.
    ``scaling="exact"``: the registry's ``gaussian(delta)`` with delta = kappa_t sum_d (d eps)^2 / s^2;
    needs ``t`` (diffusers indices, an int or a (B,) tensor) and ``scheduler``; index 0 with "beta_tilde"
    uses sigma_1^2 = beta_1 (module docstring).
    """
    _check_pair(eps_new, eps_orig)
    _check_temperature(temperature)
    _check_variance(variance)
    sq = (eps_new - eps_orig.detach()).pow(2).flatten(1)
    m = sq.mean(dim=1)
    if scaling == "reference-code":
        check_reference_code(divergence)
        if eps_new.dim() < 3:
            raise ValueError(f"scaling 'reference-code' sums over channels: eps tensors of shape "
                             f"{tuple(eps_new.shape)}; accepted: (B, C, H, W) (or (B, C, ...))")
        x = m * eps_new.shape[1]  # summed over the C channels, averaged over the positions: C * m
        if isinstance(divergence, str) and divergence == "mse":
            return _phi("mse", x, scaling, max_exponent, params)
        return _phi(divergence, x / temperature**2, scaling, max_exponent, params)
    if isinstance(divergence, str) and divergence == "mse":
        return _phi("mse", m, scaling, max_exponent, params)
    if scaling == "exact":
        if t is None or scheduler is None:
            raise ValueError("scaling='exact' needs t= (diffusers timestep indices) and scheduler=")
        k = _loss_kappa(scheduler, t, variance).to(device=sq.device, dtype=sq.dtype)
        if k.numel() not in (1, sq.shape[0]):
            raise ValueError(f"t has {k.numel()} entries for a batch of {sq.shape[0]}; accepted: one or B")
        x = k * sq.sum(dim=1) / temperature**2
    else:
        x = m / temperature**2
    return _phi(divergence, x, scaling, max_exponent, params)


def loss_curve(divergence: str | FDivergence, x: Tensor, *, scaling: str = "exact",
               max_exponent: float = EXP_CAP, **params: float) -> tuple[Tensor, Tensor]:
    """The loss phi(x) and its gradient multiplier phi'(x), where x = delta (exact), m/s^2 (reference) or
    C m/s^2 (reference-code).

    The per-sample gradient of ``closed_form_loss`` is phi'(x) * grad x, and grad x is MSE's gradient times
    kappa_t D / s^2 (exact), 1/s^2 (reference) or C/s^2 (reference-code). Same code path as ``closed_form_loss``.
    """
    x = torch.as_tensor(x, dtype=torch.float64).detach().clone().requires_grad_(True)
    value = _phi(divergence, x, scaling, max_exponent, params)
    (slope,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), slope


def multipliers(eps_new: Tensor, eps_orig: Tensor, divergence: str | FDivergence, **kwargs) -> Tensor:
    """Per-sample gradient multipliers (B,): the factor w_i with grad L_i = w_i grad m_i, where L_i is
    ``closed_form_loss(eps_new, eps_orig, divergence, **kwargs)`` and m_i the per-element mean squared gap.

    Every closed form is a function of m_i (given t), so its gradient is MSE's (m's) times w_i; under SGD the w_i
    scale the step, under Adam only their spread across samples and steps matters (docs/derivations.md, section 5).
    w_i = 1 for mse (reference, exact), C for mse (reference-code), exp(-m/(8 s^2)) / (8 s^2) for reference Hellinger.
    Measured by autograd on detached copies (no effect on any model); NaN for a sample whose gap is exactly zero.
    """
    dtype = torch.promote_types(eps_new.dtype, torch.float32)  # half precision is measured in float32
    e = eps_new.detach().to(dtype).clone().requires_grad_(True)
    a = eps_orig.detach().to(dtype)
    with torch.enable_grad():
        loss = closed_form_loss(e, a, divergence, **kwargs)
        (grad,) = torch.autograd.grad(loss.sum(), e)
    d = (e.detach() - a).flatten(1)
    grad_m = 2 * d / d.shape[1]  # d m_i / d eps_new
    norm2 = grad_m.pow(2).sum(1)
    w = (grad.flatten(1) * grad_m).sum(1) / norm2.clamp(min=torch.finfo(norm2.dtype).tiny)
    return torch.where(norm2 > 0, w, torch.full_like(w, math.nan))


# ----------------------------------------------------------------------------- delta on a real DDPM
@dataclass
class DeltaMeasurement:
    """delta_t = kappa_t ||eps_a - eps_b||^2 (summed over D dims) and m (the per-element mean), per image."""

    timesteps: Tensor  # (n_t,) diffusers indices
    kappa: Tensor  # (n_t,)
    m: Tensor  # (n_t, N) per-element mean squared difference
    delta: Tensor  # (n_t, N) = kappa * D * m
    dims: int  # D

    def quantiles(self, q: list[float]) -> Tensor:
        """Quantiles of delta over images, shape (len(q), n_t), for plotting bands against t."""
        return self.delta.double().quantile(torch.tensor(q, dtype=torch.float64), dim=1)

    def summary(self) -> str:
        q = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
        d, m = self.delta.double().flatten().quantile(q), self.m.double().flatten().quantile(q)
        t_lo, t_hi = int(self.timesteps.min()), int(self.timesteps.max())
        return (f"delta over t in [{t_lo}, {t_hi}], D = {self.dims}: "
                f"min {d[0]:.3g}, median {d[1]:.3g}, max {d[2]:.3g}  |  m: min {m[0]:.3g}, "
                f"median {m[1]:.3g}, max {m[2]:.3g}")


@torch.no_grad()
def measure_delta(unet: nn.Module, scheduler, images: Tensor, timesteps: Tensor | list[int], *,
                  other: nn.Module | None = None, variance: str = "beta", seed: int = 0,
                  batch_size: int = 64) -> DeltaMeasurement:
    """Measure delta on a real eps-prediction DDPM.

    For each diffusers index t and image x0: x_t = sqrt(alphabar) x0 + sqrt(1 - alphabar) eps, then
    delta = kappa_t ||eps - eps_theta(x_t, t)||^2 (``other=None``): the argument of the ELBO's per-step KL
    between q(x_{t-1} | x_t, x0) and p_theta(x_{t-1} | x_t), two Gaussians with equal covariance, the same
    structure as the erasure objective. With ``other`` a second UNet, eps is replaced by its prediction
    (e.g. a freshly initialised model: the kind of gap an erasure starts from). On the CPU this runs on
    one thread (see ``_one_cpu_thread``).
    """
    _check_variance(variance)
    device = next(unet.parameters()).device
    with _one_cpu_thread(device.type == "cpu"):
        return _measure_delta(unet, scheduler, images, timesteps, other, variance, seed, batch_size, device)


def _measure_delta(unet: nn.Module, scheduler, images: Tensor, timesteps: Tensor | list[int],
                   other: nn.Module | None, variance: str, seed: int, batch_size: int,
                   device: torch.device) -> DeltaMeasurement:
    steps = _index(scheduler, torch.as_tensor(timesteps))
    k = _loss_kappa(scheduler, steps, variance)
    gen = torch.Generator().manual_seed(seed)
    ms = []
    for t in steps.tolist():
        rows = []
        for start in range(0, len(images), batch_size):
            x0 = images[start:start + batch_size]
            eps = torch.randn(x0.shape, generator=gen)
            tt = torch.full((len(x0),), t, dtype=torch.long)
            x_t = scheduler.add_noise(x0, eps, tt).to(device)
            pred = unet(x_t, tt.to(device)).sample
            target = eps.to(device) if other is None else other(x_t, tt.to(device)).sample
            rows.append((pred - target).pow(2).flatten(1).mean(1).double().cpu())
        ms.append(torch.cat(rows))
    m = torch.stack(ms)
    dims = int(images[0].numel())
    return DeltaMeasurement(steps, k, m, k[:, None] * dims * m, dims)


