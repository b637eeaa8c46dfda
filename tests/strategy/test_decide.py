"""The compiled decision (nl_trader.strategy.decide) against the Python decision it replaced.

``ReferenceDecide`` below is the pure-Python ``CompiledStrategy.decide`` as it was before the
decision was compiled, kept here, and only here, as the reference model: on random specs, books
and bars the compiled ``decide`` must return the same dicts (same keys in the same order, same
value types, floats equal bit for bit) and count the same skipped entries.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nl_trader.data.sample import sample_bars
from nl_trader.spec import StrategySpec, parse_spec
from nl_trader.strategy.compile import (
    Book,
    CompiledStrategy,
    OpenPosition,
    PendingOrder,
    Signals,
    compile_strategy,
)
from nl_trader.strategy.decide import (
    KIND_CANCEL,
    KIND_MODIFY,
    ORD_INTS,
    POS_FLOATS,
    ROW_FLOATS,
    ROW_INTS,
    SKIP_NONE,
    SKIP_SLOTS,
    decide_rows,
    decode_rows,
    pack_params,
)
from nl_trader.symbols import SymbolSpec


# ---- the reference model: the Python decision before it was compiled -----------------------------
class ReferenceDecide:
    """``CompiledStrategy.decide`` as pure Python (the code the compiled decision replaced)."""

    def __init__(self, strategy: CompiledStrategy) -> None:
        self.spec: StrategySpec = strategy.spec
        self.symbol = strategy.symbol
        self.symbol_info: SymbolSpec = strategy.symbol_info
        self.timeframe_s = strategy.timeframe_s
        self.pip = strategy.pip
        self.point = strategy.point
        self.skipped: dict[str, int] = {}

    def decide(
        self, i: int, signals: Signals, book: Book, *, backtest: bool = True
    ) -> list[dict[str, Any]]:
        """The send_order params to send at the close of bar ``i``, as the Python code did."""
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


# ---- random specs, bars and books ----------------------------------------------------------------
MARKETS = {  # symbol: (a typical bid, a plausible value of a 1.0 price move for 1 lot)
    "EURUSD": (1.1, 100_000.0),
    "USDJPY": (150.0, 666.67),
    "XAUUSD": (2300.0, 100.0),
}
STARTS = [
    pd.Timestamp("2025-06-02 00:00", tz="UTC"),  # a plain Monday
    pd.Timestamp("2025-03-27 00:00", tz="UTC"),  # across Europe's spring-forward (30 March)
    pd.Timestamp("2025-10-30 00:00", tz="UTC"),  # across America's fall-back (2 November)
]
RULES: list[dict[str, Any]] = [
    {"op": "gt", "left": "close", "right": 0},
    {"op": "gt", "left": "open", "right": 0},
    {"op": "gt", "left": "close", "right": "open"},
    {"op": "lt", "left": "close", "right": "open"},
    {"op": "gt", "left": "close", "right": "ma"},
    {"op": "lt", "left": "close", "right": "ma"},
    {"op": "crosses_above", "left": "close", "right": "ma"},
    {"op": "crosses_below", "left": "close", "right": "ma"},
]
ANCHORS: list[dict[str, Any] | None] = [
    None,
    {"series": "ma"},
    {"series": "high", "bars_ago": 1},
    {"series": "low"},
    {"series": "close", "offset_atr": 0.5, "atr": "atr3"},
]
INDICATORS = [
    {"id": "atr5", "kind": "atr", "params": {"period": 5}},
    {"id": "ma", "kind": "sma", "params": {"period": 3}},
    {"id": "atr3", "kind": "atr", "params": {"period": 3}},
]
HHMM = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30]))
PIPS = st.floats(0.5, 60.0).map(lambda x: round(x, 1))


@st.composite
def specs(draw: st.DrawFn) -> StrategySpec:
    """A valid spec that uses every decision feature in random combinations."""
    long_entry, short_entry = draw(
        st.lists(st.sampled_from([*RULES, None]), min_size=2, max_size=2, unique_by=repr)
    )
    if long_entry is None and short_entry is None:
        long_entry = RULES[0]
    order = draw(st.sampled_from(["market", "limit", "stop", "stop_limit"]))
    entry: dict[str, Any] = {"order": order}
    if order != "market":
        entry["anchor"] = draw(st.sampled_from(ANCHORS))
        if entry["anchor"] is not None:
            entry["short_anchor"] = draw(st.sampled_from(ANCHORS))
        entry["offset_pips"] = draw(st.sampled_from([0.0, 3.0]) | PIPS)
        if order == "limit" and entry["anchor"] is None and not entry["offset_pips"]:
            entry["offset_pips"] = 5.0
        if order == "stop_limit":
            entry["limit_offset_pips"] = draw(st.sampled_from([0.0, 2.0]) | PIPS)
        expiry = draw(st.sampled_from(["none", "bars", "time"]))
        if expiry == "bars":
            entry["expiry_bars"] = draw(st.integers(1, 6))
        elif expiry == "time":
            entry["expiry_time"] = draw(HHMM)
    exits: dict[str, Any] = {
        "on_opposite_signal": draw(st.booleans()),
        "timezone": draw(st.sampled_from(["UTC", "America/New_York", "Europe/London"])),
    }
    atr_id = st.sampled_from(["atr5", "atr3"])
    stop_kind = draw(st.sampled_from(["none", "pips", "percent", "atr"]))
    if stop_kind == "none":
        exits["no_stop_loss"] = True
    elif stop_kind == "pips":
        exits["stop_loss"] = {"kind": "pips", "value": draw(PIPS)}
    elif stop_kind == "percent":
        exits["stop_loss"] = {"kind": "percent", "value": draw(st.floats(0.01, 3.0))}
    else:
        exits["stop_loss"] = {
            "kind": "atr",
            "value": draw(st.floats(0.2, 4.0)),
            "atr": draw(atr_id),
        }
    target = draw(st.sampled_from(["none", "pips", "percent", "atr", "risk_reward"]))
    if target == "risk_reward" and stop_kind != "none":
        exits["take_profit"] = {"kind": "risk_reward", "value": draw(st.floats(0.5, 4.0))}
    elif target in ("pips", "percent"):
        value = draw(PIPS) if target == "pips" else draw(st.floats(0.01, 3.0))
        exits["take_profit"] = {"kind": target, "value": value}
    elif target == "atr":
        exits["take_profit"] = {
            "kind": "atr",
            "value": draw(st.floats(0.2, 4.0)),
            "atr": draw(atr_id),
        }
    trailing = draw(st.sampled_from(["none", "pips", "atr"]))
    activate = draw(st.sampled_from([0.0, 5.0]) | PIPS)
    if trailing == "pips":
        exits["trailing_stop"] = {"distance": draw(PIPS), "activate_after_pips": activate}
    elif trailing == "atr":
        exits["trailing_stop"] = {
            "kind": "atr",
            "distance": draw(st.floats(0.2, 4.0)),
            "atr": draw(atr_id),
            "activate_after_pips": activate,
        }
    if draw(st.booleans()):
        trigger = draw(PIPS)
        lock = min(round(draw(st.floats(0.0, 1.0)) * trigger, 1), trigger - 0.1)  # below it
        exits["break_even"] = {"trigger_pips": trigger, "lock_pips": lock}
    for side, rule in (("long", long_entry), ("short", short_entry)):
        if draw(st.integers(0, 3)) == 0:
            exit_rule = draw(st.sampled_from(RULES))
            if exit_rule != rule:
                exits[f"{side}_exit"] = exit_rule
    if draw(st.booleans()):
        exits["max_bars"] = draw(st.integers(1, 10))
    if draw(st.integers(0, 3)) == 0:
        exits["close_at"] = draw(HHMM)
    if draw(st.integers(0, 3)) == 0:
        exits["close_before_weekend"] = draw(HHMM)
    method = draw(st.sampled_from(["fixed_lots", "risk_percent", "risk_money"]))
    if stop_kind == "none":
        method = "fixed_lots"
    max_lots = draw(st.sampled_from([0.05, 1.0, 10.0]))
    min_lots = draw(st.sampled_from([0.01, 0.02, max_lots]))
    sizing: dict[str, Any] = {"method": method, "min_lots": min_lots, "max_lots": max_lots}
    if method == "fixed_lots":
        sizing["lots"] = draw(st.floats(min_lots, max_lots))
    elif method == "risk_percent":
        sizing["risk_pct"] = draw(st.floats(0.05, 5.0))
    else:
        sizing["risk_money"] = draw(st.floats(1.0, 2_000.0))
    max_open = draw(st.integers(1, 4))
    filters: dict[str, Any] = {}
    if draw(st.booleans()):
        filters["max_spread_pips"] = draw(st.floats(0.5, 4.0))
    return parse_spec(
        {
            "name": "random decisions",
            "symbols": [draw(st.sampled_from(sorted(MARKETS)))],
            "timeframe": draw(st.sampled_from(["M15", "H1", "H4"])),
            "indicators": INDICATORS,
            "long_entry": long_entry,
            "short_entry": short_entry,
            "entry": entry,
            "exits": exits,
            "sizing": sizing,
            "max_open_positions": max_open,
            "pyramiding": draw(st.integers(1, max_open)),
            "filters": filters,
        }
    )


@st.composite
def bars_for(draw: st.DrawFn, spec: StrategySpec, pip: float, digits: int) -> pd.DataFrame:
    """A random walk of bid bars on the spec's timeframe (moves of a few pips a bar)."""
    count = draw(st.integers(8, 60))
    moves = np.asarray(draw(st.lists(st.integers(-25, 25), min_size=count, max_size=count)))
    start = draw(st.sampled_from(STARTS)) + pd.Timedelta(hours=draw(st.integers(0, 23)))
    close = np.round(MARKETS[spec.symbols[0]][0] + np.cumsum(moves) * pip, digits)
    open_ = np.r_[close[0], close[:-1]]
    wick = np.asarray(draw(st.lists(st.integers(0, 15), min_size=count, max_size=count))) * pip
    spread = draw(st.lists(st.integers(0, 40), min_size=count, max_size=count))
    index = pd.date_range(start=start, periods=count, freq=pd.Timedelta(seconds=_seconds(spec)))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.round(np.maximum(open_, close) + wick, digits),
            "low": np.round(np.minimum(open_, close) - wick, digits),
            "close": close,
            "spread": np.asarray(spread, dtype="float64"),
        },
        index=index,
    )


