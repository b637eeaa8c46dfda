"""``nl-trader demo``: the README's main job, offline."""

from __future__ import annotations

import logging
from typing import Any

from rich.table import Table

from nl_trader import __version__, mt5
from nl_trader.cli.common import app, console
from nl_trader.client import MAS
from nl_trader.live.fake_terminal import FakeTerminal


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
