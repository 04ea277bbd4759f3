import dataclasses
import math

import pytest
import torch

from fdunlearn.cli import main
from fdunlearn.models import registry as models
from fdunlearn.unlearning import averaging, guide, unlearn

CFG = unlearn.UnlearnConfig(n_forget=8, steps=4, batch_size=4)


@pytest.mark.parametrize("bad", [1.0, -0.1, math.nan, math.inf, True, "0.5"])
def test_a_bad_decay_is_named_with_the_accepted_range(bad):
    with pytest.raises(ValueError, match=r"ema=.*accepted: a number 0 <= ema < 1"):
        averaging.check_decay(bad)
    with pytest.raises(ValueError, match=r"accepted: a number 0 <= ema < 1"):
        unlearn.forget_set("mnist", dataclasses.replace(CFG, ema=bad))


def test_the_average_follows_the_recursion_and_leaves_integer_buffers_alone():
    net = torch.nn.BatchNorm1d(3)  # float weights and an integer counter
    avg = averaging.WeightAverage(net, 0.75)
    expected = net.weight.detach().clone()
    for value in (4.0, -2.0, 8.0):
        with torch.no_grad():
            net.weight.fill_(value)
        net.num_batches_tracked += 1
        avg.update(net)
        expected = 0.75 * expected + 0.25 * value
    target = torch.nn.BatchNorm1d(3)
    avg.copy_to(target)
    assert torch.allclose(target.weight, expected) and int(target.num_batches_tracked) == 0
    assert "num_batches_tracked" not in avg.state


def test_unlearn_saves_the_average_of_its_iterates(fast_ddpm, tmp_path):
    seen = []
    start, _, _ = models.load_ddpm(fast_ddpm)
    cfg = dataclasses.replace(CFG, method="fs-guide", **guide.DEFAULTS, lr=1e-3, ema=0.5)
    folder = unlearn.unlearn(fast_ddpm, cfg, tmp_path / "ema", progress=False,
                             on_step=lambda step, net: seen.append(net.conv_out.weight.detach().clone()))
    expected = start.conv_out.weight.detach().clone()
    for w in seen:
        expected = 0.5 * expected + 0.5 * w
    saved, _, rec = models.load_ddpm(folder)
    assert torch.allclose(saved.conv_out.weight, expected, atol=1e-7) and not torch.allclose(expected, seen[-1])
    assert rec["unlearn"]["ema"] == 0.5


def test_cli_refuses_a_decay_of_one(tmp_path, capsys):
    assert main(["unlearn", "--model", "mnist-ddpm", "--method", "fs-guide", "--forget-class", "3", "--n-forget",
                 "5", "--seed", "0", "--out", str(tmp_path / "o"), "--ema", "1"]) == 2
    assert "--ema: got '1'; accepted: a finite number in [0, 1)" in capsys.readouterr().err
