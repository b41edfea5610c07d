"""The PyTorch adapter: reference losses onto ``torch.nn.functional`` and the ``torch.nn`` loss modules.

What this adapter translates, and nothing more:

* **layout** - torch puts the class axis on dim 1 (``cross_entropy``, ``nll_loss``): for inputs of rank
  > 2 (or a reference ``axis`` other than the last) the class axis is moved there with ``movedim``; the
  output then has the reference's per-sample layout.  The gradient is taken w.r.t. the tensor *before*
  the move, so it is shaped like the case's input.
* **argument order** - torch takes ``(input=prediction, target=truth)``; ``kl_div`` takes
  ``input=log q, target=p``.
* **log space** - ``kl_div``'s ``input`` is documented as log-probabilities, so the adapter passes
  ``torch.log(q)`` computed in the call's dtype on the call's device (the gradient flows through it);
  ``ctc_loss``'s ``log_probs`` likewise get ``torch.log_softmax(logits, -1)``, moved to (time, batch, classes).
* **dtype and device** - float inputs become tensors of the call's dtype on ``cpu`` or ``cuda``
  (the suite's ``"gpu"``); integer ``labels`` become ``int64`` (what torch requires for class indices);
  float-typed ``labels`` stay float so torch's own reaction to them is observed.

The framework is imported lazily, so ``import adapters.torch`` works without torch installed.
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

from .protocol import Binding, Call, Deviation, Outcome, describe, lookup, timed

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
CONVENTION = "torch"

# ---------------------------------------------------------------------------------------------------------
# The "torch" convention: how torch.nn.functional departs from the mathematics, as flags the reference
# reproduces (read and measured with torch 2.13.0 on CPU; numbers in docs/conventions.md).
_TORCH = "torch 2.13.0"
_FUNCTIONAL_SRC = f"torch/nn/functional.py ({_TORCH})"

TORCH = Convention(
    "torch", "PyTorch torch.nn.functional losses.", [
        C.bce_log_clamp(
            -100.0, source=f"torch/_decomp/decompositions.py binary_cross_entropy ({_TORCH}); aten Loss.cpp",
            versions=">=1.0", detail="(F.binary_cross_entropy.)"),
        C.bce_grad_epsilon(
            float.fromhex("0x1.1979980000000p-40"),
            source=f"binary_cross_entropy_backward in torch/_decomp/decompositions.py ({_TORCH}); measured in "
                   "float64", versions=">=1.0",
            detail="F.binary_cross_entropy's backward holds EPSILON = 1e-12 as a float32 constant "
                   "(9.999999960041972e-13) even for float64."),
        C.ignore_index(
            -100, source=f"torch/nn/functional.py cross_entropy / nll_loss ({_TORCH})", versions=">=1.0",
            detail="(-100 is the ignore_index default of F.cross_entropy / F.nll_loss.)"),
        C.zero_times_inf_nan(
            ("categorical_crossentropy", "kl_divergence"),
            source=f"torch/nn/functional.py cross_entropy, kl_div ({_TORCH})", versions=">=1.10",
            detail="F.cross_entropy with probability targets forms 0 * -inf; F.kl_div(log q, p) = "
                   "xlogy(p, p) - p * log q forms it where p = q = 0."),
        C.hinge_kink_grad(
            1.0, applies_to=("hinge_embedding_loss", "margin_ranking_loss", "triplet_margin_loss",
                             "cosine_embedding_loss"),
            source=f"aten/src/ATen/native/Loss.cpp hinge_embedding_loss, margin_ranking_loss, triplet_margin_loss "
                   f"({_TORCH}): clamp_min_(0) / clamp_min(margin + dist_pos - dist_neg, 0), whose backward passes "
                   "the gradient where the input >= 0; measured", versions=">=1.0",
            detail="At margin - x == 0 (hinge_embedding_loss, y = -1) or -y (x1 - x2) + margin == 0 "
                   "(margin_ranking_loss) torch passes the whole gradient: -1/K and y/K, math 0.  Found by the "
                   "fuzzer: y = -1, x = 1 (margin 1), float16.  triplet_margin_loss at margin + d(a, p) - d(a, n) "
                   "= 0 (a = [0, 0], p = [0.5, 0], n = [1.5, 0] in float16): d/dn = [-1, 0], math 0."),
        C.distance_difference_epsilon(
            1e-6, source=f"triplet_margin_loss in {_FUNCTIONAL_SRC} -> torch.triplet_margin_loss (aten Loss.cpp: "
                         "at::pairwise_distance(anchor, positive, p, eps)); nn.PairwiseDistance docstring "
                         f"'dist(x, y) = ||x - y + eps e||_p' (torch/nn/modules/distance.py, {_TORCH}); measured",
            versions=">=1.0",
            detail="eps=1e-6 (F.triplet_margin_loss's default): anchor == positive gives d(a, p) = 1e-6 sqrt(D) "
                   "and d/da = 1/sqrt(D) per element (measured, D = 5: 0.4472), math 0; on a random float64 batch "
                   "(4 x 5) the loss moves by up to 2.2e-6 (0.36571409 vs 0.36571184)."),
        C.poisson_log_epsilon(
            1e-8, source=f"poisson_nll_loss in torch/nn/functional.py ({_TORCH})", versions=">=1.0",
            detail="F.poisson_nll_loss(log_input=False) computes input - target * log(input + eps), eps=1e-8."),
        C.class_weight_mean_divides_by_weight_sum(
            source=f"torch/nn/functional.py cross_entropy / nll_loss docstrings and aten/src/ATen/native/LossNLL.cpp "
                   f"nll_loss_forward (total_weight) ({_TORCH}); measured", versions=">=1.0",
            detail="F.cross_entropy / F.nll_loss(weight=w, reduction='mean') with class-index targets divide by "
                   "sum_s w[target_s]; with class-probability targets F.cross_entropy divides by N (no flag on "
                   "categorical_crossentropy): the same call, two denominators."),
        C.weight_mean_divides_by_weight_sum(
            source=f"torch/nn/functional.py mse_loss, l1_loss (weight=, added in 2.13: 'torch.sum(weighted_...) / "
                   f"torch.sum(weight)') ({_TORCH})", versions=">=2.13",
            detail="F.huber_loss(weight=) divides by the element count instead (weighted_loss.mean()): no flag on "
                   "huber; binary_cross_entropy(_with_logits)(weight=) by the count as well."),
        C.target_shape_alignment(
            "broadcast", applies_to=("mean_squared_error",),
            source=f"mse_loss in torch/nn/functional.py ({_TORCH}): torch.broadcast_tensors(input, target) after a UserWarning; "
                   f"measured", versions=">=1.0",
            detail="F.mse_loss warns 'Using a target size ... different to the input size' and broadcasts: "
                   "reduction='none' returns 16 values for 4 samples; F.binary_cross_entropy(_with_logits) raise "
                   "ValueError on the same shapes (no flag there)."),
        C.cosine_norm_floor(
            1e-8, source=f"cosine_similarity in aten/src/ATen/native/Distance.cpp ({_TORCH}; eps=1e-8 default in "
                         "torch/nn/functional.py); measured", versions=">=1.12", applies_to=("cosine_similarity",),
            detail="Each norm is clamp_min_(eps)'d under a NoGradGuard, so autograd differentiates the unclamped "
                   "norm (measured: the gradient at a vector of norm 2.4e-9 keeps the -(x.y) x/|x| term)."),
        C.cosine_squared_norm_epsilon(
            float.fromhex("0x1.1979980000000p-40"),
            source=f"cosine_embedding_loss in aten/src/ATen/native/Loss.cpp ({_TORCH}); measured in float64",
            versions=">=1.0", applies_to=("cosine_distance", "cosine_embedding_loss"),
            detail="EPSILON = 1e-12 held as a float32 constant (9.999999960041972e-13, as in the BCE backward): "
                   "mag_square = (x * x).sum(1) + EPSILON for each input, cos = prod_sum / sqrt(mag_square1 * "
                   "mag_square2); the float64 1e-12 is 5.3e-13 off at a vector of norm 2.4e-9 "
                   "(F.cosine_similarity clamps the norms at 1e-8 instead)."),
        C.bce_logits_formula(
            "torch", source=f"binary_cross_entropy_with_logits in torch/_decomp/decompositions.py ({_TORCH})",
            versions=">=1.0",
            detail="F.binary_cross_entropy_with_logits computes (1 - y) x - logsigmoid(x): NaN at x=-inf (any y) "
                   "and at (x=+inf, y=1)."),
        C.mean_divides_by_target_length(
            source=f"ctc_loss in {_FUNCTIONAL_SRC} and nn.CTCLoss in torch/nn/modules/loss.py (docstrings: \"'mean': "
                   f"the output losses will be divided by the target lengths and then the mean over the batch is "
                   f"taken\"); aten/src/ATen/native/LossCTC.cpp ctc_loss (target_lengths.clamp_min(1)); measured",
            versions=">=1.0",
            detail="An empty target divides by 1 (clamp_min(1)). On edge.ctc.mean-per-target-length (targets of 4 "
                   "labels and 1) F.ctc_loss(reduction='mean') is 1.8755 where the mean of the per-sequence losses "
                   "(optax's ctc_loss averaged, Keras's CTC class) is 4.2077: 55% lower."),
        C.variance_floor(
            1e-6, source=f"gaussian_nll_loss in {_FUNCTIONAL_SRC}", versions=">=1.8",
            detail="var = var.clone(); with torch.no_grad(): var.clamp_(min=eps), eps=1e-6: the clamp is invisible to "
                   "autograd, so d/dvar below eps is that of the clamped value (0.5 (1/v - e^2/v^2) at v = 1e-6: "
                   "-1.25e11 for e = 0.5), not 0."),
    ], {
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
    })

# F.multilabel_soft_margin_loss is binary cross entropy from logits averaged over the classes, written in
# Python as -(y logsigmoid(x) + (1 - y) logsigmoid(-x)): the NaN pattern of that formula, not of
# F.binary_cross_entropy_with_logits.
TORCH_MULTILABEL = Convention(
    "torch_multilabel", "torch.nn.functional.multilabel_soft_margin_loss.",
    [flag for name, flag in TORCH.flags.items() if name != "bce_logits_formula"] + [
        C.bce_logits_formula(
            "optax", source=f"multilabel_soft_margin_loss in {_FUNCTIONAL_SRC}", versions=">=1.0",
            detail="loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input)), summed over the "
                   "class dim and divided by C: NaN at (x=-inf, y=0) and (x=+inf, y=1), like optax's formula.")],
    {"mean_over_classes": "returns one loss per sample: the class-weighted sum divided by C (the class count), "
                          "whatever the weights sum to: loss = loss * weight; loss.sum(dim=class_dim) / C "
                          f"(multilabel_soft_margin_loss in {_FUNCTIONAL_SRC}); F.cross_entropy(weight=) divides its "
                          "mean by the weights of the targets instead."})

# torch.distributions.Categorical(probs=p): normalises p and takes logits = log(clamp_probs(p)).
_DISTRIBUTIONS_SRC = f"torch/distributions/categorical.py, utils.py ({_TORCH})"
TORCH_DISTRIBUTIONS = Convention(
    "torch_distributions", "torch.distributions.Categorical(probs=...).entropy().",
    [flag for flag in TORCH.flags.values()] + [
        C.distribution_renormalize(
            source=f"Categorical.__init__ in {_DISTRIBUTIONS_SRC}", versions=">=1.0",
            detail="self.probs = probs / probs.sum(-1, keepdim=True) (no error for a row that does not sum to 1 "
                   "with the default validate_args)."),
        C.log_clamp_machine_eps(
            source=f"Categorical.logits = probs_to_logits(probs) = log(clamp_probs(probs)) in {_DISTRIBUTIONS_SRC}",
            versions=">=1.0",
            detail="clamp_probs: eps = torch.finfo(probs.dtype).eps; probs.clamp(min=eps, max=1 - eps); entropy = "
                   "-(clamp(logits, min=finfo.min) * probs).sum(-1)."),
    ],
    {"units": "nats (natural log); information-theory texts print bits: divide by log 2 (reference.entropy(p, "
              "base=2)).",
     "entr": "torch.special.entr(x) = -x log x elementwise (0 at 0, -inf for x < 0) is the mathematics: the 'torch' "
             "convention, no clamp, no normalisation."})

# What this adapter declares (``ADAPTER.conventions``): bindings name "torch", multilabel_soft_margin_loss
# "torch_multilabel", Categorical.entropy "torch_distributions".
CONVENTIONS: Mapping[str, Convention] = MappingProxyType({
    TORCH.name: TORCH, TORCH_MULTILABEL.name: TORCH_MULTILABEL, TORCH_DISTRIBUTIONS.name: TORCH_DISTRIBUTIONS})

_ELEMENT_FORMS = ("function:none", "function:sum", "function:mean", "module:mean", "module:sum")
_KL_FORMS = _ELEMENT_FORMS + ("function:batchmean", "module:batchmean")
_SAMPLE_FORMS = _ELEMENT_FORMS
_ACTIVATION_FORMS = ("function:none",)

_FUNCTIONAL = "torch/nn/functional.py"


@functools.lru_cache(maxsize=1)
def _load():
    """``(torch, None)`` or ``(None, reason)``; cached so a missing torch costs one import attempt."""
    try:
        import torch  # noqa: PLC0415 - lazy on purpose
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip", with the reason
        return None, f"torch is not installed: {describe(exc)}"
    return torch, None


def _torch():
    torch, reason = _load()
    if torch is None:
        raise RuntimeError(reason)
    return torch


@dataclass(frozen=True)
class TorchBinding(Binding):
    """A :class:`Binding` that keeps out-of-range labels off the GPU.

    ``function_only``: inputs only the functional form takes (``F.mse_loss(weight=)`` exists since torch 2.13;
    ``nn.MSELoss`` / ``nn.L1Loss`` / ``nn.HuberLoss`` take no weight).
    """

    function_only: tuple[str, ...] = ()

    def accepts(self, call: Call) -> bool:
        if not super().accepts(call):
            return False
        if call.api != "function" and any(name in call.inputs for name in self.function_only):
            return False
        # On CUDA an out-of-range class index is a device-side assert that poisons the CUDA context for
        # the rest of the process (every later GPU check would error); such cells are not run on "gpu".
        return call.device != "gpu" or _labels_in_range(call)


# --------------------------------------------------------------------------------------------- calls
# Each call maps the named tensors (named like the reference function's parameters) and the reference
# keyword arguments onto one torch call.  ``api`` is "function" or "module", ``reduction`` torch's own.

def _apply(torch, api: str, reduction: str, function: str, module: str, positional, **kwargs):
    label = f"torch {torch.__version__}"
    if api == "function":
        return lookup(torch.nn.functional, function, label=label)(*positional, reduction=reduction, **kwargs)
    if api == "module":
        loss = lookup(torch.nn, module, label=label)(reduction=reduction, **kwargs)
        return loss(*positional)
    raise ValueError(f"unknown api {api!r}")


def _class_axis_to_dim1(tensor, axis: int):
    """torch's class axis is dim 1 for batched input (dim 0 when unbatched)."""
    if tensor.dim() < 2:
        return tensor
    return tensor.movedim(axis, 1)


