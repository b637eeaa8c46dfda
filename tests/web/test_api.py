"""The JSON API: the pages' actions for scripts, with the same roles, CSRF and audit."""

from __future__ import annotations

from tests.store.builders import MISSED, PASSED
from tests.web.conftest import ANSWER, QUESTION, REFUSED_TEXT, SHORT_TEXT, Web


def test_a_script_signs_in_lists_strategies_and_reads_one_with_its_gate(web: Web) -> None:
    assert web.client.get("/api/strategies").status_code == 401
    signed = web.api_sign_in("olu")
    assert signed.status_code == 200
    assert signed.json()["user"]["role"] == "operator"
    listed = web.client.get("/api/strategies").json()
    assert [(s["id"], s["state"]) for s in listed] == [(1, "backtested"), (2, "backtested")]
    one = web.client.get(f"/api/strategies/{MISSED}").json()
    assert one["gate"]["allowed"] is False
    assert f"strategy {MISSED} has no approval" in one["gate"]["reasons"][-1]
    assert one["runs"][0]["criteria_met"] is False


def test_a_script_approves_with_the_csrf_header_and_is_refused_without_it(web: Web) -> None:
    web.api_sign_in("bo")
    without = web.client.post(f"/api/strategies/{PASSED}/approve", json={"run_id": 1})
    assert without.status_code == 403
    assert "csrf_token" in without.json()["detail"]
    form = web.client.get(f"/api/strategies/{PASSED}/approval").json()
    approved = web.api_post(f"/api/strategies/{PASSED}/approve", {"run_id": form["run"]["id"]})
    assert approved.status_code == 200
    body = approved.json()
    assert body["approved_by"] == "bo"
    assert (body["spec_hash"], body["report_hash"]) == (
        form["spec_hash"],
        form["run"]["report_hash"],
    )


def test_an_author_calling_approve_gets_403_naming_the_role_needed(web: Web) -> None:
    web.api_sign_in("ana")
    answer = web.api_post(f"/api/strategies/{PASSED}/approve", {"run_id": 1})
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "strategy.approve: it needs the role approver or admin; ana is an author"
    )


def test_a_lifecycle_refusal_answers_400_with_every_problem(web: Web) -> None:
    web.api_sign_in("bo")
    answer = web.api_post(f"/api/strategies/{MISSED}/approve", {"run_id": 1})
    assert answer.status_code == 400
    problems = answer.json()["problems"]
    assert any("it is a backtest of strategy 1, not 2" in p for p in problems)


def test_bad_fields_are_named_without_echoing_their_values(web: Web) -> None:
    web.api_sign_in("bo")
    answer = web.api_post(
        f"/api/strategies/{PASSED}/approve", {"run_id": 1, "expires_days": 9999, "x": "secret"}
    )
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert any(p.startswith("body.expires_days:") for p in problems)
    assert any(p.startswith("body.x:") for p in problems)
    assert "secret" not in answer.text
    assert web.client.get("/api/strategies/99").status_code == 404


def test_a_script_types_a_strategy_answers_its_question_and_gets_it_stored(web: Web) -> None:
    web.api_sign_in("ana")
    asked = web.api_post("/api/strategies", {"text": SHORT_TEXT}).json()
    assert asked["outcome"] == "clarify"
    assert asked["strategy_id"] is None
    assert asked["questions"] == [QUESTION]
    stored = web.api_post(
        "/api/strategies", {"text": SHORT_TEXT, "questions": [QUESTION], "answers": [ANSWER]}
    ).json()
    assert stored["outcome"] == "spec"
    assert stored["strategy_id"] == 3
    assert "EURUSD" in stored["explanation"]
    refused = web.api_post("/api/strategies", {"text": REFUSED_TEXT}).json()
    assert (refused["outcome"], refused["unsupported"]) == ("refuse", ["options"])
    mismatched = web.api_post(
        "/api/strategies", {"text": SHORT_TEXT, "questions": [QUESTION], "answers": []}
    )
    assert mismatched.status_code == 400
    assert mismatched.json()["problems"] == ["answers: 0 given for 1 question(s)"]


def test_the_audit_log_and_its_verification_are_read_through_the_api(web: Web) -> None:
    web.api_sign_in("ana")
    entries = web.client.get("/api/audit", params={"limit": 5}).json()
    assert len(entries) == 5
    assert entries[0]["action"] == "user.signed_in"  # newest first
    verified = web.client.get("/api/audit/verify").json()
    assert verified["ok"] is True
    assert verified["record_problems"] == []


def test_an_admin_manages_users_through_the_api_and_hashes_never_leave_it(web: Web) -> None:
    web.api_sign_in("root")
    made = web.api_post(
        "/api/users", {"name": "mei", "password": "a long passphrase", "role": "operator"}
    )
    assert made.status_code == 200
    assert "password_hash" not in made.json()
    listed = web.client.get("/api/users").json()
    assert "mei" in [u["name"] for u in listed]
    assert all("password_hash" not in u for u in listed)
    disabled = web.api_post(f"/api/users/{made.json()['id']}/disable")
    assert disabled.json()["disabled"] is True


def test_signing_out_through_the_api_ends_the_session(web: Web) -> None:
    web.api_sign_in("ana")
    assert web.api_post("/api/session/end").json()["user"] is None
    assert web.client.get("/api/strategies").status_code == 401


def test_the_openapi_page_lists_the_api_and_not_the_pages(web: Web) -> None:
    schema = web.client.get("/openapi.json").json()
    assert "/api/strategies/{strategy_id}/approve" in schema["paths"]
    assert "/login" not in schema["paths"]
    assert web.client.get("/docs").status_code == 200
