"""Recipes written in Keras 3 (checked on the TensorFlow backend): code that returns PyTorch's or optax's number.

Each function takes tensors named like the reference function's parameters and returns the source
framework's per-sample loss (one value per sample, the class axis -- the last one -- reduced), written with
``keras.losses`` and ``keras.ops``.  Wrapped in a Loss class (``keras.losses.Loss`` subclass or
``keras.losses.LossFunctionWrapper``) the default reduction ``sum_over_batch_size`` is the batch mean, which
is torch's ``reduction="mean"`` of a per-sample loss.  Gradients at kinks and ties follow the backend:
the notes say where another backend than TensorFlow would differ.
"""
from __future__ import annotations

import math

from recipes import lazy, recipe

keras = lazy("keras")
ops = lazy("keras.ops")

TARGET = "keras"
RECIPES: list = []


# ---------------------------------------------------------------------------------------------- regression

@recipe("mean_squared_error", source="torch", differences=("granularity", "target_shape_alignment"),
        note="torch's F.mse_loss(reduction='none') is elementwise: its per-sample mean is Keras's loss; "
             "reduction='mean' is MeanSquaredError()'s default sum_over_batch_size.  torch broadcasts a target of "
             "shape (N,) against y_pred (N, 1) to (N, N) where Keras would expand the target's rank.")
def mean_squared_error_from_torch(y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):  # torch broadcasts; Keras would expand the rank
        shape = tuple(int(n) for n in keras.ops.shape(y_true + y_pred))
        y_true, y_pred = keras.ops.broadcast_to(y_true, shape), keras.ops.broadcast_to(y_pred, shape)
    return keras.losses.mean_squared_error(y_true, y_pred)  # already the per-sample mean


@recipe("mean_squared_error", source="optax", differences=("granularity", "target_shape_alignment"),
        note="optax refuses a target whose shape is not the prediction's, which Keras would expand.")
def mean_squared_error(y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):  # optax refuses what Keras would expand
        raise ValueError(f"Shape mismatch: got {tuple(y_pred.shape)} and {tuple(y_true.shape)}.")
    return keras.losses.mean_squared_error(y_true, y_pred)  # already the per-sample mean


@recipe("mean_absolute_error", source="torch", differences=("granularity",))
def mean_absolute_error_from_torch(y_true, y_pred):
    return keras.losses.mean_absolute_error(y_true, y_pred)  # already the per-sample mean


@recipe("huber", source="torch", differences=("granularity",),
        note="torch's F.smooth_l1_loss(beta) is this divided by beta.")
@recipe("huber", source="optax", differences=("granularity",))
def huber(y_true, y_pred, delta=1.0):
    return keras.losses.huber(y_true, y_pred, delta=delta)  # already the per-sample mean


@recipe("log_cosh", source="optax", differences=("log_cosh_log2", "granularity"),
        note="keras.losses.log_cosh subtracts log(2) rounded to float32: in float64 every value is 1.9e-9 low.")
def log_cosh_from_optax(y_true, y_pred):
    x = y_pred - y_true
    return ops.mean(ops.logaddexp(x, -x) - math.log(2.0), axis=-1)  # log 2 in the input's dtype


@recipe("poisson", source="torch", args={}, differences=("poisson_log_epsilon", "granularity"),
        note="torch's poisson_nll_loss with log_input=False, its default eps=1e-8.")
def poisson_from_torch(y_true, y_pred):
    return ops.mean(y_pred - y_true * ops.log(y_pred + 1e-8), axis=-1)  # torch's eps 1e-8 (Keras: 1e-7)


@recipe("poisson", source="torch", args={"log_input": True}, differences=("log_input_default", "granularity"),
        note="torch's poisson_nll_loss default (log_input=True): y_pred holds log-rates.")
def poisson_log_input_from_torch(y_true, y_pred):
    return ops.mean(ops.exp(y_pred) - y_true * y_pred, axis=-1)  # log-rates in, no epsilon


@recipe("poisson", source="torch", args={"log_input": True, "full": True},
        differences=("log_input_default", "granularity"),
        note="full=True adds Stirling's approximation of log(y!) where y > 1.")
