"""lossparity reference: float64 NumPy losses, analytic gradients, conventions, mpmath oracle.

Imports NumPy and mpmath only, and names no framework.  A loss takes ``convention="math"`` (the
mathematics, :data:`MATH`) or a :class:`Convention` built from the flag constructors of
:mod:`reference.conventions`; whoever runs an implementation declares its conventions from them.  See
``docs/design.md`` for the contract and ``docs/conventions.md`` for the conventions' evidence.

  >>> import reference
  >>> from reference.conventions import bce_log_clamp
  >>> print(round(float(reference.binary_crossentropy([1.0], [0.1])), 7))
  2.3025851
  >>> clamped = reference.Convention("clamped", "example", [bce_log_clamp(-100.0, source="example", versions="*")])
  >>> print(float(reference.binary_crossentropy([1.0], [0.0], convention=clamped)))
  100.0
  >>> reference.get_convention("math") is reference.MATH
  True
"""
from . import grads
from .activations import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax, softplus
from . import conventions
from .conventions import MATH, Convention, Flag, get_convention
from .losses import (
    LOSSES,
    WEIGHT_PARAMETERS,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cross_entropy,
    entropy,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_squared_error,
    nll,
    smooth_l1,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from .reductions import REDUCTIONS, reduce, reduce_loss, reduce_loss_grad

ACTIVATIONS = {
    "softmax": softmax,
    "log_softmax": log_softmax,
    "sigmoid": sigmoid,
    "log_sigmoid": log_sigmoid,
    "softplus": softplus,
    "logsumexp": logsumexp,
}

__all__ = [
    "ACTIVATIONS", "Convention", "Flag", "LOSSES", "MATH", "REDUCTIONS", "WEIGHT_PARAMETERS", "conventions", "get_convention", "grads",
    "reduce", "reduce_loss", "reduce_loss_grad", *ACTIVATIONS, *LOSSES,
]
