"""The market's path: a quote and what reacts to it (pending orders, SL/TP, expiries, the
stop-out, swaps at rollovers), and the walk of a bar through its open, extremes and close."""

from __future__ import annotations

import math

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline, python_callable
from nl_trader.numeric import round_to, round_to_inline
from nl_trader.sim.kernel.book import (
    _close_order,
    _close_volume,
    _emit,
    _execute,
    _finish_order,
    _log_exposure,
    _new_order,
    _opens_exposure,
    _revalue,
    _revalue_converted,
    _take_order,
)
from nl_trader.sim.kernel.layout import (
    A_LOWEST,
    A_NEXT_MIDNIGHT,
    A_SO_SO,
    A_TIME,
    BUY,
    BUY_LIMIT,
    BUY_STOP,
    BUY_STOP_LIMIT,
    C_SL,
    C_SO,
    C_TP,
    EC_EXPIRED,
    EC_NO_MONEY,
    EC_ORDER,
    EC_STOP_LIMIT,
    EC_TRIGGERED,
    EV_EXPIRED,
    EV_FILLED,
    EV_PLACED,
    EV_REJECTED,
    I_CONSERVATIVE,
    I_ORDERS,
    I_POSITIONS,
    I_RECORD,
    I_SLIPPAGE,
    I_SWAPS,
    O_EXPIRES_AT,
    O_PRICE_OPEN,
    O_PRICE_STOPLIMIT,
    O_SYMBOL,
    O_TICKET,
    O_TYPE,
    O_TYPE_FILLING,
    O_VOLUME_CURRENT,
    P_MAGIC,
    P_PRICE_CURRENT,
    P_PROFIT,
    P_SL,
    P_SWAP,
    P_SYMBOL,
    P_TICKET,
    P_TP,
    P_TYPE,
    P_VOLUME,
    POSITION_BUY,
    Q_ASK,
    Q_BID,
    REASON_EXPIRATION,
    REASON_NONE,
    S_BASE,
    S_CONTRACT,
    S_DIGITS,
    S_MARGIN,
    S_POINT,
    S_PROFIT,
    S_SWAP3,
    S_SWAP_LONG,
    S_SWAP_MODE,
    S_SWAP_SHORT,
    SELL,
    SELL_LIMIT,
    SELL_STOP,
    SELL_STOP_LIMIT,
    State,
    _has_quote,
    _is_buy,
    _round_price,
    next_midnight_s,
    order_row,
    position_row,
    server_weekday,
)
from nl_trader.sim.kernel.money import (
    _check_margin,
    _net_lots,
    _set_quote_row,
    _to_account,
    equity,
    margin,
)


# ---- reacting to prices ----------------------------------------------------------------------
@compiled_inline
def _expire_orders(st: State, symbol: int) -> None:
    now = st.acct_f[A_TIME]
    row = 0
    while row < st.acct_i[I_ORDERS]:
        expires_at = st.ord_f[row, O_EXPIRES_AT]
        if st.ord_i[row, O_SYMBOL] == symbol and not math.isnan(expires_at) and now >= expires_at:
            done = _close_order(st, row, mt5.ORDER_STATE_EXPIRED)
            _emit(
                st,
                st.hist_f,
                st.hist_i,
                done,
                EV_EXPIRED,
                0,
                EC_EXPIRED,
                math.nan,
                -1,
                REASON_EXPIRATION,
            )
        else:
            row += 1


@compiled
def _slipped(st: State, symbol: int, price: float, is_buy: bool) -> float:
    slip = st.acct_i[I_SLIPPAGE] * st.sym_f[symbol, S_POINT]
    if not slip:
        return price
    return _round_price(st, symbol, price + slip if is_buy else price - slip)


