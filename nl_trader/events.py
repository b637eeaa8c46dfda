"""The two callback payloads: order status and execution, one schema in both routes.

``receive_order_status(order_id, status_data)`` and ``receive_order_execution(order_id,
execution_data)`` both receive ``OrderEvent.to_payload()``: a plain dict with the keys below, the
same keys in the simulated route and the MT5 route, so a client's code never branches on the mode.

Keys:
    order_id         the order ticket as a string (MT5 ``order``); for SL/TP/stop-out closes, the
                     ticket of the closing order the trade server created
    symbol           instrument as sent (``"EURUSD.sml"``)
    type             order type in the seed's words: ``buy``, ``sell_limit``, ``close_by``, ...
    volume           requested volume in lots
    price            order price (pending) or the quote the market order was sent at; None if unknown
    sl, tp           stop-loss / take-profit price, None when not set
    state            placed | filled | partially_filled | cancelled | rejected | expired |
                     modified (SL/TP of a position or a pending order changed)
    deal_id          deal ticket for a fill, else None
    fill_price       price of the deal, else None
    fill_volume      lots filled by the deal, else None
    commission       commission of the deal in account currency (negative is a cost), else None
    swap             swap realised by the deal in account currency, else None
    profit           profit realised by the deal in account currency (closing deals), else None
    position_id      ticket of the position the order opened or changed, else None
    entry            in | out | inout | out_by for deals, else None
    reason           client | expert | sl | tp | stop_out | expiration | trader
    magic            expert id of the order
    time             when it happened, timezone-aware UTC
    retcode          MT5 trade return code (10009 done, 10016 invalid stops, ...); 0 for events the
                     trade server raised on its own (an expiry, an SL/TP close)
    retcode_meaning  the meaning of ``retcode`` in words
    comment          the trade server's or simulator's comment
    warnings         notes about what was normalised (a filling mode substituted, an ignored field)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from nl_trader import mt5


class OrderState(StrEnum):
    PLACED = "placed"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    MODIFIED = "modified"


RETCODE_MEANINGS: dict[int, str] = {
    0: "No request: raised by the trade server",
    mt5.TRADE_RETCODE_REQUOTE: "Requote",
    mt5.TRADE_RETCODE_REJECT: "Request rejected",
    mt5.TRADE_RETCODE_CANCEL: "Request canceled by trader",
    mt5.TRADE_RETCODE_PLACED: "Order placed",
    mt5.TRADE_RETCODE_DONE: "Request completed",
    mt5.TRADE_RETCODE_DONE_PARTIAL: "Only part of the request was completed",
    mt5.TRADE_RETCODE_ERROR: "Request processing error",
    mt5.TRADE_RETCODE_TIMEOUT: "Request canceled by timeout",
    mt5.TRADE_RETCODE_INVALID: "Invalid request",
    mt5.TRADE_RETCODE_INVALID_VOLUME: "Invalid volume in the request",
    mt5.TRADE_RETCODE_INVALID_PRICE: "Invalid price in the request",
    mt5.TRADE_RETCODE_INVALID_STOPS: "Invalid stops in the request",
    mt5.TRADE_RETCODE_TRADE_DISABLED: "Trade is disabled",
    mt5.TRADE_RETCODE_MARKET_CLOSED: "Market is closed",
    mt5.TRADE_RETCODE_NO_MONEY: "There is not enough money to complete the request",
    mt5.TRADE_RETCODE_PRICE_CHANGED: "Prices changed",
    mt5.TRADE_RETCODE_PRICE_OFF: "There are no quotes to process the request",
    mt5.TRADE_RETCODE_INVALID_EXPIRATION: "Invalid order expiration date in the request",
    mt5.TRADE_RETCODE_ORDER_CHANGED: "Order state changed",
    mt5.TRADE_RETCODE_TOO_MANY_REQUESTS: "Too frequent requests",
    mt5.TRADE_RETCODE_NO_CHANGES: "No changes in request",
    mt5.TRADE_RETCODE_SERVER_DISABLES_AT: "Autotrading disabled by server",
    mt5.TRADE_RETCODE_CLIENT_DISABLES_AT: "Autotrading disabled by client terminal",
    mt5.TRADE_RETCODE_LOCKED: "Request locked for processing",
    mt5.TRADE_RETCODE_FROZEN: "Order or position frozen",
    mt5.TRADE_RETCODE_INVALID_FILL: "Invalid order filling type",
    mt5.TRADE_RETCODE_CONNECTION: "No connection with the trade server",
    mt5.TRADE_RETCODE_ONLY_REAL: "Operation is allowed only for live accounts",
    mt5.TRADE_RETCODE_LIMIT_ORDERS: "The number of pending orders has reached the limit",
    mt5.TRADE_RETCODE_LIMIT_VOLUME: "The volume of orders and positions for the symbol has reached the limit",
    mt5.TRADE_RETCODE_INVALID_ORDER: "Incorrect or prohibited order type",
    mt5.TRADE_RETCODE_POSITION_CLOSED: "Position with the specified identifier has already been closed",
    mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME: "A close volume exceeds the current position volume",
    mt5.TRADE_RETCODE_CLOSE_ORDER_EXIST: "A close order already exists for a specified position",
    mt5.TRADE_RETCODE_LIMIT_POSITIONS: "The number of open positions has reached the limit",
    mt5.TRADE_RETCODE_REJECT_CANCEL: "The pending order activation request is rejected, the order is canceled",
    mt5.TRADE_RETCODE_LONG_ONLY: "Only long positions are allowed",
    mt5.TRADE_RETCODE_SHORT_ONLY: "Only short positions are allowed",
    mt5.TRADE_RETCODE_CLOSE_ONLY: "Only position closing is allowed",
    mt5.TRADE_RETCODE_FIFO_CLOSE: "Position closing is allowed only by FIFO rule",
}
# Codes that are not trade-server retcodes: failures before the request reached a server.
REQUEST_NOT_SENT = -1
RETCODE_MEANINGS[REQUEST_NOT_SENT] = "Request not sent: rejected before reaching the trade server"

SUCCESS_RETCODES = frozenset(
    {mt5.TRADE_RETCODE_PLACED, mt5.TRADE_RETCODE_DONE, mt5.TRADE_RETCODE_DONE_PARTIAL}
)


def retcode_meaning(retcode: int) -> str:
    """Return the meaning of an MT5 trade return code in words."""
    return RETCODE_MEANINGS.get(retcode, f"Unknown return code {retcode}")


ORDER_TYPE_NAMES: dict[int, str] = {
    mt5.ORDER_TYPE_BUY: "buy",
    mt5.ORDER_TYPE_SELL: "sell",
    mt5.ORDER_TYPE_BUY_LIMIT: "buy_limit",
    mt5.ORDER_TYPE_SELL_LIMIT: "sell_limit",
    mt5.ORDER_TYPE_BUY_STOP: "buy_stop",
    mt5.ORDER_TYPE_SELL_STOP: "sell_stop",
    mt5.ORDER_TYPE_BUY_STOP_LIMIT: "buy_stop_limit",
    mt5.ORDER_TYPE_SELL_STOP_LIMIT: "sell_stop_limit",
    mt5.ORDER_TYPE_CLOSE_BY: "close_by",
}
ORDER_TYPE_CODES: dict[str, int] = {name: code for code, name in ORDER_TYPE_NAMES.items()}

_ENTRY_NAMES = {
    mt5.DEAL_ENTRY_IN: "in",
    mt5.DEAL_ENTRY_OUT: "out",
    mt5.DEAL_ENTRY_INOUT: "inout",
    mt5.DEAL_ENTRY_OUT_BY: "out_by",
}
_ORDER_REASON_NAMES = {
    mt5.ORDER_REASON_CLIENT: "client",
    mt5.ORDER_REASON_MOBILE: "client",
    mt5.ORDER_REASON_WEB: "client",
    mt5.ORDER_REASON_EXPERT: "expert",
    mt5.ORDER_REASON_SL: "sl",
    mt5.ORDER_REASON_TP: "tp",
    mt5.ORDER_REASON_SO: "stop_out",
}


class OrderEvent(BaseModel):
    """One order-status or execution report. See the module docstring for each key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    symbol: str
    type: str
    volume: float
    price: float | None
    sl: float | None
    tp: float | None
    state: OrderState
    deal_id: str | None = None
    fill_price: float | None = None
    fill_volume: float | None = None
    commission: float | None = None
    swap: float | None = None
    profit: float | None = None
    position_id: str | None = None
    entry: str | None = None
    reason: str
    magic: int
    time: datetime
    retcode: int
    retcode_meaning: str
    comment: str
    warnings: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """Return the dict handed to the client callbacks."""
        payload = self.model_dump()
        payload["state"] = self.state.value
        payload["warnings"] = list(self.warnings)
        return payload


