"""Trade requests as an MT5 server takes them: the checks every request shares, each action's
rules, and ``send``, which executes a request or only checks it."""

from __future__ import annotations

import math

import numpy as np

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline, python_callable
from nl_trader.numeric import snap_to_step
from nl_trader.sim.kernel.book import (
    _close_order,
    _close_volume,
    _emit,
    _execute,
    _finish_order,
    _log_exposure,
    _new_order,
    _opens_exposure,
)
from nl_trader.sim.kernel.layout import (
    _EXPIRATION_DAY,
    _EXPIRATION_GTC,
    _EXPIRATION_SPECIFIED,
    _EXPIRATION_SPECIFIED_DAY,
    _FILLING_FOK,
    _FILLING_IOC,
    _ORDER_CLOSEBY,
    _ORDER_LIMIT,
    _ORDER_MARKET,
    _ORDER_STOP,
    _ORDER_STOP_LIMIT,
    A_LIQUIDITY,
    A_TIME,
    BUY,
    BUY_LIMIT,
    BUY_STOP,
    BUY_STOP_LIMIT,
    D_PRICE,
    D_TICKET,
    D_VOLUME,
    EC_CANCELLED,
    EC_EXECUTED,
    EC_PARTIAL,
    EC_PLACED,
    EV_CANCELLED,
    EV_FILLED,
    EV_PARTIALLY_FILLED,
    EV_PLACED,
    I_HEDGING,
    I_LIMIT_ORDERS,
    I_ORDERS,
    I_POSITIONS,
    I_SLIPPAGE,
    I_TRADE_ALLOWED,
    I_TRADE_EXPERT,
    O_EXPIRES_AT,
    O_POSITION_BY_ID,
    O_POSITION_ID,
    O_PRICE_OPEN,
    O_PRICE_STOPLIMIT,
    O_SL,
    O_SYMBOL,
    O_TICKET,
    O_TIME_EXPIRATION,
    O_TP,
    O_TYPE,
    O_TYPE_TIME,
    O_VOLUME_CURRENT,
    OF_COUNT,
    OI_COUNT,
    OK,
    P_IDENTIFIER,
    P_PRICE_OPEN,
    P_SL,
    P_SYMBOL,
    P_TICKET,
    P_TIME_UPDATE,
    P_TIME_UPDATE_MSC,
    P_TP,
    P_TYPE,
    P_VOLUME,
    POSITION_BUY,
    Q_ASK,
    Q_BID,
    R_ACTION,
    R_COMMENT,
    R_DEVIATION,
    R_EXPIRATION,
    R_MAGIC,
    R_ORDER,
    R_POSITION,
    R_POSITION_BY,
    R_PRICE,
    R_SL,
    R_STOPLIMIT,
    R_SYMBOL,
    R_TP,
    R_TYPE,
    R_TYPE_FILLING,
    R_TYPE_TIME,
    R_VOLUME,
    REASON_NONE,
    REASON_TRADER,
    REJ_AUTOTRADING,
    REJ_CLOSE_BY_NETTING,
    REJ_CLOSE_ONLY,
    REJ_CLOSE_VOLUME,
    REJ_EXPIRATION,
    REJ_FILLING,
    REJ_FROZEN,
    REJ_INVALID,
    REJ_LIMIT_ORDERS,
    REJ_LIQUIDITY,
    REJ_LONG_ONLY,
    REJ_NO_CHANGES,
    REJ_NO_PRICES,
    REJ_ORDER_NOT_FOUND,
    REJ_ORDER_TYPE,
    REJ_POSITION_CLOSED,
    REJ_PRICE,
    REJ_REQUOTE,
    REJ_SHORT_ONLY,
    REJ_STOPS,
    REJ_TRADE_DISABLED,
    REJ_UNKNOWN_SYMBOL,
    REJ_VOLUME,
    REJ_VOLUME_LIMIT,
    S_EXEMODE,
    S_EXPIRATION,
    S_FILLING,
    S_FREEZE_LEVEL,
    S_ORDER_MODE,
    S_POINT,
    S_STOPS_LEVEL,
    S_TRADE_MODE,
    S_VOLUME_LIMIT,
    S_VOLUME_MAX,
    S_VOLUME_MIN,
    S_VOLUME_STEP,
    SELL,
    SELL_LIMIT,
    SELL_STOP,
    SELL_STOP_LIMIT,
    Y_ASK,
    Y_BID,
    Y_COMMENT,
    Y_DEAL,
    Y_FILLED,
    Y_MARGIN,
    Y_ORDER,
    Y_PRICE,
    Y_RETCODE,
    Y_VOLUME,
    State,
    _copy_row,
    _has_quote,
    _is_buy,
    _msc,
    _netting_row,
    _round_price,
    next_midnight_s,
    order_row,
    position_row,
)
from nl_trader.sim.kernel.money import (
    _check_margin,
    _margin_after,
)


