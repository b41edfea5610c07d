"""Keras 3 (TensorFlow backend) adapter: reference losses -> ``keras.losses`` / ``tf.nn`` public calls.

The adapter only translates: inputs are converted to the call's dtype (integer labels keep their own
dtype), a non-last class axis is moved last (``np.moveaxis``; the output keeps the other axes in order),
``kl_divergence(p, q)`` becomes ``kl_divergence(y_true=p, y_pred=q)``, and the framework's output and its
``tf.GradientTape`` gradient of ``tf.reduce_sum(out)`` w.r.t. the prediction come back as float64 NumPy.
Keras' own arithmetic (clipping to ``[eps, 1-eps]``, renormalisation of probabilities, label smoothing,
{0,1}->{-1,1} hinge labels, KL clipping) is left alone: this module declares it as the ``"keras"``
convention (:data:`KERAS3`, built from the reference's flag constructors, each flag citing the Keras source
it was read from), and what that convention cannot reproduce is declared in :data:`DEVIATIONS`.  Keras 2
(``tf_keras``, convention ``"keras2"``) is its own adapter, :mod:`adapters.tf_keras`; Keras 3 on the jax and
torch backends are :mod:`adapters.keras_backends`.  TensorFlow runs as shipped (oneDNN on unless
``TF_ENABLE_ONEDNN_OPTS=0``); :meth:`KerasAdapter.settings` says which, and the deviations follow it.

API forms (``Call.form``):

* ``function:none`` -- the functional loss ``keras.losses.<name>`` (per-sample output), or the activation
  ``keras.activations.<name>``;
* ``class:<reduction>`` -- the Loss class as users write it, ``keras.losses.<Class>(...,
  reduction=<reduction>)``: it casts its inputs to its dtype policy, ``keras.config.floatx()`` (float32),
  whatever their dtype, and the adapter says so (:meth:`KerasAdapter.compute_dtype`) rather than hide it;
  reductions ``sum_over_batch_size`` (the default), ``sum``, ``none``, ``mean_with_sample_weight``; they take the
  call's ``sample_weight`` input when it has one (``obj(y_true, y_pred, sample_weight=w)``);
* ``tfnn:none`` -- ``tf.nn.softmax_cross_entropy_with_logits``, ``tf.nn.sparse_softmax_cross_entropy_with_logits``,
  ``tf.nn.sigmoid_cross_entropy_with_logits`` (``from_logits=True`` only; the last one is elementwise) and
  ``tf.nn.softmax`` / ``log_softmax`` / ``sigmoid``.  Registered under keys ``"<loss>@tf.nn"``.

TensorFlow is imported lazily (first :meth:`KerasAdapter.available` / :meth:`KerasAdapter.run`), so importing
this module never fails where TensorFlow is missing.
"""
from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from adapters.protocol import Binding, Call, Deviation, Outcome, Unsupported, active, describe, lookup, timed
from reference import Convention
from reference import conventions as C

CONVENTION = "keras"
# Functions whose float32 constant promotes half-precision inputs (ops.maximum(y, convert_to_tensor(epsilon()))).
PROMOTES_HALF = ("mean_squared_logarithmic_error",)
# Computed in float32 whatever the input dtype: keras.ops.ctc_loss casts the logits to result_type(dtype, float32),
# and on TensorFlow a float64 result to float32 (tf.nn.ctc_loss has no float64 kernel), then casts the loss back.
COMPUTES_FLOAT32 = ("ctc_loss",)
DTYPES = ("float16", "bfloat16", "float32", "float64")
CLASS_REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean_with_sample_weight")
# Versions the bindings and deviations were measured with (see ``DEVIATIONS``).
MEASURED = "keras 3.15.1 / tensorflow 2.21.0"
# Verified by the version matrix (noxfile.py): keras 3.0.5 (set tf216, TensorFlow 2.16.2), 3.8.0 (set tf218,
# TensorFlow 2.18.1) and 3.15.1 (pinned): every deviation shows there exactly as declared (3.0 adds the two
# declared for ">=3.0,<3.8" below, and lacks the reduction mean_with_sample_weight: those cells skip).
KERAS_VERSIONS = ">=3.0,<3.16"
KERAS_3_0 = ">=3.0,<3.8"  # measured on 3.0.5 only; gone by 3.8.0
# The releases whose every API the bindings call exists (an API one of them lacks is the adapter's fault; an
# older release lacking one -- keras 3.8 has no CategoricalGeneralizedCrossEntropy -- is a skip with the reason).
WRITTEN_FOR = ">=3.15,<3.16"
LOSSES_PY = "keras/src/losses/losses.py"
TF_NN_PY = "keras/src/backend/tensorflow/nn.py"


# ---------------------------------------------------------------------------------------------------------
# Conventions: how Keras departs from the mathematics, as flags the reference reproduces.
# Read and measured: Keras 3.15.1 (TensorFlow 2.21 backend); Keras 2 (tf_keras 2.21) is adapters/tf_keras.py.
# Numbers and evidence: docs/conventions.md; every flag has a witness in tests/reference.
_K3 = "keras 3.15.1"
_K3_NN = f"keras/src/backend/tensorflow/nn.py ({_K3})"
_K3_LOSSES = f"keras/src/losses/losses.py ({_K3})"
_K3_VERSIONS = ">=3.0"


