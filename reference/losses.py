"""Per-sample losses in float64, with the conventions of ``reference.conventions``.

Every loss is one pure function ``loss(y_true_like, y_pred, *, ..., axis=-1, convention="math")``
returning the per-sample loss reduced over ``axis`` only (a rank-1 input gives a 0-d value).  The
implementation ``_<loss>(...)`` returns ``(value, grad)`` so that ``reference.grads`` shares the code:
``grad`` is d(sum of per-sample losses)/d(y_pred), shaped like ``y_pred``.

Conventions: ``0 * log 0 = 0`` everywhere in the mathematics; logits go through a max-shifted
log-softmax / softplus; ``log(1 - p)`` is ``log1p(-p)``.  Only flags held by the convention passed and
listing the loss in ``applies_to`` change anything.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._util import (as_labels, check_bool, check_finite, check_log_base, check_nonnegative, check_positive, check_unit_interval,
                    clip_bounds, errstate, f64, machine_eps, narrow_dtype, round_to, scalar, softplus, xlogy)
from ._util import moveaxis as _moveaxis
from .activations import log_sigmoid, log_softmax, sigmoid, softmax, softmax_complement
from .conventions import ConventionLike, get_convention

__all__ = [
    "WEIGHT_PARAMETERS", "entropy", "cross_entropy", "kl_divergence",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "nll",
    "hinge", "squared_hinge", "categorical_hinge",
    "mean_squared_error", "mean_absolute_error", "huber", "smooth_l1", "log_cosh", "poisson",
    "l2_loss", "generalized_kl_divergence", "mean_squared_logarithmic_error", "mean_absolute_percentage_error",
    "categorical_generalized_cross_entropy", "soft_margin_loss", "hinge_embedding_loss", "margin_ranking_loss",
    "multi_margin_loss", "gaussian_nll_loss",
    "cosine_similarity", "cosine_distance", "binary_focal_crossentropy", "categorical_focal_crossentropy",
    "dice", "tversky", "generalized_dice",
    "triplet_margin_loss", "cosine_embedding_loss", "ctc_loss",
]


def _pair(y_true, y_pred, axis):
    """float64 ``(y, p)`` broadcast to ``y_pred``'s shape with ``axis`` moved last."""
    p = f64(y_pred)
    y = np.broadcast_to(f64(y_true), p.shape)
    if p.ndim == 0:
        raise ValueError("y_pred must have at least one dimension (the reduced axis)")
    return _moveaxis(y, axis, -1), _moveaxis(p, axis, -1)


def _back(grad: np.ndarray, axis: int) -> np.ndarray:
    return _moveaxis(grad, -1, axis)


