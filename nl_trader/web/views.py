"""What the pages and the JSON API show, read from the store: plain JSON-ready dicts.

One place builds each view, so a page and its API route show the same facts. Nothing here
changes a record; the lifecycle's steps do (``nl_trader.lifecycle``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import check_can_go_live, report_problems, run_criteria, verify_store
from nl_trader.spec_diff import ABSENT, spec_diff
from nl_trader.store import (
    Approval,
    AuditEntry,
    BacktestRun,
    JournalEntry,
    LiveSessionRecord,
    Optimisation,
    Store,
    Strategy,
    User,
    Version,
)
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
                "origin": origin_view(store, item),
            }
            for item in store.versions(strategy_id)
        ],
        "runs": [run_view(store, run) for run in store.runs(strategy_id)],
        "optimisations": [
            optimisation_view(store, item, version.id) for item in store.optimisations(strategy_id)
        ],
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
        "origin": origin_view(store, version),
        "run": None if run is None else run_view(store, run),
    }


def optimisation_view(store: Store, found: Optimisation, current_version_id: int) -> dict[str, Any]:
    """An optimisation of the strategy as its page lists it: what it searched, what it chose,
    how far to trust the choice, and whether it can still be adopted (it optimised the current
    version and chose a set)."""
    figures = found.overfitting or {}
    chosen = (found.best or {}).get("values") or {}
    walk = found.out_of_sample or {}

    def shown(value: Any) -> str:
        return "-" if value is None else f"{float(value):.2f}"

    return {
        "id": found.id,
        "kind": found.kind,
        "method": found.method,
        "trials": found.trials,
        "version": store.version(found.version_id).number,
        "objectives": ", ".join(str(o) for o in found.objectives),
        "chosen": ", ".join(f"{path}={value:g}" for path, value in chosen.items()) or "-",
        "dsr": shown(figures.get("deflated_sharpe")),
        "pbo": shown(figures.get("pbo")),
        "stability": shown(figures.get("stability")),
        "efficiency": shown(walk.get("efficiency")),
        "created_at": _when(found.created_at),
        "created_by": found.created_by,
        "adoptable": bool(chosen) and found.version_id == current_version_id,
    }


def origin_view(store: Store, version: Version) -> dict[str, Any] | None:
    """Where a version came from when an optimisation made it: the optimisation, its trials and
    how far its best set is to be trusted (deflated Sharpe, PBO)."""
    if version.optimisation_id is None:
        return None
    found = store.optimisation(version.optimisation_id)
    figures = found.overfitting or {}

    def shown(key: str) -> str:
        value = figures.get(key)
        return "-" if value is None else f"{float(value):.2f}"

    return {
        "id": found.id,
        "trials": found.trials,
        "dsr": shown("deflated_sharpe"),
        "pbo": shown("pbo"),
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


# ---- runs, versions, sessions ------------------------------------------------------------------------
def _report_content(store: Store, run: BacktestRun) -> dict[str, Any] | None:
    """The run's JSON report, when its file still hashes to what was recorded."""
    if report_problems(store, run):
        return None
    try:
        content: dict[str, Any] = json.loads(
            store.resolve(run.report_json_path).read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return None
    return content


def run_page_view(store: Store, run_id: int) -> dict[str, Any]:
    """A run's page: its figures in and out of sample, each criterion, the data's format and
    warnings (from its JSON report, when intact), and whether its report can be trusted."""
    run = store.run(run_id)
    strategy = store.strategy(run.strategy_id)
    content = _report_content(store, run)
    data = (content or {}).get("data", {})
    figures = run.figures
    oos = run.oos_figures
    return {
        **run_view(store, run),
        "strategy_id": strategy.id,
        "strategy_name": strategy.name,
        "strategy_state": strategy.state.value,
        "is_latest_of_current": (
            (latest := store.latest_run(store.current_version(strategy.id).id)) is not None
            and latest.id == run.id
        ),
        "figures": figures,
        "oos_figures": oos,
        "oos_bars": run.oos_bars,
        "settings": run.settings,
        "data": run.data,
        "data_format": data.get("format"),
        "data_source": data.get("source"),
        "data_rows": data.get("rows"),
        "data_timezone": data.get("timezone"),
        "data_warnings": list(data.get("warnings", [])),
        "run_warnings": list((content or {}).get("warnings", [])),
        "report_problems": report_problems(store, run),
    }


def version_by_number(store: Store, strategy_id: int, number: int, field: str) -> Version:
    """The strategy's version ``number``; refused naming ``field`` when there is none."""
    for version in store.versions(strategy_id):
        if version.number == number:
            return version
    raise InvalidInputError(
        [f"{field}: strategy {strategy_id} has no version {number}"], what="versions"
    )


def diff_view(store: Store, strategy_id: int, a: int, b: int) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b``: each field, old and new."""
    strategy = store.strategy(strategy_id)
    old = version_by_number(store, strategy_id, a, "a")
    new = version_by_number(store, strategy_id, b, "b")
    return {
        "id": strategy.id,
        "name": strategy.name,
        "a": a,
        "b": b,
        "a_hash": old.spec_hash,
        "b_hash": new.spec_hash,
        "versions": [v.number for v in store.versions(strategy_id)],
        "changes": [
            {"path": c.path, "old": _shown(c.old), "new": _shown(c.new)}
            for c in spec_diff(old.spec, new.spec)
        ],
        "text_changed": old.text != new.text,
    }


def _shown(value: Any) -> Any:
    """A changed value as JSON text (``(absent)`` for a field one side lacks)."""
    if value is ABSENT:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def session_record_view(record: LiveSessionRecord) -> dict[str, Any]:
    """A session's record: mode, account, status and why it stopped, its progress."""
    return {
        "id": record.id,
        "strategy_id": record.strategy_id,
        "version_id": record.version_id,
        "approval_id": record.approval_id,
        "mode": record.mode,
        "account_profile": record.account_profile,
        "account_login": record.account_login,
        "account_server": record.account_server,
        "trade_mode": record.trade_mode,
        "status": record.status,
        "started_at": _when(record.started_at),
        "started_by": record.started_by,
        "stop_requested_at": _when(record.stop_requested_at),
        "stop_requested_by": record.stop_requested_by,
        "kill_requested": record.kill_requested,
        "stopped_at": _when(record.stopped_at),
        "stop_reason": record.stop_reason,
        "heartbeat_at": _when(record.heartbeat_at),
        "bars_processed": record.bars_processed,
        "last_bar_time": _when(record.last_bar_time),
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def journal_row(entry: JournalEntry) -> dict[str, Any]:
    """One journal entry as a row: kind, order id, state, price and volume, time, a note."""
    payload = entry.payload
    given = payload.get("params")
    params: dict[str, Any] = given if isinstance(given, dict) else {}
    note: Any
    profit: float | None = None
    if entry.kind == "execution":
        profit = round(
            sum(float(payload.get(k) or 0.0) for k in ("profit", "commission", "swap")), 2
        )
        price, volume = payload.get("fill_price"), payload.get("fill_volume")
        note = f"profit {_money(payload)}"
    elif entry.kind == "sent":
        price, volume = params.get("price"), params.get("volume")
        note = f"{params.get('order_type', '')} -> {payload.get('reply', '')}"
    else:
        price, volume = payload.get("price"), payload.get("volume")
        note = payload.get("retcode_meaning") or payload.get("note") or payload.get("reason")
    moment = entry.event_time or entry.recorded_at
    return {
        "id": entry.id,
        "kind": entry.kind,
        "order_id": entry.order_id,
        "state": entry.state,
        "price": _number(price),
        "volume": _number(volume),
        "time": _when(moment),
        "event_time": _when(entry.event_time),
        "recorded_at": _when(entry.recorded_at),
        "note": None if note is None else str(note),
        "profit": profit,
    }


def _money(payload: dict[str, Any]) -> str:
    return f"{sum(float(payload.get(k) or 0.0) for k in ('profit', 'commission', 'swap')):.2f}"


def session_view(store: Store, session_id: int) -> dict[str, Any]:
    """A session's page: its record, P/L so far (realised: each execution's profit, commission
    and swap), counts by kind, and its journal, newest entry first in the order the session
    wrote them (journal id: an order's ``sent`` row follows the statuses its sending caused)."""
    record = store.session(session_id)
    strategy = store.strategy(record.strategy_id)
    journal = store.journal(session_id)
    executions = [e for e in journal if e.kind == "execution"]
    realised = sum(
        float(e.payload.get(key) or 0.0)
        for e in executions
        for key in ("profit", "commission", "swap")
    )
    counts: dict[str, int] = {}
    for entry in journal:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    return {
        **session_record_view(record),
        "strategy_name": strategy.name,
        "version": store.version(record.version_id).number,
        "running": record.running,
        "realised_profit": round(realised, 2),
        "executions": len(executions),
        "counts": counts,
        "journal": [journal_row(entry) for entry in reversed(journal)],
    }