def _keras_flags(versions: str, backend_src: str, losses_src: str) -> list[C.Flag]:
    """The flags Keras 3 and Keras 2 share (same code, read in each version's files)."""
    return [
        C.cce_renormalize(source=f"categorical_crossentropy in {backend_src}; categorical_focal_crossentropy in "
                                 f"{losses_src}", versions=versions,
                          applies_to=("categorical_crossentropy", "categorical_focal_crossentropy")),
        C.sparse_renormalize(
            "after_clip", source=f"sparse_categorical_crossentropy in {backend_src}", versions=versions,
            detail="log(clip(y_pred)) is fed to tf.nn.sparse_softmax_cross_entropy_with_logits, which "
                   "renormalises implicitly. (Keras 3's jax/torch/numpy backends renormalise BEFORE clipping "
                   "instead: value 'before_clip'.)"),
        C.kl_clip(1e-7, source=f"kl_divergence in {losses_src}", versions=versions),
        C.hinge_binary_labels(
            source=f"convert_binary_labels_to_hinge / _maybe_convert_labels in {losses_src}", versions=versions),
        C.categorical_hinge_max_includes_target(
            source=f"categorical_hinge in {losses_src}", versions=versions,
            detail="(optax multiclass_hinge_loss gives 0.)"),
        C.hinge_kink_grad(
            1.0, source=f"_MaximumGrad in tensorflow/python/ops/math_grad.py (TF 2.21); {losses_src}",
            versions=versions,
            detail="tf.maximum(x, 0) sends the whole gradient to x at the tie (its gradient mask is x >= y)."),
        C.log_cosh_log2(
            float.fromhex("0x1.62e4300000000p-1"), source=f"log_cosh in {losses_src}", versions=versions,
            detail="log(2) is computed in float32 (0.6931471824645996) and cast to y_pred's dtype."),
        C.zero_times_inf_nan(
            ("categorical_crossentropy",),
            source=f"categorical_crossentropy in {backend_src} (tf.nn.softmax_cross_entropy_with_logits)",
            versions=versions,
            detail="From logits, tf.nn.softmax_cross_entropy_with_logits evaluates 0 * log_softmax = 0 * -inf."),
        C.target_shape_alignment(
            "expand_rank", applies_to=("mean_squared_error",),
            source=f"squeeze_or_expand_to_same_rank in {losses_src.replace('losses.py', 'loss.py')}, called by "
                   f"mean_squared_error in {losses_src} and by LossFunctionWrapper.call; measured", versions=versions,
            detail="The BCE Loss class expands too (declared as a deviation: keras.losses.binary_crossentropy, the "
                   "function, raises ValueError on the same shapes)."),
        C.ignored_mean_divides_by_kept(
            source=f"sparse_categorical_crossentropy in {losses_src} (ignore_class: loss 0, backend.set_keras_mask); "
                   f"apply_mask in {losses_src.replace('losses.py', 'loss.py')} (mask weight total / valid, "
                   f"divide_no_nan); measured", versions=versions,
            detail="The Loss classes turn the mask into a sample weight total/valid for sum_over_batch_size and mean, "
                   "0/1 for mean_with_sample_weight."),
        C.poisson_log_epsilon(1e-7, source=f"poisson in {losses_src}", versions=versions,
                              detail="y_pred - y_true * log(y_pred + keras.config.epsilon())."),
        C.percentage_floor(1e-7, source=f"mean_absolute_percentage_error in {losses_src}", versions=versions,
                           detail="100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon))), epsilon = "
                                  "keras.config.epsilon() in y_pred's dtype: mape(0, 1) = 1e9 in float64."),
        C.bce_logits_formula(
            "tf", source=f"binary_crossentropy in {backend_src}", versions=versions,
            detail="tf.nn.sigmoid_cross_entropy_with_logits computes max(x,0) - x*y + log1p(exp(-|x|)): NaN at "
                   "(x=-inf, y=0) and (x=+inf, y=1)."),
    ]


def _prob_clip(versions: str, backend_src: str) -> C.Flag:
    return C.prob_clip(
        1e-7, source=f"categorical/sparse_categorical_crossentropy in {backend_src}; binary_crossentropy in "
                     f"{backend_src}; binary_focal_crossentropy, categorical_focal_crossentropy in {_K3_LOSSES}",
        versions=versions, applies_to=C.PROB_LOSSES + C.FOCAL_LOSSES,
        detail="eps = keras.config.epsilon(); the clip is tf.clip_by_value. The focal losses clip inside "
               "ops.binary_crossentropy / after their own renormalisation.")


def _msle_floor(versions: str, losses_src: str) -> C.Flag:
    """Keras 3's MSLE floor: ``ops.convert_to_tensor(backend.epsilon())`` is a float32 tensor, so the floor is
    float32(1e-7) = 1.0000000116860974e-07 in every dtype (Keras 2 forms 1e-7 in the input's dtype)."""
    return C.log_floor(
        float(np.float32(1e-7)), source=f"mean_squared_logarithmic_error in {losses_src}", versions=versions,
        detail="log(maximum(y, epsilon) + 1.0) for y_pred and y_true, epsilon = convert_to_tensor(keras.config."
               "epsilon()) (float32; float16/bfloat16 inputs are promoted to float32 by the maximum): "
               "msle(0, -0.5) = 0, math 0.480453.")


KERAS3 = Convention(
    "keras", "Keras 3 (keras.losses functional API, TensorFlow backend).",
    _keras_flags(_K3_VERSIONS, _K3_NN, _K3_LOSSES) + [
        _msle_floor(_K3_VERSIONS, _K3_LOSSES),
        _prob_clip(_K3_VERSIONS, _K3_NN),
        C.smoothing_classes_last_axis(source=f"categorical_crossentropy in {_K3_LOSSES}", versions=_K3_VERSIONS,
                                      detail="(Keras 2 uses shape[axis].)"),
        C.clip_after_activation(
            source=f"categorical_focal_crossentropy in {_K3_LOSSES}", versions=_K3_VERSIONS,
            applies_to=("categorical_focal_crossentropy",),
            detail="ops.softmax(y_pred), then y_pred / sum and ops.clip (binary_focal_crossentropy's sigmoid output "
                   "keeps its logits on TensorFlow: _get_logits in keras/src/backend/tensorflow/nn.py takes the "
                   "stable from-logits path, no clip)."),
        C.similarity_negated(source=f"cosine_similarity in {_K3_LOSSES}", versions=_K3_VERSIONS,
                             detail="-ops.sum(normalize(y_true) * normalize(y_pred), axis=axis)."),
        C.cosine_inverse_norm_cap(
            1e-7, source=f"cosine_similarity in {_K3_LOSSES}; normalize in keras/src/utils/numerical_utils.py and "
                         f"_normalize in keras/src/ops/nn.py ({_K3})", versions=_K3_VERSIONS,
            detail="x * minimum(rsqrt(sum(square(x))), 1.0 / backend.epsilon()) (order 2)."),
        C.overlap_denominator_epsilon(
            1e-7, source=f"dice, tversky in {_K3_LOSSES}", versions=_K3_VERSIONS,
            detail="dice: 1 - ops.divide(2.0 * intersection, ops.sum(y_true) + ops.sum(y_pred) + backend.epsilon()); "
                   "tversky: 1 - ops.divide(intersection, intersection + fp * alpha + fn * beta + "
                   "backend.epsilon()); no smoothing argument."),
        C.tversky_weights_swapped(
            source=f"tversky in {_K3_LOSSES}", versions=_K3_VERSIONS,
            detail="inputs = y_true, targets = y_pred; fp = ops.sum((1 - targets) * inputs) is sum(y_true (1 - "
                   "y_pred)), the false negatives, and fn = ops.sum(targets * (1 - inputs)) the false positives, while "
                   "the docstring says alpha controls false positives."),
    ], {
        "backend": "Keras 3's jax/torch/numpy backends differ from TF in sparse CE from probabilities: "
                   "renormalise, then clip, then log (sparse_renormalize='before_clip'); TF backend clips, "
                   "takes the log and lets sparse_softmax_cross_entropy_with_logits renormalise.",
        "dtype": "Loss classes (keras.losses.CategoricalCrossentropy(...)) compute in the loss's dtype "
                 "policy, default floatx() = float32, even for float64 inputs; the functions keep y_pred's "
                 "dtype.",
        "reduction": "Loss classes default to reduction='sum_over_batch_size' = sum / number of elements "
                     "of the per-sample loss (divide_no_nan); 'mean_with_sample_weight' divides by the sum "
                     "of the weights. keras/src/losses/loss.py reduce_values.",
        "bce_mean": "binary_crossentropy averages the elementwise BCE over `axis` (default -1).",
        "axis": "hinge, squared_hinge, categorical_hinge, kl_divergence, huber, mse, mae reduce over the "
                "last axis only (no axis argument).",
        "log_one_minus": "binary_crossentropy uses log(1 - p) (not log1p): for p = 1e-10, y = 0 in float64 "
                         "the result is 1.0000000828e-10 vs the exact 1.00000000005e-10.",
        "overlap_axis": "dice and tversky (functions and Dice / Tversky classes) sum over axis=None by default: the "
                        "whole batch gives one number (a Loss class's reduction then has a scalar to reduce); "
                        "axis=(1, 2, 3) gives one per sample. They take probabilities only (no from_logits, no "
                        f"smooth): {LOSSES_PY}.",
    })

