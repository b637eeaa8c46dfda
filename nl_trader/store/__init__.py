"""The lifecycle's store: SQLite (strategies, versions, translations, backtest runs, approvals,
live sessions, the order journal, users, optimisations) and the keyed, hash-chained audit log."""

from nl_trader.store.audit import AuditCheck, AuditEntry
from nl_trader.store.db import DB_ENV, StoreError, default_db_path
from nl_trader.store.records import (
    Approval,
    BacktestRun,
    JournalEntry,
    LiveSessionRecord,
    Optimisation,
    State,
    Strategy,
    TranslationRecord,
    User,
    Version,
)
from nl_trader.store.store import RecordNotFoundError, Store, to_json, utc_now

__all__ = [
    "DB_ENV",
    "Approval",
    "AuditCheck",
    "AuditEntry",
    "BacktestRun",
    "JournalEntry",
    "LiveSessionRecord",
    "Optimisation",
    "RecordNotFoundError",
    "State",
    "Store",
    "StoreError",
    "Strategy",
    "TranslationRecord",
    "User",
    "Version",
    "default_db_path",
    "to_json",
    "utc_now",
]
