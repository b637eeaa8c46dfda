"""The JSON API: the pages' actions for scripts (OpenAPI at ``/docs``).

Sign in with ``POST /api/session`` (``GET /api/session`` first gives the CSRF token), keep the
session cookie, and send the token as ``X-CSRF-Token`` with every POST. A refusal answers
``{"detail": ..., "problems": [...]}``: 400 a lifecycle rule or bad input, 401 not signed in,
403 the role needed (or a missing CSRF token), 404 no such record, 429 sign-ins throttled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from nl_trader.lifecycle import DEFAULT_APPROVAL_DAYS, MAX_APPROVAL_DAYS, approve, retire, revoke
from nl_trader.lifecycle.steps import new_strategy
from nl_trader.store import User
from nl_trader.users import (
    add_user,
    authenticate,
    disable_user,
    require_other_author,
)
from nl_trader.web import views
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
Approver = Annotated[User, Depends(needs("strategy.approve"))]
Revoker = Annotated[User, Depends(needs("strategy.revoke"))]
Retirer = Annotated[User, Depends(needs("strategy.retire"))]
AuditReader = Annotated[User, Depends(needs("audit.view"))]
AuditVerifier = Annotated[User, Depends(needs("audit.verify"))]
Admin = Annotated[User, Depends(needs("user.manage"))]


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
