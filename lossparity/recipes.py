"""Running the migration recipes (``recipes/``): each one a check like any other.

A recipe (:class:`recipes.Recipe`) is code in a *target* framework's API meant to return what a *source*
framework computes.  :func:`run` checks it with :func:`lossparity.check_loss` against the reference under
the source framework's convention (the one the source adapter declares for that loss), through the target
framework's arrays, dtypes and autodiff: the generated batches, the clip witnesses, the edge battery,
gradients.  It returns ONE summary record, kind ``recipe`` (a dict of
:class:`lossparity.records.CheckRecord` fields):

* ``id`` ``recipe:<loss>:<source>-><target>:<function>``; ``framework`` the target (``framework_version``
  its version); ``convention`` the source's convention; ``flags`` that convention's flags for the loss;
  ``binding`` the recipe function's name; ``form`` ``function:none``, ``reduction`` ``none``; ``args`` the
  reference arguments it reproduces; ``dtype`` null (the checked dtypes are in ``max_ulps_by_dtype``);
* ``verdict`` ``pass`` when every check ``check_loss`` made passes; ``deviation`` when the only failures are
  ones a declared deviation of the target framework explains (the recipe runs on the target's kernels:
  ``extra.deviations`` names them); else ``fail`` with the first failure as ``reason``; ``skip`` with the
  reason when the target framework cannot run here;
* ``value_error`` / ``grad_error``: the worst residual (largest ulps) over the value and edge / gradient
  checks, an ``ErrorMeasure``; ``extra.worst`` says which check (kind, dtype, case) each comes from;
* ``math_distance``: for this kind, what you get WITHOUT the recipe: the largest ``abs`` / ``rel``
  difference between the target's own function and the source's number on the same inputs (generated
  batches and edge cases, where both give a number);
* ``extra``: ``source``, ``target``, ``code`` (the function's source, what a porting engineer copies),
  ``differences`` (declared), ``note``, ``checks`` (count by verdict), ``max_ulps_by_dtype``
  (``{dtype: {"value": u, "grad": u}}``), ``worst``, ``without_recipe`` (:func:`without_recipe`),
  ``flag_differences`` (:func:`flag_differences`); ``dtypes_not_checked`` (``{dtype: why}``) when the target
  cannot compute one of the recipe's dtypes natively in this process; ``deviations`` (``{name: [check]}``)
  when the target's declared deviations explain some checks; ``failures`` (up to five) on a fail.

  >>> from lossparity import recipes as runner
  >>> sorted({r.target for r in runner.collect()})
  ['keras', 'optax', 'torch']
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from typing import Any, Callable, Iterable

import msgspec
import numpy as np

import adapters as _adapters
import recipes as _recipes
from adapters.protocol import Binding, Call, classify, holds
from lossparity import checks, conventions
from lossparity import tolerance as tol
from lossparity.api import check_loss
from lossparity.catalogue import entry
from lossparity.inputs import generated
from lossparity.session import Session
from reference import Convention

__all__ = ["collect", "run", "run_all", "source_convention", "without_recipe", "candidate_flags", "flag_differences",
           "shared_losses", "uncovered", "KIND"]

KIND = "recipe"
# How a per-element output becomes the reference's per-sample loss (over the class axis): mean, but the
# KL divergence sums its terms.
ELEMENT_REDUCTION = {"kl_divergence": np.sum}
# The input name under which an activation's gradient seed travels (see _RecipeFramework).
_SEED = "_cotangent"


def collect(targets: Iterable[str] | None = None) -> list:
    """Every recipe (:func:`recipes.collect`)."""
    return _recipes.collect(tuple(targets) if targets is not None else None)


@functools.lru_cache(maxsize=None)
def _adapter(name: str):
    if name not in _adapters.BUILTIN:
        raise KeyError(f"no built-in adapter {name!r} (built in: {sorted(_adapters.BUILTIN)})")
    return _adapters.load(_adapters.BUILTIN[name])


def _convention_for(adapter, loss: str) -> Convention:
    """The convention ``adapter`` declares for ``loss`` (its binding's; else its ``convention_for``)."""
    binding = next((b for b in adapter.bindings.values() if b.loss == loss), None)
    if binding is not None:
        return conventions.of(adapter, binding)
    name = adapter.convention_for(loss) if hasattr(adapter, "convention_for") else "math"
    return conventions.resolve(name, conventions.registry([adapter]))


def source_convention(recipe) -> Convention:
    """The convention the source adapter declares for the recipe's loss (what the recipe must reproduce)."""
    return _convention_for(_adapter(recipe.source), recipe.loss)


class _RecipeFramework:
    """The target adapter, handing the recipe the per-input-set values of the arguments it declares.

    ``check_loss`` passes a function only the arguments that do not select input sets (``axis``); a recipe
    that takes ``label_smoothing=`` (its value differs between input sets) gets it from each call here.
    Everything else is the target adapter's own (arrays, dtypes, device, autodiff).
    """

    def __init__(self, base, fn: Callable):
        self._base = base
        self.name = base.name
        params = inspect.signature(fn).parameters
        self._declared = tuple(name for name, p in params.items() if p.default is not inspect.Parameter.empty)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._base, attr)

    def run_callable(self, fn: Callable, call: Call, wrt: str | None):
        given = {k: _plain(v) for k, v in call.args.items() if k in self._declared}
        fn = functools.partial(fn, **given) if given else fn
        if wrt is None or call.cotangent is None:
            return self._base.run_callable(fn, call, wrt)
        # An activation's gradient is seeded with the call's cotangent (the reference's is), which the
        # adapters' run_callable leaves out (it differentiates the plain sum): the value comes from one
        # call, the gradient of sum(cotangent * output) from a second, the cotangent travelling as one more
        # input so that the adapter makes it an array of the call's dtype on the call's device.
        plain = dataclasses.replace(call, cotangent=None)
        value = self._base.run_callable(fn, plain, None)
        if value.error is not None:
            return value
        seeded = dataclasses.replace(plain, inputs={**call.inputs, _SEED: np.asarray(call.cotangent)})
        grad = self._base.run_callable(lambda **arrays: fn(**{k: v for k, v in arrays.items() if k != _SEED})
                                       * arrays[_SEED], seeded, wrt)
        value.grad, value.grad_dtype, value.seconds = grad.grad, grad.grad_dtype, value.seconds + grad.seconds
        value.error = grad.error
        return value


