"""Shared fixtures: every test runs in fast mode with outputs in a temporary folder."""

from __future__ import annotations

import os

import pytest
import torch

from fdunlearn import config
from fdunlearn.models import ddpm, minisd

os.environ.setdefault("FDUNLEARN_FAST", "1")
# tests/browser drives JupyterLab in Chromium: only ``make test-browser`` (FDUNLEARN_BROWSER=1) collects it
collect_ignore = [] if os.environ.get("FDUNLEARN_BROWSER") == "1" else ["browser"]
torch.set_num_threads(min(2, config.cpu_threads()))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: executes whole notebooks; runs in make test, -m 'not slow' skips it")


@pytest.fixture(autouse=True)
def _fast_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("FDUNLEARN_FAST", "1")
    monkeypatch.setenv("FDUNLEARN_OUTPUT", str(tmp_path / "outputs"))


@pytest.fixture
def one_thread():
    """Tiny models: a second thread only adds overhead, and on a busy 2-core machine it is ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fast_ddpm(tmp_path_factory):
    """A tiny DDPM model folder trained in fast mode (seconds), shared by the tests."""
    os.environ["FDUNLEARN_FAST"] = "1"
    out = tmp_path_factory.mktemp("fast-ddpm")
    return ddpm.train(ddpm.get_recipe("mnist-ddpm"), out, seed=0, progress=False)


@pytest.fixture(scope="session")
def fast_minisd(tmp_path_factory):
    """A tiny MiniSD model folder (VAE + text-conditioned UNet) trained in fast mode (seconds)."""
    os.environ["FDUNLEARN_FAST"] = "1"
    out = tmp_path_factory.mktemp("fast-minisd")
    return minisd.train(minisd.get_recipe("minisd"), out, seed=0, progress=False)
