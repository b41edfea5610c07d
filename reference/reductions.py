"""Reductions of per-sample losses (Keras ``reduction=``, torch ``reduction=``)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._util import errstate, f64, scalar

__all__ = ["reduce", "REDUCTIONS"]

REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size", "batchmean", "weighted_mean",
              "mean_with_sample_weight", "elementwise_mean")


def reduce(per_sample, reduction: Optional[str], *, weights=None, elements_per_sample: Optional[int] = None):
    r"""Reduce per-sample losses ``l`` (optionally weighted by ``w``, broadcast to ``l``).

    ========================= ==========================================================================
    ``"none"`` / ``None``      ``w * l`` (unreduced)
    ``"sum"``                  :math:`\sum w l`
    ``"mean"``                 :math:`\sum w l / n` (n = number of elements of ``l``; the mean of the
                               per-sample values; NaN for an empty ``l``)
    ``"sum_over_batch_size"``  Keras: :math:`\sum w l / n`, 0 for an empty ``l`` (``divide_no_nan``)
    ``"batchmean"``            torch ``kl_div``: :math:`\sum w l / l.shape[0]`
    ``"weighted_mean"``        :math:`\sum w l / \sum w` (Keras ``"mean_with_sample_weight"``, torch
                               ``reduction="mean"`` with class weights or ``ignore_index``)
    ``"elementwise_mean"``     torch ``kl_div(reduction="mean")``: :math:`\sum w l / (n K)`, ``K =
                               elements_per_sample`` (the size of the reduced class axis)
    ========================= ==========================================================================

    Example:
      >>> l = [1.0, 2.0, 3.0, 6.0]
      >>> print(reduce(l, "sum"), reduce(l, "mean"), reduce(l, "batchmean"))
      12.0 3.0 3.0
      >>> print(reduce(l, "weighted_mean", weights=[1, 1, 0, 0]))
      1.5
      >>> print(reduce([[1.0, 3.0]], "batchmean"), reduce(l, "elementwise_mean", elements_per_sample=4))
      4.0 0.75
    """
    l = f64(per_sample)
    w = None if weights is None else np.broadcast_to(f64(weights), l.shape)
    wl = l if w is None else l * w
    if reduction is None or reduction == "none":
        return scalar(wl)
    total = np.sum(wl)
    n = wl.size
    with errstate():
        if reduction == "sum":
            return scalar(total)
        if reduction == "mean":
            return scalar(total / n if n else np.nan)
        if reduction == "sum_over_batch_size":
            return scalar(total / n if n else 0.0)
        if reduction == "batchmean":
            b = l.shape[0] if l.ndim else 1
            return scalar(total / b if b else np.nan)
        if reduction in ("weighted_mean", "mean_with_sample_weight"):
            den = np.sum(w) if w is not None else n
            return scalar(total / den if den else (0.0 if reduction == "mean_with_sample_weight" else np.nan))
        if reduction == "elementwise_mean":
            if elements_per_sample is None:
                raise ValueError("reduction 'elementwise_mean' needs elements_per_sample=")
            den = n * int(elements_per_sample)
            return scalar(total / den if den else np.nan)
    raise ValueError(f"unknown reduction {reduction!r}; known: {REDUCTIONS}")
