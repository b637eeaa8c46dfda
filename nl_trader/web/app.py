"""The web app: ``create_app(db_path)`` gives the FastAPI application ``nl-trader serve`` runs.

Server-rendered pages (Jinja2, plain HTML forms, one stylesheet; no JavaScript) and a JSON API
under ``/api`` (its OpenAPI page at ``/docs``) for the same actions. Both are thin: each route
checks the signed-in user's role, calls one library function and renders its result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from nl_trader import __version__
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.lifecycle import GateRefusedError, read_config
from nl_trader.lifecycle.steps import LLMFactory
from nl_trader.live.runner import SessionRunner, TerminalFactory, default_terminal
from nl_trader.store import RecordNotFoundError, Store, utc_now
from nl_trader.store.store import Clock
from nl_trader.users import (
    AuthenticationError,
    LoginThrottledError,
    PermissionDeniedError,
    four_eyes_required,
)
from nl_trader.web.api import router as api_router
from nl_trader.web.backtests import router as backtests_router
from nl_trader.web.context import (
    CsrfError,
    NotSignedInError,
    WebSettings,
    page,
    session_of,
    signed_in,
    visible,
)
from nl_trader.web.format import register as register_filters
from nl_trader.web.jobs import BacktestJobs, NoSuchJobError
from nl_trader.web.pages import router as pages_router
from nl_trader.web.security import (
    COOKIE_NAME,
    SESSION_LIFETIME,
    Session,
    SessionSigner,
    load_session_key,
    session_key_path,
)
from nl_trader.web.sessions import router as sessions_router

_HERE = Path(__file__).resolve().parent
# Our pages load nothing from elsewhere and run no script; a report page sets its own policy.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# FastAPI's API pages (Swagger UI, ReDoc) load their scripts from a CDN: they need it online, and
# only they may run them. /openapi.json itself works offline.
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src blob:; frame-ancestors 'none'"
)


def _llm_factory(llm: str | LLMFactory | None) -> LLMFactory:
    """The model the app translates with: a factory, a choice (``scripted:PATH``, ``openai``),
    or, by default, what ``nl-trader new`` would use."""
    if callable(llm):
        return llm
    from nl_trader.translate.llm import default_llm_choice

    choice = llm or default_llm_choice() or "scripted:examples"

    def make() -> Any:
        from nl_trader.translate.llm import make_llm

        return make_llm(choice)

    return make


def create_app(
    db_path: Path | str,
    *,
    llm: str | LLMFactory | None = None,
    four_eyes: bool | None = None,
    secure_cookies: bool = False,
    clock: Clock = utc_now,
    config: Path | None = None,
    max_attempts: int = 3,
    paper_bar_interval_s: float = 0.3,
    paper_max_bars: int | None = 500,
    data_dir: Path | None = None,
    max_upload_bytes: int = 50 * 1024 * 1024,
    session_terminal: TerminalFactory = default_terminal,
) -> FastAPI:
    """The web app over the store at ``db_path`` (migrated as it opens).

    ``llm``: the model that translates new strategies (default: ``$NL_TRADER_LLM``, else openai
    when configured, else the bundled scripted model). ``four_eyes``: nobody approves a version
    they authored (default: ``[users] four_eyes`` of the configuration). ``secure_cookies``: the
    session cookie only travels over HTTPS (set it when serving with TLS). ``clock``: the store's
    clock, on which sessions expire and sign-ins are throttled.

    Sessions started from the app run in its process (``live.runner``): a paper session replays
    one bar per ``paper_bar_interval_s`` (a person watches the executions arrive) and stops after
    ``paper_max_bars``; ``session_terminal`` makes each session's terminal (default: the paper
    replay, else the profile's). Backtests read the bundled sample, an uploaded file (at most
    ``max_upload_bytes``, kept in a private folder beside the database) or a file under
    ``data_dir`` (default: ``[web] data_dir`` of the configuration).
    """
    path = Path(db_path)
    if str(path) == ":memory:":
        raise InvalidInputError(
            ["db: the web app needs a database file, not :memory:"], what="web app"
        )
    Store(path, clock=clock).close()  # migrate (and key a new store) before the first request
    configured = read_config(config)
    if four_eyes is None:
        four_eyes = four_eyes_required(configured)
    if data_dir is None:
        data_dir = _configured_data_dir(configured)
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=visible,
    )
    register_filters(templates)
    runner = SessionRunner(
        path,
        clock=clock,
        config=config,
        bar_interval_s=paper_bar_interval_s,
        paper_max_bars=paper_max_bars,
        terminal=session_terminal,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # The sessions this server started stop with it (recorded as such), not mid-order.
        await run_in_threadpool(runner.close, by="web server")

    app = FastAPI(
        lifespan=lifespan,
        title="nl_trader",
        version=__version__,
        description="Plain-language forex strategies: type, review, approve. The JSON API signs "
        "in with POST /api/session (GET it first for the CSRF token) and sends the token as "
        "X-CSRF-Token with every POST.",
    )
    app.state.web = WebSettings(
        db_path=path,
        llm=_llm_factory(llm),
        four_eyes=four_eyes,
        secure_cookies=secure_cookies,
        clock=clock,
        signer=SessionSigner(load_session_key(session_key_path(path))),
        templates=templates,
        max_attempts=max_attempts,
        runner=runner,
        jobs=BacktestJobs(path, clock),
        config=config,
        data_dir=data_dir,
        max_upload_bytes=max_upload_bytes,
    )
    app.middleware("http")(_session_cookie)
    _handle_errors(app)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.include_router(pages_router)
    app.include_router(backtests_router)
    app.include_router(sessions_router)
    app.include_router(api_router)
    return app


def _configured_data_dir(configured: dict[str, Any]) -> Path | None:
    """``[web] data_dir`` of the configuration: the folder whose bar files a backtest may use."""
    table = configured.get("web", {})
    value = table.get("data_dir") if isinstance(table, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(["web.data_dir: expected a folder's path"], what="configuration")
    return Path(value).expanduser().resolve()


async def _session_cookie(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Read the signed session cookie (a new, signed-out session when it is missing, forged or
    expired); send it back when a route replaced it; add the pages' security headers."""
    web: WebSettings = request.app.state.web
    too_big = _body_refusal(request, web.max_upload_bytes)
    if too_big is not None:
        return too_big
    now = web.clock()
    session = web.signer.loads(request.cookies.get(COOKIE_NAME), now)
    fresh = session is None
    request.state.session = session or Session.new(now)
    start = request.state.session
    response = await call_next(request)
    final: Session = request.state.session
    if fresh or final is not start:
        response.set_cookie(
            COOKIE_NAME,
            web.signer.dumps(final),
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=web.secure_cookies,
        )
    headers = response.headers
    policy = _DOCS_POLICY if request.url.path in _DOCS_PATHS else _PAGE_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cache-Control", "no-store")
    return response


