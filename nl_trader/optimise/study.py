"""A study: a search over a space, its trials recorded in Optuna storage, resumable.

Methods: ``grid`` (every set of the space, in its order, skipping those breaking a constraint),
``random``, and Optuna's model-based samplers ``tpe``, ``cmaes`` and ``nsga2`` (genetic, for
several objectives: the answer is the Pareto front). Trials are asked for in batches of the
engine's size, evaluated by the engine (``engines``), and told back; a set breaking a constraint
is recorded as pruned without a backtest, and an infeasible set (``TrialLimits``) as pruned with
its reason.

The study lives in Optuna storage (an SQLite file, ``sqlite:///PATH``): run again with the same
name and storage and it continues where it stopped (a grid never runs a set twice; a sampler
gets the trials so far as its history). Each trial keeps its set and figures as user attributes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from nl_trader.errors import InvalidInputError
from nl_trader.optimise import METHODS, Method
from nl_trader.optimise.engines import Engine, Evaluation, Job
from nl_trader.optimise.overfitting import Overfitting, judge
from nl_trader.optimise.space import Number, Param, SearchSpace

Progress = Callable[[int, int | None, float | None], None]  # done, total, best so far

logging.getLogger("optuna").setLevel(logging.WARNING)


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the study keeps it."""

    number: int
    values: dict[str, Number]
    objectives: tuple[float, ...] | None
    infeasible: str | None
    figures: dict[str, Any]
    daily_returns: tuple[float, ...] = ()


@dataclass(frozen=True)
class StudyResult:
    """The study's trials, the best set (one objective) or the Pareto front (several)."""

    name: str
    method: Method
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: tuple[TrialRecord, ...]
    best: tuple[TrialRecord, ...]
    elapsed_s: float

    @property
    def feasible(self) -> tuple[TrialRecord, ...]:
        return tuple(t for t in self.trials if t.objectives is not None)


def distribution(param: Param, integer: bool) -> BaseDistribution:
    """The Optuna distribution of a parameter (``integer``: the spec holds an integer there)."""
    if param.choices:
        return CategoricalDistribution(param.choices)
    low, high = param.low, param.high
    if low is None or high is None:
        raise InvalidInputError([f"param {param.path}: a range needs both ends"], what="study")
    if integer:
        return IntDistribution(int(low), int(high), step=int(param.step or 1))
    return FloatDistribution(float(low), float(high), step=param.step)


def _sampler(method: Method, seed: int | None, objectives: int) -> optuna.samplers.BaseSampler:
    if method == "random" or method == "grid":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if method == "cmaes":
        if objectives > 1:
            raise InvalidInputError(
                ["method: cmaes optimises one objective; use nsga2 for several"], what="study"
            )
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.NSGAIISampler(seed=seed)


def run_study(
    job: Job,
    engine: Engine,
    *,
    method: Method = "grid",
    trials: int | None = None,
    name: str = "nl_trader",
    storage: str | None = None,
    seed: int | None = 0,
    progress: Progress | None = None,
) -> StudyResult:
    """Search ``job.space`` for ``job.objectives`` (module docstring). ``trials``: how many more
    to run (the grid: at most that many of the sets not run yet; default all); ``storage`` an
    Optuna URL (``sqlite:///study.db``) to keep the study and resume it."""
    started = time.perf_counter()
    if method not in METHODS:
        raise InvalidInputError(
            [f"method: {method!r} is not one of {', '.join(METHODS)}"], what="study"
        )
    if not job.objectives:
        raise InvalidInputError(["objectives: name at least one report figure"], what="study")
    if method != "grid" and trials is None:
        raise InvalidInputError(
            [f"trials: say how many trials the {method} search runs"], what="study"
        )
    job.space.check(job.spec)
    directions = [objective.direction for objective in job.objectives]
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=directions,
        sampler=_sampler(method, seed, len(directions)),
        load_if_exists=True,
    )
    integers = _integer_paths(job)
    distributions = {p.path: distribution(p, p.path in integers) for p in job.space.params}
    engine.start(job)
    try:
        if method == "grid":
            _run_grid(study, job, engine, distributions, trials, progress)
        else:
            _run_sampled(study, job, engine, distributions, int(trials or 0), progress)
    finally:
        engine.close()
    return _result(study, name, method, job, time.perf_counter() - started)


def _integer_paths(job: Job) -> set[str]:
    from nl_trader.optimise.space import read_path

    document = job.spec.model_dump(mode="json")
    return {
        p.path
        for p in job.space.params
        if isinstance(read_path(document, p.path)[1], int) and not p.choices
    }


def _key(values: Mapping[str, Number]) -> str:
    return repr(sorted((path, float(value)) for path, value in values.items()))