@compiled
def _fill_pending(st: State, row: int, symbol: int, price: float) -> None:
    order_type = st.ord_i[row, O_TYPE]
    volume = st.ord_f[row, O_VOLUME_CURRENT]
    if _opens_exposure(st, -1, symbol, order_type, volume) and _check_margin(
        st, symbol, order_type, volume, price
    ):
        done = _close_order(st, row, mt5.ORDER_STATE_REJECTED)
        _emit(
            st,
            st.hist_f,
            st.hist_i,
            done,
            EV_REJECTED,
            mt5.TRADE_RETCODE_REJECT_CANCEL,
            EC_NO_MONEY,
            math.nan,
            -1,
            REASON_NONE,
        )
        return
    _take_order(st, row)
    deal = _execute(st, symbol, order_type, volume, price, -1, mt5.DEAL_REASON_EXPERT)
    _log_exposure(st, symbol)
    _finish_order(st, st.work_f, st.work_i, 0, mt5.ORDER_STATE_FILLED)
    _emit(
        st,
        st.work_f,
        st.work_i,
        0,
        EV_FILLED,
        mt5.TRADE_RETCODE_DONE,
        EC_TRIGGERED,
        math.nan,
        deal,
        REASON_NONE,
    )


@compiled
def _trigger_orders(st: State, symbol: int) -> None:
    """Fill or activate the pending orders of ``symbol`` its quote reached.

    A stop-limit's activation scans the book again from its start (MT5 re-evaluates the book
    with the new limit in it); orders already checked at this quote stay as they were.
    """
    bid, ask = st.quote[symbol, Q_BID], st.quote[symbol, Q_ASK]
    tickets = st.tickets
    rescan = True
    while rescan:
        rescan = False
        count = 0
        for row in range(st.acct_i[I_ORDERS]):
            if st.ord_i[row, O_SYMBOL] == symbol:
                tickets[count] = st.ord_i[row, O_TICKET]
                count += 1
        for k in range(count):
            row = order_row(st, tickets[k])
            if row < 0:
                continue
            kind = st.ord_i[row, O_TYPE]
            level = st.ord_f[row, O_PRICE_OPEN]
            # A limit fills at the quote that reached it: the level, or better after a gap.
            if kind == BUY_LIMIT and ask <= level:
                _fill_pending(st, row, symbol, ask)
            elif kind == SELL_LIMIT and bid >= level:
                _fill_pending(st, row, symbol, bid)
            elif kind == BUY_STOP and ask >= level:
                _fill_pending(st, row, symbol, _slipped(st, symbol, ask, True))
            elif kind == SELL_STOP and bid <= level:
                _fill_pending(st, row, symbol, _slipped(st, symbol, bid, False))
            elif (kind == BUY_STOP_LIMIT and ask >= level) or (
                kind == SELL_STOP_LIMIT and bid <= level
            ):
                st.ord_i[row, O_TYPE] = BUY_LIMIT if kind == BUY_STOP_LIMIT else SELL_LIMIT
                st.ord_f[row, O_PRICE_OPEN] = st.ord_f[row, O_PRICE_STOPLIMIT]
                st.ord_f[row, O_PRICE_STOPLIMIT] = 0.0
                st.ord_i[row, O_TYPE_FILLING] = mt5.ORDER_FILLING_RETURN
                _emit(
                    st,
                    st.ord_f,
                    st.ord_i,
                    row,
                    EV_PLACED,
                    mt5.TRADE_RETCODE_PLACED,
                    EC_STOP_LIMIT,
                    st.ord_f[row, O_PRICE_OPEN],
                    -1,
                    REASON_NONE,
                )
                rescan = True
                break


@compiled_inline
def _close_at_market(
    st: State,
    row: int,
    price: float,
    deal_reason: int,
    order_reason: int,
    comment: int,
    comment_value: float,
) -> None:
    symbol = st.pos_i[row, P_SYMBOL]
    is_buy = st.pos_i[row, P_TYPE] == POSITION_BUY
    _new_order(
        st,
        symbol,
        SELL if is_buy else BUY,
        st.pos_f[row, P_VOLUME],
        price,
        mt5.ORDER_STATE_STARTED,
        order_reason,
        st.pos_i[row, P_MAGIC],
        st.pos_i[row, P_TICKET],
        0,
        0.0,
        0.0,
        0.0,
        0,
        0,
        comment,
        comment_value,
    )
    deal = _close_volume(
        st, row, st.pos_f[row, P_VOLUME], price, mt5.DEAL_ENTRY_OUT, deal_reason, True
    )
    st.work_f[0, O_VOLUME_CURRENT] = 0.0
    _log_exposure(st, symbol)
    _finish_order(st, st.work_f, st.work_i, 0, mt5.ORDER_STATE_FILLED)
    _emit(st, st.work_f, st.work_i, 0, EV_FILLED, 0, EC_ORDER, math.nan, deal, REASON_NONE)


