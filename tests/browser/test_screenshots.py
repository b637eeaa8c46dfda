"""Screenshots of every page at a desktop's and a phone's width, for a person to look at.

They go to ``$NL_TRADER_SCREENSHOTS`` (default: the test's temporary folder; never the
repository), named ``NN-page-desktop.png`` / ``NN-page-phone.png`` (and ``NN-run-report-*.png``:
the embedded report on screen), with ``findings.txt``: the pages wider than a phone's screen and
what else was noticed while capturing. Pages the app does not have yet are listed and the test
is skipped at the end, naming them, once everything that exists is captured.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import (
    DESKTOP,
    NO_PLAYWRIGHT,
    PHONE,
    SHORT_TEXT,
    Site,
    missing_page,
)

playwright_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
expect = playwright_api.expect

pytestmark = pytest.mark.browser

REPOSITORY = Path(__file__).resolve().parents[2]
PASSED_STRATEGY, PASSED_RUN = 1, 1  # of the template store: run 1 meets its criteria
MISSED_STRATEGY, MISSED_RUN = 2, 2  # run 2 does not: its approval page asks for a reason
EXECUTION_WAIT_MS = 30_000
REPORT = "Backtest report"  # the title of the run page's embedded report


def _folder(tmp_path: Path) -> Path:
    configured = os.environ.get("NL_TRADER_SCREENSHOTS", "").strip()
    folder = Path(configured).expanduser().resolve() if configured else tmp_path / "screenshots"
    if folder.is_relative_to(REPOSITORY):
        pytest.fail(f"NL_TRADER_SCREENSHOTS: {folder} is inside the repository; choose another")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Camera:
    """Takes each page at both widths, numbered in the order taken."""

    page: Any
    folder: Path
    taken: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def shoot(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        report = self.page.locator(f'iframe[title="{REPORT}"]')
        if report.count():
            self._wait_for_the_report()
        number = len({path.name.split("-")[0] for path in self.taken}) + 1
        for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)
            path = self.folder / f"{number:02d}-{name}-{width}.png"
            self.page.screenshot(path=path, full_page=True)
            self.taken.append(path)
            if report.count():
                # Headless Chromium leaves a sandboxed frame blank below the first screen of a
                # full-page capture: the embedded report is taken on screen too.
                report.scroll_into_view_if_needed()
                self.page.wait_for_timeout(300)
                on_screen = self.folder / f"{number:02d}-{name}-report-{width}.png"
                self.page.screenshot(path=on_screen)
                self.taken.append(on_screen)
            if width == "phone":
                scroll = self.page.evaluate("document.documentElement.scrollWidth")
                if scroll > viewport["width"]:
                    self.too_wide.append(
                        f"{path.name}: {scroll} px wide on a {viewport['width']} px screen"
                    )
        self.page.set_viewport_size(DESKTOP)

    def _wait_for_the_report(self) -> None:
        report = self.page.frame_locator(f'iframe[title="{REPORT}"]')
        try:
            report.get_by_role("heading", name="Summary").wait_for()
            report.locator(".js-plotly-plot").first.wait_for()  # the charts, drawn
        except playwright_api.TimeoutError:
            self.notes.append(f"{self.page.url}: the embedded report showed no chart within 10 s")

    def visit(self, url: str, name: str, what: str) -> bool:
        """Open and capture a page; note it as missing (and capture nothing) if the app has none."""
        response = self.page.goto(url)
        if missing_page(response):
            self.missing.append(f"{what} ({url.split('/', 3)[-1]})")
            return False
        self.shoot(name)
        return True

    def choose_language(self, code: str) -> None:
        self.page.locator('select[name="language"]').select_option(code)
        self.page.locator('form[action="/language"] button').click()
        expect(self.page.locator("html")).to_have_attribute("lang", code)


def _with_stop(spec: dict[str, Any], pips: float) -> dict[str, Any]:
    exits = {**spec["exits"], "stop_loss": {**spec["exits"]["stop_loss"], "value": pips}}
    return {**spec, "exits": exits}


def _edit_and_compare(camera: Camera, site: Site) -> None:
    """Strategy 2's spec editor, refusing a bad value field by field, then a saved version 2
    and the comparison of the two versions."""
    page = camera.page
    if not camera.visit(
        site.at(f"/strategies/{MISSED_STRATEGY}/edit"), "edit-spec", "the spec editor"
    ):
        return
    spec = page.get_by_label("Spec (JSON)")
    written = json.loads(spec.input_value())
    spec.fill(json.dumps(_with_stop(written, -5), indent=2))
    page.get_by_role("button", name="Save as a new version").click()
    camera.shoot("edit-spec-problems")
    spec.fill(json.dumps(_with_stop(written, 35), indent=2))
    page.get_by_label("What changed, and why").fill("a wider stop")
    page.get_by_role("button", name="Save as a new version").click()
    camera.visit(
        site.at(f"/strategies/{MISSED_STRATEGY}/diff?a=1&b=2"), "diff", "the versions' diff"
    )


def _paper_session(camera: Camera, site: Site) -> None:
    """Approve strategy 1 and start a paper session on it; capture the session page once an
    execution arrived (or after a while), then stop it."""
    page = camera.page
    page.goto(site.at(f"/strategies/{PASSED_STRATEGY}/approve?run={PASSED_RUN}"))
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page).to_have_url(site.at(f"/strategies/{PASSED_STRATEGY}"))
    start = page.get_by_role("button", name="Start paper session")
    if not start.count():
        camera.missing.append('the session page (no "Start paper session" button)')
        return
    account = page.locator("form", has=start).locator('[name="account"]')
    if account.count() and account.evaluate("field => field.tagName") == "SELECT":
        account.select_option("paper")
    with page.expect_navigation() as navigation:
        start.click()
    if missing_page(navigation.value):
        camera.missing.append("the session page (starting a session)")
        return
    try:
        page.locator("tr.event.event-execution").first.wait_for(timeout=EXECUTION_WAIT_MS)
    except playwright_api.TimeoutError:  # captured anyway: the screenshot shows what it had
        camera.notes.append("the session page showed no execution row within 30 s")
    camera.shoot("session")
    stop = page.get_by_role("button", name="Stop session")
    if stop.count():
        page.wait_for_event("load")  # just refreshed: the next refresh cannot cut the POST short
        stop.click()
        expect(stop).to_have_count(0, timeout=20_000)
        camera.shoot("session-stopped")


def test_every_page_is_captured_at_desktop_and_phone_widths(
    backtested_site: Site, page: Any, tmp_path: Path
) -> None:
    site = backtested_site
    camera = Camera(page, _folder(tmp_path))

    camera.visit(site.at("/login"), "sign-in", "the sign-in page")
    site.sign_in(page, "ada")
    camera.visit(site.at("/strategies"), "strategies", "the strategies list")
    camera.visit(site.at("/strategies/new"), "new-strategy", "the new strategy page")
    page.get_by_label("Describe the strategy (English or Chinese)").fill(SHORT_TEXT)
    page.get_by_role("button", name="Translate and store").click()
    camera.shoot("new-strategy-question")
    camera.visit(site.at(f"/strategies/{PASSED_STRATEGY}"), "strategy", "the strategy page")
    camera.visit(
        site.at(f"/strategies/{PASSED_STRATEGY}/backtest"), "backtest-form", "the backtest form"
    )
    camera.visit(site.at(f"/runs/{PASSED_RUN}"), "run", "the run page")
    camera.visit(
        site.at(f"/strategies/{PASSED_STRATEGY}/approve?run={PASSED_RUN}"),
        "approve",
        "the approval page",
    )
    camera.visit(
        site.at(f"/strategies/{MISSED_STRATEGY}/approve?run={MISSED_RUN}"),
        "approve-override",
        "the approval page",
    )
    _edit_and_compare(camera, site)
    _paper_session(camera, site)
    camera.visit(site.at("/audit"), "audit", "the audit log")
    camera.visit(site.at("/users"), "users", "the users page")

    page.goto(site.at(f"/strategies/{PASSED_STRATEGY}"))
    camera.choose_language("zh-Hant")
    camera.shoot("strategy-zh-Hant")
    page.goto(site.at(f"/strategies/{MISSED_STRATEGY}/approve?run={MISSED_RUN}"))
    camera.choose_language("zh-Hans")
    camera.shoot("approve-override-zh-Hans")
    camera.choose_language("en")

    findings = camera.folder / "findings.txt"
    findings.write_text(
        "\n".join(
            [
                f"{len(camera.taken)} screenshots in {camera.folder}",
                "wider than a phone's screen:",
                *(f"  {line}" for line in camera.too_wide or ["none"]),
                "noticed while capturing:",
                *(f"  {line}" for line in camera.notes or ["nothing"]),
                "not in the web app yet:",
                *(f"  {line}" for line in camera.missing or ["none"]),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert camera.taken
    if camera.missing:
        pytest.skip(
            f"captured {len(camera.taken)} screenshots in {camera.folder}; not in the web app "
            f"yet: {'; '.join(camera.missing)}"
        )
