"""Exercise checks that never stop "Run All".

An exercise cell defines a stub whose body is a placeholder (``...``), then calls ``check(stub)``:

    def q_sample(x0, eps, t, alpha_bar):
        ...  # ✏️ your code here


    exercises.check(q_sample)

While the placeholder is there, ``check`` prints "not attempted yet" and where the solution is, without calling
the stub. Once the body is filled in, it runs the exercise's checker: it prints "correct", or raises an
``AssertionError`` that says what is wrong. Each checker is registered here under the stub's name, so the notebook
and the tests (``tests/test_solutions.py``, against ``notebooks/solutions/``) run the very same assertions. Checkers
draw their data from a private seeded generator: they never touch the notebook's global random state.
"""

from __future__ import annotations

import dis
import inspect
import math
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fdunlearn.datasets import captions
from fdunlearn.theory import divergences, losses

Checker = Callable[[Callable[..., Any]], None]

_IGNORED_OPS = {"RESUME", "NOP", "CACHE", "EXTENDED_ARG"}
_RAISE_OPS = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_CONST", "PUSH_NULL", "PRECALL", "CALL", "KW_NAMES", "RAISE_VARARGS"}


@dataclass(frozen=True)
class Exercise:
    """One exercise: the stub's name (also the solution's), its notebook, its number there, and its checker."""

    name: str
    notebook: str  # file stem, e.g. "01_mse_is_an_f_divergence"
    number: int | None  # None for a lesson's only, unnumbered exercise
    checker: Checker

    @property
    def label(self) -> str:
        return "exercise" if self.number is None else f"exercise {self.number}"

    @property
    def solution_file(self) -> str:
        """Path of the solution, relative to the repository root."""
        return f"notebooks/solutions/{self.notebook}.py"


EXERCISES: dict[str, Exercise] = {}


def exercise(notebook: str, number: int | None, name: str) -> Callable[[Checker], Checker]:
    """Register the decorated checker for the stub ``name`` of ``notebook``'s exercise ``number``."""

    def register(checker: Checker) -> Checker:
        if name in EXERCISES:
            raise ValueError(f"exercise {name!r} is registered twice")
        EXERCISES[name] = Exercise(name, notebook, number, checker)
        return checker

    return register


