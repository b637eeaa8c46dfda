"""The JSON API: the pages' actions for scripts (OpenAPI at ``/docs``).

Sign in with ``POST /api/session`` (``GET /api/session`` first gives the CSRF token), keep the
session cookie, and send the token as ``X-CSRF-Token`` with every POST. A refusal answers
``{"detail": ..., "problems": [...]}``: 400 a lifecycle rule or bad input, 401 not signed in,
403 the role needed (or a missing CSRF token), 404 no such record, 409 the gate refused a
session (every reason in ``problems``), 413 a body too large, 429 sign-ins throttled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from nl_trader.data.run_data import DEFAULT_SAMPLE_BARS, RunData
from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import (
    DEFAULT_APPROVAL_DAYS,
    MAX_APPROVAL_DAYS,
    approve,
    edit,
    load_criteria,
    retire,
    revoke,
)
from nl_trader.lifecycle.steps import new_strategy
from nl_trader.spec import parse_spec
from nl_trader.store import User
from nl_trader.users import (
    add_user,
    authenticate,
    disable_user,
    require_other_author,
)
from nl_trader.web import views
from nl_trader.web.backtests import data_fields, folder_path, settings_from
from nl_trader.web.context import (
    NotSignedInError,
    csrf_checked,
    end_session,
    needs,
    open_store,
    replace_session,
    session_of,
    settings,
    signed_in,
)
from nl_trader.web.security import Session

router = APIRouter(prefix="/api", dependencies=[Depends(csrf_checked)], tags=["api"])

Viewer = Annotated[User, Depends(needs("strategy.view"))]
Author = Annotated[User, Depends(needs("strategy.new"))]
Editor = Annotated[User, Depends(needs("strategy.edit"))]
Backtester = Annotated[User, Depends(needs("strategy.backtest"))]
Approver = Annotated[User, Depends(needs("strategy.approve"))]
Revoker = Annotated[User, Depends(needs("strategy.revoke"))]
Retirer = Annotated[User, Depends(needs("strategy.retire"))]
AuditReader = Annotated[User, Depends(needs("audit.view"))]
AuditVerifier = Annotated[User, Depends(needs("audit.verify"))]
Admin = Annotated[User, Depends(needs("user.manage"))]
Starter = Annotated[User, Depends(needs("session.start"))]
Stopper = Annotated[User, Depends(needs("session.stop"))]
Killer = Annotated[User, Depends(needs("session.kill"))]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignIn(_Body):
    name: str = Field(max_length=200)
    password: str = Field(max_length=1_000)


class NewStrategyRequest(_Body):
    text: str = Field(description="The strategy in plain words (English or Chinese).")
    questions: list[str] = Field(
        default_factory=list, description="The model's clarifying questions being answered."
    )
    answers: list[str] = Field(
        default_factory=list, description="One answer per question, in order."
    )


class ApproveRequest(_Body):
    run_id: int = Field(description="The backtest run whose report is approved.")
    note: str = ""
    expires_days: float = Field(default=DEFAULT_APPROVAL_DAYS, gt=0, le=MAX_APPROVAL_DAYS)
    override_reason: str | None = Field(
        default=None, description="Approve although the promotion criteria are not met: why."
    )


class ReasonRequest(_Body):
    reason: str


class EditRequest(_Body):
    spec: dict[str, Any] = Field(description="The new StrategySpec, as JSON.")
    note: str = Field(default="", description="What changed, and why.")


class BacktestRequest(_Body):
    source: str = Field(
        default="sample", description="sample, or folder (a file of the data folder)."
    )
    folder_file: str = Field(default="", description="The data folder's file (source folder).")
    start: str | None = Field(default=None, description="First day, YYYY-MM-DD (UTC).")
    end: str | None = Field(default=None, description="Last day, YYYY-MM-DD (UTC).")
    sample_bars: int = Field(default=DEFAULT_SAMPLE_BARS, description="Bars of the sample.")
    timezone: str | None = None
    timeframe: str | None = None
    spread: float | None = Field(default=None, description="Spread in points (None: the data's).")
    commission: float | None = Field(default=None, description="Commission per lot, per side.")
    deposit: float = 10_000.0
    currency: str = "USD"
    leverage: int = 100
    account_mode: str = "hedging"


class StartSessionRequest(_Body):
    account: str = Field(default="paper", description="The account profile (paper built in).")
    confirm_real: int | None = Field(
        default=None, description="A REAL-money account's login, typed to confirm it."
    )


class StopRequest(_Body):
    reason: str = ""


class KillRequest(_Body):
    reason: str
    close_positions: bool = True


class NewUserRequest(_Body):
    name: str
    password: str = Field(max_length=1_000)
    role: str
    language: str = "en"


# ---- session ---------------------------------------------------------------------------------------
def _session_body(request: Request, user: User | None) -> dict[str, Any]:
    return {
        "user": None if user is None else views.user_view(user),
        "csrf_token": session_of(request).csrf_token,
    }


@router.get("/session")
def get_session(request: Request) -> dict[str, Any]:
    """Who is signed in (null before signing in) and this session's CSRF token."""
    try:
        user = signed_in(request)
    except NotSignedInError:
        user = None
    return _session_body(request, user)


