"""The backtest engine (nl_trader.backtest.engine): a strategy over bars, through the one fill engine.

Bars are made by hand: UTC H1 bid bars from Monday 2 June 2025 00:00, with a spread column in
points. On EURUSD a point is 0.00001 and a pip 0.0001, so a bid of 1.10000 with a spread of 10
points has an ask of 1.10010, and 0.1 lot earns $1 a pip ($10,000 per 1.0 of price).

Most strategies enter on ``close crosses above 1.09995``: bar 0 closes at 1.0999, bar 1 at 1.1000,
so the signal is at bar 1's close and the fill at bar 2's open (``fill="next_open"``) or at bar 1's
close (``fill="close"``). Every expected price and amount is worked out in the comments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nl_trader import mt5
from nl_trader.backtest import engine as engine_module
from nl_trader.backtest.engine import BacktestResult, BacktestSettings, run_backtest
from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.sim.broker import AccountConfig
from nl_trader.spec import StrategySpec, parse_spec
from nl_trader.strategy.examples import load_examples
from tests.strategy.conftest import run_strategy

MONDAY = pd.Timestamp("2025-06-02 00:00", tz="UTC")
HOUR = 3_600
CONTRACT = 100_000.0
POINT = 0.00001

# Bar 0 closes below 1.09995 and bar 1 above it: the entry signal is at bar 1's close.
QUIET = (1.1000, 1.1002, 1.0998, 1.0999)
SIGNAL = (1.0999, 1.1003, 1.0997, 1.1000)
CROSS_UP = {"op": "crosses_above", "left": "close", "right": 1.09995}
ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# ---- builders ------------------------------------------------------------------------------------
def make_bars(
    rows: Sequence[tuple[float, float, float, float]],
    *,
    spread: float | Sequence[float] = 10,
    start: pd.Timestamp = MONDAY,
    freq: str = "1h",
) -> pd.DataFrame:
    """Bid bars from (open, high, low, close) rows, one per ``freq`` from ``start``."""
    open_, high, low, close = (
        np.asarray(column, dtype="float64") for column in zip(*rows, strict=True)
    )
    assert np.all(high >= np.maximum(open_, close))
    assert np.all(low <= np.minimum(open_, close))
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "spread": np.broadcast_to(np.asarray(spread, dtype="float64"), close.shape),
        },
        index=pd.date_range(start, periods=len(rows), freq=freq),
    )


def make_spec(**fields: Any) -> StrategySpec:
    """An EURUSD H1 spec that buys 0.1 lot on CROSS_UP without a stop, with ``fields`` changed."""
    data: dict[str, Any] = {
        "name": "engine test",
        "symbols": ["EURUSD"],
        "timeframe": "H1",
        "long_entry": CROSS_UP,
        "exits": {"no_stop_loss": True},
        "sizing": {"method": "fixed_lots", "lots": 0.1},
    }
    data.update(fields)
    return parse_spec({key: value for key, value in data.items() if value is not None})


def side_spec(side: str, **fields: Any) -> StrategySpec:
    """make_spec entering ``side`` ("long" or "short") on CROSS_UP."""
    entries = (
        {"long_entry": CROSS_UP}
        if side == "long"
        else {"long_entry": None, "short_entry": CROSS_UP}
    )
    return make_spec(**entries, **fields)


def trading(result: BacktestResult) -> list[dict[str, Any]]:
    """The run's deals without the deposit."""
    return result.deals[1:]


def strategy_deals(result: BacktestResult) -> list[dict[str, Any]]:
    return [d for d in trading(result) if d["comment"] != "end of test"]


def opened_at(bars: pd.DataFrame, i: int) -> int:
    return int(bars.index[i].timestamp())


def closed_at(bars: pd.DataFrame, i: int) -> int:
    """The last second of H1 bar ``i``: where a bar's close (and the end of test) happens."""
    return opened_at(bars, i) + HOUR - 1


def flows(result: BacktestResult) -> float:
    return math.fsum(d["profit"] + d["commission"] + d["swap"] for d in trading(result))


def assert_equity_lows_agree(
    skipping: BacktestResult, walking: BacktestResult, spec: StrategySpec
) -> None:
    """A walked bar's low is the broker's own (each position's profit booked in cents); a skipped
    one's is valued from the exposure ledger: the two agree to half a cent per open position.
    On a bar a server midnight falls inside (21:00 UTC on the server's summer clock), the skipped
    bar is valued with that night's swap from its start, the walked one charges it on the way:
    they may differ by a night's swap (three on the triple day)."""
    info = skipping.symbol_info
    lots = max((d["volume"] for d in trading(skipping)), default=0.0) * spec.max_open_positions
    night = max(abs(info.swap_long), abs(info.swap_short)) * info.point * info.trade_contract_size
    tolerance = 0.005 * spec.max_open_positions + 3 * night * lots + 1e-9
    pd.testing.assert_series_equal(
        skipping.equity_low, walking.equity_low, check_exact=False, rtol=0, atol=tolerance
    )


# ---- market fills --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "next_open",
    [1.1000, 1.1020, 1.0980],
    ids=["no gap", "gap up", "gap down"],
)
def test_market_buy_decided_at_a_close_fills_at_the_next_bars_open_ask_gap_included(
    next_open: float,
) -> None:
    bars = make_bars(
        [QUIET, SIGNAL, (next_open, next_open + 0.0010, next_open - 0.0010, next_open), QUIET]
    )

    result = run_backtest(make_spec(), bars)

    entry = trading(result)[0]
    assert (entry["type"], entry["entry"]) == (mt5.DEAL_TYPE_BUY, mt5.DEAL_ENTRY_IN)
    assert entry["time"] == opened_at(bars, 2)
    assert entry["price"] == pytest.approx(next_open + 10 * POINT, abs=1e-9)  # the open's ask


def test_market_sell_decided_at_a_close_fills_at_the_next_bars_open_bid() -> None:
    bars = make_bars([QUIET, SIGNAL, (1.1020, 1.1030, 1.1010, 1.1020), QUIET])

    result = run_backtest(make_spec(long_entry=None, short_entry=CROSS_UP), bars)

    entry = trading(result)[0]
    assert (entry["type"], entry["time"], entry["price"]) == (
        mt5.DEAL_TYPE_SELL,
        opened_at(bars, 2),
        1.1020,
    )


