"""The MT5 executor over the fake terminal: check before send, status callbacks, faults.

The rules under test are the executor's module docstring: order_check runs before order_send, the
request is fitted to the symbol (filling mode, volume step), every retcode becomes a status callback
with its meaning, MT5 pushes nothing so fills/expiries/SL-TP closes are found by ``poll()``, and under
faults no order is lost and none is sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.errors import LoginError
from nl_trader.events import OrderEvent, retcode_meaning
from nl_trader.live.executor import Credentials, MT5Executor
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.orders import OrderParams, parse_order_params
from nl_trader.sim.broker import AccountConfig
from nl_trader.symbols import SymbolSpec, symbol_spec

PASSWORD = "pw"
CREDENTIALS = {"account": 5_000_001, "password": PASSWORD, "server": "nl_trader-Sim"}
FAR_FUTURE = 2**31 - 1


class RecordingNotify:
    """The executor's ``notify(kind, event)`` sink, recording every callback in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, OrderEvent]] = []

    def __call__(self, kind: str, event: OrderEvent) -> None:
        self.events.append((kind, event))

    def states(self) -> list[tuple[str, str]]:
        return [(kind, event.state.value) for kind, event in self.events]

    def of(self, kind: str) -> list[OrderEvent]:
        return [event for k, event in self.events if k == kind]

    def clear(self) -> None:
        self.events.clear()


class CallRecordingTerminal:
    """The fake terminal behind a spy that records each call (name, args, kwargs) in order."""

    def __init__(self, terminal: FakeTerminal) -> None:
        self.wrapped = terminal
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.wrapped, name)
        if not callable(attribute):
            return attribute

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return attribute(*args, **kwargs)

        return recorded

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def count(self, name: str) -> int:
        return self.names().count(name)

    def sent_requests(self) -> list[dict[str, Any]]:
        return [dict(args[0]) for name, args, _ in self.calls if name == "order_send"]


class Session:
    """A connected executor over a spied fake terminal, with its callbacks recorded."""

    def __init__(
        self,
        *,
        symbols: list[SymbolSpec] | None = None,
        account: AccountConfig | None = None,
        max_retries: int = 3,
    ) -> None:
        self.fake = FakeTerminal.with_sample(symbols=symbols, account=account)
        self.spy = CallRecordingTerminal(self.fake)
        self.executor = MT5Executor(self.spy, max_retries=max_retries)  # type: ignore[arg-type]
        self.notify = RecordingNotify()
        self.executor.attach(self.notify)
        self.executor.connect(Credentials.parse(dict(CREDENTIALS)))

    def submit(self, **params: Any) -> str:
        return self.executor.submit(order(**params))

    def tick(self, symbol: str = "EURUSD") -> Any:
        return self.fake.symbol_info_tick(symbol)

    def all_orders(self) -> tuple[Any, ...]:
        """Every order the broker holds: active and history."""
        return tuple(self.fake.orders_get()) + tuple(self.fake.history_orders_get(0, FAR_FUTURE))

    def run_until(self, seen: Callable[[], bool], *, limit: int = 3_000) -> None:
        """Advance bar by bar, polling after each, until ``seen()``."""
        for _ in range(limit):
            if self.fake.advance(1) == 0:
                break
            self.executor.poll()
            if seen():
                return
        pytest.fail(f"not reached within {limit} bars of the sample")


def order(**params: Any) -> OrderParams:
    return parse_order_params({"backtest_toggle": False, "symbol": "EURUSD", **params})


@pytest.fixture
def session() -> Session:
    return Session()


# ---- check before send ------------------------------------------------------------------------------
def test_order_check_runs_before_order_send(session: Session) -> None:
    """Every request is checked by the terminal before it is sent."""
    session.submit(order_type="buy", volume=0.1)
    names = session.spy.names()
    assert names.count("order_check") == 1
    assert names.count("order_send") == 1
    assert names.index("order_check") < names.index("order_send")


def test_a_failing_check_emits_one_rejected_status_and_never_sends() -> None:
    """An SL inside the symbol's stops level fails order_check with 10016: one `rejected` status with
    the retcode and its meaning, and order_send is never called."""
    session = Session(symbols=[symbol_spec("EURUSD", {"trade_stops_level": 50})])
    bid = session.tick().bid
    answer = session.submit(order_type="buy", volume=0.1, sl=round(bid - 0.0002, 5))
    assert session.spy.count("order_send") == 0
    assert session.fake.order_send_calls == 0
    assert session.notify.states() == [("status", "rejected")]
    (event,) = session.notify.of("status")
    assert event.retcode == mt5.TRADE_RETCODE_INVALID_STOPS == 10016
    assert event.retcode_meaning == retcode_meaning(10016) == "Invalid stops in the request"
    assert event.order_id == "0"
    assert event.comment == "Invalid stops"
    assert "10016" in answer
    assert session.fake.positions_get() == ()


