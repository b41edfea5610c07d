"""The optax adapter: reference losses onto ``optax.losses`` (and activations onto ``jax.nn``).

What this adapter translates, and nothing more:

* **argument order** - optax takes ``(predictions, targets)`` / ``(logits, labels)`` /
  ``kl_divergence(log_predictions, targets)``; the reference takes ``(y_true, y_pred)`` / ``(p, q)``.
* **log space** - ``optax.losses.kl_divergence``'s first argument is documented as log-probabilities,
  so the adapter passes ``jnp.log(q)`` computed in JAX in the call's dtype (the gradient flows through it).
* **label encoding** - ``optax.losses.multiclass_hinge_loss`` requires integer labels: a one-hot
  ``y_true`` is turned into indices with ``jnp.argmax`` (``supports()`` refuses a ``y_true`` that is not
  one-hot, where that would change the question).
* **label smoothing** - optax's own public ``optax.smooth_labels`` is applied to ``y_true`` when a case
  asks for ``label_smoothing`` (categorical cross-entropy only: ``smooth_labels`` divides by the size of
  the class axis, which is not binary label smoothing).
* **dtype and device** - float inputs become arrays of the call's dtype on the ``cpu`` or ``gpu`` JAX
  device; integer ``labels`` become ``int64`` (int32 without x64).  JAX's x64 mode is left as the process has
  it (off by default, on with ``JAX_ENABLE_X64=1`` or ``jax.config.update("jax_enable_x64", True)``), as users
  run it: without it JAX computes float64 inputs in float32, which :meth:`OptaxAdapter.compute_dtype`
  declares (the checks then judge those calls as float32 computations with a float32 result), and the x64
  state each deviation needs is in its ``settings``.  The other state runs in its own process
  (:mod:`adapters.variants`: "jax-x64").

The gradient is ``jax.grad`` of ``jnp.sum(output)`` w.r.t. the binding's ``grad_wrt`` input.
JAX is imported lazily, so ``import adapters.optax`` works without JAX or optax installed.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from reference import Convention
from reference import conventions as C

from .protocol import Binding, CheckedModule, Call, Deviation, Outcome, active, describe, timed

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
CONVENTION = "optax"

# ---------------------------------------------------------------------------------------------------------
# The "optax" convention: how optax.losses (and jax's autodiff) depart from the mathematics, as flags the
# reference reproduces (read and measured with optax 0.2.8 / jax 0.10.2; numbers in docs/conventions.md).
_OPTAX_SRC = "optax 0.2.8"
_OPTAX_CLS_SRC = f"optax/losses/_classification.py ({_OPTAX_SRC})"

OPTAX = Convention(
    "optax", "optax.losses (jax).", [
        C.zero_times_inf_nan(
            ("categorical_crossentropy", "kl_divergence", "generalized_kl_divergence"),
            source=f"softmax_cross_entropy, kl_divergence, generalized_kl_divergence in {_OPTAX_CLS_SRC}",
            versions=">=0.1.5",
            detail="softmax_cross_entropy computes -(labels * log_softmax).sum() (safe_softmax_cross_entropy "
                   "does not); kl_divergence(log_predictions, targets) = targets * (where(targets == 0, 0, "
                   "log targets) - log_predictions)."),
        C.hinge_kink_grad(
            "tie_split", source=f"hinge_loss, multiclass_hinge_loss in {_OPTAX_CLS_SRC}; triplet_margin_loss in "
                                f"optax/losses/_self_supervised.py; jax.lax.max JVP (jax 0.10.2)", versions=">=0.2.3",
            applies_to=("hinge", "squared_hinge", "categorical_hinge", "triplet_margin_loss"),
            detail="jnp.maximum / jnp.max (the jax.lax.max JVP) split ties; hinge_loss is elementwise (gradient "
                   "-y/2 at the kink) and multiclass_hinge_loss is max_j s_j + 1 - onehot_j; triplet_margin_loss is "
                   "jnp.maximum(d(a, p) - d(a, n) + margin, 0): half the gradient at the kink (measured in float16, "
                   "a = [0, 0], p = [0.5, 0], n = [1.5, 0]: d/dn = [-0.5, 0])."),
        C.distance_power_sum_epsilon(
            1e-6, source=f"triplet_margin_loss in optax/losses/_self_supervised.py ({_OPTAX_SRC})", versions=">=0.2.8",
            detail="jnp.power(jnp.power(anchors - positives, norm_degree).sum(axis) + eps, 1 / norm_degree), eps=1e-6: "
                   "anchor == positive gives d(a, p) = 1e-3 (p = 2) and gradient 0 there; on a random float64 batch "
                   "(4 x 5) the loss moves by up to 2.6e-8 (torch's eps moves it by 2.2e-6)."),
        C.distance_signed_power(
            source=f"triplet_margin_loss in optax/losses/_self_supervised.py ({_OPTAX_SRC})", versions=">=0.2.8",
            detail="jnp.power(anchors - positives, norm_degree) has no jnp.abs: norm_degree=1 sums the signed "
                   "differences (measured on a random 4 x 5 batch: [1.8188, 9.0298, 0.1352, 0] where the L1 triplet "
                   "loss is [0.5314, 0, 0.5543, 0]); norm_degree=2 is the Euclidean distance."),
        C.abs_grad_at_zero(
            1.0, source="jax/_src/lax/lax.py abs JVP (jax 0.10.2), measured", versions="jax>=0.4",
            detail="jax's d|x|/dx at x = 0 is 1 (TF and torch give 0), as written jnp.abs(y_pred - y_true) "
                   "(optax has no MAE loss)."),
        C.bce_logits_formula(
            "optax", source=f"sigmoid_binary_cross_entropy in {_OPTAX_CLS_SRC}", versions=">=0.1",
            detail="sigmoid_binary_cross_entropy computes -y log_sigmoid(x) - (1-y) log_sigmoid(-x) with plain "
                   "products: NaN at (x=-inf, y=0) and (x=+inf, y=1)."),
        C.generalized_dice_weight_epsilon(
            1e-7, source=f"multiclass_generalized_dice_loss in optax/losses/_segmentation.py ({_OPTAX_SRC})",
            versions=">=0.2.8",
            detail="class_weights = 1.0 / (class_frequencies**2 + epsilon), epsilon = 1e-7 ('Add small epsilon to "
                   "avoid division by zero'): a class absent from the whole batch weighs 1e7 before the "
                   "normalisation, about K after it, and the others about 0 (edge.generalized-dice.absent-class: "
                   "0.11424002171294428 in float64, the mathematics NaN)."),
        C.generalized_dice_class_mean(
            source=f"multiclass_generalized_dice_loss in optax/losses/_segmentation.py ({_OPTAX_SRC})",
            versions=">=0.2.8",
            detail="class_frequencies = jnp.sum(targets, axis=tuple(range(targets.ndim - 1))) (the whole batch), "
                   "class_weights / jnp.sum(class_weights) * len(class_weights), then jnp.mean(dice_loss(..., "
                   "class_weights=class_weights, reduction='none', ignore_background=...)): each (sample, class) "
                   "Dice 1 - (I + s) / ((T + P) / 2 + s) over the axes between the first and the last, times its "
                   "weight, averaged over samples and classes (measured to 1e-16 in float64 on (4, 2), (3, 5, 3) "
                   "and (2, 3, 4, 3) batches, smooth 0 and 1, ignore_background both ways)."),
    ], {
        "argument_order": "optax losses take (logits/predictions, labels/targets): softmax_cross_entropy("
                          "logits, labels); kl_divergence(log_predictions, targets) = KL(targets || "
                          "exp(log_predictions)).",
        "logits_only": "softmax_cross_entropy, softmax_cross_entropy_with_integer_labels and "
                       "sigmoid_binary_cross_entropy take logits only; no from-probabilities variant.",
        "l2_loss": "l2_loss = 0.5 * squared_error (elementwise); squared_error has no 1/2. Neither "
                   "averages over an axis.",
        "hinge": "hinge_loss(predictor_outputs, targets) expects targets in {-1, 1} and does NOT convert "
                 "{0, 1} labels (a 0 target gives loss 1); multiclass_hinge_loss takes integer labels and "
                 "is Crammer-Singer (max over j != t).",
        "huber": "huber_loss(predictions, targets, delta) = 0.5 min(|e|,d)^2 + d (|e| - min(|e|,d)): the "
                 "mathematics.",
        "smooth_labels": "optax.smooth_labels(labels, alpha) = (1 - alpha) labels + alpha / K.",
        "dice": "dice_loss(predictions, targets, smooth=1.0, alpha=0.5, beta=0.5, apply_softmax=True, "
                "reduction='mean', axis=None) = 1 - (I + smooth) / (I + alpha (P - I) + beta (T - I) + smooth) per "
                "class: logits by default (softmax over the last axis, sigmoid for one channel), alpha on the false "
                "positives (P - I); axis=None sums over the axes between the first and the last, i.e. over NONE "
                "for a rank-2 (N, K) input (each element its own Dice); reduction= averages the LAST axis of the "
                "result (the classes). apply_softmax=False checks the rows sum to 1 with a Python `if` on a traced "
                "value: TracerBoolConversionError under jax.jit, and binary_dice_loss(apply_sigmoid=False) raises "
                "ValueError for any probability other than 1 (its single channel must 'sum to 1'). "
                "ignore_background=True drops the first entry of the result's last axis whatever it is: with "
                "the classes summed (axis=-1) it drops the first SAMPLE (not bound there). "
                "multiclass_generalized_dice_loss(predictions, targets, smooth=1.0, apply_softmax=True, "
                "ignore_background=False) is the reference's generalized_dice under the flags "
                "generalized_dice_class_mean and generalized_dice_weight_epsilon (not Sudre et al.'s one ratio), "
                "with axis = every axis but the first, averaged over the samples: one scalar. "
                "optax/losses/_segmentation.py (optax 0.2.8).",
        "cosine_epsilon": "cosine_similarity / cosine_distance take epsilon=0.0 by default: sqrt(clip(sum x^2, "
                          "epsilon)) is the plain norm, so a zero vector gives NaN (value and gradient), the "
                          "mathematics; a user's epsilon floors the SQUARED norm (reference flag "
                          "cosine_squared_norm_floor) (optax/losses/_regression.py, optax 0.2.8).",
    })

# safe_softmax_cross_entropy is softmax_cross_entropy without the literal 0 * -inf (its weighted_logsoftmax
# gives 0 where the label is 0): the same convention with zero_times_inf_nan off for the cross entropy.
OPTAX_SAFE = Convention(
    "optax_safe", "optax.losses.safe_softmax_cross_entropy (jax): optax without 0 * -inf = NaN in the cross entropy.",
    [flag for name, flag in OPTAX.flags.items() if name != "zero_times_inf_nan"] + [
        C.zero_times_inf_nan(
            ("kl_divergence", "generalized_kl_divergence"), source=f"kl_divergence in {_OPTAX_CLS_SRC}",
            versions=">=0.1.5")],
    {"safe": "safe_softmax_cross_entropy(logits, labels) = -sum(weighted_logsoftmax(logits, labels)), where "
             "weighted_logsoftmax is jnp.where(labels != 0, labels * log_softmax, 0) with a custom JVP: a zero label "
             f"on a -inf logit gives 0 (softmax_cross_entropy: NaN). safe_softmax_cross_entropy in {_OPTAX_CLS_SRC}; "
             "no axis argument (the class axis is last)."})

# cosine_similarity / cosine_distance with a user's epsilon (the default 0.0 is the mathematics): the bindings
# "...@epsilon" pass COSINE_EPSILON, Keras 2's l2_normalize epsilon, so the two compare number for number.
COSINE_EPSILON = 1e-12
OPTAX_COSINE_EPSILON = Convention(
    "optax_cosine_epsilon",
    f"optax.losses.cosine_similarity / cosine_distance(epsilon={COSINE_EPSILON!r}) (jax).",
    list(OPTAX.flags.values()) + [
        C.cosine_squared_norm_floor(
            COSINE_EPSILON, source=f"cosine_similarity in optax/losses/_regression.py ({_OPTAX_SRC})", versions=">=0.2.8",
            detail="a_norm = jnp.sqrt(a_norm2.clip(epsilon)); a_unit = a / a_norm: epsilon floors the SQUARED norm "
                   "(a norm floor of sqrt(epsilon) = 1e-6), formed in the input's dtype (0 in float16), and where it "
                   "holds jnp.clip's gradient is 0 (the norm a constant).  The same placement as tf.linalg."
                   "l2_normalize (Keras 2, 1e-12 by default); Keras 3 caps the inverse norm at 1/1e-7 (a norm floor "
                   "of 1e-7); torch's F.cosine_similarity clamps each norm at eps = 1e-8 (not squared) under no_grad; "
                   "F.cosine_embedding_loss ADDS 1e-12 to each squared norm.  Measured on edge.cosine.tiny-vector "
                   "(a prediction of norm 2.4e-9): 0.00026726 in float32, the value tf_keras gives, where epsilon=0 "
                   "gives the mathematics' -0.1091.")],
    {"epsilon": "optax's default epsilon=0.0 leaves a zero vector NaN; any epsilon > 0 makes it 0."})

# What this adapter declares (``ADAPTER.conventions``): its bindings name "optax", the safe cross entropy
# "optax_safe", the cosine losses given an epsilon "optax_cosine_epsilon".
CONVENTIONS: Mapping[str, Convention] = MappingProxyType({
    OPTAX.name: OPTAX, OPTAX_SAFE.name: OPTAX_SAFE, OPTAX_COSINE_EPSILON.name: OPTAX_COSINE_EPSILON})
_FORMS = ("function:none",)


@functools.lru_cache(maxsize=1)
def _load():
    """``((jax, jnp, optax), None)`` or ``(None, reason)``."""
    try:
        import jax  # noqa: PLC0415 - lazy on purpose
    except Exception as exc:  # noqa: BLE001
        return None, f"jax is not installed: {describe(exc)}"
    try:
        import optax  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001
        return None, f"optax is not installed: {describe(exc)}"
    # jax_enable_x64 is left as the process has it (see the module docstring and OptaxAdapter.settings).
    import jax.numpy as jnp  # noqa: PLC0415
    return (jax, jnp, optax), None


def _modules():
    """``(jax, jax.numpy, optax)``, optax seen through :class:`adapters.protocol.CheckedModule`: an API this
    release lacks (a function, or a keyword: the losses' ``axis`` came in 0.2.4, ``smooth_labels(axis=)``
    after 0.2.6) is a skip with the reason, never a loss verdict."""
    mods, reason = _load()
    if mods is None:
        raise RuntimeError(reason)
    jax, jnp, optax = mods
    return jax, jnp, CheckedModule(optax, label=f"optax {optax.__version__}")


@dataclass(frozen=True)
class OptaxBinding(Binding):
    """A :class:`Binding` that can also require a one-hot input (``multiclass_hinge_loss`` takes integer
    labels, so only a one-hot ``y_true`` on the last axis translates without changing the question)."""

    one_hot: str | None = None

    def accepts(self, call: Call) -> bool:
        if not super().accepts(call):
            return False
        if self.one_hot is not None:
            y = call.inputs.get(self.one_hot)
            axis = int(call.args.get("axis", -1))
            return y is not None and axis in (-1, np.ndim(y) - 1) and _is_one_hot(y)
        return True


# optax.losses.dice_loss's reduction= is over its output's LAST axis (the classes): 'none' returns every
# (batch..., class) loss; 'mean' / 'sum' are offered where that output is one axis, where they are the check's.
_DICE_FORMS = ("function:none", "function:mean", "function:sum")


@dataclass(frozen=True)
class DiceBinding(OptaxBinding):
    """optax's dice_loss: its ``reduction`` ('mean' / 'sum') reduces the output's last axis only, which is the
    check's reduction (over every per-sample loss) where the output has one axis."""

    def accepts(self, call: Call) -> bool:
        if not super().accepts(call):
            return False
        ndim = np.ndim(call.inputs.get("y_pred"))
        axis = call.args.get("axis", -1)
        summed = ndim if axis is None else len(np.atleast_1d(axis))
        classes_summed = axis is None or (ndim - 1) in [int(a) % max(ndim, 1) for a in np.atleast_1d(axis)]
        if call.args.get("ignore_background") and classes_summed:
            return False  # optax drops the first entry of its output's last axis: a sample, not a class (notes)
        if call.reduction == "none":
            return True
        if call.args.get("ignore_background"):  # K - 1 losses per sample: the check reduces K (its gradient)
            return False
        return ndim - summed == 1


