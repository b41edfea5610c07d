"""The results file: schema, canonical writing, determinism, merging and version diffs."""
from __future__ import annotations

import copy
import json
import os
import random
import re
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest
from tests.report.synthetic import make_doc, make_record

from lossparity import records
from reports import results
from reports.results import ResultsError


def test_valid_document_passes(synthetic_doc):
    results.validate(synthetic_doc(300))
    results.validate(make_doc([make_record(id="one"), make_record(id="two", verdict="lost", kind=None)]))


def _break(doc: dict, where: str) -> dict:
    """A copy of ``doc`` broken at ``where`` (one malformation per case below)."""
    bad = copy.deepcopy(doc)
    check = bad["checks"][1]
    if where == "schema":
        bad["schema"] = "lossparity.results/0"
    elif where == "verdict":
        check["verdict"] = "passed"
    elif where == "kind":
        check["kind"] = "values"
    elif where == "missing":
        del check["dtype"]
    elif where == "unknown":
        check["verdcit"] = "pass"
    elif where == "ulps":
        check["value_error"]["ulps"] = "lots"
    elif where == "nan-number":
        check["value_error"]["abs"] = float("nan")
    elif where == "worst_index":
        check["value_error"]["worst_index"] = [0.5]
    elif where == "provenance":
        check["provenance"] = {"document": "a.md"}
    elif where == "duration":
        check["duration_s"] = -1
    elif where == "frameworks":
        bad["run"]["frameworks"]["torch"] = 2
    elif where == "duplicate":
        check["id"] = bad["checks"][0]["id"]
    elif where == "both-runs":
        bad["runs"] = [dict(bad["run"], label="a")]
    elif where == "args":
        check["args"] = None
    elif where == "args-key":
        check["args"] = {"delta": 1.0, 3: "x"}
    elif where == "flags":
        check["flags"] = ["prob_clip", 7]
    elif where == "form":
        check["form"] = ["class", "sum"]
    elif where == "extra":
        check["extra"] = ["not", "an", "object"]
    elif where == "run-field":
        bad["run"]["hostname"] = "ci-7"
    return bad


# (malformation, path of the bad field, a piece of the message)
MALFORMED = [
    ("schema", "$.schema", "expected one of ['lossparity.results/1', 'lossparity.results/2'], got str 'lossparity.results/0'"),
    ("verdict", "$.checks[1].verdict", "expected one of ['pass', 'deviation', 'fail', 'skip', 'error', 'lost']"),
    ("kind", "$.checks[1].kind", "expected null or one of ['value', 'grad'"),
    ("missing", "$.checks[1].dtype", "required field is missing"),
    ("unknown", "$.checks[1].verdcit", "unknown field"),
    ("ulps", "$.checks[1].value_error.ulps", "expected a number, null or one of ['nan', 'inf', '-inf'], got str"),
    ("nan-number", "$.checks[1].value_error.abs", "expected a finite number or one of ['nan', 'inf', '-inf']"),
    ("worst_index", "$.checks[1].value_error.worst_index[0]", "expected `int`, got `float`"),
    ("provenance", "$.checks[1].provenance.quote", "required field is missing"),
    ("duration", "$.checks[1].duration_s", ">= 0.0"),
    ("frameworks", "$.run.frameworks.torch", "expected `str`, got `int`"),
    ("duplicate", "$.checks[1].id", "duplicate check id 'a'"),
    ("both-runs", "$.run", "exactly one of 'run'"),
    ("args", "$.checks[1].args", "expected `object`, got `null`"),
    ("args-key", "$.checks[1].args", "key 3: expected `str`, got `int`"),
    ("flags", "$.checks[1].flags[1]", "expected `str`, got `int`"),
    ("form", "$.checks[1].form", "expected `str | null`, got `array`"),
    ("extra", "$.checks[1].extra", "expected `object`, got `array`"),
    ("run-field", "$.run.hostname", "unknown field"),
]


