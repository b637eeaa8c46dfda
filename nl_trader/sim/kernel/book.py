"""The book: order events and the ledgers, orders in and out of the book, deals, and positions
opened, added to, reduced, reversed and closed (netting and hedging)."""

from __future__ import annotations

import math

import numpy as np

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline
from nl_trader.numeric import round_to
from nl_trader.sim.kernel.layout import (
    A_BALANCE,
    A_TIME,
    D_COMMENT,
    D_COMMENT_VALUE,
    D_COMMISSION,
    D_ENTRY,
    D_FEE,
    D_MAGIC,
    D_ORDER,
    D_POSITION_ID,
    D_PRICE,
    D_PROFIT,
    D_REASON,
    D_SWAP,
    D_SYMBOL,
    D_TICKET,
    D_TIME,
    D_TIME_MSC,
    D_TYPE,
    D_VOLUME,
    E_COMMENT,
    E_COMMENT_VALUE,
    E_DEAL,
    E_REASON,
    E_RETCODE,
    E_STATE,
    E_TIME,
    I_CURRENCY,
    I_DEALS,
    I_EMIT,
    I_EVENTS,
    I_EXPOSURE,
    I_HEDGING,
    I_HISTORY,
    I_NEXT_DEAL,
    I_NEXT_ORDER,
    I_ORDERS,
    I_POSITIONS,
    I_RECORD,
    O_COMMENT,
    O_COMMENT_VALUE,
    O_EXPIRES_AT,
    O_MAGIC,
    O_POSITION_BY_ID,
    O_POSITION_ID,
    O_PRICE_CURRENT,
    O_PRICE_OPEN,
    O_PRICE_STOPLIMIT,
    O_REASON,
    O_SL,
    O_STATE,
    O_SYMBOL,
    O_TICKET,
    O_TIME_DONE,
    O_TIME_DONE_MSC,
    O_TIME_EXPIRATION,
    O_TIME_SETUP,
    O_TIME_SETUP_MSC,
    O_TP,
    O_TYPE,
    O_TYPE_FILLING,
    O_TYPE_TIME,
    O_VOLUME_CURRENT,
    O_VOLUME_INITIAL,
    OF_COUNT,
    OI_COUNT,
    P_COMMENT,
    P_COMMENT_VALUE,
    P_IDENTIFIER,
    P_MAGIC,
    P_PRICE_CURRENT,
    P_PRICE_OPEN,
    P_PROFIT,
    P_REASON,
    P_SL,
    P_SWAP,
    P_SYMBOL,
    P_TICKET,
    P_TIME,
    P_TIME_MSC,
    P_TIME_UPDATE,
    P_TIME_UPDATE_MSC,
    P_TP,
    P_TYPE,
    P_VOLUME,
    PF_COUNT,
    PI_COUNT,
    POSITION_BUY,
    Q_ASK,
    Q_BID,
    S_DIGITS,
    S_PROFIT,
    State,
    _copy_row,
    _has_quote,
    _is_buy,
    _msc,
    _netting_row,
    _round_price,
)
from nl_trader.sim.kernel.money import (
    _commission,
    _position_profit,
)


# ---- events and ledgers ----------------------------------------------------------------------
@compiled_inline
def _emit(
    st: State,
    of: np.ndarray,
    oi: np.ndarray,
    row: int,
    state: int,
    retcode: int,
    comment: int,
    comment_value: float,
    deal: int,
    reason: int,
) -> None:
    """Record an order event, with the order as it is now (only when someone listens)."""
    if not st.acct_i[I_EMIT]:
        return
    event = st.acct_i[I_EVENTS]
    _copy_row(st.ev_f, event, of, row, OF_COUNT)
    _copy_row(st.ev_i, event, oi, row, OI_COUNT)
    st.ev_f[event, E_TIME] = st.acct_f[A_TIME]
    st.ev_f[event, E_COMMENT_VALUE] = comment_value
    st.ev_i[event, E_STATE] = state
    st.ev_i[event, E_RETCODE] = retcode
    st.ev_i[event, E_COMMENT] = comment
    st.ev_i[event, E_DEAL] = deal
    st.ev_i[event, E_REASON] = reason
    st.acct_i[I_EVENTS] = event + 1


