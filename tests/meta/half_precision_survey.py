"""Survey: how each framework's float16/bfloat16 values compare with the one-rounding model.

    python -m tests.meta.half_precision_survey [--sweep] [--framework NAME ...] [--json PATH]

For every value and edge check in a half dtype of the plan (the default plan, or ``--sweep``'s), the
framework's value against the reference, per (framework, binding, dtype): the worst error in ulps of the
results of size >= 1/16, the worst absolute error in units of u (the dtype's unit roundoff) below that, the
worst error over the one-rounding ("widened") bound and over the half-precision arithmetic ("native") bound,
and whether a declared ``half-arithmetic`` deviation covers it.  A binding whose error exceeds the
one-rounding bound computes in the half dtype: declare it (``shows="half-arithmetic"``, see
docs/tolerances.md) with these numbers, or fix it; one beyond the native bound too is a finding of its own.
The numbers in the adapters' ``computes-in-half-precision`` deviations come from this script.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys

import numpy as np


def survey(framework_names=None, sweep: bool = False) -> dict:
    import adapters
    from lossparity import checks, conventions
    from lossparity import tolerance as tol
    from lossparity.plan import Selection
    from lossparity.session import Session

    chosen = [adapters.load(spec) for name, spec in adapters.BUILTIN.items()
              if not framework_names or name in framework_names]
    session = Session(chosen, Selection(dtypes=tol.HALF_DTYPES, devices=("cpu",), sweep=sweep))
    items, edges = session.plan
    rows = collections.defaultdict(lambda: {"checks": 0, "ulps": 0.0, "abs_u": 0.0, "over_widened": 0.0,
                                            "over_native": 0.0, "worst": "", "declared": None})
    for item in items + edges:
        adapter = session.adapter(item.adapter)
        binding = adapter.bindings[item.binding]
        call = checks.make_call(item, binding)
        work = checks.compute_dtype(adapter, call)
        if work != item.dtype:  # computes in float32 (a Keras Loss class): not a half-precision computation
            continue
        got = session.outcome(item)
        fn = checks.reference_loss(binding.loss, call.args, conventions.of(adapter, binding), binding.granularity,
                                   call.reduction, dtype=work, cotangent=call.cotangent)
        inputs = dict(call.inputs)
        expected, behaviour = checks.evaluate_reference(fn, inputs)
        if expected is None or got.value is None or behaviour != "value":
            continue
        expected = tol.saturate(expected, work)
        actual = np.asarray(got.value, dtype=np.float64)
        if actual.shape != np.shape(expected) or not np.all(np.isfinite(actual)):
            continue
        widened = checks.value_bound(fn, inputs, work, call, binding.loss, False)
        native = checks.value_bound(fn, inputs, work, call, binding.loss, False, model="native", scale=widened.scale)
        err = np.abs(actual - expected)
        big = np.abs(expected) >= 1 / 16
        row = rows[(item.adapter, item.binding, item.dtype)]
        row["checks"] += 1
        if np.any(big):
            worst = float(np.max(err[big] / tol.ulp(expected[big], work)))
            if worst > row["ulps"]:
                row["ulps"], row["worst"] = worst, f"{item.form} {item.inputs.id}"
        if np.any(~big):
            row["abs_u"] = max(row["abs_u"], float(np.max(err[~big] / tol.eps(work))))
        row["over_widened"] = max(row["over_widened"], float(np.max(err / widened.total)))
        row["over_native"] = max(row["over_native"], float(np.max(err / native.total)))
        kind = "value" if item in items else "edge"
        deviation = checks.covering_deviation(adapter, item, kind)
        if deviation is not None and deviation.shows == checks.HALF_ARITHMETIC:
            row["declared"] = deviation.name
    return {f"{a} {b} {d}": v for (a, b, d), v in sorted(rows.items())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true", help="survey --sweep's plan (slower)")
    parser.add_argument("--framework", action="append", default=[], help="only this framework (repeatable)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args(argv)
    rows = survey(args.framework, args.sweep)
    print(f"{'framework binding dtype':58s} {'checks':>6s} {'ulps>=1/16':>10s} {'abs/u<1/16':>10s} "
          f"{'err/1-round':>11s} {'err/half':>8s}  declared / worst at")
    for key, row in rows.items():
        flag = "" if row["over_widened"] <= 1 else ("  <- computes in half" if row["over_native"] <= 1
                                                    else "  <- beyond half arithmetic")
        print(f"{key:58s} {row['checks']:6d} {row['ulps']:10.2f} {row['abs_u']:10.2f} {row['over_widened']:11.2f} "
              f"{row['over_native']:8.2f}  {row['declared'] or '-'} / {row['worst']}{flag}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