# ---- checks shared by the requests -----------------------------------------------------------
@compiled_inline
def _check_trade_mode(st: State, symbol: int, order_type: int, opening: bool) -> int:
    mode = st.sym_i[symbol, S_TRADE_MODE]
    if mode == mt5.SYMBOL_TRADE_MODE_DISABLED:
        return REJ_TRADE_DISABLED
    if not opening:
        return OK
    if mode == mt5.SYMBOL_TRADE_MODE_CLOSEONLY:
        return REJ_CLOSE_ONLY
    if mode == mt5.SYMBOL_TRADE_MODE_LONGONLY and not _is_buy(order_type):
        return REJ_LONG_ONLY
    if mode == mt5.SYMBOL_TRADE_MODE_SHORTONLY and _is_buy(order_type):
        return REJ_SHORT_ONLY
    return OK


@compiled_inline
def _check_volume(st: State, symbol: int, volume: float) -> float:
    """The volume snapped to the symbol's step, or NaN when MT5 refuses it (10014)."""
    low, high = st.sym_f[symbol, S_VOLUME_MIN], st.sym_f[symbol, S_VOLUME_MAX]
    if not (volume > 0) or volume < low - 1e-9 or volume > high + 1e-9:
        return math.nan
    return snap_to_step(volume, low, st.sym_f[symbol, S_VOLUME_STEP])


@compiled_inline
def _check_volume_limit(st: State, symbol: int, is_buy: bool, volume: float) -> int:
    """``volume_limit``: open plus pending volume of one direction on the symbol (10034)."""
    limit = st.sym_f[symbol, S_VOLUME_LIMIT]
    if not limit:
        return OK
    side = mt5.POSITION_TYPE_BUY if is_buy else mt5.POSITION_TYPE_SELL
    held = 0.0
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] == symbol and st.pos_i[row, P_TYPE] == side:
            held += st.pos_f[row, P_VOLUME]
    waiting = 0.0
    for row in range(st.acct_i[I_ORDERS]):
        if st.ord_i[row, O_SYMBOL] == symbol and _is_buy(st.ord_i[row, O_TYPE]) == is_buy:
            waiting += st.ord_f[row, O_VOLUME_CURRENT]
    if held + waiting + volume > limit + 1e-9:
        return REJ_VOLUME_LIMIT
    return OK


@compiled_inline
def _check_order_mode(st: State, symbol: int, order_type: int) -> int:
    mode = st.sym_i[symbol, S_ORDER_MODE]
    if order_type in (BUY, SELL):
        flag = _ORDER_MARKET
    elif order_type in (BUY_LIMIT, SELL_LIMIT):
        flag = _ORDER_LIMIT
    elif order_type in (BUY_STOP, SELL_STOP):
        flag = _ORDER_STOP
    elif order_type in (BUY_STOP_LIMIT, SELL_STOP_LIMIT):
        flag = _ORDER_STOP_LIMIT
    else:
        flag = 0
    return OK if mode & flag else REJ_ORDER_TYPE


@compiled_inline
def _check_filling(st: State, symbol: int, filling: int, pending: bool) -> int:
    """MetaTrader 5's "Fill Policy" table for the symbol's execution mode and filling flags."""
    exemode = st.sym_i[symbol, S_EXEMODE]
    if (
        exemode == mt5.SYMBOL_TRADE_EXECUTION_INSTANT
        or exemode == mt5.SYMBOL_TRADE_EXECUTION_REQUEST
    ):
        return OK if filling == mt5.ORDER_FILLING_FOK else REJ_FILLING
    flags = st.sym_i[symbol, S_FILLING]
    if filling == mt5.ORDER_FILLING_FOK and flags & _FILLING_FOK:
        return OK
    if filling == mt5.ORDER_FILLING_IOC and flags & _FILLING_IOC:
        return OK
    if filling == mt5.ORDER_FILLING_RETURN and (
        pending or exemode == mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE
    ):
        return OK
    return REJ_FILLING


@compiled_inline
def _check_stops(
    st: State,
    symbol: int,
    is_buy: bool,
    reference: float,
    sl: float,
    tp: float,
    at_market: bool,
) -> int:
    """SL/TP on the right side of the price and at least ``trade_stops_level`` points away.

    For a position (``at_market``) the reference is its exit side: bid for a buy, ask for a
    sell.
    """
    if at_market:
        reference = st.quote[symbol, Q_BID] if is_buy else st.quote[symbol, Q_ASK]
    min_distance = st.sym_i[symbol, S_STOPS_LEVEL] * st.sym_f[symbol, S_POINT]
    tolerance = 1e-9 * max(reference, 1.0)
    for k in range(2):
        level = sl if k == 0 else tp
        below = is_buy if k == 0 else not is_buy
        if not level:
            continue
        gap = reference - level if below else level - reference
        if gap <= 0 or gap < min_distance - tolerance:
            return REJ_STOPS
    return OK


