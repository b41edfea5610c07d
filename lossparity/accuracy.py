"""Accuracy tables: the worst error each framework makes on a loss, found by measurement and search.

In the spirit of Zimmermann's tables for libm ("Accuracy of Mathematical Functions"): for one binding
of one framework, one argument variant and one dtype, a batch of up to 10^6 rows goes through the
framework in one call (the binding's first unreduced form, so the call returns every row's loss and its
autodiff gradient), every row's error against the float64 reference (under the binding's convention, on
the inputs rounded to the dtype) is measured at once, the worst rows are re-checked against the mpmath
oracle, and a black-box search (random local perturbation from the relative scale of the row down to
single ulps, hill climbing) looks around the worst rows for worse ones.  The rows come from the loss's
catalogue generator plus *regions* where losses are ill conditioned or change branch: sharpened and
flattened predictions, large common offsets of logits or regression values, predictions close to their
targets (cancellation; the hinge kink), residuals at Huber's delta, probabilities at a clip boundary.

The result is one record of kind ``accuracy`` per quantity (value and gradient), a measurement (verdict
``pass``; ``fail`` only when the framework raised), with the worst input, which is also written as a
``kind = "fuzz"`` case file outside the source tree (default ``.lossparity/accuracy/``) that
``python -m lossparity promote FILE`` turns into a case every later run replays.

The error measure
-----------------
Per output element ``|framework - reference|`` in units in the last place of the dtype the framework
computes in (or returns, when that is coarser: ``extra.ulp_dtype``), counted at ``max(|reference|, floor)``: the floor is the magnitude the computation itself
works at, so that a loss that cancels to 1e-9 is not charged a million ulps for the rounding of a
quantity of size one that every implementation makes.  For a value, ``floor`` = 1 when the loss passes
through a rounded unit-size intermediate (``LossInfo.unit_intermediate``: probabilities, shifted sums of
exponentials, margins) plus ``sum_j |g_j x_j|`` over the row's prediction (``g`` the reference gradient:
the error that rounding the prediction alone causes); for a gradient it is the row's largest gradient
element (normwise), or 1 if larger and the loss has a unit-size intermediate.  This is the tolerance
model's yardstick without its per-check condition estimate: everything is one vectorised pass over the
batch.  The plain relative measure (ulps at ``|reference|``, Zimmermann's) is kept too
(``extra.relative``).  A row's error is its largest element's.

Rows that say nothing about accuracy are counted, not ranked (they are left out of the maxima, the
percentiles and the decade bins, and have bins of their own):

* ``mismatch``: the framework's behaviour differs from the reference's (NaN or inf against a number, or
  the reverse); the edge battery and the matrix judge those;
* ``boundary``: the framework's answer is what the reference gives on inputs at most 4 ulps away, at a
  kink or branch (``y_pred == y_true`` in a gradient, a hinge margin of exactly 1): the error says where
  the boundary is.  Only rows above 16 ulps are tested, worst first.  A row whose answer is the
  reference's without one of the convention's flags (a rounded intermediate fell on the other side of a
  clip bound) stays ranked, with ``explained_by`` saying so.

``run_budget`` is the small version the main job runs (``reports.cli`` command ``run``).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

import reference
from adapters.protocol import Adapter, Binding, Call, Outcome, describe
from lossparity import checks, conventions
from lossparity import tolerance as tol
from lossparity.catalogue import CATALOGUE, LossInfo

__all__ = ["Settings", "Target", "targets", "measure", "run", "run_budget", "table_rows", "format_table",
           "ULP_BINS", "DEFAULT_DIR", "MAX_BATCH"]

# Rows per framework call: a larger --rows is measured in chunks of this many.
MAX_BATCH = 1_000_000
DEFAULT_DIR = Path(".lossparity") / "accuracy"
# The decade bins of ``extra.ulp_histogram`` (rows per bin); the last counts rows with a behaviour mismatch.
ULP_BINS = ("0", "(0,1)", "[1,10)", "[10,1e2)", "[1e2,1e3)", "[1e3,1e4)", "[1e4,1e5)", "[1e5,1e6)", ">=1e6",
            "mismatch", "boundary")
QUANTITIES = ("value", "grad")
# An oracle answer replaces the reference's for a row only when the two agree, element by element, to
# ORACLE_TRUST_REL relatively plus ORACLE_TRUST_ABS of the error measure's magnitude (what a float64
# computation can lose to cancellation); else the reference's measure is kept and the row is counted in
# ``oracle_disagreements`` (a kink the oracle's central difference straddles, a convention it lacks).
ORACLE_TRUST_REL = 2.0 ** -20
ORACLE_TRUST_ABS = 2.0 ** -40
# Thresholds some losses take (the residual where Huber / smooth L1 change branch).
THRESHOLD_ARGS = ("delta", "beta")
# Clip boundary neighbourhood of the near_clip region (probability clipping conventions clip at 1e-7).
CLIP_RANGE = (-9.0, -5.0)


@dataclass(frozen=True)
class Settings:
    """How much to measure for each target.

    ``rows``: generated rows (at most :data:`MAX_BATCH` per framework call); ``classes``: the class (last)
    axis; ``search_rounds``: hill-climbing rounds; ``search_width``: rows searched around per quantity;
    ``search_candidates``: perturbations per searched row and round; ``oracle_rows``: worst rows re-checked
    with the mpmath oracle per quantity (gradients: half as many, each costs 2K oracle evaluations);
    ``save_dir``: where worst inputs are saved as case files (None: not saved); ``seed``: mixed with the
    target's id, so every target gets its own reproducible stream.
    """

    rows: int = 100_000
    classes: int = 10
    search_rounds: int = 12
    search_width: int = 16
    search_candidates: int = 64
    oracle_rows: int = 32
    save_dir: Path | None = DEFAULT_DIR
    seed: int = 0

    def describe(self) -> dict:
        out = dataclasses.asdict(self)
        out["save_dir"] = None if self.save_dir is None else str(self.save_dir)
        return out


@dataclass(frozen=True)
class Target:
    """One row of the table: a binding of an adapter, an argument variant, a dtype and a device."""

    adapter: Any = field(compare=False, repr=False)
    binding: str
    form: str
    args: Mapping[str, Any] = field(hash=False)
    dtype: str
    device: str = "cpu"

    @property
    def framework(self) -> str:
        return self.adapter.name

    @property
    def loss(self) -> str:
        return self.adapter.bindings[self.binding].loss

    @property
    def tag(self) -> str:
        return "-".join(f"{k}={_plain(v)}" for k, v in sorted(self.args.items())) or "default"

    @property
    def id(self) -> str:
        return f"{self.framework}-{self.binding}-{self.form}-{self.dtype}-{self.device}-{self.tag}"


def unreduced_form(binding: Binding) -> str | None:
    """The binding's first form when it is unreduced (``function:none``), else its first unreduced one."""
    forms = list(binding.forms)
    return next((f for f in forms if f.endswith(":none")), None)


def targets(adapters: Iterable[Adapter], losses: Sequence[str] | None = None,
            dtypes: Sequence[str] | None = None, devices: Sequence[str] = ("cpu",)) -> list[Target]:
    """Every (binding, catalogue argument variant it accepts, dtype, device) of the available adapters.

    ``losses`` filters by reference loss name (default: every loss and activation a binding computes);
    variants differing only in ``axis`` are one (the rows are ``(rows, classes)``, classes last);
    ``dtypes`` by dtype (default: every dtype the binding declares); ``devices`` are the suite's names
    (``cpu``, ``gpu``), kept where the adapter has them.
    """
    out = []
    for adapter in adapters:
        if adapter.available() is not None:
            continue
        here = [d for d in adapter.devices() if d in devices]
        for key, binding in adapter.bindings.items():
            info = CATALOGUE.get(binding.loss)
            if info is None or (losses and binding.loss not in losses):
                continue
            form = unreduced_form(binding)
            if form is None:
                continue
            seen = []
            for variant in info.variants:
                # Rows are (rows, classes): the class axis is the last, so an ``axis`` variant (the
                # catalogue's rank-3 layouts) is the plain variant here.  A loss that sums over a set of axes
                # (Dice) has one loss per row only when it sums over the classes: its other variants (over the
                # rows, over everything) are not per-row computations, and this harness leaves them out.
                if checks.sums_over_axes(binding.loss) and not _sums_over_last_axis(
                        checks.axis_argument(binding.loss, variant)):
                    continue
                variant = {k: v for k, v in variant.items() if k != "axis"}
                if variant in seen:
                    continue
                seen.append(variant)
                for dtype in binding.dtypes:
                    if dtypes and dtype not in dtypes:
                        continue
                    for device in here:
                        call = Call(loss=binding.loss, inputs={}, args=dict(variant), form=form, dtype=dtype,
                                    device=device)
                        if binding.accepts(call):
                            out.append(Target(adapter, key, form, dict(variant), dtype, device))
    return out


