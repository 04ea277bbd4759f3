"""What lesson 04's erasure study erases and how it scores a pipeline (``erase_study`` runs it, ``erase_summary``
reads its results; ``erase_regimes``, ``erase_defaults`` and ``attack_study`` reuse both): the tasks (target and
anchor concepts), the methods (the paper's table rows), the study's sizes (``Budget``) and the bars, and ``score``.
See ``erase_study``'s docstring for what every score means."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from fdunlearn import config
from fdunlearn.datasets import captions
from fdunlearn.datasets import images as data
from fdunlearn.datasets.samples import encode_grid
from fdunlearn.erasure import erase
from fdunlearn.evaluation import metrics, minisd_eval
from fdunlearn.models import classifier as clf
from fdunlearn.models import minisd

REFERENCE_LR = erase.EraseConfig().lr  # 7e-5 per sample (the reference's), times the batch size


MARGIN = 0.03  # the bar's 3 points


RETAIN = 0.95  # retained accuracy at least 95% of the base model's


TIME_LIMIT_S = 180.0  # a closed-form erasure in at most 3 minutes, anchors included


@dataclass(frozen=True)
class Task:
    """What is erased (a ``captions`` concept) and the concept it is mapped to."""

    target: str
    anchor: str

    @property
    def key(self) -> str:
        return f"{self.target}->{self.anchor}"

    @property
    def style(self) -> bool:
        return captions.digit_of(self.target) is None

    @property
    def near(self) -> bool:
        """A near anchor is another digit (its own share of the target digit should be about zero)."""
        return captions.digit_of(self.anchor) is not None


TASKS = {"generic": Task("seven", "digit"), "near": Task("seven", "one"), "style": Task("thick", "plain")}


@dataclass(frozen=True)
class Method:
    """A row of the paper's table: a divergence, its form (closed or variational) and its scaling."""

    divergence: str
    alpha: float | None = None
    variational: bool = False
    scaling: str = "reference"

    @property
    def key(self) -> str:
        name = f"alpha={self.alpha:g}" if self.divergence == "alpha" else self.divergence
        return ("var-" if self.variational else "") + name + ("-exact" if self.scaling == "exact" else "")

    @property
    def label(self) -> str:
        names = {"mse": "MSE (Concept Ablation)", "kl": "KL", "hellinger": "Hellinger", "pearson_chi2": "chi^2",
                 "jensen_shannon": "JS"}
        name = f"alpha = {self.alpha:g}" if self.divergence == "alpha" else names.get(self.divergence, self.divergence)
        if self.variational:
            return f"variational {name}"
        return f"exact {name}" if self.scaling == "exact" else name

    def config(self) -> dict:
        return {"divergence": self.divergence, "alpha": self.alpha, "variational": self.variational,
                "scaling": self.scaling}


METHODS = (Method("mse"), Method("kl", scaling="exact"), Method("hellinger"), Method("pearson_chi2"),
           Method("alpha", 0.25), Method("alpha", 1.5), Method("kl", variational=True),
           Method("hellinger", variational=True), Method("jensen_shannon", variational=True))


ANCHOR_METHODS = (Method("mse"),)  # run on the near-anchor and style tasks too


@dataclass(frozen=True)
class Budget:
    """Sizes of the study (one place): seeds, erasure steps, the lr sweep and the images that score a pipeline."""

    seeds: tuple[int, ...]
    steps: int  # erasure steps of every table/sweep run
    default_steps: int  # the `erase` CLI's default length on MiniSD (erase.MINISD_STEPS), on every seed
    lr_mults: tuple[float, ...]  # learning rates swept, as multiples of the reference's
    sweep_seeds: tuple[int, ...]  # seeds of the lr sweep beyond the reference lr (and of the default-length run)
    target_images: int  # images per scoring group: the first n prompts, or whole images per prompt beyond that
    heldout_images: int
    retained_images: int
    ddim_steps: int
    guidance: float
    n_anchor_images: int
    anchor_steps: int
    methods: tuple[Method, ...] = METHODS
    anchor_methods: tuple[Method, ...] = ANCHOR_METHODS
    anchor_lr_mults: tuple[float, ...] = (1.0,)  # learning rates of the near/style runs (every seed)
    default_methods: tuple[Method, ...] = ANCHOR_METHODS  # run at the CLI's default length (generic task)
    default_lr_mult: float = 1.0  # and the CLI's default lr (erase.MINISD_LR_MULT)


