"""Weight-free erasure benchmark (lesson 05): our eraser vs the two-UNet approach, on Stable Diffusion v1.4's UNet.

``python -m fdunlearn.bench [--device cuda] [--batch 4] [--precision fp16] [--gradient-checkpointing]``

A randomly initialised ``UNet2DConditionModel`` with Stable Diffusion v1.4's exact configuration (written below;
nothing is downloaded) runs the erasure step of ``fdunlearn.erasure.erase`` (``erase_step.ErasureStep``, closed-form
MSE) at batch 4 on 64x64 latents (512x512 images) with the cross-attention K/V trainable, twice, in one process:

* **ours**: the frozen prediction eps_orig(x_t, c, t) is the same UNet with the original K/V swapped in
  (``torch.func.functional_call``); the extra memory is one copy of K/V (19 M parameters);
* **two UNets**: the straightforward approach, a frozen deep copy of the whole UNet for that prediction.

It prints steps per second and peak GPU memory (``torch.cuda.max_memory_allocated``) side by side. Random weights
change neither the compute nor the memory of a step, so the figures hold for the real model. ``--tiny`` uses a
scaled-down UNet of the same structure, so a CPU (CI) runs it in seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import asdict, dataclass

import torch

from fdunlearn import files as io
from fdunlearn import validate
from fdunlearn.erasure import step as erase_step
from fdunlearn.erasure import weights as erase_params
from fdunlearn.models import tiny_sd

# Stable Diffusion v1.4's UNet (CompVis/stable-diffusion-v1-4, unet/config.json), 859.5 M parameters
SD14_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2, "downsample_padding": 1,
    "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-5,
    "cross_attention_dim": 768, "attention_head_dim": 8,
}
SD14_TEXT = (77, 768)  # CLIP ViT-L/14 text conditioning: tokens x width
TINY_TEXT = (77, tiny_sd.TEXT_WIDTH)
METHODS = {"swap": "ours (swap in original K/V)", "copy": "two UNets (frozen deep copy)"}


@dataclass
class Row:
    method: str
    steps_per_second: float
    seconds_per_step: float
    peak_gib: float | None  # None on the CPU


MAX_BATCH, MAX_LATENT, MAX_STEPS = 1024, 512, 100_000


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the options (ValueError naming the bad one); warns when the full-size UNet would run on a
    CPU. ``--json`` is checked here, before any work: not a folder, writable, and not an existing file unless
    ``--overwrite``."""
    p = validate.ArgumentParser(prog="python -m fdunlearn bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    p.add_argument("--tiny", action="store_true", help="a scaled-down UNet of the same structure (CI)")
    p.add_argument("--batch", type=validate.integer(1, MAX_BATCH), default=4, help=f"1..{MAX_BATCH} (default 4)")
    p.add_argument("--latent", type=validate.integer(8, MAX_LATENT),
                   help=f"latent size, a multiple of 8 in 8..{MAX_LATENT} (default 64: 512x512 images; --tiny: 8)")
    p.add_argument("--steps", type=validate.integer(1, MAX_STEPS), default=10,
                   help=f"timed steps per method, 1..{MAX_STEPS} (default 10)")
    p.add_argument("--warmup", type=validate.integer(0, MAX_STEPS), default=2,
                   help=f"untimed steps per method first, 0..{MAX_STEPS} (default 2)")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                   help="fp16/bf16: frozen weights in that dtype, K/V float32, autocast (auto: fp16 on CUDA)")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--attention", choices=("sdpa", "classic"), default="sdpa",
                   help="torch scaled_dot_product_attention (diffusers' default) or the classic processor")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.add_argument("--json", help="also write the results to this JSON file (refused when it exists, unless "
                   "--overwrite; a folder or an unwritable place is refused before the benchmark runs)")
    p.add_argument("--overwrite", action="store_true", help="replace --json if it exists")
    args = p.parse_args(argv)
    if args.device not in ("cuda", "cpu"):
        raise ValueError(f"unknown device {args.device!r}; accepted: cuda, cpu")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available; accepted here: cpu (with --tiny)")
    if args.precision == "auto":
        args.precision = "fp16" if args.device == "cuda" else "fp32"
    if args.device == "cpu" and args.precision == "fp16":
        raise ValueError("--precision fp16 needs CUDA; accepted on the CPU: fp32, bf16")
    if args.latent is None:
        args.latent = tiny_sd.TINY_UNET["sample_size"] if args.tiny else 64
    elif args.latent % 8:
        raise ValueError(f"--latent {args.latent}; accepted: a multiple of 8 in 8..{MAX_LATENT} (the UNet halves it "
                         "three times)")
    if args.json is not None:
        args.json = str(validate.output_file(args.json, suffix=".json", overwrite=args.overwrite, option="--json"))
    if args.device == "cpu" and not args.tiny:
        warnings.warn("the full Stable Diffusion v1.4 UNet (860 M parameters) on the CPU is slow: expect minutes "
                      "per step; pass --tiny for a quick check or run it on a CUDA GPU", UserWarning, stacklevel=2)
    return args