def poisson_full_from_torch(y_true, y_pred):
    y = y_true
    stirling = y * ops.log(ops.maximum(y, 1.0)) - y + 0.5 * ops.log(2 * math.pi * ops.maximum(y, 1.0))
    return ops.mean(ops.exp(y_pred) - y * y_pred + ops.where(y > 1, stirling, 0.0), axis=-1)


# ------------------------------------------------------------------------------------- categorical entropy

@recipe("categorical_crossentropy", source="torch", args={"from_logits": True}, differences=("class_axis",),
        note="torch takes the class axis on dim 1; Keras takes it last (axis=-1).")
@recipe("categorical_crossentropy", source="optax", args={"from_logits": True})
def categorical_crossentropy_logits(y_true, y_pred):
    return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=True)


@recipe("categorical_crossentropy", source="torch", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("class_axis",), note="Keras and torch smooth alike: y (1 - ls) + ls / K.")
@recipe("categorical_crossentropy", source="optax", args={"from_logits": True, "label_smoothing": 0.1},
        note="optax.smooth_labels(y, ls) is Keras's label_smoothing=ls.")
def categorical_crossentropy_logits_smoothed(y_true, y_pred, label_smoothing=0.1):
    return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=True, label_smoothing=label_smoothing)


@recipe("sparse_categorical_crossentropy", source="torch", args={"from_logits": True},
        differences=("ignore_index", "class_axis"),
        note="torch's reduction='mean' divides by the number of labels that are not -100: "
             "ops.sum(loss) / ops.sum(labels != -100).")
def sparse_categorical_crossentropy_logits_from_torch(labels, y_pred, axis=-1):
    keep = labels != -100                   # torch's ignore_index: label -100 costs 0 (Keras would raise)
    logits = ops.moveaxis(y_pred, axis, -1)  # Keras's sparse cross entropy takes the class axis last only
    loss = keras.losses.sparse_categorical_crossentropy(ops.where(keep, labels, 0), logits, from_logits=True)
    return ops.where(keep, loss, 0.0)


@recipe("sparse_categorical_crossentropy", source="torch", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("ignore_index", "label_encoding", "no_label_smoothing"),
        note="torch smooths integer targets too (the one-hot row (1 - ls) + ls / K); Keras's sparse cross entropy "
             "has no label_smoothing, its categorical one has.")
def sparse_categorical_crossentropy_smoothed_from_torch(labels, y_pred, label_smoothing=0.1):
    keep = labels != -100                   # torch's ignore_index: label -100 costs 0
    one_hot = ops.one_hot(ops.where(keep, labels, 0), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    loss = keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=True, label_smoothing=label_smoothing)
    return ops.where(keep, loss, 0.0)


@recipe("sparse_categorical_crossentropy", source="optax", args={"from_logits": True}, differences=("class_axis",),
        note="Labels must lie in [0, K): optax gives NaN above and wraps -1 to the last class; Keras raises.")
def sparse_categorical_crossentropy_logits_from_optax(labels, y_pred, axis=-1):
    logits = ops.moveaxis(y_pred, axis, -1)  # Keras's sparse cross entropy takes the class axis last only
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


@recipe("nll", source="torch", differences=("ignore_index", "written_from_ops"),
        note="Keras has no NLL loss on log-probabilities.")
def nll_from_torch(labels, log_probs):
    keep = labels != -100                   # torch's ignore_index: label -100 costs 0
    picked = ops.take_along_axis(log_probs, ops.expand_dims(ops.where(keep, labels, 0), -1), axis=-1)
    return ops.where(keep, -ops.squeeze(picked, -1), 0.0)


# ------------------------------------------------------------------------------------------ binary entropy

@recipe("binary_crossentropy", source="torch", args={"from_logits": False},
        differences=("prob_clip", "bce_log_clamp", "bce_grad_epsilon", "granularity"),
        note="keras.losses.binary_crossentropy clips p to [1e-7, 1 - 1e-7]; torch only clamps the logs at -100. "
             "The custom gradient is torch's backward; without it autodiff gives NaN where a log is clamped.")
def binary_crossentropy_from_torch(y_true, y_pred, axis=-1):
    y = y_true

    @ops.custom_gradient
    def bce(p):
        log_p = ops.maximum(ops.log(p), -100.0)      # torch clamps each log term at -100
        log_1mp = ops.maximum(ops.log1p(-p), -100.0)
        loss = -(ops.where(y == 0, 0.0, y * log_p) + ops.where(y == 1, 0.0, (1 - y) * log_1mp))

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            eps = ops.cast(ops.convert_to_tensor(1e-12, "float32"), p.dtype)  # torch's EPSILON, a float32 constant
            return upstream * (p - y) / ops.maximum(p * (1 - p), eps)        # torch's gradient

        return loss, grad

    return ops.mean(bce(y_pred), axis=axis)  # per-sample mean


