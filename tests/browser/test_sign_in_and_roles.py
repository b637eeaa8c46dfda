"""Signing in and the roles, in a real browser: a wrong password signs nobody in, and a user
without the approver's role is shown no way to approve and is refused the approval."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import NO_PLAYWRIGHT, Site, missing_page

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect

pytestmark = pytest.mark.browser

PASSED_STRATEGY, PASSED_RUN = 1, 1  # of the template store: run 1 meets its criteria


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(site: Site, page: Any) -> None:
    site.sign_in(page, "ana", "not ana's password")

    expect(page.get_by_role("alert")).to_have_text("the name or the password is wrong")
    expect(page).to_have_url(site.at("/login"))
    expect(page.get_by_label("Name")).to_have_value("ana")
    expect(page.get_by_label("Password")).to_have_value("")  # never sent back
    # The browser holds a session cookie (HttpOnly, SameSite), but a signed-out one: neither the
    # pages nor the API let it in.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["nl_trader_session"]["httpOnly"]
    assert cookies["nl_trader_session"]["sameSite"] == "Lax"
    page.goto(site.at("/strategies"))
    expect(page).to_have_url(site.at("/login"))
    assert page.request.get(site.at("/api/strategies")).status == 401
    # The right password, afterwards, signs in: the refusal was the password's.
    site.sign_in(page, "ana")
    expect(page).to_have_url(site.at("/strategies"))
    expect(page.get_by_text("Signed in as ana (author)")).to_be_visible()


def test_an_approver_sees_the_approve_link_of_a_backtested_strategy(
    backtested_site: Site, page: Any
) -> None:
    backtested_site.sign_in(page, "ben")
    page.goto(backtested_site.at(f"/strategies/{PASSED_STRATEGY}"))

    approve = page.get_by_role("link", name="Approve", exact=True)
    expect(approve).to_have_count(1)
    approve.click()
    expect(page).to_have_url(
        backtested_site.at(f"/strategies/{PASSED_STRATEGY}/approve?run={PASSED_RUN}")
    )
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()


def test_an_author_sees_no_approve_link_and_is_refused_the_approval(
    backtested_site: Site, page: Any
) -> None:
    site = backtested_site
    site.sign_in(page, "ana")
    page.goto(site.at(f"/strategies/{PASSED_STRATEGY}"))
    expect(page.get_by_role("heading", name=f"Run {PASSED_RUN}", exact=False)).to_be_visible()
    expect(page.get_by_role("link", name="Approve", exact=True)).to_have_count(0)
    run_page = page.goto(site.at(f"/runs/{PASSED_RUN}"))
    if not missing_page(run_page):  # the run page, once the app has it
        expect(page.get_by_role("link", name="Approve", exact=True)).to_have_count(0)

    # Visiting the approval page directly: refused, naming the role it needs.
    response = page.goto(site.at(f"/strategies/{PASSED_STRATEGY}/approve?run={PASSED_RUN}"))
    assert response is not None
    assert response.status == 403
    needed = "strategy.approve: it needs the role approver or admin; ana is an author"
    expect(page.get_by_role("heading", level=1)).to_have_text(needed)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    # Posting the approval form directly, with this session's own CSRF token: refused too.
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    posted = page.request.post(
        site.at(f"/strategies/{PASSED_STRATEGY}/approve"),
        form={"run_id": str(PASSED_RUN), "csrf_token": token or ""},
        max_redirects=0,
    )
    assert posted.status == 403
    assert needed in posted.text()
    with site.store() as store:
        assert store.approvals(PASSED_STRATEGY) == []
    page.goto(site.at(f"/strategies/{PASSED_STRATEGY}"))
    expect(page.get_by_text(re.compile(r"^No, because:"))).to_be_visible()


def test_an_author_sees_no_start_session_button_and_is_refused_a_session(
    backtested_site: Site, page: Any
) -> None:
    site = backtested_site
    site.sign_in(page, "ana")
    page.goto(site.at(f"/strategies/{PASSED_STRATEGY}"))
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.get_by_role("button", name="Start paper session")).to_have_count(0)

    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    posted = page.request.post(
        site.at(f"/strategies/{PASSED_STRATEGY}/sessions"),
        form={"account": "paper", "csrf_token": token or ""},
        max_redirects=0,
    )
    if missing_page(posted):
        pytest.skip("starting a session (POST /strategies/N/sessions) is not in the web app yet")
    assert posted.status == 403
    assert "session.start: it needs the role operator or admin; ana is an author" in posted.text()
    with site.store() as store:
        assert store.sessions(PASSED_STRATEGY) == []
