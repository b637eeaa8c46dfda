"""The simulated broker: the one fill engine of the product.

It takes MT5 trade requests (the dicts ``OrderParams.to_mt5_request()`` builds) and answers as an
MT5 trade server does: retcodes for rejections, orders, deals and positions with MT5's ticket rules,
netting or hedging accounts. The simulated route calls it directly, the fake terminal wraps it in the
MetaTrader5 module's functions, and the backtester's compiled loop runs on its state bar by bar, so
paper trading, the fake terminal and backtests cannot drift apart. The state and every rule below
live in ``kernel`` (compiled with numba); ``SimBroker`` turns requests into the kernel's numbers and
its tables back into MT5's records and events.

Price rules (documented here, tested in tests/sim):
    * Quotes are bid/ask on the symbol's tick grid. Market buys fill at ask, sells at bid, moved
      against the trader by ``ExecutionModel.slippage_points`` on Market-execution symbols.
    * Buy limit / buy stop trigger on ask, sell limit / sell stop on bid. A buy position's SL/TP
      trigger on bid, a sell position's on ask.
    * Between quotes (``set_quote``) a trigger fills at the quote that crossed it: a gap fills at
      the new price, not at the level. Inside a bar (``on_bar``) price is walked open -> low -> high
      -> close for an up bar and open -> high -> low -> close for a down bar (MT5's OHLC tick
      model); a level crossed on the way fills exactly at the level, one already passed at the open
      fills at the open.
    * A stop-limit becomes a limit order at ``stoplimit`` when its stop triggers (same ticket,
      filling RETURN); it then fills like any limit.
    * Commission is charged per lot and side on each deal; swaps are charged at each server
      midnight of a weekday, three times on ``swap_rollover3days``; profit is converted to the
      account currency at current quotes. Midnights, weekdays and day expiries are the trade
      server's: its clock is ``server_clock`` when the broker's times are UTC (backtests).
    * Margin is checked before a position grows (10019); when margin level falls to the stop-out
      level the most losing position is closed at market (reason SO).
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.events import OrderState
from nl_trader.sim import kernel
from nl_trader.symbols import DEFAULT_SYMBOLS, SymbolSpec

DAY_S = 86_400
BUY_TYPES = frozenset(
    {
        mt5.ORDER_TYPE_BUY,
        mt5.ORDER_TYPE_BUY_LIMIT,
        mt5.ORDER_TYPE_BUY_STOP,
        mt5.ORDER_TYPE_BUY_STOP_LIMIT,
    }
)
PENDING_TYPES = frozenset(range(mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_SELL_STOP_LIMIT + 1))


class AccountConfig(BaseModel):
    """The simulated trading account. ``margin_mode`` 0 is netting, 2 hedging (MT5's values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    login: int = 5_000_001
    name: str = "nl_trader simulator"
    server: str = "nl_trader-Sim"
    company: str = "nl_trader"
    currency: str = "USD"
    currency_digits: int = 2
    balance: float = Field(default=10_000.0, gt=0)
    leverage: int = Field(default=100, ge=1)
    margin_mode: int = mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
    margin_so_call: float = 100.0
    margin_so_so: float = 50.0
    limit_orders: int = Field(default=0, ge=0)
    trade_mode: int = mt5.ACCOUNT_TRADE_MODE_DEMO
    trade_allowed: bool = True
    trade_expert: bool = True
    fifo_close: bool = False

    @property
    def hedging(self) -> bool:
        return self.margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


class ExecutionModel(BaseModel):
    """How fills deviate from the quote.

    ``slippage_points`` moves market fills and triggered stops against the trader (a buy fills
    higher); ``liquidity_lots`` caps what one deal can fill (None = unlimited), so FOK orders larger
    than it are rejected and IOC orders fill partially.

    ``intrabar`` is the price path inside a bar: "ohlc" is MT5's (open, low, high, close for an up
    bar; open, high, low, close for a down bar); "conservative" visits first the extreme that hurts
    the open positions (the low first when the book is net long), so that when a stop and a target
    both lie inside one bar, the stop is taken. ``fallback_rates`` ({"GBPUSD": 1.27}) convert
    profits when the broker has no quote for a currency pair it needs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    slippage_points: int = Field(default=0, ge=0)
    liquidity_lots: float | None = Field(default=None, gt=0)
    intrabar: Literal["ohlc", "conservative"] = "ohlc"
    fallback_rates: dict[str, float] = Field(default_factory=dict)


@dataclass(slots=True)
class Quote:
    time_s: float
    bid: float
    ask: float


@dataclass(slots=True)
class OrderRecord:
    """An order, with the fields (and order) of MT5's ``TradeOrder``."""

    ticket: int
    time_setup: int
    time_setup_msc: int
    time_done: int
    time_done_msc: int
    time_expiration: int
    type: int
    type_time: int
    type_filling: int
    state: int
    magic: int
    position_id: int
    position_by_id: int
    reason: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    price_stoplimit: float
    symbol: str
    comment: str
    external_id: str = ""
    expires_at: float | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(_ORDER_FIELDS, _ORDER_VALUES(self), strict=True))


@dataclass(slots=True)
class PositionRecord:
    """A position, with the fields (and order) of MT5's ``TradePosition``."""

    ticket: int
    time: int
    time_msc: int
    time_update: int
    time_update_msc: int
    type: int
    magic: int
    identifier: int
    reason: int
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    swap: float
    profit: float
    symbol: str
    comment: str
    external_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(_POSITION_FIELDS, _POSITION_VALUES(self), strict=True))


@dataclass(slots=True)
class DealRecord:
    """A deal, with the fields (and order) of MT5's ``TradeDeal``."""

    ticket: int
    order: int
    time: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    reason: int
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    fee: float
    symbol: str
    comment: str
    external_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(_DEAL_FIELDS, _DEAL_VALUES(self), strict=True))