@dataclass(frozen=True)
class GeneralizedDiceBinding(OptaxBinding):
    """optax's multiclass_generalized_dice_loss returns one scalar, the mean over its first axis (the samples) of
    each sample's loss summed over the other axes: the reference's ``axis`` must be every axis but the first
    (form ``mean``), or None (every axis: the whole batch passed as one sample, a leading axis of length 1)."""

    def accepts(self, call: Call) -> bool:
        if not super().accepts(call):
            return False
        ndim = np.ndim(call.inputs.get("y_pred"))
        axis = call.args.get("axis")
        if axis is None:
            return True
        axes = sorted(int(a) % max(ndim, 1) for a in np.atleast_1d(axis))
        return ndim >= 2 and axes == list(range(1, ndim))


@dataclass(frozen=True)
class BinaryDiceBinding(OptaxBinding):
    """optax's binary_dice_loss takes one channel (a last axis of length 1) and sums over the axes between the
    first and the last: the reference's ``axis`` must be those (rank >= 3), or the channel itself for a rank-2
    ``(N, 1)`` input (one sigmoid output per sample, summed over nothing)."""

    def accepts(self, call: Call) -> bool:
        if not super().accepts(call):
            return False
        shape = np.shape(call.inputs.get("y_pred"))
        axis = call.args.get("axis", -1)
        axes = (axis,) if isinstance(axis, int) else tuple(axis) if axis is not None else None
        if len(shape) < 2 or shape[-1] != 1 or axes is None:
            return False
        axes = sorted(a % len(shape) for a in axes)
        return axes == (list(range(1, len(shape) - 1)) if len(shape) >= 3 else [1])


