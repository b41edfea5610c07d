"""The HTML report: one self-contained file (inline CSS, JS and SVG) built from a results document.

:func:`build_context` turns the checks into the tables the template shows (each private function under
"Sections" below feeds one section of the page); :func:`render` fills the Jinja2 template, with autoescaping on, so
every string from a results file (case ids, quotes, error messages) is shown as text.  The full list of
checks is embedded as JSON and browsed by a small script (search, verdict filter, per-cell filter): that
keeps a report of 100k checks quick to build and to open, where 100k server-rendered rows would not be.
"""
from __future__ import annotations

import json
import operator
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
from markupsafe import Markup

from . import plots, results
from .results import SEVERITY, to_float
from .summary import error_size, framework_counts, verdict_counts, worst_errors

NONE = "—"
PROBLEM_VERDICTS = ("lost", "error", "fail")
# Server-rendered rows are capped (the embedded check browser always has everything).
PROBLEM_LIMIT = 500
CELL_PROBLEM_LIMIT = 10
DRIFT_LIMIT = 200
DTYPE_ORDER = {"float64": 0, "float32": 1, "bfloat16": 2, "float16": 3}
DEVICE_ORDER = {"cpu": 0}
TEMPLATES = Path(__file__).with_name("templates")
_EMPTY: Mapping[str, Any] = {}
# ``record.get(key)`` as C-level callables for map(): fields an older file's records may lack.
_REDUCTION, _FLAGS = operator.methodcaller("get", "reduction"), operator.methodcaller("get", "flags")
_CONVENTION, _API, _VERSION, _DEVIATION, _VERDICT = map(
    operator.itemgetter, ("convention", "api", "framework_version", "deviation", "verdict"))


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------

def worst_verdict(verdicts: Iterable[str]) -> str:
    """The most severe verdict (``skip`` for none)."""
    return max(verdicts, key=SEVERITY.__getitem__, default="skip")


def _order_framework(name: str) -> tuple:
    return (name != "reference", name)


def _order_device(name: str) -> tuple:
    return (DEVICE_ORDER.get(name, 1), name)


def _order_dtype(name: str) -> tuple:
    return (DTYPE_ORDER.get(name, 9), name)


def _field(record: Mapping[str, Any], key: str) -> str:
    return record.get(key) or NONE


def _extra(record: Mapping[str, Any], key: str) -> Any:
    return (record.get("extra") or _EMPTY).get(key)


def anchor(*parts: str) -> str:
    """An HTML id made of ``parts``: readable, and only of characters that need no escaping in a URL."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


# Record fields that files written before they were typed fields kept under ``extra`` (same key).
LEGACY_EXTRA = ("binding", "form", "args")


def _typed(record: Mapping[str, Any], key: str) -> Any:
    """A typed field of a record (``binding``, ``form``, ``reduction``, ``args``, ``flags``); for a
    record from an older file, where the field is null or absent, what it kept under ``extra``."""
    value = record.get(key)
    if not value and key in LEGACY_EXTRA:
        legacy = _extra(record, key)
        if legacy is not None:
            return legacy
    return value


def reduction_of(record: Mapping[str, Any]) -> str | None:
    """The reduction a record measured: its ``reduction`` field, else the reduction part of its ``form``
    (``<kind>:<reduction>``, e.g. ``class:sum_over_batch_size``), else None."""
    reduction = record.get("reduction")
    if reduction:
        return reduction
    form = _typed(record, "form")
    if isinstance(form, str) and ":" in form:
        return form.split(":", 1)[1] or None
    return None


def _label(record: Mapping[str, Any]) -> str:
    """How a record is told apart from its siblings in a table cell: dtype, device, binding and API form
    (the ``api`` text when the record has neither), run."""
    binding, form = _typed(record, "binding"), _typed(record, "form")
    which = [binding, form] if binding or form else [record.get("api")]
    parts = [record.get("dtype"), record.get("device"), *which, record.get("run")]
    return " ".join(p for p in parts if p and isinstance(p, str))


def _outcome(record: Mapping[str, Any], value: Any) -> dict:
    return {"label": _label(record), "value": value, "verdict": record["verdict"], "reason": record["reason"],
            "id": record["id"]}


def _distance(records: Iterable[Mapping[str, Any]], key: str, field: str) -> float | None:
    """Largest ``record[key][field]`` over ``records`` (NaN and absent values ignored, inf kept)."""
    values = (to_float((r.get(key) or _EMPTY).get(field)) for r in records)
    return max((v for v in values if v is not None and v == v), default=None)


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------

def cell_keys(checks: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The summary-matrix cell of each record: (loss, framework, device, dtype)."""
    return [(r["loss"] or NONE, r["framework"] or NONE, r["device"] or NONE, r["dtype"] or NONE) for r in checks]


