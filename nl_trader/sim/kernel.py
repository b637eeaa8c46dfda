"""The fill engine's core: the simulated trade server's state and rules, compiled with numba.

``SimBroker`` (broker.py) is the product's one simulated broker; this module is its engine room.
The broker's state lives in the numpy tables of ``State`` and every rule that changes it (request
checks, fills, stops, expiries, stop-outs, swaps, margin, currency conversion) is a function here,
so that the order API, the fake terminal and compiled backtest loops run the same code.
The rules themselves are documented in broker.py's module docstring.

Layout: tables are row-per-record float64 and int64 pairs with the column indices below; counts
and ticket counters live in ``acct_i``. Text (symbols, comments) is held by the broker as ids:
a comment id >= 0 indexes the broker's text table, a negative one is a comment this module
writes (``[sl 1.0842]``) with its number in the row's comment-value column. Tables are filled in
insertion order, as MT5 lists records, and removal keeps that order. The caller keeps room in
the tables (``SimBroker.reserve``, ``backtest.loop.has_room``); a function here never grows them.

A rejected request returns a rejection code (an index of ``REJECTIONS``), 0 when accepted.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline, python_callable
from nl_trader.numeric import round_to, round_to_inline, snap_to_step

DAY_S = 86_400

# ---- account: acct_f ----
A_BALANCE = 0
A_TIME = 1
A_LOWEST = 2  # lowest equity along the path since reset; NaN = not tracked
A_LEVERAGE = 3
A_SO_SO = 4
A_LIQUIDITY = 5  # lots one deal can fill; NaN = unlimited
A_COUNT = 6
# ---- account: acct_i ----
I_HEDGING = 0
I_TRADE_ALLOWED = 1
I_TRADE_EXPERT = 2
I_LIMIT_ORDERS = 3
I_NEXT_ORDER = 4
I_NEXT_DEAL = 5
I_POSITIONS = 6
I_ORDERS = 7
I_DEALS = 8
I_HISTORY = 9
I_EVENTS = 10
I_EXPOSURE = 11
I_SWAPS = 12
I_RECORD = 13  # keep the exposure and swap ledgers (backtests)
I_EMIT = 14  # record events (someone listens)
I_CONSERVATIVE = 15  # intrabar path: the adverse extreme first
I_SLIPPAGE = 16  # points
I_CURRENCY = 17  # the account currency's index
I_MISSING_FROM = 18  # the conversion that failed (see ConversionMissing)
I_MISSING_TO = 19
I_COUNT = 20
# ---- symbols: sym_f ----
S_POINT = 0
S_CONTRACT = 1
S_VOLUME_MIN = 2
S_VOLUME_MAX = 3
S_VOLUME_STEP = 4
S_VOLUME_LIMIT = 5
S_COMMISSION = 6
S_SWAP_LONG = 7
S_SWAP_SHORT = 8
S_MARGIN_INITIAL = 9
S_MARGIN_HEDGED = 10
SF_COUNT = 11
# ---- symbols: sym_i ----
S_DIGITS = 0
S_TRADE_MODE = 1
S_ORDER_MODE = 2
S_FILLING = 3
S_EXEMODE = 4
S_EXPIRATION = 5
S_STOPS_LEVEL = 6
S_FREEZE_LEVEL = 7
S_SWAP_MODE = 8
S_SWAP3 = 9
S_CALC_MODE = 10
S_BASE = 11
S_PROFIT = 12
S_MARGIN = 13
SI_COUNT = 14
# ---- quotes: quote[s] ----
Q_TIME = 0
Q_BID = 1  # NaN: no quote yet
Q_ASK = 2
# ---- positions ----
P_VOLUME = 0
P_PRICE_OPEN = 1
P_SL = 2
P_TP = 3
P_PRICE_CURRENT = 4
P_SWAP = 5
P_PROFIT = 6
P_COMMENT_VALUE = 7
PF_COUNT = 8
P_TICKET = 0
P_TIME = 1
P_TIME_MSC = 2
P_TIME_UPDATE = 3
P_TIME_UPDATE_MSC = 4
P_TYPE = 5
P_MAGIC = 6
P_IDENTIFIER = 7
P_REASON = 8
P_SYMBOL = 9
P_COMMENT = 10
PI_COUNT = 11
# ---- orders (pending, history, the scratch row, event snapshots) ----
O_VOLUME_INITIAL = 0
O_VOLUME_CURRENT = 1
O_PRICE_OPEN = 2
O_SL = 3
O_TP = 4
O_PRICE_CURRENT = 5
O_PRICE_STOPLIMIT = 6
O_EXPIRES_AT = 7  # NaN: never
O_COMMENT_VALUE = 8
OF_COUNT = 9
O_TICKET = 0
O_TIME_SETUP = 1
O_TIME_SETUP_MSC = 2
O_TIME_DONE = 3
O_TIME_DONE_MSC = 4
O_TIME_EXPIRATION = 5
O_TYPE = 6
O_TYPE_TIME = 7
O_TYPE_FILLING = 8
O_STATE = 9
O_MAGIC = 10
O_POSITION_ID = 11
O_POSITION_BY_ID = 12
O_REASON = 13
O_SYMBOL = 14
O_COMMENT = 15
OI_COUNT = 16
# ---- deals ----
D_VOLUME = 0
D_PRICE = 1
D_COMMISSION = 2
D_SWAP = 3
D_PROFIT = 4
D_FEE = 5
D_COMMENT_VALUE = 6
DF_COUNT = 7
D_TICKET = 0
D_ORDER = 1
D_TIME = 2
D_TIME_MSC = 3
D_TYPE = 4
D_ENTRY = 5
D_MAGIC = 6
D_POSITION_ID = 7
D_REASON = 8
D_SYMBOL = 9
D_COMMENT = 10
DI_COUNT = 11
# ---- events: the order's row as it was, then these ----
E_TIME = OF_COUNT
E_COMMENT_VALUE = OF_COUNT + 1
EF_COUNT = OF_COUNT + 2
E_STATE = OI_COUNT
E_RETCODE = OI_COUNT + 1
E_COMMENT = OI_COUNT + 2
E_DEAL = OI_COUNT + 3  # the deal's row, -1 none
E_REASON = OI_COUNT + 4
EI_COUNT = OI_COUNT + 5
# Event states (OrderState, in this order) and reasons.
EV_PLACED, EV_FILLED, EV_PARTIALLY_FILLED, EV_CANCELLED, EV_REJECTED, EV_EXPIRED = range(6)
REASON_NONE, REASON_TRADER, REASON_EXPIRATION = range(3)
# Event comments; EC_ORDER: the order's own comment.
EVENT_COMMENTS = (
    "Order placed",
    "Request executed",
    "Request executed partially",
    "Order cancelled by trader",
    "Order expired",
    "Stop triggered: limit order placed at {}",
    "Not enough money to activate the order",
    "Order triggered and filled",
    "",
)
(
    EC_PLACED,
    EC_EXECUTED,
    EC_PARTIAL,
    EC_CANCELLED,
    EC_EXPIRED,
    EC_STOP_LIMIT,
    EC_NO_MONEY,
    EC_TRIGGERED,
    EC_ORDER,
) = range(9)
# Comments this module writes on orders and deals (negative comment ids).
C_SL = -1  # "[sl 1.0842]"
C_TP = -2
C_SO = -3  # "[so 45.2%]"
# ---- exposure ledger: time, symbol, long lots, long lots x price, short lots, ... ----
X_COUNT = 6
# ---- requests ----
R_VOLUME = 0
R_PRICE = 1
R_STOPLIMIT = 2
R_SL = 3
R_TP = 4
RF_COUNT = 5
R_ACTION = 0
R_MAGIC = 1
R_ORDER = 2
R_SYMBOL = 3  # -1: a symbol the broker does not know
R_DEVIATION = 4
R_TYPE = 5
R_TYPE_FILLING = 6
R_TYPE_TIME = 7
R_EXPIRATION = 8
R_POSITION = 9
R_POSITION_BY = 10
R_COMMENT = 11
RI_COUNT = 12
# ---- replies ----
Y_VOLUME = 0
Y_PRICE = 1
Y_BID = 2
Y_ASK = 3
Y_MARGIN = 4  # check(): the margin after the request
YF_COUNT = 5
Y_RETCODE = 0
Y_DEAL = 1
Y_ORDER = 2
Y_COMMENT = 3  # an index of REPLY_COMMENTS
Y_FILLED = 4  # check(): 1 when the request would open exposure (margin after is meaningful)
YI_COUNT = 5
REPLY_COMMENTS = ("Request executed", "Request executed partially", "Done")
# Rejections: (retcode, comment); code 0 is "accepted".
REJECTIONS = (
    (0, ""),
    (mt5.TRADE_RETCODE_SERVER_DISABLES_AT, "Autotrading disabled by server"),
    (mt5.TRADE_RETCODE_INVALID, "Invalid request"),
    (mt5.TRADE_RETCODE_INVALID, "Unknown symbol"),
    (mt5.TRADE_RETCODE_PRICE_OFF, "No prices"),
    (mt5.TRADE_RETCODE_TRADE_DISABLED, "Trade disabled"),
    (mt5.TRADE_RETCODE_CLOSE_ONLY, "Only position closing is allowed"),
    (mt5.TRADE_RETCODE_LONG_ONLY, "Only long positions are allowed"),
    (mt5.TRADE_RETCODE_SHORT_ONLY, "Only short positions are allowed"),
    (mt5.TRADE_RETCODE_INVALID_VOLUME, "Invalid volume"),
    (mt5.TRADE_RETCODE_LIMIT_VOLUME, "Volume limit reached"),
    (mt5.TRADE_RETCODE_INVALID_ORDER, "Unsupported order type"),
    (mt5.TRADE_RETCODE_INVALID_FILL, "Unsupported filling mode"),
    (mt5.TRADE_RETCODE_INVALID_STOPS, "Invalid stops"),
    (mt5.TRADE_RETCODE_FROZEN, "Order or position frozen"),
    (mt5.TRADE_RETCODE_NO_MONEY, "No money"),
    (mt5.TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration"),
    (mt5.TRADE_RETCODE_INVALID_PRICE, "Invalid price"),
    (mt5.TRADE_RETCODE_REQUOTE, "Requote"),
    (mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME, "Invalid close volume"),
    (mt5.TRADE_RETCODE_REJECT, "Request rejected: not enough liquidity"),
    (mt5.TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist"),
    (mt5.TRADE_RETCODE_LIMIT_ORDERS, "Pending orders limit reached"),
    (mt5.TRADE_RETCODE_NO_CHANGES, "No changes"),
    (mt5.TRADE_RETCODE_INVALID, "Invalid request: order not found"),
    (mt5.TRADE_RETCODE_INVALID, "Close by is only for hedging accounts"),
)
(
    OK,
    REJ_AUTOTRADING,
    REJ_INVALID,
    REJ_UNKNOWN_SYMBOL,
    REJ_NO_PRICES,
    REJ_TRADE_DISABLED,
    REJ_CLOSE_ONLY,
    REJ_LONG_ONLY,
    REJ_SHORT_ONLY,
    REJ_VOLUME,
    REJ_VOLUME_LIMIT,
    REJ_ORDER_TYPE,
    REJ_FILLING,
    REJ_STOPS,
    REJ_FROZEN,
    REJ_NO_MONEY,
    REJ_EXPIRATION,
    REJ_PRICE,
    REJ_REQUOTE,
    REJ_CLOSE_VOLUME,
    REJ_LIQUIDITY,
    REJ_POSITION_CLOSED,
    REJ_LIMIT_ORDERS,
    REJ_NO_CHANGES,
    REJ_ORDER_NOT_FOUND,
    REJ_CLOSE_BY_NETTING,
) = range(len(REJECTIONS))

# Symbol flags (MT5's SYMBOL_* bit masks).
_FILLING_FOK = 1
_FILLING_IOC = 2
_EXPIRATION_GTC = 1
_EXPIRATION_DAY = 2
_EXPIRATION_SPECIFIED = 4
_EXPIRATION_SPECIFIED_DAY = 8
_ORDER_MARKET = 1
_ORDER_LIMIT = 2
_ORDER_STOP = 4
_ORDER_STOP_LIMIT = 8
_ORDER_CLOSEBY = 64

BUY = mt5.ORDER_TYPE_BUY
SELL = mt5.ORDER_TYPE_SELL
BUY_LIMIT = mt5.ORDER_TYPE_BUY_LIMIT
SELL_LIMIT = mt5.ORDER_TYPE_SELL_LIMIT
BUY_STOP = mt5.ORDER_TYPE_BUY_STOP
SELL_STOP = mt5.ORDER_TYPE_SELL_STOP
BUY_STOP_LIMIT = mt5.ORDER_TYPE_BUY_STOP_LIMIT
SELL_STOP_LIMIT = mt5.ORDER_TYPE_SELL_STOP_LIMIT
POSITION_BUY = mt5.POSITION_TYPE_BUY


class ConversionMissing(Exception):
    """No quote or fallback rate converts one currency to another (``I_MISSING_FROM``/``_TO``)."""


class State(NamedTuple):
    """The simulated trade server's state (see the module docstring for the layout)."""

    acct_f: np.ndarray
    acct_i: np.ndarray
    sym_f: np.ndarray
    sym_i: np.ndarray
    quote: np.ndarray
    active: np.ndarray  # positions + pending orders per symbol
    fallback: np.ndarray  # [C, C]: the fallback rate of the pair (row, column); NaN none
    vias: np.ndarray  # currencies in the order conversions go through them (USD first)
    fallback_code: np.ndarray  # 1 where a fallback rate names the currency
    conv: np.ndarray  # each currency's rate to the account currency at today's quotes; NaN unknown
    pos_f: np.ndarray
    pos_i: np.ndarray
    ord_f: np.ndarray
    ord_i: np.ndarray
    hist_f: np.ndarray
    hist_i: np.ndarray
    deal_f: np.ndarray
    deal_i: np.ndarray
    ev_f: np.ndarray
    ev_i: np.ndarray
    exposure: np.ndarray
    swaps: np.ndarray  # (time, charge) of each swap charged, for backtests' equity
    work_f: np.ndarray  # [1, OF_COUNT]: the order a market request or a stop is working on
    work_i: np.ndarray
    # Working space, at least as long as the positions' and the orders' tables plus one:
    tickets: np.ndarray  # the tickets a price move goes through (orders, then positions)
    scratch_i: np.ndarray  # symbols seen (margin, conversions)
    scratch_f: np.ndarray  # [n, 2]: buy and sell lots per symbol (margin)


