"""The version smoke run CI can afford: one older release of a framework, laid over the installed one.

The version matrix (``noxfile.py``: one environment per version set) takes minutes per set; CI runs this
instead.  ``[tool.lossparity.version-smoke]`` in pyproject.toml names the release (Keras 3.8.0, pure Python, over the pinned TensorFlow): pip
installs it alone into a temporary folder put first on ``PYTHONPATH``, and the Keras matrix runs in its own
process on it.  It must be green there too: every check passes, is a declared deviation whose ``versions``
include that release, or is a skip saying which API the release lacks.  Needs pip to reach the registry: a
skip with the reason when it cannot.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest

from reports import results

ROOT = Path(__file__).resolve().parents[2]


def _smoke() -> dict[str, str]:
    """``[tool.lossparity.version-smoke]`` of pyproject.toml (noxfile.py reads the same table)."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return dict(tomllib.load(handle)["tool"]["lossparity"]["version-smoke"])


@pytest.mark.full
def test_smoke_release_of_keras(request, tmp_path):
    if request.config.getoption("variant") or os.environ.get("LOSSPARITY_VARIANT"):
        pytest.skip("a variant run of the main job: the version smoke run belongs to the full suite (.ci/run)")
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed: the Keras smoke run needs it")
    pins = _smoke()
    overlay = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(overlay),
                              *(f"{name}=={version}" for name, version in pins.items())],
                             capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip(f"pip could not install {pins}: {(install.stdout + install.stderr)[-300:]}")
    path = tmp_path / "smoke.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(overlay), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--results",
               str(path), "tests/matrix/test_matrix.py", "--framework", "keras", "--dtype", "float32"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    tail = (done.stdout + done.stderr)[-3000:]
    assert path.exists(), f"the smoke run wrote no results (exit {done.returncode}): {tail}"
    doc = results.load(path)
    versions = {c["framework_version"] for c in doc["checks"] if c["framework"] == "keras" and c["verdict"] != "skip"}
    assert versions and all(f"keras {pins['keras']}" in v for v in versions), (versions, tail)
    bad = [f"{c['id']}: {c['verdict']}: {c['reason'][:300]}" for c in doc["checks"]
           if c["verdict"] not in ("pass", "deviation", "skip")]
    assert done.returncode == 0 and not bad, f"keras {pins['keras']} (exit {done.returncode}): " + "; ".join(bad[:8])
