"""Execute notebooks top to bottom, headless, in place (``make course``); print each one's run time and slowest cells.

Stored outputs are refreshed in full mode only: a fast-mode run (``FDUNLEARN_FAST=1``) measures its time and leaves the
notebook as it was, so the outputs a reader sees are always the real experiment's. Per-cell timing metadata is dropped
so a rerun does not churn the files beyond the outputs a reader needs. The saved widget state (nbclient records it) is
kept only for the widgets an output shows and the models they reference, so JupyterLab and nbviewer draw them without
a kernel.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from fdunlearn import config
from fdunlearn import files as io

TIMEOUT_S = 3600  # per cell
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_MODEL_REF = re.compile(r'IPY_MODEL_([0-9a-f]{32})|"model_id": "([0-9a-f]{32})"')


def shown_widgets(nb: nbformat.NotebookNode) -> list[str]:
    """Model ids of the widgets displayed in the notebook's outputs, in order."""
    return [out["data"][WIDGET_VIEW]["model_id"] for cell in nb.cells for out in cell.get("outputs", [])
            if WIDGET_VIEW in out.get("data", {})]


def keep_shown_widget_state(nb: nbformat.NotebookNode) -> None:
    """Keep the saved state of the widgets shown and of every model they reference (children, layouts, styles,
    widgets inside an Output); drop the rest, and the whole entry when no widget is shown."""
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    models = saved.get("state", {}) if saved else {}
    keep: set[str] = set()
    todo = [m for m in shown_widgets(nb) if m in models]
    while todo:
        model_id = todo.pop()
        if model_id not in keep:
            keep.add(model_id)
            refs = _MODEL_REF.findall(json.dumps(models[model_id]))
            todo += [m for pair in refs for m in pair if m in models]
    if not keep:
        nb.metadata.pop("widgets", None)
        return
    saved["state"] = {m: s for m, s in models.items() if m in keep}
    nb.metadata["widgets"] = {WIDGET_STATE: saved}


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop metadata that changes on every run without telling the reader anything, and the state of widgets
    that no output shows."""
    keep_shown_widget_state(nb)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def slowest_cells(nb: nbformat.NotebookNode, k: int = 3) -> list[tuple[int, float, str]]:
    """The ``k`` code cells that took longest, from the timing nbclient records: (index, seconds, first line)."""
    found = []
    for i, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            start, end = (datetime.fromisoformat(stamps[key].replace("Z", "+00:00"))
                          for key in ("iopub.execute_input", "shell.execute_reply"))
            found.append((i, (end - start).total_seconds(), cell.source.split("\n", 1)[0][:60]))
    return sorted(found, key=lambda c: -c[1])[:k]


def run(path: Path, write: bool = True) -> float:
    """Execute ``path`` with its own folder as working directory, in place when ``write``; return seconds."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.time() - t0
    for i, cell_s, first in slowest_cells(nb):
        print(f"[run_notebooks]   cell {i}: {cell_s:.0f} s  {first}", flush=True)
    if write:
        clean(nb)
        with io.atomic_path(path) as tmp:
            nbformat.write(nb, tmp)
    return seconds


TIMES = config.REPO_ROOT / "data" / "notebook_times.json"  # full and fast mode on a CPU: what the README quotes


def record_times(times: dict[str, float], path: Path = TIMES, mode: str = "full") -> None:
    """Merge one run's CPU times into ``path`` (per notebook the latest run of each mode; the others kept), with the
    machine they were measured on: a full-mode entry at the notebook's top level, a fast-mode one under ``"fast"``.
    The README's times block is written from this file (``fdunlearn.course.readme``)."""
    if mode not in ("full", "fast"):
        raise ValueError(f"unknown mode {mode!r}; accepted: full, fast")
    old = json.loads(path.read_text()) if path.exists() else {}
    entries = old.get("notebooks", {})
    for name, s in times.items():
        e = {"seconds": s, "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
        entry = entries.setdefault(name, {})
        if mode == "full":
            entry.update(e)
        else:
            entry["fast"] = e
    with io.atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"notebooks": dict(sorted(entries.items()))}, indent=2) + "\n")


def notebook_times() -> str:
    """Each lesson's full- and fast-mode time on a CPU, as ``python -m fdunlearn.run_notebooks`` last measured it
    (``data/notebook_times.json``; fast mode: ``FDUNLEARN_FAST=1``)."""
    from fdunlearn import course

    entries = json.loads(TIMES.read_text())["notebooks"] if TIMES.exists() else {}

    def when(e: dict | None) -> str:
        return f"{_duration(e['seconds'])} ({e['date']}, {e['cpus']} cores)" if e and "seconds" in e else (
            "not measured yet")

    cells = []
    for path in course.notebooks():
        e = entries.get(name := Path(path).name)
        cells.append(f"| {name} | {when(e)} | {when((e or {}).get('fast'))} |")
    total = sum(e["seconds"] for e in entries.values() if "seconds" in e)
    total_fast = sum(e["fast"]["seconds"] for e in entries.values() if "fast" in e)
    head = ["| lesson | full mode, `make course` (date, cores) | fast mode, `FDUNLEARN_FAST=1` (date, cores) |",
            "|---|---|---|"]
    return "\n".join(head + cells + [f"| all measured lessons | {_duration(total)} | {_duration(total_fast)} |"])


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def main(paths: list[str]) -> int:
    times = {}
    for p in map(Path, paths):
        print(f"[run_notebooks] {p} ({config.mode()} mode) ...", flush=True)
        times[p.name] = round(run(p, write=config.mode() == "full"), 1)
        print(f"[run_notebooks] {p.name}: {times[p.name]:.0f} s", flush=True)
    out = config.output_dir() / f"notebook_times_{config.mode()}.json"
    out.write_text(json.dumps(times, indent=2) + "\n")
    print(f"[run_notebooks] times written to {config.display_path(out)}")
    if config.device().type == "cpu":
        record_times(times, mode=config.mode())
        print(f"[run_notebooks] and merged into {config.display_path(TIMES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
