"""Generated inputs for the matrix: seeded, so every machine and every run sees the same numbers.

Each loss gets input sets of a few shapes (a small batch, a rank-3 batch that exercises the class
axis, a wide one with many classes) and, for probability losses, a set whose probabilities sit beyond
Keras's clip range, so clipping conventions and their zero gradients show.  No expected value lives
here: the reference computes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    reduction: str | None = None  # the reduction a case prescribes (an API form with it is chosen)
    quantity: str = "value"       # "grad": a case about the gradient

    @classmethod
    def from_case(cls, case) -> "InputSet":
        """The inputs of a case file's case (``cases.Case``), with its provenance and dtype."""
        provenance = None
        if case.provenance is not None:
            provenance = {"document": case.provenance.document, "quote": case.provenance.quote}
        return cls(case.id, case.loss, dict(case.inputs), dict(case.args), source=case.kind,
                   provenance=provenance, dtype=case.dtype, reduction=case.reduction, quantity=case.quantity)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(labels, classes):
    return np.eye(classes)[labels]


# Generators: ``generate(rng, shape, args) -> {name: array}``; each loss's catalogue entry names one.

def regression(rng, shape, args):
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape)}


def categorical(rng, shape, args):
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    scores = rng.normal(scale=3.0, size=shape)
    return {"y_true": _one_hot(labels, shape[-1]), "y_pred": scores if args.get("from_logits") else _softmax(scores)}


def sparse(rng, shape, args):
    scores = rng.normal(scale=3.0, size=shape)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    if args.get("ignore_class") is not None:  # the first sample is ignored, the second kept
        labels.reshape(-1)[0] = args["ignore_class"]
        if labels.size > 1 and labels.reshape(-1)[1] == args["ignore_class"]:
            labels.reshape(-1)[1] = (args["ignore_class"] + 1) % shape[-1]
    return {"labels": labels, "y_pred": scores if args.get("from_logits") else _softmax(scores)}


def binary(rng, shape, args):
    y_true = rng.integers(0, 2, size=shape).astype(np.float64)
    scores = rng.normal(scale=2.0, size=shape)
    return {"y_true": y_true, "y_pred": scores if args.get("from_logits") else rng.uniform(0.02, 0.98, size=shape)}


def divergence(rng, shape, args):
    p, q = _softmax(rng.normal(scale=2.0, size=shape)), _softmax(rng.normal(scale=2.0, size=shape))
    return {"p": np.log(p) if args.get("log_target") else p, "q": q}


def entropy(rng, shape, args):
    return {"p": _softmax(rng.normal(scale=2.0, size=shape))}


def nll(rng, shape, args):
    scores = rng.normal(scale=3.0, size=shape)
    log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
    return {"labels": rng.integers(0, shape[-1], size=shape[:-1]), "log_probs": log_probs}


def hinge(rng, shape, args):
    return {"y_true": rng.choice([-1.0, 1.0], size=shape), "y_pred": rng.normal(scale=1.5, size=shape)}


def categorical_hinge(rng, shape, args):
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    return {"y_true": _one_hot(labels, shape[-1]), "y_pred": rng.normal(scale=1.5, size=shape)}


def activation(rng, shape, args):
    return {"z": rng.normal(scale=4.0, size=shape)}


def sample_weights(rng, inputs: dict, info) -> np.ndarray:
    """One non-negative weight per sample (the prediction's shape without its last axis), one of them 0 and
    their sum not the sample count, so that every weighted reduction's denominator shows."""
    shape = np.shape(inputs[info.prediction])
    shape = shape[:len(shape) - info.event_rank]
    w = np.round(rng.uniform(0.0, 3.0, size=shape), 2)
    w.reshape(-1)[0] = 0.0
    return w


def weight_values(loss: str, name: str, inputs: dict, info) -> np.ndarray:
    """Seeded values of the optional weight input ``name`` (``LossInfo.weights``) for these inputs: one per
    class (``class_weight``, ``pos_weight``: the prediction's last axis) or one per element (``weight``, one
    of them 0), at most two decimals and not summing to the count, so every weighted denominator shows."""
    rng = np.random.default_rng(sum(map(ord, f"{loss}/{name}")))
    shape = np.shape(inputs[info.prediction])
    if name == "where":  # one 0/1 entry per sample: the first left out, the others computed
        mask = np.ones(shape[:-1])
        mask.reshape(-1)[0] = 0.0
        return mask
    if name == "weight":
        w = np.round(rng.uniform(0.0, 3.0, size=shape), 2)
        w.reshape(-1)[0] = 0.0
        return w
    low = 0.5 if name == "pos_weight" else 0.25
    return np.round(rng.uniform(low, 3.0, size=shape[-1:]), 2)


