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

from fdunlearn import files as io
from fdunlearn.erasure import weights as erase_params
from fdunlearn.erasure.state import STATE_FILE
from fdunlearn.models import registry as models

KIND = "pipeline-erasure"
WEIGHTS_FILE = "erased_weights.safetensors"


def write(out: Path, weights: dict[str, torch.Tensor], record: dict[str, Any]) -> None:
    """Only the changed weights + record.json (written last, so a folder with a record is complete).

    Refuses (ValueError, nothing written) weights that are not all finite: a diverged erasure is not a model.
    """
    bad = [n for n, v in weights.items() if not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"the erasure diverged: {len(bad)} weight tensor(s) hold NaN or infinity (first: {bad[0]}); "
                         f"nothing was written to {out}; accepted: a smaller learning rate (--lr)")
    io.save_tensors({f"unet.{n}": v for n, v in weights.items()}, out / WEIGHTS_FILE,
                    metadata={"kind": KIND, "base_sha256": record["base_sha256"]})
    record["sha256"] = io.sha256(out / WEIGHTS_FILE)
    io.write_json(record, out / "record.json")
    (out / STATE_FILE).unlink(missing_ok=True)


def check_folder(folder: str | Path) -> tuple[dict[str, Any], Path]:
    """The record of an erasure folder and its weights file, checked (kind, fields, files) without reading them."""
    folder = Path(folder)
    if not (folder / "record.json").is_file():
        raise ValueError(f"{folder} is not a model folder (no record.json); accepted: a folder written by erase")
    rec = models.read_record(folder)
    if rec.get("kind") != KIND:
        raise ValueError(f"{folder} is a {rec.get('kind')!r} model folder; accepted: a {KIND!r} folder")
    name = rec.get("weights_file", WEIGHTS_FILE)
    if not (isinstance(name, str) and name and Path(name).name == name):
        raise ValueError(f"{folder / 'record.json'}: 'weights_file' is {name!r}; accepted: a file name inside the "
                         f"folder ({WEIGHTS_FILE})")
    if not isinstance(rec.get("base_sha256"), str):
        raise ValueError(f"{folder / 'record.json'} has no 'base_sha256' (the base pipeline's fingerprint); the "
                         "record is incomplete or was edited; rerun the erasure")
    models.require(folder, name)
    models.expected_sha256(folder, rec)
    return rec, folder / name


def read_weights(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The UNet weights stored in an erasure folder (names without the ``unet.`` prefix) and its record."""
    rec, weights = check_folder(folder)
    io.verify_sha256(weights, rec["sha256"])
    tensors = io.load_tensors(weights)
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


MAX_CHAIN = 32  # erasures of erasures: more than this is a mistake, not a workflow


def base_chain(folder: str | Path) -> list[Path]:
    """The erasure folders from ``folder`` down to the first base that is not an erasure (checked first: a chain
    that loops or is too long is a ValueError naming it, before any model is loaded)."""
    chain = [Path(folder)]
    while True:
        rec = models.read_record(chain[-1])
        base = rec.get("base_model")
        if base is not None and not isinstance(base, str):
            raise ValueError(f"{chain[-1] / 'record.json'}: 'base_model' is {base!r}; accepted: a model name or "
                             "folder")
        base_path = Path(base).expanduser() if base else None
        if base_path is None or not (base_path / "record.json").is_file() or \
                models.read_record(base_path).get("kind") != KIND:
            return chain
        if any(base_path.resolve() == p.resolve() for p in chain):
            loop = " -> ".join(str(p) for p in [*chain, base_path])
            raise ValueError(f"the erasure {folder} has a base chain that loops ({loop}); accepted: a base_model that "
                             "is a pipeline or an erasure of one, never the folder itself")
        if len(chain) >= MAX_CHAIN:
            raise ValueError(f"the erasure {folder} is an erasure of more than {MAX_CHAIN} erasures; accepted: at "
                             f"most {MAX_CHAIN}")
        chain.append(base_path)


def load_erased(folder: str | Path, base_pipe_loader: Callable[[str | None], Any], verify: bool = True):
    """Load the base pipeline with ``base_pipe_loader(record["base_model"])`` and apply the erasure to it.

    A base that is itself an erasure folder is loaded first (erasures chain; a loop is refused).
    """
    chain = base_chain(folder)
    for link in chain:
        check_folder(link)  # every record and weights file checked before the base is loaded
    pipe = base_pipe_loader(models.read_record(chain[-1]).get("base_model"))
    for link in reversed(chain):
        apply(pipe, link, verify=verify)
    return pipe


def read_log(folder: str | Path) -> list[dict[str, float]]:
    """The per-step log stored in an erasure folder's record."""
    return json.loads((Path(folder) / "record.json").read_text()).get("log", [])
