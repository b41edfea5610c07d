"""Conventions: structure, a witness for every flag (switching it off changes a number), the documents'
numbers, and reductions."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import reference as R
from reference import grads as G
from reference.conventions import Convention, Flag, get_convention

P1, Q1 = [1.0, 0, 0, 0, 0], [0.98, 0.01, 0, 0, 0.01]
NINF = -np.inf

# flag name -> (loss, args, kwargs, "value" | "grad"): an input where the flag changes the result.
WITNESSES = {
    "prob_clip": [("binary_crossentropy", ([1.0],), [0.0], {}, "value"),
                  ("categorical_crossentropy", ([1.0, 0.0],), [0.0, 1.0], {}, "value"),
                  ("sparse_categorical_crossentropy", (0,), [0.0, 1.0], {}, "value")],
    "cce_renormalize": [("categorical_crossentropy", ([0, 1, 0, 0],), [0.1, 0.1, 0.8, 0.1], {}, "value")],
    "sparse_renormalize": [("sparse_categorical_crossentropy", (0,), [0.2, 0.2, 0.2], {}, "value")],
    "kl_clip": [("kl_divergence", (P1,), Q1, {}, "value")],
    "hinge_binary_labels": [("hinge", ([0.0, 1.0],), [0.3, -0.2], {}, "value"),
                            ("squared_hinge", ([0.0, 1.0],), [0.3, -0.2], {}, "value")],
    "categorical_hinge_max_includes_target": [("categorical_hinge", ([0, 0, 1],), [-1.0, -2.0, 0.5], {}, "value")],
    "hinge_kink_grad": [("hinge", ([1.0, -1.0],), [1.0, -1.0], {}, "grad"),
                        ("categorical_hinge", ([0.0, 1.0, 0.0],), [0.0, 1.0, 0.0], {}, "grad")],
    "log_cosh_log2": [("log_cosh", ([0.0],), [0.0], {}, "value")],
    "zero_times_inf_nan": [("categorical_crossentropy", ([0, 0.5, 0.5],), [NINF, 0.0, 0.0],
                            {"from_logits": True}, "value"),
                           ("kl_divergence", (P1,), Q1, {}, "value")],
    "bce_logits_formula": [("binary_crossentropy", ([0.0],), [NINF], {"from_logits": True}, "value")],
    "smoothing_classes_last_axis": [("categorical_crossentropy", (np.eye(3)[[0, 1]].T,),
                                     [[.1, .6], [.7, .2], [.2, .2]], {"label_smoothing": 0.3, "axis": 0}, "value")],
    "bce_log_epsilon": [("binary_crossentropy", ([1.0],), [0.1], {}, "value")],
    "bce_log_clamp": [("binary_crossentropy", ([1.0],), [0.0], {}, "value")],
    "bce_grad_epsilon": [("binary_crossentropy", ([1.0],), [1e-300], {}, "grad")],
    "ignore_index": [("sparse_categorical_crossentropy", (-100,), [0.0, 1.0], {"from_logits": True}, "value"),
                     ("nll", (-100,), [-1.0, -2.0], {}, "value")],
    "abs_grad_at_zero": [("mean_absolute_error", ([1.0],), [1.0], {}, "grad")],
}


def _eval(conv, loss, first, pred, kw, what):
    """The value or gradient, or the error type's name when the convention refuses the input."""
    fn = R.LOSSES[loss] if what == "value" else G.GRADS[loss]
    try:
        return np.asarray(fn(*first, pred, convention=conv, **kw), dtype=np.float64)
    except (IndexError, ValueError) as exc:
        return np.asarray(type(exc).__name__)


def _differs(a, b):
    if a.dtype.kind != b.dtype.kind:
        return True
    return a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


FLAGS = [(c, f) for c in R.CONVENTIONS for f in R.CONVENTIONS[c].flags]


@pytest.mark.parametrize("conv_name,flag_name", FLAGS)
def test_every_flag_has_a_witness(conv_name, flag_name):
    conv = R.CONVENTIONS[conv_name]
    flag = conv.flags[flag_name]
    cases = [w for w in WITNESSES[flag_name] if w[0] in flag.applies_to]
    assert cases, f"no witness for {conv_name}.{flag_name}"
    off = conv.without(flag_name)
    assert flag_name not in off.flags and set(off.flags) == set(conv.flags) - {flag_name}
    for loss, first, pred, kw, what in cases:
        with np.errstate(all="ignore"):
            on_v, off_v = _eval(conv, loss, first, pred, kw, what), _eval(off, loss, first, pred, kw, what)
        assert _differs(on_v, off_v), f"{conv_name}.{flag_name} changes nothing for {loss}: {on_v}"


@pytest.mark.parametrize("name", sorted(R.CONVENTIONS))
def test_convention_structure(name):
    conv = R.CONVENTIONS[name]
    assert isinstance(conv, Convention) and conv.name == name and conv.description
    assert get_convention(name) is conv and get_convention(conv) is conv
    for key, flag in conv.flags.items():
        assert isinstance(flag, Flag) and flag.name == key
        assert isinstance(flag.value, (bool, int, float, str))
        assert flag.applies_to and all(loss in R.LOSSES for loss in flag.applies_to), flag
        assert flag.summary and flag.source and flag.versions
        assert any(v in flag.source for v in ("keras 3.15.1", "tf_keras 2.15.1", "torch 2.13.0", "optax 0.2.8",
                                              "jax 0.10.2", "TF 2.21")), flag.source
        assert conv.flag(key) == flag.value
    assert conv.flag("no-such-flag", 42) == 42
    with pytest.raises(dataclasses.FrozenInstanceError):
        conv.name = "x"
    with pytest.raises(KeyError):
        conv.without("no-such-flag")
    assert R.CONVENTIONS["math"].flags == {}


def test_unknown_convention():
    with pytest.raises(ValueError):
        R.binary_crossentropy([1.0], [0.5], convention="nope")


def test_reductions():
    l = np.array([1.0, 2.0, 3.0, 6.0])
    assert R.reduce(l, "none").tolist() == l.tolist()
    assert R.reduce(l, None).tolist() == l.tolist()
    assert R.reduce(l, "sum") == 12.0
    assert R.reduce(l, "mean") == R.reduce(l, "sum_over_batch_size") == 3.0
    assert R.reduce(np.ones((2, 3)), "sum_over_batch_size") == 1.0
    assert R.reduce(np.ones((2, 3)), "batchmean") == 3.0
    w = np.array([1.0, 0.0, 1.0, 0.0])
    assert R.reduce(l, "sum", weights=w) == 4.0
    assert R.reduce(l, "sum_over_batch_size", weights=w) == 1.0
    assert R.reduce(l, "weighted_mean", weights=w) == R.reduce(l, "mean_with_sample_weight", weights=w) == 2.0
    assert R.reduce(l, "none", weights=w).tolist() == [1.0, 0.0, 3.0, 0.0]
    assert R.reduce(l, "elementwise_mean", elements_per_sample=3) == 1.0
    assert R.reduce([], "sum_over_batch_size") == 0.0 and np.isnan(R.reduce([], "mean"))
    with pytest.raises(ValueError):
        R.reduce(l, "median")
    with pytest.raises(ValueError):
        R.reduce(l, "elementwise_mean")
    # torch: cross_entropy(reduction="mean") with ignore_index = weighted mean over kept labels.
    lab = np.array([0, -100, 1])
    per = R.sparse_categorical_crossentropy(lab, np.zeros((3, 2)), from_logits=True, convention="torch")
    assert R.reduce(per, "weighted_mean", weights=lab != -100) == pytest.approx(math.log(2))
