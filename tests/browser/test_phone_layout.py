"""At a phone's width (390 px) the record tables are usable: a user's Disable button on screen,
a hash on one short line, an audit entry a few lines tall; a "not met" badge stays on one line
and the approve form does not touch the criteria table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import NO_PLAYWRIGHT, PHONE, Site, goto

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect

pytestmark = pytest.mark.browser

MISSED_STRATEGY = 2  # of the template store: its run misses the criteria


@pytest.fixture
def phone(new_context: Callable[..., Any]) -> Any:
    return new_context(viewport=PHONE).new_page()


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return dict(box)


def test_at_a_phones_width_a_users_disable_button_is_on_screen(
    backtested_site: Site, phone: Any
) -> None:
    site = backtested_site
    site.sign_in(phone, "ada")
    goto(phone, site.at("/users"), "the users page")
    button = phone.get_by_role("button", name="Disable").first
    expect(button).to_be_visible()
    box = _box(button)
    assert box["x"] + box["width"] <= PHONE["width"]
    expect(phone.locator("td[data-label=Disabled]").first).to_be_visible()


def test_at_a_phones_width_a_spec_hash_takes_one_line_and_opens_whole(
    backtested_site: Site, phone: Any
) -> None:
    site = backtested_site
    site.sign_in(phone, "ada")
    goto(phone, site.at("/strategies/1"), "the strategy page")
    summary = phone.locator("table.versions details.hash summary").first
    assert _box(summary)["height"] < 30  # one line, not 13 lines of 5 characters
    summary.click()
    whole = phone.locator("table.versions details.hash code").first
    expect(whole).to_be_visible()
    assert len(whole.inner_text()) == 64
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


def test_at_a_phones_width_an_audit_entry_is_a_few_lines_tall(
    backtested_site: Site, phone: Any
) -> None:
    site = backtested_site
    site.sign_in(phone, "ada")
    goto(phone, site.at("/audit"), "the audit page")
    rows = phone.locator("table.audit tbody tr")
    count = rows.count()
    assert count > 0
    heights = [_box(rows.nth(index))["height"] for index in range(count)]
    assert sum(heights) / count < 260, heights
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_not_met_badge_stays_on_one_line_and_the_note_does_not_touch_the_criteria(
    backtested_site: Site, page: Any
) -> None:
    site = backtested_site
    site.sign_in(page, "ben")
    page.locator('select[name="language"]').select_option("zh-Hant")
    page.locator('form[action="/language"] button').click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    for viewport in (PHONE, {"width": 1280, "height": 800}):
        page.set_viewport_size(viewport)
        goto(page, site.at(f"/strategies/{MISSED_STRATEGY}/approve"), "the approve page")
        badge = page.locator("table.criteria td.badge", has_text="未達標").first
        expect(badge).to_be_visible()
        line = page.evaluate(
            "(el) => parseFloat(getComputedStyle(el).lineHeight)", badge.element_handle()
        )
        assert _box(badge)["height"] < 2 * line
        table = _box(page.locator("table.criteria"))
        form = _box(page.locator("form.approve-form"))
        assert form["y"] >= table["y"] + table["height"] + 12
