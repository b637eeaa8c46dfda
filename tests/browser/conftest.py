"""Fixtures of the browser tests: the real app, served by uvicorn on a free port of 127.0.0.1
over a temporary store with one user per role, and Debian's Chromium (headless, launched by its
path; Playwright's own browser download is never used) driven by Playwright's sync API.

The app translates with the bundled scripted model (``scripted:examples``: the texts of
``strategies/``, each answered with its spec), plus what that script has no text for: one
exchange in which the model asks a question and the trader's answer completes the strategy, and
the same strategy typed on two lines.
Every request the browser makes outside 127.0.0.1 is refused and fails the test: these tests
never touch the network.

Pages that the web app does not have yet answer FastAPI's own JSON 404 (or 405); a step that
needs one is skipped, naming the page (``skip_if_missing``), so the tests run fully once it lands.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from nl_trader import users
from nl_trader.store import Store
from nl_trader.translate.scripted import Script, ScriptedChatModel, examples_script
from nl_trader.web import create_app

try:
    from playwright import sync_api as playwright_api
except ImportError:  # the browser fixture and each test module skip, saying so
    playwright_api = None

NO_PLAYWRIGHT = "the browser tests need Playwright: python -m pip install -e '.[dev]'"

CHROMIUM = shutil.which("chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# One user per role; the passwords are the ones typed into the sign-in page.
ACCOUNTS = {
    "ana": ("author", "ana types strategies"),
    "ben": ("approver", "ben approves them"),
    "olga": ("operator", "olga runs sessions"),
    "ada": ("admin", "ada manages users"),
}

# A strategy text without exits: the model asks for them, and the answer completes it.
SHORT_TEXT = (
    "Buy EURUSD on the 1-hour chart when the 20-period SMA crosses above the 50-period SMA, and "
    "sell short when it crosses below."
)
QUESTION = "What stop loss, take profit and size per trade?"
ANSWER = "Stop loss 30 pips, take profit 60 pips, 0.1 lots per trade."
# The bundled script's answer for the full text is the spec the answered text gets.
FULL_TEXT = SHORT_TEXT + " " + ANSWER
STRATEGY_NAME = "SMA 20/50 crossover"
# The same strategy typed on two lines (the model is keyed on the first).
FIRST_LINE = (
    "Buy EURUSD on the 1-hour chart when the 20-period SMA crosses above the 50-period SMA."
)
SECOND_LINE = "Sell short when it crosses below. " + ANSWER

# The paper session replays one bar per interval; enough bars that it is still running when the
# test stops it, few enough that a session left running ends by itself soon after the test.
PAPER_BAR_INTERVAL_S = 0.05
PAPER_MAX_BARS = 2_000


def _script() -> dict[str, Any]:
    bundled = examples_script()
    spec = next(r["content"] for r in bundled["replies"] if r["match"] == FULL_TEXT)
    clarify = {"outcome": "clarify", "questions": [QUESTION], "missing": ["exits.stop_loss"]}
    return {
        **bundled,
        "replies": [
            *bundled["replies"],
            {"match": SHORT_TEXT, "content": json.dumps(clarify)},
            # ``with_answers``: the text, then each question and its answer.
            {"match": f"{SHORT_TEXT}\n\n{QUESTION}", "content": spec},
            {"match": FIRST_LINE, "content": spec},
        ],
    }


def scripted_model() -> ScriptedChatModel:
    """The bundled scripted model, with the clarifying exchange (a fresh one per translation)."""
    return ScriptedChatModel(script=Script.parse(_script()))


def paper_options() -> dict[str, Any]:
    """The options of ``create_app`` for paper sessions, where the app has them."""
    accepted = inspect.signature(create_app).parameters
    wanted = {"paper_bar_interval_s": PAPER_BAR_INTERVAL_S, "paper_max_bars": PAPER_MAX_BARS}
    return {name: value for name, value in wanted.items() if name in accepted}


@dataclass
class Site:
    """The app served on 127.0.0.1: its address, its store and its users' passwords."""

    url: str
    db: Path
    passwords: dict[str, str] = field(default_factory=dict)

    def at(self, path: str) -> str:
        return self.url + path

    def store(self) -> Store:
        return Store(self.db)

    def sign_in(self, page: Any, name: str, password: str | None = None) -> None:
        """Sign in through the sign-in page, as a person does."""
        page.goto(self.at("/login"))
        page.get_by_label("Name").fill(name)
        page.get_by_label("Password").fill(self.passwords[name] if password is None else password)
        # The answer (and its cookie) arrives before the test goes on to another page.
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()

    def sign_out(self, page: Any) -> None:
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/login$"))


