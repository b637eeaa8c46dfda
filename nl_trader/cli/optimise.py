"""``nl-trader optimize`` and ``nl-trader walk-forward``: search a spec's numbers on bars.

Both take a spec file or a stored strategy's id, the data options of ``backtest``, one ``--param``
per number to vary (``indicators.fast.params.period=5:50:5``), ``--constraint`` between them and
``--objective`` (a report figure; several give a Pareto front). Exit codes: 0 done, 2 bad input.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nl_trader.backtest.engine import BacktestSettings
from nl_trader.cli.common import app, console, load_spec
from nl_trader.cli.options import (
    DATA_OPTIONS,
    CurrencyOption,
    DataOption,
    DepositOption,
    FromOption,
    SpreadOption,
    SymbolOption,
    TimezoneOption,
    ToOption,
    settings_problems,
)
from nl_trader.config import current_actor
from nl_trader.data.run_data import DEFAULT_SAMPLE_BARS, RunData
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.lifecycle.optimisations import adopt
from nl_trader.lifecycle.optimisations import record as record_optimisation
from nl_trader.optimise import METHODS, Method
from nl_trader.optimise.engines import Job, make_engine, make_job
from nl_trader.optimise.objectives import FIGURES, Objective, TrialLimits
from nl_trader.optimise.space import SearchSpace, short_path
from nl_trader.optimise.windows import forward_split, walk_forward_windows
from nl_trader.spec import StrategySpec
from nl_trader.store import Store, default_db_path

if TYPE_CHECKING:  # a study loads Optuna: imported when a command runs, not for --help
    from nl_trader.optimise.overfitting import Overfitting
    from nl_trader.optimise.study import StudyResult, TrialRecord

TargetArgument = Annotated[
    str, typer.Argument(help="A spec file, or a stored strategy's id.", metavar="SPEC|ID")
]
ParamOption = Annotated[
    list[str],
    typer.Option(
        "--param",
        help="A number to vary: PATH=LOW:HIGH:STEP, PATH=LOW:HIGH (model-based search) or "
        "PATH=a,b,c; PATH into the spec by key and indicator id, e.g. "
        "indicators.fast.params.period=5:50:5. Repeat for each.",
    ),
]
ConstraintOption = Annotated[
    list[str] | None,
    typer.Option("--constraint", help="PATH OP PATH between two params, e.g. 'fast < slow' paths."),
]
ObjectiveOption = Annotated[
    list[str] | None,
    typer.Option(
        "--objective",
        help="A report figure to optimise (default total_net_profit): profit_factor, "
        "sharpe_ratio, recovery_factor, expected_payoff, equity_drawdown_pct (minimised), "
        "min:NAME / max:NAME, or score:NAME*W,NAME*W. Repeat for a Pareto front.",
    ),
]
MethodOption = Annotated[
    str, typer.Option("--method", help=f"Search: {', '.join(METHODS)} (Optuna's samplers).")
]
TrialsOption = Annotated[
    int | None,
    typer.Option("--trials", min=1, help="Trials to run (default: the whole grid)."),
]
EngineOption = Annotated[
    str, typer.Option("--engine", help="local (this machine) or ray (a Ray cluster).")
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Processes (local).")]
AddressOption = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster: auto or ray://HOST:PORT (default: start one)."),
]
MinTradesOption = Annotated[
    int, typer.Option("--min-trades", min=0, help="A set with fewer trades is infeasible.")
]
MaxDrawdownOption = Annotated[
    float | None,
    typer.Option("--max-drawdown", help="A set with a deeper equity drawdown (%) is infeasible."),
]
SampleBarsOption = Annotated[
    int, typer.Option("--bars", min=500, help="Bars of the bundled sample (with --data sample).")
]


def _spec_of(target: str, db: Path | None) -> StrategySpec:
    """A spec file, or the current version of a stored strategy (its id)."""
    stored = _stored_id(target)
    if stored is not None:
        with Store(db) as store:
            return store.current_version(stored).spec
    return load_spec(Path(target))


def _job(
    target: str,
    *,
    data: str,
    sample_size: int,
    symbol: str | None,
    start: str | None,
    end: str | None,
    timezone: str | None,
    params: list[str],
    constraints: list[str] | None,
    objectives: list[str] | None,
    min_trades: int,
    max_drawdown: float | None,
    spread: float | None,
    deposit: float,
    currency: str,
    db: Path | None,
) -> tuple[Job, RunData]:
    """The study's job and the description of its data (as a run records it)."""
    spec = _spec_of(target, db)
    try:
        settings = BacktestSettings(
            deposit=deposit, currency=currency.upper(), spread_points=spread
        )
    except ValidationError as error:
        raise InvalidInputError(settings_problems(error), what="settings") from None
    space = SearchSpace.parse(params, constraints or [])
    chosen = [Objective.parse(text, FIGURES) for text in objectives or ["total_net_profit"]]
    description = RunData.of(
        data,
        symbol or spec.symbols[0],
        start=start,
        end=end,
        sample_size=sample_size,
        timezone=timezone,
        names=DATA_OPTIONS,
    )
    limits = TrialLimits(min_trades=min_trades, max_drawdown_pct=max_drawdown)
    job = make_job(
        spec, description, space, chosen, settings=settings, limits=limits, names=DATA_OPTIONS
    )
    return job, description