@compiled_inline
def _log_exposure(st: State, symbol: int) -> None:
    """Record (time, symbol, long lots, long lots x open price, short lots, short lots x open
    price) after a deal: enough to value the book at any later price without replaying it."""
    if not st.acct_i[I_RECORD]:
        return
    long_lots = long_cost = short_lots = short_cost = 0.0
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] != symbol:
            continue
        volume = st.pos_f[row, P_VOLUME]
        if st.pos_i[row, P_TYPE] == POSITION_BUY:
            long_lots += volume
            long_cost += volume * st.pos_f[row, P_PRICE_OPEN]
        else:
            short_lots += volume
            short_cost += volume * st.pos_f[row, P_PRICE_OPEN]
    entry = st.acct_i[I_EXPOSURE]
    st.exposure[entry, 0] = st.acct_f[A_TIME]
    st.exposure[entry, 1] = symbol
    st.exposure[entry, 2] = long_lots
    st.exposure[entry, 3] = long_cost
    st.exposure[entry, 4] = short_lots
    st.exposure[entry, 5] = short_cost
    st.acct_i[I_EXPOSURE] = entry + 1


# ---- orders ----------------------------------------------------------------------------------
@compiled_inline
def _new_order(
    st: State,
    symbol: int,
    order_type: int,
    volume: float,
    price: float,
    state: int,
    reason: int,
    magic: int,
    position: int,
    position_by: int,
    sl: float,
    tp: float,
    stoplimit: float,
    type_time: int,
    type_filling: int,
    comment: int,
    comment_value: float,
) -> None:
    """Write a new order into the scratch row (``work``)."""
    now = st.acct_f[A_TIME]
    ticket = st.acct_i[I_NEXT_ORDER]
    st.acct_i[I_NEXT_ORDER] = ticket + 1
    of, oi = st.work_f, st.work_i
    oi[0, O_TICKET] = ticket
    oi[0, O_TIME_SETUP] = int(now)
    oi[0, O_TIME_SETUP_MSC] = _msc(now)
    oi[0, O_TIME_DONE] = 0
    oi[0, O_TIME_DONE_MSC] = 0
    oi[0, O_TIME_EXPIRATION] = 0
    oi[0, O_TYPE] = order_type
    oi[0, O_TYPE_TIME] = type_time
    oi[0, O_TYPE_FILLING] = type_filling
    oi[0, O_STATE] = state
    oi[0, O_MAGIC] = magic
    oi[0, O_POSITION_ID] = position
    oi[0, O_POSITION_BY_ID] = position_by
    oi[0, O_REASON] = reason
    oi[0, O_SYMBOL] = symbol
    oi[0, O_COMMENT] = comment
    of[0, O_VOLUME_INITIAL] = volume
    of[0, O_VOLUME_CURRENT] = volume
    of[0, O_PRICE_OPEN] = _round_price(st, symbol, price)
    of[0, O_SL] = _round_price(st, symbol, sl)
    of[0, O_TP] = _round_price(st, symbol, tp)
    of[0, O_PRICE_CURRENT] = price
    of[0, O_PRICE_STOPLIMIT] = _round_price(st, symbol, stoplimit)
    of[0, O_EXPIRES_AT] = math.nan
    of[0, O_COMMENT_VALUE] = comment_value


@compiled_inline
def _finish_order(st: State, of: np.ndarray, oi: np.ndarray, row: int, state: int) -> int:
    """Close the order's life (state, time done) and file it in the history; returns its row
    there."""
    now = st.acct_f[A_TIME]
    oi[row, O_STATE] = state
    oi[row, O_TIME_DONE] = int(now)
    oi[row, O_TIME_DONE_MSC] = _msc(now)
    done = st.acct_i[I_HISTORY]
    _copy_row(st.hist_f, done, of, row, OF_COUNT)
    _copy_row(st.hist_i, done, oi, row, OI_COUNT)
    st.acct_i[I_HISTORY] = done + 1
    return done


