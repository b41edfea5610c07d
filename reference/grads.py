"""Analytic gradients: ``grads.<loss>(same arguments)`` = d(sum of per-sample losses)/d(y_pred).

The result is shaped like ``y_pred`` (the second positional argument; for ``entropy`` the only one).
Conventions act on gradients as an implementation's autodiff does, and each flag says which choice it
reproduces: a clip (``prob_clip``, ``kl_clip``) passes the gradient at its bounds and zeroes it strictly
outside; a renormalisation (``cce_renormalize``) contributes its Jacobian; ``bce_grad_epsilon`` gives
``(p - y) / max(p (1 - p), eps)``; hinge kinks give 0 (math), or what ``hinge_kink_grad`` says (the
full gradient, or a tie split).

Formulas (``K`` = size of the reduced axis):

* cross entropy from logits: ``sum(y) * softmax(z) - y``; from probabilities ``-y / q``
* binary cross entropy: ``(sigmoid(z) - y) / K`` from logits, ``(-y/p + (1-y)/(1-p)) / K`` from probs
* KL: ``-p / q``; MSE: ``2 (p - y) / K``; MAE: ``sign(p - y) / K``; Huber: ``clip(e, -d, d) / K``
* hinge: ``-y [1 - y s > 0] / K``; categorical hinge: ``(1 - y) w - y`` when active, ``w`` the
  indicator of the max (ties share equally)

Example:
  >>> import numpy as np
  >>> from reference import grads
  >>> from reference.conventions import Convention, bce_grad_epsilon, bce_log_clamp, cce_renormalize, prob_clip
  >>> print(grads.categorical_crossentropy([0.0, 1.0], [0.0, 0.0], from_logits=True))
  [ 0.5 -0.5]
  >>> renorm = Convention("renormalised", "example", [cce_renormalize(source="example", versions="*"),
  ...                                                 prob_clip(1e-7, source="example", versions="*")])
  >>> print(np.round(grads.categorical_crossentropy([0, 1, 0, 0], [.1, .1, .8, .1], convention=renorm), 6))
  [ 0.909091 -9.090909  0.909091  0.909091]
  >>> eps = float(np.float32(1e-12))  # 1e-12 held as a float32 constant
  >>> guarded = Convention("guarded", "example", [bce_log_clamp(-100.0, source="example", versions="*"),
  ...                                             bce_grad_epsilon(eps, source="example", versions="*")])
  >>> print(float(grads.binary_crossentropy([1.0], [0.0], convention=guarded)[0]))
  -1000000003995.8029
"""
from __future__ import annotations

import inspect

import numpy as np

from ._util import f64
from ._util import moveaxis as _moveaxis
from .activations import sigmoid as _sigmoid
from .activations import softmax as _softmax
from .losses import IMPLEMENTATIONS, LOSSES

__all__ = sorted(LOSSES) + ["softmax_vjp", "log_softmax_vjp", "sigmoid_grad", "log_sigmoid_grad", "GRADS"]


def _make(name):
    impl = IMPLEMENTATIONS[name]
    loss = LOSSES[name]

    def grad(*args, **kwargs):
        return impl(*args, **kwargs)[1]

    grad.__name__ = grad.__qualname__ = name
    grad.__signature__ = inspect.signature(loss)
    grad.__doc__ = (f"d(sum of per-sample ``{name}``)/d(y_pred), shaped like y_pred; same arguments as "
                    f"``reference.{name}``.")
    grad.__module__ = __name__
    return grad


GRADS = {name: _make(name) for name in LOSSES}
globals().update(GRADS)


def softmax_vjp(z, v, axis: int = -1) -> np.ndarray:
    r"""``v^T J_softmax(z)`` = ``s * (v - sum(v * s))`` with ``s = softmax(z)``.

    Example:
      >>> print(softmax_vjp([0.0, 0.0], [1.0, 0.0]))
      [ 0.25 -0.25]
    """
    s = _softmax(z, axis=axis)
    v = f64(v)
    return s * (v - np.sum(v * s, axis=axis, keepdims=True))


