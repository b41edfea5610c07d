"""The main job's process variants: each variant of ``adapters/variants.py`` in its own pytest process, merged.

:func:`run_all` starts one ``python -m pytest`` per variant (its environment decided before any framework is
imported, its frameworks and test paths, ``--results <dir>/.partial/<variant>.json``), ``jobs`` at a time:
the first variant's output goes to the terminal, the others' to ``<variant>.log`` beside their results.  Then
the results files are merged into one document (one run per variant, labelled by the variant's name;
:func:`reports.results.merge`) and written to the results path.  A variant that dies (a crash at import, a
signal, the timeout) or writes no results is one ``lost`` record per framework of it, whose reason is the end
of its log; the others are reported as usual.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from . import results
from . import variants as comparison
from .summary import summary_lines

__all__ = ["Outcome", "run_all", "lost_document"]

LOG_TAIL = 1500  # characters of a dead variant's log kept in its lost record


@dataclass
class _Job:
    variant: Any
    command: list[str]
    env: dict[str, str]
    results: Path
    log: Path
    stream: bool
    process: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    code: int | None = None
    timed_out: bool = False
    handle: Any = None


@dataclass
class Outcome:
    """What :func:`run_all` produced: the merged document (written already), lines to print, the exit code."""

    document: dict
    lines: list[str] = field(default_factory=list)
    code: int = 0


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-LOG_TAIL:].split())


def lost_document(variant: Any, reason: str, command: Sequence[str] = ()) -> dict:
    """A results document for a variant that produced none: one ``lost`` record per framework it runs."""
    frameworks = list(variant.frameworks) or [None]
    checks = [results.complete_record({"id": f"variant:{variant.name}" + (f":{name}" if name else ""),
                                       "kind": "test", "framework": name, "verdict": "lost", "reason": reason,
                                       "duration_s": None})
              for name in frameworks]
    run = results.make_run({"variant": variant.name, "environment": dict(variant.env)}, list(command),
                           started=results.now_iso(), finished=results.now_iso())
    return results.make_doc(checks, run)


def _start(job: _Job) -> None:
    job.started = time.monotonic()
    out = None
    if not job.stream:
        job.handle = open(job.log, "w", encoding="utf-8")  # noqa: SIM115 - closed in _finish
        out = job.handle
    else:
        print(f"$ [{job.variant.name}] " + " ".join(job.command), flush=True)
    job.process = subprocess.Popen(job.command, env=job.env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                   start_new_session=True)


def _finish(job: _Job, code: int) -> None:
    job.code = code
    job.seconds = time.monotonic() - job.started
    if job.handle is not None:
        job.handle.close()
        job.handle = None


def _stop(job: _Job) -> None:
    """Stop a variant's process group (the pytest process this module started, and its children)."""
    try:
        os.killpg(job.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    job.timed_out = True
    _finish(job, job.process.wait())


def _run(jobs: list[_Job], parallel: int, timeout: float) -> None:
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < max(1, parallel):
            job = pending.pop(0)
            _start(job)
            running.append(job)
        time.sleep(0.2)
        for job in list(running):
            code = job.process.poll()
            if code is not None:
                _finish(job, code)
            elif time.monotonic() - job.started > timeout:
                _stop(job)
            else:
                continue
            running.remove(job)
            if not job.stream:
                print(f"[{job.variant.name}] exit code {job.code} after {job.seconds:.0f} s (log: {job.log})",
                      flush=True)


def _document(job: _Job) -> tuple[dict, str | None]:
    """The job's results, or a lost document; and a note when something went wrong."""
    what = None
    if job.timed_out:
        what = f"was stopped after {job.seconds:.0f} s (--variant-timeout)"
    elif job.code not in (0, 1):
        what = f"exited with code {job.code}" + (f" (signal {-job.code})" if job.code and job.code < 0 else "")
    if job.results.exists() and not job.timed_out:
        try:
            doc = results.load(job.results)
        except results.ResultsError as exc:
            what = f"wrote an invalid results file ({exc})"
        else:
            return doc, (f"variant {job.variant.name} {what}" if what else None)
    what = what or "wrote no results file"
    reason = f"the {job.variant.name} process {what}: {_tail(job.log) or '(no output)'}"
    return lost_document(job.variant, reason, job.command), f"variant {job.variant.name} {what}"


def run_all(chosen: Sequence[Any], extra: Sequence[str], results_path: Path, *, jobs: int = 2,
            timeout: float = 3600.0, python: str = sys.executable) -> Outcome:
    """Run every variant in ``chosen`` (``adapters.variants.Variant``) with the pytest arguments ``extra``,
    merge their results into ``results_path``, and say how it went (see the module docstring)."""
    from adapters import variants

    partial = results_path.parent / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    job_list = []
    for index, variant in enumerate(chosen):
        path = partial / f"{variant.name}.json"
        path.unlink(missing_ok=True)
        # -p no:logging: pytest 9's log capture attaches itself to every non-propagating logger (the
        # frameworks leave dozens) at each phase of each test, about 2 ms a test here.
        command = [python, "-m", "pytest", "-p", "no:logging", "--results", str(path),
                   *variants.pytest_args(variant, quick=False), *extra]
        job_list.append(_Job(variant, command, variants.environment(variant), path, partial / f"{variant.name}.log",
                             stream=index == 0))
    started = time.monotonic()
    _run(job_list, jobs, timeout)
    docs, notes = [], []
    for job in job_list:
        doc, note = _document(job)
        docs.append(doc)
        if note:
            notes.append(note)
    merged = docs[0] if len(docs) == 1 else results.merge(docs, [job.variant.name for job in job_list])
    results.write_atomic(results_path, merged)
    lines = [f"variants: {len(job_list)} processes in {time.monotonic() - started:.0f} s wall "
             f"({jobs} at a time); results: {results_path}"]
    for job, doc in zip(job_list, docs):
        first = summary_lines(doc)[0]
        lines.append(f"  {job.variant.name:<14} exit {job.code} in {job.seconds:.0f} s: {first}")
    lines += [f"warning: {note}" for note in notes]
    if len(docs) > 1:
        lines += comparison.text_lines(comparison.compare(merged))
    codes = [job.code for job in job_list]
    code = 0 if all(c == 0 for c in codes) and not notes else (1 if all(c in (0, 1) for c in codes) else 2)
    return Outcome(merged, lines, code)
