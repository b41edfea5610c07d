"""Meta-tests of the case loader: a valid file loads; every kind of malformed file stops the load with a
``CaseError`` whose message names the file, the case id and the field.

The files are built in ``tmp_path`` from a valid case (a Python dict) with one thing broken, written as
TOML by the small writer below (the stdlib reads TOML but does not write it), or as raw bytes where the
breakage is below TOML (encoding, nesting the parser cannot follow).
"""
from __future__ import annotations

import ast
import copy
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

import cases
from cases import CaseError, load_all, load_file
from cases import schema as S

SCHEMA_LINE = f'schema = "{S.SCHEMA_ID}"\n'
DOC = "000_fe8ceeae3315ded2.txt"
CASES_DIR = Path(cases.__file__).resolve().parent
# The convention names a caller knows (test data: the loader itself knows none).
KNOWN = frozenset({"math", "keras", "keras2", "torch", "optax"})
NAN, INF = float("nan"), float("inf")


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
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


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


def write(tmp_path: Path, text: str | bytes, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def nested(x, depth: int):
    """``x`` inside ``depth`` one-element lists."""
    for _ in range(depth):
        x = [x]
    return x


def sparse(labels, y_pred, **changes) -> dict:
    """A golden sparse categorical cross entropy case with these labels and probabilities."""
    return golden(loss="sparse_categorical_crossentropy", args=changes.pop("args", {}),
                  inputs={"labels": labels, "y_pred": y_pred}, **changes)


def example(value) -> dict:
    return golden(kind="example", notes="nothing printed", expect={"value": value})


GOLDEN_ID = "doc000.tf-cce.uniform"


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
    # -- below TOML: encoding and nesting the parser cannot follow ------------------------------------
    ("non-utf8-bytes", SCHEMA_LINE.encode() + b'[[case]]\nid = "doc000.x"\nnotes = "caf\xe9"\n', "-", "encoding",
     "not UTF-8: byte 0xe9 at line 4, column 13"),
    ("utf16-file", toml_text([golden()]).encode("utf-16"), "-", "encoding", "not UTF-8: byte 0xff at line 1"),
    ("utf8-byte-order-mark", b"\xef\xbb\xbf" + toml_text([golden()]).encode(), "-", "encoding", "byte-order mark"),
    ("array-nested-beyond-the-parser", SCHEMA_LINE + "[[case]]\nid = \"x\"\nnotes = " + "[" * 5000 + "]" * 5000 + "\n",
     "-", "toml", "nested too deeply"),
    ("table-nested-beyond-the-parser", SCHEMA_LINE + "[[case]]\nid = \"x\"\nargs = " + "{a=" * 5000 + "1" + "}" * 5000
     + "\n", "-", "toml", "nested too deeply"),
    ("integer-literal-too-long", toml_text([sparse(["@BIG@"], [[0.5, 0.5]])]).replace('"@BIG@"', "1" + "0" * 5000),
     "-", "toml", "not valid TOML here"),
    # -- numbers beyond int64 / float64 ---------------------------------------------------------------
    ("label-beyond-int64", toml_text([sparse([2 ** 63], [[0.5, 0.5]])]), GOLDEN_ID, "inputs.labels",
     "beyond the 64-bit integer range"),
    ("label-below-int64", toml_text([sparse([-(2 ** 63) - 1], [[0.5, 0.5]])]), GOLDEN_ID, "inputs.labels",
     "beyond the 64-bit integer range"),
    ("label-beyond-int64-in-edge-case", toml_text([sparse([2 ** 64], [[0.5, 0.5]], kind="edge", expect=None)]),
     GOLDEN_ID, "inputs.labels", "beyond the 64-bit integer range"),
    ("input-integer-beyond-float64", toml_text([golden(inputs={"y_true": [0, 1], "y_pred": [10 ** 400, 1]})]),
     GOLDEN_ID, "inputs.y_pred", "too large for a float64"),
    ("scale-integer-beyond-float64", toml_text([golden(scale=10 ** 400)]), GOLDEN_ID, "scale",
     "too large for a float64"),
    # -- arrays nested deeper than NumPy allows -------------------------------------------------------
    ("input-nested-65-deep", toml_text([golden(inputs={"y_true": nested(0.5, 65), "y_pred": nested(0.5, 65)})]),
     GOLDEN_ID, "inputs.y_true", f"nested more than {S.MAX_RANK} deep"),
    ("input-nested-one-beyond-max-rank",
     toml_text([golden(inputs={"y_true": nested(0.5, S.MAX_RANK + 1), "y_pred": nested(0.5, S.MAX_RANK + 1)})]),
     GOLDEN_ID, "inputs.y_true", f"nested more than {S.MAX_RANK} deep"),
    ("labels-nested-65-deep", toml_text([sparse(nested(0, 65), nested(0.5, 66))]), GOLDEN_ID, "inputs.labels",
     "nested more than"),
    ("printed-nested-65-deep", toml_text([with_expect(printed=nested("1.0", 65))]), GOLDEN_ID, "expect.printed",
     "nested more than"),
    ("expect-value-nested-65-deep", toml_text([example(nested(1.0, 65))]), GOLDEN_ID, "expect.value",
     "nested more than"),
    ("invariant-data-nested-65-deep", toml_text([invariant(data=nested("0.5", 65))]), "doc000.invariant",
     "invariant.data", "nested more than"),
    ("arg-nested-list-in-message", toml_text([golden(args={"from_logits": nested(True, 200)})]), GOLDEN_ID,
     "args.from_logits", "expected a boolean, got list [[[[...]]]]"),
    # -- NaN and infinities where a stated number belongs ---------------------------------------------
    ("scale-nan", toml_text([golden(scale=NAN)]), GOLDEN_ID, "scale", "expected a finite number, got nan"),
    ("scale-inf", toml_text([golden(scale=INF)]), GOLDEN_ID, "scale", "expected a finite number, got inf"),
    ("scale-minus-inf", toml_text([golden(scale=-INF)]), GOLDEN_ID, "scale", "expected a finite number, got -inf"),
    ("arg-nan", toml_text([golden(args={"label_smoothing": NAN})]), GOLDEN_ID, "args.label_smoothing",
     "expected a finite number, got nan"),
    ("arg-inf", toml_text([erratum() | {"args": {"base": INF}}]), "doc000.erratum", "args.base",
     "expected a finite number, got inf"),
    ("arg-minus-inf", toml_text([golden(loss="huber", args={"delta": -INF}, convention="math")]), GOLDEN_ID,
     "args.delta", "expected a finite number, got -inf"),
    ("expect-value-nan", toml_text([example([1.0, NAN])]), GOLDEN_ID, "expect.value",
     "element[1]: expected a finite number, got nan"),
    ("expect-value-inf", toml_text([example(INF)]), GOLDEN_ID, "expect.value",
     "field 'expect.value': expected a finite number, got inf"),
    ("golden-value-minus-inf", toml_text([with_expect(printed=None, value=[-INF])]), GOLDEN_ID, "expect.value",
     "expected a finite number, got -inf"),
    ("printed-nan-string", toml_text([with_expect(printed="nan")]), GOLDEN_ID, "expect.printed",
     "not a number as printed"),
    ("printed-inf-string", toml_text([with_expect(printed="-inf")]), GOLDEN_ID, "expect.printed",
     "not a number as printed"),
    ("printed-overflows-float64", toml_text([with_expect(printed="1e999")]), GOLDEN_ID, "expect.printed",
     "beyond float64's range"),
    ("printed-list-element-overflows", toml_text([with_expect(printed=["1.0", "-2.5e400"])]), GOLDEN_ID,
     "expect.printed", "element[1]: '-2.5e400' is beyond float64's range"),
    ("by-convention-printed-overflows", toml_text([with_expect(by_convention={"keras": "1e999"})]), GOLDEN_ID,
     "expect.by_convention.keras", "beyond float64's range"),
    ("erratum-corrected-overflows", toml_text([erratum(corrected="1e400")]), "doc000.erratum",
     "erratum.corrected", "beyond float64's range"),
    ("erratum-printed-overflows", toml_text([erratum(printed="9" * 400)]), "doc000.erratum", "erratum.printed",
     "beyond float64's range"),
    ("erratum-stated-inf-string", toml_text([erratum(type="formula", stated="inf")]), "doc000.erratum",
     "erratum.stated", "not a number as printed"),
    ("invariant-data-nan", toml_text([invariant(data=[NAN, 0.25, 0.25])]), "doc000.invariant", "invariant.data",
     "expected a finite number, got nan"),
    ("invariant-data-overflows", toml_text([invariant(data=["-1e999", "0.25", "0.25"])]), "doc000.invariant",
     "invariant.data", "beyond float64's range"),
    ("invariant-bound-inf", toml_text([invariant(property="bounded", upper=INF)]), "doc000.invariant",
     "invariant.upper", "expected a finite number, got inf"),
    ("invariant-bound-nan", toml_text([invariant(property="bounded", lower=[0.0, NAN, 0.0])]), "doc000.invariant",
     "invariant.lower", "expected a finite number, got nan"),
    ("identity-param-nan", toml_text([identity(params={"max_ratio": NAN})]), "doc000.identity",
     "identity.params.max_ratio", "expected a finite number, got nan"),
    ("identity-param-inf", toml_text([identity(params={"max_ratio": INF})]), "doc000.identity",
     "identity.params.max_ratio", "expected a finite number, got inf"),
    # -- NaN and infinities as inputs: only an edge case records them ---------------------------------
    ("input-nan-outside-edge", toml_text([golden(inputs={"y_true": [0.0, 1.0], "y_pred": [NAN, 0.5]})]),
     GOLDEN_ID, "inputs.y_pred", "element[0]: nan is not a finite number; only an edge case (kind 'edge')"),
    ("input-inf-in-fuzz-case", toml_text([golden(kind="fuzz", provenance=None, id="fuzz.x", expect=None,
                                                 inputs={"y_true": [0.0, 1.0], "y_pred": [INF, 0.5]})]),
     "fuzz.x", "inputs.y_pred", "kind 'edge'"),
    ("input-minus-inf-outside-edge", toml_text([golden(loss="nll", args={}, inputs={"labels": [0],
                                                                                   "log_probs": [[-INF, 0.0]]})]),
     GOLDEN_ID, "inputs.log_probs", "element[0][0]: -inf is not a finite number"),
    # -- empty arrays ---------------------------------------------------------------------------------
    ("empty-input-arrays", toml_text([golden(inputs={"y_true": [], "y_pred": []})]), GOLDEN_ID, "inputs.y_true",
     "empty array at the top level"),
    ("empty-inner-arrays", toml_text([golden(inputs={"y_true": [[], []], "y_pred": [[], []]})]), GOLDEN_ID,
     "inputs.y_true", "empty array at[0]"),
    ("empty-labels", toml_text([sparse([], [[0.5, 0.5]])]), GOLDEN_ID, "inputs.labels", "empty array"),
    ("empty-input-in-edge-case", toml_text([golden(kind="edge", expect=None, inputs={"y_true": [], "y_pred": []})]),
     GOLDEN_ID, "inputs.y_true", "empty array"),
    ("empty-activation-input", toml_text([golden(loss="softmax", args={}, convention="math",
                                                 inputs={"z": [[]]})]), GOLDEN_ID, "inputs.z", "empty array"),
    ("empty-printed-list", toml_text([with_expect(printed=[])]), GOLDEN_ID, "expect.printed", "empty array"),
    ("empty-expect-value", toml_text([example([])]), GOLDEN_ID, "expect.value", "empty array"),
    ("empty-by-convention-list", toml_text([with_expect(by_convention={"keras": [[]]})]), GOLDEN_ID,
     "expect.by_convention.keras", "empty array"),
    ("empty-erratum-corrected", toml_text([erratum(corrected=[])]), "doc000.erratum", "erratum.corrected",
     "empty array"),
    ("empty-invariant-data", toml_text([invariant(data=[])]), "doc000.invariant", "invariant.data", "empty array"),
    ("empty-invariant-bound", toml_text([invariant(property="bounded", lower=[])]), "doc000.invariant",
     "invariant.lower", "empty array"),
    # -- inputs whose shapes do not fit the loss ------------------------------------------------------
    ("shape-mismatch", toml_text([golden(inputs={"y_true": [0.0, 1.0, 0.0], "y_pred": [0.25, 0.25, 0.25, 0.25]})]),
     GOLDEN_ID, "inputs.y_true", "shape (3,) does not match inputs.y_pred's shape (4,)"),
    ("shape-mismatch-broadcastable", toml_text([golden(inputs={"y_true": [[0.0, 1.0]],
                                                               "y_pred": [[0.5, 0.5], [0.5, 0.5]]})]),
     GOLDEN_ID, "inputs.y_true", "does not match"),
    ("shape-mismatch-in-rank", toml_text([golden(inputs={"y_true": [0.0, 1.0], "y_pred": [[0.5, 0.5]]})]),
     GOLDEN_ID, "inputs.y_true", "does not match"),
    ("shape-mismatch-p-q", toml_text([identity() | {"inputs": {"p": [0.5, 0.5], "q": [0.2, 0.3, 0.5]}}]),
     "doc000.identity", "inputs.p", "does not match inputs.q's shape (3,)"),
    ("shape-mismatch-in-fuzz-case", toml_text([golden(kind="fuzz", id="fuzz.y", provenance=None, expect=None,
                                                      inputs={"y_true": [1.0, 2.0], "y_pred": [1.0]},
                                                      loss="mean_squared_error", args={})]),
     "fuzz.y", "inputs.y_true", "does not match"),
    ("labels-shape-mismatch", toml_text([sparse([1, 0], [[0.5, 0.5]])]), GOLDEN_ID, "inputs.labels",
     "shape (2,) is not inputs.y_pred's shape (1, 2) without its class axis -1 (expected (1,))"),
    ("labels-shape-with-class-axis-first", toml_text([sparse([0, 1], [[0.2, 0.3, 0.5], [0.8, 0.7, 0.5]],
                                                             args={"axis": 0})]),
     GOLDEN_ID, "inputs.labels", "without its class axis 0 (expected (3,))"),
    ("labels-same-shape-as-y-pred", toml_text([sparse([[0, 1]], [[0.5, 0.5]])]), GOLDEN_ID, "inputs.labels",
     "without its class axis"),
    # -- labels outside [0, K) ------------------------------------------------------------------------
    ("label-equal-to-class-count", toml_text([sparse([2], [[0.5, 0.5]])]), GOLDEN_ID, "inputs.labels",
     "label 2 at [0] is outside [0, 2)"),
    ("label-negative", toml_text([sparse([0, -1], [[0.5, 0.5], [0.5, 0.5]])]), GOLDEN_ID, "inputs.labels",
     "label -1 at [1] is outside [0, 2)"),
    ("label-ignore-index-outside-edge", toml_text([sparse([-100, 1], [[0.5, 0.5], [0.5, 0.5]])]), GOLDEN_ID,
     "inputs.labels", "belong in an edge case"),
    ("label-out-of-range-on-class-axis-first", toml_text([sparse([0, 1, 2], [[0.2, 0.3, 0.5], [0.8, 0.7, 0.5]],
                                                                 args={"axis": 0})]),
     GOLDEN_ID, "inputs.labels", "label 2 at [2] is outside [0, 2)"),
    ("nll-label-out-of-range", toml_text([golden(loss="nll", args={}, inputs={"labels": [[3]],
                                                                             "log_probs": [[[-0.5, -1.0]]]})]),
     GOLDEN_ID, "inputs.labels", "label 3 at [0, 0] is outside [0, 2)"),
    ("label-out-of-range-in-identity-case",
     toml_text([golden(id="doc000.identity", kind="identity", loss="sparse_categorical_crossentropy", args={},
                       inputs={"labels": [3], "y_pred": [[1.0, 2.0, 3.0]]}, convention="math", expect=None,
                       identity={"name": "ce_equals_nll_of_log_softmax"})]),
     "doc000.identity", "inputs.labels", "outside [0, 3)"),
    # -- axes out of range ----------------------------------------------------------------------------
    ("axis-out-of-range", toml_text([golden(args={"axis": 1})]), GOLDEN_ID, "args.axis",
     "axis 1 is out of range for inputs.y_true of shape (4,) (rank 1: axes -1..0)"),
    ("axis-negative-out-of-range", toml_text([golden(args={"axis": -2})]), GOLDEN_ID, "args.axis",
     "axis -2 is out of range"),
    ("axis-huge", toml_text([golden(args={"axis": 2 ** 62})]), GOLDEN_ID, "args.axis", "out of range"),
    ("axis-out-of-range-in-edge-case", toml_text([golden(kind="edge", expect=None, args={"axis": 3})]), GOLDEN_ID,
     "args.axis", "out of range"),
    ("axis-list-repeated", toml_text([golden(loss="mean_squared_error", args={"axis": [0, -2]},
                                             inputs={"y_true": [[1.0]], "y_pred": [[1.0]]})]),
     GOLDEN_ID, "args.axis", "axis -2 repeated"),
    ("axis-list-out-of-range", toml_text([golden(args={"axis": [0, 5]})]), GOLDEN_ID, "args.axis",
     "axis 5 is out of range"),
    ("axis-list-with-labels", toml_text([sparse([1], [[0.5, 0.5]], args={"axis": [1]})]), GOLDEN_ID, "args.axis",
     "one class axis"),
    ("activation-axis-out-of-range", toml_text([golden(loss="softmax", args={"axis": 1}, convention="math",
                                                       inputs={"z": [1.0, 2.0]})]),
     GOLDEN_ID, "args.axis", "out of range for inputs.z"),
    ("scalar-inputs-without-the-default-axis", toml_text([golden(inputs={"y_true": 1.0, "y_pred": 1.0})]),
     GOLDEN_ID, "inputs.y_true", "reduces over axis -1 (the default), which inputs.y_true (a 0-d array) does not have"),
    ("scalar-prediction-with-scalar-label", toml_text([sparse(0, 0.5)]), GOLDEN_ID, "inputs.y_pred", "0-d"),
    ("invariant-axis-on-0d-data", toml_text([invariant(data="0.0", axis=0)]), "doc000.invariant",
     "invariant.axis", "integer axis of the 0-d data"),
    # -- ids: the whole string matches the pattern ----------------------------------------------------
    ("id-trailing-newline", toml_text([golden(id=GOLDEN_ID + "\n")]), GOLDEN_ID + "\\n", "id", "not a valid id"),
    ("id-trailing-newline-duplicates-another", toml_text([golden(), golden(id=GOLDEN_ID + "\n")]),
     GOLDEN_ID + "\\n", "id", "not a valid id"),
    ("id-leading-newline", toml_text([golden(id="\n" + GOLDEN_ID)]), "\\n" + GOLDEN_ID, "id", "not a valid id"),
    # -- convention names -----------------------------------------------------------------------------
    ("convention-bad-syntax", toml_text([golden(convention="keras 3")]), GOLDEN_ID, "convention",
     "not a convention name"),
    ("convention-not-a-string", toml_text([golden(convention=3)]), GOLDEN_ID, "convention",
     "expected a convention name"),
    ("by-convention-bad-syntax", toml_text([with_expect(by_convention={"keras-3": "1.0"})]), GOLDEN_ID,
     "expect.by_convention.keras-3", "not a convention name"),
    ("by-convention-key-with-newline", toml_text([with_expect(by_convention={"keras\n": "1.0"})]), GOLDEN_ID,
     "expect.by_convention.keras\\n", "not a convention name"),
]