@pytest.mark.parametrize(("where", "path", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_document_names_the_field(where, path, message):
    doc = make_doc([make_record(id="a"), make_record(id="b")])
    with pytest.raises(ResultsError) as caught:
        results.validate(_break(doc, where))
    assert caught.value.path == path
    assert str(caught.value).startswith(path + ":")
    assert message in str(caught.value)


@pytest.mark.parametrize(("where", "path", "message"), [m for m in MALFORMED if m[0] not in ("nan-number", "args-key")],
                         ids=[m[0] for m in MALFORMED if m[0] not in ("nan-number", "args-key")])
def test_malformed_file_names_the_field_on_load(tmp_path, where, path, message):
    """The same errors from a file (JSON has no NaN and no non-string keys: those two cannot be written)."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_break(make_doc([make_record(id="a"), make_record(id="b")]), where)))
    with pytest.raises(ResultsError) as caught:
        results.load(bad)
    assert caught.value.path == path and message in str(caught.value)


def test_load_refuses_non_strict_json(tmp_path):
    doc = make_doc([make_record(id="a", observed=float("nan"))])  # canonical: the string "nan"
    text = json.dumps(doc).replace('"observed": "nan"', '"observed": NaN')
    assert '"observed": NaN' in text
    (tmp_path / "nan.json").write_text(text)
    with pytest.raises(ResultsError, match=r"^\$: .*is not JSON"):
        results.load(tmp_path / "nan.json")


def test_merged_run_needs_a_label():
    merged = results.merge([make_doc([make_record(id="a")]), make_doc([make_record(id="b")])])
    del merged["runs"][1]["label"]
    with pytest.raises(ResultsError) as caught:
        results.validate(merged)
    assert caught.value.path == "$.runs[1].label"


def test_validate_record_names_the_record_and_field():
    with pytest.raises(ResultsError) as caught:
        results.validate_record(dict(make_record(id="r1"), reduction=3))
    assert caught.value.path == "record 'r1'.reduction"
    results.validate_record(dict(make_record(id="r1"), verdict=None))  # the plugin settles it later


def test_older_file_without_the_typed_api_fields_loads(tmp_path):
    """Files written before binding/form/reduction/args/flags were fields: they load (as null / empty)."""
    doc = make_doc([make_record(id="a")])
    for record in doc["checks"]:
        for key in ("binding", "form", "reduction", "args", "flags"):
            del record[key]
        record["extra"] = {"binding": "huber", "form": "module:sum", "args": {"delta": 1.0}}
    (tmp_path / "old.json").write_text(json.dumps(doc))
    loaded = results.load(tmp_path / "old.json")
    assert loaded["checks"][0]["extra"]["form"] == "module:sum"


def test_schema_is_derived_from_the_record_type():
    record = results.SCHEMA["$defs"]["CheckRecord"]
    assert set(record["properties"]) == set(results.RECORD_KEYS) | set(results.OPTIONAL_RECORD_KEYS)
    assert set(record["required"]) == set(results.RECORD_KEYS) - {"binding", "form", "reduction", "args", "flags"}
    assert record["additionalProperties"] is False
    assert {"accuracy", "recipe", "test"} <= set(results.KINDS)
    json.dumps(results.SCHEMA)  # plain JSON data


def test_nothing_in_reports_names_a_framework():
    """Framework names live in the adapters; the results and the report only read fields."""
    root = Path(results.__file__).parent
    pattern = re.compile(r"\b(torch|pytorch|keras|tensorflow|tf|jax|jaxlib|optax|flax)\b", re.I)
    for path in [*root.glob("*.py"), *root.glob("templates/*")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not pattern.search(line), f"{path.name}:{number} names a framework: {line.strip()}"


def test_complete_record_defaults_and_canonical_values():
    record = results.complete_record({
        "kind": "value", "loss": "huber", "framework": "torch", "dtype": "float32", "device": "cpu",
        "observed": np.float32(0.1), "expected": np.arange(20.0),
        "value_error": {"abs": np.float64(1e-9), "rel": 1 / 3, "ulps": np.inf, "_abs_array": np.zeros(3)},
    })
    assert record["id"] == "value:huber:torch:float32:cpu"
    assert set(record) == set(results.RECORD_KEYS)
    assert record["verdict"] is None and record["reason"] == ""
    assert record["framework_version"] is None  # never looked up by framework name
    assert (record["binding"], record["form"], record["reduction"]) == (None, None, None)
    assert record["args"] == {} and record["flags"] == []
    assert record["observed"] == 0.100000001  # float32 0.1, nine significant digits
    assert record["expected"]["shape"] == [20] and record["expected"]["max"] == 19.0
    assert record["value_error"] == {"abs": 1e-9, "rel": 0.333333, "ulps": "inf", "tol": None,
                                     "worst_index": None, "worst_input": None}


def test_complete_record_refuses_unknown_fields():
    with pytest.raises(TypeError, match="verdcit"):
        results.complete_record({"kind": "value", "verdcit": "pass"})


def test_complete_record_takes_the_typed_api_fields():
    record = results.complete_record({
        "kind": "value", "loss": "kl_divergence", "framework": "torch", "binding": "kl_div",
        "form": "module:batchmean", "reduction": "batchmean", "args": {"eps": np.float64(1 / 3), "axis": -1},
        "flags": ("log_input", "clamp", "log_input")})
    assert (record["binding"], record["form"], record["reduction"]) == ("kl_div", "module:batchmean", "batchmean")
    assert record["args"] == {"eps": 0.333333333, "axis": -1}  # canonical values
    assert record["flags"] == ["clamp", "log_input"]  # sorted, once each
    results.validate_record(record)


def test_complete_record_takes_a_check_record_struct():
    error = {"abs": 1e-7, "rel": 2e-7, "ulps": "inf", "tol": None, "worst_index": [1], "worst_input": None}
    typed = msgspec.convert(records.example_record(id="typed", value_error=error), records.CheckRecord)
    record = results.complete_record(typed)
    assert record["id"] == "typed" and record["form"] == "function:none" and "extra" not in record
    assert record["value_error"] == error
    results.validate_record(record)


def test_write_atomic_strict_json_and_no_temporary_left(tmp_path):
    doc = make_doc([make_record(id="x", observed=float("nan"), expected=float("-inf"))])
    path = results.write_atomic(tmp_path / "out" / "results.json", doc)
    text = path.read_text()
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert loaded["checks"][0]["observed"] == "nan" and loaded["checks"][0]["expected"] == "-inf"
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
    assert results.load(path) == loaded


def test_write_atomic_refuses_an_invalid_document(tmp_path):
    doc = make_doc([make_record(id="x", verdict="maybe")])
    with pytest.raises(ResultsError, match=r"checks\[0\]\.verdict"):
        results.write_atomic(tmp_path / "results.json", doc)
    assert list(tmp_path.iterdir()) == []


def _shuffled(doc: dict, seed: int) -> dict:
    """The same document with checks in another order and every dict's keys in another order."""
    rng = random.Random(seed)

    def scramble(value):
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: scramble(v) for k, v in items}
        if isinstance(value, list):
            return [scramble(v) for v in value]
        return value
    out = scramble(doc)
    rng.shuffle(out["checks"])
    return out


def test_same_checks_in_any_order_give_identical_bytes(tmp_path, synthetic_doc):
    doc = synthetic_doc(200)
    first = results.write_atomic(tmp_path / "a.json", doc).read_bytes()
    second = results.write_atomic(tmp_path / "b.json", _shuffled(doc, 1)).read_bytes()
    assert first == second
    ids = [c["id"] for c in json.loads(first)["checks"]]
    assert ids == sorted(ids)


def test_float_noise_below_the_kept_digits_does_not_change_the_file():
    noisy = make_record(id="x", observed=0.1 + 0.2, value_error={"abs": 1.0000000001e-7, "rel": 2e-7})
    clean = make_record(id="x", observed=0.3, value_error={"abs": 1e-7, "rel": 2e-7})
    assert results.dumps(make_doc([noisy])) == results.dumps(make_doc([clean]))


def test_comparable_ignores_only_timings():
    a = make_doc([make_record(id="x", duration_s=0.5)], started="2026-01-01T00:00:00+00:00")
    b = make_doc([make_record(id="x", duration_s=0.7)], started="2026-02-02T00:00:00+00:00")
    assert results.comparable(a) == results.comparable(b)
    c = make_doc([make_record(id="x", duration_s=0.7, verdict="fail")])
    assert results.comparable(a) != results.comparable(c)


def test_unique_ids_is_independent_of_order():
    records = [make_record(id="same", observed=float(i), duration_s=i / 10) for i in range(3)]
    forward = results.unique_ids(records)
    backward = results.unique_ids(reversed(records))
    assert [r["id"] for r in forward] == ["same", "same#2", "same#3"]
    strip = [{k: v for k, v in r.items() if k != "duration_s"} for r in forward]
    assert strip == [{k: v for k, v in r.items() if k != "duration_s"} for r in backward]


def test_merge_cpu_and_gpu_runs(synthetic_doc):
    cpu, gpu = synthetic_doc(50, device="cpu"), synthetic_doc(50, device="gpu")
    merged = results.merge([cpu, gpu], labels=["cpu-runner", "gpu-runner"])
    results.validate(merged)
    assert [r["label"] for r in merged["runs"]] == ["cpu-runner", "gpu-runner"]
    assert len(merged["checks"]) == 100
    assert {c["run"] for c in merged["checks"] if c["device"] == "gpu"} == {"gpu-runner"}
    again = results.merge([merged, synthetic_doc(5, seed=3)], labels=["all", "extra"])
    assert [r["label"] for r in again["runs"]] == ["all/cpu-runner", "all/gpu-runner", "extra"]


def test_merge_allows_the_same_id_in_different_runs():
    doc = make_doc([make_record(id="x")])
    merged = results.merge([doc, doc])
    assert [c["run"] for c in merged["checks"]] == ["run1", "run2"]


def test_diff_versions_lists_exactly_the_changed_checks():
    def version(v, **changes):
        records = [make_record(id="same", framework_version=v),
                   make_record(id="verdict", framework_version=v, verdict=changes.get("verdict", "pass")),
                   make_record(id="error", framework_version=v,
                               value_error={"abs": 1e-7, "rel": 1e-7, "ulps": changes.get("ulps", 1.0)}),
                   make_record(id="noise", framework_version=v,
                               value_error={"abs": 1e-7, "rel": 1e-7, "ulps": changes.get("noise", 1.0)})]
        return make_doc(records)
    new = version("2.14.0", verdict="fail", ulps=40.0, noise=1.2)
    old = version("2.9.0")
    # labels in the "wrong" order: versions decide which side is old
    changes = results.diff_versions(results.merge([new, old], labels=["b", "a"]))
    assert [(c["id"], c["changed"]) for c in changes] == [("error", ["value_error"]), ("verdict", ["verdict"])]
    verdict = changes[1]
    assert (verdict["old"]["version"], verdict["new"]["version"]) == ("2.9.0", "2.14.0")
    assert (verdict["old"]["verdict"], verdict["new"]["verdict"]) == ("pass", "fail")


def test_run_description_does_not_import_frameworks():
    import sys

    before = set(sys.modules)
    run = results.make_run({"jax.x64": True}, ["-x"])
    assert not {"torch", "tensorflow", "jax"} & (set(sys.modules) - before)
    assert run["settings"] == {"jax.x64": True} and run["pytest_args"] == ["-x"]
    assert run["cpu"] and run["python"]
    assert run["frameworks"] == {}  # only the run settings say which frameworks ran


def test_run_frameworks_come_from_the_settings():
    settings = {"devices": ["cpu"], "torch": {"version": "2.13.0+cpu", "tf32": False},
                "keras": {"version": "keras 3.15.1 / tensorflow 2.21.0"}, "optax": {"jit": True},
                "jax": {"version": None}, "sweep": False}
    run = results.make_run(settings)
    assert run["frameworks"] == {"keras": "keras 3.15.1 / tensorflow 2.21.0", "torch": "2.13.0+cpu"}
    assert results.make_run(settings, frameworks={"x": "1"})["frameworks"] == {"x": "1"}


@pytest.mark.full
def test_validate_and_load_100k_records_quickly(tmp_path, synthetic_doc):
    """Validation through msgspec: ~0.15 s of CPU for 100k records where the hand-written schema
    compiler took ~0.6 s; the bound is generous and on CPU time (see the report's build test)."""
    doc = synthetic_doc(100_000)
    cpu = time.process_time()
    results.validate(doc)
    validate_s = time.process_time() - cpu
    path = results.write_atomic(tmp_path / "results.json", doc)
    cpu = time.process_time()
    loaded = results.load(path)
    load_s = time.process_time() - cpu
    print(f"\n100k records: validate {validate_s:.2f} s CPU, load {load_s:.2f} s CPU")
    assert len(loaded["checks"]) == 100_000
    assert validate_s < 1.0 and load_s < 2.5


def test_write_atomic_gives_normal_permissions(tmp_path):
    """Not the 0600 of a temporary file: 0666 less the umask, like any file the user writes."""
    old = os.umask(0o022)
    try:
        assert results.write_atomic(tmp_path / "a.json", make_doc([make_record(id="x")])).stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert results.write_atomic(tmp_path / "b.json", make_doc([make_record(id="x")])).stat().st_mode & 0o777 == 0o600
        os.umask(0o002)
        assert results.file_mode() == 0o664
    finally:
        os.umask(old)


def test_incomplete_run_is_part_of_the_schema():
    incomplete = {"reason": "interrupted", "collected": 4, "finished": 1, "running": ["t::a"],
                  "missing": ["t::a", "t::b"], "journal": None}
    results.validate(make_doc([make_record(id="x")], incomplete=incomplete))
    bad = make_doc([make_record(id="x")], incomplete={k: v for k, v in incomplete.items() if k != "missing"})
    with pytest.raises(ResultsError) as caught:
        results.validate(bad)
    assert caught.value.path == "$.run.incomplete.missing"
    assert "incomplete" in results.SCHEMA["$defs"]["Run"]["properties"]


def _journal(tmp_path: Path, *, finished: bool = False) -> Path:
    """The journal of a run on ``tmp_path/results.json`` that finished two of its four tests."""
    from reports import journal

    writer = journal.JournalWriter(journal.journal_path(tmp_path / "results.json"), tmp_path / "results.json",
                                   started="2026-01-01T00:00:00+00:00", pytest_args=["-q"])
    params = {"t.py::test_a[torch]": {"framework": "torch"}, "t.py::test_c[keras]": {"framework": "keras",
                                                                                    "loss": "huber"}}
    writer.planned(["t.py::test_a[torch]", "t.py::test_b", "t.py::test_c[keras]", "t.py::test_d"], params)
    writer.start("t.py::test_a[torch]")
    writer.done("t.py::test_a[torch]", [dict(make_record(id="a"), test="t.py::test_a[torch]")])
    writer.start("t.py::test_b")
    writer.done("t.py::test_b", [])
    writer.start("t.py::test_c[keras]")
    writer.close(remove=finished)
    return writer.path


def test_journal_recovers_a_run_that_died(tmp_path):
    from reports import journal

    path = _journal(tmp_path)
    with open(path, "a", encoding="utf-8") as torn:  # a machine crash mid-line
        torn.write('{"done": "t.py::test_c[keras]", "checks": [{"id": "hal')
    doc = journal.recover(path)
    incomplete = doc["run"]["incomplete"]
    assert incomplete["running"] == ["t.py::test_c[keras]"]
    assert incomplete["missing"] == ["t.py::test_c[keras]", "t.py::test_d"]
    assert (incomplete["collected"], incomplete["finished"], incomplete["journal"]) == (4, 2, str(path))
    assert doc["run"]["finished"] is None and doc["run"]["pytest_args"] == ["-q"]
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["a"]["verdict"] == "pass"
    lost = by_id["t.py::test_c[keras]"]
    assert (lost["verdict"], lost["framework"], lost["loss"]) == ("lost", "keras", "huber")
    assert "died while this test was running" in lost["reason"]
    assert "t.py::test_d" not in by_id  # a helper test: listed as missing, no record


def test_load_latest_prefers_a_newer_journal(tmp_path):
    from reports import journal

    previous = results.write_atomic(tmp_path / "results.json", make_doc([make_record(id="old")]))
    os.utime(previous, (time.time() - 60, time.time() - 60))
    doc, note = journal.load_latest(previous)
    assert note is None and [c["id"] for c in doc["checks"]] == ["old"]
    _journal(tmp_path)
    doc, note = journal.load_latest(previous)
    assert "the latest run did not finish" in note and "the previous complete results stay in" in note
    assert "a" in {c["id"] for c in doc["checks"]} and "old" not in {c["id"] for c in doc["checks"]}
    previous.unlink()
    assert journal.load_latest(previous)[0]["run"]["incomplete"]["finished"] == 2  # no results file at all
    assert journal.load_latest(journal.journal_path(previous))[1].startswith(str(journal.journal_path(previous)))
    journal.journal_path(previous).unlink()
    with pytest.raises(ResultsError, match="no such results file"):
        journal.load_latest(previous)


def test_a_finished_run_leaves_no_journal(tmp_path):
    path = _journal(tmp_path, finished=True)
    assert not path.exists() and not path.parent.exists()