def test_a_sell_on_a_long_only_symbol_is_rejected_by_the_check_with_10042() -> None:
    """The check's retcode is the one reported: a sell that opens a position on a LONGONLY symbol
    is one rejected status with 10042 and its meaning, and nothing is sent."""
    session = Session(
        symbols=[symbol_spec("EURUSD", {"trade_mode": mt5.SYMBOL_TRADE_MODE_LONGONLY})]
    )
    session.submit(order_type="sell", volume=0.1)
    (event,) = session.notify.of("status")
    assert event.state.value == "rejected"
    assert event.retcode == mt5.TRADE_RETCODE_LONG_ONLY
    assert event.retcode_meaning == retcode_meaning(mt5.TRADE_RETCODE_LONG_ONLY)
    assert session.spy.count("order_send") == 0


# ---- fitting the request to the symbol ---------------------------------------------------------------
def test_an_unsupported_filling_mode_is_substituted_with_a_warning() -> None:
    """A symbol that allows only IOC (filling_mode 2) gets IOC instead of the default FOK, and the
    substitution is noted in the events' warnings instead of a 10030 rejection."""
    session = Session(symbols=[symbol_spec("EURUSD", {"filling_mode": 2})])
    session.submit(order_type="buy", volume=0.1)
    (sent,) = session.spy.sent_requests()
    assert sent["type_filling"] == mt5.ORDER_FILLING_IOC
    placed = session.notify.of("status")[0]
    assert placed.state.value == "placed"
    assert any("ORDER_FILLING_IOC" in note for note in placed.warnings)
    assert session.notify.states()[-1] == ("execution", "filled")
    (filled_order,) = session.fake.history_orders_get(0, FAR_FUTURE)
    assert filled_order.type_filling == mt5.ORDER_FILLING_IOC


def test_float_noise_in_the_volume_is_normalised_to_the_symbols_step(session: Session) -> None:
    """0.1 + 0.2 lots (0.30000000000000004) is sent as exactly 0.3 lots, not refused as 10014."""
    session.submit(order_type="buy", volume=0.1 + 0.2)
    (sent,) = session.spy.sent_requests()
    assert sent["volume"] == 0.3
    (execution,) = session.notify.of("execution")
    assert execution.fill_volume == 0.3


def test_a_volume_that_is_truly_off_the_step_is_refused_before_the_terminal(
    session: Session,
) -> None:
    """0.015 lots is not float noise: the executor refuses it, naming the step, and sends nothing."""
    answer = session.submit(order_type="buy", volume=0.015)
    assert "volume step" in answer
    assert session.spy.count("order_check") == 0
    assert session.spy.count("order_send") == 0


def test_a_market_order_is_sent_at_the_current_quote(session: Session) -> None:
    """A market buy carries the current Ask as its price (what Instant symbols require)."""
    ask = session.tick().ask
    session.submit(order_type="buy", volume=0.1)
    (sent,) = session.spy.sent_requests()
    assert sent["price"] == ask
    assert sent["action"] == mt5.TRADE_ACTION_DEAL


# ---- the life of orders ---------------------------------------------------------------------------------
def test_a_market_order_reports_placed_then_filled_with_an_execution() -> None:
    """A market buy: status placed, status filled, and an execution with the deal's ticket, price,
    volume and commission (3.5 per lot and side: -0.35 for 0.1 lot)."""
    session = Session(symbols=[symbol_spec("EURUSD", {"commission_per_lot": 3.5})])
    ask = session.tick().ask
    order_id = session.submit(order_type="buy", volume=0.1)
    assert session.notify.states() == [
        ("status", "placed"),
        ("status", "filled"),
        ("execution", "filled"),
    ]
    (deal,) = session.fake.history_deals_get(ticket=int(order_id))
    execution = session.notify.of("execution")[0]
    assert execution.order_id == order_id
    assert execution.deal_id == str(deal.ticket)
    assert execution.fill_price == deal.price == ask
    assert execution.fill_volume == 0.1
    assert execution.commission == pytest.approx(-0.35)
    assert execution.entry == "in"
    assert execution.position_id == order_id
    assert execution.retcode == mt5.TRADE_RETCODE_DONE
    placed = session.notify.of("status")[0]
    assert placed.deal_id is None
    assert placed.order_id == order_id