# What this adapter declares (``ADAPTER.conventions``): its bindings name "keras".  ("keras2", Keras 2's, is
# declared by adapters/tf_keras.py.)
CONVENTIONS: Mapping[str, Convention] = MappingProxyType({KERAS3.name: KERAS3})


@dataclass(frozen=True)
class _Spec:
    """How to call one binding: input names (reference) and the framework callables' names."""

    true: str | None          # reference name of the target input (None for activations)
    pred: str                 # reference name of the prediction input (the one differentiated)
    function: str | None      # keras.losses / keras.activations attribute
    klass: str | None         # keras.losses class name
    tfnn: str | None = None   # tf.nn attribute
    activation: bool = False
    # Builds the target the API takes from the call's inputs, when it is not one of them (a layout translation).
    translate: Callable[[Mapping[str, Any]], np.ndarray] | None = None


def ctc_y_true(inputs: Mapping[str, Any]) -> np.ndarray:
    """keras.losses.ctc's y_true: the labels with every position past a row's label length set to 0, Keras's
    padding value (its mask_index, the blank): Keras reads each label length as the count of nonzero entries."""
    labels = np.array(inputs["labels"], dtype=np.int64)
    lengths = np.asarray(inputs["label_lengths"]).reshape(-1)
    labels[np.arange(labels.shape[1])[None, :] >= lengths[:, None]] = 0
    return labels


def every_frame_used(call: Call) -> bool:
    """keras.losses.ctc uses every frame of y_pred (its input length is the time axis): it takes a batch only
    when every ``logit_lengths`` is the whole time axis."""
    if "logit_lengths" not in call.inputs:
        return True
    return bool(np.all(np.asarray(call.inputs["logit_lengths"]) == np.shape(call.inputs["logits"])[1]))


_SPECS: dict[str, _Spec] = {
    "mean_squared_error": _Spec("y_true", "y_pred", "mean_squared_error", "MeanSquaredError"),
    "mean_absolute_error": _Spec("y_true", "y_pred", "mean_absolute_error", "MeanAbsoluteError"),
    "huber": _Spec("y_true", "y_pred", "huber", "Huber"),
    "categorical_crossentropy": _Spec("y_true", "y_pred", "categorical_crossentropy", "CategoricalCrossentropy",
                                      "softmax_cross_entropy_with_logits"),
    "sparse_categorical_crossentropy": _Spec("labels", "y_pred", "sparse_categorical_crossentropy",
                                             "SparseCategoricalCrossentropy",
                                             "sparse_softmax_cross_entropy_with_logits"),
    "binary_crossentropy": _Spec("y_true", "y_pred", "binary_crossentropy", "BinaryCrossentropy",
                                 "sigmoid_cross_entropy_with_logits"),
    "kl_divergence": _Spec("p", "q", "kl_divergence", "KLDivergence"),
    "hinge": _Spec("y_true", "y_pred", "hinge", "Hinge"),
    "squared_hinge": _Spec("y_true", "y_pred", "squared_hinge", "SquaredHinge"),
    "categorical_hinge": _Spec("y_true", "y_pred", "categorical_hinge", "CategoricalHinge"),
    "poisson": _Spec("y_true", "y_pred", "poisson", "Poisson"),
    "log_cosh": _Spec("y_true", "y_pred", "log_cosh", "LogCosh"),
    "mean_squared_logarithmic_error": _Spec("y_true", "y_pred", "mean_squared_logarithmic_error",
                                            "MeanSquaredLogarithmicError"),
    "mean_absolute_percentage_error": _Spec("y_true", "y_pred", "mean_absolute_percentage_error",
                                            "MeanAbsolutePercentageError"),
    "categorical_generalized_cross_entropy": _Spec("labels", "y_pred", "categorical_generalized_cross_entropy",
                                                   "CategoricalGeneralizedCrossEntropy"),
    "cosine_similarity": _Spec("y_true", "y_pred", "cosine_similarity", "CosineSimilarity"),
    "binary_focal_crossentropy": _Spec("y_true", "y_pred", "binary_focal_crossentropy", "BinaryFocalCrossentropy"),
    "categorical_focal_crossentropy": _Spec("y_true", "y_pred", "categorical_focal_crossentropy",
                                            "CategoricalFocalCrossentropy"),
    "dice": _Spec("y_true", "y_pred", "dice", "Dice"),
    "tversky": _Spec("y_true", "y_pred", "tversky", "Tversky"),
    "ctc_loss": _Spec("labels", "logits", "ctc", "CTC", translate=ctc_y_true),
    "softmax": _Spec(None, "z", "softmax", None, "softmax", activation=True),
    "log_softmax": _Spec(None, "z", "log_softmax", None, "log_softmax", activation=True),
    "sigmoid": _Spec(None, "z", "sigmoid", None, "sigmoid", activation=True),
}
# What a binding needs of a call's inputs beyond its arguments (Keras's CTC has no input lengths).
_NEEDS: dict[str, Callable[[Call], bool]] = {"ctc_loss": every_frame_used}

_ARGS: dict[str, tuple[str, ...]] = {
    "huber": ("delta",),
    "categorical_crossentropy": ("from_logits", "label_smoothing"),
    "sparse_categorical_crossentropy": ("from_logits", "ignore_class"),
    "binary_crossentropy": ("from_logits", "label_smoothing"),
    "categorical_generalized_cross_entropy": ("q",),
    "binary_focal_crossentropy": ("apply_class_balancing", "alpha", "gamma", "from_logits", "label_smoothing"),
    "categorical_focal_crossentropy": ("alpha", "gamma", "from_logits", "label_smoothing"),
    "tversky": ("alpha", "beta"),
}
# Losses whose ``axis`` (an int, a tuple of axes or None: every axis) is what they sum over: passed to the API as
# given (never moved), and always passed (their default, None, reduces the whole batch; the reference's is -1).
AXES_AS_GIVEN = ("dice", "tversky")