def _native_dtypes(adapter, recipe) -> tuple[tuple[str, ...], dict[str, str]]:
    """The recipe's dtypes that the target computes in natively in this process, and why the others are
    left out (JAX without x64 computes float64 inputs in float32: the adapter's ``compute_dtype`` says so)."""
    declared = getattr(adapter, "compute_dtype", None)
    offered = getattr(adapter, "dtypes", None)
    offered = tuple(offered() if callable(offered) else offered or recipe.dtypes)
    kept, dropped = [], {}
    for dtype in recipe.dtypes:
        if dtype not in offered:
            dropped[dtype] = f"{adapter.name} has no {dtype}"
            continue
        call = Call(loss=recipe.loss, inputs={}, args=dict(recipe.args), form="function:none", dtype=dtype)
        work = declared(call) if callable(declared) else dtype
        if work != dtype:
            dropped[dtype] = f"{adapter.name} computes {dtype} inputs in {work} in this process"
            continue
        kept.append(dtype)
    return tuple(kept), dropped


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _number(value) -> float:
    """An error measure's number (the results file writes non-finite ones as strings)."""
    if value is None:
        return -1.0
    if isinstance(value, str):
        return float("inf") if value in ("inf", "nan") else float("-inf")
    return float(value)


def _worst(records, kinds: tuple[str, ...], field: str) -> tuple[dict | None, dict | None]:
    """The largest residual (in ulps) among ``records`` of ``kinds``, and where it is (kind, dtype, case)."""
    best, where = None, None
    for r in records:
        measure = getattr(r, field)
        if r.kind not in kinds or measure is None:
            continue
        if best is None or _number(measure.ulps) > _number(best.ulps):
            best, where = measure, {"kind": r.kind, "dtype": r.dtype, "case": r.case}
    return (msgspec.to_builtins(best) if best is not None else None), where


