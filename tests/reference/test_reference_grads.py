"""Analytic gradients (``reference.grads``) against 60-digit central differences of the oracle.

The oracle's difference quotient is good to ~20+ digits away from kinks and clip boundaries, so the
analytic float64 gradient must agree to a few ulp; the bound used is 64 u |g| + 64 u max|g| per row
(the analytic formulas chain up to ~6 roundings, plus the renormalisation Jacobian's sum of K terms,
which cancels: ``(g_c - sum g_c r) / S``, hence the row-max term).  Kinks and clip boundaries, where
the frameworks' autodiff makes a choice, are checked against explicit values.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adapters
import reference as R
from lossparity.conventions import registry
from reference import grads as G
from reference import oracle as O

U = 2.0 ** -53
CONVENTIONS = registry(adapters.builtin())  # "math" and every convention the adapters declare
CONVS = list(CONVENTIONS)  # registry order: "math", then the adapters' in adapters.BUILTIN order


def assert_grad(name, *args, **kwargs):
    g = np.asarray(G.GRADS[name](*args, **kwargs))
    fd = O.grad(name, *args, **kwargs)
    assert g.shape == fd.shape == np.shape(args[-1])
    rowmax = np.max(np.abs(fd), axis=kwargs.get("axis", -1), keepdims=True)
    tol = 64 * U * (np.abs(fd) + rowmax) + 1e-300
    assert np.all(np.abs(g - fd) <= tol), f"{name} {kwargs}: analytic {g} vs fd {fd}"


rng = np.random.default_rng(7)
P = np.array([[0.2, 0.3, 0.5], [0.05, 0.9, 0.05], [1e-3, 0.5, 0.499], [0.6, 0.3, 0.2]])  # last row sums 1.1
Y = np.eye(3)[[2, 0, 1, 1]]
Z = np.array([[1.0, -2.0, 0.5], [700.0, 699.0, -700.0], [-30.0, 30.0, 0.0], [1e-3, 0.0, -1e-3]])


@pytest.mark.parametrize("conv_name", CONVS)
def test_cross_entropy_grads(conv_name):
    convention = CONVENTIONS[conv_name]
    soft = np.abs(np.roll(P, 1, 0))
    for y in (Y, soft):
        for ls in (0.0, 0.1):
            assert_grad("categorical_crossentropy", y, Z, from_logits=True, label_smoothing=ls, convention=convention)
            assert_grad("categorical_crossentropy", y, P, label_smoothing=ls, convention=convention)
    lab = np.argmax(Y, -1)
    assert_grad("sparse_categorical_crossentropy", lab, Z, from_logits=True, convention=convention)
    assert_grad("sparse_categorical_crossentropy", lab, P, convention=convention)
    assert_grad("sparse_categorical_crossentropy", lab, Z, from_logits=True, label_smoothing=0.2,
                convention=convention)
    yb = np.array([[1.0, 0.0, 0.3]] * 4)
    for ls in (0.0, 0.2):
        assert_grad("binary_crossentropy", yb, Z, from_logits=True, label_smoothing=ls, convention=convention)
        assert_grad("binary_crossentropy", yb, P, label_smoothing=ls, convention=convention)
    assert_grad("nll", lab, np.log(P), convention=convention)


@pytest.mark.parametrize("conv_name", CONVS)
def test_divergence_and_regression_grads(conv_name):
    convention = CONVENTIONS[conv_name]
    q = P / P.sum(-1, keepdims=True)
    p = np.abs(np.roll(q, 1, 0))
    p[0, 0] = 0.0
    assert_grad("kl_divergence", p, q, convention=convention)
    assert_grad("kl_divergence", p, q, base=2, convention=convention)
    assert_grad("cross_entropy", p, q, base=10, convention=convention)
    assert_grad("entropy", q, convention=convention)
    t = np.array([[0.1, -2.0, 3.0], [0.0, 1.0, -1.0]])
    x = np.array([[0.4, 2.5, -3.0], [0.2, 0.1, -1.5]])
    for name, kw in (("mean_squared_error", {}), ("mean_absolute_error", {}), ("huber", {"delta": 1.0}),
                     ("huber", {"delta": 0.25}), ("smooth_l1", {"beta": 0.5}), ("log_cosh", {})):
        assert_grad(name, t, x, convention=convention, **kw)
    s = np.array([[0.3, -0.2, 1.5], [-1.2, 2.0, 0.4]])
    for y in (np.array([[0.0, 1.0, 1.0]] * 2), np.array([[-1.0, 1.0, -1.0]] * 2)):
        assert_grad("hinge", y, s, convention=convention)
        assert_grad("squared_hinge", y, s, convention=convention)
    assert_grad("categorical_hinge", np.eye(3)[[2, 0]], np.array([[0.3, -0.2, 0.5], [-1.2, -2.0, 0.4]]),
                convention=convention)


def test_clip_and_kink_choices():
    keras, keras2, torch, optax = (CONVENTIONS[n] for n in ("keras", "keras2", "torch", "optax"))
    # Keras: tf.clip_by_value passes the gradient AT the bound (measured: bce y=1 p=1e-7 -> -1e7) and
    # zeroes it strictly outside (p=1e-8 -> 0).
    assert G.binary_crossentropy([1.0], [1e-7], convention=keras)[0] == pytest.approx(-1e7)
    assert G.binary_crossentropy([1.0], [1e-8], convention=keras)[0] == 0.0
    assert G.binary_crossentropy([1.0], [1e-7], convention=keras2)[0] == pytest.approx(-5e6)
    assert np.all(G.categorical_crossentropy([1.0, 0, 0], [0.0, 0.5, 0.5], convention=keras) == 0.0)
    np.testing.assert_allclose(G.sparse_categorical_crossentropy(0, [0.0, 0.5, 0.5], convention=keras),
                               [0.0, 1 / 1.0000001, 1 / 1.0000001], rtol=1e-15)
    np.testing.assert_allclose(G.kl_divergence([0.5, 0.5], [1.5, 0.5], convention=keras), [0.0, -1.0])
    # torch: (p - y) / max(p (1 - p), float32(1e-12)), even where the -100 clamp is active.
    assert G.binary_crossentropy([1.0], [0.0], convention=torch)[0] == pytest.approx(-1.0000000039958029e12)
    assert G.binary_crossentropy([0.0], [1.0], convention=torch)[0] == pytest.approx(1.0000000039958029e12)
    assert G.binary_crossentropy([1.0], [0.0], convention=torch.without("bce_grad_epsilon"))[0] == 0
    # hinge kink: math 0, keras full (-y/K), optax half.
    for conv, want in (("math", [0.0, 0.0]), (keras, [-0.5, 0.5]), (optax, [-0.25, 0.25])):
        np.testing.assert_allclose(G.hinge([1.0, -1.0], [1.0, -1.0], convention=conv), want)
    np.testing.assert_allclose(G.categorical_hinge([0.0, 1, 0], [0.0, 1, 0], convention=optax), [1 / 3, -2 / 3, 1 / 3])
    np.testing.assert_allclose(G.categorical_hinge([[0.0, 1]], [[0.0, 1]], convention=keras), [[0.5, -1.0]])
    np.testing.assert_allclose(G.categorical_hinge([0.0, 0, 1], [2.0, 2, 0]), [0.5, 0.5, -1.0])  # tie splits
    np.testing.assert_allclose(G.mean_absolute_error([1.0, 2.0], [1.0, 3.0], convention=optax), [0.5, 0.5])
    np.testing.assert_allclose(G.mean_absolute_error([1.0, 2.0], [1.0, 3.0]), [0.0, 0.5])


def test_activation_vjps():
    z = np.array([[1.0, -2.0, 0.5], [700.0, 699.0, -700.0]])
    v = np.array([[0.3, -1.0, 2.0], [1.0, 0.0, 0.0]])
    s = R.softmax(z)
    jac = np.einsum("bi,ij->bij", s, np.eye(3)) - np.einsum("bi,bj->bij", s, s)
    np.testing.assert_allclose(G.softmax_vjp(z, v), np.einsum("bi,bij->bj", v, jac), atol=1e-15)
    np.testing.assert_allclose(G.log_softmax_vjp(z, v), v - s * v.sum(-1, keepdims=True), atol=1e-15)
    np.testing.assert_allclose(G.sigmoid_grad([0.0, 3.0]), R.sigmoid([0.0, 3.0]) * R.sigmoid([0.0, -3.0]))
    np.testing.assert_allclose(G.log_sigmoid_grad([0.0, 3.0]), R.sigmoid([0.0, -3.0]))


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    z=st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=4),
    raw=st.lists(st.floats(0.01, 1.0), min_size=4, max_size=4),
    conv_name=st.sampled_from(CONVS),
)
def test_fuzz_grads(z, raw, conv_name):
    conv = CONVENTIONS[conv_name]
    z = np.array(z)
    k = z.size
    y = np.eye(k)[int(np.argmin(z))]
    p = np.array(raw[:k])
    assert_grad("categorical_crossentropy", y, z, from_logits=True, convention=conv)
    assert_grad("categorical_crossentropy", y, p, convention=conv)
    assert_grad("binary_crossentropy", y, np.clip(p, 0.01, 0.99), convention=conv)
    assert_grad("mean_squared_error", y, z, convention=conv)


# ---------------------------------------------------------------------------------------------------
# Gradients with respect to the target (soft labels, distillation): reference.grads.TARGET_GRADS against
# float64 central differences of the reference value itself, under every declared convention.

def _target_cases():
    rng = np.random.default_rng(7)
    z = rng.normal(scale=2.0, size=(3, 4))
    p = R.softmax(rng.normal(size=(3, 4)))
    y = rng.uniform(0.05, 0.95, size=(3, 4))
    soft = y / y.sum(-1, keepdims=True)
    return [
        ("categorical_crossentropy", soft, z, {"from_logits": True}),
        ("categorical_crossentropy", soft, z, {"from_logits": True, "label_smoothing": 0.2,
                                               "class_weight": [0.5, 2.0, 1.0, 3.0]}),
        ("categorical_crossentropy", soft, p, {}),
        ("binary_crossentropy", y, z, {"from_logits": True, "pos_weight": [1.0, 2.0, 0.5, 3.0]}),
        ("binary_crossentropy", y, np.clip(p * 2, 0.05, 0.95), {"label_smoothing": 0.1}),
        ("kl_divergence", soft, p, {}),
        ("kl_divergence", np.log(soft), p, {"log_target": True}),
        ("mean_squared_error", y, z, {"weight": rng.uniform(size=(3, 4))}),
        ("mean_absolute_error", y, z, {}),
        ("huber", y, z, {"delta": 0.5}),
        ("smooth_l1", y, z, {"beta": 0.5}),
        ("log_cosh", y, z, {}),
    ]


@pytest.mark.parametrize("conv_name", CONVS)
@pytest.mark.parametrize("case", range(len(_target_cases())))
def test_target_gradients_match_central_differences(case, conv_name):
    name, target, pred, kw = _target_cases()[case]
    conv = CONVENTIONS[conv_name]
    h = 1e-6
    analytic = np.asarray(G.TARGET_GRADS[name](target, pred, convention=conv, **kw))
    numeric = np.zeros_like(target)
    for i in np.ndindex(target.shape):
        up, down = target.copy(), target.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (np.sum(R.LOSSES[name](up, pred, convention=conv, **kw))
                      - np.sum(R.LOSSES[name](down, pred, convention=conv, **kw))) / (2 * h)
    assert analytic.shape == target.shape
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7 * max(1.0, np.max(np.abs(numeric))))


def test_a_wrong_target_gradient_is_caught():
    """The test above fails on a planted fault: the label smoothing factor left out of the CCE gradient."""
    name, target, pred, kw = _target_cases()[1]
    wrong = np.asarray(G.TARGET_GRADS[name](target, pred, **kw)) / (1 - kw["label_smoothing"])
    h = 1e-6
    up, down = target.copy(), target.copy()
    up[0, 0] += h
    down[0, 0] -= h
    numeric = (np.sum(R.LOSSES[name](up, pred, **kw)) - np.sum(R.LOSSES[name](down, pred, **kw))) / (2 * h)
    assert not np.isclose(wrong[0, 0], numeric, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------
# The triplet margin loss: gradients with respect to each of its three inputs (reference.grads.INPUT_GRADS).

def _triplet_inputs():
    rng = np.random.default_rng(11)
    a = rng.normal(size=(5, 4))
    scale = rng.uniform(0.1, 0.6, size=(5, 1))
    return a, a + scale * rng.normal(size=(5, 4)), a + 2.5 * scale * rng.normal(size=(5, 4))


def _central(fn, args, index, kw, h=1e-6):
    numeric = np.zeros_like(args[index])
    for i in np.ndindex(numeric.shape):
        up, down = [x.copy() for x in args], [x.copy() for x in args]
        up[index][i] += h
        down[index][i] -= h
        numeric[i] = (np.nansum(fn(*up, **kw)) - np.nansum(fn(*down, **kw))) / (2 * h)
    return numeric


@pytest.mark.parametrize("conv_name", CONVS)
@pytest.mark.parametrize("kw", [{}, {"p": 1, "margin": 2.0}, {"swap": True}, {"p": 3, "margin": 1.5}],
                         ids=["default", "p1", "swap", "p3"])
def test_triplet_gradients_match_central_differences(kw, conv_name):
    conv = CONVENTIONS[conv_name]
    args = list(_triplet_inputs())
    loss = R.LOSSES["triplet_margin_loss"]
    values = loss(*args, convention=conv, **kw)
    if conv_name == "math":
        assert np.any(values > 0.05) and np.any(values == 0), "the batch should have active and inactive triplets"
    finite = np.isfinite(values)  # a signed power (optax, p = 3) is NaN for a negative sum: both sides NaN there
    assert np.any(finite)
    for index, wrt in enumerate(("anchor", "positive", "negative")):
        analytic = np.asarray(G.INPUT_GRADS["triplet_margin_loss"][wrt](*args, convention=conv, **kw))
        numeric = _central(loss, args, index, dict(kw, convention=conv))
        assert np.all(np.isnan(analytic[~finite]))
        np.testing.assert_allclose(analytic[finite], numeric[finite], rtol=1e-6, atol=1e-7, err_msg=f"{wrt} {kw}")
    np.testing.assert_array_equal(G.triplet_margin_loss(*args, convention=conv, **kw),
                                  G.INPUT_GRADS["triplet_margin_loss"]["negative"](*args, convention=conv, **kw))
    if conv_name == "math":  # d/dnegative against the oracle's 60-digit central differences
        assert_grad("triplet_margin_loss", *args, **kw)


def test_a_wrong_triplet_gradient_is_caught():
    """The test above fails on a planted fault: the anchor's gradient without its negative-distance term."""
    args = list(_triplet_inputs())
    loss = R.LOSSES["triplet_margin_loss"]
    wrong = -np.asarray(G.INPUT_GRADS["triplet_margin_loss"]["positive"](*args))  # g(a - p) only
    numeric = _central(loss, args, 0, {})
    assert not np.allclose(wrong, numeric, rtol=1e-6, atol=1e-7)


