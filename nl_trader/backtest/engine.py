"""The backtest engine: a compiled strategy over bars, through the product's one fill engine.

The bars are walked by the compiled loop (loop.py): the strategy's one decision logic
(``strategy.decide``) writes its orders as order rows, the numeric form of its ``send_order``
dicts, each completed into the MT5 request the simulated route would send for the dict (a test
holds the two equal), and sent to the fill engine's kernel (``sim.kernel``), the state and rules
``SimBroker`` runs on in paper trading; only the pace differs. This module prepares the arrays,
reports progress between slices of bars, closes the test and values the account bar by bar.

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
      a fixed ``spread_points``, used alike for the strategy's decisions (the ask its stops are
      placed from, its spread filter) and for the fills; a file without spreads runs at the
      symbol's typical spread, with a warning, unless ``spread_points`` is given (0 for none);
      ``slippage_points`` against the trader on market fills and stops; ``commission_per_lot``
      per side; swaps at each midnight of the trade server's clock (triple on the symbol's day).
    * The server's clock (``server_clock``): ``server_timezone`` when given, else the clock of
      the data when it comes from a MetaTrader server (an MT5/MT4 export, copy_rates), else the
      usual MetaTrader server clock, New York + 7 h (the forex day rolls at 17:00 New York). Its
      midnights charge swaps and end day orders; the strategy's weekdays and sessions are read on
      it unless the spec names a zone.
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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nl_trader import mt5
from nl_trader.backtest import loop
from nl_trader.backtest.stats import ClosedTrade, closed_trades
from nl_trader.data.checks import symbol_fit
from nl_trader.data.loaders import server_zone_of, symbol_from_name
from nl_trader.data.timezones import BROKER_ZONE, SourceZone, offset_table, parse_zone
from nl_trader.errors import InvalidInputError, NlTraderError, OrderParamsError
from nl_trader.events import retcode_meaning
from nl_trader.orders import check_request_price, parse_order_params, snap_request_volume
from nl_trader.routing import failure_message
from nl_trader.sim import kernel
from nl_trader.sim.broker import AccountConfig, ExecutionModel, Ledger, SimBroker
from nl_trader.sim.route import SimulatedRoute
from nl_trader.spec import StrategySpec, spec_hash
from nl_trader.strategy import decide
from nl_trader.strategy.compile import CompiledStrategy
from nl_trader.symbols import SymbolSpec, symbol_spec
from nl_trader.timeframes import epoch_seconds

ENGINE_VERSION = "1"
_NO_RATES = np.empty(0)  # profit already in the account currency
_PRICE_FIELDS = {
    kernel.R_PRICE: "price",
    kernel.R_STOPLIMIT: "stoplimit",
    kernel.R_SL: "sl",
    kernel.R_TP: "tp",
}


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
    # The trade server's clock (a zone ``data.timezones.parse_zone`` reads: "broker", "UTC+2",
    # "EET"); None: the data's, when it comes from a MetaTrader server, else New York + 7 h.
    server_timezone: str | None = None

    @field_validator("server_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_zone(value, field="server_timezone")
            except InvalidInputError as error:
                raise ValueError("; ".join(error.problems)) from None
        return value

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
    ledger: Ledger  # the broker's deals and orders at the end of the run
    equity: pd.Series
    equity_low: pd.Series
    balance: pd.Series
    in_market: pd.Series
    close: np.ndarray  # the bars' bid closes, for the price chart
    rejected: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    bars_walked: int = 0
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)  # about the data the run assumed things of
    spread_used: str = ""  # the spread the run used, in words
    server_clock: str = ""  # the trade server's clock, in words, and where it was taken from
    end_of_test_deals: frozenset[int] = frozenset()  # the deals that closed what the end left
    _trades: list[ClosedTrade] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.spec)

    @property
    def deals(self) -> list[dict[str, Any]]:
        """The run's deals as MT5's ``TradeDeal`` dicts (the first is the initial deposit)."""
        return self.ledger.deals

    @property
    def orders(self) -> list[dict[str, Any]]:
        """The run's orders as MT5's ``TradeOrder`` dicts (ended ones, then any still pending)."""
        return self.ledger.orders

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
    enter_from: datetime | None = None,
) -> BacktestResult:
    """Run ``spec`` over ``bars`` (UTC index; open, high, low, close bid; spread in points).

    ``enter_from``: no entry before this moment; the bars before it are history for the
    indicators (a walk-forward window's out-of-sample test starts flat there).

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
    source = bars.attrs.get("source")
    warnings = symbol_fit(bars, info, symbol_from_name(str(source)) if source else None)
    zone, clock_note = server_clock(settings, bars)
    fixed_spread, spread_used = _run_spread(bars, settings, info, warnings)
    strategy = CompiledStrategy(
        spec,
        name,
        info,
        server_zone=zone,
        enter_from_s=None if enter_from is None else int(pd.Timestamp(enter_from).timestamp()),
    )
    engine = _Engine(
        strategy, bars, settings, m1_bars, progress, conversion_bars or {}, zone, fixed_spread
    )
    result = engine.run()
    result.warnings = warnings
    result.spread_used = spread_used
    result.server_clock = f"{zone.description}, {clock_note}"
    result.elapsed_s = time.perf_counter() - started
    return result


def server_clock(settings: BacktestSettings, bars: pd.DataFrame) -> tuple[SourceZone, str]:
    """The trade server's clock for a run on ``bars`` (module docstring), and where it is from."""
    if settings.server_timezone is not None:
        return parse_zone(settings.server_timezone, field="server_timezone"), "as given"
    zone = server_zone_of(bars)
    if zone is not None:
        return zone, "the data's clock (a MetaTrader server's)"
    return BROKER_ZONE, "the usual MetaTrader server clock (the data does not come from a server)"


def _run_spread(
    bars: pd.DataFrame, settings: BacktestSettings, info: SymbolSpec, warnings: list[str]
) -> tuple[float | None, str]:
    """The fixed spread (points) the run uses for its decisions and its fills, None for the
    bars' own column, and that spread in words."""
    fixed = settings.spread_points
    if fixed is None and bars.attrs.get("spread_source") == "none":
        fixed = float(info.spread_points)
        warnings.append(
            f"spread: the data has no spread column; the run uses {info.name}'s typical spread, "
            f"{fixed:g} points throughout (--spread sets another, --spread 0 none)"
        )
        words = f"fixed {fixed:g} points, {info.name}'s typical (the data has no spread column)"
    elif fixed is None:
        return None, "per bar, from the data's spread column"
    else:
        words = f"fixed {fixed:g} points"
    return float(fixed), words


class _Engine:
    # Quiet bars are skipped (module docstring); tests walk every bar to show it changes nothing.
    skip_quiet_bars = True

    def __init__(
        self,
        strategy: CompiledStrategy,
        bars: pd.DataFrame,
        settings: BacktestSettings,
        m1_bars: pd.DataFrame | None,
        progress: Progress | None,
        conversion_bars: dict[str, pd.DataFrame],
        server_zone: SourceZone,
        fixed_spread: float | None,
    ) -> None:
        self.strategy = strategy
        self.settings = settings
        self.progress = progress
        info = strategy.symbol_info
        self.info = info
        self.symbol = strategy.symbol
        conversions = {name: symbol_spec(name) for name in conversion_bars}
        first_s, last_s = (int(t.timestamp()) for t in (bars.index[0], bars.index[-1]))
        self.broker = SimBroker(
            [info, *conversions.values()],
            account=settings.account_config(),
            execution=settings.execution_model(),
            record_exposure=True,
            server_clock=offset_table(server_zone, first_s - 7 * 86_400, last_s + 7 * 86_400),
        )
        self.route = SimulatedRoute(self.broker, replay=None)
        self.bars = bars
        self.fixed_spread = fixed_spread
        self.signals = strategy.prepare(
            bars, None if fixed_spread is None else np.full(len(bars), fixed_spread)
        )
        self.time_s = self.signals.time_s
        self.open = bars["open"].to_numpy(dtype="float64")
        self.high = bars["high"].to_numpy(dtype="float64")
        self.low = bars["low"].to_numpy(dtype="float64")
        self.close = bars["close"].to_numpy(dtype="float64")
        self.spread = self.signals.spread_points.astype("float64")  # the run's (_run_spread)
        self.duration_s = float(strategy.timeframe_s)
        self.last_end_s = float(self.time_s[-1]) + self.duration_s - 1
        # A rollover converts swaps at the quote of its moment: while a position is open, the bar
        # whose quote a server midnight uses (the bar it falls in, or the last one before it) is
        # walked, unless the swaps cannot depend on prices (points on a USD-quoted symbol).
        swap_mode = info.swap_mode
        self.swaps_follow_price = bool(info.swap_long or info.swap_short) and not (
            swap_mode in (mt5.SYMBOL_SWAP_MODE_DISABLED, mt5.SYMBOL_SWAP_MODE_CURRENCY_DEPOSIT)
            or (
                swap_mode == mt5.SYMBOL_SWAP_MODE_POINTS
                and info.currency_profit == settings.currency
            )
        )
        exits = strategy.spec.exits
        self.manage_every_bar = bool(exits.trailing_stop or exits.break_even or exits.max_bars)
        self.market = loop.Market(
            time_s=np.ascontiguousarray(self.time_s, dtype="int64"),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            spread=np.ascontiguousarray(self.spread, dtype="float64"),
            duration_s=self.duration_s,
            point=info.point,
        )
        self.minutes = self._minutes(m1_bars)
        self.conversions = self._conversion_arrays(conversion_bars, conversions)
        self.conversion_names = list(self.conversions)
        self.conversion_quotes = self._conversion_quotes()
        self.rejected: list[str] = []
        self.end_of_test_deals: frozenset[int] = frozenset()
        self.walked = 0
        # The walked bars' equity lows, as (bar, low) in bar order: at most one per bar, and
        # only the pages written are ever touched.
        self.low_bar = np.empty(len(bars), dtype=np.int64)
        self.low_value = np.empty(len(bars))
        self.lows = 0

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> BacktestResult:
        """Walk the bars in the compiled loop (loop.py), in slices when progress is reported."""
        count = len(self.bars)
        broker, strategy = self.broker, self.strategy
        signals = self.signals
        empty = np.empty(0)
        compiled_signals = _inputs(
            loop.Signals(
                time_s=signals.time_s,
                close=signals.close,
                spread_points=signals.spread_points,
                long_entry=signals.long_entry,
                short_entry=signals.short_entry,
                long_exit=signals.long_exit,
                short_exit=signals.short_exit,
                allowed=signals.allowed,
                close_all=signals.close_all,
                anchor=signals.anchor if signals.anchor is not None else empty,
                short_anchor=signals.short_anchor if signals.short_anchor is not None else empty,
                atr=signals.atr_matrix,
                expiry_s=signals.expiry_s,
                acts=loop.acting_bars(
                    signals.long_entry,
                    signals.short_entry,
                    signals.long_exit,
                    signals.short_exit,
                    signals.close_all,
                ),
            )
        )
        cfg = np.zeros(loop.G_COUNT, dtype=np.int64)
        cfg[loop.G_SYMBOL] = broker.symbol_index(self.symbol)
        # Magic and comment as the order params carry them (the route's own validation).
        template = parse_order_params(
            {
                "backtest_toggle": True,
                "symbol": self.symbol,
                "order_type": "buy",
                "volume": self.info.volume_min,
                "magic": strategy.spec.magic,
                "comment": strategy.spec.comment,
            }
        )
        cfg[loop.G_MAGIC] = template.magic
        cfg[loop.G_COMMENT] = broker.text_id(template.comment)
        cfg[loop.G_NO_COMMENT] = broker.text_id("")
        cfg[loop.G_FILL_CLOSE] = self.settings.fill == "close"
        cfg[loop.G_MANAGE_EVERY_BAR] = self.manage_every_bar
        cfg[loop.G_SWAPS_FOLLOW_PRICE] = self.swaps_follow_price
        cfg[loop.G_FIXED_LOTS] = strategy.spec.sizing.method == "fixed_lots"
        cfg[loop.G_HAS_M1] = self.minutes.first.size > 0
        cfg[loop.G_SKIP_QUIET] = self.skip_quiet_bars
        cfg[loop.G_STOPS_FROM_FILL] = strategy.spec.exits.stops_from == "fill"
        ctl = np.zeros(loop.C_COUNT, dtype=np.int64)
        skipped = np.zeros(len(loop.SKIP_NAMES), dtype=np.int64)
        queue_i = np.zeros((0, decide.ROW_INTS), dtype=np.int64)
        queue_f = np.zeros((0, decide.ROW_FLOATS))
        rejected = np.zeros(0, dtype=np.int64)
        rejected_value = np.zeros(0)
        report_every = max(1, count // 100) if self.progress is not None else count
        market, minutes = _inputs(self.market), _inputs(self.minutes)
        conversions = _inputs(self.conversion_quotes)
        space = loop.space_for(broker.state)
        while True:
            start = int(ctl[loop.C_BAR])
            if self.progress is not None:
                self.progress(start, count)
            stop = min(count, start + report_every)
            broker.call(
                loop.run_bars,
                broker.state,
                cfg,
                ctl,
                market,
                minutes,
                conversions,
                compiled_signals,
                strategy.params_f,
                strategy.params_i,
                queue_i,
                queue_f,
                space,
                self.low_bar,
                self.low_value,
                skipped,
                rejected,
                rejected_value,
                stop,
            )
            status = int(ctl[loop.C_STATUS])
            if status == loop.DONE:
                break
            if status == loop.BAD_QUOTE:
                self._bad_conversion_quote(int(ctl[loop.C_BAR]))
            if status == loop.NEED_ROOM:
                bar = int(ctl[loop.C_BAR])
                queued = int(ctl[loop.C_QUEUE])
                broker.reserve(
                    float(self.time_s[bar]) + self.duration_s - 1,
                    extra=int(loop.room_needed(broker.state, queued)),
                )
                state = broker.state
                space = loop.space_for(state)
                capacity = len(space.out_i)
                if len(queue_i) < queued + capacity:
                    queue_i = _grown(queue_i, 2 * (queued + capacity))
                    queue_f = _grown(queue_f, 2 * (queued + capacity))
                if len(rejected) < int(ctl[loop.C_REJECTED]) + queued + capacity:
                    size = 2 * (len(rejected) + queued + capacity)
                    rejected = _grown(rejected, size)
                    rejected_value = _grown(rejected_value, size)
        self.walked = int(ctl[loop.C_WALKED])
        self.lows = int(ctl[loop.C_LOWS])
        for reason, times in zip(loop.SKIP_NAMES, skipped.tolist(), strict=True):
            if times:
                strategy.skipped[reason] = strategy.skipped.get(reason, 0) + times
        self.rejected += [
            refusal_message(int(code), float(value), self.info)
            for code, value in zip(
                rejected[: ctl[loop.C_REJECTED]],
                rejected_value[: ctl[loop.C_REJECTED]],
                strict=True,
            )
        ]
        self._end_of_test()
        if self.progress is not None:
            self.progress(count, count)
        return self._result()

    def _bad_conversion_quote(self, bar: int) -> None:
        for k, name in enumerate(self.conversion_names):
            row = int(self.conversion_quotes.rows[k, bar])
            if row >= 0:
                quotes = self.conversion_quotes
                bid, ask = float(quotes.bid[k, row]), float(quotes.ask[k, row])
                if not (bid > 0 and ask >= bid):
                    raise InvalidInputError(
                        [f"quote: {name} bid {bid} / ask {ask} is not a valid quote"],
                        what="quote",
                    )

    def _end_of_test(self) -> None:
        """As MT5's tester: at the last bar's close, cancel what waits and close what is open."""
        broker, last = self.broker, len(self.close) - 1
        broker.advance_clock(self.last_end_s)  # the skipped tail's rollovers
        if not broker.positions and not broker.orders:
            return
        bid = round(float(self.close[last]), self.info.digits)
        ask = round(bid + self.spread[last] * self.info.point, self.info.digits)
        broker.set_quote(self.symbol, self.last_end_s, bid, ask)
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
        deals_before = int(broker.state.acct_i[kernel.I_DEALS])
        self._send(closing)
        st = broker.state
        self.end_of_test_deals = frozenset(
            st.deal_i[deals_before : st.acct_i[kernel.I_DEALS], kernel.D_TICKET].tolist()
        )

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

    def _conversion_quotes(self) -> loop.Conversions:
        """The conversion pairs' quotes as the compiled loop reads them (padded to one length)."""
        names = self.conversion_names
        longest = max((len(bid) for _, bid, _ in self.conversions.values()), default=0)
        rows = np.full((len(names), len(self.time_s)), -1, dtype=np.int64)
        bid = np.full((len(names), longest), np.nan)
        ask = np.full((len(names), longest), np.nan)
        for k, name in enumerate(names):
            pair_rows, pair_bid, pair_ask = self.conversions[name]
            rows[k] = pair_rows
            bid[k, : len(pair_bid)] = pair_bid
            ask[k, : len(pair_ask)] = pair_ask
        symbols = np.array([self.broker.symbol_index(name) for name in names], dtype=np.int64)
        return loop.Conversions(symbols=symbols, rows=rows, bid=bid, ask=ask)

    def _minutes(self, m1_bars: pd.DataFrame | None) -> loop.Minutes:
        empty = np.empty(0)
        if m1_bars is None:
            return loop.Minutes(
                first=np.empty(0, dtype=np.int64),
                time_s=empty,
                open=empty,
                high=empty,
                low=empty,
                close=empty,
                spread=empty,
            )
        times = epoch_seconds(m1_bars.index)
        spread = (
            np.full(len(m1_bars), self.fixed_spread)
            if self.fixed_spread is not None
            else m1_bars["spread"].to_numpy(dtype="float64")
            if "spread" in m1_bars
            else np.zeros(len(m1_bars))
        )
        edges = np.append(self.time_s, self.time_s[-1] + self.duration_s)
        return loop.Minutes(
            first=np.searchsorted(times, edges, side="left").astype("int64"),
            time_s=times.astype("float64"),
            open=m1_bars["open"].to_numpy(dtype="float64"),
            high=m1_bars["high"].to_numpy(dtype="float64"),
            low=m1_bars["low"].to_numpy(dtype="float64"),
            close=m1_bars["close"].to_numpy(dtype="float64"),
            spread=np.ascontiguousarray(spread, dtype="float64"),
        )

    # ---- the account, bar by bar -------------------------------------------------------------
    def _result(self) -> BacktestResult:
        broker, info = self.broker, self.info
        index = pd.DatetimeIndex(self.bars.index)
        st = broker.state
        deals = int(st.acct_i[kernel.I_DEALS])
        deal_f, deal_i = st.deal_f[1:deals], st.deal_i[1:deals]  # after the initial deposit
        flow_amount = (
            deal_f[:, kernel.D_PROFIT] + deal_f[:, kernel.D_COMMISSION] + deal_f[:, kernel.D_SWAP]
        )
        realised = deal_f[:, kernel.D_SWAP] != 0
        exposure = st.exposure[: st.acct_i[kernel.I_EXPOSURE]]
        exposure = exposure[exposure[:, 1] == broker.symbol_index(self.symbol)][:, [0, 2, 3, 4, 5]]
        swaps = st.swaps[: st.acct_i[kernel.I_SWAPS]]
        count = len(self.time_s)
        balance, equity, equity_low = np.empty(count), np.empty(count), np.empty(count)
        in_market = np.empty(count, dtype=bool)
        spread_price = self.spread * info.point
        converts = info.currency_profit != self.settings.currency
        loop.value_account(
            _inputs(self.market),
            self._rates(self.close + spread_price) if converts else _NO_RATES,
            self._rates(self.low + spread_price) if converts else _NO_RATES,
            self._rates(self.high + spread_price) if converts else _NO_RATES,
            info.trade_contract_size,
            self.settings.deposit,
            deal_i[:, kernel.D_TIME].astype("float64"),
            np.ascontiguousarray(flow_amount),
            np.ascontiguousarray(exposure),
            np.ascontiguousarray(swaps[:, 0]),
            np.ascontiguousarray(swaps[:, 1]),
            deal_i[realised, kernel.D_TIME].astype("float64"),
            np.ascontiguousarray(deal_f[realised, kernel.D_SWAP]),
            self.low_bar[: self.lows],
            self.low_value[: self.lows],
            balance,
            equity,
            equity_low,
            in_market,
        )
        return BacktestResult(
            spec=self.strategy.spec,
            symbol=self.symbol,
            symbol_info=info,
            settings=self.settings,
            ledger=broker.ledger(),
            equity=pd.Series(equity, index=index, name="equity", copy=False),
            equity_low=pd.Series(equity_low, index=index, name="equity_low", copy=False),
            balance=pd.Series(balance, index=index, name="balance", copy=False),
            in_market=pd.Series(in_market, index=index, name="in_market", copy=False),
            close=self.close,
            rejected=self.rejected,
            skipped=dict(self.strategy.skipped),
            bars_walked=self.walked,
            end_of_test_deals=self.end_of_test_deals,
        )

    def _rates(self, ask: np.ndarray) -> np.ndarray:
        """Profit currency -> account currency, bar by bar."""
        info, currency = self.info, self.settings.currency
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


def refusal_message(code: int, value: float, info: SymbolSpec) -> str:
    """What the simulated route answers for an order the loop refused (``SimulatedRoute.submit``):
    a broker's rejection (a ``kernel.REJECTIONS`` index) or one before the broker
    (``loop.PREP_*``, ``value`` the volume or price in question), worded by the route's own
    checks."""
    if code > 0:
        retcode, comment = kernel.REJECTIONS[code]
        return failure_message(retcode, retcode_meaning(retcode), comment)
    try:
        if code <= loop.PREP_PRICE:
            check_request_price(_PRICE_FIELDS[loop.PREP_PRICE - code], value, info.digits)
        else:
            snap_request_volume(value, info.as_symbol_info())
    except OrderParamsError as refusal:
        return str(refusal)
    raise NlTraderError(f"refusal {code} does not refuse {value}")  # the loop and route disagree


_Inputs = TypeVar("_Inputs", loop.Signals, loop.Market, loop.Minutes, loop.Conversions)


def _inputs(arrays: _Inputs) -> _Inputs:
    """The loop's input arrays, each contiguous and read-only: one compiled loop serves every
    run (numba compiles a version per kind of array, and pandas hands out read-only ones)."""
    fields = {}
    for name, value in arrays._asdict().items():
        if isinstance(value, np.ndarray):
            value = np.ascontiguousarray(value).view()
            value.flags.writeable = False
        fields[name] = value
    return type(arrays)(**fields)


def _grown(table: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros((size, *table.shape[1:]), dtype=table.dtype)
    grown[: len(table)] = table
    return grown