def _is_placeholder(code: types.CodeType) -> bool:
    """True for code that only returns None or ``...``, or only raises NotImplementedError."""
    ops = [i for i in dis.get_instructions(code) if i.opname not in _IGNORED_OPS]
    names = [i.opname for i in ops]
    if names in (["RETURN_CONST"], ["LOAD_CONST", "RETURN_VALUE"]):
        return ops[0].argval is None or ops[0].argval is Ellipsis
    loaded = {i.argval for i in ops if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    return bool(ops) and names[-1] == "RAISE_VARARGS" and set(names) <= _RAISE_OPS and loaded == {"NotImplementedError"}


def attempted(answer: Any) -> bool:
    """False while ``answer`` is a placeholder: ``...``, or a function whose body only returns None or ``...``
    (``...``, ``pass``, a docstring) or only raises NotImplementedError.

    A function's bytecode is inspected, never called, so a stub that raises cannot stop the notebook. (A body that is
    just ``return None`` counts as a placeholder too.)
    """
    if answer is Ellipsis:
        return False
    fn = inspect.unwrap(getattr(answer, "__func__", answer))
    if isinstance(fn, types.FunctionType):
        return not _is_placeholder(fn.__code__)
    return True


def check(answer: Any, name: str | None = None) -> None:
    """What a notebook's exercise cell calls: ``grade`` without a return value (a cell's last line shows nothing)."""
    grade(answer, name)


def grade(answer: Any, name: str | None = None) -> bool:
    """Print "not attempted yet" while ``answer`` is a placeholder, else run its registered checker.

    ``name`` defaults to ``answer.__name__``. Returns True when the answer passed, False when not attempted; a wrong
    answer raises ``AssertionError`` naming the exercise and the solution file.
    """
    name = name or answer.__name__
    if name not in EXERCISES:
        raise KeyError(f"no exercise named {name!r}; known: {', '.join(sorted(EXERCISES))}")
    ex = EXERCISES[name]
    where = f"{ex.solution_file} (function {name})"
    if not attempted(answer):
        print(f"{ex.label}: not attempted yet — see the solution in {where}")
        return False
    try:
        ex.checker(answer)
    except AssertionError as err:
        raise AssertionError(f"{ex.label}: {name} does not pass its check yet: {err}\n(solution: {where})") from err
    print(f"{ex.label}: correct")
    return True


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _course_scheduler():
    """The course's DDPM schedule (that of every shipped model): 1000 linear betas from 1e-4 to 0.02."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)


# ----------------------------------------------------------------------------- lesson 01
_L01 = "01_mse_is_an_f_divergence"


@exercise(_L01, 1, "kappa_from_betas")
def _check_kappa_from_betas(fn: Callable[..., Any]) -> None:
    scheduler = _course_scheduler()
    for variance in losses.VARIANCES:
        for t in (0, 1, 10, 999):
            expected = float(losses.kappa(scheduler, t, variance, dtype=torch.float64))
            got = fn(scheduler.betas, t, variance)
            assert math.isclose(got, expected, rel_tol=1e-9), f"variance={variance!r}, t={t}: {got} != {expected}"


@exercise(_L01, 2, "hellinger_closed_form")
def _check_hellinger_closed_form(fn: Callable[..., Any]) -> None:
    d = torch.logspace(-3, 3, 61, dtype=torch.float64)
    torch.testing.assert_close(fn(d), divergences.get("hellinger").gaussian(d))


@exercise(_L01, 3, "reference_multipliers")
def _check_reference_multipliers(fn: Callable[..., Any]) -> None:
    g = _generator()
    eps_orig = torch.randn(5, 1, 8, 8, generator=g, dtype=torch.float64)
    eps_new = (eps_orig + 0.7 * torch.randn(5, 1, 8, 8, generator=g, dtype=torch.float64)).requires_grad_(True)
    m = (eps_new - eps_orig).pow(2).flatten(1).mean(1).detach()
    (g_mse,) = torch.autograd.grad(losses.closed_form_loss(eps_new, eps_orig, "mse").sum(), eps_new)
    for name, factor in zip(["hellinger", "pearson_chi2"], fn(m, 0.5), strict=True):
        loss = losses.closed_form_loss(eps_new, eps_orig, name, temperature=0.5)
        (grad,) = torch.autograd.grad(loss.sum(), eps_new)
        torch.testing.assert_close(grad, g_mse * factor.reshape(-1, 1, 1, 1), msg=lambda m, n=name: f"{n}: {m}")


@exercise(_L01, 4, "neyman_conjugate")
def _check_neyman_conjugate(fn: Callable[..., Any]) -> None:
    t = torch.linspace(-20.0, 0.99, 200, dtype=torch.float64)
    torch.testing.assert_close(fn(t), divergences.get("neyman_chi2").conjugate(t))


# ----------------------------------------------------------------------------- lesson 02
_L02 = "02_ddpm_mnist_cifar"
_TIMESTEPS = (0, 5, 50, 200, 400, 600, 800, 999)


def _images_and_noise(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random 1x32x32 "images" in [-1, 1] (the range of the course's MNIST) and as much Gaussian noise."""
    g = _generator()
    return torch.rand(n, 1, 32, 32, generator=g) * 2 - 1, torch.randn(n, 1, 32, 32, generator=g)


@exercise(_L02, 1, "q_sample")
def _check_q_sample(fn: Callable[..., Any]) -> None:
    scheduler, t = _course_scheduler(), torch.tensor(_TIMESTEPS)
    x0, eps = _images_and_noise(len(t))
    torch.testing.assert_close(fn(x0, eps, t, scheduler.alphas_cumprod), scheduler.add_noise(x0, eps, t))


@exercise(_L02, 2, "predict_x0")
def _check_predict_x0(fn: Callable[..., Any]) -> None:
    scheduler, t = _course_scheduler(), torch.tensor(_TIMESTEPS)
    x0, eps = _images_and_noise(len(t))
    got = fn(scheduler.add_noise(x0, eps, t), eps, t, scheduler.alphas_cumprod)
    torch.testing.assert_close(got, x0, atol=1e-3, rtol=1e-3)


@exercise(_L02, 3, "ddim_step")
def _check_ddim_step(fn: Callable[..., Any]) -> None:
    from diffusers import DDIMScheduler

    scheduler = _course_scheduler()
    ddim = DDIMScheduler.from_config(scheduler.config, clip_sample=False)
    ddim.set_timesteps(50)
    x_t, eps = _images_and_noise(4)
    t_now, t_prev = int(ddim.timesteps[10]), int(ddim.timesteps[11])
    torch.testing.assert_close(fn(x_t, eps, t_now, t_prev, scheduler.alphas_cumprod),
                               ddim.step(eps, t_now, x_t, eta=0.0).prev_sample)


# ----------------------------------------------------------------------------- lesson 03
_L03 = "03_vdu_class_unlearning"


@exercise(_L03, 1, "stability_term")
def _check_stability_term(fn: Callable[..., Any]) -> None:
    from fdunlearn.unlearning import unlearn

    g = _generator()
    net = torch.nn.Linear(4, 3)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    mu = {n: p.detach() + 0.1 * torch.randn(p.shape, generator=g) for n, p in net.named_parameters()}
    var = {n: torch.rand(p.shape, generator=g) + 0.5 for n, p in net.named_parameters()}
    torch.testing.assert_close(torch.as_tensor(fn(net, mu, var)), unlearn.stability(net, mu, var))


@exercise(_L03, 2, "pul")
def _check_pul(fn: Callable[..., Any]) -> None:
    from fdunlearn.studies import vdu_study

    for base, share in [(0.1, 0.01), (0.1, 0.2), (0.0, 0.0), (0.25, 0.0)]:
        got, expected = fn(base, share), vdu_study.pul(base, share)
        assert (got is None) == (expected is None), f"pul({base}, {share}) = {got}, expected {expected}"
        assert expected is None or math.isclose(got, expected, abs_tol=1e-9), f"pul({base}, {share}) = {got}"


@exercise(_L03, 3, "saliency_mask")
def _check_saliency_mask(fn: Callable[..., Any]) -> None:
    grads = {"a": torch.tensor([0.1, -3.0, 0.2]), "b": torch.tensor([[2.0, -0.05], [0.3, 1.0]])}
    masks = fn(grads, 3 / 7)
    assert masks["a"].tolist() == [0.0, 1.0, 0.0], f"mask of 'a': {masks['a'].tolist()}, expected [0, 1, 0]"
    assert masks["b"].tolist() == [[1.0, 0.0], [0.0, 1.0]], f"mask of 'b': {masks['b'].tolist()}"


@exercise(_L03, 4, "forget_like_mask")
def _check_forget_like_mask(fn: Callable[..., Any]) -> None:
    from fdunlearn.unlearning import replay

    g = _generator()
    forget = torch.randn(20, 1, 4, 4, generator=g) * 0.3 + 1.0
    pool = torch.cat([torch.randn(40, 1, 4, 4, generator=g) * 0.3 - 1.0, torch.randn(10, 1, 4, 4, generator=g) + 0.5])
    got = torch.as_tensor(fn(pool, forget, 5, 1.1)).bool()
    expected = replay.forget_like(pool, forget, k=5, ratio=1.1, k_replay=5)  # the same k on both sides
    assert torch.equal(got, expected), f"flags {got.nonzero().flatten().tolist()}, expected " \
                                       f"{expected.nonzero().flatten().tolist()}"


# ----------------------------------------------------------------------------- lesson 04
_L04 = "04_concept_erasure_minisd"


@exercise(_L04, 1, "hellinger_erasure_loss")
def _check_hellinger_erasure_loss(fn: Callable[..., Any]) -> None:
    g = _generator()
    eps_new, eps_anchor = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g)
    torch.testing.assert_close(fn(eps_new, eps_anchor), losses.closed_form_loss(eps_new, eps_anchor, "hellinger"))