def _seconds(spec: StrategySpec) -> int:
    return {"M15": 900, "H1": 3600, "H4": 14_400}[spec.timeframe]


@st.composite
def books_at(draw: st.DrawFn, strategy: CompiledStrategy, signals: Signals, i: int) -> Book:
    """Positions opened a few bars ago near the market, pending orders of either side."""
    pip, digits = strategy.pip, strategy.symbol_info.digits
    close, now_s = float(signals.close[i]), float(signals.time_s[i]) + strategy.timeframe_s
    tickets = iter(range(1, 1_000))
    positions = []
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 2, 3, 5]))):
        is_buy = draw(st.booleans())
        price_open = round(close + draw(st.integers(-60, 60)) * pip, digits)
        direction = 1 if is_buy else -1
        stop_pips = draw(st.none() | st.integers(-5, 80))
        sl = 0.0 if stop_pips is None else round(price_open - direction * stop_pips * pip, digits)
        positions.append(
            OpenPosition(
                ticket=next(tickets),
                is_buy=is_buy,
                volume=draw(st.sampled_from([0.01, 0.1, 0.25, 1.0, 2.0])),
                price_open=price_open,
                sl=sl,
                tp=draw(st.sampled_from([0.0, round(price_open + direction * 50 * pip, digits)])),
                time_s=now_s
                - draw(st.integers(0, 12)) * strategy.timeframe_s
                - draw(st.sampled_from([0, 1, 59])),
            )
        )
    orders = [
        PendingOrder(next(tickets), draw(st.booleans()))
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 3])))
    ]
    value = MARKETS[strategy.symbol][1]
    return Book(
        equity=draw(st.floats(100.0, 1_000_000.0)),
        positions=tuple(positions),
        orders=tuple(orders),
        value_per_price=draw(st.sampled_from([value, 0.0])),
        netting=draw(st.booleans()),
    )


