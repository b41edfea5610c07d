"""The checks of the conformance matrix: a framework against the reference under its declared convention.

One :class:`Item` is one cell of the matrix (adapter, binding, API form, dtype, device, input set).
Each check function takes the run's :class:`lossparity.session.Session`, which runs the framework once
per item (the value, gradient and dtype checks of one item share a single framework call), computes the
expectation with the reference, and returns a results record (the fields of
:class:`lossparity.records.CheckRecord`) whose ``verdict`` the test asserts.  The verdict logic is the same everywhere
(:func:`judge`): an undeclared difference fails, a declared deviation that no longer shows fails.
"""
from __future__ import annotations

import functools
import inspect
import platform
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import reference
from adapters.protocol import Adapter, Binding, Call, Deviation, Outcome, classify, describe, holds, release
from lossparity import conventions
from lossparity.catalogue import CATALOGUE, entry
from lossparity import tolerance as tol
from lossparity.inputs import InputSet

# Inputs that hold integer class indices, by the catalogue's roles (never rounded or perturbed).
LABEL_INPUTS = frozenset().union(*(info.label_inputs for info in CATALOGUE.values()))
# Reductions that give the same number on one batch (the per-sample mean under Keras's and torch's names).
EQUIVALENT_REDUCTIONS = {"none": ("none",), "mean": ("mean", "sum_over_batch_size"),
                         "sum_over_batch_size": ("sum_over_batch_size", "mean"), "sum": ("sum",)}
# A per-sample weight (Keras ``sample_weight``): not a reference parameter, it enters the reduction.
SAMPLE_WEIGHT = "sample_weight"
# Inputs compared exactly by frameworks when their values are integers (one-hot rows, {0, 1}, {-1, 1}).
DISCRETE_INPUTS = frozenset().union(*(info.discrete_inputs for info in CATALOGUE.values()))


@dataclass(frozen=True)
class Item:
    """One cell of the matrix."""

    adapter: str
    binding: str
    form: str
    dtype: str
    device: str
    inputs: InputSet
    wrt: str | None = None  # a gradient cell with respect to this input (not the binding's grad_wrt)

    @property
    def id(self) -> str:
        suffix = f"-d{self.wrt}" if self.wrt else ""
        return f"{self.adapter}-{self.binding}-{self.form}-{self.dtype}-{self.device}-{self.inputs.id}{suffix}"


# ---------------------------------------------------------------------------------------------------
# Running the framework

def quantized_inputs(inputs: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """Inputs as the framework sees them: floats rounded to ``dtype`` (held in float64), labels as ints."""
    return {name: (np.asarray(x) if name in LABEL_INPUTS else tol.quantize(np.asarray(x, dtype=np.float64), dtype))
            for name, x in inputs.items()}


def cotangent_for(item: Item, binding: Binding) -> np.ndarray | None:
    """A fixed, non-uniform gradient seed for an activation (shaped like its output, exact in the dtype).

    With the plain sum as the seed a softmax's gradient is identically 0, which any backward that keeps
    rows summing to zero would pass; losses are scalar per sample and keep the plain sum.
    """
    if entry(binding.loss).kind != "activation" or binding.grad_wrt not in item.inputs.inputs:
        return None
    shape = np.shape(item.inputs.inputs[binding.grad_wrt])
    seed = zlib.crc32(item.inputs.id.encode())
    return tol.quantize(np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape), item.dtype)


def make_call(item: Item, binding: Binding) -> Call:
    return Call(loss=binding.loss, inputs=quantized_inputs(item.inputs.inputs, item.dtype),
                args=dict(item.inputs.args), form=item.form, dtype=item.dtype, device=item.device,
                grad=binding.grad_wrt is not None, cotangent=cotangent_for(item, binding), wrt=item.wrt)


def compute_dtype(adapter: Adapter, call: Call) -> str:
    """The dtype the framework computes this call in (an adapter may say it differs from the inputs')."""
    declared = getattr(adapter, "compute_dtype", None)
    return declared(call) if callable(declared) else call.dtype


def run_item(adapter: Adapter, item: Item) -> Outcome:
    """Run ``item`` through its adapter once (the caller caches: :meth:`lossparity.session.Session.outcome`);
    an exception from the adapter itself is an observation (``Outcome.error``), never a crash."""
    call = make_call(item, adapter.bindings[item.binding])
    try:
        return adapter.run(call)
    except Exception as exc:  # noqa: BLE001 - an adapter bug is an observation, not a crash
        return Outcome(error="adapter " + describe(exc))


# ---------------------------------------------------------------------------------------------------
# The reference side


def reference_function(loss: str, gradient: bool = False, cotangent=None, wrt: str | None = None) -> Callable:
    """The reference loss or activation by name; with ``gradient``, d(sum(cotangent * outputs))/d(input)
    (a loss's per-sample outputs are summed; ``cotangent`` seeds an activation's, ones when None), the input
    being the prediction or ``wrt``."""
    info = entry(loss)
    return info.gradient(cotangent, wrt) if gradient else info.value


@functools.lru_cache(maxsize=None)
def _accepts_convention(fn: Callable) -> bool:
    return "convention" in inspect.signature(fn).parameters


