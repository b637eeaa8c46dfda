"""The compiled strategy (nl_trader.strategy.compile): signals from bars, decisions at a bar's close.

Bars are built by hand (UTC H1 bars, bid prices, spread in points) so that each expected order can
be worked out on paper: on EURUSD a pip is 0.0001 and a point 0.00001, so a close of 1.10000 with a
spread of 10 points has an ask of 1.10010. ``decide`` is called directly with a hand-built ``Book``;
``run_strategy`` (tests/strategy/conftest.py) replays bars into the simulated broker end to end.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nl_trader.data.sample import sample_bars
from nl_trader.orders import OrderParams, parse_order_params
from nl_trader.spec import StrategySpec, parse_spec
from nl_trader.strategy.compile import (
    Book,
    CompiledStrategy,
    OpenPosition,
    PendingOrder,
    Signals,
    book_from_records,
    compile_strategy,
)
from nl_trader.strategy.indicators import REGISTRY, compute
from tests.strategy.conftest import run_strategy

MONDAY = pd.Timestamp("2025-06-02 00:00", tz="UTC")
HOUR = 3600
ALWAYS = {"op": "gt", "left": "close", "right": 0}
ALWAYS_SHORT = {"op": "gt", "left": "open", "right": 0}
NEVER = {"op": "lt", "left": "close", "right": 0}
UP_BAR = {"op": "gt", "left": "close", "right": "open"}
DOWN_BAR = {"op": "lt", "left": "close", "right": "open"}
SL_20 = {"stop_loss": {"kind": "pips", "value": 20}}
EMPTY_BOOK = Book(equity=10_000.0, value_per_price=100_000.0)


# ---- builders ------------------------------------------------------------------------------------
def make_spec(**fields_: Any) -> StrategySpec:
    """An H1 EURUSD spec that goes long on every bar with a 20-pip stop, with ``fields_`` changed.

    A field given as None is left out.
    """
    data: dict[str, Any] = {
        "name": "compile test",
        "symbols": ["EURUSD"],
        "timeframe": "H1",
        "long_entry": ALWAYS,
        "exits": SL_20,
    }
    data.update(fields_)
    return parse_spec({key: value for key, value in data.items() if value is not None})


def make_bars(
    closes: list[float],
    *,
    start: pd.Timestamp = MONDAY,
    spread: float | list[float] = 10,
    opens: list[float] | None = None,
    highs: list[float] | None = None,
    lows: list[float] | None = None,
    index: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Hourly bid bars from ``start``; each opens at the previous close unless told otherwise."""
    close = np.asarray(closes, dtype="float64")
    open_ = np.r_[close[0], close[:-1]] if opens is None else np.asarray(opens, dtype="float64")
    high = np.maximum(open_, close) if highs is None else np.asarray(highs, dtype="float64")
    low = np.minimum(open_, close) if lows is None else np.asarray(lows, dtype="float64")
    if index is None:
        index = pd.date_range(start=start, periods=len(close), freq="1h")
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "spread": np.broadcast_to(np.asarray(spread, dtype="float64"), close.shape),
        },
        index=index,
    )


def ranged_bars(closes: list[float], width: float = 0.0020) -> pd.DataFrame:
    """Bars whose true range is exactly ``width`` (each opens at the previous close, and the
    range is centred on the body), so an ATR of any period settles at ``width``."""
    close = np.asarray(closes, dtype="float64")
    open_ = np.r_[close[0], close[:-1]]
    body = np.abs(close - open_)
    assert np.all(body < width)
    low = np.minimum(open_, close) - (width - body) / 2
    return make_bars(closes, highs=list(low + width), lows=list(low))


def signals_of(spec: StrategySpec, bars: pd.DataFrame, symbol: str | None = None) -> Signals:
    return compile_strategy(spec, symbol).prepare(bars)


def long_signal(
    condition: dict[str, Any],
    bars: pd.DataFrame,
    indicators: list[dict[str, Any]] | None = None,
    symbol: str = "EURUSD",
) -> list[bool]:
    """Where ``condition``, as a long entry rule, is true on ``bars``."""
    spec = make_spec(long_entry=condition, indicators=indicators, symbols=[symbol])
    return [bool(v) for v in signals_of(spec, bars).long_entry]


def decide_at(
    spec: StrategySpec,
    bars: pd.DataFrame,
    book: Book = EMPTY_BOOK,
    *,
    i: int = -1,
    symbol: str | None = None,
    backtest: bool = True,
) -> tuple[list[dict[str, Any]], CompiledStrategy]:
    """What the strategy sends at the close of bar ``i`` (default: the last), and the strategy."""
    strategy = compile_strategy(spec, symbol)
    signals = strategy.prepare(bars)
    return strategy.decide(i % len(bars), signals, book, backtest=backtest), strategy


def orders_at(
    spec: StrategySpec, bars: pd.DataFrame, book: Book = EMPTY_BOOK, **kw: Any
) -> list[dict[str, Any]]:
    """What the strategy sends at the close of bar ``i`` (default: the last)."""
    return decide_at(spec, bars, book, **kw)[0]


def bar_close_s(bars: pd.DataFrame, i: int) -> float:
    return float(bars.index[i].timestamp()) + HOUR


def long_at(price: float, *, sl: float = 0.0, ticket: int = 1, volume: float = 0.1) -> OpenPosition:
    return OpenPosition(ticket, True, volume, price, sl, 0.0, MONDAY.timestamp())


def short_at(
    price: float, *, sl: float = 0.0, ticket: int = 2, volume: float = 0.1
) -> OpenPosition:
    return OpenPosition(ticket, False, volume, price, sl, 0.0, MONDAY.timestamp())


def book_with(*positions: OpenPosition, orders: tuple[PendingOrder, ...] = ()) -> Book:
    return Book(equity=10_000.0, positions=positions, orders=orders, value_per_price=100_000.0)


def entries(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if "position" not in o and o["order_type"] != "cancel"]


# ---- conditions ----------------------------------------------------------------------------------
def test_crosses_above_is_true_only_on_the_bar_the_close_moves_above_the_level() -> None:
    bars = make_bars([1.0990, 1.1000, 1.1010, 1.1020, 1.0990, 1.1003])
    rule = {"op": "crosses_above", "left": "close", "right": 1.1}
    # Bar 1 only touches 1.1000 (not above); bar 2 crosses from "at" to above; bar 5 again.
    assert long_signal(rule, bars) == [False, False, True, False, False, True]


def test_crosses_below_is_true_only_on_the_bar_the_close_moves_below_the_level() -> None:
    bars = make_bars([1.1010, 1.1005, 1.0995, 1.0990, 1.1002, 1.0998])
    rule = {"op": "crosses_below", "left": "close", "right": 1.1}
    assert long_signal(rule, bars) == [False, False, True, False, False, True]


def test_a_crossing_needs_the_previous_bar_of_both_series_so_warm_up_never_crosses() -> None:
    # SMA(3) is first known on bar 2, where the close is already above it: no previous value, so
    # that is not a crossing. The close falls back below it and crosses above again on bar 6.
    bars = make_bars([1.10, 1.10, 1.13, 1.13, 1.10, 1.10, 1.14])
    rule = {"op": "crosses_above", "left": "close", "right": "ma"}
    indicators = [{"id": "ma", "kind": "sma", "params": {"period": 3}}]
    assert long_signal(rule, bars, indicators) == [False] * 6 + [True]


