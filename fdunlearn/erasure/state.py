"""Erasure checkpoints: everything needed to resume bitwise, in one safetensors file written atomically.

Stored: the trainable weights, the optimiser's state (AdamW; plain SGD has none), the critic and its Adam state
(variational form), the critic's leaked gradients (``critic="leaky"``: they are part of the next update), the gradient
scaler, the data generator's RNG state, the step, the log so far, and the run's identity (settings, concepts, base
fingerprint), which must match on resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fdunlearn import files as io
from fdunlearn.models import training

STATE_FILE = "erase_state.safetensors"


def save_state(path: Path, step: int, identity: dict[str, Any], step_fn, g: torch.Generator,
               log: list[dict]) -> None:
    """Write the checkpoint of ``step_fn`` (an ``erase_step.ErasureStep``) after ``step`` steps."""
    params = list(step_fn.trainable.values())
    tensors = {f"weight.{n}": p.detach() for n, p in step_fn.trainable.items()}
    tensors |= training.optimizer_tensors(step_fn.opt, params, "opt")
    critic = getattr(step_fn.objective, "critic", None)
    if critic is not None:
        tensors |= {f"critic.{k}": v for k, v in critic.state_dict().items()}
        tensors |= training.optimizer_tensors(step_fn.objective.opt, list(critic.parameters()), "critic_opt")
        if getattr(step_fn.objective, "leaky", False):
            tensors |= {f"critic_grad.{n}": p.grad.detach() for n, p in critic.named_parameters()
                        if p.grad is not None}
    tensors["rng"] = g.get_state()
    meta = {"step": str(step), "identity": json.dumps(identity, sort_keys=True), "log": json.dumps(log),
            "scaler": json.dumps(step_fn.scaler.state_dict())}
    io.save_tensors(tensors, path, metadata=meta)


def load_state(path: Path, identity: dict[str, Any], step_fn, g: torch.Generator) -> tuple[int, list[dict]]:
    """Restore a checkpoint into ``step_fn`` and ``g``; returns (step, log). ValueError if the run differs."""
    meta = io.read_metadata(path)
    if not {"identity", "step", "log"} <= set(meta):
        raise ValueError(f"{path} is not an erasure checkpoint (its metadata lacks the run's identity); accepted: a "
                         "file written by an interrupted erasure")
    if json.loads(meta["identity"]) != json.loads(json.dumps(identity, sort_keys=True)):
        raise ValueError(f"{path} was written by a different erasure (settings, concepts or base pipeline "
                         "differ); accepted: resume with the same settings, or choose another output folder")
    tensors = io.load_tensors(path)
    with torch.no_grad():
        for n, p in step_fn.trainable.items():
            p.copy_(tensors[f"weight.{n}"])
    training.load_optimizer(step_fn.opt, list(step_fn.trainable.values()), "opt", tensors)
    critic = getattr(step_fn.objective, "critic", None)
    if critic is not None:
        critic.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("critic.")})
        training.load_optimizer(step_fn.objective.opt, list(critic.parameters()), "critic_opt", tensors)
        for n, p in critic.named_parameters():
            if f"critic_grad.{n}" in tensors:
                p.grad = tensors[f"critic_grad.{n}"].to(p.device).clone()
    if meta.get("scaler") and json.loads(meta["scaler"]):
        step_fn.scaler.load_state_dict(json.loads(meta["scaler"]))
    g.set_state(tensors["rng"])
    return int(meta["step"]), json.loads(meta["log"])
