"""Check your own loss: run a hand-written implementation through the suite's battery.

:func:`check_loss` wraps ``fn`` as an adapter of the framework it is written in (the framework's own
arrays, dtypes, device and autodiff come from that framework's built-in adapter), plans the same cells the
matrix plans for the loss (every dtype, the generated batches, the clip witnesses, the edge battery),
and judges each with the same comparison the matrix uses, under the convention you name.

  >>> import numpy as np, lossparity
  >>> def mse(y_true, y_pred):          # "the framework" here is NumPy itself (framework="numpy")
  ...     return np.mean((y_pred - y_true) ** 2, axis=-1)
  >>> result = lossparity.check_loss(mse, loss="mean_squared_error", framework="numpy",
  ...                               dtypes=("float32", "float64"))
  >>> result.ok, len(result.records) > 5
  (True, True)
  >>> half = lossparity.check_loss(mse, loss="mean_squared_error", framework="numpy", dtypes=("float16",))
  >>> print(half.summary())   # doctest: +ELLIPSIS
  edge float16 edge.mse.float16-overflow: undeclared deviation from the reference: inf where the reference ...
  1 fail, ... pass
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import adapters as _adapters
from adapters.protocol import Binding, Call, Deviation, Outcome, timed
from lossparity import checks
from lossparity.catalogue import entry
from lossparity.conventions import registry, resolve
from lossparity.plan import Selection
from lossparity.records import CheckRecord
from lossparity.session import Session
from lossparity.tolerance import FLOAT_DTYPES
from reference import Convention

__all__ = ["check_loss", "assert_loss_conforms", "LossCheckResult", "NumpyFramework"]

ACCEPTED = ("pass", "deviation")


@dataclass
class LossCheckResult:
    """What :func:`check_loss` found.

    ``records``: every check (:class:`lossparity.records.CheckRecord`); ``failures``: those whose verdict
    is neither ``pass`` nor ``deviation``; ``ok``: there are none and at least one check ran.
    """

    records: list[CheckRecord] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckRecord]:
        return [r for r in self.records if r.verdict not in ACCEPTED + ("skip",)]

    @property
    def ok(self) -> bool:
        return bool(self.records) and not self.failures

    def summary(self, limit: int = 10) -> str:
        """One line per failure (at most ``limit``), then the counts per verdict."""
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        lines = [f"{r.kind} {r.dtype} {r.case}: {r.reason}" for r in self.failures[:limit]]
        if len(self.failures) > limit:
            lines.append(f"... and {len(self.failures) - limit} more failures")
        lines.append(", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
        return "\n".join(lines)


class NumpyFramework:
    """A minimal "framework" whose arrays are NumPy arrays and which has no autodiff (values only).

    Used by ``framework="numpy"``: a NumPy implementation is checked for its values in every dtype
    NumPy has (float16, float32, float64); gradients are not checked.
    """

    name = "numpy"
    bindings: Mapping[str, Binding] = {}
    deviations = ()
    conventions: Mapping[str, Convention] = {}
    dtypes = ("float16", "float32", "float64")  # NumPy has no bfloat16 of its own

    def version(self) -> str:
        return np.__version__

    def available(self) -> str | None:
        return None

    def devices(self) -> list[str]:
        return ["cpu"]

    def output_dtype(self, call: Call) -> str:
        return call.dtype

    def run(self, call: Call) -> Outcome:
        raise NotImplementedError("NumpyFramework has no losses of its own")

    def run_callable(self, fn: Callable, call: Call, wrt: str | None) -> Outcome:
        def go():
            arrays = {name: (np.asarray(x) if np.asarray(x).dtype.kind in "iub" else np.asarray(x).astype(call.dtype))
                      for name, x in call.inputs.items()}
            out = np.asarray(fn(**arrays))
            return Outcome(value=out.astype(np.float64), dtype=str(out.dtype))

        return timed(go)


@dataclass(frozen=True)
class UserBinding(Binding):
    """The user's function takes its inputs only: input sets with another class axis than the last are not
    its (unless ``args`` names the axis, which it then implements)."""

    def accepts(self, call: Call) -> bool:
        return super().accepts(call) and (call.args.get("axis", -1) in (-1, None) or "axis" in self.requires)


class UserAdapter:
    """An adapter whose one binding is the user's function, run through a framework's arrays and autodiff."""

    def __init__(self, fn: Callable, framework, loss: str, convention: Convention, args: Mapping[str, Any],
                 dtypes: Sequence[str], grad_wrt: str | None, half_precision: str = "native"):
        self.fn, self.framework = fn, framework
        self.name = f"{framework.name}:{getattr(fn, '__name__', 'fn')}"
        self.conventions = {convention.name: convention}
        # Hand-written code in float16/bfloat16 computes in that dtype (as the frameworks' own losses do):
        # judged against half-precision rounding, not against float32 arithmetic rounded once.
        self.deviations = () if half_precision == "one_rounding" else (Deviation(
            "user-code-computes-in-half-precision", "the function computes in the half dtype it is given",
            {"dtype": ("float16", "bfloat16"), "kind": ("value", "grad", "edge")}, "half-arithmetic", "*",
            "check_loss(half_precision='native')"),)
        self.bindings = {loss: UserBinding(
            loss=loss, api=f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}",
            forms=("function:none",), convention=convention.name, granularity="sample", args=tuple(args),
            dtypes=tuple(dtypes), grad_wrt=grad_wrt, requires=dict(args))}

    def version(self) -> str:
        return f"user function on {self.framework.name} {self.framework.version()}"

    def available(self) -> str | None:
        return self.framework.available()

    def devices(self) -> list[str]:
        return self.framework.devices()

    def output_dtype(self, call: Call) -> str:
        """What the framework returns for this dtype (JAX without x64 returns float32 for float64 inputs)."""
        return self.compute_dtype(call)

    def compute_dtype(self, call: Call) -> str:
        declared = getattr(self.framework, "compute_dtype", None)
        return declared(call) if callable(declared) else call.dtype

    def run(self, call: Call) -> Outcome:
        binding = self.bindings[call.loss]
        return self.framework.run_callable(self.fn, call, binding.wrt(call))


def _framework(framework) -> Any:
    if not isinstance(framework, str):
        return framework
    if framework == "numpy":
        return NumpyFramework()
    if framework in _adapters.BUILTIN:
        return _adapters.load(_adapters.BUILTIN[framework])
    return _adapters.load(framework)


def check_loss(fn: Callable, *, loss: str, framework: str | Any, convention: str | Convention = "math",
               args: Mapping[str, Any] | None = None, dtypes: Sequence[str] | None = None,
               devices: Sequence[str] = ("cpu",), edge: bool = True, sweep: bool = False,
               refuse_invalid: bool = False, half_precision: str = "native") -> LossCheckResult:
    """Check ``fn``, your implementation of ``loss``, against the reference through the suite's battery.

    Args:
      fn: ``fn(**inputs) -> per-sample loss``.  It receives the framework's arrays (torch tensors, JAX
        arrays, TensorFlow tensors, NumPy arrays) as keyword arguments named like the reference function's
        positional parameters (``reference.<loss>``; e.g. ``labels`` and ``y_pred`` for sparse cross
        entropy) and returns the per-sample loss (the class axis reduced, the batch axes kept).
      loss: a catalogue name (``lossparity.catalogue.CATALOGUE``), e.g. ``"sparse_categorical_crossentropy"``.
      framework: the framework ``fn`` is written in: ``"torch"``, ``"optax"`` (JAX), ``"keras"``
        (TensorFlow), ``"numpy"`` (values only), an adapter spec ``"module:ATTR"``, or an adapter object
        with a ``run_callable(fn, call, wrt)`` method.
      convention: what ``fn`` is meant to compute: ``"math"`` (default), a convention a built-in adapter
        declares (``"keras"``, ``"torch"``...), or a :class:`reference.Convention`.
      args: the reference keyword arguments ``fn`` implements (e.g. ``{"from_logits": True}``); only input
        sets with these arguments are checked.  They are not passed to ``fn``.
      dtypes: float dtypes to check (default: every one the framework has).
      devices: ``"cpu"`` and/or ``"gpu"``.
      edge: also run the loss's edge battery (``cases/edge``) where its arguments match.
      sweep: every input set in every dtype (slower) instead of the covering plan.
      refuse_invalid: also require ``fn`` to raise where the reference refuses the input (an out-of-range
        label, mismatched shapes); by default those edge cases are recorded as skipped.
      half_precision: ``"native"`` (default): in float16/bfloat16 ``fn`` may compute in the half dtype
        (judged against half-precision rounding, as the frameworks' own losses that do so are);
        ``"one_rounding"``: it must be as accurate as float32 arithmetic rounded once to the half dtype.

    Returns:
      :class:`LossCheckResult` with ``.ok``, ``.failures`` and ``.records``.

    Raises:
      KeyError: ``loss`` is not in the catalogue.  ValueError: an argument outside its domain, an unknown
      convention, or a framework that cannot run here (with the reason).
    """
    info = entry(loss)
    args = dict(args or {})
    info.validate_args(args)
    base = _framework(framework)
    reason = base.available()
    if reason:
        raise ValueError(f"framework {getattr(base, 'name', base)!r} cannot run here: {reason}")
    if not callable(getattr(base, "run_callable", None)):
        raise ValueError(f"framework {getattr(base, 'name', base)!r} has no run_callable(fn, call, wrt)")
    known = registry(_adapters.builtin())
    conv = resolve(convention, known)
    has_grad = not isinstance(base, NumpyFramework)
    offered = getattr(base, "dtypes", None) or FLOAT_DTYPES
    offered = tuple(offered() if callable(offered) else offered)
    wanted = tuple(d for d in (dtypes or offered) if d in offered)
    if half_precision not in ("native", "one_rounding"):
        raise ValueError(f"half_precision={half_precision!r}: use 'native' or 'one_rounding'")
    user = UserAdapter(fn, base, loss, conv, args, wanted, info.prediction if has_grad else None, half_precision)
    selection = Selection(dtypes=wanted, devices=tuple(devices), sweep=sweep)
    session = Session([user], selection)
    items, edges = session.plan
    result = LossCheckResult()
    for item in items:
        if item.wrt is not None:  # a gradient cell with respect to another input
            if has_grad:
                result.records.append(_typed(checks.compare(session, item, "grad")))
            continue
        result.records.append(_typed(checks.compare(session, item, "value")))
        result.records.append(_typed(checks.dtype_check(session, item)))
        if has_grad:
            result.records.append(_typed(checks.compare(session, item, "grad")))
    if edge:
        for item in edges:
            if item.inputs.source != "edge":
                continue
            record = checks.compare(session, item, "edge")
            expected = (record["extra"].get("behaviour") or {}).get("reference", "")  # none: a skip (unsupported)
            if expected.startswith("error") and not refuse_invalid:
                record.update(verdict="skip", reason=(
                    f"the reference refuses this input ({expected}); whether {user.name} refuses it too is "
                    f"checked with refuse_invalid=True"))
            result.records.append(_typed(record))
    return result


def assert_loss_conforms(fn: Callable, **kwargs) -> LossCheckResult:
    """:func:`check_loss`, raising ``AssertionError`` listing the failures (for a pytest test)."""
    result = check_loss(fn, **kwargs)
    if not result.ok:
        raise AssertionError(f"{getattr(fn, '__name__', fn)} does not conform:\n{result.summary()}")
    return result


def _typed(record: dict) -> CheckRecord:
    """The engine's record as the typed :class:`CheckRecord` (completed and validated as the results file's)."""
    import msgspec

    from reports import results

    return msgspec.convert(results.complete_record(record), CheckRecord)
