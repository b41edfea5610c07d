"""The HTML report: one self-contained file (inline CSS, JS and SVG) built from a results document.

:func:`build_context` turns the checks into what the template shows; :func:`render` fills the Jinja2
template with autoescaping on, so every string from a results file (case ids, quotes, error messages,
recipe code) is shown as text.

What a porting engineer reads first is rendered in the page: the run's completeness, the porting hazards
per pair of frameworks, the matrix, the problems, the migration recipes (copyable code), the accuracy
table.  Everything whose size grows with the number of checks is kept out of the HTML: the tables group
records (per case, per cell) and cap their rows, and every check is in one compressed data block
(columns, dictionary-coded, deflated and base64-encoded: about 20 bytes a check) that the page's script
inflates with the browser's own ``DecompressionStream`` for the check browser and the detail panels.
That keeps a report of 100k checks a few MB and quick to build, self-contained and offline (the
Content-Security-Policy forbids every network load).
"""
from __future__ import annotations

import base64
import functools
import itertools
import json
import operator
import re
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import msgspec
from markupsafe import Markup, escape

from lossparity.records import RECORD_DEFAULTS

from . import plots, results
from .results import SEVERITY, to_float
from .summary import error_size, verdict_counts

NONE = "—"
PROBLEM_VERDICTS = ("lost", "error", "fail")
# Server-rendered rows are capped; the check browser (from the data block) always has everything.
PROBLEM_LIMIT = 200
DRIFT_LIMIT = 200
BENCHMARK_LIMIT = 300
HAZARD_ROWS = 8  # hazards shown per pair before "more"
OUTCOME_VALUES = 3  # distinct outcomes shown per (case, framework) in the golden and edge tables
# Records whose full detail goes into the data block (beyond their browser columns): every problem (the
# worst first, up to DETAIL_LIMIT) and every record of these kinds.
DETAIL_KINDS = frozenset(("recipe", "accuracy", "benchmark"))
DETAIL_LIMIT = 5000
DETAIL_TEXT_LIMIT = 4000  # a detail value longer than this (as JSON) is cut
DEFLATE_LEVEL = 1  # 100k checks: level 1 gives 1.5 MB in 0.06 s, level 6 1.1 MB in 0.3 s
DTYPE_ORDER = {"float64": 0, "float32": 1, "bfloat16": 2, "float16": 3}
DTYPE_SHORT = {"float64": "f64", "float32": "f32", "bfloat16": "bf16", "float16": "f16"}
DEVICE_ORDER = {"cpu": 0}
TEMPLATES = Path(__file__).with_name("templates")
_EMPTY: Mapping[str, Any] = {}
_ENCODE_SORTED = msgspec.json.Encoder(order="sorted").encode
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_BREAK_AFTER = re.compile(r"([.:/_\-=,\[\]]+)")


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
    extra = record.get("extra")
    return extra.get(key) if isinstance(extra, Mapping) else None


def anchor(*parts: str) -> str:
    """An HTML id made of ``parts``: readable, and only of characters that need no escaping in a URL."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(str(p) for p in parts))


def breakable(text: Any) -> Markup:
    """``text`` escaped, with a line-break opportunity after each run of separators (``.``, ``-``, ``:``,
    ``_``, ``/``…): a long id wraps at its parts, never letter by letter."""
    if text is None or text == "":
        return Markup(NONE)
    return Markup(_BREAK_AFTER.sub(r"\1<wbr>", str(escape(str(text)))))


def lang_of(text: Any) -> str:
    """``zh`` for a text with CJK characters (so the browser picks a CJK font for it), else ``""``."""
    return "zh" if isinstance(text, str) and _CJK.search(text) else ""


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


def _distance(records: Iterable[Mapping[str, Any]], key: str, field: str) -> float | None:
    """Largest ``record[key][field]`` over ``records`` (NaN and absent values ignored, inf kept)."""
    values = (to_float((r.get(key) or _EMPTY).get(field)) for r in records)
    return max((v for v in values if v is not None and v == v), default=None)


def _size_key(abs_: Any, rel: Any) -> tuple:
    """Sort key, largest first, of a difference: NaN and inf before any finite size; rel, then abs."""
    def rank(value: Any) -> tuple[int, float]:
        number = to_float(value)
        if number is None:
            return (0, 0.0)
        if number != number:
            return (3, 0.0)
        if number == float("inf"):
            return (2, 0.0)
        return (1, abs(number))
    return (rank(rel), rank(abs_))


# --------------------------------------------------------------------------------------------------
# The records as columns: one pass over 100k records (each a dict somewhere in memory) costs more than
# everything done with its fields afterwards, so the fields every section needs are read once.
# --------------------------------------------------------------------------------------------------

_RUN = operator.methodcaller("get", "run")
COLUMN_FIELDS = ("id", "verdict", "kind", "loss", "framework", "framework_version", "dtype", "device",
                 "binding", "form", "deviation", "reason", "case", "value_error", "grad_error")


def _key(loss: str | None, framework: str | None, device: str | None, dtype: str | None) -> tuple:
    """The matrix cell (loss, framework, device, dtype) of a record's fields, "—" for a missing one."""
    return tuple(NONE if part is None else part for part in (loss, framework, device, dtype))


NOT_IN_MATRIX = frozenset(("recipe",))


