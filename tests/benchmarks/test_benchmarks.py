"""Benchmarks (pytest-benchmark): each loss x framework x device x size x mode, the NumPy reference the baseline.

Collected only with ``--benchmarks`` (see ``conftest.py`` here), e.g.::

    pytest tests/benchmarks --benchmarks --benchmark-json=reports/benchmarks.json \
        --results reports/benchmark-results.json

Sizes: ``small`` 32 x 10 everywhere; ``large`` 8192 x 32000 (a language model's logits) on a GPU only;
on the CPU ``medium`` 1024 x 1000 stands in for it.  Modes: ``value`` and ``value+grad``.  Each framework
runs its primary binding (the one named after the loss) in its first API form, float32, through the
adapter as is: the time includes the adapter's NumPy -> framework conversion (and the copy back, which
also synchronises a GPU), i.e. what the suite itself pays, not the bare kernel.  The baseline is the
NumPy reference (float64, plain mathematics): ``reference.LOSSES[loss]`` and, for value+grad, also
``reference.grads.<loss>``.  ``ratio_to_reference`` is framework time / reference time (below 1: faster).

Every benchmark records a check of kind ``benchmark`` whose ``extra.benchmark`` the HTML report shows:
``mean_s, stddev_s, rounds, size, mode, ratio_to_reference, bytes_moved`` and, on a GPU,
``bandwidth_GBps`` (bytes_moved / mean: a lower bound that counts every input read once and every output
written once) and ``peak_GBps`` (the device's data-sheet memory bandwidth, where known) with
``bandwidth_fraction``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from adapters.protocol import Call
from lossparity import checks
from lossparity.catalogue import CATALOGUE

SIZES = {"small": (32, 10), "medium": (1024, 1000), "large": (8192, 32000)}
ROUNDS = {"small": 20, "medium": 5, "large": 3}
MODES = ("value", "value+grad")
DTYPE = "float32"
# Data-sheet memory bandwidth (GB/s) by a substring of the device name; first match wins.
PEAK_GBPS = (("H200", 4800.0), ("H100 NVL", 3900.0), ("H100 PCIe", 2000.0), ("H100", 3350.0),
             ("GH200", 4000.0), ("A100-SXM4-80GB", 2039.0), ("A100 80GB PCIe", 1935.0), ("A100", 1555.0),
             ("L40S", 864.0), ("L4", 300.0), ("A10", 600.0), ("V100", 900.0), ("T4", 320.0),
             ("RTX 4090", 1008.0), ("RTX 3090", 936.0))


@dataclass(frozen=True)
class Bench:
    framework: str          # an adapter's name, or "reference"
    key: str                # binding key (the loss name for the reference)
    loss: str
    device: str
    size: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.framework}-{self.key}-{self.device}-{self.size}-{self.mode}"


def _sizes(device: str) -> tuple[str, ...]:
    return ("small", "large") if device == "gpu" else ("small", "medium")


def benches(session) -> list[Bench]:
    found, losses, gpu = [], set(), False
    for adapter in session.available:
        devices = [d for d in adapter.devices() if d in session.selection.devices]
        for key, binding in adapter.bindings.items():
            if key != binding.loss or binding.loss not in CATALOGUE:
                continue  # the primary binding of each loss (not the @tf.nn alternatives)
            losses.add(binding.loss)
            for device in devices:
                gpu |= device == "gpu"
                found += [Bench(adapter.name, key, binding.loss, device, size, mode)
                          for size in _sizes(device) for mode in MODES]
    sizes = ("small", "medium", "large") if gpu else ("small", "medium")
    baseline = [Bench("reference", loss, loss, "cpu", size, mode)
                for loss in sorted(losses) for size in sizes for mode in MODES]
    return baseline + found  # the baseline first, so the ratios find it measured


def pytest_generate_tests(metafunc):
    if "bench" in metafunc.fixturenames:
        from tests.support import session

        metafunc.parametrize("bench", [
            pytest.param(b, id=b.id, marks=[getattr(pytest.mark, b.framework)] if b.framework != "reference" else [])
            for b in benches(session.of(metafunc.config))])


# ------------------------------------------------------------------------------------------- inputs

_INPUTS: dict[tuple, tuple[dict, dict]] = {}


def bench_args(loss: str, binding=None) -> dict:
    """Logits for the cross entropies (the language-model case), the binding's required values."""
    args = {}
    if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"):
        args["from_logits"] = True
    for name, value in (getattr(binding, "requires", None) or {}).items():
        args[name] = value
    return args


def bench_inputs(loss: str, size: str) -> dict:
    """Seeded float32-exact inputs of ``loss`` at ``size`` (built once per loss and size)."""
    key = (loss, size)
    if key not in _INPUTS:
        rng = np.random.default_rng(sum(map(ord, f"bench/{loss}/{size}")))
        args = {"from_logits": True} if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy",
                                                 "binary_crossentropy") else {}
        raw = CATALOGUE[loss].generate(rng, SIZES[size], args)
        _INPUTS.clear()  # one size at a time: the large inputs are gigabytes
        _INPUTS[key] = checks.quantized_inputs(raw, DTYPE)
    return _INPUTS[key]


