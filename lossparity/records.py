"""The typed check record and results document (schema ``lossparity.results/2``).

One definition, in :mod:`msgspec` Structs, from which the results file's schema and its validation come:
``reports.results`` validates documents with ``msgspec.convert(doc, ResultsDocument, strict=True)``
(files are decoded with ``msgspec.json``, strict JSON, then converted), and its ``SCHEMA`` is the JSON
Schema msgspec generates from these types (:func:`json_schema`).

Conventions of the file, which these types encode:

* Numbers that may be non-finite (error measures, distances) are written as a number or as one of the
  strings ``"nan"``, ``"inf"``, ``"-inf"`` (:data:`SPECIAL_FLOATS`), so the JSON stays strict; a float
  field never holds a non-finite float.
* Errors are measured in three units: absolute (same unit as the loss value or gradient), relative
  (absolute error over the magnitude of the reference value, dimensionless) and ulps (units in the last
  place *of the dtype the framework computed in*, e.g. float32 ulps for a float16 input a framework
  upcasts; see ``extra.compute_dtype``).
* Every record written has every key of :data:`RECORD_FIELDS` (null, ``""``, ``{}`` or ``[]`` when
  unknown); ``test``, ``run`` and ``extra`` are optional (absent when unset, see
  :data:`OPTIONAL_RECORD_FIELDS`).  Files written before ``binding``, ``form``, ``reduction``, ``args``
  and ``flags`` existed still load: those fields default to null / empty.

>>> record = msgspec.convert(example_record(), CheckRecord, strict=True)
>>> record.form, record.reduction, record.args
('function:none', 'none', {'delta': 1.0})
>>> "accuracy" in KINDS and "lost" in VERDICTS
True
"""
from __future__ import annotations

import sys
import typing
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "SCHEMA_ID", "Kind", "Verdict", "Special", "Real", "KINDS", "VERDICTS", "SPECIAL_FLOATS",
    "ErrorMeasure", "Distance", "Provenance", "CheckRecord", "Incomplete", "Run", "ResultsDocument",
    "RECORD_FIELDS", "OPTIONAL_RECORD_FIELDS", "RECORD_DEFAULTS", "RUN_FIELDS", "json_schema",
    "example_record",
]

SCHEMA_ID = "lossparity.results/2"
# Files of schema /1 (before binding, form, reduction, args and flags were fields) still load: the new
# fields take their defaults.
READABLE_SCHEMAS = ("lossparity.results/1", SCHEMA_ID)

# What a check measures.  "accuracy", "recipe" and "test" are reserved for checks not written yet.
Kind = Literal["value", "grad", "dtype", "golden", "erratum", "invariant", "identity", "edge", "convention",
               "reference", "fuzz", "benchmark", "accuracy", "recipe", "test"]
# How a check came out (``reports.results.SEVERITY`` orders them).
Verdict = Literal["pass", "deviation", "fail", "skip", "error", "lost"]
# Non-finite numbers as the file writes them.
Special = Literal["nan", "inf", "-inf"]

KINDS: tuple[str, ...] = typing.get_args(Kind)
VERDICTS: tuple[str, ...] = typing.get_args(Verdict)
SPECIAL_FLOATS: tuple[str, ...] = typing.get_args(Special)

# A finite float (NaN fails both bounds, infinities one): non-finite values must be written as strings.
Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
# A measured number: finite, or "nan" / "inf" / "-inf".
Real = Union[Finite, Special]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0, le=sys.float_info.max)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


# Every Struct here is gc=False: records are acyclic trees of JSON data, and leaving 100k of them out of
# the cyclic collector's bookkeeping keeps validating a large file quick.


