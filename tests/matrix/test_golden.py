"""The documents' worked numbers, through each framework that has the loss."""
import pytest

from adapters.protocol import Call
from lossparity import checks
from lossparity.case_eval import case_tolerance, printed_text
from lossparity.inputs import InputSet


def test_golden(golden_pair, lp_session, record_check):
    adapter_name, case_id = golden_pair
    case = next(c for c in lp_session.cases if c.id == case_id)
    adapter = lp_session.adapter(adapter_name)
    work = checks.compute_dtype(adapter, Call(loss=case.loss, inputs={}, dtype=case.dtype))
    if work != case.dtype:  # e.g. float64 without JAX's x64 mode: the number is checked where it exists
        pytest.skip(f"{adapter_name} computes {case.dtype} in {work} in this process (its settings: "
                    f"{getattr(adapter, 'settings', dict)()}): the document's {case.dtype} number is checked "
                    f"in the process where it computes {case.dtype}")
    record = checks.golden_check(lp_session, adapter_name, case, printed_text(case), case_tolerance(case))
    record["provenance"] = InputSet.from_case(case).provenance
    record_check(record)
    if record["verdict"] == "skip":
        pytest.skip(record["reason"])
    assert record["verdict"] in ("pass", "deviation"), record["reason"]
