"""Class unlearning for unconditional DDPMs from the forget samples alone: VDU and its baselines.

Variational Diffusion Unlearning (Panda et al. 2026) minimises

    L = gamma * sum_i (theta_i - mu*_i)^2 / (2 sigma*_i^2)                  (stability regulariser)
        - (1 - gamma) * sum_{x in D_f} E_{t, eps} C_t ||eps - eps_theta(x_t, t)||^2   (plasticity inducer)

with a diagonal Gaussian prior N(mu*, diag sigma*^2) around the pretrained weights. Choices this
implementation makes where the paper leaves them open (all recorded in the output's record.json):

* **Normalisation.** The stability sum runs over ~10^5-10^6 parameters with tiny variances, the
  plasticity sum over a handful of images: raw, a useful gamma would sit at 1 - 1e-9. We use the
  *mean* over parameters of (theta - mu*)^2 / (2 sigma*^2) and the *mean* over forget images and
  pixels of C_t ||eps - eps_theta||^2, so both terms are O(1) per unit and gamma does not drift
  with the number of forget images. It still moves with the model: the mean's gradient on one weight
  scales as 1 / (number of weights), so a larger network needs a larger gamma (lesson 03 measures the
  edge between running away and no change at 0.65-0.7 on mnist-ddpm, 0.8-0.9 on the 2.2x larger
  mnist-ddpm-wide).
* **Prior.** ``checkpoints``: mu* = the pretrained (EMA) weights, sigma*^2 = the per-parameter
  variance of K raw-weight snapshots from the end of training (lesson 02's ``prior.safetensors``);
  ``fisher``: sigma*^2 proportional to 1 / (N F_i) from the diagonal Fisher (a Laplace
  approximation, the EWC-like variant). Taken literally, 1 / (N F) has a median ~10^11 times the
  snapshot variances (lesson 02's card: 1.4e5 vs 1.4e-6), which makes the stability term vanish
  and VDU-Fisher collapse to gradient ascent; we keep the Fisher's *shape* (which weights matter
  more) and rescale it to the snapshot variances' median, so one gamma means the same strength
  for both priors (EWC's lambda plays the same role). Both floored at ``var_floor`` x median.
  ``l2`` uses that same median for every weight (equal variances).
* **C_t.** ``elbo``: kappa_t / 2 from the noise schedule (lesson 01), normalised to mean 1 over t;
  ``uniform``: 1 (the simple loss).
* **Timesteps.** The plasticity term draws t ~ U{forget_t_min..T-1}; the paper's sum runs over every t (0, the
  default). A larger ``forget_t_min`` ascends only where a sample's class is still being decided.
* **Averaging.** ``ema`` > 0 saves an exponential moving average of the iterates instead of the last one
  (``fdunlearn.unlearning.averaging``: Adam's per-step jitter averaged out; off by default).
* **Stop.** The plasticity term is unbounded below, so the loop stops at a fixed step budget or
  as soon as the running forget loss exceeds ``stop_factor`` x its pretrained value.

``vdu-fs`` keeps VDU's plasticity term and replaces the weight prior by a prior over functions
(``fdunlearn.unlearning.replay``): L = fs_weight * S_fs - P (+ prior_weight * the weight prior), with S_fs the mean
squared difference between the new and the frozen pretrained model's noise predictions on noised samples
of the pretrained model itself. Under Adam only the ratio of the two terms matters, so fs_weight = lambda
is VDU's gamma = lambda / (1 + lambda) with the other stability term. The plasticity term still has no floor:
on some seeds the model starts to come apart after ~80 steps, which shows first as a jump of the forget loss, so
vdu-fs stops once its running forget loss exceeds ``FS_STOP_FACTOR`` x its start (``stop_at``).

Baselines on the same footing (same forget images, optimiser, steps): ``ga`` (gamma = 0,
gradient ascent alone), ``l2`` (equal variances: plain L2 to the pretrained weights) and
``salun`` (gradient ascent restricted to the most salient half of the weights by |grad| of the
forget loss, SalUn-style, plus the same L2 anchor).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel
from tqdm.auto import tqdm

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.datasets import images as data
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.theory import losses
from fdunlearn.unlearning import averaging, guide, replay

METHODS = ("vdu", "vdu-fs", "fs-redirect", "fs-guide", "ga", "l2", "salun")
FUNCTION_SPACE = ("vdu-fs", "fs-redirect", "fs-guide")  # the methods with the function-space stability term
# Per method, its settings off UnlearnConfig's defaults (vdu-fs's), read by the command line and lesson 03's tables.
# fs-redirect's lambda: probed on digits 7 and 3, seed 0, 256 samples, among 1, 10, 15, 20, 30 (section 7.8)
METHOD_DEFAULTS: dict[str, dict] = {"fs-redirect": {"fs_weight": 20.0}, "fs-guide": guide.DEFAULTS | guide.RUN}
PRIORS = ("checkpoints", "fisher")
WEIGHTINGS = ("elbo", "uniform")


@dataclass(frozen=True)
class UnlearnConfig:
    """Settings of one unlearning run (defaults in one place)."""

    method: str = "vdu"
    forget_class: int = 0
    n_forget: int = 100
    seed: int = 0
    gamma: float = 0.7  # lesson 03's sweep on mnist-ddpm: <= 0.6 collapses, 0.65 damages, >= 0.7 changes nothing
    prior: str = "checkpoints"
    weighting: str = "uniform"
    steps: int = 100
    lr: float = 1e-4
    batch_size: int = 32
    var_floor: float = 1e-2  # sigma*^2 >= var_floor x median(sigma*^2)
    stop_factor: float | None = None  # stop once the running forget loss exceeds this x its start (None: never,
    # except vdu-fs, which stops at FS_STOP_FACTOR: see ``stop_at``)
    salun_fraction: float = 0.5  # share of weights SalUn updates
    # vdu-fs only: the function-space stability term (fdunlearn.unlearning.replay)
    fs_weight: float = 10.0  # lambda on S_fs; the plasticity term has weight 1
    replay_n: int = 512  # samples of the pretrained model, drawn once and cached
    replay_seed: int = 0  # their seed (the same replay set for every run on one model)
    replay_filter: bool = True  # drop replay samples that look like D_f (uses D_f and the replay set only)
    replay_filter_ratio: float = replay.FILTER_RATIO  # the filter's distance ratio (larger drops more)
    replay_filter_space: str = "pixels"  # where it measures distances: replay.FILTER_SPACES
    prior_weight: float = 0.0  # optional weight of VDU's parameter-space prior on top of S_fs
    # fs-redirect only: the plasticity term leads noised forget images to replay samples (replay.redirect_loss)
    redirect_t_min: int = 200  # smallest timestep index drawn for the redirect term
    forget_t_min: int = 0  # smallest timestep index of the plasticity term (ascent only where the class is decided)
    # vdu-fs: half of each S_fs batch drawn from the replay_near kept replay samples most like D_f (0: all uniform);
    # the other classes' samples the ascent disturbs most (replay.borderline, from D_f and the replay set only)
    replay_near: int = 0
    # fs-guide only: the strength of the Bayes correction (1: the exact posterior; guide.correction), applied at
    # forget_t_min <= t < guide_t_max
    guide_scale: float = 1.0
    guide_t_max: int = 1000
    # fs-guide only: noise D_f only inside that band, where its target differs from the pretrained prediction
    # (False: at forget_t_min <= t < 1000, the steps above the band holding D_f's noised images where they were)
    guide_band_only: bool = False
    # fs-guide only: below guide_gate_t the correction acts only where its posterior w >= guide_gate_w (0: no gate;
    # guide.Reference): with forget_t_min below the gate, a change below the band on what reads as the class there
    guide_gate_t: int = 0
    guide_gate_w: float = guide.Reference.gate_w
    # every method: save an EMA of the weights with this decay instead of the last iterate (0: the last iterate;
    # fdunlearn.unlearning.averaging)
    ema: float = 0.0


# vdu-fs's runaway guard. On mnist-ddpm its forget loss stays near its start while the class fades, then on some
# seeds jumps within ten steps as the model starts to come apart (lesson 03, section 7): stop as that jump begins.
FS_STOP_FACTOR = 1.5


def stop_at(cfg: UnlearnConfig) -> float | None:
    """The stop factor a run uses: ``cfg.stop_factor``, or ``FS_STOP_FACTOR`` for vdu-fs when it is None."""
    if cfg.stop_factor is None and cfg.method == "vdu-fs":
        return FS_STOP_FACTOR
    return cfg.stop_factor


def check(cfg: UnlearnConfig, n_available: int) -> None:
    """Raise a ValueError naming the bad value and the accepted ones."""
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; accepted: {', '.join(METHODS)}")
    if cfg.prior not in PRIORS:
        raise ValueError(f"unknown prior {cfg.prior!r}; accepted: {', '.join(PRIORS)}")
    if cfg.weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {cfg.weighting!r}; accepted: {', '.join(WEIGHTINGS)}")
    if not (isinstance(cfg.forget_class, int) and 0 <= cfg.forget_class <= 9):
        raise ValueError(f"forget class {cfg.forget_class!r} out of range; accepted: 0..9")
    if not 1 <= cfg.n_forget <= n_available:
        raise ValueError(f"n_forget={cfg.n_forget} out of range; accepted: 1..{n_available} "
                         f"(training images of class {cfg.forget_class})")
    if not 0.0 <= cfg.gamma <= 1.0:
        raise ValueError(f"gamma={cfg.gamma} out of range; accepted: 0 <= gamma <= 1")
    if cfg.steps < 1:
        raise ValueError(f"steps={cfg.steps}; accepted: a positive integer")
    if not (isinstance(cfg.replay_filter_ratio, int | float) and math.isfinite(cfg.replay_filter_ratio)
            and cfg.replay_filter_ratio > 0):
        raise ValueError(f"replay_filter_ratio={cfg.replay_filter_ratio!r}; accepted: a finite number > 0 "
                         f"(default {replay.FILTER_RATIO:g})")
    if cfg.replay_filter_space not in replay.FILTER_SPACES:
        raise ValueError(f"replay_filter_space={cfg.replay_filter_space!r}; accepted: "
                         + ", ".join(replay.FILTER_SPACES))
    for name in ("fs_weight", "prior_weight", "lr", "guide_scale"):
        value = getattr(cfg, name)
        low = 0.0 if name != "lr" else 1e-12
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
            raise ValueError(f"{name}={value!r}; accepted: a finite number {'>' if name == 'lr' else '>='} 0")
    for name, top in (("redirect_t_min", ddpm.T_STEPS - 1), ("forget_t_min", ddpm.T_STEPS - 1),
                      ("guide_t_max", ddpm.T_STEPS)):
        value = getattr(cfg, name)
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top):
            raise ValueError(f"{name}={value!r}; accepted: an integer 0..{top}")
    if cfg.method == "fs-guide" and cfg.guide_t_max <= cfg.forget_t_min:
        raise ValueError(f"guide_t_max={cfg.guide_t_max} <= forget_t_min={cfg.forget_t_min}: fs-guide would change "
                         "nothing; accepted: guide_t_max > forget_t_min")
    guide.check_gate(cfg.guide_gate_t, cfg.guide_gate_w)
    if not isinstance(cfg.guide_band_only, bool):
        raise ValueError(f"guide_band_only={cfg.guide_band_only!r}; accepted: True or False")
    averaging.check_decay(cfg.ema)
    if cfg.replay_n < 1:
        raise ValueError(f"replay_n={cfg.replay_n}; accepted: an integer >= 1 (samples of the pretrained model)")
    if not (isinstance(cfg.replay_near, int) and not isinstance(cfg.replay_near, bool) and cfg.replay_near >= 0):
        raise ValueError(f"replay_near={cfg.replay_near!r}; accepted: an integer >= 0 (0: S_fs draws its batch "
                         "uniformly from the kept replay samples)")


def forget_set(dataset: str, cfg: UnlearnConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n_forget`` training images of the forget class chosen by the seed, and their indices."""
    train = data.load(dataset, "train", verbose=False)
    idx = torch.nonzero(train.labels == cfg.forget_class).flatten()
    check(cfg, len(idx))
    chosen = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.n_forget]]
    return train.images[chosen], chosen


