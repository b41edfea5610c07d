"""``python -m reports``: the main job (pytest then report), build, merge and diff."""
from __future__ import annotations

import json
import os
from pathlib import Path

from reports import cli, html, results
from tests.report.synthetic import make_doc, make_record, synthetic_checks

ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, checks: list[dict]) -> Path:
    return results.write_atomic(path, make_doc(checks))


def test_build_merges_several_files(tmp_path, capsys):
    cpu = _write(tmp_path / "results-cpu.json", synthetic_checks(40, device="cpu"))
    gpu = _write(tmp_path / "results-gpu.json", synthetic_checks(40, device="gpu"))
    out = tmp_path / "site" / "parity.html"
    assert cli.main(["build", str(cpu), str(gpu), "-o", str(out)]) == 0
    page = out.read_text()
    assert "results-cpu" in page and "results-gpu" in page  # the runs table names both
    printed = capsys.readouterr().out
    assert printed.startswith("80 checks:") and f"report: {out.resolve()}" in printed


def test_merge_writes_a_labelled_document(tmp_path, capsys):
    a = _write(tmp_path / "results-torch.json", [make_record(id="t")])
    b = _write(tmp_path / "results-keras.json", [make_record(id="k", framework="keras")])
    assert cli.main(["merge", str(a), str(b), "-o", str(tmp_path / "merged.json")]) == 0
    merged = results.load(tmp_path / "merged.json")
    assert [r["label"] for r in merged["runs"]] == ["results-torch", "results-keras"]
    assert {(c["id"], c["run"]) for c in merged["checks"]} == {("t", "results-torch"), ("k", "results-keras")}
    assert "merged 2 files, 2 checks" in capsys.readouterr().out


def test_diff_prints_what_changed(tmp_path, capsys):
    old = _write(tmp_path / "old.json", [make_record(id="a", framework_version="2.12.0"),
                                         make_record(id="b", framework_version="2.12.0")])
    new = _write(tmp_path / "new.json", [make_record(id="a", framework_version="2.13.0"),
                                         make_record(id="b", framework_version="2.13.0", verdict="fail",
                                                     reason="abs error 1e-3 > tolerance")])
    assert cli.main(["diff", str(old), str(new)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["torch b: verdict pass → fail [2.12.0 → 2.13.0] (abs error 1e-3 > tolerance)",
                     f"1 check(s) changed between {old} and {new}"]


def test_invalid_file_is_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "lossparity.results/1", "run": {}, "checks": []}))
    assert cli.main(["build", str(bad), "-o", str(tmp_path / "x.html")]) == 2
    assert "error: $.run.started: required field is missing" in capsys.readouterr().err


def test_main_job_runs_pytest_and_returns_its_exit_code(tmp_path, monkeypatch, capsys):
    (tmp_path / "test_tiny.py").write_text(
        "def test_ok(record_check):\n"
        "    record_check({'kind': 'value', 'loss': 'huber', 'framework': 'torch'})\n"
        "def test_bad(record_check):\n"
        "    record_check({'id': 'bad', 'kind': 'value', 'loss': 'huber', 'framework': 'torch'})\n"
        "    assert False\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # a quicker start; the plugin comes by -p
    code = cli.main(["--accuracy-rows", "0", "--", "-p", "reports.pytest_plugin", "-p", "no:cacheprovider", "-q",
                     "test_tiny.py"])
    assert code == 1
    doc = results.load(tmp_path / "reports" / "results.json")
    assert {c["id"]: c["verdict"] for c in doc["checks"]} == {"value:huber:torch": "pass", "bad": "fail"}
    assert (tmp_path / "reports" / "parity.html").is_file()
    out = capsys.readouterr().out
    assert "2 checks: 1 pass, 1 fail" in out and "report: " in out


def test_build_reports_a_run_that_died_from_its_journal(tmp_path, capsys):
    """``build`` of a results path whose latest run never finished reports that run, marked incomplete,
    and says so; the journal itself can be named too."""
    from reports import journal

    results_path = tmp_path / "results.json"
    writer = journal.JournalWriter(journal.journal_path(results_path), results_path,
                                   started="2026-01-01T00:00:00+00:00", pytest_args=[])
    writer.planned(["t::a", "t::b[torch]"], {"t::b[torch]": {"framework": "torch", "loss": "huber"}})
    writer.done("t::a", [make_record(id="finished-check")])
    writer.start("t::b[torch]")
    writer.close(remove=False)
    out = tmp_path / "parity.html"
    assert cli.main(["build", str(results_path), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "note: " in captured.err and "the latest run did not finish" in captured.err
    # the journal's process is this one, alive: the run may still be going, and the report says so
    assert "INCOMPLETE run: still running (its process is alive): rebuilt from its journal" in captured.out
    page = out.read_text()
    assert "Incomplete run" in page and "finished-check" in {r["id"] for r in html.data_rows(html.read_data_block(page))}
    assert cli.main(["build", str(journal.journal_path(results_path)), "-o", str(out)]) == 0


def test_build_of_nothing_is_an_error_not_a_traceback(tmp_path, capsys):
    assert cli.main(["build", str(tmp_path / "absent.json"), "-o", str(tmp_path / "x.html")]) == 2
    assert "no such results file" in capsys.readouterr().err