def test_gt_and_lt_compare_a_series_with_a_number_or_another_series() -> None:
    bars = make_bars([1.1000, 1.1010, 1.1005, 1.1005])
    assert long_signal({"op": "gt", "left": "close", "right": 1.1004}, bars) == [
        False,
        True,
        True,
        True,
    ]
    # close < open: only the bar that fell (bar 2); an unchanged bar is neither.
    assert long_signal(DOWN_BAR, bars) == [False, False, True, False]
    assert long_signal(UP_BAR, bars) == [False, True, False, False]


def test_between_includes_both_bounds() -> None:
    bars = make_bars([1.0999, 1.1000, 1.1005, 1.1010, 1.1011])
    rule = {"op": "between", "value": "close", "low": 1.1, "high": 1.101}
    assert long_signal(rule, bars) == [False, True, True, True, False]


def test_rising_for_two_bars_needs_two_higher_closes_in_a_row() -> None:
    bars = make_bars([1.10, 1.11, 1.12, 1.13, 1.12, 1.13, 1.14])
    rule = {"op": "rising", "series": "close", "bars": 2}
    assert long_signal(rule, bars) == [False, False, True, True, False, False, True]


def test_falling_for_two_bars_needs_two_lower_closes_in_a_row() -> None:
    bars = make_bars([1.14, 1.13, 1.12, 1.11, 1.12, 1.11, 1.10])
    rule = {"op": "falling", "series": "close", "bars": 2}
    assert long_signal(rule, bars) == [False, False, True, True, False, False, True]


def test_all_any_and_not_combine_rules() -> None:
    bars = make_bars([1.0990, 1.1005, 1.1015, 1.1025])
    above = {"op": "gt", "left": "close", "right": 1.1}
    below = {"op": "lt", "left": "close", "right": 1.102}
    assert long_signal({"op": "all", "conditions": [above, below]}, bars) == [
        False,
        True,
        True,
        False,
    ]
    low_or_high = {
        "op": "any",
        "conditions": [
            {"op": "lt", "left": "close", "right": 1.1},
            {"op": "gt", "left": "close", "right": 1.102},
        ],
    }
    assert long_signal(low_or_high, bars) == [True, False, False, True]
    assert long_signal({"op": "not", "condition": above}, bars) == [True, False, False, False]


def test_not_of_a_rule_whose_input_is_not_ready_stays_false() -> None:
    # SMA(3) is unknown on bars 0 and 1: neither "close > ma" nor its negation holds there.
    bars = make_bars([1.10, 1.09, 1.08, 1.07])
    indicators = [{"id": "ma", "kind": "sma", "params": {"period": 3}}]
    rule = {"op": "not", "condition": {"op": "gt", "left": "close", "right": "ma"}}
    assert long_signal(rule, bars, indicators) == [False, False, True, True]


def test_ref_bars_ago_reads_an_earlier_close_and_is_false_before_it_exists() -> None:
    bars = make_bars([1.1000, 1.1010, 1.1020, 1.1005, 1.0990])
    rule = {"op": "gt", "left": "close", "right": {"series": "close", "bars_ago": 2}}
    assert long_signal(rule, bars) == [False, False, True, False, False]


def test_offset_pips_is_a_ten_thousandth_on_eurusd() -> None:
    # "close more than 10 pips above the open": 11 pips is, 9 pips is not.
    bars = make_bars([1.1011, 1.1009], opens=[1.1000, 1.1000])
    rule = {"op": "gt", "left": "close", "right": {"series": "open", "offset_pips": 10}}
    assert long_signal(rule, bars) == [True, False]


def test_offset_pips_is_a_hundredth_on_usdjpy() -> None:
    bars = make_bars([150.11, 150.09], opens=[150.00, 150.00])
    rule = {"op": "gt", "left": "close", "right": {"series": "open", "offset_pips": 10}}
    assert long_signal(rule, bars, symbol="USDJPY") == [True, False]


def test_offset_atr_shifts_a_series_by_atr_multiples() -> None:
    # Every bar ranges exactly 20 pips, so ATR(3) is 20 pips from bar 3 on; half an ATR is 10 pips.
    bars = ranged_bars([1.1000, 1.1000, 1.1000, 1.1000, 1.1011, 1.1020, 1.1029])
    rule = {
        "op": "gt",
        "left": "close",
        "right": {"series": "open", "offset_atr": 0.5, "atr": "atr3"},
    }
    indicators = [{"id": "atr3", "kind": "atr", "params": {"period": 3}}]
    # Bar 4 gains 11 pips (> 10), bar 5 gains 9 pips, bar 6 gains 9 pips; before bar 3 no ATR.
    assert long_signal(rule, bars, indicators) == [False, False, False, False, True, False, False]


# ---- entries -------------------------------------------------------------------------------------
def test_market_buy_is_sent_at_the_ask_with_stop_and_target_in_pips() -> None:
    spec = make_spec(
        exits={
            "stop_loss": {"kind": "pips", "value": 20},
            "take_profit": {"kind": "pips", "value": 40},
        },
        magic=4242,
        comment="ma cross",
        sizing={"method": "fixed_lots", "lots": 0.3},
    )
    bars = make_bars([1.1000, 1.1000], spread=10)
    orders = orders_at(spec, bars)
    # ask 1.10010: stop 20 pips below it, target 40 pips above it.
    assert orders == [
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "magic": 4242,
            "comment": "ma cross",
            "order_type": "buy",
            "sl": 1.0981,
            "tp": 1.1041,
            "volume": 0.3,
        }
    ]
    assert parse_order_params(orders[0]).is_market


def test_market_sell_is_sent_at_the_bid_with_its_stop_above_and_target_below() -> None:
    spec = make_spec(
        long_entry=None,
        short_entry=ALWAYS,
        exits={
            "stop_loss": {"kind": "pips", "value": 20},
            "take_profit": {"kind": "pips", "value": 40},
        },
    )
    orders = orders_at(spec, make_bars([1.1000, 1.1000]), backtest=False)
    assert orders == [
        {
            "backtest_toggle": False,
            "symbol": "EURUSD",
            "magic": 123456,
            "comment": "nl_trader",
            "order_type": "sell",
            "sl": 1.102,
            "tp": 1.096,
            "volume": 0.1,
        }
    ]


def test_stop_and_target_are_rounded_to_the_symbols_digits() -> None:
    # 0.5% of the ask 1.10010 is 0.0055005: the stop 1.0945995 is sent as 1.09460.
    spec = make_spec(
        exits={
            "stop_loss": {"kind": "percent", "value": 0.5},
            "take_profit": {"kind": "percent", "value": 1.0},
        }
    )
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["sl"] == 1.0946
    assert order["tp"] == 1.1111  # 1.10010 + 0.011001 = 1.111101


def test_usdjpy_stop_in_pips_is_in_hundredths_and_three_digits() -> None:
    spec = make_spec(symbols=["USDJPY"], exits={"stop_loss": {"kind": "pips", "value": 15.5}})
    (order,) = orders_at(spec, make_bars([150.0], spread=10))
    # ask 150.010 (10 points of 0.001); 15.5 pips = 0.155.
    assert order["symbol"] == "USDJPY"
    assert order["sl"] == 149.855


