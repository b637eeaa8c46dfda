"""The strategy's decision at a bar's close, compiled (numba, ``nopython``): the product's one
decision logic.

``decide_rows`` reads the signals at bar ``i`` and the strategy's book (its open positions and
pending orders, as small arrays) and writes "order rows", the numeric form of the ``send_order``
dicts to send. ``CompiledStrategy.decide`` (compile.py) wraps it for Python callers and turns the
rows back into dicts with ``decode_rows``; a compiled backtest loop calls ``decide_rows`` itself.
The rules of decision are documented in compile.py's module docstring.

Layouts (column indices below):

* order rows: ``out_i`` int64[N, ROW_INTS] (kind, position, order, expiration_s) and ``out_f``
  float64[N, ROW_FLOATS] (volume, price, stoplimit, sl, tp). A kind is an MT5 ``ORDER_TYPE_*``
  for a deal or a placed order (a deal with a position ticket closes that position), or
  ``KIND_MODIFY`` (a position's stop moved) or ``KIND_CANCEL`` (a pending order removed).
  Tickets are 0 when absent, a float NaN when its key is absent, ``expiration_s`` (Unix seconds)
  0 when the order has none. Rows come in the order the dicts are sent.
* book: ``pos_f`` float64[n, POS_FLOATS], ``pos_i`` int64[n, POS_INTS] and ``ord_i``
  int64[m, ORD_INTS], in the book's order; only the first ``n_pos`` / ``n_ord`` rows are read.
* parameters: the spec and its symbol packed once by ``pack_params`` into ``params_f`` and
  ``params_i``.
* skips: an entry not sent for a reason the user should see writes the reason's index in
  ``SKIP_REASONS`` into ``skips`` (at most one per side, so two slots), -1 elsewhere.

Every float is computed as the Python reference computes it, in the same order, and rounded by
``round_to`` (Python's ``round``), so that the compiled decisions equal the dicts bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline, python_callable
from nl_trader.numeric import round_to
from nl_trader.spec import StrategySpec
from nl_trader.symbols import SymbolSpec
from nl_trader.timeframes import timeframe_seconds

Array = np.ndarray

# ---- order rows: out_i ----
KIND = 0
POSITION = 1
ORDER = 2
EXPIRATION_S = 3
ROW_INTS = 4
# ---- order rows: out_f ----
VOLUME = 0
PRICE = 1
STOPLIMIT = 2
SL = 3
TP = 4
ROW_FLOATS = 5
# ---- kinds: MT5's order types, and two actions that are not orders ----
KIND_BUY = mt5.ORDER_TYPE_BUY
KIND_SELL = mt5.ORDER_TYPE_SELL
KIND_BUY_LIMIT = mt5.ORDER_TYPE_BUY_LIMIT
KIND_SELL_LIMIT = mt5.ORDER_TYPE_SELL_LIMIT
KIND_BUY_STOP = mt5.ORDER_TYPE_BUY_STOP
KIND_SELL_STOP = mt5.ORDER_TYPE_SELL_STOP
KIND_BUY_STOP_LIMIT = mt5.ORDER_TYPE_BUY_STOP_LIMIT
KIND_SELL_STOP_LIMIT = mt5.ORDER_TYPE_SELL_STOP_LIMIT
KIND_MODIFY = -1
KIND_CANCEL = -2
KIND_NAMES: Mapping[int, str] = {
    KIND_BUY: "buy",
    KIND_SELL: "sell",
    KIND_BUY_LIMIT: "buy_limit",
    KIND_SELL_LIMIT: "sell_limit",
    KIND_BUY_STOP: "buy_stop",
    KIND_SELL_STOP: "sell_stop",
    KIND_BUY_STOP_LIMIT: "buy_stop_limit",
    KIND_SELL_STOP_LIMIT: "sell_stop_limit",
    KIND_MODIFY: "modify",
    KIND_CANCEL: "cancel",
}
# ---- book: pos_f ----
POS_VOLUME = 0
POS_PRICE_OPEN = 1
POS_SL = 2  # 0 = no stop
POS_TP = 3
POS_TIME_S = 4
POS_FLOATS = 5
# ---- book: pos_i and ord_i ----
POS_TICKET = 0
POS_IS_BUY = 1
POS_INTS = 2
ORD_TICKET = 0
ORD_IS_BUY = 1
ORD_INTS = 2
# ---- skipped entries ----
SKIP_REASONS = (
    "position limit",
    "an entry order is already waiting",
    "entry anchor not ready",
    "limit price not on the better side of the market",
    "breakout already passed: stop price behind the market",
    "stop loss not ready",
    "no stop distance or price value to size the trade",
    "volume below the minimum",
)
SKIP_POSITION_LIMIT = 0
SKIP_ORDER_WAITING = 1
SKIP_ANCHOR_NOT_READY = 2
SKIP_LIMIT_BEHIND = 3
SKIP_STOP_PASSED = 4
SKIP_STOP_LOSS_NOT_READY = 5
SKIP_NO_RISK_DISTANCE = 6
SKIP_VOLUME_TOO_SMALL = 7
SKIP_NONE = -1
SKIP_SLOTS = 2
# ---- parameters: params_i ----
I_DIGITS = 0
I_MAX_OPEN_POSITIONS = 1
I_PYRAMIDING = 2
I_ON_OPPOSITE_SIGNAL = 3  # 0/1
I_MAX_BARS = 4  # -1 = none
I_ENTRY_ORDER = 5  # ENTRY_*
I_SL_KIND = 6  # DISTANCE_*, -1 = no stop loss
I_SL_ATR = 7  # column of the ATR matrix, -1 = none
I_TP_KIND = 8  # DISTANCE_*, -1 = no take profit
I_TP_ATR = 9
I_BREAK_EVEN = 10  # 0/1
I_TRAIL_KIND = 11  # DISTANCE_PIPS or DISTANCE_ATR, -1 = no trailing stop
I_TRAIL_ATR = 12
I_SIZING = 13  # SIZING_*
PARAMS_I = 14
# ---- parameters: params_f ----
F_TIMEFRAME_S = 0
F_PIP = 1
F_POINT = 2
F_SL_VALUE = 3
F_TP_VALUE = 4
F_BE_TRIGGER_PIPS = 5
F_BE_LOCK_PIPS = 6
F_TRAIL_DISTANCE = 7
F_TRAIL_ACTIVATE_PIPS = 8
F_OFFSET_PIPS = 9
F_LIMIT_OFFSET_PIPS = 10
F_LOTS = 11
F_RISK_PCT = 12
F_RISK_MONEY = 13
F_MIN_LOTS = 14
F_MAX_LOTS = 15
F_VOLUME_MIN = 16
F_VOLUME_STEP = 17
F_VOLUME_MAX = 18
PARAMS_F = 19
# ---- parameter values ----
ENTRY_MARKET = 0
ENTRY_LIMIT = 1
ENTRY_STOP = 2
ENTRY_STOP_LIMIT = 3
ENTRY_ORDERS = {
    "market": ENTRY_MARKET,
    "limit": ENTRY_LIMIT,
    "stop": ENTRY_STOP,
    "stop_limit": ENTRY_STOP_LIMIT,
}
DISTANCE_PIPS = 0
DISTANCE_PERCENT = 1
DISTANCE_ATR = 2
DISTANCE_RISK_REWARD = 3
DISTANCES = {
    "pips": DISTANCE_PIPS,
    "percent": DISTANCE_PERCENT,
    "atr": DISTANCE_ATR,
    "risk_reward": DISTANCE_RISK_REWARD,
}
SIZING_FIXED_LOTS = 0
SIZING_RISK_PERCENT = 1
SIZING_RISK_MONEY = 2
SIZINGS = {
    "fixed_lots": SIZING_FIXED_LOTS,
    "risk_percent": SIZING_RISK_PERCENT,
    "risk_money": SIZING_RISK_MONEY,
}


def pack_params(
    spec: StrategySpec, info: SymbolSpec, atr_columns: Mapping[str, int]
) -> tuple[Array, Array]:
    """The spec and its symbol as ``(params_f, params_i)``; ``atr_columns`` maps an ATR
    indicator's id to its column in the signals' ATR matrix."""
    params_f = np.zeros(PARAMS_F, dtype=np.float64)
    params_i = np.full(PARAMS_I, -1, dtype=np.int64)
    exits, entry, sizing = spec.exits, spec.entry, spec.sizing

    def column(atr: str | None) -> int:
        return atr_columns[str(atr)] if atr is not None else -1

    params_i[I_DIGITS] = info.digits
    params_i[I_MAX_OPEN_POSITIONS] = spec.max_open_positions
    params_i[I_PYRAMIDING] = spec.pyramiding
    params_i[I_ON_OPPOSITE_SIGNAL] = int(exits.on_opposite_signal)
    if exits.max_bars is not None:
        params_i[I_MAX_BARS] = exits.max_bars
    params_i[I_ENTRY_ORDER] = ENTRY_ORDERS[entry.order]
    if exits.stop_loss is not None:
        params_i[I_SL_KIND] = DISTANCES[exits.stop_loss.kind]
        params_f[F_SL_VALUE] = exits.stop_loss.value
        if exits.stop_loss.kind == "atr":
            params_i[I_SL_ATR] = column(exits.stop_loss.atr)
    if exits.take_profit is not None:
        params_i[I_TP_KIND] = DISTANCES[exits.take_profit.kind]
        params_f[F_TP_VALUE] = exits.take_profit.value
        if exits.take_profit.kind == "atr":
            params_i[I_TP_ATR] = column(exits.take_profit.atr)
    params_i[I_BREAK_EVEN] = int(exits.break_even is not None)
    if exits.break_even is not None:
        params_f[F_BE_TRIGGER_PIPS] = exits.break_even.trigger_pips
        params_f[F_BE_LOCK_PIPS] = exits.break_even.lock_pips
    trailing = exits.trailing_stop
    if trailing is not None:
        params_i[I_TRAIL_KIND] = DISTANCES[trailing.kind]
        params_f[F_TRAIL_DISTANCE] = trailing.distance
        params_f[F_TRAIL_ACTIVATE_PIPS] = trailing.activate_after_pips
        if trailing.kind == "atr":
            params_i[I_TRAIL_ATR] = column(trailing.atr)
    params_i[I_SIZING] = SIZINGS[sizing.method]
    params_f[F_TIMEFRAME_S] = timeframe_seconds(spec.timeframe)
    params_f[F_PIP] = info.pip_size
    params_f[F_POINT] = info.point
    params_f[F_OFFSET_PIPS] = entry.offset_pips
    params_f[F_LIMIT_OFFSET_PIPS] = entry.limit_offset_pips
    params_f[F_LOTS] = float(sizing.lots or 0.0)
    params_f[F_RISK_PCT] = float(sizing.risk_pct or 0.0)
    params_f[F_RISK_MONEY] = float(sizing.risk_money or 0.0)
    params_f[F_MIN_LOTS] = sizing.min_lots
    params_f[F_MAX_LOTS] = sizing.max_lots
    params_f[F_VOLUME_MIN] = info.volume_min
    params_f[F_VOLUME_STEP] = info.volume_step
    params_f[F_VOLUME_MAX] = info.volume_max
    return params_f, params_i


def decode_rows(
    base: Mapping[str, Any], out_i: Array, out_f: Array, count: int
) -> list[dict[str, Any]]:
    """The ``send_order`` dicts of the first ``count`` order rows, each starting with ``base``."""
    orders: list[dict[str, Any]] = []
    for row in range(count):
        kind, position, order, expiration_s = out_i[row].tolist()
        volume, price, stoplimit, sl, tp = out_f[row].tolist()
        if kind == KIND_CANCEL:
            orders.append({**base, "order_type": "cancel", "order": order})
        elif kind == KIND_MODIFY:
            orders.append({**base, "order_type": "modify", "position": position, "sl": sl})
        elif position:
            orders.append(
                {**base, "order_type": KIND_NAMES[kind], "volume": volume, "position": position}
            )
        else:
            params = {**base, "order_type": KIND_NAMES[kind]}
            if not math.isnan(price):
                params["price"] = price
            if not math.isnan(stoplimit):
                params["stoplimit"] = stoplimit
            if not math.isnan(sl):
                params["sl"] = sl
            if not math.isnan(tp):
                params["tp"] = tp
            params["volume"] = volume
            if expiration_s:
                params["type_time"] = "SPECIFIED"
                params["expiration"] = datetime.fromtimestamp(expiration_s, tz=UTC)
            orders.append(params)
    return orders


# ---- the compiled decision ---------------------------------------------------------------------
@compiled
def _put(
    out_i: Array,
    out_f: Array,
    row: int,
    kind: int,
    position: int,
    order: int,
    expiration_s: int,
    volume: float,
    price: float,
    stoplimit: float,
    sl: float,
    tp: float,
) -> int:
    """Write one order row at ``row``; the next row."""
    if row >= out_i.shape[0] or row >= out_f.shape[0]:
        raise IndexError("order rows: no room left in the buffers")
    out_i[row, KIND] = kind
    out_i[row, POSITION] = position
    out_i[row, ORDER] = order
    out_i[row, EXPIRATION_S] = expiration_s
    out_f[row, VOLUME] = volume
    out_f[row, PRICE] = price
    out_f[row, STOPLIMIT] = stoplimit
    out_f[row, SL] = sl
    out_f[row, TP] = tp
    return row + 1


@compiled
def _close_position(
    out_i: Array, out_f: Array, row: int, pos_f: Array, pos_i: Array, k: int
) -> int:
    """A deal against position k: sell a buy, buy a sell."""
    kind = KIND_SELL if pos_i[k, POS_IS_BUY] != 0 else KIND_BUY
    nan = math.nan
    return _put(
        out_i,
        out_f,
        row,
        kind,
        pos_i[k, POS_TICKET],
        0,
        0,
        pos_f[k, POS_VOLUME],
        nan,
        nan,
        nan,
        nan,
    )


@compiled
def _cancel(out_i: Array, out_f: Array, row: int, ticket: int) -> int:
    nan = math.nan
    return _put(out_i, out_f, row, KIND_CANCEL, 0, ticket, 0, nan, nan, nan, nan, nan)


@compiled
def should_exit(
    i: int,
    is_buy: bool,
    time_s: float,
    now_s: float,
    long_entry: Array,
    short_entry: Array,
    long_exit: Array,
    short_exit: Array,
    params_f: Array,
    params_i: Array,
) -> bool:
    """Whether a position opened at ``time_s`` is closed at ``now_s`` (bar i's close): its exit
    rule, the opposite entry signal, or its ``max_bars``."""
    opposite = params_i[I_ON_OPPOSITE_SIGNAL] != 0
    if is_buy:
        rule = long_exit[i] or (opposite and short_entry[i])
    else:
        rule = short_exit[i] or (opposite and long_entry[i])
    if rule:
        return True
    max_bars = params_i[I_MAX_BARS]
    if max_bars >= 0:
        held = np.floor((now_s - time_s) / params_f[F_TIMEFRAME_S] + 1e-9)
        return held >= max_bars
    return False


@compiled
def managed_stop(
    i: int,
    is_buy: bool,
    price_open: float,
    current_sl: float,
    bid: float,
    ask: float,
    atr: Array,
    params_f: Array,
    params_i: Array,
) -> float:
    """A better stop from the trailing stop or break-even rule, or NaN."""
    pip, point = params_f[F_PIP], params_f[F_POINT]
    market = bid if is_buy else ask
    direction = 1.0 if is_buy else -1.0
    profit_pips = direction * (market - price_open) / pip
    best = math.nan
    found = False
    if params_i[I_BREAK_EVEN] != 0 and profit_pips >= params_f[F_BE_TRIGGER_PIPS]:
        best = price_open + direction * params_f[F_BE_LOCK_PIPS] * pip
        found = True
    trail_kind = params_i[I_TRAIL_KIND]
    if trail_kind >= 0 and profit_pips >= params_f[F_TRAIL_ACTIVATE_PIPS]:
        if trail_kind == DISTANCE_PIPS:
            distance = params_f[F_TRAIL_DISTANCE] * pip
        else:
            distance = params_f[F_TRAIL_DISTANCE] * atr[i, params_i[I_TRAIL_ATR]]
        if math.isfinite(distance):
            trailed = market - direction * distance
            # Python's max()/min() over [break-even, trailed]: the later one only when strictly
            # better.
            if not found or (trailed > best if is_buy else trailed < best):
                best = trailed
            found = True
    if not found:
        return math.nan
    best = round_to(best, params_i[I_DIGITS])
    # Only ever tighten, by at least a point, and keep the stop on the loss side of the market.
    improves = current_sl == 0 or direction * (best - current_sl) >= point - 1e-12
    valid = direction * (market - best) > point
    return best if improves and valid else math.nan


@compiled
def stop_loss(
    i: int, entry: float, direction: float, atr: Array, params_f: Array, params_i: Array
) -> float:
    """The stop of an entry at ``entry``, or NaN (no stop, or its distance is not known)."""
    kind = params_i[I_SL_KIND]
    if kind < 0:
        return math.nan
    value = params_f[F_SL_VALUE]
    if kind == DISTANCE_PIPS:
        distance = value * params_f[F_PIP]
    elif kind == DISTANCE_PERCENT:
        distance = entry * value / 100.0
    else:
        distance = value * atr[i, params_i[I_SL_ATR]]
    if not math.isfinite(distance) or distance <= 0:
        return math.nan
    return round_to(entry - direction * distance, params_i[I_DIGITS])


@compiled
def take_profit(
    i: int, entry: float, direction: float, sl: float, atr: Array, params_f: Array, params_i: Array
) -> float:
    """The target of an entry at ``entry`` with stop ``sl`` (NaN: none), or NaN."""
    kind = params_i[I_TP_KIND]
    if kind < 0:
        return math.nan
    value = params_f[F_TP_VALUE]
    if kind == DISTANCE_PIPS:
        distance = value * params_f[F_PIP]
    elif kind == DISTANCE_PERCENT:
        distance = entry * value / 100.0
    elif kind == DISTANCE_ATR:
        distance = value * atr[i, params_i[I_TP_ATR]]
    else:
        if math.isnan(sl):
            return math.nan
        distance = value * abs(entry - sl)
    if not math.isfinite(distance) or distance <= 0:
        return math.nan
    return round_to(entry + direction * distance, params_i[I_DIGITS])


@compiled
def volume_lots(
    entry: float, sl: float, equity: float, value_per_price: float, params_f: Array, params_i: Array
) -> tuple[int, float]:
    """``(SKIP_NONE, lots)`` of an entry at ``entry`` with stop ``sl`` (NaN: none), or
    ``(skip reason, NaN)``."""
    sizing = params_i[I_SIZING]
    if sizing == SIZING_FIXED_LOTS:
        lots = params_f[F_LOTS]
    else:
        if math.isnan(sl) or value_per_price == 0:
            return SKIP_NO_RISK_DISTANCE, math.nan
        if sizing == SIZING_RISK_PERCENT:
            money = equity * params_f[F_RISK_PCT] / 100.0
        else:
            money = params_f[F_RISK_MONEY]
        lots = money / (abs(entry - sl) * value_per_price)
    # Python's min(lots, max_lots, volume_max): a later one only when strictly smaller.
    max_lots, volume_max = params_f[F_MAX_LOTS], params_f[F_VOLUME_MAX]
    if max_lots < lots:
        lots = max_lots
    if volume_max < lots:
        lots = volume_max
    volume_min, volume_step = params_f[F_VOLUME_MIN], params_f[F_VOLUME_STEP]
    steps = (lots - volume_min) / volume_step + 1e-9
    if math.isnan(steps):
        raise ValueError("cannot convert float NaN to integer")  # as Python's math.floor
    steps = np.floor(steps)
    volume = round_to(volume_min + steps * volume_step, 8)
    if steps < 0 or volume < params_f[F_MIN_LOTS] - 1e-9:
        return SKIP_VOLUME_TOO_SMALL, math.nan
    return SKIP_NONE, volume


@compiled
def entry_order(
    i: int,
    is_buy: bool,
    bid: float,
    ask: float,
    anchors: Array,
    atr: Array,
    expiry_s: Array,
    equity: float,
    value_per_price: float,
    params_f: Array,
    params_i: Array,
) -> tuple[int, int, float, float, float, float, float, int]:
    """The entry to place at bar i on one side: ``(SKIP_NONE, kind, price, stoplimit, sl, tp,
    volume, expiration_s)`` (NaN: no such key), or ``(skip reason, ...)``.

    ``anchors`` is that side's anchor series; an empty one anchors the entry on the bid.
    """
    nan = math.nan
    digits = params_i[I_DIGITS]
    pip = params_f[F_PIP]
    order = params_i[I_ENTRY_ORDER]
    direction = 1.0 if is_buy else -1.0
    anchor = anchors[i] if anchors.shape[0] > 0 else bid
    if not math.isfinite(anchor):
        return SKIP_ANCHOR_NOT_READY, 0, nan, nan, nan, nan, nan, 0
    offset = params_f[F_OFFSET_PIPS] * pip
    price = nan
    stoplimit = nan
    if order == ENTRY_MARKET:
        reference = ask if is_buy else bid
        kind = KIND_BUY if is_buy else KIND_SELL
    elif order == ENTRY_LIMIT:
        reference = round_to(anchor - direction * offset, digits)
        if (is_buy and reference >= ask) or (not is_buy and reference <= bid):
            return SKIP_LIMIT_BEHIND, 0, nan, nan, nan, nan, nan, 0
        kind = KIND_BUY_LIMIT if is_buy else KIND_SELL_LIMIT
        price = reference
    else:
        stop = round_to(anchor + direction * offset, digits)
        if (is_buy and stop <= ask) or (not is_buy and stop >= bid):
            return SKIP_STOP_PASSED, 0, nan, nan, nan, nan, nan, 0
        price = stop
        if order == ENTRY_STOP:
            reference = stop
            kind = KIND_BUY_STOP if is_buy else KIND_SELL_STOP
        else:
            reference = round_to(stop - direction * params_f[F_LIMIT_OFFSET_PIPS] * pip, digits)
            kind = KIND_BUY_STOP_LIMIT if is_buy else KIND_SELL_STOP_LIMIT
            stoplimit = reference
    sl = stop_loss(i, reference, direction, atr, params_f, params_i)
    if math.isnan(sl) and params_i[I_SL_KIND] >= 0:
        # An ATR stop before the ATR is known: never send the trade without its stop.
        return SKIP_STOP_LOSS_NOT_READY, 0, nan, nan, nan, nan, nan, 0
    tp = take_profit(i, reference, direction, sl, atr, params_f, params_i)
    skip, volume = volume_lots(reference, sl, equity, value_per_price, params_f, params_i)
    if skip != SKIP_NONE:
        return skip, 0, nan, nan, nan, nan, nan, 0
    expiration_s = expiry_s[i] if order != ENTRY_MARKET else 0
    return SKIP_NONE, kind, price, stoplimit, sl, tp, volume, expiration_s


@compiled_inline
@python_callable
def decide_rows(
    i: int,
    time_s: Array,
    close: Array,
    spread_points: Array,
    long_entry: Array,
    short_entry: Array,
    long_exit: Array,
    short_exit: Array,
    allowed: Array,
    close_all: Array,
    anchor: Array,
    short_anchor: Array,
    atr: Array,
    expiry_s: Array,
    params_f: Array,
    params_i: Array,
    pos_f: Array,
    pos_i: Array,
    ord_i: Array,
    n_pos: int,
    n_ord: int,
    equity: float,
    value_per_price: float,
    netting: bool,
    out_i: Array,
    out_f: Array,
    skips: Array,
) -> int:
    """Write the orders to send at the close of bar ``i`` into ``out_i``/``out_f``; the number
    of rows written.

    Signals are the arrays of ``Signals`` (``atr`` its bars x ATR-indicators matrix, ``anchor``
    and ``short_anchor`` empty when the spec names no anchor). The book is ``n_pos`` positions
    and ``n_ord`` pending orders; ``value_per_price`` is what a 1.0 move of price is worth for 1
    lot (100000 on EURUSD for a USD account); ``netting``: one merged position per symbol.
    Buffers need ``n_pos + n_ord + 2`` rows; skipped entries' reasons go to ``skips``.
    """
    length = close.shape[0]
    if i < 0:
        i += length
    if i < 0 or i >= length:
        raise IndexError("decide_rows: bar index out of range")
    for slot in range(skips.shape[0]):
        skips[slot] = SKIP_NONE
    skipped = 0
    point = params_f[F_POINT]
    bid = close[i]
    ask = round_to(bid + spread_points[i] * point, params_i[I_DIGITS])
    decision_s = float(time_s[i]) + params_f[F_TIMEFRAME_S]
    row = 0
    if close_all[i]:
        for k in range(n_pos):
            row = _close_position(out_i, out_f, row, pos_f, pos_i, k)
        for k in range(n_ord):
            row = _cancel(out_i, out_f, row, ord_i[k, ORD_TICKET])
        return row
    open_count = 0
    open_long = 0
    open_short = 0
    held_long = 0.0  # volume held on each side, summed in the book's order
    held_short = 0.0
    nan = math.nan
    for k in range(n_pos):
        is_buy = pos_i[k, POS_IS_BUY] != 0
        exits = should_exit(
            i,
            is_buy,
            pos_f[k, POS_TIME_S],
            decision_s,
            long_entry,
            short_entry,
            long_exit,
            short_exit,
            params_f,
            params_i,
        )
        if exits:
            row = _close_position(out_i, out_f, row, pos_f, pos_i, k)
            continue
        open_count += 1
        if is_buy:
            open_long += 1
            held_long += pos_f[k, POS_VOLUME]
        else:
            open_short += 1
            held_short += pos_f[k, POS_VOLUME]
        moved = managed_stop(
            i, is_buy, pos_f[k, POS_PRICE_OPEN], pos_f[k, POS_SL], bid, ask, atr, params_f, params_i
        )
        if not math.isnan(moved):
            row = _put(
                out_i,
                out_f,
                row,
                KIND_MODIFY,
                pos_i[k, POS_TICKET],
                0,
                0,
                nan,
                nan,
                nan,
                moved,
                nan,
            )
    max_open = params_i[I_MAX_OPEN_POSITIONS]
    pyramiding = params_i[I_PYRAMIDING]
    if open_count >= max_open:
        # Waiting entries can no longer be honoured: cancel them (one fill cancels the other).
        for k in range(n_ord):
            row = _cancel(out_i, out_f, row, ord_i[k, ORD_TICKET])
    if not allowed[i]:
        return row
    opened = 0  # market entries sent at this bar are positions too
    for side in range(2):
        is_buy = side == 0
        if not (long_entry[i] if is_buy else short_entry[i]):
            continue
        same_side = open_long if is_buy else open_short
        skip = SKIP_NONE
        if same_side >= pyramiding or open_count + opened >= max_open:
            skip = SKIP_POSITION_LIMIT
        else:
            for k in range(n_ord):
                if (ord_i[k, ORD_IS_BUY] != 0) == is_buy:
                    skip = SKIP_ORDER_WAITING
                    break
        if skip == SKIP_NONE:
            skip, kind, price, stoplimit, sl, tp, volume, expiration_s = entry_order(
                i,
                is_buy,
                bid,
                ask,
                anchor if is_buy else short_anchor,
                atr,
                expiry_s,
                equity,
                value_per_price,
                params_f,
                params_i,
            )
            if skip == SKIP_NONE and netting:
                # A netting account merges entries into one position: count them by volume.
                held = held_long if is_buy else held_short
                if held != 0 and held + volume > pyramiding * volume + 1e-9:
                    skip = SKIP_POSITION_LIMIT
            if skip == SKIP_NONE:
                row = _put(
                    out_i, out_f, row, kind, 0, 0, expiration_s, volume, price, stoplimit, sl, tp
                )
                if kind in (KIND_BUY, KIND_SELL):
                    opened += 1
        if skip != SKIP_NONE and skipped < skips.shape[0]:
            skips[skipped] = skip
            skipped += 1
    return row
