"""Sample files (.npz): ``images`` uint8 (N, H, W, C), optional ``labels``/``prompts``, a JSON record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from fdunlearn import data, io

EXPECTED_SHAPE = {"mnist": (32, 32, 1), "cifar10": (32, 32, 3)}


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
    with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def load(path: str | Path, dataset: str | None = None) -> tuple[torch.Tensor, dict]:
    """Read a sample file back to model space; check its shape against ``dataset`` if given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such sample file: {path}")
    with np.load(path) as d:
        if "images" not in d:
            raise ValueError(f"{path} holds no 'images' array (found: {', '.join(d.files)})")
        images = d["images"]
        rec = json.loads(str(d["record"])) if "record" in d else {}
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{path}: images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    if dataset is not None and images.shape[1:] != EXPECTED_SHAPE[data.check_name(dataset)]:
        raise ValueError(f"{path}: images of shape {images.shape[1:]} do not fit {dataset!r}; "
                         f"expected (N, {', '.join(map(str, EXPECTED_SHAPE[dataset]))})")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    return x.contiguous(), rec
