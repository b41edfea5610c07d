"""Complete records and synthetic results documents of any size, for the report tests."""
from __future__ import annotations

import random
from typing import Any

from lossparity import records
from reports import results

LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "huber",
          "mean_squared_error", "mean_absolute_error", "kl_divergence", "hinge", "squared_hinge", "nll")
FRAMEWORKS = {"torch": "2.13.0", "keras": "3.15.1", "optax": "0.2.8"}
DTYPES = ("float16", "bfloat16", "float32", "float64")
# Roughly the mix of a full run: mostly matrix and fuzz checks, a few hundred document-derived ones.
KINDS = ("value", "grad", "fuzz", "dtype", "golden", "erratum", "convention", "edge", "benchmark", "invariant")
KIND_WEIGHTS = (55, 25, 10, 2, 1.5, 0.3, 0.3, 3, 0.5, 2.4)
SPECIAL_KINDS = {"golden", "erratum", "convention", "edge", "benchmark"}
RUN = {"started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00", "python": "3.11.7",
       "numpy": "2.4.6", "os": "Linux 6", "platform": "Linux-6-x86_64", "cpu": "Test CPU",
       "frameworks": dict(FRAMEWORKS), "settings": {"torch.tf32": False}, "pytest_args": ["tests"]}


BLANK = dict(records.RECORD_DEFAULTS)
# The API forms each framework's bindings offer, as the adapters name them (``<kind>:<reduction>``).
FORMS = {"torch": ("function:none", "function:mean", "function:sum", "module:mean", "module:sum",
                   "function:batchmean"),
         "keras": ("function:none", "class:none", "class:sum", "class:sum_over_batch_size"),
         "optax": ("function:none",)}
# Loss keyword arguments of a few losses (the rest take none).
ARGS = {"huber": {"delta": 1.0}, "categorical_crossentropy": {"from_logits": False, "label_smoothing": 0.0},
        "binary_crossentropy": {"from_logits": True}, "kl_divergence": {"axis": -1}}
# Convention flags that apply to a few (framework, loss) pairs.
FLAGS = {("keras", "categorical_crossentropy"): ["prob_clip"], ("keras", "binary_crossentropy"): ["prob_clip"],
         ("torch", "kl_divergence"): ["kl_log_input"]}


def api_fields(framework: str, loss: str, form: str) -> dict:
    """The typed API fields of a record, shaped like the adapters': the binding key (the loss), the form,
    its reduction, the loss arguments, the flags that apply, and the ``api`` prose."""
    return {"binding": loss, "form": form, "reduction": form.split(":", 1)[1], "args": dict(ARGS.get(loss, {})),
            "flags": list(FLAGS.get((framework, loss), [])), "api": f"{framework}.losses.{loss} [{form}]"}


def make_record(**fields: Any) -> dict:
    """A complete, valid record: a passing float32 torch value check unless ``fields`` say otherwise."""
    base = {"kind": "value", "loss": "huber", "framework": "torch", "framework_version": "2.13.0",
            **api_fields("torch", "huber", "function:none"), "dtype": "float32", "device": "cpu",
            "convention": "torch", "verdict": "pass",
            "value_error": {"abs": 1e-7, "rel": 2e-7, "ulps": 1.0, "tol": 1e-6, "worst_index": [0]},
            "expected": 0.5, "observed": 0.50000006, "duration_s": 0.001}
    base.update(fields)
    return results.complete_record(base)


def make_doc(checks: list[dict], **run: Any) -> dict:
    return results.make_doc(checks, dict(RUN, **run))


def _error(rng: random.Random, failing: bool) -> dict:
    ulps = rng.choice([0.0, 0.0, rng.random(), rng.uniform(1, 4), rng.uniform(4, 50)])
    if failing:
        ulps = rng.choice([rng.uniform(1e3, 1e7), float("inf")])
    error = {"abs": ulps * 6e-8, "rel": ulps * 1.2e-7, "ulps": ulps, "tol": 4e-6, "worst_index": [rng.randrange(8)],
             "worst_input": None}
    return {k: "inf" if v == float("inf") else v for k, v in error.items()}  # as a results file holds it