def _weights(t, *names) -> dict:
    """The weight tensors of the call (``class_weight`` is torch's ``weight=`` of the class losses), by torch's
    keyword; absent ones are not passed (a module or an older function may not take them)."""
    return {("weight" if name == "class_weight" else name): t[name] for name in names if name in t}


def _mse(torch, t, args, api, red):
    return _apply(torch, api, red, "mse_loss", "MSELoss", (t["y_pred"], t["y_true"]), **_weights(t, "weight"))


def _mae(torch, t, args, api, red):
    return _apply(torch, api, red, "l1_loss", "L1Loss", (t["y_pred"], t["y_true"]), **_weights(t, "weight"))


def _huber(torch, t, args, api, red):
    return _apply(torch, api, red, "huber_loss", "HuberLoss", (t["y_pred"], t["y_true"]),
                  delta=float(args.get("delta", 1.0)), **_weights(t, "weight"))


def _smooth_l1(torch, t, args, api, red):
    return _apply(torch, api, red, "smooth_l1_loss", "SmoothL1Loss", (t["y_pred"], t["y_true"]),
                  beta=float(args.get("beta", 1.0)))


def _categorical(torch, t, args, api, red):
    axis = int(args.get("axis", -1))
    logits = _class_axis_to_dim1(t["y_pred"], axis)
    target = _class_axis_to_dim1(t["y_true"], axis)
    return _apply(torch, api, red, "cross_entropy", "CrossEntropyLoss", (logits, target),
                  label_smoothing=float(args.get("label_smoothing", 0.0)), **_weights(t, "class_weight"))


