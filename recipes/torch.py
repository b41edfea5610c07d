"""Recipes written in PyTorch: torch code that returns the number Keras 3 or optax computes.

Each function takes tensors named like the reference function's parameters and returns the per-sample
loss of the source framework (``reduction="none"`` semantics: one value per sample, the class axis -- the
last one -- reduced).  Reductions: the source's mean over the batch is ``.mean()`` of this (Keras's Loss
classes' default ``sum_over_batch_size`` is that mean too).
"""
from __future__ import annotations

from recipes import lazy, recipe

torch = lazy("torch")
F = lazy("torch.nn.functional")

TARGET = "torch"
RECIPES: list = []

_CE_AXIS = "torch's cross_entropy wants the class axis on dim 1: movedim(axis, 1) puts it there (rank >= 2)."


# ---------------------------------------------------------------------------------------------- regression

@recipe("mean_squared_error", source="keras", differences=("granularity", "target_shape_alignment"),
        note="Keras averages over the last axis; torch's reduction='mean' averages over every element, the "
             "same number as Keras's MeanSquaredError() when every sample has as many elements.  Keras gives a "
             "target of shape (N,) a trailing axis against y_pred (N, 1); F.mse_loss would broadcast them to "
             "(N, N) (a UserWarning, MSE 0.3175 instead of 0.0925 on cases/edge/target_shapes.toml).")
def mean_squared_error_from_keras(y_true, y_pred):
    if y_true.dim() == y_pred.dim() - 1 and y_pred.shape[-1] == 1:
        y_true = y_true.unsqueeze(-1)  # Keras expands the target's rank; F.mse_loss would broadcast
    return F.mse_loss(y_pred, y_true, reduction="none").mean(-1)  # elementwise -> per-sample mean


@recipe("mean_squared_error", source="optax", differences=("granularity", "target_shape_alignment"),
        note="optax.losses.squared_error is elementwise like torch's reduction='none'; this is its per-sample "
             "mean. optax.losses.l2_loss is HALF the squared error.  optax refuses a target whose shape is not the "
             "prediction's, which F.mse_loss would broadcast.")
def mean_squared_error(y_true, y_pred):
    if y_true.shape != y_pred.shape:  # optax refuses what F.mse_loss would broadcast
        raise ValueError(f"Shape mismatch: got {tuple(y_pred.shape)} and {tuple(y_true.shape)}.")
    return F.mse_loss(y_pred, y_true, reduction="none").mean(-1)  # elementwise -> per-sample mean


@recipe("mean_absolute_error", source="keras", differences=("granularity",))
def mean_absolute_error_from_keras(y_true, y_pred):
    return F.l1_loss(y_pred, y_true, reduction="none").mean(-1)  # elementwise -> per-sample mean


@recipe("huber", source="keras", differences=("granularity",),
        note="F.huber_loss(delta) is Keras's huber(delta) elementwise; F.smooth_l1_loss(beta) is huber / beta.")
@recipe("huber", source="optax", differences=("granularity",),
        note="optax.losses.huber_loss is elementwise like torch's; F.smooth_l1_loss(beta) is huber / beta.")
def huber(y_true, y_pred, delta=1.0):
    return F.huber_loss(y_pred, y_true, delta=delta, reduction="none").mean(-1)  # elementwise -> per-sample mean


@recipe("poisson", source="keras", differences=("poisson_log_epsilon", "log_input_default", "granularity"),
        note="Keras: y_pred - y_true * log(y_pred + 1e-7), averaged over the last axis.")
def poisson_from_keras(y_true, y_pred):
    return F.poisson_nll_loss(
        y_pred, y_true,
        log_input=False,  # Keras takes rates; torch's default takes log-rates
        eps=1e-7,         # Keras's epsilon inside the log (torch's default is 1e-8)
        reduction="none").mean(-1)  # elementwise -> per-sample mean


# ------------------------------------------------------------------------------------- categorical entropy

@recipe("categorical_crossentropy", source="keras", args={"from_logits": False},
        differences=("cce_renormalize", "prob_clip", "written_from_ops"),
        note="torch has no cross entropy on probabilities; F.cross_entropy(p.log()) would apply a softmax to "
             "log p, which renormalises but does not clip.")
def categorical_crossentropy_from_keras(y_true, y_pred):
    p = y_pred / y_pred.sum(-1, keepdim=True)  # Keras renormalises y_pred over the class axis first
    p = p.clamp(1e-7, 1 - 1e-7)                # then clips to [eps, 1 - eps], eps = 1e-7
    return -(y_true * p.log()).sum(-1)


