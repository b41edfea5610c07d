"""pytest configuration of the suite: command-line options, adapter selection, matrix parametrisation.

Options (see ``pytest --help``, group "lossparity"):
  --framework NAME   run only these frameworks (repeatable; default: every installed one)
  --adapter MOD:ATTR add an adapter that is not built in (repeatable)
  --device cpu|gpu|all, --dtype NAME (repeatable), --sweep (the full cross product)
  --variant NAME     run as process variant NAME of adapters.variants (its environment and frameworks)
  --full             the full suite: also the tests marked ``full`` (each non-default process variant, the
                     release smoke run, import-order probes and the browser, each in a process of its own,
                     the report at 100k records, the fuzzer and the migration recipes; seconds to minutes
                     each).  The default suite (the README's test command) leaves them out to stay within
                     90 s; .ci/run runs them after it, and the main job (python -m reports) runs every
                     variant with its full selection.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any TensorFlow import: keep the output readable

pytest_plugins = ["reports.pytest_plugin"]

KIND_MARKERS = {
    "value": "framework value (and its output dtype and shape) against the reference under its convention",
    "grad": "framework autodiff gradient against reference.grads",
    "edge": "edge-behaviour battery (value / NaN / inf / error)",
    "golden": "worked numbers of the documents, reproduced by a framework",
    "convention": "each declared convention flag still shows in the framework",
    "invariant": "invariants and identities the documents state, checked on a framework",
    "gpu": "needs a GPU",
    "fuzz": "differential fuzzing (Hypothesis) of a binding against the reference; budget --fuzz-examples",
    "full": "runs only in the full suite (--full; .ci/run): a run in a process of its own (the process "
            "variants, the release smoke run, an import-order probe, a browser), at 100k-record scale, or a "
            "tier that compiles per drawn shape (the fuzzer, the migration recipes)",
}


def pytest_addoption(parser):
    group = parser.getgroup("lossparity")
    group.addoption("--framework", action="append", default=[], metavar="NAME",
                    help="check only this framework (repeatable; default: every installed one)")
    group.addoption("--adapter", action="append", default=[], metavar="MODULE:ATTR",
                    help="add an adapter object that implements adapters.protocol.Adapter (repeatable)")
    group.addoption("--device", choices=("cpu", "gpu", "all"), default="all",
                    help="devices to check (default: all present; an absent GPU is reported as a skip)")
    group.addoption("--dtype", action="append", default=[], metavar="NAME",
                    choices=("float16", "bfloat16", "float32", "float64"),
                    help="floating dtypes to check (repeatable; default: all four)")
    group.addoption("--sweep", action="store_true", default=False,
                    help="cross every input set with every dtype and form (slower; default: a covering subset)")
    group.addoption("--fuzz-examples", type=int, default=4, metavar="N",
                    help="Hypothesis examples per binding in tests/fuzz (default 4: fits CI; e.g. 300 for a deep run)")
    group.addoption("--counterexamples", metavar="DIR", default=None,
                    help="where fuzzing saves failing examples (default: .lossparity/counterexamples; never "
                         "cases/: `python -m lossparity promote` turns one into a case file)")
    group.addoption("--benchmarks", action="store_true", default=False,
                    help="collect and run tests/benchmarks (pytest-benchmark; not part of the default run)")
    group.addoption("--full", action="store_true", default=False,
                    help="the full suite: also run the tests marked 'full' (process variants, the release smoke run "
                         "and other runs in a process of their own, the 100k-record report, the fuzzer, the migration "
                         "recipes; .ci/run runs them after the default suite)")
    group.addoption("--variant", default=None, metavar="NAME",
                    help="run as a process variant of adapters/variants.py (e.g. tf-onednn-off, keras-jax): sets "
                         "its environment before any framework loads and, without --framework, its frameworks "
                         "(python -m reports runs every variant; the test command runs them from tests/variants)")


def pytest_configure(config):
    for name, text in KIND_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    _apply_variant(config)
    from tests.support import session

    for adapter in session.configure(config).adapters:
        config.addinivalue_line("markers", f"{adapter.name}: checks of the {adapter.name} adapter")


def pytest_collection_modifyitems(config, items):
    """The checks of one matrix cell next to each other (``tests.support.session.cells_together``); without
    ``--full``, the tests marked ``full`` are skips that say how to run them."""
    from tests.support import session

    session.cells_together(items)
    if config.getoption("full"):
        return
    skip = pytest.mark.skip(reason="full suite only (pytest --full; .ci/run runs it): a process of its own, "
                                   "a 100k-record run, the fuzzer or the recipes")
    for item in items:
        if item.get_closest_marker("full") is not None:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    from tests.support import session

    session.parametrize(metafunc)


@pytest.fixture(scope="session")
def lp_session(request):
    """The run's :class:`lossparity.session.Session` (adapters, selection, cached framework outcomes)."""
    from tests.support import session

    return session.of(request.config)


def _apply_variant(config):
    """``--variant NAME``: the variant's environment (before any framework is imported; a framework already
    loaded keeps its state, which its adapter reads back and reports) and, without --framework, its frameworks."""
    from adapters import variants

    name = config.getoption("variant")
    if name is None:
        return
    try:
        variant = variants.by_name(name)
    except KeyError as exc:
        raise pytest.UsageError(f"--variant: {exc.args[0]}") from None
    os.environ.update(variants.environment(variant))
    for var in variants.CONTROLLED:
        if var not in variant.env:
            os.environ.pop(var, None)
    if not config.getoption("framework") and variant.frameworks:
        config.option.framework = list(variant.frameworks)


def pytest_lossparity_run_settings(config):
    """What the results file records about how the frameworks were set up (x64, oneDNN, backend, ...): per
    adapter its ``settings()`` (versions and process-level state), the conventions and deviations it runs
    under with their sources (what ``reports.variants`` cites), and the run's variant and environment."""
    from adapters import variants
    from tests.support import session

    run = session.of(config)
    selection = run.selection
    settings = {"devices": list(selection.devices), "dtypes": list(selection.dtypes), "sweep": selection.sweep,
                "variant": config.getoption("variant") or os.environ.get("LOSSPARITY_VARIANT") or "default",
                "environment": {name: os.environ.get(name) for name in variants.CONTROLLED}}
    for adapter in run.available:
        describe = getattr(adapter, "settings", None)
        entry = dict(describe()) if callable(describe) else {}
        entry.setdefault("version", adapter.version())
        entry["conventions"] = {
            name: {flag: {"value": repr(f.value), "source": f.source, "applies_to": list(f.applies_to)}
                   for flag, f in sorted(convention.flags.items())}
            for name, convention in sorted(dict(getattr(adapter, "conventions", None) or {}).items())}
        entry["deviations"] = {d.name: {"summary": d.summary, "source": d.source, "shows": d.shows,
                                        "settings": dict(getattr(d, "settings", {}) or {})}
                               for d in adapter.deviations}
        settings[adapter.name] = entry
    return settings