def test_triplet_choices_at_coincidence_and_kink():
    torch, optax = CONVENTIONS["torch"], CONVENTIONS["optax"]
    grad = G.INPUT_GRADS["triplet_margin_loss"]
    # anchor == positive: the norm at 0 has subgradient 0 (math, and optax's sqrt(sum + eps)); torch's
    # |a - p + eps| is the norm at (eps, ..., eps), whose gradient is 1/sqrt(D) per element (measured 0.4472).
    a = np.zeros((1, 5))
    n = np.array([[2.0 ** -10, 0, 0, 0, 0]])
    np.testing.assert_allclose(grad["positive"](a, a, n), 0.0)
    np.testing.assert_allclose(grad["positive"](a, a, n, convention=optax), 0.0)
    np.testing.assert_allclose(grad["positive"](a, a, n, convention=torch), -np.full((1, 5), 5 ** -0.5), rtol=1e-6)
    assert R.LOSSES["triplet_margin_loss"](a, a, n)[0] == 1 - 2.0 ** -10
    assert R.LOSSES["triplet_margin_loss"](a, a, n, convention=optax)[0] == pytest.approx(
        1 + 1e-3 - np.sqrt(2.0 ** -20 + 1e-6), rel=1e-15)
    # the kink (margin + d(a, p) - d(a, n) = 0, exact in float32 with either eps): math 0, torch all, optax half.
    a, p, n = (np.array([[v, 0.0]], dtype=np.float32) for v in (0.0, 48.0, 49.0))
    for conv, want in (("math", 0.0), (torch, -1.0), (optax, -0.5)):
        assert grad["negative"](a, p, n, convention=conv)[0, 0] == pytest.approx(want, abs=1e-7)
    # p = 1 without the absolute value (optax): the signed sums 2 and -2.
    a, p, n = np.zeros((1, 2)), -np.ones((1, 2)), np.ones((1, 2))
    assert R.LOSSES["triplet_margin_loss"](a, p, n, p=1)[0] == 1.0
    assert R.LOSSES["triplet_margin_loss"](a, p, n, p=1, convention=optax)[0] == pytest.approx(5.0, rel=1e-12)
    np.testing.assert_allclose(grad["negative"](a, p, n, p=1, convention=optax), [[1.0, 1.0]])
    np.testing.assert_allclose(grad["negative"](a, p, n, p=1), [[-1.0, -1.0]])


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_class_weight(p):
    """torch's MultiMarginLoss(weight=w): w[y] * sum_i max(0, margin - x[y] + x[i])^p / C, the weight outside
    the power (measured, torch 2.13: [0.38125, 0.4125] for p = 2; inside it would be [0.953, 0.206])."""
    x = np.array([[0.1, 0.2, 0.4, 0.8], [0.3, -0.2, 0.9, 0.0]])
    labels, w = np.array([3, 0]), np.array([0.5, 2.0, 3.0, 2.5])
    want = {1: [0.8125, 0.35], 2: [0.38125, 0.4125]}[p]
    np.testing.assert_allclose(R.LOSSES["multi_margin_loss"](labels, x, p=p, class_weight=w), want, rtol=1e-14)
    np.testing.assert_allclose(O.multi_margin_loss(labels, x, p=p, class_weight=w), want, rtol=1e-15)
    assert_grad("multi_margin_loss", labels, x, p=p, class_weight=w)


