"""Each adapter declares its conventions in its own file, from the reference's flag constructors: every
binding names a declared convention, every flag cites a source and a version, the registry gathers them,
and none of this imports a framework."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

import adapters
import reference
from lossparity import conventions
from reference import conventions as C

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = {a.name: a for a in adapters.builtin()}
# Where each framework's flags were read: its adapter's measured versions.
READ_FROM = {"keras": ("keras 3.15.1", "TF 2.21"), "tf_keras": ("tf_keras 2.21.0", "TF 2.21"),
             "keras_jax": ("keras 3.15.1", "jax 0.10.2"), "keras_torch": ("keras 3.15.1", "torch 2.13"),
             "torch": ("torch 2.13.0",), "optax": ("optax 0.2.8", "jax 0.10.2")}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_bindings_name_declared_conventions(name):
    adapter = ADAPTERS[name]
    assert isinstance(adapter.conventions, MappingProxyType)  # read-only
    for binding in adapter.bindings.values():
        assert binding.convention in adapter.conventions, binding
        assert conventions.of(adapter, binding) is adapter.conventions[binding.convention]
    for key, convention in adapter.conventions.items():
        assert isinstance(convention, reference.Convention) and convention.name == key and convention.description
        assert convention.flags, f"{name}: convention {key!r} holds no flag (use 'math')"
        for flag in convention.flags.values():
            assert callable(getattr(C, flag.name, None)) and flag.name in C.__all__, flag.name
            assert flag.source and flag.versions and flag.summary
            assert any(v in flag.source for v in READ_FROM[name]), flag.source


def test_declared_names():
    assert {n: sorted(a.conventions) for n, a in ADAPTERS.items()} == {
        "keras": ["keras"], "tf_keras": ["keras2"], "keras_jax": ["keras_jax"], "keras_torch": ["keras_torch"],
        "torch": ["torch", "torch_distributions", "torch_multilabel"], "optax": ["optax", "optax_cosine_epsilon", "optax_safe"]}
    # keras2 (the numbers TF 2.x printed) is Keras 2's, run by the tf_keras adapter
    assert {b.convention for b in ADAPTERS["keras"].bindings.values()} == {"keras"}
    assert {b.convention for b in ADAPTERS["tf_keras"].bindings.values()} == {"keras2"}


def test_registry_gathers_the_declarations():
    reg = conventions.registry(adapters.builtin())
    assert list(reg) == ["math", "keras", "keras2", "keras_jax", "keras_torch", "torch", "torch_multilabel",
                         "torch_distributions", "optax", "optax_safe", "optax_cosine_epsilon"]
    assert reg["math"] is reference.MATH
    for adapter in ADAPTERS.values():
        for key, convention in adapter.conventions.items():
            assert reg[key] is convention
    assert conventions.resolve("keras2", reg) is ADAPTERS["tf_keras"].conventions["keras2"]
    with pytest.raises(ValueError):
        conventions.resolve("keras4", reg)


def test_a_binding_naming_an_undeclared_convention_is_an_error():
    from adapters.protocol import Binding

    class Bare:
        name = "bare"

    ok = Binding(loss="hinge", api="x", forms=("function:none",), convention="math")
    assert conventions.of(Bare(), ok) is reference.MATH
    with pytest.raises(KeyError):
        conventions.of(Bare(), Binding(loss="hinge", api="x", forms=("function:none",), convention="keras"))
    with pytest.raises(KeyError):  # torch does not declare Keras's convention
        conventions.of(ADAPTERS["torch"], Binding(loss="hinge", api="x", forms=("function:none",),
                                                   convention="keras"))


def test_declaring_conventions_imports_no_framework():
    code = ("import sys, adapters, adapters.keras, adapters.tf_keras, adapters.keras_backends, adapters.torch, "
            "adapters.optax, adapters.variants, lossparity.conventions; "
            "lossparity.conventions.registry(adapters.builtin()); "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'tensorflow', 'jax', 'jaxlib', 'keras', 'tf_keras', 'optax')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
