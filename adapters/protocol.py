"""The adapter protocol: how the suite asks a framework to compute a loss.

An adapter translates a :class:`Call` (NumPy inputs named like the reference function's parameters, the
reference's keyword arguments, an API form, a dtype and a device) into the framework's own public call,
runs it, and hands back NumPy values and the framework's autodiff gradient as an :class:`Outcome`.
It never computes a loss itself: layout (class axis), argument order, label encoding, dtype and device
are its whole job.  What the framework does differently from the mathematics is declared, not fixed:

* a **convention** (``Binding.convention`` names one the adapter declares in ``adapter.conventions``, or
  ``"math"``): departures the reference can reproduce (clipping epsilon, renormalisation, ...), declared
  in the adapter's own file from the framework-neutral flag constructors of :mod:`reference.conventions`,
  each flag citing the framework source and version it was read from;
* a :class:`Deviation`: a departure the reference does not reproduce (a NaN where the mathematics has a
  number, an error type, a half-precision overflow).  A declared deviation that stops showing fails
  the suite, so the declaration gets updated.

A fourth framework is added without editing the suite: write a class with the attributes of
:class:`Adapter` and pass ``pytest --adapter mymodule:MY_ADAPTER``.
"""
from __future__ import annotations

import fnmatch
import functools
import inspect
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

FORMS_DOC = """An API form is "<api>:<reduction>": the api is "function" (a functional loss), "class"
(a Keras Loss object) or "module" (a torch nn loss module); the reduction is one of
reference.reduce's names ("none", "sum", "mean", "sum_over_batch_size", "batchmean")."""


# Inputs that are not a reference parameter but enter the reduction (a binding lists the ones it takes in
# its ``args``): Keras's per-sample ``sample_weight``.
REDUCTION_INPUTS = ("sample_weight",)
# Weights that ARE reference parameters (array keyword parameters, ``reference.WEIGHT_PARAMETERS``): one per
# class (``class_weight``), one per element (``weight``), one per class for the positive term (``pos_weight``),
# a per-sample mask (``where``: nonzero = computed).
# A binding lists those its framework call takes in ``args``; a call holding another is not accepted.
WEIGHT_INPUTS = ("class_weight", "weight", "pos_weight", "where")
OPTIONAL_INPUTS = REDUCTION_INPUTS + WEIGHT_INPUTS


@dataclass(frozen=True)
class Call:
    """One request to a framework: compute ``loss`` on ``inputs`` in ``form``, ``dtype``, ``device``."""

    loss: str
    inputs: Mapping[str, np.ndarray]
    args: Mapping[str, Any] = field(default_factory=dict)
    form: str = "function:none"
    dtype: str = "float32"
    device: str = "cpu"
    grad: bool = True
    # The seed of the gradient: Outcome.grad is d(sum(cotangent * output))/d(input); None means ones.
    # Activations get a non-uniform one, else the gradient of sum(softmax) is 0 whatever the backward does.
    cotangent: np.ndarray | None = field(default=None, compare=False)
    # The input the gradient is taken with respect to: None means the binding's ``grad_wrt``; another name
    # must be in the binding's ``differentiable`` (a soft target: distillation, label smoothing learned).
    wrt: str | None = None

    @property
    def api(self) -> str:
        return self.form.split(":", 1)[0]

    @property
    def reduction(self) -> str:
        return self.form.split(":", 1)[1]


@dataclass
class Outcome:
    """What the framework returned, as NumPy, or the error it raised (``"ValueError: ..."``)."""

    value: np.ndarray | None = None
    grad: np.ndarray | None = None  # d(sum(call.cotangent * value))/d(call.wrt or binding.grad_wrt input)
    dtype: str | None = None
    grad_dtype: str | None = None
    error: str | None = None
    seconds: float = 0.0
    # The installed version lacks an API the call needs (:class:`Unsupported`): no verdict on the loss.
    unsupported: str | None = None

    @property
    def behaviour(self) -> str:
        """``value``, ``nan``, ``inf`` or ``error:<Type>``: the edge battery compares these."""
        return classify(self.value, self.error)


