"""MiniSD's evaluation: ``quality`` (how well a pipeline follows its prompts, by the lesson-02 ``mnist-classifier``)
and the measure of its "thick" style (``ink``: the ink fraction, against real digits before and after the 3x3
dilation)."""

from __future__ import annotations

from functools import lru_cache

import torch

from fdunlearn.datasets import captions
from fdunlearn.datasets import images as data
from fdunlearn.datasets.images import dilate
from fdunlearn.models.minisd import generate


def ink(images: torch.Tensor) -> torch.Tensor:
    """Ink fraction per image: the share of pixels brighter than mid-grey (> 0 in model space)."""
    return (images > 0).float().flatten(1).mean(1)


@lru_cache(maxsize=1)
def _real_ink() -> tuple[float, float]:
    real = data.load("mnist", "heldout", verbose=False).images
    return ink(real).mean().item(), ink(dilate(real)).mean().item()


def quality(pipe, n_per_prompt: int = 8, seed: int = 0, steps: int = 50, guidance: float = 3.0,
            classifier_model=None) -> dict:
    """How well a MiniSD pipeline follows prompts, by the lesson-02 ``mnist-classifier``.

    * ``train`` / ``heldout``: for each digit, the share of images from its plain prompts
      (every template of that split, ``n_per_prompt`` images each) that the classifier calls
      that digit; ``*_min`` is the worst digit.
    * ``thick``: the style measure. Ink fraction = share of pixels > 0 in [-1, 1] space. ``ink_thick``
      and ``ink_plain`` average it over images from the thick and plain train prompts (same
      initial latents, so the difference is the style word's effect);
      ``real_ink_*`` over the held-out real digits, dilated and not. ``style_gain`` =
      (ink_thick - ink_plain) / (real_ink_thick - real_ink_plain): 1 means the prompt thickens
      strokes as much as the 3x3 dilation did, 0 means no visible style. ``accuracy``: share of
      thick images still read as their digit.
    """
    from fdunlearn.models import classifier as clf

    model = classifier_model or clf.load("mnist-classifier")
    report: dict = {"n_per_prompt": n_per_prompt, "seed": seed, "steps": steps, "guidance": guidance}
    hits, inks = {}, {}
    for split, thick in (("train", False), ("train", True), ("heldout", False)):
        temps = captions.templates(split)
        prompts = [captions.fill(t, k, thick) for k in range(10) for t in temps]
        # thick and plain train prompts start from the same latents: a paired comparison
        images = generate(pipe, prompts, n_per_prompt, seed=seed + (split == "heldout"), steps=steps,
                          guidance=guidance)
        digits = torch.arange(10).repeat_interleave(len(temps) * n_per_prompt)
        hits[split, thick] = (clf.predict(model, images)[0].argmax(-1) == digits).float()
        if split == "train":
            inks[thick] = ink(images)
        if not thick:
            shares = {str(k): hits[split, thick][digits == k].mean().item() for k in range(10)}
            report |= {split: shares, f"{split}_min": min(shares.values()),
                       f"{split}_mean": sum(shares.values()) / 10}
    real_plain, real_thick = _real_ink()
    ink_plain, ink_thick = inks[False].mean().item(), inks[True].mean().item()
    report["thick"] = {"accuracy": hits["train", True].mean().item(), "ink_plain": ink_plain,
                       "ink_thick": ink_thick, "real_ink_plain": real_plain, "real_ink_thick": real_thick,
                       "style_gain": (ink_thick - ink_plain) / (real_thick - real_plain)}
    return report
