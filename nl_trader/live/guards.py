"""Guards: deterministic checks of every request before it is sent to a live terminal.

Configured per account profile (``[accounts.NAME.guards]``) and per strategy; the tighter of each
limit wins (``GuardLimits.tightest``). Every limit is off unless set:

* ``max_lots_per_order``: the request's volume.
* ``max_lots_per_symbol``: the strategy's open volume on the symbol (positions and pending
  orders under its magic) plus the request's.
* ``max_open_positions``: the strategy's open positions on the symbol before a new entry.
* ``max_orders_per_minute``: requests the strategy sent in the last 60 s of server time.
* ``daily_loss_limit``: in account currency, since the server day began (00:00 on the trade
  server's clock): equity now (floating P/L counted) against the balance at the day's start.
  Deposits and withdrawals of the day are not losses.
* ``min_margin_level_pct``: refuse while the account's margin level is below it.
* ``max_spread_points``: the spread at send, in the symbol's points.
* ``trading_hours``: weekly windows in UTC (``"Sun 22:00-Fri 21:55"``); the symbol's trade mode
  (disabled, close only) is always respected.

Only orders that add risk are checked: market entries and pending orders. Closing a position, a
close-by, removing a pending order and moving SL/TP always pass: a guard never keeps a trader in
a trade. A refusal (``GuardRefusal``) names the guard and its figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalError
from nl_trader.live.terminal import TerminalPort

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"^\s*(?P<d1>[A-Za-z]{3})\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*"
    r"(?P<d2>[A-Za-z]{3})\s+(?P<h2>\d{1,2}):(?P<m2>\d{2})\s*$"
)
_WEEK_S = 7 * 86_400
_TRADING_DEALS = frozenset({mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL})


def _window_seconds(text: str) -> tuple[int, int]:
    """``"Sun 22:00-Fri 21:55"`` as seconds of the week from Monday 00:00 UTC."""
    found = _WINDOW.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a weekly window like 'Sun 22:00-Fri 21:55' (UTC)")
    ends = []
    for day, hour, minute in (("d1", "h1", "m1"), ("d2", "h2", "m2")):
        name = found.group(day).lower()
        h, m = int(found.group(hour)), int(found.group(minute))
        if name not in _DAYS or h > 23 or m > 59:
            raise ValueError(f"{text!r}: day must be Mon..Sun and time HH:MM")
        ends.append(_DAYS.index(name) * 86_400 + h * 3600 + m * 60)
    return ends[0], ends[1]


class GuardLimits(BaseModel):
    """The limits one account profile or one strategy sets (None: off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_lots_per_order: float | None = Field(default=None, gt=0)
    max_lots_per_symbol: float | None = Field(default=None, gt=0)
    max_open_positions: int | None = Field(default=None, ge=0)
    max_orders_per_minute: int | None = Field(default=None, ge=1)
    daily_loss_limit: float | None = Field(default=None, gt=0)
    min_margin_level_pct: float | None = Field(default=None, gt=0)
    max_spread_points: float | None = Field(default=None, ge=0)
    trading_hours: tuple[str, ...] | None = None

    @field_validator("trading_hours")
    @classmethod
    def _hours(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("give at least one window, or leave trading_hours out")
            for window in value:
                _window_seconds(window)
        return value

    @classmethod
    def tightest(cls, *limits: GuardLimits) -> GuardLimits:
        """The stricter of each limit: the smallest maximum, the highest floor, and only the
        hours every one of them allows."""
        merged: dict[str, Any] = {}
        for name in ("max_lots_per_order", "max_lots_per_symbol", "max_open_positions"):
            merged[name] = _smallest(getattr(item, name) for item in limits)
        for name in ("max_orders_per_minute", "daily_loss_limit", "max_spread_points"):
            merged[name] = _smallest(getattr(item, name) for item in limits)
        floors = [item.min_margin_level_pct for item in limits if item.min_margin_level_pct]
        merged["min_margin_level_pct"] = max(floors) if floors else None
        hours = [item.trading_hours for item in limits if item.trading_hours is not None]
        merged["trading_hours"] = _intersection(hours) if hours else None
        return cls(**merged)

    def any(self) -> bool:
        return any(value is not None for value in self.model_dump().values())


def _smallest(values: Any) -> Any:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def from_config(table: object, *, where: str = "guards") -> GuardLimits:
    """The limits of a TOML table such as ``[accounts.NAME.guards]``; errors name each field."""
    if not isinstance(table, Mapping):
        raise InvalidInputError([f"{where}: expected a table of limits"], what="guards")
    data = dict(table)
    if isinstance(data.get("trading_hours"), str):
        data["trading_hours"] = [data["trading_hours"]]
    try:
        return GuardLimits.model_validate(data)
    except ValidationError as error:
        problems = [
            f"{where}.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False)
        ]
        raise InvalidInputError(problems, what="guards") from None


@dataclass(frozen=True)
class GuardRefusal:
    """A request a guard refused: which guard, why in words, and the figures it compared."""

    guard: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"guard": self.guard, "message": self.message, "figures": dict(self.figures)}


@dataclass(frozen=True)
class GuardSnapshot:
    """What the guards read, once, before a request: the account, the symbol, the quote, the
    strategy's positions and pending orders, the server's clock and the day's starting balance."""

    account: Mapping[str, Any]
    symbol_info: Mapping[str, Any]
    bid: float
    ask: float
    server_now_s: int
    server_utc_offset_s: int
    positions: Sequence[Mapping[str, Any]]
    orders: Sequence[Mapping[str, Any]]
    day_start_balance: float
    recent_sends_s: Sequence[int] = ()

    @property
    def utc_now(self) -> datetime:
        return datetime.fromtimestamp(self.server_now_s - self.server_utc_offset_s, UTC)

    @property
    def day_start_s(self) -> int:
        """00:00 of the server's day, on the server's clock."""
        return self.server_now_s - self.server_now_s % 86_400


def snapshot(
    terminal: TerminalPort,
    symbol: str,
    magic: int,
    *,
    recent_sends_s: Sequence[int] = (),
    server_utc_offset_s: int = 0,
) -> GuardSnapshot:
    """Read what the guards need from the terminal (raises ``TerminalError`` when it cannot)."""
    account, info, tick = (
        terminal.account_info(),
        terminal.symbol_info(symbol),
        terminal.symbol_info_tick(symbol),
    )
    if account is None or info is None or tick is None:
        code, message = terminal.last_error()
        raise TerminalError("guards: account_info/symbol_info/symbol_info_tick", code, message)
    positions = [p._asdict() for p in terminal.positions_get(symbol=symbol) or ()]
    orders = [o._asdict() for o in terminal.orders_get(symbol=symbol) or ()]
    now_s = int(tick.time)
    start_s = now_s - now_s % 86_400
    deals = terminal.history_deals_get(start_s, now_s + 86_400)
    if deals is None:
        code, message = terminal.last_error()
        raise TerminalError("guards: history_deals_get", code, message)
    account_data = account._asdict()
    realised = sum(
        float(d.profit) + float(d.commission) + float(d.swap) + float(getattr(d, "fee", 0.0))
        for d in deals
        if int(d.type) in _TRADING_DEALS and int(d.time) >= start_s
    )
    return GuardSnapshot(
        account=account_data,
        symbol_info=info._asdict(),
        bid=float(tick.bid),
        ask=float(tick.ask),
        server_now_s=now_s,
        server_utc_offset_s=server_utc_offset_s,
        positions=[p for p in positions if p["magic"] == magic],
        orders=[o for o in orders if o["magic"] == magic],
        day_start_balance=float(account_data["balance"]) - realised,
        recent_sends_s=tuple(recent_sends_s),
    )


def adds_risk(request: Mapping[str, Any]) -> bool:
    """Whether the request opens exposure (a market entry or a pending order)."""
    action = request.get("action")
    if action == mt5.TRADE_ACTION_PENDING:
        return True
    return action == mt5.TRADE_ACTION_DEAL and not request.get("position")


def check(
    request: Mapping[str, Any], taken: GuardSnapshot, limits: GuardLimits
) -> GuardRefusal | None:
    """The first guard that refuses ``request``, or None. Risk-reducing requests always pass."""
    if not adds_risk(request):
        return None
    volume = float(request.get("volume", 0.0))
    symbol = str(request.get("symbol", ""))
    trade_mode = int(taken.symbol_info.get("trade_mode", mt5.SYMBOL_TRADE_MODE_FULL))
    if trade_mode in (mt5.SYMBOL_TRADE_MODE_DISABLED, mt5.SYMBOL_TRADE_MODE_CLOSEONLY):
        name = "disabled" if trade_mode == mt5.SYMBOL_TRADE_MODE_DISABLED else "close only"
        return GuardRefusal(
            "trading_hours",
            f"{symbol} is {name} on the trade server (trade_mode {trade_mode})",
            {"trade_mode": trade_mode},
        )
    hours = limits.trading_hours
    if hours is not None and not _inside_any(taken.utc_now, hours):
        return GuardRefusal(
            "trading_hours",
            f"{taken.utc_now:%a %H:%M} UTC is outside the trading hours {', '.join(hours) or '(none)'}",
            {"utc": taken.utc_now.isoformat(), "windows": list(hours)},
        )
    if limits.max_lots_per_order is not None and volume > limits.max_lots_per_order + 1e-9:
        return GuardRefusal(
            "max_lots_per_order",
            f"{volume} lots is above the limit of {limits.max_lots_per_order} lots per order",
            {"volume_lots": volume, "limit_lots": limits.max_lots_per_order},
        )
    if limits.max_lots_per_symbol is not None:
        open_lots = sum(float(p["volume"]) for p in taken.positions) + sum(
            float(o["volume_current"]) for o in taken.orders
        )
        if open_lots + volume > limits.max_lots_per_symbol + 1e-9:
            return GuardRefusal(
                "max_lots_per_symbol",
                f"{open_lots:g} lots open on {symbol} plus {volume:g} is above the limit of "
                f"{limits.max_lots_per_symbol:g} lots",
                {
                    "open_lots": open_lots,
                    "volume_lots": volume,
                    "limit_lots": limits.max_lots_per_symbol,
                },
            )
    if limits.max_open_positions is not None and len(taken.positions) >= limits.max_open_positions:
        return GuardRefusal(
            "max_open_positions",
            f"{len(taken.positions)} positions open on {symbol}: the limit is "
            f"{limits.max_open_positions}",
            {"open_positions": len(taken.positions), "limit": limits.max_open_positions},
        )
    if limits.max_orders_per_minute is not None:
        recent = [s for s in taken.recent_sends_s if s > taken.server_now_s - 60]
        if len(recent) >= limits.max_orders_per_minute:
            return GuardRefusal(
                "max_orders_per_minute",
                f"{len(recent)} orders sent in the last minute: the limit is "
                f"{limits.max_orders_per_minute}",
                {"orders_last_minute": len(recent), "limit": limits.max_orders_per_minute},
            )
    currency = str(taken.account.get("currency", ""))
    if limits.daily_loss_limit is not None:
        loss = taken.day_start_balance - float(taken.account["equity"])
        if loss >= limits.daily_loss_limit - 1e-9:
            day = datetime.fromtimestamp(taken.day_start_s, UTC)
            return GuardRefusal(
                "daily_loss_limit",
                f"daily loss {loss:,.2f} {currency} since the server day began "
                f"{day:%Y-%m-%d %H:%M} (server time) reaches the limit "
                f"{limits.daily_loss_limit:,.2f} {currency}",
                {
                    "loss": round(loss, 2),
                    "limit": limits.daily_loss_limit,
                    "day_start_balance": round(taken.day_start_balance, 2),
                    "equity": float(taken.account["equity"]),
                    "currency": currency,
                },
            )
    if limits.min_margin_level_pct is not None and float(taken.account.get("margin", 0.0)) > 0:
        level = float(taken.account.get("margin_level", 0.0))
        if level < limits.min_margin_level_pct:
            return GuardRefusal(
                "min_margin_level_pct",
                f"margin level {level:,.1f} % is below the floor of "
                f"{limits.min_margin_level_pct:,.1f} %",
                {"margin_level_pct": level, "floor_pct": limits.min_margin_level_pct},
            )
    if limits.max_spread_points is not None:
        point = float(taken.symbol_info.get("point") or 0.0)
        spread = round((taken.ask - taken.bid) / point, 1) if point else 0.0
        if spread > limits.max_spread_points + 1e-9:
            return GuardRefusal(
                "max_spread_points",
                f"spread {spread:g} points on {symbol} is above the limit of "
                f"{limits.max_spread_points:g} points",
                {"spread_points": spread, "limit_points": limits.max_spread_points},
            )
    return None


def _intersection(groups: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The weekly windows every group allows, to the minute (``()``: never)."""
    allowed = [
        all(_inside_second(minute * 60, group) for group in groups)
        for minute in range(_WEEK_S // 60)
    ]
    windows: list[str] = []
    minute = 0
    while minute < len(allowed):
        if not allowed[minute]:
            minute += 1
            continue
        start = minute
        while minute < len(allowed) and allowed[minute]:
            minute += 1
        windows.append(f"{_week_time(start)}-{_week_time(minute % len(allowed))}")
    return tuple(windows)


def _week_time(minute: int) -> str:
    day, rest = divmod(minute, 1440)
    return f"{_DAYS[day].title()} {rest // 60:02d}:{rest % 60:02d}"


def _inside_any(moment: datetime, windows: Sequence[str]) -> bool:
    second = moment.weekday() * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    return _inside_second(second, windows)


def _inside_second(second: int, windows: Sequence[str]) -> bool:
    for window in windows:
        start, end = _window_seconds(window)
        if start <= end and start <= second < end:
            return True
        if start > end and (second >= start or second < end):  # wraps over the week's end
            return True
    return False


__all__ = [
    "GuardLimits",
    "GuardRefusal",
    "GuardSnapshot",
    "check",
    "from_config",
    "snapshot",
]
