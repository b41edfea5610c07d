"""The results file (schema ``lossparity.results/2``): records, validation, writing, merging, diffing.

Everything a person reads about a run comes from this file, so it is strict (every record has every key,
validated before it is written and after it is read) and reproducible: floats are rounded to a fixed
number of significant digits, NaN and infinities are written as strings (the JSON stays strict), keys are
sorted and checks are ordered by id.  Two runs on the same machine give the same bytes apart from the
timings (``duration_s``, ``started``, ``finished``), which :func:`comparable` strips.

The record, run and document types are the msgspec Structs of :mod:`lossparity.records`: validation is
``msgspec.convert(doc, ResultsDocument, strict=True)`` (no coercion, unknown fields refused; a file is
read with msgspec's JSON decoder, strict JSON only, then converted), and :data:`SCHEMA` is the JSON
Schema msgspec derives from those types.  Documents stay plain dicts everywhere else (the report,
merging, diffing), and are written with msgspec's JSON encoder (keys sorted).

A single run's file is ``{"schema", "run", "checks"}``.  A merged file (several runs: a CPU and a GPU
runner, two versions of one framework) is ``{"schema", "runs", "checks"}`` where ``runs`` is a list of
run descriptions with a ``label`` each, and every record names its run in ``run``.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import gc
import importlib.metadata
import json
import math
import operator
import os
import platform
import re
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import msgspec

from lossparity import records
from lossparity.records import KINDS, SCHEMA_ID, SPECIAL_FLOATS, VERDICTS, CheckRecord, ResultsDocument

__all__ = ["SCHEMA_ID", "SCHEMA", "KINDS", "VERDICTS", "SEVERITY", "RECORD_KEYS", "OPTIONAL_RECORD_KEYS",
           "ResultsError", "validate", "validate_record", "complete_record", "canonical_record", "make_run",
           "make_doc", "dumps", "write_atomic", "write_text_atomic", "file_mode", "load", "comparable", "merge",
           "diff_versions", "lost_record"]

# Worst first: the colour of a group of checks is the colour of its worst verdict.
SEVERITY = {"lost": 5, "error": 4, "fail": 3, "deviation": 2, "pass": 1, "skip": 0}

# Significant digits kept: error measures only need their order of magnitude and a little more; values
# keep 9 digits, enough to tell float32 neighbours apart when a golden number is compared by eye.
ERROR_DIGITS = 6
VALUE_DIGITS = 9
# Arrays longer than this are replaced by a summary in ``expected`` / ``observed``.
SHORT_LIST = 8
TIMING_KEYS = ("duration_s",)
RUN_TIMING_KEYS = ("started", "finished")

# Keys every record has (in the order of the record type) and keys it may lack (``test``, ``run``, ``extra``).
RECORD_KEYS = records.RECORD_FIELDS
OPTIONAL_RECORD_KEYS = records.OPTIONAL_RECORD_FIELDS
# The JSON Schema of a results file, derived from the record types (documentation; validation uses the types).
SCHEMA = records.json_schema()


class ResultsError(ValueError):
    """A results document does not follow the schema; ``path`` names the bad field (``$.checks[3].kind``)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


# --------------------------------------------------------------------------------------------------
# Validation: msgspec checks the types; a failure's message (``Expected `str`, got `int` - at
# `$.checks[3].kind```) becomes a ResultsError whose path names the bad field itself.
# --------------------------------------------------------------------------------------------------

_AT = re.compile(r"^(?P<message>.*?)(?: - at (?P<key>`key` in )?`(?P<path>\$[^`]*)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_DECODE_ANY = msgspec.json.Decoder()


def _segments(path: str) -> list[str | int]:
    """``$.checks[3].value_error.abs`` -> ``["checks", 3, "value_error", "abs"]`` (``[...]`` stays "...")."""
    return [name if name else (int(index) if index.isdigit() else index)
            for name, index in _SEGMENT.findall(path[1:])]


def _join(segments: Iterable[str | int]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) or s == "..." else f".{s}" for s in segments)


