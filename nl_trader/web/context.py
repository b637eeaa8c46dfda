"""What every route shares: the app's settings, the store, the signed-in user, the CSRF check
and page rendering.

A route opens the store itself (``open_store``) inside its own thread: SQLite connections stay
in the thread that made them, and FastAPI runs each sync dependency and route in a thread of its
own choosing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from nl_trader.errors import NlTraderError
from nl_trader.lifecycle.steps import LLMFactory
from nl_trader.live.runner import SessionRunner
from nl_trader.store import RecordNotFoundError, Store, User
from nl_trader.store.store import Clock
from nl_trader.text import screened
from nl_trader.users import (
    may,
    require,
    roles_for,
    session_ended,
    sign_out,
    user_audit_problems,
)
from nl_trader.web.i18n import LANGUAGE_NAMES, Translator, from_accept_language, language_of
from nl_trader.web.jobs import BacktestJobs
from nl_trader.web.security import CSRF_FIELD, CSRF_HEADER, Session, SessionSigner

LANGUAGE_COOKIE = "nl_trader_lang"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NotSignedInError(NlTraderError):
    """The request needs a signed-in user and has none (or the user was disabled)."""


class CsrfError(NlTraderError):
    """A state-changing request without this session's CSRF token."""


@dataclass(frozen=True)
class WebSettings:
    """The app's settings, fixed when it is created (``create_app``)."""

    db_path: Path
    llm: LLMFactory
    four_eyes: bool
    secure_cookies: bool
    clock: Clock
    signer: SessionSigner
    templates: jinja2.Environment
    max_attempts: int
    runner: SessionRunner
    jobs: BacktestJobs
    config: Path | None = None
    data_dir: Path | None = None
    max_upload_bytes: int = 50 * 1024 * 1024

    @property
    def upload_dir(self) -> Path:
        """Where uploaded bar files are kept: a private folder beside the database (a run
        replays its file from there, for a paper session)."""
        return self.db_path.with_name(self.db_path.name + ".uploads")


def visible(value: Any) -> Any:
    """A value as a page shows it: text with its invisible characters written as escapes
    (markup a macro made is kept: each value inside it was shown this way already)."""
    if isinstance(value, Markup):
        return value
    return screened(value, lines=True) if isinstance(value, str) else value


def typed(text: str) -> str:
    """A textarea's text as the person typed it: a browser sends each line break as CR LF
    (HTML's form encoding), which is stored and shown as the line break it is."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def settings(request: Request) -> WebSettings:
    value: WebSettings = request.app.state.web
    return value


@contextmanager
def open_store(request: Request) -> Iterator[Store]:
    """The store, on the app's clock, for the length of a ``with`` block in this thread."""
    web = settings(request)
    store = Store(web.db_path, clock=web.clock)
    try:
        yield store
    finally:
        store.close()


def session_of(request: Request) -> Session:
    """The request's session (the session middleware made one if the cookie had none)."""
    session: Session = request.state.session
    return session


def replace_session(request: Request, session: Session) -> None:
    """Send a new session cookie with the response (a sign-in or a sign-out)."""
    request.state.session = session


def signed_in(request: Request) -> User:
    """The signed-in user, read afresh: a session from before the user last signed out, a
    disabled user, or one whose record no longer matches its audit log, is signed out."""
    session = session_of(request)
    user_id = session.user_id
    if user_id is None:
        raise NotSignedInError("sign in first")
    with open_store(request) as store:
        try:
            user = store.user(user_id)
        except RecordNotFoundError:
            raise NotSignedInError("sign in first") from None
        if session_ended(user, session.issued_at):
            raise NotSignedInError("signed out; sign in again")
        if user.disabled or user_audit_problems(store, user):
            raise NotSignedInError("sign in again")
    return user


SignedIn = Annotated[User, Depends(signed_in)]


def end_session(request: Request) -> None:
    """Sign out: this session and any copy of its cookie end; the browser gets a signed-out one."""
    try:
        user: User | None = signed_in(request)
    except NotSignedInError:
        user = None
    if user is not None:
        with open_store(request) as store:
            sign_out(store, user)
    replace_session(request, Session.new(settings(request).clock()))


def needs(action: str) -> Callable[[User], User]:
    """A dependency: the signed-in user, refused (403, naming the role needed) unless their role
    may do ``action``."""
    roles_for(action)  # an unknown action fails when the route is declared, not when it is used

    def allowed(user: SignedIn) -> User:
        require(user, action)
        return user

    allowed.__name__ = f"needs_{action.replace('.', '_')}"
    return allowed


async def csrf_checked(request: Request) -> None:
    """Refuse a state-changing request that does not carry this session's CSRF token (in the
    ``X-CSRF-Token`` header, or the ``csrf_token`` field of a form)."""
    if request.method not in _CHANGES:
        return
    token = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if token is None and content_type.startswith(_FORMS):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not session_of(request).csrf_matches(token):
        raise CsrfError(
            f"{CSRF_FIELD}: missing, or not this session's; reload the page and try again"
        )


def language_for(request: Request, user: User | None) -> str:
    """The user's language; before signing in, the language cookie's, else the browser's."""
    if user is not None:
        return language_of(user.language)
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie:
        return language_of(cookie)
    return from_accept_language(request.headers.get("accept-language"))


def page(
    request: Request,
    template: str,
    *,
    user: User | None = None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A rendered page (autoescaped: stored text is shown, never run) in the user's language."""
    language = language_for(request, user)
    html = (
        settings(request)
        .templates.get_template(template)
        .render(
            t=Translator(language),
            lang=language,
            languages=LANGUAGE_NAMES,
            csrf_field=CSRF_FIELD,
            csrf_token=session_of(request).csrf_token,
            user=user,
            may=lambda action: user is not None and may(user, action),
            four_eyes=settings(request).four_eyes,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status_code)