@dataclass(frozen=True)
class Binding:
    """How one reference loss maps onto one framework.

    ``granularity`` says what the framework's unreduced output is: one loss per sample (reduced over the
    class axis, like Keras) or one per element (like ``torch.nn.functional.mse_loss``).  ``args`` lists
    the reference keyword arguments the framework call understands; a case using another is skipped.
    ``requires`` pins argument values the API needs (``tf.nn`` cross entropies take logits only:
    ``{"from_logits": True}``).  ``differentiable`` names the other inputs the adapter also differentiates
    on request (``Call.wrt``): a soft target whose gradient the framework's autodiff returns.
    """

    loss: str
    api: str
    forms: tuple[str, ...]
    convention: str
    granularity: str = "sample"
    args: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
    grad_wrt: str | None = "y_pred"
    requires: Mapping[str, Any] = field(default_factory=dict)
    differentiable: tuple[str, ...] = ()

    def wrt(self, call: Call) -> str | None:
        """The input this call's gradient is taken with respect to (None: no gradient)."""
        if not call.grad:
            return None
        if call.wrt is None or call.wrt == self.grad_wrt:
            return self.grad_wrt
        if call.wrt not in self.differentiable:
            raise ValueError(f"{self.api}: no gradient with respect to {call.wrt!r} (differentiable: "
                             f"{(self.grad_wrt,) + tuple(self.differentiable)})")
        return call.wrt

    def accepts(self, call: Call) -> bool:
        return (call.form in self.forms and call.dtype in self.dtypes
                and all(name in self.args for name in call.args if name != "axis")
                and all(name in self.args for name in call.inputs if name in OPTIONAL_INPUTS)
                and all(bool(call.args.get(name, False)) == bool(value) for name, value in self.requires.items()))


@dataclass(frozen=True)
class Deviation:
    """A declared departure from the reference under the framework's convention.

    ``when`` selects the checks it covers, by glob patterns on check fields: ``loss``, ``case``
    (case id), ``form``, ``dtype``, ``device``, ``kind`` (value, grad, dtype, edge), ``wrt`` (the input a
    gradient is taken with respect to; a gradient w.r.t. another input than the binding's ``grad_wrt`` is
    covered only by a deviation naming ``wrt``); a tuple of patterns matches when any does.  ``shows`` says
    what the framework does instead: ``"differs"`` (a different number), ``"nan"``, ``"inf"``,
    ``"value"`` or ``"error:<Type>"``.

    ``versions`` is the PEP 440 range of the releases it was verified on (:func:`holds`: a bare range names
    the adapter's ``release()``, ``"jax>=0.5"`` another package its ``settings()`` reports); outside it
    the deviation does not hold, so a difference that shows there fails as new in that release.

    ``settings`` names the process-level settings it needs, as the adapter's ``settings()`` reports them
    (``{"onednn": "on"}``, ``{"x64": "off"}``; patterns like ``when``'s): a deviation that only one state of
    a setting shows is declared for that state, and the adapter's ``deviations`` holds the ones its
    process runs under (:func:`active`), so a verdict never depends on what was imported first.
    """

    name: str
    summary: str
    when: Mapping[str, str | tuple[str, ...]]
    shows: str
    versions: str
    source: str
    settings: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def covers(self, **fields: str) -> bool:
        return _matches_all(self.when, fields)

    def holds_under(self, settings: Mapping[str, Any]) -> bool:
        """Whether the process settings ``settings`` (an adapter's ``settings()``) are the ones it needs."""
        return _matches_all(self.settings, settings)


def _matches_all(selectors: Mapping[str, str | tuple[str, ...]], fields: Mapping[str, Any]) -> bool:
    for key, patterns in selectors.items():
        if not _matcher((patterns,) if isinstance(patterns, str) else tuple(patterns))(str(fields.get(key, ""))):
            return False
    return True