def log_softmax_vjp(z, v, axis: int = -1) -> np.ndarray:
    r"""``v^T J_log_softmax(z)`` = ``v - softmax(z) * sum(v)``.

    Example:
      >>> print(log_softmax_vjp([0.0, 0.0], [1.0, 0.0]))
      [ 0.5 -0.5]
    """
    v = f64(v)
    return v - _softmax(z, axis=axis) * np.sum(v, axis=axis, keepdims=True)


def sigmoid_grad(z) -> np.ndarray:
    r"""``sigmoid'(z) = sigmoid(z) sigmoid(-z)``.

    Example:
      >>> print(sigmoid_grad(0.0))
      0.25
    """
    return _sigmoid(z) * _sigmoid(-f64(z))


def log_sigmoid_grad(z) -> np.ndarray:
    r"""``d log sigmoid(z) / dz = sigmoid(-z)``.

    Example:
      >>> print(log_sigmoid_grad(0.0))
      0.5
    """
    return _sigmoid(-f64(z))


# ------------------------------------------------------------------------------------------------
# Gradients with respect to the target (soft labels, distillation): d(sum of per-sample losses)/d(y_true)


def _target_cce(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, class_weight=None, where=None,
                convention="math"):
    from .conventions import get_convention
    from .losses import _class_weight, _pair, _where
    from ._util import clip_bounds, errstate, narrow_dtype

    conv = get_convention(convention)
    name = "categorical_crossentropy"
    dt = narrow_dtype(y_pred)
    _, p = _pair(y_true, y_pred, axis)
    factor = 1.0 - float(label_smoothing)  # d y' / d y of the smoothed target
    cw = _class_weight(name, class_weight, p.shape[-1])
    with errstate():
        if from_logits:
            from .activations import log_softmax

            logq = log_softmax(p, axis=-1)
        else:
            r = p / np.sum(p, axis=-1, keepdims=True) if conv.value_for("cce_renormalize", name) else p
            eps = conv.value_for("prob_clip", name)
            if eps is not None:
                lo, hi = clip_bounds(eps, dt)
                r = np.clip(r, lo, hi)
            logq = np.log(r)
    g = -factor * logq * (1.0 if cw is None else cw)
    keep = _where(name, where, g.shape[:-1])
    if keep is not None:
        g = np.where(keep[..., None], g, 0.0)
    return _moveaxis(g, -1, axis)


def _target_bce(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1, weight=None, pos_weight=None,
                convention="math"):
    from .conventions import get_convention
    from .losses import _element_weight, _pair
    from ._util import clip_bounds, errstate, narrow_dtype, round_to, softplus

    conv = get_convention(convention)
    name = "binary_crossentropy"
    dt = narrow_dtype(y_pred)
    ew = _element_weight(name, weight, np.shape(y_pred), axis)
    pw = _element_weight(name, pos_weight, np.shape(y_pred), axis, "pos_weight")
    _, p = _pair(y_true, y_pred, axis)
    k = p.shape[-1]
    factor = 1.0 - float(label_smoothing)
    with errstate():
        if from_logits:
            # d/dy [a y softplus(-x) + (1 - y) softplus(x)] = a softplus(-x) - softplus(x) (= -x when a = 1)
            g = -p if pw is None else pw * softplus(-p) - softplus(p)
        elif conv.applies("prob_clip", name):
            lo, hi = clip_bounds(conv.value_for("prob_clip", name), dt)
            c = np.clip(p, lo, hi)
            comp = round_to(1.0 - c, dt)
            le = conv.value_for("bce_log_epsilon", name)
            if le is not None:
                e = float(np.asarray(le).astype(dt))
                c, comp = round_to(c + e, dt), round_to(comp + e, dt)
            g = np.log(comp) - np.log(c)
        else:
            lp, l1p = np.log(p), np.log1p(-p)
            clamp = conv.value_for("bce_log_clamp", name)
            if clamp is not None and conv.value_for("bce_grad_epsilon", name) is None:
                lp, l1p = np.maximum(lp, clamp), np.maximum(l1p, clamp)  # the derivative of the clamped loss
            # An analytic backward (bce_grad_epsilon) writes the target's gradient unclamped: log(1-p) - log p.
            g = l1p - lp
    g = factor * g * (1.0 if ew is None else ew) / k
    return _moveaxis(g, -1, axis)


