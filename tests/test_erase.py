"""Concept erasure on a tiny random pipeline with Stable Diffusion v1's structure (CLIP tokenizer and text encoder,
UNet2DConditionModel, AutoencoderKL, PNDM): the frozen prediction without a second UNet, which weights move,
that the target's prediction moves onto the anchor's, model folders, several concepts, the variational form,
the anchor cache, resuming, precision and bad input."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

from fdunlearn.erasure import anchors as erase_anchors
from fdunlearn.erasure import erase
from fdunlearn.erasure import step as erase_step
from fdunlearn.erasure import weights as erase_params
from fdunlearn.models import registry as models
from fdunlearn.models import tiny_sd
from fdunlearn.theory import losses

CAT = (["a photo of the cat", "the cat"], ["a photo of the dog", "the dog"])
CAR = (["a red car"], ["a car"])


def small(**changes) -> erase.EraseConfig:
    """Seconds-sized settings: few anchor images, two sampler steps, a dozen erasure steps."""
    base = {"steps": 12, "n_anchor_images": 8, "anchor_steps": 2, "anchor_batch_size": 8, "lr": 1e-4}
    return erase.EraseConfig(**(base | changes))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny_sd.build(tmp_path_factory.mktemp("tiny-sd"), seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("anchor-cache")


@pytest.fixture
def pipe(base):
    return copy.deepcopy(base)


def run(pipe, concepts, cache, cfg=None, **kw) -> erase.EraseResult:
    return erase.erase(pipe, concepts, cfg or small(), cache_dir=cache, progress=False, **kw)


def held_out(pipe, concepts, cache, n: int = 32) -> tuple[torch.Tensor, ...]:
    """A fixed batch of noisy anchor latents with their prompt conditions (not one the erasure trains on)."""
    data = erase.prepare(pipe, erase.as_concepts(concepts), small(), cache_dir=cache, progress=False)
    return data.batch(torch.Generator().manual_seed(12345), n)


def gap(pipe, original_unet, batch: tuple[torch.Tensor, ...]) -> float:
    """Mean squared gap between eps_new(x_t, c*) and eps_orig(x_t, c)."""
    x_t, t, cond_t, cond_a = batch
    with torch.no_grad():
        new = pipe.unet(x_t, t, encoder_hidden_states=cond_t).sample
        orig = original_unet(x_t, t, encoder_hidden_states=cond_a).sample
    return float((new - orig).pow(2).mean())


def _random_batch(pipe, batch: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 4, 8, 8, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    with torch.no_grad():
        conds = pipe.encode_prompt(["a photo of the cat"] * batch + ["a photo of the dog"] * batch, "cpu", 1,
                                   False)[0]
    return x_t, t, conds[:batch], conds[batch:]


# ----------------------------------------------------------------------------- the frozen model
def test_frozen_prediction_equals_a_real_frozen_copy(pipe):
    frozen_copy = copy.deepcopy(pipe.unet)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    objective = erase_step.ClosedForm("mse", {}, scaling="reference", temperature=1.0, scheduler=scheduler)
    step = erase_step.ErasureStep(pipe.unet, erase_params.select(pipe.unet, "kv"), scheduler, objective, lr=1e-2)
    x_t, t, cond_t, cond_a = _random_batch(pipe)
    for _ in range(3):
        step(x_t, t, cond_t, cond_a)
    with torch.no_grad():
        expected = frozen_copy(x_t, t, encoder_hidden_states=cond_a).sample
        trained = pipe.unet(x_t, t, encoder_hidden_states=cond_a).sample
    assert (trained - expected).abs().max() > 1e-4  # the model did move, so the comparison means something
    torch.testing.assert_close(step.frozen_eps(x_t, t, cond_a), expected, rtol=0, atol=1e-6)
    with torch.no_grad():  # the swap put the trained weights back
        assert torch.equal(pipe.unet(x_t, t, encoder_hidden_states=cond_a).sample, trained)
    assert sum(v.numel() for v in step.originals.values()) < 0.05 * sum(p.numel() for p in pipe.unet.parameters())


@pytest.mark.parametrize("group", ["kv", "cross-attn", "unet"])
def test_only_the_chosen_group_changes(pipe, cache, group):
    before = {part: copy.deepcopy(getattr(pipe, part).state_dict()) for part in ("unet", "text_encoder", "vae")}
    result = run(pipe, CAT, cache, small(params=group, steps=3))
    changed = {n for n, v in pipe.unet.state_dict().items() if not torch.equal(v, before["unet"][n])}
    chosen = set(erase_params.select(pipe.unet, group))
    assert changed == chosen == set(result.weights)
    if group == "kv":
        assert len(chosen) == 8 and all(".attn2.to_k." in n or ".attn2.to_v." in n for n in chosen)
    for part in ("text_encoder", "vae"):
        assert all(torch.equal(v, before[part][n]) for n, v in getattr(pipe, part).state_dict().items())
    assert all(not p.requires_grad for p in pipe.unet.parameters())
    assert all(p.dtype == torch.float32 for p in pipe.unet.parameters())


# ----------------------------------------------------------------------------- the objective works
@pytest.mark.parametrize("settings", [
    {"divergence": "mse"},
    {"divergence": "hellinger"},
    {"divergence": "pearson_chi2"},
    {"divergence": "alpha", "alpha": 0.5},
], ids=lambda s: "-".join(map(str, s.values())))
def test_target_prediction_moves_onto_the_anchor(pipe, cache, settings):
    original, batch = copy.deepcopy(pipe.unet), held_out(pipe, CAT, cache)
    start = gap(pipe, original, batch)
    result = run(pipe, CAT, cache, small(steps=20, **settings))
    assert gap(pipe, original, batch) < 0.3 * start
    ms, losses = [e["m"] for e in result.log], [e["loss"] for e in result.log]
    assert sum(ms[-4:]) < 0.5 * sum(ms[:4])
    assert sum(losses[-4:]) < sum(losses[:4])
    assert all(e["grad_norm"] > 0 for e in result.log)


def test_exact_kl_scaling_lowers_its_loss(pipe):
    """scaling="exact": KL = kappa_t ||d eps||^2 / 2 (lesson 01), optimised on one fixed batch."""
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    objective = erase_step.ClosedForm("kl", {}, scaling="exact", temperature=1.0, scheduler=scheduler)
    step = erase_step.ErasureStep(pipe.unet, erase_params.select(pipe.unet, "kv"), scheduler, objective, lr=1e-3)
    x_t, t, cond_t, cond_a = _random_batch(pipe)
    eps_new, eps_anchor = step.eps(x_t, t, cond_t).detach(), step.frozen_eps(x_t, t, cond_a)
    expected = losses.kappa(scheduler, t) * (eps_new - eps_anchor).pow(2).flatten(1).sum(1) / 2
    torch.testing.assert_close(torch.tensor(step(x_t, t, cond_t, cond_a)["loss"]), expected.mean(), rtol=1e-4, atol=0)
    for _ in range(10):
        last = step(x_t, t, cond_t, cond_a)["loss"]
    assert last < 0.5 * float(expected.mean())


def test_reference_code_scaling_with_a_border_is_the_reference_codes_loss(pipe):
    """scaling="reference-code", border 1: exp(x), x = squared gap summed over the 4 latent channels and averaged over
    the inner 6x6 of the 8x8 latent pixels."""
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    objective = erase_step.ClosedForm("pearson_chi2", {}, scaling="reference-code", temperature=1.0,
                                      scheduler=scheduler)
    step = erase_step.ErasureStep(pipe.unet, erase_params.select(pipe.unet, "kv"), scheduler, objective, lr=1e-3,
                                  border=1, weight_decay=1e-2)
    x_t, t, cond_t, cond_a = _random_batch(pipe)
    gap = (step.eps(x_t, t, cond_t).detach() - step.frozen_eps(x_t, t, cond_a))[:, :, 1:7, 1:7]
    x = gap.pow(2).sum(1).mean((1, 2))
    stats = step(x_t, t, cond_t, cond_a)
    torch.testing.assert_close(torch.tensor(stats["loss"]), torch.exp(x).mean(), rtol=1e-5, atol=0)
    # the logged multipliers are C exp(x): the factor on the gradient of m (the per-element mean)
    torch.testing.assert_close(torch.tensor([stats["mult_min"], stats["mult_max"]]),
                               torch.stack([4 * torch.exp(x).min(), 4 * torch.exp(x).max()]), rtol=1e-4, atol=0)


class _Scaled:
    """A closed-form objective times a constant factor."""

    def __init__(self, inner, factor: float) -> None:
        self.inner, self.factor = inner, factor

    def __call__(self, eps_new, eps_anchor, t):
        return self.factor * self.inner(eps_new, eps_anchor, t)


def _first_update(base, optimizer: str, factor: float, lr: float) -> torch.Tensor:
    pipe = copy.deepcopy(base)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    mse = erase_step.ClosedForm("mse", {}, scaling="reference", temperature=1.0, scheduler=scheduler)
    trainable = erase_params.select(pipe.unet, "kv")
    before = torch.cat([p.detach().flatten().clone() for p in trainable.values()])
    step = erase_step.ErasureStep(pipe.unet, trainable, scheduler, _Scaled(mse, factor), lr=lr,
                                  optimizer=optimizer)
    step(*_random_batch(pipe))
    return torch.cat([p.detach().flatten() for p in trainable.values()]) - before


def test_sgd_passes_the_losss_scale_to_the_weights_and_adam_does_not(base):
    # lr 1 for SGD: updates far above float32's resolution of the weights, so the difference is exact enough
    sgd_1, sgd_8 = _first_update(base, "sgd", 1.0, 1.0), _first_update(base, "sgd", 8.0, 1.0)
    assert sgd_1.norm() > 0
    torch.testing.assert_close(sgd_8, 8 * sgd_1, rtol=1e-3, atol=1e-3 * float(sgd_8.abs().max()))
    assert float(sgd_8.norm() / sgd_1.norm()) == pytest.approx(8.0, rel=1e-4)
    adam_1, adam_8 = _first_update(base, "adam", 1.0, 1e-3), _first_update(base, "adam", 8.0, 1e-3)
    # Adam's first step is lr g / (|g| + eps): the scale cancels, up to eps (1e-8) on the tiniest gradients
    assert float(adam_8.norm() / adam_1.norm()) == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError, match=r"'lbfgs'.*accepted: adam, sgd"):
        erase_step.ErasureStep(base.unet, {}, None, None, lr=1e-3, optimizer="lbfgs")


def test_optimizer_is_recorded(pipe, cache):
    result = run(pipe, CAT, cache, small(steps=2, optimizer="sgd", lr=1e-2))
    assert result.record["optimizer"] == "sgd" and result.record["erase"]["optimizer"] == "sgd"
    assert all({"mult_mean", "mult_min", "mult_max"} <= set(e) for e in result.log)


def _critic_batches(n: int = 3):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 4, 6, 6, generator=g) + 1.0, torch.randn(8, 4, 6, 6, generator=g)) for _ in range(n)]


def _critic_rounds(v, batches) -> list[torch.Tensor]:
    """Critic update, then the generator's backward through the critic, per batch; the critic's weights each time."""
    states = []
    for eps_p, eps_q in batches:
        v.critic_update(eps_p, eps_q)
        states.append(torch.cat([p.detach().flatten().clone() for p in v.critic.parameters()]))
        v.generator_loss(eps_q.clone().requires_grad_(True)).backward()
    return states


def test_leaky_critic_reproduces_the_reference_leak_and_fixed_is_unchanged():
    batches = _critic_batches()
    fixed = _critic_rounds(erase_step.Variational("kl", {}, 4, width=16, lr=1e-2), batches)
    leaky = _critic_rounds(erase_step.Variational("kl", {}, 4, width=16, lr=1e-2, critic="leaky"), batches)
    assert torch.equal(fixed[0], leaky[0])  # no generator step yet: nothing has leaked
    assert not torch.equal(fixed[1], leaky[1])  # one step after the generator's backward, the leak shows

    # "fixed" is the algorithm as it was: zero the critic's gradients, backward its own loss, step; the same forward
    # passes in the same order (each one advances the spectral norm's power iteration)
    v = erase_step.Variational("kl", {}, 4, width=16, lr=1e-2)
    critic = copy.deepcopy(v.critic).requires_grad_(True)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for k, (eps_p, eps_q) in enumerate(batches):
        loss = losses.critic_loss(v.div, critic(eps_p), critic(eps_q))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            critic(eps_p), critic(eps_q)  # the estimate after the update
        assert torch.equal(torch.cat([p.detach().flatten() for p in critic.parameters()]), fixed[k])
        with torch.no_grad():
            critic(eps_q)  # the generator's forward
    with pytest.raises(ValueError, match=r"'buggy'.*accepted: fixed, leaky"):
        erase_step.Variational("kl", {}, 4, critic="buggy")


def test_leaky_critic_changes_the_erasure(base, cache):
    cfg = small(steps=3, variational=True, divergence="kl", critic_warmup=2, lr=1e-3)
    fixed = run(copy.deepcopy(base), CAT, cache, cfg)
    leaky = run(copy.deepcopy(base), CAT, cache, dataclasses.replace(cfg, critic="leaky"))
    assert leaky.record["erase"]["critic"] == "leaky"
    assert fixed.log[0]["loss"] == leaky.log[0]["loss"]  # the first generator step precedes any leak
    assert any(not torch.equal(fixed.weights[n], w) for n, w in leaky.weights.items())


def test_the_empty_prompt_is_an_anchor():
    (c,) = erase.as_concepts((["a photo of the cat"], [""]))
    assert c.anchors == ("",)
    with pytest.raises(ValueError, match="empty or not text"):
        erase.as_concepts((["a photo of the cat"], [" "]))
    with pytest.raises(ValueError, match="empty or not text"):
        erase.as_concepts(([""], ["a photo of the dog"]))


def test_several_concepts_at_once(base, cache):
    batches = [held_out(base, c, cache) for c in (CAT, CAR)]
    start = [gap(base, base.unet, b) for b in batches]

    def erased_gaps(concepts) -> tuple[list[float], erase.EraseResult]:
        """(CAT's gap, CAR's gap) after erasing ``concepts`` from a fresh copy."""
        pipe = copy.deepcopy(base)
        result = run(pipe, concepts, cache, small(steps=20))
        return [gap(pipe, base.unet, b) for b in batches], result

    only_cat, only_car = erased_gaps(CAT)[0], erased_gaps(CAR)[0]
    both, result = erased_gaps([CAT, CAR])
    assert len(result.record["anchor_cache"]) == 2 and result.record["n_anchor_images"] == 16
    assert [c["targets"] for c in result.record["concepts"]] == [CAT[0], CAR[0]]
    assert sum(both) < 0.5 * sum(start)
    # the joint run erases each concept: its gap is far below the one left when only the other is erased
    assert both[0] < 0.5 * only_car[0] and both[1] < 0.5 * only_cat[1]


@pytest.mark.parametrize("name", ["kl", "hellinger", "jensen_shannon"])
def test_variational_form_runs(pipe, cache, name):
    before = {n: p.detach().clone() for n, p in erase_params.select(pipe.unet, "kv").items()}
    result = run(pipe, CAT, cache, small(steps=4, divergence=name, variational=True, critic_warmup=2))
    assert result.record["divergence"] == f"variational {name}"
    assert all(torch.isfinite(torch.tensor([e["estimate"], e["loss"], e["grad_norm"]])).all() for e in result.log)
    assert all(not torch.equal(before[n], w) for n, w in result.weights.items())


def test_critic_learns_and_generator_step_leaves_it_no_gradient():
    v = erase_step.Variational("jensen_shannon", {}, channels=4, width=16, lr=2e-3)
    g = torch.Generator().manual_seed(0)
    estimates = [v.critic_update(torch.randn(8, 4, 6, 6, generator=g) + 1.5, torch.randn(8, 4, 6, 6, generator=g))
                 for _ in range(60)]
    assert estimates[-1] > 0.3 and estimates[-1] > estimates[0] + 0.2  # JS-type bound: at most 2 log 2
    v.opt.zero_grad(set_to_none=True)
    eps_q = torch.randn(8, 4, 6, 6, requires_grad=True)
    v.generator_loss(eps_q).backward()
    assert eps_q.grad is not None and eps_q.grad.abs().sum() > 0
    assert all(p.grad is None for p in v.critic.parameters())


# ----------------------------------------------------------------------------- model folders
def test_save_and_load_round_trip(base, cache, tmp_path):
    pipe = copy.deepcopy(base)
    result = run(pipe, CAT, cache, small(steps=4, lr=1e-3), out=tmp_path / "erased", base="tiny-sd")
    folder = tmp_path / "erased"
    assert result.folder == folder
    assert sorted(p.name for p in folder.iterdir()) == ["erased_weights.safetensors", "record.json"]
    rec = models.read_record(folder)
    assert rec["kind"] == "pipeline-erasure" and rec["base_model"] == "tiny-sd"
    assert rec["base_sha256"] == erase_params.fingerprint(base) and len(rec["log"]) == 4
    asked = []

    def loader(name):
        asked.append(name)
        return copy.deepcopy(base)

    loaded = erase.load_erased(folder, loader)
    assert asked == ["tiny-sd"]
    x_t, t, _, cond = _random_batch(pipe)
    with torch.no_grad():
        want = pipe.unet(x_t, t, encoder_hidden_states=cond).sample
        got = loaded.unet(x_t, t, encoder_hidden_states=cond).sample
        old = base.unet(x_t, t, encoder_hidden_states=cond).sample
    assert torch.equal(got, want) and not torch.equal(got, old)
    with pytest.raises(ValueError, match="not the base"):
        erase.apply(loaded, folder)  # already erased: not the base it was trained on
    erase.apply(loaded, result.original)  # undo
    with torch.no_grad():
        assert torch.equal(loaded.unet(x_t, t, encoder_hidden_states=cond).sample, old)


def test_erasures_chain(base, cache, tmp_path):
    first = run(copy.deepcopy(base), CAT, cache, small(steps=2), out=tmp_path / "a", base="tiny-sd")
    pipe = copy.deepcopy(base)
    erase.apply(pipe, first.weights)
    run(pipe, CAR, cache, small(steps=2), out=tmp_path / "b", base=str(tmp_path / "a"))
    asked = []
    loaded = erase.load_erased(tmp_path / "b", lambda name: asked.append(name) or copy.deepcopy(base))
    assert asked == ["tiny-sd"]
    assert all(torch.equal(p, q) for p, q in zip(loaded.unet.parameters(), pipe.unet.parameters(), strict=True))


def test_the_same_eraser_runs_on_minisd(fast_minisd, tmp_path):
    from fdunlearn.models import minisd

    pipe = minisd.load_pipeline(fast_minisd)
    concept = (["a handwritten seven", "the digit 7"], ["a handwritten digit", "a handwritten digit"])
    result = erase.erase(pipe, concept, small(steps=3, n_anchor_images=4, anchor_steps=3, guidance_scale=3.0),
                         cache_dir=tmp_path, out=tmp_path / "erased", base=str(fast_minisd), progress=False)
    assert result.record["n_weights"] == len(erase_params.select(pipe.unet, "kv"))
    loaded = erase.load_erased(tmp_path / "erased", minisd.load_pipeline)
    assert all(torch.equal(p, q) for p, q in zip(loaded.unet.parameters(), pipe.unet.parameters(), strict=True))


@pytest.mark.parametrize("settings", [{}, {"variational": True}, {"variational": True, "critic": "leaky"},
                                      {"optimizer": "sgd", "lr": 1e-2}],
                         ids=["closed-form", "variational", "leaky-critic", "sgd"])
def test_interrupted_erasure_resumes_bitwise(base, cache, tmp_path, settings):
    cfg = small(steps=6, checkpoint_every=2, critic_warmup=2, divergence="hellinger", **({"lr": 1e-3} | settings))
    full = run(copy.deepcopy(base), CAT, cache, cfg, out=tmp_path / "full")
    part = run(copy.deepcopy(base), CAT, cache, cfg, out=tmp_path / "part", stop_after=3)
    assert not part.finished and part.folder is None
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["erase_state.safetensors"]
    with pytest.raises(FileExistsError, match="resume"):
        run(copy.deepcopy(base), CAT, cache, cfg, out=tmp_path / "part")
    with pytest.raises(ValueError, match="different erasure"):
        run(copy.deepcopy(base), CAT, cache, small(steps=7), out=tmp_path / "part", resume=True)
    done = run(copy.deepcopy(base), CAT, cache, cfg, out=tmp_path / "part", resume=True)
    assert all(torch.equal(done.weights[n], w) for n, w in full.weights.items())
    assert [e["loss"] for e in done.log] == [e["loss"] for e in full.log]
    with pytest.raises(FileExistsError, match="finished"):
        run(copy.deepcopy(base), CAT, cache, cfg, out=tmp_path / "full")


# ----------------------------------------------------------------------------- anchors, precision, eps
def test_anchor_images_are_cached_by_settings(base, tmp_path, monkeypatch):
    run(copy.deepcopy(base), CAT, tmp_path, small(steps=1))
    assert len(list(tmp_path.glob("anchors-*.npz"))) == 1

    def no_generation(*args, **kwargs):
        raise AssertionError("anchor images were generated again")

    monkeypatch.setattr(erase_anchors, "_generate", no_generation)
    run(copy.deepcopy(base), (["the cat", "a cat"], CAT[1]), tmp_path,
        small(steps=1, divergence="hellinger", params="cross-attn"))  # same anchors: cached
    with pytest.raises(AssertionError, match="generated again"):  # another seed: other images
        run(copy.deepcopy(base), CAT, tmp_path, small(steps=1, seed=1))


def test_anchor_negative_draws_other_anchor_images_with_the_target_as_negative_prompt(base, tmp_path, monkeypatch):
    run(copy.deepcopy(base), CAT, tmp_path, small(steps=1))
    seen = []
    original = erase_anchors._generate

    def spy(pipe, settings, batch_size, progress):
        seen.append(settings.get("negative_prompt"))
        return original(pipe, settings, batch_size, progress)

    monkeypatch.setattr(erase_anchors, "_generate", spy)
    run(copy.deepcopy(base), CAT, tmp_path, small(steps=1, anchor_negative=True))
    assert seen == [CAT[0][0]]  # the concept's first target prompt, and a new cache file
    assert len(list(tmp_path.glob("anchors-*.npz"))) == 2
    with pytest.raises(ValueError, match=r"anchor_negative='yes'; accepted: True or False"):
        erase.check(small(anchor_negative="yes"))


def test_half_precision_unet_trains_under_autocast(pipe, cache):
    pipe.to(torch.bfloat16)
    before = {n: p.detach().clone() for n, p in erase_params.select(pipe.unet, "kv").items()}
    result = run(pipe, CAT, cache, small(steps=3, lr=1e-3))
    assert result.record["precision"] == "bf16"
    assert all(w.dtype == torch.float32 for w in result.weights.values())  # float32 master weights
    after = erase_params.select(pipe.unet, "kv")
    assert all(p.dtype == torch.bfloat16 for p in after.values())
    assert any(not torch.equal(before[n], p) for n, p in after.items())


def test_v_prediction_output_is_converted_to_eps():
    scheduler = DDPMScheduler(prediction_type="v_prediction")
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([0, 500, 999])
    x_t, v = scheduler.add_noise(x0, eps, t), scheduler.get_velocity(x0, eps, t)
    torch.testing.assert_close(erase_step.to_eps(v, x_t, t, scheduler), eps, rtol=1e-4, atol=1e-4)
    assert erase_step.crop(x0, 1).shape == (3, 4, 6, 6)


def test_away_guides_the_regression_target_away_from_the_target_prompt(pipe):
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    objective = erase_step.ClosedForm("mse", {}, scaling="reference", temperature=1.0, scheduler=scheduler)
    x_t, t, cond_t, cond_a = _random_batch(pipe)
    with torch.no_grad():
        anchor = pipe.unet(x_t, t, encoder_hidden_states=cond_a).sample
        target = pipe.unet(x_t, t, encoder_hidden_states=cond_t).sample
    plain = erase_step.ErasureStep(pipe.unet, erase_params.select(pipe.unet, "kv"), scheduler, objective, lr=1e-2)
    torch.testing.assert_close(plain.anchor_eps(x_t, t, cond_t, cond_a), anchor, rtol=0, atol=1e-6)
    plain.release()
    step = erase_step.ErasureStep(pipe.unet, erase_params.select(pipe.unet, "kv"), scheduler, objective, lr=1e-2,
                                  away=2.0, border=1)
    expected = (anchor - 2.0 * (target - anchor))[..., 1:-1, 1:-1]  # by hand: ESD's guidance, anchor for the empty
    torch.testing.assert_close(step.anchor_eps(x_t, t, cond_t, cond_a), expected, rtol=0, atol=1e-5)
    stats = step(x_t, t, cond_t, cond_a)  # and the step regresses onto it: its m is the distance to that target
    with torch.no_grad():
        new = pipe.unet(x_t, t, encoder_hidden_states=cond_t).sample
    step.release()
    assert stats["m"] == pytest.approx(float((target[..., 1:-1, 1:-1] - expected).pow(2).mean()), rel=1e-4)
    assert (new - target).abs().max() > 0  # the weights moved


def _kept_drift(base, preserve: float, steps: int = 20) -> tuple[float, list[dict]]:
    pipe = copy.deepcopy(base)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    objective = erase_step.ClosedForm("mse", {}, scaling="reference", temperature=1.0, scheduler=scheduler)
    step = erase_step.ErasureStep(pipe.unet, erase_params.select(pipe.unet, "kv"), scheduler, objective, lr=1e-3,
                                  preserve=preserve)
    x_t, t, cond_t, cond_a = _random_batch(pipe)
    cond_k = _random_batch(pipe, seed=1)[2]  # another prompt to keep
    stats = [step(x_t, t, cond_t, cond_a, cond_k) for _ in range(steps)]
    with torch.no_grad():
        drift = float((pipe.unet(x_t, t, encoder_hidden_states=cond_k).sample - step.frozen_eps(x_t, t, cond_k))
                      .pow(2).mean())
    return drift, stats


def test_preserve_holds_the_kept_prompts_near_the_original_model(base):
    free, _ = _kept_drift(base, 0.0)
    kept, stats = _kept_drift(base, 10.0)
    assert stats[0]["preserve"] == 0.0 and stats[-1]["preserve"] > 0  # no drift before the first update
    assert stats[-1]["loss"] == pytest.approx(stats[-1]["m"] + 10.0 * stats[-1]["preserve"], rel=1e-4)  # mse + lam d
    assert kept < 0.5 * free


def test_kept_prompts_reach_the_batches_and_the_record(base, cache):
    cfg = small(steps=2, keep=("a photo of the dog",), preserve=1.0)
    data = erase.prepare(copy.deepcopy(base), erase.as_concepts(CAT), cfg, cache_dir=cache, progress=False)
    batch = data.batch(torch.Generator().manual_seed(0), 4)
    assert len(batch) == 5 and torch.equal(batch[4][0], data.conds["a photo of the dog"])
    plain = dataclasses.replace(data, keep=())  # without prompts to keep the batches are the reference's
    assert all(torch.equal(a, b) for a, b in zip(plain.batch(torch.Generator().manual_seed(0), 4), batch[:4],
                                                 strict=True))
    result = run(copy.deepcopy(base), CAT, cache, cfg)
    assert list(result.record["erase"]["keep"]) == ["a photo of the dog"] and result.log[-1]["preserve"] >= 0


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("concepts", "settings", "match"), [
    (CAT, {"divergence": "wasserstein"}, "'wasserstein'.*accepted: mse, kl"),
    (CAT, {"params": "attn1"}, "'attn1'.*accepted: kv, cross-attn, unet"),
    ((["a photo of the cat", " "], ["a", "b"]), {}, "empty.*accepted: non-empty"),
    (("a photo of the cat", "a photo of the dog"), {}, "not a list; accepted: a list of prompts"),
    ((["a", "b"], ["c"]), {}, "2 target prompts but 1 anchor"),
    ([], {}, "no concepts"),
    (CAT, {"divergence": "alpha"}, "alpha=A.*accepted"),
    (CAT, {"divergence": "alpha", "alpha": 1.0}, "alpha=1.0.*accepted"),
    (CAT, {"divergence": "hellinger", "alpha": 0.5}, "only 'alpha'"),
    (CAT, {"divergence": "jensen_shannon"}, "no closed form.*accepted: mse"),
    (CAT, {"divergence": "mse", "variational": True}, "'mse' has no f-GAN form.*accepted: kl"),
    (CAT, {"steps": 0}, "steps=0.*accepted"),
    (CAT, {"precision": "fp8"}, "'fp8'.*accepted: auto"),
    (CAT, {"bogus": 1}, "unknown setting.*bogus.*accepted: divergence"),
    (CAT, {"divergence": "kl", "scaling": "reference-code"}, "reference-code.*accepted: mse, hellinger, pearson_chi2"),
    (CAT, {"optimizer": "adagrad"}, "'adagrad'.*accepted: adam, sgd"),
    (CAT, {"critic": "leaky"}, "variational form only"),
    (CAT, {"temperature": 0.0}, "temperature=0.0.*accepted"),
    (CAT, {"away": -1.0}, "away=-1.0.*accepted"),
    (CAT, {"preserve": -1.0}, "preserve=-1.0.*accepted"),
    (CAT, {"preserve": 1.0}, "keep has 0 prompts and preserve=1.0; accepted: both set"),
    (CAT, {"keep": ("a dog",)}, "keep has 1 prompts and preserve=0.0"),
    (CAT, {"keep": ("",), "preserve": 1.0}, "keep=.*accepted: a tuple of non-empty prompts"),
    (CAT, {"keep": ("a dog",), "preserve": 1.0, "variational": True, "divergence": "kl"}, "closed forms only"),
])
def test_bad_input_names_the_value_and_the_accepted_ones(pipe, cache, concepts, settings, match):
    with pytest.raises(ValueError, match=match):
        erase.erase(pipe, concepts, cache_dir=cache, progress=False, **settings)


def test_parameter_group_needs_cross_attention():
    unet = UNet2DModel(sample_size=8, block_out_channels=(8, 16), norm_num_groups=8,
                       down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2)
    with pytest.raises(ValueError, match="'kv' is empty"):
        erase_params.select(unet, "kv")


def test_apply_rejects_foreign_weights(pipe):
    with pytest.raises(ValueError, match="not in this UNet"):
        erase.apply(pipe, {"no.such.weight": torch.zeros(1)})
    name = next(iter(erase_params.select(pipe.unet, "kv")))
    with pytest.raises(ValueError, match="shape"):
        erase.apply(pipe, {name: torch.zeros(1)})
