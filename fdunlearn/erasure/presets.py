"""The paper's concepts, anchors, prompt lists and training settings, ready for ``erase.erase`` (lesson 05).

Novello et al. (2025) erase one style and four instances from Stable Diffusion v1.4:

- **Van Gogh** (style): superclass anchor "painting", near anchor Salvador Dali; other painters are the surrounding
  concepts that must survive;
- **Snoopy, Grumpy Cat, Wall-E, R2D2** (instances): superclass anchors dog, cat, robot; near pairs Grumpy Cat-Snoopy
  and R2D2-Wall-E (each is the other's near anchor).

Prompts. ``data/prompts/*.json`` hold captions written for this course (the reference generated its own with an
LLM): painting captions for the style, caption templates with a ``{}`` slot for each instance family (cats, dogs,
robots), each with a ``train`` list (erasure: anchor images and aligned target/anchor pairs) and a disjoint ``eval``
list (evaluation only). A concept's prompt is the caption with its phrase in it: "a photo of {} asleep on a sofa"
gives "a photo of Grumpy Cat asleep on a sofa" (target) and "a photo of a cat asleep on a sofa" (anchor); a style
appends ", in the style of Van Gogh" to a painting caption, and the superclass "painting" is the caption alone.

Settings. ``settings("reference")`` is the paper's run (cross-attention K/V, 500 steps, batch 4, 1000 anchor images
from 25-step DPM-Solver++, a one-pixel latent border ignored); ``"fast"`` is a quick look on a GPU (100 steps, 64
anchor images); ``"ci"`` is seconds-sized, for the offline fallback pipelines. ``DIVERGENCES`` are the rows of the
paper's table: MSE, Hellinger, chi^2 (closed forms) and variational Hellinger.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.erasure import erase

PROMPT_DIR = config.REPO_ROOT / "data" / "prompts"
SPLITS = ("train", "eval")
ANCHOR_KINDS = ("superclass", "near")
MIN_TRAIN_PROMPTS = 50


@dataclass(frozen=True)
class Subject:
    """A concept as words: ``phrase`` fills a template's slot (instances) or names a style."""

    name: str
    phrase: str
    family: str  # prompt file in data/prompts (without .json)
    style: bool = False

    def render(self, caption: str) -> str:
        if self.style:
            return f"{caption}, in the style of {self.phrase}" if self.phrase else caption
        return caption.format(self.phrase)


SUBJECTS = {s.name: s for s in [
    Subject("van_gogh", "Van Gogh", "paintings", style=True),
    Subject("salvador_dali", "Salvador Dali", "paintings", style=True),
    Subject("painting", "", "paintings", style=True),  # the superclass: the plain caption
    Subject("claude_monet", "Claude Monet", "paintings", style=True),
    Subject("pablo_picasso", "Pablo Picasso", "paintings", style=True),
    Subject("rembrandt", "Rembrandt", "paintings", style=True),
    Subject("katsushika_hokusai", "Katsushika Hokusai", "paintings", style=True),
    Subject("snoopy", "Snoopy", "dogs"),
    Subject("dog", "a dog", "dogs"),
    Subject("grumpy_cat", "Grumpy Cat", "cats"),
    Subject("cat", "a cat", "cats"),
    Subject("wall_e", "Wall-E", "robots"),
    Subject("r2d2", "R2D2", "robots"),
    Subject("robot", "a robot", "robots"),
]}


@dataclass(frozen=True)
class Preset:
    """One erasure target with its two anchors and the surrounding concepts its evaluation checks."""

    target: str
    anchors: dict[str, str]  # anchor kind -> subject
    surrounding: tuple[str, ...]


PRESETS = {
    "van_gogh": Preset("van_gogh", {"superclass": "painting", "near": "salvador_dali"},
                       ("claude_monet", "pablo_picasso", "rembrandt", "katsushika_hokusai")),
    "snoopy": Preset("snoopy", {"superclass": "dog", "near": "grumpy_cat"}, ("grumpy_cat", "wall_e", "r2d2")),
    "grumpy_cat": Preset("grumpy_cat", {"superclass": "cat", "near": "snoopy"}, ("snoopy", "wall_e", "r2d2")),
    "wall_e": Preset("wall_e", {"superclass": "robot", "near": "r2d2"}, ("r2d2", "snoopy", "grumpy_cat")),
    "r2d2": Preset("r2d2", {"superclass": "robot", "near": "wall_e"}, ("wall_e", "snoopy", "grumpy_cat")),
}

# The paper's training run, and smaller ones (EraseConfig fields)
SETTINGS: dict[str, dict[str, Any]] = {
    "reference": dict(params="kv", steps=500, batch_size=4, lr=7e-5, n_anchor_images=1000, anchor_steps=25,
                      anchor_sampler="dpm-solver", guidance_scale=7.5, border=1, anchor_batch_size=8),
    "fast": dict(params="kv", steps=100, batch_size=4, lr=7e-5, n_anchor_images=64, anchor_steps=25,
                 anchor_sampler="dpm-solver", guidance_scale=7.5, border=1, anchor_batch_size=8),
    # seconds on a CPU, for the offline fallback pipelines (tiny-sd, MiniSD): the code path, not the result
    "ci": dict(params="kv", steps=20, batch_size=4, lr=1e-3, n_anchor_images=8, anchor_steps=4,
               anchor_sampler="dpm-solver", guidance_scale=7.5, border=1, anchor_batch_size=8, critic_warmup=5),
}

# The rows of the paper's table: label -> EraseConfig fields
DIVERGENCES: dict[str, dict[str, Any]] = {
    "MSE": dict(divergence="mse"),
    "Hellinger": dict(divergence="hellinger"),
    "chi^2": dict(divergence="pearson_chi2"),
    "variational Hellinger": dict(divergence="hellinger", variational=True),
}


