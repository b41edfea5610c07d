"""The README opens with the two commands, and CI runs exactly the second one."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _first_block():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert match and text.index(match.group(0)) < text.index("\n## "), "the README must open with a code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    main, tests = _first_block()
    assert "python3 -m reports" in main
    assert "pytest" in tests
    for command in (main, tests):
        assert "-c constraints.txt" in command, "both commands install the pinned versions"


def test_ci_runs_the_readme_test_command():
    extract = re.search(r"test_command=\$\((.*)\)\n", (ROOT / ".ci/run").read_text()).group(1)
    got = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert got.strip() == _first_block()[1]


def test_constraints_pin_the_tested_versions():
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["torch"] == "2.13.0" and pins["tensorflow"] == "2.21.0" and pins["keras"] == "3.15.1"
    assert pins["tf-keras"] == "2.21.0" and "tensorflow-cpu" not in pins  # tf-keras requires `tensorflow` itself
    assert pins["jax"] == "0.10.2" and pins["optax"] == "0.2.8"
