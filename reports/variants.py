"""Side-by-side comparison of the variants of one API: what changes between them, by how much, and why.

A merged results document holds several runs (``python -m reports`` runs each process variant of
``adapters/variants.py`` and merges them): the same code of one API on several implementations (two major
versions, three backends) and the frameworks with a process-level setting on and off.  :func:`compare` lines up
their records check by check and reports, per *family* (the adapters that implement one API: an adapter's
``settings()["family"]``, else its own name), every check on which the variants disagree:

* in verdict (pass / deviation / fail ...), in the declared deviation that covers it, or in the number
  itself: ``observed`` (numbers and short lists; the files keep 9 significant digits) in units in the last
  place of the coarser dtype the two were computed in (``extra.compute_dtype``), else, for a summarised array, the two errors against the same reference
  (``delta.error_ulps``: their difference is a lower bound of the distance);
* why: the deviations involved (summary and source, as each run recorded them in ``run.settings``), and the
  convention flags whose values differ between the variants' conventions (value and source);
* a summary per variant against the family's first variant (the default run's): checks in common, how many
  differ and how, the largest difference, the causes by count.

Nothing here names a framework or a setting: everything comes from the records and the runs' settings, so
the function works on any merged file.  The HTML report renders the result (the report's "Variants" section);
``python -m reports`` prints :func:`text_lines`.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["compare", "text_lines", "column_label"]

# Units in the last place at 1, per dtype (a difference is reported in ulps of the larger value).
_EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23, "float64": 2.0 ** -52}
_DECLARATION_KEYS = ("conventions", "deviations")
# Kinds whose records line up across variants (the fields that identify the computation, less the framework).
_KEY_FIELDS = ("kind", "loss", "binding", "form", "dtype", "device", "case")


def column_label(framework: str, run: str) -> str:
    return f"{framework} [{run}]"


def _runs(doc: Mapping[str, Any]) -> list[dict]:
    if "runs" in doc:
        return [dict(r) for r in doc["runs"]]
    return [dict(doc["run"], label=doc["run"].get("label") or "run")]


def _settings(run: Mapping[str, Any]) -> dict:
    return dict(run.get("settings") or {})


def _framework_settings(run: Mapping[str, Any], framework: str) -> dict:
    entry = _settings(run).get(framework)
    return dict(entry) if isinstance(entry, Mapping) else {}


def _key(record: Mapping[str, Any]) -> tuple:
    if record.get("kind") == "convention":  # a flag's witness: lined up by the flag
        flag = ((record.get("extra") or {}).get("flag") or {}).get("name") or record.get("deviation")
        return ("convention", flag)
    if record.get("kind") == "golden":
        return ("golden", record.get("case"))
    return tuple(record.get(f) for f in _KEY_FIELDS)


def _key_dict(key: tuple) -> dict:
    if key[0] == "convention":
        return {"kind": "convention", "flag": key[1]}
    if key[0] == "golden":
        return {"kind": "golden", "case": key[1]}
    return dict(zip(_KEY_FIELDS, key))


def _numbers(value: Any) -> list[float] | None:
    """The numbers of an ``observed`` / ``expected`` field (a number, a short list, "nan"/"inf" strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return [float(value)]
    if isinstance(value, list):
        out = []
        for item in value:
            if item is None:
                out.append(math.nan)
            else:
                got = _numbers(item)
                if got is None:
                    return None
                out.extend(got)
        return out
    return None


def _delta(a: Any, b: Any, dtype: str | None) -> dict | None:
    """How far two observed values are apart: ``{"abs", "rel", "ulps", "special"}`` (``special``: NaN/inf
    where the other has a number); None when they cannot be compared (summaries, errors, other shapes)."""
    x, y = _numbers(a), _numbers(b)
    if x is None or y is None or len(x) != len(y):
        return None
    worst_abs = worst_rel = worst_ulps = 0.0
    special = 0
    for u, v in zip(x, y):
        if math.isnan(u) and math.isnan(v) or u == v:
            continue
        if not (math.isfinite(u) and math.isfinite(v)):
            special += 1
            continue
        diff = abs(u - v)
        scale = max(abs(u), abs(v))
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / scale if scale else math.inf)
        eps = _EPS.get(dtype or "", _EPS["float64"])
        ulp = 2.0 ** math.floor(math.log2(scale)) * eps if scale else eps * 2.0 ** -1022
        worst_ulps = max(worst_ulps, diff / ulp)
    return {"abs": worst_abs, "rel": worst_rel, "ulps": worst_ulps, "special": special}


