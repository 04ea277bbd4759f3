"""A prior over *functions* for VDU: the pretrained model's own samples, and the KL that keeps them.

VDU's stability term is a Gaussian prior over weights. ``vdu-fs`` replaces it with a prior over what
the network computes: on noised replay samples x_t (drawn once from the *pretrained* model, never from
the training set), the new reverse step p_theta(x_{t-1} | x_t) must stay close to the pretrained
p_0(x_{t-1} | x_t). Both are Gaussians with the same covariance (lesson 01), so

    KL(p_0 || p_theta) = kappa_t / 2 * ||eps_theta(x_t, t) - eps_0(x_t, t)||^2,

and with C_t = 1 in place of kappa_t / 2 (the "simple" weighting, as for the plasticity term) the
function-space stability term is the mean squared difference of the two noise predictions::

    S_fs(theta) = E_{x ~ p_0, t, eps} ||eps_theta(x_t, t) - eps_0(x_t, t)||^2 .

The data constraint of VDU still holds: the only training images used are the forget set D_f; the
pretrained model is available by assumption, and samples of it are not training data.

Replay samples of the forgotten class pull the model back towards drawing it. ``forget_like`` flags
them using nothing but D_f and the replay set itself: a replay sample is forget-like when D_f is about
as dense around it (k-nearest-neighbour pixel distances) as the replay set is.

``fs-redirect`` keeps S_fs and replaces VDU's gradient ascent by ``redirect_loss``, a regression that leads noised
forget images to kept replay samples (lesson 03, section 7.8).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.models import ddpm

REPLAY_STEPS = 25  # DDIM steps of the replay sampler (eta = 1, the course's sampler)
FILTER_K = 5  # neighbours averaged in the forget-like test
FILTER_RATIO = 1.1  # forget-like: D_f's k nearest at most this many times as far as the replay's own
# the sizes FILTER_K and FILTER_RATIO were set at (forget images, replay samples): the defaults' 100 and 512
FILTER_SIZES = (100, 512)
# where the forget-like test measures distances: raw pixels, or the pretrained network's own features
# (``denoiser_features``); the ratio means the same in both (lesson 03 section 7.27 audits them side by side)
FILTER_SPACES = ("pixels", "features")


def cache_path(model_sha256: str, n: int, seed: int, steps: int = REPLAY_STEPS) -> Path:
    """Where the replay set of one model, count, seed and sampler is cached (under ``outputs/replay``)."""
    return config.output_dir() / "replay" / f"{model_sha256[:16]}-n{n}-seed{seed}-ddim{steps}.safetensors"


def replay_set(unet: UNet2DModel, scheduler: DDPMScheduler, model_sha256: str, n: int, seed: int,
               steps: int = REPLAY_STEPS, progress: bool = False) -> tuple[torch.Tensor, dict]:
    """``n`` samples of the pretrained model (DDIM ``steps``, eta 1, ``seed``), drawn once and cached.

    Returns the images and a record (count, seed, steps, seconds spent drawing them, whether cached).
    """
    if n < 1:
        raise ValueError(f"replay count n={n}; accepted: an integer >= 1")
    path = cache_path(model_sha256, n, seed, steps)
    if path.is_file():
        return io.load_tensors(path)["images"], {"n": n, "seed": seed, "ddim_steps": steps, "cached": True,
                                                 "seconds": 0.0}
    t0 = time.time()
    images = ddpm.sample(unet, scheduler, n, seed=seed, steps=steps, progress=progress)
    seconds = round(time.time() - t0, 1)
    io.save_tensors({"images": images}, path, metadata={"model_sha256": model_sha256, "seconds": str(seconds)})
    return images, {"n": n, "seed": seed, "ddim_steps": steps, "cached": False, "seconds": seconds}


def _knn_distance(queries: torch.Tensor, refs: torch.Tensor, k: int, exclude_self: bool = False) -> torch.Tensor:
    """Mean pixel distance from each query to its ``k`` nearest reference images."""
    d = torch.cdist(queries.flatten(1), refs.flatten(1))
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    return d.topk(min(k, d.shape[1] - int(exclude_self)), dim=1, largest=False).values.mean(1)


@torch.no_grad()
def denoiser_features(unet: UNet2DModel, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """The pretrained network's bottleneck (its mid block's output) on clean ``images`` at t = 0, one row per image.

    The denoiser must tell a 3 from a 5 to draw either, so its innermost features separate the classes that pixel
    distance mixes (thin digits sit near everything): a representation the data constraint allows, since
    the pretrained model is available by assumption and nothing here looks at a label."""
    grabbed: list[torch.Tensor] = []
    hook = unet.mid_block.register_forward_hook(lambda _m, _i, out: grabbed.append(out.flatten(1).float().cpu()))
    try:
        for chunk in images.split(batch):
            chunk = chunk.to(unet.device, unet.dtype)
            unet(chunk, torch.zeros(len(chunk), dtype=torch.long, device=unet.device))
    finally:
        hook.remove()
    return torch.cat(grabbed)


def filter_space(unet: UNet2DModel, replay: torch.Tensor, x_forget: torch.Tensor,
                 space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The replay set and D_f as the forget-like test compares them in ``space`` (one of ``FILTER_SPACES``)."""
    if space not in FILTER_SPACES:
        raise ValueError(f"replay filter space {space!r}; accepted: {', '.join(FILTER_SPACES)}")
    if space == "pixels":
        return replay, x_forget
    return denoiser_features(unet, replay), denoiser_features(unet, x_forget)


