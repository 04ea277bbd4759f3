"""The pretrained score with the forgotten class taken out by Bayes' rule, as a regression target (``fs-guide``).

The pretrained model's marginal at noise level t is a mixture p(x_t) = pi_f p_f(x_t) + (1 - pi_f) p_k(x_t) of the
forget class and the kept classes. The model retrained without the forget class would have the score of p_k alone:

    grad log p_k(x_t) = grad log p(x_t) + grad log (1 - w(x_t)),   w(x_t) = pi_f p_f(x_t) / p(x_t)

(negative classifier guidance with the exact posterior w). Both densities are estimated with the forward process
itself as the kernel, from D_f (p_f) and from the kept replay samples (p_k):
p_f(x_t) = mean_j N(x_t; sqrt(a_t) x_j, (1 - a_t) I). The correction then has a closed form: with E_f and E_k the
posterior means of x_0 under the two kernel mixtures,

    sqrt(1 - a_t) grad log (1 - w) = sqrt(a_t / (1 - a_t)) * w * (E_k - E_f),

so the target noise prediction is eps_0(x_t) - scale * sqrt(a_t / (1 - a_t)) * w * (E_k - E_f): the pretrained
denoiser's guess of x_0 moves by scale * w * (E_k - E_f), from the forget images' posterior mean towards the kept
samples', in proportion to how likely x_t is a noised forget-class image. It is bounded (0 <= w <= 1) and needs no
gradient ascent. pi_f is the share of the replay set that the forget-like filter drops (D_f and the replay only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from diffusers import DDPMScheduler, UNet2DModel

from fdunlearn.models import ddpm

# fs-guide's settings off UnlearnConfig's defaults, used by the command line and lesson 03's table: the correction
# acts at 300 <= t < 600, lambda 10, half of each replay batch from the 64 kept samples most like D_f. Chosen on
# digit 3, seed 1 among bands [200|350|500, 1000), [350, 650) and [300, 600), lambda 1 and 10, lr 1e-5..1e-4
# (session-17 probes)
DEFAULTS = {"forget_t_min": 300, "guide_t_max": 600, "fs_weight": 10.0, "replay_near": 64}
# and the run the command line makes of it: 200 steps, saving the average of about the last 30 (EMA 0.97), lesson 03's
# fs-guide-ema (section 7.14: every bar met on digit 7; on digit 3 the threes stay above the 1% bar)
RUN = {"steps": 200, "ema": 0.97}


@dataclass(frozen=True)
class Reference:
    """The two kernel mixtures: D_f, the kept replay samples, and pi_f (the dropped share of the replay set)."""

    forget: torch.Tensor
    kept: torch.Tensor
    pi_f: float
    kept_index: torch.Tensor  # per replay sample: its row in ``kept``, -1 for the dropped ones
    # below gate_t the correction acts only where the posterior is sure, w >= gate_w (0: no gate): a change below the
    # band (lesson 03 section 7.22's late-decided samples) confined to what reads as the forget class there
    gate_t: int = 0
    gate_w: float = 0.9


def kernel_posterior(x_t: torch.Tensor, a: torch.Tensor, refs: torch.Tensor,
                     exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x_t) up to a shared constant and E[x_0 | x_t] under the kernel mixture of ``refs`` (forward process).

    ``a`` is alpha_bar_t per row of ``x_t``. log N(x_t; sqrt(a) r, (1 - a) I) without the terms shared by all refs.
    ``exclude`` (one index per row, -1 for none) leaves a row's own reference out: a training image noised is
    otherwise explained by its own kernel, which makes the estimate overconfident exactly where it is trained on.
    """
    xf, rf = x_t.flatten(1), refs.flatten(1).to(x_t)
    # ||x_t - sqrt(a) r||^2 = ||x_t||^2 - 2 sqrt(a) x_t.r + a ||r||^2; the first term is shared by every r
    d2 = -2 * a.sqrt().view(-1, 1) * (xf @ rf.T) + a.view(-1, 1) * rf.pow(2).sum(1).view(1, -1)
    logits = -d2 / (2 * (1 - a).view(-1, 1))
    count = torch.full((len(xf),), float(len(rf)), dtype=x_t.dtype, device=x_t.device)
    if exclude is not None:
        rows = torch.nonzero(exclude >= 0).flatten()
        logits[rows, exclude[rows]] = -math.inf
        count[rows] -= 1
    log_p = torch.logsumexp(logits, dim=1) - count.log()
    mean = (logits.softmax(dim=1) @ rf).view_as(x_t)
    return log_p, mean