@pytest.mark.parametrize(
    ("side", "deal_type", "price"),
    [("long", mt5.DEAL_TYPE_BUY, 1.1001), ("short", mt5.DEAL_TYPE_SELL, 1.1000)],
)
def test_fill_close_fills_at_the_decision_bars_close_ask_for_a_buy_bid_for_a_sell(
    side: str, deal_type: int, price: float
) -> None:
    bars = make_bars([QUIET, SIGNAL, (1.1020, 1.1030, 1.1010, 1.1020), QUIET])
    spec = side_spec(side)

    result = run_backtest(spec, bars, settings=BacktestSettings(fill="close"))

    entry = trading(result)[0]
    # Bar 1 closes at 1.10000 bid / 1.10010 ask; the gap at bar 2's open is not traded at.
    assert (entry["type"], entry["time"], entry["price"]) == (
        deal_type,
        closed_at(bars, 1),
        price,
    )


def test_decision_at_the_last_bar_is_not_sent_when_fills_wait_for_a_next_open() -> None:
    bars = make_bars([QUIET, SIGNAL])

    result = run_backtest(make_spec(), bars)

    assert trading(result) == []
    assert result.rejected == []


# ---- pending entries -----------------------------------------------------------------------------
# 5 pips beyond bar 1's close 1.10000: a buy stop at 1.10050 (on the ask), a sell stop at 1.09950.
STOP_5 = {"order": "stop", "offset_pips": 5}


def test_buy_stop_placed_at_a_close_and_gapped_over_by_the_next_bar_fills_at_the_open_ask() -> None:
    bars = make_bars([QUIET, SIGNAL, (1.1020, 1.1030, 1.1015, 1.1025), QUIET])

    result = run_backtest(make_spec(entry=STOP_5), bars, settings=BacktestSettings(fill="close"))

    entry = trading(result)[0]
    # Placed at 1.10050 at bar 1's close; bar 2 opens at 1.10200 bid, 1.10210 ask: the gap fills
    # there, 16 pips worse than the stop's level.
    assert (entry["type"], entry["time"], entry["price"]) == (
        mt5.DEAL_TYPE_BUY,
        opened_at(bars, 2),
        1.1021,
    )
    order = next(o for o in result.orders if o["ticket"] == entry["order"])
    assert (order["type"], order["price_open"]) == (mt5.ORDER_TYPE_BUY_STOP, 1.1005)


def test_resting_buy_stop_gapped_over_later_fills_at_that_open_not_at_its_level() -> None:
    # Sent at bar 2's open (ask 1.10010, below the stop); bar 2's ask tops at 1.10040; bar 3 gaps.
    bars = make_bars(
        [QUIET, SIGNAL, (1.1000, 1.1003, 1.0995, 1.1000), (1.1030, 1.1040, 1.1025, 1.1035), QUIET]
    )

    result = run_backtest(make_spec(entry=STOP_5), bars)

    entry = trading(result)[0]
    assert (entry["time"], entry["price"]) == (opened_at(bars, 3), 1.1031)


def test_buy_stop_crossed_inside_a_bar_fills_exactly_at_its_level() -> None:
    bars = make_bars([QUIET, SIGNAL, (1.1000, 1.1030, 1.0995, 1.1020), QUIET])

    result = run_backtest(make_spec(entry=STOP_5), bars)

    entry = trading(result)[0]
    assert entry["price"] == 1.1005  # the ask touched 1.10050 on the way up: the level itself
    assert opened_at(bars, 2) < entry["time"] < closed_at(bars, 2)


def test_sell_stop_crossed_inside_a_bar_fills_exactly_at_its_level_on_the_bid() -> None:
    bars = make_bars([QUIET, SIGNAL, (1.1000, 1.1005, 1.0970, 1.0980), QUIET])
    spec = make_spec(long_entry=None, short_entry=CROSS_UP, entry=STOP_5)

    result = run_backtest(spec, bars)

    entry = trading(result)[0]
    # A sell stop 5 pips below bar 1's bid close (1.10000): 1.09950, triggered on the bid.
    assert (entry["type"], entry["price"]) == (mt5.DEAL_TYPE_SELL, 1.0995)


def test_stop_entry_whose_level_the_next_open_has_passed_is_refused_as_the_terminal_would() -> None:
    # Decided at bar 1's close (level 1.10050); sent at bar 2's open, where the ask is already
    # 1.10210: a buy stop below the ask is an invalid price (10015), as on a live terminal. The
    # refusal is recorded; nothing is filled at the level.
    bars = make_bars([QUIET, SIGNAL, (1.1020, 1.1030, 1.1015, 1.1025), QUIET])

    result = run_backtest(make_spec(entry=STOP_5), bars)

    assert trading(result) == []
    assert len(result.rejected) == 1
    assert "10015" in result.rejected[0]


# ---- stop loss and take profit in one bar --------------------------------------------------------
SL_TP_20 = {
    "stop_loss": {"kind": "pips", "value": 20},
    "take_profit": {"kind": "pips", "value": 20},
}
UP_BAR = (1.1000, 1.1030, 1.0970, 1.1005)  # reaches both levels, closes above its open
DOWN_BAR = (1.1000, 1.1030, 1.0970, 1.0995)  # the same range, closes below its open


@pytest.mark.parametrize(
    ("side", "intrabar", "bar", "reason", "price", "profit"),
    [
        # Long bought at 1.10010 (ask): SL 1.09810, TP 1.10210, both on the bid.
        ("long", "conservative", UP_BAR, mt5.DEAL_REASON_SL, 1.0981, -20.0),
        ("long", "conservative", DOWN_BAR, mt5.DEAL_REASON_SL, 1.0981, -20.0),
        ("long", "ohlc", UP_BAR, mt5.DEAL_REASON_SL, 1.0981, -20.0),  # O-L-H-C: low first
        ("long", "ohlc", DOWN_BAR, mt5.DEAL_REASON_TP, 1.1021, 20.0),  # O-H-L-C: high first
        # Short sold at 1.10000 (bid): SL 1.10200, TP 1.09800, both on the ask.
        ("short", "conservative", UP_BAR, mt5.DEAL_REASON_SL, 1.1020, -20.0),
        ("short", "conservative", DOWN_BAR, mt5.DEAL_REASON_SL, 1.1020, -20.0),
        ("short", "ohlc", UP_BAR, mt5.DEAL_REASON_TP, 1.0980, 20.0),
        ("short", "ohlc", DOWN_BAR, mt5.DEAL_REASON_SL, 1.1020, -20.0),
    ],
)
def test_stop_and_target_in_one_bar_conservative_takes_the_stop_ohlc_follows_the_mt5_path(
    side: str,
    intrabar: str,
    bar: tuple[float, float, float, float],
    reason: int,
    price: float,
    profit: float,
) -> None:
    bars = make_bars([QUIET, SIGNAL, bar, (1.1000, 1.1002, 1.0998, 1.1000)])
    spec = side_spec(side, exits=SL_TP_20)

    result = run_backtest(spec, bars, settings=BacktestSettings(fill="close", intrabar=intrabar))

    exit_deal = trading(result)[1]
    assert (exit_deal["reason"], exit_deal["price"], exit_deal["profit"]) == (
        reason,
        price,
        profit,
    )
    assert opened_at(bars, 2) < exit_deal["time"] < closed_at(bars, 2)


