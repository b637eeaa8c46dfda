"""Money: currency conversion, profit, equity and margin (MT5's rules, hedged margin included)."""

from __future__ import annotations

import math

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline, python_callable
from nl_trader.numeric import round_to
from nl_trader.sim.kernel.layout import (
    A_BALANCE,
    A_LEVERAGE,
    I_CURRENCY,
    I_HEDGING,
    I_MISSING_FROM,
    I_MISSING_TO,
    I_POSITIONS,
    OK,
    P_PRICE_OPEN,
    P_PROFIT,
    P_SWAP,
    P_SYMBOL,
    P_TYPE,
    P_VOLUME,
    POSITION_BUY,
    Q_ASK,
    Q_BID,
    Q_TIME,
    REJ_NO_MONEY,
    S_BASE,
    S_CALC_MODE,
    S_COMMISSION,
    S_CONTRACT,
    S_MARGIN,
    S_MARGIN_HEDGED,
    S_MARGIN_INITIAL,
    S_PROFIT,
    SELL,
    ConversionMissing,
    State,
    _has_quote,
    _is_buy,
    _netting_row,
)


# ---- money -----------------------------------------------------------------------------------
@compiled_inline
def _pair_rate(st: State, source: int, target: int) -> float:
    for symbol in range(st.sym_i.shape[0]):
        if not _has_quote(st, symbol):
            continue
        base, profit = st.sym_i[symbol, S_BASE], st.sym_i[symbol, S_PROFIT]
        if base == source and profit == target:
            return st.quote[symbol, Q_BID]
        if base == target and profit == source:
            return 1.0 / st.quote[symbol, Q_ASK]
    return math.nan


@compiled_inline
def _direct_rate(st: State, source: int, target: int) -> float:
    quoted = _pair_rate(st, source, target)
    if not math.isnan(quoted):
        return quoted
    if not math.isnan(st.fallback[source, target]):
        return st.fallback[source, target]
    if not math.isnan(st.fallback[target, source]):
        return 1.0 / st.fallback[target, source]
    return math.nan


@compiled
@python_callable
def rate(st: State, source: int, target: int) -> float:
    """How many units of ``target`` one unit of ``source`` is worth at current quotes."""
    if source == target:
        return 1.0
    direct = _pair_rate(st, source, target)
    if not math.isnan(direct):
        return direct
    direct = _direct_rate(st, source, target)
    if not math.isnan(direct):
        return direct
    for via in st.vias:
        if via in (source, target):
            continue
        usable = st.fallback_code[via] != 0
        if not usable:
            for symbol in range(st.sym_i.shape[0]):
                if _has_quote(st, symbol) and (
                    st.sym_i[symbol, S_BASE] == via or st.sym_i[symbol, S_PROFIT] == via
                ):
                    usable = True
                    break
        if not usable:
            continue
        first = _direct_rate(st, source, via)
        second = _direct_rate(st, via, target)
        if not math.isnan(first) and not math.isnan(second):
            return first * second
    st.acct_i[I_MISSING_FROM] = source
    st.acct_i[I_MISSING_TO] = target
    raise ConversionMissing()


@compiled_inline
def _to_account(st: State, currency: int) -> float:
    """``rate`` to the account currency, worked out once per set of quotes (``conv``)."""
    known = st.conv[currency]
    if known == known:  # not NaN
        return known
    known = rate(st, currency, st.acct_i[I_CURRENCY])
    st.conv[currency] = known
    return known


@compiled_inline
def _set_quote_row(st: State, symbol: int, time_s: float, bid: float, ask: float) -> None:
    """A new quote for ``symbol``; the conversions worked out at the old ones are forgotten."""
    st.quote[symbol, Q_TIME] = time_s
    st.quote[symbol, Q_BID] = bid
    st.quote[symbol, Q_ASK] = ask
    for currency in range(st.conv.shape[0]):
        st.conv[currency] = math.nan


@compiled_inline
def _position_profit(st: State, row: int, price: float, volume: float) -> float:
    symbol = st.pos_i[row, P_SYMBOL]
    move = price - st.pos_f[row, P_PRICE_OPEN]
    if st.pos_i[row, P_TYPE] != POSITION_BUY:
        move = -move
    raw = move * volume * st.sym_f[symbol, S_CONTRACT]
    return raw * _to_account(st, st.sym_i[symbol, S_PROFIT])


@compiled
@python_callable
def calc_profit(
    st: State, order_type: int, symbol: int, volume: float, price_open: float, price_close: float
) -> float:
    """MT5's ``order_calc_profit``: profit in account currency (negative for a loss)."""
    move = price_close - price_open
    if order_type == SELL:
        move = -move
    raw = move * volume * st.sym_f[symbol, S_CONTRACT]
    return round_to(raw * _to_account(st, st.sym_i[symbol, S_PROFIT]), 2)


@compiled_inline
@python_callable
def profit(st: State) -> float:
    """Floating profit of open positions in account currency (swaps included, as MT5 shows)."""
    total = 0.0
    for row in range(st.acct_i[I_POSITIONS]):
        total += st.pos_f[row, P_PROFIT] + st.pos_f[row, P_SWAP]
    return total