@compiled
def _check_freeze(st: State, symbol: int, first: float, second: float, on_bid: bool) -> int:
    freeze_level = st.sym_i[symbol, S_FREEZE_LEVEL]
    if not freeze_level:
        return OK
    market = st.quote[symbol, Q_BID] if on_bid else st.quote[symbol, Q_ASK]
    freeze = freeze_level * st.sym_f[symbol, S_POINT]
    for k in range(2):
        level = first if k == 0 else second
        if level and abs(market - level) <= freeze:
            return REJ_FROZEN
    return OK


@compiled
def _expiry(st: State, symbol: int, type_time: int, expiration: int) -> tuple[int, int, float]:
    """(rejection, time_expiration to show, when the order expires or NaN) (10022)."""
    if type_time == mt5.ORDER_TIME_GTC:
        flag = _EXPIRATION_GTC
    elif type_time == mt5.ORDER_TIME_DAY:
        flag = _EXPIRATION_DAY
    elif type_time == mt5.ORDER_TIME_SPECIFIED:
        flag = _EXPIRATION_SPECIFIED
    elif type_time == mt5.ORDER_TIME_SPECIFIED_DAY:
        flag = _EXPIRATION_SPECIFIED_DAY
    else:
        flag = 0
    if not flag or not st.sym_i[symbol, S_EXPIRATION] & flag:
        return REJ_EXPIRATION, 0, math.nan
    now = st.acct_f[A_TIME]
    if type_time == mt5.ORDER_TIME_GTC:
        return OK, expiration, math.nan
    if type_time == mt5.ORDER_TIME_DAY:
        end = next_midnight_s(st, now) - 1  # the server's day
        return OK, end, float(end + 1)
    if type_time == mt5.ORDER_TIME_SPECIFIED:
        if expiration <= now:
            return REJ_EXPIRATION, 0, math.nan
        return OK, expiration, float(expiration)
    end = next_midnight_s(st, float(expiration)) - 1
    if end <= now:
        return REJ_EXPIRATION, 0, math.nan
    return OK, end, float(end + 1)


@compiled
def _check_pending_prices(
    st: State,
    symbol: int,
    order_type: int,
    price: float,
    stoplimit: float,
    sl: float,
    tp: float,
) -> int:
    """Pending price on the right side of the market and ``trade_stops_level`` away from it."""
    if price <= 0:
        return REJ_PRICE
    bid, ask = st.quote[symbol, Q_BID], st.quote[symbol, Q_ASK]
    distance = st.sym_i[symbol, S_STOPS_LEVEL] * st.sym_f[symbol, S_POINT] - 1e-9 * price
    if order_type == BUY_LIMIT:
        gap = ask - price
    elif order_type == SELL_LIMIT:
        gap = price - bid
    elif order_type in (BUY_STOP, BUY_STOP_LIMIT):
        gap = price - ask
    else:
        gap = bid - price
    if gap < max(distance, 0.0) or gap <= 0:
        return REJ_PRICE
    is_buy = _is_buy(order_type)
    entry = price
    if order_type in (BUY_STOP_LIMIT, SELL_STOP_LIMIT):
        wrong_side = stoplimit > price if is_buy else stoplimit < price
        if stoplimit <= 0 or wrong_side:
            return REJ_PRICE
        entry = stoplimit
    return _check_stops(st, symbol, is_buy, entry, sl, tp, False)


@compiled_inline
def _reply(
    st: State,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
    symbol: int,
    retcode: int,
    deal: int,
    order: int,
    volume: float,
    price: float,
    comment: int,
) -> int:
    reply_i[Y_RETCODE] = retcode
    reply_i[Y_DEAL] = deal
    reply_i[Y_ORDER] = order
    reply_i[Y_COMMENT] = comment
    reply_f[Y_VOLUME] = volume
    reply_f[Y_PRICE] = price
    reply_f[Y_BID] = st.quote[symbol, Q_BID]
    reply_f[Y_ASK] = st.quote[symbol, Q_ASK]
    return OK


# ---- the requests: each resolved and checked into a plan, then applied --------------------------
# A plan is one tuple for every action: (rejection, symbol, row, kind, whole, v0, v1, v2, v3, v4).
# ``rejection`` is 0 when the request may go ahead; what the rest hold is the action's own
# (each ``_check_*`` says). ``send`` alone decides whether to apply it and writes the reply.
Plan = tuple[int, int, int, int, int, float, float, float, float, float]


