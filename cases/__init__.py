"""Case files (TOML) and their loader: the documents' worked numbers, errata, invariants and identities.

``load_all(root=None, *, conventions=None)`` returns every case under this folder (files ``*.toml``, any
letter case of the suffix); an invalid file raises :class:`CaseError` naming the file, the case id and the
field.  The loader names no framework: pass ``conventions`` (the convention names that exist) to have
unknown ones refused, else only their syntax is checked.  The schema is documented in :mod:`cases.schema`.
"""
from cases.loader import (Case, CaseError, Erratum, Expect, Identity, Invariant, Provenance, case_files,
                          load_all, load_file, normalize_space)
from cases.schema import DOCUMENTS, IDENTITIES, KINDS, PROPERTIES, SCHEMA_ID

__all__ = ["Case", "CaseError", "Erratum", "Expect", "Identity", "Invariant", "Provenance", "case_files",
           "load_all", "load_file", "normalize_space", "DOCUMENTS", "IDENTITIES", "KINDS", "PROPERTIES",
           "SCHEMA_ID"]