@compiled_inline
def _drop_order(st: State, row: int) -> None:
    """Take a pending order out of the book, keeping the others' order."""
    count = st.acct_i[I_ORDERS]
    st.active[st.ord_i[row, O_SYMBOL]] -= 1
    for k in range(row, count - 1):
        _copy_row(st.ord_f, k, st.ord_f, k + 1, OF_COUNT)
        _copy_row(st.ord_i, k, st.ord_i, k + 1, OI_COUNT)
    st.acct_i[I_ORDERS] = count - 1


@compiled_inline
def _take_order(st: State, row: int) -> None:
    """Move a pending order to the scratch row and out of the book (to fill or close it)."""
    _copy_row(st.work_f, 0, st.ord_f, row, OF_COUNT)
    _copy_row(st.work_i, 0, st.ord_i, row, OI_COUNT)
    _drop_order(st, row)


@compiled
def _close_order(st: State, row: int, state: int) -> int:
    """A pending order leaves the book (cancelled, expired, rejected): the scratch row holds it
    after, as the history does."""
    _take_order(st, row)
    return _finish_order(st, st.work_f, st.work_i, 0, state)


# ---- deals and positions ---------------------------------------------------------------------
@compiled_inline
def _new_deal(
    st: State,
    deal_type: int,
    entry: int,
    position_id: int,
    reason: int,
    volume: float,
    price: float,
    commission: float,
    swap: float,
    deal_profit: float,
) -> int:
    """Record a deal of the scratch order; its money goes to the balance. Returns its row."""
    now = st.acct_f[A_TIME]
    row = st.acct_i[I_DEALS]
    st.acct_i[I_DEALS] = row + 1
    ticket = st.acct_i[I_NEXT_DEAL]
    st.acct_i[I_NEXT_DEAL] = ticket + 1
    oi = st.work_i
    st.deal_i[row, D_TICKET] = ticket
    st.deal_i[row, D_ORDER] = oi[0, O_TICKET]
    st.deal_i[row, D_TIME] = int(now)
    st.deal_i[row, D_TIME_MSC] = _msc(now)
    st.deal_i[row, D_TYPE] = deal_type
    st.deal_i[row, D_ENTRY] = entry
    st.deal_i[row, D_MAGIC] = oi[0, O_MAGIC]
    st.deal_i[row, D_POSITION_ID] = position_id
    st.deal_i[row, D_REASON] = reason
    st.deal_i[row, D_SYMBOL] = oi[0, O_SYMBOL]
    st.deal_i[row, D_COMMENT] = oi[0, O_COMMENT]
    charged = round_to(-commission, 2) + 0.0
    swapped = round_to(swap, 2) + 0.0
    earned = round_to(deal_profit, 2) + 0.0
    st.deal_f[row, D_VOLUME] = volume
    st.deal_f[row, D_PRICE] = price
    st.deal_f[row, D_COMMISSION] = charged
    st.deal_f[row, D_SWAP] = swapped
    st.deal_f[row, D_PROFIT] = earned
    st.deal_f[row, D_FEE] = 0.0
    st.deal_f[row, D_COMMENT_VALUE] = st.work_f[0, O_COMMENT_VALUE]
    st.acct_f[A_BALANCE] += charged + swapped + earned
    return row


@compiled_inline
def _revalue(st: State, symbol: int) -> None:
    if not _has_quote(st, symbol):
        return
    bid, ask = st.quote[symbol, Q_BID], st.quote[symbol, Q_ASK]
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] == symbol:
            current = bid if st.pos_i[row, P_TYPE] == POSITION_BUY else ask
            st.pos_f[row, P_PRICE_CURRENT] = current
            st.pos_f[row, P_PROFIT] = round_to(
                _position_profit(st, row, current, st.pos_f[row, P_VOLUME]), 2
            )


@compiled_inline
def _revalue_converted(st: State, moved: int) -> None:
    """Positions whose profit converts through a quote (EURJPY via USDJPY) move with it."""
    account = st.acct_i[I_CURRENCY]
    count = st.acct_i[I_POSITIONS]
    seen = st.scratch_i
    seen[0] = moved
    known = 1
    for row in range(count):
        symbol = st.pos_i[row, P_SYMBOL]
        fresh = True
        for k in range(known):
            if seen[k] == symbol:
                fresh = False
                break
        if fresh:
            seen[known] = symbol
            known += 1
            if st.sym_i[symbol, S_PROFIT] != account:
                _revalue(st, symbol)


