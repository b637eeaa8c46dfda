"""Compiling a StrategySpec into a strategy that emits the seed's ``send_order`` dicts.

Two steps, so that backtests are fast and decisions are honest:

1. ``prepare(bars)`` computes every indicator and every rule over all bars at once (vectorised,
   causal: the value at bar i uses bars 0..i only).
2. ``decide(i, signals, book)`` runs at the close of bar i. It reads the signals at i and the
   strategy's open positions and pending orders (``Book``) and returns the params dicts to send:
   entries, closes (``position``), stop moves (``modify``), cancels. Nothing after bar i is read.
   The decision itself is compiled (``decide_rows`` in decide.py, numba); ``decide`` hands it the
   book as small arrays and turns the order rows it writes back into dicts.

Rules of decision, in order: a time close (``close_at``, ``close_before_weekend``) closes
everything and opens nothing; then each position is closed on its exit rule, the opposite entry
signal (``on_opposite_signal``) or its ``max_bars``, or else has its stop trailed / moved to
break-even; then entries are placed where the entry rule, the filters, ``max_open_positions`` and
``pyramiding`` allow. A stop or stop-limit entry whose price the market has already passed is not
chased: it is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nl_trader.data.timezones import (
    UTC_ZONE,
    SourceZone,
    offset_table,
    parse_zone,
    utc_to_wall,
    wall_to_utc,
)
from nl_trader.errors import InvalidInputError
from nl_trader.jit import compiled, python_callable
from nl_trader.spec import (
    SERVER_CLOCK,
    WEEKDAYS,
    AllOf,
    AnyOf,
    Between,
    CrossesAbove,
    CrossesBelow,
    Falling,
    Greater,
    Less,
    Not,
    Ref,
    Rising,
    StrategySpec,
)
from nl_trader.strategy.decide import (
    ORD_INTS,
    POS_FLOATS,
    POS_INTS,
    ROW_FLOATS,
    ROW_INTS,
    SKIP_NONE,
    SKIP_REASONS,
    SKIP_SLOTS,
    decide_rows,
    decode_rows,
    pack_params,
)
from nl_trader.strategy.indicators import PRICE_FIELDS, REGISTRY, compute_all, price
from nl_trader.symbols import SymbolSpec, symbol_spec
from nl_trader.timeframes import epoch_seconds, timeframe_seconds

Array = np.ndarray
_NO_SERIES = np.empty(0, dtype=np.float64)  # an absent anchor: entries anchor on the bid


@dataclass(frozen=True)
class Signals:
    """Everything ``decide`` needs, per bar. Arrays are aligned with the bars given to prepare."""

    time_s: Array  # bar open time, Unix seconds (UTC)
    close: Array
    spread_points: Array
    long_entry: Array
    short_entry: Array
    long_exit: Array
    short_exit: Array
    allowed: Array  # filters (weekday, session, spread, weekend cut-off) let entries through
    close_all: Array  # a close_at / close_before_weekend time falls in this bar
    anchor: Array | None  # entry anchor price (with its offset), when the spec names one
    short_anchor: Array | None
    atr_matrix: Array  # bars x the spec's ATR indicators (in spec order): ATR values
    expiry_s: Array  # expiration of a pending entry placed at the bar's close, Unix s; 0 = none
    atr: dict[str, Array] = field(default_factory=dict)  # ATR indicator id -> its matrix column

    def __len__(self) -> int:
        return len(self.time_s)


@dataclass(frozen=True)
class OpenPosition:
    ticket: int
    is_buy: bool
    volume: float
    price_open: float
    sl: float
    tp: float
    time_s: float


@dataclass(frozen=True)
class PendingOrder:
    ticket: int
    is_buy: bool


@dataclass(frozen=True)
class Book:
    """The strategy's own state at the broker: equity, positions and pending orders on its symbol.

    ``value_per_price`` is what a 1.0 move of price is worth for 1 lot, in account currency
    (100000 on EURUSD for a USD account); it sizes risk-based trades.
    """

    equity: float
    positions: tuple[OpenPosition, ...] = ()
    orders: tuple[PendingOrder, ...] = ()
    value_per_price: float = 0.0
    netting: bool = False  # one merged position per symbol: pyramiding counts volume


_BUY_PENDING = (2, 4, 6)  # ORDER_TYPE_BUY_LIMIT, BUY_STOP, BUY_STOP_LIMIT


def book_from_records(
    *,
    equity: float,
    positions: Iterable[Mapping[str, Any]],
    orders: Iterable[Mapping[str, Any]],
    symbol: str,
    magic: int,
    value_per_price: float,
    netting: bool = False,
) -> Book:
    """A Book from MT5-shaped records (``positions_get()``/``orders_get()`` ``_asdict()``, or the
    simulated broker's records), keeping the strategy's own (same symbol and magic)."""
    mine = [p for p in positions if p["symbol"] == symbol and p["magic"] == magic]
    waiting = [o for o in orders if o["symbol"] == symbol and o["magic"] == magic]
    return Book(
        equity=equity,
        positions=tuple(
            OpenPosition(
                ticket=int(p["ticket"]),
                is_buy=int(p["type"]) == 0,
                volume=float(p["volume"]),
                price_open=float(p["price_open"]),
                sl=float(p["sl"]),
                tp=float(p["tp"]),
                time_s=float(p["time"]),
            )
            for p in mine
        ),
        orders=tuple(
            PendingOrder(ticket=int(o["ticket"]), is_buy=int(o["type"]) in _BUY_PENDING)
            for o in waiting
        ),
        value_per_price=value_per_price,
        netting=netting,
    )


class CompiledStrategy:
    """A StrategySpec made executable for one symbol."""

    def __init__(
        self,
        spec: StrategySpec,
        symbol: str,
        symbol_info: SymbolSpec | None = None,
        *,
        server_zone: SourceZone = UTC_ZONE,
        enter_from_s: int | None = None,
    ):
        """``server_zone`` is the trade server's clock: the spec's times and weekdays are read on
        it unless they name a zone (``spec.SERVER_CLOCK``). ``enter_from_s``: no entry is decided
        on a bar opening before this UTC second (the bars before it are the indicators' history:
        a walk-forward window's out-of-sample test, a drift monitor's start)."""
        if symbol not in spec.symbols:
            raise InvalidInputError(
                [f"symbol: {symbol!r} is not one of the strategy's symbols {spec.symbols}"],
                what="compilation",
            )
        self.spec = spec
        self.symbol = symbol
        self.server_zone = server_zone
        self.enter_from_s = enter_from_s
        self.symbol_info = symbol_info or symbol_spec(symbol)
        self.timeframe_s = timeframe_seconds(spec.timeframe)
        self.pip = self.symbol_info.pip_size
        self.point = self.symbol_info.point
        self.skipped: dict[str, int] = {}
        # Decisions run compiled (decide.py): the spec packed once, buffers reused by each call.
        self._atr_ids = [ind.id for ind in spec.indicators if ind.kind == "atr"]
        columns = {atr_id: column for column, atr_id in enumerate(self._atr_ids)}
        self.params_f, self.params_i = pack_params(spec, self.symbol_info, columns)
        self._base = {"symbol": symbol, "magic": spec.magic, "comment": spec.comment}
        self._skips = np.full(SKIP_SLOTS, SKIP_NONE, dtype=np.int64)
        self._make_buffers(spec.max_open_positions + 1, spec.max_open_positions + 1)

    @property
    def warmup_bars(self) -> int:
        """Bars needed before every indicator has a value (plus one for crossings)."""
        longest = 1
        for indicator in self.spec.indicators:
            params = indicator.resolved_params()
            periods = [v for k, v in params.items() if isinstance(v, int)]
            factor = 3 if indicator.kind in ("adx", "ema", "macd", "rsi", "atr") else 1
            # MACD and the stochastic chain their windows (%D averages %K, which sums raw %K).
            chained = indicator.kind in ("macd", "stochastic")
            longest = max(longest, sum(periods) if chained else max(periods) * factor)
        return longest + 2

    # ---- step 1: signals ---------------------------------------------------------------------
    def prepare(self, bars: pd.DataFrame, spread_points: Array | None = None) -> Signals:
        """Compute indicators and rules over ``bars`` (UTC index; open, high, low, close[, spread]);
        ``spread_points`` per bar, when given, is the spread decided on instead of the bars'."""
        missing = [c for c in ("open", "high", "low", "close") if c not in bars]
        if missing:
            raise InvalidInputError([f"bars: missing column {c!r}" for c in missing], what="bars")
        time_s = epoch_seconds(bars.index)
        length = len(bars)
        spread = (
            np.asarray(spread_points, dtype="float64")
            if spread_points is not None
            else bars["spread"].to_numpy(dtype="float64")
            if "spread" in bars
            else np.full(length, float(self.symbol_info.spread_points))
        )
        series: dict[str, Array] = _PriceSeries(bars)
        indicators = self.spec.indicators
        computed = compute_all(bars, [(i.kind, i.resolved_params()) for i in indicators])
        for indicator, outputs in zip(indicators, computed, strict=True):
            names = REGISTRY[indicator.kind].outputs
            for output in names:
                series[f"{indicator.id}.{output}"] = outputs[output]
            if len(names) == 1:
                series[indicator.id] = outputs[names[0]]
        evaluator = _Evaluator(series, self.pip, length)
        spec = self.spec
        long_entry = evaluator.condition(spec.long_entry)
        short_entry = evaluator.condition(spec.short_entry)
        long_exit = evaluator.condition(spec.exits.long_exit)
        short_exit = evaluator.condition(spec.exits.short_exit)
        decision_s = time_s + self.timeframe_s
        close_all, weekend_block = self._time_closes(decision_s)
        allowed = self._filters(decision_s, spread) & ~weekend_block
        anchor = evaluator.ref(spec.entry.anchor) if spec.entry.anchor is not None else None
        short_anchor = (
            evaluator.ref(spec.entry.short_anchor)
            if spec.entry.short_anchor is not None
            else anchor
        )
        atr_matrix = np.empty((length, len(self._atr_ids)), dtype=np.float64)
        for column, atr_id in enumerate(self._atr_ids):
            atr_matrix[:, column] = series[atr_id]
        atr = {atr_id: atr_matrix[:, column] for column, atr_id in enumerate(self._atr_ids)}
        if self.enter_from_s is not None:
            # Flat until then, nothing but an entry can act: exits and time closes need a position.
            later = time_s >= self.enter_from_s
            long_entry, short_entry = long_entry & later, short_entry & later
        expiry_s = self._expiry_s(decision_s, (long_entry | short_entry) & allowed)
        return Signals(
            time_s=time_s,
            close=series["close"],
            spread_points=spread,
            long_entry=long_entry,
            short_entry=short_entry,
            long_exit=long_exit,
            short_exit=short_exit,
            allowed=allowed,
            close_all=close_all,
            anchor=anchor,
            short_anchor=short_anchor,
            atr_matrix=atr_matrix,
            expiry_s=expiry_s,
            atr=atr,
        )

    def _filters(self, decision_s: Array, spread_points: Array) -> Array:
        filters = self.spec.filters
        if not filters.sessions:
            # Weekdays on the server's clock, read from the seconds (compiled: every bar).
            trading_day = np.zeros(7, dtype=bool)
            trading_day[[WEEKDAYS.index(d) for d in filters.weekdays]] = True
            allowed = np.empty(len(decision_s), dtype=bool)
            decision = decision_s.astype("int64", copy=False)
            clock = (
                offset_table(self.server_zone, int(decision[0]) - 86_400, int(decision[-1]))
                if len(decision)
                else np.zeros((1, 2), dtype=np.int64)
            )
            _on_trading_days(decision, clock, trading_day, allowed)
            if filters.max_spread_pips is not None:
                allowed &= spread_points * self.point <= filters.max_spread_pips * self.pip + 1e-12
            return np.asarray(allowed, dtype=bool)
        moments = pd.DatetimeIndex(pd.to_datetime(decision_s, unit="s", utc=True))
        # Weekdays are read in the first session's time zone.
        zone = self._zone(filters.sessions[0].timezone)
        # The weekday is the bar's own (its last instant): a Friday D1 bar closing at Saturday
        # 00:00 is a Friday bar. Sessions are about when the order is sent: the decision time.
        local = utc_to_wall(moments - pd.Timedelta(seconds=1), zone)
        allowed = np.isin(
            local.day_of_week.to_numpy(), [WEEKDAYS.index(d) for d in filters.weekdays]
        )
        if filters.sessions:
            in_any = np.zeros(len(decision_s), dtype=bool)
            for session in filters.sessions:
                wall = utc_to_wall(moments, self._zone(session.timezone))
                minutes = wall.hour.to_numpy() * 60 + wall.minute.to_numpy()
                start, end = _minutes(session.start), _minutes(session.end)
                inside = (
                    (minutes >= start) & (minutes < end)
                    if start < end
                    else ((minutes >= start) | (minutes < end))
                )
                in_any |= inside
            allowed &= in_any
        if filters.max_spread_pips is not None:
            allowed &= spread_points * self.point <= filters.max_spread_pips * self.pip + 1e-12
        return np.asarray(allowed, dtype=bool)

    def _time_closes(self, decision_s: Array) -> tuple[Array, Array]:
        exits = self.spec.exits
        length = len(decision_s)
        close_all = np.zeros(length, dtype=bool)
        block = np.zeros(length, dtype=bool)
        if exits.close_at is None and exits.close_before_weekend is None:
            return close_all, block
        local = utc_to_wall(
            pd.DatetimeIndex(pd.to_datetime(decision_s, unit="s", utc=True)),
            self._zone(exits.timezone),
        )
        minutes = local.hour.to_numpy() * 60 + local.minute.to_numpy()
        day = (local.normalize().asi8 // 86_400_000_000_000).astype("int64")
        weekday = local.day_of_week.to_numpy()
        for target, only_friday in ((exits.close_at, False), (exits.close_before_weekend, True)):
            if target is None:
                continue
            at = _minutes(target)
            reached = minutes >= at
            previous_reached = np.roll(reached, 1)
            previous_day = np.roll(day, 1)
            previous_reached[0], previous_day[0] = False, day[0] - 1
            crossing = reached & ((day != previous_day) | ~previous_reached)
            if only_friday:
                crossing &= weekday == 4
                block |= (weekday == 4) & reached
            close_all |= crossing
        return close_all, block

    # ---- step 2: decisions -------------------------------------------------------------------
    def decide(
        self, i: int, signals: Signals, book: Book, *, backtest: bool = True
    ) -> list[dict[str, Any]]:
        """The send_order params to send at the close of bar ``i`` (see ``decide_rows``)."""
        positions, pending = book.positions, book.orders
        n_pos, n_ord = len(positions), len(pending)
        if n_pos > len(self._pos_f) or n_ord > len(self._ord_i):
            self._make_buffers(max(n_pos, len(self._pos_f)), max(n_ord, len(self._ord_i)))
        pos_f, pos_i, ord_i = self._pos_f, self._pos_i, self._ord_i
        for k, position in enumerate(positions):
            pos_f[k] = (
                position.volume,
                position.price_open,
                position.sl,
                position.tp,
                position.time_s,
            )
            pos_i[k] = (position.ticket, position.is_buy)
        for k, order in enumerate(pending):
            ord_i[k] = (order.ticket, order.is_buy)
        out_i, out_f, skips = self._out_i, self._out_f, self._skips
        count = decide_rows(
            i,
            _read_only(signals.time_s),
            _read_only(signals.close),
            _read_only(signals.spread_points),
            _read_only(signals.long_entry),
            _read_only(signals.short_entry),
            _read_only(signals.long_exit),
            _read_only(signals.short_exit),
            _read_only(signals.allowed),
            _read_only(signals.close_all),
            _read_only(_NO_SERIES if signals.anchor is None else signals.anchor),
            _read_only(_NO_SERIES if signals.short_anchor is None else signals.short_anchor),
            _read_only(signals.atr_matrix),
            _read_only(signals.expiry_s),
            self.params_f,
            self.params_i,
            pos_f,
            pos_i,
            ord_i,
            n_pos,
            n_ord,
            float(book.equity),
            float(book.value_per_price),
            bool(book.netting),
            out_i,
            out_f,
            skips,
        )
        if skips[0] != SKIP_NONE:
            for code in skips.tolist():
                if code != SKIP_NONE:
                    reason = SKIP_REASONS[code]
                    self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if count == 0:
            return []
        return decode_rows({"backtest_toggle": backtest, **self._base}, out_i, out_f, count)

    def _make_buffers(self, positions: int, orders: int) -> None:
        """Book and order-row buffers for ``positions`` positions and ``orders`` pending orders
        (at least); a close, a stop move or a cancel per item plus an entry per side."""
        self._pos_f = np.zeros((positions, POS_FLOATS), dtype=np.float64)
        self._pos_i = np.zeros((positions, POS_INTS), dtype=np.int64)
        self._ord_i = np.zeros((orders, ORD_INTS), dtype=np.int64)
        rows = positions + orders + 2
        self._out_i = np.zeros((rows, ROW_INTS), dtype=np.int64)
        self._out_f = np.zeros((rows, ROW_FLOATS), dtype=np.float64)

    def _expiry_s(self, decision_s: Array, entering: Array) -> Array:
        """Per bar, the expiration (Unix seconds, 0 = none) of a pending entry placed at its
        close; ``entering`` marks the bars where an entry can be placed."""
        entry = self.spec.entry
        expiry = np.zeros(len(decision_s), dtype=np.int64)
        if entry.order == "market":
            return expiry
        if entry.expiry_bars is not None:
            # Valid through the last tick of the n-th bar, gone before the decision at its close.
            return decision_s + (entry.expiry_bars * self.timeframe_s - 1)
        if entry.expiry_time is not None:
            # The next time the wall clock shows expiry_time, where an entry can be placed.
            zone = self._zone(self.spec.exits.timezone)
            where = np.flatnonzero(entering)
            moments = pd.DatetimeIndex(pd.to_datetime(decision_s[where], unit="s", utc=True))
            local = utc_to_wall(moments, zone)
            target = local.normalize() + pd.Timedelta(minutes=_minutes(entry.expiry_time))
            target = target.where(target > local, target + pd.Timedelta(days=1))
            expiry[where] = wall_to_utc(pd.DatetimeIndex(target), zone).utc.as_unit("s").asi8
        return expiry

    def _zone(self, name: str) -> SourceZone:
        """The clock a spec's ``timezone`` names: the server's, or an IANA zone."""
        return self.server_zone if name == SERVER_CLOCK else parse_zone(name)


def _read_only(values: Array) -> Array:
    """A contiguous read-only view: the kind of array a backtest hands ``decide_rows``, so that
    one compiled decision serves the backtest and a live or paper session."""
    view = np.ascontiguousarray(values).view()
    view.flags.writeable = False
    return view


def compile_strategy(
    spec: StrategySpec, symbol: str | None = None, symbol_info: SymbolSpec | None = None
) -> CompiledStrategy:
    """Make ``spec`` executable for ``symbol`` (default: its first symbol)."""
    return CompiledStrategy(spec, symbol or spec.symbols[0], symbol_info)


class _PriceSeries(dict[str, Array]):
    """The series rules can name, the price fields computed only when a rule names one."""

    def __init__(self, bars: pd.DataFrame) -> None:
        super().__init__()
        self.bars = bars

    def __missing__(self, name: str) -> Array:
        if name not in PRICE_FIELDS:
            raise KeyError(name)
        values = self[name] = price(self.bars, name)
        return values


@compiled
@python_callable
def _on_trading_days(decision_s: Array, clock: Array, trading_day: Array, allowed: Array) -> None:
    """Whether each bar's own day (its last second's, on the clock ``clock``: rows of (from UTC
    second, offset seconds), as ``offset_table``) is a trading day (Monday 0). Decision times
    ascend."""
    day_start = day_end = 0  # the day last looked up, in UTC seconds: [day_start, day_end)
    trading = False
    row = 0
    for i in range(decision_s.shape[0]):
        last_s = decision_s[i] - 1
        changed = False
        while row + 1 < clock.shape[0] and clock[row + 1, 0] <= last_s:
            row += 1
            changed = True
        if changed or not day_start <= last_s < day_end:
            offset = clock[row, 1]
            day = (last_s + offset) // 86_400  # 1970-01-01 was a Thursday, weekday 3
            day_start = day * 86_400 - offset
            day_end = day_start + 86_400
            trading = trading_day[(day + 3) % 7]
        allowed[i] = trading


@compiled
@python_callable
def _crossings(left: Array, right: Array, above: bool, value: Array, ready: Array) -> None:
    """Where ``left`` crosses ``right`` (above: from at or below to above; else the mirror), and
    where the bar and the one before have both values."""
    if left.shape[0] == 0:
        return
    value[0] = False
    ready[0] = False
    for i in range(1, left.shape[0]):
        now_left, now_right, before_left, before_right = (
            left[i],
            right[i],
            left[i - 1],
            right[i - 1],
        )
        if above:
            value[i] = now_left > now_right and before_left <= before_right
        else:
            value[i] = now_left < now_right and before_left >= before_right
        ready[i] = not (
            math.isnan(now_left)
            or math.isnan(now_right)
            or math.isnan(before_left)
            or math.isnan(before_right)
        )


def _minutes(hhmm: str) -> int:
    hour, minute = hhmm.split(":")
    return int(hour) * 60 + int(minute)


class _Evaluator:
    """Evaluates conditions over whole arrays; a rule is false wherever an input is not ready."""

    def __init__(self, series: dict[str, Array], pip: float, length: int) -> None:
        self.series = series
        self.pip = pip
        self.length = length

    def condition(self, node: Any) -> Array:
        if node is None:
            return np.zeros(self.length, dtype=bool)
        value, ready = self._eval(node)
        return np.asarray(value & ready, dtype=bool)

    def ref(self, ref: Ref) -> Array:
        values = self.series[ref.series]
        if ref.bars_ago:
            shifted = np.full(self.length, np.nan)
            shifted[ref.bars_ago :] = values[: -ref.bars_ago]
            values = shifted
        if ref.offset_pips:
            values = values + ref.offset_pips * self.pip
        if ref.offset_atr:
            values = values + ref.offset_atr * self.series[str(ref.atr)]
        return values

    def _operand(self, operand: Any) -> Array:
        if isinstance(operand, Ref):
            return self.ref(operand)
        return np.full(self.length, float(operand))

    @staticmethod
    def _previous(values: Array) -> Array:
        previous = np.empty_like(values)
        previous[0] = np.nan
        previous[1:] = values[:-1]
        return previous

    def _eval(self, node: Any) -> tuple[Array, Array]:
        if isinstance(node, AllOf | AnyOf):
            # Three-valued logic: a branch that is known decides even while another is not ready
            # (one known false makes "all" false; one known true makes "any" true).
            parts = [self._eval(child) for child in node.conditions]
            all_ready = np.logical_and.reduce([ready for _, ready in parts])
            if isinstance(node, AllOf):
                decided = np.logical_or.reduce([~value & ready for value, ready in parts])
                value = np.logical_and.reduce([value for value, _ in parts])
            else:
                decided = np.logical_or.reduce([value & ready for value, ready in parts])
                value = decided
            return value, all_ready | decided
        if isinstance(node, Not):
            value, ready = self._eval(node.condition)
            return ~value, ready
        if isinstance(node, CrossesAbove | CrossesBelow):
            left, right = self._operand(node.left), self._operand(node.right)
            value = np.empty(self.length, dtype=bool)
            ready = np.empty(self.length, dtype=bool)
            _crossings(left, right, isinstance(node, CrossesAbove), value, ready)
            return value, ready
        if isinstance(node, Greater | Less):
            left, right = self._operand(node.left), self._operand(node.right)
            with np.errstate(invalid="ignore"):
                value = left > right if isinstance(node, Greater) else left < right
            return value, ~(np.isnan(left) | np.isnan(right))
        if isinstance(node, Between):
            value_, low, high = (
                self._operand(node.value),
                self._operand(node.low),
                self._operand(node.high),
            )
            with np.errstate(invalid="ignore"):
                value = (value_ >= low) & (value_ <= high)
            return value, ~(np.isnan(value_) | np.isnan(low) | np.isnan(high))
        if isinstance(node, Rising | Falling):
            values = self.ref(node.series)
            value = np.ones(self.length, dtype=bool)
            ready = ~np.isnan(values)
            current = values
            for _ in range(node.bars):
                before = self._previous(current)
                with np.errstate(invalid="ignore"):
                    value &= current > before if isinstance(node, Rising) else current < before
                ready &= ~np.isnan(before)
                current = before
            return value, ready
        raise InvalidInputError(
            [f"condition: unsupported node {type(node).__name__}"], what="strategy"
        )
