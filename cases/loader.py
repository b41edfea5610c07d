"""Load and validate case files (TOML, stdlib ``tomllib``); see :mod:`cases.schema` for the fields.

Nothing in a case file is evaluated: numbers are numbers, strings are data.  The first invalid field stops
the load with a :class:`CaseError` naming the file, the case id and the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

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
                self.fail(f"{where}{key}" if where else key,
                          f"unknown key; allowed: {', '.join(allowed)}")

    def table(self, raw: dict, key: str, where: str = "") -> dict | None:
        value = raw.get(key)
        if value is not None and not isinstance(value, dict):
            self.fail(where + key, f"expected a table, got {type(value).__name__} {value!r}")
        return value

    def string(self, raw: dict, key: str, where: str = "", required: bool = False) -> str | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.fail(where + key, "missing")
            return None
        if not isinstance(value, str):
            self.fail(where + key, f"expected a string, got {type(value).__name__} {value!r}")
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
            self.fail(where + key, f"unknown {key} {value!r}; expected one of: {', '.join(allowed)}")
        return value

    def array(self, value: Any, field_name: str, integer: bool = False) -> np.ndarray:
        leaf = S.integer_leaf if integer else S.numeric_leaf
        shape, err = S.nested_shape(value, leaf)
        if err:
            self.fail(field_name, err)
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


def parse_case(raw: Any, file: str, index: int) -> Case:
    """Validate one ``[[case]]`` table and build its :class:`Case`."""
    if not isinstance(raw, dict):
        raise CaseError(file, f"#{index}", "case", f"expected a table, got {type(raw).__name__}")
    raw_id = raw.get("id")
    c = _Checker(file, raw_id if isinstance(raw_id, str) and raw_id else f"#{index}")
    if raw_id is None:
        c.fail("id", f"missing (the {index}th [[case]] of the file has no id)")
    if not isinstance(raw_id, str) or not S.ID_PATTERN.match(raw_id):
        c.fail("id", f"{raw_id!r} is not a valid id: use lower-case letters, digits, '.', '_' and '-', "
                     f"starting with a letter or digit")
    c.keys(raw, S.CASE_KEYS, "")
    kind = c.choice(raw, "kind", S.KINDS, required=True)

    functions = S.loss_functions()
    loss = c.choice(raw, "loss", sorted(functions), required=True)
    fn = functions[loss]

    # args: keyword arguments of the reference function, typed like their defaults
    args = c.table(raw, "args") or {}
    allowed_args = S.arg_defaults(fn)
    for key, value in args.items():
        if key == "convention":
            c.fail("args.convention", "the convention is the case's own field 'convention', not an argument")
        if key not in allowed_args:
            c.fail(f"args.{key}", f"unknown argument of reference {loss}(); it takes: "
                                  f"{', '.join(allowed_args) or 'no keyword arguments'}")
        err = S.arg_type_error(value, allowed_args[key])
        if err:
            c.fail(f"args.{key}", err)

    # inputs: named like the positional parameters
    names = S.input_names(fn)
    raw_inputs = c.table(raw, "inputs")
    inputs: dict[str, np.ndarray] = {}
    if raw_inputs is None:
        if kind in S.NEEDS_INPUTS:
            c.fail("inputs", f"missing: a {kind} case needs inputs {', '.join(names)}")
    else:
        for key in raw_inputs:
            if key not in names:
                c.fail(f"inputs.{key}", f"reference {loss}() has no input named {key!r}; its inputs are: "
                                        f"{', '.join(names)}")
        for name in names:
            if name not in raw_inputs:
                c.fail(f"inputs.{name}", f"missing: reference {loss}() needs inputs {', '.join(names)}")
            inputs[name] = c.array(raw_inputs[name], f"inputs.{name}", integer=name in S.LABEL_INPUTS)
    dtype = c.choice(raw, "dtype", S.DTYPES)
    if inputs and dtype is None:
        c.fail("dtype", f"missing: say which dtype the inputs had ({', '.join(S.DTYPES)})")

    convention = c.choice(raw, "convention", S.conventions(), default="math")
    reduction = c.choice(raw, "reduction", S.REDUCTIONS, default="none")
    quantity = c.choice(raw, "quantity", S.QUANTITIES, default="value")
    if quantity == "grad" and (loss in S.ACTIVATIONS or reduction not in ("none", "sum")):
        c.fail("quantity", "'grad' is d(sum of per-sample losses)/d(y_pred) of a loss: use it with "
                           "reduction 'none' or 'sum' and a loss, not an activation")
    scale = raw.get("scale", 1.0)
    if not S.is_number(scale) or scale == 0:
        c.fail("scale", f"expected a non-zero number, got {type(scale).__name__} {scale!r}")
    notes = c.string(raw, "notes") or ""

    # expect
    raw_expect = c.table(raw, "expect") or {}
    c.keys(raw_expect, S.EXPECT_KEYS, "expect.")
    printed = value = None
    if "printed" in raw_expect:
        printed, _ = c.printed(raw_expect["printed"], "expect.printed")
    if "value" in raw_expect:
        value = c.array(raw_expect["value"], "expect.value")
    computed_dtype = c.choice(raw_expect, "computed_dtype", S.DTYPES, "expect.")
    exact = raw_expect.get("exact", False)
    if not isinstance(exact, bool):
        c.fail("expect.exact", f"expected a boolean, got {type(exact).__name__} {exact!r}")
    by_convention = c.table(raw_expect, "by_convention", "expect.") or {}
    known = S.conventions()
    for name, text in by_convention.items():
        if name not in known:
            c.fail(f"expect.by_convention.{name}", f"unknown convention {name!r}; expected one of: "
                                                   f"{', '.join(known)}")
        c.printed(text, f"expect.by_convention.{name}")
    by_convention = {k: _tuple(v) for k, v in by_convention.items()}
    if kind == "golden" and printed is None and value is None:
        c.fail("expect", "a golden case needs expect.printed (the number as printed) or expect.value")
    if kind == "example" and value is None:
        c.fail("expect.value", "missing: an example case stores the value computed once from its inputs")
    if kind == "example" and not notes:
        c.fail("notes", "missing: say that the document printed nothing for this example")
    expect = Expect(printed, value, computed_dtype, exact, by_convention)

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
                                     and -data.ndim <= axis < max(data.ndim, 1)):
            c.fail("invariant.axis", f"expected an integer axis of the {data.ndim}-d data, got {axis!r}")
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
            if not S.is_number(val):
                c.fail(f"identity.params.{key}", f"expected a number, got {type(val).__name__} {val!r}")
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


def load_file(path: str | Path) -> list[Case]:
    """Load and validate one case file."""
    path = Path(path)
    name = _display(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(name, "-", "toml", f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise CaseError(name, "-", "file", f"cannot read: {exc}") from None
    if "schema" not in doc:
        raise CaseError(name, "-", "schema", f"missing: the file must start with schema = \"{S.SCHEMA_ID}\"")
    if doc["schema"] != S.SCHEMA_ID:
        raise CaseError(name, "-", "schema", f"unsupported schema {doc['schema']!r}; this loader reads "
                                             f"\"{S.SCHEMA_ID}\"")
    for key in doc:
        if key not in S.TOP_LEVEL_KEYS:
            raise CaseError(name, "-", key, f"unknown top-level key; allowed: {', '.join(S.TOP_LEVEL_KEYS)}")
    if "description" in doc and not isinstance(doc["description"], str):
        raise CaseError(name, "-", "description", "expected a string")
    raw_cases = doc.get("case")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise CaseError(name, "-", "case", "expected one or more [[case]] tables")
    cases: list[Case] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_cases, start=1):
        case = parse_case(raw, name, index)
        if case.id in seen:
            raise CaseError(name, case.id, "id", "duplicate id within this file")
        seen.add(case.id)
        cases.append(case)
    return cases


def load_all(root: str | Path | None = None) -> list[Case]:
    """Every case under ``root`` (default: the ``cases/`` folder), files in sorted order, ids unique."""
    root = Path(root) if root is not None else CASES_ROOT
    cases: list[Case] = []
    first: dict[str, str] = {}
    for path in sorted(root.rglob("*.toml")):
        for case in load_file(path):
            if case.id in first:
                raise CaseError(case.file, case.id, "id", f"duplicate id: already defined in {first[case.id]}")
            first[case.id] = case.file
            cases.append(case)
    return cases


def normalize_space(text: str) -> str:
    """Collapse every whitespace run (Unicode whitespace included) to one space, for quote comparison."""
    return re.sub(r"\s+", " ", text).strip()
