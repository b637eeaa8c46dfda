"""What an optimisation maximises or minimises, and what a set must show to count at all.

An objective is a figure of the backtest report (``TesterStats``): ``total_net_profit``,
``profit_factor``, ``sharpe_ratio``, ``recovery_factor``, ``expected_payoff``, ``sortino_ratio``,
``equity_drawdown_pct`` (minimised), ... or a weighted score of several
(``score:profit_factor*1,equity_drawdown_pct*-0.05``). Several objectives make a multi-objective
search whose answer is a Pareto front.

``TrialLimits`` are constraints on a set's figures (a minimum number of trades, a maximum
drawdown): a set that misses one is infeasible, recorded with the reason, never chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nl_trader.backtest.stats import TesterStats
from nl_trader.errors import InvalidInputError

Direction = Literal["maximize", "minimize"]
_MINIMISED = frozenset({"equity_drawdown_pct", "balance_drawdown_pct", "equity_drawdown_money"})


def _figure_names() -> tuple[str, ...]:
    numeric = [
        name
        for name, info in TesterStats.model_fields.items()
        if info.annotation in (int, float, float | None, int | None)
    ]
    return (*numeric, "equity_drawdown_pct", "equity_drawdown_money", "balance_drawdown_pct")


def figures_of(stats: TesterStats) -> dict[str, float | None]:
    """The report's numeric figures by name, drawdowns flattened (``equity_drawdown_pct``)."""
    figures: dict[str, float | None] = {}
    for name, value in stats.model_dump().items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) or value is None:
            figures[name] = None if value is None else float(value)
    figures["equity_drawdown_pct"] = float(stats.equity_drawdown.relative_pct)
    figures["equity_drawdown_money"] = float(stats.equity_drawdown.maximal_money)
    figures["balance_drawdown_pct"] = float(stats.balance_drawdown.relative_pct)
    return figures


@dataclass(frozen=True)
class Objective:
    """One figure (or a weighted score of figures) and whether more is better."""

    name: str
    direction: Direction
    weights: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, text: str, known: Sequence[str]) -> Objective:
        """``profit_factor``, ``min:total_trades``, ``max:equity_drawdown_pct`` or
        ``score:profit_factor*1,equity_drawdown_pct*-0.05``; names checked against ``known``."""
        text = text.strip()
        direction: Direction | None = None
        if text.startswith(("max:", "min:")):
            direction = "maximize" if text.startswith("max:") else "minimize"
            text = text[4:].strip()
        if text.startswith("score:"):
            weights = []
            problems = []
            for part in text[6:].split(","):
                name, star, weight = part.partition("*")
                name = name.strip()
                try:
                    value = float(weight) if star else 1.0
                except ValueError:
                    problems.append(f"objective {text!r}: {weight!r} is not a weight")
                    continue
                if name not in known:
                    problems.append(_unknown(name, known))
                weights.append((name, value))
            if problems:
                raise InvalidInputError(problems, what="objective")
            return cls(text, direction or "maximize", tuple(weights))
        if text not in known:
            raise InvalidInputError([_unknown(text, known)], what="objective")
        return cls(text, direction or ("minimize" if text in _MINIMISED else "maximize"))

    def value(self, figures: Mapping[str, float | None]) -> float | None:
        """The objective of a set's figures; None when a figure it needs is undefined (a
        profit factor without a losing trade)."""
        if not self.weights:
            found = figures.get(self.name)
            return None if found is None or math.isnan(found) else float(found)
        total = 0.0
        for name, weight in self.weights:
            found = figures.get(name)
            if found is None or math.isnan(found):
                return None
            total += weight * found
        return total


def _unknown(name: str, known: Sequence[str]) -> str:
    close = [k for k in known if name.split("_")[0] in k][:5]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"objective {name!r}: not a report figure{hint}"


@dataclass(frozen=True)
class TrialLimits:
    """What a set must show to be feasible: at least ``min_trades`` closed trades, at most
    ``max_drawdown_pct`` equity drawdown (percent of its peak)."""

    min_trades: int = 0
    max_drawdown_pct: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.min_trades < 0:
            problems.append(f"min_trades: {self.min_trades} must not be negative")
        if self.max_drawdown_pct is not None and not 0 < self.max_drawdown_pct <= 100:
            problems.append(f"max_drawdown_pct: {self.max_drawdown_pct} must be in (0, 100]")
        if problems:
            raise InvalidInputError(problems, what="trial limits")

    def missed(self, figures: Mapping[str, Any]) -> str | None:
        """Why a set's figures are infeasible, or None."""
        trades = int(figures.get("total_trades") or 0)
        if trades < self.min_trades:
            return f"{trades} trades, fewer than {self.min_trades}"
        drawdown = figures.get("equity_drawdown_pct")
        limit = self.max_drawdown_pct
        if limit is not None and drawdown is not None and drawdown > limit:
            return f"equity drawdown {drawdown:.2f} % above {limit:g} %"
        return None


FIGURES: tuple[str, ...] = _figure_names()
"""Every report figure an objective may name."""
