"""Keras 2 adapter (``tf_keras``): reference losses -> ``tf_keras.losses`` / ``tf_keras.activations``.

``tf_keras`` is Keras 2 as a package of its own: what ``tf.keras`` is under ``TF_USE_LEGACY_KERAS=1`` (the same
module objects), and what TensorFlow 2.0-2.15 shipped as ``tf.keras``, so it is what printed the numbers of
the documents that ran TensorFlow 2.x.  tf-keras 2.21.0 installs beside tensorflow 2.21.0 (it requires the
``tensorflow`` distribution; see constraints.txt) and imports in the same process as Keras 3: the adapter
calls ``tf_keras`` directly, whatever ``tf.keras`` points to.

The translation is :class:`adapters.keras_api.KerasAPIAdapter`'s (the Keras 3 adapter's bindings, less the
``tf.nn`` forms, which are TensorFlow's and checked by the ``keras`` adapter, and less the Loss-class
reduction ``mean_with_sample_weight``, which Keras 2 does not have).  What tf_keras does that the
mathematics does not is the ``"keras2"`` convention (:data:`KERAS2`), read from tf_keras 2.21.0's own
sources (``tf_keras/src/backend.py``, ``tf_keras/src/losses.py``) and measured on the real package
(every flag has a witness: ``pytest --framework tf_keras -m convention``).  Two things differ from Keras 3
without being a flag of the reference: Keras 2's Loss classes compute in the inputs' dtype (Keras 3's cast
to floatx), and ``huber`` casts both inputs to ``floatx()`` (float32) whatever their dtype
(:meth:`TfKerasAdapter.compute_dtype` says so).

TensorFlow is imported lazily; TensorFlow's process-level settings (oneDNN) are read back as for the
``keras`` adapter (:func:`adapters.keras.onednn_state`).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from adapters import keras as _keras
from adapters.keras_api import KerasAPIAdapter, derived_bindings
from adapters.protocol import Call, Deviation, Outcome, describe, lookup, timed
from reference import Convention
from reference import conventions as C

NAME = "tf_keras"
CONVENTION = "keras2"
# Loss-class reductions Keras 2 has (tf_keras/src/utils/losses_utils.py ReductionV2: AUTO = SUM_OVER_BATCH_SIZE).
REDUCTIONS = ("none", "sum", "sum_over_batch_size")
MEASURED = "tf_keras 2.21.0 / tensorflow 2.21.0"
# Verified by the version matrix (noxfile.py): TensorFlow 2.15.1's built-in tf.keras (keras 2.15.0, set tf215)
# and tf_keras 2.21.0 (pinned).
TF_KERAS_VERSIONS = ">=2.15,<2.22"

# ---------------------------------------------------------------------------------------------------------
# The "keras2" convention, read from tf_keras 2.21.0 (the Keras 2 line: TF 2.0-2.15's tf.keras has the same
# loss bodies) and witnessed on the installed package.
_K2 = "tf_keras 2.21.0"
_BACKEND = f"tf_keras/src/backend.py ({_K2})"
_LOSSES = f"tf_keras/src/losses.py ({_K2})"
_V = "<2.22"  # every Keras 2 (tf.keras of TF 2.x, tf_keras 2.x)

KERAS2 = Convention(
    "keras2", "Keras 2: tf_keras (tf.keras of TF <= 2.15; tf.keras under TF_USE_LEGACY_KERAS=1 since).", [
        C.ctc_probability_epsilon(
            1e-7, source=f"ctc_batch_cost in {_BACKEND}", versions=_V,
            detail="y_pred = tf.math.log(transpose(y_pred) + epsilon()) is fed to tf.compat.v1.nn.ctc_loss as its "
                   "'inputs' (logits: the CTCLoss op normalises them with its own softmax)."),
        C.prob_clip(1e-7, source=f"categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy "
                                 f"in {_BACKEND}; binary_focal_crossentropy, categorical_focal_crossentropy in {_BACKEND}",
                    versions=_V, applies_to=C.PROB_LOSSES + C.FOCAL_LOSSES,
                    detail="epsilon_ = _constant_to_tensor(epsilon(), output.dtype.base_dtype); "
                           "tf.clip_by_value(output, epsilon_, 1 - epsilon_)."),
        C.clip_after_activation(
            source=f"categorical_focal_crossentropy in {_BACKEND}", versions=_V,
            applies_to=("categorical_focal_crossentropy",),
            detail="tf.nn.softmax(output), output / reduce_sum, clip_by_value (binary_focal_crossentropy from "
                   "logits calls binary_crossentropy(from_logits=True): tf.nn.sigmoid_cross_entropy_with_logits)."),
        C.cce_renormalize(source=f"categorical_crossentropy, categorical_focal_crossentropy in {_BACKEND}", versions=_V,
                          applies_to=("categorical_crossentropy", "categorical_focal_crossentropy"),
                          detail="output = output / tf.reduce_sum(output, axis, True), then the clip."),
        C.sparse_renormalize(
            "after_clip", source=f"sparse_categorical_crossentropy in {_BACKEND}", versions=_V,
            detail="output = tf.math.log(clip(output)) is fed to tf.nn.sparse_softmax_cross_entropy_with_logits, "
                   "which renormalises implicitly."),
        C.bce_log_epsilon(1e-7, source=f"binary_crossentropy, binary_focal_crossentropy in {_BACKEND}", versions=_V,
                          applies_to=("binary_crossentropy", "binary_focal_crossentropy"),
                          detail="bce = target * tf.math.log(output + epsilon()) + (1 - target) * "
                                 "tf.math.log(1 - output + epsilon()), after the clip (Keras 3 dropped the "
                                 "+ epsilon: 2.3025851 for bce([1], [0.1]))."),
        C.bce_logits_formula(
            "tf", source=f"binary_crossentropy in {_BACKEND} (tf.nn.sigmoid_cross_entropy_with_logits)",
            versions=_V, detail="max(x,0) - x*y + log1p(exp(-|x|)): NaN at (x=-inf, y=0) and (x=+inf, y=1)."),
        C.zero_times_inf_nan(
            ("categorical_crossentropy",),
            source=f"categorical_crossentropy in {_BACKEND} (tf.nn.softmax_cross_entropy_with_logits)",
            versions=_V, detail="From logits the op evaluates 0 * log_softmax = 0 * -inf."),
        C.target_shape_alignment(
            "broadcast", source=f"mean_squared_error, binary_crossentropy in {_LOSSES} (no squeeze or expand in the "
                                f"functions nor in LossFunctionWrapper); measured", versions=_V,
            detail="Keras 2 broadcasts silently (Keras 3 expands the rank): BCE 0.88684464 where the per-sample loss "
                   "gives 0.33753881."),
        C.ignored_mean_divides_by_kept(
            source=f"sparse_categorical_crossentropy in {_LOSSES} (ignore_class, _keras_mask); apply_valid_mask in "
                   f"tf_keras/src/utils/losses_utils.py; measured", versions=_V,
            detail="sum_over_batch_size divides by the kept samples as Keras 3 does."),
        C.kl_clip(1e-7, source=f"kl_divergence in {_LOSSES}", versions=_V,
                  detail="backend.clip(y_true, epsilon(), 1) and backend.clip(y_pred, epsilon(), 1)."),
        C.hinge_binary_labels(source=f"_maybe_convert_labels in {_LOSSES}", versions=_V,
                              detail="is_binary = tf.reduce_all(y_true == 0 or y_true == 1) over the whole tensor."),
        C.categorical_hinge_max_includes_target(source=f"categorical_hinge in {_LOSSES}", versions=_V,
                                                detail="neg = tf.reduce_max((1.0 - y_true) * y_pred, axis=-1)."),
        C.hinge_kink_grad(
            1.0, source=f"hinge, squared_hinge, categorical_hinge in {_LOSSES}; _MaximumGrad in "
                        "tensorflow/python/ops/math_grad.py (TF 2.21)", versions=_V,
            detail="tf.maximum(x, 0) sends the whole gradient to x at the tie (its gradient mask is x >= y)."),
        C.poisson_log_epsilon(1e-7, source=f"poisson in {_LOSSES}", versions=_V,
                              detail="y_pred - y_true * tf.math.log(y_pred + backend.epsilon())."),
        C.log_floor(1e-7, source=f"mean_squared_logarithmic_error in {_LOSSES}", versions=_V,
                    detail="tf.math.log(backend.maximum(y, backend.epsilon()) + 1.0) for y_pred and y_true; "
                           "tf.maximum forms the Python 1e-7 in the input's dtype (Keras 3: float32(1e-7))."),
        C.percentage_floor(1e-7, source=f"mean_absolute_percentage_error in {_LOSSES}", versions=_V,
                           detail="100 * mean(abs((y_true - y_pred) / backend.maximum(abs(y_true), epsilon())))."),
        C.log_cosh_log2(
            float.fromhex("0x1.62e4300000000p-1"), source=f"log_cosh in {_LOSSES}", versions=_V,
            detail="x + tf.math.softplus(-2.0 * x) - tf.cast(tf.math.log(2.0), x.dtype): log 2 computed in float32 "
                   "(0.6931471824645996); float64 log_cosh(0, 0) = -1.9046543e-09, every float64 value 1.9e-9 low."),
        C.similarity_negated(source=f"cosine_similarity in {_LOSSES}", versions=_V,
                             detail="-tf.reduce_sum(y_true * y_pred, axis=axis) of the l2-normalised inputs."),
        C.cosine_squared_norm_floor(
            1e-12, source=f"cosine_similarity in {_LOSSES}; l2_normalize in tensorflow/python/ops/nn_impl.py (TF 2.21)",
            versions=_V, detail="tf.linalg.l2_normalize(x, axis) = x * rsqrt(maximum(reduce_sum(square(x)), 1e-12)) "
                                "(Keras 3 caps the inverse norm at 1/1e-7 instead: a norm floor 10x lower)."),
    ], {
        "smoothing": "categorical_crossentropy's label smoothing divides by tf.shape(y_true)[axis], the class "
                     f"axis's size (Keras 3 divides by the last axis's size): _smooth_labels in {_LOSSES}.",
        "dtype": "Loss classes compute in the inputs' dtype (compute_weighted_loss casts only non-float losses); "
                 f"huber casts y_true, y_pred and delta to backend.floatx() (float32) first: huber in {_LOSSES}.",
        "reduction": "Loss classes default to reduction AUTO = SUM_OVER_BATCH_SIZE "
                     f"(tf_keras/src/utils/losses_utils.py, {_K2}).",
        "logits_from_softmax": "_get_logits: a y_pred that is a graph tensor made by a Softmax/Sigmoid op (or carries "
                               "_keras_logits) is replaced by its logits; eager tensors, as here, are not.",
        "sparse_axis": "sparse_categorical_crossentropy transposes `axis` to last before the op.",
    })

CONVENTIONS: Mapping[str, Convention] = MappingProxyType({KERAS2.name: KERAS2})

# tf_keras.activations has softmax and sigmoid but no log_softmax (tf_keras/src/activations.py).
# categorical_generalized_cross_entropy, dice and tversky are Keras 3 only (tf_keras 2.21 has none: no dice or
# tversky in tf_keras/src/losses.py nor in tf_keras.losses), and so is the ctc loss (tf_keras has only
# tf_keras.backend.ctc_batch_cost, a backend utility: probabilities, blank = the last class).
MISSING = ("log_softmax", "categorical_generalized_cross_entropy", "dice", "tversky", "ctc_loss")
BINDINGS = derived_bindings(CONVENTION, "tf_keras",
                            forms=lambda form: form == "function:none" or form.split(":", 1)[1] in REDUCTIONS,
                            losses=lambda loss: loss not in MISSING)


def _ctc_batch_cost_takes(call: Call) -> bool:
    """ctc_batch_cost's blank is the last class (tf.compat.v1.nn.ctc_loss), and its op refuses an empty target
    ('Labels length is zero'): it takes a batch whose ``blank`` is C - 1 and every label length at least 1."""
    classes = np.shape(call.inputs["logits"])[-1] if "logits" in call.inputs else None
    return (classes is not None and int(call.args.get("blank", 0)) == classes - 1
            and bool(np.all(np.asarray(call.inputs.get("label_lengths", [0])) >= 1)))


# Keras 2 has no CTC loss function or class: its CTC is the backend function the Keras 2 examples train with.
# Bindings that call a tf_keras.backend function (no keras.losses function or class): key -> its attribute name.
BACKEND_FUNCTIONS: Mapping[str, str] = MappingProxyType({"ctc_loss@ctc_batch_cost": "ctc_batch_cost"})
BINDINGS["ctc_loss@ctc_batch_cost"] = _keras.KerasBinding(
    loss="ctc_loss", api="tf_keras.backend.ctc_batch_cost(y_true=labels, y_pred=tf.nn.softmax(logits) (probabilities, "
    "the softmax taken in TensorFlow in the call's dtype), input_length=logit_lengths[:, None], "
    "label_length=label_lengths[:, None]) (its (B, 1) output squeezed); the blank is the last class (blank = C - 1 "
    "only); every label length at least 1", forms=("backend:none",), convention=CONVENTION, granularity="sample",
    args=("blank",), grad_wrt="logits", needs=_ctc_batch_cost_takes)


def _dev(name: str, summary: str, when: Mapping[str, Any], shows: str, source: str,
         settings: Mapping[str, Any] | None = None) -> Deviation:
    return Deviation(name=name, summary=summary, when=dict(when), shows=shows, versions=TF_KERAS_VERSIONS,
                     source=source, settings=dict(settings or {}))


_DENORMAL = "tensorflow/core/platform/denormal.h (ScopedFlushDenormal around CPU kernels); measured"
# The Keras 3 adapter's fuzz counterexamples: found there, replayed through every adapter of the loss.
_FUZZ = "fuzz.keras."

# Measured with tf_keras 2.21.0 / tensorflow 2.21.0 on CPU against reference/ under "keras2" (default matrix,
# edge battery), oneDNN on and off (``settings`` says which state a deviation needs).
DEVIATIONS: tuple[Deviation, ...] = (
    _dev("ctc-batch-cost-float64-inexact",
         "ctc_batch_cost on float64 is not float64-accurate: the CTCLoss op (tf.compat.v1.nn.ctc_loss) returns losses "
         "2.5e-8 off (7e6 ulps, about 2.5e-9 relative) and gradients 6.5e-8 off on the core batch; the op alone, on "
         "float64 logits, is 3.1e-8 off a loss of 5.36 (float32: 3.3e-7). Its float64 kernel rounds something to "
         "lower precision (compiled code, not read).",
         {"binding": "ctc_loss@ctc_batch_cost", "dtype": "float64", "kind": ("value", "grad")}, "differs",
         f"ctc_batch_cost in {_BACKEND} -> tf.compat.v1.nn.ctc_loss (tensorflow/python/ops/ctc_ops.py ctc_loss -> "
         "gen_ctc_ops.ctc_loss, the compiled CTCLoss kernel, tensorflow 2.21.0); measured"),
    _dev("class-expands-target-rank",
         "The Loss classes, given tensors, squeeze or expand a target of shape (N,) against a prediction of shape "
         "(N, 1) (LossFunctionWrapper.call: squeeze_or_expand_dimensions when both are tensors) where the functions "
         "broadcast (target_shape_alignment): MeanSquaredError 0.0925 and BinaryCrossentropy 0.33753881 on y_true "
         "[1, 0, 1, 0], y_pred [[.9], [.2], [.6], [.4]] as tensors, 0.3175 and 0.88684464 given NumPy arrays or "
         "through the functions.",
         {"case": "edge.*.target-rank-one-less.mean", "form": "class:*", "kind": "edge"}, "differs",
         f"LossFunctionWrapper.call in {_LOSSES}; squeeze_or_expand_dimensions in tf_keras/src/utils/losses_utils.py; "
         f"measured"),
    _dev("focal-gamma-zero-grad-nan",
         "binary_focal_crossentropy with gamma = 0 (plain BCE) has a NaN gradient wherever p = y exactly: ops.power(1 - p_t, 0) at 1 - p_t = 0 differentiates as 0 * 0^-1 = 0 * inf (the value, 0^0 = 1, is right; the reference gradient there is BCE's, [0.5, -0.5] for y = [0, 1], p = [0, 1]).",
         {"loss": "binary_focal_crossentropy", "case": "edge.focal.gamma-zero-grad", "kind": "grad"}, "nan",
         f"binary_focal_crossentropy in {_BACKEND}; _PowGrad in tensorflow/python/ops/math_grad.py (TF 2.21); measured"),
    _dev("float16-sum-overflow",
         "float16 intermediates overflow where the result is representable: MSE squares 300 (90000 > 65504), the "
         "mean over the class axis of BCE from huge logits and the class's sum_over_batch_size of two sparse "
         "losses of 40000 are summed in float16 (inf); Keras 3 squares in float16 too but sums in float32.",
         {"case": ("edge.mse.float16-overflow", "edge.bce-logits.float16-huge",
                   "edge.scce-logits.float16-mean-of-representable-losses"), "dtype": "float16", "kind": "edge"},
         "inf", f"mean_squared_error, binary_crossentropy in {_LOSSES}; mean in {_BACKEND}"),
    _dev("flushes-subnormals",
         "TensorFlow runs CPU kernels with subnormals flushed to zero (float64 too): the Keras 3 adapter's fuzz "
         "counterexamples show it here as well (MAE gradient at y_pred = 5e-324 is -0.0, reference 1; categorical "
         "hinge at 1.1e-308; float16 BCE gradient at p = 1.19e-7, y = 0 is NaN).",
         {"case": (_FUZZ + "mean_absolute_error.6e20697dc54b", _FUZZ + "categorical_hinge.fa10d68c0451",
                   _FUZZ + "binary_crossentropy.9f1ba924cb5a"), "kind": "grad"}, "differs", _DENORMAL),
    _dev("flushes-subnormals-kl",
         "The same flushing in float16 KL: q = 8.3e-7 (subnormal in float16) counts as 0 before the clip, so p/q "
         "overflows to inf (reference 6.31) and the gradient is NaN where it is inf; the clip's own bound, 1e-7, is "
         "subnormal in float16 and flushed too, so a zero p stays 0 and its gradient is 0 * -inf = NaN (the fuzzer, "
         "Loss class in float16).",
         {"case": _FUZZ + "kl_divergence.4b1282e85953", "dtype": "float16", "kind": ("edge", "grad")}, "differs",
         _DENORMAL),
    _dev("float16-kl-grad-overflow",
         "The gradient of log(y_true / y_pred) goes through TensorFlow's RealDiv gradient (-p / q) / q, whose p / q^2 "
         "overflows float16 for small q (gen.small: q = 3.08e-5, reference -10228): -inf, in the function and, since "
         "Keras 2's Loss classes compute in float16 too, in every class form.",
         {"loss": "kl_divergence", "dtype": "float16", "kind": "grad", "case": "gen.[srw]*"},
         "inf", f"kl_divergence in {_LOSSES}; _RealDivGrad in tensorflow/python/ops/math_grad.py"),
    _dev("float16-cce-prob-grad-overflow",
         "From probabilities over many classes (257, --sweep's wide batch) the float16 gradient is NaN: one -1/p of "
         "the log's gradient overflows and the renormalisation's Jacobian spreads inf - inf across the row.",
         {"loss": "categorical_crossentropy", "dtype": "float16", "kind": "grad",
          "case": "gen.wide.from_logits=False*"},
         "nan", f"categorical_crossentropy in {_BACKEND}; _LogGrad in tensorflow/python/ops/math_grad.py"),
    _dev("float16-sparse-prob-grad-overflow",
         "From probabilities, sparse CE differentiates log(clip(p)) with TensorFlow's Log gradient 1/p, which "
         "overflows float16 for p < 1.53e-5 (gen.small: p = 1.55e-6): inf where the reference gives 1.0000487, "
         "in every form (Keras 2's classes compute in float16).",
         {"loss": "sparse_categorical_crossentropy", "dtype": "float16", "kind": "grad",
          "case": "gen.[sw]*.from_logits=False"},
         "inf", f"sparse_categorical_crossentropy in {_BACKEND}; _LogGrad in tensorflow/python/ops/math_grad.py"),
    _dev("class-sparse-unbatched-sample-zero-division",
         "tf_keras.losses.SparseCategoricalCrossentropy (the Loss class) raises ZeroDivisionError 'integer modulo by "
         "zero' for one unbatched sample (labels of rank 0, y_pred of rank 1; Keras 3's class raises IndexError), "
         "where the function returns the loss.",
         {"case": _FUZZ + "sparse_categorical_crossentropy.4cac38152628", "form": "class:*"},
         "error:ZeroDivisionError", f"SparseCategoricalCrossentropy / LossFunctionWrapper in {_LOSSES}; measured"),
    _dev("onednn-softmax-inf",
         "With oneDNN on (TensorFlow's default), softmax of float32 [[inf, 0, 1]] is [nan, 0, 0]: oneDNN's softmax "
         "kernel (_MklSoftmax, float32 and bfloat16) replaces TensorFlow's, which gives [nan, nan, nan] like the "
         "reference (inf - inf = nan in the max shift, and the NaN sum reaches every entry).",
         {"loss": "softmax", "case": "edge.softmax.plus-inf", "kind": "edge"}, "differs",
         "tensorflow/core/kernels/mkl/mkl_softmax_op.cc (_MklSoftmax, registered for float and bfloat16) against "
         "tensorflow/core/kernels/softmax_op_functor.h; measured with TF_ENABLE_ONEDNN_OPTS unset and =0",
         settings={"onednn": "on"}),
    _dev("softmax-rejects-rank-1",
         "tf_keras.activations.softmax raises ValueError 'Cannot apply softmax to a tensor that is 1D' for a rank-1 "
         "input (Keras 3's softmax takes it; found by the fuzzer, and --sweep's vector batch).",
         {"loss": "softmax", "case": "gen.vector*",
          "dtype": ("float16", "bfloat16", "float32", "float64"), "kind": ("value", "grad", "dtype")},
         "error:ValueError", f"softmax in tf_keras/src/activations.py and backend.py ({_K2})"),
    _dev("accepts-invalid-arguments",
         "tf_keras.losses computes with arguments outside their domain instead of refusing them (huber delta <= 0, "
         "label_smoothing outside [0, 1]), as Keras 3 does; the reference raises ValueError naming the argument.",
         {"case": "edge.args.*", "kind": "edge"}, "value",
         f"huber, categorical_crossentropy, binary_crossentropy in {_LOSSES} (no argument checks); measured"),
    _dev("log-cosh-half-arithmetic-edge",
         "The half-precision arithmetic of half-arithmetic below, on log-cosh's edge cases: x + softplus(-2x) - log 2 "
         "cancels to a unit-size rounding, so a float16 loss of 8.3e-9 comes out -0.000488 (the optax fuzz cases; "
         "Keras 3's function does the same, within its computes-in-half-precision).",
         {"loss": "log_cosh", "dtype": ("float16", "bfloat16"), "kind": "edge"}, "half-arithmetic",
         f"log_cosh and mean in {_LOSSES}, {_BACKEND}; measured"),
    # Last: the first declaration that covers a check judges it, and this one is the broadest.
    _dev("half-arithmetic",
         "Keras 2 computes float16/bfloat16 inputs in float16/bfloat16 itself: backend.mean is tf.reduce_mean in the "
         "input's dtype (Keras 3 averages in float32: 'tf.reduce_mean does not handle low precision overflow "
         "correctly'), and its Loss classes keep the input's dtype (Keras 3's cast to floatx). Errors up to the "
         "half-precision arithmetic bound (e.g. float16 MSE 0.00121 off where one rounding allows 0.00049).",
         {"kind": "value", "dtype": ("float16", "bfloat16")}, "half-arithmetic",
         f"mean in {_BACKEND}; compute_weighted_loss in tf_keras/src/utils/losses_utils.py ({_K2}); "
         "mean in keras/src/backend/tensorflow/numpy.py (keras 3.15.1) for the contrast"),
)


# --------------------------------------------------------------------------------------------------------------
# Lazy loading


@dataclass(frozen=True)
class _Runtime:
    tf: Any
    keras: Any  # the tf_keras module (TensorFlow <= 2.15 without it: tf.keras, Keras 2 built in)
    np_dtypes: Mapping[str, Any]
    gpu: bool
    onednn: str
    version: str = ""  # the Keras 2 release


def _builtin_keras2(tf) -> tuple[Any, str] | None:
    """``(tf.keras, its release)`` when TensorFlow's own tf.keras is Keras 2 (TensorFlow <= 2.15), else None."""
    from importlib import metadata  # noqa: PLC0415

    try:
        version = metadata.version("keras")
    except metadata.PackageNotFoundError:
        return None
    if not version.startswith("2.") or not str(tf.__version__).startswith("2.") or getattr(tf, "keras", None) is None:
        return None
    return tf.keras, version