def epoch_to_utc(seconds: int | float, server_utc_offset_s: int = 0) -> datetime:
    """Convert an MT5 server-time epoch (server wall clock encoded as UTC) to aware UTC."""
    return datetime.fromtimestamp(float(seconds) - server_utc_offset_s, tz=UTC)


def _level(value: Any) -> float | None:
    return float(value) if value else None


def _ticket(value: Any) -> str | None:
    return str(int(value)) if value else None


def order_event(
    order: Mapping[str, Any],
    state: OrderState,
    *,
    retcode: int,
    comment: str,
    time_s: float,
    server_utc_offset_s: int = 0,
    deal: Mapping[str, Any] | None = None,
    warnings: tuple[str, ...] = (),
    reason: str | None = None,
) -> OrderEvent:
    """Build a payload from MT5-shaped records (``TradeOrder._asdict()``, ``TradeDeal._asdict()``).

    Both routes call this with dicts of the same shape (the simulator's records carry the MT5 field
    names), which is what keeps the two routes' payloads identical.
    """
    order_reason = _ORDER_REASON_NAMES.get(int(order.get("reason", 0)), "client")
    price = order.get("price_open") or None
    position_id = order.get("position_id") or None
    fields: dict[str, Any] = {}
    if deal is not None:
        fields = {
            "deal_id": _ticket(deal["ticket"]),
            "fill_price": float(deal["price"]),
            "fill_volume": float(deal["volume"]),
            "commission": float(deal["commission"]),
            "swap": float(deal["swap"]),
            "profit": float(deal["profit"]),
            "entry": _ENTRY_NAMES.get(int(deal["entry"])),
        }
        position_id = deal.get("position_id") or position_id
    return OrderEvent(
        order_id=str(int(order["ticket"])),
        symbol=str(order["symbol"]),
        type=ORDER_TYPE_NAMES.get(int(order["type"]), str(order["type"])),
        volume=float(order["volume_initial"]),
        price=float(price) if price else None,
        sl=_level(order.get("sl")),
        tp=_level(order.get("tp")),
        state=state,
        position_id=_ticket(position_id),
        reason=reason or order_reason,
        magic=int(order.get("magic", 0)),
        time=epoch_to_utc(time_s, server_utc_offset_s),
        retcode=retcode,
        retcode_meaning=retcode_meaning(retcode),
        comment=comment,
        warnings=warnings,
        **fields,
    )


def request_event(
    state: OrderState,
    *,
    order_id: str,
    symbol: str,
    order_type: str,
    volume: float,
    price: float | None,
    sl: float | None,
    tp: float | None,
    magic: int,
    retcode: int,
    comment: str,
    time: datetime | None = None,
    warnings: tuple[str, ...] = (),
) -> OrderEvent:
    """Build the payload of a request that created no order record: a rejection (order_id "0",
    as MT5's ``result.order`` is 0) or an SL/TP or pending-order modification."""
    return OrderEvent(
        order_id=order_id,
        symbol=symbol,
        type=order_type,
        volume=volume,
        price=price or None,
        sl=sl or None,
        tp=tp or None,
        state=state,
        reason="client",
        magic=magic,
        time=time or datetime.now(UTC),
        retcode=retcode,
        retcode_meaning=retcode_meaning(retcode),
        comment=comment,
        warnings=warnings,
    )