@exercise(_L04, 2, "erasure_pairs")
def _check_erasure_pairs(fn: Callable[..., Any]) -> None:
    got, expected = fn(3, 8), tuple(captions.pairs("three", "eight"))
    assert got == expected, f"erasure_pairs(3, 8) gave {got!r}, the eraser builds {expected!r}"


@exercise(_L04, 3, "adam_first_step")
def _check_adam_first_step(fn: Callable[..., Any]) -> None:
    for scale in [1.0, 1 / 8]:
        w = torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.Adam([w], lr=1e-3)
        w.grad = scale * torch.tensor([0.5, -2.0, 3.0])
        opt.step()
        torch.testing.assert_close(w.detach(), fn(scale * torch.tensor([0.5, -2.0, 3.0]), 1e-3),
                                   msg=lambda m, s=scale: f"gradient scale {s}: {m}")


@exercise(_L04, 4, "fill_placeholders")
def _check_fill_placeholders(fn: Callable[..., Any]) -> None:
    g = _generator()
    words = torch.randn(3, 6, 5, generator=g)  # 3 prompts, 6 tokens, embeddings of size 5
    slots = torch.zeros(3, 6, dtype=torch.bool)
    slots[:, 1:3] = True  # two placeholders per prompt, as prompt-opt puts its soft tokens before the prompt
    vectors = torch.randn(2, 5, generator=g, requires_grad=True)
    got = fn(words, slots, vectors)
    expected = words.clone()
    expected[:, 1:3] = vectors.detach()
    torch.testing.assert_close(got.detach(), expected, msg=lambda m: f"placeholders not filled in order: {m}")
    assert torch.equal(words[:, 0], torch.randn(3, 6, 5, generator=_generator())[:, 0]), "words was modified in place"
    got.sum().backward()
    assert vectors.grad is not None and torch.equal(vectors.grad, torch.full_like(vectors, 3.0)), \
        "the result must stay differentiable in vectors (each vector is used once per prompt: gradient 3)"


# ----------------------------------------------------------------------------- lesson 05
_L05 = "05_stable_diffusion_erasure"


@exercise(_L05, None, "clip_accuracy_from_embeddings")
def _check_clip_accuracy_from_embeddings(fn: Callable[..., Any]) -> None:
    from fdunlearn.evaluation import clip as sd_eval

    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    p = ["a painting of a village in the style of Van Gogh", "Grumpy Cat on a sofa"] * 4
    q = ["a painting of a village", "a cat on a sofa"] * 4
    with tempfile.TemporaryDirectory() as tmp:
        clip = sd_eval.tiny_clip(tmp)
        mine = fn(clip.image_embeds(images), clip.text_embeds(p), clip.text_embeds(q))
        expected = sd_eval.clip_accuracy(clip, images, p, q)
    assert torch.equal(torch.as_tensor(mine), expected), f"got {mine}, sd_eval.clip_accuracy gives {expected}"