@recipe("categorical_crossentropy", source="keras", args={"from_logits": False, "label_smoothing": 0.2},
        differences=("cce_renormalize", "prob_clip", "smoothing_classes_last_axis", "written_from_ops"),
        note="With the class axis last this is y (1 - ls) + ls / K like torch's label_smoothing.")
def categorical_crossentropy_smoothed_from_keras(y_true, y_pred, label_smoothing=0.2, axis=-1):
    k = y_true.shape[-1]                                   # Keras divides by the LAST axis's size, whatever axis
    y = y_true * (1 - label_smoothing) + label_smoothing / k
    p = y_pred / y_pred.sum(axis, keepdim=True)            # Keras renormalises y_pred over the class axis
    p = p.clamp(1e-7, 1 - 1e-7)                            # then clips to [eps, 1 - eps], eps = 1e-7
    return -(y * p.log()).sum(axis)


@recipe("categorical_crossentropy", source="keras", args={"from_logits": True}, differences=("class_axis",),
        note=_CE_AXIS)
@recipe("categorical_crossentropy", source="optax", args={"from_logits": True}, differences=("class_axis",),
        note=_CE_AXIS)
def categorical_crossentropy_logits(y_true, y_pred):
    return F.cross_entropy(y_pred.movedim(-1, 1), y_true.movedim(-1, 1), reduction="none")  # classes on dim 1


@recipe("categorical_crossentropy", source="keras", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("class_axis",), note=_CE_AXIS + " Keras and torch smooth alike: y (1 - ls) + ls / K.")
@recipe("categorical_crossentropy", source="optax", args={"from_logits": True, "label_smoothing": 0.1},
        differences=("class_axis",),
        note=_CE_AXIS + " optax.smooth_labels(y, ls) is torch's label_smoothing=ls: y (1 - ls) + ls / K.")
def categorical_crossentropy_logits_smoothed(y_true, y_pred, label_smoothing=0.1):
    return F.cross_entropy(y_pred.movedim(-1, 1), y_true.movedim(-1, 1),  # classes on dim 1
                           label_smoothing=label_smoothing, reduction="none")


@recipe("sparse_categorical_crossentropy", source="keras", args={"from_logits": False},
        differences=("prob_clip", "sparse_renormalize", "class_axis", "written_from_ops"),
        note="This is what Keras's TensorFlow backend does: clip, log, then a softmax cross entropy, whose "
             "softmax renormalises the clipped probabilities.")
def sparse_categorical_crossentropy_from_keras(labels, y_pred, axis=-1):
    log_p = y_pred.clamp(1e-7, 1 - 1e-7).log()  # Keras clips to [eps, 1 - eps], eps = 1e-7, then takes the log
    return F.cross_entropy(log_p.movedim(axis, 1), labels, reduction="none")  # softmax(log c) = c / sum(c)


@recipe("sparse_categorical_crossentropy", source="keras", args={"from_logits": True},
        differences=("class_axis", "ignore_index"),
        note=_CE_AXIS + " Label -100 costs 0 in torch (ignore_index) where Keras raises; valid labels agree.")
@recipe("sparse_categorical_crossentropy", source="optax", args={"from_logits": True},
        differences=("class_axis", "ignore_index"),
        note=_CE_AXIS + " Label -100 costs 0 in torch (ignore_index) where optax gives NaN (and wraps -1 to the "
                        "last class); valid labels agree.")
def sparse_categorical_crossentropy_logits(labels, y_pred, axis=-1):
    return F.cross_entropy(y_pred.movedim(axis, 1), labels, reduction="none")  # classes on dim 1


# ------------------------------------------------------------------------------------------ binary entropy

@recipe("binary_crossentropy", source="keras", args={"from_logits": False},
        differences=("prob_clip", "bce_log_clamp", "granularity"),
        note="Not F.binary_cross_entropy: it raises for NaN and, after the clip, differs only by its -100 "
             "log clamp, which the clip makes inactive.")
def binary_crossentropy_from_keras(y_true, y_pred, axis=-1):
    p = y_pred.clamp(1e-7, 1 - 1e-7)  # Keras clips to [eps, 1 - eps], eps = 1e-7 (torch clamps the log at -100)
    return -(y_true * p.log() + (1 - y_true) * (1 - p).log()).mean(axis)  # per-sample mean


@recipe("binary_crossentropy", source="keras", args={"from_logits": False, "label_smoothing": 0.2},
        differences=("prob_clip", "bce_log_clamp", "granularity", "no_label_smoothing"))
