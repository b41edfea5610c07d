"""Planning the matrix: which (adapter, binding, form, dtype, device, inputs) cells the run checks.

The default plan keeps the CPU run fast while still crossing every axis once per binding: its core set
(the first small generated batch it accepts) in every dtype and every form (so half precision meets every
reduction); every argument variant's small batch in every dtype, first form; the rank-3 batch (class
axis) and the clip witnesses in the primary dtype (float32) and the first form; the edge battery in each
case's own dtype and reduction.
``--sweep`` crosses everything with everything (and adds a wide, 257-class batch).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from adapters.protocol import REDUCTION_INPUTS, WEIGHT_INPUTS, Adapter, Call
from lossparity.catalogue import entry
from lossparity.checks import EQUIVALENT_REDUCTIONS, Item
from lossparity.inputs import InputSet, generated
from lossparity.tolerance import FLOAT_DTYPES


@dataclass
class Selection:
    """What the command line asked for."""

    dtypes: tuple[str, ...] = FLOAT_DTYPES
    devices: tuple[str, ...] = ("cpu", "gpu")
    sweep: bool = False
    edge_sets: list[InputSet] = field(default_factory=list)


def _accepts(adapter: Adapter, key: str, inputs: InputSet, form: str, dtype: str, device: str) -> bool:
    """The binding takes these inputs in this form, dtype and device (and has what it differentiates)."""
    binding = adapter.bindings[key]
    call = Call(loss=binding.loss, inputs=inputs.inputs, args=inputs.args, form=form, dtype=dtype, device=device)
    wrt = {binding.grad_wrt} if binding.grad_wrt else set()
    return binding.loss == inputs.loss and binding.accepts(call) and set(inputs.inputs) >= wrt


def _cells(adapter: Adapter, key: str, sets: list[InputSet], sel: Selection, device: str):
    binding = adapter.bindings[key]
    # The primary dtype gets every input set: float32 where the binding has it.
    chosen = [d for d in binding.dtypes if d in sel.dtypes]
    primary = "float32" if "float32" in chosen else (chosen[0] if chosen else "float32")
    accepted = [s for s in sets if _accepts(adapter, key, s, binding.forms[0], primary, device)]
    # The core set crosses every dtype and every form: the first small batch the binding accepts.
    core = next((s.id for s in accepted if s.id.startswith("gen.small.")), None)
    for inputs in sets:
        for dtype in binding.dtypes:
            # Every argument variant (its small batch) in every dtype; the rank-3 batch and the clip
            # witnesses in the primary dtype.
            # A batch with a weight parameter (class_weight, weight, pos_weight) in every dtype too.
            reweighted = any(name in WEIGHT_INPUTS for name in inputs.inputs)
            every_dtype = sel.sweep or inputs.id == core or inputs.id.startswith("gen.small.") or reweighted
            if dtype not in sel.dtypes or not (every_dtype or dtype == primary):
                continue
            # The core set in every form (every reduction) and every dtype: half precision meets the reductions.
            # ... and a batch whose argument changes a mean's denominator (ignore_class).
            weighted = (any(name in REDUCTION_INPUTS for name in inputs.inputs) or reweighted
                        or inputs.args.get("ignore_class") is not None)
            if sel.sweep or inputs.id == core or (weighted and dtype == primary):
                forms = binding.forms  # a weighted batch is about the reductions: every form that takes it
            elif reweighted:  # every dtype meets the unreduced weights and the mean's denominator
                taken = [f for f in binding.forms if _accepts(adapter, key, inputs, f, dtype, device)]
                forms = [next((f for f in taken if f.endswith(end)), None) for end in (":none", ":mean")]
                forms = [f for f in forms if f is not None] or taken[:1]
            else:  # the first form that takes these inputs (a weighted batch needs a form with weights)
                forms = [f for f in binding.forms if _accepts(adapter, key, inputs, f, dtype, device)][:1]
            for form in forms:
                if _accepts(adapter, key, inputs, form, dtype, device):
                    yield Item(adapter.name, key, form, dtype, device, inputs)


def _target_cells(adapter: Adapter, key: str, cells: list[Item], sel: Selection) -> list[Item]:
    """Gradient cells with respect to the other differentiable inputs the binding declares (a soft target):
    on the small batches (every argument variant) and the weighted ones, in every dtype and the first form
    they take; the core set in every form of the primary dtype (``--sweep``: every cell)."""
    binding = adapter.bindings[key]
    info = entry(binding.loss)
    wanted = [name for name in binding.differentiable if name in info.differentiable_inputs]
    if not wanted or binding.grad_wrt is None:
        return []
    chosen = [d for d in binding.dtypes if d in sel.dtypes]
    primary = "float32" if "float32" in chosen else (chosen[0] if chosen else "float32")
    first_form: dict[tuple, str] = {}
    out = []
    for item in cells:
        small = item.inputs.id.startswith(("gen.small.", "gen.weight.", "gen.pos_weight.", "gen.class_weight."))
        first = first_form.setdefault((item.inputs.id, item.dtype, item.device), item.form) == item.form
        core = item.inputs.id == next((c.inputs.id for c in cells if c.inputs.id.startswith("gen.small.")), None)
        if sel.sweep or (small and first) or (core and item.dtype == primary):
            out.extend(replace(item, wrt=name) for name in wanted if name in item.inputs.inputs)
    return out


def matrix_items(adapters: list[Adapter], sel: Selection) -> list[Item]:
    """Every value/gradient cell of the matrix for the available adapters; an item with ``wrt`` set is a
    gradient cell only (with respect to that input)."""
    shapes = ("small", "rank3", "wide", "vector") if sel.sweep else ("small", "rank3")
    items = []
    for adapter in adapters:
        devices = [d for d in adapter.devices() if d in sel.devices]
        for key, binding in adapter.bindings.items():
            sets = generated(binding.loss, shapes)
            for device in devices:
                cells = list(_cells(adapter, key, sets, sel, device))
                items.extend(cells)
                items.extend(_target_cells(adapter, key, cells, sel))
    return items


def case_form(binding, reduction: str | None) -> str | None:
    """The binding's first API form whose reduction is the case's (or an equivalent one); None if none is."""
    if reduction is None or reduction == "none":
        return binding.forms[0] if binding.forms[0].endswith(":none") else next(
            (f for f in binding.forms if f.endswith(":none")), binding.forms[0])
    wanted = EQUIVALENT_REDUCTIONS.get(reduction, (reduction,))
    return next((f for r in wanted for f in binding.forms if f.split(":", 1)[1] == r), None)


def edge_items(adapters: list[Adapter], sel: Selection) -> list[Item]:
    """The edge battery: each edge case through each binding of its loss, in its own dtype, in the form
    whose reduction the case names (unreduced by default)."""
    items = []
    for adapter in adapters:
        devices = [d for d in adapter.devices() if d in sel.devices]
        for key, binding in adapter.bindings.items():
            for inputs in sel.edge_sets:
                dtype = inputs.dtype or "float32"
                form = case_form(binding, inputs.reduction)
                if form is None or (inputs.quantity == "grad" and not binding.grad_wrt):
                    continue
                for device in devices:
                    if dtype in sel.dtypes and _accepts(adapter, key, inputs, form, dtype, device):
                        items.append(Item(adapter.name, key, form, dtype, device, inputs))
    return items


def coverage_gaps(adapters: list[Adapter], sel: Selection) -> list[str]:
    """Each (adapter, binding, dtype it declares and ``sel`` selects) that no matrix cell of ``sel``
    checks: a binding a generator, an argument variant or a form silently never reaches."""
    checked = {(i.adapter, i.binding, i.dtype) for i in matrix_items(adapters, sel) if i.wrt is None}
    gaps = []
    for adapter in adapters:
        if not [d for d in adapter.devices() if d in sel.devices]:
            continue
        for key, binding in adapter.bindings.items():
            for dtype in binding.dtypes:
                if dtype in sel.dtypes and (adapter.name, key, dtype) not in checked:
                    gaps.append(f"{adapter.name} binding {key!r} ({binding.loss}) declares {dtype} but the default "
                                f"plan gives it no check in {dtype}")
    return gaps
