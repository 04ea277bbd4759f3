"""The checks every command makes before any work starts, and the one error path they share.

* argparse type functions (``integer``, ``real``, ``seed``): a bad value is refused with the value and the
  accepted range (``argument --n: got '0'; accepted: a positive integer <= 1000000``);
* ``check_integer`` / ``check_real``: the same checks for Python API calls (ValueError, same wording);
* ``output_file`` / ``output_folder``: the course's output policy, checked before any work:

  - a file output (``sample --out``, ``bench --json`` ...) must not be a folder, must sit in a writable folder,
    and an existing file is replaced only with ``--overwrite``;
  - a model-folder output (``train``, ``unlearn``, ``erase`` ``--out``) must be new, empty, or a previous
    output of the same command, and never the input model's folder, inside it, or a folder that holds it;

* ``ArgumentParser``: argparse that raises ``UsageError`` (a ValueError) instead of exiting, so ``run`` reports
  it like every other error;
* ``run(body)``: ``error: <message>`` on stderr and exit status 2 for ValueError and OSError
  (FileNotFoundError, FileExistsError, PermissionError ...), never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed accepts 0..2**64 - 1; the course adds small offsets to seeds


class UsageError(ValueError):
    """A command-line usage error (bad option, missing argument); ``usage`` is the command's usage line."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error raises ``UsageError`` instead of printing and exiting (``--help`` still exits)."""

    def error(self, message: str):
        raise UsageError(message, self.format_usage())


# ----------------------------------------------------------------------------- numbers
def describe_integer(lo: int, hi: int | None) -> str:
    if lo == 1 and hi is not None:
        return f"a positive integer <= {hi}"
    if hi is None:
        return f"an integer >= {lo}"
    return f"an integer in {lo}..{hi}"


