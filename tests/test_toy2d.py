"""The 2-D toy of lesson 03: ring data, mode shares, training, unlearning, the study and its plots (seconds)."""

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from fdunlearn.unlearning import toy2d

SMALL = {"steps": 1000, "hidden": 64, "n_train": 2048, "lr": 3e-3, "ema": 0.95}  # a rough ring in a second


@pytest.fixture(scope="module")
def base():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield toy2d.train(seed=0, **SMALL)
    torch.set_num_threads(threads)


def test_ring_shapes_labels_and_modes():
    x, labels = toy2d.ring(800, seed=3)
    assert x.shape == (800, 2) and labels.shape == (800,)
    assert set(labels.tolist()) == set(range(8))
    assert ((x - toy2d.centres()[labels]).norm(dim=1) < 0.6).all()  # std 0.1: within 6 std of their own mode
    assert torch.allclose(toy2d.centres()[2], torch.tensor([0.0, 2.0]), atol=1e-6)
    assert torch.equal(toy2d.ring(50, seed=3)[0], toy2d.ring(50, seed=3)[0])
    assert not torch.equal(toy2d.ring(50, seed=3)[0], toy2d.ring(50, seed=4)[0])


def test_mode_shares_sum_to_one_and_count_off_ring():
    x, _ = toy2d.ring(400, seed=0)
    shares = toy2d.mode_shares(x)
    assert len(shares) == 9 and math.isclose(sum(shares), 1.0, abs_tol=1e-6) and shares[-1] == 0.0
    points = torch.cat([toy2d.centres()[[0, 0, 5]], torch.tensor([[0.0, 0.0], [float("nan"), 1.0]])])
    assert toy2d.mode_shares(points) == pytest.approx([0.4, 0, 0, 0, 0, 0.2, 0, 0, 0.4])


def test_training_lowers_the_loss_and_estimates_the_prior(base):
    assert sum(base.losses[-50:]) / 50 < 0.6 * sum(base.losses[:50]) / 50
    names = [n for n, _ in base.net.named_parameters()]
    assert list(base.var) == names and all((v > 0).all() for v in base.var.values())
    with pytest.raises(ValueError, match=r"steps=5 leaves 1 weight snapshot\(s\); accepted: steps > 10"):
        toy2d.train(steps=5, hidden=8)


def test_same_seed_same_result(base):
    again = toy2d.train(seed=0, **SMALL | {"steps": 30})
    first = toy2d.train(seed=0, **SMALL | {"steps": 30})
    other = toy2d.train(seed=1, **SMALL | {"steps": 30})
    pa, pb, pc = (torch.cat([p.flatten() for p in m.net.parameters()]) for m in (again, first, other))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert torch.equal(toy2d.sample(base, 64, seed=5), toy2d.sample(base, 64, seed=5))
    u1, u2 = (toy2d.unlearn(base, "vdu-fs", 0, weight=5.0, steps=3, seed=2, replay_n=32, batch=16) for _ in range(2))
    assert torch.equal(toy2d.sample(u1, 64, seed=1), toy2d.sample(u2, 64, seed=1))


def test_gradient_ascent_lowers_the_forgotten_share_and_leaves_the_base_alone(base):
    before = toy2d.mode_shares(toy2d.sample(base, 1000, seed=1))
    weights = [p.clone() for p in base.net.parameters()]
    after = toy2d.mode_shares(toy2d.sample(toy2d.unlearn(base, "ga", 0, steps=20, lr=1e-4), 1000, seed=1))
    assert before[0] > 0.05 and after[0] < 0.5 * before[0]
    assert all(torch.equal(a, p) for a, p in zip(weights, base.net.parameters(), strict=True))


@pytest.mark.parametrize("method", toy2d.METHODS)
def test_every_method_runs_its_budget(base, method):
    u = toy2d.unlearn(base, method, 3, steps=4, replay_n=64, batch=16)
    assert len(u.losses) == 4 and not any(p.requires_grad for p in u.net.parameters())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "erase"}, r"unknown method 'erase'; accepted: ga, vdu, vdu-fs, vdu-fs-filtered"),
    ({"forget_mode": 8}, r"forget mode 8 out of range; accepted: 0..7"),
    ({"forget_mode": -1}, r"forget mode -1 out of range; accepted: 0..7"),
    ({"method": "vdu", "weight": 1.5}, r"weight=1.5 out of range; accepted: 0..1 \(gamma\)"),
    ({"method": "vdu-fs", "weight": -1.0}, r"weight=-1.0 out of range; accepted: >= 0"),
    ({"n_forget": 10_000}, r"n_forget=10000 out of range; accepted: 2..\d+"),
])
def test_bad_settings_name_the_value_and_the_accepted_ones(base, kwargs, message):
    with pytest.raises(ValueError, match=message):
        toy2d.unlearn(base, **{"method": "ga", "forget_mode": 0, "steps": 1} | kwargs)


def test_cli_refuses_a_bad_mode_before_training(tmp_path, capsys):
    assert toy2d.main(["--out", str(tmp_path / "x.json"), "--forget-mode", "9"]) == 2
    assert "forget mode 9 out of range; accepted: 0..7" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_study_records_clouds_and_sweep_and_plots(tmp_path):
    r = toy2d.study(forget_mode=2, seeds=(0, 1), n_points=50, sweep_points=20, gammas=(0.9,), lambdas=(1.0, 3.0),
                    train_steps=30, unlearn_steps=2)
    assert list(r["defaults"]) == list(toy2d.METHODS) and len(r["base"]["points"]) == 50
    assert [(s["method"], s["weight"], s["seed"]) for s in r["sweep"]] == [("vdu", 0.9, 0), ("vdu", 0.9, 1),
                                                                          ("vdu-fs", 1.0, 0), ("vdu-fs", 1.0, 1),
                                                                          ("vdu-fs", 3.0, 0), ("vdu-fs", 3.0, 1)]
    assert r["sweep"][-1]["gamma"] == pytest.approx(0.75) and r["settings"]["forget_mode"] == 2
    for row in [r["base"], *r["defaults"].values(), *r["sweep"]]:
        assert math.isclose(sum(row["shares"]), 1.0, abs_tol=1e-6) and row["forget"] == row["shares"][2]
    json.dumps(r, allow_nan=False)  # strict JSON: diverged samples are clipped, never NaN
    fig, axes = plt.subplots(1, 6)
    toy2d.plot_clouds(r, axes[:5])
    toy2d.plot_sweep(r, axes[5])
    assert "ga" in axes[1].get_title() and len(axes[5].get_lines()) == 5  # 2 methods x 2 curves, the 1/8 line
    plt.close(fig)