def _batches(items: Iterator[dict[str, Number]], size: int) -> Iterator[list[dict[str, Number]]]:
    batch: list[dict[str, Number]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _record(
    study: optuna.Study,
    distributions: Mapping[str, BaseDistribution],
    evaluation: Evaluation,
) -> None:
    attrs = {
        "set": _key(evaluation.values),
        "figures": evaluation.figures,
        "daily_returns": list(evaluation.daily_returns),
    }
    if evaluation.infeasible is not None:
        attrs["infeasible"] = evaluation.infeasible
    trial = optuna.trial.create_trial(
        params=dict(evaluation.values),
        distributions=dict(distributions),
        values=None if evaluation.objectives is None else list(evaluation.objectives),
        state=TrialState.COMPLETE if evaluation.objectives is not None else TrialState.PRUNED,
        user_attrs=attrs,
    )
    study.add_trial(trial)


def _run_grid(
    study: optuna.Study,
    job: Job,
    engine: Engine,
    distributions: Mapping[str, BaseDistribution],
    limit: int | None,
    progress: Progress | None,
) -> None:
    done = {trial.user_attrs.get("set") for trial in study.get_trials(deepcopy=False)}
    sets = [(values, _key(values)) for values in job.space.grid()]  # the grid, walked once
    pending = (values for values, key in sets if key not in done)
    total = len(sets)
    count = sum(1 for _, key in sets if key in done)
    budget = limit if limit is not None else total
    size = max(1, engine.workers) * 4
    ran = 0
    for batch in _batches(pending, size):
        batch = batch[: max(0, budget - ran)]
        if not batch:
            break
        for evaluation in engine.run(batch):
            _record(study, distributions, evaluation)
        ran += len(batch)
        count += len(batch)
        if progress is not None:
            progress(count, total, _best_value(study))


def _run_sampled(
    study: optuna.Study,
    job: Job,
    engine: Engine,
    distributions: Mapping[str, BaseDistribution],
    trials: int,
    progress: Progress | None,
) -> None:
    size = max(1, engine.workers)
    ran = 0
    while ran < trials:
        asked = [study.ask(dict(distributions)) for _ in range(min(size, trials - ran))]
        sets = [dict(trial.params) for trial in asked]
        runnable = [(t, s) for t, s in zip(asked, sets, strict=True) if job.space.allows(s)]
        for trial, values in zip(asked, sets, strict=True):
            if not job.space.allows(values):
                broken = [str(r) for r in job.space.constraints if not r.holds(values)]
                trial.set_user_attr("set", _key(values))
                trial.set_user_attr("infeasible", f"breaks {', '.join(broken)}")
                study.tell(trial, state=TrialState.PRUNED)
        if runnable:
            evaluations = engine.run([values for _, values in runnable])
            for (trial, _), evaluation in zip(runnable, evaluations, strict=True):
                trial.set_user_attr("set", _key(evaluation.values))
                trial.set_user_attr("figures", evaluation.figures)
                trial.set_user_attr("daily_returns", list(evaluation.daily_returns))
                if evaluation.objectives is None:
                    trial.set_user_attr("infeasible", evaluation.infeasible)
                    study.tell(trial, state=TrialState.PRUNED)
                else:
                    study.tell(trial, list(evaluation.objectives))
        ran += len(asked)
        if progress is not None:
            progress(ran, trials, _best_value(study))


def _best_value(study: optuna.Study) -> float | None:
    if len(study.directions) != 1:
        return None
    try:
        return float(study.best_value)
    except ValueError:  # no completed trial yet
        return None


def _result(
    study: optuna.Study, name: str, method: Method, job: Job, elapsed_s: float
) -> StudyResult:
    records = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        records.append(
            TrialRecord(
                number=trial.number,
                values=dict(trial.params),
                objectives=None if trial.values is None else tuple(trial.values),
                infeasible=trial.user_attrs.get("infeasible"),
                figures=dict(trial.user_attrs.get("figures") or {}),
                daily_returns=tuple(trial.user_attrs.get("daily_returns") or ()),
            )
        )
    by_number = {record.number: record for record in records}
    best = tuple(by_number[t.number] for t in study.best_trials if t.number in by_number)
    return StudyResult(
        name=name,
        method=method,
        objectives=tuple(o.name for o in job.objectives),
        directions=tuple(o.direction for o in job.objectives),
        trials=tuple(records),
        best=best,
        elapsed_s=elapsed_s,
    )


def best_values(result: StudyResult) -> Sequence[dict[str, Number]]:
    """The best set (one objective) or each set of the Pareto front."""
    return [record.values for record in result.best]


def judge_study(result: StudyResult, space: SearchSpace, *, blocks: int = 8) -> Overfitting | None:
    """The deflated Sharpe ratio, PBO and stability of the study's best set (one objective);
    None without a feasible set or with several objectives (a front has no single choice)."""
    if len(result.objectives) != 1 or not result.best:
        return None
    best = result.best[0]
    if best.objectives is None:
        return None
    trials = [
        (t.values, t.objectives[0], t.daily_returns)
        for t in result.feasible
        if t.objectives is not None
    ]
    steps = {p.path: [float(v) for v in p.values()] for p in space.params if not p.continuous}
    return judge(best.values, best.objectives[0], trials, steps, blocks=blocks)