@functools.lru_cache(maxsize=1)
def _load() -> _Runtime | str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        return f"tensorflow is not installed: {describe(exc)}"
    try:
        import tf_keras  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001
        # TensorFlow <= 2.15 has Keras 2 built in: there tf.keras *is* Keras 2 (the documents' world), the
        # `keras` 2.x distribution TensorFlow depends on (its version is that distribution's).
        builtin = _builtin_keras2(tf)
        if builtin is None:
            return f"tf_keras is not installed (pip install -c constraints.txt tf-keras): {describe(exc)}"
        tf_keras, version = builtin
    else:
        version = str(tf_keras.__version__)
    try:
        import ml_dtypes  # noqa: PLC0415
        bf16 = ml_dtypes.bfloat16
    except ImportError:
        bf16 = tf.bfloat16.as_numpy_dtype
    try:
        gpu = bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001
        gpu = False
    return _Runtime(tf=tf, keras=tf_keras, gpu=gpu, onednn=_keras.onednn_state(tf), version=version,
                    np_dtypes={"float16": np.float16, "bfloat16": bf16, "float32": np.float32, "float64": np.float64})


class TfKerasAdapter(KerasAPIAdapter):
    """Keras 2 (tf_keras) on TensorFlow, eager, gradients from ``tf.GradientTape``."""

    name = NAME
    bindings = BINDINGS
    declared = DEVIATIONS
    conventions = CONVENTIONS
    convention = CONVENTION
    # The Keras 2 releases whose every API the bindings call exists (an older one lacking one is a skip with
    # the reason: adapters.protocol.Unsupported); the declarations hold more widely (TF_KERAS_VERSIONS).
    written_for = ">=2.21,<2.22"

    def _loaded(self) -> bool:
        return _load.cache_info().currsize > 0 and not isinstance(_load(), str)

    def _reason(self) -> str | None:
        rt = _load()
        return rt if isinstance(rt, str) else None

    def _runtime(self) -> _Runtime:
        rt = _load()
        if isinstance(rt, str):
            raise RuntimeError(rt)
        return rt

    def versions(self) -> dict[str, str]:
        rt = _load()
        if isinstance(rt, str):
            return {}
        return {"tf_keras": _keras.keras_version(rt), "tensorflow": str(rt.tf.__version__), "onednn": rt.onednn}

    def builtin(self) -> bool:
        """Whether Keras 2 here is TensorFlow's own ``tf.keras`` (TensorFlow <= 2.15, no tf_keras package)."""
        return not self._runtime().keras.__name__.startswith("tf_keras")

    def api_name(self) -> str:
        if self.builtin():
            return "tf.keras.losses (Keras 2 built into TensorFlow <= 2.15)"
        return "tf_keras.losses (= tf.keras.losses with TF_USE_LEGACY_KERAS=1)"

    def version(self) -> str:
        v = self.versions()
        if not v:
            return "unavailable"
        return f"{'tf.keras' if self.builtin() else 'tf_keras'} {v['tf_keras']} / tensorflow {v['tensorflow']}"

    def settings(self) -> dict[str, str]:
        found = dict(self.versions())
        if found:
            found["version"] = self.version()
            found["family"] = "keras"
            found["api"] = self.api_name()
            # TensorFlow <= 2.15's tf.keras is what `tf.keras` / `keras` meant then (reports.changes follows
            # that API across versions); the tf_keras package is an API of its own.
            found["lane"] = "keras" if self.builtin() else "tf_keras"
        return found

    def device_name(self, device: str) -> str:
        return "GPU:0" if device == "gpu" else "CPU:0"

    def compute_dtype(self, call: Call) -> str:
        """Keras 2 computes in the inputs' dtype, Loss classes included, except ``huber``, which casts to
        ``floatx()`` (float32)."""
        if call.loss == "huber":
            return self._runtime().keras.backend.floatx()
        return call.dtype

    def _run(self, call: Call) -> Outcome:
        key = self._by_form.get((call.loss, call.form))
        if key in BACKEND_FUNCTIONS:
            return self._ctc_batch_cost(call, BACKEND_FUNCTIONS[key])
        return super()._run(call)

    def _ctc_batch_cost(self, call: Call, function: str) -> Outcome:
        """tf_keras.backend.ctc_batch_cost on softmax(logits) (TensorFlow's, in the call's dtype), with its lengths
        as (B, 1) columns; its (B, 1) output squeezed to one loss per sequence."""
        rt = self._runtime()
        tf = rt.tf
        op = lookup(rt.keras.backend, function, label=f"tf_keras {_keras.keras_version(rt)}")
        column = lambda name: tf.constant(np.asarray(call.inputs[name]).reshape(-1, 1))  # noqa: E731
        with tf.device("/GPU:0" if call.device == "gpu" else "/CPU:0"):
            logits = tf.constant(np.asarray(call.inputs["logits"]).astype(rt.np_dtypes[call.dtype]))
            labels = tf.constant(np.asarray(call.inputs["labels"]))
            with tf.GradientTape() as tape:
                tape.watch(logits)
                out = tf.squeeze(op(labels, tf.nn.softmax(logits), column("logit_lengths"), column("label_lengths")),
                                 axis=-1)
                total = tf.reduce_sum(out)
            grad = tape.gradient(total, logits) if call.grad else None
        outcome = Outcome(value=np.asarray(out.numpy()).astype(np.float64), dtype=out.dtype.name)
        if grad is not None:
            outcome.grad, outcome.grad_dtype = np.asarray(grad.numpy()).astype(np.float64), grad.dtype.name
        return outcome

    def _execute(self, rt: _Runtime, fn, true, pred, weight, seed, call: Call):
        tf = rt.tf
        with tf.device("/GPU:0" if call.device == "gpu" else "/CPU:0"):
            p = tf.constant(pred)
            t = tf.constant(true) if true is not None else None
            w = tf.constant(weight) if weight is not None else None
            if not call.grad:
                out = fn(t, p, w)
                return out.numpy(), out.dtype.name, None, None
            source = t if _keras.on_target(call, _keras._SPECS[call.loss]) else p
            with tf.GradientTape() as tape:
                tape.watch(source)
                out = fn(t, p, w)
                total = tf.reduce_sum(out if seed is None else out * tf.cast(tf.constant(seed), out.dtype))
            grad = tape.gradient(total, source)
        if grad is None:
            return out.numpy(), out.dtype.name, None, None
        return out.numpy(), out.dtype.name, grad.numpy(), grad.dtype.name

    def run_callable(self, fn, call: Call, wrt: str | None) -> Outcome:
        """Run a user's TensorFlow function ``fn(**tensors)`` (float inputs as ``tf.constant`` of the call's
        dtype, labels in their own dtype) and its ``tf.GradientTape`` gradient w.r.t. ``wrt``."""
        return timed(lambda: _keras.run_tf_callable(self._runtime(), fn, call, wrt))


ADAPTER = TfKerasAdapter()