def m1_path(start: pd.Timestamp, prices: Sequence[float]) -> pd.DataFrame:
    """M1 bars whose closes follow ``prices`` (each minute opens at the previous close)."""
    close = np.round(np.asarray(prices[1:], dtype="float64"), 5)
    open_ = np.r_[prices[0], close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "spread": 10.0,
        },
        index=pd.date_range(start, periods=len(close), freq="1min"),
    )


def hour_of_minutes(first: str) -> pd.DataFrame:
    """60 minutes from 02:00 that visit 1.10300 and 1.09700, ``first`` ("high" or "low") first,
    and end at 1.09950: the minutes inside DOWN_BAR."""
    one, two = (1.1030, 1.0970) if first == "high" else (1.0970, 1.1030)
    prices = np.concatenate(
        [
            np.linspace(1.1000, one, 11),
            np.linspace(one, two, 40)[1:],
            np.linspace(two, 1.0995, 11)[1:],
        ]
    )
    return m1_path(MONDAY + pd.Timedelta(hours=2), prices)


@pytest.mark.parametrize(
    ("intrabar", "first", "without_m1", "with_m1"),
    [
        ("conservative", "high", mt5.DEAL_REASON_SL, mt5.DEAL_REASON_TP),
        ("ohlc", "low", mt5.DEAL_REASON_TP, mt5.DEAL_REASON_SL),
    ],
)
def test_m1_bars_settle_a_bar_holding_stop_and_target_by_what_the_minutes_reached_first(
    intrabar: str, first: str, without_m1: int, with_m1: int
) -> None:
    bars = make_bars([QUIET, SIGNAL, DOWN_BAR, (1.0995, 1.0999, 1.0990, 1.0996)])
    minutes = hour_of_minutes(first)
    assert (minutes["high"].max(), minutes["low"].min()) == (1.1030, 1.0970)
    spec = make_spec(exits=SL_TP_20)
    chosen = BacktestSettings(fill="close", intrabar=intrabar)

    coarse = run_backtest(spec, bars, settings=chosen)
    fine = run_backtest(spec, bars, settings=chosen, m1_bars=minutes)

    assert trading(coarse)[1]["reason"] == without_m1
    exit_deal = trading(fine)[1]
    assert exit_deal["reason"] == with_m1
    # The minutes move 3 pips each: the TP (21 pips up) or the SL (19 pips down) is reached in
    # the 7th minute, 02:06 to 02:07.
    assert opened_at(bars, 2) + 6 * 60 <= exit_deal["time"] < opened_at(bars, 2) + 8 * 60


# ---- costs ---------------------------------------------------------------------------------------
GAP_UP_BAR = (1.1000, 1.1030, 1.0990, 1.1020)
LAST_BAR = (1.1020, 1.1026, 1.1010, 1.1025)


def test_spread_column_sets_the_ask_of_each_bar() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR], spread=[10, 10, 25, 10])

    result = run_backtest(make_spec(), bars)

    assert trading(result)[0]["price"] == 1.10025  # bar 2's open 1.10000 + 25 points


def test_spread_points_setting_replaces_the_spread_column() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR], spread=[10, 10, 25, 10])

    result = run_backtest(make_spec(), bars, settings=BacktestSettings(spread_points=30))

    entry, close = trading(result)
    assert (entry["price"], close["price"]) == (1.1003, 1.1025)  # ask 1.10000 + 30 points


@pytest.mark.parametrize(
    ("side", "entry_price", "exit_price", "profit"),
    [
        # Buy at ask 1.10030 + 5 points; the end-of-test sell at bid 1.10250 - 5 points.
        ("long", 1.10035, 1.10245, 210.0),
        # Sell at bid 1.10000 - 5 points; the end-of-test buy at ask 1.10280 + 5 points.
        ("short", 1.09995, 1.10285, -290.0),
    ],
)
def test_slippage_moves_market_fills_against_the_trader(
    side: str, entry_price: float, exit_price: float, profit: float
) -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])
    spec = side_spec(side, sizing={"lots": 1.0})

    result = run_backtest(
        spec, bars, settings=BacktestSettings(spread_points=30, slippage_points=5)
    )

    entry, close = trading(result)
    assert (entry["price"], close["price"], close["profit"]) == (entry_price, exit_price, profit)


def test_slippage_moves_a_triggered_buy_stop_above_its_level() -> None:
    bars = make_bars([QUIET, SIGNAL, (1.1000, 1.1030, 1.0995, 1.1020), QUIET])

    result = run_backtest(
        make_spec(entry=STOP_5), bars, settings=BacktestSettings(slippage_points=5)
    )

    assert trading(result)[0]["price"] == 1.10055  # the stop 1.10050 + 5 points


def test_commission_of_7_per_lot_and_side_costs_14_for_a_round_trip_of_one_lot() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])

    result = run_backtest(
        make_spec(sizing={"lots": 1.0}), bars, settings=BacktestSettings(commission_per_lot=7)
    )

    entry, close = trading(result)
    assert (entry["commission"], close["commission"]) == (-7.0, -7.0)
    # Bought at 1.10010, sold at 1.10250: 24 pips on 1 lot = $240, less $14.
    assert close["profit"] == 240.0
    assert result.balance.iloc[-1] == pytest.approx(10_000 + 240 - 14, abs=1e-9)


def daily_bars() -> pd.DataFrame:
    """D1 bars Sunday 1 June to Thursday 5 June 2025: the signal at Monday's close, the buy at
    Tuesday 00:00, the end of test at Thursday 23:59:59."""
    rows = [QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR, (1.1025, 1.1030, 1.1020, 1.1025)]
    return make_bars(rows, start=MONDAY - pd.Timedelta(days=1), freq="1D")


def daily_spec() -> StrategySpec:
    return make_spec(timeframe="D1", sizing={"lots": 1.0})