def _matrix(checks: Sequence[Mapping[str, Any]], keys: Sequence[tuple]) -> dict:
    """Loss × (framework, device, dtype) counts, the worst verdict per cell, and each cell's problems."""
    tallies: dict[tuple, Counter] = {}
    problems: dict[tuple, list] = defaultdict(list)
    for record, key in zip(checks, keys):
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Counter()
        tally[record["verdict"]] += 1
        if record["verdict"] != "pass":
            problems[key].append(record)
    cells = {key: _cell(key, tally, problems.get(key, [])) for key, tally in tallies.items()}
    columns = sorted({k[1:] for k in cells},
                     key=lambda c: (_order_framework(c[0]), _order_device(c[1]), _order_dtype(c[2])))
    groups: list[dict] = []
    for column in columns:
        if not groups or groups[-1]["framework"] != column[0]:
            groups.append({"framework": column[0], "span": 0})
        groups[-1]["span"] += 1
    losses = sorted({k[0] for k in cells})
    rows = [{"loss": loss, "cells": [cells.get((loss, *column)) for column in columns]} for loss in losses]
    ordered = [cells[k] for k in sorted(cells, key=lambda k: (k[0], _order_framework(k[1]),
                                                               _order_device(k[2]), _order_dtype(k[3])))]
    return {"groups": groups, "columns": columns, "rows": rows, "cells": ordered}


def _cell(key: tuple, tally: Counter, problems: list) -> dict:
    problems.sort(key=lambda r: (-SEVERITY[r["verdict"]], r["id"]))
    return {"key": key, "anchor": cell_anchor(key), "total": sum(tally.values()), "worst": worst_verdict(tally),
            "counts": {v: tally[v] for v in results.VERDICTS if tally[v]},
            "problems": problems[:CELL_PROBLEM_LIMIT], "hidden": max(0, len(problems) - CELL_PROBLEM_LIMIT)}


def cell_anchor(key: tuple) -> str:
    """The HTML id of a matrix cell's section (also the cell filter of the check browser)."""
    return "cell-" + anchor(*key)


def _problems(checks: Sequence[Mapping[str, Any]]) -> dict:
    """Every failed, errored or lost check, worst first."""
    found = sorted((r for r in checks if r["verdict"] in PROBLEM_VERDICTS),
                   key=lambda r: (-SEVERITY[r["verdict"]], r["id"], r.get("run") or ""))
    return {"rows": found[:PROBLEM_LIMIT], "hidden": max(0, len(found) - PROBLEM_LIMIT), "total": len(found)}


def _by_case(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list] = defaultdict(list)
    for record in records:
        grouped[record.get("case") or record["id"]].append(record)
    return dict(sorted(grouped.items()))


def _framework_outcomes(records: Sequence[Mapping[str, Any]], frameworks: Sequence[str]) -> list[list[dict]]:
    """For each framework, its records' observed values, ordered by dtype, device, api."""
    per = defaultdict(list)
    for record in records:
        per[record.get("framework")].append(record)
    return [[_outcome(r, r.get("observed")) for r in sorted(per.get(name, ()), key=_label)]
            for name in frameworks]


def _non_reference_frameworks(records: Iterable[Mapping[str, Any]]) -> list[str]:
    names = {r.get("framework") for r in records} - {None, "reference"}
    return sorted(names, key=_order_framework)


