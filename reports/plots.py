"""Inline SVG plots (no plotting library, no network): histograms of error sizes, and the sparklines of
the accuracy table."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from markupsafe import Markup, escape

# Error-size bins in ulps: exactly 0, below 1 ulp, one bin per decade up to 1e6, above, non-finite.
DECADES = range(0, 6)
BIN_LABELS = ("0", "<1", "≥1", "≥10", "≥100", "≥1e3", "≥1e4", "≥1e5", "≥1e6", "inf")
BIN_RANGES = ("exactly 0", "(0, 1)", *(f"[1e{d}, 1e{d + 1})" for d in DECADES), "≥ 1e6", "inf or NaN")
WIDTH, HEIGHT, MARGIN = 300, 120, 18
SPARK_WIDTH, SPARK_HEIGHT = 64, 16


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


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(round(value))
    return None


def _edge_label(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def normalize_histogram(value: Any) -> dict | None:
    """An ulp histogram as a producer may send it, as ``{"labels": [...], "counts": [...]}``; None when
    it is not one.  Accepted: a list of counts (the bins of :data:`BIN_LABELS` when there are as many,
    else numbered); ``{"counts": [...], "labels" | "bins" | "edges": [...]}`` (n + 1 edges label the
    bins ``[a, b)``); ``{label: count}``; a list of ``[label, count]`` pairs."""
    labels: list[str] | None = None
    counts: list[Any]
    if isinstance(value, Mapping):
        if isinstance(value.get("counts"), list):
            counts = value["counts"]
            for key in ("labels", "bins", "edges"):
                names = value.get(key)
                if isinstance(names, list) and len(names) == len(counts):
                    labels = [_edge_label(n) for n in names]
                    break
                if key == "edges" and isinstance(names, list) and len(names) == len(counts) + 1:
                    labels = [f"[{_edge_label(a)}, {_edge_label(b)})" for a, b in zip(names, names[1:])]
                    break
        else:
            labels, counts = [str(k) for k in value], list(value.values())
    elif isinstance(value, list) and value and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        labels, counts = [_edge_label(p[0]) for p in value], [p[1] for p in value]
    elif isinstance(value, list):
        counts = value
    else:
        return None
    numbers = [_count(c) for c in counts]
    if not numbers or any(n is None for n in numbers):
        return None
    if labels is None:
        labels = list(BIN_LABELS) if len(numbers) == len(BIN_LABELS) else [str(i) for i in range(len(numbers))]
    return {"labels": labels, "counts": numbers}


def _tone(index: int, labels: Sequence[str]) -> str:
    if tuple(labels) != BIN_LABELS:
        return "ok"
    return "ok" if index < 3 else ("warn" if index < 5 else "bad")


def histogram_svg(counts: Sequence[int], title: str, labels: Sequence[str] | None = None) -> Markup:
    """A small bar chart.  Heights follow the square root of the counts so that a rare tail (the bins
    that matter) stays visible next to a tall bin at 0; every bar is labelled with its count.  Without
    ``labels`` the bins are those of :data:`BIN_LABELS`."""
    labels = list(BIN_LABELS if labels is None else labels)
    ranges = BIN_RANGES if tuple(labels) == BIN_LABELS else labels
    top = max(max(counts, default=0), 1)
    step = (WIDTH - 2 * MARGIN) / max(len(counts), 1)
    plot_height = HEIGHT - 2 * MARGIN
    parts = [f'<svg class="hist" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" '
             'class="axis"/>']
    for index, (count, label, span) in enumerate(zip(counts, labels, ranges)):
        height = 0 if count == 0 else max(1.0, plot_height * math.sqrt(count / top))
        x = MARGIN + index * step
        parts.append(f'<rect class="bar {_tone(index, labels)}" x="{x + 1:.1f}" y="{HEIGHT - MARGIN - height:.1f}" '
                     f'width="{max(step - 2, 1):.1f}" height="{height:.1f}"><title>{escape(span)} ulp: {count}'
                     "</title></rect>")
        if len(counts) <= 16:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{HEIGHT - 5}" class="tick">{escape(label)}</text>')
        if count and len(counts) <= 16:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{HEIGHT - MARGIN - height - 2:.1f}" '
                         f'class="count">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline_svg(counts: Sequence[int], title: str) -> Markup:
    """A tiny histogram for a table cell: one path, square-root heights, no labels (``title`` says it)."""
    top = max(max(counts, default=0), 1)
    step = SPARK_WIDTH / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        if count:
            height = max(1.0, (SPARK_HEIGHT - 1) * math.sqrt(count / top))
            bars.append(f"M{index * step + 0.5:.1f} {SPARK_HEIGHT}v-{height:.1f}h{max(step - 1, 0.5):.1f}"
                        f"v{height:.1f}z")
    return Markup(f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" viewBox="0 0 {SPARK_WIDTH} '
                  f'{SPARK_HEIGHT}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
                  f'<path d="{"".join(bars)}"/></svg>')
