"""A run never writes into the source tree, failing or not: ``git status`` is the same before and after."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.full  # a pytest run in a process of its own
@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_a_failing_run_leaves_git_status_unchanged(tmp_path):
    before = _status()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/matrix", "tests/fuzz",
         "--adapter", "tests.meta.faulty:ADAPTER", "--framework", "faulty", "--fuzz-examples", "3", "--full",
         "--results", str(tmp_path / "results.json")],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]  # the planted fault is found...
    assert "fuzz" in run.stdout and "faulty" in run.stdout
    saved = list((ROOT / ".lossparity" / "counterexamples").glob("faulty-*.toml"))
    assert saved, "the fuzz failure is saved as a counterexample (outside cases/)"
    assert _status() == before  # ...and nothing new shows in the source tree
    for path in saved:
        path.unlink()
