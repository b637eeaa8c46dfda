"""The strategy's states move only through one table, the same one the audit log is replayed with."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl_trader.lifecycle import TRANSITIONS, LifecycleError, next_state
from nl_trader.lifecycle.states import record
from nl_trader.store import State, Store
from tests.store.builders import PASSED, copy_template


def test_every_state_is_reached_by_some_row_and_only_creation_starts_from_nothing() -> None:
    assert {row.target for row in TRANSITIONS if row.target is not None} == set(State)
    assert [row.action for row in TRANSITIONS if None in row.sources] == ["strategy.created"]


@pytest.mark.parametrize(
    ("action", "state", "payload", "after"),
    [
        ("strategy.edited", State.APPROVED, {}, State.DRAFT),
        ("backtest.recorded", State.DRAFT, {}, State.BACKTESTED),
        ("approval.granted", State.BACKTESTED, {}, State.APPROVED),
        ("approval.revoked", State.LIVE, {}, State.BACKTESTED),
        ("approval.revoked", State.DRAFT, {}, State.DRAFT),  # an older version's approval
        ("live.started", State.APPROVED, {"mode": "paper"}, State.PAPER),
        ("live.started", State.STOPPED, {"mode": "live"}, State.LIVE),
        ("live.stopped", State.LIVE, {"others_running": 0}, State.STOPPED),
        ("live.stopped", State.LIVE, {"others_running": 1}, State.LIVE),  # still on the demo
        ("live.stopped", State.BACKTESTED, {}, State.BACKTESTED),  # revoked while it ran
        ("live.guard_refused", State.LIVE, {}, State.LIVE),  # moves no state
    ],
)
def test_each_audited_action_moves_the_state_as_its_row_says(
    action: str, state: State, payload: dict[str, object], after: State
) -> None:
    assert next_state(action, state, payload) == after


@pytest.mark.parametrize(
    ("action", "state", "payload"),
    [
        ("live.started", State.RETIRED, {"mode": "paper"}),
        ("approval.granted", State.RETIRED, {}),
        ("backtest.recorded", State.RETIRED, {}),
        ("strategy.retired", State.RETIRED, {}),
        ("strategy.created", State.DRAFT, {}),
    ],
)
def test_a_move_no_row_allows_is_refused_naming_the_action_and_the_state(
    action: str, state: State, payload: dict[str, object]
) -> None:
    with pytest.raises(LifecycleError, match=f"{action}: not allowed from '{state}'"):
        next_state(action, state, payload)
    # Replaying a log never raises: the entry leaves the state, and the column check reports it.
    assert next_state(action, state, payload, strict=False) == state


def test_a_refused_move_writes_neither_the_state_nor_the_audit_entry(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    copy = copy_template(tmp_path_factory, tmp_path)
    with Store(copy.db, clock=copy.clock) as store:
        entries = len(store.audit_entries())
        with store.transaction():
            record(store, "ops", "strategy.retired", PASSED, {"reason": "done"})
        before = store.strategy(PASSED).state
        assert before == State.RETIRED
        with pytest.raises(LifecycleError), store.transaction():
            record(store, "ops", "live.started", PASSED, {"mode": "live"})
        assert store.strategy(PASSED).state == State.RETIRED
        assert len(store.audit_entries()) == entries + 1
