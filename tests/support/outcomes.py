"""Running an adapter directly in a test."""
from __future__ import annotations

import pytest


def ran(adapter, call):
    """``adapter.run(call)``; a skip with the reason when the installed release lacks the API the call needs
    (``Outcome.unsupported``: adapters.protocol.Unsupported)."""
    out = adapter.run(call)
    if out.unsupported:
        pytest.skip(out.unsupported)
    return out