def correction(x_t: torch.Tensor, a: torch.Tensor, x_forget: torch.Tensor, x_kept: torch.Tensor,
               pi_f: float, self_f: torch.Tensor | None = None,
               self_k: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sqrt(a / (1 - a)) * w * (E_k - E_f), w): the eps-space shift that takes the forget class out of the score.

    ``self_f`` / ``self_k``: per row, the index of the row's own image in ``x_forget`` / ``x_kept`` (-1: none),
    left out of the kernel mixtures (leave-one-out)."""
    if not 0.0 < pi_f < 1.0:
        raise ValueError(f"pi_f={pi_f!r}; accepted: 0 < pi_f < 1 (the forget class's share of the model's samples)")
    log_f, mean_f = kernel_posterior(x_t, a, x_forget, self_f)
    log_k, mean_k = kernel_posterior(x_t, a, x_kept, self_k)
    w = torch.sigmoid(math.log(pi_f) - math.log(1 - pi_f) + log_f - log_k)
    shift = (a / (1 - a)).sqrt().view(-1, 1, 1, 1) * w.view(-1, 1, 1, 1) * (mean_k - mean_f)
    return shift, w


def check_gate(gate_t: object, gate_w: object) -> None:
    """A ValueError naming a bad gate (``Reference.gate_t``, ``Reference.gate_w``) and the accepted values."""
    if not (isinstance(gate_t, int) and not isinstance(gate_t, bool) and 0 <= gate_t <= ddpm.T_STEPS):
        raise ValueError(f"guide_gate_t={gate_t!r}; accepted: an integer 0..{ddpm.T_STEPS} (0: no gate)")
    if not (isinstance(gate_w, int | float) and not isinstance(gate_w, bool) and 0.0 <= gate_w <= 1.0):
        raise ValueError(f"guide_gate_w={gate_w!r}; accepted: a number 0 <= w <= 1 (a posterior probability)")


def reference(x_forget: torch.Tensor, replay_images: torch.Tensor, dropped: torch.Tensor, gate_t: int = 0,
              gate_w: float = Reference.gate_w) -> Reference:
    """The reference of one run from D_f, the replay set and the forget-like filter's mask (``replay.forget_like``).

    pi_f = (dropped + 1) / (replay + 2) (Laplace's rule of succession: a model whose replay set shows no forget-like
    sample still gets a small, nonzero share). ``gate_t``, ``gate_w``: see ``Reference``."""
    check_gate(gate_t, gate_w)
    n_drop = int(dropped.sum())
    if n_drop == len(replay_images):
        raise ValueError(f"fs-guide needs kept replay samples; the forget-like filter dropped all {n_drop} (accepted: "
                         "at least one kept; lower replay_filter_ratio or raise replay_n)")
    return Reference(x_forget, replay_images[~dropped], (n_drop + 1) / (len(replay_images) + 2),
                     torch.where(dropped, -1, torch.cumsum((~dropped).long(), 0) - 1), gate_t, float(gate_w))


def target(frozen: UNet2DModel, scheduler: DDPMScheduler, x_t: torch.Tensor, t: torch.Tensor, ref: Reference,
           scale: float, t_min: int, t_max: int = ddpm.T_STEPS, self_f: torch.Tensor | None = None,
           self_k: torch.Tensor | None = None) -> torch.Tensor:
    """eps_0(x_t) - scale * the correction at ``t_min`` <= t < ``t_max`` (elsewhere the pretrained prediction, as
    S_fs). Above ~650 of 1000 the correction is a near-constant push by pi_f (mean kept - mean forget image) that the
    network learns as a bias on every sample, which moves the other classes' shares (session-17 probes)."""
    with torch.no_grad():
        eps = frozen(x_t, t).sample
        on = (t >= t_min) & (t < t_max)
        if on.any():
            a = scheduler.alphas_cumprod.to(x_t)[t[on]]
            own = [None if s is None else s.to(x_t.device)[on] for s in (self_f, self_k)]
            shift, w = correction(x_t[on], a, ref.forget, ref.kept, ref.pi_f, *own)
            if ref.gate_t > 0:  # below gate_t, only where the posterior reads the forget class with w >= gate_w
                shift = shift * ((t[on] >= ref.gate_t) | (w >= ref.gate_w)).view(-1, 1, 1, 1).to(shift)
            eps[on] = eps[on] - scale * shift
    return eps


def guided_loss(unet: UNet2DModel, frozen: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor,
                g: torch.Generator, ref: Reference, scale: float, t_min: int, t_max: int = ddpm.T_STEPS,
                noise_t_min: int = 0, self_f: torch.Tensor | None = None,
                self_k: torch.Tensor | None = None, noise_t_max: int = ddpm.T_STEPS) -> torch.Tensor:
    """Mean over images and pixels of ||eps_theta(x_t, t) - target(x_t, t)||^2, x_t noised from ``x0`` at
    t ~ U{noise_t_min..noise_t_max-1}: a KL to the reverse steps of the pretrained model without the forget class."""
    x_t, t, _ = ddpm.noise_batch(scheduler, x0, g, unet.device, noise_t_min, noise_t_max)
    goal = target(frozen, scheduler, x_t, t, ref, scale, t_min, t_max, self_f, self_k)
    return (unet(x_t, t).sample - goal).pow(2).mean()


class TargetDenoiser:
    """``target`` as a denoiser (called as ``ddpm.sample`` calls a UNet: ``net(x_t, t).sample``, t one timestep or one
    per row): the pretrained prediction with the correction at ``t_min`` <= t < ``t_max``, no network trained. Sampling
    with it shows what the regression target itself draws (lesson 03, section 7.19)."""

    def __init__(self, frozen: UNet2DModel, scheduler: DDPMScheduler, ref: Reference, scale: float, t_min: int,
                 t_max: int = ddpm.T_STEPS) -> None:
        if not 0 <= t_min < t_max <= ddpm.T_STEPS:
            raise ValueError(f"band [{t_min}, {t_max}); accepted: 0 <= t_min < t_max <= {ddpm.T_STEPS}")
        self.frozen, self.scheduler, self.ref, self.scale, self.band = frozen, scheduler, ref, scale, (t_min, t_max)
        self.config, self.device = frozen.config, frozen.device

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor | int) -> SimpleNamespace:
        t = torch.as_tensor(t, device=x_t.device).long().expand(len(x_t))
        return SimpleNamespace(sample=target(self.frozen, self.scheduler, x_t, t, self.ref, self.scale, *self.band))
