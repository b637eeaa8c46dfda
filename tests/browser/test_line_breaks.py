"""What a trader types on several lines, in a real browser (which sends a textarea's lines
ending in CR LF), is shown as typed: a strategy's text, and a refused spec to correct in place."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser.conftest import FIRST_LINE, NO_PLAYWRIGHT, SECOND_LINE, Site, goto

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect

pytestmark = pytest.mark.browser

MISSED_STRATEGY = 2  # of the template store, authored by "trader"


def _with_stop(spec: dict[str, Any], pips: float) -> str:
    exits = {**spec["exits"], "stop_loss": {**spec["exits"]["stop_loss"], "value": pips}}
    return json.dumps({**spec, "exits": exits}, indent=2)


def test_a_strategy_typed_on_two_lines_is_stored_and_shown_as_typed(site: Site, page: Any) -> None:
    site.sign_in(page, "ana")
    page.goto(site.at("/strategies/new"))
    page.get_by_label("Describe the strategy (English or Chinese)").fill(
        f"{FIRST_LINE}\n{SECOND_LINE}"
    )
    page.get_by_role("button", name="Translate and store").click()

    expect(page).to_have_url(re.compile(r"/strategies/\d+\?new=1$"))
    shown = page.locator("blockquote.text")
    expect(shown).to_contain_text(FIRST_LINE)
    expect(shown).to_contain_text(SECOND_LINE)
    expect(shown).not_to_contain_text("\\x0d")
    found = re.search(r"/strategies/(\d+)", page.url)
    assert found
    strategy_id = int(found.group(1))
    with site.store() as store:
        assert store.current_version(strategy_id).text == f"{FIRST_LINE}\n{SECOND_LINE}"


def test_a_refused_edit_can_be_corrected_in_the_page_and_saved(
    backtested_site: Site, page: Any
) -> None:
    site = backtested_site
    site.sign_in(page, "ana")
    goto(page, site.at(f"/strategies/{MISSED_STRATEGY}/edit"), "the spec editor")
    spec = page.get_by_label("Spec (JSON)")
    written = json.loads(spec.input_value())
    refused = _with_stop(written, -5)
    spec.fill(refused)
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "exits.stop_loss.value: Input should be greater than 0"
    )
    assert spec.input_value() == refused  # shown again as typed, line for line
    spec.fill(spec.input_value().replace('"value": -5', '"value": 35'))
    page.get_by_label("What changed, and why").fill("a wider stop")
    page.get_by_role("button", name="Save as a new version").click()

    expect(page).to_have_url(site.at(f"/strategies/{MISSED_STRATEGY}"))
    expect(page.get_by_role("cell", name="a wider stop")).to_be_visible()
    expect(page.locator("pre.explain")).to_contain_text(re.compile(r"Stop loss 35 pips"))