def _sums_over_last_axis(axis) -> bool:
    """``axis`` (an overlap loss's summed axes) of a rank-2 ``(rows, classes)`` input is the classes alone."""
    if axis is None:
        return False
    return sorted({int(a) % 2 for a in np.atleast_1d(axis)}) == [1]


# ---------------------------------------------------------------------------------------------------
# Inputs: the catalogue's generator, the regions, the search's perturbations


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _integer_valued(x: np.ndarray) -> bool:
    return bool(np.all(np.mod(x, 1.0) == 0.0))


@dataclass(frozen=True)
class _Roles:
    """How each input of a loss is treated: ``labels`` (class indices), ``discrete`` (integer-valued
    targets, moved only by discrete moves), or a continuous domain (``simplex`` rows, ``unit`` values,
    ``positive`` values, ``real``), read off the generated inputs once."""

    domains: Mapping[str, str]
    discrete: Mapping[str, str]  # name -> onehot | binary | sign | count
    labels: tuple[str, ...]
    prediction: str

    @classmethod
    def of(cls, info: LossInfo, sample: Mapping[str, np.ndarray], prediction: str) -> "_Roles":
        domains, discrete, labels = {}, {}, []
        for name, x in sample.items():
            x = np.asarray(x)
            if name in info.label_inputs:
                labels.append(name)
                continue
            x = x.astype(np.float64)
            if name in info.discrete_inputs and _integer_valued(x):
                values = set(np.unique(x).tolist())
                if values <= {0.0, 1.0} and x.ndim >= 1 and np.all(x.sum(axis=-1) == 1.0):
                    discrete[name] = "onehot"
                elif values <= {0.0, 1.0}:
                    discrete[name] = "binary"
                elif values <= {-1.0, 1.0}:
                    discrete[name] = "sign"
                else:
                    discrete[name] = "count"
                continue
            if np.all((x >= 0) & (x <= 1)) and x.ndim >= 1 and np.allclose(x.sum(axis=-1), 1.0, atol=1e-9):
                domains[name] = "simplex"
            elif np.all((x >= 0) & (x <= 1)):
                domains[name] = "unit"
            elif np.all(x > 0):
                domains[name] = "positive"
            else:
                domains[name] = "real"
        return cls(domains, discrete, tuple(labels), prediction)

    @property
    def target(self) -> str | None:
        """The float input paired with the prediction (regression or hinge target), if any."""
        return next((n for n in list(self.domains) + list(self.discrete) if n != self.prediction), None)


def _softmax(logits: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        z = logits - np.max(logits, axis=-1, keepdims=True)
        e = np.exp(z)
        return e / np.sum(e, axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x)))


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, 1e-300))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-300, 1.0)
    return _safe_log(q) - np.log1p(-np.minimum(q, 1.0 - 1e-16))


def _power(x: np.ndarray, s: np.ndarray, domain: str) -> np.ndarray:
    """``x`` sharpened (``s > 1``) or flattened (``s < 1``) in its own domain, row by row."""
    with np.errstate(all="ignore"):
        if domain == "simplex":
            return _softmax(_safe_log(x) * s)
        if domain == "unit":
            return _sigmoid(_logit(x) * s)
        if domain == "positive":  # rates: powers up to 10 (sharp) or 1e-4..0.1 (flat)
            return np.exp(np.clip(_safe_log(x) * np.minimum(s, 10.0), -700, 700))
        return x * s


def _log_uniform(rng, low: float, high: float, size) -> np.ndarray:
    return 10.0 ** rng.uniform(low, high, size=size)


def regions(info: LossInfo, roles: _Roles, args: Mapping[str, Any]) -> list[str]:
    """The regions this loss's inputs get besides ``typical`` (see :func:`_region`)."""
    out = []
    if roles.domains:
        out += ["sharp", "flat"]
    pred = roles.domains.get(roles.prediction)
    target = roles.target
    if pred == "real":
        out.append("offset")
        if target is not None and (roles.domains.get(target) == "real" or roles.discrete.get(target) == "sign"):
            out.append("cancel")
        if target is not None and roles.domains.get(target) == "real" and _threshold(info, args) is not None:
            out.append("threshold")
    if pred in ("simplex", "unit"):
        out.append("near_clip")
    return out


def _threshold(info: LossInfo, args: Mapping[str, Any]) -> float | None:
    for name in THRESHOLD_ARGS:
        if info.arg(name) is not None:
            return float(args.get(name, 1.0))
    return None


def _region(name: str, inputs: dict[str, np.ndarray], roles: _Roles, info: LossInfo, args, rng) -> None:
    """Move ``inputs`` (a slice of rows, edited in place) into region ``name``.

    * ``sharp`` / ``flat``: every continuous input scaled in its own domain by one factor per row
      (logits x 3..1000 or x 1e-4..0.1, probabilities sharpened or flattened through their logits);
    * ``offset``: a common offset of +-10..1e4 added to the row's real inputs (shift invariance of
      log-softmax, large regression values whose difference is small);
    * ``cancel``: the prediction moved close to its target, ``t + (p - t) * 1e-7..0.1`` (cancellation in
      ``p - t``; for +-1 hinge targets, margins at the kink);
    * ``threshold``: residuals at ``delta`` (Huber) / ``beta`` (smooth L1), relatively 1e-7..1e-1 off;
    * ``near_clip``: the true class's (or each) probability at 1e-9..1e-5 or one minus that.
    """
    rows = len(next(iter(inputs.values())))
    pred = roles.prediction
    if name in ("sharp", "flat"):
        s = _log_uniform(rng, 0.5, 3.0, rows) if name == "sharp" else _log_uniform(rng, -4.0, -1.0, rows)
        for key, domain in roles.domains.items():
            inputs[key] = _power(inputs[key], s.reshape((rows,) + (1,) * (inputs[key].ndim - 1)), domain)
    elif name == "offset":
        c = rng.choice([-1.0, 1.0], size=rows) * _log_uniform(rng, 1.0, 4.0, rows)
        for key, domain in roles.domains.items():
            if domain == "real":
                inputs[key] = inputs[key] + c.reshape((rows,) + (1,) * (inputs[key].ndim - 1))
    elif name == "cancel":
        t = inputs[roles.target]
        s = _log_uniform(rng, -7.0, -1.0, rows).reshape((rows,) + (1,) * (t.ndim - 1))
        inputs[pred] = t + (inputs[pred] - t) * s
    elif name == "threshold":
        t = inputs[roles.target]
        delta = _threshold(info, args)
        jitter = rng.uniform(-1.0, 1.0, size=t.shape) * _log_uniform(rng, -7.0, -1.0, t.shape)
        sign = np.where(inputs[pred] >= t, 1.0, -1.0)
        inputs[pred] = t + sign * delta * (1.0 + jitter)
    elif name == "near_clip":
        p = inputs[pred]
        small = _log_uniform(rng, *CLIP_RANGE, size=rows)
        v = np.where(rng.random(rows) < 0.5, small, 1.0 - small)
        if roles.domains[pred] == "simplex":
            if roles.labels:
                j = np.asarray(inputs[roles.labels[0]]).astype(np.int64)
            elif roles.target in roles.discrete and roles.discrete[roles.target] == "onehot":
                j = np.argmax(inputs[roles.target], axis=-1)
            else:
                j = rng.integers(0, p.shape[-1], size=rows)
            rest = p.copy()
            np.put_along_axis(rest, j[:, None], 0.0, axis=-1)
            total = np.sum(rest, axis=-1, keepdims=True)
            with np.errstate(all="ignore"):
                rest = np.where(total > 0, rest / total, 1.0 / max(p.shape[-1] - 1, 1)) * (1.0 - v[:, None])
            np.put_along_axis(rest, j[:, None], v[:, None], axis=-1)
            inputs[pred] = rest
        else:
            small = _log_uniform(rng, *CLIP_RANGE, size=p.shape)
            inputs[pred] = np.where(rng.random(p.shape) < 0.5, small, 1.0 - small)


