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


def test_online_switch_works_when_set_after_the_import(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(config, "_set_here", set())
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", hub.HF_HUB_OFFLINE)
    for var in (*config._HF_OFFLINE_VARS, "FDUNLEARN_ONLINE", "FDUNLEARN_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    config.apply_offline_default()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and hub.HF_HUB_OFFLINE
    monkeypatch.setenv("FDUNLEARN_ONLINE", "1")  # as a notebook cell would, long after `import fdunlearn`
    config.apply_offline_default()
    assert "HF_HUB_OFFLINE" not in os.environ and not hub.HF_HUB_OFFLINE
    monkeypatch.setenv("FDUNLEARN_OFFLINE", "1")  # forbids every download, whatever FDUNLEARN_ONLINE says
    assert not config.is_online()
    config.apply_offline_default()
    assert hub.HF_HUB_OFFLINE


def test_a_users_own_offline_setting_is_kept(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(config, "_set_here", set())
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", hub.HF_HUB_OFFLINE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FDUNLEARN_ONLINE", "1")
    monkeypatch.delenv("FDUNLEARN_OFFLINE", raising=False)
    config.apply_offline_default()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and hub.HF_HUB_OFFLINE


def test_display_path_is_relative(monkeypatch, tmp_path):
    monkeypatch.setenv("FDUNLEARN_DATA", str(tmp_path))
    assert config.display_path(config.REPO_ROOT / "data" / "downloads") == "data/downloads"
    assert config.display_path(tmp_path / "cifar10" / "x.npz") == "$FDUNLEARN_DATA/cifar10/x.npz"
    assert config.display_path(tmp_path) == "$FDUNLEARN_DATA" and config.display_path(config.REPO_ROOT) == "."
