import dataclasses

import pytest
import torch

from fdunlearn import files as io
from fdunlearn.cli import main
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.unlearning import alignment, unlearn

CFG = unlearn.UnlearnConfig(n_forget=8, steps=3, batch_size=4)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("method", "erase", r"'erase'.*vdu, vdu-fs, fs-redirect, fs-guide, ga, l2, salun"),
    ("forget_class", 10, r"10 out of range; accepted: 0..9"),
    ("n_forget", 0, r"n_forget=0 out of range; accepted: 1..450"),
    ("n_forget", 451, r"n_forget=451 out of range; accepted: 1..450"),
    ("gamma", 1.5, r"gamma=1.5 out of range; accepted: 0 <= gamma <= 1"),
    ("prior", "laplace", r"'laplace'.*checkpoints, fisher"),
    ("forget_t_min", 1000, r"forget_t_min=1000; accepted: an integer 0\.\.999"),
    ("forget_t_min", -1, r"forget_t_min=-1; accepted: an integer 0\.\.999"),
    ("guide_t_max", 1001, r"guide_t_max=1001; accepted: an integer 0\.\.1000"),
    ("guide_scale", -1.0, r"guide_scale=-1.0; accepted: a finite number >= 0"),
    ("guide_gate_t", 1001, r"guide_gate_t=1001; accepted: an integer 0\.\.1000 \(0: no gate\)"),
    ("guide_gate_w", 1.5, r"guide_gate_w=1\.5; accepted: a number 0 <= w <= 1"),
])
def test_bad_settings_name_value_and_accepted(field, value, message):
    with pytest.raises(ValueError, match=message):
        unlearn.forget_set("mnist", dataclasses.replace(CFG, **{field: value}))


def test_forget_set_is_seeded_and_of_the_right_class():
    from fdunlearn.datasets import images as data

    a, ia = unlearn.forget_set("mnist", dataclasses.replace(CFG, forget_class=3))
    _, ib = unlearn.forget_set("mnist", dataclasses.replace(CFG, forget_class=3))
    _, ic = unlearn.forget_set("mnist", dataclasses.replace(CFG, forget_class=3, seed=1))
    assert torch.equal(ia, ib) and not torch.equal(ia, ic) and a.shape == (8, 1, 32, 32)
    assert (data.load("mnist", "train").labels[ia] == 3).all()


@pytest.mark.parametrize("method", unlearn.METHODS)
def test_every_method_writes_a_sampleable_model(method, fast_ddpm, tmp_path):
    out = unlearn.unlearn(fast_ddpm, dataclasses.replace(CFG, method=method), tmp_path / method, progress=False)
    unet, sched, rec = models.load_ddpm(out)
    assert rec["unlearn"]["method"] == method and rec["steps_run"] == 3 and len(rec["forget_indices"]) == 8
    assert ddpm.sample(unet, sched, 2, seed=0, steps=2, progress=False).shape == (2, 1, 32, 32)


