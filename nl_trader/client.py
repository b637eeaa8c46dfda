"""The seed's client: ``MAS`` with ``login``, ``send_order`` and the two callbacks.

``send_order(params)`` is one API for both modes. ``backtest_toggle=True`` goes to the simulated
route (the simulated broker on the bundled sample; MetaTrader5 is never imported or connected);
``False`` goes to the MT5 executor on the configured terminal (``NL_TRADER_TERMINAL``: ``mt5``,
``fake`` or ``mt5linux://HOST:PORT``). Both push the same payloads to ``receive_order_status`` and
``receive_order_execution`` (schema: ``nl_trader.events``).

Example (the seed's)::

    import mas

    class MAS_Client(mas):
        def receive_order_status(self, order_id, status_data):
            print("receive_order_status:", order_id, status_data)

    client = MAS_Client()
    client.login({"account": "YOUR_ACCOUNT", "password": "YOUR_PASSWORD", "server": "YOUR_SERVER"})
    client.send_order({"symbol": "EURUSD", "order_type": "sell", "volume": 0.1,
                       "backtest_toggle": True})
"""

from __future__ import annotations

import logging
from typing import Any

from nl_trader.errors import LoginError, NlTraderError, OrderParamsError
from nl_trader.events import OrderEvent
from nl_trader.jit import preparing
from nl_trader.live.executor import Credentials, MT5Executor
from nl_trader.live.terminal import TerminalPort
from nl_trader.live.terminals import configured_terminal_name, open_terminal
from nl_trader.orders import parse_order_params
from nl_trader.routing import EventKind
from nl_trader.sim.route import SimulatedRoute

# The compiled code a simulated order runs (the fill engine), prepared on the first one.
SIMULATOR_MODULES = ("nl_trader.sim", "nl_trader.numeric")

log = logging.getLogger("nl_trader.client")


class MAS:
    """The unified order client. Subclass it and override the two ``receive_*`` callbacks.

    ``terminal`` is a terminal object or its name (default: ``NL_TRADER_TERMINAL``);
    ``simulator`` a ready ``SimulatedRoute`` (default: one on the bundled sample, made on first
    use); ``strict`` refuses doubtful params (an expiration given with GTC) instead of warning;
    ``server_utc_offset_s`` is the trade server's clock offset (7200 for GMT+2), used to read
    aware ``expiration`` datetimes and to report times in UTC.
    """

    def __init__(
        self,
        *,
        terminal: TerminalPort | str | None = None,
        simulator: SimulatedRoute | None = None,
        strict: bool = False,
        server_utc_offset_s: int = 0,
    ) -> None:
        self._terminal_choice = terminal
        self._simulator = simulator
        self._executor: MT5Executor | None = None
        self._credentials: Credentials | None = None
        self.strict = strict
        self.server_utc_offset_s = server_utc_offset_s
        if simulator is not None:
            simulator.attach(self._dispatch)

    # ---- the seed's API ----------------------------------------------------------------------
    def login(self, params: dict[str, Any]) -> bool:
        """Keep the credentials; connect now if a terminal is configured.

        The simulated route needs no terminal and accepts placeholder credentials. The live route
        initialises and logs in to the terminal (now, or on the first live order when no terminal
        is configured yet). Raises ``LoginError`` (never showing the password) when refused.
        """
        self._credentials = Credentials.parse(params)
        if self._terminal_choice is not None or configured_terminal_name() is not None:
            self._live(connect=True)
        log.info("logged in as %s on %s", self._credentials.account, self._credentials.server)
        return True

    def send_order(self, params: dict[str, Any]) -> str:
        """Send one order; return its id, or the error message. Never raises for bad params."""
        try:
            parsed = parse_order_params(
                params, strict=self.strict, server_utc_offset_s=self.server_utc_offset_s
            )
        except OrderParamsError as error:
            log.warning("%s", error)
            return str(error)
        try:
            if parsed.backtest_toggle:
                with preparing("the simulator", SIMULATOR_MODULES):
                    return self.simulator.submit(parsed)
            return self._live(connect=True).submit(parsed)
        except NlTraderError as error:
            log.warning("send_order failed: %s", error)
            return str(error)

    def receive_order_status(self, order_id: str, status_data: dict[str, Any]) -> None:
        """Called for every order status (placed, filled, rejected, ...). Override it."""
        log.info("order %s %s: %s", order_id, status_data["state"], status_data["comment"])

    def receive_order_execution(self, order_id: str, execution_data: dict[str, Any]) -> None:
        """Called for every deal (fill) of an order. Override it."""
        log.info(
            "order %s deal %s: %s lots at %s",
            order_id,
            execution_data["deal_id"],
            execution_data["fill_volume"],
            execution_data["fill_price"],
        )

    # ---- time, polling and the routes --------------------------------------------------------
    def advance(self, bars: int = 1) -> None:
        """Let ``bars`` bars of simulated time pass: the simulator and a replaying terminal."""
        if self._simulator is not None:
            with preparing("the simulator", SIMULATOR_MODULES):
                self._simulator.advance(bars)
        if self._executor is not None:
            replay = getattr(self._executor.terminal, "advance", None)
            if not callable(replay):
                self._executor.poll()
                return
            for _ in range(bars):  # a live session polls on every new bar
                replay(1)
                self._executor.poll()

    def poll(self) -> None:
        """Ask the MT5 terminal what happened to open orders and positions (fills, SL/TP, expiry)."""
        if self._executor is not None:
            self._executor.poll()

    @property
    def simulator(self) -> SimulatedRoute:
        """The simulated route (made on first use, on the bundled sample)."""
        if self._simulator is None:
            self._simulator = SimulatedRoute()
            self._simulator.attach(self._dispatch)
        return self._simulator

    @property
    def executor(self) -> MT5Executor:
        """The MT5 executor, connected."""
        return self._live(connect=True)

    def _live(self, *, connect: bool) -> MT5Executor:
        if self._executor is None:
            choice = self._terminal_choice
            terminal = (
                choice
                if choice is not None and not isinstance(choice, str)
                else open_terminal(choice)
            )
            self._executor = MT5Executor(terminal, server_utc_offset_s=self.server_utc_offset_s)
            self._executor.attach(self._dispatch)
        if connect and not self._executor.connected:
            if self._credentials is None:
                raise LoginError("call login() before sending live orders")
            self._executor.connect(self._credentials)
        return self._executor

    def _dispatch(self, kind: EventKind, event: OrderEvent) -> None:
        payload = event.to_payload()
        try:
            if kind == "execution":
                self.receive_order_execution(event.order_id, payload)
            else:
                self.receive_order_status(event.order_id, payload)
        except Exception:  # a client's callback must not break the order flow
            log.exception("the %s callback raised for order %s", kind, event.order_id)
