"""What changed between versions: the same checks run on several framework version sets, oldest first.

``python -m nox`` (``noxfile.py``) runs the suite once per version set and ``python -m reports versions
A.json B.json ...`` merges the results files, oldest set first (each run labelled by its file name, the set's
name).  :func:`changes` lines the records up per *lane*, the API a user calls: an adapter's
``settings()["lane"]``, else its name (one import path may be served by one major version of a framework in
an old set and by the next in a newer one: two adapters then answer for one lane in turn), and walks each
check from one version set to the next:

* a **change** is the first pair of consecutive sets where the check's verdict, its covering declaration
  or its number moved (the number: ``observed`` in ulps of the coarser compute dtype, or, for a summarised
  array, the two errors against the same reference, see :mod:`reports.variants`), with both versions, the
  size, and the declarations that say why (the deviation, the convention flags whose values differ);
* checks on generated inputs whose reference values differ between the sets (another NumPy drew other
  numbers) are counted as *not comparable*, not as changes (inputs written in case files always compare);
* a summarised array whose error against the reference moved by at most :data:`REFERENCE_NOISE_ULPS` between
  runs on different NumPy releases is counted as *reference rounding*, not as a change;
* a check that only some sets could run (an API a release lacks is a skip there, with its reason) is
  counted per pair as *availability*.

Nothing here names a framework: everything comes from the records and the runs' settings.
"""
from __future__ import annotations

from typing import Any, Mapping

from .variants import _cell, _columns, _fmt, _key, _key_dict, _moved, _pair_delta, _runs, _why

__all__ = ["changes", "text_lines", "version_set", "for_report"]


def version_set(run_label: str) -> str:
    """The version set of a merged run label (``"tf215/default"`` -> ``"tf215"``)."""
    return run_label.split("/", 1)[0]


# Case ids of inputs drawn from a seeded generator (their numbers may differ under another NumPy); every
# other case's inputs are written in a case file (documents, edge battery, saved fuzz examples).
GENERATED_PREFIX = "gen."


# How far (ulps) another NumPy's float64 reference may move a summarised check's error: its libm's last bit,
# in the reference and in the error's own rounding.
REFERENCE_NOISE_ULPS = 2.0


def _comparable(a: dict, b: dict, key: tuple) -> bool:
    """Both cells answer the same question.  Inputs written in a case file are the same in every set, so
    their checks always compare (the reference may differ: another convention); generated inputs compare
    when the reference value is the same in both sets (same draws)."""
    case = dict(zip(("kind", "loss", "binding", "form", "dtype", "device", "case"), key)).get("case") or ""
    if key[0] in ("golden", "convention") or not str(case).startswith(GENERATED_PREFIX):
        return True
    return a.get("expected") == b.get("expected")