class ErrorMeasure(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """How far a framework's output is from the reference (``value_error`` / ``grad_error``).

    Every key is always present (null when not measured).  Over all output elements:

    * ``abs``: largest absolute error |framework - reference|, in the unit of the output (the loss value,
      or the gradient of the loss with respect to the input named by the binding).
    * ``rel``: largest relative error |framework - reference| / |reference| (dimensionless).
    * ``ulps``: largest error in units in the last place of the computing dtype (the dtype the framework
      computed in; float16 inputs computed in float32 are measured in float32 ulps); null when the dtype
      has no ulp (integers) or it was not measured.
    * ``tol``: the tolerance the error was judged against, absolute (the error bound of the check), null
      when the check has none.
    * ``worst_index``: the index (one int per axis) of the element with the largest error, null for a
      scalar output or when nothing was compared.
    * ``worst_input``: a small JSON summary of the inputs at ``worst_index`` (any JSON value, or null).
    """

    abs: Real
    rel: Real
    ulps: Real | None
    tol: Real | None
    worst_index: list[int] | None
    worst_input: Any


class Distance(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """How far the number a framework's convention gives is from the plain mathematics (``math_distance``):
    ``abs`` the largest absolute difference (unit of the output), ``rel`` the largest relative difference
    (dimensionless); null when not measured."""

    abs: Real | None
    rel: Real | None


class Provenance(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Where a document-derived case comes from: ``document`` is the document's file name (under
    ``cases/documents``), ``quote`` the exact passage of it the case reproduces."""

    document: str
    quote: str


class CheckRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=False, gc=False):
    """One check of the suite: what was computed, by which framework and API, how it came out.

    Identity and subject:

    * ``id``: unique within a run (``kind:case-or-loss:framework:api:dtype:device`` by default).
    * ``kind``: what the check measures (:data:`KINDS`); null only for synthetic records of a test that
      recorded nothing (a crash, a skip).
    * ``case``: the input set's id (a case file id or a generated set's id), or null.
    * ``provenance``: the document passage a case comes from (:class:`Provenance`), or null.
    * ``loss``: the loss (or activation) name of the reference, e.g. ``huber``, or null.
    * ``framework``: the adapter's name (``reference`` for the NumPy reference itself), or null.
    * ``framework_version``: the version string the adapter reports, or null when not known.
    * ``api``: human-readable description of the API called (prose, for people: never parse it).
    * ``binding``: the adapter's binding key (which of its bindings computed this), or null.
    * ``form``: the API form, ``<kind>:<reduction>``, e.g. ``function:none``, ``class:sum_over_batch_size``,
      ``module:mean``, ``tfnn:none``; null when not a framework call.
    * ``reduction``: the reduction of ``form`` (``none``, ``sum``, ``mean``, ``sum_over_batch_size``,
      ``batchmean``…), or null.
    * ``args``: the loss keyword arguments of the call (``{"delta": 1.0}``), empty when none.
    * ``dtype``: the input dtype name (``float32``…); ``device``: ``cpu``, ``gpu``…; ``device_name``:
      the device's model name; each null when not applicable.
    * ``convention``: the name of the reference convention the framework's number is compared with.
    * ``flags``: names of the convention flags that applied to this check (sorted), empty when none.

    Outcome:

    * ``verdict``: :data:`VERDICTS`; ``reason``: one line saying why (empty for a plain pass).
    * ``value_error`` / ``grad_error``: :class:`ErrorMeasure` of the value / gradient, or null.
    * ``math_distance``: :class:`Distance` from the plain mathematics, or null.
    * ``expected`` / ``observed``: the reference's and the framework's output, a small JSON value (a long
      array is summarised as ``{"shape", "min", "max", "mean", "nonfinite"}``; a behaviour such as
      ``"nan"`` or ``"error:ValueError: ..."``).
    * ``deviation``: the name of the declared deviation covering this check, or null.
    * ``duration_s``: wall time of the check in seconds (>= 0), or null.

    Optional (absent when unset): ``test`` the pytest node id that recorded the check; ``run`` the label
    of the run (merged documents); ``extra`` free-form JSON data of the check (``flag``, ``printed``,
    ``benchmark``, ``compute_dtype``…).
    """

    id: NonEmpty
    kind: Kind | None
    case: str | None
    provenance: Provenance | None
    loss: str | None
    framework: str | None
    framework_version: str | None
    api: str | None
    dtype: str | None
    device: str | None
    device_name: str | None
    convention: str | None
    verdict: Verdict
    reason: str
    value_error: ErrorMeasure | None
    grad_error: ErrorMeasure | None
    math_distance: Distance | None
    expected: Any
    observed: Any
    deviation: str | None
    duration_s: NonNegative | None
    binding: str | None = None
    form: str | None = None
    reduction: str | None = None
    args: dict[str, Any] = msgspec.field(default_factory=dict)
    flags: list[str] = msgspec.field(default_factory=list)
    test: str | None | UnsetType = UNSET
    run: str | UnsetType = UNSET
    extra: dict[str, Any] | UnsetType = UNSET


class Incomplete(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Why a run's results do not cover everything it set out to check (``Run.incomplete``).

    * ``reason``: one line for people (``interrupted (KeyboardInterrupt)``, ``the run died (killed or
      crashed) before it finished: recovered from its journal``…).
    * ``collected``: how many tests the run selected, null when not known.
    * ``finished``: how many of them reported a result.
    * ``running``: node ids of the tests that had started but not finished when the run stopped (the
      likely cause of a crash).
    * ``missing``: node ids of every selected test that did not finish (``running`` included).  Parity
      tests among them also have a ``lost`` record, so their matrix cells do not look complete.
    * ``journal``: the journal file the results were rebuilt from (a run that died), or null.
    """

    reason: str
    collected: int | None
    finished: int
    running: list[str]
    missing: list[str]
    journal: str | None


class Run(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The machine and software of one run.

    * ``label``: the run's name in a merged document (required there, absent in a one-run document).
    * ``started`` / ``finished``: UTC times, ISO 8601 to the second, or null.
    * ``python``, ``numpy``: versions (``numpy`` null when not installed); ``os``: system and release;
      ``platform``: :func:`platform.platform`; ``cpu``: the CPU model name.
    * ``frameworks``: adapter name -> the version string that adapter reports (from the run-settings hook).
    * ``settings``: the numerical settings the run used (TF32, x64, determinism, per-adapter settings…).
    * ``pytest_args``: the pytest command line arguments.
    * ``incomplete``: absent when the run finished every test it selected; else :class:`Incomplete`
      (interrupted, stopped early, or died and rebuilt from its journal).
    """

    label: NonEmpty | UnsetType = UNSET
    started: str | None
    finished: str | None
    python: str
    numpy: str | None
    os: str
    platform: str
    cpu: str
    frameworks: dict[str, str]
    settings: dict[str, Any]
    pytest_args: list[str]
    incomplete: Incomplete | UnsetType = UNSET


class ResultsDocument(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A results file: ``schema`` (:data:`SCHEMA_ID`), the checks, and either ``run`` (one run) or
    ``runs`` (a merged document: several runs, each with a ``label`` that its records name in ``run``).
    Exactly one of ``run`` / ``runs`` is present; ids are unique within a run (``reports.results.validate``
    checks the rules a type cannot say)."""

    schema: Literal["lossparity.results/1", "lossparity.results/2"]
    checks: list[CheckRecord]
    run: Run | UnsetType = UNSET
    runs: list[Run] | UnsetType = UNSET


def _split_fields() -> tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]:
    always, optional, defaults = [], [], {}
    for field in msgspec.structs.fields(CheckRecord):
        if field.default is UNSET:
            optional.append(field.name)
            continue
        always.append(field.name)
        if field.default_factory is not msgspec.NODEFAULT:
            defaults[field.name] = field.default_factory()
        elif field.default is not msgspec.NODEFAULT:
            defaults[field.name] = field.default
        else:
            defaults[field.name] = "" if field.name == "reason" else None
    return tuple(always), tuple(optional), defaults


# Keys every written record has, in declaration order; keys a record may lack; the value a missing key
# gets (a fresh copy is needed for the mutable ones: use ``copy.deepcopy`` or rebuild).
RECORD_FIELDS, OPTIONAL_RECORD_FIELDS, RECORD_DEFAULTS = _split_fields()
RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(Run))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a results file, generated from :class:`ResultsDocument`."""
    return msgspec.json.schema(ResultsDocument)


def example_record(**fields: Any) -> dict[str, Any]:
    """A complete, valid record as a dict (a passing float32 torch value check), for examples and tests."""
    record = dict(RECORD_DEFAULTS, args={}, flags=[])
    record.update(id="value:example", kind="value", loss="huber", framework="torch", api="huber_loss",
                  binding="huber", form="function:none", reduction="none", args={"delta": 1.0},
                  dtype="float32", device="cpu", convention="torch", verdict="pass", expected=0.5,
                  observed=0.5, duration_s=0.001)
    record.update(fields)
    return record
