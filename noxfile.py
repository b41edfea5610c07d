"""The version matrix: one environment per framework version set, the suite run in each, one merged report.

    python3 -m pip install nox && python3 -m nox -s versions version_report
    python3 -m nox -s "versions(set='tf215')"         # one version set
    python3 -m nox -s version_smoke                    # the small run CI can afford (keras 3.8.0)

Each ``versions`` session builds a virtual environment with pip (nox's ``venv`` backend: pip, unlike uv,
takes the CPU build of torch 2.13.0 this machine keeps on disk), installs lossparity's ``test`` extra with
exactly the framework versions of its set, and runs the main job restricted to the ``default`` process
variant, writing ``reports/versions/<set>/<set>.json`` (and ``.html``).  ``version_report`` merges every
results file found there into ``reports/versions.html`` with the "What changed between versions" section
(:mod:`reports.changes`): per API (lane) and check, the first version set where a number changed,
by how much, and the declaration that covers it.

The sets are ``[tool.lossparity.version-sets]`` in pyproject.toml, oldest first; each names the versions a
user pins, not ours.  ``pinned`` is ``constraints.txt``, the set CI runs; ``[tool.lossparity.version-smoke]``
is what CI's smoke test lays over it (tests/versions/test_version_smoke.py).
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["versions", "version_report"]

ROOT = Path(__file__).parent
OUT = ROOT / "reports" / "versions"


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def _sets() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The version sets and the smoke set, from ``[tool.lossparity]`` in pyproject.toml (oldest first)."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        tool = tomllib.load(handle)["tool"]["lossparity"]
    return {**tool["version-sets"], "pinned": _constraints()}, dict(tool["version-smoke"])


VERSION_SETS, SMOKE = _sets()


def _install(session: nox.Session, pins: dict[str, str]) -> None:
    session.install("-e", ".[test]", *(f"{name}=={version}" for name, version in pins.items()))


@nox.session
@nox.parametrize("set", list(VERSION_SETS))
def versions(session: nox.Session, set: str) -> None:  # noqa: A002 - nox's parameter name is the id
    """Run the main job (default process variant) on one version set: reports/versions/<set>/<set>.json."""
    _install(session, VERSION_SETS[set])
    # One folder per set: the main job keeps its per-variant partial files beside its results, so sets can run
    # in parallel (`nox -s versions -- ...` or two nox processes).
    session.run("python", "-m", "reports", "run", "--variants", "default", "--accuracy-rows", "0",
                "--results", str(_results(set)), "-o", str(_results(set).with_suffix(".html")),
                env={"LOSSPARITY_VERSION_SET": set}, success_codes=[0, 1])


def _results(name: str) -> Path:
    return OUT / name / f"{name}.json"


@nox.session
def version_report(session: nox.Session) -> None:
    """Merge reports/versions/<set>/<set>.json, oldest set first, into reports/versions.html (no framework needed)."""
    order = [name for name in VERSION_SETS if _results(name).exists()]
    if len(order) < 2:
        session.error("fewer than two sets in reports/versions/: run `nox -s versions` first")
    session.install("-e", ".")
    session.run("python", "-m", "reports", "versions", *(str(_results(name)) for name in order),
                "-o", str(ROOT / "reports" / "versions.html"))


@nox.session
def version_smoke(session: nox.Session) -> None:
    """The smoke release (Keras 3.8.0) with the pinned rest: the Keras float32 matrix (as CI's smoke test)."""
    pins = {**_constraints(), **SMOKE}
    _install(session, pins)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/matrix/test_matrix.py",
                "--framework", "keras", "--dtype", "float32", *session.posargs)