def _aligned(y_true, y_pred, conv, name):
    """``(y_true, y_pred, back)``: the two shapes as a ``target_shape_alignment`` flag aligns them (unchanged
    without it: a target that does not broadcast to the prediction's shape is refused by :func:`_pair`);
    ``back(g)`` maps a gradient of the aligned prediction to the given one's shape (None: same shape).

    ``"expand_rank"``: ranks differing by one with a trailing axis of size 1 are squeezed or expanded to the
    same rank (a target of rank 1 gets a trailing axis); ``"broadcast"``: NumPy broadcasting of the two."""
    mode = conv.value_for("target_shape_alignment", name)
    y, p = f64(y_true), f64(y_pred)
    if mode is None or y.shape == p.shape:
        return y, p, None
    if mode == "expand_rank":
        if y.ndim == p.ndim - 1 and p.ndim >= 1 and p.shape[-1] == 1:
            if y.ndim == 1:
                return y[..., None], p, None
            return y, p[..., 0], lambda g: g[..., None]
        if p.ndim == y.ndim - 1 and y.shape[-1] == 1:
            if p.ndim == 1:
                return y, p[..., None], lambda g: g[..., 0]
            return y[..., 0], p, None
        return y, p, None
    if mode == "broadcast":
        try:
            yb, pb = np.broadcast_arrays(y, p)
        except ValueError:
            raise ValueError(f"{name}: y_true {y.shape} and y_pred {p.shape} do not broadcast") from None
        shape = p.shape

        def back(g):
            g = np.sum(g, axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
            axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
            return np.sum(g, axis=axes, keepdims=True) if axes else g

        return yb, pb, back
    raise ValueError(f"unknown target_shape_alignment {mode!r}")


# Keyword parameters that hold arrays (weights), not settings: a caller passes them like inputs.
WEIGHT_PARAMETERS = ("class_weight", "weight", "pos_weight", "where")


def _where(name: str, where, batch_shape: tuple):
    """A per-sample mask (True/nonzero: computed) broadcast to the batch shape; None stays None."""
    if where is None:
        return None
    try:
        return np.broadcast_to(np.asarray(where) != 0, batch_shape)
    except ValueError:
        raise ValueError(f"{name}: where of shape {np.shape(where)} is not one entry per sample "
                         f"{batch_shape}") from None


def _class_weight(name: str, class_weight, k: int):
    """``class_weight`` as a float64 vector of the ``k`` classes (None stays None); ValueError otherwise."""
    if class_weight is None:
        return None
    w = f64(class_weight)
    if w.shape != (k,):
        raise ValueError(f"{name}: class_weight must hold one weight per class, shape ({k},), got {w.shape}")
    return w


def _element_weight(name: str, weight, shape: tuple, axis: int, param: str = "weight"):
    """An element weight broadcast to the prediction's ``shape`` with ``axis`` moved last (None stays None)."""
    if weight is None:
        return None
    try:
        w = np.broadcast_to(f64(weight), shape)
    except ValueError:
        raise ValueError(f"{name}: {param} of shape {np.shape(weight)} does not broadcast to the prediction's "
                         f"shape {shape}") from None
    return _moveaxis(w, axis, -1)


def _log_base(base) -> float:
    return 1.0 if base is None else float(np.log(base))


def _kl_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``p * log(p / q)`` with ``0 * log(0 / q) = 0``; ``log(p/q)`` as ``log1p((p-q)/q)`` when p ~ q."""
    with errstate():
        ratio = p / q
        near = (ratio > 0.5) & (ratio < 2.0)
        logr = np.where(near, np.log1p((p - q) / q), np.log(p) - np.log(q))
        out = p * logr
    return np.where(p == 0, 0.0, out)


# ------------------------------------------------------------------------------------------------
# Information theory


def _entropy(p, *, base=None, axis=-1, convention="math"):
    check_log_base("entropy", "base", base)
    conv = get_convention(convention)
    dt = narrow_dtype(p)
    _, p = _pair(0.0, p, axis)
    lb = _log_base(base)
    renorm = conv.value_for("distribution_renormalize", "entropy")
    clamp = conv.value_for("log_clamp_machine_eps", "entropy")
    if not renorm and not clamp:
        val = (0.0 - np.sum(xlogy(p, p), axis=-1)) / lb
        with errstate():
            g = -(np.log(p) + 1.0) / lb
        return scalar(val), _back(g, axis)
    with errstate():
        s = np.sum(p, axis=-1, keepdims=True) if renorm else np.ones(p.shape[:-1] + (1,))
        q = p / s
        if clamp:
            eps = machine_eps(dt)
            lo, hi = eps, float(np.asarray(1.0 - np.asarray(eps, dtype=dt), dtype=dt))
            live = ((q >= lo) & (q <= hi)).astype(np.float64)
            c = np.clip(q, lo, hi)
        else:
            live, c = np.ones(q.shape), q
        logc = np.log(c)
        val = -np.sum(np.where(q == 0, 0.0, q * logc), axis=-1) / lb
        gq = -(logc + np.where(live > 0, q / c, 0.0))
        g = (gq - np.sum(gq * q, axis=-1, keepdims=True)) / s if renorm else gq
    return scalar(val), _back(g / lb, axis)


def entropy(p, *, base: Optional[float] = None, axis: int = -1, convention: ConventionLike = "math"):
    r"""Shannon entropy of the distribution ``p`` along ``axis``.

    .. math:: H(p) = -\sum_i p_i \log_b p_i,\qquad 0 \log 0 = 0

    Args:
      p: probabilities.
      base: ``None`` for nats (natural log), 2 for bits, 10 for bans.
      axis: the class axis.
      convention: flags ``distribution_renormalize`` (divide by the sum first) and ``log_clamp_machine_eps``
        (log of ``clamp(p, eps, 1 - eps)``, eps the dtype's machine epsilon).

    Nats by default (natural log); ``base=2`` gives bits, the unit of the information-theory documents
    (divide nats by ``log 2``).  ``-x log x`` of one entry (``torch.special.entr``) is the entropy of a
    length-1 axis.

    Example:
      >>> print(float(entropy([0.5, 0.5], base=2)))
      1.0
      >>> print(round(float(entropy([1.0, 0.0, 0.0])), 12))
      0.0
    """
    return _entropy(p, base=base, axis=axis, convention=convention)[0]


def _cross_entropy(p, q, *, base=None, axis=-1, convention="math"):
    check_log_base("cross_entropy", "base", base)
    get_convention(convention)
    p, q = _pair(p, q, axis)
    lb = _log_base(base)
    val = (0.0 - np.sum(xlogy(p, q), axis=-1)) / lb
    with errstate():
        g = np.where(p == 0, 0.0, -p / q) / lb
    return scalar(val), _back(g, axis)


def cross_entropy(p, q, *, base: Optional[float] = None, axis: int = -1,
                  convention: ConventionLike = "math"):
    r"""Cross entropy :math:`H(p, q) = -\sum_i p_i \log_b q_i` (``0 log q = 0``).

    Example:
      >>> P1, Q1 = [1, 0, 0, 0, 0], [0.98, 0.01, 0, 0, 0.01]
      >>> print(round(float(cross_entropy(P1, Q1)), 10))
      0.0202027073
    """
    return _cross_entropy(p, q, base=base, axis=axis, convention=convention)[0]


def _kl_divergence(p, q, *, base=None, axis=-1, log_target=False, convention="math"):
    check_log_base("kl_divergence", "base", base)
    log_target = check_bool("kl_divergence", "log_target", log_target)
    conv = get_convention(convention)
    name = "kl_divergence"
    dt = narrow_dtype(q)
    p, q = _pair(p, q, axis)
    log_zero = np.zeros(p.shape, dtype=bool)
    if log_target:  # p holds log-probabilities: log p = -inf is a zero probability
        log_zero = np.isneginf(p)
        with errstate():
            p = np.exp(p)
    mask = np.ones(q.shape, dtype=bool)
    eps = conv.value_for("kl_clip", name)
    if eps is not None:
        lo, hi = clip_bounds(eps, dt, upper_is_one=True)
        mask = (q >= lo) & (q <= hi)
        p, q = np.clip(p, lo, hi), np.clip(q, lo, hi)
    terms = _kl_terms(p, q)
    if conv.value_for("zero_times_inf_nan", name):
        terms = np.where((p == 0) & (q == 0), np.nan, terms)
        # From log-probabilities the term exp(log p) (log p - log q) forms 0 * -inf wherever log p = -inf.
        terms = np.where(log_zero, np.nan, terms)
    lb = _log_base(base)
    val = np.sum(terms, axis=-1) / lb
    with errstate():
        g = np.where(p == 0, 0.0, -p / q) * mask / lb
    if conv.value_for("zero_times_inf_nan", name):
        # d(-p log q)/dq = -p / q is 0 * inf = NaN at p = q = 0 in the frameworks' autodiff too.
        g = np.where((p == 0) & (q == 0), np.nan, g)
    return scalar(val), _back(g, axis)


def kl_divergence(p, q, *, base: Optional[float] = None, axis: int = -1, log_target: bool = False,
                  convention: ConventionLike = "math"):
    r"""Kullback-Leibler divergence :math:`KL(p \| q) = \sum_i p_i \log_b (p_i / q_i)`.

    ``0 log(0/q) = 0`` (also for ``q = 0``); ``p > 0, q = 0`` gives ``inf``.  ``log_target``: ``p`` holds
    log-probabilities (``-inf`` a zero probability); the gradient is still taken w.r.t. ``q``.  Flags:
    ``kl_clip`` (p and q clipped to ``[eps, 1]``), ``zero_times_inf_nan`` (NaN where p = q = 0, and with
    ``log_target`` wherever log p = -inf).

    Example:
      >>> from reference.conventions import Convention, kl_clip, zero_times_inf_nan
      >>> P1, Q1 = [1, 0, 0, 0, 0], [0.98, 0.01, 0, 0, 0.01]
      >>> print(round(float(kl_divergence(P1, Q1)), 10))
      0.0202027073
      >>> clipped = Convention("clipped", "example", [kl_clip(1e-7, source="example", versions="*")])
      >>> print(round(float(kl_divergence(P1, Q1, convention=clipped)), 10))
      0.0202004047
      >>> literal = Convention("literal", "example", [zero_times_inf_nan(source="example", versions="*")])
      >>> print(float(kl_divergence(P1, Q1, convention=literal)))
      nan
    """
    return _kl_divergence(p, q, base=base, axis=axis, log_target=log_target, convention=convention)[0]


# ------------------------------------------------------------------------------------------------
# Cross entropies


def _softmax_xent_grad(y, z):
    """``sum(y) softmax(z) - y`` as ``s_j sum_{i != j} y_i - y_j (1 - s_j)`` (no cancellation at s_j ~ 1)."""
    with errstate():
        others = np.sum(y, axis=-1, keepdims=True) - y
        return softmax(z, axis=-1) * others - y * softmax_complement(z, axis=-1)


def _smooth(y, ls, k):
    return y * (1.0 - ls) + ls / k


def _cce(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, class_weight=None, where=None,
         convention="math"):
    name = "categorical_crossentropy"
    from_logits = check_bool(name, "from_logits", from_logits)
    label_smoothing = check_unit_interval(name, "label_smoothing", label_smoothing)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    last_k = np.shape(y_pred)[-1] if np.ndim(y_pred) else 1
    y, p = _pair(y_true, y_pred, axis)
    if label_smoothing:
        k = last_k if conv.value_for("smoothing_classes_last_axis", name) else p.shape[-1]
        y = _smooth(y, float(label_smoothing), k)
    cw = _class_weight(name, class_weight, p.shape[-1])
    if cw is not None:  # each class's term scaled by its weight: -sum_c w_c y_c log q_c
        y = y * cw
    nan_flag = conv.value_for("zero_times_inf_nan", name)
    if from_logits:
        logq = log_softmax(p, axis=-1)
        with errstate():
            terms = np.where(y == 0, 0.0, -y * logq)
            g = _softmax_xent_grad(y, p)
    else:
        s = None
        r = p
        if conv.value_for("cce_renormalize", name):
            with errstate():
                s = np.sum(p, axis=-1, keepdims=True)
                r = p / s
        mask = np.ones(r.shape, dtype=bool)
        c = r
        eps = conv.value_for("prob_clip", name)
        if eps is not None:
            lo, hi = clip_bounds(eps, dt)
            mask = (r >= lo) & (r <= hi)
            c = np.clip(r, lo, hi)
        with errstate():
            logq = np.log(c)
            terms = np.where(y == 0, 0.0, -y * logq)
            gc = np.where(y == 0, 0.0, -y / c) * mask
            g = gc if s is None else (gc - np.sum(gc * r, axis=-1, keepdims=True)) / s
    if nan_flag:
        terms = np.where((y == 0) & np.isneginf(logq), np.nan, terms)
    val = np.sum(terms, axis=-1)
    keep = _where(name, where, val.shape)
    if keep is not None:  # a sample left out: loss 0 and gradient 0, whatever its inputs
        val, g = np.where(keep, val, 0.0), np.where(keep[..., None], g, 0.0)
    return scalar(val), _back(g, axis)


def categorical_crossentropy(y_true, y_pred, *, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1, class_weight=None, where=None, convention: ConventionLike = "math"):
    r"""Categorical cross entropy :math:`-\sum_i y_i \log q_i` per sample.

    ``q = softmax(y_pred)`` when ``from_logits`` else ``q = y_pred``; label smoothing replaces ``y`` by
    :math:`y (1 - \alpha) + \alpha / K` (K classes along ``axis``).  ``class_weight`` (shape ``(K,)``)
    scales each class's term: :math:`-\sum_i w_i y_i \log q_i` (after smoothing); a mean of such losses
    divides by the number of samples (no flag changes that: the weights of a soft target are not a count).
    ``where`` (one entry per sample, nonzero: computed) leaves samples out: loss 0, gradient 0.  Flags: ``cce_renormalize``,
    ``prob_clip``, ``smoothing_classes_last_axis``, ``zero_times_inf_nan`` (0 * -inf = NaN).

    Example:
      >>> from reference.conventions import Convention, cce_renormalize, prob_clip
      >>> print(round(float(categorical_crossentropy([0, 1, 0, 0], [0.1, 0.1, 0.8, 0.1])), 7))
      2.3025851
      >>> renorm = Convention("renormalised", "example", [cce_renormalize(source="example", versions="*"),
      ...                                                 prob_clip(1e-7, source="example", versions="*")])
      >>> print(round(float(categorical_crossentropy([0, 1, 0, 0], [0.1, 0.1, 0.8, 0.1],
      ...                                            convention=renorm)), 7))
      2.3978953
      >>> print(categorical_crossentropy([[0, 1], [1, 0]], [[1e4, -1e4], [0.0, 0.0]], from_logits=True))
      [2.00000000e+04 6.93147181e-01]

    References:
      Goodfellow et al., *Deep Learning*, 2016, sec. 6.2.2.3.
    """
    return _cce(y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                class_weight=class_weight, where=where, convention=convention)[0]


def _sparse_common(labels, y_pred, axis, conv, name, ignore_class=None):
    p = _moveaxis(f64(y_pred), axis, -1)
    lab = np.broadcast_to(as_labels(labels), p.shape[:-1])
    k = p.shape[-1]
    ignore = conv.value_for("ignore_index", name)
    ignored = (lab == ignore) if ignore is not None else np.zeros(lab.shape, dtype=bool)
    if ignore_class is not None:  # the argument: samples of this class (in range or not) are left out
        if isinstance(ignore_class, bool) or not isinstance(ignore_class, (int, np.integer)):
            raise ValueError(f"{name}: ignore_class={ignore_class!r} is outside its domain: None or an integer")
        ignored = ignored | (lab == int(ignore_class))
    valid = (lab >= 0) & (lab < k)
    if np.any(~valid & ~ignored):
        # No class has that index: the loss is undefined, and saying so beats a silent NaN.
        bad = lab[~valid & ~ignored].reshape(-1)[0]
        raise IndexError(f"{name}: label {int(bad)} is out of range for {k} classes")
    idx = np.where(valid, lab, 0)[..., None]
    onehot = np.zeros(p.shape)
    np.put_along_axis(onehot, idx, 1.0, axis=-1)
    return p, lab, k, ignored, valid, idx, onehot


def _finish_sparse(val, g, ignored, valid, axis, keep=None):
    if keep is not None:  # samples left out by ``where``: as ignored
        ignored = ignored | ~keep
    val = np.where(valid, val, np.nan)
    g = np.where(valid[..., None], g, np.nan)
    val = np.where(ignored, 0.0, val)
    g = np.where(ignored[..., None], 0.0, g)
    return scalar(val), _back(g, axis)


def _weighted(val, g, cw, idx):
    """A sparse loss and its gradient scaled by the weight of each sample's class (``cw`` None: unchanged)."""
    if cw is None:
        return val, g
    w = cw[idx[..., 0]]
    return val * w, g * w[..., None]


def _sparse_cce(labels, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, class_weight=None,
                ignore_class=None, where=None, convention="math"):
    name = "sparse_categorical_crossentropy"
    from_logits = check_bool(name, "from_logits", from_logits)
    label_smoothing = check_unit_interval(name, "label_smoothing", label_smoothing)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    p, lab, k, ignored, valid, idx, onehot = _sparse_common(labels, y_pred, axis, conv, name, ignore_class)
    cw = _class_weight(name, class_weight, k)
    keep = _where(name, where, lab.shape)
    if label_smoothing:
        # torch cross_entropy(label_smoothing=) on integer targets = the smoothed one-hot's cross entropy
        # (class weights scale the smoothed target's terms, -sum_c w_c y'_c log q_c).
        val, g = _cce(onehot, p, from_logits=from_logits, label_smoothing=label_smoothing, axis=-1,
                      class_weight=cw)
        val = f64(val)
        return _finish_sparse(val, g, ignored, valid, axis, keep)
    if from_logits:
        logq = log_softmax(p, axis=-1)
        val = -np.take_along_axis(logq, idx, axis=-1)[..., 0]
        g = _softmax_xent_grad(onehot, p)
        val, g = _weighted(val, g, cw, idx)
        return _finish_sparse(val, g, ignored, valid, axis, keep)
    mode = conv.value_for("sparse_renormalize", name)
    eps = conv.value_for("prob_clip", name)
    lo, hi = clip_bounds(eps, dt) if eps is not None else (-np.inf, np.inf)
    with errstate():
        if mode == "before_clip":
            s = np.sum(p, axis=-1, keepdims=True)
            r = p / s
        else:
            s, r = None, p
        mask = (r >= lo) & (r <= hi)
        c = np.clip(r, lo, hi)
        cy = np.take_along_axis(c, idx, axis=-1)
        val = -np.log(cy[..., 0])
        gc = -onehot / cy * mask
        if mode == "after_clip":
            sc = np.sum(c, axis=-1, keepdims=True)
            val = val + np.log(sc[..., 0])
            gc = gc + mask / sc
            g = gc
        elif mode == "before_clip":
            g = (gc - np.sum(gc * r, axis=-1, keepdims=True)) / s
        else:
            g = gc
    val, g = _weighted(val, g, cw, idx)
    return _finish_sparse(val, g, ignored, valid, axis, keep)


def sparse_categorical_crossentropy(labels, y_pred, *, from_logits: bool = False, axis: int = -1,
                                    label_smoothing: float = 0.0, class_weight=None, ignore_class=None,
                                    where=None, convention: ConventionLike = "math"):
    r"""Cross entropy with integer labels: :math:`-\log q_{y}` per sample.

    ``q = softmax(y_pred)`` when ``from_logits`` else ``y_pred``; ``labels`` has ``y_pred``'s shape
    without ``axis``.  A label outside ``[0, K)`` is refused (IndexError) unless an ``ignore_index`` flag
    names it (loss 0).  ``label_smoothing`` uses the smoothed one-hot target.  ``class_weight`` (shape
    ``(K,)``) multiplies each sample's loss by its label's weight, :math:`-w_y \log q_y` (with smoothing,
    :math:`-\sum_c w_c y'_c \log q_c`); the mathematics' mean of these divides by the sample count, the
    ``class_weight_mean_divides_by_weight_sum`` flag by :math:`\sum_s w_{y_s}` (``reduce_loss``).
    ``ignore_class`` (an integer, in range or not): samples with that label get loss 0 and gradient 0 (whatever
    their prediction); a mean counts them as zeros, or, under ``ignored_mean_divides_by_kept``, divides by
    the number of the other samples.  ``where`` (one entry per sample, nonzero: computed) leaves samples out
    the same way (loss 0, gradient 0; a mean still counts them).
    Flags: ``prob_clip``, ``sparse_renormalize``, ``ignore_index``, ``class_weight_mean_divides_by_weight_sum``.

    Example:
      >>> from reference.conventions import Convention, prob_clip, sparse_renormalize
      >>> print(sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
      [0.05129329 2.30258509]
      >>> renorm = Convention("renormalised", "example", [sparse_renormalize("after_clip", source="example", versions="*"),
      ...                                                 prob_clip(1e-7, source="example", versions="*")])
      >>> print(round(float(sparse_categorical_crossentropy(0, [0.2, 0.2, 0.2], convention=renorm)), 7))
      1.0986123
    """
    return _sparse_cce(labels, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                       class_weight=class_weight, ignore_class=ignore_class, where=where,
                       convention=convention)[0]


def _nll(labels, log_probs, *, axis=-1, class_weight=None, convention="math"):
    conv = get_convention(convention)
    p, lab, k, ignored, valid, idx, onehot = _sparse_common(labels, log_probs, axis, conv, "nll")
    cw = _class_weight("nll", class_weight, k)
    val = -np.take_along_axis(p, idx, axis=-1)[..., 0]
    val, g = _weighted(val, -onehot, cw, idx)
    return _finish_sparse(val, g, ignored, valid, axis)


def nll(labels, log_probs, *, axis: int = -1, class_weight=None, convention: ConventionLike = "math"):
    r"""Negative log-likelihood ``-log_probs[label]`` per sample (unreduced); ``class_weight`` (shape ``(K,)``)
    gives ``-w[label] log_probs[label]``.  Flags: ``ignore_index``, ``class_weight_mean_divides_by_weight_sum``.

    Example:
      >>> from reference.conventions import Convention, ignore_index
      >>> print(nll([2, 0], [[-1.0, -2.0, -0.5], [-0.1, -3.0, -4.0]]))
      [0.5 0.1]
      >>> ignoring = Convention("ignoring", "example", [ignore_index(-100, source="example", versions="*")])
      >>> print(nll([-100], [[-1.0, -2.0]], convention=ignoring))
      [0.]
    """
    return _nll(labels, log_probs, axis=axis, class_weight=class_weight, convention=convention)[0]


def _bce_logits_literal(formula: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The from-logits formula named by a ``bce_logits_formula`` flag, evaluated literally (only its NaN
    pattern is used)."""
    with errstate():
        if formula == "tf":
            return np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x)))
        if formula == "torch":
            return (1.0 - y) * x - (-(np.maximum(-x, 0.0) + np.log1p(np.exp(-np.abs(x)))))
        if formula == "optax":
            return -y * log_sigmoid(x) - (1.0 - y) * log_sigmoid(-x)
    raise ValueError(f"unknown bce_logits_formula {formula!r}")


def _bce(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, weight=None, pos_weight=None,
         convention="math"):
    name = "binary_crossentropy"
    from_logits = check_bool(name, "from_logits", from_logits)
    label_smoothing = check_unit_interval(name, "label_smoothing", label_smoothing)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    if pos_weight is not None and not from_logits:
        raise ValueError(f"{name}: pos_weight is defined here from logits only (from_logits=True)")
    y_true, y_pred, back = _aligned(y_true, y_pred, conv, name)
    ew = _element_weight(name, weight, np.shape(y_pred), axis)
    pw = _element_weight(name, pos_weight, np.shape(y_pred), axis, "pos_weight")
    y, p = _pair(y_true, y_pred, axis)
    if label_smoothing:
        y = y * (1.0 - float(label_smoothing)) + 0.5 * float(label_smoothing)
    k = p.shape[-1]
    with errstate():
        if from_logits:
            yp = y if pw is None else pw * y  # pos_weight scales the positive term: -w_pos y log sigmoid(x)
            terms = np.where(y == 0, 0.0, yp * softplus(-p)) + np.where(y == 1, 0.0, (1.0 - y) * softplus(p))
            formula = conv.value_for("bce_logits_formula", name)
            if formula is not None:
                terms = np.where(np.isnan(_bce_logits_literal(formula, p, y)), np.nan, terms)
            g = (1.0 - y) * sigmoid(p) - yp * sigmoid(-p)  # = sigmoid(p) - y, no cancellation at y = 1
        elif conv.applies("prob_clip", name):
            # Keras: clip to [eps, 1 - eps]; log(c) and log(1 - c) with 1 - c formed in y_pred's dtype.
            eps = conv.value_for("prob_clip", name)
            lo, hi = clip_bounds(eps, dt)
            mask = (p >= lo) & (p <= hi)
            c = np.clip(p, lo, hi)
            comp = round_to(1.0 - c, dt)
            le = conv.value_for("bce_log_epsilon", name)
            if le is not None:  # Keras 2: log(c + eps), log(1 - c + eps)
                e = float(np.asarray(le).astype(dt))
                a, b = round_to(c + e, dt), round_to(comp + e, dt)
            else:
                a, b = c, comp
            terms = -(y * np.log(a) + (1.0 - y) * np.log(b))
            g = (-y / a + (1.0 - y) / b) * mask
        else:
            lp, l1p = np.log(p), np.log1p(-p)
            clamp = conv.value_for("bce_log_clamp", name)
            if clamp is not None:
                lp_c, l1p_c = np.maximum(lp, clamp), np.maximum(l1p, clamp)
            else:
                lp_c, l1p_c = lp, l1p
            terms = -(np.where(y == 0, 0.0, y * lp_c) + np.where(y == 1, 0.0, (1.0 - y) * l1p_c))
            geps = conv.value_for("bce_grad_epsilon", name)
            if geps is not None:
                # torch clamps in the input's dtype: 1e-12 underflows to 0 in float16 (0/0 = NaN at p = y).
                geps = float(np.asarray(geps).astype(dt))
                g = (p - y) / np.maximum(p * (1.0 - p), geps)
            else:
                ga = np.where(y == 0, 0.0, -y / p)
                gb = np.where(y == 1, 0.0, (1.0 - y) / (1.0 - p))
                if clamp is not None:
                    ga, gb = np.where(lp > clamp, ga, 0.0), np.where(l1p > clamp, gb, 0.0)
                g = ga + gb
    if ew is not None:  # an element weight rescales each element's loss (and its gradient)
        terms, g = terms * ew, g * ew
    g = _back(g / k, axis)
    return scalar(np.mean(terms, axis=-1)), (g if back is None else back(g))


def binary_crossentropy(y_true, y_pred, *, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1, weight=None, pos_weight=None, convention: ConventionLike = "math"):
    r"""Binary cross entropy, averaged over ``axis``.

    .. math:: \frac1K \sum_i w_i (-a_i y_i \log p_i - (1 - y_i) \log(1 - p_i))

    with ``p = sigmoid(y_pred)`` when ``from_logits``; label smoothing :math:`y (1-\alpha) + \alpha/2`.
    ``weight`` (``w``, broadcast to ``y_pred``) rescales each element's loss; ``pos_weight`` (``a``, broadcast
    to ``y_pred``: one per class along the last axis; from logits only, else ValueError) the positive term.
    A mean of weighted elements divides by their count.
    Flags: ``prob_clip``, ``bce_log_epsilon``, ``bce_log_clamp``, ``bce_grad_epsilon``,
    ``bce_logits_formula`` (NaN at infinite logits).

    Example:
      >>> from reference.conventions import Convention, bce_log_clamp, bce_log_epsilon, prob_clip
      >>> print(round(float(binary_crossentropy([1.0], [0.1])), 7))
      2.3025851
      >>> shifted = Convention("shifted", "example", [prob_clip(1e-7, source="example", versions="*"),
      ...                                             bce_log_epsilon(1e-7, source="example", versions="*")])
      >>> print(round(float(binary_crossentropy([1.0], [0.1], convention=shifted)), 7))
      2.3025841
      >>> clamped = Convention("clamped", "example", [bce_log_clamp(-100.0, source="example", versions="*")])
      >>> print(float(binary_crossentropy([1.0], [0.0], convention=clamped)))
      100.0
      >>> print(binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]))
      [0.91629073 0.71355818]
    """
    return _bce(y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                weight=weight, pos_weight=pos_weight, convention=convention)[0]


# ------------------------------------------------------------------------------------------------
# Hinge family


def _hinge_labels(y_true, conv, name):
    y = f64(y_true)
    if conv.value_for("hinge_binary_labels", name) and np.all((y == 0) | (y == 1)):
        y = 2.0 * y - 1.0
    return y


def _hinge_core(y_true, y_pred, axis, convention, name, squared):
    conv = get_convention(convention)
    y, s = _pair(_hinge_labels(y_true, conv, name), y_pred, axis)
    k = s.shape[-1]
    m = 1.0 - y * s
    h = np.maximum(m, 0.0)
    kink = conv.value_for("hinge_kink_grad", name, 0.0)
    kink = 0.5 if kink == "tie_split" else float(kink)
    if squared:
        with errstate():
            val = np.mean(h * h, axis=-1)
        g = -2.0 * y * h / k
    else:
        val = np.mean(h, axis=-1)
        g = -y * np.where(m > 0, 1.0, np.where(m == 0, kink, 0.0)) / k
    return scalar(val), _back(g, axis)


def hinge(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Hinge loss :math:`\frac1K\sum_i \max(0, 1 - y_i s_i)` with ``y`` in {-1, +1}.

    Flags: ``hinge_binary_labels`` ({0, 1} labels become {-1, 1} when the whole ``y_true`` is binary),
    ``hinge_kink_grad``.

    Example:
      >>> from reference.conventions import Convention, hinge_binary_labels
      >>> print(round(float(hinge([0.0, 1.0], [0.3, -0.2])), 6))
      1.1
      >>> mapped = Convention("mapped", "example", [hinge_binary_labels(source="example", versions="*")])
      >>> print(round(float(hinge([0.0, 1.0], [0.3, -0.2], convention=mapped)), 6))
      1.25
    """
    return _hinge_core(y_true, y_pred, axis, convention, "hinge", squared=False)[0]


