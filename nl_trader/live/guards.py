"""Guards: deterministic checks of every request before it is sent to a live terminal.

Configured per account profile (``[accounts.NAME.guards]``) and per strategy; the tighter of each
limit wins (``GuardLimits.tightest``). Every limit is off unless set, except the trading hours,
which default to the forex week:

* ``max_lots_per_order``: the request's volume.
* ``max_lots_per_symbol``: the strategy's gross volume on the symbol after the order: its
  positions (buys and sells added) and its pending orders (each may fill), plus what the order
  opens.
* ``max_open_positions``: the strategy's positions on the symbol plus its pending orders there
  (each may become one); at the limit, an order that would open another position is refused. On a
  netting account an order on a symbol where the strategy already holds a position opens none.
* ``max_orders_per_minute``: entries the strategy sent in the last 60 s of server time.
* ``daily_loss_limit``: in account currency, for the whole account, since the server day began
  (00:00 on the trade server's clock): the balance at the day's start minus equity now, so
  floating P/L counts. Deposits, withdrawals and credit of the day are not losses; trading
  profit, commission, swap, fees and the broker's charges are.
* ``min_margin_level_pct``: refuse while the account's margin level (``account_info``'s
  ``margin_level``) is below it; with no margin in use there is no level, and it passes.
* ``max_spread_points``: the spread at send (ask - bid), in the symbol's points.
* ``trading_hours``: windows in UTC, weekly (``"Sun 22:00-Fri 21:55"``; ``"Mon 00:00-Mon 00:00"``
  is the whole week) or daily (``"Mon-Fri 07:00-16:00"``, ``"Tue 08:00-12:00"``). Unset at every
  level, the forex week ``FOREX_WEEK`` applies. The symbol's trade mode (disabled, close only,
  long only, short only) is always respected.

Only orders that add risk are checked: market entries and pending orders. Closing or reducing a
position (a deal with ``position``, or on a netting account a deal against the strategy's
position), a close-by, removing or modifying a pending order and moving SL/TP always pass: a
guard never keeps a trader in a trade. A refusal (``GuardRefusal``) names the guard and its
figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalError
from nl_trader.live.terminal import TerminalPort

FOREX_WEEK: tuple[str, ...] = ("Sun 22:00-Fri 22:00",)
"""The forex market's week in UTC: the trading hours when no profile or strategy sets any."""

_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S
_LOTS_EPSILON = 1e-9  # volumes are float lots: 0.1 + 0.2 must not exceed a 0.3 limit
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"(\d{1,2}):(\d{2})"
_WEEKLY = re.compile(rf"^\s*([A-Za-z]{{3}})\s+{_TIME}\s*-\s*([A-Za-z]{{3}})\s+{_TIME}\s*$")
_DAILY = re.compile(rf"^\s*([A-Za-z]{{3}})(?:\s*-\s*([A-Za-z]{{3}}))?\s+{_TIME}\s*-\s*{_TIME}\s*$")
# Deals that move money in or out without trading (a deposit is not a profit, a withdrawal not a
# loss). Every other deal type changes the balance through trading or its costs.
_MONEY_DEALS = frozenset({mt5.DEAL_TYPE_BALANCE, mt5.DEAL_TYPE_CREDIT, mt5.DEAL_TYPE_BONUS})
_BUY_TYPES = frozenset(
    {
        mt5.ORDER_TYPE_BUY,
        mt5.ORDER_TYPE_BUY_LIMIT,
        mt5.ORDER_TYPE_BUY_STOP,
        mt5.ORDER_TYPE_BUY_STOP_LIMIT,
    }
)
_NETTING = frozenset({mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING, mt5.ACCOUNT_MARGIN_MODE_EXCHANGE})


# ---- trading hours ----------------------------------------------------------------------------
def _day(name: str, text: str) -> int:
    if name.lower() not in _DAYS:
        raise ValueError(f"{text!r}: {name!r} is not a day (Mon, Tue, ..., Sun)")
    return _DAYS.index(name.lower())


def _clock_s(hour: str, minute: str, text: str) -> int:
    h, m = int(hour), int(minute)
    if h > 23 or m > 59:
        raise ValueError(f"{text!r}: {hour}:{minute} is not a time of day HH:MM")
    return h * 3600 + m * 60


