"""``nl-trader demo``: the README's main job, offline, in a few seconds.

A bundled example text -> the scripted model's spec and its explain-back -> a backtest on the
bundled EURUSD sample with its HTML report -> a recorded approval -> a paper session on the fake
terminal replaying the bars the backtest did not see -> a summary. ``--orders`` adds the tour of
the seed's ``send_order`` API in both routes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from nl_trader import __version__, mt5
from nl_trader.cli.common import app, console
from nl_trader.cli.lifecycle import (
    event_printer,
    format_pf,
    print_approval,
    print_run,
    print_summary,
)
from nl_trader.client import MAS
from nl_trader.config import current_actor
from nl_trader.demo import run_demo
from nl_trader.lifecycle import GateDecision, report_file
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.session import SessionSummary
from nl_trader.store import Approval, BacktestRun, Store, Version
from nl_trader.strategy.examples import load_examples

if TYPE_CHECKING:  # translating loads langchain: the demo imports it when it runs
    from nl_trader.translate.translate import Translation

DEMO_DIR = Path("nl_trader_demo")
DEMO_EXAMPLE = "ma_crossover"
DEMO_SAMPLE_BARS = 6_000  # H1: about a year of EURUSD
DEMO_PAPER_BARS = 240  # H1: two weeks of the held-out period


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
def demo(
    workdir: Annotated[
        Path,
        typer.Option("--dir", help="Where the demo's database and reports go (its db is reset)."),
    ] = DEMO_DIR,
    example: Annotated[
        str, typer.Option(help="Which example of strategies/ to run (its slug).")
    ] = DEMO_EXAMPLE,
    sample_size: Annotated[
        int, typer.Option("--bars", min=1_000, help="Bars of the bundled sample to backtest on.")
    ] = DEMO_SAMPLE_BARS,
    paper_bars: Annotated[
        int, typer.Option("--paper-bars", min=1, help="Bars the paper session trades.")
    ] = DEMO_PAPER_BARS,
    by: Annotated[
        str | None, typer.Option("--by", help="Who approves (default: your login name).")
    ] = None,
    orders: Annotated[
        bool, typer.Option("--orders", help="Then tour the send_order API in both routes.")
    ] = False,
) -> None:
    """The main job, offline: a sentence to a spec, a backtest report, an approval, paper trading.

    A bundled example text is translated by the scripted model, explained back, stored, backtested
    on the bundled EURUSD sample (the last 20 % held out), its HTML report written and recorded,
    approved by a person (an override is recorded when the promotion criteria are not met), and
    traded for a while on the fake terminal replaying the held-out bars, through the gate, with
    every order status and execution printed and journaled as it arrives.
    """
    started = time.perf_counter()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console.print(
        f"[bold]nl_trader {__version__}[/bold]: from a sentence to paper trading, offline\n"
    )
    chosen = {item.slug: item for item in load_examples()}.get(example)
    if chosen is None:
        console.print(f"[red]--example: no example {example!r} in strategies/[/red]")
        raise typer.Exit(2)
    db = _fresh_workdir(workdir)
    actor = (by or current_actor()).strip()
    with Store(db) as store:
        run_pipeline(store, chosen.text, actor, sample_size=sample_size, paper_bars=paper_bars)
        console.print(
            f"\n[bold]Where[/bold]: database {store.path.resolve()}, reports in "
            f"{(store.path.parent / 'reports').resolve()}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"Next: nl-trader show 1 --db {store.path} ; nl-trader audit --verify --db {store.path}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s", highlight=False)
    if orders:
        order_api_tour()


def _fresh_workdir(workdir: Path) -> Path:
    """The demo's own database, new for each run (its old reports are removed too)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "demo.db"
    for leftover in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        leftover.unlink(missing_ok=True)
    reports = workdir / "reports"
    if reports.is_dir():
        for old in [*reports.glob("strategy-*.html"), *reports.glob("strategy-*.json")]:
            old.unlink()
    return db


