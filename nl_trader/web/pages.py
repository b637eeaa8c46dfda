"""The pages: sign in and out, strategies, a strategy, a new strategy, its spec edited as JSON
and two versions compared, approve, revoke, retire, a run's report, the audit log with verify,
and users. (Backtests: ``backtests.py``; sessions: ``sessions.py``.)

Each POST is a plain HTML form carrying the session's CSRF token (checked for the whole router)
and answered with a redirect (303) to the page that shows its result, or with the form again
and every problem.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import (
    DEFAULT_APPROVAL_DAYS,
    MAX_APPROVAL_DAYS,
    approve,
    edit,
    report_file,
    report_problems,
    retire,
    revoke,
)
from nl_trader.lifecycle.optimisations import adopt
from nl_trader.lifecycle.steps import new_strategy
from nl_trader.spec import MAX_SPEC_BYTES, parse_spec
from nl_trader.store import User
from nl_trader.users import (
    ROLES,
    AuthenticationError,
    LoginThrottledError,
    add_user,
    authenticate,
    disable_user,
    require_other_author,
    set_language,
)
from nl_trader.web import views
from nl_trader.web.context import (
    LANGUAGE_COOKIE,
    csrf_checked,
    end_session,
    needs,
    open_store,
    page,
    replace_session,
    session_of,
    settings,
    signed_in,
    typed,
)
from nl_trader.web.i18n import language_of
from nl_trader.web.security import Session
from nl_trader.web.sessions import strategy_page

router = APIRouter(dependencies=[Depends(csrf_checked)], include_in_schema=False)

Viewer = Annotated[User, Depends(needs("strategy.view"))]
Author = Annotated[User, Depends(needs("strategy.new"))]
Editor = Annotated[User, Depends(needs("strategy.edit"))]
Approver = Annotated[User, Depends(needs("strategy.approve"))]
Revoker = Annotated[User, Depends(needs("strategy.revoke"))]
Retirer = Annotated[User, Depends(needs("strategy.retire"))]
AuditReader = Annotated[User, Depends(needs("audit.view"))]
AuditVerifier = Annotated[User, Depends(needs("audit.verify"))]
Admin = Annotated[User, Depends(needs("user.manage"))]
# A report page runs the report's own scripts, in a sandbox: no access to this app's origin.
_REPORT_POLICY = (
    "sandbox allow-scripts; default-src 'self' 'unsafe-inline' data: blob:; frame-ancestors 'self'"
)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---- signing in and out ----------------------------------------------------------------------------
@router.get("/")
def home() -> RedirectResponse:
    return _see("/strategies")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html.j2", name="", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    with open_store(request) as store:
        try:
            user = authenticate(store, name, password)
        except AuthenticationError as error:
            status = 429 if isinstance(error, LoginThrottledError) else 401
            return page(request, "login.html.j2", status_code=status, name=name, error=str(error))
    # A new session (and CSRF token) on signing in: a token from before is worth nothing.
    replace_session(request, Session.new(settings(request).clock(), user.id))
    return _see("/strategies")


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    end_session(request)
    return _see("/login")


@router.post("/language")
def choose_language(request: Request, language: Annotated[str, Form()]) -> RedirectResponse:
    chosen = language_of(language)
    if session_of(request).user_id is not None:
        user = signed_in(request)
        with open_store(request) as store:
            set_language(store, user, language)
    response = _see(request.headers.get("referer", "/") if _same_site(request) else "/")
    response.set_cookie(LANGUAGE_COOKIE, chosen, samesite="lax", httponly=True, path="/")
    return response


def _same_site(request: Request) -> bool:
    referer = request.headers.get("referer", "")
    return referer.startswith(str(request.base_url))


# ---- strategies ------------------------------------------------------------------------------------
@router.get("/strategies", response_class=HTMLResponse)
def strategies(request: Request, user: Viewer) -> HTMLResponse:
    with open_store(request) as store:
        rows = views.strategies_view(store)
    return page(request, "strategies.html.j2", user=user, strategies=rows)


@router.get("/strategies/new", response_class=HTMLResponse)
def new_form(request: Request, user: Author) -> HTMLResponse:
    return page(request, "new.html.j2", user=user, text="", result=None)


@router.post("/strategies/new", response_class=HTMLResponse)
def new(
    request: Request,
    user: Author,
    text: Annotated[str, Form()],
    question: Annotated[list[str] | None, Form()] = None,
    answer: Annotated[list[str] | None, Form()] = None,
) -> Response:
    web = settings(request)
    with open_store(request) as store:
        made = new_strategy(
            store,
            typed(text),
            llm=web.llm,
            by=user.name,
            questions=[typed(item) for item in question or []],
            answers=[typed(item) for item in answer or []],
            max_attempts=web.max_attempts,
        )
    if made.version is not None:
        return _see(f"/strategies/{made.version.strategy_id}?new=1")
    return page(
        request,
        "new.html.j2",
        user=user,
        text=made.translation.text,
        result=made.translation,
        translation_id=made.translation_id,
        status_code=200,
    )


@router.get("/strategies/{strategy_id}", response_class=HTMLResponse)
def strategy(
    request: Request, strategy_id: int, user: Viewer, new: Annotated[int, Query()] = 0
) -> HTMLResponse:
    return strategy_page(request, user, strategy_id, just_stored=bool(new))


# ---- edit the spec, compare versions ---------------------------------------------------------------
def _edit_page(
    request: Request,
    user: User,
    strategy_id: int,
    *,
    spec_text: str | None = None,
    note: str = "",
    problems: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with open_store(request) as store:
        view = views.strategy_summary(store, store.strategy(strategy_id))
        if spec_text is None:
            current = store.current_version(strategy_id)
            spec_text = json.dumps(json.loads(current.spec_json), indent=2, ensure_ascii=False)
    return page(
        request,
        "edit.html.j2",
        user=user,
        s=view,
        spec_text=spec_text,
        note=note,
        problems=problems or [],
        status_code=status_code,
    )


@router.get("/strategies/{strategy_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, strategy_id: int, user: Editor) -> HTMLResponse:
    return _edit_page(request, user, strategy_id)


@router.post("/strategies/{strategy_id}/edit", response_class=HTMLResponse)
def edit_page(
    request: Request,
    strategy_id: int,
    user: Editor,
    spec: Annotated[str, Form(max_length=MAX_SPEC_BYTES)],
    note: Annotated[str, Form()] = "",
) -> Response:
    """Store the JSON as a new version (a draft: backtest and approve it again), or show the
    form again with every problem, field by field."""
    spec, note = typed(spec), typed(note)
    with open_store(request) as store:
        try:
            parsed = parse_spec(spec)
            edit(store, strategy_id, parsed, by=user.name, note=note)
        except InvalidInputError as error:
            problems = list(error.problems)
        else:
            return _see(f"/strategies/{strategy_id}")
    return _edit_page(
        request, user, strategy_id, spec_text=spec, note=note, problems=problems, status_code=400
    )


@router.get("/strategies/{strategy_id}/diff", response_class=HTMLResponse)
def diff(
    request: Request,
    strategy_id: int,
    user: Viewer,
    a: Annotated[int, Query(ge=1)],
    b: Annotated[int, Query(ge=1)],
) -> HTMLResponse:
    """What changed from version ``a`` to version ``b``, field by field."""
    with open_store(request) as store:
        view = views.diff_view(store, strategy_id, a, b)
    return page(request, "diff.html.j2", user=user, d=view)


# ---- approve, revoke, retire -----------------------------------------------------------------------
@router.get("/strategies/{strategy_id}/approve", response_class=HTMLResponse)
def approve_form(
    request: Request, strategy_id: int, user: Approver, run: Annotated[int | None, Query()] = None
) -> HTMLResponse:
    with open_store(request) as store:
        view = views.approval_form_view(store, strategy_id, run)
    return page(
        request,
        "approve.html.j2",
        user=user,
        a=view,
        problems=[],
        note="",
        override_reason="",
        expires_days=DEFAULT_APPROVAL_DAYS,
        max_days=MAX_APPROVAL_DAYS,
    )


@router.post("/strategies/{strategy_id}/approve", response_class=HTMLResponse)
def approve_page(
    request: Request,
    strategy_id: int,
    user: Approver,
    run_id: Annotated[int, Form()],
    expires_days: Annotated[float, Form(gt=0, le=MAX_APPROVAL_DAYS)] = DEFAULT_APPROVAL_DAYS,
    note: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    with open_store(request) as store:
        try:
            if settings(request).four_eyes:
                require_other_author(store, user, strategy_id)
            approve(
                store,
                strategy_id,
                run_id=run_id,
                by=user.name,
                note=note,
                expires_in=timedelta(days=expires_days),
                override_reason=override_reason if override_reason.strip() else None,
            )
        except InvalidInputError as error:
            view = views.approval_form_view(store, strategy_id, run_id)
            return page(
                request,
                "approve.html.j2",
                user=user,
                status_code=400,
                a=view,
                problems=list(error.problems),
                note=note,
                override_reason=override_reason,
                expires_days=expires_days,
                max_days=MAX_APPROVAL_DAYS,
            )
    return _see(f"/strategies/{strategy_id}")


@router.post("/strategies/{strategy_id}/revoke")
def revoke_page(
    request: Request, strategy_id: int, user: Revoker, reason: Annotated[str, Form()] = ""
) -> RedirectResponse:
    with open_store(request) as store:
        revoke(store, strategy_id, by=user.name, reason=reason)
    return _see(f"/strategies/{strategy_id}")


@router.post("/strategies/{strategy_id}/retire")
def retire_page(
    request: Request, strategy_id: int, user: Retirer, reason: Annotated[str, Form()] = ""
) -> RedirectResponse:
    with open_store(request) as store:
        retire(store, strategy_id, by=user.name, reason=reason)
    return _see(f"/strategies/{strategy_id}")


@router.post("/optimisations/{optimisation_id}/adopt")
def adopt_page(request: Request, optimisation_id: int, user: Editor) -> RedirectResponse:
    """Make an optimisation's chosen set the strategy's new (draft) version."""
    with open_store(request) as store:
        version = adopt(store, optimisation_id, by=user.name)
    return _see(f"/strategies/{version.strategy_id}")


@router.get("/runs/{run_id}/report")
def report(request: Request, run_id: int, user: Viewer) -> Response:
    """A run's HTML report, as recorded: refused, with the reason, if it changed or is gone."""
    with open_store(request) as store:
        run = store.run(run_id)
        problems = report_problems(store, run)
        path = report_file(store, run)
    if problems:
        raise InvalidInputError(problems, what="report")
    response = FileResponse(path, media_type="text/html")
    response.headers["Content-Security-Policy"] = _REPORT_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # shown inside its run's page
    return response


