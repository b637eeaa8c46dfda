"""The backtest's bar loop, compiled: the strategy's decisions and the simulated broker, bar by bar.

``engine.py`` prepares the arrays and reads the results; this module walks the bars. It runs the
product's one decision logic (``strategy.decide.decide_rows``) and the one fill engine
(``sim.kernel``) without leaving compiled code, so a backtest costs what the trading costs, not
what Python's calls cost. The rules it follows are engine.py's (module docstring).

Orders go from the decision's order rows (the numeric form of the ``send_order`` dicts) to MT5
requests exactly as the simulated route completes them (``orders.prepare_request``): the
default deviation and filling of ``OrderParams``, a filling the symbol accepts, the quote as a
market order's price, a position's other level kept when only its stop moves, prices on the
symbol's digits; a volume the symbol refuses or a price that rounds to 0 is refused as the route
refuses it (the engine words the refusal). tests/backtest/test_loop.py holds the two paths
equal, row kind by row kind.

The loop runs until a bar limit (for progress reports) or until a table of the broker needs room
(the engine grows it); it can always be resumed.

Where its time goes (perf on 1M M1 bars): a compiled call hands over every array of the broker's
state field by field, ~230 machine words, so the functions each walked bar calls (its walk, each
order sent, the decision, the rounding of the quotes) are ``compiled_inline``: LLVM writes their
optimised bodies into the loop, while each is typed and built once (``nl_trader/jit.py``). Left to
LLVM's own judgement the loop runs twice as long (0.11 s instead of 0.05 s); the request and book
rules as plain calls save 4 s of the first compilation and cost a fifth of the speed, so they
stay inlined too (benchmarks/first_run.py, backtest_speed.py). The search for the next event
is a small function of its own over a per-bar flag, and the arrays of the bar it finds are
prefetched together: after a skip each would otherwise be a cache miss of its own.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline, python_callable
from nl_trader.numeric import prefetch, round_to, snap_to_step
from nl_trader.sim import kernel
from nl_trader.sim.kernel import State
from nl_trader.strategy import decide

DAY_S = 86_400

# ---- control: ctl (int64) ----
C_BAR = 0  # the next bar to walk
C_QUEUE = 1  # order rows waiting for the next bar's open
C_WALKED = 2
C_STATUS = 3
C_REJECTED = 4  # entries in ``rejected``
C_CONVERTS = 5  # the price value per lot was computed once (conversion checked)
C_LOWS = 6  # entries in ``low_bar`` / ``low_value``
C_COUNT = 7
# Statuses.
RUNNING = 0
DONE = 1  # all bars walked
PAUSED = 2  # the bar limit was reached
NEED_ROOM = 3  # a broker table needs room before the next bar
BAD_QUOTE = 4  # a conversion pair's bar is not a valid quote
# ---- settings: cfg (int64) ----
G_SYMBOL = 0
G_MAGIC = 1
G_COMMENT = 2
G_FILL_CLOSE = 3
G_MANAGE_EVERY_BAR = 4
G_SWAPS_FOLLOW_PRICE = 5
G_FIXED_LOTS = 6
G_HAS_M1 = 7
G_NO_COMMENT = 8  # the text id of "" (requests without a comment)
G_SKIP_QUIET = 9  # skip the bars where nothing can happen (0: walk every bar, for tests)
G_STOPS_FROM_FILL = 10  # a market entry's SL/TP measured from its fill's quote (spec.exits)
G_COUNT = 11
# Skipped entries: the decision's reasons, then this loop's own.
SKIPPED_EXPIRED = len(decide.SKIP_REASONS)
SKIP_NAMES = (*decide.SKIP_REASONS, "expired before the market reopened")
# Refusals before the broker (``rejected`` holds them negative, with the value in question):
# the volume below the symbol's minimum, above its maximum, off its step; a price field (its
# request column) that send_order refuses: not finite, below 0 (0 too for price and stoplimit),
# or rounding to 0 (``orders.check_request_price``).
PREP_VOLUME_LOW = -1
PREP_VOLUME_HIGH = -2
PREP_VOLUME_STEP = -3
PREP_PRICE = -10  # minus the request column
# The order row's field of each request price column.
_ROW_FIELD = np.array([decide.VOLUME, decide.PRICE, decide.STOPLIMIT, decide.SL, decide.TP])
# A market order's and a pending order's defaults (OrderParams).
_DEVIATION = 10


class Signals(NamedTuple):
    """The decision's inputs per bar (``strategy.compile.Signals`` as arrays)."""

    time_s: np.ndarray
    close: np.ndarray
    spread_points: np.ndarray
    long_entry: np.ndarray
    short_entry: np.ndarray
    long_exit: np.ndarray
    short_exit: np.ndarray
    allowed: np.ndarray
    close_all: np.ndarray
    anchor: np.ndarray
    short_anchor: np.ndarray
    atr: np.ndarray
    expiry_s: np.ndarray
    acts: np.ndarray  # bool: a bar where the strategy may act at the close (``acting_bars``)


