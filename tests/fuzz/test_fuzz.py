"""Differential fuzzing: every adapter's bindings against the reference under their convention.

One test per (adapter, binding).  Hypothesis draws well-defined inputs for the binding's loss
(``tests/support/strategies.py``: shapes, class counts, dtypes, probabilities with exact zeros and
near-clip values, logits up to +-1e4, labels, regression values across magnitudes), the dtype, the API
form and the reference arguments the binding understands; each example runs :func:`checks.compare` for
the value and, where the binding has one, the gradient.

A ``fail`` verdict is a finding.  Hypothesis shrinks it and replays the minimal example last; that final
replay writes the example as a ``kind = "fuzz"`` case to ``<counterexamples>/<adapter>-<binding>.toml``
(``--counterexamples DIR``, default ``.lossparity/counterexamples``, git-ignored; the id says where it came
from, the notes say why and when).  A run never writes into ``cases/``: ``python -m lossparity promote FILE``
turns a saved counterexample into a case that every later run replays.  A
``fail`` that a declared deviation explains once its ``case`` pattern is set aside (the float16 overflow
deviations, declared for the generated inputs) is a known deviation, not a finding: it is counted, not
saved, and the test passes.

Tier: the full suite (marker ``full``: ``pytest tests/fuzz --full``; ``.ci/run`` and the main job run it).
Each example draws new shapes, which a compiling framework (JAX) pays for with one XLA compilation per
example: about 30 s of the 2-core machine's CPU at the CI budget, more than the default suite's 90 s can hold.

Budget: ``--fuzz-examples N`` (default 4 per binding, the CI budget; derandomised: CI sees the same examples every
run and is never flaky).  Each test records one check of kind ``fuzz``: the failing example's record, or
else the example that came closest to its tolerance, with the counts under ``extra.fuzz``.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from adapters.protocol import holds
from lossparity import checks, conventions, strategies
from lossparity import tolerance as tol
from lossparity.checks import Item
from lossparity.inputs import InputSet

ACCEPTED = ("pass", "deviation")
DEFAULT_EXAMPLES = 10


def fuzz_targets(session):
    """Every binding of every available adapter (a loss without a strategy fails the catalogue's meta-test,
    it is not filtered out here)."""
    for adapter in session.available:
        for key in adapter.bindings:
            yield adapter, key


def pytest_generate_tests(metafunc):
    if "fuzz_target" in metafunc.fixturenames:
        from tests.support import session

        metafunc.parametrize("fuzz_target", [
            pytest.param((adapter.name, key), id=f"{adapter.name}-{key}",
                         marks=[getattr(pytest.mark, adapter.name), pytest.mark.fuzz, pytest.mark.full])
            for adapter, key in fuzz_targets(session.of(metafunc.config))])


# ------------------------------------------------------------------------------------------ helpers

def known_deviation(adapter, item: Item, kind: str, record: dict):
    """A declared deviation that covers this failure once its ``case`` pattern is set aside.

    Only deviations that still pin both a dtype and a check kind (a numerical regime such as float16
    overflow, or optax's half-precision Huber gradient) qualify, and the behaviour must be the one they
    declare: a deviation pinned to edge cases alone never excuses a fuzz failure.
    """
    observed = record["extra"]["behaviour"]["framework"]
    binding = adapter.bindings[item.binding]
    fields = dict(loss=binding.loss, binding=item.binding, form=item.form, dtype=item.dtype,
                  device=item.device, kind=kind)
    for deviation in adapter.deviations:
        if not holds(deviation.versions, adapter):  # declared for other releases: it explains nothing here
            continue
        when = {k: v for k, v in deviation.when.items() if k != "case"}
        if deviation.shows != "differs" and observed != deviation.shows:
            continue
        if not ({"dtype", "kind"} <= set(when)):
            continue
        if replace(deviation, when=when).covers(**fields):
            return deviation
    return None


def overflows_dtype(adapter, item: Item, kind: str) -> bool:
    """The reference's answer (value or gradient) is finite but beyond ``dtype``'s largest number, so no
    implementation in that dtype can return it: the example lies outside the dtype's domain."""
    binding = adapter.bindings[item.binding]
    call = checks.make_call(item, binding)
    fn = checks.reference_loss(binding.loss, call.args, conventions.of(adapter, binding),
                               binding.granularity, call.reduction, kind == "grad", dtype=item.dtype)
    expected, behaviour = checks.evaluate_reference(fn, dict(call.inputs))
    if expected is None or behaviour != "value":
        return False
    return bool(np.max(np.abs(expected), initial=0.0) > float(tol.finfo(item.dtype).max))


def _toml_value(x) -> str:
    """A nested list of numbers as TOML: floats at full repr, labels as ints."""
    a = np.asarray(x)
    if a.ndim == 0:
        v = a.item()
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        v = float(v)
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    return "[" + ", ".join(_toml_value(row) for row in a) + "]"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def case_id(adapter: str, binding: str, input_id: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", f"{adapter}.{binding}".lower())
    return f"fuzz.{slug}.{input_id.removeprefix('fuzz.')}"


def save_case(folder: Path, adapter, item: Item, kind: str, record: dict) -> Path:
    """Append the failing example to ``<folder>/<adapter>-<binding>.toml`` (once per id)."""
    binding = adapter.bindings[item.binding]
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9._-]+", "-", item.binding.lower())
    path = folder / f"{adapter.name}-{slug}.toml"
    cid = "fuzz." + item.inputs.id.removeprefix("fuzzing.")
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if f'id = "{cid}"' in existing:
        return path
    reduction = item.form.split(":", 1)[1]
    err = record.get("grad_error" if kind == "grad" else "value_error") or {}
    notes = (f"found by tests/fuzz/test_fuzz.py on {datetime.date.today().isoformat()}: {adapter.name} "
             f"{adapter.version()} binding {item.binding} form {item.form} device {item.device}, "
             f"{kind} check: {record.get('reason')}; reference {record.get('expected')} vs framework "
             f"{record.get('observed')}")
    if err:
        notes += f"; worst index {err.get('worst_index')}"
    lines = [] if existing else [
        "# Counterexamples the differential fuzzer found (tests/fuzz/test_fuzz.py), shrunk by Hypothesis.",
        "# Each case is what the framework saw (inputs rounded to dtype); see its notes for the failure.",
        'schema = "lossparity.cases/1"', ""]
    lines += ["[[case]]", f'id = "{cid}"', 'kind = "fuzz"', f'loss = "{binding.loss}"']
    if item.inputs.args:
        lines.append("args = { " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in sorted(item.inputs.args.items()))
                     + " }")
    lines += [f'dtype = "{item.dtype}"', f'convention = "{binding.convention}"', f'reduction = "{reduction}"']
    if kind == "grad" and reduction in ("none", "sum"):
        lines.append('quantity = "grad"')
    lines.append(f"notes = {_toml_string(notes)}")
    lines.append("[case.inputs]")
    for name, x in item.inputs.inputs.items():
        lines.append(f"{name} = {_toml_value(x)}")
    lines.append("")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def _final_replay() -> bool:
    """True while Hypothesis replays the minimal failing example (after shrinking)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # noqa: BLE001 - outside a build context, or a Hypothesis without the flag
        return False


def _closeness(record: dict, kind: str) -> float:
    err = record.get("grad_error" if kind == "grad" else "value_error") or {}
    tol, size = err.get("tol"), err.get("abs")
    if tol is None or size is None:
        return 0.0
    return float(size) / float(tol) if tol else (0.0 if size == 0 else float("inf"))


# ------------------------------------------------------------------------------------------ the test

def test_fuzz(fuzz_target, request, lp_session, record_check):
    name, key = fuzz_target
    session = lp_session
    adapter = session.adapter(name)
    binding = adapter.bindings[key]
    examples = request.config.getoption("fuzz_examples", DEFAULT_EXAMPLES) or DEFAULT_EXAMPLES
    dtypes = tuple(d for d in binding.dtypes if d in session.selection.dtypes)
    devices = tuple(d for d in adapter.devices() if d in session.selection.devices)
    if not dtypes or not devices:
        pytest.skip(f"no selected dtype/device for {name} {key}")
    kinds = ("value", "grad") if binding.grad_wrt else ("value",)
    fixed = dict(getattr(binding, "requires", None) or {})
    stats = {"examples": 0, "checks": 0, "pass": 0, "deviation": 0, "known_deviation": 0, "beyond_dtype": 0,
             "fail": 0, "unsupported": 0}
    unsupported: list[str] = []
    kept: dict = {"closest": (-1.0, None), "failure": None, "known": [], "beyond": []}

    @settings(max_examples=int(examples), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck),
              phases=(Phase.explicit, Phase.generate, Phase.shrink), print_blob=False)
    @given(example=strategies.fuzz_example(binding.loss, binding.args, dtypes, binding.forms, fixed),
           device=st.sampled_from(devices))
    def run(example, device):
        # A fresh example: its own namespace, so declarations about saved counterexamples (ids "fuzz.…")
        # do not judge it; a failure is saved under the case id.
        inputs = InputSet("fuzzing." + case_id(adapter.name, key, example["id"]).removeprefix("fuzz."),
                          binding.loss, example["inputs"], dict(example["args"]), source="fuzz",
                          dtype=example["dtype"])
        item = Item(adapter.name, key, example["form"], example["dtype"], device, inputs)
        assume(binding.accepts(checks.make_call(item, binding)))
        stats["examples"] += 1
        note(f"{item.id}: args {example['args']}, shapes "
             f"{ {k: np.shape(v) for k, v in example['inputs'].items()} }")
        for kind in kinds:
            record = checks.compare(session, item, kind)
            stats["checks"] += 1
            verdict = record["verdict"]
            if verdict == "skip":  # an API this release lacks (adapters.protocol.Unsupported): no verdict
                stats["unsupported"] += 1
                unsupported.append(record["reason"])
                continue
            if verdict == "fail":
                known = known_deviation(adapter, item, kind, record)
                if known is not None:
                    stats["known_deviation"] += 1
                    record.update(verdict="deviation", deviation=known.name,
                                  reason=f"known deviation '{known.name}' ({known.summary}) on a fuzz input")
                    if len(kept["known"]) < 5:
                        kept["known"].append(record["case"])
                    verdict = "deviation"
                elif overflows_dtype(adapter, item, kind):
                    stats["beyond_dtype"] += 1
                    record.update(verdict="deviation", reason=f"the reference {kind} exceeds {item.dtype}'s range")
                    if len(kept["beyond"]) < 5:
                        kept["beyond"].append(record["case"])
                    verdict = "deviation"
            stats[verdict if verdict in stats else "fail"] += 1
            closeness = _closeness(record, kind)
            if verdict != "fail" and closeness > kept["closest"][0]:
                kept["closest"] = (closeness, record)
            if verdict not in ACCEPTED:
                record["extra"]["quantity"] = kind
                kept["failure"] = record
                if _final_replay():
                    path = save_case(session.counterexamples, adapter, item, kind, record)
                    record["extra"]["saved_to"] = str(path)
                raise AssertionError(f"{kind} of {key} on {item.id}: {record.get('reason')}")

    try:
        run()
    finally:
        record = kept["failure"] or kept["closest"][1]
        if record is None:  # nothing ran to completion (an error in the strategy itself)
            record = {"framework": name, "loss": binding.loss, "case": None, "binding": key}
        record = dict(record)
        record["extra"] = dict(record.get("extra") or {})
        record["extra"]["fuzz"] = dict(stats, max_examples=int(examples), closest_error_over_tolerance=(
            kept["closest"][0] if kept["closest"][1] is not None else None), known_deviation_inputs=kept["known"],
            beyond_dtype_inputs=kept["beyond"])
        record.update(id=f"fuzz:{name}-{key}", kind="fuzz")
        if kept["failure"] is None:
            record["verdict"] = "deviation" if stats["known_deviation"] or stats["deviation"] else "pass"
            record["reason"] = (f"{stats['examples']} examples, {stats['checks']} checks: {stats['pass']} pass, "
                                f"{stats['deviation']} deviation ({stats['known_deviation']} a declared deviation's regime, "
                                f"{stats['beyond_dtype']} beyond the dtype's range)")
            if stats["unsupported"]:
                record["reason"] += f"; {stats['unsupported']} need an API this release lacks ({unsupported[0]})"
                if not stats["pass"] + stats["deviation"]:
                    record["verdict"], record["reason"] = "skip", "; ".join(dict.fromkeys(unsupported))[:500]
        record_check(record)
    if record["verdict"] == "skip":
        pytest.skip(record["reason"])
