"""The command-line options the backtest commands share, and how they name a field in errors."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

# The options `backtest` and `backtest-strategy` share (one declaration each).
DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="Bars file (MT5, MT4, HistData, CSV, bid/ask), or 'sample' for the bundled sample.",
    ),
]
SymbolOption = Annotated[str | None, typer.Option(help="Symbol (default: the spec's first).")]
FromOption = Annotated[str | None, typer.Option("--from", help="First day (UTC), YYYY-MM-DD.")]
ToOption = Annotated[str | None, typer.Option("--to", help="Last day (UTC), YYYY-MM-DD.")]
SpreadOption = Annotated[
    float | None,
    typer.Option(
        help="Fixed spread in points, for decisions and fills (default: the data's spread "
        "column; without one, the symbol's typical spread). 0 for none."
    ),
]
ServerTimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--server-timezone",
        help="The trade server's clock, for swaps, day orders, weekdays and sessions ('broker' "
        "= New York + 7 h, 'UTC+2', 'EET'; default: the data's when it is a MetaTrader export, "
        "else 'broker').",
    ),
]
CommissionOption = Annotated[float | None, typer.Option(help="Commission per lot and side.")]
DepositOption = Annotated[float, typer.Option(help="Initial deposit.")]
CurrencyOption = Annotated[str, typer.Option(help="Account currency (USD, EUR, ...).")]
LeverageOption = Annotated[int, typer.Option(help="Account leverage (100 = 1:100).")]
AccountModeOption = Annotated[str, typer.Option(help="hedging or netting.")]
TimezoneOption = Annotated[
    str | None, typer.Option(help="Time zone of the file's times (default: the format's own).")
]
DataTimeframeOption = Annotated[
    str | None,
    typer.Option(
        "--timeframe",
        help="Timeframe of the bars in the --data file (M1, H1, ...), when their spacing does "
        "not show it (default: the median spacing). The strategy's own is in its spec.",
    ),
]
ConvertOption = Annotated[
    list[str] | None,
    typer.Option(
        "--convert",
        help="PAIR=FILE: bars of a pair that converts the symbol's money to the account "
        "currency (USDJPY for EURJPY on a USD account); the sample brings its own.",
    ),
]


# How the command line calls each field of a run's data (``data.run_data`` names them in errors).
DATA_OPTIONS = {
    "source": "--data",
    "symbol": "--symbol",
    "from": "--from",
    "to": "--to",
    "bars": "--bars",
    "timezone": "--timezone",
    "timeframe": "--timeframe",
    "convert": "--convert",
}


# The options (of backtest and backtest-strategy) that set each field of BacktestSettings.
SETTINGS_OPTIONS = {
    "deposit": "--deposit",
    "currency": "--currency",
    "leverage": "--leverage",
    "account_mode": "--account",
    "spread_points": "--spread",
    "commission_per_lot": "--commission",
    "server_timezone": "--server-timezone",
}


def settings_problems(error: ValidationError) -> list[str]:
    """Each invalid setting as ``--option: problem``."""
    problems = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"])
        problems.append(f"{SETTINGS_OPTIONS.get(name, name)}: {item['msg']}")
    return problems
