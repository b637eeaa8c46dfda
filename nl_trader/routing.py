"""What both routes share: the callback sink and the events of requests that made no order record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from nl_trader import mt5
from nl_trader.events import OrderEvent, OrderState, request_event
from nl_trader.orders import OrderParams

EventKind = Literal["status", "execution"]
Notify = Callable[[EventKind, OrderEvent], None]


def rejected(
    params: OrderParams,
    request: Mapping[str, Any],
    retcode: int,
    comment: str,
    *,
    time: datetime | None,
    warnings: tuple[str, ...],
) -> OrderEvent:
    """The status of a request the trade server (or the simulator) refused."""
    return request_event(
        OrderState.REJECTED,
        order_id="0",
        symbol=params.symbol,
        order_type=params.order_type,
        volume=float(request.get("volume", params.volume or 0.0)),
        price=request.get("price", params.price),
        sl=request.get("sl"),
        tp=request.get("tp"),
        magic=params.magic,
        retcode=retcode,
        comment=comment,
        time=time,
        warnings=warnings,
    )


def modified(
    params: OrderParams,
    request: Mapping[str, Any],
    target: Mapping[str, Any] | None,
    retcode: int,
    comment: str,
    *,
    time: datetime | None,
    warnings: tuple[str, ...],
) -> OrderEvent:
    """The status after SL/TP of a position (SLTP) or a pending order (MODIFY) changed."""
    action = request["action"]
    ticket = request.get("position") if action == mt5.TRADE_ACTION_SLTP else request.get("order")
    volume = 0.0
    if target is not None:
        volume = float(target.get("volume", target.get("volume_current", 0.0)))
    return request_event(
        OrderState.MODIFIED,
        order_id=str(ticket),
        symbol=str(request.get("symbol", params.symbol)),
        order_type="modify",
        volume=volume,
        price=request.get("price"),
        sl=request.get("sl"),
        tp=request.get("tp"),
        magic=params.magic,
        retcode=retcode,
        comment=comment,
        time=time,
        warnings=warnings,
    )


def failure_message(retcode: int, meaning: str, comment: str) -> str:
    """The string send_order returns when the request was refused."""
    return f"rejected: retcode {retcode} ({meaning}): {comment}"
