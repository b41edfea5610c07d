"""Activations in float64: softmax, log_softmax, logsumexp, sigmoid, log_sigmoid, softplus.

Every function shifts by the maximum and keeps the rounding error of ``z - max(z)`` (an error-free
TwoSum), so logits of +-1e4 or +-700 give results within a few ulp of the exact value.
"""
from __future__ import annotations

import numpy as np

from ._util import errstate, f64, scalar
from ._util import softplus as _softplus
from ._util import moveaxis as _moveaxis

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid", "softplus"]


def _two_diff(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``d = fl(a - b)`` and ``err`` with ``a - b = d + err`` exactly (Knuth's TwoSum); err = 0 off finite."""
    with errstate():
        d = a - b
        bb = d - a
        err = (a - (d - bb)) + (-b - bb)
    return d, np.where(np.isfinite(err), err, 0.0)


def _shifted(z: np.ndarray, axis: int):
    """``(d, err, log1p_t, t)``: ``z - max = d + err``; ``log(sum exp(z - max)) = log1p(t)``.

    ``t`` sums ``exp(z_j - max)`` over every class but one maximal one, so ``log1p(t)`` keeps full
    relative accuracy when one class dominates.
    """
    z = _moveaxis(z, axis, -1)
    with errstate():
        m = np.max(z, axis=-1, keepdims=True) if z.shape[-1] else np.full(z.shape[:-1] + (1,), -np.inf)
        d, err = _two_diff(z, m)
        e = np.exp(d) * (1.0 + err)
        if z.shape[-1]:
            first = np.argmax(z, axis=-1)[..., None]
            np.put_along_axis(e, first, 0.0, axis=-1)
        t = np.sum(e, axis=-1, keepdims=True)
        # All -inf (m = -inf) or a +inf logit: z - m is NaN; the whole row is NaN (undefined).
        t = np.where(np.isposinf(m), np.nan, t)
        return d, err, np.log1p(t), t, m


def log_softmax(z, axis: int = -1) -> np.ndarray:
    r"""Log of the softmax along ``axis``.

    .. math:: \log\mathrm{softmax}(z)_i = z_i - \log\sum_j e^{z_j}
              = (z_i - m) - \log(1 + \sum_{j \ne j^*} e^{z_j - m}),\quad m = z_{j^*} = \max_j z_j

    Args:
      z: logits (array-like, computed in float64).
      axis: the class axis.

    Returns:
      An array shaped like ``z``. A ``-inf`` logit gives ``-inf``; a row of ``-inf`` or a ``+inf`` logit
      gives NaN.

    Example:
      >>> print(np.round(log_softmax([1.0, 2.0, 3.0]), 6))
      [-2.407606 -1.407606 -0.407606]
      >>> print(log_softmax([1e4, -1e4]))
      [     0. -20000.]
    """
    z = f64(z)
    d, err, l1p, _, _ = _shifted(z, axis)
    with errstate():
        out = (d - l1p) + err
    return _moveaxis(out, -1, axis)


def softmax(z, axis: int = -1) -> np.ndarray:
    r"""Softmax along ``axis``.

    .. math:: \mathrm{softmax}(z)_i = \frac{e^{z_i - m}}{\sum_j e^{z_j - m}},\quad m = \max_j z_j

    Example:
      >>> print(np.round(softmax([1.0, 2.0, 3.0]), 6))
      [0.090031 0.244728 0.665241]
      >>> print(softmax([700.0, -700.0]))
      [1. 0.]
    """
    z = f64(z)
    d, err, _, t, _ = _shifted(z, axis)
    with errstate():
        out = np.exp(d) * (1.0 + err) / (1.0 + t)
    return _moveaxis(out, -1, axis)


def softmax_complement(z, axis: int = -1) -> np.ndarray:
    """``1 - softmax(z)`` without cancellation: ``sum_{j != i} e^{z_j - m} / sum_j e^{z_j - m}``.

    Example:
      >>> print(softmax_complement([40.0, 0.0]))
      [4.24835426e-18 1.00000000e+00]
    """
    z = f64(z)
    d, err, _, t, _ = _shifted(z, axis)
    zz = _moveaxis(z, axis, -1)
    with errstate():
        e = np.exp(d) * (1.0 + err)
        is_first = np.zeros(zz.shape, dtype=bool)
        if zz.shape[-1]:
            np.put_along_axis(is_first, np.argmax(zz, axis=-1)[..., None], True, axis=-1)
        out = np.where(is_first, t, (1.0 + t) - e) / (1.0 + t)
    return _moveaxis(out, -1, axis)


def logsumexp(z, axis: int = -1) -> np.ndarray:
    r"""``log(sum(exp(z)))`` along ``axis`` (reduced), computed as ``m + log1p(sum_{j != j*} exp(z_j - m))``.

    Example:
      >>> print(round(float(logsumexp([1e4, 1e4])), 6))
      10000.693147
    """
    z = f64(z)
    _, _, l1p, _, m = _shifted(z, axis)
    with errstate():
        out = np.where(np.isneginf(m), -np.inf, m + l1p)
    return scalar(out[..., 0])


def sigmoid(z) -> np.ndarray:
    r"""Logistic sigmoid, elementwise.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}} \;(z \ge 0),\qquad \frac{e^{z}}{1 + e^{z}} \;(z < 0)

    Example:
      >>> print(sigmoid([-1e4, 0.0, 2.0]))
      [0.         0.5        0.88079708]
    """
    z = f64(z)
    with errstate():
        e = np.exp(-np.abs(z))
        out = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return scalar(out)


def log_sigmoid(z) -> np.ndarray:
    r"""``log(sigmoid(z)) = -softplus(-z)``, elementwise, without overflow or cancellation.

    .. math:: \log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})

    Example:
      >>> print(log_sigmoid([-1e4, 0.0, 40.0]))
      [-1.00000000e+04 -6.93147181e-01 -4.24835426e-18]
    """
    return scalar(-_softplus(-f64(z)))


def softplus(z) -> np.ndarray:
    r"""``log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))``, elementwise.

    Example:
      >>> print(softplus([-800.0, 0.0, 800.0]).tolist())
      [0.0, 0.6931471805599453, 800.0]
    """
    return scalar(_softplus(z))
