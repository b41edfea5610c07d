"""Recipes written in JAX / optax: JAX code that returns the number Keras 3 or PyTorch computes.

Each function takes arrays named like the reference function's parameters and returns the source
framework's per-sample loss (one value per sample, the class axis -- the last one -- reduced); the suite
runs it jitted, as JAX users do.  The batch mean is ``jnp.mean`` of it (Keras's Loss classes' default
``sum_over_batch_size``, torch's ``reduction="mean"`` of a per-sample loss).  float64 needs
``jax.config.update("jax_enable_x64", True)``.
"""
from __future__ import annotations

from recipes import lazy, recipe

jax = lazy("jax")
jnp = lazy("jax.numpy")
optax = lazy("optax")

TARGET = "optax"
RECIPES: list = []


# ---------------------------------------------------------------------------------------------- regression

@recipe("mean_squared_error", source="keras", differences=("granularity", "target_shape_alignment"),
        note="optax.losses.squared_error refuses a target of shape (N,) against y_pred (N, 1); Keras gives it a "
             "trailing axis.")
def mean_squared_error_from_keras(y_true, y_pred):
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]  # Keras expands the target's rank
    return optax.losses.squared_error(y_pred, y_true).mean(-1)  # elementwise -> per-sample mean


@recipe("mean_squared_error", source="torch", differences=("granularity", "target_shape_alignment"),
        note="torch's reduction='mean' is jnp.mean(optax.losses.squared_error(...)) over every element; torch "
             "broadcasts a target of shape (N,) against y_pred (N, 1) to (N, N), optax refuses the shapes.")
def mean_squared_error_from_torch(y_true, y_pred):
    y_true, y_pred = jnp.broadcast_arrays(y_true, y_pred)  # as torch's mse_loss does (after a UserWarning)
    return optax.losses.squared_error(y_pred, y_true).mean(-1)  # elementwise -> per-sample mean


@recipe("huber", source="keras", differences=("granularity",))
@recipe("huber", source="torch", differences=("granularity",),
        note="torch's F.smooth_l1_loss(beta) is this divided by beta.")
def huber(y_true, y_pred, delta=1.0):
    return optax.losses.huber_loss(y_pred, y_true, delta=delta).mean(-1)  # elementwise -> per-sample mean


@recipe("log_cosh", source="keras", differences=("log_cosh_log2", "granularity"),
        note="keras.losses.log_cosh is x + softplus(-2x) - log(2) with log(2) computed in float32: in float64 every "
             "value is 1.9e-9 below optax.losses.log_cosh's.")
def log_cosh_from_keras(y_true, y_pred):
    x = y_pred - y_true
    log2 = jnp.log(jnp.float32(2.0)).astype(x.dtype)  # Keras: ops.log(2.0) in float32, cast to y_pred's dtype
    return (x + jax.nn.softplus(-2.0 * x) - log2).mean(-1)


# ------------------------------------------------------------------------------------- categorical entropy

@recipe("categorical_crossentropy", source="keras", args={"from_logits": False},
        differences=("cce_renormalize", "prob_clip", "written_from_ops"),
        note="optax has no cross entropy on probabilities.")
def categorical_crossentropy_from_keras(y_true, y_pred):
    p = y_pred / y_pred.sum(-1, keepdims=True)  # Keras renormalises y_pred over the class axis first
    p = jnp.clip(p, 1e-7, 1 - 1e-7)             # then clips to [eps, 1 - eps], eps = 1e-7
    return -(y_true * jnp.log(p)).sum(-1)


@recipe("categorical_crossentropy", source="keras", args={"from_logits": False, "label_smoothing": 0.2},
        differences=("cce_renormalize", "prob_clip", "smoothing_classes_last_axis", "written_from_ops"))
def categorical_crossentropy_smoothed_from_keras(y_true, y_pred, label_smoothing=0.2, axis=-1):
    k = y_true.shape[-1]                                   # Keras divides by the LAST axis's size, whatever axis
    y = y_true * (1 - label_smoothing) + label_smoothing / k
    p = y_pred / y_pred.sum(axis, keepdims=True)           # Keras renormalises y_pred over the class axis
    p = jnp.clip(p, 1e-7, 1 - 1e-7)                        # then clips to [eps, 1 - eps], eps = 1e-7
    return -(y * jnp.log(p)).sum(axis)


