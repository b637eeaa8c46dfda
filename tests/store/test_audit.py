"""The audit log is append-only and its hash chain shows any change, removal or reordering."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from nl_trader.store import Store
from nl_trader.store.audit import GENESIS_HASH, entry_hash


def _store_with_entries(path: Path, count: int = 4) -> None:
    with Store(path) as store:
        for number in range(1, count + 1):
            with store.transaction():
                store.audit("ana", "test.action", f"strategy/{number}", {"n": number, "note": "é"})


def _tamper(path: Path, *statements: str) -> None:
    """Edit the file around nl_trader, as someone with the file could."""
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("DROP TRIGGER audit_no_delete")
    for statement in statements:
        raw.execute(statement)
    raw.commit()
    raw.close()


def test_entries_chain_each_hash_to_the_one_before(tmp_path: Path) -> None:
    _store_with_entries(tmp_path / "nl.db")
    with Store(tmp_path / "nl.db") as store:
        entries = store.audit_entries()
        check = store.verify_audit()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
    assert check.ok
    assert (check.entries, check.head_seq, check.head_hash) == (4, 4, entries[-1].hash)


def test_the_database_refuses_to_update_or_delete_an_entry(tmp_path: Path) -> None:
    _store_with_entries(tmp_path / "nl.db")
    with Store(tmp_path / "nl.db") as store:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.connection.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.connection.execute("DELETE FROM audit WHERE seq = 4")


def test_an_entry_appended_outside_a_transaction_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "nl.db") as store, pytest.raises(RuntimeError, match="transaction"):
        store.audit("ana", "x", "y", {})


def test_a_changed_payload_is_named_as_the_first_broken_entry(tmp_path: Path) -> None:
    _store_with_entries(tmp_path / "nl.db")
    _tamper(tmp_path / "nl.db", """UPDATE audit SET payload = '{"n":20}' WHERE seq = 2""")
    with Store(tmp_path / "nl.db") as store:
        check = store.verify_audit()
    assert not check.ok
    assert check.broken_seq == 2
    assert check.problem is not None
    assert "changed after it was written" in check.problem
    assert check.head_seq == 1  # entry 1 still holds


def test_a_changed_entry_with_a_recomputed_unkeyed_hash_is_found_at_that_entry(
    tmp_path: Path,
) -> None:
    # Whoever can write the file but lacks the key can only recompute a plain SHA-256.
    path = tmp_path / "nl.db"
    _store_with_entries(path)
    with Store(path) as store:
        second = store.audit_entries()[1]
    forged = entry_hash(
        2, second.time, "mallory", second.action, second.subject, "{}", second.prev_hash
    )
    _tamper(
        path,
        f"UPDATE audit SET actor = 'mallory', payload = '{{}}', hash = '{forged}' WHERE seq = 2",
    )
    with Store(path) as store:
        check = store.verify_audit()
    assert (check.ok, check.broken_seq) == (False, 2)
    assert check.problem is not None
    assert "forged without the key" in check.problem


def test_a_removed_entry_is_found(tmp_path: Path) -> None:
    _store_with_entries(tmp_path / "nl.db")
    _tamper(tmp_path / "nl.db", "DELETE FROM audit WHERE seq = 2")
    with Store(tmp_path / "nl.db") as store:
        check = store.verify_audit()
    assert (check.ok, check.broken_seq) == (False, 3)
    assert check.problem is not None
    assert "an entry was removed" in check.problem


def test_a_cut_off_tail_is_found_by_the_head_log_and_by_a_head_kept_elsewhere(
    tmp_path: Path,
) -> None:
    _store_with_entries(tmp_path / "nl.db")
    with Store(tmp_path / "nl.db") as store:
        head = store.verify_audit().head_hash
        head_log = store.head_log
    _tamper(tmp_path / "nl.db", "DELETE FROM audit WHERE seq = 4")
    with Store(tmp_path / "nl.db") as store:
        check = store.verify_audit()  # the head log beside the key recorded entry 4
        assert not check.ok
        assert check.problem is not None
        assert f"the head log {head_log} records entry 4" in check.problem
        assert "it ends at entry 3): entries were removed" in check.problem
    assert head_log is not None
    head_log.unlink()  # and with the head log gone too, a head kept elsewhere still shows it
    with Store(tmp_path / "nl.db") as store:
        check = store.verify_audit(expected_head=head)
    assert not check.ok
    assert check.problem is not None
    assert "entries were removed" in check.problem
