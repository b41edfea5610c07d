"""The loss catalogue: everything the suite knows about one loss, in one entry (in the spirit of PyTorch's
OpInfo).

An entry (:class:`LossInfo`) holds the reference value and gradient, the mpmath oracle, the role of each
input (target, prediction, labels, weights, mask; which are differentiable), the valid argument domain,
the seeded input generator and its argument variants, the Hypothesis strategy, what the tolerance model
needs to know, and where its edge cases are.  The planner, the fuzzer, the tolerance model and the case
loader read the entry; nothing else lists losses.  ``tests/catalogue/test_catalogue.py`` fails when an
entry is incomplete or a binding gets no check.

Adding a loss: its reference function (``reference/``), one entry below, one binding per adapter.

  >>> from lossparity.catalogue import CATALOGUE
  >>> info = CATALOGUE["sparse_categorical_crossentropy"]
  >>> [(i.name, i.role, i.differentiable) for i in info.inputs]
  [('labels', 'labels', False), ('y_pred', 'prediction', True)]
  >>> info.prediction
  'y_pred'
  >>> sorted(a.name for a in info.args)
  ['axis', 'from_logits', 'label_smoothing']
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

import reference
from reference import oracle as _oracle
from lossparity import inputs as gen

__all__ = ["Input", "Arg", "LossInfo", "CATALOGUE", "ROLES", "entry"]

ROLES = ("target", "prediction", "labels", "weights", "mask", "input", "variance", "lengths")


@dataclass(frozen=True)
class Input:
    """One named input of a loss (named like the reference function's parameter).

    ``role``: ``target`` (a float target: one-hot rows, probabilities, regression values), ``prediction``
    (what a model outputs: logits, probabilities, scores; a loss may have two, like a ranking loss's two
    scores), ``labels`` (integer class indices), ``weights``, ``mask``, ``input`` (an activation's argument),
    or ``variance`` (a predicted variance beside a predicted mean: the Gaussian likelihood), or ``lengths`` (one
    integer per sample: how much of a padded sequence axis is used, CTC's input and label lengths).  ``differentiable``: gradients are taken with
    respect to it.  ``discrete``: its values are compared exactly by frameworks when they are integers
    ({0, 1} targets, one-hot rows), so the tolerance model does not perturb them.
    """

    name: str
    role: str
    differentiable: bool = False
    discrete: bool = False
    # For an optional weight input (``LossInfo.weights``): the argument values it needs, as (name, value)
    # pairs (``pos_weight`` is defined from logits only).
    requires: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Arg:
    """A keyword argument of the reference function and its valid domain.

    ``valid(value) -> bool`` says whether a value is in the domain (``domain`` says it in words);
    ``samples`` are values worth trying and ``interval`` a range to draw from (Hypothesis); ``kind`` is
    ``bool``, ``float``, ``int`` or ``choice``.
    """

    name: str
    kind: str
    domain: str
    valid: Callable[[Any], bool]
    samples: tuple = ()
    interval: tuple[float, float] | None = None


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not _is_bool(v) and bool(np.isfinite(v))


FROM_LOGITS = Arg("from_logits", "bool", "True or False (prediction holds logits / probabilities)", _is_bool,
                  samples=(False, True))
LABEL_SMOOTHING = Arg("label_smoothing", "float", "a number in [0, 1]",
                      lambda v: _finite(v) and 0.0 <= float(v) <= 1.0, samples=(0.0, 0.1, 0.2, 0.5, 1.0),
                      interval=(0.0, 1.0))
AXIS = Arg("axis", "int", "an integer axis of the prediction (the class axis)",
           lambda v: isinstance(v, (int, np.integer)) and not _is_bool(v), samples=(-1,))
DELTA = Arg("delta", "float", "a number > 0", lambda v: _finite(v) and float(v) > 0, samples=(1.0, 0.5, 2.0),
            interval=(1e-3, 100.0))
BETA = Arg("beta", "float", "a number >= 0", lambda v: _finite(v) and float(v) >= 0, samples=(1.0, 0.5, 2.0),
           interval=(1e-3, 100.0))
IGNORE_CLASS = Arg("ignore_class", "int", "None or an integer label whose samples are left out",
                   lambda v: v is None or (isinstance(v, (int, np.integer)) and not _is_bool(v)), samples=(None, 0))
LOG_TARGET = Arg("log_target", "bool", "True (p holds log-probabilities) or False", _is_bool, samples=(False, True))
BASE = Arg("base", "float", "None (nats) or a number > 0 other than 1",
           lambda v: v is None or (_finite(v) and float(v) > 0 and float(v) != 1.0), samples=(None, 2.0, 10.0))


@dataclass(frozen=True)
class LossInfo:
    """Everything the suite knows about one loss or activation.

    Attributes:
      name: the reference name (key of ``reference.LOSSES`` or ``reference.ACTIVATIONS``).
      kind: ``"loss"`` (per-sample output, reduced over the class axis) or ``"activation"``.
      inputs: the named inputs in the reference function's positional order, with their roles.
      args: the keyword arguments and their domains (``convention`` is not one: the adapter supplies it).
      generate: ``generate(rng, shape, args) -> {name: array}``, seeded inputs for the matrix.
      variants: argument combinations the default plan crosses (each a dict of ``args``); a variant with a
        non-default ``axis`` gets its batches with the class axis there.
      strategy: ``strategy(dtype, args) -> SearchStrategy`` of named inputs (Hypothesis, imported lazily).
      unit_intermediate: the computation passes through a rounded quantity of size about one
        (probabilities, a shifted sum of exponentials, a hinge margin), which the tolerance model adds.
      clip_witness: optional ``fn(inputs) -> inputs`` pushing probabilities beyond a 1e-7 clip range.
      oracle: the mpmath oracle of the value (``reference.oracle``), same arguments as the reference.
      notes: anything a porting engineer should know that no field says.
      weights: the optional weight inputs (role ``weights``): array keyword parameters of the reference
        function (``reference.WEIGHT_PARAMETERS``: ``class_weight``, ``weight``, ``pos_weight``), which the
        generator gives their own batch (``gen.<name>.<variant>``).
      event_rank: how many trailing axes of the prediction one sample's loss reduces: 1 (the class axis) for
        most losses, 2 (time and classes) for a sequence loss (CTC), whose samples are then not rows: the
        tolerance model perturbs the whole batch and counts a sample's time x class terms.
    """

    name: str
    kind: str
    inputs: tuple[Input, ...]
    args: tuple[Arg, ...]
    generate: Callable[[np.random.Generator, tuple, Mapping[str, Any]], dict]
    variants: tuple[Mapping[str, Any], ...]
    strategy: Callable[[str, Mapping[str, Any]], Any]
    unit_intermediate: bool
    oracle: Callable | None
    clip_witness: Callable[[dict], dict] | None = None
    notes: str = ""
    weights: tuple[Input, ...] = ()
    event_rank: int = 1

    # -- derived ---------------------------------------------------------------------------------------
    @property
    def value(self) -> Callable:
        """The reference function (per-sample loss, or the activation)."""
        return reference.LOSSES.get(self.name) or reference.ACTIVATIONS[self.name]

    def gradient(self, cotangent=None, wrt: str | None = None) -> Callable:
        """d(sum(cotangent * output))/d(prediction) as a function of the same arguments (a loss's
        per-sample outputs are summed; ``cotangent`` seeds an activation's, ones when None); with ``wrt``
        another differentiable input (a loss's target: ``reference.grads.TARGET_GRADS``; each input of a loss
        with several: ``reference.grads.INPUT_GRADS``)."""
        if wrt is not None and wrt != self.prediction:
            by_input = reference.grads.INPUT_GRADS.get(self.name, {})
            if wrt in self.differentiable_inputs and wrt in by_input:
                return by_input[wrt]
            if wrt not in self.differentiable_inputs or self.name not in reference.grads.TARGET_GRADS:
                raise KeyError(f"{self.name}: no reference gradient with respect to {wrt!r}")
            return reference.grads.TARGET_GRADS[self.name]
        if self.kind == "loss":
            return reference.grads.GRADS[self.name]

        def seed(z):
            return np.ones_like(np.asarray(z, dtype=np.float64)) if cotangent is None else np.asarray(cotangent)

        vjp = {"softmax": reference.grads.softmax_vjp, "log_softmax": reference.grads.log_softmax_vjp}
        if self.name in vjp:
            return lambda z, axis=-1: vjp[self.name](z, seed(z), axis)
        elementwise = getattr(reference.grads, f"{self.name}_grad")
        return lambda z: elementwise(z) * seed(z)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def prediction(self) -> str:
        """The input gradients are taken with respect to by default (the last differentiable one)."""
        return [i.name for i in self.inputs if i.differentiable][-1]

    @property
    def differentiable_inputs(self) -> tuple[str, ...]:
        """Every input gradients are taken with respect to (a soft target as well as the prediction)."""
        return tuple(i.name for i in self.inputs if i.differentiable)

    @property
    def label_inputs(self) -> frozenset[str]:
        """The integer inputs (class labels, lengths): never rounded to a float dtype nor perturbed."""
        return frozenset(i.name for i in self.inputs if i.role in ("labels", "lengths"))

    @property
    def discrete_inputs(self) -> frozenset[str]:
        return frozenset(i.name for i in self.inputs + self.weights if i.discrete)

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    def edge_cases(self, cases) -> list:
        """This loss's cases of kind ``edge`` among ``cases`` (``cases.Case`` objects)."""
        return [c for c in cases if c.kind == "edge" and c.loss == self.name]

    def validate_args(self, args: Mapping[str, Any]) -> None:
        """ValueError naming the argument for a value outside its domain or an argument the loss lacks."""
        for name, value in args.items():
            spec = self.arg(name)
            if spec is None:
                raise ValueError(f"{self.name}: no argument {name!r} (it takes {[a.name for a in self.args]})")
            if not spec.valid(value):
                raise ValueError(f"{self.name}: {name}={value!r} is outside its domain: {spec.domain}")


def _strategy(name: str) -> Callable[[str, Mapping[str, Any]], Any]:
    """The strategy ``lossparity.strategies.<name>`` (Hypothesis is imported only when it is drawn from)."""

    def strategy(dtype: str, args: Mapping[str, Any]):
        from lossparity import strategies

        return getattr(strategies, name)(dtype, dict(args))

    strategy.__name__ = strategy.__qualname__ = name
    return strategy


def _oracle_of(name: str) -> Callable | None:
    return _oracle.LOSSES.get(name) or getattr(_oracle, name, None)


def _loss(name, inputs, args, generate, variants, strategy, unit, clip=None, notes="", weights=()) -> LossInfo:
    return LossInfo(name=name, kind="loss", inputs=tuple(inputs), args=tuple(args), generate=generate,
                    variants=tuple(variants), strategy=_strategy(strategy), unit_intermediate=unit,
                    oracle=_oracle_of(name), clip_witness=clip, notes=notes, weights=tuple(weights))


def _activation(name, args=(AXIS,)) -> LossInfo:
    return LossInfo(name=name, kind="activation", inputs=(Input("z", "input", differentiable=True),),
                    args=tuple(args), generate=gen.activation, variants=({},),
                    strategy=_strategy("activation_inputs"), unit_intermediate=True, oracle=_oracle_of(name))


_TARGET = Input("y_true", "target", discrete=True)
# A target gradients are taken with respect to (soft labels, distillation, a learned regression target).
_SOFT_TARGET = Input("y_true", "target", differentiable=True, discrete=True)
_PRED = Input("y_pred", "prediction", differentiable=True)
_LABELS = Input("labels", "labels")
_REGRESSION = (_SOFT_TARGET, _PRED)
_CLASS_WEIGHT = Input("class_weight", "weights")
_WEIGHT = Input("weight", "weights")
_POS_WEIGHT = Input("pos_weight", "weights", requires=(("from_logits", True),))
# A per-sample mask (0/1): samples left out of the computation.
_WHERE = Input("where", "mask", discrete=True, requires=(("from_logits", True),))
_XENT_VARIANTS = ({"from_logits": False}, {"from_logits": True},
                  {"from_logits": True, "label_smoothing": 0.1}, {"from_logits": False, "label_smoothing": 0.2})

LOG_INPUT = Arg("log_input", "bool", "True (y_pred holds log-rates) or False (rates)", _is_bool,
                samples=(False, True))
FULL = Arg("full", "bool", "True (add Stirling's log y! term where y > 1) or False", _is_bool, samples=(False, True))


def _poisson_generate(rng, shape, args):
    rate = rng.uniform(0.1, 5.0, size=shape)
    counts = rng.poisson(rate).astype(np.float64)
    return {"y_true": counts, "y_pred": np.log(rate) if args.get("log_input") else rate}


def _poisson_strategy(dtype, args):
    from hypothesis import strategies as st

    from lossparity import strategies as S

    @st.composite
    def draw_inputs(draw):
        shape = draw(S.shapes())
        counts = draw(S.float_arrays(shape, st.integers(0, 50).map(float)))
        if args.get("log_input"):
            return {"y_true": counts, "y_pred": draw(S.float_arrays(shape, st.floats(-10.0, 5.0)).map(
                lambda x: S.rounded(x, dtype)))}
        rate = draw(S.float_arrays(shape, st.floats(1e-3, 100.0)).map(lambda x: S.rounded(x, dtype)))
        return {"y_true": counts, "y_pred": rate}

    return draw_inputs()


Q = Arg("q", "float", "a number in (0, 1] (q -> 0: cross entropy; q = 1: 1 - p_y)",
        lambda v: _finite(v) and 0.0 < float(v) <= 1.0, samples=(0.5, 0.7, 0.1), interval=(0.05, 1.0))


def _positive_pair(rng, shape, args):
    """Unnormalised positive measures (generalized KL): neither sums to one."""
    return {"p": rng.uniform(0.1, 2.0, size=shape), "q": rng.uniform(0.1, 2.0, size=shape)}


def _msle_generate(rng, shape, args):
    """Non-negative targets; predictions mostly positive, a few in (-0.3, 0) where a floor would show."""
    return {"y_true": rng.uniform(0.0, 3.0, size=shape), "y_pred": rng.uniform(-0.3, 3.0, size=shape)}


def _mape_generate(rng, shape, args):
    """Targets of either sign, at least 0.5 away from 0 (a percentage of a target near 0 is huge)."""
    y = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 3.0, size=shape)
    return {"y_true": y, "y_pred": y + rng.normal(scale=1.0, size=shape)}


def _composite(draw_fn):
    def strategy(dtype, args):
        from hypothesis import strategies as st

        from lossparity import strategies as S

        return st.composite(lambda draw: draw_fn(draw, st, S, dtype, args))()

    strategy.__name__ = strategy.__qualname__ = draw_fn.__name__
    return strategy


@_composite
def _positive_pair_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    values = st.floats(1e-3, 100.0)
    return {"p": draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype))),
            "q": draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype)))}