def squared_hinge(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Squared hinge :math:`\frac1K\sum_i \max(0, 1 - y_i s_i)^2`.

    Example:
      >>> print(round(float(squared_hinge([-1.0, 1.0], [0.3, -0.2])), 6))
      1.565
    """
    return _hinge_core(y_true, y_pred, axis, convention, "squared_hinge", squared=True)[0]


def _categorical_hinge(y_true, y_pred, *, axis=-1, convention="math"):
    conv = get_convention(convention)
    name = "categorical_hinge"
    y, s = _pair(y_true, y_pred, axis)
    vals = (1.0 - y) * s
    eligible = np.ones(s.shape, dtype=bool) if conv.value_for(
        "categorical_hinge_max_includes_target", name) else (y != 1)
    masked = np.where(eligible, vals, -np.inf)
    neg = np.max(masked, axis=-1, keepdims=True) if s.shape[-1] else np.full(s.shape[:-1] + (1,), -np.inf)
    pos = np.sum(y * s, axis=-1, keepdims=True)
    with errstate():
        arg = neg - pos + 1.0
    val = np.maximum(arg, 0.0)[..., 0]
    ties = eligible & (masked == neg)
    n_ties = np.sum(ties, axis=-1, keepdims=True)
    w = ties / np.maximum(n_ties, 1)
    kink = conv.value_for("hinge_kink_grad", name, 0.0)
    # "tie_split" (jax): at the kink the zero branch is one more tied maximum, so the active branch
    # keeps n / (n + 1) of the gradient (n tied classes); 1/2 for the binary hinge.
    kink = n_ties / (n_ties + 1.0) if kink == "tie_split" else float(kink)
    factor = np.where(arg > 0, 1.0, np.where(arg == 0, kink, 0.0))
    g = factor * ((1.0 - y) * w - y)
    return scalar(val), _back(g, axis)


def categorical_hinge(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Categorical (Crammer-Singer) hinge :math:`\max(0, 1 + \max_{j: y_j \ne 1} (1 - y_j) s_j - \sum_j y_j s_j)`.

    For one-hot ``y`` with target ``t``: ``max(0, 1 + max_{j != t} s_j - s_t)``.  Flag
    ``categorical_hinge_max_includes_target`` (the target's ``(1 - 1) s_t = 0`` enters the max).  Ties in
    the max share the gradient equally.

    Example:
      >>> from reference.conventions import Convention, categorical_hinge_max_includes_target
      >>> print(float(categorical_hinge([0, 0, 1], [-1.0, -2.0, 0.5])))
      0.0
      >>> flag = categorical_hinge_max_includes_target(source="example", versions="*")
      >>> print(float(categorical_hinge([0, 0, 1], [-1.0, -2.0, 0.5], convention=Convention("all", "example", [flag]))))
      0.5
    """
    return _categorical_hinge(y_true, y_pred, axis=axis, convention=convention)[0]


# ------------------------------------------------------------------------------------------------
# Regression


def _rescaled(val_terms, g, ew):
    """Element losses and gradients times an element weight (``ew`` None: unchanged)."""
    return (val_terms, g) if ew is None else (val_terms * ew, g * ew)


def _mse(y_true, y_pred, *, axis=-1, weight=None, convention="math"):
    conv = get_convention(convention)
    y_true, y_pred, back = _aligned(y_true, y_pred, conv, "mean_squared_error")
    ew = _element_weight("mean_squared_error", weight, np.shape(y_pred), axis)
    y, p = _pair(y_true, y_pred, axis)
    e = p - y
    terms, g = _rescaled(e * e, 2.0 * e, ew)
    g = _back(g / p.shape[-1], axis)
    return scalar(np.mean(terms, axis=-1)), (g if back is None else back(g))


def mean_squared_error(y_true, y_pred, *, axis: int = -1, weight=None, convention: ConventionLike = "math"):
    r"""Mean squared error :math:`\frac1K \sum_i w_i (p_i - y_i)^2` over ``axis`` (``weight`` ``w``: one per
    element, broadcast to ``y_pred``; ones when None).  The mathematics' mean of weighted elements divides by
    their count; flag ``weight_mean_divides_by_weight_sum``: by the sum of the weights (``reduce_loss``).

    Example:
      >>> print(mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]))
      [0.5 0.5]
    """
    return _mse(y_true, y_pred, axis=axis, weight=weight, convention=convention)[0]


def _mae(y_true, y_pred, *, axis=-1, weight=None, convention="math"):
    conv = get_convention(convention)
    ew = _element_weight("mean_absolute_error", weight, np.shape(y_pred), axis)
    y, p = _pair(y_true, y_pred, axis)
    e = p - y
    at0 = float(conv.value_for("abs_grad_at_zero", "mean_absolute_error", 0.0))
    terms, g = _rescaled(np.abs(e), np.where(e == 0, at0, np.sign(e)), ew)
    return scalar(np.mean(terms, axis=-1)), _back(g / p.shape[-1], axis)


def mean_absolute_error(y_true, y_pred, *, axis: int = -1, weight=None, convention: ConventionLike = "math"):
    r"""Mean absolute error :math:`\frac1K \sum_i w_i |p_i - y_i|`. Flag ``abs_grad_at_zero`` (d|x|/dx at 0);
    ``weight`` as in :func:`mean_squared_error` (and its flag ``weight_mean_divides_by_weight_sum``).

    Example:
      >>> print(round(float(mean_absolute_error([0.0, 1.0], [0.5, 0.25])), 6))
      0.625
    """
    return _mae(y_true, y_pred, axis=axis, weight=weight, convention=convention)[0]


def _huber(y_true, y_pred, *, delta=1.0, axis=-1, weight=None, convention="math"):
    delta = check_positive("huber", "delta", delta)
    get_convention(convention)
    ew = _element_weight("huber", weight, np.shape(y_pred), axis)
    y, p = _pair(y_true, y_pred, axis)
    e = p - y
    a = np.abs(e)
    quad = a <= delta
    val, g = _rescaled(np.where(quad, 0.5 * e * e, delta * (a - 0.5 * delta)), np.where(quad, e, delta * np.sign(e)),
                       ew)
    return scalar(np.mean(val, axis=-1)), _back(g / p.shape[-1], axis)


def huber(y_true, y_pred, *, delta: float = 1.0, axis: int = -1, weight=None, convention: ConventionLike = "math"):
    r"""Huber loss averaged over ``axis``, with ``e = p - y`` (each element times ``weight``, broadcast to
    ``y_pred``, when given; a mean of weighted elements divides by their count):

    .. math:: \tfrac12 e^2 \;(|e| \le \delta),\qquad \delta (|e| - \tfrac12 \delta)\; (|e| > \delta)

    (:func:`smooth_l1` with ``beta = delta`` is this divided by ``delta``.)

    Example:
      >>> print(huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]))
      [0.18 0.13]
    """
    return _huber(y_true, y_pred, delta=delta, axis=axis, weight=weight, convention=convention)[0]


def _smooth_l1(y_true, y_pred, *, beta=1.0, axis=-1, convention="math"):
    beta = check_nonnegative("smooth_l1", "beta", beta)
    get_convention(convention)
    y, p = _pair(y_true, y_pred, axis)
    e = p - y
    a = np.abs(e)
    if beta == 0.0:
        val, g = a, np.sign(e)
    else:
        quad = a < beta
        val = np.where(quad, 0.5 * e * e / beta, a - 0.5 * beta)
        g = np.where(quad, e / beta, np.sign(e))
    return scalar(np.mean(val, axis=-1)), _back(g / p.shape[-1], axis)


def smooth_l1(y_true, y_pred, *, beta: float = 1.0, axis: int = -1, convention: ConventionLike = "math"):
    r"""Smooth L1 averaged over ``axis``, with ``e = p - y``:

    .. math:: \frac{e^2}{2\beta} \;(|e| < \beta),\qquad |e| - \tfrac12 \beta\; (|e| \ge \beta)

    It is :func:`huber` with ``delta = beta`` divided by ``beta`` (``huber(delta=b) = b * smooth_l1(beta=b)``):
    the same kink, a unit slope in the linear zone where Huber's is ``delta``.  ``beta = 0`` is L1 (mean
    absolute error; the quadratic zone vanishes).  ``beta < 0`` raises ValueError.

    Example:
      >>> print(smooth_l1([0.0, 0.0, 0.0], [0.3, 2.0, -3.0], beta=2.0))
      1.0075
      >>> print(round(float(huber([0.0, 0.0, 0.0], [0.3, 2.0, -3.0], delta=2.0) / 2.0), 10))
      1.0075

    References:
      Girshick, Fast R-CNN (2015), eq. 3 (beta = 1); torch.nn.SmoothL1Loss.
    """
    return _smooth_l1(y_true, y_pred, beta=beta, axis=axis, convention=convention)[0]


def _log_cosh(y_true, y_pred, *, axis=-1, convention="math"):
    get_convention(convention)
    y, p = _pair(y_true, y_pred, axis)
    e = p - y
    a = np.abs(e)
    with errstate():
        small = 2.0 * np.sinh(a / 2.0) ** 2
        val = np.where(a < 1.0, np.log1p(small), a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0))
    log2 = get_convention(convention).value_for("log_cosh_log2", "log_cosh")
    if log2 is not None:  # Keras subtracts log(2) rounded to float32
        val = val - (float(log2) - float(np.log(2.0)))
    return scalar(np.mean(val, axis=-1)), _back(np.tanh(e) / p.shape[-1], axis)


