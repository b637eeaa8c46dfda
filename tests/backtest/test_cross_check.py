"""The engine cross-checked against backtesting.py (kernc/backtesting.py) on the same trades.

The strategy is an SMA 10/30 crossover that always holds one lot, reversing on each crossing, with
no stops, on 5,000 sample EURUSD H1 bars: zero spread, zero commission, no swaps, ``fill="close"``,
a netting account. In backtesting.py: ``trade_on_close=True`` (the market order of ``next()`` fills
at that bar's close), ``exclusive_orders=True`` (a new order closes the open trade: a reversal),
``size`` in units = lots x 100,000, ``margin=1`` and a large ``cash`` so that money never limits.

Both list their trades as (entry time, exit time, side, entry price, exit price). The lists agree
trade for trade except where the two tools' rules differ; each difference was found by running
both, and is handled as follows:

1. Exact ties of the averages. nl_trader's ``crosses_above`` is ``fast > slow`` after
   ``fast <= slow`` (at or below), backtesting.py's ``crossover`` needs ``fast < slow`` strictly on
   the previous bar. When fast == slow exactly on a bar and the next bar separates them,
   nl_trader reverses and backtesting.py does not, so the trades open over that bar differ until
   the next crossing. Such trades (in either list) are excluded; this sample has no exact tie (the
   test asserts the count), and ``test_exact_tie_of_the_averages_...`` shows the rule on hand-made
   bars.
2. The last open trade. nl_trader closes everything at the last bar's close ("end of test", as
   MT5's tester does); backtesting.py leaves it open (``finalize_trades=False``; with ``True`` it
   closes it at the previous bar's close, one bar early). That trade is compared on its entry and
   on its profit marked at the last close, not on its exit.
3. A crossing on the very last bar: nl_trader (``fill="close"``) opens there and closes at once
   at the end of the test; backtesting.py never fills an order placed in the last ``next()``.
   Not present on this sample (the last trade starts earlier); covered by the exclusion of 2.
4. Weekdays. nl_trader's default filters allow entries only on Monday to Friday bars (UTC), and
   the sample's week opens on Sunday 22:00 UTC; the spec lists all seven days, so that both open
   on every crossing.
5. Time stamps. backtesting.py stamps a trade with its bar's open time; nl_trader's deal at that
   bar's close is in the bar's last second. Trades are compared by bar.
6. Money. nl_trader rounds each deal's profit to the cent; the P/L of a matched trade agrees
   within 1e-6 x units ($0.10 on 100,000 units).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nl_trader import mt5
from nl_trader.backtest.engine import BacktestResult, BacktestSettings, run_backtest
from nl_trader.data.sample import sample_bars
from nl_trader.spec import StrategySpec, parse_spec

backtesting = pytest.importorskip("backtesting")
backtesting_lib = pytest.importorskip("backtesting.lib")

LOTS = 1.0
UNITS = int(LOTS * 100_000)
ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SETTINGS = BacktestSettings(
    deposit=1_000_000,
    account_mode="netting",
    fill="close",
    spread_points=0,
    commission_per_lot=0,
    swaps=False,
)

Trade = tuple[pd.Timestamp, pd.Timestamp, str, float, float]


def crossover_spec(fast: int, slow: int) -> StrategySpec:
    return parse_spec(
        {
            "name": f"SMA {fast}/{slow} reversal",
            "symbols": ["EURUSD"],
            "timeframe": "H1",
            "indicators": [
                {"id": "fast", "kind": "sma", "params": {"period": fast}},
                {"id": "slow", "kind": "sma", "params": {"period": slow}},
            ],
            "long_entry": {"op": "crosses_above", "left": "fast", "right": "slow"},
            "short_entry": {"op": "crosses_below", "left": "fast", "right": "slow"},
            "exits": {"no_stop_loss": True},
            "sizing": {"method": "fixed_lots", "lots": LOTS, "max_lots": LOTS},
            "filters": {"weekdays": ALL_WEEK},
        }
    )


def sma(values: Any, period: int) -> np.ndarray:
    return np.asarray(pd.Series(values).rolling(period).mean(), dtype="float64")


class SmaReversal(backtesting.Strategy):
    fast = 10
    slow = 30

    def init(self) -> None:
        self.fast_ma = self.I(sma, self.data.Close, self.fast)
        self.slow_ma = self.I(sma, self.data.Close, self.slow)

    def next(self) -> None:
        if backtesting_lib.crossover(self.fast_ma, self.slow_ma):
            self.buy(size=UNITS)
        elif backtesting_lib.crossover(self.slow_ma, self.fast_ma):
            self.sell(size=UNITS)


def run_backtesting_py(bars: pd.DataFrame, fast: int, slow: int) -> Any:
    data = bars[["open", "high", "low", "close"]].rename(columns=str.capitalize)
    data["Volume"] = bars.get("tick_volume", 1)
    test = backtesting.Backtest(
        data,
        SmaReversal,
        cash=1_000_000_000,
        margin=1,
        commission=0,
        spread=0,
        trade_on_close=True,
        exclusive_orders=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open": difference 2
        return test.run(fast=fast, slow=slow)


def bar_of(bars: pd.DataFrame, time_s: int) -> pd.Timestamp:
    """The open time of the bar holding ``time_s``."""
    opens = pd.DatetimeIndex(bars.index).as_unit("s").asi8
    return pd.DatetimeIndex(bars.index)[int(np.searchsorted(opens, time_s, side="right")) - 1]


def nl_trades(bars: pd.DataFrame, result: BacktestResult) -> list[tuple[Trade, float, str]]:
    """(trade, profit, closing comment) for each position of the run."""
    entries: dict[int, dict[str, Any]] = {}
    trades = []
    for deal in result.deals[1:]:
        if deal["entry"] == mt5.DEAL_ENTRY_IN:
            entries[deal["position_id"]] = deal
            continue
        assert deal["entry"] == mt5.DEAL_ENTRY_OUT  # reversals are a close, then an open
        entry = entries.pop(deal["position_id"])
        trade = (
            bar_of(bars, entry["time"]),
            bar_of(bars, deal["time"]),
            "long" if entry["type"] == mt5.DEAL_TYPE_BUY else "short",
            entry["price"],
            deal["price"],
        )
        trades.append((trade, deal["profit"], deal["comment"]))
    assert not entries
    return trades


def bt_trades(stats: Any) -> list[tuple[Trade, float]]:
    return [
        (
            (
                row.EntryTime,
                row.ExitTime,
                "long" if row.Size > 0 else "short",
                row.EntryPrice,
                row.ExitPrice,
            ),
            row.PnL,
        )
        for row in stats._trades.itertuples()
    ]


def tie_bars(bars: pd.DataFrame, fast: int, slow: int) -> list[pd.Timestamp]:
    """Bars where the two averages are exactly equal (difference 1)."""
    close = bars["close"].to_numpy(dtype="float64")
    fast_ma, slow_ma = sma(close, fast), sma(close, slow)
    tied = np.flatnonzero(fast_ma == slow_ma)  # NaN never equals NaN: only defined values
    return [bars.index[i] for i in tied]


def spans_a_tie(trade: Trade, ties: list[pd.Timestamp]) -> bool:
    return any(trade[0] <= tie <= trade[1] for tie in ties)


@pytest.fixture(scope="module")
def both_runs() -> tuple[pd.DataFrame, BacktestResult, Any]:
    bars = sample_bars("EURUSD", "H1", bars=5_000)
    result = run_backtest(crossover_spec(10, 30), bars, settings=SETTINGS)
    return bars, result, run_backtesting_py(bars, 10, 30)


def test_sma_reversal_trades_match_backtesting_py_apart_from_the_documented_differences(
    both_runs: tuple[pd.DataFrame, BacktestResult, Any],
) -> None:
    bars, result, stats = both_runs
    assert result.rejected == []
    ties = tie_bars(bars, 10, 30)
    assert ties == []  # difference 1 does not arise on this sample

    ours = nl_trades(bars, result)
    theirs = bt_trades(stats)
    # Difference 2: exactly one trade is closed by the end of the test, the one still open there.
    [(last, last_profit, _)] = [item for item in ours if item[2] == "end of test"]
    ours = [item for item in ours if item[2] != "end of test"]
    ours = [item for item in ours if not spans_a_tie(item[0], ties)]
    theirs = [item for item in theirs if not spans_a_tie(item[0], ties)]

    assert len(ours) > 150
    assert [trade for trade, _, _ in ours] == [trade for trade, _ in theirs]  # 100 % match
    for (trade, profit, _), (_, pnl) in zip(ours, theirs, strict=True):
        assert profit == pytest.approx(pnl, abs=1e-6 * UNITS), trade

    [still_open] = stats._strategy.trades
    assert (
        still_open.entry_time,
        "long" if still_open.size > 0 else "short",
        still_open.entry_price,
    ) == last[0:1] + last[2:4]
    assert last[1] == bars.index[-1]
    assert last_profit == pytest.approx(still_open.pl, abs=1e-6 * UNITS)


def test_sma_reversal_net_profit_matches_backtesting_py(
    both_runs: tuple[pd.DataFrame, BacktestResult, Any],
) -> None:
    _, result, stats = both_runs
    [still_open] = stats._strategy.trades
    # backtesting.py's closed trades plus its open trade marked at the last close.
    theirs = stats._trades["PnL"].sum() + still_open.pl

    ours = result.balance.iloc[-1] - SETTINGS.deposit

    # Each of nl_trader's deal profits is rounded to the cent: at most half a cent each.
    assert ours == pytest.approx(theirs, abs=0.005 * (len(stats._trades) + 1))


def test_exact_tie_of_the_averages_is_a_crossing_for_nl_trader_but_not_for_backtesting_py() -> None:
    # SMA 3/6 on 6 flat closes: both averages are exactly 1.10000 at bar 5 (a tie). Bar 6 rises:
    # fast > slow after fast == slow is a crossing above for nl_trader (at or below before), not
    # for backtesting.py (strictly below before). Both then go short on the fall.
    closes = [1.1000] * 6 + [1.1010, 1.1020, 1.1000, 1.0980, 1.0960, 1.0950, 1.0945, 1.0940]
    opens = [closes[0], *closes[:-1]]
    bars = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes),
            "low": np.minimum(opens, closes),
            "close": closes,
            "spread": 0,
        },
        index=pd.date_range("2025-06-02 00:00", periods=len(closes), freq="1h", tz="UTC"),
    )
    assert tie_bars(bars, 3, 6) == [bars.index[5]]

    ours = nl_trades(bars, run_backtest(crossover_spec(3, 6), bars, settings=SETTINGS))
    stats = run_backtesting_py(bars, 3, 6)

    assert [(trade[0], trade[2]) for trade, _, _ in ours] == [
        (bars.index[6], "long"),  # the tie broken upwards
        (ours[1][0][0], "short"),
    ]
    assert list(stats._trades["Size"]) == []  # backtesting.py never bought
    [short] = stats._strategy.trades
    assert short.size < 0
    assert short.entry_time == ours[1][0][0]  # the same short, from the same bar
