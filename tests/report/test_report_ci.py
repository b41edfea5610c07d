"""The CI example workflow: valid YAML, one CPU job per process variant, an optional GPU job, a report job."""
from __future__ import annotations

from pathlib import Path

import pytest

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "parity.yml"


def test_workflow_shape():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    from adapters.variants import VARIANTS

    assert jobs["cpu"]["strategy"]["matrix"]["variant"] == [v.name for v in VARIANTS]
    cpu_steps = " ".join(str(step.get("run", "")) for step in jobs["cpu"]["steps"])
    assert 'pip install -c constraints.txt -e ".[all]"' in cpu_steps
    assert "--variant ${{ matrix.variant }} --results results-${{ matrix.variant }}.json" in cpu_steps
    assert "self-hosted" in jobs["gpu"]["runs-on"] and jobs["gpu"]["if"]
    assert jobs["report"]["needs"] == ["cpu", "gpu"]
    report_steps = " ".join(str(step.get("run", "")) for step in jobs["report"]["steps"])
    assert "python -m reports build results-*.json -o parity.html" in report_steps