@recipe("categorical_crossentropy", source="keras", args={"from_logits": True}, differences=("argument_order",))
@recipe("categorical_crossentropy", source="torch", args={"from_logits": True}, differences=("argument_order",))
def categorical_crossentropy_logits(y_true, y_pred):
    return optax.losses.softmax_cross_entropy(y_pred, y_true)  # (logits, labels)


@recipe("categorical_crossentropy", source="keras", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("argument_order", "no_label_smoothing"))
@recipe("categorical_crossentropy", source="torch", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("argument_order", "no_label_smoothing"))
def categorical_crossentropy_logits_smoothed(y_true, y_pred, label_smoothing=0.1):
    labels = optax.smooth_labels(y_true, label_smoothing)  # y (1 - ls) + ls / K, as Keras and torch smooth
    return optax.losses.softmax_cross_entropy(y_pred, labels)


@recipe("sparse_categorical_crossentropy", source="keras", args={"from_logits": False},
        differences=("prob_clip", "sparse_renormalize", "written_from_ops"),
        note="Keras's TensorFlow backend: clip, log, then a softmax cross entropy, whose softmax renormalises "
             "the clipped probabilities.")
def sparse_categorical_crossentropy_from_keras(labels, y_pred):
    log_p = jnp.log(jnp.clip(y_pred, 1e-7, 1 - 1e-7))  # Keras clips to [eps, 1 - eps], eps = 1e-7, takes the log
    return optax.losses.softmax_cross_entropy_with_integer_labels(log_p, labels)  # softmax(log c) = c / sum(c)


@recipe("sparse_categorical_crossentropy", source="keras", args={"from_logits": True},
        differences=("argument_order",),
        note="Labels must lie in [0, K): optax gives NaN above, wraps -1 to the last class; Keras raises.")
def sparse_categorical_crossentropy_logits_from_keras(labels, y_pred, axis=-1):
    return optax.losses.softmax_cross_entropy_with_integer_labels(y_pred, labels, axis=axis)  # (logits, labels)


@recipe("sparse_categorical_crossentropy", source="torch", args={"from_logits": True},
        differences=("ignore_index", "argument_order"),
        note="torch's reduction='mean' divides by the number of labels that are not -100: "
             "loss.sum() / (labels != -100).sum().")
def sparse_categorical_crossentropy_logits_from_torch(labels, y_pred, axis=-1):
    keep = labels != -100                                  # torch's ignore_index: label -100 costs 0
    loss = optax.losses.softmax_cross_entropy_with_integer_labels(y_pred, jnp.where(keep, labels, 0), axis=axis)
    return jnp.where(keep, loss, 0.0)


@recipe("sparse_categorical_crossentropy", source="torch", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("ignore_index", "argument_order", "label_encoding", "no_label_smoothing"),
        note="torch smooths integer targets too: the one-hot row (1 - ls) + ls / K.")
def sparse_categorical_crossentropy_smoothed_from_torch(labels, y_pred, label_smoothing=0.1):
    keep = labels != -100                                  # torch's ignore_index: label -100 costs 0
    one_hot = jax.nn.one_hot(jnp.where(keep, labels, 0), y_pred.shape[-1], dtype=y_pred.dtype)
    loss = optax.losses.softmax_cross_entropy(y_pred, optax.smooth_labels(one_hot, label_smoothing))
    return jnp.where(keep, loss, 0.0)


@recipe("nll", source="torch", differences=("ignore_index", "written_from_ops"),
        note="torch's reduction='mean' divides by the number of labels that are not -100.")
def nll_from_torch(labels, log_probs):
    keep = labels != -100                                  # torch's ignore_index: label -100 costs 0
    picked = jnp.take_along_axis(log_probs, jnp.where(keep, labels, 0)[..., None], axis=-1)[..., 0]
    return jnp.where(keep, -picked, 0.0)


