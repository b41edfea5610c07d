"""Load and validate case files (TOML, stdlib ``tomllib``); see :mod:`cases.schema` for the fields.

Nothing in a case file is evaluated: numbers are numbers, strings are data.  The first invalid field stops
the load with a :class:`CaseError` naming the file, the case id and the field; a file-level problem (not
UTF-8, not TOML, no schema line) names the case ``-``.

The loader knows no framework: a case's ``convention`` (and the keys of ``expect.by_convention``) are
checked for their syntax only, unless the caller passes the names that exist (those its adapters
declare, say)::

    load_all(conventions=known_names)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterable

import numpy as np

from cases import schema as S

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

CASES_ROOT = Path(__file__).resolve().parent


class CaseError(Exception):
    """An invalid case file: ``"<file>: case '<id>': field '<field>': <what is wrong>"``."""

    def __init__(self, file: str | Path, case_id: str, field_name: str, message: str):
        self.file, self.case_id, self.field, self.problem = str(file), case_id, field_name, message
        super().__init__(f"{self.file}: case '{case_id}': field '{field_name}': {message}")


@dataclass(frozen=True)
class Expect:
    printed: str | tuple | None = None       # as printed: a number string or nested tuple of them
    value: np.ndarray | None = None           # a value computed once (example cases)
    computed_dtype: str | None = None         # dtype the document computed in; None = by hand
    exact: bool = False                       # the document states an exact equality
    by_convention: dict = field(default_factory=dict)   # convention -> printed string(s)
    refused: bool = False                     # an edge case whose inputs the reference refuses (mathematics)


@dataclass(frozen=True)
class Provenance:
    document: str
    quote: str


@dataclass(frozen=True)
class Erratum:
    type: str                                 # value | formula | claim
    corrected: str | tuple
    why: str
    printed: str | tuple | None = None        # what the document printed (type "value")
    stated: str | tuple | None = None         # what the stated formula gives on the inputs (type "formula")


@dataclass(frozen=True, eq=False)
class Invariant:
    property: str
    data: np.ndarray                          # float64
    data_printed: Any = None                  # the data as written (strings keep their printed digits)
    axis: int | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    computed_dtype: str | None = None


@dataclass(frozen=True)
class Identity:
    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Case:
    id: str
    kind: str
    loss: str
    args: dict
    inputs: dict                              # name -> np.ndarray (float64; int64 for labels)
    dtype: str | None
    convention: str
    reduction: str
    expect: Expect
    provenance: Provenance | None
    erratum: Erratum | None
    invariant: Invariant | None
    identity: Identity | None
    notes: str
    file: str
    quantity: str = "value"
    scale: float = 1.0

    def __repr__(self) -> str:
        return f"Case({self.id!r}, kind={self.kind!r}, loss={self.loss!r}, file={Path(self.file).name!r})"


def _printable(text: str) -> str:
    """``text`` for a message: as it is when printable, else with its control characters escaped."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _tuple(x):
    return tuple(_tuple(v) for v in x) if isinstance(x, list) else x


