"""Solution to lesson 05's exercise; ``python 05_stable_diffusion_erasure.py`` checks it against ``sd_eval``."""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from fdunlearn.evaluation import clip as sd_eval


def clip_accuracy_from_embeddings(img: torch.Tensor, txt_p: torch.Tensor, txt_q: torch.Tensor) -> torch.Tensor:
    """Exercise: an image is assigned to its own prompt p when cos(img, p) > cos(img, q) (Novello et al. 2025's
    CLIP accuracy, after Concept Ablation); with unit-norm embeddings the cosine is the dot product."""
    return (img * txt_p).sum(-1) > (img * txt_q).sum(-1)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        clip = sd_eval.tiny_clip(tmp)
        images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
        p, q = ["Grumpy Cat on a sofa"] * 6, ["a cat on a sofa"] * 6
        mine = clip_accuracy_from_embeddings(clip.image_embeds(images), clip.text_embeds(p), clip.text_embeds(q))
        assert torch.equal(mine, sd_eval.clip_accuracy(clip, images, p, q))
    print("exercise: correct")