def _sparse(torch, t, args, api, red):
    axis = int(args.get("axis", -1))
    logits = _class_axis_to_dim1(t["y_pred"], axis)
    return _apply(torch, api, red, "cross_entropy", "CrossEntropyLoss", (logits, t["labels"]),
                  label_smoothing=float(args.get("label_smoothing", 0.0)), **_weights(t, "class_weight"))


def _nll(torch, t, args, api, red):
    axis = int(args.get("axis", -1))
    log_probs = _class_axis_to_dim1(t["log_probs"], axis)
    return _apply(torch, api, red, "nll_loss", "NLLLoss", (log_probs, t["labels"]), **_weights(t, "class_weight"))


def _binary(torch, t, args, api, red):
    if args.get("from_logits", False):
        return _apply(torch, api, red, "binary_cross_entropy_with_logits", "BCEWithLogitsLoss",
                      (t["y_pred"], t["y_true"]), **_weights(t, "weight", "pos_weight"))
    return _apply(torch, api, red, "binary_cross_entropy", "BCELoss", (t["y_pred"], t["y_true"]),
                  **_weights(t, "weight"))


def _kl(torch, t, args, api, red):
    # kl_div's input is documented as log-probabilities: the log is taken by torch, in the call's dtype.
    # With log_target=True the reference's p already holds log-probabilities: passed as they are.
    return _apply(torch, api, red, "kl_div", "KLDivLoss", (torch.log(t["q"]), t["p"]),
                  log_target=bool(args.get("log_target", False)))


def _poisson(torch, t, args, api, red):
    # log_input is passed explicitly: torch's default (True, log-rates) is not the reference's (False).
    return _apply(torch, api, red, "poisson_nll_loss", "PoissonNLLLoss", (t["y_pred"], t["y_true"]),
                  log_input=bool(args.get("log_input", False)), full=bool(args.get("full", False)))


def _multilabel(torch, t, args, api, red):
    api = "function" if api == "multilabel" else "module"
    return _apply(torch, api, red, "multilabel_soft_margin_loss", "MultiLabelSoftMarginLoss", (t["y_pred"], t["y_true"]),
                  **_weights(t, "weight"))


def _soft_margin(torch, t, args, api, red):
    return _apply(torch, api, red, "soft_margin_loss", "SoftMarginLoss", (t["y_pred"], t["y_true"]))


def _hinge_embedding(torch, t, args, api, red):
    return _apply(torch, api, red, "hinge_embedding_loss", "HingeEmbeddingLoss", (t["y_pred"], t["y_true"]),
                  margin=float(args.get("margin", 1.0)))


def _margin_ranking(torch, t, args, api, red):
    return _apply(torch, api, red, "margin_ranking_loss", "MarginRankingLoss", (t["x1"], t["x2"], t["y_true"]),
                  margin=float(args.get("margin", 0.0)))


def _multi_margin(torch, t, args, api, red):
    # torch takes (N, C) or (C,): a batch of higher rank is flattened to rows and its losses reshaped back.
    axis = int(args.get("axis", -1))
    x = t["y_pred"].movedim(axis, -1)
    batch = x.shape[:-1]
    rows = x.reshape(-1, x.shape[-1]) if x.dim() > 2 else x
    labels = t["labels"].reshape(-1) if x.dim() > 2 else t["labels"]
    out = _apply(torch, api, red, "multi_margin_loss", "MultiMarginLoss", (rows, labels),
                 p=int(args.get("p", 1)), margin=float(args.get("margin", 1.0)), **_weights(t, "class_weight"))
    return out.reshape(batch) if red == "none" and x.dim() > 2 else out