# ------------------------------------------------------------------------------------------ binary entropy

@recipe("binary_crossentropy", source="keras", args={"from_logits": False},
        differences=("prob_clip", "granularity", "written_from_ops"))
def binary_crossentropy_from_keras(y_true, y_pred, axis=-1):
    p = jnp.clip(y_pred, 1e-7, 1 - 1e-7)  # Keras clips to [eps, 1 - eps], eps = 1e-7
    return -(y_true * jnp.log(p) + (1 - y_true) * jnp.log(1 - p)).mean(axis)  # per-sample mean


@recipe("binary_crossentropy", source="keras", args={"from_logits": False, "label_smoothing": 0.2},
        differences=("prob_clip", "granularity", "written_from_ops", "no_label_smoothing"))
def binary_crossentropy_smoothed_from_keras(y_true, y_pred, label_smoothing=0.2):
    y = y_true * (1 - label_smoothing) + 0.5 * label_smoothing  # Keras smooths binary targets toward 1/2
    p = jnp.clip(y_pred, 1e-7, 1 - 1e-7)                        # Keras clips to [eps, 1 - eps], eps = 1e-7
    return -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p)).mean(-1)  # per-sample mean


@recipe("binary_crossentropy", source="torch", args={"from_logits": False},
        differences=("bce_log_clamp", "bce_grad_epsilon", "granularity", "written_from_ops"),
        note="The custom gradient is torch's backward; without it autodiff gives NaN where a log is clamped "
             "(p = 0 or 1 exactly, e.g. 1 - 1e-9 rounded in float32).")
def binary_crossentropy_from_torch(y_true, y_pred, axis=-1):
    @jax.custom_vjp
    def bce(p, y):
        log_p = jnp.maximum(jnp.log(p), -100.0)        # torch clamps each log term at -100
        log_1mp = jnp.maximum(jnp.log1p(-p), -100.0)
        return -(jnp.where(y == 0, 0.0, y * log_p) + jnp.where(y == 1, 0.0, (1 - y) * log_1mp))

    def forward(p, y):
        return bce(p, y), (p, y)

    def backward(saved, g):
        p, y = saved
        eps = jnp.asarray(1e-12, jnp.float32).astype(p.dtype)  # torch's EPSILON, a float32 constant
        return g * (p - y) / jnp.maximum(p * (1 - p), eps), None  # torch's gradient: no 1/p blow-up

    bce.defvjp(forward, backward)
    return bce(y_pred, y_true).mean(axis)  # per-sample mean


@recipe("binary_crossentropy", source="keras", args={"from_logits": True},
        differences=("bce_logits_formula", "argument_order", "granularity"),
        note="For finite logits optax.losses.sigmoid_binary_cross_entropy(...).mean(-1) gives the same numbers.")
def binary_crossentropy_logits_from_keras(y_true, y_pred):
    x, y = y_pred, y_true
    loss = jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))  # tf.nn.sigmoid_cross_entropy_with_logits
    return loss.mean(-1)  # per-sample mean


@recipe("binary_crossentropy", source="torch", args={"from_logits": True},
        differences=("bce_logits_formula", "argument_order", "granularity"),
        note="For finite logits optax.losses.sigmoid_binary_cross_entropy(...).mean(-1) gives the same numbers; "
             "the literal (1 - y) x - log_sigmoid(x) loses tiny losses (x - x at y = 0).")
def binary_crossentropy_logits_from_torch(y_true, y_pred):
    x, y = y_pred, y_true
    loss = jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))  # stable: no x - x cancellation
    loss = jnp.where(x == -jnp.inf, jnp.nan, loss)  # torch's NaN pattern: NaN at x = -inf whatever y
    return loss.mean(-1)  # per-sample mean


# ---------------------------------------------------------------------------------------------- divergence

@recipe("kl_divergence", source="keras",
        differences=("kl_clip", "zero_times_inf_nan", "argument_order", "log_space_input", "written_from_ops"))