def test_a_pending_order_is_placed_and_its_fill_is_found_by_poll(session: Session) -> None:
    """A buy limit reports placed at once; MT5 pushes nothing, so its fill is reported by poll()
    after the market reached it: status filled and an execution."""
    limit = round(session.tick().ask - 0.0003, 5)
    order_id = session.submit(order_type="buy_limit", volume=0.1, price=limit)
    assert session.notify.states() == [("status", "placed")]
    assert session.notify.of("status")[0].price == limit
    session.notify.clear()
    session.run_until(lambda: bool(session.notify.events))
    assert session.notify.states() == [("status", "filled"), ("execution", "filled")]
    execution = session.notify.of("execution")[0]
    assert execution.order_id == order_id
    assert execution.fill_price is not None
    assert execution.fill_price <= limit
    assert execution.deal_id is not None
    assert execution.entry == "in"


def test_a_pending_order_with_a_set_expiry_is_placed_then_expires(session: Session) -> None:
    """ORDER_TIME_SPECIFIED a few bars ahead: placed, then after the time passes poll() reports it
    expired (reason expiration, retcode 0: the server raised it)."""
    tick = session.tick()
    order_id = session.submit(
        order_type="buy_limit",
        volume=0.1,
        price=round(tick.ask - 0.0100, 5),
        type_time=mt5.ORDER_TIME_SPECIFIED,
        expiration=int(tick.time) + 3 * 300,
    )
    assert session.notify.states() == [("status", "placed")]
    session.notify.clear()
    session.fake.advance(5)
    session.executor.poll()
    assert session.notify.states() == [("status", "expired")]
    (expired,) = session.notify.of("status")
    assert expired.order_id == order_id
    assert expired.reason == "expiration"
    assert expired.retcode == 0
    assert session.fake.orders_get() == ()


def test_a_take_profit_close_is_found_by_poll_with_reason_tp_and_a_profit(session: Session) -> None:
    """A buy's TP hit on the server: poll() reports the closing order filled (reason tp) and an
    execution with entry out, the position's id and a positive profit."""
    bid = session.tick().bid
    opened = session.submit(order_type="buy", volume=0.1, tp=round(bid + 0.0010, 5))
    session.notify.clear()
    session.run_until(lambda: bool(session.notify.events))
    assert session.notify.states() == [("status", "filled"), ("execution", "filled")]
    execution = session.notify.of("execution")[0]
    assert execution.reason == "tp"
    assert execution.entry == "out"
    assert execution.position_id == opened
    assert execution.order_id != opened
    assert execution.profit is not None
    assert execution.profit > 0
    assert session.fake.positions_get() == ()


def test_a_stop_loss_close_is_found_by_poll_with_reason_sl_and_a_loss(session: Session) -> None:
    """A buy's SL hit on the server: poll() reports filled with reason sl and a negative profit."""
    bid = session.tick().bid
    opened = session.submit(order_type="buy", volume=0.1, sl=round(bid - 0.0010, 5))
    session.notify.clear()
    session.run_until(lambda: bool(session.notify.events))
    execution = session.notify.of("execution")[0]
    assert session.notify.of("status")[0].reason == "sl"
    assert execution.reason == "sl"
    assert execution.entry == "out"
    assert execution.position_id == opened
    assert execution.profit is not None
    assert execution.profit < 0


def test_poll_reports_each_fill_once(session: Session) -> None:
    """Polling again after a fill reports nothing new."""
    session.submit(order_type="buy", volume=0.1)
    session.executor.poll()
    session.executor.poll()
    assert len(session.notify.of("execution")) == 1


def test_cancelling_a_pending_order_reports_cancelled(session: Session) -> None:
    """cancel (TRADE_ACTION_REMOVE) of a resting order: status cancelled by the trader."""
    order_id = session.submit(
        order_type="buy_limit", volume=0.1, price=round(session.tick().ask - 0.01, 5)
    )
    session.notify.clear()
    assert session.submit(order_type="cancel", order=int(order_id)) == order_id
    assert session.spy.sent_requests()[-1]["action"] == mt5.TRADE_ACTION_REMOVE
    assert session.notify.states() == [("status", "cancelled")]
    assert session.notify.of("status")[0].reason == "trader"
    assert session.fake.orders_get() == ()
    assert session.fake.history_orders_get(ticket=int(order_id))[0].state == (
        mt5.ORDER_STATE_CANCELED
    )


