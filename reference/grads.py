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
