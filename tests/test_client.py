"""The seed's client: its two examples run as written, and the callback sequences it promises."""

from __future__ import annotations

import calendar
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import mas
from nl_trader import MAS, mt5
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.order_ids import client_id_of
from tests.conftest import SHARED, RecordingClient

EXAMPLES = Path(__file__).parent / "seed_examples"
REPO = Path(__file__).resolve().parents[1]


def _run_example(name: str, env_extra: dict[str, str], tmp_path: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env_extra}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_mas_gives_a_class_the_seed_can_subclass() -> None:
    class MAS_Client(mas):
        pass

    assert mas is MAS
    assert issubclass(MAS_Client, MAS)


@pytest.mark.skipif(not (SHARED / "seed").is_dir(), reason="../shared/seed is not beside the repo")
def test_seed_examples_are_kept_exactly_as_the_seed_writes_them() -> None:
    doc = (SHARED / "seed" / "send_order.md").read_text()
    live, simulated = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert live in (EXAMPLES / "live_example.py").read_text()
    assert simulated in (EXAMPLES / "simulated_example.py").read_text()


def test_seed_simulated_example_sells_at_bid_and_fires_both_callbacks(tmp_path: Path) -> None:
    out = _run_example("simulated_example.py", {}, tmp_path)
    assert "login failed" not in out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "receive_order_status",
        "receive_order_status",
        "receive_order_execution",
    ]
    assert "'state': 'placed'" in lines[0]
    assert "'state': 'filled'" in lines[1]
    assert "'type': 'sell'" in lines[2]
    assert re.search(r"'fill_price': 1\.\d{5}", lines[2])


def test_simulated_route_works_where_importing_metatrader5_would_fail(tmp_path: Path) -> None:
    poisoned = tmp_path / "poison"
    poisoned.mkdir()
    (poisoned / "MetaTrader5.py").write_text("raise RuntimeError('MetaTrader5 was imported')\n")
    out = _run_example("simulated_example.py", {"PYTHONPATH": f"{REPO}:{poisoned}"}, tmp_path)
    assert "login failed" not in out
    assert "receive_order_execution" in out


def test_seed_live_example_rests_its_buy_limit_on_the_fake_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[FakeTerminal] = []
    original = FakeTerminal.with_sample.__func__  # type: ignore[attr-defined]

    def recording_with_sample(cls: type[FakeTerminal], **kwargs: Any) -> FakeTerminal:
        terminal = original(cls, **kwargs)
        made.append(terminal)
        return terminal

    monkeypatch.setattr(FakeTerminal, "with_sample", classmethod(recording_with_sample))
    monkeypatch.setenv("NL_TRADER_TERMINAL", "fake")
    source = (EXAMPLES / "live_example.py").read_text()
    exec(compile(source, "live_example.py", "exec"), {"__name__": "seed_live"})

    out = capsys.readouterr().out
    assert "login failed" not in out
    assert "receive_order_status" in out
    assert "'state': 'placed'" in out
    (terminal,) = made
    (order,) = terminal.orders_get()
    assert order.type == mt5.ORDER_TYPE_BUY_LIMIT
    assert order.state == mt5.ORDER_STATE_PLACED
    assert order.magic == 888888
    assert order.type_filling == mt5.ORDER_FILLING_IOC
    assert order.type_time == mt5.ORDER_TIME_GTC
    # The seed's comment, with the client order id the executor resolves lost replies by.
    assert order.comment.startswith("Test Order#")
    assert client_id_of(order.comment) is not None
    assert order.time_expiration == calendar.timegm(datetime(2025, 12, 31, 23, 59).timetuple())
    assert (order.price_open, order.sl, order.tp) == (1.12345, 1.12, 1.13)
    assert order.volume_initial == 0.1


def test_live_example_without_a_terminal_says_how_to_get_one() -> None:
    client = RecordingClient()
    client.login({"account": 1, "password": "p", "server": "s"})
    reply = client.send_order(
        {"symbol": "EURUSD", "order_type": "buy", "volume": 0.1, "backtest_toggle": False}
    )
    assert "MetaTrader5 package is not installed" in reply
    assert "mt5linux" in reply
    assert client.events == []


def test_login_requires_account_password_and_server_and_never_echoes_the_password() -> None:
    client = MAS()
    with pytest.raises(Exception, match="missing password, server") as caught:
        client.login({"account": "123"})
    client.login({"account": "123", "password": "hunter2-secret", "server": "Demo"})
    assert "hunter2-secret" not in repr(client._credentials)
    assert "hunter2-secret" not in str(caught.value)


