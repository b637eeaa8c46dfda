"""Backtest speed: nl_trader against vectorbt, backtesting.py and backtrader, on the same bars.

The strategy is the issue's: an SMA 20/50 reversal (long on a cross above, short on a cross below,
always in the market) with a 30-pip stop loss and a 60-pip take profit, 0.1 lots, on EURUSD M1.
Data: the real EURUSD M1 files of ../shared/data/fx when present (as many years as needed for
``--bars``), else the bundled sample. Every engine gets the same bid bars; costs are zero so the
engines do comparable work.

    pip install -e ".[bench]"
    python benchmarks/backtest_speed.py [--bars 1000000] [--skip backtrader]

Prints each engine's time (nl_trader cold, and warm as the best of three; vectorbt warm after a
compile run, best of three, with and without computing its SMA signals, which nl_trader's time
includes) and the ratios the targets are stated in. backtrader runs on a tenth of the bars by default and its time
is scaled to the full count (it is linear in bars), which the output says.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

FX = Path(
    os.environ.get(
        "NL_TRADER_FX_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "fx"
    )
)
PIP = 0.0001
SL_PIPS, TP_PIPS = 30, 60


def load_bars(count: int) -> tuple[pd.DataFrame, str]:
    files = sorted(FX.glob("EURUSD_M1_20[12][0-9].csv.gz"))
    if files:
        try:
            from nl_trader.data.loaders import load_bars as load
        except ImportError:
            load = None
        if load is not None:
            frames, total = [], 0
            for path in reversed(files):
                frames.append(load(path, symbol="EURUSD").bars)
                total += len(frames[-1])
                if total >= count:
                    break
            bars = pd.concat(reversed(frames)).iloc[-count:]
            return bars, f"real EURUSD M1 ({bars.index[0]:%Y-%m-%d} .. {bars.index[-1]:%Y-%m-%d})"
    from nl_trader.data.sample import sample_bars

    return sample_bars("EURUSD", "M1", bars=count), "bundled sample EURUSD M1"


def spec():
    from nl_trader.spec import parse_spec

    return parse_spec(
        {
            "name": "SMA 20/50 reversal",
            "symbols": ["EURUSD"],
            "timeframe": "M1",
            "indicators": [
                {"id": "fast", "kind": "sma", "params": {"period": 20}},
                {"id": "slow", "kind": "sma", "params": {"period": 50}},
            ],
            "long_entry": {"op": "crosses_above", "left": "fast", "right": "slow"},
            "short_entry": {"op": "crosses_below", "left": "fast", "right": "slow"},
            "exits": {
                "stop_loss": {"kind": "pips", "value": SL_PIPS},
                "take_profit": {"kind": "pips", "value": TP_PIPS},
            },
            "sizing": {"method": "fixed_lots", "lots": 0.1},
        }
    )


def run_nl_trader(bars: pd.DataFrame) -> tuple[float, float, int]:
    from nl_trader.backtest.engine import BacktestSettings, run_backtest

    settings = BacktestSettings(spread_points=0, swaps=False, fill="close", deposit=1_000_000)
    strategy = spec()
    start = time.perf_counter()
    result = run_backtest(strategy, bars, settings=settings)
    cold = time.perf_counter() - start
    warm = math.inf
    for _ in range(3):  # best of three: this machine's other core is not always idle
        start = time.perf_counter()
        result = run_backtest(strategy, bars, settings=settings)
        warm = min(warm, time.perf_counter() - start)
    trades = sum(1 for d in result.deals[1:] if d["entry"] != 0)
    return cold, warm, trades


def signals(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fast = pd.Series(close).rolling(20).mean().to_numpy()
    slow = pd.Series(close).rolling(50).mean().to_numpy()
    above = fast > slow
    previous = np.roll(above, 1)
    previous[0] = above[0]
    valid = ~np.isnan(slow)
    return (above & ~previous & valid), (~above & previous & valid)


def run_vectorbt(bars: pd.DataFrame) -> tuple[float, float, int]:
    """vectorbt's time for the portfolio alone, and with the SMA signals computed too (the
    work nl_trader's figure includes: it computes its indicators inside the run)."""
    import vectorbt as vbt

    # NumPy arrays, as vectorbt is fastest with them (pandas inputs cost it ~15x in broadcasting
    # and index work on 1M bars): the peer measured at its best.
    close = bars["close"].to_numpy()
    long_entries, short_entries = signals(close)
    opens, highs, lows = (bars[name].to_numpy() for name in ("open", "high", "low"))
    sl_stop, tp_stop = SL_PIPS * PIP / close, TP_PIPS * PIP / close

    def once() -> vbt.Portfolio:
        return vbt.Portfolio.from_signals(
            close,
            entries=long_entries,
            exits=short_entries,
            short_entries=short_entries,
            short_exits=long_entries,
            open=opens,
            high=highs,
            low=lows,
            sl_stop=sl_stop,
            tp_stop=tp_stop,
            size=10_000,
            init_cash=1_000_000,
            freq="1min",
        )

    once()  # compile
    portfolio_s = signals_s = math.inf
    for _ in range(3):  # its best of three, as for nl_trader
        start = time.perf_counter()
        portfolio = once()
        portfolio_s = min(portfolio_s, time.perf_counter() - start)
        start = time.perf_counter()
        signals(close)
        signals_s = min(signals_s, time.perf_counter() - start)
    trades = int(portfolio.trades.count())
    return portfolio_s, portfolio_s + signals_s, trades