def synthetic_checks(n: int, seed: int = 0, device: str = "cpu", version: str | None = None) -> list[dict]:
    """``n`` plausible records of every kind (golden, erratum, convention, edge, benchmark…) with a few
    failures; deterministic for a given ``seed``, and quick (random draws in bulk, no record completion)."""
    rng = random.Random(seed)
    kinds = rng.choices(KINDS, KIND_WEIGHTS, k=n)
    verdicts = rng.choices(["pass", "deviation", "fail", "skip", "error"], [90, 4, 3, 2, 1], k=n)
    losses, frameworks = rng.choices(LOSSES, k=n), rng.choices(list(FRAMEWORKS), k=n)
    dtypes, forms = rng.choices(DTYPES, k=n), [rng.random() for _ in range(n)]
    checks = []
    for index, (kind, verdict, loss, framework, dtype, pick) in enumerate(
            zip(kinds, verdicts, losses, frameworks, dtypes, forms)):
        options = FORMS[framework]
        form = options[int(pick * len(options))]
        record = dict(BLANK, id=f"{kind}:{loss}:{framework}:{device}:{index}", kind=kind, loss=loss,
                      framework=framework, framework_version=version or FRAMEWORKS[framework], dtype=dtype,
                      device=device, verdict=verdict, reason="" if verdict == "pass" else f"synthetic {verdict}",
                      case=f"case-{index % 500}", convention=framework, expected=1.25,
                      observed=1.25 + index % 7 * 1e-8, duration_s=index % 10 / 1000,
                      **api_fields(framework, loss, form))
        record["grad_error" if kind == "grad" else "value_error"] = _error(rng, verdict == "fail")
        if kind in SPECIAL_KINDS:
            record.update(_kind_fields(kind, rng, index))
        checks.append(record)
    return checks


def _kind_fields(kind: str, rng: random.Random, index: int) -> dict:
    if kind in ("golden", "erratum"):
        fields = {"provenance": {"document": "keras-docs.md", "quote": f"the loss is 2.3978953 ({index % 50})"},
                  "extra": {"printed": "2.3978953"}}
        if kind == "erratum":
            fields["extra"]["erratum"] = {"printed": "2.3978953", "corrected": "2.397895", "why": "rounded"}
        return fields
    if kind == "convention":
        name = rng.choice(["clip_epsilon", "log_clamp", "label_smoothing_scale"])
        return {"deviation": name, "math_distance": {"abs": 1e-7, "rel": 3e-7},
                "extra": {"flag": {"name": name, "summary": f"{name} changes the value", "value": 1e-7,
                                   "source": "torch/nn/functional.py@2.13", "versions": ">=2.0"}}}
    if kind == "edge":
        return {"observed": rng.choice([0.0, "nan", "inf", "-inf", "error:ValueError: shapes differ"]),
                "expected": "nan"}
    return {"extra": {"benchmark": {"mean_s": rng.random() / 1000, "rounds": 100}}}


# --------------------------------------------------------------------------------------------------
# Real-shaped records: the size and mix of what ``lossparity.checks`` writes (long API prose, test node
# ids, worst inputs, expected/observed lists and summaries, document quotes), for the report's scale test.
# --------------------------------------------------------------------------------------------------

REAL_KINDS = ("grad", "dtype", "value", "edge", "golden", "fuzz", "identity", "convention", "erratum", "invariant")
REAL_WEIGHTS = (26.6, 23.9, 23.9, 11.6, 6.1, 3.3, 1.4, 1.4, 1.4, 0.4)
REAL_LOSSES = ("categorical_crossentropy", "binary_crossentropy", "sparse_categorical_crossentropy", "huber",
               "kl_divergence", "mean_squared_error", "softmax", "log_softmax", "sigmoid", "mean_absolute_error",
               "categorical_hinge", "hinge", "smooth_l1", "nll", "squared_hinge", "log_cosh", "cross_entropy",
               "entropy")
REAL_VERSIONS = {"keras": "keras 3.15.1 / tensorflow 2.21.0", "torch": "2.13.0+cpu", "optax": "0.2.8"}
GENERATED = ("gen.small.default", "gen.small.from_logits=True", "gen.rank3.default", "gen.small.from_logits=False",
             "gen.clip.low", "gen.clip.high", "gen.wide.default", "gen.small.delta=0.5")
QUOTES = ("\\(h(p:[0,1,0]) = -1log\\,1=0\\)", "tf.keras.losses.categorical_crossentropy(y_true, y_pred) "
          "<tf.Tensor: shape=(2,), dtype=float32, numpy=array([0.05129331, 2.3025851], dtype=float32)>",
          "注意看,$p(i)-1$是啥?是不是SoftMax层的输出的概率-1,梯度就是这么容易计算!!!")


def _api(framework: str, loss: str) -> str:
    return (f"{framework}.losses.{loss}(y_true=y_true, y_pred=y_pred, axis=axis) / {framework}.losses."
            f"{loss.title().replace('_', '')}(reduction=...); {loss} takes probabilities unless from_logits")


REAL_POOL = 5000  # distinct records drawn; more are copies of these on other input sets (as a sweep makes)


