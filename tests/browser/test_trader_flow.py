"""The whole way, in a real browser, as the traders take it: the author types a strategy and
answers the model's question, backtests it on the bundled sample and reads the report; the
approver approves it; the operator starts a paper session, watches an execution arrive and stops
it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import (
    ANSWER,
    NO_PLAYWRIGHT,
    QUESTION,
    SHORT_TEXT,
    STRATEGY_NAME,
    Site,
    click_and_load,
    goto,
    skip_unless_present,
)

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect

pytestmark = pytest.mark.browser

SAMPLE_BARS = "3000"  # of the bundled sample: a backtest of a second or two
BACKTEST_TIMEOUT_MS = 90_000  # the first backtest on a machine may compile the engine
EXECUTION_TIMEOUT_MS = 60_000


def _id_in(url: str, kind: str) -> int:
    found = re.search(rf"/{kind}/(\d+)", urlsplit(url).path)
    assert found, f"{url} is not a /{kind}/N page"
    return int(found.group(1))


def _type_and_answer(site: Site, page: Any) -> int:
    """As the author: type a strategy without exits, answer the model's question; the strategy
    id of the stored result."""
    site.sign_in(page, "ana")
    page.get_by_role("navigation").get_by_role("link", name="New strategy").click()
    page.get_by_label("Describe the strategy (English or Chinese)").fill(SHORT_TEXT)
    page.get_by_role("button", name="Translate and store").click()

    # The model's question, answered in the page; the text goes on with the answer.
    expect(
        page.get_by_text("The model needs answers before it can write the strategy:")
    ).to_be_visible()
    expect(page.get_by_text(SHORT_TEXT)).to_be_visible()
    page.get_by_label(QUESTION).fill(ANSWER)
    page.get_by_role("button", name="Answer and continue").click()

    expect(page).to_have_url(re.compile(r"/strategies/\d+\?new=1$"))
    strategy_id = _id_in(page.url, "strategies")
    expect(
        page.get_by_text(f"Stored as strategy {strategy_id}, version 1, in draft.")
    ).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(STRATEGY_NAME)
    expect(page.get_by_role("heading", name="What the strategy does")).to_be_visible()
    explanation = page.locator("pre.explain")
    expect(explanation).to_contain_text("EURUSD on H1 bars.")
    # The answer's exits and size, explained back.
    expect(explanation).to_contain_text("Stop loss 30 pips from the entry.")
    expect(explanation).to_contain_text("Take profit 60 pips from the entry.")
    expect(explanation).to_contain_text("Size: 0.1 lots per trade")
    expect(page.get_by_text(ANSWER, exact=False)).to_be_visible()  # the stored text has it
    return strategy_id


def _backtest(site: Site, page: Any, strategy_id: int) -> int:
    """As the author, from the strategy's page: backtest on the bundled sample, follow the
    progress page to the run page; the run id."""
    backtest = page.get_by_role("link", name="Backtest", exact=True)
    skip_unless_present(backtest, 'the strategy page\'s "Backtest" link')
    visited: list[str] = []
    page.on(
        "framenavigated", lambda frame: frame.parent_frame is None and visited.append(frame.url)
    )
    click_and_load(page, backtest, f"the backtest page (/strategies/{strategy_id}/backtest)")

    expect(page.get_by_label("Bundled sample")).to_be_checked()
    expect(page.get_by_label("Upload a file")).not_to_be_checked()
    labels = ("From", "To", "Spread (points)", "Commission per lot", "Deposit", "Currency")
    for label in (*labels, "Leverage"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_role("combobox", name="Account mode")).to_be_visible()
    page.get_by_label("Sample bars", exact=True).fill(SAMPLE_BARS)
    landed = click_and_load(
        page, page.get_by_role("button", name="Run backtest"), "the backtest job"
    )

    # The progress page (read as served: it may move on at once) says how far the backtest is,
    # refreshes itself until the run is recorded, then leads to the run page.
    assert re.search(r"/backtests/[^/?]+$", landed.url), f"{landed.url} is not a progress page"
    assert re.search(r"Backtesting… \d+ %|Backtest done: run \d+\.", landed.text())
    page.wait_for_url(re.compile(r"/runs/\d+$"), timeout=BACKTEST_TIMEOUT_MS)
    assert any("/backtests/" in url for url in visited), f"no progress page among {visited}"
    run_id = _id_in(page.url, "runs")

    report = page.frame_locator('iframe[title="Backtest report"]')
    expect(page.get_by_title("Backtest report")).to_be_visible()
    expect(report.get_by_role("heading", level=1)).to_have_text(STRATEGY_NAME)
    expect(report.get_by_role("heading", name="Summary")).to_be_visible()
    expect(
        page.get_by_role("heading", name=re.compile(r"^Promotion criteria: (met|not met)$"))
    ).to_be_visible()
    for criterion in ("trades", "profit factor", "out-of-sample profit factor"):
        expect(page.get_by_role("cell", name=criterion, exact=True)).to_be_visible()
    # The author backtests; approving is not theirs.
    expect(page.get_by_role("link", name="Approve", exact=True)).to_have_count(0)
    return run_id


def _approve(site: Site, page: Any, strategy_id: int, run_id: int) -> None:
    """As the approver, from the run page: approve, with an override reason if the criteria are
    not met."""
    site.sign_in(page, "ben")
    goto(page, site.at(f"/runs/{run_id}"), f"the run page (/runs/{run_id})")
    page.get_by_role("link", name="Approve", exact=True).click()
    expect(page).to_have_url(site.at(f"/strategies/{strategy_id}/approve?run={run_id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(STRATEGY_NAME)
    expect(page.locator("#spec-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(page.locator("#report-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    page.get_by_label("Note").fill("approved in the browser test")
    override = page.get_by_label(re.compile(r"^Override reason"))
    if override.count():
        expect(page.get_by_text("The promotion criteria are not met")).to_be_visible()
        override.fill("a paper session on the sample, to watch the executions")
    page.get_by_role("button", name="Approve", exact=True).click()

    expect(page).to_have_url(site.at(f"/strategies/{strategy_id}"))
    expect(
        page.get_by_text(re.compile(r"^Yes: approval \d+ allows a session to start\."))
    ).to_be_visible()
    expect(page.get_by_role("cell", name="ben", exact=True)).to_be_visible()


def _start_paper_session(site: Site, page: Any, strategy_id: int) -> int:
    """As the operator, from the strategy page: start a paper session; its id."""
    site.sign_in(page, "olga")
    page.goto(site.at(f"/strategies/{strategy_id}"))
    start = page.get_by_role("button", name="Start paper session")
    skip_unless_present(start, 'the strategy page\'s "Start paper session" button')
    account = page.locator("form", has=start).locator('[name="account"]')
    if account.count():
        if account.evaluate("field => field.tagName") == "SELECT":
            account.select_option("paper")
        elif account.evaluate("field => field.type") != "hidden" and not account.input_value():
            account.fill("paper")
    click_and_load(page, start, f"starting a session (POST /strategies/{strategy_id}/sessions)")
    expect(page).to_have_url(re.compile(r"/sessions/\d+$"))
    return _id_in(page.url, "sessions")


def _watch_and_stop(site: Site, page: Any, strategy_id: int, session_id: int) -> None:
    """As the operator, on the session page (which refreshes itself): an execution arrives;
    stop the session and see it stopped."""
    execution = page.locator("tr.event.event-execution").first
    expect(execution).to_be_visible(timeout=EXECUTION_TIMEOUT_MS)
    expect(execution).to_contain_text("execution")
    expect(page.get_by_role("button", name="Kill")).to_be_visible()
    stop = page.get_by_role("button", name="Stop session")
    # Just after a refresh, so that the next one cannot cut the form's POST short.
    page.wait_for_event("load")
    with page.expect_response(lambda response: response.request.method == "POST"):
        stop.click()
    # The runner notices the request at its next poll; the page, refreshing, then shows it.
    expect(stop).to_have_count(0, timeout=20_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("stopped")
    page.goto(site.at(f"/strategies/{strategy_id}"))
    row = page.locator("section", has=page.get_by_role("heading", name="Sessions")).get_by_role(
        "row", name=re.compile(rf"^{session_id} ")
    )
    expect(row).to_contain_text("stopped")
    with site.store() as store:
        assert store.session(session_id).status == "stopped"


def test_a_typed_strategy_is_answered_backtested_approved_and_paper_traded(
    site: Site, page: Any
) -> None:
    strategy_id = _type_and_answer(site, page)
    run_id = _backtest(site, page, strategy_id)
    site.sign_out(page)
    _approve(site, page, strategy_id, run_id)
    site.sign_out(page)
    session_id = _start_paper_session(site, page, strategy_id)
    _watch_and_stop(site, page, strategy_id, session_id)
