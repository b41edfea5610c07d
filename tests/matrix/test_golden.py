"""The documents' worked numbers, through each framework that has the loss."""
import pytest

from tests.support import checks, session
from tests.support.case_eval import case_tolerance, printed_text


def test_golden(golden_pair, record_check):
    adapter_name, case_id = golden_pair
    case = next(c for c in session.document_cases() if c.id == case_id)
    record = checks.golden_check(session.adapter(adapter_name), case, printed_text(case), case_tolerance(case))
    record["provenance"] = session.case_inputs(case).provenance
    record_check(record)
    if record["verdict"] == "skip":
        pytest.skip(record["reason"])
    assert record["verdict"] in ("pass", "deviation"), record["reason"]