@compiled_inline
def _trigger_stops(st: State, symbol: int) -> None:
    bid, ask = st.quote[symbol, Q_BID], st.quote[symbol, Q_ASK]
    count = st.acct_i[I_POSITIONS]
    tickets = st.tickets
    mine = 0
    for row in range(count):
        if st.pos_i[row, P_SYMBOL] == symbol:
            tickets[mine] = st.pos_i[row, P_TICKET]
            mine += 1
    for k in range(mine):
        row = position_row(st, tickets[k])
        if row < 0:
            continue
        is_buy = st.pos_i[row, P_TYPE] == POSITION_BUY
        market = bid if is_buy else ask
        sl, tp = st.pos_f[row, P_SL], st.pos_f[row, P_TP]
        if sl and (market <= sl if is_buy else market >= sl):
            _close_at_market(st, row, market, mt5.DEAL_REASON_SL, mt5.ORDER_REASON_SL, C_SL, sl)
        elif tp and (market >= tp if is_buy else market <= tp):
            _close_at_market(st, row, market, mt5.DEAL_REASON_TP, mt5.ORDER_REASON_TP, C_TP, tp)


@compiled_inline
def _stop_out(st: State) -> None:
    while st.acct_i[I_POSITIONS]:
        used = margin(st)
        if not used or equity(st) / used * 100 > st.acct_f[A_SO_SO]:
            return
        worst = 0
        worst_value = st.pos_f[0, P_PROFIT] + st.pos_f[0, P_SWAP]
        for row in range(1, st.acct_i[I_POSITIONS]):
            value = st.pos_f[row, P_PROFIT] + st.pos_f[row, P_SWAP]
            if value < worst_value:
                worst, worst_value = row, value
        symbol = st.pos_i[worst, P_SYMBOL]
        is_buy = st.pos_i[worst, P_TYPE] == POSITION_BUY
        price = st.quote[symbol, Q_BID] if is_buy else st.quote[symbol, Q_ASK]
        level = equity(st) / used * 100
        _close_at_market(st, worst, price, mt5.DEAL_REASON_SO, mt5.ORDER_REASON_SO, C_SO, level)


@compiled
def _swap_per_night(st: State, row: int) -> float:
    symbol = st.pos_i[row, P_SYMBOL]
    is_buy = st.pos_i[row, P_TYPE] == POSITION_BUY
    swap_rate = st.sym_f[symbol, S_SWAP_LONG] if is_buy else st.sym_f[symbol, S_SWAP_SHORT]
    mode = st.sym_i[symbol, S_SWAP_MODE]
    if mode == mt5.SYMBOL_SWAP_MODE_DISABLED or not swap_rate:
        return 0.0
    lots = st.pos_f[row, P_VOLUME]
    if mode == mt5.SYMBOL_SWAP_MODE_POINTS:
        amount = swap_rate * st.sym_f[symbol, S_POINT] * st.sym_f[symbol, S_CONTRACT] * lots
        return amount * _to_account(st, st.sym_i[symbol, S_PROFIT])
    if mode == mt5.SYMBOL_SWAP_MODE_CURRENCY_SYMBOL:
        return swap_rate * lots * _to_account(st, st.sym_i[symbol, S_BASE])
    if mode == mt5.SYMBOL_SWAP_MODE_CURRENCY_MARGIN:
        return swap_rate * lots * _to_account(st, st.sym_i[symbol, S_MARGIN])
    if mode == mt5.SYMBOL_SWAP_MODE_CURRENCY_DEPOSIT:
        return swap_rate * lots
    # Interest modes: annual percent of the position's value, per day of a 360-day year.
    value = st.pos_f[row, P_PRICE_CURRENT] * st.sym_f[symbol, S_CONTRACT] * lots
    return value * swap_rate / 100 / 360 * _to_account(st, st.sym_i[symbol, S_PROFIT])