@compiled_inline
def _refused(rejection: int) -> Plan:
    return rejection, -1, -1, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0


@compiled_inline
def _check_symbol(st: State, req_i: np.ndarray) -> int:
    """The request's symbol is known and has a quote (deal and pending requests)."""
    symbol = req_i[R_SYMBOL]
    if symbol < 0:
        return REJ_UNKNOWN_SYMBOL
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
    return OK


@compiled_inline
def _check_order(
    st: State,
    symbol: int,
    order_type: int,
    opening: bool,
    volume: float,
    filling: int,
    pending: bool,
) -> tuple[int, float]:
    """What a deal and a pending order are both checked for, in MT5's order: the symbol's trade
    mode, its order types, the volume (snapped to the step) and the filling; (rejection,
    volume)."""
    rejection = _check_trade_mode(st, symbol, order_type, opening)
    if rejection:
        return rejection, math.nan
    rejection = _check_order_mode(st, symbol, order_type)
    if rejection:
        return rejection, math.nan
    checked = _check_volume(st, symbol, volume)
    if math.isnan(checked):
        return REJ_VOLUME, math.nan
    return _check_filling(st, symbol, filling, pending), checked


@compiled
def _check_deal(st: State, req_f: np.ndarray, req_i: np.ndarray) -> Plan:
    """A market deal: plan (.., symbol, the position it closes or -1, type, retcode, volume,
    fill price, volume filled, 0, 0)."""
    rejection = _check_symbol(st, req_i)
    if rejection:
        return _refused(rejection)
    symbol = req_i[R_SYMBOL]
    order_type = req_i[R_TYPE]
    if order_type != BUY and order_type != SELL:
        return _refused(REJ_INVALID)
    is_buy = order_type == BUY
    target = -1
    if req_i[R_POSITION]:
        target = position_row(st, req_i[R_POSITION])
        if target < 0 or st.pos_i[target, P_SYMBOL] != symbol:
            return _refused(REJ_POSITION_CLOSED)
        closing_type = SELL if st.pos_i[target, P_TYPE] == POSITION_BUY else BUY
        if order_type != closing_type:
            return _refused(REJ_INVALID)
    # On netting a deal against the symbol's position reduces or closes it (no ticket needed).
    netted = -1 if st.acct_i[I_HEDGING] else _netting_row(st, symbol)
    reduces = (
        netted >= 0
        and (st.pos_i[netted, P_TYPE] == POSITION_BUY) != is_buy
        and req_f[R_VOLUME] <= st.pos_f[netted, P_VOLUME] + 1e-9
    )
    rejection, volume = _check_order(
        st,
        symbol,
        order_type,
        target < 0 and not reduces,
        req_f[R_VOLUME],
        req_i[R_TYPE_FILLING],
        False,
    )
    if rejection:
        return _refused(rejection)
    if not st.acct_i[I_TRADE_ALLOWED]:
        return _refused(REJ_TRADE_DISABLED)
    price = st.quote[symbol, Q_ASK] if is_buy else st.quote[symbol, Q_BID]
    exemode = st.sym_i[symbol, S_EXEMODE]
    point = st.sym_f[symbol, S_POINT]
    if (
        exemode == mt5.SYMBOL_TRADE_EXECUTION_INSTANT
        or exemode == mt5.SYMBOL_TRADE_EXECUTION_REQUEST
    ):
        if req_f[R_PRICE] <= 0:
            return _refused(REJ_PRICE)
        if abs(req_f[R_PRICE] - price) > req_i[R_DEVIATION] * point + 1e-9 * price:
            return _refused(REJ_REQUOTE)
    elif st.acct_i[I_SLIPPAGE]:
        slip = st.acct_i[I_SLIPPAGE] * point
        price = _round_price(st, symbol, price + slip if is_buy else price - slip)
    if target >= 0:
        if volume > st.pos_f[target, P_VOLUME] + 1e-9:
            return _refused(REJ_CLOSE_VOLUME)
    elif req_f[R_SL] or req_f[R_TP]:
        rejection = _check_stops(st, symbol, is_buy, price, req_f[R_SL], req_f[R_TP], True)
        if rejection:
            return _refused(rejection)
    fill_volume = volume
    retcode = mt5.TRADE_RETCODE_DONE
    liquidity = st.acct_f[A_LIQUIDITY]
    if not math.isnan(liquidity) and volume > liquidity + 1e-9:
        if req_i[R_TYPE_FILLING] == mt5.ORDER_FILLING_FOK:
            return _refused(REJ_LIQUIDITY)
        step = st.sym_f[symbol, S_VOLUME_STEP]
        fill_volume = _check_volume(st, symbol, math.floor(liquidity / step + 1e-9) * step)
        if math.isnan(fill_volume):
            return _refused(REJ_VOLUME)
        retcode = mt5.TRADE_RETCODE_DONE_PARTIAL
    if _opens_exposure(st, target, symbol, order_type, fill_volume):
        rejection = _check_volume_limit(st, symbol, is_buy, fill_volume)
        if rejection:
            return _refused(rejection)
        rejection = _check_margin(st, symbol, order_type, fill_volume, price)
        if rejection:
            return _refused(rejection)
    return OK, symbol, target, order_type, retcode, volume, price, fill_volume, 0.0, 0.0