# --------------------------------------------------------------------------------------------- calls
# Each call maps arrays named like the reference function's parameters onto one optax / jax.nn call.

def _mse(jax, jnp, optax, a, args):
    return optax.losses.squared_error(a["y_pred"], a["y_true"])


def _huber(jax, jnp, optax, a, args):
    return optax.losses.huber_loss(a["y_pred"], a["y_true"], delta=float(args.get("delta", 1.0)))


def _log_cosh(jax, jnp, optax, a, args):
    return optax.losses.log_cosh(a["y_pred"], a["y_true"])


def _axis(args) -> dict:
    """``{"axis": k}`` only for a class axis other than the last: optax < 0.2.4 has no ``axis`` keyword, so the
    default is left to the default (the call users write) and only another axis needs the keyword."""
    axis = int(args.get("axis", -1))
    return {} if axis == -1 else {"axis": axis}


def _categorical(jax, jnp, optax, a, args):
    labels = a["y_true"]
    smoothing = float(args.get("label_smoothing", 0.0) or 0.0)
    if smoothing:
        labels = optax.smooth_labels(labels, smoothing, **_axis(args))
    return optax.losses.softmax_cross_entropy(a["y_pred"], labels, **_axis(args), **_where(a))


def _where(a) -> dict:
    """optax's ``where=`` (a boolean mask, one entry per sample: optax expands it along ``axis``) from the
    call's 0/1 ``where``; absent, nothing is passed."""
    return {"where": a["where"] != 0} if "where" in a else {}


def _sparse(jax, jnp, optax, a, args):
    return optax.losses.softmax_cross_entropy_with_integer_labels(a["y_pred"], a["labels"], **_axis(args),
                                                                  **_where(a))


def _binary(jax, jnp, optax, a, args):
    return optax.losses.sigmoid_binary_cross_entropy(a["y_pred"], a["y_true"])


def _kl(jax, jnp, optax, a, args):
    # kl_divergence's first argument is documented as log-probabilities: the log is taken in JAX.
    return optax.losses.kl_divergence(jnp.log(a["q"]), a["p"], **_axis(args))


def _l2(jax, jnp, optax, a, args):
    return optax.losses.l2_loss(a["y_pred"], a["y_true"])


def _safe_categorical(jax, jnp, optax, a, args):
    # No axis argument: the class axis is moved last (a layout translation).
    axis = int(args.get("axis", -1))
    return optax.losses.safe_softmax_cross_entropy(jnp.moveaxis(a["y_pred"], axis, -1),
                                                   jnp.moveaxis(a["y_true"], axis, -1))


def _kl_log_targets(jax, jnp, optax, a, args):
    # Both arguments in log space, each log taken in JAX in the call's dtype (a zero p becomes -inf).
    return optax.losses.kl_divergence_with_log_targets(jnp.log(a["q"]), jnp.log(a["p"]),
                                                       **_axis(args))


def _generalized_kl(jax, jnp, optax, a, args):
    return optax.losses.generalized_kl_divergence(jnp.log(a["q"]), a["p"], **_axis(args))


def _convex_kl(jax, jnp, optax, a, args):
    # Deprecated alias of generalized_kl_divergence (it warns once per trace).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return optax.losses.convex_kl_divergence(jnp.log(a["q"]), a["p"], **_axis(args))


def _hinge(jax, jnp, optax, a, args):
    return optax.losses.hinge_loss(a["y_pred"], a["y_true"])


def _categorical_hinge(jax, jnp, optax, a, args):
    return optax.losses.multiclass_hinge_loss(a["y_pred"], jnp.argmax(a["y_true"], axis=-1))


def _cosine_similarity(jax, jnp, optax, a, args):
    return optax.losses.cosine_similarity(a["y_pred"], a["y_true"], axis=int(args.get("axis", -1)))


def _cosine_distance(jax, jnp, optax, a, args):
    return optax.losses.cosine_distance(a["y_pred"], a["y_true"], axis=int(args.get("axis", -1)))


def _triplet(jax, jnp, optax, a, args):
    # norm_degree is torch's p: an integral degree is passed as an int (jnp.power then squares exactly).
    degree = args.get("p", 2)
    degree = int(degree) if float(degree) == int(degree) else float(degree)
    return optax.losses.triplet_margin_loss(a["anchor"], a["positive"], a["negative"], axis=int(args.get("axis", -1)),
                                            norm_degree=degree, margin=float(args.get("margin", 1.0)))


def _cosine_similarity_epsilon(jax, jnp, optax, a, args):
    return optax.losses.cosine_similarity(a["y_pred"], a["y_true"], axis=int(args.get("axis", -1)),
                                          epsilon=COSINE_EPSILON)


def _cosine_distance_epsilon(jax, jnp, optax, a, args):
    return optax.losses.cosine_distance(a["y_pred"], a["y_true"], axis=int(args.get("axis", -1)),
                                        epsilon=COSINE_EPSILON)


def _binary_focal(jax, jnp, optax, a, args):
    # optax weights the classes when alpha is given (default None); Keras only with apply_class_balancing=True.
    alpha = float(args.get("alpha", 0.25)) if args.get("apply_class_balancing", False) else None
    return optax.losses.sigmoid_focal_loss(a["y_pred"], a["y_true"], alpha=alpha, gamma=float(args.get("gamma", 2.0)))


def _overlap_axis(args, ndim: int):
    """The reference's summed axes as optax's ``axis``: the reference's None (every axis) is a tuple of them all
    (optax's None means the axes between the first and the last); a case file's list becomes a tuple."""
    axis = args.get("axis", -1)
    if axis is None:
        return tuple(range(ndim))
    return tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else int(axis)


def _dice_reduction(args) -> str:
    return str(args.get("reduction", "none"))


def _class_weights(a) -> dict:
    """optax's ``class_weights=`` (one per class) from the call's ``class_weight``; absent, nothing is passed."""
    return {"class_weights": a["class_weight"]} if "class_weight" in a else {}