class _Checker:
    """Validates one case table; every error names the file, the case id and the field."""

    def __init__(self, file: str, case_id: str):
        self.file, self.case_id = file, case_id

    def fail(self, field_name: str, message: str):
        raise CaseError(self.file, self.case_id, field_name, message)

    def keys(self, table: dict, allowed: Iterable[str], where: str):
        for key in table:
            if key not in allowed:
                self.fail(f"{where}{_printable(key)}",
                          f"unknown key; allowed: {', '.join(allowed)}")

    def table(self, raw: dict, key: str, where: str = "") -> dict | None:
        value = raw.get(key)
        if value is not None and not isinstance(value, dict):
            self.fail(where + key, f"expected a table, got {S.shown(value)}")
        return value

    def string(self, raw: dict, key: str, where: str = "", required: bool = False) -> str | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.fail(where + key, "missing")
            return None
        if not isinstance(value, str):
            self.fail(where + key, f"expected a string, got {S.shown(value)}")
        if required and not value.strip():
            self.fail(where + key, "empty string")
        return value

    def choice(self, raw: dict, key: str, allowed: Iterable[str], where: str = "", default: str | None = None,
               required: bool = False) -> str | None:
        value = self.string(raw, key, where, required)
        if value is None:
            return default
        allowed = tuple(allowed)
        if value not in allowed:
            self.fail(where + key, f"unknown {key} {S.short(value)}; expected one of: {', '.join(allowed)}")
        return value

    def array(self, value: Any, field_name: str, leaf=S.finite_leaf) -> np.ndarray:
        """A non-empty rectangular nested list whose leaves pass ``leaf``: int64 for labels, else float64."""
        shape, err = S.nested_shape(value, leaf)
        if err:
            self.fail(field_name, err)
        integer = leaf is S.integer_leaf
        return np.asarray(value, dtype=np.int64 if integer else np.float64).reshape(shape)

    def printed(self, value: Any, field_name: str) -> tuple[Any, np.ndarray]:
        """A printed number string, or a nested list of them: (as written, float64 array)."""
        if isinstance(value, list):
            shape, err = S.nested_shape(value, S.number_string_error)
            if err:
                self.fail(field_name, err)
            flat = np.asarray([float(s) for s in _flatten(value)], dtype=np.float64)
            return _tuple(value), flat.reshape(shape)
        err = S.number_string_error(value)
        if err:
            self.fail(field_name, err)
        return value.strip(), np.asarray(float(value), dtype=np.float64)

    def data(self, value: Any, field_name: str) -> tuple[Any, np.ndarray]:
        shape, err = S.nested_shape(value, S.printed_or_number_leaf)
        if err:
            self.fail(field_name, err)
        flat = np.asarray([float(s) for s in _flatten(value)], dtype=np.float64)
        return _tuple(value), flat.reshape(shape)


def _flatten(x):
    if isinstance(x, list):
        for item in x:
            yield from _flatten(item)
    else:
        yield x


def _shown_id(raw_id: Any, index: int) -> str:
    """The case id a message names: the id as written (control characters escaped), else ``#<index>``."""
    return _printable(raw_id) if isinstance(raw_id, str) and raw_id else f"#{index}"


def _known_conventions(conventions: Collection[str] | None) -> frozenset[str] | None:
    if conventions is None:
        return None
    if isinstance(conventions, (str, bytes)):
        raise TypeError(f"conventions must be a collection of names, not the single string {conventions!r}")
    known = frozenset(conventions)
    odd = [n for n in known if not isinstance(n, str)]
    if odd:
        raise TypeError(f"conventions must be names (strings), got {odd!r}")
    return known


_OUT_OF_EDGE = "; only an edge case (kind 'edge') records the behaviour on such inputs"


def _finite_input_leaf(x: Any) -> str | None:
    """An input number of a case that is not an edge case: finite."""
    err = S.numeric_leaf(x)
    if err is None and not math.isfinite(float(x)):
        err = f"{x!r} is not a finite number{_OUT_OF_EDGE}"
    return err


