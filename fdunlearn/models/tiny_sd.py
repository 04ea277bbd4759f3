"""A tiny, randomly initialised pipeline with Stable Diffusion v1's structure, built offline from configs.

Every part is the real diffusers/transformers class that Stable Diffusion v1 uses, only small:
``CLIPTokenizer`` (byte-level BPE from a generated ``vocab.json``/``merges.txt``), ``CLIPTextModel``,
``UNet2DConditionModel`` with cross-attention (``cross_attention_dim`` = the text encoder's width),
``AutoencoderKL`` (x2 downsampling, 4 latent channels) and SD v1's ``PNDMScheduler``. Nothing is
downloaded; the weights are random, so its images are noise: it exists to run the erasure code exactly as
it runs on Stable Diffusion (tests, CI, and lesson 05's fallback when the real weights cannot be had).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TEXT_WIDTH = 32  # CLIP hidden size = the UNet's cross_attention_dim
MAX_TOKENS = 77  # as CLIP's

# Stable Diffusion v1's noise schedule (scaled_linear betas 0.00085 .. 0.012, 1000 steps)
SD_SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
               "beta_schedule": "scaled_linear", "set_alpha_to_one": False, "skip_prk_steps": True,
               "steps_offset": 1, "prediction_type": "epsilon"}

TINY_UNET = {
    "sample_size": 8, "in_channels": 4, "out_channels": 4, "layers_per_block": 1,
    "block_out_channels": (32, 64), "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"), "cross_attention_dim": TEXT_WIDTH,
    "attention_head_dim": 4, "norm_num_groups": 8,
}


def byte_alphabet() -> list[str]:
    """The 256 printable stand-ins that byte-level BPE uses for the bytes 0..255 (GPT-2's scheme):
    printable Latin-1 bytes stand for themselves, the others are shifted past 255."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted, out = 0, []
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + shifted))
            shifted += 1
    return out


def write_clip_vocab(folder: str | Path, words: tuple[str, ...] = ("a", "photo", "of", "the", "cat", "dog")) -> Path:
    """Write a tiny byte-level BPE ``vocab.json`` and ``merges.txt`` that CLIPTokenizer can load.

    Every byte has a token (alone and word-final, ``</w>``), so any text tokenises; ``words`` get merges
    that build them letter by letter, so common words become single tokens as in the real CLIP vocabulary.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = byte_alphabet()
    vocab: dict[str, int] = {}
    for s in [*symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(s, len(vocab))
    merges: list[str] = []
    for word in words:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merges.append(f"{left} {right}")
            vocab.setdefault(left + right, len(vocab))
            pieces = [left + right, *pieces[2:]]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab.setdefault(special, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return folder


def build(folder: str | Path, seed: int = 0):
    """A tiny random StableDiffusionPipeline (16x16 RGB images, 4x8x8 latents); tokenizer files go to ``folder``."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = write_clip_vocab(Path(folder) / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=MAX_TOKENS)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)).eval()
    unet = UNet2DConditionModel(**TINY_UNET).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=16, sample_size=16).eval()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=PNDMScheduler(**SD_SCHEDULE), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
