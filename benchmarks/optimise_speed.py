"""Optimisation speed: nl_trader's grid against vectorbt's broadcast sweep and backtesting.py's
``optimize``, on the same bars, in the same run.

The sweep is issue 18's: the SMA reversal of ``backtest_speed`` (30-pip stop, 60-pip target, 0.1
lots) over 25 combinations, fast 10..30 step 5 x slow 40..80 step 10, on 100,000 EURUSD M1 bars
(the real files of ../shared/data/fx when present, else the bundled sample). Every engine scores
each combination by its net profit. nl_trader's figure includes its full report statistics per set
(the figures a chosen set's report shows); vectorbt's includes computing its SMA signals.

    pip install -e ".[bench]"
    python benchmarks/optimise_speed.py [--bars 100000] [--big] [--skip backtesting]

``--big`` adds a 1,000-combination grid on one year of M1 bars (about 370,000), with 1 and 2
worker processes, and prints the speed-up.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_speed import PIP, SL_PIPS, TP_PIPS, load_bars, spec

FASTS = (10, 15, 20, 25, 30)
SLOWS = (40, 50, 60, 70, 80)


def run_nl_trader(
    bars: pd.DataFrame, params: list[str], workers: int = 1
) -> tuple[float, int, float]:
    from nl_trader.backtest.engine import BacktestSettings
    from nl_trader.optimise.engines import Job, LocalEngine
    from nl_trader.optimise.objectives import Objective
    from nl_trader.optimise.space import SearchSpace
    from nl_trader.optimise.study import run_study

    settings = BacktestSettings(spread_points=0, swaps=False, deposit=1_000_000)
    job = Job(
        spec(),
        SearchSpace.parse(params),
        bars,
        "EURUSD",
        settings=settings,
        objectives=(Objective.parse("total_net_profit", ("total_net_profit",)),),
    )
    run_study(job, LocalEngine(workers), trials=1)  # compile, and warm the workers' imports
    best = math.inf
    for _ in range(2 if len(bars) < 200_000 else 1):
        start = time.perf_counter()
        result = run_study(job, LocalEngine(workers))
        best = min(best, time.perf_counter() - start)
    top = max(t.objectives[0] for t in result.feasible if t.objectives)
    return best, len(result.trials), top


def run_vectorbt(bars: pd.DataFrame) -> tuple[float, int, float]:
    import vectorbt as vbt

    close = bars["close"].to_numpy()
    opens, highs, lows = (bars[name].to_numpy() for name in ("open", "high", "low"))

    def sweep() -> tuple[int, float]:
        series = pd.Series(close)
        fast = np.column_stack([series.rolling(w).mean().to_numpy() for w in FASTS for _ in SLOWS])
        slow = np.column_stack([series.rolling(w).mean().to_numpy() for _ in FASTS for w in SLOWS])
        above = fast > slow
        previous = np.roll(above, 1, axis=0)
        previous[0] = above[0]
        valid = ~np.isnan(slow)
        long_entries, short_entries = above & ~previous & valid, ~above & previous & valid
        columns = long_entries.shape[1]
        tile = np.tile
        portfolio = vbt.Portfolio.from_signals(
            tile(close[:, None], columns),
            entries=long_entries,
            exits=short_entries,
            short_entries=short_entries,
            short_exits=long_entries,
            open=tile(opens[:, None], columns),
            high=tile(highs[:, None], columns),
            low=tile(lows[:, None], columns),
            sl_stop=tile((SL_PIPS * PIP / close)[:, None], columns),
            tp_stop=tile((TP_PIPS * PIP / close)[:, None], columns),
            size=10_000,
            init_cash=1_000_000,
            freq="1min",
        )
        profits = np.asarray(portfolio.total_profit())
        return columns, float(profits.max())

    sweep()  # compile
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        columns, top = sweep()
        best = min(best, time.perf_counter() - start)
    return best, columns, top


try:  # a peer of the bench extra; its strategy class must be importable by its worker processes
    from backtesting import Strategy as _Strategy
    from backtesting.lib import crossover
except ImportError:  # pragma: no cover - the benchmark then skips it
    _Strategy = object  # type: ignore[assignment,misc]


class SmaReversal(_Strategy):  # type: ignore[misc,valid-type]
    n1 = 20
    n2 = 50

    def init(self) -> None:
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(self.n1).mean().to_numpy())
        self.slow = self.I(lambda: close.rolling(self.n2).mean().to_numpy())

    def next(self) -> None:
        price = self.data.Close[-1]
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=10_000, sl=price - SL_PIPS * PIP, tp=price + TP_PIPS * PIP)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=10_000, sl=price + SL_PIPS * PIP, tp=price - TP_PIPS * PIP)


def run_backtesting_py(bars: pd.DataFrame) -> tuple[float, int]:
    from backtesting import Backtest

    frame = bars.rename(columns=str.title)[["Open", "High", "Low", "Close"]]
    frame.index = frame.index.tz_localize(None)
    test = Backtest(frame, SmaReversal, cash=1_000_000, margin=0.01, finalize_trades=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = test.optimize(n1=list(FASTS), n2=list(SLOWS), maximize="Equity Final [$]")
    return time.perf_counter() - start, len(FASTS) * len(SLOWS) if stats is not None else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--big", action="store_true", help="add the 1,000-set grid on a year")
    parser.add_argument("--skip", action="append", default=[], choices=["backtesting", "vectorbt"])
    args = parser.parse_args()
    bars, label = load_bars(args.bars)
    print(f"data: {label}, {len(bars):,} bars; 25 combinations (fast {FASTS}, slow {SLOWS})")
    params = [
        f"indicators.fast.params.period={FASTS[0]}:{FASTS[-1]}:5",
        f"indicators.slow.params.period={SLOWS[0]}:{SLOWS[-1]}:10",
    ]
    ours, count, top = run_nl_trader(bars, params)
    print(
        f"nl_trader grid (1 process):     {ours:7.3f} s  {count} sets  best net profit {top:,.2f}"
    )
    if "vectorbt" not in args.skip:
        theirs, columns, best = run_vectorbt(bars)
        print(
            f"vectorbt broadcast sweep:       {theirs:7.3f} s  {columns} columns  best {best:,.2f}"
        )
        print(f"  ratio nl_trader / vectorbt:   {ours / theirs:7.2f} (target <= 1)")
    if "backtesting" not in args.skip:
        slow, sets = run_backtesting_py(bars)
        print(f"backtesting.py optimize:        {slow:7.3f} s  {sets} sets")
        print(f"  ratio nl_trader / backtesting.py: {ours / slow:5.2f}")
    if args.big:
        year, year_label = load_bars(370_000)
        grid = [
            "indicators.fast.params.period=5:50:5",
            "indicators.slow.params.period=55:150:5",
            "exits.stop_loss.value=20:60:10",
        ]
        one, sets, _ = run_nl_trader(year, grid, workers=1)
        two, _, _ = run_nl_trader(year, grid, workers=2)
        print(f"1,000-set grid on {year_label}: {sets} sets")
        print(f"  1 worker {one:7.1f} s, 2 workers {two:7.1f} s: speed-up {one / two:4.2f}x")


if __name__ == "__main__":
    main()