def test_swaps_are_charged_at_each_midnight_and_three_times_for_wednesday_night() -> None:
    bars = daily_bars()

    # A server on UTC: its midnights are the bars' (issue 14's tests cover New York + 7 h).
    result = run_backtest(daily_spec(), bars, settings=BacktestSettings(server_timezone="UTC"))

    entry, close = trading(result)
    assert entry["time"] == opened_at(bars, 2)
    # EURUSD long swap -7.2 points a lot a night = -$7.20 for 1 lot. Wednesday 00:00 charges
    # Tuesday night (1x), Thursday 00:00 Wednesday night (3x): -7.20 - 21.60 = -28.80.
    assert close["swap"] == -28.8
    assert close["profit"] == 240.0  # 1.10010 -> 1.10250
    assert result.balance.iloc[-1] == pytest.approx(10_000 + 240 - 28.8, abs=1e-9)
    # The swap is in the equity from the midnight it is charged: Wednesday's close is valued at
    # 1.10250 (+$240) less Tuesday night's $7.20.
    assert result.equity.iloc[3] == pytest.approx(10_000 + 240 - 7.2, abs=1e-9)


def test_swaps_false_charges_no_swap() -> None:
    result = run_backtest(daily_spec(), daily_bars(), settings=BacktestSettings(swaps=False))

    assert [d["swap"] for d in trading(result)] == [0.0, 0.0]
    assert result.balance.iloc[-1] == pytest.approx(10_240.0, abs=1e-9)


def one_lot_on(
    symbol: str,
    rows: list[tuple[float, float, float, float]],
    *,
    spread: float,
    settings: BacktestSettings | None = None,
) -> BacktestResult:
    """Buy 1 lot of ``symbol`` on the close crossing between bar 0's and bar 1's closes."""
    level = (rows[0][3] + rows[1][3]) / 2
    spec = make_spec(
        symbols=[symbol],
        long_entry={"op": "crosses_above", "left": "close", "right": level},
        sizing={"lots": 1.0},
    )
    return run_backtest(spec, make_bars(rows, spread=spread), settings=settings)


def test_usdjpy_profit_is_paid_in_usd_converted_at_the_closing_ask() -> None:
    rows = [
        (150.000, 150.010, 149.990, 149.995),
        (149.995, 150.005, 149.990, 150.000),
        (150.000, 151.100, 149.950, 151.000),
        (151.000, 151.050, 150.950, 151.000),
    ]

    result = one_lot_on("USDJPY", rows, spread=9)

    entry, close = trading(result)
    # Bought at 150.009 (ask), sold at 151.000: 0.991 x 100,000 = 99,100 JPY; at the USDJPY ask
    # 151.009 that is 99,100 / 151.009 = $656.25.
    assert (entry["price"], close["price"]) == (150.009, 151.0)
    assert close["profit"] == 656.25
    assert result.equity.iloc[2] == pytest.approx(10_000 + 99_100 / 151.009, abs=1e-6)


def test_xauusd_profit_is_100_ounces_times_the_move_in_usd() -> None:
    rows = [
        (2000.00, 2000.50, 1999.50, 1999.90),
        (1999.90, 2000.20, 1999.80, 2000.00),
        (2000.00, 2011.00, 1999.00, 2010.00),
        (2010.00, 2010.50, 2009.50, 2010.00),
    ]

    result = one_lot_on("XAUUSD", rows, spread=25)

    entry, close = trading(result)
    # Bought at 2000.25 (25 points of 0.01), sold at 2010.00: 9.75 x 100 oz = $975.
    assert (entry["price"], close["price"], close["profit"]) == (2000.25, 2010.0, 975.0)


EURGBP_ROWS = [
    (0.8500, 0.8502, 0.8498, 0.8499),
    (0.8499, 0.8503, 0.8497, 0.8500),
    (0.8500, 0.8530, 0.8490, 0.8520),
    (0.8520, 0.8526, 0.8510, 0.8520),
]


def test_eurgbp_profit_is_converted_to_usd_with_the_fallback_gbpusd_rate() -> None:
    # The backtest quotes only EURGBP: GBP -> USD (profit) and EUR -> USD (margin) come from the
    # fallback rates.
    rates = {"GBPUSD": 1.25, "EURUSD": 1.0625}

    result = one_lot_on(
        "EURGBP", EURGBP_ROWS, spread=12, settings=BacktestSettings(fallback_rates=rates)
    )

    entry, close = trading(result)
    # Bought at 0.85012, sold at 0.85200: 0.00188 x 100,000 = 188 GBP x 1.25 = $235.
    assert (entry["price"], close["price"], close["profit"]) == (0.85012, 0.852, 235.0)
    assert result.equity.iloc[2] == pytest.approx(10_235.0, abs=1e-6)


def test_eurgbp_without_a_gbp_rate_fails_naming_the_price_it_needs() -> None:
    with pytest.raises(NlTraderError, match="GBPUSD"):
        one_lot_on("EURGBP", EURGBP_ROWS, spread=12)


# ---- accounts ------------------------------------------------------------------------------------
CROSS_UP_AGAIN = {"op": "crosses_above", "left": "close", "right": 1.10015}
BOTH_WAYS = {
    "short_entry": CROSS_UP_AGAIN,  # bar 2 closes at 1.10200: a sell at bar 3's open
    "max_open_positions": 2,
    "exits": {"no_stop_loss": True, "on_opposite_signal": False},
}


def test_hedging_account_holds_a_long_and_a_short_side_by_side() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR, (1.1025, 1.1030, 1.1020, 1.1025)])

    result = run_backtest(make_spec(**BOTH_WAYS), bars)

    deals = trading(result)
    assert [(d["type"], d["entry"]) for d in deals[:2]] == [
        (mt5.DEAL_TYPE_BUY, mt5.DEAL_ENTRY_IN),
        (mt5.DEAL_TYPE_SELL, mt5.DEAL_ENTRY_IN),
    ]
    assert deals[0]["position_id"] != deals[1]["position_id"]
    assert [d["comment"] for d in deals[2:]] == ["end of test", "end of test"]


def test_netting_account_closes_the_long_with_the_opposite_sell() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR, (1.1025, 1.1030, 1.1020, 1.1025)])

    result = run_backtest(
        make_spec(**BOTH_WAYS), bars, settings=BacktestSettings(account_mode="netting")
    )

    entry, sell = trading(result)
    assert (sell["type"], sell["entry"], sell["position_id"]) == (
        mt5.DEAL_TYPE_SELL,
        mt5.DEAL_ENTRY_OUT,
        entry["position_id"],
    )
    # Bought at 1.10010, sold at bar 3's open bid 1.10200: 19 pips on 0.1 lot.
    assert (sell["price"], sell["profit"]) == (1.102, 19.0)
    assert not result.in_market.iloc[-1]


