"""A deliberately wrong "framework" for the meta-tests: NumPy MSE that sums instead of averaging.

``pytest --adapter tests.meta.faulty:ADAPTER --framework faulty`` makes its value checks and its fuzz
test fail; the meta-test in ``test_source_tree_untouched.py`` runs exactly that and checks the tree.
"""
import numpy as np

from adapters.protocol import Binding, Outcome, timed


class SummingMSE:
    name = "faulty"
    bindings = {"mean_squared_error": Binding(
        loss="mean_squared_error", api="np.sum((y_pred - y_true) ** 2, axis=-1)  # planted: sum, not mean",
        forms=("function:none",), convention="math", dtypes=("float32", "float64"), grad_wrt=None)}
    deviations = ()
    conventions = {}

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
            y, p = (np.asarray(call.inputs[k], dtype=call.dtype) for k in ("y_true", "y_pred"))
            value = np.sum((p - y) ** 2, axis=-1)
            return Outcome(value=value.astype(np.float64), dtype=str(value.dtype))
        return timed(go)


ADAPTER = SummingMSE()
