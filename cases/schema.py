"""The case schema: what a case file may say, checked field by field (nothing is evaluated as code).

A case file is TOML::

    schema = "lossparity.cases/1"
    description = "optional text"

    [[case]]
    id = "doc000.entropy.bits.uniform"
    kind = "golden"
    loss = "entropy"
    args = { base = 2 }
    inputs = { p = [0.25, 0.25, 0.25, 0.25] }
    dtype = "float32"
    convention = "math"
    expect = { printed = "2.0", computed_dtype = "float32" }
    provenance = { document = "000_fe8ceeae3315ded2.txt", quote = "numpy=2.0>" }

Fields of a case (``*`` = required):

* ``id``\\* unique over all files, the whole string matching ``[a-z0-9][a-z0-9._-]*`` (no trailing
  newline); a document case starts with ``docNNN.``, where NNN is the document's number;
* ``kind``\\* one of :data:`KINDS`;
* ``loss``\\* a key of ``reference.LOSSES`` or ``reference.ACTIVATIONS`` (names, input names and argument
  defaults are read from those functions' signatures);
* ``args`` keyword arguments of the reference function, type-checked against its defaults, numbers finite
  (``convention`` is a field of its own); an ``axis`` must be in range for the inputs' rank;
* ``inputs`` named arrays (non-empty nested lists of numbers, at most :data:`MAX_RANK` deep), named exactly
  like the reference function's positional parameters; label inputs (:data:`LABEL_INPUTS`) are integers in
  the int64 range; required by every kind but ``invariant``.  The inputs must fit together: the value
  inputs (``y_true``/``y_pred``, ``p``/``q``) have equal shapes, labels have the prediction's shape without
  the class axis and lie in ``[0, K)``, and every number is finite.  Only an ``edge`` case may break these
  three rules (mismatched shapes, out-of-range or ignore-index labels such as ``-100``, NaN and infinities):
  that is what the edge battery records the frameworks' behaviour on, with no expected number;
* ``dtype`` the dtype the inputs had (:data:`DTYPES`), required with ``inputs``;
* ``convention`` a convention name (default ``"math"``): an identifier (``[A-Za-z_][A-Za-z0-9_]*``); the
  loader knows no framework, so which names exist is the caller's to say (``load_all(conventions=...)``);
* ``reduction`` a name of ``reference.reduce`` (default ``"none"``);
* ``quantity`` ``"value"`` (default) or ``"grad"`` (``reference.grads.<loss>``: d(sum of per-sample
  losses)/d(y_pred); only with reduction ``none`` or ``sum``);
* ``scale`` a finite non-zero number the reduced reference value is multiplied by (default 1), for a
  document that scales the loss differently (e.g. sums over classes where the loss averages); say why in
  ``notes``;
* ``expect``: ``printed`` (a number string, or nested list of them, exactly as printed; no ``≈``; finite
  in float64), ``value`` (finite number or nested list: a value computed once, for ``example`` cases),
  ``computed_dtype`` (the dtype the document computed in; absent for a hand computation), ``exact`` (the
  document states an exact equality such as ``= 0``: the tolerance is then the error bound alone),
  ``by_convention`` (a table convention name -> printed string: what the same inputs give under another
  convention, e.g. Keras 3), ``refused`` (edge cases only, a boolean: the reference refuses these inputs
  under the mathematics, which is the case's point: labels out of range, mismatched shapes, an argument
  outside its domain.  Required exactly when the reference refuses: both sides refusing is an agreement, so
  an input written wrong by mistake would otherwise pass unnoticed);
* ``provenance``: ``document`` (one of :data:`DOCUMENTS`) and ``quote`` (verbatim, compared after collapsing
  whitespace runs); required for a document case;
* ``erratum`` (kind ``erratum`` only): ``type`` (``value``: a printed number that its inputs do not give;
  ``formula``: a mis-stated formula or expression, ``stated`` holding what it gives on the case's witness
  inputs; ``claim``: a wrong statement in words), ``printed`` / ``stated`` (number strings or nested
  lists), ``corrected``\\* (number string or nested list: what the reference gives), ``why``\\*;
* ``invariant`` (kind ``invariant`` only): ``property``\\* (:data:`PROPERTIES`), ``data``\\* (the printed
  numbers, strings or numbers), ``axis``, ``lower`` / ``upper`` (for ``bounded``), ``computed_dtype``;
* ``identity`` (kind ``identity`` only): ``name``\\* (:data:`IDENTITIES`), ``params`` (finite numbers);
* ``notes`` free text.

Every number a case states (``scale``, ``args``, ``expect``, ``erratum``, ``invariant``, ``identity``) must
be finite; every array non-empty.  Files are read as UTF-8; a file's suffix is ``.toml`` in any case.
"""
from __future__ import annotations