def assert_same_orders(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal dicts, with the same keys in the same order, the same value types, floats bit for bit
    and expirations in UTC."""
    assert got == expected
    for mine, theirs in zip(got, expected, strict=True):
        assert list(mine) == list(theirs)
        for key, value in theirs.items():
            assert type(mine[key]) is type(value), key
            if isinstance(value, float):
                assert mine[key].hex() == value.hex(), key
            if isinstance(value, datetime):
                assert mine[key].tzinfo is value.tzinfo is UTC


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_compiled_decisions_send_exactly_what_the_python_decisions_sent(
    data: st.DataObject,
) -> None:
    spec = data.draw(specs(), label="spec")
    strategy = compile_strategy(spec)
    bars = data.draw(bars_for(spec, strategy.pip, strategy.symbol_info.digits), label="bars")
    signals = strategy.prepare(bars)
    reference = ReferenceDecide(strategy)
    for _ in range(3):
        i = data.draw(st.integers(0, len(bars) - 1), label="bar")
        book = data.draw(books_at(strategy, signals, i), label="book")
        backtest = data.draw(st.booleans(), label="backtest")
        expected = reference.decide(i, signals, book, backtest=backtest)
        assert_same_orders(strategy.decide(i, signals, book, backtest=backtest), expected)
    assert list(strategy.skipped.items()) == list(reference.skipped.items())


# ---- the bundled strategies on the sample --------------------------------------------------------
STRATEGIES = Path(__file__).parents[2] / "strategies"
BUNDLED = sorted(json.loads((STRATEGIES / "index.json").read_text()))


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_strategy_decides_on_every_sample_bar_as_the_python_decision(
    name: str,
) -> None:
    spec = parse_spec(json.loads((STRATEGIES / f"{name}.json").read_text()))
    strategy = compile_strategy(spec)
    bars = sample_bars(spec.symbols[0], spec.timeframe, bars=1_500)
    signals = strategy.prepare(bars)
    reference = ReferenceDecide(strategy)
    pip, digits = strategy.pip, strategy.symbol_info.digits
    value = MARKETS.get(strategy.symbol, (0.0, 100_000.0))[1]
    sent = 0
    for i in range(len(bars)):
        close, opened_s = (
            float(signals.close[i]),
            float(signals.time_s[i]) - 5 * strategy.timeframe_s,
        )
        books = [
            Book(10_000.0, value_per_price=value),
            Book(
                10_000.0,
                (
                    OpenPosition(
                        1,
                        True,
                        0.2,
                        round(close - 25 * pip, digits),
                        round(close - 60 * pip, digits),
                        0.0,
                        opened_s,
                    ),
                    OpenPosition(2, False, 0.1, round(close + 5 * pip, digits), 0.0, 0.0, opened_s),
                ),
                (PendingOrder(3, False),),
                value,
                netting=i % 2 == 1,
            ),
        ]
        for book in books:
            expected = reference.decide(i, signals, book)
            assert_same_orders(strategy.decide(i, signals, book), expected)
            sent += len(expected)
    assert sent > 0
    assert list(strategy.skipped.items()) == list(reference.skipped.items())


# ---- order rows ------------------------------------------------------------------------------------
MONDAY = pd.Timestamp("2025-06-02 00:00", tz="UTC")


def _flat_bars(count: int) -> pd.DataFrame:
    index = pd.date_range(start=MONDAY, periods=count, freq="1h")
    price = np.full(count, 1.1)
    return pd.DataFrame(
        {"open": price, "high": price, "low": price, "close": price, "spread": 10.0}, index=index
    )


def test_a_time_close_closes_every_position_and_cancels_every_order_beyond_the_position_limit() -> (
    None
):
    # One position allowed, yet the account holds seven (opened by hand with the same magic):
    # the 10:00 close still sends a deal for each of them and a cancel for each waiting order.
    spec = parse_spec(
        {
            "name": "closes",
            "symbols": ["EURUSD"],
            "timeframe": "H1",
            "long_entry": {"op": "gt", "left": "close", "right": 0},
            "exits": {"stop_loss": {"kind": "pips", "value": 20}, "close_at": "10:00"},
        }
    )
    strategy = compile_strategy(spec)
    signals = strategy.prepare(_flat_bars(12))
    assert signals.close_all.tolist().index(True) == 9  # the bar closing at 10:00
    positions = tuple(OpenPosition(10 + k, k % 2 == 0, 0.1, 1.1, 0.0, 0.0, 0.0) for k in range(7))
    orders = tuple(PendingOrder(30 + k, True) for k in range(5))
    sent = strategy.decide(9, signals, Book(10_000.0, positions, orders, 100_000.0))
    assert [(o["order_type"], o.get("position"), o.get("order")) for o in sent] == [
        *[("sell" if k % 2 == 0 else "buy", 10 + k, None) for k in range(7)],
        *[("cancel", None, 30 + k) for k in range(5)],
    ]


def test_decide_rows_refuses_to_write_past_the_order_buffers() -> None:
    spec = parse_spec(
        {
            "name": "closes",
            "symbols": ["EURUSD"],
            "timeframe": "H1",
            "long_entry": {"op": "gt", "left": "close", "right": 0},
            "exits": {"stop_loss": {"kind": "pips", "value": 20}, "close_at": "10:00"},
        }
    )
    strategy = compile_strategy(spec)
    signals = strategy.prepare(_flat_bars(12))
    pos_f = np.zeros((2, POS_FLOATS))
    pos_i = np.array([[1, 1], [2, 0]], dtype=np.int64)
    with pytest.raises(IndexError, match="no room left"):
        decide_rows(
            9,
            signals.time_s,
            signals.close,
            signals.spread_points,
            signals.long_entry,
            signals.short_entry,
            signals.long_exit,
            signals.short_exit,
            signals.allowed,
            signals.close_all,
            np.empty(0),
            np.empty(0),
            signals.atr_matrix,
            signals.expiry_s,
            *pack_params(spec, strategy.symbol_info, {}),
            pos_f,
            pos_i,
            np.zeros((0, ORD_INTS), dtype=np.int64),
            2,
            0,
            10_000.0,
            100_000.0,
            False,
            np.zeros((1, ROW_INTS), dtype=np.int64),  # room for one close of the two
            np.zeros((1, ROW_FLOATS)),
            np.full(SKIP_SLOTS, SKIP_NONE, dtype=np.int64),
        )


def test_order_rows_decode_to_the_send_order_dicts_of_closes_moves_cancels_and_entries() -> None:
    nan = math.nan
    expires = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
    out_i = np.array(
        [
            [1, 7, 0, 0],  # sell: closes buy position 7
            [KIND_MODIFY, 8, 0, 0],
            [KIND_CANCEL, 0, 9, 0],
            [6, 0, 0, int(expires.timestamp())],  # buy stop limit
            [0, 0, 0, 0],  # market buy without a target
        ],
        dtype=np.int64,
    )
    out_f = np.array(
        [
            [0.3, nan, nan, nan, nan],
            [nan, nan, nan, 1.0985, nan],
            [nan, nan, nan, nan, nan],
            [0.1, 1.1020, 1.1018, 1.0998, 1.1060],
            [0.5, nan, nan, 1.0990, nan],
        ]
    )
    base = {"backtest_toggle": False, "symbol": "EURUSD", "magic": 7, "comment": "rows"}
    assert_same_orders(
        decode_rows(base, out_i, out_f, 5),
        [
            {**base, "order_type": "sell", "volume": 0.3, "position": 7},
            {**base, "order_type": "modify", "position": 8, "sl": 1.0985},
            {**base, "order_type": "cancel", "order": 9},
            {
                **base,
                "order_type": "buy_stop_limit",
                "price": 1.102,
                "stoplimit": 1.1018,
                "sl": 1.0998,
                "tp": 1.106,
                "volume": 0.1,
                "type_time": "SPECIFIED",
                "expiration": expires,
            },
            {**base, "order_type": "buy", "sl": 1.099, "volume": 0.5},
        ],
    )


def test_skipped_entries_are_counted_per_reason_in_the_order_they_happen() -> None:
    # Long: one long already open fills the pyramid. Short: a sell stop is already waiting.
    spec = parse_spec(
        {
            "name": "skips",
            "symbols": ["EURUSD"],
            "timeframe": "H1",
            "long_entry": {"op": "gt", "left": "close", "right": 0},
            "short_entry": {"op": "gt", "left": "open", "right": 0},
            "exits": {"stop_loss": {"kind": "pips", "value": 20}, "on_opposite_signal": False},
            "max_open_positions": 3,
        }
    )
    strategy = compile_strategy(spec)
    signals = strategy.prepare(_flat_bars(3))
    book = Book(
        10_000.0,
        (OpenPosition(1, True, 0.1, 1.1, 1.098, 0.0, 0.0),),
        (PendingOrder(2, False),),
        100_000.0,
    )
    assert strategy.decide(2, signals, book) == []
    assert strategy.decide(2, signals, book) == []
    assert list(strategy.skipped.items()) == [
        ("position limit", 2),
        ("an entry order is already waiting", 2),
    ]
