"""lossparity: the checking engine of the conformance suite, usable without pytest.

* :func:`check_loss` / :func:`assert_loss_conforms` — run your own loss implementation through the battery;
* :mod:`lossparity.catalogue` — one entry per loss (reference, oracle, inputs' roles, domains, generators,
  strategies, tolerance facts, edge cases);
* :mod:`lossparity.session` — a run's adapters, selection and cached framework outcomes;
* :mod:`lossparity.checks` — the one comparison (value, gradient, dtype, edge, golden, convention witness);
* :mod:`lossparity.plan`, :mod:`lossparity.tolerance`, :mod:`lossparity.inputs`, :mod:`lossparity.case_eval`,
  :mod:`lossparity.strategies` (Hypothesis), :mod:`lossparity.records` (the typed check record).

``python -m lossparity promote FILE`` turns a saved fuzz counterexample into a case file under ``cases/fuzz``.
"""
from __future__ import annotations

__all__ = ["check_loss", "assert_loss_conforms", "LossCheckResult"]


def __getattr__(name):  # the API pulls in the checks; `import lossparity.catalogue` stays light
    if name in __all__:
        from lossparity import api

        return getattr(api, name)
    raise AttributeError(f"module 'lossparity' has no attribute {name!r}")