def test_buy_limit_waits_offset_pips_below_the_close() -> None:
    spec = make_spec(entry={"order": "limit", "offset_pips": 15})
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["order_type"] == "buy_limit"
    assert order["price"] == 1.0985
    assert order["sl"] == 1.0965  # 20 pips below the limit price, not below the market
    assert "type_time" not in order


def test_sell_limit_waits_offset_pips_above_the_close() -> None:
    spec = make_spec(
        long_entry=None, short_entry=ALWAYS, entry={"order": "limit", "offset_pips": 15}
    )
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert (order["order_type"], order["price"], order["sl"]) == ("sell_limit", 1.1015, 1.1035)


def test_buy_stop_waits_offset_pips_above_the_close_and_sell_stop_below() -> None:
    long_spec = make_spec(entry={"order": "stop", "offset_pips": 20})
    short_spec = make_spec(
        long_entry=None, short_entry=ALWAYS, entry={"order": "stop", "offset_pips": 20}
    )
    (buy,) = orders_at(long_spec, make_bars([1.1000]))
    (sell,) = orders_at(short_spec, make_bars([1.1000]))
    assert (buy["order_type"], buy["price"], buy["sl"]) == ("buy_stop", 1.102, 1.1)
    assert (sell["order_type"], sell["price"], sell["sl"]) == ("sell_stop", 1.098, 1.1)


def test_buy_stop_limit_has_its_limit_below_the_stop_and_its_stop_loss_below_the_limit() -> None:
    spec = make_spec(entry={"order": "stop_limit", "offset_pips": 20, "limit_offset_pips": 5})
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["order_type"] == "buy_stop_limit"
    assert (order["price"], order["stoplimit"]) == (1.102, 1.1015)
    assert order["sl"] == 1.0995
    parse_order_params(order)


def test_sell_stop_limit_places_its_limit_above_the_stop() -> None:
    spec = make_spec(
        long_entry=None,
        short_entry=ALWAYS,
        entry={"order": "stop_limit", "offset_pips": 20, "limit_offset_pips": 5},
    )
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["order_type"] == "sell_stop_limit"
    assert (order["price"], order["stoplimit"], order["sl"]) == (1.098, 1.0985, 1.1005)
    parse_order_params(order)


def test_a_buy_stop_at_a_level_the_ask_already_passed_is_skipped_not_chased() -> None:
    # Breakout of the 3-bar high: the last bar closes at its own high, so the ask is above it.
    spec = make_spec(
        indicators=[{"id": "dc", "kind": "donchian", "params": {"period": 3}}],
        entry={"order": "stop", "anchor": "dc.upper"},
    )
    bars = make_bars([1.1000, 1.1005, 1.1010])
    orders, strategy = decide_at(spec, bars)
    assert orders == []
    assert sum(strategy.skipped.values()) == 1
    assert any("passed" in reason for reason in strategy.skipped)


def test_a_buy_stop_can_anchor_on_the_donchian_upper_band_plus_pips() -> None:
    spec = make_spec(
        indicators=[{"id": "dc", "kind": "donchian", "params": {"period": 3}}],
        entry={"order": "stop", "anchor": "dc.upper", "offset_pips": 2},
    )
    bars = make_bars(
        [1.1000, 1.1005, 1.0995],
        highs=[1.1010, 1.1030, 1.1000],
        lows=[1.0990, 1.0995, 1.0990],
    )
    (order,) = orders_at(spec, bars)
    # Highest high of the last 3 bars is 1.1030; the stop goes 2 pips above it.
    assert (order["order_type"], order["price"], order["sl"]) == ("buy_stop", 1.1032, 1.1012)


def test_short_entries_use_short_anchor_and_default_to_the_long_anchor() -> None:
    channel = [{"id": "dc", "kind": "donchian", "params": {"period": 3}}]
    bars = make_bars(
        [1.1005, 1.1000, 1.1002],
        highs=[1.1010, 1.1030, 1.1005],
        lows=[1.0980, 1.0995, 1.0990],
    )
    both_bands = make_spec(
        indicators=channel,
        long_entry=ALWAYS,
        short_entry=ALWAYS_SHORT,
        max_open_positions=2,
        entry={"order": "stop", "anchor": "dc.upper", "short_anchor": "dc.lower"},
    )
    orders = orders_at(both_bands, bars)
    # Above the 3-bar high 1.1030 for the long; below the 3-bar low 1.0980 for the short.
    assert [(o["order_type"], o["price"]) for o in orders] == [
        ("buy_stop", 1.103),
        ("sell_stop", 1.098),
    ]
    upper_only = make_spec(
        indicators=channel,
        long_entry=None,
        short_entry=ALWAYS_SHORT,
        entry={"order": "limit", "anchor": "dc.upper", "offset_pips": 10},
    )
    # Without short_anchor a short is anchored on "anchor": a sell limit 10 pips above 1.1030.
    assert [(o["order_type"], o["price"]) for o in orders_at(upper_only, bars)] == [
        ("sell_limit", 1.104)
    ]


def test_a_limit_can_anchor_on_a_band_shifted_by_half_an_atr() -> None:
    spec = make_spec(
        indicators=[
            {"id": "low3", "kind": "lowest", "params": {"period": 3, "source": "low"}},
            {"id": "atr3", "kind": "atr", "params": {"period": 3}},
        ],
        entry={
            "order": "limit",
            "anchor": {"series": "low3", "offset_atr": -0.5, "atr": "atr3"},
        },
    )
    bars = ranged_bars([1.1000, 1.1000, 1.1000, 1.1000, 1.1000])
    (order,) = orders_at(spec, bars)
    # Flat bars ranging 1.0990..1.1010: lowest low 1.0990, minus half of a 20-pip ATR.
    assert (order["order_type"], order["price"]) == ("buy_limit", 1.0980)


def test_a_buy_limit_above_the_ask_is_skipped_as_it_would_fill_at_once() -> None:
    # Anchored on the 3-bar high, 5 pips below it is still above the ask: not a limit any more.
    spec = make_spec(
        indicators=[{"id": "dc", "kind": "donchian", "params": {"period": 3}}],
        entry={"order": "limit", "anchor": "dc.upper", "offset_pips": 5},
    )
    bars = make_bars([1.1000, 1.1002, 1.1001], highs=[1.1000, 1.1030, 1.1001])
    orders, strategy = decide_at(spec, bars)
    assert orders == []
    assert sum(strategy.skipped.values()) == 1


def test_pending_entry_lives_through_expiry_bars_bars_after_the_bar_close() -> None:
    spec = make_spec(entry={"order": "stop", "offset_pips": 10, "expiry_bars": 3})
    bars = make_bars([1.1000] * 5)  # the last bar opens at 04:00 and closes at 05:00 UTC
    (order,) = orders_at(spec, bars)
    # Three bars (05:00-08:00) of life: it expires on the last second of the third bar, so it is
    # gone before the decision at 08:00.
    expected = datetime(2025, 6, 2, 8, 0, tzinfo=UTC) - timedelta(seconds=1)
    assert order["type_time"] == "SPECIFIED"
    assert order["expiration"] == expected
    assert order["expiration"].utcoffset() == timedelta(0)
    assert parse_order_params(order).expiration == int(expected.timestamp())