def _cell(record: Mapping[str, Any]) -> dict:
    error = record.get("value_error") or record.get("grad_error") or {}
    return {"id": record.get("id"), "verdict": record.get("verdict"), "deviation": record.get("deviation"),
            "convention": record.get("convention"), "observed": record.get("observed"),
            "compute_dtype": (record.get("extra") or {}).get("compute_dtype"),
            "expected": record.get("expected"), "ulps": error.get("ulps"), "abs": error.get("abs"),
            "reason": record.get("reason") or ""}


def _columns(doc: Mapping[str, Any]) -> tuple[list[dict], dict[tuple[str, str], dict]]:
    """Every (run, framework) with records, in run order then framework name, and its settings."""
    runs = _runs(doc)
    order = {run["label"]: i for i, run in enumerate(runs)}
    by_label = {run["label"]: run for run in runs}
    seen: dict[tuple[str, str], dict] = {}
    for record in doc["checks"]:
        framework, run = record.get("framework"), record.get("run") or runs[0]["label"]
        if not framework or (run, framework) in seen or run not in by_label:
            continue
        entry = _framework_settings(by_label[run], framework)
        seen[(run, framework)] = {
            "run": run, "framework": framework, "label": column_label(framework, run),
            "variant": _settings(by_label[run]).get("variant", run),
            "family": entry.get("family", framework),
            "settings": {k: v for k, v in entry.items() if k not in _DECLARATION_KEYS},
            "declarations": {k: entry.get(k) or {} for k in _DECLARATION_KEYS}}
    columns = sorted(seen.values(), key=lambda c: (order[c["run"]], c["framework"]))
    return columns, seen


def _why(cells: Sequence[dict | None], columns: Sequence[dict], flags: Iterable[str]) -> list[dict]:
    """The declarations behind a row: each cell's deviation (summary, source, the settings it needs) and the
    convention flags whose values differ between the cells' conventions."""
    reasons: list[dict] = []
    seen_devs = set()
    for cell, column in zip(cells, columns):
        if cell is None or not cell["deviation"]:
            continue
        declared = column["declarations"]["deviations"].get(cell["deviation"]) or {}
        key = (column["framework"], cell["deviation"])
        if key in seen_devs:
            continue
        seen_devs.add(key)
        reasons.append({"type": "deviation", "name": cell["deviation"], "column": column["label"],
                        "summary": declared.get("summary", ""), "source": declared.get("source", ""),
                        "settings": declared.get("settings") or {}})
    computed = [(column["label"], cell["compute_dtype"]) for cell, column in zip(cells, columns)
                if cell is not None and cell["compute_dtype"]]
    if len({dtype for _, dtype in computed}) > 1:  # e.g. float64 computed in float32 without x64
        reasons.append({"type": "compute_dtype", "name": "compute dtype",
                        "values": [{"column": label, "value": dtype,
                                    "settings": next(c["settings"] for c in columns if c["label"] == label)}
                                   for label, dtype in computed]})
    values: dict[str, list[tuple[str, Any, str]]] = {}
    for cell, column in zip(cells, columns):
        if cell is None or not cell["convention"]:
            continue
        convention = column["declarations"]["conventions"].get(cell["convention"]) or {}
        for flag in flags:
            spec = convention.get(flag)
            values.setdefault(flag, []).append((column["label"], None if spec is None else spec.get("value"),
                                                "" if spec is None else spec.get("source", "")))
    for flag, found in sorted(values.items()):
        if len({value for _, value, _ in found}) > 1:
            reasons.append({"type": "flag", "name": flag,
                            "values": [{"column": label, "value": value, "source": source}
                                       for label, value, source in found]})
    return reasons


