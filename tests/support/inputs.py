"""Generated inputs for the matrix: seeded, so every machine and every run sees the same numbers.

Each loss gets input sets of a few shapes (a small batch, a rank-3 batch that exercises the class
axis, a wide one with many classes) and, for probability losses, a set whose probabilities sit beyond
Keras's clip range, so clipping conventions and their zero gradients show.  No expected value lives
here: the reference computes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SHAPES = {"small": (4, 5), "rank3": (2, 3, 4), "wide": (3, 257), "vector": (6,)}


@dataclass(frozen=True)
class InputSet:
    """Named inputs (as the reference function's parameters) and the reference keyword arguments."""

    id: str
    loss: str
    inputs: dict[str, np.ndarray] = field(hash=False, compare=False)
    args: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source: str = "generated"
    provenance: dict | None = field(default=None, hash=False, compare=False)
    dtype: str | None = None  # the dtype a case prescribes; None: every dtype the plan crosses


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(labels, classes):
    return np.eye(classes)[labels]


def _regression(rng, shape):
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape)}


def _categorical(rng, shape, logits):
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    scores = rng.normal(scale=3.0, size=shape)
    return {"y_true": _one_hot(labels, shape[-1]), "y_pred": scores if logits else _softmax(scores)}


def _sparse(rng, shape, logits):
    scores = rng.normal(scale=3.0, size=shape)
    return {"labels": rng.integers(0, shape[-1], size=shape[:-1]),
            "y_pred": scores if logits else _softmax(scores)}


def _binary(rng, shape, logits):
    y_true = rng.integers(0, 2, size=shape).astype(np.float64)
    scores = rng.normal(scale=2.0, size=shape)
    return {"y_true": y_true, "y_pred": scores if logits else rng.uniform(0.02, 0.98, size=shape)}


def _kl(rng, shape):
    return {"p": _softmax(rng.normal(scale=2.0, size=shape)), "q": _softmax(rng.normal(scale=2.0, size=shape))}


def _nll(rng, shape):
    scores = rng.normal(scale=3.0, size=shape)
    log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
    return {"labels": rng.integers(0, shape[-1], size=shape[:-1]), "log_probs": log_probs}


def _hinge(rng, shape):
    return {"y_true": rng.choice([-1.0, 1.0], size=shape), "y_pred": rng.normal(scale=1.5, size=shape)}


def _categorical_hinge(rng, shape):
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    return {"y_true": _one_hot(labels, shape[-1]), "y_pred": rng.normal(scale=1.5, size=shape)}


def _activation(rng, shape):
    return {"z": rng.normal(scale=4.0, size=shape)}


# loss -> (generator(rng, shape, **variant), variants of reference keyword arguments)
GENERATORS: dict[str, tuple[Callable, list[dict]]] = {
    "mean_squared_error": (_regression, [{}]),
    "mean_absolute_error": (_regression, [{}]),
    "huber": (_regression, [{}, {"delta": 0.5}]),
    "categorical_crossentropy": (_categorical, [{"from_logits": False}, {"from_logits": True},
                                                {"from_logits": True, "label_smoothing": 0.1},
                                                {"from_logits": False, "label_smoothing": 0.2}]),
    "sparse_categorical_crossentropy": (_sparse, [{"from_logits": False}, {"from_logits": True}]),
    "binary_crossentropy": (_binary, [{"from_logits": False}, {"from_logits": True},
                                      {"from_logits": False, "label_smoothing": 0.2}]),
    "kl_divergence": (_kl, [{}]),
    "nll": (_nll, [{}]),
    "hinge": (_hinge, [{}]),
    "squared_hinge": (_hinge, [{}]),
    "categorical_hinge": (_categorical_hinge, [{}]),
    "softmax": (_activation, [{}]),
    "log_softmax": (_activation, [{}]),
    "sigmoid": (_activation, [{}]),
}


def _variant_tag(args: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in sorted(args.items())) or "default"


def _clipped(loss: str, inputs: dict) -> dict | None:
    """The same inputs with the true class's probability pushed below 1e-7 in the first sample and
    above 1 - 1e-7 in the second (beyond Keras's clip range), so clipping conventions, their epsilon and
    their zero gradients show in the loss itself."""
    if loss not in {"categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"}:
        return None
    y = inputs["y_pred"].copy()
    if loss == "binary_crossentropy":
        positive = inputs["y_true"][:2, 0] == 1
        y[0, 0] = 1e-9 if positive[0] else 1 - 1e-9      # the true outcome nearly impossible
        y[1, 0] = 1 - 1e-9 if positive[1] else 1e-9      # the true outcome nearly certain
        return {**inputs, "y_pred": y}
    truth = inputs["labels"] if "labels" in inputs else inputs["y_true"].argmax(axis=-1)
    for row, (target, share) in enumerate(((truth[0], 1e-9), (truth[1], 1 - 1e-9))):
        y[row] = (1 - share) / (y.shape[-1] - 1)
        y[row, target] = share
    return {**inputs, "y_pred": y}


def generated(loss: str, shapes: tuple[str, ...] = ("small", "rank3")) -> list[InputSet]:
    """Seeded input sets for ``loss``: every argument variant times ``shapes``."""
    if loss not in GENERATORS:
        return []
    make, variants = GENERATORS[loss]
    sets = []
    for index, args in enumerate(variants):
        for shape_name in shapes:
            seed = sum(map(ord, f"{loss}/{index}/{shape_name}"))
            rng = np.random.default_rng(seed)
            extra = {"logits": bool(args.get("from_logits"))} if make in (_categorical, _sparse, _binary) else {}
            inputs = make(rng, SHAPES[shape_name], **extra)
            tag = f"gen.{shape_name}.{_variant_tag(args)}"
            sets.append(InputSet(tag, loss, inputs, dict(args)))
            clipped = None if args.get("from_logits") or shape_name != "small" else _clipped(loss, inputs)
            if clipped is not None:
                sets.append(InputSet(f"gen.clipped.{_variant_tag(args)}", loss, clipped, dict(args)))
    return sets