def reference_loss(loss: str, args: dict, convention, granularity: str = "sample", reduction: str = "none",
                   gradient: bool = False, dtype: str | None = None, cotangent=None,
                   wrt: str | None = None) -> Callable[..., np.ndarray]:
    """A function of the named inputs giving what a framework bound this way must return.

    ``granularity="element"`` gives each element its own loss (a trailing axis of length one is added,
    so the reference reduces over nothing): that is what torch's unreduced elementwise losses return.
    With ``gradient=True`` it returns d(reduced output summed)/d(prediction) instead.
    With ``dtype``, float inputs reach the reference as arrays of that dtype (exact values), so that
    constants a framework forms in the input's dtype (Keras's clip bounds) are formed alike; the
    returned function's ``widened`` attribute is the same computation on float64 inputs, which the
    tolerance model perturbs.
    """
    fn = reference_function(loss, gradient, cotangent, wrt)
    kwargs = dict(args)
    # An ignore_class argument also decides a mean's denominator (under its convention's flag).
    ignoring = {"ignore_class": args["ignore_class"]} if args.get("ignore_class") is not None else {}
    if granularity == "element":
        kwargs.pop("axis", None)  # one loss per element: the reference reduces over a trailing axis of one
    if _accepts_convention(fn):
        kwargs["convention"] = convention

    def compute(inputs, cast, reduce=True):
        weights = inputs.get(SAMPLE_WEIGHT)
        denominators = denominator_weights(inputs)
        inputs = {name: x for name, x in inputs.items() if name != SAMPLE_WEIGHT}
        labels = next((inputs[name] for name in inputs if name in LABEL_INPUTS), None)
        if cast:
            inputs = {name: (np.asarray(x).astype(tol.numpy_dtype(dtype))
                             if name not in LABEL_INPUTS and np.issubdtype(np.asarray(x).dtype, np.floating) else x)
                      for name, x in inputs.items()}
        if granularity == "element":
            inputs = {name: np.asarray(x)[..., None] for name, x in inputs.items()}
        with np.errstate(all="ignore"):
            out = np.asarray(fn(**inputs, **kwargs), dtype=np.float64)
        how = dict(loss=loss, convention=convention, labels=labels, sample_weight=weights, **denominators,
                   **ignoring)
        if not gradient:
            if not reduce:
                return out
            return np.asarray(reference.reduce_loss(out, reduction, **how), dtype=np.float64)
        if granularity == "element":
            out = out[..., 0]
        if entry(loss).kind == "activation":
            return out
        shape = per_output_shape(loss, inputs, args, granularity)
        per_sample = reference.reduce_loss_grad(shape, reduction, **how)
        if granularity != "element" and entry(loss).event_rank > 1:  # time and class axes to broadcast over
            per_sample = np.reshape(per_sample, np.shape(per_sample) + (1,) * (out.ndim - np.ndim(per_sample)))
        elif granularity != "element" and out.ndim > len(shape):  # the reduced axes to broadcast over
            per_sample = np.expand_dims(per_sample, reduced_axes(loss, args, out.ndim))
        return out * per_sample

    def evaluate(**inputs):
        return compute(inputs, cast=dtype is not None)

    def reduce_like(values, **inputs):
        """``values`` (one per sample) reduced as this check reduces its samples (weights, ignored labels)."""
        weights = inputs.get(SAMPLE_WEIGHT)
        labels = next((x for name, x in inputs.items() if name in LABEL_INPUTS), None)
        return np.asarray(reference.reduce_loss(
            values, reduction, loss=loss, convention=convention, labels=labels,
            sample_weight=None if weights is None else np.abs(np.asarray(weights, dtype=np.float64)),
            **denominator_weights(inputs), **ignoring), dtype=np.float64)

    evaluate.widened = lambda **inputs: compute(inputs, cast=False)
    evaluate.unreduced = lambda **inputs: compute(inputs, cast=False, reduce=False)
    evaluate.reduce_like = reduce_like
    # What the float64 forms compute, as a hashable: the tolerance model remembers its condition
    # estimate by it (tolerance.condition_scale), so checks of one computation on one input share it.
    same = (loss, tuple(sorted((name, tol.digest(v) if isinstance(v, np.ndarray) else repr(v))
                               for name, v in args.items())), _convention_key(convention), granularity, gradient,
            None if cotangent is None else tol.digest(cotangent), wrt)
    evaluate.widened.key = same + ("reduced", reduction)
    evaluate.unreduced.key = same + ("unreduced", reduction if gradient else None)
    return evaluate


def _convention_key(convention) -> tuple:
    flags = getattr(convention, "flags", None)
    if flags is None:
        return (repr(convention),)
    return (convention.name, tuple(sorted((name, repr(flag.value), flag.applies_to) for name, flag in flags.items())))


def denominator_weights(inputs: dict) -> dict:
    """What a convention's ``"mean"`` may divide by (``class_weight``, ``weight``, a sequence loss's
    ``label_lengths``), as given."""
    return {name: np.asarray(inputs[name], dtype=np.float64) for name in ("class_weight", "weight", "label_lengths")
            if name in inputs}


