"""The gate holds against someone who can write the database file but lacks the audit key.

Each tamper here was found by a hostile review on the unkeyed chain (issue 15): the reviewer
edited records, edited the audit payloads to match, and recomputed the chain's plain SHA-256
hashes, which anyone can. With the chain keyed (an HMAC under a key outside the database), the
state, approvals and runs checked against their entries, and the chain verified before every
start and on a running session's polls, each is refused with its reason.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.lifecycle import (
    AccountFacts,
    GateRefusedError,
    SessionPlan,
    approve,
    check_can_go_live,
    open_session,
    record_refusal,
    retire,
    revoke,
    stored_spec_json,
    verify_records,
)
from nl_trader.live.accounts import PAPER_PROFILE
from nl_trader.live.paper import paper_terminal
from nl_trader.live.session import start_session
from nl_trader.spec import parse_spec, spec_hash
from nl_trader.store import Store
from nl_trader.store.audit import GENESIS_HASH, entry_hash
from nl_trader.store.schema import MIGRATIONS
from tests.store.builders import PASSED, StoreCopy, copy_template, example_spec, sample

DEMO = AccountFacts(login=5_000_001, server="Sim", trade_mode=mt5.ACCOUNT_TRADE_MODE_DEMO)
Rows = list[dict[str, Any]]


@pytest.fixture
def copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> StoreCopy:
    return copy_template(tmp_path_factory, tmp_path)


@pytest.fixture
def store(copy: StoreCopy) -> Iterator[Store]:
    with copy.open() as opened:
        approve(opened, PASSED, run_id=1, by="risk officer", expires_in=timedelta(days=1))
        yield opened


def _raw(db: Path, *statements: str) -> None:
    raw = sqlite3.connect(db)
    for statement in statements:
        raw.execute(statement)
    raw.commit()
    raw.close()


def _rewrite_chain_without_key(db: Path, edit: Callable[[Rows], Rows]) -> str:
    """What someone with the file but not the key can do: edit the entries and recompute every
    hash as plain SHA-256, each linked to the one before. Returns the new head."""
    raw = sqlite3.connect(db)
    raw.row_factory = sqlite3.Row
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("DROP TRIGGER audit_no_delete")
    rows = edit([dict(row) for row in raw.execute("SELECT * FROM audit ORDER BY seq")])
    raw.execute("DELETE FROM audit")
    previous = GENESIS_HASH
    for seq, row in enumerate(rows, start=1):
        fields = (row["time"], row["actor"], row["action"], row["subject"], row["payload"])
        digest = entry_hash(seq, *fields, previous)
        raw.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, *fields, previous, digest)
        )
        previous = digest
    raw.commit()
    raw.close()
    return previous


def _payload_set(rows: Rows, action: str, **values: Any) -> Rows:
    for row in rows:
        if row["action"] == action:
            payload = json.loads(row["payload"])
            payload.update(values)
            row["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return rows


def _reasons(store: Store) -> tuple[str, ...]:
    decision = check_can_go_live(store, PASSED, account=DEMO)
    assert not decision.allowed
    return decision.reasons


def _chain_reason(reasons: tuple[str, ...]) -> str:
    (found,) = [reason for reason in reasons if reason.startswith("the audit log does not verify")]
    return found


def test_a_spec_edited_to_5_lots_with_its_hashes_and_audit_payloads_does_not_start(
    store: Store, copy: StoreCopy
) -> None:
    assert check_can_go_live(store, PASSED, account=DEMO).allowed
    data = example_spec().model_dump(mode="json")
    data["sizing"]["lots"] = 5.0
    bigger = parse_spec(data)
    forged_hash = spec_hash(bigger)
    spec_json = stored_spec_json(bigger).replace("'", "''")
    _raw(
        copy.db,
        f"UPDATE versions SET spec_json = '{spec_json}', spec_hash = '{forged_hash}' WHERE id = 1",
        f"UPDATE approvals SET spec_hash = '{forged_hash}'",
        f"UPDATE backtest_runs SET spec_hash = '{forged_hash}' WHERE id = 1",
    )
    _rewrite_chain_without_key(
        copy.db,
        lambda rows: _payload_set(
            _payload_set(
                _payload_set(rows, "strategy.created", spec_hash=forged_hash),
                "backtest.recorded",
                spec_hash=forged_hash,
            ),
            "approval.granted",
            spec_hash=forged_hash,
        ),
    )
    reason = _chain_reason(_reasons(store))
    assert "entry 1: its content does not match its keyed hash" in reason
    assert "forged without the key" in reason
    assert store.current_version(PASSED).spec.sizing.lots == 5.0  # type: ignore[union-attr]


def test_an_expiry_moved_to_2099_with_its_audit_payload_does_not_start(
    store: Store, copy: StoreCopy
) -> None:
    later = "2099-01-01T00:00:00+00:00"
    _raw(copy.db, f"UPDATE approvals SET expires_at = '{later}'")
    _rewrite_chain_without_key(
        copy.db, lambda rows: _payload_set(rows, "approval.granted", expires_at=later)
    )
    assert "does not match its keyed hash" in _chain_reason(_reasons(store))


def test_an_undone_revocation_with_its_audit_entry_removed_does_not_start(
    store: Store, copy: StoreCopy
) -> None:
    revoke(store, PASSED, by="risk officer", reason="limits breached")
    _raw(
        copy.db,
        "UPDATE approvals SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL",
        "UPDATE strategies SET state = 'approved' WHERE id = 1",
    )
    _rewrite_chain_without_key(
        copy.db, lambda rows: [row for row in rows if row["action"] != "approval.revoked"]
    )
    assert "does not match its keyed hash" in _chain_reason(_reasons(store))


def test_one_update_of_the_state_column_does_not_bring_a_retired_strategy_back(
    store: Store, copy: StoreCopy
) -> None:
    retire(store, PASSED, by="head of risk", reason="strategy withdrawn")
    _raw(copy.db, "UPDATE strategies SET state = 'approved' WHERE id = 1")
    reasons = _reasons(store)
    assert f"strategy {PASSED} is retired" in reasons
    retired_at = store.audit_entries()[-1].seq
    mismatch = (
        f"strategy {PASSED}'s state reads 'approved', but its audit log says 'retired' "
        f"(entry {retired_at}): changed outside nl_trader"
    )
    assert mismatch in reasons
    assert mismatch in verify_records(store)  # `nl-trader audit --verify` names it too


def test_a_consistent_rewrite_of_the_chain_fails_verification(
    store: Store, copy: StoreCopy
) -> None:
    _rewrite_chain_without_key(copy.db, lambda rows: rows)  # every hash redone, nothing else
    check = store.verify_audit()
    assert not check.ok
    assert check.broken_seq == 1
    assert check.problem is not None
    assert "forged without the key" in check.problem


def test_a_forged_approval_with_a_correctly_chained_entry_fails_even_with_its_own_head(
    copy: StoreCopy,
) -> None:
    with copy.open() as store:
        run = store.run(1)
        version = store.current_version(PASSED)
        head = store.audit_entries()[-1]
    binding = {
        "approval_id": 1,
        "strategy_id": PASSED,
        "version_id": version.id,
        "spec_hash": version.spec_hash,
        "run_id": run.id,
        "report_hash": run.report_hash,
        "approved_by": "head of risk",
        "approved_at": "2026-01-01T00:00:00+00:00",
        "note": "",
        "expires_at": "2099-01-01T00:00:00+00:00",
        "criteria_met": True,
        "override_reason": None,
        "criteria_failures": [],
    }
    payload = json.dumps(binding, sort_keys=True, separators=(",", ":"))
    seq, when = head.seq + 1, "2026-01-01T00:00:00+00:00"
    digest = entry_hash(
        seq, when, "head of risk", "approval.granted", "strategy/1", payload, head.hash
    )
    _raw(
        copy.db,
        "INSERT INTO approvals (strategy_id, version_id, spec_hash, run_id, report_hash, "
        "approved_by, approved_at, note, expires_at, criteria_met, criteria) VALUES "
        f"(1, {version.id}, '{version.spec_hash}', 1, '{run.report_hash}', 'head of risk', "
        f"'{when}', '', '2099-01-01T00:00:00+00:00', 1, '{{}}')",
        "INSERT INTO audit VALUES "
        f"({seq}, '{when}', 'head of risk', 'approval.granted', 'strategy/1', '{payload}', "
        f"'{head.hash}', '{digest}')",
        "UPDATE strategies SET state = 'approved' WHERE id = 1",
    )
    with copy.open() as store:
        reason = _chain_reason(_reasons(store))
        assert f"entry {seq}: its content does not match its keyed hash" in reason
        check = store.verify_audit(expected_head=digest)  # `audit --verify --head <forged>`
    assert (check.ok, check.broken_seq) == (False, seq)


@pytest.mark.parametrize(
    ("column", "edit", "part"),
    [
        ("settings", "json_set(settings, '$.deposit', 1000000000.0)", "settings"),
        ("settings", "json_set(settings, '$.leverage', 3000)", "settings"),
        ("criteria", "json_set(criteria, '$.criteria.min_trades', 0)", "criteria"),
    ],
)
def test_an_edit_of_the_approved_runs_settings_or_criteria_does_not_start(
    store: Store, copy: StoreCopy, column: str, edit: str, part: str
) -> None:
    _raw(copy.db, f"UPDATE backtest_runs SET {column} = {edit} WHERE id = 1")
    reasons = _reasons(store)
    entry = next(e.seq for e in store.audit_entries() if e.action == "backtest.recorded")
    expected = f"run 1 does not match its audit entry {entry} ({part} changed outside nl_trader)"
    assert expected in reasons
    assert expected in verify_records(store)


def test_every_refusal_of_a_race_of_starts_reaches_the_audit_log(copy: StoreCopy) -> None:
    with copy.open() as store:
        approve(store, PASSED, run_id=1, by="risk officer")
        refused_before = sum(1 for e in store.audit_entries() if e.action == "live.refused")
    outcomes: list[str] = []
    barrier = threading.Barrier(12)

    def start() -> None:
        with copy.open() as mine:  # a connection of its own, as another process has
            barrier.wait()
            first = check_can_go_live(mine, PASSED, account=DEMO)
            if not first.allowed:
                record_refusal(mine, first, by="trader", account=DEMO)
                outcomes.append("refused")
                return
            try:
                open_session(
                    mine,
                    first,
                    by="trader",
                    plan=SessionPlan(
                        mode="paper", account_profile="paper", terminal="fake", account=DEMO
                    ),
                )
                outcomes.append("started")
            except GateRefusedError:
                outcomes.append("refused")

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 11 + ["started"]
    with copy.open() as store:
        refused = sum(1 for e in store.audit_entries() if e.action == "live.refused")
        assert store.verify_audit().ok
    assert refused - refused_before == 11


def test_a_running_session_stops_at_its_next_poll_when_its_records_are_edited(
    store: Store, copy: StoreCopy
) -> None:
    run = store.run(1)
    assert run.oos_start is not None
    terminal = paper_terminal(
        sample(example_spec()), symbol="EURUSD", timeframe="H1", start=run.oos_start
    )
    edited: list[bool] = []

    def tamper_once(kind: str, order_id: str | None, payload: dict[str, Any]) -> None:
        if not edited:  # the first event: another process raises the paper account's deposit
            _raw(
                copy.db,
                "UPDATE backtest_runs SET settings = json_set(settings, '$.deposit', 1e9)",
            )
            edited.append(True)

    session = start_session(
        store, PASSED, profile=PAPER_PROFILE, terminal=terminal, by="trader", listener=tamper_once
    )
    summary = session.run()
    assert edited
    assert summary.stop_reason.startswith("the records it started on no longer hold: ")
    assert "run 1 does not match its audit entry" in summary.stop_reason
    assert "settings changed outside nl_trader" in summary.stop_reason


def test_a_store_opened_with_another_key_does_not_verify(copy: StoreCopy, tmp_path: Path) -> None:
    from nl_trader.store.audit_key import load_key

    other = load_key(tmp_path / "elsewhere" / "audit.key")
    with Store(copy.db, audit_key=other) as store:
        check = store.verify_audit()
        assert not check.ok
        assert check.problem is not None
        assert f"key id {other.key_id}" in check.problem
        assert "another key, or a forged record" in check.problem


def test_the_key_lives_outside_the_database_readable_by_its_user_alone(
    copy: StoreCopy, tmp_path: Path
) -> None:
    from nl_trader.store.audit_key import AuditKeyError, load_key

    key = load_key()
    assert key.secret.hex() not in copy.db.read_bytes().hex()
    assert key.secret.hex() not in repr(key)
    assert os.stat(key.path).st_mode & 0o077 == 0
    shared = tmp_path / "shared" / "audit.key"
    load_key(shared)
    shared.chmod(0o644)
    with pytest.raises(AuditKeyError, match=r"other users can read it \(mode 644\).*chmod 600"):
        load_key(shared)


def test_a_store_made_before_keyed_logs_is_keyed_on_opening_and_its_old_entries_held(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    raw.executescript(MIGRATIONS[0])
    raw.execute("PRAGMA user_version = 1")
    previous = GENESIS_HASH
    for seq in (1, 2):
        fields = ("2026-01-01T00:00:00+00:00", "ana", "test.action", "strategy/1", "{}")
        digest = entry_hash(seq, *fields, previous)
        raw.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, *fields, previous, digest)
        )
        previous = digest
    raw.commit()
    raw.close()
    with Store(db) as store:
        assert store.keying is not None
        assert store.keying.first_seq == 3
        with store.transaction():
            store.audit("ana", "test.action", "strategy/1", {"n": 3})
        assert store.verify_audit().ok
    _raw(db, "DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'mallory' WHERE seq = 1")
    raw = sqlite3.connect(db)
    row = raw.execute("SELECT * FROM audit WHERE seq = 1").fetchone()
    raw.close()
    forged = entry_hash(1, row[1], "mallory", row[3], row[4], row[5], GENESIS_HASH)
    _raw(db, f"UPDATE audit SET hash = '{forged}' WHERE seq = 1")
    with Store(db) as store:
        check = store.verify_audit()
    assert (check.ok, check.broken_seq) == (False, 2)  # the old entries are held by the keyed one


def test_a_keyed_log_rewritten_as_an_old_unkeyed_one_is_not_keyed_afresh(
    store: Store, copy: StoreCopy
) -> None:
    # Remove the keying record and pass the whole log off as one made before logs were keyed:
    # a keyed log was kept at this path before (its head log says so), so it is not keyed again.
    _raw(copy.db, "DROP TRIGGER audit_keying_no_delete", "DELETE FROM audit_keying")
    _rewrite_chain_without_key(copy.db, lambda rows: rows)
    with copy.open() as reopened:
        assert reopened.keying is None
        reason = _chain_reason(_reasons(reopened))
    assert "the log is not keyed: its keying record is missing" in reason
