"""Lesson 03's opening picture: a 2-D DDPM on 8 Gaussian modes on a ring, asked to forget one mode.

Trained in seconds on one CPU thread. One mode is one "class"; the unlearning methods see only
``n_forget`` points of the mode to forget and the pretrained model (as in ``fdunlearn.unlearning.unlearn``):

* plasticity  P = E_{x in D_f, t, eps} ||eps - eps_theta(x_t, t)||^2   (ascended: the loss is -P)
* ``vdu``     L = gamma * S_w - (1 - gamma) * P,  S_w = mean_i (theta_i - mu_i)^2 / (2 sigma_i^2), the diagonal
  Gaussian prior around the pretrained weights mu, sigma^2 from K raw-weight snapshots of the last training steps
* ``ga``      gamma = 0 (gradient ascent alone)
* ``vdu-fs``  L = lambda * S_fs - P,  S_fs = E_{x ~ p_0, t, eps} ||eps_theta(x_t, t) - eps_0(x_t, t)||^2 on ``replay_n``
  samples of the frozen pretrained model eps_0 (drawn once); under Adam lambda is gamma = lambda / (1 + lambda).
  ``vdu-fs-filtered`` drops replay samples whose mean distance to their 5 nearest forget points is below the 90%
  quantile of the forget points' own leave-one-out score. Study: ``python -m fdunlearn.toy2d --out FILE.json``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from matplotlib.axes import Axes
from matplotlib.patches import Circle
from torch import nn

from fdunlearn import files as io
from fdunlearn import validate

T = 100  # diffusion steps
BETAS = torch.linspace(1e-3, 0.2, T)  # DDPM's linear schedule (1e-4..0.02 at T=1000), rescaled to T=100
ALPHA_BAR = torch.cumprod(1 - BETAS, 0)
N_MODES = 8
METHODS = ("ga", "vdu", "vdu-fs", "vdu-fs-filtered")
# Tuned on the seed-0 base by one rule ("matched forgetting"): over weight x lr (1e-5..1e-3) x steps (50..1000), forget
# seeds 0, 1, the least damage (worst |other - 1/7| + off-ring share) among settings with the forgotten mode < 3%.
DEFAULTS = {"ga": {"weight": 0.0, "steps": 200, "lr": 1e-5}, "vdu": {"weight": 0.7, "steps": 500, "lr": 1e-4},
            "vdu-fs": {"weight": 8.0, "steps": 500, "lr": 1e-3},
            "vdu-fs-filtered": {"weight": 30.0, "steps": 100, "lr": 3e-4}}
GAMMAS = (0.0, 0.6, 0.65, 0.68, 0.7, 0.72, 0.75, 0.8, 0.9, 0.99, 0.999)
LAMBDAS = (1.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 30.0, 100.0)


def ring(n: int, n_modes: int = N_MODES, radius: float = 2.0, std: float = 0.1, seed: int = 0,
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points (n, 2) of ``n_modes`` equal Gaussians (``std``) centred on a circle, and their mode labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_modes, (n,), generator=g)
    return centres(n_modes, radius)[labels] + std * torch.randn(n, 2, generator=g), labels


def centres(n_modes: int = N_MODES, radius: float = 2.0) -> torch.Tensor:
    """The modes' centres (n_modes, 2), mode k at angle 2 pi k / n_modes."""
    angle = 2 * math.pi * torch.arange(n_modes) / n_modes
    return radius * torch.stack([angle.cos(), angle.sin()], 1)


def mode_shares(points: torch.Tensor, n_modes: int = N_MODES, radius: float = 2.0,
                off_ring: float = 0.5) -> list[float]:
    """Share of points nearest to each mode, then the share off the ring (farther than ``off_ring``, or not finite)."""
    dist, nearest = torch.cdist(points.float().nan_to_num(1e6), centres(n_modes, radius)).min(1)
    nearest[(dist > off_ring) | ~points.isfinite().all(1)] = n_modes
    return (torch.bincount(nearest, minlength=n_modes + 1).float() / len(points)).tolist()