def test_market_order_reports_placed_then_filled_then_execution() -> None:
    client = RecordingClient()
    order_id = client.send_order(
        {"symbol": "EURUSD", "order_type": "buy", "volume": 0.1, "backtest_toggle": True}
    )
    assert order_id.isdigit()
    assert client.states(order_id) == [
        ("status", "placed"),
        ("status", "filled"),
        ("execution", "filled"),
    ]
    execution = client.events[-1][2]
    quote_ask = client.simulator.broker.quote("EURUSD").ask  # type: ignore[union-attr]
    assert execution["fill_price"] == quote_ask
    assert execution["retcode"] == mt5.TRADE_RETCODE_DONE


def test_pending_order_reports_placed_then_expired_at_its_expiration() -> None:
    client = RecordingClient()
    broker = client.simulator.broker
    quote = broker.quote("EURUSD")
    assert quote is not None
    order_id = client.send_order(
        {
            "symbol": "EURUSD",
            "order_type": "sell_limit",
            "volume": 0.1,
            "price": round(quote.bid + 0.0300, 5),
            "type_time": mt5.ORDER_TIME_SPECIFIED,
            "expiration": int(broker.time_s) + 1800,
            "backtest_toggle": True,
        }
    )
    client.advance(bars=12)  # one hour of M5 bars
    assert client.states(order_id) == [("status", "placed"), ("status", "expired")]
    expired = client.events[-1][2]
    assert expired["reason"] == "expiration"


def test_refused_order_reports_rejected_with_its_retcode_and_returns_the_reason() -> None:
    client = RecordingClient()
    quote = client.simulator.broker.quote("EURUSD")
    assert quote is not None
    reply = client.send_order(
        {
            "symbol": "EURUSD",
            "order_type": "buy_limit",
            "volume": 0.1,
            "price": round(quote.ask + 0.0050, 5),  # a buy limit above the market
            "backtest_toggle": True,
        }
    )
    assert reply.startswith("rejected: retcode 10015")
    ((kind, order_id, payload),) = client.events
    assert (kind, order_id, payload["state"]) == ("status", "0", "rejected")
    assert payload["retcode"] == mt5.TRADE_RETCODE_INVALID_PRICE
    assert payload["retcode_meaning"] == "Invalid price in the request"


def test_invalid_params_return_the_message_and_send_nothing() -> None:
    client = RecordingClient()
    reply = client.send_order({"symbol": "EURUSD", "order_type": "buy", "volume": -1})
    assert "volume: must be more than 0 lots" in reply
    assert "backtest_toggle: required key is missing" in reply
    assert client.events == []


def test_a_failing_callback_does_not_break_the_order_flow() -> None:
    class Broken(MAS):
        def receive_order_status(self, order_id: str, status_data: dict[str, Any]) -> None:
            raise RuntimeError("client bug")

    client = Broken()
    order_id = client.send_order(
        {"symbol": "EURUSD", "order_type": "sell", "volume": 0.1, "backtest_toggle": True}
    )
    assert order_id.isdigit()
    assert client.simulator.broker.positions


def test_closing_by_position_ticket_realises_profit_in_the_execution() -> None:
    client = RecordingClient()
    opened = client.send_order(
        {"symbol": "EURUSD", "order_type": "buy", "volume": 0.5, "backtest_toggle": True}
    )
    client.advance(bars=30)
    closed = client.send_order(
        {
            "symbol": "EURUSD",
            "order_type": "sell",
            "volume": 0.5,
            "position": int(opened),
            "backtest_toggle": True,
        }
    )
    execution = [p for kind, oid, p in client.events if kind == "execution" and oid == closed]
    (deal,) = execution
    assert deal["entry"] == "out"
    assert deal["position_id"] == opened
    assert deal["profit"] == pytest.approx(
        (deal["fill_price"] - client.events[2][2]["fill_price"]) * 0.5 * 100_000, abs=0.01
    )
    assert client.simulator.broker.positions == {}


def test_simulated_route_can_be_driven_by_quotes_a_buy_stop_fills_at_the_ask_that_crossed_it() -> (
    None
):
    from datetime import UTC, datetime

    from nl_trader.sim.broker import SimBroker
    from nl_trader.sim.route import SimulatedRoute

    route = SimulatedRoute(SimBroker(), replay=None)
    client = RecordingClient(simulator=route)
    start = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    route.push_quote("EURUSD", start, 1.08000, 1.08010)
    order_id = client.send_order(
        {
            "symbol": "EURUSD",
            "order_type": "buy_stop",
            "volume": 0.1,
            "price": 1.08050,
            "backtest_toggle": True,
        }
    )
    route.push_quote("EURUSD", start.replace(second=5), 1.08030, 1.08040)  # not yet
    assert client.states(order_id) == [("status", "placed")]
    route.push_quote("EURUSD", start.replace(second=9), 1.08060, 1.08070)  # jumps over the stop
    assert client.states(order_id)[-1] == ("execution", "filled")
    assert client.events[-1][2]["fill_price"] == 1.08070  # the ask that crossed it, not 1.08050
