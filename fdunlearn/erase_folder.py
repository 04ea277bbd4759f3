"""Erasure model folders: only the changed weights plus a record pointing at the base pipeline.

A folder written by ``erase.erase(..., out=DIR)`` holds

- ``erased_weights.safetensors``: the trained UNet weights, keys ``unet.<parameter name>``, float32;
- ``record.json``: kind ``"pipeline-erasure"``, ``base_model`` (the name or folder the base pipeline was loaded
  from: a shipped name such as ``minisd``, a Hugging Face id, a folder, or another erasure folder),
  ``base_sha256`` (``erase_params.fingerprint`` of the base), ``base_dtype``, ``sha256`` of the weights file,
  the settings, the concepts and the per-step log.

``apply`` puts the weights into a pipeline in place (checking both fingerprints); ``load_erased`` loads the base
with a caller-supplied loader first, following chains of erasures.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fdunlearn import erase_params, io, models
from fdunlearn.erase_state import STATE_FILE

KIND = "pipeline-erasure"
WEIGHTS_FILE = "erased_weights.safetensors"


def write(out: Path, weights: dict[str, torch.Tensor], record: dict[str, Any]) -> None:
    """Only the changed weights + record.json (written last, so a folder with a record is complete)."""
    io.save_tensors({f"unet.{n}": v for n, v in weights.items()}, out / WEIGHTS_FILE,
                    metadata={"kind": KIND, "base_sha256": record["base_sha256"]})
    record["sha256"] = io.sha256(out / WEIGHTS_FILE)
    io.write_json(record, out / "record.json")
    (out / STATE_FILE).unlink(missing_ok=True)


def read_weights(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The UNet weights stored in an erasure folder (names without the ``unet.`` prefix) and its record."""
    folder = Path(folder)
    if not (folder / "record.json").is_file():
        raise ValueError(f"{folder} is not a model folder (no record.json); accepted: a folder written by erase")
    rec = models.read_record(folder)
    if rec.get("kind") != KIND:
        raise ValueError(f"{folder} is a {rec.get('kind')!r} model folder; accepted: a {KIND!r} folder")
    io.verify_sha256(folder / rec["weights_file"], rec["sha256"])
    tensors = io.load_tensors(folder / rec["weights_file"])
    return {k.removeprefix("unet."): v for k, v in tensors.items() if k.startswith("unet.")}, rec


def apply(pipe, source: str | Path | dict[str, torch.Tensor], verify: bool = True) -> dict[str, torch.Tensor]:
    """Put erased weights into ``pipe`` (in place): from an erasure folder or a {UNet parameter name: tensor} dict.

    With a folder and ``verify``, the pipeline must be the base the erasure was trained on (same fingerprint).
    Returns the replaced values: ``apply(pipe, previous)`` undoes it.
    """
    if isinstance(source, dict):
        return erase_params.apply_weights(pipe.unet, source)
    weights, rec = read_weights(source)
    if verify:
        actual = erase_params.fingerprint(pipe)
        if actual != rec["base_sha256"]:
            raise ValueError(f"the pipeline is not the base of {source}: fingerprint {actual[:12]}..., expected "
                             f"{rec['base_sha256'][:12]}... ({rec.get('base_model')!r}, {rec.get('base_dtype')}); "
                             "accepted: the base pipeline it was erased from (or verify=False)")
    return erase_params.apply_weights(pipe.unet, weights)


def load_erased(folder: str | Path, base_pipe_loader: Callable[[str | None], Any], verify: bool = True):
    """Load the base pipeline with ``base_pipe_loader(record["base_model"])`` and apply the erasure to it.

    A base that is itself an erasure folder is loaded first (erasures chain).
    """
    _, rec = read_weights(folder)
    base = rec.get("base_model")
    base_path = Path(base) if base else None
    if base_path is not None and (base_path / "record.json").is_file() and \
            models.read_record(base_path).get("kind") == KIND:
        pipe = load_erased(base_path, base_pipe_loader, verify)
    else:
        pipe = base_pipe_loader(base)
    apply(pipe, folder, verify=verify)
    return pipe


def read_log(folder: str | Path) -> list[dict[str, float]]:
    """The per-step log stored in an erasure folder's record."""
    return json.loads((Path(folder) / "record.json").read_text()).get("log", [])
