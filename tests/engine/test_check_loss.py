"""The engine you can call: ``lossparity.check_loss`` on hand-written losses (the README's example)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lossparity

ROOT = Path(__file__).resolve().parents[2]


def _jax():
    jnp = pytest.importorskip("jax.numpy")
    import adapters

    reason = adapters.load(adapters.BUILTIN["optax"]).available()
    if reason:
        pytest.skip(reason)
    return jnp


def _x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def test_correct_jax_sparse_cross_entropy_passes():
    jnp = _jax()

    def sparse_ce(labels, y_pred):
        z = y_pred - jnp.max(y_pred, axis=-1, keepdims=True)
        log_probs = z - jnp.log(jnp.sum(jnp.exp(z), axis=-1, keepdims=True))
        return -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]

    result = lossparity.check_loss(sparse_ce, loss="sparse_categorical_crossentropy", framework="optax",
                                   args={"from_logits": True})
    assert result.ok, result.summary()
    kinds = {r.kind for r in result.records}
    assert {"value", "grad", "dtype", "edge"} <= kinds
    # float64 exists in JAX only under x64 (off by default): check_loss checks the dtypes the process has.
    assert {r.dtype for r in result.records if r.kind == "value"} == {"float16", "bfloat16", "float32"} | (
        {"float64"} if _x64() else set())
    assert all(r.binding and r.form and r.reduction for r in result.records if r.kind in ("value", "grad"))


def test_without_the_max_shift_fails():
    jnp = _jax()

    def unshifted(labels, y_pred):
        log_probs = y_pred - jnp.log(jnp.sum(jnp.exp(y_pred), axis=-1, keepdims=True))
        return -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]

    result = lossparity.check_loss(unshifted, loss="sparse_categorical_crossentropy", framework="optax",
                                   args={"from_logits": True})
    assert not result.ok
    assert any(r.case == "edge.scce-logits.huge" for r in result.failures)
    with pytest.raises(AssertionError, match="does not conform"):
        lossparity.assert_loss_conforms(unshifted, loss="sparse_categorical_crossentropy", framework="optax",
                                        args={"from_logits": True})


def test_off_by_1e5_fails():
    jnp = _jax()

    def off(labels, y_pred):
        z = y_pred - jnp.max(y_pred, axis=-1, keepdims=True)
        log_probs = z - jnp.log(jnp.sum(jnp.exp(z), axis=-1, keepdims=True))
        return -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0] + 1e-5

    result = lossparity.check_loss(off, loss="sparse_categorical_crossentropy", framework="optax",
                                   args={"from_logits": True})
    assert {r.dtype for r in result.failures} >= {"float32"} | ({"float64"} if _x64() else set())


def test_numpy_values_and_a_wrong_denominator():
    def mse(y_true, y_pred):
        return np.mean((y_pred - y_true) ** 2, axis=-1)

    def sse(y_true, y_pred):  # sums instead of averaging over the last axis
        return np.sum((y_pred - y_true) ** 2, axis=-1)

    wide = ("float32", "float64")
    assert lossparity.check_loss(mse, loss="mean_squared_error", framework="numpy", dtypes=wide).ok
    assert not lossparity.check_loss(sse, loss="mean_squared_error", framework="numpy", dtypes=wide).ok
    # In float16 NumPy squares 300 into inf where the loss itself (45000) is representable: found.
    half = lossparity.check_loss(mse, loss="mean_squared_error", framework="numpy")
    assert [r.case for r in half.failures] == ["edge.mse.float16-overflow"]


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(KeyError, match="no catalogue entry"):
        lossparity.check_loss(lambda **k: 0, loss="no_such_loss", framework="numpy")
    with pytest.raises(ValueError, match="delta=-1"):
        lossparity.check_loss(lambda **k: 0, loss="huber", framework="numpy", args={"delta": -1})
    with pytest.raises(ValueError, match="unknown convention"):
        lossparity.check_loss(lambda **k: 0, loss="huber", framework="numpy", convention="nonesuch")


def test_engine_imports_without_pytest():
    code = "import sys; import lossparity; lossparity.check_loss; assert 'pytest' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_readme_example_runs_as_written(capsys):
    """The README's "Checking your own loss" block, executed as it is written."""
    import re

    _jax()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Checking your own loss"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("True") and "edge.scce-logits.huge" in out