def _finite_range(x: np.ndarray, domain: str, dtype: str) -> np.ndarray:
    """``x`` held inside what ``dtype`` holds (a quarter of its largest number) and its domain."""
    big = float(tol.finfo(dtype).max) / 4.0
    if domain in ("simplex", "unit"):
        return np.clip(np.nan_to_num(x, nan=0.5), 0.0, 1.0)
    if domain == "positive":
        return np.clip(np.nan_to_num(x, nan=1.0), float(tol.finfo(dtype).smallest_normal), big)
    return np.clip(np.nan_to_num(x, nan=0.0), -big, big)


def _quantized(inputs: dict[str, np.ndarray], roles: _Roles, dtype: str) -> dict[str, np.ndarray]:
    """Inputs rounded to ``dtype`` (``checks.quantized_inputs``), held in range, subnormals flushed to zero:
    the frameworks that flush them on CPU are a declared deviation, as in the fuzzer's inputs."""
    held = {name: (_finite_range(x, roles.domains[name], dtype) if name in roles.domains else x)
            for name, x in inputs.items()}
    out = checks.quantized_inputs(held, dtype)
    tiny = float(tol.finfo(dtype).smallest_normal)
    for name in roles.domains:
        out[name] = np.where(np.abs(out[name]) < tiny, 0.0, out[name])
    return out


def generate(info: LossInfo, args: Mapping[str, Any], rows: int, classes: int, rng: np.random.Generator,
             dtype: str, roles: _Roles | None = None, prediction: str | None = None
             ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], _Roles]:
    """``rows`` rows of inputs rounded to ``dtype``: half from the catalogue's generator as they are,
    half split between the loss's :func:`regions`.  Returns the inputs, each row's region index, the region
    names and the inputs' roles."""
    inputs = {k: np.array(v) for k, v in info.generate(rng, (rows, classes), dict(args)).items()}
    roles = roles or _Roles.of(info, inputs, prediction or info.prediction)
    names = ["typical"] + regions(info, roles, args)
    share = rows // (2 * (len(names) - 1)) if len(names) > 1 else 0
    index = np.zeros(rows, dtype=np.int16)
    start = rows - share * (len(names) - 1)
    for number, name in enumerate(names[1:], start=1):
        part = slice(start, start + share)
        piece = {k: np.array(v[part]) for k, v in inputs.items()}
        with np.errstate(all="ignore"):
            _region(name, piece, roles, info, args, rng)
        for k, v in piece.items():
            inputs[k][part] = v
        index[part] = number
        start += share
    return _quantized(inputs, roles, dtype), index, names, roles


def _perturb(rows: dict[str, np.ndarray], count: int, roles: _Roles, dtype: str, rng) -> dict[str, np.ndarray]:
    """``count`` perturbed copies of each row (row-major: the copies of row 0 first).

    Each copy draws one step size, log-uniform from the row's own scale down to a quarter ulp of the
    dtype, and moves one element (half the copies) or all of them, in each continuous input's domain
    (probabilities through their logits, rows kept on the simplex); a quarter of the copies instead move
    one element by 1..8 ulps; one in eight also takes a discrete move (another label, another hot class,
    a flipped binary or sign target, a count +-1).
    """
    out = {k: np.repeat(np.asarray(v), count, axis=0) for k, v in rows.items()}
    n = len(next(iter(out.values())))
    bits = int(tol.finfo(dtype).nmant) + 2
    step = 2.0 ** -rng.uniform(0.0, bits, size=n)
    nudge = rng.random(n) < 0.25
    for name, domain in roles.domains.items():
        x = out[name].astype(np.float64)
        flat = x.reshape(n, -1)
        width = flat.shape[1]
        one = rng.integers(0, width, size=n)
        single = np.zeros_like(flat)
        single[np.arange(n), one] = 1.0
        mask = np.where((rng.random(n) < 0.5)[:, None], single, 1.0)
        r = rng.uniform(-1.0, 1.0, size=flat.shape) * mask * step[:, None]
        with np.errstate(all="ignore"):
            if domain == "simplex":
                logs = _safe_log(flat)
                moved = _softmax(logs + r * np.maximum(1.0, np.abs(logs)))
            elif domain == "unit":
                logs = _logit(flat)
                moved = _sigmoid(logs + r * np.maximum(1.0, np.abs(logs)))
            elif domain == "positive":
                moved = flat * np.exp(r * np.maximum(1.0, np.abs(_safe_log(flat))))
            else:
                scale = np.max(np.abs(flat), axis=1, keepdims=True) * 2.0 ** -8
                moved = flat + r * np.maximum(np.abs(flat), np.maximum(scale, 1e-30))
            k = rng.integers(1, 9, size=n) * rng.choice([-1.0, 1.0], size=n)
            ulps = flat.copy()
            ulps[np.arange(n), one] += k * tol.ulp(flat[np.arange(n), one], dtype)
        moved = np.where(nudge[:, None], ulps, moved)
        out[name] = _finite_range(moved.reshape(x.shape), domain, dtype)
    for name in roles.labels:
        labels = out[name].copy()
        classes = out[roles.prediction].shape[-1]
        move = rng.random(labels.shape) < 0.125
        out[name] = np.where(move, rng.integers(0, classes, size=labels.shape), labels)
    for name, kind in roles.discrete.items():
        y = out[name].copy()
        flat = y.reshape(n, -1)
        move = rng.random(n) < 0.125
        at = rng.integers(0, flat.shape[1], size=n)
        rows_moved = np.nonzero(move)[0]
        if kind == "onehot":
            flat[rows_moved] = 0.0
            flat[rows_moved, at[rows_moved]] = 1.0
        elif kind == "binary":
            flat[rows_moved, at[rows_moved]] = 1.0 - flat[rows_moved, at[rows_moved]]
        elif kind == "sign":
            flat[rows_moved, at[rows_moved]] *= -1.0
        else:
            flat[rows_moved, at[rows_moved]] = np.maximum(
                0.0, flat[rows_moved, at[rows_moved]] + rng.choice([-1.0, 1.0], size=len(rows_moved)))
        out[name] = flat.reshape(y.shape)
    return _quantized(out, roles, dtype)


# ---------------------------------------------------------------------------------------------------
# Measuring


def _coarser(a: str, b: str) -> str:
    """The dtype of ``a`` and ``b`` with the fewer mantissa bits (``a`` on a tie)."""
    try:
        return b if int(tol.finfo(b).nmant) < int(tol.finfo(a).nmant) else a
    except (TypeError, ValueError):  # an integer or unknown returned dtype: the computing one
        return a


def _ulp(x: np.ndarray, dtype: str) -> np.ndarray:
    """Spacing of ``dtype`` at ``|x|`` (finite), by ``frexp`` (``tolerance.ulp`` without the logarithms)."""
    info = tol.finfo(dtype)
    tiny = float(info.smallest_subnormal)
    _, exponent = np.frexp(x)
    return np.where(x > 0, np.maximum(np.ldexp(1.0, exponent - 1 - int(info.nmant)), tiny), tiny)


@dataclass
class _Errors:
    """One quantity's errors on a batch, per row (a row's error is its largest element's)."""

    ulps: np.ndarray          # primary measure (ulps at max(|reference|, floor)); 0 where mismatched
    relative: np.ndarray      # ulps at |reference|
    abs: np.ndarray
    rel: np.ndarray           # |error| / max(|reference|, floor)
    element: np.ndarray       # the flat index of the row's worst element
    mismatch: np.ndarray      # bool: the behaviour classes differ somewhere in the row
    actual: np.ndarray        # framework output, (rows, elements)
    expected: np.ndarray      # reference, (rows, elements)
    floor: np.ndarray         # (rows, elements)


def _errors(actual, expected, floor, dtype: str, rows: int) -> _Errors:
    a = np.asarray(actual, dtype=np.float64).reshape(rows, -1)
    e = np.asarray(expected, dtype=np.float64).reshape(rows, -1)
    f = np.asarray(floor, dtype=np.float64)
    f = np.broadcast_to(f if f.ndim == 0 else f.reshape(rows, -1), e.shape)
    with np.errstate(all="ignore"):
        finite = np.isfinite(a) & np.isfinite(e)
        same = (np.isnan(a) & np.isnan(e)) | ((a == e) & np.isinf(e))
        mismatch = ~(finite | same)
        err = np.where(finite, np.abs(a - e), 0.0)
        magnitude = np.where(finite, np.maximum(np.abs(e), f), 1.0)
        primary = np.where(err > 0, err / _ulp(magnitude, dtype), 0.0)
        plain = np.where(err > 0, err / _ulp(np.where(finite, np.abs(e), 1.0), dtype), 0.0)
        rel = np.where(err > 0, err / magnitude, 0.0)
    element = np.argmax(primary, axis=1) if primary.shape[1] else np.zeros(rows, dtype=np.int64)
    take = np.arange(rows)
    return _Errors(ulps=primary[take, element], relative=np.max(plain, axis=1, initial=0.0),
                   abs=np.max(err, axis=1, initial=0.0), rel=np.max(rel, axis=1, initial=0.0), element=element,
                   mismatch=np.any(mismatch, axis=1), actual=a, expected=e, floor=np.array(f))


