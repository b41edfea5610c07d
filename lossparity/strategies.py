"""Hypothesis strategies for the inputs of every loss the suite binds (the differential fuzzer's half).

``fuzz_example(loss, binding_args, dtypes, forms)`` draws one complete example: the dtype, the API form,
the reference keyword arguments the binding understands, and the named inputs, already rounded to the
dtype (so that a saved counterexample is exactly what the framework saw).

Only inputs the mathematics defines are drawn: every number is finite, a probability a target puts
weight on is positive, a binary target of 1 (0) never meets a probability of exactly 0 (1), and value
magnitudes stay where the loss cannot overflow the dtype.  NaN, infinities, out-of-range labels and
unnormalised probabilities are the edge battery's (``cases/edge/battery.toml``): a fuzz failure is a
disagreement between a framework and the reference under its convention on a well-defined input.

What is drawn, per input kind:

* shapes: rank 1 to 3, at most 64 rows (the product of the leading dimensions), 1 to 40 classes;
* logits: a mix of small values, moderate ones, and values up to +-1e4 (+-1e3 in float16, whose
  exponentials would otherwise be the overflow the edge battery already covers);
* probabilities: rows of non-negative weights, normalised, with exact zeros (on classes the target does
  not weigh), exact ones, and near-clip values 1e-8 and 1 - 1e-8 (beyond Keras's 1e-7 clip);
* labels: integers in range; one-hot and smoothed targets; binary targets 0/1 or soft;
* regression values: magnitudes from 1e-6 to 1e4, capped per dtype so that squares and sums stay finite.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lossparity import tolerance as tol

MAX_ROWS = 64
MAX_CLASSES = 40
NEAR_CLIP = (1e-8, 1.0 - 1e-8, 1e-7, 1.0 - 1e-7, 1e-12)



# ------------------------------------------------------------------------------------------- helpers

def _finite_max(dtype: str) -> float:
    return float(tol.finfo(dtype).max)


def _tiny(dtype: str) -> float:
    """The smallest positive normal number of ``dtype``: what a probability a target weighs is raised to
    when rounding took it to 0.  (Subnormals still arise from rounding drawn values such as 1e-7 to
    float16; they are valid inputs, but not manufactured here.)"""
    return float(tol.finfo(dtype).smallest_normal)


def rounded(x, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` with subnormal results flushed to zero.

    Subnormals are valid numbers, but TensorFlow and XLA flush them to zero on the CPU (in float64 too),
    so every draw near the bottom of the range would rediscover that one behaviour; the saved cases
    ``cases/fuzz/keras-*.toml`` with subnormal inputs document it.  The fuzzer explores normal numbers."""
    q = tol.quantize(np.asarray(x, dtype=np.float64), dtype)
    return np.where(np.abs(q) < float(tol.finfo(dtype).smallest_normal), 0.0, q)


def regression_cap(dtype: str, n: int) -> float:
    """Largest magnitude whose squared differences, summed over ``n`` terms, stay finite in ``dtype``."""
    return float(min(1e4, np.sqrt(_finite_max(dtype) / (8.0 * max(n, 1)))))


def logit_cap(dtype: str) -> float:
    return 1e3 if dtype == "float16" else 1e4


