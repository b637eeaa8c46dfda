"""The ``nl-trader`` command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from nl_trader import __version__, mt5
from nl_trader.backtest.engine import BacktestSettings, run_backtest
from nl_trader.backtest.report import DataInfo, sample_data_info, write_reports
from nl_trader.client import MAS
from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.spec import SpecError, StrategySpec, json_schema, parse_spec, spec_hash
from nl_trader.timeframes import TIMEFRAME_MINUTES
from nl_trader.translate.explain import explain

app = typer.Typer(
    help="nl_trader: plain-language forex strategies, backtested, then promoted to MetaTrader 5.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(width=max(Console().width, 120))


class _PrintingClient(MAS):
    """A seed-style client that prints each callback as a table row."""

    def __init__(self, route: str, table: Table, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route = route
        self.table = table

    def receive_order_status(self, order_id: str, status_data: dict[str, Any]) -> None:
        self._row("status", order_id, status_data)

    def receive_order_execution(self, order_id: str, execution_data: dict[str, Any]) -> None:
        self._row("execution", order_id, execution_data)

    def _row(self, kind: str, order_id: str, data: dict[str, Any]) -> None:
        fill = ""
        if data["fill_price"] is not None:
            fill = f"{data['fill_volume']} @ {data['fill_price']}"
            if data["profit"]:
                fill += f" P/L {data['profit']:+.2f}"
        self.table.add_row(
            kind,
            order_id,
            data["type"],
            data["state"],
            data["reason"],
            fill,
            f"{data['retcode']} {data['retcode_meaning']}",
            data["time"].strftime("%Y-%m-%d %H:%M"),
        )


def _events_table(title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("callback", "order", "type", "state", "reason", "fill", "retcode", "time (UTC)"):
        table.add_column(column, no_wrap=True)
    return table


def _order_api_tour(client: MAS, *, backtest: bool) -> list[str]:
    """Send the seed's kinds of orders through one route and let the market move."""
    route = client.simulator.broker if backtest else None
    if route is not None:
        quote = route.quote("EURUSD")
        bid, ask = (quote.bid, quote.ask) if quote else (0.0, 0.0)
    else:
        tick = client.executor.terminal.symbol_info_tick("EURUSD")
        bid, ask = tick.bid, tick.ask
    pip = 0.0001
    results = [
        client.send_order(
            {"symbol": "EURUSD", "order_type": "sell", "volume": 0.1, "backtest_toggle": backtest}
        ),
        client.send_order(
            {
                "symbol": "EURUSD",
                "order_type": "buy_stop",
                "volume": 0.2,
                "price": round(ask + 3 * pip, 5),
                "sl": round(ask - 10 * pip, 5),
                "tp": round(ask + 12 * pip, 5),
                "comment": "breakout",
                "backtest_toggle": backtest,
            }
        ),
        client.send_order(
            {
                "symbol": "EURUSD",
                "order_type": "sell_limit",
                "volume": 0.1,
                "price": round(bid + 80 * pip, 5),
                "type_time": mt5.ORDER_TIME_SPECIFIED,
                "expiration": _server_now(client, backtest) + 3600,
                "backtest_toggle": backtest,
            }
        ),
        client.send_order(
            {
                "symbol": "EURUSD",
                "order_type": "buy_limit",
                "volume": 0.1,
                "price": round(ask - 5 * pip, 5),
                "sl": round(ask + 5 * pip, 5),
                "backtest_toggle": backtest,
            }
        ),
    ]
    client.advance(bars=150)
    return results


def _server_now(client: MAS, backtest: bool) -> int:
    if backtest:
        return int(client.simulator.broker.time_s)
    tick = client.executor.terminal.symbol_info_tick("EURUSD")
    return int(tick.time)


