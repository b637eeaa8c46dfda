"""Account profiles: which terminal and account a session trades on, by name.

Profiles live in the configuration file (``nl_trader.lifecycle.config_path()``), one TOML table
each; the password is never in the file, only the name of the environment variable that holds it::

    [accounts.icm-demo]
    terminal = "mt5"                  # mt5 | mt5linux://HOST:PORT | fake
    login = 51234567
    server = "ICMarketsSC-Demo"
    password_env = "MT5_ICM_DEMO_PASSWORD"
    server_utc_offset_s = 7200        # the trade server's clock, GMT+2 (checked against ticks)

    [accounts.icm-demo.symbols]       # the broker's names, when it adds suffixes (else found)
    EURUSD = "EURUSD.sml"
    XAUUSD = "GOLD"

    [accounts.icm-demo.guards]        # checked before every order (``nl_trader.live.guards``)
    max_lots_per_order = 1.0
    daily_loss_limit = 500.0          # account currency, from the server day's start

    [accounts.icm-demo.drift]         # live trades against the backtest (``nl_trader.live.drift``)
    max_slippage_pips = 0.5
    pause_on_alert = true             # pause the session on an alert (default: alert only)

The built-in profile ``paper`` is the fake terminal replaying the bars the backtest did not see,
on a demo account: paper trading, no credentials needed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nl_trader.config import read_config
from nl_trader.errors import InvalidInputError
from nl_trader.live.drift_thresholds import DriftThresholds, thresholds_from_config
from nl_trader.live.executor import Credentials
from nl_trader.live.guards import GuardLimits
from nl_trader.live.guards import from_config as guards_from_config
from nl_trader.live.symbol_map import parse_symbol_map

PAPER = "paper"
_TERMINAL = re.compile(r"^(mt5|fake|mt5linux://[^\s:]+:\d{1,5})$")


class AccountProfile(BaseModel):
    """One account to trade on: the terminal, the login and server, where its password is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    terminal: str = "mt5"
    login: int | None = Field(default=None, gt=0)
    server: str = ""
    password_env: str | None = None
    server_utc_offset_s: int = Field(default=0, ge=-14 * 3600, le=14 * 3600)
    symbols: dict[str, str] = Field(default_factory=dict)
    guards: GuardLimits = Field(default_factory=GuardLimits)
    drift: DriftThresholds = Field(default_factory=DriftThresholds)
    pause_on_drift: bool = False

    @field_validator("terminal")
    @classmethod
    def _terminal(cls, value: str) -> str:
        if not _TERMINAL.match(value):
            raise ValueError(f"{value!r} is not 'mt5', 'fake' or 'mt5linux://HOST:PORT'")
        return value

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(
                f"{value!r} is not an environment variable name; give the variable's name, "
                "never the password itself"
            )
        return value

    @property
    def paper(self) -> bool:
        return self.terminal == "fake"

    def credentials(self) -> Credentials:
        """The login params, the password read from ``password_env`` now (never stored)."""
        if self.paper and self.login is None:
            return Credentials.parse({"account": PAPER, "password": PAPER, "server": "paper"})
        problems = []
        if self.login is None:
            problems.append(f"accounts.{self.name}.login: give the MT5 login number")
        if not self.server:
            problems.append(f"accounts.{self.name}.server: give the trade server's name")
        if not self.password_env:
            problems.append(
                f"accounts.{self.name}.password_env: name the environment variable that holds "
                "the password"
            )
        elif not os.environ.get(self.password_env):
            problems.append(
                f"accounts.{self.name}.password_env: the environment variable "
                f"{self.password_env} is not set"
            )
        if problems:
            raise InvalidInputError(problems, what="account profile")
        return Credentials.parse(
            {
                "account": self.login,
                "password": os.environ[str(self.password_env)],
                "server": self.server,
            }
        )


PAPER_PROFILE = AccountProfile(name=PAPER, terminal="fake")


def load_profiles(path: Path | None = None) -> dict[str, AccountProfile]:
    """Every profile of the configuration file, and the built-in ``paper``."""
    tables = read_config(path).get("accounts", {})
    if not isinstance(tables, dict):
        raise InvalidInputError(["accounts: expected [accounts.NAME] tables"], what="configuration")
    profiles = {PAPER: PAPER_PROFILE}
    problems: list[str] = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            problems.append(f"accounts.{name}: expected a table")
            continue
        if "password" in table:
            problems.append(
                f"accounts.{name}.password: never write a password in the file; set "
                "password_env to the name of an environment variable that holds it"
            )
            continue
        try:
            table = dict(table)
            if "symbols" in table:
                table["symbols"] = parse_symbol_map(table["symbols"], profile=name)
            if "guards" in table:
                table["guards"] = guards_from_config(
                    table["guards"], where=f"accounts.{name}.guards"
                )
            if "drift" in table:
                table.update(_drift_table(table.pop("drift"), name))
            profiles[name] = AccountProfile.model_validate({**table, "name": name})
        except InvalidInputError as error:
            problems.extend(error.problems)
        except ValidationError as error:
            problems.extend(_problems(name, error))
    if problems:
        raise InvalidInputError(problems, what="configuration")
    return profiles


def get_profile(name: str, path: Path | None = None) -> AccountProfile:
    """The profile called ``name``; the error lists the ones there are."""
    profiles = load_profiles(path)
    if name not in profiles:
        raise InvalidInputError(
            [f"account: no profile {name!r}; known: {', '.join(sorted(profiles))}"],
            what="account profile",
        )
    return profiles[name]


def _drift_table(table: object, name: str) -> dict[str, Any]:
    """A profile's ``[drift]`` table: the thresholds, and whether an alert pauses the session."""
    where = f"accounts.{name}.drift"
    if not isinstance(table, dict):
        raise InvalidInputError([f"{where}: expected a table of thresholds"], what="configuration")
    thresholds = dict(table)
    pause = thresholds.pop("pause_on_alert", False)
    if not isinstance(pause, bool):
        raise InvalidInputError(
            [f"{where}.pause_on_alert: expected true or false, got {pause!r}"],
            what="configuration",
        )
    return {"drift": thresholds_from_config(thresholds, where=where), "pause_on_drift": pause}


def _problems(name: str, error: ValidationError) -> list[str]:
    found = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message: Any = item["msg"]
        found.append(f"accounts.{name}.{where}: {message}")
    return found
