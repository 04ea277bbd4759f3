"""Solutions to lesson 02's exercises; ``python 02_ddpm_mnist_cifar.py`` checks each against diffusers."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler


def q_sample(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Exercise 1: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (Ho et al. 2020, Eq. 4)."""
    a = alpha_bar[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Exercise 2: invert Eq. 4 for x0 given a noise prediction: x0 = (x_t - sqrt(1 - a) eps) / sqrt(a)."""
    a = alpha_bar[t].view(-1, 1, 1, 1)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Exercise 3: deterministic DDIM update (Song et al. 2021, Eq. 12 with sigma = 0), no clipping.

    x_{t_prev} = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps, with a_prev = 1 when t_prev < 0.
    """
    a_prev = alpha_bar[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0 = predict_x0(x_t, eps, torch.tensor([t]), alpha_bar)
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


def main() -> None:
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    alpha_bar = sched.alphas_cumprod
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    assert torch.allclose(q_sample(x0, eps, t, alpha_bar), sched.add_noise(x0, eps, t), atol=1e-6)
    assert torch.allclose(predict_x0(sched.add_noise(x0, eps, t), eps, t, alpha_bar), x0, atol=1e-3)
    ddim = DDIMScheduler.from_config(sched.config, clip_sample=False)
    ddim.set_timesteps(50)
    x_t = torch.randn(4, 1, 8, 8, generator=g)
    t_now, t_prev = int(ddim.timesteps[10]), int(ddim.timesteps[11])
    ours = ddim_step(x_t, eps, t_now, t_prev, alpha_bar)
    theirs = ddim.step(eps, t_now, x_t, eta=0.0).prev_sample
    assert torch.allclose(ours, theirs, atol=1e-5)
    print("lesson 02 solutions: all checks passed")


if __name__ == "__main__":
    main()