@compiled
def _rollover(st: State, midnight_s: int) -> None:
    """Charge one night's swap (three on the symbol's triple day) at a server midnight."""
    mt5_weekday = server_weekday(st, float(midnight_s - 1))  # the day that ended
    if mt5_weekday == mt5.DAY_OF_WEEK_SATURDAY or mt5_weekday == mt5.DAY_OF_WEEK_SUNDAY:
        return
    for row in range(st.acct_i[I_POSITIONS]):
        symbol = st.pos_i[row, P_SYMBOL]
        nights = 3 if mt5_weekday == st.sym_i[symbol, S_SWAP3] else 1
        charge = round_to(nights * _swap_per_night(st, row), 2)
        st.pos_f[row, P_SWAP] = round_to(st.pos_f[row, P_SWAP] + charge, 2)
        if st.acct_i[I_RECORD] and charge:
            entry = st.acct_i[I_SWAPS]
            st.swaps[entry, 0] = float(midnight_s)
            st.swaps[entry, 1] = charge
            st.acct_i[I_SWAPS] = entry + 1


@compiled_inline
@python_callable
def advance_clock(st: State, time_s: float) -> None:
    """Let time pass without a quote (rollovers and swaps happen on the way)."""
    previous = st.acct_f[A_TIME]
    if time_s <= previous:
        return
    st.acct_f[A_TIME] = time_s
    midnight = st.acct_f[A_NEXT_MIDNIGHT]
    if not previous:
        st.acct_f[A_NEXT_MIDNIGHT] = float(next_midnight_s(st, time_s))
    elif time_s >= midnight:
        while midnight <= time_s:
            if st.acct_i[I_POSITIONS]:
                _rollover(st, int(midnight))
            midnight = float(next_midnight_s(st, midnight))
        st.acct_f[A_NEXT_MIDNIGHT] = midnight


@compiled_inline
def _track_lowest(st: State) -> None:
    lowest = st.acct_f[A_LOWEST]
    if not math.isnan(lowest):
        st.acct_f[A_LOWEST] = min(lowest, equity(st))


@compiled
def move(st: State, symbol: int, time_s: float, bid: float, ask: float) -> None:
    """A new quote on the tick grid: orders, stops, expiries and the stop-out react to it."""
    advance_clock(st, time_s)
    _set_quote_row(st, symbol, time_s, bid, ask)
    if st.acct_i[I_POSITIONS]:
        _revalue_converted(st, symbol)
    if not st.active[symbol]:
        return
    if st.acct_i[I_ORDERS]:
        _expire_orders(st, symbol)
        _revalue(st, symbol)  # margin checks of triggered orders need today's equity
        _trigger_orders(st, symbol)
    _trigger_stops(st, symbol)
    _revalue(st, symbol)
    _stop_out(st)
    _track_lowest(st)


@compiled_inline
def _move_out_of_reach(st: State, symbol: int, time_s: float, bid: float, ask: float) -> None:
    """``move`` for a quote ``_out_of_reach`` cleared: the book is revalued, nothing can
    trigger."""
    advance_clock(st, time_s)
    _set_quote_row(st, symbol, time_s, bid, ask)
    if st.acct_i[I_POSITIONS]:
        _revalue_converted(st, symbol)
    if not st.active[symbol]:
        return
    _revalue(st, symbol)
    _track_lowest(st)


@compiled
@python_callable
def set_quote(st: State, symbol: int, time_s: float, bid: float, ask: float) -> None:
    """Move the market to a new quote (rounded to the symbol's digits)."""
    move(st, symbol, time_s, _round_price(st, symbol, bid), _round_price(st, symbol, ask))


@compiled_inline
def stop_out_level(st: State, symbol: int, trust: float) -> tuple[bool, bool, float]:
    """Where the book of ``symbol`` reaches the stop-out level, on a linear view of its value
    at today's margin: (found, on the bid?, price). ``trust`` < 1 brings the level closer, for
    a conservative bound."""
    net = _net_lots(st, symbol)
    if not net or not _has_quote(st, symbol):
        return False, False, 0.0
    slope = net * st.sym_f[symbol, S_CONTRACT] * _to_account(st, st.sym_i[symbol, S_PROFIT])
    shortfall = equity(st) - st.acct_f[A_SO_SO] / 100.0 * margin(st)
    reach = trust * shortfall / slope
    if slope > 0:
        return True, True, st.quote[symbol, Q_BID] - reach
    return True, False, st.quote[symbol, Q_ASK] - reach


