"""The simulated broker: the one fill engine of the product.

It takes MT5 trade requests (the dicts ``OrderParams.to_mt5_request()`` builds) and answers as an
MT5 trade server does: retcodes for rejections, orders, deals and positions with MT5's ticket rules,
netting or hedging accounts. The simulated route calls it directly, the fake terminal wraps it in the
MetaTrader5 module's functions, and the backtester drives it bar by bar, so paper trading, the fake
terminal and backtests cannot drift apart.

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
      account currency at current quotes.
    * Margin is checked before a position grows (10019); when margin level falls to the stop-out
      level the most losing position is closed at market (reason SO).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.events import OrderState
from nl_trader.symbols import (
    DEFAULT_SYMBOLS,
    SYMBOL_EXPIRATION_DAY,
    SYMBOL_EXPIRATION_GTC,
    SYMBOL_EXPIRATION_SPECIFIED,
    SYMBOL_EXPIRATION_SPECIFIED_DAY,
    SYMBOL_FILLING_FOK,
    SYMBOL_FILLING_IOC,
    SYMBOL_ORDER_CLOSEBY,
    SYMBOL_ORDER_LIMIT,
    SYMBOL_ORDER_MARKET,
    SYMBOL_ORDER_STOP,
    SYMBOL_ORDER_STOP_LIMIT,
    SymbolSpec,
    snap_volume,
)

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
_TRADE_ACTIONS = frozenset(
    {
        mt5.TRADE_ACTION_DEAL,
        mt5.TRADE_ACTION_PENDING,
        mt5.TRADE_ACTION_SLTP,
        mt5.TRADE_ACTION_MODIFY,
        mt5.TRADE_ACTION_REMOVE,
        mt5.TRADE_ACTION_CLOSE_BY,
    }
)
_EXPIRATION_FLAG = {
    mt5.ORDER_TIME_GTC: SYMBOL_EXPIRATION_GTC,
    mt5.ORDER_TIME_DAY: SYMBOL_EXPIRATION_DAY,
    mt5.ORDER_TIME_SPECIFIED: SYMBOL_EXPIRATION_SPECIFIED,
    mt5.ORDER_TIME_SPECIFIED_DAY: SYMBOL_EXPIRATION_SPECIFIED_DAY,
}
_ORDER_MODE_FLAG = {
    mt5.ORDER_TYPE_BUY: SYMBOL_ORDER_MARKET,
    mt5.ORDER_TYPE_SELL: SYMBOL_ORDER_MARKET,
    mt5.ORDER_TYPE_BUY_LIMIT: SYMBOL_ORDER_LIMIT,
    mt5.ORDER_TYPE_SELL_LIMIT: SYMBOL_ORDER_LIMIT,
    mt5.ORDER_TYPE_BUY_STOP: SYMBOL_ORDER_STOP,
    mt5.ORDER_TYPE_SELL_STOP: SYMBOL_ORDER_STOP,
    mt5.ORDER_TYPE_BUY_STOP_LIMIT: SYMBOL_ORDER_STOP_LIMIT,
    mt5.ORDER_TYPE_SELL_STOP_LIMIT: SYMBOL_ORDER_STOP_LIMIT,
}


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


@dataclass(slots=True)
class _Request:
    """A trade request with MT5's zero defaults for missing keys."""

    action: int = 0
    magic: int = 0
    order: int = 0
    symbol: str = ""
    volume: float = 0.0
    price: float = 0.0
    stoplimit: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    deviation: int = 0
    type: int = 0
    type_filling: int = 0
    type_time: int = 0
    expiration: int = 0
    comment: str = ""
    position: int = 0
    position_by: int = 0

    @classmethod
    def of(cls, request: Mapping[str, Any]) -> _Request:
        names = cls.__slots__
        return cls(**{key: request[key] for key in names if key in request})


class _Rejected(Exception):
    def __init__(self, retcode: int, comment: str) -> None:
        super().__init__(comment)
        self.retcode = retcode
        self.comment = comment


@dataclass(slots=True)
class _Fill:
    """What a request would do, worked out before anything changes."""

    spec: SymbolSpec
    type: int
    volume: float
    price: float
    position: PositionRecord | None = None
    retcode: int = mt5.TRADE_RETCODE_DONE


