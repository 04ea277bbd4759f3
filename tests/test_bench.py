"""The weight-free erasure benchmark: SD v1.4's UNet configuration, the tiny CPU run with both rows, bad options."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import UNet2DConditionModel

from fdunlearn.erasure import weights as erase_params
from fdunlearn.studies import bench

pytestmark = pytest.mark.usefixtures("one_thread")


def test_config_is_stable_diffusion_v1_4():
    with torch.device("meta"):  # the shapes without allocating 3.4 GB
        unet = UNet2DConditionModel(**bench.SD14_UNET)
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964  # SD v1.4's UNet
    kv = erase_params.select(unet, "kv")
    assert len(kv) == 32 and sum(p.numel() for p in kv.values()) == 19_169_280  # 16 cross-attention blocks
    assert all(p.shape[1] == 768 for p in kv.values())  # keys and values read CLIP ViT-L/14 text features


def test_tiny_cpu_run_prints_both_rows(capsys, tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--device", "cpu", "--tiny", "--steps", "2", "--warmup", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    lines = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    for label in bench.METHODS.values():
        assert label in lines and "n/a (CPU)" in lines[label]
    assert "steps/s" in text and "batch 4" in text and "K/V trainable" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == list(bench.METHODS.values())
    assert all(r["steps_per_second"] > 0 and r["peak_gib"] is None for r in rows)


def test_full_size_on_cpu_warns_that_it_is_slow():
    with pytest.warns(UserWarning, match="slow"):
        args = bench.parse(["--device", "cpu"])
    assert args.latent == 64 and args.batch == 4 and args.precision == "fp32"


@pytest.mark.parametrize(("argv", "match"), [
    (["--device", "tpu", "--tiny"], "unknown device 'tpu'; accepted: cuda, cpu"),
    (["--device", "cpu", "--tiny", "--precision", "fp16"], "fp16 needs CUDA"),
    (["--device", "cpu", "--tiny", "--batch", "0"], "--batch: got '0'"),
])
def test_bad_options_exit_2_naming_the_problem(capsys, argv, match):
    assert bench.main(argv) == 2
    assert match in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(capsys):
    assert bench.main(["--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