def _dice(jax, jnp, optax, a, args):
    # reduction: 'none' unless the form asks for optax's class reduction (its last axis): see DiceBinding.
    return optax.losses.dice_loss(a["y_pred"], a["y_true"], smooth=float(args.get("smooth", 0.0)),
                                  apply_softmax=True, reduction=_dice_reduction(args),
                                  ignore_background=bool(args.get("ignore_background", False)),
                                  axis=_overlap_axis(args, a["y_pred"].ndim), **_class_weights(a))


def _tversky(jax, jnp, optax, a, args):
    return optax.losses.dice_loss(a["y_pred"], a["y_true"], smooth=float(args.get("smooth", 0.0)),
                                  alpha=float(args.get("alpha", 0.5)), beta=float(args.get("beta", 0.5)),
                                  apply_softmax=True, reduction=_dice_reduction(args),
                                  ignore_background=bool(args.get("ignore_background", False)),
                                  axis=_overlap_axis(args, a["y_pred"].ndim), **_class_weights(a))


def _generalized_dice(jax, jnp, optax, a, args):
    # The reference's axis=None (one value for the whole batch) is the batch given a leading axis of length 1
    # (one sample: optax sums over every axis between the first and the last); otherwise the arrays as they are.
    y_pred, y_true = a["y_pred"], a["y_true"]
    if args.get("axis") is None:
        y_pred, y_true = y_pred[None], y_true[None]
    return optax.losses.multiclass_generalized_dice_loss(
        y_pred, y_true, smooth=float(args.get("smooth", 0.0)), apply_softmax=True,
        ignore_background=bool(args.get("ignore_background", False)))


def _binary_dice(jax, jnp, optax, a, args):
    # binary_dice_loss on (N, ..., 1) inputs sums over its default axes (between the first and the last) and
    # averages its one channel away: for a rank >= 3 input the (N,) losses get their channel axis back (layout:
    # the reference keeps the unsummed channel); a rank-2 (N, 1) input sums over nothing, one loss per sample.
    out = optax.losses.binary_dice_loss(a["y_pred"], a["y_true"], smooth=float(args.get("smooth", 0.0)),
                                        apply_sigmoid=True)
    return out[..., None] if a["y_pred"].ndim >= 3 else out
def _ctc(jax, jnp, optax, a, args):
    # optax takes paddings (1.0 at and past a sequence's length, in the logits' dtype, as its docstring describes
    # them) where the reference takes lengths: the same information, laid out per position.
    logits, labels = a["logits"], a["labels"]

    def paddings(lengths, width):
        return (jnp.arange(width)[None, :] >= lengths[:, None]).astype(logits.dtype)

    return optax.losses.ctc_loss(logits, paddings(a["logit_lengths"], logits.shape[1]), labels,
                                 paddings(a["label_lengths"], labels.shape[1]), blank_id=int(args.get("blank", 0)))


def _softmax(jax, jnp, optax, a, args):
    return jax.nn.softmax(a["z"], **_axis(args))


def _log_softmax(jax, jnp, optax, a, args):
    return jax.nn.log_softmax(a["z"], **_axis(args))


def _sigmoid(jax, jnp, optax, a, args):
    return jax.nn.sigmoid(a["z"])


_CALLS: dict[str, Callable[..., Any]] = {
    "mean_squared_error": _mse,
    "huber": _huber,
    "log_cosh": _log_cosh,
    "categorical_crossentropy": _categorical,
    "sparse_categorical_crossentropy": _sparse,
    "binary_crossentropy": _binary,
    "kl_divergence": _kl,
    "hinge": _hinge,
    "categorical_hinge": _categorical_hinge,
    "l2_loss": _l2,
    "categorical_crossentropy@safe": _safe_categorical,
    "kl_divergence@log_targets": _kl_log_targets,
    "generalized_kl_divergence": _generalized_kl,
    "generalized_kl_divergence@convex": _convex_kl,
    "cosine_similarity": _cosine_similarity,
    "cosine_distance": _cosine_distance,
    "binary_focal_crossentropy": _binary_focal,
    "dice": _dice,
    "tversky": _tversky,
    "dice@binary": _binary_dice,
    "generalized_dice": _generalized_dice,
    "cosine_similarity@epsilon": _cosine_similarity_epsilon,
    "cosine_distance@epsilon": _cosine_distance_epsilon,
    "triplet_margin_loss": _triplet,
    "ctc_loss": _ctc,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sigmoid": _sigmoid,
}

