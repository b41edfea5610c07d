"""Evaluate a case (``cases.Case``) with the reference, and derive its tolerance from the printed digits.

One mechanism for every tolerance: ``printed_tolerance(printed, computed_dtype, bound)`` where ``bound`` is
``error_bound`` of the reference computation in the dtype the document computed in (``lossparity/tolerance.py``,
native model; docs/tolerances.md).  A case whose document states an exact equality (``expect.exact``) gets
the bound alone.  Nothing is written by hand; a bound is never infinite (a reference that overflows is judged
by its behaviour class, and ``golden_check`` reports it as an error of the case).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from lossparity.tolerance import error_bound, measure, numpy_dtype, printed_tolerance, quantize, ulp


def _reference():
    import reference

    return reference


@functools.lru_cache(maxsize=None)
def _builtin_conventions():
    import adapters

    from lossparity.conventions import registry

    return registry(adapters.builtin())


def named_convention(convention):
    """A case's convention: a Convention object as is; a name from what the built-in adapters declare."""
    from lossparity.conventions import resolve

    return resolve(convention, _builtin_conventions())


# -- printed numbers ---------------------------------------------------------------------------------

def printed_array(printed: Any) -> np.ndarray:
    """A printed number string, or nested tuple/list of them, as float64."""
    if isinstance(printed, (list, tuple)):
        return np.asarray([printed_array(p) for p in printed], dtype=np.float64)
    return np.asarray(float(printed), dtype=np.float64)


def _flat_strings(printed: Any) -> list[str]:
    if isinstance(printed, (list, tuple)):
        return [s for p in printed for s in _flat_strings(p)]
    return [printed]


def printed_text(case) -> str | None:
    """The single number the document printed for this case, as printed (golden: ``expect.printed``; value
    erratum: ``erratum.printed``), or None: nothing printed, a tensor, or a case whose number a framework
    does not compute as such (``scale`` != 1 or ``quantity`` = grad)."""
    if case.scale != 1.0 or case.quantity != "value":
        return None
    if case.kind == "golden":
        text = case.expect.printed
    elif case.kind == "erratum" and case.erratum.type == "value":
        text = case.erratum.printed
    else:
        return None
    return text if isinstance(text, str) else None


def printed_number(case) -> float | None:
    """:func:`printed_text` as a float."""
    text = printed_text(case)
    return None if text is None else float(text)


def main_printed(case) -> Any:
    """The printed string(s) a case is judged against by default."""
    if case.kind == "erratum":
        return case.erratum.printed if case.erratum.printed is not None else case.erratum.stated
    return case.expect.printed


# -- the reference computation ---------------------------------------------------------------------

def base_function(case) -> Callable:
    ref = _reference()
    if case.quantity == "grad":
        return getattr(ref.grads, case.loss)
    if case.loss in ref.LOSSES:
        return ref.LOSSES[case.loss]
    return ref.ACTIVATIONS[case.loss]


def case_function(case, convention: str | None = None) -> Callable[..., np.ndarray]:
    """``fn(**inputs) -> float64 array``: the case's loss (or gradient, or activation) with its args and
    convention, reduced with ``reference.reduce`` and multiplied by ``scale``."""
    import inspect

    ref = _reference()
    fn = base_function(case)
    kwargs = dict(case.args)
    if "convention" in inspect.signature(fn).parameters:
        kwargs["convention"] = named_convention(convention or case.convention)

    def evaluate(**inputs):
        out = fn(**inputs, **kwargs)
        if case.quantity == "value" and case.loss in ref.LOSSES:
            out = ref.reduce_loss(out, case.reduction, loss=case.loss, labels=inputs.get("labels"),
                                  convention=kwargs.get("convention", "math"),
                                  class_weight=inputs.get("class_weight"), weight=inputs.get("weight"),
                                  ignore_class=case.args.get("ignore_class"))
        elif case.quantity == "value":
            out = ref.reduce(out, case.reduction)
        return np.asarray(out, dtype=np.float64) * case.scale

    return evaluate


def float_inputs(case) -> list[str]:
    return [k for k, v in case.inputs.items() if np.issubdtype(np.asarray(v).dtype, np.floating)]


def quantized_inputs(case) -> dict[str, np.ndarray]:
    """The inputs rounded to the dtype they had (float64 arrays; labels stay integers)."""
    return {k: quantize(v, case.dtype or "float64") for k, v in case.inputs.items()}


def _as_dtype(inputs: dict, dtype: str | None) -> dict:
    """Float inputs as arrays of ``dtype`` (exact after quantisation), so that the reference forms its
    dtype-dependent constants (Keras's epsilon) as the framework did."""
    if not dtype or dtype == "float64":
        return inputs
    try:
        dt = numpy_dtype(dtype)
    except RuntimeError:
        return inputs
    return {k: (v.astype(dt) if np.issubdtype(v.dtype, np.floating) else v) for k, v in inputs.items()}