@pytest.mark.parametrize(("leverage", "filled"), [(100, False), (500, True)])
def test_one_lot_on_a_1000_dollar_deposit_needs_leverage_above_1_to_100(
    leverage: int, filled: bool
) -> None:
    # One EURUSD lot is 100,000 EUR, about $110,000: $1,100 of margin at 1:100 (refused, 10019),
    # $220 at 1:500.
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])

    result = run_backtest(
        make_spec(sizing={"lots": 1.0}),
        bars,
        settings=BacktestSettings(deposit=1_000, leverage=leverage),
    )

    assert bool(trading(result)) == filled
    if not filled:
        assert len(result.rejected) == 1
        assert "10019" in result.rejected[0]


def test_losing_position_is_stopped_out_when_margin_level_falls_to_50_percent() -> None:
    # $1,000 at 1:100, 0.5 lot bought at 1.10010. At a bid b the equity is
    # 1000 + 50,000 (b - 1.10010) and the margin 0.5 x 1000 x b: the level is 54.3 % at 1.08600
    # (equity $295, margin $543) and 45.2 % at 1.08500 (equity $245, margin $542.50).
    bars = make_bars(
        [
            QUIET,
            SIGNAL,
            (1.1000, 1.1002, 1.0860, 1.0870),
            (1.0870, 1.0875, 1.0850, 1.0860),
            (1.0860, 1.0865, 1.0855, 1.0860),
        ]
    )

    result = run_backtest(
        make_spec(sizing={"lots": 0.5}), bars, settings=BacktestSettings(deposit=1_000)
    )

    _, stop_out = trading(result)
    assert stop_out["reason"] == mt5.DEAL_REASON_SO
    assert stop_out["comment"].startswith("[so ")
    assert opened_at(bars, 3) <= stop_out["time"] <= closed_at(bars, 3)
    equity = 1_000 + stop_out["profit"]
    margin = 0.5 * CONTRACT / 100 * stop_out["price"]
    assert equity / margin * 100 <= 50.0
    assert result.equity_low.iloc[2] == pytest.approx(1_000 + 50_000 * (1.0860 - 1.1001), abs=1e-6)
    assert not result.in_market.iloc[3]


def test_stop_out_inside_a_bar_closes_where_margin_level_reaches_50_percent_not_at_the_low() -> (
    None
):
    # As above, 0.5 lot from 1.10010 on $1,000: 1000 + 50,000 (b - 1.10010) = 0.5 x 500 b gives
    # b = 54,005 / 49,750 = 1.08553. Bar 2 falls through it to 1.08000 in one leg.
    bars = make_bars([QUIET, SIGNAL, (1.1000, 1.1002, 1.0800, 1.0850), QUIET])

    result = run_backtest(
        make_spec(sizing={"lots": 0.5}), bars, settings=BacktestSettings(deposit=1_000)
    )

    _, stop_out = trading(result)
    assert stop_out["reason"] == mt5.DEAL_REASON_SO
    assert stop_out["price"] == pytest.approx(54_005 / 49_750, abs=0.0002)
    assert result.balance.iloc[-1] > 0


# ---- skipping quiet bars -------------------------------------------------------------------------
EXAMPLES = {example.slug: example.spec for example in load_examples()}


def deal_key(deal: dict[str, Any]) -> tuple[Any, ...]:
    return (
        deal["time"],
        deal["type"],
        deal["entry"],
        deal["volume"],
        deal["price"],
        deal["profit"],
        deal["swap"],
        deal["commission"],
        deal["reason"],
    )


@pytest.mark.parametrize("slug", sorted(EXAMPLES))
def test_skipping_quiet_bars_gives_the_deals_of_a_runner_that_walks_every_bar(slug: str) -> None:
    spec = EXAMPLES[slug]
    bars = sample_bars(spec.symbols[0], spec.timeframe, bars=2_000)

    # The naive runner's broker keeps UTC as the server's clock: so does this run.
    result = run_backtest(
        spec,
        bars,
        settings=BacktestSettings(
            fill="close", intrabar="ohlc", deposit=100_000, server_timezone="UTC"
        ),
    )
    naive = run_strategy(spec, bars, account=AccountConfig(balance=100_000))

    # The naive runner does not close what is open at the end; all else must be identical.
    assert [deal_key(d) for d in strategy_deals(result)] == [
        deal_key(d.as_dict()) for d in naive.broker.deals[1:]
    ]
    assert len(strategy_deals(result)) > 10


def test_crossover_strategy_walks_a_small_fraction_of_its_bars() -> None:
    spec = EXAMPLES["ma_crossover"]
    bars = sample_bars("EURUSD", "H1", bars=3_000)

    result = run_backtest(spec, bars)

    assert len(strategy_deals(result)) > 50
    assert result.bars_walked < len(bars) / 10


def test_bar_whose_ask_exactly_touches_a_short_stop_is_walked_and_stops_the_trade() -> None:
    # Sold at bar 1's bid close 1.08881 with a 2-pip stop: SL 1.08901 on the ask. Bar 2's bid high
    # 1.08889 plus 12 points is exactly 1.08901 (1.0890099999999998 in floats).
    rows = [
        (1.08870, 1.08872, 1.08866, 1.08870),
        (1.08870, 1.08883, 1.08868, 1.08881),
        (1.08870, 1.08889, 1.08850, 1.08860),
        (1.08860, 1.08865, 1.08855, 1.08860),
    ]
    spec = make_spec(
        long_entry=None,
        short_entry={"op": "crosses_above", "left": "close", "right": 1.08875},
        exits={"stop_loss": {"kind": "pips", "value": 2}},
    )

    result = run_backtest(spec, make_bars(rows, spread=12), settings=BacktestSettings(fill="close"))

    _, stop = trading(result)
    assert (stop["reason"], stop["price"], stop["profit"]) == (mt5.DEAL_REASON_SL, 1.08901, -2.0)
    assert stop["time"] < opened_at(make_bars(rows), 3)


