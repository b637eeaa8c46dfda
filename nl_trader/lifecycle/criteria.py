"""Promotion criteria: what a backtest must show before it may be approved without an override.

Pure: figures in, a verdict out, each criterion with what it required and what the run showed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl_trader.backtest.stats import TesterStats
from nl_trader.config import read_config
from nl_trader.errors import InvalidInputError


class PromotionCriteria(BaseModel):
    """What a backtest must show before a strategy may be approved without an override.

    ``min_trades``: closed trades in the backtest (30: fewer say little). ``max_drawdown_pct``:
    the deepest equity drawdown, percent of its peak (25.0). ``min_profit_factor``: gross profit
    over gross loss (1.1). ``oos_fraction``: the share of the data, at its end, held out of the
    report's backtest (0.2 = the last 20 %); ``min_oos_profit_factor``: what the strategy must
    show on that held-out period on its own (1.0: it must not lose there; None: not checked).
    ``min_deflated_sharpe`` and ``max_pbo``: for a version made from an optimisation's chosen set,
    the deflated Sharpe ratio it must reach (0.95: 95 % sure the best of N trials is not luck)
    and the probability of backtest overfitting it must stay under (0.5); None: not checked. A
    version not made by an optimisation passes them (there were no trials to deflate for).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_trades: int = Field(default=30, ge=0)
    max_drawdown_pct: float = Field(default=25.0, gt=0, le=100)
    min_profit_factor: float = Field(default=1.1, ge=0)
    oos_fraction: float = Field(default=0.2, ge=0, lt=0.9)
    min_oos_profit_factor: float | None = Field(default=1.0, ge=0)
    min_deflated_sharpe: float | None = Field(default=None, ge=0, le=1)
    max_pbo: float | None = Field(default=None, ge=0, le=1)


def load_criteria(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> PromotionCriteria:
    """The criteria: defaults, then the config's ``[promotion]`` table, then ``overrides``."""
    values = dict(read_config(path).get("promotion", {}))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return PromotionCriteria.model_validate(values)
    except ValidationError as error:
        raise InvalidInputError.from_validation(
            error, where="promotion", what="promotion criteria"
        ) from None


@dataclass(frozen=True)
class CriterionCheck:
    name: str
    required: str
    actual: str
    passed: bool


@dataclass(frozen=True)
class CriteriaResult:
    """Each criterion with what was required and what the backtest showed."""

    met: bool
    checks: tuple[CriterionCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "checks": [
                {"name": c.name, "required": c.required, "actual": c.actual, "passed": c.passed}
                for c in self.checks
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CriteriaResult:
        return cls(
            met=bool(data["met"]),
            checks=tuple(CriterionCheck(**check) for check in data["checks"]),
        )

    def failures(self) -> list[str]:
        return [
            f"{c.name}: {c.actual} (required {c.required})" for c in self.checks if not c.passed
        ]


def _profit_factor_check(name: str, figures: Mapping[str, Any], minimum: float) -> CriterionCheck:
    trades = int(figures["total_trades"])
    factor = figures["profit_factor"]
    if trades == 0:
        return CriterionCheck(name, f">= {minimum:.2f}", "no trades", False)
    if factor is None:  # no losing trade: an unbounded profit factor
        return CriterionCheck(name, f">= {minimum:.2f}", "no losing trade", True)
    return CriterionCheck(name, f">= {minimum:.2f}", f"{factor:.2f}", factor >= minimum)


def evaluate_criteria(
    figures: Mapping[str, Any],
    oos_figures: Mapping[str, Any] | None,
    criteria: PromotionCriteria,
    overfitting: Mapping[str, Any] | None = None,
) -> CriteriaResult:
    """Check a run's figures (``figures_summary``) against the criteria; ``overfitting``: the
    figures of the optimisation the version came from (``Overfitting.to_dict``), if it did."""
    trades = int(figures["total_trades"])
    drawdown = float(figures["equity_drawdown_pct"])
    checks = [
        CriterionCheck(
            "trades", f">= {criteria.min_trades}", str(trades), trades >= criteria.min_trades
        ),
        CriterionCheck(
            "max equity drawdown",
            f"<= {criteria.max_drawdown_pct:.2f} %",
            f"{drawdown:.2f} %",
            drawdown <= criteria.max_drawdown_pct,
        ),
        _profit_factor_check("profit factor", figures, criteria.min_profit_factor),
    ]
    if criteria.oos_fraction > 0 and criteria.min_oos_profit_factor is not None:
        if oos_figures is None:
            checks.append(
                CriterionCheck(
                    "out-of-sample profit factor",
                    f">= {criteria.min_oos_profit_factor:.2f}",
                    "no out-of-sample period",
                    False,
                )
            )
        else:
            checks.append(
                _profit_factor_check(
                    "out-of-sample profit factor", oos_figures, criteria.min_oos_profit_factor
                )
            )
    for name, key, minimum, limit in (
        ("deflated Sharpe ratio", "deflated_sharpe", criteria.min_deflated_sharpe, None),
        ("probability of backtest overfitting", "pbo", None, criteria.max_pbo),
    ):
        if minimum is None and limit is None:
            continue
        required = f">= {minimum:g}" if minimum is not None else f"<= {limit:g}"
        if overfitting is None:
            checks.append(CriterionCheck(name, required, "not optimised", True))
            continue
        value = overfitting.get(key)
        if value is None:
            checks.append(CriterionCheck(name, required, "not measured", False))
            continue
        passed = value >= minimum if minimum is not None else value <= float(limit or 0)
        checks.append(CriterionCheck(name, required, f"{float(value):.2f}", bool(passed)))
    return CriteriaResult(all(check.passed for check in checks), tuple(checks))


def figures_summary(stats: TesterStats) -> dict[str, Any]:
    """The figures the lifecycle keeps and judges (the report holds them all)."""
    return {
        "bars": stats.bars,
        "initial_deposit": stats.initial_deposit,
        "final_balance": stats.final_balance,
        "final_equity": stats.final_equity,
        "total_net_profit": stats.total_net_profit,
        "gross_profit": stats.gross_profit,
        "gross_loss": stats.gross_loss,
        "total_trades": stats.total_trades,
        "profit_factor": stats.profit_factor,
        "expected_payoff": stats.expected_payoff,
        "sharpe_ratio": stats.sharpe_ratio,
        "profit_trades_pct": stats.profit_trades_pct,
        "equity_drawdown_pct": stats.equity_drawdown.relative_pct,
        "equity_drawdown_money": stats.equity_drawdown.maximal_money,
    }
