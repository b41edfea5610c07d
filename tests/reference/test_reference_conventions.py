"""Conventions: structure, a witness for every flag (switching it off changes a number), the flag
constructors, the documents' numbers, and reductions.

The conventions are the adapters' (each adapter declares its own from ``reference.conventions``' flag
constructors); importing an adapter module never imports its framework.
"""
from __future__ import annotations

import ast
import functools
import dataclasses
import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest

import adapters
import reference as R
from lossparity.conventions import registry
from reference import conventions as C
from reference import grads as G
from reference.conventions import Convention, Flag, get_convention

CONVENTIONS = registry(adapters.builtin())

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
    # Denominators of a mean: "reduction" in the keyword arguments reduces the per-sample values.
    "class_weight_mean_divides_by_weight_sum": [
        ("sparse_categorical_crossentropy", ([1, 2],), [[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]],
         {"from_logits": True, "class_weight": [0.5, 2.0, 3.0], "reduction": "mean"}, "value"),
        ("nll", ([1, 2],), [[-1.0, -0.5, -2.0], [-0.3, -1.0, -0.2]],
         {"class_weight": [0.5, 2.0, 3.0], "reduction": "mean"}, "value")],
    "ignored_mean_divides_by_kept": [
        ("sparse_categorical_crossentropy", ([1, 2, 2, 0],), [[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.1, 0.2, 0.3],
                                                              [2.0, 1.0, 0.0]],
         {"from_logits": True, "ignore_class": 2, "reduction": "sum_over_batch_size"}, "value")],
    # torch's CTC 'mean': each sequence's loss over its target length (4 and 1 labels), then the batch mean.
    "mean_divides_by_target_length": [
        ("ctc_loss", ([[1, 2, 1, 2], [1, 0, 0, 0]], np.linspace(-1.0, 1.0, 30).reshape(2, 5, 3), [5, 5]), [4, 1],
         {"reduction": "mean"}, "value")],
    "weight_mean_divides_by_weight_sum": [
        ("mean_squared_error", ([[1.5], [0.0], [3.0], [7.0]],), [[1.0], [2.0], [3.0], [4.0]],
         {"weight": [[0.5], [2.0], [1.0], [0.0]], "reduction": "mean"}, "value"),
        ("mean_absolute_error", ([[1.5], [0.0], [3.0], [7.0]],), [[1.0], [2.0], [3.0], [4.0]],
         {"weight": [[0.5], [2.0], [1.0], [0.0]], "reduction": "mean"}, "value")],
}


@functools.lru_cache(maxsize=1)
def _edge_cases():
    import cases

    return tuple(c for c in cases.load_all() if c.kind == "edge")


def _edge_witnesses(flag):
    """Candidate witnesses from the edge battery (cases/edge): every edge case of a loss the flag applies
    to, value and gradient.  A new flag needs no entry in WITNESSES when an edge case shows it."""
    from lossparity.catalogue import CATALOGUE

    found = []
    for case in _edge_cases():
        if case.kind != "edge" or case.loss not in flag.applies_to or case.loss not in CATALOGUE:
            continue
        names = CATALOGUE[case.loss].input_names
        first = tuple(case.inputs[n] for n in names[:-1])
        for what in ("value", "grad"):
            found.append((case.loss, first, case.inputs[names[-1]], dict(case.args), what))
    return found


def _declared_args(name):
    """A constructor's required arguments: CONSTRUCTED, else the value some adapter declares."""
    if name in CONSTRUCTED:
        return CONSTRUCTED[name]
    flag = next(c.flags[name] for c in CONVENTIONS.values() if name in c.flags)
    required = [p for p in inspect.signature(getattr(C, name)).parameters.values()
                if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is inspect.Parameter.empty]
    return (flag.value,) if required else ()


def _eval(conv, loss, first, pred, kw, what):
    """The value or gradient, or the error type's name when the convention refuses the input."""
    fn = R.LOSSES[loss] if what == "value" else G.GRADS[loss]
    kw = dict(kw)
    reduction = kw.pop("reduction", None)
    try:
        out = np.asarray(fn(*first, pred, convention=conv, **kw), dtype=np.float64)
        if reduction is not None:  # a flag about a reduction's denominator
            weight = kw.get("weight")
            from lossparity.catalogue import CATALOGUE
            given = dict(zip(CATALOGUE[loss].input_names, (*first, pred)))
            out = np.asarray(R.reduce_loss(
                out, reduction, loss=loss, convention=conv, labels=first[0] if loss in ("nll",
                "sparse_categorical_crossentropy") else None, class_weight=kw.get("class_weight"),
                ignore_class=kw.get("ignore_class"), label_lengths=given.get("label_lengths"),
                weight=None if weight is None else np.reshape(weight, out.shape)))
        return out
    except (IndexError, ValueError) as exc:
        return np.asarray(type(exc).__name__)