def per_output_shape(loss: str, inputs: dict, args: dict, granularity: str) -> tuple:
    """Shape of the unreduced output: the prediction's shape less the class axis, or all of it."""
    prediction = next(np.asarray(x) for name, x in inputs.items()
                      if name not in LABEL_INPUTS and name not in reference.WEIGHT_PARAMETERS)
    shape = prediction.shape[:-1] if granularity == "element" else prediction.shape
    if entry(loss).kind == "activation" or granularity == "element":
        return shape
    if entry(loss).event_rank > 1:  # a sequence loss: one loss per sample, over its time and class axes
        return shape[:len(shape) - entry(loss).event_rank]
    axes = reduced_axes(loss, args, len(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def sums_over_axes(loss: str) -> bool:
    """The loss sums over a set of axes (an ``axis`` argument of kind ``"axes"``: None is every axis) rather
    than reducing one class axis."""
    spec = entry(loss).arg("axis")
    return spec is not None and spec.kind == "axes"


def axis_argument(loss: str, args: dict):
    """The ``axis`` the reference computes with: the check's, else the reference function's default (-1 for
    most losses; None, every axis, for the generalised Dice)."""
    if "axis" in args:
        return args["axis"]
    return _default_axis(loss)


@functools.lru_cache(maxsize=None)
def _default_axis(loss: str):
    fn = reference.LOSSES.get(loss)
    param = inspect.signature(fn).parameters.get("axis") if fn is not None else None
    return -1 if param is None or param.default is inspect.Parameter.empty else param.default


def reduced_axes(loss: str, args: dict, ndim: int) -> tuple[int, ...]:
    """The axes of the prediction the loss reduces (non-negative): its class axis, or every axis it sums over."""
    axis = axis_argument(loss, args)
    if sums_over_axes(loss):
        return reference.losses.overlap_axes(tuple(axis) if isinstance(axis, list) else axis, ndim)
    return (int(axis if axis is not None else -1) % max(ndim, 1),)


def reduction_weight(per_sample_shape: tuple, reduction: str) -> float:
    """d(reduce(L))/dL_s for the equal-weight linear reductions (1 for "none": the gradient of the sum)."""
    size = int(np.prod(per_sample_shape)) if per_sample_shape else 1
    if reduction == "none" or size == 0:
        return 1.0
    return float(reference.reduce(np.ones(per_sample_shape), reduction)) / size


def reduced_terms(inputs: dict[str, np.ndarray]) -> int:
    """Length of the longest reduction a loss over these inputs performs (all elements, at most)."""
    return max((int(np.size(x)) for x in inputs.values()), default=1)


def float_inputs(inputs: dict[str, np.ndarray], loss: str | None = None) -> list[str]:
    """The inputs whose rounding the tolerance model perturbs: every float input but a discrete target.

    A target whose values are all integers ({0, 1} labels, one-hot rows, {-1, 1}) is compared exactly by
    frameworks (Keras's hinge label conversion tests y in {0, 1}), and the products it enters are covered
    by perturbing the other factor; predictions are always perturbed, integer-valued or not.
    """
    discrete = entry(loss).discrete_inputs if loss else DISCRETE_INPUTS

    def discrete_target(name, x):
        with np.errstate(invalid="ignore"):  # an infinite entry (log 0) is not an integer
            return name in discrete and np.all(np.mod(np.asarray(x, dtype=np.float64), 1.0) == 0.0)

    return [name for name, x in inputs.items() if name not in LABEL_INPUTS
            and np.issubdtype(np.asarray(x).dtype, np.floating) and not discrete_target(name, x)]


def evaluate_reference(fn: Callable, inputs: dict) -> tuple[np.ndarray | None, str]:
    """``fn(**inputs)`` and its behaviour class; a raised error is the behaviour ``error:<Type>``."""
    try:
        value = fn(**inputs)
    except Exception as exc:  # noqa: BLE001 - the reference refusing an input is its answer
        return None, classify(None, describe(exc))
    return value, classify(value)


# ---------------------------------------------------------------------------------------------------
# Verdicts


def same_behaviour(actual_behaviour: str, expected_behaviour: str) -> bool:
    """Both are the same class (value / nan / inf), or both raised (whatever the error type)."""
    return actual_behaviour == expected_behaviour or (actual_behaviour.startswith("error")
                                                      and expected_behaviour.startswith("error"))


def agreement(actual, actual_behaviour: str, expected, expected_behaviour: str, bound) -> bool:
    """THE agreement rule of every check (matrix cells, witnesses, goldens, case files): the same
    behaviour class, and, where both are numbers, the same shape and every element within ``bound``."""
    if not same_behaviour(actual_behaviour, expected_behaviour):
        return False
    if actual is None or expected is None:
        return True
    return np.shape(actual) == np.shape(expected) and tol.within(actual, expected, bound)


def judge(agrees: bool, observed: str, deviation: Deviation | None) -> tuple[str, str | None]:
    """pass / deviation / fail, strictly in both directions."""
    if deviation is None:
        return ("pass", None) if agrees else ("fail", f"undeclared deviation from the reference: {observed}")
    if agrees:
        return "fail", (f"declared deviation '{deviation.name}' no longer shows: the framework now agrees "
                        f"with the reference (unexpectedly conformant); update the declaration")
    if deviation.shows in ("differs", observed) or observed.startswith(deviation.shows):
        return "deviation", deviation.summary
    return "fail", f"declared deviation '{deviation.name}' says {deviation.shows}, observed {observed}"


def _covering(adapter: Adapter, item: Item, kind: str) -> list[Deviation]:
    """The declarations whose selectors cover the check, whatever their versions.  A gradient with respect to
    another input than the binding's ``grad_wrt`` (``item.wrt``: a soft target) is covered only by a deviation
    that names it (``when={"wrt": "y_true", ...}``); the others are about the prediction's gradient."""
    binding = adapter.bindings[item.binding]
    fields = dict(loss=binding.loss, binding=item.binding, case=item.inputs.id, form=item.form,
                  dtype=item.dtype, device=item.device, kind=kind, wrt=item.wrt or binding.grad_wrt or "")
    return [d for d in adapter.deviations if d.covers(**fields) and (item.wrt is None or "wrt" in d.when)]


def covering_deviation(adapter: Adapter, item: Item, kind: str) -> Deviation | None:
    """The first declared deviation that covers the check (:func:`_covering`) and whose ``versions`` hold the
    installed release (:func:`adapters.protocol.release`); one declared for other releases does not apply."""
    return next((d for d in _covering(adapter, item, kind) if holds(d.versions, adapter)), None)


def unverified(adapter: Adapter, item: Item, kind: str, binding: Binding | None = None) -> str:
    """Why a difference may be new in this release: the declarations (deviations covering the check, flags
    of its convention) whose ``versions`` leave the installed release out; "" when there are none."""
    version = release(adapter)
    if version is None:
        return ""
    names = [f"deviation '{d.name}' ({d.versions})" for d in _covering(adapter, item, kind)
             if not holds(d.versions, adapter)]
    binding = binding or adapter.bindings[item.binding]
    names += [f"flag '{f.name}' ({f.versions})" for f in conventions.out_of_range(adapter, binding)]
    if not names:
        return ""
    return (f"new in {adapter.name} {version}? declared for other releases only: " + ", ".join(names)
            + " (verify on this release and widen the range, or declare what changed)")


def unsupported_record(adapter: Adapter, record: dict, got: Outcome) -> dict:
    """The record of a check whose call needs an API the installed release lacks: a skip with the reason on
    a release outside ``adapter.written_for`` (no verdict on the loss), a failure inside it (there the
    adapter itself is wrong)."""
    # A user's function (check_loss, recipes) runs on a framework adapter's kernels: that adapter's range says.
    host = getattr(adapter, "framework", adapter)
    written_for = getattr(host, "written_for", "*")
    if holds(written_for, host):
        record.update(verdict="fail", reason=f"the adapter calls an API its own release lacks: {got.unsupported} "
                                             f"(adapter written for {written_for})")
    else:
        record.update(verdict="skip", reason=got.unsupported)
    record["observed"] = f"unsupported:{got.unsupported}"
    return record


def small(x) -> Any:
    """A JSON-friendly view of a value: the numbers when few, else shape and range."""
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float64)
    if a.size <= 8:
        return [None if np.isnan(v) else float(v) if np.isfinite(v) else ("inf" if v > 0 else "-inf")
                for v in a.reshape(-1)] if a.ndim else (float(a) if np.isfinite(a) else str(float(a)))
    finite = a[np.isfinite(a)]
    return {"shape": list(a.shape), "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None, "nonfinite": int(a.size - finite.size)}


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def base_record(adapter: Adapter, item: Item, kind: str) -> dict:
    binding = adapter.bindings[item.binding]
    device_name = getattr(adapter, "device_name", None)
    return {
        "id": f"{kind}:{item.id}",
        "kind": kind,
        "case": item.inputs.id,
        "provenance": item.inputs.provenance,
        "loss": binding.loss,
        "framework": adapter.name,
        "framework_version": adapter.version(),
        "api": f"{binding.api} [{item.form}]",
        "dtype": item.dtype,
        "device": item.device,
        "device_name": device_name(item.device) if callable(device_name) else cpu_name(),
        "convention": binding.convention,
        "binding": item.binding,
        "form": item.form,
        "reduction": item.form.split(":", 1)[1],
        "args": {k: _plain(v) for k, v in item.inputs.args.items()},
        "flags": sorted(name for name, flag in conventions.of(adapter, binding).flags.items()
                        if binding.loss in flag.applies_to),
        "extra": {},
    }


def _plain(value):
    """A keyword argument's value as plain JSON (NumPy scalars from loaders become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


# Where the mathematics allows full relative accuracy and every stable implementation has it: the value of
# the softplus / log1p forms (binary cross entropy from logits without label smoothing, sigmoid, log-sigmoid,
# softplus) passes through no rounded quantity of size one, so a tiny result is judged relatively (no
# absolute floor: losing a representable 4e-18 entirely is a finding).  ``(loss, args it needs)``.
RELATIVE_VALUES: tuple[tuple[str, dict], ...] = (
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.0}),
    ("sigmoid", {}), ("log_sigmoid", {}), ("softplus", {}),
)


# What a declared deviation ``shows`` when the framework computes in the half dtype itself (float16 or
# bfloat16 arithmetic, not float32 with one final rounding): a check it covers is judged by the native
# half-precision bound (probabilistic gamma, docs/tolerances.md); within the one-rounding bound it passes,
# between the two it is this deviation, beyond the native bound it fails.
HALF_ARITHMETIC = "half-arithmetic"


def judged_relatively(loss: str, args: dict, gradient: bool) -> bool:
    """The value of ``loss`` with ``args`` has full relative accuracy in the mathematics (see
    :data:`RELATIVE_VALUES`): its bound gets no absolute floor for a unit-size intermediate."""
    if gradient:
        return False
    return any(loss == name and all(bool(args.get(k, False)) == bool(v) if isinstance(v, bool)
                                    else float(args.get(k, 0.0) or 0.0) == v for k, v in need.items())
               for name, need in RELATIVE_VALUES)


def value_bound(fn, inputs: dict, dtype: str, call: Call, loss: str, gradient: bool,
                model: str | None = None, scale: np.ndarray | None = None) -> tol.Bound:
    """The error bound of one check, per output element, with its parts (:class:`tolerance.Bound`).

    ``model``: the tolerance model (``tolerance.default_model(dtype)`` when None: float32 arithmetic and
    one rounding for the half dtypes).  Each row of a per-sample (or per-element) loss depends on its own
    inputs only, which makes the condition estimate exact and cheap (``independent_rows``); a reduced value
    gets the reduction of its samples' bounds (every reduction here is a non-negative linear combination;
    in the widened model the samples are float32 numbers, rounded once, after the reduction) plus its
    own final rounding.  ``scale``: the ``scale`` of an earlier bound of the same check (another model),
    which saves the condition estimate's evaluations.
    """
    axis = axis_argument(loss, call.args)
    events = entry(loss).event_rank
    rows = (axis == -1 or (axis is None and not sums_over_axes(loss))) and events == 1
    unit = entry(loss).unit_intermediate and not judged_relatively(loss, call.args, gradient)
    floats = float_inputs(inputs, loss)
    # The longest reduction inside one output element: a row (the class axis) when rows are independent,
    # a sample's trailing axes (time x classes) for a sequence loss, else every element.  A batch reduction
    # is bounded separately below.
    if events > 1:
        prediction = np.shape(inputs[entry(loss).prediction])
        terms = int(np.prod(prediction[len(prediction) - events:]))
    else:
        terms = row_terms(inputs) if rows else reduced_terms(inputs)
    if gradient or call.reduction == "none":
        return tol.bound(fn.widened, inputs, floats, dtype, terms, unit, independent_rows=rows, model=model,
                         scale=scale)
    per = tol.bound(fn.unreduced, inputs, floats, dtype, terms, unit, independent_rows=rows, model=model,
                    scale=scale)

    def reduced(x):  # as the check reduces its samples: weights and ignored labels included
        reduce_like = getattr(fn, "reduce_like", None)
        if reduce_like is not None:
            return reduce_like(x, **inputs)
        return np.asarray(reference.reduce(x, call.reduction), dtype=np.float64)

    value = fn.widened(**inputs)
    samples = np.asarray(fn.unreduced(**inputs), dtype=np.float64)
    # Summing the samples: gamma of their number times the reduction of their sizes (Higham, ch. 4).
    summed = tol.gamma(per.arithmetic, int(np.size(samples)), probabilistic=True if per.model == "widened" else None) \
        * reduced(tol.finite_abs(samples))
    if per.model == "widened":  # float32 samples, reduced in float32, the result rounded once
        inner = reduced(per.inner) + summed
        total = inner + tol.final_rounding(value, inner, dtype, per.model)
    else:
        inner = reduced(per.total) + summed
        total = inner + tol.final_rounding(value, 0.0, dtype, per.model)
    return tol.Bound(total=total, inner=inner, magnitude=reduced(per.magnitude), model=per.model,
                     arithmetic=per.arithmetic, scale=per.scale)


def row_terms(inputs: dict[str, np.ndarray]) -> int:
    """Length of the class axis (the last) of the value inputs: the longest reduction inside one row
    (labels and sample weights have no class axis)."""
    shapes = [np.shape(x) for name, x in inputs.items()
              if name not in LABEL_INPUTS and name != SAMPLE_WEIGHT and np.ndim(x) >= 1]
    return max((int(s[-1]) for s in shapes), default=1)


def _worst_excess(abs_err: np.ndarray, bound) -> tuple[list[int], float, float] | None:
    """Where the error exceeds its own element's bound by the largest factor: (index, error, bound)."""
    abs_err = np.asarray(abs_err, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), abs_err.shape)
    with np.errstate(all="ignore"):
        ratio = np.where(abs_err > bound, np.where(bound > 0, abs_err / bound, np.inf), 0.0)
    if abs_err.size == 0 or not np.any(ratio > 0):
        return None
    index = np.unravel_index(int(np.argmax(np.nan_to_num(ratio, nan=np.inf))), abs_err.shape)
    return [int(i) for i in index], float(abs_err[index]), float(bound[index])