@compiled_inline
@python_callable
def equity(st: State) -> float:
    return st.acct_f[A_BALANCE] + profit(st)


@compiled_inline
@python_callable
def margin_per_lot(st: State, symbol: int, price: float) -> float:
    mode = st.sym_i[symbol, S_CALC_MODE]
    leverage = st.acct_f[A_LEVERAGE]
    contract = st.sym_f[symbol, S_CONTRACT]
    if mode == mt5.SYMBOL_CALC_MODE_FOREX:
        return contract / leverage * _to_account(st, st.sym_i[symbol, S_MARGIN])
    if mode == mt5.SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE:
        return contract * _to_account(st, st.sym_i[symbol, S_MARGIN])
    if mode == mt5.SYMBOL_CALC_MODE_CFDLEVERAGE:
        value = contract * price / leverage
        return value * _to_account(st, st.sym_i[symbol, S_PROFIT])
    initial = st.sym_f[symbol, S_MARGIN_INITIAL]
    value = contract * price * (initial if initial else 1.0)
    return value * _to_account(st, st.sym_i[symbol, S_PROFIT])


@compiled_inline
def _ask_or_zero(st: State, symbol: int) -> float:
    return st.quote[symbol, Q_ASK] if _has_quote(st, symbol) else 0.0


@compiled
def _margin_for(
    st: State, skip_row: int, extra_symbol: int, extra_buy: bool, extra_lots: float
) -> float:
    """Margin of the positions (but ``skip_row``) plus one extra item (``extra_symbol`` >= 0);
    hedged volume uses ``margin_hedged`` (MT5's rule). Symbols are summed in the order they
    first appear, positions first."""
    count = st.acct_i[I_POSITIONS]
    symbols = st.scratch_i
    buys = st.scratch_f[:, 0]
    sells = st.scratch_f[:, 1]
    seen = 0
    for item in range(count + 1):
        if item < count:
            if item == skip_row:
                continue
            symbol = st.pos_i[item, P_SYMBOL]
            is_buy = st.pos_i[item, P_TYPE] == POSITION_BUY
            lots = st.pos_f[item, P_VOLUME]
        else:
            if extra_symbol < 0:
                continue
            symbol, is_buy, lots = extra_symbol, extra_buy, extra_lots
        slot = -1
        for k in range(seen):
            if symbols[k] == symbol:
                slot = k
                break
        if slot < 0:
            slot = seen
            symbols[slot] = symbol
            buys[slot] = sells[slot] = 0.0
            seen += 1
        if is_buy:
            buys[slot] += lots
        else:
            sells[slot] += lots
    total = 0.0
    for k in range(seen):
        symbol = symbols[k]
        per_lot = margin_per_lot(st, symbol, _ask_or_zero(st, symbol))
        hedged = min(buys[k], sells[k])
        hedged_margin = st.sym_f[symbol, S_MARGIN_HEDGED]
        hedged_share = hedged_margin / st.sym_f[symbol, S_CONTRACT] if hedged_margin else 1.0
        total += (abs(buys[k] - sells[k]) + 2 * hedged * hedged_share) * per_lot
    return total


@compiled_inline
@python_callable
def margin(st: State) -> float:
    count = st.acct_i[I_POSITIONS]
    if count == 1:  # the usual book: no hedged volume to share out
        symbol = st.pos_i[0, P_SYMBOL]
        return st.pos_f[0, P_VOLUME] * margin_per_lot(st, symbol, _ask_or_zero(st, symbol))
    return _margin_for(st, -1, -1, False, 0.0) if count else 0.0


@compiled_inline
def _margin_after(st: State, symbol: int, order_type: int, volume: float, price: float) -> float:
    is_buy = _is_buy(order_type)
    if st.acct_i[I_HEDGING]:
        return _margin_for(st, -1, symbol, is_buy, volume)
    existing = _netting_row(st, symbol)
    if existing < 0:
        return _margin_for(st, -1, symbol, is_buy, volume)
    held = st.pos_f[existing, P_VOLUME]
    held_buy = st.pos_i[existing, P_TYPE] == POSITION_BUY
    same = held_buy == is_buy
    net = held + volume if same else abs(held - volume)
    side = held_buy if same or held >= volume else is_buy
    if net > 1e-9:
        return _margin_for(st, existing, symbol, side, net)
    return _margin_for(st, existing, -1, False, 0.0)


@compiled_inline
def _commission(st: State, symbol: int, volume: float) -> float:
    return st.sym_f[symbol, S_COMMISSION] * volume


@compiled_inline
def _check_margin(st: State, symbol: int, order_type: int, volume: float, price: float) -> int:
    needed = _margin_after(st, symbol, order_type, volume, price)
    commission = _commission(st, symbol, volume)
    if equity(st) - commission - needed < 0:
        return REJ_NO_MONEY
    return OK


@compiled_inline
def _net_lots(st: State, symbol: int) -> float:
    total = 0.0
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] == symbol:
            volume = st.pos_f[row, P_VOLUME]
            total += volume if st.pos_i[row, P_TYPE] == POSITION_BUY else -volume
    return total