@lru_cache(maxsize=256)
def _window_spans(text: str) -> tuple[tuple[int, int], ...]:
    """One window as spans ``[start, end)`` in seconds of the week from Monday 00:00 UTC."""
    weekly, daily = _WEEKLY.match(text), _DAILY.match(text)
    raw: list[tuple[int, int]] = []
    if weekly is not None:
        d1, h1, m1, d2, h2, m2 = weekly.groups()
        start = _day(d1, text) * _DAY_S + _clock_s(h1, m1, text)
        end = _day(d2, text) * _DAY_S + _clock_s(h2, m2, text)
        raw.append((start, end if end > start else end + _WEEK_S))  # equal ends: the whole week
    elif daily is not None:
        d1, d2, h1, m1, h2, m2 = daily.groups()
        first = _day(d1, text)
        last = _day(d2, text) if d2 else first
        begin, finish = _clock_s(h1, m1, text), _clock_s(h2, m2, text)
        for offset in range((last - first) % 7 + 1):
            start = (first + offset) % 7 * _DAY_S + begin
            raw.append((start, start + ((finish - begin) % _DAY_S or _DAY_S)))  # may end tomorrow
    else:
        raise ValueError(
            f"{text!r} is not a window in UTC like 'Sun 22:00-Fri 21:55' (weekly) or "
            "'Mon-Fri 07:00-16:00' (daily)"
        )
    spans: list[tuple[int, int]] = []
    for start, end in raw:  # a span past Sunday 24:00 goes on from Monday 00:00
        spans.append((start, min(end, _WEEK_S)))
        if end > _WEEK_S:
            spans.append((0, end - _WEEK_S))
    return tuple(spans)


