"""The accuracy tables (``lossparity/accuracy.py``, ``python -m reports accuracy``): the records, the
search, the oracle re-check, the saved worst inputs, and that a run writes nothing into the source tree.

Kept fast (a few seconds): NumPy "frameworks" with planted inaccuracies (``planted.py``) for the search,
one small torch run for the command.  ``--benchmarks`` adds the speed check at 10^6 rows.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

import cases
from lossparity import accuracy, checks, conventions
from lossparity.records import CheckRecord
from reports import accuracy as reports_accuracy
from reports import cli, results
from tests.accuracy import planted

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(rows=2000, search_rounds=4, search_width=8, search_candidates=32, oracle_rows=8)


def _git_status() -> str | None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def _by_quantity(records):
    return {r["extra"]["quantity"]: r for r in records}


def _measure(adapter, dtype="float32", tmp_path=None, **settings):
    settings = dict(SMALL, **settings)
    settings.setdefault("save_dir", tmp_path)
    return _by_quantity(accuracy.run([adapter], accuracy.Settings(**settings), dtypes=[dtype]))


# ------------------------------------------------------------------------------------------ records


def test_records_are_valid_check_records_with_the_documented_extra(tmp_path):
    records = _measure(planted.EXACT, tmp_path=tmp_path)
    assert set(records) == {"value", "grad"}
    for quantity, record in records.items():
        full = results.complete_record(record)
        msgspec.convert(full, CheckRecord, strict=True)  # the results file's own type
        assert full["kind"] == "accuracy" and full["verdict"] == "pass"
        assert full["binding"] == "mean_squared_error" and full["form"] == "function:none"
        assert full["reduction"] == "none" and full["dtype"] == "float32" and full["device"] == "cpu"
        assert full["framework"] == "planted-exact" and full["framework_version"] == np.__version__
        assert full["loss"] == "mean_squared_error"
        extra = full["extra"]
        assert extra["quantity"] == quantity and extra["rows"] == SMALL["rows"]
        assert full["value_error"]["ulps"] == pytest.approx(extra["max_ulps"], rel=1e-5)  # 6 digits kept
        assert extra["max_ulps"] >= extra["p999_ulps"] >= extra["median_ulps"]
        assert len(extra["ulp_histogram"]) == len(extra["ulp_bins"]) == len(accuracy.ULP_BINS)
        assert sum(extra["ulp_histogram"]) == extra["rows"]
        assert extra["oracle_checked"] > 0 and extra["search"]["rounds"] == SMALL["search_rounds"]
        assert set(extra["worst_input"]["inputs"]) == {"y_true", "y_pred"}
        assert sum(r["rows"] for r in extra["regions"].values()) == extra["rows"]
        # a correct float32 implementation: a few ulps at worst, and the oracle agrees with the reference
        assert extra["max_ulps"] < 8 and extra["oracle_disagreements"] == 0


def test_more_rows_than_one_call_takes_are_measured_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy, "MAX_BATCH", 1000)
    calls = []
    original = planted.PlantedMSE.run

    class Counting(planted.PlantedMSE):
        def run(self, call):
            calls.append(len(call.inputs["y_pred"]))
            return original(self, call)

    records = _measure(Counting("cancelling", name="counting"), tmp_path=tmp_path, rows=2500, search_rounds=1)
    assert calls[:3] == [1000, 1000, 500]  # then the search's one call
    for record in records.values():
        extra = record["extra"]
        assert extra["rows"] == 2500 and sum(extra["ulp_histogram"]) == 2500
        index = record["value_error"]["worst_index"]
        assert index is None or 0 <= index[0] < 2500


def test_a_framework_error_is_a_fail_record(tmp_path):
    class Raising(planted.PlantedMSE):
        def run(self, call):
            from adapters.protocol import Outcome

            return Outcome(error="RuntimeError: planted")

    records = _measure(Raising("exact", name="raising"), tmp_path=tmp_path)
    assert {r["verdict"] for r in records.values()} == {"fail"}
    assert "RuntimeError: planted" in records["value"]["reason"]
    for record in records.values():
        msgspec.convert(results.complete_record(record), CheckRecord, strict=True)


# ------------------------------------------------------------------------------------------ finding


def test_the_regions_and_the_search_find_a_planted_cancellation(tmp_path):
    exact = _measure(planted.EXACT, tmp_path=tmp_path)["value"]["extra"]
    found = _measure(planted.CANCELLING, tmp_path=tmp_path)["value"]["extra"]
    assert exact["max_ulps"] < 8
    assert found["max_ulps"] > 1e5  # p*p - 2py + y*y where p ~ y ~ 1e3: the whole result cancels
    assert found["regions"]["offset"]["max_ulps"] > 100 * found["regions"]["typical"]["max_ulps"]
    assert found["search"]["best_ulps"] >= found["search"]["start_ulps"] > 1e5


def test_hill_climbing_climbs(tmp_path):
    search = _measure(planted.DRIFTING, tmp_path=tmp_path)["value"]["extra"]["search"]
    assert search["improved"] > 0 and search["best_ulps"] > search["start_ulps"]


def test_rows_at_a_kink_are_counted_not_ranked(tmp_path):
    grad = _measure(planted.KINK, tmp_path=tmp_path)["grad"]["extra"]
    assert grad["boundary_rows"] > 0 and grad["ulp_histogram"][-1] == grad["boundary_rows"]
    assert grad["boundary_example"]["boundary"] == "inputs"
    assert grad["max_ulps"] < 8  # the rows where y_pred == y_true do not make the table


def test_float64_worst_rows_are_measured_against_the_oracle(tmp_path):
    record = _measure(planted.EXACT, dtype="float64", tmp_path=tmp_path)["value"]
    worst = record["extra"]["worst_input"]
    assert record["extra"]["oracle_checked"] > 0 and worst["oracle"] is not None
    assert record["extra"]["max_ulps"] <= 2


# ------------------------------------------------------------------------------------------ cases


def test_the_worst_inputs_are_case_files_the_matrix_replays(tmp_path):
    from lossparity.session import Session

    records = _measure(planted.CANCELLING, tmp_path=tmp_path / "saved")
    paths = {Path(r["extra"]["saved_to"]) for r in records.values()}
    assert paths == {tmp_path / "saved" / "accuracy-planted-cancelling-mean_squared_error.toml"}
    saved = cases.load_file(paths.pop())
    assert [c.kind for c in saved] == ["fuzz", "fuzz"] and [c.dtype for c in saved] == ["float32", "float32"]
    value = next(c for c in saved if c.quantity == "value")
    worst = records["value"]["extra"]["worst_input"]["inputs"]
    assert np.array_equal(value.inputs["y_pred"][0], worst["y_pred"])
    # promoted, the cases are replayed by the matrix's edge cells (here with the planted framework)
    from lossparity.__main__ import promote

    promote(Path(records["value"]["extra"]["saved_to"]), tmp_path / "cases")
    session = Session([planted.CANCELLING], cases_root=tmp_path / "cases")
    items = [i for i in session.plan[1] if i.inputs.id == value.id]
    assert items, "the promoted case is an edge cell of the plan"
    record = checks.compare(session, items[0], "edge")
    assert record["verdict"] == "fail"  # the matrix judges the inaccuracy the search found


# ------------------------------------------------------------------------------------------ command


def test_the_command_writes_accuracy_records_and_nothing_into_the_source_tree(tmp_path, monkeypatch, capsys):
    import adapters

    torch = adapters.load("adapters.torch:ADAPTER")
    if torch.available() is not None:
        pytest.skip(torch.available())
    before = _git_status()
    monkeypatch.chdir(tmp_path)  # the default --save-dir is relative: .lossparity/accuracy here
    out = tmp_path / "out.json"
    code = cli.main(["accuracy", "--framework", "torch", "--loss", "sparse_categorical_crossentropy", "--dtype",
                     "float32", "--rows", "2000", "--search-rounds", "2", "--oracle-rows", "4", "--results", str(out)])
    assert code == 0
    doc = results.load(out)  # validates
    records = doc["checks"]
    assert {r["extra"]["quantity"] for r in records} == {"value", "grad"}
    assert {"from_logits": True} in [r["args"] for r in records]  # one record pair per argument variant
    for record in records:
        assert record["kind"] == "accuracy" and record["verdict"] == "pass" and record["extra"]["rows"] >= 2000
        assert record["binding"] == "sparse_categorical_crossentropy" and record["args"]["from_logits"] is True
        assert record["convention"] == conventions.of(torch, torch.bindings[record["binding"]]).name
    assert doc["run"]["frameworks"] == {"torch": torch.version()}
    saved = list((tmp_path / ".lossparity" / "accuracy").glob("*.toml"))
    assert [p.name for p in saved] == ["accuracy-torch-sparse_categorical_crossentropy.toml"]
    assert cases.load_file(saved[0])
    table = capsys.readouterr().out
    assert "sparse_categorical_crossentropy" in table and "value max" in table
    if before is not None:
        # run from the repository root, the same default paths are git-ignored
        for default in (accuracy.DEFAULT_DIR / saved[0].name, reports_accuracy.DEFAULT_RESULTS):
            ignored = subprocess.run(["git", "check-ignore", "-q", str(default)], cwd=ROOT)
            assert ignored.returncode == 0, f"{default} is not git-ignored"
        # and nothing new shows in the source tree
        appeared = set(_git_status().splitlines()) - set(before.splitlines())
        assert not [line for line in appeared if line.startswith("??") or " cases/" in line], appeared


def test_run_budget_adds_its_records_to_a_results_file(tmp_path):
    path = tmp_path / "results.json"
    existing = results.complete_record(results.records.example_record())
    results.write_atomic(path, results.make_doc([existing], results.make_run(settings={}, pytest_args=["-q"])))
    for _ in range(2):  # a second run replaces the accuracy records, it does not add to them
        records = accuracy.run_budget([planted.EXACT], rows=500, results=path, save_dir=None, time_budget_s=30)
    doc = results.load(path)
    kinds = sorted(r["kind"] for r in doc["checks"])
    assert kinds == ["accuracy", "accuracy", "value"] and len(records) == 2
    assert doc["run"]["pytest_args"] == ["-q"]


def test_run_budget_adds_a_run_of_its_own_to_a_merged_results_file(tmp_path):
    path = tmp_path / "merged.json"
    one = results.make_doc([results.complete_record(results.records.example_record())],
                           results.make_run(settings={}, pytest_args=[]))
    results.write_atomic(path, results.merge([one, one], ["cpu", "other"]))
    for _ in range(2):
        accuracy.run_budget([planted.EXACT], rows=300, results=path, save_dir=None, time_budget_s=30)
    doc = results.load(path)
    assert [r["label"] for r in doc["runs"]] == ["cpu", "other", "accuracy"]
    assert sorted((r["kind"], r["run"]) for r in doc["checks"]) == [
        ("accuracy", "accuracy"), ("accuracy", "accuracy"), ("value", "cpu"), ("value", "other")]


def test_format_table_lists_every_target(tmp_path):
    records = list(_measure(planted.EXACT, tmp_path=None, save_dir=None).values())
    lines = accuracy.format_table(records)
    assert lines[0].startswith("framework") and len(lines) == 2 and "planted-exact" in lines[1]


# ------------------------------------------------------------------------------------------ speed


def test_a_million_rows_within_eight_times_the_bare_calls(request):
    """10^6 rows of torch sparse CE (float32, 10 classes) within 8x one warm framework value+gradient call
    on the batch plus the float64 reference's value and gradient (``--benchmarks`` only: ~30 s)."""
    if not request.config.getoption("--benchmarks"):
        pytest.skip("speed check: run with --benchmarks")
    import adapters
    from adapters.protocol import Call

    torch = adapters.load("adapters.torch:ADAPTER")
    if torch.available() is not None:
        pytest.skip(torch.available())
    target = next(t for t in accuracy.targets([torch], ["sparse_categorical_crossentropy"], ["float32"])
                  if t.args == {"from_logits": True})
    settings = accuracy.Settings(rows=10 ** 6, save_dir=None)
    start = time.perf_counter()
    records = accuracy.measure(target, settings)
    total = time.perf_counter() - start
    assert records[0]["extra"]["rows"] == 10 ** 6
    m = accuracy._Measurer(target)
    inputs, _, _, _ = accuracy.generate(m.info, target.args, 10 ** 6, 10, np.random.default_rng(1), "float32")
    call = Call(loss=target.loss, inputs=inputs, args=dict(target.args), form=target.form, dtype="float32")
    torch.run(call)
    bare = torch.run(call).seconds  # warm
    start = time.perf_counter()
    m._reference(inputs, False, None)
    m._reference(inputs, True, None)
    reference = time.perf_counter() - start
    assert total <= 8 * (bare + reference), (total, bare, reference)