def is_buy_type(order_type: int) -> bool:
    return order_type in (BUY, BUY_LIMIT, BUY_STOP, BUY_STOP_LIMIT)


_is_buy = compiled(is_buy_type)


# ---- lookups ---------------------------------------------------------------------------------
@compiled_inline
def _copy_row(
    target: np.ndarray, row: int, source: np.ndarray, source_row: int, count: int
) -> None:
    """Copy the first ``count`` columns of a row (element by element: no temporary array)."""
    for column in range(count):
        target[row, column] = source[source_row, column]


@compiled_inline
def position_row(st: State, ticket: int) -> int:
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_TICKET] == ticket:
            return row
    return -1


@compiled_inline
def order_row(st: State, ticket: int) -> int:
    for row in range(st.acct_i[I_ORDERS]):
        if st.ord_i[row, O_TICKET] == ticket:
            return row
    return -1


@compiled_inline
def _netting_row(st: State, symbol: int) -> int:
    for row in range(st.acct_i[I_POSITIONS]):
        if st.pos_i[row, P_SYMBOL] == symbol:
            return row
    return -1


@compiled_inline
def _has_quote(st: State, symbol: int) -> bool:
    return not math.isnan(st.quote[symbol, Q_BID])


@compiled_inline
def _round_price(st: State, symbol: int, price: float) -> float:
    return round_to(price, st.sym_i[symbol, S_DIGITS])


