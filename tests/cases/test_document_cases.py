"""The cases against the reference: every worked number, erratum, invariant, identity and example.

* golden: the reference under the case's convention reproduces the printed number within the tolerance
  derived from its printed digits (and, for ``expect.by_convention``, the number the same inputs give
  under another convention, e.g. Keras 3);
* erratum: the reference reproduces ``corrected`` and does NOT reproduce what the document printed (or
  what its stated formula gives);
* invariant: the printed data satisfy the property;
* identity: both sides agree, evaluated with the reference;
* example: the stored value (computed once; the document printed nothing) is still what the reference gives.

Each test records its measured error through the ``record_check`` fixture when the report plugin is there.
"""
from __future__ import annotations

import numpy as np
import pytest

import cases
from lossparity import case_eval as E

ALL = cases.load_all()
CHECKED = [c for c in ALL if c.kind in ("golden", "erratum", "invariant", "identity", "example")]


def _of(kind):
    chosen = [c for c in CHECKED if c.kind == kind]
    return pytest.mark.parametrize("case", chosen, ids=[c.id for c in chosen])


def _record(request, case, verdict: bool, *, kind=None, expected=None, observed=None, error=None,
            reason="", extra=None, convention=None):
    """Hand one record to ``record_check`` if the report plugin provides it (else do nothing)."""
    try:
        record_check = request.getfixturevalue("record_check")
    except pytest.FixtureLookupError:
        return
    provenance = None
    if case.provenance is not None:
        provenance = {"document": case.provenance.document, "quote": case.provenance.quote}
    kind = kind or ("golden" if case.kind == "example" else case.kind)
    record_check({
        "id": f"{kind}:reference-{case.id}" + (f"-{convention}" if convention else ""),
        "kind": kind, "case": case.id, "provenance": provenance, "loss": case.loss,
        "framework": "reference", "dtype": case.dtype, "convention": convention or case.convention,
        "verdict": "pass" if verdict else "fail", "reason": reason, "value_error": error,
        "expected": None if expected is None else np.asarray(expected).tolist(),
        "observed": None if observed is None else np.asarray(observed).tolist(),
        "extra": dict(extra or {}, case_kind=case.kind, notes=case.notes),
    })


@_of("golden")
def test_golden(case, request):
    observed = E.reference_value(case)
    if case.expect.printed is not None:
        expected = E.printed_array(case.expect.printed)
        tol = E.case_tolerance(case, case.expect.printed)
    else:
        expected, tol = case.expect.value, E.case_tolerance(case)
    ok = E.close(observed, expected, tol)
    extra = {"printed": case.expect.printed, "computed_dtype": case.expect.computed_dtype,
             "by_convention": {k: [v, np.asarray(E.reference_value(case, k)).tolist()]
                               for k, v in case.expect.by_convention.items()}}
    _record(request, case, ok, expected=expected, observed=observed,
            error=E.error_record(observed, expected, tol, case.expect.computed_dtype, case.expect.printed),
            extra=extra,
            reason="" if ok else f"reference gives {observed} for printed {case.expect.printed} (tol {tol})")
    assert ok, (f"{case.id}: reference under '{case.convention}' gives {observed.tolist()}, printed "
                f"{case.expect.printed} (tolerance {np.max(tol):.3g})")


GOLDEN_BY_CONVENTION = [(c, k) for c in CHECKED for k in c.expect.by_convention]


@pytest.mark.parametrize("case,convention", GOLDEN_BY_CONVENTION,
                         ids=[f"{c.id}-{k}" for c, k in GOLDEN_BY_CONVENTION])
def test_golden_under_other_convention(case, convention, request):
    """What the same inputs print under another convention (e.g. Keras 3), as stored in the case."""
    text = case.expect.by_convention[convention]
    observed = E.reference_value(case, convention)
    expected = E.printed_array(text)
    tol = E.case_tolerance(case, text, convention)
    ok = E.close(observed, expected, tol)
    _record(request, case, ok, expected=expected, observed=observed, convention=convention,
            error=E.error_record(observed, expected, tol, case.expect.computed_dtype, text),
            extra={"printed_under_convention": text})
    assert ok, f"{case.id}: reference under '{convention}' gives {observed.tolist()}, stored {text}"


