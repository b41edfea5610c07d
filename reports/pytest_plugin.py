"""pytest plugin: every check a test records ends up in ``reports/results.json``.

How a record travels: the ``record_check`` fixture completes the record and appends it to the test's
``user_properties`` as ``("lossparity_check", json)``.  pytest copies ``user_properties`` into every test
report, and pytest-xdist ships reports from its workers to the controller, so the controller's
``pytest_runtest_logreport`` sees the records whether or not xdist is used: one mechanism for both.

On the controller each test's records are settled when its teardown report arrives (or when xdist says
its worker crashed):

* a record whose test did not set ``verdict`` gets one from the test's outcome: ``pass``; ``fail`` when
  the call phase failed on an assertion (``error`` for any other exception, or a setup/teardown
  failure); ``skip`` when skipped; ``deviation`` when the test is an expected failure (``xfail``: a
  known, declared departure); ``lost`` when the worker crashed;
* a test that crashed its worker also gets a synthetic ``lost`` record (id = the test's node id), since
  whatever it recorded during its call phase died with the worker;
* a *parity test* that recorded nothing but was skipped or failed gets one synthetic record with that
  verdict and reason, so that the matrix shows missing coverage instead of hiding it.  A parity test is
  one that recorded a check or is parametrized by one of :data:`ITEM_PARAMS` (``framework``, ``loss``…);
  helper tests (the report's own tests, say) stay out of the results.

Options: ``--results PATH`` (default ``<rootdir>/reports/results.json``) and ``--no-results``.  A session
that recorded no check at all (only helper tests ran) leaves an existing results file alone.
A conftest supplies the run's numerical settings (reduced-precision matmuls, x64, determinism…) by
implementing the hook ``pytest_lossparity_run_settings(config) -> dict``; all answers are merged into
``run.settings``, and every entry that is a dict with a ``version`` (an adapter's settings:
``{"<adapter>": {"version": "1.2.3", ...}}``) also goes to ``run.frameworks`` (name -> version): the
plugin knows no framework by name.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from . import results
from .summary import summary_lines

CHECK_PROPERTY = "lossparity_check"
ITEM_PROPERTY = "lossparity_item"
OUTCOME_PROPERTY = "lossparity_outcome"
# Test parameters that become record defaults (and mark a test as a parity test).  A parameter that is
# an object rather than a string contributes its ``id`` (for ``case``) or its ``name`` (e.g. an adapter).
ITEM_PARAMS = ("case", "loss", "framework", "dtype", "device", "api", "convention")
DEFAULT_RESULTS = "reports/results.json"
REASON_LIMIT = 500
COLLECTOR_NAME = "lossparity-results"


class Hooks:
    """Hook specifications this plugin adds."""

    @pytest.hookspec
    def pytest_lossparity_run_settings(self, config: pytest.Config) -> dict[str, Any]:
        """Return the numerical settings this run uses (e.g. ``{"<adapter>.x64": True, "determinism": True}``);
        they are written to ``run.settings`` of the results file.  An entry whose value is a dict with a
        string ``version`` describes an adapter (``{"<adapter>": {"version": "1.2.3", "x64": True}}``): its
        version is also written to ``run.frameworks``."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(Hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lossparity", "lossparity results")
    group.addoption("--results", metavar="PATH", default=None,
                    help=f"where to write the results file (default: <rootdir>/{DEFAULT_RESULTS})")
    group.addoption("--no-results", action="store_true", default=False,
                    help="do not write a results file")


def pytest_configure(config: pytest.Config) -> None:
    """Register the collector on the controller (or a plain run); xdist workers only forward reports."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultsCollector(config), COLLECTOR_NAME)


# --------------------------------------------------------------------------------------------------
# Worker side: the fixture and the report annotations
# --------------------------------------------------------------------------------------------------

def item_params(item: pytest.Item) -> dict[str, str]:
    """The test's parameters that name record fields (see :data:`ITEM_PARAMS`), as strings."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    found = {}
    for name in ITEM_PARAMS:
        if name not in params:
            continue
        value = params[name]
        if not isinstance(value, str):
            value = getattr(value, "id" if name == "case" else "name", None)
        if isinstance(value, str):
            found[name] = value
    return found