@_composite
def _msle_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    values = st.one_of(st.floats(0.0, 1e3), st.floats(-0.9, 0.0))
    return {"y_true": draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype))),
            "y_pred": draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype)))}


@_composite
def _mape_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    cap = S.regression_cap(dtype, int(np.prod(shape)))
    target = st.one_of(st.floats(1e-2, cap), st.floats(-cap, -1e-2))
    return {"y_true": draw(S.float_arrays(shape, target).map(lambda x: S.rounded(x, dtype))),
            "y_pred": draw(S.float_arrays(shape, st.floats(-cap, cap)).map(lambda x: S.rounded(x, dtype)))}


MARGIN = Arg("margin", "float", "a finite number", _finite, samples=(1.0, 0.5, 0.0), interval=(-1.0, 3.0))
GAUSS_FULL = Arg("full", "bool", "True (add the constant log(2 pi) / 2) or False", _is_bool, samples=(False, True))
P_NORM = Arg("p", "choice", "1 or 2 (the power of each margin violation)",
             lambda v: isinstance(v, (int, np.integer)) and not _is_bool(v) and int(v) in (1, 2), samples=(1, 2))


def _distances(rng, shape, args):
    """Targets +-1 and non-negative distances (hinge embedding)."""
    return {"y_true": rng.choice([-1.0, 1.0], size=shape), "y_pred": rng.uniform(0.0, 2.5, size=shape)}


