"""The MT5 executor: sends ``OrderParams`` to a terminal and reports back, safe under faults.

For every order it: finds the symbol (selecting it into Market Watch if needed), prepares the request
for that symbol (volume on the symbol's step, a filling mode it supports, prices on its digits, the
quote as a market order's price), runs ``order_check``, then ``order_send``, and turns every retcode
into a status callback with its meaning. MT5 pushes nothing: fills of pending orders, SL/TP closes
and expiries are found by ``poll()``, which reads the terminal's orders and history.

Faults. ``order_send`` returns ``None`` when the request did not get a reply. Before anything is sent
again the executor decides whether the server got it:
    * not sent (no IPC connection, request refused by the Python layer, API trading disabled): the
      terminal is re-initialised once and the request sent once more, or the error is reported;
    * unknown (IPC timeout, receive failed): the executor looks for an order it does not know yet
      with the request's symbol, type, volume, magic and comment placed since just before the send.
      Found: that order is adopted, nothing is re-sent (no duplicate). Not found: it is sent once
      more (no lost order).
Requotes and moved prices (10004, 10020, 10021) are retried with a fresh quote, up to
``max_retries`` times.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from nl_trader.live.terminal import TerminalPort
from nl_trader.orders import OrderParams, prepare_request
from nl_trader.routing import Notify, failure_message, modified, rejected

log = logging.getLogger(__name__)

NOT_SENT_CODES = frozenset(
    {
        mt5.RES_E_INTERNAL_FAIL_CONNECT,
        mt5.RES_E_INTERNAL_FAIL_SEND,
        mt5.RES_E_INVALID_PARAMS,
        mt5.RES_E_AUTO_TRADING_DISABLED,
        mt5.RES_E_INTERNAL_FAIL_INIT,
    }
)
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


class MT5Executor:
    """Trades on an MT5 terminal (real, bridged or fake) through the terminal port."""

    def __init__(
        self, terminal: TerminalPort, *, server_utc_offset_s: int = 0, max_retries: int = 3
    ) -> None:
        self.terminal = terminal
        self.server_utc_offset_s = server_utc_offset_s
        self.max_retries = max_retries
        self.connected = False
        self.account: dict[str, Any] = {}
        self._notify: Notify | None = None
        self._tracked = _Tracked()
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
        if credentials is not None and credentials.login_number is not None:
            ok = terminal.login(
                credentials.login_number,
                password=credentials.password.get_secret_value(),
                server=credentials.server,
            )
            if not ok:
                code, message = terminal.last_error()
                raise LoginError(
                    f"login to account {credentials.login_number} on {credentials.server} failed: "
                    f"({code}, {message!r})"
                )
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
        self.connected = True
        terminal_info = terminal.terminal_info()
        if terminal_info is not None and not terminal_info._asdict().get("trade_allowed", True):
            log.warning("the terminal's Algo Trading button is off: orders will be refused (10027)")
        return self.account

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
        result = getattr(self.terminal, name)(*args, **kwargs)
        if result is None:
            code, message = self.terminal.last_error()
            raise TerminalError(name, code, message)
        return result

    def _symbol(self, symbol: str) -> tuple[dict[str, Any], Any]:
        info = self.terminal.symbol_info(symbol)
        if info is None or not info._asdict().get("select", True):
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

    def _submit(self, params: OrderParams) -> str:
        request, notes, context = self._prepare(params)
        check = self._call("order_check", request)
        if check.retcode != 0:
            return self._refused(params, request, check.retcode, check.comment, notes)
        attempts = 0
        while True:
            attempts += 1
            result = self._send_once(request, since_s=context["time"])
            if result is None:
                return self._refused(
                    params,
                    request,
                    mt5.TRADE_RETCODE_CONNECTION,
                    "no reply from the terminal and no matching order found in it; "
                    "check the terminal before sending again",
                    notes,
                )
            retcode = int(result.retcode)
            if retcode in RETRY_RETCODES and attempts <= self.max_retries:
                log.info(
                    "retcode %s (%s): retrying with a fresh quote",
                    retcode,
                    retcode_meaning(retcode),
                )
                request, _, context = self._prepare(params)
                continue
            break
        if retcode not in SUCCESS_RETCODES:
            return self._refused(params, request, retcode, str(result.comment), notes)
        return self._report_success(params, request, result, notes, context)

    def _send_once(self, request: dict[str, Any], *, since_s: int) -> Any:
        """``order_send`` with the fault rules of the module docstring; None if surely not placed."""
        for _ in range(2):
            result = self.terminal.order_send(request)
            if result is not None:
                return result
            code, message = self.terminal.last_error()
            log.warning("order_send got no reply: (%s, %r)", code, message)
            if code in NOT_SENT_CODES:
                if code in (mt5.RES_E_INVALID_PARAMS, mt5.RES_E_AUTO_TRADING_DISABLED):
                    raise TerminalError("order_send", code, message)
                self.terminal.initialize()  # reconnect, then send once more
                continue
            adopted = self._find_unacknowledged(request, since_s=since_s)
            if adopted is not None:
                log.warning(
                    "the request's reply was lost but the terminal shows it done (order %s); "
                    "not re-sending",
                    adopted.order,
                )
                return adopted
        return None

    def _find_unacknowledged(self, request: Mapping[str, Any], *, since_s: int) -> Any:
        """Find an order matching ``request`` placed since ``since_s`` that we do not know yet."""
        if request["action"] in _CHANGE_ACTIONS:
            return self._find_applied(request)
        known = self._tracked.known_orders
        candidates = list(self.terminal.orders_get(symbol=request["symbol"]) or ())
        history = self.terminal.history_orders_get(since_s - 60, since_s + 7 * 86_400)
        candidates += [o for o in history or () if o.symbol == request["symbol"]]
        for candidate in candidates:
            order = candidate._asdict()
            if order["ticket"] in known or order["time_setup"] < since_s - 60:
                continue
            same = (
                order["magic"] == request.get("magic", 0)
                and order["type"] == request.get("type", 0)
                and (
                    # A close-by request carries no volume: the server takes the smaller position's.
                    order["position_by_id"] == request.get("position_by", 0)
                    if request["action"] == mt5.TRADE_ACTION_CLOSE_BY
                    else abs(order["volume_initial"] - request.get("volume", 0.0)) < 1e-9
                )
                and order["comment"] == request.get("comment", "")
            )
            if same:
                deals = self.terminal.history_deals_get(ticket=order["ticket"]) or ()
                deal = deals[0]._asdict() if deals else {}
                filled = order["state"] == mt5.ORDER_STATE_FILLED
                return _Reply(
                    retcode=mt5.TRADE_RETCODE_DONE,
                    order=order["ticket"],
                    deal=deal.get("ticket", 0),
                    volume=deal.get("volume", order["volume_initial"]),
                    price=deal.get("price", order["price_open"]),
                    comment="Request executed (reply lost, found in the terminal)"
                    if filled
                    else "Order placed (reply lost, found in the terminal)",
                )
        return None

    def _find_applied(self, request: Mapping[str, Any]) -> Any:
        """SLTP, MODIFY and REMOVE create no order: see whether the terminal shows the change made.

        Re-sending a change that was applied gets 10025 (no changes) or 10013 (order gone), which
        would report as refused a change that the trade server made.
        """
        action = request["action"]
        ticket = int(request.get("position" if action == mt5.TRADE_ACTION_SLTP else "order", 0))
        if action == mt5.TRADE_ACTION_REMOVE:
            history = list(self.terminal.history_orders_get(ticket=ticket) or ())
            applied = bool(history) and history[0].state == mt5.ORDER_STATE_CANCELED
        else:
            sltp = action == mt5.TRADE_ACTION_SLTP
            found = (self.terminal.positions_get if sltp else self.terminal.orders_get)(
                ticket=ticket
            )
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
    ) -> str:
        self._emit("status", rejected(params, request, retcode, comment, time=None, warnings=notes))
        return failure_message(retcode, retcode_meaning(retcode), comment)

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
                    time=None,
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
            found = self.terminal.orders_get(ticket=ticket) or ()
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
        history = self.terminal.history_orders_get(ticket=ticket) or ()
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
        history = self.terminal.history_orders_get(ticket=ticket) or ()
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
        deals = self.terminal.history_deals_get(ticket=order["ticket"]) or ()
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
        """Report what happened since the last look: fills, expiries, SL/TP and stop-out closes.

        Events found in one look are reported in the order they happened on the server.
        """
        self._buffer = []
        try:
            self._poll()
        finally:
            found, self._buffer = self._buffer, None
            for kind, payload in sorted(found, key=lambda item: item[1].time):
                self._emit(kind, payload)

    def _poll(self) -> None:
        tracked = self._tracked
        for ticket, seen in list(tracked.pending.items()):
            active = self.terminal.orders_get(ticket=ticket) or ()
            if active:
                order = active[0]._asdict()
                if order["type"] != seen["type"]:  # a stop-limit's stop triggered
                    tracked.pending[ticket] = order
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
            del tracked.pending[ticket]
            self._report_history_order(ticket, ())
        for position_id in list(tracked.positions):
            deals = self.terminal.history_deals_get(position=position_id) or ()
            for raw in deals:
                deal = raw._asdict()
                if deal["ticket"] in tracked.reported_deals:
                    continue
                history = self.terminal.history_orders_get(ticket=deal["order"]) or ()
                if not history:
                    continue
                order = history[0]._asdict()
                tracked.known_orders.add(order["ticket"])
                comment = order["comment"] or "Position closed by the trade server"
                self._report_deals(order, OrderState.FILLED, 0, comment)
            if not self.terminal.positions_get(ticket=position_id):
                still_open = any(
                    p.identifier == position_id for p in self.terminal.positions_get() or ()
                )
                if not still_open:
                    tracked.positions.discard(position_id)

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
