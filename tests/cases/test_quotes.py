"""Every document case's quote appears verbatim in its document (whitespace runs collapsed on both sides).

The documents live outside the project (``<repo root>/../shared/seeds``); without them these tests skip.
The project itself never needs them: the quotes and numbers are copied into the cases.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import cases
from cases import normalize_space

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = REPO_ROOT.parent / "shared" / "seeds"

QUOTED = [c for c in cases.load_all() if c.provenance is not None]


def _document(name: str) -> str:
    path = SEEDS / name
    if not path.is_file():
        pytest.skip(f"seed document {name} not found under {SEEDS} (the documents are outside the project; "
                    f"the cases carry their quotes)")
    return normalize_space(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", QUOTED, ids=[c.id for c in QUOTED])
def test_quote_is_verbatim(case):
    text = _document(case.provenance.document)
    quote = normalize_space(case.provenance.quote)
    assert quote in text, (f"{case.file}: case '{case.id}': field 'provenance.quote': not found verbatim in "
                           f"{case.provenance.document}: {quote!r}")


def test_every_document_has_cases():
    """Each of the five documents contributes at least one case, and every document case has a quote."""
    docs = {c.provenance.document for c in QUOTED}
    assert docs == set(cases.DOCUMENTS)
    for case in cases.load_all():
        if case.id.startswith("doc"):
            assert case.provenance is not None and case.provenance.quote.strip(), case.id
