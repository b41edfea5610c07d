"""The conformance matrix: every framework against the reference, cell by cell.

Each test is one check; its record (verdict, measured error in ulps and absolute, distance to the plain
mathematics) goes to reports/results.json.  Verdicts: pass, or a declared deviation; anything else
fails with the reason.
"""
import pytest

from lossparity import checks

ACCEPTED = ("pass", "deviation")


def settle(records) -> None:
    """Fail with the reasons of the records not accepted; a record that is a skip (the installed release
    lacks the API: adapters.protocol.Unsupported) skips the test with its reason."""
    failed = [r["reason"] for r in records if r["verdict"] not in ACCEPTED + ("skip",)]
    assert not failed, "; ".join(failed)
    skipped = [r["reason"] for r in records if r["verdict"] == "skip"]
    if skipped:
        pytest.skip("; ".join(dict.fromkeys(skipped)))


def test_framework_available(adapter_name, lp_session):
    reason = lp_session.adapter(adapter_name).available()
    if reason:
        pytest.skip(reason)


def test_gpu_present(adapter_name, lp_session):
    adapter = lp_session.adapter(adapter_name)
    if adapter.available():
        pytest.skip(adapter.available())
    if "gpu" not in lp_session.selection.devices:
        pytest.skip("--device cpu: GPU not requested")
    if "gpu" not in adapter.devices():
        pytest.skip(f"no GPU visible to {adapter_name}: its GPU checks are not run on this machine")


def test_value(value_item, lp_session, record_check):
    """The value, and the output's dtype and shape, of one framework call (two records)."""
    value = record_check(checks.compare(lp_session, value_item, "value"))
    dtype = record_check(checks.dtype_check(lp_session, value_item))
    settle([value, dtype])


def test_grad(grad_item, lp_session, record_check):
    settle([record_check(checks.compare(lp_session, grad_item, "grad"))])


def test_edge(edge_item, lp_session, record_check):
    """An edge case's behaviour (its value, or its gradient when the case is about the gradient), in the
    form with the case's reduction; a saved fuzz counterexample's gradient too."""
    adapter = lp_session.adapter(edge_item.adapter)
    about_grad = edge_item.inputs.quantity == "grad"
    records = [record_check(checks.compare(lp_session, edge_item, "grad" if about_grad else "edge"))]
    if edge_item.inputs.source == "fuzz" and not about_grad and adapter.bindings[edge_item.binding].grad_wrt:
        records.append(record_check(checks.compare(lp_session, edge_item, "grad")))
    settle(records)
