"""Migration recipes (``recipes/``): each recipe is a check of its own, plus meta-tests of the recipe set.

``test_recipe`` runs one recipe through ``lossparity.check_loss`` (values, dtypes, gradients, the edge
battery) against the reference under its source framework's convention, and records ONE summary record
(kind ``recipe``; ``lossparity.recipes`` says what it holds).  A recipe whose target framework is not
installed is a skip with the reason; one that ``--framework`` leaves out is deselected-as-skipped.

Tier: ``test_recipe`` belongs to the full suite (marker ``full``: ``pytest tests/recipes --full``; ``.ci/run``
and the main job run it): each recipe is checked in every native dtype on generated batches and the edge
battery, one XLA compilation per shape and dtype for the recipes into JAX, about 40 s of the 2-core machine's
CPU in all.  The meta-tests of the recipe set (coverage both ways, declarations) stay in the default suite.
"""
from __future__ import annotations

import dataclasses
import inspect

import pytest

import adapters
import recipes
from lossparity import recipes as runner
from lossparity.catalogue import entry
from lossparity.inputs import generated

# torch warns about broadcasting on the edge battery's shape-mismatch case (which the reference refuses).
pytestmark = pytest.mark.filterwarnings("ignore:Using a target size:UserWarning")

RECIPES = runner.collect()
# The ordered pairs whose shared losses must each have a recipe (every pair of the built-in frameworks).
PAIRS = [(a, b) for a in recipes.TARGETS for b in recipes.TARGETS if a != b]


def _id(recipe) -> str:
    return f"{recipe.source}-to-{recipe.target}-{recipe.loss}-{recipe.name}"


def pytest_generate_tests(metafunc):
    if "recipe" not in metafunc.fixturenames:
        return
    from tests.support import session

    selected = {a.name for a in session.of(metafunc.config).adapters}
    params = []
    for recipe in RECIPES:
        marks = [pytest.mark.convention, pytest.mark.full]
        if recipe.target in selected:
            marks.append(getattr(pytest.mark, recipe.target))
        else:
            marks.append(pytest.mark.skip(reason=f"{recipe.target} is not among the frameworks of this run "
                                                 f"(--framework)"))
        params.append(pytest.param(recipe, id=_id(recipe), marks=marks))
    metafunc.parametrize("recipe", params)


def test_recipe(recipe, record_check):
    """The recipe makes its target framework return its source framework's number (or departs from it only
    where the target adapter declares a deviation of its own kernels: verdict ``deviation``)."""
    record = record_check(runner.run(recipe))
    if record["verdict"] == "skip":
        pytest.skip(record["reason"])
    assert record["verdict"] in ("pass", "deviation"), record["reason"]


# ------------------------------------------------------------------------------------------ meta-tests

def test_every_shared_loss_has_a_recipe_both_ways():
    """Each loss two frameworks both bind (their adapters' bindings) has a recipe in each direction: a new
    binding without its recipes goes red here."""
    missing = runner.uncovered(PAIRS, RECIPES)
    assert not missing, "shared losses without a recipe (add one to recipes/<target>.py):\n" + "\n".join(missing)


def test_a_missing_recipe_is_noticed():
    without_huber = [r for r in RECIPES if not (r.loss == "huber" and r.source == "keras" and r.target == "torch")]
    assert runner.uncovered(PAIRS, without_huber) == ["huber: keras -> torch"]


def test_declarations():
    """Ids unique, the loss and arguments known, the source framework computes that loss with those arguments,
    the function takes the reference's inputs, and every named difference is a flag or a structural one."""
    ids = [r.id for r in RECIPES]
    assert len(ids) == len(set(ids))
    flags = {n for a in adapters.builtin() for c in a.conventions.values() for n in c.flags}
    problems = []
    for r in RECIPES:
        info = entry(r.loss)
        info.validate_args(r.args)
        if r.source == r.target or r.source not in adapters.BUILTIN:
            problems.append(f"{r.id}: source {r.source!r}")
        source = adapters.load(adapters.BUILTIN[r.source])
        if not _source_computes(source, r):
            problems.append(f"{r.id}: {r.source} has no binding for {r.loss} with {dict(r.args)}")
        params = inspect.signature(r.fn).parameters
        positional = [n for n, p in params.items() if p.default is inspect.Parameter.empty]
        if positional != list(info.input_names):
            problems.append(f"{r.id}: takes {positional}, the reference's inputs are {list(info.input_names)}")
        keywords = set(params) - set(positional)
        if not keywords <= {a.name for a in info.args}:
            problems.append(f"{r.id}: keyword parameters {sorted(keywords)} are not arguments of {r.loss}")
        unknown = [d for d in r.differences if d not in flags and d not in recipes.STRUCTURAL]
        if unknown:
            problems.append(f"{r.id}: differences {unknown} are neither convention flags nor structural")
        if set(r.dtypes) - {"float16", "bfloat16", "float32", "float64"} or not r.dtypes:
            problems.append(f"{r.id}: dtypes {r.dtypes}")
        if not r.code.startswith("def ") or "@recipe" in r.code:
            problems.append(f"{r.id}: code does not start at its def")
    assert not problems, "\n".join(problems)