def missing_page(response: Any) -> bool:
    """Whether a response is FastAPI's own answer for a route the app does not have."""
    if response is None or response.status not in (404, 405):
        return False
    return "application/json" in response.headers.get("content-type", "")


def skip_if_missing(response: Any, what: str) -> None:
    """Skip the rest of the test when ``response`` says the page ``what`` is not there yet."""
    if missing_page(response):
        request = response.request
        path = urlsplit(request.url).path
        pytest.skip(
            f"{what} is not in the web app yet: {request.method} {path} answers {response.status}"
        )


def skip_unless_present(locator: Any, what: str) -> None:
    """Skip the rest of the test when the page has no ``locator`` (a link, a button) yet."""
    if locator.count() == 0:
        pytest.skip(f"{what} is not in the web app yet")


def goto(page: Any, url: str, what: str) -> Any:
    """Open ``url``, skipping the rest of the test when it is a page the app does not have."""
    response = page.goto(url)
    skip_if_missing(response, what)
    return response


def click_and_load(page: Any, locator: Any, what: str) -> Any:
    """Click (a form's button, a link) and return the page it leads to, after any redirects;
    skip the rest of the test when that is a page the app does not have."""
    with page.expect_navigation() as navigation:
        locator.click()
    response = navigation.value
    skip_if_missing(response, what)
    return response


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _add_users(db: Path) -> dict[str, str]:
    with Store(db) as store:
        for name, (role, password) in ACCOUNTS.items():
            users.add_user(store, name, password, role, by="setup")
    return {name: password for name, (_, password) in ACCOUNTS.items()}


def serve(db: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The app over ``db`` (users added), served by uvicorn in a thread until the test ends."""
    import uvicorn

    # The configuration is the test's own (empty: default criteria, the built-in paper account),
    # never the developer's ~/.nl_trader/config.toml.
    config = folder / "config.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("NL_TRADER_CONFIG", str(config))
    passwords = _add_users(db)
    app = create_app(db, llm=scripted_model, four_eyes=False, config=config, **paper_options())
    sock = _free_socket()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start serving within 15 s")
        time.sleep(0.02)
    port = sock.getsockname()[1]
    try:
        yield Site(f"http://127.0.0.1:{port}", db, passwords)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The app over an empty store with one user per role."""
    folder = tmp_path / "site"
    folder.mkdir()
    yield from serve(folder / "store.db", folder, monkeypatch)


@pytest.fixture
def backtested_site(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    """The app over the lifecycle tests' template store: strategy 1 with run 1 (its criteria
    met), strategy 2 with run 2 (not met), authored by "trader"; plus one user per role."""
    from tests.store.builders import copy_template

    copy = copy_template(tmp_path_factory, tmp_path)
    yield from serve(copy.db, copy.folder, monkeypatch)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium: Debian's, by its path (skips, saying so, where it is not installed)."""
    if playwright_api is None:
        pytest.skip(NO_PLAYWRIGHT)
    if CHROMIUM is None:
        pytest.skip(
            "no chromium on PATH: the browser tests drive Debian's Chromium "
            "(apt-get install -y chromium); Playwright's own browser download is not used"
        )
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


_LOCAL = ("127.0.0.1",)
_INLINE_SCHEMES = ("data", "blob", "about")


@dataclass
class Outside:
    """Requests the browser tried to make outside 127.0.0.1 (refused)."""

    urls: list[str] = field(default_factory=list)


def _local_only(outside: Outside) -> Callable[[Any], None]:
    def route(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in _INLINE_SCHEMES or parts.hostname in _LOCAL:
            route.continue_()
        else:
            outside.urls.append(route.request.url)
            route.abort()

    return route


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """Make a browser context (a fresh profile: no cookies) that reaches only 127.0.0.1; the
    test fails if a page tried to reach anything else."""
    made: list[Any] = []
    outside = Outside()

    def make(viewport: dict[str, int] | None = None, **options: Any) -> Any:
        context = browser.new_context(
            viewport=viewport or DESKTOP, locale="en-US", timezone_id="UTC", **options
        )
        context.set_default_timeout(10_000)
        context.route("**/*", _local_only(outside))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not outside.urls, f"the pages tried to reach the network: {outside.urls}"


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A page at desktop width in a fresh browser context."""
    return new_context().new_page()


@pytest.fixture(autouse=True)
def _expect_timeout() -> None:
    # Pages answer in milliseconds here; a failed expectation should say so in seconds.
    if playwright_api is not None:
        playwright_api.expect.set_options(timeout=10_000)
