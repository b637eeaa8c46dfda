"""What changed between two versions of a strategy: each field, old and new."""

from __future__ import annotations

from typing import Any

from nl_trader.spec import StrategySpec, parse_spec
from nl_trader.spec_diff import ABSENT, Change, spec_diff
from tests.store.builders import example_spec


def _edited(spec: StrategySpec, **changes: Any) -> StrategySpec:
    data = spec.model_dump(mode="json")
    for path, value in changes.items():
        where = data
        *parents, last = path.split("__")
        for key in parents:
            where = where[int(key)] if isinstance(where, list) else where[key]
        where[last] = value
    return parse_spec(data)


def test_two_identical_specs_have_no_changes() -> None:
    spec = example_spec()
    assert spec_diff(spec, spec) == []


def test_a_wider_stop_is_one_change_naming_the_field_with_its_old_and_new_value() -> None:
    old = example_spec()
    new = _edited(old, exits__stop_loss__value=45)
    assert spec_diff(old, new) == [Change("exits.stop_loss.value", 30, 45)]


def test_ten_and_ten_point_zero_pips_are_the_same_stop() -> None:
    old = example_spec()
    new = _edited(old, exits__stop_loss__value=30.0)
    assert spec_diff(old, new) == []


def test_indicators_are_matched_by_id_so_a_changed_period_names_the_indicator() -> None:
    old = example_spec()
    new = _edited(old, indicators__1__params={"period": 100})
    assert spec_diff(old, new) == [Change("indicators[slow].params.period", 50, 100)]


def test_an_added_indicator_is_absent_on_the_old_side() -> None:
    old = example_spec()
    data = old.model_dump(mode="json")
    data["indicators"].append({"id": "trend", "kind": "ema", "params": {"period": 200}})
    changes = spec_diff(old, parse_spec(data))
    assert len(changes) == 1
    assert changes[0].path == "indicators[trend]"
    assert changes[0].old is ABSENT
    assert changes[0].new["kind"] == "ema"


def test_changes_of_several_fields_come_in_the_order_the_spec_writes_them() -> None:
    old = example_spec()
    new = _edited(old, timeframe="H4", sizing__lots=0.2)
    assert [change.path for change in spec_diff(old, new)] == ["sizing.lots", "timeframe"]
    assert spec_diff(new, old)[0] == Change("sizing.lots", 0.2, 0.1)


def test_plain_json_objects_compare_as_well_as_specs() -> None:
    assert spec_diff({"a": [1, 2], "b": True}, {"a": [1], "b": 1}) == [
        Change("a[1]", 2, ABSENT),
        Change("b", True, 1),
    ]
