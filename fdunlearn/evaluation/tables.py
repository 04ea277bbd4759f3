"""How the report tables print a KID: one header, one cell format, one note (lessons 04 and 05; ``erase_study``,
``regimes_report``, ``sd_eval``).

Stored results keep the unscaled KID; only the printed cell is scaled. The course's KIDs span orders of magnitude:
about 1e-3 on CLIP features in lesson 05, printed ×10³ as the literature does (``KID_SCALE``); about -5 to 100 on
the MNIST classifier's features in lesson 04, printed unscaled (``CLASSIFIER_KID``: ×10³ would read "-4825"). The
decimals follow the size of the printed number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

KID_SCALE = 1e3  # KID cells are the stored value times this
KID_LABEL = "KID ×10³"  # the header of a KID column
CLASSIFIER_KID = 1.0  # scale of the KIDs on the MNIST classifier's features (lesson 04)
CLASSIFIER_KID_LABEL = "KID (classifier features)"


def kid_label(scale: float = KID_SCALE) -> str:
    """The header of a KID column printed at ``scale``."""
    return KID_LABEL if scale == KID_SCALE else CLASSIFIER_KID_LABEL if scale == CLASSIFIER_KID else f"KID ×{scale:g}"

# Under a table whose KIDs a reader could misread (negative, or within their spread of 0):
KID_NOTE = ("KID is an unbiased estimate of the squared MMD (0 for identical distributions), so near 0 sampling noise "
            "can make it negative: a negative KID, or one whose ± spread reaches below 0, does not tell the images "
            "apart from the reference set at this sample size.")


def format_kid(mean: float | None, std: float | None = None, scale: float = KID_SCALE) -> str:
    """One KID cell, "mean ± std" times ``scale``: 0.0012 ± 0.0003 reads "1.20 ± 0.30" (×10³), -4.8253 ± 0.3311
    reads "-4.83 ± 0.33" at ``scale=CLASSIFIER_KID``. Decimals follow the size (two below 10, one below 100, none
    above); the mean alone without a finite ``std``; "–" when the mean is missing or not finite."""
    if mean is None or not math.isfinite(mean):
        return "–"
    has_std = std is not None and math.isfinite(std)
    m, s = scale * mean, scale * std if has_std else 0.0
    size = max(abs(m), abs(s))
    decimals = 2 if size < 10 else 1 if size < 100 else 0
    return f"{m:.{decimals}f} ± {s:.{decimals}f}" if has_std else f"{m:.{decimals}f}"


def needs_kid_note(stats: Iterable[tuple[float | None, float | None]]) -> bool:
    """Whether any (mean, spread) of a table is one ``KID_NOTE`` explains: a negative mean, or a spread larger
    than the mean (missing spreads count as 0, missing means are skipped)."""
    return any(m is not None and math.isfinite(m) and (m < 0 or (s is not None and s > m)) for m, s in stats)


def kid_note(stats: Iterable[tuple[float | None, float | None]]) -> str:
    """The note to append under a Markdown table: "" when ``needs_kid_note`` is false, else a blank line and
    ``KID_NOTE`` in italics."""
    return f"\n\n*{KID_NOTE}*" if needs_kid_note(stats) else ""