def _triplet(torch, t, args, api, red):
    # torch takes the distance over the last dim: the embedding axis is moved there (layout).
    axis = int(args.get("axis", -1))
    a, p, n = (t[name].movedim(axis, -1) for name in ("anchor", "positive", "negative"))
    return _apply(torch, api, red, "triplet_margin_loss", "TripletMarginLoss", (a, p, n),
                  margin=float(args.get("margin", 1.0)), p=float(args.get("p", 2)), swap=bool(args.get("swap", False)))


def _gaussian_nll(torch, t, args, api, red):
    return _apply(torch, api, red, "gaussian_nll_loss", "GaussianNLLLoss", (t["y_pred"], t["y_true"], t["var"]),
                  full=bool(args.get("full", False)))


def _categorical_entropy(torch, t, args, api, red):
    axis = int(args.get("axis", -1))
    return torch.distributions.Categorical(probs=t["p"].movedim(axis, -1)).entropy()


def _entr(torch, t, args, api, red):
    return torch.special.entr(t["p"])
def _cosine_similarity(torch, t, args, api, red):
    dim = int(args.get("axis", -1))
    if api == "function":
        return torch.nn.functional.cosine_similarity(t["y_pred"], t["y_true"], dim=dim)
    if api == "module":
        return torch.nn.CosineSimilarity(dim=dim)(t["y_pred"], t["y_true"])
    raise ValueError(f"unknown api {api!r}")


def _cosine_distance(torch, t, args, api, red):
    # cosine_embedding_loss takes (N, D) or (D,) inputs only and a target of +1 (1 - cos) or -1 per sample: the
    # vector axis goes last and the batch axes are flattened into N (layout), and the target is +1 everywhere.
    axis = int(args.get("axis", -1))
    x1, x2 = (t[name].movedim(axis, -1) for name in ("y_pred", "y_true"))
    batch = x1.shape[:-1]
    if x1.dim() > 2:
        x1, x2 = x1.reshape(-1, x1.shape[-1]), x2.reshape(-1, x2.shape[-1])
    target = torch.ones(x1.shape[:-1], dtype=x1.dtype, device=x1.device)
    out = _apply(torch, api, red, "cosine_embedding_loss", "CosineEmbeddingLoss", (x1, x2, target))
    return out.reshape(batch) if red == "none" else out


def _cosine_embedding(torch, t, args, api, red):
    # (N, D) inputs and an (N,) target only: the vector axis goes last, the batch axes are flattened into N and
    # the target's kept axis of size 1 is dropped (layout); the output is reshaped back.
    axis = int(args.get("axis", -1))
    x1, x2, y = (t[name].movedim(axis, -1) for name in ("x1", "x2", "y_true"))
    batch = x2.shape[:-1]
    y = y.expand(*batch, 1)[..., 0]
    if x2.dim() > 2:
        x1, x2, y = x1.reshape(-1, x1.shape[-1]), x2.reshape(-1, x2.shape[-1]), y.reshape(-1)
    out = _apply(torch, api, red, "cosine_embedding_loss", "CosineEmbeddingLoss", (x1, x2, y),
                 margin=float(args.get("margin", 0.0)))
    return out.reshape(batch) if red == "none" else out
def _ctc(torch, t, args, api, red):
    # ctc_loss takes log-probabilities laid out (time, batch, classes): the log_softmax over the classes is taken
    # by torch in the call's dtype (the gradient flows through it to the logits), then the layout is moved.
    log_probs = torch.log_softmax(t["logits"], dim=-1).transpose(0, 1)
    return _apply(torch, api, red, "ctc_loss", "CTCLoss", (log_probs, t["labels"], t["logit_lengths"],
                                                              t["label_lengths"]),
                  blank=int(args.get("blank", 0)), zero_infinity=bool(args.get("zero_infinity", False)))


def _softmax(torch, t, args, api, red):
    return torch.nn.functional.softmax(t["z"], dim=int(args.get("axis", -1)))


def _log_softmax(torch, t, args, api, red):
    return torch.nn.functional.log_softmax(t["z"], dim=int(args.get("axis", -1)))


def _sigmoid(torch, t, args, api, red):
    return torch.sigmoid(t["z"])


_CALLS: dict[str, Callable[..., Any]] = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "huber": _huber,
    "smooth_l1": _smooth_l1,
    "categorical_crossentropy": _categorical,
    "sparse_categorical_crossentropy": _sparse,
    "nll": _nll,
    "binary_crossentropy": _binary,
    "kl_divergence": _kl,
    "poisson": _poisson,
    "binary_crossentropy@multilabel_soft_margin": _multilabel,
    "soft_margin_loss": _soft_margin,
    "hinge_embedding_loss": _hinge_embedding,
    "margin_ranking_loss": _margin_ranking,
    "multi_margin_loss": _multi_margin,
    "gaussian_nll_loss": _gaussian_nll,
    "triplet_margin_loss": _triplet,
    "entropy": _categorical_entropy,
    "entropy@entr": _entr,
    "cosine_similarity": _cosine_similarity,
    "cosine_distance": _cosine_distance,
    "cosine_embedding_loss": _cosine_embedding,
    "ctc_loss": _ctc,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sigmoid": _sigmoid,
}

