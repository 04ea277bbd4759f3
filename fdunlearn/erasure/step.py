"""One erasure step: the two objectives (closed form, variational) and the update, shared by ``erase`` and ``bench``.

Given a batch of noisy anchor latents x_t at timesteps t, the step compares

    eps_new    = eps_theta(x_t, c*, t)      the model in training, at the TARGET prompt c*   (distribution Q)
    eps_anchor = eps_orig(x_t, c, t)        the ORIGINAL model, at the ANCHOR prompt c; no gradient (P)

With ``away=g > 0`` the regression target is pushed away from the target concept, the way classifier-free guidance
pushes a sample (ESD, Gandikota et al. 2023, Eq. 2, with the anchor in place of the empty prompt):

    eps_anchor = eps_orig(x_t, c, t) - g * (eps_orig(x_t, c*, t) - eps_orig(x_t, c, t))

so the erased model copies an anchor that has been guided away from c*, not the anchor as the original model draws
it (which on MiniSD is itself a seven about 5% of the time). ``g = 0`` is Concept Ablation's target.

With ``preserve=lam > 0`` and a prompt to keep c_k in each batch (a retain set: ``EraseConfig.keep``), the closed-form
loss gains a preservation term, as in the unlearning methods that fine-tune on what must not change:

    loss += lam * mean (eps_theta(x_t, c_k, t) - eps_orig(x_t, c_k, t))^2

The trainable keys and values are shared by every prompt, so moving "seven" also moves its neighbours ("nine"); the
term holds the kept prompts where the original model has them.

and lowers the chosen objective in the trainable weights only (see ``erase`` for the two objectives' maths).
The original model is the same UNet with the trainable group's original values swapped in (``frozen="swap"``,
``erase_params.frozen_forward``); ``frozen="copy"`` keeps a full frozen deep copy instead, the straightforward
approach that ``bench`` measures against.

Optimiser (``optimizer``). ``"adam"`` (the reference's AdamW) divides each coordinate of the step by the running RMS
of its gradient, so a constant factor on the loss cancels; ``"sgd"`` (plain ``torch.optim.SGD``, no momentum) steps
by lr times the gradient itself, so the divergence's gradient magnitude reaches the weights (lesson 04).

Closed-form steps also log the per-sample gradient multipliers w_i (``losses.multipliers``: grad L_i = w_i grad m_i)
as ``mult_mean``, ``mult_min`` and ``mult_max`` over the batch: how far each divergence is from "MSE times a constant".

Precision. The trainable weights are always float32 master weights (upcast here if the pipeline is float16 and put
back by ``release``); ``precision="fp16"|"bf16"`` runs both forwards under ``torch.autocast`` (fp16 with a
gradient scaler). The losses and the critic are evaluated in float32.
"""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from fdunlearn.erasure.weights import frozen_forward, snapshot
from fdunlearn.theory import divergences, losses

