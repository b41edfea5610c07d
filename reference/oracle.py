"""High-precision oracle: the reference losses in mpmath at 60 significant digits.

Each ``oracle.<loss>`` takes the same arguments as ``reference.<loss>`` (conventions included) and
returns the exact per-sample loss of the float64 inputs, correctly rounded to float64.  The inputs are
taken exactly (a float32 input is widened, never re-parsed).  Where a convention forms a constant or an
intermediate in the input's dtype (Keras's ``1 - eps``, ``1 - p``, ``p + eps``), the oracle rounds at
the same place, because that rounding is part of the convention; everything else is exact.

``oracle.grad(name, *args, **kwargs)`` differentiates the same per-sample functions by a central
difference at 60 digits with a relative step of 1e-25 (truncation error ~1e-50, cancellation leaves
~35 digits), i.e. ~20+ correct digits away from kinks and clip boundaries.

  >>> print(binary_crossentropy([1.0], [0.1]))
  2.3025850929940455
  >>> print(grad("mean_squared_error", [0.0, 1.0], [1.0, 1.0]))
  [1. 0.]
"""
from __future__ import annotations

import mpmath
import numpy as np
from mpmath import mp, mpf

from ._util import as_labels, clip_bounds, f64, machine_eps, narrow_dtype
from .conventions import ConventionLike, get_convention

__all__ = ["DPS", "to_float", "LOSSES", "grad"] + [
    "entropy", "cross_entropy", "kl_divergence", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_crossentropy", "nll", "hinge", "squared_hinge",
    "categorical_hinge", "mean_squared_error", "mean_absolute_error", "huber", "smooth_l1", "log_cosh", "poisson",
    "l2_loss", "generalized_kl_divergence", "mean_squared_logarithmic_error", "mean_absolute_percentage_error",
    "categorical_generalized_cross_entropy", "soft_margin_loss", "hinge_embedding_loss", "margin_ranking_loss",
    "multi_margin_loss", "gaussian_nll_loss",
    "cosine_similarity", "cosine_distance", "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky",
    "triplet_margin_loss", "cosine_embedding_loss", "softmax", "log_softmax", "sigmoid", "log_sigmoid", "softplus", "logsumexp",
    "cosine_similarity", "cosine_distance", "binary_focal_crossentropy", "categorical_focal_crossentropy",
    "ctc_loss", "ctc_loss_grad", "softmax", "log_softmax", "sigmoid", "log_sigmoid", "softplus", "logsumexp",
]

DPS = 60
NAN = mpf("nan")
INF = mpf("inf")


def to_float(x) -> float:
    """``x`` (an mpf) correctly rounded (to nearest) to a Python float."""
    x = mpf(x)
    if mpmath.isnan(x):
        return float("nan")
    return mpmath.libmp.to_float(x._mpf_, rnd="n")


def _rnd(x, dtype) -> mpf:
    """``x`` rounded to ``dtype`` (float64 or narrower) and back: a rounding the convention performs."""
    v = to_float(x)
    return mpf(float(np.asarray(v).astype(np.dtype(dtype)))) if np.dtype(dtype) != np.float64 else mpf(v)


def _log(x):
    if x == 0:
        return -INF
    if x < 0:
        return NAN
    return mpmath.log(x)


def _xlogy(x, y):
    return mpf(0) if x == 0 else x * _log(y)


def _softplus(x):
    if x == INF:
        return INF
    if x == -INF:
        return mpf(0)
    return mpmath.log1p(mpmath.exp(x)) if x < 0 else x + mpmath.log1p(mpmath.exp(-x))


def _log_softmax_row(z):
    # log1p of the sum without one maximal term: exact even when it is below 10**-DPS relative to 1.
    m = max(z)
    if m == INF or m == -INF:
        return [NAN if m == -INF or v == INF else -INF for v in z]
    first = z.index(m)
    l1p = mpmath.log1p(mpmath.fsum(mpmath.exp(v - m) for j, v in enumerate(z) if j != first))
    return [(v - m) - l1p for v in z]


# ------------------------------------------------------------------------------------------------
# Row functions: (y_row, p_row, ctx) -> mpf.  ``ctx`` carries keyword arguments and the convention.


def _row_entropy(_, p, c):
    conv = c["conv"]
    if conv.value_for("distribution_renormalize", "entropy"):
        total = mpmath.fsum(p)
        p = [v / total for v in p]
    if conv.value_for("log_clamp_machine_eps", "entropy"):
        eps = mpf(machine_eps(c["dt"]))
        hi = _rnd(1 - eps, c["dt"])
        return -mpmath.fsum(0 if v == 0 else v * mpmath.log(min(max(v, eps), hi)) for v in p) / c["lb"]
    return -mpmath.fsum(_xlogy(v, v) for v in p) / c["lb"]


def _row_cross_entropy(y, p, c):
    return -mpmath.fsum(_xlogy(a, b) for a, b in zip(y, p)) / c["lb"]


def _row_kl(y, p, c):
    conv, name = c["conv"], "kl_divergence"
    nan_at_log_zero = False
    if c.get("log_target"):  # y holds log-probabilities
        nan_at_log_zero = bool(conv.value_for("zero_times_inf_nan", name)) and any(v == -INF for v in y)
        y = [mpf(0) if v == -INF else mpmath.exp(v) for v in y]
        if nan_at_log_zero:
            return NAN
    eps = conv.value_for("kl_clip", name)
    if eps is not None:
        lo, hi = (mpf(b) for b in clip_bounds(eps, c["dt"], upper_is_one=True))
        y = [min(max(v, lo), hi) for v in y]
        p = [min(max(v, lo), hi) for v in p]
    nan = conv.value_for("zero_times_inf_nan", name)
    terms = []
    for a, b in zip(y, p):
        if a == 0:
            terms.append(NAN if (nan and b == 0) else mpf(0))
        elif b == 0:
            terms.append(INF)
        else:
            terms.append(a * (mpmath.log(a) - mpmath.log(b)))
    return mpmath.fsum(terms) / c["lb"]