@compiled_inline
def _open_position(
    st: State, symbol: int, is_buy: bool, volume: float, price: float, identifier: int
) -> int:
    """Open a position from the scratch order; returns its row."""
    now = st.acct_f[A_TIME]
    oi, of = st.work_i, st.work_f
    reason = (
        mt5.POSITION_REASON_CLIENT
        if oi[0, O_REASON] == mt5.ORDER_REASON_CLIENT
        else mt5.POSITION_REASON_EXPERT
    )
    row = st.acct_i[I_POSITIONS]
    st.acct_i[I_POSITIONS] = row + 1
    st.pos_i[row, P_TICKET] = oi[0, O_TICKET]
    st.pos_i[row, P_TIME] = int(now)
    st.pos_i[row, P_TIME_MSC] = _msc(now)
    st.pos_i[row, P_TIME_UPDATE] = int(now)
    st.pos_i[row, P_TIME_UPDATE_MSC] = _msc(now)
    st.pos_i[row, P_TYPE] = mt5.POSITION_TYPE_BUY if is_buy else mt5.POSITION_TYPE_SELL
    st.pos_i[row, P_MAGIC] = oi[0, O_MAGIC]
    st.pos_i[row, P_IDENTIFIER] = identifier
    st.pos_i[row, P_REASON] = reason
    st.pos_i[row, P_SYMBOL] = symbol
    st.pos_i[row, P_COMMENT] = oi[0, O_COMMENT]
    st.pos_f[row, P_VOLUME] = volume
    st.pos_f[row, P_PRICE_OPEN] = price
    st.pos_f[row, P_SL] = of[0, O_SL]
    st.pos_f[row, P_TP] = of[0, O_TP]
    st.pos_f[row, P_PRICE_CURRENT] = price
    st.pos_f[row, P_SWAP] = 0.0
    st.pos_f[row, P_PROFIT] = 0.0
    st.pos_f[row, P_COMMENT_VALUE] = of[0, O_COMMENT_VALUE]
    st.active[symbol] += 1
    _revalue(st, symbol)
    return row


@compiled_inline
def _drop_position(st: State, row: int) -> None:
    count = st.acct_i[I_POSITIONS]
    st.active[st.pos_i[row, P_SYMBOL]] -= 1
    for k in range(row, count - 1):
        _copy_row(st.pos_f, k, st.pos_f, k + 1, PF_COUNT)
        _copy_row(st.pos_i, k, st.pos_i, k + 1, PI_COUNT)
    st.acct_i[I_POSITIONS] = count - 1


@compiled_inline
def _close_volume(
    st: State,
    row: int,
    volume: float,
    price: float,
    entry: int,
    reason: int,
    charge_commission: bool,
) -> int:
    """Close ``volume`` of the position at ``row`` with the scratch order; returns the deal's
    row."""
    symbol = st.pos_i[row, P_SYMBOL]
    held = st.pos_f[row, P_VOLUME]
    volume = min(volume, held)
    gain = _position_profit(st, row, price, volume)
    share = volume / held
    swap = st.pos_f[row, P_SWAP] * share
    closing_buy = st.pos_i[row, P_TYPE] == mt5.POSITION_TYPE_SELL
    identifier = st.pos_i[row, P_IDENTIFIER]
    st.work_i[0, O_POSITION_ID] = identifier
    deal = _new_deal(
        st,
        mt5.DEAL_TYPE_BUY if closing_buy else mt5.DEAL_TYPE_SELL,
        entry,
        identifier,
        reason,
        volume,
        price,
        _commission(st, symbol, volume) if charge_commission else 0.0,
        swap,
        gain,
    )
    remaining = round_to(held - volume, 8)
    if remaining <= 1e-9:
        _drop_position(st, row)
    else:
        now = st.acct_f[A_TIME]
        st.pos_f[row, P_VOLUME] = remaining
        st.pos_f[row, P_SWAP] -= swap
        st.pos_i[row, P_TIME_UPDATE] = int(now)
        _revalue(st, symbol)
    return deal


