"""The suite's own speed: how much the harness costs over the framework calls it makes.

    python -m tests.benchmarks.suite_speed

prints, for the default CPU plan: import time per framework (a fresh interpreter each), the *floor* (a
bare loop making the matrix cells' framework calls through the adapters, after the imports), the matrix
under pytest (``tests/matrix``, wall, in a subprocess) with the time its own framework calls took (goldens
and convention witnesses make a few more calls than the cells), time per check, and the overhead ratios.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORTS = {"keras": "import tensorflow, keras", "torch": "import torch", "optax": "import jax, optax"}


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return float(out.stdout.strip().splitlines()[-1])


def floor_seconds() -> tuple[float, int]:
    """Run every default-plan cell's framework call once (value and gradient together, as the matrix does)."""
    import adapters
    from lossparity import checks
    from lossparity.plan import Selection
    from lossparity.session import Session

    chosen = [a for a in adapters.builtin() if a.available() is None]
    for adapter in chosen:  # imports and first-call set-up are not part of the floor
        adapter.devices()
    session = Session(chosen, Selection(devices=("cpu",)))
    items = [item for cells in session.plan for item in cells]
    by_name = {a.name: a for a in chosen}
    start = time.perf_counter()
    for item in items:
        adapter = by_name[item.adapter]
        adapter.run(checks.make_call(item, adapter.bindings[item.binding]))
    return time.perf_counter() - start, len(items)


def matrix_run() -> tuple[float, int, float]:
    """Wall time of ``pytest tests/matrix``, its number of checks, and the time its framework calls took
    (each call's own timing, counted once however many checks share it)."""
    results = ROOT / "reports" / "out" / "suite-speed-results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/matrix", "--device",
                    "cpu", "--results", str(results)], cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - start
    records = json.loads(results.read_text())["checks"]
    calls = {r["id"].split(":", 1)[1]: r.get("duration_s") or 0.0 for r in records if r["kind"] != "golden"}
    calls.update({r["id"]: r.get("duration_s") or 0.0 for r in records if r["kind"] == "golden"})
    return wall, len(records), sum(calls.values())


def main() -> None:
    imports = {name: import_seconds(statement) for name, statement in IMPORTS.items()}
    floor, calls = floor_seconds()
    wall, checks, in_run = matrix_run()
    print("import seconds:", {k: round(v, 2) for k, v in imports.items()})
    print(f"floor: {calls} matrix cells' framework calls in {floor:.1f} s (bare loop over the adapters)")
    print(f"matrix under pytest: {checks} checks in {wall:.1f} s wall, {1000 * wall / checks:.1f} ms per check; "
          f"its framework calls (goldens and witnesses included) took {in_run:.1f} s")
    print(f"overhead: wall / (imports + bare floor) = {wall / (sum(imports.values()) + floor):.2f}x; "
          f"wall / (imports + the run's own framework time) = {wall / (sum(imports.values()) + in_run):.2f}x")


if __name__ == "__main__":
    main()