FROZEN = ("swap", "copy")
OPTIMIZERS = ("adam", "sgd")
CRITICS = ("fixed", "leaky")
AUTOCAST = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def to_eps(output: Tensor, x_t: Tensor, t: Tensor, scheduler) -> Tensor:
    """The UNet's output as an eps-prediction. v-prediction models (Stable Diffusion 2.x at 768 px) predict
    v = sqrt(abar) eps - sqrt(1 - abar) x0, hence eps = sqrt(abar) v + sqrt(1 - abar) x_t (Salimans & Ho 2022)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return output
    if kind == "v_prediction":
        abar = scheduler.alphas_cumprod.to(device=x_t.device, dtype=torch.float32)[t].reshape(-1, 1, 1, 1)
        return abar.sqrt() * output.float() + (1 - abar).sqrt() * x_t.float()
    raise ValueError(f"prediction_type {kind!r} is not supported; accepted: epsilon, v_prediction")


def crop(x: Tensor, border: int) -> Tensor:
    """Drop ``border`` latent pixels on each side (the reference masks a one-pixel border)."""
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border else x


class ClosedForm:
    """mean over the batch of phi(x): ``losses.closed_form_loss`` (lesson 01; docs/derivations.md)."""

    def __init__(self, divergence: str, params: dict[str, float], *, scaling: str, temperature: float,
                 scheduler) -> None:
        self.divergence, self.params, self.scaling = divergence, params, scaling
        self.temperature, self.scheduler = temperature, scheduler

    def _kwargs(self, t: Tensor) -> dict:
        return dict(scaling=self.scaling, t=t, scheduler=self.scheduler, temperature=self.temperature, **self.params)

    def __call__(self, eps_new: Tensor, eps_anchor: Tensor, t: Tensor) -> Tensor:
        return losses.closed_form_loss(eps_new.float(), eps_anchor.float(), self.divergence, **self._kwargs(t)).mean()

    def multiplier_stats(self, eps_new: Tensor, eps_anchor: Tensor, t: Tensor) -> dict[str, float]:
        """Mean, min and max over the batch of the per-sample multipliers w_i (``losses.multipliers``)."""
        w = losses.multipliers(eps_new, eps_anchor, self.divergence, **self._kwargs(t))
        w = w[torch.isfinite(w)]
        if not len(w):
            return {}
        return {"mult_mean": float(w.mean()), "mult_min": float(w.min()), "mult_max": float(w.max())}


class PatchCritic(nn.Module):
    """V: an eps-prediction (B, C, h, w) -> one raw score per patch (B, P); spectral-normalised convolutions.

    A PatchGAN-style critic as in the reference: 3x3 conv (C -> w), 4x4 stride-2 conv (w -> 2w), 3x3 conv
    (2w -> 1), LeakyReLU(0.2) between; each output pixel scores a 6x6 patch of the prediction. Every patch
    score counts as one sample in the bound, and g_f is applied in the loss.
    """

    def __init__(self, channels: int, width: int = 64) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(channels, width, 3, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 1, 3, padding=1)))

    def forward(self, eps: Tensor) -> Tensor:
        return self.net(eps.float()).flatten(1)


class Variational:
    """f-GAN objective (Nowozin et al. 2016, Eq. 6) between P = eps_anchor and Q = eps_new, through a critic.

    ``critic_update`` takes ``inner_steps`` Adam steps maximising E_P[g_f(V)] - E_Q[f*(g_f(V))] on detached
    predictions and returns the bound after them (the critic's divergence estimate); ``generator_loss`` is
    -E_Q[f*(g_f(V))].

    ``critic="fixed"`` (default): the critic is frozen (requires_grad off) during the generator's step, so the
    generator's backward leaves no gradient in it. ``critic="leaky"`` reproduces the reference code's bug
    (docs/reference-code.md): the generator's backward fills the critic's .grad, and the next critic update adds its
    own gradient to that leaked one instead of starting from zero (only the first inner step sees the leak; the
    critic's own gradients are cleared after each update, so nothing else accumulates).
    """

    def __init__(self, divergence: str, params: dict[str, float], channels: int, *, width: int = 64,
                 lr: float = 2e-4, inner_steps: int = 1, device: torch.device | str = "cpu", seed: int = 0,
                 critic: str = "fixed") -> None:
        if critic not in CRITICS:
            raise ValueError(f"unknown critic mode {critic!r}; accepted: {', '.join(CRITICS)}")
        self.div = divergences.get(divergence, **params)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.critic = PatchCritic(channels, width).to(device)
        self.opt = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.999))
        self.inner_steps = inner_steps
        self.leaky = critic == "leaky"
        self.critic.requires_grad_(self.leaky)

    def critic_update(self, eps_p: Tensor, eps_q: Tensor) -> float:
        eps_p, eps_q = eps_p.detach().float(), eps_q.detach().float()
        self.critic.requires_grad_(True)
        for k in range(self.inner_steps):
            loss = losses.critic_loss(self.div, self.critic(eps_p), self.critic(eps_q))
            if not (self.leaky and k == 0):  # leaky: the generator's gradient is still in .grad
                self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        if self.leaky:  # clear the critic's own gradient: only the generator's next backward leaks into .grad
            self.opt.zero_grad(set_to_none=True)
        self.critic.requires_grad_(self.leaky)
        with torch.no_grad():
            return float(losses.variational_bound(self.div, self.critic(eps_p), self.critic(eps_q)))

    def generator_loss(self, eps_q: Tensor) -> Tensor:
        return losses.generator_loss(self.div, self.critic(eps_q))


class ErasureStep:
    """The update of the trainable weights for one batch; call it with (x_t, t, cond_target, cond_anchor)."""

    def __init__(self, unet: nn.Module, trainable: dict[str, nn.Parameter], scheduler,
                 objective: ClosedForm | Variational, *, lr: float, frozen: str = "swap", precision: str = "no",
                 max_grad_norm: float | None = None, border: int = 0, weight_decay: float = 0.0,
                 optimizer: str = "adam", away: float = 0.0, preserve: float = 0.0) -> None:
        if frozen not in FROZEN:
            raise ValueError(f"unknown frozen-model strategy {frozen!r}; accepted: {', '.join(FROZEN)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
        if precision not in AUTOCAST:
            raise ValueError(f"unknown precision {precision!r}; accepted: {', '.join(AUTOCAST)}")
        self.unet, self.trainable, self.scheduler, self.objective = unet, trainable, scheduler, objective
        self.precision, self.max_grad_norm, self.border, self.away = precision, max_grad_norm, border, away
        self.preserve = preserve
        self._dtypes = {n: p.dtype for n, p in trainable.items()}
        for p in trainable.values():  # float32 master weights
            p.data = p.data.float()
        if precision == "no" and any(p.dtype != torch.float32 for p in unet.parameters()):
            raise ValueError("this UNet holds float16/bfloat16 weights; accepted precisions for it: fp16, bf16 "
                             "(autocast), or convert the pipeline to float32 first")
        unet.requires_grad_(False)
        for p in trainable.values():
            p.requires_grad_(True)
        self.originals = snapshot(trainable) if frozen == "swap" else {}
        self.frozen_unet = copy.deepcopy(unet).requires_grad_(False) if frozen == "copy" else None
        if optimizer == "adam":
            self.opt = torch.optim.AdamW(list(trainable.values()), lr=lr, weight_decay=weight_decay)
        else:  # plain SGD: the step is lr times the gradient (weight decay lr * wd * w, as AdamW's decoupled one)
            self.opt = torch.optim.SGD(list(trainable.values()), lr=lr, momentum=0.0, weight_decay=weight_decay)
        device = next(iter(trainable.values())).device
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16" and device.type == "cuda")

    def _autocast(self, x: Tensor):
        dtype = AUTOCAST[self.precision]
        return nullcontext() if dtype is None else torch.autocast(x.device.type, dtype=dtype)

    def eps(self, x_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """eps_theta(x_t, c, t) of the model in training (with gradients)."""
        with self._autocast(x_t):
            out = self.unet(x_t, t, encoder_hidden_states=cond).sample
        return to_eps(out, x_t, t, self.scheduler)

    def frozen_eps(self, x_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """eps_orig(x_t, c, t) of the original model, without gradients."""
        with torch.no_grad(), self._autocast(x_t):
            if self.frozen_unet is not None:
                out = self.frozen_unet(x_t, t, encoder_hidden_states=cond).sample
            else:
                out = frozen_forward(self.unet, self.originals, x_t, t, encoder_hidden_states=cond).sample
        return to_eps(out, x_t, t, self.scheduler)

    def anchor_eps(self, x_t: Tensor, t: Tensor, cond_target: Tensor, cond_anchor: Tensor) -> Tensor:
        """The regression target P: eps_orig at the anchor prompt, guided ``away`` from the target prompt."""
        eps = self.frozen_eps(x_t, t, cond_anchor)
        if self.away:
            eps = eps - self.away * (self.frozen_eps(x_t, t, cond_target) - eps)
        return crop(eps, self.border)

    def warmup_critic(self, x_t: Tensor, t: Tensor, cond_target: Tensor, cond_anchor: Tensor) -> dict[str, float]:
        """Train only the critic on one batch (the model does not move): the reference's critic warm-up."""
        with torch.no_grad():
            eps_p = self.anchor_eps(x_t, t, cond_target, cond_anchor)
            eps_q = crop(self.eps(x_t, t, cond_target), self.border)
        return {"estimate": self.objective.critic_update(eps_p, eps_q)}

    def __call__(self, x_t: Tensor, t: Tensor, cond_target: Tensor, cond_anchor: Tensor,
                 cond_keep: Tensor | None = None) -> dict[str, float]:
        eps_anchor = self.anchor_eps(x_t, t, cond_target, cond_anchor)
        eps_new = crop(self.eps(x_t, t, cond_target), self.border)
        stats = {}
        if isinstance(self.objective, Variational):
            stats["estimate"] = self.objective.critic_update(eps_anchor, eps_new)
            loss = self.objective.generator_loss(eps_new)
        else:
            loss = self.objective(eps_new, eps_anchor, t)
            if hasattr(self.objective, "multiplier_stats"):
                stats |= self.objective.multiplier_stats(eps_new, eps_anchor, t)
            if self.preserve and cond_keep is not None:
                kept = crop(self.eps(x_t, t, cond_keep), self.border).float()
                drift = (kept - crop(self.frozen_eps(x_t, t, cond_keep), self.border).float()).pow(2).mean()
                loss = loss + self.preserve * drift
                stats["preserve"] = float(drift.detach())
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        grads = [p.grad for p in self.trainable.values() if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        if self.max_grad_norm is not None and math.isfinite(norm):
            torch.nn.utils.clip_grads_with_norm_(list(self.trainable.values()), self.max_grad_norm,
                                                 torch.tensor(norm, device=grads[0].device))
        self.scaler.step(self.opt)
        self.scaler.update()
        m = (eps_new.detach().float() - eps_anchor.float()).pow(2).flatten(1).mean(1).mean()
        return {"loss": float(loss.detach()), "grad_norm": norm, "m": float(m), **stats}

    def release(self) -> None:
        """Stop training: gradients off, trainable weights back to the pipeline's dtype, the copy dropped."""
        for n, p in self.trainable.items():
            p.requires_grad_(False)
            p.grad = None
            p.data = p.data.to(self._dtypes[n])
        self.frozen_unet = None
        self.originals = {}