@pytest.mark.parametrize("conv_name", ["math", "torch"])
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_cosine_embedding_gradients(margin, conv_name):
    """d/dx1 and d/dx2 of the cosine embedding loss (one +-1 target per pair) against central differences;
    d/dx2 against the oracle's."""
    conv = CONVENTIONS[conv_name]
    rng = np.random.default_rng(5)
    x1, x2 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    y = np.array([[1.0], [-1.0], [1.0], [-1.0], [-1.0], [-1.0]])
    loss = R.LOSSES["cosine_embedding_loss"]
    args = [y, x1, x2]
    values = loss(*args, margin=margin, convention=conv)
    assert np.any(values[y[:, 0] == -1] == 0) and np.any(values[y[:, 0] == -1] > 0)
    for index, wrt in ((1, "x1"), (2, "x2")):
        analytic = G.INPUT_GRADS["cosine_embedding_loss"][wrt](*args, margin=margin, convention=conv)
        numeric = _central(loss, args, index, {"margin": margin, "convention": conv})
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=wrt)
    assert_grad("cosine_embedding_loss", *args, margin=margin, convention=conv)
    # target +1 is the cosine distance
    np.testing.assert_allclose(loss(np.ones((6, 1)), x1, x2, convention=conv),
                               R.LOSSES["cosine_distance"](x1, x2, convention=conv), rtol=1e-15)