# ---- audit -----------------------------------------------------------------------------------------
@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: AuditReader) -> HTMLResponse:
    with open_store(request) as store:
        entries = views.audit_view(store)
    return page(request, "audit.html.j2", user=user, entries=entries, check=None)


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, user: AuditVerifier) -> HTMLResponse:
    with open_store(request) as store:
        check = views.verify_view(store)
        entries = views.audit_view(store)
    return page(
        request,
        "audit.html.j2",
        user=user,
        entries=entries,
        check=check,
        status_code=200 if check["ok"] else 409,
    )


# ---- users -------------------------------------------------------------------------------------------
@router.get("/users", response_class=HTMLResponse)
def users(request: Request, user: Admin) -> HTMLResponse:
    with open_store(request) as store:
        rows = [views.user_view(item) for item in store.users()]
    return page(request, "users.html.j2", user=user, users=rows, roles=ROLES, problems=[])


@router.post("/users", response_class=HTMLResponse)
def add_user_page(
    request: Request,
    user: Admin,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
) -> Response:
    with open_store(request) as store:
        try:
            add_user(store, name, password, role, by=user.name)
        except InvalidInputError as error:
            rows = [views.user_view(item) for item in store.users()]
            return page(
                request,
                "users.html.j2",
                user=user,
                users=rows,
                roles=ROLES,
                problems=list(error.problems),
                status_code=400,
            )
    return _see("/users")


@router.post("/users/{user_id}/disable")
def disable_user_page(request: Request, user_id: int, user: Admin) -> RedirectResponse:
    with open_store(request) as store:
        disable_user(store, store.user(user_id).name, by=user.name)
    return _see("/users")