@_of("erratum")
def test_erratum(case, request):
    e = case.erratum
    observed = E.reference_value(case)
    corrected = E.printed_array(e.corrected)
    tol = E.case_tolerance(case, e.corrected)
    ok_corrected = E.close(observed, corrected, tol)
    wrong = e.printed if e.printed is not None else e.stated
    wrong_reproduced = wrong is not None and E.close(observed, E.printed_array(wrong),
                                                     E.case_tolerance(case, wrong))
    ok = ok_corrected and not wrong_reproduced
    _record(request, case, ok, expected=corrected, observed=observed,
            error=E.error_record(observed, corrected, tol, case.expect.computed_dtype, e.corrected),
            extra={"erratum": {"type": e.type, "printed": e.printed, "stated": e.stated,
                               "corrected": e.corrected, "why": e.why}, "printed": e.printed},
            reason="" if ok else "erratum not confirmed")
    assert ok_corrected, (f"{case.id}: reference gives {observed.tolist()}, corrected value is {e.corrected} "
                          f"(tolerance {np.max(tol):.3g})")
    assert not wrong_reproduced, (f"{case.id}: the reference reproduces the document's {wrong}: this is "
                                  f"not an erratum")


@_of("invariant")
def test_invariant(case, request):
    result = E.check_invariant(case)
    _record(request, case, result["ok"], observed=case.invariant.data,
            error={"abs": float(np.max(result["residual"])),
                   "rel": float(np.max(result["residual"]) / max(float(np.sum(np.abs(case.invariant.data))), 1e-300)),
                   "ulps": None,
                   "tol": float(np.min(result["tol"])), "worst_index": None, "worst_input": None},
            extra={"property": case.invariant.property, "axis": case.invariant.axis, "what": result["what"]},
            reason="" if result["ok"] else result["what"])
    assert result["ok"], f"{case.id}: {case.invariant.property} fails: {result['what']}"


@_of("identity")
def test_identity(case, request):
    checks = E.identity_checks(case)
    ok = all(c["ok"] for c in checks)
    worst = max(checks, key=lambda c: float(np.max(np.abs(c["lhs"] - c["rhs"]))) if c["relation"] == "==" else 0.0)
    _record(request, case, ok, expected=worst["rhs"], observed=worst["lhs"],
            error=E.error_record(worst["lhs"], worst["rhs"], worst["tol"]),
            extra={"identity": case.identity.name,
                   "checks": [{"label": c["label"], "relation": c["relation"], "ok": c["ok"]} for c in checks]},
            reason="; ".join(c["label"] for c in checks if not c["ok"]))
    for c in checks:
        assert c["ok"], (f"{case.id}: {c['label']}: lhs {c['lhs'].tolist()} {c['relation']} rhs "
                         f"{c['rhs'].tolist()} (tolerance {np.max(c['tol']):.3g})")


@_of("example")
def test_example(case, request):
    observed = E.reference_value(case)
    tol = E.case_tolerance(case)
    ok = E.close(observed, case.expect.value, tol)
    _record(request, case, ok, expected=case.expect.value, observed=observed,
            error=E.error_record(observed, case.expect.value, tol))
    assert ok, f"{case.id}: reference gives {observed.tolist()}, stored {case.expect.value.tolist()}"


def test_every_document_number_is_a_case():
    """Coverage of the five documents: each has cases, and the errata each document carries are there."""
    by_doc = {}
    for c in CHECKED:
        if c.provenance is not None:
            by_doc.setdefault(c.provenance.document, []).append(c)
    assert set(by_doc) == set(cases.DOCUMENTS)
    errata = {c.id for c in CHECKED if c.kind == "erratum"}
    for prefix in ("doc000", "doc001", "doc002", "doc003", "doc004"):
        assert any(e.startswith(prefix + ".") for e in errata), f"{prefix} has no erratum case"
