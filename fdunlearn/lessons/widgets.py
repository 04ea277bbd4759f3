"""Interactive views for the lessons, each with a static figure for viewers without a kernel.

Every view first displays a static PNG (its first frame, or a small grid of its main choices), then the widget.
GitHub and nbviewer show the PNG; JupyterLab and nbviewer also draw the controls from the notebook's saved widget
state (``run_notebooks`` keeps the state of the widgets shown). The picture inside a widget is a ``W.Image`` holding
PNG bytes, so headless code (tests, nbclient) can read what a student would see, and each picture is rendered once
and cached: moving a control back and forth answers at once.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from fdunlearn.datasets.samples import grid_image

DPI = 72  # pictures in widgets and static figures: small files, readable on screen
COLORS = 256  # pictures are stored with a palette: 2-3 times smaller than RGB, no visible difference for plots


def _png(image: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").quantize(COLORS).save(buf, format="png", optimize=True)
    return buf.getvalue()


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """``fig`` as PNG bytes (palette colours); the figure is closed (the inline backend does not show it again)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return _png(PILImage.open(buf))


def text_png(text: str, width: float = 5.0) -> bytes:
    """A small picture of ``text`` (for a choice that has nothing to draw)."""
    lines = text.strip().splitlines() or ["(nothing to show)"]
    fig = plt.figure(figsize=(width, 0.3 + 0.25 * len(lines)))
    fig.text(0.02, 0.5, "\n".join(lines), ha="left", va="center", fontsize=9, family="monospace")
    return figure_png(fig)


def render_png(render: Callable[..., Any], **choice: Any) -> bytes:
    """Call ``render(**choice)``, which draws with matplotlib, and return its figure as PNG.

    The figure is the one ``render`` returns, else the last one it opened; every figure it opened is closed. When it
    draws nothing, what it printed becomes the picture.
    """
    before = set(plt.get_fignums())
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = render(**choice)
    opened = [n for n in plt.get_fignums() if n not in before]
    fig = result if isinstance(result, Figure) else plt.figure(opened[-1]) if opened else None
    for n in opened:
        if fig is None or n != fig.number:
            plt.close(n)
    return figure_png(fig) if fig is not None else text_png(printed.getvalue())


def grid_png(images: torch.Tensor, nrow: int = 8, scale: int = 2) -> bytes:
    """Model-space images (N, C, H, W) in [-1, 1] as one PNG grid, each pixel a ``scale`` x ``scale`` block.

    No matplotlib and no smoothing: a grid of noise (the start of the reverse process) stays a small file.
    """
    g = (grid_image(images, nrow).numpy() * 255).round().astype(np.uint8)
    image = PILImage.fromarray(g[..., 0]) if images.shape[1] == 1 else PILImage.fromarray(g)
    image = image.resize((image.width * scale, image.height * scale), PILImage.NEAREST)
    if image.mode == "L":
        buf = io.BytesIO()
        image.save(buf, format="png", optimize=True)
        return buf.getvalue()
    return _png(image)


