"""NumPy "frameworks" for the accuracy tests: mean squared error computed in the call's dtype, once
correctly, once with a planted inaccuracy of each kind the accuracy search must find.  Each is a complete
adapter (see README "Adding a framework"), so ``--adapter tests.accuracy.planted:CANCELLING`` works."""
from __future__ import annotations

import numpy as np

from adapters.protocol import Binding, Outcome, timed
from lossparity.tolerance import numpy_dtype


class PlantedMSE:
    """``mean((y_pred - y_true)**2, axis=-1)`` and its gradient ``2 (y_pred - y_true) / K`` in the dtype.

    ``mode``: ``"exact"`` computes it as written; ``"cancelling"`` expands the square
    (``p*p - 2*p*y + y*y``), which cancels catastrophically where ``y_pred`` is close to ``y_true`` far from
    zero (the ``offset`` and ``cancel`` regions); ``"drifting"`` adds an error that grows smoothly with
    ``|y_pred[..., 0]|`` up to 64 ulps (hill climbing must climb it); ``"kink"`` returns a gradient of
    ``2 eps / K`` where ``y_pred == y_true`` and the mathematics has 0: a huge relative error on a row
    whose inputs sit where the gradient changes sign, which is counted as a boundary row, not ranked.
    """

    deviations = ()

    def __init__(self, mode: str, name: str | None = None):
        self.mode = mode
        self.name = name or f"planted-{mode}"
        self.bindings = {"mean_squared_error": Binding(
            loss="mean_squared_error", api=f"numpy mean squared error ({mode})", forms=("function:none",),
            convention="math", args=(), dtypes=("float32", "float64"), grad_wrt="y_pred")}

    def version(self):
        return np.__version__

    def available(self):
        return None

    def devices(self):
        return ["cpu"]

    def output_dtype(self, call):
        return call.dtype

    def run(self, call):
        def go():
            dt = numpy_dtype(call.dtype)
            y = np.asarray(call.inputs["y_true"]).astype(dt)
            p = np.asarray(call.inputs["y_pred"]).astype(dt)
            k = dt.type(p.shape[-1])
            d = p - y
            if self.mode == "cancelling":
                value = np.mean(p * p - dt.type(2) * p * y + y * y, axis=-1)
            else:
                value = np.mean(d * d, axis=-1)
            grad = dt.type(2) * d / k
            if self.mode == "drifting":
                size = np.abs(p[..., 0]).astype(np.float64)
                value = value * (1.0 + 64.0 * float(np.finfo(dt).eps) * size / (1.0 + size))
            if self.mode == "kink":
                grad = np.where(d == 0, dt.type(2 * np.finfo(dt).eps) / k, grad)
            return Outcome(value=np.asarray(value, dtype=np.float64), grad=np.asarray(grad, dtype=np.float64),
                           dtype=str(dt), grad_dtype=str(dt))

        return timed(go)


EXACT = PlantedMSE("exact")
CANCELLING = PlantedMSE("cancelling")
DRIFTING = PlantedMSE("drifting")
KINK = PlantedMSE("kink")
