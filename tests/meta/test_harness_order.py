"""The collection order the harness imposes: a matrix cell's tests are adjacent (one framework call per cell
under xdist), and nothing else moves."""
from types import SimpleNamespace

from tests.support.session import cells_together


def _test(name, fixture=None, ident=None, wrt=None):
    params = {} if fixture is None else {fixture: SimpleNamespace(id=ident, wrt=wrt)}
    return SimpleNamespace(name=name, callspec=SimpleNamespace(params=params) if fixture else None)


def test_a_cells_tests_are_adjacent_and_the_rest_keep_their_places():
    items = [_test("helper"),
             _test("value-a", "value_item", "a"), _test("value-b", "value_item", "b"),
             _test("other"),
             _test("grad-a", "grad_item", "a"), _test("grad-a-dtargets", "grad_item", "a-dtargets", wrt="targets"),
             _test("grad-b", "grad_item", "b"), _test("edge", "edge_item", "e")]
    cells_together(items)
    assert [i.name for i in items] == ["helper", "value-a", "grad-a", "grad-a-dtargets", "value-b", "grad-b",
                                       "other", "edge"]


def test_an_empty_parameter_set_is_left_alone():
    """pytest passes NOTSET for an empty parametrisation (no adapter available): not a cell."""
    items = [_test("x", "value_item", None), _test("y")]
    cells_together(items)
    assert [i.name for i in items] == ["x", "y"]
