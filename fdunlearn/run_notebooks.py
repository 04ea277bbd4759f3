"""Execute notebooks top to bottom, headless, in place (``make course``); print each one's run time.

Stored outputs are refreshed; widget state and per-cell timing metadata are dropped so a rerun
does not churn the files beyond the outputs a reader needs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from fdunlearn import config, io

TIMEOUT_S = 3600  # per cell


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop metadata that changes on every run without telling the reader anything."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def run(path: Path) -> float:
    """Execute ``path`` in place with its own folder as working directory; return seconds."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.time() - t0
    clean(nb)
    with io.atomic_path(path) as tmp:
        nbformat.write(nb, tmp)
    return seconds


def main(paths: list[str]) -> int:
    times = {}
    for p in map(Path, paths):
        print(f"[run_notebooks] {p} ({config.mode()} mode) ...", flush=True)
        times[p.name] = round(run(p), 1)
        print(f"[run_notebooks] {p.name}: {times[p.name]:.0f} s", flush=True)
    out = config.output_dir() / f"notebook_times_{config.mode()}.json"
    out.write_text(json.dumps(times, indent=2) + "\n")
    print(f"[run_notebooks] times written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
