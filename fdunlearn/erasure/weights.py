"""Which UNet weights an erasure trains, the frozen model without a second UNet, and pipeline fingerprints.

Parameter groups (names as in diffusers' ``UNet2DConditionModel``, identical in MiniSD and Stable Diffusion):

- ``"kv"``: the cross-attention keys and values, ``*.attn2.to_k.*`` and ``*.attn2.to_v.*`` (the paper's and
  Concept Ablation's default: the text enters the UNet only there, so they decide what a prompt means);
- ``"cross-attn"``: everything in ``attn2`` (queries, keys, values, output projection);
- ``"unet"``: every UNet weight.

The frozen model. The erasure target is the ORIGINAL model's prediction eps_orig(x_t, c, t)
(docs/reference-code.md). Only the trainable group differs between the original and the model in training, so
instead of a second UNet we keep a copy of the group's original values (for "kv" on Stable Diffusion v1: 19 M of
860 M parameters) and run the same UNet with those values swapped in for the call, through
``torch.func.functional_call``: it substitutes the given tensors for the named parameters during one forward and
puts the trained ones back afterwards, with no weight copied and no module duplicated. Only for the ``"unet"`` group
is the copy as large as the UNet's weights (never its activations, optimizer state or module structure).
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import Tensor, nn

GROUPS = ("kv", "cross-attn", "unet")


def _in_group(name: str, group: str) -> bool:
    if group == "kv":
        return ".attn2.to_k." in f".{name}" or ".attn2.to_v." in f".{name}"
    if group == "cross-attn":
        return ".attn2." in f".{name}"
    return True


def select(unet: nn.Module, group: str) -> dict[str, nn.Parameter]:
    """The parameters of ``group`` by name. ValueError for an unknown group or a UNet without cross-attention."""
    if group not in GROUPS:
        raise ValueError(f"unknown parameter group {group!r}; accepted: {', '.join(GROUPS)}")
    chosen = {n: p for n, p in unet.named_parameters() if _in_group(n, group)}
    if not chosen:
        raise ValueError(f"parameter group {group!r} is empty for this UNet (no cross-attention 'attn2' "
                         f"layers?); accepted: {', '.join(GROUPS)} on a UNet2DConditionModel")
    return chosen


def snapshot(params: dict[str, nn.Parameter]) -> dict[str, Tensor]:
    """Detached copies of ``params``: the original values the frozen prediction swaps in."""
    return {n: p.detach().clone() for n, p in params.items()}


def frozen_forward(unet: nn.Module, originals: dict[str, Tensor], *args, **kwargs):
    """``unet(*args, **kwargs)`` with ``originals`` standing in for the named parameters, without gradients.

    Equals the output of an untouched copy of the original UNet (tests/test_erase.py checks it).
    """
    with torch.no_grad():
        return torch.func.functional_call(unet, originals, args, kwargs, strict=False)


@torch.no_grad()
def apply_weights(unet: nn.Module, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Copy ``tensors`` into the UNet's parameters of the same names (cast to each parameter's dtype/device).

    Returns the values they replaced, so ``apply_weights(unet, previous)`` undoes it. ValueError for names
    the UNet lacks or shapes that differ.
    """
    params = dict(unet.named_parameters())
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise ValueError(f"{len(missing)} weights not in this UNet, e.g. {missing[0]!r}; accepted: the "
                         "parameter names of the UNet the weights were trained on")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(params[name].shape):
            raise ValueError(f"weight {name!r} has shape {tuple(value.shape)}, the UNet's has "
                             f"{tuple(params[name].shape)}; accepted: the same architecture")
    previous = {}
    for name, value in tensors.items():
        previous[name] = params[name].detach().clone()
        params[name].copy_(value.to(device=params[name].device, dtype=params[name].dtype))
    return previous


def fingerprint(pipe) -> str:
    """SHA-256 identifying a pipeline's weights: every tensor of the UNet, text encoder and VAE (names, shapes,
    values as float32, so a float16 pipeline and its float32 upcast agree) plus the scheduler's config."""
    h = hashlib.sha256()
    for part in ("unet", "text_encoder", "vae"):
        module = getattr(pipe, part, None)
        if module is None:
            continue
        for name, value in sorted(module.state_dict().items()):
            h.update(f"{part}.{name}:{tuple(value.shape)}".encode())
            h.update(value.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy().tobytes())
    schedule = {k: v for k, v in dict(pipe.scheduler.config).items() if not k.startswith("_")}  # no version keys
    h.update(json.dumps(schedule, sort_keys=True, default=str).encode())
    return h.hexdigest()
