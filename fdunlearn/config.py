"""Course-wide settings in one place: run mode, device, seeding, paths, offline switch.

Full mode is the real experiment; fast mode (``FDUNLEARN_FAST=1``) runs the same code path
with tiny sizes, for tests and CI. Both are read from the environment at call time, so a test
can switch modes with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_DIR = REPO_ROOT / "data" / "checkpoints"  # shipped, small safetensors models
SHARED_DIR = REPO_ROOT.parent / "shared"  # ``../shared`` relative to the repository root

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_fast() -> bool:
    """True when ``FDUNLEARN_FAST=1``: same code path, tiny sizes."""
    return _flag("FDUNLEARN_FAST")


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise (the one place sizes branch)."""
    return fast if is_fast() else full


def mode() -> str:
    """``"fast"`` or ``"full"``, for printing and for result records."""
    return "fast" if is_fast() else "full"


def is_online() -> bool:
    """Hub downloads are allowed only when the user opts in with ``FDUNLEARN_ONLINE=1``."""
    return _flag("FDUNLEARN_ONLINE")


def data_dir() -> Path | None:
    """Directory named by ``FDUNLEARN_DATA`` that may hold full dataset files, or None."""
    value = os.environ.get("FDUNLEARN_DATA")
    return Path(value).expanduser() if value else None


def output_dir() -> Path:
    """Where commands and notebooks write results (``FDUNLEARN_OUTPUT`` or ``outputs/``)."""
    value = os.environ.get("FDUNLEARN_OUTPUT")
    path = Path(value).expanduser() if value else REPO_ROOT / "outputs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpu_threads() -> int:
    """Threads for CPU work: ``OMP_NUM_THREADS`` when it is a positive integer, else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else os.cpu_count() or 1


def device() -> torch.device:
    """CUDA when present, else the CPU with every core in use (or ``OMP_NUM_THREADS`` threads when set)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    torch.set_num_threads(cpu_threads())
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds legacy global NumPy users too)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def apply_offline_default() -> None:
    """Keep Hugging Face libraries off the network unless the user opted in."""
    if not is_online():
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            os.environ.setdefault(name, "1")


apply_offline_default()
