"""Where the trials run: in this process, in worker processes on this machine, or on a Ray cluster.

Every engine evaluates a batch of parameter sets with ``evaluate_batch`` on the same ``Job`` (the
spec, the search space, the bars and the settings) and returns the results in the batch's order,
so the engines give identical results: the backtest is deterministic. The job's bars are shipped
once per worker (a process pool's initializer, Ray's object store), never per trial.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from nl_trader.backtest.engine import BacktestSettings, run_backtest
from nl_trader.backtest.report import report_figures
from nl_trader.data.run_data import RunData, load_run_data
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.optimise.objectives import Objective, TrialLimits, figures_of
from nl_trader.optimise.space import Number, SearchSpace
from nl_trader.spec import StrategySpec


@dataclass(frozen=True)
class Job:
    """What every trial of a study shares: the spec, its space, the bars, the account, what is
    measured and what a set must show."""

    spec: StrategySpec
    space: SearchSpace
    bars: pd.DataFrame
    symbol: str
    settings: BacktestSettings = field(default_factory=BacktestSettings)
    objectives: tuple[Objective, ...] = ()
    limits: TrialLimits = field(default_factory=TrialLimits)
    conversion_bars: Mapping[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """One set's outcome: its objective values (None when infeasible), why it is infeasible, and
    the report's figures."""

    values: dict[str, Number]
    objectives: tuple[float, ...] | None
    infeasible: str | None
    figures: dict[str, float | None]
    daily_returns: tuple[float, ...] = ()  # the equity's day-to-day returns (for DSR and PBO)


def make_job(
    spec: StrategySpec,
    data: RunData,
    space: SearchSpace,
    objectives: Sequence[Objective],
    *,
    settings: BacktestSettings | None = None,
    limits: TrialLimits | None = None,
    names: Mapping[str, str] | None = None,
) -> Job:
    """A study's job on the bars ``data`` describes (loaded and checked once, by
    ``load_run_data``); the space is checked against the spec first."""
    space.check(spec)
    settings = settings or BacktestSettings()
    loaded = load_run_data(data, spec.timeframe, settings.currency, names=names)
    return Job(
        spec=spec,
        space=space,
        bars=loaded.bars,
        symbol=data.symbol,
        settings=settings,
        objectives=tuple(objectives),
        limits=limits or TrialLimits(),
        conversion_bars=loaded.conversion_bars,
    )


def evaluate(job: Job, values: Mapping[str, Number]) -> Evaluation:
    """Backtest the spec with ``values`` and measure it."""
    spec = job.space.apply(job.spec, values)
    result = run_backtest(
        spec,
        job.bars,
        symbol=job.symbol,
        settings=job.settings,
        conversion_bars=dict(job.conversion_bars) or None,
    )
    figures = figures_of(report_figures(result))
    missed = job.limits.missed(figures)
    measured = tuple(objective.value(figures) for objective in job.objectives)
    if missed is None and any(value is None for value in measured):
        undefined = [o.name for o, v in zip(job.objectives, measured, strict=True) if v is None]
        missed = f"{', '.join(undefined)} undefined (e.g. a profit factor without a losing trade)"
    objectives = None if missed is not None else tuple(float(v) for v in measured if v is not None)
    return Evaluation(dict(values), objectives, missed, figures, daily_returns(result.equity))


def daily_returns(equity: pd.Series) -> tuple[float, ...]:
    """Day-to-day returns of an equity curve (its last value each UTC day)."""
    if len(equity) < 2:
        return ()
    closes = equity.resample("1D").last().dropna()
    return tuple(float(r) for r in closes.pct_change().dropna().round(10))


def evaluate_batch(job: Job, batch: Sequence[Mapping[str, Number]]) -> list[Evaluation]:
    return [evaluate(job, values) for values in batch]


class Engine(Protocol):
    """Evaluates batches of sets for one job; ``close`` frees its workers."""

    workers: int

    def start(self, job: Job) -> None: ...
    def run(self, batch: Sequence[Mapping[str, Number]]) -> list[Evaluation]: ...
    def close(self) -> None: ...


class LocalEngine:
    """In this process (``workers=1``) or in ``workers`` processes of this machine, each given
    the job once."""

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInputError([f"workers: {workers!r} must be at least 1"], what="engine")
        self.workers = min(workers, os.cpu_count() or 1) if workers > 1 else 1
        self._job: Job | None = None
        self._pool: ProcessPoolExecutor | None = None

    def start(self, job: Job) -> None:
        self._job = job
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, initializer=_adopt_job, initargs=(job,)
            )

    def run(self, batch: Sequence[Mapping[str, Number]]) -> list[Evaluation]:
        if self._job is None:
            raise NlTraderError("engine: start it with a job first")
        if self._pool is None:
            return evaluate_batch(self._job, batch)
        chunks = _chunks(list(batch), self.workers)
        results = self._pool.map(_evaluate_adopted, chunks)
        return [evaluation for chunk in results for evaluation in chunk]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


_ADOPTED: Job | None = None


def _adopt_job(job: Job) -> None:
    global _ADOPTED
    _ADOPTED = job


def _evaluate_adopted(batch: list[Mapping[str, Number]]) -> list[Evaluation]:
    if _ADOPTED is None:
        raise NlTraderError("engine: this worker was given no job")
    return evaluate_batch(_ADOPTED, batch)


def _chunks(items: list[Any], count: int) -> list[list[Any]]:
    size = max(1, -(-len(items) // count))
    return [items[start : start + size] for start in range(0, len(items), size)]


class RayEngine:
    """On a Ray cluster (``address``: ``auto``, ``ray://HOST:PORT``, or None for a local Ray
    started here): the job goes into Ray's object store once; each task evaluates a chunk."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers or 0
        self._job_ref: Any = None
        self._remote: Any = None

    def start(self, job: Job) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                num_cpus=None if self.address else (self.workers or None),
            )
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.workers = self.workers or max(1, int(resources.get("CPU", 1)))
        self._job_ref = ray.put(job)
        self._remote = ray.remote(evaluate_batch)

    def run(self, batch: Sequence[Mapping[str, Number]]) -> list[Evaluation]:
        import ray

        if self._remote is None:
            raise NlTraderError("engine: start it with a job first")
        chunks = _chunks([dict(values) for values in batch], self.workers)
        futures = [self._remote.remote(self._job_ref, chunk) for chunk in chunks]
        return [evaluation for chunk in ray.get(futures) for evaluation in chunk]

    def close(self) -> None:
        self._job_ref = None


def make_engine(name: str, *, workers: int = 1, address: str | None = None) -> Engine:
    """``local`` (``workers`` processes) or ``ray`` (``address``, default a local Ray)."""
    if name == "local":
        return LocalEngine(workers)
    if name == "ray":
        return RayEngine(address, workers if workers > 1 else None)
    raise InvalidInputError([f"engine: {name!r} is not 'local' or 'ray'"], what="engine")