@functools.lru_cache(maxsize=None)
def _hints(struct: type) -> dict[str, Any]:
    return typing.get_type_hints(struct, include_extras=True)


def _members(tp: Any) -> list[Any]:
    """The alternatives of a type: ``Annotated`` unwrapped, unions flattened."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    return [tp]


def _child_type(tp: Any, segment: str | int) -> Any:
    """The type of ``segment`` (a field name, a list index or ``...`` for a dict value) inside ``tp``."""
    for member in _members(tp):
        if isinstance(segment, str) and segment != "..." and isinstance(member, type) \
                and issubclass(member, msgspec.Struct):
            return _hints(member).get(segment, Any)
        origin = typing.get_origin(member)
        if isinstance(segment, int) and origin is list:
            return typing.get_args(member)[0]
        if segment == "..." and origin is dict:
            return member
    return Any


def _child_value(value: Any, segment: str | int) -> Any:
    try:
        return value[segment]
    except (KeyError, IndexError, TypeError):
        return None


_JSON_NAMES = {float: "a number", int: "an integer", str: "a string", type(None): "null"}


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def _translate(error: msgspec.ValidationError, root: Any, root_type: Any) -> tuple[str, str]:
    """(path, message) of a msgspec validation error: the path names the bad field (a missing or unknown
    field's own name, a dict entry's key instead of msgspec's ``[...]``), the message says what is wrong
    in the file's terms.  ``root`` is the value that was validated, ``root_type`` the type it was
    validated against."""
    match = _AT.match(str(error))
    message, path = match["message"], match["path"] or "$"
    segments = _segments(path)
    if match["key"]:  # a dict key of the wrong type: msgspec names the dict, say which key
        mapping = functools.reduce(_child_value, segments, root)
        bad = next((k for k in mapping if not isinstance(k, str)), None) if isinstance(mapping, dict) else None
        return path, f"key {bad!r}: {message[:1].lower() + message[1:]}"
    found = _MISSING.match(message) or _UNKNOWN.match(message)
    if found:
        segments.append(found["name"])
        message = "required field is missing" if message.startswith("Object missing") else "unknown field"
    value, tp = root, root_type
    for index, segment in enumerate(segments):
        if segment == "..." and isinstance(value, dict):  # msgspec does not say which entry: find it
            key, inner = _bad_entry(value, tp)
            if key is not None:
                return _join([*segments[:index], key, *_segments(inner[0])]), inner[1]
        tp, value = _child_type(tp, segment), _child_value(value, segment)
    if message.startswith("Invalid enum value"):
        members = _members(tp)
        allowed = [a for m in members if typing.get_origin(m) is typing.Literal for a in typing.get_args(m)]
        others = [_JSON_NAMES.get(m, getattr(m, "__name__", str(m))) for m in members
                  if typing.get_origin(m) is not typing.Literal]
        wanted = " or ".join([", ".join(others), f"one of {allowed}"]) if others else f"one of {allowed}"
        message = f"expected {wanted}, got {_describe(value)}" if allowed else message
    elif type(value) is float and not math.isfinite(value):
        message = f"expected a finite number or one of {list(SPECIAL_FLOATS)}, got {_describe(value)}"
    elif not found:
        message = message[:1].lower() + message[1:]
    return _join(segments), message


def _bad_entry(mapping: dict, tp: Any) -> tuple[str | None, tuple[str, str]]:
    """The first entry of ``mapping`` that its dict type ``tp`` refuses, and why (relative path, message)."""
    key_type, value_type = next((typing.get_args(m) for m in _members(tp) if typing.get_origin(m) is dict),
                                (Any, Any))
    for key, value in mapping.items():
        for part, part_type in ((key, key_type), (value, value_type)):
            try:
                msgspec.convert(part, part_type, strict=True)
            except msgspec.ValidationError as exc:
                return str(key), _translate(exc, part, part_type)
    return None, ("$", "")


def validate(doc: Any) -> None:
    """Check ``doc`` against :class:`~lossparity.records.ResultsDocument` and the rules a type cannot
    say; raise :class:`ResultsError`.

    Besides the types: a document has exactly one of ``run`` / ``runs``; every run of a merged document
    has a label, and labels are unique; in a merged document every record names one of its runs; ids are
    unique within a run.
    """
    # 100k records become 100k Structs: no collector pass over them, and they are gone again before
    # the collector is back (else its next pass would traverse them all).
    with paused_gc():
        try:
            typed = msgspec.convert(doc, ResultsDocument, strict=True)
        except msgspec.ValidationError as exc:
            raise ResultsError(*_translate(exc, doc, ResultsDocument)) from None
        try:
            _check_document(typed)
        finally:
            del typed


def _check_document(doc: ResultsDocument) -> None:
    """The rules of :func:`validate` that the types do not express."""
    if (doc.run is msgspec.UNSET) == (doc.runs is msgspec.UNSET):
        raise ResultsError("$.run", "a document has exactly one of 'run' (one run) or 'runs' (merged)")
    labels = None
    if doc.runs is not msgspec.UNSET:
        for index, run in enumerate(doc.runs):
            if run.label is msgspec.UNSET:
                raise ResultsError(f"$.runs[{index}].label", "required field is missing")
        labels = [run.label for run in doc.runs]
        if len(set(labels)) != len(labels):
            raise ResultsError("$.runs", f"run labels are not unique: {labels}")
    _check_ids(doc.checks, None if labels is None else set(labels))


def _check_ids(checks: list[CheckRecord], labels: set[str] | None) -> None:
    runs = list(map(_RUN, checks))
    keys = list(zip(runs, map(_ID, checks)))
    if (labels is None or labels.issuperset(runs)) and len(set(keys)) == len(keys):
        return  # the usual case, in C-level passes; else find the first offending record
    seen: set[tuple[Any, str]] = set()
    for index, (run, check_id) in enumerate(keys):
        if labels is not None and run not in labels:
            shown = None if run is msgspec.UNSET else run
            raise ResultsError(f"$.checks[{index}].run", f"names no run of this document: {shown!r}")
        if (run, check_id) in seen:
            raise ResultsError(f"$.checks[{index}].id", f"duplicate check id {check_id!r}")
        seen.add((run, check_id))


_RUN, _ID = operator.attrgetter("run"), operator.attrgetter("id")


def validate_record(record: Mapping[str, Any]) -> None:
    """Check one record (``verdict`` may still be None: the plugin settles it later)."""
    value = dict(record, verdict=record.get("verdict") or "pass")
    try:
        msgspec.convert(value, CheckRecord, strict=True)
    except msgspec.ValidationError as exc:
        path, message = _translate(exc, value, CheckRecord)
        raise ResultsError(f"record {record.get('id')!r}{path[1:]}", message) from None


def unique_ids(checks: Iterable[Mapping[str, Any]]) -> list[dict]:
    """``checks`` with repeated ids made unique by a ``#2``, ``#3``… suffix.  Which duplicate gets which
    suffix depends only on the records' contents (not on the order tests ran in under xdist)."""
    def key(record: Mapping[str, Any]) -> tuple[str, str, str]:
        timeless = {k: v for k, v in record.items() if k not in TIMING_KEYS}
        return record["id"], record.get("test") or "", json.dumps(timeless, sort_keys=True, default=str)

    ordered = sorted((dict(c) for c in checks), key=key)
    seen: dict[str, int] = {}
    for record in ordered:
        count = seen[record["id"]] = seen.get(record["id"], 0) + 1
        if count > 1:
            record["id"] = f"{record['id']}#{count}"
    return ordered


# --------------------------------------------------------------------------------------------------
# Records: completing defaults and making values JSON-safe and reproducible
# --------------------------------------------------------------------------------------------------

def canonical(value: Any, digits: int = VALUE_DIGITS) -> Any:
    """``value`` as strict, reproducible JSON data: floats rounded to ``digits`` significant digits,
    NaN/inf as strings, tuples as lists, NumPy scalars and arrays as Python values."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return _round(value, digits)
    if kind is dict:
        return {str(k): canonical(v, digits) for k, v in value.items()}
    if kind is list or kind is tuple:  # before the Mapping test: an ABC check is slow on a list
        return [canonical(v, digits) for v in value]
    if isinstance(value, Mapping):
        return {str(k): canonical(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v, digits) for v in value]
    if hasattr(value, "tolist"):  # NumPy scalar or array (without importing NumPy here)
        return canonical(value.tolist(), digits)
    if isinstance(value, (int, float)):  # other int/float subclasses
        return canonical(float(value) if isinstance(value, float) else int(value), digits)
    return str(value)


def _round(x: float, digits: int) -> float | str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    rounded = float(f"{x:.{digits}g}")
    return 0.0 if rounded == 0 else rounded  # one zero: -0.0 and 0.0 print differently


def to_float(value: Any) -> float | None:
    """A number from a results field (which may hold "nan"/"inf" strings); None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in SPECIAL_FLOATS:
        return float(value)
    return None


def summarize(value: Any) -> Any:
    """A small JSON value for ``expected``/``observed``: numbers and short lists as they are, a long
    array as ``{"shape", "min", "max", "mean", "nonfinite"}``, anything else as it is."""
    if hasattr(value, "shape") and hasattr(value, "tolist") and getattr(value, "size", 0) > SHORT_LIST:
        import numpy as np  # only arrays need it; NumPy is a dependency of the package anyway

        array = np.asarray(value, dtype=np.float64)
        finite = array[np.isfinite(array)]
        stats = (float(finite.min()), float(finite.max()), float(finite.mean())) if finite.size else (None,) * 3
        return {"shape": list(array.shape), "min": stats[0], "max": stats[1], "mean": stats[2],
                "nonfinite": int(array.size - finite.size)}
    if isinstance(value, (list, tuple)) and len(value) > SHORT_LIST:
        import numpy as np

        return summarize(np.asarray(value, dtype=np.float64))
    return value


def default_id(record: Mapping[str, Any]) -> str:
    """A readable id from the fields that tell checks apart: ``kind:case-or-loss:framework:api:dtype:device``."""
    parts = [record.get("kind"), record.get("case") or record.get("loss"), record.get("framework"),
             record.get("api"), record.get("dtype"), record.get("device")]
    return ":".join(str(p) for p in parts if p not in (None, ""))


def complete_record(record: Mapping[str, Any] | CheckRecord,
                    defaults: Mapping[str, Any] | None = None) -> dict:
    """A full record from a partial one: unknown keys are refused (a typo must not pass silently),
    missing keys come from ``defaults`` then from null / "" / {} / [] / a derived id, values are made
    canonical (``flags`` sorted and unique).  ``record`` may also be a
    :class:`~lossparity.records.CheckRecord` (its unset optional fields are left out).

    ``verdict`` may stay None here: the pytest plugin decides it from the test's outcome.  Nothing is
    looked up: a record without ``framework_version`` keeps null (the run's ``frameworks`` has the
    versions the adapters report).
    """
    if isinstance(record, CheckRecord):
        record = {k: msgspec.structs.asdict(v) if isinstance(v, msgspec.Struct) else v
                  for k, v in msgspec.structs.asdict(record).items() if v is not msgspec.UNSET}
    unknown = sorted(set(record) - _KNOWN_KEYS)
    if unknown:
        raise TypeError(f"unknown check record field(s) {unknown}; put free-form data under 'extra'")
    full: dict[str, Any] = dict(records.RECORD_DEFAULTS, args={}, flags=[])
    full.update({k: v for k, v in (defaults or {}).items() if k in _KNOWN_KEYS})
    full.update(record)
    if not full.get("id"):
        full["id"] = default_id(full)
    full["reason"] = str(full["reason"] or "")
    for key, empty in (("args", {}), ("flags", [])):  # null means "none" for the collections
        if full[key] is None:
            full[key] = empty
    if isinstance(full["flags"], (list, tuple, set, frozenset)):
        full["flags"] = sorted({str(flag) for flag in full["flags"]})
    for key in ("expected", "observed"):
        full[key] = summarize(full[key])
    return canonical_record(full)


_KNOWN_KEYS = frozenset(RECORD_KEYS) | frozenset(OPTIONAL_RECORD_KEYS)


def lost_record(nodeid: str, verdict: str, reason: str, params: Mapping[str, Any] | None = None) -> dict:
    """The synthetic record of a test that recorded nothing (crashed, never finished, skipped or failed
    before its check): id and ``test`` are the node id, the other fields come from the test's parameters
    (framework, loss, dtype…) so that the matrix cell it belongs to shows it."""
    record = {"id": nodeid, "test": nodeid, "verdict": verdict, "reason": reason, "duration_s": None}
    return complete_record(record, params or {})


def canonical_record(record: Mapping[str, Any]) -> dict:
    """``record`` with error measures at :data:`ERROR_DIGITS` and everything else at :data:`VALUE_DIGITS`."""
    out = {}
    for key, value in record.items():
        kind = type(value)
        if kind is str or value is None or kind is int or kind is bool:  # most fields: as they are
            out[key] = value
        elif key in _ERROR_KEYS:
            out[key] = _canonical_error(value)
        else:
            out[key] = canonical(value, ERROR_DIGITS if key in _DISTANCE_KEYS else VALUE_DIGITS)
    return out


_ERROR_KEYS = frozenset(("value_error", "grad_error"))
_DISTANCE_KEYS = frozenset(("math_distance", "duration_s"))


def _canonical_error(error: Mapping[str, Any] | None) -> dict | None:
    """An error measure with every key present; private keys (``_abs_array`` from
    ``lossparity.tolerance.measure``) are dropped, they are working data, not results."""
    if error is None:
        return None
    public = {k: v for k, v in error.items() if not str(k).startswith("_")}
    full = {"abs": None, "rel": None, "ulps": None, "tol": None, "worst_index": None, "worst_input": None}
    full.update(public)
    out = canonical(full, ERROR_DIGITS)
    out["worst_input"] = canonical(summarize(full["worst_input"]), VALUE_DIGITS)
    return out


# --------------------------------------------------------------------------------------------------
# The run: environment description
# --------------------------------------------------------------------------------------------------

def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def frameworks_from_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """Adapter name -> version, from the run settings: every entry that is a dict with a string
    ``version`` (what the conftest's ``pytest_lossparity_run_settings`` answers per adapter)."""
    return {name: value["version"] for name, value in sorted(settings.items())
            if isinstance(value, Mapping) and isinstance(value.get("version"), str)}


def make_run(settings: Mapping[str, Any] | None = None, pytest_args: Sequence[str] = (),
             started: str | None = None, finished: str | None = None,
             frameworks: Mapping[str, str] | None = None) -> dict:
    """Describe the machine and software of a run.  ``settings`` (reduced-precision matmuls, x64, determinism flags…)
    is supplied by the run itself: only it knows what it switched on.  ``frameworks`` (adapter name ->
    version) defaults to :func:`frameworks_from_settings`: the adapters say their versions, nothing here
    knows a framework by name."""
    settings = dict(settings or {})
    return {
        "started": started,
        "finished": finished,
        "python": platform.python_version(),
        "numpy": _distribution_version("numpy"),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "frameworks": dict(frameworks_from_settings(settings) if frameworks is None else frameworks),
        "settings": canonical(settings),
        "pytest_args": [str(a) for a in pytest_args],
    }


def make_doc(checks: Iterable[Mapping[str, Any]], run: Mapping[str, Any]) -> dict:
    """A one-run results document."""
    return {"schema": SCHEMA_ID, "run": dict(run), "checks": [dict(c) for c in checks]}


# --------------------------------------------------------------------------------------------------
# Reading and writing
# --------------------------------------------------------------------------------------------------

def _check_order(record: Mapping[str, Any]) -> tuple[str, str]:
    return (record["id"], record.get("run") or "")


def canonical_doc(doc: Mapping[str, Any]) -> dict:
    """``doc`` as it is written: canonical values, checks sorted by id (then run)."""
    body = canonical({k: v for k, v in doc.items() if k != "checks"})
    body["checks"] = sorted((canonical_record(c) for c in doc["checks"]), key=_check_order)
    return body


_ENCODE = msgspec.json.Encoder(order="sorted").encode


def _json(value: Any, indent: int = 0) -> str:
    """Strict JSON of canonical data, keys sorted: msgspec's encoder, laid out by ``msgspec.json.format``
    (``indent=0``: one line, a space after ``:`` and ``,``).  Canonical data holds no NaN or infinity
    (they are the strings "nan"/"inf"/"-inf"), which this encoder would otherwise write as null."""
    return msgspec.json.format(_ENCODE(value), indent=indent).decode()


def _serialize(doc: Mapping[str, Any]) -> str:
    """Strict JSON with sorted keys, one check per line (so that two results files diff line by line)."""
    lines = [_json(c) for c in doc["checks"]]
    body = {k: v for k, v in doc.items() if k != "checks"}
    head = _json(body, indent=1)
    checks_text = "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"
    # "checks" sorts before "run"/"runs"/"schema": put it first to keep the whole file key-sorted.
    return '{\n"checks": ' + checks_text + ",\n" + head[2:] + "\n"


def dumps(doc: Mapping[str, Any]) -> str:
    """The file text of ``doc`` (see :func:`canonical_doc` and :func:`_serialize`)."""
    return _serialize(canonical_doc(doc))


def write_atomic(path: str | os.PathLike, doc: Mapping[str, Any]) -> Path:
    """Validate ``doc`` and write it to ``path`` through a temporary file and :func:`os.replace`, so a
    reader never sees half a file and a crash never leaves one.  The file gets the usual permissions
    (0666 less the umask, e.g. 0644), not the 0600 of a temporary file."""
    with paused_gc():
        final = canonical_doc(doc)
        validate(final)
        text = _serialize(final)
    return write_text_atomic(path, text)


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: 0666 less the process's umask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it (and put it back at once)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` whole (temporary file in the same folder, fsync, :func:`os.replace`),
    with the permissions of :func:`file_mode`; a crash leaves the old file or the new one, never half."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(handle, file_mode())
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while bulk-building acyclic data (loading or rendering 100k
    records): each of its full passes would re-traverse every record built so far, which makes the
    build several times slower; reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(path: str | os.PathLike) -> dict:
    """Read and validate a results file (strict JSON: no NaN or Infinity literals).  Decoding to plain
    data then converting that (what :func:`validate` does) is quicker than a typed decode followed by
    a second, untyped one, and a failure's path can name a dict entry."""
    data = Path(path).read_bytes()
    with paused_gc():
        try:
            doc = _DECODE_ANY.decode(data)
        except msgspec.DecodeError as exc:
            raise ResultsError("$", f"{path} is not JSON: {exc}") from None
        validate(doc)
    return doc


def comparable(doc: Mapping[str, Any]) -> dict:
    """``doc`` without its timings, for equality between runs."""
    out = canonical_doc(doc)  # fresh dicts: safe to edit
    for run in [out["run"]] if "run" in out else out["runs"]:
        for key in RUN_TIMING_KEYS:
            run.pop(key, None)
    for record in out["checks"]:
        for key in TIMING_KEYS:
            record.pop(key, None)
    return out


# --------------------------------------------------------------------------------------------------
# Merging and diffing
# --------------------------------------------------------------------------------------------------

def runs_of(doc: Mapping[str, Any], label: str = "run") -> list[dict]:
    """The runs of a document, each with a label (a one-run document's run gets ``label``)."""
    if "runs" in doc:
        return [dict(r) for r in doc["runs"]]
    return [dict(doc["run"], label=label)]


def merge(docs: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None) -> dict:
    """One document from several: runs are kept side by side (in the given order) and every record
    names its run.  A one-run document is labelled by ``labels[i]`` (default ``run1``, ``run2``…); a
    merged document keeps its labels, prefixed by ``labels[i] + "/"`` when labels are given."""
    if labels is not None and len(labels) != len(docs):
        raise ValueError(f"{len(labels)} labels for {len(docs)} documents")
    runs: list[dict] = []
    checks: list[dict] = []
    for index, doc in enumerate(docs):
        label = labels[index] if labels is not None else f"run{index + 1}"
        renamed = {}
        for run in runs_of(doc, label):
            old = run["label"]
            if "runs" in doc and labels is not None:
                run["label"] = f"{label}/{old}"
            renamed[old] = run["label"]
            runs.append(run)
        for record in doc["checks"]:
            checks.append(dict(record, run=renamed[record.get("run", label)]))
    merged = {"schema": SCHEMA_ID, "runs": runs, "checks": checks}
    validate(merged)
    return merged


def _version_key(version: str | None) -> tuple:
    """Sort key for version strings ("2.10.0" after "2.9.1"); numbers compare as numbers."""
    parts = re.split(r"[.+\-]", version or "")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _error_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """True when an error measure moved enough to matter: present vs absent, a change of class
    (finite / inf / NaN), or more than 1 % apart (and, in ulps, more than half an ulp): smaller moves
    are rounding noise between builds."""
    if (old is None) != (new is None):
        return True
    if old is None or new is None:
        return False
    for key, floor in (("ulps", 0.5), ("abs", 0.0)):
        a, b = to_float(old.get(key)), to_float(new.get(key))
        if a is None or b is None:
            continue
        if not (math.isfinite(a) and math.isfinite(b)):
            return str(a) != str(b)
        return abs(a - b) > max(floor, 0.01 * max(abs(a), abs(b)))
    return dict(old) != dict(new)


def diff_versions(merged: Mapping[str, Any]) -> list[dict]:
    """Checks whose verdict or error changed between runs of the same framework: records with the same
    id and framework in different runs, ordered by framework version (then by run order), compared
    neighbour to neighbour.  One entry per change, sorted by framework then id."""
    order = {run["label"]: i for i, run in enumerate(merged.get("runs", ()))}
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in merged["checks"]:
        groups.setdefault((record.get("framework") or "", record["id"]), []).append(record)
    changes = []
    for (framework, check_id), group in sorted(groups.items()):
        group.sort(key=lambda r: (_version_key(r.get("framework_version")), order.get(r.get("run"), 0)))
        for old, new in zip(group, group[1:]):
            what = _what_changed(old, new)
            if what:
                changes.append(_change(framework, check_id, old, new, what))
    return changes


def _what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    what = []
    if old["verdict"] != new["verdict"]:
        what.append("verdict")
    for key in ("value_error", "grad_error"):
        if _error_changed(old.get(key), new.get(key)):
            what.append(key)
    return what


def _change(framework: str, check_id: str, old: Mapping[str, Any], new: Mapping[str, Any],
            what: list[str]) -> dict:
    def side(record: Mapping[str, Any]) -> dict:
        return {"run": record.get("run"), "version": record.get("framework_version"),
                "verdict": record["verdict"], "reason": record.get("reason", ""),
                "value_error": record.get("value_error"), "grad_error": record.get("grad_error")}
    return {"id": check_id, "framework": framework, "loss": new.get("loss"), "changed": what,
            "old": side(old), "new": side(new)}
