"""Reductions of per-sample losses (Keras ``reduction=``, torch ``reduction=``)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._util import errstate, f64, scalar

__all__ = ["reduce", "reduce_loss", "reduce_loss_grad", "REDUCTIONS"]

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


def _weights_for(loss: str, per_sample: np.ndarray, *, convention, labels=None, sample_weight=None):
    """``(reduction to use for "mean", weights)``: what the convention's flags make of a reduction.

    * ``sample_weight`` (one weight per sample, broadcast to the per-sample loss) multiplies each loss;
    * the ``ignore_index`` flag: a sample whose label is the ignore index weighs 0 and ``"mean"`` divides
      by the number of samples that are not ignored (``"weighted_mean"``), as the flag states.
    """
    from .conventions import get_convention

    conv = get_convention(convention)
    weights = None if sample_weight is None else np.broadcast_to(f64(sample_weight), np.shape(per_sample))
    mean_as = "mean"
    ignore = conv.value_for("ignore_index", loss)
    if ignore is not None and labels is not None:
        kept = np.broadcast_to(np.asarray(labels) != ignore, np.shape(per_sample)).astype(np.float64)
        weights = kept if weights is None else weights * kept
        mean_as = "weighted_mean"
    return mean_as, weights


def _denominator(loss: str, shape: tuple, *, convention, labels=None, class_weight=None, weight=None):
    """The weights whose sum a ``"mean"`` divides by under the convention's flags (None: the plain count).

    * ``class_weight_mean_divides_by_weight_sum`` with ``class_weight`` and ``labels``: the weight of each
      sample's label (0 for an ignored label);
    * ``weight_mean_divides_by_weight_sum`` with an element ``weight``: the weights themselves (when the
      losses are per-sample means over a last axis the weights still have, each sample's mean weight, so
      the mean is sum(w l) / sum(w) over the elements either way).
    """
    from .conventions import get_convention

    conv = get_convention(convention)
    if (class_weight is not None and labels is not None
            and conv.value_for("class_weight_mean_divides_by_weight_sum", loss)):
        lab = np.broadcast_to(np.asarray(labels), shape)
        cw = f64(class_weight)
        inside = (lab >= 0) & (lab < cw.shape[0])
        return np.where(inside, cw[np.where(inside, lab, 0)], 0.0)
    if weight is not None and conv.value_for("weight_mean_divides_by_weight_sum", loss):
        w = f64(weight)
        if w.ndim == len(shape) + 1:  # element weights of per-sample means over the last axis: their mean
            w = np.mean(w, axis=-1)
        return np.broadcast_to(w, shape)
    return None


def _kept(loss: str, shape: tuple, *, convention, labels=None, ignore_class=None):
    """Under ``ignored_mean_divides_by_kept`` with an ``ignore_class`` argument: 1 for each kept sample, 0
    for an ignored one (None when the flag or the argument is absent)."""
    from .conventions import get_convention

    if ignore_class is None or labels is None or not get_convention(convention).value_for(
            "ignored_mean_divides_by_kept", loss):
        return None
    return np.broadcast_to(np.asarray(labels) != int(ignore_class), shape).astype(np.float64)


def _per_target_length(loss: str, shape: tuple, *, convention, label_lengths=None):
    """Under ``mean_divides_by_target_length`` with ``label_lengths``: each sample's factor
    ``1 / max(label_length, 1)`` (None when the flag or the lengths are absent)."""
    from .conventions import get_convention
    if label_lengths is None or not get_convention(convention).value_for("mean_divides_by_target_length", loss):
        return None
    return np.broadcast_to(1.0 / np.maximum(f64(label_lengths), 1.0), shape)


_MEANS = ("mean", "sum_over_batch_size", "weighted_mean", "mean_with_sample_weight")


def reduce_loss(per_sample, reduction: Optional[str], *, loss: str, convention="math", labels=None,
                sample_weight=None, class_weight=None, weight=None, ignore_class=None,
                elements_per_sample: Optional[int] = None, label_lengths=None):
    """:func:`reduce` as a convention reduces ``loss``'s per-sample values (its flags decide the denominator).

    Example:
      >>> from reference.conventions import Convention, ignore_index
      >>> ignoring = Convention("ignoring", "example", [ignore_index(-100, source="example", versions="*")])
      >>> l, labels = [0.0, 1.2, 0.6], [-100, 1, 0]
      >>> print(reduce_loss(l, "mean", loss="nll", labels=labels), reduce_loss(l, "mean", loss="nll",
      ...       labels=labels, convention=ignoring))
      0.6 0.8999999999999999

    ``class_weight`` / ``weight`` (already inside the per-sample losses) change only the denominator of a
    ``"mean"``, and only under the flags that say so (:func:`_denominator`):

      >>> from reference.conventions import class_weight_mean_divides_by_weight_sum as flag
      >>> by_weight = Convention("by_weight", "example", [flag(source="example", versions="*")])
      >>> print(reduce_loss([1.0, 3.0], "mean", loss="nll", labels=[0, 1], class_weight=[1.0, 3.0]),
      ...       reduce_loss([1.0, 3.0], "mean", loss="nll", labels=[0, 1], class_weight=[1.0, 3.0],
      ...                   convention=by_weight))
      2.0 1.0
    """
    l = f64(per_sample)
    mean_as, weights = _weights_for(loss, l, convention=convention, labels=labels, sample_weight=sample_weight)
    per_length = _per_target_length(loss, l.shape, convention=convention, label_lengths=label_lengths)
    if per_length is not None and reduction == "mean":  # each loss over its target length, then the mean
        w = per_length if weights is None else per_length * weights
        with errstate():
            return scalar(np.sum(l * w) / l.size if l.size else np.nan)
    kept = _kept(loss, l.shape, convention=convention, labels=labels, ignore_class=ignore_class)
    if kept is not None and reduction in _MEANS:
        w = np.ones(l.shape) if weights is None else np.asarray(weights, dtype=np.float64)
        size = np.sum(kept * w) if reduction in ("weighted_mean", "mean_with_sample_weight") else np.sum(kept)
        with errstate():
            return scalar(np.sum(l * w * kept) / size if size else 0.0)
    if reduction == "mean":
        den = _denominator(loss, l.shape, convention=convention, labels=labels, class_weight=class_weight,
                           weight=weight)
        if den is not None:
            w = np.ones(l.shape) if weights is None else np.asarray(weights, dtype=np.float64)
            total, size = np.sum(l * w), np.sum(den * w)
            with errstate():
                return scalar(total / size if size else np.nan)
        reduction = mean_as
    return reduce(per_sample, reduction, weights=weights, elements_per_sample=elements_per_sample)


def reduce_loss_grad(per_sample_shape: tuple, reduction: Optional[str], *, loss: str, convention="math",
                     labels=None, sample_weight=None, class_weight=None, weight=None, ignore_class=None,
                     elements_per_sample: Optional[int] = None, label_lengths=None) -> np.ndarray:
    """d reduce_loss(l) / d l_s for every sample s, shaped like the per-sample loss (the reductions are linear)."""
    ones = np.ones(per_sample_shape)
    mean_as, weights = _weights_for(loss, ones, convention=convention, labels=labels, sample_weight=sample_weight)
    w = ones if weights is None else np.asarray(weights, dtype=np.float64)
    per_length = _per_target_length(loss, ones.shape, convention=convention, label_lengths=label_lengths)
    if per_length is not None and reduction == "mean":
        return w * per_length / ones.size if ones.size else w
    kept = _kept(loss, ones.shape, convention=convention, labels=labels, ignore_class=ignore_class)
    if kept is not None and reduction in _MEANS:
        size = np.sum(kept * w) if reduction in ("weighted_mean", "mean_with_sample_weight") else np.sum(kept)
        return w * kept / size if size else np.zeros_like(w)
    if reduction == "mean":
        den = _denominator(loss, ones.shape, convention=convention, labels=labels, class_weight=class_weight,
                           weight=weight)
        if den is not None:
            size = np.sum(den * w)
            with errstate():
                return w / size if size else np.full_like(w, np.nan)
        reduction = mean_as
    n = ones.size
    with errstate():
        if reduction in (None, "none", "sum"):
            return w
        if reduction in ("mean", "sum_over_batch_size"):
            return w / n if n else w
        if reduction == "batchmean":
            b = per_sample_shape[0] if len(per_sample_shape) else 1
            return w / b if b else w
        if reduction in ("weighted_mean", "mean_with_sample_weight"):
            total = np.sum(w)
            if total:
                return w / total
            return np.zeros_like(w) if reduction == "mean_with_sample_weight" else np.full_like(w, np.nan)
        if reduction == "elementwise_mean":
            return w / (n * int(elements_per_sample))
    raise ValueError(f"unknown reduction {reduction!r}; known: {REDUCTIONS}")