def test_usdjpy_swap_is_converted_at_the_quote_before_midnight_though_quiet_bars_are_skipped() -> (
    None
):
    # Bought 1 lot at Monday 22:00's open ask 150.009; the 23:00 bar rallies to 155.000 and nothing
    # else happens until the end of the test (Tuesday 01:59:59). Monday night's swap, 14.5 points
    # = 1,450 JPY, is converted at the quote of midnight: the 23:00 close's ask 155.009, $9.35
    # (at the 22:00 close's ask 150.014 it would be $9.67).
    rows = [
        (150.000, 150.010, 149.990, 149.995),
        (149.995, 150.005, 149.990, 150.000),
        (150.000, 150.010, 149.995, 150.005),
        (150.005, 155.010, 150.000, 155.000),
        (155.000, 155.010, 154.990, 155.000),
        (155.000, 155.010, 154.990, 155.005),
    ]
    bars = make_bars(rows, spread=9, start=MONDAY + pd.Timedelta(hours=20))
    spec = make_spec(
        symbols=["USDJPY"],
        long_entry={"op": "crosses_above", "left": "close", "right": 149.9975},
        sizing={"lots": 1.0},
    )

    result = run_backtest(spec, bars, settings=BacktestSettings(server_timezone="UTC"))

    entry, close = trading(result)
    assert (entry["time"], entry["price"]) == (opened_at(bars, 2), 150.009)
    assert close["swap"] == round(1_450 / 155.009, 2) == 9.35
    assert result.bars_walked < len(bars)


def test_short_position_is_stopped_out_though_the_bar_that_does_it_would_be_quiet() -> None:
    # $1,000 at 1:100, 0.5 lot sold at 1.10000 (no spread). The margin grows with the price: at an
    # ask a the equity is 1000 - 50,000 (a - 1.1) and the margin 500 a, 50 % at a = 1.114428. Bar 3
    # reaches 1.11446 (equity $277, margin $557.23: 49.7 %) and nothing else happens in it.
    rows = [
        QUIET,
        SIGNAL,
        (1.1000, 1.1002, 1.0998, 1.1000),
        (1.1000, 1.11446, 1.0998, 1.1000),
        (1.1000, 1.1002, 1.0998, 1.1000),
    ]
    spec = side_spec("short", sizing={"lots": 0.5})

    result = run_backtest(
        spec, make_bars(rows, spread=0), settings=BacktestSettings(deposit=1_000, fill="close")
    )

    _, stop_out = trading(result)
    assert (stop_out["reason"], stop_out["price"], stop_out["profit"]) == (
        mt5.DEAL_REASON_SO,
        1.11446,
        -723.0,
    )


@pytest.mark.parametrize(
    "slug",
    [
        "ma_crossover",
        "macd_trend_atr_trailing",
        "limit_pullback",
        "cci_weekend_close",
        "usdjpy_ema_risk_percent",
    ],
)
def test_skipping_in_the_default_mode_changes_neither_the_deals_nor_the_curves(
    slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same engine with its skipping switched off (every bar walked) is the reference: only
    # the skipping differs between the two runs.
    spec = EXAMPLES[slug]
    bars = sample_bars(spec.symbols[0], spec.timeframe, bars=1_500)
    chosen = BacktestSettings(commission_per_lot=7)

    skipping = run_backtest(spec, bars, settings=chosen)
    monkeypatch.setattr(engine_module._Engine, "skip_quiet_bars", False)
    walking = run_backtest(spec, bars, settings=chosen)

    assert walking.bars_walked == len(bars) > skipping.bars_walked
    assert [deal_key(d) for d in trading(skipping)] == [deal_key(d) for d in trading(walking)]
    for name in ("equity", "balance", "in_market"):
        pd.testing.assert_series_equal(
            getattr(skipping, name), getattr(walking, name), check_exact=True
        )
    assert_equity_lows_agree(skipping, walking, spec)


# ---- accounting ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def costly_run() -> tuple[pd.DataFrame, BacktestResult]:
    """ma_crossover on 3,000 sample bars with commission, swaps and spread."""
    bars = sample_bars("EURUSD", "H1", bars=3_000)
    result = run_backtest(
        EXAMPLES["ma_crossover"], bars, settings=BacktestSettings(commission_per_lot=7)
    )
    return bars, result


def test_final_balance_is_the_deposit_plus_every_deals_profit_commission_and_swap(
    costly_run: tuple[pd.DataFrame, BacktestResult],
) -> None:
    _, result = costly_run
    assert any(d["swap"] for d in trading(result))
    assert any(d["commission"] for d in trading(result))

    assert result.balance.iloc[-1] == pytest.approx(10_000 + flows(result), abs=1e-6)


def test_equity_equals_balance_after_the_end_of_test_close(
    costly_run: tuple[pd.DataFrame, BacktestResult],
) -> None:
    _, result = costly_run

    assert result.equity.iloc[-1] == result.balance.iloc[-1]


def test_equity_low_is_never_above_equity(costly_run: tuple[pd.DataFrame, BacktestResult]) -> None:
    _, result = costly_run

    assert bool((result.equity_low <= result.equity).all())
    assert bool((result.equity_low < result.equity).any())


def open_intervals(deals: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(first deal time, closing deal time) of each position, from its deals' volumes."""
    volume: dict[int, float] = {}
    opened: dict[int, int] = {}
    intervals = []
    for deal in deals:
        pid = deal["position_id"]
        if deal["entry"] == mt5.DEAL_ENTRY_IN:
            opened.setdefault(pid, deal["time"])
            volume[pid] = volume.get(pid, 0.0) + deal["volume"]
        else:
            volume[pid] -= deal["volume"]
            if volume[pid] < 1e-9:
                intervals.append((opened.pop(pid), deal["time"]))
                del volume[pid]
    assert not volume, "every position is closed at the end of the test"
    return intervals


def test_in_market_is_true_exactly_between_each_entry_and_its_exit(
    costly_run: tuple[pd.DataFrame, BacktestResult],
) -> None:
    bars, result = costly_run
    intervals = open_intervals(trading(result))
    bar_ends = pd.DatetimeIndex(bars.index).as_unit("s").asi8 + HOUR - 1

    expected = [any(start <= end < stop for start, stop in intervals) for end in bar_ends]

    assert result.in_market.tolist() == expected
    assert 0 < sum(expected) < len(expected)


@pytest.mark.parametrize(
    ("side", "worst"),
    [
        # Long 0.1 lot from 1.10010: bar 2's bid low 1.09900 is 11 pips down.
        ("long", 10_000 - 11.0),
        # Short 0.1 lot from 1.10000: bar 2's ask high 1.10300 + 10 points is 31 pips up.
        ("short", 10_000 - 31.0),
    ],
)
def test_equity_low_values_the_book_at_the_bars_adverse_extreme(side: str, worst: float) -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])
    spec = side_spec(side)

    result = run_backtest(spec, bars, settings=BacktestSettings(fill="close"))

    assert result.equity_low.iloc[2] == pytest.approx(worst, abs=1e-6)
    assert result.equity_low.iloc[2] < result.equity.iloc[2]
    assert result.equity_low.iloc[0] == result.equity.iloc[0] == 10_000