@functools.lru_cache(maxsize=None)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a value matches any of the shell-style ``patterns`` (fnmatch, case-sensitive), compiled once."""
    if not any(c in pattern for pattern in patterns for c in "*?["):
        exact = frozenset(patterns)
        return exact.__contains__
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def active(deviations: tuple[Deviation, ...], settings: Mapping[str, Any] | None) -> tuple[Deviation, ...]:
    """The deviations that hold under ``settings`` (None: settings unknown, e.g. the framework is not
    loaded: every declaration, so that listing them never imports a framework)."""
    if settings is None:
        return tuple(deviations)
    return tuple(d for d in deviations if d.holds_under(settings))


@runtime_checkable
class Adapter(Protocol):
    """The attributes and methods every adapter provides (see ``adapters/torch.py`` for one).

    ``conventions: Mapping[str, reference.Convention]`` -- the conventions the adapter declares, by name
    (``{"torch": TORCH}``), each built in the adapter's file from the flag constructors of
    :mod:`reference.conventions` (``prob_clip(1e-7, source=..., versions=...)``, ...).  Every
    ``Binding.convention`` names one of them or ``"math"`` (the plain mathematics, always known);
    ``lossparity.conventions.registry`` collects them, so a case file can name any declared convention
    (``"keras2"``, Keras 2's, is the ``tf_keras`` adapter's).  An adapter without the attribute declares
    none, and its bindings may only name ``"math"``.

    Optional: ``settings() -> dict``, the versions and the process-level state the framework runs in
    (``{"version": ..., "onednn": "on", "x64": "off", "keras_backend": ..., "family": ...}``), read back from
    the framework, never assumed; ``deviations`` then holds the declarations that hold in that state
    (:func:`active`).
    """

    name: str
    bindings: Mapping[str, Binding]
    deviations: tuple[Deviation, ...]

    def version(self) -> str: ...

    def available(self) -> str | None:
        """None when the framework can run here, else the reason to skip its checks."""

    def devices(self) -> list[str]: ...

    def output_dtype(self, call: Call) -> str:
        """The dtype the framework documents for this call's output (usually ``call.dtype``)."""

    # Optional: ``compute_dtype(call) -> str``, the dtype the framework computes in when it is not the
    # inputs' (a Keras Loss class casts to floatx); checks then round the inputs and bound the error in it.

    def run(self, call: Call) -> Outcome: ...


def classify(value, error: str | None = None) -> str:
    if error is not None:
        return "error:" + error.split(":", 1)[0]
    arr = np.asarray(value, dtype=np.float64) if value is not None else np.asarray(np.nan)
    if np.isnan(arr).any():
        return "nan"
    if np.isinf(arr).any():
        return "inf"
    return "value"


def describe(exc: BaseException) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line[:200]}"


def timed(fn: Callable[[], Outcome]) -> Outcome:
    """Run ``fn``; turn any exception into an Outcome so one framework's crash loses nothing else
    (:class:`Unsupported` into ``Outcome.unsupported``: the version lacks the API, not a loss verdict)."""
    start = time.perf_counter()
    try:
        outcome = fn()
    except Unsupported as exc:
        outcome = Outcome(unsupported=str(exc))
    except Exception as exc:  # noqa: BLE001 - the error is the observation
        outcome = Outcome(error=describe(exc))
    outcome.seconds = time.perf_counter() - start
    return outcome


# ---------------------------------------------------------------------------------------------------------
# Versions: what the installed release offers, and which declarations hold for it


class Unsupported(Exception):
    """The installed release of a framework lacks an API a call needs (a function, a class, a keyword):
    ``"optax 0.2.4: optax.smooth_labels has no keyword 'axis'"``.  :func:`timed` turns it into
    ``Outcome.unsupported``; the checks make it a skip with this reason on a release outside the range the
    adapter is written for (``Adapter.written_for``), and a failure inside it (there the adapter is wrong)."""


@functools.lru_cache(maxsize=4096)  # a pure function of two strings, asked once per declaration and check
def in_range(versions: str, version: str | None) -> bool:
    """Whether ``version`` lies in the PEP 440 specifier ``versions`` (``">=3.8,<3.16"``; ``"*"`` or ``""``
    is every version; an unknown ``version`` (None) is taken to be in range).  Local labels such as
    ``+cpu`` are ignored; pre-releases count.

    >>> in_range(">=2.13,<2.14", "2.13.0+cpu"), in_range(">=0.2.8", "0.2.4"), in_range("*", "1.0")
    (True, False, True)
    """
    if version is None or versions.strip() in ("", "*"):
        return True
    from packaging.specifiers import SpecifierSet  # noqa: PLC0415
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    try:
        parsed = Version(version)
    except InvalidVersion:
        return True
    return SpecifierSet(versions).contains(Version(parsed.public), prereleases=True)


