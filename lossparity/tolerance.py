"""Tolerances derived from a dtype's unit roundoff and the loss's conditioning, and error measures.

Every comparison in the suite goes through :func:`error_bound` (how far a correct implementation in
``dtype`` may be from the float64 reference) and :func:`measure` (how far it actually is).  The models,
their derivation and which check uses which are in ``docs/tolerances.md``; in short:

* **float32 / float64 ("native")**: every elementary operation rounds in ``dtype``.  First-order bound
  (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., ch. 3-4):
  ``own * gamma_n * (|f| + sum_i |df/dx_i| |x_i|) + ulp(f)``, ``gamma_n = n u / (1 - n u)`` over
  ``n = OPERATION_LEVELS + terms`` roundings.
* **float16 / bfloat16 values ("widened", the default)**: what frameworks do -- inputs rounded to the half
  dtype (the reference already sees them rounded), arithmetic in float32, ONE rounding of the result:
  ``inner = g(float32) * C + 4 tiny(float32)`` and ``inner + ulp_half(|f| + inner) / 2``, ``g`` the smaller
  of the worst-case and the probabilistic gamma.  About half an ulp of the result: a one-ulp fault (a
  log-normaliser or a sum held in the half dtype) shows.
* **float16 / bfloat16 computed in the half dtype itself ("native" there: gradients, which every framework
  measured takes in the input's dtype, and a framework's declared half-precision arithmetic)**: the worst
  case ``gamma_n`` is vacuous for bfloat16 past ~100 terms, so the bound uses the smaller of it and Higham &
  Mary's probabilistic ``gamma~_n(lambda) = exp(lambda sqrt(n) u + n u^2 / (1 - u)) - 1`` (SIAM J. Sci.
  Comput. 41(5), 2019, Thm 3.1), with ``lambda`` chosen so that it fails with probability below
  ``PROBABILISTIC_FAILURE`` per element.

The sensitivity ``C = |f| + sum_i |df/dx_i| |x_i|`` is estimated numerically from the float64 reference
itself (:func:`condition_scale`).  That makes the bound general (no per-loss formula to keep in sync),
tight where the loss is well conditioned, and wide exactly where the mathematics is ill conditioned
(logits of 1e4, probabilities at 1e-7, cancellation in ``y - p``).  A non-finite expected value
contributes nothing to a bound (the behaviour class decides it): a bound is never infinite.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from decimal import Decimal
from typing import Callable, Hashable, Mapping, NamedTuple

import numpy as np

try:  # bfloat16 is not a NumPy dtype; ml_dtypes provides it (and its finfo).
    import ml_dtypes
except ImportError:  # pragma: no cover - ml_dtypes is a test dependency
    ml_dtypes = None

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
# Half-precision dtypes: frameworks round their inputs and result to them but compute in float32.
HALF_DTYPES = ("float16", "bfloat16")
# The arithmetic a half-precision result is expected from ("widened" model).
WIDENED_ARITHMETIC = "float32"
# The error models of :func:`error_bound` (see the module docstring and docs/tolerances.md).
MODELS = ("native", "widened")
# Probability, per output element, that a correct computation in a half dtype exceeds the probabilistic
# bound (Higham & Mary 2019; rounding errors modelled as independent, mean zero, |delta| <= u).
PROBABILISTIC_FAILURE = 1e-9

# Number of elementary-operation levels a loss may chain (e.g. clip, divide, log, multiply, sum, mean).
# Each contributes at most one rounding of the running value; 8 covers every loss in the suite.
OPERATION_LEVELS = 8
# Random-sign perturbations used to estimate the condition of the loss at the inputs; up to
# EXACT_UP_TO perturbed elements, each is perturbed on its own instead (the exact first-order sum).
PERTURBATIONS = 4
EXACT_UP_TO = 32
# Smallest relative perturbation of the condition estimate (float32's unit roundoff; see condition_scale).
PERTURBATION_FLOOR = 2.0 ** -24


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype for a dtype name (bfloat16 via ml_dtypes)."""
    if dtype == "bfloat16":
        if ml_dtypes is None:
            raise RuntimeError("bfloat16 needs the ml_dtypes package")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def finfo(dtype: str):
    return ml_dtypes.finfo(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.finfo(dtype)


def eps(dtype: str) -> float:
    """Unit roundoff u = machine epsilon / 2 of ``dtype``."""
    return float(finfo(dtype).eps) / 2.0


def quantize(x, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` and widened back to float64 exactly (what a framework actually sees)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        return x
    with np.errstate(over="ignore"):  # beyond the dtype's range is inf, as the framework sees it
        return np.asarray(np.asarray(x, dtype=np.float64).astype(numpy_dtype(dtype)), dtype=np.float64)


def saturate(x, dtype: str) -> np.ndarray:
    """``x`` with the values beyond ``dtype``'s range replaced by the infinity they round to in it.

    A correct float16 computation of a number past 65504 returns inf; holding it to the finite float64
    value would blame the dtype, not the framework.  Values in range are left exact.
    """
    x = np.asarray(x, dtype=np.float64)
    rounded = quantize(x, dtype)
    return np.where(np.isinf(rounded) & np.isfinite(x), rounded, x)


def ulp(x, dtype: str) -> np.ndarray:
    """Spacing of ``dtype`` at each value of ``x`` (the smallest subnormal at 0)."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    info = finfo(dtype)
    tiny = float(info.smallest_subnormal)
    with np.errstate(over="ignore", invalid="ignore"):
        exponent = np.floor(np.log2(np.where(x > 0, x, 1.0)))
        spacing = np.exp2(exponent - int(info.nmant))
    return np.where(np.isfinite(x), np.maximum(spacing, tiny), np.inf)


# Condition estimates already made, by (function key, inputs, perturbation): see condition_scale's ``key``.
_SCALES: OrderedDict = OrderedDict()
SCALE_MEMO_SIZE = 8192


def digest(x) -> tuple:
    """A hashable fingerprint of an array's dtype, shape and bytes (equal arrays, equal fingerprints)."""
    a = np.asarray(x)
    return a.dtype.str, a.shape, hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()


def condition_scale(fn: Callable[..., np.ndarray], inputs: Mapping[str, np.ndarray], perturbed: list[str],
                    dtype: str, seed: int = 0, independent_rows: bool = False,
                    key: Hashable | None = None) -> np.ndarray:
    """Estimate ``|f| + sum_i |df/dx_i| |x_i|`` per output element.

    ``fn(**inputs)`` must be the float64 reference; ``perturbed`` names the float inputs whose rounding
    matters.  For a few elements each is multiplied by ``1 + eps`` in turn and the changes divided by
    ``eps`` are summed: the first-order sum exactly.  For many, each trial multiplies every element by
    ``1 + s * eps`` (``s`` random weights in [-1, 1]); the maximum over trials of such a sum is within a
    small factor of the sum of absolute terms.  Jumps are not rounding sensitivities and are left out: a
    change that does not halve when the perturbation halves is a kink or a branch, which exact inputs
    do not cross.  (Which inputs to perturb is the caller's choice: see ``checks.float_inputs``.)

    ``independent_rows``: each output element depends on one row of each input (the class axis last,
    no reduction over the batch), so position ``j`` of every row is perturbed at once and every row's
    partial comes out of one evaluation: the exact first-order sum at one evaluation per class.

    ``key``: a hashable that identifies ``fn`` as a function of its inputs (two functions with one key
    compute the same thing; ``fn.key`` by default, None if it has none).  The estimate is then
    remembered for these inputs and perturbation, and a later check of the same function on the same
    inputs (another framework under the same convention, another reduction of the same samples, another
    API form) reuses it instead of evaluating ``fn`` again: the estimate is a pure function of them.
    """
    key = getattr(fn, "key", None) if key is None else key
    if key is not None:
        memo = (key, tuple(sorted((name, digest(x)) for name, x in inputs.items())), tuple(perturbed),
                max(eps(dtype), PERTURBATION_FLOOR), seed, independent_rows)
        found = _SCALES.get(memo)
        if found is not None:
            _SCALES.move_to_end(memo)
            return found.copy()
        scale = _estimate(fn, inputs, perturbed, dtype, seed, independent_rows)
        _SCALES[memo] = scale.copy()
        if len(_SCALES) > SCALE_MEMO_SIZE:
            _SCALES.popitem(last=False)
        return scale
    return _estimate(fn, inputs, perturbed, dtype, seed, independent_rows)


def _estimate(fn, inputs, perturbed, dtype, seed, independent_rows) -> np.ndarray:
    base = np.asarray(fn(**inputs), dtype=np.float64)
    # The perturbation: the dtype's unit roundoff, but never below float32's.  The first-order sum does
    # not depend on it; a float64-sized step moves a float64 evaluation by its own rounding noise, which
    # the smoothness test below then throws away as a "jump" (a real sensitivity lost).
    u = max(eps(dtype), PERTURBATION_FLOOR)
    rng = np.random.default_rng(seed)
    names = list(perturbed)
    worst = np.zeros_like(base)
    if not names:
        return np.abs(np.where(np.isfinite(base), base, 0.0))

    def moved(signs, size):
        shifted = dict(inputs)
        for name in names:
            shifted[name] = np.asarray(inputs[name], dtype=np.float64) * (1.0 + signs[name] * size)
        with np.errstate(all="ignore"):
            return np.abs(np.asarray(fn(**shifted), dtype=np.float64) - base)

    def first_order(signs):
        full, half = moved(signs, u), moved(signs, u / 2)
        with np.errstate(all="ignore"):
            smooth = (full <= 2.5 * half + 1e-300) & (full >= 1.5 * half)
        change = np.where(smooth | (full == 0), full, 0.0) / u
        return np.where(np.isfinite(change), change, 0.0)

    sizes = {name: int(np.size(inputs[name])) for name in names}
    if independent_rows and all(np.ndim(inputs[name]) >= 1 for name in names):
        for name in names:
            for j in range(np.shape(inputs[name])[-1]):
                signs = {n: np.zeros(np.shape(inputs[n])) for n in names}
                signs[name][..., j] = 1.0
                worst = worst + first_order(signs)
    elif sum(sizes.values()) <= EXACT_UP_TO:
        # Few elements: the sum of absolute first-order terms exactly, one coordinate at a time.
        for name in names:
            for index in range(sizes[name]):
                signs = {n: np.zeros(np.shape(inputs[n])) for n in names}
                signs[name].reshape(-1)[index] = 1.0
                worst = worst + first_order(signs)
    else:
        for trial in range(PERTURBATIONS):
            # Continuous random weights: a shift-invariant loss (log-softmax) cancels equal signs exactly.
            signs = {name: (np.ones(np.shape(inputs[name])) if trial == 0
                            else rng.uniform(-1.0, 1.0, size=np.shape(inputs[name]))) for name in names}
            worst = np.fmax(worst, first_order(signs))
    return np.abs(np.where(np.isfinite(base), base, 0.0)) + worst


def gamma_n(dtype: str, n_terms: int) -> float:
    """Higham's worst-case gamma for ``OPERATION_LEVELS + n_terms`` roundings in ``dtype``."""
    nu = (OPERATION_LEVELS + n_terms) * eps(dtype)
    # gamma_n = nu / (1 - nu) holds while nu < 1; past that (bfloat16 over hundreds of terms) the
    # worst-case bound says nothing, and the first-order nu is the meaningful estimate.
    return nu / (1.0 - nu) if nu < 0.5 else nu


def confidence_lambda(n_terms: int, failure: float = PROBABILISTIC_FAILURE) -> float:
    """Higham & Mary's ``lambda`` for ``n = OPERATION_LEVELS + n_terms`` roundings: the bound holds for all
    ``n`` partial products with probability at least ``1 - 2 n exp(-lambda^2 (1 - u)^2 / 2) >= 1 - failure``
    (their Theorem 3.1 with a union bound; the ``(1 - u)^2`` is absorbed by rounding ``lambda`` up)."""
    n = OPERATION_LEVELS + max(int(n_terms), 0)
    return float(np.sqrt(2.0 * np.log(2.0 * n / failure))) * 1.01


def gamma_probabilistic(dtype: str, n_terms: int, failure: float = PROBABILISTIC_FAILURE) -> float:
    """Higham & Mary (2019) ``gamma~_n(lambda) = exp(lambda sqrt(n) u + n u^2 / (1 - u)) - 1``."""
    n = OPERATION_LEVELS + max(int(n_terms), 0)
    u = eps(dtype)
    return float(np.expm1(confidence_lambda(n_terms, failure) * np.sqrt(n) * u + n * u * u / (1.0 - u)))


def gamma(dtype: str, n_terms: int, probabilistic: bool | None = None) -> float:
    """The relative error factor of a computation whose every operation rounds in ``dtype``.

    float32 and float64 (``probabilistic`` None): Higham's worst case ``gamma_n`` (small there, and
    certain).  float16 and bfloat16, or ``probabilistic=True``: the smaller of that and the probabilistic
    ``gamma~_n`` -- the worst case grows like ``n u`` and is vacuous for bfloat16 past about a hundred terms
    (``u = 2^-8``); the probabilistic one grows like ``sqrt(n) u`` and is the smaller past
    ``n ~ lambda^2 ~ 50``.  The widened model uses it for its float32 part too: there the worst case over
    a thousand classes would be a fifth of a half-precision ulp, enough to hide a one-ulp fault.
    """
    worst = gamma_n(dtype, n_terms)
    if probabilistic is None:
        probabilistic = dtype in HALF_DTYPES
    if not probabilistic:
        return worst
    return min(worst, gamma_probabilistic(dtype, n_terms))


def default_model(dtype: str) -> str:
    """``"widened"`` for the half dtypes (float32 arithmetic, one rounding), ``"native"`` otherwise."""
    return "widened" if dtype in HALF_DTYPES else "native"


class Bound(NamedTuple):
    """An error bound, per output element, and its parts.

    ``total``: the bound.  ``inner``: the part before the result's final rounding into ``dtype`` (the
    "widened" model rounds once at the end; a reduction of bounded samples adds its own rounding).
    ``magnitude``: the computation's own size, ``C`` (plus 1 for a unit-size rounded intermediate): ulps are
    counted at no less than it.  ``model``: ``"native"`` or ``"widened"``.  ``arithmetic``: the dtype the
    operations round in.
    """

    total: np.ndarray
    inner: np.ndarray
    magnitude: np.ndarray
    model: str
    arithmetic: str
    scale: np.ndarray | None = None  # C itself (per element of fn), reusable by another model's bound


def finite_abs(x) -> np.ndarray:
    """``|x|`` with the non-finite values as 0 (they are judged by their class, never bounded)."""
    x = np.asarray(x, dtype=np.float64)
    return np.abs(np.where(np.isfinite(x), x, 0.0))


def final_rounding(value, inner, dtype: str, model: str) -> np.ndarray:
    """The error of rounding a result of size ``|value| + inner`` into ``dtype``: half an ulp when the
    arithmetic is wider than ``dtype`` (round to nearest), one ulp in the native model (as before: the
    reference's own last rounding in float64, a framework's last operation)."""
    size = finite_abs(value) + np.asarray(inner, dtype=np.float64)
    return (0.5 if model == "widened" else 1.0) * ulp(size, dtype)


def bound(fn: Callable[..., np.ndarray], inputs: Mapping[str, np.ndarray], perturbed: list[str], dtype: str,
          n_terms: int, unit_intermediate: bool = False, independent_rows: bool = False,
          model: str | None = None, scale: np.ndarray | None = None) -> Bound:
    """The error bound of ``fn`` (the float64 reference) computed in ``dtype``, with its parts.

    ``n_terms`` is the length of the longest reduction inside the loss (classes times reduced batch).
    ``unit_intermediate``: the computation passes through a quantity of size about one that it rounds
    (a probability, a sum of exponentials shifted by its maximum, ``1 - p``).  Such a rounding is off by
    about ``u`` absolutely however small the result is: ``log(x (1 + d))`` is off by ``d``, and
    ``s (1 - s)`` near ``s = 1`` by ``u``.  So the bound gets an absolute floor of ``gamma`` (the
    log-softmax of the largest logit, a confident cross entropy, a saturated sigmoid's gradient).  A
    caller leaves it off where the mathematics allows full relative accuracy (stable softplus / log1p
    forms): a tiny result is then judged relatively, and losing it entirely is a finding.

    ``model`` (default :func:`default_model`): ``"native"`` -- every operation rounds in ``dtype`` (for
    float64 the reference's own rounding counts too, hence the factor 2); ``"widened"`` -- operations
    round in float32 and the result once in ``dtype`` (the half dtypes' default).  ``scale``: ``C`` as
    estimated before for the same ``fn`` and inputs (``Bound.scale``), which saves its evaluations.
    """
    model = model or default_model(dtype)
    if model not in MODELS:
        raise ValueError(f"unknown error model {model!r}; known: {MODELS}")
    arithmetic = WIDENED_ARITHMETIC if model == "widened" else dtype
    factor = gamma(arithmetic, n_terms, probabilistic=True if model == "widened" else None)
    if scale is None:
        scale = condition_scale(fn, inputs, perturbed, arithmetic, independent_rows=independent_rows)
    magnitude = scale + (1.0 if unit_intermediate else 0.0)
    own = 2.0 if arithmetic == "float64" else 1.0
    # Intermediates can underflow to the subnormal range of the arithmetic's dtype.
    floor = 4.0 * float(finfo(arithmetic).smallest_normal)
    inner = own * factor * magnitude + floor
    value = np.asarray(fn(**inputs), dtype=np.float64)
    total = inner + final_rounding(value, inner if model == "widened" else 0.0, dtype, model)
    return Bound(total=np.asarray(total, dtype=np.float64), inner=np.asarray(inner, dtype=np.float64),
                 magnitude=np.asarray(magnitude, dtype=np.float64), model=model, arithmetic=arithmetic,
                 scale=np.asarray(scale, dtype=np.float64))


def error_bound(fn: Callable[..., np.ndarray], inputs: Mapping[str, np.ndarray], perturbed: list[str],
                dtype: str, n_terms: int, unit_intermediate: bool = False,
                independent_rows: bool = False, model: str | None = None) -> np.ndarray:
    """Largest error a correct ``dtype`` implementation may show, per output element (absolute):
    :func:`bound`'s ``total``."""
    return bound(fn, inputs, perturbed, dtype, n_terms, unit_intermediate, independent_rows, model).total


def printed_tolerance(printed: str, computed_dtype: str | None = None, bound: float = 0.0) -> float:
    """Half a unit in the last printed digit, plus the error bound of the dtype the document computed in.

    ``printed_tolerance("2.3978953")`` is 5e-8; ``"0.02"`` gives 0.005; ``"1.2e-3"`` gives 5e-5.
    """
    text = printed.strip()
    exponent = Decimal(text).as_tuple().exponent
    half_unit = 0.5 * 10.0 ** int(exponent)
    return half_unit + (bound if computed_dtype else 0.0)


def measure(actual, expected, dtype: str, floor=None) -> dict:
    """Absolute, relative and ulp error of ``actual`` against ``expected``, and where the worst is.

    Non-finite values are compared by class: NaN matches NaN and +-inf matches the same inf (error 0);
    any other mismatch of class is an infinite error.  Where ``expected`` is 0 or far smaller than the
    computation's own rounding (a softmax gradient of 1e-17), an ulp of it says nothing, so ulps are
    counted at no less than ``floor`` (the error bound, say).
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    a, e = np.broadcast_arrays(a, e)
    same_class = (np.isnan(a) & np.isnan(e)) | ((a == e) & np.isinf(e))
    finite = np.isfinite(a) & np.isfinite(e)
    with np.errstate(all="ignore"):
        abs_err = np.where(same_class, 0.0, np.where(finite, np.abs(a - e), np.inf))
        rel_err = np.where(abs_err == 0, 0.0, abs_err / np.abs(e))
        base = e if floor is None else np.maximum(np.abs(e), np.broadcast_to(floor, e.shape))
        ulps = np.where(abs_err == 0, 0.0, abs_err / ulp(base, dtype))
    if abs_err.size == 0:
        return {"abs": 0.0, "rel": 0.0, "ulps": 0.0, "worst_index": None}
    worst = np.unravel_index(int(np.argmax(np.where(np.isnan(abs_err), np.inf, abs_err))), abs_err.shape)
    return {
        "abs": float(np.max(abs_err)),
        "rel": float(np.max(rel_err)),
        "ulps": float(np.max(ulps)),
        "worst_index": [int(i) for i in worst],
        "_abs_array": abs_err,
    }


def within(actual, expected, tol) -> bool:
    """True when every element of ``actual`` is within ``tol`` (broadcast) of ``expected``."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape and a.size != e.size:
        return False
    a = a.reshape(e.shape)
    same_class = (np.isnan(a) & np.isnan(e)) | ((a == e) & np.isinf(e))
    with np.errstate(invalid="ignore"):
        close = np.abs(a - e) <= np.asarray(tol)
    return bool(np.all(same_class | close))