def _row_cce(y, p, c):
    conv, name = c["conv"], "categorical_crossentropy"
    ls = c.get("label_smoothing", 0.0)
    if ls:
        k = c["last_k"] if conv.value_for("smoothing_classes_last_axis", name) else len(p)
        y = [v * (1 - mpf(ls)) + mpf(ls) / k for v in y]
    if c.get("from_logits"):
        logq = _log_softmax_row(p)
    else:
        q = list(p)
        if conv.value_for("cce_renormalize", name):
            s = mpmath.fsum(q)
            q = [v / s for v in q]
        eps = conv.value_for("prob_clip", name)
        if eps is not None:
            lo, hi = (mpf(b) for b in clip_bounds(eps, c["dt"]))
            q = [min(max(v, lo), hi) for v in q]
        logq = [_log(v) for v in q]
    nan = conv.value_for("zero_times_inf_nan", name)
    terms = []
    for a, lq in zip(y, logq):
        if a == 0:
            terms.append(NAN if (nan and lq == -INF) else mpf(0))
        else:
            terms.append(-a * lq)
    return mpmath.fsum(terms)


def _row_sparse(label, p, c):
    conv, name = c["conv"], c["name"]
    k = len(p)
    if label == conv.value_for("ignore_index", name, object()) or label == c.get("ignore_class", object()):
        return mpf(0)
    if not 0 <= label < k:
        return NAN
    if name == "nll":
        return -p[label]
    ls = c.get("label_smoothing", 0.0)
    if ls:
        onehot = [mpf(1) if j == label else mpf(0) for j in range(k)]
        return _row_cce(onehot, p, dict(c, conv=get_convention("math"), last_k=k))
    if c.get("from_logits"):
        return -_log_softmax_row(p)[label]
    mode = conv.value_for("sparse_renormalize", name)
    eps = conv.value_for("prob_clip", name)
    q = list(p)
    if mode == "before_clip":
        s = mpmath.fsum(q)
        q = [v / s for v in q]
    if eps is not None:
        lo, hi = (mpf(b) for b in clip_bounds(eps, c["dt"]))
        q = [min(max(v, lo), hi) for v in q]
    out = -_log(q[label])
    if mode == "after_clip":
        out += mpmath.log(mpmath.fsum(q))
    return out


def _row_bce(y, p, c):
    conv, name = c["conv"], "binary_crossentropy"
    ls = c.get("label_smoothing", 0.0)
    if ls:
        y = [v * (1 - mpf(ls)) + mpf(ls) / 2 for v in y]
    dt = c["dt"]
    terms = []
    for a, x in zip(y, p):
        if c.get("from_logits"):
            t = (0 if a == 0 else a * _softplus(-x)) + (0 if a == 1 else (1 - a) * _softplus(x))
        elif conv.applies("prob_clip", name):
            lo, hi = (mpf(b) for b in clip_bounds(conv.value_for("prob_clip", name), dt))
            cl = min(max(x, lo), hi)
            rnd = (lambda v, _: v) if c.get("exact") else _rnd  # grad(): differentiate without roundings
            comp = rnd(1 - cl, dt)
            le = conv.value_for("bce_log_epsilon", name)
            if le is not None:
                e = mpf(float(np.asarray(le).astype(dt)))
                u, v = rnd(cl + e, dt), rnd(comp + e, dt)
            else:
                u, v = cl, comp
            t = -(a * mpmath.log(u) + (1 - a) * mpmath.log(v))
        else:
            clamp = conv.value_for("bce_log_clamp", name)
            lp, l1p = _log(x), _log(1 - x)
            if clamp is not None:
                lp, l1p = max(lp, mpf(clamp)), max(l1p, mpf(clamp))
            t = -((0 if a == 0 else a * lp) + (0 if a == 1 else (1 - a) * l1p))
        terms.append(t)
    return mpmath.fsum(terms) / len(p)


def _row_hinge(y, s, c):
    return mpmath.fsum(max(1 - a * b, mpf(0)) for a, b in zip(y, s)) / len(s)


def _row_squared_hinge(y, s, c):
    return mpmath.fsum(max(1 - a * b, mpf(0)) ** 2 for a, b in zip(y, s)) / len(s)


def _row_categorical_hinge(y, s, c):
    incl = c["conv"].value_for("categorical_hinge_max_includes_target", "categorical_hinge")
    cand = [(1 - a) * b for a, b in zip(y, s) if incl or a != 1]
    neg = max(cand) if cand else -INF
    pos = mpmath.fsum(a * b for a, b in zip(y, s))
    return max(neg - pos + 1, mpf(0))


def _row_mse(y, p, c):
    return mpmath.fsum((b - a) ** 2 for a, b in zip(y, p)) / len(p)


def _row_mae(y, p, c):
    return mpmath.fsum(abs(b - a) for a, b in zip(y, p)) / len(p)


def _row_huber(y, p, c):
    d = mpf(c["delta"])
    out = []
    for a, b in zip(y, p):
        e = abs(b - a)
        out.append(e * e / 2 if e <= d else d * (e - d / 2))
    return mpmath.fsum(out) / len(p)


def _row_smooth_l1(y, p, c):
    beta = mpf(c["beta"])
    out = []
    for a, b in zip(y, p):
        e = abs(b - a)
        out.append(e if beta == 0 else (e * e / (2 * beta) if e < beta else e - beta / 2))
    return mpmath.fsum(out) / len(p)