def needs_prior(cfg: UnlearnConfig) -> bool:
    """True when a run uses the weight prior (``prior.safetensors``): the published VDU, L2 and SalUn with gamma > 0,
    and a function-space method with ``prior_weight`` > 0. Gradient ascent and the function-space methods alone do
    not, so they also run on a model folder that holds only its weights (e.g. mnist-ddpm-large's)."""
    if cfg.method in FUNCTION_SPACE:
        return cfg.prior_weight > 0
    return cfg.method != "ga" and cfg.gamma > 0


def prior_variances(folder: Path, unet: UNet2DModel, cfg: UnlearnConfig, n_train: int) -> dict[str, torch.Tensor]:
    """sigma*^2 per parameter: checkpoint variances, Fisher-Laplace, or all ones (``l2``, ``salun``)."""
    names = [n for n, _ in unet.named_parameters()]
    if not (folder / "prior.safetensors").is_file():
        raise FileNotFoundError(
            f"method {cfg.method!r} (gamma={cfg.gamma:g}, prior_weight={cfg.prior_weight:g}) needs the weight prior "
            f"{folder / 'prior.safetensors'}, which this model folder lacks; accepted: a folder written by `train` "
            f"(it writes the prior), or a run without the prior: {', '.join(FUNCTION_SPACE)} with prior_weight 0, "
            "or ga")
    tensors = io.load_tensors(folder / "prior.safetensors")
    snapshots = {n: tensors[f"var.{n}"] for n in names}
    scale = _median(snapshots)
    if cfg.method in ("l2", "salun"):
        return {n: torch.full_like(p, scale.item()) for n, p in unet.named_parameters()}
    if cfg.prior == "checkpoints":
        var = snapshots
    else:
        fisher = io.load_tensors(folder / "fisher.safetensors")
        laplace = {n: 1.0 / (n_train * fisher[n]).clamp_min(1e-30) for n in names}
        factor = scale / _median(laplace)
        var = {n: v * factor for n, v in laplace.items()}
    median = _median(var)
    device = next(unet.parameters()).device  # the files load on the CPU; the weights may sit on a GPU
    return {n: v.clamp_min(cfg.var_floor * median).to(device) for n, v in var.items()}


