"""What the pages and the JSON API show, read from the store: plain JSON-ready dicts.

One place builds each view, so a page and its API route show the same facts. Nothing here
changes a record; the lifecycle's steps do (``nl_trader.lifecycle``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from nl_trader.lifecycle import check_can_go_live, run_criteria, verify_store
from nl_trader.store import Approval, AuditEntry, BacktestRun, Store, Strategy, User
from nl_trader.translate.explain import explain
from nl_trader.users import LANGUAGES

AUDIT_PAGE_ENTRIES = 200


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def approval_status(approval: Approval, now: datetime) -> str:
    """``revoked``, ``expired`` or ``in_force``."""
    if approval.revoked:
        return "revoked"
    if now >= approval.expires_at:
        return "expired"
    return "in_force"


def user_view(user: User) -> dict[str, Any]:
    """A user as shown: never the password hash."""
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "language": user.language,
        "created_at": _when(user.created_at),
        "created_by": user.created_by,
        "disabled": user.disabled,
    }


def run_view(store: Store, run: BacktestRun) -> dict[str, Any]:
    """A backtest run: its period, headline figures, each criterion and its report's hash."""
    criteria = run_criteria(run)
    return {
        "id": run.id,
        "version": store.version(run.version_id).number,
        "version_id": run.version_id,
        "spec_hash": run.spec_hash,
        "symbol": run.symbol,
        "period_start": _when(run.period_start),
        "period_end": _when(run.period_end),
        "bars": run.bars,
        "oos_start": _when(run.oos_start),
        "oos_end": _when(run.oos_end),
        "total_trades": run.figures.get("total_trades"),
        "profit_factor": run.figures.get("profit_factor"),
        "equity_drawdown_pct": run.figures.get("equity_drawdown_pct"),
        "total_net_profit": run.figures.get("total_net_profit"),
        "criteria_met": criteria.met,
        "criteria": [
            {"name": c.name, "required": c.required, "actual": c.actual, "passed": c.passed}
            for c in criteria.checks
        ],
        "report_hash": run.report_hash,
        "created_at": _when(run.created_at),
        "created_by": run.created_by,
    }


def approval_view(store: Store, approval: Approval) -> dict[str, Any]:
    """An approval: what it binds (spec and report hashes), by whom, until when, its status."""
    return {
        "id": approval.id,
        "version": store.version(approval.version_id).number,
        "spec_hash": approval.spec_hash,
        "run_id": approval.run_id,
        "report_hash": approval.report_hash,
        "approved_by": approval.approved_by,
        "approved_at": _when(approval.approved_at),
        "expires_at": _when(approval.expires_at),
        "note": approval.note,
        "criteria_met": approval.criteria_met,
        "override_reason": approval.override_reason,
        "status": approval_status(approval, store.now()),
        "revoked_by": approval.revoked_by,
        "revoke_reason": approval.revoke_reason,
    }


def strategy_summary(store: Store, strategy: Strategy) -> dict[str, Any]:
    """One row of the strategies list: state, current version, latest run and approval."""
    version = store.current_version(strategy.id)
    run = store.latest_run(version.id)
    approval = store.latest_approval(strategy.id)
    return {
        "id": strategy.id,
        "name": strategy.name,
        "state": strategy.state.value,
        "version": version.number,
        "spec_hash": version.spec_hash,
        "latest_run": None
        if run is None
        else {
            "id": run.id,
            "total_trades": run.figures.get("total_trades"),
            "profit_factor": run.figures.get("profit_factor"),
            "criteria_met": run_criteria(run).met,
        },
        "approval": None
        if approval is None
        else {
            "id": approval.id,
            "approved_by": approval.approved_by,
            "status": approval_status(approval, store.now()),
        },
    }


def strategies_view(store: Store) -> list[dict[str, Any]]:
    """The strategies list, oldest first."""
    return [strategy_summary(store, strategy) for strategy in store.strategies()]


def _explain_language(language: str) -> str:
    return language if language in LANGUAGES else "en"


def strategy_view(store: Store, strategy_id: int, *, language: str = "en") -> dict[str, Any]:
    """A strategy's page: its text and explain-back, versions, runs, approvals, sessions, and the
    gate's answer with every reason."""
    strategy = store.strategy(strategy_id)
    version = store.current_version(strategy_id)
    decision = check_can_go_live(store, strategy_id)
    latest_run = store.latest_run(version.id)
    return {
        **strategy_summary(store, strategy),
        "created_at": _when(strategy.created_at),
        "created_by": strategy.created_by,
        "text": version.text,
        "language": version.language,
        "explanation": explain(version.spec, _explain_language(language)),
        "spec_json": json.dumps(json.loads(version.spec_json), indent=2, ensure_ascii=False),
        "current_version_id": version.id,
        "current_version_author": version.created_by,
        "latest_run_of_version": None if latest_run is None else latest_run.id,
        "versions": [
            {
                "id": item.id,
                "number": item.number,
                "parent_id": item.parent_id,
                "spec_hash": item.spec_hash,
                "created_at": _when(item.created_at),
                "created_by": item.created_by,
                "note": item.note,
            }
            for item in store.versions(strategy_id)
        ],
        "runs": [run_view(store, run) for run in store.runs(strategy_id)],
        "approvals": [approval_view(store, item) for item in store.approvals(strategy_id)],
        "sessions": [
            {
                "id": session.id,
                "mode": session.mode,
                "account_profile": session.account_profile,
                "trade_mode": session.trade_mode,
                "status": session.status,
                "started_at": _when(session.started_at),
                "started_by": session.started_by,
                "stopped_at": _when(session.stopped_at),
                "stop_reason": session.stop_reason,
                "bars_processed": session.bars_processed,
            }
            for session in store.sessions(strategy_id)
        ],
        "gate": {
            "allowed": decision.allowed,
            "reasons": list(decision.reasons),
            "approval_id": None if decision.approval is None else decision.approval.id,
        },
    }


def approval_form_view(store: Store, strategy_id: int, run_id: int | None) -> dict[str, Any]:
    """What an approver is shown before approving: the exact spec hash of the current version,
    the exact report hash of the run, and each criterion met or not."""
    strategy = store.strategy(strategy_id)
    version = store.current_version(strategy_id)
    run = store.run(run_id) if run_id is not None else store.latest_run(version.id)
    return {
        "id": strategy.id,
        "name": strategy.name,
        "state": strategy.state.value,
        "version": version.number,
        "version_author": version.created_by,
        "spec_hash": version.spec_hash,
        "run": None if run is None else run_view(store, run),
    }


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    """One audit entry as recorded."""
    return {
        "seq": entry.seq,
        "time": entry.time,
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "payload": entry.payload,
        "hash": entry.hash,
    }


def audit_view(store: Store, *, limit: int = AUDIT_PAGE_ENTRIES) -> list[dict[str, Any]]:
    """The newest audit entries, newest first."""
    entries = store.audit_entries(limit=limit)
    return [entry_view(entry) for entry in sorted(entries, key=lambda e: e.seq, reverse=True)]


def verify_view(store: Store) -> dict[str, Any]:
    """``nl-trader audit --verify``'s checks: the keyed chain against its head log, then every
    record (states, approvals, runs, session journals) against its audit entries."""
    verification = verify_store(store)
    check, problems = verification.chain, list(verification.problems)
    return {
        "chain_ok": check.ok,
        "ok": check.ok and not problems,
        "entries": check.entries,
        "head_seq": check.head_seq,
        "head_hash": check.head_hash,
        "key_id": check.key_id,
        "broken_seq": check.broken_seq,
        "problem": check.problem,
        "record_problems": problems,
    }