def run_backtesting_py(bars: pd.DataFrame) -> tuple[float, int]:
    import warnings

    from backtesting import Backtest, Strategy

    frame = bars.rename(columns=str.title)[["Open", "High", "Low", "Close"]]
    frame.index = frame.index.tz_localize(None)

    class SmaReversal(Strategy):
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(20).mean().to_numpy())
            self.slow = self.I(lambda: close.rolling(50).mean().to_numpy())

        def next(self) -> None:
            fast, slow = self.fast, self.slow
            price = self.data.Close[-1]
            if fast[-2] <= slow[-2] and fast[-1] > slow[-1]:
                self.position.close()
                self.buy(size=10_000, sl=price - SL_PIPS * PIP, tp=price + TP_PIPS * PIP)
            elif fast[-2] >= slow[-2] and fast[-1] < slow[-1]:
                self.position.close()
                self.sell(size=10_000, sl=price + SL_PIPS * PIP, tp=price - TP_PIPS * PIP)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = Backtest(
            frame,
            SmaReversal,
            cash=1_000_000,
            commission=0,
            trade_on_close=True,
            hedging=False,
            exclusive_orders=False,
            finalize_trades=True,
        )
        start = time.perf_counter()
        stats = test.run()
    return time.perf_counter() - start, int(stats["# Trades"])


def run_backtrader(bars: pd.DataFrame) -> tuple[float, int]:
    import backtrader as bt

    class SmaReversal(bt.Strategy):
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=20), bt.ind.SMA(period=50))
            self.closed = 0

        def notify_trade(self, trade: bt.Trade) -> None:
            if trade.isclosed:
                self.closed += 1

        def next(self) -> None:
            price = self.data.close[0]
            if self.cross > 0:
                self.close()
                self.buy_bracket(
                    size=10_000,
                    exectype=bt.Order.Market,
                    stopprice=price - SL_PIPS * PIP,
                    limitprice=price + TP_PIPS * PIP,
                )
            elif self.cross < 0:
                self.close()
                self.sell_bracket(
                    size=10_000,
                    exectype=bt.Order.Market,
                    stopprice=price + SL_PIPS * PIP,
                    limitprice=price - TP_PIPS * PIP,
                )

    frame = bars[["open", "high", "low", "close"]].copy()
    frame.index = frame.index.tz_localize(None)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(SmaReversal)
    cerebro.broker.setcash(1_000_000)
    start = time.perf_counter()
    strategies = cerebro.run()
    return time.perf_counter() - start, strategies[0].closed


def memory_per_bar(bars: pd.DataFrame) -> float:
    """Peak resident memory the nl_trader run adds, per bar (bytes)."""
    from nl_trader.backtest.engine import BacktestSettings, run_backtest

    # A small run first: loading the compiled engine is paid once per process, not per bar.
    run_backtest(spec(), bars.iloc[:5_000], settings=BacktestSettings(spread_points=0))
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    run_backtest(
        spec(), bars, settings=BacktestSettings(spread_points=0, swaps=False, fill="close")
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(0, after - before) / len(bars)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument(
        "--skip", action="append", default=[], help="vectorbt, backtesting, backtrader"
    )
    parser.add_argument("--backtrader-fraction", type=float, default=0.1)
    options = parser.parse_args()
    bars, source = load_bars(options.bars)
    print(
        f"data: {source}, {len(bars):,} bars; strategy: SMA 20/50 reversal, SL {SL_PIPS} / TP {TP_PIPS} pips\n"
    )
    rows: list[tuple[str, float, int | None, str]] = []
    per_bar = memory_per_bar(bars)
    cold, warm, trades = run_nl_trader(bars)
    rows += [("nl_trader (cold)", cold, trades, ""), ("nl_trader (warm)", warm, trades, "")]
    ours = warm
    if "vectorbt" not in options.skip:
        portfolio_s, with_signals_s, count = run_vectorbt(bars)
        rows.append(("vectorbt (warm)", with_signals_s, count, "SMA signals + portfolio"))
        rows.append(("vectorbt portfolio only", portfolio_s, count, "signals given to it"))
    if "backtesting" not in options.skip:
        seconds, count = run_backtesting_py(bars)
        rows.append(("backtesting.py", seconds, count, ""))
    if "backtrader" not in options.skip:
        part = bars.iloc[: int(len(bars) * options.backtrader_fraction)]
        seconds, count = run_backtrader(part)
        scale = len(bars) / len(part)
        rows.append(
            (
                "backtrader",
                seconds * scale,
                None,
                f"measured on {len(part):,} bars ({seconds:.2f} s), scaled x{scale:g}",
            )
        )
    width = max(len(name) for name, *_ in rows)
    for name, seconds, count, note in rows:
        trades_text = f"{count:>7,} trades" if count is not None else " " * 14
        print(f"{name:<{width}}  {seconds:9.3f} s  {trades_text}  {note}")
    print()
    for name, seconds, _, _ in rows:
        if name.startswith("nl_trader"):
            continue
        print(f"{name} / nl_trader (warm) = {seconds / ours:8.2f}x")
    print(f"\nnl_trader memory: {per_bar:.0f} bytes per bar (peak RSS added by one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