@compiled
def _check_pending(st: State, req_f: np.ndarray, req_i: np.ndarray) -> Plan:
    """A pending order: plan (.., symbol, -1, type, time_expiration shown, volume, price, when
    it expires or NaN, 0, 0)."""
    rejection = _check_symbol(st, req_i)
    if rejection:
        return _refused(rejection)
    symbol = req_i[R_SYMBOL]
    order_type = req_i[R_TYPE]
    if order_type < BUY_LIMIT or order_type > SELL_STOP_LIMIT:
        return _refused(REJ_INVALID)
    rejection, volume = _check_order(
        st, symbol, order_type, True, req_f[R_VOLUME], req_i[R_TYPE_FILLING], True
    )
    if rejection:
        return _refused(rejection)
    price = req_f[R_PRICE]
    rejection = _check_pending_prices(
        st, symbol, order_type, price, req_f[R_STOPLIMIT], req_f[R_SL], req_f[R_TP]
    )
    if rejection:
        return _refused(rejection)
    rejection, time_expiration, expires_at = _expiry(
        st, symbol, req_i[R_TYPE_TIME], req_i[R_EXPIRATION]
    )
    if rejection:
        return _refused(rejection)
    limit = st.acct_i[I_LIMIT_ORDERS]
    if limit and st.acct_i[I_ORDERS] >= limit:
        return _refused(REJ_LIMIT_ORDERS)
    rejection = _check_volume_limit(st, symbol, _is_buy(order_type), volume)
    if rejection:
        return _refused(rejection)
    return OK, symbol, -1, order_type, time_expiration, volume, price, expires_at, 0.0, 0.0


@compiled
def _check_sltp(st: State, req_f: np.ndarray, req_i: np.ndarray) -> Plan:
    """New SL/TP of a position: plan (.., symbol, its row, 0, 0, sl, tp, 0, 0, 0)."""
    row = position_row(st, req_i[R_POSITION])
    if row < 0:
        return _refused(REJ_POSITION_CLOSED)
    symbol = st.pos_i[row, P_SYMBOL]
    if not _has_quote(st, symbol):
        return _refused(REJ_NO_PRICES)
    rejection = _check_trade_mode(st, symbol, st.pos_i[row, P_TYPE], False)
    if rejection:
        return _refused(rejection)
    sl, tp = _round_price(st, symbol, req_f[R_SL]), _round_price(st, symbol, req_f[R_TP])
    if sl == st.pos_f[row, P_SL] and tp == st.pos_f[row, P_TP]:
        return _refused(REJ_NO_CHANGES)
    is_buy = st.pos_i[row, P_TYPE] == POSITION_BUY
    rejection = _check_stops(st, symbol, is_buy, 0.0, sl, tp, True)
    if rejection:
        return _refused(rejection)
    rejection = _check_freeze(st, symbol, st.pos_f[row, P_SL], st.pos_f[row, P_TP], is_buy)
    if rejection:
        return _refused(rejection)
    return OK, symbol, row, 0, 0, sl, tp, 0.0, 0.0, 0.0


@compiled_inline
def _pending_row(st: State, req_i: np.ndarray) -> tuple[int, int, int]:
    """The request's pending order, which must have a quote: (rejection, row, symbol)."""
    row = order_row(st, req_i[R_ORDER])
    if row < 0:
        return REJ_ORDER_NOT_FOUND, -1, -1
    symbol = st.ord_i[row, O_SYMBOL]
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES, row, symbol
    return OK, row, symbol