def _ranking(rng, shape, args):
    return {"y_true": rng.choice([-1.0, 1.0], size=shape), "x1": rng.normal(size=shape),
            "x2": rng.normal(size=shape)}


def _scores(rng, shape, args):
    return {"labels": rng.integers(0, shape[-1], size=shape[:-1]), "y_pred": rng.normal(size=shape)}


def _gaussian(rng, shape, args):
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape),
            "var": rng.uniform(0.1, 3.0, size=shape)}


@_composite
def _distances_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    y = draw(S.float_arrays(shape, st.sampled_from((-1.0, 1.0))))
    return {"y_true": y, "y_pred": draw(S.float_arrays(shape, st.floats(0.0, 100.0)).map(lambda x: S.rounded(x, dtype)))}


@_composite
def _ranking_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    cap = S.regression_cap(dtype, int(np.prod(shape)))
    scores = st.floats(-cap, cap)
    return {"y_true": draw(S.float_arrays(shape, st.sampled_from((-1.0, 1.0)))),
            "x1": draw(S.float_arrays(shape, scores).map(lambda x: S.rounded(x, dtype))),
            "x2": draw(S.float_arrays(shape, scores).map(lambda x: S.rounded(x, dtype)))}


@_composite
def _scores_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    return {"labels": draw(S.labels_for(shape)), "y_pred": draw(S.logits(shape, dtype))}


@_composite
def _gaussian_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    cap = S.regression_cap(dtype, int(np.prod(shape)))
    values = st.floats(-cap, cap)
    return {"y_true": draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype))),
            "y_pred": draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype))),
            "var": draw(S.float_arrays(shape, st.floats(1e-3, 1e3)).map(lambda x: S.rounded(x, dtype)))}
def _vectors_generate(rng, shape, args):
    """Two batches of vectors (norms well above every implementation's floor), half of each pair's second
    vector pulled toward the first so similarities spread over [-1, 1]."""
    y_true = rng.normal(size=shape)
    y_pred = rng.normal(size=shape) + rng.uniform(-1.5, 1.5, size=shape[:-1] + (1,)) * y_true
    return {"y_true": y_true, "y_pred": y_pred}


def _vectors_strategy(dtype, args):
    """Vectors whose squares sum without overflow, norms bounded away from 0 (a zero or sub-epsilon vector is
    an edge case: cases/edge/battery.toml)."""
    from hypothesis import strategies as st

    from lossparity import strategies as S

    @st.composite
    def draw_inputs(draw):
        shape = draw(S.shapes())
        cap = min(100.0, S.regression_cap(dtype, int(np.prod(shape))))
        # In half precision the autodiff of a normalisation forms |x|^-3 (overflow for |x| < 0.03 in float16):
        # an intermediate's range, not the loss's, so smaller magnitudes are drawn in float32/float64 only.
        low = 0.25 if dtype in ("float16", "bfloat16") else 1e-2
        magnitudes = st.floats(low, cap) | st.floats(0.5, 2.0)
        elements = st.tuples(magnitudes, st.sampled_from((-1.0, 1.0))).map(lambda m: m[0] * m[1])
        y_true = S.rounded(draw(S.float_arrays(shape, elements)), dtype)
        y_pred = S.rounded(draw(S.float_arrays(shape, elements)), dtype)
        return {"y_true": y_true, "y_pred": y_pred}

    return draw_inputs()


_VECTORS = (Input("y_true", "target", differentiable=False), _PRED)


def _embedding_pairs(rng, shape, args):
    """Pairs of vectors (as _vectors_generate) and one +-1 target per pair (the vector axis kept, size 1)."""
    pair = _vectors_generate(rng, shape, args)
    return {"y_true": rng.choice([-1.0, 1.0], size=shape[:-1] + (1,)), "x1": pair["y_true"], "x2": pair["y_pred"]}


def _embedding_strategy(dtype, args):
    from hypothesis import strategies as st

    from lossparity import strategies as S

    vectors = _vectors_strategy(dtype, args)

    @st.composite
    def draw_inputs(draw):
        pair = draw(vectors)
        shape = np.shape(pair["y_true"])[:-1] + (1,)
        return {"y_true": draw(S.float_arrays(shape, st.sampled_from((-1.0, 1.0)))), "x1": pair["y_true"],
                "x2": pair["y_pred"]}

    return draw_inputs()


ALPHA_BINARY = Arg("alpha", "float", "a number in [0, 1] (the weight of class 1; class 0 gets 1 - alpha)",
                   lambda v: _finite(v) and 0.0 <= float(v) <= 1.0, samples=(0.25, 0.5, 0.75), interval=(0.0, 1.0))