BUDGETS = {
    # sized on this 2-core CPU, one core: a 200-step K/V erasure takes about 26 s, 100 images about 13 s to score
    "full": Budget(seeds=(0, 1, 2), steps=200, default_steps=erase.MINISD_STEPS,
                   default_lr_mult=erase.MINISD_LR_MULT, lr_mults=(1.0, 3.0), sweep_seeds=(0,),
                   target_images=36, heldout_images=20, retained_images=45, ddim_steps=25, guidance=3.0,
                   n_anchor_images=128, anchor_steps=25, anchor_lr_mults=(1.0, 0.3),
                   default_methods=(METHODS[0], METHODS[2], METHODS[3])),
    "fast": Budget(seeds=(0,), steps=2, default_steps=3, lr_mults=(1.0, 10.0), sweep_seeds=(0,), target_images=4,
                   heldout_images=4,
                   retained_images=9, ddim_steps=2, guidance=3.0, n_anchor_images=4, anchor_steps=2,
                   methods=(Method("mse"), Method("hellinger"), Method("kl", variational=True)),
                   anchor_methods=(Method("mse"),), anchor_lr_mults=(1.0, 0.3)),
}


def budget() -> Budget:
    return BUDGETS[config.mode()]


# ----------------------------------------------------------------------------- scoring
@lru_cache(maxsize=1)
def thick_thresholds() -> torch.Tensor:
    """Per digit (10,), the ink fraction above which an image of that digit counts as thick: the midpoint of real
    held-out images of the digit before and after the 3x3 dilation that defined the style in training. One global
    threshold called every thick one plain (their ink, 0.11-0.14, sits below the all-digit midpoint, 0.153)."""
    real = data.load("mnist", "heldout", verbose=False)
    plain, thick = minisd_eval.ink(real.images), minisd_eval.ink(data.dilate(real.images))
    return torch.stack([(plain[real.labels == d].mean() + thick[real.labels == d].mean()) / 2 for d in range(10)])


@dataclass(frozen=True)
class EvalPrompts:
    """The prompt groups that score a pipeline for one task, with the digit each prompt names."""

    target: list[str]
    heldout: list[str]
    retained: list[str]
    retained_digits: list[int]
    anchor: list[str]
    target_digits: list[int]  # the digit of each target prompt (style task; the target digit otherwise)
    heldout_digits: list[int]


def eval_prompts(task: Task) -> EvalPrompts:
    """Target (train phrasings), held-out phrasings, retained prompts (template-major, so a grid's first row spans
    digits) and anchor prompts for ``task``."""
    train, held = captions.templates("train"), captions.templates("heldout")
    if task.style:
        target = [captions.fill(t, d, True) for t in train for d in range(10)]
        heldout = [captions.fill(t, d, True) for t in held for d in range(10)]
        retained = [captions.fill(t, d) for t in train for d in range(10)]
        digits = list(range(10)) * len(train)
        return EvalPrompts(target, heldout, retained, digits, retained, digits, list(range(10)) * len(held))
    k = captions.digit_of(task.target)
    target = [captions.fill(t, k, thick) for t in train for thick in (False, True)]
    heldout = [captions.fill(t, k, thick) for t in held for thick in (False, True)]
    others = [d for d in range(10) if d != k]
    retained = [captions.fill(t, d) for t in train for d in others]
    anchor = captions.pairs(task.target, task.anchor)[1]
    return EvalPrompts(target, heldout, retained, others * len(train), anchor, [k] * len(target), [k] * len(heldout))


def _images(pipe, prompts: list[str], n: int, seed: int, b: Budget) -> tuple[torch.Tensor, int, int]:
    """About ``n`` images: one each for the first n prompts, or ceil(n / len(prompts)) for every prompt.
    Returns the images (prompt-major), images per prompt and the number of prompts used."""
    k = min(n, len(prompts))
    per = max(1, math.ceil(n / len(prompts)))
    images = minisd.generate(pipe, prompts[:k], per, seed=seed, steps=b.ddim_steps, guidance=b.guidance)
    return images, per, k


