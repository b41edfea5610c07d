"""Process-level settings are read back, not assumed: each adapter reports the state its framework really
runs in, the declared differences between the states are measured here, and verdicts follow the state, not
the order in which modules were imported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adapters
from adapters.protocol import Call, Deviation, active

ROOT = Path(__file__).resolve().parents[2]


def _adapter(name):
    adapter = adapters.load(adapters.BUILTIN[name])
    reason = adapter.available()
    if reason:
        pytest.skip(reason)
    return adapter


def test_deviations_follow_the_settings():
    on = Deviation("a", "s", {"loss": "x"}, "differs", "*", "src", settings={"onednn": "on"})
    any_state = Deviation("b", "s", {"loss": "x"}, "differs", "*", "src")
    both = (on, any_state)
    assert active(both, {"onednn": "on"}) == both
    assert active(both, {"onednn": "off"}) == (any_state,)
    assert active(both, None) == both  # framework not loaded: every declaration (listing imports nothing)
    assert Deviation("c", "s", {}, "differs", "*", "src", settings={"x64": ("on", "off")}).holds_under({"x64": "off"})


def test_onednn_state_is_what_tensorflow_runs_with():
    """The declared difference, measured: softmax([[inf, 0, 1]]) is [nan, 0, 0] with oneDNN, all NaN without."""
    keras = _adapter("keras")
    state = keras.settings()["onednn"]
    assert state in ("on", "off")
    got = keras.run(Call(loss="softmax", inputs={"z": np.array([[np.inf, 0.0, 1.0]])}, grad=False))
    expected = [np.nan, 0.0, 0.0] if state == "on" else [np.nan] * 3
    np.testing.assert_array_equal(got.value[0], expected)
    names = {d.name for d in keras.deviations}
    assert ("onednn-softmax-inf" in names) == (state == "on")


def test_x64_state_is_what_jax_runs_with():
    """The declared difference, measured: float64 is float64 only under x64; the declarations follow."""
    optax = _adapter("optax")
    import jax

    state = optax.settings()["x64"]
    assert state == ("on" if jax.config.jax_enable_x64 else "off")
    got = optax.run(Call(loss="mean_squared_error", inputs={"y_true": np.array([0.0]), "y_pred": np.array([0.1])},
                         dtype="float64"))
    assert got.dtype == ("float64" if state == "on" else "float32")
    assert optax.compute_dtype(Call(loss="mean_squared_error", inputs={}, dtype="float64")) == got.dtype
    names = {d.name for d in optax.deviations}
    assert ("float64_needs_x64" in names) == (state == "off")
    assert ("multiclass_hinge_promotes_dtype" in names) == (state == "on")


@pytest.mark.skipif(bool(os.environ.get("LOSSPARITY_VARIANT")), reason="checked once, in the default process")
@pytest.mark.full
def test_a_verdict_does_not_depend_on_who_imported_tensorflow_first():
    """TensorFlow imported first (oneDNN on, as shipped), then a late TF_ENABLE_ONEDNN_OPTS=0 that TensorFlow
    ignores: the adapter reports the state TensorFlow really has and the softmax edge case is the declared
    deviation, not a failure (before, the adapter assumed its own setting)."""
    code = """
import os
os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
import tensorflow  # a user's import, or a plugin's, before the suite
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # too late: TensorFlow read it when it loaded
import adapters
from lossparity import checks
from lossparity.plan import Selection
from lossparity.session import Session
keras = adapters.load(adapters.BUILTIN["keras"])
session = Session([keras], Selection(devices=("cpu",)))
item = next(i for i in session.plan[1] if i.inputs.id == "edge.softmax.plus-inf" and i.binding == "softmax")
record = checks.compare(session, item, "edge")
print(keras.settings()["onednn"], record["verdict"], record["deviation"])
"""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_ENABLE_ONEDNN_OPTS")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"),
                          capture_output=True, text=True, timeout=600)
    if "tensorflow is not installed" in done.stderr or "No module named 'tensorflow'" in done.stderr:
        pytest.skip("tensorflow is not installed")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["on", "deviation", "onednn-softmax-inf"], done.stdout
