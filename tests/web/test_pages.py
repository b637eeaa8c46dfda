"""The pages: sign in, strategies, a strategy, a new strategy, approve, revoke, retire, audit,
users, languages and phone widths."""

from __future__ import annotations

import re
from html import unescape

from nl_trader.store import State
from nl_trader.web.i18n import CATALOGUES
from tests.store.builders import MISSED, PASSED
from tests.web.conftest import ANSWER, QUESTION, REFUSED_TEXT, SHORT_TEXT, Web, csrf_of


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_sign_in_page(web: Web) -> None:
    answer = web.client.get("/strategies", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


def test_signing_in_opens_the_strategies_and_signing_out_closes_them(web: Web) -> None:
    answer = web.sign_in("ana")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/strategies"
    assert "Signed in as ana (author)" in web.client.get("/strategies").text
    web.post("/logout")
    assert web.client.get("/strategies", follow_redirects=False).status_code == 303


def test_a_wrong_password_shows_the_form_again_without_saying_which_field_was_wrong(
    web: Web,
) -> None:
    answer = web.sign_in("ana", "not the password")
    assert answer.status_code == 401
    assert "the name or the password is wrong" in answer.text
    assert web.sign_in("nobody", "not the password").text.count("is wrong") == 1


def test_the_strategies_list_shows_each_strategy_with_its_state(web: Web) -> None:
    web.sign_in("ana")
    page = web.client.get("/strategies").text
    assert 'href="/strategies/1"' in page
    assert 'href="/strategies/2"' in page
    assert page.count("state-backtested") == 2


def test_a_strategy_page_shows_its_text_versions_runs_criteria_and_every_gate_reason(
    web: Web,
) -> None:
    web.sign_in("olu")
    page = web.client.get(f"/strategies/{MISSED}").text
    assert "the same, judged strictly" in page  # its text
    with web.store() as store:
        version = store.current_version(MISSED)
        run = store.latest_run(version.id)
    assert run is not None
    assert version.spec_hash in page
    assert f"/runs/{run.id}/report" in page
    for check in run.criteria["checks"]:  # each criterion: required, actual, met or not
        assert f"<td>{check['name']}</td><td>{check['required']}</td>" in unescape(page)
    assert "not met" in page
    assert f"strategy {MISSED} has no approval" in page  # the gate's reason, word for word
    assert "EURUSD on H1 bars" in page  # the explain-back


def test_a_new_strategy_typed_in_the_page_is_stored_and_explained_back(web: Web) -> None:
    web.sign_in("ana")
    answer = web.post("/strategies/new", {"text": SHORT_TEXT + "\n\n" + QUESTION + "\n" + ANSWER})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/strategies/3?new=1"
    page = web.client.get(answer.headers["location"]).text
    assert "Stored as strategy 3" in page
    with web.store() as store:
        assert store.current_version(3).created_by == "ana"
        assert store.strategy(3).state == State.DRAFT


def test_clarifying_questions_are_answered_in_the_page_and_the_translation_goes_on(
    web: Web,
) -> None:
    web.sign_in("ana")
    asked = web.post("/strategies/new", {"text": SHORT_TEXT})
    assert asked.status_code == 200
    assert QUESTION in asked.text
    assert 'name="answer"' in asked.text
    with web.store() as store:
        assert len(store.strategies()) == 2  # a question stores no strategy
    text = re.search(r'name="text" value="([^"]*)"', asked.text)
    assert text is not None
    answered = web.client.post(
        "/strategies/new",
        data={
            "text": unescape(text.group(1)),
            "question": QUESTION,
            "answer": ANSWER,
            "csrf_token": csrf_of(asked.text),
        },
        follow_redirects=False,
    )
    assert answered.status_code == 303
    with web.store() as store:
        version = store.current_version(3)
    assert ANSWER in version.text
    assert version.spec.timeframe == "H1"


def test_a_text_typed_on_several_lines_is_stored_with_its_line_breaks_not_cr_lf(
    web: Web,
) -> None:
    web.sign_in("ana")
    typed = SHORT_TEXT + "\n\n" + QUESTION + "\n" + ANSWER
    answer = web.post("/strategies/new", {"text": typed.replace("\n", "\r\n")})
    assert answer.status_code == 303
    with web.store() as store:
        assert store.current_version(3).text == typed
    assert "\\x0d" not in web.client.get(answer.headers["location"]).text


def test_a_refusal_names_what_is_unsupported_and_stores_no_strategy(web: Web) -> None:
    web.sign_in("ana")
    answer = web.post("/strategies/new", {"text": REFUSED_TEXT})
    assert answer.status_code == 200
    assert "Unsupported: options" in answer.text
    with web.store() as store:
        assert len(store.strategies()) == 2


def test_the_approve_page_shows_the_exact_spec_and_report_hashes_and_each_criterion(
    web: Web,
) -> None:
    web.sign_in("bo")
    page = web.client.get(f"/strategies/{MISSED}/approve").text
    with web.store() as store:
        version = store.current_version(MISSED)
        run = store.latest_run(version.id)
    assert run is not None
    assert f'id="spec-hash">{version.spec_hash}<' in page
    assert f'id="report-hash">{run.report_hash}<' in page
    assert "not met" in page
    assert 'name="override_reason"' in page  # the criteria are missed: a reason is asked for


def test_approving_from_the_page_records_the_approval_by_the_signed_in_user(web: Web) -> None:
    web.sign_in("bo")
    with web.store() as store:
        run = store.latest_run(store.current_version(PASSED).id)
    assert run is not None
    answer = web.post(f"/strategies/{PASSED}/approve", {"run_id": run.id, "note": "small first"})
    assert answer.status_code == 303
    with web.store() as store:
        approval = store.latest_approval(PASSED)
        entry = store.audit_entries(subject=f"strategy/{PASSED}")[-1]
    assert approval is not None
    assert approval.approved_by == "bo"
    assert approval.report_hash == run.report_hash
    assert (entry.action, entry.actor) == ("approval.granted", "bo")
    page = web.client.get(f"/strategies/{PASSED}").text
    assert f"approval {approval.id} allows a session to start" in page


def test_a_run_that_misses_the_criteria_is_approved_only_with_an_override_reason(
    web: Web,
) -> None:
    web.sign_in("bo")
    with web.store() as store:
        run = store.latest_run(store.current_version(MISSED).id)
    assert run is not None
    refused = web.post(f"/strategies/{MISSED}/approve", {"run_id": run.id})
    assert refused.status_code == 400
    assert "the promotion criteria are not met" in refused.text
    approved = web.post(
        f"/strategies/{MISSED}/approve",
        {"run_id": run.id, "override_reason": "paper only, to watch fills"},
    )
    assert approved.status_code == 303
    with web.store() as store:
        approval = store.latest_approval(MISSED)
    assert approval is not None
    assert approval.override_reason == "paper only, to watch fills"


def test_an_author_cannot_approve_and_is_told_the_role_needed(web: Web) -> None:
    web.sign_in("ana")
    page = web.client.get(f"/strategies/{PASSED}/approve")
    assert page.status_code == 403
    assert "strategy.approve: it needs the role approver or admin; ana is an author" in page.text
    posted = web.post(f"/strategies/{PASSED}/approve", {"run_id": 1})
    assert posted.status_code == 403
    assert "needs the role approver or admin" in posted.text
    with web.store() as store:
        assert store.latest_approval(PASSED) is None


def test_under_the_four_eyes_rule_nobody_approves_a_version_they_authored(
    four_eyes_web: Web,
) -> None:
    web = four_eyes_web
    web.sign_in("trader")  # an approver, and the author of both template strategies
    page = web.client.get(f"/strategies/{PASSED}/approve").text
    assert "Four-eyes rule" in page
    refused = web.post(f"/strategies/{PASSED}/approve", {"run_id": 1})
    assert refused.status_code == 403
    assert "trader authored version 1 of strategy 1" in refused.text
    web.post("/logout")
    web.sign_in("bo")
    assert web.post(f"/strategies/{PASSED}/approve", {"run_id": 1}).status_code == 303


def test_an_approver_revokes_and_retires_from_the_page(web: Web) -> None:
    web.sign_in("bo")
    web.post(f"/strategies/{PASSED}/approve", {"run_id": 1})
    assert web.post(f"/strategies/{PASSED}/revoke", {"reason": ""}).status_code == 400
    assert web.post(f"/strategies/{PASSED}/revoke", {"reason": "bad fills"}).status_code == 303
    assert web.post(f"/strategies/{PASSED}/retire", {"reason": "replaced"}).status_code == 303
    with web.store() as store:
        approval = store.latest_approval(PASSED)
        assert approval is not None
        assert approval.revoked_by == "bo"
        assert store.strategy(PASSED).state == State.RETIRED
    page = web.client.get(f"/strategies/{PASSED}").text
    assert f"strategy {PASSED} is retired" in page


def test_an_operator_may_not_revoke_and_is_told_the_role_needed(web: Web) -> None:
    web.sign_in("olu")
    answer = web.post(f"/strategies/{PASSED}/revoke", {"reason": "why not"})
    assert answer.status_code == 403
    assert "strategy.revoke: it needs the role approver or admin; olu is an operator" in (
        answer.text
    )


def test_the_audit_page_lists_entries_and_verifies_the_chain_and_the_records(web: Web) -> None:
    web.sign_in("olu")
    page = web.client.get("/audit").text
    assert "backtest.recorded" in page
    assert "user.created" in page
    verified = web.client.get("/audit/verify")
    assert verified.status_code == 200
    assert "The audit chain verifies" in verified.text
    with web.store() as store:
        store.connection.execute("UPDATE strategies SET state = 'approved' WHERE id = 1")
    tampered = web.client.get("/audit/verify")
    assert tampered.status_code == 409
    assert "changed outside nl_trader" in tampered.text


def test_an_admin_adds_and_disables_users_from_the_page_and_others_may_not(web: Web) -> None:
    web.sign_in("root")
    refused = web.post("/users", {"name": "x", "password": "short", "role": "boss"})
    assert refused.status_code == 400
    assert "role: 'boss' is not one of author, approver, operator, admin" in unescape(refused.text)
    assert "password: at least 8 characters" in refused.text
    added = web.post("/users", {"name": "Mei", "password": "a long passphrase", "role": "author"})
    assert added.status_code == 303
    with web.store() as store:
        mei = store.user_named("mei")
    assert mei is not None
    assert web.post(f"/users/{mei.id}/disable").status_code == 303
    web.post("/logout")
    web.sign_in("bo")
    answer = web.client.get("/users")
    assert answer.status_code == 403
    assert "user.manage: it needs the role admin; bo is an approver" in answer.text


def test_the_interface_speaks_the_users_language_chosen_per_user(web: Web) -> None:
    web.sign_in("ana")
    assert web.post("/language", {"language": "zh-Hant"}).status_code == 303
    assert "新增策略" in web.client.get("/strategies").text
    web.post("/language", {"language": "zh-Hans"})
    assert "新建策略" in web.client.get("/strategies").text
    with web.store() as store:
        user = store.user_named("ana")
    assert user is not None
    assert user.language == "zh-Hans"  # kept with the user: it follows them to another browser


def test_before_signing_in_the_page_speaks_the_browsers_language(web: Web) -> None:
    page = web.client.get("/login", headers={"Accept-Language": "zh-TW,zh;q=0.9"}).text
    assert "登入" in page
    page = web.client.get("/login", headers={"Accept-Language": "zh-CN"}).text
    assert "登录" in page


def test_every_language_has_every_word() -> None:
    keys = set(CATALOGUES["en"])
    for language, words in CATALOGUES.items():
        assert set(words) == keys, language


def test_every_language_fills_in_the_same_values_as_english() -> None:
    for key, english in CATALOGUES["en"].items():
        wanted = set(re.findall(r"{(\w+)}", english))
        for language, words in CATALOGUES.items():
            assert set(re.findall(r"{(\w+)}", words[key])) == wanted, (language, key)


def test_the_backtest_run_edit_and_session_pages_speak_traditional_chinese(web: Web) -> None:
    web.sign_in("root")
    web.post("/language", {"language": "zh-Hant"})
    assert "內建樣本" in web.client.get(f"/strategies/{PASSED}/backtest").text
    assert "上線標準" in web.client.get("/runs/1").text
    assert "儲存為新版本" in web.client.get(f"/strategies/{PASSED}/edit").text
    assert "比較版本" not in web.client.get(f"/strategies/{PASSED}").text  # one version only
    assert "開始模擬交易" in web.client.get(f"/strategies/{PASSED}").text


def test_pages_are_laid_out_for_a_phones_width(web: Web) -> None:
    page = web.client.get("/login").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    css = web.client.get("/static/style.css")
    assert css.status_code == 200
    assert "@media (max-width: 40rem)" in css.text
    web.sign_in("bo")
    strategy = web.client.get(f"/strategies/{PASSED}").text
    assert '<div class="scroll">' in strategy  # wide tables scroll inside the page