def _target_kl(p, q, *, base=None, axis=-1, log_target=False, convention="math"):
    from .conventions import get_convention
    from .losses import _log_base, _pair
    from ._util import clip_bounds, errstate, narrow_dtype

    conv = get_convention(convention)
    name = "kl_divergence"
    dt = narrow_dtype(q)
    lp, q = _pair(p, q, axis)
    with errstate():
        pr = np.exp(lp) if log_target else lp
        mask = np.ones(q.shape)
        eps = conv.value_for("kl_clip", name)
        if eps is not None:
            lo, hi = clip_bounds(eps, dt, upper_is_one=True)
            mask = ((pr >= lo) & (pr <= hi)).astype(np.float64)
            pr, q = np.clip(pr, lo, hi), np.clip(q, lo, hi)
        logp = lp if log_target and eps is None else np.log(pr)
        g = (logp - np.log(q) + 1.0) * mask / _log_base(base)
        if log_target:  # d/d(log p) = p d/dp
            g = g * pr
    return _moveaxis(g, -1, axis)


def _negated_prediction_gradient(name):
    """Losses of the error ``y_pred - y_true`` only: d/dy_true = -d/dy_pred, exactly (the same kinks)."""
    impl = IMPLEMENTATIONS[name]

    def grad(*args, **kwargs):
        return -impl(*args, **kwargs)[1]

    return grad


_TARGET_IMPLEMENTATIONS = {
    "categorical_crossentropy": _target_cce,
    "binary_crossentropy": _target_bce,
    "kl_divergence": _target_kl,
    **{name: _negated_prediction_gradient(name)
       for name in ("mean_squared_error", "mean_absolute_error", "huber", "smooth_l1", "log_cosh", "l2_loss")},
}


def _make_target(name):
    impl = _TARGET_IMPLEMENTATIONS[name]

    def grad(*args, **kwargs):
        return impl(*args, **kwargs)

    grad.__name__ = grad.__qualname__ = f"{name}_target"
    grad.__signature__ = inspect.signature(LOSSES[name])
    grad.__doc__ = (f"d(sum of per-sample ``{name}``)/d(its target, the first argument), shaped like it; same "
                    f"arguments as ``reference.{name}``.")
    grad.__module__ = __name__
    return grad


# d(sum of per-sample losses)/d(target) of the losses whose target is differentiable (soft labels,
# distillation): cross entropy -(1 - ls) w log q; binary cross entropy (1 - ls) w (log(1-p) - log p) / K
# (from logits: (a softplus(-x) - softplus(x)) / K, -x / K without pos_weight); KL (log(p/q) + 1) / log b
# (log-probability targets: p (log(p/q) + 1)); the regression losses -d/dy_pred.  Conventions act as on the
# value: a clip (prob_clip, kl_clip) fixes the log at its bound and zeroes p's gradient outside it.
TARGET_GRADS = {name: _make_target(name) for name in _TARGET_IMPLEMENTATIONS}


def _make_input_grad(name, wrt, parts):
    def grad(*args, **kwargs):
        return parts(*args, **kwargs)[1][wrt]

    grad.__name__ = grad.__qualname__ = f"{name}_{wrt}"
    grad.__signature__ = inspect.signature(LOSSES[name])
    grad.__doc__ = (f"d(sum of per-sample ``{name}``)/d({wrt}), shaped like it; same arguments as "
                    f"``reference.{name}``.")
    grad.__module__ = __name__
    return grad


def _input_grads():
    from .losses import _cosine_embedding_parts, _triplet_parts

    return {"triplet_margin_loss": {wrt: _make_input_grad("triplet_margin_loss", wrt, _triplet_parts)
                                    for wrt in ("anchor", "positive", "negative")},
            "cosine_embedding_loss": {wrt: _make_input_grad("cosine_embedding_loss", wrt, _cosine_embedding_parts)
                                      for wrt in ("x1", "x2")}}


# d(sum of per-sample losses)/d(input) for losses with more than one differentiable input besides the
# prediction, by input name (the triplet loss: anchor, positive and negative; "negative" is GRADS' too; the cosine
# embedding loss: x1 and x2).
INPUT_GRADS = _input_grads()