@recipe("binary_crossentropy", source="torch", args={"from_logits": True},
        differences=("bce_logits_formula", "granularity"),
        note="For finite logits keras.losses.binary_crossentropy(from_logits=True) gives the same numbers; "
             "the literal (1 - y) x - log_sigmoid(x) loses tiny losses (x - x at y = 0).")
def binary_crossentropy_logits_from_torch(y_true, y_pred):
    x, y = y_pred, y_true
    loss = ops.maximum(x, 0) - x * y + ops.log1p(ops.exp(-ops.abs(x)))  # stable: no x - x cancellation
    loss = ops.where(x == -float("inf"), float("nan"), loss)  # torch's NaN pattern: NaN at x = -inf whatever y
    return ops.mean(loss, axis=-1)


@recipe("binary_crossentropy", source="optax", args={"from_logits": True},
        differences=("bce_logits_formula", "granularity"),
        note="For finite logits keras.losses.binary_crossentropy(from_logits=True) gives the same numbers.")
def binary_crossentropy_logits_from_optax(y_true, y_pred):
    x, y = y_pred, y_true
    loss = -y * ops.log_sigmoid(x) - (1 - y) * ops.log_sigmoid(-x)  # optax.losses.sigmoid_binary_cross_entropy
    return ops.mean(loss, axis=-1)


# ---------------------------------------------------------------------------------------------- divergence

@recipe("kl_divergence", source="torch", differences=("kl_clip", "zero_times_inf_nan", "granularity"),
        note="keras.losses.kl_divergence clips p and q to [1e-7, 1]. torch's reduction='batchmean' is the batch "
             "mean of this; reduction='mean' divides by the number of ELEMENTS.")
@recipe("kl_divergence", source="optax", differences=("kl_clip", "zero_times_inf_nan", "argument_order"),
        note="keras.losses.kl_divergence clips p and q to [1e-7, 1].")
def kl_divergence_unclipped(p, q):
    log_p = ops.where(p == 0, 0.0, ops.log(p))        # 0 log 0 = 0
    return ops.sum(p * (log_p - ops.log(q)), axis=-1)  # no clip: NaN where p = q = 0, inf where only q = 0


# ------------------------------------------------------------------------------------------- hinge family

@recipe("hinge", source="optax", differences=("hinge_binary_labels", "hinge_kink_grad", "granularity"),
        note="keras.losses.hinge maps {0, 1} targets to {-1, 1}; optax uses them as given.")
def hinge_from_optax(y_true, y_pred):
    margin = 1 - y_true * y_pred  # optax: targets as given, no {0, 1} -> {-1, 1} mapping
    return ops.mean((margin + ops.abs(margin)) / 2, axis=-1)  # = max(margin, 0) with jax's half gradient at 0


@recipe("categorical_hinge", source="optax",
        differences=("categorical_hinge_max_includes_target", "hinge_kink_grad", "label_encoding"),
        note="optax.losses.multiclass_hinge_loss takes integer labels (here argmax of the one-hot y_true).")
def categorical_hinge_from_optax(y_true, y_pred):
    # optax: max_j (s_j + 1 - onehot_j) - s_t: Crammer-Singer (the target's own term is s_t, never above the
    # max), ties in the max share the gradient
    return ops.max(y_pred + 1 - y_true, axis=-1) - ops.sum(y_true * y_pred, axis=-1)


# --------------------------------------------------------------------------------------------- activations

@recipe("softmax", source="torch")
@recipe("softmax", source="optax")
def softmax(z):
    return keras.activations.softmax(z, axis=-1)


@recipe("log_softmax", source="torch")
@recipe("log_softmax", source="optax")
def log_softmax(z):
    return keras.activations.log_softmax(z, axis=-1)


@recipe("sigmoid", source="torch")
@recipe("sigmoid", source="optax")
def sigmoid(z):
    return keras.activations.sigmoid(z)


# ---------------------------------------------------------------------------------------------------- cosine