@pytest.fixture
def record_check(request: pytest.FixtureRequest) -> Callable[[dict], dict]:
    """``record_check(record)`` stores one check of this test and returns the completed record.

    Missing fields default to the test's parameters (see :data:`ITEM_PARAMS`), then to null; ``id``
    defaults to ``kind:case-or-loss:framework:api:dtype:device``; ``duration_s`` to the time since the
    test's previous record (or its start).  Leave ``verdict`` out to let the test's outcome decide it.
    The fields are those of :class:`lossparity.records.CheckRecord` (``binding``, ``form``,
    ``reduction``, ``args`` and ``flags`` are top-level fields, not ``extra``); unknown fields raise
    ``TypeError``: free-form data goes under ``extra``.
    """
    defaults = dict(item_params(request.node), test=request.node.nodeid)
    last = [time.perf_counter()]

    def record(check: dict) -> dict:
        now = time.perf_counter()
        check = dict(check)
        check.setdefault("duration_s", now - last[0])
        last[0] = now
        full = results.complete_record(check, defaults)
        results.validate_record(full)
        request.node.user_properties.append((CHECK_PROPERTY, json.dumps(full, sort_keys=True)))
        return full

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Annotate reports (on the worker, where the item and the exception are still at hand): the setup
    report carries the test's parameters (so that a crash later can still be attributed) and a failed
    report says whether the failure was an assertion (``fail``) or another exception (``error``)."""
    report = yield
    if report.when == "setup":
        params = item_params(item)
        if params:
            report.user_properties.append((ITEM_PROPERTY, json.dumps(params, sort_keys=True)))
    if report.failed and call.excinfo is not None:
        assertion = call.excinfo.errisinstance((AssertionError, pytest.fail.Exception))
        verdict = "fail" if assertion and report.when == "call" else "error"
        report.user_properties.append((OUTCOME_PROPERTY, verdict))
    return report


# --------------------------------------------------------------------------------------------------
# Controller side: settle each test's records and write the file
# --------------------------------------------------------------------------------------------------

@dataclass
class _TestState:
    """What the controller knows of one test while its reports arrive."""

    records: list[dict] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    verdict: str = "pass"
    reason: str = ""

    def downgrade(self, verdict: str, reason: str) -> None:
        """Keep the worst outcome seen over the test's phases (a teardown error after a pass, say)."""
        if results.SEVERITY[verdict] > results.SEVERITY[self.verdict] or self.verdict == "pass":
            self.verdict, self.reason = verdict, reason


def _report_reason(report: pytest.TestReport) -> str:
    """One line saying why a test did not pass: the skip reason, the exception line, the crash."""
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}".strip()
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        text = str(longrepr[2]).removeprefix("Skipped: ")
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(longrepr or "")
    text = " ".join(text.split())
    return text[:REASON_LIMIT]


def _report_verdict(report: pytest.TestReport) -> str | None:
    """The verdict a report implies, None for a passing phase."""
    if report.when not in ("setup", "call", "teardown"):
        return "lost"  # xdist's "worker crashed" report has when="???"
    if report.skipped:
        return "deviation" if hasattr(report, "wasxfail") else "skip"
    if report.failed:
        annotated = [v for k, v in report.user_properties if k == OUTCOME_PROPERTY]
        return annotated[-1] if annotated else ("fail" if report.when == "call" else "error")
    return None


class ResultsCollector:
    """Collects records from test reports and writes the results file at the end of the session."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.started = results.now_iso()
        self.pending: dict[str, _TestState] = {}
        self.checks: list[dict] = []
        self.path: Path | None = self._results_path(config)
        self.written: dict | None = None
        self.renamed = 0  # checks whose id repeated another's and got a "#2"-style suffix

    @staticmethod
    def _results_path(config: pytest.Config) -> Path | None:
        if config.getoption("no_results"):
            return None
        option = config.getoption("results")
        if option is None:
            return config.rootpath / DEFAULT_RESULTS
        return config.invocation_params.dir / option

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.pending.setdefault(report.nodeid, _TestState())
        records = [json.loads(v) for k, v in report.user_properties if k == CHECK_PROPERTY]
        # user_properties only grow during a test and each report copies them: the latest wins.
        if len(records) >= len(state.records):
            state.records = records
        for key, value in report.user_properties:
            if key == ITEM_PROPERTY:
                state.params = json.loads(value)
        verdict = _report_verdict(report)
        if verdict is not None:
            state.downgrade(verdict, _report_reason(report))
        if report.when not in ("setup", "call"):
            self._settle(report.nodeid)

    def _settle(self, nodeid: str) -> None:
        """Give the test's records their final verdicts and add synthetic ones (module docstring)."""
        state = self.pending.pop(nodeid)
        for record in state.records:
            if record["verdict"] is None:
                record["verdict"] = state.verdict
                if not record["reason"]:
                    record["reason"] = state.reason
            self.checks.append(record)
        parity = bool(state.records or state.params)
        if state.verdict == "lost" or (parity and not state.records and state.verdict != "pass"):
            self.checks.append(self._synthetic(nodeid, state))

    @staticmethod
    def _synthetic(nodeid: str, state: _TestState) -> dict:
        record = {"id": nodeid, "test": nodeid, "verdict": state.verdict, "reason": state.reason,
                  "duration_s": None}
        return results.complete_record(record, state.params)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for nodeid in sorted(self.pending):  # interrupted tests: settle with what arrived
            if self.pending[nodeid].verdict == "pass":
                self.pending[nodeid].downgrade("lost", "the test did not finish (session interrupted)")
            self._settle(nodeid)
        if self.path is None or not self.checks:  # e.g. only helper tests ran: keep the last results
            return
        run = results.make_run(self._settings(), self.config.invocation_params.args,
                               started=self.started, finished=results.now_iso())
        checks = results.unique_ids(self.checks)
        self.renamed = len(checks) - len({c["id"] for c in self.checks})
        doc = results.make_doc(checks, run)
        results.write_atomic(self.path, doc)
        self.written = doc

    def _settings(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for answer in self.config.hook.pytest_lossparity_run_settings(config=self.config):
            merged.update(answer or {})
        return merged

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is None:
            return
        terminalreporter.write_sep("=", "lossparity")
        for line in summary_lines(self.written, str(self.path)):
            terminalreporter.write_line(line)
        if self.renamed:
            terminalreporter.write_line(f"warning: {self.renamed} check id(s) were not unique and got a #N suffix; "
                                        "give those checks distinct ids", yellow=True)