class Columns:
    """The fields :data:`COLUMN_FIELDS` (and ``run``) of every record, as tuples in record order, and
    what one scan of them gives every section (see :meth:`_scan`):

    * ``shapes`` / ``shape``: the distinct tuples of :data:`SHAPE_FIELDS` + run, and each record's index
      into them; ``tally``: (loss, framework, device, dtype, verdict) -> count (matrix, totals);
    * ``value`` / ``grad``: each record's error size for the browser (:func:`_size`);
    * ``grad_groups``: (loss, framework, dtype) -> indices of the records with a gradient error;
      ``samples``: (value|grad, framework, dtype) -> error sizes in ulps.

    Records of an older file (without ``binding``, ``form``…) are completed first (:func:`_complete`);
    ``records`` are the records as used."""

    def __init__(self, checks: Sequence[Mapping[str, Any]]):
        try:
            rows = list(map(operator.itemgetter(*COLUMN_FIELDS), checks))
        except KeyError:  # an older file's records lack fields (and may keep some under extra)
            checks = _complete(checks)
            rows = list(map(operator.itemgetter(*COLUMN_FIELDS), checks))
        self.records = checks
        self.n = len(checks)
        values = list(zip(*rows)) if rows else [()] * len(COLUMN_FIELDS)
        for name, column in zip(COLUMN_FIELDS, values):
            setattr(self, name, column)
        self.run = tuple(map(_RUN, checks)) if checks and "run" in checks[0] else (None,) * self.n
        self.shapes, self.shape = _code(zip(self.verdict, self.kind, self.loss, self.framework,
                                            self.framework_version, self.dtype, self.device, self.binding,
                                            self.form, self.deviation, self.run))
        self.tally: Counter = Counter()  # recipes are about pairs: they have their own section, not a cell
        self.shape_counts = _counts(self.shape, len(self.shapes))
        for shape, n in zip(self.shapes, self.shape_counts):
            if shape[1] not in NOT_IN_MATRIX:
                self.tally[(shape[2], shape[3], shape[6], shape[5], shape[0])] += n
        self._scan()

    def _scan(self) -> None:
        """One pass over the error measures: sizes, gradient groups, ulp samples."""
        self.value = value_sizes = list(map(_size, self.value_error))
        self.grad = grad_sizes = list(map(_size, self.grad_error))
        framework, dtype, loss = self.framework, self.dtype, self.loss
        grad_groups: dict[tuple, list] = defaultdict(list)
        samples: dict[tuple, list] = defaultdict(list)
        for which, sizes in (("value", value_sizes), ("grad", grad_sizes)):
            present = list(itertools.compress(range(self.n), map(operator.is_not, sizes, itertools.repeat(None))))
            for i in present:
                size = sizes[i]
                if type(size) is not dict:  # ulps (a relative error has no place on an ulp axis)
                    samples[(which, framework[i], dtype[i])].append(size)
            if which == "grad":
                for i in present:
                    grad_groups[(loss[i], framework[i], dtype[i])].append(i)
        self.grad_groups, self.samples = grad_groups, samples

    def where(self, column: Sequence[Any], wanted: Iterable[Any]) -> list[int]:
        """Indices of the records whose ``column`` value is in ``wanted``."""
        wanted = frozenset(wanted)
        return [i for i, v in enumerate(column) if v in wanted]


def _counts(codes: Sequence[int], size: int) -> list[int]:
    """How many times each of ``0 .. size - 1`` occurs in ``codes``."""
    counts = Counter(codes)
    return [counts[i] for i in range(size)]


# --------------------------------------------------------------------------------------------------
# The run: completeness and per-framework status
# --------------------------------------------------------------------------------------------------

def _incomplete(runs: Sequence[Mapping[str, Any]], merged: bool) -> list[dict]:
    """One entry per incomplete run: why, what finished, what was running, what is missing."""
    found = []
    for run in runs:
        info = run.get("incomplete")
        if not info:
            continue
        missing = list(info.get("missing") or ())
        running = list(info.get("running") or ())
        found.append({"label": run.get("label") if merged else None, "reason": info.get("reason") or "incomplete",
                      "collected": info.get("collected"), "finished": info.get("finished"),
                      "running": running[:10], "running_more": max(0, len(running) - 10),
                      "missing": missing[:20], "missing_count": len(missing),
                      "journal": info.get("journal"), "started": run.get("started")})
    return found