@compiled
def _check_modify(st: State, req_f: np.ndarray, req_i: np.ndarray) -> Plan:
    """A pending order's new levels: plan (.., symbol, its row, 0, time_expiration shown,
    price, stop-limit price, sl, tp, when it expires or NaN)."""
    rejection, row, symbol = _pending_row(st, req_i)
    if rejection:
        return _refused(rejection)
    price = _round_price(st, symbol, req_f[R_PRICE])
    stoplimit = _round_price(st, symbol, req_f[R_STOPLIMIT])
    sl, tp = _round_price(st, symbol, req_f[R_SL]), _round_price(st, symbol, req_f[R_TP])
    unchanged = (
        price == st.ord_f[row, O_PRICE_OPEN]
        and sl == st.ord_f[row, O_SL]
        and tp == st.ord_f[row, O_TP]
        and stoplimit == st.ord_f[row, O_PRICE_STOPLIMIT]
        and req_i[R_TYPE_TIME] == st.ord_i[row, O_TYPE_TIME]
        and req_i[R_EXPIRATION] == st.ord_i[row, O_TIME_EXPIRATION]
    )
    if unchanged:
        return _refused(REJ_NO_CHANGES)
    order_type = st.ord_i[row, O_TYPE]
    rejection = _check_freeze(st, symbol, st.ord_f[row, O_PRICE_OPEN], 0.0, not _is_buy(order_type))
    if rejection:
        return _refused(rejection)
    rejection = _check_pending_prices(st, symbol, order_type, price, stoplimit, sl, tp)
    if rejection:
        return _refused(rejection)
    rejection, time_expiration, expires_at = _expiry(
        st, symbol, req_i[R_TYPE_TIME], req_i[R_EXPIRATION]
    )
    if rejection:
        return _refused(rejection)
    return OK, symbol, row, 0, time_expiration, price, stoplimit, sl, tp, expires_at


@compiled
def _check_remove(st: State, req_f: np.ndarray, req_i: np.ndarray) -> Plan:
    """A pending order's cancellation: plan (.., symbol, its row, 0, ...)."""
    rejection, row, symbol = _pending_row(st, req_i)
    if rejection:
        return _refused(rejection)
    rejection = _check_freeze(
        st, symbol, st.ord_f[row, O_PRICE_OPEN], 0.0, not _is_buy(st.ord_i[row, O_TYPE])
    )
    if rejection:
        return _refused(rejection)
    return OK, symbol, row, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0


@compiled
def _check_close_by(st: State, req_f: np.ndarray, req_i: np.ndarray) -> Plan:
    """A position closed by an opposite one: plan (.., symbol, the first's row, 0, the second's
    row, ...)."""
    if not st.acct_i[I_HEDGING]:
        return _refused(REJ_CLOSE_BY_NETTING)
    first = position_row(st, req_i[R_POSITION])
    second = position_row(st, req_i[R_POSITION_BY])
    if first < 0 or second < 0:
        return _refused(REJ_POSITION_CLOSED)
    symbol = st.pos_i[first, P_SYMBOL]
    if symbol != st.pos_i[second, P_SYMBOL] or st.pos_i[first, P_TYPE] == st.pos_i[second, P_TYPE]:
        return _refused(REJ_INVALID)
    if not _has_quote(st, symbol):
        return _refused(REJ_NO_PRICES)
    if not st.sym_i[symbol, S_ORDER_MODE] & _ORDER_CLOSEBY:
        return _refused(REJ_ORDER_TYPE)
    return OK, symbol, first, 0, second, 0.0, 0.0, 0.0, 0.0, 0.0


# What applying a plan answers: (retcode, deal ticket, order ticket, volume, price, comment).
Done = tuple[int, int, int, float, float, int]


@compiled
def _apply_deal(st: State, req_f: np.ndarray, req_i: np.ndarray, plan: Plan) -> Done:
    _, symbol, target, order_type, retcode, volume, price, fill_volume, _, _ = plan
    _new_order(
        st,
        symbol,
        order_type,
        volume,
        price,
        mt5.ORDER_STATE_STARTED,
        mt5.ORDER_REASON_EXPERT,
        req_i[R_MAGIC],
        req_i[R_POSITION],
        req_i[R_POSITION_BY],
        req_f[R_SL],
        req_f[R_TP],
        req_f[R_STOPLIMIT],
        req_i[R_TYPE_TIME],
        req_i[R_TYPE_FILLING],
        req_i[R_COMMENT],
        math.nan,
    )
    st.work_f[0, O_PRICE_OPEN] = price
    _emit(
        st, st.work_f, st.work_i, 0, EV_PLACED, mt5.TRADE_RETCODE_PLACED, EC_PLACED,
        math.nan, -1, REASON_NONE,
    )  # fmt: skip
    # API orders are an expert's.
    deal = _execute(st, symbol, order_type, fill_volume, price, target, mt5.DEAL_REASON_EXPERT)
    _log_exposure(st, symbol)
    partial = retcode == mt5.TRADE_RETCODE_DONE_PARTIAL
    state = mt5.ORDER_STATE_CANCELED if partial else mt5.ORDER_STATE_FILLED
    _finish_order(st, st.work_f, st.work_i, 0, state)
    _emit(
        st, st.work_f, st.work_i, 0, EV_PARTIALLY_FILLED if partial else EV_FILLED, retcode,
        EC_PARTIAL if partial else EC_EXECUTED, math.nan, deal, REASON_NONE,
    )  # fmt: skip
    return (
        retcode,
        st.deal_i[deal, D_TICKET],
        st.work_i[0, O_TICKET],
        st.deal_f[deal, D_VOLUME],
        st.deal_f[deal, D_PRICE],
        1 if partial else 0,
    )