class SimBroker:
    """A simulated MT5 trade server with one account."""

    def __init__(
        self,
        symbols: Iterable[SymbolSpec] | None = None,
        account: AccountConfig | None = None,
        execution: ExecutionModel | None = None,
        *,
        record_exposure: bool = False,
    ) -> None:
        self.account = account or AccountConfig()
        # Backtests value the book bar by bar afterwards from these ledgers (see exposure_log).
        self.exposure_log: list[tuple[float, str, float, float, float, float]] | None = (
            [] if record_exposure else None
        )
        self.swap_log: list[tuple[float, float]] | None = [] if record_exposure else None
        # The lowest equity seen along the price path since the caller last reset it (backtests
        # reset it at each bar to get the bar's true equity low, stops and closes included).
        self.lowest_equity: float | None = None
        self.execution = execution or ExecutionModel()
        self.symbols: dict[str, SymbolSpec] = {}
        for spec in symbols if symbols is not None else DEFAULT_SYMBOLS.values():
            self.add_symbol(spec)
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[int, OrderRecord] = {}
        self.positions: dict[int, PositionRecord] = {}
        self.history_orders: dict[int, OrderRecord] = {}
        self.deals: list[DealRecord] = []
        self.balance = float(self.account.balance)
        self.time_s: float = 0.0
        self._order_tickets = itertools.count(10_000_001)
        self._deal_tickets = itertools.count(50_000_001)
        self._request_ids = itertools.count(1)
        self._listeners: list[Callable[[BrokerEvent], None]] = []
        self._active_symbols: dict[str, int] = {}
        self.deals.append(
            DealRecord(
                ticket=next(self._deal_tickets),
                order=0,
                time=0,
                time_msc=0,
                type=mt5.DEAL_TYPE_BALANCE,
                entry=mt5.DEAL_ENTRY_IN,
                magic=0,
                position_id=0,
                reason=mt5.DEAL_REASON_CLIENT,
                volume=0.0,
                price=0.0,
                commission=0.0,
                swap=0.0,
                profit=self.balance,
                fee=0.0,
                symbol="",
                comment="initial deposit",
            )
        )

    # ---- setup ----------------------------------------------------------------------------
    def add_symbol(self, spec: SymbolSpec) -> None:
        self.symbols[spec.name] = spec

    def subscribe(self, listener: Callable[[BrokerEvent], None]) -> None:
        """Call ``listener`` for every order event (placed, filled, expired, ...)."""
        self._listeners.append(listener)

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise InvalidInputError(
                [f"symbol: {symbol!r} is not traded by this broker"], what="symbol"
            )
        return spec

    # ---- account --------------------------------------------------------------------------
    @property
    def profit(self) -> float:
        """Floating profit of open positions in account currency (swaps included, as MT5 shows)."""
        return sum(p.profit + p.swap for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.balance + self.profit

    @property
    def margin(self) -> float:
        positions = self.positions
        if len(positions) == 1:  # the usual book: no hedged volume to share out
            (position,) = positions.values()
            quote = self.quotes.get(position.symbol)
            per_lot = self._margin_per_lot(
                self.symbols[position.symbol], quote.ask if quote else 0.0
            )
            return position.volume * per_lot
        return self._margin_for(positions.values()) if positions else 0.0

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
        return self.quotes.get(symbol)

    def set_quote(self, symbol: str, time_s: float, bid: float, ask: float) -> None:
        """Move the market to a new quote and let orders, stops and expiries react to it."""
        spec = self.spec(symbol)
        if not (bid > 0 and ask >= bid):
            raise InvalidInputError(
                [f"quote: {symbol} bid {bid} / ask {ask} is not a valid quote"], what="quote"
            )
        self._move(spec, float(time_s), spec.round_price(float(bid)), spec.round_price(float(ask)))

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
        spec = self.spec(symbol)
        spread = float(spread_points) * spec.point
        bid = round(float(open_), spec.digits)
        self._move(spec, float(time_s), bid, round(bid + spread, spec.digits))

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
        spec = self.spec(symbol)
        # Plain floats: numpy scalars from a bar array would leak into deals and account figures.
        time_s, duration_s = float(time_s), float(duration_s)
        open_, high, low, close = float(open_), float(high), float(low), float(close)
        spread = float(spread_points) * spec.point
        digits = spec.digits
        if not self._active_symbols.get(symbol) and self._quiet():
            bid = round(close, digits)
            end = time_s + duration_s - 1
            self._advance_clock(end)
            self.quotes[symbol] = Quote(end, bid, round(bid + spread, digits))
            return
        if self.execution.intrabar == "conservative" and self._net_lots(symbol):
            low_first = self._net_lots(symbol) > 0  # a net long is hurt by the low
        else:
            low_first = close >= open_
        path = (open_, low, high, close) if low_first else (open_, high, low, close)
        step = duration_s / 3.0
        times = (time_s, time_s + step, time_s + 2 * step, time_s + duration_s - 1)
        if self._out_of_reach(spec, low, high, spread, times[3]):
            for index in (1, 2, 3):
                bid = round(path[index], digits)
                self._move_out_of_reach(spec, times[index], bid, round(bid + spread, digits))
            return
        for index in (1, 2, 3):
            self._sweep(spec, path[index - 1], path[index], times[index - 1], times[index], spread)

    def _out_of_reach(
        self, spec: SymbolSpec, low: float, high: float, spread: float, end_s: float
    ) -> bool:
        """True when no order, stop, expiry or stop-out of ``spec``'s symbol can trigger between
        ``low`` and ``high`` (bid) before ``end_s``, no rollover falls inside the bar and every
        position is on this symbol: its path then needs no search for levels (``trigger_bounds``, with a point of slack for the
        quotes' rounding, as the backtest uses it to skip whole bars)."""
        if int(self.time_s) // DAY_S != int(end_s) // DAY_S:
            return False
        name = spec.name
        if any(position.symbol != name for position in self.positions.values()):
            return False  # this quote may convert other positions' money: a stop-out elsewhere
        bid_low, bid_high, ask_low, ask_high, expiry = self.trigger_bounds(name)
        slack = spec.point
        return (
            low > bid_low + slack
            and high < bid_high - slack
            and low + spread > ask_low + slack
            and high + spread < ask_high - slack
            and end_s < expiry
        )

    def _move_out_of_reach(self, spec: SymbolSpec, time_s: float, bid: float, ask: float) -> None:
        """``_move`` for a quote ``_out_of_reach`` cleared: the book is revalued, nothing can
        trigger."""
        name = spec.name
        self._advance_clock(time_s)
        self.quotes[name] = Quote(time_s, bid, ask)
        if self.positions:
            self._revalue_converted(name)
        if not self._active_symbols.get(name):
            return
        self._revalue(name)
        if self.lowest_equity is not None:
            self.lowest_equity = min(self.lowest_equity, self.equity)

    def _net_lots(self, symbol: str) -> float:
        return sum(
            p.volume if p.type == mt5.POSITION_TYPE_BUY else -p.volume
            for p in self.positions.values()
            if p.symbol == symbol
        )

    def trigger_bounds(self, symbol: str) -> tuple[float, float, float, float, float]:
        """Where the market must go for something to happen on ``symbol``.

        Returns (bid_low, bid_high, ask_low, ask_high, expiry_s): a bar whose bid low is at or
        below bid_low, whose bid high is at or above bid_high, whose ask low is at or below
        ask_low or whose ask high is at or above ask_high, or that reaches expiry_s, may trigger
        an order, a stop, an expiry or a stop-out; any other bar cannot. Used to skip quiet bars.
        """
        bid_low = ask_low = -math.inf
        bid_high = ask_high = expiry = math.inf
        for order in self.orders.values():
            if order.symbol != symbol:
                continue
            level = order.price_open
            if order.type in (mt5.ORDER_TYPE_BUY_LIMIT,):
                ask_low = max(ask_low, level)
            elif order.type in (mt5.ORDER_TYPE_BUY_STOP, mt5.ORDER_TYPE_BUY_STOP_LIMIT):
                ask_high = min(ask_high, level)
            elif order.type == mt5.ORDER_TYPE_SELL_LIMIT:
                bid_high = min(bid_high, level)
            else:
                bid_low = max(bid_low, level)
            if order.expires_at is not None:
                expiry = min(expiry, order.expires_at)
        for position in self.positions.values():
            if position.symbol != symbol:
                continue
            if position.type == mt5.POSITION_TYPE_BUY:
                if position.sl:
                    bid_low = max(bid_low, position.sl)
                if position.tp:
                    bid_high = min(bid_high, position.tp)
            else:
                if position.sl:
                    ask_high = min(ask_high, position.sl)
                if position.tp:
                    ask_low = max(ask_low, position.tp)
        # The margin moves with the price too (a short's grows as EURUSD rises) and a USDJPY P/L
        # in USD is not linear in the price: the stop-out can come sooner than the linear view
        # says, so only half its distance is trusted for skipping.
        stop_out = self._stop_out_level(symbol, trust=0.5)
        if stop_out is not None:
            on_bid, level = stop_out
            if on_bid:
                bid_low = max(bid_low, level)
            else:
                ask_high = min(ask_high, level)
        return bid_low, bid_high, ask_low, ask_high, expiry

    def _stop_out_level(self, symbol: str, trust: float = 1.0) -> tuple[bool, float] | None:
        """Where the book of ``symbol`` reaches the stop-out level, on a linear view of its value
        at today's margin: (on the bid?, price), or None without exposure. ``trust`` < 1 brings
        the level closer, for a conservative bound."""
        quote = self.quotes.get(symbol)
        net = self._net_lots(symbol)
        if not net or quote is None:
            return None
        spec = self.symbols[symbol]
        slope = (
            net * spec.trade_contract_size * self._rate(spec.currency_profit, self.account.currency)
        )
        shortfall = self.equity - self.account.margin_so_so / 100.0 * self.margin
        reach = trust * shortfall / slope
        return (True, quote.bid - reach) if slope > 0 else (False, quote.ask - reach)

    def _quiet(self) -> bool:
        """True when nothing can react to prices: no positions and no pending orders."""
        return not self.positions and not self.orders

    def _sweep(
        self,
        spec: SymbolSpec,
        start: float,
        end: float,
        start_s: float,
        end_s: float,
        spread: float,
    ) -> None:
        """Move the bid from ``start`` to ``end``, stopping at every trigger level on the way.

        Levels are looked up again after each stop: a fill can create new ones (the SL/TP of the
        position it opened, the limit of a triggered stop-limit). The time of each stop is
        interpolated along the segment, to the millisecond.
        """
        digits = spec.digits
        if end != start:
            rising = end > start
            current = start
            for _ in range(200):  # a stop-out level converges in a few stops; never loop forever
                here = round(current, digits)
                ahead = [
                    rounded
                    for level in self._trigger_levels(spec.name, spread)
                    if (current < level < end if rising else end < level < current)
                    and (rounded := round(level, digits)) != here
                ]
                if not ahead:
                    break
                level = min(ahead) if rising else max(ahead)
                moment = round(start_s + (end_s - start_s) * (level - start) / (end - start), 3)
                bid = round(level, digits)
                self._move(spec, moment, bid, round(bid + spread, digits))
                current = level
        bid = round(end, digits)
        self._move(spec, end_s, bid, round(bid + spread, digits))

    def _trigger_levels(self, symbol: str, spread: float) -> list[float]:
        """Bid prices at which some order or stop on ``symbol`` would trigger."""
        levels: list[float] = []
        for order in self.orders.values():
            if order.symbol != symbol:
                continue
            on_ask = order.type in BUY_TYPES
            levels.append(order.price_open - spread if on_ask else order.price_open)
        for position in self.positions.values():
            if position.symbol != symbol:
                continue
            on_ask = position.type == mt5.POSITION_TYPE_SELL
            for level in (position.sl, position.tp):
                if level:
                    levels.append(level - spread if on_ask else level)
        if self.positions:
            # Stop at the stop-out level too, so a stop-out inside a bar closes there and not at
            # the bar's extreme (the level is refined at each stop, the margin moving with price).
            stop_out = self._stop_out_level(symbol)
            if stop_out is not None:
                # On the tick grid, at the first tick past the level: that tick does stop out.
                on_bid, level = stop_out
                point = self.symbols[symbol].point
                if on_bid:
                    levels.append(math.floor(level / point + 1e-9) * point)
                else:
                    levels.append(math.ceil(level / point - 1e-9) * point - spread)
        return levels

    def _move(self, spec: SymbolSpec, time_s: float, bid: float, ask: float) -> None:
        name = spec.name
        self._advance_clock(time_s)
        self.quotes[name] = Quote(time_s, bid, ask)
        if self.positions:
            # Positions whose profit converts through this quote (EURJPY via USDJPY) move too.
            self._revalue_converted(name)
        if not self._active_symbols.get(name):
            return
        if self.orders:
            self._expire_orders(name)
            self._revalue(name)  # margin checks of triggered orders need today's equity
            self._trigger_orders(spec)
        self._trigger_stops(spec)
        self._revalue(name)
        self._stop_out()
        if self.lowest_equity is not None:
            self.lowest_equity = min(self.lowest_equity, self.equity)

    def advance_clock(self, time_s: float) -> None:
        """Let time pass without a quote (rollovers and swaps happen on the way)."""
        self._advance_clock(float(time_s))

    def _advance_clock(self, time_s: float) -> None:
        previous = self.time_s
        if time_s <= previous:
            return
        self.time_s = time_s
        if previous and self.positions:
            first_midnight = (int(previous) // DAY_S + 1) * DAY_S
            for midnight in range(first_midnight, int(time_s) + 1, DAY_S):
                self._rollover(midnight)

    # ---- sending requests -----------------------------------------------------------------
    def send(self, request: Mapping[str, Any]) -> TradeResult:
        """Execute a trade request as an MT5 server would; rejections come back as retcodes."""
        req = _Request.of(request)
        request_id = next(self._request_ids)
        try:
            result = self._dispatch(req, execute=True)
        except _Rejected as rejected:
            quote = self.quotes.get(req.symbol)
            requote = rejected.retcode == mt5.TRADE_RETCODE_REQUOTE and quote is not None
            result = TradeResult(
                retcode=rejected.retcode,
                comment=rejected.comment,
                bid=quote.bid if requote and quote else 0.0,
                ask=quote.ask if requote and quote else 0.0,
            )
        trade_result = cast(TradeResult, result)  # execute=True always yields a TradeResult
        trade_result.request_id = request_id
        return trade_result

    def check(self, request: Mapping[str, Any]) -> CheckResult:
        """Validate a request without executing it; report the account as it would be after."""
        req = _Request.of(request)
        try:
            fill = self._dispatch(req, execute=False)
        except _Rejected as rejected:
            info = self.account_info()
            return CheckResult(
                retcode=rejected.retcode,
                balance=info["balance"],
                equity=info["equity"],
                profit=info["profit"],
                margin=info["margin"],
                margin_free=info["margin_free"],
                margin_level=info["margin_level"],
                comment=rejected.comment,
            )
        margin = self.margin
        if (
            isinstance(fill, _Fill)
            and fill.position is None
            and req.action in (mt5.TRADE_ACTION_DEAL, mt5.TRADE_ACTION_PENDING)
        ):
            margin = self._margin_after(fill)
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

    def _dispatch(self, req: _Request, *, execute: bool) -> TradeResult | _Fill:
        action = req.action
        if not self.account.trade_expert and action in _TRADE_ACTIONS:
            raise _Rejected(mt5.TRADE_RETCODE_SERVER_DISABLES_AT, "Autotrading disabled by server")
        if action == mt5.TRADE_ACTION_DEAL:
            return self._deal(req, execute)
        if action == mt5.TRADE_ACTION_PENDING:
            return self._pending(req, execute)
        if action == mt5.TRADE_ACTION_SLTP:
            return self._sltp(req, execute)
        if action == mt5.TRADE_ACTION_MODIFY:
            return self._modify(req, execute)
        if action == mt5.TRADE_ACTION_REMOVE:
            return self._remove(req, execute)
        if action == mt5.TRADE_ACTION_CLOSE_BY:
            return self._close_by(req, execute)
        raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request")

    # ---- checks shared by the actions ------------------------------------------------------
    def _market(self, symbol: str) -> tuple[SymbolSpec, Quote]:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, f"Unknown symbol {symbol!r}")
        quote = self.quotes.get(symbol)
        if quote is None:
            raise _Rejected(mt5.TRADE_RETCODE_PRICE_OFF, "No prices")
        return spec, quote

    def _check_trade_mode(self, spec: SymbolSpec, order_type: int, *, opening: bool) -> None:
        mode = spec.trade_mode
        if mode == mt5.SYMBOL_TRADE_MODE_DISABLED:
            raise _Rejected(mt5.TRADE_RETCODE_TRADE_DISABLED, "Trade disabled")
        if not opening:
            return
        if mode == mt5.SYMBOL_TRADE_MODE_CLOSEONLY:
            raise _Rejected(mt5.TRADE_RETCODE_CLOSE_ONLY, "Only position closing is allowed")
        if mode == mt5.SYMBOL_TRADE_MODE_LONGONLY and order_type not in BUY_TYPES:
            raise _Rejected(mt5.TRADE_RETCODE_LONG_ONLY, "Only long positions are allowed")
        if mode == mt5.SYMBOL_TRADE_MODE_SHORTONLY and order_type in BUY_TYPES:
            raise _Rejected(mt5.TRADE_RETCODE_SHORT_ONLY, "Only short positions are allowed")

    def _check_volume(self, spec: SymbolSpec, volume: float) -> float:
        if not (volume > 0) or volume < spec.volume_min - 1e-9 or volume > spec.volume_max + 1e-9:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_VOLUME, "Invalid volume")
        snapped = snap_volume(volume, spec.volume_min, spec.volume_step)
        if snapped is None:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_VOLUME, "Invalid volume")
        return snapped

    def _check_volume_limit(self, spec: SymbolSpec, is_buy: bool, volume: float) -> None:
        """``volume_limit``: open plus pending volume of one direction on the symbol (10034)."""
        if not spec.volume_limit:
            return
        side = mt5.POSITION_TYPE_BUY if is_buy else mt5.POSITION_TYPE_SELL
        held = sum(
            p.volume for p in self.positions.values() if p.symbol == spec.name and p.type == side
        )
        waiting = sum(
            o.volume_current
            for o in self.orders.values()
            if o.symbol == spec.name and (o.type in BUY_TYPES) == is_buy
        )
        if held + waiting + volume > spec.volume_limit + 1e-9:
            raise _Rejected(mt5.TRADE_RETCODE_LIMIT_VOLUME, "Volume limit reached")

    def _check_order_mode(self, spec: SymbolSpec, order_type: int) -> None:
        if not spec.order_mode & _ORDER_MODE_FLAG.get(order_type, 0):
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_ORDER, "Unsupported order type")

    def _check_filling(self, spec: SymbolSpec, filling: int, *, pending: bool) -> None:
        """MetaTrader 5's "Fill Policy" table for the symbol's execution mode and filling flags."""
        exemode = spec.trade_exemode
        allowed: set[int]
        if exemode in (mt5.SYMBOL_TRADE_EXECUTION_INSTANT, mt5.SYMBOL_TRADE_EXECUTION_REQUEST):
            allowed = {mt5.ORDER_FILLING_FOK}
        else:
            allowed = set()
            if spec.filling_mode & SYMBOL_FILLING_FOK:
                allowed.add(mt5.ORDER_FILLING_FOK)
            if spec.filling_mode & SYMBOL_FILLING_IOC:
                allowed.add(mt5.ORDER_FILLING_IOC)
            if pending or exemode == mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE:
                allowed.add(mt5.ORDER_FILLING_RETURN)
        if filling not in allowed:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_FILL, "Unsupported filling mode")

    def _check_stops(
        self,
        spec: SymbolSpec,
        is_buy: bool,
        reference: float,
        sl: float,
        tp: float,
        *,
        market_quote: Quote | None = None,
    ) -> None:
        """SL/TP on the right side of the price and at least ``trade_stops_level`` points away.

        For a position the reference is its exit side: bid for a buy, ask for a sell.
        """
        if market_quote is not None:
            reference = market_quote.bid if is_buy else market_quote.ask
        min_distance = spec.trade_stops_level * spec.point
        tolerance = 1e-9 * max(reference, 1.0)
        for level, below in ((sl, is_buy), (tp, not is_buy)):
            if not level:
                continue
            gap = reference - level if below else level - reference
            if gap <= 0 or gap < min_distance - tolerance:
                raise _Rejected(mt5.TRADE_RETCODE_INVALID_STOPS, "Invalid stops")

    def _check_freeze(
        self, spec: SymbolSpec, quote: Quote, levels: Iterable[float], on_bid: bool
    ) -> None:
        if not spec.trade_freeze_level:
            return
        market = quote.bid if on_bid else quote.ask
        freeze = spec.trade_freeze_level * spec.point
        for level in levels:
            if level and abs(market - level) <= freeze:
                raise _Rejected(mt5.TRADE_RETCODE_FROZEN, "Order or position frozen")

    def _check_margin(self, fill: _Fill) -> None:
        margin = self._margin_after(fill)
        commission = self._commission(fill.spec, fill.volume)
        if self.equity - commission - margin < 0:
            raise _Rejected(mt5.TRADE_RETCODE_NO_MONEY, "No money")

    def _expiry(self, spec: SymbolSpec, req: _Request) -> tuple[int, float | None]:
        """Return (time_expiration to show, when the order expires or None) or reject (10022)."""
        flag = _EXPIRATION_FLAG.get(req.type_time)
        if flag is None or not spec.expiration_mode & flag:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration")
        now = self.time_s
        if req.type_time == mt5.ORDER_TIME_GTC:
            return int(req.expiration), None
        if req.type_time == mt5.ORDER_TIME_DAY:
            end = (int(now) // DAY_S + 1) * DAY_S - 1
            return end, end + 1
        if req.type_time == mt5.ORDER_TIME_SPECIFIED:
            if req.expiration <= now:
                raise _Rejected(mt5.TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration")
            return int(req.expiration), float(req.expiration)
        end = (int(req.expiration) // DAY_S + 1) * DAY_S - 1
        if end <= now:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration")
        return end, end + 1

    # ---- DEAL -----------------------------------------------------------------------------
    def _deal(self, req: _Request, execute: bool) -> TradeResult | _Fill:
        spec, quote = self._market(req.symbol)
        if req.type not in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL):
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request")
        is_buy = req.type == mt5.ORDER_TYPE_BUY
        position = self._target_position(req, spec)
        # On netting a deal against the symbol's position reduces or closes it (no ticket needed).
        netted = None if self.account.hedging else self._netting_position(spec.name)
        reduces = (
            netted is not None
            and (netted.type == mt5.POSITION_TYPE_BUY) != is_buy
            and req.volume <= netted.volume + 1e-9
        )
        self._check_trade_mode(spec, req.type, opening=position is None and not reduces)
        self._check_order_mode(spec, req.type)
        volume = self._check_volume(spec, req.volume)
        self._check_filling(spec, req.type_filling, pending=False)
        if not self.account.trade_allowed:
            raise _Rejected(mt5.TRADE_RETCODE_TRADE_DISABLED, "Trade disabled")
        price = quote.ask if is_buy else quote.bid
        if spec.trade_exemode in (
            mt5.SYMBOL_TRADE_EXECUTION_INSTANT,
            mt5.SYMBOL_TRADE_EXECUTION_REQUEST,
        ):
            if req.price <= 0:
                raise _Rejected(mt5.TRADE_RETCODE_INVALID_PRICE, "Invalid price")
            if abs(req.price - price) > req.deviation * spec.point + 1e-9 * price:
                raise _Rejected(mt5.TRADE_RETCODE_REQUOTE, "Requote")
        elif self.execution.slippage_points:
            slip = self.execution.slippage_points * spec.point
            price = spec.round_price(price + slip if is_buy else price - slip)
        if position is not None:
            if volume > position.volume + 1e-9:
                raise _Rejected(mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME, "Invalid close volume")
        elif req.sl or req.tp:
            self._check_stops(spec, is_buy, price, req.sl, req.tp, market_quote=quote)
        fill = _Fill(spec, req.type, volume, price, position)
        liquidity = self.execution.liquidity_lots
        if liquidity is not None and volume > liquidity + 1e-9:
            if req.type_filling == mt5.ORDER_FILLING_FOK:
                raise _Rejected(mt5.TRADE_RETCODE_REJECT, "Request rejected: not enough liquidity")
            fill.volume = self._check_volume(
                spec, math.floor(liquidity / spec.volume_step + 1e-9) * spec.volume_step
            )
            fill.retcode = mt5.TRADE_RETCODE_DONE_PARTIAL
        if self._opens_exposure(fill):
            self._check_volume_limit(spec, is_buy, fill.volume)
            self._check_margin(fill)
        if not execute:
            return fill
        order = self._new_order(
            req, spec, volume=volume, price=price, state=mt5.ORDER_STATE_STARTED
        )
        order.price_open = price
        self._emit(OrderState.PLACED, order, mt5.TRADE_RETCODE_PLACED, "Order placed")
        deal = self._execute(order, fill, reason=mt5.DEAL_REASON_EXPERT)  # API orders are EA's
        self._log_exposure(spec.name)
        partial = fill.retcode == mt5.TRADE_RETCODE_DONE_PARTIAL
        self._finish_order(
            order, mt5.ORDER_STATE_FILLED if not partial else mt5.ORDER_STATE_CANCELED
        )
        state = OrderState.PARTIALLY_FILLED if partial else OrderState.FILLED
        comment = "Request executed partially" if partial else "Request executed"
        self._emit(state, order, fill.retcode, comment, deal)
        return TradeResult(
            retcode=fill.retcode,
            deal=deal.ticket,
            order=order.ticket,
            volume=deal.volume,
            price=deal.price,
            bid=quote.bid,
            ask=quote.ask,
            comment=comment,
        )

    def _target_position(self, req: _Request, spec: SymbolSpec) -> PositionRecord | None:
        """The position a DEAL closes: ``position`` if given; on netting, an opposite position."""
        if req.position:
            position = self.positions.get(req.position)
            if position is None or position.symbol != spec.name:
                raise _Rejected(mt5.TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist")
            closing_type = (
                mt5.ORDER_TYPE_SELL
                if position.type == mt5.POSITION_TYPE_BUY
                else mt5.ORDER_TYPE_BUY
            )
            if req.type != closing_type:
                raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request")
            return position
        return None

    def _opens_exposure(self, fill: _Fill) -> bool:
        if fill.position is not None:
            return False
        if self.account.hedging:
            return True
        existing = self._netting_position(fill.spec.name)
        if existing is None:
            return True
        same_side = (existing.type == mt5.POSITION_TYPE_BUY) == (fill.type in BUY_TYPES)
        return same_side or fill.volume > existing.volume + 1e-9

    # ---- PENDING --------------------------------------------------------------------------
    def _pending(self, req: _Request, execute: bool) -> TradeResult | _Fill:
        spec, quote = self._market(req.symbol)
        if req.type not in PENDING_TYPES:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request")
        self._check_trade_mode(spec, req.type, opening=True)
        self._check_order_mode(spec, req.type)
        volume = self._check_volume(spec, req.volume)
        self._check_filling(spec, req.type_filling, pending=True)
        self._check_pending_prices(spec, quote, req.type, req.price, req.stoplimit, req.sl, req.tp)
        time_expiration, expires_at = self._expiry(spec, req)
        limit = self.account.limit_orders
        if limit and len(self.orders) >= limit:
            raise _Rejected(mt5.TRADE_RETCODE_LIMIT_ORDERS, "Pending orders limit reached")
        self._check_volume_limit(spec, req.type in BUY_TYPES, volume)
        fill = _Fill(spec, req.type, volume, req.price)
        if not execute:
            return fill
        order = self._new_order(
            req, spec, volume=volume, price=req.price, state=mt5.ORDER_STATE_PLACED
        )
        order.time_expiration = time_expiration
        order.expires_at = expires_at
        self.orders[order.ticket] = order
        self._active_symbols[spec.name] = self._active_symbols.get(spec.name, 0) + 1
        self._emit(OrderState.PLACED, order, mt5.TRADE_RETCODE_DONE, "Request executed")
        return TradeResult(
            retcode=mt5.TRADE_RETCODE_DONE,
            order=order.ticket,
            volume=volume,
            price=req.price,
            bid=quote.bid,
            ask=quote.ask,
            comment="Request executed",
        )

    def _check_pending_prices(
        self,
        spec: SymbolSpec,
        quote: Quote,
        order_type: int,
        price: float,
        stoplimit: float,
        sl: float,
        tp: float,
    ) -> None:
        """Pending price on the right side of the market and ``trade_stops_level`` away from it."""
        if price <= 0:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_PRICE, "Invalid price")
        distance = spec.trade_stops_level * spec.point - 1e-9 * price
        gap = {
            mt5.ORDER_TYPE_BUY_LIMIT: quote.ask - price,
            mt5.ORDER_TYPE_SELL_LIMIT: price - quote.bid,
            mt5.ORDER_TYPE_BUY_STOP: price - quote.ask,
            mt5.ORDER_TYPE_SELL_STOP: quote.bid - price,
            mt5.ORDER_TYPE_BUY_STOP_LIMIT: price - quote.ask,
            mt5.ORDER_TYPE_SELL_STOP_LIMIT: quote.bid - price,
        }[order_type]
        if gap < max(distance, 0.0) or gap <= 0:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_PRICE, "Invalid price")
        is_buy = order_type in BUY_TYPES
        entry = price
        if order_type in (mt5.ORDER_TYPE_BUY_STOP_LIMIT, mt5.ORDER_TYPE_SELL_STOP_LIMIT):
            wrong_side = stoplimit > price if is_buy else stoplimit < price
            if stoplimit <= 0 or wrong_side:
                raise _Rejected(mt5.TRADE_RETCODE_INVALID_PRICE, "Invalid price")
            entry = stoplimit
        self._check_stops(spec, is_buy, entry, sl, tp)

    # ---- SLTP / MODIFY / REMOVE / CLOSE_BY ------------------------------------------------
    def _sltp(self, req: _Request, execute: bool) -> TradeResult | _Fill:
        position = self.positions.get(req.position)
        if position is None:
            raise _Rejected(mt5.TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist")
        spec, quote = self._market(position.symbol)
        self._check_trade_mode(spec, position.type, opening=False)
        sl, tp = spec.round_price(req.sl), spec.round_price(req.tp)
        if sl == position.sl and tp == position.tp:
            raise _Rejected(mt5.TRADE_RETCODE_NO_CHANGES, "No changes")
        is_buy = position.type == mt5.POSITION_TYPE_BUY
        self._check_stops(spec, is_buy, 0.0, sl, tp, market_quote=quote)
        self._check_freeze(spec, quote, (position.sl, position.tp), on_bid=is_buy)
        if not execute:
            return _Fill(spec, position.type, position.volume, position.price_open, position)
        position.sl, position.tp = sl, tp
        position.time_update = int(self.time_s)
        position.time_update_msc = round(self.time_s * 1000)
        return TradeResult(
            retcode=mt5.TRADE_RETCODE_DONE, bid=quote.bid, ask=quote.ask, comment="Request executed"
        )

    def _modify(self, req: _Request, execute: bool) -> TradeResult | _Fill:
        order = self.orders.get(req.order)
        if order is None:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request: order not found")
        spec, quote = self._market(order.symbol)
        price = spec.round_price(req.price)
        stoplimit = spec.round_price(req.stoplimit)
        sl, tp = spec.round_price(req.sl), spec.round_price(req.tp)
        unchanged = (
            price == order.price_open
            and sl == order.sl
            and tp == order.tp
            and stoplimit == order.price_stoplimit
            and req.type_time == order.type_time
            and int(req.expiration) == order.time_expiration
        )
        if unchanged:
            raise _Rejected(mt5.TRADE_RETCODE_NO_CHANGES, "No changes")
        self._check_freeze(spec, quote, (order.price_open,), on_bid=order.type not in BUY_TYPES)
        self._check_pending_prices(spec, quote, order.type, price, stoplimit, sl, tp)
        probe = _Request(type=order.type, type_time=req.type_time, expiration=req.expiration)
        time_expiration, expires_at = self._expiry(spec, probe)
        if not execute:
            return _Fill(spec, order.type, order.volume_current, price)
        order.price_open, order.price_stoplimit, order.sl, order.tp = price, stoplimit, sl, tp
        order.type_time, order.time_expiration, order.expires_at = (
            req.type_time,
            time_expiration,
            expires_at,
        )
        return TradeResult(
            retcode=mt5.TRADE_RETCODE_DONE,
            order=order.ticket,
            bid=quote.bid,
            ask=quote.ask,
            comment="Request executed",
        )

    def _remove(self, req: _Request, execute: bool) -> TradeResult | _Fill:
        order = self.orders.get(req.order)
        if order is None:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request: order not found")
        spec, quote = self._market(order.symbol)
        self._check_freeze(spec, quote, (order.price_open,), on_bid=order.type not in BUY_TYPES)
        if not execute:
            return _Fill(spec, order.type, order.volume_current, order.price_open)
        self._close_order(order, mt5.ORDER_STATE_CANCELED)
        self._emit(
            OrderState.CANCELLED,
            order,
            mt5.TRADE_RETCODE_DONE,
            "Order cancelled by trader",
            reason="trader",
        )
        return TradeResult(
            retcode=mt5.TRADE_RETCODE_DONE,
            order=order.ticket,
            bid=quote.bid,
            ask=quote.ask,
            comment="Request executed",
        )

    def _close_by(self, req: _Request, execute: bool) -> TradeResult | _Fill:
        if not self.account.hedging:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Close by is only for hedging accounts")
        position = self.positions.get(req.position)
        opposite = self.positions.get(req.position_by)
        if position is None or opposite is None:
            raise _Rejected(mt5.TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist")
        if position.symbol != opposite.symbol or position.type == opposite.type:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID, "Invalid request")
        spec, quote = self._market(position.symbol)
        if not spec.order_mode & SYMBOL_ORDER_CLOSEBY:
            raise _Rejected(mt5.TRADE_RETCODE_INVALID_ORDER, "Unsupported order type")
        if not execute:
            return _Fill(spec, position.type, position.volume, opposite.price_open, position)
        volume = min(position.volume, opposite.volume)
        price = opposite.price_open
        order = self._new_order(
            _Request(type=mt5.ORDER_TYPE_CLOSE_BY, magic=req.magic, comment=req.comment),
            spec,
            volume=volume,
            price=price,
            state=mt5.ORDER_STATE_STARTED,
        )
        order.position_id, order.position_by_id = position.identifier, opposite.identifier
        self._emit(OrderState.PLACED, order, mt5.TRADE_RETCODE_PLACED, "Order placed")
        deal_a = self._close_volume(
            order,
            position,
            volume,
            price,
            mt5.DEAL_ENTRY_OUT_BY,
            mt5.DEAL_REASON_CLIENT,
            commission=False,
        )
        deal_b = self._close_volume(
            order,
            opposite,
            volume,
            price,
            mt5.DEAL_ENTRY_OUT_BY,
            mt5.DEAL_REASON_CLIENT,
            commission=False,
        )
        # _close_volume points the order at each closed position in turn; it belongs to `position`.
        order.position_id = position.identifier
        self._log_exposure(spec.name)
        self._finish_order(order, mt5.ORDER_STATE_FILLED)
        self._emit(OrderState.FILLED, order, mt5.TRADE_RETCODE_DONE, "Request executed", deal_a)
        self._emit(OrderState.FILLED, order, mt5.TRADE_RETCODE_DONE, "Request executed", deal_b)
        return TradeResult(
            retcode=mt5.TRADE_RETCODE_DONE,
            deal=deal_a.ticket,
            order=order.ticket,
            volume=volume,
            price=price,
            bid=quote.bid,
            ask=quote.ask,
            comment="Request executed",
        )

    # ---- bookkeeping ----------------------------------------------------------------------
    def _new_order(
        self,
        req: _Request,
        spec: SymbolSpec,
        *,
        volume: float,
        price: float,
        state: int,
        reason: int = mt5.ORDER_REASON_EXPERT,
    ) -> OrderRecord:
        now = int(self.time_s)
        return OrderRecord(
            ticket=next(self._order_tickets),
            time_setup=now,
            time_setup_msc=round(self.time_s * 1000),
            time_done=0,
            time_done_msc=0,
            time_expiration=0,
            type=req.type,
            type_time=req.type_time,
            type_filling=req.type_filling,
            state=state,
            magic=req.magic,
            position_id=req.position,
            position_by_id=req.position_by,
            reason=reason,
            volume_initial=volume,
            volume_current=volume,
            price_open=spec.round_price(price),
            sl=spec.round_price(req.sl),
            tp=spec.round_price(req.tp),
            price_current=price,
            price_stoplimit=spec.round_price(req.stoplimit),
            symbol=spec.name,
            comment=req.comment,
        )

    def _finish_order(self, order: OrderRecord, state: int) -> None:
        order.state = state
        order.time_done = int(self.time_s)
        order.time_done_msc = round(self.time_s * 1000)
        self.history_orders[order.ticket] = order

    def _close_order(self, order: OrderRecord, state: int) -> None:
        del self.orders[order.ticket]
        self._active_symbols[order.symbol] -= 1
        self._finish_order(order, state)

    def _commission(self, spec: SymbolSpec, volume: float) -> float:
        return spec.commission_per_lot * volume

    def _new_deal(
        self,
        order: OrderRecord,
        *,
        deal_type: int,
        entry: int,
        position_id: int,
        reason: int,
        volume: float,
        price: float,
        commission: float,
        swap: float = 0.0,
        profit: float = 0.0,
    ) -> DealRecord:
        deal = DealRecord(
            ticket=next(self._deal_tickets),
            order=order.ticket,
            time=int(self.time_s),
            time_msc=round(self.time_s * 1000),
            type=deal_type,
            entry=entry,
            magic=order.magic,
            position_id=position_id,
            reason=reason,
            volume=volume,
            price=price,
            commission=round(-commission, 2) + 0.0,
            swap=round(swap, 2) + 0.0,
            profit=round(profit, 2) + 0.0,
            fee=0.0,
            symbol=order.symbol,
            comment=order.comment,
        )
        self.deals.append(deal)
        self.balance += deal.commission + deal.swap + deal.profit
        return deal

    def _execute(self, order: OrderRecord, fill: _Fill, *, reason: int) -> DealRecord:
        """Turn a fill into a deal and apply it to the positions (netting or hedging)."""
        spec = fill.spec
        order.volume_current = round(order.volume_initial - fill.volume, 8)
        order.price_current = fill.price
        if fill.position is not None:
            entry = mt5.DEAL_ENTRY_OUT
            order.position_id = fill.position.identifier
            return self._close_volume(order, fill.position, fill.volume, fill.price, entry, reason)
        is_buy = fill.type in BUY_TYPES
        if not self.account.hedging:
            existing = self._netting_position(spec.name)
            if existing is not None:
                return self._net(order, existing, fill, reason)
        order.position_id = order.ticket
        deal = self._new_deal(
            order,
            deal_type=mt5.DEAL_TYPE_BUY if is_buy else mt5.DEAL_TYPE_SELL,
            entry=mt5.DEAL_ENTRY_IN,
            position_id=order.ticket,
            reason=reason,
            volume=fill.volume,
            price=fill.price,
            commission=self._commission(spec, fill.volume),
        )
        self._open_position(order, spec, is_buy, fill.volume, fill.price, order.ticket)
        return deal

    def _open_position(
        self,
        order: OrderRecord,
        spec: SymbolSpec,
        is_buy: bool,
        volume: float,
        price: float,
        identifier: int,
    ) -> PositionRecord:
        now = int(self.time_s)
        reason = {mt5.ORDER_REASON_CLIENT: mt5.POSITION_REASON_CLIENT}.get(
            order.reason, mt5.POSITION_REASON_EXPERT
        )
        position = PositionRecord(
            ticket=order.ticket,
            time=now,
            time_msc=round(self.time_s * 1000),
            time_update=now,
            time_update_msc=round(self.time_s * 1000),
            type=mt5.POSITION_TYPE_BUY if is_buy else mt5.POSITION_TYPE_SELL,
            magic=order.magic,
            identifier=identifier,
            reason=reason,
            volume=volume,
            price_open=price,
            sl=order.sl,
            tp=order.tp,
            price_current=price,
            swap=0.0,
            profit=0.0,
            symbol=spec.name,
            comment=order.comment,
        )
        self.positions[position.ticket] = position
        self._active_symbols[spec.name] = self._active_symbols.get(spec.name, 0) + 1
        self._revalue(spec.name)
        return position

    def _netting_position(self, symbol: str) -> PositionRecord | None:
        for position in self.positions.values():
            if position.symbol == symbol:
                return position
        return None

    def _net(
        self, order: OrderRecord, position: PositionRecord, fill: _Fill, reason: int
    ) -> DealRecord:
        """Netting: add to, reduce, close or reverse the one position of the symbol."""
        spec = fill.spec
        is_buy = fill.type in BUY_TYPES
        order.position_id = position.identifier
        same_side = (position.type == mt5.POSITION_TYPE_BUY) == is_buy
        if same_side:
            total = position.volume + fill.volume
            position.price_open = (
                spec.round_price(
                    (position.price_open * position.volume + fill.price * fill.volume) / total
                )
                if spec.digits < 8
                else (position.price_open * position.volume + fill.price * fill.volume) / total
            )
            position.volume = round(total, 8)
            position.time_update = int(self.time_s)
            if order.sl or order.tp:
                position.sl, position.tp = order.sl, order.tp
            deal = self._new_deal(
                order,
                deal_type=mt5.DEAL_TYPE_BUY if is_buy else mt5.DEAL_TYPE_SELL,
                entry=mt5.DEAL_ENTRY_IN,
                position_id=position.identifier,
                reason=reason,
                volume=fill.volume,
                price=fill.price,
                commission=self._commission(spec, fill.volume),
            )
            self._revalue(spec.name)
            return deal
        if fill.volume <= position.volume + 1e-9:
            return self._close_volume(
                order, position, fill.volume, fill.price, mt5.DEAL_ENTRY_OUT, reason
            )
        # Reversal: close the old volume and open the rest the other way, keeping the identifier.
        rest = round(fill.volume - position.volume, 8)
        identifier = position.identifier
        profit = self._position_profit(position, fill.price, position.volume)
        swap = position.swap
        self._drop_position(position)
        deal = self._new_deal(
            order,
            deal_type=mt5.DEAL_TYPE_BUY if is_buy else mt5.DEAL_TYPE_SELL,
            entry=mt5.DEAL_ENTRY_INOUT,
            position_id=identifier,
            reason=reason,
            volume=fill.volume,
            price=fill.price,
            commission=self._commission(spec, fill.volume),
            swap=swap,
            profit=profit,
        )
        self._open_position(order, spec, is_buy, rest, fill.price, identifier)
        return deal

    def _close_volume(
        self,
        order: OrderRecord,
        position: PositionRecord,
        volume: float,
        price: float,
        entry: int,
        reason: int,
        *,
        commission: bool = True,
    ) -> DealRecord:
        spec = self.symbols[position.symbol]
        volume = min(volume, position.volume)
        profit = self._position_profit(position, price, volume)
        share = volume / position.volume
        swap = position.swap * share
        closing_buy = position.type == mt5.POSITION_TYPE_SELL
        order.position_id = position.identifier
        deal = self._new_deal(
            order,
            deal_type=mt5.DEAL_TYPE_BUY if closing_buy else mt5.DEAL_TYPE_SELL,
            entry=entry,
            position_id=position.identifier,
            reason=reason,
            volume=volume,
            price=price,
            commission=self._commission(spec, volume) if commission else 0.0,
            swap=swap,
            profit=profit,
        )
        remaining = round(position.volume - volume, 8)
        if remaining <= 1e-9:
            self._drop_position(position)
        else:
            position.volume = remaining
            position.swap -= swap
            position.time_update = int(self.time_s)
            self._revalue(position.symbol)
        return deal

    def _log_exposure(self, symbol: str) -> None:
        """Record (time, symbol, long lots, long lots x open price, short lots, short lots x open
        price) after a deal: enough to value the book at any later price without replaying it."""
        if self.exposure_log is None:
            return
        long_lots = long_cost = short_lots = short_cost = 0.0
        for position in self.positions.values():
            if position.symbol != symbol:
                continue
            if position.type == mt5.POSITION_TYPE_BUY:
                long_lots += position.volume
                long_cost += position.volume * position.price_open
            else:
                short_lots += position.volume
                short_cost += position.volume * position.price_open
        self.exposure_log.append(
            (self.time_s, symbol, long_lots, long_cost, short_lots, short_cost)
        )

    def _drop_position(self, position: PositionRecord) -> None:
        del self.positions[position.ticket]
        self._active_symbols[position.symbol] -= 1

    # ---- reacting to prices ---------------------------------------------------------------
    def _expire_orders(self, symbol: str) -> None:
        now = self.time_s
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            if order.expires_at is not None and now >= order.expires_at:
                self._close_order(order, mt5.ORDER_STATE_EXPIRED)
                self._emit(OrderState.EXPIRED, order, 0, "Order expired", reason="expiration")

    def _trigger_orders(self, spec: SymbolSpec) -> None:
        quote = self.quotes[spec.name]
        for order in [o for o in self.orders.values() if o.symbol == spec.name]:
            if order.ticket not in self.orders:
                continue
            kind = order.type
            level = order.price_open
            # A limit fills at the quote that reached it: the level, or better after a gap.
            if kind == mt5.ORDER_TYPE_BUY_LIMIT and quote.ask <= level:
                self._fill_pending(order, spec, quote.ask)
            elif kind == mt5.ORDER_TYPE_SELL_LIMIT and quote.bid >= level:
                self._fill_pending(order, spec, quote.bid)
            elif kind == mt5.ORDER_TYPE_BUY_STOP and quote.ask >= level:
                self._fill_pending(order, spec, self._slipped(spec, quote.ask, True))
            elif kind == mt5.ORDER_TYPE_SELL_STOP and quote.bid <= level:
                self._fill_pending(order, spec, self._slipped(spec, quote.bid, False))
            elif kind == mt5.ORDER_TYPE_BUY_STOP_LIMIT and quote.ask >= level:
                self._activate_stop_limit(order, spec, mt5.ORDER_TYPE_BUY_LIMIT)
            elif kind == mt5.ORDER_TYPE_SELL_STOP_LIMIT and quote.bid <= level:
                self._activate_stop_limit(order, spec, mt5.ORDER_TYPE_SELL_LIMIT)

    def _slipped(self, spec: SymbolSpec, price: float, is_buy: bool) -> float:
        slip = self.execution.slippage_points * spec.point
        return spec.round_price(price + slip if is_buy else price - slip) if slip else price

    def _activate_stop_limit(self, order: OrderRecord, spec: SymbolSpec, limit_type: int) -> None:
        order.type = limit_type
        order.price_open = order.price_stoplimit
        order.price_stoplimit = 0.0
        order.type_filling = mt5.ORDER_FILLING_RETURN
        self._emit(
            OrderState.PLACED,
            order,
            mt5.TRADE_RETCODE_PLACED,
            f"Stop triggered: limit order placed at {order.price_open}",
        )
        self._trigger_orders(spec)

    def _fill_pending(self, order: OrderRecord, spec: SymbolSpec, price: float) -> None:
        fill = _Fill(spec, order.type, order.volume_current, price)
        if self._opens_exposure(fill):
            try:
                self._check_margin(fill)
            except _Rejected:
                self._close_order(order, mt5.ORDER_STATE_REJECTED)
                self._emit(
                    OrderState.REJECTED,
                    order,
                    mt5.TRADE_RETCODE_REJECT_CANCEL,
                    "Not enough money to activate the order",
                )
                return
        del self.orders[order.ticket]
        self._active_symbols[order.symbol] -= 1
        deal = self._execute(order, fill, reason=mt5.DEAL_REASON_EXPERT)
        self._log_exposure(spec.name)
        self._finish_order(order, mt5.ORDER_STATE_FILLED)
        self._emit(
            OrderState.FILLED, order, mt5.TRADE_RETCODE_DONE, "Order triggered and filled", deal
        )

    def _trigger_stops(self, spec: SymbolSpec) -> None:
        quote = self.quotes[spec.name]
        for position in [p for p in self.positions.values() if p.symbol == spec.name]:
            is_buy = position.type == mt5.POSITION_TYPE_BUY
            market = quote.bid if is_buy else quote.ask
            if position.sl and (market <= position.sl if is_buy else market >= position.sl):
                self._close_at_market(
                    position,
                    spec,
                    market,
                    mt5.DEAL_REASON_SL,
                    mt5.ORDER_REASON_SL,
                    f"[sl {position.sl}]",
                )
            elif position.tp and (market >= position.tp if is_buy else market <= position.tp):
                self._close_at_market(
                    position,
                    spec,
                    market,
                    mt5.DEAL_REASON_TP,
                    mt5.ORDER_REASON_TP,
                    f"[tp {position.tp}]",
                )

    def _close_at_market(
        self,
        position: PositionRecord,
        spec: SymbolSpec,
        price: float,
        deal_reason: int,
        order_reason: int,
        comment: str,
    ) -> None:
        is_buy = position.type == mt5.POSITION_TYPE_BUY
        request = _Request(
            type=mt5.ORDER_TYPE_SELL if is_buy else mt5.ORDER_TYPE_BUY,
            magic=position.magic,
            position=position.ticket,
            comment=comment,
        )
        order = self._new_order(
            request,
            spec,
            volume=position.volume,
            price=price,
            state=mt5.ORDER_STATE_STARTED,
            reason=order_reason,
        )
        deal = self._close_volume(
            order, position, position.volume, price, mt5.DEAL_ENTRY_OUT, deal_reason
        )
        order.volume_current = 0.0
        self._log_exposure(spec.name)
        self._finish_order(order, mt5.ORDER_STATE_FILLED)
        self._emit(OrderState.FILLED, order, 0, comment, deal)

    def _stop_out(self) -> None:
        while self.positions:
            margin = self.margin
            if not margin or self.equity / margin * 100 > self.account.margin_so_so:
                return
            worst = min(self.positions.values(), key=lambda p: p.profit + p.swap)
            spec = self.symbols[worst.symbol]
            quote = self.quotes[worst.symbol]
            price = quote.bid if worst.type == mt5.POSITION_TYPE_BUY else quote.ask
            level = self.equity / margin * 100
            self._close_at_market(
                worst, spec, price, mt5.DEAL_REASON_SO, mt5.ORDER_REASON_SO, f"[so {level:.1f}%]"
            )

    def _revalue(self, symbol: str) -> None:
        quote = self.quotes.get(symbol)
        if quote is None:
            return
        for position in self.positions.values():
            if position.symbol == symbol:
                is_buy = position.type == mt5.POSITION_TYPE_BUY
                position.price_current = quote.bid if is_buy else quote.ask
                position.profit = round(
                    self._position_profit(position, position.price_current, position.volume), 2
                )

    def _revalue_converted(self, moved: str) -> None:
        account = self.account.currency
        symbols = self.symbols
        seen = {moved}
        for position in self.positions.values():
            symbol = position.symbol
            if symbol not in seen:
                seen.add(symbol)
                if symbols[symbol].currency_profit != account:
                    self._revalue(symbol)

    def _rollover(self, midnight_s: int) -> None:
        """Charge one night's swap (three on the symbol's triple day) at a server midnight."""
        ended = datetime.fromtimestamp(midnight_s - DAY_S, tz=UTC)
        mt5_weekday = (ended.weekday() + 1) % 7  # MT5 counts Sunday as 0
        if mt5_weekday in (mt5.DAY_OF_WEEK_SATURDAY, mt5.DAY_OF_WEEK_SUNDAY):
            return
        for position in self.positions.values():
            spec = self.symbols[position.symbol]
            nights = 3 if mt5_weekday == spec.swap_rollover3days else 1
            charge = round(nights * self._swap_per_night(position, spec), 2)
            position.swap = round(position.swap + charge, 2)
            if self.swap_log is not None and charge:
                self.swap_log.append((float(midnight_s), charge))

    def _swap_per_night(self, position: PositionRecord, spec: SymbolSpec) -> float:
        is_buy = position.type == mt5.POSITION_TYPE_BUY
        rate = spec.swap_long if is_buy else spec.swap_short
        mode = spec.swap_mode
        if mode == mt5.SYMBOL_SWAP_MODE_DISABLED or not rate:
            return 0.0
        lots = position.volume
        if mode == mt5.SYMBOL_SWAP_MODE_POINTS:
            amount = rate * spec.point * spec.trade_contract_size * lots
            return amount * self._rate(spec.currency_profit, self.account.currency)
        if mode == mt5.SYMBOL_SWAP_MODE_CURRENCY_SYMBOL:
            return rate * lots * self._rate(spec.currency_base, self.account.currency)
        if mode == mt5.SYMBOL_SWAP_MODE_CURRENCY_MARGIN:
            return rate * lots * self._rate(spec.currency_margin, self.account.currency)
        if mode == mt5.SYMBOL_SWAP_MODE_CURRENCY_DEPOSIT:
            return rate * lots
        # Interest modes: annual percent of the position's value, per day of a 360-day year.
        value = position.price_current * spec.trade_contract_size * lots
        return value * rate / 100 / 360 * self._rate(spec.currency_profit, self.account.currency)

    # ---- money ----------------------------------------------------------------------------
    def _position_profit(self, position: PositionRecord, price: float, volume: float) -> float:
        spec = self.symbols[position.symbol]
        move = price - position.price_open
        if position.type == mt5.POSITION_TYPE_SELL:
            move = -move
        raw = move * volume * spec.trade_contract_size
        return raw * self._rate(spec.currency_profit, self.account.currency)

    def calc_profit(
        self, order_type: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> float:
        """MT5's ``order_calc_profit``: profit in account currency (negative for a loss)."""
        spec = self.spec(symbol)
        move = price_close - price_open
        if order_type == mt5.ORDER_TYPE_SELL:
            move = -move
        raw = move * volume * spec.trade_contract_size
        return round(raw * self._rate(spec.currency_profit, self.account.currency), 2)

    def calc_margin(self, order_type: int, symbol: str, volume: float, price: float) -> float:
        """MT5's ``order_calc_margin``: margin in account currency, ignoring open positions."""
        spec = self.spec(symbol)
        return round(volume * self._margin_per_lot(spec, price), 2)

    def _margin_per_lot(self, spec: SymbolSpec, price: float) -> float:
        mode = spec.trade_calc_mode
        leverage = self.account.leverage
        account = self.account.currency
        if mode == mt5.SYMBOL_CALC_MODE_FOREX:
            return spec.trade_contract_size / leverage * self._rate(spec.currency_margin, account)
        if mode == mt5.SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE:
            return spec.trade_contract_size * self._rate(spec.currency_margin, account)
        if mode == mt5.SYMBOL_CALC_MODE_CFDLEVERAGE:
            value = spec.trade_contract_size * price / leverage
            return value * self._rate(spec.currency_profit, account)
        value = spec.trade_contract_size * price * (spec.margin_initial or 1.0)
        return value * self._rate(spec.currency_profit, account)

    def _margin_for(self, positions: Iterable[PositionRecord | _Fill]) -> float:
        """Margin of a set of positions; hedged volume uses ``margin_hedged`` (MT5's rule)."""
        volumes: dict[str, list[float]] = {}
        for item in positions:
            if isinstance(item, PositionRecord):
                symbol, is_buy, lots = item.symbol, item.type == mt5.POSITION_TYPE_BUY, item.volume
            else:
                symbol, is_buy, lots = item.spec.name, item.type in BUY_TYPES, item.volume
            pair = volumes.setdefault(symbol, [0.0, 0.0])
            pair[0 if is_buy else 1] += lots
        total = 0.0
        for symbol, (buys, sells) in volumes.items():
            spec = self.symbols[symbol]
            quote = self.quotes.get(symbol)
            price = quote.ask if quote else 0.0
            per_lot = self._margin_per_lot(spec, price)
            hedged = min(buys, sells)
            hedged_share = (
                spec.margin_hedged / spec.trade_contract_size if spec.margin_hedged else 1
            )
            total += (abs(buys - sells) + 2 * hedged * hedged_share) * per_lot
        return total

    def _margin_after(self, fill: _Fill) -> float:
        if self.account.hedging:
            return self._margin_for([*self.positions.values(), fill])
        existing = self._netting_position(fill.spec.name)
        others = [p for p in self.positions.values() if p is not existing]
        items: list[PositionRecord | _Fill] = list(others)
        if existing is None:
            items.append(fill)
        else:
            same = (existing.type == mt5.POSITION_TYPE_BUY) == (fill.type in BUY_TYPES)
            net = existing.volume + fill.volume if same else abs(existing.volume - fill.volume)
            side = (
                existing.type == mt5.POSITION_TYPE_BUY
                if same or existing.volume >= fill.volume
                else fill.type in BUY_TYPES
            )
            if net > 1e-9:
                buy_type = mt5.ORDER_TYPE_BUY if side else mt5.ORDER_TYPE_SELL
                items.append(_Fill(fill.spec, buy_type, net, fill.price))
        return self._margin_for(items)

    def _rate(self, source: str, target: str) -> float:
        """How many units of ``target`` one unit of ``source`` is worth at current quotes."""
        if source == target:
            return 1.0
        direct = self._pair_rate(source, target)
        if direct is not None:
            return direct
        quoted = [spec for name, spec in self.symbols.items() if name in self.quotes]
        currencies = {c for spec in quoted for c in (spec.currency_base, spec.currency_profit)}
        fallback = self.execution.fallback_rates
        direct = self._direct_rate(source, target)
        if direct is not None:
            return direct
        currencies |= {code for pair in fallback for code in (pair[:3], pair[3:])}
        for via in sorted(currencies - {source, target}, key=lambda c: (c != "USD", c)):
            first, second = self._direct_rate(source, via), self._direct_rate(via, target)
            if first is not None and second is not None:
                return first * second
        raise NlTraderError(
            f"no quote to convert {source} to {target}: give the broker a {source}{target} or "
            f"{target}{source} price"
        )

    def _direct_rate(self, source: str, target: str) -> float | None:
        """One pair's rate: a quote if the broker has one, else a fallback rate."""
        quoted = self._pair_rate(source, target)
        if quoted is not None:
            return quoted
        fallback = self.execution.fallback_rates
        if f"{source}{target}" in fallback:
            return fallback[f"{source}{target}"]
        if f"{target}{source}" in fallback:
            return 1.0 / fallback[f"{target}{source}"]
        return None

    def _pair_rate(self, source: str, target: str) -> float | None:
        for spec in self.symbols.values():
            quote = self.quotes.get(spec.name)
            if quote is None:
                continue
            if spec.currency_base == source and spec.currency_profit == target:
                return quote.bid
            if spec.currency_base == target and spec.currency_profit == source:
                return 1.0 / quote.ask
        return None

    # ---- events ---------------------------------------------------------------------------
    def _emit(
        self,
        state: OrderState,
        order: OrderRecord,
        retcode: int,
        comment: str,
        deal: DealRecord | None = None,
        reason: str | None = None,
    ) -> None:
        if not self._listeners:
            return
        event = BrokerEvent(
            state=state,
            order=order.as_dict(),
            time_s=self.time_s,
            retcode=retcode,
            comment=comment,
            deal=deal.as_dict() if deal is not None else None,
            reason=reason,
        )
        for listener in self._listeners:
            listener(event)
