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
from adapters.protocol import holds, release
from reference import Convention
from reference.conventions import Flag

__all__ = ["registry", "of", "resolve", "out_of_range"]


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
    # A flag holds only for the releases its ``versions`` names: on another release the convention is
    # taken without it, so a behaviour that persists there fails, saying which declaration to verify.
    declared = _declared(adapter)
    if name in declared:
        convention = declared[name]
        for flag in _out_of_range(adapter, convention):
            convention = convention.without(flag.name)
        return convention
    if name == "math":
        return reference.get_convention("math")
    raise KeyError(f"adapter {getattr(adapter, 'name', adapter)!r}: binding for {binding.loss!r} names convention "
                   f"{name!r}, which the adapter does not declare (declared: {sorted(declared)})")


def _out_of_range(adapter, convention: Convention) -> list[Flag]:
    if release(adapter) is None:
        return []
    return [flag for flag in convention.flags.values() if not holds(flag.versions, adapter)]


def out_of_range(adapter, binding) -> list[Flag]:
    """The flags of the convention ``binding`` names that do not hold for the installed release of
    ``adapter`` (their ``versions`` leave it out); :func:`of` leaves them out of the convention."""
    name = binding.convention
    declared = _declared(adapter)
    if isinstance(name, Convention) or name not in declared:
        return []
    return _out_of_range(adapter, declared[name])


def resolve(name: str | Convention, conventions: Mapping[str, Convention]) -> Convention:
    """A convention by name from a :func:`registry` (ValueError naming the known ones)."""
    if isinstance(name, Convention):
        return name
    try:
        return conventions[name]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}; known: {sorted(conventions)}") from None
