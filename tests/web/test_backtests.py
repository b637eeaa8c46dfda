"""Backtests from the page: the bundled sample, an uploaded file or the data folder, a job whose
page shows its progress, and the run's page with its figures, criteria, warnings and report."""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from nl_trader.data.sample import sample_bars
from tests.store.builders import MISSED, PASSED
from tests.web.conftest import Web, make_web

# The default form: the sample, small enough to be quick.
SAMPLE_FORM = {"source": "sample", "sample_bars": "1500", "deposit": "10000", "currency": "USD"}


def mt5_export(path: Path, bars: int = 1_500) -> Path:
    """An MT5 "Export bars" file of the sample's EURUSD H1 bars, with one duplicated row (a
    defect the loader reports as a warning)."""
    frame = sample_bars("EURUSD", "H1", bars=bars)
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    for moment, row in frame.iterrows():
        lines.append(
            f"{moment:%Y.%m.%d}\t{moment:%H:%M:%S}\t{row.open:.5f}\t{row.high:.5f}\t"
            f"{row.low:.5f}\t{row.close:.5f}\t100\t0\t8"
        )
    lines.insert(100, lines[100])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bars"
    (folder / "2025").mkdir(parents=True)
    mt5_export(folder / "2025" / "EURUSD_H1.csv")
    (folder / ".hidden.csv").write_text("not listed")
    return folder


@pytest.fixture
def folder_web(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, data_dir: Path
) -> Iterator[Web]:
    yield from make_web(tmp_path_factory, tmp_path / "app", data_dir=data_dir)


@pytest.fixture
def small_upload_web(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path_factory, tmp_path, max_upload_bytes=1_000)


def _runs(web: Web, strategy_id: int) -> int:
    with web.store() as store:
        return len(store.runs(strategy_id))


def test_the_strategy_page_links_an_author_to_backtest_and_edit_but_not_to_start_a_session(
    web: Web,
) -> None:
    web.sign_in("ana")
    page = web.client.get(f"/strategies/{PASSED}").text
    assert f'href="/strategies/{PASSED}/backtest">Backtest</a>' in page
    assert f'href="/strategies/{PASSED}/edit">Edit spec</a>' in page
    assert "Start paper session" not in page


def test_the_backtest_form_offers_the_sample_checked_an_upload_and_the_data_folder(
    folder_web: Web,
) -> None:
    folder_web.sign_in("ana")
    page = folder_web.client.get(f"/strategies/{PASSED}/backtest").text
    assert "<fieldset" in page
    assert 'type="radio" name="source" value="sample" checked' in page
    for value, label in (("upload", "Upload a file"), ("folder", "Data folder")):
        assert f'name="source" value="{value}" > {label}' in page
    assert "Bundled sample" in page
    assert '<input type="file" name="upload">' in page
    assert '<option value="2025/EURUSD_H1.csv"' in page
    assert ".hidden.csv" not in page
    for label, name in (
        ("From", 'type="date" name="start"'),
        ("To", 'type="date" name="end"'),
        ("Spread (points)", 'name="spread"'),
        ("Commission per lot", 'name="commission"'),
        ("Deposit", 'name="deposit" inputmode="decimal" value="10000"'),
        ("Currency", 'name="currency" maxlength="3" value="USD"'),
        ("Leverage", 'name="leverage" type="number" min="1" step="1" value="100"'),
        ("Sample bars", 'name="sample_bars" type="number" min="500" step="1" value="6000"'),
    ):
        assert re.search(rf"<label[^>]*>{re.escape(label)} <input {re.escape(name)}", page), label
    assert '<select name="account_mode">' in page
    assert "Run backtest</button>" in page