def _ulps_by_dtype(records) -> dict:
    out: dict[str, dict[str, float]] = {}
    for r in records:
        for quantity, measure in (("value", r.value_error), ("grad", r.grad_error)):
            if measure is None or measure.ulps is None or r.dtype is None:
                continue
            slot = out.setdefault(r.dtype, {})
            slot[quantity] = max(slot.get(quantity, 0.0), _number(measure.ulps))
    return {d: {q: round(v, 3) if np.isfinite(v) else "inf" for q, v in sorted(s.items())} for d, s in sorted(out.items())}


def _plain_output(adapter, loss: str, inputs: dict, args: dict, dtype: str) -> tuple[np.ndarray | None, str, str | None]:
    """What the target framework's own function gives on these inputs, per sample: ``(values, how, error)``.

    Its binding for the loss, unreduced, with the arguments the binding understands (an argument it lacks,
    such as ``label_smoothing``, is simply not applied); an elementwise output is reduced over the class axis
    the way the reference's per-sample loss is.  Where no binding takes the inputs (torch's and optax's cross
    entropies take logits only), the reference under the target's convention stands for it.
    """
    for key, binding in adapter.bindings.items():
        form = next((f for f in binding.forms if f.endswith(":none")), None)
        if binding.loss != loss or form is None:
            continue
        known = {k: v for k, v in args.items() if k in binding.args or k == "axis"}
        call = Call(loss=loss, inputs=inputs, args=known, form=form, dtype=dtype, device="cpu", grad=False)
        supports = getattr(adapter, "supports", None)
        if not (supports(call) if callable(supports) else binding.accepts(call)):
            continue
        outcome = adapter.run(call)
        how = f"binding {key!r}: {binding.api} [{form}]"
        if known != args:
            how += f" without {sorted(set(args) - set(known))} (it has no such argument)"
        if outcome.error is not None or outcome.value is None:
            return None, how, outcome.error or "no value"
        value = np.asarray(outcome.value, dtype=np.float64)
        if binding.granularity == "element" and entry(loss).kind == "loss":
            reduce = ELEMENT_REDUCTION.get(loss, np.mean)
            value = reduce(value, axis=int(args.get("axis", -1)))
            how += f", {reduce.__name__} over the class axis"
        return value, how, None
    convention = _convention_for(adapter, loss)
    offered = {k for b in adapter.bindings.values() if b.loss == loss for k in b.args} | {"axis"}
    known = {k: v for k, v in args.items() if k in offered} if offered != {"axis"} else dict(args)
    value, behaviour = checks.evaluate_reference(checks.reference_loss(loss, known, convention, dtype=dtype), inputs)
    how = (f"reference under {adapter.name}'s convention '{convention.name}' ({adapter.name} has no function for "
           f"{loss} with {dict(args)})")
    if known != args:
        how += f", without {sorted(set(args) - set(known))}"
    return value, how, (None if value is not None else behaviour.split(":", 1)[-1])


@functools.lru_cache(maxsize=1)
def _edge_sets() -> dict:
    """The edge battery's input sets by id (what ``check_loss`` runs), loaded once."""
    return {s.id: s for s in Session([]).edge_sets if s.source == "edge"}


def _input_sets(loss: str) -> dict:
    return {**{s.id: s for s in generated(loss)}, **_edge_sets()}