BINDINGS: dict[str, Binding] = {
    "mean_squared_error": OptaxBinding(
        "mean_squared_error", "optax.losses.squared_error(predictions=y_pred, targets=y_true)",
        _FORMS, CONVENTION, granularity="element", differentiable=("y_true",)),
    "huber": OptaxBinding(
        "huber", "optax.losses.huber_loss(predictions=y_pred, targets=y_true, delta=delta)",
        _FORMS, CONVENTION, granularity="element", args=("delta",), differentiable=("y_true",)),
    "log_cosh": OptaxBinding(
        "log_cosh", "optax.losses.log_cosh(predictions=y_pred, targets=y_true)",
        _FORMS, CONVENTION, granularity="element", differentiable=("y_true",)),
    "categorical_crossentropy": OptaxBinding(
        "categorical_crossentropy",
        "optax.losses.softmax_cross_entropy(logits=y_pred, labels=y_true, axis=axis); with "
        "label_smoothing: labels=optax.smooth_labels(y_true, label_smoothing, axis=axis), where=where != 0; "
        "from_logits=True only",
        _FORMS, CONVENTION, granularity="sample", args=("from_logits", "label_smoothing", "where"),
        requires={"from_logits": True}, differentiable=("y_true",)),
    "sparse_categorical_crossentropy": OptaxBinding(
        "sparse_categorical_crossentropy",
        "optax.losses.softmax_cross_entropy_with_integer_labels(logits=y_pred, labels=labels (int64), "
        "axis=axis, where=where != 0); from_logits=True only",
        _FORMS, CONVENTION, granularity="sample", args=("from_logits", "where"), requires={"from_logits": True}),
    "binary_crossentropy": OptaxBinding(
        "binary_crossentropy",
        "optax.losses.sigmoid_binary_cross_entropy(logits=y_pred, labels=y_true); from_logits=True only, "
        "no label_smoothing",
        _FORMS, CONVENTION, granularity="element", args=("from_logits",), requires={"from_logits": True},
        differentiable=("y_true",)),
    "kl_divergence": OptaxBinding(
        "kl_divergence",
        "optax.losses.kl_divergence(log_predictions=jnp.log(q) (log-space input, taken in JAX in the "
        "call's dtype), targets=p, axis=axis)",
        _FORMS, CONVENTION, granularity="sample", grad_wrt="q", differentiable=("p",)),
    "hinge": OptaxBinding(
        "hinge", "optax.losses.hinge_loss(predictor_outputs=y_pred, targets=y_true); optax requires "
        "targets in {-1, 1}: y_true is passed as given, no {0,1} conversion",
        _FORMS, CONVENTION, granularity="element"),
    "categorical_hinge": OptaxBinding(
        "categorical_hinge", "optax.losses.multiclass_hinge_loss(scores=y_pred, "
        "labels=jnp.argmax(y_true, -1)); optax requires integer labels: one-hot y_true only, last axis only",
        _FORMS, CONVENTION, granularity="sample", one_hot="y_true"),
    "l2_loss": OptaxBinding(
        "l2_loss", "optax.losses.l2_loss(predictions=y_pred, targets=y_true) (0.5 * squared_error)",
        _FORMS, CONVENTION, granularity="element"),
    "categorical_crossentropy@safe": OptaxBinding(
        "categorical_crossentropy",
        "optax.losses.safe_softmax_cross_entropy(logits=y_pred, labels=y_true) (class axis moved last: no axis "
        "argument); from_logits=True only, no label_smoothing", ("safe:none",), "optax_safe", granularity="sample",
        args=("from_logits",), requires={"from_logits": True}),
    "kl_divergence@log_targets": OptaxBinding(
        "kl_divergence",
        "optax.losses.kl_divergence_with_log_targets(log_predictions=jnp.log(q), log_targets=jnp.log(p), axis=axis) "
        "(both logs taken in JAX in the call's dtype)", ("log_targets:none",), CONVENTION, granularity="sample",
        grad_wrt="q"),
    "generalized_kl_divergence": OptaxBinding(
        "generalized_kl_divergence",
        "optax.losses.generalized_kl_divergence(log_predictions=jnp.log(q), targets=p, axis=axis)",
        _FORMS, CONVENTION, granularity="sample", grad_wrt="q"),
    "generalized_kl_divergence@convex": OptaxBinding(
        "generalized_kl_divergence",
        "optax.losses.convex_kl_divergence(log_predictions=jnp.log(q), targets=p, axis=axis) (deprecated alias of "
        "generalized_kl_divergence)", ("convex:none",), CONVENTION, granularity="sample", grad_wrt="q"),
    "cosine_similarity": OptaxBinding(
        "cosine_similarity", "optax.losses.cosine_similarity(predictions=y_pred, targets=y_true, axis=axis) "
        "(epsilon=0.0, its default)", _FORMS, CONVENTION, granularity="sample"),
    "cosine_distance": OptaxBinding(
        "cosine_distance", "optax.losses.cosine_distance(predictions=y_pred, targets=y_true, axis=axis) "
        "(epsilon=0.0, its default)", _FORMS, CONVENTION, granularity="sample"),
    "binary_focal_crossentropy": OptaxBinding(
        "binary_focal_crossentropy", "optax.losses.sigmoid_focal_loss(logits=y_pred, labels=y_true, alpha=alpha if "
        "apply_class_balancing else None, gamma=gamma); from_logits=True only, no label_smoothing",
        _FORMS, CONVENTION, granularity="element", args=("apply_class_balancing", "alpha", "gamma", "from_logits"),
        requires={"from_logits": True}),
    "dice": DiceBinding(
        "dice", "optax.losses.dice_loss(predictions=y_pred, targets=y_true, smooth=smooth, apply_softmax=True, "
        "reduction=<form's>, axis=axis, class_weights=class_weight, ignore_background=ignore_background) "
        "(from_logits=True only: apply_softmax=False "
        "raises under jax.jit)",
        _DICE_FORMS, CONVENTION, granularity="sample", args=("smooth", "from_logits", "class_weight", "ignore_background"),
        requires={"from_logits": True}),
    "tversky": DiceBinding(
        "tversky", "optax.losses.dice_loss(predictions=y_pred, targets=y_true, alpha=alpha, beta=beta, smooth=smooth, "
        "apply_softmax=True, reduction=<form's>, axis=axis, class_weights=class_weight, "
        "ignore_background=ignore_background) (from_logits=True only)",
        _DICE_FORMS, CONVENTION, granularity="sample", args=("alpha", "beta", "smooth", "from_logits", "class_weight",
                                                               "ignore_background"),
        requires={"from_logits": True}),
    "generalized_dice": GeneralizedDiceBinding(
        "generalized_dice", "optax.losses.multiclass_generalized_dice_loss(predictions=y_pred, targets=y_true, "
        "smooth=smooth, apply_softmax=True, ignore_background=ignore_background): the mean over the first axis, "
        "axis = every other axis (axis=None: the batch given a leading axis of length 1) (from_logits=True only: "
        "apply_softmax=False raises TracerBoolConversionError under jax.jit)",
        ("function:mean",), CONVENTION, granularity="sample", args=("smooth", "from_logits", "ignore_background"),
        requires={"from_logits": True}),
    "dice@binary": BinaryDiceBinding(
        "dice", "optax.losses.binary_dice_loss(predictions=y_pred, targets=y_true, smooth=smooth, apply_sigmoid=True) "
        "on (N, ..., 1) inputs, summed over the axes between the first and the last (axis = those), channel kept; "
        "on (N, 1) inputs one loss per sample (axis = -1)",
        ("binary:none",), CONVENTION, granularity="sample", args=("smooth", "from_logits"),
        requires={"from_logits": True}),
    "cosine_similarity@epsilon": OptaxBinding(
        "cosine_similarity", f"optax.losses.cosine_similarity(predictions=y_pred, targets=y_true, axis=axis, "
        f"epsilon={COSINE_EPSILON!r}) (Keras 2's l2_normalize epsilon, on the squared norm)", ("epsilon:none",),
        "optax_cosine_epsilon", granularity="sample"),
    "cosine_distance@epsilon": OptaxBinding(
        "cosine_distance", f"optax.losses.cosine_distance(predictions=y_pred, targets=y_true, axis=axis, "
        f"epsilon={COSINE_EPSILON!r}) (on the squared norm)", ("epsilon:none",), "optax_cosine_epsilon",
        granularity="sample"),
    "triplet_margin_loss": OptaxBinding(
        "triplet_margin_loss", "optax.losses.triplet_margin_loss(anchors=anchor, positives=positive, "
        "negatives=negative, axis=axis, norm_degree=p, margin=margin) (eps=1e-6, its default; no swap); gradients "
        "with respect to all three", _FORMS, CONVENTION, granularity="sample", args=("margin", "p"),
        grad_wrt="negative", differentiable=("anchor", "positive")),
    "ctc_loss": OptaxBinding(
        "ctc_loss", "optax.losses.ctc_loss(logits=logits, logit_paddings=(arange(T) >= logit_lengths[:, None]), "
        "labels=labels, label_paddings=(arange(N) >= label_lengths[:, None]), blank_id=blank) (paddings in the "
        "logits' dtype; log_epsilon=-1e5, its default); one loss per sequence, no reduction, no zero_infinity",
        _FORMS, CONVENTION, granularity="sample", grad_wrt="logits", args=("blank",)),
    "softmax": OptaxBinding("softmax", "jax.nn.softmax(z, axis=axis)", _FORMS, CONVENTION,
                            granularity="sample", grad_wrt="z"),
    "log_softmax": OptaxBinding("log_softmax", "jax.nn.log_softmax(z, axis=axis)", _FORMS, CONVENTION,
                                granularity="sample", grad_wrt="z"),
    "sigmoid": OptaxBinding("sigmoid", "jax.nn.sigmoid(z)", _FORMS, CONVENTION, granularity="sample",
                            grad_wrt="z"),
}

_BY_FORM: dict[tuple[str, str], str] = {(b.loss, form): key for key, b in BINDINGS.items() for form in b.forms}
assert len(_BY_FORM) == sum(len(b.forms) for b in BINDINGS.values()), "two optax bindings share a loss and form"

# Measured against reference/ under the "optax" convention with optax 0.2.8 / jax 0.10.2 on CPU (no GPU
# was available when these were measured; the selectors leave the device open).
# Verified by the version matrix (noxfile.py): optax 0.2.3 / jax 0.4.30 (set tf215), 0.2.4 / jax 0.5.3 (set tf218)
# and 0.2.8 / jax 0.10.2 (pinned): every deviation shows there as declared (before 0.2.4 the class-axis
# checks are skips: no ``axis`` keyword).
OPTAX_VERSIONS = ">=0.2.3,<0.2.9"
_OPTAX_CLS = "optax/losses/_classification.py"

