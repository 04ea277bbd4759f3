"""Sample files (.npz): ``images`` uint8 (N, H, W, C), optional ``labels``/``prompts``, a JSON record."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from fdunlearn import files
from fdunlearn.datasets import images as data

EXPECTED_SHAPE = {"mnist": (32, 32, 1), "cifar10": (32, 32, 3)}
MEMORY_SHARE = 0.5  # `sample` holds its images in at most this share of the machine's memory


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n: int, channels: int, size: int = 32) -> None:
    """Refuse ``n`` samples whose images would not fit in MEMORY_SHARE of this machine's memory (the
    initial noise, the float images and the uint8 copy are all held at once: about 5 float copies)."""
    per_image = 5 * 4 * channels * size * size
    total = _memory_bytes()
    if total is None:
        return
    limit = int(MEMORY_SHARE * total)
    if n * per_image > limit:
        raise ValueError(f"--n {n} needs about {n * per_image / 2**30:.1f} GiB of memory for the images; the limit is "
                         f"{limit / 2**30:.1f} GiB ({MEMORY_SHARE:.0%} of this machine's "
                         f"{total / 2**30:.1f} GiB); accepted: --n up to {limit // per_image} here (write several "
                         "files with different --seed for more)")


def save(path: str | Path, images: torch.Tensor, record: dict, labels=None, prompts=None) -> Path:
    """Write model-space ``images`` atomically as a sample file."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"sample file must end in .npz, got {str(path)!r}")
    arrays = {"images": data.to_uint8(images), "record": np.array(json.dumps(record))}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    if prompts is not None:
        arrays["prompts"] = np.asarray(prompts, dtype=str)
    with files.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


ACCEPTED = "an .npz sample file written by `python -m fdunlearn sample` (an 'images' array, uint8 (N, H, W, C))"
_READ_ERRORS = (EOFError, zipfile.BadZipFile, ValueError, OSError, zlib.error, KeyError, pickle.UnpicklingError)


def load(path: str | Path, dataset: str | None = None) -> tuple[torch.Tensor, dict]:
    """Read a sample file back to model space; check its shape against ``dataset`` if given.

    Every way a file can be wrong is a ValueError naming the file and what is wrong (FileNotFoundError when it is
    missing): empty, truncated or not an archive, a bare array (.npy), no ``images`` array, wrong dtype, rank,
    channels or size, no images, a record that is not JSON.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; accepted: {ACCEPTED}")
    if not path.is_file():
        raise FileNotFoundError(f"no such sample file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); accepted: {ACCEPTED}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise ValueError(f"{path} is not a readable .npz archive, it is truncated or of another format "
                         f"({type(err).__name__}: {err}); accepted: {ACCEPTED}") from None
    if isinstance(loaded, np.ndarray):
        raise ValueError(f"{path} holds a bare {loaded.dtype} array of shape {loaded.shape} (an .npy file), not an "
                         f".npz archive; accepted: {ACCEPTED}")
    with loaded as d:
        if "images" not in d.files:
            raise ValueError(f"{path} holds no 'images' array (found: {', '.join(d.files) or 'no arrays'}); "
                             f"accepted: {ACCEPTED}")
        try:
            images = d["images"]
            raw_record = d["record"] if "record" in d.files else None
        except _READ_ERRORS as err:
            raise ValueError(f"{path} is truncated or corrupt: its arrays cannot be read ({type(err).__name__}: "
                             f"{err}); accepted: {ACCEPTED}") from None
    rec = {}
    if raw_record is not None:
        try:
            rec = json.loads(str(raw_record))
        except ValueError:
            rec = None
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: its 'record' array is not a JSON object; accepted: {ACCEPTED}")
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{path}: images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{path} holds 0 images (shape {images.shape}); accepted: {ACCEPTED} with at least one")
    if images.shape[3] not in (1, 3):
        raise ValueError(f"{path}: images have {images.shape[3]} channels (shape {images.shape}); accepted: 1 (MNIST) "
                         "or 3 (CIFAR-10), channels last")
    if dataset is not None and images.shape[1:] != EXPECTED_SHAPE[data.check_name(dataset)]:
        raise ValueError(f"{path}: images of shape {images.shape[1:]} do not fit {dataset!r}; "
                         f"expected (N, {', '.join(map(str, EXPECTED_SHAPE[dataset]))})")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    return x.contiguous(), rec


def encode_grid(images: torch.Tensor) -> str:
    """Up to 16 model-space images -> a 4x4 grid as a base64 PNG string (a few kB)."""
    g = (grid_image(images, nrow=4) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(g[..., 0] if images.shape[1] == 1 else g).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(row: dict) -> np.ndarray:
    """The (H, W) or (H, W, 3) uint8 grid stored in a results row."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(row["grid_png"]))))


def grid_image(images: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """Model-space images (N, C, H, W) in [-1, 1] -> one (H', W', C) image in [0, 1] for imshow."""
    g = make_grid(images.detach().float().cpu().clamp(-1, 1), nrow=nrow, padding=2, pad_value=1.0)
    return g.add(1).div(2).permute(1, 2, 0)
