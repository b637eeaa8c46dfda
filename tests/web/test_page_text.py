"""How the pages write what they show: figures rounded, times in one UTC form, hashes short,
payloads as JSON, the library's words translated where they are fixed words, reasons without
command lines, the journal's order said, and the words of phone-width layouts."""

from __future__ import annotations

import re
from html import unescape

from nl_trader.web.format import as_json, money, pct, plain, ratio, short_hash, utc, web_reason
from nl_trader.web.i18n import CATALOGUES, Translator
from tests.store.builders import MISSED, PASSED
from tests.web.conftest import QUESTION, SHORT_TEXT, Web
from tests.web.test_sessions import _approve, _start

LONG_DECIMALS = re.compile(r"\d\.\d{3,}")
RAW_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
PAGE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


def _shown_text(html: str) -> str:
    """What a person reads: the page without its tags and attributes (and the embedded JSON)."""
    html = re.sub(r"<details><summary>JSON</summary>.*?</details>", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_figures_on_pages_are_rounded_to_cents_and_hundredths(web: Web) -> None:
    assert money(-1234.5) == "-1,234.50"
    assert money(203.60999999999999) == "203.61"
    assert ratio(0.8653811206461383) == "0.87"
    assert pct(2.779270122573081) == "2.78 %"
    assert money(None) == ratio(None) == pct(None) == "-"
    assert plain(1.0812300000000001) == "1.08123"
    web.sign_in("bo")
    with web.store() as store:
        run = store.run(1)
    for url in ("/strategies", f"/strategies/{PASSED}", "/runs/1", f"/strategies/{PASSED}/approve"):
        shown = _shown_text(web.client.get(url).text)
        assert not LONG_DECIMALS.search(shown), (url, LONG_DECIMALS.search(shown))
    run_page = _shown_text(web.client.get("/runs/1").text)
    assert f"{run.figures['profit_factor']:.2f}" in run_page
    assert f"{run.figures['equity_drawdown_pct']:.2f} %" in run_page
    assert f"{run.figures['total_net_profit']:,.2f}" in run_page


def test_audit_payloads_are_shown_as_json_without_float_noise(web: Web) -> None:
    assert as_json({"filled": 2, "note": None, "met": True}) == (
        '{"filled": 2, "met": true, "note": null}'
    )
    assert as_json({"realised_profit": -6.2700000000000005}) == '{"realised_profit": -6.27}'
    _approve(web, MISSED)  # an override: its payload holds true/false, a list and a null
    web.sign_in("root")
    page = unescape(web.client.get("/audit").text)
    payloads = re.findall(r'<code class="json">(.*?)</code>', page, flags=re.S)
    assert payloads
    assert any('"criteria_met": false' in payload for payload in payloads)
    for payload in payloads:
        for python_word in ("None", "True", "False"):
            assert python_word not in payload
        assert "=" not in payload.split('"')[0]  # no key=value pairs
        assert not re.search(r"\d\.\d{9,}", payload)


def test_times_are_shown_as_utc_to_the_minute_on_strategy_and_users_pages(web: Web) -> None:
    assert utc("2026-12-03T07:37:12.5+00:00") == "2026-12-03 07:37 UTC"
    assert utc(None) == ""
    _approve(web)
    web.sign_in("root")
    for url in (f"/strategies/{PASSED}", "/users"):
        shown = _shown_text(web.client.get(url).text)
        assert not RAW_ISO_TIME.search(shown), (url, RAW_ISO_TIME.search(shown))
        assert PAGE_TIME.search(shown), url
    # The audit log's own column too (a payload keeps the values as they were recorded).
    audit = web.client.get("/audit").text
    assert re.search(r'<td class="when">\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC</td>', audit)


def test_hashes_in_tables_are_short_with_the_whole_hash_a_tap_away(web: Web) -> None:
    web.sign_in("bo")
    with web.store() as store:
        spec_hash = store.current_version(PASSED).spec_hash
    page = web.client.get(f"/strategies/{PASSED}").text
    assert short_hash(spec_hash) == spec_hash[:12] + "…"
    assert f'<summary title="{spec_hash}">{spec_hash[:12]}…</summary>' in page
    assert f"<code>{spec_hash}</code>" in page  # the whole hash, inside the details
    approve = web.client.get(f"/strategies/{PASSED}/approve").text
    assert f'id="spec-hash">{spec_hash}</dd>' in approve  # approving shows it whole


def test_a_gate_reason_links_to_the_approve_page_instead_of_a_command_line(web: Web) -> None:
    found = web_reason("strategy 1 has no approval: approve it (nl-trader approve 1 --by NAME)")
    assert (found.text, found.command) == ("strategy 1 has no approval: approve it", "approve")
    assert found.command_line is None  # the page links to the approve page instead
    assigned = web_reason("a person assigns it first (nl-trader live assign 1 --account x --by N)")
    assert assigned.text == "a person assigns it first"
    assert assigned.command_line == "nl-trader live assign 1 --account x --by N"  # no web page
    assert web_reason("a reason (in brackets)").text == "a reason (in brackets)"
    web.sign_in("bo")
    page = web.client.get(f"/strategies/{MISSED}").text
    assert f"strategy {MISSED} has no approval: backtest it and approve its report" in page
    assert "nl-trader approve" not in page
    with web.store() as store:
        run = store.latest_run(store.current_version(MISSED).id)
    assert run is not None
    assert f'class="fix" href="/strategies/{MISSED}/approve?run={run.id}"' in page


def test_the_session_journal_says_its_order_and_shows_event_and_recorded_times(web: Web) -> None:
    _approve(web)
    web.sign_in("olu")
    session_id = _start(web)
    assert web.settings.runner.wait(session_id, timeout=120)
    page = web.client.get(f"/sessions/{session_id}").text
    assert "Newest first, in the order the session wrote them (#)" in page
    assert "<th>Event time (UTC)</th><th>Recorded (UTC)</th>" in page
    ids = [int(n) for n in re.findall(r'data-label="#" class="seq">(\d+)</td>', page)]
    with web.store() as store:
        journal = store.journal(session_id)
    assert ids == sorted((entry.id for entry in journal), reverse=True)
    executions = sum(1 for entry in journal if entry.kind == "execution")
    word = "execution" if executions == 1 else "executions"
    assert f"({executions} {word})" in page
    assert not RAW_ISO_TIME.search(_shown_text(page))


def test_one_execution_is_singular_in_every_language() -> None:
    assert Translator("en").count("executions", 1) == "1 execution"
    assert Translator("en").count("executions", 3) == "3 executions"
    assert Translator("zh-Hant").count("executions", 1) == "1 筆成交"
    assert Translator("zh-Hans").count("executions", 2) == "2 笔成交"


def test_chinese_words_use_full_width_punctuation() -> None:
    for language in ("zh-Hant", "zh-Hans"):
        for key, text in CATALOGUES[language].items():
            outside_placeholders = re.sub(r"{\w+}|\[[^\]]*\]", "", text)
            assert not re.search(r"[:(),?;]", outside_placeholders), (language, key, text)


def test_chinese_pages_translate_states_criteria_roles_and_session_words(web: Web) -> None:
    _approve(web)
    web.sign_in("root")
    web.post("/language", {"language": "zh-Hant"})
    session_id = _start(web)
    assert web.settings.runner.wait(session_id, timeout=120)
    strategy = web.client.get(f"/strategies/{MISSED}").text
    assert '<span class="state state-backtested">已回測</span>' in strategy
    for word in ("交易次數", "最大淨值回撤", "獲利因子", "樣本外獲利因子"):
        assert f"<td>{word}</td>" in strategy
    assert "已登入：root（管理員）" in strategy
    assert "（英文）" in strategy  # the gate's reasons are the library's, in English
    assert "期間：" in strategy  # the pages' own colons are full-width too
    assert "期間:" not in strategy
    run = web.client.get("/runs/1").text
    assert "nl_trader 產生的樣本" in run
    assert "根K線" in run
    session = web.client.get(f"/sessions/{session_id}").text
    assert "模擬 · 版本" in session
    assert 'data-label="類型">成交</td>' in session
    users = web.client.get("/users").text
    for role in ("撰寫者", "核准人", "操作員"):
        assert role in users
    web.post("/language", {"language": "zh-Hans"})
    hans = web.client.get(f"/strategies/{MISSED}").text
    assert "已登录：root（管理员）" in hans
    assert "<td>盈利因子</td>" in hans


def test_clarifying_questions_are_shown_once_as_a_list(web: Web) -> None:
    web.sign_in("ana")
    asked = web.post("/strategies/new", {"text": SHORT_TEXT}).text
    shown = _shown_text(re.sub(r"<input[^>]*>", "", asked))
    assert shown.count(QUESTION) == 1
    assert '<ol class="questions">' in asked
    assert ": - " not in shown  # no list flattened into a sentence


def test_tables_become_cards_at_a_phones_width_with_each_value_named(web: Web) -> None:
    css = web.client.get("/static/style.css").text
    assert "table.cards td[data-label]::before" in css
    assert ".badge, .when, td.seq { white-space: nowrap; }" in css
    assert ".scroll + form" in css  # the approve form's Note does not touch the criteria
    web.sign_in("root")
    users = web.client.get("/users").text
    assert '<table class="cards users">' in users
    assert 'data-label="Disabled"' in users
    strategy = web.client.get(f"/strategies/{PASSED}").text
    assert '<table class="cards versions">' in strategy
    assert '<td class="badge">met</td>' in strategy or '<td class="badge">not met</td>' in strategy
    backtest = web.client.get(f"/strategies/{PASSED}/backtest").text
    hints = re.findall(r'<p class="hint[^"]*">', backtest.split("</fieldset>")[0])
    assert hints
    assert all("indent" in hint for hint in hints)  # hints line up with their fields