class _Measurer:
    """Runs batches of one target through the framework and the reference and measures them."""

    def __init__(self, target: Target):
        self.target = target
        self.adapter = target.adapter
        self.binding: Binding = self.adapter.bindings[target.binding]
        self.info: LossInfo = CATALOGUE[self.binding.loss]
        self.convention = conventions.of(self.adapter, self.binding)
        self.wrt = self.binding.grad_wrt
        self.activation = self.info.kind == "activation"
        template = Call(loss=self.binding.loss, inputs={}, args=dict(target.args), form=target.form,
                        dtype=target.dtype, device=target.device, grad=self.wrt is not None)
        self.work = checks.compute_dtype(self.adapter, template)
        self.returned = self.adapter.output_dtype(template)
        # ulps are counted in the dtype computed in, or the one returned when that is coarser (a result
        # rounded into bfloat16 cannot be nearer than half a bfloat16 ulp, whatever it was computed in)
        self.ulp_dtype = {"value": _coarser(self.work, self.returned), "grad": _coarser(self.work, target.dtype)}
        self.unit = 1.0 if self.info.unit_intermediate else 0.0
        self.seconds = {"framework": 0.0, "reference": 0.0, "measure": 0.0}

    def cotangent(self, inputs: Mapping[str, np.ndarray], rng) -> np.ndarray | None:
        if not self.activation or self.wrt is None:
            return None
        return tol.quantize(rng.uniform(-1.0, 1.0, size=np.shape(inputs[self.wrt])), self.target.dtype)

    def evaluate(self, inputs: dict[str, np.ndarray], cotangent=None
                 ) -> tuple[Outcome, dict[str, _Errors] | None, str | None]:
        """The framework's outcome on ``inputs``, the errors of its value and gradient, and a problem (the
        framework raised, returned another shape, or the reference raised), if any."""
        target, binding = self.target, self.binding
        call = Call(loss=binding.loss, inputs=inputs, args=dict(target.args), form=target.form, dtype=target.dtype,
                    device=target.device, grad=self.wrt is not None, cotangent=cotangent)
        start = time.perf_counter()
        try:
            got = self.adapter.run(call)
        except Exception as exc:  # noqa: BLE001 - an adapter bug is an observation
            got = Outcome(error="adapter " + describe(exc))
        self.seconds["framework"] += time.perf_counter() - start
        if got.error is not None:
            return got, None, f"the framework raised {got.error}"
        start = time.perf_counter()
        work = inputs if self.work == target.dtype else checks.quantized_inputs(inputs, self.work)
        try:
            value = self._reference(work, False, cotangent)
            grad = self._reference(work, True, cotangent) if self.wrt is not None else None
        except Exception as exc:  # noqa: BLE001 - the reference refusing generated inputs is a harness bug
            self.seconds["reference"] += time.perf_counter() - start
            return got, None, f"the reference raised {describe(exc)}"
        self.seconds["reference"] += time.perf_counter() - start
        start = time.perf_counter()
        rows = len(next(iter(inputs.values())))
        out: dict[str, _Errors] = {}
        problem = None
        for quantity, actual, expected in (("value", got.value, value), ("grad", got.grad, grad)):
            if expected is None:
                continue
            if actual is None or np.shape(actual) != np.shape(expected):
                problem = (f"the framework's {quantity} has shape {list(np.shape(actual)) if actual is not None else None}"
                           f", the reference's {list(np.shape(expected))}")
                break
            floor = self._floor(quantity, work, grad, np.shape(expected))
            out[quantity] = _errors(actual, expected, floor, self.ulp_dtype[quantity], rows)
        self.seconds["measure"] += time.perf_counter() - start
        return got, (None if problem else out), problem

    def _reference(self, inputs, gradient: bool, cotangent, convention=None) -> np.ndarray:
        fn = checks.reference_loss(self.binding.loss, dict(self.target.args), convention or self.convention,
                                   self.binding.granularity, "none", gradient, dtype=self.work, cotangent=cotangent)
        with np.errstate(all="ignore"):
            expected = np.asarray(fn(**inputs), dtype=np.float64)
        returned = self.target.dtype if gradient else self.returned
        return tol.saturate(tol.saturate(expected, self.work), returned)

    def _floor(self, quantity: str, inputs, grad, shape) -> np.ndarray | float:
        """The magnitude errors are counted at (besides |reference|): see the module's docstring."""
        if grad is None:
            return self.unit
        if quantity == "grad":  # normwise: the row's largest gradient element
            with np.errstate(all="ignore"):
                size = np.abs(np.asarray(grad, dtype=np.float64)).reshape(shape[0], -1)
            largest = np.max(np.where(np.isfinite(size), size, 0.0), axis=1, initial=0.0)
            return np.maximum(self.unit, largest)[:, None] * np.ones((1, int(np.prod(shape[1:], dtype=np.int64))))
        if self.activation:
            return self.unit
        with np.errstate(all="ignore"):
            moved = np.abs(np.asarray(grad) * np.asarray(inputs[self.wrt], dtype=np.float64))
        moved = np.where(np.isfinite(moved), moved, 0.0)
        if self.binding.granularity == "sample":
            moved = moved.reshape(len(moved), -1).sum(axis=1)
        return self.unit + moved.reshape(shape)

    # -- the oracle -----------------------------------------------------------------------------------
    def oracle(self, quantity: str, rows: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The mpmath oracle (``CATALOGUE[loss].oracle``; ``reference.oracle.grad`` for gradients) on a few
        rows, shaped like the reference's answer; None where there is none (activation gradients)."""
        info, binding = self.info, self.binding
        names = info.input_names
        args = {k: v for k, v in self.target.args.items()}
        if binding.granularity == "element":
            args.pop("axis", None)  # each element is its own row: the trailing axis of length one
        narrow = tol.numpy_dtype(self.work)
        positional = []
        for name in names:
            x = np.asarray(rows[name])
            if name not in checks.LABEL_INPUTS:
                x = x.astype(narrow) if self.work != "float64" else x.astype(np.float64)
            if binding.granularity == "element":
                x = x[..., None]
            positional.append(x)
        if info.kind == "loss":
            args["convention"] = self.convention
        with np.errstate(all="ignore"):
            if quantity == "value":
                if info.oracle is None:
                    return None
                out = np.asarray(info.oracle(*positional, **args), dtype=np.float64)
            else:
                if info.kind != "loss":
                    return None
                out = np.asarray(reference.oracle.grad(binding.loss, *positional, **args), dtype=np.float64)
        if binding.granularity == "element" and quantity == "grad":
            out = out[..., 0]
        returned = self.target.dtype if quantity == "grad" else self.returned
        return tol.saturate(tol.saturate(out, self.work), returned)


@dataclass
class _Row:
    """A measured row kept for the oracle, the search and the report."""

    inputs: dict[str, np.ndarray]  # each with a leading axis of length one
    cotangent: np.ndarray | None
    ulps: float
    relative: float
    abs: float
    rel: float
    element: int
    actual: np.ndarray
    expected: np.ndarray
    floor: np.ndarray
    region: str
    index: int | None              # row of the main batch, None for a row the search found
    oracle: np.ndarray | None = None
    reference_ulps: float | None = None  # reference against oracle, ulps of the dtype measured in
    boundary: str | None = None          # the row sits at a discontinuity (see _at_boundary)
    explained: str | None = None         # a convention flag whose boundary the framework's rounding crossed


def _take(inputs: Mapping[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[rows] for k, v in inputs.items()}


def _kept(errors: _Errors, inputs, cotangent, rows: Iterable[int], region_of, offset: int | None) -> list[_Row]:
    out = []
    for r in rows:
        r = int(r)
        out.append(_Row(inputs=_take(inputs, slice(r, r + 1)),
                        cotangent=None if cotangent is None else np.asarray(cotangent)[r:r + 1],
                        ulps=float(errors.ulps[r]), relative=float(errors.relative[r]), abs=float(errors.abs[r]),
                        rel=float(errors.rel[r]), element=int(errors.element[r]), actual=errors.actual[r].copy(),
                        expected=errors.expected[r].copy(), floor=errors.floor[r].copy(), region=region_of(r),
                        index=None if offset is None else offset + r))
    return out


def _top(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest values, largest first."""
    count = min(count, len(values))
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-values, count - 1)[:count]
    return part[np.argsort(-values[part], kind="stable")]


def _stack(rows: Sequence[_Row]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    inputs = {k: np.concatenate([r.inputs[k] for r in rows]) for k in rows[0].inputs}
    cot = None if rows[0].cotangent is None else np.concatenate([r.cotangent for r in rows])
    return inputs, cot


def _oracle_check(m: _Measurer, quantity: str, rows: list[_Row]) -> tuple[int, int]:
    """Re-measure ``rows`` against the oracle (in place): ``(rows checked, rows where the reference and
    the oracle part ways (ORACLE_TRUST_REL, ORACLE_TRUST_ABS), whose reference measure is kept)``."""
    if not rows:
        return 0, 0
    inputs, _ = _stack(rows)
    try:
        exact = m.oracle(quantity, inputs)
    except Exception:  # noqa: BLE001 - an oracle that cannot take a row leaves the reference's measure
        return 0, 0
    if exact is None or exact.size != sum(r.expected.size for r in rows):
        return 0, 0
    exact = exact.reshape(len(rows), -1)
    # The float64 reference is off by a few float64 roundings times the condition (cancellation): the
    # oracle corrects that; a larger gap is a kink the oracle's central difference straddles, or a
    # convention the oracle does not reproduce, and the reference's measure is kept.
    dtype = m.ulp_dtype[quantity]
    disagreements = 0
    for row, truth in zip(rows, exact):
        one = _errors(row.actual[None], truth[None], row.floor[None], dtype, 1)
        versus = _errors(row.expected[None], truth[None], row.floor[None], dtype, 1)
        row.oracle = truth
        row.reference_ulps = float("inf") if versus.mismatch[0] else float(versus.ulps[0])
        with np.errstate(all="ignore"):
            gap = np.abs(row.expected - truth)
            close = gap <= ORACLE_TRUST_REL * np.abs(truth) + ORACLE_TRUST_ABS * row.floor
        close |= (row.expected == truth) | (np.isnan(row.expected) & np.isnan(truth))
        if versus.mismatch[0] or not np.all(close):
            disagreements += 1  # the reference and the oracle part ways: keep the reference's measure
            continue
        if one.mismatch[0]:
            continue
        row.ulps, row.relative, row.abs, row.rel = (float(one.ulps[0]), float(one.relative[0]), float(one.abs[0]),
                                                    float(one.rel[0]))
        row.element, row.expected = int(one.element[0]), truth.copy()
    return len(rows), disagreements


# ---------------------------------------------------------------------------------------------------
# One target


@dataclass
class _Quantity:
    """Everything measured about one quantity of one target (per-row arrays over the generated rows)."""

    ulps: list[np.ndarray] = field(default_factory=list)       # per chunk, then one array
    relative: list[np.ndarray] = field(default_factory=list)
    abs: list[np.ndarray] = field(default_factory=list)
    rel: list[np.ndarray] = field(default_factory=list)
    mismatched: list[np.ndarray] = field(default_factory=list)
    mismatch_example: _Row | None = None
    kept: list[_Row] = field(default_factory=list)
    boundary: list[_Row] = field(default_factory=list)
    boundary_tested: int = 0
    oracle_checked: int = 0
    oracle_disagreements: int = 0
    search: dict = field(default_factory=dict)
    worst: _Row | None = None

    def join(self) -> None:
        for name in ("ulps", "relative", "abs", "rel", "mismatched"):
            setattr(self, name, [np.concatenate(getattr(self, name))])

    def included(self) -> np.ndarray:
        """Rows counted in the maxima, percentiles and histogram: no mismatch, not at a boundary."""
        keep = ~self.mismatched[0]
        for row in self.boundary:
            if row.index is not None:
                keep[row.index] = False
        return keep


def _seed(target: Target, seed: int) -> int:
    return zlib.crc32(f"{seed}/{target.id}".encode())


# A row whose error exceeds this many ulps is tested for a boundary (see :func:`_at_boundary`).
BOUNDARY_MIN_ULPS = 16.0
# The neighbourhood of that test: inputs moved by up to this many ulps of the dtype, this many times.
BOUNDARY_ULPS = 4.0
BOUNDARY_COPIES = 16


def _at_boundary(m: _Measurer, quantity: str, rows: Sequence[_Row], roles: _Roles, rng) -> list[str | None]:
    """Why each of ``rows`` has its error, when a boundary explains it (None otherwise); the framework's
    answer (to 8 ulps)

    * lies within the range the reference takes on inputs at most BOUNDARY_ULPS ulps away: ``"inputs"``.
      The row sits at a kink or branch of the mathematics within rounding of its inputs; its error (often
      the whole value) says where the boundary is, not how accurate the framework is, so such rows are
      counted (``boundary_rows``), not ranked;
    * is the reference's under the convention without one of its flags: ``"flag <name>"``, e.g. a clip
      bound that a rounded intermediate (a renormalised probability) fell on the other side of.
      The inputs are not at the boundary, the framework's rounding is: the row stays ranked, and the
      reason is reported with it (``explained_by``).
    """
    if not rows:
        return []
    inputs, cot = _stack(rows)
    n = len(rows)
    reasons: list[str | None] = [None] * n
    gradient = quantity == "grad"
    actual = np.stack([r.actual for r in rows])
    slack = 8.0 * np.stack([_ulp(np.maximum(np.abs(r.expected), r.floor), m.ulp_dtype[quantity]) for r in rows])

    def agrees(candidate) -> np.ndarray:
        with np.errstate(all="ignore"):
            close = np.abs(actual - candidate) <= slack
        return np.all(close | (np.isnan(actual) & np.isnan(candidate)) | (actual == candidate), axis=-1)

    flags = [name for name, flag in m.convention.flags.items() if m.binding.loss in flag.applies_to]
    for name in flags:
        try:
            other = m._reference(inputs, gradient, cot, convention=m.convention.without(name)).reshape(n, -1)
        except Exception:  # noqa: BLE001 - a flag the reference cannot drop here proves nothing
            continue
        for i in np.nonzero(agrees(other))[0]:
            reasons[i] = reasons[i] or f"flag {name}"
    moved = {k: np.repeat(v, BOUNDARY_COPIES, axis=0) for k, v in inputs.items()}
    unit = 2.0 * float(tol.finfo(m.work).eps) * BOUNDARY_ULPS
    for name in roles.domains:
        moved[name] = moved[name] * (1.0 + unit * rng.uniform(-1.0, 1.0, size=moved[name].shape))
    try:
        near = m._reference(moved, gradient, None if cot is None else np.repeat(cot, BOUNDARY_COPIES, axis=0))
        near = near.reshape(n, BOUNDARY_COPIES, -1)
    except Exception:  # noqa: BLE001 - no verdict without the reference
        near = None
    for i, row in enumerate(rows):
        if near is None or reasons[i] is not None:
            continue
        with np.errstate(all="ignore"):
            around = np.vstack([near[i], row.expected[None]])
            lo, hi = np.nanmin(around, axis=0), np.nanmax(around, axis=0)
            inside = (row.actual >= lo - slack[i]) & (row.actual <= hi + slack[i])
        if np.all(inside | ~np.isfinite(row.actual)):
            reasons[i] = "inputs"
    return [reason if row.ulps > BOUNDARY_MIN_ULPS else None for reason, row in zip(reasons, rows)]


def _sift(m: _Measurer, quantity: str, q: _Quantity, rows: list[_Row], roles: _Roles, block: int, rng
          ) -> list[_Row]:
    """``rows`` (worst first) without those at a boundary (``q.boundary`` gets them), testing blocks of
    ``block`` rows with more than BOUNDARY_MIN_ULPS until a block's worst row is not at one (at most
    four blocks)."""
    rows = sorted(rows, key=lambda r: -r.ulps)
    suspects = [r for r in rows if r.ulps > BOUNDARY_MIN_ULPS]
    at = set()
    for start in range(0, min(len(suspects), 4 * block), block):
        part = suspects[start:start + block]
        reasons = _at_boundary(m, quantity, part, roles, rng)
        q.boundary_tested += len(part)
        for row, reason in zip(part, reasons):
            if reason == "inputs":
                row.boundary = reason
                at.add(id(row))
            elif reason is not None:
                row.explained = reason
        if not reasons or reasons[0] != "inputs":
            break
    q.boundary += [r for r in rows if id(r) in at]
    return [r for r in rows if id(r) not in at]


def measure(target: Target, settings: Settings = Settings()) -> list[dict]:
    """The accuracy records (value, then gradient where the binding has one) of one target."""
    started = time.perf_counter()
    m = _Measurer(target)
    rng = np.random.default_rng(_seed(target, settings.seed))
    sample = m.info.generate(np.random.default_rng(0), (4, settings.classes), dict(target.args))
    roles = _Roles.of(m.info, sample, m.wrt or m.info.prediction)
    quantities = {"value": _Quantity(), **({"grad": _Quantity()} if m.wrt else {})}
    keep = max(settings.oracle_rows, settings.search_width)
    done = 0
    generate_s = 0.0
    region_index: list[np.ndarray] = []
    names: list[str] = ["typical"]
    while done < settings.rows:
        rows = min(MAX_BATCH, settings.rows - done)
        t0 = time.perf_counter()
        inputs, region, names, _ = generate(m.info, target.args, rows, settings.classes, rng, target.dtype,
                                            roles=roles)
        cot = m.cotangent(inputs, rng)
        generate_s += time.perf_counter() - t0
        region_index.append(region)
        got, errors, problem = m.evaluate(inputs, cot)
        if problem is not None:
            return _failed(m, settings, problem, got, time.perf_counter() - started)
        t0 = time.perf_counter()

        def region_of(r, region=region, names=names):
            return names[region[r]]

        for quantity, q in quantities.items():
            e = errors[quantity]
            for name in ("ulps", "relative", "abs", "rel"):
                getattr(q, name).append(getattr(e, name))
            q.mismatched.append(e.mismatch)
            if q.mismatch_example is None and np.any(e.mismatch):
                q.mismatch_example = _kept(e, inputs, cot, [int(np.argmax(e.mismatch))], region_of, done)[0]
            score = np.where(e.mismatch, -1.0, e.ulps)
            chosen = list(_top(score, 4 * keep))
            # the worst row of every region too, so that the search starts from each kind of input
            for number in range(len(names)):
                inside = np.nonzero(region == number)[0]
                if len(inside):
                    chosen.append(int(inside[np.argmax(score[inside])]))
            chosen = list(dict.fromkeys(int(c) for c in chosen if not e.mismatch[c]))
            q.kept += _kept(e, inputs, cot, chosen, region_of, done)
        m.seconds["measure"] += time.perf_counter() - t0
        del inputs, errors, got
        done += rows

    main = dict(m.seconds)  # the batch's own framework calls and reference evaluations: the baseline
    oracle_s = search_s = 0.0
    for quantity, q in quantities.items():
        q.join()
        t0 = time.perf_counter()
        q.kept = _sift(m, quantity, q, q.kept, roles, max(settings.oracle_rows, 8), rng)
        budget = settings.oracle_rows if quantity == "value" else max(settings.oracle_rows // 2, 1)
        if settings.oracle_rows > 0:
            q.oracle_checked, q.oracle_disagreements = _oracle_check(m, quantity, q.kept[:budget])
        for row in q.kept[:budget]:
            q.ulps[0][row.index], q.relative[0][row.index] = row.ulps, row.relative
            q.abs[0][row.index], q.rel[0][row.index] = row.abs, row.rel
        q.kept.sort(key=lambda r: -r.ulps)
        oracle_s += time.perf_counter() - t0
    if settings.search_rounds > 0 and settings.search_width > 0:
        t0 = time.perf_counter()
        found = _search(m, quantities, roles, settings, rng)
        search_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for quantity, q in quantities.items():
            before = len(q.boundary)
            extra_rows = _sift(m, quantity, q, found[quantity], roles, settings.search_width, rng)
            q.search["boundary"] = len(q.boundary) - before
            extra_rows = extra_rows[:settings.search_width]
            if settings.oracle_rows > 0:
                checked, disagreements = _oracle_check(m, quantity, extra_rows[: max(settings.oracle_rows // 4, 1)])
                q.oracle_checked += checked
                q.oracle_disagreements += disagreements
            q.kept += extra_rows
        oracle_s += time.perf_counter() - t0
    for q in quantities.values():
        q.kept.sort(key=lambda r: -r.ulps)
        q.worst = q.kept[0] if q.kept else None
    total = time.perf_counter() - started
    timing = {"total_s": total, "generate_s": generate_s, "framework_s": main["framework"],
              "reference_s": main["reference"], "measure_s": main["measure"], "oracle_s": oracle_s,
              "search_s": search_s, "search_framework_s": m.seconds["framework"] - main["framework"],
              "search_reference_s": m.seconds["reference"] - main["reference"]}
    regions_of_rows = (np.concatenate(region_index), names)
    return [_record(m, settings, quantity, q, regions_of_rows, timing) for quantity, q in quantities.items()]


def _search(m: _Measurer, quantities: dict[str, _Quantity], roles: _Roles, settings: Settings, rng
            ) -> dict[str, list[_Row]]:
    """Hill climbing around each quantity's worst rows: each round, ``search_candidates`` perturbations of
    every pool row (all quantities' pools in one framework call, so its shape never changes); a row is
    replaced by its best candidate when that is worse (for its quantity) than the row itself.  Returns
    the rows the search improved."""
    pools = {quantity: [dataclasses.replace(r) for r in q.kept[: settings.search_width]]
             for quantity, q in quantities.items()}
    stats = {quantity: {"rounds": 0, "candidates": 0, "improved": 0,
                        "start_ulps": pools[quantity][0].ulps if pools[quantity] else 0.0}
             for quantity in quantities}
    improved: dict[str, dict[int, _Row]] = {quantity: {} for quantity in quantities}
    owners = [(quantity, i) for quantity, pool in pools.items() for i in range(len(pool))]
    count = settings.search_candidates
    error = None
    for round_number in range(settings.search_rounds if owners else 0):
        base, cot = _stack([pools[quantity][i] for quantity, i in owners])
        candidates = _perturb(base, count, roles, m.target.dtype, rng)
        cot = None if cot is None else np.repeat(cot, count, axis=0)
        got, errors, problem = m.evaluate(candidates, cot)
        if problem is not None:
            error = problem
            break
        for position, (quantity, i) in enumerate(owners):
            e = errors[quantity]
            block = slice(position * count, (position + 1) * count)
            scores = np.where(e.mismatch[block], -1.0, e.ulps[block])
            best = int(np.argmax(scores))
            if scores[best] > pools[quantity][i].ulps:
                row = _kept(e, candidates, cot, [position * count + best], lambda r: "search", None)[0]
                pools[quantity][i] = improved[quantity][i] = row
        for quantity in quantities:
            stats[quantity]["rounds"] = round_number + 1
            stats[quantity]["candidates"] += count * len(pools[quantity])
    for quantity, q in quantities.items():
        found = list(improved[quantity].values())
        stats[quantity].update(improved=len(found), best_ulps=max((r.ulps for r in found), default=0.0))
        if error:
            stats[quantity]["error"] = error
        q.search = stats[quantity]
    return {quantity: list(improved[quantity].values()) for quantity in quantities}


# ---------------------------------------------------------------------------------------------------
# Records and case files


def _percentile(values: np.ndarray, q: float) -> float:
    if values.size == 0:
        return 0.0
    return float(np.quantile(values, q, method="higher"))


def histogram(ulps: np.ndarray, mismatched: int, boundary: int = 0) -> list[int]:
    """Rows per :data:`ULP_BINS` bin (``ulps``: the rows counted; then the mismatch and boundary counts)."""
    counts = [int(np.sum(ulps == 0)), int(np.sum((ulps > 0) & (ulps < 1)))]
    counts += [int(np.sum((ulps >= 10.0 ** k) & (ulps < 10.0 ** (k + 1)))) for k in range(6)]
    counts += [int(np.sum(ulps >= 1e6)), int(mismatched), int(boundary)]
    return counts


def _json_row(row: _Row, names: Sequence[str]) -> dict:
    out = {}
    for name in names:
        x = np.asarray(row.inputs[name])[0]
        out[name] = x.astype(np.int64).tolist() if name in checks.LABEL_INPUTS else x.astype(np.float64).tolist()
    if row.cotangent is not None:
        out["cotangent"] = np.asarray(row.cotangent)[0].tolist()
    return out


def _numbers(x: np.ndarray | None):
    if x is None:
        return None
    return [float(v) if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
            for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def _worst_input(m: _Measurer, row: _Row) -> dict:
    return {"inputs": _json_row(row, m.info.input_names), "element": row.element, "region": row.region,
            "found_by": "batch" if row.index is not None else "search", "row": row.index,
            "expected": _numbers(row.expected), "observed": _numbers(row.actual), "oracle": _numbers(row.oracle),
            "ulps": row.ulps, "relative_ulps": row.relative,
            **({"boundary": row.boundary} if row.boundary else {}),
            **({"explained_by": row.explained} if row.explained else {})}


def _base(m: _Measurer, quantity: str) -> dict:
    target, binding = m.target, m.binding
    device_name = getattr(m.adapter, "device_name", None)
    return {
        "id": f"accuracy:{target.id}-{quantity}",
        "kind": "accuracy",
        "case": f"accuracy.{target.tag}",
        "provenance": None,
        "loss": binding.loss,
        "framework": m.adapter.name,
        "framework_version": m.adapter.version(),
        "api": f"{binding.api} [{target.form}]",
        "binding": target.binding,
        "form": target.form,
        "reduction": target.form.split(":", 1)[1],
        "args": {k: _plain(v) for k, v in target.args.items()},
        "flags": sorted(name for name, flag in m.convention.flags.items() if binding.loss in flag.applies_to),
        "dtype": target.dtype,
        "device": target.device,
        "device_name": device_name(target.device) if callable(device_name) else checks.cpu_name(),
        "convention": binding.convention,
        "deviation": None,
        "math_distance": None,
        "value_error": None,
        "grad_error": None,
    }


def _record(m: _Measurer, settings: Settings, quantity: str, q: _Quantity, regions_of_rows: tuple,
            timing: dict) -> dict:
    rows = int(q.ulps[0].size)
    included = q.included()
    region, names = regions_of_rows
    by_region = {}
    for number, name in enumerate(names):
        inside = (region == number)
        counted = q.ulps[0][inside & included]
        by_region[name] = {"rows": int(np.sum(inside)), "max_ulps": float(np.max(counted, initial=0.0)),
                           "p999_ulps": _percentile(counted, 0.999),
                           "mismatch_rows": int(np.sum(inside & q.mismatched[0]))}
    ulps, relative = q.ulps[0][included], q.relative[0][included]
    mismatches = int(np.sum(q.mismatched[0]))
    in_batch = sum(1 for r in q.boundary if r.index is not None)  # the search's are in extra.search
    hist = histogram(ulps, mismatches, in_batch)
    worst = q.worst
    max_ulps = worst.ulps if worst is not None else float(np.max(ulps, initial=0.0))
    p999 = _percentile(ulps, 0.999)
    abs_max = max(float(np.max(q.abs[0][included], initial=0.0)), worst.abs if worst else 0.0)
    rel_max = max(float(np.max(q.rel[0][included], initial=0.0)), worst.rel if worst else 0.0)
    saved = None
    if settings.save_dir is not None and worst is not None:
        saved = save_case(Path(settings.save_dir), m, quantity, worst)
    worst_json = _worst_input(m, worst) if worst is not None else None
    boundary = sorted(q.boundary, key=lambda r: -r.ulps)
    record = _base(m, quantity)
    baseline = timing["framework_s"] + timing["reference_s"]
    notes = [f"{mismatches} rows with a behaviour mismatch"] if mismatches else []
    if in_batch:
        notes.append(f"{in_batch} rows at a boundary")
    record.update(
        verdict="pass",
        reason=f"{rows} rows: max {max_ulps:.3g} ulp, p99.9 {p999:.3g} ulp" + "".join(f"; {n}" for n in notes),
        expected=_numbers(worst.expected) if worst is not None else None,
        observed=_numbers(worst.actual) if worst is not None else None,
        duration_s=timing["total_s"] / (2 if m.wrt else 1),
    )
    record["value_error"] = {"abs": abs_max, "rel": rel_max, "ulps": max_ulps, "tol": None,
                             "worst_index": ([worst.index, worst.element]
                                             if worst is not None and worst.index is not None else None),
                             "worst_input": worst_json["inputs"] if worst_json else None}
    if quantity == "value":
        floor = ("1 + " if m.unit else "") + ("sum_j |g_j x_j| over the row's prediction" if m.wrt and not m.activation
                                              else "")
        floor = floor.rstrip(" +") or "0"
    else:
        floor = ("max(1, " if m.unit else "(") + "max_j |g_j| over the row)"
    record["extra"] = {
        "quantity": quantity,
        "rows": rows,
        "classes": settings.classes,
        "max_ulps": max_ulps,
        "p999_ulps": p999,
        "median_ulps": _percentile(ulps, 0.5),
        "ulp_histogram": hist,
        "ulp_bins": list(ULP_BINS),
        "ulp_floor": floor,
        "relative": {"max_ulps": max(float(np.max(relative, initial=0.0)), worst.relative if worst else 0.0),
                     "p999_ulps": _percentile(relative, 0.999)},
        "mismatch_rows": mismatches,
        "mismatch_example": _worst_input(m, q.mismatch_example) if q.mismatch_example is not None else None,
        "boundary_rows": in_batch,
        "boundary_tested": q.boundary_tested,
        "boundary_example": _worst_input(m, boundary[0]) if boundary else None,
        "worst_input": worst_json,
        "oracle_checked": q.oracle_checked,
        "oracle_disagreements": q.oracle_disagreements,
        "search": dict(q.search),
        "regions": by_region,
        "compute_dtype": m.work,
        "ulp_dtype": m.ulp_dtype[quantity],
        "saved_to": None if saved is None else str(saved),
        "timing": dict(timing, baseline_s=baseline, ratio=(timing["total_s"] / baseline if baseline > 0 else None),
                       rows_per_s=rows / timing["total_s"] if timing["total_s"] > 0 else None,
                       framework_rows_per_s=rows / timing["framework_s"] if timing["framework_s"] > 0 else None,
                       reference_rows_per_s=rows / timing["reference_s"] if timing["reference_s"] > 0 else None,
                       shared_by=list(QUANTITIES if m.wrt else ("value",))),
        "settings": settings.describe(),
    }
    return record


def _failed(m: _Measurer, settings: Settings, problem: str, got: Outcome, seconds: float) -> list[dict]:
    verdict = "fail" if got.error is not None or problem.startswith("the framework") else "error"
    out = []
    for quantity in ("value", "grad") if m.wrt else ("value",):
        record = _base(m, quantity)
        record.update(verdict=verdict, reason=problem, expected=None,
                      observed=f"error:{got.error}" if got.error else None, duration_s=seconds)
        record["extra"] = {"quantity": quantity, "rows": 0, "settings": settings.describe()}
        out.append(record)
    return out


def _harness_error(target: Target, settings: Settings, exc: Exception) -> list[dict]:
    """An ``error`` record for a target the harness itself failed on (with the exception, to fix it)."""
    m = _Measurer(target)
    return _failed(m, settings, f"the accuracy harness raised {describe(exc)}", Outcome(), 0.0)


def _toml_value(x) -> str:
    a = np.asarray(x)
    if a.ndim == 0:
        v = a.item()
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        text = repr(float(v))
        return text if ("." in text or "e" in text or "n" in text) else text + ".0"
    return "[" + ", ".join(_toml_value(row) for row in a) + "]"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-")


def case_path(save_dir: Path, framework: str, binding: str) -> Path:
    return Path(save_dir) / f"accuracy-{_slug(framework)}-{_slug(binding)}.toml"


def save_case(save_dir: Path, m: _Measurer, quantity: str, row: _Row) -> Path | None:
    """Append ``row`` as a ``kind = "fuzz"`` case to ``<save_dir>/accuracy-<framework>-<binding>.toml``
    (once per id; the id hashes the inputs).  An activation's gradient is not saved: a case cannot carry
    the gradient seed it was measured with."""
    if quantity == "grad" and m.activation:
        return None
    if not all(np.all(np.isfinite(np.asarray(x, dtype=np.float64))) for x in row.inputs.values()):
        return None
    target = m.target
    digest = hashlib.sha1(repr((target.id, quantity, {k: np.asarray(v).tolist() for k, v in row.inputs.items()}))
                          .encode()).hexdigest()[:12]
    cid = f"fuzz.accuracy.{_slug(target.framework)}.{_slug(target.binding)}.{target.dtype}.{quantity}.{digest}"
    path = case_path(save_dir, target.framework, target.binding)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if f'id = "{cid}"' in existing:
        return path
    notes = (f"worst {quantity} found by python -m reports accuracy on {datetime.date.today().isoformat()}: "
             f"{target.framework} {m.adapter.version()} binding {target.binding} form {target.form} device "
             f"{target.device}, {row.ulps:.4g} ulp of {m.ulp_dtype[quantity]} ("
             f"{'oracle' if row.oracle is not None else 'reference'}"
             f"), element {row.element}, region {row.region}; reference {_numbers(row.expected)} vs framework "
             f"{_numbers(row.actual)}")
    lines = [] if existing else [
        "# Worst inputs the accuracy search found (lossparity/accuracy.py), one row each: what the framework",
        "# saw (inputs rounded to dtype).  `python -m lossparity promote FILE` makes them cases of the suite.",
        'schema = "lossparity.cases/1"', ""]
    lines += ["[[case]]", f'id = "{cid}"', 'kind = "fuzz"', f'loss = "{m.binding.loss}"']
    if target.args:
        lines.append("args = { " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in sorted(target.args.items())) + " }")
    lines += [f'dtype = "{target.dtype}"', f'convention = "{m.binding.convention}"', 'reduction = "none"']
    if quantity == "grad":
        lines.append('quantity = "grad"')
    lines.append(f"notes = {_toml_string(notes)}")
    lines.append("[case.inputs]")
    for name in m.info.input_names:
        x = np.asarray(row.inputs[name])
        lines.append(f"{name} = {_toml_value(x.astype(np.int64) if name in checks.LABEL_INPUTS else x)}")
    lines.append("")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(("\n" if existing else "") + "\n".join(lines))
    return path


# ---------------------------------------------------------------------------------------------------
# Runs


def run(adapters: Iterable[Adapter], settings: Settings = Settings(), losses: Sequence[str] | None = None,
        dtypes: Sequence[str] | None = None, devices: Sequence[str] = ("cpu",), progress=None,
        time_budget_s: float | None = None) -> list[dict]:
    """The accuracy records of every target (see :func:`targets`).  ``progress(target, records)`` is called
    after each; with ``time_budget_s`` no target starts once that much time has passed (targets are taken
    round-robin over the adapters, so each framework gets its share)."""
    chosen = _round_robin(targets(adapters, losses, dtypes, devices))
    started = time.perf_counter()
    out: list[dict] = []
    for target in chosen:
        if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
            break
        try:
            records = measure(target, settings)
        except Exception as exc:  # noqa: BLE001 - one target's harness failure must not lose the others
            records = _harness_error(target, settings, exc)
        out.extend(records)
        if progress is not None:
            progress(target, records)
    return out


def _round_robin(items: list[Target]) -> list[Target]:
    by: dict[str, list[Target]] = {}
    for t in items:
        by.setdefault(t.framework, []).append(t)
    out = []
    queues = list(by.values())
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def run_budget(adapters: Iterable[Adapter] | None = None, rows: int = 2048, results: str | Path | None = None, *,
               dtypes: Sequence[str] = ("float32",), losses: Sequence[str] | None = None,
               time_budget_s: float = 30.0, save_dir: str | Path | None = DEFAULT_DIR, seed: int = 0) -> list[dict]:
    """A small accuracy run for the main job: ``rows`` rows per binding and argument variant (float32 by
    default), 4 search rounds, 8 oracle rows, stopping after ``time_budget_s`` seconds.

    ``adapters``: adapter objects (default: the built-in ones; unavailable ones are skipped).  Returns
    the records; with ``results`` (the results file the run just wrote, one run or merged) they are also
    added to it by :func:`add_to_results`, replacing the accuracy records already there
    (``reports.results`` is imported only then: the engine itself never needs the report package).
    """
    if adapters is None:
        import adapters as builtin

        adapters = builtin.builtin()
    settings = Settings(rows=rows, search_rounds=4, search_width=8, search_candidates=32, oracle_rows=8,
                        save_dir=None if save_dir is None else Path(save_dir), seed=seed)
    records = run(adapters, settings, losses=losses, dtypes=dtypes, time_budget_s=time_budget_s)
    if results is not None:
        add_to_results(Path(results), records)
    return records


def add_to_results(path: Path, records: Sequence[dict], label: str = "accuracy") -> Path:
    """Add accuracy ``records`` to the results file ``path`` (made when absent); the records of kind
    ``accuracy`` already there are replaced.  In a merged file (several runs, one per process variant)
    they form a run of their own, labelled ``label``; in a one-run file they join its run."""
    from reports import results as res  # noqa: PLC0415 - the report package, only when writing one

    frameworks = {r["framework"]: r["framework_version"] for r in records if r.get("framework_version")}
    fresh = [res.complete_record(r) for r in records]
    if not path.exists():
        return res.write_atomic(path, res.make_doc(fresh, res.make_run(settings={}, pytest_args=[],
                                                                       frameworks=frameworks)))
    doc = res.load(path)
    kept = [c for c in doc["checks"] if c.get("kind") != "accuracy"]
    if "runs" not in doc:
        return res.write_atomic(path, res.make_doc(kept + fresh, doc["run"]))
    used = {c.get("run") for c in kept}
    runs = [r for r in doc["runs"] if r["label"] != label or label in used]
    if any(r["label"] == label for r in runs):
        raise ValueError(f"{path}: a run labelled {label!r} holds other checks; pass another label")
    now = res.now_iso()
    runs.append(dict(res.make_run(settings={"accuracy": True}, pytest_args=[], started=now, finished=now,
                                  frameworks=frameworks), label=label))
    merged = {"schema": doc["schema"], "runs": runs, "checks": kept + [dict(r, run=label) for r in fresh]}
    return res.write_atomic(path, merged)


# ---------------------------------------------------------------------------------------------------
# The table


def table_rows(records: Iterable[Mapping[str, Any]]) -> list[dict]:
    """One row per target (value and gradient side by side) from accuracy records."""
    rows: dict[tuple, dict] = {}
    for r in records:
        if r.get("kind") != "accuracy":
            continue
        extra = r.get("extra") or {}
        key = (r.get("framework"), r.get("binding"), r.get("case"), r.get("dtype"), r.get("device"))
        row = rows.setdefault(key, {"framework": r.get("framework"), "binding": r.get("binding"),
                                    "loss": r.get("loss"), "args": r.get("args") or {}, "dtype": r.get("dtype"),
                                    "device": r.get("device"), "verdict": r.get("verdict"), "reason": r.get("reason")})
        quantity = extra.get("quantity", "value")
        row[quantity] = {"max": extra.get("max_ulps"), "p999": extra.get("p999_ulps"),
                         "mismatch": extra.get("mismatch_rows"), "boundary": extra.get("boundary_rows"),
                         "rows": extra.get("rows"),
                         "region": (extra.get("worst_input") or {}).get("region")}
        timing = extra.get("timing") or {}
        if timing.get("rows_per_s") is not None:
            row["rows_per_s"] = timing["rows_per_s"]
            row["ratio"] = timing.get("ratio")
        if r.get("verdict") not in ("pass",):
            row["verdict"], row["reason"] = r.get("verdict"), r.get("reason")
    return list(rows.values())


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def format_table(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The table as text lines (max and p99.9 ulps of value and gradient per target)."""
    rows = table_rows(records)
    head = ("framework", "binding", "args", "dtype", "value max", "p99.9", "grad max", "p99.9", "mismatch",
            "boundary", "rows/s", "x base", "worst region (v/g)")
    body = []
    for row in rows:
        v, g = row.get("value") or {}, row.get("grad") or {}
        if row["verdict"] != "pass":
            body.append((row["framework"], row["binding"], _args_text(row["args"]), row["dtype"],
                         f"{row['verdict']}: {row['reason']}", "", "", "", "", "", "", "", ""))
            continue
        mismatch = "/".join(str(x.get("mismatch") or 0) for x in (v, g) if x)
        boundary = "/".join(str(x.get("boundary") or 0) for x in (v, g) if x)
        body.append((row["framework"], row["binding"], _args_text(row["args"]), row["dtype"], _fmt(v.get("max")),
                     _fmt(v.get("p999")), _fmt(g.get("max")), _fmt(g.get("p999")), mismatch, boundary,
                     _fmt(row.get("rows_per_s")), _fmt(row.get("ratio")),
                     "/".join(str(x.get("region")) for x in (v, g) if x)))
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    return [" ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body]]


def _args_text(args: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(args.items())) or "-"
