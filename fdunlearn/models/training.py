"""The one training toolkit of the models trained here (``ddpm``, ``minisd``) and of the eraser (``erasure.state``):
an optimizer's state and the random generators to and from safetensors tensors (so a run resumes bitwise), the
warm-up + cosine learning rate, and the EMA update."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from fdunlearn import files as io


def optimizer_tensors(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], prefix: str) -> dict:
    """The optimizer's per-parameter state as ``PREFIX.I.KEY`` tensors on the CPU (I: the index in ``params``)."""
    out = {}
    for i, p in enumerate(params):
        for key, value in opt.state.get(p, {}).items():
            out[f"{prefix}.{i}.{key}"] = torch.as_tensor(value).detach().cpu()
    return out


def load_optimizer(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], prefix: str,
                   tensors: dict[str, torch.Tensor]) -> None:
    """Put back what ``optimizer_tensors`` wrote, each state on its parameter's device (``step`` stays as stored)."""
    for i, p in enumerate(params):
        state = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"{prefix}.{i}.")}
        if state:
            opt.state[p] = {k: (v if k == "step" else v.to(p.device)) for k, v in state.items()}


def warmup_cosine(peak: float, warmup: int, total: int, step: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak at ``total`` (``step`` counts within the phase)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))


def rng_tensors(gens: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """The generators' states, as ``rng.NAME`` tensors."""
    return {f"rng.{name}": g.get_state() for name, g in gens.items()}


def load_rng(gens: dict[str, torch.Generator], tensors: dict[str, torch.Tensor]) -> None:
    """Put back what ``rng_tensors`` wrote."""
    for name, g in gens.items():
        g.set_state(tensors[f"rng.{name}"])


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay ema + (1 - decay) model, parameter by parameter."""
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters(), strict=True):
            pe.lerp_(p, 1 - decay)


def stored_seed(state: Path) -> int | None:
    """The seed an interrupted training run was started with, from its ``state`` file (None when there is none)."""
    if not state.is_file():
        return None
    seed = io.read_metadata(state).get("seed")
    return int(seed) if seed is not None and seed.isdigit() else None


def open_run(out: str | Path, state_file: str, resume: bool, kind: str, recipe: dict, seed: int,
             architecture: tuple[str, ...], read_log: Callable[[Path], object]) -> Path:
    """The run folder ``out`` of a resumable training (``files.run_folder``); on a resume, before any work, its state
    must match ``recipe``, ``seed`` and ``architecture`` and its log must read back (``read_log``)."""
    out = io.run_folder(out, state_file, resume, kind=kind)
    if resume and (out / state_file).exists():
        io.check_resume(out / state_file, recipe, seed, architecture)
        read_log(out)
    return out
