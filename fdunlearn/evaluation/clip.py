"""Evaluation of an erasure as in the paper: CLIP score, CLIP accuracy and KID (lesson 05).

Novello et al. (2025), following Concept Ablation (Kumari et al. 2023), score images generated from evaluation
prompts (never used in training) with OpenAI's CLIP ViT-B/32 (``openai/clip-vit-base-patch32`` through
``transformers``):

- **CLIP score (CS)** of an image x and its prompt p: 100 * max(cos(E_img(x), E_txt(p)), 0), the convention of
  torchmetrics' ``CLIPScore`` (Hessel et al. 2021 scale it by 2.5 instead of 100);
- **CLIP accuracy (CA)**: the share of images that CLIP assigns to their own prompt p rather than to a paired
  prompt q, i.e. cos(x, p) > cos(x, q). For target prompts q is the anchor prompt of the same caption (low CA:
  the target is gone); for anchor prompts q is the target prompt, for surrounding concepts (other painters, other
  characters) q is the anchor prompt (high CA: they are still themselves);
- **KID** (Binkowski et al. 2018) between the erased model's images and the base model's images from the same
  prompts and the same initial noise, on the retained prompts (anchor and surrounding): how much the erasure changed
  everything else. torchmetrics' ``KernelInceptionDistance`` is used with CLIP's image embeddings as the features,
  since Inception weights cannot be had offline; KIDs are therefore comparable within this course only.

``load_clip`` reads the CLIP weights from the Hugging Face cache (downloading only with ``FDUNLEARN_ONLINE=1``) and
fails early otherwise (``sd.Unavailable``). ``tiny_clip`` builds a tiny randomly initialised ``CLIPModel`` from a
config, offline, so the code path runs in tests and on the fallback pipeline; its numbers mean nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance
from tqdm.auto import tqdm

from fdunlearn import config
from fdunlearn.evaluation import tables
from fdunlearn.evaluation.metrics import KID_SUBSET, KID_SUBSETS  # the course's KID, also on CLIP features
from fdunlearn.models import sd, tiny_sd

CLIP_ID = "openai/clip-vit-base-patch32"
CLIP_REVISION = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"  # as found in snapshot paths of public code using it


@dataclass
class Clip:
    """A CLIP model and its processor; ``name`` says which (the real one or the tiny random stand-in)."""

    model: nn.Module
    processor: object
    name: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def image_embeds(self, images: np.ndarray, batch: int = 64) -> torch.Tensor:
        """Unit-norm image embeddings (N, d), float32 on the CPU, of uint8 (N, H, W, C) images."""
        out = []
        for start in range(0, len(images), batch):
            pixels = self.processor(images=list(images[start:start + batch]), return_tensors="pt")["pixel_values"]
            pooled = self.model.vision_model(pixel_values=pixels.to(self.device)).pooler_output
            out.append(nn.functional.normalize(self.model.visual_projection(pooled).float(), dim=-1).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def text_embeds(self, prompts: list[str], batch: int = 256) -> torch.Tensor:
        """Unit-norm text embeddings (N, d), float32 on the CPU (prompts truncated to CLIP's 77 tokens)."""
        out = []
        for start in range(0, len(prompts), batch):
            tokens = self.processor(text=prompts[start:start + batch], return_tensors="pt", padding=True,
                                    truncation=True)
            pooled = self.model.text_model(input_ids=tokens["input_ids"].to(self.device),
                                           attention_mask=tokens["attention_mask"].to(self.device)).pooler_output
            out.append(nn.functional.normalize(self.model.text_projection(pooled).float(), dim=-1).cpu())
        return torch.cat(out)


def load_clip(name: str = CLIP_ID, revision: str | None = CLIP_REVISION, device: str | None = None) -> Clip:
    """OpenAI CLIP ViT-B/32 (or another CLIP id or folder); ``sd.Unavailable`` at once when the weights are absent."""
    from transformers import CLIPModel, CLIPProcessor

    path = Path(name).expanduser()
    folder = path if path.is_dir() else sd.hub_folder(name, revision if name == CLIP_ID else None,
                                                      f"CLIP {name!r}", ["*.msgpack", "*.h5", "*.ckpt"])
    model = CLIPModel.from_pretrained(folder).eval().to(device or config.device())
    return Clip(model, CLIPProcessor.from_pretrained(folder), name)


def tiny_clip(folder: str | Path, seed: int = 0, image_size: int = 32) -> Clip:
    """A tiny random ``CLIPModel`` built from a config (nothing downloaded): the code path, not a measurement."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    tok_dir = tiny_sd.write_clip_vocab(Path(folder) / "clip-tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=tiny_sd.MAX_TOKENS)
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=tiny_sd.MAX_TOKENS, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  image_size=image_size, patch_size=8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).eval()
    images = CLIPImageProcessor(size={"shortest_edge": image_size},
                                crop_size={"height": image_size, "width": image_size})
    return Clip(model, CLIPProcessor(image_processor=images, tokenizer=tokenizer), "tiny random CLIP")


def clip_score(clip: Clip, images: np.ndarray, prompts: list[str]) -> torch.Tensor:
    """Per image: 100 * max(cos(image, its prompt), 0)."""
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts; accepted: one prompt per image")
    return 100 * (clip.image_embeds(images) * clip.text_embeds(prompts)).sum(-1).clamp_min(0)


def clip_accuracy(clip: Clip, images: np.ndarray, prompts: list[str], against: list[str]) -> torch.Tensor:
    """Per image: True when CLIP finds it closer to its prompt than to the paired ``against`` prompt."""
    if not len(images) == len(prompts) == len(against):
        raise ValueError(f"{len(images)} images, {len(prompts)} prompts, {len(against)} paired prompts; "
                         "accepted: the same number of each")
    img = clip.image_embeds(images)
    return (img * clip.text_embeds(prompts)).sum(-1) > (img * clip.text_embeds(against)).sum(-1)


class _ClipFeatures(nn.Module):
    """CLIP image embeddings as torchmetrics' KID feature extractor (uint8 NCHW in, float64 features out)."""

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.clip = clip
        self.num_features = clip.model.config.projection_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.image_embeds(x.permute(0, 2, 3, 1).cpu().numpy()).double()


def kid(clip: Clip, reference: np.ndarray, images: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets) between uint8 (N, H, W, C) image sets, on CLIP image embeddings."""
    n = min(len(reference), len(images))
    if n < 2:
        raise ValueError(f"KID needs at least 2 images on each side, got {len(reference)} and {len(images)}")
    with warnings.catch_warnings():  # torchmetrics warns that it keeps every feature: a few thousand here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_ClipFeatures(clip), subsets=KID_SUBSETS,
                                         subset_size=min(KID_SUBSET, n))
    for array, real in ((reference, True), (images, False)):
        for start in range(0, len(array), 256):
            metric.update(torch.from_numpy(np.ascontiguousarray(array[start:start + 256])).permute(0, 3, 1, 2),
                          real=real)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


@torch.no_grad()
def generate(pipe, prompts: list[str], n_per_prompt: int, seed: int = 0, steps: int = 25, guidance: float = 7.5,
             batch: int = 8, sampler: str = "dpm-solver", progress: bool = True, desc: str = "images") -> np.ndarray:
    """uint8 (len(prompts) * n_per_prompt, H, W, C), prompt-major, from initial noise drawn once from ``seed``
    (so the base and every erased model start from the same latents: before/after pairs are comparable)."""
    size = pipe.unet.config.sample_size
    flat = [p for p in prompts for _ in range(n_per_prompt)]
    latents = torch.randn((len(flat), pipe.unet.config.in_channels, size, size),
                          generator=torch.Generator().manual_seed(seed))
    out = []
    with sd.sampling(pipe, sampler):
        for start in tqdm(range(0, len(flat), batch), desc=desc, disable=not progress, unit="batch"):
            images = pipe(flat[start:start + batch], num_inference_steps=steps, guidance_scale=guidance,
                          latents=latents[start:start + batch].to(pipe.device, pipe.unet.dtype),
                          output_type="pt").images
            out.append(images.float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def score(clip: Clip, images: dict[str, np.ndarray], pairs: dict[str, list[tuple[str, str]]], n_per_prompt: int,
          base: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """One row of the paper's table from images by role ('target', 'anchor', surrounding names; prompt-major).

    target_cs / target_ca: on the target prompts (CA against the anchor prompt); retained_cs / retained_ca: over
    every other role's images together; per-role values as ``cs:<role>`` / ``ca:<role>``; ``kid`` / ``kid_std``
    against ``base`` on the retained roles (absent without ``base``).
    """
    row: dict[str, float] = {}
    retained_cs, retained_ca = [], []
    for role, role_pairs in pairs.items():
        prompts = [p for p, _ in role_pairs for _ in range(n_per_prompt)]
        against = [q for _, q in role_pairs for _ in range(n_per_prompt)]
        cs = clip_score(clip, images[role], prompts)
        ca = clip_accuracy(clip, images[role], prompts, against).float()
        row[f"cs:{role}"], row[f"ca:{role}"] = float(cs.mean()), float(ca.mean())
        if role != "target":
            retained_cs.append(cs)
            retained_ca.append(ca)
    row["target_cs"], row["target_ca"] = row["cs:target"], row["ca:target"]
    row["retained_cs"] = float(torch.cat(retained_cs).mean())
    row["retained_ca"] = float(torch.cat(retained_ca).mean())
    if base is not None:
        kept = [r for r in pairs if r != "target"]
        row["kid"], row["kid_std"] = kid(clip, np.concatenate([base[r] for r in kept]),
                                         np.concatenate([images[r] for r in kept]))
    return row


COLUMNS = [("target_cs", "target CS ↓"), ("target_ca", "target CA ↓"), ("retained_cs", "retained CS ↑"),
           ("retained_ca", "retained CA ↑"), ("kid", f"{tables.KID_LABEL} ↓")]


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """The paper-shaped table as Markdown: one row per method (the base model first when present)."""
    lines = ["| method | " + " | ".join(h for _, h in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for method, row in rows.items():
        cells = []
        for key, _ in COLUMNS:
            if key not in row:
                cells.append("—")
            elif key == "kid":
                cells.append(tables.format_kid(row["kid"], row.get("kid_std")))
            elif key.endswith("_ca"):
                cells.append(f"{100 * row[key]:.1f}%")
            else:
                cells.append(f"{row[key]:.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
