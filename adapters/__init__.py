"""Framework adapters: one module per framework, all implementing :mod:`adapters.protocol`.

``load("package.module:ATTR")`` loads any adapter, built in or not, so ``pytest --adapter mod:attr``
adds a framework without editing the suite.  Importing an adapter module never imports its framework;
``adapter.available()`` says whether the framework can run here and, if not, why (Keras 3 on jax or torch
runs only in a process whose ``KERAS_BACKEND`` is that backend: :mod:`adapters.variants` lists the processes
the suite runs).
"""
from __future__ import annotations

import importlib

from .protocol import Adapter, Binding, Call, Deviation, Outcome

BUILTIN = {
    "keras": "adapters.keras:ADAPTER",          # Keras 3, TensorFlow backend
    "tf_keras": "adapters.tf_keras:ADAPTER",    # Keras 2 (tf.keras with TF_USE_LEGACY_KERAS=1)
    "keras_jax": "adapters.keras_backends:JAX",      # Keras 3, KERAS_BACKEND=jax (its own process)
    "keras_torch": "adapters.keras_backends:TORCH",  # Keras 3, KERAS_BACKEND=torch (its own process)
    "torch": "adapters.torch:ADAPTER",
    "optax": "adapters.optax:ADAPTER",
}

__all__ = ["Adapter", "Binding", "Call", "Deviation", "Outcome", "BUILTIN", "load", "builtin"]


def load(spec: str) -> Adapter:
    """The adapter named by ``"module:attribute"``; raises ValueError naming what is wrong."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"adapter spec {spec!r} must look like 'package.module:ATTRIBUTE'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"adapter spec {spec!r}: cannot import {module_name!r}: {exc}") from exc
    try:
        adapter = getattr(module, attr)
    except AttributeError as exc:
        raise ValueError(f"adapter spec {spec!r}: {module_name!r} has no attribute {attr!r}") from exc
    missing = [name for name in ("name", "bindings", "deviations", "version", "available", "devices",
                                 "output_dtype", "run") if not hasattr(adapter, name)]
    if missing:
        raise ValueError(f"adapter spec {spec!r}: object lacks {', '.join(missing)} (see adapters/protocol.py)")
    return adapter


def builtin(names: list[str] | None = None) -> list[Adapter]:
    """The built-in adapters, optionally only those named."""
    return [load(spec) for name, spec in BUILTIN.items() if names is None or name in names]
