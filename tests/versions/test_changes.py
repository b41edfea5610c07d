"""reports.changes (what changed between version sets) and the version machinery of adapters.protocol, on
synthetic documents and toy APIs: no framework needed."""
from __future__ import annotations

import types

import pytest

from adapters import protocol
from lossparity.records import example_record
from reports import changes, html, results


def _record(framework, **fields):
    record = example_record(framework=framework, binding="binary_crossentropy", loss="binary_crossentropy",
                            form="function:none", dtype="float32", case="doc.bce", convention=framework,
                            flags=["prob_clip"], id=f"golden:{framework}-doc.bce", kind="golden",
                            expected=2.3025850929940455)
    record.update(fields)
    return record


def _settings(framework, version, lane, clip="1e-07"):
    return {framework: {"version": version, "family": "keras", "lane": lane,
                        "conventions": {framework: {"prob_clip": {"value": clip, "source": f"{framework}/backend.py"}}},
                        "deviations": {}}}


def _doc():
    """Lane "keras" is Keras 2's tf.keras in the oldest set and Keras 3 after; lane "tf_keras" only later."""
    old = results.make_doc([_record("tf_keras", observed=2.3025842),
                            _record("tf_keras", id="value:tf_keras-x", kind="value", case="gen.x", observed=[1.0],
                                    expected=[1.0])],
                           results.make_run(_settings("tf_keras", "tf.keras 2.15.0", "keras")))
    mid = results.make_doc([_record("keras", observed=2.3025851),
                            _record("keras", id="value:keras-x", kind="value", case="gen.x", observed=[1.0],
                                    expected=[1.0]),
                            _record("keras", id="value:keras-y", kind="value", case="gen.y", observed=[3.0],
                                    expected=[3.0])],
                           results.make_run(_settings("keras", "keras 3.8.0", "keras", clip="1e-07")))
    new = results.make_doc([_record("keras", observed=2.3025851),
                            _record("keras", id="value:keras-x", kind="value", case="gen.x", observed=[1.0],
                                    expected=[1.0]),
                            _record("keras", id="value:keras-y", kind="value", case="gen.y", observed=[3.0],
                                    expected=[3.5]),  # other inputs here: not comparable
                            _record("tf_keras", observed=2.3025842)],
                           results.make_run({**_settings("keras", "keras 3.15.1", "keras"),
                                             **_settings("tf_keras", "tf_keras 2.21.0", "tf_keras")}))
    return results.merge([old, mid, new], ["tf215", "tf218", "pinned"])


def test_a_lane_follows_the_api_across_major_versions():
    out = changes.changes(_doc())
    assert out["sets"] == ["tf215", "tf218", "pinned"]
    lanes = {lane["lane"]: lane for lane in out["lanes"]}
    assert set(lanes) == {"keras"}  # tf_keras runs in one set only
    keras = lanes["keras"]
    assert [c["framework"] for c in keras["columns"]] == ["tf_keras", "keras", "keras"]
    (row,) = keras["rows"]  # only the golden number changed, and first between 2024 and 2025
    assert row["key"] == {"kind": "golden", "case": "doc.bce"}
    assert (row["from"], row["to"]) == ("tf215", "tf218")
    assert row["before"]["observed"] == 2.3025842 and row["after"]["observed"] == 2.3025851
    assert row["delta"]["ulps"] == pytest.approx(3.9, abs=0.2)  # float32 ulps at 2.30
    first, second = keras["pairs"]
    assert first["changed"] == 1 and first["in_common"] == 2
    assert second["changed"] == 0 and second["not_comparable"] == 1


def test_text_and_report_show_the_change(tmp_path):
    doc = _doc()
    lines = changes.text_lines(changes.changes(doc))
    assert any("tf215 pass 2.3025842 -> tf218 pass 2.3025851" in line for line in lines), lines
    page = html.render(doc)
    assert "What changed between versions" in page and "2.3025851" in page


def test_in_range_and_holds():
    assert protocol.in_range(">=2.13,<2.14", "2.13.0+cpu")
    assert not protocol.in_range(">=0.2.8,<0.2.9", "0.2.4")
    assert protocol.in_range("*", "0.1") and protocol.in_range(">=1", None)

    class Toy:
        def release(self):
            return "0.2.4"

        def settings(self):
            return {"jax": "0.5.3"}

    assert not protocol.holds(">=0.2.8", Toy()) and protocol.holds("jax>=0.4", Toy())
    assert not protocol.holds("jax>=0.6", Toy())


def test_lookup_says_what_a_release_lacks():
    def smooth_labels(labels, alpha):
        return labels

    toy = types.SimpleNamespace(__name__="optax", smooth_labels=smooth_labels)
    fn = protocol.lookup(toy, "smooth_labels", label="optax 0.2.4")
    assert fn([1], 0.1) == [1]
    with pytest.raises(protocol.Unsupported, match=r"optax 0.2.4: optax.smooth_labels has no keyword 'axis'"):
        fn([1], 0.1, axis=-1)
    with pytest.raises(protocol.Unsupported, match="optax 0.2.4: optax has no ctc_loss"):
        protocol.lookup(toy, "ctc_loss", label="optax 0.2.4")
    checked = protocol.CheckedModule(toy, label="optax 0.2.4")
    with pytest.raises(protocol.Unsupported, match="has no keyword 'axis'"):
        checked.smooth_labels([1], 0.1, axis=-1)
    outcome = protocol.timed(lambda: checked.smooth_labels([1], 0.1, axis=-1))
    assert outcome.unsupported.startswith("optax 0.2.4") and outcome.error is None


def test_versions_command_merges_and_refuses_a_missing_file(tmp_path, capsys):
    from reports import cli

    old = tmp_path / "tf215.json"
    results.write_atomic(old, results.make_doc([_record("tf_keras", observed=2.3025842)],
                                               results.make_run(_settings("tf_keras", "tf.keras 2.15.0", "keras"))))
    assert cli.main(["versions", str(old), str(tmp_path / "nope.json"), "-o", str(tmp_path / "v.html")]) == 2
    assert "nope.json: no such results file" in capsys.readouterr().err
    new = tmp_path / "pinned.json"
    results.write_atomic(new, results.make_doc([_record("keras", observed=2.3025851)],
                                               results.make_run(_settings("keras", "keras 3.15.1", "keras"))))
    assert cli.main(["versions", str(old), str(new), "-o", str(tmp_path / "v.html")]) == 0
    assert "tf215 pass 2.3025842 -> pinned pass 2.3025851" in capsys.readouterr().out
    assert (tmp_path / "v.json").exists() and "What changed between versions" in (tmp_path / "v.html").read_text()
