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

* a test's parameters say which cell its records (and a synthetic record) belong to: parameters named
  like a record field (:data:`ITEM_PARAMS`, or an alias in :data:`ALIASES` such as ``adapter_name``),
  the fields of a parameter object (an ``Item`` with ``adapter``, ``binding``, ``form``, ``dtype``,
  ``device`` and ``inputs.loss`` / ``inputs.id``; a case with ``id``, ``loss``, ``dtype``), and the
  framework a tuple parameter starts with when the test carries a marker of that name
  (``("<framework>", case_id)`` marked with the framework), see :func:`item_params`.

While the session runs, the controller keeps a journal of what finished (:mod:`reports.journal`), so a
run that dies (a framework aborting the interpreter, SIGKILL) leaves its finished checks behind;
``python -m reports build`` rebuilds them, marked incomplete.  A run that is interrupted (Ctrl-C) or
stops early (``-x``) writes its results with ``run.incomplete`` (why, and which selected tests did not
finish; those that are parity tests get a ``lost`` record).  The results file is replaced only when the
new run has finished at least one test: the previous one is never deleted first.

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
from typing import Any, Callable, Iterable

import pytest

from . import journal, results
from .summary import summary_lines

CHECK_PROPERTY = "lossparity_check"
ITEM_PROPERTY = "lossparity_item"
OUTCOME_PROPERTY = "lossparity_outcome"
# Test parameters that become record defaults (and mark a test as a parity test).  A parameter that is
# an object rather than a string contributes its fields (see :func:`item_params`).
ITEM_PARAMS = ("case", "loss", "framework", "dtype", "device", "api", "convention", "binding", "form")
# Parameter names that mean a record field under another name.
ALIASES = {"adapter": "framework", "adapter_name": "framework", "framework_name": "framework"}
# Attributes of a parameter object, and the record field each one fills.
ATTRIBUTES = (("framework", "framework"), ("adapter", "framework"), ("loss", "loss"), ("dtype", "dtype"),
              ("device", "device"), ("binding", "binding"), ("form", "form"), ("convention", "convention"))
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
    """The record fields a test's parameters name, as strings: what its records default to and where a
    synthetic record of the test (lost, skipped, never run) goes in the matrix.

    In order of precedence: a string parameter named like a field (:data:`ITEM_PARAMS`) or an alias of
    one (:data:`ALIASES`); then, for a parameter object, its string attributes (:data:`ATTRIBUTES`), its
    ``inputs``' ``loss`` and ``id`` (the case), a ``case`` parameter's ``id`` and the ``name`` of an
    object given for another field (an adapter as ``framework``); then, for a tuple
    parameter, its first element when the test carries a marker of that name (the suite marks every
    parameter with its framework).
    """
    params = getattr(getattr(item, "callspec", None), "params", {})
    found: dict[str, str] = {}
    for name, value in params.items():
        field_name = ALIASES.get(name, name)
        if isinstance(value, str) and field_name in ITEM_PARAMS:
            found[field_name] = value
    marks = None
    for name, value in params.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            continue
        if isinstance(value, (tuple, list)):
            if value and isinstance(value[0], str):
                marks = {m.name for m in item.iter_markers()} if marks is None else marks
                if value[0] in marks:
                    found.setdefault("framework", value[0])
            continue
        field_name = ALIASES.get(name, name)
        named = getattr(value, "id" if field_name == "case" else "name", None)
        if field_name in ITEM_PARAMS and isinstance(named, str):  # an adapter object as ``framework``…
            found.setdefault(field_name, named)
        _object_fields(value, found, is_case=field_name == "case")
    return found


def _object_fields(value: Any, found: dict[str, str], *, is_case: bool) -> None:
    """Fill ``found`` from a parameter object's attributes (never overriding what is there)."""
    for attribute, field_name in ATTRIBUTES:
        text = getattr(value, attribute, None)
        if isinstance(text, str) and text:
            found.setdefault(field_name, text)
    if is_case and isinstance(getattr(value, "id", None), str):
        found.setdefault("case", value.id)
    inputs = getattr(value, "inputs", None)
    if inputs is not None and not isinstance(inputs, (dict, list, tuple, str)):
        for attribute, field_name in (("loss", "loss"), ("id", "case")):
            text = getattr(inputs, attribute, None)
            if isinstance(text, str) and text:
                found.setdefault(field_name, text)


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


