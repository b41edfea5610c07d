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