DEVIATIONS: tuple[Deviation, ...] = (
    # Before the other declarations: on these releases the masked cells are errors, whatever their dtype.
    Deviation(
        name="where_not_expanded_before_0_2_6",
        summary="Before optax 0.2.6 a per-sample where= mask (shape (N,)) is not expanded along the class axis: it "
                "fails to broadcast against (N, K) logits (ValueError 'Incompatible shapes for broadcasting'); "
                "0.2.6 added jnp.expand_dims(where, axis).  On 0.2.4 / 0.2.5 pass where[..., None] (shape (N, 1)).",
        when={"case": ("gen.where.*", "edge.scce.where-*")},
        shows="error:ValueError", versions=">=0.2.4,<0.2.6",
        source=f"{_OPTAX_CLS} softmax_cross_entropy(_with_integer_labels) in optax 0.2.4, 0.2.5 and 0.2.6 (read); "
               "measured on 0.2.4 (version set tf218)"),
    Deviation(
        name="flushes_subnormals",
        summary="XLA on CPU flushes subnormals to zero: in float16 a score of 1.19e-7 (subnormal there) "
                "counts as 0, so multiclass_hinge_loss sees a tie and splits the gradient (found by the fuzzer).",
        when={"case": "fuzz.optax.categorical_hinge.0069ac07603b", "kind": "grad"}, shows="differs",
        versions=OPTAX_VERSIONS,
        source="XLA CPU backend (denormals flushed in its compiled kernels); measured with jax 0.10.2"),
    Deviation(
        name="dice_empty_mask_probability_flushed",
        summary="dice_loss / binary_dice_loss in float16 with smooth=0: sigmoid(-12) = 6.1e-6 is subnormal in "
                "float16 and XLA on CPU flushes it to zero, so an empty mask's ratio 2I / (T + P) becomes 0/0: "
                "value and gradient NaN where the mathematics gives 1 and 0 (found by the fuzzer; smooth > 0, "
                "optax's default 1.0, avoids it).",
        when={"loss": "dice", "case": "fuzz.optax.dice-binary.2b86512734c8", "dtype": "float16",
              "kind": ("edge", "value", "grad")},
        shows="nan", versions=OPTAX_VERSIONS,
        source="optax/losses/_segmentation.py dice_loss (0.2.8) on the XLA CPU backend (denormals flushed); "
               "measured with jax 0.10.2"),
    Deviation(
        name="generalized_dice_weight_overflows_in_float16",
        summary="multiclass_generalized_dice_loss computes its class weights 1 / (count^2 + 1e-7) in the input's "
                "dtype: in float16 a class absent from the batch weighs 1 / 1.19e-7 = 8.4e6 > 65504, inf, and the "
                "normalisation inf / inf gives NaN (value and gradient) where float32 and float64 give 0.3151 "
                "(the reference keeps the weights finite).",
        when={"loss": "generalized_dice", "case": "edge.generalized-dice.absent-class-float16", "dtype": "float16",
              "kind": ("edge", "grad")},
        shows="nan", versions=">=0.2.8",
        source="optax/losses/_segmentation.py multiclass_generalized_dice_loss (0.2.8); measured with jax 0.10.2"),
    Deviation(
        name="multiclass_hinge_tie_from_rounding",
        summary="multiclass_hinge_loss adds the margin 1 in the input's dtype: in bfloat16 1 + 0.0039 rounds to 1, "
                "a tie the exact scores do not have, and jax splits the gradient ([-0.5, 0.5, 0] against "
                "[-1, 1, 0]; found by the fuzzer).  Only under x64: without it the gradient is the exact "
                "[-1, 1, 0] (measured; the float32 one-hot then keeps the sum in float32).",
        when={"case": "fuzz.optax.categorical_hinge.b98f06888240", "kind": "grad"}, shows="differs",
        versions=OPTAX_VERSIONS, settings={"x64": "on"},
        source="optax/losses/_classification.py multiclass_hinge_loss; jax max JVP splits ties"),
    Deviation(
        name="multiclass_hinge_margin_rounded",
        summary="multiclass_hinge_loss forms scores + 1 - one_hot with the margin added in the scores' dtype: in "
                "bfloat16 256 + 1 rounds to 256, so a single class scored 256 costs -1 where the loss is 0 (an "
                "error the size of the intermediate's ulp, not of the result; found by the fuzzer).",
        when={"loss": "categorical_hinge", "case": "fuzz.optax.categorical_hinge.29b29cac7b23",
              "dtype": "bfloat16", "kind": ("edge", "value")},
        shows="differs", versions=OPTAX_VERSIONS, settings={"x64": "on"},
        source=f"{_OPTAX_CLS} multiclass_hinge_loss (jnp.max(scores + 1.0 - one_hot) - sum(scores * one_hot)); "
               "measured with jax 0.10.2 under x64 (without x64 the same input passes its check)"),
    Deviation(
        name="huber_grad_off_by_ulp_of_delta",
        summary="huber_loss's gradient in the quadratic zone is off by up to ulp(delta) absolutely in every dtype: "
                "autodiff of 0.5 q^2 + delta (|x| - q), q = min(|x|, delta), forms (x + delta) - delta. Found by "
                "the fuzzer: float32, x = 1e-7, delta 1 gives 1.19e-7 (exact 1e-7); float16, delta 2, "
                "x = 4.94e-4 gives 9.77e-4; bfloat16, delta 1, x = 0.00195 gives 0.",
        when={"case": ("fuzz.optax.huber.e812c597c820", "fuzz.optax.huber.464022979b91",
                       "fuzz.optax.huber.35724fb2c81f"), "kind": "grad",
              "dtype": ("float16", "bfloat16", "float32", "float64")},
        shows="differs", versions=OPTAX_VERSIONS,
        source="optax/losses/_regression.py huber_loss (quadratic = minimum(abs_errors, delta); linear = "
               "abs_errors - quadratic)"),
    Deviation(
        name="huber_grad_off_by_ulp_of_delta_bfloat16",
        summary="The bfloat16 case of huber_grad_off_by_ulp_of_delta (delta 1, x = 0.00195: gradient 0), which "
                "shows from jax 0.5.3 on; with jax 0.4.30 (optax 0.2.3 or 0.2.4) the gradient there is exact "
                "(version matrix, sets tf215 and tf216: the check passes without the declaration).",
        when={"case": "fuzz.optax.huber.be17f50c0963", "kind": "grad"},
        shows="differs", versions="jax>=0.5",
        source="optax/losses/_regression.py huber_loss; measured on optax 0.2.3 and 0.2.4 with jax 0.4.30 (exact) "
               "and optax 0.2.4/jax 0.5.3, 0.2.8/jax 0.10.2 (gradient 0): the jax release decides"),
    Deviation(
        name="l2_loss_squares_before_halving",
        summary="l2_loss is 0.5 * squared_error: the square is formed first, so in float16 an error of 300 gives "
                "300^2 = 90000 > 65504 = inf where the loss, 45000, is representable.",
        when={"binding": "l2_loss", "case": "edge.l2-loss.large-error", "dtype": "float16", "kind": "edge"},
        shows="inf", versions=OPTAX_VERSIONS, source="optax/losses/_regression.py l2_loss (optax 0.2.8)"),
    Deviation(
        name="log_targets_zero_target_nan",
        summary="kl_divergence_with_log_targets computes exp(log_targets) * (log_targets - log_predictions): a zero "
                "target probability, -inf in log space, gives 0 * -inf = NaN for that class whatever q is (edge.kl.p-zero: "
                "p = [0, 1], q = [0.5, 0.5] is NaN where the KL is log 2; kl_divergence gives NaN only where p = q = 0).",
        when={"binding": "kl_divergence@log_targets", "case": "edge.kl.p-zero", "kind": ("edge", "value", "grad"),
              "dtype": ("float16", "bfloat16", "float32", "float64")},
        shows="differs", versions=OPTAX_VERSIONS,
        source=f"{_OPTAX_CLS} kl_divergence_with_log_targets (optax 0.2.8); measured"),
    Deviation(
        name="integer_label_out_of_range_nan",
        summary="softmax_cross_entropy_with_integer_labels picks the label's logit with jnp.take_along_axis, "
                "whose out-of-bounds mode fills NaN: label 3 with K = 3 classes gives NaN, where the "
                "reference raises IndexError.",
        when={"loss": "sparse_categorical_crossentropy", "case": "*label-out-of-range*"},
        shows="nan", versions=OPTAX_VERSIONS,
        source=f"{_OPTAX_CLS} softmax_cross_entropy_with_integer_labels (jnp.take_along_axis; optax 0.2.8, "
               "jax 0.10.2)"),
    Deviation(
        name="ignore_index_label_nan",
        summary="optax has no ignore_index: torch's -100 is an out-of-bounds index for take_along_axis and "
                "gives NaN for that sample (the other samples are unaffected), where the reference raises "
                "IndexError.",
        when={"loss": "sparse_categorical_crossentropy", "case": "*label-ignore-index*"},
        shows="nan", versions=OPTAX_VERSIONS,
        source=f"{_OPTAX_CLS} softmax_cross_entropy_with_integer_labels (jnp.take_along_axis; optax 0.2.8, "
               "jax 0.10.2)"),
    Deviation(
        name="negative_label_wraps",
        summary="softmax_cross_entropy_with_integer_labels indexes NumPy-style: label -1 is class K-1 "
                "(a number: 0.4644 for logits [0.5, 1, 2]), where the reference raises IndexError.",
        when={"loss": "sparse_categorical_crossentropy", "case": "*label-negative*"},
        shows="value", versions=OPTAX_VERSIONS,
        source=f"{_OPTAX_CLS} softmax_cross_entropy_with_integer_labels (jnp.take_along_axis; optax 0.2.8)"),
    Deviation(
        name="multiclass_hinge_promotes_dtype",
        summary="multiclass_hinge_loss adds jax.nn.one_hot(labels, K), whose default dtype is the default "
                "float (float64 under jax_enable_x64, float32 otherwise), so float16/bfloat16/float32 scores "
                "give a float64 loss under x64 (the gradient keeps the input dtype).",
        when={"loss": "categorical_hinge", "kind": "dtype", "dtype": "*[13][26]"},  # float16/bfloat16/float32
        shows="differs", versions=OPTAX_VERSIONS, settings={"x64": "on"},
        source=f"{_OPTAX_CLS} multiclass_hinge_loss (jax.nn.one_hot default dtype; optax 0.2.8)"),
    Deviation(
        name="float64_needs_x64",
        summary="Without JAX's x64 mode (off by default) a float64 input becomes a float32 array (JAX warns "
                "'Explicitly requested dtype float64 ... will be truncated to dtype float32'): the loss and its "
                "gradient come back float32, computed in float32 (the value and gradient checks judge them so).",
        when={"kind": "dtype", "dtype": "float64"}, shows="differs", versions=OPTAX_VERSIONS, settings={"x64": "off"},
        source="jax/_src/dtypes.py canonicalize_dtype (jax 0.10.2; jax_enable_x64 defaults to False); measured"),
    Deviation(
        name="multiclass_hinge_promotes_half_dtype",
        summary="Without x64 the default float is float32: multiclass_hinge_loss's jax.nn.one_hot(labels, K) "
                "promotes float16/bfloat16 scores to a float32 loss (float32 scores keep their dtype; the "
                "gradient keeps the input dtype).",
        when={"loss": "categorical_hinge", "kind": "dtype", "dtype": ("float16", "bfloat16")},
        shows="differs", versions=OPTAX_VERSIONS, settings={"x64": "off"},
        source=f"{_OPTAX_CLS} multiclass_hinge_loss (jax.nn.one_hot default dtype; optax 0.2.8)"),
    Deviation(
        name="ctc_promotes_half_dtype",
        summary="ctc_loss starts its forward recursion from jnp.ones((B, N + 1)) * log_epsilon, in JAX's default "
                "float dtype: without x64 float16/bfloat16 logits give a float32 loss (the log-softmax is taken in "
                "the half dtype, the recursion in float32; the gradient keeps the input dtype).",
        when={"loss": "ctc_loss", "kind": "dtype", "dtype": ("float16", "bfloat16")},
        shows="differs", versions=OPTAX_VERSIONS, settings={"x64": "off"},
        source=f"{_OPTAX_CLS} ctc_loss_with_forward_probs (logalpha_phi_init = jnp.ones(...) * log_epsilon; optax "
               "0.2.8); measured"),
    Deviation(
        name="ctc_promotes_dtype",
        summary="Under x64 the same initial state is float64: float16/bfloat16/float32 logits give a float64 "
                "loss (the gradient keeps the input dtype).",
        when={"loss": "ctc_loss", "kind": "dtype", "dtype": "*[13][26]"},
        shows="differs", versions=OPTAX_VERSIONS, settings={"x64": "on"},
        source=f"{_OPTAX_CLS} ctc_loss_with_forward_probs (jnp.ones default dtype; optax 0.2.8)"),
    Deviation(
        name="ctc_infeasible_target_finite",
        summary="ctc_loss stands log_epsilon = -1e5 in for log 0 (impossible states and transitions): a target no "
                "alignment reaches (1, 1, 1 in 4 frames: a repeat needs a blank between) costs 100001.96, a finite "
                "number about -log_epsilon, where the loss is -log 0 = inf (torch: inf, or 0 with zero_infinity). "
                "A loss above 1e4 from optax's ctc_loss marks an infeasible target; mask it before averaging.",
        when={"loss": "ctc_loss", "case": "edge.ctc.infeasible", "kind": "edge"}, shows="value",
        versions=OPTAX_VERSIONS,
        source=f"{_OPTAX_CLS} ctc_loss (log_epsilon: 'Numerically-stable approximation of log(+0)', default -1e5; "
               "optax 0.2.8); measured"),
    # -- added with the half-precision tolerance model (docs/tolerances.md) and the reference's argument checks
    Deviation(
        name="accepts_invalid_arguments",
        summary="optax checks no argument: huber_loss(delta=-1) gives [-1, -3.5] for y = [0, 0], p = [0.5, 3] "
                "(negative losses) and delta=0 gives 0; smooth_labels(labels, 1.5 or -0.5) feeds "
                "softmax_cross_entropy overshooting or negative targets (1.714 / 0.0477 for logits [1, 2, 0.5], "
                "class 1), where the reference raises ValueError naming the argument.",
        when={"case": "edge.args.*", "kind": "edge"}, shows="value", versions=OPTAX_VERSIONS,
        source="optax/losses/_regression.py huber_loss, optax/losses/_smoothing.py smooth_labels (optax 0.2.8); "
               "measured"),
    Deviation(
        name="computes_in_half_precision",
        summary="Jitted on the CPU, optax.losses and jax.nn compute in the input's half dtype: every operation "
                "rounds to it (jax.nn.log_softmax rounds x - max, log(sum exp) and their difference, reproduced in "
                "98-99% of 10000 entries).  Measured over the --sweep plan: log_cosh up to 10 ulps of results >= "
                "1/16 and 1.5 u absolutely below (a loss of 8.3e-9 comes out -0.00049 in float16: the fuzz "
                "cases); log_softmax 6.9 / 4.2 ulps and 0.85 u; softmax_cross_entropy_with_integer_labels 2.1 u "
                "absolutely (133 ulps of a loss of 0.008 in bfloat16); KL 2.5 ulps; the others 1-1.9.  Judged by "
                "the bound of a computation in the half dtype (native model, probabilistic gamma).",
        when={"binding": ("binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
                          "categorical_hinge", "cosine_distance",
                          "cosine_similarity", "huber",
                          "kl_divergence", "log_cosh", "log_softmax", "mean_squared_error", "sigmoid", "softmax",
                          "sparse_categorical_crossentropy", "l2_loss", "categorical_crossentropy@safe",
                          "kl_divergence@log_targets", "generalized_kl_divergence",
                          "generalized_kl_divergence@convex", "dice", "tversky", "dice@binary",
                          "generalized_dice", "triplet_margin_loss", "cosine_similarity@epsilon", "cosine_distance@epsilon"),
              "dtype": ("float16", "bfloat16"), "kind": ("value", "edge")},
        shows="half-arithmetic", versions=OPTAX_VERSIONS,
        source="XLA CPU (jax 0.10.2): elementwise ops and reductions in the operands' dtype; measured "
               "(tests/meta/half_precision_survey.py --sweep)"),
)