def tile_png(pngs: Sequence[bytes], ncol: int | None = None, pad: int = 6,
             labels: Sequence[str] | None = None) -> bytes:
    """PNG pictures side by side, ``ncol`` to a row (all in one row by default), on white; ``labels`` are written
    under the pictures."""
    if not pngs:
        raise ValueError("tile_png needs at least one picture")
    if labels is not None and len(labels) != len(pngs):
        raise ValueError(f"tile_png got {len(labels)} labels for {len(pngs)} pictures")
    images = [PILImage.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    font = ImageFont.load_default(size=14)
    text_h = 20 if labels is not None else 0
    ncol = max(1, min(ncol or len(images), len(images)))
    nrow = math.ceil(len(images) / ncol)
    cell_w = max(im.width for im in images)
    cell_h = max(im.height for im in images) + text_h
    sheet = PILImage.new("RGB", (ncol * cell_w + (ncol - 1) * pad, nrow * cell_h + (nrow - 1) * pad), "white")
    draw = ImageDraw.Draw(sheet)
    for k, im in enumerate(images):
        r, c = divmod(k, ncol)
        x, y = c * (cell_w + pad), r * (cell_h + pad)
        sheet.paste(im, (x, y))
        if labels is not None:
            draw.text((x + cell_w // 2, y + im.height + 2), labels[k], fill="black", font=font, anchor="mt")
    return _png(sheet)


def show(widget: W.Widget, static_png: bytes) -> W.Widget:
    """Display ``static_png`` and then ``widget`` (one cell, two outputs); return the widget.

    The PNG is what static viewers (GitHub, nbviewer, nbconvert) show; a live kernel or the saved widget state
    draws the widget below it. Any lesson (04 included) can wrap its own widget this way.
    """
    display(Image(data=static_png, format="png"))
    display(widget)
    return widget


def _control(name: str, values: Sequence | Mapping | W.ValueWidget) -> W.ValueWidget:
    """A ready control as it is; a mapping label -> value or a sequence of values as a dropdown."""
    if isinstance(values, W.ValueWidget):
        values.description = values.description or name
        return values
    options = list(values.items()) if isinstance(values, Mapping) else [(str(v), v) for v in values]
    if not options:
        raise ValueError(f"control {name!r} has no choices")
    return W.Dropdown(options=options, description=name)


def chooser(options: Mapping[str, Sequence | Mapping | W.ValueWidget], render: Callable[..., Any],
            overview: Sequence[Mapping[str, Any]] | bytes | None = None, ncol: int | None = None) -> W.VBox:
    """Controls over precomputed results and the picture ``render(**choice)`` draws for the chosen one.

    ``options``: per keyword of ``render``, a sequence of values, a mapping label -> value, or a ready control.
    ``overview``: the static figure, as PNG bytes or as choices (each a partial choice over the first values) tiled
    ``ncol`` to a row; by default the first choice. Displays the static figure and the widget; returns the widget
    (``children[0].children`` are the controls, ``children[1]`` the ``W.Image``).
    """
    controls = {name: _control(name, values) for name, values in options.items()}
    first = {name: c.value for name, c in controls.items()}
    cache: dict[str, bytes] = {}

    def picture(choice: Mapping[str, Any]) -> bytes:
        key = repr(sorted(choice.items()))
        if key not in cache:
            cache[key] = render_png(render, **choice)
        return cache[key]

    image = W.Image(value=picture(first), format="png", layout=W.Layout(align_self="flex-start", max_width="100%"))

    def update(_: Any = None) -> None:
        image.value = picture({name: c.value for name, c in controls.items()})

    for c in controls.values():
        c.observe(update, names="value")
    if isinstance(overview, bytes):
        static = overview
    else:
        static = tile_png([picture({**first, **partial}) for partial in (overview or [first])], ncol)
    return show(W.VBox([W.HBox(list(controls.values())), image]), static)


def evenly_spaced(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, first and last included (fewer when n < k)."""
    if n <= 0:
        return []
    if k <= 1 or n == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def scrubber(frames: Sequence[torch.Tensor], labels: Sequence[str], nrow: int = 8, title: str = "",
             preview: int = 4, scale: int = 2) -> W.VBox:
    """A slider over image grids (e.g. x_t along the reverse process), each drawn at ``scale`` x its pixels and
    shown 420 pixels wide.

    The static figure shows ``preview`` frames evenly spaced from the first to the last, labelled. Displays it and the
    widget; returns the widget (``children``: the slider, a caption and the ``W.Image``).
    """
    if not frames or len(frames) != len(labels):
        raise ValueError(f"scrubber needs one label per frame, got {len(frames)} frames and {len(labels)} labels")
    cache: dict[int, bytes] = {}

    def frame(i: int) -> bytes:
        if i not in cache:
            cache[i] = grid_png(frames[i], nrow, scale)
        return cache[i]

    def caption(i: int) -> str:
        return f"{title} {labels[i]}".strip()

    image = W.Image(value=frame(0), format="png", layout=W.Layout(width="420px", align_self="flex-start"))
    text = W.Label(value=caption(0))
    slider = W.IntSlider(value=0, min=0, max=len(frames) - 1, description="step",
                         continuous_update=False, layout=W.Layout(width="420px"))

    def move(change: dict) -> None:
        image.value, text.value = frame(change["new"]), caption(change["new"])

    slider.observe(move, names="value")
    shown = evenly_spaced(len(frames), preview)
    static = tile_png([frame(i) for i in shown], labels=[caption(i) for i in shown])
    return show(W.VBox([slider, text, image]), static)
