"""Findings of a hostile review of the executor (issue 16), each reproduced on the fake terminal.

1. Two approved strategies on one account shared the default magic and comment, so one strategy's
   book took the other's positions and stopping one closed the other's.
2. A lost reply was resolved by matching symbol, type and volume: client A could be told client
   B's order, adopt B's order when its own never reached the server, or take B's close for its own.
3. A connection dropped right after a DONE reply left the executor reporting a failure for an
   open position, silent about its later stop-loss close, and disconnected for good.
4. A live-route rejection was stamped with this machine's wall clock where every other event of
   the route carries the trade server's clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.lifecycle import approve
from nl_trader.live.accounts import AccountProfile
from nl_trader.live.executor import Credentials, MT5Executor
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.session import LiveSession, start_session
from nl_trader.orders import parse_order_params
from nl_trader.store import Store
from tests.live.test_executor import CREDENTIALS, RecordingNotify
from tests.store.builders import MISSED, PASSED, StoreCopy, copy_template, example_spec, sample

ACCOUNT = AccountProfile(name="demo", terminal="fake")


class LosesNextRequest:
    """The fake terminal behind a link that loses the next ``order_send`` before it leaves:
    ``None`` with (-10005, 'IPC timeout'), and the trade server never sees it."""

    def __init__(self, terminal: FakeTerminal) -> None:
        self.wrapped = terminal
        self.armed = False
        self._lost = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.wrapped, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._lost = False  # every call resets last_error, as the package does
            return attribute(*args, **kwargs)

        return call

    def order_send(self, *args: Any, **kwargs: Any) -> Any:
        self._lost, self.armed = self.armed, False
        return None if self._lost else self.wrapped.order_send(*args, **kwargs)

    def last_error(self) -> tuple[int, str]:
        if self._lost:
            return (mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
        return self.wrapped.last_error()


class DropsAfterReply:
    """The fake terminal whose IPC link drops right after the next ``order_send`` answers."""

    def __init__(self, terminal: FakeTerminal) -> None:
        self.wrapped = terminal
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def order_send(self, *args: Any, **kwargs: Any) -> Any:
        result = self.wrapped.order_send(*args, **kwargs)
        if self.armed:
            self.armed = False
            self.wrapped.shutdown()  # every call now fails with -10004 until initialize()
        return result


def _executor(terminal: Any) -> tuple[MT5Executor, RecordingNotify]:
    executor = MT5Executor(terminal)
    notify = RecordingNotify()
    executor.attach(notify)
    executor.connect(Credentials.parse(dict(CREDENTIALS)))
    return executor, notify


def _order(**params: Any) -> Any:
    return parse_order_params({"backtest_toggle": False, "symbol": "EURUSD", **params})


# ---- 2. resolving a lost reply --------------------------------------------------------------------
def test_a_lost_reply_is_resolved_to_the_clients_own_order_not_an_identical_one_of_another() -> (
    None
):
    """B buys 0.1; A sends the identical buy and the reply is lost after the server executed it.
    A is told its own order, never B's."""
    fake = FakeTerminal.with_sample()
    b, _ = _executor(fake)
    a, a_events = _executor(fake)
    b_order = b.submit(_order(order_type="buy", volume=0.1))
    fake.inject_fault("timeout_after_send")
    a_order = a.submit(_order(order_type="buy", volume=0.1))
    assert a_order.isdigit()
    assert a_order != b_order
    assert {p.ticket for p in fake.positions_get()} == {int(a_order), int(b_order)}
    assert {event.order_id for _, event in a_events.events} == {a_order}


def test_a_request_that_never_reached_the_server_is_sent_again_not_matched_to_another() -> None:
    """B buys 0.1; A's identical buy is lost before it reaches the server. A must not adopt B's
    order: it sends once more, and the server holds the two positions the two clients asked for."""
    fake = FakeTerminal.with_sample()
    b, _ = _executor(fake)
    link = LosesNextRequest(fake)
    a, _ = _executor(link)
    b_order = b.submit(_order(order_type="buy", volume=0.1))
    link.armed = True
    a_order = a.submit(_order(order_type="buy", volume=0.1))
    assert a_order.isdigit()
    assert a_order != b_order
    assert len(fake.positions_get()) == 2