def kl_divergence_from_keras(p, q):
    p, q = jnp.clip(p, 1e-7, 1), jnp.clip(q, 1e-7, 1)  # Keras clips both distributions to [eps, 1], eps = 1e-7
    return (p * jnp.log(p / q)).sum(-1)


@recipe("kl_divergence", source="torch", differences=("argument_order", "log_space_input", "granularity"),
        note="torch's F.kl_div(q.log(), p, reduction='batchmean') is the batch mean of this; reduction='mean' "
             "divides by the number of ELEMENTS.")
def kl_divergence_from_torch(p, q):
    return optax.losses.kl_divergence(jnp.log(q), p)  # (log q, p); NaN where p = q = 0, as torch


# ------------------------------------------------------------------------------------------- hinge family

@recipe("hinge", source="keras", differences=("hinge_binary_labels", "hinge_kink_grad", "granularity"),
        note="optax.losses.hinge_loss takes {-1, 1} targets as given (a 0 target costs 1).")
def hinge_from_keras(y_true, y_pred):
    binary = jnp.all((y_true == 0) | (y_true == 1))
    y = jnp.where(binary, 2 * y_true - 1, y_true)  # Keras maps {0,1} to {-1,1} when the WHOLE batch is binary
    margin = 1 - y * y_pred
    return jnp.where(margin >= 0, margin, 0.0).mean(-1)  # >= : TF's maximum gives the kink the full gradient


@recipe("categorical_hinge", source="keras",
        differences=("categorical_hinge_max_includes_target", "hinge_kink_grad", "label_encoding",
                     "written_from_ops"),
        note="optax.losses.multiclass_hinge_loss (integer labels) is Crammer-Singer: its max skips the target.")
def categorical_hinge_from_keras(y_true, y_pred):
    pos = (y_true * y_pred).sum(-1)
    neg = ((1 - y_true) * y_pred).max(-1)  # Keras's max runs over ALL classes: the target enters as 0
    margin = neg - pos + 1
    return jnp.where(margin >= 0, margin, 0.0)  # >= : TF's maximum gives the kink the full gradient


# --------------------------------------------------------------------------------------------- activations

@recipe("softmax", source="keras")
@recipe("softmax", source="torch")
def softmax(z):
    return jax.nn.softmax(z, axis=-1)


@recipe("log_softmax", source="keras")
@recipe("log_softmax", source="torch")
def log_softmax(z):
    return jax.nn.log_softmax(z, axis=-1)


@recipe("sigmoid", source="keras")
@recipe("sigmoid", source="torch")
def sigmoid(z):
    return jax.nn.sigmoid(z)


# ---------------------------------------------------------------------------------------------------- cosine

@recipe("cosine_similarity", source="keras", differences=("similarity_negated", "cosine_inverse_norm_cap"),
        note="Keras returns MINUS the cosine and floors each norm at 1e-7 (epsilon clips the SQUARED norm: 1e-14).")
def cosine_similarity_from_keras(y_true, y_pred):
    return -optax.losses.cosine_similarity(y_pred, y_true, epsilon=1e-14)


@recipe("cosine_similarity", source="torch", differences=("cosine_norm_floor", "written_from_ops"),
        note="torch clamps each norm at eps=1e-8 under no_grad: the value sees the clamp, the gradient the "
             "unclamped norm (optax's epsilon clip would stop the gradient where it holds).")
def cosine_similarity_from_torch(y_true, y_pred):
    def clamped_norm(x):
        n = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
        return n + jax.lax.stop_gradient(jnp.maximum(n, 1e-8) - n)  # value max(|x|, 1e-8), gradient of |x|
    return jnp.sum((y_pred / clamped_norm(y_pred)) * (y_true / clamped_norm(y_true)), axis=-1)


@recipe("cosine_distance", source="torch", differences=("cosine_squared_norm_epsilon", "written_from_ops"),
        note="F.cosine_embedding_loss(target=1): 1 - dot / sqrt((|x|^2 + 1e-12)(|y|^2 + 1e-12)), the 1e-12 a float32 "
             "constant.")
