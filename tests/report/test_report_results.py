"""The results file: schema, canonical writing, determinism, merging and version diffs."""
from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest
from tests.report.synthetic import make_doc, make_record

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
    return bad


@pytest.mark.parametrize(("where", "path"), [
    ("schema", "$.schema"),
    ("verdict", "$.checks[1].verdict"),
    ("kind", "$.checks[1].kind"),
    ("missing", "$.checks[1].dtype"),
    ("unknown", "$.checks[1].verdcit"),
    ("ulps", "$.checks[1].value_error.ulps"),
    ("nan-number", "$.checks[1].value_error.abs"),
    ("worst_index", "$.checks[1].value_error.worst_index[0]"),
    ("provenance", "$.checks[1].provenance.quote"),
    ("duration", "$.checks[1].duration_s"),
    ("frameworks", "$.run.frameworks.torch"),
    ("duplicate", "$.checks[1].id"),
    ("both-runs", "$.run"),
])
def test_malformed_document_names_the_field(where, path):
    doc = make_doc([make_record(id="a"), make_record(id="b")])
    with pytest.raises(ResultsError) as caught:
        results.validate(_break(doc, where))
    assert caught.value.path == path
    assert str(caught.value).startswith(path + ":")


def test_complete_record_defaults_and_canonical_values():
    record = results.complete_record({
        "kind": "value", "loss": "huber", "framework": "torch", "dtype": "float32", "device": "cpu",
        "observed": np.float32(0.1), "expected": np.arange(20.0),
        "value_error": {"abs": np.float64(1e-9), "rel": 1 / 3, "ulps": np.inf, "_abs_array": np.zeros(3)},
    })
    assert record["id"] == "value:huber:torch:float32:cpu"
    assert set(record) == set(results.RECORD_KEYS)
    assert record["verdict"] is None and record["reason"] == ""
    assert record["observed"] == 0.100000001  # float32 0.1, nine significant digits
    assert record["expected"]["shape"] == [20] and record["expected"]["max"] == 19.0
    assert record["value_error"] == {"abs": 1e-9, "rel": 0.333333, "ulps": "inf", "tol": None,
                                     "worst_index": None, "worst_input": None}


def test_complete_record_refuses_unknown_fields():
    with pytest.raises(TypeError, match="verdcit"):
        results.complete_record({"kind": "value", "verdcit": "pass"})


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
