"""The backtest engine: a compiled strategy over bars, through the product's one fill engine.

Every order is a seed ``send_order`` dict, validated as ``OrderParams`` and sent through the
simulated route to ``SimBroker``, exactly as in paper trading; only the pace differs.

Rules (tested in tests/backtest):
    * The strategy decides at the close of each bar, on data up to that bar.
    * Fills, ``fill="next_open"`` (default): what it decides is sent at the next bar's open, the
      next price that exists after the decision, so a gap fills at the open. ``fill="close"``
      sends it at the decision bar's close (for cross-checks against tools that fill there).
    * Inside a bar the broker walks open -> extremes -> close; ``intrabar="conservative"``
      (default) visits first the extreme that hurts the open positions, so that when a stop and a
      target both lie in one bar the stop is taken. With M1 bars given (``m1_bars``), the bars the
      strategy runs on are walked minute by minute instead, which settles such bars for real.
    * Costs: the spread from the bars' ``spread`` column (points; bid/ask files give it per bar) or
      a fixed ``spread_points``; ``slippage_points`` against the trader on market fills and stops;
      ``commission_per_lot`` per side; swaps at each server midnight (triple on the symbol's day).
    * Quiet bars are skipped: a bar is walked only when the strategy may act on it (a signal, a
      time exit, a position to manage) or when its range reaches a pending order, a stop, a
      target, an expiry or the stop-out level (``SimBroker.trigger_bounds``), or when a midnight's
      swap is converted at its price. Skipping is exact: a skipped bar cannot change the account
      except by its price, which the equity curve values afterwards from the broker's exposure
      ledger.
    * Equity is valued at each bar's close (longs at bid, shorts at ask). ``equity_low`` is the
      lowest equity inside each bar, for equity drawdowns: on a walked bar the broker's own minimum
      along the price path; on a skipped bar (nothing opened or closed in it) the book valued at
      the bar's adverse extremes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nl_trader import mt5
from nl_trader.backtest.stats import ClosedTrade, closed_trades
from nl_trader.errors import InvalidInputError
from nl_trader.orders import parse_order_params
from nl_trader.sim.broker import AccountConfig, ExecutionModel, SimBroker
from nl_trader.sim.route import SimulatedRoute
from nl_trader.spec import StrategySpec, spec_hash
from nl_trader.strategy.compile import Book, CompiledStrategy, OpenPosition, PendingOrder
from nl_trader.symbols import SymbolSpec, symbol_spec
from nl_trader.timeframes import epoch_seconds

ENGINE_VERSION = "1"
DAY_S = 86_400
_BUY_PENDING = frozenset(
    {mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_BUY_STOP, mt5.ORDER_TYPE_BUY_STOP_LIMIT}
)


class BacktestSettings(BaseModel):
    """The account and the costs a backtest assumes. Money is in ``currency``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deposit: float = Field(default=10_000.0, gt=0)
    currency: str = "USD"
    leverage: int = Field(default=100, ge=1, le=5000)
    account_mode: Literal["hedging", "netting"] = "hedging"
    spread_points: float | None = Field(default=None, ge=0)
    commission_per_lot: float | None = Field(default=None, ge=0)
    slippage_points: int = Field(default=0, ge=0)
    swaps: bool = True
    fill: Literal["next_open", "close"] = "next_open"
    intrabar: Literal["conservative", "ohlc"] = "conservative"
    fallback_rates: dict[str, float] = Field(default_factory=dict)

    def account_config(self) -> AccountConfig:
        """The simulated account these settings describe (deposit, currency, leverage, mode)."""
        return AccountConfig(
            balance=self.deposit,
            currency=self.currency,
            leverage=self.leverage,
            margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
            if self.account_mode == "hedging"
            else mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING,
        )

    def execution_model(self) -> ExecutionModel:
        """How the simulated broker fills under these settings (slippage, path inside a bar)."""
        return ExecutionModel(
            slippage_points=self.slippage_points,
            intrabar=self.intrabar,
            fallback_rates=self.fallback_rates,
        )

    def apply_costs(self, info: SymbolSpec) -> SymbolSpec:
        """``info`` with these settings' commission and swap choices."""
        overrides: dict[str, Any] = {}
        if self.commission_per_lot is not None:
            overrides["commission_per_lot"] = self.commission_per_lot
        if not self.swaps:
            overrides["swap_mode"] = mt5.SYMBOL_SWAP_MODE_DISABLED
        if not overrides:
            return info
        return SymbolSpec.model_validate({**info.model_dump(), **overrides})


