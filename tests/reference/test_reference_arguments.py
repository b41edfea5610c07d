"""The reference refuses arguments outside their domain, and agrees with the catalogue about the domains.

The reference is the authority: a number computed from ``huber(delta=-1)`` (a negative loss) would make a
framework that refuses the argument look wrong.  Every keyword argument a catalogue entry declares (the
class axis aside) is tried with values inside and outside its domain: the reference raises ``ValueError``
naming the argument exactly where ``Arg.valid`` says no, in the value and in the gradient.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference
from lossparity.catalogue import CATALOGUE
from lossparity.inputs import SHAPES

CANDIDATES = (-1.0, -0.5, -1e-300, 0.0, 0.2, 0.5, 1.0, 1.5, 2.0, 10.0, 3, 1, 0, -2, np.float32(0.5),
              np.int64(2), float("nan"), float("inf"), float("-inf"), None, True, False, np.bool_(True),
              "no", "yes", "0.5")

ARGS = [(info.name, arg.name) for info in CATALOGUE.values() if info.kind == "loss"
        for arg in info.args if arg.name != "axis"]


def _inputs(info, name, value):
    """Generated inputs for ``info`` under a variant compatible with ``name`` (the first one)."""
    variant = {k: v for k, v in info.variants[0].items() if k != name}
    return info.generate(np.random.default_rng(0), SHAPES["small"], variant), variant


@pytest.mark.parametrize("loss, name", ARGS, ids=[f"{a}-{b}" for a, b in ARGS])
def test_reference_refuses_exactly_what_the_catalogue_calls_invalid(loss, name):
    info = CATALOGUE[loss]
    spec = info.arg(name)
    grad = reference.grads.GRADS[loss]
    disagreements = []
    for value in CANDIDATES:
        inputs, variant = _inputs(info, name, value)
        for fn in (info.value, grad):
            try:
                with np.errstate(all="ignore"):
                    fn(**inputs, **variant, **{name: value})
                refused = None
            except ValueError as exc:
                refused = str(exc)
            if spec.valid(value) == (refused is not None):
                disagreements.append((fn.__name__, value, spec.valid(value), refused))
            elif refused is not None and f"{name}=" not in refused:
                disagreements.append((fn.__name__, value, "message does not name the argument", refused))
    assert not disagreements, disagreements


@pytest.mark.parametrize("call, argument", [
    (lambda: reference.huber([0.0, 0.0], [0.5, 3.0], delta=-1), "delta"),
    (lambda: reference.huber([0.0, 0.0], [0.5, 3.0], delta=0.0), "delta"),
    (lambda: reference.smooth_l1([0.0, 0.0], [0.5, 3.0], beta=-1.0), "beta"),
    (lambda: reference.categorical_crossentropy([0, 1], [0.3, 0.7], from_logits="no"), "from_logits"),
    (lambda: reference.binary_crossentropy([0, 1], [0.3, 0.7], from_logits=1), "from_logits"),
    (lambda: reference.sparse_categorical_crossentropy([1], [[0.3, 0.7]], label_smoothing=1.5), "label_smoothing"),
    (lambda: reference.categorical_crossentropy([0, 1], [0.3, 0.7], label_smoothing=-0.1), "label_smoothing"),
    (lambda: reference.binary_crossentropy([0, 1], [0.3, 0.7], label_smoothing=float("nan")), "label_smoothing"),
    (lambda: reference.entropy([0.5, 0.5], base=0), "base"),
    (lambda: reference.entropy([0.5, 0.5], base=1), "base"),
    (lambda: reference.cross_entropy([0.5, 0.5], [0.5, 0.5], base=-2.0), "base"),
    (lambda: reference.kl_divergence([0.5, 0.5], [0.5, 0.5], base=1.0), "base"),
    (lambda: reference.LOSSES["poisson"]([1.0], [2.0], log_input="yes"), "log_input"),
    (lambda: reference.grads.huber([0.0, 0.0], [0.5, 3.0], delta=-1), "delta"),
])
def test_issue_examples_are_refused(call, argument):
    with pytest.raises(ValueError, match=rf"\b{argument}="):
        call()


def test_valid_arguments_still_compute():
    assert float(reference.huber([0.0, 0.0], [0.5, 3.0], delta=1)) == pytest.approx(0.5 * (0.125 + 2.5))
    assert float(reference.entropy([0.5, 0.5], base=2)) == 1.0
    assert float(reference.smooth_l1([0.0], [0.3], beta=0.0)) == pytest.approx(0.3)
    assert float(reference.categorical_crossentropy([0, 1], [0.0, 0.0], from_logits=np.bool_(True),
                                                    label_smoothing=1)) == pytest.approx(np.log(2))
