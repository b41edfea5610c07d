"""Fixtures for the report tests."""
from __future__ import annotations

from typing import Callable

import pytest

from tests.report.synthetic import make_doc, synthetic_checks


@pytest.fixture
def synthetic_doc() -> Callable[..., dict]:
    """``synthetic_doc(n, seed=0, device="cpu", version=None)``: a one-run document of ``n`` checks."""
    def build(n: int, seed: int = 0, device: str = "cpu", version: str | None = None) -> dict:
        return make_doc(synthetic_checks(n, seed, device, version))
    return build