class OptaxAdapter:
    """optax: ``optax.losses.*`` functions (form ``function:none``; optax never reduces)."""

    name = "optax"
    bindings = BINDINGS
    conventions: Mapping[str, Convention] = CONVENTIONS
    # The optax releases whose every API the bindings call exists (an API one of them lacks is the adapter's
    # fault; an older release lacking one -- the losses' ``axis`` came in 0.2.4 -- is a skip with the reason:
    # adapters.protocol.Unsupported).  The declarations hold more widely (OPTAX_VERSIONS).
    written_for = ">=0.2.8,<0.2.9"

    @property
    def deviations(self) -> tuple[Deviation, ...]:
        """:data:`DEVIATIONS` that hold under this process's x64 state; all of them while JAX is not loaded
        (listing them imports nothing)."""
        loaded = _load.cache_info().currsize > 0 and _load()[0] is not None
        return active(DEVIATIONS, self.settings() if loaded else None)

    def x64(self) -> bool:
        """Whether JAX's x64 mode is on now (float64 arrays exist only then)."""
        return bool(_modules()[0].config.jax_enable_x64)

    def settings(self) -> dict[str, str]:
        """The process-level settings this adapter runs under (``run.settings`` of the results file)."""
        mods, _ = _load()
        if mods is None:
            return {}
        return {"version": mods[2].__version__, "optax": mods[2].__version__, "jax": mods[0].__version__,
                "x64": "on" if self.x64() else "off"}

    def version(self) -> str:
        mods, _ = _load()
        return mods[2].__version__ if mods is not None else "not installed"

    def release(self) -> str | None:
        """The optax release the ``versions=`` of the declarations name (None when absent)."""
        mods, _ = _load()
        return mods[2].__version__ if mods is not None else None

    def jax_version(self) -> str:
        mods, _ = _load()
        return mods[0].__version__ if mods is not None else "not installed"

    def available(self) -> str | None:
        return _load()[1]

    def devices(self) -> list[str]:
        mods, _ = _load()
        if mods is None:
            return []
        found = ["cpu"]
        if _device(mods[0], "gpu") is not None:
            found.append("gpu")
        return found

    def dtypes(self) -> list[str]:
        """The dtypes JAX computes in this process: float64 only under x64 (``check_loss``'s default dtypes)."""
        mods, _ = _load()
        if mods is not None and not self.x64():
            return [d for d in FLOAT_DTYPES if d != "float64"]
        return list(FLOAT_DTYPES)

    def convention_for(self, loss: str) -> str:
        return CONVENTION

    def output_dtype(self, call: Call) -> str:
        return call.dtype  # optax computes in the input's dtype (float64 needs x64: deviation float64_needs_x64)

    def compute_dtype(self, call: Call) -> str:
        """The input's dtype; float32 for float64 inputs without x64 (JAX has no float64 arrays then)."""
        if call.dtype == "float64" and not self.x64():
            return "float32"
        return call.dtype

    def binding_key(self, call: Call) -> str | None:
        """The key of the binding that serves ``call``: its loss in its form (a loss has one binding per form)."""
        return _BY_FORM.get((call.loss, call.form))

    def supports(self, call: Call) -> bool:
        """The binding accepts the call (form, dtype, argument names and values, one-hot input) on a
        device here."""
        binding = self.bindings.get(self.binding_key(call) or "")
        return binding is not None and binding.accepts(call) and call.device in (self.devices() or ["cpu"])

    def run(self, call: Call) -> Outcome:
        def go():
            with warnings.catch_warnings():
                # Without x64, JAX warns that float64 "is not available, and will be truncated to dtype
                # float32" and computes in float32: compute_dtype declares that; the warning is noise here.
                warnings.filterwarnings("ignore", message="Explicitly requested dtype", category=UserWarning)
                return self._run(call)

        return timed(go)

    def run_callable(self, fn: Callable[..., Any], call: Call, wrt: str | None) -> Outcome:
        """Run a user's JAX function ``fn(**arrays)`` jitted on the call's inputs (same arrays, dtype and
        device as a binding gets) and its ``jax.grad`` w.r.t. ``wrt`` (``lossparity.check_loss``)."""
        def go():
            jax, jnp, _ = _modules()
            device = _device(jax, call.device)
            if device is None:
                raise RuntimeError(f"JAX has no {call.device!r} device here")
            dtype = jnp.dtype(call.dtype)
            arrays = {name: _array(jax, name, arr, dtype, device) for name, arr in call.inputs.items()}
            seed = None if call.cotangent is None else jax.device_put(jnp.asarray(call.cotangent, dtype=dtype), device)
            out, grad = _jitted_callable(fn, wrt)(arrays, seed)
            if grad is None:
                return Outcome(value=_numpy(out), dtype=str(out.dtype))
            return Outcome(value=_numpy(out), dtype=str(out.dtype), grad=_numpy(grad), grad_dtype=str(grad.dtype))

        return timed(go)

    def _run(self, call: Call) -> Outcome:
        jax, jnp, optax = _modules()
        key = self.binding_key(call)
        if key is None:
            raise NotImplementedError(f"optax adapter has no binding for {call.loss!r} in form {call.form!r}")
        binding = self.bindings[key]
        device = _device(jax, call.device)
        if device is None:
            raise RuntimeError(f"JAX has no {call.device!r} device here")
        dtype = jnp.dtype(call.dtype)
        arrays = {name: _array(jax, name, arr, dtype, device) for name, arr in call.inputs.items()}
        wrt = binding.wrt(call)
        args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in call.args.items()}
        if isinstance(binding, DiceBinding):  # the form's reduction is dice_loss's own reduction= argument
            args["reduction"] = call.reduction
        fn = _compiled(key, tuple(sorted(args.items())), wrt)
        seed = None if call.cotangent is None else jax.device_put(jnp.asarray(call.cotangent, dtype=dtype), device)
        out, grad = fn(arrays, seed)
        if grad is None:
            return Outcome(value=_numpy(out), dtype=str(out.dtype))
        return Outcome(value=_numpy(out), dtype=str(out.dtype), grad=_numpy(grad), grad_dtype=str(grad.dtype))


