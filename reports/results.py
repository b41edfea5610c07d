"""The results file (schema ``lossparity.results/1``): records, validation, writing, merging, diffing.

Everything a person reads about a run comes from this file, so it is strict (every record has every key,
validated before it is written and after it is read) and reproducible: floats are rounded to a fixed
number of significant digits, NaN and infinities are written as strings (the JSON stays strict), keys are
sorted and checks are ordered by id.  Two runs on the same machine give the same bytes apart from the
timings (``duration_s``, ``started``, ``finished``), which :func:`comparable` strips.

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
import importlib.util
import json
import math
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

SCHEMA_ID = "lossparity.results/1"

KINDS = ("value", "grad", "dtype", "golden", "erratum", "invariant", "identity", "edge", "convention",
         "reference", "fuzz", "benchmark")
VERDICTS = ("pass", "deviation", "fail", "skip", "error", "lost")
# Worst first: the colour of a group of checks is the colour of its worst verdict.
SEVERITY = {"lost": 5, "error": 4, "fail": 3, "deviation": 2, "pass": 1, "skip": 0}

# Significant digits kept: error measures only need their order of magnitude and a little more; values
# keep 9 digits, enough to tell float32 neighbours apart when a golden number is compared by eye.
ERROR_DIGITS = 6
VALUE_DIGITS = 9
SPECIAL_FLOATS = ("nan", "inf", "-inf")
# Arrays longer than this are replaced by a summary in ``expected`` / ``observed``.
SHORT_LIST = 8
TIMING_KEYS = ("duration_s",)
RUN_TIMING_KEYS = ("started", "finished")

# Distribution name(s) of each framework, first installed one wins; the adapters' names are the keys.
FRAMEWORK_DISTRIBUTIONS = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "optax": ("optax",),
}
FRAMEWORK_MODULES = {"tensorflow": "tensorflow", "keras": "keras", "torch": "torch", "jax": "jax",
                     "jaxlib": "jaxlib", "optax": "optax"}


class ResultsError(ValueError):
    """A results document does not follow the schema; ``path`` names the bad field (``checks[3].kind``)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------

REAL = {"anyOf": [{"type": "number"}, {"enum": list(SPECIAL_FLOATS)}]}
NULLABLE_REAL = {"anyOf": [REAL, {"type": "null"}]}
NULLABLE_STRING = {"type": ["string", "null"]}
ERROR = {
    "type": ["object", "null"],
    "required": ["abs", "rel", "ulps", "tol", "worst_index", "worst_input"],
    "properties": {
        "abs": REAL, "rel": REAL, "ulps": NULLABLE_REAL, "tol": NULLABLE_REAL,
        "worst_index": {"type": ["array", "null"], "items": {"type": "integer"}},
        "worst_input": {},
    },
    "additionalProperties": False,
}
RECORD = {
    "type": "object",
    "required": ["id", "kind", "case", "provenance", "loss", "framework", "framework_version", "api",
                 "dtype", "device", "device_name", "convention", "verdict", "reason", "value_error",
                 "grad_error", "math_distance", "expected", "observed", "deviation", "duration_s"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "kind": {"enum": [*KINDS, None]},
        "case": NULLABLE_STRING,
        "provenance": {
            "type": ["object", "null"],
            "required": ["document", "quote"],
            "properties": {"document": {"type": "string"}, "quote": {"type": "string"}},
            "additionalProperties": False,
        },
        "loss": NULLABLE_STRING,
        "framework": NULLABLE_STRING,
        "framework_version": NULLABLE_STRING,
        "api": NULLABLE_STRING,
        "dtype": NULLABLE_STRING,
        "device": NULLABLE_STRING,
        "device_name": NULLABLE_STRING,
        "convention": NULLABLE_STRING,
        "verdict": {"enum": list(VERDICTS)},
        "reason": {"type": "string"},
        "value_error": ERROR,
        "grad_error": ERROR,
        "math_distance": {
            "type": ["object", "null"],
            "required": ["abs", "rel"],
            "properties": {"abs": NULLABLE_REAL, "rel": NULLABLE_REAL},
            "additionalProperties": False,
        },
        "expected": {},
        "observed": {},
        "deviation": NULLABLE_STRING,
        "duration_s": {"type": ["number", "null"], "minimum": 0},
        "test": NULLABLE_STRING,
        "run": {"type": "string"},
        "extra": {"type": "object"},
    },
    "additionalProperties": False,
}
RUN = {
    "type": "object",
    "required": ["started", "finished", "python", "numpy", "os", "platform", "cpu", "frameworks",
                 "settings", "pytest_args"],
    "properties": {
        "label": {"type": "string", "minLength": 1},
        "started": NULLABLE_STRING,
        "finished": NULLABLE_STRING,
        "python": {"type": "string"},
        "numpy": NULLABLE_STRING,
        "os": {"type": "string"},
        "platform": {"type": "string"},
        "cpu": {"type": "string"},
        "frameworks": {"type": "object", "additionalProperties": {"type": "string"}},
        "settings": {"type": "object"},
        "pytest_args": {"type": "array", "items": {"type": "string"}},
    },
}
SCHEMA = {
    "type": "object",
    "required": ["schema", "checks"],
    "properties": {
        "schema": {"enum": [SCHEMA_ID]},
        "run": RUN,
        "runs": {"type": "array", "items": dict(RUN, required=[*RUN["required"], "label"])},
        "checks": {"type": "array", "items": RECORD},
    },
    "additionalProperties": False,
}
RECORD_KEYS = tuple(RECORD["required"])
OPTIONAL_RECORD_KEYS = ("test", "run", "extra")


