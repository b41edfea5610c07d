"""The float64 reference against the 60-digit mpmath oracle on hard inputs.

Error bound (justified, Higham ch. 3-4).  Every loss is a sum of ``n`` terms, each term computed with a
small fixed number of correctly rounded operations (log / log1p / exp / multiply / clip: <= C roundings,
unit roundoff ``u = 2**-53``), and reductions use NumPy's pairwise summation (error <= ceil(log2 n) u per
unit of ``sum |terms|``).  Terms from logits carry the log-sum-exp, itself a pairwise sum of ``n``
exponentials, so they add another ceil(log2 n).  Hence

    |ref - exact| <= (C + 2 ceil(log2 n)) u S + 2 ulp(exact),    C = 6,

with ``S = sum_j |term_j|`` (``= |loss|`` when every term has the same sign, the usual case; KL and the
categorical hinge pass their own ``S``).  For ``n <= 2`` and same-sign terms the bound is ~8 ulp; the
battery below is mostly far inside it (it asserts that as well: the median error is <= 1 ulp).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adapters
import reference as R
from lossparity.conventions import registry
from reference import oracle as O

U = 2.0 ** -53
C = 6


def ulp(x):
    return np.spacing(np.abs(np.asarray(x, dtype=np.float64)))


def bound(exact, n, s=None):
    exact = np.asarray(exact, dtype=np.float64)
    s = np.abs(exact) if s is None else np.asarray(s, dtype=np.float64)
    return (C + 2 * math.ceil(math.log2(max(n, 2)))) * U * s + 2 * ulp(exact)


def assert_close(ref, exact, n, s=None, what=""):
    ref, exact = np.asarray(ref, np.float64), np.asarray(exact, np.float64)
    assert ref.shape == exact.shape, what
    same_nonfinite = (np.isnan(ref) & np.isnan(exact)) | ((ref == exact) & ~np.isfinite(exact))
    with np.errstate(invalid="ignore"):
        err = np.where(same_nonfinite, 0.0, np.abs(ref - exact))
        tol = np.where(same_nonfinite, 0.0, bound(exact, n, s))
    assert np.all(err <= tol), f"{what}: err {err} > tol {tol} (ref {ref}, exact {exact})"
    return err


rng = np.random.default_rng(20240601)


def _probs(n, k, zero_frac=0.3):
    p = rng.random((n, k))
    p[rng.random((n, k)) < zero_frac] = 0.0
    p[:, 0] += 1e-3
    return p / p.sum(-1, keepdims=True)


HARD_LOGITS = np.array([
    [1e4, -1e4, 0.0],
    [-1e4, 1e4, 1e4],
    [700.0, -700.0, 699.5],
    [-700.3, -700.1, -745.0],
    [700.3, 0.1, -0.7],
    [0.0, 0.0, 0.0],
    [1e-300, -1e-300, 0.0],
    [30.0, -30.0, 1e-3],
])
HARD_PROBS = np.array([
    [1.0, 0.0, 0.0],
    [1e-300, 1.0 - 1e-16, 0.0],
    [0.5, 0.5, 0.0],
    [1e-7, 1.0 - 1e-7, 0.0],
    [1e-8, 0.3, 0.7 - 1e-8],
    [0.98, 0.01, 0.01],
    [1.0 / 3, 1.0 / 3, 1.0 / 3],
    [5e-324, 0.25, 0.75],
])
ONE_HOT = np.eye(3)[[0, 1, 2, 1, 0, 2, 1, 0]]
SOFT = np.abs(np.roll(HARD_PROBS, 1, axis=0))
CONVENTIONS = registry(adapters.builtin())  # "math" and every convention the adapters declare
CONVS = list(CONVENTIONS)  # registry order: "math", then the adapters' in adapters.BUILTIN order


def test_activations_hard_logits():
    for z in (HARD_LOGITS, np.linspace(-800, 800, 17)[None, :]):
        assert_close(R.log_softmax(z), O.log_softmax(z), z.shape[-1], what="log_softmax")
        assert_close(R.softmax(z), O.softmax(z), z.shape[-1], what="softmax")
    x = np.concatenate([HARD_LOGITS.ravel(), [-1e4, 1e4, 40.0, -40.0, 1e-20, -37.5, 709.0, -745.0]])
    assert_close(R.sigmoid(x), O.sigmoid(x), 1, what="sigmoid")
    assert_close(R.log_sigmoid(x), O.log_sigmoid(x), 1, what="log_sigmoid")


@pytest.mark.parametrize("conv_name", CONVS)
def test_cross_entropies_hard_inputs(conv_name):
    convention = CONVENTIONS[conv_name]
    n = 3
    for y in (ONE_HOT, SOFT):
        for ls in (0.0, 0.1):
            kw = dict(label_smoothing=ls, convention=convention)
            assert_close(R.categorical_crossentropy(y, HARD_LOGITS, from_logits=True, **kw),
                         O.categorical_crossentropy(y, HARD_LOGITS, from_logits=True, **kw), n, what="cce logits")
            exact = O.categorical_crossentropy(y, HARD_PROBS, **kw)
            # A renormalisation: -sum y log(p / S) carries (sum y) * log(S), whose rounding (~u per unit,
            # S = sum p rounded) is an absolute error: S gains the term sum(y).
            renorm = convention.applies("cce_renormalize", "categorical_crossentropy")
            s = np.abs(exact) + (y.sum(-1) if renorm else 0.0)
            assert_close(R.categorical_crossentropy(y, HARD_PROBS, **kw), exact, n, s=s, what="cce probs")
    labels = np.argmax(ONE_HOT, -1)
    for fl, x in ((True, HARD_LOGITS), (False, HARD_PROBS)):
        ref = R.sparse_categorical_crossentropy(labels, x, from_logits=fl, convention=convention)
        exact = O.sparse_categorical_crossentropy(labels, x, from_logits=fl, convention=convention)
        # after_clip renormalisation: -log c_y + log sum c, opposite signs -> S = both magnitudes.
        s = np.abs(exact) + 2 * np.log(3.0)
        assert_close(ref, exact, n, s=s, what=f"scce from_logits={fl}")
    yb = (rng.random(HARD_PROBS.shape) < 0.5).astype(float)
    yb[0] = [0.0, 0.3, 1.0]
    for fl, x in ((True, HARD_LOGITS), (False, HARD_PROBS)):
        for ls in (0.0, 0.2):
            kw = dict(from_logits=fl, label_smoothing=ls, convention=convention)
            assert_close(R.binary_crossentropy(yb, x, **kw), O.binary_crossentropy(yb, x, **kw), n,
                         what=f"bce from_logits={fl} ls={ls}")


@pytest.mark.parametrize("conv_name", CONVS)
def test_information_and_kl(conv_name):
    convention = CONVENTIONS[conv_name]
    eps = convention.value_for("kl_clip", "kl_divergence")
    p, q = _probs(6, 7), _probs(6, 7)
    p[0], q[0] = [1, 0, 0, 0, 0, 0, 0], [0.98, 0.01, 0, 0, 0.01, 0, 0]
    p[1], q[1] = q[1] * (1 + 1e-9), q[1]  # p ~ q: KL ~ 1e-18, terms cancel
    p[2, :3], q[2, :3] = [1e-300, 0.5, 0.5 - 1e-300], [1e-200, 1e-300, 0.5]
    for base in (None, 2, 10):
        ref = R.kl_divergence(p, q, base=base, convention=convention)
        exact = O.kl_divergence(p, q, base=base, convention=convention)
        with np.errstate(all="ignore"):
            s = np.nansum(np.abs(np.where(p > 0, p * (np.log(np.maximum(p, eps) if eps is not None
                                                         else p) - np.log(np.maximum(q, 1e-300))), 0)), -1)
        assert_close(ref, exact, 7, s=s + 1e-300, what=f"kl base={base}")
        if conv_name == "math":
            assert_close(R.entropy(p, base=base), O.entropy(p, base=base), 7, what="entropy")
            assert_close(R.cross_entropy(p, q, base=base), O.cross_entropy(p, q, base=base), 7, what="xent")


@pytest.mark.parametrize("conv_name", CONVS)
def test_hinges_and_regression(conv_name):
    convention = CONVENTIONS[conv_name]
    s = np.array([[0.3, -0.2, 1.0], [-1.0, 2.0, 0.5], [1e-300, -1e300, 3.0], [0.0, 0.0, 0.0]])
    for y in (np.array([[0.0, 1.0, 1.0]] * 4), np.array([[-1.0, 1.0, -1.0]] * 4), np.array([[0.5, 1.0, 0.0]] * 4)):
        for name in ("hinge", "squared_hinge"):
            assert_close(R.LOSSES[name](y, s, convention=convention),
                         O.LOSSES[name](y, s, convention=convention), 3, what=name)
    y = np.eye(3)[[2, 0, 1, 1]]
    exact = O.categorical_hinge(y, s, convention=convention)
    assert_close(R.categorical_hinge(y, s, convention=convention), exact, 3,
                 s=np.abs(exact) + np.max(np.abs(s), -1) + 1, what="categorical_hinge")
    t = np.array([[0.1, -2.0, 1e10], [3.0, 3.0 + 1e-12, -1e-300], [0.0, 0.0, 0.0], [5.0, -5.0, 0.25]])
    x = np.array([[0.1 + 1e-15, 2.0, -1e10], [-3.0, 3.0, 1e-300], [0.7, -1.3, 2.0], [5.5, -4.0, 0.0]])
    for name, kw in (("mean_squared_error", {}), ("mean_absolute_error", {}), ("huber", {"delta": 1.0}),
                     ("huber", {"delta": 0.3}), ("smooth_l1", {"beta": 0.5}), ("smooth_l1", {"beta": 0.0}),
                     ("log_cosh", {})):
        assert_close(R.LOSSES[name](t, x, convention=convention, **kw),
                     O.LOSSES[name](t, x, convention=convention, **kw), 3, what=name)


def test_many_classes_and_long_batches():
    k = 1000
    z = rng.normal(size=(3, k)) * 50
    z[0, 0] = 1e4
    y = np.eye(k)[[0, 5, 999]]
    y[2] = _probs(1, k)[0]
    assert_close(R.categorical_crossentropy(y, z, from_logits=True),
                 O.categorical_crossentropy(y, z, from_logits=True), k, what="cce 1000 classes")
    assert_close(R.sparse_categorical_crossentropy([0, 5, 999], z, from_logits=True),
                 O.sparse_categorical_crossentropy([0, 5, 999], z, from_logits=True), k, what="scce 1000")
    p = _probs(2, k)
    assert_close(R.entropy(p), O.entropy(p), k, what="entropy 1000")
    # long batch: many short rows (per-sample values are independent; the oracle checks a slice)
    zb = rng.normal(size=(5000, 4)) * 300
    lab = rng.integers(0, 4, 5000)
    ref = R.sparse_categorical_crossentropy(lab, zb, from_logits=True)
    idx = rng.choice(5000, 40, replace=False)
    assert_close(ref[idx], O.sparse_categorical_crossentropy(lab[idx], zb[idx], from_logits=True), 4,
                 what="long batch")


def test_battery_is_mostly_exact():
    """Most results are correctly rounded or 1 ulp off: the bound above is not hiding sloppiness."""
    errs = []
    y, z = ONE_HOT, HARD_LOGITS
    for ref, exact in ((R.categorical_crossentropy(y, z, from_logits=True),
                        O.categorical_crossentropy(y, z, from_logits=True)),
                       (R.binary_crossentropy(y, HARD_PROBS), O.binary_crossentropy(y, HARD_PROBS)),
                       (R.log_softmax(z), O.log_softmax(z))):
        ok = np.isfinite(exact) & (exact != 0) & np.isfinite(ref)
        with np.errstate(invalid="ignore"):
            errs.extend((np.abs(ref - exact)[ok] / ulp(exact[ok])).ravel())
    assert np.median(errs) <= 1.0
    assert np.max(errs) <= 8.0


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    z=st.lists(st.floats(-800, 800, allow_nan=False), min_size=2, max_size=6),
    label=st.integers(0, 5),
    ls=st.sampled_from([0.0, 0.1]),
    conv_name=st.sampled_from(CONVS),
)
def test_fuzz_logit_losses_against_oracle(z, label, ls, conv_name):
    conv = CONVENTIONS[conv_name]
    z = np.array(z)
    label = label % z.size
    y = np.eye(z.size)[label]
    n = z.size
    assert_close(R.categorical_crossentropy(y, z, from_logits=True, label_smoothing=ls, convention=conv),
                 O.categorical_crossentropy(y, z, from_logits=True, label_smoothing=ls, convention=conv), n)
    assert_close(R.sparse_categorical_crossentropy(label, z, from_logits=True, convention=conv),
                 O.sparse_categorical_crossentropy(label, z, from_logits=True, convention=conv), n)
    yb = (np.arange(n) % 2).astype(float)
    assert_close(R.binary_crossentropy(yb, z, from_logits=True, convention=conv),
                 O.binary_crossentropy(yb, z, from_logits=True, convention=conv), n)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    p=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=6),
    e=st.integers(-300, 0),
    conv_name=st.sampled_from(CONVS),
)
def test_fuzz_probability_losses_against_oracle(p, e, conv_name):
    conv = CONVENTIONS[conv_name]
    p = np.array(p) * 10.0 ** e
    p[0] = max(p[0], 1e-300)
    y = np.zeros(p.size)
    y[0] = 1.0
    n = p.size
    exact = O.categorical_crossentropy(y, p, convention=conv)
    # A renormalisation adds log(S) (S = sum p rounded): an absolute error of ~u (see the hard inputs above).
    s = np.abs(exact) + (y.sum() if conv.applies("cce_renormalize", "categorical_crossentropy") else 0.0)
    assert_close(R.categorical_crossentropy(y, p, convention=conv), exact, n, s=s)
    yb = (np.arange(n) % 2).astype(float)
    pb = np.minimum(p, 1.0)
    assert_close(R.binary_crossentropy(yb, pb, convention=conv), O.binary_crossentropy(yb, pb, convention=conv), n)


@pytest.mark.parametrize("conv_name", ["math", "torch", "optax"])
@pytest.mark.parametrize("kw", [{}, {"p": 1, "margin": 2.0}, {"swap": True}, {"p": 3}], ids=["default", "p1", "swap", "p3"])
def test_triplet_margin_loss_against_oracle(kw, conv_name):
    conv = registry(adapters.builtin())[conv_name]
    a = rng.normal(size=(6, 5))
    p = a + 0.3 * rng.normal(size=(6, 5))
    n = a + 0.8 * rng.normal(size=(6, 5))
    p[0] = a[0]  # anchor == positive
    ref = R.LOSSES["triplet_margin_loss"](a, p, n, convention=conv, **kw)
    exact = O.triplet_margin_loss(a, p, n, convention=conv, **kw)
    # a difference of the two distances: the bound is relative to margin + d(a, p) + d(a, n) (+ the swap's
    # d(p, n)), not to the loss
    k = kw.get("p", 2)
    s = abs(kw.get("margin", 1.0)) + sum(np.sum(np.abs(x - y) ** k, axis=-1) ** (1 / k) for x, y in ((a, p), (a, n), (p, n)))
    assert_close(ref, exact, 5, s=s, what=f"triplet {kw} {conv_name}")
