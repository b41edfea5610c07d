"""The documents' worked numbers, through each framework that has the loss."""
import pytest

from lossparity import checks
from lossparity.case_eval import case_tolerance, printed_text
from lossparity.inputs import InputSet


def test_golden(golden_pair, lp_session, record_check):
    adapter_name, case_id = golden_pair
    case = next(c for c in lp_session.cases if c.id == case_id)
    record = checks.golden_check(lp_session, adapter_name, case, printed_text(case), case_tolerance(case))
    record["provenance"] = InputSet.from_case(case).provenance
    record_check(record)
    if record["verdict"] == "skip":
        pytest.skip(record["reason"])
    assert record["verdict"] in ("pass", "deviation"), record["reason"]
