"""Studies: the grid runs exactly its sets, a study resumes where it stopped, every engine agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError
from nl_trader.optimise.engines import Job, LocalEngine, RayEngine, evaluate
from nl_trader.optimise.objectives import Objective, TrialLimits
from nl_trader.optimise.space import SearchSpace
from nl_trader.optimise.study import StudyResult, run_study
from nl_trader.spec import parse_spec

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
FAST = "indicators.fast.params.period"
SLOW = "indicators.slow.params.period"
KNOWN = ("total_net_profit", "profit_factor", "equity_drawdown_pct", "total_trades")


def _job(*objectives: str, limits: TrialLimits | None = None) -> Job:
    spec = parse_spec((STRATEGIES / "ma_crossover.json").read_text(encoding="utf-8"))
    space = SearchSpace.parse([f"{FAST}=10:40:10", f"{SLOW}=20:50:10"], [f"{FAST} < {SLOW}"])
    return Job(
        spec,
        space,
        sample_bars("EURUSD", "H1", bars=2_000),
        "EURUSD",
        objectives=tuple(
            Objective.parse(name, KNOWN) for name in objectives or ("total_net_profit",)
        ),
        limits=limits or TrialLimits(),
    )


def _sets(result: StudyResult) -> list[tuple[int, int]]:
    return sorted((int(t.values[FAST]), int(t.values[SLOW])) for t in result.trials)


def test_the_grid_runs_every_allowed_set_once_and_never_one_breaking_a_constraint() -> None:
    result = run_study(_job(), LocalEngine(1))
    expected = [(f, s) for f in (10, 20, 30, 40) for s in (20, 30, 40, 50) if f < s]
    assert _sets(result) == expected  # 10 of the 16: fast < slow
    best = max(result.feasible, key=lambda t: t.objectives[0] if t.objectives else 0)
    assert result.best == (best,)


def test_each_trial_measures_what_a_backtest_of_that_set_reports() -> None:
    job = _job()
    result = run_study(job, LocalEngine(1))
    trial = result.trials[3]
    again = evaluate(job, trial.values)
    assert trial.objectives == again.objectives
    assert trial.figures["total_trades"] == again.figures["total_trades"]


def test_an_interrupted_study_resumes_where_it_stopped(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = run_study(_job(), LocalEngine(1), name="sma", storage=storage, trials=4)
    assert len(first.trials) == 4
    resumed = run_study(_job(), LocalEngine(1), name="sma", storage=storage)
    whole = run_study(_job(), LocalEngine(1))
    assert _sets(resumed) == _sets(whole)  # the 6 left were run, the 4 done were not again
    assert sorted(t.objectives for t in resumed.trials) == sorted(
        t.objectives for t in whole.trials
    )


def test_two_worker_processes_give_the_same_trials_as_one() -> None:
    one = run_study(_job(), LocalEngine(1))
    two = run_study(_job(), LocalEngine(2))
    assert [(t.values, t.objectives) for t in one.trials] == [
        (t.values, t.objectives) for t in two.trials
    ]


@pytest.mark.slow
def test_a_local_ray_instance_gives_the_same_trials_as_this_process() -> None:
    ray = pytest.importorskip("ray")
    try:
        local = run_study(_job(), LocalEngine(1))
        on_ray = run_study(_job(), RayEngine(None, 2))
    finally:
        ray.shutdown()
    assert [(t.values, t.objectives) for t in local.trials] == [
        (t.values, t.objectives) for t in on_ray.trials
    ]


def test_a_set_missing_a_limit_is_recorded_infeasible_with_the_reason() -> None:
    result = run_study(_job(limits=TrialLimits(min_trades=10_000)), LocalEngine(1))
    assert result.feasible == ()
    assert all("fewer than 10000" in (t.infeasible or "") for t in result.trials)
    assert result.best == ()


def test_two_objectives_give_a_pareto_front_where_no_set_beats_another_on_both() -> None:
    result = run_study(_job("total_net_profit", "equity_drawdown_pct"), LocalEngine(1))
    front = [t.objectives for t in result.best if t.objectives]
    assert front
    for profit, drawdown in front:
        for other in result.feasible:
            assert other.objectives is not None
            better = other.objectives[0] > profit and other.objectives[1] < drawdown
            assert not better


def test_a_model_based_search_runs_the_trials_it_was_given() -> None:
    result = run_study(_job(), LocalEngine(1), method="tpe", trials=8, seed=3)
    assert len(result.trials) == 8
    assert all(t.values[FAST] < t.values[SLOW] or t.infeasible for t in result.trials)


def test_a_study_that_cannot_run_says_why() -> None:
    with pytest.raises(InvalidInputError, match="trials: say how many trials the tpe search runs"):
        run_study(_job(), LocalEngine(1), method="tpe")
    with pytest.raises(InvalidInputError, match="method: 'anneal' is not one of"):
        run_study(_job(), LocalEngine(1), method="anneal")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="cmaes optimises one objective"):
        run_study(
            _job("total_net_profit", "equity_drawdown_pct"),
            LocalEngine(1),
            method="cmaes",
            trials=4,
        )
    with pytest.raises(InvalidInputError, match="'net_profit': not a report figure"):
        Objective.parse("net_profit", KNOWN)