BINDINGS: dict[str, Binding] = {
    "mean_squared_error": TorchBinding(
        "mean_squared_error", "torch.nn.functional.mse_loss(input=y_pred, target=y_true) / nn.MSELoss",
        _ELEMENT_FORMS, CONVENTION, granularity="element", args=("weight",), function_only=("weight",),
        differentiable=("y_true",)),
    "mean_absolute_error": TorchBinding(
        "mean_absolute_error", "torch.nn.functional.l1_loss(input=y_pred, target=y_true, weight=weight) / "
        "nn.L1Loss", _ELEMENT_FORMS, CONVENTION, granularity="element", args=("weight",),
        function_only=("weight",), differentiable=("y_true",)),
    "huber": TorchBinding(
        "huber", "torch.nn.functional.huber_loss(input=y_pred, target=y_true, delta=delta, weight=weight) / "
        "nn.HuberLoss", _ELEMENT_FORMS, CONVENTION, granularity="element", args=("delta", "weight"),
        function_only=("weight",), differentiable=("y_true",)),
    "smooth_l1": TorchBinding(
        "smooth_l1", "torch.nn.functional.smooth_l1_loss(input=y_pred, target=y_true, beta=beta) / "
        "nn.SmoothL1Loss", _ELEMENT_FORMS, CONVENTION, granularity="element", args=("beta",),
        differentiable=("y_true",)),
    "categorical_crossentropy": TorchBinding(
        "categorical_crossentropy",
        "torch.nn.functional.cross_entropy(input=y_pred (logits, class axis moved to dim 1), "
        "target=y_true (class probabilities), label_smoothing=label_smoothing, weight=class_weight) / "
        "nn.CrossEntropyLoss; from_logits=True only (torch has no public cross-entropy on probabilities)",
        _SAMPLE_FORMS, CONVENTION, granularity="sample", args=("from_logits", "label_smoothing", "class_weight"),
        requires={"from_logits": True}, differentiable=("y_true",)),
    "sparse_categorical_crossentropy": TorchBinding(
        "sparse_categorical_crossentropy",
        "torch.nn.functional.cross_entropy(input=y_pred (logits, class axis moved to dim 1), "
        "target=labels (int64 class indices), label_smoothing=label_smoothing, weight=class_weight) / "
        "nn.CrossEntropyLoss; from_logits=True only",
        _SAMPLE_FORMS, CONVENTION, granularity="sample", args=("from_logits", "label_smoothing", "class_weight"),
        requires={"from_logits": True}),
    "nll": TorchBinding(
        "nll", "torch.nn.functional.nll_loss(input=log_probs (class axis moved to dim 1), "
        "target=labels (int64), weight=class_weight) / nn.NLLLoss",
        _SAMPLE_FORMS, CONVENTION, granularity="sample", grad_wrt="log_probs", args=("class_weight",)),
    "binary_crossentropy": TorchBinding(
        "binary_crossentropy",
        "from_logits=False: torch.nn.functional.binary_cross_entropy(input=y_pred, target=y_true, weight=weight) "
        "/ nn.BCELoss; from_logits=True: torch.nn.functional.binary_cross_entropy_with_logits("
        "input=y_pred, target=y_true, weight=weight, pos_weight=pos_weight) / nn.BCEWithLogitsLoss (no "
        "label_smoothing in torch)",
        _ELEMENT_FORMS, CONVENTION, granularity="element", args=("from_logits", "weight", "pos_weight"),
        differentiable=("y_true",)),
    "kl_divergence": TorchBinding(
        "kl_divergence",
        "torch.nn.functional.kl_div(input=torch.log(q) (log-space input, taken in torch in the call's "
        "dtype), target=p (log-probabilities when log_target=True), log_target=log_target) / nn.KLDivLoss",
        _KL_FORMS, CONVENTION, granularity="element", grad_wrt="q", args=("log_target",), differentiable=("p",)),
    "poisson": TorchBinding(
        "poisson", "torch.nn.functional.poisson_nll_loss(input=y_pred, target=y_true, log_input=log_input, "
        "full=full) / nn.PoissonNLLLoss", _ELEMENT_FORMS, CONVENTION, granularity="element",
        args=("log_input", "full")),
    "binary_crossentropy@multilabel_soft_margin": TorchBinding(
        "binary_crossentropy",
        "torch.nn.functional.multilabel_soft_margin_loss(input=y_pred (logits), target=y_true, weight=weight) / "
        "nn.MultiLabelSoftMarginLoss(weight=weight): from_logits=True, one loss per sample: sum_c w_c l_c / C, "
        "divided by the class count C whatever the weights sum to ('mean' then divides by N).  torch documents "
        "weight as 'a Tensor of size C'; the implementation multiplies the elementwise losses by it (loss * weight), "
        "so a weight per element, as the reference's weight is, broadcasts as well",
        ("multilabel:none", "multilabel:mean", "multilabel:sum", "multilabel_module:mean", "multilabel_module:sum"),
        "torch_multilabel", granularity="sample", args=("from_logits", "weight"), requires={"from_logits": True}),
    "soft_margin_loss": TorchBinding(
        "soft_margin_loss", "torch.nn.functional.soft_margin_loss(input=y_pred, target=y_true) / nn.SoftMarginLoss",
        _ELEMENT_FORMS, CONVENTION, granularity="element"),
    "hinge_embedding_loss": TorchBinding(
        "hinge_embedding_loss", "torch.nn.functional.hinge_embedding_loss(input=y_pred, target=y_true, "
        "margin=margin) / nn.HingeEmbeddingLoss", _ELEMENT_FORMS, CONVENTION, granularity="element",
        args=("margin",)),
    "margin_ranking_loss": TorchBinding(
        "margin_ranking_loss", "torch.nn.functional.margin_ranking_loss(input1=x1, input2=x2, target=y_true, "
        "margin=margin) / nn.MarginRankingLoss", _ELEMENT_FORMS, CONVENTION, granularity="element",
        args=("margin",), grad_wrt="x2"),
    "multi_margin_loss": TorchBinding(
        "multi_margin_loss", "torch.nn.functional.multi_margin_loss(input=y_pred (class axis last, rows of a "
        "higher-rank batch flattened), target=labels (int64), p=p, margin=margin, weight=class_weight) / "
        "nn.MultiMarginLoss(weight=class_weight): w[y] * sum_i max(0, margin - x[y] + x[i])^p / C, the weight outside "
        "the power; 'mean' divides by N, not by sum w[y] as F.cross_entropy(weight=) does; "
        "float32/float64 only (the CPU kernel raises NotImplementedError 'multi_margin_loss_cpu_kernel not implemented "
        "for Half / BFloat16')",
        _SAMPLE_FORMS, CONVENTION, granularity="sample", args=("p", "margin", "class_weight"),
        dtypes=("float32", "float64")),
    "gaussian_nll_loss": TorchBinding(
        "gaussian_nll_loss", "torch.nn.functional.gaussian_nll_loss(input=y_pred, target=y_true, var=var, full=full) "
        "/ nn.GaussianNLLLoss (eps=1e-6)", _ELEMENT_FORMS, CONVENTION, granularity="element", args=("full",),
        grad_wrt="y_pred"),
    "triplet_margin_loss": TorchBinding(
        "triplet_margin_loss", "torch.nn.functional.triplet_margin_loss(anchor, positive, negative (embedding axis "
        "moved last), margin=margin, p=p, eps=1e-6 (default), swap=swap) / nn.TripletMarginLoss; gradients with "
        "respect to all three; margin <= 0 raises ValueError", _SAMPLE_FORMS, CONVENTION, granularity="sample",
        args=("margin", "p", "swap"), grad_wrt="negative", differentiable=("anchor", "positive")),
    "entropy": TorchBinding(
        "entropy", "torch.distributions.Categorical(probs=p (class axis last)).entropy() (nats; no base)",
        ("distribution:none",), "torch_distributions", granularity="sample", grad_wrt="p"),
    "entropy@entr": TorchBinding(
        "entropy", "torch.special.entr(p) = -p log p elementwise (nats; no base)", ("special:none",), CONVENTION,
        granularity="element", grad_wrt="p"),
    "cosine_similarity": TorchBinding(
        "cosine_similarity", "torch.nn.functional.cosine_similarity(x1=y_pred, x2=y_true, dim=axis) / "
        "nn.CosineSimilarity(dim=axis) (no reduction argument)", ("function:none", "module:none"), CONVENTION,
        granularity="sample"),
    "cosine_distance": TorchBinding(
        "cosine_distance", "torch.nn.functional.cosine_embedding_loss(input1=y_pred, input2=y_true, target=+1 per "
        "sample) / nn.CosineEmbeddingLoss: 1 - cos (target -1: binding cosine_embedding_loss); (N, D) "
        "inputs only, so the batch axes are flattened", _SAMPLE_FORMS, CONVENTION, granularity="sample"),
    "cosine_embedding_loss": TorchBinding(
        "cosine_embedding_loss", "torch.nn.functional.cosine_embedding_loss(input1=x1, input2=x2, target=y_true "
        "(one +-1 per pair), margin=margin) / nn.CosineEmbeddingLoss; (N, D) inputs only, so the batch axes are "
        "flattened; gradients with respect to x1 and x2", _SAMPLE_FORMS, CONVENTION, granularity="sample",
        args=("margin",), grad_wrt="x2", differentiable=("x1",)),
    "ctc_loss": TorchBinding(
        "ctc_loss", "torch.nn.functional.ctc_loss(log_probs=torch.log_softmax(logits, -1).transpose(0, 1) (log-space "
        "input laid out (T, N, C), taken in torch in the call's dtype), targets=labels, input_lengths=logit_lengths, "
        "target_lengths=label_lengths, blank=blank, zero_infinity=zero_infinity) / nn.CTCLoss; float32 and float64 "
        "only (the CPU kernel is not implemented for float16 / bfloat16)",
        _SAMPLE_FORMS, CONVENTION, granularity="sample", grad_wrt="logits", args=("blank", "zero_infinity"),
        dtypes=("float32", "float64")),
    "softmax": TorchBinding("softmax", "torch.nn.functional.softmax(z, dim=axis)", _ACTIVATION_FORMS,
                            CONVENTION, granularity="sample", grad_wrt="z"),
    "log_softmax": TorchBinding("log_softmax", "torch.nn.functional.log_softmax(z, dim=axis)",
                                _ACTIVATION_FORMS, CONVENTION, granularity="sample", grad_wrt="z"),
    "sigmoid": TorchBinding("sigmoid", "torch.sigmoid(z)", _ACTIVATION_FORMS, CONVENTION,
                            granularity="sample", grad_wrt="z"),
}


