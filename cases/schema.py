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

* ``id``\\* unique over all files, ``[a-z0-9][a-z0-9._-]*``; a document case starts with ``docNNN.``, where
  NNN is the document's number;
* ``kind``\\* one of :data:`KINDS`;
* ``loss``\\* a key of ``reference.LOSSES`` or an activation (``softmax``, ``log_softmax``, ``sigmoid``, ...);
* ``args`` keyword arguments of the reference function, type-checked against its defaults (``convention`` is
  a field of its own);
* ``inputs`` named arrays (nested lists of numbers), named exactly like the reference function's positional
  parameters; label inputs (:data:`LABEL_INPUTS`) are integers; required by every kind but ``invariant``;
* ``dtype`` the dtype the inputs had (:data:`DTYPES`), required with ``inputs``;
* ``convention`` a key of ``reference.CONVENTIONS`` (default ``"math"``);
* ``reduction`` a name of ``reference.reduce`` (default ``"none"``);
* ``quantity`` ``"value"`` (default) or ``"grad"`` (``reference.grads.<loss>``: d(sum of per-sample
  losses)/d(y_pred); only with reduction ``none`` or ``sum``);
* ``scale`` a number the reduced reference value is multiplied by (default 1), for a document that scales
  the loss differently (e.g. sums over classes where the loss averages); say why in ``notes``;
* ``expect``: ``printed`` (a number string, or nested list of them, exactly as printed; no ``≈``),
  ``value`` (number or nested list: a value computed once, for ``example`` cases), ``computed_dtype`` (the
  dtype the document computed in; absent for a hand computation), ``exact`` (the document states an exact
  equality such as ``= 0``: the tolerance is then the error bound alone), ``by_convention`` (a table
  convention -> printed string: what the same inputs give under another convention, e.g. Keras 3);
* ``provenance``: ``document`` (one of :data:`DOCUMENTS`) and ``quote`` (verbatim, compared after collapsing
  whitespace runs); required for a document case;
* ``erratum`` (kind ``erratum`` only): ``type`` (``value``: a printed number that its inputs do not give;
  ``formula``: a mis-stated formula or expression, ``stated`` holding what it gives on the case's witness
  inputs; ``claim``: a wrong statement in words), ``printed`` / ``stated`` (number strings or nested
  lists), ``corrected``\\* (number string or nested list: what the reference gives), ``why``\\*;
* ``invariant`` (kind ``invariant`` only): ``property``\\* (:data:`PROPERTIES`), ``data``\\* (the printed
  numbers, strings or numbers), ``axis``, ``lower`` / ``upper`` (for ``bounded``), ``computed_dtype``;
