"""Inline SVG plots (no plotting library, no network): histograms of error sizes."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from markupsafe import Markup, escape

# Error-size bins in ulps: exactly 0, below 1 ulp, one bin per decade up to 1e6, above, non-finite.
DECADES = range(0, 6)
BIN_LABELS = ("0", "<1", "≥1", "≥10", "≥100", "≥1e3", "≥1e4", "≥1e5", "≥1e6", "inf")
BIN_RANGES = ("exactly 0", "(0, 1)", *(f"[1e{d}, 1e{d + 1})" for d in DECADES), "≥ 1e6", "inf or NaN")
WIDTH, HEIGHT, MARGIN = 300, 120, 18


def ulp_bins(values: Sequence[float]) -> list[int]:
    """Counts of ``values`` (ulps) in the bins of :data:`BIN_LABELS`."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    positive = finite[finite > 0]
    with np.errstate(divide="ignore"):
        decade = np.floor(np.log10(positive))
    counts = [int(np.count_nonzero(finite == 0)), int(np.count_nonzero(decade < 0))]
    counts += [int(np.count_nonzero(decade == d)) for d in DECADES]
    counts += [int(np.count_nonzero(decade > DECADES[-1])), int(array.size - finite.size)]
    return counts


def histogram_svg(counts: Sequence[int], title: str) -> Markup:
    """A small bar chart.  Heights follow the square root of the counts so that a rare tail (the bins
    that matter) stays visible next to a tall bin at 0; every bar is labelled with its count."""
    top = max(max(counts), 1)
    step = (WIDTH - 2 * MARGIN) / len(counts)
    plot_height = HEIGHT - 2 * MARGIN
    parts = [f'<svg class="hist" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" '
             'class="axis"/>']
    for index, (count, label, span) in enumerate(zip(counts, BIN_LABELS, BIN_RANGES)):
        height = 0 if count == 0 else max(1.0, plot_height * math.sqrt(count / top))
        x = MARGIN + index * step
        tone = "ok" if index < 3 else ("warn" if index < 5 else "bad")
        parts.append(f'<rect class="bar {tone}" x="{x + 1:.1f}" y="{HEIGHT - MARGIN - height:.1f}" '
                     f'width="{step - 2:.1f}" height="{height:.1f}"><title>{span} ulp: {count}</title></rect>')
        parts.append(f'<text x="{x + step / 2:.1f}" y="{HEIGHT - 5}" class="tick">{escape(label)}</text>')
        if count:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{HEIGHT - MARGIN - height - 2:.1f}" '
                         f'class="count">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