@compiled_inline
def _msc(time_s: float) -> int:
    return int(round_to(time_s * 1000.0, 0))


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
    # The day that ended, counted as MT5 does (Sunday 0): 1970-01-01 was a Thursday (4).
    mt5_weekday = ((midnight_s - DAY_S) // DAY_S + 4) % 7
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
    if previous and st.acct_i[I_POSITIONS]:
        first_midnight = (int(previous) // DAY_S + 1) * DAY_S
        for midnight in range(first_midnight, int(time_s) + 1, DAY_S):
            _rollover(st, midnight)


@compiled_inline
def _track_lowest(st: State) -> None:
    lowest = st.acct_f[A_LOWEST]
    if not math.isnan(lowest):
        st.acct_f[A_LOWEST] = min(lowest, equity(st))


@compiled
@python_callable
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
    if int(st.acct_f[A_TIME]) // DAY_S != int(end_s) // DAY_S:
        return False
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
def open_bar(st: State, symbol: int, time_s: float, open_: float, spread_points: float) -> None:
    """The first tick of a bar: its open. Orders sent now fill at the open (gaps included)."""
    digits = st.sym_i[symbol, S_DIGITS]
    spread = spread_points * st.sym_f[symbol, S_POINT]
    bid = round_to_inline(open_, digits)
    move(st, symbol, time_s, bid, round_to_inline(bid + spread, digits))


@compiled_inline
@python_callable
def finish_bar(
    st: State,
    symbol: int,
    time_s: float,
    duration_s: float,
    open_: float,
    high: float,
    low: float,
    close: float,
    spread_points: float,
) -> None:
    """The rest of a bar after ``open_bar``: its path through high and low to the close."""
    spread = spread_points * st.sym_f[symbol, S_POINT]
    digits = st.sym_i[symbol, S_DIGITS]
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
        end = (int(now) // DAY_S + 1) * DAY_S - 1
        return OK, end, float(end + 1)
    if type_time == mt5.ORDER_TIME_SPECIFIED:
        if expiration <= now:
            return REJ_EXPIRATION, 0, math.nan
        return OK, expiration, float(expiration)
    end = (expiration // DAY_S + 1) * DAY_S - 1
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


# ---- the requests ----------------------------------------------------------------------------
@compiled
def _deal(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    symbol = req_i[R_SYMBOL]
    if symbol < 0:
        return REJ_UNKNOWN_SYMBOL
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
    order_type = req_i[R_TYPE]
    if order_type != BUY and order_type != SELL:
        return REJ_INVALID
    is_buy = order_type == BUY
    target = -1
    if req_i[R_POSITION]:
        target = position_row(st, req_i[R_POSITION])
        if target < 0 or st.pos_i[target, P_SYMBOL] != symbol:
            return REJ_POSITION_CLOSED
        closing_type = SELL if st.pos_i[target, P_TYPE] == POSITION_BUY else BUY
        if order_type != closing_type:
            return REJ_INVALID
    # On netting a deal against the symbol's position reduces or closes it (no ticket needed).
    netted = -1 if st.acct_i[I_HEDGING] else _netting_row(st, symbol)
    reduces = (
        netted >= 0
        and (st.pos_i[netted, P_TYPE] == POSITION_BUY) != is_buy
        and req_f[R_VOLUME] <= st.pos_f[netted, P_VOLUME] + 1e-9
    )
    rejection = _check_trade_mode(st, symbol, order_type, target < 0 and not reduces)
    if rejection:
        return rejection
    rejection = _check_order_mode(st, symbol, order_type)
    if rejection:
        return rejection
    volume = _check_volume(st, symbol, req_f[R_VOLUME])
    if math.isnan(volume):
        return REJ_VOLUME
    rejection = _check_filling(st, symbol, req_i[R_TYPE_FILLING], False)
    if rejection:
        return rejection
    if not st.acct_i[I_TRADE_ALLOWED]:
        return REJ_TRADE_DISABLED
    price = st.quote[symbol, Q_ASK] if is_buy else st.quote[symbol, Q_BID]
    exemode = st.sym_i[symbol, S_EXEMODE]
    point = st.sym_f[symbol, S_POINT]
    if (
        exemode == mt5.SYMBOL_TRADE_EXECUTION_INSTANT
        or exemode == mt5.SYMBOL_TRADE_EXECUTION_REQUEST
    ):
        if req_f[R_PRICE] <= 0:
            return REJ_PRICE
        if abs(req_f[R_PRICE] - price) > req_i[R_DEVIATION] * point + 1e-9 * price:
            return REJ_REQUOTE
    elif st.acct_i[I_SLIPPAGE]:
        slip = st.acct_i[I_SLIPPAGE] * point
        price = _round_price(st, symbol, price + slip if is_buy else price - slip)
    if target >= 0:
        if volume > st.pos_f[target, P_VOLUME] + 1e-9:
            return REJ_CLOSE_VOLUME
    elif req_f[R_SL] or req_f[R_TP]:
        rejection = _check_stops(st, symbol, is_buy, price, req_f[R_SL], req_f[R_TP], True)
        if rejection:
            return rejection
    fill_volume = volume
    retcode = mt5.TRADE_RETCODE_DONE
    liquidity = st.acct_f[A_LIQUIDITY]
    if not math.isnan(liquidity) and volume > liquidity + 1e-9:
        if req_i[R_TYPE_FILLING] == mt5.ORDER_FILLING_FOK:
            return REJ_LIQUIDITY
        step = st.sym_f[symbol, S_VOLUME_STEP]
        fill_volume = _check_volume(st, symbol, math.floor(liquidity / step + 1e-9) * step)
        if math.isnan(fill_volume):
            return REJ_VOLUME
        retcode = mt5.TRADE_RETCODE_DONE_PARTIAL
    opens = _opens_exposure(st, target, symbol, order_type, fill_volume)
    if opens:
        rejection = _check_volume_limit(st, symbol, is_buy, fill_volume)
        if rejection:
            return rejection
        rejection = _check_margin(st, symbol, order_type, fill_volume, price)
        if rejection:
            return rejection
    if not execute:
        reply_i[Y_FILLED] = 1 if target < 0 else 0
        if target < 0:
            reply_f[Y_MARGIN] = _margin_after(st, symbol, order_type, fill_volume, price)
        return OK
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
        st,
        st.work_f,
        st.work_i,
        0,
        EV_PLACED,
        mt5.TRADE_RETCODE_PLACED,
        EC_PLACED,
        math.nan,
        -1,
        REASON_NONE,
    )
    # API orders are an expert's.
    deal = _execute(st, symbol, order_type, fill_volume, price, target, mt5.DEAL_REASON_EXPERT)
    _log_exposure(st, symbol)
    partial = retcode == mt5.TRADE_RETCODE_DONE_PARTIAL
    _finish_order(
        st,
        st.work_f,
        st.work_i,
        0,
        mt5.ORDER_STATE_CANCELED if partial else mt5.ORDER_STATE_FILLED,
    )
    _emit(
        st,
        st.work_f,
        st.work_i,
        0,
        EV_PARTIALLY_FILLED if partial else EV_FILLED,
        retcode,
        EC_PARTIAL if partial else EC_EXECUTED,
        math.nan,
        deal,
        REASON_NONE,
    )
    return _reply(
        st,
        reply_f,
        reply_i,
        symbol,
        retcode,
        st.deal_i[deal, D_TICKET],
        st.work_i[0, O_TICKET],
        st.deal_f[deal, D_VOLUME],
        st.deal_f[deal, D_PRICE],
        1 if partial else 0,
    )


@compiled
def _pending(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    symbol = req_i[R_SYMBOL]
    if symbol < 0:
        return REJ_UNKNOWN_SYMBOL
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
    order_type = req_i[R_TYPE]
    if order_type < BUY_LIMIT or order_type > SELL_STOP_LIMIT:
        return REJ_INVALID
    rejection = _check_trade_mode(st, symbol, order_type, True)
    if rejection:
        return rejection
    rejection = _check_order_mode(st, symbol, order_type)
    if rejection:
        return rejection
    volume = _check_volume(st, symbol, req_f[R_VOLUME])
    if math.isnan(volume):
        return REJ_VOLUME
    rejection = _check_filling(st, symbol, req_i[R_TYPE_FILLING], True)
    if rejection:
        return rejection
    price = req_f[R_PRICE]
    rejection = _check_pending_prices(
        st, symbol, order_type, price, req_f[R_STOPLIMIT], req_f[R_SL], req_f[R_TP]
    )
    if rejection:
        return rejection
    rejection, time_expiration, expires_at = _expiry(
        st, symbol, req_i[R_TYPE_TIME], req_i[R_EXPIRATION]
    )
    if rejection:
        return rejection
    limit = st.acct_i[I_LIMIT_ORDERS]
    if limit and st.acct_i[I_ORDERS] >= limit:
        return REJ_LIMIT_ORDERS
    rejection = _check_volume_limit(st, symbol, _is_buy(order_type), volume)
    if rejection:
        return rejection
    if not execute:
        reply_i[Y_FILLED] = 1
        reply_f[Y_MARGIN] = _margin_after(st, symbol, order_type, volume, price)
        return OK
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
        st,
        st.ord_f,
        st.ord_i,
        row,
        EV_PLACED,
        mt5.TRADE_RETCODE_DONE,
        EC_EXECUTED,
        math.nan,
        -1,
        REASON_NONE,
    )
    return _reply(
        st,
        reply_f,
        reply_i,
        symbol,
        mt5.TRADE_RETCODE_DONE,
        0,
        st.ord_i[row, O_TICKET],
        volume,
        price,
        0,
    )


@compiled
def _sltp(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    row = position_row(st, req_i[R_POSITION])
    if row < 0:
        return REJ_POSITION_CLOSED
    symbol = st.pos_i[row, P_SYMBOL]
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
    rejection = _check_trade_mode(st, symbol, st.pos_i[row, P_TYPE], False)
    if rejection:
        return rejection
    sl, tp = _round_price(st, symbol, req_f[R_SL]), _round_price(st, symbol, req_f[R_TP])
    if sl == st.pos_f[row, P_SL] and tp == st.pos_f[row, P_TP]:
        return REJ_NO_CHANGES
    is_buy = st.pos_i[row, P_TYPE] == POSITION_BUY
    rejection = _check_stops(st, symbol, is_buy, 0.0, sl, tp, True)
    if rejection:
        return rejection
    rejection = _check_freeze(st, symbol, st.pos_f[row, P_SL], st.pos_f[row, P_TP], is_buy)
    if rejection:
        return rejection
    if not execute:
        return OK
    now = st.acct_f[A_TIME]
    st.pos_f[row, P_SL] = sl
    st.pos_f[row, P_TP] = tp
    st.pos_i[row, P_TIME_UPDATE] = int(now)
    st.pos_i[row, P_TIME_UPDATE_MSC] = _msc(now)
    return _reply(st, reply_f, reply_i, symbol, mt5.TRADE_RETCODE_DONE, 0, 0, 0.0, 0.0, 0)


@compiled
def _modify(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    row = order_row(st, req_i[R_ORDER])
    if row < 0:
        return REJ_ORDER_NOT_FOUND
    symbol = st.ord_i[row, O_SYMBOL]
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
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
        return REJ_NO_CHANGES
    order_type = st.ord_i[row, O_TYPE]
    rejection = _check_freeze(st, symbol, st.ord_f[row, O_PRICE_OPEN], 0.0, not _is_buy(order_type))
    if rejection:
        return rejection
    rejection = _check_pending_prices(st, symbol, order_type, price, stoplimit, sl, tp)
    if rejection:
        return rejection
    rejection, time_expiration, expires_at = _expiry(
        st, symbol, req_i[R_TYPE_TIME], req_i[R_EXPIRATION]
    )
    if rejection:
        return rejection
    if not execute:
        return OK
    st.ord_f[row, O_PRICE_OPEN] = price
    st.ord_f[row, O_PRICE_STOPLIMIT] = stoplimit
    st.ord_f[row, O_SL] = sl
    st.ord_f[row, O_TP] = tp
    st.ord_i[row, O_TYPE_TIME] = req_i[R_TYPE_TIME]
    st.ord_i[row, O_TIME_EXPIRATION] = time_expiration
    st.ord_f[row, O_EXPIRES_AT] = expires_at
    return _reply(
        st,
        reply_f,
        reply_i,
        symbol,
        mt5.TRADE_RETCODE_DONE,
        0,
        st.ord_i[row, O_TICKET],
        0.0,
        0.0,
        0,
    )


@compiled
def _remove(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    row = order_row(st, req_i[R_ORDER])
    if row < 0:
        return REJ_ORDER_NOT_FOUND
    symbol = st.ord_i[row, O_SYMBOL]
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
    rejection = _check_freeze(
        st, symbol, st.ord_f[row, O_PRICE_OPEN], 0.0, not _is_buy(st.ord_i[row, O_TYPE])
    )
    if rejection:
        return rejection
    if not execute:
        return OK
    ticket = st.ord_i[row, O_TICKET]
    done = _close_order(st, row, mt5.ORDER_STATE_CANCELED)
    _emit(
        st,
        st.hist_f,
        st.hist_i,
        done,
        EV_CANCELLED,
        mt5.TRADE_RETCODE_DONE,
        EC_CANCELLED,
        math.nan,
        -1,
        REASON_TRADER,
    )
    return _reply(st, reply_f, reply_i, symbol, mt5.TRADE_RETCODE_DONE, 0, ticket, 0.0, 0.0, 0)


@compiled
def _close_by(
    st: State,
    req_f: np.ndarray,
    req_i: np.ndarray,
    execute: bool,
    reply_f: np.ndarray,
    reply_i: np.ndarray,
) -> int:
    if not st.acct_i[I_HEDGING]:
        return REJ_CLOSE_BY_NETTING
    first = position_row(st, req_i[R_POSITION])
    second = position_row(st, req_i[R_POSITION_BY])
    if first < 0 or second < 0:
        return REJ_POSITION_CLOSED
    symbol = st.pos_i[first, P_SYMBOL]
    if symbol != st.pos_i[second, P_SYMBOL] or st.pos_i[first, P_TYPE] == st.pos_i[second, P_TYPE]:
        return REJ_INVALID
    if not _has_quote(st, symbol):
        return REJ_NO_PRICES
    if not st.sym_i[symbol, S_ORDER_MODE] & _ORDER_CLOSEBY:
        return REJ_ORDER_TYPE
    if not execute:
        return OK
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
        st,
        st.work_f,
        st.work_i,
        0,
        EV_PLACED,
        mt5.TRADE_RETCODE_PLACED,
        EC_PLACED,
        math.nan,
        -1,
        REASON_NONE,
    )
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
    _emit(
        st,
        st.work_f,
        st.work_i,
        0,
        EV_FILLED,
        mt5.TRADE_RETCODE_DONE,
        EC_EXECUTED,
        math.nan,
        deal_a,
        REASON_NONE,
    )
    _emit(
        st,
        st.work_f,
        st.work_i,
        0,
        EV_FILLED,
        mt5.TRADE_RETCODE_DONE,
        EC_EXECUTED,
        math.nan,
        deal_b,
        REASON_NONE,
    )
    return _reply(
        st,
        reply_f,
        reply_i,
        symbol,
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

    Returns 0 with the reply filled in, or a rejection code (an index of ``REJECTIONS``).
    """
    action = req_i[R_ACTION]
    if not st.acct_i[I_TRADE_EXPERT] and (
        action == mt5.TRADE_ACTION_DEAL
        or action == mt5.TRADE_ACTION_PENDING
        or action == mt5.TRADE_ACTION_SLTP
        or action == mt5.TRADE_ACTION_MODIFY
        or action == mt5.TRADE_ACTION_REMOVE
        or action == mt5.TRADE_ACTION_CLOSE_BY
    ):
        return REJ_AUTOTRADING
    if action == mt5.TRADE_ACTION_DEAL:
        return _deal(st, req_f, req_i, execute, reply_f, reply_i)
    if action == mt5.TRADE_ACTION_PENDING:
        return _pending(st, req_f, req_i, execute, reply_f, reply_i)
    if action == mt5.TRADE_ACTION_SLTP:
        return _sltp(st, req_f, req_i, execute, reply_f, reply_i)
    if action == mt5.TRADE_ACTION_MODIFY:
        return _modify(st, req_f, req_i, execute, reply_f, reply_i)
    if action == mt5.TRADE_ACTION_REMOVE:
        return _remove(st, req_f, req_i, execute, reply_f, reply_i)
    if action == mt5.TRADE_ACTION_CLOSE_BY:
        return _close_by(st, req_f, req_i, execute, reply_f, reply_i)
    return REJ_INVALID