def run_pipeline(
    store: Store, text: str, actor: str, *, sample_size: int, paper_bars: int
) -> SessionSummary:
    """The demo's stages on one text (``nl_trader.demo.run_demo``), each printed as it ends;
    returns the paper session's summary."""
    console.rule("1. The trader's text")
    console.print(text, markup=False)
    console.rule("2. Translation (scripted model) and explain-back")

    def show(stage: str, value: object) -> None:
        if stage == "translated":
            result, stored = cast("tuple[Translation, Version]", value)
            console.print(result.explanation or "", markup=False)
            console.print(
                f"[dim]model {result.model}, {result.attempts} attempt(s), prompt "
                f"{result.prompt_version} ({result.prompt_hash[:12]}), "
                f"{result.usage.total_tokens} tokens, {result.latency_s:.2f} s[/dim]",
                highlight=False,
            )
            console.print(
                f"stored: strategy {stored.strategy_id} version 1, spec sha256 {stored.spec_hash}",
                markup=False,
            )
            console.rule("3. Backtest on the bundled EURUSD sample")
        elif stage == "backtested":
            print_run(store, cast(BacktestRun, value))
            console.rule("4. Approval by a person")
        elif stage == "approved":
            print_approval(cast(Approval, value))
        elif stage == "gated":
            paper, real = cast("tuple[GateDecision, GateDecision]", value)
            console.print(
                "gate on the paper account: "
                + ("allowed" if paper.allowed else "; ".join(paper.reasons)),
                markup=False,
            )
            console.print(
                "gate on a REAL-money account without confirmation: refused: "
                + "; ".join(real.reasons),
                markup=False,
            )
            console.rule(
                f"5. Paper session: {paper_bars} bars the backtest did not see, on the fake "
                "terminal"
            )

    outcome = run_demo(
        store,
        text,
        actor,
        sample_size=sample_size,
        paper_bars=paper_bars,
        on_stage=show,
        listener=event_printer(),
    )
    summary, run, verdict, approval = (
        outcome.summary,
        outcome.run,
        outcome.verdict,
        outcome.approval,
    )
    result, version, override = outcome.translation, outcome.version, outcome.override
    strategy_id, spec = version.strategy_id, version.spec
    print_summary(summary)

    console.rule("6. Summary")
    check = store.verify_audit()
    journal = store.journal(summary.session_id)
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    figures = run.figures
    rows = [
        (
            "strategy",
            f'{strategy_id} "{spec.name}", state {store.strategy(strategy_id).state.value}',
        ),
        ("spec sha256", version.spec_hash),
        (
            "translation",
            f"{result.model}, prompt {result.prompt_version}, {result.attempts} attempt(s)",
        ),
        (
            "backtest",
            f"run {run.id}: {figures['total_trades']} trades, net {figures['total_net_profit']:,.2f}, "
            f"PF {format_pf(figures['profit_factor'])}, max DD {figures['equity_drawdown_pct']:.2f} %, "
            f"criteria {'met' if verdict.met else 'not met'}",
        ),
        ("report", str(report_file(store, run))),
        (
            "approval",
            f"{approval.id} by {approval.approved_by}, report sha256 {approval.report_hash[:16]}"
            + (", override recorded" if override else ""),
        ),
        (
            "paper session",
            f"{summary.session_id}: {summary.bars_processed} bars, {summary.orders_sent} orders, "
            f"{summary.executions} executions, P/L {summary.realised_profit:+,.2f} "
            f"{summary.currency}",
        ),
        ("journal", f"{len(journal)} entries (orders sent, statuses, executions)"),
        (
            "audit",
            f"{check.entries} entries, chain {'verified' if check.ok else 'BROKEN'}, head "
            f"{check.head_hash[:16]}",
        ),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    return summary


def order_api_tour() -> None:
    """Run the order API in both routes: simulated, then paper trading on the fake terminal."""
    console.rule("The send_order API in both routes")
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