_BY_FORM: dict[tuple[str, str], str] = {(b.loss, form): key for key, b in BINDINGS.items() for form in b.forms}
assert len(_BY_FORM) == sum(len(b.forms) for b in BINDINGS.values()), "two torch bindings share a loss and form"

# Measured against reference/ under the "torch" convention with torch 2.13.0+cpu (CPU only: no GPU was
# available when these were measured; the selectors leave the device open).
TORCH_VERSIONS = ">=2.13,<2.14"
_ATEN_LOSS = ("torch/nn/functional.py binary_cross_entropy -> torch._C._nn.binary_cross_entropy "
              "(aten/src/ATen/native/Loss.cpp binary_cross_entropy_out_cpu; torch 2.13.0)")

DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        name="float16_smoothing_sum_overflow",
        summary="F.cross_entropy(label_smoothing=e, reduction='sum') adds the unscaled smoothing term -sum log q over "
                "every class of every sample in float16 before multiplying it by e/K: on the fuzzer's batch (34 "
                "samples, 7 classes, logits up to +-1000) that sum is 65509.67 > 65504, so the loss is inf where "
                "the loss, 14148.58, and the sum of reduction='none' (14152), are representable; reduction='mean' "
                "sums it over the batch the same way before dividing (5 samples, 35 classes, logits 0 and 1000: inf "
                "for 384.44).",
        when={"loss": "sparse_categorical_crossentropy",
              "case": ("fuzz.torch.sparse_categorical_crossentropy.5ce128a5feae",
                       "fuzz.torch.sparse_categorical_crossentropy.d824ee330a98"),
              "dtype": "float16", "kind": ("edge", "value"),
              "form": ("function:sum", "module:sum", "function:mean", "module:mean")},
        shows="inf", versions=TORCH_VERSIONS,
        source="aten/src/ATen/native/LossNLL.cpp cross_entropy_loss_label_smoothing (smooth_loss.sum() then "
               "* label_smoothing / n_classes); found by tests/fuzz (promoted: cases/fuzz), measured"),
    Deviation(
        name="float16-mean-accumulates-in-float16",
        summary="F.cross_entropy(reduction='mean') on float16 sums the per-sample losses in float16 before "
                "dividing: two samples of 40000 (each representable, max 65504) give inf where their mean is "
                "40000. Cast to float32 before reducing, or reduce yourself: loss(reduction='none').float().mean().",
        when={"loss": "sparse_categorical_crossentropy", "case": "edge.scce-logits.float16-mean-*",
              "dtype": "float16", "form": "*:mean"},
        shows="inf", versions=TORCH_VERSIONS,
        source="aten/src/ATen/native/LossNLL.cpp nll_loss_forward (reduction in the input dtype); measured"),
    Deviation(
        name="bce_rejects_nan_probability",
        summary="F.binary_cross_entropy raises RuntimeError 'all elements of input should be between 0 and 1' "
                "for a NaN probability, where the reference gives NaN for that element (and a value for the "
                "others).",
        when={"loss": "binary_crossentropy", "case": "*bce.prob-nan*"},
        shows="error:RuntimeError", versions=TORCH_VERSIONS, source=_ATEN_LOSS),
    Deviation(
        name="bce_rejects_probability_outside_unit_interval",
        summary="F.binary_cross_entropy raises RuntimeError 'all elements of input should be between 0 and 1' "
                "for p = 1.5 or -0.5, where the reference (log clamped at -100) gives a number.",
        when={"loss": "binary_crossentropy", "case": "*bce.prob-outside-unit-interval*"},
        shows="error:RuntimeError", versions=TORCH_VERSIONS, source=_ATEN_LOSS),
    # -- added with the half-precision tolerance model (docs/tolerances.md) and the reference's argument checks
    Deviation(
        name="label_smoothing_accepts_negative",
        summary="F.cross_entropy checks only label_smoothing <= 1 (1.5 raises RuntimeError 'label_smoothing must "
                "be between 0.0 and 1.0'): -0.5 is applied as given, 0.4644 for logits [1, 2, 0.5] and target "
                "class 1 (probability or integer target), where the reference raises ValueError.",
        when={"loss": ("categorical_crossentropy", "sparse_categorical_crossentropy"),
              "case": "edge.args.*-label-smoothing-negative", "kind": "edge"},
        shows="value", versions=TORCH_VERSIONS,
        source="aten/src/ATen/native/LossNLL.cpp cross_entropy (TORCH_CHECK(label_smoothing <= 1.0)); measured"),
    Deviation(
        name="bce_with_logits_loses_tiny_loss",
        summary="F.binary_cross_entropy_with_logits computes (1 - y) x - log_sigmoid(x): for y = 0 and x < 0 that "
                "is x - (x - log1p(e^x)), which cancels and keeps only u |x| absolutely of a loss of about e^x. In "
                "float64 at x = -40 it returns 0.0 where the loss is 4.248354255291589e-18 (x = 40, y = 1 is exact; "
                "the gradient there is 0.0, exactly -4.25e-18). Keras and optax keep it.",
        when={"binding": "binary_crossentropy", "case": "edge.bce-logits.tiny-loss", "kind": "edge"},
        shows="differs", versions=TORCH_VERSIONS,
        source="binary_cross_entropy_with_logits in aten/src/ATen/native/Loss.cpp ((1 - target) * input - "
               "log_sigmoid(input)); measured"),
    Deviation(
        name="bce_with_logits_cancels_for_negative_logits",
        summary="The same cancellation on --sweep's 257-class batch (logits down to -7.2, target 0): in float32 "
                "a loss of 7.57e-4 comes back 2375 ulps (relative 1.8e-4) off, beyond the bound of its "
                "mathematics (relative condition 8); in float16 it comes back 0.0, beyond even the half-precision "
                "arithmetic bound. (bfloat16 stays within that bound; float64 within its own.)",
        when={"loss": "binary_crossentropy", "form": "function:none", "case": "gen.wide.from_logits=True",
              "dtype": ("float16", "float32"), "kind": "value"},
        shows="differs", versions=TORCH_VERSIONS,
        source="binary_cross_entropy_with_logits in aten/src/ATen/native/Loss.cpp; measured (pytest --sweep)"),
    Deviation(
        name="multilabel_soft_margin_sums_classes_in_float16",
        summary="F.multilabel_soft_margin_loss sums the per-class losses in float16 before dividing by C: two losses "
                "of about 60000 (each representable) overflow to inf where their mean is representable.",
        when={"binding": "binary_crossentropy@multilabel_soft_margin", "case": "edge.bce-logits.float16-huge",
              "dtype": "float16", "kind": "edge"},
        shows="inf", versions=TORCH_VERSIONS,
        source=f"multilabel_soft_margin_loss in {_FUNCTIONAL_SRC} (loss.sum(dim=class_dim) / C); measured"),
    Deviation(
        name="bfloat16_rounding_tie_at_kink",
        summary="hinge_embedding_loss and margin_ranking_loss in bfloat16 form margin - x (or -y (x1 - x2) + margin) "
                "in bfloat16, which rounds to exactly 0 where the exact value is not (--sweep's 257-class batch), and "
                "at that kink torch passes the whole gradient (clamp_min(0) backward: mask x >= 0): -1 or +-1 where "
                "the reference, off the kink, has 0 (the mean forms divide it below their tolerance).",
        when={"loss": ("hinge_embedding_loss", "margin_ranking_loss"), "case": ("gen.wide.default", "gen.wide.margin=0.3"),
              "dtype": "bfloat16", "kind": "grad", "form": ("function:none", "function:sum", "module:sum")},
        shows="differs", versions=TORCH_VERSIONS,
        source="aten/src/ATen/native/Loss.cpp hinge_embedding_loss, margin_ranking_loss (clamp_min_(0)); measured "
               "(pytest --sweep)"),
    Deviation(
        name="cosine_embedding_other_targets_cost_zero",
        summary="F.cosine_embedding_loss selects its branches with where(target == 1, 1 - cos, 0) + where(target == "
                "-1, max(0, cos - margin), 0): a target of 0 or 2 costs 0 (no error), where the loss is undefined "
                "(the reference: NaN).",
        when={"loss": "cosine_embedding_loss", "case": "edge.cosine-embedding.target-not-plus-minus-one",
              "kind": "edge"},
        shows="value", versions=TORCH_VERSIONS,
        source="cosine_embedding_loss in aten/src/ATen/native/Loss.cpp (at::where(target == 1, pos, zeros) + "
               "at::where(target == -1, neg, zeros)); measured: [0, 0, 0.4] for targets [0, 2, 1]"),
    Deviation(
        name="triplet_margin_must_be_positive",
        summary="F.triplet_margin_loss raises ValueError 'margin must be greater than 0, got 0.0' for margin <= 0, "
                "where the loss max(d(a, p) - d(a, n) + margin, 0) is defined (and optax.losses.triplet_margin_loss "
                "computes it: [0, 1] on edge.triplet.margin-zero).",
        when={"loss": "triplet_margin_loss", "case": "edge.triplet.margin-zero", "kind": "edge"},
        shows="error:ValueError", versions=TORCH_VERSIONS,
        source=f"triplet_margin_loss in {_FUNCTIONAL_SRC} ('if margin <= 0: raise ValueError'); measured"),
    Deviation(
        name="soft_margin_exp_overflow",
        summary="F.soft_margin_loss computes log1p(exp(-y x)) literally: exp overflows for -y x > 88.7 in float32 "
                "(11.1 in float16), giving inf where the loss is -y x (x = -100, y = 1: inf for 100) and a NaN gradient; "
                "float64 holds to 709.  Write F.softplus(-y * x) instead.",
        when={"loss": "soft_margin_loss", "case": "edge.soft-margin.large-violation", "kind": ("edge", "value", "grad"),
              "dtype": ("float16", "bfloat16", "float32", "float64")},
        shows="differs", versions=TORCH_VERSIONS,
        source="aten/src/ATen/native/Loss.cpp soft_margin_loss (at::log1p(at::exp(-input * target))); measured"),
    Deviation(
        name="computes_in_half_precision",
        summary="In float16 and bfloat16 on the CPU torch rounds intermediate tensors to the input's dtype: "
                "log_softmax (and cross_entropy, built on it) holds the sum of exponentials in the half dtype "
                "before its log (reproduced in 97% of 10000 entries; 53 ulps of a loss of 0.0082 in float16, up "
                "to 6.9 ulps of results >= 1/16); the sum and mean reductions accumulate in it; kl_div, "
                "poisson_nll_loss and binary_cross_entropy_with_logits combine rounded tensors (poisson up to 55 "
                "ulps of results >= 1/16 and 7.6 u absolutely below; BCE from logits 16 ulps; KL 3.0; the others "
                "0.5-1.9; --sweep plan).  Judged by the bound of a computation in the half dtype (native model, "
                "probabilistic gamma); sigmoid and softmax round once and keep the one-rounding bound.",
        when={"binding": ("binary_crossentropy", "categorical_crossentropy", "huber", "kl_divergence", "log_softmax",
                          "mean_absolute_error", "mean_squared_error", "nll", "poisson", "smooth_l1",
                          "sparse_categorical_crossentropy", "binary_crossentropy@multilabel_soft_margin",
                          "soft_margin_loss", "hinge_embedding_loss", "margin_ranking_loss", "multi_margin_loss",
                          "gaussian_nll_loss", "entropy", "entropy@entr", "cosine_distance", "cosine_similarity",
                          "triplet_margin_loss", "cosine_embedding_loss"),
              "dtype": ("float16", "bfloat16"), "kind": ("value", "edge")},
        shows="half-arithmetic", versions=TORCH_VERSIONS,
        source="aten/src/ATen/native/cpu/SoftMaxKernel.cpp (_vec_log_softmax_lastdim), ReduceOps, Loss.cpp; "
               "measured (tests/meta/half_precision_survey.py --sweep)"),
)