def log_cosh(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Log-cosh loss :math:`\frac1K \sum_i \log\cosh(p_i - y_i)` Flag ``log_cosh_log2``.

    Example:
      >>> print(log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]))
      [0.21689042 0.        ]
    """
    return _log_cosh(y_true, y_pred, axis=axis, convention=convention)[0]


def _poisson(y_true, y_pred, *, log_input=False, full=False, axis=-1, convention="math"):
    log_input = check_bool("poisson", "log_input", log_input)
    full = check_bool("poisson", "full", full)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, x = _pair(y_true, y_pred, axis)
    with errstate():
        if log_input:
            rate = np.exp(x)
            terms = rate - np.where(y == 0, 0.0, y * x)
            g = rate - y
        else:
            eps = conv.value_for("poisson_log_epsilon", "poisson")
            shifted = x if eps is None else round_to(x + float(np.asarray(eps).astype(dt)), dt)
            terms = x - xlogy(y, shifted)
            g = 1.0 - np.where(y == 0, 0.0, y / shifted)
        if full:
            terms = terms + np.where(y > 1, xlogy(y, y) - y + 0.5 * np.log(2.0 * np.pi * y), 0.0)
    return scalar(np.mean(terms, axis=-1)), _back(g / x.shape[-1], axis)


def poisson(y_true, y_pred, *, log_input: bool = False, full: bool = False, axis: int = -1,
            convention: ConventionLike = "math"):
    r"""Poisson negative log-likelihood (without ``log y!``), averaged over ``axis``.

    .. math:: \frac1K \sum_i \lambda_i - y_i \log \lambda_i, \qquad
              \lambda = e^{x}\ (\text{log\_input}),\ \lambda = x\ \text{otherwise}

    ``y_true``: observed counts (>= 0); ``y_pred``: rates (or log-rates with ``log_input``).  ``full`` adds
    Stirling's approximation of ``log y!``, ``y log y - y + log(2 pi y) / 2``, where ``y > 1``.  Flag
    ``poisson_log_epsilon`` (``log(rate + eps)``).  ``0 log 0 = 0``; a zero rate where ``y > 0`` gives inf.

    Example:
      >>> print(round(float(poisson([1.0, 0.0], [2.0, 0.5])), 10))
      0.9034264097
      >>> print(round(float(poisson([1.0, 0.0], [0.0, 0.5], log_input=True)), 10))
      1.3243606354

    References:
      torch.nn.PoissonNLLLoss (its ``log_input=True`` default takes log-rates).
    """
    return _poisson(y_true, y_pred, log_input=log_input, full=full, axis=axis, convention=convention)[0]


# ------------------------------------------------------------------------------------------------
# More regression losses and divergences


def _l2_loss(y_true, y_pred, *, axis=-1, convention="math"):
    get_convention(convention)
    y, p = _pair(y_true, y_pred, axis)
    e = p - y
    return scalar(np.mean(0.5 * e * e, axis=-1)), _back(e / p.shape[-1], axis)


def l2_loss(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Half the squared error, averaged over ``axis``: :math:`\frac1K \sum_i \tfrac12 (p_i - y_i)^2`.

    Half of :func:`mean_squared_error` (the 1/2 of Bishop's convention, not of Hastie et al.'s).

    Example:
      >>> print(l2_loss([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]))
      [0.25 0.25]

    References:
      optax.losses.l2_loss (elementwise: one loss per element).
    """
    return _l2_loss(y_true, y_pred, axis=axis, convention=convention)[0]


def _generalized_kl(p, q, *, axis=-1, convention="math"):
    conv = get_convention(convention)
    name = "generalized_kl_divergence"
    p, q = _pair(p, q, axis)
    terms = _kl_terms(p, q) - p + q
    nan = conv.value_for("zero_times_inf_nan", name)
    if nan:
        terms = np.where((p == 0) & (q == 0), np.nan, terms)
    with errstate():
        g = np.where(p == 0, 1.0, 1.0 - p / q)
    if nan:
        g = np.where((p == 0) & (q == 0), np.nan, g)
    return scalar(np.sum(terms, axis=-1)), _back(g, axis)