@recipe("cosine_similarity", source="torch", differences=("similarity_negated", "cosine_inverse_norm_cap",
                                                          "cosine_norm_floor", "written_from_ops"),
        note="torch returns the cosine itself (Keras: minus it) and clamps each norm at eps=1e-8 under no_grad: "
             "the value sees the clamp, the gradient the unclamped norm (the stop_gradient below).")
def cosine_similarity_from_torch(y_true, y_pred):
    def clamped_norm(x):
        n = ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True))
        return n + ops.stop_gradient(ops.maximum(n, 1e-8) - n)  # value max(|x|, 1e-8), gradient of |x|
    return ops.sum((y_pred / clamped_norm(y_pred)) * (y_true / clamped_norm(y_true)), axis=-1)


@recipe("cosine_similarity", source="optax", differences=("similarity_negated", "cosine_inverse_norm_cap",
                                                          "written_from_ops"),
        note="optax returns the cosine itself, with no epsilon by default (a zero vector gives NaN).")
def cosine_similarity_from_optax(y_true, y_pred):
    a = y_pred / ops.sqrt(ops.sum(y_pred * y_pred, axis=-1, keepdims=True))
    b = y_true / ops.sqrt(ops.sum(y_true * y_true, axis=-1, keepdims=True))
    return ops.sum(a * b, axis=-1)


# ----------------------------------------------------------------------------------------------------- focal

@recipe("binary_focal_crossentropy", source="optax", args={"from_logits": True}, differences=("granularity",),
        note="optax's alpha=None (default) is apply_class_balancing=False; alpha=a is apply_class_balancing=True, "
             "alpha=a. On Keras's jax and torch backends from_logits clips the sigmoid at 1e-7: there write it from "
             "ops.log_sigmoid instead.")
def binary_focal_crossentropy_from_optax(y_true, y_pred):
    return keras.losses.binary_focal_crossentropy(y_true, y_pred, from_logits=True)  # per-sample mean


# ------------------------------------------------------------------------------------------- Dice, Tversky

@recipe("dice", source="optax", args={"from_logits": True, "smooth": 1.0, "axis": 0},
        differences=("overlap_denominator_epsilon", "written_from_ops"),
        note="optax.losses.dice_loss(logits, targets, axis=axis, reduction='none') (smooth=1.0 by default) takes "
             "logits (softmax over the last axis; sigmoid for one channel) and adds smooth to numerator and "
             "denominator, one loss per class; keras.losses.dice takes probabilities, adds 1e-7 to the "
             "denominator only and by default sums over every axis. optax's reduction='mean' is "
             "ops.mean(..., axis=-1) over the classes.")
def dice_from_optax(y_true, y_pred, smooth=1.0, axis=0):
    probs = ops.sigmoid(y_pred) if y_pred.shape[-1] == 1 else ops.softmax(y_pred, axis=-1)
    intersection = ops.sum(probs * y_true, axis=axis)
    total = ops.sum(probs, axis=axis) + ops.sum(y_true, axis=axis)
    return 1 - (intersection + smooth) / (0.5 * total + smooth)  # I + (P - I)/2 + (T - I)/2 = (P + T)/2


@recipe("tversky", source="optax", args={"from_logits": True, "alpha": 0.3, "beta": 0.7, "smooth": 1.0, "axis": 0},
        differences=("overlap_denominator_epsilon", "tversky_weights_swapped", "written_from_ops"),
        note="optax.losses.dice_loss(alpha=, beta=) weighs the false positives by alpha (keras.losses.tversky "
             "weighs them by beta): keras.losses.tversky(y_true, probs, alpha=b, beta=a) is optax's without smooth "
             "and up to Keras's 1e-7.")
def tversky_from_optax(y_true, y_pred, alpha=0.5, beta=0.5, smooth=1.0, axis=0):
    probs = ops.sigmoid(y_pred) if y_pred.shape[-1] == 1 else ops.softmax(y_pred, axis=-1)
    intersection = ops.sum(probs * y_true, axis=axis)
    false_positives = ops.sum(probs, axis=axis) - intersection
    false_negatives = ops.sum(y_true, axis=axis) - intersection
    return 1 - (intersection + smooth) / (intersection + alpha * false_positives + beta * false_negatives + smooth)


# ------------------------------------------------------------------------------------------------------- CTC

