"""Compiling a StrategySpec into a strategy that emits the seed's ``send_order`` dicts.

Two steps, so that backtests are fast and decisions are honest:

1. ``prepare(bars)`` computes every indicator and every rule over all bars at once (vectorised,
   causal: the value at bar i uses bars 0..i only).
2. ``decide(i, signals, book)`` runs at the close of bar i. It reads the signals at i and the
   strategy's open positions and pending orders (``Book``) and returns the params dicts to send:
   entries, closes (``position``), stop moves (``modify``), cancels. Nothing after bar i is read.

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
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from nl_trader.errors import InvalidInputError
from nl_trader.spec import (
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
from nl_trader.strategy.indicators import PRICE_FIELDS, REGISTRY, compute, price
from nl_trader.symbols import SymbolSpec, symbol_spec
from nl_trader.timeframes import epoch_seconds, timeframe_seconds

Array = np.ndarray


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
    atr: dict[str, Array] = field(default_factory=dict)

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

    def __init__(self, spec: StrategySpec, symbol: str, symbol_info: SymbolSpec | None = None):
        if symbol not in spec.symbols:
            raise InvalidInputError(
                [f"symbol: {symbol!r} is not one of the strategy's symbols {spec.symbols}"],
                what="compilation",
            )
        self.spec = spec
        self.symbol = symbol
        self.symbol_info = symbol_info or symbol_spec(symbol)
        self.timeframe_s = timeframe_seconds(spec.timeframe)
        self.pip = self.symbol_info.pip_size
        self.point = self.symbol_info.point
        self.skipped: dict[str, int] = {}

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
    def prepare(self, bars: pd.DataFrame) -> Signals:
        """Compute indicators and rules over ``bars`` (UTC index; open, high, low, close[, spread])."""
        missing = [c for c in ("open", "high", "low", "close") if c not in bars]
        if missing:
            raise InvalidInputError([f"bars: missing column {c!r}" for c in missing], what="bars")
        time_s = epoch_seconds(bars.index)
        length = len(bars)
        spread = (
            bars["spread"].to_numpy(dtype="float64")
            if "spread" in bars
            else np.full(length, float(self.symbol_info.spread_points))
        )
        series: dict[str, Array] = {name: price(bars, name) for name in PRICE_FIELDS}
        for indicator in self.spec.indicators:
            outputs = compute(indicator.kind, bars, indicator.resolved_params())
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
        atr = {
            indicator.id: series[indicator.id]
            for indicator in spec.indicators
            if indicator.kind == "atr"
        }
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
            atr=atr,
        )

    def _filters(self, decision_s: Array, spread_points: Array) -> Array:
        filters = self.spec.filters
        moments = pd.DatetimeIndex(pd.to_datetime(decision_s, unit="s", utc=True))
        # Weekdays are read in the first session's time zone (UTC without sessions).
        zone = filters.sessions[0].timezone if filters.sessions else "UTC"
        # The weekday is the bar's own (its last instant): a Friday D1 bar closing at Saturday
        # 00:00 is a Friday bar. Sessions are about when the order is sent: the decision time.
        local = (moments - pd.Timedelta(seconds=1)).tz_convert(zone)
        allowed = np.isin(
            local.day_of_week.to_numpy(), [WEEKDAYS.index(d) for d in filters.weekdays]
        )
        if filters.sessions:
            in_any = np.zeros(len(decision_s), dtype=bool)
            for session in filters.sessions:
                clock = moments.tz_convert(session.timezone)
                minutes = clock.hour.to_numpy() * 60 + clock.minute.to_numpy()
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
        local = pd.DatetimeIndex(pd.to_datetime(decision_s, unit="s", utc=True)).tz_convert(
            exits.timezone
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
        """The send_order params to send at the close of bar ``i``."""
        spec = self.spec
        orders: list[dict[str, Any]] = []
        bid = float(signals.close[i])
        ask = round(bid + float(signals.spread_points[i]) * self.point, self.symbol_info.digits)
        decision_s = float(signals.time_s[i]) + self.timeframe_s
        base = {
            "backtest_toggle": backtest,
            "symbol": self.symbol,
            "magic": spec.magic,
            "comment": spec.comment,
        }
        if signals.close_all[i]:
            for position in book.positions:
                orders.append(self._close(base, position))
            for pending in book.orders:
                orders.append({**base, "order_type": "cancel", "order": pending.ticket})
            return orders
        open_positions = []
        for position in book.positions:
            if self._should_exit(i, signals, position, decision_s):
                orders.append(self._close(base, position))
                continue
            open_positions.append(position)
            moved = self._managed_stop(i, signals, position, bid, ask)
            if moved is not None:
                orders.append(
                    {**base, "order_type": "modify", "position": position.ticket, "sl": moved}
                )
        if len(open_positions) >= spec.max_open_positions:
            # Waiting entries can no longer be honoured: cancel them (one fill cancels the other).
            orders.extend(
                {**base, "order_type": "cancel", "order": pending.ticket} for pending in book.orders
            )
        if not signals.allowed[i]:
            return orders
        opened = 0  # market entries sent at this bar are positions too
        for is_buy, signal in ((True, signals.long_entry), (False, signals.short_entry)):
            if not signal[i]:
                continue
            same_side = sum(1 for p in open_positions if p.is_buy == is_buy)
            positions = len(open_positions) + opened
            if same_side >= spec.pyramiding or positions >= spec.max_open_positions:
                self._skip("position limit")
                continue
            if any(o.is_buy == is_buy for o in book.orders):
                self._skip("an entry order is already waiting")
                continue
            entry = self._entry(i, signals, base, is_buy, bid, ask, decision_s, book)
            if entry is not None and book.netting:
                # A netting account merges entries into one position: count them by volume.
                held = sum(p.volume for p in open_positions if p.is_buy == is_buy)
                if held and held + entry["volume"] > spec.pyramiding * entry["volume"] + 1e-9:
                    self._skip("position limit")
                    continue
            if entry is not None:
                orders.append(entry)
                if entry["order_type"] in ("buy", "sell"):
                    opened += 1
        return orders

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _close(self, base: dict[str, Any], position: OpenPosition) -> dict[str, Any]:
        return {
            **base,
            "order_type": "sell" if position.is_buy else "buy",
            "volume": position.volume,
            "position": position.ticket,
        }

    def _should_exit(self, i: int, signals: Signals, position: OpenPosition, now_s: float) -> bool:
        exits = self.spec.exits
        if position.is_buy:
            rule = signals.long_exit[i] or (exits.on_opposite_signal and signals.short_entry[i])
        else:
            rule = signals.short_exit[i] or (exits.on_opposite_signal and signals.long_entry[i])
        if rule:
            return True
        if exits.max_bars is not None:
            held = math.floor((now_s - position.time_s) / self.timeframe_s + 1e-9)
            return held >= exits.max_bars
        return False

    def _managed_stop(
        self, i: int, signals: Signals, position: OpenPosition, bid: float, ask: float
    ) -> float | None:
        """A better stop from the trailing stop or break-even rule, or None."""
        exits = self.spec.exits
        digits = self.symbol_info.digits
        market = bid if position.is_buy else ask
        direction = 1.0 if position.is_buy else -1.0
        profit_pips = direction * (market - position.price_open) / self.pip
        candidates = []
        if exits.break_even is not None and profit_pips >= exits.break_even.trigger_pips:
            candidates.append(
                position.price_open + direction * exits.break_even.lock_pips * self.pip
            )
        trailing = exits.trailing_stop
        if trailing is not None and profit_pips >= trailing.activate_after_pips:
            if trailing.kind == "pips":
                distance = trailing.distance * self.pip
            else:
                distance = trailing.distance * float(signals.atr[str(trailing.atr)][i])
            if math.isfinite(distance):
                candidates.append(market - direction * distance)
        if not candidates:
            return None
        best = max(candidates) if position.is_buy else min(candidates)
        best = round(best, digits)
        # Only ever tighten, by at least a point, and keep the stop on the loss side of the market.
        current = position.sl
        improves = current == 0 or direction * (best - current) >= self.point - 1e-12
        valid = direction * (market - best) > self.point
        return best if improves and valid else None

    def _entry(
        self,
        i: int,
        signals: Signals,
        base: dict[str, Any],
        is_buy: bool,
        bid: float,
        ask: float,
        decision_s: float,
        book: Book,
    ) -> dict[str, Any] | None:
        entry = self.spec.entry
        digits = self.symbol_info.digits
        direction = 1.0 if is_buy else -1.0
        order: dict[str, Any] = {**base}
        anchors = signals.anchor if is_buy else signals.short_anchor
        anchor = float(anchors[i]) if anchors is not None else bid
        if not math.isfinite(anchor):
            self._skip("entry anchor not ready")
            return None
        offset = entry.offset_pips * self.pip
        if entry.order == "market":
            reference = ask if is_buy else bid
            order["order_type"] = "buy" if is_buy else "sell"
        elif entry.order == "limit":
            reference = round(anchor - direction * offset, digits)
            if (is_buy and reference >= ask) or (not is_buy and reference <= bid):
                self._skip("limit price not on the better side of the market")
                return None
            order.update(order_type="buy_limit" if is_buy else "sell_limit", price=reference)
        else:
            stop = round(anchor + direction * offset, digits)
            if (is_buy and stop <= ask) or (not is_buy and stop >= bid):
                self._skip("breakout already passed: stop price behind the market")
                return None
            if entry.order == "stop":
                reference = stop
                order.update(order_type="buy_stop" if is_buy else "sell_stop", price=stop)
            else:
                reference = round(stop - direction * entry.limit_offset_pips * self.pip, digits)
                order.update(
                    order_type="buy_stop_limit" if is_buy else "sell_stop_limit",
                    price=stop,
                    stoplimit=reference,
                )
        sl = self._stop_loss(i, signals, reference, direction)
        if sl is None and self.spec.exits.stop_loss is not None:
            # An ATR stop before the ATR is known: never send the trade without its stop.
            self._skip("stop loss not ready")
            return None
        tp = self._take_profit(i, signals, reference, direction, sl)
        if sl is not None:
            order["sl"] = sl
        if tp is not None:
            order["tp"] = tp
        volume = self._volume(reference, sl, book)
        if volume is None:
            return None
        order["volume"] = volume
        expiry = self._expiry(decision_s) if entry.order != "market" else None
        if expiry is not None:
            order.update(type_time="SPECIFIED", expiration=expiry)
        return order

    def _stop_loss(self, i: int, signals: Signals, entry: float, direction: float) -> float | None:
        stop = self.spec.exits.stop_loss
        if stop is None:
            return None
        if stop.kind == "pips":
            distance = stop.value * self.pip
        elif stop.kind == "percent":
            distance = entry * stop.value / 100.0
        else:
            distance = stop.value * float(signals.atr[str(stop.atr)][i])
        if not math.isfinite(distance) or distance <= 0:
            return None
        return round(entry - direction * distance, self.symbol_info.digits)

    def _take_profit(
        self, i: int, signals: Signals, entry: float, direction: float, sl: float | None
    ) -> float | None:
        target = self.spec.exits.take_profit
        if target is None:
            return None
        if target.kind == "pips":
            distance = target.value * self.pip
        elif target.kind == "percent":
            distance = entry * target.value / 100.0
        elif target.kind == "atr":
            distance = target.value * float(signals.atr[str(target.atr)][i])
        else:
            if sl is None:
                return None
            distance = target.value * abs(entry - sl)
        if not math.isfinite(distance) or distance <= 0:
            return None
        return round(entry + direction * distance, self.symbol_info.digits)

    def _volume(self, entry: float, sl: float | None, book: Book) -> float | None:
        sizing = self.spec.sizing
        info = self.symbol_info
        if sizing.method == "fixed_lots":
            lots = float(sizing.lots or 0.0)
        else:
            if sl is None or not book.value_per_price:
                self._skip("no stop distance or price value to size the trade")
                return None
            money = (
                book.equity * float(sizing.risk_pct or 0.0) / 100.0
                if sizing.method == "risk_percent"
                else float(sizing.risk_money or 0.0)
            )
            lots = money / (abs(entry - sl) * book.value_per_price)
        lots = min(lots, sizing.max_lots, info.volume_max)
        steps = math.floor((lots - info.volume_min) / info.volume_step + 1e-9)
        volume = round(info.volume_min + steps * info.volume_step, 8)
        if steps < 0 or volume < sizing.min_lots - 1e-9:
            self._skip("volume below the minimum")
            return None
        return volume

    def _expiry(self, decision_s: float) -> datetime | None:
        entry = self.spec.entry
        now = datetime.fromtimestamp(decision_s, tz=UTC)
        if entry.expiry_bars is not None:
            # Valid through the last tick of the n-th bar, gone before the decision at its close.
            return now + timedelta(seconds=entry.expiry_bars * self.timeframe_s - 1)
        if entry.expiry_time is not None:
            zone = ZoneInfo(self.spec.exits.timezone)
            local = now.astimezone(zone)
            hour, minute = (int(part) for part in entry.expiry_time.split(":"))
            target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if target <= local:
                target += timedelta(days=1)
            return target.astimezone(UTC)
        return None


def compile_strategy(
    spec: StrategySpec, symbol: str | None = None, symbol_info: SymbolSpec | None = None
) -> CompiledStrategy:
    """Make ``spec`` executable for ``symbol`` (default: its first symbol)."""
    return CompiledStrategy(spec, symbol or spec.symbols[0], symbol_info)


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
            before_left, before_right = self._previous(left), self._previous(right)
            with np.errstate(invalid="ignore"):
                if isinstance(node, CrossesAbove):
                    value = (left > right) & (before_left <= before_right)
                else:
                    value = (left < right) & (before_left >= before_right)
            ready = ~(
                np.isnan(left) | np.isnan(right) | np.isnan(before_left) | np.isnan(before_right)
            )
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
