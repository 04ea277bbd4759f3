"""Solutions to the exercises of lesson 01, "MSE is an f-divergence".

Each function has the name of its exercise stub in notebooks/01_mse_is_an_f_divergence.ipynb.
Run this file (``python notebooks/solutions/01_mse_is_an_f_divergence.py``) to check every solution
against ``fdunlearn``; it takes a few seconds and works from any directory.
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from fdunlearn.theory import divergences, losses


# ----------------------------------------------------------------------------- exercise 1
def kappa_from_betas(betas: torch.Tensor, t: int, variance: str = "beta") -> float:
    """Exercise 1: kappa_t = beta_t^2 / (sigma_t^2 alpha_t (1 - alphabar_t)) for the diffusers index t (paper t + 1)."""
    betas = betas.double()
    alpha = 1.0 - betas
    alpha_bar = torch.cumprod(alpha, dim=0)
    alpha_bar_prev = alpha_bar[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    if variance == "beta":
        sigma2 = betas[t]
    else:
        sigma2 = betas[t] * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar[t])
    if sigma2 == 0:
        return float("inf")
    return float(betas[t] ** 2 / (sigma2 * alpha[t] * (1.0 - alpha_bar[t])))


# ----------------------------------------------------------------------------- exercise 2
def hellinger_closed_form(delta: torch.Tensor) -> torch.Tensor:
    """Exercise 2: squared Hellinger (f-GAN generator (sqrt(u) - 1)^2) between N(mu_1, s^2 I) and N(mu_2, s^2 I).

    D_f = E_q[(sqrt(p/q) - 1)^2] = E_q[p/q] - 2 E_q[sqrt(p/q)] + 1 = 2 (1 - BC), BC = int sqrt(p q) dx.
    sqrt(p q) = N(x; mu_1, s^2 I)^(1/2) N(x; mu_2, s^2 I)^(1/2); completing the square,
    -(||x - mu_1||^2 + ||x - mu_2||^2) / (4 s^2) = -||x - m||^2 / (2 s^2) - ||mu_1 - mu_2||^2 / (8 s^2)
    with m = (mu_1 + mu_2) / 2, so BC = exp(-delta / 8) (the remaining integral is that of a density).
    """
    return 2.0 * (1.0 - torch.exp(-delta / 8.0))


# ----------------------------------------------------------------------------- exercise 3
def reference_multipliers(m: torch.Tensor, s: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 3: per-sample factors c with grad(loss) = c * grad(m), for the reference Hellinger and chi^2 losses.

    d/dm [-exp(-m / (8 s^2))] = exp(-m / (8 s^2)) / (8 s^2);   d/dm [exp(m / s^2)] = exp(m / s^2) / s^2.
    """
    return torch.exp(-m / (8 * s**2)) / (8 * s**2), torch.exp(m / s**2) / s**2


# ----------------------------------------------------------------------------- exercise 4
def neyman_conjugate(t: torch.Tensor) -> torch.Tensor:
    """Exercise 4: f*(t) = sup_{u > 0} (t u - (1 - u)^2 / u) for t < 1.

    f(u) = u - 2 + 1/u, f'(u) = 1 - 1/u^2 = t gives u* = (1 - t)^(-1/2), and
    f*(t) = t u* - u* + 2 - 1/u* = -(1 - t) u* + 2 - sqrt(1 - t) = 2 - 2 sqrt(1 - t).
    """
    return 2.0 - 2.0 * torch.sqrt(1.0 - t)


# ----------------------------------------------------------------------------- checks
def main() -> None:
    delta = torch.logspace(-3, 3, 61, dtype=torch.float64)
    torch.testing.assert_close(hellinger_closed_form(delta), divergences.get("hellinger").gaussian(delta))

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")  # the course's schedule
    for variance in ("beta", "beta_tilde"):
        for t in (0, 1, 10, 250, 999):
            expected = float(losses.kappa(scheduler, t, variance, dtype=torch.float64))
            got = kappa_from_betas(scheduler.betas, t, variance)
            assert got == expected or abs(got - expected) <= 1e-12 * expected, (variance, t, got, expected)

    gen = torch.Generator().manual_seed(0)
    eps_orig = torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    eps_new = (eps_orig + torch.rand(5, 1, 1, 1, generator=gen, dtype=torch.float64)
               * torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64)).requires_grad_(True)
    m = (eps_new - eps_orig).pow(2).flatten(1).mean(1).detach()
    for s in (1.0, 0.5):
        (g_mse,) = torch.autograd.grad(losses.closed_form_loss(eps_new, eps_orig, "mse").sum(), eps_new)
        c_hel, c_chi = reference_multipliers(m, s)
        for name, c in (("hellinger", c_hel), ("pearson_chi2", c_chi)):
            loss = losses.closed_form_loss(eps_new, eps_orig, name, temperature=s)
            (grad,) = torch.autograd.grad(loss.sum(), eps_new)
            torch.testing.assert_close(grad, g_mse * c.reshape(-1, 1, 1, 1))

    t = torch.linspace(-20.0, 0.99, 200, dtype=torch.float64)
    torch.testing.assert_close(neyman_conjugate(t), divergences.get("neyman_chi2").conjugate(t))
    print("lesson 01: all solutions agree with fdunlearn")


if __name__ == "__main__":
    main()