def generalized_kl_divergence(p, q, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Generalized Kullback-Leibler divergence of unnormalised non-negative measures along ``axis``:

    .. math:: \sum_i p_i \log\frac{p_i}{q_i} - p_i + q_i

    the Bregman divergence of :math:`x \log x - x`; it equals :func:`kl_divergence` when ``p`` and ``q`` both
    sum to 1.  ``0 log(0/q) = 0``; ``p > 0, q = 0`` gives inf.  Flag ``zero_times_inf_nan`` (NaN where
    p = q = 0).

    Example:
      >>> print(round(float(generalized_kl_divergence([1.0, 2.0], [2.0, 1.0])), 10))
      0.6931471806

    References:
      Boyd and Vandenberghe, Convex Optimization, p. 90; optax.losses.generalized_kl_divergence (and its
      deprecated name convex_kl_divergence).
    """
    return _generalized_kl(p, q, axis=axis, convention=convention)[0]


def _msle(y_true, y_pred, *, axis=-1, convention="math"):
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, p = _pair(y_true, y_pred, axis)
    eps = conv.value_for("log_floor", "mean_squared_logarithmic_error")
    live = np.ones(p.shape)
    if eps is not None:
        lo = float(np.asarray(eps).astype(dt))
        live = (p >= lo).astype(np.float64)
        y, p = np.maximum(y, lo), np.maximum(p, lo)
    with errstate():
        d = np.log1p(p) - np.log1p(y)
        g = 2.0 * d / (1.0 + p) * live / p.shape[-1]
    return scalar(np.mean(d * d, axis=-1)), _back(g, axis)


def mean_squared_logarithmic_error(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Mean squared logarithmic error :math:`\frac1K \sum_i (\log(1 + p_i) - \log(1 + y_i))^2` over ``axis``.

    Defined for ``y, p > -1`` (``p = -1`` gives inf, below it NaN).  Flag ``log_floor`` (both inputs floored at
    an epsilon first, so values at or below 0 count as that epsilon).

    Example:
      >>> print(round(float(mean_squared_logarithmic_error([0.0, 1.0], [1.0, 1.0])), 10))
      0.240226507
    """
    return _msle(y_true, y_pred, axis=axis, convention=convention)[0]


def _mape(y_true, y_pred, *, axis=-1, convention="math"):
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, p = _pair(y_true, y_pred, axis)
    den = np.abs(y)
    eps = conv.value_for("percentage_floor", "mean_absolute_percentage_error")
    if eps is not None:
        den = np.maximum(den, float(np.asarray(eps).astype(dt)))
    e = p - y
    at0 = float(conv.value_for("abs_grad_at_zero", "mean_absolute_percentage_error", 0.0))
    with errstate():
        val = 100.0 * np.mean(np.abs(e) / den, axis=-1)
        g = 100.0 * np.where(e == 0, at0, np.sign(e)) / den / p.shape[-1]
    return scalar(val), _back(g, axis)


def mean_absolute_percentage_error(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Mean absolute percentage error :math:`\frac{100}K \sum_i |p_i - y_i| / |y_i|` over ``axis`` (a
    percentage: times 100).

    A zero target gives inf (NaN where ``p`` is 0 too).  Flag ``percentage_floor`` (divide by
    ``max(|y|, eps)``).

    Example:
      >>> print(round(float(mean_absolute_percentage_error([2.0, -4.0], [1.0, -5.0])), 10))
      37.5
    """
    return _mape(y_true, y_pred, axis=axis, convention=convention)[0]


def _gce(labels, y_pred, *, q=0.5, axis=-1, convention="math"):
    name = "categorical_generalized_cross_entropy"
    q = check_positive(name, "q", q)
    if q > 1.0:
        raise ValueError(f"{name}: q={q!r} is outside its domain: a number in (0, 1]")
    conv = get_convention(convention)
    p, lab, k, ignored, valid, idx, onehot = _sparse_common(labels, y_pred, axis, conv, name)
    pt = np.take_along_axis(p, idx, axis=-1)[..., 0]
    with errstate():
        val = (1.0 - pt ** q) / q
        g = -onehot * (pt ** (q - 1.0))[..., None]
    g = np.where(onehot == 1.0, g, 0.0)
    return _finish_sparse(val, g, ignored, valid, axis)


def categorical_generalized_cross_entropy(labels, y_pred, *, q: float = 0.5, axis: int = -1,
                                          convention: ConventionLike = "math"):
    r"""Generalized cross entropy (Zhang and Sabuncu, 2018) with integer labels:

    .. math:: \frac{1 - p_y^{\,q}}{q}, \qquad 0 < q \le 1

    ``p_y`` the probability ``y_pred`` gives the true class (``y_pred`` holds probabilities along ``axis``;
    ``labels`` has its shape without ``axis``).  As ``q -> 0`` it tends to the cross entropy ``-log p_y``;
    ``q = 1`` is ``1 - p_y``.  A label outside ``[0, K)`` raises IndexError; ``q`` outside ``(0, 1]``
    ValueError.  Gradient ``-p_y^(q-1)`` at the true class (``-inf`` where ``p_y = 0``).

    Example:
      >>> print(categorical_generalized_cross_entropy([1, 0], [[0.2, 0.8], [0.25, 0.75]], q=0.5))
      [0.21114562 1.        ]

    References:
      Zhang and Sabuncu, Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels,
      NeurIPS 2018.
    """
    return _gce(labels, y_pred, q=q, axis=axis, convention=convention)[0]


# ------------------------------------------------------------------------------------------------
# Margin losses and the Gaussian likelihood (torch.nn's)


def _soft_margin(y_true, y_pred, *, axis=-1, convention="math"):
    get_convention(convention)
    y, x = _pair(y_true, y_pred, axis)
    m = -y * x
    with errstate():
        g = -y * sigmoid(m) / x.shape[-1]
    return scalar(np.mean(softplus(m), axis=-1)), _back(g, axis)


def soft_margin_loss(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Soft margin (logistic) loss :math:`\frac1K \sum_i \log(1 + e^{-y_i x_i})` over ``axis``, targets
    ``y`` in {-1, 1}, scores ``x``.  Computed as a softplus, finite for every finite score.

    Example:
      >>> print(round(float(soft_margin_loss([1.0, -1.0], [2.0, 0.5])), 10))
      0.5505024976

    References:
      torch.nn.SoftMarginLoss (elementwise).
    """
    return _soft_margin(y_true, y_pred, axis=axis, convention=convention)[0]


def _hinge_embedding(y_true, y_pred, *, margin=1.0, axis=-1, convention="math"):
    margin = check_finite("hinge_embedding_loss", "margin", margin)
    kink = float(get_convention(convention).value_for("hinge_kink_grad", "hinge_embedding_loss", 0.0))
    y, x = _pair(y_true, y_pred, axis)
    k = x.shape[-1]
    with errstate():
        val = np.where(y == 1, x, np.where(y == -1, np.maximum(margin - x, 0.0), np.nan))
        active = np.where(margin - x > 0, 1.0, np.where(margin - x == 0, kink, 0.0))
        g = np.where(y == 1, 1.0, np.where(y == -1, -active, np.nan)) / k
    return scalar(np.mean(val, axis=-1)), _back(g, axis)


def hinge_embedding_loss(y_true, y_pred, *, margin: float = 1.0, axis: int = -1,
                         convention: ConventionLike = "math"):
    r"""Hinge embedding loss over ``axis``: ``x`` (a distance) where ``y = 1``, ``max(0, margin - x)`` where
    ``y = -1``, averaged; a target other than +-1 gives NaN (undefined).  Gradient 0 at the kink.

    Example:
      >>> print(hinge_embedding_loss([1.0, -1.0, -1.0], [0.5, 0.25, 2.0]))
      0.4166666666666667

    References:
      torch.nn.HingeEmbeddingLoss (elementwise).
    """
    return _hinge_embedding(y_true, y_pred, margin=margin, axis=axis, convention=convention)[0]


def _margin_ranking(y_true, x1, x2, *, margin=0.0, axis=-1, convention="math"):
    margin = check_finite("margin_ranking_loss", "margin", margin)
    kink = float(get_convention(convention).value_for("hinge_kink_grad", "margin_ranking_loss", 0.0))
    x2 = _moveaxis(f64(x2), axis, -1)
    shape = np.broadcast_shapes(np.shape(x2), np.shape(_moveaxis(f64(x1), axis, -1)))
    x2 = np.broadcast_to(x2, shape)
    x1 = np.broadcast_to(_moveaxis(f64(x1), axis, -1), shape)
    y = np.broadcast_to(_moveaxis(f64(y_true), axis, -1) if np.ndim(y_true) == len(shape) else f64(y_true), shape)
    z = -y * (x1 - x2) + margin
    g = y * np.where(z > 0, 1.0, np.where(z == 0, kink, 0.0)) / shape[-1]
    return scalar(np.mean(np.maximum(z, 0.0), axis=-1)), _back(g, axis)


def margin_ranking_loss(y_true, x1, x2, *, margin: float = 0.0, axis: int = -1,
                        convention: ConventionLike = "math"):
    r"""Margin ranking loss :math:`\frac1K \sum_i \max(0, -y_i (x1_i - x2_i) + \text{margin})` over ``axis``:
    ``y = 1`` asks ``x1`` to rank above ``x2`` by ``margin``, ``y = -1`` below.  Two scores: the gradient
    (``reference.grads``) is with respect to ``x2``, ``y [active] / K`` (that of ``x1`` is its negative);
    0 at the kink.

    Example:
      >>> print(margin_ranking_loss([1.0, -1.0], [1.0, 2.0], [1.5, 0.5], margin=0.1))
      1.1

    References:
      torch.nn.MarginRankingLoss (elementwise).
    """
    return _margin_ranking(y_true, x1, x2, margin=margin, axis=axis, convention=convention)[0]


def _multi_margin(labels, y_pred, *, p=1, margin=1.0, axis=-1, class_weight=None, convention="math"):
    name = "multi_margin_loss"
    if not isinstance(p, (int, np.integer)) or isinstance(p, (bool, np.bool_)) or int(p) not in (1, 2):
        raise ValueError(f"{name}: p={p!r} is outside its domain: 1 or 2")
    p = int(p)
    margin = check_finite(name, "margin", margin)
    conv = get_convention(convention)
    x, lab, k, ignored, valid, idx, onehot = _sparse_common(labels, y_pred, axis, conv, name)
    xy = np.take_along_axis(x, idx, axis=-1)
    z = margin - xy + x
    active = (z > 0) & (onehot == 0)
    terms = np.where(active, z, 0.0) ** p
    val = np.sum(terms, axis=-1) / k
    d = np.where(active, float(p) * np.where(active, z, 0.0) ** (p - 1), 0.0) / k
    g = d - onehot * np.sum(d, axis=-1, keepdims=True)
    val, g = _weighted(val, g, _class_weight(name, class_weight, k), idx)
    return _finish_sparse(val, g, ignored, valid, axis)


def multi_margin_loss(labels, y_pred, *, p: int = 1, margin: float = 1.0, axis: int = -1, class_weight=None,
                      convention: ConventionLike = "math"):
    r"""Multi-class margin loss (Weston-Watkins, averaged over the classes) with integer labels:

    .. math:: \frac{w_y}K \sum_{i \ne y} \max(0, \text{margin} - x_y + x_i)^p, \qquad p \in \{1, 2\}

    Divided by ``K``, the number of classes (the true class included), not ``K - 1``.  A label outside
    ``[0, K)`` raises IndexError.  Gradient 0 at a kink.  ``class_weight`` (one per class, shape ``(K,)``)
    multiplies each sample's loss by the weight of its label, outside the power (``w_y = 1`` without it);
    a mean of the weighted losses divides by the number of samples (``reduce``), not by the weights.

    Example:
      >>> print(multi_margin_loss([3, 0], [[0.1, 0.2, 0.4, 0.8], [0.3, -0.2, 0.9, 0.0]]))
      [0.325 0.7  ]

    References:
      Weston and Watkins, Support Vector Machines for Multi-Class Pattern Recognition (1999);
      torch.nn.MultiMarginLoss.
    """
    return _multi_margin(labels, y_pred, p=p, margin=margin, axis=axis, class_weight=class_weight,
                         convention=convention)[0]


def _gaussian_nll(y_true, y_pred, var, *, full=False, axis=-1, convention="math"):
    name = "gaussian_nll_loss"
    full = check_bool(name, "full", full)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, m = _pair(y_true, y_pred, axis)
    v = f64(var)
    if v.ndim == np.ndim(y_pred) - 1:  # one variance per sample (homoscedastic): it broadcasts over axis
        v = v[..., None]
    else:
        v = _moveaxis(np.broadcast_to(v, np.shape(y_pred)), axis, -1)
    if np.any(v < 0):
        raise ValueError(f"{name}: var has a negative entry")
    v = np.broadcast_to(v, m.shape)
    eps = conv.value_for("variance_floor", name)
    if eps is not None:
        v = np.maximum(v, float(np.asarray(eps).astype(dt)))
    e = m - y
    with errstate():
        terms = 0.5 * (np.log(v) + e * e / v)
        g = e / v / m.shape[-1]
    if full:
        terms = terms + 0.5 * np.log(2.0 * np.pi)
    return scalar(np.mean(terms, axis=-1)), _back(g, axis)


def gaussian_nll_loss(y_true, y_pred, var, *, full: bool = False, axis: int = -1,
                      convention: ConventionLike = "math"):
    r"""Gaussian negative log-likelihood of ``y_true`` under mean ``y_pred`` and variance ``var``, averaged over
    ``axis``:

    .. math:: \frac1K \sum_i \tfrac12 \Big(\log v_i + \frac{(\mu_i - y_i)^2}{v_i}\Big)
              \;[+\, \tfrac12 \log 2\pi \text{ with full}]

    ``var`` has ``y_pred``'s shape, or that shape without its last axis (one variance per sample), or
    broadcasts to it.  A negative variance raises ValueError; a zero one gives inf.  The gradient
    (``reference.grads``) is with respect to the mean ``y_pred``: ``(mu - y) / v / K``.  Flag
    ``variance_floor`` (``max(var, eps)``).

    Example:
      >>> print(round(float(gaussian_nll_loss([0.0, 0.0], [0.5, 1.0], [1.0, 2.0])), 10))
      0.3607867951

    References:
      Nix and Weigend, Estimating the mean and variance of the target probability distribution (1994);
      torch.nn.GaussianNLLLoss (elementwise).
    """
    return _gaussian_nll(y_true, y_pred, var, full=full, axis=axis, convention=convention)[0]
# Cosine similarity / distance


def _in_dtype(value: float, dt) -> float:
    """``value`` formed in ``dt`` (a constant an implementation holds in the input's dtype; inf or 0 when it
    does not fit)."""
    with np.errstate(all="ignore"):
        return float(np.asarray(value, dtype=np.float64).astype(dt))


def _inverse_norm(x, conv, name, dt):
    """``(b, db)``: the factor each implementation multiplies ``x`` by to normalise it (``1/|x|`` in the
    mathematics), shaped ``(..., 1)``, and its gradient w.r.t. ``x`` as that implementation's autodiff takes it."""
    s = np.sum(x * x, axis=-1, keepdims=True)
    cap = conv.value_for("cosine_inverse_norm_cap", name)
    sq_floor = conv.value_for("cosine_squared_norm_floor", name)
    floor = conv.value_for("cosine_norm_floor", name)
    sq_eps = conv.value_for("cosine_squared_norm_epsilon", name)
    with errstate():
        if cap is not None:  # x * min(rsqrt(s), 1/eps): the cap is a constant to the gradient
            c = _in_dtype(1.0 / float(cap), dt)
            r = 1.0 / np.sqrt(s)
            held = r > c
            return np.where(held, c, r), np.where(held, 0.0, -x * r ** 3)
        if sq_floor is not None:  # x * rsqrt(max(s, eps))
            e = _in_dtype(sq_floor, dt)
            b = 1.0 / np.sqrt(np.maximum(s, e))
            return b, np.where(s < e, 0.0, -x * b ** 3)
        if floor is not None:  # x / max(|x|, eps), the clamp invisible to the gradient
            e = _in_dtype(floor, dt)
            n = np.sqrt(s)
            clamped = np.maximum(n, e)
            direction = np.where(n == 0, 0.0, x / n)
            return 1.0 / clamped, -direction / clamped ** 2
        if sq_eps is not None:  # 1 / sqrt(s + eps)
            b = 1.0 / np.sqrt(s + _in_dtype(sq_eps, dt))
            return b, -x * b ** 3
        b = 1.0 / np.sqrt(s)
        return b, -x * b ** 3


def _cosine(y_true, y_pred, axis, convention, name):
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, p = _pair(y_true, y_pred, axis)
    a, _ = _inverse_norm(y, conv, name, dt)
    b, db = _inverse_norm(p, conv, name, dt)
    with errstate():
        dot = np.sum(y * p, axis=-1, keepdims=True)
        cos = dot * a * b
        g = y * a * b + dot * a * db
    g = np.where(np.isnan(cos), np.nan, g)  # undefined where the cosine is (a zero vector in the mathematics)
    return cos[..., 0], g


def _cosine_similarity(y_true, y_pred, *, axis=-1, convention="math"):
    name = "cosine_similarity"
    cos, g = _cosine(y_true, y_pred, axis, convention, name)
    sign = -1.0 if get_convention(convention).value_for("similarity_negated", name) else 1.0
    return scalar(sign * cos), _back(sign * g, axis)


def cosine_similarity(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Cosine similarity of ``y_true`` and ``y_pred`` along ``axis`` (one value per sample, in [-1, 1]).

    .. math:: \cos(y, p) = \frac{\sum_i y_i p_i}{\lVert y \rVert_2 \, \lVert p \rVert_2}

    A zero vector (either argument) gives NaN: 0/0 has no direction.  Flags: ``similarity_negated`` (the
    result is -cos), and how a norm is kept off zero: ``cosine_inverse_norm_cap`` (``x min(rsqrt(sum x^2),
    1/eps)``), ``cosine_squared_norm_floor`` (``x rsqrt(max(sum x^2, eps))``), ``cosine_norm_floor``
    (``x / max(|x|, eps)``, the clamp invisible to the gradient).  Gradient w.r.t. ``y_pred``:
    :math:`y / (|y||p|) - \cos(y, p)\, p / |p|^2`.

    Example:
      >>> print(cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]))
      [ 0.  1. -1.]
      >>> from reference.conventions import Convention, cosine_norm_floor
      >>> floored = Convention("floored", "example", [cosine_norm_floor(1e-8, source="example", versions="*")])
      >>> print(cosine_similarity([1.0, 2.0], [0.0, 0.0]), cosine_similarity([1.0, 2.0], [0.0, 0.0], convention=floored))
      nan 0.0

    References:
      https://en.wikipedia.org/wiki/Cosine_similarity
    """
    return _cosine_similarity(y_true, y_pred, axis=axis, convention=convention)[0]


def _cosine_distance(y_true, y_pred, *, axis=-1, convention="math"):
    cos, g = _cosine(y_true, y_pred, axis, convention, "cosine_distance")
    return scalar(1.0 - cos), _back(-g, axis)


def cosine_distance(y_true, y_pred, *, axis: int = -1, convention: ConventionLike = "math"):
    r"""Cosine distance :math:`1 - \cos(y, p)` along ``axis`` (one value per sample, in [0, 2]).

    A zero vector gives NaN, as for :func:`cosine_similarity`.  Flags: those of :func:`cosine_similarity`
    that keep a norm off zero, and ``cosine_squared_norm_epsilon`` (``sum(y p) / sqrt((sum y^2 + eps)
    (sum p^2 + eps))``).

    Example:
      >>> print(cosine_distance([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [-2.0, -2.0]]))
      [1. 2.]
      >>> from reference.conventions import Convention, cosine_squared_norm_epsilon
      >>> shifted = Convention("shifted", "example", [cosine_squared_norm_epsilon(1e-12, source="example", versions="*")])
      >>> print(cosine_distance([1.0, 2.0], [0.0, 0.0]), cosine_distance([1.0, 2.0], [0.0, 0.0], convention=shifted))
      nan 1.0

    References:
      https://en.wikipedia.org/wiki/Cosine_similarity#Cosine_distance
    """
    return _cosine_distance(y_true, y_pred, axis=axis, convention=convention)[0]


# ------------------------------------------------------------------------------------------------
# Focal cross entropies


def _bfocal(y_true, y_pred, *, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
            label_smoothing=0.0, axis=-1, convention="math"):
    name = "binary_focal_crossentropy"
    apply_class_balancing = check_bool(name, "apply_class_balancing", apply_class_balancing)
    from_logits = check_bool(name, "from_logits", from_logits)
    alpha = check_unit_interval(name, "alpha", alpha)
    gamma = check_nonnegative(name, "gamma", gamma)
    label_smoothing = check_unit_interval(name, "label_smoothing", label_smoothing)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, x = _pair(y_true, y_pred, axis)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    k = x.shape[-1]
    with errstate():
        p, dp = (sigmoid(x), sigmoid(x) * sigmoid(-x)) if from_logits else (x, np.ones_like(x))
        eps = conv.value_for("prob_clip", name)
        if eps is not None and (not from_logits or conv.value_for("clip_after_activation", name)):
            if from_logits:  # the sigmoid's output, a tensor of the input's dtype, is what gets clipped
                p = round_to(p, dt)
            lo, hi = clip_bounds(eps, dt)
            mask = (p >= lo) & (p <= hi)
            c = np.clip(p, lo, hi)
            comp = round_to(1.0 - c, dt)
            le = conv.value_for("bce_log_epsilon", name)
            a, b = (c, comp) if le is None else (round_to(c + _in_dtype(le, dt), dt), round_to(comp + _in_dtype(le, dt), dt))
            ce = -(y * np.log(a) + (1.0 - y) * np.log(b))
            dce = (-y / a + (1.0 - y) / b) * mask * dp
        elif from_logits:
            ce = np.where(y == 0, 0.0, y * softplus(-x)) + np.where(y == 1, 0.0, (1.0 - y) * softplus(x))
            dce = (1.0 - y) * sigmoid(x) - y * sigmoid(-x)
        else:
            ce = -(np.where(y == 0, 0.0, y * np.log(p)) + np.where(y == 1, 0.0, (1.0 - y) * np.log1p(-p)))
            dce = np.where(y == 0, 0.0, -y / p) + np.where(y == 1, 0.0, (1.0 - y) / (1.0 - p))
        m = y * (1.0 - p) + (1.0 - y) * p  # 1 - p_t
        f = m ** gamma
        df = 0.0 if gamma == 0 else gamma * m ** (gamma - 1.0) * (1.0 - 2.0 * y) * dp
        w = y * alpha + (1.0 - y) * (1.0 - alpha) if apply_class_balancing else 1.0
        terms = w * f * ce
        g = w * (df * ce + f * dce)
    return scalar(np.mean(terms, axis=-1)), _back(g / k, axis)


def binary_focal_crossentropy(y_true, y_pred, *, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1, convention: ConventionLike = "math"):
    r"""Binary focal cross entropy (Lin et al.), averaged over ``axis``.

    .. math:: \frac1K \sum_i w_i\,(1 - p_{t,i})^{\gamma}\, \mathrm{BCE}(y_i, p_i),\qquad
              1 - p_t = y (1 - p) + (1 - y) p,\quad w = y \alpha + (1 - y)(1 - \alpha)\ \text{(class balancing) else } 1

    ``p = sigmoid(y_pred)`` when ``from_logits``; label smoothing :math:`y (1-s) + s/2` first.  ``gamma = 0`` is
    binary cross entropy.  Flags: ``prob_clip`` (the BCE term's probabilities), ``clip_after_activation`` (that
    clip also after the sigmoid, whose output is then rounded to the input's dtype first), ``bce_log_epsilon``.

    Example:
      >>> print(binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2.0))
      [0.32986466 0.20579838]
      >>> print(round(float(binary_focal_crossentropy([0.0], [30.0], from_logits=True)), 6))
      30.0

    References:
      Lin et al., Focal Loss for Dense Object Detection, ICCV 2017 (arXiv:1708.02002).
    """
    return _bfocal(y_true, y_pred, apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                   from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, convention=convention)[0]


def _cfocal(y_true, y_pred, *, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
            convention="math"):
    name = "categorical_focal_crossentropy"
    from_logits = check_bool(name, "from_logits", from_logits)
    alpha = check_finite(name, "alpha", alpha)
    gamma = check_nonnegative(name, "gamma", gamma)
    label_smoothing = check_unit_interval(name, "label_smoothing", label_smoothing)
    conv = get_convention(convention)
    dt = narrow_dtype(y_pred)
    y, x = _pair(y_true, y_pred, axis)
    if label_smoothing:
        y = _smooth(y, label_smoothing, x.shape[-1])
    with errstate():
        q = softmax(x, axis=-1) if from_logits else x
        if from_logits and conv.value_for("clip_after_activation", name):
            q = round_to(q, dt)  # the softmax's output, in the input's dtype, goes down the probabilities' path
        s = None
        r = q
        if conv.value_for("cce_renormalize", name) and not from_logits:
            s = np.sum(q, axis=-1, keepdims=True)
            r = q / s
        eps = conv.value_for("prob_clip", name)
        mask = np.ones(r.shape, dtype=bool)
        c = r
        if eps is not None and (not from_logits or conv.value_for("clip_after_activation", name)):
            lo, hi = clip_bounds(eps, dt)
            mask = (r >= lo) & (r <= hi)
            c = np.clip(r, lo, hi)
        logc = log_softmax(x, axis=-1) if (from_logits and c is q) else np.log(c)
        f = (1.0 - c) ** gamma
        terms = np.where(y == 0, 0.0, -alpha * y * f * logc)
        df = 0.0 if gamma == 0 else gamma * (1.0 - c) ** (gamma - 1.0)
        gc = np.where(y == 0, 0.0, -alpha * y * (f / c - df * logc)) * mask
        if s is not None:
            g = (gc - np.sum(gc * r, axis=-1, keepdims=True)) / s
        elif from_logits:
            g = q * (gc - np.sum(gc * q, axis=-1, keepdims=True))
        else:
            g = gc
    return scalar(np.sum(terms, axis=-1)), _back(g, axis)


def categorical_focal_crossentropy(y_true, y_pred, *, alpha: float = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                                   convention: ConventionLike = "math"):
    r"""Categorical focal cross entropy per sample (Lin et al.'s focal term on every class).

    .. math:: -\sum_i \alpha\, (1 - q_i)^{\gamma}\, y_i \log q_i

    ``q = softmax(y_pred)`` when ``from_logits`` else ``y_pred``; ``alpha`` multiplies every class (the
    default 0.25 scales the loss by a quarter); label smoothing :math:`y (1-s) + s/K` first.  Flags:
    ``cce_renormalize``, ``prob_clip``, ``clip_after_activation``.

    Example:
      >>> print(categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
      [3.20583090e-05 4.66273481e-01]

    References:
      Lin et al., Focal Loss for Dense Object Detection, ICCV 2017 (arXiv:1708.02002).
    """
    return _cfocal(y_true, y_pred, alpha=alpha, gamma=gamma, from_logits=from_logits,
                   label_smoothing=label_smoothing, axis=axis, convention=convention)[0]



# ------------------------------------------------------------------------------------------------
# Overlap losses: Dice and Tversky (soft, over the axes given)


def overlap_axes(axis, ndim: int) -> tuple[int, ...]:
    """The axes an overlap loss sums over, as sorted non-negative ints: ``None`` is every axis, an int one
    axis, a tuple (or list) those axes.  ValueError for an axis out of range or named twice."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= int(a) < ndim:
            raise ValueError(f"axis={axis!r} is not an axis (or tuple of axes) of a rank-{ndim} input")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis={axis!r} names an axis twice")
    return tuple(sorted(out))


def _activated(x, from_logits):
    """``(q, vjp)``: the probabilities (``softmax`` over the last axis, or ``sigmoid`` where that axis has length
    one) and the map from a gradient w.r.t. ``q`` to one w.r.t. ``x`` (the identity from probabilities)."""
    if not from_logits:
        return x, lambda g: g
    if x.shape[-1] == 1:
        q = sigmoid(x)
        return q, lambda g: g * q * (1.0 - q)
    q = softmax(x, axis=-1)
    return q, lambda g: q * (g - np.sum(g * q, axis=-1, keepdims=True))


def _overlap_arrays(name: str, y_true, y_pred, axis):
    """``(y, x, dt, axes)``: an overlap loss's target and prediction in float64, the prediction's narrow dtype,
    and the axes it sums over; ValueError for shapes that differ or a 0-d prediction."""
    dt = narrow_dtype(y_pred)
    x = f64(y_pred)
    y = f64(y_true)
    if y.shape != x.shape:
        raise ValueError(f"{name}: y_true {y.shape} and y_pred {x.shape} differ in shape")
    if x.ndim == 0:
        raise ValueError(f"{name}: y_pred must have at least one dimension (the axes summed over)")
    return y, x, dt, overlap_axes(axis, x.ndim)


def _overlap(y_true, y_pred, *, alpha, beta, smooth, from_logits, axis, convention, name, class_weight=None,
             ignore_background=False):
    """``(value, grad)`` of the Tversky loss ``1 - (I + s) / (I + a FP + b FN + s [+ eps])`` (Dice: a = b = 1/2,
    written ``1 - (2I + 2s) / (T + P + 2s [+ eps])``)."""
    from_logits = check_bool(name, "from_logits", from_logits)
    ignore_background = check_bool(name, "ignore_background", ignore_background)
    smooth = check_nonnegative(name, "smooth", smooth)
    alpha = check_nonnegative(name, "alpha", alpha)
    beta = check_nonnegative(name, "beta", beta)
    conv = get_convention(convention)
    y, x, dt, axes = _overlap_arrays(name, y_true, y_pred, axis)
    if class_weight is not None and x.ndim - 1 in axes:
        raise ValueError(f"{name}: class_weight weighs the classes (the last axis), which axis={axis!r} sums over")
    dropped = ignore_background and x.shape[-1] > 1  # class 0 (background) left out; one channel is kept
    # Classes summed over: the background's elements leave the sums; classes kept: its loss leaves the output.
    m = 1.0
    if dropped and x.ndim - 1 in axes:
        m = np.ones(x.shape[-1])
        m[0] = 0.0
    cw = _class_weight(name, class_weight, x.shape[-1])
    eps = conv.value_for("overlap_denominator_epsilon", name)
    eps = 0.0 if eps is None else _in_dtype(eps, dt)
    if conv.value_for("tversky_weights_swapped", name):
        alpha, beta = beta, alpha  # alpha weighs the misses sum(y (1 - p)), beta the false alarms sum(p (1 - y))
    with errstate():
        q, back = _activated(x, from_logits)
        inter = np.sum(m * y * q, axis=axes, keepdims=True)
        if name == "dice":
            num = 2.0 * inter + 2.0 * smooth
            den = np.sum(m * y, axis=axes, keepdims=True) + np.sum(m * q, axis=axes, keepdims=True) + 2.0 * smooth + eps
            dnum, dden = 2.0 * y * m, m
        else:
            fp = np.sum(m * (1.0 - y) * q, axis=axes, keepdims=True)
            fn = np.sum(m * y * (1.0 - q), axis=axes, keepdims=True)
            num = inter + smooth
            den = inter + alpha * fp + beta * fn + smooth + eps
            dnum, dden = y * m, (y + alpha * (1.0 - y) - beta * y) * m
        value = 1.0 - num / den
        gq = -(dnum * den - num * dden) / den ** 2
        if cw is not None:  # each class's loss (the last axis, kept) times its weight
            value, gq = value * cw, gq * cw
        per_class = dropped and x.ndim - 1 not in axes
        if per_class:
            gq = np.concatenate([np.zeros_like(gq[..., :1]), gq[..., 1:]], axis=-1)
        g = back(gq)
    value = np.squeeze(value, axis=axes)
    return scalar(value[..., 1:] if per_class else value), g


def _dice(y_true, y_pred, *, smooth=0.0, from_logits=False, ignore_background=False, axis=-1, class_weight=None,
          convention="math"):
    return _overlap(y_true, y_pred, alpha=0.5, beta=0.5, smooth=smooth, from_logits=from_logits, axis=axis,
                    convention=convention, name="dice", class_weight=class_weight,
                    ignore_background=ignore_background)


def dice(y_true, y_pred, *, smooth: float = 0.0, from_logits: bool = False, ignore_background: bool = False,
         axis=-1, class_weight=None, convention: ConventionLike = "math"):
    r"""Soft Dice loss over ``axis`` (an int, a tuple of axes, or None: every axis, one value for the batch).

    .. math:: 1 - \frac{2 \sum_i y_i p_i + 2s}{\sum_i y_i + \sum_i p_i + 2s}

    ``p = y_pred``, or its softmax over the LAST axis (the class axis; a sigmoid where that axis has length
    one) when ``from_logits``; the sums run over ``axis`` only, so the output is ``y_pred``'s shape without
    those axes.  ``s = smooth`` is the Tversky smoothing (:func:`tversky` with ``alpha = beta = 1/2``): it
    enters the ratio as ``2s``.  With ``s = 0`` an empty foreground (``y = p = 0`` over the axes) is 0/0: NaN.
    Gradient w.r.t. ``p``: :math:`-(2 y D - N) / D^2` (N, D the numerator and denominator).  ``class_weight``
    (one per class, the last axis, which ``axis`` must then leave out) multiplies each class's loss;
    ``ignore_background`` leaves class 0 out (with more than one class): its loss out of the output, or, where
    ``axis`` sums over the classes, its elements out of the sums.  Flags:
    ``overlap_denominator_epsilon`` (an epsilon added to the denominator only: an empty foreground then
    costs 1).

    Example:
      >>> print(dice([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], [[0.9, 0.6, 0.1], [0.2, 0.7, 0.1]]))
      [0.16666667 0.3       ]
      >>> print(dice([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], [[0.9, 0.6, 0.1], [0.2, 0.7, 0.1]], axis=None))
      0.2142857142857142
      >>> print(dice([0.0, 0.0], [0.0, 0.0]), dice([0.0, 0.0], [0.0, 0.0], smooth=1.0))
      nan 0.0

    References:
      Milletari et al., V-Net, 3DV 2016 (arXiv:1606.04797); Sorensen-Dice coefficient.
    """
    return _dice(y_true, y_pred, smooth=smooth, from_logits=from_logits, ignore_background=ignore_background,
                 axis=axis, class_weight=class_weight, convention=convention)[0]


def _tversky(y_true, y_pred, *, alpha=0.5, beta=0.5, smooth=0.0, from_logits=False, ignore_background=False,
             axis=-1, class_weight=None, convention="math"):
    return _overlap(y_true, y_pred, alpha=alpha, beta=beta, smooth=smooth, from_logits=from_logits, axis=axis,
                    convention=convention, name="tversky", class_weight=class_weight,
                    ignore_background=ignore_background)


def tversky(y_true, y_pred, *, alpha: float = 0.5, beta: float = 0.5, smooth: float = 0.0,
            from_logits: bool = False, ignore_background: bool = False, axis=-1, class_weight=None,
            convention: ConventionLike = "math"):
    r"""Tversky loss over ``axis`` (an int, a tuple of axes, or None: every axis).

    .. math:: 1 - \frac{I + s}{I + \alpha\,FP + \beta\,FN + s},\quad I = \sum_i y_i p_i,\;
              FP = \sum_i (1 - y_i) p_i,\; FN = \sum_i y_i (1 - p_i)

    ``alpha`` weighs the false positives (predicted, not true) and ``beta`` the false negatives (Salehi et al.'s
    :math:`\alpha |P \setminus G| + \beta |G \setminus P|`); ``alpha = beta = 1/2`` is :func:`dice`.  ``p`` and
    the axes, ``class_weight`` and ``ignore_background`` as in :func:`dice`.  Flags: ``overlap_denominator_epsilon``; ``tversky_weights_swapped`` (alpha
    weighs FN and beta FP).

    Example:
      >>> print(tversky([[1.0, 1.0, 0.0]], [[0.9, 0.6, 0.1]], alpha=0.3, beta=0.7))
      [0.20212766]
      >>> print(tversky([[1.0, 1.0, 0.0]], [[0.9, 0.6, 0.1]], alpha=0.7, beta=0.3))
      [0.12790698]

    References:
      Salehi, Erdogmus, Gholipour, Tversky loss function for image segmentation using 3D fully
      convolutional deep networks, MLMI 2017 (arXiv:1706.05721); Tversky, Features of similarity (1977).
    """
    return _tversky(y_true, y_pred, alpha=alpha, beta=beta, smooth=smooth, from_logits=from_logits,
                    ignore_background=ignore_background, axis=axis, class_weight=class_weight,
                    convention=convention)[0]


def _generalized_dice(y_true, y_pred, *, smooth=0.0, from_logits=False, ignore_background=False, axis=None,
                      convention="math"):
    """``(value, grad)`` of the generalised Dice loss (see :func:`generalized_dice`)."""
    name = "generalized_dice"
    from_logits = check_bool(name, "from_logits", from_logits)
    ignore_background = check_bool(name, "ignore_background", ignore_background)
    smooth = check_nonnegative(name, "smooth", smooth)
    conv = get_convention(convention)
    y, x, dt, axes = _overlap_arrays(name, y_true, y_pred, axis)
    k = x.shape[-1]
    if x.ndim - 1 not in axes:
        raise ValueError(f"{name}: axis={axis!r} must sum over the classes (the last axis)")
    spatial = tuple(a for a in axes if a != x.ndim - 1)
    keep = np.ones(k)
    if ignore_background and k > 1:
        keep[0] = 0.0  # class 0 (background) left out; one channel is kept
    eps = conv.value_for("generalized_dice_weight_epsilon", name)
    eps = 0.0 if eps is None else _in_dtype(eps, dt)
    class_mean = bool(conv.value_for("generalized_dice_class_mean", name, False))
    with errstate():
        q, back = _activated(x, from_logits)
        inter = np.sum(y * q, axis=spatial, keepdims=True)
        t = np.sum(y, axis=spatial, keepdims=True)
        p = np.sum(q, axis=spatial, keepdims=True)
        if class_mean:  # a weighted mean of per-class Dice losses, weights from the whole batch's counts
            count = np.sum(y, axis=tuple(range(x.ndim - 1)), keepdims=True)
            w = 1.0 / (count ** 2 + eps)
            w = w / np.sum(w) * k
            num = 2.0 * inter + 2.0 * smooth
            den = t + p + 2.0 * smooth
            kept = keep.sum()
            value = np.sum(np.where(keep > 0, w * (1.0 - num / den), 0.0), axis=-1, keepdims=True) / kept
            gq = np.where(keep > 0, -(w / kept) * (2.0 * y * den - num) / den ** 2, 0.0)
        else:  # Sudre et al.: one ratio of class-weighted sums, each segmentation's own counts
            w = np.where(keep > 0, 1.0 / (t ** 2 + eps), 0.0)
            num = np.sum(np.where(keep > 0, 2.0 * w * inter, 0.0), axis=-1, keepdims=True) + 2.0 * smooth
            den = np.sum(np.where(keep > 0, w * (t + p), 0.0), axis=-1, keepdims=True) + 2.0 * smooth
            value = 1.0 - num / den
            gq = np.where(keep > 0, -(2.0 * w * y * den - num * w) / den ** 2, 0.0)
        g = back(gq)
    value = np.squeeze(value, axis=axes)
    return scalar(value), g


def generalized_dice(y_true, y_pred, *, smooth: float = 0.0, from_logits: bool = False,
                     ignore_background: bool = False, axis=None, convention: ConventionLike = "math"):
    r"""Generalised Dice loss (Sudre et al.) over ``axis``, which must include the class axis (the last).

    .. math:: 1 - \frac{2 \sum_c w_c \sum_i y_{ic} p_{ic} + 2s}{\sum_c w_c \sum_i (y_{ic} + p_{ic}) + 2s},
              \qquad w_c = \frac{1}{\left(\sum_i y_{ic}\right)^2}

    ``i`` runs over the axes of ``axis`` other than the last (one segmentation's pixels), ``c`` over the last
    (the classes); the output is ``y_pred``'s shape without the axes of ``axis`` (None, the default: every axis,
    one value for the batch).  ``p = y_pred``, or its softmax over the last axis (a sigmoid for one channel)
    when ``from_logits``.  ``s = smooth`` enters as ``2s`` (as in :func:`dice`).  A class absent from a
    segmentation has ``w_c = 1/0``: the loss is NaN.  ``ignore_background`` leaves class 0 out of both sums
    (with more than one class).  Gradient w.r.t. ``p``: :math:`-w_c (2 y_{ic} D - N) / D^2`.  ValueError for
    shapes that differ, or an ``axis`` that leaves the classes out.  Flags: ``generalized_dice_weight_epsilon``
    (``w_c = 1 / (count^2 + eps)``), ``generalized_dice_class_mean`` (a weighted mean of per-class Dice losses,
    weights from the whole batch, normalised to mean 1).

    Example:
      >>> y = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
      >>> p = [[0.9525741268224331, 0.04742587317756678], [0.549833997312478, 0.4501660026875221],
      ...      [0.07585818002124356, 0.9241418199787566], [0.6456563062257954, 0.35434369377420455]]
      >>> print(generalized_dice(y, p))
      0.30477659052803197
      >>> print(generalized_dice([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], p))
      0.6843709055572207
      >>> print(generalized_dice([[1.0, 0.0], [1.0, 0.0]], [[0.8, 0.2], [0.6, 0.4]]))
      nan

    References:
      Sudre, Li, Vercauteren, Ourselin, Cardoso, Generalised Dice overlap as a deep learning loss function for
      highly unbalanced segmentations, DLMIA 2017 (arXiv:1707.03237), eq. (2); Crum et al., IEEE TMI 2006.
    """
    return _generalized_dice(y_true, y_pred, smooth=smooth, from_logits=from_logits,
                             ignore_background=ignore_background, axis=axis, convention=convention)[0]
def _cosine_embedding_parts(y_true, x1, x2, *, margin=0.0, axis=-1, convention="math"):
    """``(value, {"x1": d/dx1, "x2": d/dx2})``."""
    name = "cosine_embedding_loss"
    margin = check_finite(name, "margin", margin)
    conv = get_convention(convention)
    dt = narrow_dtype(x2)
    q = _moveaxis(f64(x2), axis, -1)
    if q.ndim == 0:
        raise ValueError(f"{name}: x2 must have at least one dimension (the vector axis)")
    p = np.broadcast_to(_moveaxis(f64(x1), axis, -1), q.shape)
    y = np.broadcast_to(_moveaxis(f64(y_true), axis, -1), q.shape[:-1] + (1,))[..., 0]
    kink = float(conv.value_for("hinge_kink_grad", name, 0.0))
    a, da = _inverse_norm(p, conv, name, dt)
    b, db = _inverse_norm(q, conv, name, dt)
    with errstate():
        dot = np.sum(p * q, axis=-1, keepdims=True)
        cos = (dot * a * b)[..., 0]
        dcos_q = p * a * b + dot * a * db
        dcos_p = q * a * b + dot * b * da
        z = cos - margin
        # The kink is decided on the cosine and the margin as the inputs' dtype holds them.
        zr = round_to(cos, dt) - round_to(np.float64(margin), dt)
        active = np.where(zr > 0, 1.0, np.where(zr == 0, kink, 0.0))
        value = np.where(y == 1, 1.0 - cos, np.where(y == -1, np.maximum(z, 0.0), np.nan))
        factor = np.where(y == 1, -1.0, np.where(y == -1, active, np.nan))
        factor = np.where(np.isnan(cos), np.nan, factor)[..., None]
    return scalar(value), {"x1": _back(factor * dcos_p, axis), "x2": _back(factor * dcos_q, axis)}


def _cosine_embedding(y_true, x1, x2, *, margin=0.0, axis=-1, convention="math"):
    value, grads = _cosine_embedding_parts(y_true, x1, x2, margin=margin, axis=axis, convention=convention)
    return value, grads["x2"]


def cosine_embedding_loss(y_true, x1, x2, *, margin: float = 0.0, axis: int = -1,
                          convention: ConventionLike = "math"):
    r"""Cosine embedding loss of two batches of vectors (along ``axis``) and a target of +-1 per pair:

    .. math:: \ell = 1 - \cos(x_1, x_2)\ (y = 1), \qquad \max(0, \cos(x_1, x_2) - \text{margin})\ (y = -1)

    ``y_true`` holds one target per pair, shaped like the inputs with ``axis`` of size 1 (or broadcastable to
    that); a target other than +-1 gives NaN (undefined).  A zero vector gives NaN.  Gradients with respect
    to ``x2`` (``reference.grads``) and ``x1`` (``reference.grads.INPUT_GRADS``); 0 at the kink
    ``cos = margin``.  Flags: ``cosine_squared_norm_epsilon`` (``eps`` added to each squared norm),
    ``hinge_kink_grad``.

    Example:
      >>> loss = cosine_embedding_loss([[1.0], [-1.0]], [[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]], margin=0.5)
      >>> print([round(float(v), 10) for v in loss])
      [1.0, 0.2071067812]

    References:
      torch.nn.CosineEmbeddingLoss (target +1: optax.losses.cosine_distance).
    """
    return _cosine_embedding(y_true, x1, x2, margin=margin, axis=axis, convention=convention)[0]


def _distance(x, y, k, conv, dt, name):
    """``(d, g)``: the distance of ``x`` and ``y`` over the last axis as ``conv`` forms it, and ``g = dd/dx``
    (``dd/dy = -g``); the norm's gradient is 0 where the distance is 0 (the subgradient frameworks take)."""
    diff = x - y
    shift = conv.value_for("distance_difference_epsilon", name)
    if shift is not None:
        diff = round_to(diff + float(np.asarray(shift).astype(dt)), dt)
    signed = conv.applies("distance_signed_power", name)
    with errstate():
        powered = diff ** k if signed else np.abs(diff) ** k
        total = np.sum(powered, axis=-1)
        floor = conv.value_for("distance_power_sum_epsilon", name)
        if floor is not None:
            total = round_to(total + float(np.asarray(floor).astype(dt)), dt)
        d = total if k == 1 else total ** (1.0 / k)
        if k == 1:
            g = np.ones_like(diff) if signed else np.sign(diff)
        else:
            num = diff ** (k - 1) if signed else np.sign(diff) * np.abs(diff) ** (k - 1)
            den = d[..., None] ** (k - 1)
            g = np.where(den == 0, 0.0, num / np.where(den == 0, 1.0, den))
    return d, g


def _triplet_parts(anchor, positive, negative, *, margin=1.0, p=2, swap=False, axis=-1, convention="math"):
    """``(value, {input: gradient})``: the per-sample loss and d(sum of losses)/d(each input)."""
    name = "triplet_margin_loss"
    margin = check_finite(name, "margin", margin)
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not np.isfinite(p) or float(p) < 1.0:
        raise ValueError(f"{name}: p={p!r} is outside its domain: a finite number >= 1")
    k = int(p) if float(p) == int(p) else float(p)
    swap = check_bool(name, "swap", swap)
    conv = get_convention(convention)
    dt = narrow_dtype(negative)
    n = _moveaxis(f64(negative), axis, -1)
    a = np.broadcast_to(_moveaxis(f64(anchor), axis, -1), n.shape)
    q = np.broadcast_to(_moveaxis(f64(positive), axis, -1), n.shape)
    if n.ndim == 0:
        raise ValueError(f"{name}: the inputs must have at least one dimension (the embedding axis)")
    dp, gp = _distance(a, q, k, conv, dt, name)
    dn, gn = _distance(a, n, k, conv, dt, name)
    wn, ws = np.ones_like(dn), np.zeros_like(dn)
    gs = np.zeros_like(gn)
    if swap:
        ds, gs = _distance(q, n, k, conv, dt, name)
        with errstate():
            # the smaller of the two negative distances; a tie splits the gradient (the subgradient's average)
            wn = np.where(dn < ds, 1.0, np.where(dn == ds, 0.5, 0.0))
            ws = np.where(np.isnan(ds), 0.0, 1.0 - wn)
            dn = np.minimum(dn, ds)
    kink = get_convention(convention).value_for("hinge_kink_grad", name, 0.0)
    kink = 0.5 if kink == "tie_split" else float(kink)
    with errstate():
        z = margin + dp - dn
        # The kink is decided on the distances as the inputs' dtype holds them (in float16 0.5 - 1.5 + 1 is 0).
        zr = margin + round_to(dp, dt) - round_to(dn, dt)
        active = np.where(zr > 0, 1.0, np.where(zr == 0, kink, 0.0))
        value = np.where(np.isnan(z), np.nan, np.maximum(z, 0.0))
        act = np.where(np.isnan(z), np.nan, active)[..., None]
        grads = {
            "anchor": act * (gp - wn[..., None] * gn),
            "positive": act * (-gp - ws[..., None] * gs),
            "negative": act * (wn[..., None] * gn + ws[..., None] * gs),
        }
    return scalar(value), {key: _back(g, axis) for key, g in grads.items()}


def _triplet(anchor, positive, negative, *, margin=1.0, p=2, swap=False, axis=-1, convention="math"):
    value, grads = _triplet_parts(anchor, positive, negative, margin=margin, p=p, swap=swap, axis=axis,
                                  convention=convention)
    return value, grads["negative"]


def triplet_margin_loss(anchor, positive, negative, *, margin: float = 1.0, p: float = 2, swap: bool = False,
                        axis: int = -1, convention: ConventionLike = "math"):
    r"""Triplet margin loss over the embedding axis ``axis``, one loss per triplet:

    .. math:: \max\bigl(0,\ \text{margin} + d(a, p) - d(a, n)\bigr), \qquad
              d(x, y) = \Bigl(\sum_i |x_i - y_i|^p\Bigr)^{1/p}

    ``anchor``, ``positive``, ``negative``: embeddings of one shape (broadcast to ``negative``'s).  ``swap``
    (distance swap, Balntas et al. 2016) replaces ``d(a, n)`` by ``min(d(a, n), d(p, n))``; a tie splits the
    gradient.  Gradients (``reference.grads.INPUT_GRADS``) are taken with respect to all three inputs, the
    default (``reference.grads``) with respect to ``negative``:
    ``dL/da = g(a - p) - g(a - n)``, ``dL/dp = -g(a - p)``, ``dL/dn = g(a - n)`` where the hinge is active,
    with ``g(v) = sign(v) |v|^(p-1) / d^(p-1)`` (``v / |v|`` for p = 2), 0 where a distance is 0 (the
    norm's subgradient frameworks take), 0 at the kink ``margin + d(a, p) - d(a, n) = 0``.
    ``p`` is a number >= 1; ``margin`` any finite number (ValueError otherwise).

    Flags: ``distance_difference_epsilon`` (``|x - y + eps|_p``), ``distance_power_sum_epsilon``
    (``(sum |x - y|^p + eps)^(1/p)``), ``distance_signed_power`` (no absolute value), ``hinge_kink_grad``
    (the gradient at the kink, decided on the distances rounded to the inputs' dtype).

    Example:
      >>> a, pos, neg = [[0.0, 0.0], [1.0, 1.0]], [[0.1, 0.1], [1.1, 1.1]], [[1.0, 0.0], [0.0, 1.0]]
      >>> print([round(float(v), 10) for v in triplet_margin_loss(a, pos, neg)])
      [0.1414213562, 0.1414213562]
      >>> print([round(float(v), 10) for v in triplet_margin_loss(a, pos, neg, p=1, margin=0.9)])
      [0.1, 0.1]

    References:
      V. Balntas et al., Learning shallow convolutional feature descriptors with triplet losses (BMVC 2016);
      torch.nn.TripletMarginLoss; optax.losses.triplet_margin_loss.
    """
    return _triplet(anchor, positive, negative, margin=margin, p=p, swap=swap, axis=axis, convention=convention)[0]
def _ctc_path(labels, blank):
    """The extended label sequence ``blank, l_1, blank, ..., l_L, blank`` and, per position, whether the
    position two back may be skipped into it (a label that differs from the label before it)."""
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    skip = np.zeros(ext.shape, dtype=bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return ext, skip


def _ctc_one(lp, labels, blank):
    """``(-log p(labels | lp), occupation)`` of one sequence: ``lp`` its ``(T, C)`` log-probabilities, the
    occupation ``q[t, k]`` the posterior probability that frame ``t`` emits class ``k`` (forward-backward)."""
    T = lp.shape[0]
    ext, skip = _ctc_path(labels, blank)
    S = ext.size
    if T == 0:
        return (0.0 if S == 1 else np.inf), np.zeros(lp.shape)
    emit = lp[:, ext]                                    # (T, S)
    alpha = np.full((T, S), -np.inf)
    alpha[0, :2] = emit[0, :2]
    pad1, pad2 = np.full(1, -np.inf), np.full(2, -np.inf)
    for t in range(1, T):
        a = alpha[t - 1]
        one = np.concatenate([pad1, a])[:S]
        two = np.where(skip, np.concatenate([pad2, a])[:S], -np.inf)
        alpha[t] = np.logaddexp(np.logaddexp(a, one), two) + emit[t]
    beta = np.full((T, S), -np.inf)
    beta[T - 1, S - 2 if S > 1 else 0:] = emit[T - 1, S - 2 if S > 1 else 0:]
    skip_from = np.concatenate([skip, [False, False]])[2:]  # position s may skip to s + 2
    for t in range(T - 2, -1, -1):
        b = beta[t + 1]
        one = np.concatenate([b, pad1])[1:]
        two = np.where(skip_from, np.concatenate([b, pad2])[2:], -np.inf)
        beta[t] = np.logaddexp(np.logaddexp(b, one), two) + emit[t]
    log_p = np.logaddexp(alpha[T - 1, -1], alpha[T - 1, -2]) if S > 1 else alpha[T - 1, -1]
    if not np.isfinite(log_p):
        return np.inf, np.full(lp.shape, np.nan)
    posterior = np.exp(alpha + beta - emit - log_p)     # (T, S): the paths through (t, s), normalised
    q = np.zeros(lp.shape)
    np.add.at(q, (slice(None), ext), posterior)
    return -log_p, q


def _ctc_inputs(labels, logits, logit_lengths, label_lengths, blank):
    z = f64(logits)
    if z.ndim != 3:
        raise ValueError(f"ctc_loss: logits must have shape (batch, time, classes), got {z.shape}")
    B, T, C = z.shape
    lab = as_labels(labels)
    if lab.ndim != 2 or lab.shape[0] != B:
        raise ValueError(f"ctc_loss: labels must have shape (batch, max_label_length), got {lab.shape}")
    lengths = as_labels(logit_lengths).reshape(-1)
    label_lengths = as_labels(label_lengths).reshape(-1)
    if lengths.shape != (B,) or label_lengths.shape != (B,):
        raise ValueError(f"ctc_loss: logit_lengths and label_lengths must hold one length per sample ({B})")
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= int(blank) < C:
        raise ValueError(f"ctc_loss: blank={blank!r} is outside [0, {C})")
    if np.any(lengths < 0) or np.any(lengths > T) or np.any(label_lengths < 0) or np.any(label_lengths > lab.shape[1]):
        raise ValueError("ctc_loss: a length is negative or longer than its padded axis")
    for b in range(B):
        used = lab[b, :label_lengths[b]]
        if np.any(used < 0) or np.any(used >= C):
            raise ValueError(f"ctc_loss: the labels of sample {b} must lie in [0, {C})")
    return z, lab, lengths, label_lengths, int(blank)


def _ctc_loss(labels, logits, logit_lengths, label_lengths, *, blank=0, zero_infinity=False, convention="math"):
    zero_infinity = check_bool("ctc_loss", "zero_infinity", zero_infinity)
    eps = get_convention(convention).value_for("ctc_probability_epsilon", "ctc_loss")
    dt = narrow_dtype(logits)
    z, lab, lengths, label_lengths, blank = _ctc_inputs(labels, logits, logit_lengths, label_lengths, blank)
    with errstate():
        lp = log_softmax(z, axis=-1)
        if eps is not None:  # probabilities through log(p + eps), normalised again: log((p + eps) / sum(p + eps))
            p, shifted = np.exp(lp), np.exp(lp) + float(np.asarray(eps).astype(dt))
            lp = np.log(shifted) - np.log(np.sum(shifted, axis=-1, keepdims=True))
        losses = np.empty(z.shape[0])
        grad = np.zeros(z.shape)
        for b in range(z.shape[0]):
            t, used = lengths[b], lab[b, :label_lengths[b]]
            if np.any(used == blank):  # no path collapses to a sequence holding the blank: probability 0
                loss, q = np.inf, np.full((t, z.shape[2]), np.nan)
            else:
                loss, q = _ctc_one(lp[b, :t], used, blank)
            if np.isinf(loss) and zero_infinity:
                loss, q = 0.0, np.exp(lp[b, :t])  # the loss and its gradient are 0
            losses[b] = loss
            grad[b, :t] = np.exp(lp[b, :t]) - q   # softmax - occupation: d loss / d logits (of lp's softmax)
        if eps is not None:  # back through log(p + eps), then through p = softmax(z)
            through = grad / shifted
            grad = p * (through - np.sum(p * through, axis=-1, keepdims=True))
    return scalar(losses), grad


def ctc_loss(labels, logits, logit_lengths, label_lengths, *, blank: int = 0, zero_infinity: bool = False,
             convention: ConventionLike = "math"):
    r"""Connectionist temporal classification: the negative log-probability of ``labels`` summed over every
    frame-level alignment of them to ``logits`` (Graves et al., 2006), one loss per sequence.

    .. math:: -\log \sum_{\pi \in \mathcal{B}^{-1}(l)} \prod_{t=1}^{T_b} \mathrm{softmax}(z_t)_{\pi_t}

    ``labels``: ``(B, N)`` integers, the first ``label_lengths[b]`` of row ``b`` used (the rest is padding),
    none equal to ``blank``; ``logits``: ``(B, T, C)`` unnormalised scores (batch, time, classes: the
    reference applies ``log_softmax`` over the classes), the first ``logit_lengths[b]`` frames of sample ``b``
    used; ``logit_lengths``, ``label_lengths``: ``(B,)`` integers.  :math:`\mathcal{B}` removes repeated
    labels, then blanks, so a repeated label (``[1, 1]``) needs a blank frame between its two copies: it needs
    ``T_b >= L_b + (number of adjacent repeats)``.  A target no alignment reaches (too long for its frames, or
    holding the blank, which no path collapses to) gives ``inf`` (``0``, and a zero gradient, with
    ``zero_infinity``).  Computed by the forward algorithm in log space, float64; the gradient with respect to
    the logits is ``softmax(z_t) - q_t`` (forward-backward occupation ``q``), 0 on frames past ``logit_lengths``.
    Flag ``ctc_probability_epsilon`` (an API that reads probabilities through ``log(p + eps)``); how a
    ``"mean"`` divides is the reduction's flag, ``mean_divides_by_target_length``.

    Raises ValueError for a logits array that is not rank 3, a length outside its axis, a used label outside
    ``[0, C)``, ``blank`` outside ``[0, C)``.

    Example:
      >>> import numpy as np
      >>> print(round(float(ctc_loss([[1]], np.zeros((1, 2, 2)), [2], [1])[0]), 10))  # 3 paths of 1/4
      0.2876820725
      >>> print(ctc_loss([[1, 1]], np.zeros((1, 2, 2)), [2], [2]))  # a repeat needs 3 frames
      [inf]

    References:
      A. Graves, S. Fernandez, F. Gomez, J. Schmidhuber, "Connectionist temporal classification: labelling
      unsegmented sequence data with recurrent neural networks", ICML 2006 (forward-backward: section 4.1).
    """
    return _ctc_loss(labels, logits, logit_lengths, label_lengths, blank=blank, zero_infinity=zero_infinity,
                     convention=convention)[0]


IMPLEMENTATIONS = {
    "entropy": _entropy,
    "cross_entropy": _cross_entropy,
    "kl_divergence": _kl_divergence,
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": _sparse_cce,
    "binary_crossentropy": _bce,
    "nll": _nll,
    "hinge": lambda y_true, y_pred, *, axis=-1, convention="math": _hinge_core(
        y_true, y_pred, axis, convention, "hinge", squared=False),
    "squared_hinge": lambda y_true, y_pred, *, axis=-1, convention="math": _hinge_core(
        y_true, y_pred, axis, convention, "squared_hinge", squared=True),
    "categorical_hinge": _categorical_hinge,
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "huber": _huber,
    "smooth_l1": _smooth_l1,
    "log_cosh": _log_cosh,
    "poisson": _poisson,
    "l2_loss": _l2_loss,
    "generalized_kl_divergence": _generalized_kl,
    "mean_squared_logarithmic_error": _msle,
    "mean_absolute_percentage_error": _mape,
    "categorical_generalized_cross_entropy": _gce,
    "soft_margin_loss": _soft_margin,
    "hinge_embedding_loss": _hinge_embedding,
    "margin_ranking_loss": _margin_ranking,
    "multi_margin_loss": _multi_margin,
    "gaussian_nll_loss": _gaussian_nll,
    "cosine_similarity": _cosine_similarity,
    "cosine_distance": _cosine_distance,
    "binary_focal_crossentropy": _bfocal,
    "categorical_focal_crossentropy": _cfocal,
    "dice": _dice,
    "tversky": _tversky,
    "generalized_dice": _generalized_dice,
    "triplet_margin_loss": _triplet,
    "cosine_embedding_loss": _cosine_embedding,
    "ctc_loss": _ctc_loss,
}

LOSSES = {
    "entropy": entropy,
    "cross_entropy": cross_entropy,
    "kl_divergence": kl_divergence,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "nll": nll,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "categorical_hinge": categorical_hinge,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "smooth_l1": smooth_l1,
    "log_cosh": log_cosh,
    "poisson": poisson,
    "l2_loss": l2_loss,
    "generalized_kl_divergence": generalized_kl_divergence,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "categorical_generalized_cross_entropy": categorical_generalized_cross_entropy,
    "soft_margin_loss": soft_margin_loss,
    "hinge_embedding_loss": hinge_embedding_loss,
    "margin_ranking_loss": margin_ranking_loss,
    "multi_margin_loss": multi_margin_loss,
    "gaussian_nll_loss": gaussian_nll_loss,
    "cosine_similarity": cosine_similarity,
    "cosine_distance": cosine_distance,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy,
    "dice": dice,
    "tversky": tversky,
    "generalized_dice": generalized_dice,
    "triplet_margin_loss": triplet_margin_loss,
    "cosine_embedding_loss": cosine_embedding_loss,
    "ctc_loss": ctc_loss,
}