def test_a_lost_close_is_not_taken_as_done_because_another_client_closed_a_like_position() -> None:
    """A and B each hold 0.1 long; B closes its own; A's close of its position is lost before the
    server got it. A's position must end closed by A's own close, not left open as 'done'."""
    fake = FakeTerminal.with_sample()
    b, _ = _executor(fake)
    link = LosesNextRequest(fake)
    a, _ = _executor(link)
    b_position = int(b.submit(_order(order_type="buy", volume=0.1)))
    a_position = int(a.submit(_order(order_type="buy", volume=0.1)))
    b.submit(_order(order_type="sell", volume=0.1, position=b_position))
    link.armed = True
    a.submit(_order(order_type="sell", volume=0.1, position=a_position))
    assert fake.positions_get() == ()


# ---- 3. a link lost right after DONE ------------------------------------------------------------
def test_a_link_dropped_after_a_done_reply_is_reconnected_and_the_fill_reported() -> None:
    """order_send answers DONE, then the link drops. send_order returns the order's ticket (the
    position is open), the placed and filled events still come, the later stop-loss close is
    reported by poll, and the executor keeps working after reconnecting."""
    fake = FakeTerminal.with_sample()
    link = DropsAfterReply(fake)
    executor, notify = _executor(link)
    tick = fake.symbol_info_tick("EURUSD")
    link.armed = True
    answer = executor.submit(_order(order_type="buy", volume=0.1, sl=round(tick.bid - 0.0010, 5)))
    assert answer.isdigit(), answer
    assert [state for _, state in notify.states()] == ["placed", "filled", "filled"]
    for _ in range(3_000):
        if fake.advance(1) == 0 or not fake.positions_get():
            break
        executor.poll()
    executor.poll()
    assert fake.positions_get() == ()
    closes = [
        event for kind, event in notify.events if kind == "execution" and event.entry == "out"
    ]
    assert len(closes) == 1
    assert closes[0].reason == "sl"
    assert executor.submit(_order(order_type="buy", volume=0.1)).isdigit()


# ---- 4. one clock per route ---------------------------------------------------------------------
def test_a_live_rejection_carries_the_trade_servers_clock_not_the_wall_clock() -> None:
    """A refused request is stamped like every other event of the MT5 route: the trade server's
    time of the quote it was checked on (in UTC), never this machine's clock."""
    fake = FakeTerminal.with_sample()
    executor, notify = _executor(fake)
    executor.submit(_order(order_type="buy", volume=90.0))  # beyond the account's margin
    [(kind, event)] = notify.events
    assert (kind, event.state.value) == ("status", "rejected")
    server_s = fake.symbol_info_tick("EURUSD").time
    assert event.time == datetime.fromtimestamp(server_s, UTC)
    assert abs(datetime.now(UTC) - event.time) > timedelta(days=30)


# ---- 1. two strategies on one account -----------------------------------------------------------
@pytest.fixture
def two_approved(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Store]:
    """Strategies 1 and 2 (the same SMA crossover) both approved on their reports."""
    copy: StoreCopy = copy_template(tmp_path_factory, tmp_path)
    with copy.open() as store:
        approve(store, PASSED, run_id=1, by="risk officer")
        approve(store, MISSED, run_id=2, by="risk officer", override_reason="test of two books")
        yield store


def _shared_terminal() -> FakeTerminal:
    """One demo account that both strategies trade on, its history warmed up."""
    from nl_trader.live.paper import paper_terminal

    spec = example_spec()
    bars = sample(spec)
    return paper_terminal(bars, symbol="EURUSD", timeframe="H1", start=bars.index[700])


def _step_both(sessions: list[LiveSession], terminal: FakeTerminal, bars: int) -> None:
    for _ in range(bars):
        for session in sessions:
            session.step()
        if terminal.advance(1) == 0:
            return
        for session in sessions:
            session.client.poll()


def test_two_strategies_on_one_account_trade_their_own_books_with_their_own_magic(
    two_approved: Store,
) -> None:
    """Each strategy gets its own magic on the account, so each trades as it would alone: the
    same spec on the same bars sends the same orders in both, and stopping strategy 1 closes
    only strategy 1's position."""
    store = two_approved
    terminal = _shared_terminal()
    one = start_session(store, PASSED, profile=ACCOUNT, terminal=terminal, by="ops")
    two = start_session(store, MISSED, profile=ACCOUNT, terminal=terminal, by="ops")
    assert one.magic != two.magic
    _step_both([one, two], terminal, 600)
    assert one.summary.orders_sent == two.summary.orders_sent > 10
    theirs = {p.ticket for p in terminal.positions_get() if p.magic == two.magic}
    one.stop("end of test")
    assert {p.ticket for p in terminal.positions_get() if p.magic == two.magic} == theirs
    assert all(p.magic != one.magic for p in terminal.positions_get())
