"""Results of a lossparity run: the results file (:mod:`reports.results`), the pytest plugin that writes
it (:mod:`reports.pytest_plugin`), the HTML report (:mod:`reports.html`) and the CLI (``python -m reports``).
"""
from .results import SCHEMA, SCHEMA_ID, ResultsError, diff_versions, load, merge, validate, write_atomic

__all__ = ["SCHEMA", "SCHEMA_ID", "ResultsError", "diff_versions", "load", "merge", "validate", "write_atomic"]
