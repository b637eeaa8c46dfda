"""Walk-forward testing: optimise on each window's in-sample bars, test the choice on the bars after.

For each ``Window`` (``windows``) a study runs on the in-sample bars only: the job it gets holds no
bar at or after the window's out-of-sample start, so nothing it chooses could have seen them. The
best set is then backtested on the out-of-sample bars, starting flat there (``enter_from``), with
the bars just before as the indicators' history. The out-of-sample runs are stitched into one
equity curve (each run's profit added to where the last one ended), and

* ``efficiency`` (walk-forward efficiency): out-of-sample net profit per bar over in-sample net
  profit per bar, summed over the windows: near 1, the chosen sets kept their in-sample pace on
  new bars; near 0 or below, the in-sample figures were fitted to noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from nl_trader.backtest.engine import run_backtest
from nl_trader.backtest.report import report_figures
from nl_trader.errors import InvalidInputError
from nl_trader.optimise import Method
from nl_trader.optimise.engines import Engine, Job
from nl_trader.optimise.objectives import figures_of
from nl_trader.optimise.space import Number
from nl_trader.optimise.study import StudyResult, run_study
from nl_trader.optimise.windows import Window
from nl_trader.strategy.compile import CompiledStrategy


@dataclass(frozen=True)
class WindowResult:
    """One window: the set its study chose, its in-sample and out-of-sample figures."""

    window: Window
    in_sample: tuple[pd.Timestamp, pd.Timestamp]
    out_of_sample: tuple[pd.Timestamp, pd.Timestamp]
    chosen: dict[str, Number] | None
    in_sample_figures: dict[str, float | None]
    out_of_sample_figures: dict[str, float | None]
    trials: int
    study: StudyResult


@dataclass(frozen=True)
class WalkForwardResult:
    """Every window, the stitched out-of-sample equity and its figures, the efficiency."""

    windows: tuple[WindowResult, ...]
    equity: pd.Series  # stitched out-of-sample equity, in account currency
    net_profit: float
    trades: int
    efficiency: float | None


def walk_forward(
    job: Job,
    windows: list[Window],
    engine: Engine,
    *,
    method: Method = "grid",
    trials: int | None = None,
    seed: int | None = 0,
) -> WalkForwardResult:
    """Run the walk-forward (module docstring) of ``job`` over ``windows`` of its bars."""
    if len(job.objectives) != 1:
        raise InvalidInputError(
            ["objectives: a walk-forward chooses one set per window: give one objective"],
            what="walk-forward",
        )
    bars = job.bars
    if not windows or windows[-1].out_end > len(bars):
        raise InvalidInputError(
            [f"windows: they must lie within the job's {len(bars)} bars"], what="walk-forward"
        )
    results: list[WindowResult] = []
    pieces: list[pd.Series] = []
    carried = 0.0
    in_pace = out_pace = 0.0
    trades = 0
    for window in windows:
        in_bars = bars.iloc[window.in_sample]
        study = run_study(
            replace(job, bars=in_bars), engine, method=method, trials=trials, seed=seed
        )
        chosen = _chosen(study)
        out_figures: dict[str, float | None] = {}
        in_figures: dict[str, float | None] = {}
        if chosen is not None:
            in_figures = dict(study.best[0].figures)
            out_figures, equity = _out_of_sample(job, chosen, window)
            profit = float(out_figures.get("total_net_profit") or 0.0)
            pieces.append(equity + carried)
            carried += profit
            trades += int(out_figures.get("total_trades") or 0)
            in_pace += float(in_figures.get("total_net_profit") or 0.0) / len(in_bars)
            out_pace += profit / (window.out_end - window.out_start)
        results.append(
            WindowResult(
                window=window,
                in_sample=(in_bars.index[0], in_bars.index[-1]),
                out_of_sample=(bars.index[window.out_start], bars.index[window.out_end - 1]),
                chosen=chosen,
                in_sample_figures=in_figures,
                out_of_sample_figures=out_figures,
                trials=len(study.trials),
                study=study,
            )
        )
    equity = pd.concat(pieces) if pieces else pd.Series(dtype="float64")
    return WalkForwardResult(
        windows=tuple(results),
        equity=equity,
        net_profit=carried,
        trades=trades,
        efficiency=out_pace / in_pace if in_pace > 0 else None,
    )


def _chosen(study: StudyResult) -> dict[str, Number] | None:
    return dict(study.best[0].values) if study.best else None


def _out_of_sample(
    job: Job, chosen: dict[str, Number], window: Window
) -> tuple[dict[str, float | None], pd.Series]:
    """The chosen set on the window's out-of-sample bars, flat at their start, with the bars
    before as the indicators' history."""
    spec = job.space.apply(job.spec, chosen)
    warmup = 2 * CompiledStrategy(spec, job.symbol).warmup_bars
    first = max(0, window.out_start - warmup)
    bars = job.bars.iloc[first : window.out_end]
    start = job.bars.index[window.out_start]
    result = run_backtest(
        spec,
        bars,
        symbol=job.symbol,
        settings=job.settings,
        conversion_bars=dict(job.conversion_bars) or None,
        enter_from=start.to_pydatetime(),
    )
    equity = result.equity[result.equity.index >= start]
    return figures_of(report_figures(result)), equity