def build_unet(args: argparse.Namespace):
    """The randomly initialised UNet, frozen weights in the benchmark's dtype, on the device."""
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor

    torch.manual_seed(args.seed)
    unet = UNet2DConditionModel(**(tiny_sd.TINY_UNET if args.tiny else SD14_UNET))
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    unet = unet.to(args.device).eval()
    if dtype != torch.float32:
        unet = unet.to(dtype)
    if args.attention == "classic":
        unet.set_attn_processor(AttnProcessor())
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return unet


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_method(unet, scheduler, frozen: str, args: argparse.Namespace) -> Row:
    """Time ``args.steps`` erasure steps with the given frozen-model strategy; peak memory on CUDA."""
    trainable = erase_params.select(unet, "kv")
    original = erase_params.snapshot(trainable)
    if args.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    objective = erase_step.ClosedForm("mse", {}, scaling="reference", temperature=1.0, scheduler=scheduler)
    step = erase_step.ErasureStep(unet, trainable, scheduler, objective, lr=2.8e-4, frozen=frozen,
                                  precision="no" if args.precision == "fp32" else args.precision)
    g = torch.Generator().manual_seed(args.seed)
    tokens, width = TINY_TEXT if args.tiny else SD14_TEXT
    shape = (args.batch, unet.config.in_channels, args.latent, args.latent)

    def batch():
        x_t = torch.randn(shape, generator=g).to(args.device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (args.batch,), generator=g).to(args.device)
        cond_t, cond_a = (torch.randn(args.batch, tokens, width, generator=g).to(args.device) for _ in range(2))
        return x_t, t, cond_t, cond_a

    for _ in range(args.warmup):
        step(*batch())
    inputs = [batch() for _ in range(args.steps)]
    _sync(args.device)
    t0 = time.perf_counter()
    for b in inputs:
        step(*b)
    _sync(args.device)
    seconds = (time.perf_counter() - t0) / args.steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None
    step.release()
    erase_params.apply_weights(unet, original)
    del step
    return Row(METHODS[frozen], 1.0 / seconds, seconds, peak)


def format_table(rows: list[Row], header: str) -> str:
    lines = [header, f"{'method':<32} {'steps/s':>9} {'s/step':>9} {'peak GPU memory':>16}"]
    for r in rows:
        peak = "n/a (CPU)" if r.peak_gib is None else f"{r.peak_gib:.2f} GiB"
        lines.append(f"{r.method:<32} {r.steps_per_second:>9.3f} {r.seconds_per_step:>9.3f} {peak:>16}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (and write ``--json``). Returns 0, or 2 with ``error: ...`` on bad
    options (every option and the ``--json`` path are checked before the benchmark runs)."""
    return validate.run(lambda: _run(parse(argv)),
                        interrupted="interrupted: the benchmark stopped before its table; nothing was written")


def _run(args: argparse.Namespace) -> None:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(**{k: v for k, v in tiny_sd.SD_SCHEDULE.items()
                                 if k not in ("set_alpha_to_one", "skip_prk_steps")})
    unet = build_unet(args)
    n_params = sum(p.numel() for p in unet.parameters())
    n_kv = sum(p.numel() for p in erase_params.select(unet, "kv").values())
    rows = [run_method(unet, scheduler, frozen, args) for frozen in METHODS]
    device = io.machine() if args.device == "cuda" else "CPU"
    header = (f"erasure step, {'tiny SD-structured' if args.tiny else 'Stable Diffusion v1.4'} UNet "
              f"({n_params / 1e6:.1f} M parameters, K/V trainable: {n_kv / 1e6:.2f} M) on {device}\n"
              f"batch {args.batch}, latents {SD14_UNET['in_channels']}x{args.latent}x{args.latent}, "
              f"{args.precision}, {args.attention} attention, gradient checkpointing "
              f"{'on' if args.gradient_checkpointing else 'off'}, {args.steps} timed steps after {args.warmup}")
    print(format_table(rows, header))
    if args.json:
        io.write_json(io.record(kind="bench", options=vars(args), n_parameters=n_params, n_trainable=n_kv,
                                rows=[asdict(r) for r in rows]), args.json)


if __name__ == "__main__":
    sys.exit(main())
