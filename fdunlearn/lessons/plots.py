"""Small plotting helpers shared by the lessons (image grids, class histograms)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from fdunlearn.datasets.samples import grid_image


def show_grid(images: torch.Tensor, ax: plt.Axes | None = None, nrow: int = 8, title: str = "") -> plt.Axes:
    """Draw an image grid on ``ax`` (a new figure if None)."""
    ax = ax or plt.figure(figsize=(4, 4)).gca()
    g = grid_image(images, nrow)
    ax.imshow(g[..., 0] if g.shape[-1] == 1 or images.shape[1] == 1 else g, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return ax


def class_histogram(shares: Sequence[float], names: Sequence[str], ax: plt.Axes | None = None,
                    title: str = "", highlight: int | None = None) -> plt.Axes:
    """Bar chart of class shares (from ``metrics.evaluate``), optionally highlighting one class."""
    ax = ax or plt.figure(figsize=(5, 3)).gca()
    colors = ["tab:red" if i == highlight else "tab:blue" for i in range(len(shares))]
    ax.bar(range(len(shares)), [100 * s for s in shares], color=colors)
    ax.set_xticks(range(len(shares)), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_ylabel("% of samples")
    ax.set_title(title)
    return ax
