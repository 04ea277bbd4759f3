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

from fdunlearn import classifier, config, data, ddpm, io, metrics, models, plots

FILES = {"ddpm": ["unet", "scheduler", "prior.safetensors", "fisher.safetensors", "record.json",
                  "train_log.jsonl"],
         "classifier": [classifier.WEIGHTS, "record.json"]}


def _copy(run: Path, dest: Path, kind: str) -> None:
    with io.atomic_dir(dest) as tmp:
        for name in FILES[kind]:
            src = run / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.exists():
                shutil.copy2(src, tmp / name)


def ddpm_quality(name: str, n: int = 1000, steps: int = 50, seed: int = 0) -> dict:
    """Sample ``n`` images with DDIM, score them, time 256 samples, and score real images alike."""
    unet, sched, rec = models.load_ddpm(name)
    dataset = rec["recipe"]["dataset"]
    t0 = time.time()
    ddpm.sample(unet, sched, 256, seed=seed + 1, steps=steps, progress=False)
    seconds_256 = time.time() - t0
    images = ddpm.sample(unet, sched, n, seed=seed, steps=steps)
    report = metrics.evaluate(dataset, images)
    real = metrics.real_reference(dataset, n)
    return {"dataset": dataset, "n": n, "ddim_steps": steps, "seed": seed,
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
- Hardware: {rec.get('hardware', io.hardware())}; torch {rec.get('torch_version', 'see pyproject.toml')}
- Wall time (training loop): {rec['train_seconds'] / 3600:.2f} h; final loss (mean of the last
  {rec['recipe']['checkpoint_every']} steps): {rec['final_loss']:.4f}
- SHA-256 of `unet/diffusion_pytorch_model.safetensors` (checked by the loader): `{rec['sha256']}`
- `prior.safetensors`: per-parameter mean and variance of {rec['prior_snapshots']} raw-weight
  snapshots taken every {rec['recipe']['prior_every']} steps at the end of training (VDU's prior);
  `fisher.safetensors`: empirical diagonal Fisher from {rec['recipe']['fisher_samples']} per-image
  gradients of the training loss (the Laplace / EWC alternative).

## Quality (evaluation kit, {q['n']} samples, DDIM {q['ddim_steps']} steps, seed {q['seed']})

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

![samples](samples.png)
"""


def _classifier_card(dest: Path, name: str, command: str) -> str:
    rec = models.read_record(dest)
    params = sum(p.numel() for p in classifier.load(name).parameters())
    return f"""# {name}

Small CNN ({params:,} parameters) trained by this project on {rec['data_source']} (fixed train split);
its penultimate features ({rec['recipe']['feature_dim']}-d) feed the course's FID and KID.

- Command: `{command}`
- Recipe: `{json.dumps(rec['recipe'])}`
- Hardware: {rec.get('hardware', io.hardware())}; wall time {rec['train_seconds'] / 60:.1f} min
- Held-out accuracy: **{rec['heldout_accuracy']:.2%}** on {rec['heldout_size']} images
- SHA-256 of `{classifier.WEIGHTS}` (checked by the loader): `{rec['sha256']}`
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
    else:
        text = _classifier_card(dest, name, command)
    (dest / "README.md").write_text(text)
    print(text)
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True, type=Path, help="a finished training folder")
    p.add_argument("--name", required=True, choices=[n for n, k in models.SHIPPED.items() if k in FILES])
    p.add_argument("--command", required=True, help="the exact command that trained the run")
    args = p.parse_args()
    ship(args.run, args.name, args.command)


if __name__ == "__main__":
    main()