* ``identity`` (kind ``identity`` only): ``name``\\* (:data:`IDENTITIES`), ``params`` (numbers);
* ``notes`` free text.
"""
from __future__ import annotations

import inspect
import re
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
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DOC_ID_PATTERN = re.compile(r"^doc(\d{3})\.")
NUMBER_PATTERN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
LABEL_INPUTS = ("labels",)
ACTIVATIONS = ("softmax", "log_softmax", "sigmoid", "log_sigmoid")
CASE_KEYS = ("id", "kind", "loss", "args", "inputs", "dtype", "convention", "reduction", "quantity", "scale",
             "expect", "provenance", "erratum", "invariant", "identity", "notes")
EXPECT_KEYS = ("printed", "value", "computed_dtype", "exact", "by_convention")
PROVENANCE_KEYS = ("document", "quote")
ERRATUM_KEYS = ("type", "printed", "stated", "corrected", "why")
INVARIANT_KEYS = ("property", "data", "axis", "lower", "upper", "computed_dtype")
IDENTITY_KEYS = ("name", "params")
NEEDS_INPUTS = ("golden", "erratum", "identity", "example", "edge", "fuzz")


# -- the reference's names and signatures (static fallback while reference/ cannot be imported) -----------

def _stub_signatures() -> dict[str, Callable]:
    """Signatures from docs/design.md, used only when ``reference`` cannot be imported."""
    def entropy(p, *, base=None, axis=-1): ...
    def cross_entropy(p, q, *, base=None, axis=-1): ...
    def kl_divergence(p, q, *, base=None, axis=-1, convention="math"): ...
    def mean_squared_error(y_true, y_pred, *, axis=-1): ...
    def mean_absolute_error(y_true, y_pred, *, axis=-1): ...
    def huber(y_true, y_pred, *, delta=1.0, axis=-1, convention="math"): ...
    def smooth_l1(y_true, y_pred, *, beta=1.0, axis=-1, convention="math"): ...
    def log_cosh(y_true, y_pred, *, axis=-1, convention="math"): ...
    def categorical_crossentropy(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1,
                                 convention="math"): ...
    def sparse_categorical_crossentropy(labels, y_pred, *, from_logits=False, axis=-1, convention="math"): ...
    def binary_crossentropy(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, axis=-1,
                            convention="math"): ...
    def nll(labels, log_probs, *, axis=-1): ...
    def hinge(y_true, y_pred, *, axis=-1, convention="math"): ...
    def squared_hinge(y_true, y_pred, *, axis=-1, convention="math"): ...
    def categorical_hinge(y_true, y_pred, *, axis=-1, convention="math"): ...
    def softmax(z, axis=-1): ...
    def log_softmax(z, axis=-1): ...
    def sigmoid(z): ...
    def log_sigmoid(z): ...
    return {f.__name__: f for f in (entropy, cross_entropy, kl_divergence, mean_squared_error,
                                    mean_absolute_error, huber, smooth_l1, log_cosh, categorical_crossentropy,
                                    sparse_categorical_crossentropy, binary_crossentropy, nll, hinge,
                                    squared_hinge, categorical_hinge, softmax, log_softmax, sigmoid,
                                    log_sigmoid)}


STUB_CONVENTIONS = ("math", "keras", "keras2", "torch", "optax")


def reference_module():
    """``reference`` when importable, else None (the loader then checks against the design's stubs)."""
    try:
        import reference
    except Exception:  # noqa: BLE001 - any failure to import means "not there yet"
        return None
    return reference if hasattr(reference, "LOSSES") else None


def loss_functions() -> dict[str, Callable]:
    """Every name a case may use as ``loss``: the reference's losses plus its activations."""
    ref = reference_module()
    if ref is None:
        return _stub_signatures()
    found = dict(ref.LOSSES)
    for name in ACTIVATIONS:
        if name not in found and callable(getattr(ref, name, None)):
            found[name] = getattr(ref, name)
    return found


def conventions() -> tuple[str, ...]:
    ref = reference_module()
    return tuple(ref.CONVENTIONS) if ref is not None else STUB_CONVENTIONS


def input_names(fn: Callable) -> tuple[str, ...]:
    """The function's positional parameters without defaults: the names a case's inputs must have."""
    return tuple(p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


def arg_defaults(fn: Callable) -> dict[str, Any]:
    """The keyword arguments a case may set in ``args`` (all but the inputs and ``convention``)."""
    inputs = set(input_names(fn))
    return {p.name: (None if p.default is p.empty else p.default)
            for p in inspect.signature(fn).parameters.values()
            if p.name not in inputs and p.name != "convention"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def accepts_convention(fn: Callable) -> bool:
    return "convention" in inspect.signature(fn).parameters


# -- small value checks (return an error text or None) ---------------------------------------------------

def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def arg_type_error(value: Any, default: Any) -> str | None:
    """Check an ``args`` value against the type of the reference function's default."""
    def show(v):
        return f"{type(v).__name__} {v!r}"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"expected a boolean, got {show(value)}"
    if isinstance(default, int):  # an axis: an int or a list of ints
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return None
        return f"expected an integer (or a list of integers), got {show(value)}"
    if isinstance(default, float) or default is None:
        return None if is_number(value) else f"expected a number, got {show(value)}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"expected a string, got {show(value)}"
    return None


def number_string_error(text: Any) -> str | None:
    """A printed number: a non-empty decimal string such as "2.3978953", "-0.5", "1.2e-3"."""
    if not isinstance(text, str):
        return f"expected a number written as a string (as printed), got {type(text).__name__} {text!r}"
    if not text.strip():
        return "empty string: write the number exactly as printed"
    if not NUMBER_PATTERN.match(text.strip()):
        return f"{text!r} is not a number as printed (digits, optional sign, point and exponent; no '≈')"
    try:
        Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return f"{text!r} is not a decimal number"
    return None


def nested_shape(value: Any, leaf: Callable[[Any], str | None], path: str = "") -> tuple[tuple[int, ...] | None, str | None]:
    """Shape of a rectangular nested list whose leaves pass ``leaf`` (which returns an error or None)."""
    if not isinstance(value, list):
        err = leaf(value)
        return ((), None) if err is None else (None, f"element{path}: {err}")
    if not value:
        return (0,), None
    shapes = []
    for i, item in enumerate(value):
        shape, err = nested_shape(item, leaf, f"{path}[{i}]")
        if err:
            return None, err
        shapes.append(shape)
    if any(s != shapes[0] for s in shapes):
        return None, f"ragged nested list at{path or ' the top level'}: rows have shapes {sorted(set(shapes))}"
    return (len(value),) + shapes[0], None


def numeric_leaf(x: Any) -> str | None:
    return None if is_number(x) else f"expected a number, got {type(x).__name__} {x!r}"


def integer_leaf(x: Any) -> str | None:
    return None if isinstance(x, int) and not isinstance(x, bool) else (
        f"expected an integer label, got {type(x).__name__} {x!r}")


def printed_or_number_leaf(x: Any) -> str | None:
    return None if is_number(x) else number_string_error(x)