def _check_inputs_fit(c: _Checker, loss: str, fn, args: dict, inputs: dict[str, np.ndarray], edge: bool,
                      ignore_index: int | None = None):
    """The inputs fit the reference function: the axis exists in every value input; unless the case is an
    edge case, the value inputs have equal shapes, labels have the prediction's shape without the class
    axis, and every label lies in [0, K) or equals the case's declared ``ignore_index`` (a number measured
    under a convention that gives that label a meaning)."""
    labels = [n for n in inputs if n in S.LABEL_INPUTS]
    values = [n for n in inputs if n not in S.LABEL_INPUTS and n not in S.WEIGHT_INPUTS]
    if not values:
        return
    pred = values[-1]            # the prediction: the last value input (y_pred, q, log_probs, z, p)
    defaults = S.arg_defaults(fn)
    class_axis = -1
    if "axis" in defaults:
        given = "axis" in args
        axis = args["axis"] if given else defaults["axis"]
        if isinstance(axis, list) and labels:
            c.fail("args.axis", f"reference {loss}() reads integer labels along one class axis: give one "
                                f"integer, not {S.short(axis)}")
        # None (a loss summing over every axis, the generalised Dice's default) names no axis to check.
        axes = axis if isinstance(axis, list) else [] if axis is None else [axis]
        for name in values:
            shape = inputs[name].shape
            nd = len(shape)
            seen: set[int] = set()
            for a in axes:
                if not -nd <= a < nd:
                    rank = f"of shape {shape} (rank {nd}: axes {-nd}..{nd - 1})" if nd else "(a 0-d array)"
                    if given:
                        c.fail("args.axis", f"axis {S.short(a)} is out of range for inputs.{name} {rank}")
                    c.fail(f"inputs.{name}", f"reference {loss}() reduces over axis {a} (the default), which "
                                             f"inputs.{name} {rank} does not have; give it at least one dimension "
                                             f"or set args.axis")
                if a % nd in seen:
                    c.fail("args.axis", f"axis {a} repeated (the same axis of inputs.{name} twice)")
                seen.add(a % nd)
        class_axis = axes[0] if axes else -1
    if edge:
        return
    want = inputs[pred].shape
    for name in values[:-1]:
        if inputs[name].shape != want:
            c.fail(f"inputs.{name}", f"shape {inputs[name].shape} does not match inputs.{pred}'s shape {want}: "
                                     f"reference {loss}() takes them elementwise{_OUT_OF_EDGE}")
    if not labels:
        return
    ax = class_axis % len(want)
    k = want[ax]
    for name in labels:
        lab = inputs[name]
        if lab.shape != want[:ax] + want[ax + 1:]:
            c.fail(f"inputs.{name}", f"shape {lab.shape} is not inputs.{pred}'s shape {want} without its class "
                                     f"axis {class_axis} (expected {want[:ax] + want[ax + 1:]}){_OUT_OF_EDGE}")
        bad = np.argwhere(((lab < 0) | (lab >= k)) & (lab != (ignore_index if ignore_index is not None else 0)))
        if bad.size:
            where = tuple(int(i) for i in bad[0])
            c.fail(f"inputs.{name}", f"label {int(lab[where])} at {list(where)} is outside [0, {k}) (inputs.{pred} "
                                     f"has {k} classes on axis {class_axis}); out-of-range labels and ignore "
                                     f"indices such as -100 belong in an edge case (kind 'edge'), which "
                                     f"records the behaviour on them")


def _refusal(fn, inputs: dict[str, np.ndarray], args: dict) -> str | None:
    """Why the reference (the mathematics, float64) refuses these inputs and arguments, or None if it computes."""
    arrays = {name: (x if name in S.LABEL_INPUTS else np.asarray(x, dtype=np.float64)) for name, x in inputs.items()}
    try:
        with np.errstate(all="ignore"):
            fn(**arrays, **args)
    except Exception as exc:  # noqa: BLE001 - any refusal is reported, with its type
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"  # whole: it names the input
    return None


