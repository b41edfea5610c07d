"""Conventions: named bundles of flags that reproduce how an implementation departs from the mathematics.

A :class:`Flag` changes a number (a loss value or a gradient) for the losses named in ``applies_to``.
The reference names no implementation: it offers one constructor per *kind* of departure, named by
what the departure does (:func:`prob_clip`, :func:`cce_renormalize`, ... see ``__all__``).  Each
constructor returns a Flag with a sensible default ``applies_to`` (overridable) and a summary of the
mechanism; the caller says where the behaviour was read (``source``, with the version) and which
versions it holds for (``versions``, a PEP 440 specifier), and may add ``detail``, its own words about
how its implementation arrives there.  Whoever runs an implementation (an adapter) bundles its flags
into a :class:`Convention` and declares it; things that change no number the reference computes
(argument order, which function to call, dtype policy) go in ``Convention.notes``.

The reference applies a flag only when the convention passed to a loss holds it and the loss is in the
flag's ``applies_to``.  :data:`MATH` holds no flag and is the plain mathematics; :func:`get_convention`
accepts a Convention or the name ``"math"``.

  >>> from reference.conventions import Convention, prob_clip
  >>> clipped = Convention("clipped", "example", [prob_clip(1e-7, source="example", versions="*")])
  >>> clipped.value_for("prob_clip", "binary_crossentropy"), clipped.applies("prob_clip", "hinge")
  (1e-07, False)
  >>> sorted(clipped.without("prob_clip").flags), get_convention("math") is MATH
  ([], True)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Union

from ._util import clip_bounds

__all__ = [
    "Flag", "Convention", "MATH", "ConventionLike", "get_convention", "flag_value",
    # flag constructors, one per kind of departure
    "prob_clip", "cce_renormalize", "sparse_renormalize", "kl_clip", "hinge_binary_labels",
    "categorical_hinge_max_includes_target", "hinge_kink_grad", "log_cosh_log2", "zero_times_inf_nan",
    "bce_logits_formula", "smoothing_classes_last_axis", "bce_log_epsilon", "bce_log_clamp",
    "bce_grad_epsilon", "ignore_index", "abs_grad_at_zero", "poisson_log_epsilon", "log_floor", "percentage_floor",
    "mean_divides_by_target_length", "ctc_probability_epsilon",
    "variance_floor", "distribution_renormalize", "log_clamp_machine_eps",
    "class_weight_mean_divides_by_weight_sum", "weight_mean_divides_by_weight_sum", "ignored_mean_divides_by_kept",
    "target_shape_alignment",
    "similarity_negated", "cosine_inverse_norm_cap", "cosine_squared_norm_floor", "cosine_norm_floor",
    "cosine_squared_norm_epsilon", "clip_after_activation",
    "overlap_denominator_epsilon", "tversky_weights_swapped",
    "generalized_dice_weight_epsilon", "generalized_dice_class_mean",
    "distance_difference_epsilon", "distance_power_sum_epsilon", "distance_signed_power",
]


@dataclass(frozen=True)
class Flag:
    """One departure from the mathematics.

    ``value`` is what the reference uses (a number, bool or str); ``applies_to`` the loss names (keys
    of ``reference.LOSSES``) whose value or gradient the flag changes; ``source`` the file and version
    it was read from; ``versions`` a PEP 440 specifier of the versions it holds for.  Build flags with
    the constructors of this module rather than by hand.
    """

    name: str
    value: Any
    applies_to: tuple[str, ...]
    summary: str
    source: str
    versions: str


@dataclass(frozen=True)
class Convention:
    """A named bundle of :class:`Flag` objects.

    ``flags`` is an iterable of Flags or a mapping flag name -> Flag (stored as the mapping); two flags
    with one name, or a key that is not its Flag's name, is a ValueError.
    """

    name: str
    description: str
    flags: Mapping[str, Flag] | Iterable[Flag] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.flags, Mapping):
            flags = dict(self.flags)
            for key, flag in flags.items():
                if not isinstance(flag, Flag):
                    raise TypeError(f"convention {self.name!r}: {key!r} is not a Flag: {flag!r}")
                if key != flag.name:
                    raise ValueError(f"flag key {key!r} != Flag.name {flag.name!r}")
        else:
            flags = {}
            for flag in self.flags:
                if not isinstance(flag, Flag):
                    raise TypeError(f"convention {self.name!r}: not a Flag: {flag!r}")
                if flag.name in flags:
                    raise ValueError(f"convention {self.name!r} holds flag {flag.name!r} twice")
                flags[flag.name] = flag
        object.__setattr__(self, "flags", MappingProxyType(flags))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))

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


MATH = Convention("math", "The mathematics: no clipping, no renormalisation, 0 log 0 = 0.", (), {
    "hinge_kink": "Gradients at kinks are the subgradient 0 (hinge at 1 - y s = 0, |x| at 0); ties in a "
                  "max split the gradient equally.",
    "labels": "Integer labels outside [0, K) are refused (IndexError).",
})

ConventionLike = Union[str, Convention]


def get_convention(convention: ConventionLike) -> Convention:
    """``convention`` itself when it is a :class:`Convention`; :data:`MATH` for the name ``"math"``.

    The reference knows no other name: an implementation's conventions are declared by whoever runs it
    (an adapter's ``conventions``), and the Convention object is what a loss takes.
    """
    if isinstance(convention, Convention):
        return convention
    if isinstance(convention, str) and convention == "math":
        return MATH
    raise ValueError(f"unknown convention {convention!r}: the reference knows only 'math'; pass a "
                     f"Convention object (an adapter declares its own in adapter.conventions)")


def flag_value(convention: ConventionLike, name: str, loss: str, default: Any = None) -> Any:
    return get_convention(convention).value_for(name, loss, default)


# ----------------------------------------------------------------------------------------------------
# Flag constructors: one per kind of departure, named by what it does.  Each takes the flag's value (where
# it has one), then the keyword-only ``source`` and ``versions`` every flag must cite, an optional
# ``applies_to`` overriding the default losses and an optional ``detail`` appended to the summary.

PROB_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")
HINGES = ("hinge", "squared_hinge", "categorical_hinge")
ZERO_TIMES_INF_LOSSES = ("categorical_crossentropy", "kl_divergence")
SPARSE_RENORMALIZE_MODES = ("after_clip", "before_clip")


def _flag(name: str, value: Any, applies_to: Iterable[str], summary: str, detail: str, source: str,
          versions: str) -> Flag:
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"flag {name!r}: source must name the file and version it was read from")
    if not isinstance(versions, str) or not versions.strip():
        raise ValueError(f"flag {name!r}: versions must be a version specifier (e.g. '>=1.0', '*')")
    applies_to = (applies_to,) if isinstance(applies_to, str) else tuple(applies_to)
    if not applies_to or not all(isinstance(loss, str) and loss for loss in applies_to):
        raise ValueError(f"flag {name!r}: applies_to must name at least one loss, got {applies_to!r}")
    summary = summary if not detail else f"{summary} {detail}"
    return Flag(name, value, applies_to, summary, source, versions)


def _epsilon(name: str, eps: Any, upper: float = 0.5) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 < float(eps) < upper:
        raise ValueError(f"{name}: epsilon must be a number in (0, {upper}), got {eps!r}")
    return eps


def prob_clip(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = PROB_LOSSES,
              detail: str = "") -> Flag:
    """Probabilities (``from_logits=False``) are clipped to ``[eps, 1 - eps]`` before the log.

    The bounds are formed in ``y_pred``'s dtype; the clip's gradient is zero strictly outside them and
    passes through at them (inclusive), as ``tf.clip_by_value`` does (Keras).
    """
    eps = _epsilon("prob_clip", eps)
    lo, hi = clip_bounds(eps, "float32")
    return _flag(
        "prob_clip", eps, applies_to,
        f"Probabilities (from_logits=False) are clipped to [eps, 1 - eps] with eps = {eps!r} before the "
        f"log; eps and 1 - eps are formed in y_pred's dtype (float32: [{lo!r}, {hi!r}]). The clip's "
        "gradient is zero strictly outside and passes through AT the bounds (inclusive), which the "
        "gradients reproduce.", detail, source, versions)


def cce_renormalize(*, source: str, versions: str, applies_to: Iterable[str] = ("categorical_crossentropy",),
                    detail: str = "") -> Flag:
    """From probabilities, ``y_pred`` is divided by its sum over the class axis first (Keras)."""
    return _flag(
        "cce_renormalize", True, applies_to,
        "From probabilities, y_pred is first divided by its sum over `axis` (then clipped): "
        "cce([0,1,0,0], [.1,.1,.8,.1]) = -log(.1/1.1) = 2.3978953 instead of -log(.1) = 2.3025851; "
        "the gradient includes the renormalisation's Jacobian.", detail, source, versions)


def sparse_renormalize(mode: str, *, source: str, versions: str,
                       applies_to: Iterable[str] = ("sparse_categorical_crossentropy",), detail: str = "") -> Flag:
    """Sparse cross entropy from probabilities renormalises ``y_pred``.

    ``mode`` ``"after_clip"``: ``-log(c_y / sum c)``, ``c = clip(y_pred)`` (Keras 3, TensorFlow backend);
    ``"before_clip"``: divide by the sum, then clip, then log (Keras 3's other backends).
    """
    if mode not in SPARSE_RENORMALIZE_MODES:
        raise ValueError(f"sparse_renormalize: mode must be one of {SPARSE_RENORMALIZE_MODES}, got {mode!r}")
    if mode == "after_clip":
        summary = ("From probabilities, the clipped probabilities are renormalised after the clip: "
                   "loss = -log(c_y / sum_j c_j), c = clip(y_pred). scce([0], [.2,.2,.2]) = log 3 = 1.0986123 "
                   "instead of -log .2 = 1.6094379.")
    else:
        summary = ("From probabilities, y_pred is divided by its sum over `axis` before the clip: "
                   "loss = -log(clip(p_y / sum_j p_j)). scce([0], [.2,.2,.2]) = log 3 = 1.0986123 instead of "
                   "-log .2 = 1.6094379.")
    return _flag("sparse_renormalize", mode, applies_to, summary, detail, source, versions)


def kl_clip(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = ("kl_divergence",),
            detail: str = "") -> Flag:
    """Both ``p`` and ``q`` are clipped to ``[eps, 1]`` before the KL divergence (Keras)."""
    eps = _epsilon("kl_clip", eps)
    return _flag(
        "kl_clip", eps, applies_to,
        f"Both y_true and y_pred are clipped to [eps, 1], eps = {eps!r}, so zero entries of p contribute "
        "eps*log(eps/q): KL(P1, Q1) = 0.0202004047 (eps = 1e-7) instead of 0.0202027073; gradient zero "
        "where q is clipped (inclusive bounds as for prob_clip).", detail, source, versions)


def hinge_binary_labels(*, source: str, versions: str, applies_to: Iterable[str] = ("hinge", "squared_hinge"),
                        detail: str = "") -> Flag:
    """``{0, 1}`` targets become ``{-1, 1}`` when the WHOLE ``y_true`` is binary (Keras)."""
    return _flag(
        "hinge_binary_labels", "whole_tensor", applies_to,
        "If EVERY entry of y_true (the whole batch, not per sample) is 0 or 1, y_true is mapped to "
        "2*y_true - 1; otherwise it is used unchanged: hinge([0,1], [.3,-.2]) = 1.25 (math 1.1), "
        "but in a batch where one row holds a 0.5 no row is converted.", detail, source, versions)


def categorical_hinge_max_includes_target(*, source: str, versions: str,
                                          applies_to: Iterable[str] = ("categorical_hinge",),
                                          detail: str = "") -> Flag:
    """The categorical hinge's max runs over all classes, the target's ``0`` included (Keras)."""
    return _flag(
        "categorical_hinge_max_includes_target", True, applies_to,
        "neg = max_j (1 - y_j) * y_pred_j runs over ALL classes, so the target class contributes 0 "
        "to the max: y=[0,0,1], s=[-1,-2,.5] gives 0.5 (Crammer-Singer, max(0, 1 + max_{j!=t} s_j - s_t), "
        "gives 0).", detail, source, versions)


def hinge_kink_grad(value: float | str, *, source: str, versions: str, applies_to: Iterable[str] = HINGES,
                    detail: str = "") -> Flag:
    """The gradient a hinge takes at its kink (the mathematics' subgradient is 0).

    ``value`` a number in ``[0, 1]``: that fraction of the active branch's gradient (1.0: ``tf.maximum``
    sends ties to its first argument); ``"tie_split"``: the max splits the gradient equally between
    tied arguments, the zero branch being one of them (jax).
    """
    if value == "tie_split":
        summary = ("The max splits the gradient equally between tied arguments, and at the kink the zero "
                   "branch is one of them: the hinge's gradient at 1 - y s = 0 is half the active one "
                   "(-y/2 per element); the categorical hinge (max_j s_j + 1 - onehot_j, the target "
                   "included) keeps n/(n+1) of the active gradient with n tied non-target classes: scores "
                   "[0,1,0], label 1 -> [1/3, -2/3, 1/3].")
    elif not isinstance(value, bool) and isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
        share = "-y/K" if value == 1 else f"-{value!r} y/K"
        summary = (f"At the kink (1 - y*s == 0, or neg - pos + 1 == 0) the gradient is {value!r} times the "
                   f"active branch's: d hinge / ds = {share} at the kink (math reference: 0).")
    else:
        raise ValueError(f"hinge_kink_grad: value must be a number in [0, 1] or 'tie_split', got {value!r}")
    return _flag("hinge_kink_grad", value, applies_to, summary, detail, source, versions)


def log_cosh_log2(value: float, *, source: str, versions: str, applies_to: Iterable[str] = ("log_cosh",),
                  detail: str = "") -> Flag:
    """``log_cosh`` is ``x + softplus(-2x) - log 2`` with ``log 2`` rounded to ``value`` (Keras: float32)."""
    if isinstance(value, bool) or not isinstance(value, float) or abs(value - math.log(2.0)) > 1e-3:
        raise ValueError(f"log_cosh_log2: value must be a float near log 2, got {value!r}")
    shift = value - math.log(2.0)
    return _flag(
        "log_cosh_log2", value, applies_to,
        f"log_cosh is x + softplus(-2x) - log(2) with log(2) rounded to {value!r}: every float64 value is "
        f"{abs(shift):.2g} too {'low' if shift > 0 else 'high'} (log_cosh(0, 0) = {-shift:.5g}).",
        detail, source, versions)


_ZERO_TIMES_INF = {
    "categorical_crossentropy": "categorical_crossentropy from logits is NaN for a zero target on a -inf logit "
                                "(cce([0,.5,.5], [-inf,0,0], from_logits=True) = nan, math log 2)",
    "kl_divergence": "kl_divergence is NaN where p = q = 0 (KL(P1, Q1) = nan, math 0.0202027), and from "
                     "log-probability targets (log_target) wherever log p = -inf",
    "generalized_kl_divergence": "generalized_kl_divergence is NaN where p = q = 0 (math: that class adds 0)",
}


def zero_times_inf_nan(applies_to: Iterable[str] = ZERO_TIMES_INF_LOSSES, *, source: str, versions: str,
                       detail: str = "") -> Flag:
    """``0 * -inf`` (a zero target times a ``-inf`` log) is evaluated literally, giving NaN."""
    applies_to = (applies_to,) if isinstance(applies_to, str) else tuple(applies_to)
    effects = "; ".join(_ZERO_TIMES_INF[loss] for loss in applies_to if loss in _ZERO_TIMES_INF)
    return _flag("zero_times_inf_nan", True, applies_to,
                 "0 * -inf is evaluated literally as NaN" + (f": {effects}." if effects else "."),
                 detail, source, versions)


def bce_logits_formula(formula: str, *, source: str, versions: str,
                       applies_to: Iterable[str] = ("binary_crossentropy",), detail: str = "") -> Flag:
    """Binary cross entropy from logits keeps the NaN pattern of a literal formula at infinite logits.

    ``formula`` names the expression ``reference.losses`` evaluates literally to find where it is NaN:
    ``"tf"`` ``max(x,0) - x y + log1p(exp(-|x|))`` (``tf.nn.sigmoid_cross_entropy_with_logits``),
    ``"torch"`` ``(1-y) x - logsigmoid(x)`` (``F.binary_cross_entropy_with_logits``), ``"optax"``
    ``-y log_sigmoid(x) - (1-y) log_sigmoid(-x)`` (``optax.sigmoid_binary_cross_entropy``).  Pass the
    formula itself in ``detail``.
    """
    if not isinstance(formula, str) or not formula:
        raise ValueError(f"bce_logits_formula: formula must be a non-empty string, got {formula!r}")
    return _flag(
        "bce_logits_formula", formula, applies_to,
        f"From logits, the loss is NaN wherever formula {formula!r} evaluated literally forms 0*inf or "
        "inf-inf (at infinite logits), where the mathematics gives 0 or inf; finite logits are unaffected.",
        detail, source, versions)


def smoothing_classes_last_axis(*, source: str, versions: str,
                                applies_to: Iterable[str] = ("categorical_crossentropy",),
                                detail: str = "") -> Flag:
    """Label smoothing divides by ``y_true.shape[-1]`` even when the class axis is another (Keras 3)."""
    return _flag(
        "smoothing_classes_last_axis", True, applies_to,
        "label_smoothing uses K = y_true.shape[-1] even when axis != -1: with classes on axis 0 of a (3, 2) "
        "array, ls=0.3 smooths with 0.3/2 (loss [2.2521143, 1.6860618]) instead of 0.3/3 ([2.0386794, "
        "1.4995767]).", detail, source, versions)


def bce_log_epsilon(eps: float, *, source: str, versions: str,
                    applies_to: Iterable[str] = ("binary_crossentropy",), detail: str = "") -> Flag:
    """After clipping, BCE takes ``log(p + eps)`` and ``log(1 - p + eps)`` (Keras 2)."""
    eps = _epsilon("bce_log_epsilon", eps)
    return _flag(
        "bce_log_epsilon", eps, applies_to,
        f"After clipping, the logs are log(p + eps) and log(1 - p + eps), eps = {eps!r}: bce([1], [0.1]) = "
        "-log(0.1000001) = 2.3025841 (float32 2.3025842) instead of 2.3025851 (eps = 1e-7); gradient "
        "-y/(p+eps) + (1-y)/(1-p+eps).", detail, source, versions)


def poisson_log_epsilon(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = ("poisson",),
                        detail: str = "") -> Flag:
    """From rates (``log_input=False``), the Poisson loss takes ``log(rate + eps)``, formed in the prediction's
    dtype, instead of ``log(rate)`` (a fixed epsilon, or an ``eps`` argument with a default)."""
    eps = _epsilon("poisson_log_epsilon", eps)
    return _flag(
        "poisson_log_epsilon", eps, applies_to,
        f"From rates, the loss is rate - y log(rate + eps), eps = {eps!r}, the sum formed in y_pred's dtype: "
        f"a zero rate where y = 1 costs -log(eps) (finite) where the mathematics gives inf; gradient "
        f"1 - y / (rate + eps).", detail, source, versions)


def log_floor(eps: float, *, source: str, versions: str,
              applies_to: Iterable[str] = ("mean_squared_logarithmic_error",), detail: str = "") -> Flag:
    """Before ``log(1 + x)``, both ``y_true`` and ``y_pred`` are replaced by ``max(x, eps)`` (``eps`` formed in
    ``y_pred``'s dtype): a value at or below 0 counts as ``eps``; the gradient is 0 strictly below ``eps``
    and passes at it (``tf.maximum``'s mask ``x >= eps``)."""
    eps = _epsilon("log_floor", eps)
    return _flag(
        "log_floor", eps, applies_to,
        f"y_true and y_pred are floored at eps = {eps!r} (max(x, eps), in y_pred's dtype) before log(x + 1): "
        f"msle(0, -0.5) = 0 where the mathematics gives log1p(-0.5)^2 = 0.480453; no gradient below eps.",
        detail, source, versions)


def percentage_floor(eps: float, *, source: str, versions: str,
                     applies_to: Iterable[str] = ("mean_absolute_percentage_error",), detail: str = "") -> Flag:
    """The percentage error divides by ``max(|y_true|, eps)`` (``eps`` in ``y_pred``'s dtype), not ``|y_true|``."""
    eps = _epsilon("percentage_floor", eps)
    return _flag(
        "percentage_floor", eps, applies_to,
        f"the denominator is max(|y_true|, eps), eps = {eps!r} in y_pred's dtype: a zero target costs "
        f"100 |y_pred| / eps (mape(0, 1) = {100.0 / eps:.6g}) where the mathematics gives inf.",
        detail, source, versions)


def variance_floor(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = ("gaussian_nll_loss",),
                   detail: str = "") -> Flag:
    """The Gaussian likelihood clamps the variance to ``>= eps`` (formed in the prediction's dtype) before its
    log and its division."""
    eps = _epsilon("variance_floor", eps)
    return _flag(
        "variance_floor", eps, applies_to,
        f"var is clamped to max(var, eps), eps = {eps!r}: a variance of 1e-8 counts as {eps!r} (gaussian_nll(0, 0.5, "
        f"1e-8) = 124993.09 where the mathematics gives 12499990.8).",
        detail, source, versions)


def distribution_renormalize(*, source: str, versions: str, applies_to: Iterable[str] = ("entropy",),
                             detail: str = "") -> Flag:
    """A distribution built from probabilities divides them by their sum along the class axis first (its
    gradient includes the normalisation's Jacobian)."""
    return _flag(
        "distribution_renormalize", True, applies_to,
        "p is divided by its sum along the class axis before use: entropy([0.2, 0.3, 0.6]) = 0.99492 (the "
        "entropy of p / 1.1) where the formula on p gives 0.98957.", detail, source, versions)


def log_clamp_machine_eps(*, source: str, versions: str, applies_to: Iterable[str] = ("entropy",),
                          detail: str = "") -> Flag:
    """The log takes ``clamp(p, eps, 1 - eps)`` with ``eps`` the machine epsilon of ``p``'s dtype (float16
    9.8e-4, bfloat16 7.8e-3, float32 1.2e-7, float64 2.2e-16); the clamp passes the gradient at its bounds and
    zeroes it strictly outside."""
    return _flag(
        "log_clamp_machine_eps", "finfo.eps", applies_to,
        "log(p) is log(clamp(p, eps, 1 - eps)), eps the dtype's machine epsilon: the entropy of a one-hot row is "
        "-log(1 - eps) = eps (1.1920929e-07 in float32, 2.220446e-16 in float64) where the mathematics gives 0, "
        "and its gradient at a zero entry is -log(eps) (15.94 in float32) where the mathematics gives inf.",
        detail, source, versions)


def mean_divides_by_target_length(*, source: str, versions: str, applies_to: Iterable[str] = ("ctc_loss",),
                                  detail: str = "") -> Flag:
    """A ``"mean"`` reduction of a sequence loss divides each sample's loss by its target length (at least 1)
    before averaging over the batch (torch ``ctc_loss``), not the plain mean of the per-sample losses."""
    return _flag(
        "mean_divides_by_target_length", True, applies_to,
        "reduction 'mean' is mean_b(loss_b / max(label_lengths_b, 1)): a per-token loss, not the mean of the "
        "per-sequence losses (reduce(loss / max(label_lengths, 1), 'mean')); 'sum' and 'none' are unchanged.",
        detail, source, versions)


def ctc_probability_epsilon(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = ("ctc_loss",),
                            detail: str = "") -> Flag:
    """A CTC loss on probabilities ``p = softmax(z)`` takes ``log(p + eps)`` (``eps`` in the logits' dtype) and
    normalises it again over the classes (the op's own log-softmax): each frame's log-probabilities are
    ``log((p + eps) / sum(p + eps))`` instead of ``log p``."""
    eps = _epsilon("ctc_probability_epsilon", eps)
    return _flag(
        "ctc_probability_epsilon", eps, applies_to,
        f"Frame log-probabilities log_softmax(log(softmax(z) + eps)), eps = {eps!r} in the logits' dtype: each "
        f"probability is (p + eps) / (1 + C eps), so an impossible frame costs about -log(eps) instead of inf, and "
        f"the gradient with respect to the logits passes through the epsilon.", detail, source, versions)


def bce_log_clamp(value: float, *, source: str, versions: str,
                  applies_to: Iterable[str] = ("binary_crossentropy",), detail: str = "") -> Flag:
    """BCE from probabilities clamps each log term to ``>= value`` (torch: -100)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value < 0:
        raise ValueError(f"bce_log_clamp: value must be a negative number, got {value!r}")
    return _flag(
        "bce_log_clamp", value, applies_to,
        f"Each log term is clamped to >= {value!r}: bce(y=1, p=0) = {-value!r} (math inf); with -100, "
        "bce(y=1, p=1e-50) = 100 (math 115.129). log(1-p) is computed as log1p(-p) (exact for tiny p).",
        detail, source, versions)


def bce_grad_epsilon(value: float, *, source: str, versions: str,
                     applies_to: Iterable[str] = ("binary_crossentropy",), detail: str = "") -> Flag:
    """BCE's gradient is ``(p - y) / max(p (1 - p), value)``, ``value`` cast to the input's dtype (torch)."""
    eps = _epsilon("bce_grad_epsilon", value)
    return _flag(
        "bce_grad_epsilon", eps, applies_to,
        f"The gradient from probabilities is (p - y) / max(p (1 - p), eps), eps = {eps!r} cast to the "
        "input's dtype (0 in float16, so p = y = 1 gives 0/0 = NaN there): grad at (p=0, y=1) = "
        f"{-1 / eps:.10e} (not 0, though a log clamp may be active, and not -inf).", detail, source, versions)


def ignore_index(value: int, *, source: str, versions: str,
                 applies_to: Iterable[str] = ("sparse_categorical_crossentropy", "nll"), detail: str = "") -> Flag:
    """An integer label equal to ``value`` contributes loss 0 and gradient 0 (torch: -100)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"ignore_index: value must be an int, got {value!r}")
    return _flag(
        "ignore_index", value, applies_to,
        f"Integer label {value} gives loss 0 and gradient 0 (a mean reduction then divides by the count of "
        f"other labels: reduce(..., 'weighted_mean', weights=labels != {value})); the math reference refuses a "
        "label outside [0, K) (IndexError).", detail, source, versions)


def abs_grad_at_zero(value: float, *, source: str, versions: str,
                     applies_to: Iterable[str] = ("mean_absolute_error",), detail: str = "") -> Flag:
    """The gradient taken for ``|x|`` at ``x = 0`` (the mathematics' subgradient is 0; jax: 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
        raise ValueError(f"abs_grad_at_zero: value must be a number in [-1, 1], got {value!r}")
    return _flag(
        "abs_grad_at_zero", value, applies_to,
        f"d|x|/dx at x = 0 is {value!r} (math: 0), so d mean|y_pred - y_true| / d y_pred = {value!r}/K where "
        "y_pred == y_true.", detail, source, versions)


def class_weight_mean_divides_by_weight_sum(*, source: str, versions: str,
                                            applies_to: Iterable[str] = ("sparse_categorical_crossentropy", "nll"),
                                            detail: str = "") -> Flag:
    """With ``class_weight``, a ``"mean"`` reduction divides by the summed weights of the samples' labels.

    The mathematics' mean of the weighted per-sample losses ``w_{y_s} l_s`` divides by the number of samples;
    under this flag it is ``sum_s w_{y_s} l_s / sum_s w_{y_s}`` (samples whose label is ignored count in
    neither sum).  Without ``class_weight`` nothing changes.
    """
    return _flag(
        "class_weight_mean_divides_by_weight_sum", True, applies_to,
        "With class weights w, reduction 'mean' divides the sum of the weighted losses w[y_s] l_s by "
        "sum_s w[y_s] (the weights of the samples' labels; ignored labels count in neither), not by the number "
        "of samples: logits [[1, 2, .5], [.3, -1, 2]], labels [1, 2], w = [.5, 2, 3] give 0.31143 instead of "
        "0.77789.", detail, source, versions)


def weight_mean_divides_by_weight_sum(*, source: str, versions: str,
                                      applies_to: Iterable[str] = ("mean_squared_error", "mean_absolute_error"),
                                      detail: str = "") -> Flag:
    """With an element ``weight``, a ``"mean"`` reduction divides by the sum of the weights (not their count)."""
    return _flag(
        "weight_mean_divides_by_weight_sum", True, applies_to,
        "With element weights w, reduction 'mean' is sum(w l) / sum(w) instead of sum(w l) / n: squared errors "
        "[[.25, 4], [0, 9]] with w = [[.5, 2], [1, 0]] give 2.3214 instead of 2.0313.", detail, source, versions)


def ignored_mean_divides_by_kept(*, source: str, versions: str,
                                 applies_to: Iterable[str] = ("sparse_categorical_crossentropy",),
                                 detail: str = "") -> Flag:
    """With ``ignore_class``, a mean leaves the ignored samples out of its denominator.

    ``"mean"`` / ``"sum_over_batch_size"``: ``sum_s w_s l_s / #kept`` (0 when every sample is ignored);
    ``"mean_with_sample_weight"``: ``sum_s w_s l_s / sum_kept w_s``.  The mathematics counts an ignored sample
    as a zero loss (``/ N``, ``/ sum w``).
    """
    return _flag(
        "ignored_mean_divides_by_kept", True, applies_to,
        "With ignore_class, the ignored samples (loss 0) leave the denominator of a mean: sum_over_batch_size "
        "and mean divide by the number of kept samples (0 when none is kept), mean_with_sample_weight by the kept "
        "samples' weights: logits [[1,2,.5],[.3,-1,2],[.1,.2,.3],[2,1,0]], labels [1,2,2,0], ignore_class=2 give "
        "0.43598735 instead of 0.21799368 (/ 4).", detail, source, versions)


TARGET_SHAPE_MODES = ("expand_rank", "broadcast")


def target_shape_alignment(mode: str, *, source: str, versions: str,
                           applies_to: Iterable[str] = ("mean_squared_error", "binary_crossentropy"),
                           detail: str = "") -> Flag:
    """What a target whose shape is not the prediction's becomes (the mathematics refuses it: ValueError).

    ``"expand_rank"``: shapes whose ranks differ by one, the longer ending in an axis of size 1, are
    squeezed or expanded to one rank (y_true (N,) against y_pred (N, 1): the intended per-sample loss);
    ``"broadcast"``: NumPy broadcasting ((N,) against (N, 1) gives (N, N): every target meets every prediction).
    """
    if mode not in TARGET_SHAPE_MODES:
        raise ValueError(f"target_shape_alignment: mode must be one of {TARGET_SHAPE_MODES}, got {mode!r}")
    if mode == "expand_rank":
        summary = ("A target whose rank is one less (or more) than the prediction's, the longer ending in an axis of "
                   "size 1, is expanded (or squeezed) to the same rank: y_true [1, 0, 1, 0] against y_pred "
                   "[[.9], [.2], [.6], [.4]] gives the per-sample MSE, mean 0.0925 (the mathematics refuses the shapes).")
    else:
        summary = ("Target and prediction are broadcast against each other: y_true (4,) against y_pred (4, 1) gives a "
                   "(4, 4) computation in which every target meets every prediction (MSE mean 0.3175 on y_true "
                   "[1, 0, 1, 0], y_pred [[.9], [.2], [.6], [.4]] where the per-sample loss gives 0.0925).")
    return _flag("target_shape_alignment", mode, applies_to, summary, detail, source, versions)
# ----------------------------------------------------------------------------------------------------
# Cosine similarity: the sign, and how each implementation keeps a (near-)zero vector's norm off zero.  The
# mathematics divides by the norms, so a zero vector gives 0/0 = NaN; each flag below replaces one factor
# ``1/|x|`` by a bounded one, its constant formed in the input's dtype (float16 loses every one of them).

COSINE_LOSSES = ("cosine_similarity", "cosine_distance")


def similarity_negated(*, source: str, versions: str, applies_to: Iterable[str] = ("cosine_similarity",),
                       detail: str = "") -> Flag:
    """The function returns MINUS the cosine similarity (a loss to minimise), value and gradient."""
    return _flag(
        "similarity_negated", True, applies_to,
        "The result is -cos(y_true, y_pred), not cos: cosine_similarity([0, 1], [0, 2]) = -1 (math 1); a "
        "perfect prediction scores -1, an opposite one +1; the gradient changes sign too.", detail, source,
        versions)


def cosine_inverse_norm_cap(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = COSINE_LOSSES,
                            detail: str = "") -> Flag:
    """Each vector is multiplied by ``min(rsqrt(sum x^2), 1/eps)``, ``1/eps`` formed in the input's dtype (inf
    in float16 for eps = 1e-7: no cap there); where the cap holds, the norm is a constant to the gradient."""
    eps = _epsilon("cosine_inverse_norm_cap", eps)
    return _flag(
        "cosine_inverse_norm_cap", eps, applies_to,
        f"x is normalised as x * min(rsqrt(sum x^2), 1/eps), eps = {eps!r} (a norm floor of eps; 1/eps formed "
        "in the input's dtype, which overflows float16, so there is no floor in float16): a zero vector gives "
        "cosine 0 (math NaN) and a vector of norm < eps is scaled by 1/eps, not normalised; where the cap holds "
        "the gradient sees a constant factor (no d|x| term).", detail, source, versions)


def cosine_squared_norm_floor(eps: float, *, source: str, versions: str,
                              applies_to: Iterable[str] = COSINE_LOSSES, detail: str = "") -> Flag:
    """Each vector is multiplied by ``rsqrt(max(sum x^2, eps))``, ``eps`` formed in the input's dtype (0 in
    float16 for eps = 1e-12); where the floor holds, the norm is a constant to the gradient."""
    eps = _epsilon("cosine_squared_norm_floor", eps)
    return _flag(
        "cosine_squared_norm_floor", eps, applies_to,
        f"x is normalised as x * rsqrt(max(sum x^2, eps)), eps = {eps!r} on the SQUARED norm (a norm floor of "
        f"{math.sqrt(eps):.3g}; eps formed in the input's dtype, 0 in float16): a zero vector gives cosine 0 "
        "(math NaN), a vector of norm < sqrt(eps) is scaled, not normalised; where the floor holds the gradient "
        "sees a constant factor.", detail, source, versions)


def cosine_norm_floor(eps: float, *, source: str, versions: str, applies_to: Iterable[str] = COSINE_LOSSES,
                      detail: str = "") -> Flag:
    """Each norm is clamped, ``max(|x|, eps)`` with ``eps`` in the input's dtype (0 in float16 for 1e-8), and the
    clamp is invisible to the gradient: it flows as if through ``|x|`` itself (torch clamps under no_grad)."""
    eps = _epsilon("cosine_norm_floor", eps)
    return _flag(
        "cosine_norm_floor", eps, applies_to,
        f"cos = sum(x * y) / (max(|x|, eps) max(|y|, eps)), eps = {eps!r} formed in the input's dtype (0 in "
        "float16 for 1e-8): a zero vector gives 0 (math NaN); a vector of norm < eps is divided by eps. The "
        "clamp does not reach the gradient, which keeps the term of the unclamped norm: d cos/dx = y / (n_x n_y) "
        "- (x.y) x / (|x| n_x^2 n_y), n = max(|.|, eps) (0 for that term at x = 0).", detail, source,
        versions)


def cosine_squared_norm_epsilon(eps: float, *, source: str, versions: str,
                                applies_to: Iterable[str] = ("cosine_distance",), detail: str = "") -> Flag:
    """The cosine is ``sum(x y) / sqrt((sum x^2 + eps) (sum y^2 + eps))``: eps ADDED to each squared norm."""
    eps = _epsilon("cosine_squared_norm_epsilon", eps)
    return _flag(
        "cosine_squared_norm_epsilon", eps, applies_to,
        f"cos = sum(x y) / sqrt((sum x^2 + eps) (sum y^2 + eps)), eps = {eps!r} added to both squared norms "
        "(formed in the input's dtype): a zero vector gives cos 0 (math NaN) and every cosine is pulled "
        "toward 0 by a relative eps / |x|^2.", detail, source, versions)


DISTANCE_LOSSES = ("triplet_margin_loss",)


def distance_difference_epsilon(eps: float, *, source: str, versions: str,
                                applies_to: Iterable[str] = DISTANCE_LOSSES, detail: str = "") -> Flag:
    """The distance between two embeddings is ``|x - y + eps|_p``: ``eps`` ADDED to every element of the
    difference (formed in the inputs' dtype), so coinciding vectors are ``eps D^(1/p)`` apart, not 0."""
    eps = _epsilon("distance_difference_epsilon", eps)
    return _flag(
        "distance_difference_epsilon", eps, applies_to,
        f"d(x, y) = (sum |x - y + eps|^p)^(1/p), eps = {eps!r} added to each element of the difference (in the "
        "inputs' dtype): x = y gives eps D^(1/p) (math 0), and the gradient there is that of the norm at "
        "(eps, ..., eps): 1/sqrt(D) per element of x for p = 2 (math 0); elsewhere every distance moves by "
        "about eps sum(sign(x - y) |x - y|^(p-1)) / d^(p-1).", detail, source, versions)


def distance_power_sum_epsilon(eps: float, *, source: str, versions: str,
                               applies_to: Iterable[str] = DISTANCE_LOSSES, detail: str = "") -> Flag:
    """The distance between two embeddings is ``(sum |x - y|^p + eps)^(1/p)``: ``eps`` ADDED to the sum of
    powers (in the inputs' dtype), so coinciding vectors are ``eps^(1/p)`` apart (1e-3 for eps = 1e-6, p = 2)."""
    eps = _epsilon("distance_power_sum_epsilon", eps)
    return _flag(
        "distance_power_sum_epsilon", eps, applies_to,
        f"d(x, y) = (sum |x - y|^p + eps)^(1/p), eps = {eps!r} added to the sum of powers (in the inputs' dtype): "
        f"x = y gives eps^(1/p) ({eps ** 0.5:.3g} for p = 2; math 0) with gradient 0 there; elsewhere every "
        "distance moves by about eps / (p d^(p-1)).", detail, source, versions)


def distance_signed_power(*, source: str, versions: str, applies_to: Iterable[str] = DISTANCE_LOSSES,
                          detail: str = "") -> Flag:
    """The "p-norm" of a difference is taken without the absolute value: ``(sum (x - y)^p)^(1/p)``, the same
    for even p, a signed sum (p = 1) or NaN (p = 3 of a negative sum, fractional p of a negative element) else."""
    return _flag(
        "distance_signed_power", True, applies_to,
        "d(x, y) = (sum (x - y)^p)^(1/p) with no absolute value: for p = 2 the Euclidean distance, for p = 1 the "
        "signed sum sum(x - y) (negative for half the pairs: anchor [0,0], positive [-1,-1], negative [1,1] "
        "give max(2 - (-2) + 1, 0) = 5 where the L1 triplet loss is max(2 - 2 + 1, 0) = 1); gradient (x - y)^(p-1) / d^(p-1) (1 per element for p = 1, math sign(x - y)).",
        detail, source, versions)


FOCAL_LOSSES = ("binary_focal_crossentropy", "categorical_focal_crossentropy")


def clip_after_activation(*, source: str, versions: str, applies_to: Iterable[str] = FOCAL_LOSSES,
                          detail: str = "") -> Flag:
    """From logits, the sigmoid / softmax output goes down the probabilities' path: the ``prob_clip`` the
    convention holds for the loss applies to it too (a logit beyond about +-16 saturates)."""
    return _flag(
        "clip_after_activation", True, applies_to,
        "From logits, the loss applies the sigmoid (softmax), rounds it to the input's dtype (a tensor of that "
        "dtype) and then takes the probabilities' path, so the prob_clip of the same convention clips sigmoid(z) to "
        "[eps, 1 - eps] before the log: 1 - sigmoid(z) keeps that rounding (float32: 13 ulps at z ~ 10), the "
        "cross-entropy "
        "term saturates at -log(eps) = 16.118 (eps = 1e-7) and its gradient vanishes beyond |z| ~ 16: "
        "binary focal(y=0, z=30, gamma=2) = 16.118095 where the mathematics gives 30.", detail, source, versions)


# ----------------------------------------------------------------------------------------------------
# Overlap losses (Dice, Tversky): where a constant keeps the ratio off 0/0, and which weight goes with which
# error.  The mathematics has no constant (an empty foreground is 0/0) and a user's ``smooth`` is an argument.

OVERLAP_LOSSES = ("dice", "tversky")


def overlap_denominator_epsilon(eps: float, *, source: str, versions: str,
                                applies_to: Iterable[str] = OVERLAP_LOSSES, detail: str = "") -> Flag:
    """``eps`` is added to the ratio's denominator only (formed in the input's dtype), as the implementation
    writes it: Dice ``2I / (T + P + eps)``, Tversky ``I / (I + a FP + b FN + eps)``."""
    eps = _epsilon("overlap_denominator_epsilon", eps)
    return _flag(
        "overlap_denominator_epsilon", eps, applies_to,
        f"eps = {eps!r} is added to the denominator and not the numerator (dice: 1 - 2I / (sum y + sum p + eps); "
        "tversky: 1 - I / (I + a FP + b FN + eps)), formed in the input's dtype: an empty foreground (y = p = 0 "
        "over the axes) costs 1 (math 0/0 = NaN; a numerator-and-denominator smooth s gives 0), and every "
        "ratio is pulled down by a relative eps / denominator.", detail, source, versions)


def tversky_weights_swapped(*, source: str, versions: str, applies_to: Iterable[str] = ("tversky",),
                            detail: str = "") -> Flag:
    """``alpha`` multiplies the false negatives ``sum(y (1 - p))`` and ``beta`` the false positives ``sum((1 - y)
    p)``: the opposite of Tversky / Salehi et al. (alpha on FP)."""
    return _flag(
        "tversky_weights_swapped", True, applies_to,
        "alpha weighs the false negatives sum(y_true (1 - y_pred)) and beta the false positives "
        "sum((1 - y_true) y_pred), the reverse of Salehi et al.'s alpha |P \\ G| + beta |G \\ P|: tversky(alpha=a, "
        "beta=b) here is the mathematics' tversky(alpha=b, beta=a) (the same only when a = b).", detail, source,
        versions)


# ----------------------------------------------------------------------------------------------------
# The generalised Dice loss (Sudre et al. 2017): class weights w_c = 1 / (sum_i y_ic)^2 and one ratio of
# class-weighted sums.  An absent class (sum_i y_ic = 0) has an infinite weight: the mathematics is NaN.


def generalized_dice_weight_epsilon(eps: float, *, source: str, versions: str,
                                    applies_to: Iterable[str] = ("generalized_dice",), detail: str = "") -> Flag:
    """The class weights are ``1 / (count_c^2 + eps)`` (``eps`` formed in the input's dtype): an absent class
    gets the weight ``1 / eps`` instead of ``1 / 0``."""
    eps = _epsilon("generalized_dice_weight_epsilon", eps)
    return _flag(
        "generalized_dice_weight_epsilon", eps, applies_to,
        f"w_c = 1 / (count_c^2 + eps), eps = {eps!r} (in the input's dtype): a class absent from the mask weighs "
        "1 / eps (math: 1 / 0, and the loss is NaN); a present class's weight moves by a relative eps / count^2.",
        detail, source, versions)


def generalized_dice_class_mean(*, source: str, versions: str, applies_to: Iterable[str] = ("generalized_dice",),
                                detail: str = "") -> Flag:
    """Not one ratio of class-weighted sums but a weighted MEAN of per-class smoothed Dice losses: the weights
    counted over the whole batch (every axis but the classes), normalised to mean 1 over all the classes."""
    return _flag(
        "generalized_dice_class_mean", True, applies_to,
        "loss = mean over the kept classes of w~_c (1 - (2 I_c + 2s) / (T_c + P_c + 2s)), the per-class Dice summed "
        "over the axes the loss sums (the classes aside), w~_c = K w_c / sum_k w_k over all K classes with the "
        "counts taken over the whole batch (every axis but the last), where Sudre et al. take 1 - (2 sum_c w_c I_c "
        "+ 2s) / (sum_c w_c (T_c + P_c) + 2s) with each segmentation's own counts; ignore_background drops class "
        "0's term after the normalisation (the mean runs over K - 1 classes).  On a balanced 4-pixel, 2-class "
        "segmentation with smooth=1: 0.20346779 where Sudre's formula (smooth=0) gives 0.30477659.",
        detail, source, versions)