def acting_bars(
    long_entry: np.ndarray,
    short_entry: np.ndarray,
    long_exit: np.ndarray,
    short_exit: np.ndarray,
    close_all: np.ndarray,
) -> np.ndarray:
    """Where the strategy may act at a bar's close: a rule fires, or the last bar (the end of the
    test follows it, and its dip counts). Read once per bar in the search for the next event."""
    acts = long_entry | short_entry | long_exit | short_exit | close_all
    if acts.size:
        acts[-1] = True
    return acts


class Market(NamedTuple):
    """The bars the strategy runs on: open times (Unix s) and bid prices, spread in points."""

    time_s: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    spread: np.ndarray
    duration_s: float
    point: float


@compiled_inline
def _end_s(market: Market, i: int) -> float:
    """Bar i's last second."""
    return market.time_s[i] + market.duration_s - 1


@compiled_inline
def _next_start(market: Market, i: int) -> float:
    """When the bar after bar i opens (the last bar's own end for the last bar)."""
    count = market.time_s.shape[0]
    return market.time_s[i + 1] if i + 1 < count else _end_s(market, count - 1)


class Minutes(NamedTuple):
    """M1 bars to walk the strategy's bars minute by minute (empty arrays without them)."""

    first: np.ndarray  # [n + 1]: each bar's first minute
    time_s: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    spread: np.ndarray


class Conversions(NamedTuple):
    """Conversion pairs' quotes: for pair k, ``rows[k, i]`` is its last bar at or before bar i
    (-1 none) and ``bid[k, r]``/``ask[k, r]`` that bar's close."""

    symbols: np.ndarray
    rows: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


class Space(NamedTuple):
    """Working arrays of the loop, sized for the broker's tables (``space_for``)."""

    pos_f: np.ndarray
    pos_i: np.ndarray
    ord_i: np.ndarray
    out_i: np.ndarray
    out_f: np.ndarray
    skips: np.ndarray
    req_i: np.ndarray
    req_f: np.ndarray
    reply_i: np.ndarray
    reply_f: np.ndarray


def space_for(st: State) -> Space:
    """Working arrays for a book as large as the broker's tables can hold; decisions write up
    to a row per position and per pending order, and two entries."""
    positions, orders = st.pos_f.shape[0], st.ord_f.shape[0]
    rows = positions + orders + 2
    return Space(
        pos_f=np.zeros((positions, decide.POS_FLOATS)),
        pos_i=np.zeros((positions, decide.POS_INTS), dtype=np.int64),
        ord_i=np.zeros((orders, decide.ORD_INTS), dtype=np.int64),
        out_i=np.zeros((rows, decide.ROW_INTS), dtype=np.int64),
        out_f=np.zeros((rows, decide.ROW_FLOATS)),
        skips=np.zeros(decide.SKIP_SLOTS, dtype=np.int64),
        req_i=np.zeros(kernel.RI_COUNT, dtype=np.int64),
        req_f=np.zeros(kernel.RF_COUNT),
        reply_i=np.zeros(kernel.YI_COUNT, dtype=np.int64),
        reply_f=np.zeros(kernel.YF_COUNT),
    )


@compiled_inline
@python_callable
def room_needed(st: State, queued: int) -> int:
    """The orders one bar can send: the queue, then a close or a stop move per position, a
    cancel per pending order and an entry per side."""
    return queued + st.acct_i[kernel.I_POSITIONS] + st.acct_i[kernel.I_ORDERS] + 2


