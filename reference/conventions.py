"""Conventions: named bundles of flags that reproduce how a framework departs from the mathematics.

A :class:`Flag` changes a number (a loss value or a gradient) for the losses named in ``applies_to``;
every flag cites the framework source file and version it was read from and says how it was measured
(see ``docs/conventions.md`` for the numbers).  Things that change no number the reference computes
(argument order, which function an adapter must call, dtype policy) are kept in ``Convention.notes``.

The reference applies a flag only when the convention passed to a loss holds it and the loss is in the
flag's ``applies_to``; ``"math"`` holds no flag and is the plain mathematics.

Versions read and measured: Keras 3.15.1 (TensorFlow 2.21 backend), tf_keras 2.15.1 (the Keras 2 of
TF <= 2.15, source transcribed and run on TF 2.21 ops because tf_keras 2.15 cannot be imported there),
torch 2.13.0, optax 0.2.8 (jax 0.10.2).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Union

__all__ = ["Flag", "Convention", "CONVENTIONS", "get_convention", "flag_value"]


@dataclass(frozen=True)
class Flag:
    """One departure from the mathematics.

    ``value`` is what the reference uses (a number, bool or str); ``applies_to`` the loss names (keys
    of ``reference.LOSSES``) whose value or gradient the flag changes; ``source`` the framework file and
    version it was read from; ``versions`` a PEP 440 specifier of the framework versions it holds for.
    """

    name: str
    value: Any
    applies_to: tuple[str, ...]
    summary: str
    source: str
    versions: str


@dataclass(frozen=True)
class Convention:
    """A named bundle of :class:`Flag` objects (``flags`` maps flag name -> Flag)."""

    name: str
    description: str
    flags: Mapping[str, Flag] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "flags", MappingProxyType(dict(self.flags)))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))
        for key, flag in self.flags.items():
            if key != flag.name:
                raise ValueError(f"flag key {key!r} != Flag.name {flag.name!r}")

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.flags))))

    def without(self, flag_name: str) -> "Convention":
        """The same convention with ``flag_name`` switched off (KeyError if it has no such flag)."""
        if flag_name not in self.flags:
            raise KeyError(f"convention {self.name!r} has no flag {flag_name!r}")
        flags = {k: v for k, v in self.flags.items() if k != flag_name}
        return dataclasses.replace(self, name=f"{self.name}-without-{flag_name}", flags=flags)

    def flag(self, name: str, default: Any = None) -> Any:
        """The value of flag ``name``, or ``default`` when the convention does not hold it."""
        f = self.flags.get(name)
        return default if f is None else f.value

    def applies(self, name: str, loss: str) -> bool:
        """Whether flag ``name`` is held and applies to ``loss``."""
        f = self.flags.get(name)
        return f is not None and loss in f.applies_to

    def value_for(self, name: str, loss: str, default: Any = None) -> Any:
        """The flag's value when it is held and applies to ``loss``, else ``default``."""
        return self.flags[name].value if self.applies(name, loss) else default


ConventionLike = Union[str, Convention]


def get_convention(convention: ConventionLike) -> Convention:
    """A Convention from a name in :data:`CONVENTIONS` or a Convention object."""
    if isinstance(convention, Convention):
        return convention
    try:
        return CONVENTIONS[convention]
    except KeyError:
        raise ValueError(f"unknown convention {convention!r}; known: {sorted(CONVENTIONS)}") from None


def flag_value(convention: ConventionLike, name: str, loss: str, default: Any = None) -> Any:
    return get_convention(convention).value_for(name, loss, default)


# ----------------------------------------------------------------------------------------------------
# Sources
K3 = "keras 3.15.1"
K3_NN = f"keras/src/backend/tensorflow/nn.py ({K3})"
K3_LOSSES = f"keras/src/losses/losses.py ({K3})"
K2 = "tf_keras 2.15.1"
K2_BACKEND = f"tf_keras/src/backend.py ({K2})"
K2_LOSSES = f"tf_keras/src/losses.py ({K2})"
TORCH = "torch 2.13.0"
OPTAX = "optax 0.2.8"
OPTAX_CLS = f"optax/losses/_classification.py ({OPTAX})"

PROB_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")
HINGES = ("hinge", "squared_hinge", "categorical_hinge")


def _keras_prob_clip(src_cce, src_bce, vers, extra=""):
    return Flag(
        "prob_clip", 1e-7, PROB_LOSSES,
        "Probabilities (from_logits=False) are clipped to [eps, 1 - eps] with eps = "
        "keras.config.epsilon() = 1e-7 before the log; eps and 1 - eps are formed in y_pred's dtype "
        "(float32: [1.0000000116860974e-07, 0.99999988079071]). tf.clip_by_value's gradient is zero "
        "strictly outside and passes through AT the bounds (inclusive), which the gradients reproduce." + extra,
        f"{src_cce}; {src_bce}", vers)