def _row_log_cosh(y, p, c):
    out = mpmath.fsum(mpmath.log(mpmath.cosh(b - a)) for a, b in zip(y, p)) / len(p)
    log2 = c["conv"].value_for("log_cosh_log2", "log_cosh")
    if log2 is not None:
        out -= mpf(log2) - mpmath.log(2)
    return out


def _row_poisson(y, p, c):
    out = []
    eps = c["conv"].value_for("poisson_log_epsilon", "poisson")
    for a, b in zip(y, p):
        if c.get("log_input", False):
            term = mpmath.exp(b) - (0 if a == 0 else a * b)
        else:
            rate = b if eps is None else _rnd(b + _rnd(mpf(eps), c["dt"]), c["dt"])
            term = b - _xlogy(a, rate)
        if c.get("full", False) and a > 1:
            term += a * mpmath.log(a) - a + mpmath.log(2 * mpmath.pi * a) / 2
        out.append(term)
    return mpmath.fsum(out) / len(p)


def _row_l2(y, p, c):
    return mpmath.fsum((b - a) ** 2 / 2 for a, b in zip(y, p)) / len(p)


def _row_generalized_kl(y, p, c):
    nan = c["conv"].value_for("zero_times_inf_nan", "generalized_kl_divergence")
    terms = []
    for a, b in zip(y, p):
        if a == 0:
            terms.append(NAN if (nan and b == 0) else b)
        elif b == 0:
            terms.append(INF)
        else:
            terms.append(a * (mpmath.log(a) - mpmath.log(b)) - a + b)
    return mpmath.fsum(terms)


def _row_msle(y, p, c):
    eps = c["conv"].value_for("log_floor", "mean_squared_logarithmic_error")
    if eps is not None:
        lo = _rnd(mpf(eps), c["dt"])
        y, p = [max(v, lo) for v in y], [max(v, lo) for v in p]
    def log1p(v):
        return -INF if v == -1 else (NAN if v < -1 else mpmath.log1p(v))
    return mpmath.fsum((log1p(b) - log1p(a)) ** 2 for a, b in zip(y, p)) / len(p)


def _row_mape(y, p, c):
    eps = c["conv"].value_for("percentage_floor", "mean_absolute_percentage_error")
    lo = None if eps is None else _rnd(mpf(eps), c["dt"])
    terms = []
    for a, b in zip(y, p):
        den = abs(a) if lo is None else max(abs(a), lo)
        num = abs(b - a)
        terms.append((NAN if num == 0 else INF) if den == 0 else num / den)
    return 100 * mpmath.fsum(terms) / len(p)


def _row_gce(label, p, c):
    if not 0 <= label < len(p):
        return NAN
    q = mpf(c.get("q", 0.5))
    return (1 - mpmath.power(p[label], q)) / q


def _row_soft_margin(y, p, c):
    return mpmath.fsum(_softplus(-a * b) for a, b in zip(y, p)) / len(p)


def _row_hinge_embedding(y, p, c):
    m = mpf(c.get("margin", 1.0))
    terms = [b if a == 1 else (max(m - b, 0) if a == -1 else NAN) for a, b in zip(y, p)]
    return mpmath.fsum(terms) / len(p)


def _row_margin_ranking(yx, p, c):
    y, x1 = yx
    m = mpf(c.get("margin", 0.0))
    return mpmath.fsum(max(-a * (b1 - b2) + m, 0) for a, b1, b2 in zip(y, x1, p)) / len(p)


def _row_multi_margin(label, x, c):
    if not 0 <= label < len(x):
        return NAN
    m, power = mpf(c.get("margin", 1.0)), int(c.get("p", 1))
    w = 1 if c.get("class_weight") is None else mpf(float(np.asarray(c["class_weight"], dtype=np.float64)[label]))
    return w * mpmath.fsum(max(m - x[label] + v, 0) ** power for j, v in enumerate(x) if j != label) / len(x)


def _distance(x, y, c):
    k = c.get("p", 2)
    k = int(k) if float(k) == int(k) else mpf(k)
    conv, name, dt = c["conv"], "triplet_margin_loss", c["dt"]
    shift = conv.value_for("distance_difference_epsilon", name)
    diffs = [a - b if shift is None else _rnd(a - b + _rnd(mpf(shift), dt), dt) for a, b in zip(x, y)]
    signed = conv.applies("distance_signed_power", name)
    if signed and not isinstance(k, int) and any(v < 0 for v in diffs):
        return NAN  # a fractional power of a negative difference
    total = mpmath.fsum((v ** k if signed else abs(v) ** k) for v in diffs)
    floor = conv.value_for("distance_power_sum_epsilon", name)
    if floor is not None:
        total = _rnd(total + _rnd(mpf(floor), dt), dt)
    if k == 1:
        return total
    if total < 0:
        return NAN
    return total ** (mpf(1) / k)


def _row_triplet(ap, n, c):
    a, p = ap
    dp, dn = _distance(a, p, c), _distance(a, n, c)
    if c.get("swap", False):
        ds = _distance(p, n, c)
        dn = NAN if mpmath.isnan(ds) or mpmath.isnan(dn) else min(dn, ds)
    z = mpf(c.get("margin", 1.0)) + dp - dn
    return NAN if mpmath.isnan(z) else max(z, 0)


def _row_gaussian_nll(yv, p, c):
    y, var = yv
    eps = c["conv"].value_for("variance_floor", "gaussian_nll_loss")
    lo = None if eps is None else _rnd(mpf(eps), c["dt"])
    terms = []
    for a, v, b in zip(y, var, p):
        v = v if lo is None else max(v, lo)
        terms.append((_log(v) + (b - a) ** 2 / v) / 2 if v != 0 else (INF if b != a else NAN))
    out = mpmath.fsum(terms) / len(p)
    if c.get("full", False):
        out += mpmath.log(2 * mpmath.pi) / 2
    return out