# --------------------------------------------------------------------------------------------------
# Validation: the schema is compiled once into nested closures that return None for a valid value and
# (path, message) for an invalid one, so that validating 100k records raises nothing and allocates
# little; containers prefix the path of a failure inside them.
# --------------------------------------------------------------------------------------------------

Failure = tuple[str, str]
Check = Callable[[Any], "Failure | None"]
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}


def _any(value: Any) -> None:
    """The check of the empty schema: anything goes."""
    return None


def _compile(schema: Mapping[str, Any]) -> Check:
    """Turn a schema (the subset of JSON Schema used above) into a check function."""
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type_check(schema["type"]))
    if "enum" in schema:
        checks.append(_enum_check(schema["enum"]))
    if "anyOf" in schema:
        checks.append(_any_of_check([_compile(s) for s in schema["anyOf"]]))
    if "minLength" in schema:
        checks.append(_min_length_check(schema["minLength"]))
    if "minimum" in schema:
        checks.append(_minimum_check(schema["minimum"]))
    if "items" in schema:
        checks.append(_items_check(_compile(schema["items"])))
    if {"required", "properties", "additionalProperties"} & schema.keys():
        checks.append(_object_check(schema))
    if not checks:
        return _any
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> Failure | None:
        for one in checks:
            failure = one(value)
            if failure is not None:
                return failure
        return None
    return check


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def _type_check(types: str | Sequence[str]) -> Check:
    """JSON types: booleans are not numbers, and a number must be finite (strict JSON has no NaN)."""
    names = [types] if isinstance(types, str) else list(types)
    classes = tuple(c for name in names for c in _PY_TYPES[name])
    allow_bool, finite_only = "boolean" in names, "number" in names
    wanted = " or ".join(names)

    # Fast path: the exact JSON-decoded classes (bool is its own class, so it only passes when allowed;
    # a float still has to be finite).  Subclasses take the general path.
    exact = frozenset(c for c in classes if c is not float and (allow_bool or c is not bool))

    def check(value: Any) -> Failure | None:
        kind = type(value)
        if kind in exact:
            return None
        if kind is float and float in classes:
            if not finite_only or math.isfinite(value):
                return None
        elif (isinstance(value, classes) and (allow_bool or not isinstance(value, bool))
                and not (finite_only and isinstance(value, float) and not math.isfinite(value))):
            return None
        return "", f"expected {wanted}, got {_describe(value)}"
    check.fast_types = exact  # for the inline fast path of _object_check
    return check


def _enum_check(allowed: Sequence[Any]) -> Check:
    choices = frozenset(allowed)

    def check(value: Any) -> Failure | None:
        if isinstance(value, (str, int, float, type(None))) and value in choices:
            return None
        return "", f"expected one of {list(allowed)}, got {_describe(value)}"
    check.fast_choices = choices  # for the inline fast path of _object_check
    return check


def _any_of_check(options: list[Check]) -> Check:
    def check(value: Any) -> Failure | None:
        messages = []
        for option in options:
            failure = option(value)
            if failure is None:
                return None
            messages.append(failure[1])
        return "", " / ".join(messages)
    return check


def _min_length_check(minimum: int) -> Check:
    def check(value: Any) -> Failure | None:
        if isinstance(value, str) and len(value) < minimum:
            return "", f"must have at least {minimum} character(s)"
        return None
    return check


