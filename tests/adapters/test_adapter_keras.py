"""Smoke tests of the Keras adapter: every binding runs, shapes and dtypes are as declared, errors are
observations, and a missing TensorFlow gives a skip reason instead of an import error."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from adapters import keras as keras_adapter
from adapters.protocol import Adapter, Call
from lossparity.catalogue import CATALOGUE
from lossparity.tolerance import FLOAT_DTYPES
from tests.support.outcomes import ran

ADAPTER = keras_adapter.ADAPTER

_P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
_ONE_HOT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
class _Inputs(dict):
    """Hand-picked inputs per loss; a loss without one gets its catalogue generator's, at shape (2, 3)."""

    def __missing__(self, loss):
        info = CATALOGUE[loss]
        return info.generate(np.random.default_rng(0), (2, 3), dict(info.variants[0]))


_INPUTS = _Inputs({
    "mean_squared_error": {"y_true": _ONE_HOT, "y_pred": _P},
    "mean_absolute_error": {"y_true": _ONE_HOT, "y_pred": _P},
    "huber": {"y_true": _ONE_HOT, "y_pred": _P},
    "categorical_crossentropy": {"y_true": _ONE_HOT, "y_pred": _P},
    "sparse_categorical_crossentropy": {"labels": np.array([0, 2]), "y_pred": _P},
    "binary_crossentropy": {"y_true": _ONE_HOT, "y_pred": _P},
    "kl_divergence": {"p": _P[::-1].copy(), "q": _P},
    "hinge": {"y_true": 2 * _ONE_HOT - 1, "y_pred": _P},
    "squared_hinge": {"y_true": 2 * _ONE_HOT - 1, "y_pred": _P},
    "categorical_hinge": {"y_true": _ONE_HOT, "y_pred": _P},
    "softmax": {"z": _P},
    "log_softmax": {"z": _P},
    "sigmoid": {"z": _P},
})


def _require_tf():
    reason = ADAPTER.available()
    if reason is not None:
        pytest.skip(reason)


def _args(binding) -> dict:
    return {"from_logits": True} if getattr(binding, "requires", {}).get("from_logits") else {}


def _expected_shape(binding, form: str, pred_shape: tuple) -> tuple:
    if form.startswith("class:") and not form.endswith(":none"):
        return ()
    if binding.granularity == "element" or binding.loss in ("softmax", "log_softmax", "sigmoid"):
        return pred_shape
    return pred_shape[:len(pred_shape) - CATALOGUE[binding.loss].event_rank]  # less the class (and time) axis


def test_protocol_attributes():
    assert isinstance(ADAPTER, Adapter)
    assert ADAPTER.name == "keras"
    assert all(b.convention == "keras" for b in ADAPTER.bindings.values())
    assert {b.loss for b in ADAPTER.bindings.values()} <= set(CATALOGUE)
    pairs = [(b.loss, f) for b in ADAPTER.bindings.values() for f in b.forms]
    assert len(pairs) == len(set(pairs)), "a (loss, form) pair must name one binding"


@pytest.mark.parametrize("key", sorted(keras_adapter.BINDINGS))
def test_binding_runs_every_form(key):
    _require_tf()
    binding = ADAPTER.bindings[key]
    for form in binding.forms:
        call = Call(loss=binding.loss, inputs=_INPUTS[binding.loss], args=_args(binding), form=form)
        assert binding.accepts(call) and ADAPTER.supports(call)
        out = ran(ADAPTER, call)
        assert out.error is None, (key, form, out.error)
        assert out.value.dtype == np.float64 and out.dtype == ADAPTER.output_dtype(call) == "float32"
        shape = np.shape(_INPUTS[binding.loss][binding.grad_wrt])
        assert out.value.shape == _expected_shape(binding, form, shape), (key, form)
        assert np.isfinite(out.value).all()
        assert out.grad is not None and out.grad.shape == shape and out.grad_dtype == "float32"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_dtypes_reach_the_framework(dtype):
    """Functions compute in the inputs' dtype; a Loss class, as users call it, in floatx (float32)."""
    _require_tf()
    for form, computes_in in (("function:none", dtype), ("class:sum", "float32")):
        call = Call(loss="categorical_crossentropy", inputs=_INPUTS["categorical_crossentropy"], form=form,
                    dtype=dtype)
        out = ran(ADAPTER, call)
        assert out.error is None and out.dtype == computes_in == ADAPTER.compute_dtype(call)
        assert out.grad_dtype == dtype  # the gradient flows back through the cast to the input


def test_tfnn_binding_takes_logits_only():
    binding = ADAPTER.bindings["categorical_crossentropy@tf.nn"]
    probs = Call(loss="categorical_crossentropy", inputs=_INPUTS["categorical_crossentropy"], form="tfnn:none")
    assert not binding.accepts(probs)
    logits = Call(loss="categorical_crossentropy", inputs=_INPUTS["categorical_crossentropy"],
                  args={"from_logits": True}, form="tfnn:none")
    assert binding.accepts(logits)


def test_class_axis_is_moved_last():
    _require_tf()
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 3, 4))
    labels = np.eye(3)[rng.integers(0, 3, size=(2, 4))].transpose(0, 2, 1)  # class axis 1
    moved = ran(ADAPTER, Call(loss="categorical_crossentropy", inputs={"y_true": labels, "y_pred": z},
                             args={"from_logits": True, "axis": 1}, dtype="float64"))
    last = ran(ADAPTER, Call(loss="categorical_crossentropy",
                            inputs={"y_true": np.moveaxis(labels, 1, -1), "y_pred": np.moveaxis(z, 1, -1)},
                            args={"from_logits": True}, dtype="float64"))
    assert moved.value.shape == (2, 4) and moved.grad.shape == z.shape
    np.testing.assert_allclose(moved.value, last.value, rtol=1e-15)
    np.testing.assert_allclose(moved.grad, np.moveaxis(last.grad, -1, 1), rtol=1e-15)
    soft = ran(ADAPTER, Call(loss="softmax", inputs={"z": z}, args={"axis": 1}, dtype="float64"))
    np.testing.assert_allclose(soft.value.sum(axis=1), 1.0, rtol=1e-12)


def test_framework_errors_become_outcomes():
    _require_tf()
    bad = ran(ADAPTER, Call(loss="categorical_crossentropy",
                           inputs={"y_true": np.ones((2, 4)), "y_pred": _P}))
    assert bad.value is None and bad.error.startswith("ValueError") and bad.behaviour == "error:ValueError"
    unknown = ran(ADAPTER, Call(loss="no_such_loss", inputs={}))
    assert unknown.error is not None


def test_versions():
    _require_tf()
    versions = ADAPTER.versions()
    assert versions["keras_backend"] == "tensorflow"
    assert ADAPTER.version() == f"keras {versions['keras']} / tensorflow {versions['tensorflow']}"
    assert "cpu" in ADAPTER.devices()


def test_missing_tensorflow_gives_a_skip_reason(monkeypatch):
    keras_adapter._load.cache_clear()
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` raise ImportError
    try:
        reason = ADAPTER.available()
        assert reason is not None and reason.startswith("tensorflow is not installed")
        assert ADAPTER.devices() == []
        out = ran(ADAPTER, Call(loss="mean_squared_error", inputs=_INPUTS["mean_squared_error"]))
        assert out.error is not None and "tensorflow is not installed" in out.error
    finally:
        monkeypatch.undo()
        keras_adapter._load.cache_clear()
