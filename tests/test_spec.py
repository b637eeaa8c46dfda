"""StrategySpec: every validation problem named by path, the spec's identity, schema, defaults."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from nl_trader.errors import InvalidInputError
from nl_trader.spec import (
    SpecError,
    StrategySpec,
    canonical_json,
    defaults_filled,
    json_schema,
    parse_spec,
    spec_hash,
)
from nl_trader.strategy.examples import EXAMPLES_DIR
from nl_trader.strategy.indicators import PRICE_FIELDS, REGISTRY

try:
    import jsonschema
except ImportError:  # pragma: no cover - jsonschema is an optional test dependency
    jsonschema = None

Spec = dict[str, Any]

MA_CROSS: Spec = {
    "name": "ma_cross",
    "symbols": ["EURUSD"],
    "timeframe": "H1",
    "indicators": [
        {"id": "fast", "kind": "sma", "params": {"period": 10}},
        {"id": "slow", "kind": "sma", "params": {"period": 30}},
    ],
    "long_entry": {"op": "crosses_above", "left": "fast", "right": "slow"},
    "short_entry": {"op": "crosses_below", "left": "fast", "right": "slow"},
    "exits": {"stop_loss": {"kind": "pips", "value": 30}},
}


def spec(**changes: Any) -> Spec:
    """The MA-cross spec with top-level keys replaced (a value of None removes the key)."""
    data = copy.deepcopy(MA_CROSS)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_indicators(*extra: Spec, **changes: Any) -> Spec:
    return spec(indicators=[*copy.deepcopy(MA_CROSS["indicators"]), *extra], **changes)


def stop(**exits: Any) -> Spec:
    """Exits with the 30-pip stop plus ``exits``."""
    return {"stop_loss": {"kind": "pips", "value": 30}, **exits}


def problems_of(data: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return list(caught.value.problems)


def problem_at(data: object, path: str) -> str:
    """The problem reported at ``path`` (the text after ``path: ``)."""
    lines = problems_of(data)
    found = [line[len(path) + 2 :] for line in lines if line.startswith(f"{path}: ")]
    assert found, f"no problem at {path!r}; problems: {lines}"
    return found[0]


def test_the_ma_cross_spec_is_valid() -> None:
    parsed = parse_spec(MA_CROSS)
    assert isinstance(parsed, StrategySpec)
    assert parsed.indicator("fast") is not None
    assert parsed.exits.stop_loss is not None
    assert parsed.exits.stop_loss.value == 30


def test_a_spec_error_is_an_invalid_input_error_listing_path_problem_lines() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec(timeframe="H5"))
    assert isinstance(caught.value, InvalidInputError)
    assert isinstance(caught.value.problems, tuple)
    assert all(": " in line for line in caught.value.problems)


# ---- every problem, named by path --------------------------------------------------------------
# (id, the spec, the path of the problem, fragments its message must contain)
CASES: list[tuple[str, Spec | str | Callable[[], object], str, tuple[str, ...]]] = [
    (
        "unknown_indicator_kind_lists_the_available_ones",
        spec(indicators=[{"id": "fast", "kind": "supertrend"}, {"id": "slow", "kind": "sma"}]),
        "indicators[0].kind",
        ("unknown indicator 'supertrend'", "available:", *sorted(REGISTRY)),
    ),
    (
        "unknown_indicator_parameter",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"length": 10}},
                {"id": "slow", "kind": "sma"},
            ]
        ),
        "indicators[0].params.length",
        ("unknown parameter of sma", "period, source"),
    ),
    (
        "period_below_its_range",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"period": 0}},
                {"id": "slow", "kind": "sma"},
            ]
        ),
        "indicators[0].params.period",
        ("0 is out of range 1..1000",),
    ),
    (
        "rsi_period_above_its_range",
        with_indicators({"id": "r", "kind": "rsi", "params": {"period": 501}}),
        "indicators[2].params.period",
        ("501 is out of range 2..500",),
    ),
    (
        "period_as_text",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"period": "ten"}},
                {"id": "slow", "kind": "sma"},
            ]
        ),
        "indicators[0].params.period",
        ("expected int", "'ten'"),
    ),
    (
        "fractional_period",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"period": 2.5}},
                {"id": "slow", "kind": "sma"},
            ]
        ),
        "indicators[0].params.period",
        ("expected int", "2.5"),
    ),
    (
        "period_as_a_bool",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"period": True}},
                {"id": "slow", "kind": "sma"},
            ]
        ),
        "indicators[0].params.period",
        ("expected int", "True"),
    ),
    (
        "source_not_a_price_field",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"source": "volume"}},
                {"id": "slow", "kind": "sma"},
            ]
        ),
        "indicators[0].params.source",
        ("'volume' is not one of", *PRICE_FIELDS),
    ),
    (
        "macd_fast_not_below_slow",
        with_indicators({"id": "m", "kind": "macd", "params": {"fast": 26, "slow": 12}}),
        "indicators[2].params.fast",
        ("fast period 26 must be below slow 12",),
    ),
    (
        "macd_fast_equal_to_the_default_slow",
        with_indicators({"id": "m", "kind": "macd", "params": {"fast": 26}}),
        "indicators[2].params.fast",
        ("fast period 26 must be below slow 26",),
    ),
    (
        "indicator_id_with_capitals",
        spec(indicators=[{"id": "Fast", "kind": "sma"}, {"id": "slow", "kind": "sma"}]),
        "indicators[0].id",
        ("'Fast' is not an id",),
    ),
    (
        "indicator_id_starting_with_a_digit",
        spec(indicators=[{"id": "1fast", "kind": "sma"}, {"id": "slow", "kind": "sma"}]),
        "indicators[0].id",
        ("'1fast' is not an id",),
    ),
    (
        "indicator_id_used_twice",
        with_indicators({"id": "fast", "kind": "ema"}),
        "indicators",
        ("the id 'fast' is used twice",),
    ),
    (
        "indicator_id_equal_to_a_price_field",
        with_indicators({"id": "close", "kind": "ema"}),
        "indicators[2].id",
        ("'close' is a price field",),
    ),
    (
        "reference_to_an_unknown_series",
        spec(long_entry={"op": "gt", "left": "close", "right": "trend"}),
        "long_entry.right.series",
        ("'trend' is neither a price field", "fast, slow"),
    ),
    (
        "reference_to_an_unknown_series_in_a_nested_rule",
        spec(
            long_entry={
                "op": "all",
                "conditions": [
                    {"op": "gt", "left": "fast", "right": "slow"},
                    {"op": "not", "condition": {"op": "rising", "series": "trend"}},
                ],
            }
        ),
        "long_entry.conditions[1].condition.series.series",
        ("'trend' is neither a price field",),
    ),
    (
        "multi_output_indicator_without_its_output",
        with_indicators(
            {"id": "macd", "kind": "macd"}, long_entry={"op": "gt", "left": "macd", "right": 0}
        ),
        "long_entry.left.series",
        ("several outputs", "macd.macd", "macd.signal", "macd.histogram"),
    ),
    (
        "unknown_output_of_an_indicator",
        with_indicators(
            {"id": "bb", "kind": "bbands"},
            long_entry={"op": "lt", "left": "close", "right": "bb.bottom"},
        ),
        "long_entry.right.series",
        ("has no output 'bottom'", "upper, middle, lower"),
    ),
    (
        "offset_atr_without_an_atr_indicator",
        spec(
            long_entry={"op": "gt", "left": {"series": "close", "offset_atr": 1.0}, "right": "slow"}
        ),
        "long_entry.left.atr",
        ("need 'atr'", "atr indicator"),
    ),
    (
        "offset_atr_naming_a_non_atr_indicator",
        spec(
            long_entry={
                "op": "gt",
                "left": {"series": "close", "offset_atr": 1.0, "atr": "fast"},
                "right": "slow",
            }
        ),
        "long_entry.left.atr",
        ("'fast' is not an atr indicator",),
    ),
    (
        "both_offset_pips_and_offset_atr",
        with_indicators(
            {"id": "atr14", "kind": "atr"},
            long_entry={
                "op": "gt",
                "left": {"series": "close", "offset_pips": 5, "offset_atr": 1, "atr": "atr14"},
                "right": "slow",
            },
        ),
        "long_entry.left",
        ("offset_pips or offset_atr, not both",),
    ),
    (
        "no_entry_rule",
        spec(long_entry=None, short_entry=None),
        "long_entry",
        ("no entry rule",),
    ),
    (
        "identical_long_and_short_entry",
        spec(short_entry=MA_CROSS["long_entry"]),
        "short_entry",
        ("same rule as long_entry", "both ways"),
    ),
    (
        "long_exit_identical_to_the_long_entry",
        spec(exits=stop(long_exit=MA_CROSS["long_entry"])),
        "exits.long_exit",
        ("same rule as long_entry", "close every trade"),
    ),
    (
        "short_exit_identical_to_the_short_entry",
        spec(exits=stop(short_exit=MA_CROSS["short_entry"])),
        "exits.short_exit",
        ("same rule as short_entry",),
    ),
    (
        "comparison_of_a_series_with_itself",
        spec(long_entry={"op": "crosses_above", "left": "fast", "right": "fast"}),
        "long_entry",
        ("compares 'fast' with itself",),
    ),
    (
        "comparison_of_two_numbers",
        spec(long_entry={"op": "gt", "left": 70, "right": 30}),
        "long_entry",
        ("compares two numbers",),
    ),
    (
        "between_with_low_above_high",
        spec(long_entry={"op": "between", "value": "fast", "low": 70, "high": 30}),
        "long_entry",
        ("low 70.0 is above high 30.0", "never true"),
    ),
    (
        "no_stop_loss_given",
        spec(exits={}),
        "exits.stop_loss",
        ("a stop loss is required", "no_stop_loss"),
    ),
    (
        "no_stop_loss_waived_yet_a_stop_given",
        spec(exits=stop(no_stop_loss=True)),
        "exits.no_stop_loss",
        ("a stop loss is given",),
    ),
    (
        "atr_stop_without_atr",
        spec(exits={"stop_loss": {"kind": "atr", "value": 2}}),
        "exits.stop_loss.atr",
        ("need 'atr'",),
    ),
    (
        "atr_stop_naming_a_moving_average",
        spec(exits={"stop_loss": {"kind": "atr", "value": 2, "atr": "slow"}}),
        "exits.stop_loss.atr",
        ("'slow' is not an atr indicator",),
    ),
    (
        "atr_take_profit_without_atr",
        spec(exits=stop(take_profit={"kind": "atr", "value": 3})),
        "exits.take_profit.atr",
        ("need 'atr'",),
    ),
    (
        "atr_trailing_stop_without_atr",
        spec(exits=stop(trailing_stop={"kind": "atr", "distance": 2})),
        "exits.trailing_stop.atr",
        ("need 'atr'",),
    ),
    (
        "percent_stop_of_50_or_more",
        spec(exits={"stop_loss": {"kind": "percent", "value": 50}}),
        "exits.stop_loss.value",
        ("50.0% away is not a stop",),
    ),
    (
        "risk_reward_target_without_a_stop",
        spec(exits={"no_stop_loss": True, "take_profit": {"kind": "risk_reward", "value": 2}}),
        "exits.take_profit",
        ("risk:reward", "needs a stop loss"),
    ),
    (
        "break_even_lock_not_below_its_trigger",
        spec(exits=stop(break_even={"trigger_pips": 10, "lock_pips": 12})),
        "exits.break_even.lock_pips",
        ("locking 12.0 pips", "trigger_pips is 10.0"),
    ),
    (
        "market_entry_with_an_offset",
        spec(entry={"order": "market", "offset_pips": 5}),
        "entry.offset_pips",
        ("a market entry has no offset pips",),
    ),
    (
        "market_entry_with_expiry_bars",
        spec(entry={"order": "market", "expiry_bars": 3}),
        "entry.expiry_bars",
        ("a market entry has no expiry bars",),
    ),
    (
        "market_entry_with_an_expiry_time",
        spec(entry={"order": "market", "expiry_time": "17:00"}),
        "entry.expiry_time",
        ("a market entry has no expiry time",),
    ),
    (
        "limit_entry_without_an_offset",
        spec(entry={"order": "limit"}),
        "entry.offset_pips",
        ("a limit at the current price is a market order",),
    ),
    (
        "limit_offset_on_a_stop_entry",
        spec(entry={"order": "stop", "offset_pips": 5, "limit_offset_pips": 2}),
        "entry.limit_offset_pips",
        ("only a stop_limit entry",),
    ),
    (
        "expiry_bars_and_expiry_time_together",
        spec(entry={"order": "stop", "offset_pips": 5, "expiry_bars": 3, "expiry_time": "17:00"}),
        "entry.expiry_time",
        ("expiry_bars or expiry_time, not both",),
    ),
    (
        "risk_percent_sizing_without_a_stop",
        spec(exits={"no_stop_loss": True}, sizing={"method": "risk_percent", "risk_pct": 1}),
        "sizing.method",
        ("risk_percent sizes a trade from its stop distance", "no stop loss"),
    ),
    (
        "risk_money_sizing_without_a_stop",
        spec(exits={"no_stop_loss": True}, sizing={"method": "risk_money", "risk_money": 100}),
        "sizing.method",
        ("risk_money sizes a trade from its stop distance",),
    ),
    (
        "risk_percent_sizing_without_risk_pct",
        spec(sizing={"method": "risk_percent"}),
        "sizing.risk_pct",
        ("risk_percent sizing needs risk_pct",),
    ),
    (
        "risk_money_sizing_without_risk_money",
        spec(sizing={"method": "risk_money"}),
        "sizing.risk_money",
        ("risk_money sizing needs risk_money",),
    ),
    (
        "lots_above_max_lots",
        spec(sizing={"lots": 20}),
        "sizing.lots",
        ("20.0 lots is above max_lots 10.0",),
    ),
    (
        "lots_below_min_lots",
        spec(sizing={"lots": 0.05, "min_lots": 0.1}),
        "sizing.lots",
        ("0.05 lots is below min_lots 0.1",),
    ),
    (
        "min_lots_above_max_lots",
        spec(sizing={"lots": 1, "min_lots": 5, "max_lots": 2}),
        "sizing.min_lots",
        ("5.0 is above max_lots 2.0",),
    ),
    (
        "lots_above_the_100_lot_limit",
        spec(sizing={"lots": 150, "max_lots": 100}),
        "sizing.lots",
        ("less than or equal to 100",),
    ),
    (
        "max_lots_above_the_100_lot_limit",
        spec(sizing={"max_lots": 500}),
        "sizing.max_lots",
        ("less than or equal to 100",),
    ),
    (
        "risk_pct_above_the_10_percent_limit",
        spec(sizing={"method": "risk_percent", "risk_pct": 25}),
        "sizing.risk_pct",
        ("less than or equal to 10",),
    ),
    (
        "pyramiding_beyond_max_open_positions",
        spec(pyramiding=3, max_open_positions=2),
        "pyramiding",
        ("3 entries in one direction", "max_open_positions 2"),
    ),
    (
        "empty_session",
        spec(filters={"sessions": [{"start": "08:00", "end": "08:00"}]}),
        "filters.sessions[0]",
        ("empty session",),
    ),
    (
        "no_weekdays",
        spec(filters={"weekdays": []}),
        "filters.weekdays",
        ("no weekday left to trade on",),
    ),
    (
        "unknown_weekday",
        spec(filters={"weekdays": ["mon", "funday"]}),
        "filters.weekdays[1]",
        ("'mon'", "'sun'"),
    ),
    (
        "session_start_without_a_leading_zero",
        spec(filters={"sessions": [{"start": "8:00", "end": "12:00"}]}),
        "filters.sessions[0].start",
        ("'8:00' is not a time of day as HH:MM",),
    ),
    (
        "session_end_at_hour_25",
        spec(filters={"sessions": [{"start": "08:00", "end": "25:00"}]}),
        "filters.sessions[0].end",
        ("'25:00' is not a time of day",),
    ),
    (
        "close_at_with_one_minute_digit",
        spec(exits=stop(close_at="16:3")),
        "exits.close_at",
        ("'16:3' is not a time of day as HH:MM",),
    ),
    (
        "expiry_time_not_hh_mm",
        spec(entry={"order": "stop", "offset_pips": 5, "expiry_time": "5pm"}),
        "entry.expiry_time",
        ("'5pm' is not a time of day",),
    ),
    (
        "session_in_an_unknown_time_zone",
        spec(
            filters={
                "sessions": [{"start": "08:00", "end": "12:00", "timezone": "Europe/Atlantis"}]
            }
        ),
        "filters.sessions[0].timezone",
        ("'Europe/Atlantis' is not a time zone name",),
    ),
    (
        "exits_in_an_unknown_time_zone",
        spec(exits=stop(timezone="EST5")),
        "exits.timezone",
        ("'EST5' is not a time zone name",),
    ),
    (
        "symbol_with_a_space",
        spec(symbols=["EUR USD"]),
        "symbols",
        ("'EUR USD' is not a symbol name",),
    ),
    (
        "symbol_listed_twice",
        spec(symbols=["EURUSD", "GBPUSD", "EURUSD"]),
        "symbols",
        ("listed twice",),
    ),
    (
        "unknown_timeframe",
        spec(timeframe="H5"),
        "timeframe",
        ("'H1'", "'D1'"),
    ),
    (
        "unknown_condition_op",
        spec(long_entry={"op": "above", "left": "fast", "right": "slow"}),
        "long_entry",
        ("unknown condition op 'above'", "crosses_above", "between"),
    ),
    (
        "unknown_condition_op_in_a_nested_rule",
        spec(long_entry={"op": "any", "conditions": [{"op": "above", "left": "fast", "right": 1}]}),
        "long_entry.any.conditions[0]",
        ("unknown condition op 'above'",),
    ),
    (
        "condition_without_an_op",
        spec(long_entry={"left": "fast", "right": "slow"}),
        "long_entry",
        ("needs an 'op'",),
    ),
    (
        "operand_as_a_bool",
        spec(long_entry={"op": "gt", "left": "fast", "right": True}),
        "long_entry.gt.right",
        ("got a bool",),
    ),
    (
        "unknown_top_level_field",
        spec(leverage=100),
        "leverage",
        ("unknown field",),
    ),
    (
        "missing_name",
        spec(name=None),
        "name",
        ("required field is missing",),
    ),
    (
        "schema_version_2",
        spec(schema_version=2),
        "schema_version",
        ("2 is not supported", "version 1"),
    ),
    (
        "invalid_json_text",
        '{"name": "ma_cross", "symbols": ["EURUSD"],',
        "json",
        ("not valid JSON", "line 1"),
    ),
    ("json_array_instead_of_an_object", "[1, 2, 3]", "spec", ("expected a JSON object", "list")),
    ("number_instead_of_an_object", lambda: 42, "spec", ("expected a JSON object", "int")),
]


@pytest.mark.parametrize(
    ("data", "path", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_spec_is_refused_naming_the_path_and_the_problem(
    data: Spec | str | Callable[[], object], path: str, fragments: tuple[str, ...]
) -> None:
    message = problem_at(data() if callable(data) else data, path)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {path}: {message}"


def test_every_semantic_problem_of_a_spec_is_reported_at_once() -> None:
    data = spec(
        short_entry=MA_CROSS["long_entry"],
        exits={},
        pyramiding=2,
        filters={"weekdays": []},
    )
    paths = {line.split(": ", 1)[0] for line in problems_of(data)}
    assert {"short_entry", "exits.stop_loss", "pyramiding", "filters.weekdays"} <= paths


def test_every_indicator_parameter_problem_is_reported_at_once() -> None:
    data = spec(
        indicators=[
            {"id": "fast", "kind": "sma", "params": {"period": 0, "length": 3}},
            {"id": "slow", "kind": "sma", "params": {"source": "volume"}},
        ]
    )
    paths = {line.split(": ", 1)[0] for line in problems_of(data)}
    assert {
        "indicators[0].params.period",
        "indicators[0].params.length",
        "indicators[1].params.source",
    } <= paths


def test_a_limit_entry_anchored_on_a_band_needs_no_offset() -> None:
    data = with_indicators(
        {"id": "bb", "kind": "bbands"},
        entry={"order": "limit", "anchor": "bb.lower"},
    )
    assert parse_spec(data).entry.anchor is not None


def test_a_spec_may_trade_without_a_stop_when_it_says_so() -> None:
    assert parse_spec(spec(exits={"no_stop_loss": True})).exits.stop_loss is None


def test_between_on_two_series_is_not_judged_by_its_bounds() -> None:
    data = with_indicators(
        {"id": "bb", "kind": "bbands"},
        long_entry={"op": "between", "value": "close", "low": "bb.lower", "high": "bb.upper"},
    )
    parse_spec(data)


# ---- identity ----------------------------------------------------------------------------------
def hash_of(data: object) -> str:
    return spec_hash(parse_spec(data))


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def test_the_hash_ignores_key_order() -> None:
    assert json.dumps(reversed_keys(MA_CROSS)) != json.dumps(MA_CROSS)
    assert hash_of(reversed_keys(MA_CROSS)) == hash_of(MA_CROSS)


def test_the_hash_reads_10_and_10_0_as_the_same_number() -> None:
    as_floats = spec(
        indicators=[
            {"id": "fast", "kind": "sma", "params": {"period": 10.0}},
            {"id": "slow", "kind": "sma", "params": {"period": 30.0}},
        ],
        exits={"stop_loss": {"kind": "pips", "value": 30.0}},
    )
    assert hash_of(as_floats) == hash_of(MA_CROSS)
    rsi = with_indicators(
        {"id": "r", "kind": "rsi"}, long_entry={"op": "lt", "left": "r", "right": 30}
    )
    rsi_float = with_indicators(
        {"id": "r", "kind": "rsi"}, long_entry={"op": "lt", "left": "r", "right": 30.0}
    )
    assert hash_of(rsi) == hash_of(rsi_float)


def test_the_hash_is_the_same_whether_a_default_is_written_or_left_out() -> None:
    explicit = spec(
        indicators=[
            {"id": "fast", "kind": "sma", "params": {"period": 10, "source": "close"}},
            {"id": "slow", "kind": "sma", "params": {"period": 30, "source": "close"}},
        ],
        long_entry={
            "op": "crosses_above",
            "left": {"series": "fast", "bars_ago": 0},
            "right": "slow",
        },
        entry={"order": "market"},
        sizing={"method": "fixed_lots", "lots": 0.1},
        max_open_positions=1,
        pyramiding=1,
        filters={"weekdays": ["mon", "tue", "wed", "thu", "fri"], "sessions": []},
        schema_version=1,
    )
    assert hash_of(explicit) == hash_of(MA_CROSS)


def test_an_indicator_left_at_its_default_period_hashes_as_the_period_written_out() -> None:
    implicit = spec(
        indicators=[
            {"id": "fast", "kind": "sma"},
            {"id": "slow", "kind": "sma", "params": {"period": 30}},
        ]
    )
    explicit = spec(
        indicators=[
            {"id": "fast", "kind": "sma", "params": {"period": 20}},
            {"id": "slow", "kind": "sma", "params": {"period": 30}},
        ]
    )
    assert hash_of(implicit) == hash_of(explicit)


def test_the_hash_of_json_text_is_the_hash_of_the_dict() -> None:
    text = json.dumps(MA_CROSS, indent=2)
    assert hash_of(text) == hash_of(text.encode("utf-8")) == hash_of(MA_CROSS)


@pytest.mark.parametrize(
    ("what", "changed"),
    [
        (
            "fast period 10 -> 11",
            spec(
                indicators=[
                    {"id": "fast", "kind": "sma", "params": {"period": 11}},
                    {"id": "slow", "kind": "sma", "params": {"period": 30}},
                ]
            ),
        ),
        ("stop 30 -> 31 pips", spec(exits={"stop_loss": {"kind": "pips", "value": 31}})),
        ("stop in percent", spec(exits={"stop_loss": {"kind": "percent", "value": 30}})),
        ("symbol", spec(symbols=["GBPUSD"])),
        ("timeframe", spec(timeframe="H4")),
        ("lots", spec(sizing={"lots": 0.2})),
        (
            "cross one bar ago",
            spec(
                long_entry={
                    "op": "crosses_above",
                    "left": {"series": "fast", "bars_ago": 1},
                    "right": "slow",
                }
            ),
        ),
        (
            "source",
            spec(
                indicators=[
                    {"id": "fast", "kind": "sma", "params": {"period": 10, "source": "typical"}},
                    {"id": "slow", "kind": "sma", "params": {"period": 30}},
                ]
            ),
        ),
        ("weekdays", spec(filters={"weekdays": ["mon", "tue", "wed", "thu"]})),
        ("name", spec(name="ma_cross_2")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_hash_changes_when_any_value_changes(what: str, changed: Spec) -> None:
    assert hash_of(changed) != hash_of(MA_CROSS), what


def test_the_period_20_and_21_strategies_have_different_hashes() -> None:
    def sma_cross(period: int) -> Spec:
        return spec(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"period": period}},
                {"id": "slow", "kind": "sma", "params": {"period": 50}},
            ]
        )

    assert hash_of(sma_cross(20)) != hash_of(sma_cross(21))


def test_the_hash_is_sha256_hex_of_the_canonical_json() -> None:
    parsed = parse_spec(MA_CROSS)
    expected = hashlib.sha256(canonical_json(parsed).encode("utf-8")).hexdigest()
    assert spec_hash(parsed) == expected
    assert len(expected) == 64


def test_canonical_json_has_sorted_keys_and_no_whitespace() -> None:
    text = canonical_json(parse_spec(MA_CROSS))
    assert not any(char.isspace() for char in text)
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert list(data) == sorted(data)
    assert list(data["exits"]) == sorted(data["exits"])


def test_canonical_json_spells_out_every_default() -> None:
    data = json.loads(canonical_json(parse_spec(MA_CROSS)))
    assert data["sizing"]["lots"] == 0.1
    assert data["max_open_positions"] == 1
    assert data["indicators"][0]["params"] == {"period": 10, "source": "close"}


def test_canonical_json_keeps_a_chinese_name_readable() -> None:
    parsed = parse_spec(spec(name="均線交叉"))
    assert "均線交叉" in canonical_json(parsed)


@pytest.mark.parametrize("name", ["ma_cross", "均線交叉"])
def test_a_spec_round_trips_through_its_canonical_json(name: str) -> None:
    original = parse_spec(
        with_indicators(
            {"id": "atr14", "kind": "atr"},
            {"id": "bb", "kind": "bbands", "params": {"deviations": 2}},
            name=name,
            long_entry={
                "op": "all",
                "conditions": [
                    {"op": "crosses_above", "left": "fast", "right": "slow"},
                    {
                        "op": "gt",
                        "left": "close",
                        "right": {"series": "bb.lower", "offset_atr": -0.5, "atr": "atr14"},
                    },
                ],
            },
            entry={"order": "stop", "offset_pips": 2, "expiry_bars": 3},
            exits={
                "stop_loss": {"kind": "atr", "value": 2, "atr": "atr14"},
                "take_profit": {"kind": "risk_reward", "value": 2},
                "break_even": {"trigger_pips": 20, "lock_pips": 2},
                "close_at": "21:00",
                "timezone": "Europe/London",
            },
            sizing={"method": "risk_percent", "risk_pct": 1},
            filters={"sessions": [{"start": "07:00", "end": "16:00", "timezone": "Europe/London"}]},
        )
    )
    again = parse_spec(canonical_json(original))
    assert spec_hash(again) == spec_hash(original)
    assert canonical_json(again) == canonical_json(original)


def test_a_parsed_spec_is_returned_as_it_is() -> None:
    parsed = parse_spec(MA_CROSS)
    assert parse_spec(parsed) is parsed


def test_a_spec_is_frozen() -> None:
    parsed = parse_spec(MA_CROSS)
    with pytest.raises(ValidationError):
        parsed.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        parsed.exits.stop_loss.value = 5  # type: ignore[misc, union-attr]
    with pytest.raises(ValidationError):
        parsed.indicators[0].kind = "ema"  # type: ignore[misc]


EXTRA_KEYS: list[tuple[str, Spec]] = [
    ("leverage", spec(leverage=100)),
    (
        "indicators[0].colour",
        spec(
            indicators=[
                {"id": "fast", "kind": "sma", "colour": "red"},
                {"id": "slow", "kind": "sma"},
            ]
        ),
    ),
    (
        "long_entry.crosses_above.strength",
        spec(long_entry={"op": "crosses_above", "left": "fast", "right": "slow", "strength": 2}),
    ),
    (
        "long_entry.crosses_above.left.Ref.shift",
        spec(
            long_entry={
                "op": "crosses_above",
                "left": {"series": "fast", "shift": 1},
                "right": "slow",
            }
        ),
    ),
    ("entry.slippage", spec(entry={"order": "market", "slippage": 3})),
    (
        "exits.stop_loss.colour",
        spec(exits={"stop_loss": {"kind": "pips", "value": 30, "colour": 1}}),
    ),
    (
        "exits.take_profit.partial",
        spec(exits=stop(take_profit={"kind": "pips", "value": 60, "partial": 0.5})),
    ),
    ("exits.trailing_stop.step", spec(exits=stop(trailing_stop={"distance": 20, "step": 5}))),
    ("exits.break_even.after", spec(exits=stop(break_even={"trigger_pips": 20, "after": 3}))),
    ("exits.hedge", spec(exits=stop(hedge=True))),
    ("sizing.leverage", spec(sizing={"lots": 0.1, "leverage": 30})),
    ("filters.news", spec(filters={"news": False})),
    (
        "filters.sessions[0].name",
        spec(filters={"sessions": [{"start": "08:00", "end": "12:00", "name": "London"}]}),
    ),
]


@pytest.mark.parametrize(("path", "data"), EXTRA_KEYS, ids=[path for path, _ in EXTRA_KEYS])
def test_an_unknown_key_is_refused_at_every_level(path: str, data: Spec) -> None:
    assert problem_at(data, path) == "unknown field"


# ---- JSON Schema -------------------------------------------------------------------------------
needs_jsonschema = pytest.mark.skipif(
    jsonschema is None, reason="the jsonschema package is not installed"
)


def test_the_schema_lists_every_indicator_with_its_params_and_outputs() -> None:
    catalogue = json_schema()["x-indicators"]
    assert set(catalogue) == set(REGISTRY)
    for name, definition in REGISTRY.items():
        assert catalogue[name]["outputs"] == list(definition.outputs)
        assert set(catalogue[name]["params"]) == set(definition.params)
        for key, param in definition.params.items():
            entry = catalogue[name]["params"][key]
            assert entry["default"] == param.default
            assert entry["type"] == param.kind.__name__
            if param.choices:
                assert entry["enum"] == list(param.choices)
            else:
                assert (entry["minimum"], entry["maximum"]) == (param.minimum, param.maximum)
    assert json_schema()["x-price-fields"] == list(PRICE_FIELDS)


def test_the_schema_is_json() -> None:
    schema = json_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["type"] == "object"
    assert {"name", "symbols", "timeframe"} <= set(schema["required"])


@needs_jsonschema
def test_the_schema_is_a_valid_json_schema() -> None:
    validator = jsonschema.validators.validator_for(json_schema())
    validator.check_schema(json_schema())


VALID_FOR_BOTH: list[tuple[str, Spec]] = [
    ("ma_cross_with_series_names", MA_CROSS),
    (
        "refs_and_nested_rules",
        with_indicators(
            {"id": "atr14", "kind": "atr"},
            {"id": "r", "kind": "rsi", "params": {"period": 7}},
            long_entry={
                "op": "all",
                "conditions": [
                    {"op": "between", "value": "r", "low": 30, "high": 70},
                    {"op": "not", "condition": {"op": "falling", "series": "slow", "bars": 2}},
                    {
                        "op": "gt",
                        "left": "close",
                        "right": {"series": "fast", "offset_atr": 0.5, "atr": "atr14"},
                    },
                ],
            },
            entry={
                "order": "stop_limit",
                "anchor": "high",
                "offset_pips": 2,
                "limit_offset_pips": 1,
            },
            exits={
                "stop_loss": {"kind": "atr", "value": 2, "atr": "atr14"},
                "trailing_stop": {"distance": 15},
            },
            sizing={"method": "risk_percent", "risk_pct": 1.5},
            filters={"sessions": [{"start": "22:00", "end": "06:00"}], "max_spread_pips": 2},
        ),
    ),
]
INVALID_FOR_BOTH: list[tuple[str, Spec]] = [
    ("missing_timeframe", spec(timeframe=None)),
    ("unknown_timeframe", spec(timeframe="H5")),
    ("unknown_field", spec(leverage=100)),
    ("unknown_nested_field", spec(exits={"stop_loss": {"kind": "pips", "value": 30, "colour": 1}})),
    ("unknown_condition_op", spec(long_entry={"op": "above", "left": "fast", "right": "slow"})),
    ("stop_kind_points", spec(exits={"stop_loss": {"kind": "points", "value": 30}})),
    ("negative_stop", spec(exits={"stop_loss": {"kind": "pips", "value": -30}})),
    ("lots_above_100", spec(sizing={"lots": 150})),
    ("no_symbols", spec(symbols=[])),
    ("unknown_weekday", spec(filters={"weekdays": ["funday"]})),
    ("schema_version_2", spec(schema_version=2)),
]


@needs_jsonschema
@pytest.mark.parametrize(
    ("data"), [d for _, d in VALID_FOR_BOTH], ids=[i for i, _ in VALID_FOR_BOTH]
)
def test_a_valid_spec_passes_both_the_json_schema_and_parse_spec(data: Spec) -> None:
    parse_spec(data)
    jsonschema.validate(data, json_schema())


@needs_jsonschema
@pytest.mark.parametrize(
    ("data"), [d for _, d in INVALID_FOR_BOTH], ids=[i for i, _ in INVALID_FOR_BOTH]
)
def test_a_malformed_spec_fails_both_the_json_schema_and_parse_spec(data: Spec) -> None:
    with pytest.raises(SpecError):
        parse_spec(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json_schema())


# ---- defaults filled ---------------------------------------------------------------------------
def test_defaults_filled_names_the_lot_size_position_limit_and_indicator_sources() -> None:
    filled = dict(defaults_filled(parse_spec(MA_CROSS)))
    assert filled["sizing.lots"] == 0.1
    assert filled["max_open_positions"] == 1
    assert filled["indicators[0].params.source"] == "close"
    assert filled["indicators[1].params.source"] == "close"


def test_defaults_filled_leaves_out_what_the_author_gave_and_options_not_used() -> None:
    filled = dict(defaults_filled(parse_spec(MA_CROSS)))
    for path in (
        "name",
        "symbols",
        "timeframe",
        "exits.stop_loss",
        "exits.trailing_stop",
        "exits.take_profit",
        "exits.break_even",
        "exits.no_stop_loss",
        "indicators[0].params.period",
        "schema_version",
        "description",
        "entry.offset_pips",
        "sizing.risk_pct",
    ):
        assert path not in filled, path


def test_defaults_filled_leaves_out_a_lot_size_the_author_wrote() -> None:
    filled = dict(defaults_filled(parse_spec(spec(sizing={"lots": 0.1}, max_open_positions=1))))
    assert "sizing.lots" not in filled
    assert "max_open_positions" not in filled
    assert filled["sizing.max_lots"] == 10.0  # the rest of sizing is still a default


def test_defaults_filled_leaves_out_the_lot_size_when_sizing_by_risk() -> None:
    filled = dict(
        defaults_filled(parse_spec(spec(sizing={"method": "risk_percent", "risk_pct": 1})))
    )
    assert "sizing.lots" not in filled


def test_defaults_filled_names_each_omitted_parameter_of_a_bare_indicator() -> None:
    filled = dict(defaults_filled(parse_spec(with_indicators({"id": "m", "kind": "macd"}))))
    assert filled["indicators[2].params.fast"] == 12
    assert filled["indicators[2].params.slow"] == 26
    assert filled["indicators[2].params.signal"] == 9
    assert filled["indicators[2].params.source"] == "close"


def test_the_order_weekdays_are_listed_in_does_not_change_the_strategy() -> None:
    base = {
        "name": "x",
        "symbols": ["EURUSD"],
        "timeframe": "H1",
        "long_entry": {"op": "gt", "left": "close", "right": 1.0},
        "exits": {"stop_loss": {"kind": "pips", "value": 20}},
    }
    first = parse_spec({**base, "filters": {"weekdays": ["fri", "mon", "wed"]}})
    second = parse_spec({**base, "filters": {"weekdays": ["mon", "wed", "fri", "mon"]}})
    assert first.filters.weekdays == ("mon", "wed", "fri")
    assert spec_hash(first) == spec_hash(second)


def test_a_parsed_spec_cannot_be_changed_in_place() -> None:
    spec = parse_spec(
        {
            "name": "x",
            "symbols": ["EURUSD"],
            "timeframe": "H1",
            "long_entry": {"op": "gt", "left": "close", "right": 1.0},
            "exits": {"stop_loss": {"kind": "pips", "value": 20}},
        }
    )
    assert isinstance(spec.symbols, tuple)
    with pytest.raises(AttributeError):
        spec.symbols.append("GBPUSD")  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_level_or_offset_that_is_not_a_finite_number_is_refused(bad: float) -> None:
    """A NaN level never compares true (a strategy that silently never trades); JSON has none."""
    data = json.loads((EXAMPLES_DIR / "rsi_mean_reversion.json").read_text(encoding="utf-8"))
    data["long_entry"]["right"] = bad
    with pytest.raises(SpecError) as level:
        parse_spec(data)
    assert any("long_entry" in p and "finite number" in p for p in level.value.problems)
    data["long_entry"]["right"] = 30
    data["long_entry"]["left"] = {"series": "rsi", "offset_pips": bad}
    with pytest.raises(SpecError) as offset:
        parse_spec(data)
    assert any("offset_pips: Input should be a finite number" in p for p in offset.value.problems)