def test_the_malformed_kinds_are_many():
    assert len(MALFORMED) >= 150
    assert len({m[0] for m in MALFORMED}) == len(MALFORMED)


def _assert_names(error: CaseError, path: Path, case_id: str, field: str, words: str):
    message = str(error)
    assert message.startswith(f"{path}: case '{case_id}': field '{field}': "), message
    assert words in message, message
    assert "\n" not in message, message
    assert (error.file, error.case_id, error.field) == (str(path), case_id, field)


@pytest.mark.parametrize("text,case_id,field,words", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused(tmp_path, text, case_id, field, words):
    """One clear CaseError naming file, case and field: from load_file, and from load_all whatever the
    letter case of the file's suffix."""
    path = write(tmp_path, text)
    with pytest.raises(CaseError) as info:
        load_file(path, conventions=KNOWN)
    _assert_names(info.value, path, case_id, field, words)
    with pytest.raises(CaseError) as info:
        load_all(tmp_path, conventions=KNOWN)
    _assert_names(info.value, path, case_id, field, words)
    upper = path.rename(tmp_path / "BAD.TOML")
    with pytest.raises(CaseError) as info:
        load_all(tmp_path, conventions=KNOWN)
    _assert_names(info.value, upper, case_id, field, words)


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


# -- what is accepted: edge cases, in-range labels, the suffix, the convention names ---------------------

def test_edge_case_may_break_the_input_rules(tmp_path):
    """An edge case records the behaviour on inputs the mathematics does not define (mismatched shapes,
    out-of-range or ignore-index labels, NaN and infinities), so only the input rules are lifted for it."""
    edge = dict(kind="edge", expect={"refused": True}, provenance=None)
    path = write(tmp_path, toml_text([
        golden(id="edge.shapes", inputs={"y_true": [[0.0, 1.0, 0.0]], "y_pred": [[0.25, 0.25, 0.25, 0.25]]},
               **edge),
        sparse([3], [[0.5, 1.0, 2.0]], id="edge.label-k", **edge),
        sparse([-100, 1], [[0.5, 1.0, 2.0], [0.5, 1.0, 2.0]], id="edge.ignore-index", **edge),
        sparse([0, 1], [[0.5, 1.0, 2.0]], id="edge.label-shape", **edge),
        golden(id="edge.nonfinite", inputs={"y_true": [0.0, 1.0, 0.0], "y_pred": [NAN, INF, -INF]},
               **dict(edge, expect=None)),  # NaN and inf are computed with, not refused
    ]))
    loaded = load_file(path)
    assert [c.kind for c in loaded] == ["edge"] * 5
    assert [c.expect.refused for c in loaded] == [True] * 4 + [False]
    assert loaded[2].inputs["labels"].tolist() == [-100, 1]
    assert np.isnan(loaded[4].inputs["y_pred"][0]) and np.isinf(loaded[4].inputs["y_pred"][1:]).all()


@pytest.mark.parametrize("expect,field,says", [
    (None, "inputs", "refuses these inputs under the mathematics (ValueError"),  # a length written wrong
    ({"refused": "yes"}, "expect.refused", "expected a boolean"),
])
def test_an_edge_case_the_reference_refuses_must_say_so(tmp_path, expect, field, says):
    """Both sides refusing is an agreement, so a mistyped input would pass unnoticed: the loader refuses an edge
    case whose inputs the reference refuses unless the case declares it (``expect.refused``)."""
    path = write(tmp_path, toml_text([golden(id="edge.typo", kind="edge", expect=expect, provenance=None,
                                             inputs={"y_true": [[0.0, 1.0]], "y_pred": [[0.2, 0.3, 0.5]]})]))
    with pytest.raises(CaseError) as info:
        load_file(path)
    assert (info.value.case_id, info.value.field) == ("edge.typo", field) and says in str(info.value)


def test_a_declared_refusal_that_computes_is_refused(tmp_path):
    path = write(tmp_path, toml_text([golden(id="edge.fine", kind="edge", expect={"refused": True}, provenance=None,
                                             inputs={"y_true": [[0.0, 1.0]], "y_pred": [[0.2, 0.8]]})]))
    with pytest.raises(CaseError, match="accepts these inputs") as info:
        load_file(path)
    assert info.value.field == "expect.refused"


def test_only_an_edge_case_expects_a_refusal(tmp_path):
    path = write(tmp_path, toml_text([golden(expect={"printed": "0.5", "refused": True})]))
    with pytest.raises(CaseError, match="only an edge case") as info:
        load_file(path)
    assert info.value.field == "expect.refused"


def test_labels_at_the_ends_of_the_range_load(tmp_path):
    path = write(tmp_path, toml_text([
        sparse([0, 2], [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]),
        sparse(0, [1.0], id="scalar.label"),                  # the shape a saved fuzz case has
        sparse([0, 1, 0], [[0.2, 0.3, 0.5], [0.8, 0.7, 0.5]], id="class.axis.first", args={"axis": 0}),
        golden(id="nll.edge.labels", loss="nll", args={}, inputs={"labels": [[1, 0]],
                                                                  "log_probs": [[[-0.5, -1.0], [-0.1, -2.0]]]}),
        golden(id="big.label", kind="edge", expect={"refused": True}, provenance=None, loss="sparse_categorical_crossentropy",
               args={}, inputs={"labels": [2 ** 63 - 1, -(2 ** 63)], "y_pred": [[0.5, 0.5], [0.5, 0.5]]}),
    ]))
    loaded = load_file(path)
    assert loaded[1].inputs["labels"].shape == () and loaded[2].inputs["labels"].shape == (3,)
    assert loaded[4].inputs["labels"].tolist() == [2 ** 63 - 1, -(2 ** 63)]


def test_arrays_up_to_max_rank_load(tmp_path):
    path = write(tmp_path, toml_text([golden(inputs={"y_true": nested(1.0, S.MAX_RANK),
                                                     "y_pred": nested(0.5, S.MAX_RANK)})]))
    assert load_file(path)[0].inputs["y_pred"].ndim == S.MAX_RANK


def test_uppercase_suffix_files_load(tmp_path):
    write(tmp_path, toml_text([golden()]), "a.TOML")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", toml_text([golden(id="doc000.second")]), "b.Toml")
    write(tmp_path, toml_text([golden(id="doc000.third")]), "c.toml")
    write(tmp_path, "not a case file", "notes.txt")
    (tmp_path / "folder.toml").mkdir()
    assert [c.id for c in load_all(tmp_path)] == ["doc000.tf-cce.uniform", "doc000.third", "doc000.second"]
    write(tmp_path / "sub", toml_text([golden()]), "d.TOML")
    with pytest.raises(CaseError, match=r"d\.TOML: case 'doc000.tf-cce.uniform': field 'id': duplicate id"):
        load_all(tmp_path)


def test_convention_names_are_checked_for_syntax_only_by_default(tmp_path):
    """The loader knows no framework: without ``conventions`` any identifier-like name loads; with it,
    the case's convention and every by_convention key must be among the names given."""
    path = write(tmp_path, toml_text([with_expect(by_convention={"future_fw": "1.0"}) | {"convention": "keras4"}]))
    assert load_file(path)[0].convention == "keras4"
    assert load_all(tmp_path)[0].expect.by_convention == {"future_fw": "1.0"}
    with pytest.raises(CaseError, match=r"field 'convention': unknown convention 'keras4'; expected one of: a, b"):
        load_file(path, conventions=["b", "a"])
    with pytest.raises(CaseError, match=r"field 'expect.by_convention.future_fw': unknown convention"):
        load_all(tmp_path, conventions={"keras4"})
    assert load_all(tmp_path, conventions={"keras4": None, "future_fw": None})  # any collection of names


def test_default_convention_is_math_and_not_checked(tmp_path):
    path = write(tmp_path, toml_text([golden(convention=None)]))
    assert load_file(path, conventions={"keras"})[0].convention == "math"


@pytest.mark.parametrize("bad", ["math", b"math", [1]])
def test_conventions_must_be_a_collection_of_names(tmp_path, bad):
    write(tmp_path, toml_text([golden()]))
    with pytest.raises(TypeError, match="conventions"):
        load_all(tmp_path, conventions=bad)


def test_signatures_come_from_the_reference():
    """Loss names, input names and argument defaults are the reference functions' own."""
    import reference

    functions = S.loss_functions()
    assert set(functions) == set(reference.LOSSES) | set(reference.ACTIVATIONS)
    assert set(S.ACTIVATIONS) == set(reference.ACTIVATIONS)
    for name, fn in functions.items():
        params = inspect.signature(fn).parameters
        assert S.input_names(fn) == tuple(p for p in params if params[p].default is inspect.Parameter.empty
                                          and params[p].kind != inspect.Parameter.KEYWORD_ONLY), name
        for arg, default in S.arg_defaults(fn).items():
            assert params[arg].default is default, (name, arg)
    assert not hasattr(S, "_stub_signatures") and not hasattr(S, "STUB_CONVENTIONS")


FRAMEWORK_WORDS = re.compile(r"keras|torch|optax|jax|flax|tensorflow|\btf\b", re.IGNORECASE)


@pytest.mark.parametrize("module", ["schema.py", "loader.py", "__init__.py"])
def test_the_case_code_names_no_framework(module):
    """No string constant or name in the case code (docstrings and comments aside) names a framework."""
    tree = ast.parse((CASES_DIR / module).read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
             and FRAMEWORK_WORDS.search(node.value)]
    found += [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and FRAMEWORK_WORDS.search(node.id)]
    assert not found, found


def test_repository_cases_load():
    loaded = load_all()
    ids = [c.id for c in loaded]
    assert len(ids) == len(set(ids))
    assert len(loaded) == sum(len(load_file(p)) for p in cases.loader.case_files())
    used = {c.convention for c in loaded} | {k for c in loaded for k in c.expect.by_convention}
    assert len(load_all(conventions=used)) == len(loaded)
    docs = [c for c in loaded if c.id.startswith("doc")]
    assert docs and all(c.provenance is not None for c in docs)
    assert all(S.DOC_ID_PATTERN.match(c.id).group(1) == c.provenance.document[:3] for c in docs)


def test_case_objects_are_frozen():
    case = load_all()[0]
    with pytest.raises(Exception):
        case.id = "other"  # type: ignore[misc]
    assert copy.copy(case).id == case.id