@recipe("ctc_loss", source="torch",
        differences=("time_major_layout", "log_space_input", "argument_order", "label_padding", "infeasible_target",
                     "mean_divides_by_target_length"),
        note="keras.ops.ctc_loss(target, output, target_length, output_length, mask_index=blank) takes logits "
             "(B, T, C) and both lengths; keras.losses.ctc takes neither length (every frame, labels padded with "
             "0) and fixes the blank at 0. torch's log_probs (T, B, C) go back with ops.transpose(log_probs, "
             "(1, 0, 2)). Keras computes in float32 (float64 too). torch's reduction='mean' is "
             "ops.mean(loss / ops.maximum(label_lengths, 1)). zero_infinity=True: put 0.0 where this puts inf.")
def ctc_loss_from_torch(labels, logits, logit_lengths, label_lengths, blank=0):
    loss = ops.ctc_loss(labels, logits, label_lengths, logit_lengths, mask_index=blank)  # lengths, blank
    # TensorFlow's kernel gives about 709.6 (jax's about 1e5) for a target no alignment reaches, torch inf (0 with
    # zero_infinity): it needs a frame per label and one more between adjacent repeats, and no blank.
    used = ops.arange(ops.shape(labels)[1])[None, :] < ops.cast(label_lengths, "int32")[:, None]
    repeats = ops.sum(ops.cast(ops.logical_and(labels[:, 1:] == labels[:, :-1], used[:, 1:]), "int32"), axis=-1)
    feasible = ops.logical_and(ops.cast(label_lengths, "int32") + repeats <= ops.cast(logit_lengths, "int32"),
                               ops.logical_not(ops.any(ops.logical_and(used, labels == blank), axis=-1)))
    return ops.where(feasible, loss, float("inf"))  # zero_infinity=True: 0.0


@recipe("ctc_loss", source="optax",
        differences=("lengths_as_paddings", "label_padding", "infeasible_target"),
        note="optax's paddings (1.0 at and past each length) are lengths here: T - ops.sum(logit_paddings, -1), "
             "N - ops.sum(label_paddings, -1). keras.ops.ctc_loss takes the lengths and the blank (mask_index); "
             "keras.losses.ctc takes neither (every frame, labels padded with 0, blank 0). Keras computes in "
             "float32 (float64 too).")
def ctc_loss_from_optax(labels, logits, logit_lengths, label_lengths, blank=0):
    loss = ops.ctc_loss(labels, logits, label_lengths, logit_lengths, mask_index=blank)  # lengths, blank
    # The loss is inf for a target no alignment reaches (a frame per label and one more between adjacent repeats,
    # no blank); TensorFlow's kernel gives about 709.6 there (optax's own ctc_loss about 1e5: its log_epsilon).
    used = ops.arange(ops.shape(labels)[1])[None, :] < ops.cast(label_lengths, "int32")[:, None]
    repeats = ops.sum(ops.cast(ops.logical_and(labels[:, 1:] == labels[:, :-1], used[:, 1:]), "int32"), axis=-1)
    feasible = ops.logical_and(ops.cast(label_lengths, "int32") + repeats <= ops.cast(logit_lengths, "int32"),
                               ops.logical_not(ops.any(ops.logical_and(used, labels == blank), axis=-1)))
    return ops.where(feasible, loss, float("inf"))


@recipe("ctc_loss", source="torch", args={"blank": 4},
        differences=("time_major_layout", "log_space_input", "argument_order", "label_padding", "infeasible_target",
                     "mean_divides_by_target_length"),
        note="torch's blank= is keras.ops.ctc_loss's mask_index= (keras.losses.ctc has blank 0 only).")
def ctc_loss_blank_from_torch(labels, logits, logit_lengths, label_lengths, blank=4):
    return ctc_loss_from_torch(labels, logits, logit_lengths, label_lengths, blank=blank)


@recipe("ctc_loss", source="optax", args={"blank": 4}, differences=("lengths_as_paddings", "label_padding",
                                                                     "infeasible_target"),
        note="optax's blank_id= is keras.ops.ctc_loss's mask_index= (keras.losses.ctc has blank 0 only).")
def ctc_loss_blank_from_optax(labels, logits, logit_lengths, label_lengths, blank=4):
    return ctc_loss_from_optax(labels, logits, logit_lengths, label_lengths, blank=blank)
