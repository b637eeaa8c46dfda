"""The strategy lifecycle: from a sentence to live trading only through records a person can audit.

States (``State``): draft -> backtested -> approved -> paper / live -> stopped, and retired.

* ``register`` stores a strategy (its text, spec and hash) as version 1, in draft; ``edit`` makes a
  new version whose parent is the current one, back in draft.
* ``backtest`` tests the current version on the first part of the data and keeps the last part
  (``PromotionCriteria.oos_fraction``) out of it: the out-of-sample period, tested on its own for
  the out-of-sample criterion and replayed by the paper session. It writes the HTML and JSON
  reports and records their hashes with the figures and the criteria result.
* ``approve`` binds a person to one version (spec hash) AND one report (report hash), with a note
  and an expiry. A run that misses the promotion criteria needs an override with its reason, and
  the override is recorded.
* ``check_can_go_live`` is the gate: it lists every reason a session may not start (no approval,
  revoked, expired, spec changed, another report, report changed or missing, criteria missed
  without override, a record that no longer matches its audit entry, a retired strategy, a session
  already running, a real-money account without its confirmation). ``revoke`` and ``retire``
  close the way again.

Every change is one transaction with its audit entry (``nl_trader.store``).
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl_trader import mt5
from nl_trader.backtest.engine import ENGINE_VERSION, BacktestSettings, run_backtest
from nl_trader.backtest.report import CriteriaView, report_figures, write_reports
from nl_trader.backtest.stats import TesterStats
from nl_trader.data.run_data import DataInfo
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.spec import StrategySpec, spec_hash
from nl_trader.store import (
    Approval,
    AuditEntry,
    BacktestRun,
    State,
    Store,
    Version,
    to_json,
)

if TYPE_CHECKING:  # translating loads langchain; the lifecycle does not need it
    from nl_trader.translate.translate import Translation

ACTOR_ENV = "NL_TRADER_USER"
CONFIG_ENV = "NL_TRADER_CONFIG"
DEFAULT_APPROVAL_DAYS = 30
MAX_APPROVAL_DAYS = 365
TRADE_MODES = {
    mt5.ACCOUNT_TRADE_MODE_DEMO: "demo",
    mt5.ACCOUNT_TRADE_MODE_CONTEST: "contest",
    mt5.ACCOUNT_TRADE_MODE_REAL: "real",
}


class LifecycleError(InvalidInputError):
    """A lifecycle step refused: each problem names what is wrong and what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, what="lifecycle step")


class GateRefusedError(NlTraderError):
    """Starting a session was refused by the gate; ``reasons`` holds every reason."""

    def __init__(self, strategy_id: int, reasons: tuple[str, ...]) -> None:
        self.strategy_id = strategy_id
        self.reasons = reasons
        super().__init__(f"strategy {strategy_id} may not go live: " + "; ".join(reasons))