def _stored_id(target: str) -> int | None:
    return int(target) if target.isdigit() and not Path(target).exists() else None


def _studies_file(db: Path | None) -> Path:
    """The Optuna studies of a store's strategies: a file beside the database."""
    path = default_db_path() if db is None else db
    return path.with_name(path.name + ".studies.sqlite")


def _best_dict(result: StudyResult) -> dict[str, object] | None:
    if not result.best:
        return None
    best = result.best[0]
    return {
        "trial": best.number,
        "values": dict(best.values),
        "objectives": list(best.objectives or ()),
        "figures": dict(best.figures),
        "front": len(result.best),
    }


def _fail(error: Exception) -> None:
    problems = getattr(error, "problems", None) or [str(error)]
    console.print("[red]cannot optimise:[/red]")
    for problem in problems:
        console.print(f"  - {problem}", markup=False)
    raise typer.Exit(2) from None


def _trials_table(result: StudyResult, top: int) -> Table:
    paths = list(result.trials[0].values) if result.trials else []
    table = Table(
        title=f"Top trials ({result.method}, {len(result.trials)} run)", title_justify="left"
    )
    table.add_column("#", justify="right")
    for path in paths:
        table.add_column(short_path(path), justify="right")
    for name in result.objectives:
        table.add_column(name, justify="right")
    for column in ("trades", "PF", "DD %"):
        table.add_column(column, justify="right")
    sign = 1 if result.directions[0] == "maximize" else -1

    def rank(trial: TrialRecord) -> float:
        return sign * trial.objectives[0] if trial.objectives else float("-inf")

    for trial in sorted(result.feasible, key=rank, reverse=True)[:top]:
        figures = trial.figures
        pf = figures.get("profit_factor")
        table.add_row(
            str(trial.number),
            *(f"{trial.values[path]:g}" for path in paths),
            *(f"{value:,.2f}" for value in trial.objectives or ()),
            str(int(figures.get("total_trades") or 0)),
            "-" if pf is None else f"{pf:.2f}",
            f"{figures.get('equity_drawdown_pct') or 0:.2f}",
        )
    return table


