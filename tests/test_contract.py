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


def _comparable(payload: dict[str, Any]) -> dict[str, Any]:
    # A refusal or a modification happens "now" on each side. MT5 records no time for a
    # stop-limit's trigger, so the live route can only say when it noticed (its next poll).
    if payload["state"] in ("rejected", "modified") or payload["comment"].startswith("Stop trig"):
        return {**payload, "time": None}
    return payload


def assert_same_callbacks(
    simulated: list[tuple[str, dict[str, Any]]], live: list[tuple[str, dict[str, Any]]]
) -> None:
    """Per order: identical callbacks. Across orders: the same order of events, except for
    stop-limit triggers, which the live route can only place at the poll that noticed them."""
    assert simulated, "the scenario produced no callbacks"

    def per_order(events: list[tuple[str, dict[str, Any]]]) -> dict[str, list[Any]]:
        grouped: dict[str, list[Any]] = {}
        for kind, payload in events:
            grouped.setdefault(payload["order_id"], []).append((kind, _comparable(payload)))
        return grouped

    assert per_order(simulated) == per_order(live)

    def timeline(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
        return [
            (kind, p["order_id"], p["state"])
            for kind, p in events
            if not p["comment"].startswith("Stop trig")
        ]

    assert timeline(simulated) == timeline(live)


@pytest.mark.parametrize("name", SCENARIOS)
def test_both_routes_give_the_same_replies_and_callbacks(name: str) -> None:
    simulated = _run("simulated", SCENARIOS[name])
    live = _run("mt5-fake", SCENARIOS[name])
    assert simulated[0] == live[0]
    assert_same_callbacks(simulated[1], live[1])


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_payload_follows_the_one_documented_schema(route: str, name: str) -> None:
    _, events = _run(route, SCENARIOS[name])
    keys = set(OrderEvent.model_fields)
    for kind, payload in events:
        assert set(payload) == keys
        OrderEvent.model_validate({**payload, "warnings": tuple(payload["warnings"])})
        assert payload["state"] in {state.value for state in OrderState}
        assert isinstance(payload["time"], datetime)
        assert payload["time"].tzinfo is not None
        if kind == "execution":
            assert payload["deal_id"]
            assert payload["fill_price"]
            assert payload["fill_volume"]


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
    limit_fill = next(p for k, p in events if p["order_id"] == stop_limit_id and k == "execution")
    assert limit_fill["type"] == "sell_limit"


def _every_order_type(bid: float, ask: float, now: int, backtest: bool) -> list[dict[str, Any]]:
    base = {"symbol": "EURUSD", "volume": 0.1, "backtest_toggle": backtest}
    return [
        {**base, "order_type": "buy"},
        {**base, "order_type": "sell"},
        {**base, "order_type": "buy_limit", "price": round(ask - 4 * PIP, 5)},
        {**base, "order_type": "sell_limit", "price": round(bid + 4 * PIP, 5)},
        {**base, "order_type": "buy_stop", "price": round(ask + 4 * PIP, 5)},
        {**base, "order_type": "sell_stop", "price": round(bid - 4 * PIP, 5)},
        {
            **base,
            "order_type": "buy_stop_limit",
            "price": round(ask + 4 * PIP, 5),
            "stoplimit": round(ask + 2 * PIP, 5),
        },
        {
            **base,
            "order_type": "sell_stop_limit",
            "price": round(bid - 4 * PIP, 5),
            "stoplimit": round(bid - 2 * PIP, 5),
        },
    ]


SCENARIOS["every order type"] = _every_order_type


@pytest.mark.parametrize("route", ROUTES)
def test_every_order_type_is_accepted_and_every_pending_one_eventually_fills(route: str) -> None:
    replies, events = _run(route, _every_order_type)
    assert all(reply.isdigit() for reply in replies), replies
    filled = {p["order_id"] for kind, p in events if kind == "execution" and p["entry"] == "in"}
    assert filled == set(replies)


# Steps that act on what earlier orders created: each sees the replies so far and a fresh quote.
Step = Callable[[list[str], float, float], dict[str, Any]]


def _modify_cancel_close(backtest: bool) -> list[Step]:
    base = {"symbol": "EURUSD", "backtest_toggle": backtest}
    return [
        lambda r, b, a: {
            **base,
            "order_type": "buy_limit",
            "volume": 0.1,
            "price": round(a - 30 * PIP, 5),
        },
        lambda r, b, a: {
            **base,
            "order_type": "modify",
            "order": int(r[0]),
            "price": round(a - 25 * PIP, 5),
            "tp": round(a + 10 * PIP, 5),
        },
        lambda r, b, a: {**base, "order_type": "cancel", "order": int(r[0])},
        lambda r, b, a: {**base, "order_type": "buy", "volume": 0.4},
        lambda r, b, a: {
            **base,
            "order_type": "modify",
            "position": int(r[3]),
            "sl": round(b - 40 * PIP, 5),
        },
        lambda r, b, a: {**base, "order_type": "sell", "volume": 0.1, "position": int(r[3])},
        lambda r, b, a: {**base, "order_type": "sell", "volume": 0.2},
        lambda r, b, a: {
            **base,
            "order_type": "close_by",
            "position": int(r[3]),
            "position_by": int(r[6]),
        },
    ]


def _run_steps(route: str) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    client = _client(route)
    replies: list[str] = []
    for step in _modify_cancel_close(route == "simulated"):
        bid, ask, _ = _quote(client, route)
        replies.append(client.send_order(step(replies, bid, ask)))
        client.advance(bars=2)
    return replies, [(kind, payload) for kind, _, payload in client.events]


def test_modify_cancel_partial_close_and_close_by_agree_across_routes() -> None:
    simulated, live = _run_steps("simulated"), _run_steps("mt5-fake")
    assert simulated[0] == live[0]
    assert all(reply.isdigit() for reply in simulated[0]), simulated[0]
    assert_same_callbacks(simulated[1], live[1])
    states = [p["state"] for _, p in simulated[1]]
    assert "modified" in states
    assert "cancelled" in states
    out_by = [p for k, p in simulated[1] if k == "execution" and p["entry"] == "out_by"]
    assert len(out_by) == 2  # close-by closes both positions at position_by's open price
    assert {p["fill_price"] for p in out_by} == {out_by[0]["fill_price"]}
