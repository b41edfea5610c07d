"""pytest glue: the run's :class:`lossparity.session.Session`, made once from the command line, and the
test parametrisation.

The session lives in ``config.stash`` (no module-level state); tests ask for it through the ``lp_session``
fixture.  :func:`parametrize` fills the matrix fixtures with readable ids
(``torch-categorical_crossentropy-function:mean-float32-cpu-gen.small.from_logits=True``) and marks each
parameter with its framework and its kind, so ``-m "torch and grad"`` and ``-k`` both work.
"""
from __future__ import annotations

import pytest

import adapters
from lossparity.plan import Selection
from lossparity.session import Session

KEY = pytest.StashKey[Session]()


def configure(config) -> Session:
    """Resolve --framework/--adapter/--device/--dtype/--sweep into the run's Session."""
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
    device = config.getoption("device")
    selection = Selection(devices=("cpu", "gpu") if device == "all" else (device,),
                          sweep=config.getoption("sweep"))
    if config.getoption("dtype"):
        selection.dtypes = tuple(config.getoption("dtype"))
    session = Session(chosen, selection, counterexamples=config.getoption("counterexamples"))
    config.stash[KEY] = session
    return session


def of(config) -> Session:
    return config.stash[KEY]


def _param(value, test_id: str, framework: str, kind: str):
    return pytest.param(value, id=test_id, marks=[getattr(pytest.mark, framework), getattr(pytest.mark, kind)])


def parametrize(metafunc) -> None:
    names = set(metafunc.fixturenames)
    if not names & {"value_item", "grad_item", "edge_item", "adapter_name", "golden_pair", "declared_flag",
                    "declared_deviation"}:
        return
    session = of(metafunc.config)
    if {"value_item", "grad_item", "edge_item"} & names:
        items, edges = session.plan
        for fixture, kind, chosen in (
                ("value_item", "value", [i for i in items if i.wrt is None]),  # a wrt item is a gradient cell
                ("grad_item", "grad", [i for i in items if session.adapter(i.adapter).bindings[i.binding].grad_wrt]),
                ("edge_item", "edge", edges)):
            if fixture in names:
                metafunc.parametrize(fixture, [_param(i, i.id, i.adapter, kind) for i in chosen])
    if "adapter_name" in names:
        metafunc.parametrize("adapter_name", [_param(a.name, a.name, a.name, "value") for a in session.adapters])
    if "golden_pair" in names:
        from lossparity.case_eval import printed_text

        pairs = [(a, c) for a in session.available for c in session.cases if printed_text(c) is not None
                 and any(b.loss == c.loss for b in a.bindings.values())]
        metafunc.parametrize("golden_pair", [_param((a.name, c.id), f"{a.name}-{c.id}", a.name, "golden")
                                             for a, c in pairs])
    if "declared_flag" in names:
        from lossparity import conventions

        flags = [(a.name, f) for a in session.available for f in sorted(
            {name for b in a.bindings.values() for name, flag in conventions.of(a, b).flags.items()
             if b.loss in flag.applies_to})]
        metafunc.parametrize("declared_flag", [_param(p, f"{p[0]}-{p[1]}", p[0], "convention") for p in flags])
    if "declared_deviation" in names:
        devs = [(a.name, d.name) for a in session.available for d in a.deviations]
        metafunc.parametrize("declared_deviation", [_param(p, f"{p[0]}-{p[1]}", p[0], "convention") for p in devs])


def cells_together(items: list) -> None:
    """Order the matrix tests cell by cell, in place: a cell's value (and dtype) test, its gradient test and
    its gradients with respect to other inputs move up to where the cell's first test was; every other test
    keeps its place.  The checks of one cell share one framework call (``Session.outcome``), and xdist hands
    out consecutive tests to one worker (``--dist worksteal``: contiguous halves), so a cell is computed
    once, not once per worker: one XLA compilation per JAX cell instead of two."""
    def cell(item):
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            return None
        chosen = next((callspec.params[n] for n in ("value_item", "grad_item") if n in callspec.params), None)
        ident, wrt = getattr(chosen, "id", None), getattr(chosen, "wrt", None)  # not an Item: an empty parameter set
        return ident.removesuffix(f"-d{wrt}" if wrt else "") if isinstance(ident, str) else None

    keys = [cell(i) for i in items]
    first = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    order = sorted(range(len(items)), key=lambda i: (first[keys[i]] if keys[i] is not None else i, i))
    items[:] = [items[i] for i in order]
