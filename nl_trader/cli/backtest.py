"""``nl-trader backtest``: a spec on bars, to the HTML and JSON reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from nl_trader.backtest.engine import BacktestSettings, run_backtest
from nl_trader.backtest.report import write_reports
from nl_trader.cli.common import app, console, load_spec
from nl_trader.cli.lifecycle import backtest_strategy
from nl_trader.cli.options import (
    DATA_OPTIONS,
    AccountModeOption,
    CommissionOption,
    ConvertOption,
    CurrencyOption,
    DataOption,
    DataTimeframeOption,
    DepositOption,
    FromOption,
    LeverageOption,
    ServerTimezoneOption,
    SpreadOption,
    SymbolOption,
    TimezoneOption,
    ToOption,
    settings_problems,
)
from nl_trader.data.run_data import RunData, load_run_data
from nl_trader.errors import NlTraderError

DEFAULT_REPORT = Path("report.html")
SAMPLE_BARS = 20_000  # bars of the bundled sample a backtest on --data sample runs over


@app.command()
def backtest(
    spec: Annotated[
        Path,
        typer.Argument(
            help="A StrategySpec JSON file, or the id of a stored strategy (nl-trader list): its "
            "run is then recorded for approval, as backtest-strategy does.",
            metavar="SPEC|ID",
        ),
    ],
    data: DataOption,
    report: Annotated[
        Path,
        typer.Option(
            "--report",
            help="Where to write the HTML report (the JSON goes beside it); for a stored "
            "strategy, its folder (default: reports/ beside the database).",
        ),
    ] = DEFAULT_REPORT,
    symbol: SymbolOption = None,
    start: FromOption = None,
    end: ToOption = None,
    spread: SpreadOption = None,
    commission: CommissionOption = None,
    deposit: DepositOption = 10_000.0,
    currency: CurrencyOption = "USD",
    leverage: LeverageOption = 100,
    account: AccountModeOption = "hedging",
    timezone: TimezoneOption = None,
    bars_timeframe: DataTimeframeOption = None,
    server_timezone: ServerTimezoneOption = None,
    convert: ConvertOption = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="The store, for a stored strategy (default: $NL_TRADER_DB)."),
    ] = None,
) -> None:
    """Backtest a strategy spec on bars and write the HTML and JSON reports."""
    if str(spec).isdigit() and not spec.exists():
        if bars_timeframe is not None:
            # A stored strategy's run records its data to rerun it; that record has no timeframe.
            console.print(
                "cannot backtest: --timeframe: works with a spec file only (a stored strategy's "
                "runs are recorded without it); give a file whose bars are spaced at their "
                "timeframe",
                markup=False,
            )
            raise typer.Exit(2)
        backtest_strategy(
            int(str(spec)),
            data=data,
            report_dir=report.parent if report != DEFAULT_REPORT else None,
            symbol=symbol,
            start=start,
            end=end,
            spread=spread,
            commission=commission,
            deposit=deposit,
            currency=currency,
            leverage=leverage,
            account=account,
            timezone=timezone,
            server_timezone=server_timezone,
            convert=convert,
            db=db,
        )
        return
    parsed = load_spec(spec)
    name = symbol or parsed.symbols[0]
    try:
        settings = BacktestSettings(
            deposit=deposit,
            currency=currency.upper(),
            leverage=leverage,
            account_mode=account,
            spread_points=spread,
            commission_per_lot=commission,
            server_timezone=server_timezone,
        )
        description = RunData.of(
            data,
            name,
            start=start,
            end=end,
            sample_size=SAMPLE_BARS,
            timezone=timezone,
            timeframe=bars_timeframe,
            convert=convert or [],
            names=DATA_OPTIONS,
        )
        loaded = load_run_data(description, parsed.timeframe, settings.currency, names=DATA_OPTIONS)
        bars, m1, conversions, info = (
            loaded.bars,
            loaded.m1_bars,
            loaded.conversion_bars,
            loaded.info,
        )
    except ValidationError as error:
        console.print("[red]cannot backtest:[/red]")
        for problem in settings_problems(error):
            console.print(f"  - {problem}", markup=False)
        raise typer.Exit(2) from None
    except (NlTraderError, OSError) as error:
        console.print(f"[red]cannot backtest: {error}[/red]", markup=True)
        raise typer.Exit(2) from None
    with Progress(
        TextColumn("backtest"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("bars", total=len(bars))
        try:
            result = run_backtest(
                parsed,
                bars,
                symbol=name,
                settings=settings,
                m1_bars=m1,
                conversion_bars=conversions,
                progress=lambda done, total: progress.update(task, completed=done),
            )
        except NlTraderError as error:
            console.print(f"cannot backtest: {error}", markup=False)
            raise typer.Exit(2) from None
    figures = write_reports(result, report, data=info)
    console.print(
        f"{parsed.name} on {name} {parsed.timeframe}, {len(bars):,} bars: net profit "
        f"{figures.total_net_profit:,.2f} {settings.currency}, {figures.total_trades} trades, "
        f"profit factor {figures.profit_factor or 0:.2f}, max equity drawdown "
        f"{figures.equity_drawdown.relative_pct:.2f} % ({result.elapsed_s:.2f} s)",
        markup=False,
    )
    for warning in (*info.warnings, *result.warnings):
        console.print(f"warning: {warning}", markup=False)
    console.print(f"report: {report.resolve()}", markup=False)
