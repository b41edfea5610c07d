"""The short text summary of a results document, shared by the pytest plugin and the CLI."""
from __future__ import annotations

import math
import operator
from collections import Counter
from typing import Any, Mapping, Sequence

from .results import VERDICTS, to_float

_VERDICT = operator.itemgetter("verdict")


def verdict_counts(checks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Number of checks per verdict, in :data:`~reports.results.VERDICTS` order, zeros left out."""
    counts = Counter(map(_VERDICT, checks))
    return {v: counts[v] for v in VERDICTS if counts[v]}


def framework_counts(checks: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per framework (sorted), the number of checks per verdict."""
    pairs = Counter((c.get("framework") or "(none)", c["verdict"]) for c in checks)
    per: dict[str, dict[str, int]] = {}
    for (framework, verdict), n in pairs.items():
        per.setdefault(framework, {})[verdict] = n
    return {name: {v: per[name][v] for v in VERDICTS if v in per[name]} for name in sorted(per)}


def error_size(error: Mapping[str, Any] | None) -> tuple[float, str] | None:
    """How big a measured error is, as (number, unit): ulps when known, else relative error."""
    if not error:
        return None
    ulps = error.get("ulps")
    if type(ulps) is float and ulps == ulps:  # the common case first: this runs once per record
        return ulps, "ulp"
    for key, unit in (("ulps", "ulp"), ("rel", "rel")):
        value = to_float(error.get(key))
        if value is not None and not math.isnan(value):
            return value, unit
    return None


def worst_errors(checks: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per framework, the largest measured value or gradient error (ulps preferred) among the checks
    that passed, and its check: a declared deviation is far off by definition and reported as such; an
    accuracy record is a search for the worst input, not a check against a tolerance, so it is left out."""
    worst: dict[str, dict[str, Any]] = {}
    for key in ("value_error", "grad_error"):
        for check in checks:
            if check.get("verdict") != "pass" or check.get("kind") == "accuracy":
                continue
            size = error_size(check.get(key)) if check.get(key) else None
            if size is None:
                continue
            framework = check.get("framework") or "(none)"
            best = worst.get(framework)
            # ulps outrank relative errors: they are the unit the tolerances are written in.
            rank = (size[1] == "ulp", size[0])
            if best is None or rank > best["rank"]:
                worst[framework] = {"rank": rank, "size": size[0], "unit": size[1], "id": check["id"],
                                    "which": key.split("_")[0]}
    return {name: {k: v for k, v in entry.items() if k != "rank"} for name, entry in sorted(worst.items())}


def _format_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) or "no checks"


def summary_lines(doc: Mapping[str, Any], path: str | None = None) -> list[str]:
    """A few lines for a terminal: totals, per framework counts and worst error, where the file is."""
    checks = doc["checks"]
    lines = [f"{len(checks)} checks: {_format_counts(verdict_counts(checks))}"]
    worst = worst_errors(checks)
    for framework, counts in framework_counts(checks).items():
        line = f"  {framework:<12} {_format_counts(counts)}"
        if framework in worst:
            entry = worst[framework]
            line += f"; worst passing {entry['which']} error {entry['size']:.3g} {entry['unit']} ({entry['id']})"
        lines.append(line)
    for run in ([doc["run"]] if "run" in doc else doc.get("runs", ())):
        incomplete = run.get("incomplete")
        if incomplete:
            label = f"run {run['label']}" if "runs" in doc else "run"
            lines.append(f"INCOMPLETE {label}: {incomplete['reason']}; {len(incomplete['missing'])} selected "
                         "test(s) did not finish")
    if path:
        lines.append(f"results: {path}")
    return lines
