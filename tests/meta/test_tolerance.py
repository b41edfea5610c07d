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


# ---------------------------------------------------------------------------------------------------------
# The half-precision models, tiny results, non-finite expectations (docs/tolerances.md)

def _logsumexp(z):
    m = np.max(z, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))[..., 0]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_widened_bound_is_half_an_ulp_plus_a_float32_term(dtype):
    z = tol.quantize(np.random.default_rng(1).normal(scale=3.0, size=(8, 100)), dtype)
    value = _logsumexp(z)
    parts = tol.bound(_logsumexp, {"z": z}, ["z"], dtype, 100, unit_intermediate=True, independent_rows=True)
    assert parts.model == "widened" and parts.arithmetic == "float32"
    half_ulp = tol.ulp(value, dtype) / 2
    assert np.all(parts.total >= half_ulp)
    assert np.all(parts.total <= 1.1 * half_ulp)  # the float32 term is a few percent of half an ulp here
    native = tol.bound(_logsumexp, {"z": z}, ["z"], dtype, 100, unit_intermediate=True, independent_rows=True,
                       model="native")
    assert np.all(native.total > 8 * parts.total)  # what the previous model allowed


def test_float32_and_float64_keep_the_native_worst_case_model():
    assert tol.default_model("float32") == tol.default_model("float64") == "native"
    assert tol.gamma("float32", 1000) == tol.gamma_n("float32", 1000)


def test_probabilistic_gamma_replaces_a_vacuous_worst_case():
    # bfloat16 over 100 terms: the worst case allows 73 %, Higham & Mary's bound (failure < 1e-9) 35 %.
    assert tol.gamma_n("bfloat16", 100) > 0.7
    assert tol.gamma("bfloat16", 100) == tol.gamma_probabilistic("bfloat16", 100) < 0.36
    # ... and is never used where the worst case is the smaller (few terms).
    assert tol.gamma("float16", 4) == tol.gamma_n("float16", 4)
    lam = tol.confidence_lambda(100)
    assert 2 * 108 * np.exp(-lam ** 2 * (1 - tol.eps("bfloat16")) ** 2 / 2) <= tol.PROBABILISTIC_FAILURE


def test_bound_of_a_non_finite_expected_value_is_finite():
    def overflow(x):
        with np.errstate(over="ignore"):
            return np.exp(x)
    bound = tol.error_bound(overflow, {"x": np.array([1000.0, 1.0])}, ["x"], "float32", 1)
    assert np.all(np.isfinite(bound))
    assert np.all(np.isfinite(tol.error_bound(overflow, {"x": np.array([1000.0])}, ["x"], "float16", 1)))


def test_tiny_softplus_value_is_judged_relatively():
    """log1p(exp(-40)) = 4.25e-18: without the unit floor its bound is relative, so 0.0 is far outside."""
    def softplus_neg(x):
        return np.log1p(np.exp(-np.abs(x)))
    x = {"x": np.array([40.0, -40.0])}
    relative = tol.error_bound(softplus_neg, x, ["x"], "float64", 1)
    assert np.all(relative < 1e-30)
    absolute = tol.error_bound(softplus_neg, x, ["x"], "float64", 1, unit_intermediate=True)
    assert np.all(absolute > 4.3e-18)  # the floor that hid the loss of the value


def test_relative_judgement_covers_the_stable_forms_only():
    from lossparity.checks import judged_relatively
    assert judged_relatively("binary_crossentropy", {"from_logits": True}, gradient=False)
    assert not judged_relatively("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, False)
    assert not judged_relatively("binary_crossentropy", {"from_logits": False}, gradient=False)
    assert not judged_relatively("binary_crossentropy", {"from_logits": True}, gradient=True)
    assert not judged_relatively("sparse_categorical_crossentropy", {"from_logits": True}, gradient=False)
    assert judged_relatively("sigmoid", {}, gradient=False)


def test_ulps_of_a_lost_tiny_value_are_honest():
    e = np.array([4.248354255291589e-18])
    measured = tol.measure(np.array([0.0]), e, "float64", floor=e * 41)  # C = |f| + |x f'| at x = -40
    assert measured["rel"] == 1.0
    assert measured["ulps"] > 1e13


def test_half_arithmetic_shows_string_is_the_adapters():
    """The adapters (which import nothing from lossparity) spell the declaration's ``shows`` literally."""
    import adapters
    from lossparity.checks import HALF_ARITHMETIC
    declared = {d.shows for a in adapters.builtin() for d in a.deviations if "half" in d.shows}
    assert declared <= {HALF_ARITHMETIC}, declared


def _golden_case(printed: str):
    from cases.loader import parse_case
    raw = {"id": "meta.golden.overflow", "kind": "golden", "loss": "categorical_crossentropy",
           "inputs": {"y_true": [[0.0, 1.0, 0.0]], "y_pred": [[0.5, 0.0, 0.5]]}, "args": {"from_logits": False},
           "dtype": "float32", "convention": "math", "reduction": "none",
           "expect": {"printed": printed, "computed_dtype": "float32"},
           "provenance": {"document": "000_fe8ceeae3315ded2.txt", "quote": "16.118096"}}
    return parse_case(raw, "meta.toml", 0)


class _Printer:
    """A 'framework' that prints the document's number whatever the inputs."""

    name = "printer"
    deviations: tuple = ()
    conventions: dict = {}

    def __init__(self, number):
        from adapters.protocol import Binding
        self.number = number
        self.bindings = {"categorical_crossentropy": Binding(
            loss="categorical_crossentropy", api="print", forms=("function:none",), convention="math",
            args=("from_logits",), grad_wrt=None)}

    def version(self):
        return "0"

    def available(self):
        return None

    def devices(self):
        return ["cpu"]

    def output_dtype(self, call):
        return call.dtype

    def run(self, call):
        from adapters.protocol import Outcome
        return Outcome(value=np.array([self.number]), dtype=call.dtype)


def test_golden_check_of_an_overflowing_reference_is_an_error_of_the_case():
    """-log 0 = inf under the mathematics, where the document printed 16.118096: before, the tolerance became
    inf and any framework number passed."""
    from lossparity import case_eval, checks
    from lossparity.session import Session
    case = _golden_case("16.118096")
    tolerance = case_eval.case_tolerance(case)
    assert np.isfinite(tolerance)
    for number in (16.118096, 3.0):
        record = checks.golden_check(Session([_Printer(number)]), "printer", case, "16.118096", tolerance)
        assert record["verdict"] == "error", record
        assert "the case is in error" in record["reason"]
    record = checks.golden_check(Session([_Printer(16.118096)]), "printer", case, "16.118096", float("inf"))
    assert record["verdict"] == "error"