@compiled_inline
@python_callable
def trigger_bounds(st: State, symbol: int) -> tuple[float, float, float, float, float]:
    """Where the market must go for something to happen on ``symbol``: (bid_low, bid_high,
    ask_low, ask_high, expiry_s). A bar whose bid low is at or below bid_low, ... or that
    reaches expiry_s, may trigger an order, a stop, an expiry or a stop-out; any other cannot."""
    bid_low = ask_low = -math.inf
    bid_high = ask_high = expiry = math.inf
    for row in range(st.acct_i[I_ORDERS]):
        if st.ord_i[row, O_SYMBOL] != symbol:
            continue
        level = st.ord_f[row, O_PRICE_OPEN]
        kind = st.ord_i[row, O_TYPE]
        if kind == BUY_LIMIT:
            ask_low = max(ask_low, level)
        elif kind in (BUY_STOP, BUY_STOP_LIMIT):
            ask_high = min(ask_high, level)
        elif kind == SELL_LIMIT:
            bid_high = min(bid_high, level)
        else:
            bid_low = max(bid_low, level)
        expires_at = st.ord_f[row, O_EXPIRES_AT]
        if not math.isnan(expires_at):
            expiry = min(expiry, expires_at)
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] != symbol:
            continue
        sl, tp = st.pos_f[row, P_SL], st.pos_f[row, P_TP]
        if st.pos_i[row, P_TYPE] == POSITION_BUY:
            if sl:
                bid_low = max(bid_low, sl)
            if tp:
                bid_high = min(bid_high, tp)
        else:
            if sl:
                ask_high = min(ask_high, sl)
            if tp:
                ask_low = max(ask_low, tp)
    # The margin moves with the price too (a short's grows as EURUSD rises) and a USDJPY P/L
    # in USD is not linear in the price: the stop-out can come sooner than the linear view
    # says, so only half its distance is trusted for skipping.
    found, on_bid, level = stop_out_level(st, symbol, 0.5)
    if found:
        if on_bid:
            bid_low = max(bid_low, level)
        else:
            ask_high = min(ask_high, level)
    return bid_low, bid_high, ask_low, ask_high, expiry


@compiled_inline
def _next_level(
    st: State, symbol: int, spread: float, current: float, end: float, here: float, rising: bool
) -> float:
    """The first bid level strictly between ``current`` and ``end`` (in the direction of
    travel) at which an order, a stop or the stop-out of ``symbol`` triggers, rounded to the
    symbol's digits and other than ``here``; NaN when none."""
    digits = st.sym_i[symbol, S_DIGITS]
    best = math.nan
    count = st.acct_i[I_ORDERS] + 2 * st.acct_i[I_POSITIONS] + 1
    for item in range(count):
        if item < st.acct_i[I_ORDERS]:
            row = item
            if st.ord_i[row, O_SYMBOL] != symbol:
                continue
            on_ask = _is_buy(st.ord_i[row, O_TYPE])
            price = st.ord_f[row, O_PRICE_OPEN]
            level = price - spread if on_ask else price
        elif item < count - 1:
            row = (item - st.acct_i[I_ORDERS]) // 2
            if st.pos_i[row, P_SYMBOL] != symbol:
                continue
            price = (
                st.pos_f[row, P_SL]
                if (item - st.acct_i[I_ORDERS]) % 2 == 0
                else st.pos_f[row, P_TP]
            )
            if not price:
                continue
            on_ask = st.pos_i[row, P_TYPE] == mt5.POSITION_TYPE_SELL
            level = price - spread if on_ask else price
        else:
            if not st.acct_i[I_POSITIONS]:
                continue
            # Stop at the stop-out level too, so a stop-out inside a bar closes there and not
            # at the bar's extreme (on the tick grid, at the first tick past the level).
            found, on_bid, so_level = stop_out_level(st, symbol, 1.0)
            if not found:
                continue
            point = st.sym_f[symbol, S_POINT]
            if on_bid:
                level = math.floor(so_level / point + 1e-9) * point
            else:
                level = math.ceil(so_level / point - 1e-9) * point - spread
        if not (current < level < end if rising else end < level < current):
            continue
        rounded = round_to(level, digits)
        if rounded == here:
            continue
        if math.isnan(best) or (rounded < best if rising else rounded > best):
            best = rounded
    return best


