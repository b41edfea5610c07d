"""Process variants (adapters/variants.py): the table, the environment each process gets, and, in the test
command, each non-default variant run in its own process with its reduced selection (``Variant.quick``).

The main job (``python -m reports``) runs every variant itself with its full selection and merges them;
there (``--variant`` given) the subprocess tests below skip, so nothing runs twice.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import adapters
from adapters import variants
from reports import results

ROOT = Path(__file__).resolve().parents[2]
OTHERS = [v for v in variants.VARIANTS if v.name != "default"]


def test_the_table_names_real_adapters_and_settings():
    names = [v.name for v in variants.VARIANTS]
    assert len(names) == len(set(names)) and names[0] == "default"
    assert not variants.VARIANTS[0].env and not variants.VARIANTS[0].frameworks
    for variant in OTHERS:
        assert set(variant.env) <= set(variants.CONTROLLED), variant.name
        assert variant.frameworks and set(variant.frameworks) <= set(adapters.BUILTIN), variant.name
        assert variant.differs_from in names and variant.setting and variant.why, variant.name


def test_every_variant_framework_runs_by_default_somewhere():
    """Each built-in adapter runs in the default process or in a variant made for it."""
    placed = {name for v in OTHERS for name in v.frameworks}
    default_only = set(adapters.BUILTIN) - placed
    assert default_only <= {"keras", "tf_keras", "torch", "optax"}, default_only
    assert {"keras_jax", "keras_torch"} <= placed


def test_environment_decides_every_controlled_variable():
    base = {"KERAS_BACKEND": "jax", "TF_ENABLE_ONEDNN_OPTS": "0", "JAX_ENABLE_X64": "1", "PATH": "/bin"}
    default = variants.environment(variants.by_name("default"), base)
    assert default["PATH"] == "/bin" and default["LOSSPARITY_VARIANT"] == "default"
    assert not set(variants.CONTROLLED) & set(default), "the default variant is the frameworks' defaults"
    onednn = variants.environment(variants.by_name("tf-onednn-off"), base)
    assert onednn["TF_ENABLE_ONEDNN_OPTS"] == "0" and "KERAS_BACKEND" not in onednn and "JAX_ENABLE_X64" not in onednn
    x64 = variants.environment(variants.by_name("jax-x64"), {})
    assert x64["JAX_ENABLE_X64"] == "1" and x64["KERAS_BACKEND"] == "jax"


def test_pytest_args_select_frameworks_and_paths():
    args = variants.pytest_args(variants.by_name("keras-torch"), quick=True)
    assert args[:2] == ["--variant", "keras-torch"] and ["--framework", "keras_torch"] == args[2:4]
    assert "tests/matrix" in args and "tests" not in args
    full = variants.pytest_args(variants.by_name("default"), quick=False)
    assert full[-2:] == ["tests", "--full"]  # the main job runs the full suite (its variant subprocesses skip)


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(KeyError, match="no variant"):
        variants.by_name("nope")


@pytest.mark.full
@pytest.mark.parametrize("variant", OTHERS, ids=[v.name for v in OTHERS])
def test_variant_process(variant, request, tmp_path):
    """The variant's reduced selection in its own process: every check passes or is a declared deviation."""
    if request.config.getoption("variant") or os.environ.get("LOSSPARITY_VARIANT"):
        pytest.skip("this process is itself a variant run: python -m reports runs each variant itself")
    args = variants.pytest_args(variant, quick=True)
    wanted = request.config.getoption("framework")
    if wanted:  # --framework NAME: only the variants of the frameworks asked for, and only those frameworks
        frameworks = [f for f in (variant.quick_frameworks or variant.frameworks) if f in wanted]
        if not frameworks:
            pytest.skip(f"--framework {' '.join(wanted)}: variant {variant.name} runs {', '.join(variant.frameworks)}")
        args = [a for a in args if a not in variant.frameworks and a != "--framework"]
        args[2:2] = [x for f in frameworks for x in ("--framework", f)]
    path = tmp_path / f"{variant.name}.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--results", str(path), *args]
    done = subprocess.run(command, cwd=ROOT, env=variants.environment(variant), capture_output=True, text=True,
                          timeout=1200)
    tail = (done.stdout + done.stderr)[-3000:]
    if done.returncode == 5:
        pytest.skip(f"variant {variant.name} collected no test: {tail[-300:]}")
    assert path.exists(), f"variant {variant.name} wrote no results (exit {done.returncode}): {tail}"
    doc = results.load(path)
    bad = [f"{c['id']}: {c['verdict']}: {c['reason'][:200]}" for c in doc["checks"]
           if c["verdict"] not in ("pass", "deviation", "skip")]
    assert done.returncode == 0 and not bad, (f"variant {variant.name} (exit {done.returncode}): "
                                              + "; ".join(bad[:10]) + f"\n{tail}")
    ran = {c["framework"] for c in doc["checks"] if c["verdict"] in ("pass", "deviation")}
    available = set(variant.frameworks) & ran
    settings = doc["run"]["settings"]
    assert settings["variant"] == variant.name
    for name in available:  # the state the adapter reports is the one the variant asked for
        reported = settings[name]
        if variant.env.get("TF_ENABLE_ONEDNN_OPTS") == "0":
            assert reported["onednn"] == "off", reported
        if variant.env.get("JAX_ENABLE_X64") == "1" and "x64" in reported:
            assert reported["x64"] == "on", reported
        if "KERAS_BACKEND" in variant.env and "keras_backend" in reported:
            assert reported["keras_backend"] == variant.env["KERAS_BACKEND"], reported
    # A framework missing here is skipped with its reason (test_framework_available), never a crash.
    skipped = set(variant.frameworks) - ran
    print(json.dumps({"variant": variant.name, "checks": len(doc["checks"]), "not run here": sorted(skipped)}))
