"""The session pages: start a paper or live session through the gate (its refusal shown with
every reason on the strategy's page), watch one (status, P/L so far, its journal as entries
arrive: the page refreshes itself while it runs), stop it, and pull the kill switch.

Sessions run in this server's process (``live.runner``), each in a thread of its own with its own
store connection.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.lifecycle import GateRefusedError
from nl_trader.live.accounts import PAPER, load_profiles
from nl_trader.store import User
from nl_trader.web import views
from nl_trader.web.context import (
    csrf_checked,
    language_for,
    needs,
    open_store,
    page,
    settings,
)

router = APIRouter(dependencies=[Depends(csrf_checked)], include_in_schema=False)

Viewer = Annotated[User, Depends(needs("strategy.view"))]
Starter = Annotated[User, Depends(needs("session.start"))]
Stopper = Annotated[User, Depends(needs("session.stop"))]
Killer = Annotated[User, Depends(needs("session.kill"))]

SESSION_REFRESH_S = 2


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def live_profiles(request: Request) -> list[str]:
    """The configured account profiles other than paper (a live session's choices)."""
    try:
        return sorted(name for name in load_profiles(settings(request).config) if name != PAPER)
    except InvalidInputError:
        return []  # a broken configuration is said when a start uses it


def parse_login(text: str) -> int | None:
    """The REAL account's login typed to confirm it (None when left blank)."""
    value = text.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInputError(
            [f"confirm_real: {value!r} is not a login number; type the account's login"],
            what="session start",
        )
    return int(value)


def strategy_page(
    request: Request,
    user: User,
    strategy_id: int,
    *,
    status_code: int = 200,
    refusal: list[str] | None = None,
    problems: list[str] | None = None,
    just_stored: bool = False,
    account: str = PAPER,
) -> HTMLResponse:
    """The strategy's page, with a refused start's reasons or problems when there were."""
    with open_store(request) as store:
        view = views.strategy_view(store, strategy_id, language=language_for(request, user))
    return page(
        request,
        "strategy.html.j2",
        user=user,
        s=view,
        just_stored=just_stored,
        refusal=refusal or [],
        problems=problems or [],
        profiles=live_profiles(request),
        account=account,
        status_code=status_code,
    )


@router.post("/strategies/{strategy_id}/sessions", response_class=HTMLResponse)
def start(
    request: Request,
    strategy_id: int,
    user: Starter,
    account: Annotated[str, Form()] = PAPER,
    confirm_real: Annotated[str, Form()] = "",
) -> Response:
    """Start a session through the gate; refused with every reason on the strategy's page."""
    chosen = account.strip() or PAPER
    try:
        login = parse_login(confirm_real)
        session_id = settings(request).runner.start(
            strategy_id, account=chosen, by=user.name, confirm_real=login
        )
    except GateRefusedError as error:
        return strategy_page(
            request, user, strategy_id, status_code=409, refusal=list(error.reasons), account=chosen
        )
    except InvalidInputError as error:
        return strategy_page(
            request,
            user,
            strategy_id,
            status_code=400,
            problems=list(error.problems),
            account=chosen,
        )
    except NlTraderError as error:  # the terminal cannot be reached: said, never a traceback
        return strategy_page(
            request, user, strategy_id, status_code=502, problems=[str(error)], account=chosen
        )
    return _see(f"/sessions/{session_id}")


def _session_page(
    request: Request, user: User, session_id: int, *, problems: list[str], status_code: int = 200
) -> HTMLResponse:
    with open_store(request) as store:
        view: dict[str, Any] = views.session_view(store, session_id)
    return page(
        request,
        "session.html.j2",
        user=user,
        x=view,
        problems=problems,
        refresh_s=SESSION_REFRESH_S if view["running"] else None,
        status_code=status_code,
    )


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session(request: Request, session_id: int, user: Viewer) -> HTMLResponse:
    return _session_page(request, user, session_id, problems=[])


@router.post("/sessions/{session_id}/stop", response_class=HTMLResponse)
def stop(
    request: Request, session_id: int, user: Stopper, reason: Annotated[str, Form()] = ""
) -> Response:
    """Ask the session to stop: it stops at its next poll."""
    with open_store(request) as store:
        try:
            settings(request).runner.stop(store, session_id, by=user.name, reason=reason)
        except InvalidInputError as error:
            problems = list(error.problems)
        else:
            return _see(f"/sessions/{session_id}")
    return _session_page(request, user, session_id, problems=problems, status_code=400)


@router.post("/sessions/{session_id}/kill", response_class=HTMLResponse)
def kill(
    request: Request, session_id: int, user: Killer, reason: Annotated[str, Form()] = ""
) -> Response:
    """Pull the kill switch on the session's strategy: no new orders, pending ones cancelled,
    positions closed; it stops at its next poll."""
    with open_store(request) as store:
        try:
            settings(request).runner.kill(store, session_id, by=user.name, reason=reason)
        except InvalidInputError as error:
            problems = list(error.problems)
        else:
            return _see(f"/sessions/{session_id}")
    return _session_page(request, user, session_id, problems=problems, status_code=400)