class TorchAdapter:
    """PyTorch: ``torch.nn.functional`` losses (forms ``function:<reduction>``) and ``torch.nn`` loss
    modules (forms ``module:<reduction>``)."""

    name = "torch"
    bindings = BINDINGS
    deviations = DEVIATIONS
    conventions: Mapping[str, Convention] = CONVENTIONS
    # The torch releases the bindings are written for and run on: an API one of them lacks is the
    # adapter's fault; another release lacking it is a skip with the reason (adapters.protocol.Unsupported).
    written_for = TORCH_VERSIONS

    # ----------------------------------------------------------------------------- protocol basics
    def release(self) -> str | None:
        """The torch release the ``versions=`` of the declarations name (None when torch is absent)."""
        torch, _ = _load()
        return torch.__version__ if torch is not None else None

    def version(self) -> str:
        torch, _ = _load()
        return torch.__version__ if torch is not None else "not installed"

    def available(self) -> str | None:
        return _load()[1]

    def devices(self) -> list[str]:
        torch, _ = _load()
        if torch is None:
            return []
        found = ["cpu"]
        try:
            if torch.cuda.is_available():
                found.append("gpu")
        except Exception:  # noqa: BLE001 - a broken CUDA setup just means no gpu checks
            pass
        return found

    def dtypes(self) -> list[str]:
        return list(FLOAT_DTYPES)

    def convention_for(self, loss: str) -> str:
        return CONVENTION

    def output_dtype(self, call: Call) -> str:
        return call.dtype  # torch documents the output in the input's dtype

    def supports(self, call: Call) -> bool:
        """The binding accepts the call (form, dtype, argument names and required values) on a device here."""
        binding = self.bindings.get(_BY_FORM.get((call.loss, call.form), ""))
        return binding is not None and binding.accepts(call) and call.device in (self.devices() or ["cpu"])

    # ------------------------------------------------------------------------------------ running
    def run(self, call: Call) -> Outcome:
        return timed(lambda: self._run(call))

    def run_callable(self, fn: Callable[..., Any], call: Call, wrt: str | None) -> Outcome:
        """Run a user's torch function ``fn(**tensors)`` on the call's inputs (same tensors, dtype and
        device as a binding gets) and take its autograd gradient w.r.t. ``wrt`` (``lossparity.check_loss``)."""
        def go():
            torch = _torch()
            device = torch.device("cuda" if call.device == "gpu" else call.device)
            dtype = getattr(torch, call.dtype)
            tensors = {name: _tensor(torch, name, arr, dtype, device) for name, arr in call.inputs.items()}
            if wrt is not None:
                tensors[wrt].requires_grad_(True)
            out = fn(**tensors)
            outcome = Outcome(value=out.detach().to(torch.float64).cpu().numpy(), dtype=_dtype_name(out.dtype))
            if wrt is not None:
                seed = None if call.cotangent is None else torch.as_tensor(call.cotangent, device=out.device).to(out.dtype)
                total = out.sum() if seed is None else (out * seed).sum()
                (grad,) = torch.autograd.grad(total, tensors[wrt], allow_unused=True)
                grad = torch.zeros_like(tensors[wrt]) if grad is None else grad
                outcome.grad = grad.detach().to(torch.float64).cpu().numpy()
                outcome.grad_dtype = _dtype_name(grad.dtype)
            return outcome

        return timed(go)

    def _run(self, call: Call) -> Outcome:
        torch = _torch()
        key = _BY_FORM.get((call.loss, call.form))
        if key is None:
            raise NotImplementedError(f"torch adapter has no binding for {call.loss!r} in form {call.form!r}")
        binding = self.bindings[key]
        device = torch.device("cuda" if call.device == "gpu" else call.device)
        dtype = getattr(torch, call.dtype)
        tensors = {name: _tensor(torch, name, arr, dtype, device) for name, arr in call.inputs.items()}
        wrt = binding.wrt(call)
        if wrt is not None:
            tensors[wrt].requires_grad_(True)
        with warnings.catch_warnings():  # kl_div's reduction='mean' FutureWarning-style notice, every call
            warnings.simplefilter("ignore", UserWarning)
            out = _CALLS[key](torch, tensors, dict(call.args), call.api, call.reduction)
        value = out.detach().to(torch.float64).cpu().numpy()
        outcome = Outcome(value=value, dtype=_dtype_name(out.dtype))
        if wrt is not None:
            seed = None if call.cotangent is None else torch.as_tensor(call.cotangent, device=out.device).to(out.dtype)
            total = out.sum() if seed is None else (out * seed).sum()
            (grad,) = torch.autograd.grad(total, tensors[wrt], allow_unused=True)
            if grad is None:
                grad = torch.zeros_like(tensors[wrt])
            outcome.grad = grad.detach().to(torch.float64).cpu().numpy()
            outcome.grad_dtype = _dtype_name(grad.dtype)
        return outcome


