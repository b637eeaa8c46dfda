"""The store: typed reads and writes over the SQLite database, and the audit log beside them.

Writes are plain helpers meant to run inside ``Store.transaction()``, together with the audit
entry that records them (``Store.audit``): the change and its audit line commit together or not
at all. The lifecycle (``nl_trader.lifecycle``) decides what may change; the store only records.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from nl_trader.errors import InvalidInputError
from nl_trader.store.audit import (
    AuditCheck,
    AuditEntry,
    Keying,
    append_entry,
    key_log,
    read_entries,
    read_keying,
    verify_chain,
)
from nl_trader.store.audit_key import AuditKey, append_head, load_key
from nl_trader.store.db import Database, default_db_path
from nl_trader.store.records import (
    Approval,
    BacktestRun,
    JournalEntry,
    LiveSessionRecord,
    Optimisation,
    State,
    Strategy,
    StrategyAccount,
    TranslationRecord,
    User,
    Version,
    from_row,
)

logger = logging.getLogger(__name__)
R = TypeVar("R")
Clock = Callable[[], datetime]


class RecordNotFoundError(InvalidInputError):
    """An id that names no record: ``strategy: no strategy 7``."""

    def __init__(self, kind: str, ident: int) -> None:
        super().__init__([f"{kind}: no {kind.replace('_', ' ')} {ident}"], what="reference")


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_json(value: Any) -> str:
    """Canonical JSON for a column (sorted keys; datetimes as ISO text)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_iso
    )


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Store:
    """The lifecycle's records in one SQLite file (default: ``default_db_path()``).

    ``clock`` gives the current UTC time (tests pass a fixed one to check expiries). The audit
    log is keyed with the user's audit key (``nl_trader.store.audit_key``; ``audit_key`` to give
    another), read when the store opens; a new store is keyed as it is created.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        clock: Clock = utc_now,
        audit_key: AuditKey | None = None,
    ) -> None:
        self.db = Database(path if path is not None else default_db_path())
        self.clock = clock
        try:
            self.audit_key = audit_key if audit_key is not None else load_key()
            self.keying: Keying | None = read_keying(self.connection)
            if self.keying is None:  # a new store (or one made before keyed logs): key it
                with self.transaction():
                    self.keying = key_log(
                        self.connection, self.audit_key, time=self.now(), db_path=self._file()
                    )
        except BaseException:
            self.db.close()
            raise

    def _file(self) -> Path | None:
        return None if str(self.path) == ":memory:" else self.path

    @property
    def head_log(self) -> Path | None:
        """Where this store's committed audit heads are appended (beside the audit key)."""
        keying = self.keying or read_keying(self.connection)
        path = self._file()
        if keying is None or path is None:
            return None
        return self.audit_key.head_log(keying.store_id, path)

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def connection(self) -> sqlite3.Connection:
        return self.db.connection

    def close(self) -> None:
        self.db.close()

    def relative(self, path: Path) -> str:
        """How a file is recorded: relative to the store's folder when inside it (the folder can
        move), else absolute."""
        target = path.resolve()
        try:
            return str(target.relative_to(self.path.resolve().parent))
        except ValueError:
            return str(target)

    def resolve(self, recorded: str) -> Path:
        """The file a recorded path names (see ``relative``)."""
        path = Path(recorded)
        return path if path.is_absolute() else self.path.resolve().parent / path

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db.transaction() as connection:
            yield connection

    def now(self) -> datetime:
        return self.clock()

    # ---- audit -------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, subject: str, payload: dict[str, Any]) -> AuditEntry:
        """Append an audit entry (inside the transaction of the change it records); its head goes
        to the head log once the transaction commits."""
        entry = append_entry(
            self.connection,
            self.audit_key,
            time=self.now(),
            actor=actor,
            action=action,
            subject=subject,
            payload=json.loads(to_json(payload)),
        )
        log = self.head_log
        if log is not None:
            self.db.after_commit(lambda: _record_head(log, entry))
        return entry

    def audit_entries(
        self, *, subject: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        return read_entries(self.connection, subject=subject, limit=limit)

    def verify_audit(self, *, expected_head: str | None = None) -> AuditCheck:
        """The whole chain recomputed under the audit key, and checked against the head log."""
        return verify_chain(
            self.connection, self.audit_key, expected_head=expected_head, head_log=self.head_log
        )

    # ---- generic -----------------------------------------------------------------------------
    def _insert(self, table: str, values: dict[str, Any]) -> int:
        if not self.db.in_transaction:
            raise RuntimeError(f"{table}: write inside Store.transaction()")
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.connection.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
            [_column(value) for value in values.values()],
        )
        return int(cursor.lastrowid or 0)

    def _update(self, table: str, ident: int, values: dict[str, Any]) -> None:
        if not self.db.in_transaction:
            raise RuntimeError(f"{table}: write inside Store.transaction()")
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.connection.execute(
            f"UPDATE {table} SET {assignments} WHERE id = ?",
            [*(_column(value) for value in values.values()), ident],
        )

    def _one(self, cls: type[R], table: str, ident: int, kind: str) -> R:
        row = self.connection.execute(
            f"SELECT * FROM {table} WHERE id = ?",
            (ident,),
        ).fetchone()
        if row is None:
            raise RecordNotFoundError(kind, ident)
        return from_row(cls, row)

    def _many(self, cls: type[R], query: str, args: tuple[Any, ...] = ()) -> list[R]:
        return [from_row(cls, row) for row in self.connection.execute(query, args).fetchall()]

    # ---- strategies and versions -------------------------------------------------------------
    def strategy(self, ident: int) -> Strategy:
        return self._one(Strategy, "strategies", ident, "strategy")

    def strategies(self) -> list[Strategy]:
        return self._many(Strategy, "SELECT * FROM strategies ORDER BY id")

    def insert_strategy(self, *, name: str, by: str) -> int:
        now = self.now()
        return self._insert(
            "strategies",
            {
                "name": name,
                "state": State.DRAFT,
                "created_at": now,
                "created_by": by,
                "updated_at": now,
            },
        )

    def set_state(self, strategy_id: int, state: State) -> None:
        self._update("strategies", strategy_id, {"state": state, "updated_at": self.now()})

    def version(self, ident: int) -> Version:
        return self._one(Version, "versions", ident, "version")

    def versions(self, strategy_id: int) -> list[Version]:
        return self._many(
            Version, "SELECT * FROM versions WHERE strategy_id = ? ORDER BY number", (strategy_id,)
        )

    def current_version(self, strategy_id: int) -> Version:
        found = self._many(
            Version,
            "SELECT * FROM versions WHERE strategy_id = ? ORDER BY number DESC LIMIT 1",
            (strategy_id,),
        )
        if not found:
            raise RecordNotFoundError("strategy", strategy_id)
        return found[0]

    def insert_version(self, values: dict[str, Any]) -> int:
        return self._insert("versions", {**values, "created_at": self.now()})

    # ---- translations ------------------------------------------------------------------------
    def translation(self, ident: int) -> TranslationRecord:
        return self._one(TranslationRecord, "translations", ident, "translation")

    def insert_translation(self, values: dict[str, Any]) -> int:
        return self._insert("translations", {**values, "created_at": self.now()})

    # ---- backtest runs -----------------------------------------------------------------------
    def run(self, ident: int) -> BacktestRun:
        return self._one(BacktestRun, "backtest_runs", ident, "run")

    def runs(self, strategy_id: int) -> list[BacktestRun]:
        return self._many(
            BacktestRun,
            "SELECT * FROM backtest_runs WHERE strategy_id = ? ORDER BY id",
            (strategy_id,),
        )

    def latest_run(self, version_id: int) -> BacktestRun | None:
        found = self._many(
            BacktestRun,
            "SELECT * FROM backtest_runs WHERE version_id = ? ORDER BY id DESC LIMIT 1",
            (version_id,),
        )
        return found[0] if found else None

    def insert_run(self, values: dict[str, Any]) -> int:
        return self._insert("backtest_runs", {**values, "created_at": self.now()})

    # ---- optimisations -----------------------------------------------------------------------
    def optimisation(self, ident: int) -> Optimisation:
        return self._one(Optimisation, "optimisations", ident, "optimisation")

    def optimisations(self, strategy_id: int | None = None) -> list[Optimisation]:
        if strategy_id is None:
            return self._many(Optimisation, "SELECT * FROM optimisations ORDER BY id", ())
        return self._many(
            Optimisation,
            "SELECT * FROM optimisations WHERE strategy_id = ? ORDER BY id",
            (strategy_id,),
        )

    def insert_optimisation(self, values: dict[str, Any]) -> int:
        return self._insert("optimisations", {**values, "created_at": self.now()})

    # ---- approvals ---------------------------------------------------------------------------
    def approval(self, ident: int) -> Approval:
        return self._one(Approval, "approvals", ident, "approval")

    def approvals(self, strategy_id: int) -> list[Approval]:
        return self._many(
            Approval, "SELECT * FROM approvals WHERE strategy_id = ? ORDER BY id", (strategy_id,)
        )

    def latest_approval(self, strategy_id: int) -> Approval | None:
        found = self._many(
            Approval,
            "SELECT * FROM approvals WHERE strategy_id = ? ORDER BY id DESC LIMIT 1",
            (strategy_id,),
        )
        return found[0] if found else None

    def insert_approval(self, values: dict[str, Any]) -> int:
        return self._insert("approvals", values)

    def mark_revoked(self, approval_id: int, *, by: str, reason: str) -> None:
        self._update(
            "approvals",
            approval_id,
            {"revoked_at": self.now(), "revoked_by": by, "revoke_reason": reason},
        )

    # ---- live sessions and their journal -----------------------------------------------------
    def session(self, ident: int) -> LiveSessionRecord:
        return self._one(LiveSessionRecord, "live_sessions", ident, "session")

    def sessions(self, strategy_id: int | None = None) -> list[LiveSessionRecord]:
        if strategy_id is None:
            return self._many(LiveSessionRecord, "SELECT * FROM live_sessions ORDER BY id")
        return self._many(
            LiveSessionRecord,
            "SELECT * FROM live_sessions WHERE strategy_id = ? ORDER BY id",
            (strategy_id,),
        )

    def running_session(self, strategy_id: int) -> LiveSessionRecord | None:
        """The strategy's running session (the oldest, when it runs on several accounts)."""
        found = self.running_sessions(strategy_id)
        return found[0] if found else None

    def running_sessions(self, strategy_id: int | None = None) -> list[LiveSessionRecord]:
        query = "SELECT * FROM live_sessions WHERE status = 'running'"
        if strategy_id is None:
            return self._many(LiveSessionRecord, query + " ORDER BY id")
        return self._many(
            LiveSessionRecord, query + " AND strategy_id = ? ORDER BY id", (strategy_id,)
        )

    # ---- magic numbers and the accounts a strategy may trade on ------------------------------
    def magic_number(
        self, login: int | None, server: str, strategy_id: int, version_id: int
    ) -> int | None:
        """The magic allocated to this strategy version on this account, if any."""
        row = self.connection.execute(
            "SELECT magic FROM magic_numbers WHERE account_login IS ? AND account_server = ? "
            "AND strategy_id = ? AND version_id = ?",
            (login, server, strategy_id, version_id),
        ).fetchone()
        return None if row is None else int(row[0])

    def magic_numbers(self, login: int | None, server: str) -> set[int]:
        """Every magic allocated on this account."""
        rows = self.connection.execute(
            "SELECT magic FROM magic_numbers WHERE account_login IS ? AND account_server = ?",
            (login, server),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def insert_magic(
        self, login: int | None, server: str, strategy_id: int, version_id: int, magic: int
    ) -> None:
        self._insert(
            "magic_numbers",
            {
                "account_login": login,
                "account_server": server,
                "strategy_id": strategy_id,
                "version_id": version_id,
                "magic": magic,
                "allocated_at": self.now(),
            },
        )

    def strategy_accounts(self, strategy_id: int) -> list[StrategyAccount]:
        """The account profiles the strategy may trade on now."""
        return self._many(
            StrategyAccount,
            "SELECT * FROM strategy_accounts WHERE strategy_id = ? AND removed_at IS NULL "
            "ORDER BY id",
            (strategy_id,),
        )

    def insert_strategy_account(self, strategy_id: int, profile: str, *, by: str) -> int:
        return self._insert(
            "strategy_accounts",
            {
                "strategy_id": strategy_id,
                "account_profile": profile,
                "assigned_at": self.now(),
                "assigned_by": by,
            },
        )

    def remove_strategy_account(self, ident: int, *, by: str) -> None:
        self._update("strategy_accounts", ident, {"removed_at": self.now(), "removed_by": by})

    def insert_session(self, values: dict[str, Any]) -> int:
        return self._insert("live_sessions", values)

    def update_session(self, session_id: int, values: dict[str, Any]) -> None:
        self._update("live_sessions", session_id, values)

    def journal(self, session_id: int) -> list[JournalEntry]:
        return self._many(
            JournalEntry, "SELECT * FROM journal WHERE session_id = ? ORDER BY id", (session_id,)
        )

    def add_journal(
        self,
        session_id: int,
        *,
        kind: str,
        order_id: str | None,
        state: str | None,
        payload: dict[str, Any],
        event_time: datetime | None,
    ) -> int:
        with self.transaction():
            return self._insert(
                "journal",
                {
                    "session_id": session_id,
                    "kind": kind,
                    "order_id": order_id,
                    "state": state,
                    "payload": to_json(payload),
                    "event_time": event_time,
                    "recorded_at": self.now(),
                },
            )

    # ---- users and their sign-in attempts ----------------------------------------------------
    def user(self, ident: int) -> User:
        return self._one(User, "users", ident, "user")

    def user_named(self, name: str) -> User | None:
        """The user of that name (names are compared without case), or None."""
        found = self._many(User, "SELECT * FROM users WHERE name = ?", (name,))
        return found[0] if found else None

    def users(self) -> list[User]:
        return self._many(User, "SELECT * FROM users ORDER BY id")

    def insert_user(self, values: dict[str, Any]) -> int:
        now = self.now()
        return self._insert("users", {**values, "created_at": now, "updated_at": now})

    def update_user(self, user_id: int, values: dict[str, Any]) -> None:
        self._update("users", user_id, {**values, "updated_at": self.now()})

    def add_login_attempt(self, name: str, outcome: str) -> None:
        """Record one sign-in attempt for a name: ``ok``, ``failed`` or ``throttled``."""
        with self.transaction():
            self._insert("login_attempts", {"name": name, "at": self.now(), "outcome": outcome})

    def failed_logins(self, name: str, *, since: datetime) -> list[datetime]:
        """The times of the name's failed sign-ins since ``since`` and since its last success,
        oldest first."""
        rows = self.connection.execute(
            "SELECT at FROM login_attempts WHERE name = ? AND outcome = 'failed' AND at >= ? "
            "AND id > COALESCE((SELECT MAX(id) FROM login_attempts WHERE name = ? "
            "AND outcome = 'ok'), 0) ORDER BY id",
            (name, _column(since), name),
        ).fetchall()
        return [datetime.fromisoformat(row[0]) for row in rows]


def _record_head(log: Path, entry: AuditEntry) -> None:
    """Append a committed entry's head; a failure is logged, not raised (the change it records
    is committed already, and a head missing from the log only weakens the check of a cut)."""
    try:
        append_head(log, entry.seq, entry.hash)
    except OSError as error:
        logger.warning("audit: could not append head %s to %s: %s", entry.seq, log, error)


def _column(value: Any) -> Any:
    """A Python value as SQLite stores it: enums as text, datetimes as ISO UTC, dicts as JSON."""
    if isinstance(value, State):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("time: give timezone-aware UTC datetimes to the store")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict | list):
        return to_json(value)
    if isinstance(value, bool):
        return int(value)
    return value