def release(adapter) -> str | None:
    """The release the ``versions=`` ranges of ``adapter``'s declarations name (``adapter.release()``: keras
    for Keras 3, the Keras 2 package for tf_keras, torch, optax); None when unknown or not loaded."""
    method = getattr(adapter, "release", None)
    if method is None:
        return None
    try:
        return method()
    except Exception:  # noqa: BLE001 - a framework that cannot load has no release to compare
        return None


def holds(versions: str, adapter) -> bool:
    """Whether a declaration's ``versions`` holds for what is installed: a bare specifier
    (``">=3.8,<3.16"``) names the adapter's own release (:func:`release`); one that starts with a package
    name (``"jax>=0.4"``) names that package's version as the adapter's ``settings()`` reports it.  Unknown
    versions hold (nothing loaded: nothing to contradict)."""
    text = versions.strip()
    if text[:1].isalpha():
        name, specifier = _requirement(text)
        return in_range(specifier, _setting(adapter, name))
    return in_range(text, release(adapter))


@functools.lru_cache(maxsize=256)
def _requirement(text: str) -> tuple[str, str]:
    from packaging.requirements import Requirement  # noqa: PLC0415

    requirement = Requirement(text)
    return requirement.name, str(requirement.specifier)


def _setting(adapter, package: str) -> str | None:
    if release(adapter) is None:  # not loaded: asking for settings would load the framework
        return None
    try:
        found = dict(adapter.settings())
    except Exception:  # noqa: BLE001
        return None
    value = found.get(package)
    return str(value) if value else None


@functools.lru_cache(maxsize=None)
def _signature(fn) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None


def lookup(owner: Any, name: str, *, label: str) -> Callable:
    """``getattr(owner, name)`` for a framework API, checked against what this release offers: a missing
    attribute raises :class:`Unsupported` (``"{label}: {owner} has no {name}"``), and the returned callable
    raises it when called with a keyword its signature lacks.  ``label`` names the release
    (``"optax 0.2.4"``).  Adapters look their loss functions and classes up through this, so an API a
    release lacks is a skip with its reason, never a loss verdict."""
    owner_name = getattr(owner, "__name__", type(owner).__name__)
    try:
        target = getattr(owner, name)
    except AttributeError:
        raise Unsupported(f"{label}: {owner_name} has no {name}") from None
    return checked(target, label=label, name=f"{owner_name}.{name}")


class CheckedModule:
    """A framework module seen through :func:`lookup`: ``CheckedModule(optax, label="optax 0.2.4").losses.
    ctc_loss`` raises :class:`Unsupported` when the release lacks it, and its functions refuse keywords
    their signatures lack; other attributes (``__version__``) pass through."""

    def __init__(self, module: Any, *, label: str):
        self._module, self._label = module, label

    def __getattr__(self, name: str) -> Any:
        module = self._module
        try:
            value = getattr(module, name)
        except AttributeError:
            raise Unsupported(f"{self._label}: {getattr(module, '__name__', module)} has no {name}") from None
        if inspect.ismodule(value):
            return CheckedModule(value, label=self._label)
        if callable(value) and not isinstance(value, type):
            return checked(value, label=self._label, name=f"{getattr(module, '__name__', '')}.{name}")
        return value


def checked(fn: Callable, *, label: str, name: str | None = None) -> Callable:
    """``fn`` that raises :class:`Unsupported` when called with keywords its signature does not have
    (``"optax 0.2.4: optax.smooth_labels has no keyword 'axis'"``)."""
    signature = _signature(fn)
    if signature is None or any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return fn
    known = set(signature.parameters)
    shown = name or getattr(fn, "__qualname__", repr(fn))

    @functools.wraps(fn)
    def call(*args, **kwargs):
        missing = sorted(set(kwargs) - known)
        if missing:
            raise Unsupported(f"{label}: {shown} has no keyword " + ", ".join(repr(m) for m in missing))
        return fn(*args, **kwargs)

    return call
