"""Keras 3 on its other backends: ``keras_jax`` (``KERAS_BACKEND=jax``) and ``keras_torch`` (``KERAS_BACKEND=torch``).

The same Keras code runs on another backend when a user switches ``KERAS_BACKEND``, a migration users make,
and the backends implement some losses differently: ``keras/src/backend/<backend>/nn.py`` has each
backend's cross entropies (the renormalisation comes BEFORE the clip in sparse cross entropy on jax and torch,
after it on TensorFlow; torch's sparse cross entropy is ``F.cross_entropy`` / ``F.nll_loss``, which ignore
label -100; the binary cross entropy from logits is ``-y log_sigmoid(x) - (1-y) log_sigmoid(-x)`` on jax and
``F.binary_cross_entropy_with_logits`` on torch), and the gradients come from the backend's autodiff (the
max at a hinge's kink splits ties on jax and torch, TensorFlow gives the first argument all of it).  Each
backend is declared as its own convention here (``"keras_jax"``, ``"keras_torch"``), read from Keras 3.15.1's
sources and witnessed on the installed packages.

Keras 3 takes its backend once per process (``KERAS_BACKEND`` when ``keras`` is first imported), so each
adapter is available only in a process set up for its backend, and says so otherwise (a skip with the
reason); ``python -m reports`` and the test command run each backend in its own process
(:mod:`adapters.variants`).  The adapters never set ``KERAS_BACKEND`` themselves: which adapter imports Keras
first must not decide what is tested.

Translation: :class:`adapters.keras_api.KerasAPIAdapter` (the ``keras`` adapter's bindings less ``tf.nn``).
On jax the loss and its gradient are ``jax.jit``-compiled (as Keras's own JAX trainer compiles its train
step); JAX's x64 mode is whatever the process has (off by default: float64 inputs are computed in float32,
which :meth:`KerasBackendAdapter.compute_dtype` declares).  On torch the gradient is ``torch.autograd.grad``.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from adapters import keras as _keras
from adapters.keras_api import KerasAPIAdapter, derived_bindings
from adapters.protocol import Call, Deviation, describe
from reference import Convention
from reference import conventions as C

KERAS_VERSIONS = ">=3.15,<3.16"
_K3 = "keras 3.15.1"
_LOSSES = f"keras/src/losses/losses.py ({_K3})"
_V = ">=3.0"


def _nn(backend: str) -> str:
    return f"keras/src/backend/{backend}/nn.py ({_K3})"


def _shared(backend: str) -> list[C.Flag]:
    """The flags every Keras 3 backend shares: keras/src/losses/losses.py is backend-independent, and the
    probability paths of the cross entropies clip alike."""
    nn = _nn(backend)
    return [
        C.prob_clip(1e-7, source=f"categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy "
                                 f"in {nn}; binary_focal_crossentropy, categorical_focal_crossentropy in {_LOSSES}", versions=_V,
                    applies_to=C.PROB_LOSSES + C.FOCAL_LOSSES,
                    detail=f"eps = keras.config.epsilon(); the clip is {'jnp.clip' if backend == 'jax' else 'torch.clip'}."),
        C.cce_renormalize(source=f"categorical_crossentropy in {nn}; categorical_focal_crossentropy in {_LOSSES}",
                          versions=_V, applies_to=("categorical_crossentropy", "categorical_focal_crossentropy")),
        C.clip_after_activation(
            source=f"binary_focal_crossentropy, categorical_focal_crossentropy in {_LOSSES}; binary_crossentropy in {nn}",
            versions=_V,
            detail="ops.sigmoid / ops.softmax, then the probabilities' path (off TensorFlow nothing carries the "
                   "logits along: the TensorFlow backend's _get_logits recovers them for the binary focal loss)."),
        C.sparse_renormalize(
            "before_clip", source=f"sparse_categorical_crossentropy in {nn}", versions=_V,
            detail="output / sum(output), then the clip, then the log (the TensorFlow backend clips first and "
                   "renormalises after, inside sparse_softmax_cross_entropy_with_logits)."),
        C.kl_clip(1e-7 if backend != "torch" else float(np.float32(1e-7)),
                  source=f"kl_divergence in {_LOSSES}" + ("" if backend != "torch" else
                                                          f"; clip in keras/src/backend/torch/numpy.py ({_K3})"),
                  versions=_V,
                  detail="" if backend != "torch" else
                  "ops.clip(y, epsilon(), 1) turns the Python bound into a floatx (float32) tensor first, so the bound "
                  "is float32(1e-7) = 1.0000000116860974e-07 in every dtype (KL(P1, Q1) in float64 2.5e-14 off the "
                  "TensorFlow backend's)."),
        C.hinge_binary_labels(source=f"convert_binary_labels_to_hinge in {_LOSSES}", versions=_V),
        C.categorical_hinge_max_includes_target(source=f"categorical_hinge in {_LOSSES}", versions=_V),
        C.poisson_log_epsilon(1e-7, source=f"poisson in {_LOSSES}", versions=_V),
        C.log_floor(float(np.float32(1e-7)), source=f"mean_squared_logarithmic_error in {_LOSSES}", versions=_V,
                    detail="maximum(y, convert_to_tensor(epsilon())): a float32 epsilon in every dtype."),
        C.percentage_floor(1e-7, source=f"mean_absolute_percentage_error in {_LOSSES}", versions=_V),
        C.ignored_mean_divides_by_kept(
            source=f"sparse_categorical_crossentropy in {_LOSSES} (ignore_class); apply_mask in "
                   f"keras/src/losses/loss.py ({_K3})", versions=_V),
        C.target_shape_alignment(
            "expand_rank", applies_to=("mean_squared_error",),
            source=f"squeeze_or_expand_to_same_rank in keras/src/losses/loss.py ({_K3})", versions=_V),
        C.similarity_negated(source=f"cosine_similarity in {_LOSSES}", versions=_V),
        C.overlap_denominator_epsilon(1e-7, source=f"dice, tversky in {_LOSSES}", versions=_V),
        C.tversky_weights_swapped(source=f"tversky in {_LOSSES}", versions=_V),
        C.cosine_inverse_norm_cap(1e-7, source=f"cosine_similarity in {_LOSSES}; _normalize in keras/src/ops/nn.py "
                                               f"({_K3})", versions=_V),
        C.smoothing_classes_last_axis(source=f"categorical_crossentropy in {_LOSSES}", versions=_V),
        C.zero_times_inf_nan(
            ("categorical_crossentropy",), source=f"categorical_crossentropy in {nn}", versions=_V,
            detail="From logits: -sum(target * log_softmax(output)), a literal 0 * -inf."),
    ]


KERAS_JAX = Convention(
    "keras_jax", "Keras 3 (keras.losses), JAX backend.", _shared("jax") + [
        C.hinge_kink_grad(
            "tie_split", source=f"hinge, squared_hinge, categorical_hinge in {_LOSSES} (ops.maximum / ops.max = "
                                "jnp.maximum / jnp.max); the jax.lax.max JVP (jax 0.10.2)", versions=_V,
            detail="(The TensorFlow backend gives the active branch the whole gradient.)"),
        C.abs_grad_at_zero(-1.0, source=f"mean_absolute_error, mean_absolute_percentage_error in {_LOSSES} "
                                        "(ops.abs = jnp.abs); jax abs JVP (jax 0.10.2), measured", versions=_V,
                           applies_to=("mean_absolute_error", "mean_absolute_percentage_error"),
                           detail="Keras writes mean(abs(y_true - y_pred)) (MAPE: 100 abs((y_true - y_pred) / "
                                  "max(|y_true|, eps))) and jax takes d|x|/dx = 1 at 0, so the derivative in y_pred "
                                  "is -1 there (MAPE: -100 / |y_true|, found by the fuzzer at y_true = y_pred = 1); "
                                  "TensorFlow and torch: 0."),
        C.bce_logits_formula(
            "optax", source=f"binary_crossentropy in {_nn('jax')}", versions=_V,
            detail="-target * log_sigmoid(output) - (1 - target) * log_sigmoid(-output): NaN at (x=-inf, y=0) and "
                   "(x=+inf, y=1)."),
    ], {
        "x64": "float64 inputs are computed in float32 unless JAX's x64 mode is on (jax_enable_x64 / "
               "JAX_ENABLE_X64=1): jnp arrays cannot hold float64 without it.",
        "jit": "The adapter jit-compiles the loss and its gradient, as Keras's JAX trainer compiles the train step.",
        "log_cosh": "log_cosh subtracts ops.log(2.0) computed in float32 (0.6931471824645996), as on TensorFlow "
                    f"(log_cosh in {_LOSSES}), but not declared as the log_cosh_log2 flag here: the 1.9e-9 it moves a "
                    "value is below float32's rounding, and float64 is averaged in float32 on this backend "
                    "(float64-reduced-in-float32), so no number can witness it (float64 log_cosh(0, 0) = "
                    "-1.9046542e-09, the float32 mean of the TensorFlow backend's -1.9046543e-09).",
        "sparse_labels": "sparse_categorical_crossentropy takes jnn.one_hot(target): an out-of-range or negative "
                         "label is an all-zero row, loss 0, where TensorFlow raises.",
    })

KERAS_TORCH = Convention(
    "keras_torch", "Keras 3 (keras.losses), torch backend.", _shared("torch") + [
        C.hinge_kink_grad(
            "tie_split", source=f"hinge, squared_hinge, categorical_hinge in {_LOSSES} (ops.maximum = "
                                "torch.maximum, ops.max = torch.amax); torch 2.13 autograd (derivatives.yaml: "
                                "maximum and amax split ties evenly)", versions=_V,
            detail="(The TensorFlow backend gives the active branch the whole gradient.)"),
        C.bce_logits_formula(
            "torch", source=f"binary_crossentropy in {_nn('torch')} (torch.nn.functional."
                            "binary_cross_entropy_with_logits)", versions=_V,
            detail="(1 - y) x - logsigmoid(x): NaN at (x=-inf, y=0) and (x=+inf, y=1)."),
        C.ignore_index(-100, source=f"sparse_categorical_crossentropy in {_nn('torch')} (tnn.cross_entropy / "
                                    "tnn.nll_loss with their default ignore_index=-100)", versions=_V,
                       applies_to=("sparse_categorical_crossentropy",)),
    ], {
        "float16_softmax": "softmax and log_softmax of float16 on the CPU are computed in float32 and cast back "
                           f"(softmax, log_softmax in {_nn('torch')}).",
        "log_cosh": "log_cosh subtracts ops.log(2.0) computed in float32 (0.6931471824645996), as on TensorFlow "
                    f"(log_cosh in {_LOSSES}), but not declared as the log_cosh_log2 flag here: the 1.9e-9 it moves a "
                    "value is below float32's rounding, and float64 is averaged in float32 on this backend "
                    "(float64-reduced-in-float32), so no number can witness it (float64 log_cosh(0, 0) = "
                    "-1.9046542e-09, the float32 mean of the TensorFlow backend's -1.9046543e-09).",
        "sparse_labels": "an out-of-range label raises IndexError ('Target 3 is out of bounds'), as torch does.",
    })

CONVENTIONS_BY_BACKEND: Mapping[str, Convention] = MappingProxyType({"jax": KERAS_JAX, "torch": KERAS_TORCH})


def _dev(name: str, summary: str, when: Mapping[str, Any], shows: str, source: str,
         settings: Mapping[str, Any] | None = None) -> Deviation:
    return Deviation(name=name, summary=summary, when=dict(when), shows=shows, versions=KERAS_VERSIONS,
                     source=source, settings=dict(settings or {}))


_JAX_NN = _nn("jax")
_TORCH_NN = _nn("torch")
_XLA_FLUSH = "XLA CPU backend (denormals flushed in its compiled kernels); measured with jax 0.10.2"
_HALF = ("float16", "bfloat16")
_DTYPES_PY = f"keras/src/backend/common/dtypes.py ({_K3})"
# Losses whose per-sample value goes through ops.mean (or, on torch, another op that takes result_type).
_MEAN_LOSSES = ("mean_squared_error", "mean_absolute_error", "huber", "hinge", "squared_hinge", "poisson",
                "binary_crossentropy", "log_cosh", "mean_squared_logarithmic_error", "binary_focal_crossentropy")


def _common(backend: str) -> tuple[Deviation, ...]:
    """What Keras 3 does the same way on jax and torch (keras/src/losses/losses.py, measured on both)."""
    # torch's F.binary_cross_entropy refuses targets outside [0, 1], which negative BCE label smoothing makes.
    invalid = ("edge.args.*" if backend != "torch" else
               ("edge.args.huber-*", "edge.args.cce-*", "edge.args.scce-*", "edge.args.bce-label-smoothing-above-one"))
    return (
        _dev("target-rank-expanded", _keras.TARGET_RANK_EXPANDED_SUMMARY, _keras.TARGET_RANK_EXPANDED_WHEN, "value",
             f"squeeze_or_expand_to_same_rank in keras/src/losses/loss.py ({_K3}); measured"),
        _dev("accepts-invalid-arguments",
             "keras.losses computes with arguments outside their domain instead of refusing them (huber delta <= 0, "
             "label_smoothing outside [0, 1]), as on TensorFlow; the reference raises ValueError.",
             {"case": invalid, "kind": "edge"}, "value",
             f"huber, categorical_crossentropy, binary_crossentropy in {_LOSSES} (no argument checks); measured"),
        _dev("float16-square-overflow",
             "mean_squared_error squares the difference in float16: 300^2 = 90000 > 65504 gives inf (the loss, "
             "45000, is representable).", {"case": "edge.mse.float16-overflow", "dtype": "float16", "kind": "edge"},
             "inf", f"mean_squared_error in {_LOSSES}"),
        _dev("float16-kl-grad-overflow",
             "The float16 gradient of y_true * log(y_true / y_pred) overflows through p / q^2 for small q "
             "(gen.small: q = 3.08e-5, reference -10228): -inf.",
             {"loss": "kl_divergence", "form": "function:none", "dtype": "float16", "kind": "grad",
              "case": "gen.[srw]*"},
             "inf", f"kl_divergence in {_LOSSES}; the backend's division gradient"),
        _dev("float16-kl-ratio-overflow",
             "float16 KL with q = 8.3e-7 (above the float16 clip bound): y_true / y_pred overflows float16 (inf, "
             "reference 6.31) and its gradient is NaN.",
             {"case": "fuzz.keras.kl_divergence.4b1282e85953", "kind": ("edge", "grad")}, "differs",
             f"kl_divergence in {_LOSSES} (y_true / y_pred in the input's dtype)"),
        _dev("float16-rounding-tie",
             "categorical_hinge in float16: neg - pos + 1 rounds 1.19e-7 - 1 + 1 to 0, a tie at the kink that the "
             "exact scores do not have, and the backend's max splits the gradient ([-0.5, 0.5] against [-1, 1]).",
             {"case": "fuzz.optax.categorical_hinge.0069ac07603b", "kind": "grad"}, "differs",
             f"categorical_hinge in {_LOSSES}; the {backend} max gradient splits ties"),
    )


def _focal(backend: str) -> tuple[Deviation, ...]:
    return (
        _dev("focal-sigmoid-rounding-amplified",
             "binary_focal_crossentropy(from_logits=True) rounds ops.sigmoid(z) to the input's dtype and takes "
             "log(1 - p) of it (clip_after_activation, reproduced for a correctly rounded sigmoid), but the "
             f"{backend} sigmoid is not correctly rounded, and 1 - p turns its last-bit error into a relative error "
             "of u / (1 - p): at z = 6, 6.5, 7 (float32) the loss is 3e-5 off (32 ulps; float16 0.03 at z = 6, found "
             "by the fuzzer; the gradient alike).  The TensorFlow backend and optax work from the logits.",
             {"loss": "binary_focal_crossentropy", "case": "edge.focal.sigmoid-rounding", "kind": ("edge", "value", "grad"),
              "dtype": ("float16", "bfloat16", "float32", "float64")}, "differs",
             f"binary_focal_crossentropy in {_LOSSES}; sigmoid in keras/src/backend/{backend}/nn.py; measured"),
    )


def _half(backend: str) -> tuple[Deviation, ...]:
    """Last in the tuple: the first declaration that covers a check judges it, and this one is the broadest."""
    return (
        _dev("half-arithmetic",
             f"float16/bfloat16 inputs are computed in float16/bfloat16 by the {backend} operations (errors up to "
             "the half-precision arithmetic bound, e.g. float16 MSE 0.00121 off where one rounding allows 0.00049).",
             {"kind": ("value", "edge"), "dtype": _HALF, "form": "function:*"}, "half-arithmetic",
             f"{_LOSSES}; keras/src/backend/{backend}/numpy.py ({_K3}); measured"),
    )


def _float64_in_float32(backend: str, settings: Mapping[str, Any] | None = None) -> tuple[Deviation, ...]:
    return (
        _dev("float64-reduced-in-float32",
             "float64 inputs are averaged in float32: ops.mean casts to result_type(float64, 'float32'), which Keras "
             "maps to float32 on every backend but TensorFlow ('Force to be 32-bit dtype when encountering 64-bit "
             "dtype. This is to be aligned with JAX's default behavior.'), so MSE, MAE, Huber, hinge, squared hinge, "
             "Poisson, BCE and binary focal CE carry float32 errors (1e-7 relative) in a float64 result (the "
             "gradients with respect to the prediction and to the target alike).",
             {"loss": _MEAN_LOSSES, "form": "function:none", "dtype": "float64",
              "kind": ("value", "grad", "golden"), "case": ("gen.*", "conv.*"), "wrt": "*"}, "differs",
             f"_lattice_result_type / BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; mean in keras/src/backend/{backend}/numpy.py",
             settings=settings),
        _dev("float64-tiny-loss-in-float32",
             "The same float32 mean loses a tiny float64 BCE from logits (4e-18 where the result is 1e-17; "
             "edge.bce-logits.tiny-loss).",
             {"case": "edge.bce-logits.tiny-loss", "dtype": "float64", "kind": "edge"}, "differs",
             f"BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}", settings=settings),
        _dev("float64-mape-reduced-in-float32",
             "The same float32 mean in mean_absolute_percentage_error: a float64 percentage error carries float32 "
             "errors (1e-7 relative)" + (" and so does its gradient." if backend == "torch" else
                                         "; its gradient (100 sign(e) / |y| / K) comes back exact under x64."),
             {"loss": "mean_absolute_percentage_error", "form": "function:none", "dtype": "float64",
              "kind": ("value", "grad", "golden") if backend == "torch" else ("value", "golden"),
              "case": ("gen.*", "conv.*")}, "differs",
             f"BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; mean_absolute_percentage_error in {_LOSSES}", settings=settings),
        _dev("float64-log-cosh-edge-in-float32",
             "The same float32 mean on the float64 log-cosh edge case (edge.log-cosh.float32-log2): 29.306852340698242 "
             "for log cosh(30) = 29.306852819440056, and -1.9046542e-09 (float32) for log cosh(0) = 0.",
             {"loss": "log_cosh", "case": "edge.log-cosh.*", "dtype": "float64", "kind": "edge"}, "differs",
             f"BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; log_cosh in {_LOSSES}", settings=settings),
        _dev("float64-ctc-returns-float32",
             "keras.losses.ctc returns float32 for float64 logits: ops.ctc_loss casts them to result_type(float64, "
             "'float32'), float32 on every backend but TensorFlow (BIT64_TO_BIT32_DTYPE), and returns that (computed "
             "in float32, which the value and gradient checks judge; TensorFlow also computes in float32 but casts "
             "the loss back to float64).",
             {"loss": "ctc_loss", "form": "function:none", "dtype": "float64", "kind": "dtype"}, "differs",
             f"ctc_loss in keras/src/backend/{backend}/nn.py ({_K3}); BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; measured",
             settings=settings),
    )



# Measured with keras 3.15.1 on jax 0.10.2 / torch 2.13.0 (CPU) against reference/ under "keras_jax" /
# "keras_torch" (default matrix, edge battery; ``settings`` names the x64 state a deviation needs).
JAX_DEVIATIONS: tuple[Deviation, ...] = _common("jax") + _float64_in_float32("jax", {"x64": "on"}) + (
    _dev("focal-gamma-zero-grad-nan",
         "binary_focal_crossentropy with gamma = 0 (plain BCE) has a NaN gradient wherever p = y exactly: ops.power(1 - p_t, 0) at 1 - p_t = 0 differentiates as 0 * 0^-1 = 0 * inf (the value, 0^0 = 1, is right; the reference gradient there is BCE's, [0.5, -0.5] for y = [0, 1], p = [0, 1]). (jax's pow JVP; the torch backend's pow backward gives 0 there.)",
         {"loss": "binary_focal_crossentropy", "case": "edge.focal.gamma-zero-grad", "kind": "grad"}, "nan",
         f"binary_focal_crossentropy in {_LOSSES}; jax pow JVP (jax 0.10.2); measured"),
    _dev("ctc-infeasible-target-finite",
         "keras.losses.ctc (the jax backend's forward recursion, optax's, with log_epsilon = -1e5 for log 0) "
         "returns 100001.96 for a target no alignment reaches (1, 1, 1 in 4 frames: edge.ctc.infeasible) where the "
         "loss is -log 0 = inf (TensorFlow: 709.6; the torch backend: inf).",
         {"loss": "ctc_loss", "case": "edge.ctc.infeasible", "kind": "edge"}, "value",
         f"ctc_loss in {_JAX_NN} (log_epsilon = -1e5); measured"),
    _dev("float64-needs-x64",
         "Without JAX's x64 mode (off by default) float64 inputs become float32 arrays: the loss and its gradient "
         "come back float32, computed in float32 (value and gradient checks judge them so); with "
         "JAX_ENABLE_X64=1 they are float64.",
         {"kind": "dtype", "dtype": "float64"}, "differs",
         "jax/_src/dtypes.py canonicalize_dtype (jax 0.10.2: jax_enable_x64 defaults to False); measured",
         settings={"x64": "off"}),
    _dev("sparse-one-hot-promotes-half",
         "sparse_categorical_crossentropy multiplies the log-probabilities by jnn.one_hot(target, K), whose dtype "
         "is the default float (float32 without x64): float16/bfloat16 predictions give a float32 loss (the "
         "TensorFlow backend keeps the dtype).",
         {"loss": "sparse_categorical_crossentropy", "kind": "dtype", "dtype": _HALF, "form": "function:none"},
         "differs", f"sparse_categorical_crossentropy in {_JAX_NN}", settings={"x64": "off"}),
    _dev("sparse-one-hot-promotes-x64",
         "Under x64 jnn.one_hot's default dtype is float64: float16/bfloat16/float32 predictions give a float64 "
         "sparse categorical cross entropy.",
         {"loss": "sparse_categorical_crossentropy", "kind": "dtype", "dtype": _HALF + ("float32",),
          "form": "function:none"},
         "differs", f"sparse_categorical_crossentropy in {_JAX_NN}", settings={"x64": "on"}),
    _dev("class-sparse-rejects-unbatched-sample",
         "keras.losses.SparseCategoricalCrossentropy (the Loss class) raises IndexError for one unbatched sample "
         "(labels of rank 0), as on TensorFlow (the torch backend computes it); the function returns the loss.",
         {"case": "fuzz.keras.sparse_categorical_crossentropy.4cac38152628", "form": "class:*"},
         "error:IndexError", f"SparseCategoricalCrossentropy / LossFunctionWrapper in {_LOSSES}; measured"),
    _dev("sparse-axis-shape-check",
         "sparse_categorical_crossentropy(axis=1) on a rank-3 prediction raises ValueError 'Arguments `target` "
         "and `output` must have the same shape up until the last dimension': the jax backend checks "
         "target.shape against output.shape[:-1] whatever `axis` is (TensorFlow moves the axis last first).",
         {"loss": "sparse_categorical_crossentropy", "case": "gen.rank3.axis=*"}, "error:ValueError",
         f"sparse_categorical_crossentropy in {_JAX_NN}"),
    _dev("one-hot-label-out-of-range",
         "An out-of-range, negative or -100 label is an all-zero row of jnn.one_hot: the loss is -0.0 (a number) "
         "where the reference (and TensorFlow) refuse the label.",
         {"loss": "sparse_categorical_crossentropy",
          "case": ("*label-out-of-range*", "*label-negative*", "*label-ignore-index*")}, "value",
         f"sparse_categorical_crossentropy in {_JAX_NN} (jax.nn.one_hot)"),
    _dev("overlap-grad-flushes-squared-denominator",
         "Dice and Tversky in float16 on an empty mask (y = 0, p = 0.0039 or 0.0078): the quotient rule's squared "
         "denominator (p + 1e-7)^2 = 1.5e-5 is subnormal in float16, XLA on CPU flushes it to 0, and the gradient "
         "0 / 0 is NaN where the mathematics gives 0 (found by the fuzzer; TensorFlow keeps the subnormal).",
         {"loss": ("dice", "tversky"), "dtype": "float16", "kind": "grad",
          "case": ("fuzz.keras_jax.dice.a0926f056a20", "fuzz.keras_jax.tversky.4b16e8de0dd4")}, "nan",
         _XLA_FLUSH),
    _dev("flushes-subnormals",
         "XLA on CPU flushes subnormals to zero: the fuzz counterexamples found on the other frameworks show it "
         "(float16 BCE gradient at p = 1.19e-7, the clip's lower bound, NaN; float16 KL with a subnormal q: "
         "NaN gradients).",
         {"case": ("fuzz.keras.binary_crossentropy.9f1ba924cb5a", "fuzz.optax.kl_divergence.aa1ea7f4306d",
                   "fuzz.torch.kl_divergence.fb969c23688d"), "kind": "grad"}, "differs", _XLA_FLUSH),
    _dev("clip-gradient-split-at-the-bound",
         "ops.clip is jnp.clip, a max and a min, and jax splits the gradient of a tie: an input exactly AT a clip "
         "bound gets half its gradient (bfloat16 BCE at p = bfloat16(1e-7), y = 0: 0.5 where the reference, like "
         "TensorFlow's clip_by_value and torch.clamp, passes all of it; float16 KL at q = 1, the upper bound: "
         "-0.5 for -1).  Found by the fuzzer.",
         {"loss": ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                   "kl_divergence", "binary_focal_crossentropy", "categorical_focal_crossentropy"),
          "case": ("fuzz.keras_jax.binary_crossentropy.fc740c46649d", "fuzz.keras_jax.kl_divergence.01901fc2da41"),
          "dtype": ("float16", "bfloat16", "float32", "float64"), "kind": "grad"}, "differs",
         f"clip in keras/src/backend/jax/numpy.py ({_K3}); binary_crossentropy in {_JAX_NN}; kl_divergence in "
         f"{_LOSSES}; jax.numpy.clip (jax 0.10.2)"),
    _dev("flushes-subnormals-float64",
         "Under x64 the flushing reaches float64: categorical hinge at 1.1e-308 (subnormal) gives a tie and a "
         "split gradient (0.5 where the reference has 1); the MAE gradient at y_pred = 5e-324 is that of a zero "
         "difference.",
         {"case": ("fuzz.keras.categorical_hinge.fa10d68c0451", "fuzz.keras.mean_absolute_error.6e20697dc54b"),
          "kind": "grad"}, "differs", _XLA_FLUSH, settings={"x64": "on"}),
) + _focal("jax") + _half("jax")
TORCH_DEVIATIONS: tuple[Deviation, ...] = _common("torch") + _float64_in_float32("torch") + (
    _dev("gce-unbatched-sample-shape",
         "categorical_generalized_cross_entropy on one unbatched sample given as tensors (a 0-d int64 label, a rank-1 "
         "y_pred) returns shape (1,), not a scalar, from the function and the unreduced Loss class: ops.one_hot of the "
         "0-d torch tensor is (1, K) here (TensorFlow and jax give a scalar). Found by the fuzzer.",
         {"loss": "categorical_generalized_cross_entropy", "form": ("function:none", "class:none"),
          "case": "gen.vector*", "kind": ("value", "dtype"), "dtype": ("float16", "bfloat16", "float32", "float64")},
         "differs",
         f"one_hot in keras/src/backend/torch/nn.py ({_K3}); categorical_generalized_cross_entropy in {_LOSSES}; "
         "measured"),
    _dev("float64-msle-returns-float32",
         "mean_squared_logarithmic_error returns float32 for float64 inputs: ops.maximum(y_pred, convert_to_tensor("
         "epsilon())) takes result_type(float64, float32), float32 off TensorFlow, and the rest follows (float16 and "
         "bfloat16 are promoted to float32 too, as on TensorFlow: compute_dtype says so).",
         {"loss": "mean_squared_logarithmic_error", "form": "function:none", "dtype": "float64", "kind": "dtype"},
         "differs", f"BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; mean_squared_logarithmic_error in {_LOSSES}"),
    _dev("float64-power-in-float32",
         "categorical_generalized_cross_entropy in float64 carries float32 errors for q = 0.8 (0.3103017 for "
         "p = 0.7, exact 0.31030169168744304; the result stays float64), and its gradient too: ops.power(p, q) with a "
         "Python q goes through result_type, which maps 64-bit to 32-bit off TensorFlow.  With the default q = 0.5 "
         "the float64 value and gradient agree (measured: gen.small.default).",
         {"loss": "categorical_generalized_cross_entropy", "form": "function:none", "dtype": "float64",
          "kind": ("value", "grad"), "case": "gen.*q=0.8*"}, "differs",
         f"power in keras/src/backend/torch/numpy.py ({_K3}); BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; measured"),
    _dev("float64-hinges-return-float32",
         "hinge, squared_hinge and categorical_hinge return float32 for float64 inputs: ops.maximum casts both "
         "arguments to result_type(float64, float64), which Keras maps to float32 off TensorFlow (the categorical "
         "hinge's value then has float32 errors; its gradient flows back in float64).",
         {"loss": ("hinge", "squared_hinge", "categorical_hinge"), "form": "function:none", "dtype": "float64",
          "kind": ("dtype", "value")}, "differs",
         f"BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; maximum in keras/src/backend/torch/numpy.py"),
    _dev("float64-normalize-in-float32",
         "cosine_similarity normalises with x * ops.minimum(rsqrt(sum x^2), 1 / epsilon): on torch minimum casts both "
         "arguments to result_type(float64, float), which Keras maps to float32, so the inverse norm is rounded "
         "to float32 and float64 cosines carry float32 errors (9e-9 on gen.small, 5e-11 of 0.00267 at the "
         "tiny-vector edge case, a gradient 0.15 off 8.0e6 there); the jax backend under x64 keeps float64.",
         {"loss": "cosine_similarity", "form": "function:none", "dtype": "float64",
          "kind": ("value", "grad", "edge", "golden")}, "differs",
         f"BIT64_TO_BIT32_DTYPE in {_DTYPES_PY}; minimum in keras/src/backend/torch/numpy.py; _normalize in "
         f"keras/src/ops/nn.py ({_K3}); measured"),
    _dev("focal-clip-bound-float32",
         "categorical_focal_crossentropy clips with ops.clip(y_pred, epsilon(), 1 - epsilon()), which on torch makes "
         "its Python bounds floatx (float32) tensors first: in float64 a clipped probability becomes "
         "float32(1e-7) = 1.0000000116860974e-07, a term 0.25 * 1.17e-8 = 2.9e-9 lower than the TensorFlow backend's "
         "(the cross entropies clip with torch.clip and Python floats: exact).",
         {"loss": "categorical_focal_crossentropy", "form": "function:none", "dtype": "float64", "case": "gen.clipped*",
          "kind": "value"},
         "differs",
         f"categorical_focal_crossentropy in {_LOSSES}; clip in keras/src/backend/torch/numpy.py ({_K3}); measured"),
    _dev("float16-focal-log-clamped",
         "binary_focal_crossentropy's cross-entropy term is torch's F.binary_cross_entropy after the clip: in float16 "
         "the clip's upper bound 1 - 1e-7 rounds to 1, so a saturated sigmoid (logit 30, target 0) reaches log(0), "
         "which F.binary_cross_entropy clamps at -100: 100 where the clip alone gives inf (the TensorFlow backend "
         "and optax, from the logits, give 30); already at logit 9 the float16 sigmoid (0.99988) rounds to 1: 100 "
         "for a loss of 9.0001.",
         {"loss": "binary_focal_crossentropy", "dtype": _HALF,
          "case": ("edge.focal.float16-saturated-logits", "edge.focal.float16-sigmoid-rounds-to-one"),
          "kind": ("edge", "value")},
         "differs",
         f"binary_crossentropy in {_TORCH_NN} (torch.clip, then tnn.binary_cross_entropy: log clamped at -100); "
         "measured"),
    _dev("bce-rejects-nan-probability",
         "binary_crossentropy from probabilities is torch's F.binary_cross_entropy, which raises RuntimeError 'all "
         "elements of input should be between 0 and 1' for a NaN probability (the clip keeps NaN).",
         {"loss": "binary_crossentropy", "case": "edge.bce.prob-nan"}, "error:RuntimeError",
         f"binary_crossentropy in {_TORCH_NN}; aten binary_cross_entropy (torch 2.13.0)"),
) + _focal("torch") + _half("torch")


# --------------------------------------------------------------------------------------------------------------
# Lazy loading


@dataclass(frozen=True)
class _Runtime:
    keras: Any
    backend: Any  # jax or torch
    np_dtypes: Mapping[str, Any]
    gpu: bool


def _process_backend() -> str:
    """The Keras backend of this process, without importing Keras when it is not imported yet."""
    if "keras" in sys.modules:
        try:
            return str(sys.modules["keras"].backend.backend())
        except Exception:  # noqa: BLE001
            return "unknown"
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


@functools.lru_cache(maxsize=None)
def _load(backend: str) -> _Runtime | str:
    current = _process_backend()
    if current != backend:
        return (f"Keras 3 runs one backend per process and this one's is {current!r}: keras_{backend} runs in "
                f"a process started with KERAS_BACKEND={backend} (python -m reports and the test command "
                f"start it; by hand: KERAS_BACKEND={backend} pytest --framework keras_{backend})")
    try:
        module = __import__(backend)
    except Exception as exc:  # noqa: BLE001
        return f"{backend} is not installed: {describe(exc)}"
    try:
        import keras  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001
        return f"keras is not installed: {describe(exc)}"
    if keras.backend.backend() != backend:
        return f"keras was imported with the {keras.backend.backend()!r} backend (KERAS_BACKEND)"
    try:
        import ml_dtypes  # noqa: PLC0415
        bf16 = ml_dtypes.bfloat16
    except ImportError as exc:
        return f"ml_dtypes is not installed: {describe(exc)}"
    if backend == "jax":
        try:
            gpu = bool(module.devices("gpu"))
        except Exception:  # noqa: BLE001
            gpu = False
    else:
        gpu = bool(module.cuda.is_available())
    return _Runtime(keras=keras, backend=module, gpu=gpu,
                    np_dtypes={"float16": np.float16, "bfloat16": bf16, "float32": np.float32, "float64": np.float64})


class KerasBackendAdapter(KerasAPIAdapter):
    """Keras 3 on the jax or torch backend (see the module docstring)."""

    written_for = KERAS_VERSIONS  # the Keras releases written for and run on (adapters.protocol.Unsupported)

    def __init__(self, backend: str, deviations: tuple[Deviation, ...]):
        self.backend = backend
        self.name = f"keras_{backend}"
        self.convention = CONVENTIONS_BY_BACKEND[backend].name
        self.conventions = MappingProxyType({self.convention: CONVENTIONS_BY_BACKEND[backend]})
        self.bindings = derived_bindings(self.convention, "keras")
        self.declared = deviations
        self._compiled: dict[Any, Any] = {}
        super().__init__()

    # ---- environment --------------------------------------------------------------------------------------
    def _loaded(self) -> bool:
        return _load.cache_info().currsize > 0 and not isinstance(_load(self.backend), str)

    def _reason(self) -> str | None:
        rt = _load(self.backend)
        return rt if isinstance(rt, str) else None

    def _runtime(self) -> _Runtime:
        rt = _load(self.backend)
        if isinstance(rt, str):
            raise RuntimeError(rt)
        return rt

    def _x64(self) -> bool:
        return self.backend != "jax" or bool(self._runtime().backend.config.jax_enable_x64)

    def versions(self) -> dict[str, str]:
        rt = _load(self.backend)
        if isinstance(rt, str):
            return {}
        return {"keras": str(rt.keras.__version__), self.backend: str(rt.backend.__version__),
                "keras_backend": self.backend}

    def version(self) -> str:
        v = self.versions()
        return f"keras {v['keras']} / {self.backend} {v[self.backend]}" if v else "unavailable"

    def settings(self) -> dict[str, str]:
        found = dict(self.versions())
        if found:
            found["version"] = self.version()
            found["family"] = "keras"
            if self.backend == "jax":
                found["x64"] = "on" if self._x64() else "off"
        return found

    def device_name(self, device: str) -> str:
        return f"{device}:0"

    def output_dtype(self, call: Call) -> str:
        """What the API documents: Loss classes return ``floatx()``, functions their prediction's dtype (float64
        without x64 comes back float32: the declared deviation ``float64-needs-x64``)."""
        if call.api == "class":
            return self._runtime().keras.backend.floatx()
        if self._promotes_half(call):
            return "float32"
        if call.loss in _keras.COMPUTES_FLOAT32 and call.dtype in _HALF:
            return "float32"  # ops.ctc_loss casts to result_type(dtype, "float32"), as on TensorFlow
        return call.dtype

    def compute_dtype(self, call: Call) -> str:
        """Loss classes compute in ``floatx()`` (float32); functions in the inputs' dtype, except float64
        without JAX's x64 mode (JAX computes it in float32)."""
        if call.api == "class":
            return self._runtime().keras.backend.floatx()
        if call.loss in _keras.COMPUTES_FLOAT32:
            return "float32"  # result_type(dtype, "float32") is float32 for every dtype here (BIT64_TO_BIT32_DTYPE)
        if call.dtype == "float64" and not self._x64():
            return "float32"
        if self._promotes_half(call):
            return "float32"  # maximum with a float32 epsilon promotes (as on TensorFlow)
        return call.dtype

    def _promotes_half(self, call: Call) -> bool:
        """On torch (not jax, where the epsilon is weakly typed) ``ops.maximum(y, float32 epsilon)`` promotes a
        half-precision input to float32, and the function returns float32."""
        return (self.backend == "torch" and call.api == "function" and call.loss in _keras.PROMOTES_HALF
                and call.dtype in ("float16", "bfloat16"))

    # ---- running ------------------------------------------------------------------------------------------
    def _execute(self, rt: _Runtime, fn, true, pred, weight, seed, call: Call):
        if self.backend == "jax":
            return self._execute_jax(rt, fn, true, pred, weight, seed, call)
        return self._execute_torch(rt, fn, true, pred, weight, seed, call)

    def _execute_jax(self, rt: _Runtime, fn, true, pred, weight, seed, call: Call):
        jax = rt.backend
        import jax.numpy as jnp  # noqa: PLC0415

        device = jax.devices("gpu" if call.device == "gpu" else "cpu")[0]
        target = _keras.on_target(call, _keras._SPECS[call.loss])
        key = (fn, call.grad, seed is not None, target)
        if key not in self._compiled:
            def value_and_grad(t, p, w, s):
                if not call.grad:
                    return fn(t, p, w), None

                def summed(x):
                    out = fn(x, p, w) if target else fn(t, x, w)
                    return jnp.sum(out if s is None else out * s.astype(out.dtype)), out

                (_, out), grad = jax.value_and_grad(summed, has_aux=True)(t if target else p)
                return out, grad

            self._compiled[key] = jax.jit(value_and_grad)
        put = (lambda a: None if a is None else jax.device_put(a, device))
        with rt.keras.device(f"{'gpu' if call.device == 'gpu' else 'cpu'}:0"):
            out, grad = self._compiled[key](put(true), put(pred), put(weight),
                                            None if seed is None else put(np.asarray(seed, dtype=pred.dtype)))
        value = np.asarray(out)
        if grad is None:
            return value, str(out.dtype), None, None
        return value, str(out.dtype), np.asarray(grad), str(grad.dtype)

    def _execute_torch(self, rt: _Runtime, fn, true, pred, weight, seed, call: Call):
        torch = rt.backend
        device = "cuda" if call.device == "gpu" else "cpu"

        def tensor(a, requires_grad=False):
            if a is None:
                return None
            a = np.asarray(a)
            if a.dtype == rt.np_dtypes["bfloat16"]:
                x = torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)  # exact: already bfloat16 values
            else:
                x = torch.from_numpy(np.ascontiguousarray(a))
            x = x.to(device)
            return x.requires_grad_(True) if requires_grad else x

        def numpy(x):
            x = x.detach().cpu()
            return (x.float() if x.dtype == torch.bfloat16 else x).numpy()

        with rt.keras.device(f"{'cuda' if call.device == 'gpu' else 'cpu'}:0"):
            target = _keras.on_target(call, _keras._SPECS[call.loss])
            p = tensor(pred, requires_grad=call.grad and not target)
            t = tensor(true, requires_grad=target)
            out = fn(t, p, tensor(weight))
            dtype = str(out.dtype).replace("torch.", "")
            if not call.grad:
                return numpy(out), dtype, None, None
            total = (out if seed is None else out * tensor(np.asarray(seed, dtype=np.float64)).to(out.dtype)).sum()
            (grad,) = torch.autograd.grad(total, t if target else p, allow_unused=True)
        if grad is None:
            return numpy(out), dtype, None, None
        return numpy(out), dtype, numpy(grad), str(grad.dtype).replace("torch.", "")


JAX = KerasBackendAdapter("jax", JAX_DEVIATIONS)
TORCH = KerasBackendAdapter("torch", TORCH_DEVIATIONS)