@compiled
def _apply_pending(st: State, req_f: np.ndarray, req_i: np.ndarray, plan: Plan) -> Done:
    _, symbol, _, order_type, time_expiration, volume, price, expires_at, _, _ = plan
    _new_order(
        st,
        symbol,
        order_type,
        volume,
        price,
        mt5.ORDER_STATE_PLACED,
        mt5.ORDER_REASON_EXPERT,
        req_i[R_MAGIC],
        req_i[R_POSITION],
        req_i[R_POSITION_BY],
        req_f[R_SL],
        req_f[R_TP],
        req_f[R_STOPLIMIT],
        req_i[R_TYPE_TIME],
        req_i[R_TYPE_FILLING],
        req_i[R_COMMENT],
        math.nan,
    )
    st.work_i[0, O_TIME_EXPIRATION] = time_expiration
    st.work_f[0, O_EXPIRES_AT] = expires_at
    row = st.acct_i[I_ORDERS]
    _copy_row(st.ord_f, row, st.work_f, 0, OF_COUNT)
    _copy_row(st.ord_i, row, st.work_i, 0, OI_COUNT)
    st.acct_i[I_ORDERS] = row + 1
    st.active[symbol] += 1
    _emit(
        st, st.ord_f, st.ord_i, row, EV_PLACED, mt5.TRADE_RETCODE_DONE, EC_EXECUTED,
        math.nan, -1, REASON_NONE,
    )  # fmt: skip
    return mt5.TRADE_RETCODE_DONE, 0, st.ord_i[row, O_TICKET], volume, price, 0


@compiled_inline
def _apply_sltp(st: State, plan: Plan) -> Done:
    _, _, row, _, _, sl, tp, _, _, _ = plan
    now = st.acct_f[A_TIME]
    st.pos_f[row, P_SL] = sl
    st.pos_f[row, P_TP] = tp
    st.pos_i[row, P_TIME_UPDATE] = int(now)
    st.pos_i[row, P_TIME_UPDATE_MSC] = _msc(now)
    return mt5.TRADE_RETCODE_DONE, 0, 0, 0.0, 0.0, 0


@compiled_inline
def _apply_modify(st: State, req_i: np.ndarray, plan: Plan) -> Done:
    _, _, row, _, time_expiration, price, stoplimit, sl, tp, expires_at = plan
    st.ord_f[row, O_PRICE_OPEN] = price
    st.ord_f[row, O_PRICE_STOPLIMIT] = stoplimit
    st.ord_f[row, O_SL] = sl
    st.ord_f[row, O_TP] = tp
    st.ord_i[row, O_TYPE_TIME] = req_i[R_TYPE_TIME]
    st.ord_i[row, O_TIME_EXPIRATION] = time_expiration
    st.ord_f[row, O_EXPIRES_AT] = expires_at
    return mt5.TRADE_RETCODE_DONE, 0, st.ord_i[row, O_TICKET], 0.0, 0.0, 0


@compiled
def _apply_remove(st: State, plan: Plan) -> Done:
    row = plan[2]
    ticket = st.ord_i[row, O_TICKET]
    done = _close_order(st, row, mt5.ORDER_STATE_CANCELED)
    _emit(
        st, st.hist_f, st.hist_i, done, EV_CANCELLED, mt5.TRADE_RETCODE_DONE, EC_CANCELLED,
        math.nan, -1, REASON_TRADER,
    )  # fmt: skip
    return mt5.TRADE_RETCODE_DONE, 0, ticket, 0.0, 0.0, 0