def bytes_moved(inputs: dict, value_shape: tuple, grad: bool) -> int:
    """Lower bound of the memory traffic of one call, in the framework's dtypes: each input read once
    (floats as float32, labels as int64), the per-sample output written once, the gradient written once."""
    total = sum(np.size(x) * (8 if name in checks.LABEL_INPUTS else 4) for name, x in inputs.items())
    total += int(np.prod(value_shape)) * 4
    if grad:
        prediction = next(x for name, x in inputs.items() if name not in checks.LABEL_INPUTS)
        total += np.size(prediction) * 4
    return int(total)


def peak_gbps(device_name: str | None) -> float | None:
    for needle, peak in PEAK_GBPS:
        if device_name and needle.lower() in device_name.lower():
            return peak
    return None


# ------------------------------------------------------------------------------------------- timing

_REFERENCE_MEAN: dict[tuple, float] = {}


def reference_fn(loss: str, inputs: dict, args: dict, mode: str):
    value = checks.reference_function(loss)
    grad = checks.reference_function(loss, gradient=True)
    if mode == "value":
        return lambda: value(**inputs, **args)
    return lambda: (value(**inputs, **args), grad(**inputs, **args))


def plain_mean(fn, rounds: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.mean(times)), float(np.std(times))


def run_timed(benchmark, fn, rounds: int) -> tuple[float, float, int]:
    """Mean, stddev and rounds through pytest-benchmark (falls back to a plain timer where it is disabled,
    e.g. under xdist)."""
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None or not getattr(stats, "rounds", 0):
        mean, std = plain_mean(fn, rounds)
        return mean, std, rounds
    return float(stats.mean), float(stats.stddev if stats.rounds > 1 else 0.0), int(stats.rounds)


def reference_mean(loss: str, size: str, mode: str) -> float:
    """The baseline's mean time (measured here if its own benchmark did not run, e.g. under -k)."""
    key = (loss, size, mode)
    if key not in _REFERENCE_MEAN:
        inputs = bench_inputs(loss, size)
        _REFERENCE_MEAN[key] = plain_mean(reference_fn(loss, inputs, bench_args(loss), mode), ROUNDS[size])[0]
    return _REFERENCE_MEAN[key]


def test_benchmark(bench: Bench, benchmark, lp_session, record_check):
    inputs = bench_inputs(bench.loss, bench.size)
    grad = bench.mode == "value+grad"
    benchmark.group = f"{bench.loss}-{bench.size}-{bench.mode}"
    benchmark.extra_info.update(framework=bench.framework, device=bench.device, size=bench.size, mode=bench.mode)
    if bench.framework == "reference":
        args = bench_args(bench.loss)
        fn = reference_fn(bench.loss, inputs, args, bench.mode)
        value_shape = np.shape(fn() if not grad else fn()[0])
        mean, std, rounds = run_timed(benchmark, fn, ROUNDS[bench.size])
        _REFERENCE_MEAN[(bench.loss, bench.size, bench.mode)] = mean
        meta = dict(framework="reference", framework_version=np.__version__, api=f"reference.{bench.loss} (NumPy float64)",
                    dtype="float64", convention="math", device_name=checks.cpu_name())
        ratio = 1.0
    else:
        adapter = lp_session.adapter(bench.framework)
        binding = adapter.bindings[bench.key]
        args = bench_args(bench.loss, binding)
        call = Call(loss=binding.loss, inputs=inputs, args=args, form=binding.forms[0], dtype=DTYPE,
                    device=bench.device, grad=grad)
        if not binding.accepts(call):
            pytest.skip(f"{bench.key} does not accept {args} in {binding.forms[0]}")
        first = adapter.run(call)
        if first.error:
            pytest.fail(f"{bench.framework} {bench.key} failed before timing: {first.error}")
        value_shape = np.shape(first.value)
        mean, std, rounds = run_timed(benchmark, lambda: adapter.run(call), ROUNDS[bench.size])
        device_name = getattr(adapter, "device_name", None)
        meta = dict(framework=adapter.name, framework_version=adapter.version(),
                    api=binding.api, binding=bench.key, form=binding.forms[0], reduction=call.reduction,
                    args=dict(args), dtype=DTYPE, convention=binding.convention,
                    device_name=device_name(bench.device) if callable(device_name) else checks.cpu_name())
        ratio = mean / reference_mean(bench.loss, bench.size, bench.mode)
    moved = bytes_moved(inputs, value_shape, grad)
    metrics = {"mean_s": mean, "stddev_s": std, "rounds": rounds, "size": "x".join(map(str, SIZES[bench.size])),
               "mode": bench.mode, "ratio_to_reference": ratio, "bytes_moved": moved}
    if bench.device == "gpu":
        metrics["bandwidth_GBps"] = moved / mean / 1e9
        peak = peak_gbps(meta["device_name"])
        if peak:
            metrics["peak_GBps"] = peak
            metrics["bandwidth_fraction"] = metrics["bandwidth_GBps"] / peak
    benchmark.extra_info.update(metrics)
    record_check({"id": f"benchmark:{bench.id}", "kind": "benchmark", "case": f"bench.{bench.size}.{bench.mode}",
                  "loss": bench.loss, "device": bench.device, "verdict": "pass",
                  "reason": f"{bench.mode} at {metrics['size']}: {mean * 1e3:.3g} ms, {ratio:.3g}x the NumPy reference",
                  "duration_s": mean * rounds, "extra": {"benchmark": metrics}, **meta})