import functools
import inspect
import math
import re
import reprlib
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

SCHEMA_ID = "lossparity.cases/1"
TOP_LEVEL_KEYS = ("schema", "description", "case")
KINDS = ("golden", "erratum", "invariant", "identity", "edge", "example", "fuzz")
DTYPES = ("float16", "bfloat16", "float32", "float64")
REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size", "batchmean")
QUANTITIES = ("value", "grad")
ERRATUM_TYPES = ("value", "formula", "claim")
PROPERTIES = {
    "sum_zero": "the data sum to zero along axis (within the printed digits and the dtype's rounding)",
    "sums_to_one": "the data sum to one along axis",
    "bounded": "lower <= data <= upper elementwise (lower/upper broadcast)",
    "nonnegative": "every element is >= 0",
}
# Identities the documents state.  name -> (loss the case's inputs are named for, statement).
# Their checks live in tests/support/case_eval.py (evaluated with the reference).
IDENTITIES = {
    "ce_equals_nll_of_log_softmax": (
        "sparse_categorical_crossentropy",
        "F.cross_entropy(z, t) == nll_loss(log(softmax(z)), t): cross entropy from logits is the NLL of "
        "the log-softmax"),
    "nll_of_log_is_sparse_ce": (
        "sparse_categorical_crossentropy",
        "nll_loss(log(p), t) == sparse categorical cross entropy of the probabilities p"),
    "softmax_sums_to_one": ("softmax", "sum_i softmax(z)_i == 1"),
    "softmax_jacobian": (
        "softmax",
        "d p_i / d z_j == p_i (1 - p_j) for i == j and -p_i p_j for i != j (checked against the reference "
        "gradient of the softmax cross entropy for every one-hot target)"),
    "softmax_ce_grad_is_p_minus_y": (
        "categorical_crossentropy", "d CE(y, softmax(z)) / dz == softmax(z) - y"),
    "cross_entropy_decomposition": ("cross_entropy", "H(p, q) == H(p) + D_KL(p || q)"),
    "cross_entropy_minimum_at_p": ("cross_entropy", "H(p, p) == H(p) and H(p, q) >= H(p)"),
    "one_hot_cross_entropy_is_neg_log": ("cross_entropy", "for one-hot p with p_k = 1: H(p, q) == -log q_k"),
    "binary_ce_is_two_class_ce": (
        "binary_crossentropy", "BCE(y, p) == CE([y, 1 - y], [p, 1 - p]) (the single-output derivation)"),
    "sigmoid_mse_gradient_vanishes": (
        "binary_crossentropy",
        "d MSE(y, sigmoid(z)) / dz == 2 sigmoid(z) (1 - sigmoid(z)) * d BCE(y, sigmoid(z)) / dz, so where "
        "the sigmoid saturates the MSE gradient vanishes while the BCE gradient (sigmoid(z) - y) does not; "
        "params.max_ratio bounds |MSE gradient| / |BCE gradient| on the case's inputs"),
}
# The five seed documents the document cases come from (../shared/seeds/<name>).
DOCUMENTS = (
    "000_fe8ceeae3315ded2.txt",
    "001_9cb51b7d38d6d2db.txt",
    "002_e68de221f91334ee.txt",
    "003_db0d15251351a46e.txt",
    "004_5cd0be5d1000748a.txt",
)
# Anchored with \A ... \Z (not ^ ... $, which lets a trailing newline through): .match and .fullmatch agree.
ID_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9._-]*\Z")
DOC_ID_PATTERN = re.compile(r"^doc(\d{3})\.")
NUMBER_PATTERN = re.compile(r"\A[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
# A convention name: the loader knows none (no framework is named here); callers say which exist.
CONVENTION_PATTERN = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
DEFAULT_CONVENTION = "math"
LABEL_INPUTS = ("labels", "logit_lengths", "label_lengths")  # integer inputs: class labels, sequence lengths
EDGE_KIND = "edge"   # the one kind whose inputs may be NaN/inf, mismatched in shape, or labels out of range
MAX_RANK = 32        # deepest nesting of an array (NumPy 1 allows 32 dimensions, NumPy 2 64)
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
CASE_KEYS = ("id", "kind", "loss", "args", "inputs", "dtype", "convention", "reduction", "quantity", "scale",
             "expect", "provenance", "erratum", "invariant", "identity", "notes", "ignore_index")
EXPECT_KEYS = ("printed", "value", "computed_dtype", "exact", "by_convention", "refused")
PROVENANCE_KEYS = ("document", "quote")
ERRATUM_KEYS = ("type", "printed", "stated", "corrected", "why")
INVARIANT_KEYS = ("property", "data", "axis", "lower", "upper", "computed_dtype")
IDENTITY_KEYS = ("name", "params")
NEEDS_INPUTS = ("golden", "erratum", "identity", "example", "edge", "fuzz")


# -- the reference's names and signatures (``reference`` needs only numpy and mpmath) --------------------

def _reference():
    import reference  # imported on first use, so that importing ``cases`` never imports it
    return reference


def loss_functions() -> dict[str, Callable]:
    """Every name a case may use as ``loss``: ``reference.LOSSES`` plus ``reference.ACTIVATIONS``."""
    ref = _reference()
    found = dict(ref.ACTIVATIONS)
    found.update(ref.LOSSES)
    return found


def activation_names() -> tuple[str, ...]:
    return tuple(_reference().ACTIVATIONS)


def __getattr__(name: str):
    # ``ACTIVATIONS`` used to be a hand-written tuple; it is now read from the reference.
    if name == "ACTIVATIONS":
        return activation_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def _signature(fn: Callable) -> inspect.Signature:
    return inspect.signature(fn)


def input_names(fn: Callable) -> tuple[str, ...]:
    """The function's positional parameters without defaults: the names a case's inputs must have."""
    return tuple(p.name for p in _signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


# Array keyword parameters of the reference (``reference.WEIGHT_PARAMETERS``): a case gives them as inputs.
WEIGHT_INPUTS = ("class_weight", "weight", "pos_weight", "where")


def weight_names(fn: Callable) -> tuple[str, ...]:
    """The function's weight parameters (optional inputs a case may give beside the required ones)."""
    return tuple(name for name in _signature(fn).parameters if name in WEIGHT_INPUTS)


def arg_defaults(fn: Callable) -> dict[str, Any]:
    """The keyword arguments a case may set in ``args`` (all but the inputs, weights and ``convention``)."""
    inputs = set(input_names(fn)) | set(WEIGHT_INPUTS)
    return {p.name: (None if p.default is p.empty else p.default)
            for p in _signature(fn).parameters.values()
            if p.name not in inputs and p.name != "convention"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def accepts_convention(fn: Callable) -> bool:
    return "convention" in _signature(fn).parameters


# -- small value checks (return an error text or None) ---------------------------------------------------

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, 6, 6, 60, 40, 60


def short(value: Any) -> str:
    """``repr(value)``, shortened, and safe for any nesting depth or size."""
    try:
        return _REPR.repr(value)
    except (RecursionError, ValueError):  # pragma: no cover - reprlib bounds the depth already
        return "<unprintable>"


def shown(value: Any) -> str:
    """``type value`` for a message."""
    return f"{type(value).__name__} {short(value)}"


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def as_float(x: Any) -> float | None:
    """``float(x)``, or None when an integer is too large for a float64."""
    try:
        return float(x)
    except OverflowError:
        return None


def finite_number_error(x: Any) -> str | None:
    """A number that is finite in float64 (no NaN, no infinity, no integer beyond float64's range)."""
    if not is_number(x):
        return f"expected a number, got {shown(x)}"
    f = as_float(x)
    if f is None:
        return f"{shown(x)} is too large for a float64"
    if not math.isfinite(f):
        return f"expected a finite number, got {f!r}"
    return None


def arg_type_error(value: Any, default: Any) -> str | None:
    """Check an ``args`` value against the type of the reference function's default."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"expected a boolean, got {shown(value)}"
    if isinstance(default, int):  # an axis: an int or a list of ints
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return None
        return f"expected an integer (or a list of integers), got {shown(value)}"
    if isinstance(default, float) or default is None:
        return finite_number_error(value)
    if isinstance(default, str):
        return None if isinstance(value, str) else f"expected a string, got {shown(value)}"
    return None


def number_string_error(text: Any) -> str | None:
    """A printed number: a non-empty decimal string such as "2.3978953", "-0.5", "1.2e-3", finite in
    float64."""
    if not isinstance(text, str):
        return f"expected a number written as a string (as printed), got {shown(text)}"
    if not text.strip():
        return "empty string: write the number exactly as printed"
    if not NUMBER_PATTERN.match(text.strip()):
        return f"{short(text)} is not a number as printed (digits, optional sign, point and exponent; no '≈')"
    try:
        Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return f"{short(text)} is not a decimal number"
    if not math.isfinite(float(text)):
        return f"{short(text)} is beyond float64's range (it reads as {float(text)!r}): a number must be finite"
    return None


def convention_name_error(name: Any, known: Any = None) -> str | None:
    """A convention name: identifier syntax; and, when ``known`` is given, one of ``known``."""
    if not isinstance(name, str):
        return f"expected a convention name (a string), got {shown(name)}"
    if not CONVENTION_PATTERN.match(name):
        return f"{short(name)} is not a convention name: letters, digits and '_', not starting with a digit"
    if known is not None and name not in known:
        return f"unknown convention {name!r}; expected one of: {', '.join(sorted(known))}"
    return None


def nested_shape(value: Any, leaf: Callable[[Any], str | None], path: str = "",
                 depth: int = 0) -> tuple[tuple[int, ...] | None, str | None]:
    """Shape of a rectangular, non-empty nested list at most :data:`MAX_RANK` deep, whose leaves pass
    ``leaf`` (which returns an error or None).  The depth is checked before going deeper, so no nesting
    reaches NumPy or exhausts the stack."""
    if not isinstance(value, list):
        err = leaf(value)
        return ((), None) if err is None else (None, f"element{path}: {err}" if path else err)
    where = path or " the top level"
    if depth >= MAX_RANK:
        return None, f"nested more than {MAX_RANK} deep (at{where}): an array has at most {MAX_RANK} dimensions"
    if not value:
        return None, f"empty array at{where}: an array needs at least one element"
    shapes = []
    for i, item in enumerate(value):
        shape, err = nested_shape(item, leaf, f"{path}[{i}]", depth + 1)
        if err:
            return None, err
        shapes.append(shape)
    if any(s != shapes[0] for s in shapes):
        return None, f"ragged nested list at{where}: rows have shapes {sorted(set(shapes))}"
    return (len(value),) + shapes[0], None


def numeric_leaf(x: Any) -> str | None:
    """A number representable as a float64; NaN and infinities pass (an edge case's inputs)."""
    if not is_number(x):
        return f"expected a number, got {shown(x)}"
    return None if as_float(x) is not None else f"{shown(x)} is too large for a float64"


def finite_leaf(x: Any) -> str | None:
    return finite_number_error(x)


def integer_leaf(x: Any) -> str | None:
    if not (isinstance(x, int) and not isinstance(x, bool)):
        return f"expected an integer label, got {shown(x)}"
    if not INT64_MIN <= x <= INT64_MAX:
        return f"label {short(x)} is beyond the 64-bit integer range"
    return None


def printed_or_number_leaf(x: Any) -> str | None:
    return finite_number_error(x) if is_number(x) else number_string_error(x)