@app.command(name="optimize")
def optimize(
    target: TargetArgument,
    params: ParamOption,
    data: DataOption = "sample",
    sample_size: SampleBarsOption = DEFAULT_SAMPLE_BARS,
    symbol: SymbolOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timezone: TimezoneOption = None,
    constraints: ConstraintOption = None,
    objectives: ObjectiveOption = None,
    method: MethodOption = "grid",
    trials: TrialsOption = None,
    engine: EngineOption = "local",
    workers: WorkersOption = 1,
    address: AddressOption = None,
    min_trades: MinTradesOption = 0,
    max_drawdown: MaxDrawdownOption = None,
    spread: SpreadOption = None,
    deposit: DepositOption = 10_000.0,
    currency: CurrencyOption = "USD",
    study: Annotated[
        str, typer.Option("--study", help="The study's name (to resume it).")
    ] = "nl_trader",
    storage: Annotated[
        Path | None,
        typer.Option("--storage", help="SQLite file keeping the study: run again to resume it."),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Trials to list.")] = 10,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    adopt_best: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="A stored strategy: make the best set its new version (then backtest and "
            "approve it as any edit).",
        ),
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who optimises (default: you).")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="The store, for a strategy id.")] = None,
) -> None:
    """Search the spec's numbers for the best report figures on bars (grid, random, TPE, CMA-ES,
    NSGA-II), on this machine or a Ray cluster; a study kept in --storage resumes. For a stored
    strategy the optimisation is recorded (and its study kept beside the database)."""
    from nl_trader.optimise.report import write_report
    from nl_trader.optimise.study import judge_study, run_study

    try:
        job, description = _job(
            target,
            data=data,
            sample_size=sample_size,
            symbol=symbol,
            start=start,
            end=end,
            timezone=timezone,
            params=params,
            constraints=constraints,
            objectives=objectives,
            min_trades=min_trades,
            max_drawdown=max_drawdown,
            spread=spread,
            deposit=deposit,
            currency=currency,
            db=db,
        )
        chosen_engine = make_engine(engine, workers=workers, address=address)
        chosen_method = _method(method)
        with Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("trials", total=trials, best="-")

            def show(done: int, total: int | None, best: float | None) -> None:
                shown = "-" if best is None else f"{best:,.2f}"
                bar.update(task, completed=done, total=total, best=shown)

            stored = _stored_id(target)
            if storage is None and stored is not None:
                storage = _studies_file(db)
                study = f"strategy-{stored}-{study}"
            result = run_study(
                job,
                chosen_engine,
                method=chosen_method,
                trials=trials,
                name=study,
                storage=f"sqlite:///{storage.resolve()}" if storage else None,
                progress=show,
            )
        judged = judge_study(result, job.space)
        if stored is not None:
            with Store(db) as store:
                recorded = record_optimisation(
                    store,
                    stored,
                    kind="optimize",
                    method=method,
                    engine=engine,
                    params=params,
                    constraints=constraints or [],
                    objectives=list(result.objectives),
                    data=description.to_record(),
                    settings=job.settings.model_dump(mode="json"),
                    trials=len(result.trials),
                    best=_best_dict(result),
                    overfitting=None if judged is None else judged.to_dict(),
                    out_of_sample=None,
                    study_name=study,
                    elapsed_s=result.elapsed_s,
                    by=(by or current_actor()).strip(),
                )
                adopted = (
                    adopt(store, recorded.id, by=(by or current_actor()).strip())
                    if adopt_best and result.best
                    else None
                )
    except (NlTraderError, OSError) as error:
        _fail(error)
        return
    console.print(_trials_table(result, top))
    infeasible = len(result.trials) - len(result.feasible)
    if infeasible:
        console.print(f"{infeasible} trial(s) infeasible (limits or constraints)", markup=False)
    label = "best set" if len(result.objectives) == 1 else "Pareto front"
    for record in result.best:
        shown = ", ".join(f"{path}={value:g}" for path, value in record.values.items())
        values = ", ".join(
            f"{name} {value:,.2f}"
            for name, value in zip(result.objectives, record.objectives or (), strict=False)
        )
        console.print(f"{label}: {shown} ({values})", markup=False)
    if not result.best:
        console.print("no feasible set: loosen --min-trades / --max-drawdown", markup=False)
    if judged is not None:
        console.print(_judgement(judged), markup=False)
    if report is not None:
        write_report(report, result, job, overfitting=judged)
        console.print(f"report: {report.resolve()}", markup=False, soft_wrap=True)
    if stored is not None:
        console.print(f"recorded as optimisation {recorded.id} of strategy {stored}", markup=False)
        if adopted is not None:
            console.print(
                f"version {adopted.number} made from the best set (draft: backtest it, then "
                f"approve it): nl-trader backtest-strategy {stored} --data ...",
                markup=False,
            )
    console.print(f"{len(result.trials)} trials in {result.elapsed_s:.1f} s", markup=False)


def _judgement(judged: Overfitting) -> str:
    """The chosen set's overfitting figures, in one line a trader reads."""

    def shown(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return (
        f"overfitting: deflated Sharpe {shown(judged.deflated_sharpe, '.2f')} (chance the "
        f"best of {judged.trials} is real), PBO "
        f"{shown(None if judged.pbo is None else judged.pbo.probability, '.2f')} (above 0.5: "
        f"noise), stability {shown(judged.stability.ratio, '.2f')} (neighbours' objective "
        "over the best's: near 1 a plateau, far below a spike)"
    )


def _method(text: str) -> Method:
    for method in METHODS:
        if method == text:
            return method
    raise InvalidInputError([f"--method: {text!r} is not one of {', '.join(METHODS)}"])


@app.command(name="walk-forward")
def walk_forward_command(
    target: TargetArgument,
    params: ParamOption,
    data: DataOption = "sample",
    sample_size: SampleBarsOption = DEFAULT_SAMPLE_BARS,
    symbol: SymbolOption = None,
    start: FromOption = None,
    end: ToOption = None,
    timezone: TimezoneOption = None,
    constraints: ConstraintOption = None,
    objective: Annotated[
        str, typer.Option("--objective", help="The report figure each window optimises.")
    ] = "total_net_profit",
    method: MethodOption = "grid",
    trials: TrialsOption = None,
    in_sample_bars: Annotated[
        int | None, typer.Option("--in-sample", min=1, help="Bars each window optimises on.")
    ] = None,
    out_of_sample_bars: Annotated[
        int | None, typer.Option("--out-of-sample", min=1, help="Bars each window then trades.")
    ] = None,
    anchored: Annotated[
        bool, typer.Option("--anchored", help="In-sample always from the first bar.")
    ] = False,
    forward: Annotated[
        str | None,
        typer.Option("--forward", help="MT5's forward period instead: 1/2, 1/3, 1/4 or a day."),
    ] = None,
    engine: EngineOption = "local",
    workers: WorkersOption = 1,
    address: AddressOption = None,
    min_trades: MinTradesOption = 0,
    max_drawdown: MaxDrawdownOption = None,
    spread: SpreadOption = None,
    deposit: DepositOption = 10_000.0,
    currency: CurrencyOption = "USD",
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who runs it (default: you).")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="The store, for a strategy id.")] = None,
) -> None:
    """Optimise on each window's in-sample bars and trade the choice on the bars after; print
    each window, the stitched out-of-sample result and the walk-forward efficiency."""
    from nl_trader.optimise.report import write_report
    from nl_trader.optimise.walkforward import walk_forward

    try:
        job, description = _job(
            target,
            data=data,
            sample_size=sample_size,
            symbol=symbol,
            start=start,
            end=end,
            timezone=timezone,
            params=params,
            constraints=constraints,
            objectives=[objective],
            min_trades=min_trades,
            max_drawdown=max_drawdown,
            spread=spread,
            deposit=deposit,
            currency=currency,
            db=db,
        )
        if forward is not None:
            windows = [forward_split(pd.DatetimeIndex(job.bars.index), forward)]
        elif in_sample_bars is None or out_of_sample_bars is None:
            raise InvalidInputError(
                ["--in-sample/--out-of-sample: give both window lengths, or --forward"]
            )
        else:
            windows = walk_forward_windows(
                len(job.bars),
                in_sample_bars=in_sample_bars,
                out_of_sample_bars=out_of_sample_bars,
                kind="anchored" if anchored else "rolling",
            )
        started = time.perf_counter()
        result = walk_forward(
            job,
            windows,
            make_engine(engine, workers=workers, address=address),
            method=_method(method),
            trials=trials,
        )
        stored = _stored_id(target)
        if stored is not None:
            with Store(db) as store:
                recorded = record_optimisation(
                    store,
                    stored,
                    kind="walk-forward",
                    method=method,
                    engine=engine,
                    params=params,
                    constraints=constraints or [],
                    objectives=[objective],
                    data=description.to_record(),
                    settings=job.settings.model_dump(mode="json"),
                    trials=sum(row.trials for row in result.windows),
                    best=None,
                    overfitting=None,
                    out_of_sample={
                        "net_profit": result.net_profit,
                        "trades": result.trades,
                        "efficiency": result.efficiency,
                        "windows": [
                            {
                                "number": row.window.number,
                                "chosen": row.chosen,
                                "out_of_sample_profit": row.out_of_sample_figures.get(
                                    "total_net_profit"
                                ),
                            }
                            for row in result.windows
                        ],
                    },
                    study_name=None,
                    elapsed_s=time.perf_counter() - started,
                    by=(by or current_actor()).strip(),
                )
            console.print(
                f"recorded as optimisation {recorded.id} of strategy {stored}", markup=False
            )
    except (NlTraderError, OSError) as error:
        _fail(error)
        return
    table = Table(title="Walk-forward windows", title_justify="left")
    for column in (
        "#",
        "in sample",
        "out of sample",
        "chosen",
        "IS profit",
        "OOS profit",
        "OOS trades",
    ):
        table.add_column(column)
    for row in result.windows:
        chosen = ", ".join(f"{short_path(p)}={v:g}" for p, v in (row.chosen or {}).items())
        table.add_row(
            str(row.window.number),
            f"{row.in_sample[0]:%Y-%m-%d} .. {row.in_sample[1]:%Y-%m-%d}",
            f"{row.out_of_sample[0]:%Y-%m-%d} .. {row.out_of_sample[1]:%Y-%m-%d}",
            chosen or "no feasible set",
            f"{row.in_sample_figures.get('total_net_profit') or 0:,.2f}",
            f"{row.out_of_sample_figures.get('total_net_profit') or 0:,.2f}",
            str(int(row.out_of_sample_figures.get("total_trades") or 0)),
        )
    console.print(table)
    efficiency = "-" if result.efficiency is None else f"{result.efficiency:.2f}"
    console.print(
        f"stitched out of sample: net profit {result.net_profit:,.2f} {job.settings.currency}, "
        f"{result.trades} trades; walk-forward efficiency {efficiency}",
        markup=False,
    )
    if report is not None and result.windows:
        write_report(report, result.windows[-1].study, job, walk=result)
        console.print(f"report: {report.resolve()}", markup=False, soft_wrap=True)