def _error_record(measured: dict, bound: np.ndarray, inputs: dict, reduced: tuple[int, ...] = ()) -> dict:
    """The error summary; ``reduced``: the input axes a value's output lacks when they are not trailing (an
    overlap loss's summed axes), where the worst input is the whole slice."""
    worst = measured.get("worst_index")
    worst_input = None
    ndim = max((np.ndim(x) for x in inputs.values()), default=0)
    if worst is not None and reduced and len(worst) + len(reduced) == ndim:  # a batch reduction: no one slice
        rest = iter(worst)
        index = tuple(slice(None) if d in reduced else next(rest, 0) for d in range(ndim))
        worst_input = {name: small(np.asarray(x)[index]) for name, x in inputs.items() if np.ndim(x) == ndim}
    elif worst is not None:
        # an input that broadcasts (an axis of size 1: one target per pair) is read at index 0 along that axis
        worst_input = {name: small(np.asarray(x)[tuple(0 if n == 1 else i for i, n in zip(worst, np.shape(x)))]
                                   if np.ndim(x) else x)
                       for name, x in inputs.items() if np.ndim(x) >= len(worst) or np.ndim(x) == 0}
    return {"abs": measured["abs"], "rel": measured["rel"], "ulps": measured["ulps"],
            "tol": float(np.max(bound)) if np.size(bound) else 0.0, "worst_index": worst, "worst_input": worst_input}