@pytest.mark.parametrize(
    ("bar_open_utc", "expected_utc"),
    [
        # 08:00 in New York (EDT, UTC-4): expires at 17:00 New York the same day = 21:00 UTC.
        ("2025-06-03 11:00", datetime(2025, 6, 3, 21, 0, tzinfo=UTC)),
        # 18:00 in New York: 17:00 has passed, so it expires at 17:00 the next day.
        ("2025-06-03 21:00", datetime(2025, 6, 4, 21, 0, tzinfo=UTC)),
    ],
)
def test_pending_entry_expires_at_expiry_time_in_the_exits_time_zone(
    bar_open_utc: str, expected_utc: datetime
) -> None:
    spec = make_spec(
        entry={"order": "limit", "offset_pips": 10, "expiry_time": "17:00"},
        exits={**SL_20, "timezone": "America/New_York"},
    )
    (order,) = orders_at(spec, make_bars([1.1000], start=pd.Timestamp(bar_open_utc, tz="UTC")))
    assert order["type_time"] == "SPECIFIED"
    assert order["expiration"] == expected_utc


def test_market_entry_carries_no_expiry() -> None:
    (order,) = orders_at(make_spec(), make_bars([1.1000]))
    assert "expiration" not in order
    assert "type_time" not in order


# ---- stop loss and take profit -------------------------------------------------------------------
def test_stop_and_target_in_atr_multiples_use_the_atr_of_the_signal_bar() -> None:
    spec = make_spec(
        indicators=[{"id": "atr3", "kind": "atr", "params": {"period": 3}}],
        exits={
            "stop_loss": {"kind": "atr", "value": 2, "atr": "atr3"},
            "take_profit": {"kind": "atr", "value": 3, "atr": "atr3"},
        },
    )
    (order,) = orders_at(spec, ranged_bars([1.1000] * 5))
    # ATR 20 pips: the stop 40 pips under the ask 1.10010, the target 60 pips above it.
    assert (order["sl"], order["tp"]) == (1.0961, 1.1061)


@pytest.mark.parametrize(
    "sizing",
    [{"method": "fixed_lots", "lots": 0.1}, {"method": "risk_percent", "risk_pct": 1}],
)
def test_an_entry_is_skipped_not_sent_unprotected_while_its_atr_stop_is_unknown(
    sizing: dict[str, Any],
) -> None:
    spec = make_spec(
        indicators=[{"id": "atr3", "kind": "atr", "params": {"period": 3}}],
        exits={"stop_loss": {"kind": "atr", "value": 2, "atr": "atr3"}},
        sizing=sizing,
    )
    orders, strategy = decide_at(spec, ranged_bars([1.1000, 1.1000]))  # ATR(3) needs 4 bars
    assert orders == []
    assert sum(strategy.skipped.values()) == 1


def test_risk_reward_target_is_the_ratio_times_the_stop_distance() -> None:
    exits = {
        "stop_loss": {"kind": "pips", "value": 20},
        "take_profit": {"kind": "risk_reward", "value": 2.5},
    }
    (buy,) = orders_at(make_spec(exits=exits), make_bars([1.1000]))
    (sell,) = orders_at(
        make_spec(long_entry=None, short_entry=ALWAYS, exits=exits), make_bars([1.1000])
    )
    # Buy at the ask 1.10010: 20 pips of risk, 50 pips of reward.
    assert (buy["sl"], buy["tp"]) == (1.0981, 1.1051)
    # Sell at the bid 1.10000: stop above, target below.
    assert (sell["sl"], sell["tp"]) == (1.102, 1.095)


# ---- exits ---------------------------------------------------------------------------------------
def test_an_opposite_signal_closes_the_long_and_opens_the_short() -> None:
    spec = make_spec(long_entry=UP_BAR, short_entry=DOWN_BAR)
    bars = make_bars([1.1010, 1.1000])
    orders = orders_at(spec, bars, book_with(long_at(1.1005, volume=0.3, ticket=7)))
    assert orders[0] == {
        "backtest_toggle": True,
        "symbol": "EURUSD",
        "magic": 123456,
        "comment": "nl_trader",
        "order_type": "sell",
        "volume": 0.3,
        "position": 7,
    }
    assert [o["order_type"] for o in entries(orders)] == ["sell"]
    parse_order_params(orders[0])


def test_an_opposite_signal_closes_a_short_with_a_buy() -> None:
    spec = make_spec(long_entry=UP_BAR, short_entry=DOWN_BAR, max_open_positions=2)
    orders = orders_at(spec, make_bars([1.1000, 1.1010]), book_with(short_at(1.1020, ticket=9)))
    closes = [o for o in orders if "position" in o]
    assert closes == [
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "magic": 123456,
            "comment": "nl_trader",
            "order_type": "buy",
            "volume": 0.1,
            "position": 9,
        }
    ]


def test_with_on_opposite_signal_false_the_position_is_kept() -> None:
    spec = make_spec(
        long_entry=UP_BAR, short_entry=DOWN_BAR, exits={**SL_20, "on_opposite_signal": False}
    )
    orders, strategy = decide_at(spec, make_bars([1.1010, 1.1000]), book_with(long_at(1.1005)))
    # Kept, and the one-position limit leaves no room for the short.
    assert orders == []
    assert sum(strategy.skipped.values()) == 1


def test_long_exit_rule_closes_longs_only() -> None:
    spec = make_spec(
        long_entry=NEVER,
        exits={**SL_20, "long_exit": {"op": "lt", "left": "close", "right": 1.1}},
        max_open_positions=2,
        pyramiding=2,
    )
    book = book_with(long_at(1.1010, ticket=1), short_at(1.1010, ticket=2))
    orders = orders_at(spec, make_bars([1.0990]), book)
    assert [(o["order_type"], o["position"]) for o in orders] == [("sell", 1)]


def test_short_exit_rule_closes_shorts_only() -> None:
    spec = make_spec(
        long_entry=NEVER,
        exits={**SL_20, "short_exit": {"op": "gt", "left": "close", "right": 1.1}},
        max_open_positions=2,
        pyramiding=2,
    )
    book = book_with(long_at(1.1010, ticket=1), short_at(1.1010, ticket=2))
    orders = orders_at(spec, make_bars([1.1005]), book)
    assert [(o["order_type"], o["position"]) for o in orders] == [("buy", 2)]


def test_max_bars_closes_the_position_after_exactly_that_many_bars() -> None:
    spec = make_spec(long_entry=NEVER, exits={**SL_20, "max_bars": 3})
    bars = make_bars([1.1000] * 6)
    strategy = compile_strategy(spec)
    signals = strategy.prepare(bars)
    # Opened at the close of bar 0 (01:00 UTC).
    position = OpenPosition(5, True, 0.1, 1.1000, 1.0980, 0.0, bar_close_s(bars, 0))
    book = book_with(position)
    closed_at = [i for i in range(1, 6) if strategy.decide(i, signals, book)]
    assert closed_at[0] == 3
    assert strategy.decide(3, signals, book)[0]["position"] == 5


def test_max_bars_end_to_end_closes_three_bars_after_the_fill() -> None:
    spec = make_spec(
        long_entry={"op": "crosses_above", "left": "close", "right": 1.1},
        exits={"stop_loss": {"kind": "pips", "value": 50}, "max_bars": 3},
    )
    run = run_strategy(spec, make_bars([1.0995, 1.0998, 1.1002, 1.1003, 1.1004, 1.1003, 1.1004]))
    assert [(i, o["order_type"], "position" in o) for i, o in run.emitted] == [
        (2, "buy", False),
        (5, "sell", True),
    ]
    assert run.rejected == []
    assert run.broker.positions == {}