def _keras_common(vers, backend_src, losses_src) -> dict[str, Flag]:
    flags = [
        Flag("cce_renormalize", True, ("categorical_crossentropy",),
             "From probabilities, y_pred is first divided by its sum over `axis` (then clipped): "
             "cce([0,1,0,0], [.1,.1,.8,.1]) = -log(.1/1.1) = 2.3978953 instead of -log(.1) = 2.3025851; "
             "the gradient includes the renormalisation's Jacobian.",
             f"categorical_crossentropy in {backend_src}", vers),
        Flag("sparse_renormalize", "after_clip", ("sparse_categorical_crossentropy",),
             "From probabilities, log(clip(y_pred)) is fed to tf.nn.sparse_softmax_cross_entropy_with_logits, "
             "which renormalises implicitly: loss = -log(c_y / sum_j c_j), c = clip(y_pred). "
             "scce([0], [.2,.2,.2]) = log 3 = 1.0986123 instead of -log .2 = 1.6094379. (Keras 3's jax/torch/"
             "numpy backends renormalise BEFORE clipping instead: value 'before_clip'.)",
             f"sparse_categorical_crossentropy in {backend_src}", vers),
        Flag("kl_clip", 1e-7, ("kl_divergence",),
             "Both y_true and y_pred are clipped to [eps, 1], eps = 1e-7, so zero entries of p contribute "
             "eps*log(eps/q): KL(P1, Q1) = 0.0202004047 instead of 0.0202027073; gradient zero where q is "
             "clipped (inclusive bounds as for prob_clip).",
             f"kl_divergence in {losses_src}", vers),
        Flag("hinge_binary_labels", "whole_tensor", ("hinge", "squared_hinge"),
             "If EVERY entry of y_true (the whole batch, not per sample) is 0 or 1, y_true is mapped to "
             "2*y_true - 1; otherwise it is used unchanged: hinge([0,1], [.3,-.2]) = 1.25 (math 1.1), "
             "but in a batch where one row holds a 0.5 no row is converted.",
             f"convert_binary_labels_to_hinge / _maybe_convert_labels in {losses_src}", vers),
        Flag("categorical_hinge_max_includes_target", True, ("categorical_hinge",),
             "neg = max_j (1 - y_j) * y_pred_j runs over ALL classes, so the target class contributes 0 "
             "to the max: y=[0,0,1], s=[-1,-2,.5] gives 0.5 (Crammer-Singer / optax multiclass_hinge_loss "
             "give max(0, 1 + max_{j!=t} s_j - s_t) = 0).",
             f"categorical_hinge in {losses_src}", vers),
        Flag("hinge_kink_grad", 1.0, HINGES,
             "At the kink (1 - y*s == 0, or neg - pos + 1 == 0) tf.maximum(x, 0) sends the whole gradient "
             "to x (its gradient mask is x >= y): d hinge / ds = -y/K at the kink (math reference: 0).",
             f"_MaximumGrad in tensorflow/python/ops/math_grad.py (TF 2.21); {losses_src}", vers),
        Flag("log_cosh_log2", float.fromhex("0x1.62e4300000000p-1"), ("log_cosh",),
             "log_cosh is x + softplus(-2x) - log(2) with log(2) computed in float32 (0.6931471824645996) "
             "and cast to y_pred's dtype: every float64 value is 1.9e-9 too low (log_cosh(0, 0) = "
             "-1.9045e-09).",
             f"log_cosh in {losses_src}", vers),
        Flag("zero_times_inf_nan", True, ("categorical_crossentropy",),
             "From logits, tf.nn.softmax_cross_entropy_with_logits evaluates 0 * log_softmax = 0 * -inf = NaN "
             "for a zero target on a -inf logit: cce([0,.5,.5], [-inf,0,0], from_logits=True) = nan "
             "(math: log 2).",
             f"categorical_crossentropy in {backend_src} (tf.nn.softmax_cross_entropy_with_logits)", vers),
        Flag("bce_logits_formula", "tf", ("binary_crossentropy",),
             "From logits, tf.nn.sigmoid_cross_entropy_with_logits computes max(x,0) - x*y + log1p(exp(-|x|)): "
             "NaN where that is 0*inf or inf-inf, e.g. (x=-inf, y=0) and (x=+inf, y=1), where the mathematics "
             "gives 0; finite logits are unaffected.",
             f"binary_crossentropy in {backend_src}", vers),
    ]
    return {f.name: f for f in flags}