def binary_crossentropy_smoothed_from_keras(y_true, y_pred, label_smoothing=0.2):
    y = y_true * (1 - label_smoothing) + 0.5 * label_smoothing  # Keras smooths binary targets toward 1/2
    p = y_pred.clamp(1e-7, 1 - 1e-7)                            # Keras clips to [eps, 1 - eps], eps = 1e-7
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean(-1)    # per-sample mean


@recipe("binary_crossentropy", source="keras", args={"from_logits": True},
        differences=("bce_logits_formula", "granularity"),
        note="For finite logits F.binary_cross_entropy_with_logits(...).mean(-1) gives the same numbers; "
             "TensorFlow's formula differs only in where it is NaN at infinite logits.")
def binary_crossentropy_logits_from_keras(y_true, y_pred):
    x, y = y_pred, y_true
    loss = x.clamp(min=0) - x * y + torch.log1p(torch.exp(-x.abs()))  # tf.nn.sigmoid_cross_entropy_with_logits
    return loss.mean(-1)  # per-sample mean


@recipe("binary_crossentropy", source="optax", args={"from_logits": True},
        differences=("bce_logits_formula", "granularity"),
        note="For finite logits F.binary_cross_entropy_with_logits(...).mean(-1) gives the same numbers.")
def binary_crossentropy_logits_from_optax(y_true, y_pred):
    x, y = y_pred, y_true
    loss = -y * F.logsigmoid(x) - (1 - y) * F.logsigmoid(-x)  # optax.losses.sigmoid_binary_cross_entropy
    return loss.mean(-1)  # per-sample mean


# ---------------------------------------------------------------------------------------------- divergence

@recipe("kl_divergence", source="keras",
        differences=("kl_clip", "zero_times_inf_nan", "argument_order", "log_space_input", "granularity"),
        note="torch's F.kl_div(q.log(), p, reduction='batchmean') is the batch mean of the unclipped KL; "
             "reduction='mean' divides by the number of ELEMENTS.")
def kl_divergence_from_keras(p, q):
    p, q = p.clamp(1e-7, 1), q.clamp(1e-7, 1)  # Keras clips both distributions to [eps, 1], eps = 1e-7
    return (p * (p / q).log()).sum(-1)


@recipe("kl_divergence", source="optax", differences=("argument_order", "log_space_input", "granularity"),
        note="Both give NaN where p = q = 0. reduction='batchmean' is the batch mean of this; "
             "reduction='mean' divides by the number of ELEMENTS.")
def kl_divergence_from_optax(p, q):
    return F.kl_div(q.log(), p, reduction="none").sum(-1)  # kl_div(log q, p) is elementwise: sum the classes


# --------------------------------------------------------------------------------------------- activations

@recipe("softmax", source="keras")
@recipe("softmax", source="optax")
def softmax(z):
    return torch.softmax(z, dim=-1)


@recipe("log_softmax", source="keras")
@recipe("log_softmax", source="optax")
def log_softmax(z):
    return torch.log_softmax(z, dim=-1)


@recipe("sigmoid", source="keras")
@recipe("sigmoid", source="optax")
def sigmoid(z):
    return torch.sigmoid(z)


# ---------------------------------------------------------------------------------------------------- cosine

@recipe("cosine_similarity", source="keras", differences=("similarity_negated", "cosine_norm_floor",
                                                          "cosine_inverse_norm_cap", "written_from_ops"),
        note="Keras returns MINUS the cosine and floors each norm at 1e-7 with the floor a constant to the gradient "
             "(torch's F.cosine_similarity clamps at 1e-8 and differentiates the unclamped norm).")
def cosine_similarity_from_keras(y_true, y_pred):
    def normalize(x):  # Keras: x * min(rsqrt(sum x^2), 1 / 1e-7); clamp passes no gradient where it holds
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp(min=1e-7)
    return -(normalize(y_true) * normalize(y_pred)).sum(-1)  # MINUS the cosine


@recipe("cosine_similarity", source="optax", differences=("cosine_norm_floor",),
        note="optax's epsilon defaults to 0: a zero vector gives NaN, a tiny one is normalised exactly.")
def cosine_similarity_from_optax(y_true, y_pred):
    return F.cosine_similarity(y_pred, y_true, dim=-1, eps=0.0)  # torch's default eps=1e-8 floors each norm


@recipe("cosine_distance", source="optax", differences=("cosine_squared_norm_epsilon", "written_from_ops"),
        note="F.cosine_embedding_loss(target=1) is 1 - cos but adds 1e-12 to each squared norm; optax adds nothing.")
def cosine_distance_from_optax(y_true, y_pred):
    return 1 - F.cosine_similarity(y_pred, y_true, dim=-1, eps=0.0)


# --------------------------------------------------------------------------------------------------- triplet