def test_moving_a_positions_stop_loss_reports_modified(session: Session) -> None:
    """modify with position (TRADE_ACTION_SLTP): status modified with the new SL, set on the server."""
    position = session.submit(order_type="buy", volume=0.1)
    new_sl = round(session.tick().bid - 0.0050, 5)
    session.notify.clear()
    session.submit(order_type="modify", position=int(position), sl=new_sl)
    assert session.spy.sent_requests()[-1]["action"] == mt5.TRADE_ACTION_SLTP
    assert session.notify.states() == [("status", "modified")]
    modified = session.notify.of("status")[0]
    assert modified.order_id == position
    assert modified.sl == new_sl
    assert modified.retcode == mt5.TRADE_RETCODE_DONE
    assert session.fake.positions_get(ticket=int(position))[0].sl == new_sl


def test_moving_a_pending_orders_price_reports_modified_and_keeps_its_levels(
    session: Session,
) -> None:
    """modify with order (TRADE_ACTION_MODIFY): the new price is set, the TP it did not mention kept."""
    ask = session.tick().ask
    order_id = session.submit(
        order_type="buy_limit", volume=0.1, price=round(ask - 0.01, 5), tp=round(ask + 0.01, 5)
    )
    session.notify.clear()
    session.submit(order_type="modify", order=int(order_id), price=round(ask - 0.02, 5))
    assert session.notify.states() == [("status", "modified")]
    (resting,) = session.fake.orders_get()
    assert resting.price_open == round(ask - 0.02, 5)
    assert resting.tp == round(ask + 0.01, 5)


# ---- requotes and faults ----------------------------------------------------------------------------
def test_two_requotes_then_success_place_exactly_one_order(session: Session) -> None:
    """10004 REQUOTE is retried with a fresh quote: two requotes then a fill give one order."""
    session.fake.inject_fault("requote", 2)
    order_id = session.submit(order_type="buy", volume=0.1)
    assert session.spy.count("order_send") == 3
    assert session.fake.order_send_calls == 1
    assert [o.ticket for o in session.all_orders()] == [int(order_id)]
    assert len(session.fake.positions_get()) == 1
    assert session.notify.states() == [
        ("status", "placed"),
        ("status", "filled"),
        ("execution", "filled"),
    ]


def test_requotes_beyond_max_retries_are_rejected_and_nothing_is_placed() -> None:
    """After max_retries retries a requote is reported as rejected with 10004."""
    session = Session(max_retries=2)
    session.fake.inject_fault("requote", 5)
    answer = session.submit(order_type="buy", volume=0.1)
    assert session.spy.count("order_send") == 3
    assert "10004" in answer
    assert session.notify.states() == [("status", "rejected")]
    assert session.notify.of("status")[0].retcode == mt5.TRADE_RETCODE_REQUOTE
    assert session.all_orders() == ()


def test_a_lost_reply_is_adopted_and_the_order_is_not_sent_twice(session: Session) -> None:
    """timeout_after_send: the server executed the order but the reply was lost. The executor finds
    it in the terminal, reports the normal placed/filled events, and does not send it again: the
    broker holds exactly ONE order, one deal and one position."""
    session.fake.inject_fault("timeout_after_send")
    order_id = session.submit(order_type="buy", volume=0.1)
    assert session.fake.order_send_calls == 1
    assert session.spy.count("order_send") == 1
    assert [o.ticket for o in session.all_orders()] == [int(order_id)]
    assert len(session.fake.history_deals_get(ticket=int(order_id))) == 1
    assert len(session.fake.positions_get()) == 1
    assert session.notify.states() == [
        ("status", "placed"),
        ("status", "filled"),
        ("execution", "filled"),
    ]
    execution = session.notify.of("execution")[0]
    assert execution.order_id == order_id
    assert execution.deal_id is not None


def test_a_lost_reply_to_a_pending_order_is_adopted_without_a_duplicate(session: Session) -> None:
    """timeout_after_send on a buy limit: the resting order is adopted, reported placed, not re-sent."""
    session.fake.inject_fault("timeout_after_send")
    order_id = session.submit(
        order_type="buy_limit", volume=0.1, price=round(session.tick().ask - 0.01, 5)
    )
    assert session.fake.order_send_calls == 1
    assert [o.ticket for o in session.fake.orders_get()] == [int(order_id)]
    assert session.notify.states() == [("status", "placed")]


