"""Live trading left running: guards, the kill switch, crash and restart, broker symbol names.

All on the fake terminal (the backtester's fill engine), through ``start_session`` and the gate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nl_trader import mt5
from nl_trader.cli import app
from nl_trader.lifecycle import GateRefusedError, approve
from nl_trader.live.accounts import AccountProfile
from nl_trader.live.control import KILL_FILE_ENV, kill
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.guards import GuardLimits, GuardSnapshot, check
from nl_trader.live.order_ids import client_id_of
from nl_trader.live.paper import paper_terminal
from nl_trader.live.reconcile import ReconciliationError
from nl_trader.live.session import LiveSession, run_sessions, start_session
from nl_trader.sim.broker import SimBroker
from nl_trader.sim.feed import BarReplay
from nl_trader.store import Store
from nl_trader.symbols import symbol_spec
from tests.store.builders import MISSED, PASSED, StoreCopy, example_spec, sample

DEMO = AccountProfile(name="demo", terminal="fake")
FAR_FUTURE = 2**31 - 1


def _terminal() -> FakeTerminal:
    bars = sample(example_spec())
    return paper_terminal(bars, symbol="EURUSD", timeframe="H1", start=bars.index[700])


def _trade_until(session: LiveSession, terminal: FakeTerminal, seen: Any, limit: int = 700) -> None:
    for _ in range(limit):
        session.step()
        if seen():
            return
        terminal.advance(1)
        session.client.poll()
    pytest.fail("not reached")


def _ours(terminal: FakeTerminal, magic: int) -> list[Any]:
    return [p for p in terminal.positions_get() if p.magic == magic]


# ---- guards ---------------------------------------------------------------------------------------
def _snapshot(**changes: Any) -> GuardSnapshot:
    values: dict[str, Any] = {
        "account": {"balance": 10_000.0, "equity": 10_000.0, "margin": 0.0, "currency": "USD"},
        "symbol_info": {"point": 0.00001, "trade_mode": mt5.SYMBOL_TRADE_MODE_FULL},
        "bid": 1.10000,
        "ask": 1.10010,
        "server_now_s": 1_733_313_600 + 10 * 3600,  # a Wednesday, 10:00
        "server_utc_offset_s": 0,
        "positions": [],
        "orders": [],
        "day_start_balance": 10_000.0,
    }
    values.update(changes)
    return GuardSnapshot(**values)


BUY = {"action": mt5.TRADE_ACTION_DEAL, "type": 0, "symbol": "EURUSD", "volume": 0.5}
CLOSE = {**BUY, "type": 1, "position": 7}


@pytest.mark.parametrize(
    ("limits", "snapshot", "guard"),
    [
        (GuardLimits(max_lots_per_order=0.4), _snapshot(), "max_lots_per_order"),
        (
            GuardLimits(max_lots_per_symbol=1.0),
            _snapshot(positions=[{"volume": 0.6}]),
            "max_lots_per_symbol",
        ),
        (
            GuardLimits(max_open_positions=1),
            _snapshot(positions=[{"volume": 0.1}]),
            "max_open_positions",
        ),
        (
            GuardLimits(max_orders_per_minute=2),
            _snapshot(recent_sends_s=(1_733_349_590, 1_733_349_595)),
            "max_orders_per_minute",
        ),
        (
            GuardLimits(daily_loss_limit=500.0),
            _snapshot(account={"balance": 9_800.0, "equity": 9_500.0, "currency": "USD"}),
            "daily_loss_limit",
        ),
        (
            GuardLimits(min_margin_level_pct=200.0),
            _snapshot(
                account={"balance": 1e4, "equity": 1e4, "margin": 6_000.0, "margin_level": 166.7}
            ),
            "min_margin_level_pct",
        ),
        (GuardLimits(max_spread_points=8), _snapshot(), "max_spread_points"),
        (GuardLimits(trading_hours=("Mon 07:00-Fri 09:00",)), _snapshot(), None),
        (GuardLimits(trading_hours=("Mon 07:00-Mon 17:00",)), _snapshot(), "trading_hours"),
    ],
)
def test_each_guard_refuses_an_entry_past_its_limit_with_its_figures(
    limits: GuardLimits, snapshot: GuardSnapshot, guard: str | None
) -> None:
    refusal = check(BUY, snapshot, limits)
    if guard is None:
        assert refusal is None
        return
    assert refusal is not None
    assert refusal.guard == guard
    assert refusal.figures
    assert check(CLOSE, snapshot, limits) is None  # a close always passes


def test_the_daily_loss_counts_floating_pl_and_lets_a_smaller_loss_through() -> None:
    """Balance at the day's start 10,000; a realised 200 and a floating 299 is a loss of 499:
    under the 500 limit. Another floating dollar reaches it."""
    limits = GuardLimits(daily_loss_limit=500.0)
    under = _snapshot(account={"balance": 9_800.0, "equity": 9_501.0, "currency": "USD"})
    assert check(BUY, under, limits) is None
    at = _snapshot(account={"balance": 9_800.0, "equity": 9_500.0, "currency": "USD"})
    refusal = check(BUY, at, limits)
    assert refusal is not None
    assert refusal.figures["loss"] == 500.0


def test_tightest_takes_the_stricter_limit_and_the_common_hours() -> None:
    account = GuardLimits(max_lots_per_order=2.0, trading_hours=("Sun 22:00-Fri 22:00",))
    strategy = GuardLimits(max_lots_per_order=0.5, trading_hours=("Mon 07:00-Mon 17:00",))
    both = GuardLimits.tightest(account, strategy)
    assert both.max_lots_per_order == 0.5
    assert both.trading_hours == ("Mon 07:00-Mon 17:00",)


def test_a_session_refusal_by_a_guard_is_a_status_journaled_and_audited(store: Store) -> None:
    terminal = _terminal()
    session = start_session(
        store,
        PASSED,
        profile=DEMO,
        terminal=terminal,
        by="ops",
        guards=GuardLimits(max_lots_per_order=0.01),
    )
    _trade_until(session, terminal, lambda: session.summary.orders_refused > 0)
    journal = store.journal(session.session_id)
    guard = [e for e in journal if e.kind == "guard"]
    assert guard[0].payload["guard"] == "max_lots_per_order"
    rejected = [e for e in journal if e.kind == "status" and e.state == "rejected"]
    assert rejected[0].payload["comment"].startswith("guard max_lots_per_order")
    assert store.audit_entries()[-1].action == "live.guard_refused"
    assert _ours(terminal, session.magic) == []


# ---- kill switch -----------------------------------------------------------------------------------
def test_the_kill_command_stops_new_orders_and_closes_the_strategys_positions(
    store: Store, copy: StoreCopy
) -> None:
    terminal = _terminal()
    session = start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
    _trade_until(session, terminal, lambda: bool(_ours(terminal, session.magic)))
    result = CliRunner().invoke(
        app, ["kill", "1", "--reason", "news spike", "--by", "risk", "--db", str(copy.db)]
    )
    assert result.exit_code == 0, result.output
    reason = session.tick()
    assert reason == "killed by risk"
    summary = session.stop(reason)
    assert summary.open_positions == 0
    assert _ours(terminal, session.magic) == []
    killed = [e for e in store.audit_entries() if e.action == "live.killed"]
    assert killed[-1].actor == "risk"
    assert killed[-1].payload["reason"] == "news spike"
    # A killed strategy trades again only through a new start at the gate.
    assert store.session(session.session_id).status == "stopped"


def test_kill_keeping_positions_cancels_pending_orders_but_leaves_positions(store: Store) -> None:
    terminal = _terminal()
    session = start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
    _trade_until(session, terminal, lambda: bool(_ours(terminal, session.magic)))
    kill(store, [PASSED], by="risk", reason="hold overnight", close_positions=False)
    summary = session.stop(str(session.tick()))
    assert summary.open_positions == len(_ours(terminal, session.magic)) > 0
    assert [o for o in terminal.orders_get() if o.magic == session.magic] == []


def test_the_kill_file_stops_every_session_and_the_gate_refuses_a_start_while_it_exists(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = tmp_path / "KILL"
    monkeypatch.setenv(KILL_FILE_ENV, str(sentinel))
    terminal = _terminal()
    session = start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
    _trade_until(session, terminal, lambda: bool(_ours(terminal, session.magic)))
    sentinel.write_text("broker outage\n")
    reason = session.tick()
    assert reason is not None
    assert reason.startswith("killed: kill file")
    assert "broker outage" in reason
    assert session.stop(reason).open_positions == 0
    with pytest.raises(GateRefusedError, match=r"kill file .* exists"):
        start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")


# ---- crash and restart -----------------------------------------------------------------------------
class Crash(BaseException):
    """The process is killed here (SIGKILL: no cleanup runs)."""


class CrashingLink:
    """The terminal, with the process killed at a chosen point of the next ``order_send``."""

    def __init__(self, terminal: FakeTerminal) -> None:
        self.wrapped = terminal
        self.when: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def order_send(self, *args: Any, **kwargs: Any) -> Any:
        when, self.when = self.when, None
        if when == "before_send":
            raise Crash
        result = self.wrapped.order_send(*args, **kwargs)
        if when == "before_reply":
            raise Crash
        return result


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("when", ["before_journal", "before_send", "before_reply"])
def test_a_restart_after_a_crash_adopts_what_is_ours_and_never_sends_twice(
    copy: StoreCopy, when: str
) -> None:
    """The process dies before the intent is journaled, between the journal and order_send, or
    after the send and before the reply. `live start` again on the same terminal takes the dead
    session over, adopts by client id whatever reached the server, and sends nothing twice."""
    terminal = _terminal()
    link = CrashingLink(terminal)
    with copy.open() as store:
        approve(store, PASSED, run_id=1, by="risk officer")
        session = start_session(store, PASSED, profile=DEMO, terminal=link, by="ops")  # type: ignore[arg-type]
        if when == "before_journal":

            def crash_before_journal(intent: Any) -> None:
                raise Crash

            session.client.executor.before_send = crash_before_journal
        else:
            link.when = when
        with pytest.raises(Crash):
            _trade_until(session, terminal, lambda: False)
        # The process that ran it is gone.
        with store.transaction():
            store.update_session(session.session_id, {"pid": _dead_pid()})
    sent_before = terminal.order_send_calls
    with copy.open() as store:
        restarted = start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
        found = restarted.reconciliation
        assert found.earlier_sessions == [1]
        if when == "before_reply":
            assert len(found.adopted_orders) == 1
            assert found.adopted_positions
        else:
            assert found.adopted_orders == {}
        assert store.session(1).status == "stopped"
        assert "crashed" in str(store.session(1).stop_reason)
        _trade_until(restarted, terminal, lambda: terminal.order_send_calls > sent_before + 3)
        restarted.stop("end of test")
    orders = list(terminal.history_orders_get(0, FAR_FUTURE)) + list(terminal.orders_get())
    ids = [client_id_of(o.comment) for o in orders if client_id_of(o.comment)]
    assert len(ids) == len(set(ids))  # nothing was ever sent twice
    assert _ours(terminal, restarted.magic) == []


def test_a_position_under_the_magic_that_no_journal_knows_stops_the_start(store: Store) -> None:
    """Fail closed: a position under the session's magic that is not ours by id (placed by
    hand, another program) stops the session before it trades, naming it."""
    terminal = _terminal()
    first = start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
    magic = first.magic
    first.stop("end")
    tick = terminal.symbol_info_tick("EURUSD")
    terminal.order_send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "volume": 0.1,
            "type": mt5.ORDER_TYPE_BUY,
            "price": tick.ask,
            "magic": magic,
            "comment": "by hand",
            "type_filling": mt5.ORDER_FILLING_IOC,
        }
    )
    with pytest.raises(ReconciliationError, match=r"position .* is in no journal"):
        start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
    last = store.sessions(PASSED)[-1]
    assert last.status == "stopped"
    assert "reconciliation" in str(last.stop_reason)


# ---- broker symbol names ----------------------------------------------------------------------------
def test_on_a_terminal_whose_symbols_carry_a_suffix_the_session_trades_the_brokers_name(
    store: Store,
) -> None:
    """The seed's own example trades EURUSD.sml: the strategy (EURUSD) is mapped onto the
    broker's name found in the terminal's symbol list, and its orders go out under it."""
    bars = sample(example_spec())
    broker = SimBroker([symbol_spec("EURUSD").with_name("EURUSD.sml")])
    replay = BarReplay({"EURUSD.sml": bars}, "H1", open_next=True)
    replay.step(broker, 701)
    terminal = FakeTerminal(broker, replay)
    session = start_session(store, PASSED, profile=DEMO, terminal=terminal, by="ops")
    assert session.symbol == "EURUSD.sml"
    _trade_until(session, terminal, lambda: bool(_ours(terminal, session.magic)))
    assert {p.symbol for p in _ours(terminal, session.magic)} == {"EURUSD.sml"}


# ---- several strategies in one process --------------------------------------------------------------
def test_two_strategies_run_in_one_process_each_with_its_own_feed_and_journal(
    copy: StoreCopy,
) -> None:
    with copy.open() as store:
        approve(store, PASSED, run_id=1, by="risk officer")
        approve(store, MISSED, run_id=2, by="risk officer", override_reason="second book")
        one = start_session(store, PASSED, profile=DEMO, terminal=_terminal(), by="ops")
        two = start_session(store, MISSED, profile=DEMO, terminal=_terminal(), by="ops")
        first, second = run_sessions([one, two], max_bars=120)
        assert first.bars_processed == second.bars_processed == 120
        assert first.orders_sent == second.orders_sent > 0  # the same spec on the same bars
        assert one.feed is not two.feed
        journals = [store.journal(s.session_id) for s in (one, two)]
        assert all(
            j and {e.session_id for e in j} == {s.session_id}
            for j, s in zip(journals, (one, two), strict=True)
        )
        assert {store.session(s.session_id).status for s in (one, two)} == {"stopped"}
