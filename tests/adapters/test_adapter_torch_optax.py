"""Smoke tests of the torch and optax adapters: every binding runs in every form on a tiny input, output
and gradient shapes and dtypes are as declared, the class axis is moved for torch, framework errors come
back as outcomes, and a missing framework gives a skip reason instead of an import error."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from adapters import optax as optax_adapter
from adapters import torch as torch_adapter
from adapters.protocol import Adapter, Call
from lossparity.catalogue import CATALOGUE
from lossparity.tolerance import FLOAT_DTYPES
from tests.support.outcomes import ran

MODULES = {"torch": torch_adapter, "optax": optax_adapter}

_Z = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
_P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
_ONE_HOT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
_LABELS = np.array([0, 2])
class _Inputs(dict):
    """Hand-picked inputs per loss; a loss without one gets its catalogue generator's, at shape (2, 3)."""

    def __missing__(self, loss):
        info = CATALOGUE[loss]
        return info.generate(np.random.default_rng(0), (2, 3), dict(info.variants[0]))


_INPUTS = _Inputs({
    "mean_squared_error": {"y_true": _ONE_HOT, "y_pred": _P},
    "mean_absolute_error": {"y_true": _ONE_HOT, "y_pred": _P},
    "huber": {"y_true": _ONE_HOT, "y_pred": _Z},
    "smooth_l1": {"y_true": _ONE_HOT, "y_pred": _Z},
    "log_cosh": {"y_true": _ONE_HOT, "y_pred": _Z},
    "categorical_crossentropy": {"y_true": _ONE_HOT, "y_pred": _Z},
    "sparse_categorical_crossentropy": {"labels": _LABELS, "y_pred": _Z},
    "nll": {"labels": _LABELS, "log_probs": np.log(_P)},
    "binary_crossentropy": {"y_true": _ONE_HOT, "y_pred": _P},
    "kl_divergence": {"p": _P[::-1].copy(), "q": _P},
    "hinge": {"y_true": 2 * _ONE_HOT - 1, "y_pred": _Z},
    "categorical_hinge": {"y_true": _ONE_HOT, "y_pred": _Z},
    "softmax": {"z": _Z},
    "log_softmax": {"z": _Z},
    "sigmoid": {"z": _Z},
    # optax's binary_dice_loss takes one channel (a last axis of length 1): its binding gets inputs of its own.
    "dice@binary": {"y_true": _ONE_HOT[:, :1], "y_pred": _Z[:, :1]},
})
_LOGIT_ARGS = {"categorical_crossentropy", "sparse_categorical_crossentropy"}


def _adapter(name):
    adapter = MODULES[name].ADAPTER
    reason = adapter.available()
    if reason is not None:
        pytest.skip(reason)
    return adapter


def _args(name, binding) -> dict:
    if binding.loss in _LOGIT_ARGS or binding.requires.get("from_logits") or (
            name == "optax" and binding.loss == "binary_crossentropy"):
        return {"from_logits": True}
    return dict(binding.requires)  # argument values the API needs (optax's focal loss takes logits only)


def _expected_shape(binding, form: str, shape: tuple) -> tuple:
    if not form.endswith(":none"):
        return ()
    if binding.granularity == "element" or binding.loss in ("softmax", "log_softmax", "sigmoid"):
        return shape
    return shape[:len(shape) - CATALOGUE[binding.loss].event_rank]  # less the class (and a sequence's time) axis


def _cases():
    return [(name, key) for name, module in MODULES.items() for key in sorted(module.BINDINGS)]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_protocol_attributes(name):
    adapter = MODULES[name].ADAPTER
    assert isinstance(adapter, Adapter)
    assert adapter.name == name
    # a loss's first binding is keyed by its name; another API for it is "<loss>@<variant>" in its own form
    assert all(b.convention in adapter.conventions and b.convention.startswith(name)
               for b in adapter.bindings.values())
    assert all(key.split("@")[0] == b.loss for key, b in adapter.bindings.items())
    forms = [(b.loss, f) for b in adapter.bindings.values() for f in b.forms]
    assert len(forms) == len(set(forms))
    assert {b.loss for b in adapter.bindings.values()} <= set(CATALOGUE)
    assert all(b.grad_wrt in _INPUTS[b.loss] for b in adapter.bindings.values())
    assert isinstance(adapter.deviations, tuple)