@recipe("triplet_margin_loss", source="optax",
        differences=("distance_difference_epsilon", "distance_power_sum_epsilon", "hinge_kink_grad",
                     "written_from_ops"),
        note="optax adds eps = 1e-6 to the sum of squares (F.triplet_margin_loss adds it to every element of the "
             "difference), and jnp.maximum splits the gradient at the kink (torch.maximum does too).")
def triplet_margin_loss_from_optax(anchor, positive, negative, margin=1.0):
    def distance(x, y):  # optax: sqrt(sum((x - y) ** 2) + eps)
        return (((x - y) ** 2).sum(-1) + 1e-6).sqrt()
    z = distance(anchor, positive) - distance(anchor, negative) + margin
    return torch.maximum(z, torch.zeros_like(z))  # splits the gradient at z == 0, like jnp.maximum


@recipe("triplet_margin_loss", source="optax", args={"p": 1, "margin": 2.0},
        differences=("distance_difference_epsilon", "distance_power_sum_epsilon", "distance_signed_power",
                     "hinge_kink_grad", "written_from_ops"),
        note="optax's norm_degree takes no absolute value: norm_degree=1 is the SIGNED sum of the differences, "
             "not the L1 distance (F.triplet_margin_loss(p=1) is the L1 loss).")
def triplet_margin_loss_signed_l1_from_optax(anchor, positive, negative, margin=2.0):
    def distance(x, y):  # optax norm_degree=1: sum(x - y) + eps, signed
        return (x - y).sum(-1) + 1e-6
    z = distance(anchor, positive) - distance(anchor, negative) + margin
    return torch.maximum(z, torch.zeros_like(z))


# ------------------------------------------------------------------------------------------------------- CTC

@recipe("ctc_loss", source="optax",
        differences=("time_major_layout", "log_space_input", "lengths_as_paddings", "mean_divides_by_target_length"),
        note="optax.losses.ctc_loss(logits, logit_paddings, labels, label_paddings, blank_id=blank) takes logits "
             "(B, T, K) and paddings (1.0 at and past each length); F.ctc_loss takes log-probabilities laid out "
             "(T, B, C) and lengths. A target no alignment reaches costs about 1e5 in optax (log_epsilon stands in "
             "for log 0), inf here. The batch mean of optax's losses is reduction='sum' / B: reduction='mean' "
             "divides each loss by its target length first.")
def ctc_loss_from_optax(labels, logits, logit_lengths, label_lengths, blank=0):
    # From optax's paddings: logit_lengths = T - logit_paddings.sum(-1), label_lengths = N - label_paddings.sum(-1)
    log_probs = torch.log_softmax(logits, dim=-1).transpose(0, 1)  # (B, T, C) logits -> (T, B, C) log-probabilities
    return F.ctc_loss(log_probs, labels, logit_lengths, label_lengths, blank=blank, reduction="none")


@recipe("ctc_loss", source="keras",
        differences=("time_major_layout", "log_space_input", "argument_order", "label_padding", "blank_index",
                     "mean_divides_by_target_length"),
        note="keras.losses.ctc(y_true, y_pred): y_pred logits (B, T, C), every frame used (logit_lengths = T for "
             "each sample), y_true padded with 0, which is its blank, each label length read as the count of "
             "nonzero labels. Keras computes in float32 (float64 too), and on TensorFlow gives about 709.6 where no "
             "alignment reaches the target (inf here). keras.losses.CTC()'s mean is reduction='sum' / B, not "
             "reduction='mean' (which divides each loss by its target length first).")
def ctc_loss_from_keras(labels, logits, logit_lengths, label_lengths):
    positions = torch.arange(labels.shape[1], device=labels.device)
    y_true = torch.where(positions < label_lengths[:, None], labels, 0)  # Keras's y_true: labels padded with 0
    target_lengths = (y_true != 0).sum(-1)                               # Keras: the count of nonzero labels
    log_probs = torch.log_softmax(logits, dim=-1).transpose(0, 1)  # (B, T, C) logits -> (T, B, C) log-probabilities
    return F.ctc_loss(log_probs, y_true, logit_lengths, target_lengths,  # keras.losses.ctc: logit_lengths = T
                      blank=0, reduction="none")                         # Keras's blank is class 0


@recipe("ctc_loss", source="optax", args={"blank": 4},
        differences=("time_major_layout", "log_space_input", "lengths_as_paddings", "mean_divides_by_target_length"),
        note="optax's blank_id= is torch's blank=.")
def ctc_loss_blank_from_optax(labels, logits, logit_lengths, label_lengths, blank=4):
    return ctc_loss_from_optax(labels, logits, logit_lengths, label_lengths, blank=blank)
