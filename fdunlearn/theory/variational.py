"""The variational (f-GAN) form of an f-divergence (Nowozin et al. 2016, Eq. 6): for a critic T = g_f(V(x)),

    D_f(P || Q) >= E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))],

tight at g_f(V) = f'(p/q). The critic maximises the bound; the new model (Q) minimises it. Here: the bound, the
critic's and the generator's losses, a small critic, and its training on two Gaussians a known gap apart."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fdunlearn.theory import divergences
from fdunlearn.theory.divergences import FDivergence


@contextlib.contextmanager
def _one_cpu_thread(active: bool = True) -> Iterator[None]:
    """Run small CPU work on one thread: the small models here gain little from a second thread, and on a
    2-core machine whose other core is busy (a training run) two threads are ten times slower."""
    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- variational (f-GAN)
def variational_bound(divergence: str | FDivergence, v_p: Tensor, v_q: Tensor, **params: float) -> Tensor:
    """E_P[g_f(V)] - E_Q[f*(g_f(V))] <= D_f(P || Q)  (Nowozin et al. 2016, Eq. 6), from raw critic outputs.

    ``v_p``: V(x) on samples of P (the frozen model's eps-predictions in the erasure setting);
    ``v_q``: V(x) on samples of Q (the new model's). The activation g_f keeps T inside dom f*.
    """
    div = divergences.get(divergence, **params)
    return div.activation(v_p).mean() - div.conjugate(div.activation(v_q)).mean()


def critic_loss(divergence: str | FDivergence, v_p: Tensor, v_q: Tensor, **params: float) -> Tensor:
    """The critic minimises minus the bound. Detach the generator's outputs before computing ``v_q``."""
    return -variational_bound(divergence, v_p, v_q, **params)


def generator_loss(divergence: str | FDivergence, v_q: Tensor, **params: float) -> Tensor:
    """The new model (Q) minimises the bound; only its Q term depends on it: -E_Q[f*(g_f(V))].

    Its backward also fills the critic's .grad: zero the critic's gradients before the critic's own
    step (the reference code does not, a leak to avoid).
    """
    div = divergences.get(divergence, **params)
    return -div.conjugate(div.activation(v_q)).mean()


class Critic(nn.Module):
    """A small MLP critic V: R^dim -> R (inputs are flattened); the activation g_f is applied in the loss."""

    def __init__(self, dim: int, hidden: int = 64, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(-1)


Sampler = Callable[[int, torch.Generator], Tensor]


def gaussian_samplers(delta: float, dim: int = 1, sigma: float = 1.0) -> tuple[Sampler, Sampler]:
    """Samplers for P = N(sqrt(delta) sigma e_1, sigma^2 I) and Q = N(0, sigma^2 I), a gap of ``delta``."""
    if delta < 0 or dim < 1 or sigma <= 0:
        raise ValueError(f"delta={delta!r}, dim={dim!r}, sigma={sigma!r}; accepted: delta >= 0, dim >= 1, "
                         "sigma > 0")
    shift = torch.zeros(dim)
    shift[0] = math.sqrt(delta) * sigma

    def sample_p(n: int, gen: torch.Generator) -> Tensor:
        return shift + sigma * torch.randn(n, dim, generator=gen)

    def sample_q(n: int, gen: torch.Generator) -> Tensor:
        return sigma * torch.randn(n, dim, generator=gen)

    return sample_p, sample_q


@dataclass
class CriticResult:
    critic: Critic
    history: Tensor  # (steps,) the bound on each training batch
    estimate: float  # the bound on ``eval_samples`` fresh samples after training

    def smoothed(self, window: int = 50) -> Tensor:
        """Running mean of ``history`` over ``window`` steps (length steps - window + 1)."""
        window = max(1, min(window, len(self.history)))
        return self.history.unfold(0, window, 1).mean(1)


def train_critic(divergence: str | FDivergence, sample_p: Sampler, sample_q: Sampler, *, dim: int = 1,
                 steps: int = 1000, batch_size: int = 512, lr: float = 3e-3, hidden: int = 64,
                 eval_samples: int = 200_000, seed: int = 0, **params: float) -> CriticResult:
    """Fit a critic by maximising the variational bound on fresh batches (critic, history, estimate).

    Runs on one CPU thread (see ``_one_cpu_thread``).
    """
    with _one_cpu_thread():
        return _train_critic(divergences.get(divergence, **params), sample_p, sample_q, dim, steps,
                             batch_size, lr, hidden, eval_samples, seed)


def _train_critic(div: FDivergence, sample_p: Sampler, sample_q: Sampler, dim: int, steps: int,
                  batch_size: int, lr: float, hidden: int, eval_samples: int, seed: int) -> CriticResult:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    critic = Critic(dim, hidden)
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    history = torch.empty(steps)
    for step in range(steps):
        x_p, x_q = sample_p(batch_size, gen), sample_q(batch_size, gen)
        loss = critic_loss(div, critic(x_p), critic(x_q))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history[step] = -loss.detach()
    with torch.no_grad():
        estimate = float(variational_bound(div, critic(sample_p(eval_samples, gen)),
                                           critic(sample_q(eval_samples, gen))))
    return CriticResult(critic, history, estimate)