def _pair_delta(base: dict, other: dict, dtype: str | None) -> dict | None:
    """How far two cells' numbers are apart: from the observed values when both are numbers or short lists;
    else (a summarised array) from their errors against the same reference, ``error_ulps`` = both errors in
    ulps, which bounds the distance from below; None when neither says."""
    # ulps of the coarser dtype the two were computed in (a float64 check that a variant computes in float32
    # is measured in float32 ulps), else of the check's dtype
    computed = [c["compute_dtype"] for c in (base, other) if c.get("compute_dtype") in _EPS]
    if computed:
        dtype = max(computed, key=lambda d: _EPS[d])
    delta = _delta(base["observed"], other["observed"], dtype)
    if delta is not None:
        return delta
    a, b = results_float(base.get("ulps")), results_float(other.get("ulps"))
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return {"abs": None, "rel": None, "ulps": abs(a - b), "special": 0, "error_ulps": [a, b]}


def results_float(value: Any) -> float | None:
    got = _numbers(value)
    return got[0] if got and len(got) == 1 else None


def _moved(delta: dict | None) -> bool:
    if delta is None:
        return False
    if "error_ulps" in delta:  # two errors against one reference: count it when they differ by 1 %
        a, b = delta["error_ulps"]
        return abs(a - b) > 0.01 * max(abs(a), abs(b), 1e-300)
    return bool(delta["abs"] or delta["special"])


def _differs(cells: Sequence[dict | None], dtype: str | None) -> tuple[bool, dict | None]:
    present = [c for c in cells if c is not None]
    if len(present) < 2:
        return False, None
    base = present[0]
    worst = None
    differs = False
    for other in present[1:]:
        if other["verdict"] != base["verdict"] or other["deviation"] != base["deviation"]:
            differs = True
        delta = _pair_delta(base, other, dtype)
        if delta is None:
            if other["observed"] != base["observed"] and _numbers(base["observed"]) is not None:
                differs = True
            continue
        if _moved(delta):
            differs = True
            if worst is None or (delta["special"], delta["ulps"]) > (worst["special"], worst["ulps"]):
                worst = delta
    return differs, worst