def parse_case(raw: Any, file: str, index: int, conventions: Collection[str] | None = None) -> Case:
    """Validate one ``[[case]]`` table and build its :class:`Case`.

    ``conventions``: the convention names that exist (None: check the names' syntax only)."""
    known = _known_conventions(conventions)
    if not isinstance(raw, dict):
        raise CaseError(file, f"#{index}", "case", f"expected a table, got {type(raw).__name__}")
    raw_id = raw.get("id")
    c = _Checker(file, _shown_id(raw_id, index))
    if raw_id is None:
        c.fail("id", f"missing (the {index}th [[case]] of the file has no id)")
    if not isinstance(raw_id, str) or not S.ID_PATTERN.fullmatch(raw_id):
        c.fail("id", f"{S.short(raw_id)} is not a valid id: use lower-case letters, digits, '.', '_' and '-', "
                     f"starting with a letter or digit (nothing else, not even a trailing newline)")
    c.keys(raw, S.CASE_KEYS, "")
    kind = c.choice(raw, "kind", S.KINDS, required=True)
    edge = kind == S.EDGE_KIND

    functions = S.loss_functions()
    loss = c.choice(raw, "loss", sorted(functions), required=True)
    fn = functions[loss]

    # args: keyword arguments of the reference function, typed like their defaults, numbers finite
    args = c.table(raw, "args") or {}
    allowed_args = S.arg_defaults(fn)
    for key, value in args.items():
        if key == "convention":
            c.fail("args.convention", "the convention is the case's own field 'convention', not an argument")
        if key not in allowed_args:
            c.fail(f"args.{_printable(key)}", f"unknown argument of reference {loss}(); it takes: "
                                              f"{', '.join(allowed_args) or 'no keyword arguments'}")
        err = S.arg_type_error(value, allowed_args[key])
        if err:
            c.fail(f"args.{key}", err)

    # inputs: named like the positional parameters, fitting together
    names = S.input_names(fn)
    raw_inputs = c.table(raw, "inputs")
    inputs: dict[str, np.ndarray] = {}
    if raw_inputs is None:
        if kind in S.NEEDS_INPUTS:
            c.fail("inputs", f"missing: a {kind} case needs inputs {', '.join(names)}")
    else:
        optional = S.weight_names(fn)
        for key in raw_inputs:
            if key not in names and key not in optional:
                c.fail(f"inputs.{_printable(key)}", f"reference {loss}() has no input named {S.short(key)}; its "
                                                    f"inputs are: {', '.join(names + optional)}")
        for name in names:
            if name not in raw_inputs:
                c.fail(f"inputs.{name}", f"missing: reference {loss}() needs inputs {', '.join(names)}")
            if name in S.LABEL_INPUTS:
                inputs[name] = c.array(raw_inputs[name], f"inputs.{name}", S.integer_leaf)
            elif edge:
                inputs[name] = c.array(raw_inputs[name], f"inputs.{name}", S.numeric_leaf)
            else:
                inputs[name] = c.array(raw_inputs[name], f"inputs.{name}", _finite_input_leaf)
        for name in optional:  # weights: finite numbers (any case kind), their shape checked by the reference
            if name in raw_inputs:
                inputs[name] = c.array(raw_inputs[name], f"inputs.{name}", _finite_input_leaf)
        ignore = raw.get("ignore_index")
        if ignore is not None and (isinstance(ignore, bool) or not isinstance(ignore, int) or ignore >= 0):
            c.fail("ignore_index", f"{S.short(ignore)} is not a negative integer (the label value the case's "
                                   f"convention ignores, e.g. -100)")
        if ignore is not None and kind != "golden":
            c.fail("ignore_index", "only a golden case (a number measured under a convention) declares one")
        _check_inputs_fit(c, loss, fn, args, inputs, edge, ignore_index=ignore)
    dtype = c.choice(raw, "dtype", S.DTYPES)
    if inputs and dtype is None:
        c.fail("dtype", f"missing: say which dtype the inputs had ({', '.join(S.DTYPES)})")

    convention = raw.get("convention", S.DEFAULT_CONVENTION)
    err = S.convention_name_error(convention, known) if "convention" in raw else None
    if err:
        c.fail("convention", err)
    reduction = c.choice(raw, "reduction", S.REDUCTIONS, default="none")
    quantity = c.choice(raw, "quantity", S.QUANTITIES, default="value")
    if quantity == "grad" and (loss in S.activation_names() or reduction not in ("none", "sum")):
        c.fail("quantity", "'grad' is d(sum of per-sample losses)/d(y_pred) of a loss: use it with "
                           "reduction 'none' or 'sum' and a loss, not an activation")
    scale = raw.get("scale", 1.0)
    if not S.is_number(scale) or scale == 0:
        c.fail("scale", f"expected a non-zero number, got {S.shown(scale)}")
    err = S.finite_number_error(scale)
    if err:
        c.fail("scale", err)
    notes = c.string(raw, "notes") or ""

    # expect
    raw_expect = c.table(raw, "expect") or {}
    c.keys(raw_expect, S.EXPECT_KEYS, "expect.")
    printed = value = None
    if "printed" in raw_expect:
        printed, _ = c.printed(raw_expect["printed"], "expect.printed")
    if "value" in raw_expect:
        value = c.array(raw_expect["value"], "expect.value", S.finite_leaf)
    computed_dtype = c.choice(raw_expect, "computed_dtype", S.DTYPES, "expect.")
    exact = raw_expect.get("exact", False)
    if not isinstance(exact, bool):
        c.fail("expect.exact", f"expected a boolean, got {S.shown(exact)}")
    by_convention = c.table(raw_expect, "by_convention", "expect.") or {}
    for name, text in by_convention.items():
        err = S.convention_name_error(name, known)
        if err:
            c.fail(f"expect.by_convention.{_printable(name)}", err)
        c.printed(text, f"expect.by_convention.{name}")
    by_convention = {k: _tuple(v) for k, v in by_convention.items()}
    if kind == "golden" and printed is None and value is None:
        c.fail("expect", "a golden case needs expect.printed (the number as printed) or expect.value")
    if kind == "example" and value is None:
        c.fail("expect.value", "missing: an example case stores the value computed once from its inputs")
    if kind == "example" and not notes:
        c.fail("notes", "missing: say that the document printed nothing for this example")
    refused = raw_expect.get("refused", False)
    if not isinstance(refused, bool):
        c.fail("expect.refused", f"expected a boolean, got {S.shown(refused)}")
    if refused and not edge:
        c.fail("expect.refused", "only an edge case may expect the reference to refuse its inputs")
    if edge and inputs:
        # Both sides refusing is an agreement the edge battery records, so an input written wrong by mistake
        # (a length, a shape, a label) would pass unnoticed: a refusal must be the case's declared point.
        why = _refusal(fn, inputs, args)
        if why is not None and not refused:
            c.fail("inputs", f"reference {loss}() refuses these inputs under the mathematics ({why}); if that is "
                             f"the case's point, say so with expect.refused = true, otherwise the inputs are wrong")
        if refused and why is None:
            c.fail("expect.refused", f"reference {loss}() accepts these inputs under the mathematics: nothing is "
                                     f"refused (remove expect.refused, or make the inputs leave the domain)")
    expect = Expect(printed, value, computed_dtype, exact, by_convention, refused)

    # provenance
    raw_prov = c.table(raw, "provenance")
    provenance = None
    doc_match = S.DOC_ID_PATTERN.match(raw_id)
    if raw_prov is None:
        if doc_match:
            c.fail("provenance", "missing: a document case needs provenance.document and provenance.quote")
    else:
        c.keys(raw_prov, S.PROVENANCE_KEYS, "provenance.")
        document = c.choice(raw_prov, "document", S.DOCUMENTS, "provenance.", required=True)
        quote = c.string(raw_prov, "quote", "provenance.", required=True)
        if doc_match and not document.startswith(doc_match.group(1) + "_"):
            c.fail("provenance.document", f"id prefix doc{doc_match.group(1)} does not match document {document}")
        provenance = Provenance(document, quote)

    # kind-specific tables
    erratum = invariant = identity = None
    for key, owner in (("erratum", "erratum"), ("invariant", "invariant"), ("identity", "identity")):
        if key in raw and kind != owner:
            c.fail(key, f"only a case of kind '{owner}' has this table (this one is '{kind}')")
    if kind == "erratum":
        raw_err = c.table(raw, "erratum")
        if raw_err is None:
            c.fail("erratum", "missing: an erratum case needs erratum.type, .corrected and .why")
        c.keys(raw_err, S.ERRATUM_KEYS, "erratum.")
        etype = c.choice(raw_err, "type", S.ERRATUM_TYPES, "erratum.", required=True)
        why = c.string(raw_err, "why", "erratum.", required=True)
        if "corrected" not in raw_err:
            c.fail("erratum.corrected", "missing: the corrected value (what the reference gives)")
        corrected, _ = c.printed(raw_err["corrected"], "erratum.corrected")
        e_printed = e_stated = None
        if "printed" in raw_err:
            e_printed, _ = c.printed(raw_err["printed"], "erratum.printed")
        if "stated" in raw_err:
            e_stated, _ = c.printed(raw_err["stated"], "erratum.stated")
        if etype == "value" and e_printed is None:
            c.fail("erratum.printed", "missing: a 'value' erratum records the number the document printed")
        if etype == "formula" and e_stated is None:
            c.fail("erratum.stated", "missing: a 'formula' erratum records what the stated formula gives on "
                                     "the witness inputs")
        erratum = Erratum(etype, corrected, why, e_printed, e_stated)
    elif kind == "invariant":
        raw_inv = c.table(raw, "invariant")
        if raw_inv is None:
            c.fail("invariant", "missing: an invariant case needs invariant.property and invariant.data")
        c.keys(raw_inv, S.INVARIANT_KEYS, "invariant.")
        prop = c.choice(raw_inv, "property", S.PROPERTIES, "invariant.", required=True)
        if "data" not in raw_inv:
            c.fail("invariant.data", "missing: the printed numbers the property holds for")
        data_printed, data = c.data(raw_inv["data"], "invariant.data")
        axis = raw_inv.get("axis")
        if axis is not None and not (isinstance(axis, int) and not isinstance(axis, bool)
                                     and -data.ndim <= axis < data.ndim):
            c.fail("invariant.axis", f"expected an integer axis of the {data.ndim}-d data, got {S.short(axis)}")
        bounds = {}
        for key in ("lower", "upper"):
            if key in raw_inv:
                bounds[key] = c.array(raw_inv[key], f"invariant.{key}")
                try:
                    np.broadcast_shapes(bounds[key].shape, data.shape)
                except ValueError:
                    c.fail(f"invariant.{key}", f"shape {bounds[key].shape} does not broadcast to the data's "
                                               f"{data.shape}")
        if prop == "bounded" and not bounds:
            c.fail("invariant.lower", "missing: a 'bounded' invariant needs lower and/or upper")
        inv_dtype = c.choice(raw_inv, "computed_dtype", S.DTYPES, "invariant.")
        invariant = Invariant(prop, data, data_printed, axis, bounds.get("lower"), bounds.get("upper"),
                              inv_dtype)
    elif kind == "identity":
        raw_id_table = c.table(raw, "identity")
        if raw_id_table is None:
            c.fail("identity", "missing: an identity case needs identity.name")
        c.keys(raw_id_table, S.IDENTITY_KEYS, "identity.")
        name = c.choice(raw_id_table, "name", S.IDENTITIES, "identity.", required=True)
        want_loss = S.IDENTITIES[name][0]
        if loss != want_loss:
            c.fail("loss", f"identity {name!r} is stated for loss {want_loss!r}, not {loss!r}")
        params = c.table(raw_id_table, "params", "identity.") or {}
        for key, val in params.items():
            err = S.finite_number_error(val)
            if err:
                c.fail(f"identity.params.{_printable(key)}", err)
        identity = Identity(name, dict(params))

    return Case(id=raw_id, kind=kind, loss=loss, args=dict(args), inputs=inputs, dtype=dtype,
                convention=convention, reduction=reduction, expect=expect, provenance=provenance,
                erratum=erratum, invariant=invariant, identity=identity, notes=notes, file=file,
                quantity=quantity, scale=float(scale))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CASES_ROOT.parent))
    except ValueError:
        return str(path)