def _shows_target(task: Task, model, images: torch.Tensor, digits: list[int], per: int) -> torch.Tensor:
    """1 per image that shows the target; ``digits`` (the digit of each prompt, ``per`` images each) sets the style's
    per-digit threshold."""
    if task.style:
        labels = torch.tensor(digits[:len(images) // per]).repeat_interleave(per)
        return (minisd_eval.ink(images) > thick_thresholds()[labels]).float()
    return (clf.predict(model, images)[0].argmax(-1) == captions.digit_of(task.target)).float()


def _anchor_target_share(data: erase.ErasureData, task: Task, model) -> float | None:
    """Share of the anchor images (uint8) that the classifier reads as the target digit (None for the style task).
    Not the floor of an erasure: the eraser copies the frozen model's prediction at the anchor PROMPT, whose own
    share (``anchor_share``) is that floor."""
    if task.style:
        return None
    images = data.anchors.images.float().div(127.5).sub(1)
    return _shows_target(task, model, images, [], 1).mean().item()


def _reads_as(model, images: torch.Tensor, digits: list[int], per: int) -> torch.Tensor:
    labels = torch.tensor(digits[:len(images) // per]).repeat_interleave(per)
    return (clf.predict(model, images)[0].argmax(-1) == labels).float()


def score(pipe, task: Task, seed: int, b: Budget, model=None, real: data.ImageData | None = None,
          base: bool = False, grids: bool = True) -> dict:
    """Score ``pipe`` on ``task`` (module docstring); the same initial latents for every pipeline at one seed."""
    model = model or clf.load("mnist-classifier")
    real = real or data.load("mnist", "heldout", verbose=False)
    p = eval_prompts(task)
    s0 = 10_000 + 1_000 * seed
    target, per_t, _ = _images(pipe, p.target, b.target_images, s0, b)
    heldout, per_h, _ = _images(pipe, p.heldout, b.heldout_images, s0 + 1, b)
    retained, per_r, k_r = _images(pipe, p.retained, b.retained_images, s0 + 2, b)
    classes = sorted(set(p.retained_digits[:k_r]))
    kid = metrics.feature_distances(real.images[torch.isin(real.labels, torch.tensor(classes))], retained, model)
    row = {"target_acc": _shows_target(task, model, target, p.target_digits, per_t).mean().item(),
           "heldout_acc": _shows_target(task, model, heldout, p.heldout_digits, per_h).mean().item(),
           "retained_acc": _reads_as(model, retained, p.retained_digits, per_r).mean().item(),
           "kid": kid["kid_mean"], "kid_std": kid["kid_std"],
           "n_images": {"target": len(target), "heldout": len(heldout), "retained": len(retained)}}
    if task.style:
        row["content_acc"] = _reads_as(model, target, p.target_digits, per_t).mean().item()
    if base:
        if task.style:  # the anchor prompts are the retained ones
            row["anchor_share"] = _shows_target(task, model, retained, p.retained_digits, per_r).mean().item()
        else:
            anchor, per_a, _ = _images(pipe, list(dict.fromkeys(p.anchor)), b.target_images, s0 + 3, b)
            row["anchor_share"] = _shows_target(task, model, anchor, [], per_a).mean().item()
    if grids:  # 8 images each: two target prompts x 4 (digit tasks) or the first prompts in order
        row["grid_png"] = {"target": encode_grid(target[:8]), "heldout": encode_grid(heldout[:8]),
                           "retained": encode_grid(retained[:8])}
    return row


def _downsample(log: list[dict], points: int = 40) -> list[dict]:
    """Every k-th log entry (and the last), rounded: the loss and gradient curves the lesson plots."""
    k = max(1, len(log) // points)
    keep = log[k - 1::k] if log else []
    if log and keep[-1] is not log[-1]:
        keep.append(log[-1])
    return [{key: (round(v, 8) if isinstance(v, float) else v) for key, v in e.items()} for e in keep]


def _concepts(task: Task) -> list[erase.Concept]:
    targets, anchors = captions.pairs(task.target, task.anchor)
    return [erase.Concept(tuple(targets), tuple(anchors), name=task.target)]
