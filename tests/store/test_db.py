"""The SQLite store: migrations, WAL, foreign keys, and all-or-nothing transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nl_trader.store import Store, StoreError
from nl_trader.store.schema import MIGRATIONS


def test_a_new_store_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path / "a" / "nl.db") as store:
        assert store.db.schema_version == len(MIGRATIONS)
        mode = store.connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert store.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_reopening_a_store_keeps_its_records(tmp_path: Path) -> None:
    with Store(tmp_path / "nl.db") as store, store.transaction():
        store.insert_strategy(name="kept", by="ana")
    with Store(tmp_path / "nl.db") as store:
        assert [s.name for s in store.strategies()] == ["kept"]


def test_a_store_from_a_newer_nl_trader_is_refused_with_its_version(tmp_path: Path) -> None:
    path = tmp_path / "nl.db"
    Store(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    raw.close()
    with pytest.raises(StoreError, match=r"schema version \d+ is newer"):
        Store(path)


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not sqlite at all, just some notes " * 100)
    with pytest.raises(StoreError, match="not a usable nl_trader store"):
        Store(path)


def test_an_error_inside_a_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    def half_done(store: Store) -> None:
        with store.transaction():
            store.insert_strategy(name="half", by="ana")
            store.audit("ana", "strategy.created", "strategy/1", {"name": "half"})
            raise RuntimeError("boom")

    with Store(tmp_path / "nl.db") as store:
        with pytest.raises(RuntimeError, match="boom"):
            half_done(store)
        assert store.strategies() == []
        assert store.audit_entries() == []


def test_writes_outside_a_transaction_are_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "nl.db") as store, pytest.raises(RuntimeError, match="transaction"):
        store.insert_strategy(name="loose", by="ana")


def test_foreign_keys_refuse_a_version_of_a_missing_strategy(tmp_path: Path) -> None:
    with (
        Store(tmp_path / "nl.db") as store,
        pytest.raises(sqlite3.IntegrityError),
        store.transaction(),
    ):
        store.insert_version(
            {
                "strategy_id": 99,
                "number": 1,
                "parent_id": None,
                "text": "t",
                "language": "en",
                "spec_json": "{}",
                "spec_hash": "0" * 64,
                "translation_id": None,
                "note": "",
                "created_by": "ana",
            }
        )


def test_the_database_allows_one_running_session_per_strategy(tmp_path: Path) -> None:
    """Two processes racing past the gate still cannot both run a strategy."""
    with Store(tmp_path / "nl.db") as store:
        connection = store.connection
        connection.executescript(
            """
            INSERT INTO strategies VALUES (1, 's', 'approved', 't', 'a', 't');
            INSERT INTO versions VALUES (1, 1, 1, NULL, 'x', 'en', '{}', 'h', NULL, '', 't', 'a', NULL);
            INSERT INTO backtest_runs (id, strategy_id, version_id, spec_hash, symbol, data,
                data_fingerprint, period_start, period_end, bars, oos_bars, settings, figures,
                criteria, report_path, report_hash, report_json_path, report_json_hash,
                engine_version, elapsed_s, created_at, created_by)
                VALUES (1, 1, 1, 'h', 'EURUSD', '{}', 'f', 't', 't', 1, 0, '{}', '{}', '{}',
                'r', 'h', 'j', 'h', '1', 0, 't', 'a');
            INSERT INTO approvals (id, strategy_id, version_id, spec_hash, run_id, report_hash,
                approved_by, approved_at, note, expires_at, criteria_met, criteria)
                VALUES (1, 1, 1, 'h', 1, 'h', 'a', 't', '', 't', 1, '{}');
            """
        )
        row = {
            "strategy_id": 1,
            "version_id": 1,
            "approval_id": 1,
            "mode": "paper",
            "account_profile": "paper",
            "terminal": "fake",
            "account_login": 1,
            "account_server": "s",
            "trade_mode": "demo",
            "real_confirmed": False,
            "status": "running",
            "started_at": store.now(),
            "started_by": "a",
        }
        with store.transaction():
            store.insert_session(row)
        with pytest.raises(sqlite3.IntegrityError), store.transaction():
            store.insert_session(row)


def test_recorded_paths_inside_the_store_folder_are_relative_so_it_can_move(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "nl.db") as store:
        inside = tmp_path / "reports" / "r.html"
        outside = tmp_path.parent / "elsewhere.html"
        assert store.relative(inside) == str(Path("reports") / "r.html")
        assert store.resolve(store.relative(inside)) == inside.resolve()
        assert store.relative(outside) == str(outside.resolve())
