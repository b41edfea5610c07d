"""Meta-tests of the tolerance model: derived from epsilon and conditioning, never a loosened constant."""
import numpy as np
import pytest

from lossparity import tolerance as tol


@pytest.mark.parametrize("printed, expected", [("2.3978953", 5e-8), ("0.02", 5e-3), ("1.8", 0.05),
                                               ("1.2e-3", 5e-5), ("2.0", 0.05), ("0.1164", 5e-5)])
def test_printed_tolerance_is_half_a_unit_in_the_last_digit(printed, expected):
    assert tol.printed_tolerance(printed) == pytest.approx(expected)


def test_printed_tolerance_adds_the_computing_dtypes_bound():
    assert tol.printed_tolerance("2.3978953", "float32", 3e-7) == pytest.approx(5e-8 + 3e-7)


@pytest.mark.parametrize("dtype, u", [("float16", 2**-11), ("bfloat16", 2**-8), ("float32", 2**-24),
                                      ("float64", 2**-53)])
def test_unit_roundoff(dtype, u):
    assert tol.eps(dtype) == u


def test_ulp_matches_numpy_spacing():
    x = np.array([1.0, 3.5, 1e-3, 1e4])
    assert np.array_equal(tol.ulp(x, "float32"), np.spacing(x.astype(np.float32)).astype(np.float64))


def test_bound_widens_with_conditioning():
    def cancel(a, b):
        return a - b
    well = tol.error_bound(cancel, {"a": np.array(2.5), "b": np.array(1.25)}, ["a", "b"], "float32", 1)
    ill = tol.error_bound(cancel, {"a": np.array(1e4 + 1.5), "b": np.array(1e4 + 0.25)}, ["a", "b"], "float32", 1)
    assert ill > 1000 * well


def test_jumps_are_not_rounding_sensitivities():
    def hinge_like(y, p):
        return np.maximum(0.0, 1.0 - y * p)
    at_kink = tol.condition_scale(hinge_like, {"y": np.array([1.0]), "p": np.array([1.0])}, ["p"], "float32")
    assert at_kink[0] == 0.0  # |f| = 0 and the kink's jump is ignored
    smooth = tol.condition_scale(hinge_like, {"y": np.array([1.0]), "p": np.array([0.5])}, ["p"], "float32")
    assert smooth[0] == pytest.approx(0.5 + 0.5, rel=1e-6)  # |f| + |df/dp| |p|


def test_discrete_targets_are_not_perturbed_but_integer_predictions_are():
    from lossparity.checks import float_inputs
    inputs = {"y_true": np.array([0.0, 1.0]), "y_pred": np.array([128.0, 128.0]), "labels": np.array([1])}
    assert float_inputs(inputs) == ["y_pred"]
    assert float_inputs({"y_true": np.array([0.3, 0.7]), "y_pred": np.array([1.0, 2.0])}) == ["y_true", "y_pred"]


def test_bound_is_tight_for_a_well_conditioned_sum():
    def total(x):
        return np.sum(x)
    x = np.linspace(1, 2, 10)
    bound = tol.error_bound(total, {"x": x}, ["x"], "float32", x.size)
    assert bound < 50 * tol.eps("float32") * np.sum(x)


def test_measure_classifies_nonfinite():
    m = tol.measure([np.nan, np.inf, 1.0], [np.nan, np.inf, 1.0], "float32")
    assert m["abs"] == 0.0
    assert tol.measure([np.nan], [1.0], "float32")["abs"] == np.inf
    assert tol.measure([-np.inf], [np.inf], "float32")["abs"] == np.inf


def test_within_rejects_shape_changes():
    assert not tol.within(np.zeros(3), np.zeros(4), 1.0)