def without_recipe(recipe, records) -> dict:
    """How far the target's own function is from the source's number on the inputs ``records`` checked.

    The target's own function is its adapter's binding for the loss in its unreduced form, an elementwise
    output reduced over the class axis the way the reference's per-sample loss is (mean; sum for the KL
    divergence); where the target has no function for these arguments (torch's and optax's cross entropies
    take logits only), the reference under the target's convention stands for it.  Returns ``abs`` /
    ``rel``: the largest difference where both give a number, with its ``dtype`` and ``case``;
    ``behaviour``: the inputs where the two differ in kind (``{"case", "dtype", "source", "target"}``, each
    ``value``, ``nan``, ``inf``, ``error:<Type>`` or a shape); ``via``: what stood for the target's function.
    """
    adapter = _adapter(recipe.target)
    source = source_convention(recipe)
    sets = _input_sets(recipe.loss)
    worst: dict[str, Any] = {"abs": 0.0, "rel": 0.0, "dtype": None, "case": None, "via": None, "behaviour": []}
    seen = set()
    for r in records:
        if r.kind not in ("value", "edge") or r.verdict == "skip" or r.case not in sets or (r.case, r.dtype) in seen:
            continue
        seen.add((r.case, r.dtype))
        inputs = checks.quantized_inputs(sets[r.case].inputs, r.dtype)
        args = dict(sets[r.case].args)
        plain, how, error = _plain_output(adapter, recipe.loss, inputs, args, r.dtype)
        worst["via"] = worst["via"] or how
        expected, behaviour = checks.evaluate_reference(
            checks.reference_loss(recipe.loss, args, source, dtype=r.dtype), inputs)
        observed = classify(plain, error)
        if plain is not None and expected is not None and np.shape(plain) != np.shape(expected):
            observed = f"shape {list(np.shape(plain))}"
        if observed != behaviour:
            worst["behaviour"].append({"case": r.case, "dtype": r.dtype, "source": behaviour, "target": observed})
        if plain is None or expected is None or np.shape(plain) != np.shape(expected):
            continue
        finite = np.isfinite(plain) & np.isfinite(expected)
        if not np.any(finite):
            continue
        gap = tol.measure(np.asarray(plain)[finite], np.asarray(expected)[finite], r.dtype)
        if gap["abs"] > _number(worst["abs"]) or worst["case"] is None:
            worst.update(abs=_finite(gap["abs"]), rel=_finite(gap["rel"]), dtype=r.dtype, case=r.case)
    return worst


# ---------------------------------------------------------------------------------------------------------
# Which convention flags separate the source's number from the target's on a recipe's inputs


def candidate_flags(recipe) -> dict[str, tuple]:
    """Flags held by the source's or the target's convention for the loss, with different values there:
    name -> (source's Flag or None, target's Flag or None)."""
    source, target = source_convention(recipe), _convention_for(_adapter(recipe.target), recipe.loss)
    names = {n for c in (source, target) for n, f in c.flags.items() if recipe.loss in f.applies_to}
    return {n: (source.flags.get(n), target.flags.get(n)) for n in sorted(names)
            if source.value_for(n, recipe.loss) != target.value_for(n, recipe.loss)}


def _accepted_sets(recipe) -> list:
    """The generated batches and edge cases ``check_loss`` runs the recipe on (float32 and float64)."""
    probe = Binding(loss=recipe.loss, api="", forms=("function:none",), convention="math",
                    args=tuple(recipe.args), dtypes=("float32", "float64"), requires=dict(recipe.args))
    chosen = []
    for s in _input_sets(recipe.loss).values():
        if s.loss != recipe.loss or (s.reduction not in (None, "none")):
            continue
        call = Call(loss=recipe.loss, inputs=s.inputs, args=s.args, form="function:none", dtype=s.dtype or "float32")
        if probe.accepts(call):
            chosen.append(s)
    return chosen


def _differs(a, a_behaviour: str, b, b_behaviour: str) -> bool:
    if a_behaviour != b_behaviour:
        return True
    if a is None or b is None:
        return False
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)


