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

The variational (f-GAN) form (Nowozin et al. 2016, Eq. 6): for a critic T = g_f(V(x)),
    D_f(P || Q) >= E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))],
tight at g_f(V) = f'(p/q). The critic maximises the bound; the new model (Q) minimises it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fdunlearn.theory import divergences
from fdunlearn.theory.divergences import EXP_CAP, FDivergence, safe_expm1

VARIANCES = ("beta", "beta_tilde")
SCALINGS = ("reference", "exact", "reference-code")
REFERENCE_CODE_LOSSES = ("mse", "hellinger", "pearson_chi2")  # the only closed forms in the reference code


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


def loss_names() -> list[str]:
    """Names accepted by ``closed_form_loss``: "mse" (Concept Ablation) plus the registry."""
    return ["mse", *divergences.names()]


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
