"""The run's adapters and matrix, resolved once from the command line, and the test parametrisation.

Test functions ask for one of the fixtures below by name; :func:`parametrize` fills it in with readable
ids (``torch-categorical_crossentropy-function:mean-float32-cpu-gen.small.from_logits=True``) and marks
each parameter with its framework and its kind, so ``-m "torch and grad"`` and ``-k`` both work.
"""
from __future__ import annotations

import functools

import pytest

import adapters
from adapters.protocol import Adapter
from tests.support.inputs import InputSet
from tests.support.matrix import Selection, edge_items, matrix_items

ADAPTERS: list[Adapter] = []   # selected adapters, available or not
SELECTION = Selection()


def configure(config) -> None:
    """Resolve --framework/--adapter/--device/--dtype/--sweep into ADAPTERS and SELECTION."""
    wanted = config.getoption("framework") or None
    chosen = [adapters.load(spec) for name, spec in adapters.BUILTIN.items() if wanted is None or name in wanted]
    for spec in config.getoption("adapter"):
        custom = adapters.load(spec)
        if wanted is None or custom.name in wanted:
            chosen.append(custom)
    unknown = set(wanted or ()) - {a.name for a in chosen}
    if unknown:
        raise pytest.UsageError(f"--framework {', '.join(sorted(unknown))}: no such adapter "
                                f"(built in: {', '.join(adapters.BUILTIN)}; add others with --adapter)")
    ADAPTERS[:] = chosen
    device = config.getoption("device")
    SELECTION.devices = ("cpu", "gpu") if device == "all" else (device,)
    SELECTION.dtypes = tuple(config.getoption("dtype")) or SELECTION.dtypes
    SELECTION.sweep = config.getoption("sweep")


@functools.lru_cache(maxsize=None)
def available() -> tuple[Adapter, ...]:
    return tuple(a for a in ADAPTERS if a.available() is None)


def adapter(name: str) -> Adapter:
    return next(a for a in ADAPTERS if a.name == name)


@functools.lru_cache(maxsize=None)
def document_cases():
    import cases

    return tuple(cases.load_all())


def case_inputs(case) -> InputSet:
    provenance = None
    if case.provenance is not None:
        provenance = {"document": case.provenance.document, "quote": case.provenance.quote}
    return InputSet(case.id, case.loss, dict(case.inputs), dict(case.args), source=case.kind,
                    provenance=provenance, dtype=case.dtype)


@functools.lru_cache(maxsize=None)
def _edge_sets() -> tuple[InputSet, ...]:
    return tuple(case_inputs(c) for c in document_cases() if c.kind in ("edge", "fuzz"))


@functools.lru_cache(maxsize=None)
def _matrix():
    SELECTION.edge_sets = list(_edge_sets())
    return matrix_items(list(available()), SELECTION), edge_items(list(available()), SELECTION)


@functools.lru_cache(maxsize=None)
def full_plan():
    """Every cell ``--sweep`` would check on the devices present: what a declaration must cover."""
    sweep = Selection(devices=("cpu", "gpu"), sweep=True, edge_sets=list(_edge_sets()))
    return matrix_items(list(available()), sweep), edge_items(list(available()), sweep)


def _param(value, test_id: str, framework: str, kind: str):
    return pytest.param(value, id=test_id, marks=[getattr(pytest.mark, framework), getattr(pytest.mark, kind)])


def parametrize(metafunc) -> None:
    names = metafunc.fixturenames
    if {"value_item", "grad_item", "edge_item"} & set(names):
        items, edges = _matrix()
        for fixture, kind, chosen in (("value_item", "value", items),
                                      ("grad_item", "grad", [i for i in items if adapter(i.adapter).bindings[i.binding].grad_wrt]),
                                      ("edge_item", "edge", edges)):
            if fixture in names:
                metafunc.parametrize(fixture, [_param(i, i.id, i.adapter, kind) for i in chosen])
    if "adapter_name" in names:
        metafunc.parametrize("adapter_name", [_param(a.name, a.name, a.name, "value") for a in ADAPTERS])
    if "golden_pair" in names:
        from tests.support.case_eval import printed_text

        pairs = [(a, c) for a in available() for c in document_cases() if printed_text(c) is not None
                 and any(b.loss == c.loss for b in a.bindings.values())]
        metafunc.parametrize("golden_pair", [_param((a.name, c.id), f"{a.name}-{c.id}", a.name, "golden")
                                             for a, c in pairs])
    if "declared_flag" in names:
        import reference

        flags = [(a.name, f) for a in available() for f in sorted(
            {name for b in a.bindings.values() for name, flag in reference.CONVENTIONS[b.convention].flags.items()
             if b.loss in flag.applies_to})]
        metafunc.parametrize("declared_flag", [_param(p, f"{p[0]}-{p[1]}", p[0], "convention") for p in flags])
    if "declared_deviation" in names:
        devs = [(a.name, d.name) for a in available() for d in a.deviations]
        metafunc.parametrize("declared_deviation", [_param(p, f"{p[0]}-{p[1]}", p[0], "convention") for p in devs])
