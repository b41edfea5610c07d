"""Case files (TOML) and their loader: the documents' worked numbers, errata, invariants and identities.

``load_all()`` returns every case under this folder; an invalid file raises :class:`CaseError` naming the
file, the case id and the field.  The schema is documented in :mod:`cases.schema`.
"""
from cases.loader import (Case, CaseError, Erratum, Expect, Identity, Invariant, Provenance, load_all,
                          load_file, normalize_space)
from cases.schema import DOCUMENTS, IDENTITIES, KINDS, PROPERTIES, SCHEMA_ID

__all__ = ["Case", "CaseError", "Erratum", "Expect", "Identity", "Invariant", "Provenance", "load_all",
           "load_file", "normalize_space", "DOCUMENTS", "IDENTITIES", "KINDS", "PROPERTIES", "SCHEMA_ID"]