# ---------------------------------------------------------------------------------------------------
# The checks


def compare(session, item: Item, kind: str) -> dict:
    """Value (``kind="value"``, ``"edge"``, ``"golden"``) or gradient (``kind="grad"``) check of one cell.

    ``session`` (:class:`lossparity.session.Session`) knows the adapters and caches their outcomes.
    """
    adapter = session.adapter(item.adapter)
    binding = adapter.bindings[item.binding]
    record = base_record(adapter, item, kind)
    got = session.outcome(item)
    if got.unsupported:
        return unsupported_record(adapter, record, got)
    call = make_call(item, binding)
    gradient = kind == "grad"
    convention = conventions.of(adapter, binding)
    work = compute_dtype(adapter, call)
    inputs = quantized_inputs(call.inputs, work) if work != item.dtype else dict(call.inputs)
    fn = reference_loss(binding.loss, call.args, convention, binding.granularity, call.reduction, gradient,
                        dtype=work, cotangent=call.cotangent, wrt=item.wrt if gradient else None)
    if gradient and item.wrt:
        record["extra"]["wrt"] = item.wrt
    expected, expected_behaviour = evaluate_reference(fn, inputs)
    record["extra"]["compute_dtype"] = work
    if expected is not None:
        expected = tol.saturate(tol.saturate(expected, work), call.dtype if gradient else adapter.output_dtype(call))
        expected_behaviour = classify(expected)
    actual = got.grad if gradient else got.value
    observed = classify(actual, got.error) if not (gradient and got.error is None and actual is None) else "missing"
    record["expected"] = small(expected) if expected is not None else expected_behaviour
    record["observed"] = small(actual) if got.error is None else f"error:{got.error}"
    record["extra"]["behaviour"] = {"framework": observed, "reference": expected_behaviour}
    record["duration_s"] = got.seconds

    deviation = covering_deviation(adapter, item, kind)
    agrees = same_behaviour(observed, expected_behaviour)
    if agrees and expected is not None and actual is not None:
        actual_arr = np.asarray(actual, dtype=np.float64)
        if actual_arr.shape != np.shape(expected):
            agrees = False
            record["reason"] = f"shape {list(actual_arr.shape)} != reference {list(np.shape(expected))}"
        else:
            # Values: the default model of the dtype (float32 arithmetic, one rounding, for the half
            # dtypes).  Gradients: every framework measured runs its backward pass in the input's dtype,
            # so the native model (probabilistic gamma for the half dtypes).  docs/tolerances.md.
            parts = value_bound(fn, inputs, work, call, binding.loss, gradient,
                                model="native" if gradient else None)
            bound = parts.total
            # The result is rounded once more into the dtype it comes back in, when that is not the one it
            # was computed in (a gradient flows back through a cast to the input's dtype).
            returned = call.dtype if gradient else adapter.output_dtype(call)
            if returned != work:
                bound = bound + tol.final_rounding(expected, bound, returned, "native")
            # ulps at no less than the computation's own magnitude (C, plus 1 for a unit-size rounded
            # intermediate), not at a result that cancelled to near zero; a result judged relatively
            # has a magnitude of its own size, so its ulps (and rel) are honest.
            measured = tol.measure(actual_arr, expected, work, floor=parts.magnitude)
            record["extra"]["tolerance_model"] = parts.model
            reduced = () if gradient or not sums_over_axes(binding.loss) else reduced_axes(
                binding.loss, call.args, np.ndim(call.inputs.get(entry(binding.loss).prediction)))
            record["grad_error" if gradient else "value_error"] = _error_record(measured, bound, inputs, reduced)
            agrees = agreement(actual_arr, observed, expected, expected_behaviour, bound)
            if not agrees:
                excess = _worst_excess(measured["_abs_array"], bound)
                if excess is not None:
                    record["reason"] = (f"at index {excess[0]}: abs error {excess[1]:.3g} > tolerance "
                                        f"{excess[2]:.3g} there ({measured['ulps']:.3g} ulp at worst)")
                if (deviation is not None and deviation.shows == HALF_ARITHMETIC and parts.model == "widened"
                        and not agrees):
                    # Declared: this framework computes in the half dtype itself.  Judged by the native
                    # model's bound instead: within it, the declaration shows; beyond it, a finding.
                    native = value_bound(fn, inputs, work, call, binding.loss, gradient, model="native",
                                         scale=parts.scale).total
                    within = agreement(actual_arr, observed, expected, expected_behaviour, native)
                    record["extra"]["half_arithmetic"] = {
                        "bound": float(np.max(native)), "within": within,
                        "ulps_of_result": float(np.max(measured["_abs_array"] / tol.ulp(expected, work)))}
                    if within:
                        observed = HALF_ARITHMETIC
            if not gradient:
                math_fn = reference_loss(binding.loss, call.args, reference.get_convention("math"),
                                         binding.granularity, call.reduction)
                math_value, _ = evaluate_reference(math_fn, inputs)
                if math_value is not None:
                    distance = tol.measure(actual_arr, math_value, work)
                    record["math_distance"] = {"abs": distance["abs"], "rel": distance["rel"]}
    if deviation is not None and deviation.shows == HALF_ARITHMETIC and agrees:
        deviation = None  # within the one-rounding bound here: this input shows no half-precision arithmetic
    verdict, reason = judge(agrees, observed, deviation)
    if verdict == "fail" and observed != expected_behaviour:
        reason += f" where the reference under '{binding.convention}' gives {expected_behaviour}"
        if got.error:
            reason += f" ({got.error})"
    if verdict == "fail" and deviation is None:
        new = unverified(adapter, item, kind, binding)
        if new:
            reason += f"; {new}"
            # Would a declaration of another release explain it exactly?  Then it is the same behaviour on this
            # release (widen that range once verified), not a new one.
            for other in _covering(adapter, item, kind):
                if not holds(other.versions, adapter) and judge(agrees, observed, other)[0] == "deviation":
                    record["extra"]["shows_as_declared"] = {"deviation": other.name, "versions": other.versions,
                                                            "release": release(adapter)}
                    reason += f"; it shows exactly as '{other.name}' declares"
                    break
    record["verdict"] = verdict
    record["deviation"] = deviation.name if deviation else None
    if reason and not record.get("reason"):
        record["reason"] = reason
    elif reason:
        record["reason"] = f"{reason}: {record['reason']}"
    return record