# ---- accounting invariants over random strategies and bars (hypothesis) --------------------------
def replay_book(deals: list[dict[str, Any]], until_s: int) -> list[tuple[bool, float, float]]:
    """The open positions (is_buy, lots, open price) after the deals up to ``until_s``, worked out
    from the MT5 deal list alone (netting adds average the price, INOUT reverses)."""
    book: dict[int, tuple[bool, float, float]] = {}
    for deal in deals:
        if deal["time"] > until_s:
            break
        pid, lots, price = deal["position_id"], deal["volume"], deal["price"]
        is_buy = deal["type"] == mt5.DEAL_TYPE_BUY
        entry = deal["entry"]
        if entry == mt5.DEAL_ENTRY_IN and pid in book:
            # The simulator keeps a netting position's average price on the symbol's digits.
            side, held, average = book[pid]
            total = held + lots
            book[pid] = (side, round(total, 8), round((average * held + price * lots) / total, 5))
        elif entry == mt5.DEAL_ENTRY_IN:
            book[pid] = (is_buy, lots, price)
        elif entry == mt5.DEAL_ENTRY_INOUT:
            book[pid] = (is_buy, round(lots - book[pid][1], 8), price)
        else:
            side, held, average = book[pid]
            left = round(held - lots, 8)
            if left <= 1e-9:
                del book[pid]
            else:
                book[pid] = (side, left, average)
    return list(book.values())


QUOTE = {"EURUSD": (110_000, 5), "USDJPY": (150_000, 3)}  # start price in points, digits


@st.composite
def random_bars(
    draw: Callable[..., Any], symbol: str = "EURUSD", sizes: tuple[int, int] = (20, 60)
) -> pd.DataFrame:
    """H1 bars of ``symbol`` from Monday 00:00 or 20:00: a random walk in points, with gaps, wicks
    and spreads."""
    count = draw(st.integers(*sizes))
    steps = draw(st.lists(st.integers(-40, 40), min_size=count, max_size=count))
    gaps = draw(st.lists(st.integers(-8, 8), min_size=count, max_size=count))
    wicks = draw(st.lists(st.integers(0, 25), min_size=2 * count, max_size=2 * count))
    spreads = draw(st.lists(st.integers(0, 20), min_size=count, max_size=count))
    start = MONDAY + pd.Timedelta(hours=draw(st.sampled_from([0, 20])))
    close, digits = QUOTE[symbol]
    point = 10.0**-digits
    rows = []
    for i in range(count):
        open_ = close + gaps[i]
        close = open_ + steps[i]
        high = max(open_, close) + wicks[2 * i]
        low = min(open_, close) - wicks[2 * i + 1]
        rows.append(tuple(round(p * point, digits) for p in (open_, high, low, close)))
    return make_bars(rows, spread=spreads, start=start)


@st.composite
def random_specs(
    draw: Callable[..., Any], symbol: str = "EURUSD", sparse: bool = False
) -> StrategySpec:
    """Random entries (market or pending), stops, targets, trailing, time exits and sizes; the
    signals are frequent (rising / falling closes) or ``sparse`` (two SMAs crossing)."""
    rules: dict[str, Any] = {
        "long_entry": {"op": "rising", "series": "close", "bars": draw(st.integers(1, 2))},
        "short_entry": {"op": "falling", "series": "close", "bars": draw(st.integers(1, 2))},
    }
    if sparse:
        rules = {
            "indicators": [
                {"id": "fast", "kind": "sma", "params": {"period": draw(st.integers(2, 5))}},
                {"id": "slow", "kind": "sma", "params": {"period": draw(st.integers(8, 20))}},
            ],
            "long_entry": {"op": "crosses_above", "left": "fast", "right": "slow"},
            "short_entry": {"op": "crosses_below", "left": "fast", "right": "slow"},
        }
    order = draw(st.sampled_from(["market", "limit", "stop", "stop_limit"]))
    entry: dict[str, Any] = {"order": order}
    if order != "market":
        entry["offset_pips"] = draw(st.integers(1, 6))
        entry["expiry_bars"] = draw(st.one_of(st.none(), st.integers(1, 4)))
    if order == "stop_limit":
        entry["limit_offset_pips"] = draw(st.integers(1, 3))
    exits: dict[str, Any] = {"on_opposite_signal": draw(st.booleans())}
    stop = draw(st.one_of(st.none(), st.integers(3, 60)))
    if stop is None:
        exits["no_stop_loss"] = True
    else:
        exits["stop_loss"] = {"kind": "pips", "value": stop}
    target = draw(st.one_of(st.none(), st.integers(3, 60)))
    if target is not None:
        exits["take_profit"] = {"kind": "pips", "value": target}
    if draw(st.booleans()):
        exits["trailing_stop"] = {"kind": "pips", "distance": draw(st.integers(3, 15))}
    exits["max_bars"] = draw(st.one_of(st.none(), st.integers(1, 6)))
    positions = draw(st.integers(1, 3))
    return make_spec(
        symbols=[symbol],
        **rules,
        entry=entry,
        exits={key: value for key, value in exits.items() if value is not None},
        sizing={"lots": draw(st.sampled_from([0.01, 0.1, 0.37, 1.0, 3.0]))},
        max_open_positions=positions,
        pyramiding=draw(st.integers(1, positions)),
        filters={"weekdays": ALL_WEEK},
    )


