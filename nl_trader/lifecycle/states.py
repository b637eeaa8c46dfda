"""The strategy's states and the one table of moves between them.

Draft -> backtested -> approved -> paper / live -> stopped, and retired (``State``). A state
changes only by an audited action (``strategy.created``, ``backtest.recorded``, ...): each step
calls ``advance`` with the action and payload it audits, and the audit log is replayed through
the same table (``audit_state``), so the state column and the log cannot tell different stories.

``TRANSITIONS``, row by row: the action, the states it may start from (None: no strategy yet),
the state it leaves (None: unchanged) and, where the payload decides, the condition. An action
from a state no row allows is refused (``LifecycleError``) before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nl_trader.lifecycle.common import LifecycleError, _subject
from nl_trader.store import State, Store

_EVERY = frozenset(State)
_ACTIVE = _EVERY - {State.RETIRED}
_RUNNING = frozenset({State.PAPER, State.LIVE})
_APPROVED_ON = frozenset({State.APPROVED, State.PAPER, State.LIVE, State.STOPPED})


def _mode(mode: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda payload: payload.get("mode") == mode


def _others_running(payload: Mapping[str, Any]) -> bool:
    return bool(payload.get("others_running"))


def _last_session(payload: Mapping[str, Any]) -> bool:
    return not payload.get("others_running")


@dataclass(frozen=True)
class Transition:
    """One allowed move: ``action`` from any of ``sources`` to ``target`` (None: unchanged), when
    ``when`` (of the audited payload) holds."""

    action: str
    sources: frozenset[State | None]
    target: State | None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    meaning: str = ""


TRANSITIONS: tuple[Transition, ...] = (
    Transition("strategy.created", frozenset({None}), State.DRAFT, meaning="version 1 stored"),
    Transition("strategy.edited", _ACTIVE, State.DRAFT, meaning="a new version needs a backtest"),
    Transition("backtest.recorded", _ACTIVE, State.BACKTESTED, meaning="a report to review"),
    Transition("approval.granted", _ACTIVE, State.APPROVED, meaning="a person approved a report"),
    Transition("approval.revoked", _APPROVED_ON, State.BACKTESTED, meaning="approval withdrawn"),
    Transition(
        "approval.revoked",
        frozenset({State.DRAFT, State.BACKTESTED, State.RETIRED}),
        None,
        meaning="an older version's approval withdrawn (or a retired one's): no state moves",
    ),
    Transition("strategy.retired", _ACTIVE, State.RETIRED, meaning="never trades again"),
    Transition("live.started", _ACTIVE, State.PAPER, _mode("paper"), "a paper session started"),
    Transition("live.started", _ACTIVE, State.LIVE, _mode("live"), "a live session started"),
    Transition("live.stopped", _RUNNING, State.STOPPED, _last_session, "its last session stopped"),
    Transition("live.stopped", _RUNNING, None, _others_running, "it still runs on another account"),
    Transition(
        "live.stopped",
        _EVERY - _RUNNING,
        None,
        meaning="a session stopped after a revoke or a retire had moved the strategy on",
    ),
)
_MOVES = frozenset(row.action for row in TRANSITIONS)


def next_state(
    action: str,
    state: State | None,
    payload: Mapping[str, Any],
    *,
    strict: bool = True,
) -> State | None:
    """The state ``action`` leaves a strategy in ``state``; actions that move no state (a guard's
    refusal, a kill) leave it. ``strict``: an action no row allows from ``state`` is a
    ``LifecycleError``; else (replaying a log) it leaves the state."""
    if action not in _MOVES:
        return state
    for row in TRANSITIONS:
        if row.action != action or state not in row.sources:
            continue
        if row.when is None or row.when(payload):
            return state if row.target is None else row.target
    if strict:
        said = "no strategy yet" if state is None else f"'{state}'"
        raise LifecycleError([f"{action}: not allowed from {said}"])
    return state


def record(
    store: Store, by: str, action: str, strategy_id: int, payload: Mapping[str, Any]
) -> None:
    """Audit a step's ``action`` on the strategy and move its state as the table says, inside the
    step's transaction: the one place a strategy's state changes."""
    state = store.strategy(strategy_id).state
    after = next_state(action, state, payload)
    if after is not None and after != state:
        store.set_state(strategy_id, after)
    store.audit(by, action, _subject(strategy_id), dict(payload))


def audit_state(store: Store, strategy_id: int) -> tuple[State | None, int | None]:
    """The strategy's state as its audit entries leave it, and the entry that set it last: what
    the state column must read (one statement can change a column; the keyed log it cannot)."""
    state: State | None = None
    seq: int | None = None
    for entry in store.audit_entries(subject=_subject(strategy_id)):
        after = next_state(entry.action, state, entry.payload, strict=False)
        if after != state:
            state, seq = after, entry.seq
    return state, seq


def state_problems(store: Store, strategy_id: int) -> list[str]:
    recorded, seq = audit_state(store, strategy_id)
    column = store.strategy(strategy_id).state
    if recorded == column:
        return []
    said = f"'{recorded}' (entry {seq})" if recorded is not None else "nothing (no entry)"
    return [
        f"strategy {strategy_id}'s state reads '{column}', but its audit log says {said}: "
        "changed outside nl_trader"
    ]
