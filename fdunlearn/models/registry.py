"""Model folders: shipped short names, resolution, records, and loading with SHA-256 checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from fdunlearn import config
from fdunlearn import files as io

SHIPPED = {
    "mnist-ddpm": "ddpm",
    "cifar10-ddpm": "ddpm",
    "mnist-classifier": "classifier",
    "cifar10-classifier": "classifier",
    "minisd": "pipeline",
}


def resolve(name_or_dir: str | Path, kind: str | None = None) -> Path:
    """Turn a shipped short name or a folder path into an existing model folder.

    Raises ValueError for a name that is neither, and FileNotFoundError for a shipped name whose
    files are missing (with the command that rebuilds them).
    """
    key = str(name_or_dir)
    if key in SHIPPED:
        if kind is not None and SHIPPED[key] != kind:
            accepted = [n for n, k in SHIPPED.items() if k == kind]
            raise ValueError(f"model {key!r} is a {SHIPPED[key]}, not a {kind}; accepted: "
                             f"{', '.join(accepted)} or a model folder")
        folder = config.CHECKPOINT_DIR / key
        if not (folder / "record.json").is_file():
            raise FileNotFoundError(
                f"shipped model {key!r} is missing from {folder}; rebuild it with "
                f"`python -m fdunlearn train --recipe {key} --out {folder}`")
        return folder
    folder = Path(name_or_dir).expanduser()
    if folder.is_dir() and (folder / "record.json").is_file():
        return folder
    shipped = [n for n, k in SHIPPED.items() if kind in (None, k)]
    if folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} has no record.json, so it was not written by fdunlearn or "
                                f"is incomplete; accepted: a shipped name ({', '.join(shipped)}) or a model folder "
                                "written by train, unlearn or erase")
    if folder.exists():
        raise ValueError(f"model {key!r} is a file, not a model folder; accepted: a shipped name "
                         f"({', '.join(shipped)}) or a model folder with a record.json")
    raise ValueError(f"unknown model {key!r}: not a shipped name ({', '.join(shipped)}) "
                     f"nor a model folder with a record.json")


def read_record(folder: str | Path) -> dict[str, Any]:
    """The JSON record of how a model folder was made (ValueError naming the file when it is not a JSON object)."""
    path = Path(folder) / "record.json"
    rec = io.read_json(path, "model record")
    if not isinstance(rec, dict):
        raise ValueError(f"{path} is not a model record: a JSON object was expected, found {type(rec).__name__}")
    return rec


def expected_sha256(folder: str | Path, rec: dict[str, Any], part: str | None = None) -> str:
    """The SHA-256 a model folder's record gives for its weights (``part``: e.g. "unet" when it holds several)."""
    value = rec.get("sha256")
    where = f"{Path(folder) / 'record.json'}"
    if part is not None:
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"{where} has no 'sha256' entry for {part!r}; the record is incomplete or was "
                             "edited; accepted: a record written by fdunlearn (rerun the command that made it)")
        value = value[part]
    if value is None:
        raise ValueError(f"{where} has no 'sha256' entry; the record is incomplete or was edited; accepted: a "
                         "record written by fdunlearn (rerun the command that made it)")
    if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
        raise ValueError(f"{where}: 'sha256'{f'[{part!r}]' if part else ''} is {value!r}, not a SHA-256; "
                         "accepted: 64 lowercase hex digits, as written by fdunlearn")
    return value


def require(folder: str | Path, *names: str) -> None:
    """FileNotFoundError naming the first of ``names`` (paths inside ``folder``) that is missing."""
    folder = Path(folder)
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"model folder {folder} is incomplete: {folder / name} is missing; copy the "
                                    "whole folder again, or rerun the command that wrote it")


def load_part(cls, folder: str | Path, sub: str, **kwargs):
    """``cls.from_pretrained(folder / sub)`` for a local model part, checked first so that a missing file is never
    taken for a Hugging Face hub id (and reported as a network problem)."""
    folder = Path(folder)
    config_name = getattr(cls, "config_name", None) or "config.json"
    require(folder, f"{sub}/{config_name}")
    try:
        return cls.from_pretrained(folder / sub, local_files_only=True, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, SafetensorError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{folder / sub} cannot be loaded ({first}); its config or weights are corrupt or do not "
                         "match: rerun the command that wrote the folder") from None


def load_ddpm(name_or_dir: str | Path):
    """Load a DDPM model folder: (UNet2DModel in eval mode, DDPMScheduler, record)."""
    from diffusers import DDPMScheduler, UNet2DModel

    folder = resolve(name_or_dir, kind="ddpm")
    rec = read_record(folder)
    if rec.get("kind") != "ddpm":
        raise ValueError(f"model {str(name_or_dir)!r} is a {rec.get('kind')!r} folder, not a DDPM; accepted: "
                         f"{', '.join(n for n, k in SHIPPED.items() if k == 'ddpm')} or a folder written by "
                         "`train --recipe mnist-ddpm` or `unlearn`")
    weights = "unet/diffusion_pytorch_model.safetensors"
    require(folder, "unet/config.json", weights, "scheduler/scheduler_config.json")
    io.verify_sha256(folder / weights, expected_sha256(folder, rec))
    unet = load_part(UNet2DModel, folder, "unet").to(config.device()).eval()
    scheduler = load_part(DDPMScheduler, folder, "scheduler")
    return unet, scheduler, rec