def _golden(checks: Sequence[Mapping[str, Any]]) -> dict:
    """Golden values side by side: quote, printed number, reference, each framework's number."""
    records = [r for r in checks if r.get("kind") in ("golden", "erratum")]
    frameworks = _non_reference_frameworks(records)
    rows = []
    for case, group in _by_case(records).items():
        reference = [r for r in group if r.get("framework") == "reference"]
        rows.append({
            "case": case,
            "anchor": "golden-" + anchor(case),
            "loss": group[0].get("loss"),
            "provenance": next((r["provenance"] for r in group if r.get("provenance")), None),
            "printed": next((_extra(r, "printed") for r in group if _extra(r, "printed") is not None), None),
            "reference": reference[0]["observed"] if reference else group[0].get("expected"),
            "erratum": any(r.get("kind") == "erratum" for r in group),
            "worst": worst_verdict(r["verdict"] for r in group),
            "frameworks": _framework_outcomes(group, frameworks),
        })
    return {"frameworks": frameworks, "rows": rows}


def _errata(checks: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Errors in the documents: what was printed, the corrected value, why, and what frameworks give."""
    rows = []
    for case, group in _by_case(r for r in checks if r.get("kind") == "erratum").items():
        erratum = next((_extra(r, "erratum") for r in group if _extra(r, "erratum")), None) or {}
        rows.append({
            "case": case,
            "provenance": next((r["provenance"] for r in group if r.get("provenance")), None),
            "printed": erratum.get("printed"), "corrected": erratum.get("corrected"), "why": erratum.get("why"),
            "worst": worst_verdict(r["verdict"] for r in group),
            "outcomes": [_outcome(r, r.get("observed")) | {"framework": r.get("framework")}
                         for r in sorted(group, key=lambda r: (_order_framework(r.get("framework") or ""),
                                                                _label(r)))],
        })
    return rows


def _is_declared(record: Mapping[str, Any]) -> bool:
    """Does the record measure a declared convention flag or deviation?"""
    extra = record.get("extra")
    return bool(record["kind"] == "convention" or record["verdict"] == "deviation" or record["deviation"]
                or (extra and isinstance(extra.get("flag"), dict)))


def _convention_name(record: Mapping[str, Any]) -> str:
    """The name of the flag or deviation a declared record measures."""
    flag = _extra(record, "flag")
    if isinstance(flag, Mapping) and flag.get("name"):
        return str(flag["name"])
    return record["deviation"] or record["convention"] or record["id"]


def _conventions(declared: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Every declared convention flag and deviation, with its measured size, versions and source."""
    groups: dict[str, list] = defaultdict(list)
    for record in declared:
        groups[_convention_name(record)].append(record)
    rows = []
    for name, group in sorted(groups.items()):
        flag = next((_extra(r, "flag") for r in group if isinstance(_extra(r, "flag"), Mapping)), {})
        rows.append({
            "name": name,
            "anchor": "conv-" + anchor(name),
            "type": "convention flag" if flag else "declared deviation",
            "summary": flag.get("summary") or next((r["reason"] for r in group if r["reason"]), ""),
            "value": flag.get("value"), "source": flag.get("source"), "versions": flag.get("versions"),
            "frameworks": sorted({f"{r['framework']} {r['framework_version'] or ''}".strip()
                                  for r in group if r["framework"]}),
            "losses": sorted({r["loss"] for r in group if r["loss"]}),
            "math_abs": _distance(group, "math_distance", "abs"),
            "math_rel": _distance(group, "math_distance", "rel"),
            "ulps": _distance(group, "value_error", "ulps"),
            "count": len(group),
            "counts": verdict_counts(group),
            "worst": worst_verdict(r["verdict"] for r in group),
        })
    return rows


def edge_class(observed: Any) -> tuple[str, str]:
    """What an edge input produced: (class, text); class is value, nan, inf, error or none."""
    if observed is None:
        return "none", NONE
    if isinstance(observed, str):
        if observed == "nan":
            return "nan", "NaN"
        if observed in ("inf", "-inf"):
            return "inf", observed.replace("inf", "∞")
        if observed.startswith("error"):
            return "error", observed.removeprefix("error:").strip()
        return "value", observed
    if isinstance(observed, (int, float)):
        return "value", f"{observed:.6g}"
    return "value", json.dumps(observed, sort_keys=True)[:80]


def _edges(checks: Sequence[Mapping[str, Any]]) -> dict:
    """Edge behaviour per case and framework: a value, NaN, inf or an error."""
    records = [r for r in checks if r.get("kind") == "edge"]
    frameworks = _non_reference_frameworks(records)
    rows = []
    for case, group in _by_case(records).items():
        outcomes = _framework_outcomes(group, frameworks)
        for column in outcomes:
            for outcome in column:
                outcome["class"], outcome["text"] = edge_class(outcome["value"])
        reference = [r.get("observed") for r in group if r.get("framework") == "reference"]
        expected = edge_class(reference[0] if reference else group[0].get("expected"))
        rows.append({"case": case, "loss": group[0].get("loss"), "expected": expected, "frameworks": outcomes,
                     "worst": worst_verdict(r["verdict"] for r in group)})
    return {"frameworks": frameworks, "rows": rows}


def _gradients(checks: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Gradient errors per loss, framework and dtype: largest ulps and relative error, worst check."""
    groups: dict[tuple, list] = defaultdict(list)
    for record in checks:
        if record.get("grad_error"):
            groups[(_field(record, "loss"), _field(record, "framework"), _field(record, "dtype"))].append(record)
    rows = []
    for (loss, framework, dtype), group in sorted(groups.items()):
        worst = max(group, key=lambda r: (SEVERITY[r["verdict"]], error_size(r["grad_error"]) or (0, "")))
        rows.append({"loss": loss, "framework": framework, "dtype": dtype, "count": len(group),
                     "ulps": _distance(group, "grad_error", "ulps"), "rel": _distance(group, "grad_error", "rel"),
                     "worst": worst_verdict(r["verdict"] for r in group), "worst_id": worst["id"]})
    return rows


def _drift_key(record: Mapping[str, Any]) -> tuple:
    """What a record measures, apart from the device: its fields and its id with the device masked."""
    device = record["device"]
    return (record["id"].replace(device, "{device}"), record.get("kind"), record.get("case"), record.get("loss"),
            record.get("framework"), record.get("framework_version"), record.get("api"), record.get("dtype"),
            record.get("convention"), record.get("deviation"))


def _drift(checks: Sequence[Mapping[str, Any]]) -> dict:
    """CPU-vs-accelerator drift: records that differ only by device, compared value to value."""
    rows = []
    if len({r["device"] for r in checks}) > 1:  # one device (the usual single run): nothing to pair
        groups: dict[tuple, dict[str, Mapping]] = defaultdict(dict)
        for record in checks:
            if record["device"] and record["verdict"] not in ("skip", "lost"):
                groups[_drift_key(record)].setdefault(record["device"], record)
        for devices in groups.values():
            base = devices.get("cpu")
            for device, other in sorted(devices.items()):
                if base is not None and device != "cpu":
                    rows.append(_drift_row(base, other))
    rows.sort(key=lambda r: (-(r["abs"] if r["abs"] is not None else -1.0), r["id"]))
    return {"rows": rows[:DRIFT_LIMIT], "hidden": max(0, len(rows) - DRIFT_LIMIT), "pairs": len(rows),
            "identical": sum(1 for r in rows if r["abs"] == 0)}


def _drift_row(cpu: Mapping[str, Any], other: Mapping[str, Any]) -> dict:
    a, b = to_float(cpu.get("observed")), to_float(other.get("observed"))
    difference = abs(a - b) if a is not None and b is not None and a == a and b == b else None
    if difference is not None and difference != difference:  # inf - inf: same class, no drift
        difference = 0.0
    relative = difference / abs(a) if difference and a else (0.0 if difference == 0 else None)
    return {"id": other["id"], "loss": other.get("loss"), "framework": other.get("framework"),
            "dtype": other.get("dtype"), "device": other["device"], "device_name": other.get("device_name"),
            "cpu": cpu.get("observed"), "other": other.get("observed"), "abs": difference, "rel": relative,
            "cpu_verdict": cpu["verdict"], "other_verdict": other["verdict"],
            "worst": worst_verdict([cpu["verdict"], other["verdict"]])}


def _benchmarks(checks: Sequence[Mapping[str, Any]]) -> dict:
    """Benchmark records (``extra.benchmark``: a flat dict of numbers) as one table."""
    rows = []
    for record in checks:
        bench = _extra(record, "benchmark")
        if record.get("kind") == "benchmark" and isinstance(bench, Mapping):
            rows.append({"record": record, "metrics": bench})
    columns = sorted({k for row in rows for k, v in row["metrics"].items() if not isinstance(v, (dict, list))})
    rows.sort(key=lambda r: (_field(r["record"], "loss"), _order_framework(_field(r["record"], "framework")),
                             r["record"]["id"]))
    return {"columns": columns, "rows": rows}


def _migration(checks: Sequence[Mapping[str, Any]], declared: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per loss and framework: which convention, flags and APIs give that framework's number, and how
    far that number is from the plain mathematics (what differs if you ignore the convention)."""
    per: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for record in checks:
        framework = record["framework"]
        if record["loss"] and framework and framework != "reference" and record["verdict"] != "skip":
            per[record["loss"]][framework].append(record)
    witnesses: dict[tuple, list] = defaultdict(list)
    for record in declared:
        witnesses[(record["loss"], record["framework"])].append(record)
    guide = []
    for loss in sorted(per):
        entries = [_migration_entry(framework, group, witnesses[(loss, framework)])
                   for framework, group in sorted(per[loss].items(), key=lambda i: _order_framework(i[0]))]
        guide.append({"loss": loss, "anchor": "migrate-" + anchor(loss), "entries": entries,
                      "agree": all(e["math_rel"] == 0 and not e["flags"] for e in entries)})
    return guide


def _migration_entry(framework: str, group: Sequence[Mapping[str, Any]],
                     declared: Sequence[Mapping[str, Any]]) -> dict:
    """One framework's recipe for one loss, from its records (C-level passes: groups can be large) and
    its declared-convention records (which carry the flags' descriptions).  Reductions come from the
    records' ``reduction`` / ``form`` fields, flags from their ``flags`` field and the witnesses."""
    conventions = Counter(map(_CONVENTION, group))
    conventions.pop(None, None)
    apis = set(map(_API, group)) - {None}
    flags: dict[str, tuple[Mapping, list]] = {}
    for record in declared:
        flag = _extra(record, "flag")
        if isinstance(flag, dict) and flag.get("name"):
            flags.setdefault(flag["name"], (flag, []))[1].append(record)
    for names in set(map(tuple, filter(None, map(_FLAGS, group)))):
        for name in names:
            flags.setdefault(name, (dict(FLAG_BLANK, name=name), []))
    reductions = set(map(_REDUCTION, group))
    if None in reductions:  # records without the field (older files, non-API checks): look further
        reductions.update(map(reduction_of, (r for r in group if not r.get("reduction"))))
    distant = [r for r in group if r["math_distance"]]
    return {
        "framework": framework,
        "versions": sorted(set(map(_VERSION, group)) - {None}),
        "convention": conventions.most_common(1)[0][0] if conventions else None,
        "flags": [{**FLAG_BLANK, **flag, "math_abs": _distance(witness, "math_distance", "abs"),
                   "math_rel": _distance(witness, "math_distance", "rel")}
                  for flag, witness in (flags[name] for name in sorted(flags))],
        "reductions": sorted(reductions - {None, ""}),
        "apis": sorted(apis),
        "deviations": [{"name": name, "anchor": "conv-" + anchor(name)}
                       for name in sorted(set(map(_DEVIATION, group)) - {None})],
        "math_abs": _distance(distant, "math_distance", "abs"),
        "math_rel": _distance(distant, "math_distance", "rel"),
        "worst": worst_verdict(set(map(_VERDICT, group))),
    }


# What the migration guide shows of a flag known only by name (from a record's ``flags``).
FLAG_BLANK = {"name": None, "value": None, "summary": None, "source": None, "versions": None}


def _plots(checks: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Histograms of error sizes in ulps per (value|grad, framework, dtype)."""
    samples: dict[tuple, list] = defaultdict(list)
    for record in checks:
        for which, error in (("value", record["value_error"]), ("grad", record["grad_error"])):
            if error and error["ulps"] is not None:
                samples[(which, record["framework"] or NONE, record["dtype"] or NONE)].append(error["ulps"])
    figures = []
    for (which, framework, dtype), values in sorted(samples.items(), key=lambda i: (
            i[0][0] != "value", _order_framework(i[0][1]), _order_dtype(i[0][2]))):
        title = f"{which} error, {framework} {dtype} ({len(values)} checks)"
        numbers = [v if type(v) is float else to_float(v) for v in values]  # "inf"/"nan" strings to floats
        figures.append({"title": title, "svg": plots.histogram_svg(plots.ulp_bins(numbers), title)})
    return figures


BROWSER_COLUMNS = ("id", "verdict", "kind", "loss", "framework", "version", "dtype", "device", "api",
                   "value", "grad", "reason", "run", "cell", "case")


def _browser_json(checks: Sequence[Mapping[str, Any]], keys: Sequence[tuple]) -> Markup:
    """All checks as compact JSON rows (columns :data:`BROWSER_COLUMNS`) for the check browser, safe to
    embed in a ``<script>`` element: ``<``, ``>``, ``&`` and line separators are escaped."""
    anchors = {key: cell_anchor(key) for key in set(keys)}
    fields = operator.itemgetter("id", "verdict", "kind", "loss", "framework", "framework_version", "dtype",
                                 "device", "api")
    rows = [[*fields(r), _size(r["value_error"]) if r["value_error"] else None,
             _size(r["grad_error"]) if r["grad_error"] else None, r["reason"], r.get("run"), anchors[key],
             r["case"]]
            for r, key in zip(checks, keys)]
    text = json.dumps({"columns": BROWSER_COLUMNS, "rows": rows}, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return Markup(text)


def _size(error: Mapping[str, Any]) -> list:
    """[size, unit] of an error for the browser: ulps when known, else the relative error."""
    return [error["ulps"], "ulp"] if error["ulps"] is not None else [error["rel"], "rel"]


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

def build_context(doc: Mapping[str, Any]) -> dict:
    """Everything the template shows, computed from a (one-run or merged) results document."""
    checks = doc["checks"]
    keys = cell_keys(checks)
    by_kind: dict[str | None, list] = defaultdict(list)
    for record in checks:
        by_kind[record["kind"]].append(record)
    declared = [r for r in checks if _is_declared(r)]
    totals = verdict_counts(checks)
    return {
        "runs": results.runs_of(doc),
        "merged": "runs" in doc,
        "total": len(checks),
        "totals": totals,
        "problem_count": sum(totals.get(v, 0) for v in PROBLEM_VERDICTS),
        "frameworks": framework_counts(checks),
        "worst_errors": worst_errors(checks),
        "matrix": _matrix(checks, keys),
        "problems": _problems(checks),
        "golden": _golden(by_kind["golden"] + by_kind["erratum"]),
        "errata": _errata(by_kind["erratum"]),
        "conventions": _conventions(declared),
        "edges": _edges(by_kind["edge"]),
        "gradients": _gradients(checks),
        "drift": _drift(checks),
        "benchmarks": _benchmarks(by_kind["benchmark"]),
        "migration": _migration(checks, declared),
        "plots": _plots(checks),
        "browser_json": _browser_json(checks, keys),
        "verdicts": results.VERDICTS,
        "cell_problem_limit": CELL_PROBLEM_LIMIT,
    }


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for a table cell: ``digits`` significant digits; NaN/inf strings and None as symbols."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:.{digits}g}"
    if value in results.SPECIAL_FLOATS:
        return {"nan": "NaN", "inf": "∞", "-inf": "−∞"}[value]
    return fmt_value(value)


def fmt_value(value: Any, limit: int = 120) -> str:
    """A small JSON value (observed/expected) as short text; numbers at full stored precision."""
    if value is None:
        return NONE
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def fmt_error(error: Mapping[str, Any] | None) -> str:
    """An error measure as ``1.5 ulp`` (or a relative error when ulps are not known)."""
    size = error_size(error)
    if size is None:
        return NONE
    return f"{fmt_number(size[0], 3)} {size[1]}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_number, value=fmt_value, err=fmt_error)
    return env


def render(doc: Mapping[str, Any]) -> str:
    """The report's HTML text."""
    with results.paused_gc():
        return _environment().get_template("parity.html.j2").render(**build_context(doc))


def write_report(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Render ``doc`` to ``path`` (written whole through a temporary file, like the results)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(render(doc), encoding="utf-8")
    temp.replace(target)
    return target
