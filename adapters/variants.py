"""Process variants: the settings that are fixed once per process and change numbers, each run in its own process.

Some choices cannot change inside a running process: Keras 3 takes its backend when ``keras`` is first imported
(``KERAS_BACKEND``), TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once when it loads, and JAX's x64 mode
(``JAX_ENABLE_X64``) decides whether float64 arrays exist at all.  The suite tests each framework as users run
it by default (``default``: TensorFlow as shipped, oneDNN on; JAX without x64; Keras on TensorFlow), and every
other state in a process of its own, started with that state's environment before any framework is
imported.  Each adapter reads back the state it really runs under (``adapter.settings()``) and declares the
deviations of each state with ``Deviation.settings``, so verdicts depend on the state, never on which module
was imported first; :mod:`reports.variants` lines the processes' records up and shows what changes.

``python -m reports`` runs every variant with its full selection and merges the results files into one report
(run labels = variant names).  The README's test command runs the ``default`` variant itself; the full suite
(``pytest --full``, run by ``.ci/run`` after it) runs the others as subprocesses from
``tests/variants/test_variants.py``, with the reduced selection :attr:`Variant.quick`.

Variant names are run labels; adapter names (``keras_jax``...) are what ``--framework`` and ``-m`` take.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Variant", "VARIANTS", "CONTROLLED", "by_name", "environment", "pytest_args"]

# The environment variables the variants set; every variant's process gets all of them decided (set or
# removed), so a user's own exports do not leak into a variant that means another state.
CONTROLLED = ("KERAS_BACKEND", "TF_ENABLE_ONEDNN_OPTS", "JAX_ENABLE_X64", "TF_USE_LEGACY_KERAS")
# Where the parity tests of a framework live (the meta-tests of the reference, cases and report do not
# depend on the process's settings and run once, in the default variant).
PARITY_TESTS = ("tests/matrix", "tests/fuzz", "tests/variants")


@dataclass(frozen=True)
class Variant:
    """One process configuration.

    ``env``: what the process's environment holds for :data:`CONTROLLED` (absent = removed: the framework's
    default).  ``frameworks``: the adapters that run there (``--framework``; empty = every built-in one,
    the default variant).  ``differs_from``/``setting``/``why``: what it changes against which variant and
    why numbers move (cited; the measured differences are in the report, :mod:`reports.variants`).
    ``tests``: the test paths of its full run (``python -m reports``); ``quick``: the pytest arguments of its
    reduced run in the test command (paths, ``-k``, ``--dtype``), ``quick_frameworks`` the frameworks of that
    run when not all of them.
    """

    name: str
    title: str
    env: Mapping[str, str] = field(default_factory=dict)
    frameworks: tuple[str, ...] = ()
    differs_from: str | None = None
    setting: str = ""
    why: str = ""
    tests: tuple[str, ...] = (*PARITY_TESTS, "--full")  # the fuzzer is in the full tier (marker `full`)
    quick: tuple[str, ...] = ("tests/matrix", "tests/variants")
    quick_frameworks: tuple[str, ...] | None = None


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "default", "Every framework as shipped: Keras 3 and Keras 2 on TensorFlow with oneDNN on, torch, optax "
                   "without x64", env={}, frameworks=(), quick=(),
        # The whole suite, the tests marked `full` included (the variant subprocesses among them skip themselves
        # in a variant run: the main job runs each variant itself).
        tests=("tests", "--full")),
    Variant(
        "tf-onednn-off", "TensorFlow with oneDNN custom ops off (TF_ENABLE_ONEDNN_OPTS=0)",
        env={"TF_ENABLE_ONEDNN_OPTS": "0"}, frameworks=("keras", "tf_keras"), differs_from="default",
        quick=("tests/matrix", "tests/variants", "-k", "not class"),
        setting="TF_ENABLE_ONEDNN_OPTS (read once when TensorFlow loads)",
        why="oneDNN replaces some CPU kernels of TensorFlow (softmax: _MklSoftmax for float32 and bfloat16, "
            "tensorflow/core/kernels/mkl/mkl_softmax_op.cc) whose rounding and special values differ from "
            "TensorFlow's Eigen kernels (tensorflow/core/kernels/softmax_op_functor.h); TensorFlow's banner: "
            "'oneDNN custom operations are on. You may see slightly different numerical results due to "
            "floating-point round-off errors from different computation orders' (tensorflow/core/util/port.cc)."),
    Variant(
        "jax-x64", "JAX with x64 on (JAX_ENABLE_X64=1): optax, and Keras 3 on JAX",
        env={"JAX_ENABLE_X64": "1", "KERAS_BACKEND": "jax"}, frameworks=("optax", "keras_jax"),
        differs_from="default", quick_frameworks=("optax",),
        setting="JAX_ENABLE_X64 (jax_enable_x64; float64 arrays exist only with it)",
        why="Without x64 JAX truncates float64 to float32 and its default float is float32 "
            "(jax/_src/dtypes.py canonicalize_dtype); with it float64 inputs compute in float64, and defaults "
            "such as jax.nn.one_hot's dtype become float64, promoting the results of lower-precision inputs "
            "(optax multiclass_hinge_loss)."),
    Variant(
        "keras-jax", "Keras 3 on the JAX backend (KERAS_BACKEND=jax), x64 off", env={"KERAS_BACKEND": "jax"},
        frameworks=("keras_jax",), differs_from="default",
        # Every new shape and dtype is an XLA compilation (0.15-0.6 s on 2 cores): the test command leaves out
        # the Loss-class forms (which compute in float32 whatever the dtype; the tf-onednn-off and keras-torch
        # quick runs leave them out too) and bfloat16.
        quick=("tests/matrix", "tests/variants", "-k", "not class", "--dtype", "float16", "--dtype", "float32",
               "--dtype", "float64"),
        setting="KERAS_BACKEND (read once when keras is imported)",
        why="keras/src/backend/jax/nn.py implements the cross entropies with jnp (sparse: renormalise, clip, log, "
            "one-hot; BCE from logits with log_sigmoid) and autodiff is jax's (ties at a max split the gradient, "
            "d|x|/dx = 1 at 0)."),
    Variant(
        "keras-torch", "Keras 3 on the torch backend (KERAS_BACKEND=torch)", env={"KERAS_BACKEND": "torch"},
        frameworks=("keras_torch",), differs_from="default", quick=("tests/matrix", "tests/variants", "-k", "not class"),
        setting="KERAS_BACKEND (read once when keras is imported)",
        why="keras/src/backend/torch/nn.py implements the cross entropies with torch.nn.functional (sparse: "
            "cross_entropy / nll_loss with ignore_index=-100; BCE: binary_cross_entropy(_with_logits)) and "
            "autodiff is torch's (ties at a max split the gradient)."),
)


def by_name(name: str) -> Variant:
    for variant in VARIANTS:
        if variant.name == name:
            return variant
    raise KeyError(f"no variant {name!r}; known: {[v.name for v in VARIANTS]}")


def environment(variant: Variant, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with :data:`CONTROLLED` set as ``variant`` says."""
    env = dict(os.environ if base is None else base)
    for name in CONTROLLED:
        env.pop(name, None)
    env.update(variant.env)
    env["LOSSPARITY_VARIANT"] = variant.name
    return env


def pytest_args(variant: Variant, *, quick: bool) -> list[str]:
    """The pytest arguments of a variant's run: its frameworks and test paths (full or reduced)."""
    args = ["--variant", variant.name]
    frameworks = variant.quick_frameworks if quick and variant.quick_frameworks is not None else variant.frameworks
    for name in frameworks:
        args += ["--framework", name]
    args += list(variant.quick if quick else variant.tests)
    return args
