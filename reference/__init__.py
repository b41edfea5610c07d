"""lossparity reference: float64 NumPy losses, analytic gradients, framework conventions, mpmath oracle.

Imports NumPy and mpmath only (never a framework).  See ``docs/design.md`` for the contract and
``docs/conventions.md`` for the conventions' evidence.

  >>> import reference
  >>> print(round(float(reference.binary_crossentropy([1.0], [0.1])), 7))
  2.3025851
  >>> sorted(reference.CONVENTIONS)
  ['keras', 'keras2', 'math', 'optax', 'torch']
"""
from . import grads
from .activations import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax, softplus
from .conventions import CONVENTIONS, Convention, Flag, get_convention
from .losses import (
    LOSSES,
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
from .reductions import REDUCTIONS, reduce

ACTIVATIONS = {
    "softmax": softmax,
    "log_softmax": log_softmax,
    "sigmoid": sigmoid,
    "log_sigmoid": log_sigmoid,
    "softplus": softplus,
    "logsumexp": logsumexp,
}

__all__ = [
    "ACTIVATIONS", "CONVENTIONS", "Convention", "Flag", "LOSSES", "REDUCTIONS", "get_convention", "grads",
    "reduce", *ACTIVATIONS, *LOSSES,
]
