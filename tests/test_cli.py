import json
import subprocess
import sys

import numpy as np
import pytest

from fdunlearn.cli import main
from fdunlearn.datasets import samples


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fdunlearn", *args], capture_output=True, text=True)


def test_sample_then_evaluate_round_trip(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", "--model", str(fast_ddpm), "--n", "6", "--seed", "3", "--out", str(out),
                 "--steps", "3"]) == 0
    with np.load(out) as d:
        assert d["images"].dtype == np.uint8 and d["images"].shape == (6, 32, 32, 1)
        assert json.loads(str(d["record"]))["seed"] == 3
    first = np.load(out)["images"].copy()
    main(["sample", "--model", str(fast_ddpm), "--n", "6", "--seed", "3", "--out", str(out), "--steps", "3",
          "--overwrite"])
    assert np.array_equal(first, np.load(out)["images"])  # same seed, same images
    capsys.readouterr()
    assert main(["evaluate", "--dataset", "mnist", "--samples", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 6 and len(report["class_share"]) == 10


def test_sample_records_eta_and_refuses_a_bad_one(fast_ddpm, tmp_path, capsys):
    args = ["sample", "--model", str(fast_ddpm), "--n", "2", "--seed", "0", "--steps", "2"]
    assert main([*args, "--out", str(tmp_path / "a.npz")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.npz"), "--eta", "0"]) == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert json.loads(str(a["record"]))["eta"] == 1.0 and json.loads(str(b["record"]))["eta"] == 0.0
        assert not np.array_equal(a["images"], b["images"])
    assert main([*args, "--out", str(tmp_path / "c.npz"), "--eta", "2"]) == 2
    assert "--eta: got '2'; accepted: a finite number in [0, 1]" in capsys.readouterr().err


def test_bad_dataset_name_exits_nonzero_naming_choices():
    r = run_cli("evaluate", "--dataset", "svhn", "--samples", "x.npz")
    assert r.returncode != 0 and "svhn" in r.stderr and "mnist" in r.stderr and "cifar10" in r.stderr


def test_missing_file_and_wrong_shape(tmp_path, capsys):
    assert main(["evaluate", "--dataset", "mnist", "--samples", str(tmp_path / "none.npz")]) == 2
    assert "no such sample file" in capsys.readouterr().err
    import torch

    f = samples.save(tmp_path / "rgb.npz", torch.zeros(2, 3, 32, 32), {})
    assert main(["evaluate", "--dataset", "mnist", "--samples", str(f)]) == 2
    assert "(32, 32, 3) do not fit 'mnist'" in capsys.readouterr().err


def test_bad_model_recipe_and_classes(tmp_path):
    r = run_cli("sample", "--model", "nope", "--n", "2", "--seed", "0", "--out", str(tmp_path / "a.npz"))
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr
    r = run_cli("train", "--recipe", "mnist-gan", "--out", str(tmp_path / "m"))
    assert r.returncode != 0 and "mnist-gan" in r.stderr and "mnist-ddpm" in r.stderr
    r = run_cli("evaluate", "--dataset", "mnist", "--samples", "x.npz", "--classes", "3,12")
    assert r.returncode != 0 and "3,12" in r.stderr


@pytest.mark.parametrize("n", ["0", "-3"])
def test_non_positive_counts_are_refused(n, tmp_path):
    r = run_cli("sample", "--model", "mnist-ddpm", "--n", n, "--seed", "0", "--out", str(tmp_path / "a.npz"))
    assert r.returncode != 0 and "positive" in r.stderr


def test_every_command_prints_its_help():
    """argparse formats help strings with %: a bare "50%" in one crashed `sample --help`."""
    import argparse

    from fdunlearn import cli

    p = cli.parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices
    for name, command in sub.choices.items():  # raised TypeError before the fix
        assert command.format_help().startswith(f"usage: python -m fdunlearn {name}")
    assert "at most 50% of this machine" in " ".join(sub.choices["sample"].format_help().split())
