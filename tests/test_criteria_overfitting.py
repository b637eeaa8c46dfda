"""Promotion criteria can require an optimised version to show it is not the luck of many trials."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nl_trader.cli import app
from nl_trader.lifecycle import PromotionCriteria, evaluate_criteria
from nl_trader.store import Store
from tests.store.builders import PASSED, copy_template

FIGURES = {"total_trades": 40, "equity_drawdown_pct": 5.0, "profit_factor": 1.5}
STRICT = PromotionCriteria(
    oos_fraction=0.0, min_deflated_sharpe=0.95, max_pbo=0.5, min_profit_factor=1.0
)


def _checks(overfitting: dict[str, object] | None) -> dict[str, tuple[str, bool]]:
    verdict = evaluate_criteria(FIGURES, None, STRICT, overfitting)
    return {c.name: (c.actual, c.passed) for c in verdict.checks}


def test_an_optimised_version_must_clear_the_deflated_sharpe_and_stay_under_the_pbo() -> None:
    checks = _checks({"deflated_sharpe": 0.40, "pbo": 0.62})
    assert checks["deflated Sharpe ratio"] == ("0.40", False)
    assert checks["probability of backtest overfitting"] == ("0.62", False)
    good = _checks({"deflated_sharpe": 0.97, "pbo": 0.10})
    assert good["deflated Sharpe ratio"] == ("0.97", True)
    assert good["probability of backtest overfitting"] == ("0.10", True)


def test_a_version_no_optimisation_made_passes_them_and_one_unmeasured_fails() -> None:
    assert _checks(None)["deflated Sharpe ratio"] == ("not optimised", True)
    assert _checks({})["probability of backtest overfitting"] == ("not measured", False)


def test_without_the_two_criteria_nothing_about_overfitting_is_checked() -> None:
    verdict = evaluate_criteria(FIGURES, None, PromotionCriteria(oos_fraction=0.0), {"pbo": 0.9})
    assert "probability of backtest overfitting" not in [c.name for c in verdict.checks]


def test_the_backtest_of_an_adopted_set_is_judged_by_its_optimisations_figures(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    db = str(copy_template(tmp_path_factory, tmp_path).db)
    config = tmp_path / "config.toml"
    config.write_text("[promotion]\nmin_deflated_sharpe = 0.999\n")
    runner = CliRunner()
    adopted = runner.invoke(
        app,
        [
            "optimize", str(PASSED), "--param", "indicators.fast.params.period=10:30:10",
            "--bars", "2000", "--adopt", "--by", "quant", "--db", db,
        ],
    )  # fmt: skip
    assert adopted.exit_code == 0, adopted.output
    tested = runner.invoke(
        app,
        [
            "backtest-strategy", str(PASSED), "--data", "sample", "--bars", "2000",
            "--config", str(config), "--by", "quant", "--db", db,
        ],
    )  # fmt: skip
    assert tested.exit_code == 0, tested.output
    with Store(Path(db)) as store:
        run = store.runs(PASSED)[-1]
        checks = {c["name"]: c for c in run.criteria["checks"]}
        found = store.optimisation(1)
    dsr = checks["deflated Sharpe ratio"]
    assert dsr["required"] == ">= 0.999"
    assert dsr["actual"] == f"{found.overfitting['deflated_sharpe']:.2f}"
    assert dsr["passed"] is (found.overfitting["deflated_sharpe"] >= 0.999)