def _variant_tag(args: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in sorted(args.items())) or "default"


# Clip witnesses: the same inputs with the true class's probability pushed below 1e-7 in the first sample
# and above 1 - 1e-7 in the second (beyond Keras's clip range), so clipping conventions, their epsilon and
# their zero gradients show in the loss itself.

def clipped_binary(inputs: dict) -> dict:
    y = inputs["y_pred"].copy()
    positive = inputs["y_true"][:2, 0] == 1
    y[0, 0] = 1e-9 if positive[0] else 1 - 1e-9      # the true outcome nearly impossible
    y[1, 0] = 1 - 1e-9 if positive[1] else 1e-9      # the true outcome nearly certain
    return {**inputs, "y_pred": y}


def _clipped_rows(inputs: dict, truth) -> dict:
    y = inputs["y_pred"].copy()
    for row, (target, share) in enumerate(((truth[0], 1e-9), (truth[1], 1 - 1e-9))):
        y[row] = (1 - share) / (y.shape[-1] - 1)
        y[row, target] = share
    return {**inputs, "y_pred": y}


def clipped_categorical(inputs: dict) -> dict:
    return _clipped_rows(inputs, inputs["y_true"].argmax(axis=-1))


def clipped_sparse(inputs: dict) -> dict:
    return _clipped_rows(inputs, inputs["labels"])


def generated(loss: str, shapes: tuple[str, ...] = ("small", "rank3")) -> list[InputSet]:
    """Seeded input sets for ``loss``: every argument variant of its catalogue entry times ``shapes``."""
    from lossparity.catalogue import entry

    info = entry(loss)
    sets = []
    for index, args in enumerate(info.variants):
        for shape_name in shapes:
            seed = sum(map(ord, f"{loss}/{index}/{shape_name}"))
            rng = np.random.default_rng(seed)
            axis = args.get("axis", -1)
            summed_axes = info.arg("axis") is not None and info.arg("axis").kind == "axes"
            if summed_axes:  # axes summed over (overlap losses): the batch as generated, if it has those axes
                if axis is not None and max(np.atleast_1d(axis)) >= len(SHAPES[shape_name]):
                    continue
            elif axis not in (-1, None) and len(SHAPES[shape_name]) < 3:
                continue  # a class axis other than the last is a rank-3 batch's job
            inputs = info.generate(rng, SHAPES[shape_name], args)
            if axis not in (-1, None) and not summed_axes:  # the class axis where the variant puts it (labels keep their shape)
                inputs = {name: (x if name in info.label_inputs else np.moveaxis(x, -1, axis))
                          for name, x in inputs.items()}
            tag = f"gen.{shape_name}.{_variant_tag(args)}"
            sets.append(InputSet(tag, loss, inputs, dict(args)))
            if index == 0 and shape_name == "small" and info.kind == "loss":
                sets.append(InputSet(f"gen.weighted.{_variant_tag(args)}", loss,
                                     {**inputs, "sample_weight": sample_weights(rng, inputs, info)}, dict(args)))
            # Weights per class need the class axis (the last) in the output: an overlap loss's batch summed
            # over other axes (its per-class losses), a class-axis loss's every variant with the axis last.
            keeps_classes = summed_axes and axis is not None and len(SHAPES[shape_name]) - 1 not in [
                a % len(SHAPES[shape_name]) for a in np.atleast_1d(axis)]
            if shape_name == "small" and (args.get("axis", -1) in (-1, None) if not summed_axes else keeps_classes):
                for weight in info.weights:  # each optional weight on the small batch of every variant it takes
                    if all(bool(args.get(k, False)) == bool(v) for k, v in weight.requires):
                        sets.append(InputSet(f"gen.{weight.name}.{_variant_tag(args)}", loss,
                                             {**inputs, weight.name: weight_values(loss, weight.name, inputs, info)},
                                             dict(args)))
            if info.clip_witness is not None and not args.get("from_logits") and shape_name == "small":
                sets.append(InputSet(f"gen.clipped.{_variant_tag(args)}", loss, info.clip_witness(inputs),
                                     dict(args)))
    return sets