def flag_differences(recipe) -> dict[str, str]:
    """The convention flags that change the source's number on the recipe's own inputs once the target's
    convention is put in their place: ``{flag: "value" | "grad"}``.  A recipe must declare each of them
    in its ``differences`` (``tests/recipes`` checks it)."""
    source = source_convention(recipe)
    found: dict[str, str] = {}
    sets = _accepted_sets(recipe)
    for name, (_, theirs) in candidate_flags(recipe).items():
        flags = [f for n, f in source.flags.items() if n != name] + ([theirs] if theirs is not None else [])
        swapped = Convention(f"{source.name}-with-{recipe.target}-{name}", "", flags)
        for s in sets:
            dtype = s.dtype or "float32"
            inputs = checks.quantized_inputs(s.inputs, dtype)
            for quantity in ("value", "grad") if entry(recipe.loss).kind == "loss" else ("value",):
                grad = quantity == "grad"
                a = checks.evaluate_reference(checks.reference_loss(recipe.loss, s.args, source, gradient=grad,
                                                                    dtype=dtype), inputs)
                b = checks.evaluate_reference(checks.reference_loss(recipe.loss, s.args, swapped, gradient=grad,
                                                                    dtype=dtype), inputs)
                if _differs(a[0], a[1], b[0], b[1]):
                    found.setdefault(name, quantity)
            if name in found:
                break
    return found


def _finite(x: float):
    return float(x) if np.isfinite(x) else ("nan" if np.isnan(x) else ("inf" if x > 0 else "-inf"))


def run(recipe, *, devices: tuple[str, ...] = ("cpu",)) -> dict:
    """Check one recipe; its summary record (a dict of :class:`lossparity.records.CheckRecord` fields)."""
    started = time.perf_counter()
    source = source_convention(recipe)
    record: dict[str, Any] = {
        "id": recipe.id, "kind": KIND, "case": None, "loss": recipe.loss, "framework": recipe.target,
        "framework_version": None, "api": f"{recipe.fn.__module__}.{recipe.name} ({recipe.target} public API)",
        "binding": recipe.name, "form": "function:none", "reduction": "none",
        "args": {k: _plain(v) for k, v in recipe.args.items()}, "dtype": None, "device": devices[0],
        "device_name": checks.cpu_name(), "convention": source.name,
        "flags": sorted(n for n, f in source.flags.items() if recipe.loss in f.applies_to),
        "extra": {"source": recipe.source, "target": recipe.target, "code": recipe.code,
                  "differences": list(recipe.differences), "note": recipe.note},
    }
    adapter = _adapter(recipe.target)
    reason = adapter.available()
    if reason:
        record.update(verdict="skip", reason=f"{recipe.target} cannot run here: {reason}",
                      duration_s=time.perf_counter() - started)
        return record
    record["framework_version"] = adapter.version()
    dtypes, not_native = _native_dtypes(adapter, recipe)
    if not_native:
        record["extra"]["dtypes_not_checked"] = not_native
    if not dtypes:
        record.update(verdict="skip", reason=f"{recipe.target} computes none of {list(recipe.dtypes)} natively "
                                             f"here: {not_native}", duration_s=time.perf_counter() - started)
        return record
    result = check_loss(recipe.fn, loss=recipe.loss, framework=_RecipeFramework(adapter, recipe.fn),
                        convention=source, args=dict(recipe.args), dtypes=dtypes, devices=devices)
    records = result.records
    failures, excused, inherited = _inherited(adapter, result.failures)
    counts: dict[str, int] = {}
    for r in records:
        verdict = "deviation" if any(r is e for e in excused) else r.verdict
        counts[verdict] = counts.get(verdict, 0) + 1
    # Residuals are the recipe's own: the checks a target deviation explains are counted, not measured.
    measured = [r for r in records if not any(r is e for e in excused)]
    value_error, value_at = _worst(measured, ("value", "edge"), "value_error")
    grad_error, grad_at = _worst(measured, ("grad",), "grad_error")
    without = without_recipe(recipe, records)
    record.update(value_error=value_error, grad_error=grad_error,
                  math_distance={"abs": without["abs"], "rel": without["rel"]})
    record["extra"].update(checks=dict(sorted(counts.items())), max_ulps_by_dtype=_ulps_by_dtype(measured),
                           worst={"value": value_at, "grad": grad_at}, without_recipe=without,
                           flag_differences=flag_differences(recipe))
    if inherited:
        record["extra"]["deviations"] = inherited
    unsupported = [r for r in records if r.verdict == "skip" and str(r.observed).startswith("unsupported:")]
    if not records:
        record.update(verdict="fail", reason="check_loss planned no check for these arguments")
    elif unsupported and not failures:  # the installed release lacks an API the recipe calls
        record.update(verdict="skip", reason=unsupported[0].reason)
    elif failures:
        first = failures[0]
        record.update(verdict="fail", reason=f"{first.kind} {first.dtype} {first.case}: {first.reason}")
        record["extra"]["failures"] = [f"{r.kind} {r.dtype} {r.case}: {r.reason}" for r in failures[:5]]
    elif inherited:
        record.update(verdict="deviation", deviation=", ".join(inherited),
                      reason="the target's declared deviations: " + "; ".join(
            f"{name} ({', '.join(cases)})" for name, cases in inherited.items()))
    else:
        record.update(verdict="pass", reason="")
    record["duration_s"] = time.perf_counter() - started
    return record


