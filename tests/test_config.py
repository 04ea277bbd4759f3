import os

import torch

from fdunlearn import config


def test_pick_follows_fast_flag(monkeypatch):
    monkeypatch.setenv("FDUNLEARN_FAST", "1")
    assert config.is_fast() and config.pick(100, 2) == 2 and config.mode() == "fast"
    monkeypatch.setenv("FDUNLEARN_FAST", "0")
    assert not config.is_fast() and config.pick(100, 2) == 100 and config.mode() == "full"


def test_seed_everything_repeats():
    g1 = config.seed_everything(5)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = config.seed_everything(5)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_offline_by_default():
    assert os.environ.get("HF_HUB_OFFLINE") == "1" or config.is_online()


def test_device_is_cpu_or_cuda():
    assert config.device().type in {"cpu", "cuda"}


def test_cpu_threads_honours_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert config.cpu_threads() == 1
    for bad in ["", "0", "two"]:
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        assert config.cpu_threads() == (os.cpu_count() or 1)
