"""The Gaussian reverse step of an eps-prediction DDPM, from its noise schedule (Ho et al. 2020): the mean
mu(x_t, eps) (Eq. 11), the variance sigma_t^2 in {beta_t, beta~_t} and kappa_t, the factor that turns a gap in
eps-predictions into the divergence between two reverse steps (``fdunlearn.theory.losses``' docstring derives it).

Timestep convention: diffusers' index i = 0 .. T-1 is the paper's t = i + 1."""

from __future__ import annotations

import math

import torch
from torch import Tensor

VARIANCES = ("beta", "beta_tilde")


# ----------------------------------------------------------------------------- the noise schedule
def _schedule(scheduler) -> dict[str, Tensor]:
    """beta_t, alpha_t, alphabar_t, alphabar_{t-1} as float64, indexed by the diffusers index t - 1.

    Recomputed in float64 from the scheduler's betas: diffusers keeps alphas_cumprod in float32, where
    1 - alphabar_1 = beta_1 = 1e-4 is off by 2e-4 relative (enough to print kappa_1 as 0.9998, not 1/alpha_1).
    """
    beta = scheduler.betas.double()
    alpha = 1.0 - beta
    alpha_bar = torch.cumprod(alpha, dim=0)
    alpha_bar_prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])  # alphabar_0 = 1
    return {"beta": beta, "alpha": alpha, "alpha_bar": alpha_bar, "alpha_bar_prev": alpha_bar_prev}


def _index(scheduler, t: int | Tensor) -> Tensor:
    """diffusers timestep indices as a 1-D long tensor, checked against 0 .. T-1."""
    n_steps = len(scheduler.betas)
    idx = torch.as_tensor(t).long().reshape(-1).cpu()
    if idx.numel() == 0 or int(idx.min()) < 0 or int(idx.max()) >= n_steps:
        raise ValueError(f"timestep index {t!r} out of range; accepted: integers 0 .. {n_steps - 1} "
                         f"(diffusers index i is the paper's t = i + 1)")
    return idx


def _check_variance(variance: str) -> None:
    if variance not in VARIANCES:
        raise ValueError(f"unknown reverse variance {variance!r}; accepted: {', '.join(VARIANCES)}")


def reverse_variance(scheduler, t: int | Tensor, variance: str = "beta") -> Tensor:
    """sigma_t^2 of the reverse step: beta_t, or beta~_t = beta_t (1 - alphabar_{t-1}) / (1 - alphabar_t)."""
    _check_variance(variance)
    s, i = _schedule(scheduler), _index(scheduler, t)
    if variance == "beta":
        return s["beta"][i]
    return s["beta"][i] * (1 - s["alpha_bar_prev"][i]) / (1 - s["alpha_bar"][i])


def kappa(scheduler, t: int | Tensor, variance: str = "beta", dtype: torch.dtype = torch.float32) -> Tensor:
    """kappa_t = beta_t^2 / (sigma_t^2 alpha_t (1 - alphabar_t)), so delta = kappa_t ||d eps||^2 (docs/derivations.md).

    ``t`` holds diffusers indices (paper t = index + 1). With ``variance="beta"`` this is
    beta_t / (alpha_t (1 - alphabar_t)); with ``"beta_tilde"`` it is beta_t / (alpha_t (1 - alphabar_{t-1})),
    which is +inf at index 0 (beta~_1 = 0). Computed in float64, returned as ``dtype``, shape (len(t),).
    """
    s, i = _schedule(scheduler), _index(scheduler, t)
    sigma2 = reverse_variance(scheduler, i, variance)
    k = s["beta"][i] ** 2 / (sigma2.clamp(min=1e-300) * s["alpha"][i] * (1 - s["alpha_bar"][i]))
    return torch.where(sigma2 > 0, k, torch.full_like(k, math.inf)).to(dtype)


def _loss_kappa(scheduler, t: int | Tensor, variance: str) -> Tensor:
    """``kappa`` with the documented fallback: beta~ at index 0 (infinite) uses sigma_1^2 = beta_1."""
    k = kappa(scheduler, t, variance, dtype=torch.float64)
    if variance == "beta_tilde":
        k = torch.where(torch.isinf(k), kappa(scheduler, t, "beta", dtype=torch.float64), k)
    return k


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    """Broadcast a (B,) or (1,) schedule tensor against a batch x of shape (B, ...)."""
    return values.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def reverse_mean(scheduler, x_t: Tensor, eps: Tensor, t: int | Tensor) -> Tensor:
    """mu(x_t, eps) = (x_t - beta_t / sqrt(1 - alphabar_t) eps) / sqrt(alpha_t)  (Ho et al. 2020, Eq. 11)."""
    s, i = _schedule(scheduler), _index(scheduler, t)
    coef = _per_sample(s["beta"][i] / torch.sqrt(1 - s["alpha_bar"][i]), x_t)
    return (x_t - coef * eps) / _per_sample(torch.sqrt(s["alpha"][i]), x_t)


def diffusers_mean_gap(scheduler, x_t: Tensor, eps_a: Tensor, eps_b: Tensor, t: int) -> Tensor:
    """mu(x_t, eps_a) - mu(x_t, eps_b) as diffusers' own ``DDPMScheduler.step`` computes it.

    Both steps draw the same noise (same seed), so it cancels; x0-clipping is switched off on a copy of
    the scheduler because it would make the step nonlinear in eps. An independent check of ``reverse_mean``.
    """
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(scheduler.config, clip_sample=False, thresholding=False)
    a = sched.step(eps_a, int(t), x_t, generator=torch.Generator().manual_seed(0)).prev_sample
    b = sched.step(eps_b, int(t), x_t, generator=torch.Generator().manual_seed(0)).prev_sample
    return a - b