def replay_neighbours(k: int, n_forget: int, n_replay: int) -> int:
    """How many replay neighbours ``forget_like`` averages: ``k`` scaled by the replay set's size relative to D_f's,
    against the sizes the test was set at (``FILTER_SIZES``), so that both radii hold the same share of their set as
    there. With ``k`` on both sides, a larger replay set sits denser around its own samples of the forgotten class,
    which then no longer look forget-like: at 2,048 replay samples (and 100 sevens or threes) the plain test kept
    about half of the digit's replay samples, at 512 about one in ten (lesson 03 section 7.7); with 10 forget images
    instead of 100 it dropped none of the 47 sevens among 512 replay samples (scaled: 34, with about as many others as
    at the defaults). A D_f smaller than ``k`` counts all its images, and so does the scaling."""
    if min(k, n_forget, n_replay) < 1:
        raise ValueError(f"k={k}, n_forget={n_forget}, n_replay={n_replay}; accepted: integers >= 1")
    forget_size, replay_size = FILTER_SIZES
    return max(1, round(min(k, n_forget) * (n_replay / n_forget) / (replay_size / forget_size)))


def forget_like(replay: torch.Tensor, x_forget: torch.Tensor, k: int = FILTER_K,
                ratio: float = FILTER_RATIO, k_replay: int | None = None) -> torch.Tensor:
    """Boolean mask of replay samples that look like D_f, using D_f alone (no classifier, no labels).

    A k-nearest-neighbour two-sample test: a replay sample is forget-like when its ``k`` nearest D_f images are
    at most ``ratio`` times as far as its ``k_replay`` nearest other replay samples, i.e. when D_f is at least as
    dense around it as the pretrained model's own samples are. A "1" sits among other "1"s of the replay set and far
    from every "7" of D_f, so it is kept; a "7" has D_f's sevens as near as the replay's few sevens. ``k_replay``
    (None: ``replay_neighbours``, which is ``k`` at the defaults' sizes) keeps the test's meaning when the replay
    set or D_f has another size.
    """
    to_forget, to_replay = _test_sides(replay, x_forget, k, k_replay)
    return to_forget <= ratio * to_replay


def forget_like_statistic(replay: torch.Tensor, x_forget: torch.Tensor, k: int = FILTER_K,
                          k_replay: int | None = None) -> torch.Tensor:
    """Per replay sample, ``forget_like``'s statistic: the mean distance to its ``k`` nearest D_f images over that to
    its ``k_replay`` nearest other replay samples (lower: more forget-like; the filter drops those <= its ratio)."""
    to_forget, to_replay = _test_sides(replay, x_forget, k, k_replay)
    return to_forget / to_replay


