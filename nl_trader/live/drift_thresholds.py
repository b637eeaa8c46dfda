"""How far a live trade may stray from the backtest's before the drift monitor alerts.

Apart from the monitor (``live.drift``) so that an account profile reads its ``[drift]`` table
without loading the backtest engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl_trader.errors import InvalidInputError


class DriftThresholds(BaseModel):
    """How far a live trade may stray from the backtest's before it is an alert.

    Delays are in bars of the strategy's timeframe, slippage and spread in pips (0.0001 on EURUSD),
    money in the account currency per trade. A None money threshold is not checked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_entry_delay_bars: int = Field(default=1, ge=0)
    max_exit_delay_bars: int = Field(default=1, ge=0)
    max_slippage_pips: float = Field(default=1.0, ge=0)
    max_spread_diff_pips: float = Field(default=1.0, ge=0)
    max_volume_diff_lots: float = Field(default=0.0, ge=0)
    max_pnl_diff: float | None = Field(default=10.0, ge=0)
    max_pnl_diff_pct: float | None = Field(default=None, ge=0)
    max_unmatched_trades: int = Field(default=0, ge=0)


def thresholds_from_config(table: object, *, where: str = "drift") -> DriftThresholds:
    """The thresholds of a TOML table such as ``[drift]``; errors name each field."""
    if not isinstance(table, Mapping):
        raise InvalidInputError([f"{where}: expected a table of thresholds"], what="drift")
    try:
        return DriftThresholds.model_validate(dict(table))
    except ValidationError as error:
        problems = [
            f"{where}.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False)
        ]
        raise InvalidInputError(problems, what="drift thresholds") from None
