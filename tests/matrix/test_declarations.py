"""Strict in both directions: every declared convention flag and deviation must still show."""
import pytest

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
    assert record["verdict"] == "pass", record["reason"]


def test_deviation_is_exercised(declared_deviation, lp_session):
    """A declaration must cover some check of the full (``--sweep``) matrix, or it is stale."""
    adapter_name, name = declared_deviation
    adapter = lp_session.adapter(adapter_name)
    deviation = next(d for d in adapter.deviations if d.name == name)
    items, edges = lp_session.full_plan
    fuzz = [i for i in edges if i.inputs.source == "fuzz"]  # test_edge also checks their gradients
    about_grad = [i for i in edges if i.inputs.quantity == "grad"]  # test_edge checks these as kind "grad"
    kinds = {"value": items, "grad": items + fuzz + about_grad, "dtype": items,
             "edge": [i for i in edges if i.inputs.quantity != "grad"]}
    covered = [i.id for kind, cells in kinds.items() for i in cells
               if i.adapter == adapter_name and checks.covering_deviation(adapter, i, kind) is deviation]
    if not covered and deviation.when.get("device", "*") == "gpu" and "gpu" not in adapter.devices():
        pytest.skip(f"deviation '{name}' is about the GPU, and {adapter_name} sees none here")
    assert covered, (f"deviation '{name}' of {adapter_name} covers no check of the full matrix: its selector "
                     f"{dict(deviation.when)} matches nothing; fix or remove the declaration")