def dtype_check(session, item: Item) -> dict:
    """The output dtype and shape are what the framework documents for this call."""
    adapter = session.adapter(item.adapter)
    binding = adapter.bindings[item.binding]
    record = base_record(adapter, item, "dtype")
    got = session.outcome(item)
    if got.unsupported:
        return unsupported_record(adapter, record, got)
    call = make_call(item, binding)
    fn = reference_loss(binding.loss, call.args, conventions.of(adapter, binding),
                        binding.granularity, call.reduction)
    expected_value, behaviour = evaluate_reference(fn, dict(call.inputs))
    want = {"dtype": adapter.output_dtype(call),
            "shape": list(np.shape(expected_value)) if expected_value is not None else None}
    have = {"dtype": got.dtype, "shape": list(np.shape(got.value)) if got.value is not None else None}
    if binding.grad_wrt and got.grad is not None:
        # A gradient has the dtype of what it is taken with respect to, whatever the output's is.
        want["grad_dtype"], have["grad_dtype"] = call.dtype, got.grad_dtype
        want["grad_shape"] = list(np.shape(call.inputs[binding.grad_wrt]))
        have["grad_shape"] = list(np.shape(got.grad))
    record["expected"], record["observed"] = want, (have if got.error is None else f"error:{got.error}")
    agrees = got.error is None and want == have
    verdict, reason = judge(agrees, "differs" if got.error is None else classify(None, got.error),
                            covering_deviation(adapter, item, "dtype"))
    record["verdict"], record["reason"] = verdict, reason if agrees or verdict != "fail" else f"{reason}: want {want}, have {have}"
    record["deviation"] = getattr(covering_deviation(adapter, item, "dtype"), "name", None)
    return record