def _median(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten() for v in tensors.values()]).median()


def forget_loss(unet: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor, g: torch.Generator,
                weights: torch.Tensor | None, t_min: int = 0) -> torch.Tensor:
    """The plasticity term's sum, normalised: mean over images and pixels of C_t ||eps - eps_theta(x_t, t)||^2,
    t ~ U{t_min..T-1}."""
    return ddpm.diffusion_loss(unet, scheduler, x0, g, weights, t_min)


def elbo_weights(scheduler: DDPMScheduler) -> torch.Tensor:
    """C_t = kappa_t / 2 (the ELBO's weight on the eps error, lesson 01), normalised to mean 1 over t."""
    w = losses.kappa(scheduler, torch.arange(ddpm.T_STEPS), "beta") / 2
    return w / w.mean()


def stability(unet: UNet2DModel, mu: dict[str, torch.Tensor], var: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over parameters of (theta_i - mu*_i)^2 / (2 sigma*_i^2) (the stability sum, normalised)."""
    total, count = 0.0, 0
    for name, p in unet.named_parameters():
        total = total + ((p - mu[name]).pow(2) / (2 * var[name])).sum()
        count += p.numel()
    return total / count


def salun_mask(unet: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor, fraction: float,
               seed: int) -> dict[str, torch.Tensor]:
    """SalUn-style saliency: keep the ``fraction`` of weights with the largest |grad| of the forget loss."""
    unet.zero_grad(set_to_none=True)
    forget_loss(unet, scheduler, x0, torch.Generator().manual_seed(seed + 99), None).backward()
    grads = {n: p.grad.abs() for n, p in unet.named_parameters()}
    threshold = torch.quantile(torch.cat([g.flatten() for g in grads.values()])[:2**24], 1 - fraction)
    unet.zero_grad(set_to_none=True)
    return {n: (g >= threshold).float() for n, g in grads.items()}


def is_output(folder: Path) -> bool:
    """True for a model folder that ``unlearn`` wrote (the only non-empty folder it may replace)."""
    try:
        rec = models.read_record(folder)
    except (OSError, ValueError):
        return False
    return rec.get("kind") == "ddpm" and "unlearn" in rec


def function_prior(unet: UNet2DModel, scheduler: DDPMScheduler, sha256: str, x_forget: torch.Tensor,
                   cfg: UnlearnConfig) -> dict:
    """vdu-fs's ingredients: the frozen pretrained network and its (cached, optionally filtered) replay samples."""
    images, rec = replay.replay_set(unet, scheduler, sha256, cfg.replay_n, cfg.replay_seed)
    ref, kept_index = None, None
    if cfg.replay_filter or cfg.method == "fs-guide":
        keep = ~replay.forget_like(*replay.filter_space(unet, images, x_forget, cfg.replay_filter_space),
                                   ratio=cfg.replay_filter_ratio)
        rec = rec | {"kept": int(keep.sum()), "dropped_forget_like": int((~keep).sum())}
        if cfg.method == "fs-guide":
            ref = guide.reference(x_forget, images, ~keep, cfg.guide_gate_t, cfg.guide_gate_w)
            kept_index = ref.kept_index if not cfg.replay_filter else torch.arange(int(keep.sum()))
        if cfg.replay_filter:
            images = images[keep] if keep.any() else images
    near = None
    if cfg.replay_near:
        near = replay.borderline(images, x_forget, cfg.replay_near)
        rec = rec | {"near": len(near)}
    return {"frozen": replay.frozen_copy(unet), "images": images, "near": near, "record": rec, "guide": ref,
            "kept_index": kept_index}


def _stability_batch(fs: dict, n: int, g: torch.Generator) -> torch.Tensor:
    """Indices of one S_fs batch of ``n`` kept replay samples: uniform, or half from ``fs["near"]``."""
    n = min(n, len(fs["images"]))
    if fs["near"] is None:
        return torch.randint(0, len(fs["images"]), (n,), generator=g)
    half = n // 2
    near = fs["near"][torch.randint(0, len(fs["near"]), (half,), generator=g)]
    return torch.cat([near, torch.randint(0, len(fs["images"]), (n - half,), generator=g)])


def unlearn(model: str | Path, cfg: UnlearnConfig, out: str | Path, progress: bool = True,
            on_step: Callable[[int, UNet2DModel], None] | None = None) -> Path:
    """Run one unlearning method on a DDPM model folder; write a model folder that ``sample`` reads.

    ``on_step(step, unet)`` is called after every optimiser step (e.g. to snapshot the weights; the iterate, not
    its average when ``cfg.ema`` > 0).
    """
    folder = models.resolve(model, kind="ddpm")
    validate.output_folder(out, previous=is_output, inputs={"--model": folder},
                           what="a previous `unlearn` output (it is replaced)")
    unet, scheduler, base = models.load_ddpm(model)
    dataset = base["recipe"]["dataset"]
    x_forget, chosen = forget_set(dataset, cfg)
    config.seed_everything(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    mu = {n: p.detach().clone() for n, p in unet.named_parameters()}
    n_train = len(data.load(dataset, "train", verbose=False))
    var = prior_variances(folder, unet, cfg, n_train) if needs_prior(cfg) else {}
    gamma = 0.0 if cfg.method == "ga" else cfg.gamma
    weights = elbo_weights(scheduler) if cfg.weighting == "elbo" else None
    mask = salun_mask(unet, scheduler, x_forget, cfg.salun_fraction, cfg.seed) if cfg.method == "salun" else None
    fs = function_prior(unet, scheduler, base["sha256"], x_forget, cfg) if cfg.method in FUNCTION_SPACE else None
    unet.train().requires_grad_(True)
    opt = torch.optim.Adam(unet.parameters(), lr=cfg.lr)
    average = averaging.WeightAverage(unet, cfg.ema) if cfg.ema > 0 else None
    with torch.no_grad():
        start = forget_loss(unet, scheduler, x_forget[:64], torch.Generator().manual_seed(1), None,
                            cfg.forget_t_min).item()
    log, running, t0, stop = [], start, time.time(), stop_at(cfg)
    bar = tqdm(range(cfg.steps), desc=f"unlearn {cfg.method}", disable=not progress)
    for step in bar:
        idx = torch.randint(0, len(x_forget), (min(cfg.batch_size, len(x_forget)),), generator=g)
        if cfg.method == "fs-redirect":  # a bounded term towards replay samples instead of ascent
            tidx = torch.randint(0, len(fs["images"]), (len(idx),), generator=g)
            plastic = replay.redirect_loss(unet, scheduler, x_forget[idx], fs["images"][tidx], g, cfg.redirect_t_min)
        elif cfg.method == "fs-guide":  # a regression to the Bayes-corrected pretrained prediction on noised D_f
            plastic = guide.guided_loss(unet, fs["frozen"], scheduler, x_forget[idx], g, fs["guide"], cfg.guide_scale,
                                        cfg.forget_t_min, cfg.guide_t_max, cfg.forget_t_min, self_f=idx,
                                        noise_t_max=cfg.guide_t_max if cfg.guide_band_only else ddpm.T_STEPS)
        else:
            plastic = forget_loss(unet, scheduler, x_forget[idx], g, weights, cfg.forget_t_min)
        if fs is not None:  # vdu-fs: L = lambda S_fs - P; fs-redirect: L = lambda S_fs + R (+ the weight prior)
            ridx = _stability_batch(fs, cfg.batch_size, g)
            if cfg.method == "fs-guide":  # the same corrected target on the replay samples (S_fs where it is off)
                stable = guide.guided_loss(unet, fs["frozen"], scheduler, fs["images"][ridx], g, fs["guide"],
                                           cfg.guide_scale, cfg.forget_t_min, cfg.guide_t_max,
                                           self_k=fs["kept_index"][ridx])
            else:
                stable = replay.function_stability(unet, fs["frozen"], scheduler, fs["images"][ridx], g)
            loss = cfg.fs_weight * stable + (-plastic if cfg.method == "vdu-fs" else plastic)
            if cfg.prior_weight > 0:
                loss = loss + cfg.prior_weight * stability(unet, mu, var)
        else:
            stable = stability(unet, mu, var) if gamma > 0 else torch.zeros(())
            loss = gamma * stable - (1 - gamma) * plastic
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if mask is not None:
            for n, p in unet.named_parameters():
                p.grad.mul_(mask[n])
        opt.step()
        if average is not None:
            average.update(unet)
        running = 0.9 * running + 0.1 * plastic.item()
        log.append({"step": step + 1, "loss": loss.item(), "forget": plastic.item(), "stability": stable.item()})
        bar.set_postfix(forget=f"{running:.3f}")
        if on_step is not None:
            on_step(step + 1, unet)
        if stop is not None and running > stop * start:
            break
    bar.close()
    unet.eval().requires_grad_(False)
    if average is not None:
        average.copy_to(unet)
    out = Path(out)
    with io.atomic_dir(out) as tmp:
        unet.save_pretrained(tmp / "unet", safe_serialization=True)
        scheduler.save_pretrained(tmp / "scheduler")
        io.write_json(io.record(kind="ddpm", base_model=str(model), base_sha256=base["sha256"],
                                recipe=base["recipe"], data_source=base.get("data_source"),
                                unlearn=asdict(cfg), steps_run=len(log), forget_loss_start=start,
                                seconds=round(time.time() - t0, 1), forget_indices=chosen.tolist(), log=log,
                                replay=None if fs is None else fs["record"], stop_factor_used=stop,
                                sha256=io.sha256(tmp / "unet" / "diffusion_pytorch_model.safetensors")),
                      tmp / "record.json")
    return out
