"""Keras 2 (tf_keras) and Keras 3 on its three backends: availability follows the process, the documents'
TensorFlow 2.x printouts come from the real Keras 2, and each adapter runs only in the process made for it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adapters
from adapters.protocol import holds
from adapters import keras_backends, tf_keras
from adapters.protocol import Call
from lossparity import conventions

ROOT = Path(__file__).resolve().parents[2]
TF_KERAS = tf_keras.ADAPTER


def _needs(adapter):
    reason = adapter.available()
    if reason:
        pytest.skip(reason)


def _value(adapter, loss, form="function:none", **inputs):
    got = adapter.run(Call(loss=loss, inputs={k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()},
                           form=form, grad=False))
    assert got.error is None, got.error
    return np.float32(np.ravel(got.value)[0])


# The numbers TensorFlow 2.0 printed in doc000 (cases/documents/doc000.toml), as float32 shortest decimals.
DOC000 = [
    ("binary_crossentropy", "function:none", {"y_true": [1.0], "y_pred": [0.1]}, "2.3025842"),
    ("binary_crossentropy", "class:sum_over_batch_size", {"y_true": [1.0], "y_pred": [0.1]}, "2.3025842"),
    ("categorical_crossentropy", "function:none", {"y_true": [0, 1, 0, 0], "y_pred": [.1, .1, .8, .1]}, "2.3978953"),
    ("categorical_crossentropy", "function:none", {"y_true": [0, 1, 0, 0], "y_pred": [.25] * 4}, "1.3862944"),
]


@pytest.mark.parametrize("loss,form,inputs,printed", DOC000, ids=[f"{d[0]}-{d[1]}-{d[3]}" for d in DOC000])
def test_tf_keras_prints_what_tensorflow_2_printed(loss, form, inputs, printed):
    _needs(TF_KERAS)
    assert _value(TF_KERAS, loss, form, **inputs) == np.float32(printed)


def test_keras_3_keeps_its_own_bce():
    keras3 = adapters.load(adapters.BUILTIN["keras"])
    _needs(keras3)
    assert _value(keras3, "binary_crossentropy", y_true=[1.0], y_pred=[0.1]) == np.float32("2.3025851")


def test_keras2_convention_belongs_to_tf_keras():
    keras3 = adapters.load(adapters.BUILTIN["keras"])
    assert set(keras3.conventions) == {"keras"}
    assert set(TF_KERAS.conventions) == {"keras2"}
    assert all(b.convention == "keras2" for b in TF_KERAS.bindings.values())
    registry = conventions.registry(adapters.builtin())
    assert registry["keras2"] is tf_keras.KERAS2
    assert "bce_log_epsilon" in tf_keras.KERAS2.flags and "smoothing_classes_last_axis" not in tf_keras.KERAS2.flags
    for name in ("keras_jax", "keras_torch"):
        assert registry[name].flags["sparse_renormalize"].value == "before_clip"
    assert registry["keras"].flags["sparse_renormalize"].value == "after_clip"


def test_tf_keras_bindings_are_what_keras_2_has():
    _needs(TF_KERAS)
    if not holds(TF_KERAS.written_for, TF_KERAS):  # another Keras 2 release: what it lacks is a skip there
        pytest.skip(f"the bindings are written for Keras 2 {TF_KERAS.written_for}; this is {TF_KERAS.version()}")
    module = TF_KERAS._runtime().keras

    assert not hasattr(module.activations, "log_softmax")  # why tf_keras.MISSING leaves it out
    for loss in tf_keras.MISSING:  # the Keras 3 function each missing loss would have called is not in Keras 2
        spec = adapters.keras._SPECS[loss]
        assert not hasattr(module.activations if spec.activation else module.losses, spec.function), loss
    for key, binding in TF_KERAS.bindings.items():
        if key in tf_keras.BACKEND_FUNCTIONS:  # a tf_keras.backend function (ctc_batch_cost): what _run calls
            assert binding.forms == ("backend:none",), key
            assert callable(getattr(module.backend, tf_keras.BACKEND_FUNCTIONS[key], None)), key
            continue
        spec = adapters.keras._SPECS[binding.loss]
        assert hasattr(module.activations if spec.activation else module.losses, spec.function), binding.loss
        if spec.klass and any(f.startswith("class:") for f in binding.forms):
            assert hasattr(module.losses, spec.klass), spec.klass


@pytest.mark.skipif(bool(os.environ.get("LOSSPARITY_VARIANT")), reason="checked once, in the default process")
@pytest.mark.full
def test_tf_keras_is_tf_keras_under_the_legacy_flag():
    """What the adapter calls is what ``tf.keras`` is for users with TF_USE_LEGACY_KERAS=1."""
    _needs(TF_KERAS)
    if TF_KERAS.builtin():
        pytest.skip(f"{TF_KERAS.version()}: TensorFlow's own tf.keras is Keras 2 here (no tf_keras package)")
    code = ("import tensorflow as tf, tf_keras\n"
            "assert tf.keras.losses.binary_crossentropy is tf_keras.losses.binary_crossentropy\n"
            "print(float(tf.keras.losses.binary_crossentropy([1.], [0.1])))\n")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.float32(done.stdout.split()[-1]) == np.float32("2.3025842")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_adapter_runs_only_in_its_process(backend):
    adapter = keras_backends.JAX if backend == "jax" else keras_backends.TORCH
    current = sys.modules["keras"].backend.backend() if "keras" in sys.modules else (
        os.environ.get("KERAS_BACKEND") or "tensorflow")
    reason = adapter.available()
    if current != backend:
        assert reason and f"KERAS_BACKEND={backend}" in reason, reason
        return
    if reason and "not installed" in reason:
        pytest.skip(reason)
    assert reason is None
    assert adapter.settings()["keras_backend"] == backend
    # the same Keras code, Keras 3's own number (not Keras 2's log(p + eps))
    assert _value(adapter, "binary_crossentropy", y_true=[1.0], y_pred=[0.1]) == np.float32("2.3025851")
