"""The pytest plugin end to end: a small suite run with pytester, with and without xdist."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from reports import results

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

SUITE = '''
import os
import pytest

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_value(record_check, framework):
    record_check({"kind": "value", "loss": "huber", "dtype": "float32", "device": "cpu",
                  "value_error": {"abs": 1e-7, "rel": 2e-7, "ulps": 1.5, "tol": 1e-6, "worst_index": [0]},
                  "expected": 1.0, "observed": 1.0000001})

def test_golden(record_check):
    record_check({"id": "golden:optax-doc1", "kind": "golden", "loss": "huber", "framework": "optax",
                  "verdict": "pass", "observed": 0.5, "extra": {"printed": "0.5"}})
'''

MORE = '''
def test_fails_on_assertion(record_check):
    record_check({"id": "failing", "kind": "value", "loss": "mse", "framework": "optax"})
    assert 1 == 2

def test_fails_on_exception(record_check):
    record_check({"id": "raising", "kind": "value", "loss": "mse", "framework": "optax"})
    raise RuntimeError("boom")

def test_keeps_explicit_verdict(record_check):
    record_check({"id": "explicit", "kind": "value", "loss": "mse", "framework": "optax",
                  "verdict": "deviation", "deviation": "clip_eps"})
    assert False

@pytest.mark.parametrize("framework", ["jax"])
def test_skipped_parity_test(framework):
    pytest.skip("jax not installed")

def test_skipped_helper():
    pytest.skip("not a parity test")

@pytest.mark.xfail(reason="declared: keras clips")
def test_expected_failure(record_check):
    record_check({"id": "xfailing", "kind": "value", "loss": "mse", "framework": "keras"})
    assert False

def test_typo(record_check):
    record_check({"kind": "value", "verdcit": "pass"})
'''

SETTINGS = '''
def pytest_lossparity_run_settings(config):
    return {"torch.tf32": False, "jax.x64": True}
'''

# What the project's conftest answers: per adapter, a dict with (at least) its version.
ADAPTER_SETTINGS = '''
def pytest_lossparity_run_settings(config):
    return {"devices": ["cpu"], "torch": {"version": "2.13.0+cpu", "tf32": False},
            "keras": {"version": "keras 3.15.1 / tensorflow 2.21.0"}, "optax": {"jit": True}}
'''

CRASH = '''
def test_crash(record_check):
    record_check({"id": "doomed", "kind": "value", "loss": "mse", "framework": "torch"})
    os._exit(1)
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester directory whose xdist workers can import this repository's ``reports``, and load no
    plugin but the ones named with ``-p`` (hypothesis and the like make every worker start slowly)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest_inprocess("-p", "reports.pytest_plugin", "-p", "no:cacheprovider",
                                           "--results", "out/results.json", *args)
    path = pytester.path / "out" / "results.json"
    return result, (results.load(path) if path.exists() else {})


def _verdicts(doc: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in doc["checks"]}


def test_three_checks_make_a_valid_results_file(suite):
    suite.makepyfile(test_suite=SUITE)
    result, doc = _run(suite)
    assert result.ret == 0
    assert _verdicts(doc) == {"value:huber:torch:float32:cpu": "pass", "value:huber:keras:float32:cpu": "pass",
                              "golden:optax-doc1": "pass"}
    golden = next(c for c in doc["checks"] if c["kind"] == "golden")
    assert golden["extra"] == {"printed": "0.5"} and golden["test"] == "test_suite.py::test_golden"
    assert golden["framework_version"] is None  # nothing is looked up by framework name
    assert doc["run"]["frameworks"] == {}  # no run-settings hook answered with adapter versions
    result.stdout.fnmatch_lines(["*lossparity*", "3 checks: 3 pass",
                                 "*torch*1 pass; worst value error 1.5 ulp*", "results: *results.json"])


def test_outcomes_settle_verdicts_the_same_with_and_without_xdist(suite):
    """Unset verdicts follow the test's outcome; the xdist run's file equals the plain run's apart from
    timings (and the arguments, which differ on purpose)."""
    suite.makepyfile(test_suite=SUITE + MORE)
    suite.makeconftest(SETTINGS)
    plain, doc = _run(suite)
    xdist, other = _run(suite, "-p", "xdist", "-n", "2")
    assert plain.ret == xdist.ret == 1
    assert results.comparable(dict(doc, run=dict(doc["run"], pytest_args=[]))) == \
        results.comparable(dict(other, run=dict(other["run"], pytest_args=[])))
    assert doc["run"]["settings"] == {"jax.x64": True, "torch.tf32": False}
    verdicts = _verdicts(doc)
    assert {k: verdicts[k] for k in ("failing", "raising", "explicit", "xfailing")} == {
        "failing": "fail", "raising": "error", "explicit": "deviation", "xfailing": "deviation"}
    skipped = "test_suite.py::test_skipped_parity_test[jax]"
    assert verdicts[skipped] == "skip"
    assert not any("skipped_helper" in i or "typo" in i for i in verdicts)  # helper tests stay out
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["failing"]["reason"] == "assert 1 == 2"
    assert "RuntimeError: boom" in by_id["raising"]["reason"]
    assert (by_id[skipped]["reason"], by_id[skipped]["framework"]) == ("jax not installed", "jax")
    assert "unknown check record field(s) ['verdcit']" in plain.stdout.str()


def test_run_frameworks_come_from_the_run_settings_hook(suite):
    """Adapter versions reach ``run.frameworks`` only through the hook's answers: every settings entry
    that is a dict with a version; nothing else (``optax`` says no version, ``devices`` is no adapter)."""
    suite.makepyfile(test_suite=SUITE)
    suite.makeconftest(ADAPTER_SETTINGS)
    result, doc = _run(suite)
    assert result.ret == 0
    assert doc["run"]["frameworks"] == {"keras": "keras 3.15.1 / tensorflow 2.21.0", "torch": "2.13.0+cpu"}
    assert doc["run"]["settings"]["torch"] == {"version": "2.13.0+cpu", "tf32": False}


def test_typed_api_fields_travel_as_top_level_keys(suite):
    suite.makepyfile(test_suite='''
def test_typed(record_check):
    record_check({"id": "typed", "kind": "value", "loss": "huber", "framework": "torch",
                  "binding": "huber", "form": "module:sum", "reduction": "sum", "args": {"delta": 0.5},
                  "flags": ["b_flag", "a_flag", "b_flag"]})
''')
    result, doc = _run(suite)
    assert result.ret == 0
    (record,) = doc["checks"]
    assert (record["binding"], record["form"], record["reduction"]) == ("huber", "module:sum", "sum")
    assert record["args"] == {"delta": 0.5} and record["flags"] == ["a_flag", "b_flag"]


def test_worker_crash_yields_a_lost_record_and_keeps_the_rest(suite):
    suite.makepyfile(test_suite=SUITE + CRASH)
    result, doc = _run(suite, "-p", "xdist", "-n", "2")
    assert result.ret == 1
    verdicts = _verdicts(doc)
    assert verdicts.pop("test_suite.py::test_crash") == "lost"
    assert verdicts == {"value:huber:torch:float32:cpu": "pass", "value:huber:keras:float32:cpu": "pass",
                        "golden:optax-doc1": "pass"}
    lost = next(c for c in doc["checks"] if c["verdict"] == "lost")
    assert "crashed" in lost["reason"]


def test_no_results_option(suite):
    suite.makepyfile(test_suite=SUITE)
    result, doc = _run(suite, "--no-results")
    assert result.ret == 0 and doc == {}
    assert "lossparity" not in result.stdout.str()
