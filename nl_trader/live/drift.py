"""The drift monitor: each live trade against what the backtest would have done on the same bars.

While a session runs, the bars it saw are replayed through the backtest engine with the run's
settings (``expected_trades``), and the session's journal is rebuilt into round trips
(``live_trades_from_journal``). ``compare`` pairs them in entry order and measures, per trade,
what a trader checks when paper or live results leave the report behind:

* entry delay in bars (a trade is matched when it enters on the same side within
  ``max_entry_delay_bars`` of the backtest's; further apart, both are unmatched);
* slippage in pips, signed against the trader (a buy filled 2 pips above the backtest's price is
  +2.0), at the entry and at the exit, when both fills fall in the same bar;
* the spread paid (on the side that buys at the ask: a long's entry, a short's exit), in pips;
* the exit: its delay in bars and its reason (sl, tp, expert, ...);
* the volume and the net P/L (profit + swap + commission of the trade's deals), in account
  currency.

Figures beyond the ``DriftThresholds`` become alerts that name the trade and the figure; the session
pauses on one when its monitor was made with ``pause_on_alert``.

What is exact: the backtest starts flat at the session's first decided bar (``start``): it sees the
bars before it as history (the indicators' warm-up) but takes no entry decided before it, as a
session that starts flat does. It decides on the very bars the terminal gave the session, at each
bar's close, and fills at the next bar's open, as the paper terminal does. Recursive indicators
(EMA, RSI, ATR, ADX, MACD) are computed over all the bars the monitor holds, where the session
computes them over its feed's window (``2 x warmup``, at least 300 bars): where the two windows
start weighs in by (1 - 2/(n+1))^(6n), about 6e-6, so only a crossing decided by that margin could
differ.

A trade too recent to judge (its counterpart may still come within the allowed delay) is
``awaiting``; a backtest position still open at the last bar (the engine closes it at the end of
the test) counts as open, not as closed.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from nl_trader import mt5
from nl_trader.backtest import engine
from nl_trader.backtest.engine import BacktestSettings, server_clock
from nl_trader.data.timezones import SourceZone
from nl_trader.errors import InvalidInputError
from nl_trader.live.drift_thresholds import DriftThresholds
from nl_trader.spec import StrategySpec
from nl_trader.store import JournalEntry
from nl_trader.strategy.compile import CompiledStrategy
from nl_trader.symbols import SymbolSpec, symbol_spec
from nl_trader.timeframes import epoch_seconds, timeframe_seconds

Side = Literal["long", "short"]
Status = Literal["matched", "open", "live only", "backtest only", "awaiting"]

_EPS = 1e-9
_DEAL_REASONS = {
    mt5.DEAL_REASON_CLIENT: "client",
    mt5.DEAL_REASON_MOBILE: "client",
    mt5.DEAL_REASON_WEB: "client",
    mt5.DEAL_REASON_EXPERT: "expert",
    mt5.DEAL_REASON_SL: "sl",
    mt5.DEAL_REASON_TP: "tp",
    mt5.DEAL_REASON_SO: "stop_out",
}
_CLOSING = ("out", "out_by")
_BAR_COLUMNS = ["open", "high", "low", "close", "spread"]


@dataclass(frozen=True)
class RoundTrip:
    """One trade from its entry to its exit: the live one or the backtest's.

    Prices are the deals' (volume-weighted when a trade was entered or closed in parts),
    ``net_profit`` the sum of its deals' profit, swap and commission in account currency (None
    while open), ``spread_pips`` the spread at its fill at the ask (None when not known yet).
    """

    side: Side
    volume_lots: float
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None = None
    exit_price: float | None = None
    exit_reason: str | None = None
    net_profit: float | None = None
    spread_pips: float | None = None
    position_id: str = ""

    @property
    def closed(self) -> bool:
        return self.exit_time is not None

    def name(self) -> str:
        """The trade in words, for alerts: side, lots, entry time and its position."""
        text = f"{self.side} {self.volume_lots:g} lots entered {self.entry_time:%Y-%m-%d %H:%M} UTC"
        return f"{text} (position {self.position_id})" if self.position_id else text


@dataclass
class _Fill:
    time: datetime
    buy: bool | None  # None: a close-by, whose side is the position's opposite
    entry: str  # in | out | inout | out_by
    price: float
    volume_lots: float
    money: float  # profit + swap + commission + fee
    position: str
    reason: str
    spread_points: float | None


@dataclass
class _Building:
    side: Side
    entries: list[_Fill] = field(default_factory=list)
    exits: list[_Fill] = field(default_factory=list)
    open_lots: float = 0.0


def _average_price(fills: Sequence[_Fill]) -> float:
    volume = sum(f.volume_lots for f in fills)
    if volume <= 0:
        return fills[-1].price
    return sum(f.price * f.volume_lots for f in fills) / volume


def _spread_pips(fills: Sequence[_Fill], point: float, pip: float) -> float | None:
    known = [f for f in fills if f.spread_points is not None]
    volume = sum(f.volume_lots for f in known)
    if not known or volume <= 0:
        return None
    points = sum(float(f.spread_points or 0.0) * f.volume_lots for f in known) / volume
    return round(points * point / pip, 6)


def _round_trips(fills: Iterable[_Fill], info: SymbolSpec) -> list[RoundTrip]:
    """Pair each position's entry deals with its exit deals, in time order; exits of positions
    whose entry is not among ``fills`` (opened before) are left out."""
    building: dict[str, _Building] = {}
    done: list[_Building] = []
    for fill in fills:
        current = building.get(fill.position)
        if fill.entry == "in":
            if current is None:
                current = _Building(side="long" if fill.buy else "short")
                building[fill.position] = current
            current.entries.append(fill)
            current.open_lots = round(current.open_lots + fill.volume_lots, 8)
            continue
        if current is None:
            if fill.entry == "inout":  # a reversal of a position opened before: its new part
                opened = replace(fill, entry="in", money=0.0)
                building[fill.position] = _Building(
                    side="long" if fill.buy else "short",
                    entries=[opened],
                    open_lots=fill.volume_lots,
                )
            continue
        closing = min(fill.volume_lots, current.open_lots)
        rest = round(fill.volume_lots - closing, 8)
        share = closing / fill.volume_lots if fill.volume_lots > 0 else 1.0
        current.exits.append(replace(fill, volume_lots=closing, money=fill.money * share))
        current.open_lots = round(current.open_lots - closing, 8)
        if current.open_lots <= _EPS:
            done.append(building.pop(fill.position))
        if fill.entry == "inout" and rest > _EPS:
            opened = replace(fill, entry="in", volume_lots=rest, money=fill.money * (1 - share))
            building[fill.position] = _Building(
                side="long" if fill.buy else "short", entries=[opened], open_lots=rest
            )
    trips = [_trip(item, info, closed=True) for item in done]
    trips += [_trip(item, info, closed=False) for item in building.values()]
    trips.sort(key=lambda trip: (trip.entry_time, trip.position_id))
    return trips


def _trip(item: _Building, info: SymbolSpec, *, closed: bool) -> RoundTrip:
    first = item.entries[0]
    at_ask = item.entries if item.side == "long" else (item.exits if closed else [])
    entry_lots = round(sum(f.volume_lots for f in item.entries), 8)
    exit_fields: dict[str, Any] = {}
    if closed:
        exit_fields = {
            "exit_time": item.exits[-1].time,
            "exit_price": round(_average_price(item.exits), info.digits + 2),
            "exit_reason": item.exits[-1].reason,
            "net_profit": round(sum(f.money for f in (*item.entries, *item.exits)), 6),
        }
    return RoundTrip(
        side=item.side,
        volume_lots=entry_lots,
        entry_time=first.time,
        entry_price=round(_average_price(item.entries), info.digits + 2),
        spread_pips=_spread_pips(at_ask, info.point, info.pip_size),
        position_id=first.position,
        **exit_fields,
    )


# ---- the live side ---------------------------------------------------------------------------
def _utc(value: Any, where: str) -> datetime:
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInputError(
            [f"{where}.time: {value!r} is not a timezone-aware time"], what="journal"
        )
    return moment.astimezone(UTC)


def _bar_spread(bars: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray] | None:
    if bars is None or len(bars) == 0 or "spread" not in bars:
        return None
    return epoch_seconds(bars.index), bars["spread"].to_numpy(dtype="float64")


def _spread_at(table: tuple[np.ndarray, np.ndarray] | None, moment_s: float) -> float | None:
    if table is None:
        return None
    times, spread = table
    row = int(np.searchsorted(times, moment_s, side="right")) - 1
    return float(spread[row]) if 0 <= row < len(spread) else None


def live_trades_from_journal(
    entries: Iterable[JournalEntry],
    symbol_info: SymbolSpec,
    *,
    bars: pd.DataFrame | None = None,
    since: datetime | None = None,
) -> list[RoundTrip]:
    """The session's round trips, rebuilt from its journal's executions (one per deal).

    Each position's entry deal opens a trade and its exit deals close it. The spread paid is the
    execution's ``spread_points`` when the route recorded it, else the spread of the bar the fill
    falls in (``bars``, the terminal's; the last one for a fill after it, until its bar closes). Trades entered before ``since`` (an earlier session's,
    adopted) are left out.
    """
    spreads = _bar_spread(bars)
    seen: set[str] = set()
    fills: list[tuple[datetime, int, _Fill]] = []
    for entry in entries:
        payload = entry.payload
        if entry.kind != "execution" or not payload.get("deal_id"):
            continue
        deal = str(payload["deal_id"])
        if deal in seen:  # a deal reported twice (a reconnect) is one deal
            continue
        seen.add(deal)
        where = f"journal entry {entry.id}"
        moment = _utc(payload.get("time"), where)
        kind = str(payload.get("type", ""))
        recorded = payload.get("spread_points")
        fill = _Fill(
            time=moment,
            buy=True if kind.startswith("buy") else False if kind.startswith("sell") else None,
            entry=str(payload.get("entry") or ""),
            price=float(payload.get("fill_price") or 0.0),
            volume_lots=float(payload.get("fill_volume") or 0.0),
            money=sum(float(payload.get(k) or 0.0) for k in ("profit", "swap", "commission")),
            position=str(payload.get("position_id") or payload.get("order_id") or ""),
            reason=str(payload.get("reason") or ""),
            spread_points=float(recorded)
            if recorded is not None
            else _spread_at(spreads, moment.timestamp()),
        )
        if fill.entry in ("in", "inout") and fill.buy is None:
            raise InvalidInputError(
                [f"{where}.type: {kind!r} is not a buy or a sell"], what="journal"
            )
        fills.append((moment, int(deal) if deal.isdigit() else 0, fill))
    fills.sort(key=lambda item: (item[0], item[1]))
    trips = _round_trips((fill for _, _, fill in fills), symbol_info)
    if since is not None:
        trips = [trip for trip in trips if trip.entry_time >= since]
    return trips


# ---- the backtest side -----------------------------------------------------------------------
def expected_trades(
    spec: StrategySpec,
    bars: pd.DataFrame,
    settings: BacktestSettings | None = None,
    *,
    start: datetime,
    symbol_info: SymbolSpec | None = None,
    server_zone: SourceZone | None = None,
    conversion_bars: Mapping[str, pd.DataFrame] | None = None,
) -> list[RoundTrip]:
    """The backtest's trades on ``bars`` (UTC index; open, high, low, close, spread) when it
    decides from ``start`` on, flat, as a session whose first decided bar opens at ``start``.

    The bars before ``start`` are the indicators' history; ``settings`` are the run's (costs,
    fills, the path inside a bar, the server's clock). ``server_zone`` is the trade server's clock
    when the bars cannot tell it (a session's feed is UTC): the session's own, so that both sides
    read weekdays and hours alike. ``conversion_bars`` move the pairs that convert a cross pair's
    money to the account currency (GBPUSD for EURGBP on a USD account), as in the backtest. A
    position the test's end closes is open.
    """
    if len(bars) == 0:
        raise InvalidInputError(["bars: no bars to compare on"], what="drift")
    settings = settings or BacktestSettings()
    name = spec.symbols[0]
    info = settings.apply_costs(symbol_info or symbol_spec(name))
    zone = server_zone if server_zone is not None else server_clock(settings, bars)[0]
    fixed = settings.spread_points
    if fixed is None and "spread" not in bars:
        fixed = float(info.spread_points)
    strategy = CompiledStrategy(
        spec, name, info, server_zone=zone, enter_from_s=int(pd.Timestamp(start).timestamp())
    )
    # run_backtest builds its own strategy; the walk is the same engine's (a ``decide_from``
    # option on run_backtest would make this one call).
    conversions = dict(conversion_bars or {})
    result = engine._Engine(strategy, bars, settings, None, None, conversions, zone, fixed).run()
    spreads = (
        None
        if fixed is not None
        else (epoch_seconds(bars.index), bars["spread"].to_numpy(dtype="float64"))
    )
    fills = []
    for deal in result.deals:
        if int(deal["type"]) not in (mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL):
            continue
        if int(deal["ticket"]) in result.end_of_test_deals:
            continue  # the test's end closed it: open at the last bar
        moment_s = int(deal["time"])
        entry = int(deal["entry"])
        fills.append(
            _Fill(
                time=datetime.fromtimestamp(moment_s, UTC),
                buy=int(deal["type"]) == mt5.DEAL_TYPE_BUY,
                entry={0: "in", 1: "out", 2: "inout", 3: "out_by"}.get(entry, ""),
                price=float(deal["price"]),
                volume_lots=float(deal["volume"]),
                money=float(deal["profit"])
                + float(deal["swap"])
                + float(deal["commission"])
                + float(deal.get("fee", 0.0)),
                position=str(int(deal["position_id"])),
                reason=_DEAL_REASONS.get(int(deal["reason"]), str(deal["reason"])),
                spread_points=fixed if fixed is not None else _spread_at(spreads, moment_s),
            )
        )
    trips = _round_trips(fills, info)
    # The backtest's own position ids mean nothing to the trader: its trades are named by time.
    return [replace(trip, position_id="") for trip in trips]


# ---- the comparison --------------------------------------------------------------------------
@dataclass(frozen=True)
class TradeDrift:
    """One row of the comparison: a live trade, the backtest's, or both, and how they differ.

    Slippage is in pips against the trader (positive: the live fill was worse); differences
    are live minus backtest.
    """

    number: int
    status: Status
    live: RoundTrip | None
    expected: RoundTrip | None
    entry_delay_bars: int | None = None
    entry_slippage_pips: float | None = None
    exit_delay_bars: int | None = None
    exit_slippage_pips: float | None = None
    spread_diff_pips: float | None = None
    volume_diff_lots: float | None = None
    pnl_diff: float | None = None
    alerts: tuple[str, ...] = ()

    @property
    def trade(self) -> RoundTrip:
        """The trade this row is about: the live one when there is one."""
        found = self.live or self.expected
        if found is None:
            raise InvalidInputError(["row: neither a live nor a backtest trade"], what="drift")
        return found

    def to_dict(self) -> dict[str, Any]:
        """The row as a table shows it (times ISO UTC, money in account currency)."""
        trade = self.trade
        live, expected = self.live, self.expected
        return {
            "trade": self.number,
            "status": self.status,
            "side": trade.side,
            "entry_time": trade.entry_time.isoformat(),
            "position_id": live.position_id if live is not None else None,
            "live_lots": live.volume_lots if live is not None else None,
            "backtest_lots": expected.volume_lots if expected is not None else None,
            "entry_delay_bars": self.entry_delay_bars,
            "entry_slippage_pips": self.entry_slippage_pips,
            "spread_diff_pips": self.spread_diff_pips,
            "live_exit": _iso(live.exit_time if live is not None else None),
            "live_exit_reason": live.exit_reason if live is not None else None,
            "backtest_exit": _iso(expected.exit_time if expected is not None else None),
            "backtest_exit_reason": expected.exit_reason if expected is not None else None,
            "exit_delay_bars": self.exit_delay_bars,
            "exit_slippage_pips": self.exit_slippage_pips,
            "live_pnl": live.net_profit if live is not None else None,
            "backtest_pnl": expected.net_profit if expected is not None else None,
            "pnl_diff": self.pnl_diff,
            "alerts": list(self.alerts),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class DriftReport:
    """Live against backtest, trade by trade, as of the last bar compared.

    ``alerts``: one line per figure beyond its threshold, naming the trade. ``new_alerts``: those
    an earlier report of the same monitor did not raise.
    """

    rows: tuple[TradeDrift, ...]
    alerts: tuple[str, ...]
    thresholds: DriftThresholds
    as_of: datetime | None
    compared_from: datetime | None = None
    bars: int = 0
    elapsed_s: float = 0.0
    new_alerts: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every figure is within its threshold."""
        return not self.alerts

    def count(self, status: Status) -> int:
        return sum(1 for row in self.rows if row.status == status)

    def table(self) -> list[dict[str, Any]]:
        """One dict per trade, for ``live status`` and the session's report."""
        return [row.to_dict() for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "ok": self.ok,
            "as_of": _iso(self.as_of),
            "compared_from": _iso(self.compared_from),
            "bars": self.bars,
            "elapsed_s": round(self.elapsed_s, 4),
            "counts": {
                status: self.count(status)
                for status in ("matched", "open", "live only", "backtest only", "awaiting")
            },
            "alerts": list(self.alerts),
            "thresholds": self.thresholds.model_dump(),
            "trades": self.table(),
        }

    def summary(self) -> str:
        """One line: how many trades agree, and the alerts' count."""
        counts = ", ".join(
            f"{self.count(status)} {status}"
            for status in ("matched", "open", "live only", "backtest only", "awaiting")
            if self.count(status)
        )
        state = "no drift" if self.ok else f"{len(self.alerts)} alert(s)"
        until = f" to {self.as_of:%Y-%m-%d %H:%M} UTC" if self.as_of is not None else ""
        return f"drift vs backtest{until}: {state}; trades: {counts or 'none yet'}"

    def text(self) -> str:
        """The summary, a fixed-width table of the trades, then the alerts."""
        header: tuple[str, ...] = ("#", "side", "entry (UTC)", "lots", "delay", "slip", "spread")
        header += ("exit", "xdelay", "xslip", "live P/L", "bt P/L", "diff", "status")
        lines = [self.summary()]
        if self.rows:
            cells = [header, *(_cells(row) for row in self.rows)]
            widths = [max(len(line[k]) for line in cells) for k in range(len(header))]
            lines += [
                "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells
            ]
        lines += [f"alert: {alert}" for alert in self.alerts]
        return "\n".join(lines)


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cells(row: TradeDrift) -> tuple[str, ...]:
    trade, live, expected = row.trade, row.live, row.expected
    exit_time = (live or expected or trade).exit_time
    return (
        str(row.number),
        trade.side,
        f"{trade.entry_time:%Y-%m-%d %H:%M}",
        f"{trade.volume_lots:g}",
        _fmt(row.entry_delay_bars, "+d"),
        _fmt(row.entry_slippage_pips, "+.1f"),
        _fmt(row.spread_diff_pips, "+.1f"),
        f"{exit_time:%m-%d %H:%M}" if exit_time is not None else "open",
        _fmt(row.exit_delay_bars, "+d"),
        _fmt(row.exit_slippage_pips, "+.1f"),
        _fmt(live.net_profit if live is not None else None, ".2f"),
        _fmt(expected.net_profit if expected is not None else None, ".2f"),
        _fmt(row.pnl_diff, "+.2f"),
        row.status,
    )


class _BarClock:
    """Positions of moments among the bars (a weekend is one bar, not 49 hours)."""

    def __init__(self, bar_times: pd.DatetimeIndex, timeframe_s: int) -> None:
        self.times = epoch_seconds(bar_times) if len(bar_times) else np.zeros(0, dtype=np.int64)
        self.timeframe_s = timeframe_s
        self.last = len(self.times) - 1

    def position(self, moment: datetime) -> int:
        seconds = moment.timestamp()
        if self.last < 0:
            return int(seconds // self.timeframe_s)
        first, last_open = float(self.times[0]), float(self.times[-1])
        if seconds < first:
            return -int((first - seconds + self.timeframe_s - 1) // self.timeframe_s)
        if seconds >= last_open + self.timeframe_s:
            return self.last + int((seconds - last_open) // self.timeframe_s)
        return int(np.searchsorted(self.times, seconds, side="right")) - 1


def _against_trader(buying: bool, live: float, expected: float, pip: float) -> float:
    """Pips by which the live price is worse for the trader than the backtest's."""
    worse = (live - expected) if buying else (expected - live)
    return round(worse / pip, 3) + 0.0


def compare(
    live: Sequence[RoundTrip],
    expected: Sequence[RoundTrip],
    thresholds: DriftThresholds | None = None,
    *,
    pip_size: float,
    bar_times: pd.DatetimeIndex,
    timeframe: str,
    start: datetime | None = None,
) -> DriftReport:
    """Pair live trades with the backtest's and measure each difference (module docstring).

    Trades are paired in entry order: a live trade takes the backtest's trade on the same side
    whose entry is the fewest bars from its own, within ``max_entry_delay_bars``. ``bar_times``
    are the open times of the bars compared (the last one is "now"); ``start`` is only reported.
    """
    limits = thresholds or DriftThresholds()
    clock = _BarClock(bar_times, timeframe_seconds(timeframe))
    window = limits.max_entry_delay_bars
    live_at = sorted((clock.position(t.entry_time), k) for k, t in enumerate(live))
    live_keys = [position for position, _ in live_at]
    taken: set[int] = set()
    pairs: list[tuple[RoundTrip | None, RoundTrip | None]] = []
    for trade in sorted(expected, key=lambda t: t.entry_time):
        position = clock.position(trade.entry_time)
        low = bisect.bisect_left(live_keys, position - window)
        high = bisect.bisect_right(live_keys, position + window)
        choices = [
            (abs(live_keys[k] - position), live_keys[k], live_at[k][1])
            for k in range(low, high)
            if live_at[k][1] not in taken and live[live_at[k][1]].side == trade.side
        ]
        if choices:
            chosen = min(choices)[2]
            taken.add(chosen)
            pairs.append((live[chosen], trade))
        else:
            pairs.append((None, trade))
    pairs += [(trade, None) for k, trade in enumerate(live) if k not in taken]
    pairs.sort(key=lambda pair: _first_entry(pair))
    rows = [
        _row(number, one, other, limits, clock, pip_size)
        for number, (one, other) in enumerate(pairs, start=1)
    ]
    unmatched = [row for row in rows if row.status in ("live only", "backtest only")]
    if len(unmatched) > limits.max_unmatched_trades:
        flagged = {row.number for row in unmatched}
        rows = [_unmatched_alert(row, limits) if row.number in flagged else row for row in rows]
    alerts = tuple(alert for row in rows for alert in row.alerts)
    as_of = bar_times[-1].to_pydatetime() if len(bar_times) else None
    return DriftReport(
        rows=tuple(rows),
        alerts=alerts,
        thresholds=limits,
        as_of=as_of,
        compared_from=start,
        bars=len(bar_times),
    )


def _first_entry(pair: tuple[RoundTrip | None, RoundTrip | None]) -> datetime:
    times = [trade.entry_time for trade in pair if trade is not None]
    return min(times)


def _unmatched_alert(row: TradeDrift, limits: DriftThresholds) -> TradeDrift:
    bars = f"{limits.max_entry_delay_bars} bar(s)"
    trade = row.trade
    if row.status == "live only":
        why = f"a live trade the backtest would not have made (no backtest {trade.side} entry within {bars})"
    else:
        why = f"the backtest's trade was not made live (no live {trade.side} entry within {bars})"
    return replace(row, alerts=(f"{trade.name()}: {why}",))


def _row(
    number: int,
    live: RoundTrip | None,
    expected: RoundTrip | None,
    limits: DriftThresholds,
    clock: _BarClock,
    pip: float,
) -> TradeDrift:
    if live is None or expected is None:
        only = live or expected
        if only is None:
            raise InvalidInputError(["row: neither a live nor a backtest trade"], what="drift")
        # Its counterpart may still come within the allowed delay: too soon to call it unmatched.
        judged = clock.position(only.entry_time) + limits.max_entry_delay_bars <= clock.last
        status: Status = (
            ("live only" if live is not None else "backtest only") if judged else "awaiting"
        )
        return TradeDrift(number=number, status=status, live=live, expected=expected)
    name = live.name()
    alerts: list[str] = []
    long = live.side == "long"
    delay = clock.position(live.entry_time) - clock.position(expected.entry_time)
    slip = (
        _against_trader(long, live.entry_price, expected.entry_price, pip) if delay == 0 else None
    )
    if slip is not None and abs(slip) > limits.max_slippage_pips + _EPS:
        alerts.append(
            f"{name}: entry slippage {_slip_words(slip)} (threshold {limits.max_slippage_pips:g} pips)"
        )
    volume = round(live.volume_lots - expected.volume_lots, 8) + 0.0
    if abs(volume) > limits.max_volume_diff_lots + _EPS:
        alerts.append(
            f"{name}: {live.volume_lots:g} lots against the backtest's {expected.volume_lots:g} "
            f"(threshold {limits.max_volume_diff_lots:g} lots)"
        )
    spread = None
    if live.spread_pips is not None and expected.spread_pips is not None:
        spread = round(live.spread_pips - expected.spread_pips, 3) + 0.0
        if abs(spread) > limits.max_spread_diff_pips + _EPS:
            alerts.append(
                f"{name}: spread paid {live.spread_pips:.1f} pips against the backtest's "
                f"{expected.spread_pips:.1f} (threshold {limits.max_spread_diff_pips:g} pips)"
            )
    exit_delay = exit_slip = pnl = None
    if live.closed and expected.closed:
        exit_delay, exit_slip, pnl = _exit_figures(name, live, expected, limits, clock, pip, alerts)
        row_status: Status = "matched"
    else:
        row_status = "open"
        _pending_exit(name, live, expected, limits, clock, alerts)
    return TradeDrift(
        number=number,
        status=row_status,
        live=live,
        expected=expected,
        entry_delay_bars=delay,
        entry_slippage_pips=slip,
        exit_delay_bars=exit_delay,
        exit_slippage_pips=exit_slip,
        spread_diff_pips=spread,
        volume_diff_lots=volume,
        pnl_diff=pnl,
        alerts=tuple(alerts),
    )


def _slip_words(pips: float) -> str:
    side = "against" if pips > 0 else "in favour of"
    return f"{abs(pips):.1f} pips {side} the trader"


def _exit_figures(
    name: str,
    live: RoundTrip,
    expected: RoundTrip,
    limits: DriftThresholds,
    clock: _BarClock,
    pip: float,
    alerts: list[str],
) -> tuple[int, float | None, float | None]:
    if live.exit_time is None or expected.exit_time is None:
        raise InvalidInputError(["row: both trades must be closed"], what="drift")
    delay = clock.position(live.exit_time) - clock.position(expected.exit_time)
    if abs(delay) > limits.max_exit_delay_bars:
        alerts.append(
            f"{name}: closed {abs(delay)} bar(s) {'after' if delay > 0 else 'before'} the "
            f"backtest (live {live.exit_time:%Y-%m-%d %H:%M} {live.exit_reason}, backtest "
            f"{expected.exit_time:%Y-%m-%d %H:%M} {expected.exit_reason}; threshold "
            f"{limits.max_exit_delay_bars} bars)"
        )
    slip = None
    if delay == 0 and live.exit_price is not None and expected.exit_price is not None:
        # A long's exit sells (worse when lower), a short's buys.
        slip = _against_trader(live.side == "short", live.exit_price, expected.exit_price, pip)
        if abs(slip) > limits.max_slippage_pips + _EPS:
            alerts.append(
                f"{name}: exit slippage {_slip_words(slip)} ({live.exit_reason}; threshold "
                f"{limits.max_slippage_pips:g} pips)"
            )
    pnl = None
    if live.net_profit is not None and expected.net_profit is not None:
        pnl = round(live.net_profit - expected.net_profit, 6) + 0.0
        words = (
            f"{name}: P/L {live.net_profit:+.2f} against the backtest's "
            f"{expected.net_profit:+.2f} (difference {pnl:+.2f}"
        )
        if limits.max_pnl_diff is not None and abs(pnl) > limits.max_pnl_diff + _EPS:
            alerts.append(f"{words}; threshold {limits.max_pnl_diff:g})")
        elif limits.max_pnl_diff_pct is not None:
            allowed = abs(expected.net_profit) * limits.max_pnl_diff_pct / 100
            if abs(pnl) > allowed + _EPS:
                alerts.append(f"{words}; threshold {limits.max_pnl_diff_pct:g} %)")
    return delay, slip, pnl


def _pending_exit(
    name: str,
    live: RoundTrip,
    expected: RoundTrip,
    limits: DriftThresholds,
    clock: _BarClock,
    alerts: list[str],
) -> None:
    """One side closed and the other still holds it, longer than the allowed exit delay."""
    closed = live if live.closed else expected if expected.closed else None
    if closed is None or closed.exit_time is None:
        return
    if clock.position(closed.exit_time) + limits.max_exit_delay_bars > clock.last:
        return  # the other may still close within the allowed delay
    holder, closer = ("the backtest", "live") if closed is live else ("live", "the backtest")
    alerts.append(
        f"{name}: {closer} closed it at {closed.exit_time:%Y-%m-%d %H:%M} UTC "
        f"({closed.exit_reason}); {holder} still holds it (threshold {limits.max_exit_delay_bars} bars)"
    )


# ---- the monitor -----------------------------------------------------------------------------
class DriftMonitor:
    """Compare a running session with its backtest after each bar (``LiveSession.drift``).

    ``settings`` are the approved run's; their ``deposit`` should be the account's balance when
    the session started, for risk-sized strategies to size alike. The first ``update`` fixes the
    start (its frame's last bar, the session's first decided bar) unless ``start`` is given.
    """

    def __init__(
        self,
        spec: StrategySpec,
        settings: BacktestSettings | None = None,
        thresholds: DriftThresholds | None = None,
        *,
        pause_on_alert: bool = False,
        symbol_info: SymbolSpec | None = None,
        start: datetime | None = None,
        server_zone: SourceZone | None = None,
    ) -> None:
        self.spec = spec
        self.server_zone = server_zone  # None: the settings' (a session sets its own)
        self.settings = settings or BacktestSettings()
        self.thresholds = thresholds or DriftThresholds()
        self.pause_on_alert = pause_on_alert
        self.symbol_info = self.settings.apply_costs(symbol_info or symbol_spec(spec.symbols[0]))
        # Raises for a spec that cannot trade its first symbol, before the session starts.
        self.warmup_bars = CompiledStrategy(spec, spec.symbols[0], self.symbol_info).warmup_bars
        self.start = start
        self.bars = pd.DataFrame(columns=_BAR_COLUMNS, index=pd.DatetimeIndex([], tz=UTC))
        self.conversions: dict[str, pd.DataFrame] = {}  # UTC bars of the conversion pairs
        self.report: DriftReport | None = None
        self._raised: set[str] = set()

    def update(
        self,
        frame: pd.DataFrame,
        journal_entries: Iterable[JournalEntry],
        conversion_frames: Mapping[str, pd.DataFrame] | None = None,
    ) -> DriftReport:
        """Add the feed's closed bars (``frame``, and the conversion pairs' of a cross pair),
        rebuild both sides and compare them."""
        started = time.perf_counter()
        self.bars = _merged(self.bars, frame)
        for pair, bars in (conversion_frames or {}).items():
            self.conversions[pair] = _merged(self.conversions.get(pair), bars)
        if self.start is None and len(frame):
            self.start = frame.index[-1].to_pydatetime()
        live: list[RoundTrip] = []
        expected: list[RoundTrip] = []
        start = None
        if self.start is not None and len(self.bars):
            # Bars before the monitor's first frame were never seen: the comparison starts there.
            start = max(self.start, self.bars.index[0].to_pydatetime())
            live = live_trades_from_journal(
                journal_entries, self.symbol_info, bars=self.bars, since=self._first_fill(start)
            )
            expected = expected_trades(
                self.spec,
                self.bars,
                self.settings,
                start=start,
                symbol_info=self.symbol_info,
                server_zone=self.server_zone,
                conversion_bars=self.conversions,
            )
        report = compare(
            live,
            expected,
            self.thresholds,
            pip_size=self.symbol_info.pip_size,
            bar_times=pd.DatetimeIndex(self.bars.index),
            timeframe=self.spec.timeframe,
            start=start,
        )
        fresh = tuple(alert for alert in report.alerts if alert not in self._raised)
        self._raised.update(fresh)
        report = replace(report, new_alerts=fresh, elapsed_s=time.perf_counter() - started)
        self.report = report
        return report

    def _first_fill(self, start: datetime) -> datetime:
        """The earliest a trade decided at ``start``'s close can fill: trades before it are not
        this session's."""
        return start + timedelta(seconds=timeframe_seconds(self.spec.timeframe))


def _merged(held: pd.DataFrame | None, frame: pd.DataFrame) -> pd.DataFrame:
    """``held`` with ``frame``'s bars: the terminal's latest version of a bar wins, backfilled
    bars join in time order."""
    if held is None:
        held = pd.DataFrame(columns=_BAR_COLUMNS, index=pd.DatetimeIndex([], tz=UTC))
    if len(frame) == 0:
        return held
    missing = [column for column in ("open", "high", "low", "close") if column not in frame]
    if missing:
        raise InvalidInputError([f"frame: missing column {c!r}" for c in missing], what="drift")
    epoch_seconds(frame.index)  # a UTC index, or the error that says so
    columns = [column for column in _BAR_COLUMNS if column in frame]
    new = frame[columns].astype("float64")
    if len(held) == 0:
        return new.copy()
    merged = pd.concat([held, new])
    return merged[~merged.index.duplicated(keep="last")].sort_index()