def test_trailing_stop_in_pips_follows_the_bid_of_a_long() -> None:
    spec = make_spec(
        long_entry=NEVER, exits={**SL_20, "trailing_stop": {"kind": "pips", "distance": 20}}
    )
    orders = orders_at(spec, make_bars([1.1030]), book_with(long_at(1.1000, sl=1.0980, ticket=3)))
    assert orders == [
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "magic": 123456,
            "comment": "nl_trader",
            "order_type": "modify",
            "position": 3,
            "sl": 1.101,
        }
    ]
    parse_order_params(orders[0])


def test_trailing_stop_of_a_short_follows_the_ask_from_above() -> None:
    spec = make_spec(
        long_entry=NEVER, exits={**SL_20, "trailing_stop": {"kind": "pips", "distance": 20}}
    )
    book = book_with(short_at(1.1000, sl=1.1020))
    (order,) = orders_at(spec, make_bars([1.0970], spread=10), book)
    # ask 1.09710 + 20 pips
    assert (order["order_type"], order["sl"]) == ("modify", 1.0991)


@pytest.mark.parametrize(
    ("current_sl", "close", "expected"),
    [
        (1.1015, 1.1030, None),  # the trail (1.10100) is below the stop: never loosen it
        (1.1010, 1.1030, None),  # the same stop again: nothing to send
        (1.1010, 1.10301, 1.10101),  # one point better: moved
    ],
)
def test_trailing_stop_only_tightens_and_by_at_least_a_point(
    current_sl: float, close: float, expected: float | None
) -> None:
    spec = make_spec(
        long_entry=NEVER, exits={**SL_20, "trailing_stop": {"kind": "pips", "distance": 20}}
    )
    orders = orders_at(spec, make_bars([close]), book_with(long_at(1.1000, sl=current_sl)))
    assert [o["sl"] for o in orders] == ([] if expected is None else [expected])


def test_trailing_stop_waits_for_activate_after_pips_of_profit() -> None:
    spec = make_spec(
        long_entry=NEVER,
        exits={
            **SL_20,
            "trailing_stop": {"kind": "pips", "distance": 20, "activate_after_pips": 30},
        },
    )
    book = book_with(long_at(1.1000, sl=1.0980))
    assert orders_at(spec, make_bars([1.1025]), book) == []  # 25 pips in profit
    (order,) = orders_at(spec, make_bars([1.1035]), book)  # 35 pips in profit
    assert order["sl"] == 1.1015


def test_trailing_stop_in_atr_multiples_keeps_one_and_a_half_atr_behind() -> None:
    spec = make_spec(
        long_entry=NEVER,
        indicators=[{"id": "atr3", "kind": "atr", "params": {"period": 3}}],
        exits={**SL_20, "trailing_stop": {"kind": "atr", "distance": 1.5, "atr": "atr3"}},
    )
    bars = ranged_bars([1.1000, 1.1005, 1.1010, 1.1015, 1.1020, 1.1035])
    (order,) = orders_at(spec, bars, book_with(long_at(1.1000, sl=1.0980)))
    # ATR 20 pips -> 30 pips behind the close 1.10350.
    assert order["sl"] == 1.1005


def test_break_even_moves_the_stop_to_entry_plus_lock_pips_once_in_profit_enough() -> None:
    spec = make_spec(
        long_entry=NEVER, exits={**SL_20, "break_even": {"trigger_pips": 15, "lock_pips": 2}}
    )
    book = book_with(long_at(1.1000, sl=1.0980))
    assert orders_at(spec, make_bars([1.1014]), book) == []  # 14 pips: not yet
    (order,) = orders_at(spec, make_bars([1.1016]), book)
    assert (order["order_type"], order["sl"]) == ("modify", 1.1002)
    # Once there, it is not sent again.
    assert orders_at(spec, make_bars([1.1030]), book_with(long_at(1.1000, sl=1.1002))) == []


def test_break_even_of_a_short_puts_the_stop_lock_pips_below_entry() -> None:
    spec = make_spec(
        long_entry=NEVER, exits={**SL_20, "break_even": {"trigger_pips": 15, "lock_pips": 2}}
    )
    # ask 1.09840 is 16 pips under the entry.
    (order,) = orders_at(spec, make_bars([1.0983]), book_with(short_at(1.1000, sl=1.1020)))
    assert order["sl"] == 1.0998


def test_close_at_a_new_york_time_closes_everything_and_cancels_pending_once_a_day() -> None:
    spec = make_spec(exits={**SL_20, "close_at": "17:00", "timezone": "America/New_York"})
    bars = make_bars([1.1000] * 6, start=pd.Timestamp("2025-06-02 18:00", tz="UTC"))
    strategy = compile_strategy(spec)
    signals = strategy.prepare(bars)
    # 17:00 New York in June is 21:00 UTC: the bar opening at 20:00 UTC closes then.
    assert list(signals.close_all) == [False, False, True, False, False, False]
    book = book_with(long_at(1.1000, ticket=11), orders=(PendingOrder(12, True),))
    orders = strategy.decide(2, signals, book)
    assert [(o["order_type"], o.get("position"), o.get("order")) for o in orders] == [
        ("sell", 11, None),
        ("cancel", None, 12),
    ]
    for order in orders:
        parse_order_params(order)
    # Without anything open, the close bar still opens nothing, though the entry rule holds.
    assert strategy.decide(2, signals, EMPTY_BOOK) == []
    assert len(strategy.decide(3, signals, EMPTY_BOOK)) == 1


def test_close_at_end_to_end_leaves_the_account_flat_and_without_orders() -> None:
    spec = make_spec(
        long_entry={"op": "crosses_above", "left": "close", "right": 1.1},
        short_entry={"op": "crosses_below", "left": "close", "right": 1.1},
        entry={"order": "stop", "offset_pips": 30},
        exits={"stop_loss": {"kind": "pips", "value": 50}, "close_at": "21:00"},
        max_open_positions=2,
    )
    closes = [1.0990, 1.1002, 1.1006, 1.0995, 1.1001, 1.1004]
    run = run_strategy(spec, make_bars(closes, start=pd.Timestamp("2025-06-02 15:00", tz="UTC")))
    assert run.rejected == []
    kinds = [(i, o["order_type"]) for i, o in run.emitted]
    # Crossings at bars 1 (buy stop), 3 (sell stop), 4 (a long already waits); the bar 5 close
    # at 21:00 UTC cancels the two stops.
    assert kinds == [(1, "buy_stop"), (3, "sell_stop"), (5, "cancel"), (5, "cancel")]
    assert run.broker.orders == {}
    assert run.broker.positions == {}