_KERAS3 = _keras_common(">=3.0", K3_NN, K3_LOSSES)
_KERAS3["prob_clip"] = _keras_prob_clip(f"categorical/sparse_categorical_crossentropy in {K3_NN}",
                                        f"binary_crossentropy in {K3_NN}", ">=3.0")
_KERAS3["smoothing_classes_last_axis"] = Flag(
    "smoothing_classes_last_axis", True, ("categorical_crossentropy",),
    "label_smoothing uses K = y_true.shape[-1] even when axis != -1: with classes on axis 0 of a (3, 2) "
    "array, ls=0.3 smooths with 0.3/2 (loss [2.2521143, 1.6860618]) instead of 0.3/3 ([2.0386794, 1.4995767]).",
    f"categorical_crossentropy in {K3_LOSSES}", ">=3.0")

_KERAS2 = _keras_common(">=2.0,<2.16", K2_BACKEND, K2_LOSSES)
_KERAS2["prob_clip"] = _keras_prob_clip(
    f"categorical/sparse_categorical_crossentropy in {K2_BACKEND}", f"binary_crossentropy in {K2_BACKEND}",
    ">=2.0,<2.16")
_KERAS2["bce_log_epsilon"] = Flag(
    "bce_log_epsilon", 1e-7, ("binary_crossentropy",),
    "After clipping, Keras 2 takes log(p + eps) and log(1 - p + eps): bce([1], [0.1]) = -log(0.1000001) "
    "= 2.3025841 (float32 2.3025842) instead of 2.3025851; gradient -y/(p+eps) + (1-y)/(1-p+eps).",
    f"binary_crossentropy in {K2_BACKEND}", ">=2.0,<2.16")

_TORCH = {f.name: f for f in [
    Flag("bce_log_clamp", -100.0, ("binary_crossentropy",),
         "F.binary_cross_entropy clamps each log term to >= -100: bce(y=1, p=0) = 100 and bce(y=1, p=1e-50) = "
         "100 (math inf and 115.129). log(1-p) is computed as log1p(-p) (exact for tiny p).",
         f"torch/_decomp/decompositions.py binary_cross_entropy ({TORCH}); aten Loss.cpp", ">=1.0"),
    Flag("bce_grad_epsilon", float.fromhex("0x1.1979980000000p-40"), ("binary_crossentropy",),
         "The gradient of F.binary_cross_entropy is (p - y) / max(p (1 - p), EPSILON), EPSILON = 1e-12 held as "
         "a float32 constant (9.999999960041972e-13) even for float64 and cast to the input's dtype (0 in "
         "float16, so p = y = 1 gives 0/0 = NaN there): grad at (p=0, y=1) = -1.0000000040e12 (not 0, though "
         "the -100 clamp is active, and not -inf).",
         f"binary_cross_entropy_backward in torch/_decomp/decompositions.py ({TORCH}); measured in float64",
         ">=1.0"),
    Flag("ignore_index", -100, ("sparse_categorical_crossentropy", "nll"),
         "Integer label -100 (ignore_index default) gives loss 0 and gradient 0 (reduction='mean' then "
         "divides by the count of other labels: reduce(..., 'weighted_mean', weights=labels != -100)); the "
         "math reference gives NaN for a label outside [0, K).",
         f"torch/nn/functional.py cross_entropy / nll_loss ({TORCH})", ">=1.0"),
    Flag("zero_times_inf_nan", True, ("categorical_crossentropy", "kl_divergence"),
         "0 * -inf = NaN: F.cross_entropy with probability targets is NaN for a zero target on a -inf logit "
         "(cce([0,.5,.5], [-inf,0,0]) = nan, math log 2); F.kl_div(log q, p) = xlogy(p, p) - p * log q is NaN "
         "where p = q = 0 (KL(P1, Q1) = nan, math 0.0202027).",
         f"torch/nn/functional.py cross_entropy, kl_div ({TORCH})", ">=1.10"),
    Flag("bce_logits_formula", "torch", ("binary_crossentropy",),
         "F.binary_cross_entropy_with_logits computes (1 - y) x - logsigmoid(x): NaN at x=-inf (any y) and at "
         "(x=+inf, y=1); math gives 0 or inf.",
         f"binary_cross_entropy_with_logits in torch/_decomp/decompositions.py ({TORCH})", ">=1.0"),
]}

