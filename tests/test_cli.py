"""The command line: strategy specs are validated and explained for a person."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nl_trader.cli import app

STRATEGIES = Path(__file__).resolve().parents[1] / "strategies"
runner = CliRunner()


def test_validate_prints_the_hash_of_a_valid_spec() -> None:
    result = runner.invoke(app, ["validate", str(STRATEGIES / "ma_crossover.json")])
    assert result.exit_code == 0
    assert "valid: SMA 20/50 crossover (sha256 " in result.output


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "name": "x",
                "symbols": ["EURUSD"],
                "timeframe": "H1",
                "long_entry": {"op": "gt", "left": "rsi", "right": 1},
            }
        )
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "long_entry.left.series: 'rsi' is neither a price field" in result.output
    assert "exits.stop_loss: a stop loss is required" in result.output


def test_validate_says_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_explain_speaks_traditional_chinese_on_request() -> None:
    result = runner.invoke(
        app, ["explain", str(STRATEGIES / "ma_crossover.json"), "--lang", "zh-Hant"]
    )
    assert result.exit_code == 0
    assert "止損：距進場價 30 點。" in result.output


def test_schema_is_json_with_the_indicator_catalogue() -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.output)
    assert "rsi" in schema["x-indicators"]
    assert schema["title"] == "StrategySpec"


def test_backtest_on_the_sample_writes_the_html_and_json_reports(tmp_path: Path) -> None:
    report = tmp_path / "out" / "ma.html"
    result = runner.invoke(
        app,
        [
            "backtest",
            str(STRATEGIES / "ma_crossover.json"),
            "--data",
            "sample",
            "--report",
            str(report),
            "--commission",
            "3.5",
            "--from",
            "2025-07-01",
            "--to",
            "2026-06-30",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SMA 20/50 crossover on EURUSD H1" in result.output
    assert report.is_file()
    figures = json.loads(report.with_suffix(".json").read_text())["figures"]
    assert figures["total_trades"] > 0
    assert "Total net profit" in report.read_text()


def test_backtest_refuses_an_unknown_account_mode(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "backtest",
            str(STRATEGIES / "ma_crossover.json"),
            "--data",
            "sample",
            "--account",
            "cross",
            "--report",
            str(tmp_path / "x.html"),
        ],
    )
    assert result.exit_code == 2
    assert "--account: Input should be 'hedging' or 'netting'" in result.output
    assert "pydantic" not in result.output


def _cross_spec(tmp_path: Path, symbol: str) -> Path:
    spec = json.loads((STRATEGIES / "ma_crossover.json").read_text())
    spec["symbols"] = [symbol]
    path = tmp_path / f"{symbol.lower()}.json"
    path.write_text(json.dumps(spec))
    return path


def test_backtest_of_a_yen_cross_on_the_sample_converts_its_yen_to_dollars(tmp_path: Path) -> None:
    """EURJPY's profit is in yen: the sample brings USDJPY (and EURUSD for the margin)."""
    report = tmp_path / "eurjpy.html"
    result = runner.invoke(
        app,
        [
            "backtest",
            str(_cross_spec(tmp_path, "EURJPY")),
            "--data",
            "sample",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    trades = json.loads(report.with_suffix(".json").read_text())["trades"]
    assert trades
    for trade in trades:
        sign = 1 if trade["side"] == "long" else -1
        yen = sign * (trade["exit_price"] - trade["entry_price"]) * trade["volume"] * 100_000
        dollars = trade["net_profit"] - trade["swap"] - trade["commission"]
        if abs(yen) > 500:  # a yen-per-dollar rate of the sample's era, not 1:1
            assert 100 < yen / dollars < 200, trade


def test_backtest_of_a_cross_on_a_file_names_the_conversion_pair_it_needs(tmp_path: Path) -> None:
    bars = tmp_path / "eurjpy.csv"
    bars.write_text(
        "datetime,open,high,low,close\n"
        + "".join(f"2025-06-02 {hour:02d}:00,160.0,160.2,159.8,160.1\n" for hour in range(0, 20))
    )
    result = runner.invoke(
        app,
        [
            "backtest",
            str(_cross_spec(tmp_path, "EURJPY")),
            "--data",
            str(bars),
            "--report",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "--convert EURUSD=FILE --convert USDJPY=FILE" in output


# ---- nl-trader demo: the README's main job ----------------------------------------------------------
def test_demo_runs_the_pipeline_from_a_sentence_to_a_journaled_paper_session(
    tmp_path: Path,
) -> None:
    from nl_trader.store import State, Store

    # How long it takes is benchmarks/first_run.py's to measure, not a test's.
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "demo"), "--by", "reviewer"])
    assert result.exit_code == 0, result.output
    output = result.output
    text = (STRATEGIES / "ma_crossover.txt").read_text(encoding="utf-8").strip()
    assert text[:60] in output
    assert "Buy when fast (simple moving average 20) crosses above slow" in output  # explain-back
    assert "Promotion criteria, run 1" in output
    assert "approval 1: reviewer approved strategy 1" in output
    assert any(line.startswith("execution  100000") for line in output.splitlines())
    assert "chain verified" in output

    with Store(tmp_path / "demo" / "demo.db") as store:
        run = store.run(1)
        report = store.resolve(run.report_path)
        assert report.is_file()
        assert f"report: {report}" in output
        (approval,) = store.approvals(1)
        assert (approval.approved_by, approval.run_id) == ("reviewer", run.id)
        assert approval.report_hash == run.report_hash
        (session,) = store.sessions(1)
        assert (session.mode, session.status) == ("paper", "stopped")
        assert run.oos_start is not None
        executions = [e for e in store.journal(session.id) if e.kind == "execution"]
        assert executions
        assert all(e.event_time is not None and e.event_time >= run.oos_start for e in executions)
        assert store.strategy(1).state == State.STOPPED
        assert store.verify_audit().ok
        translation = store.translation(1)
        assert translation.model == "scripted-examples"


def test_demo_starts_from_a_fresh_store_each_time(tmp_path: Path) -> None:
    workdir = str(tmp_path / "demo")
    arguments = ["demo", "--dir", workdir, "--bars", "2000", "--paper-bars", "20"]
    assert runner.invoke(app, arguments).exit_code == 0
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    from nl_trader.store import Store

    with Store(tmp_path / "demo" / "demo.db") as store:
        assert [s.id for s in store.strategies()] == [1]
    assert len(list((tmp_path / "demo" / "reports").glob("*.html"))) == 1


def test_demo_orders_adds_the_send_order_tour_in_both_routes(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--bars",
            "2000",
            "--paper-bars",
            "10",
            "--orders",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Simulated route (backtest_toggle=True" in result.output
    assert "MT5 route (backtest_toggle=False) on the fake terminal" in result.output


def test_backtest_of_an_invalid_spec_is_bad_input_listing_every_problem(tmp_path: Path) -> None:
    spec = json.loads((STRATEGIES / "ma_crossover.json").read_text())
    spec["timeframe"] = "H7"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["backtest", str(path), "--data", "sample"])
    assert result.exit_code == 2  # bad input; `validate` answers 1 for the same file
    assert "timeframe" in result.output
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 1