def _read_toml(path: Path, name: str) -> dict:
    """The file's TOML document; any failure to read it is a :class:`CaseError` naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaseError(name, "-", "file", f"cannot read: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CaseError(name, "-", "encoding", f"not UTF-8: byte 0x{data[exc.start]:02x} at line {line}, column "
                                               f"{column} ({exc.reason}); a case file is UTF-8 text") from None
    if text.startswith("\ufeff"):
        raise CaseError(name, "-", "encoding", "starts with a byte-order mark: save the file as UTF-8 without one")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(name, "-", "toml", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise CaseError(name, "-", "toml", "not valid TOML here: arrays or tables nested too deeply for the "
                                           f"parser (an array has at most {S.MAX_RANK} dimensions)") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise CaseError(name, "-", "toml", f"not valid TOML here: {exc}") from None


def load_file(path: str | Path, *, conventions: Collection[str] | None = None) -> list[Case]:
    """Load and validate one case file.

    ``conventions``: the convention names that exist (any collection of strings); a case whose
    ``convention`` or ``expect.by_convention`` key is not one of them is refused.  None (the default):
    only the names' syntax is checked."""
    known = _known_conventions(conventions)
    path = Path(path)
    name = _display(path)
    doc = _read_toml(path, name)
    if "schema" not in doc:
        raise CaseError(name, "-", "schema", f"missing: the file must start with schema = \"{S.SCHEMA_ID}\"")
    if doc["schema"] != S.SCHEMA_ID:
        raise CaseError(name, "-", "schema", f"unsupported schema {S.short(doc['schema'])}; this loader reads "
                                             f"\"{S.SCHEMA_ID}\"")
    for key in doc:
        if key not in S.TOP_LEVEL_KEYS:
            raise CaseError(name, "-", _printable(key),
                            f"unknown top-level key; allowed: {', '.join(S.TOP_LEVEL_KEYS)}")
    if "description" in doc and not isinstance(doc["description"], str):
        raise CaseError(name, "-", "description", "expected a string")
    raw_cases = doc.get("case")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise CaseError(name, "-", "case", "expected one or more [[case]] tables")
    cases: list[Case] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_cases, start=1):
        try:
            case = parse_case(raw, name, index, conventions=known)
        except RecursionError:  # pragma: no cover - every nested value is depth-checked before use
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            raise CaseError(name, _shown_id(raw_id, index), "case", "nested too deeply") from None
        if case.id in seen:
            raise CaseError(name, case.id, "id", "duplicate id within this file")
        seen.add(case.id)
        cases.append(case)
    return cases


def case_files(root: str | Path | None = None) -> list[Path]:
    """The case files under ``root`` (default: the ``cases/`` folder), at any depth, in sorted order: every
    file whose suffix is ``.toml`` in any letter case (``x.TOML`` too)."""
    root = Path(root) if root is not None else CASES_ROOT
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".toml" and p.is_file())


def load_all(root: str | Path | None = None, *, conventions: Collection[str] | None = None) -> list[Case]:
    """Every case under ``root`` (default: the ``cases/`` folder), files in sorted order, ids unique.

    ``conventions`` as for :func:`load_file` (None: convention names are checked for syntax only)."""
    known = _known_conventions(conventions)
    cases: list[Case] = []
    first: dict[str, str] = {}
    for path in case_files(root):
        for case in load_file(path, conventions=known):
            if case.id in first:
                raise CaseError(case.file, case.id, "id", f"duplicate id: already defined in {first[case.id]}")
            first[case.id] = case.file
            cases.append(case)
    return cases


def normalize_space(text: str) -> str:
    """Collapse every whitespace run (Unicode whitespace included) to one space, for quote comparison."""
    return re.sub(r"\s+", " ", text).strip()