def test_a_lost_reply_to_a_stop_loss_move_reports_modified_not_rejected(session: Session) -> None:
    """timeout_after_send on an SLTP: the change was made, so it is reported as modified (re-sending
    would get 10025 'no changes' and report a refusal for a change the server made)."""
    position = session.submit(order_type="buy", volume=0.1)
    new_sl = round(session.tick().bid - 0.0050, 5)
    session.notify.clear()
    session.fake.inject_fault("timeout_after_send")
    session.submit(order_type="modify", position=int(position), sl=new_sl)
    assert session.notify.states() == [("status", "modified")]
    assert session.fake.positions_get()[0].sl == new_sl
    assert session.spy.count("order_send") == 2  # the buy and the SLTP, nothing re-sent


def test_a_lost_reply_to_a_cancel_reports_cancelled_not_rejected(session: Session) -> None:
    """timeout_after_send on a REMOVE: the order is gone from the server, so it is reported cancelled
    (re-sending would get 10013 'order not found')."""
    order_id = session.submit(
        order_type="buy_limit", volume=0.1, price=round(session.tick().ask - 0.01, 5)
    )
    session.notify.clear()
    session.fake.inject_fault("timeout_after_send")
    session.submit(order_type="cancel", order=int(order_id))
    assert session.notify.states() == [("status", "cancelled")]
    assert session.fake.orders_get() == ()


def test_a_lost_reply_to_a_close_by_is_adopted_not_rejected(session: Session) -> None:
    """timeout_after_send on a CLOSE_BY (hedging): both positions are closed by one close-by order;
    it is adopted (a close-by request has no volume to match) and reported as filled out_by."""
    buy = session.submit(order_type="buy", volume=0.1)
    sell = session.submit(order_type="sell", volume=0.1)
    session.notify.clear()
    session.fake.inject_fault("timeout_after_send")
    session.submit(order_type="close_by", position=int(buy), position_by=int(sell))
    assert session.fake.positions_get() == ()
    assert session.notify.of("status")[0].state.value == "placed"
    assert {event.entry for event in session.notify.of("execution")} == {"out_by"}
    assert "rejected" not in {state for _, state in session.notify.states()}


def test_a_lost_connection_is_reconnected_and_the_order_sent_once_more(session: Session) -> None:
    """no_connection: the request never left and the pipe is gone. The executor re-initialises the
    terminal and sends once more: exactly one order exists (none lost, none doubled)."""
    session.fake.inject_fault("no_connection")
    order_id = session.submit(order_type="buy", volume=0.1)
    assert session.spy.count("initialize") == 2  # connect, then the reconnection
    assert session.spy.count("order_send") == 2
    assert session.fake.order_send_calls == 1
    assert [o.ticket for o in session.all_orders()] == [int(order_id)]
    assert session.notify.states() == [
        ("status", "placed"),
        ("status", "filled"),
        ("execution", "filled"),
    ]


def test_a_connection_lost_twice_is_reported_as_not_placed(session: Session) -> None:
    """no_connection on both attempts: a rejected status (10031, no connection), nothing placed, and
    the terminal is connected again afterwards."""
    session.fake.inject_fault("no_connection", 2)
    answer = session.submit(order_type="buy", volume=0.1)
    assert "10031" in answer
    assert session.notify.states() == [("status", "rejected")]
    assert session.notify.of("status")[0].retcode == mt5.TRADE_RETCODE_CONNECTION
    assert session.all_orders() == ()
    assert session.fake.account_info() is not None


def test_api_trading_disabled_returns_the_error_and_places_nothing(session: Session) -> None:
    """autotrading_api_disabled (-8): the request cannot be sent; the error is returned, nothing is
    re-sent and nothing is placed."""
    session.fake.inject_fault("autotrading_api_disabled")
    answer = session.submit(order_type="buy", volume=0.1)
    assert "-8" in answer
    assert "Auto-Trading using Python API disabled in Terminal" in answer
    assert session.spy.count("order_send") == 1
    assert session.fake.order_send_calls == 0
    assert session.all_orders() == ()
    assert not session.notify.of("execution")