ALPHA = Arg("alpha", "float", "a finite number (a factor on every class)", _finite, samples=(0.25, 1.0, 0.5),
            interval=(0.0, 2.0))
# gamma < 1 makes (1 - p_t)^gamma infinitely steep at p_t = 1 (a gradient of 0 * inf there), and gamma = 0 is
# 0^0 there, whose autodiff gradient is 0 * inf on jax: edge.focal.gamma-zero-grad, not drawn by the fuzzer.
GAMMA = Arg("gamma", "float", "a number >= 0 (the focusing exponent; 0: plain cross entropy)",
            lambda v: _finite(v) and float(v) >= 0, samples=(2.0, 1.0, 3.0), interval=(1.0, 5.0))
APPLY_CLASS_BALANCING = Arg("apply_class_balancing", "bool", "True (weight class 1 by alpha, class 0 by "
                            "1 - alpha) or False", _is_bool, samples=(False, True))


def _is_axes(v) -> bool:
    """None, an int, or a non-empty tuple/list of distinct ints (checked against the rank by the reference)."""
    if v is None:
        return True
    if isinstance(v, (int, np.integer)) and not _is_bool(v):
        return True
    return (isinstance(v, (tuple, list)) and len(v) > 0 and len(set(v)) == len(v)
            and all(isinstance(a, (int, np.integer)) and not _is_bool(a) for a in v))


# The overlap losses sum over any set of axes: None (every axis: one value for the whole batch, Keras's default),
# an int, or a tuple (a sample's spatial axes).  Kind "axes": the generator never moves an axis for them.
OVERLAP_AXIS = Arg("axis", "axes", "None (every axis), an integer axis or a tuple of axes summed over", _is_axes,
                   samples=(-1, None, (1, 2)))
SMOOTH = Arg("smooth", "float", "a number >= 0 (added to the overlap and to the denominator's overlap term)",
             lambda v: _finite(v) and float(v) >= 0, samples=(0.0, 1.0, 1e-5), interval=(0.0, 10.0))
IGNORE_BACKGROUND = Arg("ignore_background", "bool", "True (class 0, the background, left out of the output) or "
                        "False", _is_bool, samples=(False, True))
TVERSKY_ALPHA = Arg("alpha", "float", "a number >= 0 (the weight of the false positives)",
                    lambda v: _finite(v) and float(v) >= 0, samples=(0.5, 0.3, 0.7), interval=(0.0, 1.0))
TVERSKY_BETA = Arg("beta", "float", "a number >= 0 (the weight of the false negatives)",
                   lambda v: _finite(v) and float(v) >= 0, samples=(0.5, 0.7, 0.3), interval=(0.0, 1.0))


def _overlap_generate(rng, shape, args):
    """A soft segmentation: 0/1 masks (about 40% foreground) and probabilities in (0.02, 0.98), or logits (scale 2)
    when ``from_logits`` (the softmax runs over the last axis: the classes).  The variant ``from_logits`` with
    ``axis=(1,)`` is a binary segmentation: one channel, ``(N, S, 1)`` (the sigmoid's case)."""
    if args.get("from_logits") and args.get("axis") in ((1,), [1]):
        shape = tuple(shape[:2]) + (1,)  # a binary segmentation: one channel, summed over axis 1, sigmoid
    y_true = (rng.random(size=shape) < 0.4).astype(np.float64)
    y_pred = rng.normal(scale=2.0, size=shape) if args.get("from_logits") else rng.uniform(0.02, 0.98, size=shape)
    return {"y_true": y_true, "y_pred": y_pred}


@_composite
def _overlap_strategy(draw, st, S, dtype, args):
    """0/1 masks and probabilities bounded away from 0 (an all-zero prediction over an empty mask is 0/0: the edge
    cases' job), or logits (half the time one channel, ``(N, 1)``: the sigmoid's case)."""
    shape = draw(S.shapes())
    if args.get("from_logits") and draw(st.booleans()):  # one channel (sigmoid): a binary output per sample
        shape = (shape[0], 1)
    y_true = draw(S.float_arrays(shape, st.sampled_from((0.0, 1.0))))
    if args.get("from_logits"):
        return {"y_true": y_true, "y_pred": draw(S.logits(shape, dtype))}
    probs = st.floats(1e-3, 1.0)
    return {"y_true": y_true, "y_pred": draw(S.float_arrays(shape, probs).map(lambda x: S.rounded(x, dtype)))}
# The generalised Dice loss sums over the classes too (its axes must include the last): None, every axis (one value
# for the batch), is its default; (1, ..., ndim - 1) is one value per sample.
GDICE_AXIS = Arg("axis", "axes", "None (every axis) or a tuple of axes summed over that includes the last (the "
                 "classes)", _is_axes, samples=(None, (1, 2)))


def _present_labels(rng, shape, axes):
    """Class indices of ``shape[:-1]`` in which every class appears in every segmentation (each slice over the
    summed axes other than the last); the class count is cut to the pixels a segmentation has."""
    ndim = len(shape)
    axes = tuple(range(ndim)) if axes is None else tuple(int(a) % ndim for a in np.atleast_1d(axes))
    spatial = [a for a in range(ndim - 1) if a in axes]
    outer = [a for a in range(ndim - 1) if a not in axes]
    pixels = int(np.prod([shape[a] for a in spatial])) if spatial else 1
    k = max(1, min(shape[-1], pixels))
    labels = rng.integers(0, k, size=shape[:-1])
    moved = np.transpose(labels, outer + spatial).reshape(-1, pixels).copy()
    for row in moved:
        row[rng.permutation(pixels)[:k]] = np.arange(k)
    back = moved.reshape([shape[a] for a in outer + spatial])
    return np.transpose(back, np.argsort(outer + spatial)), k


def _generalized_dice_generate(rng, shape, args):
    """A one-hot segmentation in which every class is present in every segmentation (an absent class weighs
    1/0: the edge case's job), with probabilities in (0.02, 0.98) normalised over the classes, or logits
    (scale 2) when ``from_logits``."""
    labels, k = _present_labels(rng, tuple(shape), args.get("axis"))
    y_true = np.eye(k)[labels]
    if args.get("from_logits"):
        return {"y_true": y_true, "y_pred": rng.normal(scale=2.0, size=y_true.shape)}
    p = rng.uniform(0.02, 0.98, size=y_true.shape)
    return {"y_true": y_true, "y_pred": p / p.sum(axis=-1, keepdims=True)}


@_composite
def _generalized_dice_strategy(draw, st, S, dtype, args):
    """One-hot masks with every class present in the batch (the fuzzer leaves ``axis`` at its default, None),
    and logits or probabilities bounded away from 0."""
    shape = draw(S.shapes())
    pixels = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    k = max(1, min(shape[-1], pixels))
    shape = tuple(shape[:-1]) + (k,)
    labels = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=pixels, max_size=pixels)), dtype=np.int64)
    labels[np.asarray(draw(st.permutations(range(pixels))))[:k]] = np.arange(k)
    y_true = np.eye(k)[labels].reshape(shape)
    if args.get("from_logits"):
        return {"y_true": y_true, "y_pred": draw(S.logits(shape, dtype))}
    probs = st.floats(1e-3, 1.0)
    return {"y_true": y_true, "y_pred": draw(S.float_arrays(shape, probs).map(lambda x: S.rounded(x, dtype)))}