def changes(doc: Mapping[str, Any], *, max_rows: int | None = None) -> dict:
    """Per lane, the first version set where each check changed.

    Returns ``{"sets": [names oldest first], "lanes": [{"lane", "columns": [{"set", "framework", "version"}],
    "pairs": [{"from", "to", "in_common", "changed", "worst_ulps", "availability", "not_comparable"}],
    "rows": [{"key", "from", "to", "before", "after", "delta", "why"}]}]}``.  ``max_rows`` caps the rows kept
    per lane (the counts cover all of them).
    """
    runs = _runs(doc)
    sets = list(dict.fromkeys(version_set(r["label"]) for r in runs))
    order = {name: i for i, name in enumerate(sets)}
    columns, by_pair = _columns(doc)
    # An adapter that could not run in a set (every record a skip) answers for no lane there.
    ran = {(r.get("run"), r.get("framework")) for r in doc["checks"] if r.get("verdict") != "skip"}
    columns = [c for c in columns if (c["run"], c["framework"]) in ran]
    by_pair = {key: c for key, c in by_pair.items() if (key[0], key[1]) in ran}
    numpy_of = {r["label"]: r.get("numpy") for r in runs}
    for column in columns:
        settings = column["settings"]
        column["lane"] = settings.get("lane") or column["framework"]
        column["set"] = version_set(column["run"])
        column["version"] = settings.get("version", "")
    lanes: dict[str, list[dict]] = {}
    for column in columns:
        lanes.setdefault(column["lane"], []).append(column)
    grouped: dict[tuple, dict[str, tuple[dict, dict]]] = {}
    flags_of: dict[tuple, set] = {}
    for record in doc["checks"]:
        pair = (record.get("run") or (columns[0]["run"] if columns else ""), record.get("framework"))
        column = by_pair.get(pair)
        if column is None:
            continue
        key = (column["lane"],) + _key(record)
        # one column per set and lane: the first adapter that answers (sets hold one run per lane)
        grouped.setdefault(key, {}).setdefault(column["set"], (record, column))
        flags_of.setdefault(key, set()).update(record.get("flags") or [])
    out = []
    for lane, cols in lanes.items():
        per_set: dict[str, dict] = {}
        for column in sorted(cols, key=lambda c: order[c["set"]]):
            per_set.setdefault(column["set"], column)
        lane_sets = sorted(per_set, key=order.get)
        if len(lane_sets) < 2:
            continue
        pairs = [{"from": a, "to": b, "from_version": per_set[a]["version"], "to_version": per_set[b]["version"],
                  "in_common": 0, "changed": 0, "worst_ulps": 0.0, "availability": 0, "not_comparable": 0,
                  "reference_noise": 0,
                  "other_numpy": numpy_of.get(per_set[a]["run"]) != numpy_of.get(per_set[b]["run"])}
                 for a, b in zip(lane_sets, lane_sets[1:])]
        rows = []
        for key, found in grouped.items():
            if key[0] != lane:
                continue
            first_change = None
            for stats in pairs:
                a, b = found.get(stats["from"]), found.get(stats["to"])
                if a is None or b is None:
                    continue
                ca, cb = _cell(a[0]), _cell(b[0])
                if "skip" in (ca["verdict"], cb["verdict"]) and ca["verdict"] != cb["verdict"]:
                    stats["availability"] += 1
                    continue
                if not _comparable(ca, cb, key[1:]):
                    stats["not_comparable"] += 1
                    continue
                stats["in_common"] += 1
                dtype = key[5] if key[1] not in ("convention", "golden") else "float32"
                delta = _pair_delta(ca, cb, dtype)
                moved = _moved(delta)
                if moved and stats["other_numpy"] and "error_ulps" in delta and delta["ulps"] <= REFERENCE_NOISE_ULPS:
                    # A summarised array is compared through its error against the reference, which another
                    # NumPy rounds differently in its last bits: so small a move is not the framework's.
                    stats["reference_noise"] += 1
                    moved = False
                verdict_moved = ca["verdict"] != cb["verdict"] or ca["deviation"] != cb["deviation"]
                if not (moved or verdict_moved):
                    continue
                stats["changed"] += 1
                if moved:
                    stats["worst_ulps"] = max(stats["worst_ulps"], delta["ulps"])
                if first_change is None:
                    why = _why([ca, cb], [a[1], b[1]], sorted(flags_of.get(key, ())))
                    first_change = {"key": _key_dict(key[1:]), "from": stats["from"], "to": stats["to"],
                                    "from_version": stats["from_version"], "to_version": stats["to_version"],
                                    "before": ca, "after": cb, "delta": delta if moved else None, "why": why}
            if first_change is not None:
                rows.append(first_change)
        rows.sort(key=lambda r: (order[r["to"]], -((r["delta"] or {}).get("ulps") or 0.0),
                                 str(sorted(r["key"].items()))))
        out.append({"lane": lane, "columns": [{"set": s, "framework": per_set[s]["framework"],
                                               "version": per_set[s]["version"]} for s in lane_sets],
                    "pairs": pairs, "changed": len(rows),
                    "rows": rows if max_rows is None else rows[:max_rows]})
    return {"sets": sets, "lanes": out}


def _observed(value: Any) -> str:
    """An observed value as the results file keeps it (9 significant digits), lists shortened."""
    if isinstance(value, float):
        return f"{value:.9g}"
    if isinstance(value, list):
        shown = ", ".join(_observed(v) for v in value[:3])
        return f"[{shown}{', ...' if len(value) > 3 else ''}]"
    return _fmt(value)


def text_lines(result: Mapping[str, Any], rows: int = 8) -> list[str]:
    """Plain text of :func:`changes` (what ``python -m reports versions`` prints)."""
    lines = [f"version sets, oldest first: {', '.join(result['sets'])}"]
    for lane in result["lanes"]:
        lines.append(f"{lane['lane']}: " + " -> ".join(f"{c['set']} ({c['version']})" for c in lane["columns"])
                     + f": {lane['changed']} checks changed")
        for p in lane["pairs"]:
            lines.append(f"  {p['from']} -> {p['to']}: {p['in_common']} comparable, {p['changed']} changed "
                         f"(worst {_fmt(p['worst_ulps'])} ulp), {p['availability']} run in one only, "
                         f"{p['not_comparable']} with other inputs, {p['reference_noise']} within another "
                         f"NumPy's reference rounding")
        for row in lane["rows"][:rows]:
            key = row["key"]
            what = " ".join(str(key[k]) for k in ("kind", "binding", "form", "dtype", "case", "flag") if key.get(k))
            b, a = row["before"], row["after"]
            why = ", ".join(w["name"] for w in row["why"]) or "no declaration"
            lines.append(f"    {what}: {row['from']} {b['verdict']} {_observed(b['observed'])} -> {row['to']} "
                         f"{a['verdict']} {_observed(a['observed'])} ({_fmt((row['delta'] or {}).get('ulps'))} ulp; "
                         f"why: {why})")
    return lines


def for_report(doc: Mapping[str, Any], rows: int = 40) -> list[dict]:
    """The lanes with more than one version set, for the HTML report ([] when the document holds one set
    or the comparison cannot be made)."""
    if "runs" not in doc or len({version_set(r["label"]) for r in _runs(doc)}) < 2:
        return []
    try:
        return changes(doc, max_rows=rows)["lanes"]
    except Exception:  # noqa: BLE001 - the comparison is extra; a report never fails on it
        return []
