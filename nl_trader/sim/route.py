"""The simulated route of ``send_order`` (``backtest_toggle=True``): never touches MetaTrader5.

Orders go straight to the simulated broker; its events (placed, filled, expired, ...) become the
client's callbacks with the same payloads the MT5 route produces. Time passes with ``advance``,
which replays more bars (by default the bundled sample: every default symbol, M5).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.events import SUCCESS_RETCODES, epoch_to_utc, order_event, retcode_meaning
from nl_trader.orders import OrderParams, prepare_request
from nl_trader.routing import Notify, failure_message, modified, rejected
from nl_trader.sim.broker import BrokerEvent, SimBroker
from nl_trader.sim.feed import BarReplay
from nl_trader.symbols import SymbolSpec
from nl_trader.timeframes import timeframe_delta


class SimulatedRoute:
    """A simulated broker plus the bars that move its market."""

    def __init__(
        self,
        broker: SimBroker | None = None,
        replay: BarReplay | None = None,
        *,
        warmup_bars: int = 600,
    ) -> None:
        if broker is None:
            broker = SimBroker()
            if replay is None:
                replay = BarReplay.sample()
        self.broker = broker
        self.replay = replay
        if replay is not None and replay.cursor == 0 and warmup_bars:
            replay.step(broker, warmup_bars)
        self._notify: Notify | None = None
        self._symbol_infos: dict[str, tuple[SymbolSpec, dict[str, Any]]] = {}
        self._warnings: tuple[str, ...] = ()

    def advance(self, bars: int = 1) -> int:
        """Replay ``bars`` more bars: pending orders, stops and expiries react to them."""
        return self.replay.step(self.broker, bars) if self.replay is not None else 0

    def push_quote(self, symbol: str, time: datetime, bid: float, ask: float) -> None:
        """Move the market with one quote (a tick): orders, stops and expiries react to it."""
        if time.tzinfo is None:
            raise InvalidInputError(["time: must be timezone-aware (UTC)"], what="quote")
        self.broker.set_quote(symbol, time.timestamp(), bid, ask)

    def push_bar(
        self,
        symbol: str,
        time: datetime,
        timeframe: str,
        open_: float,
        high: float,
        low: float,
        close: float,
        spread_points: float = 0.0,
    ) -> None:
        """Move the market with one bid bar of ``timeframe`` opening at ``time`` (UTC)."""
        if time.tzinfo is None:
            raise InvalidInputError(["time: must be timezone-aware (UTC)"], what="bar")
        duration_s = timeframe_delta(timeframe).total_seconds()
        self.broker.on_bar(
            symbol, time.timestamp(), duration_s, open_, high, low, close, spread_points
        )

    def attach(self, notify: Notify) -> None:
        """Send this route's events to ``notify`` (the client's callbacks)."""
        if self._notify is None:
            # Only a listener makes the broker build event payloads (backtests have none).
            self.broker.subscribe(self._on_event)
        self._notify = notify

    def submit(self, params: OrderParams) -> str:
        """Send validated params; return the order id, or the reason it was refused."""
        broker = self.broker
        spec = broker.symbols.get(params.symbol)
        if spec is None:
            return (
                f"symbol: {params.symbol!r} is not available in the simulator "
                f"(it has {', '.join(sorted(broker.symbols))})"
            )
        quote = broker.quote(params.symbol)
        if quote is None:
            return f"symbol: the simulator has no prices for {params.symbol} yet"
        position = broker.positions.get(params.position or 0)
        order = broker.orders.get(params.order or 0)
        try:
            request, warnings = prepare_request(
                params,
                self._symbol_info(spec),
                bid=quote.bid,
                ask=quote.ask,
                position=position.as_dict() if position else None,
                order=order.as_dict() if order else None,
            )
        except NlTraderError as error:
            return str(error)
        self._warnings = warnings
        try:
            result = broker.send(request)
        except NlTraderError as error:
            return str(error)
        finally:
            leftover, self._warnings = self._warnings, ()
        if result.retcode not in SUCCESS_RETCODES:
            now = epoch_to_utc(broker.time_s)
            self._emit(
                "status",
                rejected(
                    params, request, result.retcode, result.comment, time=now, warnings=leftover
                ),
            )
            return failure_message(result.retcode, retcode_meaning(result.retcode), result.comment)
        action = request["action"]
        if action in (mt5.TRADE_ACTION_SLTP, mt5.TRADE_ACTION_MODIFY):
            now = epoch_to_utc(broker.time_s)
            target: Any = broker.positions.get(params.position or 0) or broker.orders.get(
                params.order or 0
            )
            self._emit(
                "status",
                modified(
                    params,
                    request,
                    target.as_dict() if target else None,
                    result.retcode,
                    result.comment,
                    time=now,
                    warnings=leftover,
                ),
            )
            return str(request.get("position") or request.get("order"))
        return str(result.order)

    def _symbol_info(self, spec: SymbolSpec) -> dict[str, Any]:
        """The symbol's MT5 fields, built once per spec (requests need its trading rules only)."""
        cached = self._symbol_infos.get(spec.name)
        if cached is None or cached[0] is not spec:
            cached = (spec, spec.as_symbol_info())
            self._symbol_infos[spec.name] = cached
        return cached[1]

    def _on_event(self, event: BrokerEvent) -> None:
        warnings, self._warnings = self._warnings, ()  # notes belong to the request's first event
        payload = order_event(
            event.order,
            event.state,
            retcode=event.retcode,
            comment=event.comment,
            time_s=event.time_s,
            deal=event.deal,
            warnings=warnings,
            reason=event.reason,
        )
        self._emit("status", payload)
        if event.deal is not None:
            self._emit("execution", payload)

    def _emit(self, kind: Any, payload: Any) -> None:
        if self._notify is not None:
            self._notify(kind, payload)