def test_close_before_weekend_closes_on_friday_only_and_blocks_later_friday_entries() -> None:
    spec = make_spec(exits={**SL_20, "close_before_weekend": "20:00"})
    thursday = make_bars([1.1] * 5, start=pd.Timestamp("2025-06-05 17:00", tz="UTC"))
    friday = make_bars([1.1] * 5, start=pd.Timestamp("2025-06-06 17:00", tz="UTC"))
    bars = pd.concat([thursday, friday])
    signals = signals_of(spec, bars)
    # Bars close at 18..22 UTC on each day; 20:00 is reached by the third bar.
    assert list(signals.close_all) == [False] * 5 + [False, False, True, False, False]
    assert list(signals.allowed) == [True] * 5 + [True, True, False, False, False]
    strategy = compile_strategy(spec)
    book = book_with(long_at(1.1000, ticket=4))
    assert [o["position"] for o in strategy.decide(7, signals, book)] == [4]
    assert strategy.decide(8, signals, EMPTY_BOOK) == []  # after the cut-off: no new trade
    assert strategy.decide(6, signals, book) == []  # before it: nothing to do (one open)


# ---- sizing --------------------------------------------------------------------------------------
def test_fixed_lots_size_every_entry_the_same() -> None:
    spec = make_spec(sizing={"method": "fixed_lots", "lots": 0.07})
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["volume"] == 0.07


def test_one_percent_of_ten_thousand_over_a_20_pip_stop_is_half_a_lot() -> None:
    spec = make_spec(sizing={"method": "risk_percent", "risk_pct": 1})
    (order,) = orders_at(spec, make_bars([1.1000]), Book(10_000.0, value_per_price=100_000.0))
    # 100 USD at risk / (0.0020 * 100,000 USD per lot) = 0.5 lot
    assert order["volume"] == 0.5


def test_risk_money_sizes_the_trade_from_the_stop_distance() -> None:
    spec = make_spec(
        sizing={"method": "risk_money", "risk_money": 50},
        exits={"stop_loss": {"kind": "pips", "value": 25}},
    )
    (order,) = orders_at(spec, make_bars([1.1000]), Book(3_000.0, value_per_price=100_000.0))
    assert order["volume"] == 0.2  # 50 / (0.0025 * 100,000)


def test_risk_size_is_rounded_down_to_the_volume_step() -> None:
    spec = make_spec(
        sizing={"method": "risk_percent", "risk_pct": 1},
        exits={"stop_loss": {"kind": "pips", "value": 30}},
    )
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["volume"] == 0.33  # 100 / 300 = 0.333.. lots, never rounded up


def test_risk_size_is_clamped_to_max_lots() -> None:
    spec = make_spec(sizing={"method": "risk_percent", "risk_pct": 5, "max_lots": 0.2})
    (order,) = orders_at(spec, make_bars([1.1000]))
    assert order["volume"] == 0.2


@pytest.mark.parametrize(
    ("risk_money", "min_lots"),
    [
        (5.0, 0.05),  # 0.025 lots -> 0.02, under the strategy's minimum of 0.05
        (1.0, 0.01),  # 0.005 lots: under the symbol's smallest volume 0.01
    ],
)
def test_a_trade_sized_below_the_minimum_is_skipped(risk_money: float, min_lots: float) -> None:
    spec = make_spec(
        sizing={"method": "risk_money", "risk_money": risk_money, "min_lots": min_lots}
    )
    orders, strategy = decide_at(spec, make_bars([1.1000]))
    assert orders == []
    assert sum(strategy.skipped.values()) == 1


def test_risk_sizing_without_a_price_value_skips_rather_than_guesses() -> None:
    spec = make_spec(sizing={"method": "risk_percent", "risk_pct": 1})
    orders, strategy = decide_at(spec, make_bars([1.1000]), Book(equity=10_000.0))
    assert orders == []
    assert sum(strategy.skipped.values()) == 1


# ---- limits and filters --------------------------------------------------------------------------
def test_one_open_position_blocks_another_entry_by_default() -> None:
    orders, strategy = decide_at(make_spec(), make_bars([1.1000]), book_with(long_at(1.0990)))
    assert orders == []
    assert sum(strategy.skipped.values()) == 1


def test_pyramiding_allows_that_many_entries_in_one_direction() -> None:
    spec = make_spec(max_open_positions=3, pyramiding=2)
    one = book_with(long_at(1.0990, ticket=1))
    two = book_with(long_at(1.0990, ticket=1), long_at(1.0995, ticket=2))
    assert [o["order_type"] for o in orders_at(spec, make_bars([1.1000]), one)] == ["buy"]
    assert orders_at(spec, make_bars([1.1000]), two) == []


def test_max_open_positions_counts_both_directions() -> None:
    spec = make_spec(
        long_entry=None,
        short_entry=ALWAYS,
        max_open_positions=2,
        exits={**SL_20, "on_opposite_signal": False},
    )
    one_long = book_with(long_at(1.0990, ticket=1))
    two_longs = book_with(long_at(1.0990, ticket=1), long_at(1.0980, ticket=3))
    assert [o["order_type"] for o in orders_at(spec, make_bars([1.1000]), one_long)] == ["sell"]
    assert orders_at(spec, make_bars([1.1000]), two_longs) == []


def test_long_and_short_signals_on_one_bar_open_no_more_than_max_open_positions() -> None:
    spec = make_spec(long_entry=ALWAYS, short_entry=ALWAYS_SHORT, max_open_positions=1)
    orders = orders_at(spec, make_bars([1.1000]))
    assert len(orders) == 1
    both = make_spec(long_entry=ALWAYS, short_entry=ALWAYS_SHORT, max_open_positions=2)
    assert [o["order_type"] for o in orders_at(both, make_bars([1.1000]))] == ["buy", "sell"]


def test_no_second_pending_entry_in_the_same_direction() -> None:
    spec = make_spec(
        short_entry=ALWAYS_SHORT, entry={"order": "stop", "offset_pips": 10}, max_open_positions=2
    )
    waiting_buy = book_with(orders=(PendingOrder(21, True),))
    orders = orders_at(spec, make_bars([1.1000]), waiting_buy)
    # The buy stop already waits; the sell stop is still placed.
    assert [o["order_type"] for o in orders] == ["sell_stop"]


def _allowed_decision_hours(spec: StrategySpec, start: str, hours: int = 24) -> list[int]:
    """UTC hours of the bar closes at which the filters let entries through."""
    bars = make_bars([1.1] * hours, start=pd.Timestamp(start, tz="UTC"))
    signals = signals_of(spec, bars)
    closes = bars.index + pd.Timedelta(hours=1)
    return [int(t.hour) for t, ok in zip(closes, signals.allowed, strict=True) if ok]


def test_session_filter_lets_entries_through_from_start_up_to_end() -> None:
    spec = make_spec(filters={"sessions": [{"start": "08:00", "end": "17:00"}]})
    assert _allowed_decision_hours(spec, "2025-06-03 00:00") == list(range(8, 17))


def test_session_across_midnight_runs_from_the_evening_into_the_next_morning() -> None:
    spec = make_spec(filters={"sessions": [{"start": "22:00", "end": "02:00"}]})
    assert sorted(_allowed_decision_hours(spec, "2025-06-03 00:00")) == [0, 1, 22, 23]


@pytest.mark.parametrize(
    ("day", "utc_hours"),
    [
        ("2025-01-07 00:00", list(range(8, 16))),  # winter: London is UTC
        ("2025-06-03 00:00", list(range(7, 15))),  # summer: London is UTC+1
    ],
)
def test_london_session_follows_british_summer_time(day: str, utc_hours: list[int]) -> None:
    spec = make_spec(
        filters={"sessions": [{"start": "08:00", "end": "16:00", "timezone": "Europe/London"}]}
    )
    assert _allowed_decision_hours(spec, day) == utc_hours