def real_shaped_checks(n: int, seed: int = 0) -> list[dict]:
    """``n`` complete records shaped and mixed like a real run's (about 1.2 kB each in the file): every
    kind, three frameworks plus the reference, 18 losses, a bounded pool of cases (so the golden and edge
    tables group many records per case), 97 % pass, deviations, skips and a few failures.  Beyond
    :data:`REAL_POOL` records, each is a drawn record on another input set (its id and generated case
    suffixed, its error drawn again), which keeps 100k records quick to make."""
    pool = _real_pool(min(n, REAL_POOL), seed)
    rng = random.Random(seed + 1)
    checks = list(pool)
    for index in range(len(pool), n):
        base = pool[index % len(pool)]
        suffix = f".s{index // len(pool)}"
        record = dict(base, id=base["id"] + suffix)
        if base["kind"] in ("value", "grad", "dtype", "fuzz"):
            record["case"] = base["case"] + suffix
        for key in ("value_error", "grad_error"):
            if base[key] and base["kind"] in ("value", "grad", "fuzz") and base["verdict"] == "pass":
                ulps = round(rng.choice([0.0, 0.25, 0.5, 1.0, rng.uniform(0, 4)]), 6)
                record[key] = dict(base[key], ulps=ulps, abs=float(f"{ulps * 1.2e-7:.6g}"),
                                   rel=float(f"{ulps * 6e-8:.6g}"))
        checks.append(record)
    return checks