def cosine_distance_from_torch(y_true, y_pred):
    eps = jnp.asarray(1e-12, jnp.float32).astype(y_pred.dtype)
    dot = jnp.sum(y_pred * y_true, axis=-1)
    return 1 - dot / jnp.sqrt((jnp.sum(y_pred * y_pred, -1) + eps) * (jnp.sum(y_true * y_true, -1) + eps))


# ----------------------------------------------------------------------------------------------------- focal

@recipe("binary_focal_crossentropy", source="keras", args={"from_logits": True}, differences=("granularity",),
        note="Keras's default apply_class_balancing=False ignores alpha: pass alpha=None (optax's default). Keras 3 "
             "on TensorFlow recovers the logits from its sigmoid; on jax and torch it clips the sigmoid at 1e-7 "
             "(16.1 at most per element).")
def binary_focal_crossentropy_from_keras(y_true, y_pred):
    return optax.losses.sigmoid_focal_loss(y_pred, y_true, alpha=None, gamma=2.0).mean(-1)  # per-sample mean


@recipe("binary_focal_crossentropy", source="keras",
        args={"from_logits": True, "apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5},
        differences=("granularity",),
        note="apply_class_balancing=True is optax's alpha: y alpha + (1 - y)(1 - alpha).")
def binary_focal_crossentropy_balanced_from_keras(y_true, y_pred, alpha=0.3, gamma=1.5):
    return optax.losses.sigmoid_focal_loss(y_pred, y_true, alpha=alpha, gamma=gamma).mean(-1)


# ------------------------------------------------------------------------------------------- Dice, Tversky

@recipe("dice", source="keras", differences=("overlap_denominator_epsilon", "written_from_ops"),
        note="keras.losses.dice takes probabilities and adds 1e-7 to the denominator only (an empty foreground "
             "costs 1); optax.losses.dice_loss takes logits (apply_softmax=False fails under jax.jit) and adds "
             "smooth to numerator and denominator. Keras's default axis=None sums over every axis (one number for the "
             "batch): pass Keras's axis to jnp.sum as given.")
def dice_from_keras(y_true, y_pred, axis=-1):  # Keras's default is axis=None: every axis, one number
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    return 1 - 2.0 * intersection / (jnp.sum(y_true, axis=axis) + jnp.sum(y_pred, axis=axis) + 1e-7)


@recipe("tversky", source="keras", args={"alpha": 0.3, "beta": 0.7},
        differences=("overlap_denominator_epsilon", "tversky_weights_swapped", "written_from_ops"),
        note="keras.losses.tversky's alpha weighs sum(y_true (1 - y_pred)) (false negatives) and beta the false "
             "positives, the reverse of optax.losses.dice_loss(alpha=, beta=); 1e-7 in the denominator only.")
def tversky_from_keras(y_true, y_pred, alpha=0.5, beta=0.5, axis=-1):
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    misses = jnp.sum((1 - y_pred) * y_true, axis=axis)        # Keras's "fp"
    false_alarms = jnp.sum(y_pred * (1 - y_true), axis=axis)  # Keras's "fn"
    return 1 - intersection / (intersection + alpha * misses + beta * false_alarms + 1e-7)
# --------------------------------------------------------------------------------------------------- triplet

@recipe("triplet_margin_loss", source="torch",
        differences=("distance_difference_epsilon", "distance_power_sum_epsilon", "hinge_kink_grad",
                     "written_from_ops"),
        note="torch adds eps = 1e-6 to every element of the difference (pairwise_distance), optax to the sum of "
             "powers; torch's clamp_min passes the whole gradient at the kink (jnp.maximum splits it). No swap.")
def triplet_margin_loss_from_torch(anchor, positive, negative, margin=1.0):
    def distance(x, y):  # torch.nn.functional.pairwise_distance(x, y, p=2, eps=1e-6) = |x - y + eps|
        return jnp.sqrt(jnp.sum((x - y + 1e-6) ** 2, axis=-1))
    z = margin + distance(anchor, positive) - distance(anchor, negative)
    return jnp.where(z >= 0, z, 0.0)  # torch's clamp_min(z, 0): the whole gradient at z == 0


# ------------------------------------------------------------------------------------------------------- CTC

@recipe("ctc_loss", source="torch",
        differences=("time_major_layout", "log_space_input", "lengths_as_paddings", "infeasible_target",
                     "mean_divides_by_target_length"),
        note="F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank, reduction='none') takes "
             "log-probabilities laid out (T, B, C) and lengths; optax takes (B, T, K) (logits or log-probabilities: "
             "its log_softmax leaves the latter as they are) and paddings. torch's reduction='mean' is "
             "jnp.mean(loss / jnp.maximum(label_lengths, 1)), not jnp.mean(loss). zero_infinity=True: put 0.0 "
             "where this puts inf (jnp.where's gradient there is 0, as torch's).")
def ctc_loss_from_torch(labels, logits, logit_lengths, label_lengths, blank=0):
    def paddings(lengths, width):  # optax: 1.0 at and past each sequence's length
        return (jnp.arange(width)[None, :] >= lengths[:, None]).astype(logits.dtype)

    loss = optax.losses.ctc_loss(logits, paddings(logit_lengths, logits.shape[1]),  # torch's log_probs.transpose(0, 1)
                                 labels, paddings(label_lengths, labels.shape[1]), blank_id=blank)
    # optax's log_epsilon = -1e5 stands in for log 0: a target no alignment reaches costs about 1e5 there, inf in
    # torch (0 with zero_infinity). It needs a frame per label and one more between adjacent repeats, and no blank.
    used = jnp.arange(labels.shape[1])[None, :] < label_lengths[:, None]
    repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & used[:, 1:], axis=-1)
    feasible = (label_lengths + repeats <= logit_lengths) & ~jnp.any(used & (labels == blank), axis=-1)
    return jnp.where(feasible, loss, jnp.inf)  # zero_infinity=True: 0.0