def input_id(loss: str, inputs: dict, args: dict, dtype: str, form: str) -> str:
    """``fuzz.<hash>``: a stable id of the example (inputs, arguments, dtype and form)."""
    h = hashlib.sha256()
    h.update(json.dumps([loss, dtype, form, sorted((k, repr(v)) for k, v in args.items())]).encode())
    for name in sorted(inputs):
        a = np.ascontiguousarray(inputs[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return "fuzz." + h.hexdigest()[:12]


# ------------------------------------------------------------------------------------------- shapes

@st.composite
def shapes(draw, max_classes: int = MAX_CLASSES) -> tuple[int, ...]:
    """Rank 1 (one sample), 2 (a batch) or 3 (a batch of sequences); the class axis last."""
    rank = draw(st.sampled_from((2, 2, 2, 1, 3)))
    classes = draw(st.integers(1, max_classes))
    if rank == 1:
        return (classes,)
    if rank == 2:
        return (draw(st.integers(1, MAX_ROWS)), classes)
    a = draw(st.integers(1, 8))
    b = draw(st.integers(1, MAX_ROWS // a))
    return (a, b, classes)


# ------------------------------------------------------------------------------------------- values

def _magnitude_floats(cap: float) -> st.SearchStrategy[float]:
    """Finite floats across magnitudes: exact zeros, 1e-6 (the smallest magnitude drawn: below it float32
    and half precision reach subnormals, which the edge battery covers), unit-size, large up to ``cap``."""
    cap = float(cap)
    return st.one_of(
        st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False),
        st.floats(-min(30.0, cap), min(30.0, cap), allow_nan=False, allow_infinity=False),
        st.floats(-cap, cap, allow_nan=False, allow_infinity=False),
        st.sampled_from([0.0, 1e-6, -1e-6, cap, -cap]),
    ).map(lambda x: 0.0 if abs(x) < 1e-6 else x)


# Arrays up to this many elements are drawn element by element; a larger one takes its values from a pool of
# this many drawn elements (see float_arrays).
POOL = 64


def float_arrays(shape, elements) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` whose every element is drawn from ``elements``.

    Up to :data:`POOL` elements, each is its own draw.  A larger array takes its elements from a pool of
    ``POOL`` draws, placed by a drawn seed: every element still has the distribution ``elements`` gives
    (exact zeros, near-clip values, magnitudes across the range), values repeat as they do in real batches,
    and drawing costs ``POOL`` choices instead of thousands (element by element, drawing the fuzzer's
    batches of up to 64 x 40 was two thirds of the fuzz tests' time).  Shrinking shrinks the pool's values,
    the seed and the shape.
    """
    size = int(np.prod(shape, dtype=np.int64))
    if size <= POOL:
        return hnp.arrays(np.float64, shape, elements=elements)
    return st.builds(_spread, hnp.arrays(np.float64, (POOL,), elements=elements),
                     st.integers(0, 2 ** 32 - 1), st.just(tuple(shape)))


def _spread(pool: np.ndarray, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``shape`` filled from ``pool``: every pool value at least once (when the array has room),
    the rest drawn from it uniformly, in an order the seed fixes."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape, dtype=np.int64))
    index = np.concatenate([np.arange(min(size, pool.size)),
                            rng.integers(0, pool.size, size=max(size - pool.size, 0))])
    return pool[rng.permutation(index)].reshape(shape)


@st.composite
def logits(draw, shape, dtype: str) -> np.ndarray:
    """Logits: per example a scale (small / moderate / up to +-1e4), then values across it."""
    cap = logit_cap(dtype)
    scale = draw(st.sampled_from((1.0, 10.0, 100.0, cap)))
    z = draw(float_arrays(shape, _magnitude_floats(scale)))
    return rounded(z, dtype)


def _weights(shape) -> st.SearchStrategy[np.ndarray]:
    """Non-negative weights with exact zeros, ones and values many orders of magnitude apart."""
    return float_arrays(shape, st.one_of(
        st.floats(0.0, 1.0, allow_nan=False),
        st.sampled_from([0.0, 1.0, *NEAR_CLIP]),
        st.floats(1e-12, 1e-6),
    ))


def normalise(w: np.ndarray, positive: np.ndarray | None, dtype: str) -> np.ndarray:
    """Rows of ``w`` normalised to sum to one, then rounded to ``dtype``; ``positive`` marks entries that
    must stay > 0 after rounding (those a target weighs: otherwise the loss is infinite)."""
    w = np.array(w, dtype=np.float64)
    if positive is not None:
        w = np.where(positive & (w <= 0), 1.0, w)
    total = w.sum(axis=-1, keepdims=True)
    w = np.where(total > 0, w, 1.0)  # an all-zero row becomes uniform
    p = rounded(w / w.sum(axis=-1, keepdims=True), dtype)
    if positive is not None:
        p = np.where(positive & (p <= 0), _tiny(dtype), p)
    return p


@st.composite
def probabilities(draw, shape, dtype: str, positive: np.ndarray | None = None) -> np.ndarray:
    """Probability rows (the last axis) with exact zeros, exact ones and near-clip values."""
    mode = draw(st.sampled_from(("weights", "weights", "peaked", "uniform")))
    if mode == "uniform":
        w = np.ones(shape)
    elif mode == "peaked":  # one class takes 1 - eps (eps = 1e-8 .. 1e-3 or 0), the others share eps
        eps = draw(st.sampled_from((0.0, 1e-8, 1e-7, 1e-5, 1e-3)))
        hot = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
        w = np.full(shape, eps / max(shape[-1] - 1, 1))
        np.put_along_axis(w, np.asarray(hot)[..., None], 1.0 - eps, axis=-1)
    else:
        w = draw(_weights(shape))
    return normalise(w, positive, dtype)


def labels_for(shape) -> st.SearchStrategy[np.ndarray]:
    """Integer class labels in range, one per row (shape ``shape[:-1]``)."""
    return hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1))


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[labels]


# ------------------------------------------------------------------------------------------- arguments

def argument_values(loss: str, binding_args: tuple[str, ...], fixed: dict | None = None) -> st.SearchStrategy[dict]:
    """The reference keyword arguments a binding understands, drawn from the domains the loss's catalogue
    entry gives (its ``samples`` and ``interval``); ``fixed`` pins the values a binding requires (``tf.nn``
    and optax cross entropies take logits only).  ``axis`` is left at its default (layout is the matrix's
    rank-3 batches' job)."""
    from lossparity.catalogue import entry

    choices: dict[str, st.SearchStrategy] = {}
    for spec in entry(loss).args:
        if spec.name not in binding_args or spec.name == "axis":
            continue
        if spec.kind == "bool":
            choices[spec.name] = st.booleans()
            continue
        options = [st.sampled_from(spec.samples)] if spec.samples else []
        if spec.interval is not None:
            options.append(st.floats(*spec.interval, allow_nan=False, allow_infinity=False))
        if options:
            choices[spec.name] = st.one_of(*options)
    for name, value in (fixed or {}).items():
        if name in choices:
            choices[name] = st.just(value)
    return st.fixed_dictionaries(choices)


# ------------------------------------------------------------------------------------------- per loss

# Each loss's catalogue entry (lossparity/catalogue.py) names one of the strategies below; each draws the
# loss's named inputs (as the reference function takes them) for a dtype and the reference arguments.

@st.composite
def activation_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    return {"z": draw(logits(draw(shapes()), dtype))}


@st.composite
def regression_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    cap = regression_cap(dtype, int(np.prod(shape)))
    elements = _magnitude_floats(cap)
    y_true = rounded(draw(float_arrays(shape, elements)), dtype)
    near = draw(st.booleans())  # predictions close to the targets: cancellation in y - p
    if near:
        noise = draw(float_arrays(shape, st.floats(-1e-3, 1e-3)))
        y_pred = rounded(np.clip(y_true * (1 + noise) + noise, -cap, cap), dtype)
    else:
        y_pred = rounded(draw(float_arrays(shape, elements)), dtype)
    return {"y_true": y_true, "y_pred": y_pred}


@st.composite
def hinge_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    cap = regression_cap(dtype, int(np.prod(shape)))
    y_true = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from((-1.0, 1.0))))
    return {"y_true": y_true, "y_pred": rounded(draw(float_arrays(shape, _magnitude_floats(cap))), dtype)}


@st.composite
def categorical_hinge_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    cap = regression_cap(dtype, int(np.prod(shape)))
    labels = draw(labels_for(shape))
    return {"y_true": one_hot(labels, shape[-1]),
            "y_pred": rounded(draw(float_arrays(shape, _magnitude_floats(cap))), dtype)}


@st.composite
def categorical_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    from_logits = bool(args.get("from_logits", False))
    smoothing = float(args.get("label_smoothing", 0.0) or 0.0)
    labels = draw(labels_for(shape))
    soft = draw(st.integers(0, 4)) == 0  # now and then a soft target row instead of one-hot
    y_true = draw(probabilities(shape, dtype)) if soft else one_hot(labels, shape[-1])
    if from_logits:
        return {"y_true": y_true, "y_pred": draw(logits(shape, dtype))}
    weighed = (y_true > 0) | (smoothing > 0)
    return {"y_true": y_true, "y_pred": draw(probabilities(shape, dtype, positive=weighed))}


@st.composite
def sparse_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    smoothing = float(args.get("label_smoothing", 0.0) or 0.0)
    labels = draw(labels_for(shape))
    if args.get("from_logits", False):
        return {"labels": labels, "y_pred": draw(logits(shape, dtype))}
    weighed = one_hot(labels, shape[-1]) > 0 if smoothing == 0 else np.ones(shape, dtype=bool)
    return {"labels": labels, "y_pred": draw(probabilities(shape, dtype, positive=weighed))}


@st.composite
def binary_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    smoothing = float(args.get("label_smoothing", 0.0) or 0.0)
    soft = draw(st.integers(0, 3)) == 0
    if soft:
        y_true = rounded(draw(float_arrays(shape, st.floats(0.0, 1.0))), dtype)
    else:
        y_true = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from((0.0, 1.0))))
    if args.get("from_logits", False):
        return {"y_true": y_true, "y_pred": draw(logits(shape, dtype))}
    p = rounded(draw(float_arrays(shape, st.one_of(
        st.floats(0.0, 1.0), st.sampled_from((0.0, 1.0, 0.5, *NEAR_CLIP))))), dtype)
    # log p is needed where the (smoothed) target is > 0, log(1 - p) where it is < 1.
    y_eff = y_true * (1 - smoothing) + smoothing / 2
    p = np.where((y_eff > 0) & (p <= 0), _tiny(dtype), p)
    below_one = float(np.nextafter(np.asarray(1.0, dtype=tol.numpy_dtype(dtype)),
                                   np.asarray(0.0, dtype=tol.numpy_dtype(dtype))).astype(np.float64))
    p = np.where((y_eff < 1) & (p >= 1), below_one, p)
    return {"y_true": y_true, "y_pred": p}


@st.composite
def divergence_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    p = draw(probabilities(shape, dtype))
    q = draw(probabilities(shape, dtype, positive=p > 0))
    if args.get("log_target"):  # p as log-probabilities (log 0 = -inf), rounded to the dtype
        with np.errstate(divide="ignore"):
            p = rounded(np.log(p), dtype)
    return {"p": p, "q": q}


@st.composite
def entropy_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    return {"p": draw(probabilities(draw(shapes()), dtype))}


@st.composite
def nll_inputs(draw, dtype: str, args: dict) -> dict[str, np.ndarray]:
    shape = draw(shapes())
    labels = draw(labels_for(shape))
    z = draw(logits(shape, dtype))
    raw = draw(st.integers(0, 3)) == 0  # arbitrary finite scores now and then: nll just picks one
    if not raw:
        with np.errstate(all="ignore"):
            m = z.max(axis=-1, keepdims=True)
            z = rounded(z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True)), dtype)
    return {"labels": labels, "log_probs": z}


def loss_inputs(loss: str, dtype: str, args: dict) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Named inputs of ``loss`` (as the reference function takes them): its catalogue entry's strategy."""
    from lossparity.catalogue import CATALOGUE

    return CATALOGUE[loss].strategy(dtype, args)


@st.composite
def fuzz_example(draw, loss: str, binding_args: tuple[str, ...], dtypes: tuple[str, ...],
                 forms: tuple[str, ...], fixed: dict | None = None) -> dict:
    """One example: ``{"dtype", "form", "args", "inputs", "id"}``; ``fixed``: argument values the binding
    requires (``binding.requires`` where the adapter's Binding has it)."""
    dtype = draw(st.sampled_from(tuple(dtypes)))
    form = draw(st.sampled_from(tuple(forms)))
    args = draw(argument_values(loss, binding_args, fixed))
    inputs = draw(loss_inputs(loss, dtype, args))
    return {"dtype": dtype, "form": form, "args": args, "inputs": inputs,
            "id": input_id(loss, inputs, args, dtype, form)}
