"""The SQLite connection: WAL, foreign keys, explicit transactions and schema migrations.

Every change goes through ``transaction()``: ``BEGIN IMMEDIATE`` takes the write lock before the
first read, so a read-then-write (the audit chain's head, a state check) cannot race another
process, and a process killed before ``COMMIT`` leaves nothing behind (SQLite rolls the
uncommitted pages back when the database is next opened).

The schema version lives in ``PRAGMA user_version``; ``MIGRATIONS[n]`` takes the schema from version
``n`` to ``n + 1``, each in its own transaction with the version bump.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nl_trader.errors import NlTraderError
from nl_trader.store.schema import MIGRATIONS

DB_ENV = "NL_TRADER_DB"
BUSY_TIMEOUT_S = 10.0


class StoreError(NlTraderError):
    """The store cannot be opened or used as asked."""


def default_db_path() -> Path:
    """``NL_TRADER_DB`` if set, else ``~/.nl_trader/nl_trader.db``."""
    configured = os.environ.get(DB_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".nl_trader" / "nl_trader.db"


class Database:
    """One connection to the store's SQLite file, migrated to the current schema on open."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: no implicit transactions; ours are explicit (BEGIN IMMEDIATE).
            self.connection = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None
            )
        except sqlite3.Error as error:
            raise StoreError(f"database {self.path}: cannot open it ({error})") from None
        self.connection.row_factory = sqlite3.Row
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        try:
            self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute("PRAGMA synchronous = FULL")
            self.connection.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise StoreError(
                f"database {self.path}: not a usable nl_trader store ({error})"
            ) from None

    @property
    def schema_version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path}: schema version {current} is newer than this nl_trader "
                f"supports ({len(MIGRATIONS)}); upgrade nl_trader"
            )
        for version in range(current, len(MIGRATIONS)):
            with self.transaction():
                # Another process may have migrated while this one waited for the lock.
                if self.schema_version > version:
                    continue
                for statement in _statements(MIGRATIONS[version]):
                    self.connection.execute(statement)
                self.connection.execute(f"PRAGMA user_version = {version + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: commit when the block ends, roll back if it raises.

        Nested calls join the outer transaction, so a helper that writes can be used both alone
        and as part of a larger change.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.connection
            finally:
                self._depth -= 1
            return
        self.connection.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.connection
        except BaseException:
            self._depth = 0
            self._after_commit.clear()
            self.connection.execute("ROLLBACK")
            raise
        self._depth = 0
        self.connection.execute("COMMIT")
        done, self._after_commit = self._after_commit, []
        for action in done:
            action()

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the current transaction commits (never if it rolls back)."""
        if not self._depth:
            raise RuntimeError("after_commit: only inside a transaction")
        self._after_commit.append(action)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        self.connection.close()


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into complete statements (triggers keep their inner ``;``)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement:
                yield statement
            pending = ""
    if pending.strip():
        raise StoreError(f"migration: incomplete SQL statement {pending.strip()[:60]!r}")