@router.post("/session")
def sign_in(request: Request, body: SignIn) -> dict[str, Any]:
    """Sign in: a new session cookie, and its new CSRF token."""
    with open_store(request) as store:
        user = authenticate(store, body.name, body.password)
    replace_session(request, Session.new(settings(request).clock(), user.id))
    return _session_body(request, user)


@router.post("/session/end")
def sign_out(request: Request) -> dict[str, Any]:
    """Sign out: this session (and any copy of its cookie) ends."""
    end_session(request)
    return _session_body(request, None)


# ---- strategies ------------------------------------------------------------------------------------
@router.get("/strategies")
def list_strategies(request: Request, user: Viewer) -> list[dict[str, Any]]:
    """Every strategy with its state, current version, latest run and approval."""
    with open_store(request) as store:
        return views.strategies_view(store)


@router.post("/strategies")
def create_strategy(request: Request, user: Author, body: NewStrategyRequest) -> dict[str, Any]:
    """Translate a text (with answers to earlier questions) and store it: ``outcome`` is spec (a
    new strategy in draft), clarify (``questions`` to answer) or refuse (``unsupported``)."""
    web = settings(request)
    with open_store(request) as store:
        made = new_strategy(
            store,
            body.text,
            llm=web.llm,
            by=user.name,
            questions=body.questions,
            answers=body.answers,
            max_attempts=web.max_attempts,
        )
    result = made.translation
    return {
        "outcome": result.outcome,
        "translation_id": made.translation_id,
        "strategy_id": None if made.version is None else made.version.strategy_id,
        "spec_hash": None if made.version is None else made.version.spec_hash,
        "text": result.text,
        "language": result.language,
        "message": result.message,
        "explanation": result.explanation,
        "questions": list(result.questions),
        "missing": list(result.missing),
        "unsupported": list(result.unsupported),
        "defaults_filled": list(result.defaults_filled),
        "model": result.model,
        "attempts": result.attempts,
    }


@router.get("/strategies/{strategy_id}")
def get_strategy(
    request: Request, strategy_id: int, user: Viewer, language: Annotated[str, Query()] = ""
) -> dict[str, Any]:
    """A strategy: text, explain-back, versions, runs, approvals, sessions and the gate."""
    with open_store(request) as store:
        return views.strategy_view(store, strategy_id, language=language or user.language)