# Field names in MT5's order (the MT5 records' own fields, without the simulator's extras).
_ORDER_FIELDS = tuple(f.name for f in fields(OrderRecord) if f.name != "expires_at")
_POSITION_FIELDS = tuple(f.name for f in fields(PositionRecord))
_DEAL_FIELDS = tuple(f.name for f in fields(DealRecord))
# The fields' values as a tuple, read in C (backtests turn tens of thousands of records to dicts).
_ORDER_VALUES = operator.attrgetter(*_ORDER_FIELDS)
_POSITION_VALUES = operator.attrgetter(*_POSITION_FIELDS)
_DEAL_VALUES = operator.attrgetter(*_DEAL_FIELDS)


@dataclass(slots=True)
class TradeResult:
    """MT5's ``OrderSendResult`` without the request echo."""

    retcode: int
    deal: int = 0
    order: int = 0
    volume: float = 0.0
    price: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    comment: str = ""
    request_id: int = 0
    retcode_external: int = 0


@dataclass(slots=True)
class CheckResult:
    """MT5's ``OrderCheckResult`` without the request echo: the account after the request."""

    retcode: int
    balance: float = 0.0
    equity: float = 0.0
    profit: float = 0.0
    margin: float = 0.0
    margin_free: float = 0.0
    margin_level: float = 0.0
    comment: str = ""


@dataclass(slots=True)
class BrokerEvent:
    """Something that happened to an order: the simulated route turns these into callbacks."""

    state: OrderState
    order: dict[str, Any]
    time_s: float
    retcode: int
    comment: str
    deal: dict[str, Any] | None = None
    reason: str | None = None


