"""What the Keras-API adapters other than Keras 3 on TensorFlow share: the translation of a :class:`Call`
into ``<keras>.losses`` / ``<keras>.activations`` calls, over a small backend object that makes tensors,
differentiates and picks the device.

Users of the Keras API run the same code under several implementations, and each is an adapter here:

* ``tf_keras`` (:mod:`adapters.tf_keras`): Keras 2, the ``tf_keras`` package (what ``tf.keras`` is when
  ``TF_USE_LEGACY_KERAS=1``), on TensorFlow;
* ``keras_jax`` / ``keras_torch`` (:mod:`adapters.keras_backends`): Keras 3 with ``KERAS_BACKEND=jax`` /
  ``torch``.

The bindings are those of :mod:`adapters.keras` (same loss names, same keyword arguments, same API forms),
less the ``tf.nn`` forms and the Loss-class reductions the implementation does not have; the translation
is the one :class:`adapters.keras.KerasAdapter` performs (labels keep their dtype, a class axis the API has
no ``axis`` argument for is moved last, ``kl_divergence(p, q)`` becomes ``kl_divergence(y_true=p,
y_pred=q)``, a ``sample_weight`` input goes to the Loss classes).  Nothing here computes a loss.

Importing this module imports no framework.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from typing import Any, Callable, Mapping

import numpy as np

from adapters import keras as _keras
from adapters.protocol import REDUCTION_INPUTS, Binding, Call, Deviation, Outcome, active, lookup, timed
from reference import Convention

__all__ = ["derived_bindings", "spec_of", "KerasAPIAdapter", "plain"]


def spec_of(loss: str):
    """How to call ``loss`` through the Keras API (the ``keras`` adapter's spec: function, class, inputs)."""
    return _keras._SPECS[loss]


def derived_bindings(convention: str, prefix: str, *, forms: Callable[[str], bool] = lambda form: True,
                     losses: Callable[[str], bool] = lambda loss: True) -> dict[str, Binding]:
    """The Keras 3 adapter's bindings for another implementation of the Keras API: the same keys and
    arguments, the ``tf.nn`` forms dropped, ``forms`` / ``losses`` filtering the rest, judged under
    ``convention``, with ``api`` naming ``prefix`` (``"tf_keras"``) instead of ``keras``."""
    out: dict[str, Binding] = {}
    for key, binding in _keras.BINDINGS.items():
        kept = tuple(f for f in binding.forms if not f.startswith("tfnn:") and forms(f))
        if not kept or not losses(binding.loss):
            continue
        api = binding.api.replace("keras.", prefix + ".")
        out[key] = dataclasses.replace(binding, forms=kept, convention=convention, api=api)
    return out


def plain(value: Any) -> Any:
    """Reference keyword values as plain Python scalars (NumPy scalars from TOML/JSON loaders)."""
    return value.item() if isinstance(value, np.generic) else value


class KerasAPIAdapter:
    """An implementation of the Keras API as an adapter.  Subclasses provide the runtime:

    * ``_runtime()`` -> an object with ``keras`` (the module whose ``losses`` / ``activations`` are called),
      ``np_dtypes`` (dtype name -> NumPy dtype) and ``gpu`` (bool), or raises RuntimeError with the reason;
    * ``_reason()`` -> None when the runtime loads, else why not (never raises);
    * ``_execute(rt, fn, true, pred, weight, seed, call)`` -> ``(value, value dtype, grad, grad dtype)``:
      ``fn(true, pred, weight)`` on the backend's tensors, and its gradient w.r.t. ``pred`` seeded by
      ``seed`` (NumPy arrays in, NumPy arrays out);
    * ``settings()`` -> the process-level settings it runs under (the deviations follow them).
    """

    name: str = ""
    bindings: Mapping[str, Binding] = {}
    declared: tuple[Deviation, ...] = ()
    conventions: Mapping[str, Convention] = {}
    convention: str = ""
    dtypes_: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")

    def __init__(self) -> None:
        self._by_form: dict[tuple[str, str], str] = {}
        for key, binding in self.bindings.items():
            for form in binding.forms:
                self._by_form.setdefault((binding.loss, form), key)
        self._objects: dict[tuple, Any] = {}
        self._fns: dict[tuple, Callable] = {}

    # ---- declarations ---------------------------------------------------------------------------------------
    @property
    def deviations(self) -> tuple[Deviation, ...]:
        """The declared deviations that hold under this process's settings (all of them while the framework
        is not loaded: listing them imports nothing)."""
        return active(self.declared, self.settings() if self._loaded() else None)

    # ---- environment ----------------------------------------------------------------------------------------
    def _loaded(self) -> bool:
        raise NotImplementedError

    def _reason(self) -> str | None:
        raise NotImplementedError

    def _runtime(self):
        raise NotImplementedError

    def available(self) -> str | None:
        return self._reason()

    def release(self) -> str | None:
        """The Keras release the ``versions=`` of the declarations name (None while not loaded)."""
        return _keras.keras_version(self._runtime()) if self._loaded() else None

    def _label(self, rt) -> str:
        return f"{self.name} (keras {_keras.keras_version(rt)})"

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def devices(self) -> list[str]:
        if self._reason() is not None:
            return []
        return ["cpu", "gpu"] if self._runtime().gpu else ["cpu"]

    def dtypes(self) -> list[str]:
        return list(self.dtypes_)

    def convention_for(self, loss: str) -> str:
        return self.convention

    def binding_for(self, call: Call) -> Binding | None:
        key = self._by_form.get((call.loss, call.form))
        return self.bindings[key] if key else None

    def supports(self, call: Call) -> bool:
        binding = self.binding_for(call)
        return binding is not None and binding.accepts(call) and call.device in (self.devices() or ["cpu"])

    def output_dtype(self, call: Call) -> str:
        """Functions return their prediction's dtype; Loss classes their dtype policy's (floatx)."""
        return self.compute_dtype(call)

    def compute_dtype(self, call: Call) -> str:
        if call.api == "class":
            return self._runtime().keras.backend.floatx()
        return call.dtype

    # ---- running --------------------------------------------------------------------------------------------
    def run(self, call: Call) -> Outcome:
        return timed(lambda: self._run(call))

    def _run(self, call: Call) -> Outcome:
        rt = self._runtime()
        key = self._by_form.get((call.loss, call.form))
        if key is None:
            raise ValueError(f"{self.name} adapter has no binding for loss {call.loss!r} in form {call.form!r}")
        if call.dtype not in rt.np_dtypes:
            raise TypeError(f"unsupported dtype {call.dtype!r}")
        spec = spec_of(call.loss)
        api = call.api
        np_dtype = rt.np_dtypes[call.dtype]
        args = {**_keras.REQUIRED_DEFAULTS.get(call.loss, {}),
                **{name: plain(value) for name, value in call.args.items() if name != "axis"}}

        pred_np = np.asarray(call.inputs[spec.pred])
        axis = call.args.get("axis", -1)
        if call.loss in _keras.AXES_AS_GIVEN:  # summed over as given, never moved (adapters.keras)
            args["axis"] = _keras.passed_axis(axis)
            axis = -1
        axis = int(axis) if axis is not None else -1
        # An API with a class axis gets it as given (its own handling of the axis shows); only an API
        # without one sees the class axis moved last, a pure layout translation.
        if axis not in (-1, pred_np.ndim - 1) and self._takes_axis(rt, spec, api):
            args["axis"] = axis
            axis = -1
        moved = pred_np.ndim > 0 and axis not in (-1, pred_np.ndim - 1)
        if moved:
            pred_np = np.moveaxis(pred_np, axis, -1)
        pred_np = pred_np.astype(np_dtype)
        true_np = None
        if spec.true is not None:
            true_np = np.asarray(call.inputs[spec.true]) if spec.translate is None else spec.translate(call.inputs)
            if spec.true != "labels":  # labels keep their own dtype: the framework reacts to it
                if moved and true_np.ndim == np.asarray(call.inputs[spec.pred]).ndim:
                    true_np = np.moveaxis(true_np, axis, -1)
                true_np = true_np.astype(np_dtype)
        weight = next((np.asarray(call.inputs[n]).astype(np_dtype) for n in REDUCTION_INPUTS if n in call.inputs),
                      None)
        seed = None
        if call.grad and call.cotangent is not None:
            seed = np.asarray(call.cotangent)
            seed = np.moveaxis(seed, axis, -1) if moved and spec.activation else seed
        fn = self._callable(rt, spec, api, call.reduction, args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value, dtype, grad, grad_dtype = self._execute(rt, fn, true_np, pred_np, weight, seed, call)
        value = np.asarray(value).astype(np.float64)
        if moved and spec.activation:
            value = np.moveaxis(value, -1, axis)
        if grad is not None:
            grad = np.asarray(grad).astype(np.float64)
            if moved:
                grad = np.moveaxis(grad, -1, axis)
        return Outcome(value=value, grad=grad, dtype=dtype, grad_dtype=grad_dtype if grad is not None else None)

    def _execute(self, rt, fn, true, pred, weight, seed, call: Call):
        raise NotImplementedError

    def _callable(self, rt, spec, api: str, reduction: str, args: dict[str, Any]) -> Callable:
        """``fn(true, pred, weight)``: the public call for this form; the same object for the same call (a
        backend may compile it once: jax.jit caches on the function)."""
        key = (spec, api, reduction, tuple(sorted(args.items())))
        if key not in self._fns:
            self._fns[key] = self._make_callable(rt, spec, api, reduction, args)
        return self._fns[key]

    def _make_callable(self, rt, spec, api: str, reduction: str, args: dict[str, Any]) -> Callable:
        keras = rt.keras
        if api == "function":
            if reduction != "none":
                raise ValueError(f"functional losses are unreduced; got reduction {reduction!r}")
            if spec.activation:
                op = lookup(keras.activations, spec.function, label=self._label(rt))
                return lambda true, pred, weight: op(pred)
            op = lookup(keras.losses, spec.function, label=self._label(rt))
            if spec.true == "p":  # kl_divergence(p, q) -> kl_divergence(y_true=p, y_pred=q)
                return lambda true, pred, weight: op(y_true=true, y_pred=pred)
            return lambda true, pred, weight: op(true, pred, **args)
        if api == "class":
            key = (spec.klass, tuple(sorted(args.items())), reduction)
            if key not in self._objects:
                self._objects[key] = lookup(keras.losses, spec.klass, label=self._label(rt))(reduction=reduction,
                                                                                               **args)
            obj = self._objects[key]
            return lambda true, pred, weight: (obj(true, pred) if weight is None
                                               else obj(true, pred, sample_weight=weight))
        raise ValueError(f"unknown API form {api!r}")

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _signature_has_axis(target) -> bool:
        return "axis" in inspect.signature(target).parameters

    def _takes_axis(self, rt, spec, api: str) -> bool:
        """Whether the public API for this form has an ``axis`` parameter."""
        if api == "function" and not spec.activation:
            target = lookup(rt.keras.losses, spec.function, label=self._label(rt))
            target = getattr(target, "__wrapped__", target)
        elif api == "class":
            klass = lookup(rt.keras.losses, spec.klass, label=self._label(rt))
            target = getattr(klass, "__wrapped__", klass).__init__
        else:
            return False
        return self._signature_has_axis(target)
