"""A session's record: opened through the gate, asked to stop, closed with its figures."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nl_trader.lifecycle.common import GateRefusedError, _require, _subject, require_actor
from nl_trader.lifecycle.gate import AccountFacts, GateDecision, check_can_go_live, record_refusal
from nl_trader.lifecycle.states import record
from nl_trader.store import (
    Store,
)


@dataclass(frozen=True)
class SessionPlan:
    """What a session is to be, as ``open_session`` records it."""

    mode: str
    account_profile: str
    terminal: str
    account: AccountFacts
    confirm_real: int | None = None
    needs_assignment: bool = False
    taken_magics: frozenset[int] = frozenset()
    taking_over: int | None = None
    close_positions: bool = True


def open_session(store: Store, decision: GateDecision, *, by: str, plan: SessionPlan) -> int:
    """Record a session the gate allowed, as running; return its id.

    The gate is asked again inside the transaction (with the session's magic, allocated there),
    so two processes cannot both start one, nor two sessions share a magic on one account.
    """
    from nl_trader.live.control import session_magic

    strategy_id = decision.strategy_id
    require_actor(by, "starts the session")
    account = plan.account
    with store.transaction():
        version = store.current_version(strategy_id)
        magic = session_magic(
            store,
            strategy_id,
            version.id,
            version.spec.magic,
            login=account.login,
            server=account.server,
            allocate=True,
            taken=plan.taken_magics,
        )
        again = check_can_go_live(
            store,
            strategy_id,
            account=account,
            confirm_real=plan.confirm_real,
            profile=plan.account_profile,
            needs_assignment=plan.needs_assignment,
            magic=magic,
            taking_over=plan.taking_over,
        )
        if again.allowed and again.approval is not None:
            return _record_session(store, again, by=by, plan=plan, magic=magic)
    # Refused on the second asking (another process started one meanwhile, a revocation...):
    # recorded like any refusal, once the transaction that asked is over.
    record_refusal(store, again, by=by, account=account)
    raise GateRefusedError(strategy_id, again.reasons or ("no approval",))


def _record_session(
    store: Store, again: GateDecision, *, by: str, plan: SessionPlan, magic: int
) -> int:
    """Record the session the gate allowed (inside the transaction that asked it), as running."""
    strategy_id = again.strategy_id
    if again.approval is None:  # allowed implies an approval; never start without one
        raise GateRefusedError(strategy_id, ("no approval",))
    account = plan.account
    if plan.taking_over is not None:
        crashed = store.session(plan.taking_over)
        store.update_session(
            crashed.id,
            {
                "status": "stopped",
                "stopped_at": store.now(),
                "stop_reason": f"crashed (process {crashed.pid} on {crashed.host} is gone); "
                "taken over by a new session",
            },
        )
        store.audit(
            by,
            "live.crashed",
            _subject(strategy_id),
            {"session_id": crashed.id, "pid": crashed.pid, "host": crashed.host},
        )
    session_id = store.insert_session(
        {
            "strategy_id": strategy_id,
            "version_id": again.version.id,
            "approval_id": again.approval.id,
            "mode": plan.mode,
            "account_profile": plan.account_profile,
            "terminal": plan.terminal,
            "account_login": account.login,
            "account_server": account.server,
            "trade_mode": account.trade_mode_name,
            "real_confirmed": account.real_money and plan.confirm_real == account.login,
            "status": "running",
            "started_at": store.now(),
            "started_by": by,
            "heartbeat_at": store.now(),
            "magic": magic,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "close_positions": plan.close_positions,
        }
    )
    record(
        store,
        by,
        "live.started",
        strategy_id,
        {
            "session_id": session_id,
            "mode": plan.mode,
            "approval_id": again.approval.id,
            "version_id": again.version.id,
            "spec_hash": again.version.spec_hash,
            "report_hash": again.approval.report_hash,
            "account_profile": plan.account_profile,
            "terminal": plan.terminal,
            "account_login": account.login,
            "account_server": account.server,
            "trade_mode": account.trade_mode_name,
            "magic": magic,
            "takes_over": plan.taking_over,
        },
    )
    return session_id


def _request_stop(store: Store, session_id: int, *, by: str, reason: str) -> None:
    store.update_session(session_id, {"stop_requested_at": store.now(), "stop_requested_by": by})
    session = store.session(session_id)
    store.audit(
        by,
        "live.stop_requested",
        _subject(session.strategy_id),
        {"session_id": session_id, "reason": reason},
    )


def request_stop(store: Store, session_id: int, *, by: str, reason: str = "") -> None:
    """Ask a running session to stop; it sees the flag at its next poll."""
    require_actor(by, "stops the session")
    session = store.session(session_id)
    _require(session.running, f"session {session_id}: not running ({session.stop_reason})")
    with store.transaction():
        _request_stop(store, session_id, by=by, reason=reason or "stop requested")


def close_session(
    store: Store, session_id: int, *, by: str, reason: str, summary: Mapping[str, Any]
) -> None:
    """Record that a session ended: stopped, why, and its figures."""
    with store.transaction():
        session = store.session(session_id)
        if not session.running:
            return
        store.update_session(
            session_id, {"status": "stopped", "stopped_at": store.now(), "stop_reason": reason}
        )
        others = [s for s in store.running_sessions(session.strategy_id) if s.id != session_id]
        record(
            store,
            by,
            "live.stopped",
            session.strategy_id,
            {
                "session_id": session_id,
                "reason": reason,
                **dict(summary),
                "others_running": len(others),
            },
        )