# Room for a form's other fields and the multipart framing around an upload.
_FORM_OVERHEAD_BYTES = 1024 * 1024


def _body_refusal(request: Request, max_upload_bytes: int) -> Response | None:
    """Refuse a request body larger than an upload may be, before anything reads it (a body
    without a length is refused too: a browser always sends one)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    length = request.headers.get("content-length")
    limit = max_upload_bytes + _FORM_OVERHEAD_BYTES
    megabytes = f"{max_upload_bytes / (1024 * 1024):g} MB"
    if length is None:
        if request.headers.get("transfer-encoding"):
            return PlainTextResponse(
                "refused: send the request with its Content-Length", status_code=411
            )
        return None
    if not length.isdigit() or int(length) > limit:
        message = f"upload: the file is larger than {megabytes}, the most this server accepts"
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=413)
        return PlainTextResponse(message, status_code=413)
    return None


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _refusal(
    request: Request, status: int, message: str, problems: list[str] | None = None
) -> Response:
    if _is_api(request):
        body: dict[str, Any] = {"detail": message}
        if problems:
            body["problems"] = problems
        return JSONResponse(body, status_code=status)
    return _error_page(request, status, message, problems or [])


def _error_page(request: Request, status: int, message: str, problems: list[str]) -> HTMLResponse:
    try:
        user = signed_in(request) if session_of(request).user_id is not None else None
    except NlTraderError:
        user = None
    return page(
        request, "error.html.j2", user=user, status_code=status, message=message, problems=problems
    )


def _handle_errors(app: FastAPI) -> None:
    async def not_signed_in(request: Request, error: Exception) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(error)}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    async def csrf(request: Request, error: Exception) -> Response:
        return _refusal(request, 403, str(error))

    async def forbidden(request: Request, error: Exception) -> Response:
        return _refusal(request, 403, str(error))

    async def authentication(request: Request, error: Exception) -> Response:
        status = 429 if isinstance(error, LoginThrottledError) else 401
        return _refusal(request, status, str(error))

    async def not_found(request: Request, error: Exception) -> Response:
        problems = list(error.problems) if isinstance(error, InvalidInputError) else []
        return _refusal(request, 404, "; ".join(problems) or str(error))

    async def gate(request: Request, error: Exception) -> Response:
        reasons = list(error.reasons) if isinstance(error, GateRefusedError) else []
        return _refusal(request, 409, str(error), reasons)

    async def invalid(request: Request, error: Exception) -> Response:
        problems = list(error.problems) if isinstance(error, InvalidInputError) else []
        what = error.what if isinstance(error, InvalidInputError) else "input"
        return _refusal(request, 400, f"refused ({what})", problems)

    async def failed(request: Request, error: Exception) -> Response:
        # A model that gave no usable answer, a script that ran out: said, never a traceback.
        problems = [str(p) for p in getattr(error, "problems", ())]
        return _refusal(request, 502, str(error), problems)

    async def validation(request: Request, error: Exception) -> Response:
        # Each field and its problem, never the value sent (it may be a password).
        items = error.errors() if isinstance(error, RequestValidationError) else []
        problems = [
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in items
        ]
        return _refusal(request, 422 if _is_api(request) else 400, "invalid request", problems)

    app.add_exception_handler(NotSignedInError, not_signed_in)
    app.add_exception_handler(CsrfError, csrf)
    app.add_exception_handler(PermissionDeniedError, forbidden)
    app.add_exception_handler(AuthenticationError, authentication)
    app.add_exception_handler(RecordNotFoundError, not_found)
    app.add_exception_handler(NoSuchJobError, not_found)
    app.add_exception_handler(GateRefusedError, gate)
    app.add_exception_handler(InvalidInputError, invalid)
    app.add_exception_handler(NlTraderError, failed)
    app.add_exception_handler(RequestValidationError, validation)
