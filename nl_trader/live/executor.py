"""The MT5 executor: sends ``OrderParams`` to a terminal and reports back, safe under faults.

For every order it: finds the symbol (selecting it into Market Watch if needed), prepares the request
for that symbol (volume on the symbol's step, a filling mode it supports, prices on its digits, the
quote as a market order's price), runs ``order_check``, then ``order_send``, and turns every retcode
into a status callback with its meaning. MT5 pushes nothing: fills of pending orders, SL/TP closes
and expiries are found by ``poll()``, which reads the terminal's orders and history.

Exactly once. Every request carries a client order id (``order_ids``) in its comment, handed to
``before_send`` (the session journals it) before ``order_send``. ``order_send`` returns ``None``
when the request got no reply; the executor then decides by that id whether the server got it:
    * the link is gone (no IPC connection, send or receive failed, a timeout): the terminal is
      reconnected with backoff (``initialize``, the login again, the same account checked);
    * the id is looked up in the terminal's orders, positions and history: found, the order is
      adopted and nothing is re-sent; provably absent (the terminal answered and holds no order
      with it), the request is sent once more under the same id;
    * the terminal cannot be asked: the outcome is unknown; the request is reported refused with
      10031 and kept, and ``poll()`` resolves it by id once the link is back (adopted, or reported
      as never placed). Nothing is sent again for it.
Requotes and moved prices (10004, 10020, 10021) are retried with a fresh quote, up to
``max_retries`` times. A dropped link found by any call (a poll, the read after a DONE reply) is
reconnected the same way, and ``poll()`` then reports what happened meanwhile.

Time. Every event of this route carries the trade server's clock, in UTC: a deal's or order's own
time, and for a refusal or a change the time of the quote it was checked on. Never this machine's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from nl_trader import mt5
from nl_trader.errors import LoginError, NlTraderError, TerminalError
from nl_trader.events import (
    SUCCESS_RETCODES,
    OrderState,
    order_event,
    retcode_meaning,
)
from nl_trader.live.order_ids import ClientIds, client_id_of, tag
from nl_trader.live.terminal import TerminalPort
from nl_trader.orders import OrderParams, prepare_request
from nl_trader.routing import Notify, failure_message, modified, rejected

log = logging.getLogger(__name__)

NOT_SENT_CODES = frozenset({mt5.RES_E_INVALID_PARAMS, mt5.RES_E_AUTO_TRADING_DISABLED})
"""``order_send`` refused the request in the Python layer: it never left, and sending it again as
it is would be refused again."""
LINK_CODES = frozenset(
    {
        mt5.RES_E_INTERNAL_FAIL,
        mt5.RES_E_INTERNAL_FAIL_SEND,
        mt5.RES_E_INTERNAL_FAIL_RECEIVE,
        mt5.RES_E_INTERNAL_FAIL_INIT,
        mt5.RES_E_INTERNAL_FAIL_CONNECT,
        mt5.RES_E_INTERNAL_FAIL_TIMEOUT,
    }
)
"""The link to the terminal failed (the request's fate, if one was sent, is unknown)."""
RECONNECT_DELAYS_S = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits before each reconnection attempt: about 15 s in all before a call is given up."""
_CHANGE_ACTIONS = frozenset(
    {mt5.TRADE_ACTION_SLTP, mt5.TRADE_ACTION_MODIFY, mt5.TRADE_ACTION_REMOVE}
)
RETRY_RETCODES = frozenset(
    {mt5.TRADE_RETCODE_REQUOTE, mt5.TRADE_RETCODE_PRICE_CHANGED, mt5.TRADE_RETCODE_PRICE_OFF}
)
_STATE_BY_ORDER_STATE = {
    mt5.ORDER_STATE_FILLED: OrderState.FILLED,
    mt5.ORDER_STATE_CANCELED: OrderState.CANCELLED,
    mt5.ORDER_STATE_EXPIRED: OrderState.EXPIRED,
    mt5.ORDER_STATE_REJECTED: OrderState.REJECTED,
    mt5.ORDER_STATE_PARTIAL: OrderState.PARTIALLY_FILLED,
}


class Credentials(BaseModel):
    """MT5 login params as the seed passes them. The password never appears in a repr or log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: int | str
    password: SecretStr
    server: str

    @classmethod
    def parse(cls, params: object) -> Credentials:
        if not isinstance(params, Mapping):
            raise LoginError(f"login params: expected a dict, got {type(params).__name__}")
        data = dict(params)
        if "login" in data and "account" not in data:
            data["account"] = data.pop("login")
        missing = [key for key in ("account", "password", "server") if data.get(key) in (None, "")]
        if missing:
            raise LoginError("login params: missing " + ", ".join(missing))
        unknown = sorted(set(data) - {"account", "password", "server"})
        if unknown:
            raise LoginError("login params: unknown key " + ", ".join(unknown))
        account = data["account"]
        if isinstance(account, str) and account.strip().isdigit():
            account = int(account.strip())
        if not isinstance(account, int | str) or isinstance(account, bool):
            raise LoginError(f"account: expected an account number, got {type(account).__name__}")
        if not isinstance(data["server"], str):
            raise LoginError("server: expected the broker's server name as text")
        return cls(
            account=account, password=SecretStr(str(data["password"])), server=data["server"]
        )

    @property
    def login_number(self) -> int | None:
        """The MT5 login as the package needs it (an int), or None for a placeholder."""
        return self.account if isinstance(self.account, int) else None


@dataclass
class _Tracked:
    """Orders and positions this executor placed, and the deals it has reported."""

    pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    positions: set[int] = field(default_factory=set)
    known_orders: set[int] = field(default_factory=set)
    reported_deals: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Intent:
    """A request about to be sent: its client id, the request as it goes to ``order_send``, and
    the params it came from. ``before_send`` gets it first (a session journals it)."""

    client_id: str
    request: dict[str, Any]
    params: OrderParams


@dataclass
class _Unresolved:
    """A request whose fate the terminal could not tell yet (the link was down)."""

    intent: Intent
    notes: tuple[str, ...]
    since_s: int


Guard = Callable[[Mapping[str, Any]], Any]
"""Called with each prepared request; returns None to let it through, or a refusal with ``guard``
(its name), ``message`` and ``figures`` (``guards.GuardRefusal``)."""


class MT5Executor:
    """Trades on an MT5 terminal (real, bridged or fake) through the terminal port.

    ``client_ids`` names the requests (default: a random prefix); ``sleep`` and
    ``reconnect_delays_s`` pace reconnection; ``before_send(intent)`` runs before every
    ``order_send`` (a failure there sends nothing); ``guard`` may refuse a request before it is
    checked; ``on_incident(text)`` hears of reconnections and resolutions.
    """

    def __init__(
        self,
        terminal: TerminalPort,
        *,
        server_utc_offset_s: int = 0,
        max_retries: int = 3,
        client_ids: ClientIds | None = None,
        sleep: Callable[[float], None] = time.sleep,
        reconnect_delays_s: Sequence[float] = RECONNECT_DELAYS_S,
    ) -> None:
        self.terminal = terminal
        self.server_utc_offset_s = server_utc_offset_s
        self.max_retries = max_retries
        self.client_ids = client_ids or ClientIds.random()
        self.sleep = sleep
        self.reconnect_delays_s = tuple(reconnect_delays_s)
        self.connected = False
        self.account: dict[str, Any] = {}
        self.before_send: Callable[[Intent], None] | None = None
        self.guard: Guard | None = None
        self.on_incident: Callable[[str], None] | None = None
        self.reconnections = 0
        self._credentials: Credentials | None = None
        self._notify: Notify | None = None
        self._tracked = _Tracked()
        self._unresolved: dict[str, _Unresolved] = {}
        self._buffer: list[tuple[Any, Any]] | None = None

    def attach(self, notify: Notify) -> None:
        self._notify = notify

    # ---- connection --------------------------------------------------------------------------
    def connect(self, credentials: Credentials | None) -> dict[str, Any]:
        """Initialise the terminal and log in; return ``account_info()`` as a dict.

        A placeholder account (not a number) uses the account the terminal is already logged in
        to, and only if that is a demo account: a placeholder never trades real money.
        """
        terminal = self.terminal
        if not terminal.initialize():
            code, message = terminal.last_error()
            raise TerminalError("initialize", code, message)
        self._login(credentials)
        info = terminal.account_info()
        if info is None:
            code, message = terminal.last_error()
            raise TerminalError("account_info", code, message)
        account = info._asdict()
        if credentials is not None and credentials.login_number is None:
            if account.get("trade_mode") == mt5.ACCOUNT_TRADE_MODE_REAL:
                raise LoginError(
                    f"account: {credentials.account!r} is not an MT5 login number, and the "
                    "terminal is logged in to a REAL account; give the account number to trade it"
                )
            log.warning(
                "account %r is not an MT5 login number; using the terminal's demo account %s",
                credentials.account,
                account.get("login"),
            )
        self.account = dict(account)
        self._credentials = credentials
        self.connected = True
        terminal_info = terminal.terminal_info()
        if terminal_info is not None and not terminal_info._asdict().get("trade_allowed", True):
            log.warning("the terminal's Algo Trading button is off: orders will be refused (10027)")
        return self.account

    def _login(self, credentials: Credentials | None) -> None:
        if credentials is None or credentials.login_number is None:
            return
        ok = self.terminal.login(
            credentials.login_number,
            password=credentials.password.get_secret_value(),
            server=credentials.server,
        )
        if not ok:
            code, message = self.terminal.last_error()
            raise LoginError(
                f"login to account {credentials.login_number} on {credentials.server} failed: "
                f"({code}, {message!r})"
            )

    def reconnect(self) -> bool:
        """Re-initialise and log in again, waiting longer after each failure; True once the
        terminal answers for the same account. A different account is an error (never trade on)."""
        for attempt, delay_s in enumerate(self.reconnect_delays_s, start=1):
            if delay_s:
                self.sleep(delay_s)
            if not self.terminal.initialize():
                continue
            try:
                self._login(self._credentials)
            except LoginError:
                continue
            info = self.terminal.account_info()
            if info is None:
                continue
            login = info._asdict().get("login")
            if self.account and login != self.account.get("login"):
                raise TerminalError(
                    "reconnect",
                    mt5.RES_E_FAIL,
                    f"the terminal is now logged in to account {login}, not "
                    f"{self.account.get('login')}: not trading on",
                )
            self.reconnections += 1
            self._incident(f"reconnected to the terminal (attempt {attempt})")
            return True
        return False

    def shutdown(self) -> None:
        self.terminal.shutdown()
        self.connected = False

    # ---- sending -----------------------------------------------------------------------------
    def submit(self, params: OrderParams) -> str:
        """Send validated params; return the order id, or the reason it was refused."""
        try:
            return self._submit(params)
        except NlTraderError as error:
            return str(error)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A terminal call; a broken link is reconnected (with backoff) and the call made again."""
        result = getattr(self.terminal, name)(*args, **kwargs)
        if result is None:
            code, message = self.terminal.last_error()
            if code in LINK_CODES and self.reconnect():
                result = getattr(self.terminal, name)(*args, **kwargs)
                if result is not None:
                    return result
                code, message = self.terminal.last_error()
            raise TerminalError(name, code, message)
        return result

    def _symbol(self, symbol: str) -> tuple[dict[str, Any], Any]:
        info = self._call("symbol_info", symbol)
        if not info._asdict().get("select", True):
            if not self.terminal.symbol_select(symbol, True):
                code, message = self.terminal.last_error()
                raise TerminalError(f"symbol_select({symbol!r})", code, message)
            info = self._call("symbol_info", symbol)
        tick = self._call("symbol_info_tick", symbol)
        return info._asdict(), tick

    def _prepare(
        self, params: OrderParams
    ) -> tuple[dict[str, Any], tuple[str, ...], dict[str, Any]]:
        symbol_info, tick = self._symbol(params.symbol)
        position = order = None
        if params.position is not None:
            found = self._call("positions_get", ticket=params.position)
            position = found[0]._asdict() if found else None
        if params.order is not None:
            found = self._call("orders_get", ticket=params.order)
            order = found[0]._asdict() if found else None
        request, notes = prepare_request(
            params, symbol_info, bid=tick.bid, ask=tick.ask, position=position, order=order
        )
        return request, notes, {"time": int(tick.time), "target": position or order}

    def _utc(self, server_s: int) -> datetime:
        return datetime.fromtimestamp(server_s - self.server_utc_offset_s, UTC)

    def _submit(self, params: OrderParams) -> str:
        request, notes, context = self._prepare(params)
        if self.guard is not None:
            refusal = self.guard(request)
            if refusal is not None:
                return self._guarded(params, request, refusal, notes, context)
        check = self._call("order_check", request)
        if check.retcode != 0:
            return self._refused(params, request, check.retcode, check.comment, notes, context)
        intent = Intent(self.client_ids.next(), request, params)
        request["comment"] = tag(str(request.get("comment", "")), intent.client_id)
        if self.before_send is not None:
            self.before_send(intent)
        attempts = 0
        while True:
            attempts += 1
            result = self._send_once(intent, notes, since_s=context["time"])
            if result is None:
                return self._refused(
                    params,
                    request,
                    mt5.TRADE_RETCODE_CONNECTION,
                    f"no reply and the terminal cannot be asked: request {intent.client_id} is "
                    "kept and resolved by its id once the link is back; nothing is sent again",
                    notes,
                    context,
                )
            retcode = int(result.retcode)
            if retcode in RETRY_RETCODES and attempts <= self.max_retries:
                log.info(
                    "retcode %s (%s): retrying with a fresh quote",
                    retcode,
                    retcode_meaning(retcode),
                )
                fresh, _, context = self._prepare(params)
                request.update({k: v for k, v in fresh.items() if k != "comment"})
                continue
            break
        if retcode not in SUCCESS_RETCODES:
            return self._refused(params, request, retcode, str(result.comment), notes, context)
        return self._report_success(params, request, result, notes, context)

    def _send_once(self, intent: Intent, notes: tuple[str, ...], *, since_s: int) -> Any:
        """``order_send`` under the exactly-once rules of the module docstring.

        Returns the reply (real, or rebuilt from the terminal's records), or None when the fate of
        the request is unknown (it is then kept for ``poll()`` to resolve)."""
        request = intent.request
        for _ in range(2):
            result = self.terminal.order_send(request)
            if result is not None:
                return result
            code, message = self.terminal.last_error()
            log.warning("order_send of %s got no reply: (%s, %r)", intent.client_id, code, message)
            if code in NOT_SENT_CODES:
                raise TerminalError("order_send", code, message)
            if code in LINK_CODES or code == mt5.RES_E_FAIL:
                self.reconnect()
            try:
                found = self._find_sent(request, intent.client_id, since_s=since_s)
            except TerminalError:
                self._unresolved[intent.client_id] = _Unresolved(intent, notes, since_s)
                return None
            if found is not None:
                self._incident(
                    f"request {intent.client_id}: the reply was lost, the terminal shows it done "
                    f"(order {found.order}); not sent again"
                )
                return found
            self._incident(
                f"request {intent.client_id}: the reply was lost and the terminal holds no order "
                "with its id: the server did not get it"
            )
        return _Reply(
            retcode=mt5.TRADE_RETCODE_CONNECTION,
            order=0,
            deal=0,
            volume=0.0,
            price=0.0,
            comment=f"request {intent.client_id} did not reach the trade server (sent twice, "
            "found by its id neither time): not placed",
        )

    def _find_sent(self, request: Mapping[str, Any], client_id: str, *, since_s: int) -> Any:
        """The order the server made of the request with ``client_id``, rebuilt as a reply; None
        when the terminal provably holds none. Raises ``TerminalError`` when it cannot be asked."""
        if request["action"] in _CHANGE_ACTIONS:
            return self._find_applied(request)
        order = self.find_order(client_id, symbol=str(request["symbol"]), since_s=since_s)
        if order is None:
            return None
        deals = self._call("history_deals_get", ticket=order["ticket"])
        deal = deals[0]._asdict() if deals else {}
        filled = order["state"] == mt5.ORDER_STATE_FILLED
        return _Reply(
            retcode=mt5.TRADE_RETCODE_DONE,
            order=order["ticket"],
            deal=deal.get("ticket", 0),
            volume=deal.get("volume", order["volume_initial"]),
            price=deal.get("price", order["price_open"]),
            comment="Request executed (reply lost, found in the terminal by its id)"
            if filled
            else "Order placed (reply lost, found in the terminal by its id)",
        )

    def find_order(self, client_id: str, *, symbol: str, since_s: int) -> dict[str, Any] | None:
        """The terminal's order (active, or in the history since ``since_s`` server time) whose
        comment carries ``client_id``; None when there is none. Raises when it cannot be asked."""
        candidates = list(self._call("orders_get", symbol=symbol))
        candidates += list(
            self._call("history_orders_get", since_s - 86_400, since_s + 30 * 86_400)
        )
        for candidate in candidates:
            order = candidate._asdict()
            if client_id_of(order.get("comment")) == client_id and order["symbol"] == symbol:
                return dict(order)
        return None

    def _find_applied(self, request: Mapping[str, Any]) -> Any:
        """SLTP, MODIFY and REMOVE create no order: see whether the terminal shows the change made.

        Re-sending a change that was applied gets 10025 (no changes) or 10013 (order gone), which
        would report as refused a change that the trade server made.
        """
        action = request["action"]
        ticket = int(request.get("position" if action == mt5.TRADE_ACTION_SLTP else "order", 0))
        if action == mt5.TRADE_ACTION_REMOVE:
            history = list(self._call("history_orders_get", ticket=ticket))
            applied = bool(history) and history[0].state == mt5.ORDER_STATE_CANCELED
        else:
            sltp = action == mt5.TRADE_ACTION_SLTP
            found = self._call("positions_get" if sltp else "orders_get", ticket=ticket)
            record = found[0]._asdict() if found else None
            fields = {"sl": "sl", "tp": "tp"}
            if not sltp:
                fields.update(price="price_open", stoplimit="price_stoplimit")
            applied = record is not None and all(
                abs(float(record[field]) - float(request.get(key, 0.0))) < 1e-9
                for key, field in fields.items()
            )
            if applied and not sltp and record is not None:
                applied = record["type_time"] == request.get("type_time", 0) and _expiry_matches(
                    record, request
                )
        if not applied:
            return None
        return _Reply(
            retcode=mt5.TRADE_RETCODE_DONE,
            order=ticket,
            deal=0,
            volume=0.0,
            price=0.0,
            comment="Request executed (reply lost, change found in the terminal)",
        )

    def _refused(
        self,
        params: OrderParams,
        request: Mapping[str, Any],
        retcode: int,
        comment: str,
        notes: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> str:
        moment = self._utc(int(context["time"]))
        self._emit(
            "status", rejected(params, request, retcode, comment, time=moment, warnings=notes)
        )
        return failure_message(retcode, retcode_meaning(retcode), comment)

    def _guarded(
        self,
        params: OrderParams,
        request: Mapping[str, Any],
        refusal: Any,
        notes: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> str:
        """A guard refused the request: a rejected status naming the guard and its figures."""
        comment = f"guard {refusal.guard}: {refusal.message}"
        event = rejected(
            params,
            request,
            0,
            comment,
            time=self._utc(int(context["time"])),
            warnings=notes,
        )
        self._emit("status", event)
        return f"refused by guard {refusal.guard}: {refusal.message}"

    def _report_success(
        self,
        params: OrderParams,
        request: dict[str, Any],
        result: Any,
        notes: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> str:
        action = request["action"]
        retcode = int(result.retcode)
        if action in (mt5.TRADE_ACTION_SLTP, mt5.TRADE_ACTION_MODIFY):
            self._emit(
                "status",
                modified(
                    params,
                    request,
                    context.get("target"),
                    retcode,
                    str(result.comment),
                    time=self._utc(int(context["time"])),
                    warnings=notes,
                ),
            )
            return str(request.get("position") or request.get("order"))
        ticket = int(result.order)
        self._tracked.known_orders.add(ticket)
        if action == mt5.TRADE_ACTION_REMOVE:
            self._tracked.pending.pop(ticket, None)
            self._report_history_order(ticket, notes)
            return str(ticket)
        if action == mt5.TRADE_ACTION_PENDING:
            found = self._call("orders_get", ticket=ticket)
            order = found[0]._asdict() if found else None
            if order is None:  # filled at once, or gone: history tells
                self._report_history_order(ticket, notes)
                return str(ticket)
            self._tracked.pending[ticket] = order
            self._emit(
                "status",
                self._event(
                    order,
                    OrderState.PLACED,
                    retcode,
                    str(result.comment),
                    order["time_setup_msc"] / 1000,
                    warnings=notes,
                ),
            )
            return str(ticket)
        # DEAL or CLOSE_BY: placed, then the deals.
        try:
            history = self._call("history_orders_get", ticket=ticket)
        except TerminalError as error:
            # The server executed it (DONE): the fill is reported by poll() once the link is back.
            self._tracked.pending[ticket] = {"ticket": ticket, "type": request["type"]}
            self._incident(f"order {ticket} done, but its record cannot be read yet ({error})")
            return str(ticket)
        order = history[0]._asdict() if history else None
        if order is None:
            raise TerminalError("history_orders_get", -4, f"order {ticket} not found in history")
        # At placement the order has touched no position yet, except the one it targets.
        placed = {**order, "position_id": request.get("position", 0)}
        self._emit(
            "status",
            self._event(
                placed,
                OrderState.PLACED,
                mt5.TRADE_RETCODE_PLACED,
                "Order placed",
                order["time_setup_msc"] / 1000,
                warnings=notes,
            ),
        )
        state = (
            OrderState.PARTIALLY_FILLED
            if retcode == mt5.TRADE_RETCODE_DONE_PARTIAL
            else OrderState.FILLED
        )
        self._report_deals(order, state, retcode, str(result.comment))
        return str(ticket)

    def _report_history_order(self, ticket: int, notes: tuple[str, ...]) -> None:
        history = self._call("history_orders_get", ticket=ticket)
        if not history:
            return
        order = history[0]._asdict()
        state = _STATE_BY_ORDER_STATE.get(order["state"], OrderState.CANCELLED)
        if state == OrderState.FILLED:
            self._report_deals(order, state, mt5.TRADE_RETCODE_DONE, "Order triggered and filled")
            return
        reason = {OrderState.CANCELLED: "trader", OrderState.EXPIRED: "expiration"}.get(state)
        retcode = (
            mt5.TRADE_RETCODE_DONE
            if state == OrderState.CANCELLED
            else (mt5.TRADE_RETCODE_REJECT_CANCEL if state == OrderState.REJECTED else 0)
        )
        comment = {
            OrderState.CANCELLED: "Order cancelled by trader",
            OrderState.EXPIRED: "Order expired",
        }.get(state, "Order rejected")
        self._emit(
            "status",
            self._event(
                order,
                state,
                retcode,
                comment,
                order["time_done_msc"] / 1000,
                warnings=notes,
                reason=reason,
            ),
        )

    def _report_deals(
        self, order: dict[str, Any], state: OrderState, retcode: int, comment: str
    ) -> None:
        deals = self._call("history_deals_get", ticket=order["ticket"])
        for raw in deals:
            deal = raw._asdict()
            if deal["ticket"] in self._tracked.reported_deals:
                continue
            self._tracked.reported_deals.add(deal["ticket"])
            if deal["entry"] in (mt5.DEAL_ENTRY_IN, mt5.DEAL_ENTRY_INOUT):
                self._tracked.positions.add(deal["position_id"])
            payload = self._event(
                order, state, retcode, comment, deal["time_msc"] / 1000, deal=deal
            )
            self._emit("status", payload)
            self._emit("execution", payload)

    # ---- polling -----------------------------------------------------------------------------
    def poll(self) -> None:
        """Report what happened since the last look: fills, expiries, SL/TP and stop-out closes,
        and the fate of requests the link left unknown.

        Events found in one look are reported in the order they happened on the server. A link
        that is down is reconnected; if it stays down nothing is forgotten: the next poll looks
        again.
        """
        self._buffer = []
        try:
            self._resolve_unknown()
            self._poll()
        except TerminalError as error:
            log.warning(
                "poll: the terminal cannot be read now (%s); looking again next poll", error
            )
        finally:
            found, self._buffer = self._buffer, None
            for kind, payload in sorted(found, key=lambda item: item[1].time):
                self._emit(kind, payload)

    @property
    def unresolved(self) -> tuple[str, ...]:
        """Client ids of requests whose fate the terminal could not tell yet."""
        return tuple(self._unresolved)

    def _resolve_unknown(self) -> None:
        for client_id, waiting in list(self._unresolved.items()):
            request = waiting.intent.request
            found = self._find_sent(request, client_id, since_s=waiting.since_s)
            del self._unresolved[client_id]
            if found is None:
                self._incident(
                    f"request {client_id}: the terminal holds no order with its id: "
                    "it never reached the server (not placed, not sent again)"
                )
                continue
            self._incident(f"request {client_id}: found in the terminal as order {found.order}")
            if request["action"] not in _CHANGE_ACTIONS:
                self.track(int(found.order), request)

    def track(self, ticket: int, request: Mapping[str, Any]) -> None:
        """Follow an order placed earlier (adopted by id after a lost reply or a restart): its
        fills, closes and expiry are reported by ``poll()`` from now on."""
        self._tracked.known_orders.add(ticket)
        self._tracked.pending[ticket] = {"ticket": ticket, "type": int(request.get("type", -1))}

    def adopt_position(self, position_id: int) -> None:
        """Follow an open position (adopted after a restart): its closes are reported by poll."""
        self._tracked.positions.add(position_id)

    def mark_reported(self, deal_tickets: Sequence[int]) -> None:
        """Deals already journaled (before a restart): never reported twice."""
        self._tracked.reported_deals.update(int(t) for t in deal_tickets)

    def _poll(self) -> None:
        tracked = self._tracked
        for ticket, seen in list(tracked.pending.items()):
            active = self._call("orders_get", ticket=ticket)
            if active:
                order = active[0]._asdict()
                if order["type"] != seen["type"]:  # a stop-limit's stop triggered (or adopted)
                    tracked.pending[ticket] = order
                    if seen.get("symbol") is not None:
                        self._emit(
                            "status",
                            self._event(
                                order,
                                OrderState.PLACED,
                                mt5.TRADE_RETCODE_PLACED,
                                f"Stop triggered: limit order placed at {order['price_open']}",
                                self._server_time(order["symbol"], order["time_setup"]),
                            ),
                        )
                continue
            self._report_history_order(ticket, ())
            del tracked.pending[ticket]
        for position_id in list(tracked.positions):
            deals = self._call("history_deals_get", position=position_id)
            for raw in deals:
                deal = raw._asdict()
                if deal["ticket"] in tracked.reported_deals:
                    continue
                history = self._call("history_orders_get", ticket=deal["order"])
                if not history:
                    continue
                order = history[0]._asdict()
                tracked.known_orders.add(order["ticket"])
                comment = order["comment"] or "Position closed by the trade server"
                self._report_deals(order, OrderState.FILLED, 0, comment)
            if not self._call("positions_get", ticket=position_id):
                still_open = any(p.identifier == position_id for p in self._call("positions_get"))
                if not still_open:
                    tracked.positions.discard(position_id)

    def _incident(self, text: str) -> None:
        log.warning("%s", text)
        if self.on_incident is not None:
            self.on_incident(text)

    # ---- events ------------------------------------------------------------------------------
    def _event(
        self,
        order: Mapping[str, Any],
        state: OrderState,
        retcode: int,
        comment: str,
        time_s: float,
        *,
        deal: Mapping[str, Any] | None = None,
        warnings: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> Any:
        return order_event(
            order,
            state,
            retcode=retcode,
            comment=comment,
            time_s=time_s,
            server_utc_offset_s=self.server_utc_offset_s,
            deal=deal,
            warnings=warnings,
            reason=reason,
        )

    def _emit(self, kind: Any, payload: Any) -> None:
        if self._buffer is not None:
            self._buffer.append((kind, payload))
        elif self._notify is not None:
            self._notify(kind, payload)

    def _server_time(self, symbol: str, fallback: int) -> int:
        """The server's clock (last tick time): MT5 does not record when a stop-limit triggered."""
        tick = self.terminal.symbol_info_tick(symbol)
        return int(tick.time) if tick is not None else fallback


def _expiry_matches(order: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    """Whether a pending order shows the expiry a MODIFY asked for (MT5's day-end rule included)."""
    asked = int(request.get("expiration", 0))
    if request.get("type_time") == mt5.ORDER_TIME_SPECIFIED:
        return bool(order["time_expiration"] == asked)
    if request.get("type_time") == mt5.ORDER_TIME_SPECIFIED_DAY:
        return bool(order["time_expiration"] == (asked // 86_400 + 1) * 86_400 - 1)
    return True


@dataclass
class _Reply:
    """A reply rebuilt from the terminal's records after the real one was lost."""

    retcode: int
    order: int
    deal: int
    volume: float
    price: float
    comment: str
