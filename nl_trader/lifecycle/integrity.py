"""Records against the audit log and the report files: what a person approved is what is there.

A backtest run, an approval and a strategy's state must read as their audit entries recorded
them, and a report file must hash to the hash recorded with its run; each disagreement is named.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nl_trader.lifecycle.common import _subject, file_sha256
from nl_trader.lifecycle.criteria import CriteriaResult
from nl_trader.lifecycle.states import state_problems
from nl_trader.store import (
    Approval,
    AuditEntry,
    BacktestRun,
    Store,
    to_json,
)
from nl_trader.store.audit import AuditCheck


def run_criteria(run: BacktestRun) -> CriteriaResult:
    """The criteria result recorded with a run."""
    return CriteriaResult.from_dict(run.criteria)


def report_file(store: Store, run: BacktestRun) -> Path:
    """The HTML report of a run (recorded paths are relative to the store's folder)."""
    return store.resolve(run.report_path)


def report_problems(store: Store, run: BacktestRun, expected_hash: str | None = None) -> list[str]:
    """Why a run's report files can no longer be trusted: missing, or changed since recorded."""
    problems = []
    for kind, recorded_path, recorded in (
        ("report", run.report_path, expected_hash or run.report_hash),
        ("JSON report", run.report_json_path, run.report_json_hash),
    ):
        path = store.resolve(recorded_path)
        actual = file_sha256(path)
        if actual is None:
            problems.append(f"the {kind} of run {run.id} is missing ({path})")
        elif actual != recorded:
            problems.append(
                f"the {kind} of run {run.id} changed since it was recorded "
                f"(sha256 {actual[:12]}, recorded {recorded[:12]}): {path}"
            )
    return problems


def run_coverage(run: BacktestRun) -> dict[str, str]:
    """SHA-256 of each part of a run's record that the paper session and the approval rely on,
    as its audit entry records them: an edit of any shows (settings: the paper account's deposit
    and leverage; criteria; the data it reloads; figures; the periods)."""
    parts: dict[str, Any] = {
        "settings": run.settings,
        "criteria": run.criteria,
        "data": run.data,
        "figures": run.figures,
        "oos_figures": run.oos_figures,
        "periods": [run.period_start, run.period_end, run.bars, run.oos_start, run.oos_end],
        "symbol": [run.symbol, run.data_fingerprint, run.oos_bars],
        "reports": [run.report_path, run.report_hash, run.report_json_path, run.report_json_hash],
        "tested": [run.version_id, run.spec_hash],
    }
    return {
        name: hashlib.sha256(to_json(value).encode("utf-8")).hexdigest()
        for name, value in parts.items()
    }


def _entries_of(store: Store, strategy_id: int, action: str, **about: int) -> list[AuditEntry]:
    """The strategy's audit entries of ``action`` whose payload names ``about`` (an id)."""
    ((key, ident),) = about.items()
    return [
        entry
        for entry in store.audit_entries(subject=_subject(strategy_id))
        if entry.action == action and entry.payload.get(key) == ident
    ]


def run_audit_problems(store: Store, run: BacktestRun) -> list[str]:
    """Whether a run still reads as its audit entry recorded it."""
    entries = _entries_of(store, run.strategy_id, "backtest.recorded", run_id=run.id)
    if not entries:
        return [f"run {run.id} has no audit entry: it was not recorded by nl_trader"]
    recorded = entries[0].payload.get("covers")
    if not isinstance(recorded, dict):
        return [
            f"run {run.id} was recorded before the audit log covered a run's settings and "
            f"criteria: backtest version again and approve the new run"
        ]
    changed = sorted(k for k, v in run_coverage(run).items() if recorded.get(k) != v)
    if changed:
        return [
            f"run {run.id} does not match its audit entry {entries[0].seq} ({', '.join(changed)} "
            "changed outside nl_trader)"
        ]
    return []


def chain_problems(store: Store) -> list[str]:
    """The audit chain, recomputed under the user's key and checked against its head log."""
    check = store.verify_audit()
    if check.ok:
        return []
    where = f"entry {check.broken_seq}" if check.broken_seq is not None else "the chain"
    return [
        f"the audit log does not verify ({where}: {check.problem}); nothing starts until "
        "`nl-trader audit --verify` passes"
    ]


def approval_audit_problems(store: Store, approval: Approval) -> list[str]:
    """Whether the approval still reads as its audit entry recorded it (no edit behind the log)."""
    entries = _entries_of(store, approval.strategy_id, "approval.granted", approval_id=approval.id)
    if not entries:
        return [f"approval {approval.id} has no audit entry: it was not made by nl_trader"]
    recorded = {key: entries[0].payload.get(key) for key in approval.binding()}
    if recorded != approval.binding():
        changed = sorted(k for k, v in approval.binding().items() if recorded.get(k) != v)
        return [
            f"approval {approval.id} does not match its audit entry {entries[0].seq} "
            f"({', '.join(changed)} changed outside nl_trader)"
        ]
    revoked = _entries_of(store, approval.strategy_id, "approval.revoked", approval_id=approval.id)
    if revoked and not approval.revoked:
        return [f"approval {approval.id} was revoked (audit log) but its record says it is not"]
    return []


def trust_problems(store: Store, strategy_id: int, approval: Approval | None) -> list[str]:
    """Why the records a session relies on cannot be trusted: the audit chain does not verify,
    or the strategy's state, its approval or the approved run disagree with their entries."""
    problems = chain_problems(store) + state_problems(store, strategy_id)
    if approval is not None:
        problems += approval_audit_problems(store, approval)
        problems += run_audit_problems(store, store.run(approval.run_id))
    return problems


def verify_records(store: Store) -> list[str]:
    """Records that disagree with the audit log: every strategy's state, approval and backtest run
    must read as its entries recorded it."""
    problems: list[str] = []
    for strategy in store.strategies():
        problems.extend(state_problems(store, strategy.id))
        for approval in store.approvals(strategy.id):
            problems.extend(approval_audit_problems(store, approval))
        for run in store.runs(strategy.id):
            problems.extend(run_audit_problems(store, run))
    return problems


def journal_digest(store: Store, session_id: int) -> str:
    """SHA-256 over a session's journal, in order: recorded when it stops, to show later edits."""
    digest = hashlib.sha256()
    for entry in store.journal(session_id):
        line = to_json([entry.id, entry.kind, entry.order_id, entry.state, entry.payload])
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def journal_problems(store: Store) -> list[str]:
    """Sessions whose journal no longer hashes to the digest recorded when they stopped."""
    problems = []
    for entry in store.audit_entries():
        if entry.action != "live.stopped":
            continue
        session_id = int(entry.payload.get("session_id", 0))
        recorded = str(entry.payload.get("journal_sha256", ""))
        if recorded and journal_digest(store, session_id) != recorded:
            problems.append(
                f"session {session_id}: its journal changed after it stopped (audit entry "
                f"{entry.seq} recorded sha256 {recorded[:12]})"
            )
    return problems


@dataclass(frozen=True)
class Verification:
    """``audit --verify``'s answer: the keyed chain against its head log, then (when the chain
    holds) every record against its audit entries: states, approvals, runs, session journals."""

    chain: AuditCheck
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems


def verify_store(store: Store, *, expected_head: str | None = None) -> Verification:
    """Check the audit chain (against ``expected_head`` too, a head kept elsewhere), then the
    records; a broken chain is reported alone (records are only as good as the chain)."""
    check = store.verify_audit(expected_head=expected_head)
    problems = verify_records(store) + journal_problems(store) if check.ok else []
    return Verification(check, tuple(problems))