def _real_pool(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    kinds = rng.choices(REAL_KINDS, REAL_WEIGHTS, k=n)
    verdicts = rng.choices(["pass", "deviation", "skip", "fail", "error"], [96.4, 1.8, 1.3, 0.4, 0.1], k=n)
    losses, frameworks = rng.choices(REAL_LOSSES, k=n), rng.choices(list(REAL_VERSIONS), k=n)
    dtypes = rng.choices(DTYPES, k=n)
    checks, seen = [], set()
    for index, (kind, verdict, loss, framework, dtype) in enumerate(zip(kinds, verdicts, losses, frameworks,
                                                                          dtypes)):
        form = rng.choice(FORMS[framework])
        document = kind in ("golden", "erratum", "invariant", "identity")
        if document and rng.random() < 0.45:
            framework = "reference"
        if kind == "edge":  # about 100 edge cases and 90 document cases: a few times the real files' count
            case = f"edge.{loss}.{rng.choice(['huge', 'inf', 'nan', 'float16-huge', 'minus-inf', 'zero'])}"
        elif document:
            case = f"doc00{rng.randrange(5)}.{loss}"
        elif kind == "fuzz":
            case = f"fuzzing.{framework}.{loss}.{rng.getrandbits(48):012x}"
        else:
            case = f"{rng.choice(GENERATED)}.{index // 4000}"
        reference = framework == "reference"
        record = dict(BLANK, args={"from_logits": rng.random() < 0.5} if "entropy" in loss else {}, flags=[])
        cell = f"{framework}-{loss}-{form}-{dtype}-cpu-{case}"
        record.update(
            id=f"{kind}:{cell}" if not document else f"{kind}:{framework}-{case}-{dtype}-{index}",
            kind=kind, case=case, loss=loss, framework=framework, dtype=dtype, verdict=verdict,
            framework_version=None if reference else REAL_VERSIONS[framework],
            api=None if reference else f"{_api(framework, loss)} [{form}]",
            binding=None if reference else loss, form=None if reference else form,
            reduction=None if reference else form.split(":", 1)[1],
            device=None if reference else "cpu", device_name=None if reference else "AMD EPYC",
            convention="math" if reference else framework, duration_s=round(rng.random() / 20, 6),
            flags=[] if reference else ["prob_clip", "zero_times_inf_nan"][:rng.randrange(3)],
            reason={"pass": "", "skip": f"no {framework} API form computes {loss} with {{}} and reduction 'none'",
                    "deviation": f"{loss} squares the difference in float16 (ops.square): 300^2 = 90000 > 65504 "
                                 "gives inf; the loss itself (45000) is representable in float16.",
                    "fail": f"value differs from the reference by {rng.uniform(5, 900):.3g} ulp",
                    "error": "RuntimeError: the framework raised"}[verdict],
            test=f"tests/matrix/test_matrix.py::test_{'grad' if kind == 'grad' else 'value'}[{cell}]")
        values = [round(rng.uniform(0, 3), 9) for _ in range(4)]
        ulps = rng.choice([0.0, 0.25, 0.429664, 1.0, rng.uniform(0, 4)])
        if verdict == "fail":
            ulps = rng.uniform(100, 1e4)
        error = {"abs": float(f"{ulps * 1.2e-7:.6g}"), "rel": float(f"{ulps * 6e-8:.6g}"), "tol": 8.41289e-06, "ulps": round(ulps, 6),
                 "worst_index": [rng.randrange(4)],
                 "worst_input": {"y_pred": [round(rng.uniform(-2, 2), 9) for _ in range(5)],
                                 "y_true": [0.0, 0.0, 1.0, 0.0, 0.0]}}
        if kind == "grad":
            summary = {"max": 1.0, "min": -1.0, "nonfinite": 0, "shape": [4, 5]}
            record.update(expected=summary, observed=summary, grad_error=error,
                          extra={"behaviour": {"framework": "value", "reference": "value"}, "compute_dtype": dtype})
        elif kind == "dtype":
            record.update(expected={"dtype": dtype, "grad_dtype": dtype, "grad_shape": [4, 5], "shape": [4]},
                          observed={"dtype": dtype, "grad_dtype": dtype, "grad_shape": [4, 5], "shape": [4]},
                          extra={})
        elif kind == "edge":
            outcome = rng.choice([[None], ["inf"], [16.1180954], ["nan"], "error:ValueError: shapes differ"])
            record.update(expected=[None], observed=outcome, value_error=dict(error, ulps=0.0),
                          extra={"behaviour": {"framework": "nan", "reference": "nan"}, "compute_dtype": dtype})
        elif document:
            record.update(expected=values[0], observed=values[0], value_error=dict(error, worst_input=None),
                          provenance={"document": f"00{index % 6}_fe8ceeae3315ded2.txt",
                                      "quote": QUOTES[index % len(QUOTES)]},
                          extra={"case_kind": kind, "notes": "Hand computation; 0 log 0 = 0.",
                                 "printed": f"{values[0]:.7f}", "by_convention": {}})
            if kind == "erratum":
                record["extra"]["erratum"] = {"corrected": f"{values[0]:.4f}", "printed": f"{values[1]:.4f}",
                                              "stated": None, "type": "value", "why": "an arithmetic slip"}
        elif kind == "convention":
            name = rng.choice(["prob_clip", "zero_times_inf_nan", "bce_log_clamp", "hinge_kink_grad"])
            record.update(id=f"convention:{framework}-{name}-{index}", deviation=name, expected=[None],
                          observed=[None], math_distance={"abs": "inf", "rel": "inf"},
                          extra={"flag": {"name": name, "source": f"{loss} in src/backend/nn.py ({framework})",
                                          "summary": "0 * -inf is evaluated literally as NaN: from logits the "
                                                     "loss is NaN for a zero target on a -inf logit.",
                                          "value": "True", "versions": ">=3.0"},
                                 "quantity": "value", "without_flag": [1.31326169]})
        else:  # value, fuzz
            record.update(expected=values, observed=[round(v + 1e-8, 9) for v in values], value_error=error,
                          math_distance={"abs": 2.0488e-07, "rel": 9.13609e-08},
                          extra={"behaviour": {"framework": "value", "reference": "value"}, "compute_dtype": dtype})
        while record["id"] in seen:
            record["id"] += "+"
        seen.add(record["id"])
        checks.append(record)
    return checks


# --------------------------------------------------------------------------------------------------
# Records of kind "recipe" and "accuracy", in the format their producers write (lossparity.recipes,
# lossparity.accuracy), until the real ones land.
# --------------------------------------------------------------------------------------------------

RECIPE_CODE = '''def {name}(y_true, y_pred):
    """{loss} as {source} computes it, in {target}: clip, renormalise, then the plain formula."""
    import numpy as np
    eps = 1e-7  # {source}'s epsilon
    y_pred = np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), eps, 1 - eps)
    return -np.sum(y_true * np.log(y_pred), axis=-1)  # <- a "<script>" in a comment stays text
'''
DIFFERENCES = {("keras", "torch"): ["prob_clip", "cce_renormalise"], ("torch", "keras"): ["bce_log_clamp"],
               ("keras", "optax"): ["prob_clip"], ("optax", "keras"): ["zero_times_inf_nan"],
               ("torch", "optax"): [], ("optax", "torch"): ["ignore_index"]}


def recipe_record(loss: str, source: str, target: str, *, verdict: str = "pass", residual_ulps: float = 0.5,
                  without_abs: float | str = 0.0287, without_rel: float | str = 1.2e-3,
                  differences: list[str] | None = None, code: str | None = None, **fields: Any) -> dict:
    """One recipe record as ``lossparity.recipes`` writes it: ``framework`` the target B, ``convention``
    the source A's, ``binding`` the recipe function, ``value_error`` the residual after the recipe,
    ``math_distance`` the difference without it, ``extra`` the code and what differs."""
    name = f"{source}_{loss}_in_{target}"
    extra = {"source": source, "target": target,
             "code": code if code is not None else RECIPE_CODE.format(name=name, loss=loss, source=source,
                                                                      target=target),
             "differences": list(DIFFERENCES.get((source, target), []) if differences is None else differences),
             "note": f"{source} clips probabilities before the log; {target} does not.", "checks": 24,
             "max_ulps_by_dtype": {"float32": residual_ulps, "float64": residual_ulps / 2, "float16": residual_ulps * 2},
             "without_recipe": {"abs": without_abs, "rel": without_rel, "worst_input": {"y_pred": [0.0, 1.0]}}}
    record = {"id": f"recipe:{loss}:{source}->{target}", "kind": "recipe", "loss": loss, "framework": target,
              "framework_version": FRAMEWORKS.get(target), "convention": source, "binding": name,
              "form": "function:none", "reduction": "none", "dtype": None, "device": "cpu", "verdict": verdict,
              "reason": "" if verdict == "pass" else f"residual {residual_ulps} ulp over the bound",
              "value_error": {"abs": residual_ulps * 1e-7, "rel": residual_ulps * 6e-8, "ulps": residual_ulps,
                              "tol": 4e-7, "worst_index": [0], "worst_input": None},
              "math_distance": {"abs": without_abs, "rel": without_rel}, "extra": extra}
    record.update(fields)
    return make_record(**record)


def recipe_records(losses=("categorical_crossentropy", "binary_crossentropy", "log_softmax"),
                   frameworks=tuple(FRAMEWORKS)) -> list[dict]:
    """A recipe per loss and ordered pair of ``frameworks``; the log_softmax ones have no difference
    but float16 rounding (no flag), one recipe fails."""
    out = []
    for index, loss in enumerate(losses):
        for source in frameworks:
            for target in frameworks:
                if source == target:
                    continue
                rounding = loss == "log_softmax"
                out.append(recipe_record(
                    loss, source, target, differences=[] if rounding else None,
                    without_abs=0.02872 if rounding else 10 ** -(index + len(out) % 4),
                    without_rel=9.7e-4 if rounding else (float("inf") if (source, target) == ("optax", "keras")
                                                         else 10 ** -(index + 1 + len(out) % 3)),
                    verdict="fail" if (loss, source, target) == ("binary_crossentropy", "torch", "optax") else "pass",
                    residual_ulps=0.0 if rounding else 0.5 + len(out) % 3))
    return out


def accuracy_record(loss: str, framework: str, dtype: str, quantity: str = "value", *, max_ulps: float = 3.2,
                    p999: float = 1.1, histogram: Any = None, verdict: str = "pass", **fields: Any) -> dict:
    """One accuracy record as ``lossparity.accuracy`` writes it (``value_error.ulps`` the max ulps)."""
    extra = {"quantity": quantity, "rows": 10000, "max_ulps": max_ulps, "p999_ulps": p999,
             "ulp_histogram": [4100, 5200, 640, 52, 7, 1, 0, 0, 0, 0] if histogram is None else histogram,
             "worst_input": {"y_pred": [0.1, 0.1, 0.8], "y_true": [0.0, 0.0, 1.0], "row": 4711}}
    record = {"id": f"accuracy:{framework}-{loss}-{dtype}-{quantity}", "kind": "accuracy", "loss": loss,
              "framework": framework, "framework_version": FRAMEWORKS.get(framework), "dtype": dtype,
              "device": "cpu", "verdict": verdict, "case": "accuracy.random-10000",
              "value_error": {"abs": max_ulps * 1e-7, "rel": max_ulps * 6e-8, "ulps": max_ulps, "tol": None,
                              "worst_index": [4711], "worst_input": None}, "extra": extra}
    extra.update(fields.pop("extra", {}))
    record.update(fields)
    return make_record(**record)


def accuracy_records(losses=("categorical_crossentropy", "huber"), frameworks=tuple(FRAMEWORKS),
                     dtypes=("float32", "float16")) -> list[dict]:
    out = []
    for loss in losses:
        for framework in frameworks:
            for dtype in dtypes:
                for quantity in ("value", "grad"):
                    big = dtype == "float16" and framework == "keras" and loss == "huber"
                    out.append(accuracy_record(loss, framework, dtype, quantity, max_ulps=480.0 if big else 2.5,
                                               p999=12.0 if big else 0.9, verdict="fail" if big else "pass"))
    return out