def test_entries_outside_the_session_are_not_sent() -> None:
    spec = make_spec(filters={"sessions": [{"start": "08:00", "end": "17:00"}]})
    bars = make_bars([1.1] * 10)  # closes at 01:00 .. 10:00 UTC
    strategy = compile_strategy(spec)
    signals = strategy.prepare(bars)
    sent = [i for i in range(len(bars)) if strategy.decide(i, signals, EMPTY_BOOK)]
    assert sent == [7, 8, 9]


def test_stops_are_still_managed_outside_the_session() -> None:
    spec = make_spec(
        filters={"sessions": [{"start": "08:00", "end": "17:00"}]},
        exits={**SL_20, "trailing_stop": {"kind": "pips", "distance": 20}},
    )
    bars = make_bars([1.1030])  # closes at 01:00 UTC, outside the session
    assert not signals_of(spec, bars).allowed[0]
    (order,) = orders_at(spec, bars, book_with(long_at(1.1000, sl=1.0980)))
    assert (order["order_type"], order["sl"]) == ("modify", 1.101)


def test_weekday_filter_trades_only_on_the_listed_days() -> None:
    # One bar at 11:00 UTC each day from Monday 2 June to Sunday 8 June 2025.
    index = pd.DatetimeIndex([MONDAY + pd.Timedelta(days=d, hours=11) for d in range(7)])
    spec = make_spec(filters={"weekdays": ["mon", "wed"]})
    signals = signals_of(spec, make_bars([1.1] * 7, index=index))
    assert list(signals.allowed) == [True, False, True, False, False, False, False]


@pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY"])
def test_max_spread_pips_reads_the_bars_spread_in_points(symbol: str) -> None:
    # 1.5 pips is 15 points on both 5-digit EURUSD and 3-digit USDJPY.
    spec = make_spec(symbols=[symbol], filters={"max_spread_pips": 1.5})
    bars = make_bars([1.1] * 4, spread=[10, 15, 16, 30])
    assert list(signals_of(spec, bars).allowed) == [True, True, False, False]


def test_book_from_records_keeps_only_this_strategys_symbol_and_magic() -> None:
    position = {
        "ticket": 1,
        "type": 1,
        "volume": 0.2,
        "price_open": 1.1,
        "sl": 1.102,
        "tp": 0.0,
        "time": 100,
        "symbol": "EURUSD",
        "magic": 7,
    }
    orders = [
        {"ticket": 2, "type": 4, "symbol": "EURUSD", "magic": 7},  # BUY_STOP
        {"ticket": 3, "type": 5, "symbol": "EURUSD", "magic": 7},  # SELL_STOP
        {"ticket": 4, "type": 2, "symbol": "EURUSD", "magic": 8},  # another strategy
    ]
    book = book_from_records(
        equity=5_000.0,
        positions=[position, {**position, "ticket": 9, "symbol": "GBPUSD"}],
        orders=orders,
        symbol="EURUSD",
        magic=7,
        value_per_price=100_000.0,
    )
    assert book.positions == (OpenPosition(1, False, 0.2, 1.1, 1.102, 0.0, 100.0),)
    assert book.orders == (PendingOrder(2, True), PendingOrder(3, False))


def test_bars_shorter_than_every_warm_up_give_no_signal_and_no_error() -> None:
    indicators = [{"id": f"i_{kind}", "kind": kind} for kind in REGISTRY]
    rules = []
    for kind, definition in REGISTRY.items():
        name = f"i_{kind}" if len(definition.outputs) == 1 else f"i_{kind}.{definition.outputs[0]}"
        rules.append({"op": "gt", "left": name, "right": -1e9})
    spec = make_spec(indicators=indicators, long_entry={"op": "any", "conditions": rules})
    for length in (1, 2, 3):
        signals = signals_of(spec, make_bars([1.1, 1.101, 1.102][:length]))
        assert not signals.long_entry.any()


@pytest.mark.parametrize(
    "indicator",
    [{"id": "x", "kind": kind} for kind in REGISTRY]
    + [
        {"id": "x", "kind": "stochastic", "params": {"k_period": 14, "d_period": 5, "slowing": 5}},
        {"id": "x", "kind": "macd", "params": {"fast": 5, "slow": 35, "signal": 12}},
        {"id": "x", "kind": "adx", "params": {"period": 30}},
    ],
    ids=lambda item: f"{item['kind']}{sorted(item.get('params', {}).values())}",
)
def test_warmup_bars_cover_every_indicator_value_and_a_crossing(
    indicator: dict[str, Any], sample: pd.DataFrame
) -> None:
    strategy = compile_strategy(make_spec(indicators=[indicator]))
    params = strategy.spec.indicators[0].resolved_params()
    outputs = compute(indicator["kind"], sample, params)
    # A crossing at the last warm-up bar needs every output on it and on the bar before.
    before_last = strategy.warmup_bars - 2
    for name, values in outputs.items():
        assert not np.isnan(values[before_last:]).any(), name


# ---- end to end on the sample --------------------------------------------------------------------
RICH_SPEC: dict[str, Any] = {
    "name": "rich",
    "symbols": ["EURUSD"],
    "timeframe": "H1",
    "indicators": [
        {"id": "fast", "kind": "ema", "params": {"period": 8}},
        {"id": "slow", "kind": "sma", "params": {"period": 21}},
        {"id": "atr14", "kind": "atr", "params": {"period": 14}},
        {"id": "adx", "kind": "adx", "params": {"period": 14}},
        {"id": "macd", "kind": "macd"},
        {"id": "bb", "kind": "bbands", "params": {"period": 20, "deviations": 2.0}},
        {"id": "rsi", "kind": "rsi", "params": {"period": 14}},
        {"id": "dc", "kind": "donchian", "params": {"period": 10}},
        {"id": "stoch", "kind": "stochastic"},
        {"id": "wma", "kind": "wma", "params": {"period": 10}},
    ],
    "long_entry": {
        "op": "all",
        "conditions": [
            {
                "op": "any",
                "conditions": [
                    {"op": "crosses_above", "left": "fast", "right": "slow"},
                    {"op": "crosses_above", "left": "macd.macd", "right": "macd.signal"},
                ],
            },
            {"op": "gt", "left": "adx.adx", "right": 15},
            {"op": "between", "value": "rsi", "low": 35, "high": 75},
            {"op": "rising", "series": "wma", "bars": 2},
        ],
    },
    "short_entry": {
        "op": "all",
        "conditions": [
            {
                "op": "any",
                "conditions": [
                    {"op": "crosses_below", "left": "fast", "right": "slow"},
                    {"op": "crosses_below", "left": "close", "right": "bb.middle"},
                ],
            },
            {"op": "not", "condition": {"op": "gt", "left": "stoch.k", "right": 90}},
            {"op": "falling", "series": {"series": "fast", "bars_ago": 1}, "bars": 1},
            {"op": "lt", "left": "close", "right": {"series": "bb.upper", "offset_pips": -2}},
        ],
    },
    "entry": {
        "order": "stop",
        "anchor": {"series": "dc.upper", "offset_atr": 0.1, "atr": "atr14"},
        "short_anchor": {"series": "bb.lower", "bars_ago": 1},
        "offset_pips": 3,
        "expiry_bars": 4,
    },
    "exits": {
        "stop_loss": {"kind": "atr", "value": 2.0, "atr": "atr14"},
        "take_profit": {"kind": "risk_reward", "value": 2.0},
        "trailing_stop": {"kind": "atr", "distance": 2.5, "atr": "atr14", "activate_after_pips": 5},
        "break_even": {"trigger_pips": 10, "lock_pips": 1},
        "long_exit": {"op": "crosses_below", "left": "close", "right": "dc.lower"},
        "max_bars": 48,
        "close_before_weekend": "20:00",
        "close_at": "16:30",
        "timezone": "America/New_York",
    },
    "sizing": {"method": "risk_percent", "risk_pct": 0.5, "max_lots": 2.0},
    "max_open_positions": 2,
    "pyramiding": 1,
    "filters": {
        "sessions": [{"start": "07:00", "end": "20:00", "timezone": "Europe/London"}],
        "max_spread_pips": 2.0,
    },
}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return sample_bars("EURUSD", "H1", bars=2000)