def framework_value(session, item: Item) -> np.ndarray | None:
    got = session.outcome(item)
    return None if got.value is None else np.asarray(got.value, dtype=np.float64)


def _witness_forms(binding: Binding, inputs: InputSet) -> list[str]:
    """The forms a flag witness tries on ``inputs``: the binding's first, and for a batch holding weights
    (whose flags change a mean's denominator) or a case about a mean, its first ``mean`` form too."""
    forms = [binding.forms[0]]
    if (inputs.reduction == "mean" or any(name in reference.WEIGHT_PARAMETERS for name in inputs.inputs)
            or inputs.args.get("ignore_class") is not None):
        forms += [f for f in binding.forms if f.endswith((":mean", ":sum_over_batch_size"))][:1]
    return forms


def flag_witness(session, adapter_name: str, flag: str, pool: list[InputSet]) -> dict:
    """Show that convention flag ``flag`` still changes the framework's number.

    Among ``pool``, find inputs where the reference under the adapter's convention and under the same
    convention without ``flag`` clearly differ (in behaviour, or by more than ten error bounds), first
    in the value, else in the gradient; the framework must match the former and not the latter.  Every
    input is tried in float32 first; then the inputs that prescribe another dtype (an edge case in float64,
    for a flag below float32's rounding) in that dtype.  No such input is a failure too: a flag nothing
    exercises cannot be trusted.
    """
    adapter = session.adapter(adapter_name)
    record = {"id": f"convention:{adapter.name}-{flag}", "kind": "convention", "framework": adapter.name,
              "framework_version": adapter.version(), "dtype": "float32", "device": "cpu", "loss": None,
              "case": None, "deviation": flag, "convention": None}
    looked = 0
    elsewhere = {f.versions for b in adapter.bindings.values() for f in conventions.out_of_range(adapter, b)
                 if f.name == flag}
    if elsewhere:
        record.update(verdict="skip", reason=f"flag '{flag}' is declared for {', '.join(sorted(elsewhere))}: not "
                                             f"verified on {adapter.name} {release(adapter)}")
        record["extra"] = {"unverified": {"flag": flag, "versions": sorted(elsewhere), "release": release(adapter)}}
        return record
    for quantity in ("value", "grad"):
        for key, binding in adapter.bindings.items():
            convention = conventions.of(adapter, binding)
            if flag not in convention.flags or binding.loss not in convention.flags[flag].applies_to:
                continue
            if quantity == "grad" and not binding.grad_wrt:
                continue
            spec = convention.flags[flag]
            record["extra"] = {"flag": {"name": flag, "value": repr(spec.value), "summary": spec.summary,
                                        "source": spec.source, "versions": spec.versions}}
            gradient = quantity == "grad"
            tries = [(inputs, "float32") for inputs in pool] + [
                (inputs, inputs.dtype) for inputs in pool if inputs.dtype not in (None, "float32")]
            for inputs, dtype, form in ((s, d, f) for s, d in tries for f in _witness_forms(binding, s)):
                if inputs.loss != binding.loss:
                    continue
                item = Item(adapter.name, key, form, dtype, "cpu", inputs)
                call = make_call(item, binding)
                if not binding.accepts(call):
                    continue
                computed = dtype if dtype == "float32" else compute_dtype(adapter, call)
                if dtype != "float32" and computed == "float32":
                    continue  # computed in float32 after all: the first pass tried it
                looked += 1
                on = reference_loss(binding.loss, call.args, convention, binding.granularity, call.reduction,
                                    gradient, dtype=computed)
                off = reference_loss(binding.loss, call.args, convention.without(flag), binding.granularity,
                                     call.reduction, gradient, dtype=computed)
                a, a_behaviour = evaluate_reference(on, dict(call.inputs))
                b, b_behaviour = evaluate_reference(off, dict(call.inputs))
                bound = 0.0
                if a is not None and a_behaviour == "value":
                    bound = tol.error_bound(on.widened, dict(call.inputs), float_inputs(call.inputs, binding.loss),
                                            computed, reduced_terms(call.inputs),
                                            unit_intermediate=entry(binding.loss).unit_intermediate)
                if agreement(b, b_behaviour, a, a_behaviour, 10 * np.asarray(bound)):
                    continue
                got = session.outcome(item)
                actual = got.grad if gradient else got.value
                observed = classify(actual, got.error)
                record.update(binding=key, form=item.form, reduction=call.reduction,
                              args={k: _plain(v) for k, v in call.args.items()}, flags=[flag])
                record.update(loss=binding.loss, case=inputs.id, convention=binding.convention, dtype=dtype,
                              api=f"{binding.api} [{item.form}]", expected=small(a) if a is not None else a_behaviour,
                              observed=small(actual) if got.error is None else f"error:{got.error}")
                record["extra"].update(quantity=quantity, without_flag=small(b) if b is not None else b_behaviour)
                if a is not None and b is not None:  # the flag's effect: with it against without it
                    gap = tol.measure(a, b, computed)
                    record["math_distance"] = {"abs": gap["abs"], "rel": gap["rel"]}
                follows = agreement(actual, observed, a, a_behaviour, bound)
                plain = agreement(actual, observed, b, b_behaviour, bound)
                if follows and not plain:
                    record.update(verdict="pass", reason=f"witnessed by the {quantity} of {key} on {inputs.id}")
                elif plain:
                    record.update(verdict="fail", reason=f"convention flag '{flag}' no longer shows: the {quantity} "
                                                         f"of {key} on {inputs.id} matches the reference without it")
                else:
                    record.update(verdict="fail", reason=f"the {quantity} of {key} on {inputs.id} ({observed}) matches "
                                                         f"neither the convention with '{flag}' ({a_behaviour}) nor "
                                                         f"without ({b_behaviour})" + (f": {got.error}" if got.error else ""))
                return record
    record.update(verdict="fail", reason=f"no input among {looked} candidates makes flag '{flag}' change a value "
                                         f"or gradient: add an edge case that shows it")
    return record