def _source_computes(adapter, recipe) -> bool:
    """Some binding of the source adapter accepts a generated input set with the recipe's arguments."""
    from adapters.protocol import Call

    for s in generated(recipe.loss):
        if dict(s.args) != dict(recipe.args):
            continue
        for binding in adapter.bindings.values():
            if binding.loss != recipe.loss:
                continue
            call = Call(loss=recipe.loss, inputs=s.inputs, args=s.args, form=binding.forms[0], dtype="float32")
            if binding.accepts(call):
                return True
    return False


def test_declared_differences_cover_the_conventions():
    """Every convention flag that changes the source's number on a recipe's inputs (put the target's
    convention in its place) is named in the recipe's ``differences``, and every flag named there is one the
    two conventions hold differently."""
    problems = []
    for r in RECIPES:
        found = runner.flag_differences(r)
        candidates = runner.candidate_flags(r)
        missing = sorted(set(found) - set(r.differences))
        stale = sorted(d for d in r.differences if d not in recipes.STRUCTURAL and d not in candidates)
        if missing:
            problems.append(f"{r.id}: undeclared {missing} (they change the {sorted(set(found.values()))})")
        if stale:
            problems.append(f"{r.id}: declares {stale}, which both conventions hold alike (or neither)")
    assert not problems, "\n".join(problems)


def test_an_undeclared_difference_is_noticed():
    cce = next(r for r in RECIPES if r.name == "categorical_crossentropy_from_keras" and r.target == "torch")
    careless = dataclasses.replace(cce, differences=tuple(d for d in cce.differences if d != "prob_clip"))
    assert "prob_clip" in set(runner.flag_differences(careless)) - set(careless.differences)


def test_a_planted_fault_fails():
    """A recipe with the wrong epsilon (1e-6 for Keras's 1e-7) is caught, and the record says where."""
    reason = adapters.load(adapters.BUILTIN["torch"]).available()
    if reason:
        pytest.skip(reason)
    cce = next(r for r in RECIPES if r.name == "categorical_crossentropy_from_keras" and r.target == "torch")

    def categorical_crossentropy_wrong_epsilon(y_true, y_pred):
        import torch  # noqa: PLC0415

        p = y_pred / y_pred.sum(-1, keepdim=True)
        p = torch.clamp(p, 1e-6, 1 - 1e-6)  # the planted fault: Keras clips at 1e-7
        return -(y_true * p.log()).sum(-1)

    record = runner.run(dataclasses.replace(cce, fn=categorical_crossentropy_wrong_epsilon))
    assert record["verdict"] == "fail"
    assert "gen.clipped" in record["reason"] or "edge.cce" in record["reason"], record["reason"]
    assert record["id"].endswith(":categorical_crossentropy_wrong_epsilon")


def test_a_recipe_record_is_complete():
    """The summary record validates as a results record and carries what the report shows."""
    from reports import results

    recipe = next(r for r in RECIPES if r.target == "torch" and r.loss == "mean_squared_error")
    reason = adapters.load(adapters.BUILTIN["torch"]).available()
    if reason:
        pytest.skip(reason)
    record = results.complete_record(runner.run(recipe))
    results.validate_record(record)
    assert record["kind"] == "recipe" and record["framework"] == "torch" and record["convention"] == recipe.source
    assert record["form"] == "function:none" and record["reduction"] == "none"
    extra = record["extra"]
    assert {"source", "target", "code", "differences", "note", "checks", "max_ulps_by_dtype",
            "without_recipe"} <= set(extra)
    assert set(extra["max_ulps_by_dtype"]) == set(recipe.dtypes)
    assert {"abs", "rel", "dtype", "case", "via", "behaviour"} <= set(extra["without_recipe"])