def test_every_order_of_a_rich_strategy_on_the_sample_is_valid_and_accepted(
    sample: pd.DataFrame,
) -> None:
    run = run_strategy(parse_spec(RICH_SPEC), sample)
    assert run.rejected == []
    kinds = {o["order_type"] for _, o in run.emitted}
    assert {"buy_stop", "sell_stop", "modify", "buy", "sell", "cancel"} <= kinds
    assert any("position" in o for _, o in run.emitted)  # closes happened
    for _, params in run.emitted:
        assert isinstance(parse_order_params(params, strict=True), OrderParams)


# ---- no look-ahead -------------------------------------------------------------------------------
def _look_ahead_indices(signals: Signals, length: int) -> list[int]:
    rng = np.random.default_rng(20250602)
    fired = np.flatnonzero(signals.long_entry | signals.short_entry | signals.close_all)
    picked = set(rng.choice(fired, size=min(12, len(fired)), replace=False).tolist())
    picked |= {0, 1, 5, 30}  # inside the warm-up of the longer indicators
    while len(picked) < 30:
        picked.add(int(rng.integers(0, length)))
    return sorted(picked)


def _books_at(signals: Signals, k: int) -> list[Book]:
    close = float(signals.close[k])
    opened_s = float(signals.time_s[k]) - 6 * HOUR
    return [
        EMPTY_BOOK,
        book_with(
            OpenPosition(
                1, True, 0.2, round(close - 0.0015, 5), round(close - 0.0040, 5), 0.0, opened_s
            ),
            orders=(PendingOrder(2, False),),
        ),
        book_with(
            OpenPosition(
                3, False, 0.2, round(close + 0.0012, 5), round(close + 0.0030, 5), 0.0, opened_s
            )
        ),
    ]


def test_signals_and_decisions_at_a_bar_never_depend_on_later_bars(sample: pd.DataFrame) -> None:
    spec = parse_spec(RICH_SPEC)
    full = compile_strategy(spec).prepare(sample)
    indices = _look_ahead_indices(full, len(sample))
    assert len(indices) == 30
    decided = 0
    for k in indices:
        truncated = compile_strategy(spec).prepare(sample.iloc[: k + 1])
        assert len(truncated) == k + 1
        for item in fields(Signals):
            name = item.name
            whole, cut = getattr(full, name), getattr(truncated, name)
            if name == "atr":
                assert whole.keys() == cut.keys()
                for key in whole:
                    np.testing.assert_array_equal(
                        cut[key][k], whole[key][k], err_msg=f"atr {key} @{k}"
                    )
            elif whole is None:
                assert cut is None
            else:
                np.testing.assert_array_equal(cut[k], whole[k], err_msg=f"{name} @{k}")
        for book in _books_at(full, k):
            from_full = compile_strategy(spec).decide(k, full, book)
            from_cut = compile_strategy(spec).decide(k, truncated, book)
            assert from_cut == from_full, f"bar {k}"
            decided += bool(from_full)
    assert decided >= 10  # the check saw real orders, not only empty decisions


def test_a_prefix_of_the_bars_gives_the_full_runs_signals_cut_at_the_same_bar(
    sample: pd.DataFrame,
) -> None:
    # A prefix of the bars gives the same whole arrays as the full run cut to that length.
    spec = parse_spec(RICH_SPEC)
    full = compile_strategy(spec).prepare(sample)
    for k in (60, 777, 1500):
        cut = compile_strategy(spec).prepare(sample.iloc[:k])
        for name in ("long_entry", "short_entry", "long_exit", "allowed", "close_all", "anchor"):
            np.testing.assert_array_equal(getattr(cut, name), getattr(full, name)[:k], err_msg=name)


# ---- three-valued rules, weekday of daily bars, cancelling entries at the position limit ----------
def test_any_is_true_when_one_known_branch_is_true_while_another_is_still_warming_up() -> None:
    bars = make_bars([1.1010] * 5)
    rule = {
        "op": "any",
        "conditions": [
            {"op": "gt", "left": "close", "right": 1.1},  # known and true from bar 0
            {"op": "gt", "left": "slow", "right": 1.2},  # SMA 4: not ready before bar 3
        ],
    }
    spec = make_spec(
        indicators=[{"id": "slow", "kind": "sma", "params": {"period": 4}}], long_entry=rule
    )
    signals = compile_strategy(spec).prepare(bars)
    assert signals.long_entry.tolist() == [True] * 5


def test_all_is_known_false_when_one_branch_is_false_so_its_negation_is_true() -> None:
    bars = make_bars([1.0990] * 5)
    rule = {
        "op": "not",
        "condition": {
            "op": "all",
            "conditions": [
                {"op": "gt", "left": "close", "right": 1.1},  # known false
                {"op": "gt", "left": "slow", "right": 1.0},  # not ready before bar 3
            ],
        },
    }
    spec = make_spec(
        indicators=[{"id": "slow", "kind": "sma", "params": {"period": 4}}], long_entry=rule
    )
    signals = compile_strategy(spec).prepare(bars)
    assert signals.long_entry.tolist() == [True] * 5


def test_a_friday_daily_bar_counts_as_friday_though_it_closes_at_saturday_midnight() -> None:
    friday = pd.Timestamp("2025-06-06 00:00", tz="UTC")
    index = pd.DatetimeIndex([friday - pd.Timedelta(days=1), friday])
    bars = make_bars([1.1, 1.1], index=index)
    spec = make_spec(timeframe="D1")
    signals = compile_strategy(spec).prepare(bars)
    assert signals.allowed.tolist() == [True, True]  # Thursday and Friday, default weekdays


def test_waiting_entries_are_cancelled_once_the_position_limit_is_reached() -> None:
    spec = make_spec(
        long_entry=None,
        short_entry=ALWAYS,
        entry={"order": "stop", "offset_pips": 5},
        exits={**SL_20, "on_opposite_signal": False},
    )
    book = book_with(long_at(1.1), orders=(PendingOrder(ticket=77, is_buy=False),))
    orders, _ = decide_at(spec, make_bars([1.1] * 3), book)
    assert orders == [
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "magic": 123456,
            "comment": "nl_trader",
            "order_type": "cancel",
            "order": 77,
        }
    ]
