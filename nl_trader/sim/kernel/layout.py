"""The simulated trade server's state: its tables' column layout, ``State``, the codes of
events and rejections, and the lookups every rule uses (rows by ticket, quotes, rounding)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from nl_trader import mt5
from nl_trader.jit import compiled, compiled_inline
from nl_trader.numeric import round_to

DAY_S = 86_400

# ---- account: acct_f ----
A_BALANCE = 0
A_TIME = 1
A_LOWEST = 2  # lowest equity along the path since reset; NaN = not tracked
A_LEVERAGE = 3
A_SO_SO = 4
A_LIQUIDITY = 5  # lots one deal can fill; NaN = unlimited
A_NEXT_MIDNIGHT = 6  # the first server midnight after A_TIME (UTC seconds; 0 before any time)
A_COUNT = 7
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
    # [k, 2] int64: (from this UTC second on, the trade server's clock is this many seconds
    # ahead of UTC); rows in time order, the first from the beginning of time. Days, weekdays,
    # midnights (swaps) and day expiries are the server's.
    clock: np.ndarray


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
def server_offset_s(st: State, time_s: float) -> int:
    """How many seconds the trade server's clock is ahead of UTC at ``time_s``."""
    low, high = 0, st.clock.shape[0] - 1
    while low < high:
        middle = (low + high + 1) // 2
        if st.clock[middle, 0] <= time_s:
            low = middle
        else:
            high = middle - 1
    return st.clock[low, 1]


@compiled
def next_midnight_s(st: State, after_s: float) -> int:
    """The first midnight of the server's clock after ``after_s`` (UTC seconds). Not inlined:
    it runs once a server day, and its callers are on every quote's path."""
    offset = server_offset_s(st, after_s)
    midnight = (int(after_s + offset) // DAY_S + 1) * DAY_S - offset
    moved = server_offset_s(st, float(midnight))
    if moved != offset:  # the clock changes before that midnight: it comes an hour early/late
        shifted = (int(after_s + moved) // DAY_S + 1) * DAY_S - moved
        if shifted > after_s:
            midnight = shifted
    return midnight


@compiled
def server_weekday(st: State, time_s: float) -> int:
    """The server's day of the week at ``time_s``, counted as MT5 does (Sunday 0); 1970-01-01
    was a Thursday (4)."""
    return (int(time_s + server_offset_s(st, time_s)) // DAY_S + 4) % 7


@compiled_inline
def _msc(time_s: float) -> int:
    return int(round_to(time_s * 1000.0, 0))