def current_actor() -> str:
    """Who acts: ``NL_TRADER_USER``, else the login name."""
    configured = os.environ.get(ACTOR_ENV, "").strip()
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# ---- configuration ------------------------------------------------------------------------------
def config_path() -> Path:
    """``NL_TRADER_CONFIG`` if set, else ``~/.nl_trader/config.toml``."""
    configured = os.environ.get(CONFIG_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".nl_trader" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The TOML configuration (``[promotion]``, ``[accounts.NAME]``); empty when there is none."""
    target = path or config_path()
    if not target.is_file():
        if path is not None:
            raise InvalidInputError([f"config: no file at {target}"], what="configuration")
        return {}
    try:
        return tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInputError([f"config: {target}: {error}"], what="configuration") from None


class PromotionCriteria(BaseModel):
    """What a backtest must show before a strategy may be approved without an override.

    ``min_trades``: closed trades in the backtest (30: fewer say little). ``max_drawdown_pct``:
    the deepest equity drawdown, percent of its peak (25.0). ``min_profit_factor``: gross profit
    over gross loss (1.1). ``oos_fraction``: the share of the data, at its end, held out of the
    report's backtest (0.2 = the last 20 %); ``min_oos_profit_factor``: what the strategy must
    show on that held-out period on its own (1.0: it must not lose there; None: not checked).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_trades: int = Field(default=30, ge=0)
    max_drawdown_pct: float = Field(default=25.0, gt=0, le=100)
    min_profit_factor: float = Field(default=1.1, ge=0)
    oos_fraction: float = Field(default=0.2, ge=0, lt=0.9)
    min_oos_profit_factor: float | None = Field(default=1.0, ge=0)


def load_criteria(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> PromotionCriteria:
    """The criteria: defaults, then the config's ``[promotion]`` table, then ``overrides``."""
    values = dict(read_config(path).get("promotion", {}))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return PromotionCriteria.model_validate(values)
    except ValidationError as error:
        raise InvalidInputError.from_validation(
            error, where="promotion", what="promotion criteria"
        ) from None


@dataclass(frozen=True)
class CriterionCheck:
    name: str
    required: str
    actual: str
    passed: bool


@dataclass(frozen=True)
class CriteriaResult:
    """Each criterion with what was required and what the backtest showed."""

    met: bool
    checks: tuple[CriterionCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "checks": [
                {"name": c.name, "required": c.required, "actual": c.actual, "passed": c.passed}
                for c in self.checks
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CriteriaResult:
        return cls(
            met=bool(data["met"]),
            checks=tuple(CriterionCheck(**check) for check in data["checks"]),
        )

    def failures(self) -> list[str]:
        return [
            f"{c.name}: {c.actual} (required {c.required})" for c in self.checks if not c.passed
        ]


def _profit_factor_check(name: str, figures: Mapping[str, Any], minimum: float) -> CriterionCheck:
    trades = int(figures["total_trades"])
    factor = figures["profit_factor"]
    if trades == 0:
        return CriterionCheck(name, f">= {minimum:.2f}", "no trades", False)
    if factor is None:  # no losing trade: an unbounded profit factor
        return CriterionCheck(name, f">= {minimum:.2f}", "no losing trade", True)
    return CriterionCheck(name, f">= {minimum:.2f}", f"{factor:.2f}", factor >= minimum)


def evaluate_criteria(
    figures: Mapping[str, Any],
    oos_figures: Mapping[str, Any] | None,
    criteria: PromotionCriteria,
) -> CriteriaResult:
    """Check a run's figures (``figures_summary``) against the criteria."""
    trades = int(figures["total_trades"])
    drawdown = float(figures["equity_drawdown_pct"])
    checks = [
        CriterionCheck(
            "trades", f">= {criteria.min_trades}", str(trades), trades >= criteria.min_trades
        ),
        CriterionCheck(
            "max equity drawdown",
            f"<= {criteria.max_drawdown_pct:.2f} %",
            f"{drawdown:.2f} %",
            drawdown <= criteria.max_drawdown_pct,
        ),
        _profit_factor_check("profit factor", figures, criteria.min_profit_factor),
    ]
    if criteria.oos_fraction > 0 and criteria.min_oos_profit_factor is not None:
        if oos_figures is None:
            checks.append(
                CriterionCheck(
                    "out-of-sample profit factor",
                    f">= {criteria.min_oos_profit_factor:.2f}",
                    "no out-of-sample period",
                    False,
                )
            )
        else:
            checks.append(
                _profit_factor_check(
                    "out-of-sample profit factor", oos_figures, criteria.min_oos_profit_factor
                )
            )
    return CriteriaResult(all(check.passed for check in checks), tuple(checks))


def figures_summary(stats: TesterStats) -> dict[str, Any]:
    """The figures the lifecycle keeps and judges (the report holds them all)."""
    return {
        "bars": stats.bars,
        "initial_deposit": stats.initial_deposit,
        "final_balance": stats.final_balance,
        "final_equity": stats.final_equity,
        "total_net_profit": stats.total_net_profit,
        "gross_profit": stats.gross_profit,
        "gross_loss": stats.gross_loss,
        "total_trades": stats.total_trades,
        "profit_factor": stats.profit_factor,
        "expected_payoff": stats.expected_payoff,
        "sharpe_ratio": stats.sharpe_ratio,
        "profit_trades_pct": stats.profit_trades_pct,
        "equity_drawdown_pct": stats.equity_drawdown.relative_pct,
        "equity_drawdown_money": stats.equity_drawdown.maximal_money,
    }


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def stored_spec_json(spec: StrategySpec) -> str:
    """The spec as its author gave it (defaults left out, so the explain-back can still list the
    defaults filled in); its identity is ``spec_hash``, over the canonical form."""
    return spec.model_dump_json(exclude_unset=True)


def _subject(strategy_id: int) -> str:
    return f"strategy/{strategy_id}"


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise LifecycleError([problem])


def require_actor(by: str, doing: str) -> None:
    """Every change names its person: the audit log's actor is never blank."""
    _require(bool(by.strip()), f"by: name the person who {doing}")


def _not_retired(store: Store, strategy_id: int, doing: str) -> None:
    state = store.strategy(strategy_id).state
    _require(
        state != State.RETIRED,
        f"strategy {strategy_id}: it is retired; a retired strategy cannot be {doing}",
    )
    running = store.running_session(strategy_id)
    _require(
        running is None,
        f"strategy {strategy_id}: session {running.id if running else ''} is running; stop it first "
        f"(nl-trader live stop {strategy_id})",
    )


# ---- registering and editing --------------------------------------------------------------------
def _record_translation(store: Store, result: Translation, *, by: str) -> int:
    """Store one translation attempt (a spec, a question or a refusal): its outcome, model,
    prompt and cost, never the prompt text or a key; return its id."""
    require_actor(by, "asked for the translation")
    row: dict[str, Any] = {
        "text": result.text,
        "language": result.language,
        "outcome": result.outcome,
        "model": result.model,
        "prompt_version": result.prompt_version,
        "prompt_hash": result.prompt_hash,
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "attempts": result.attempts,
        "latency_s": result.latency_s,
        "spec_hash": spec_hash(result.spec) if result.spec is not None else None,
        "detail": {
            "questions": list(result.questions),
            "missing": list(result.missing),
            "unsupported": list(result.unsupported),
            "message": result.message,
            "defaults_filled": list(result.defaults_filled),
        },
        "created_by": by,
    }
    with store.transaction():
        ident = store.insert_translation(row)
        store.audit(
            by,
            "translation.recorded",
            f"translation/{ident}",
            {
                "translation_id": ident,
                **{key: row[key] for key in ("outcome", "model", "prompt_version", "prompt_hash")},
                "spec_hash": row["spec_hash"],
                "tokens": row["input_tokens"] + row["output_tokens"],
            },
        )
    return ident


def register_translation(
    store: Store, result: Translation, *, by: str
) -> tuple[int, Version | None]:
    """Store a translation attempt and, when it gave a spec, the strategy it describes, in one
    transaction; return the translation's id and the new strategy's version 1 (None without)."""
    with store.transaction():
        translation_id = _record_translation(store, result, by=by)
        if result.spec is None:
            return translation_id, None
        version = register(
            store,
            result.spec,
            text=result.text,
            by=by,
            language=result.language,
            translation_id=translation_id,
        )
        return translation_id, version


def register(
    store: Store,
    spec: StrategySpec,
    *,
    text: str,
    by: str,
    language: str = "en",
    translation_id: int | None = None,
    note: str = "",
) -> Version:
    """Store a new strategy: its text and spec as version 1, in draft."""
    require_actor(by, "registers the strategy")
    with store.transaction():
        strategy_id = store.insert_strategy(name=spec.name, by=by)
        version_id = store.insert_version(
            {
                "strategy_id": strategy_id,
                "number": 1,
                "parent_id": None,
                "text": text,
                "language": language,
                "spec_json": stored_spec_json(spec),
                "spec_hash": spec_hash(spec),
                "translation_id": translation_id,
                "note": note,
                "created_by": by,
            }
        )
        store.audit(
            by,
            "strategy.created",
            _subject(strategy_id),
            {
                "strategy_id": strategy_id,
                "version_id": version_id,
                "version": 1,
                "name": spec.name,
                "spec_hash": spec_hash(spec),
                "translation_id": translation_id,
            },
        )
    return store.version(version_id)


def edit(
    store: Store,
    strategy_id: int,
    spec: StrategySpec,
    *,
    by: str,
    note: str = "",
    text: str | None = None,
) -> Version:
    """Make a new version of the strategy (parent: the current one). It needs a new backtest and
    a new approval before it can trade."""
    require_actor(by, "edits the strategy")
    _not_retired(store, strategy_id, "edited")
    current = store.current_version(strategy_id)
    _require(
        spec_hash(spec) != current.spec_hash,
        f"spec: identical to version {current.number} (sha256 {current.spec_hash[:12]}); "
        "nothing to change",
    )
    with store.transaction():
        version_id = store.insert_version(
            {
                "strategy_id": strategy_id,
                "number": current.number + 1,
                "parent_id": current.id,
                "text": text if text is not None else current.text,
                "language": current.language,
                "spec_json": stored_spec_json(spec),
                "spec_hash": spec_hash(spec),
                "translation_id": None,
                "note": note,
                "created_by": by,
            }
        )
        store.set_state(strategy_id, State.DRAFT)
        store.audit(
            by,
            "strategy.edited",
            _subject(strategy_id),
            {
                "strategy_id": strategy_id,
                "version_id": version_id,
                "version": current.number + 1,
                "parent_version_id": current.id,
                "parent_spec_hash": current.spec_hash,
                "spec_hash": spec_hash(spec),
                "note": note,
            },
        )
    return store.version(version_id)


# ---- backtesting ---------------------------------------------------------------------------------
def split_out_of_sample(bars: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bars of the report's backtest, and the last ``fraction`` of them held out."""
    held = math.floor(len(bars) * fraction)
    if held == 0:
        return bars, bars.iloc[:0]
    return bars.iloc[:-held], bars.iloc[-held:]


def backtest(
    store: Store,
    strategy_id: int,
    bars: pd.DataFrame,
    *,
    data: dict[str, Any],
    data_info: DataInfo,
    report_dir: Path,
    by: str,
    settings: BacktestSettings | None = None,
    criteria: PromotionCriteria | None = None,
    m1_bars: pd.DataFrame | None = None,
    conversion_bars: Mapping[str, pd.DataFrame] | None = None,
) -> BacktestRun:
    """Backtest the current version, write its reports, and record the run with its criteria.

    ``data`` says how to load the same bars again (for the paper session), e.g.
    ``{"source": "sample", "symbol": "EURUSD", "bars": 6000}``; ``data_info`` is the report's
    data section. The report covers the bars before the out-of-sample period only.
    ``conversion_bars`` are the bars of the pairs that convert the symbol's money to the account
    currency (GBPUSD for EURGBP on a USD account), as ``run_backtest`` takes them.
    """
    require_actor(by, "runs the backtest")
    _not_retired(store, strategy_id, "backtested")
    settings = settings or BacktestSettings()
    criteria = criteria or PromotionCriteria()
    version = store.current_version(strategy_id)
    spec = version.spec
    symbol = str(data.get("symbol") or spec.symbols[0])
    in_sample, held_out = split_out_of_sample(bars, criteria.oos_fraction)
    if len(bars) == 0:
        raise InvalidInputError(
            ["data: no bars to backtest on (is the --from/--to window empty?)"],
            what="backtest data",
        )
    _require(len(in_sample) > 0, "data: no bars before the out-of-sample period to backtest on")
    m1_in = m1_out = None
    if m1_bars is not None:
        cut = held_out.index[0] if len(held_out) else None
        m1_in = m1_bars if cut is None else m1_bars[m1_bars.index < cut]
        m1_out = None if cut is None else m1_bars[m1_bars.index >= cut]
    conversions = dict(conversion_bars or {})
    result = run_backtest(
        spec,
        in_sample,
        symbol=symbol,
        settings=settings,
        m1_bars=m1_in,
        conversion_bars=conversions,
    )
    oos_figures = None
    if len(held_out):
        oos_result = run_backtest(
            spec,
            held_out,
            symbol=symbol,
            settings=settings,
            m1_bars=m1_out,
            conversion_bars=conversions,
        )
        oos_figures = figures_summary(report_figures(oos_result))
    stamp = store.now().strftime("%Y%m%dT%H%M%S%fZ")
    report = report_dir / f"strategy-{strategy_id}-v{version.number}-{stamp}.html"
    info = DataInfo(
        source=data_info.source,
        format=data_info.format,
        fingerprint=data_info.fingerprint,
        rows=len(in_sample),
        timezone=data_info.timezone,
        warnings=data_info.warnings,
    )
    # The files are written (atomically) before the record: a crash in between leaves an orphan
    # report, never a record pointing at a missing or half-written file.
    stats = report_figures(result)
    figures = figures_summary(stats)
    verdict = evaluate_criteria(figures, oos_figures, criteria)
    shown = CriteriaView(
        verdict.met, tuple((c.name, c.required, c.actual, c.passed) for c in verdict.checks)
    )
    write_reports(result, report, data=info, figures=stats, criteria=shown)
    report_json = report.with_suffix(".json")
    html_hash, json_hash = file_sha256(report), file_sha256(report_json)
    if html_hash is None or json_hash is None:
        raise LifecycleError([f"report: cannot read back {report} after writing it"])
    with store.transaction():
        _not_retired(store, strategy_id, "backtested")
        _require(
            store.current_version(strategy_id).id == version.id,
            f"strategy {strategy_id}: edited while it was being backtested; backtest again",
        )
        run_id = store.insert_run(
            {
                "strategy_id": strategy_id,
                "version_id": version.id,
                "spec_hash": version.spec_hash,
                "symbol": symbol,
                "data": data,
                "data_fingerprint": data_info.fingerprint,
                "period_start": in_sample.index[0].to_pydatetime(),
                "period_end": in_sample.index[-1].to_pydatetime(),
                "bars": len(in_sample),
                "oos_start": held_out.index[0].to_pydatetime() if len(held_out) else None,
                "oos_end": held_out.index[-1].to_pydatetime() if len(held_out) else None,
                "oos_bars": len(held_out),
                "settings": settings.model_dump(mode="json"),
                "figures": figures,
                "oos_figures": oos_figures,
                "criteria": {**verdict.to_dict(), "criteria": criteria.model_dump()},
                "report_path": store.relative(report),
                "report_hash": html_hash,
                "report_json_path": store.relative(report_json),
                "report_json_hash": json_hash,
                "engine_version": ENGINE_VERSION,
                "elapsed_s": result.elapsed_s,
                "created_by": by,
            }
        )
        store.set_state(strategy_id, State.BACKTESTED)
        store.audit(
            by,
            "backtest.recorded",
            _subject(strategy_id),
            {
                "covers": run_coverage(store.run(run_id)),
                "run_id": run_id,
                "version_id": version.id,
                "spec_hash": version.spec_hash,
                "data_fingerprint": data_info.fingerprint,
                "report_hash": html_hash,
                "report_json_hash": json_hash,
                "criteria_met": verdict.met,
                "total_trades": figures["total_trades"],
                "total_net_profit": figures["total_net_profit"],
            },
        )
    return store.run(run_id)


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


# ---- approval -------------------------------------------------------------------------------------
def approve(
    store: Store,
    strategy_id: int,
    *,
    run_id: int,
    by: str,
    note: str = "",
    expires_in: timedelta = timedelta(days=DEFAULT_APPROVAL_DAYS),
    override_reason: str | None = None,
) -> Approval:
    """Approve the current version on one backtest report, for ``expires_in`` from now.

    Refused unless the run is the latest backtest of the current version and its report files
    still hash to what was recorded. A run that misses the promotion criteria needs
    ``override_reason``; the override is part of the approval and of its audit entry.
    """
    problems: list[str] = []
    if not by.strip():
        problems.append("by: name the person who approves")
    if not timedelta(0) < expires_in <= timedelta(days=MAX_APPROVAL_DAYS):
        problems.append(
            f"expires: an approval lasts more than 0 and at most {MAX_APPROVAL_DAYS} days"
        )
    if override_reason is not None and not override_reason.strip():
        problems.append("override: give the reason for approving despite the criteria")
    strategy = store.strategy(strategy_id)
    if strategy.state == State.RETIRED:
        problems.append(f"strategy {strategy_id}: it is retired; it cannot be approved")
    running = store.running_session(strategy_id)
    if running is not None:
        problems.append(
            f"strategy {strategy_id}: session {running.id} is running; stop it before approving again"
        )
    version = store.current_version(strategy_id)
    run = store.run(run_id)
    if run.strategy_id != strategy_id:
        problems.append(
            f"run {run_id}: it is a backtest of strategy {run.strategy_id}, not {strategy_id}"
        )
    elif run.version_id != version.id:
        tested = store.version(run.version_id)
        problems.append(
            f"run {run_id}: it tested version {tested.number}, but strategy {strategy_id} is at "
            f"version {version.number} (the spec changed); backtest version {version.number} and "
            "approve that run"
        )
    else:
        latest = store.latest_run(version.id)
        if latest is not None and latest.id != run.id:
            problems.append(
                f"run {run_id}: not the latest backtest of version {version.number} (run {latest.id} "
                f"is); approve run {latest.id}"
            )
        if run.spec_hash != version.spec_hash:
            problems.append(f"run {run_id}: its spec hash does not match version {version.number}")
        problems.extend(report_problems(store, run))
    verdict = run_criteria(run)
    if not verdict.met and override_reason is None:
        problems.append(
            f"run {run_id}: the promotion criteria are not met ("
            + "; ".join(verdict.failures())
            + "); approve with an override and its reason to go ahead anyway"
        )
    if problems:
        raise LifecycleError(problems)
    now = store.now()
    with store.transaction():
        approval_id = store.insert_approval(
            {
                "strategy_id": strategy_id,
                "version_id": version.id,
                "spec_hash": version.spec_hash,
                "run_id": run.id,
                "report_hash": run.report_hash,
                "approved_by": by,
                "approved_at": now,
                "note": note,
                "expires_at": now + expires_in,
                "criteria_met": verdict.met,
                "criteria": run.criteria,
                "override_reason": override_reason if not verdict.met else None,
            }
        )
        approval = store.approval(approval_id)
        store.set_state(strategy_id, State.APPROVED)
        store.audit(
            by,
            "approval.granted",
            _subject(strategy_id),
            {**approval.binding(), "criteria_failures": verdict.failures()},
        )
    return approval


def revoke(store: Store, strategy_id: int, *, by: str, reason: str) -> list[Approval]:
    """Revoke the strategy's valid approvals, and ask a running session to stop."""
    require_actor(by, "revokes")
    _require(bool(reason.strip()), "reason: say why the approval is revoked")
    store.strategy(strategy_id)  # an unknown id is named as such, not as "no approval"
    now = store.now()
    active = [a for a in store.approvals(strategy_id) if not a.revoked and a.expires_at > now]
    _require(bool(active), f"strategy {strategy_id}: no approval in force to revoke")
    with store.transaction():
        for approval in active:
            store.mark_revoked(approval.id, by=by, reason=reason)
            store.audit(
                by,
                "approval.revoked",
                _subject(strategy_id),
                {"approval_id": approval.id, "reason": reason},
            )
        running = store.running_session(strategy_id)
        if running is not None:
            _request_stop(store, running.id, by=by, reason=f"approval revoked: {reason}")
        if store.strategy(strategy_id).state in (
            State.APPROVED,
            State.PAPER,
            State.LIVE,
            State.STOPPED,
        ):
            store.set_state(strategy_id, State.BACKTESTED)
    return [store.approval(approval.id) for approval in active]


def retire(store: Store, strategy_id: int, *, by: str, reason: str) -> None:
    """Retire the strategy for good: it can no longer be backtested, approved or started."""
    require_actor(by, "retires the strategy")
    _require(bool(reason.strip()), "reason: say why the strategy is retired")
    _not_retired(store, strategy_id, "retired again")
    with store.transaction():
        store.set_state(strategy_id, State.RETIRED)
        store.audit(by, "strategy.retired", _subject(strategy_id), {"reason": reason})


# ---- what the audit log says ------------------------------------------------------------------------
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


def _state_after(action: str, payload: Mapping[str, Any], state: State | None) -> State | None:
    """The state an audited action leaves a strategy in (as the lifecycle's steps set it)."""
    if action in ("strategy.created", "strategy.edited"):
        return State.DRAFT
    if action == "backtest.recorded":
        return State.BACKTESTED
    if action == "approval.granted":
        return State.APPROVED
    if action == "approval.revoked" and state in (
        State.APPROVED,
        State.PAPER,
        State.LIVE,
        State.STOPPED,
    ):
        return State.BACKTESTED
    if action == "strategy.retired":
        return State.RETIRED
    if action == "live.started":
        return State.LIVE if payload.get("mode") == "live" else State.PAPER
    if action == "live.stopped" and state in (State.PAPER, State.LIVE):
        # A strategy running on two accounts is stopped when its last session stops.
        return state if payload.get("others_running") else State.STOPPED
    return state


def audit_state(store: Store, strategy_id: int) -> tuple[State | None, int | None]:
    """The strategy's state as its audit entries leave it, and the entry that set it last: what
    the state column must read (one statement can change a column; the keyed log it cannot)."""
    state: State | None = None
    seq: int | None = None
    for entry in store.audit_entries(subject=_subject(strategy_id)):
        after = _state_after(entry.action, entry.payload, state)
        if after != state:
            state, seq = after, entry.seq
    return state, seq


def state_problems(store: Store, strategy_id: int) -> list[str]:
    recorded, seq = audit_state(store, strategy_id)
    column = store.strategy(strategy_id).state
    if recorded == column:
        return []
    said = f"'{recorded}' (entry {seq})" if recorded is not None else "nothing (no entry)"
    return [
        f"strategy {strategy_id}'s state reads '{column}', but its audit log says {said}: "
        "changed outside nl_trader"
    ]


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


def trust_problems(store: Store, strategy_id: int, approval: Approval | None) -> list[str]:
    """Why the records a session relies on cannot be trusted: the audit chain does not verify,
    or the strategy's state, its approval or the approved run disagree with their entries."""
    problems = chain_problems(store) + state_problems(store, strategy_id)
    if approval is not None:
        problems += approval_audit_problems(store, approval)
        problems += run_audit_problems(store, store.run(approval.run_id))
    return problems


# ---- the gate ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountFacts:
    """The trading account a session would use, as ``account_info()`` reports it."""

    login: int | None
    server: str
    trade_mode: int
    company: str = ""

    @classmethod
    def from_account_info(cls, info: Mapping[str, Any]) -> AccountFacts:
        """The facts of ``account_info()``; an account that does not say its trade mode is taken
        for a REAL-money one (it then needs the confirmation), never for a demo."""
        login = info.get("login")
        trade_mode = info.get("trade_mode")
        return cls(
            login=int(login) if login else None,
            server=str(info.get("server", "")),
            trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL if trade_mode is None else int(trade_mode),
            company=str(info.get("company", "")),
        )

    @property
    def real_money(self) -> bool:
        return self.trade_mode == mt5.ACCOUNT_TRADE_MODE_REAL

    @property
    def trade_mode_name(self) -> str:
        return TRADE_MODES.get(self.trade_mode, str(self.trade_mode))


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer: allowed, or every reason it is not."""

    strategy_id: int
    allowed: bool
    reasons: tuple[str, ...]
    approval: Approval | None
    version: Version

    def raise_if_refused(self) -> None:
        if not self.allowed:
            raise GateRefusedError(self.strategy_id, self.reasons)


def check_can_go_live(
    store: Store,
    strategy_id: int,
    *,
    account: AccountFacts | None = None,
    confirm_real: int | None = None,
    profile: str | None = None,
    needs_assignment: bool = False,
    magic: int | None = None,
    taking_over: int | None = None,
) -> GateDecision:
    """May a session of this strategy start now, on this account? Every reason it may not.

    A real-money account (``trade_mode`` REAL) also needs ``confirm_real`` equal to its login
    number: the person typed which real account they mean. ``profile`` is the account profile
    (one running session per strategy and profile; with ``needs_assignment`` it must be one a
    person assigned to the strategy); ``magic`` the number the session would trade under (no
    other running session on the account may use it); ``taking_over`` a crashed session of the
    strategy that the new one replaces (it does not count as running).
    """
    from nl_trader.live.control import account_assigned, kill_file_reason

    strategy = store.strategy(strategy_id)
    version = store.current_version(strategy_id)
    reasons: list[str] = chain_problems(store) + state_problems(store, strategy_id)
    if State.RETIRED in (strategy.state, audit_state(store, strategy_id)[0]):
        reasons.append(f"strategy {strategy_id} is retired")
    killed = kill_file_reason()
    if killed is not None:
        reasons.append(f"{killed}: no session starts until it is removed")
    for running in store.running_sessions(strategy_id):
        if running.id == taking_over or profile not in (None, running.account_profile):
            continue
        reasons.append(
            f"session {running.id} of strategy {strategy_id} is already running on "
            f"{running.account_profile} (since {running.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    if (
        profile is not None
        and needs_assignment
        and not account_assigned(store, strategy_id, profile)
    ):
        reasons.append(
            f"strategy {strategy_id} is not assigned to account profile {profile!r}: a person "
            f"assigns it first (nl-trader live assign {strategy_id} --account {profile} --by NAME)"
        )
    if account is not None and magic is not None:
        for other in store.running_sessions():
            same_account = (other.account_login, other.account_server) == (
                account.login,
                account.server,
            )
            if other.id != taking_over and same_account and other.magic == magic:
                reasons.append(
                    f"session {other.id} (strategy {other.strategy_id}) already trades under "
                    f"magic {magic} on account {account.login}: two books may not share one"
                )
    approval = store.latest_approval(strategy_id)
    if approval is None:
        reasons.append(
            f"strategy {strategy_id} has no approval: backtest it and approve its report "
            f"(nl-trader approve {strategy_id} --report RUN --by NAME)"
        )
    else:
        reasons.extend(_approval_problems(store, approval, version))
    if account is not None and account.real_money:
        if confirm_real is None:
            reasons.append(
                f"account {account.login} on {account.server} is a REAL-money account: confirm "
                f"with --confirm-real {account.login}"
            )
        elif confirm_real != account.login:
            reasons.append(
                f"account {account.login} on {account.server} is a REAL-money account, and the "
                f"confirmation names account {confirm_real}"
            )
    return GateDecision(strategy_id, not reasons, tuple(reasons), approval, version)


def _approval_problems(store: Store, approval: Approval, version: Version) -> list[str]:
    problems: list[str] = []
    name = f"approval {approval.id}"
    if spec_hash(version.spec) != version.spec_hash:
        problems.append(
            f"version {version.number}'s spec does not hash to its recorded sha256 "
            f"{version.spec_hash[:12]}: it was changed outside nl_trader"
        )
    if approval.version_id != version.id or approval.spec_hash != version.spec_hash:
        approved = store.version(approval.version_id)
        problems.append(
            f"the spec changed since {name} (it approved version {approved.number}, sha256 "
            f"{approval.spec_hash[:12]}; the strategy is at version {version.number}, sha256 "
            f"{version.spec_hash[:12]}): backtest and approve version {version.number}"
        )
    if approval.revoked:
        at = approval.revoked_at.strftime("%Y-%m-%d %H:%M") if approval.revoked_at else "?"
        problems.append(
            f"{name} was revoked by {approval.revoked_by} at {at} UTC: {approval.revoke_reason}"
        )
    if store.now() >= approval.expires_at:
        problems.append(f"{name} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC")
    run = store.run(approval.run_id)
    if run.version_id != approval.version_id or run.spec_hash != approval.spec_hash:
        problems.append(f"{name} binds run {run.id}, which tested another version")
    latest = store.latest_run(approval.version_id)
    if latest is not None and latest.id != run.id:
        problems.append(
            f"a newer backtest (run {latest.id}) replaced the report {name} approved (run "
            f"{run.id}): approve run {latest.id}"
        )
    if approval.report_hash != run.report_hash:
        problems.append(f"{name} binds a report hash that run {run.id} did not record")
    problems.extend(report_problems(store, run, approval.report_hash))
    if not approval.criteria_met and not approval.override_reason:
        problems.append(f"{name} does not meet the promotion criteria and records no override")
    problems.extend(approval_audit_problems(store, approval))
    problems.extend(run_audit_problems(store, run))
    return problems


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


def record_refusal(
    store: Store, decision: GateDecision, *, by: str, account: AccountFacts | None
) -> None:
    """Put a refused start in the audit log, with its reasons."""
    require_actor(by, "asked to start the session")
    with store.transaction():
        store.audit(
            by,
            "live.refused",
            _subject(decision.strategy_id),
            {
                "reasons": list(decision.reasons),
                "approval_id": decision.approval.id if decision.approval else None,
                "account_login": account.login if account else None,
                "account_server": account.server if account else None,
                "trade_mode": account.trade_mode_name if account else None,
            },
        )


# ---- sessions ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionPlan:
    """What a session is to be, as ``open_session`` records it."""

    mode: str
    account_profile: str
    terminal: str
    account: AccountFacts
    confirm_real: int | None = None
    needs_assignment: bool = False
    taken_magics: frozenset[int] = frozenset()
    taking_over: int | None = None
    close_positions: bool = True


def open_session(store: Store, decision: GateDecision, *, by: str, plan: SessionPlan) -> int:
    """Record a session the gate allowed, as running; return its id.

    The gate is asked again inside the transaction (with the session's magic, allocated there),
    so two processes cannot both start one, nor two sessions share a magic on one account.
    """
    from nl_trader.live.control import session_magic

    strategy_id = decision.strategy_id
    require_actor(by, "starts the session")
    account = plan.account
    with store.transaction():
        version = store.current_version(strategy_id)
        magic = session_magic(
            store,
            strategy_id,
            version.id,
            version.spec.magic,
            login=account.login,
            server=account.server,
            allocate=True,
            taken=plan.taken_magics,
        )
        again = check_can_go_live(
            store,
            strategy_id,
            account=account,
            confirm_real=plan.confirm_real,
            profile=plan.account_profile,
            needs_assignment=plan.needs_assignment,
            magic=magic,
            taking_over=plan.taking_over,
        )
        if again.allowed and again.approval is not None:
            return _record_session(store, again, by=by, plan=plan, magic=magic)
    # Refused on the second asking (another process started one meanwhile, a revocation...):
    # recorded like any refusal, once the transaction that asked is over.
    record_refusal(store, again, by=by, account=account)
    raise GateRefusedError(strategy_id, again.reasons or ("no approval",))


def _record_session(
    store: Store, again: GateDecision, *, by: str, plan: SessionPlan, magic: int
) -> int:
    """Record the session the gate allowed (inside the transaction that asked it), as running."""
    strategy_id = again.strategy_id
    if again.approval is None:  # allowed implies an approval; never start without one
        raise GateRefusedError(strategy_id, ("no approval",))
    account = plan.account
    if plan.taking_over is not None:
        crashed = store.session(plan.taking_over)
        store.update_session(
            crashed.id,
            {
                "status": "stopped",
                "stopped_at": store.now(),
                "stop_reason": f"crashed (process {crashed.pid} on {crashed.host} is gone); "
                "taken over by a new session",
            },
        )
        store.audit(
            by,
            "live.crashed",
            _subject(strategy_id),
            {"session_id": crashed.id, "pid": crashed.pid, "host": crashed.host},
        )
    session_id = store.insert_session(
        {
            "strategy_id": strategy_id,
            "version_id": again.version.id,
            "approval_id": again.approval.id,
            "mode": plan.mode,
            "account_profile": plan.account_profile,
            "terminal": plan.terminal,
            "account_login": account.login,
            "account_server": account.server,
            "trade_mode": account.trade_mode_name,
            "real_confirmed": account.real_money and plan.confirm_real == account.login,
            "status": "running",
            "started_at": store.now(),
            "started_by": by,
            "heartbeat_at": store.now(),
            "magic": magic,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "close_positions": plan.close_positions,
        }
    )
    store.set_state(strategy_id, State.LIVE if plan.mode == "live" else State.PAPER)
    store.audit(
        by,
        "live.started",
        _subject(strategy_id),
        {
            "session_id": session_id,
            "mode": plan.mode,
            "approval_id": again.approval.id,
            "version_id": again.version.id,
            "spec_hash": again.version.spec_hash,
            "report_hash": again.approval.report_hash,
            "account_profile": plan.account_profile,
            "terminal": plan.terminal,
            "account_login": account.login,
            "account_server": account.server,
            "trade_mode": account.trade_mode_name,
            "magic": magic,
            "takes_over": plan.taking_over,
        },
    )
    return session_id


def _request_stop(store: Store, session_id: int, *, by: str, reason: str) -> None:
    store.update_session(session_id, {"stop_requested_at": store.now(), "stop_requested_by": by})
    session = store.session(session_id)
    store.audit(
        by,
        "live.stop_requested",
        _subject(session.strategy_id),
        {"session_id": session_id, "reason": reason},
    )


def request_stop(store: Store, session_id: int, *, by: str, reason: str = "") -> None:
    """Ask a running session to stop; it sees the flag at its next poll."""
    require_actor(by, "stops the session")
    session = store.session(session_id)
    _require(session.running, f"session {session_id}: not running ({session.stop_reason})")
    with store.transaction():
        _request_stop(store, session_id, by=by, reason=reason or "stop requested")


def close_session(
    store: Store, session_id: int, *, by: str, reason: str, summary: Mapping[str, Any]
) -> None:
    """Record that a session ended: stopped, why, and its figures."""
    with store.transaction():
        session = store.session(session_id)
        if not session.running:
            return
        store.update_session(
            session_id, {"status": "stopped", "stopped_at": store.now(), "stop_reason": reason}
        )
        others = [s for s in store.running_sessions(session.strategy_id) if s.id != session_id]
        strategy = store.strategy(session.strategy_id)
        if strategy.state in (State.PAPER, State.LIVE) and not others:
            store.set_state(session.strategy_id, State.STOPPED)
        store.audit(
            by,
            "live.stopped",
            _subject(session.strategy_id),
            {
                "session_id": session_id,
                "reason": reason,
                **dict(summary),
                "others_running": len(others),
            },
        )


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