def _inv_norm(x, c):
    """The factor that normalises ``x`` under the convention (``1/|x|`` in the mathematics; inf at 0)."""
    conv, name, dt = c["conv"], c["name"], c["dt"]
    sq = mpmath.fsum(v * v for v in x)
    cap = conv.value_for("cosine_inverse_norm_cap", name)
    sq_floor = conv.value_for("cosine_squared_norm_floor", name)
    floor = conv.value_for("cosine_norm_floor", name)
    sq_eps = conv.value_for("cosine_squared_norm_epsilon", name)
    with np.errstate(all="ignore"):
        if cap is not None:
            bound = mpf(float(np.asarray(1.0 / float(cap)).astype(dt)))
            return bound if sq == 0 else min(1 / mpmath.sqrt(sq), bound)
        if sq_floor is not None:
            sq = max(sq, mpf(float(np.asarray(sq_floor).astype(dt))))
        elif floor is not None:
            norm = max(mpmath.sqrt(sq), mpf(float(np.asarray(floor).astype(dt))))
            return INF if norm == 0 else 1 / norm
        elif sq_eps is not None:
            sq = sq + mpf(float(np.asarray(sq_eps).astype(dt)))
    return INF if sq == 0 else 1 / mpmath.sqrt(sq)


def _cos(y, p, c):
    a, b = _inv_norm(y, c), _inv_norm(p, c)
    dot = mpmath.fsum(u * v for u, v in zip(y, p))
    if INF in (a, b):
        return dot * a * b if dot != 0 else NAN
    return dot * a * b


def _row_cosine_similarity(y, p, c):
    cos = _cos(y, p, c)
    return -cos if c["conv"].value_for("similarity_negated", "cosine_similarity") else cos


def _row_cosine_distance(y, p, c):
    return 1 - _cos(y, p, c)


def _row_cosine_embedding(yx, p, c):
    y, x1 = yx
    cos = _cos(x1, p, c)
    if y[0] == 1:
        return 1 - cos
    if y[0] == -1:
        return NAN if mpmath.isnan(cos) else max(cos - mpf(c.get("margin", 0.0)), 0)
    return NAN


def _row_binary_focal(y, p, c):
    conv, name, dt = c["conv"], "binary_focal_crossentropy", c["dt"]
    ls = c.get("label_smoothing", 0.0)
    if ls:
        y = [v * (1 - mpf(ls)) + mpf(ls) / 2 for v in y]
    gamma, alpha = mpf(c.get("gamma", 2.0)), mpf(c.get("alpha", 0.25))
    logits = c.get("from_logits", False)
    eps = conv.value_for("prob_clip", name)
    clipped = eps is not None and (not logits or conv.value_for("clip_after_activation", name))
    rnd = (lambda v, _: v) if c.get("exact") else _rnd
    terms = []
    for a, x in zip(y, p):
        q = 1 / (1 + mpmath.exp(-x)) if logits else x
        if clipped and logits and not c.get("exact"):
            q = _rnd(q, dt)  # the sigmoid's output in the input's dtype
        if clipped:
            lo, hi = (mpf(b) for b in clip_bounds(eps, dt))
            cl = min(max(q, lo), hi)
            comp = rnd(1 - cl, dt)
            le = conv.value_for("bce_log_epsilon", name)
            u, v = (cl, comp) if le is None else (rnd(cl + mpf(float(np.asarray(le).astype(dt))), dt),
                                                  rnd(comp + mpf(float(np.asarray(le).astype(dt))), dt))
            ce = -(a * mpmath.log(u) + (1 - a) * mpmath.log(v))
        elif logits:
            ce = (0 if a == 0 else a * _softplus(-x)) + (0 if a == 1 else (1 - a) * _softplus(x))
        else:
            ce = -((0 if a == 0 else a * _log(q)) + (0 if a == 1 else (1 - a) * _log(1 - q)))
        m = a * (1 - q) + (1 - a) * q
        f = mpf(1) if gamma == 0 else (mpf(0) if m == 0 else m ** gamma)
        w = a * alpha + (1 - a) * (1 - alpha) if c.get("apply_class_balancing", False) else 1
        terms.append(0 if (f == 0 and ce != INF) else w * f * ce)
    return mpmath.fsum(terms) / len(p)


def _row_categorical_focal(y, p, c):
    conv, name, dt = c["conv"], "categorical_focal_crossentropy", c["dt"]
    ls = c.get("label_smoothing", 0.0)
    if ls:
        y = [v * (1 - mpf(ls)) + mpf(ls) / len(p) for v in y]
    gamma, alpha = mpf(c.get("gamma", 2.0)), mpf(c.get("alpha", 0.25))
    logits = c.get("from_logits", False)
    if logits:
        q = [mpmath.exp(v) for v in _log_softmax_row(p)]
        if conv.value_for("clip_after_activation", name) and not c.get("exact"):
            q = [_rnd(v, dt) for v in q]  # the softmax's output in the input's dtype
    else:
        q = list(p)
        if conv.value_for("cce_renormalize", name):
            total = mpmath.fsum(q)
            q = [v / total for v in q]
    eps = conv.value_for("prob_clip", name)
    if eps is not None and (not logits or conv.value_for("clip_after_activation", name)):
        lo, hi = (mpf(b) for b in clip_bounds(eps, dt))
        q = [min(max(v, lo), hi) for v in q]
        logq = [_log(v) for v in q]
    else:
        logq = _log_softmax_row(p) if logits else [_log(v) for v in q]
    return mpmath.fsum(0 if a == 0 else -alpha * a * (1 - v) ** gamma * lv for a, v, lv in zip(y, q, logq))