def test_a_sample_backtest_runs_in_the_background_and_ends_on_its_run_page(web: Web) -> None:
    web.sign_in("ana")
    started = web.post(f"/strategies/{PASSED}/backtest", SAMPLE_FORM)
    assert started.status_code == 303
    assert re.fullmatch(r"/backtests/[0-9a-f]{16}", started.headers["location"])
    first = web.client.get(started.headers["location"], follow_redirects=False)
    assert first.status_code == 200
    if "Backtesting…" in first.text:  # still running: it says how far, and refreshes itself
        assert re.search(r"Backtesting… \d+ %", first.text)
        assert '<meta http-equiv="refresh" content="1">' in first.text
    else:  # done already: it says so and moves on to the run
        assert re.search(r'<meta http-equiv="refresh" content="0; url=/runs/\d+">', first.text)
    done = web.follow(started)
    run_url = done.url.path
    with web.store() as store:
        run = store.runs(PASSED)[-1]
        assert run.created_by == "ana"
    assert run_url == f"/runs/{run.id}"
    page = unescape(done.text)
    assert f'<iframe class="report" src="/runs/{run.id}/report" title="Backtest report">' in page
    for check in run.criteria["checks"]:
        assert f"<td>{check['name']}</td><td>{check['required']}</td>" in page
    assert "Promotion criteria" in page
    assert f"/strategies/{PASSED}/approve?run={run.id}" not in page  # an author does not approve


def test_the_run_page_gives_an_approver_the_approve_link_and_the_report_may_be_framed_by_it(
    web: Web,
) -> None:
    web.sign_in("bo")
    page = web.client.get("/runs/1").text
    assert f'href="/strategies/{PASSED}/approve?run=1">Approve</a>' in page
    report = web.client.get("/runs/1/report")
    assert report.status_code == 200
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in report.headers["content-security-policy"]


def test_an_uploaded_file_is_kept_privately_and_its_format_and_warnings_shown_on_the_run(
    web: Web, tmp_path: Path
) -> None:
    web.sign_in("ana")
    source = mt5_export(tmp_path / "my bars; rm -rf.csv")
    with source.open("rb") as file:
        started = web.post(
            f"/strategies/{PASSED}/backtest",
            {**SAMPLE_FORM, "source": "upload"},
            files={"upload": ("../../my bars; rm -rf.csv", file, "text/csv")},
        )
    assert started.status_code == 303, started.text
    done = web.follow(started)
    assert done.url.path.startswith("/runs/"), done.text
    page = unescape(done.text)
    assert '<dd class="data-format">mt5</dd>' in page
    assert "duplicates: dropped 1 row" in page
    kept = list(web.settings.upload_dir.iterdir())
    assert len(kept) == 1
    assert re.fullmatch(r"[0-9a-f]{16}-my_bars_rm_-rf\.csv", kept[0].name)
    assert kept[0].read_bytes() == source.read_bytes()
    assert stat.S_IMODE(web.settings.upload_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    with web.store() as store:
        assert store.runs(PASSED)[-1].data["source"] == str(kept[0])


def test_an_upload_larger_than_the_limit_is_refused_saying_so_and_nothing_is_kept(
    small_upload_web: Web, tmp_path: Path
) -> None:
    web = small_upload_web
    web.sign_in("ana")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 5_000)
    answer = web.post(
        f"/strategies/{PASSED}/backtest",
        {**SAMPLE_FORM, "source": "upload"},
        files={"upload": ("big.csv", big.read_bytes(), "text/csv")},
    )
    assert answer.status_code == 400
    assert "upload: the file is larger than 0.000953674 MB" in unescape(answer.text)
    assert not any(web.settings.upload_dir.iterdir())
    assert _runs(web, PASSED) == 1


def test_a_request_body_larger_than_any_upload_may_be_is_refused_before_it_is_read(
    small_upload_web: Web,
) -> None:
    web = small_upload_web
    web.sign_in("ana")
    answer = web.post(
        f"/strategies/{PASSED}/backtest",
        {**SAMPLE_FORM, "source": "upload"},
        files={"upload": ("big.csv", b"x" * 1_100_000, "text/csv")},
    )
    assert answer.status_code == 413
    assert "upload: the file is larger than" in answer.text
    assert not web.settings.upload_dir.exists()


def test_bad_fields_are_named_in_the_form_shown_again_and_no_backtest_starts(web: Web) -> None:
    web.sign_in("ana")
    answer = web.post(
        f"/strategies/{PASSED}/backtest",
        {**SAMPLE_FORM, "deposit": "lots", "leverage": "1.5", "account_mode": "both"},
    )
    assert answer.status_code == 400
    page = unescape(answer.text)
    assert "deposit: 'lots' is not a number" in page
    assert "leverage: '1.5' is not a whole number" in page
    assert "account_mode: choose hedging or netting" in page
    assert 'value="lots"' in page  # what was typed is kept
    answer = web.post(f"/strategies/{PASSED}/backtest", {**SAMPLE_FORM, "start": "someday"})
    assert answer.status_code == 400
    assert "start: 'someday' is not a day" in unescape(answer.text)
    answer = web.post(f"/strategies/{PASSED}/backtest", {**SAMPLE_FORM, "deposit": "-5"})
    assert answer.status_code == 400
    assert "deposit: " in unescape(answer.text)
    answer = web.post(f"/strategies/{PASSED}/backtest", {**SAMPLE_FORM, "source": "upload"})
    assert "upload: choose a file to upload" in unescape(answer.text)
    assert _runs(web, PASSED) == 1


