"""Course-wide settings in one place: run mode, device, seeding, paths, network switches.

Full mode is the real experiment; fast mode (``FDUNLEARN_FAST=1``) runs the same code path
with tiny sizes, for tests and CI. Both are read from the environment at call time, so a test
can switch modes with ``monkeypatch.setenv``.

Two network switches (docs/conventions.md): ``FDUNLEARN_ONLINE=1`` allows Hugging Face downloads
(Stable Diffusion, CLIP; off by default), and ``FDUNLEARN_OFFLINE=1`` forbids every download,
including the one-time fetch of a dataset missing from this machine (``fdunlearn.datasets.images``).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_DIR = REPO_ROOT / "data" / "checkpoints"  # shipped, small safetensors models
DOWNLOAD_DIR = REPO_ROOT / "data" / "downloads"  # datasets fetched on first use (git-ignored)
# Where a workplace may keep an offline copy of the course's data beside the repository (optional).
OFFLINE_COPY_DIR = REPO_ROOT.parent / "shared" / "data"

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
    """Hub downloads are allowed only when the user opts in with ``FDUNLEARN_ONLINE=1``
    (and ``FDUNLEARN_OFFLINE=1`` is not set)."""
    return _flag("FDUNLEARN_ONLINE") and not is_offline()


def is_offline() -> bool:
    """True when ``FDUNLEARN_OFFLINE=1``: nothing is downloaded, not even a missing dataset."""
    return _flag("FDUNLEARN_OFFLINE")


def data_dir() -> Path | None:
    """Directory named by ``FDUNLEARN_DATA`` that may hold full dataset files, or None."""
    value = os.environ.get("FDUNLEARN_DATA")
    return Path(value).expanduser() if value else None


def display_path(path: str | Path) -> str:
    """``path`` for printing and for stored notebook outputs: relative to the repository root when inside it,
    ``$FDUNLEARN_DATA/...`` when inside that folder, else as given (never a user's home folder by accident)."""
    path = Path(path)
    for base, prefix in ((REPO_ROOT, "."), (data_dir(), "$FDUNLEARN_DATA")):
        if base is not None and path.is_relative_to(base):
            rel = path.relative_to(base).as_posix()
            return prefix if rel == "." else rel if prefix == "." else f"{prefix}/{rel}"
    return str(path)


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


_HF_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_set_here: set[str] = set()  # the offline variables this module set (a user's own settings are never touched)


def apply_offline_default() -> None:
    """Keep Hugging Face libraries off the network unless the user opted in with ``FDUNLEARN_ONLINE=1``.

    Runs when ``fdunlearn`` is imported, and again before every Hub access (``sd.hub_folder``), so the switch
    also works when ``FDUNLEARN_ONLINE`` is set after the import (``os.environ["FDUNLEARN_ONLINE"] = "1"`` in a
    notebook): the offline variables set here are then removed, and an already imported ``huggingface_hub``
    is told, since it reads its offline flag only once, at import.
    """
    online = is_online()
    for name in _HF_OFFLINE_VARS:
        if online and name in _set_here:
            os.environ.pop(name, None)
            _set_here.discard(name)
        elif not online and name not in os.environ:
            os.environ[name] = "1"
            _set_here.add(name)
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None and hasattr(hub, "HF_HUB_OFFLINE"):
        hub.HF_HUB_OFFLINE = any(os.environ.get(n, "").strip().lower() in _TRUE
                                 for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


apply_offline_default()