@functools.lru_cache(maxsize=256)
def _jitted_callable(fn, wrt: str | None):
    """A user's function (``check_loss``) and the gradient of its output summed, weighted by the call's
    cotangent if any, w.r.t. ``wrt``, under ``jax.jit``: compiled once per function, shape and dtype."""
    jax, jnp, _ = _modules()

    def value_and_grad(arrays, seed):
        if wrt is None:
            return fn(**arrays), None

        def summed(x):
            out = fn(**{**arrays, wrt: x})
            return jnp.sum(out if seed is None else out * seed.astype(out.dtype)), out

        (_, out), grad = jax.value_and_grad(summed, has_aux=True)(arrays[wrt])
        return out, grad

    return jax.jit(value_and_grad)


@functools.lru_cache(maxsize=None)
def _compiled(key: str, args: tuple, wrt: str | None):
    """The optax call (and the gradient of its output summed, weighted by the call's cotangent if any,
    w.r.t. ``wrt``) under ``jax.jit``.

    Jitted as JAX users run their losses; it also compiles one XLA program per shape and dtype instead
    of one per primitive, which is what makes the matrix affordable (about 0.3 s against 1.3 s per new
    shape on this CPU).
    """
    jax, jnp, optax = _modules()
    fn, kwargs = _CALLS[key], dict(args)

    def value_and_grad(arrays, seed):
        if wrt is None:
            return fn(jax, jnp, optax, arrays, kwargs), None

        def summed(x):
            out = fn(jax, jnp, optax, {**arrays, wrt: x}, kwargs)
            return jnp.sum(out if seed is None else out * seed.astype(out.dtype)), out

        (_, out), grad = jax.value_and_grad(summed, has_aux=True)(arrays[wrt])
        return out, grad

    return jax.jit(value_and_grad)


def _device(jax, name: str):
    try:
        return jax.devices(name)[0]
    except Exception:  # noqa: BLE001 - no such backend
        return None


def _array(jax, name: str, arr, dtype, device):
    """A case array on ``device``: floats in the call's dtype, integer labels as int64 indices."""
    a = np.asarray(arr)
    if a.dtype.kind in "iub" and name in ("labels", "logit_lengths", "label_lengths"):  # indices and lengths
        return jax.device_put(a.astype(np.int64), device)
    return jax.device_put(a.astype(np.float64), device).astype(dtype)


def _numpy(x) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def _is_one_hot(y) -> bool:
    if y is None:
        return False
    a = np.asarray(y, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] == 0:
        return False
    return bool(np.isin(a, (0.0, 1.0)).all() and (a.sum(axis=-1) == 1).all())


ADAPTER = OptaxAdapter()
