"""A checking session: the adapters, what to check, and the frameworks' outcomes, held in one object.

Nothing here is module-level state: a :class:`Session` is made once per run (the pytest plugin makes one
from the command line; :func:`lossparity.check_loss` makes one for a user's own function), and everything
a run computes once (the outcome of each framework call, the loaded case files, the plan) is cached on it.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

from adapters.protocol import Adapter, Outcome
from lossparity import checks, conventions
from lossparity.checks import Item
from lossparity.inputs import InputSet
from lossparity.plan import Selection, edge_items, matrix_items

__all__ = ["Session"]


class Session:
    """The adapters of one run and the selection it checks.

    Args:
      adapters: adapter objects (see :class:`adapters.protocol.Adapter`), available or not.
      selection: dtypes, devices and whether to sweep (default: everything, the covering plan).
      cases_root: folder of case files (default: the repository's ``cases/``).
      counterexamples: folder where fuzzing saves failing examples (default ``.lossparity/counterexamples``
        under the current directory; never the source tree's ``cases/``).
    """

    def __init__(self, adapters: Iterable[Adapter], selection: Selection | None = None, *,
                 cases_root: str | Path | None = None, counterexamples: str | Path | None = None):
        self.adapters: list[Adapter] = list(adapters)
        self.selection = selection or Selection()
        self.cases_root = cases_root
        self.counterexamples = Path(counterexamples or Path(".lossparity") / "counterexamples")
        self._outcomes: dict[str, Outcome] = {}
        self._by_name = {a.name: a for a in self.adapters}
        if len(self._by_name) != len(self.adapters):
            raise ValueError(f"two adapters share a name: {[a.name for a in self.adapters]}")

    # -- adapters ------------------------------------------------------------------------------------
    def adapter(self, name: str) -> Adapter:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no adapter named {name!r} in this session ({sorted(self._by_name)})") from None

    @functools.cached_property
    def available(self) -> tuple[Adapter, ...]:
        """The adapters whose framework can run here (``available()`` is None)."""
        return tuple(a for a in self.adapters if a.available() is None)

    @functools.cached_property
    def conventions(self):
        """Every convention a case may name: the mathematics and what the adapters declare."""
        import adapters as builtin

        known = list(self.adapters) + [a for a in builtin.builtin() if a.name not in self._by_name]
        return conventions.registry(known)

    # -- running ---------------------------------------------------------------------------------------
    def outcome(self, item: Item) -> Outcome:
        """The framework's outcome for ``item``, computed once per session."""
        if item.id not in self._outcomes:
            self._outcomes[item.id] = checks.run_item(self.adapter(item.adapter), item)
        return self._outcomes[item.id]

    # -- cases and plan --------------------------------------------------------------------------------
    @functools.cached_property
    def cases(self) -> tuple:
        """Every case file's cases (``cases.Case``), conventions checked against :attr:`conventions`."""
        import cases

        return tuple(cases.load_all(self.cases_root, conventions=set(self.conventions)))

    @functools.cached_property
    def edge_sets(self) -> tuple[InputSet, ...]:
        """The edge battery and saved fuzz counterexamples as input sets."""
        return tuple(InputSet.from_case(c) for c in self.cases if c.kind in ("edge", "fuzz"))

    @functools.cached_property
    def plan(self) -> tuple[list[Item], list[Item]]:
        """``(matrix cells, edge cells)`` of this session's selection."""
        self.selection.edge_sets = list(self.edge_sets)
        adapters = list(self.available)
        return matrix_items(adapters, self.selection), edge_items(adapters, self.selection)

    @functools.cached_property
    def full_plan(self) -> tuple[list[Item], list[Item]]:
        """Every cell ``--sweep`` would check on the devices present: what a declaration must cover."""
        sweep = Selection(devices=("cpu", "gpu"), sweep=True, edge_sets=list(self.edge_sets))
        adapters = list(self.available)
        return matrix_items(adapters, sweep), edge_items(adapters, sweep)

    @functools.cached_property
    def declaration_coverage(self) -> dict[tuple[str, str], list[str]]:
        """``(adapter, deviation name) -> ids of the checks`` of :attr:`full_plan` it covers (whose first
        covering declaration it is: :func:`checks.covering_deviation`), for every available adapter: the
        evidence that a declaration is not stale, computed in one pass over the plan."""
        items, edges = self.full_plan
        fuzz = [i for i in edges if i.inputs.source == "fuzz"]  # the edge checks also take their gradients
        about_grad = [i for i in edges if i.inputs.quantity == "grad"]  # checked as kind "grad"
        kinds = {"value": items, "grad": items + fuzz + about_grad, "dtype": items,
                 "edge": [i for i in edges if i.inputs.quantity != "grad"]}
        for adapter in self.available:  # a declaration is known by its name here: one name, one declaration
            names = [d.name for d in adapter.deviations]
            if len(names) != len(set(names)):
                raise ValueError(f"adapter {adapter.name!r} declares a deviation name twice: "
                                 f"{sorted({n for n in names if names.count(n) > 1})}")
        covered: dict[tuple[str, str], list[str]] = {}
        for kind, cells in kinds.items():
            for item in cells:
                adapter = self.adapter(item.adapter)
                deviation = checks.covering_deviation(adapter, item, kind)
                if deviation is not None:
                    covered.setdefault((item.adapter, deviation.name), []).append(item.id)
        return covered