random_settings = st.builds(
    BacktestSettings,
    account_mode=st.sampled_from(["hedging", "netting"]),
    fill=st.sampled_from(["next_open", "close"]),
    intrabar=st.sampled_from(["conservative", "ohlc"]),
    commission_per_lot=st.sampled_from([0.0, 3.5, 7.0]),
    slippage_points=st.integers(0, 3),
    swaps=st.just(False),  # the floating P/L below is then the whole of equity - balance
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_specs(), bars=random_bars(), chosen=random_settings)
def test_every_run_balances_its_books(
    spec: StrategySpec, bars: pd.DataFrame, chosen: BacktestSettings
) -> None:
    result = run_backtest(spec, bars, settings=chosen)
    deals = trading(result)

    # The balance is the deposit plus every deal's money; all is closed at the end.
    assert result.balance.iloc[-1] == pytest.approx(chosen.deposit + flows(result), abs=1e-6)
    assert result.equity.iloc[-1] == pytest.approx(result.balance.iloc[-1], abs=1e-9)
    # At every bar's close: equity = balance + the floating P/L of the positions the deals leave
    # open (longs at the bid close, shorts at the ask close); equity_low is at most equity.
    bid = bars["close"].to_numpy()
    ask = bid + bars["spread"].to_numpy() * POINT
    bar_ends = pd.DatetimeIndex(bars.index).as_unit("s").asi8 + HOUR - 1
    for k, end in enumerate(bar_ends):
        book = replay_book(deals, int(end))
        floating = math.fsum(
            (bid[k] - price if is_buy else price - ask[k]) * lots * CONTRACT
            for is_buy, lots, price in book
        )
        assert result.equity.iloc[k] == pytest.approx(result.balance.iloc[k] + floating, abs=1e-6)
        assert bool(result.in_market.iloc[k]) == bool(book)
        assert result.equity_low.iloc[k] <= result.equity.iloc[k]
    assert replay_book(deals, int(bar_ends[-1])) == []
    # Every filled order has exactly one deal (a close-by two); no other order has any.
    per_order: dict[int, int] = {}
    for deal in deals:
        per_order[deal["order"]] = per_order.get(deal["order"], 0) + 1
    for order in result.orders:
        if order["state"] == mt5.ORDER_STATE_FILLED:
            expected = 2 if order["type"] == mt5.ORDER_TYPE_CLOSE_BY else 1
        else:
            expected = 0
        assert per_order.pop(order["ticket"], 0) == expected, order
    assert per_order == {}, "every deal comes from an order of the run"


@st.composite
def symbol_bars_and_spec(draw: Callable[..., Any]) -> tuple[pd.DataFrame, StrategySpec]:
    symbol = draw(st.sampled_from(sorted(QUOTE)))
    bars = draw(random_bars(symbol, sizes=(60, 160)))
    return bars, draw(random_specs(symbol, sparse=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=symbol_bars_and_spec(),
    chosen=st.builds(
        BacktestSettings,
        deposit=st.sampled_from([300.0, 1_000.0, 10_000.0]),  # small ones get stopped out
        leverage=st.sampled_from([30, 100, 500]),
        account_mode=st.sampled_from(["hedging", "netting"]),
        fill=st.sampled_from(["next_open", "close"]),
        intrabar=st.sampled_from(["conservative", "ohlc"]),
        commission_per_lot=st.sampled_from([0.0, 7.0]),
        slippage_points=st.integers(0, 3),
        swaps=st.booleans(),
    ),
)
def test_skipping_quiet_bars_changes_nothing_for_random_strategies(
    case: tuple[pd.DataFrame, StrategySpec], chosen: BacktestSettings
) -> None:
    bars, spec = case

    skipping = run_backtest(spec, bars, settings=chosen)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module._Engine, "skip_quiet_bars", False)
        walking = run_backtest(spec, bars, settings=chosen)

    assert [deal_key(d) for d in trading(skipping)] == [deal_key(d) for d in trading(walking)]
    for name in ("equity", "balance", "in_market"):
        pd.testing.assert_series_equal(
            getattr(skipping, name), getattr(walking, name), check_exact=True
        )
    assert_equity_lows_agree(skipping, walking, spec)


# ---- end of test ---------------------------------------------------------------------------------
def test_open_position_is_closed_at_the_last_bars_close_with_comment_end_of_test() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])

    result = run_backtest(make_spec(), bars)

    entry, close = trading(result)
    assert (close["type"], close["entry"], close["position_id"]) == (
        mt5.DEAL_TYPE_SELL,
        mt5.DEAL_ENTRY_OUT,
        entry["position_id"],
    )
    # At the last bar's bid close 1.10250, in its last second: 1.10010 -> 1.10250 on 0.1 lot.
    assert (close["time"], close["price"], close["profit"], close["comment"]) == (
        closed_at(bars, 3),
        1.1025,
        24.0,
        "end of test",
    )
    assert not result.in_market.iloc[-1]


def test_pending_order_still_waiting_at_the_end_is_cancelled() -> None:
    bars = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])
    spec = make_spec(entry={"order": "limit", "offset_pips": 50})  # a buy limit at 1.09500

    result = run_backtest(spec, bars)

    assert trading(result) == []
    [order] = result.orders
    assert (order["type"], order["price_open"], order["state"]) == (
        mt5.ORDER_TYPE_BUY_LIMIT,
        1.095,
        mt5.ORDER_STATE_CANCELED,
    )
    assert order["time_done"] == closed_at(bars, 3)


# ---- bad input -----------------------------------------------------------------------------------
GOOD_BARS = make_bars([QUIET, SIGNAL, GAP_UP_BAR, LAST_BAR])


@pytest.mark.parametrize(
    ("bars", "problem"),
    [
        (GOOD_BARS.iloc[:0], "bars: no bars to test on"),
        (GOOD_BARS.drop(columns="low"), "bars: missing column 'low'"),
        (GOOD_BARS.tz_localize(None), "bars: the index must be timezone-aware (UTC)"),
    ],
    ids=["empty", "no low column", "naive index"],
)
def test_unusable_bars_are_refused_naming_the_problem(bars: pd.DataFrame, problem: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        run_backtest(make_spec(), bars)

    assert problem in raised.value.problems


# ---- progress ------------------------------------------------------------------------------------
def test_progress_is_reported_as_done_of_total_and_ends_at_n_of_n() -> None:
    bars = sample_bars("EURUSD", "H1", bars=1_000)
    calls: list[tuple[int, int]] = []

    run_backtest(
        EXAMPLES["ma_crossover"], bars, progress=lambda done, total: calls.append((done, total))
    )

    assert calls[-1] == (1_000, 1_000)
    assert {total for _, total in calls} == {1_000}
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert done[0] >= 0


def test_pyramiding_on_a_netting_account_counts_entries_by_volume() -> None:
    # Long on every bar, pyramiding 2, 0.1 lot: the merged position may hold 0.2 lot, never more.
    from nl_trader.spec import parse_spec

    spec = parse_spec(
        {
            "name": "always long",
            "symbols": ["EURUSD"],
            "timeframe": "H1",
            "long_entry": {"op": "gt", "left": "close", "right": 0.5},
            "exits": {"stop_loss": {"kind": "pips", "value": 500}},
            "max_open_positions": 2,
            "pyramiding": 2,
            "filters": {"weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        }
    )
    bars = make_bars([QUIET] * 12)
    result = run_backtest(spec, bars, settings=BacktestSettings(account_mode="netting"))
    buys = [d for d in result.deals[1:] if d["type"] == 0 and d["entry"] == 0]
    assert sum(d["volume"] for d in buys) == pytest.approx(0.2)