def reference_value(case, convention: str | None = None) -> np.ndarray:
    """The reference on the case's inputs (quantized to ``case.dtype``), args, convention, reduction."""
    inputs = _as_dtype(quantized_inputs(case), case.dtype)
    return np.asarray(case_function(case, convention)(**inputs), dtype=np.float64)


def n_terms(inputs: dict) -> int:
    """Length of the longest reduction inside a loss: at most every element of its largest input."""
    return max([int(np.size(v)) for v in inputs.values()] or [1])


def reference_bound(case, dtype: str | None, convention: str | None = None) -> np.ndarray:
    """``error_bound`` of the case's computation in ``dtype`` (per output element)."""
    inputs = quantized_inputs(case)
    # A document's number came from whatever its framework did in that dtype: every operation rounding in
    # it (the native model; docs/tolerances.md), not the one-rounding expectation the matrix holds
    # frameworks to.
    return error_bound(case_function(case, convention), inputs, float_inputs(case), dtype or "float64",
                       n_terms(inputs), model="native")


def tolerance_of(case, printed: Any, convention: str | None = None) -> float | np.ndarray:
    """Tolerance for comparing the reference with ``printed`` (a string, or nested strings: elementwise).

    ``printed_tolerance(s, computed_dtype, bound)``; ``bound`` is the largest ``error_bound`` of the case's
    computation in ``computed_dtype`` (float64 when the document computed by hand).  With
    ``expect.exact`` the document stated an exact equality: the bound alone.
    """
    dtype = case.expect.computed_dtype
    bound = float(np.max(reference_bound(case, dtype, convention)))
    if case.expect.exact:
        tol = [bound for _ in _flat_strings(printed)]
    else:
        tol = [printed_tolerance(s, dtype, bound) for s in _flat_strings(printed)]
    if isinstance(printed, (list, tuple)):
        return np.asarray(tol, dtype=np.float64).reshape(printed_array(printed).shape)
    return tol[0]


def case_tolerance(case, printed: Any = None, convention: str | None = None) -> float | np.ndarray:
    """The tolerance of the case's printed number(s) (default: what the case is judged against)."""
    if printed is None:
        printed = main_printed(case)
    if printed is None:  # a stored value (example): the float64 reference's own bound
        return float(np.max(reference_bound(case, "float64", convention)))
    return tolerance_of(case, printed, convention)


def close(actual, expected, tol) -> bool:
    """The matrix's agreement rule (:func:`lossparity.checks.agreement`) for a number the document printed
    (or a reference value) against the reference: same behaviour, same size, within ``tol``."""
    from lossparity.checks import agreement
    from adapters.protocol import classify

    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.size != e.size:
        return False
    a = a.reshape(e.shape)
    return agreement(a, classify(a), e, classify(e), np.broadcast_to(np.asarray(tol, dtype=np.float64), e.shape))


