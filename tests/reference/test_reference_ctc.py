"""The CTC reference (forward algorithm in log space, forward-backward gradient) against the brute-force oracle,
which sums the probability of every frame-level path whose collapse is the target (60 digits).

Error bound of the value (Higham ch. 3): the log-softmax of each frame (a shifted log-sum-exp of C terms, about
``(3 + log2 C) u`` of the magnitudes it combines), then T recursion steps, each two ``logaddexp`` and one
addition of quantities no larger in magnitude than the loss (about 4 roundings of ``|loss|`` per step).  Hence
``|ref - exact| <= (4 T + 3 + 2 ceil(log2 C)) u (|loss| + sum_t max_k |z_tk|) + 2 ulp``.  The gradient (the
occupation ``exp(alpha + beta - emit - log p)``: an exponential of a sum whose absolute error is that of the
value) is held to that absolute bound, relative to 1 (its entries lie in [-1, 1]).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import reference as R
from lossparity.catalogue import CATALOGUE
from lossparity.inputs import SHAPES
from reference import grads as G
from reference import oracle as O

U = 2.0 ** -53
CTC = R.LOSSES["ctc_loss"]


def _bound(inputs, exact):
    z = np.asarray(inputs["logits"], dtype=np.float64)
    steps, classes = z.shape[1], z.shape[2]
    scale = np.abs(np.where(np.isfinite(exact), exact, 0.0)) + np.sum(np.max(np.abs(z), axis=-1), axis=-1)
    return (4 * steps + 3 + 2 * math.ceil(math.log2(classes))) * U * scale + 2 * np.spacing(np.abs(exact))


def _sets():
    info = CATALOGUE["ctc_loss"]
    out = []
    for variant in info.variants:
        for shape in ("small", "rank3"):
            seed = sum(map(ord, f"ctc/{shape}/{variant}"))
            out.append((f"{shape}-{variant}", info.generate(np.random.default_rng(seed), SHAPES[shape], variant),
                        dict(variant)))
    hard = info.generate(np.random.default_rng(3), SHAPES["small"], {})
    hard["logits"] = hard["logits"] * 15.0  # confident frames: paths differ by many orders of magnitude
    out.append(("hard", hard, {}))
    return out


@pytest.mark.parametrize("name, inputs, args", _sets(), ids=[s[0] for s in _sets()])
def test_value_and_gradient_against_enumeration(name, inputs, args):
    ref = R.LOSSES["ctc_loss"](**inputs, **args)
    exact = O.ctc_loss(**inputs, **args)
    bound = _bound(inputs, exact)
    assert np.all(np.abs(ref - exact) <= bound), f"{name}: {ref} vs {exact} (bound {bound})"
    g, g_exact = G.GRADS["ctc_loss"](**inputs, **args), O.ctc_loss_grad(**inputs, **args)
    assert g.shape == g_exact.shape == np.shape(inputs["logits"])
    assert np.max(np.abs(g - g_exact)) <= np.max(bound), f"{name}: gradient off by {np.max(np.abs(g - g_exact))}"


def test_repeated_label_needs_a_blank_frame_and_infeasible_targets():
    """[1, 1] needs three frames (1, blank, 1): in two it is infeasible (inf; 0 with zero_infinity, gradient 0);
    a target holding the blank is reached by no path either.  An empty target is all blanks."""
    z = np.zeros((1, 2, 2))
    assert CTC([[1, 1]], z, [2], [2])[0] == np.inf == O.ctc_loss([[1, 1]], z, [2], [2])[0]
    assert CTC([[1, 1]], z, [2], [2], zero_infinity=True)[0] == 0.0
    assert np.all(G.ctc_loss([[1, 1]], z, [2], [2], zero_infinity=True) == 0.0)
    assert np.all(np.isnan(G.ctc_loss([[1, 1]], z, [2], [2])))
    assert CTC([[0]], z, [2], [1])[0] == np.inf == O.ctc_loss([[0]], z, [2], [1])[0]
    three = np.zeros((1, 3, 2))
    assert CTC([[1, 1]], three, [3], [2])[0] == pytest.approx(3 * math.log(2))  # one path of 1/8
    assert CTC([[1]], three, [3], [0])[0] == pytest.approx(3 * math.log(2))     # blanks only


def test_frames_and_labels_past_their_lengths_are_ignored():
    info = CATALOGUE["ctc_loss"]
    inputs = info.generate(np.random.default_rng(0), SHAPES["rank3"], {})
    changed = {**inputs, "labels": inputs["labels"].copy(), "logits": inputs["logits"].copy()}
    changed["logits"][1, int(inputs["logit_lengths"][1]):] = 99.0
    changed["labels"][:, -1] = 3
    assert np.array_equal(CTC(**inputs), CTC(**changed))
    assert np.all(G.ctc_loss(**changed)[1, int(inputs["logit_lengths"][1]):] == 0.0)


@pytest.mark.parametrize("call, message", [
    (lambda: CTC([[1]], np.zeros((2, 2)), [2], [1]), "shape (batch, time, classes)"),
    (lambda: CTC([[1]], np.zeros((1, 2, 2)), [3], [1]), "length"),
    (lambda: CTC([[2]], np.zeros((1, 2, 2)), [2], [1]), "must lie in [0, 2)"),
    (lambda: CTC([[1]], np.zeros((1, 2, 2)), [2], [1], blank=2), "blank=2"),
])
def test_refuses_malformed_inputs(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_probability_epsilon_flag_against_enumeration():
    """``ctc_probability_epsilon``: frames read as (p + eps) / sum(p + eps); on confident logits (probabilities far
    below eps) it changes the loss by orders of magnitude more than the rounding, and the reference follows the
    enumeration in value and gradient."""
    from reference.conventions import Convention, ctc_probability_epsilon

    conv = Convention("eps", "test", [ctc_probability_epsilon(1e-7, source="test", versions="*")])
    inputs = CATALOGUE["ctc_loss"].generate(np.random.default_rng(1), SHAPES["small"], {"blank": 4})
    inputs["logits"] = inputs["logits"] * 10.0
    ref, exact = CTC(**inputs, blank=4, convention=conv), O.ctc_loss(**inputs, blank=4, convention=conv)
    bound = _bound(inputs, exact)
    assert np.all(np.abs(ref - exact) <= bound), (ref, exact)
    assert np.max(np.abs(ref - CTC(**inputs, blank=4))) > 1e3 * np.max(bound)
    g = G.GRADS["ctc_loss"](**inputs, blank=4, convention=conv)
    g_exact = O.ctc_loss_grad(**inputs, blank=4, convention=conv)
    assert np.max(np.abs(g - g_exact)) <= np.max(bound), np.max(np.abs(g - g_exact))