_OPTAX = {f.name: f for f in [
    Flag("zero_times_inf_nan", True, ("categorical_crossentropy", "kl_divergence"),
         "softmax_cross_entropy computes -(labels * log_softmax).sum(): NaN for a zero label on a -inf logit "
         "(safe_softmax_cross_entropy does not); kl_divergence(log_predictions, targets) = targets * "
         "(where(targets == 0, 0, log targets) - log_predictions) is NaN where p = q = 0 (KL(P1, Q1) = nan).",
         f"softmax_cross_entropy, kl_divergence in {OPTAX_CLS}", ">=0.1.5"),
    Flag("hinge_kink_grad", "tie_split", HINGES,
         "jnp.maximum / jnp.max split the gradient equally between tied arguments, and at the kink the zero "
         "branch is one of them: hinge_loss's gradient at 1 - y s = 0 is -y/2; multiclass_hinge_loss "
         "(max_j s_j + 1 - onehot_j, the target included) keeps n/(n+1) of the active gradient with n tied "
         "non-target classes: scores [0,1,0], label 1 -> [1/3, -2/3, 1/3].",
         f"hinge_loss, multiclass_hinge_loss in {OPTAX_CLS}; jax.lax.max JVP (jax 0.10.2)", ">=0.2.3"),
    Flag("abs_grad_at_zero", 1.0, ("mean_absolute_error",),
         "jax's d|x|/dx at x = 0 is 1 (TF and torch give 0), so d mean|y_pred - y_true| / d y_pred = 1/K "
         "where y_pred == y_true (as written jnp.abs(y_pred - y_true); optax has no MAE loss).",
         "jax/_src/lax/lax.py abs JVP (jax 0.10.2), measured", ">=0.4"),
    Flag("bce_logits_formula", "optax", ("binary_crossentropy",),
         "sigmoid_binary_cross_entropy computes -y log_sigmoid(x) - (1-y) log_sigmoid(-x) with plain "
         "products: NaN at (x=-inf, y=0) and (x=+inf, y=1) where the mathematics gives 0.",
         f"sigmoid_binary_cross_entropy in {OPTAX_CLS}", ">=0.1"),
]}

CONVENTIONS: dict[str, Convention] = {
    "math": Convention("math", "The mathematics: no clipping, no renormalisation, 0 log 0 = 0.", {}, {
        "hinge_kink": "Gradients at kinks are the subgradient 0 (hinge at 1 - y s = 0, |x| at 0); ties in a "
                      "max split the gradient equally.",
        "labels": "Integer labels outside [0, K) give NaN.",
    }),
    "keras": Convention(
        "keras", "Keras 3 (keras.losses functional API, TensorFlow backend).", _KERAS3, {
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
        }),
    "keras2": Convention(
        "keras2", "Keras 2 (tf.keras.losses in TF <= 2.15 = tf_keras 2.15.1).", _KERAS2, {
            "reduction": "Loss classes default to SUM_OVER_BATCH_SIZE (tf_keras/src/utils/losses_utils.py).",
            "sparse_axis": "sparse_categorical_crossentropy transposes `axis` to last before the op.",
            "measured": "tf_keras 2.15.1 does not import under TF 2.21; its loss bodies were transcribed "
                        "verbatim onto TF 2.21 ops to measure them.",
        }),
    "torch": Convention(
        "torch", "PyTorch torch.nn.functional losses.", _TORCH, {
            "kl_div_args": "F.kl_div(input, target) takes input = log q (log-probabilities of the model) and "
                           "target = p: KL(p || q) = kl_div(q.log(), p). Elementwise; sum over classes yourself.",
            "kl_div_reduction": "reduction='mean' divides the total by the number of ELEMENTS (N*K), "
                                "'batchmean' by the batch size N (the KL definition): reduce(per_sample, "
                                "'elementwise_mean', elements_per_sample=K) vs reduce(per_sample, 'batchmean').",
            "cross_entropy": "F.cross_entropy takes logits only (input, target) with classes on dim 1; "
                             "label_smoothing mixes y (1 - ls) + ls/K, identical to the mathematics, also for "
                             "integer targets.",
            "huber": "F.huber_loss(delta) = delta * F.smooth_l1_loss(beta=delta); both elementwise "
                     "(reference.huber / reference.smooth_l1 average over `axis`).",
            "hinge": "torch has no hinge / squared_hinge / categorical_hinge; hinge_embedding_loss, "
                     "multi_margin_loss (sum over classes / K) and soft_margin_loss are different losses. "
                     "Built from ops, clamp(min=0) gives the full gradient at the kink, relu gives 0, "
                     "torch.maximum gives half; torch.max(dim) sends a tie's gradient to the first index.",
            "elementwise": "mse_loss, l1_loss, binary_cross_entropy(_with_logits), huber_loss return "
                           "elementwise losses for reduction='none' (not per-sample means).",
        }),
    "optax": Convention(
        "optax", "optax.losses (jax).", _OPTAX, {
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
        }),
}
