"""Fixtures of the web tests: a store with backtested strategies and one user per role, the app
over it (translating with a scripted model), and signing in as a browser does."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from nl_trader import users
from nl_trader.store import Store
from nl_trader.translate.scripted import ScriptedChatModel, examples_script
from nl_trader.web import create_app
from tests.store.builders import DB_NAME, Clock, template

PASSWORD = "correct horse battery"
# One user per role; "trader" authored the template's strategies (their versions' created_by).
USERS = {
    "root": "admin",
    "ana": "author",
    "bo": "approver",
    "trader": "approver",
    "olu": "operator",
}

FULL_TEXT = (
    "Buy EURUSD on the 1-hour chart when the 20-period SMA crosses above the 50-period SMA, and "
    "sell short when it crosses below. Stop loss 30 pips, take profit 60 pips, 0.1 lots per trade."
)
SHORT_TEXT = (
    "Buy EURUSD on the 1-hour chart when the 20-period SMA crosses above the 50-period SMA, and "
    "sell short when it crosses below."
)
QUESTION = "What stop loss, take profit and size per trade?"
ANSWER = "Stop loss 30 pips, take profit 60 pips, 0.1 lots per trade."
REFUSED_TEXT = "Trade Bitcoin options on EURUSD when the moon is full"


def _replies() -> list[dict[str, Any]]:
    spec = next(r for r in examples_script()["replies"] if r["match"] == FULL_TEXT)
    return [
        {
            "match": SHORT_TEXT,
            "content": json.dumps(
                {"outcome": "clarify", "questions": [QUESTION], "missing": ["exits.stop_loss"]}
            ),
        },
        {"match": SHORT_TEXT + "\n\n" + QUESTION, "content": spec["content"]},
        {
            "match": REFUSED_TEXT,
            "content": json.dumps(
                {"outcome": "refuse", "unsupported": ["options"], "reason": "no options"}
            ),
        },
    ]


def scripted_model() -> Any:
    return ScriptedChatModel.from_replies(_replies())


# argon2's default cost (~0.1 s a hash) is right for people and too slow for a test suite.
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", _CHEAP)
        yield


_users_template: Path | None = None


def users_template(factory: pytest.TempPathFactory) -> Path:
    """The lifecycle template store with one user per role (built once)."""
    global _users_template
    if _users_template is None:
        folder = factory.mktemp("web-template")
        shutil.copytree(template(factory), folder, dirs_exist_ok=True)
        with Store(folder / DB_NAME) as store:
            for name, role in USERS.items():
                users.add_user(store, name, PASSWORD, role, by="setup")
        _users_template = folder
    return _users_template


@dataclass
class Web:
    client: TestClient
    db: Path
    clock: Clock

    def store(self) -> Store:
        return Store(self.db, clock=self.clock)

    def csrf(self, path: str = "/login") -> str:
        return csrf_of(self.client.get(path).text)

    def sign_in(self, name: str, password: str = PASSWORD) -> Any:
        token = self.csrf("/login")
        return self.client.post(
            "/login",
            data={"name": name, "password": password, "csrf_token": token},
            follow_redirects=False,
        )

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """A form POST with the session's CSRF token, as the page's own form sends it."""
        token = self.csrf("/strategies")
        return self.client.post(
            path, data={**(data or {}), "csrf_token": token}, follow_redirects=False, **kwargs
        )

    def api_token(self) -> str:
        return str(self.client.get("/api/session").json()["csrf_token"])

    def api_post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, json=body or {}, headers={"X-CSRF-Token": self.api_token()})

    def api_sign_in(self, name: str, password: str = PASSWORD) -> Any:
        return self.api_post("/api/session", {"name": name, "password": password})

    @property
    def settings(self) -> Any:
        """The app's settings: its session runner and backtest jobs."""
        return self.client.app.state.web  # type: ignore[attr-defined]

    def follow(self, answer: Any, *, timeout: float = 120.0) -> Any:
        """Follow a backtest's job page as a browser does (it refreshes itself each second,
        then moves on to its run) until it reaches the run's page or shows its problems;
        return that last answer (a run page's URL is in ``answer.url``)."""
        deadline = time.monotonic() + timeout
        while True:
            if answer.status_code == 303:
                answer = self.client.get(answer.headers["location"], follow_redirects=False)
                continue
            found = re.search(
                r'http-equiv="refresh" content="(\d+)(?:; url=([^"]+))?"', answer.text
            )
            if found is None:
                return answer
            if time.monotonic() > deadline:
                raise AssertionError("the backtest did not end in time")
            if found.group(2) is None:
                time.sleep(0.1)
            answer = self.client.get(found.group(2) or str(answer.url.path), follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def make_web(
    factory: pytest.TempPathFactory,
    destination: Path,
    *,
    four_eyes: bool = False,
    **options: Any,
) -> Iterator[Web]:
    """The app over a private copy of the template store. Paper sessions replay at full speed
    and stop after 60 bars unless ``options`` say otherwise (``create_app``'s keywords)."""
    folder = destination / "store"
    shutil.copytree(users_template(factory), folder)
    clock = Clock()
    db = folder / DB_NAME
    options = {"paper_bar_interval_s": 0.0, "paper_max_bars": 60, **options}
    app = create_app(db, llm=scripted_model, clock=clock, four_eyes=four_eyes, **options)
    with TestClient(app) as client:
        yield Web(client, db, clock)


@pytest.fixture
def web(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path_factory, tmp_path)


@pytest.fixture
def four_eyes_web(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path_factory, tmp_path, four_eyes=True)