# ------------------------------------------------------------------------------------------------
# Drivers

_ROWS = {
    "entropy": _row_entropy, "cross_entropy": _row_cross_entropy, "kl_divergence": _row_kl,
    "categorical_crossentropy": _row_cce, "sparse_categorical_crossentropy": _row_sparse, "nll": _row_sparse,
    "binary_crossentropy": _row_bce, "hinge": _row_hinge, "squared_hinge": _row_squared_hinge,
    "categorical_hinge": _row_categorical_hinge, "mean_squared_error": _row_mse,
    "mean_absolute_error": _row_mae, "huber": _row_huber, "smooth_l1": _row_smooth_l1,
    "log_cosh": _row_log_cosh, "poisson": _row_poisson, "l2_loss": _row_l2,
    "generalized_kl_divergence": _row_generalized_kl, "mean_squared_logarithmic_error": _row_msle,
    "mean_absolute_percentage_error": _row_mape, "categorical_generalized_cross_entropy": _row_gce,
    "soft_margin_loss": _row_soft_margin, "hinge_embedding_loss": _row_hinge_embedding,
    "margin_ranking_loss": _row_margin_ranking, "multi_margin_loss": _row_multi_margin,
    "gaussian_nll_loss": _row_gaussian_nll,
    "log_cosh": _row_log_cosh, "poisson": _row_poisson, "cosine_similarity": _row_cosine_similarity,
    "cosine_distance": _row_cosine_distance, "binary_focal_crossentropy": _row_binary_focal,
    "categorical_focal_crossentropy": _row_categorical_focal,
    "triplet_margin_loss": _row_triplet,
    "cosine_embedding_loss": _row_cosine_embedding,
}
_SPARSE = ("sparse_categorical_crossentropy", "nll", "categorical_generalized_cross_entropy", "multi_margin_loss")
# Losses of three inputs: which argument is the prediction (differentiated) and which rides along with the target.
_THREE = {"margin_ranking_loss": (2, 1), "gaussian_nll_loss": (1, 2), "triplet_margin_loss": (2, 1),
          "cosine_embedding_loss": (2, 1)}


def _prepare(name, args, kwargs):
    """``(rows, ctx, batch_shape, pred_shape, axis)`` with rows = [(y_row, p_row_as_mpf_list), ...]."""
    kwargs = dict(kwargs)
    axis = kwargs.pop("axis", -1)
    conv = get_convention(kwargs.pop("convention", "math"))
    base = kwargs.pop("base", None)
    extra = None
    if name == "entropy":
        (pred,) = args
        first = None
    elif name in _THREE:
        first, (pi, ei) = args[0], _THREE[name]
        pred, extra = args[pi], f64(args[ei])
        if name == "gaussian_nll_loss" and extra.ndim == np.ndim(pred) - 1:
            extra = extra[..., None]
        extra = np.moveaxis(np.broadcast_to(extra, np.shape(pred)), axis, -1)
    else:
        first, pred = args
    dt = narrow_dtype(pred)
    p = np.moveaxis(f64(pred), axis, -1)
    ctx = dict(kwargs, conv=conv, dt=dt, name=name, last_k=np.shape(pred)[-1],
               lb=mpf(1) if base is None else mpmath.log(base))
    k = p.shape[-1]
    batch = p.shape[:-1]
    p2 = p.reshape(-1, k)
    if name in _SPARSE:
        lab = np.broadcast_to(as_labels(first), batch).reshape(-1)
        ys = [int(v) for v in lab]
    else:
        y = np.zeros(p.shape) if first is None else np.moveaxis(np.broadcast_to(f64(first), f64(pred).shape),
                                                                  axis, -1)
        if name in ("hinge", "squared_hinge") and conv.value_for("hinge_binary_labels", name):
            if np.all((y == 0) | (y == 1)):
                y = 2.0 * y - 1.0
        ys = [[mpf(float(v)) for v in row] for row in y.reshape(-1, k)]
    if extra is not None:
        es = [[mpf(float(v)) for v in row] for row in extra.reshape(-1, k)]
        ys = [(ys[i], es[i]) for i in range(len(ys))]
    rows = [(ys[i], [mpf(float(v)) for v in p2[i]]) for i in range(p2.shape[0])]
    return rows, ctx, batch, p.shape, axis


def _nan_patterns(name, args, kwargs, out):
    """NaN patterns that depend on infinite logits (bce_logits_formula): taken from the framework formula."""
    if name == "binary_crossentropy" and kwargs.get("from_logits"):
        from .losses import binary_crossentropy as ref_bce
        conv = get_convention(kwargs.get("convention", "math"))
        if conv.applies("bce_logits_formula", name):
            mask = np.isnan(np.asarray(ref_bce(*args, **kwargs)))
            out = np.where(mask, np.nan, out)
    return out


def _evaluate(name, *args, **kwargs):
    with mp.workdps(DPS):
        rows, ctx, batch, _, _ = _prepare(name, args, kwargs)
        row = _ROWS[name]
        vals = [to_float(row(y, p, ctx)) for y, p in rows]
    out = np.array(vals, dtype=np.float64).reshape(batch)
    out = _nan_patterns(name, args, kwargs, out)
    return out[()] if out.ndim == 0 else out


_PROB_INPUTS = ("entropy", "cross_entropy", "kl_divergence", "categorical_crossentropy",
                "sparse_categorical_crossentropy", "binary_crossentropy", "generalized_kl_divergence",
                "categorical_generalized_cross_entropy", "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky",
                "generalized_dice")