NORM_DEGREE = Arg("p", "float", "a finite number >= 1 (the degree of the distance's norm)",
                  lambda v: _finite(v) and float(v) >= 1.0, samples=(2, 1, 3), interval=(1.0, 4.0))
# Any finite margin is defined; torch refuses margin <= 0 (ValueError: the edge case edge.triplet.margin-zero and
# a declared deviation), so the fuzzer draws positive margins only.
TRIPLET_MARGIN = Arg("margin", "float", "a finite number", _finite, samples=(1.0, 0.5, 2.0), interval=(0.05, 3.0))
SWAP = Arg("swap", "bool", "True (the negative distance is min(d(a, n), d(p, n))) or False", _is_bool,
           samples=(False, True))


def _triplet_generate(rng, shape, args):
    """Anchors, positives near them and negatives a little farther, each triplet at its own scale, so that the
    hinge is active for some triplets and not for others (margin + d(a, p) - d(a, n) spreads around 0)."""
    anchor = rng.normal(size=shape)
    scale = rng.uniform(0.05, 0.6, size=shape[:-1] + (1,))
    return {"anchor": anchor, "positive": anchor + scale * rng.normal(size=shape),
            "negative": anchor + 2.5 * scale * rng.normal(size=shape)}


@_composite
def _triplet_strategy(draw, st, S, dtype, args):
    shape = draw(S.shapes())
    cap = min(100.0, S.regression_cap(dtype, int(np.prod(shape))))
    values = st.floats(-cap, cap)
    return {name: draw(S.float_arrays(shape, values).map(lambda x: S.rounded(x, dtype)))
            for name in ("anchor", "positive", "negative")}
BLANK = Arg("blank", "int", "an integer class index in [0, C) (the blank label)",
            lambda v: isinstance(v, (int, np.integer)) and not _is_bool(v) and int(v) >= 0, samples=(0, 4))
ZERO_INFINITY = Arg("zero_infinity", "bool", "True (a target no alignment reaches costs 0, gradient 0) or False (inf)",
                    _is_bool, samples=(False, True))


def _ctc_labels(rng, lengths, width, classes, blank, repeat_first):
    """``(B, width)`` labels: row ``b``'s first ``lengths[b]`` entries are classes other than ``blank`` (row 0
    starts with a repeated pair when ``repeat_first``), the padding past them random non-blank classes too,
    so an implementation that reads the padding shows it."""
    others = np.array([k for k in range(classes) if k != blank])
    labels = rng.choice(others, size=(len(lengths), width))
    if repeat_first and lengths[0] >= 2:
        labels[0, 1] = labels[0, 0]
    return labels


def _ctc_generate(rng, shape, args):
    """A batch of ``(B, T, C)`` logits from ``shape`` (B its first axis, C its last, at least 4; T = 5 for a rank-2
    shape, 6 otherwise) with its labels and lengths: a repeated label (a blank frame needed between), an empty
    target, the longest target the frames allow; every input frame used for a rank-2 shape (the core set, which
    APIs without per-sample input lengths take), fewer frames in the second sample otherwise."""
    blank = int(args.get("blank", 0))
    batch = shape[0] if len(shape) > 1 else 1
    classes = max(int(shape[-1]), blank + 1, 4)
    frames = 5 if len(shape) == 2 else 6
    # An empty target in the default variant (torch divides its 'mean' by max(length, 1)); none in the others.
    label_lengths = np.array([2, 3, 0 if blank == 0 else 1, 4][:batch] + [2] * max(0, batch - 4))
    logit_lengths = np.full(batch, frames)
    if len(shape) != 2 and batch > 1:
        logit_lengths[1] = 4
    labels = _ctc_labels(rng, label_lengths, 4, classes, blank, repeat_first=True)
    if batch > 3:  # sample 3: four labels in five frames, no two adjacent alike (a repeat would need six)
        for n in range(1, 4):
            if labels[3, n] == labels[3, n - 1]:
                labels[3, n] = next(k for k in range(classes) if k not in (blank, labels[3, n - 1]))
    if batch > 1:  # sample 1: three labels, at most one adjacent repeat (3 + 1 <= 4 frames)
        if labels[1, 2] == labels[1, 1] and labels[1, 1] == labels[1, 0]:
            labels[1, 2] = next(k for k in range(classes) if k not in (blank, labels[1, 1]))
    logits = rng.normal(scale=2.0, size=(batch, frames, classes))
    return {"labels": labels, "logits": logits, "logit_lengths": logit_lengths, "label_lengths": label_lengths}


@_composite
def _ctc_strategy(draw, st, S, dtype, args):
    blank = int(args.get("blank", 0))
    batch, frames = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    classes = draw(st.integers(max(2, blank + 1), 5))
    others = [k for k in range(classes) if k != blank]
    width = draw(st.integers(1, 4))
    labels = draw(S.float_arrays((batch, width), st.sampled_from(others))).astype(np.int64)
    logit_lengths = np.array([draw(st.integers(0, frames)) for _ in range(batch)], dtype=np.int64)
    label_lengths = np.zeros(batch, dtype=np.int64)
    for b in range(batch):  # the longest prefix the frames reach: L + adjacent repeats <= T
        for n in range(width, -1, -1):
            repeats = int(np.sum(labels[b, 1:n] == labels[b, :max(n - 1, 0)])) if n > 1 else 0
            if n + repeats <= logit_lengths[b]:
                label_lengths[b] = draw(st.integers(0, n))
                break
    logits = draw(S.float_arrays((batch, frames, classes), st.floats(-20.0, 20.0)).map(lambda x: S.rounded(x, dtype)))
    return {"labels": labels, "logits": logits, "logit_lengths": logit_lengths, "label_lengths": label_lengths}