def _choice(value: str, accepted, what: str) -> str:
    if value not in accepted:
        raise ValueError(f"unknown {what} {value!r}; accepted: {', '.join(accepted)}")
    return value


def load_prompts(family: str, folder: str | None = None) -> dict[str, tuple[str, ...]]:
    """A checked prompt file: {"train": (...), "eval": (...)}. Errors name the file and the bad entry."""
    path = Path(folder or PROMPT_DIR) / f"{family}.json"
    if not path.is_file():
        known = sorted(p.stem for p in Path(folder or PROMPT_DIR).glob("*.json"))
        raise FileNotFoundError(f"no prompt file {path}; accepted families: {', '.join(known) or '(none)'}")
    raw = io.read_json(path, "prompt file")
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a prompt file: a JSON object with 'train' and 'eval' lists was expected")
    out = {}
    for split in SPLITS:
        items = raw.get(split)
        if not isinstance(items, list) or not items:
            raise ValueError(f"{path}: {split!r} must be a non-empty list of prompts")
        for p in items:
            if not isinstance(p, str) or not p.strip():
                raise ValueError(f"{path}: {split} prompt {p!r} is empty or not text")
            if raw.get("kind") == "instance" and p.count("{}") != 1:
                raise ValueError(f"{path}: {split} template {p!r} needs exactly one '{{}}' slot for the subject")
        if len(set(items)) != len(items):
            dup = next(p for p in items if items.count(p) > 1)
            raise ValueError(f"{path}: {split} prompt {dup!r} appears twice")
        out[split] = tuple(items)
    overlap = set(out["train"]) & set(out["eval"])
    if overlap:
        raise ValueError(f"{path}: {len(overlap)} prompts are in both train and eval, e.g. {sorted(overlap)[0]!r}; "
                         "evaluation prompts must be unseen in training")
    return out


def prompts(subject: str, split: str = "train") -> list[str]:
    """Every prompt of ``subject`` ('van_gogh', 'cat', ...) in ``split`` ('train' or 'eval')."""
    s = SUBJECTS[_choice(subject, SUBJECTS, "subject")]
    captions = load_prompts(s.family)[_choice(split, SPLITS, "split")]
    return [s.render(c) for c in captions]


def preset(name: str) -> Preset:
    return PRESETS[_choice(name, PRESETS, "preset")]


def concept(name: str, anchor: str = "superclass", split: str = "train") -> erase.Concept:
    """Aligned (target, anchor) prompt lists of preset ``name`` with its ``anchor`` kind ('superclass' | 'near')."""
    p = preset(name)
    anchor_subject = p.anchors[_choice(anchor, ANCHOR_KINDS, "anchor kind")]
    target, other = SUBJECTS[p.target], SUBJECTS[anchor_subject]
    captions = load_prompts(target.family)[_choice(split, SPLITS, "split")]
    return erase.Concept(tuple(target.render(c) for c in captions), tuple(other.render(c) for c in captions),
                         name=f"{name}->{anchor_subject}")


def concepts(names: str | list[str], anchor: str = "superclass", split: str = "train") -> list[erase.Concept]:
    """Several presets erased together (multi-concept erasure): ``concepts(["van_gogh", "snoopy"])``."""
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError(f"no preset given; accepted: one or more of {', '.join(PRESETS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"preset listed twice in {names}; accepted: distinct names from {', '.join(PRESETS)}")
    return [concept(n, anchor, split) for n in names]


def eval_prompts(name: str, anchor: str = "superclass", n: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """Evaluation prompts by role, each paired with the prompt CLIP accuracy compares it against.

    ``"target"``: target prompts vs their anchor prompt (high accuracy = the target is still there);
    ``"anchor"``: anchor prompts vs their target prompt; one key per surrounding concept: its prompts vs the anchor
    prompt of the same caption. Only ``eval`` captions are used (never seen in training); ``n`` keeps the first n.
    """
    p = preset(name)
    anchor_subject = SUBJECTS[p.anchors[_choice(anchor, ANCHOR_KINDS, "anchor kind")]]
    target = SUBJECTS[p.target]
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n={n!r}; accepted: an integer >= 1 or None (all)")
    out: dict[str, list[tuple[str, str]]] = {}
    for role, subject in [("target", target), ("anchor", anchor_subject),
                          *((s, SUBJECTS[s]) for s in p.surrounding if s != anchor_subject.name)]:
        captions = load_prompts(subject.family)["eval"][:n]
        against = target if role == "anchor" else anchor_subject  # same caption, other subject
        out[role] = [(subject.render(c), against.render(c)) for c in captions]
    return out


def settings(name: str = "reference", **overrides: Any) -> erase.EraseConfig:
    """The ``EraseConfig`` of a settings preset ('reference', 'fast', 'ci'), with ``overrides`` applied."""
    base = SETTINGS[_choice(name, SETTINGS, "settings preset")]
    try:
        cfg = dataclasses.replace(erase.EraseConfig(), **(base | overrides))
    except TypeError:
        fields = [f.name for f in dataclasses.fields(erase.EraseConfig)]
        raise ValueError(f"unknown setting(s) {sorted(overrides)}; accepted: {', '.join(fields)}") from None
    erase.check(cfg)
    return cfg


def divergence(label: str) -> dict[str, Any]:
    """EraseConfig fields of a table row ('MSE', 'Hellinger', 'chi^2', 'variational Hellinger')."""
    return dict(DIVERGENCES[_choice(label, DIVERGENCES, "divergence row")])
