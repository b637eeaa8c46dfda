"""The optimisation report: one offline HTML file with the chosen set, overfitting and the trials."""

from __future__ import annotations

from pathlib import Path

from nl_trader.data.sample import sample_bars
from nl_trader.optimise.engines import Job, LocalEngine
from nl_trader.optimise.objectives import Objective
from nl_trader.optimise.report import write_report
from nl_trader.optimise.space import SearchSpace
from nl_trader.optimise.study import judge_study, run_study
from nl_trader.optimise.walkforward import walk_forward
from nl_trader.optimise.windows import walk_forward_windows
from nl_trader.spec import parse_spec

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"


def _job() -> Job:
    spec = parse_spec((STRATEGIES / "ma_crossover.json").read_text(encoding="utf-8"))
    space = SearchSpace.parse(
        ["indicators.fast.params.period=10:30:10", "indicators.slow.params.period=40:60:10"]
    )
    return Job(
        spec,
        space,
        sample_bars("EURUSD", "H1", bars=2_400),
        "EURUSD",
        objectives=(Objective.parse("total_net_profit", ("total_net_profit",)),),
    )


def test_the_report_shows_the_chosen_set_its_overfitting_and_every_pair_of_parameters(
    tmp_path: Path,
) -> None:
    job = _job()
    result = run_study(job, LocalEngine(1))
    judged = judge_study(result, job.space)
    html = write_report(tmp_path / "opt.html", result, job, overfitting=judged).read_text()
    assert "Chosen set" in html
    assert "Deflated Sharpe ratio" in html
    assert "Probability of backtest overfitting" in html
    assert 'id="chart-heat-0"' in html  # fast x slow
    assert 'id="chart-parallel"' in html
    assert "slow.period \\u00d7 fast.period" in html  # the heatmap's title, in its JSON
    best = result.best[0]
    assert f"<td>{best.number}</td>" in html
    assert "cdn" not in html.lower().split("<script>")[0]  # Plotly is inlined: works offline


def test_a_walk_forward_report_shows_each_window_and_the_stitched_equity(tmp_path: Path) -> None:
    job = _job()
    windows = walk_forward_windows(len(job.bars), in_sample_bars=1_200, out_of_sample_bars=600)
    walk = walk_forward(job, windows, LocalEngine(1))
    html = write_report(tmp_path / "wf.html", walk.windows[-1].study, job, walk=walk).read_text()
    assert "Walk-forward efficiency" in html
    assert 'id="chart-equity"' in html
    assert html.count("<tr><td>") >= len(windows)
    assert "Chosen in the last window" in html
