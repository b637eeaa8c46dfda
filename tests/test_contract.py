"""One contract, two routes: the same params give the same callbacks in simulation and on MT5.

The simulated route (``backtest_toggle=True``) and the MT5 executor on the fake terminal
(``backtest_toggle=False``) replay the same bundled market, so beyond sharing a schema their
payloads must agree value for value: any drift between paper trading and backtests shows here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.events import OrderEvent, OrderState
from nl_trader.live.fake_terminal import FakeTerminal
from tests.conftest import RecordingClient

ROUTES = ("simulated", "mt5-fake")
PIP = 0.0001


def _client(route: str) -> RecordingClient:
    if route == "simulated":
        client = RecordingClient()
        client.simulator  # noqa: B018 - start the simulator on the bundled sample now
    else:
        client = RecordingClient(terminal=FakeTerminal.with_sample())
    client.login({"account": "YOUR_ACCOUNT", "password": "YOUR_PASSWORD", "server": "YOUR_SERVER"})
    return client


def _quote(client: RecordingClient, route: str) -> tuple[float, float, int]:
    if route == "simulated":
        quote = client.simulator.broker.quote("EURUSD")
        assert quote is not None
        return quote.bid, quote.ask, int(quote.time_s)
    tick = client.executor.terminal.symbol_info_tick("EURUSD")
    return tick.bid, tick.ask, int(tick.time)


Scenario = Callable[[float, float, int, bool], list[dict[str, Any]]]


def _market_buy(bid: float, ask: float, now: int, backtest: bool) -> list[dict[str, Any]]:
    return [{"symbol": "EURUSD", "order_type": "buy", "volume": 0.1, "backtest_toggle": backtest}]


def _bracketed_sell(bid: float, ask: float, now: int, backtest: bool) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "EURUSD",
            "order_type": "sell",
            "volume": 0.3,
            "sl": round(ask + 6 * PIP, 5),
            "tp": round(bid - 6 * PIP, 5),
            "backtest_toggle": backtest,
        }
    ]


def _pending_orders(bid: float, ask: float, now: int, backtest: bool) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "EURUSD",
            "order_type": "buy_stop",
            "volume": 0.2,
            "price": round(ask + 2 * PIP, 5),
            "sl": round(ask - 8 * PIP, 5),
            "backtest_toggle": backtest,
        },
        {
            "symbol": "EURUSD",
            "order_type": "sell_limit",
            "volume": 0.1,
            "price": round(bid + 90 * PIP, 5),
            "type_time": mt5.ORDER_TIME_SPECIFIED,
            "expiration": now + 3600,
            "backtest_toggle": backtest,
        },
        {
            "symbol": "EURUSD",
            "order_type": "sell_stop_limit",
            "volume": 0.1,
            "price": round(bid - 3 * PIP, 5),
            "stoplimit": round(bid - 1 * PIP, 5),
            "backtest_toggle": backtest,
        },
    ]


def _refused(bid: float, ask: float, now: int, backtest: bool) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "EURUSD",
            "order_type": "sell_limit",
            "volume": 0.1,
            "price": round(bid - 5 * PIP, 5),  # a sell limit below the market
            "backtest_toggle": backtest,
        },
        {"symbol": "EURUSD", "order_type": "buy", "volume": 500.0, "backtest_toggle": backtest},
    ]


SCENARIOS: dict[str, Scenario] = {
    "market buy": _market_buy,
    "sell with SL and TP": _bracketed_sell,
    "stop, expiring limit, stop-limit": _pending_orders,
    "refusals": _refused,
}


def _run(route: str, scenario: Scenario) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    client = _client(route)
    bid, ask, now = _quote(client, route)
    replies = [
        client.send_order(params) for params in scenario(bid, ask, now, route == "simulated")
    ]
    client.advance(bars=200)
    return replies, [(kind, payload) for kind, _, payload in client.events]


@pytest.mark.parametrize("name", SCENARIOS)
def test_both_routes_give_the_same_replies_and_callbacks(name: str) -> None:
    simulated = _run("simulated", SCENARIOS[name])
    live = _run("mt5-fake", SCENARIOS[name])
    assert simulated[0] == live[0]
    assert [kind for kind, _ in simulated[1]] == [kind for kind, _ in live[1]]
    for (kind, sim_payload), (_, live_payload) in zip(simulated[1], live[1], strict=True):
        # A refusal happens "now" on each side; MT5 records no time for a stop-limit's trigger,
        # so the live route can only say when it noticed (its next poll).
        if sim_payload["state"] == "rejected" or sim_payload["comment"].startswith("Stop trig"):
            sim_payload = {**sim_payload, "time": None}
            live_payload = {**live_payload, "time": None}
        assert sim_payload == live_payload, kind
    assert simulated[1], "the scenario produced no callbacks"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_payload_follows_the_one_documented_schema(route: str, name: str) -> None:
    _, events = _run(route, SCENARIOS[name])
    keys = set(OrderEvent.model_fields)
    for kind, payload in events:
        assert set(payload) == keys
        OrderEvent.model_validate({**payload, "warnings": tuple(payload["warnings"])})
        assert payload["state"] in {state.value for state in OrderState}
        assert isinstance(payload["time"], datetime) and payload["time"].tzinfo is not None
        if kind == "execution":
            assert payload["deal_id"] and payload["fill_price"] and payload["fill_volume"]


@pytest.mark.parametrize("route", ROUTES)
def test_sell_with_sl_and_tp_is_closed_by_one_of_them(route: str) -> None:
    _, events = _run(route, _bracketed_sell)
    closes = [p for kind, p in events if kind == "execution" and p["entry"] == "out"]
    (close,) = closes
    assert close["reason"] in {"sl", "tp"}
    assert close["type"] == "buy"  # a sell position is closed by a buy, on the ask
    assert close["retcode"] == 0


@pytest.mark.parametrize("route", ROUTES)
def test_expiring_limit_expires_the_stop_fills_and_the_stop_limit_becomes_a_limit(
    route: str,
) -> None:
    replies, events = _run(route, _pending_orders)
    stop_id, limit_id, stop_limit_id = replies
    by_order: dict[str, list[str]] = {}
    for kind, payload in events:
        by_order.setdefault(payload["order_id"], []).append(f"{kind}:{payload['state']}")
    assert by_order[limit_id] == ["status:placed", "status:expired"]
    assert by_order[stop_id][:3] == ["status:placed", "status:filled", "execution:filled"]
    assert by_order[stop_limit_id] == [
        "status:placed",
        "status:placed",  # its stop triggered: a sell limit now rests at the stoplimit price
        "status:filled",
        "execution:filled",
    ]
    limit_fill = [p for k, p in events if p["order_id"] == stop_limit_id and k == "execution"][0]
    assert limit_fill["type"] == "sell_limit"