@app.command()
def demo() -> None:
    """Run the order API in both routes: simulated, then paper trading on the fake terminal."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console.print(f"[bold]nl_trader {__version__}[/bold]: the unified send_order API, offline\n")
    login = {"account": "YOUR_ACCOUNT", "password": "YOUR_PASSWORD", "server": "YOUR_SERVER"}

    sim_table = _events_table("Simulated route (backtest_toggle=True, bundled EURUSD sample)")
    sim = _PrintingClient("simulated", sim_table)
    sim.login(login)
    sim_results = _order_api_tour(sim, backtest=True)
    console.print(sim_table)
    _print_returns(sim_results)
    _print_account("Simulated account", sim.simulator.broker.account_info())

    live_table = _events_table("MT5 route (backtest_toggle=False) on the fake terminal")
    paper = _PrintingClient("mt5/fake", live_table, terminal=FakeTerminal.with_sample())
    paper.login(login)
    live_results = _order_api_tour(paper, backtest=False)
    console.print(live_table)
    _print_returns(live_results)
    account = paper.executor.terminal.account_info()
    _print_account("Fake terminal account", account._asdict() if account else {})


def _print_returns(results: list[str]) -> None:
    console.print("send_order returned: " + ", ".join(repr(result) for result in results) + "\n")


def _print_account(title: str, info: dict[str, Any]) -> None:
    console.print(
        f"[bold]{title}[/bold]: balance {info.get('balance', 0):,.2f} {info.get('currency', '')}, "
        f"equity {info.get('equity', 0):,.2f}, margin {info.get('margin', 0):,.2f}, "
        f"free margin {info.get('margin_free', 0):,.2f}\n"
    )


SpecPath = Annotated[Path, typer.Argument(help="A StrategySpec JSON file.")]


def _load_spec(path: Path) -> StrategySpec:
    try:
        return parse_spec(path.read_text(encoding="utf-8"))
    except OSError as error:
        console.print(f"[red]cannot read {path}: {error.strerror}[/red]")
        raise typer.Exit(2) from None
    except SpecError as error:
        console.print(f"[red]{path} is not a valid strategy:[/red]")
        for problem in error.problems:
            console.print(f"  - {problem}", markup=False)
        raise typer.Exit(1) from None


@app.command()
def validate(spec: SpecPath) -> None:
    """Check a strategy spec; print its hash, or every problem with its path."""
    parsed = _load_spec(spec)
    console.print(f"valid: {parsed.name} (sha256 {spec_hash(parsed)})", markup=False)


@app.command(name="explain")
def explain_command(
    spec: SpecPath,
    lang: Annotated[str, typer.Option("--lang", help="en or zh-Hant")] = "en",
) -> None:
    """Describe a strategy in plain words, with the defaults that were filled in."""
    parsed = _load_spec(spec)
    try:
        console.print(explain(parsed, lang), markup=False)
    except NlTraderError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


@app.command()
def schema() -> None:
    """Print the JSON Schema of StrategySpec (with the indicator catalogue)."""
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))


def _bars_for(
    spec: StrategySpec, data: str, symbol: str, timezone: str | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, DataInfo]:
    """The bars the strategy runs on, the M1 bars for intrabar detail if any, and the data info."""
    if data == "sample":
        bars = sample_bars(symbol, spec.timeframe, bars=20_000)
        return bars, None, sample_data_info(bars)
    from nl_trader.data.loaders import load_bars, resample

    loaded = load_bars(Path(data), symbol=symbol, timezone=timezone)
    bars = loaded.bars
    info = DataInfo(
        source=str(data),
        format=loaded.format,
        fingerprint=loaded.fingerprint,
        rows=len(bars),
        timezone=str(loaded.source_timezone),
        warnings=tuple(loaded.warnings),
    )
    have = str(bars.attrs.get("timeframe", ""))
    if have == spec.timeframe:
        return bars, None, info
    if have and TIMEFRAME_MINUTES.get(have, 10**9) < TIMEFRAME_MINUTES.get(spec.timeframe, 0):
        return resample(bars, spec.timeframe), (bars if have == "M1" else None), info
    raise InvalidInputError(
        [
            f"--data: the strategy runs on {spec.timeframe} bars but {data} holds {have or 'unknown'} "
            "bars; give bars of that timeframe or lower"
        ],
        what="backtest",
    )


def _window(bars: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    try:
        if start:
            bars = bars[bars.index >= pd.Timestamp(start, tz="UTC")]
        if end:
            bars = bars[bars.index < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]
    except ValueError as error:
        raise InvalidInputError([f"--from/--to: {error}"], what="backtest") from None
    return bars


@app.command()
def backtest(
    spec: SpecPath,
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Bars file (MT5, MT4, HistData, CSV, "
            "bid/ask), or 'sample' for the bundled sample.",
        ),
    ],
    report: Annotated[
        Path,
        typer.Option("--report", help="Where to write the HTML report (the JSON goes beside it)."),
    ] = Path("report.html"),
    symbol: Annotated[str | None, typer.Option(help="Symbol (default: the spec's first).")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First day (UTC), YYYY-MM-DD.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (UTC), YYYY-MM-DD.")] = None,
    spread: Annotated[
        float | None,
        typer.Option(help="Fixed spread in points (default: the data's spread column)."),
    ] = None,
    commission: Annotated[float | None, typer.Option(help="Commission per lot and side.")] = None,
    deposit: Annotated[float, typer.Option(help="Initial deposit.")] = 10_000.0,
    leverage: Annotated[int, typer.Option(help="Account leverage (100 = 1:100).")] = 100,
    account: Annotated[str, typer.Option(help="hedging or netting.")] = "hedging",
    timezone: Annotated[
        str | None, typer.Option(help="Time zone of the file's times (default: the format's own).")
    ] = None,
) -> None:
    """Backtest a strategy spec on bars and write the HTML and JSON reports."""
    parsed = _load_spec(spec)
    name = symbol or parsed.symbols[0]
    try:
        bars, m1, info = _bars_for(parsed, data, name, timezone)
        bars = _window(bars, start, end)
        if m1 is not None:
            m1 = _window(m1, start, end)
        settings = BacktestSettings(
            deposit=deposit,
            leverage=leverage,
            account_mode=account,
            spread_points=spread,
            commission_per_lot=commission,
        )
    except (NlTraderError, ValidationError, OSError) as error:
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
    for warning in info.warnings:
        console.print(f"warning: {warning}", markup=False)
    console.print(f"report: {report.resolve()}", markup=False)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


if __name__ == "__main__":
    app()