def _differs(a, b):
    if a.dtype.kind != b.dtype.kind:
        return True
    return a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


FLAGS = [(c, f) for c in CONVENTIONS for f in CONVENTIONS[c].flags]
# flag constructor name -> a call with its required arguments (the values the adapters declare)
CONSTRUCTED = {
    "prob_clip": (1e-7,), "cce_renormalize": (), "sparse_renormalize": ("after_clip",), "kl_clip": (1e-7,),
    "hinge_binary_labels": (), "categorical_hinge_max_includes_target": (), "hinge_kink_grad": (1.0,),
    "log_cosh_log2": (float.fromhex("0x1.62e4300000000p-1"),), "zero_times_inf_nan": (),
    "bce_logits_formula": ("tf",), "smoothing_classes_last_axis": (), "bce_log_epsilon": (1e-7,),
    "bce_log_clamp": (-100.0,), "bce_grad_epsilon": (float.fromhex("0x1.1979980000000p-40"),),
    "ignore_index": (-100,), "abs_grad_at_zero": (1.0,), "class_weight_mean_divides_by_weight_sum": (),
    "weight_mean_divides_by_weight_sum": (), "ignored_mean_divides_by_kept": (),
}
CONSTRUCTORS = [name for name in C.__all__ if inspect.isfunction(getattr(C, name)) and name not in
                ("get_convention", "flag_value")]


@pytest.mark.parametrize("conv_name,flag_name", FLAGS)
def test_every_flag_has_a_witness(conv_name, flag_name):
    conv = CONVENTIONS[conv_name]
    flag = conv.flags[flag_name]
    cases = [w for w in WITNESSES.get(flag_name, []) if w[0] in flag.applies_to]
    off = conv.without(flag_name)
    assert flag_name not in off.flags and set(off.flags) == set(conv.flags) - {flag_name}
    for loss, first, pred, kw, what in cases:
        with np.errstate(all="ignore"):
            on_v, off_v = _eval(conv, loss, first, pred, kw, what), _eval(off, loss, first, pred, kw, what)
        assert _differs(on_v, off_v), f"{conv_name}.{flag_name} changes nothing for {loss}: {on_v}"
    if not cases:  # no hand-written witness: some edge case must show the flag
        shown = []
        for loss, first, pred, kw, what in _edge_witnesses(flag):
            with np.errstate(all="ignore"):
                on_v, off_v = _eval(conv, loss, first, pred, kw, what), _eval(off, loss, first, pred, kw, what)
            shown.append(_differs(on_v, off_v))
        assert any(shown), f"no witness for {conv_name}.{flag_name}: add an edge case that shows it"


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_convention_structure(name):
    conv = CONVENTIONS[name]
    assert isinstance(conv, Convention) and conv.name == name and conv.description
    assert get_convention(conv) is conv
    if name == "math":
        assert get_convention("math") is conv is R.MATH
    else:
        with pytest.raises(ValueError, match="knows only 'math'"):
            get_convention(name)  # the reference names no framework: pass the Convention
    for key, flag in conv.flags.items():
        assert isinstance(flag, Flag) and flag.name == key
        assert key in CONSTRUCTORS, f"{name}.{key} is not built by a reference.conventions constructor"
        assert isinstance(flag.value, (bool, int, float, str))
        assert flag.applies_to and all(loss in R.LOSSES for loss in flag.applies_to), flag
        assert flag.summary and flag.source and flag.versions
        assert any(v in flag.source for v in ("keras 3.15.1", "tf_keras 2.21.0", "torch 2.13.0", "optax 0.2.8",
                                              "jax 0.10.2", "TF 2.21")), flag.source
        assert conv.flag(key) == flag.value
    assert conv.flag("no-such-flag", 42) == 42
    with pytest.raises(dataclasses.FrozenInstanceError):
        conv.name = "x"
    with pytest.raises(KeyError):
        conv.without("no-such-flag")
    assert CONVENTIONS["math"].flags == {}


def test_unknown_convention():
    with pytest.raises(ValueError):
        R.binary_crossentropy([1.0], [0.5], convention="nope")
    with pytest.raises(ValueError):
        R.binary_crossentropy([1.0], [0.5], convention="keras")  # a name only an adapter declares


