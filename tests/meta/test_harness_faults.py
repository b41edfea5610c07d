"""Meta-tests: every check of the matrix can fail.

A test double plays "the framework": it answers with the reference itself (so, unfaulted, it must pass
every check) or with one planted fault of the kinds the suite is judged on — a value off by a few
ulps too many, a changed clipping epsilon, a wrong reduction, a wrong output dtype, a gradient with
the wrong sign, NaN where a number belongs, a swallowed error — and each must turn its check red.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import reference
from adapters.protocol import Binding, Deviation, Outcome, timed
from lossparity import checks, tolerance
from lossparity.checks import Item
from lossparity.conventions import registry
from lossparity.inputs import generated
from lossparity.session import Session

import adapters

CONVENTIONS = registry(adapters.builtin())


class ReferenceDouble:
    """An adapter whose 'framework' is the reference, optionally with one fault planted."""

    name = "double"
    deviations: tuple = ()

    def __init__(self, fault: str | None = None, convention: str = "math"):
        self.fault = fault
        self.conventions = {convention: CONVENTIONS[convention]}
        forms = ("function:none", "function:mean", "function:sum")
        self.bindings = {
            loss: Binding(loss=loss, api=f"reference.{loss}", forms=forms, convention=convention,
                          args=("from_logits", "label_smoothing"))
            for loss in ("categorical_crossentropy", "binary_crossentropy", "mean_squared_error")
        }

    def version(self):
        return "0"

    def available(self):
        return None

    def devices(self):
        return ["cpu"]

    def output_dtype(self, call):
        return call.dtype

    def run(self, call):
        def go():
            convention = self.conventions[self.bindings[call.loss].convention]
            if self.fault == "epsilon":
                flags = dict(convention.flags)
                flags["prob_clip"] = replace(flags["prob_clip"], value=1e-6)
                convention = replace(convention, flags=flags)
            inputs = {k: np.asarray(v, dtype=np.float64) for k, v in call.inputs.items()}
            fn = getattr(reference, call.loss)
            per = fn(**inputs, **call.args, convention=convention)
            grad = getattr(reference.grads, call.loss)(**inputs, **call.args, convention=convention)
            reduction = {"sum": "mean"}.get(call.reduction, call.reduction) if self.fault == "reduction" else call.reduction
            value = np.asarray(reference.reduce(per, reduction))
            weight = checks.reduction_weight(np.shape(per), call.reduction)
            grad = grad * weight
            if self.fault == "value":
                value = value * (1 + 64 * tolerance.eps(call.dtype) * 1e3)
            if self.fault == "grad-sign":
                grad = -grad
            if self.fault == "nan":
                value = np.full_like(value, np.nan)
            if self.fault == "error":
                raise FloatingPointError("planted")
            dtype = "float64" if self.fault == "dtype" else call.dtype
            return Outcome(value=value, grad=grad, dtype=dtype, grad_dtype=call.dtype)
        return timed(go)


def _item(double, loss="categorical_crossentropy", form="function:none", dtype="float32", set_index=0):
    inputs = generated(loss)[set_index]
    return Item(double.name, loss, form, dtype, "cpu", inputs)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("form", ["function:none", "function:mean", "function:sum"])
def test_unfaulted_double_passes(dtype, form):
    double = ReferenceDouble()
    for kind in ("value", "grad"):
        record = checks.compare(Session([double]), _item(double, form=form, dtype=dtype), kind)
        assert record["verdict"] == "pass", record
    assert checks.dtype_check(Session([double]), _item(double, form=form, dtype=dtype))["verdict"] == "pass"


@pytest.mark.parametrize("fault, kind, form", [
    ("value", "value", "function:none"),
    ("reduction", "value", "function:sum"),
    ("grad-sign", "grad", "function:none"),
    ("nan", "value", "function:none"),
    ("error", "value", "function:none"),
    ("dtype", "dtype", "function:none"),
])
def test_planted_fault_fails(fault, kind, form):
    double = ReferenceDouble(fault)
    item = _item(double, form=form)
    record = checks.dtype_check(Session([double]), item) if kind == "dtype" else checks.compare(Session([double]), item, kind)
    assert record["verdict"] == "fail", record


def test_changed_clip_epsilon_fails_on_clip_witness():
    double = ReferenceDouble("epsilon", convention="keras")
    clipped = next(s for s in generated("categorical_crossentropy") if s.id.startswith("gen.clipped"))
    item = Item(double.name, "categorical_crossentropy", "function:none", "float32", "cpu", clipped)
    assert checks.compare(Session([double]), item, "value")["verdict"] == "fail"


def test_declared_deviation_that_no_longer_shows_fails():
    double = ReferenceDouble()
    double.deviations = (Deviation("ghost", "declared but fixed", {"loss": "mean_squared_error"}, "differs",
                                   ">=0", "nowhere"),)
    record = checks.compare(Session([double]), _item(double, loss="mean_squared_error"), "value")
    assert record["verdict"] == "fail" and "no longer shows" in record["reason"]


def test_declared_deviation_that_shows_is_accepted():
    double = ReferenceDouble("nan")
    double.deviations = (Deviation("nan-out", "returns NaN", {"loss": "mean_squared_error"}, "nan", ">=0", "x"),)
    record = checks.compare(Session([double]), _item(double, loss="mean_squared_error"), "value")
    assert record["verdict"] == "deviation"


def test_deviation_that_shows_otherwise_fails():
    double = ReferenceDouble("nan")
    double.deviations = (Deviation("err", "raises", {"loss": "mean_squared_error"}, "error:ValueError", ">=0", "x"),)
    record = checks.compare(Session([double]), _item(double, loss="mean_squared_error"), "value")
    assert record["verdict"] == "fail" and "says error:ValueError" in record["reason"]


def test_records_carry_measured_errors():
    double = ReferenceDouble()
    record = checks.compare(Session([double]), _item(double), "value")
    error = record["value_error"]
    assert set(error) >= {"abs", "rel", "ulps", "tol", "worst_index"}
    assert error["abs"] <= error["tol"]


class SoftmaxDouble:
    """'The framework' is the reference softmax; ``fault`` plants a backward that keeps rows summing to 0."""

    name = "softmax-double"
    deviations: tuple = ()

    def __init__(self, fault: bool):
        self.fault = fault
        self.bindings = {"softmax": Binding(loss="softmax", api="reference.softmax", forms=("function:none",),
                                            convention="math", grad_wrt="z")}

    def version(self):
        return "0"

    def output_dtype(self, call):
        return call.dtype

    def run(self, call):
        def go():
            z = np.asarray(call.inputs["z"], dtype=np.float64)
            s = reference.softmax(z)
            w = call.cotangent if call.cotangent is not None else np.ones_like(z)
            if self.fault:  # s * (w - mean w): rows still sum to ~0, but it is not the softmax Jacobian
                grad = s * (w - w.mean(axis=-1, keepdims=True))
            else:
                grad = reference.grads.softmax_vjp(z, w, -1)
            return Outcome(value=s, grad=grad, dtype=call.dtype, grad_dtype=call.dtype)
        return timed(go)


@pytest.mark.parametrize("fault, verdict", [(False, "pass"), (True, "fail")])
def test_activation_gradient_is_checked_with_a_non_uniform_seed(fault, verdict):
    double = SoftmaxDouble(fault)
    item = Item(double.name, "softmax", "function:none", "float32", "cpu", generated("softmax")[0])
    assert checks.compare(Session([double]), item, "grad")["verdict"] == verdict


# ---- version ranges: a declaration holds only for the releases it names --------------------------------------

class ReleasedDouble(ReferenceDouble):
    """The double as release 0.2.4 of a framework whose adapter is written for 0.2.8."""

    written_for = ">=0.2.8,<0.2.9"

    def release(self):
        return "0.2.4"


def test_deviation_outside_its_range_fails_saying_new_in_this_release():
    double = ReleasedDouble("nan")
    double.deviations = (Deviation("nan-out", "returns NaN", {"loss": "mean_squared_error"}, "nan",
                                   ">=0.2.8,<0.2.9", "x"),)
    record = checks.compare(Session([double]), _item(double, loss="mean_squared_error"), "value")
    assert record["verdict"] == "fail", record
    assert "new in double 0.2.4?" in record["reason"] and "'nan-out' (>=0.2.8,<0.2.9)" in record["reason"]
    assert record["extra"]["shows_as_declared"]["deviation"] == "nan-out"  # same behaviour: widen once verified
    double.deviations = (replace(double.deviations[0], versions=">=0.2.4,<0.2.9"),)
    assert checks.compare(Session([double]), _item(double, loss="mean_squared_error"), "value")["verdict"] == "deviation"


def test_deviation_outside_its_range_that_does_not_show_passes():
    double = ReleasedDouble()
    double.deviations = (Deviation("ghost", "fixed since", {"loss": "mean_squared_error"}, "differs", ">=0.2.8", "x"),)
    assert checks.compare(Session([double]), _item(double, loss="mean_squared_error"), "value")["verdict"] == "pass"


def test_flag_outside_its_range_is_left_out_and_unverified():
    double = ReleasedDouble(convention="keras")
    flag = double.conventions["keras"].flags["prob_clip"]
    assert not checks.holds(">=99", double) and checks.holds(">=0.2,<0.3", double)
    keras = double.conventions["keras"]
    flags = dict(keras.flags)
    flags["prob_clip"] = replace(flag, versions=">=0.2.8")
    double.conventions = {"keras": replace(keras, flags=flags)}
    binding = double.bindings["categorical_crossentropy"]
    from lossparity import conventions as registry_of

    assert "prob_clip" not in registry_of.of(double, binding).flags
    assert "prob_clip" in [f.name for f in registry_of.out_of_range(double, binding)]
    record = checks.flag_witness(Session([double]), "double", "prob_clip", generated("categorical_crossentropy"))
    assert record["verdict"] == "skip" and "not verified on double 0.2.4" in record["reason"]


def test_an_api_the_release_lacks_is_a_skip_outside_written_for_and_a_failure_inside():
    from adapters.protocol import Unsupported

    class Lacking(ReleasedDouble):
        def run(self, call):
            def go():
                raise Unsupported("double 0.2.4: double.losses has no keyword 'axis'")
            return timed(go)

    double = Lacking()
    record = checks.compare(Session([double]), _item(double), "value")
    assert record["verdict"] == "skip" and record["reason"] == "double 0.2.4: double.losses has no keyword 'axis'"
    double.written_for = ">=0.2"
    record = checks.compare(Session([double]), _item(double), "value")
    assert record["verdict"] == "fail" and "its own release lacks" in record["reason"]
