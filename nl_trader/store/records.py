"""What the store holds, as frozen records (one per table row)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from nl_trader.spec import StrategySpec, parse_spec


class State(StrEnum):
    """Where a strategy is in its lifecycle.

    draft -> backtested -> approved -> paper / live -> stopped; retired from any state, for good.
    An edit (a new version) goes back to draft; a new backtest or a revocation back to backtested.
    """

    DRAFT = "draft"
    BACKTESTED = "backtested"
    APPROVED = "approved"
    PAPER = "paper"
    LIVE = "live"
    STOPPED = "stopped"
    RETIRED = "retired"


@dataclass(frozen=True)
class Strategy:
    id: int
    name: str
    state: State
    created_at: datetime
    created_by: str
    updated_at: datetime


@dataclass(frozen=True)
class Version:
    """One immutable version of a strategy's spec; an edit makes a new one with this as parent."""

    id: int
    strategy_id: int
    number: int
    parent_id: int | None
    text: str
    language: str
    spec_json: str
    spec_hash: str
    translation_id: int | None
    note: str
    created_at: datetime
    created_by: str
    optimisation_id: int | None = None  # the optimisation whose chosen set this version is

    @property
    def spec(self) -> StrategySpec:
        return parse_spec(self.spec_json)


@dataclass(frozen=True)
class TranslationRecord:
    """One call of ``translate()``: the model, the prompt's version and hash, and its cost."""

    id: int
    text: str
    language: str
    outcome: str
    model: str
    prompt_version: str
    prompt_hash: str
    input_tokens: int
    output_tokens: int
    attempts: int
    latency_s: float
    spec_hash: str | None
    detail: dict[str, Any]
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class BacktestRun:
    """A backtest of one version: what it ran on, its figures, and the report a person reviews.

    ``data`` says how to load the bars again (source, symbol, window, sample size), for the paper
    session; ``oos_*`` is the out-of-sample period held out of the report's backtest.
    """

    id: int
    strategy_id: int
    version_id: int
    spec_hash: str
    symbol: str
    data: dict[str, Any]
    data_fingerprint: str
    period_start: datetime
    period_end: datetime
    bars: int
    oos_start: datetime | None
    oos_end: datetime | None
    oos_bars: int
    settings: dict[str, Any]
    figures: dict[str, Any]
    oos_figures: dict[str, Any] | None
    criteria: dict[str, Any]
    report_path: str
    report_hash: str
    report_json_path: str
    report_json_hash: str
    engine_version: str
    elapsed_s: float
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Approval:
    """A person's approval of one version (spec hash) on one backtest report (report hash)."""

    id: int
    strategy_id: int
    version_id: int
    spec_hash: str
    run_id: int
    report_hash: str
    approved_by: str
    approved_at: datetime
    note: str
    expires_at: datetime
    criteria_met: bool
    criteria: dict[str, Any]
    override_reason: str | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def binding(self) -> dict[str, Any]:
        """What the approval binds, as recorded in its audit entry."""
        return {
            "approval_id": self.id,
            "strategy_id": self.strategy_id,
            "version_id": self.version_id,
            "spec_hash": self.spec_hash,
            "run_id": self.run_id,
            "report_hash": self.report_hash,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat(),
            "note": self.note,
            "expires_at": self.expires_at.isoformat(),
            "criteria_met": self.criteria_met,
            "override_reason": self.override_reason,
        }


@dataclass(frozen=True)
class LiveSessionRecord:
    """A paper or live session of one approved version on one account."""

    id: int
    strategy_id: int
    version_id: int
    approval_id: int
    mode: str
    account_profile: str
    terminal: str
    account_login: int | None
    account_server: str
    trade_mode: str
    real_confirmed: bool
    status: str
    started_at: datetime
    started_by: str
    stop_requested_at: datetime | None
    stop_requested_by: str | None
    stopped_at: datetime | None
    stop_reason: str | None
    heartbeat_at: datetime | None
    bars_processed: int
    last_bar_time: datetime | None
    magic: int | None = None
    pid: int | None = None
    host: str | None = None
    kill_requested: bool = False
    close_positions: bool | None = None
    drift: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class StrategyAccount:
    """An account profile a strategy may trade on (assigned by a person, audited)."""

    id: int
    strategy_id: int
    account_profile: str
    assigned_at: datetime
    assigned_by: str
    removed_at: datetime | None
    removed_by: str | None


@dataclass(frozen=True)
class JournalEntry:
    """An order sent by a session, or an order status / execution the broker reported."""

    id: int
    session_id: int
    kind: str
    order_id: str | None
    state: str | None
    payload: dict[str, Any]
    event_time: datetime | None
    recorded_at: datetime


@dataclass(frozen=True)
class Optimisation:
    """An optimisation (or walk-forward) of one version: the space (``--param`` texts and
    constraints), objectives, data and settings, how many trials, the chosen set with its figures,
    its overfitting figures, and for a walk-forward the stitched out-of-sample result."""

    id: int
    strategy_id: int
    version_id: int
    spec_hash: str
    kind: str
    method: str
    engine: str
    space: dict[str, Any]
    objectives: list[Any]
    data: dict[str, Any]
    settings: dict[str, Any]
    trials: int
    best: dict[str, Any] | None
    overfitting: dict[str, Any] | None
    out_of_sample: dict[str, Any] | None
    study_name: str | None
    elapsed_s: float
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class User:
    """A person who signs in to the web app, with one role (``nl_trader.users.ROLES``).

    ``password_hash`` is the argon2 hash (PHC text); the password itself is never stored. It is
    left out of ``repr``, so a logged record never shows it either.
    """

    id: int
    name: str
    role: str
    password_hash: str = field(repr=False)
    language: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    disabled: bool
    signed_out_at: datetime | None = None


R = TypeVar("R")

_JSON_FIELDS = frozenset(
    {
        "detail",
        "data",
        "settings",
        "figures",
        "oos_figures",
        "criteria",
        "payload",
        "drift",
        "space",
        "objectives",
        "best",
        "overfitting",
        "out_of_sample",
    }
)


def from_row(cls: type[R], row: sqlite3.Row) -> R:
    """Build a record from a row whose columns are named as the record's fields."""
    values: dict[str, Any] = {}
    for item in fields(cls):  # type: ignore[arg-type]
        value = row[item.name]
        kind = str(item.type)
        if value is not None and item.name in _JSON_FIELDS:
            value = json.loads(value)
        elif value is not None and kind.startswith("datetime"):
            value = datetime.fromisoformat(value)
        elif kind == "bool" or (kind == "bool | None" and value is not None):
            value = bool(value)
        elif kind == "State":
            value = State(value)
        values[item.name] = value
    return cls(**values)