@compiled_inline
def has_room(st: State, until_s: float, queued: int) -> bool:
    """Whether the broker's tables hold what one bar can write: walking to ``until_s`` with the
    ``queued`` orders and those decided at its close (``SimBroker.reserve``'s bound, with
    ``room_needed``'s orders)."""
    counts = st.acct_i
    positions, orders = counts[kernel.I_POSITIONS], counts[kernel.I_ORDERS]
    extra = room_needed(st, queued)
    records = 4 * (positions + orders + extra) + 16
    nights = max(0, int(until_s - st.acct_f[kernel.A_TIME]) // DAY_S + 2)
    return (
        st.pos_f.shape[0] >= positions + orders + extra + 4
        and st.ord_f.shape[0] >= orders + extra + 4
        and st.hist_f.shape[0] >= counts[kernel.I_HISTORY] + records
        and st.deal_f.shape[0] >= counts[kernel.I_DEALS] + records
        and st.exposure.shape[0] >= counts[kernel.I_EXPOSURE] + records
        and st.swaps.shape[0] >= counts[kernel.I_SWAPS] + (positions + extra) * nights + 4
    )


@compiled_inline
def _book(
    st: State, symbol: int, magic: int, pos_f: np.ndarray, pos_i: np.ndarray, ord_i: np.ndarray
) -> tuple[int, int]:
    """The strategy's own positions and pending orders (its symbol and magic), in the broker's
    order."""
    n_pos = 0
    for row in range(st.acct_i[kernel.I_POSITIONS]):
        if st.pos_i[row, kernel.P_SYMBOL] != symbol or st.pos_i[row, kernel.P_MAGIC] != magic:
            continue
        pos_f[n_pos, decide.POS_VOLUME] = st.pos_f[row, kernel.P_VOLUME]
        pos_f[n_pos, decide.POS_PRICE_OPEN] = st.pos_f[row, kernel.P_PRICE_OPEN]
        pos_f[n_pos, decide.POS_SL] = st.pos_f[row, kernel.P_SL]
        pos_f[n_pos, decide.POS_TP] = st.pos_f[row, kernel.P_TP]
        pos_f[n_pos, decide.POS_TIME_S] = float(st.pos_i[row, kernel.P_TIME])
        pos_i[n_pos, decide.POS_TICKET] = st.pos_i[row, kernel.P_TICKET]
        pos_i[n_pos, decide.POS_IS_BUY] = st.pos_i[row, kernel.P_TYPE] == mt5.POSITION_TYPE_BUY
        n_pos += 1
    n_ord = 0
    for row in range(st.acct_i[kernel.I_ORDERS]):
        if st.ord_i[row, kernel.O_SYMBOL] != symbol or st.ord_i[row, kernel.O_MAGIC] != magic:
            continue
        order_type = st.ord_i[row, kernel.O_TYPE]
        ord_i[n_ord, decide.ORD_TICKET] = st.ord_i[row, kernel.O_TICKET]
        ord_i[n_ord, decide.ORD_IS_BUY] = order_type in (
            mt5.ORDER_TYPE_BUY_LIMIT,
            mt5.ORDER_TYPE_BUY_STOP,
            mt5.ORDER_TYPE_BUY_STOP_LIMIT,
        )
        n_ord += 1
    return n_pos, n_ord


@compiled_inline
def _filling(st: State, symbol: int, pending: bool) -> int:
    """The filling ``prepare_request`` sends for the default FOK: FOK when the symbol accepts
    it, else RETURN for a pending order when accepted, else the first one accepted."""
    exemode = st.sym_i[symbol, kernel.S_EXEMODE]
    if exemode in (mt5.SYMBOL_TRADE_EXECUTION_INSTANT, mt5.SYMBOL_TRADE_EXECUTION_REQUEST):
        return mt5.ORDER_FILLING_FOK
    flags = st.sym_i[symbol, kernel.S_FILLING]
    if flags & 1:
        return mt5.ORDER_FILLING_FOK
    returns = pending or exemode == mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE
    if pending and returns:
        return mt5.ORDER_FILLING_RETURN
    if flags & 2:
        return mt5.ORDER_FILLING_IOC
    if returns:
        return mt5.ORDER_FILLING_RETURN
    return mt5.ORDER_FILLING_FOK  # nothing accepted: sent as asked, refused by the server


@compiled_inline
def _price(st: State, symbol: int, value: float, req_f: np.ndarray, column: int) -> int:
    """A price on the symbol's digits into the request; a refusal where send_order refuses the
    price (``PREP_PRICE``). The kernel checks only the side of the market: it would fill a long
    whose stop is below zero, which send_order, and so a paper or live session, refuses."""
    entry = column == kernel.R_PRICE or column == kernel.R_STOPLIMIT
    if not math.isfinite(value) or value < 0 or (entry and value == 0):
        return PREP_PRICE - column
    rounded = round_to(value, st.sym_i[symbol, kernel.S_DIGITS])
    if value and not rounded:
        return PREP_PRICE - column
    req_f[column] = rounded
    return 0


@compiled_inline
@python_callable
def prepare_row(
    st: State,
    cfg: np.ndarray,
    row_i: np.ndarray,
    row_f: np.ndarray,
    req_i: np.ndarray,
    req_f: np.ndarray,
) -> int:
    """Write the MT5 request the simulated route sends for an order row; 0, or the refusal
    (``PREP_*``) the route would answer instead of sending."""
    symbol = cfg[G_SYMBOL]
    req_i[:] = 0
    req_f[:] = 0.0
    req_i[kernel.R_SYMBOL] = symbol
    req_i[kernel.R_MAGIC] = cfg[G_MAGIC]
    kind = row_i[decide.KIND]
    if kind == decide.KIND_CANCEL:
        req_i[kernel.R_ACTION] = mt5.TRADE_ACTION_REMOVE
        req_i[kernel.R_ORDER] = row_i[decide.ORDER]
        req_i[kernel.R_COMMENT] = cfg[G_NO_COMMENT]  # REMOVE carries none (MT5 reads "")
        return 0
    if kind == decide.KIND_MODIFY:
        req_i[kernel.R_ACTION] = mt5.TRADE_ACTION_SLTP
        req_i[kernel.R_POSITION] = row_i[decide.POSITION]
        req_i[kernel.R_COMMENT] = cfg[G_NO_COMMENT]
        sl, tp = row_f[decide.SL], math.nan  # a stop move names the stop only
        row = kernel.position_row(st, row_i[decide.POSITION])
        if row >= 0:  # the target stays the position's own
            tp = st.pos_f[row, kernel.P_TP]
            req_i[kernel.R_SYMBOL] = st.pos_i[row, kernel.P_SYMBOL]
        refusal = 0 if math.isnan(sl) else _price(st, symbol, sl, req_f, kernel.R_SL)
        if not refusal and not math.isnan(tp):
            refusal = _price(st, symbol, tp, req_f, kernel.R_TP)
        return refusal
    pending = kind >= mt5.ORDER_TYPE_BUY_LIMIT
    volume = row_f[decide.VOLUME]
    low = st.sym_f[symbol, kernel.S_VOLUME_MIN]
    high = st.sym_f[symbol, kernel.S_VOLUME_MAX]
    if volume < low - 1e-9:
        return PREP_VOLUME_LOW
    if high and volume > high + 1e-9:
        return PREP_VOLUME_HIGH
    snapped = snap_to_step(volume, low, st.sym_f[symbol, kernel.S_VOLUME_STEP])
    if math.isnan(snapped):
        return PREP_VOLUME_STEP
    req_i[kernel.R_ACTION] = mt5.TRADE_ACTION_PENDING if pending else mt5.TRADE_ACTION_DEAL
    req_i[kernel.R_TYPE] = kind
    req_i[kernel.R_DEVIATION] = _DEVIATION
    req_i[kernel.R_TYPE_FILLING] = _filling(st, symbol, pending)
    req_i[kernel.R_COMMENT] = cfg[G_COMMENT]
    req_f[kernel.R_VOLUME] = snapped
    expiration = row_i[decide.EXPIRATION_S]
    if pending and expiration:
        req_i[kernel.R_TYPE_TIME] = mt5.ORDER_TIME_SPECIFIED
        req_i[kernel.R_EXPIRATION] = expiration
    if not pending:
        is_buy = kind == mt5.ORDER_TYPE_BUY
        price = st.quote[symbol, kernel.Q_ASK] if is_buy else st.quote[symbol, kernel.Q_BID]
        if row_i[decide.POSITION]:  # a close names the position and its volume only
            req_i[kernel.R_POSITION] = row_i[decide.POSITION]
            req_f[kernel.R_PRICE] = price  # the quote is on the symbol's digits already
            return 0
        if math.isnan(row_f[decide.PRICE]):
            req_f[kernel.R_PRICE] = price
    for column, field in (
        (kernel.R_PRICE, decide.PRICE),
        (kernel.R_STOPLIMIT, decide.STOPLIMIT),
        (kernel.R_SL, decide.SL),
        (kernel.R_TP, decide.TP),
    ):
        value = row_f[field]
        if not math.isnan(value):
            refusal = _price(st, symbol, value, req_f, column)
            if refusal:
                return refusal
    return 0


@compiled_inline
def _send_rows(
    st: State,
    cfg: np.ndarray,
    ctl: np.ndarray,
    rows_i: np.ndarray,
    rows_f: np.ndarray,
    count: int,
    skipped: np.ndarray,
    rejected: np.ndarray,
    rejected_value: np.ndarray,
    req_i: np.ndarray,
    req_f: np.ndarray,
    reply_i: np.ndarray,
    reply_f: np.ndarray,
) -> None:
    """Send ``count`` order rows at the current quote; refusals go to ``rejected``."""
    now = st.acct_f[kernel.A_TIME]
    for k in range(count):
        expiration = rows_i[k, decide.EXPIRATION_S]
        if expiration and expiration <= now:
            # Decided before a market closure; its validity ended before it could be sent.
            skipped[SKIPPED_EXPIRED] += 1
            continue
        refusal = prepare_row(st, cfg, rows_i[k], rows_f[k], req_i, req_f)
        if refusal:
            value = rows_f[k, decide.VOLUME]
            if refusal <= PREP_PRICE:
                column = PREP_PRICE - refusal
                value = rows_f[k, _ROW_FIELD[column]]
            rejected[ctl[C_REJECTED]] = refusal
            rejected_value[ctl[C_REJECTED]] = value
            ctl[C_REJECTED] += 1
            continue
        rejection = kernel.send(st, req_f, req_i, True, reply_f, reply_i)
        if rejection:
            rejected[ctl[C_REJECTED]] = rejection
            ctl[C_REJECTED] += 1


@compiled
def _measure_from_fill(
    st: State,
    symbol: int,
    market: Market,
    decided_at: int,
    rows_i: np.ndarray,
    rows_f: np.ndarray,
    count: int,
) -> None:
    """Move the stops and targets of the market entries among ``count`` queued rows by what the
    quote moved between the decision (bar ``decided_at``'s close) and now, the open they fill
    at: measured from the fill's quote, as a trader placing the order by hand would."""
    digits = st.sym_i[symbol, kernel.S_DIGITS]
    bid_then = round_to(market.close[decided_at], digits)
    ask_then = round_to(bid_then + market.spread[decided_at] * market.point, digits)
    bid_now, ask_now = st.quote[symbol, kernel.Q_BID], st.quote[symbol, kernel.Q_ASK]
    for k in range(count):
        kind = rows_i[k, decide.KIND]
        if rows_i[k, decide.POSITION] != 0 or (
            kind != decide.KIND_BUY and kind != decide.KIND_SELL
        ):
            continue
        moved = ask_now - ask_then if kind == decide.KIND_BUY else bid_now - bid_then
        for column in (decide.SL, decide.TP):
            level = rows_f[k, column]
            if math.isfinite(level) and level > 0:
                rows_f[k, column] = round_to(level + moved, digits)


@compiled_inline
def _next_event(
    st: State, cfg: np.ndarray, market: Market, signals: Signals, start: int, slack: float
) -> int:
    """The first bar from ``start`` on where anything can happen (engine.py's docstring)."""
    if not st.acct_i[kernel.I_POSITIONS] and not st.acct_i[kernel.I_ORDERS]:
        return _first_reach(market, signals.acts, start, -math.inf, math.inf, -math.inf,
                            math.inf, math.inf, False, math.inf)  # fmt: skip
    bid_low, bid_high, ask_low, ask_high, expiry = kernel.trigger_bounds(st, cfg[G_SYMBOL])
    # The broker rounds its quotes to the symbol's digits: a point of slack never misses a
    # touch; an extra walked bar changes nothing.
    rollovers = (
        cfg[G_SWAPS_FOLLOW_PRICE] != 0
        and st.acct_i[kernel.I_POSITIONS] > 0
        and start < market.time_s.shape[0]
    )
    # The first server midnight after the bar's open: the bar it falls in (or the last before
    # it) is walked, for its quote.
    rollover_s = (
        float(kernel.next_midnight_s(st, float(market.time_s[start]))) if rollovers else math.inf
    )
    return _first_reach(
        market, signals.acts, start, bid_low + slack, bid_high - slack, ask_low + slack,
        ask_high - slack, expiry, rollovers, rollover_s,
    )  # fmt: skip


@compiled_inline
def _prefetch_bar(market: Market, signals: Signals, i: int) -> None:
    """Ask for bar i's values in every per-bar array at once. After a skip they are all out of
    the cache; read as the bar's walk and decision reach them, each would be a wait of its own
    (~0.1 us), several per walked bar."""
    prefetch(market.open, i)
    prefetch(market.close, i)
    prefetch(signals.time_s, i)
    prefetch(signals.close, i)
    prefetch(signals.spread_points, i)
    prefetch(signals.long_entry, i)
    prefetch(signals.short_entry, i)
    prefetch(signals.long_exit, i)
    prefetch(signals.short_exit, i)
    prefetch(signals.allowed, i)
    prefetch(signals.close_all, i)
    prefetch(signals.expiry_s, i)
    if signals.anchor.shape[0]:
        prefetch(signals.anchor, i)
        prefetch(signals.short_anchor, i)


@compiled
def _first_reach(
    market: Market,
    acts: np.ndarray,
    start: int,
    bid_low: float,
    bid_high: float,
    ask_low: float,
    ask_high: float,
    expiry: float,
    rollovers: bool,
    rollover_s: float,
) -> int:
    """The first bar from ``start`` on where the strategy acts, the bid or the ask reaches a
    bound, the server midnight ``rollover_s`` falls by the next bar's open (``rollovers``) or
    time reaches ``expiry``; the bar count if none.
    A function of its own: its few values stay in registers while it reads ~1M bars."""
    count = market.close.shape[0]
    point = market.point
    for j in range(start, count):
        low, high = market.low[j], market.high[j]
        spread = market.spread[j] * point
        if (
            acts[j]
            or low <= bid_low
            or high >= bid_high
            or low + spread <= ask_low
            or high + spread >= ask_high
            or (rollovers and _next_start(market, j) >= rollover_s)
            or _end_s(market, j) >= expiry
        ):
            return j
    return count


@compiled
@python_callable
def run_bars(
    st: State,
    cfg: np.ndarray,
    ctl: np.ndarray,
    market: Market,
    minutes: Minutes,
    conversions: Conversions,
    signals: Signals,
    params_f: np.ndarray,
    params_i: np.ndarray,
    queue_i: np.ndarray,
    queue_f: np.ndarray,
    space: Space,
    low_bar: np.ndarray,
    low_value: np.ndarray,
    skipped: np.ndarray,
    rejected: np.ndarray,
    rejected_value: np.ndarray,
    stop: int,
) -> None:
    """Walk bars from ``ctl[C_BAR]`` until ``stop``, the end, or a pause (``ctl[C_STATUS]``)."""
    symbol = cfg[G_SYMBOL]
    count = market.close.shape[0]
    point = st.sym_f[symbol, kernel.S_POINT]
    pos_f, pos_i, ord_i = space.pos_f, space.pos_i, space.ord_i
    out_i, out_f, skips = space.out_i, space.out_f, space.skips
    req_i, req_f, reply_i, reply_f = space.req_i, space.req_f, space.reply_i, space.reply_f
    capacity = out_i.shape[0]
    netting = not st.acct_i[kernel.I_HEDGING]
    fill_close = cfg[G_FILL_CLOSE] != 0
    ctl[C_STATUS] = RUNNING
    i = ctl[C_BAR]
    while i < count:
        if i >= stop:
            ctl[C_BAR] = i
            ctl[C_STATUS] = PAUSED
            return
        queued = ctl[C_QUEUE]
        until_s = _end_s(market, i)
        bar_s = float(market.time_s[i])
        if (
            not has_room(st, until_s, queued)
            or queued + capacity > queue_i.shape[0]
            or ctl[C_REJECTED] + queued + capacity > rejected.shape[0]
        ):
            ctl[C_BAR] = i
            ctl[C_STATUS] = NEED_ROOM
            return
        # ---- walk bar i, sending the queue at its open ----
        ctl[C_WALKED] += 1
        st.acct_f[kernel.A_LOWEST] = math.inf
        for k in range(conversions.symbols.shape[0]):
            row = conversions.rows[k, i]
            if row >= 0:  # the conversion pair's last close at or before this bar's open
                bid, ask = conversions.bid[k, row], conversions.ask[k, row]
                if not (bid > 0 and ask >= bid):
                    ctl[C_BAR] = i
                    ctl[C_STATUS] = BAD_QUOTE
                    return
                kernel.set_quote(st, conversions.symbols[k], bar_s, bid, ask)
        # The bar, or each of its minutes when M1 bars refine it (the queue sent at the first
        # minute's open): one walk written once.
        first, last = i, i + 1
        by_minute = False
        if cfg[G_HAS_M1] and minutes.first[i + 1] > minutes.first[i]:
            first, last = minutes.first[i], minutes.first[i + 1]
            by_minute = True
        for m in range(first, last):
            if by_minute:
                time_s, duration_s = float(minutes.time_s[m]), 60.0
                open_, high, low = minutes.open[m], minutes.high[m], minutes.low[m]
                close, spread = minutes.close[m], minutes.spread[m]
            else:
                time_s, duration_s = bar_s, market.duration_s
                open_, high, low = market.open[i], market.high[i], market.low[i]
                close, spread = market.close[i], market.spread[i]
            # Its open, the queued orders sent there, then its path.
            kernel.walk_bar(
                st, symbol, time_s, duration_s, open_, high, low, close, spread, True, False
            )
            queued = ctl[C_QUEUE]
            if queued and cfg[G_STOPS_FROM_FILL] and i > 0:
                _measure_from_fill(st, symbol, market, i - 1, queue_i, queue_f, queued)
            if queued:
                _send_rows(
                    st, cfg, ctl, queue_i, queue_f, queued, skipped, rejected, rejected_value,
                    req_i, req_f, reply_i, reply_f,
                )  # fmt: skip
                ctl[C_QUEUE] = 0
            kernel.walk_bar(
                st, symbol, time_s, duration_s, open_, high, low, close, spread, False, True
            )
        lowest = st.acct_f[kernel.A_LOWEST]
        if math.isfinite(lowest):  # inf: nothing was exposed along this bar
            low_bar[ctl[C_LOWS]] = i
            low_value[ctl[C_LOWS]] = lowest
            ctl[C_LOWS] += 1
        st.acct_f[kernel.A_LOWEST] = math.nan
        # ---- decide at its close ----
        n_pos, n_ord = _book(st, symbol, cfg[G_MAGIC], pos_f, pos_i, ord_i)
        value = 0.0  # what sizing by risk needs; fixed lots do not
        if not cfg[G_FIXED_LOTS] or not ctl[C_CONVERTS]:
            # Also at the first bar whatever the sizing: a run whose money cannot be converted
            # stops there, naming the price it needs.
            value = kernel.calc_profit(st, mt5.ORDER_TYPE_BUY, symbol, 1.0, 1.0, 2.0)
            ctl[C_CONVERTS] = 1
        decided = decide.decide_rows(
            i,
            signals.time_s,
            signals.close,
            signals.spread_points,
            signals.long_entry,
            signals.short_entry,
            signals.long_exit,
            signals.short_exit,
            signals.allowed,
            signals.close_all,
            signals.anchor,
            signals.short_anchor,
            signals.atr,
            signals.expiry_s,
            params_f,
            params_i,
            pos_f,
            pos_i,
            ord_i,
            n_pos,
            n_ord,
            kernel.equity(st),
            value,
            netting,
            out_i,
            out_f,
            skips,
        )
        for slot in range(decide.SKIP_SLOTS):
            if skips[slot] >= 0:
                skipped[skips[slot]] += 1
        if fill_close:
            _send_rows(
                st, cfg, ctl, out_i, out_f, decided, skipped, rejected,
                rejected_value, req_i, req_f, reply_i, reply_f,
            )  # fmt: skip
        else:
            for row in range(decided):  # element by element: no temporary array
                for column in range(decide.ROW_INTS):
                    queue_i[row, column] = out_i[row, column]
                for column in range(decide.ROW_FLOATS):
                    queue_f[row, column] = out_f[row, column]
            ctl[C_QUEUE] = decided
        if (
            ctl[C_QUEUE]
            or not cfg[G_SKIP_QUIET]
            or (cfg[G_MANAGE_EVERY_BAR] and st.acct_i[kernel.I_POSITIONS])
        ):
            i += 1
        else:
            i = _next_event(st, cfg, market, signals, i + 1, point)
            if i < count:
                _prefetch_bar(market, signals, i)
    ctl[C_BAR] = count
    ctl[C_STATUS] = DONE


@compiled_inline
def _cumulative_at(
    times: np.ndarray, amounts: np.ndarray, k: int, at: float, total: float
) -> tuple[int, float]:
    """Advance a running sum over (time-sorted) amounts to those at or before ``at``."""
    while k < times.shape[0] and times[k] <= at:
        total += amounts[k]
        k += 1
    return k, total


@compiled_inline
def _rate_at(rates: np.ndarray, i: int) -> float:
    return rates[i] if rates.shape[0] else 1.0  # no rates: the profit is in account currency


@compiled
@python_callable
def value_account(
    market: Market,
    rates: np.ndarray,
    rates_low: np.ndarray,
    rates_high: np.ndarray,
    contract: float,
    deposit: float,
    flow_time: np.ndarray,
    flow_amount: np.ndarray,
    exposure: np.ndarray,
    charged_time: np.ndarray,
    charged_amount: np.ndarray,
    paid_time: np.ndarray,
    paid_amount: np.ndarray,
    low_bar: np.ndarray,
    low_value: np.ndarray,
    balance: np.ndarray,
    equity: np.ndarray,
    equity_low: np.ndarray,
    in_market: np.ndarray,
) -> None:
    """The account at each bar's close from the run's ledgers (engine.py's docstring): balance
    from the deals' money, the book of ``exposure`` rows (time, long lots, long lots x price,
    short lots, short lots x price) valued at the close and at the bar's adverse extreme, and
    swaps charged but not yet realised. ``rates*`` convert profit to the account currency at the
    close's, the low's and the high's ask (empty: no conversion). ``low_bar``/``low_value``: the
    walked bars' own equity lows (``run_bars``), in bar order."""
    cumulative = 0.0
    flow_k = charged_k = paid_k = low_k = 0
    charged = paid = 0.0
    entry = -1
    long_lots = long_cost = short_lots = short_cost = 0.0
    has_book = exposure.shape[0] > 0
    point = market.point
    for i in range(market.close.shape[0]):
        end = _end_s(market, i)
        flow_k, cumulative = _cumulative_at(flow_time, flow_amount, flow_k, end, cumulative)
        flows = deposit + cumulative
        balance[i] = flows
        if not has_book:
            equity[i] = flows
            equity_low[i] = flows
            in_market[i] = False
            continue
        while entry + 1 < exposure.shape[0] and exposure[entry + 1, 0] <= end:
            entry += 1
            long_lots, long_cost = exposure[entry, 1], exposure[entry, 2]
            short_lots, short_cost = exposure[entry, 3], exposure[entry, 4]
        charged_k, charged = _cumulative_at(charged_time, charged_amount, charged_k, end, charged)
        paid_k, paid = _cumulative_at(paid_time, paid_amount, paid_k, end, paid)
        swap_open = charged - paid
        spread = market.spread[i] * point
        bid = market.close[i]
        floating = (
            contract
            * _rate_at(rates, i)
            * (long_lots * bid - long_cost + short_cost - short_lots * (bid + spread))
        )
        # The book is linear in the price, so its worst point in a bar is one of the two
        # extremes, both legs valued there; each converts at that extreme's own ask.
        low, high = market.low[i], market.high[i]
        at_low = (
            contract
            * _rate_at(rates_low, i)
            * (long_lots * low - long_cost + short_cost - short_lots * (low + spread))
        )
        at_high = (
            contract
            * _rate_at(rates_high, i)
            * (long_lots * high - long_cost + short_cost - short_lots * (high + spread))
        )
        worst = math.nan if math.isnan(at_low) or math.isnan(at_high) else min(at_low, at_high)
        value = flows + floating + swap_open
        lowest = flows + worst + swap_open
        equity[i] = value
        if low_k < low_bar.shape[0] and low_bar[low_k] == i:
            # A walked bar's low is the broker's own, along its path: it sees the dip of a
            # position closed inside the bar and does not charge a position opened late in it.
            lowest = low_value[low_k]
            low_k += 1
        equity_low[i] = math.nan if math.isnan(value) or math.isnan(lowest) else min(value, lowest)
        in_market[i] = (long_lots + short_lots) > 1e-12
