"""The lifecycle on the command line: every command has --help, refusals exit 1 with their
reasons, bad input exits 2, and a strategy goes from text to a paper session through the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nl_trader.cli import app
from nl_trader.store import State, Store
from tests.store.builders import PASSED, copy_template

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
MA_TEXT = (STRATEGIES / "ma_crossover.txt").read_text(encoding="utf-8").strip()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NL_TRADER_USER", "tester")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("NL_TRADER_LLM", raising=False)


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "command",
    [
        ["new"],
        ["edit"],
        ["list"],
        ["show"],
        ["backtest-strategy"],
        ["report"],
        ["approve"],
        ["revoke"],
        ["retire"],
        ["live"],
        ["live", "start"],
        ["live", "status"],
        ["live", "stop"],
        ["audit"],
        ["demo"],
    ],
)
def test_every_lifecycle_command_explains_itself_with_help(command: list[str]) -> None:
    code, output = _invoke(*command, "--help")
    assert code == 0, output
    assert "Usage:" in output


def _script(tmp_path: Path, content: dict[str, object]) -> str:
    path = tmp_path / "script.json"
    path.write_text(
        json.dumps(
            {"version": 1, "model": "scripted-test", "replies": [{"content": json.dumps(content)}]}
        )
    )
    return f"scripted:{path}"


def test_new_stores_the_strategy_and_the_translation_record(tmp_path: Path) -> None:
    db = tmp_path / "nl.db"
    code, output = _invoke("new", MA_TEXT, "--llm", "scripted:examples", "--db", str(db))
    assert code == 0, output
    assert "Buy when fast (simple moving average 20) crosses above" in output
    assert "stored as strategy 1 version 1" in output
    with Store(db) as store:
        version = store.current_version(1)
        assert version.text == MA_TEXT
        assert version.translation_id is not None
        translation = store.translation(version.translation_id)
        assert (translation.outcome, translation.model) == ("spec", "scripted-examples")
        assert translation.spec_hash == version.spec_hash
        assert len(translation.prompt_hash) == 64
        assert "sizing.max_lots = 10.0" in translation.detail["defaults_filled"]
        assert store.strategy(1).state == State.DRAFT


def test_new_without_a_configured_model_uses_the_bundled_script_and_says_so(
    tmp_path: Path,
) -> None:
    code, output = _invoke("new", MA_TEXT, "--db", str(tmp_path / "nl.db"))
    assert code == 0, output
    assert "using the bundled scripted model" in output


def test_a_clarification_stores_no_strategy_and_prints_the_questions(tmp_path: Path) -> None:
    llm = _script(
        tmp_path,
        {"outcome": "clarify", "questions": ["Which currency pair?"], "missing": ["symbols"]},
    )
    db = tmp_path / "nl.db"
    code, output = _invoke("new", "Buy when the RSI is low.", "--llm", llm, "--db", str(db))
    assert code == 3, output
    assert "? Which currency pair?" in output
    assert "nothing stored as a strategy (translation 1 recorded)" in output
    with Store(db) as store:
        assert store.strategies() == []
        assert store.translation(1).outcome == "clarify"
        assert store.translation(1).detail["missing"] == ["symbols"]


def test_a_refusal_stores_no_strategy_and_says_what_is_unsupported(tmp_path: Path) -> None:
    llm = _script(
        tmp_path,
        {
            "outcome": "refuse",
            "unsupported": ["options"],
            "reason": "Options trading is not supported.",
        },
    )
    db = tmp_path / "nl.db"
    code, output = _invoke("new", "Buy EURUSD call options.", "--llm", llm, "--db", str(db))
    assert code == 4, output
    assert "- unsupported: options" in output
    with Store(db) as store:
        assert store.strategies() == []


def test_a_strategy_goes_from_a_spec_file_to_a_paper_session(tmp_path: Path) -> None:
    db = str(tmp_path / "nl.db")
    spec = str(STRATEGIES / "ma_crossover.json")
    steps = [
        ("new", MA_TEXT, "--spec", spec, "--db", db),
        ("backtest-strategy", "1", "--data", "sample", "--bars", "1500", "--min-trades", "5",
         "--min-profit-factor", "0", "--min-oos-profit-factor", "0", "--db", db),
        ("report", "1", "--db", db),
        ("approve", "1", "--report", "1", "--by", "risk officer", "--note", "ok", "--db", db),
        ("live", "start", "1", "--bars", "100", "--db", db),
        ("live", "status", "--db", db),
        ("list", "--db", db),
        ("live", "status", "1", "--db", db),
        ("show", "1", "--db", db),
        ("audit", "--db", db),
        ("audit", "--verify", "--db", db),
    ]  # fmt: skip
    outputs = []
    for step in steps:
        code, output = _invoke(*step)
        assert code == 0, f"{step}: {output}"
        outputs.append(output)
    assert "Promotion criteria, run 1: met" in outputs[1]
    assert "report files: unchanged since the backtest" in outputs[2]
    assert "approval 1: risk officer approved strategy 1" in outputs[3]
    assert "session 1 started: strategy 1 version 1 under approval 1, paper" in outputs[4]
    printed = outputs[4].splitlines()
    assert any(line.startswith("execution  100000") for line in printed)
    assert "bar limit reached (100 bars)" in outputs[4]
    assert "stopped" in outputs[5]
    assert "gate: may go live (approval 1)" in outputs[8]
    assert "live.stopped" in outputs[9]
    assert "audit chain verified: 5 entries" in outputs[10]
    # The paper session was watched against its backtest on the same bars, and did not drift.
    assert "against the backtest" in outputs[4]
    assert "drift vs backtest" in outputs[4]
    assert ": no drift;" in outputs[4]
    assert "session 1, trade by trade:" in outputs[7]
    assert "matched" in outputs[7]
    with Store(Path(db)) as store:
        executions = [entry for entry in store.journal(1) if entry.kind == "execution"]
        assert len(executions) == sum(line.startswith("execution") for line in printed)


@pytest.fixture
def db(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> str:
    return str(copy_template(tmp_path_factory, tmp_path).db)


def test_approving_a_report_that_misses_the_criteria_exits_1_with_the_reason(db: str) -> None:
    code, output = _invoke("approve", "2", "--report", "2", "--by", "risk officer", "--db", db)
    assert code == 1
    assert "the promotion criteria are not met" in output
    code, output = _invoke(
        "approve", "2", "--report", "2", "--by", "risk officer", "--override", "paper only",
        "--db", db,
    )  # fmt: skip
    assert code == 0, output
    assert "override recorded" in output


def test_live_start_without_approval_exits_1_with_every_reason(db: str) -> None:
    code, output = _invoke("live", "start", "1", "--db", db)
    assert code == 1
    assert "refused: strategy 1 may not go live:" in output
    assert "strategy 1 has no approval" in output


def test_an_unknown_account_profile_is_an_input_error(db: str) -> None:
    code, output = _invoke("live", "start", "1", "--account", "nope", "--db", db)
    assert code == 2
    assert "no profile 'nope'" in output


def test_audit_verify_names_the_first_changed_entry_and_exits_1(db: str) -> None:
    raw = sqlite3.connect(db)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    raw.commit()
    raw.close()
    code, output = _invoke("audit", "--verify", "--db", db)
    assert code == 1
    assert "audit chain BROKEN at entry 2" in output


def test_audit_verify_names_an_approval_edited_behind_the_log(db: str) -> None:
    assert _invoke("approve", "1", "--report", "1", "--by", "junior", "--db", db)[0] == 0
    raw = sqlite3.connect(db)
    raw.execute("UPDATE approvals SET approved_by = 'head of risk'")
    raw.commit()
    raw.close()
    code, output = _invoke("audit", "--verify", "--db", db)
    assert code == 1
    assert "approval 1 does not match its audit entry" in output


def test_report_exits_1_when_the_report_file_changed(db: str) -> None:
    with Store(Path(db)) as store:
        path = store.resolve(store.run(1).report_path)
    path.write_text("<html>something else</html>")
    code, output = _invoke("report", "1", "--db", db)
    assert code == 1
    assert "the report of run 1 changed since it was recorded" in output


def test_live_stop_refuses_when_nothing_runs_and_force_stops_a_stale_session(db: str) -> None:
    code, output = _invoke("live", "stop", "1", "--db", db)
    assert code == 1
    assert "no session is running" in output
    from nl_trader.lifecycle import (
        AccountFacts,
        SessionPlan,
        approve,
        check_can_go_live,
        open_session,
    )

    with Store(Path(db)) as store:  # a session whose process died
        approve(store, PASSED, run_id=1, by="risk officer")
        open_session(
            store,
            check_can_go_live(store, PASSED),
            by="ops",
            plan=SessionPlan(
                mode="paper",
                account_profile="paper",
                terminal="fake",
                account=AccountFacts(login=1, server="S", trade_mode=0),
            ),
        )
    code, output = _invoke("live", "stop", "1", "--force", "--reason", "host rebooted", "--db", db)
    assert code == 0, output
    with Store(Path(db)) as store:
        session = store.session(1)
        assert (session.status, session.stop_reason) == (
            "stopped",
            "forced stop by tester: host rebooted",
        )
        assert store.strategy(PASSED).state == State.STOPPED


def test_edit_makes_a_new_version_that_the_gate_refuses_until_approved(
    db: str, tmp_path: Path
) -> None:
    assert _invoke("approve", "1", "--report", "1", "--by", "risk officer", "--db", db)[0] == 0
    changed = json.loads((STRATEGIES / "ma_crossover.json").read_text())
    changed["exits"]["stop_loss"]["value"] = 25
    spec = tmp_path / "tighter.json"
    spec.write_text(json.dumps(changed))
    code, output = _invoke("edit", "1", str(spec), "--note", "tighter stop", "--db", db)
    assert code == 0, output
    assert "strategy 1 version 2" in output
    code, output = _invoke("live", "start", "1", "--db", db)
    assert code == 1
    assert "the spec changed since approval 1" in output


def test_a_store_path_that_cannot_be_opened_is_an_input_error(tmp_path: Path) -> None:
    code, output = _invoke("list", "--db", str(tmp_path))
    assert code == 2
    assert "cannot open it" in output


def test_a_cross_pair_is_backtested_and_paper_traded_with_its_conversion_pair(
    tmp_path: Path,
) -> None:
    """EURGBP's profit is in pounds: on a USD account GBPUSD's quotes convert it, in the backtest
    and in the paper session alike."""
    spec = json.loads((STRATEGIES / "ma_crossover.json").read_text())
    spec["symbols"] = ["EURGBP"]
    path = tmp_path / "eurgbp.json"
    path.write_text(json.dumps(spec))
    db = str(tmp_path / "nl.db")
    steps = [
        ("new", "SMA crossover on EURGBP", "--spec", str(path), "--db", db),
        ("backtest-strategy", "1", "--data", "sample", "--bars", "1500", "--db", db),
        ("approve", "1", "--report", "1", "--by", "risk", "--override", "test", "--db", db),
        ("live", "start", "1", "--bars", "150", "--db", db),
    ]
    for step in steps:
        code, output = _invoke(*step)
        assert code == 0, f"{step}: {output}"
    with Store(Path(db)) as store:
        fills = [e.payload for e in store.journal(1) if e.kind == "execution"]
        drift = store.session(1).drift or {}
    closing = [fill for fill in fills if fill["entry"] == "out"]
    assert closing
    assert all(fill["symbol"] == "EURGBP" for fill in fills)
    assert any(fill["profit"] != 0 for fill in closing)  # converted to USD, not refused
    # The drift monitor's backtest converts with the same GBPUSD bars: the trades match, and
    # P/L differs only by where inside a GBPUSD bar the pound is converted (cents on 0.1 lot).
    assert drift["ok"], drift.get("text")
    assert drift["counts"]["matched"] >= 1
    assert all(abs(row["pnl_diff"] or 0.0) < 0.1 for row in drift["trades"])


def test_backtest_with_a_stored_strategy_id_records_a_run_for_approval(tmp_path: Path) -> None:
    """`nl-trader backtest ID --data ...` (the issue's spelling) is backtest-strategy's run."""
    db = str(tmp_path / "nl.db")
    code, output = _invoke(
        "new", MA_TEXT, "--spec", str(STRATEGIES / "ma_crossover.json"), "--db", db
    )
    assert code == 0, output
    code, output = _invoke("backtest", "1", "--data", "sample", "--db", db)
    assert code == 0, output
    assert "Promotion criteria, run 1" in output
    with Store(Path(db)) as store:
        (run,) = store.runs(1)
        assert (Path(db).parent / run.report_path).is_file()
        assert store.strategy(1).state == State.BACKTESTED


@pytest.mark.parametrize("days", ["nan", "inf", "1e308"])
def test_an_approval_length_no_duration_can_hold_is_named_not_a_crash(db: str, days: str) -> None:
    code, output = _invoke(
        "approve", "1", "--report", "1", "--by", "risk officer", "--expires-days", days,
        "--db", db,
    )  # fmt: skip
    assert code == 2, output
    assert f"--expires-days: {float(days)} is not a number of days" in output
    with Store(Path(db)) as store:
        assert store.approvals(PASSED) == []


def test_a_bad_backtest_setting_is_named_by_its_option(db: str) -> None:
    code, output = _invoke(
        "backtest-strategy", "1", "--data", "sample", "--account", "spread-bet", "--leverage",
        "0", "--db", db,
    )  # fmt: skip
    assert code == 2, output
    assert "--account: Input should be 'hedging' or 'netting'" in output
    assert "--leverage: Input should be greater than or equal to 1" in output
    assert "errors.pydantic.dev" not in output


def test_a_backtest_window_without_bars_is_bad_input(db: str) -> None:
    code, output = _invoke(
        "backtest-strategy", "1", "--data", "sample", "--from", "2040-01-01", "--db", db
    )
    assert code == 2, output
    assert "data: no bars to backtest on" in output


@pytest.mark.parametrize(
    "command",
    [
        ["revoke", "99", "--by", "risk officer", "--reason", "x"],
        ["live", "stop", "99"],
    ],
)
def test_an_unknown_strategy_is_named_as_unknown(db: str, command: list[str]) -> None:
    code, output = _invoke(*command, "--db", db)
    assert code == 2, output
    assert "strategy: no strategy 99" in output


def test_a_blank_name_is_refused_and_nothing_is_recorded(db: str) -> None:
    with Store(Path(db)) as store:
        entries = len(store.audit_entries())
    code, output = _invoke("retire", "1", "--reason", "old", "--by", " ", "--db", db)
    assert code == 1, output
    assert "by: name the person who retires the strategy" in output
    with Store(Path(db)) as store:
        assert len(store.audit_entries()) == entries
        assert store.strategy(PASSED).state == State.BACKTESTED
