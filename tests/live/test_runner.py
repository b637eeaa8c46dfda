"""Sessions in the background of a long-running process: started through the gate in a worker
thread with its own store connection, tracked, stopped and killed from another thread."""

from __future__ import annotations

import time

import pytest

from nl_trader.lifecycle import GateRefusedError, approve, verify_store
from nl_trader.live.runner import SessionRunner
from nl_trader.store import State, Store
from nl_trader.users import add_user
from tests.store.builders import MISSED, PASSED, StoreCopy


def _runner(copy: StoreCopy, **options: object) -> SessionRunner:
    return SessionRunner(copy.db, clock=copy.clock, **options)  # type: ignore[arg-type]


def _wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_paper_session_started_by_the_runner_trades_in_its_own_thread_until_its_bar_limit(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy, paper_max_bars=80)
    session_id = runner.start(PASSED, by="olu")
    assert store.session(session_id).running  # recorded as running before start returns
    assert runner.wait(session_id, timeout=120)
    record = store.session(session_id)
    assert (record.status, record.stop_reason) == ("stopped", "bar limit reached (80 bars)")
    assert record.started_by == "olu"
    journal = store.journal(session_id)
    handle = runner.handle(session_id)
    assert handle is not None
    assert handle.summary is not None
    assert handle.error is None
    assert [e.kind for e in journal].count("execution") == handle.summary.executions > 0
    assert runner.running() == []


def test_a_start_the_gate_refuses_raises_every_reason_and_leaves_nothing_running(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy)
    with pytest.raises(GateRefusedError) as refused:
        runner.start(MISSED, by="olu")
    assert any(f"strategy {MISSED} has no approval" in r for r in refused.value.reasons)
    assert store.sessions(MISSED) == []
    assert runner.sessions() == []
    assert store.audit_entries()[-1].action == "live.refused"


def test_an_unknown_account_profile_is_refused_by_name_before_any_thread_starts(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy)
    with pytest.raises(Exception, match="nowhere"):
        runner.start(PASSED, account="nowhere", by="olu")
    assert store.sessions(PASSED) == []


def test_a_stop_asked_from_another_thread_ends_a_paced_paper_session_at_its_next_poll(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy, bar_interval_s=0.05)
    session_id = runner.start(PASSED, by="olu")
    _wait_for(lambda: store.session(session_id).bars_processed >= 3)
    runner.stop(store, session_id, by="olu", reason="enough")
    assert runner.wait(session_id, timeout=30)
    record = store.session(session_id)
    assert record.stop_reason == "stop requested by olu"
    assert record.bars_processed < 200  # it stopped long before the replay's end
    assert store.strategy(PASSED).state == State.STOPPED


def test_a_paper_replay_paced_at_an_interval_takes_at_least_that_long_a_bar(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy, bar_interval_s=0.02, paper_max_bars=15)
    began = time.monotonic()
    session_id = runner.start(PASSED, by="olu")
    assert runner.wait(session_id, timeout=60)
    assert store.session(session_id).bars_processed == 15
    assert time.monotonic() - began >= 15 * 0.02


def test_the_kill_switch_pulled_from_another_thread_stops_the_session_as_killed(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy, bar_interval_s=0.05)
    session_id = runner.start(PASSED, by="olu")
    _wait_for(lambda: store.session(session_id).bars_processed >= 2)
    marked = runner.kill(store, session_id, by="olu", reason="market halted")
    assert [item.id for item in marked] == [session_id]
    assert runner.wait(session_id, timeout=30)
    record = store.session(session_id)
    assert record.stop_reason == "killed by olu"
    killed = [e for e in store.audit_entries() if e.action == "live.killed"]
    assert killed[-1].payload["reason"] == "market halted"


def test_a_session_thread_and_another_connection_write_the_store_at_once_and_it_verifies(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy, bar_interval_s=0.01, paper_max_bars=150)
    session_id = runner.start(PASSED, by="olu")
    # Meanwhile this thread writes audited records on its own connection: users, an approval.
    for number in range(6):
        add_user(store, f"user{number}", "long enough password", "author", by="root")
    approve(store, MISSED, run_id=2, by="bo", override_reason="small size first")
    assert runner.wait(session_id, timeout=120)
    handle = runner.handle(session_id)
    assert handle is not None
    assert handle.summary is not None
    journal = store.journal(session_id)
    kinds = [entry.kind for entry in journal]
    assert kinds.count("execution") == handle.summary.executions > 0
    assert kinds.count("status") == handle.summary.statuses
    assert kinds.count("sent") == handle.summary.orders_sent
    verification = verify_store(store)
    assert verification.ok, verification.problems
    assert len([u for u in store.users() if u.name.startswith("user")]) == 6


def test_closing_the_runner_stops_every_session_it_still_runs(
    copy: StoreCopy, store: Store
) -> None:
    runner = _runner(copy, bar_interval_s=0.05)
    session_id = runner.start(PASSED, by="olu")
    runner.close(by="server")
    record = store.session(session_id)
    assert record.status == "stopped"
    assert record.stop_reason == "stop requested by server"
    assert runner.running() == []
