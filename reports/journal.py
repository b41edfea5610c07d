"""The run journal: what a run has finished so far, on disk while it runs, so that a run that dies keeps
its results.

The pytest plugin (on the controller, or the only process without xdist) appends one JSON line per event
to ``<results folder>/.partial/<results name>.journal.jsonl``:

* ``{"journal": "lossparity.journal/1", "results": PATH, "pid", "host", "started", "pytest_args"}``
  first (the process and machine say whether the run is still going);
* ``{"planned": [node ids], "params": {node id: {framework, loss, dtype…}}}`` once the tests are
  collected (under xdist the parameters come from the workers' ``*.params.<worker>.json`` beside it);
* ``{"start": node id}`` when a test starts, ``{"done": node id, "checks": [records]}`` when its records
  are settled (every record complete, with its verdict);
* ``{"settings": {...}}`` at the end, just before the results file is written.

Each line is written whole and flushed (a killed process loses nothing it wrote: the data is in the
kernel), and a torn last line (a machine crash) is ignored on reading.  When the run finishes, the
plugin writes the results file and removes the journal: a journal that is still there means the last
run on that results path never finished (it was killed, crashed or is still running).
:func:`load_latest` then rebuilds that run's results from the journal, marked incomplete
(``run.incomplete``), instead of reporting the older results file as if it were current.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import results

JOURNAL_SCHEMA = "lossparity.journal/1"
PARTIAL_DIR = ".partial"
SUFFIX = ".journal.jsonl"

DIED = "the run died before it finished (killed, crashed or still running)"
RUNNING_REASON = "lost: the run died while this test was running (a crash here would explain it)"
NOT_RUN_REASON = "lost: never finished: the run stopped before this test ({why})"


def journal_path(results_path: str | os.PathLike) -> Path:
    """Where the journal of a run writing ``results_path`` lives."""
    path = Path(results_path)
    return path.parent / PARTIAL_DIR / f"{path.name}{SUFFIX}"


def params_path(journal: str | os.PathLike, worker: str) -> Path:
    """Where an xdist worker leaves the parameters of the tests it collected."""
    path = Path(journal)
    return path.with_name(f"{path.name}.params.{worker}.json")


def _line(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"


class JournalWriter:
    """Appends a run's events to its journal (see the module docstring); line-buffered and flushed."""

    def __init__(self, path: str | os.PathLike, results_path: str | os.PathLike, *, started: str,
                 pytest_args: Iterable[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the run
        self._write({"journal": JOURNAL_SCHEMA, "results": str(results_path), "pid": os.getpid(),
                     "host": socket.gethostname(), "started": started, "pytest_args": [str(a) for a in pytest_args]})

    def _write(self, value: Any) -> None:
        if self._file is not None and not self._file.closed:
            try:
                self._file.write(_line(value))
                self._file.flush()
            except OSError:  # a full disk: the journal is a safety net, the run goes on without it
                self._file = None

    def planned(self, ids: Iterable[str], params: Mapping[str, Mapping[str, str]]) -> None:
        self._write({"planned": list(ids), "params": {k: dict(v) for k, v in params.items() if v}})

    def start(self, nodeid: str) -> None:
        self._write({"start": nodeid})

    def done(self, nodeid: str, checks: list[dict]) -> None:
        self._write({"done": nodeid, "checks": checks})

    def settings(self, settings: Mapping[str, Any]) -> None:
        self._write({"settings": results.canonical(dict(settings))})

    def close(self, *, remove: bool) -> None:
        """Close; ``remove`` (the results file is written) deletes the journal and the workers' files."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        if remove:
            for path in [self.path, *self.path.parent.glob(f"{self.path.name}.params.*.json")]:
                path.unlink(missing_ok=True)
            try:
                self.path.parent.rmdir()  # only when empty: other runs' journals stay
            except OSError:
                pass


def read_events(path: str | os.PathLike) -> list[dict]:
    """The journal's events; a torn or garbled line (a machine crash mid-write) is skipped."""
    events = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def recover(path: str | os.PathLike) -> dict:
    """A results document rebuilt from the journal at ``path``: every settled record, a ``lost`` record
    for each parity test that started and never finished and for each one that never started, and
    ``run.incomplete`` saying why and what is missing.  Validated."""
    path = Path(path)
    events = read_events(path)
    if not events or events[0].get("journal") != JOURNAL_SCHEMA:
        raise results.ResultsError("$", f"{path} is not a lossparity run journal")
    head = events[0]
    planned: list[str] = []
    params: dict[str, dict] = {}
    for sidecar in sorted(path.parent.glob(f"{path.name}.params.*.json")):
        try:
            params.update(json.loads(sidecar.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    started: dict[str, None] = {}
    done: dict[str, list] = {}
    settings: dict[str, Any] | None = None
    for event in events[1:]:
        if "planned" in event:
            planned = [str(i) for i in event["planned"]]
            params.update(event.get("params") or {})
        elif "start" in event:
            started[str(event["start"])] = None
        elif "done" in event:
            done[str(event["done"])] = list(event.get("checks") or [])
        elif "settings" in event:
            settings = event["settings"]
    alive = head.get("host") == socket.gethostname() and _alive(head.get("pid"))
    why = "the run is still going" if alive else "the run died"
    running = [n for n in started if n not in done]
    missing = running + [n for n in planned if n not in done and n not in started]
    checks = [record for records in done.values() for record in records]
    for nodeid in missing:
        if params.get(nodeid):
            reason = RUNNING_REASON if nodeid in started else NOT_RUN_REASON.format(why=why.removeprefix("the "))
            checks.append(results.lost_record(nodeid, "lost", reason, params[nodeid]))
    frameworks = None if settings else {
        r["framework"]: r["framework_version"] for r in checks if r.get("framework") and r.get("framework_version")}
    run = results.make_run(settings or {}, head.get("pytest_args") or [], started=head.get("started"),
                           finished=None, frameworks=frameworks)
    state = "still running (its process is alive)" if alive else DIED
    run["incomplete"] = {
        "reason": f"{state}: rebuilt from its journal; {len(done)} of {len(planned) or '?'} tests finished",
        "collected": len(planned) if planned else None, "finished": len(done), "running": running,
        "missing": missing, "journal": str(path)}
    doc = results.make_doc(results.unique_ids(checks), run)
    doc = results.canonical_doc(doc)
    results.validate(doc)
    return doc


def load_latest(path: str | os.PathLike) -> tuple[dict, str | None]:
    """The latest results for ``path``: the file itself, unless a run on that path started after it was
    written and never finished (its journal is still there): then that run's results, rebuilt from the
    journal and marked incomplete.  ``path`` may also name a journal.  Returns (document, a note for
    the user or None)."""
    path = Path(path)
    if path.name.endswith(SUFFIX):
        return recover(path), f"{path}: a run journal: rebuilt the results of a run that did not finish"
    journal = journal_path(path)
    if journal.exists() and (not path.exists() or journal.stat().st_mtime >= path.stat().st_mtime):
        doc = recover(journal)
        kept = f"; the previous complete results stay in {path}" if path.exists() else ""
        return doc, (f"{path}: the latest run did not finish ({doc['run']['incomplete']['reason']}); "
                     f"reporting its {len(doc['checks'])} checks from {journal}{kept}")
    if not path.exists():
        raise results.ResultsError(str(path), "no such results file (and no journal of a run that died)")
    return results.load(path), None