@router.get("/strategies/{strategy_id}/approval")
def approval_form(
    request: Request,
    strategy_id: int,
    user: Approver,
    run_id: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    """What an approval would bind: the current version's spec hash and the run's report hash,
    with each promotion criterion met or not."""
    with open_store(request) as store:
        return views.approval_form_view(store, strategy_id, run_id)


@router.post("/strategies/{strategy_id}/approve")
def approve_strategy(
    request: Request, strategy_id: int, user: Approver, body: ApproveRequest
) -> dict[str, Any]:
    """Approve the current version on one run's report (both hashes bound)."""
    with open_store(request) as store:
        if settings(request).four_eyes:
            require_other_author(store, user, strategy_id)
        approval = approve(
            store,
            strategy_id,
            run_id=body.run_id,
            by=user.name,
            note=body.note,
            expires_in=timedelta(days=body.expires_days),
            override_reason=body.override_reason,
        )
        return views.approval_view(store, approval)


@router.post("/strategies/{strategy_id}/revoke")
def revoke_strategy(
    request: Request, strategy_id: int, user: Revoker, body: ReasonRequest
) -> list[dict[str, Any]]:
    """Revoke the strategy's approvals in force; a running session is asked to stop."""
    with open_store(request) as store:
        revoked = revoke(store, strategy_id, by=user.name, reason=body.reason)
        return [views.approval_view(store, approval) for approval in revoked]


@router.post("/strategies/{strategy_id}/retire")
def retire_strategy(
    request: Request, strategy_id: int, user: Retirer, body: ReasonRequest
) -> dict[str, Any]:
    """Retire the strategy for good."""
    with open_store(request) as store:
        retire(store, strategy_id, by=user.name, reason=body.reason)
        return views.strategy_summary(store, store.strategy(strategy_id))


@router.post("/strategies/{strategy_id}/edit")
def edit_strategy(
    request: Request, strategy_id: int, user: Editor, body: EditRequest
) -> dict[str, Any]:
    """Store a new version of the spec (a draft: it needs its own backtest and approval)."""
    spec = parse_spec(body.spec)
    with open_store(request) as store:
        version = edit(store, strategy_id, spec, by=user.name, note=body.note)
        return {
            "strategy_id": strategy_id,
            "version": version.number,
            "spec_hash": version.spec_hash,
            "state": store.strategy(strategy_id).state.value,
        }


@router.get("/strategies/{strategy_id}/diff")
def diff_versions(
    request: Request,
    strategy_id: int,
    user: Viewer,
    a: Annotated[int, Query(ge=1)],
    b: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b``: each field, old and new (JSON text;
    null where one side lacks the field)."""
    with open_store(request) as store:
        return views.diff_view(store, strategy_id, a, b)


# ---- backtests ---------------------------------------------------------------------------------------
@router.post("/strategies/{strategy_id}/backtests")
def start_backtest(
    request: Request, strategy_id: int, user: Backtester, body: BacktestRequest
) -> dict[str, Any]:
    """Start backtesting the current version (the bundled sample or a data folder file) in
    the background; poll ``GET /api/backtests/{job_id}`` for its progress and run."""
    web = settings(request)
    names = data_fields(body.source)
    if body.source not in ("sample", "folder"):
        raise InvalidInputError(
            ["source: sample or folder (upload a file from the backtest page)"], what="run data"
        )
    chosen = settings_from(
        {
            "currency": body.currency.strip().upper(),
            "account_mode": body.account_mode,
            "spread_points": body.spread,
            "commission_per_lot": body.commission,
            "deposit": body.deposit,
            "leverage": body.leverage,
        }
    )
    with open_store(request) as store:
        symbol = store.current_version(strategy_id).spec.symbols[0]
    path = folder_path(web, body.folder_file) if body.source == "folder" else None
    data = RunData.of(
        "sample" if path is None else str(path),
        symbol,
        start=body.start,
        end=body.end,
        sample_size=body.sample_bars,
        timezone=body.timezone if path is not None else None,
        timeframe=body.timeframe,
        names=names,
    )
    job = web.jobs.start(
        strategy_id,
        data,
        by=user.name,
        settings=chosen,
        criteria=load_criteria(web.config, {}),
        names=names,
        source_label=body.source if path is None else f"data folder {body.folder_file}",
    )
    return job.to_dict()


@router.get("/backtests/{job_id}")
def backtest_job(request: Request, job_id: str, user: Viewer) -> dict[str, Any]:
    """A backtest job: running (``percent``), done (``run_id``) or failed (``problems``)."""
    return settings(request).jobs.get(job_id).to_dict()


@router.get("/runs/{run_id}")
def get_run(request: Request, run_id: int, user: Viewer) -> dict[str, Any]:
    """A run: figures in and out of sample, each criterion, the data's format and warnings."""
    with open_store(request) as store:
        return views.run_page_view(store, run_id)


# ---- sessions ----------------------------------------------------------------------------------------
@router.post("/strategies/{strategy_id}/sessions")
def start_session(
    request: Request, strategy_id: int, user: Starter, body: StartSessionRequest
) -> dict[str, Any]:
    """Start a session through the gate, run by this server (refused: 409 with every reason)."""
    session_id = settings(request).runner.start(
        strategy_id, account=body.account, by=user.name, confirm_real=body.confirm_real
    )
    with open_store(request) as store:
        return _session_summary(store, session_id)


def _session_summary(store: Any, session_id: int) -> dict[str, Any]:
    view = views.session_view(store, session_id)
    view.pop("journal")
    return view


@router.get("/sessions/{session_id}")
def get_session_record(request: Request, session_id: int, user: Viewer) -> dict[str, Any]:
    """A session: status and why it stopped, the account, P/L so far, counts by kind."""
    with open_store(request) as store:
        return _session_summary(store, session_id)


@router.get("/sessions/{session_id}/journal")
def get_journal(
    request: Request,
    session_id: int,
    user: Viewer,
    after: Annotated[int, Query(ge=0, description="Only entries with a larger id.")] = 0,
) -> list[dict[str, Any]]:
    """The session's journal in arrival order: orders sent, statuses, executions, notes."""
    with open_store(request) as store:
        store.session(session_id)  # an unknown id is named as such
        return [
            {
                "id": entry.id,
                "kind": entry.kind,
                "order_id": entry.order_id,
                "state": entry.state,
                "payload": entry.payload,
                "event_time": None if entry.event_time is None else entry.event_time.isoformat(),
                "recorded_at": entry.recorded_at.isoformat(),
            }
            for entry in store.journal(session_id)
            if entry.id > after
        ]


@router.post("/sessions/{session_id}/stop")
def stop_session(
    request: Request, session_id: int, user: Stopper, body: StopRequest
) -> dict[str, Any]:
    """Ask the session to stop: it stops at its next poll."""
    with open_store(request) as store:
        settings(request).runner.stop(store, session_id, by=user.name, reason=body.reason)
        return _session_summary(store, session_id)


@router.post("/sessions/{session_id}/kill")
def kill_session(
    request: Request, session_id: int, user: Killer, body: KillRequest
) -> list[dict[str, Any]]:
    """Pull the kill switch on the session's strategy: its running sessions stop at their next
    poll, pending orders cancelled, positions closed unless ``close_positions`` is false."""
    with open_store(request) as store:
        marked = settings(request).runner.kill(
            store,
            session_id,
            by=user.name,
            reason=body.reason,
            close_positions=body.close_positions,
        )
        return [views.session_record_view(item) for item in marked]


# ---- audit -------------------------------------------------------------------------------------------
@router.get("/audit")
def audit(
    request: Request,
    user: AuditReader,
    limit: Annotated[int, Query(ge=1, le=10_000)] = views.AUDIT_PAGE_ENTRIES,
) -> list[dict[str, Any]]:
    """The newest audit entries, newest first."""
    with open_store(request) as store:
        return views.audit_view(store, limit=limit)


@router.get("/audit/verify")
def audit_verify(request: Request, user: AuditVerifier) -> dict[str, Any]:
    """``nl-trader audit --verify``: the keyed chain, then every record against it."""
    with open_store(request) as store:
        return views.verify_view(store)


# ---- users -------------------------------------------------------------------------------------------
@router.get("/users")
def list_users(request: Request, user: Admin) -> list[dict[str, Any]]:
    """Every user (never a password or its hash)."""
    with open_store(request) as store:
        return [views.user_view(item) for item in store.users()]


@router.post("/users")
def create_user(request: Request, user: Admin, body: NewUserRequest) -> dict[str, Any]:
    """Add a user with a role."""
    with open_store(request) as store:
        made = add_user(
            store, body.name, body.password, body.role, by=user.name, language=body.language
        )
    return views.user_view(made)


@router.post("/users/{user_id}/disable")
def disable(request: Request, user_id: int, user: Admin) -> dict[str, Any]:
    """Disable a user: they can no longer sign in, and their session ends."""
    with open_store(request) as store:
        return views.user_view(disable_user(store, store.user(user_id).name, by=user.name))