def passed_axis(axis: Any) -> Any:
    """An overlap loss's ``axis`` as the Keras API takes it: None, an int, or a tuple (a case file's list)."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    return int(axis)
# Arguments the reference defaults and a Keras function requires: passed explicitly, at the reference's default
# (keras.losses.categorical_generalized_cross_entropy(y_true, y_pred, q) has no default for q; its class has 0.5).
REQUIRED_DEFAULTS: dict[str, dict[str, Any]] = {"categorical_generalized_cross_entropy": {"q": 0.5}}
_CLASS_FORMS = ("function:none",) + tuple(f"class:{r}" for r in CLASS_REDUCTIONS)
# Losses whose target the tape also differentiates on request (Call.wrt): soft labels, distillation.
_SOFT_TARGETS = ("mean_squared_error", "mean_absolute_error", "huber", "categorical_crossentropy",
                 "binary_crossentropy", "kl_divergence")


def on_target(call: Call, spec) -> bool:
    """The call asks for the gradient with respect to the target (``spec.true``), not the prediction."""
    return call.grad and call.wrt is not None and call.wrt == spec.true


@dataclass(frozen=True)
class KerasBinding(Binding):
    """A :class:`Binding` whose ``sample_weight`` goes to the Loss classes only (``obj(y_true, y_pred,
    sample_weight=w)``): the functions in keras.losses take none."""

    needs: Callable[[Call], bool] | None = None

    def accepts(self, call: Call) -> bool:
        return (super().accepts(call) and ("sample_weight" not in call.inputs or call.api == "class")
                and (self.needs is None or self.needs(call)))


def _bindings() -> dict[str, Binding]:
    out: dict[str, Binding] = {}
    for loss, spec in _SPECS.items():
        args = _ARGS.get(loss, ())
        if spec.activation:
            out[loss] = Binding(loss=loss, api="keras.activations." + spec.function, forms=("function:none",),
                                     convention=CONVENTION, granularity="sample", args=(), dtypes=DTYPES,
                                     grad_wrt=spec.pred)
            out[loss + "@tf.nn"] = Binding(loss=loss, api="tf.nn." + spec.tfnn, forms=("tfnn:none",),
                                                convention=CONVENTION, granularity="sample", args=(),
                                                dtypes=DTYPES, grad_wrt=spec.pred)
            continue
        out[loss] = KerasBinding(loss=loss, api=f"keras.losses.{spec.function} / keras.losses.{spec.klass}",
                                 forms=_CLASS_FORMS, convention=CONVENTION, granularity="sample",
                                 args=args + ("sample_weight",),
                                 dtypes=DTYPES, grad_wrt=spec.pred,
                                 differentiable=(spec.true,) if loss in _SOFT_TARGETS else (),
                                 needs=_NEEDS.get(loss))
        if spec.tfnn:
            out[loss + "@tf.nn"] = Binding(
                loss=loss, api="tf.nn." + spec.tfnn, forms=("tfnn:none",), convention=CONVENTION,
                granularity="element" if loss == "binary_crossentropy" else "sample",
                args=("from_logits",), dtypes=DTYPES, grad_wrt=spec.pred, requires={"from_logits": True},
                differentiable=(spec.true,) if loss in _SOFT_TARGETS else ())
    # tf.nn.ctc_loss takes the lengths itself (and the blank index): the TensorFlow op under keras.losses.ctc.
    out["ctc_loss@tf.nn"] = Binding(
        loss="ctc_loss", api="tf.nn.ctc_loss(labels=labels, logits=logits, label_length=label_lengths, "
        "logit_length=logit_lengths, logits_time_major=False, blank_index=blank); float16, bfloat16 and float32 "
        "(float64 raises InvalidArgumentError: the op has no float64 kernel)", forms=("tfnn:none",),
        convention=CONVENTION, granularity="sample", args=("blank",), dtypes=("float16", "bfloat16", "float32"),
        grad_wrt="logits")
    return out


BINDINGS: dict[str, Binding] = _bindings()
_BY_FORM: dict[tuple[str, str], str] = {}
for _key, _binding in BINDINGS.items():
    for _form in _binding.forms:
        assert (_binding.loss, _form) not in _BY_FORM, (_binding.loss, _form)
        _BY_FORM[(_binding.loss, _form)] = _key


def _dev(name: str, summary: str, when: Mapping[str, str], shows: str, source: str) -> Deviation:
    return Deviation(name=name, summary=summary, when=dict(when), shows=shows,
                     versions=KERAS_VERSIONS, source=source)


# Measured with keras 3.15.1 / tensorflow 2.21.0 (CPU, oneDNN on and off; ``settings=`` names the state a
# deviation needs) against reference/ under the "keras" convention, on the default matrix and the edge battery
# (numbers in each summary).
# A target of rank one less than the prediction (y_true (N,), y_pred (N, 1)): cases/edge/target_shapes.toml.
# (MSE: the target_shape_alignment flag, reproduced by the reference; the BCE Loss class: this deviation.)
TARGET_RANK_EXPANDED_SUMMARY = (
    "The BinaryCrossentropy Loss class gives a target of shape (N,) against a prediction of shape (N, 1) a "
    "trailing axis (squeeze_or_expand_to_same_rank in LossFunctionWrapper.call): 0.33753881 on y_true [1, 0, 1, 0], "
    "y_pred [[.9], [.2], [.6], [.4]], the intended per-sample loss (Keras 2: 0.88684464, broadcast), where "
    "keras.losses.binary_crossentropy, the function, raises ValueError and the reference refuses the shapes.")
TARGET_RANK_EXPANDED_WHEN = {"case": "edge.bce.target-rank-one-less.mean", "kind": "edge"}

DEVIATIONS: tuple[Deviation, ...] = (
    # -- Keras 3.0 only (first in the list: these errors come before any numerical declaration)
    Deviation(
        name="float32-constant-in-other-dtypes",
        summary="Keras 3.0's huber and poisson functions mix a float32 constant (delta, epsilon) into tensors of "
                "the inputs' dtype: float16, bfloat16 and float64 raise InvalidArgumentError 'cannot compute "
                "LessEqual / AddV2 as input #1 was expected to be a half tensor but is a float tensor'; 3.8 casts it.",
        when={"loss": ("huber", "poisson"), "form": "function:none", "dtype": ("float16", "bfloat16", "float64"),
              "wrt": "*"},
        shows="error:InvalidArgumentError", versions=KERAS_3_0,
        source=f"huber, poisson in {LOSSES_PY} (keras 3.0.5, version set tf216); measured"),
    Deviation(
        name="mape-float32-epsilon-in-half-dtypes",
        summary="Keras 3.0's mean_absolute_percentage_error divides by maximum(|y_true|, epsilon()) with a float32 "
                "epsilon: float16 and bfloat16 inputs raise TypeError '`x` and `y` must have the same dtype'.",
        when={"loss": "mean_absolute_percentage_error", "form": "function:none", "dtype": ("float16", "bfloat16"),
              "wrt": "*"},
        shows="error:TypeError", versions=KERAS_3_0,
        source=f"mean_absolute_percentage_error in {LOSSES_PY} (keras 3.0.5, version set tf216); measured"),
    Deviation(
        name="float16-zero-vector-cosine-is-zero",
        summary="Keras 3.0's cosine_similarity gives 0 for a float16 zero vector (3.8 and later: NaN, the 1/eps "
                "cap overflowing float16; the mathematics: NaN).",
        when={"loss": "cosine_similarity", "case": "edge.cosine.float16-zero-vector", "dtype": "float16"},
        shows="value", versions=KERAS_3_0,
        source=f"cosine_similarity in {LOSSES_PY}; _normalize in keras/src/ops/nn.py (keras 3.0.5, version set "
               "tf216); measured"),
    _dev("target-rank-expanded", TARGET_RANK_EXPANDED_SUMMARY, TARGET_RANK_EXPANDED_WHEN, "value",
         f"squeeze_or_expand_to_same_rank in keras/src/losses/loss.py; mean_squared_error, LossFunctionWrapper.call in "
         f"{LOSSES_PY} ({MEASURED}); measured"),
    _dev("focal-gamma-zero-grad-nan",
         "binary_focal_crossentropy with gamma = 0 (plain BCE) has a NaN gradient wherever p = y exactly: ops.power(1 - p_t, 0) at 1 - p_t = 0 differentiates as 0 * 0^-1 = 0 * inf (the value, 0^0 = 1, is right; the reference gradient there is BCE's, [0.5, -0.5] for y = [0, 1], p = [0, 1]).",
         {"loss": "binary_focal_crossentropy", "case": "edge.focal.gamma-zero-grad", "kind": "grad"}, "nan",
         f"binary_focal_crossentropy in {LOSSES_PY}; _PowGrad in tensorflow/python/ops/math_grad.py (TF 2.21); measured"),
    _dev("sparse-axis-must-be-last",
         "keras.losses.sparse_categorical_crossentropy (and the Loss class) take an `axis` argument but raise "
         "ValueError 'Only axis=-1 is currently supported' for any other class axis (torch takes classes on "
         "dim 1, the reference anywhere): move the class axis last before calling.",
         {"binding": "sparse_categorical_crossentropy", "case": "gen.*axis=1*"},
         "error:ValueError", f"sparse_categorical_crossentropy in {LOSSES_PY} and {TF_NN_PY}; measured"),
    Deviation(
        name="onednn-softmax-inf", settings={"onednn": "on"}, versions=KERAS_VERSIONS, shows="differs",
        summary="With oneDNN on (TensorFlow's default on x86), softmax of float32 [[inf, 0, 1]] is [nan, 0, 0]: "
                "oneDNN's softmax kernel (_MklSoftmax, float32 and bfloat16) replaces TensorFlow's, which gives "
                "[nan, nan, nan] like the reference (inf - inf = nan in the max shift reaches every entry through "
                "the sum). keras.activations.softmax and tf.nn.softmax alike.",
        when={"loss": "softmax", "case": "edge.softmax.plus-inf", "kind": "edge"},
        source="tensorflow/core/kernels/mkl/mkl_softmax_op.cc (_MklSoftmax, registered for float and bfloat16) "
               "against tensorflow/core/kernels/softmax_op_functor.h; measured with TF_ENABLE_ONEDNN_OPTS unset "
               "and =0"),
    _dev("class-sparse-rejects-unbatched-sample",
         "keras.losses.SparseCategoricalCrossentropy (the Loss class) raises IndexError 'tuple index out of range' "
         "for one unbatched sample (labels of rank 0, y_pred of rank 1), where the function "
         "keras.losses.sparse_categorical_crossentropy returns the loss (found by the fuzzer; checked in the "
         "class form since edge cases honour their reduction).",
         {"case": "fuzz.keras.sparse_categorical_crossentropy.4cac38152628", "form": "class:*"},
         "error:IndexError", f"SparseCategoricalCrossentropy / LossFunctionWrapper in {LOSSES_PY}; measured"),
    _dev("flushes-subnormals",
         "TensorFlow runs CPU kernels with subnormals flushed to zero (float64 too): an input or intermediate "
         "below the smallest normal counts as 0. Found by the fuzzer: MAE gradient at y_pred = 5e-324 is -0.0 "
         "(reference 1); categorical hinge at 1.1e-308 gives 0.5 (reference 1); float16 KL with q = 8.3e-7 "
         "gives inf (reference 6.31); float16 BCE gradient at p = 1.19e-7, y = 0 gives NaN (reference 1).",
         {"case": ("fuzz.keras.mean_absolute_error.6e20697dc54b", "fuzz.keras.categorical_hinge.fa10d68c0451",
                   "fuzz.keras.binary_crossentropy.9f1ba924cb5a"), "kind": "grad"},
         "differs", "tensorflow/core/platform/denormal.h (ScopedFlushDenormal around CPU kernels); measured"),
    _dev("ctc-infeasible-target-finite",
         "keras.losses.ctc (tf.nn.ctc_loss's CPU kernel) returns a finite loss for a target no alignment reaches "
         "(1, 1, 1 in 4 frames: each repeat needs a blank frame between): 709.598 on edge.ctc.infeasible, about "
         "-log(1e-308), where the loss is -log 0 = inf; the feasible sample beside it is unchanged. A CTC loss near "
         "710 marks an infeasible target.",
         {"loss": "ctc_loss", "case": "edge.ctc.infeasible", "kind": "edge"},
         "value", f"ctc in {_K3_LOSSES} -> ctc_loss in {_K3_NN} -> tf.nn.ctc_loss (tensorflow/python/ops/ctc_ops.py "
                  "ctc_loss_v3 -> _ctc_loss_op_standard, the compiled CTCLossV2 kernel, tensorflow 2.21.0); measured"),
    _dev("flushes-subnormals-kl",
         "The same flushing in the KL value: float16 q = 8.3e-7 (subnormal in float16) counts as 0 before the "
         "clip, so p/q overflows to inf where the reference gives 6.31, and the gradient is NaN where it is "
         "inf (found by the fuzzer).",
         {"case": "fuzz.keras.kl_divergence.4b1282e85953", "kind": ("edge", "grad")},
         "differs", "tensorflow/core/platform/denormal.h (ScopedFlushDenormal around CPU kernels); measured"),
    _dev("float16-square-overflow",
         "mean_squared_error squares the difference in float16 (ops.square): 300^2 = 90000 > 65504 gives inf; "
         "the loss itself (45000) is representable in float16.",
         {"loss": "mean_squared_error", "case": "edge.mse.float16-overflow", "dtype": "float16", "kind": "edge"},
         "inf", f"mean_squared_error in {LOSSES_PY}"),
    _dev("float16-kl-grad-overflow",
         "The gradient of log(y_true / y_pred) w.r.t. y_pred goes through TensorFlow's RealDiv gradient "
         "grad * ((-p / q) / q), whose intermediate p / q^2 overflows float16 for small q: gen.small has q = "
         "3.08e-5 where the reference gradient -p/q = -10228 is representable but Keras returns -inf.",
         {"loss": "kl_divergence", "form": "function:none", "dtype": "float16", "kind": "grad", "case": "gen.[srw]*"},
         "inf", f"kl_divergence in {LOSSES_PY}; _RealDivGrad in tensorflow/python/ops/math_grad.py"),
    _dev("float16-cce-prob-grad-overflow",
         "From probabilities over many classes (257, --sweep's wide batch), the float16 gradient is NaN in every "
         "entry: one -1/p intermediate of the log's gradient overflows to -inf and the renormalisation's "
         "Jacobian (a row sum) spreads inf - inf = NaN across the row; the exact gradient is finite.",
         {"loss": "categorical_crossentropy", "form": "function:none", "dtype": "float16", "kind": "grad",
          "case": "gen.wide.from_logits=False*"},
         "nan", f"categorical_crossentropy in {TF_NN_PY}; _LogGrad in tensorflow/python/ops/math_grad.py"),
    _dev("float16-sparse-prob-grad-overflow",
         "From probabilities, sparse CE differentiates log(clip(p)) with TensorFlow's Log gradient grad * (1/p); "
         "1/p overflows float16 for p < 1.53e-5 (gen.small has p = 1.55e-6), giving inf where the reference "
         "gradient (c/sum(c) - onehot)/c is 1.0000487.",
         {"loss": "sparse_categorical_crossentropy", "form": "function:none", "dtype": "float16", "kind": "grad",
          "case": "gen.[sw]*.from_logits=False"},
         "inf", f"sparse_categorical_crossentropy in {TF_NN_PY}; _LogGrad in tensorflow/python/ops/math_grad.py"),
    # -- added with the half-precision tolerance model (docs/tolerances.md) and the reference's argument checks
    _dev("accepts-invalid-arguments",
         "keras.losses computes with arguments outside their domain instead of refusing them: huber(delta=-1) "
         "gives -2.25 for y = [0, 0], p = [0.5, 3] (a negative loss) and delta=0 gives 0; label_smoothing 1.5 or "
         "-0.5 is applied as given (categorical CE from logits 1.714 / 0.0477, from probabilities 1.407; binary CE "
         "0.904 / 0.277).  The reference raises ValueError naming the argument.",
         {"case": "edge.args.*", "kind": "edge"},
         "value", f"huber, categorical_crossentropy, binary_crossentropy in {LOSSES_PY} (no argument checks); measured"),
    _dev("computes-in-half-precision",
         "In float16 and bfloat16 the keras.losses / keras.activations functions and the tf.nn ops round every "
         "operation to the input's dtype on the CPU, not float32 arithmetic with one final rounding. log_softmax "
         "rounds x - max, log(sum exp) and their difference each (reproduced in 90% of 10000 entries): up to 8.1 "
         "ulps (float16) / 4.2 (bfloat16) of results >= 1/16 and 0.85 u / 1.2 u absolutely near 0 (38 and 156 "
         "ulps of results of -0.02 and -0.005); sparse CE from probabilities 8.6 ulps (bfloat16); poisson 3.3; "
         "KL 2.0; softmax 2.2; categorical CE 1.8; the others 0.5-1.5 (--sweep plan, ulps of the result).  "
         "Judged by the bound of a computation in the half dtype (native model, probabilistic gamma). "
         "tf.nn.softmax_cross_entropy_with_logits rounds once and keeps the one-rounding bound; the Loss classes "
         "compute in float32.",
         {"binding": ("binary_crossentropy", "binary_crossentropy@tf.nn", "categorical_crossentropy",
                      "categorical_hinge", "hinge", "huber", "kl_divergence", "log_softmax", "log_softmax@tf.nn",
                      "log_cosh", "mean_absolute_error", "mean_squared_error", "poisson", "sigmoid",
                      "mean_absolute_percentage_error", "categorical_generalized_cross_entropy", "sigmoid@tf.nn", "softmax",
                      "categorical_focal_crossentropy", "cosine_similarity", "binary_focal_crossentropy",
                      "dice", "tversky", "softmax@tf.nn", "sparse_categorical_crossentropy", "sparse_categorical_crossentropy@tf.nn",
                      "squared_hinge"),
          "form": ("function:*", "tfnn:*"), "dtype": ("float16", "bfloat16"), "kind": ("value", "edge")},
         "half-arithmetic", f"TensorFlow's CPU kernels for Eigen::half / bfloat16; {LOSSES_PY}, {TF_NN_PY}; measured "
                            "(tests/meta/half_precision_survey.py --sweep)"),
)


# --------------------------------------------------------------------------------------------------------------
# Lazy TensorFlow loading


@dataclass(frozen=True)
class _Runtime:
    tf: Any
    keras: Any
    np_dtypes: Mapping[str, Any]
    gpu: bool
    onednn: str
    version: str = ""  # the Keras release, when the module does not say (TensorFlow 2.15's tf.keras)


def keras_version(rt: Any) -> str:
    """The Keras release a runtime runs (``rt.version``, else its module's ``__version__``)."""
    return str(getattr(rt, "version", "") or rt.keras.__version__)


def _prepare_environment() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow as shipped: TF_ENABLE_ONEDNN_OPTS is left as the user has it (unset: oneDNN custom ops ON on
    # x86 Linux builds).  Whatever state TensorFlow runs in is read back (onednn_state) and the declarations
    # follow it (DEVIATIONS entries with settings=), so a verdict never depends on who imported TensorFlow
    # first; the other state runs in its own process (adapters.variants: "tf-onednn-off").
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def onednn_state(tf: Any) -> str:
    """``"on"`` / ``"off"``: whether this process's TensorFlow runs its oneDNN custom ops, as TensorFlow itself
    reports it (``IsMklEnabled``, which reads ``TF_ENABLE_ONEDNN_OPTS`` once, when TensorFlow loads; setting
    the variable later changes nothing); ``"unknown"`` when TensorFlow does not say."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # noqa: PLC0415
        return "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except Exception:  # noqa: BLE001 - an internal module: a TensorFlow without it does not say
        return "unknown"


def _other_backend() -> str | None:
    """The Keras backend this process is set up for when it is not TensorFlow, without importing Keras."""
    if "keras" in sys.modules:
        try:
            backend = sys.modules["keras"].backend.backend()
        except Exception:  # noqa: BLE001 - a half-imported keras: let the import below say what is wrong
            return None
    else:
        backend = os.environ.get("KERAS_BACKEND") or "tensorflow"
    return None if backend == "tensorflow" else backend


@functools.lru_cache(maxsize=1)
def _load() -> _Runtime | str:
    """Import TensorFlow and Keras once; a string is the reason they cannot be used."""
    other = _other_backend()
    if other is not None:  # Keras 3 takes one backend per process: this one is another's
        return (f"Keras 3 runs one backend per process and this one's is {other!r} (KERAS_BACKEND): the "
                f"TensorFlow backend runs in its own process (python -m reports runs every variant)")
    _prepare_environment()
    try:
        import tensorflow as tf  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        return f"tensorflow is not installed: {describe(exc)}"
    try:
        import keras  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001
        return f"keras is not installed: {describe(exc)}"
    if not str(getattr(keras, "__version__", "0")).startswith("3"):
        return f"keras {keras.__version__} is not Keras 3"
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return f"keras was imported with the {backend!r} backend before this adapter (KERAS_BACKEND)"
    onednn = onednn_state(tf)
    # Not tf.config.experimental.enable_op_determinism(): it swaps in other kernels (sparse softmax cross
    # entropy becomes log_softmax + gather, returning NaN instead of raising for bad labels), so the suite
    # would check a code path users do not run.  The CPU kernels used here are deterministic as they are.
    try:
        tf.get_logger().setLevel("ERROR")
    except Exception:  # noqa: BLE001
        pass
    try:
        import ml_dtypes  # noqa: PLC0415
        bf16 = ml_dtypes.bfloat16
    except ImportError:  # TensorFlow ships its own bfloat16 NumPy type
        bf16 = tf.bfloat16.as_numpy_dtype
    np_dtypes = {"float16": np.float16, "bfloat16": bf16, "float32": np.float32, "float64": np.float64}
    try:
        gpu = bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001
        gpu = False
    return _Runtime(tf=tf, keras=keras, np_dtypes=np_dtypes, gpu=gpu, onednn=onednn)


def _label(rt: _Runtime) -> str:
    """The release, as :class:`adapters.protocol.Unsupported` reasons name it."""
    return f"keras {rt.keras.__version__}"


def _runtime() -> _Runtime:
    rt = _load()
    if isinstance(rt, str):
        raise RuntimeError(rt)
    return rt


@functools.lru_cache(maxsize=512)
def _loss_object(klass: str, kwargs: tuple[tuple[str, Any], ...], reduction: str):
    """Loss objects are cached: one per (class, arguments, reduction), with Keras's default dtype policy."""
    rt = _runtime()
    try:
        return lookup(rt.keras.losses, klass, label=_label(rt))(reduction=reduction, **dict(kwargs))
    except ValueError as exc:  # Keras 3.0 has no "mean_with_sample_weight": an API the release lacks
        if "reduction" in str(exc) and reduction in str(exc):
            raise Unsupported(f"{_label(rt)}: {klass} has no reduction {reduction!r}") from exc
        raise


# --------------------------------------------------------------------------------------------------------------
# The adapter


def _plain(value: Any) -> Any:
    """Reference keyword values as plain Python scalars (NumPy scalars from TOML/JSON loaders)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class KerasAdapter:
    """Runs reference losses through Keras 3 on TensorFlow (see the module docstring)."""

    name = "keras"
    bindings: Mapping[str, Binding] = BINDINGS
    conventions: Mapping[str, Convention] = CONVENTIONS
    # The keras releases this adapter is written for and verified on (the version matrix, noxfile.py): an
    # API one of them lacks is the adapter's fault; another release lacking it is a skip with the reason.
    written_for = WRITTEN_FOR

    @property
    def deviations(self) -> tuple[Deviation, ...]:
        """:data:`DEVIATIONS` that hold under this process's settings (oneDNN on or off, as TensorFlow reports
        it); all of them while TensorFlow is not loaded (listing them imports nothing)."""
        loaded = _load.cache_info().currsize > 0 and not isinstance(_load(), str)
        return active(DEVIATIONS, self.settings() if loaded else None)

    # ---- environment ---------------------------------------------------------------------------------------
    def available(self) -> str | None:
        rt = _load()
        return rt if isinstance(rt, str) else None

    def versions(self) -> dict[str, str]:
        rt = _load()
        if isinstance(rt, str):
            return {}
        return {"keras": str(rt.keras.__version__), "tensorflow": str(rt.tf.__version__),
                "keras_backend": rt.keras.backend.backend(),
                "onednn": rt.onednn}

    def settings(self) -> dict[str, str]:
        """The process-level settings this adapter runs under (the results file's ``run.settings``): the
        versions, the backend and oneDNN (``"on"`` as TensorFlow ships, ``"off"`` with
        ``TF_ENABLE_ONEDNN_OPTS=0`` set before TensorFlow loads)."""
        found = dict(self.versions())
        if found:
            found["version"] = self.version()
            found["family"] = "keras"  # the Keras API: reports.variants lines it up with tf_keras, keras_jax...
            # What `tf.keras` / `keras` means on this install (reports.changes follows it across versions).
            found["lane"] = "keras"
        return found

    def release(self) -> str | None:
        """The keras release the ``versions=`` of this adapter's declarations name (None: not loaded)."""
        return self.versions().get("keras") if _load.cache_info().currsize else None

    def version(self) -> str:
        v = self.versions()
        if not v:
            return "unavailable"
        return f"keras {v['keras']} / tensorflow {v['tensorflow']}"

    def devices(self) -> list[str]:
        rt = _load()
        if isinstance(rt, str):
            return []
        return ["cpu", "gpu"] if rt.gpu else ["cpu"]

    def device_name(self, device: str) -> str:
        rt = _load()
        if isinstance(rt, str):
            return device
        if device == "gpu" and rt.gpu:
            try:
                details = rt.tf.config.experimental.get_device_details(rt.tf.config.list_physical_devices("GPU")[0])
                return str(details.get("device_name", "GPU:0"))
            except Exception:  # noqa: BLE001
                return "GPU:0"
        return "CPU:0"

    def dtypes(self) -> list[str]:
        return list(DTYPES)

    def convention_for(self, loss: str) -> str:
        return CONVENTION

    def binding_for(self, call: Call) -> Binding | None:
        key = _BY_FORM.get((call.loss, call.form))
        return BINDINGS[key] if key else None

    def supports(self, call: Call) -> bool:
        binding = self.binding_for(call)
        return binding is not None and binding.accepts(call) and call.device in (self.devices() or ["cpu"])

    def output_dtype(self, call: Call) -> str:
        """Functions return their prediction's dtype; Loss classes their dtype policy's (floatx); ``ctc`` returns
        result_type(dtype, float32): float32 for half inputs, float64 for float64."""
        back = call.api == "tfnn" or (call.api == "function" and call.dtype == "float64")
        if call.loss in COMPUTES_FLOAT32 and back:
            return call.dtype  # tf.nn.ctc_loss, and keras.losses.ctc on float64, cast the float32 loss back
        return self.compute_dtype(call)

    def compute_dtype(self, call: Call) -> str:
        """The dtype the call computes in: a Loss class casts its inputs to ``keras.config.floatx()``;
        ``mean_squared_logarithmic_error`` takes ``maximum`` with a float32 epsilon, which promotes float16 and
        bfloat16 inputs to float32 (and returns float32); ``ctc`` computes in float32 (COMPUTES_FLOAT32)."""
        if call.api == "class":
            return _runtime().keras.config.floatx()
        if call.loss in COMPUTES_FLOAT32:
            return "float32"
        if call.loss in PROMOTES_HALF and call.dtype in ("float16", "bfloat16"):
            return "float32"
        return call.dtype

    # ---- running -------------------------------------------------------------------------------------------
    def run(self, call: Call) -> Outcome:
        return timed(lambda: self._run(call))

    def run_callable(self, fn: Callable[..., Any], call: Call, wrt: str | None) -> Outcome:
        """Run a user's TensorFlow function ``fn(**tensors)`` on the call's inputs (float inputs as
        ``tf.constant`` of the call's dtype, labels in their own dtype) and its ``tf.GradientTape`` gradient
        w.r.t. ``wrt`` (``lossparity.check_loss``)."""
        return timed(lambda: run_tf_callable(_runtime(), fn, call, wrt))

    def _run(self, call: Call) -> Outcome:
        rt = _runtime()
        tf = rt.tf
        key = _BY_FORM.get((call.loss, call.form))
        if key is None:
            raise ValueError(f"keras adapter has no binding for loss {call.loss!r} in form {call.form!r}")
        binding = BINDINGS[key]
        if call.dtype not in rt.np_dtypes:
            raise TypeError(f"unsupported dtype {call.dtype!r}")
        spec = _SPECS[call.loss]
        api, reduction = call.api, call.reduction
        np_dtype = rt.np_dtypes[call.dtype]
        args = {**REQUIRED_DEFAULTS.get(call.loss, {}),
                **{name: _plain(value) for name, value in call.args.items() if name != "axis"}}

        pred_np = np.asarray(call.inputs[spec.pred])
        axis = call.args.get("axis", -1)
        if call.loss in AXES_AS_GIVEN:
            args["axis"] = passed_axis(axis)
            axis = -1
        axis = int(axis) if axis is not None else -1
        # An API that takes a class axis gets it as given, so its own handling of that axis shows (Keras
        # divides label smoothing by the last axis's size whatever ``axis`` says); only an API without
        # one sees the class axis moved last, a pure layout translation.
        if axis not in (-1, pred_np.ndim - 1) and _takes_axis(rt, spec, api):
            args["axis"] = axis
            axis = -1
        moved = pred_np.ndim > 0 and axis not in (-1, pred_np.ndim - 1)
        if moved:
            pred_np = np.moveaxis(pred_np, axis, -1)
        pred_np = pred_np.astype(np_dtype)

        true_np = None
        if spec.true is not None:
            true_np = np.asarray(call.inputs[spec.true]) if spec.translate is None else spec.translate(call.inputs)
            if spec.true == "labels":
                pass  # labels keep their own dtype (ints; a float array stays float): the framework reacts
            else:
                if moved and true_np.ndim == np.asarray(call.inputs[spec.pred]).ndim:
                    true_np = np.moveaxis(true_np, axis, -1)
                true_np = true_np.astype(np_dtype)

        device = "/GPU:0" if call.device == "gpu" else "/CPU:0"
        with tf.device(device), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = tf.constant(pred_np)
            true = tf.constant(true_np) if true_np is not None else None
            weight = call.inputs.get("sample_weight")
            weight = None if weight is None else tf.constant(np.asarray(weight).astype(np_dtype))
            if key == "ctc_loss@tf.nn":
                true = tf.constant(np.asarray(call.inputs["labels"]))  # as given: label_length says what is used
                fn = _tfnn_ctc(rt, call, args)
            else:
                fn = self._callable(rt, binding, spec, api, reduction, call.dtype, args, weight)
            if call.grad:
                binding.wrt(call)  # refuses an input the binding does not differentiate
                source = true if on_target(call, spec) else pred
                with tf.GradientTape() as tape:
                    tape.watch(source)
                    out = fn(true, pred)
                    if call.cotangent is None:
                        total = tf.reduce_sum(out)
                    else:
                        seed = np.asarray(call.cotangent)
                        seed = np.moveaxis(seed, axis, -1) if moved and spec.activation else seed
                        total = tf.reduce_sum(out * tf.cast(tf.constant(seed), out.dtype))
                grad = tape.gradient(total, source)
            else:
                out = fn(true, pred)
                grad = None

        value = np.asarray(out.numpy()).astype(np.float64)
        if moved and spec.activation:
            value = np.moveaxis(value, -1, axis)
        grad_np = None
        grad_dtype = None
        if grad is not None:
            grad_dtype = grad.dtype.name
            grad_np = np.asarray(grad.numpy()).astype(np.float64)
            if moved:
                grad_np = np.moveaxis(grad_np, -1, axis)
        return Outcome(value=value, grad=grad_np, dtype=out.dtype.name, grad_dtype=grad_dtype)

    @staticmethod
    def _callable(rt: _Runtime, binding: Binding, spec: _Spec, api: str, reduction: str, dtype: str,
                  args: dict[str, Any], sample_weight=None) -> Callable[[Any, Any], Any]:
        tf, keras = rt.tf, rt.keras
        if api == "tfnn":
            if reduction != "none":
                raise ValueError(f"tf.nn forms are unreduced; got reduction {reduction!r}")
            op = lookup(tf.nn, spec.tfnn, label=_label(rt))
            if spec.activation:
                return lambda true, pred: op(pred)
            if not args.get("from_logits", False):
                raise ValueError("tf.nn cross-entropies take logits only (from_logits=True)")
            return lambda true, pred: op(labels=true, logits=pred)
        if api == "function":
            if reduction != "none":
                raise ValueError(f"functional losses are unreduced; got reduction {reduction!r}")
            if spec.activation:
                op = lookup(keras.activations, spec.function, label=_label(rt))
                return lambda true, pred: op(pred)
            op = lookup(keras.losses, spec.function, label=_label(rt))
            if spec.true == "p":  # kl_divergence(p, q) -> keras.losses.kl_divergence(y_true=p, y_pred=q)
                return lambda true, pred: op(y_true=true, y_pred=pred)
            return lambda true, pred: op(true, pred, **args)
        if api == "class":
            obj = _loss_object(spec.klass, tuple(sorted(args.items())), reduction)
            if sample_weight is not None:
                return lambda true, pred: obj(true, pred, sample_weight=sample_weight)
            return lambda true, pred: obj(true, pred)
        raise ValueError(f"unknown API form {api!r}")


def _tfnn_ctc(rt: _Runtime, call: Call, args: Mapping[str, Any]) -> Callable[[Any, Any], Any]:
    """tf.nn.ctc_loss on the call's labels and logits (batch-major), with its lengths and blank index."""
    tf = rt.tf
    op = lookup(tf.nn, "ctc_loss", label=_label(rt))
    label_length = tf.constant(np.asarray(call.inputs["label_lengths"]).astype(np.int32))
    logit_length = tf.constant(np.asarray(call.inputs["logit_lengths"]).astype(np.int32))
    return lambda true, pred: op(labels=true, logits=pred, label_length=label_length, logit_length=logit_length,
                                 logits_time_major=False, blank_index=int(args.get("blank", 0)))


def _takes_axis(rt: _Runtime, spec: _Spec, form: str) -> bool:
    """Whether the public Keras API for this form has an ``axis`` parameter."""
    if form == "function" and not spec.activation:
        target = lookup(rt.keras.losses, spec.function, label=_label(rt))
    elif form == "class":
        klass = lookup(rt.keras.losses, spec.klass, label=_label(rt))
        target = getattr(klass, "__wrapped__", klass).__init__
    else:
        return False
    return "axis" in inspect.signature(target).parameters


# Inputs a user's function gets in their own integer dtype (class indices, CTC's sequence lengths), as the torch and
# optax adapters hand them over.
_INTEGER_INPUTS = ("labels", "logit_lengths", "label_lengths")


def run_tf_callable(rt, fn: Callable[..., Any], call: Call, wrt: str | None) -> Outcome:
    """A user's TensorFlow function ``fn(**tensors)`` on the call's inputs (floats as ``tf.constant`` of the
    call's dtype, labels and lengths in their own dtype) and its ``tf.GradientTape`` gradient w.r.t. ``wrt``,
    seeded by the call's cotangent; ``rt`` has ``tf`` and ``np_dtypes`` (this module's and tf_keras' runtimes)."""
    tf, np_dtype = rt.tf, rt.np_dtypes[call.dtype]
    with tf.device("/GPU:0" if call.device == "gpu" else "/CPU:0"):
        tensors = {name: tf.constant(np.asarray(arr) if name in _INTEGER_INPUTS
                                     else np.asarray(arr).astype(np_dtype)) for name, arr in call.inputs.items()}
        with tf.GradientTape() as tape:
            if wrt is not None:
                tape.watch(tensors[wrt])
            out = fn(**tensors)
            seed = None if call.cotangent is None else tf.cast(tf.constant(np.asarray(call.cotangent)), out.dtype)
            total = tf.reduce_sum(out if seed is None else out * seed)
        grad = tape.gradient(total, tensors[wrt]) if wrt is not None else None
    outcome = Outcome(value=np.asarray(out.numpy()).astype(np.float64), dtype=out.dtype.name)
    if grad is not None:
        outcome.grad, outcome.grad_dtype = np.asarray(grad.numpy()).astype(np.float64), grad.dtype.name
    return outcome


ADAPTER = KerasAdapter()
