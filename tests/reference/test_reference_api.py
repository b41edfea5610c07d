"""The public API: names and signatures, shapes, dtypes, doctests, and no framework import."""
from __future__ import annotations

import doctest
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reference as R
from reference import grads as G
from reference import oracle as O

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["reference", "reference.activations", "reference.losses", "reference.grads", "reference.reductions",
           "reference.conventions", "reference.oracle"]
REQUIRED = ["entropy", "cross_entropy", "kl_divergence", "mean_squared_error", "mean_absolute_error", "huber",
            "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "nll",
            "hinge", "squared_hinge", "categorical_hinge"]


@pytest.mark.parametrize("module", MODULES)
def test_doctests(module):
    mod = importlib.import_module(module)
    res = doctest.testmod(mod, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert res.failed == 0
    if module != "reference.conventions":
        assert res.attempted > 0


def test_no_framework_import():
    code = ("import sys, reference, reference.oracle, reference.grads, adapters, lossparity.conventions; "
            "lossparity.conventions.registry(adapters.builtin()); "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'tensorflow', 'jax', 'jaxlib', 'keras', 'tf_keras', 'optax', 'scipy')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_public_names_and_signatures():
    for name in REQUIRED + ["smooth_l1", "log_cosh"]:
        assert R.LOSSES[name] is getattr(R, name)
        sig = inspect.signature(R.LOSSES[name])
        assert sig.parameters["convention"].default == "math"
        assert sig.parameters["convention"].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters["axis"].default == -1
        assert inspect.signature(getattr(G, name)) == sig
        assert name in O.LOSSES
    for name in ("softmax", "log_softmax", "sigmoid", "log_sigmoid"):
        assert R.ACTIVATIONS[name] is getattr(R, name)
    sig = inspect.signature(R.categorical_crossentropy)
    assert [p for p in sig.parameters] == ["y_true", "y_pred", "from_logits", "label_smoothing", "axis", "class_weight", "where",
                                          "convention"]
    assert list(inspect.signature(R.reduce).parameters)[:3] == ["per_sample", "reduction", "weights"]
    assert not hasattr(R, "CONVENTIONS") and "CONVENTIONS" not in R.__all__  # adapters declare conventions
    assert R.get_convention("math") is R.MATH and R.MATH.flags == {}


def test_shapes_and_axis():
    p = np.random.default_rng(0).random((2, 3, 4)) + 0.1
    y = np.eye(4)[[[0, 1, 2], [3, 0, 1]]]
    for name in ("categorical_crossentropy", "binary_crossentropy", "mean_squared_error", "kl_divergence",
                 "hinge", "categorical_hinge", "huber", "log_cosh"):
        full = R.LOSSES[name](y, p)
        assert full.shape == (2, 3)
        assert G.GRADS[name](y, p).shape == p.shape
        moved = R.LOSSES[name](np.moveaxis(y, -1, 1), np.moveaxis(p, -1, 1), axis=1)
        np.testing.assert_allclose(moved, full, rtol=1e-14)
        np.testing.assert_allclose(np.moveaxis(G.GRADS[name](np.moveaxis(y, -1, 0), np.moveaxis(p, -1, 0), axis=0),
                                               0, -1), G.GRADS[name](y, p), rtol=1e-14)
        one = R.LOSSES[name](y[0, 0], p[0, 0])
        assert np.ndim(one) == 0 and float(one) == pytest.approx(float(full[0, 0]), rel=1e-14)
    lab = np.array([[0, 1, 2], [3, 0, 1]])
    assert R.sparse_categorical_crossentropy(lab, p).shape == (2, 3)
    assert R.sparse_categorical_crossentropy(lab.T, np.moveaxis(p, 0, 1), axis=-1).shape == (3, 2)
    assert R.sparse_categorical_crossentropy(lab[0], np.moveaxis(p[0], -1, 0), axis=0).shape == (3,)


def test_float32_is_widened_not_reparsed():
    x32 = np.float32([0.1, 0.7])
    assert R.mean_squared_error([0.0, 0.0], x32) == pytest.approx(np.mean(np.float64(x32) ** 2), rel=1e-16)
    assert R.mean_squared_error([0.0, 0.0], x32) != R.mean_squared_error([0.0, 0.0], [0.1, 0.7])


def test_labels_and_zero_log_zero():
    with pytest.raises(IndexError, match="label 3 is out of range for 2 classes"):
        R.sparse_categorical_crossentropy(3, [0.5, 0.5])
    with pytest.raises(IndexError, match="label -1 is out of range"):
        R.nll(-1, [-1.0, -2.0])
    assert R.sparse_categorical_crossentropy(np.float64(1.0), [0.5, 0.5]) == pytest.approx(np.log(2))
    with pytest.raises(TypeError):
        R.nll(0.5, [-1.0, -2.0])
    assert R.entropy([1.0, 0.0]) == 0.0 and not np.signbit(R.entropy([1.0, 0.0]))
    assert R.kl_divergence([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert R.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert R.binary_crossentropy([0.0, 1.0], [-np.inf, np.inf], from_logits=True) == 0.0
    assert R.categorical_crossentropy([0, 0.5, 0.5], [-np.inf, 0, 0], from_logits=True) == pytest.approx(np.log(2))
    assert R.entropy([0.5, 0.5], base=2) == 1.0 and R.entropy([0.1] * 10, base=10) == pytest.approx(1.0)