@pytest.mark.parametrize("name,key", _cases())
def test_binding_runs_every_form(name, key):
    adapter = _adapter(name)
    binding = adapter.bindings[key]
    inputs = _INPUTS[key] if key in _INPUTS else _INPUTS[binding.loss]
    for form in binding.forms:
        call = Call(loss=binding.loss, inputs=inputs, args=_args(name, binding), form=form)
        assert binding.accepts(call) and adapter.supports(call), (key, form)
        out = ran(adapter, call)
        assert out.error is None, (key, form, out.error)
        documented = adapter.output_dtype(call) == "float32"
        declared = any(d.covers(loss=binding.loss, form=form, dtype="float32", device="cpu", kind="dtype")
                       for d in adapter.deviations)
        assert out.value.dtype == np.float64 and documented, (key, form)
        assert (out.dtype != "float32") == declared, (key, form, out.dtype)
        wrt = inputs[binding.grad_wrt]
        shape = wrt.shape if CATALOGUE[binding.loss].event_rank > 1 else _Z.shape
        assert out.value.shape == _expected_shape(binding, form, shape), (key, form)
        assert np.isfinite(out.value).all()
        assert out.grad is not None and out.grad.shape == wrt.shape and out.grad.dtype == np.float64
        assert out.grad_dtype == "float32"


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_dtypes_reach_the_framework(name, dtype):
    adapter = _adapter(name)
    call = Call(loss="sparse_categorical_crossentropy", inputs=_INPUTS["sparse_categorical_crossentropy"],
                args={"from_logits": True}, dtype=dtype)
    out = ran(adapter, call)
    # The dtype the framework computes in: the input's, except float64 without JAX's x64 mode (float32, declared
    # by optax's compute_dtype and its deviation float64_needs_x64).
    computes = getattr(adapter, "compute_dtype", lambda c: c.dtype)
    assert out.error is None and out.dtype == computes(call) and out.grad_dtype == computes(call)
    wide = Call(loss="sparse_categorical_crossentropy", inputs=_INPUTS["sparse_categorical_crossentropy"],
                args={"from_logits": True}, dtype="float64")
    exact = ran(adapter, wide)
    assert exact.dtype == computes(wide)  # float64 unless it is optax without x64, and then said so
    assert np.allclose(out.value, exact.value, rtol=0.05)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_logits_only_bindings_refuse_probabilities(name):
    adapter = MODULES[name].ADAPTER
    binding = adapter.bindings["categorical_crossentropy"]
    probs = Call(loss="categorical_crossentropy", inputs=_INPUTS["categorical_crossentropy"])
    assert not binding.accepts(probs)
    assert binding.accepts(Call(loss="categorical_crossentropy", inputs=_INPUTS["categorical_crossentropy"],
                                args={"from_logits": True}))


def test_optax_categorical_hinge_needs_one_hot():
    binding = optax_adapter.ADAPTER.bindings["categorical_hinge"]
    assert binding.accepts(Call(loss="categorical_hinge", inputs=_INPUTS["categorical_hinge"]))
    assert not binding.accepts(Call(loss="categorical_hinge", inputs={"y_true": _P, "y_pred": _Z}))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_class_axis(name):
    adapter = _adapter(name)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 4, 3))                       # (batch, positions, classes)
    labels = rng.integers(0, 3, size=(2, 4))
    last = ran(adapter, Call(loss="sparse_categorical_crossentropy", inputs={"labels": labels, "y_pred": z},
                            args={"from_logits": True}, dtype="float64"))
    assert last.error is None and last.value.shape == (2, 4) and last.grad.shape == z.shape
    # float64 computes in float64, or in float32 where the adapter says so (optax without JAX's x64 mode)
    computes = getattr(adapter, "compute_dtype", lambda c: c.dtype)
    rtol = 1e-12 if computes(Call(loss="log_softmax", inputs={}, dtype="float64")) == "float64" else 1e-6
    soft = ran(adapter, Call(loss="log_softmax", inputs={"z": z}, dtype="float64"))
    picked = -np.take_along_axis(soft.value, labels[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(last.value, picked, rtol=rtol)
    moved = ran(adapter, Call(loss="sparse_categorical_crossentropy",
                             inputs={"labels": labels, "y_pred": np.moveaxis(z, -1, 1)},
                             args={"from_logits": True, "axis": 1}, dtype="float64"))
    assert moved.error is None, moved.error
    np.testing.assert_allclose(moved.value, last.value, rtol=rtol)
    np.testing.assert_allclose(moved.grad, np.moveaxis(last.grad, -1, 1), rtol=rtol)


def test_torch_gpu_refuses_out_of_range_labels():
    binding = torch_adapter.ADAPTER.bindings["sparse_categorical_crossentropy"]
    for labels, ok in (([0, 2], True), ([-100, 1], True), ([3, 0], False), ([-1, 0], False)):
        call = Call(loss=binding.loss, inputs={"labels": np.array(labels), "y_pred": _Z},
                    args={"from_logits": True}, device="gpu")
        assert binding.accepts(call) is ok, labels
        assert binding.accepts(Call(loss=binding.loss, inputs=call.inputs, args=call.args, device="cpu"))


def test_torch_kl_batchmean_and_modules():
    adapter = _adapter("torch")
    inputs = _INPUTS["kl_divergence"]
    none = ran(adapter, Call(loss="kl_divergence", inputs=inputs, form="function:none", dtype="float64"))
    batchmean = ran(adapter, Call(loss="kl_divergence", inputs=inputs, form="module:batchmean", dtype="float64"))
    assert none.value.shape == _P.shape
    np.testing.assert_allclose(batchmean.value, none.value.sum() / _P.shape[0], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_framework_errors_become_outcomes(name):
    adapter = _adapter(name)
    bad = ran(adapter, Call(loss="sparse_categorical_crossentropy", inputs={"labels": np.array([0, 1, 2]),
                                                                        "y_pred": _Z},
                           args={"from_logits": True}))
    assert bad.value is None and bad.error is not None and bad.behaviour.startswith("error:")
    unknown = ran(adapter, Call(loss="no_such_loss", inputs={}))
    assert unknown.error is not None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_versions_and_devices(name):
    adapter = _adapter(name)
    assert adapter.version()[0].isdigit()
    assert "cpu" in adapter.devices()


@pytest.mark.parametrize("name,missing", [("torch", "torch"), ("optax", "jax"), ("optax", "optax")])
def test_missing_framework_gives_a_skip_reason(monkeypatch, name, missing):
    module = MODULES[name]
    module._load.cache_clear()
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` raise ImportError
    try:
        reason = module.ADAPTER.available()
        assert reason is not None and reason.startswith(f"{missing} is not installed")
        assert module.ADAPTER.devices() == []
        out = ran(module.ADAPTER, Call(loss="mean_squared_error", inputs=_INPUTS["mean_squared_error"]))
        assert out.error is not None and f"{missing} is not installed" in out.error
    finally:
        monkeypatch.undo()
        module._load.cache_clear()
