"""Interactive views for the lessons; each also works headless (it draws its first frame statically)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from fdunlearn import plots


def scrubber(frames: Sequence[torch.Tensor], labels: Sequence[str], nrow: int = 8,
             title: str = "") -> W.Widget:
    """A slider over image grids (e.g. x_t along the reverse process); returns the widget."""
    out = W.Output()

    def draw(i: int) -> None:
        with out:
            out.clear_output(wait=True)
            _, ax = plt.subplots(figsize=(4, 4))
            plots.show_grid(frames[i], ax, nrow=nrow, title=f"{title} {labels[i]}".strip())
            plt.show()

    slider = W.IntSlider(value=0, min=0, max=len(frames) - 1, description="step",
                         continuous_update=False, layout=W.Layout(width="420px"))
    slider.observe(lambda change: draw(change["new"]), names="value")
    draw(0)
    box = W.VBox([slider, out])
    display(box)
    return box


def chooser(options: dict[str, Sequence], render: Callable[..., None]) -> W.Widget:
    """Dropdowns/sliders over precomputed results: ``render(**choice)`` draws the chosen one."""
    controls = {name: W.Dropdown(options=list(values), description=name) for name, values in options.items()}
    out = W.Output()

    def update(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            render(**{name: c.value for name, c in controls.items()})
            plt.show()

    for c in controls.values():
        c.observe(update, names="value")
    update()
    box = W.VBox([W.HBox(list(controls.values())), out])
    display(box)
    return box