@compiled
def _apply_close_by(st: State, req_i: np.ndarray, plan: Plan) -> Done:
    _, symbol, first, _, second, _, _, _, _, _ = plan
    volume = min(st.pos_f[first, P_VOLUME], st.pos_f[second, P_VOLUME])
    price = st.pos_f[second, P_PRICE_OPEN]
    first_id = st.pos_i[first, P_IDENTIFIER]
    second_ticket = st.pos_i[second, P_TICKET]
    _new_order(
        st,
        symbol,
        mt5.ORDER_TYPE_CLOSE_BY,
        volume,
        price,
        mt5.ORDER_STATE_STARTED,
        mt5.ORDER_REASON_EXPERT,
        req_i[R_MAGIC],
        0,
        0,
        0.0,
        0.0,
        0.0,
        0,
        0,
        req_i[R_COMMENT],
        math.nan,
    )
    st.work_i[0, O_POSITION_ID] = first_id
    st.work_i[0, O_POSITION_BY_ID] = st.pos_i[second, P_IDENTIFIER]
    _emit(
        st, st.work_f, st.work_i, 0, EV_PLACED, mt5.TRADE_RETCODE_PLACED, EC_PLACED,
        math.nan, -1, REASON_NONE,
    )  # fmt: skip
    deal_a = _close_volume(
        st, first, volume, price, mt5.DEAL_ENTRY_OUT_BY, mt5.DEAL_REASON_CLIENT, False
    )
    second = position_row(st, second_ticket)  # the first close may have moved it up
    deal_b = _close_volume(
        st, second, volume, price, mt5.DEAL_ENTRY_OUT_BY, mt5.DEAL_REASON_CLIENT, False
    )
    # _close_volume points the order at each closed position in turn; it belongs to the first.
    st.work_i[0, O_POSITION_ID] = first_id
    _log_exposure(st, symbol)
    _finish_order(st, st.work_f, st.work_i, 0, mt5.ORDER_STATE_FILLED)
    for deal in (deal_a, deal_b):
        _emit(
            st, st.work_f, st.work_i, 0, EV_FILLED, mt5.TRADE_RETCODE_DONE, EC_EXECUTED,
            math.nan, deal, REASON_NONE,
        )  # fmt: skip
    return (
        mt5.TRADE_RETCODE_DONE,
        st.deal_i[deal_a, D_TICKET],
        st.work_i[0, O_TICKET],
        volume,
        price,
        0,
    )


@compiled_inline
@python_callable
def send(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    """Execute (or, ``execute=False``, only check) a trade request as an MT5 server would.

    Returns 0 with the reply filled in, or a rejection code (an index of ``REJECTIONS``). Each
    action is resolved and checked into a plan once (``_check_*``); a checked request answers
    whether it would open exposure and the margin it would then use; an executed one is applied
    (``_apply_*``) and answered here.
    """
    action = req_i[R_ACTION]
    if not (
        action == mt5.TRADE_ACTION_DEAL
        or action == mt5.TRADE_ACTION_PENDING
        or action == mt5.TRADE_ACTION_SLTP
        or action == mt5.TRADE_ACTION_MODIFY
        or action == mt5.TRADE_ACTION_REMOVE
        or action == mt5.TRADE_ACTION_CLOSE_BY
    ):
        return REJ_INVALID
    if not st.acct_i[I_TRADE_EXPERT]:
        return REJ_AUTOTRADING
    if action == mt5.TRADE_ACTION_DEAL:
        plan = _check_deal(st, req_f, req_i)
    elif action == mt5.TRADE_ACTION_PENDING:
        plan = _check_pending(st, req_f, req_i)
    elif action == mt5.TRADE_ACTION_SLTP:
        plan = _check_sltp(st, req_f, req_i)
    elif action == mt5.TRADE_ACTION_MODIFY:
        plan = _check_modify(st, req_f, req_i)
    elif action == mt5.TRADE_ACTION_REMOVE:
        plan = _check_remove(st, req_f, req_i)
    else:
        plan = _check_close_by(st, req_f, req_i)
    rejection = plan[0]
    if rejection:
        return rejection
    symbol = plan[1]
    if not execute:
        if action == mt5.TRADE_ACTION_DEAL or action == mt5.TRADE_ACTION_PENDING:
            opens = action == mt5.TRADE_ACTION_PENDING or plan[2] < 0
            reply_i[Y_FILLED] = 1 if opens else 0
            if opens:
                volume = plan[7] if action == mt5.TRADE_ACTION_DEAL else plan[5]
                reply_f[Y_MARGIN] = _margin_after(st, symbol, plan[3], volume, plan[6])
        return OK
    if action == mt5.TRADE_ACTION_DEAL:
        done = _apply_deal(st, req_f, req_i, plan)
    elif action == mt5.TRADE_ACTION_PENDING:
        done = _apply_pending(st, req_f, req_i, plan)
    elif action == mt5.TRADE_ACTION_SLTP:
        done = _apply_sltp(st, plan)
    elif action == mt5.TRADE_ACTION_MODIFY:
        done = _apply_modify(st, req_i, plan)
    elif action == mt5.TRADE_ACTION_REMOVE:
        done = _apply_remove(st, plan)
    else:
        done = _apply_close_by(st, req_i, plan)
    retcode, deal, order, volume, price, comment = done
    return _reply(st, reply_f, reply_i, symbol, retcode, deal, order, volume, price, comment)
