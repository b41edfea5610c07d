"""Small NumPy helpers shared by the reference modules (float64, no framework)."""
from __future__ import annotations

import numpy as np

__all__ = ["f64", "narrow_dtype", "machine_eps", "clip_bounds", "round_to", "xlogy", "softplus", "errstate", "check_bool",
           "check_positive", "check_nonnegative", "check_finite", "check_unit_interval", "check_log_base",
           "moveaxis"]


def errstate():
    return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")


def f64(x) -> np.ndarray:
    """``x`` as a float64 array (a float32 array is widened exactly, never re-parsed)."""
    return np.asarray(x, dtype=np.float64)


def narrow_dtype(x) -> np.dtype:
    """The floating dtype ``x`` arrived in when it is narrower than float64, else float64.

    Only constants a framework forms in the input's dtype (Keras's ``epsilon`` and ``1 - epsilon``)
    use it; all arithmetic stays float64.
    """
    dt = getattr(x, "dtype", None)
    if dt is not None:
        dt = np.dtype(dt)
        if dt.kind == "f" and dt.itemsize < 8:
            return dt
        if dt.kind == "V" or dt.name == "bfloat16":  # ml_dtypes bfloat16
            return dt
    return np.dtype(np.float64)


def machine_eps(dtype) -> float:
    """The gap between 1 and the next number of ``dtype`` (``finfo(dtype).eps``; found by halving, so that
    ml_dtypes' bfloat16, which NumPy's ``finfo`` does not know, works too)."""
    dt = np.dtype(dtype)
    eps = 1.0
    while float(np.asarray(1.0 + eps / 2.0).astype(dt)) > 1.0:
        eps /= 2.0
    return eps


def clip_bounds(eps: float, dtype, upper_is_one: bool = False) -> tuple[float, float]:
    """``(eps, 1 - eps)`` (or ``(eps, 1)``) formed in ``dtype`` and widened, as Keras forms them."""
    dt = np.dtype(dtype)
    lo = np.asarray(eps).astype(dt)
    hi = np.asarray(1.0).astype(dt) if upper_is_one else (np.asarray(1.0).astype(dt) - lo).astype(dt)
    return float(lo), float(hi)


def round_to(x: np.ndarray, dtype) -> np.ndarray:
    """``x`` rounded to ``dtype`` and widened back (identity for float64)."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return x
    return np.asarray(np.asarray(x).astype(dt), dtype=np.float64)


def xlogy(x, y) -> np.ndarray:
    """``x * log(y)`` with ``0 * log(y) = 0`` for every ``y`` (also 0 and inf)."""
    x, y = np.broadcast_arrays(f64(x), f64(y))
    with errstate():
        out = x * np.log(y)
    return np.where(x == 0, 0.0, out)


def softplus(x) -> np.ndarray:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``."""
    x = f64(x)
    with errstate():
        return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def moveaxis(x, source: int, destination: int) -> np.ndarray:
    """``np.moveaxis`` for one axis, returning ``x`` itself when the axis is already in place: the reference
    moves the class axis last on every call, and numpy's general version costs about 10 us a call (a few
    percent of the suite)."""
    ndim = np.ndim(x)
    if ndim and source % ndim == destination % ndim:
        return np.asarray(x)
    return np.moveaxis(x, source, destination)


def last_axis(x: np.ndarray, axis: int) -> np.ndarray:
    return moveaxis(x, axis, -1)


def as_labels(labels) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        if lab.dtype.kind == "f" and np.all(np.isfinite(lab)) and np.all(lab == np.round(lab)):
            lab = lab.astype(np.int64)
        elif lab.dtype.kind == "b":
            lab = lab.astype(np.int64)
        else:
            raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
    return lab.astype(np.int64)


def scalar(x):
    """A 0-d result as a NumPy float64 scalar, else the array."""
    x = np.asarray(x, dtype=np.float64)
    return x[()] if x.ndim == 0 else x


# ------------------------------------------------------------------------------------------------
# Argument validation: the reference refuses an argument outside its domain (ValueError naming it) rather
# than compute a number a framework would then be blamed for refusing.  The domains are those of the
# catalogue's ``Arg.valid`` (lossparity/catalogue.py); tests/reference/test_reference_arguments.py holds
# the two to each other.

def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not _is_bool(value)
            and bool(np.isfinite(value)))


def _refuse(loss: str, name: str, value, domain: str):
    raise ValueError(f"{loss}: {name}={value!r} is outside its domain: {domain}")


def check_bool(loss: str, name: str, value) -> bool:
    """``value`` as a bool; ValueError unless it is True or False (a string "no" is not False)."""
    if not _is_bool(value):
        _refuse(loss, name, value, "True or False")
    return bool(value)


def check_positive(loss: str, name: str, value) -> float:
    """``value`` as a float; ValueError unless it is a finite number > 0."""
    if not (_is_number(value) and float(value) > 0.0):
        _refuse(loss, name, value, "a number > 0")
    return float(value)


def check_finite(loss: str, name: str, value) -> float:
    """``value`` as a float; ValueError unless it is a finite number."""
    if not _is_number(value):
        _refuse(loss, name, value, "a finite number")
    return float(value)


def check_nonnegative(loss: str, name: str, value) -> float:
    """``value`` as a float; ValueError unless it is a finite number >= 0."""
    if not (_is_number(value) and float(value) >= 0.0):
        _refuse(loss, name, value, "a number >= 0")
    return float(value)


def check_unit_interval(loss: str, name: str, value) -> float:
    """``value`` as a float; ValueError unless it is a number in [0, 1]."""
    if not (_is_number(value) and 0.0 <= float(value) <= 1.0):
        _refuse(loss, name, value, "a number in [0, 1]")
    return float(value)


def check_log_base(loss: str, name: str, value):
    """``value`` (None or a float); ValueError unless None (nats) or a finite number > 0 other than 1."""
    if value is None:
        return None
    if not (_is_number(value) and float(value) > 0.0 and float(value) != 1.0):
        _refuse(loss, name, value, "None (nats) or a number > 0 other than 1")
    return float(value)
