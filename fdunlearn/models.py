"""Model folders: shipped short names, resolution, records, and loading with SHA-256 checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fdunlearn import config, io

SHIPPED = {
    "mnist-ddpm": "ddpm",
    "cifar10-ddpm": "ddpm",
    "mnist-classifier": "classifier",
    "cifar10-classifier": "classifier",
    "minisd": "pipeline",
}


def resolve(name_or_dir: str | Path, kind: str | None = None) -> Path:
    """Turn a shipped short name or a folder path into an existing model folder.

    Raises ValueError for a name that is neither, and FileNotFoundError for a shipped name whose
    files are missing (with the command that rebuilds them).
    """
    key = str(name_or_dir)
    if key in SHIPPED:
        if kind is not None and SHIPPED[key] != kind:
            accepted = [n for n, k in SHIPPED.items() if k == kind]
            raise ValueError(f"model {key!r} is a {SHIPPED[key]}, not a {kind}; accepted: "
                             f"{', '.join(accepted)} or a model folder")
        folder = config.CHECKPOINT_DIR / key
        if not (folder / "record.json").is_file():
            raise FileNotFoundError(
                f"shipped model {key!r} is missing from {folder}; rebuild it with "
                f"`python -m fdunlearn train --recipe {key} --out {folder}`")
        return folder
    folder = Path(name_or_dir).expanduser()
    if folder.is_dir() and (folder / "record.json").is_file():
        return folder
    shipped = [n for n, k in SHIPPED.items() if kind in (None, k)]
    raise ValueError(f"unknown model {key!r}: not a shipped name ({', '.join(shipped)}) "
                     f"nor a model folder with a record.json")


def read_record(folder: str | Path) -> dict[str, Any]:
    """The JSON record of how a model folder was made."""
    return json.loads((Path(folder) / "record.json").read_text())


def load_ddpm(name_or_dir: str | Path):
    """Load a DDPM model folder: (UNet2DModel in eval mode, DDPMScheduler, record)."""
    from diffusers import DDPMScheduler, UNet2DModel

    folder = resolve(name_or_dir, kind="ddpm")
    rec = read_record(folder)
    io.verify_sha256(folder / "unet" / "diffusion_pytorch_model.safetensors", rec["sha256"])
    unet = UNet2DModel.from_pretrained(folder / "unet").to(config.device()).eval()
    scheduler = DDPMScheduler.from_pretrained(folder / "scheduler")
    return unet, scheduler, rec