@dataclass
class BacktestResult:
    """What a backtest produced: the broker's deals and orders, and the account bar by bar."""

    spec: StrategySpec
    symbol: str
    symbol_info: SymbolSpec
    settings: BacktestSettings
    deals: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    equity: pd.Series
    equity_low: pd.Series
    balance: pd.Series
    in_market: pd.Series
    close: np.ndarray  # the bars' bid closes, for the price chart
    rejected: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    bars_walked: int = 0
    elapsed_s: float = 0.0
    _trades: list[ClosedTrade] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.spec)

    def closed_trades(self) -> list[ClosedTrade]:
        """The run's trades (each closing deal with its result), worked out once per run."""
        if self._trades is None:
            self._trades = closed_trades(self.deals)
        return self._trades


Progress = Callable[[int, int], None]


def run_backtest(
    spec: StrategySpec,
    bars: pd.DataFrame,
    *,
    symbol: str | None = None,
    symbol_info: SymbolSpec | None = None,
    settings: BacktestSettings | None = None,
    m1_bars: pd.DataFrame | None = None,
    conversion_bars: dict[str, pd.DataFrame] | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run ``spec`` over ``bars`` (UTC index; open, high, low, close bid; spread in points).

    ``conversion_bars`` gives bars of the pairs that convert profits to the account currency
    when the traded symbol cannot (EURUSD bars for XAUUSD on a EUR account); without them a
    ``fallback_rates`` entry is used, at a constant rate.
    """
    started = time.perf_counter()
    settings = settings or BacktestSettings()
    name = symbol or spec.symbols[0]
    info = settings.apply_costs(symbol_info or symbol_spec(name))
    if len(bars) == 0:
        raise InvalidInputError(["bars: no bars to test on"], what="backtest")
    strategy = CompiledStrategy(spec, name, info)
    engine = _Engine(strategy, bars, settings, m1_bars, progress, conversion_bars or {})
    result = engine.run()
    result.elapsed_s = time.perf_counter() - started
    return result


class _Engine:
    def __init__(
        self,
        strategy: CompiledStrategy,
        bars: pd.DataFrame,
        settings: BacktestSettings,
        m1_bars: pd.DataFrame | None,
        progress: Progress | None,
        conversion_bars: dict[str, pd.DataFrame],
    ) -> None:
        self.strategy = strategy
        self.settings = settings
        self.progress = progress
        info = strategy.symbol_info
        self.info = info
        self.symbol = strategy.symbol
        conversions = {name: symbol_spec(name) for name in conversion_bars}
        self.broker = SimBroker(
            [info, *conversions.values()],
            account=settings.account_config(),
            execution=settings.execution_model(),
            record_exposure=True,
        )
        self.route = SimulatedRoute(self.broker, replay=None)
        self._converts = False  # checked at the first decision (see _book)
        self.bars = bars
        self.signals = strategy.prepare(bars)
        self.time_s = self.signals.time_s
        self.open = bars["open"].to_numpy(dtype="float64")
        self.high = bars["high"].to_numpy(dtype="float64")
        self.low = bars["low"].to_numpy(dtype="float64")
        self.close = bars["close"].to_numpy(dtype="float64")
        if settings.spread_points is not None:
            self.spread = np.full(len(bars), float(settings.spread_points))
        else:
            self.spread = self.signals.spread_points.astype("float64")
        self.duration_s = float(strategy.timeframe_s)
        spread_price = self.spread * info.point
        self.ask_low = self.low + spread_price
        self.ask_high = self.high + spread_price
        self.end_s = self.time_s + self.duration_s - 1
        # A rollover converts swaps at the quote of its moment: while a position is open, the bar
        # whose quote a server midnight uses (the bar it falls in, or the last one before it) is
        # walked, unless the swaps cannot depend on prices (points on a USD-quoted symbol).
        next_start = np.append(self.time_s[1:], self.end_s[-1])
        self.before_rollover = next_start // DAY_S > self.time_s // DAY_S
        swap_mode = info.swap_mode
        self.swaps_follow_price = bool(info.swap_long or info.swap_short) and not (
            swap_mode in (mt5.SYMBOL_SWAP_MODE_DISABLED, mt5.SYMBOL_SWAP_MODE_CURRENCY_DEPOSIT)
            or (
                swap_mode == mt5.SYMBOL_SWAP_MODE_POINTS
                and info.currency_profit == settings.currency
            )
        )
        signals = self.signals
        self.needs = (
            signals.long_entry
            | signals.short_entry
            | signals.long_exit
            | signals.short_exit
            | signals.close_all
        )
        # The last bar is always walked: the end-of-test close follows it, and its dip counts.
        self.needs[-1] = True
        # next_needed[i]: the first bar at or after i where the strategy may act (len(bars) if none).
        count = len(self.needs)
        positions = np.where(self.needs, np.arange(count), count)
        self.next_needed = np.append(np.minimum.accumulate(positions[::-1])[::-1], count)
        exits = strategy.spec.exits
        self.manage_every_bar = bool(exits.trailing_stop or exits.break_even or exits.max_bars)
        self.m1 = self._m1_arrays(m1_bars)
        self.conversions = self._conversion_arrays(conversion_bars, conversions)
        self.rejected: list[str] = []
        self.walked = 0
        self.walked_low = np.full(len(bars), np.nan)  # equity lows of the walked bars

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> BacktestResult:
        count = len(self.bars)
        queue: list[dict[str, Any]] = []
        i = 0
        report_every = max(1, count // 100)
        next_report = 0
        while i < count:
            queue = self._walk(i, queue)
            decided = self.strategy.decide(i, self.signals, self._book())
            if self.settings.fill == "close":
                self._send(decided)
            else:
                queue = decided
            if self.progress is not None and i >= next_report:
                self.progress(i, count)
                next_report = i + report_every
            if queue or (self.manage_every_bar and self.broker.positions):
                i += 1
            else:
                i = self._next_event(i + 1)
        self._end_of_test()
        if self.progress is not None:
            self.progress(count, count)
        return self._result()

    def _end_of_test(self) -> None:
        """As MT5's tester: at the last bar's close, cancel what waits and close what is open."""
        broker, last = self.broker, len(self.close) - 1
        broker.advance_clock(self.end_s[-1])  # the skipped tail's rollovers
        if not broker.positions and not broker.orders:
            return
        bid = round(float(self.close[last]), self.info.digits)
        ask = round(bid + self.spread[last] * self.info.point, self.info.digits)
        broker.set_quote(self.symbol, self.end_s[-1], bid, ask)
        base = {
            "backtest_toggle": True,
            "symbol": self.symbol,
            "magic": self.strategy.spec.magic,
            "comment": "end of test",
        }
        closing = [
            {**base, "order_type": "cancel", "order": o.ticket} for o in broker.orders.values()
        ]
        closing += [
            {
                **base,
                "order_type": "sell" if p.type == mt5.POSITION_TYPE_BUY else "buy",
                "volume": p.volume,
                "position": p.ticket,
            }
            for p in broker.positions.values()
        ]
        self._send(closing)

    def _walk(self, i: int, queue: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Walk bar i through the broker; send ``queue`` at its open. Returns what is left.

        The broker tracks the lowest equity along the bar's path, the bar's true equity low.
        """
        broker = self.broker
        broker.lowest_equity = math.inf
        left = self._walk_bar(i, queue)
        if math.isfinite(broker.lowest_equity):  # inf: nothing was exposed along this bar
            self.walked_low[i] = broker.lowest_equity
        broker.lowest_equity = None
        return left

    def _walk_bar(self, i: int, queue: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.walked += 1
        broker, symbol = self.broker, self.symbol
        for name, (rows, bid, ask) in self.conversions.items():
            row = rows[i]
            if row >= 0:  # the conversion pair's last close at or before this bar's open
                broker.set_quote(name, self.time_s[i], bid[row], ask[row])
        if self.m1 is not None:
            start, stop = self.m1["index"][i], self.m1["index"][i + 1]
            if stop > start:
                for k in range(start, stop):
                    broker.open_bar(
                        symbol, self.m1["time"][k], self.m1["open"][k], self.m1["spread"][k]
                    )
                    if queue:
                        self._send(queue)
                        queue = []
                    broker.finish_bar(
                        symbol,
                        self.m1["time"][k],
                        60.0,
                        self.m1["open"][k],
                        self.m1["high"][k],
                        self.m1["low"][k],
                        self.m1["close"][k],
                        self.m1["spread"][k],
                    )
                return queue
        broker.open_bar(symbol, self.time_s[i], self.open[i], self.spread[i])
        if queue:
            self._send(queue)
        broker.finish_bar(
            symbol,
            self.time_s[i],
            self.duration_s,
            self.open[i],
            self.high[i],
            self.low[i],
            self.close[i],
            self.spread[i],
        )
        return []

    def _send(self, orders: list[dict[str, Any]]) -> None:
        now = self.broker.time_s
        for params in orders:
            expiration = params.get("expiration")
            if expiration is not None and expiration.timestamp() <= now:
                # Decided before a market closure; its validity ended before it could be sent.
                self.strategy.skipped["expired before the market reopened"] = (
                    self.strategy.skipped.get("expired before the market reopened", 0) + 1
                )
                continue
            reply = self.route.submit(parse_order_params(params))
            if not reply.isdigit():
                self.rejected.append(reply)

    def _book(self) -> Book:
        broker = self.broker
        symbol, magic = self.symbol, self.strategy.spec.magic
        positions = tuple(
            OpenPosition(
                p.ticket,
                p.type == mt5.POSITION_TYPE_BUY,
                p.volume,
                p.price_open,
                p.sl,
                p.tp,
                float(p.time),
            )
            for p in broker.positions.values()
            if p.symbol == symbol and p.magic == magic
        )
        orders = tuple(
            PendingOrder(o.ticket, o.type in _BUY_PENDING)
            for o in broker.orders.values()
            if o.symbol == symbol and o.magic == magic
        )
        value = 0.0  # what sizing by risk needs; fixed lots do not
        if self.strategy.spec.sizing.method != "fixed_lots" or not self._converts:
            # Also at the first bar whatever the sizing: a run whose money cannot be converted to
            # the account currency stops there, naming the price it needs, instead of refusing
            # every order.
            value = broker.calc_profit(mt5.ORDER_TYPE_BUY, symbol, 1.0, 1.0, 2.0)
            self._converts = True
        return Book(broker.equity, positions, orders, value, not broker.account.hedging)

    def _next_event(self, start: int) -> int:
        """The first bar from ``start`` on where anything can happen (see the module docstring)."""
        count = len(self.needs)
        if start >= count:
            return count
        broker = self.broker
        if not broker.positions and not broker.orders:
            return int(self.next_needed[start])
        bid_low, bid_high, ask_low, ask_high, expiry = broker.trigger_bounds(self.symbol)
        # The broker rounds its quotes to the symbol's digits (1.08889 + 12 points is 1.08901 to
        # it, 1.0890099999999998 here): a point of slack never misses a touch; an extra walked bar
        # changes nothing.
        slack = self.info.point
        rollovers = self.swaps_follow_price and bool(broker.positions)
        j, size = start, 64
        while j < count:
            end = min(count, j + size, int(self.next_needed[j]) + 1)
            hit = self.needs[j:end].copy()
            if bid_low > -math.inf:
                hit |= self.low[j:end] <= bid_low + slack
            if bid_high < math.inf:
                hit |= self.high[j:end] >= bid_high - slack
            if ask_low > -math.inf:
                hit |= self.ask_low[j:end] <= ask_low + slack
            if ask_high < math.inf:
                hit |= self.ask_high[j:end] >= ask_high - slack
            if rollovers:
                hit |= self.before_rollover[j:end]
            if expiry < math.inf:
                hit |= self.end_s[j:end] >= expiry
            found = np.flatnonzero(hit)
            if found.size:
                return j + int(found[0])
            j, size = end, min(size * 4, 1 << 16)
        return count

    def _conversion_arrays(
        self, frames: dict[str, pd.DataFrame], specs: dict[str, SymbolSpec]
    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        arrays = {}
        for name, frame in frames.items():
            times = epoch_seconds(frame.index)
            bid = frame["close"].to_numpy(dtype="float64")
            spread = frame["spread"].to_numpy(dtype="float64") if "spread" in frame else 0.0
            ask = bid + spread * specs[name].point
            rows = np.searchsorted(times, self.time_s, side="right") - 1
            arrays[name] = (rows, bid, ask)
        return arrays

    def _m1_arrays(self, m1_bars: pd.DataFrame | None) -> dict[str, Any] | None:
        if m1_bars is None:
            return None
        times = epoch_seconds(m1_bars.index)
        spread = (
            np.full(len(m1_bars), float(self.settings.spread_points))
            if self.settings.spread_points is not None
            else m1_bars["spread"].to_numpy(dtype="float64")
            if "spread" in m1_bars
            else np.zeros(len(m1_bars))
        )
        edges = np.append(self.time_s, self.time_s[-1] + self.duration_s)
        return {
            "time": times.astype("float64"),
            "open": m1_bars["open"].to_numpy(dtype="float64"),
            "high": m1_bars["high"].to_numpy(dtype="float64"),
            "low": m1_bars["low"].to_numpy(dtype="float64"),
            "close": m1_bars["close"].to_numpy(dtype="float64"),
            "spread": spread,
            "index": np.searchsorted(times, edges, side="left"),
        }

    # ---- the account, bar by bar -------------------------------------------------------------
    def _result(self) -> BacktestResult:
        broker = self.broker
        index = pd.DatetimeIndex(self.bars.index)
        deals = [deal.as_dict() for deal in broker.deals]
        orders = [order.as_dict() for order in broker.history_orders.values()]
        orders += [order.as_dict() for order in broker.orders.values()]
        balance = self._balance(deals)
        equity, equity_low, in_market = self._equity(balance, deals)
        return BacktestResult(
            spec=self.strategy.spec,
            symbol=self.symbol,
            symbol_info=self.info,
            settings=self.settings,
            deals=deals,
            orders=orders,
            equity=pd.Series(equity, index=index, name="equity"),
            equity_low=pd.Series(equity_low, index=index, name="equity_low"),
            balance=pd.Series(balance, index=index, name="balance"),
            in_market=pd.Series(in_market, index=index, name="in_market"),
            close=self.close,
            rejected=self.rejected,
            skipped=dict(self.strategy.skipped),
            bars_walked=self.walked,
        )

    def _balance(self, deals: list[dict[str, Any]]) -> np.ndarray:
        flows = [(d["time"], d["profit"] + d["commission"] + d["swap"]) for d in deals[1:]]
        start = self.settings.deposit
        if not flows:
            return np.full(len(self.end_s), start)
        times = np.array([t for t, _ in flows], dtype="float64")
        cumulative = np.concatenate([[0.0], np.cumsum([amount for _, amount in flows])])
        return start + cumulative[np.searchsorted(times, self.end_s, side="right")]

    def _equity(
        self, balance: np.ndarray, deals: list[dict[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        broker, info = self.broker, self.info
        log = [entry for entry in broker.exposure_log or [] if entry[1] == self.symbol]
        count = len(self.end_s)
        if not log:
            zeros = np.zeros(count)
            return balance.copy(), balance.copy(), zeros.astype(bool)
        table = np.array([(t, ll, lc, sl, sc) for t, _, ll, lc, sl, sc in log], dtype="float64")
        position = np.searchsorted(table[:, 0], self.end_s, side="right") - 1
        padded = np.vstack([np.zeros((1, 5)), table])
        rows = padded[position + 1]
        long_lots, long_cost, short_lots, short_cost = (
            rows[:, 1],
            rows[:, 2],
            rows[:, 3],
            rows[:, 4],
        )
        bid = self.close
        ask = bid + self.spread * info.point
        rate = self._rates(ask)
        contract = info.trade_contract_size
        floating = contract * rate * (long_lots * bid - long_cost + short_cost - short_lots * ask)

        # The book is linear in the price, so its worst point in a bar is one of the two extremes,
        # both legs valued there (a hedge's long and short never sit at opposite extremes); each
        # converts at that extreme's own ask (USDJPY: JPY -> USD).
        def book_at(bid_at: np.ndarray, ask_at: np.ndarray) -> np.ndarray:
            value = long_lots * bid_at - long_cost + short_cost - short_lots * ask_at
            return np.asarray(contract * self._rates(ask_at) * value)

        worst = np.minimum(book_at(self.low, self.ask_low), book_at(self.high, self.ask_high))
        swap_open = self._open_swaps(deals)
        equity = balance + floating + swap_open
        equity_low = np.minimum(equity, balance + worst + swap_open)
        # A walked bar's low is the broker's own, along its path: it sees the dip of a position
        # closed inside the bar and does not charge a position opened late in it the whole bar.
        walked = ~np.isnan(self.walked_low)
        equity_low[walked] = np.minimum(equity[walked], self.walked_low[walked])
        in_market = (long_lots + short_lots) > 1e-12
        return equity, equity_low, in_market

    def _rates(self, ask: np.ndarray) -> np.ndarray:
        """Profit currency -> account currency, bar by bar."""
        info, currency = self.info, self.settings.currency
        if info.currency_profit == currency:
            return np.ones(len(ask))
        if info.currency_base == currency:
            return 1.0 / ask  # USDJPY on a USD account: JPY -> USD at the ask
        for name, (rows, bid_c, ask_c) in self.conversions.items():
            pair = self.broker.symbols[name]
            valid = rows >= 0
            safe = np.where(valid, rows, 0)
            if pair.currency_base == info.currency_profit and pair.currency_profit == currency:
                return np.where(valid, bid_c[safe], np.nan)
            if pair.currency_base == currency and pair.currency_profit == info.currency_profit:
                return np.where(valid, 1.0 / ask_c[safe], np.nan)
        return np.full(len(ask), self.broker._rate(info.currency_profit, currency))

    def _open_swaps(self, deals: list[dict[str, Any]]) -> np.ndarray:
        """Swaps charged to open positions and not yet realised by a closing deal."""
        count = len(self.end_s)
        charged = self.broker.swap_log or []
        if not charged:
            return np.zeros(count)
        charge_times = np.array([t for t, _ in charged], dtype="float64")
        charge_sum = np.concatenate([[0.0], np.cumsum([amount for _, amount in charged])])
        realised = [(d["time"], d["swap"]) for d in deals[1:] if d["swap"]]
        real_times = np.array([t for t, _ in realised], dtype="float64")
        real_sum = np.concatenate([[0.0], np.cumsum([amount for _, amount in realised])])
        accrued = charge_sum[np.searchsorted(charge_times, self.end_s, side="right")]
        paid = real_sum[np.searchsorted(real_times, self.end_s, side="right")]
        return np.asarray(accrued - paid)
