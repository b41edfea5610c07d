"""Strict in both directions: every declared convention flag and deviation must still show."""
import pytest

from adapters.protocol import holds, release
from lossparity import checks
from lossparity.inputs import InputSet, generated


def _pool(session):
    sets = [inputs for loss in {b.loss for a in session.available for b in a.bindings.values()}
            for inputs in generated(loss)]
    return sets + [InputSet.from_case(c) for c in session.cases if c.inputs]


def test_convention_flag_shows(declared_flag, lp_session, record_check):
    adapter_name, flag = declared_flag
    record = checks.flag_witness(lp_session, adapter_name, flag, _pool(lp_session))
    record_check(record)
    if record["verdict"] == "skip":  # declared for other releases: listed as not verified on this one
        pytest.skip(record["reason"])
    assert record["verdict"] == "pass", record["reason"]


def test_deviation_is_exercised(declared_deviation, lp_session, record_check):
    """A declaration must cover some check of the full (``--sweep``) matrix, or it is stale.  One declared for
    other releases than the installed one is listed as not verified here (a skip record of kind convention)."""
    adapter_name, name = declared_deviation
    adapter = lp_session.adapter(adapter_name)
    deviation = next(d for d in adapter.deviations if d.name == name)
    if not holds(deviation.versions, adapter):
        reason = (f"deviation '{name}' is declared for {deviation.versions}: not verified on {adapter_name} "
                  f"{release(adapter)}")
        record_check({"id": f"convention:{adapter_name}-{name}", "kind": "convention", "framework": adapter_name,
                      "framework_version": adapter.version(), "deviation": name, "verdict": "skip",
                      "reason": reason, "extra": {"unverified": {"deviation": name, "versions": deviation.versions,
                                                                  "release": release(adapter)}}})
        pytest.skip(reason)
    covered = lp_session.declaration_coverage.get((adapter_name, name), [])
    if not covered and deviation.when.get("device", "*") == "gpu" and "gpu" not in adapter.devices():
        pytest.skip(f"deviation '{name}' is about the GPU, and {adapter_name} sees none here")
    assert covered, (f"deviation '{name}' of {adapter_name} covers no check of the full matrix: its selector "
                     f"{dict(deviation.when)} matches nothing; fix or remove the declaration")