class EpsMLP(nn.Module):
    """eps_theta(x_t, t): an MLP on [x_t, sinusoidal embedding of t] (``depth`` hidden layers, SiLU)."""

    def __init__(self, hidden: int = 256, depth: int = 3, emb: int = 32) -> None:
        super().__init__()
        self.freqs = torch.exp(-math.log(1000.0) * torch.arange(emb // 2) / (emb // 2))
        dims = [2 + emb] + [hidden] * depth
        self.net = nn.Sequential(*[m for a, b in itertools.pairwise(dims) for m in (nn.Linear(a, b), nn.SiLU())],
                                 nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        arg = t.float()[:, None] * self.freqs[None]
        return self.net(torch.cat([x, arg.sin(), arg.cos()], 1))


@dataclass
class ToyModel:
    """A trained eps-model with VDU's weight prior (sigma^2 per parameter) and its training record."""

    net: EpsMLP
    var: dict[str, torch.Tensor]
    data: tuple[int, int]  # (n_train, seed) of the training set ring(n_train, seed=seed)
    losses: list[float] = field(default_factory=list)
    replay: dict[int, torch.Tensor] = field(default_factory=dict)  # cache: n -> n samples (seed 10_000)


def noised(x0: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with t ~ U{0..T-1}; returns (x_t, t, eps)."""
    t, eps = torch.randint(0, T, (len(x0),), generator=g), torch.randn(x0.shape, generator=g)
    return ALPHA_BAR[t, None].sqrt() * x0 + (1 - ALPHA_BAR[t, None]).sqrt() * eps, t, eps


def denoising_loss(net: nn.Module, x0: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The simple loss: mean of ||eps - eps_theta(x_t, t)||^2 (the plasticity term P on forget samples)."""
    x_t, t, eps = noised(x0, g)
    return (net(x_t, t) - eps).pow(2).mean()


def train(seed: int = 0, steps: int = 4000, batch: int = 256, lr: float = 2e-3, n_train: int = 8192,
          hidden: int = 256, snapshots: int = 20, every: int = 10, ema: float = 0.995,
          var_floor: float = 1e-2) -> ToyModel:
    """Train on ``ring(n_train, seed)`` with Adam (lr decaying linearly to lr / 10); the pretrained weights mu
    are the EMA's, sigma^2 the variance of ``snapshots`` raw-weight snapshots, one every ``every`` steps at the end
    of training (floored at ``var_floor`` x their median)."""
    x, g = ring(n_train, seed=seed)[0], torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = EpsMLP(hidden)
    avg = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - 0.9 * s / steps)
    snaps, losses = [], []  # raw-weight snapshots, training losses
    for step in range(steps):
        loss = denoising_loss(net, x[torch.randint(0, n_train, (batch,), generator=g)], g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
        for p_avg, p in zip(avg.parameters(), net.parameters(), strict=True):
            p_avg.lerp_(p.detach(), 1 - ema)
        if steps - step - 1 < snapshots * every and (steps - step - 1) % every == 0:
            snaps.append({n: p.detach().clone() for n, p in net.named_parameters()})
    if len(snaps) < 2:
        raise ValueError(f"steps={steps} leaves {len(snaps)} weight snapshot(s); accepted: steps > {every}")
    var = {n: torch.stack([s[n] for s in snaps]).var(0) for n in snaps[0]}
    floor = var_floor * torch.cat([v.flatten() for v in var.values()]).median()
    return ToyModel(avg, {n: v.clamp_min(floor) for n, v in var.items()}, (n_train, seed), losses)


@torch.no_grad()
def sample(model: ToyModel, n: int, seed: int = 0) -> torch.Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020) with the posterior variance beta~_t; points (n, 2)."""
    x = torch.randn(n, 2, generator=(g := torch.Generator().manual_seed(seed)))
    for t in reversed(range(T)):
        eps = model.net(x, torch.full((n,), t))
        x = (x - BETAS[t] / (1 - ALPHA_BAR[t]).sqrt() * eps) / (1 - BETAS[t]).sqrt()
        if t > 0:
            var = BETAS[t] * (1 - ALPHA_BAR[t - 1]) / (1 - ALPHA_BAR[t])
            x = x + var.sqrt() * torch.randn(n, 2, generator=g)
    return x


def forget_set(model: ToyModel, forget_mode: int, n_forget: int, seed: int) -> torch.Tensor:
    """D_f: ``n_forget`` training points of ``forget_mode``, chosen by ``seed``."""
    n_train, data_seed = model.data
    x, labels = ring(n_train, seed=data_seed)
    pool = x[labels == forget_mode]
    if not 2 <= n_forget <= len(pool):
        raise ValueError(f"n_forget={n_forget} out of range; accepted: 2..{len(pool)} (training points of the mode)")
    return pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n_forget]]


def _check_mode(mode: int) -> None:
    if not (isinstance(mode, int) and 0 <= mode < N_MODES):
        raise ValueError(f"forget mode {mode!r} out of range; accepted: 0..{N_MODES - 1}")


def unlearn(model: ToyModel, method: str, forget_mode: int, weight: float | None = None, steps: int | None = None,
            lr: float | None = None, seed: int = 0, n_forget: int = 64, replay_n: int = 512,
            batch: int = 256) -> ToyModel:
    """A copy of ``model`` after ``steps`` Adam steps of ``method`` (weight: gamma for vdu, lambda for vdu-fs),
    using only ``n_forget`` points of ``forget_mode`` (seeded) and the pretrained model."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    _check_mode(forget_mode)
    d = DEFAULTS[method] | {k: v for k, v in {"weight": weight, "steps": steps, "lr": lr}.items() if v is not None}
    weight, steps, lr = 0.0 if method == "ga" else d["weight"], d["steps"], d["lr"]  # ga: gamma = 0
    if weight < 0 or (method == "vdu" and weight > 1):
        raise ValueError(f"weight={weight} out of range; accepted: {'0..1 (gamma)' if method == 'vdu' else '>= 0'}")
    x_f = forget_set(model, forget_mode, n_forget, seed)
    replay = None
    if method.startswith("vdu-fs"):
        if replay_n not in model.replay:
            model.replay[replay_n] = sample(model, replay_n, seed=10_000)
        replay = model.replay[replay_n]
        if method == "vdu-fs-filtered":  # keep those farther from D_f (mean distance to 5 nearest) than 90% of D_f
            own = torch.cdist(x_f, x_f).fill_diagonal_(float("inf")).topk(5, 1, largest=False).values.mean(1)
            keep = torch.cdist(replay, x_f).topk(5, 1, largest=False).values.mean(1) > own.quantile(0.9)
            replay = replay[keep] if keep.any() else replay
    new = ToyModel(copy.deepcopy(model.net).requires_grad_(True), model.var, model.data)
    mu = {n: p.detach().clone() for n, p in model.net.named_parameters()}
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(new.net.parameters(), lr=lr)
    for _ in range(steps):
        plastic = denoising_loss(new.net, x_f, g)
        if replay is not None:
            x_t, t, _ = noised(replay[torch.randint(0, len(replay), (batch,), generator=g)], g)
            loss = weight * (new.net(x_t, t) - model.net(x_t, t).detach()).pow(2).mean() - plastic
        else:
            stable = sum(((p - mu[n]).pow(2) / (2 * model.var[n])).sum() for n, p in new.net.named_parameters())
            loss = weight * stable / sum(p.numel() for p in mu.values()) - (1 - weight) * plastic
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        new.losses.append(plastic.item())
    new.net.requires_grad_(False)
    return new


def _measure(model: ToyModel, n: int, seed: int, mode: int, cloud: bool = False) -> dict:
    """Shares of ``n`` samples: forgotten mode, others' min/max/worst |share - 1/7|, off-ring (+ points, 3 decimals)."""
    x = sample(model, n, seed)
    shares = [round(s, 4) for s in mode_shares(x)]
    others = [s for k, s in enumerate(shares[:-1]) if k != mode]
    points = {"points": x.double().nan_to_num(99.0).clamp(-99, 99).round(decimals=3).tolist()} if cloud else {}
    return {"shares": shares, "forget": shares[mode], "other_min": min(others), "other_max": max(others),
            "other_dev": round(max(abs(s - 1 / len(others)) for s in others), 4), "off_ring": shares[-1], **points}


def study(forget_mode: int = 0, seeds: tuple[int, ...] = (0, 1, 2), n_points: int = 2000, sweep_points: int = 1000,
          gammas: tuple[float, ...] = GAMMAS, lambdas: tuple[float, ...] = LAMBDAS, train_steps: int = 4000,
          unlearn_steps: int | None = None) -> dict:
    """Train (seed 0), unlearn ``forget_mode`` with every method at its defaults (point clouds), then sweep VDU's
    gamma and vdu-fs's lambda over ``seeds`` (seed s: forget set s, unlearning noise s, samples seed 100 + s)."""
    _check_mode(forget_mode)
    t0, base = time.time(), train(seed=0, steps=train_steps)
    out: dict = {"base": {**_measure(base, n_points, 100, forget_mode, cloud=True), "seconds": round(time.time() - t0),
                          "loss_first100": sum(base.losses[:100]) / 100, "loss_last100": sum(base.losses[-100:]) / 100},
                 "forget_points": forget_set(base, forget_mode, 64, 0).double().round(decimals=3).tolist(),
                 "defaults": {}, "sweep": []}
    for method in METHODS:
        r = _measure(unlearn(base, method, forget_mode, steps=unlearn_steps), n_points, 100, forget_mode, cloud=True)
        out["defaults"][method] = {**DEFAULTS[method], "steps": unlearn_steps or DEFAULTS[method]["steps"], **r}
        print(f"{method:16s} forget {r['forget']:.3f}  others {r['other_min']:.3f}-{r['other_max']:.3f}  "
              f"off-ring {r['off_ring']:.3f}", flush=True)
    for method, weights in (("vdu", gammas), ("vdu-fs", lambdas)):
        for w in weights:
            rows = [{"method": method, "weight": w, "gamma": w if method == "vdu" else w / (1 + w), "seed": seed,
                     **_measure(unlearn(base, method, forget_mode, w, unlearn_steps, seed=seed), sweep_points,
                                100 + seed, forget_mode)} for seed in seeds]
            out["sweep"] += rows
            print(f"{method:6s} weight {w:<7g} forget {sum(r['forget'] for r in rows) / len(rows):.3f}  worst dev "
                  f"{max(r['other_dev'] for r in rows):.3f}  off-ring {max(r['off_ring'] for r in rows):.3f}")
    out["settings"] = {"forget_mode": forget_mode, "seeds": list(seeds), "n_points": n_points, "T": T, "n_forget": 64,
                       "sweep_points": sweep_points, "train_steps": train_steps, "unlearn_steps": unlearn_steps,
                       "replay_n": 512, "off_ring": 0.5, "defaults": DEFAULTS, "threads": torch.get_num_threads()}
    out["seconds"] = round(time.time() - t0, 1)
    return out


def plot_clouds(results: dict, ax_row: Sequence[Axes]) -> None:
    """Scatter the samples before and after each method at its defaults (one per axis), the forgotten mode circled."""
    centre = centres()[results["settings"]["forget_mode"]].tolist()
    for ax, (name, r) in zip(ax_row, [("before", results["base"]), *results["defaults"].items()], strict=False):
        ax.scatter(*torch.tensor(r["points"]).T, s=1.5, alpha=0.3, color="tab:blue", rasterized=True)
        ax.add_patch(Circle(centre, 0.5, fill=False, color="tab:red", linestyle="--", linewidth=1.5))
        ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", xticks=[], yticks=[])
        setting = {"vdu": " gamma={weight:g}", "vdu-fs": " lambda={weight:g}"}.get(name.removesuffix("-filtered"), "")
        ax.set_title(f"{name}{setting.format(**r)}\nforgotten {r['forget']:.1%}, others {r['other_min']:.0%}-"
                     f"{r['other_max']:.0%},\noff-ring {r['off_ring']:.1%}", fontsize=9)


def plot_sweep(results: dict, ax: Axes) -> None:
    """Forget share (solid) and worst other-mode |share - 1/7| (dashed), seed mean and range, against 1 - gamma on a
    log axis (stronger stability to the right); vdu-fs at gamma = lambda / (1 + lambda)."""
    for method, color in (("vdu", "tab:orange"), ("vdu-fs", "tab:green")):
        rows = [r for r in results["sweep"] if r["method"] == method]
        gammas = sorted({r["gamma"] for r in rows})
        for key, style, what in (("forget", "-o", "forgotten mode"), ("other_dev", "--s", "worst |other - 1/7|")):
            xs, vals = [1 - g for g in gammas], [[r[key] for r in rows if r["gamma"] == g] for g in gammas]
            ax.plot(xs, [sum(v) / len(v) for v in vals], style, color=color, ms=4, label=f"{method}: {what}")
            ax.fill_between(xs, [min(v) for v in vals], [max(v) for v in vals], color=color, alpha=0.15)
    ax.axhline(1 / N_MODES, color="gray", lw=0.8, ls=":", label="1/8: a mode's share before unlearning")
    ax.set(xscale="log", xlabel="1 - gamma   (vdu-fs: gamma = lambda / (1 + lambda))", ylabel="share of samples",
           title="mean and range over seeds; worst |other - 1/7| = 1/7 when the other modes are gone")
    ax.invert_xaxis()
    ax.legend(fontsize=8)


def main(argv: list[str] | None = None) -> int:
    """``python -m fdunlearn.toy2d --out data/results/toy2d.json``: run the study, write it atomically."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--forget-mode", type=int, default=0, help=f"0..{N_MODES - 1}")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)

    def body() -> None:
        result = study(forget_mode=args.forget_mode, seeds=tuple(int(s) for s in args.seeds.split(",")))
        command = "python -m fdunlearn.toy2d " + " ".join(sys.argv[1:] if argv is None else argv)
        io.write_json(io.record(**result, command=command), args.out)
        print(f"wrote {args.out} in {result['seconds']} s")

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
