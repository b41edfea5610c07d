"""reports.variants (the side-by-side comparison of variants) and reports.variant_runs (the main job's
processes): synthetic documents and tiny pytest runs, no framework needed."""
from __future__ import annotations

import os
from pathlib import Path

from adapters.variants import Variant
from lossparity.records import example_record
from reports import results, variant_runs
from reports import variants as comparison

ROOT = Path(__file__).resolve().parents[2]


def _record(framework, run, **fields):
    record = example_record(framework=framework, run=run, binding="sparse_categorical_crossentropy",
                            loss="sparse_categorical_crossentropy", form="function:none", dtype="float32",
                            case="gen.small.from_logits=False", convention=framework,
                            flags=["sparse_renormalize"], id=f"value:{framework}-x")
    record.update(fields)
    return record


def _settings(framework, family="api", flag_value="'after_clip'", deviations=None):
    return {framework: {"version": "1", "family": family,
                        "conventions": {framework: {"sparse_renormalize": {"value": flag_value, "source": f"{framework}/nn.py"}}},
                        "deviations": deviations or {}}}


def _doc():
    a = results.make_doc([_record("a", "default", observed=[1.0, 2.0]),
                          _record("a", "default", id="golden:a-doc", kind="golden", case="doc.1", observed=2.0)],
                         results.make_run(_settings("a")))
    b = results.make_doc([_record("b", "other", observed=[1.0, 2.0000002384185791]),
                          _record("b", "other", id="golden:b-doc", kind="golden", case="doc.1", observed=2.5,
                                  verdict="deviation", deviation="prints-more")],
                         results.make_run(_settings("b", flag_value="'before_clip'",
                                                    deviations={"prints-more": {"summary": "b prints more",
                                                                                "source": "b/loss.py",
                                                                                "settings": {"x64": "on"}}})))
    c = results.make_doc([_record("c", "alone", observed=[5.0])], results.make_run(_settings("c", family="c")))
    return results.merge([a, b, c], ["default", "other", "alone"])


def test_compare_lines_up_a_family_and_says_why():
    out = comparison.compare(_doc())
    assert [f["family"] for f in out["families"]] == ["api"]  # "c" has no second variant
    family = out["families"][0]
    assert family["columns"] == ["a [default]", "b [other]"]
    assert family["checks_in_common"] == 2 and family["differing"] == 2
    rows = {r["key"]["kind"]: r for r in family["rows"]}
    value = rows["value"]
    assert value["delta"]["ulps"] == 1.0  # 2.0000002 is one float32 ulp above 2
    flag = next(w for w in value["why"] if w["type"] == "flag")
    assert flag["name"] == "sparse_renormalize"
    assert [v["value"] for v in flag["values"]] == ["'after_clip'", "'before_clip'"]
    golden = rows["golden"]
    assert [c["verdict"] for c in golden["cells"]] == ["pass", "deviation"]
    dev = next(w for w in golden["why"] if w["type"] == "deviation")
    assert dev["summary"] == "b prints more" and dev["source"] == "b/loss.py" and dev["settings"] == {"x64": "on"}
    summary = family["summary"][0]
    assert summary["column"] == "b [other]" and summary["verdict_changes"] == 1 and summary["value_changes"] == 2
    lines = comparison.text_lines(out)
    assert lines[0].startswith("variants of api: a [default], b [other]: 2 checks in common, 2 differ")


def _tiny_project(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "pytest_plugins = ['reports.pytest_plugin']\n"
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--variant')\n"
        "    parser.addoption('--framework', action='append', default=[])\n")
    (tmp_path / "test_ok.py").write_text(
        "def test_ok(record_check):\n"
        "    record_check({'kind': 'value', 'loss': 'huber', 'framework': 'fw'})\n")
    (tmp_path / "test_dies.py").write_text("import os\ndef test_dies():\n    print('dying loudly')\n    os._exit(3)\n")


def test_run_all_merges_and_a_dead_variant_is_lost_not_a_crash(tmp_path, monkeypatch):
    _tiny_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    ok = Variant("ok", "fine", tests=("-p", "no:cacheprovider", "test_ok.py"))
    dies = Variant("dies", "crashes", frameworks=("fw",), tests=("-p", "no:cacheprovider", "-s", "test_dies.py"))
    out = variant_runs.run_all([ok, dies], [], tmp_path / "reports" / "results.json", jobs=2, timeout=300)
    doc = results.load(tmp_path / "reports" / "results.json")
    assert [r["label"] for r in doc["runs"]] == ["ok", "dies"]
    verdicts = {(c["run"], c["id"]): c["verdict"] for c in doc["checks"]}
    assert verdicts == {("ok", "value:huber:fw"): "pass", ("dies", "variant:dies:fw"): "lost"}
    lost = next(c for c in doc["checks"] if c["verdict"] == "lost")
    assert "exited with code 3" in lost["reason"] and "dying loudly" in lost["reason"]
    assert out.code == 2 and any("variant dies exited with code 3" in line for line in out.lines)


def test_the_report_shows_the_variants_side_by_side():
    from reports import html

    page = html.render(_doc())
    section = page[page.index('id="variants"'):]
    section = section[:section.index("</section>")].replace("<wbr>", "")
    for text in ("a [default]", "b [other]", "2 checks in common, 2 differ", "sparse_renormalize", "b prints more",
                 "before_clip"):
        assert text in section, text
