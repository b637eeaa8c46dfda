"""Sessions from the web app: started through the gate (its refusal shown with every reason),
run by the server in a thread of their own, watched as their journal grows, stopped, killed; the
roles that may do each; and the server and a session writing one store at once."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from nl_trader.lifecycle import approve, verify_store
from nl_trader.live.control import assign_account
from nl_trader.web import create_app
from tests.store.builders import MISSED, PASSED
from tests.web.conftest import PASSWORD, Web, make_web


def _approve(web: Web, strategy_id: int = PASSED) -> None:
    with web.store() as store:
        run = store.latest_run(store.current_version(strategy_id).id)
        assert run is not None
        override = None if strategy_id == PASSED else "small size first"
        approve(store, strategy_id, run_id=run.id, by="bo", override_reason=override)


def _start(web: Web, strategy_id: int = PASSED, **fields: str) -> int:
    answer = web.post(f"/strategies/{strategy_id}/sessions", {"account": "paper", **fields})
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/sessions/(\d+)", answer.headers["location"])
    assert found
    return int(found.group(1))


@pytest.fixture
def paced_web(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Web]:
    """Paper sessions that replay a bar every 50 ms, for long enough to be stopped."""
    yield from make_web(
        tmp_path_factory, tmp_path, paper_bar_interval_s=0.05, paper_max_bars=10_000
    )


@pytest.fixture
def live_profile_web(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Web]:
    config = tmp_path / "config.toml"
    config.write_text(
        '[accounts.icm-live]\nterminal = "mt5"\nlogin = 51234567\nserver = "ICMarketsSC-Live"\n'
        'password_env = "MT5_ICM_LIVE_PASSWORD"\n',
        encoding="utf-8",
    )
    yield from make_web(tmp_path_factory, tmp_path / "app", config=config)


def test_an_operator_starts_a_paper_session_and_its_executions_arrive_on_its_page(
    web: Web,
) -> None:
    _approve(web)
    web.sign_in("olu")
    page = web.client.get(f"/strategies/{PASSED}").text
    assert f'action="/strategies/{PASSED}/sessions"' in page
    assert "Start paper session</button>" in page
    session_id = _start(web)
    assert web.settings.runner.wait(session_id, timeout=120)
    page = unescape(web.client.get(f"/sessions/{session_id}").text)
    assert 'http-equiv="refresh"' not in page  # it stopped: nothing more to watch
    assert "stopped: bar limit reached (60 bars)" in page
    assert '<tr class="event event-execution">' in page
    assert 'data-label="Kind">execution</td>' in page
    with web.store() as store:
        journal = store.journal(session_id)
        record = store.session(session_id)
    realised = sum(
        e.payload["profit"] + e.payload["commission"] + e.payload["swap"]
        for e in journal
        if e.kind == "execution"
    )
    assert f"{realised:.2f} (" in page  # P/L so far: each execution's profit and costs
    assert page.count('<tr class="event event-') == len(journal)
    assert (record.started_by, record.account_profile, record.mode) == ("olu", "paper", "paper")


def test_a_running_session_page_refreshes_itself_and_a_stop_from_it_ends_the_session(
    paced_web: Web,
) -> None:
    web = paced_web
    _approve(web)
    web.sign_in("olu")
    session_id = _start(web)
    page = web.client.get(f"/sessions/{session_id}").text
    assert '<meta http-equiv="refresh" content="2">' in page
    assert f'action="/sessions/{session_id}/stop"' in page
    assert "Stop session</button>" in page
    assert f'action="/sessions/{session_id}/kill"' in page
    assert '<input name="reason" required>' in page
    assert "Kill</button>" in page
    stopped = web.post(f"/sessions/{session_id}/stop")
    assert stopped.status_code == 303
    assert web.settings.runner.wait(session_id, timeout=30)
    page = unescape(web.client.get(f"/sessions/{session_id}").text)
    assert "stopped: stop requested by olu" in page
    assert 'http-equiv="refresh"' not in page
    with web.store() as store:
        entry = [e for e in store.audit_entries() if e.action == "live.stop_requested"][-1]
    assert entry.actor == "olu"


def test_the_kill_switch_from_the_page_needs_a_reason_and_stops_the_session_as_killed(
    paced_web: Web,
) -> None:
    web = paced_web
    _approve(web)
    web.sign_in("olu")
    session_id = _start(web)
    refused = web.post(f"/sessions/{session_id}/kill", {"reason": " "})
    assert refused.status_code == 400
    assert "reason: say why the sessions are killed" in unescape(refused.text)
    killed = web.post(f"/sessions/{session_id}/kill", {"reason": "news spike"})
    assert killed.status_code == 303
    assert web.settings.runner.wait(session_id, timeout=30)
    with web.store() as store:
        record = store.session(session_id)
        entry = [e for e in store.audit_entries() if e.action == "live.killed"][-1]
    assert record.stop_reason == "killed by olu"
    assert (entry.actor, entry.payload["reason"]) == ("olu", "news spike")


def test_a_start_the_gate_refuses_shows_every_reason_on_the_strategy_page(web: Web) -> None:
    web.sign_in("olu")
    answer = web.post(f"/strategies/{MISSED}/sessions", {"account": "paper"})
    assert answer.status_code == 409
    page = unescape(answer.text)
    assert "The session may not start, because:" in page
    refusal = page.split('class="problems refusal"', 1)[1].split("</div>", 1)[0]
    assert f"strategy {MISSED} has no approval" in refusal
    with web.store() as store:
        assert store.sessions(MISSED) == []
        assert store.audit_entries()[-1].action == "live.refused"


def test_an_author_or_an_approver_may_not_start_a_session_and_nothing_starts(web: Web) -> None:
    _approve(web)
    for name, role in (("ana", "author"), ("bo", "approver")):
        web.sign_in(name)
        page = web.client.get(f"/strategies/{PASSED}").text
        assert "Start paper session" not in page
        answer = web.post(f"/strategies/{PASSED}/sessions", {"account": "paper"})
        assert answer.status_code == 403
        assert f"session.start: it needs the role operator or admin; {name} is an {role}" in (
            unescape(answer.text)
        )
        web.post("/logout")
    with web.store() as store:
        assert store.sessions(PASSED) == []


def test_an_operator_may_not_approve(web: Web) -> None:
    web.sign_in("olu")
    assert web.client.get(f"/strategies/{PASSED}/approve").status_code == 403
    answer = web.post(f"/strategies/{PASSED}/approve", {"run_id": 1})
    assert answer.status_code == 403
    assert "strategy.approve: it needs the role approver or admin" in unescape(answer.text)
    with web.store() as store:
        assert store.latest_approval(PASSED) is None


def test_only_an_operator_stops_or_kills_a_session(paced_web: Web) -> None:
    web = paced_web
    _approve(web)
    web.sign_in("olu")
    session_id = _start(web)
    web.post("/logout")
    for name in ("ana", "bo"):
        web.sign_in(name)
        page = web.client.get(f"/sessions/{session_id}").text
        assert "Stop session" not in page
        assert "Kill</button>" not in page
        assert web.post(f"/sessions/{session_id}/stop").status_code == 403
        assert web.post(f"/sessions/{session_id}/kill", {"reason": "x"}).status_code == 403
        web.post("/logout")
    with web.store() as store:
        assert store.session(session_id).running
        assert store.session(session_id).stop_requested_at is None


def test_a_real_account_profile_asks_for_its_login_and_the_gate_answers_its_start(
    live_profile_web: Web,
) -> None:
    web = live_profile_web
    _approve(web)
    web.sign_in("olu")
    page = web.client.get(f"/strategies/{PASSED}").text
    assert '<option value="icm-live"' in page
    assert re.search(r"<label>REAL account login <input name=\"confirm_real\"", page)
    typo = web.post(
        f"/strategies/{PASSED}/sessions", {"account": "icm-live", "confirm_real": "5123x"}
    )
    assert typo.status_code == 400
    assert "confirm_real: '5123x' is not a login number" in unescape(typo.text)
    refused = web.post(
        f"/strategies/{PASSED}/sessions", {"account": "icm-live", "confirm_real": "51234567"}
    )
    assert refused.status_code == 409  # no one assigned the account to the strategy
    assert "icm-live" in unescape(refused.text).split('class="problems refusal"', 1)[1]
    with web.store() as store:
        assert store.sessions(PASSED) == []


def test_a_script_starts_a_session_and_reads_its_record_and_journal(web: Web) -> None:
    _approve(web)
    web.api_sign_in("olu")
    started = web.api_post(f"/api/strategies/{PASSED}/sessions", {"account": "paper"})
    assert started.status_code == 200, started.text
    session_id = started.json()["id"]
    assert web.settings.runner.wait(session_id, timeout=120)
    record = web.client.get(f"/api/sessions/{session_id}").json()
    assert record["status"] == "stopped"
    assert record["executions"] > 0
    journal = web.client.get(f"/api/sessions/{session_id}/journal").json()
    assert sum(1 for e in journal if e["kind"] == "execution") == record["executions"]
    later = web.client.get(f"/api/sessions/{session_id}/journal?after={journal[-2]['id']}")
    assert [e["id"] for e in later.json()] == [journal[-1]["id"]]
    refused = web.api_post(f"/api/strategies/{MISSED}/sessions", {})
    assert refused.status_code == 409
    assert any("has no approval" in p for p in refused.json()["problems"])
    web.api_post("/api/session/end")
    web.api_sign_in("ana")
    assert web.api_post(f"/api/strategies/{PASSED}/sessions", {}).status_code == 403


def test_the_server_and_a_running_session_write_the_store_at_once_and_it_verifies(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    for web in make_web(tmp_path_factory, tmp_path, paper_bar_interval_s=0.02, paper_max_bars=150):
        _approve(web)
        web.sign_in("olu")
        session_id = _start(web)
        web.post("/logout")
        # While the session journals in its thread, requests write audited records too.
        web.sign_in("bo")
        with web.store() as store:
            run = store.latest_run(store.current_version(MISSED).id)
        assert run is not None
        approved = web.post(
            f"/strategies/{MISSED}/approve", {"run_id": run.id, "override_reason": "small"}
        )
        assert approved.status_code == 303
        revoked = web.post(f"/strategies/{MISSED}/revoke", {"reason": "on second thought"})
        assert revoked.status_code == 303
        web.post("/logout")
        web.sign_in("root")
        for number in range(5):
            added = web.post(
                "/users", {"name": f"trader{number}", "password": PASSWORD, "role": "author"}
            )
            assert added.status_code == 303
        with web.store() as store:
            assert store.session(session_id).running  # all of it happened while it traded
        assert web.settings.runner.wait(session_id, timeout=120)
        handle = web.settings.runner.handle(session_id)
        assert handle.summary is not None
        assert handle.error is None
        with web.store() as store:
            journal = store.journal(session_id)
            kinds = [entry.kind for entry in journal]
            assert kinds.count("execution") == handle.summary.executions > 0
            assert kinds.count("status") == handle.summary.statuses
            assert kinds.count("sent") == handle.summary.orders_sent
            verification = verify_store(store)
            assert verification.ok, verification.problems
            names = {user.name for user in store.users()}
        assert {f"trader{n}" for n in range(5)} <= names


def test_a_live_accounts_password_is_never_rendered_or_logged_when_its_start_fails(
    live_profile_web: Web, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    web = live_profile_web
    secret = "hunter2-broker-password"
    monkeypatch.setenv("MT5_ICM_LIVE_PASSWORD", secret)
    caplog.set_level(logging.DEBUG)
    _approve(web)
    with web.store() as store:
        assign_account(store, PASSED, "icm-live", by="root")
    web.sign_in("olu")
    answer = web.post(
        f"/strategies/{PASSED}/sessions", {"account": "icm-live", "confirm_real": "51234567"}
    )
    assert answer.status_code == 502  # no MetaTrader5 package here: said on the page
    assert "MetaTrader5" in unescape(answer.text)
    shown = [answer.text, web.client.get(f"/strategies/{PASSED}").text]
    shown.append(web.client.get("/audit").text)
    with web.store() as store:
        dumped = "\n".join(store.connection.iterdump())
        assert store.sessions(PASSED) == []
    assert secret not in "\n".join(shown) + caplog.text + dumped


def test_by_default_the_app_paces_paper_sessions_for_a_person_to_watch_and_bounds_them(
    tmp_path: Path,
) -> None:
    settings = create_app(tmp_path / "store.db").state.web
    assert settings.runner.bar_interval_s == 0.3
    assert settings.runner.paper_max_bars == 500
