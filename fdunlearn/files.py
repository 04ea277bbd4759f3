"""Files that are never half-written: atomic saves, SHA-256 checks, model-folder records."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; accepted: a file path", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # name the user's path, not a temporary one
        raise type(err)(err.errno, f"cannot write here ({err.strerror})", str(path)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give a normal file's mode
        try:
            os.replace(tmp_path, path)
        except OSError as err:
            raise type(err)(err.errno, f"cannot write here ({err.strerror})", str(path)) from None
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path,
                 metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically."""
    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(clean, str(tmp), metadata=metadata)


def _check_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise ValueError(f"{path} is a folder; accepted: a {what}")
    if not path.is_file():
        raise FileNotFoundError(f"no such {what}: {path}")


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; FileNotFoundError when it is missing, ValueError when it is truncated or corrupt."""
    path = Path(path)
    _check_file(path, "safetensors file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err}); it is truncated or corrupt: "
                         "rewrite it (rerun the command that wrote it)") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (checkpoint step, seed, recipe ...), with the same errors."""
    path = Path(path)
    _check_file(path, "safetensors file")
    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err}); it is truncated or corrupt: "
                         "rewrite it (rerun the command that wrote it)") from None


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """Parse a JSON file; FileNotFoundError when missing, ValueError naming the file when it is not valid JSON."""
    path = Path(path)
    _check_file(path, what)
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a {what}: it is not text") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not a valid {what}: {err.msg} at line {err.lineno}, column {err.colno}"
                         ) from None


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically (indented, keys sorted)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def run_folder(out: str | Path, state_file: str, resume: bool, kind: str | None = None) -> Path:
    """Create a training folder; refuse to overwrite a run unless resuming it, and refuse a folder holding other
    files (anything but a training run, or a model folder of ``kind``)."""
    from fdunlearn import validate

    out = Path(out)

    def previous(folder: Path) -> bool:
        if (folder / state_file).exists():
            return True
        try:
            rec = json.loads((folder / "record.json").read_text())
        except (OSError, ValueError):
            return False
        return isinstance(rec, dict) and kind is not None and rec.get("kind") == kind

    validate.output_folder(out, previous=previous, what="a training run (to --resume)")
    if (out / state_file).exists() and not resume:
        raise FileExistsError(f"{out} already holds a training run; pass resume=True (--resume)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_resume(path: str | Path, recipe: dict[str, Any], seed: int, keys: tuple[str, ...]) -> dict[str, str]:
    """Refuse to resume the training checkpoint ``path`` under another recipe (``keys``: the fields that define the
    network and data) or another seed; returns its metadata."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        stored, stored_seed, _ = json.loads(meta["recipe"]), int(meta["seed"]), int(meta["step"])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path} is not a training checkpoint (its metadata lacks the recipe, seed or step); "
                         "accepted: a file written by an interrupted `train`") from None
    recipe = json.loads(json.dumps(recipe))
    diffs = [k for k in keys if stored.get(k) != recipe.get(k)]
    if diffs:
        was = ", ".join(f"{k}={stored.get(k)!r}" for k in diffs)
        now = ", ".join(f"{k}={recipe.get(k)!r}" for k in diffs)
        raise ValueError(f"{path} is a run of another recipe ({was}); this one asks for {now}; accepted: --resume "
                         "with the recipe (and FDUNLEARN_FAST mode) it was started with, or a new --out")
    if stored_seed != seed:
        raise ValueError(f"{path} was started with seed {stored_seed}, not {seed}; accepted: --seed {stored_seed} "
                         "(or no --seed) to resume it, or a new --out")
    return meta


def append_jsonl(path: str | Path, entry: dict[str, Any]) -> None:
    """Append one JSON line (training loss logs)."""
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def truncate_jsonl(path: str | Path, step: int) -> None:
    """Drop the lines logged after ``step`` (a resumed run rewrites them), atomically."""
    path = Path(path)
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        kept = [line for line, entry in zip(lines, _parse_jsonl(path, lines), strict=True) if entry["step"] <= step]
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))


def _parse_jsonl(path: Path, lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {i}, is not valid JSON ({err.msg}); accepted: one JSON object per line, "
                             "as training writes them") from None
        if not (isinstance(entry, dict) and isinstance(entry.get("step"), int)):
            raise ValueError(f"{path}, line {i}, is not a log entry (no integer 'step'); accepted: one JSON object "
                             "per line, as training writes them")
        out.append(entry)
    return out


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines log (each with an integer ``step``), or [] when there is none; a line that is not
    such an entry is a ValueError naming the file and the line."""
    path = Path(path)
    if not path.exists():
        return []
    return _parse_jsonl(path, [line for line in path.read_text().splitlines() if line.strip()])


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise if ``path``'s SHA-256 differs from ``expected`` (a shipped file was altered)."""
    path = Path(path)
    _check_file(path, "weights file")
    actual = sha256(path)
    if actual != expected:
        raise ValueError(f"SHA-256 mismatch for {path}: expected {expected}, got {actual}; the file is corrupt or "
                         "was changed after its record was written")


def machine() -> str:
    """One line naming the machine: CPU model and cores, or the GPU."""
    import os
    import platform

    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core CPU ({cpu}), no GPU"


def record(**fields: Any) -> dict[str, Any]:
    """The JSON record every result carries: how it was made, with the package version."""
    from fdunlearn import __version__, config

    return {"fdunlearn_version": __version__, "torch_version": torch.__version__, "mode": config.mode(),
            "hardware": machine(), "command": " ".join(sys.argv) if sys.argv else "", **fields}