def test_algo_trading_off_is_rejected_with_10027(session: Session) -> None:
    """The Algo Trading button off: order_check passes, order_send answers 10027; one rejected status
    with that retcode and its meaning."""
    session.fake.trade_allowed = False
    answer = session.submit(order_type="buy", volume=0.1)
    assert "10027" in answer
    assert session.spy.count("order_check") == 1
    assert session.notify.states() == [("status", "rejected")]
    (event,) = session.notify.of("status")
    assert event.retcode == mt5.TRADE_RETCODE_CLIENT_DISABLES_AT == 10027
    assert event.retcode_meaning == "Autotrading disabled by client terminal"
    assert session.all_orders() == ()


def test_connecting_with_algo_trading_off_warns(caplog: pytest.LogCaptureFixture) -> None:
    """connect() says that orders will be refused when the Algo Trading button is off."""
    fake = FakeTerminal.with_sample()
    fake.trade_allowed = False
    with caplog.at_level(logging.WARNING):
        MT5Executor(fake).connect(Credentials.parse(dict(CREDENTIALS)))
    assert "10027" in caplog.text


# ---- credentials ------------------------------------------------------------------------------------
SECRET = "s3cret-Pa55word!"


def test_the_password_never_appears_in_a_credentials_repr_or_dump() -> None:
    """Credentials hide the password in repr, str and JSON dumps."""
    credentials = Credentials.parse({"account": 5_000_001, "password": SECRET, "server": "X"})
    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)
    assert SECRET not in credentials.model_dump_json()
    assert SECRET not in repr(credentials.model_dump())
    assert credentials.password.get_secret_value() == SECRET


def test_the_password_never_appears_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, a login, a trade under faults and a refused login never log the password."""
    fake = FakeTerminal.with_sample(credentials={5_000_001: (SECRET, "nl_trader-Sim")})
    executor = MT5Executor(fake)
    good = {"account": 5_000_001, "password": SECRET, "server": "nl_trader-Sim"}
    with caplog.at_level(logging.DEBUG):
        executor.connect(Credentials.parse(good))
        fake.inject_fault("timeout_after_send")
        fake.inject_fault("no_connection")
        executor.submit(order(order_type="buy", volume=0.1))
        executor.submit(order(order_type="buy", volume=0.1))
        with pytest.raises(LoginError) as refused:
            MT5Executor(fake).connect(Credentials.parse({**good, "password": SECRET + "x"}))
    assert caplog.records  # the faults were logged
    assert SECRET not in caplog.text
    assert SECRET not in str(refused.value)
    assert "Authorization failed" in str(refused.value)


def test_login_with_the_right_password_returns_the_account(session: Session) -> None:
    """connect() logs in and returns account_info() as a dict."""
    assert session.executor.account["login"] == 5_000_001
    assert session.executor.connected
    login = next(call for call in session.spy.calls if call[0] == "login")
    assert login[1] == (5_000_001,)  # an int, as the package needs
    assert login[2]["server"] == "nl_trader-Sim"


def test_an_account_number_given_as_text_is_sent_as_an_int() -> None:
    """The package refuses a str login ('Invalid "login" argument'); "5000001" is sent as 5000001."""
    fake = FakeTerminal.with_sample(credentials={5_000_001: (PASSWORD, "nl_trader-Sim")})
    credentials = Credentials.parse({**CREDENTIALS, "account": "5000001"})
    assert MT5Executor(fake).connect(credentials)["login"] == 5_000_001


def test_a_placeholder_account_uses_the_terminals_demo_account(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A placeholder ("YOUR_ACCOUNT") is not a login number: the terminal's own account is used, as
    it is a demo account, with a warning."""
    placeholder = Credentials.parse({**CREDENTIALS, "account": "YOUR_ACCOUNT"})
    fake = FakeTerminal.with_sample()
    spy = CallRecordingTerminal(fake)
    with caplog.at_level(logging.WARNING):
        account = MT5Executor(spy).connect(placeholder)  # type: ignore[arg-type]
    assert account["login"] == 5_000_001
    assert account["trade_mode"] == mt5.ACCOUNT_TRADE_MODE_DEMO
    assert spy.count("login") == 0
    assert "YOUR_ACCOUNT" in caplog.text


def test_a_placeholder_account_is_refused_on_a_real_account() -> None:
    """A placeholder never trades real money: LoginError when the terminal's account is REAL."""
    real = AccountConfig(trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL)
    fake = FakeTerminal.with_sample(account=real)
    placeholder = Credentials.parse({**CREDENTIALS, "account": "YOUR_ACCOUNT"})
    executor = MT5Executor(fake)
    with pytest.raises(LoginError, match="REAL"):
        executor.connect(placeholder)
    assert not executor.connected
