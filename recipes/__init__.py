"""Migration recipes: the code that makes framework B return framework A's loss, checked by the suite.

One module per *target* framework (the one the code is written in): ``recipes/torch.py``,
``recipes/optax.py``, ``recipes/keras.py``.  A recipe is a plain function in that framework's public API,
taking its arrays as keyword arguments named like the reference function's parameters
(``reference.<loss>``: ``y_true, y_pred``; ``labels, y_pred``; ``p, q``; ``z``) and returning the
per-sample loss that the *source* framework computes, departures from the mathematics included (its
epsilon clip, renormalisation, label encoding, NaN pattern...).  Each is declared with :func:`recipe`
next to its code::

    @recipe("categorical_crossentropy", source="keras", args={"from_logits": False},
            differences=("cce_renormalize", "prob_clip", "written_from_ops"))
    def categorical_crossentropy_from_keras(y_true, y_pred):
        p = y_pred / y_pred.sum(-1, keepdim=True)  # Keras renormalises y_pred over the class axis
        ...

``args`` are the reference keyword arguments the recipe reproduces (they select the suite's input sets);
a recipe function that declares one of them as a parameter (``label_smoothing=0.2``, ``axis=-1``) receives
the value of each input set.  ``differences`` name what the recipe undoes: flags of the frameworks'
conventions (``reference.conventions``: ``prob_clip``, ``kl_clip``...) or the structural differences of
:data:`STRUCTURAL`.  ``lossparity.recipes`` runs every recipe through ``lossparity.check_loss`` against the
reference under the source framework's convention; ``tests/recipes`` makes each one a test.

The frameworks are imported lazily (:func:`lazy`): listing the recipes needs none of them, and TensorFlow
is first imported by the Keras adapter, which sets its environment (oneDNN off) before it does.  In the
code the usual names stand for the usual modules: ``torch``, ``F`` (``torch.nn.functional``), ``tf``,
``keras``, ``jax``, ``jnp``, ``optax``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

__all__ = ["Recipe", "recipe", "lazy", "collect", "MODULES", "TARGETS", "STRUCTURAL"]

# The modules holding recipes, one per target framework (the adapter name each is written for).
MODULES: Mapping[str, str] = MappingProxyType({"torch": "recipes.torch", "optax": "recipes.optax",
                                               "keras": "recipes.keras"})
TARGETS: tuple[str, ...] = tuple(MODULES)

# Differences that are not a convention flag (no number of the reference changes with them, but the
# code has to handle them): name -> what it means.  A recipe's ``differences`` name these or flags.
STRUCTURAL: Mapping[str, str] = MappingProxyType({
    "granularity": "The target's unreduced loss is one value per element (torch's reduction='none', "
                   "optax's elementwise losses); the source's is one per sample: average (KL: sum) over "
                   "the class axis.",
    "class_axis": "The target takes the class axis elsewhere: torch's cross_entropy / nll_loss on dim 1 "
                  "(movedim(axis, 1)), Keras's sparse cross entropy (TensorFlow backend) only last "
                  "(ops.moveaxis(y_pred, axis, -1)).",
    "argument_order": "The target takes (prediction, target) or (log q, p) where the source takes "
                      "(target, prediction) or (p, q).",
    "log_space_input": "The target takes log-probabilities of the model: its KL function log q, not q; torch's "
                       "ctc_loss log_softmax(logits), not the logits.",
    "label_encoding": "The target wants another label encoding (integer class indices instead of one-hot "
                      "rows, {-1, 1} instead of {0, 1}).",
    "written_from_ops": "The target has no public function for this loss with these arguments (torch and "
                        "optax have no cross entropy on probabilities, torch no hinge): it is written "
                        "from the framework's ops.",
    "no_label_smoothing": "The target's function has no label_smoothing argument: the targets are "
                          "smoothed by hand.",
    "log_input_default": "torch's poisson_nll_loss defaults to log_input=True (log-rates); the source "
                         "takes rates.",
    "time_major_layout": "torch's ctc_loss takes its log_probs laid out (time, batch, classes); optax's and "
                         "Keras's CTC take (batch, time, classes): transpose(0, 1) either way.",
    "lengths_as_paddings": "optax's ctc_loss takes paddings, (B, T) and (B, N) arrays that are 1.0 at and past "
                           "each sequence's length, where torch and Keras take the lengths: "
                           "lengths = width - paddings.sum(-1), paddings = (arange(width) >= lengths[:, None]).",
    "blank_index": "The CTC blank's class index: keras.losses.ctc fixes it at 0 (and pads labels with it), "
                   "torch's blank=, optax's blank_id= and keras.ops.ctc_loss's mask_index= choose it (default 0).",
    "label_padding": "keras.losses.ctc takes no lengths: it reads each label length as the count of nonzero labels "
                     "(labels padded with 0, its blank) and uses every frame; keras.ops.ctc_loss takes both lengths.",
    "infeasible_target": "A CTC target no alignment reaches (a frame per label and one between adjacent repeats "
                         "do not fit, or the target holds the blank) costs inf (-log 0); optax stands log_epsilon = "
                         "-1e5 in for log 0 (about 1e5), TensorFlow's kernel under Keras gives about 709.6: the "
                         "recipe tests feasibility and puts inf (torch's zero_infinity: 0) there.",
})


@dataclass(frozen=True)
class Recipe:
    """One migration recipe: ``fn``, written in ``target``'s API, computes ``source``'s ``loss``.

    ``args``: the reference keyword arguments reproduced (e.g. ``{"from_logits": False}``); ``dtypes``:
    the float dtypes it is checked in (float32 and float64 unless half precision matters);
    ``differences``: convention flag names or :data:`STRUCTURAL` names; ``note``: one or two sentences
    for the porting engineer (reductions, what the code does not cover).
    """

    loss: str
    source: str
    target: str
    fn: Callable[..., Any]
    args: Mapping[str, Any] = field(default_factory=dict)
    differences: tuple[str, ...] = ()
    note: str = ""
    dtypes: tuple[str, ...] = ("float32", "float64")

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def id(self) -> str:
        return f"recipe:{self.loss}:{self.source}->{self.target}:{self.name}"

    @property
    def framework(self) -> str:
        """The framework whose API the recipe is written in (``target``): its record's ``framework``, also
        when the test is skipped before it records anything."""
        return self.target

    @property
    def code(self) -> str:
        """The function's source, without its ``@recipe`` declarations (what a porting engineer copies)."""
        lines = inspect.getsource(self.fn).splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
        return "\n".join(lines[start:]) + "\n"


