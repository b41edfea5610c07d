"""Meta-tests of the case loader: a valid file loads; every kind of malformed file stops the load with a
``CaseError`` whose message names the file, the case id and the field.

The files are built in ``tmp_path`` from a valid case (a Python dict) with one thing broken, written as
TOML by the small writer below (the stdlib reads TOML but does not write it).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

import cases
from cases import CaseError, load_all, load_file
from cases import schema as S

SCHEMA_LINE = f'schema = "{S.SCHEMA_ID}"\n'
DOC = "000_fe8ceeae3315ded2.txt"
S_DOCUMENTS = Path(cases.__file__).resolve().parent / "documents"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def toml_text(case_tables: list[dict], header: str = SCHEMA_LINE) -> str:
    out = [header]
    for table in case_tables:
        out.append("[[case]]")
        out.extend(f"{k} = {_value(v)}" for k, v in table.items())
        out.append("")
    return "\n".join(out)


def golden(**changes) -> dict:
    """A valid golden document case; ``changes`` replace keys (None deletes one)."""
    base = {
        "id": "doc000.tf-cce.uniform",
        "kind": "golden",
        "loss": "categorical_crossentropy",
        "args": {"from_logits": False},
        "inputs": {"y_true": [0.0, 1.0, 0.0, 0.0], "y_pred": [0.25, 0.25, 0.25, 0.25]},
        "dtype": "float32",
        "convention": "keras2",
        "reduction": "none",
        "expect": {"printed": "1.3862944", "computed_dtype": "float32"},
        "provenance": {"document": DOC, "quote": "numpy=1.3862944>"},
    }
    for key, value in changes.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def erratum(**erratum_changes) -> dict:
    table = {"type": "value", "printed": "1.356", "corrected": "1.357", "why": "truncated"}
    for key, value in erratum_changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return golden(id="doc000.erratum", kind="erratum", loss="entropy", args={"base": 2},
                  inputs={"p": [0.1, 0.1, 0.1, 0.7]}, dtype="float64", convention="math", expect={},
                  erratum=table)


def invariant(**inv_changes) -> dict:
    table = {"property": "sum_zero", "data": ["-0.5", "0.25", "0.25"], "computed_dtype": "float32"}
    for key, value in inv_changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return golden(id="doc000.invariant", kind="invariant", inputs=None, dtype=None, expect=None,
                  invariant=table)


def identity(**id_changes) -> dict:
    table = {"name": "cross_entropy_decomposition"}
    table.update({k: v for k, v in id_changes.items() if v is not None})
    return golden(id="doc000.identity", kind="identity", loss="cross_entropy", args={},
                  inputs={"p": [0.5, 0.5], "q": [0.25, 0.75]}, dtype="float64", convention="math",
                  expect=None, identity=table)


def with_expect(**changes) -> dict:
    expect = {"printed": "1.3862944", "computed_dtype": "float32"}
    for key, value in changes.items():
        if value is None:
            expect.pop(key, None)
        else:
            expect[key] = value
    return golden(expect=expect)


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# (test id, file text, case id in the message, field in the message, words of the message)
MALFORMED = [
    ("bad-toml-syntax", SCHEMA_LINE + "[[case]]\nid = 'x\n", "-", "toml", "not valid TOML"),
    ("missing-schema-line", toml_text([golden()], header=""), "-", "schema", "missing"),
    ("wrong-schema-version", toml_text([golden()], header='schema = "lossparity.cases/2"\n'), "-", "schema",
     "unsupported schema"),
    ("unknown-top-level-key", toml_text([golden()], header=SCHEMA_LINE + 'author = "me"\n'), "-", "author",
     "unknown top-level key"),
    ("no-case-tables", SCHEMA_LINE, "-", "case", "one or more [[case]]"),
    ("case-without-id", toml_text([golden(id=None)]), "#1", "id", "missing"),
    ("duplicate-id-in-file", toml_text([golden(), golden()]), "doc000.tf-cce.uniform", "id",
     "duplicate id within this file"),
    ("bad-id-characters", toml_text([golden(id="Doc000 golden!")]), "Doc000 golden!", "id", "not a valid id"),
    ("id-not-a-string", toml_text([golden(id=7)]), "#1", "id", "not a valid id"),
    ("unknown-case-key", toml_text([golden(expected="1.0")]), "doc000.tf-cce.uniform", "expected",
     "unknown key"),
    ("missing-kind", toml_text([golden(kind=None)]), "doc000.tf-cce.uniform", "kind", "missing"),
    ("unknown-kind", toml_text([golden(kind="gold")]), "doc000.tf-cce.uniform", "kind", "unknown kind 'gold'"),
    ("unknown-loss", toml_text([golden(loss="categorical_cross_entropy")]), "doc000.tf-cce.uniform", "loss",
     "unknown loss"),
    ("unknown-convention", toml_text([golden(convention="keras4")]), "doc000.tf-cce.uniform", "convention",
     "unknown convention 'keras4'"),
    ("unknown-dtype", toml_text([golden(dtype="float8")]), "doc000.tf-cce.uniform", "dtype",
     "unknown dtype 'float8'"),
    ("missing-dtype", toml_text([golden(dtype=None)]), "doc000.tf-cce.uniform", "dtype", "missing"),
    ("unknown-reduction", toml_text([golden(reduction="average")]), "doc000.tf-cce.uniform", "reduction",
     "unknown reduction 'average'"),
    ("unknown-quantity", toml_text([golden(quantity="hessian")]), "doc000.tf-cce.uniform", "quantity",
     "unknown quantity"),
    ("grad-with-mean-reduction", toml_text([golden(quantity="grad", reduction="mean")]),
     "doc000.tf-cce.uniform", "quantity", "reduction 'none' or 'sum'"),
    ("scale-is-a-string", toml_text([golden(scale="3")]), "doc000.tf-cce.uniform", "scale",
     "expected a non-zero number"),
    ("args-not-a-table", toml_text([golden(args="from_logits")]), "doc000.tf-cce.uniform", "args",
     "expected a table"),
    ("unknown-arg", toml_text([golden(args={"base": 2})]), "doc000.tf-cce.uniform", "args.base",
     "unknown argument of reference categorical_crossentropy()"),
    ("convention-as-arg", toml_text([golden(args={"convention": "keras"})]), "doc000.tf-cce.uniform",
     "args.convention", "the case's own field"),
    ("string-where-number-belongs", toml_text([erratum() | {"args": {"base": "2"}}]), "doc000.erratum",
     "args.base", "expected a number"),
    ("int-where-bool-belongs", toml_text([golden(args={"from_logits": 1})]), "doc000.tf-cce.uniform",
     "args.from_logits", "expected a boolean"),
    ("float-where-axis-belongs", toml_text([golden(args={"axis": 1.5})]), "doc000.tf-cce.uniform",
     "args.axis", "expected an integer"),
    ("inputs-missing", toml_text([golden(inputs=None)]), "doc000.tf-cce.uniform", "inputs", "missing"),
    ("inputs-wrong-name", toml_text([golden(inputs={"y": [0.0, 1.0], "y_pred": [0.5, 0.5]})]),
     "doc000.tf-cce.uniform", "inputs.y", "has no input named 'y'"),
    ("inputs-one-missing", toml_text([golden(inputs={"y_true": [0.0, 1.0]})]), "doc000.tf-cce.uniform",
     "inputs.y_pred", "missing"),
    ("inputs-not-a-table", toml_text([golden(inputs=[0.0, 1.0])]), "doc000.tf-cce.uniform", "inputs",
     "expected a table"),
    ("ragged-nested-list", toml_text([golden(inputs={"y_true": [[0.0, 1.0], [1.0, 0.0]],
                                                     "y_pred": [[0.5, 0.5], [0.5]]})]),
     "doc000.tf-cce.uniform", "inputs.y_pred", "ragged nested list"),
    ("non-numeric-array-element", toml_text([golden(inputs={"y_true": [0.0, 1.0], "y_pred": [0.5, "0.5"]})]),
     "doc000.tf-cce.uniform", "inputs.y_pred", "expected a number, got str '0.5'"),
    ("boolean-array-element", toml_text([golden(inputs={"y_true": [False, True], "y_pred": [0.5, 0.5]})]),
     "doc000.tf-cce.uniform", "inputs.y_true", "expected a number, got bool"),
    ("non-integer-label", toml_text([golden(loss="sparse_categorical_crossentropy", args={},
                                            inputs={"labels": [1.5], "y_pred": [[0.5, 0.5]]})]),
     "doc000.tf-cce.uniform", "inputs.labels", "integer label"),
    ("expect-not-a-table", toml_text([golden(expect="1.3862944")]), "doc000.tf-cce.uniform", "expect",
     "expected a table"),
    ("unknown-expect-key", toml_text([with_expect(tolerance=1e-6)]), "doc000.tf-cce.uniform",
     "expect.tolerance", "unknown key"),
    ("empty-printed-string", toml_text([with_expect(printed="")]), "doc000.tf-cce.uniform", "expect.printed",
     "empty string"),
    ("printed-not-a-number-string", toml_text([with_expect(printed="≈1.356")]), "doc000.tf-cce.uniform",
     "expect.printed", "not a number as printed"),
    ("printed-is-code", toml_text([with_expect(printed="__import__('os').getcwd()")]),
     "doc000.tf-cce.uniform", "expect.printed", "not a number as printed"),
    ("printed-is-a-float", toml_text([with_expect(printed=1.3862944)]), "doc000.tf-cce.uniform",
     "expect.printed", "expected a number written as a string"),
    ("printed-list-with-bad-element", toml_text([with_expect(printed=["1.0", "one"])]),
     "doc000.tf-cce.uniform", "expect.printed", "'one' is not a number"),
    ("golden-without-printed-or-value", toml_text([with_expect(printed=None)]), "doc000.tf-cce.uniform",
     "expect", "needs expect.printed"),
    ("unknown-computed-dtype", toml_text([with_expect(computed_dtype="tf.float32")]), "doc000.tf-cce.uniform",
     "expect.computed_dtype", "unknown computed_dtype"),
    ("exact-not-a-boolean", toml_text([with_expect(exact="yes")]), "doc000.tf-cce.uniform", "expect.exact",
     "expected a boolean"),
    ("by-convention-unknown", toml_text([with_expect(by_convention={"keras9": "1.0"})]),
     "doc000.tf-cce.uniform", "expect.by_convention.keras9", "unknown convention"),
    ("example-without-value", toml_text([golden(kind="example", notes="nothing printed")]),
     "doc000.tf-cce.uniform", "expect.value", "missing"),
    ("example-without-notes", toml_text([golden(kind="example", expect={"value": [1.0]})]),
     "doc000.tf-cce.uniform", "notes", "printed nothing"),
    ("erratum-without-table", toml_text([golden(kind="erratum")]), "doc000.tf-cce.uniform", "erratum",
     "missing"),
    ("erratum-without-why", toml_text([erratum(why=None)]), "doc000.erratum", "erratum.why", "missing"),
    ("erratum-empty-why", toml_text([erratum(why="  ")]), "doc000.erratum", "erratum.why", "empty string"),
    ("erratum-without-corrected", toml_text([erratum(corrected=None)]), "doc000.erratum", "erratum.corrected",
     "missing"),
    ("erratum-value-without-printed", toml_text([erratum(printed=None)]), "doc000.erratum", "erratum.printed",
     "missing"),
    ("erratum-formula-without-stated", toml_text([erratum(type="formula")]), "doc000.erratum",
     "erratum.stated", "missing"),
    ("erratum-unknown-type", toml_text([erratum(type="typo")]), "doc000.erratum", "erratum.type",
     "unknown type 'typo'"),
    ("erratum-table-on-golden", toml_text([golden(erratum={"type": "value"})]), "doc000.tf-cce.uniform",
     "erratum", "only a case of kind 'erratum'"),
    ("invariant-unknown-property", toml_text([invariant(property="sums_to_zero")]), "doc000.invariant",
     "invariant.property", "unknown property 'sums_to_zero'"),
    ("invariant-without-data", toml_text([invariant(data=None)]), "doc000.invariant", "invariant.data",
     "missing"),
    ("invariant-bounded-without-bounds", toml_text([invariant(property="bounded")]), "doc000.invariant",
     "invariant.lower", "needs lower and/or upper"),
    ("invariant-bad-axis", toml_text([invariant(axis=3)]), "doc000.invariant", "invariant.axis",
     "integer axis"),
    ("invariant-bounds-shape", toml_text([invariant(property="bounded", lower=[0.0, 0.0])]), "doc000.invariant",
     "invariant.lower", "does not broadcast"),
    ("identity-unknown-name", toml_text([identity(name="kl_is_symmetric")]), "doc000.identity",
     "identity.name", "unknown name 'kl_is_symmetric'"),
    ("identity-wrong-loss", toml_text([identity(name="softmax_sums_to_one")]), "doc000.identity", "loss",
     "stated for loss 'softmax'"),
    ("identity-param-not-number", toml_text([identity(params={"max_ratio": "small"})]), "doc000.identity",
     "identity.params.max_ratio", "expected a number"),
    ("provenance-missing", toml_text([golden(provenance=None)]), "doc000.tf-cce.uniform", "provenance",
     "missing"),
    ("provenance-missing-quote", toml_text([golden(provenance={"document": DOC})]), "doc000.tf-cce.uniform",
     "provenance.quote", "missing"),
    ("provenance-empty-quote", toml_text([golden(provenance={"document": DOC, "quote": ""})]),
     "doc000.tf-cce.uniform", "provenance.quote", "empty string"),
    ("provenance-unknown-document", toml_text([golden(provenance={"document": "005_0000.txt", "quote": "q"})]),
     "doc000.tf-cce.uniform", "provenance.document", "unknown document '005_0000.txt'"),
    ("provenance-document-mismatch",
     toml_text([golden(provenance={"document": "003_db0d15251351a46e.txt", "quote": "q"})]),
     "doc000.tf-cce.uniform", "provenance.document", "does not match document"),
]


def test_the_malformed_kinds_are_many():
    assert len(MALFORMED) >= 20
    assert len({m[0] for m in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("text,case_id,field,words", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused(tmp_path, text, case_id, field, words):
    path = write(tmp_path, text)
    with pytest.raises(CaseError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: case '{case_id}': field '{field}': "), message
    assert words in message, message
    assert (info.value.file, info.value.case_id, info.value.field) == (str(path), case_id, field)


def test_malformed_file_stops_load_all(tmp_path):
    write(tmp_path, toml_text([golden()]), "a.toml")
    (tmp_path / "deeper").mkdir()
    write(tmp_path / "deeper", toml_text([golden(id="doc000.second", kind="gold")]), "b.toml")
    with pytest.raises(CaseError, match=r"b\.toml: case 'doc000.second': field 'kind'"):
        load_all(tmp_path)


def test_duplicate_id_across_files(tmp_path):
    first = write(tmp_path, toml_text([golden()]), "a.toml")
    second = write(tmp_path, toml_text([golden()]), "b.toml")
    with pytest.raises(CaseError) as info:
        load_all(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{second}: case 'doc000.tf-cce.uniform': field 'id': duplicate id"), message
    assert str(first) in message


def test_valid_file_loads(tmp_path):
    path = write(tmp_path, toml_text([golden(), erratum(), invariant(), identity(),
                                      golden(id="free.case", provenance=None)]))
    loaded = load_file(path)
    assert [c.id for c in loaded] == ["doc000.tf-cce.uniform", "doc000.erratum", "doc000.invariant",
                                      "doc000.identity", "free.case"]
    case = loaded[0]
    assert case.inputs["y_pred"].dtype == np.float64 and case.inputs["y_pred"].shape == (4,)
    assert case.expect.printed == "1.3862944" and case.expect.computed_dtype == "float32"
    assert case.provenance.document == DOC and case.file == str(path)
    assert loaded[1].erratum.corrected == "1.357" and loaded[2].invariant.data.shape == (3,)
    assert loaded[4].provenance is None and loaded[4].reduction == "none" and loaded[4].scale == 1.0


def test_labels_are_integers(tmp_path):
    path = write(tmp_path, toml_text([golden(loss="sparse_categorical_crossentropy", args={},
                                             inputs={"labels": [[1], [0]], "y_pred": [[[0.5, 0.5]], [[0.2, 0.8]]]})]))
    case = load_file(path)[0]
    assert case.inputs["labels"].dtype == np.int64 and case.inputs["labels"].shape == (2, 1)


def test_loader_works_without_the_reference(tmp_path, monkeypatch):
    """The loader checks names and arguments against the design's signatures when reference/ cannot be
    imported (so it never fails to import, and still refuses unknown arguments)."""
    monkeypatch.setattr(S, "reference_module", lambda: None)
    assert load_all(S_DOCUMENTS)
    path = write(tmp_path, toml_text([golden(args={"delta": 1.0})]))
    with pytest.raises(CaseError, match=r"field 'args.delta': unknown argument"):
        load_file(path)


def test_stub_signatures_match_the_reference():
    """The static fallback agrees with the reference where both know a function."""
    ref = S.reference_module()
    if ref is None:
        pytest.skip("reference/ is not importable")
    stubs = S._stub_signatures()
    real = S.loss_functions()
    for name, stub in stubs.items():
        if name in real:
            assert S.input_names(stub) == S.input_names(real[name]), name
            assert set(S.arg_defaults(stub)) <= set(S.arg_defaults(real[name])), name


def test_repository_cases_load():
    loaded = load_all()
    ids = [c.id for c in loaded]
    assert len(ids) == len(set(ids))
    docs = [c for c in loaded if c.id.startswith("doc")]
    assert docs and all(c.provenance is not None for c in docs)
    assert all(S.DOC_ID_PATTERN.match(c.id).group(1) == c.provenance.document[:3] for c in docs)


def test_case_objects_are_frozen():
    case = load_all()[0]
    with pytest.raises(Exception):
        case.id = "other"  # type: ignore[misc]
    assert copy.copy(case).id == case.id