WORKER_JOURNAL = "lossparity_journal"
WORKER_SETTINGS = "lossparity_settings"


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker: leave the parameters of the collected tests beside the controller's journal,
    so that a test whose worker dies before its setup report arrives is still attributed."""
    workerinput = getattr(session.config, "workerinput", None)
    if not workerinput or not workerinput.get(WORKER_JOURNAL):
        return
    params = planned_params(session.items)
    target = journal.params_path(workerinput[WORKER_JOURNAL], str(workerinput.get("workerid", "gw")))
    try:
        results.write_text_atomic(target, json.dumps(params, sort_keys=True))
    except OSError:
        pass  # the journal is a safety net: never fail a run over it


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: send the run's settings (``pytest_lossparity_run_settings``) back in its
    ``workeroutput``; the frameworks are loaded there, and the settings are the state the checks ran in,
    so the controller need not import every framework only to describe them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is None or not hasattr(session.config, "workerinput"):
        return
    try:
        workeroutput[WORKER_SETTINGS] = json.dumps(_run_settings(session.config), sort_keys=True, default=str)
    except Exception:  # noqa: BLE001 - the controller then asks the hook itself
        pass


def _run_settings(config: pytest.Config) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for answer in config.hook.pytest_lossparity_run_settings(config=config):
        merged.update(answer or {})
    return merged


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
    """Collects records from test reports, journals them while the session runs and writes the results
    file at the end of the session."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.started = results.now_iso()
        self.pending: dict[str, _TestState] = {}
        self.checks: list[dict] = []
        self.path: Path | None = self._results_path(config)
        self.written: dict | None = None
        self.renamed = 0  # checks whose id repeated another's and got a "#2"-style suffix
        self.planned: list[str] | None = None  # node ids the run selected (None: not known yet)
        self.params: dict[str, dict[str, str]] = {}  # node id -> item_params, when known
        self._sidecars_read: dict[str, tuple[int, int]] = {}  # sidecar path -> (size, mtime) when last read
        self.finished: set[str] = set()  # tests whose reports all arrived
        self.incomplete: dict | None = None
        self.journal: journal.JournalWriter | None = None
        self.kept_previous = False  # the run finished no test: the previous results file was kept
        self.worker_settings: dict[str, Any] | None = None  # under xdist: what the first worker that ended sent

    @staticmethod
    def _results_path(config: pytest.Config) -> Path | None:
        if config.getoption("no_results"):
            return None
        option = config.getoption("results")
        if option is None:
            return config.rootpath / DEFAULT_RESULTS
        return config.invocation_params.dir / option

    # -- the journal ----------------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.path is None:
            return
        try:
            self.journal = journal.JournalWriter(journal.journal_path(self.path), self.path, started=self.started,
                                                 pytest_args=self.config.invocation_params.args)
        except OSError as exc:  # a read-only folder: run without the safety net, and say so
            self.journal = None
            self.config.issue_config_time_warning(
                pytest.PytestWarning(f"lossparity: no run journal ({exc}); a crash would lose the results"), 2)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist (controller): tell each worker where the journal is, for its parameters file."""
        if self.journal is not None:
            node.workerinput[WORKER_JOURNAL] = str(self.journal.path)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist: the selected tests and their parameters."""
        if hasattr(self.config, "workerinput"):
            return
        self.params.update(planned_params(session.items))
        self._planned([i.nodeid for i in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """With xdist: the tests a worker collected (every worker collects the same)."""
        if self.planned is None:
            self._planned(list(ids))

    def _planned(self, ids: list[str]) -> None:
        self.planned = ids
        if self.journal is not None:
            self.journal.planned(ids, {i: self.params[i] for i in ids if i in self.params})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        if self.journal is not None:
            self.journal.start(nodeid)

    def _params_of(self, nodeid: str) -> dict[str, str]:
        """A test's parameters when its own reports did not bring them (it died before its setup ended)."""
        if nodeid not in self.params and self.journal is not None:
            for sidecar in self.journal.path.parent.glob(f"{self.journal.path.name}.params.*.json"):
                # Most tests without parameters are helpers that never will have any: re-read a worker's
                # file only when it changed (re-parsing every file for each such test cost the controller
                # about 40 s of CPU at 6,600 tests).
                try:
                    stat = sidecar.stat()
                    signature = (stat.st_size, stat.st_mtime_ns)
                    if self._sidecars_read.get(str(sidecar)) == signature:
                        continue
                    self.params.update(json.loads(sidecar.read_text(encoding="utf-8")))
                    self._sidecars_read[str(sidecar)] = signature
                except (OSError, ValueError):
                    continue
        return dict(self.params.get(nodeid) or {})

    # -- reports ----------------------------------------------------------------------------------------
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
            self.finished.add(report.nodeid)

    def _settle(self, nodeid: str) -> None:
        """Give the test's records their final verdicts and add synthetic ones (module docstring)."""
        state = self.pending.pop(nodeid)
        if not state.params:
            state.params = self._params_of(nodeid)
        settled = []
        for record in state.records:
            if record["verdict"] is None:
                record["verdict"] = state.verdict
                if not record["reason"]:
                    record["reason"] = state.reason
            settled.append(record)
        parity = bool(state.records or state.params)
        if state.verdict == "lost" or (parity and not state.records and state.verdict != "pass"):
            settled.append(results.lost_record(nodeid, state.verdict, state.reason, state.params))
        self.checks.extend(settled)
        if self.journal is not None:
            self.journal.done(nodeid, settled)

    # -- the end ----------------------------------------------------------------------------------------
    def _incompleteness(self, session: pytest.Session, exitstatus: int, running: list[str]) -> dict | None:
        """``run.incomplete`` of this session, or None when every selected test finished."""
        never = [n for n in (self.planned or ()) if n not in self.finished and n not in running]
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        stopped = session.shouldfail or session.shouldstop
        if not (running or never or interrupted):
            return None
        if interrupted:
            why = "interrupted" + (f" ({stopped})" if isinstance(stopped, str) and stopped else "")
        elif isinstance(stopped, str) and stopped:
            why = f"stopped early ({stopped})"
        else:
            why = "some selected tests never reported"
        for nodeid in never:
            params = self._params_of(nodeid)
            if params:
                reason = journal.NOT_RUN_REASON.format(why=why)
                self.checks.append(results.lost_record(nodeid, "lost", reason, params))
        total = len(self.planned) if self.planned is not None else None
        return {"reason": f"{why}: {len(self.finished)} of {total if total is not None else '?'} tests finished",
                "collected": total, "finished": len(self.finished), "running": running,
                "missing": running + never, "journal": None}

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        running = sorted(self.pending)
        for nodeid in running:  # interrupted tests: settle with what arrived
            if self.pending[nodeid].verdict == "pass":
                self.pending[nodeid].downgrade("lost", "the test did not finish (session interrupted)")
            self._settle(nodeid)
        if self.path is None:
            return
        self.incomplete = self._incompleteness(session, exitstatus, running)
        if not self.checks or (self.incomplete is not None and not self.finished):
            # Only helper tests ran, or nothing finished: the previous results stay as they were.
            self.kept_previous = self.incomplete is not None and not self.finished and self.path.exists()
            if self.journal is not None:
                self.journal.close(remove=True)
            return
        settings = self._settings()
        if self.journal is not None:
            self.journal.settings(settings)
        run = results.make_run(settings, self.config.invocation_params.args,
                               started=self.started, finished=results.now_iso())
        if self.incomplete is not None:
            run["incomplete"] = self.incomplete
        checks = results.unique_ids(self.checks)
        self.renamed = len(checks) - len({c["id"] for c in self.checks})
        doc = results.make_doc(checks, run)
        try:
            results.write_atomic(self.path, doc)
        except BaseException:
            if self.journal is not None:
                self.journal.close(remove=False)  # the journal still has what finished
            raise
        if self.journal is not None:
            self.journal.close(remove=True)
        self.written = doc

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist (controller): keep the settings a worker sent back (:func:`pytest_sessionfinish`)."""
        sent = getattr(node, "workeroutput", {}).get(WORKER_SETTINGS)
        if sent and self.worker_settings is None:
            try:
                self.worker_settings = json.loads(sent)
            except ValueError:
                pass

    def _settings(self) -> dict[str, Any]:
        """The run's settings: as a worker reported them, else from the hook in this process."""
        return self.worker_settings if self.worker_settings is not None else _run_settings(self.config)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.kept_previous:
            terminalreporter.write_sep("=", "lossparity")
            terminalreporter.write_line(f"no test finished: the previous results in {self.path} were kept",
                                        yellow=True)
        if self.written is None:
            return
        terminalreporter.write_sep("=", "lossparity")
        for line in summary_lines(self.written, str(self.path)):
            terminalreporter.write_line(line)
        if self.incomplete is not None:
            terminalreporter.write_line(f"incomplete run: {self.incomplete['reason']}; "
                                        f"{len(self.incomplete['missing'])} selected test(s) did not finish",
                                        red=True)
        if self.renamed:
            terminalreporter.write_line(f"warning: {self.renamed} check id(s) were not unique and got a #N suffix; "
                                        "give those checks distinct ids", yellow=True)


def planned_params(items: Iterable[pytest.Item]) -> dict[str, dict[str, str]]:
    """Node id -> :func:`item_params` of ``items`` (those with parameters)."""
    return {i.nodeid: p for i in items if (p := item_params(i))}