def test_adapters_declare_their_conventions():
    names = {a.name: sorted(a.conventions) for a in adapters.builtin()}
    assert names == {"keras": ["keras"], "tf_keras": ["keras2"], "keras_jax": ["keras_jax"],
                     "keras_torch": ["keras_torch"], "torch": ["torch", "torch_distributions", "torch_multilabel"], "optax": ["optax", "optax_cosine_epsilon", "optax_safe"]}
    assert set(CONVENTIONS) == {"math", "keras", "keras2", "keras_jax", "keras_torch", "torch", "optax",
                                "optax_safe", "optax_cosine_epsilon", "torch_multilabel", "torch_distributions"}


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_flag_constructors(name):
    make = getattr(C, name)
    args = _declared_args(name)
    flag = make(*args, source="file.py (lib 1.0)", versions=">=1.0")
    assert isinstance(flag, Flag) and flag.name == name and flag.value == (args[0] if args else flag.value)
    assert flag.source == "file.py (lib 1.0)" and flag.versions == ">=1.0"
    assert flag.summary and flag.applies_to and all(loss in R.LOSSES for loss in flag.applies_to)
    assert WITNESSES.get(name) or _edge_witnesses(flag), f"constructor {name} has no witness"
    # every flag cites its source: both are required keyword arguments, and neither may be empty
    params = inspect.signature(make).parameters
    for required in ("source", "versions"):
        assert params[required].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[required].default is inspect.Parameter.empty
    with pytest.raises(TypeError):
        make(*args, versions=">=1.0")
    with pytest.raises(TypeError):
        make(*args, source="file.py")
    with pytest.raises(ValueError):
        make(*args, source=" ", versions=">=1.0")
    with pytest.raises(ValueError):
        make(*args, source="file.py", versions="")
    # applies_to has a default and can be narrowed; detail is appended to the summary
    narrowed = make(*args, source="s", versions="*", applies_to=flag.applies_to[:1], detail="How lib does it.")
    assert narrowed.applies_to == flag.applies_to[:1] and narrowed.value == flag.value
    plain = make(*args, source="s", versions="*", applies_to=flag.applies_to[:1])
    assert narrowed.summary == plain.summary + " How lib does it."


@pytest.mark.parametrize("name,bad", [("prob_clip", 0.0), ("prob_clip", 0.7), ("kl_clip", -1e-7),
                                      ("sparse_renormalize", "sometimes"), ("hinge_kink_grad", 2.0),
                                      ("hinge_kink_grad", "half"), ("log_cosh_log2", 0.5),
                                      ("bce_log_clamp", 100.0), ("ignore_index", -100.5),
                                      ("bce_grad_epsilon", 0.0), ("abs_grad_at_zero", 2.0)])
def test_flag_constructors_refuse_bad_values(name, bad):
    with pytest.raises(ValueError):
        getattr(C, name)(bad, source="s", versions="*")


def test_convention_takes_flags_or_a_mapping():
    a = C.prob_clip(1e-7, source="s", versions="*")
    b = C.bce_log_epsilon(1e-7, source="s", versions="*")
    from_list = Convention("x", "example", [a, b])
    from_map = Convention("x", "example", flags={"prob_clip": a, "bce_log_epsilon": b})
    assert from_list == from_map and dict(from_list.flags) == {"prob_clip": a, "bce_log_epsilon": b}
    assert list(Convention("x", "example", (f for f in (b, a))).flags) == ["bce_log_epsilon", "prob_clip"]
    assert R.binary_crossentropy([1.0], [0.1], convention=from_list) == pytest.approx(2.3025840929945454)
    with pytest.raises(ValueError, match="twice"):
        Convention("x", "example", [a, a])
    with pytest.raises(ValueError):
        Convention("x", "example", {"other": a})
    with pytest.raises(TypeError):
        Convention("x", "example", ["prob_clip"])
    assert Convention("x", "example").flags == {} and from_list.without("prob_clip").flags == {"bce_log_epsilon": b}


FRAMEWORKS = re.compile(r"keras|torch|optax|tensorflow|jax|tf_keras", re.IGNORECASE)


@pytest.mark.parametrize("module", ["reference/conventions.py", "reference/__init__.py"])
def test_reference_conventions_name_no_framework(module):
    """Outside the flag constructors' docstrings (citations of who is known to do it), no string,
    name or comment in these modules names a framework: the adapters do."""
    source = (Path(__file__).resolve().parents[2] / module).read_text()
    tree = ast.parse(source)
    cited = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in CONSTRUCTORS and ast.get_docstring(node):
            cited.add(id(node.body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in cited:
            assert not FRAMEWORKS.search(node.value), (module, node.value[:120])
        if isinstance(node, ast.Name):
            assert not FRAMEWORKS.search(node.id), (module, node.id)
    for line in source.splitlines():
        if "#" in line:
            assert not FRAMEWORKS.search(line.split("#", 1)[1]), (module, line)


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
    per = R.sparse_categorical_crossentropy(lab, np.zeros((3, 2)), from_logits=True,
                                            convention=CONVENTIONS["torch"])
    assert R.reduce(per, "weighted_mean", weights=lab != -100) == pytest.approx(math.log(2))
