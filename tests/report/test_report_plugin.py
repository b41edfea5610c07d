"""The pytest plugin end to end: a small suite run with pytester, with and without xdist."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reports import cli, html, results
from tests.report.synthetic import make_doc, make_record

# The tests that start pytest in other processes (xdist workers, a subprocess that is killed or interrupted)
# belong to the full suite (`pytest --full`, .ci/run): a second or two of process start-up each.
FULL = pytest.mark.full

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
                                 "*torch*1 pass; worst passing value error 1.5 ulp*", "results: *results.json"])


@FULL
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


@FULL
def test_under_xdist_the_settings_are_the_workers(suite):
    """With xdist the results file records the settings a worker reported (the process whose frameworks ran
    the checks), and the controller never asks the hook itself (it would import every framework for it)."""
    suite.makepyfile(test_suite=SUITE)
    suite.makeconftest('''
def pytest_lossparity_run_settings(config):
    return {"process": "worker" if hasattr(config, "workerinput") else "controller"}
''')
    result, doc = _run(suite, "-p", "xdist", "-n", "2")
    assert result.ret == 0
    assert doc["run"]["settings"] == {"process": "worker"}
    result, doc = _run(suite)
    assert doc["run"]["settings"] == {"process": "controller"}


def test_a_workers_parameters_file_is_read_once_until_it_changes(tmp_path, monkeypatch):
    """Tests without parameters (helpers) look in the workers' parameters files; each file is parsed again only
    when it changed (parsing both for each of 6,000 tests cost the controller about 40 s of CPU)."""
    from reports import journal as journal_module
    from reports import pytest_plugin

    journal = journal_module.JournalWriter(tmp_path / "results.json.journal", tmp_path / "results.json",
                                           started="now", pytest_args=[])
    sidecar = journal_module.params_path(str(journal.path), "gw0")
    sidecar.write_text('{"t::a": {"framework": "torch"}}', encoding="utf-8")
    collector = pytest_plugin.ResultsCollector.__new__(pytest_plugin.ResultsCollector)
    collector.params, collector._sidecars_read, collector.journal = {}, {}, journal
    parsed = []
    real = pytest_plugin.json.loads
    monkeypatch.setattr(pytest_plugin.json, "loads", lambda text: parsed.append(text) or real(text))
    for _ in range(3):
        assert collector._params_of("t::helper") == {}
    assert collector._params_of("t::a") == {"framework": "torch"} and len(parsed) == 1
    sidecar.write_text('{"t::a": {"framework": "torch"}, "t::b": {"framework": "optax"}}', encoding="utf-8")
    os.utime(sidecar, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert collector._params_of("t::b") == {"framework": "optax"} and len(parsed) == 2
    journal.close(remove=True)


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


@FULL
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


# --------------------------------------------------------------------------------------------------
# Attribution: a test's parameters say which cell its synthetic records belong to
# --------------------------------------------------------------------------------------------------

ATTRIBUTED = '''
import os
from dataclasses import dataclass, field
import pytest

@dataclass(frozen=True)
class Inputs:
    id: str
    loss: str

@dataclass(frozen=True)
class Item:          # shaped like lossparity.checks.Item
    adapter: str
    binding: str
    form: str
    dtype: str
    device: str
    inputs: Inputs

ITEM = Item("torch", "huber", "function:none", "float16", "cpu", Inputs("gen.small.default", "huber"))

@pytest.mark.parametrize("value_item", [pytest.param(ITEM, id="torch-huber-float16")])
def test_value_crashes(value_item, record_check):
    if os.environ.get("CRASH_IN_SETUP") != "1":
        os._exit(1)

@pytest.fixture
def dies_in_setup():
    if os.environ.get("CRASH_IN_SETUP") == "1":
        os._exit(1)

@pytest.mark.parametrize("value_item", [pytest.param(ITEM, id="torch-huber-float16-setup")])
def test_setup_crashes(dies_in_setup, value_item):
    pass

@pytest.mark.parametrize("adapter_name", [pytest.param("jaxish", marks=pytest.mark.jaxish)])
def test_framework_available(adapter_name):
    pytest.skip("jaxish is not installed: ImportError: libjaxish.so: cannot open shared object file")

@pytest.mark.parametrize("golden_pair", [pytest.param(("keras", "doc1"), marks=pytest.mark.keras)])
def test_golden(golden_pair):
    pytest.fail("boom")
'''


def test_item_params_read_objects_tuples_and_aliases():
    from dataclasses import dataclass

    from reports.pytest_plugin import item_params

    @dataclass
    class Inputs:
        id: str
        loss: str

    @dataclass
    class Item:
        adapter: str
        binding: str
        form: str
        dtype: str
        device: str
        inputs: Inputs

    class Fake:
        def __init__(self, params, marks=()):
            self.callspec = type("CallSpec", (), {"params": params})()
            self._marks = [pytest.Mark(m, (), {}) for m in marks]

        def iter_markers(self):
            return iter(self._marks)

    item = Item("torch", "kl", "module:batchmean", "float16", "cpu", Inputs("gen.rank3", "kl_divergence"))
    assert item_params(Fake({"value_item": item})) == {
        "framework": "torch", "binding": "kl", "form": "module:batchmean", "dtype": "float16", "device": "cpu",
        "loss": "kl_divergence", "case": "gen.rank3"}
    assert item_params(Fake({"adapter_name": "optax"})) == {"framework": "optax"}
    assert item_params(Fake({"golden_pair": ("keras", "doc1")}, marks=["keras", "golden"])) == {"framework": "keras"}
    assert item_params(Fake({"golden_pair": ("keras", "doc1")}, marks=["golden"])) == {}  # not a framework
    assert item_params(Fake({"framework": "torch", "value_item": item}))["framework"] == "torch"  # string wins
    adapter = type("Adapter", (), {"name": "keras"})()
    assert item_params(Fake({"framework": adapter, "dtype": "float32"})) == {"framework": "keras", "dtype": "float32"}


@FULL
def test_lost_checks_and_import_failures_are_attributed(suite):
    """A worker crash (in the call or in setup) and a framework that fails to import get records that
    name the framework, loss, dtype (… from the test's parameters), so their matrix cells show them."""
    suite.makepyfile(test_suite=ATTRIBUTED)
    result, doc = _run(suite, "-p", "xdist", "-n", "2")
    by_id = {c["id"]: c for c in doc["checks"]}
    crash = by_id["test_suite.py::test_value_crashes[torch-huber-float16]"]
    assert crash["verdict"] == "lost" and "crashed" in crash["reason"]
    assert {k: crash[k] for k in ("framework", "loss", "dtype", "device", "binding", "form", "case")} == {
        "framework": "torch", "loss": "huber", "dtype": "float16", "device": "cpu", "binding": "huber",
        "form": "function:none", "case": "gen.small.default"}
    skipped = by_id["test_suite.py::test_framework_available[jaxish]"]
    assert (skipped["verdict"], skipped["framework"]) == ("skip", "jaxish")
    assert "libjaxish.so" in skipped["reason"]
    golden = by_id["test_suite.py::test_golden[golden_pair0]"]
    assert (golden["verdict"], golden["framework"]) == ("fail", "keras")


@FULL
def test_crash_during_setup_is_attributed(suite, monkeypatch):
    """A worker that dies before the test's setup report reaches the controller: the parameters come from
    the file each worker leaves beside the journal when it has collected."""
    monkeypatch.setenv("CRASH_IN_SETUP", "1")
    suite.makepyfile(test_suite=ATTRIBUTED)
    result, doc = _run(suite, "-p", "xdist", "-n", "2")
    lost = {c["id"]: c for c in doc["checks"] if c["verdict"] == "lost"}
    record = lost["test_suite.py::test_setup_crashes[torch-huber-float16-setup]"]
    assert (record["framework"], record["loss"], record["dtype"]) == ("torch", "huber", "float16")
    assert not (suite.path / "out" / ".partial").exists()  # the run finished: its journal is gone


def test_results_file_has_normal_permissions(suite):
    suite.makepyfile(test_suite=SUITE)
    old = os.umask(0o022)
    try:
        _run(suite)
        assert (suite.path / "out" / "results.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        _run(suite)
        assert (suite.path / "out" / "results.json").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


# --------------------------------------------------------------------------------------------------
# Runs that do not finish: killed, aborted, interrupted, stopped early
# --------------------------------------------------------------------------------------------------

STOPPABLE = '''
import os, signal, time
from pathlib import Path
import pytest

signal.signal(signal.SIGINT, signal.default_int_handler)  # even when the parent ignores SIGINT

@pytest.mark.parametrize("framework", ["torch", "keras", "optax"])
def test_a_first(record_check, framework):
    record_check({"kind": "value", "loss": "huber", "dtype": "float32", "device": "cpu"})

@pytest.mark.parametrize("framework", ["torch"])
@pytest.mark.parametrize("dtype", ["float16"])
def test_b_stops(record_check, framework, dtype):
    record_check({"id": "stopper-started", "kind": "value", "loss": "mse"})
    how = os.environ.get("HOW", "wait")
    if how == "abort":
        os.abort()  # a framework aborting the interpreter
    Path("ready").write_text("ready")
    time.sleep(120)

@pytest.mark.parametrize("framework", ["optax"])
@pytest.mark.parametrize("loss", ["kl_divergence"])
def test_c_never_runs(record_check, framework, loss):
    record_check({"kind": "value", "dtype": "float32"})

def test_d_helper():
    pass
'''


def _start(tmp_path: Path, how: str) -> subprocess.Popen:
    (tmp_path / "test_stop.py").write_text(STOPPABLE)
    env = dict(os.environ, HOW=how, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "reports.pytest_plugin", "-p", "no:cacheprovider",
                             "-q", "--results", "out/results.json", "test_stop.py"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(process: subprocess.Popen, tmp_path: Path, sig: int) -> str:
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the run never reached its slow test"
        time.sleep(0.05)
    process.send_signal(sig)
    return process.communicate(timeout=60)[0]


def _previous(tmp_path: Path) -> Path:
    """A complete results file from an earlier run, which a run that dies must not delete."""
    path = results.write_atomic(tmp_path / "out" / "results.json",
                                make_doc([make_record(id="earlier-run", framework="torch")]))
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


@FULL
@pytest.mark.parametrize("how", ["sigkill", "abort"])
def test_a_run_that_dies_keeps_its_finished_checks(tmp_path, how, capsys):
    """SIGKILL midway (or a framework aborting the interpreter, without xdist): the earlier results file
    stays; ``python -m reports build`` of it reports the run that died, from its journal: the finished
    checks, the test that was running, the tests that never ran, plainly marked incomplete."""
    previous = _previous(tmp_path)
    process = _start(tmp_path, "abort" if how == "abort" else "wait")
    if how == "sigkill":
        _stop(process, tmp_path, signal.SIGKILL)
    else:
        process.communicate(timeout=120)
    assert process.returncode != 0
    assert results.load(previous)["checks"][0]["id"] == "earlier-run"  # not deleted, not replaced
    assert (tmp_path / "out" / ".partial" / "results.json.journal.jsonl").exists()

    out = tmp_path / "out" / "parity.html"
    assert cli.main(["build", str(previous), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "the latest run did not finish" in printed.err and "INCOMPLETE" in printed.out
    page = out.read_text()
    assert "Incomplete run" in page and "(incomplete run)</title>" in page
    rows = {r["id"]: r for r in html.data_rows(html.read_data_block(page))}
    assert {"value:huber:torch:float32:cpu", "value:huber:keras:float32:cpu", "value:huber:optax:float32:cpu"} <= set(rows)
    running = rows["test_stop.py::test_b_stops[float16-torch]"]
    assert (running["verdict"], running["framework"], running["dtype"]) == ("lost", "torch", "float16")
    assert "died while this test was running" in running["reason"]
    never = rows["test_stop.py::test_c_never_runs[kl_divergence-optax]"]
    assert (never["verdict"], never["framework"], never["loss"]) == ("lost", "optax", "kl_divergence")
    assert "earlier-run" not in rows
    banner = page.split('<div class="incomplete"', 1)[1]
    assert "test_<wbr>b_<wbr>stops" in banner and "test_<wbr>d_<wbr>helper" in banner  # running; never ran


@FULL
def test_an_interrupted_run_writes_its_results_marked_incomplete(tmp_path):
    """Ctrl-C: the run writes what finished, says it was interrupted and which tests did not finish
    (parity ones as lost records), and removes its journal."""
    _previous(tmp_path)
    process = _start(tmp_path, "wait")
    output = _stop(process, tmp_path, signal.SIGINT)
    assert process.returncode == 2, output
    doc = results.load(tmp_path / "out" / "results.json")
    incomplete = doc["run"]["incomplete"]
    assert incomplete["reason"].startswith("interrupted") and incomplete["finished"] == 3
    assert incomplete["collected"] == 6 and incomplete["journal"] is None
    assert incomplete["running"] == ["test_stop.py::test_b_stops[float16-torch]"]
    assert set(incomplete["missing"]) == {"test_stop.py::test_b_stops[float16-torch]",
                                          "test_stop.py::test_c_never_runs[kl_divergence-optax]",
                                          "test_stop.py::test_d_helper"}
    verdicts = {c["id"]: c["verdict"] for c in doc["checks"]}
    assert verdicts["test_stop.py::test_b_stops[float16-torch]"] == "lost"  # what it recorded died with it
    assert verdicts["test_stop.py::test_c_never_runs[kl_divergence-optax]"] == "lost"
    assert "incomplete run: interrupted" in output
    assert not (tmp_path / "out" / ".partial").exists()
    assert "Incomplete run" in html.render(doc)


def test_stopping_early_is_an_incomplete_run(suite):
    suite.makepyfile(test_suite=SUITE + MORE)
    result, doc = _run(suite, "-x")
    assert doc["run"]["incomplete"]["reason"].startswith("stopped early")
    assert "test_suite.py::test_skipped_parity_test[jax]" in doc["run"]["incomplete"]["missing"]
    complete, doc = _run(suite, "-k", "test_value")
    assert "incomplete" not in doc["run"]  # a selection is not an incomplete run


@FULL
def test_nothing_finished_keeps_the_previous_results(suite):
    suite.makepyfile(test_suite='''
import pytest

@pytest.fixture
def interrupt():
    raise KeyboardInterrupt

@pytest.mark.parametrize("framework", ["torch"])
def test_never(interrupt, framework):
    pass
''')
    previous = results.write_atomic(suite.path / "out" / "results.json", make_doc([make_record(id="earlier")]))
    result = suite.runpytest_subprocess("-p", "reports.pytest_plugin", "-p", "no:cacheprovider",
                                        "--results", "out/results.json")  # a KeyboardInterrupt: not in process
    doc = results.load(previous)
    assert [c["id"] for c in doc["checks"]] == ["earlier"]
    result.stdout.fnmatch_lines(["*no test finished: the previous results in *results.json were kept*"])
    assert previous.exists() and not (suite.path / "out" / ".partial").exists()