def _framework_status(columns: Columns, runs: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per framework: its version(s), its verdict counts, and whether any of its checks ran at all (a
    framework that failed to import has only skipped, lost or errored records: it is said so, with the
    first reason, instead of being listed as if it had run)."""
    versions: dict[str, set] = defaultdict(set)
    for run in runs:
        for name, version in (run.get("frameworks") or {}).items():
            versions[name].add(version)
    tallies: dict[str, Counter] = defaultdict(Counter)
    for shape, n in zip(columns.shapes, columns.shape_counts):
        if shape[3]:
            tallies[shape[3]][shape[0]] += n
    reasons: dict[str, str] = {}
    for i in columns.where(columns.verdict, ("skip", "lost", "error")):
        name = columns.framework[i]
        if name and name not in reasons and columns.reason[i]:
            reasons[name] = columns.reason[i]
    rows = []
    for name in sorted(set(versions) | set(tallies), key=_order_framework):
        tally = tallies.get(name, Counter())
        ran = sum(n for v, n in tally.items() if v in ("pass", "deviation", "fail"))
        rows.append({"name": name, "versions": sorted(v for v in versions.get(name, ()) if v),
                     "counts": {v: tally[v] for v in results.VERDICTS if tally[v]}, "total": sum(tally.values()),
                     "ran": ran, "reason": reasons.get(name, "") if not ran else "",
                     "worst": worst_verdict(tally) if tally else "skip"})
    return rows


# --------------------------------------------------------------------------------------------------
# The matrix and the problems
# --------------------------------------------------------------------------------------------------

def cell_keys(checks: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The summary-matrix cell of each record: (loss, framework, device, dtype)."""
    return [(r["loss"] or NONE, r["framework"] or NONE, r["device"] or NONE, r["dtype"] or NONE) for r in checks]


def cell_anchor(key: tuple) -> str:
    """The id of a matrix cell (also the cell filter of the check browser)."""
    return "cell-" + anchor(*key)


def _matrix(columns: Columns) -> dict:
    """Loss × (framework, device, dtype): counts and the worst verdict per cell."""
    tallies: dict[tuple, Counter] = defaultdict(Counter)
    for (*key, verdict), n in columns.tally.items():
        tallies[_key(*key)][verdict] += n
    cells = {key: _cell(key, tally) for key, tally in tallies.items()}
    columns_ = sorted({k[1:] for k in cells},
                      key=lambda c: (_order_framework(c[0]), _order_device(c[1]), _order_dtype(c[2])))
    devices = {c[1] for c in columns_}
    groups: list[dict] = []
    for column in columns_:
        if not groups or groups[-1]["framework"] != column[0]:
            groups.append({"framework": column[0], "span": 0})
        groups[-1]["span"] += 1
    losses = sorted({k[0] for k in cells})
    rows = [{"loss": loss, "cells": [cells.get((loss, *column)) for column in columns_]} for loss in losses]
    header = [{"framework": c[0], "device": c[1], "dtype": c[2], "short": DTYPE_SHORT.get(c[2], c[2])}
              for c in columns_]
    return {"groups": groups, "columns": header, "rows": rows, "devices": len(devices) > 1}


def _cell(key: tuple, tally: Counter) -> dict:
    return {"key": key, "anchor": cell_anchor(key), "total": sum(tally.values()), "worst": worst_verdict(tally),
            "passed": tally.get("pass", 0), "counts": {v: tally[v] for v in results.VERDICTS if tally[v]}}


def _problems(columns: Columns) -> dict:
    """Every failed, errored or lost check, worst first (the first :data:`PROBLEM_LIMIT` rendered)."""
    found = columns.where(columns.verdict, PROBLEM_VERDICTS)
    found.sort(key=lambda i: (-SEVERITY[columns.verdict[i]], columns.id[i], columns.run[i] or ""))
    return {"rows": [columns.records[i] for i in found[:PROBLEM_LIMIT]], "hidden": max(0, len(found) - PROBLEM_LIMIT),
            "total": len(found)}


# --------------------------------------------------------------------------------------------------
# Migration recipes and porting hazards
# --------------------------------------------------------------------------------------------------

def recipe_anchor(loss: str, source: str, target: str, binding: str | None = None) -> str:
    """The id of a recipe's card (the recipe function's name tells several recipes of one pair apart)."""
    return "recipe-" + anchor(loss, source, "to", target, *([binding] if binding else []))


def _recipe_sides(record: Mapping[str, Any]) -> tuple[str, str]:
    """(source A, target B) of a recipe record: ``extra.source`` / ``extra.target``, else the source's
    convention and the record's framework."""
    source = _extra(record, "source") or record.get("convention") or NONE
    target = _extra(record, "target") or record.get("framework") or NONE
    return str(source), str(target)


def _measure(error: Any) -> dict | None:
    """An error measure or distance as ``{ulps, abs, rel}`` (None when there is none)."""
    if not isinstance(error, Mapping):
        return None
    found = {k: error.get(k) for k in ("ulps", "abs", "rel") if error.get(k) is not None}
    return found or None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ulps_chips(by_dtype: Any) -> list[tuple[str, str]]:
    """``max_ulps_by_dtype`` as (dtype, text) pairs in dtype order: ``{dtype: u}`` or ``{dtype: {"value":
    u, "grad": u}}``."""
    chips = []
    for dtype, ulps in sorted(_mapping(by_dtype).items(), key=lambda i: _order_dtype(str(i[0]))):
        if isinstance(ulps, Mapping):
            text = " · ".join(f"{k} {fmt_number(v, 3)}" for k, v in ulps.items() if v is not None)
        else:
            text = fmt_number(ulps, 3)
        chips.append((str(dtype), f"{text} ulp" if text else NONE))
    return chips


def _behaviour(without: Mapping[str, Any]) -> list[str]:
    """The inputs where, without the recipe, the two frameworks differ in kind (NaN, inf, an error…)."""
    items = without.get("behaviour")
    if not isinstance(items, list):
        return []
    return [f"{b.get('case')} ({b.get('dtype')}): source {b.get('source')}, target {b.get('target')}"
            if isinstance(b, Mapping) else str(b) for b in items]


def _recipes(records: Sequence[Mapping[str, Any]], convention_names: set[str]) -> list[dict]:
    """The recipe records, per loss then ordered pair: code, residual, and the difference without it.

    Tolerant of what a producer sends: ``extra.checks`` a count or counts by verdict,
    ``max_ulps_by_dtype`` numbers or ``{"value", "grad"}`` per dtype, ``without_recipe`` with ``abs`` /
    ``rel`` and optionally ``dtype``, ``case``, ``via``, ``behaviour``; ``math_distance`` first."""
    per_loss: dict[str, list] = defaultdict(list)
    for record in records:
        source, target = _recipe_sides(record)
        extra = _mapping(record.get("extra"))
        without = _mapping(extra.get("without_recipe"))
        differences = extra.get("differences") if isinstance(extra.get("differences"), list) else []
        flagged = _mapping(extra.get("flag_differences"))
        checks = extra.get("checks")
        loss = record.get("loss") or NONE
        where = ", ".join(str(without[k]) for k in ("dtype", "case") if without.get(k))
        per_loss[loss].append({
            "id": record["id"], "loss": loss, "source": source, "target": target,
            "anchor": recipe_anchor(loss, source, target, record.get("binding")),
            "binding": record.get("binding"), "verdict": record["verdict"], "reason": record["reason"],
            "args": ", ".join(f"{k}={v}" for k, v in _mapping(record.get("args")).items()),
            "convention": record.get("convention"), "version": record.get("framework_version"),
            "code": extra.get("code") if isinstance(extra.get("code"), str) else "",
            "note": extra.get("note") if isinstance(extra.get("note"), str) else "",
            "checks": checks if isinstance(checks, (int, float)) and not isinstance(checks, bool) else None,
            "check_counts": {str(k): v for k, v in checks.items()} if isinstance(checks, Mapping) else {},
            "differences": [{"name": str(d), "anchor": "conv-" + anchor(str(d)) if str(d) in convention_names
                             else None, "changes": flagged.get(str(d))} for d in differences],
            "undeclared": sorted(str(f) for f in flagged if f not in differences),
            "residual": _measure(record.get("value_error")), "grad_residual": _measure(record.get("grad_error")),
            "by_dtype": _ulps_chips(extra.get("max_ulps_by_dtype")),
            "without": _measure(record.get("math_distance")) or _measure(without), "where": where,
            "via": without.get("via"), "behaviour": _behaviour(without),
            "without_more": {k: v for k, v in without.items()
                             if k not in ("abs", "rel", "ulps", "dtype", "case", "via", "behaviour")},
            "not_checked": {str(k): v for k, v in _mapping(extra.get("dtypes_not_checked")).items()},
            "deviations": {str(k): v for k, v in _mapping(extra.get("deviations")).items()},
            "failures": [str(f) for f in extra.get("failures") or [] if f] if isinstance(extra.get("failures"), list) else [],
        })
    guide = []
    for loss in sorted(per_loss):
        entries = sorted(per_loss[loss], key=lambda e: (_order_framework(e["source"]), _order_framework(e["target"]),
                                                        e["args"], e["binding"] or ""))
        largest = max(entries, key=lambda e: (bool(e["behaviour"]), _size_key((e["without"] or {}).get("abs"),
                                                                            (e["without"] or {}).get("rel"))))
        guide.append({"loss": loss, "anchor": "recipes-" + anchor(loss), "entries": entries,
                      "worst": worst_verdict(e["verdict"] for e in entries),
                      "frameworks": " ".join(sorted({f for e in entries for f in (e["source"], e["target"])})),
                      "largest": largest["without"], "kinds": sum(1 for e in entries if e["behaviour"])})
    return guide


def _flag_name(record: Mapping[str, Any]) -> str | None:
    flag = _extra(record, "flag")
    return flag.get("name") if isinstance(flag, Mapping) else record.get("deviation")


def _hazards(recipes: Sequence[dict], witnesses: Sequence[Mapping[str, Any]],
             frameworks: Sequence[str]) -> list[dict]:
    """Per pair of frameworks, the differences between them ranked by size, each linking to its recipes.

    A difference is: an input where, without a recipe, the two differ in kind (NaN, inf or an error on
    one side: ``without_recipe.behaviour``; ranked first); a setting a recipe names
    (``extra.differences``); a convention flag a witness shows for one framework of the pair that the
    other does not declare.  Its size is the witness's distance from the mathematics for that loss (else
    for any loss), else the recipe's difference without it.
    """
    sizes: dict[tuple, dict] = {}  # (framework, flag, loss or None) -> largest distance
    declared: dict[str, set] = defaultdict(set)
    for record in witnesses:
        name, framework = _flag_name(record), record.get("framework")
        if not name or not framework:
            continue
        declared[framework].add(name)
        distance = _measure(record.get("math_distance"))
        if distance:
            for key in ((framework, name, record.get("loss")), (framework, name, None)):
                if key not in sizes or _size_key(distance.get("abs"), distance.get("rel")) > _size_key(
                        sizes[key].get("abs"), sizes[key].get("rel")):
                    sizes[key] = distance
    by_pair: dict[frozenset, list] = defaultdict(list)
    for loss in recipes:
        for entry in loss["entries"]:
            if entry["source"] != entry["target"]:
                by_pair[frozenset((entry["source"], entry["target"]))].append(entry)
    names = sorted(set(frameworks) | {f for pair in by_pair for f in pair}, key=_order_framework)
    cards = []
    for a, b in itertools.combinations(names, 2):
        entries = by_pair.get(frozenset((a, b)), [])
        rows: dict[tuple, dict] = {}

        def add(name: str, loss: str, who: set, size: dict | None, kind: bool = False) -> None:
            row = rows.setdefault((name, loss), {"name": name, "loss": loss, "who": set(), "size": None, "text": "",
                                                 "kind": kind, "conv": None if kind else "conv-" + anchor(name)})
            row["who"] |= who
            if size and (row["size"] is None or _size_key(size.get("abs"), size.get("rel")) >
                         _size_key(row["size"].get("abs"), row["size"].get("rel"))):
                row["size"] = size

        kinds: dict[str, set] = defaultdict(set)
        for entry in entries:
            if entry["behaviour"]:
                kinds[entry["loss"]].update(entry["behaviour"])
                add("NaN / inf / error", entry["loss"], set(), entry["without"], kind=True)
            for difference in entry["differences"]:
                name = difference["name"]
                who = {f for f in (a, b) if name in declared[f]}
                size = next((sizes[k] for f in sorted(who) for k in ((f, name, entry["loss"]), (f, name, None))
                             if k in sizes), None) or entry["without"]
                add(name, entry["loss"], who, size)
        for loss, inputs in kinds.items():
            example = sorted(inputs)[0]
            rows[("NaN / inf / error", loss)]["text"] = (f"differs in kind on {len(inputs)} input"
                                                         f"{'s' if len(inputs) != 1 else ''}, e.g. {example}")
        for framework, other in ((a, b), (b, a)):
            for record in witnesses:
                name = _flag_name(record)
                if record.get("framework") != framework or not name or name in declared[other]:
                    continue
                add(name, record.get("loss") or NONE, {framework}, sizes.get((framework, name, record.get("loss"))))
        for row in rows.values():
            row["links"] = []
            for source, target in ((a, b), (b, a)):
                chosen = [e for e in entries if e["loss"] == row["loss"] and (e["source"], e["target"]) == (source, target)]
                if chosen:
                    row["links"].append({"text": f"{source} → {target}", "anchor": chosen[0]["anchor"],
                                         "title": chosen[0]["args"] or chosen[0]["binding"] or "",
                                         "more": [{"anchor": e["anchor"], "title": e["args"] or e["binding"] or ""}
                                                  for e in chosen[1:]]})
            row["who"] = sorted(row["who"], key=_order_framework)
        ranked = sorted(rows.values(), key=lambda r: (r["kind"], _size_key((r["size"] or {}).get("abs"),
                                                                          (r["size"] or {}).get("rel")),
                                                      r["name"], r["loss"]), reverse=True)
        if ranked or entries:
            cards.append({"a": a, "b": b, "frameworks": f"{a} {b}", "rows": ranked[:HAZARD_ROWS],
                          "more": ranked[HAZARD_ROWS:], "total": len(ranked), "recipes": len(entries)})
    return cards


# --------------------------------------------------------------------------------------------------
# Accuracy and gradients: loss × framework × dtype pivots
# --------------------------------------------------------------------------------------------------

def _pivot_columns(keys: Iterable[tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    """Column groups (one per framework) and columns (framework, dtype) of a pivot table."""
    columns = sorted(set(keys), key=lambda c: (_order_framework(c[0]), _order_dtype(c[1])))
    groups: list[dict] = []
    for framework, _ in columns:
        if not groups or groups[-1]["framework"] != framework:
            groups.append({"framework": framework, "span": 0})
        groups[-1]["span"] += 1
    return groups, [{"framework": f, "dtype": d, "short": DTYPE_SHORT.get(d, d)} for f, d in columns]


def accuracy_histogram(extra: Mapping[str, Any]) -> dict | None:
    """An accuracy record's ulp histogram (``extra.ulp_histogram``, labelled by ``extra.ulp_bins`` when
    the producer sends them), normalised by :func:`reports.plots.normalize_histogram`."""
    histogram, labels = extra.get("ulp_histogram"), extra.get("ulp_bins")
    if isinstance(histogram, list) and isinstance(labels, list) and len(labels) == len(histogram):
        histogram = {"counts": histogram, "labels": labels}
    return plots.normalize_histogram(histogram)


def _accuracy(records: Sequence[Mapping[str, Any]], index_of: Mapping[int, int]) -> dict:
    """Accuracy records as a table: one row per (loss, variant, quantity), one column per (framework,
    dtype); each cell the max and p99.9 ulps, a sparkline of the ulp histogram, and its record's index in
    the data block (the worst input and the full histogram open from it).  A variant is the record's
    arguments (and its binding when it is not named like the loss); of two records for one cell, the
    worse is shown."""
    cells: dict[tuple, dict] = {}
    for record in records:
        extra = _mapping(record.get("extra"))
        quantity = str(extra.get("quantity") or "value")
        framework, dtype = record.get("framework") or NONE, record.get("dtype") or NONE
        loss = record.get("loss") or NONE
        binding = record.get("binding")
        variant = ", ".join([*(f"{k}={v}" for k, v in _mapping(record.get("args")).items()),
                             *([binding] if binding and binding != loss else [])])
        max_ulps = extra.get("max_ulps", (record.get("value_error") or _EMPTY).get("ulps"))
        histogram = accuracy_histogram(extra)
        title = f"{loss} {quantity}, {framework} {dtype}: ulp histogram"
        cell = {"max": max_ulps, "p999": extra.get("p999_ulps"), "rows": extra.get("rows"),
                "verdict": record["verdict"], "index": index_of.get(id(record)), "id": record["id"],
                "spark": plots.sparkline_svg(histogram["counts"], title) if histogram else None}
        key = (loss, variant, quantity, framework, dtype)
        rank = (SEVERITY[cell["verdict"]], to_float(max_ulps) or 0.0)
        if key not in cells or rank > cells[key]["rank"]:
            cells[key] = dict(cell, rank=rank)
    groups, columns = _pivot_columns(k[3:] for k in cells)
    rows = [{"loss": loss, "variant": variant, "quantity": quantity,
             "cells": [cells.get((loss, variant, quantity, c["framework"], c["dtype"])) for c in columns]}
            for loss, variant, quantity in sorted({k[:3] for k in cells})]
    return {"groups": groups, "columns": columns, "rows": rows, "count": len(records)}


def _gradients(columns: Columns) -> dict:
    """Gradient errors as a loss × (framework, dtype) table: the largest error (ulps, else relative;
    ulps outrank), the worst verdict, and the worst check."""
    cells = {}
    for (loss, framework, dtype), group in columns.grad_groups.items():
        worst_i, worst_rank, verdicts = group[0], None, set()
        for i in group:
            size, verdict = columns.grad[i], columns.verdict[i]
            verdicts.add(verdict)
            number = to_float(size["r"] if type(size) is dict else size)
            rank = (SEVERITY[verdict], type(size) is not dict, -1.0 if number is None or number != number else number)
            if worst_rank is None or rank > worst_rank:
                worst_i, worst_rank = i, rank
        size = columns.grad[worst_i]
        cells[(loss or NONE, framework or NONE, dtype or NONE)] = {
            "count": len(group), "worst": worst_verdict(verdicts), "worst_id": columns.id[worst_i],
            "size": (size["r"], "rel") if type(size) is dict else (size, "ulp")}
    header_groups, columns_ = _pivot_columns(k[1:] for k in cells)
    rows = [{"loss": loss, "cells": [cells.get((loss, c["framework"], c["dtype"])) for c in columns_]}
            for loss in sorted({k[0] for k in cells})]
    return {"groups": header_groups, "columns": columns_, "rows": rows}


# --------------------------------------------------------------------------------------------------
# Documents: golden values, errata, edge behaviour (grouped per case: bounded by the cases, not checks)
# --------------------------------------------------------------------------------------------------

def _by_case(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list] = defaultdict(list)
    for record in records:
        grouped[record.get("case") or record["id"]].append(record)
    return dict(sorted(grouped.items()))


def _non_reference_frameworks(records: Iterable[Mapping[str, Any]]) -> list[str]:
    names = {r.get("framework") for r in records} - {None, "reference"}
    return sorted(names, key=_order_framework)


def _outcome_groups(records: Sequence[Mapping[str, Any]], show) -> dict:
    """A framework's records for one case, grouped by what they gave (``show(record)`` -> (class,
    text)): the most severe groups first, at most :data:`OUTCOME_VALUES` of them, each with its count,
    worst verdict and a short title (the dtypes and forms of its records, the reason of a problem)."""
    groups: dict[tuple, list] = defaultdict(list)
    for record in records:
        groups[show(record)].append(record)
    ordered = sorted(groups.items(), key=lambda i: (-SEVERITY[worst_verdict(r["verdict"] for r in i[1])],
                                                    -len(i[1]), i[0][1]))
    shown = []
    for (cls, text), group in ordered[:OUTCOME_VALUES]:
        verdict = worst_verdict(r["verdict"] for r in group)
        dtypes = sorted({r.get("dtype") or NONE for r in group}, key=_order_dtype)
        forms = sorted({_typed(r, "form") or r.get("device") or NONE for r in group})
        title = f"{', '.join(dtypes)} · {', '.join(forms[:4])}{' …' if len(forms) > 4 else ''}"
        if verdict not in ("pass", "deviation"):
            title += ": " + next((r["reason"] for r in group if r["verdict"] == verdict and r["reason"]), "")[:200]
        shown.append({"class": cls, "text": text, "count": len(group), "verdict": verdict, "title": title})
    return {"groups": shown, "more": sum(len(g) for _, g in ordered[OUTCOME_VALUES:]), "total": len(records)}


def _observed_text(record: Mapping[str, Any]) -> tuple[str, str]:
    return "value", fmt_value(record.get("observed"), 60)


def _golden(records: Sequence[Mapping[str, Any]]) -> dict:
    """Golden values side by side: quote, printed number, reference, each framework's numbers."""
    frameworks = _non_reference_frameworks(records)
    rows = []
    for case, group in _by_case(records).items():
        reference = [r for r in group if r.get("framework") == "reference"]
        per = defaultdict(list)
        for record in group:
            per[record.get("framework")].append(record)
        provenance = next((r["provenance"] for r in group if r.get("provenance")), None)
        rows.append({
            "case": case, "anchor": "golden-" + anchor(case), "loss": group[0].get("loss"),
            "provenance": provenance, "lang": lang_of(provenance["quote"]) if provenance else "",
            "printed": next((_extra(r, "printed") for r in group if _extra(r, "printed") is not None), None),
            "reference": reference[0]["observed"] if reference else group[0].get("expected"),
            "erratum": any(r.get("kind") == "erratum" for r in group),
            "worst": worst_verdict(r["verdict"] for r in group),
            "frameworks": [_outcome_groups(per.get(f, ()), _observed_text) for f in frameworks],
        })
    return {"frameworks": frameworks, "rows": rows}


def _errata(records: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Errors in the documents: what was printed, the corrected value, why, and what frameworks give."""
    rows = []
    for case, group in _by_case(records).items():
        erratum = next((_extra(r, "erratum") for r in group if _extra(r, "erratum")), None) or {}
        provenance = next((r["provenance"] for r in group if r.get("provenance")), None)
        outcomes = defaultdict(list)
        for record in group:
            outcomes[record.get("framework") or NONE].append(record)
        rows.append({
            "case": case, "provenance": provenance, "lang": lang_of(provenance["quote"]) if provenance else "",
            "printed": erratum.get("printed"), "corrected": erratum.get("corrected"), "why": erratum.get("why"),
            "worst": worst_verdict(r["verdict"] for r in group),
            "outcomes": [{"framework": f, **_outcome_groups(outcomes[f], _observed_text)}
                         for f in sorted(outcomes, key=_order_framework)],
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
    return "value", _ENCODE_SORTED(observed).decode()[:80].replace(",", ", ")


def _edges(records: Sequence[Mapping[str, Any]]) -> dict:
    """Edge behaviour per case and framework: a value, NaN, inf or an error (grouped)."""
    frameworks = _non_reference_frameworks(records)
    rows = []
    for case, group in _by_case(records).items():
        per = defaultdict(list)
        for record in group:
            per[record.get("framework")].append(record)
        reference = [r.get("observed") for r in group if r.get("framework") == "reference"]
        rows.append({"case": case, "loss": group[0].get("loss"),
                     "expected": edge_class(reference[0] if reference else group[0].get("expected")),
                     "frameworks": [_outcome_groups(per.get(f, ()), lambda r: edge_class(r.get("observed")))
                                    for f in frameworks],
                     "worst": worst_verdict(r["verdict"] for r in group)})
    return {"frameworks": frameworks, "rows": rows}


# --------------------------------------------------------------------------------------------------
# Conventions, plots, drift, benchmarks
# --------------------------------------------------------------------------------------------------

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
            "name": name, "anchor": "conv-" + anchor(name),
            "type": "flag" if flag else "deviation",
            "summary": flag.get("summary") or next((r["reason"] for r in group if r["reason"]), ""),
            "value": flag.get("value"), "source": flag.get("source"), "versions": flag.get("versions"),
            "frameworks": sorted({f"{r['framework']} {r['framework_version'] or ''}".strip()
                                  for r in group if r["framework"]}),
            "framework_names": " ".join(sorted({r["framework"] for r in group if r["framework"]})),
            "losses": sorted({r["loss"] for r in group if r["loss"]}),
            "math_abs": _distance(group, "math_distance", "abs"),
            "math_rel": _distance(group, "math_distance", "rel"),
            "ulps": _distance(group, "value_error", "ulps"),
            "count": len(group), "counts": verdict_counts(group),
            "worst": worst_verdict(r["verdict"] for r in group),
            # declared for other releases than the one that ran: not verified here (the witness is a skip)
            "unverified": sorted({r["reason"] for r in group
                                  if r["verdict"] == "skip" and isinstance(_extra(r, "unverified"), Mapping)}),
        })
    return rows


def _plots(columns: Columns) -> list[dict]:
    """Histograms of error sizes in ulps per (value|grad, framework, dtype)."""
    samples: dict[tuple, list] = defaultdict(list)
    for (which, framework, dtype), values in columns.samples.items():
        samples[(which, framework or NONE, dtype or NONE)].extend(values)
    figures = []
    for (which, framework, dtype), values in sorted(samples.items(), key=lambda i: (
            i[0][0] != "value", _order_framework(i[0][1]), _order_dtype(i[0][2]))):
        title = f"{which} error, {framework} {dtype} ({len(values)} checks)"
        numbers = [v if type(v) is float else to_float(v) for v in values]  # "inf"/"nan" strings to floats
        figures.append({"title": title, "framework": framework, "dtype": dtype,
                        "svg": plots.histogram_svg(plots.ulp_bins(numbers), title)})
    return figures


def _drift_key(record: Mapping[str, Any]) -> tuple:
    """What a record measures, apart from the device: its fields and its id with the device masked."""
    device = record["device"]
    return (record["id"].replace(device, "{device}"), record.get("kind"), record.get("case"), record.get("loss"),
            record.get("framework"), record.get("framework_version"), record.get("api"), record.get("dtype"),
            record.get("convention"), record.get("deviation"))


def _drift(columns: Columns) -> dict:
    """CPU-vs-accelerator drift: records that differ only by device, compared value to value."""
    rows = []
    checks = columns.records
    if len(set(columns.device) - {None}) > 1:  # one device (the usual single run): nothing to pair
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


def _benchmarks(records: Sequence[Mapping[str, Any]]) -> dict:
    """Benchmark records (``extra.benchmark``: a flat dict of numbers) as one table."""
    rows = []
    for record in records:
        bench = _extra(record, "benchmark")
        if isinstance(bench, Mapping):
            rows.append({"record": record, "metrics": bench})
    columns = sorted({k for row in rows for k, v in row["metrics"].items() if not isinstance(v, (dict, list))})
    rows.sort(key=lambda r: (_field(r["record"], "loss"), _order_framework(_field(r["record"], "framework")),
                             r["record"]["id"]))
    return {"columns": columns, "rows": rows[:BENCHMARK_LIMIT], "hidden": max(0, len(rows) - BENCHMARK_LIMIT)}


# --------------------------------------------------------------------------------------------------
# The data block: every check, compact
# --------------------------------------------------------------------------------------------------

# The data block's columns.  Fields of few distinct combinations are coded together: each record points
# at one "shape" (a tuple of :data:`SHAPE_FIELDS`); reason, case and test are dictionary-coded on their own
# (a test node id that ends in ``[<the id after its kind>]`` is stored as its prefix, ending ``[*]``).
SHAPE_FIELDS = ("verdict", "kind", "loss", "framework", "framework_version", "dtype", "device", "binding",
                "form", "deviation")
# Fields a detail panel shows beyond the columns (when the record's detail is embedded).
DETAIL_FIELDS = ("test", "api", "args", "flags", "convention", "device_name", "value_error", "grad_error",
                 "math_distance", "expected", "observed", "provenance", "duration_s", "extra")


def _code(values: Iterable[Any]) -> tuple[list, list[int]]:
    """Dictionary coding: (distinct values in order of appearance, index of each value)."""
    index: dict[Any, int] = {}
    codes = [index.setdefault(value, len(index)) for value in values]  # one hash per value
    return list(index), codes


def _short(value: Any) -> Any:
    """A number to 3 significant digits (what the browser shows); the strings "inf"/"nan" as they are."""
    return float("%.3g" % value) if type(value) is float else value


def _size(error: Mapping[str, Any] | None) -> Any:
    """An error's size for the browser: ulps as a number (or "inf"/"nan"), else ``{"r": relative}``."""
    if not error:
        return None
    ulps = error["ulps"]
    if type(ulps) is float:
        return float("%.3g" % ulps)
    if ulps is not None:
        return ulps
    rel = error.get("rel")
    return None if rel is None else {"r": _short(rel)}


def _trim(value: Any) -> Any:
    """A detail value, or its JSON text cut to :data:`DETAIL_TEXT_LIMIT` characters when it is long."""
    if value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) < 200):
        return value
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) <= DETAIL_TEXT_LIMIT:
        return value
    return {"truncated": text[:DETAIL_TEXT_LIMIT] + "…"}


def _detail(record: Mapping[str, Any]) -> dict:
    """What a detail panel shows beyond the columns; ``extra`` is cut key by key (a long entry does not
    take the worst input with it)."""
    out = {key: _trim(record.get(key)) for key in DETAIL_FIELDS if record.get(key) not in (None, "", [], {})}
    if isinstance(record.get("extra"), Mapping):
        out["extra"] = {k: _trim(v) for k, v in record["extra"].items()}
    if record.get("kind") == "accuracy":
        histogram = accuracy_histogram(_mapping(record.get("extra")))
        if histogram:
            out["histogram"] = histogram
    return out


def _data_block(columns: Columns) -> tuple[str, dict[int, int]]:
    """Every check as coded columns plus the details of problems and of the kinds in
    :data:`DETAIL_KINDS`, as JSON, deflated, base64 (ASCII: safe anywhere in the page).  Also returns
    ``id(record) -> row index`` for the records the page links to by index (accuracy cells)."""
    c = columns
    tables: dict[str, list] = {}
    data: dict[str, Any] = {"id": c.id, "shape": c.shape, "value": c.value, "grad": c.grad}
    tables["reason"], data["reason"] = _code(c.reason)
    tables["case"], data["case"] = _code(c.case)
    detailed = c.where(c.verdict, PROBLEM_VERDICTS)
    detailed.sort(key=lambda i: -SEVERITY[c.verdict[i]])
    detailed = detailed[:DETAIL_LIMIT]
    detailed += [i for i in c.where(c.kind, DETAIL_KINDS) if c.verdict[i] not in PROBLEM_VERDICTS]
    detailed.sort()
    index_of = {id(c.records[i]): i for i in detailed if c.kind[i] == "accuracy"}
    payload = {"n": c.n, "fields": [*SHAPE_FIELDS, "run", "cell"],
               "shapes": [[*shape, cell_anchor(_key(shape[2], shape[3], shape[6], shape[5]))] for shape in c.shapes],
               "dict": tables, "cols": data, "di": detailed, "dv": [_detail(c.records[i]) for i in detailed]}
    raw = msgspec.json.encode(payload)
    return base64.b64encode(zlib.compress(raw, DEFLATE_LEVEL)).decode("ascii"), index_of


def read_data_block(page: str) -> dict:
    """The data block of a rendered report, decoded (for tests and tools): ``n`` checks, ``fields`` and
    ``shapes`` (the coded fields), ``dict`` (coded columns' values), ``cols`` (per check: ``id``,
    ``shape``, ``reason``, ``case``, ``value``, ``grad``), ``di`` / ``dv`` (row index / detail)."""
    text = page.split('<script type="application/octet-stream" id="lp-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(zlib.decompress(base64.b64decode(text.strip())))


def data_rows(block: Mapping[str, Any]) -> list[dict]:
    """The checks of a decoded data block as dicts of their browser fields (``id``, the shape fields,
    ``reason``, ``case``, ``value``, ``grad``)."""
    fields, cols = block["fields"], block["cols"]
    rows = []
    for i in range(block["n"]):
        row = dict(zip(fields, block["shapes"][cols["shape"][i]]))
        row.update(id=cols["id"][i], reason=block["dict"]["reason"][cols["reason"][i]],
                   case=block["dict"]["case"][cols["case"][i]], value=cols["value"][i], grad=cols["grad"][i])
        rows.append(row)
    return rows


def _complete(checks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``checks`` with every record field present: records of an older file (before ``binding``,
    ``form``, ``reduction``, ``args`` and ``flags`` were fields) are completed in copies, with what they
    kept under ``extra`` (:data:`LEGACY_EXTRA`) or the defaults; the others are kept as they are."""
    out = []
    for record in checks:
        if all(k in record for k in COLUMN_FIELDS):
            out.append(record)
            continue
        full = {**RECORD_DEFAULTS, "args": {}, "flags": [], **record}
        for key in LEGACY_EXTRA:
            full[key] = _typed(full, key)
        out.append(full)
    return out


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

def build_context(doc: Mapping[str, Any]) -> dict:
    """Everything the template shows, computed from a (one-run or merged) results document."""
    columns = Columns(doc["checks"])
    checks = columns.records
    by_kind: dict[str | None, list] = defaultdict(list)
    for i in columns.where(columns.kind, SECTION_KINDS):
        by_kind[columns.kind[i]].append(checks[i])
    declared = [checks[i] for i, (kind, verdict, deviation) in
                enumerate(zip(columns.kind, columns.verdict, columns.deviation))
                if kind == "convention" or verdict == "deviation" or deviation]
    verdicts: Counter = Counter()
    for shape, n in zip(columns.shapes, columns.shape_counts):
        verdicts[shape[0]] += n
    totals = {v: verdicts[v] for v in results.VERDICTS if verdicts[v]}
    runs = results.runs_of(doc)
    conventions = _conventions(declared)
    recipes = _recipes(by_kind["recipe"], {c["name"] for c in conventions})
    data, index_of = _data_block(columns)
    status = _framework_status(columns, runs)
    ran = [f["name"] for f in status if f["ran"] and f["name"] != "reference"]
    return {
        "runs": runs,
        "merged": "runs" in doc,
        "incomplete": _incomplete(runs, "runs" in doc),
        "total": columns.n,
        "totals": totals,
        "problem_count": sum(totals.get(v, 0) for v in PROBLEM_VERDICTS),
        "framework_status": status,
        "matrix": _matrix(columns),
        "problems": _problems(columns),
        "hazards": _hazards(recipes, by_kind["convention"], ran),
        "recipes": recipes,
        "recipe_count": len(by_kind["recipe"]),
        "accuracy": _accuracy(by_kind["accuracy"], index_of),
        "variants": _variants(doc),
        "version_changes": _version_changes(doc),
        "golden": _golden(by_kind["golden"] + by_kind["erratum"]),
        "errata": _errata(by_kind["erratum"]),
        "conventions": conventions,
        "edges": _edges(by_kind["edge"]),
        "gradients": _gradients(columns),
        "drift": _drift(columns),
        "benchmarks": _benchmarks(by_kind["benchmark"]),
        "plots": _plots(columns),
        "data": data,
        "filters": {
            "framework": sorted(set(columns.framework) - {None}, key=_order_framework),
            "loss": sorted(set(columns.loss) - {None}),
            "dtype": sorted(set(columns.dtype) - {None}, key=_order_dtype),
            "verdict": list(totals),
        },
        "verdicts": results.VERDICTS,
    }


# Kinds with a section of their own (their records are handed to it).
SECTION_KINDS = ("recipe", "accuracy", "golden", "erratum", "convention", "edge", "benchmark")


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for a table cell: ``digits`` significant digits; NaN/inf strings and None as symbols."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}g}"
    if value in results.SPECIAL_FLOATS:
        return {"nan": "NaN", "inf": "∞", "-inf": "−∞"}[value]
    return fmt_value(value)


def fmt_value(value: Any, limit: int = 120) -> str:
    """A small JSON value (observed/expected) as short text; numbers at full stored precision."""
    if value is None:
        return NONE
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit - 1] + "…"
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


def fmt_measure(measure: Mapping[str, Any] | None) -> str:
    """A ``{ulps, abs, rel}`` measure as ``0.5 ulp · abs 1.2e-08 · rel 3e-09`` (what it has)."""
    if not measure:
        return NONE
    parts = []
    if measure.get("ulps") is not None:
        parts.append(f"{fmt_number(measure['ulps'], 3)} ulp")
    if measure.get("abs") is not None:
        parts.append(f"abs {fmt_number(measure['abs'], 3)}")
    if measure.get("rel") is not None:
        parts.append(f"rel {fmt_number(measure['rel'], 3)}")
    return " · ".join(parts) or NONE


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_number, value=fmt_value, err=fmt_error, measure=fmt_measure, ids=breakable)
    return env


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    """The compiled template (compiled once per process)."""
    return _environment().get_template("parity.html.j2")


def render(doc: Mapping[str, Any]) -> str:
    """The report's HTML text."""
    with results.paused_gc():
        return _template().render(**build_context(doc))


def write_report(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Render ``doc`` to ``path`` (written whole through a temporary file, like the results)."""
    return results.write_text_atomic(path, render(doc))


STALE_MARK = "<!-- lossparity:stale -->"


def _variants(doc: Mapping[str, Any], rows: int = 30) -> list[dict]:
    """The process variants side by side (major versions, backends, process-level settings of a framework
    family): :mod:`reports.variants`' comparison of a merged file, differing checks by size; [] for one run."""
    if "runs" not in doc:
        return []
    try:
        from . import variants

        families = variants.compare(doc, max_rows=rows)["families"]
    except Exception:  # noqa: BLE001 - the comparison is extra; a report never fails on it
        return []
    return [f for f in families if len(f.get("columns", ())) > 1]


def _version_changes(doc: Mapping[str, Any]) -> list[dict]:
    """What changed between framework version sets (:mod:`reports.changes`); [] for one set."""
    from . import changes

    return changes.for_report(doc)


def mark_stale(path: str | Path, note: str) -> bool:
    """Put a banner saying ``note`` (e.g. "a new run started at …; this report is from an earlier run")
    at the top of an existing report, so that a report left behind by a run that then dies never looks
    current.  Returns whether there was a report to mark.  Building a new report replaces the file."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return False
    banner = (f'{STALE_MARK}<div class="stale-banner" role="alert" style="background:#3b3b3b;color:#fff;'
              f'padding:10px 24px;font:600 15px system-ui,sans-serif">Stale report: {escape(note)}</div>')
    if STALE_MARK in text:
        text = re.sub(re.escape(STALE_MARK) + r"<div class=\"stale-banner\".*?</div>", lambda _: banner, text,
                      count=1, flags=re.S)
    else:
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, text, count=1)
    results.write_text_atomic(target, text)
    return True