def _test_sides(replay: torch.Tensor, x_forget: torch.Tensor, k: int,
                k_replay: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two sides of the forget-like test, after checking the sets' sizes (``k_replay`` None: ``replay_neighbours``).
    """
    if len(x_forget) < 1 or len(replay) < 2:
        raise ValueError(f"the forget-like filter needs >= 1 forget image and >= 2 replay samples, "
                         f"got {len(x_forget)} and {len(replay)}")
    if k_replay is None:
        k_replay = replay_neighbours(k, len(x_forget), len(replay))
    return _filter_distances(replay, x_forget, k, k_replay)


def _filter_distances(replay: torch.Tensor, x_forget: torch.Tensor, k: int,
                      k_replay: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per replay sample: mean distance to its ``k`` nearest forget images, and to its ``k_replay`` (default ``k``)
    nearest other replay samples (the two sides of the forget-like test)."""
    return _knn_distance(replay, x_forget, k), _knn_distance(replay, replay, k_replay or k, exclude_self=True)


def borderline(replay: torch.Tensor, x_forget: torch.Tensor, n: int, k: int = FILTER_K) -> torch.Tensor:
    """Indices of the ``n`` replay samples that look most like D_f by ``forget_like``'s statistic (the ratio of the
    mean distance to their ``k`` nearest forget images over that to their ``k`` nearest other replay samples).

    Run on the kept (filtered) set, these are the *other* classes' samples just outside the filter: for threes the
    twos, fives and eights; for sevens the fours, nines and twos (the course classifier's count, lesson 03). The
    ascent on D_f disturbs them first, so S_fs can look at them more often. D_f and the replay set only, no labels.
    (Plain pixel distance would pick the ones: thin digits sit near everything.)
    """
    if n < 1 or len(x_forget) < 1 or len(replay) < 2:
        raise ValueError(f"borderline: n={n} with {len(x_forget)} forget and {len(replay)} replay image(s); accepted: "
                         "n >= 1, >= 1 forget image and >= 2 replay samples")
    to_forget, to_replay = _filter_distances(replay, x_forget, k)
    return (to_forget / to_replay).argsort()[:min(n, len(replay))]


def frozen_copy(unet: UNet2DModel) -> UNet2DModel:
    """A copy of the pretrained network that no optimiser touches (the function-space prior's mean)."""
    return copy.deepcopy(unet).eval().requires_grad_(False)


def function_stability(unet: UNet2DModel, frozen: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor,
                       g: torch.Generator) -> torch.Tensor:
    """S_fs = mean over images and pixels of ||eps_theta(x_t, t) - eps_0(x_t, t)||^2, t ~ U{0..T-1}.

    The KL between the pretrained and the new reverse steps at x_t (lesson 01), with C_t = 1.
    """
    x_t, t, _ = ddpm.noise_batch(scheduler, x0, g, unet.device)
    with torch.no_grad():
        target = frozen(x_t, t).sample
    return (unet(x_t, t).sample - target).pow(2).mean()


def redirect_loss(unet: UNet2DModel, scheduler: DDPMScheduler, x_forget: torch.Tensor, x_target: torch.Tensor,
                  g: torch.Generator, t_min: int) -> torch.Tensor:
    """The redirect plasticity term of ``fs-redirect``: a bounded regression instead of VDU's gradient ascent.

    A forget image is noised, x_t = sqrt(a_t) x_f + sqrt(1 - a_t) eps (Ho Eq. 4), and the network is trained to predict
    the noise that would make x_t a noised *replay* sample x_r instead: eps' = (x_t - sqrt(a_t) x_r) / sqrt(1 - a_t),
    so the reverse process started near D_f is led to a kept (not forget-like) sample of the pretrained model. Only
    t >= ``t_min`` is drawn: there sqrt(a_t / (1 - a_t)) stays moderate and the class of a sample is still open.
    Mean over images and pixels of ||eps_theta(x_t, t) - eps'||^2.
    """
    if not 0 <= t_min < ddpm.T_STEPS:
        raise ValueError(f"redirect t_min={t_min}; accepted: 0 <= t_min < {ddpm.T_STEPS}")
    x_t, t, _ = ddpm.noise_batch(scheduler, x_forget, g, unet.device, t_min)
    a = scheduler.alphas_cumprod.to(x_t)[t].view(-1, 1, 1, 1)
    target = (x_t - a.sqrt() * x_target[:len(x_forget)].to(x_t)) / (1 - a).sqrt()
    return (unet(x_t, t).sample - target).pow(2).mean()