def grad(name: str, *args, step: float = 1e-25, relative=None, **kwargs) -> np.ndarray:
    """Central-difference gradient of the per-sample ``name`` loss w.r.t. ``y_pred``, at 60 digits.

    The step is ``step * |x|`` (relative: probabilities, which must not cross 0) or
    ``step * max(|x|, 1)`` (logits and regression inputs); ``relative=None`` picks by loss and
    ``from_logits``.  Results are correctly rounded to float64.
    """
    if relative is None:
        relative = name in _PROB_INPUTS and not kwargs.get("from_logits", False)
    if name in _OVERLAP:
        return _overlap_grad(name, args[0], args[1], step, relative, kwargs)
    with mp.workdps(DPS):
        rows, ctx, _, pshape, axis = _prepare(name, args, kwargs)
        ctx["exact"] = True
        fn = _ROWS[name]
        out = np.empty((len(rows), pshape[-1]))
        for i, (y, p) in enumerate(rows):
            for j in range(len(p)):
                h = mpf(step) * (abs(p[j]) if relative and p[j] != 0 else max(abs(p[j]), 1))
                hi, lo = list(p), list(p)
                hi[j] += h
                lo[j] -= h
                out[i, j] = to_float((fn(y, hi, ctx) - fn(y, lo, ctx)) / (2 * h))
    return np.moveaxis(out.reshape(pshape), -1, axis)


def _make(name):
    def loss(*args, **kwargs):
        return _evaluate(name, *args, **kwargs)

    loss.__name__ = loss.__qualname__ = name
    loss.__doc__ = f"``reference.{name}`` evaluated at {DPS} digits and correctly rounded to float64."
    return loss


LOSSES = {name: _make(name) for name in _ROWS}


# ------------------------------------------------------------------------------------------------
# Overlap losses (Dice, Tversky): sums over several axes, so evaluated on whole arrays (mpf object arrays),
# not row by row.

_OVERLAP = ("dice", "tversky", "generalized_dice")


def _overlap_mp(name, y, x, kw):
    """The loss (an object array of mpf, or one mpf) on mpf arrays ``y``, ``x`` (``x``: y_pred)."""
    from .losses import overlap_axes

    if name == "generalized_dice":
        return _generalized_dice_mp(y, x, kw)

    conv, dt = kw["conv"], kw["dt"]
    alpha, beta = mpf(kw.get("alpha", 0.5)), mpf(kw.get("beta", 0.5))
    if name == "dice":
        alpha = beta = mpf(1) / 2
    smooth = mpf(kw.get("smooth", 0.0))
    if conv.value_for("tversky_weights_swapped", name):
        alpha, beta = beta, alpha
    eps = conv.value_for("overlap_denominator_epsilon", name)
    eps = mpf(0) if eps is None else mpf(float(np.asarray(eps, dtype=np.float64).astype(dt)))
    axes = overlap_axes(kw.get("axis", -1), x.ndim)
    q = x
    if kw.get("from_logits"):
        flat = x.reshape(-1, x.shape[-1])
        if x.shape[-1] == 1:
            q = np.array([1 / (1 + mpmath.exp(-v)) for v in x.ravel()], dtype=object).reshape(x.shape)
        else:
            q = np.array([[mpmath.exp(v) for v in _log_softmax_row(list(r))] for r in flat],
                         dtype=object).reshape(x.shape)

    drop = bool(kw.get("ignore_background")) and x.shape[-1] > 1
    if drop and x.ndim - 1 in axes:  # classes summed: the background's elements leave the sums
        y, q = y[..., 1:], q[..., 1:]

    def total(a):
        return np.sum(a, axis=axes)

    inter = total(y * q)
    if name == "dice":
        num = 2 * inter + 2 * smooth
        den = total(y) + total(q) + 2 * smooth + eps
    else:
        num = inter + smooth
        den = inter + alpha * total((1 - y) * q) + beta * total(y * (1 - q)) + smooth + eps

    def ratio(n, d):
        return NAN if d == 0 and n == 0 else (INF if d == 0 else n / d)

    if isinstance(num, np.ndarray):
        out = np.array([1 - ratio(n, d) for n, d in zip(num.ravel(), den.ravel())], dtype=object).reshape(num.shape)
        cw = kw.get("class_weight")
        if cw is not None:  # one weight per class: the output's last axis (the reference refuses it summed)
            out = out * np.array([mpf(float(w)) for w in np.ravel(cw)], dtype=object)
        if drop and x.ndim - 1 not in axes:
            out = out[..., 1:]
        return out
    return 1 - ratio(num, den)


def _probabilities_mp(x, from_logits):
    if not from_logits:
        return x
    if x.shape[-1] == 1:
        return np.array([1 / (1 + mpmath.exp(-v)) for v in x.ravel()], dtype=object).reshape(x.shape)
    flat = x.reshape(-1, x.shape[-1])
    return np.array([[mpmath.exp(v) for v in _log_softmax_row(list(r))] for r in flat], dtype=object).reshape(x.shape)