def _minimum_check(minimum: float) -> Check:
    def check(value: Any) -> Failure | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < minimum:
            return "", f"must be >= {minimum}, got {value}"
        return None
    return check


def _items_check(item: Check) -> Check:
    def check(value: Any) -> Failure | None:
        if isinstance(value, list) and item is not _any:
            for index, element in enumerate(value):
                failure = item(element)
                if failure is not None:
                    return f"[{index}]{failure[0]}", failure[1]
        return None
    return check


def _object_check(schema: Mapping[str, Any]) -> Check:
    required = list(schema.get("required", ()))
    required_set = frozenset(required)
    properties = {name: _compile(sub) for name, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    extra_check = _compile(extra) if isinstance(extra, dict) else (None if extra is False else _any)

    # Fields whose check is one type or enum test get it inline: most of 100k records' fields, and the
    # call per field was most of the validation time.  Anything else (or a failure) takes the full check.
    exact = {name: c.fast_types for name, c in properties.items() if hasattr(c, "fast_types")}
    choices = {name: c.fast_choices for name, c in properties.items() if hasattr(c, "fast_choices")}

    def check(value: Any) -> Failure | None:
        if not isinstance(value, dict):
            return None
        if not required_set <= value.keys():
            missing = next(name for name in required if name not in value)
            return f".{missing}", "required field is missing"
        for name, element in value.items():
            kinds = exact.get(name)
            if kinds is not None and type(element) in kinds:
                continue
            allowed = choices.get(name)
            if allowed is not None and type(element) is str and element in allowed:
                continue
            one = properties.get(name, extra_check)
            if one is _any:
                continue
            if one is None:
                return f".{name}", "unknown field"
            failure = one(element)
            if failure is not None:
                return f".{name}{failure[0]}", failure[1]
        return None
    return check


_VALIDATE_DOCUMENT = _compile(SCHEMA)


def validate(doc: Any) -> None:
    """Check ``doc`` against :data:`SCHEMA` and the rules a schema cannot say; raise :class:`ResultsError`.

    Besides the schema: a document has exactly one of ``run`` / ``runs``; in a merged document every
    record names one of its runs; ids are unique within a run.
    """
    failure = _VALIDATE_DOCUMENT(doc)
    if failure is not None:
        raise ResultsError("$" + failure[0], failure[1])
    if ("run" in doc) == ("runs" in doc):
        raise ResultsError("$.run", "a document has exactly one of 'run' (one run) or 'runs' (merged)")
    labels = [run["label"] for run in doc.get("runs", ())]
    _check_labels(labels)
    _check_ids(doc["checks"], set(labels) if "runs" in doc else None)


def _check_labels(labels: list[str]) -> None:
    if len(set(labels)) != len(labels):
        raise ResultsError("$.runs", f"run labels are not unique: {labels}")


def _check_ids(checks: list[dict], labels: set[str] | None) -> None:
    seen: set[tuple[str | None, str]] = set()
    for index, record in enumerate(checks):
        run = record.get("run")
        if labels is not None and run not in labels:
            raise ResultsError(f"$.checks[{index}].run", f"names no run of this document: {run!r}")
        key = (run, record["id"])
        if key in seen:
            raise ResultsError(f"$.checks[{index}].id", f"duplicate check id {record['id']!r}")
        seen.add(key)


_VALIDATE_RECORD = _compile(RECORD)


def validate_record(record: Mapping[str, Any]) -> None:
    """Check one record (``verdict`` may still be None: the plugin settles it later)."""
    failure = _VALIDATE_RECORD(dict(record, verdict=record.get("verdict") or "pass"))
    if failure is not None:
        raise ResultsError(f"record {record.get('id')!r}{failure[0]}", failure[1])


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
    if kind is dict or isinstance(value, Mapping):
        return {str(k): canonical(v, digits) for k, v in value.items()}
    if kind is list or isinstance(value, (list, tuple)):
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


def complete_record(record: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict:
    """A full record from a partial one: unknown keys are refused (a typo must not pass silently),
    missing keys come from ``defaults`` then from null / "" / a derived id, values are made canonical.

    ``verdict`` may stay None here: the pytest plugin decides it from the test's outcome.
    """
    unknown = sorted(set(record) - set(RECORD_KEYS) - set(OPTIONAL_RECORD_KEYS))
    if unknown:
        raise TypeError(f"unknown check record field(s) {unknown}; put free-form data under 'extra'")
    full: dict[str, Any] = {key: None for key in RECORD_KEYS}
    full["reason"] = ""
    full.update({k: v for k, v in (defaults or {}).items() if k in full or k in OPTIONAL_RECORD_KEYS})
    full.update(record)
    if full.get("framework_version") is None and full.get("framework"):
        full["framework_version"] = framework_version(full["framework"])
    if not full.get("id"):
        full["id"] = default_id(full)
    full["reason"] = str(full["reason"] or "")
    for key in ("expected", "observed"):
        full[key] = summarize(full[key])
    return canonical_record(full)


def canonical_record(record: Mapping[str, Any]) -> dict:
    """``record`` with error measures at :data:`ERROR_DIGITS` and everything else at :data:`VALUE_DIGITS`."""
    out = {}
    for key, value in record.items():
        if key in ("value_error", "grad_error"):
            out[key] = _canonical_error(value)
        elif key in ("math_distance", "duration_s"):
            out[key] = canonical(value, ERROR_DIGITS)
        else:
            out[key] = canonical(value, VALUE_DIGITS)
    return out


def _canonical_error(error: Mapping[str, Any] | None) -> dict | None:
    """An error measure with every key present; private keys (``_abs_array`` from
    ``tests.support.tolerance.measure``) are dropped, they are working data, not results."""
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


def _distribution_version(names: Iterable[str]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.lru_cache(maxsize=None)
def framework_version(framework: str) -> str | None:
    """Installed version of ``framework`` (an adapter name), read from package metadata; "reference"
    is this package's own version.  Never imports the framework (that takes seconds and may touch a GPU)."""
    if framework == "reference":
        return _distribution_version(["lossparity"])
    return _distribution_version(FRAMEWORK_DISTRIBUTIONS.get(framework, (framework,)))


def installed_frameworks() -> dict[str, str]:
    """Framework -> version, for the frameworks whose module can be found (found, not imported)."""
    found = {}
    for name, module in sorted(FRAMEWORK_MODULES.items()):
        if importlib.util.find_spec(module) is None:
            continue
        version = framework_version(name)
        if version is not None:
            found[name] = version
    return found


def _numpy_version() -> str | None:
    return _distribution_version(["numpy"])


def make_run(settings: Mapping[str, Any] | None = None, pytest_args: Sequence[str] = (),
             started: str | None = None, finished: str | None = None) -> dict:
    """Describe the machine and software of a run.  ``settings`` (TF32, JAX x64, determinism flags…)
    is supplied by the run itself: only it knows what it switched on."""
    return {
        "started": started,
        "finished": finished,
        "python": platform.python_version(),
        "numpy": _numpy_version(),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "frameworks": installed_frameworks(),
        "settings": canonical(dict(settings or {})),
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


def _serialize(doc: Mapping[str, Any]) -> str:
    """Strict JSON with sorted keys, one check per line (so that two results files diff line by line)."""
    lines = [json.dumps(c, sort_keys=True, allow_nan=False, ensure_ascii=False) for c in doc["checks"]]
    body = {k: v for k, v in doc.items() if k != "checks"}
    head = json.dumps(body, sort_keys=True, allow_nan=False, indent=1, ensure_ascii=False)
    checks_text = "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"
    # "checks" sorts before "run"/"runs"/"schema": put it first to keep the whole file key-sorted.
    return '{\n"checks": ' + checks_text + ",\n" + head[2:] + "\n"


def dumps(doc: Mapping[str, Any]) -> str:
    """The file text of ``doc`` (see :func:`canonical_doc` and :func:`_serialize`)."""
    return _serialize(canonical_doc(doc))


def write_atomic(path: str | os.PathLike, doc: Mapping[str, Any]) -> Path:
    """Validate ``doc`` and write it to ``path`` through a temporary file and :func:`os.replace`, so a
    reader never sees half a file and a crash never leaves one."""
    with paused_gc():
        final = canonical_doc(doc)
        validate(final)
        text = _serialize(final)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
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
    """Read and validate a results file."""
    with open(path, encoding="utf-8") as handle, paused_gc():
        try:
            doc = json.load(handle)
        except json.JSONDecodeError as exc:
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
    for (framework, check_id), records in sorted(groups.items()):
        records.sort(key=lambda r: (_version_key(r.get("framework_version")), order.get(r.get("run"), 0)))
        for old, new in zip(records, records[1:]):
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