@compiled
def _net(
    st: State, row: int, symbol: int, order_type: int, volume: float, price: float, reason: int
) -> int:
    """Netting: add to, reduce, close or reverse the one position of the symbol."""
    is_buy = _is_buy(order_type)
    identifier = st.pos_i[row, P_IDENTIFIER]
    st.work_i[0, O_POSITION_ID] = identifier
    held = st.pos_f[row, P_VOLUME]
    same_side = (st.pos_i[row, P_TYPE] == POSITION_BUY) == is_buy
    deal_type = mt5.DEAL_TYPE_BUY if is_buy else mt5.DEAL_TYPE_SELL
    if same_side:
        total = held + volume
        average = (st.pos_f[row, P_PRICE_OPEN] * held + price * volume) / total
        digits = st.sym_i[symbol, S_DIGITS]
        st.pos_f[row, P_PRICE_OPEN] = round_to(average, digits) if digits < 8 else average
        st.pos_f[row, P_VOLUME] = round_to(total, 8)
        st.pos_i[row, P_TIME_UPDATE] = int(st.acct_f[A_TIME])
        if st.work_f[0, O_SL] or st.work_f[0, O_TP]:
            st.pos_f[row, P_SL] = st.work_f[0, O_SL]
            st.pos_f[row, P_TP] = st.work_f[0, O_TP]
        deal = _new_deal(
            st,
            deal_type,
            mt5.DEAL_ENTRY_IN,
            identifier,
            reason,
            volume,
            price,
            _commission(st, symbol, volume),
            0.0,
            0.0,
        )
        _revalue(st, symbol)
        return deal
    if volume <= held + 1e-9:
        return _close_volume(st, row, volume, price, mt5.DEAL_ENTRY_OUT, reason, True)
    # Reversal: close the old volume and open the rest the other way, keeping the identifier.
    rest = round_to(volume - held, 8)
    gain = _position_profit(st, row, price, held)
    swap = st.pos_f[row, P_SWAP]
    _drop_position(st, row)
    deal = _new_deal(
        st,
        deal_type,
        mt5.DEAL_ENTRY_INOUT,
        identifier,
        reason,
        volume,
        price,
        _commission(st, symbol, volume),
        swap,
        gain,
    )
    _open_position(st, symbol, is_buy, rest, price, identifier)
    return deal


@compiled_inline
def _opens_exposure(
    st: State, position_row_: int, symbol: int, order_type: int, volume: float
) -> bool:
    if position_row_ >= 0:
        return False
    if st.acct_i[I_HEDGING]:
        return True
    existing = _netting_row(st, symbol)
    if existing < 0:
        return True
    same_side = (st.pos_i[existing, P_TYPE] == POSITION_BUY) == _is_buy(order_type)
    return same_side or volume > st.pos_f[existing, P_VOLUME] + 1e-9


@compiled_inline
def _execute(
    st: State, symbol: int, order_type: int, volume: float, price: float, target: int, reason: int
) -> int:
    """Turn a fill of the scratch order into a deal and apply it to the positions (netting or
    hedging); ``target`` is the row of the position it closes, -1 none. Returns the deal's row."""
    of, oi = st.work_f, st.work_i
    of[0, O_VOLUME_CURRENT] = round_to(of[0, O_VOLUME_INITIAL] - volume, 8)
    of[0, O_PRICE_CURRENT] = price
    if target >= 0:
        oi[0, O_POSITION_ID] = st.pos_i[target, P_IDENTIFIER]
        return _close_volume(st, target, volume, price, mt5.DEAL_ENTRY_OUT, reason, True)
    is_buy = _is_buy(order_type)
    if not st.acct_i[I_HEDGING]:
        existing = _netting_row(st, symbol)
        if existing >= 0:
            return _net(st, existing, symbol, order_type, volume, price, reason)
    ticket = oi[0, O_TICKET]
    oi[0, O_POSITION_ID] = ticket
    deal = _new_deal(
        st,
        mt5.DEAL_TYPE_BUY if is_buy else mt5.DEAL_TYPE_SELL,
        mt5.DEAL_ENTRY_IN,
        ticket,
        reason,
        volume,
        price,
        _commission(st, symbol, volume),
        0.0,
        0.0,
    )
    _open_position(st, symbol, is_buy, volume, price, ticket)
    return deal