def error_record(actual, expected, tol, dtype: str | None = "float64", printed: Any = None) -> dict:
    """``measure`` plus the tolerance: the ``value_error`` of a results record.

    ``dtype`` is the dtype the expected number was computed in.  ``ulps`` is left out (None) where it
    means nothing: a hand computation (``dtype`` None), or ``printed`` digits too few to resolve one ulp of
    ``dtype`` (torch's four decimals of a float64, TF's ``2.0``)."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    err = measure(a.reshape(e.shape) if a.size == e.size else a, e, dtype or "float64")
    err.pop("_abs_array", None)
    if printed is not None and dtype is not None:
        half_units = np.asarray([printed_tolerance(t) for t in _flat_strings(printed)])
        if np.max(half_units) > np.min(ulp(e, dtype)):
            dtype = None
    if dtype is None:
        err["ulps"] = None
    err["tol"] = float(np.max(tol))
    return err


# -- invariants ---------------------------------------------------------------------------------------

def invariant_tolerance(data: np.ndarray, printed: Any, dtype: str | None, terms: int) -> np.ndarray:
    """Per element: half a unit of its printed digit plus the rounding bound of ``dtype``."""
    data = np.asarray(data, dtype=np.float64)
    bound = (error_bound(lambda x: x, {"x": data}, ["x"], dtype, terms, model="native") if dtype
             else np.zeros_like(data))
    if printed is None:
        return np.asarray(bound, dtype=np.float64)
    strings = _flat_strings(printed)
    flat_bound = np.broadcast_to(bound, data.shape).ravel()
    tol = [printed_tolerance(s, dtype, b) if isinstance(s, str) else (b if dtype else 0.0)
           for s, b in zip(strings, flat_bound)]
    return np.asarray(tol, dtype=np.float64).reshape(data.shape)


def check_invariant(case, data=None, dtype: str | None = None) -> dict:
    """Check the case's invariant on ``data`` (default: the printed data), in ``dtype`` (default: the
    dtype the document computed in).  Returns ``ok``, ``residual``, ``tol`` and ``what``."""
    inv = case.invariant
    printed = inv.data_printed if data is None else None
    x = np.asarray(inv.data if data is None else data, dtype=np.float64)
    dtype = dtype or inv.computed_dtype
    axis = inv.axis
    terms = int(x.shape[axis]) if (axis is not None and x.ndim) else int(x.size)
    tol = invariant_tolerance(x, printed, dtype, terms)
    if inv.property in ("sum_zero", "sums_to_one"):
        target = 0.0 if inv.property == "sum_zero" else 1.0
        total = np.sum(x, axis=axis)
        residual = np.abs(total - target)
        allowed = np.sum(tol, axis=axis)
        return {"ok": bool(np.all(residual <= allowed)), "residual": residual, "tol": allowed,
                "what": f"sum over axis {axis} = {np.round(total, 12).tolist()}, should be {target}"}
    if inv.property == "bounded":
        lo = -np.inf if inv.lower is None else inv.lower
        hi = np.inf if inv.upper is None else inv.upper
        below = np.maximum(lo - tol - x, 0.0)
        above = np.maximum(x - hi - tol, 0.0)
        residual = np.maximum(below, above)
        return {"ok": bool(np.all(residual == 0)), "residual": residual, "tol": tol,
                "what": f"{x.tolist()} within [{np.asarray(lo).tolist()}, {np.asarray(hi).tolist()}]"}
    if inv.property == "nonnegative":
        residual = np.maximum(-tol - x, 0.0)
        return {"ok": bool(np.all(residual == 0)), "residual": residual, "tol": tol,
                "what": f"{x.tolist()} >= 0"}
    raise ValueError(f"unknown invariant property {inv.property!r}")


# -- identities ---------------------------------------------------------------------------------------

def _bound64(fn: Callable, inputs: dict, perturbed: list[str]) -> np.ndarray:
    return error_bound(fn, inputs, perturbed, "float64", n_terms(inputs))


def identity_checks(case) -> list[dict]:
    """The identity's checks on the case's inputs, each ``{label, lhs, rhs, relation, tol, ok}``.

    Both sides are float64 reference evaluations; the tolerance is the sum of their error bounds.
    ``relation`` is ``==`` (within tol), ``>=`` (lhs >= rhs - tol) or ``<=`` (lhs <= rhs, no tol: a
    stated magnitude, e.g. the vanishing-gradient ratio).
    """
    ref = _reference()
    name = case.identity.name
    conv = named_convention(case.convention)
    args = dict(case.args)
    inputs = quantized_inputs(case)
    floats = float_inputs(case)
    checks: list[tuple[str, Callable, Callable, str]] = []
    base = args.get("base")
    lb = 1.0 if base is None else float(np.log(base))

    if name == "ce_equals_nll_of_log_softmax":
        checks.append(("cross_entropy(z, t) == nll(log(softmax(z)), t)",
                       lambda labels, y_pred: ref.sparse_categorical_crossentropy(
                           labels, y_pred, from_logits=True, convention=conv),
                       lambda labels, y_pred: ref.nll(labels, np.log(ref.softmax(y_pred)), convention=conv), "=="))
    elif name == "nll_of_log_is_sparse_ce":
        checks.append(("sparse_ce(t, p) == nll(t, log p)",
                       lambda labels, y_pred: ref.sparse_categorical_crossentropy(labels, y_pred, convention=conv),
                       lambda labels, y_pred: ref.nll(labels, np.log(y_pred), convention=conv), "=="))
    elif name == "softmax_sums_to_one":
        checks.append(("sum softmax(z) == 1", lambda z: np.sum(ref.softmax(z), axis=-1),
                       lambda z: np.ones(np.shape(z)[:-1]), "=="))
    elif name == "softmax_jacobian":
        def stated_rows(z):
            zz = np.atleast_2d(z)
            p = ref.softmax(zz)
            k = zz.shape[-1]
            # J[i, j] = p_i (1 - p_j) if i == j else -p_j p_i, as stated; row k of -J / p_k is the
            # gradient of -log p_k, i.e. of the cross entropy with one-hot target e_k.
            jac = p[:, :, None] * (np.eye(k)[None] - p[:, None, :])
            return -jac / p[:, :, None]

        def reference_rows(z):
            zz = np.atleast_2d(z)
            k = zz.shape[-1]
            return np.stack([np.stack([ref.grads.categorical_crossentropy(np.eye(k)[i], row, from_logits=True)
                                       for i in range(k)]) for row in zz])

        checks.append(("-J[k, :] / p_k (stated Jacobian) == d CE(e_k, softmax(z)) / dz for every k",
                       stated_rows, reference_rows, "=="))
    elif name == "softmax_ce_grad_is_p_minus_y":
        checks.append(("d CE(y, softmax(z)) / dz == softmax(z) - y",
                       lambda y_true, y_pred: ref.grads.categorical_crossentropy(
                           y_true, y_pred, from_logits=True, convention=conv),
                       lambda y_true, y_pred: ref.softmax(y_pred) - y_true, "=="))
    elif name == "cross_entropy_decomposition":
        checks.append(("H(p, q) == H(p) + D_KL(p || q)",
                       lambda p, q: ref.cross_entropy(p, q, **args),
                       lambda p, q: ref.entropy(p, **args) + ref.kl_divergence(p, q, **args), "=="))
    elif name == "cross_entropy_minimum_at_p":
        checks.append(("H(p, p) == H(p)", lambda p, q: ref.cross_entropy(p, p, **args),
                       lambda p, q: ref.entropy(p, **args), "=="))
        checks.append(("H(p, q) >= H(p)", lambda p, q: ref.cross_entropy(p, q, **args),
                       lambda p, q: ref.entropy(p, **args), ">="))
    elif name == "one_hot_cross_entropy_is_neg_log":
        p = inputs["p"]
        if not (np.all((p == 0) | (p == 1)) and np.all(np.sum(p, axis=-1) == 1)):
            raise ValueError(f"{case.id}: identity {name} needs a one-hot p, got {p.tolist()}")
        checks.append(("H(one_hot(k), q) == -log q_k", lambda p, q: ref.cross_entropy(p, q, **args),
                       lambda p, q: -np.log(np.take_along_axis(
                           q, np.argmax(p, axis=-1)[..., None], axis=-1)[..., 0]) / lb, "=="))
    elif name == "binary_ce_is_two_class_ce":
        def two_class(y_true, y_pred):
            y = np.stack([y_true, 1.0 - y_true], axis=-1)
            q = np.stack([y_pred, 1.0 - y_pred], axis=-1)
            return np.mean(ref.categorical_crossentropy(y, q), axis=-1)

        checks.append(("BCE(y, p) == CE([y, 1-y], [p, 1-p])",
                       lambda y_true, y_pred: ref.binary_crossentropy(y_true, y_pred), two_class, "=="))
    elif name == "sigmoid_mse_gradient_vanishes":
        def mse_grad(y_true, y_pred):
            s = ref.sigmoid(y_pred)
            return ref.grads.mean_squared_error(y_true, s) * s * (1.0 - s)

        def bce_grad(y_true, y_pred):
            return ref.grads.binary_crossentropy(y_true, y_pred, from_logits=True)

        def scaled_bce_grad(y_true, y_pred):
            s = ref.sigmoid(y_pred)
            return 2.0 * s * (1.0 - s) * bce_grad(y_true, y_pred)

        checks.append(("d MSE(y, sigmoid(z))/dz == 2 s (1-s) d BCE(y, sigmoid(z))/dz", mse_grad, scaled_bce_grad,
                       "=="))
        max_ratio = float(case.identity.params.get("max_ratio", 1e-3))
        checks.append((f"|d MSE/dz| / |d BCE/dz| <= {max_ratio:g} (the MSE gradient vanishes, BCE's does not)",
                       lambda y_true, y_pred: np.abs(mse_grad(y_true, y_pred)) / np.abs(bce_grad(y_true, y_pred)),
                       lambda y_true, y_pred: np.full(np.shape(y_pred), max_ratio), "<="))
    else:
        raise ValueError(f"{case.id}: no check for identity {name!r}")

    out = []
    for label, lhs_fn, rhs_fn, relation in checks:
        lhs = np.asarray(lhs_fn(**inputs), dtype=np.float64)
        rhs = np.asarray(rhs_fn(**inputs), dtype=np.float64)
        if relation == "<=":
            tol = np.zeros_like(lhs)
            ok = bool(np.all(lhs <= rhs))
        else:
            tol = _bound64(lhs_fn, inputs, floats) + _bound64(rhs_fn, inputs, floats)
            ok = bool(np.all(np.abs(lhs - rhs) <= tol)) if relation == "==" else bool(np.all(lhs >= rhs - tol))
        out.append({"label": label, "lhs": lhs, "rhs": rhs, "relation": relation, "tol": tol, "ok": ok})
    return out
