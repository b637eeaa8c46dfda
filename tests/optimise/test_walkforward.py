"""Walk-forward: each window optimises on its in-sample bars only, then trades the choice after."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nl_trader.backtest.engine import run_backtest
from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError
from nl_trader.optimise.engines import Job, LocalEngine
from nl_trader.optimise.objectives import Objective
from nl_trader.optimise.space import SearchSpace
from nl_trader.optimise.walkforward import walk_forward
from nl_trader.optimise.windows import walk_forward_windows
from nl_trader.spec import parse_spec

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"


class SpyEngine(LocalEngine):
    """This process's engine, noting the bars of every job it is given."""

    def __init__(self) -> None:
        super().__init__(1)
        self.seen: list[pd.DatetimeIndex] = []

    def start(self, job: Job) -> None:
        self.seen.append(pd.DatetimeIndex(job.bars.index))
        super().start(job)


def _job(*objectives: str) -> Job:
    spec = parse_spec((STRATEGIES / "ma_crossover.json").read_text(encoding="utf-8"))
    space = SearchSpace.parse(
        ["indicators.fast.params.period=10:30:10", "indicators.slow.params.period=40:60:20"]
    )
    known = ("total_net_profit", "equity_drawdown_pct")
    return Job(
        spec,
        space,
        sample_bars("EURUSD", "H1", bars=3_000),
        "EURUSD",
        objectives=tuple(Objective.parse(o, known) for o in objectives or ("total_net_profit",)),
    )


def test_no_window_optimises_on_a_bar_of_its_out_of_sample_period() -> None:
    job = _job()
    windows = walk_forward_windows(len(job.bars), in_sample_bars=1_200, out_of_sample_bars=600)
    spy = SpyEngine()
    result = walk_forward(job, windows, spy)
    assert len(spy.seen) == len(windows) == len(result.windows) == 3
    for seen, window in zip(spy.seen, windows, strict=True):
        assert seen.equals(job.bars.index[window.in_start : window.in_end])
        assert seen[-1] < job.bars.index[window.out_start]


def test_the_choice_trades_from_the_out_of_sample_start_and_the_equity_is_stitched() -> None:
    job = _job()
    windows = walk_forward_windows(len(job.bars), in_sample_bars=1_200, out_of_sample_bars=600)
    result = walk_forward(job, windows, LocalEngine(1))
    profits = [w.out_of_sample_figures["total_net_profit"] or 0.0 for w in result.windows]
    assert result.net_profit == pytest.approx(sum(profits))
    assert result.equity.iloc[-1] == pytest.approx(job.settings.deposit + result.net_profit)
    assert result.equity.index[0] == job.bars.index[windows[0].out_start]
    assert result.equity.index.is_monotonic_increasing
    assert result.trades == sum(
        int(w.out_of_sample_figures["total_trades"] or 0) for w in result.windows
    )
    assert result.efficiency is not None


def test_a_backtest_entering_from_a_moment_has_no_deal_before_it() -> None:
    job = _job()
    start = job.bars.index[1_500]
    result = run_backtest(job.spec, job.bars, symbol="EURUSD", enter_from=start.to_pydatetime())
    times = [pd.Timestamp(deal["time"], unit="s", tz="UTC") for deal in result.deals[1:]]
    assert times
    assert min(times) >= start
    whole = run_backtest(job.spec, job.bars, symbol="EURUSD")
    assert len(whole.deals) > len(result.deals)


def test_a_walk_forward_needs_one_objective() -> None:
    job = _job("total_net_profit", "equity_drawdown_pct")
    windows = walk_forward_windows(len(job.bars), in_sample_bars=1_200, out_of_sample_bars=600)
    with pytest.raises(InvalidInputError, match="give one objective"):
        walk_forward(job, windows, LocalEngine(1))