def _generalized_dice_mp(y, x, kw):
    """Sudre et al.'s generalised Dice, or (``generalized_dice_class_mean``) the weighted mean of per-class Dice
    losses; weights 1 / (count^2 [+ eps]); 1/0 is an infinite weight (the value is then NaN)."""
    from .losses import overlap_axes

    conv, dt, name = kw["conv"], kw["dt"], "generalized_dice"
    smooth = mpf(kw.get("smooth", 0.0))
    eps = conv.value_for("generalized_dice_weight_epsilon", name)
    eps = mpf(0) if eps is None else mpf(float(np.asarray(eps, dtype=np.float64).astype(dt)))
    axes = overlap_axes(kw.get("axis"), x.ndim)
    if x.ndim - 1 not in axes:
        raise ValueError(f"{name}: axis must sum over the classes (the last axis)")
    spatial = tuple(a for a in axes if a != x.ndim - 1)
    k = x.shape[-1]
    kept = [c for c in range(k) if not (kw.get("ignore_background") and k > 1 and c == 0)]
    q = _probabilities_mp(x, kw.get("from_logits"))

    def inv(v):
        return INF if v == 0 else 1 / v

    def ratio(n, d):
        return NAN if (d == 0 and n == 0) or mpmath.isinf(d) or mpmath.isnan(d) or mpmath.isnan(n) else n / d

    inter = np.sum(y * q, axis=spatial, keepdims=True)
    t = np.sum(y, axis=spatial, keepdims=True)
    p = np.sum(q, axis=spatial, keepdims=True)
    out_shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    rest = [i for i in range(x.ndim - 1) if i not in spatial]  # the kept axes (of the output)
    values = []
    if conv.value_for("generalized_dice_class_mean", name, False):
        count = np.sum(y, axis=tuple(range(x.ndim - 1))).ravel()
        w = [inv(c ** 2 + eps) for c in count]
        total = mpmath.fsum(w)
        w = [NAN if mpmath.isinf(total) else wc / total * k for wc in w]
    for idx in np.ndindex(*out_shape) if out_shape else [()]:
        at = [0] * x.ndim
        for axis_index, i in zip(rest, idx):
            at[axis_index] = i
        terms = []
        for c in kept:
            at[-1] = c
            I, T, P = inter[tuple(at)], t[tuple(at)], p[tuple(at)]
            terms.append((c, I, T, P))
        if conv.value_for("generalized_dice_class_mean", name, False):
            values.append(mpmath.fsum(w[c] * (1 - ratio(2 * I + 2 * smooth, T + P + 2 * smooth))
                                      for c, I, T, P in terms) / len(kept))
        else:
            ws = [inv(T ** 2 + eps) for _, _, T, _ in terms]
            num = mpmath.fsum(2 * wc * I if I != 0 or not mpmath.isinf(wc) else NAN
                              for wc, (_, I, _, _) in zip(ws, terms)) + 2 * smooth
            den = mpmath.fsum(wc * (T + P) for wc, (_, _, T, P) in zip(ws, terms)) + 2 * smooth
            values.append(1 - ratio(num, den))
    if not out_shape:
        return values[0]
    return np.array(values, dtype=object).reshape(out_shape)


def _overlap_inputs(y_true, y_pred, kwargs):
    kw = dict(kwargs)
    kw["conv"] = get_convention(kw.pop("convention", "math"))
    kw["dt"] = narrow_dtype(y_pred)
    x = f64(y_pred)
    y = np.broadcast_to(f64(y_true), x.shape)
    return (np.array([mpf(float(v)) for v in y.ravel()], dtype=object).reshape(y.shape),
            np.array([mpf(float(v)) for v in x.ravel()], dtype=object).reshape(x.shape), kw)


def _overlap_loss(name):
    def loss(y_true, y_pred, **kwargs):
        with mp.workdps(DPS):
            y, x, kw = _overlap_inputs(y_true, y_pred, kwargs)
            out = _overlap_mp(name, y, x, kw)
            if isinstance(out, np.ndarray):
                return np.array([to_float(v) for v in out.ravel()], dtype=np.float64).reshape(out.shape)
            return np.float64(to_float(out))

    loss.__name__ = loss.__qualname__ = name
    loss.__doc__ = f"``reference.{name}`` evaluated at {DPS} digits and correctly rounded to float64."
    return loss


def _overlap_grad(name, y_true, y_pred, step, relative, kwargs):
    with mp.workdps(DPS):
        y, x, kw = _overlap_inputs(y_true, y_pred, kwargs)
        out = np.empty(x.shape)
        for idx in np.ndindex(x.shape):
            v = x[idx]
            h = mpf(step) * (abs(v) if relative and v != 0 else max(abs(v), 1))
            hi, lo = x.copy(), x.copy()
            hi[idx] += h
            lo[idx] -= h
            diff = np.sum(_overlap_mp(name, y, hi, kw)) - np.sum(_overlap_mp(name, y, lo, kw))
            out[idx] = to_float(diff / (2 * h))
    return out


LOSSES.update({name: _overlap_loss(name) for name in _OVERLAP})
globals().update(LOSSES)

# ------------------------------------------------------------------------------------------------
# Activations


def _map_rows(fn, z, axis):
    z = np.moveaxis(f64(z), axis, -1)
    with mp.workdps(DPS):
        out = np.array([[to_float(v) for v in fn([mpf(float(x)) for x in row])]
                        for row in z.reshape(-1, z.shape[-1])]).reshape(z.shape)
    return np.moveaxis(out, -1, axis)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """Exact log-softmax, correctly rounded."""
    return _map_rows(_log_softmax_row, z, axis)


def softmax(z, axis: int = -1) -> np.ndarray:
    """Exact softmax, correctly rounded."""
    return _map_rows(lambda r: [mpmath.exp(v) for v in _log_softmax_row(r)], z, axis)


def sigmoid(z) -> np.ndarray:
    """Exact sigmoid, correctly rounded."""
    z = f64(z)
    with mp.workdps(DPS):
        out = np.array([to_float(1 / (1 + mpmath.exp(-mpf(float(v))))) for v in z.ravel()]).reshape(z.shape)
    return out[()] if out.ndim == 0 else out


def log_sigmoid(z) -> np.ndarray:
    """Exact log-sigmoid, correctly rounded."""
    z = f64(z)
    with mp.workdps(DPS):
        out = np.array([to_float(-_softplus(-mpf(float(v)))) for v in z.ravel()]).reshape(z.shape)
    return out[()] if out.ndim == 0 else out