def _labels_in_range(call: Call) -> bool:
    """Integer labels lie in [0, K) or equal torch's default ignore_index (-100)."""
    if "labels" not in call.inputs:
        return True
    labels = np.asarray(call.inputs["labels"])
    pred = next((np.asarray(call.inputs[n]) for n in ("y_pred", "log_probs") if n in call.inputs), None)
    if pred is None or pred.ndim == 0 or labels.dtype.kind not in "iu":
        return True
    k = pred.shape[int(call.args.get("axis", -1))] if pred.ndim > 1 else pred.shape[0]
    return bool(np.all(((labels >= 0) & (labels < k)) | (labels == -100)))


def _tensor(torch, name: str, arr, dtype, device):
    """A case array as a tensor: floats in the call's dtype, integer labels as int64 class indices."""
    a = np.asarray(arr)
    if a.dtype.kind in "iub":
        if name in ("labels", "logit_lengths", "label_lengths"):  # class indices and sequence lengths
            return torch.from_numpy(a.astype(np.int64)).to(device)
        return torch.from_numpy(a.astype(np.float64)).to(device=device, dtype=dtype)
    # float16/bfloat16 (ml_dtypes) and float32 widen to float64 exactly before torch rounds to `dtype`.
    return torch.from_numpy(a.astype(np.float64)).to(device=device, dtype=dtype)


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


ADAPTER = TorchAdapter()
