"""The lifecycle's steps: register, edit, backtest, approve, revoke, retire.

Each is one transaction with its audit entry; the entry moves the state (``states.record``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nl_trader.backtest.engine import ENGINE_VERSION, BacktestSettings, Progress, run_backtest
from nl_trader.backtest.report import CriteriaView, report_figures, write_reports
from nl_trader.data.run_data import DataInfo, RunData, load_run_data
from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle.common import (
    DEFAULT_APPROVAL_DAYS,
    MAX_APPROVAL_DAYS,
    LifecycleError,
    _not_retired,
    _require,
    _subject,
    file_sha256,
    require_actor,
    stored_spec_json,
)
from nl_trader.lifecycle.criteria import PromotionCriteria, evaluate_criteria, figures_summary
from nl_trader.lifecycle.integrity import report_problems, run_coverage, run_criteria
from nl_trader.lifecycle.sessions import _request_stop
from nl_trader.lifecycle.states import record
from nl_trader.spec import StrategySpec, spec_hash
from nl_trader.store import (
    Approval,
    BacktestRun,
    State,
    Store,
    Version,
)

if TYPE_CHECKING:  # translating loads langchain; the lifecycle does not need it
    from langchain_core.language_models import BaseChatModel

    from nl_trader.translate.translate import Translation


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
    optimisation_id: int | None = None,
) -> Version:
    """Make a new version of the strategy (parent: the current one). It needs a new backtest and
    a new approval before it can trade. ``optimisation_id``: the optimisation whose chosen set
    it is (``lifecycle.optimisations.adopt``)."""
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
                "optimisation_id": optimisation_id,
            }
        )
        record(
            store,
            by,
            "strategy.edited",
            strategy_id,
            {
                "strategy_id": strategy_id,
                "version_id": version_id,
                "version": current.number + 1,
                "parent_version_id": current.id,
                "parent_spec_hash": current.spec_hash,
                "spec_hash": spec_hash(spec),
                "note": note,
                **({"optimisation_id": optimisation_id} if optimisation_id is not None else {}),
            },
        )
    return store.version(version_id)


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
    progress: Progress | None = None,
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
        progress=progress,
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
    made_by = store.optimisation(version.optimisation_id) if version.optimisation_id else None
    verdict = evaluate_criteria(
        figures, oos_figures, criteria, None if made_by is None else (made_by.overfitting or {})
    )
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
        record(
            store,
            by,
            "backtest.recorded",
            strategy_id,
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


def backtest_from(
    store: Store,
    strategy_id: int,
    data: RunData,
    *,
    by: str,
    settings: BacktestSettings | None = None,
    criteria: PromotionCriteria | None = None,
    report_dir: Path | None = None,
    progress: Progress | None = None,
    names: Mapping[str, str] | None = None,
) -> BacktestRun:
    """Backtest the strategy's current version on the bars ``data`` describes (loaded and
    checked by ``load_run_data``; ``names`` names its fields in errors as the face calls them),
    reports in ``report_dir`` (default: ``reports/`` beside the store): the CLI's
    ``backtest-strategy`` and the web app's backtest page."""
    settings = settings or BacktestSettings()
    spec = store.current_version(strategy_id).spec
    loaded = load_run_data(data, spec.timeframe, settings.currency, names=names)
    return backtest(
        store,
        strategy_id,
        loaded.bars,
        data=data.to_record(),
        data_info=loaded.info,
        report_dir=report_dir or store.path.parent / "reports",
        by=by,
        settings=settings,
        criteria=criteria,
        m1_bars=loaded.m1_bars,
        conversion_bars=loaded.conversion_bars,
        progress=progress,
    )


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
        record(
            store,
            by,
            "approval.granted",
            strategy_id,
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
            record(
                store,
                by,
                "approval.revoked",
                strategy_id,
                {"approval_id": approval.id, "reason": reason},
            )
        running = store.running_session(strategy_id)
        if running is not None:
            _request_stop(store, running.id, by=by, reason=f"approval revoked: {reason}")
    return [store.approval(approval.id) for approval in active]


def retire(store: Store, strategy_id: int, *, by: str, reason: str) -> None:
    """Retire the strategy for good: it can no longer be backtested, approved or started."""
    require_actor(by, "retires the strategy")
    _require(bool(reason.strip()), "reason: say why the strategy is retired")
    _not_retired(store, strategy_id, "retired again")
    with store.transaction():
        record(store, by, "strategy.retired", strategy_id, {"reason": reason})


# ---- a new strategy from a trader's text (the CLI's `new`, the web app's page) --------------------
LLMFactory = Callable[[], "BaseChatModel"]
"""Makes the chat model a translation uses (``translate.llm.make_llm`` bound to a choice)."""
MAX_ANSWER_CHARS = 1_000


def with_answers(text: str, questions: Sequence[str], answers: Sequence[str]) -> str:
    """The strategy text followed by each clarifying question and the trader's answer to it, so
    the next translation reads the answers as part of the trader's words."""
    if len(questions) != len(answers):
        raise InvalidInputError(
            [f"answers: {len(answers)} given for {len(questions)} question(s)"], what="answers"
        )
    problems = [
        f"answers.{index}: {len(answer)} characters; at most {MAX_ANSWER_CHARS}"
        for index, answer in enumerate(answers)
        if len(answer) > MAX_ANSWER_CHARS
    ]
    if problems:
        raise InvalidInputError(problems, what="answers")
    pairs = [(q.strip(), a.strip()) for q, a in zip(questions, answers, strict=True)]
    answered = [f"{q}\n{a}" for q, a in pairs if a]
    if not answered:
        return text.strip()
    return text.strip() + "\n\n" + "\n\n".join(answered)


@dataclass(frozen=True)
class NewStrategy:
    """A translation's outcome as stored: the strategy's version 1 when it gave a spec."""

    translation: Translation
    translation_id: int
    version: Version | None


def new_strategy(
    store: Store,
    text: str,
    *,
    llm: LLMFactory,
    by: str,
    questions: Sequence[str] = (),
    answers: Sequence[str] = (),
    max_attempts: int = 3,
) -> NewStrategy:
    """Translate a strategy text (with any answers to the model's questions) and store it: a
    spec becomes a new strategy in draft; a question or a refusal is stored as the attempt only."""
    from nl_trader.translate.translate import translate

    full_text = with_answers(text, questions, answers)
    result = translate(full_text, llm(), max_attempts=max_attempts)
    translation_id, version = register_translation(store, result, by=by)
    return NewStrategy(result, translation_id, version)
