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
    assert "account_mode" in result.output
