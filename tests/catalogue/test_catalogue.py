"""Meta-tests of the loss catalogue: every entry complete, every binding checked, and each of these
checks seen to fail on a planted omission."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings

import reference
from adapters.protocol import Binding
from lossparity.catalogue import CATALOGUE, Input, problems
from lossparity.plan import Selection, coverage_gaps
from lossparity.strategies import loss_inputs


def test_every_reference_function_has_an_entry():
    named = set(reference.LOSSES) | set(reference.ACTIVATIONS)
    assert named == set(CATALOGUE), f"without an entry: {sorted(named - set(CATALOGUE))}; " \
                                    f"entries without a reference function: {sorted(set(CATALOGUE) - named)}"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_entry_is_complete(name, lp_session):
    assert problems(CATALOGUE[name], lp_session.cases) == []


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_strategy_draws_the_entry_inputs(name):
    info = CATALOGUE[name]

    @settings(max_examples=3, derandomize=True, database=None, deadline=None)
    @given(example=loss_inputs(name, "float32", dict(info.variants[0])))
    def draws(example):
        assert tuple(example) == info.input_names

    draws()


def test_every_binding_gets_checks_in_every_dtype_it_declares(lp_session):
    assert coverage_gaps(list(lp_session.available), lp_session.selection) == []


# -- planted omissions: each check above must see them -------------------------------------------------

@pytest.mark.parametrize("plant, expect", [
    (dict(strategy=None), "no Hypothesis strategy"),
    (dict(oracle=None), "no oracle"),
    (dict(generate=lambda rng, shape, args: {}), "the generator yields"),
    (dict(inputs=(Input("y_true", "target"), Input("y_pred", "guess", differentiable=True))), "no known role"),
    (dict(inputs=(Input("y_true", "target"), Input("y_pred", "prediction"))), "no differentiable input"),
    (dict(args=()), "arguments"),
    (dict(variants=({"delta": -1.0},)), "outside its domain"),
])
def test_planted_omission_is_reported(plant, expect, lp_session):
    broken = replace(CATALOGUE["huber"], **plant)
    assert any(expect in p for p in problems(broken, lp_session.cases)), problems(broken, lp_session.cases)


def test_planted_missing_edge_case_is_reported(lp_session):
    others = [c for c in lp_session.cases if c.loss != "huber"]
    assert any("no edge case" in p for p in problems(CATALOGUE["huber"], others))


def test_planted_unchecked_dtype_is_reported(lp_session):
    """A binding whose cells no input set reaches (here: it differentiates an input no generator makes)
    is a coverage gap in every dtype it declares, not a silent zero."""

    class Planted:
        name = "planted"
        deviations = ()
        conventions = {}
        bindings = {"huber": Binding("huber", "x", ("function:none",), "math", args=("delta",),
                                     grad_wrt="sample_weight")}

        def devices(self):
            return ["cpu"]

    gaps = coverage_gaps([Planted()], Selection(devices=("cpu",)))
    assert len(gaps) == 4 and "declares float16" in gaps[0]
