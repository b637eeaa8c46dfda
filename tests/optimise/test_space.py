"""Search spaces over a spec's numbers: each mistake refused by name, the grid exactly as given."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl_trader.errors import InvalidInputError
from nl_trader.optimise.space import Param, SearchSpace, parse_param
from nl_trader.spec import StrategySpec, parse_spec

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
FAST = "indicators.fast.params.period"
SLOW = "indicators.slow.params.period"


@pytest.fixture
def sma() -> StrategySpec:
    return parse_spec((STRATEGIES / "ma_crossover.json").read_text(encoding="utf-8"))


def test_a_stepped_range_includes_both_ends() -> None:
    assert parse_param(f"{FAST}=5:50:5").values() == (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    assert parse_param("exits.stop_loss.value=10:12.5:1.25").values() == (10.0, 11.25, 12.5)
    assert parse_param("sizing.lots=0.1,0.2,0.5").values() == (0.1, 0.2, 0.5)


def test_the_grid_visits_every_set_once_and_skips_those_breaking_a_constraint(
    sma: StrategySpec,
) -> None:
    space = SearchSpace.parse([f"{FAST}=10:30:10", f"{SLOW}=20:40:10"], [f"{FAST} < {SLOW}"])
    space.check(sma)
    assert space.grid_size() == 9
    assert list(space.grid()) == [
        {FAST: 10, SLOW: 20},
        {FAST: 10, SLOW: 30},
        {FAST: 10, SLOW: 40},
        {FAST: 20, SLOW: 30},
        {FAST: 20, SLOW: 40},
        {FAST: 30, SLOW: 40},
    ]


def test_a_set_applied_gives_a_valid_spec_with_those_numbers(sma: StrategySpec) -> None:
    space = SearchSpace.parse([f"{FAST}=5:15:5", "exits.stop_loss.value=20:40:10"])
    tuned = space.apply(sma, {FAST: 15, "exits.stop_loss.value": 40})
    assert tuned.indicators[0].params["period"] == 15
    assert isinstance(tuned.indicators[0].params["period"], int)
    assert tuned.exits.stop_loss is not None
    assert tuned.exits.stop_loss.value == 40.0
    assert sma.indicators[0].params["period"] == 20  # the original is untouched


@pytest.mark.parametrize(
    ("params", "constraints", "message"),
    [
        (
            ["indicators.medium.params.period=5:50:5"],
            [],
            "has no element 'medium' (ids fast, slow)",
        ),
        (["indicators.fast.params.length=5:50:5"], [], "has no 'length' (it has period)"),
        (["timeframe=1:5:1"], [], "holds 'H1', not a number"),
        ([f"{FAST}=50:5:5"], [], "the range 50:5 is inverted"),
        ([f"{FAST}=5:50:7"], [], "the step 7 does not divide 5:50"),
        ([f"{FAST}=5:50:0"], [], "the step 0 must be above 0"),
        ([f"{FAST}=5:fifty:5"], [], "'fifty' is not a number"),
        ([f"{FAST}=5:50:5:1"], [], "a range is LOW:HIGH or LOW:HIGH:STEP"),
        ([f"{FAST}"], [], "expected PATH=LOW:HIGH:STEP"),
        ([f"{FAST}=5.5:10.5:1"], [], "5.5 is not a whole number, as the spec's 20 is"),
        ([f"{FAST}=0:10:5"], [], f"param {FAST}=0: indicators[0].params.period: 0 is out of"),
        ([f"{FAST}=5:10:5", f"{FAST}=5:20:5"], [], "given twice"),
        ([f"{FAST}=5:10:5"], [f"{FAST} < {SLOW}"], f"{SLOW} is not a parameter of the space"),
        ([f"{FAST}=5:10:5"], [f"{FAST} << {SLOW}"], "expected PATH OP PATH"),
        ([], [], "give at least one parameter"),
    ],
)
def test_each_kind_of_mistake_in_a_space_is_refused_naming_it(
    sma: StrategySpec, params: list[str], constraints: list[str], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        SearchSpace.parse(params, constraints).check(sma)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_a_continuous_range_is_for_a_model_based_search_not_a_grid() -> None:
    param = parse_param("exits.stop_loss.value=10:60")
    assert param.continuous
    with pytest.raises(InvalidInputError, match="a grid needs a step"):
        param.values()


def test_a_grid_far_too_large_is_refused_before_it_starts() -> None:
    space = SearchSpace(tuple(Param(f"p{i}", choices=tuple(range(100))) for i in range(4)))
    with pytest.raises(InvalidInputError, match="100,000,000 sets"):
        next(space.grid())


def test_a_set_breaking_a_constraint_is_never_applied(sma: StrategySpec) -> None:
    space = SearchSpace.parse([f"{FAST}=10:60:10", f"{SLOW}=20:40:10"], [f"{FAST} < {SLOW}"])
    with pytest.raises(InvalidInputError, match=r"breaks indicators\.fast\.params\.period < "):
        space.apply(sma, {FAST: 50, SLOW: 20})
