"""Which convention judges a check: the adapter declares it; case files name it.

A convention is a :class:`reference.Convention` (named, cited flags the reference reproduces).  Each
adapter declares its own in its one file (``adapter.conventions``: name -> Convention, built from the
framework-neutral flag constructors in :mod:`reference.conventions`); a binding names one of them.
Case files name conventions too (``convention = "keras2"``), and :func:`registry` is where such a name is
looked up: the plain mathematics plus every convention the known adapters declare.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import reference
from reference import Convention

__all__ = ["registry", "of", "resolve"]


def _declared(adapter) -> Mapping[str, Convention]:
    return dict(getattr(adapter, "conventions", None) or {})


def registry(adapters: Iterable) -> dict[str, Convention]:
    """``{"math": ..., **every adapter's conventions}``; a name two adapters declare differently is an error."""
    out: dict[str, Convention] = {"math": reference.get_convention("math")}
    for adapter in adapters:
        for name, convention in _declared(adapter).items():
            if name in out and out[name] is not convention and out[name] != convention:
                raise ValueError(f"convention {name!r} is declared twice, differently (again by adapter "
                                 f"{getattr(adapter, 'name', adapter)!r})")
            out[name] = convention
    return out


def of(adapter, binding) -> Convention:
    """The convention a binding of ``adapter`` is judged under (``binding.convention`` names it)."""
    name = binding.convention
    if isinstance(name, Convention):
        return name
    declared = _declared(adapter)
    if name in declared:
        return declared[name]
    if name == "math":
        return reference.get_convention("math")
    raise KeyError(f"adapter {getattr(adapter, 'name', adapter)!r}: binding for {binding.loss!r} names convention "
                   f"{name!r}, which the adapter does not declare (declared: {sorted(declared)})")


def resolve(name: str | Convention, conventions: Mapping[str, Convention]) -> Convention:
    """A convention by name from a :func:`registry` (ValueError naming the known ones)."""
    if isinstance(name, Convention):
        return name
    try:
        return conventions[name]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}; known: {sorted(conventions)}") from None