def compare(doc: Mapping[str, Any], *, max_rows: int | None = None) -> dict:
    """The comparison of a merged results document (see the module docstring).

    Returns ``{"columns": [...], "families": [{"family", "columns", "checks_in_common", "differing",
    "only_some", "summary": [per column against the first], "causes": {name: count}, "rows": [...]}]}``;
    a row is ``{"key": {kind, loss, binding, form, dtype, device, case} (or {kind, flag} / {kind, case}),
    "cells": [one per column or None], "delta": {abs, rel, ulps, special} or None, "why": [...]}``.
    ``max_rows`` caps the rows kept per family (the counts cover all of them).
    """
    columns, by_pair = _columns(doc)
    grouped: dict[tuple, dict[tuple[str, str], dict]] = {}
    flags_of: dict[tuple, set] = {}
    for record in doc["checks"]:
        pair = (record.get("run") or columns[0]["run"] if columns else "", record.get("framework"))
        if pair not in by_pair:
            continue
        family = by_pair[pair]["family"]
        key = (family,) + _key(record)
        grouped.setdefault(key, {})[pair] = record
        flags_of.setdefault(key, set()).update(record.get("flags") or [])
    families: list[dict] = []
    for family in dict.fromkeys(c["family"] for c in columns):
        cols = [c for c in columns if c["family"] == family]
        if len(cols) < 2:
            continue
        pairs = [(c["run"], c["framework"]) for c in cols]
        rows, causes = [], {}
        in_common = differing = only_some = 0
        per_column = [{"column": c["label"], "against": cols[0]["label"], "in_common": 0, "verdict_changes": 0,
                       "value_changes": 0, "worst_ulps": 0.0, "special": 0} for c in cols]
        for key, found in grouped.items():
            if key[0] != family:
                continue
            cells = [(_cell(found[p]) if p in found else None) for p in pairs]
            present = sum(c is not None for c in cells)
            if present < 2:
                continue
            if present < len(cells):
                only_some += 1
            in_common += 1
            dtype = key[5] if key[1] not in ("convention", "golden") else "float32"
            differs, delta = _differs(cells, dtype)
            if cells[0] is not None:
                for i, cell in enumerate(cells[1:], start=1):
                    if cell is None:
                        continue
                    stats = per_column[i]
                    stats["in_common"] += 1
                    if cell["verdict"] != cells[0]["verdict"] or cell["deviation"] != cells[0]["deviation"]:
                        stats["verdict_changes"] += 1
                    d = _pair_delta(cells[0], cell, dtype)
                    if _moved(d):
                        stats["value_changes"] += 1
                        stats["worst_ulps"] = max(stats["worst_ulps"], d["ulps"])
                        stats["special"] += d["special"]
            if not differs:
                continue
            differing += 1
            why = _why(cells, cols, sorted(flags_of.get(key, ())))
            for reason in why:
                causes[reason["name"]] = causes.get(reason["name"], 0) + 1
            if not why:
                causes["(no declaration: within the error bounds)"] = causes.get(
                    "(no declaration: within the error bounds)", 0) + 1
            rows.append({"key": _key_dict(key[1:]), "cells": cells, "delta": delta, "why": why})
        rows.sort(key=lambda r: (-(r["delta"] or {}).get("special", 0), -((r["delta"] or {}).get("ulps") or 0.0),
                                 str(sorted(r["key"].items()))))
        families.append({
            "family": family, "columns": [c["label"] for c in cols],
            "settings": {c["label"]: c["settings"] for c in cols},
            "checks_in_common": in_common, "differing": differing, "only_some": only_some,
            "summary": per_column[1:], "causes": dict(sorted(causes.items(), key=lambda kv: -kv[1])),
            "rows": rows if max_rows is None else rows[:max_rows]})
    return {"columns": [{k: v for k, v in c.items() if k != "declarations"} for c in columns], "families": families}


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def text_lines(comparison: Mapping[str, Any], rows: int = 5) -> list[str]:
    """A plain-text summary of :func:`compare`'s result (what ``python -m reports`` prints)."""
    lines: list[str] = []
    for family in comparison["families"]:
        lines.append(f"variants of {family['family']}: {', '.join(family['columns'])}: "
                     f"{family['checks_in_common']} checks in common, {family['differing']} differ")
        for stats in family["summary"]:
            lines.append(f"  {stats['column']} vs {stats['against']}: {stats['in_common']} in common, "
                         f"{stats['verdict_changes']} verdict/deviation changes, {stats['value_changes']} other "
                         f"numbers (worst {_fmt(stats['worst_ulps'])} ulp, {stats['special']} NaN/inf)")
        causes = list(family["causes"].items())[:6]
        if causes:
            lines.append("  causes: " + "; ".join(f"{name} ({count})" for name, count in causes))
        for row in family["rows"][:rows]:
            key = row["key"]
            what = " ".join(str(key[k]) for k in ("kind", "binding", "form", "dtype", "case", "flag") if key.get(k))
            cells = " | ".join("-" if c is None else f"{c['verdict']}{'(' + c['deviation'] + ')' if c['deviation'] else ''}"
                               for c in row["cells"])
            delta = row["delta"] or {}
            lines.append(f"    {what}: {cells}; max diff {_fmt(delta.get('abs'))} ({_fmt(delta.get('ulps'))} ulp)")
    return lines