def half_unit(printed_text: str) -> float:
    return tol.printed_tolerance(printed_text)


def golden_check(session, adapter_name: str, case, printed_text: str, printed_tol: float) -> dict:
    """The framework on a document's worked example: agrees with the reference under its convention, and
    reproduces the printed number exactly when the reference under that convention does."""
    adapter = session.adapter(adapter_name)
    inputs = InputSet.from_case(case)
    printed = float(printed_text)
    # Reductions that give the same number on a document's single batch of per-sample losses.
    equivalent = EQUIVALENT_REDUCTIONS
    for key, binding in adapter.bindings.items():
        if binding.loss != case.loss:
            continue
        for form in binding.forms:
            item = Item(adapter.name, key, form, case.dtype, "cpu", inputs)
            call = make_call(item, binding)
            if (not binding.accepts(call)
                    or call.reduction not in equivalent.get(case.reduction, (case.reduction,))):
                continue
            record = compare(session, item, "golden")
            record["id"] = f"golden:{adapter.name}-{case.id}"
            actual = framework_value(session, item)
            fn = reference_loss(binding.loss, call.args, conventions.of(adapter, binding),
                                binding.granularity, call.reduction, dtype=case.dtype)
            expected, _ = evaluate_reference(fn, dict(call.inputs))
            if actual is None or expected is None or np.size(actual) != 1:
                record.update(verdict="skip" if record["verdict"] != "fail" else "fail",
                              reason=record.get("reason") or f"{key} returns {np.shape(actual)} values; the "
                                                              f"document printed one number")
                return record
            value = float(np.ravel(actual)[0])
            reference_value = float(np.ravel(expected)[0])
            # A tolerance is never infinite, and a reference that overflows (or gives NaN) under the case's own
            # convention where the document printed a finite number is an error of the case, not a pass.
            if not np.isfinite(printed_tol) or (not np.isfinite(reference_value)
                                                and binding.convention == case.convention):
                record["extra"].update(printed=printed_text, printed_tolerance=float(printed_tol),
                                       reference=reference_value)
                record.update(verdict="error", reason=(
                    f"the case is in error: the reference under '{binding.convention}' gives {reference_value} "
                    f"(tolerance {float(printed_tol):.3g}) where the document printed {printed_text}"))
                return record
            known = (case.expect.by_convention or {}).get(binding.convention) if case.kind == "golden" else None
            if known is None:
                reproduces = bool(abs(value - printed) <= printed_tol)
                should = bool(abs(reference_value - printed) <= printed_tol)
            else:
                # The case records what this very convention prints, in the document's dtype: the
                # strictest oracle.  A printed float tensor is the shortest decimal naming one value of
                # its dtype, so reproducing it means the printed digits or two ulps (another libm's last
                # bit); that is what tells Keras 2's 2.3025842 from Keras 3's 2.3025851.
                reach = float(max(half_unit(printed_text), 2 * tol.ulp(printed, case.dtype)))
                reproduces = bool(abs(value - printed) <= reach)
                should = float(known) == printed
                if record["verdict"] == "pass" and abs(value - float(known)) > reach:
                    record.update(verdict="fail", reason=f"{adapter.name} gives {value!r}; the case records "
                                                         f"{known} for convention '{binding.convention}'")
            record["extra"].update(printed=printed_text, reproduces_printed=reproduces,
                                   reference_reproduces_printed=should, printed_tolerance=printed_tol,
                                   case_convention=case.convention, by_convention=known)
            if record["verdict"] in ("pass", "deviation") and reproduces != should:
                record.update(verdict="fail", reason=(
                    f"framework {'reproduces' if reproduces else 'does not reproduce'} the printed {printed} "
                    f"but the reference under '{binding.convention}' {'does' if should else 'does not'}"))
            elif record["verdict"] == "pass" and not reproduces and case.convention != binding.convention:
                record["reason"] = (f"printed {printed} came from convention '{case.convention}'; "
                                    f"{adapter.name} now follows '{binding.convention}': a recorded version change")
            return record
    return {"id": f"golden:{adapter.name}-{case.id}", "kind": "golden", "case": case.id, "loss": case.loss,
            "framework": adapter.name, "verdict": "skip",
            "reason": f"no {adapter.name} API form computes {case.loss} with {dict(case.args)} and reduction "
                      f"'{case.reduction}'"}