def softplus(z) -> np.ndarray:
    """Exact softplus ``log(1 + exp(z))``, correctly rounded."""
    z = f64(z)
    with mp.workdps(DPS):
        out = np.array([to_float(_softplus(mpf(float(v)))) for v in z.ravel()]).reshape(z.shape)
    return out[()] if out.ndim == 0 else out


def logsumexp(z, axis: int = -1) -> np.ndarray:
    """Exact ``log(sum(exp(z)))`` along ``axis``, correctly rounded."""
    z = np.moveaxis(f64(z), axis, -1)
    with mp.workdps(DPS):
        rows = z.reshape(-1, z.shape[-1])
        out = []
        for row in rows:
            r = [mpf(float(x)) for x in row]
            m = max(r)
            out.append(to_float(m if m in (INF, -INF) else m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in r))))
    out = np.array(out).reshape(z.shape[:-1])
    return out[()] if out.ndim == 0 else out


# ------------------------------------------------------------------------------------------------
# CTC: brute force over every frame-level path (independent of the reference's forward algorithm)


def _ctc_enumerate(z, target, blank, eps=None):
    """``(softmax rows, total probability, occupation)`` of one sequence by enumeration at 60 digits: every one of
    the ``C ** T`` frame-level paths whose collapse (repeats merged, then blanks removed) is ``target`` adds the
    product of its softmax probabilities; ``occupation[t][k]`` sums those whose frame ``t`` emits ``k``."""
    import itertools

    steps, classes = len(z), (len(z[0]) if len(z) else 0)
    probs = []
    for row in z:
        row = [mpf(float(v)) for v in row]
        top = max(row)
        e = [mpmath.exp(v - top) for v in row]
        total = mpmath.fsum(e)
        row = [v / total for v in e]
        if eps is not None:  # ctc_probability_epsilon: (p + eps) / sum(p + eps)
            shifted = [v + mpf(eps) for v in row]
            row = [v / mpmath.fsum(shifted) for v in shifted]
        probs.append(row)
    occupation = [[mpf(0)] * classes for _ in range(steps)]
    mass = []
    for path in itertools.product(range(classes), repeat=steps):
        merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        if tuple(k for k in merged if k != blank) == target:
            term = mpf(1)
            for t, k in enumerate(path):
                term *= probs[t][k]
            mass.append(term)
            for t, k in enumerate(path):
                occupation[t][k] += term
    return probs, mpmath.fsum(mass), occupation


def _ctc_epsilon(logits, convention):
    """``ctc_probability_epsilon``'s epsilon rounded to the logits' dtype, or None."""
    eps = get_convention(convention).value_for("ctc_probability_epsilon", "ctc_loss")
    return None if eps is None else float(np.asarray(eps).astype(narrow_dtype(logits)))


def _ctc_sequences(labels, logits, logit_lengths, label_lengths):
    z = f64(logits)
    lab = as_labels(labels)
    lengths, label_lengths = as_labels(logit_lengths).reshape(-1), as_labels(label_lengths).reshape(-1)
    for b in range(z.shape[0]):
        yield b, z[b, :int(lengths[b])], tuple(int(v) for v in lab[b, :label_lengths[b]])


def ctc_loss(labels, logits, logit_lengths, label_lengths, *, blank=0, zero_infinity=False, convention="math"):
    """``reference.ctc_loss`` by enumeration of every frame-level path (:func:`_ctc_enumerate`): minus the log of
    the total probability, correctly rounded (under ``ctc_probability_epsilon``, of the probabilities
    ``(p + eps) / sum(p + eps)``).  For tiny ``T`` and ``C`` only (``C ** T`` paths)."""
    out = []
    with mp.workdps(DPS):
        for _, z, target in _ctc_sequences(labels, logits, logit_lengths, label_lengths):
            _, total, _ = _ctc_enumerate(z, target, blank, _ctc_epsilon(logits, convention))
            loss = -mpmath.log(total) if total > 0 else INF
            if loss == INF and zero_infinity:
                loss = mpf(0)
            out.append(to_float(loss))
    return np.array(out, dtype=np.float64)


def ctc_loss_grad(labels, logits, logit_lengths, label_lengths, *, blank=0, zero_infinity=False, convention="math"):
    """d(sum of ``ctc_loss``)/d(logits) by enumeration: ``softmax(z_t) - occupation_t / total`` on the used frames,
    0 past them (NaN for a target no path reaches, 0 with ``zero_infinity``), correctly rounded."""
    shape = np.shape(logits)
    out = np.zeros(shape)
    with mp.workdps(DPS):
        for b, z, target in _ctc_sequences(labels, logits, logit_lengths, label_lengths):
            eps = _ctc_epsilon(logits, convention)
            probs, total, occupation = _ctc_enumerate(z, target, blank, eps)
            plain = _ctc_enumerate(z, (), blank)[0] if eps is not None else probs  # softmax(z_t)
            for t in range(len(z)):
                if total > 0 and eps is not None:  # d/dp_k = -occ_k / (P (p_k + eps)), then through the softmax
                    g = [-occupation[t][k] / (total * (plain[t][k] + mpf(eps))) for k in range(shape[2])]
                    mean = mpmath.fsum(plain[t][k] * g[k] for k in range(shape[2]))
                    for k in range(shape[2]):
                        out[b, t, k] = to_float(plain[t][k] * (g[k] - mean))
                    continue
                for k in range(shape[2]):
                    if total > 0:
                        out[b, t, k] = to_float(probs[t][k] - occupation[t][k] / total)
                    else:
                        out[b, t, k] = 0.0 if zero_infinity else np.nan
    return out