def _inherited(adapter, failures) -> tuple[list, list, dict[str, list[str]]]:
    """Split ``check_loss``'s failures into the recipe's own and those a declared deviation of the target
    framework explains: the recipe runs on the target's kernels, so a departure the target adapter declares
    for the loss (a kernel's NaN pattern under oneDNN, say) shows in the recipe too.  Deviations pinned to
    one of the target's bindings are about that API, which a recipe need not call: they excuse nothing.
    Returns ``(own failures, excused records, {deviation: [check]})``."""
    own, excused, inherited = [], [], {}
    for r in failures:
        fields = dict(loss=r.loss, case=r.case, form=r.form, dtype=r.dtype, device=r.device, kind=r.kind)
        extra = r.extra if isinstance(r.extra, dict) else {}
        observed = (extra.get("behaviour") or {}).get("framework")
        if observed is None:  # a dtype check: the error the call raised, else a different dtype or shape
            text = str(r.observed or "")
            observed = "error:" + text[6:].split(":", 1)[0] if text.startswith("error:") else "differs"
        deviation = next((d for d in adapter.deviations if "binding" not in d.when and d.covers(**fields)
                          and holds(d.versions, adapter)), None)
        if deviation is not None and checks.judge(False, observed, deviation)[0] == "deviation":
            inherited.setdefault(deviation.name, []).append(f"{r.kind} {r.dtype} {r.case}")
            excused.append(r)
        else:
            own.append(r)
    return own, excused, inherited


def run_all(targets: Iterable[str] | None = None) -> list[dict]:
    """Every recipe's record (of the given target frameworks)."""
    return [run(r) for r in collect(targets)]


# ---------------------------------------------------------------------------------------------------------
# Coverage: which losses two frameworks share, and which of them have no recipe


def shared_losses(a: str, b: str) -> list[str]:
    """The losses (and activations) both adapters bind, by their bindings."""
    losses_a = {binding.loss for binding in _adapter(a).bindings.values()}
    losses_b = {binding.loss for binding in _adapter(b).bindings.values()}
    return sorted(losses_a & losses_b)


def uncovered(pairs: Iterable[tuple[str, str]], recipes: list | None = None) -> list[str]:
    """``"<loss>: <a> -> <b>"`` for each shared loss of each ordered pair that has no recipe."""
    recipes = collect() if recipes is None else recipes
    have = {(r.loss, r.source, r.target) for r in recipes}
    return [f"{loss}: {a} -> {b}" for a, b in pairs for loss in shared_losses(a, b) if (loss, a, b) not in have]