def describe_real(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


def _in_range(value: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (value <= lo if lo_open else value < lo):
        return False
    return not (hi is not None and (value >= hi if hi_open else value > hi))


def integer(lo: int = 1, hi: int | None = None, what: str | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in lo..hi (``what`` replaces the generic description)."""
    accepted = what or describe_integer(lo, hi)

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: {accepted}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: {accepted}")
        return value

    parse.__name__ = accepted  # argparse names the type by it
    return parse


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
         what: str | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number in the interval (nan and inf are always refused)."""
    accepted = what or describe_real(lo, hi, lo_open, hi_open)

    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: {accepted}") from None
        if not math.isfinite(value) or not _in_range(value, lo, hi, lo_open, hi_open):
            raise argparse.ArgumentTypeError(f"got {text!r}; accepted: {accepted}")
        return value

    parse.__name__ = accepted
    return parse


seed = integer(0, SEED_MAX, what=f"a seed, an integer in 0..{SEED_MAX} (2**63 - 1)")


def check_integer(name: str, value, lo: int = 1, hi: int | None = None) -> int:
    """``value`` if it is an integer in lo..hi, else ValueError naming it and the accepted range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name}={value!r}; accepted: {describe_integer(lo, hi)}")
    return value


def check_real(name: str, value, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
               hi_open: bool = False) -> float:
    """``value`` if it is a finite number in the interval, else ValueError naming it and the accepted range."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not _in_range(value, lo, hi, lo_open, hi_open):
        raise ValueError(f"{name}={value!r}; accepted: {describe_real(lo, hi, lo_open, hi_open)}")
    return float(value)


def comma_subset(option: str, text: str, accepted: tuple[str, ...]) -> tuple[str, ...]:
    """``text`` ("a,b") as a non-empty tuple of ``accepted`` values, or a ValueError naming ``option``, the unknown
    values and the accepted ones."""
    values = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in values if x not in accepted]
    if bad or not values:
        raise ValueError(f"{option} {text!r}: unknown {bad or 'empty'}; accepted: a comma-separated subset of "
                         f"{', '.join(accepted)}")
    return values


def known(kind: str, values: tuple[str, ...], accepted: tuple[str, ...]) -> None:
    """ValueError naming the unknown ``kind``(s) among ``values`` (or the empty selection) and the accepted ones."""
    bad = [v for v in values if v not in accepted]
    if bad or not values:
        raise ValueError(f"unknown {kind}(s) {bad or list(values)!r}; accepted: {', '.join(accepted)}")


def distinct(name: str, values: Iterable) -> list:
    """``values`` as a list, or ValueError naming the first repeated one."""
    values, seen = list(values), set()
    for v in values:
        if v in seen:
            raise ValueError(f"{name} {v!r} given twice; accepted: distinct values")
        seen.add(v)
    return values


# ----------------------------------------------------------------------------- output paths
def writable(target: str | Path, option: str = "--out") -> None:
    """Check that ``target`` (a file or folder, existing or not) can be created: the nearest existing folder on its
    path accepts a new file. Leaves nothing behind."""
    target = Path(target).expanduser()
    folder = target.parent if not target.is_dir() else target
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {target}: {folder} is a file, not a folder; accepted: a path in a writable "
                         "folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".fdunlearn-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{option} {target}: cannot write in {folder} ({err.strerror or err}); accepted: a path "
                         "in a writable folder") from None


def output_file(path: str | Path, *, suffix: str | None = None, overwrite: bool = False, option: str = "--out",
                resume: bool = False) -> Path:
    """Check a file output before any work: the right suffix, not a folder, in a writable folder, and not an
    existing file unless ``overwrite`` (``--overwrite``) or ``resume`` (the command continues that file)."""
    path = Path(path).expanduser()
    if suffix is not None and path.suffix != suffix:
        raise ValueError(f"{option} {str(path)!r}: accepted: a file name ending in {suffix}, e.g. "
                         f"{path.with_suffix(suffix).name if path.name else 'out' + suffix}")
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; accepted: a file path, e.g. {path / ('out' + (suffix or ''))}")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise ValueError(f"{option} {path} exists and is not a regular file; accepted: a new file path")
        if not (overwrite or resume):
            raise FileExistsError(f"{option} {path} already exists; accepted: a new file path, or --overwrite to "
                                  "replace it")
    writable(path, option)
    return path


def inside(a: Path, b: Path) -> bool:
    """True when folder ``a`` is ``b`` or lies inside it (paths resolved)."""
    a, b = Path(a).expanduser().resolve(), Path(b).expanduser().resolve()
    return a == b or b in a.parents


def scratch_folders(folders: dict[str, str | None]) -> None:
    """Check each given ``{option: folder}`` (caches, kept weights) before any work: a folder or a new path in a
    writable place; an existing file is refused. None (the option not given) is skipped."""
    for option, folder in folders.items():
        if folder is not None:
            output_folder(folder, option=option, previous=lambda f: True)  # only a file is refused


def output_folder(path: str | Path, *, previous: Callable[[Path], bool] | None = None, what: str = "",
                  inputs: dict[str, str | Path] | None = None, option: str = "--out") -> Path:
    """Check a model-folder output before any work.

    Refused: a file; a folder equal to, inside, or holding one of ``inputs`` ({option: folder}); a non-empty
    folder for which ``previous(folder)`` is not true (``what`` says what is accepted instead); an unwritable
    place. Nothing is created.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; accepted: a new or empty folder"
                         + (f", or {what}" if what else ""))
    for opt, src in (inputs or {}).items():
        if src is None:
            continue
        if inside(path, src):
            how = "the same folder as" if Path(path).resolve() == Path(src).resolve() else "inside"
            raise ValueError(f"{option} {path} is {how} {opt} {src}: writing there would overwrite the input; "
                             "accepted: a folder outside it")
        if inside(src, path):
            raise ValueError(f"{option} {path} holds {opt} {src}: writing there would overwrite the input; "
                             "accepted: a folder that does not contain it")
    if path.is_dir() and any(path.iterdir()) and not (previous is not None and previous(path)):
        names = sorted(p.name for p in path.iterdir())
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise FileExistsError(f"{option} {path} is a folder holding other files ({shown}); nothing was changed; "
                              "accepted: a new or empty folder" + (f", or {what}" if what else ""))
    writable(path, option)
    return path


# ----------------------------------------------------------------------------- the error path
ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


def message(err: BaseException) -> str:
    """One line for an error: the message, or ``<file>: <reason>`` for an OSError from the system."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        other = f" -> {err.filename2}" if err.filename2 is not None else ""
        return f"{err.filename}{other}: {err.strerror}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def report(err: BaseException) -> int:
    """Print ``error: ...`` (after the usage line for a usage error) on stderr; returns 2."""
    if isinstance(err, UsageError) and err.usage:
        print(err.usage, end="" if err.usage.endswith("\n") else "\n", file=sys.stderr)
    print(f"error: {message(err)}", file=sys.stderr)
    return 2


def run(body: Callable[[], int | None], *, errors: tuple[type[BaseException], ...] = (),
        interrupted: str | None = None) -> int:
    """Run a command's ``body``; every expected failure ends as ``error: ...`` on stderr and exit status 2.

    ``errors``: more exception types to report so (e.g. ``sd.Unavailable``); ``interrupted``: the line printed on
    Ctrl-C (exit status 130; without it the interrupt propagates).
    """
    try:
        code = body()
    except (*ERRORS, *errors) as err:
        return report(err)
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        print(interrupted, file=sys.stderr)
        return 130
    return int(code or 0)
