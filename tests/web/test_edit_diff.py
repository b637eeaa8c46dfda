"""Editing a spec as JSON (problems shown field by field, nothing stored) and comparing two
versions field by field."""

from __future__ import annotations

import json
from html import unescape

from nl_trader.store import State
from tests.store.builders import MISSED, PASSED
from tests.web.conftest import Web


def _spec(web: Web, strategy_id: int = PASSED) -> dict[str, object]:
    with web.store() as store:
        loaded: dict[str, object] = json.loads(store.current_version(strategy_id).spec_json)
    return loaded


def _wider_stop(web: Web) -> dict[str, object]:
    spec = _spec(web)
    spec["exits"]["stop_loss"]["value"] = 45  # type: ignore[index]
    return spec


def test_the_edit_page_shows_the_current_spec_as_json_to_change(web: Web) -> None:
    web.sign_in("ana")
    page = unescape(web.client.get(f"/strategies/{PASSED}/edit").text)
    assert '<textarea name="spec"' in page
    assert '"stop_loss"' in page
    assert "Save as a new version</button>" in page


def test_an_edited_spec_is_stored_as_a_new_draft_version_by_its_author(web: Web) -> None:
    web.sign_in("ana")
    answer = web.post(
        f"/strategies/{PASSED}/edit", {"spec": json.dumps(_wider_stop(web)), "note": "wider stop"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/strategies/{PASSED}"
    with web.store() as store:
        version = store.current_version(PASSED)
        assert (version.number, version.created_by, version.note) == (2, "ana", "wider stop")
        assert version.spec.exits.stop_loss is not None
        assert version.spec.exits.stop_loss.value == 45
        assert store.strategy(PASSED).state == State.DRAFT
        entry = store.audit_entries(subject=f"strategy/{PASSED}")[-1]
    assert (entry.action, entry.actor) == ("strategy.edited", "ana")


def test_an_invalid_spec_is_shown_again_with_every_problem_by_field_and_nothing_is_stored(
    web: Web,
) -> None:
    web.sign_in("ana")
    spec = _spec(web)
    spec["timeframe"] = "H7"
    spec["sizing"] = {"method": "fixed_lots", "lots": -1}
    answer = web.post(f"/strategies/{PASSED}/edit", {"spec": json.dumps(spec)})
    assert answer.status_code == 400
    page = unescape(answer.text)
    assert "<li>timeframe: " in page
    assert "<li>sizing" in page
    assert '"H7"' in page  # the text typed is kept to correct
    broken = web.post(f"/strategies/{PASSED}/edit", {"spec": "{not json"})
    assert broken.status_code == 400
    assert "Refused:" in broken.text
    same = web.post(f"/strategies/{PASSED}/edit", {"spec": json.dumps(_spec(web))})
    assert same.status_code == 400
    assert "spec: identical to version 1" in unescape(same.text)
    with web.store() as store:
        assert len(store.versions(PASSED)) == 1


def test_two_versions_are_compared_field_by_field_from_the_strategy_page(web: Web) -> None:
    web.sign_in("ana")
    assert "Compare versions" not in web.client.get(f"/strategies/{PASSED}").text
    web.post(f"/strategies/{PASSED}/edit", {"spec": json.dumps(_wider_stop(web))})
    page = web.client.get(f"/strategies/{PASSED}").text
    assert f'<form method="get" action="/strategies/{PASSED}/diff"' in page
    assert '<option value="1" selected>' in page
    assert '<option value="2" selected>' in page
    assert "Compare versions</button>" in page
    diff = unescape(web.client.get(f"/strategies/{PASSED}/diff?a=1&b=2").text)
    row = diff.split('<tr class="change">', 1)[1].split("</tr>", 1)[0]
    assert "exits.stop_loss.value" in row
    assert "<code>30.0</code>" in row
    assert "<code>45.0</code>" in row
    assert diff.count('<tr class="change">') == 1
    same = web.client.get(f"/strategies/{PASSED}/diff?a=1&b=1").text
    assert "The two versions are the same strategy." in same
    api = web.client.get(f"/api/strategies/{PASSED}/diff?a=1&b=2").json()
    assert api["changes"] == [{"path": "exits.stop_loss.value", "old": "30.0", "new": "45.0"}]


def test_a_version_that_does_not_exist_is_named_by_its_field(web: Web) -> None:
    web.sign_in("ana")
    answer = web.client.get(f"/strategies/{PASSED}/diff?a=1&b=9")
    assert answer.status_code == 400
    assert f"b: strategy {PASSED} has no version 9" in unescape(answer.text)


def test_an_approver_or_an_operator_may_not_edit_a_spec(web: Web) -> None:
    for name in ("bo", "olu"):
        web.sign_in(name)
        assert "Edit spec" not in web.client.get(f"/strategies/{MISSED}").text
        answer = web.post(f"/strategies/{MISSED}/edit", {"spec": json.dumps(_spec(web, MISSED))})
        assert answer.status_code == 403
        web.post("/logout")
    with web.store() as store:
        assert len(store.versions(MISSED)) == 1


def test_a_script_edits_a_spec_through_the_api(web: Web) -> None:
    web.api_sign_in("ana")
    answer = web.api_post(f"/api/strategies/{PASSED}/edit", {"spec": _wider_stop(web)})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["version"], answer.json()["state"]) == (2, "draft")
    bad = web.api_post(f"/api/strategies/{PASSED}/edit", {"spec": {"name": "x"}})
    assert bad.status_code == 400
    assert bad.json()["problems"]


def test_a_spec_sent_with_a_browsers_cr_lf_line_breaks_is_read_and_shown_again_as_typed(
    web: Web,
) -> None:
    web.sign_in("ana")
    spec = _wider_stop(web)
    spec["exits"]["stop_loss"]["value"] = -5  # type: ignore[index]
    sent = json.dumps(spec, indent=2).replace("\n", "\r\n")
    refused = web.post(f"/strategies/{PASSED}/edit", {"spec": sent, "note": "wider"})
    assert refused.status_code == 400
    page = unescape(refused.text)
    assert "exits.stop_loss.value: Input should be greater than 0" in page
    assert "\\x0d" not in page
    assert json.dumps(spec, indent=2) in page  # the text again, line for line
    fixed = sent.replace('"value": -5', '"value": 45')
    saved = web.post(f"/strategies/{PASSED}/edit", {"spec": fixed, "note": "wider"})
    assert saved.status_code == 303
