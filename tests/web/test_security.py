"""The web app's security: the session cookie, CSRF on every POST, throttled sign-ins, no secret
ever shown or logged, every action audited as the signed-in user, 403 naming the role."""

from __future__ import annotations

import logging
import stat
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute

from nl_trader.web import api, backtests, pages, sessions
from nl_trader.web.security import COOKIE_NAME, session_key_path
from tests.store.builders import PASSED
from tests.web.conftest import PASSWORD, Web


def _set_cookie(answer: object) -> str:
    headers = answer.headers  # type: ignore[attr-defined]
    return next(h for h in headers.get_list("set-cookie") if h.startswith(COOKIE_NAME))


def test_the_session_cookie_is_http_only_same_site_and_signed(web: Web) -> None:
    cookie = _set_cookie(web.sign_in("ana")).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain HTTP here; create_app(secure_cookies=True) over TLS
    value = web.client.cookies[COOKIE_NAME]
    web.client.cookies.clear()
    web.client.cookies.set(COOKIE_NAME, value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB"))
    answer = web.client.get("/strategies", follow_redirects=False)
    assert answer.status_code == 303  # a cookie whose signature does not hold signs nobody in


def test_the_session_key_is_a_file_beside_the_database_readable_by_its_owner_only(
    web: Web,
) -> None:
    key = session_key_path(web.db)
    assert key.parent == web.db.parent
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = key.read_text().strip()
    assert secret.encode() not in web.db.read_bytes()


def test_a_session_ends_when_its_lifetime_passes_on_the_stores_clock(web: Web) -> None:
    web.sign_in("ana")
    assert web.client.get("/strategies", follow_redirects=False).status_code == 200
    web.clock.advance(timedelta(hours=13))
    assert web.client.get("/strategies", follow_redirects=False).status_code == 303


def test_every_post_route_refuses_a_request_without_this_sessions_csrf_token(web: Web) -> None:
    web.sign_in("root")
    routers = [pages.router, backtests.router, sessions.router, api.router]
    posts = [
        route.path.replace("{strategy_id}", "1")
        .replace("{user_id}", "2")
        .replace("{optimisation_id}", "1")
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    assert all("{" not in path for path in posts if "{session_id}" not in path)
    posts = [path.replace("{session_id}", "1") for path in posts]
    assert len(posts) >= 25
    for path in posts:
        without = web.client.post(path, data={"reason": "x"}, follow_redirects=False)
        assert without.status_code == 403, path
        assert "csrf_token: missing" in without.text, path
        forged = web.client.post(path, headers={"X-CSRF-Token": "forged"}, json={})
        assert forged.status_code == 403, path
    with web.store() as store:
        assert store.latest_approval(PASSED) is None
        assert store.user(2).disabled is False


def test_a_csrf_token_seen_before_signing_in_is_worth_nothing_after(web: Web) -> None:
    before = web.csrf("/login")
    web.sign_in("bo")
    answer = web.client.post(
        f"/strategies/{PASSED}/approve",
        data={"run_id": 1, "csrf_token": before},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "csrf_token" in answer.text


def test_sign_ins_are_throttled_after_five_failures_even_with_the_right_password(
    web: Web,
) -> None:
    for _ in range(5):
        assert web.sign_in("bo", "guess guess").status_code == 401
    locked = web.sign_in("bo")
    assert locked.status_code == 429
    assert "too many failed sign-ins" in locked.text
    assert web.api_sign_in("bo").status_code == 429  # the API counts the same attempts
    web.clock.advance(timedelta(minutes=16))
    assert web.sign_in("bo").status_code == 303


def test_no_password_or_secret_is_ever_rendered_stored_or_logged(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    shown.append(web.sign_in("root").text)
    new_password = "a secret passphrase 42"
    shown.append(
        web.post("/users", {"name": "mei", "password": new_password, "role": "author"}).text
    )
    shown.append(web.post("/users", {"name": "mei", "password": new_password, "role": "x"}).text)
    for path in ("/users", "/audit", "/audit/verify", "/api/users", "/api/audit", "/api/session"):
        shown.append(web.client.get(path).text)
    shown.append(web.api_post("/api/users", {"name": "x", "password": 12345678, "role": "a"}).text)
    web.post("/logout")
    shown.append(web.sign_in("mei", "wrong " + new_password).text)
    secret = session_key_path(web.db).read_text().strip()
    with web.store() as store:
        hashes = [user.password_hash for user in store.users()]
        dumped = "\n".join(store.connection.iterdump())
    everything = "\n".join(shown) + caplog.text
    for text in (PASSWORD, new_password, "12345678", secret, *hashes):
        assert text not in everything
    assert new_password not in dumped
    assert PASSWORD not in dumped
    assert all(value.startswith("$argon2id$") for value in hashes)


def test_every_action_is_audited_with_the_signed_in_user_as_actor(web: Web) -> None:
    web.sign_in("root")
    web.post("/users", {"name": "mei", "password": "a long passphrase", "role": "author"})
    web.post(f"/strategies/{PASSED}/approve", {"run_id": 1})
    web.post(f"/strategies/{PASSED}/revoke", {"reason": "checking"})
    web.post("/language", {"language": "zh-Hant"})
    web.post(f"/strategies/{PASSED}/retire", {"reason": "done"})
    with web.store() as store:
        actions = {entry.action: entry.actor for entry in store.audit_entries()}
    for action in (
        "user.signed_in",
        "user.created",
        "approval.granted",
        "approval.revoked",
        "user.language_set",
        "strategy.retired",
    ):
        assert actions[action] == "root", action


def test_a_disabled_user_is_signed_out_at_their_next_request(web: Web) -> None:
    web.sign_in("ana")
    assert web.client.get("/strategies", follow_redirects=False).status_code == 200
    from nl_trader.users import disable_user

    with web.store() as store:
        disable_user(store, "ana", by="root")
    assert web.client.get("/strategies", follow_redirects=False).status_code == 303
    assert web.sign_in("ana").status_code == 401


def test_a_role_raised_in_the_database_behind_the_audit_log_signs_its_user_out(web: Web) -> None:
    web.sign_in("ana")
    with web.store() as store:
        store.connection.execute("UPDATE users SET role = 'admin' WHERE name = 'ana'")
    assert web.client.get("/users", follow_redirects=False).status_code == 303
    refused = web.sign_in("ana")
    assert refused.status_code == 401
    assert "role changed outside nl_trader" in refused.text


def test_pages_run_no_script_and_cannot_be_framed(web: Web) -> None:
    answer = web.client.get("/login")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"


def test_a_report_is_served_sandboxed_and_refused_once_changed(web: Web) -> None:
    web.sign_in("bo")
    report = web.client.get("/runs/1/report")
    assert report.status_code == 200
    assert report.headers["content-security-policy"].startswith("sandbox allow-scripts")
    with web.store() as store:
        path = store.resolve(store.run(1).report_path)
    path.write_text(path.read_text() + "<!-- changed -->")
    changed = web.client.get("/runs/1/report")
    assert changed.status_code == 400
    assert "changed since it was recorded" in changed.text


def test_text_from_the_store_is_shown_as_text_never_as_markup(web: Web) -> None:
    web.sign_in("ana")
    hostile = "<script>alert(1)</script>"
    web.post("/strategies/new", {"text": hostile})  # no reply for it: refused, shown escaped
    answer = web.post("/strategies/new", {"text": hostile})
    assert hostile not in answer.text
    assert "&lt;script&gt;" in answer.text


def test_characters_that_hide_or_reorder_text_are_shown_as_escapes(web: Web) -> None:
    from nl_trader.lifecycle import register
    from tests.store.builders import example_spec

    with web.store() as store:
        version = register(store, example_spec(), text="buy\u202eyllaer sell\x1b[8m", by="ana")
    web.sign_in("bo")
    page = web.client.get(f"/strategies/{version.strategy_id}").text
    assert "\u202e" not in page
    assert "\x1b" not in page
    assert "buy\\u202eyllaer sell\\x1b[8m" in page


def test_signing_out_ends_every_copy_of_the_session_cookie(web: Web) -> None:
    web.sign_in("ana")
    copied = web.client.cookies[COOKIE_NAME]
    web.clock.advance(timedelta(seconds=1))
    web.post("/logout")
    web.client.cookies.clear()
    web.client.cookies.set(COOKIE_NAME, copied)
    assert web.client.get("/strategies", follow_redirects=False).status_code == 303
    web.clock.advance(timedelta(seconds=1))
    assert web.sign_in("ana").status_code == 303
    assert web.client.get("/strategies", follow_redirects=False).status_code == 200
    with web.store() as store:
        assert "user.signed_out" in [e.action for e in store.audit_entries(subject="user/ana")]