@compiled_inline
def _out_of_reach(
    st: State, symbol: int, low: float, high: float, spread: float, end_s: float
) -> bool:
    """True when no order, stop, expiry or stop-out of ``symbol`` can trigger between ``low``
    and ``high`` (bid) before ``end_s``, no rollover falls inside the bar and every position is
    on this symbol: its path then needs no search for levels (``trigger_bounds``, with a point
    of slack for the quotes' rounding)."""
    if end_s >= st.acct_f[A_NEXT_MIDNIGHT]:
        return False  # a rollover falls inside the bar
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] != symbol:
            return False  # this quote may convert other positions' money: a stop-out elsewhere
    bid_low, bid_high, ask_low, ask_high, expiry = trigger_bounds(st, symbol)
    slack = st.sym_f[symbol, S_POINT]
    return (
        low > bid_low + slack
        and high < bid_high - slack
        and low + spread > ask_low + slack
        and high + spread < ask_high - slack
        and end_s < expiry
    )


@compiled_inline
@python_callable
def walk_bar(
    st: State,
    symbol: int,
    time_s: float,
    duration_s: float,
    open_: float,
    high: float,
    low: float,
    close: float,
    spread_points: float,
    opens: bool,
    finishes: bool,
) -> None:
    """A bar through the market: its first tick, the open (``opens``: orders sent after it fill
    at the open, gaps included), and the rest of its path through high and low to the close
    (``finishes``). Walked as two calls when requests are sent at the open in between (the
    backtest loop's queued orders, a paper terminal's bar in progress): one body for the broker
    and the loop."""
    spread = spread_points * st.sym_f[symbol, S_POINT]
    digits = st.sym_i[symbol, S_DIGITS]
    if opens:
        bid = round_to_inline(open_, digits)
        move(st, symbol, time_s, bid, round_to_inline(bid + spread, digits))
    if not finishes:
        return
    if not st.active[symbol] and not st.acct_i[I_POSITIONS] and not st.acct_i[I_ORDERS]:
        bid = round_to_inline(close, digits)
        end = time_s + duration_s - 1
        advance_clock(st, end)
        _set_quote_row(st, symbol, end, bid, round_to_inline(bid + spread, digits))
        return
    net = _net_lots(st, symbol) if st.acct_i[I_CONSERVATIVE] else 0.0
    low_first = net > 0 if net else close >= open_  # a net long is hurt by the low
    first, second = (low, high) if low_first else (high, low)
    step = duration_s / 3.0
    t1, t2, t3 = time_s + step, time_s + 2 * step, time_s + duration_s - 1
    if _out_of_reach(st, symbol, low, high, spread, t3):
        bid = round_to_inline(first, digits)
        _move_out_of_reach(st, symbol, t1, bid, round_to_inline(bid + spread, digits))
        bid = round_to_inline(second, digits)
        _move_out_of_reach(st, symbol, t2, bid, round_to_inline(bid + spread, digits))
        bid = round_to_inline(close, digits)
        _move_out_of_reach(st, symbol, t3, bid, round_to_inline(bid + spread, digits))
        return
    # The three legs (open to first, first to second, second to close), each a sweep of the
    # bid from its start to its end that stops at every trigger level on the way. Levels are
    # looked up again after each stop: a fill can create new ones (the SL/TP of the position it
    # opened, the limit of a triggered stop-limit). The time of each stop is interpolated along
    # the leg, to the millisecond.
    legs = ((open_, first, time_s, t1), (first, second, t1, t2), (second, close, t2, t3))
    for leg in range(3):
        start, end, start_s, end_s = legs[leg]
        if end != start:
            rising = end > start
            current = start
            for _ in range(200):  # a stop-out level converges in a few stops; never loop forever
                here = round_to_inline(current, digits)
                level = _next_level(st, symbol, spread, current, end, here, rising)
                if math.isnan(level):
                    break
                moment = round_to_inline(
                    start_s + (end_s - start_s) * (level - start) / (end - start), 3
                )
                bid = round_to_inline(level, digits)
                move(st, symbol, moment, bid, round_to_inline(bid + spread, digits))
                current = level
        bid = round_to_inline(end, digits)
        move(st, symbol, end_s, bid, round_to_inline(bid + spread, digits))