@recipe("ctc_loss", source="keras",
        differences=("label_padding", "lengths_as_paddings", "blank_index", "infeasible_target", "argument_order"),
        note="keras.losses.ctc(y_true, y_pred): y_pred logits (B, T, C) as optax takes them, every frame used "
             "(logit_paddings all 0), y_true padded with 0, which is its blank, each label length read as the count "
             "of nonzero labels. Keras computes in float32 (float64 too).")
def ctc_loss_from_keras(labels, logits, logit_lengths, label_lengths):
    positions = jnp.arange(labels.shape[1])[None, :]
    y_true = jnp.where(positions < label_lengths[:, None], labels, 0)  # Keras's y_true: labels padded with 0
    counts = jnp.sum(y_true != 0, axis=-1)                             # Keras: the count of nonzero labels
    label_paddings = (positions >= counts[:, None]).astype(logits.dtype)
    logit_paddings = (jnp.arange(logits.shape[1])[None, :] >= logit_lengths[:, None]).astype(logits.dtype)  # Keras: 0
    loss = optax.losses.ctc_loss(logits, logit_paddings, y_true, label_paddings, blank_id=0)  # Keras's blank is 0
    # optax's log_epsilon = -1e5 stands in for log 0: a target no alignment reaches (a frame per label and one more
    # between adjacent repeats) costs about 1e5 there, inf in Keras's convention (about 709.6 on TensorFlow).
    repeats = jnp.sum((y_true[:, 1:] == y_true[:, :-1]) & (positions[:, 1:] < counts[:, None]), axis=-1)
    return jnp.where(counts + repeats <= logit_lengths, loss, jnp.inf)


@recipe("ctc_loss", source="torch", args={"blank": 4},
        differences=("time_major_layout", "log_space_input", "lengths_as_paddings", "infeasible_target",
                     "mean_divides_by_target_length"),
        note="torch's blank= is optax's blank_id= (the feasibility test reads it too).")
def ctc_loss_blank_from_torch(labels, logits, logit_lengths, label_lengths, blank=4):
    return ctc_loss_from_torch(labels, logits, logit_lengths, label_lengths, blank=blank)