def _spans(windows: Sequence[str]) -> list[tuple[int, int]]:
    """The windows' spans, sorted and merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(span for window in windows for span in _window_spans(window)):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _week_time(second: int) -> str:
    day, rest = divmod(second % _WEEK_S, _DAY_S)
    return f"{_DAYS[day].title()} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _windows_text(spans: list[tuple[int, int]]) -> tuple[str, ...]:
    """Merged spans as weekly windows; one that runs over Sunday into Monday comes first."""
    if spans == [(0, _WEEK_S)]:
        return ("Mon 00:00-Mon 00:00",)
    if len(spans) > 1 and spans[0][0] == 0 and spans[-1][1] == _WEEK_S:
        spans = [(spans[-1][0], spans[0][1] + _WEEK_S), *spans[1:-1]]  # the forex week's order
    return tuple(f"{_week_time(start)}-{_week_time(end)}" for start, end in spans)


def _inside(second_of_week: int, windows: Sequence[str]) -> bool:
    return any(start <= second_of_week < end for start, end in _spans(windows))


# ---- limits -----------------------------------------------------------------------------------
def _number(gt: float | None = None, ge: float | None = None) -> Any:
    return Field(default=None, gt=gt, ge=ge, strict=True, allow_inf_nan=False)


class GuardLimits(BaseModel):
    """The limits one account profile or one strategy sets (None: off; see the module's doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_lots_per_order: float | None = _number(gt=0)
    max_lots_per_symbol: float | None = _number(gt=0)
    max_open_positions: int | None = _number(ge=0)
    max_orders_per_minute: int | None = _number(ge=1)
    daily_loss_limit: float | None = _number(gt=0)
    min_margin_level_pct: float | None = _number(gt=0)
    max_spread_points: float | None = _number(ge=0)
    trading_hours: tuple[str, ...] | None = None

    @field_validator("trading_hours")
    @classmethod
    def _hours(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("give at least one window, or leave trading_hours out")
            for window in value:
                _window_spans(window)
        return value

    @classmethod
    def tightest(cls, *limits: GuardLimits) -> GuardLimits:
        """The stricter of each limit: the smallest maximum, the highest floor, and only the
        hours every one of them allows (hours set nowhere stay unset: the forex week).

        Raises ``InvalidInputError`` when the trading hours have no minute in common.
        """
        merged: dict[str, Any] = {}
        for name in (
            "max_lots_per_order",
            "max_lots_per_symbol",
            "max_open_positions",
            "max_orders_per_minute",
            "daily_loss_limit",
            "max_spread_points",
        ):
            merged[name] = _smallest(getattr(item, name) for item in limits)
        floors = [item.min_margin_level_pct for item in limits if item.min_margin_level_pct]
        merged["min_margin_level_pct"] = max(floors) if floors else None
        hours = [item.trading_hours for item in limits if item.trading_hours is not None]
        if hours:
            common = _spans(hours[0])
            for group in hours[1:]:
                common = _intersect(common, _spans(group))
            if not common:
                shown = " and ".join(repr(", ".join(group)) for group in hours)
                raise InvalidInputError(
                    [f"guards.trading_hours: {shown} have no minute in common"], what="guards"
                )
            merged["trading_hours"] = _windows_text(common)
        return cls(**merged)

    def any(self) -> bool:
        """Whether any limit is set here."""
        return any(value is not None for value in self.model_dump().values())


def _smallest(values: Any) -> Any:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    common = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted((start, end) for start, end in common if start < end)


def from_config(table: object, *, where: str = "guards") -> GuardLimits:
    """The limits of a TOML table such as ``[accounts.NAME.guards]``; errors name each field
    (``guards.max_lots_per_order: Input should be greater than 0``)."""
    if not isinstance(table, Mapping):
        raise InvalidInputError([f"{where}: expected a table of limits"], what="guards")
    data = dict(table)
    if isinstance(data.get("trading_hours"), str):
        data["trading_hours"] = [data["trading_hours"]]
    try:
        return GuardLimits.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            name = f"{where}.{'.'.join(str(part) for part in item['loc'])}"
            if item["type"] == "extra_forbidden":
                known = ", ".join(GuardLimits.model_fields)
                problems.append(f"{name}: not a guard; the guards are {known}")
            else:
                problems.append(f"{name}: {item['msg'].removeprefix('Value error, ')}")
        raise InvalidInputError(problems, what="guards") from None


# ---- what the guards read ---------------------------------------------------------------------
@dataclass(frozen=True)
class GuardRefusal:
    """A request a guard refused: which guard, why in words, and the figures it compared."""

    guard: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The refusal for the journal and the audit."""
        return {"guard": self.guard, "message": self.message, "figures": dict(self.figures)}


@dataclass(frozen=True)
class GuardSnapshot:
    """What the guards read, once, before a request: the account, the symbol, the quote, the
    strategy's positions and pending orders on the symbol (``_asdict()`` records), the server's
    clock (epoch seconds as MT5 writes them) and the balance at the server day's start."""

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
        """The moment of the snapshot in UTC."""
        return datetime.fromtimestamp(self.server_now_s - self.server_utc_offset_s, UTC)

    @property
    def day_start_s(self) -> int:
        """00:00 of the server's day, on the server's clock."""
        return self.server_now_s - self.server_now_s % _DAY_S


def _records(found: Any, call: str, terminal: TerminalPort) -> list[dict[str, Any]]:
    if found is None:  # an empty book is (); None is a failed call, never "no positions"
        code, message = terminal.last_error()
        raise TerminalError(f"guards: {call}", code, message)
    return [record._asdict() for record in found]


def snapshot(
    terminal: TerminalPort,
    symbol: str,
    magic: int,
    *,
    recent_sends_s: Sequence[int] = (),
    server_utc_offset_s: int = 0,
    server_now_s: int | None = None,
) -> GuardSnapshot:
    """Read what the guards need from the terminal (raises ``TerminalError`` when it cannot).

    ``server_now_s`` is the server's clock now; pass it from the session's clock, because the
    last tick's time (the default) stands still while the market is closed. The balance at the
    day's start is the balance now less the day's trading deals (profit, commission, swap, fee).
    """
    account, info, tick = (
        terminal.account_info(),
        terminal.symbol_info(symbol),
        terminal.symbol_info_tick(symbol),
    )
    if account is None or info is None or tick is None:
        code, message = terminal.last_error()
        raise TerminalError("guards: account_info/symbol_info/symbol_info_tick", code, message)
    positions = _records(terminal.positions_get(symbol=symbol), "positions_get", terminal)
    orders = _records(terminal.orders_get(symbol=symbol), "orders_get", terminal)
    now_s = int(tick.time) if server_now_s is None else int(server_now_s)
    start_s = now_s - now_s % _DAY_S
    # A day's margin on the end: deals stamped a little ahead of our clock still count.
    deals = _records(
        terminal.history_deals_get(start_s, now_s + _DAY_S), "history_deals_get", terminal
    )
    account_data = account._asdict()
    realised = sum(
        float(d["profit"]) + float(d["commission"]) + float(d["swap"]) + float(d.get("fee", 0.0))
        for d in deals
        if int(d["type"]) not in _MONEY_DEALS and int(d["time"]) >= start_s
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


# ---- the checks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    """What a risk-adding request does: lots it opens, lots it closes first, a new position."""

    symbol: str
    buys: bool
    volume_lots: float
    opening_lots: float
    closing_lots: float
    new_position: bool


def _entry(request: Mapping[str, Any], taken: GuardSnapshot) -> _Entry | None:
    """The request as an entry, or None when it only reduces risk (or is no order at all)."""
    action = request.get("action")
    volume = float(request.get("volume") or 0.0)
    symbol = str(request.get("symbol", ""))
    buys = request.get("type", mt5.ORDER_TYPE_BUY) in _BUY_TYPES
    if action == mt5.TRADE_ACTION_PENDING:
        return _Entry(symbol, buys, volume, volume, 0.0, True)
    if action != mt5.TRADE_ACTION_DEAL:
        return None  # SLTP, MODIFY, REMOVE, CLOSE_BY: none adds volume
    side = mt5.POSITION_TYPE_BUY if buys else mt5.POSITION_TYPE_SELL
    ticket = request.get("position")
    if ticket:
        target = next((p for p in taken.positions if p.get("ticket") == ticket), None)
        if target is None or target.get("type") != side:
            return None  # a close of that position
        return _Entry(symbol, buys, volume, volume, 0.0, False)  # netting: adds to it
    held = [p for p in taken.positions if p.get("symbol", symbol) == symbol]
    if int(taken.account.get("margin_mode", -1)) in _NETTING and held:
        position = held[0]  # netting keeps one position a symbol
        if position.get("type") == side:
            return _Entry(symbol, buys, volume, volume, 0.0, False)
        closing = min(volume, float(position["volume"]))
        opening = volume - closing
        if opening <= _LOTS_EPSILON:
            return None  # reduces or closes it
        return _Entry(symbol, buys, volume, opening, closing, False)  # reverses it
    return _Entry(symbol, buys, volume, volume, 0.0, True)


def check(
    request: Mapping[str, Any], taken: GuardSnapshot, limits: GuardLimits
) -> GuardRefusal | None:
    """The first guard that refuses ``request`` (an MT5 request dict), or None.

    Requests that only reduce risk always pass (see the module's doc).
    """
    entry = _entry(request, taken)
    if entry is None:
        return None
    for guard in _GUARDS:
        refusal = guard(entry, taken, limits)
        if refusal is not None:
            return refusal
    return None


def _trade_mode(entry: _Entry, taken: GuardSnapshot, limits: GuardLimits) -> GuardRefusal | None:
    mode = int(taken.symbol_info.get("trade_mode", mt5.SYMBOL_TRADE_MODE_FULL))
    why = {
        mt5.SYMBOL_TRADE_MODE_DISABLED: "trading is disabled",
        mt5.SYMBOL_TRADE_MODE_CLOSEONLY: "only closing is allowed",
    }.get(mode)
    if mode == mt5.SYMBOL_TRADE_MODE_LONGONLY and not entry.buys:
        why = "only buys are allowed"
    if mode == mt5.SYMBOL_TRADE_MODE_SHORTONLY and entry.buys:
        why = "only sells are allowed"
    if why is None:
        return None
    return GuardRefusal(
        "trade_mode",
        f"{entry.symbol}: {why} on the trade server (trade_mode {mode})",
        {"symbol": entry.symbol, "trade_mode": mode, "buys": entry.buys},
    )


def _trading_hours(entry: _Entry, taken: GuardSnapshot, limits: GuardLimits) -> GuardRefusal | None:
    windows = limits.trading_hours or FOREX_WEEK
    moment = taken.utc_now
    second = moment.weekday() * _DAY_S + moment.hour * 3600 + moment.minute * 60 + moment.second
    if _inside(second, windows):
        return None
    return GuardRefusal(
        "trading_hours",
        f"{moment:%a %Y-%m-%d %H:%M} UTC is outside the trading hours {', '.join(windows)} (UTC)",
        {"utc": moment.isoformat(), "windows": list(windows)},
    )


def _lots_per_order(
    entry: _Entry, taken: GuardSnapshot, limits: GuardLimits
) -> GuardRefusal | None:
    limit = limits.max_lots_per_order
    if limit is None or entry.volume_lots <= limit + _LOTS_EPSILON:
        return None
    return GuardRefusal(
        "max_lots_per_order",
        f"{entry.volume_lots:g} lots is above the limit of {limit:g} lots per order",
        {"volume_lots": entry.volume_lots, "limit_lots": limit},
    )


def _lots_per_symbol(
    entry: _Entry, taken: GuardSnapshot, limits: GuardLimits
) -> GuardRefusal | None:
    limit = limits.max_lots_per_symbol
    if limit is None:
        return None
    positions_lots = sum(float(p["volume"]) for p in taken.positions)
    pending_lots = sum(float(o["volume_current"]) for o in taken.orders)
    after = positions_lots + pending_lots - entry.closing_lots + entry.opening_lots
    if after <= limit + _LOTS_EPSILON:
        return None
    return GuardRefusal(
        "max_lots_per_symbol",
        f"{positions_lots:g} lots in positions and {pending_lots:g} in pending orders on "
        f"{entry.symbol}, with this order {after:g} lots: above the limit of {limit:g} lots",
        {
            "positions_lots": positions_lots,
            "pending_lots": pending_lots,
            "volume_lots": entry.volume_lots,
            "after_lots": round(after, 8),
            "limit_lots": limit,
        },
    )


def _open_positions(
    entry: _Entry, taken: GuardSnapshot, limits: GuardLimits
) -> GuardRefusal | None:
    limit = limits.max_open_positions
    held = len(taken.positions) + len(taken.orders)
    if limit is None or not entry.new_position or held < limit:
        return None
    return GuardRefusal(
        "max_open_positions",
        f"{len(taken.positions)} positions and {len(taken.orders)} pending orders of this "
        f"strategy on {entry.symbol}: the limit is {limit}",
        {"positions": len(taken.positions), "pending_orders": len(taken.orders), "limit": limit},
    )


def _orders_per_minute(
    entry: _Entry, taken: GuardSnapshot, limits: GuardLimits
) -> GuardRefusal | None:
    limit = limits.max_orders_per_minute
    if limit is None:
        return None
    recent = [s for s in taken.recent_sends_s if taken.server_now_s - 60 < s <= taken.server_now_s]
    if len(recent) < limit:
        return None
    return GuardRefusal(
        "max_orders_per_minute",
        f"{len(recent)} orders sent in the last 60 s: the limit is {limit} a minute",
        {"orders_last_minute": len(recent), "limit": limit},
    )


def _daily_loss(entry: _Entry, taken: GuardSnapshot, limits: GuardLimits) -> GuardRefusal | None:
    limit = limits.daily_loss_limit
    if limit is None:
        return None
    equity = float(taken.account["equity"])
    loss = round(taken.day_start_balance - equity, 2)  # to the cent, as the account shows it
    if loss < limit:
        return None
    currency = str(taken.account.get("currency", ""))
    day = datetime.fromtimestamp(taken.day_start_s, UTC)  # server clock, shown as it reads
    return GuardRefusal(
        "daily_loss_limit",
        f"daily loss {loss:,.2f} {currency} since the server day began {day:%Y-%m-%d %H:%M} "
        f"(server time) reaches the limit {limit:,.2f} {currency}",
        {
            "loss": loss,
            "limit": limit,
            "day_start_balance": round(taken.day_start_balance, 2),
            "equity": equity,
            "currency": currency,
            "server_day": f"{day:%Y-%m-%d}",
        },
    )


def _margin_level(entry: _Entry, taken: GuardSnapshot, limits: GuardLimits) -> GuardRefusal | None:
    floor = limits.min_margin_level_pct
    if floor is None or float(taken.account.get("margin", 0.0)) <= 0:
        return None  # no margin in use: the level is not defined (MT5 shows 0)
    level = float(taken.account.get("margin_level", 0.0))
    if level >= floor:
        return None
    return GuardRefusal(
        "min_margin_level_pct",
        f"margin level {level:,.1f} % is below the floor of {floor:,.1f} %",
        {"margin_level_pct": level, "floor_pct": floor},
    )


def _spread(entry: _Entry, taken: GuardSnapshot, limits: GuardLimits) -> GuardRefusal | None:
    limit = limits.max_spread_points
    if limit is None:
        return None
    point = float(taken.symbol_info.get("point") or 0.0)
    if point <= 0:  # a spread that cannot be measured is not known to be small
        return GuardRefusal(
            "max_spread_points",
            f"{entry.symbol}: the symbol's point is unknown, so the spread cannot be checked",
            {"point": point, "limit_points": limit},
        )
    spread = round((taken.ask - taken.bid) / point, 1)
    if spread <= limit:
        return None
    return GuardRefusal(
        "max_spread_points",
        f"spread {spread:g} points on {entry.symbol} (bid {taken.bid:g}, ask {taken.ask:g}) is "
        f"above the limit of {limit:g} points",
        {"spread_points": spread, "bid": taken.bid, "ask": taken.ask, "limit_points": limit},
    )


_GUARDS = (
    _trade_mode,
    _trading_hours,
    _lots_per_order,
    _lots_per_symbol,
    _open_positions,
    _orders_per_minute,
    _daily_loss,
    _margin_level,
    _spread,
)

__all__ = [
    "FOREX_WEEK",
    "GuardLimits",
    "GuardRefusal",
    "GuardSnapshot",
    "check",
    "from_config",
    "snapshot",
]