def recipe(loss: str, *, source: str, args: Mapping[str, Any] | None = None, differences: tuple[str, ...] = (),
           note: str = "", dtypes: tuple[str, ...] = ("float32", "float64")) -> Callable:
    """Declare the decorated function a recipe for ``loss`` from ``source`` into this module's target.

    The module must define ``TARGET`` (the adapter name its code is written for) and ``RECIPES`` (a list)
    before the first use; the function is returned unchanged, so decorators stack (one function can serve
    several sources where they agree).
    """
    def declare(fn: Callable) -> Callable:
        module = inspect.getmodule(fn)
        target = getattr(module, "TARGET", None)
        registry = getattr(module, "RECIPES", None)
        if target is None or registry is None:
            raise TypeError(f"{fn.__module__}: a recipe module defines TARGET and RECIPES before @recipe")
        registry.append(Recipe(loss=loss, source=source, target=target, fn=fn, args=dict(args or {}),
                               differences=tuple(differences), note=note, dtypes=tuple(dtypes)))
        return fn

    return declare


class _LazyModule:
    """A module imported on first attribute access (``lazy("torch.nn.functional")``), seen through
    :class:`adapters.protocol.CheckedModule`: a function or keyword the installed release lacks raises
    ``Unsupported`` ("optax 0.2.3: optax.losses.softmax_cross_entropy has no keyword 'axis'"), so the recipe's
    check is a skip with that reason on such a release, never a wrong verdict."""

    def __init__(self, name: str):
        self.__name = name
        self.__module = None

    def __getattr__(self, attr: str) -> Any:
        if self.__module is None:
            from adapters.protocol import CheckedModule  # noqa: PLC0415

            module = importlib.import_module(self.__name)
            top = self.__name.split(".", 1)[0]
            try:
                release = importlib.metadata.version(top)
            except importlib.metadata.PackageNotFoundError:
                release = str(getattr(module, "__version__", "?"))
            self.__module = CheckedModule(module, label=f"{top} {release}")
        return getattr(self.__module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name!r}>"


def lazy(name: str) -> Any:
    """``name`` imported when first used: ``F = lazy("torch.nn.functional")`` reads like the import."""
    return _LazyModule(name)


def collect(targets: tuple[str, ...] | None = None) -> list[Recipe]:
    """Every recipe (of the given target frameworks), in declaration order; ids are unique."""
    found: list[Recipe] = []
    for target, module_name in MODULES.items():
        if targets is not None and target not in targets:
            continue
        module = importlib.import_module(module_name)
        found.extend(module.RECIPES)
    ids = [r.id for r in found]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"recipe ids declared twice: {duplicated}")
    return found