def test_a_data_folder_backtest_runs_on_a_listed_file_and_refuses_any_other_path(
    folder_web: Web,
) -> None:
    web = folder_web
    web.sign_in("ana")
    outside = web.post(
        f"/strategies/{PASSED}/backtest",
        {**SAMPLE_FORM, "source": "folder", "folder_file": "../../store/store.db"},
    )
    assert outside.status_code == 400
    assert "folder_file: choose one of the data folder's files" in unescape(outside.text)
    started = web.post(
        f"/strategies/{PASSED}/backtest",
        {**SAMPLE_FORM, "source": "folder", "folder_file": "2025/EURUSD_H1.csv"},
    )
    done = web.follow(started)
    assert done.url.path.startswith("/runs/"), done.text
    with web.store() as store:
        assert store.runs(PASSED)[-1].data["source"].endswith("2025/EURUSD_H1.csv")


def test_without_a_data_folder_the_form_says_none_is_configured(web: Web) -> None:
    web.sign_in("ana")
    page = web.client.get(f"/strategies/{PASSED}/backtest").text
    assert "No data folder is configured ([web] data_dir" in page
    answer = web.post(
        f"/strategies/{PASSED}/backtest", {**SAMPLE_FORM, "source": "folder", "folder_file": "x"}
    )
    assert "folder_file: no data folder is configured" in unescape(answer.text)


def test_a_file_that_is_not_bars_fails_its_job_with_problems_naming_the_upload_field(
    web: Web,
) -> None:
    web.sign_in("ana")
    started = web.post(
        f"/strategies/{PASSED}/backtest",
        {**SAMPLE_FORM, "source": "upload"},
        files={"upload": ("notes.csv", b"hello,world\n1,2\n", "text/csv")},
    )
    assert started.status_code == 303
    failed = web.follow(started)
    assert failed.status_code == 400
    page = unescape(failed.text)
    assert "The backtest was refused:" in page
    assert re.search(r"<li>upload: ", page), page
    assert 'http-equiv="refresh"' not in page
    assert _runs(web, PASSED) == 1


def test_an_approver_or_an_operator_may_not_backtest_and_is_told_the_role_needed(
    web: Web,
) -> None:
    for name in ("bo", "olu"):
        web.sign_in(name)
        assert web.client.get(f"/strategies/{MISSED}/backtest").status_code == 403
        answer = web.post(f"/strategies/{MISSED}/backtest", SAMPLE_FORM)
        assert answer.status_code == 403
        assert "strategy.backtest: it needs the role author or admin" in unescape(answer.text)
        web.post("/logout")
    assert _runs(web, MISSED) == 1


def test_an_unknown_job_is_not_found(web: Web) -> None:
    web.sign_in("ana")
    answer = web.client.get("/backtests/0123456789abcdef")
    assert answer.status_code == 404
    assert "no backtest job" in unescape(answer.text)


def test_a_script_backtests_through_the_api_and_reads_the_run(web: Web) -> None:
    web.api_sign_in("ana")
    job = web.api_post(f"/api/strategies/{PASSED}/backtests", {"sample_bars": 1500})
    assert job.status_code == 200, job.text
    job_id = job.json()["id"]
    for _ in range(1_200):
        state = web.client.get(f"/api/backtests/{job_id}").json()
        if state["status"] != "running":
            break
        time.sleep(0.1)
    assert state["status"] == "done", state
    run = web.client.get(f"/api/runs/{state['run_id']}").json()
    assert run["strategy_id"] == PASSED
    assert run["data_format"] == "sample"
    bad = web.api_post(f"/api/strategies/{PASSED}/backtests", {"deposit": -1})
    assert bad.status_code == 400
    assert any(p.startswith("deposit: ") for p in bad.json()["problems"])