def test_same_seed_same_weights(fast_ddpm, tmp_path):
    for name in ("a", "b"):
        unlearn.unlearn(fast_ddpm, CFG, tmp_path / name, progress=False)
    a = io.load_tensors(tmp_path / "a" / "unet" / "diffusion_pytorch_model.safetensors")
    b = io.load_tensors(tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gradient_ascent_raises_the_forget_loss(fast_ddpm, tmp_path):
    cfg = dataclasses.replace(CFG, method="ga", steps=6, lr=1e-2)
    rec = models.read_record(unlearn.unlearn(fast_ddpm, cfg, tmp_path / "ga", progress=False))
    assert rec["log"][-1]["forget"] > rec["forget_loss_start"]


def test_on_step_sees_every_step_and_the_final_weights(fast_ddpm, tmp_path):
    seen = []
    folder = unlearn.unlearn(fast_ddpm, dataclasses.replace(CFG, steps=3), tmp_path / "cb", progress=False,
                             on_step=lambda step, unet: seen.append((step, unet.conv_out.bias.detach().clone())))
    assert [s for s, _ in seen] == [1, 2, 3]
    final, _, _ = models.load_ddpm(folder)
    assert torch.equal(seen[-1][1], final.conv_out.bias) and not torch.equal(seen[0][1], seen[-1][1])


def test_stop_factor_ends_the_loop_early(fast_ddpm, tmp_path):
    cfg = dataclasses.replace(CFG, method="ga", steps=50, lr=5e-2, stop_factor=1.5)
    rec = models.read_record(unlearn.unlearn(fast_ddpm, cfg, tmp_path / "stop", progress=False))
    assert rec["steps_run"] < 50


def test_a_folder_without_the_weight_prior_runs_the_methods_that_do_not_use_it(fast_ddpm, tmp_path):
    """A model folder holding only its weights (mnist-ddpm-large's, trained on a GPU) serves fs-guide, vdu-fs and
    gradient ascent; the published VDU names the missing file and the methods that run without it."""
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(fast_ddpm, bare)
    (bare / "prior.safetensors").unlink()
    for method in ("fs-guide", "vdu-fs", "ga"):
        cfg = dataclasses.replace(CFG, method=method, replay_n=8)
        assert not unlearn.needs_prior(cfg)
        unlearn.unlearn(bare, cfg, tmp_path / method, progress=False)
    for cfg in (dataclasses.replace(CFG, method="vdu"), dataclasses.replace(CFG, method="vdu-fs", prior_weight=1.0)):
        assert unlearn.needs_prior(cfg)
        with pytest.raises(FileNotFoundError, match=r"prior\.safetensors.*accepted: .*fs-guide with prior_weight 0"):
            unlearn.unlearn(bare, cfg, tmp_path / "needs-prior", progress=False)
    assert not unlearn.needs_prior(dataclasses.replace(CFG, method="vdu", gamma=0.0))


def test_stability_is_zero_at_the_prior_mean_and_grows_away(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    mu = {n: p.detach().clone() for n, p in unet.named_parameters()}
    for prior in unlearn.PRIORS:
        var = unlearn.prior_variances(fast_ddpm, unet, dataclasses.replace(CFG, prior=prior), 4500)
        assert float(unlearn.stability(unet, mu, var).detach()) == 0.0
        shifted = {n: m + 1e-3 for n, m in mu.items()}
        assert float(unlearn.stability(unet, shifted, var).detach()) > 0
    w = unlearn.elbo_weights(sched)
    assert torch.isclose(w.mean(), torch.tensor(1.0)) and w[0] > w[-1]


def test_every_prior_shares_the_snapshot_variances_median(fast_ddpm):
    """One gamma means one strength: Fisher and equal-variance priors are put on the snapshots' scale."""
    unet, _, _ = models.load_ddpm(fast_ddpm)
    medians = {}
    for method, prior in [("vdu", "checkpoints"), ("vdu", "fisher"), ("l2", "checkpoints")]:
        var = unlearn.prior_variances(fast_ddpm, unet, dataclasses.replace(CFG, method=method, prior=prior), 4500)
        medians[method, prior] = unlearn._median(var).item()
    ref = medians["vdu", "checkpoints"]
    assert all(m == pytest.approx(ref, rel=1e-5) for m in medians.values()), medians
    fisher = unlearn.prior_variances(fast_ddpm, unet, dataclasses.replace(CFG, prior="fisher"), 4500)
    assert torch.cat([v.flatten() for v in fisher.values()]).std() > 0  # the Fisher's shape is kept


def test_cli_unlearn_rejects_bad_values(tmp_path, capsys):
    assert main(["unlearn", "--model", "mnist-ddpm", "--method", "vdu", "--forget-class", "1", "--n-forget", "5",
                 "--seed", "0", "--out", str(tmp_path / "o"), "--gamma", "2"]) == 2
    assert "--gamma: got '2'; accepted: a finite number in [0, 1]" in capsys.readouterr().err
    assert main(["unlearn", "--model", "nope", "--method", "vdu", "--forget-class", "1", "--n-forget", "5",
                 "--seed", "0", "--out", str(tmp_path / "o")]) == 2


def test_loss_gradient_is_flat_seeded_and_checks_its_t_range(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    unet.requires_grad_(True)
    x = torch.zeros(2, 1, 32, 32)
    g = alignment.loss_gradient(unet, sched, x, seed=0, t_range=(500, 1000))
    assert g.shape == (sum(p.numel() for p in unet.parameters()),)
    assert torch.equal(g, alignment.loss_gradient(unet, sched, x, seed=0, t_range=(500, 1000)))
    with pytest.raises(ValueError, match=r"t_range=\(5, 5\) out of range"):
        alignment.loss_gradient(unet, sched, x, seed=0, t_range=(5, 5))


def test_gradient_alignment_gives_a_cosine_per_draw_and_band_and_checks_the_batch(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    unet.requires_grad_(True)
    images, labels = torch.randn(12, 1, 32, 32), torch.tensor([7] * 4 + [1] * 8)
    rows = alignment.gradient_alignment(unet, sched, images, labels, forget_class=7, batch=2, draws=2,
                                      bands=((0, 1000), (500, 1000)))
    assert [(r["draw"], r["band"]) for r in rows] == [(d, b) for d in (0, 1) for b in ((0, 1000), (500, 1000))]
    assert all(-1 <= r["sevens"] <= 1 and -1 <= r["others"] <= 1 for r in rows)
    assert rows == alignment.gradient_alignment(unet, sched, images, labels, 7, 2, 2, ((0, 1000), (500, 1000)))
    with pytest.raises(ValueError, match="batch=3 needs 6 images of class 7 \\(have 4\\)"):
        alignment.gradient_alignment(unet, sched, images, labels, forget_class=7, batch=3)


def test_the_python_api_never_writes_over_the_model_or_a_users_folder(fast_ddpm, tmp_path):
    with pytest.raises(ValueError, match="the same folder as --model"):
        unlearn.unlearn(fast_ddpm, CFG, fast_ddpm, progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"holding other files \(notes.txt\)"):
        unlearn.unlearn(fast_ddpm, CFG, mine, progress=False)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_forget_loss_draws_t_from_t_min_on(fast_ddpm):
    unet, sched, _ = models.load_ddpm(fast_ddpm)
    x0 = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    got = unlearn.forget_loss(unet, sched, x0, torch.Generator().manual_seed(1), None, t_min=700)
    h = torch.Generator().manual_seed(1)  # by hand, with the same draws
    t = torch.randint(700, ddpm.T_STEPS, (4,), generator=h)
    eps = torch.randn(x0.shape, generator=h)
    torch.testing.assert_close(got, (unet(sched.add_noise(x0, eps, t), t).sample - eps).pow(2).mean())
    assert not torch.equal(got, unlearn.forget_loss(unet, sched, x0, torch.Generator().manual_seed(1), None))
