"""The backtest report's figures are MT5 Strategy Tester figures, worked by hand.

Deals are MT5 ``TradeDeal`` dicts on a $10,000 account with a commission of $7 per lot and side
(charged on every deal but a close-by). The arithmetic of every figure is in the comments.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from nl_trader import mt5
from nl_trader.backtest import stats as stats_module
from nl_trader.backtest.stats import (
    ClosedTrade,
    Streak,
    closed_trades,
    compute_stats,
)
from nl_trader.errors import InvalidInputError
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.symbols import symbol_spec

DEPOSIT = 10_000.0
HOUR = 3_600
T0 = int(datetime(2024, 1, 8, 10, tzinfo=UTC).timestamp())  # Monday 8 January 2024, 10:00 UTC
BUY, SELL, BALANCE = mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL, mt5.DEAL_TYPE_BALANCE
IN, OUT = mt5.DEAL_ENTRY_IN, mt5.DEAL_ENTRY_OUT
INOUT, OUT_BY = mt5.DEAL_ENTRY_INOUT, mt5.DEAL_ENTRY_OUT_BY


def deal(
    ticket: int,
    hour: int,
    deal_type: int,
    entry: int,
    position_id: int,
    volume_lots: float,
    *,
    profit: float = 0.0,
    commission: float = 0.0,
    swap: float = 0.0,
) -> dict[str, Any]:
    """A TradeDeal dict ``hour`` hours after Monday 10:00."""
    return {
        "ticket": ticket,
        "order": ticket,
        "time": T0 + hour * HOUR,
        "time_msc": (T0 + hour * HOUR) * 1000,
        "type": deal_type,
        "entry": entry,
        "magic": 0,
        "position_id": position_id,
        "reason": mt5.DEAL_REASON_EXPERT,
        "volume": volume_lots,
        "price": 1.1,
        "commission": commission,
        "swap": swap,
        "profit": profit,
        "fee": 0.0,
        "symbol": "EURUSD",
        "comment": "",
    }


def deposit_deal() -> dict[str, Any]:
    return {**deal(1, -1, BALANCE, IN, 0, 0.0, profit=DEPOSIT), "symbol": ""}


def closes(*results: float) -> list[dict[str, Any]]:
    """One buy opened and closed per result, without commission: the trade results are exact."""
    deals = [deposit_deal()]
    for i, result in enumerate(results):
        position = 100 + i
        deals.append(deal(10 + 2 * i, 2 * i, BUY, IN, position, 1.0))
        deals.append(deal(11 + 2 * i, 2 * i + 1, SELL, OUT, position, 1.0, profit=result))
    return deals


def curve(*points: tuple[str, float]) -> pd.Series:
    """A per-bar series on UTC times given as ISO strings."""
    times = pd.DatetimeIndex([time for time, _ in points], tz="UTC")
    return pd.Series([value for _, value in points], index=times, dtype=float)


def hourly(*values: float) -> pd.Series:
    """One value per H1 bar from Monday 8 January 2024, 10:00 UTC."""
    times = pd.date_range("2024-01-08 10:00", periods=len(values), freq="h", tz="UTC")
    return pd.Series(values, index=times, dtype=float)


def run(streak: Streak) -> tuple[int, float]:
    return streak.count, streak.money


def stats_of(deals: list[dict[str, Any]], **kwargs: Any) -> stats_module.TesterStats:
    """Stats of ``deals`` over a flat curve at the deposit (for the trade figures only)."""
    flat = hourly(DEPOSIT, DEPOSIT)
    return compute_stats(deals, flat, flat, initial_deposit=DEPOSIT, **kwargs)


# Seven trades from partial closes, a netting reversal and a close-by, with commission allocated.
MIXED_DEALS = [
    deposit_deal(),
    # Position 100: buy 3 lots, entry commission 3 x $7 = -21.
    deal(10, 0, BUY, IN, 100, 3.0, commission=-21.0),
    # Partial close of 1 lot: 50 - 1.5 swap - 7 own commission - 21 x 1/3 = +34.5 (long win).
    deal(11, 1, SELL, OUT, 100, 1.0, profit=50.0, swap=-1.5, commission=-7.0),
    # The other 2 lots: -80 - 3 swap - 14 own commission - 14 (the rest of the pool) = -111 (long loss).
    deal(12, 2, SELL, OUT, 100, 2.0, profit=-80.0, swap=-3.0, commission=-14.0),
    # Position 200 (netting): sell 1 lot, -7.
    deal(13, 3, SELL, IN, 200, 1.0, commission=-7.0),
    # Reversal: buy 1.5 lots closes the 1-lot sell and opens 0.5 lot long. Its -10.5 commission is
    # 1/1.5 for the close (-7) and 0.5/1.5 for the new long (-3.5): 120 - 7 - 7 = +106 (short win).
    deal(14, 4, BUY, INOUT, 200, 1.5, profit=120.0, commission=-10.5),
    # Close the 0.5 lot long: 20 - 3.5 own - 3.5 from the reversal = +13 (long win).
    deal(15, 5, SELL, OUT, 200, 0.5, profit=20.0, commission=-3.5),
    # Hedging: buy 1 lot (position 300, -7) and sell 0.6 lot (position 400, -4.2).
    deal(16, 6, BUY, IN, 300, 1.0, commission=-7.0),
    deal(17, 6, SELL, IN, 400, 0.6, commission=-4.2),
    # Close 300 by 400 for 0.6 lot, no commission on close-by deals:
    # 300: -30 - 7 x 0.6/1 = -34.2 (long loss); 400: 0 - 4.2 = -4.2 (short loss).
    deal(18, 7, SELL, OUT_BY, 300, 0.6, profit=-30.0),
    deal(19, 7, BUY, OUT_BY, 400, 0.6, profit=0.0),
    # The 0.4 lot left of 300: 12 - 2.8 own - 2.8 (the pool's rest) = +6.4 (long win).
    deal(20, 8, SELL, OUT, 300, 0.4, profit=12.0, commission=-2.8),
]
MIXED_RESULTS = [34.5, -111.0, 106.0, 13.0, -34.2, -4.2, 6.4]


# ---- trades and commission allocation -----------------------------------------------------------
def test_each_closing_deal_is_a_trade_carrying_its_share_of_the_entry_commission() -> None:
    trades = closed_trades(MIXED_DEALS)

    assert [trade.net_profit for trade in trades] == pytest.approx(MIXED_RESULTS)
    assert [trade.deal_ticket for trade in trades] == [11, 12, 14, 15, 18, 19, 20]
    assert [trade.volume_lots for trade in trades] == pytest.approx(
        [1.0, 2.0, 1.0, 0.5, 0.6, 0.6, 0.4]
    )


def test_a_sell_deal_closes_a_long_trade_and_a_buy_deal_a_short_one() -> None:
    sides = [trade.side for trade in closed_trades(MIXED_DEALS)]

    assert sides == ["long", "long", "short", "long", "long", "short", "long"]


def test_a_reversal_counts_only_the_closed_volume_as_the_trade() -> None:
    reversal = next(t for t in closed_trades(MIXED_DEALS) if t.deal_ticket == 14)

    # The 1.5-lot reversal deal closed the 1-lot sell; the other 0.5 lot opened a long.
    assert reversal.volume_lots == pytest.approx(1.0)
    assert reversal.time == datetime(2024, 1, 8, 14, tzinfo=UTC)


def test_the_deposit_and_other_balance_deals_are_not_trades() -> None:
    deals = [deposit_deal(), {**deposit_deal(), "ticket": 2, "profit": 500.0}]

    assert closed_trades(deals) == []


def test_trades_follow_deal_time_not_list_order() -> None:
    shuffled = [MIXED_DEALS[0], *reversed(MIXED_DEALS[1:])]

    results = [trade.net_profit for trade in closed_trades(shuffled)]

    assert results == pytest.approx(MIXED_RESULTS)


def test_a_close_without_its_entry_deal_gets_no_entry_commission() -> None:
    orphan = [deal(11, 1, SELL, OUT, 999, 1.0, profit=50.0, commission=-7.0)]

    assert closed_trades(orphan)[0].net_profit == pytest.approx(43.0)  # 50 - 7


def test_the_fee_of_a_deal_counts_like_commission() -> None:
    deals = [
        {**deal(10, 0, BUY, IN, 100, 1.0), "fee": -1.0},
        {**deal(11, 1, SELL, OUT, 100, 1.0, profit=10.0), "fee": -1.0},
    ]

    assert closed_trades(deals)[0].net_profit == pytest.approx(8.0)  # 10 - 1 - 1


def test_net_profit_is_the_balance_the_simulated_broker_books_for_the_same_deals() -> None:
    # Netting: buy 3, sell 1 (partial), sell 3.5 (reversal into 1.5 short), buy 1.5 (close);
    # hedging: buy 1 and sell 0.6, close by, close the rest. $7 a lot and side.
    spec = symbol_spec("EURUSD", {"commission_per_lot": 7.0})
    brokers = []
    for mode, steps in (
        (mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING, [(0, 3.0), (1, 1.0), (1, 3.5), (0, 1.5)]),
        (mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING, [(0, 1.0), (1, 0.6)]),
    ):
        broker = SimBroker([spec], account=AccountConfig(margin_mode=mode))
        for i, (order_type, volume) in enumerate(steps):
            bid = 1.10000 + 0.00150 * (i % 2) - 0.00070 * i
            broker.set_quote("EURUSD", T0 + i * HOUR, bid, bid + 0.0001)
            broker.send(
                {
                    "action": mt5.TRADE_ACTION_DEAL,
                    "symbol": "EURUSD",
                    "volume": volume,
                    "type": order_type,
                    "type_filling": mt5.ORDER_FILLING_FOK,
                }
            )
        brokers.append(broker)
    hedging = brokers[1]
    long_id, short_id = sorted(hedging.positions)
    hedging.send(
        {"action": mt5.TRADE_ACTION_CLOSE_BY, "position": long_id, "position_by": short_id}
    )
    hedging.set_quote("EURUSD", T0 + 9 * HOUR, 1.10300, 1.10310)
    rest = hedging.positions[long_id]
    hedging.send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "volume": rest.volume,
            "type": mt5.ORDER_TYPE_SELL,
            "position": long_id,
            "type_filling": mt5.ORDER_FILLING_FOK,
        }
    )

    for broker in brokers:
        assert broker.positions == {}
        trades = closed_trades(deal.as_dict() for deal in broker.deals)
        booked = broker.balance - DEPOSIT
        assert math.fsum(t.net_profit for t in trades) == pytest.approx(booked, abs=1e-9)
    assert [len(closed_trades(d.as_dict() for d in b.deals)) for b in brokers] == [3, 3]


# ---- trade figures ------------------------------------------------------------------------------
def test_the_report_figures_of_seven_mixed_trades() -> None:
    stats = stats_of(MIXED_DEALS)

    # Results: +34.5, -111, +106, +13, -34.2, -4.2, +6.4.
    assert stats.total_trades == 7
    assert stats.gross_profit == pytest.approx(159.9)  # 34.5 + 106 + 13 + 6.4
    assert stats.gross_loss == pytest.approx(-149.4)  # -111 - 34.2 - 4.2
    assert stats.total_net_profit == pytest.approx(10.5)  # 159.9 - 149.4
    assert stats.profit_factor == pytest.approx(159.9 / 149.4)  # 1.0703
    assert stats.expected_payoff == pytest.approx(1.5)  # 10.5 / 7
    assert stats.profit_trades == 4
    assert stats.profit_trades_pct == pytest.approx(400 / 7)  # 57.14 %
    assert stats.loss_trades == 3
    assert stats.loss_trades_pct == pytest.approx(300 / 7)  # 42.86 %
    assert stats.largest_profit_trade == pytest.approx(106.0)
    assert stats.largest_loss_trade == pytest.approx(-111.0)
    assert stats.average_profit_trade == pytest.approx(39.975)  # 159.9 / 4
    assert stats.average_loss_trade == pytest.approx(-49.8)  # -149.4 / 3


def test_long_and_short_trades_are_counted_with_their_winning_share() -> None:
    stats = stats_of(MIXED_DEALS)

    # Long: +34.5, -111, +13, -34.2, +6.4 -> 3 of 5 won; short: +106, -4.2 -> 1 of 2 won.
    assert (stats.long_trades, stats.long_won_pct) == (5, pytest.approx(60.0))
    assert (stats.short_trades, stats.short_won_pct) == (2, pytest.approx(50.0))


def test_streaks_by_count_and_by_money_can_be_different_runs() -> None:
    stats = stats_of(MIXED_DEALS)

    # Runs: W(34.5) L(-111) W W(106 + 13) L L(-34.2 - 4.2) W(6.4).
    assert run(stats.max_consecutive_wins) == (2, pytest.approx(119.0))
    assert run(stats.maximal_consecutive_profit) == (2, pytest.approx(119.0))
    # The longest losing run (2 trades, -38.4) is not the deepest (1 trade, -111).
    assert run(stats.max_consecutive_losses) == (2, pytest.approx(-38.4))
    assert run(stats.maximal_consecutive_loss) == (1, pytest.approx(-111.0))
    assert stats.average_consecutive_wins == pytest.approx(4 / 3)  # runs of 1, 2, 1
    assert stats.average_consecutive_losses == pytest.approx(1.5)  # runs of 1, 2


def test_a_longer_run_of_small_wins_beats_a_shorter_run_of_big_ones_on_count_only() -> None:
    stats = stats_of(closes(5, 5, 5, -1, 100, 200, -1, -2, -3))

    # Win runs: 3 trades 15; 2 trades 300. Loss runs: 1 trade -1; 3 trades -6.
    assert stats.max_consecutive_wins == Streak(count=3, money=15.0)
    assert stats.maximal_consecutive_profit == Streak(count=2, money=300.0)
    assert stats.max_consecutive_losses == Streak(count=3, money=-6.0)
    assert stats.maximal_consecutive_loss == Streak(count=3, money=-6.0)


def test_equal_runs_go_to_the_earliest() -> None:
    stats = stats_of(closes(10, 20, -1, 30, -1, 15, 25, -1, 40))

    # Win runs: 2 trades 30, 1 trade 30, 2 trades 40, 1 trade 40.
    assert stats.max_consecutive_wins == Streak(count=2, money=30.0)  # not the later 2 for 40
    assert stats.maximal_consecutive_profit == Streak(count=2, money=40.0)  # not the later 1 for 40
    assert stats.max_consecutive_losses == Streak(count=1, money=-1.0)


def test_a_break_even_trade_is_neither_a_win_nor_a_loss_and_ends_a_run() -> None:
    stats = stats_of(closes(10, 0, 20, -5, 0, -5))

    assert (stats.total_trades, stats.profit_trades, stats.loss_trades) == (6, 2, 2)
    assert stats.profit_trades_pct == pytest.approx(100 / 3)  # 2 of 6; 2 of 6 break even
    # 10 | 0 | 20: two runs of 1 win, the earliest (10) stands for both; 20 is the most money.
    assert stats.max_consecutive_wins == Streak(count=1, money=10.0)
    assert stats.maximal_consecutive_profit == Streak(count=1, money=20.0)
    assert stats.max_consecutive_losses == Streak(count=1, money=-5.0)
    assert stats.average_consecutive_wins == pytest.approx(1.0)
    assert stats.long_won_pct == pytest.approx(100 / 3)


def test_a_break_even_trade_after_commission_allocation_is_not_a_win() -> None:
    # 0.3 lot closed in three slices of 0.1; 0.1 + 0.2 - 0.3 is not exactly 0 in floating point.
    deals = [
        deal(10, 0, BUY, IN, 100, 0.3, commission=-0.3),
        deal(11, 1, SELL, OUT, 100, 0.1, profit=0.3, commission=-0.1),
        deal(12, 2, SELL, OUT, 100, 0.1, profit=0.2, commission=-0.1),
        deal(13, 3, SELL, OUT, 100, 0.1, profit=0.2, commission=-0.1),
    ]

    results = [t.net_profit for t in closed_trades(deals)]

    assert results == [pytest.approx(0.1), 0.0, 0.0]  # 0.3 - 0.1 - 0.1; 0.2 - 0.1 - 0.1 twice
    assert stats_of(deals).profit_trades == 1


def test_holding_period_returns_follow_the_balance_trade_by_trade() -> None:
    stats = stats_of(closes(1_000, -550))

    # Balance 10,000 -> 11,000 -> 10,450: HPR 1.1 then 10,450 / 11,000 = 0.95.
    assert stats.ahpr == pytest.approx(1.025)  # (1.1 + 0.95) / 2
    assert stats.ghpr == pytest.approx(math.sqrt(1.045))  # (10,450 / 10,000) ** (1/2) = 1.02225
    # Sample stdev of (1.1, 0.95) = 0.15 / sqrt(2) = 0.106066; (1.025 - 1) / 0.106066 = 0.2357.
    assert stats.sharpe_ratio_per_trade == pytest.approx(0.025 / (0.15 / math.sqrt(2)))


def test_holding_period_returns_are_undefined_once_the_balance_is_gone() -> None:
    stats = stats_of(closes(-10_000, 50))

    # After the first trade the balance is 0: the second HPR would divide by it.
    assert (stats.ahpr, stats.ghpr, stats.sharpe_ratio_per_trade) == (None, None, None)


# ---- drawdowns ----------------------------------------------------------------------------------
def test_equity_drawdowns_absolute_maximal_and_relative_come_from_different_falls() -> None:
    equity = hourly(10_000, 12_000, 9_000, 30_000, 25_000, 26_000)

    stats = compute_stats([], equity, hourly(*[DEPOSIT] * 6), initial_deposit=DEPOSIT)

    drawdown = stats.equity_drawdown
    assert drawdown.absolute_money == pytest.approx(1_000.0)  # 10,000 - lowest 9,000
    # 12,000 -> 9,000 is 3,000 (25 %); 30,000 -> 25,000 is 5,000 (16.67 %).
    assert drawdown.maximal_money == pytest.approx(5_000.0)
    assert drawdown.maximal_pct == pytest.approx(100 / 6)
    assert drawdown.relative_pct == pytest.approx(25.0)
    assert drawdown.relative_money == pytest.approx(3_000.0)
    assert stats.total_net_profit == 0.0  # no trades
    assert stats.recovery_factor == 0.0  # 0 / 5,000


def test_balance_drawdowns_absolute_maximal_and_relative_come_from_different_falls() -> None:
    balance = hourly(9_500, 11_000, 9_350, 30_000, 27_000)

    stats = compute_stats([], hourly(*[DEPOSIT] * 5), balance, initial_deposit=DEPOSIT)

    drawdown = stats.balance_drawdown
    assert drawdown.absolute_money == pytest.approx(650.0)  # 10,000 - lowest 9,350
    # 10,000 -> 9,500 is 500 (5 %); 11,000 -> 9,350 is 1,650 (15 %); 30,000 -> 27,000 is 3,000 (10 %).
    assert drawdown.maximal_money == pytest.approx(3_000.0)
    assert drawdown.maximal_pct == pytest.approx(10.0)
    assert drawdown.relative_pct == pytest.approx(15.0)
    assert drawdown.relative_money == pytest.approx(1_650.0)
    assert stats.equity_drawdown.maximal_money == 0.0


def test_the_example_of_a_12000_peak_and_a_20000_peak() -> None:
    equity = hourly(12_000, 10_800, 20_000, 17_000, 18_500)

    drawdown = compute_stats([], equity, equity, initial_deposit=DEPOSIT).equity_drawdown

    # 12,000 -> 10,800 is 1,200 (10 %); 20,000 -> 17,000 is 3,000 (15 %): both go to the second.
    assert (drawdown.maximal_money, drawdown.maximal_pct) == (3_000.0, pytest.approx(15.0))
    assert (drawdown.relative_pct, drawdown.relative_money) == (pytest.approx(15.0), 3_000.0)
    assert drawdown.absolute_money == 0.0  # never below the 10,000 deposit


def test_a_curve_that_starts_below_the_deposit_falls_from_the_deposit() -> None:
    equity = hourly(9_600, 9_800)

    drawdown = compute_stats([], equity, equity, initial_deposit=DEPOSIT).equity_drawdown

    assert drawdown.maximal_money == pytest.approx(400.0)  # 10,000 -> 9,600
    assert drawdown.relative_pct == pytest.approx(4.0)
    assert drawdown.absolute_money == pytest.approx(400.0)


def test_the_worst_intrabar_equity_deepens_the_equity_drawdown_only() -> None:
    equity = hourly(10_000, 10_200, 10_100)
    lows = hourly(10_000, 9_800, 10_050)

    stats = compute_stats([], equity, equity, initial_deposit=DEPOSIT, equity_low=lows)
    without = compute_stats([], equity, equity, initial_deposit=DEPOSIT)

    # Path 10,000 | 10,000, 10,000 | 9,800, 10,200 | 10,050, 10,100: 10,000 -> 9,800 is 200 (2 %).
    assert stats.equity_drawdown.maximal_money == pytest.approx(200.0)
    assert stats.equity_drawdown.maximal_pct == pytest.approx(2.0)
    assert stats.equity_drawdown.absolute_money == pytest.approx(200.0)
    # Closes only: 10,200 -> 10,100 is 100; the balance curve is not touched by the lows.
    assert without.equity_drawdown.maximal_money == pytest.approx(100.0)
    assert stats.balance_drawdown.maximal_money == pytest.approx(100.0)


def test_recovery_factor_is_net_profit_over_the_maximal_equity_drawdown() -> None:
    equity = hourly(10_000, 9_800, 10_300)

    stats = compute_stats(closes(300), equity, equity, initial_deposit=DEPOSIT)

    assert stats.recovery_factor == pytest.approx(1.5)  # 300 / (10,000 - 9,800)


# ---- returns ------------------------------------------------------------------------------------
DAILY_EQUITY = curve(
    ("2024-01-08 10:00", 10_050.0),  # the day's last value counts, not this one
    ("2024-01-08 20:00", 10_100.0),  # +1 % on the 10,000 deposit
    ("2024-01-09 20:00", 9_999.0),  # -1 %
    ("2024-01-10 20:00", 10_198.98),  # +2 %
)


def test_sharpe_ratio_is_the_annualised_mean_over_stdev_of_daily_returns() -> None:
    stats = compute_stats([], DAILY_EQUITY, DAILY_EQUITY, initial_deposit=DEPOSIT)

    # Returns +1 %, -1 %, +2 %: mean 0.02/3, sample stdev sqrt(7/3) % = 0.0152753;
    # (0.02/3) / 0.0152753 * sqrt(252) = 4 * sqrt(3) = 6.9282.
    assert stats.sharpe_ratio == pytest.approx(4 * math.sqrt(3))
    # Downside deviation sqrt((0 + 0.01^2 + 0) / 3) = 0.01 / sqrt(3);
    # (0.02/3) / (0.01/sqrt(3)) * sqrt(252) = 2 * sqrt(84) = 18.3303.
    assert stats.sortino_ratio == pytest.approx(2 * math.sqrt(84))


def test_the_risk_free_rate_is_annual_and_taken_off_each_day() -> None:
    stats = compute_stats(
        [], DAILY_EQUITY, DAILY_EQUITY, initial_deposit=DEPOSIT, risk_free_rate=0.0252
    )

    # 2.52 % a year is 0.01 % a day: (0.02/3 - 0.0001) / 0.0152753 * sqrt(252) = 6.8243.
    stdev = math.sqrt(7 / 3) / 100
    assert stats.sharpe_ratio == pytest.approx((0.02 / 3 - 0.0001) / stdev * math.sqrt(252))


def test_cagr_compounds_from_the_deposit_over_the_calendar_span() -> None:
    # 730.5 days = 2 years of 365.25 days; 10,000 -> 12,100 is 1.1 ** 2.
    equity = curve(("2023-01-01 00:00", 10_000.0), ("2024-12-31 12:00", 12_100.0))

    stats = compute_stats([], equity, equity, initial_deposit=DEPOSIT)

    assert stats.cagr_pct == pytest.approx(10.0)


def test_cagr_of_a_blown_account_is_minus_100_pct() -> None:
    equity = curve(("2024-01-01", 10_000.0), ("2024-07-01", -50.0))

    assert compute_stats([], equity, equity, initial_deposit=DEPOSIT).cagr_pct == -100.0


def test_cagr_of_a_huge_gain_in_minutes_is_undefined_not_infinite() -> None:
    equity = curve(("2024-01-08 10:00", 10_000.0), ("2024-01-08 10:01", 20_000.0))

    assert compute_stats([], equity, equity, initial_deposit=DEPOSIT).cagr_pct is None


def test_exposure_is_the_share_of_bars_with_an_open_position() -> None:
    equity = hourly(*[DEPOSIT] * 4)
    in_market = pd.Series([True, False, True, True], index=equity.index)

    stats = compute_stats([], equity, equity, initial_deposit=DEPOSIT, in_market=in_market)

    assert stats.exposure_pct == pytest.approx(75.0)  # 3 of 4 bars
    assert compute_stats([], equity, equity, initial_deposit=DEPOSIT).exposure_pct is None


def test_monthly_returns_run_across_the_year_boundary_and_skip_a_month_without_bars() -> None:
    equity = curve(
        ("2023-11-01", 10_200.0),
        ("2023-11-30", 10_500.0),  # November: 10,500 / 10,000 deposit = +5 %
        ("2023-12-29", 10_290.0),  # December: 10,290 / 10,500 = -2 %
        ("2024-01-15", 10_804.5),  # January: 10,804.5 / 10,290 = +5 %
        ("2024-03-28", 11_884.95),  # March (no February bars): 11,884.95 / 10,804.5 = +10 %
    )

    stats = compute_stats([], equity, equity, initial_deposit=DEPOSIT)

    year_2023, year_2024 = stats.monthly_returns
    assert year_2023.year == 2023
    assert year_2023.month_pct[:10] == (None,) * 10
    assert year_2023.month_pct[10:] == (pytest.approx(5.0), pytest.approx(-2.0))
    assert year_2023.year_pct == pytest.approx(2.9)  # 10,290 / 10,000
    assert year_2024.year == 2024
    assert year_2024.month_pct[:3] == (pytest.approx(5.0), None, pytest.approx(10.0))
    assert year_2024.month_pct[3:] == (None,) * 9
    assert year_2024.year_pct == pytest.approx(15.5)  # 1.05 * 1.10 = 11,884.95 / 10,290


def test_curves_in_another_time_zone_are_read_in_utc() -> None:
    # 00:30 on 1 February in Athens (UTC+2) is still 31 January in UTC.
    times = pd.DatetimeIndex(["2024-01-15 12:00", "2024-02-01 00:30"], tz="Europe/Athens")
    equity = pd.Series([10_100.0, 10_201.0], index=times)

    (year,) = compute_stats([], equity, equity, initial_deposit=DEPOSIT).monthly_returns

    assert year.month_pct[0] == pytest.approx(2.01)  # 10,201 / 10,000, all in January
    assert year.month_pct[1] is None


# ---- edge cases ---------------------------------------------------------------------------------
def assert_json_clean(stats: stats_module.TesterStats) -> None:
    text = json.dumps(stats.to_dict(), allow_nan=False)
    assert "NaN" not in text


def test_a_run_without_trades_has_no_ratios_and_no_nan() -> None:
    stats = stats_of([deposit_deal()])

    assert stats.total_trades == 0
    assert (stats.total_net_profit, stats.gross_profit, stats.gross_loss) == (0.0, 0.0, 0.0)
    assert stats.profit_factor is None
    assert stats.expected_payoff is None
    assert stats.recovery_factor is None
    assert stats.sharpe_ratio is None  # flat equity: stdev 0
    assert stats.sortino_ratio is None
    assert (stats.ahpr, stats.ghpr, stats.sharpe_ratio_per_trade) == (None, None, None)
    assert (stats.profit_trades_pct, stats.long_won_pct, stats.short_won_pct) == (None, None, None)
    assert (stats.largest_profit_trade, stats.average_loss_trade) == (None, None)
    assert stats.max_consecutive_wins == Streak(count=0, money=0.0)
    assert stats.maximal_consecutive_loss == Streak(count=0, money=0.0)
    assert (stats.average_consecutive_wins, stats.average_consecutive_losses) == (None, None)
    assert_json_clean(stats)


def test_only_winners_give_no_profit_factor_and_no_loss_figures() -> None:
    stats = stats_of(closes(10, 20))

    assert stats.profit_factor is None  # no loss to divide by
    assert stats.gross_loss == 0.0
    assert (stats.loss_trades, stats.loss_trades_pct) == (0, 0.0)
    assert (stats.largest_loss_trade, stats.average_loss_trade) == (None, None)
    assert stats.max_consecutive_wins == Streak(count=2, money=30.0)
    assert stats.max_consecutive_losses == Streak(count=0, money=0.0)
    assert stats.average_consecutive_losses is None
    assert_json_clean(stats)


def test_only_losers_give_a_profit_factor_of_zero() -> None:
    stats = stats_of(closes(-10, -30))

    assert stats.profit_factor == 0.0  # 0 / 40
    assert stats.expected_payoff == pytest.approx(-20.0)
    assert (stats.largest_profit_trade, stats.average_profit_trade) == (None, None)
    assert stats.maximal_consecutive_loss == Streak(count=2, money=-40.0)
    assert stats.ghpr == pytest.approx(math.sqrt(0.996))  # 9,960 / 10,000 over 2 trades
    assert_json_clean(stats)


def test_a_single_bar_has_drawdowns_and_one_month_but_no_sharpe_or_cagr() -> None:
    equity = hourly(9_900.0)

    stats = compute_stats([], equity, equity, initial_deposit=DEPOSIT)

    assert stats.bars == 1
    assert stats.equity_drawdown.maximal_money == pytest.approx(100.0)
    assert (stats.sharpe_ratio, stats.sortino_ratio, stats.cagr_pct) == (None, None, None)
    (year,) = stats.monthly_returns
    assert year.month_pct[0] == pytest.approx(-1.0)
    assert year.year_pct == pytest.approx(-1.0)
    assert_json_clean(stats)


def test_no_bars_at_all_leave_the_deposit_as_the_final_equity() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)

    stats = compute_stats([deposit_deal()], empty, empty, initial_deposit=DEPOSIT)

    assert (stats.bars, stats.final_equity, stats.final_balance) == (0, DEPOSIT, DEPOSIT)
    assert stats.monthly_returns == ()
    assert stats.equity_drawdown.maximal_money == 0.0
    assert_json_clean(stats)


def test_the_full_report_is_json_serialisable() -> None:
    equity = hourly(10_000, 9_900, 10_050, 10_010)
    in_market = pd.Series([False, True, True, False], index=equity.index)

    stats = compute_stats(MIXED_DEALS, equity, equity, initial_deposit=DEPOSIT, in_market=in_market)

    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data["total_trades"] == 7
    assert data["equity_drawdown"]["maximal_money"] == pytest.approx(100.0)
    assert data["max_consecutive_losses"] == {"count": 2, "money": pytest.approx(-38.4)}
    assert data["monthly_returns"][0]["year"] == 2024
    assert len(data["monthly_returns"][0]["month_pct"]) == 12


def test_the_stats_are_frozen_and_refuse_unknown_fields() -> None:
    stats = stats_of(closes(10))

    with pytest.raises(ValidationError):
        stats.total_trades = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        stats_module.TesterStats.model_validate({**stats.model_dump(), "kelly": 0.5})


def test_a_closed_trade_refuses_a_nan_result() -> None:
    with pytest.raises(InvalidInputError, match="not a finite number"):
        ClosedTrade(
            deal_ticket=1,
            position_id=1,
            time=datetime(2024, 1, 8, tzinfo=UTC),
            side="long",
            volume_lots=1.0,
            net_profit=math.nan,
        )


# ---- bad input ----------------------------------------------------------------------------------
def test_a_deal_without_a_tradedeal_field_is_refused_by_name() -> None:
    broken = deal(11, 1, SELL, OUT, 100, 1.0)
    del broken["position_id"]

    with pytest.raises(InvalidInputError, match=r"deals\[0\]\.position_id: missing"):
        closed_trades([broken])


def test_naive_times_are_refused() -> None:
    naive = pd.Series([DEPOSIT], index=pd.DatetimeIndex(["2024-01-08 10:00"]))

    with pytest.raises(InvalidInputError, match="equity: the index must be timezone-aware"):
        compute_stats([], naive, hourly(DEPOSIT), initial_deposit=DEPOSIT)


def test_a_nan_in_the_equity_curve_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="equity: 1 value"):
        compute_stats([], hourly(DEPOSIT, math.nan), hourly(DEPOSIT, DEPOSIT), initial_deposit=1.0)


@pytest.mark.parametrize("initial_deposit", [0.0, -5.0, math.nan])
def test_the_initial_deposit_must_be_positive(initial_deposit: float) -> None:
    with pytest.raises(InvalidInputError, match="initial_deposit"):
        compute_stats([], hourly(DEPOSIT), hourly(DEPOSIT), initial_deposit=initial_deposit)


def test_intrabar_lows_must_be_on_the_equity_bars() -> None:
    equity = hourly(DEPOSIT, DEPOSIT)
    stray = curve(("2024-02-01 00:00", 9_000.0))

    with pytest.raises(InvalidInputError, match="equity_low: 1 time"):
        compute_stats([], equity, equity, initial_deposit=DEPOSIT, equity_low=stray)