def _clock_table(table: np.ndarray | None) -> np.ndarray:
    if table is None:
        return np.array([[-(2**62), 0]], dtype=np.int64)
    rows = np.ascontiguousarray(table, dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != 2 or not len(rows) or np.any(np.diff(rows[:, 0]) <= 0):
        raise InvalidInputError(
            ["server_clock: expected (from UTC second, offset seconds) rows in time order"],
            what="broker",
        )
    return rows


class SimBroker:
    """A simulated MT5 trade server with one account.

    The state and the rules live in ``kernel`` (compiled); this class speaks MT5's language
    around them: request dicts in, ``TradeResult``/records/events out, names for the ids the
    kernel keeps.
    """

    def __init__(
        self,
        symbols: Iterable[SymbolSpec] | None = None,
        account: AccountConfig | None = None,
        execution: ExecutionModel | None = None,
        *,
        record_exposure: bool = False,
        server_clock: np.ndarray | None = None,
    ) -> None:
        """``server_clock`` is the trade server's clock as (from UTC second, offset seconds)
        rows (``data.timezones.offset_table``) when the broker's times are UTC (a backtest); by
        default its times are the server's own (offset 0), as a terminal's are."""
        self.account = account or AccountConfig()
        self._server_clock = _clock_table(server_clock)
        self.execution = execution or ExecutionModel()
        self.record_exposure = record_exposure
        self.symbols: dict[str, SymbolSpec] = {}
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._currencies: list[str] = []
        self._texts: list[str] = []
        self._text_ids: dict[str, int] = {}
        self._listeners: list[Callable[[BrokerEvent], None]] = []
        self._request_ids = itertools.count(1)
        self._deal_records: list[DealRecord] = []
        self._history: dict[int, OrderRecord] = {}
        self._book_version = -1
        self._version = 0
        self._positions: dict[int, PositionRecord] = {}
        self._orders: dict[int, OrderRecord] = {}
        self._req_f = np.zeros(kernel.RF_COUNT)
        self._req_i = np.zeros(kernel.RI_COUNT, dtype=np.int64)
        self._reply_f = np.zeros(kernel.YF_COUNT)
        self._reply_i = np.zeros(kernel.YI_COUNT, dtype=np.int64)
        self.state = self._new_state()
        for spec in symbols if symbols is not None else DEFAULT_SYMBOLS.values():
            self.add_symbol(spec)
        # The initial deposit is the first deal, as in MT5's history.
        st = self.state
        st.deal_i[0, kernel.D_TICKET] = st.acct_i[kernel.I_NEXT_DEAL]
        st.deal_i[0, kernel.D_TYPE] = mt5.DEAL_TYPE_BALANCE
        st.deal_i[0, kernel.D_ENTRY] = mt5.DEAL_ENTRY_IN
        st.deal_i[0, kernel.D_REASON] = mt5.DEAL_REASON_CLIENT
        st.deal_i[0, kernel.D_SYMBOL] = -1
        st.deal_i[0, kernel.D_COMMENT] = self._text("initial deposit")
        st.deal_f[0, kernel.D_PROFIT] = float(self.account.balance)
        st.deal_f[0, kernel.D_COMMENT_VALUE] = math.nan
        st.acct_i[kernel.I_NEXT_DEAL] += 1
        st.acct_i[kernel.I_DEALS] = 1

    def _new_state(self) -> kernel.State:
        cfg, execution = self.account, self.execution
        acct_f = np.zeros(kernel.A_COUNT)
        acct_f[kernel.A_BALANCE] = float(cfg.balance)
        acct_f[kernel.A_LOWEST] = math.nan
        acct_f[kernel.A_LEVERAGE] = float(cfg.leverage)
        acct_f[kernel.A_SO_SO] = float(cfg.margin_so_so)
        liquidity = execution.liquidity_lots
        acct_f[kernel.A_LIQUIDITY] = math.nan if liquidity is None else float(liquidity)
        acct_i = np.zeros(kernel.I_COUNT, dtype=np.int64)
        acct_i[kernel.I_HEDGING] = int(cfg.hedging)
        acct_i[kernel.I_TRADE_ALLOWED] = int(cfg.trade_allowed)
        acct_i[kernel.I_TRADE_EXPERT] = int(cfg.trade_expert)
        acct_i[kernel.I_LIMIT_ORDERS] = cfg.limit_orders
        acct_i[kernel.I_NEXT_ORDER] = 10_000_001
        acct_i[kernel.I_NEXT_DEAL] = 50_000_001
        acct_i[kernel.I_RECORD] = int(self.record_exposure)
        acct_i[kernel.I_CONSERVATIVE] = int(execution.intrabar == "conservative")
        acct_i[kernel.I_SLIPPAGE] = execution.slippage_points
        acct_i[kernel.I_CURRENCY] = self._currency(cfg.currency)
        for pair in execution.fallback_rates:
            self._currency(pair[:3])
            self._currency(pair[3:])
        floats, ints = np.zeros, functools.partial(np.zeros, dtype=np.int64)
        return kernel.State(
            acct_f=acct_f,
            acct_i=acct_i,
            sym_f=floats((0, kernel.SF_COUNT)),
            sym_i=ints((0, kernel.SI_COUNT)),
            quote=np.full((0, 3), math.nan),
            active=ints(0),
            fallback=floats((0, 0)),
            vias=ints(0),
            fallback_code=ints(0),
            conv=floats(0),
            pos_f=floats((8, kernel.PF_COUNT)),
            pos_i=ints((8, kernel.PI_COUNT)),
            ord_f=floats((8, kernel.OF_COUNT)),
            ord_i=ints((8, kernel.OI_COUNT)),
            hist_f=floats((64, kernel.OF_COUNT)),
            hist_i=ints((64, kernel.OI_COUNT)),
            deal_f=floats((64, kernel.DF_COUNT)),
            deal_i=ints((64, kernel.DI_COUNT)),
            ev_f=floats((64, kernel.EF_COUNT)),
            ev_i=ints((64, kernel.EI_COUNT)),
            exposure=floats((64, kernel.X_COUNT)),
            swaps=floats((64, 2)),
            work_f=floats((1, kernel.OF_COUNT)),
            work_i=ints((1, kernel.OI_COUNT)),
            tickets=ints(9),
            scratch_i=ints(9),
            scratch_f=floats((9, 2)),
            clock=self._server_clock,
        )

    # ---- setup ----------------------------------------------------------------------------
    def add_symbol(self, spec: SymbolSpec) -> None:
        name = spec.name
        if name not in self._index:
            self._index[name] = len(self._names)
            self._names.append(name)
        self.symbols[name] = spec
        for code in (spec.currency_base, spec.currency_profit, spec.currency_margin):
            self._currency(code)
        st = self.state
        count = len(self._names)
        sym_f = np.zeros((count, kernel.SF_COUNT))
        sym_i = np.zeros((count, kernel.SI_COUNT), dtype=np.int64)
        for row, symbol in enumerate(self._names):
            self._symbol_row(self.symbols[symbol], sym_f[row], sym_i[row])
        quote = np.full((count, 3), math.nan)
        quote[: len(st.quote)] = st.quote
        active = np.zeros(count, dtype=np.int64)
        active[: len(st.active)] = st.active
        self.state = st._replace(sym_f=sym_f, sym_i=sym_i, quote=quote, active=active)
        self._currency_tables()

    def _symbol_row(self, spec: SymbolSpec, row_f: np.ndarray, row_i: np.ndarray) -> None:
        row_f[kernel.S_POINT] = spec.point
        row_f[kernel.S_CONTRACT] = spec.trade_contract_size
        row_f[kernel.S_VOLUME_MIN] = spec.volume_min
        row_f[kernel.S_VOLUME_MAX] = spec.volume_max
        row_f[kernel.S_VOLUME_STEP] = spec.volume_step
        row_f[kernel.S_VOLUME_LIMIT] = spec.volume_limit
        row_f[kernel.S_COMMISSION] = spec.commission_per_lot
        row_f[kernel.S_SWAP_LONG] = spec.swap_long
        row_f[kernel.S_SWAP_SHORT] = spec.swap_short
        row_f[kernel.S_MARGIN_INITIAL] = spec.margin_initial
        row_f[kernel.S_MARGIN_HEDGED] = spec.margin_hedged
        row_i[kernel.S_DIGITS] = spec.digits
        row_i[kernel.S_TRADE_MODE] = spec.trade_mode
        row_i[kernel.S_ORDER_MODE] = spec.order_mode
        row_i[kernel.S_FILLING] = spec.filling_mode
        row_i[kernel.S_EXEMODE] = spec.trade_exemode
        row_i[kernel.S_EXPIRATION] = spec.expiration_mode
        row_i[kernel.S_STOPS_LEVEL] = spec.trade_stops_level
        row_i[kernel.S_FREEZE_LEVEL] = spec.trade_freeze_level
        row_i[kernel.S_SWAP_MODE] = spec.swap_mode
        row_i[kernel.S_SWAP3] = spec.swap_rollover3days
        row_i[kernel.S_CALC_MODE] = spec.trade_calc_mode
        row_i[kernel.S_BASE] = self._currency(spec.currency_base)
        row_i[kernel.S_PROFIT] = self._currency(spec.currency_profit)
        row_i[kernel.S_MARGIN] = self._currency(spec.currency_margin)

    def _currency(self, code: str) -> int:
        if code not in self._currencies:
            self._currencies.append(code)
            if hasattr(self, "state"):
                self._currency_tables()
        return self._currencies.index(code)

    def _currency_tables(self) -> None:
        codes = self._currencies
        count = len(codes)
        fallback = np.full((count, count), math.nan)
        named = np.zeros(count, dtype=np.int64)
        for pair, value in self.execution.fallback_rates.items():
            source, target = codes.index(pair[:3]), codes.index(pair[3:])
            fallback[source, target] = value
            named[source] = named[target] = 1
        order = sorted(range(count), key=lambda k: (codes[k] != "USD", codes[k]))
        self.state = self.state._replace(
            fallback=fallback,
            vias=np.array(order, dtype=np.int64),
            fallback_code=named,
            conv=np.full(count, math.nan),
        )

    def subscribe(self, listener: Callable[[BrokerEvent], None]) -> None:
        """Call ``listener`` for every order event (placed, filled, expired, ...)."""
        self._listeners.append(listener)
        self.state.acct_i[kernel.I_EMIT] = 1

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise InvalidInputError(
                [f"symbol: {symbol!r} is not traded by this broker"], what="symbol"
            )
        return spec

    # ---- the state, in MT5's records --------------------------------------------------------
    @property
    def balance(self) -> float:
        return float(self.state.acct_f[kernel.A_BALANCE])

    @property
    def time_s(self) -> float:
        return float(self.state.acct_f[kernel.A_TIME])

    @property
    def lowest_equity(self) -> float | None:
        """The lowest equity seen along the price path since the caller last set it (backtests
        set it to inf at each bar to get the bar's true equity low, stops and closes included);
        None when not tracked."""
        lowest = float(self.state.acct_f[kernel.A_LOWEST])
        return None if math.isnan(lowest) else lowest

    @lowest_equity.setter
    def lowest_equity(self, value: float | None) -> None:
        self.state.acct_f[kernel.A_LOWEST] = math.nan if value is None else value

    @property
    def quotes(self) -> dict[str, Quote]:
        quote = self.state.quote
        return {
            name: Quote(float(quote[row, 0]), float(quote[row, 1]), float(quote[row, 2]))
            for row, name in enumerate(self._names)
            if not math.isnan(quote[row, 1])
        }

    @property
    def positions(self) -> dict[int, PositionRecord]:
        self._refresh_book()
        return self._positions

    @property
    def orders(self) -> dict[int, OrderRecord]:
        """The pending orders."""
        self._refresh_book()
        return self._orders

    @property
    def history_orders(self) -> dict[int, OrderRecord]:
        st, history = self.state, self._history
        for row in range(len(history), int(st.acct_i[kernel.I_HISTORY])):
            record = self._order_record(st.hist_f[row], st.hist_i[row])
            history[record.ticket] = record
        return history

    @property
    def deals(self) -> list[DealRecord]:
        st, records = self.state, self._deal_records
        for row in range(len(records), int(st.acct_i[kernel.I_DEALS])):
            records.append(self._deal_record(row))
        return records

    @property
    def exposure_log(self) -> list[tuple[float, str, float, float, float, float]] | None:
        """(time, symbol, long lots, long lots x open price, short lots, short lots x open
        price) after each deal, when recorded: backtests value the book bar by bar from it."""
        if not self.record_exposure:
            return None
        st = self.state
        rows = st.exposure[: st.acct_i[kernel.I_EXPOSURE]].tolist()
        names = self._names
        return [(t, names[int(s)], ll, lc, sl, sc) for t, s, ll, lc, sl, sc in rows]

    @property
    def swap_log(self) -> list[tuple[float, float]] | None:
        """(time, charge) of every swap charged, when recorded."""
        if not self.record_exposure:
            return None
        st = self.state
        return [(t, c) for t, c in st.swaps[: st.acct_i[kernel.I_SWAPS]].tolist()]

    def _refresh_book(self) -> None:
        if self._book_version == self._version:
            return
        st = self.state
        self._positions = {}
        for row in range(int(st.acct_i[kernel.I_POSITIONS])):
            position = self._position_record(row)
            self._positions[position.ticket] = position
        self._orders = {}
        for row in range(int(st.acct_i[kernel.I_ORDERS])):
            order = self._order_record(st.ord_f[row], st.ord_i[row])
            self._orders[order.ticket] = order
        self._book_version = self._version

    def _comment(self, comment: int, value: float) -> str:
        return _comment_text(self._texts, comment, value)

    def ledger(self) -> Ledger:
        """The deals and orders (history, then pending) as they stand now."""
        st = self.state
        counts = st.acct_i
        deals = int(counts[kernel.I_DEALS])
        done, waiting = int(counts[kernel.I_HISTORY]), int(counts[kernel.I_ORDERS])
        return Ledger(
            deal_f=st.deal_f[:deals].copy(),
            deal_i=st.deal_i[:deals].copy(),
            order_f=np.concatenate([st.hist_f[:done], st.ord_f[:waiting]]),
            order_i=np.concatenate([st.hist_i[:done], st.ord_i[:waiting]]),
            names=tuple(self._names),
            texts=tuple(self._texts),
        )

    def _position_record(self, row: int) -> PositionRecord:
        st = self.state
        (volume, price_open, sl, tp, price_current, swap, gain, comment_value) = st.pos_f[
            row
        ].tolist()
        (ticket, time, time_msc, time_update, time_update_msc, kind, magic, identifier, reason,
         symbol, comment) = st.pos_i[row].tolist()  # fmt: skip
        return PositionRecord(
            ticket=ticket,
            time=time,
            time_msc=time_msc,
            time_update=time_update,
            time_update_msc=time_update_msc,
            type=kind,
            magic=_unsigned(magic),
            identifier=identifier,
            reason=reason,
            volume=volume,
            price_open=price_open,
            sl=sl,
            tp=tp,
            price_current=price_current,
            swap=swap,
            profit=gain,
            symbol=self._names[symbol],
            comment=self._comment(comment, comment_value),
        )

    def _order_record(self, row_f: np.ndarray, row_i: np.ndarray) -> OrderRecord:
        (volume_initial, volume_current, price_open, sl, tp, price_current, stoplimit, expires_at,
         comment_value) = row_f[: kernel.OF_COUNT].tolist()  # fmt: skip
        (ticket, time_setup, time_setup_msc, time_done, time_done_msc, time_expiration, kind,
         type_time, type_filling, state, magic, position_id, position_by_id, reason, symbol,
         comment) = row_i[: kernel.OI_COUNT].tolist()  # fmt: skip
        return OrderRecord(
            ticket=ticket,
            time_setup=time_setup,
            time_setup_msc=time_setup_msc,
            time_done=time_done,
            time_done_msc=time_done_msc,
            time_expiration=time_expiration,
            type=kind,
            type_time=type_time,
            type_filling=type_filling,
            state=state,
            magic=_unsigned(magic),
            position_id=position_id,
            position_by_id=position_by_id,
            reason=reason,
            volume_initial=volume_initial,
            volume_current=volume_current,
            price_open=price_open,
            sl=sl,
            tp=tp,
            price_current=price_current,
            price_stoplimit=stoplimit,
            symbol=self._names[symbol],
            comment=self._comment(comment, comment_value),
            expires_at=None if math.isnan(expires_at) else expires_at,
        )

    def _deal_record(self, row: int) -> DealRecord:
        st = self.state
        (volume, price, commission, swap, gain, fee, comment_value) = st.deal_f[row].tolist()
        (ticket, order, time, time_msc, kind, entry, magic, position_id, reason, symbol,
         comment) = st.deal_i[row].tolist()  # fmt: skip
        return DealRecord(
            ticket=ticket,
            order=order,
            time=time,
            time_msc=time_msc,
            type=kind,
            entry=entry,
            magic=_unsigned(magic),
            position_id=position_id,
            reason=reason,
            volume=volume,
            price=price,
            commission=commission,
            swap=swap,
            profit=gain,
            fee=fee,
            symbol=self._names[symbol] if symbol >= 0 else "",
            comment=self._comment(comment, comment_value),
        )

    def symbol_index(self, symbol: str) -> int:
        """The symbol's row in the kernel's tables."""
        self.spec(symbol)
        return self._index[symbol]

    def text_id(self, text: str) -> int:
        """The id the kernel keeps for a text (a comment)."""
        return self._text(text)

    def _text(self, text: str) -> int:
        known = self._text_ids.get(text)
        if known is None:
            known = self._text_ids[text] = len(self._texts)
            self._texts.append(text)
        return known

    # ---- account --------------------------------------------------------------------------
    @property
    def profit(self) -> float:
        """Floating profit of open positions in account currency (swaps included, as MT5 shows)."""
        return float(kernel.profit(self.state))

    @property
    def equity(self) -> float:
        return float(kernel.equity(self.state))

    @property
    def margin(self) -> float:
        return float(self.call(kernel.margin, self.state))

    def account_info(self) -> dict[str, Any]:
        """The fields of MT5's ``AccountInfo``."""
        margin = self.margin
        equity = self.equity
        cfg = self.account
        return {
            "login": cfg.login,
            "trade_mode": cfg.trade_mode,
            "leverage": cfg.leverage,
            "limit_orders": cfg.limit_orders,
            "margin_so_mode": mt5.ACCOUNT_STOPOUT_MODE_PERCENT,
            "trade_allowed": cfg.trade_allowed,
            "trade_expert": cfg.trade_expert,
            "margin_mode": cfg.margin_mode,
            "currency_digits": cfg.currency_digits,
            "fifo_close": cfg.fifo_close,
            "balance": round(self.balance, 2),
            "credit": 0.0,
            "profit": round(self.profit, 2),
            "equity": round(equity, 2),
            "margin": round(margin, 2),
            "margin_free": round(equity - margin, 2),
            "margin_level": round(equity / margin * 100, 2) if margin else 0.0,
            "margin_so_call": cfg.margin_so_call,
            "margin_so_so": cfg.margin_so_so,
            "margin_initial": 0.0,
            "margin_maintenance": 0.0,
            "assets": 0.0,
            "liabilities": 0.0,
            "commission_blocked": 0.0,
            "name": cfg.name,
            "server": cfg.server,
            "currency": cfg.currency,
            "company": cfg.company,
        }

    # ---- prices ---------------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote | None:
        row = self._index.get(symbol)
        if row is None:
            return None
        time_s, bid, ask = self.state.quote[row].tolist()
        return None if math.isnan(bid) else Quote(time_s, bid, ask)

    def set_quote(self, symbol: str, time_s: float, bid: float, ask: float) -> None:
        """Move the market to a new quote and let orders, stops and expiries react to it."""
        self.spec(symbol)
        if not (bid > 0 and ask >= bid):
            raise InvalidInputError(
                [f"quote: {symbol} bid {bid} / ask {ask} is not a valid quote"], what="quote"
            )
        self.reserve(float(time_s))
        self.call(
            kernel.set_quote, self.state, self._index[symbol], float(time_s), float(bid), float(ask)
        )

    def on_bar(
        self,
        symbol: str,
        time_s: float,
        duration_s: float,
        open_: float,
        high: float,
        low: float,
        close: float,
        spread_points: float,
    ) -> None:
        """Walk one bid bar through the market (see the module docstring for the path)."""
        self.open_bar(symbol, time_s, open_, spread_points)
        self.finish_bar(symbol, time_s, duration_s, open_, high, low, close, spread_points)

    def open_bar(self, symbol: str, time_s: float, open_: float, spread_points: float) -> None:
        """The first tick of a bar: its open. Orders sent now fill at the open (gaps included)."""
        self.spec(symbol)
        self.reserve(float(time_s))
        price = float(open_)
        self.call(
            kernel.walk_bar,
            self.state,
            self._index[symbol],
            float(time_s),
            0.0,
            price,
            price,
            price,
            price,
            float(spread_points),
            True,
            False,
        )

    def finish_bar(
        self,
        symbol: str,
        time_s: float,
        duration_s: float,
        open_: float,
        high: float,
        low: float,
        close: float,
        spread_points: float,
    ) -> None:
        """The rest of a bar after ``open_bar``: its path through high and low to the close."""
        self.spec(symbol)
        self.reserve(float(time_s) + float(duration_s))
        self.call(
            kernel.walk_bar,
            self.state,
            self._index[symbol],
            float(time_s),
            float(duration_s),
            float(open_),
            float(high),
            float(low),
            float(close),
            float(spread_points),
            False,
            True,
        )

    def trigger_bounds(self, symbol: str) -> tuple[float, float, float, float, float]:
        """Where the market must go for something to happen on ``symbol``.

        Returns (bid_low, bid_high, ask_low, ask_high, expiry_s): a bar whose bid low is at or
        below bid_low, whose bid high is at or above bid_high, whose ask low is at or below
        ask_low or whose ask high is at or above ask_high, or that reaches expiry_s, may trigger
        an order, a stop, an expiry or a stop-out; any other bar cannot. Used to skip quiet bars.
        """
        bounds = self.call(kernel.trigger_bounds, self.state, self._index[symbol])
        return cast(tuple[float, float, float, float, float], tuple(map(float, bounds)))

    def advance_clock(self, time_s: float) -> None:
        """Let time pass without a quote (rollovers and swaps happen on the way)."""
        self.reserve(float(time_s))
        self.call(kernel.advance_clock, self.state, float(time_s))

    # ---- sending requests -----------------------------------------------------------------
    def send(self, request: Mapping[str, Any]) -> TradeResult:
        """Execute a trade request as an MT5 server would; rejections come back as retcodes."""
        request_id = next(self._request_ids)
        self.reserve(self.time_s)
        rejection = self._submit(request, execute=True)
        reply_f, reply_i = self._reply_f, self._reply_i
        if rejection:
            retcode, comment = kernel.REJECTIONS[rejection]
            if rejection == kernel.REJ_UNKNOWN_SYMBOL:
                comment = f"Unknown symbol {request.get('symbol', '')!r}"
            quote = self.quote(str(request.get("symbol", "")))
            requote = retcode == mt5.TRADE_RETCODE_REQUOTE and quote is not None
            return TradeResult(
                retcode=retcode,
                comment=comment,
                bid=quote.bid if requote and quote else 0.0,
                ask=quote.ask if requote and quote else 0.0,
                request_id=request_id,
            )
        volume, price, bid, ask, _ = reply_f.tolist()
        retcode, deal, order, comment_code, _ = reply_i.tolist()
        return TradeResult(
            retcode=retcode,
            deal=deal,
            order=order,
            volume=volume,
            price=price,
            bid=bid,
            ask=ask,
            comment=kernel.REPLY_COMMENTS[comment_code],
            request_id=request_id,
        )

    def check(self, request: Mapping[str, Any]) -> CheckResult:
        """Validate a request without executing it; report the account as it would be after."""
        rejection = self._submit(request, execute=False)
        if rejection:
            retcode, comment = kernel.REJECTIONS[rejection]
            if rejection == kernel.REJ_UNKNOWN_SYMBOL:
                comment = f"Unknown symbol {request.get('symbol', '')!r}"
            info = self.account_info()
            return CheckResult(
                retcode=retcode,
                balance=info["balance"],
                equity=info["equity"],
                profit=info["profit"],
                margin=info["margin"],
                margin_free=info["margin_free"],
                margin_level=info["margin_level"],
                comment=comment,
            )
        margin = self.margin
        action = request.get("action", 0)
        if self._reply_i[kernel.Y_FILLED] and action in (
            mt5.TRADE_ACTION_DEAL,
            mt5.TRADE_ACTION_PENDING,
        ):
            margin = float(self._reply_f[kernel.Y_MARGIN])
        equity = self.equity
        return CheckResult(
            retcode=0,
            balance=round(self.balance, 2),
            equity=round(equity, 2),
            profit=round(self.profit, 2),
            margin=round(margin, 2),
            margin_free=round(equity - margin, 2),
            margin_level=round(equity / margin * 100, 2) if margin else 0.0,
            comment="Done",
        )

    def _submit(self, request: Mapping[str, Any], *, execute: bool) -> int:
        req_f, req_i = self.request_arrays(request)
        self._reply_f[:] = 0.0
        self._reply_i[:] = 0
        return int(
            self.call(kernel.send, self.state, req_f, req_i, execute, self._reply_f, self._reply_i)
        )

    def request_arrays(self, request: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """An MT5 request dict as the kernel reads it (MT5's zero for a missing key)."""
        req_f, req_i = self._req_f, self._req_i
        req_f[:] = 0.0
        req_i[:] = 0
        get = request.get
        for key, column in _REQUEST_FLOATS:
            value = get(key)
            if value is not None:
                req_f[column] = value
        for key, column in _REQUEST_INTS:
            value = get(key)
            if value is not None:
                req_i[column] = _to_int64(key, int(value))
        symbol = get("symbol", "")
        req_i[kernel.R_SYMBOL] = self._index.get(symbol, -1) if symbol in self.symbols else -1
        req_i[kernel.R_COMMENT] = self._text(get("comment", "") or "")
        return req_f, req_i

    # ---- money ----------------------------------------------------------------------------
    def calc_profit(
        self, order_type: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> float:
        """MT5's ``order_calc_profit``: profit in account currency (negative for a loss)."""
        self.spec(symbol)
        return float(
            self.call(
                kernel.calc_profit,
                self.state,
                order_type,
                self._index[symbol],
                float(volume),
                float(price_open),
                float(price_close),
            )
        )

    def calc_margin(self, order_type: int, symbol: str, volume: float, price: float) -> float:
        """MT5's ``order_calc_margin``: margin in account currency, ignoring open positions."""
        self.spec(symbol)
        per_lot = self.call(kernel.margin_per_lot, self.state, self._index[symbol], float(price))
        return round(volume * float(per_lot), 2)

    def _rate(self, source: str, target: str) -> float:
        """How many units of ``target`` one unit of ``source`` is worth at current quotes."""
        return float(
            self.call(kernel.rate, self.state, self._currency(source), self._currency(target))
        )

    # ---- calling the kernel ---------------------------------------------------------------
    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a compiled function on this broker's state (``kernel``'s, or a backtest loop's);
        then deliver the events it recorded and forget the records built before."""
        try:
            return function(*args)
        except kernel.ConversionMissing:
            st = self.state
            source = self._currencies[int(st.acct_i[kernel.I_MISSING_FROM])]
            target = self._currencies[int(st.acct_i[kernel.I_MISSING_TO])]
            raise NlTraderError(
                f"no quote to convert {source} to {target}: give the broker a {source}{target} "
                f"or {target}{source} price"
            ) from None
        finally:
            self._version += 1
            if self.state.acct_i[kernel.I_EVENTS]:
                self._deliver()

    def reserve(self, until_s: float, extra: int = 0) -> None:
        """Room in the tables for what one call can write while time runs to ``until_s``, with
        ``extra`` orders sent on the way. A table that grows takes four times its room: each
        growth is a copy, and rows not yet written cost no memory."""
        st = self.state
        counts = st.acct_i
        positions, orders = int(counts[kernel.I_POSITIONS]), int(counts[kernel.I_ORDERS])
        records = 4 * (positions + orders + extra) + 16
        nights = max(0, int(until_s - float(st.acct_f[kernel.A_TIME])) // DAY_S + 2)
        needs = {
            "pos_f": positions + orders + extra + 4,
            "ord_f": orders + extra + 4,
            "hist_f": int(counts[kernel.I_HISTORY]) + records,
            "deal_f": int(counts[kernel.I_DEALS]) + records,
            "ev_f": int(counts[kernel.I_EVENTS]) + 3 * records,
            "exposure": int(counts[kernel.I_EXPOSURE]) + records,
            "swaps": int(counts[kernel.I_SWAPS]) + (positions + extra) * nights + 4,
        }
        grown: dict[str, np.ndarray] = {}
        for name, need in needs.items():
            table = getattr(st, name)
            if len(table) >= need:
                continue
            size = max(need, 4 * len(table))
            grown[name] = _grow(table, size)
            partner = _PARTNERS.get(name)
            if partner is not None:
                grown[partner] = _grow(getattr(st, partner), size)
        scratch = max(len(grown.get("pos_f", st.pos_f)), len(grown.get("ord_f", st.ord_f))) + 1
        if len(st.tickets) < scratch:
            grown["tickets"] = _grow(st.tickets, scratch)
            grown["scratch_i"] = _grow(st.scratch_i, scratch)
            grown["scratch_f"] = _grow(st.scratch_f, scratch)
        if grown:
            self.state = st._replace(**grown)

    def _deliver(self) -> None:
        """Hand the events the last call recorded to the listeners, in order. They are read out
        first: a listener may send an order, and that call records events of its own."""
        st = self.state
        count = int(st.acct_i[kernel.I_EVENTS])
        events = [self._event(row) for row in range(count)] if self._listeners else []
        st.acct_i[kernel.I_EVENTS] = 0
        for event in events:
            for listener in self._listeners:
                listener(event)

    def _event(self, row: int) -> BrokerEvent:
        st = self.state
        order = self._order_record(st.ev_f[row], st.ev_i[row])
        comment_code = int(st.ev_i[row, kernel.E_COMMENT])
        if comment_code == kernel.EC_ORDER:
            comment = order.comment
        elif comment_code == kernel.EC_STOP_LIMIT:
            value = float(st.ev_f[row, kernel.E_COMMENT_VALUE])
            comment = kernel.EVENT_COMMENTS[comment_code].format(value)
        else:
            comment = kernel.EVENT_COMMENTS[comment_code]
        deal_row = int(st.ev_i[row, kernel.E_DEAL])
        return BrokerEvent(
            state=_EVENT_STATES[int(st.ev_i[row, kernel.E_STATE])],
            order=order.as_dict(),
            time_s=float(st.ev_f[row, kernel.E_TIME]),
            retcode=int(st.ev_i[row, kernel.E_RETCODE]),
            comment=comment,
            deal=self._deal_record(deal_row).as_dict() if deal_row >= 0 else None,
            reason=_EVENT_REASONS[int(st.ev_i[row, kernel.E_REASON])],
        )


@dataclass(frozen=True)
class Ledger:
    """A broker's deals and orders as they stood, as MT5's record dicts when first asked for
    (a backtest's tens of thousands of records are built column by column, and only if read)."""

    deal_f: np.ndarray
    deal_i: np.ndarray
    order_f: np.ndarray
    order_i: np.ndarray
    names: tuple[str, ...]
    texts: tuple[str, ...]

    @functools.cached_property
    def deals(self) -> list[dict[str, Any]]:
        """``TradeDeal`` dicts, oldest first (the first is the initial deposit)."""
        floats, ints = self.deal_f, self.deal_i
        names = self.names
        columns: dict[str, list[Any]] = {
            name: ints[:, column].tolist() for name, column in _DEAL_INT_COLUMNS
        }
        columns.update({name: floats[:, column].tolist() for name, column in _DEAL_FLOAT_COLUMNS})
        columns["magic"] = [_unsigned(magic) for magic in columns["magic"]]
        columns["symbol"] = [names[k] if k >= 0 else "" for k in ints[:, kernel.D_SYMBOL].tolist()]
        columns["comment"] = self._comments(
            ints[:, kernel.D_COMMENT], floats[:, kernel.D_COMMENT_VALUE]
        )
        columns["external_id"] = [""] * len(ints)
        return [
            dict(zip(_DEAL_FIELDS, values, strict=True))
            for values in zip(*(columns[name] for name in _DEAL_FIELDS), strict=True)
        ]

    @functools.cached_property
    def orders(self) -> list[dict[str, Any]]:
        """``TradeOrder`` dicts: the history in the order the orders ended, then those pending."""
        floats, ints = self.order_f, self.order_i
        names = self.names
        columns: dict[str, list[Any]] = {
            name: ints[:, column].tolist() for name, column in _ORDER_INT_COLUMNS
        }
        columns.update({name: floats[:, column].tolist() for name, column in _ORDER_FLOAT_COLUMNS})
        columns["magic"] = [_unsigned(magic) for magic in columns["magic"]]
        columns["symbol"] = [names[k] for k in ints[:, kernel.O_SYMBOL].tolist()]
        columns["comment"] = self._comments(
            ints[:, kernel.O_COMMENT], floats[:, kernel.O_COMMENT_VALUE]
        )
        columns["external_id"] = [""] * len(ints)
        return [
            dict(zip(_ORDER_FIELDS, values, strict=True))
            for values in zip(*(columns[name] for name in _ORDER_FIELDS), strict=True)
        ]

    def _comments(self, ids: np.ndarray, values: np.ndarray) -> list[str]:
        texts = self.texts
        return [
            texts[k] if k >= 0 else _comment_text(texts, k, v)
            for k, v in zip(ids.tolist(), values.tolist(), strict=True)
        ]


_INT64_MAX = 2**63 - 1


def _to_int64(key: str, value: int) -> int:
    """A request's integer as the kernel keeps it: the magic (MT5's ulong) as its 64 bits, a
    ticket no record can have as -1, any other value held at int64's bounds."""
    if -_INT64_MAX - 1 <= value <= _INT64_MAX:
        return value
    if key == "magic" and 0 <= value < 2**64:
        return value - 2**64
    if key in ("order", "position", "position_by"):
        return -1
    return max(-_INT64_MAX - 1, min(_INT64_MAX, value))


def _unsigned(magic: int) -> int:
    """The magic as MT5 shows it (unsigned 64 bits)."""
    return magic + 2**64 if magic < 0 else magic


def _comment_text(texts: Sequence[str], comment: int, value: float) -> str:
    """A comment from its id: the broker's text, or one the kernel wrote with its number."""
    if comment >= 0:
        return texts[comment]
    if comment == kernel.C_SL:
        return f"[sl {value}]"
    if comment == kernel.C_TP:
        return f"[tp {value}]"
    return f"[so {value:.1f}%]"


_DEAL_INT_COLUMNS = (
    ("ticket", kernel.D_TICKET),
    ("order", kernel.D_ORDER),
    ("time", kernel.D_TIME),
    ("time_msc", kernel.D_TIME_MSC),
    ("type", kernel.D_TYPE),
    ("entry", kernel.D_ENTRY),
    ("magic", kernel.D_MAGIC),
    ("position_id", kernel.D_POSITION_ID),
    ("reason", kernel.D_REASON),
)
_DEAL_FLOAT_COLUMNS = (
    ("volume", kernel.D_VOLUME),
    ("price", kernel.D_PRICE),
    ("commission", kernel.D_COMMISSION),
    ("swap", kernel.D_SWAP),
    ("profit", kernel.D_PROFIT),
    ("fee", kernel.D_FEE),
)
_ORDER_INT_COLUMNS = (
    ("ticket", kernel.O_TICKET),
    ("time_setup", kernel.O_TIME_SETUP),
    ("time_setup_msc", kernel.O_TIME_SETUP_MSC),
    ("time_done", kernel.O_TIME_DONE),
    ("time_done_msc", kernel.O_TIME_DONE_MSC),
    ("time_expiration", kernel.O_TIME_EXPIRATION),
    ("type", kernel.O_TYPE),
    ("type_time", kernel.O_TYPE_TIME),
    ("type_filling", kernel.O_TYPE_FILLING),
    ("state", kernel.O_STATE),
    ("magic", kernel.O_MAGIC),
    ("position_id", kernel.O_POSITION_ID),
    ("position_by_id", kernel.O_POSITION_BY_ID),
    ("reason", kernel.O_REASON),
)
_ORDER_FLOAT_COLUMNS = (
    ("volume_initial", kernel.O_VOLUME_INITIAL),
    ("volume_current", kernel.O_VOLUME_CURRENT),
    ("price_open", kernel.O_PRICE_OPEN),
    ("sl", kernel.O_SL),
    ("tp", kernel.O_TP),
    ("price_current", kernel.O_PRICE_CURRENT),
    ("price_stoplimit", kernel.O_PRICE_STOPLIMIT),
)


def _grow(table: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros((size, *table.shape[1:]), dtype=table.dtype)
    grown[: len(table)] = table
    return grown


_PARTNERS = {
    "pos_f": "pos_i",
    "ord_f": "ord_i",
    "hist_f": "hist_i",
    "deal_f": "deal_i",
    "ev_f": "ev_i",
}
_REQUEST_FLOATS = (
    ("volume", kernel.R_VOLUME),
    ("price", kernel.R_PRICE),
    ("stoplimit", kernel.R_STOPLIMIT),
    ("sl", kernel.R_SL),
    ("tp", kernel.R_TP),
)
_REQUEST_INTS = (
    ("action", kernel.R_ACTION),
    ("magic", kernel.R_MAGIC),
    ("order", kernel.R_ORDER),
    ("deviation", kernel.R_DEVIATION),
    ("type", kernel.R_TYPE),
    ("type_filling", kernel.R_TYPE_FILLING),
    ("type_time", kernel.R_TYPE_TIME),
    ("expiration", kernel.R_EXPIRATION),
    ("position", kernel.R_POSITION),
    ("position_by", kernel.R_POSITION_BY),
)
_EVENT_STATES = (
    OrderState.PLACED,
    OrderState.FILLED,
    OrderState.PARTIALLY_FILLED,
    OrderState.CANCELLED,
    OrderState.REJECTED,
    OrderState.EXPIRED,
)
_EVENT_REASONS = (None, "trader", "expiration")