_ENTRIES = [
    _loss("entropy", [Input("p", "prediction", differentiable=True)], [BASE, AXIS], gen.entropy, [{}, {"base": 2.0}],
          "entropy_inputs", True),
    _loss("cross_entropy", [Input("p", "target", discrete=True), Input("q", "prediction", differentiable=True)],
          [BASE, AXIS], gen.divergence, [{}], "divergence_inputs", True),
    _loss("kl_divergence", [Input("p", "target", differentiable=True, discrete=True),
                            Input("q", "prediction", differentiable=True)],
          [BASE, AXIS, LOG_TARGET], gen.divergence, [{}, {"log_target": True}], "divergence_inputs", True),
    _loss("categorical_crossentropy", [_SOFT_TARGET, _PRED], [FROM_LOGITS, LABEL_SMOOTHING, AXIS], gen.categorical,
          _XENT_VARIANTS, "categorical_inputs", True, clip=gen.clipped_categorical,
          weights=(_CLASS_WEIGHT, _WHERE)),
    _loss("sparse_categorical_crossentropy", [_LABELS, _PRED], [FROM_LOGITS, LABEL_SMOOTHING, AXIS, IGNORE_CLASS],
          gen.sparse,
          ({"from_logits": False}, {"from_logits": True}, {"from_logits": True, "label_smoothing": 0.1},
           {"from_logits": True, "axis": 1}, {"from_logits": True, "ignore_class": 2}), "sparse_inputs", True,
          clip=gen.clipped_sparse,
          weights=(_CLASS_WEIGHT, _WHERE)),
    _loss("binary_crossentropy", [_SOFT_TARGET, _PRED], [FROM_LOGITS, LABEL_SMOOTHING, AXIS], gen.binary,
          ({"from_logits": False}, {"from_logits": True}, {"from_logits": False, "label_smoothing": 0.2},
           {"from_logits": False, "axis": 1}),
          "binary_inputs", True, clip=gen.clipped_binary, weights=(_WEIGHT, _POS_WEIGHT)),
    _loss("nll", [_LABELS, Input("log_probs", "prediction", differentiable=True)], [AXIS], gen.nll, [{}],
          "nll_inputs", True, weights=(_CLASS_WEIGHT,)),
    _loss("hinge", [_TARGET, _PRED], [AXIS], gen.hinge, [{}], "hinge_inputs", True),
    _loss("squared_hinge", [_TARGET, _PRED], [AXIS], gen.hinge, [{}], "hinge_inputs", True),
    _loss("categorical_hinge", [_TARGET, _PRED], [AXIS], gen.categorical_hinge, [{}], "categorical_hinge_inputs",
          True),
    _loss("mean_squared_error", _REGRESSION, [AXIS], gen.regression, [{}], "regression_inputs", False,
          weights=(_WEIGHT,)),
    _loss("mean_absolute_error", _REGRESSION, [AXIS], gen.regression, [{}], "regression_inputs", False,
          weights=(_WEIGHT,)),
    _loss("huber", _REGRESSION, [DELTA, AXIS], gen.regression, [{}, {"delta": 0.5}], "regression_inputs", False,
          weights=(_WEIGHT,)),
    # smooth_l1(beta) = huber(delta=beta) / beta; beta = 0 is L1 (torch takes that branch separately).
    _loss("smooth_l1", _REGRESSION, [BETA, AXIS], gen.regression, [{}, {"beta": 0.5}, {"beta": 0.0}],
          "regression_inputs", False, notes="smooth_l1(beta) = huber(delta=beta) / beta; beta = 0 is L1."),
    # log 2 is a rounded quantity of size about one inside log-cosh (x + softplus(-2x) - log 2).
    _loss("log_cosh", _REGRESSION, [AXIS], gen.regression, [{}], "regression_inputs", True),
    LossInfo(name="poisson", kind="loss", inputs=(_TARGET, _PRED), args=(LOG_INPUT, FULL, AXIS),
             generate=_poisson_generate, variants=({}, {"log_input": True}, {"log_input": True, "full": True}),
             strategy=_poisson_strategy, unit_intermediate=False, oracle=_oracle_of("poisson"),
             notes="torch's poisson_nll_loss defaults to log_input=True (log-rates); Keras takes rates."),
    _loss("l2_loss", _REGRESSION, [AXIS], gen.regression, [{}], "regression_inputs", False,
          notes="optax.losses.l2_loss = 0.5 * squared_error, elementwise (half the mean squared error)."),
    LossInfo(name="generalized_kl_divergence", kind="loss",
             inputs=(Input("p", "target"), Input("q", "prediction", differentiable=True)), args=(AXIS,),
             generate=_positive_pair, variants=({},), strategy=_positive_pair_strategy, unit_intermediate=False,
             oracle=_oracle_of("generalized_kl_divergence"),
             notes="Unnormalised measures; equals kl_divergence when both sum to one. optax's "
                   "convex_kl_divergence is its deprecated name."),
    # 1 + x is a rounded quantity of size about one inside log(x + 1) (Keras writes log, not log1p).
    LossInfo(name="mean_squared_logarithmic_error", kind="loss", inputs=(_TARGET, _PRED), args=(AXIS,),
             generate=_msle_generate, variants=({},), strategy=_msle_strategy, unit_intermediate=True,
             oracle=_oracle_of("mean_squared_logarithmic_error"),
             notes="Keras floors both inputs at epsilon before log(x + 1): a negative prediction counts as 1e-7."),
    LossInfo(name="mean_absolute_percentage_error", kind="loss", inputs=(_TARGET, _PRED), args=(AXIS,),
             generate=_mape_generate, variants=({},), strategy=_mape_strategy, unit_intermediate=False,
             oracle=_oracle_of("mean_absolute_percentage_error"),
             notes="A percentage (times 100); Keras divides by max(|y_true|, epsilon)."),
    # 1 - p_y^q subtracts from one: a unit-size intermediate.
    _loss("categorical_generalized_cross_entropy", [_LABELS, _PRED], [Q, AXIS], gen.sparse, [{}, {"q": 0.8}],
          "sparse_inputs", True,
          notes="Keras takes integer labels and probabilities; its Loss class refuses q outside (0, 1)."),
    _loss("soft_margin_loss", [_TARGET, _PRED], [AXIS], gen.hinge, [{}], "hinge_inputs", False,
          notes="torch computes log1p(exp(-y x)): it overflows where -y x > 88 in float32 (a softplus does not)."),
    LossInfo(name="hinge_embedding_loss", kind="loss", inputs=(_TARGET, _PRED), args=(MARGIN, AXIS),
             generate=_distances, variants=({}, {"margin": 0.5}), strategy=_distances_strategy,
             unit_intermediate=False, oracle=_oracle_of("hinge_embedding_loss"),
             notes="y_pred holds distances; targets +-1 (torch accepts others: x + max(0, margin - x) there)."),
    LossInfo(name="margin_ranking_loss", kind="loss",
             inputs=(_TARGET, Input("x1", "prediction"), Input("x2", "prediction", differentiable=True)),
             args=(MARGIN, AXIS), generate=_ranking, variants=({}, {"margin": 0.3}), strategy=_ranking_strategy,
             unit_intermediate=False, oracle=_oracle_of("margin_ranking_loss"),
             notes="Two scores; gradients are checked with respect to x2 (that of x1 is its negative)."),
    LossInfo(name="multi_margin_loss", kind="loss", inputs=(_LABELS, _PRED), args=(P_NORM, MARGIN, AXIS),
             generate=_scores, variants=({}, {"p": 2, "margin": 0.5}), strategy=_scores_strategy,
             unit_intermediate=True, oracle=_oracle_of("multi_margin_loss"), weights=(_CLASS_WEIGHT,),
             notes="Divides by the number of classes K (true class included), not K - 1; class_weight (torch's "
                   "weight=) multiplies each sample's loss by w[label], and a mean divides by the sample count."),
    LossInfo(name="gaussian_nll_loss", kind="loss",
             inputs=(_TARGET, _PRED, Input("var", "variance")), args=(GAUSS_FULL, AXIS), generate=_gaussian,
             variants=({}, {"full": True}), strategy=_gaussian_strategy, unit_intermediate=False,
             oracle=_oracle_of("gaussian_nll_loss"),
             notes="var has y_pred's shape, or one entry per sample; torch clamps it at eps = 1e-6 without "
                   "stopping its gradient."),
    # The normalised vectors and their dot product (a cosine near 0 cancels) are rounded quantities of size one.
    LossInfo(name="cosine_similarity", kind="loss", inputs=_VECTORS, args=(AXIS,), generate=_vectors_generate,
             variants=({}, {"axis": 1}), strategy=_vectors_strategy, unit_intermediate=True,
             oracle=_oracle_of("cosine_similarity"),
             notes="Keras returns MINUS the cosine; a zero vector is NaN in the mathematics and optax, 0 where an "
                   "epsilon keeps the norm off zero (Keras 1e-7 on the norm, Keras 2 1e-12 on its square, torch "
                   "1e-8), NaN again in float16, where every one of those epsilons is lost."),
    LossInfo(name="cosine_distance", kind="loss", inputs=_VECTORS, args=(AXIS,), generate=_vectors_generate,
             variants=({}, {"axis": 1}), strategy=_vectors_strategy, unit_intermediate=True,
             oracle=_oracle_of("cosine_distance"),
             notes="1 - cos: optax.losses.cosine_distance; torch's cosine_embedding_loss with target +1 (its "
                   "squared norms get + 1e-12)."),
    _loss("binary_focal_crossentropy", [_TARGET, _PRED],
          [APPLY_CLASS_BALANCING, ALPHA_BINARY, GAMMA, FROM_LOGITS, LABEL_SMOOTHING, AXIS], gen.binary,
          ({"from_logits": False}, {"from_logits": True},
           {"from_logits": True, "apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5},
           {"from_logits": False, "label_smoothing": 0.2, "gamma": 3.0}),
          "binary_inputs", True, clip=gen.clipped_binary,
          notes="optax's sigmoid_focal_loss takes logits, alpha=None (no weighting) by default; Keras's "
                "apply_class_balancing=False ignores alpha. Keras 3 on TensorFlow recovers the logits from its own "
                "sigmoid (stable); on jax and torch the sigmoid's output is clipped to [1e-7, 1 - 1e-7]. torch's de facto "
                "focal loss, torchvision.ops.sigmoid_focal_loss, is not bound: torchvision 0.28.0, the release paired "
                "with torch 2.13, does not import beside the CPU wheel ('operator torchvision::nms does not exist', "
                "measured); 0.29.x pair with later torch."),
    _loss("categorical_focal_crossentropy", [_TARGET, _PRED], [ALPHA, GAMMA, FROM_LOGITS, LABEL_SMOOTHING, AXIS],
          gen.categorical,
          ({"from_logits": False}, {"from_logits": True},
           {"from_logits": False, "alpha": 1.0, "gamma": 1.0, "label_smoothing": 0.1}),
          "categorical_inputs", True, clip=gen.clipped_categorical,
          notes="alpha (default 0.25) multiplies every class: the default loss is a quarter of the focal term. "
                "From logits Keras takes the softmax, renormalises and clips it to [1e-7, 1 - 1e-7]."),
    # 1 - ratio near a perfect overlap cancels: the ratio is a rounded quantity of size one.
    LossInfo(name="dice", kind="loss", inputs=(_TARGET, _PRED),
             args=(SMOOTH, FROM_LOGITS, IGNORE_BACKGROUND, OVERLAP_AXIS),
             generate=_overlap_generate,
             variants=({}, {"axis": None}, {"axis": (1, 2)}, {"from_logits": True, "smooth": 1.0, "axis": 0},
                       {"from_logits": True, "smooth": 1.0, "axis": 1}, {"from_logits": True, "smooth": 1.0, "axis": (1,)},
                       {"from_logits": True, "ignore_background": True, "axis": 0}),
             strategy=_overlap_strategy, unit_intermediate=True, oracle=_oracle_of("dice"), weights=(_CLASS_WEIGHT,),
             notes="Keras: 1 - 2I / (T + P + 1e-7) over axis (default None: the whole batch, one number); optax "
                   "dice_loss: logits, softmax over the last axis (sigmoid for one channel), smooth=1.0 in numerator "
                   "and denominator, summed over the axes between the first and the last by default (none at all "
                   "for a rank-2 input), then averaged over the classes."),
    LossInfo(name="tversky", kind="loss", inputs=(_TARGET, _PRED),
             args=(TVERSKY_ALPHA, TVERSKY_BETA, SMOOTH, FROM_LOGITS, IGNORE_BACKGROUND, OVERLAP_AXIS),
             generate=_overlap_generate,
             variants=({"alpha": 0.3, "beta": 0.7}, {"alpha": 0.7, "beta": 0.3, "axis": (1, 2)},
                       {"from_logits": True, "alpha": 0.3, "beta": 0.7, "smooth": 1.0, "axis": 0}),
             strategy=_overlap_strategy, unit_intermediate=True, oracle=_oracle_of("tversky"), weights=(_CLASS_WEIGHT,),
             notes="alpha weighs false positives in the mathematics and optax's dice_loss, false negatives in Keras's "
                   "tversky (keras.losses.tversky(alpha=a, beta=b) = optax dice_loss(alpha=b, beta=a, smooth=0) up "
                   "to Keras's 1e-7)."),
    # 1 - ratio near a perfect overlap cancels, as for Dice.
    LossInfo(name="generalized_dice", kind="loss", inputs=(_TARGET, _PRED),
             args=(SMOOTH, FROM_LOGITS, IGNORE_BACKGROUND, GDICE_AXIS), generate=_generalized_dice_generate,
             variants=({}, {"from_logits": True, "smooth": 1.0, "axis": (1, 2)},
                       {"from_logits": True, "ignore_background": True}),
             strategy=_generalized_dice_strategy, unit_intermediate=True, oracle=_oracle_of("generalized_dice"),
             notes="Sudre et al.: one ratio of class-weighted sums, w_c = 1 / count_c^2 (an absent class: NaN). "
                   "optax's multiclass_generalized_dice_loss is a weighted mean of per-(sample, class) smoothed Dice "
                   "losses, weights 1 / (count^2 + 1e-7) from the whole batch normalised to mean 1 (flags "
                   "generalized_dice_class_mean, generalized_dice_weight_epsilon); logits only, smooth=1.0 by "
                   "default, one scalar (the mean over the first axis)."),
    # cos is a rounded quantity of size one (as for cosine_distance).
    LossInfo(name="cosine_embedding_loss", kind="loss",
             inputs=(Input("y_true", "target", discrete=True), Input("x1", "prediction", differentiable=True),
                     Input("x2", "prediction", differentiable=True)),
             args=(MARGIN, AXIS), generate=_embedding_pairs, variants=({}, {"margin": 0.3}),
             strategy=_embedding_strategy, unit_intermediate=True, oracle=_oracle_of("cosine_embedding_loss"),
             notes="One +-1 target per pair: 1 - cos for +1 (cosine_distance), max(0, cos - margin) for -1. torch "
                   "takes (N, D) inputs and an (N,) target, adds 1e-12 (a float32 constant) to each squared norm and "
                   "gives 0 for a target other than +-1 (the mathematics: undefined)."),
    LossInfo(name="triplet_margin_loss", kind="loss",
             inputs=(Input("anchor", "prediction", differentiable=True),
                     Input("positive", "prediction", differentiable=True),
                     Input("negative", "prediction", differentiable=True)),
             args=(TRIPLET_MARGIN, NORM_DEGREE, SWAP, AXIS), generate=_triplet_generate,
             variants=({}, {"p": 1, "margin": 2.0}, {"swap": True}), strategy=_triplet_strategy,
             unit_intermediate=False, oracle=_oracle_of("triplet_margin_loss"),
             notes="Three embeddings, gradients with respect to each. Both frameworks add eps = 1e-6 to the "
                   "distance, in different places: torch to every element of the difference (|a - p + eps|_p), "
                   "optax to the sum of powers ((sum |a - p|^p + eps)^(1/p)); optax's norm_degree takes no "
                   "absolute value (norm_degree=1 is the signed sum); torch refuses margin <= 0."),
    LossInfo(name="ctc_loss", kind="loss",
             inputs=(_LABELS, Input("logits", "prediction", differentiable=True), Input("logit_lengths", "lengths"),
                     Input("label_lengths", "lengths")),
             args=(BLANK, ZERO_INFINITY), generate=_ctc_generate, variants=({}, {"blank": 4}),
             strategy=_ctc_strategy, unit_intermediate=True, oracle=_oracle_of("ctc_loss"), event_rank=2,
             notes="logits (batch, time, classes), one loss per sequence. torch takes log-probabilities laid out "
                   "(time, batch, classes) and lengths; optax logits and paddings (1 past the length); Keras 3 "
                   "logits, every frame used and the label padding 0 (the blank, fixed at 0); Keras 2's "
                   "backend.ctc_batch_cost probabilities (log(p + 1e-7)), the blank the LAST class. torch's 'mean' "
                   "divides each loss by its target length before averaging."),
    _activation("softmax"),
    _activation("log_softmax"),
    _activation("logsumexp"),
    _activation("sigmoid", args=()),
    _activation("log_sigmoid", args=()),
    _activation("softplus", args=()),
]

CATALOGUE: dict[str, LossInfo] = {info.name: info for info in _ENTRIES}


def entry(name: str) -> LossInfo:
    """The catalogue entry of ``name`` (KeyError listing the known names)."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"no catalogue entry for {name!r}; known: {sorted(CATALOGUE)}") from None


def reference_signature(info: LossInfo) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(positional input names, keyword argument names)`` of the reference function, for the meta-test."""
    params = inspect.signature(info.value).parameters.values()
    positional = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
    keywords = tuple(p.name for p in params if p.default is not inspect.Parameter.empty and p.name != "convention"
                     and p.name not in reference.WEIGHT_PARAMETERS)
    return positional, keywords


def weight_parameters(info: LossInfo) -> tuple[str, ...]:
    """The reference function's array keyword parameters (weights), for the meta-test."""
    params = inspect.signature(info.value).parameters
    return tuple(name for name in params if name in reference.WEIGHT_PARAMETERS)


def problems(info: LossInfo, cases=()) -> list[str]:
    """What is missing or inconsistent in an entry (empty when complete); ``cases``: the loaded case files.

    An entry is complete when: its name is a reference function; its inputs are that function's
    positional parameters, in order, each with a known role, at least one differentiable; its arguments
    are the function's keyword parameters (``convention`` aside), every variant inside their domains; it
    has an oracle, a generator that yields exactly its inputs for every variant (on which the reference
    is finite), a strategy, and at least one edge case.
    """
    found: list[str] = []
    where = f"catalogue entry {info.name!r}"
    if info.name not in reference.LOSSES and info.name not in reference.ACTIVATIONS:
        return [f"{where}: no reference function of that name"]
    positional, keywords = reference_signature(info)
    if info.input_names != positional:
        found.append(f"{where}: inputs {list(info.input_names)} != the reference's positional parameters "
                     f"{list(positional)}")
    bad_roles = [i.name for i in info.inputs if i.role not in ROLES]
    if bad_roles:
        found.append(f"{where}: inputs {bad_roles} have no known role (one of {ROLES})")
    if not any(i.differentiable for i in info.inputs):
        found.append(f"{where}: no differentiable input")
    if sorted(w.name for w in info.weights) != sorted(weight_parameters(info)):
        found.append(f"{where}: weights {sorted(w.name for w in info.weights)} != the reference's weight "
                     f"parameters {sorted(weight_parameters(info))}")
    if any(w.role not in ("weights", "mask") for w in info.weights):
        found.append(f"{where}: a weight input's role must be 'weights' or 'mask'")
    if sorted(a.name for a in info.args) != sorted(keywords):
        found.append(f"{where}: arguments {sorted(a.name for a in info.args)} != the reference's keyword "
                     f"parameters {sorted(keywords)}")
    no_target_grad = [name for name in info.differentiable_inputs
                      if name != info.prediction and info.name not in reference.grads.TARGET_GRADS
                      and name not in reference.grads.INPUT_GRADS.get(info.name, {})]
    if no_target_grad:
        found.append(f"{where}: inputs {no_target_grad} are differentiable but reference.grads.TARGET_GRADS has no "
                     f"gradient of {info.name!r} with respect to them")
    if info.oracle is None:
        found.append(f"{where}: no oracle (reference.oracle.{info.name})")
    if info.strategy is None:
        found.append(f"{where}: no Hypothesis strategy")
    if not isinstance(info.unit_intermediate, bool):
        found.append(f"{where}: unit_intermediate must be True or False")
    if not info.variants:
        found.append(f"{where}: no argument variant (use ({{}},) for the defaults)")
    for variant in info.variants:
        try:
            info.validate_args(variant)
        except ValueError as exc:
            found.append(f"{where}: variant {dict(variant)}: {exc}")
            continue
        if info.generate is None:
            found.append(f"{where}: no input generator")
            break
        shape = gen.SHAPES["small"]
        axis = variant.get("axis")
        if axis is not None and max(np.atleast_1d(axis)) >= len(shape):  # axes a rank-3 batch has
            shape = gen.SHAPES["rank3"]
        made = info.generate(np.random.default_rng(0), shape, variant)
        if tuple(made) != info.input_names:
            found.append(f"{where}: the generator yields {list(made)} for {dict(variant)}, not "
                         f"{list(info.input_names)}")
            continue
        with np.errstate(all="ignore"):
            value = np.asarray(info.value(**made, **variant), dtype=np.float64)
        if not np.all(np.isfinite(value)):
            found.append(f"{where}: the reference is not finite on the generated inputs for {dict(variant)}")
    if cases is not None and not info.edge_cases(cases):
        found.append(f"{where}: no edge case (kind = \"edge\", loss = \"{info.name}\") under cases/")
    return found
