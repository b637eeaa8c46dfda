"""Restart reconciliation: the journal of earlier sessions against what the terminal holds.

A session that starts after a crash (or a forced stop) on the same account and magic first reads
every earlier session's journal under that magic and the terminal's orders, positions and history:

* every request journaled as an ``intent`` is looked up by its client order id: found, the order is
  adopted (its fills and closes are reported from now on); absent, the terminal never got it (the
  process died before the request left): it is recorded as not placed, and never sent again;
* every open position and pending order under the magic must carry one of those ids: ours are
  adopted; any other one (placed by hand, by another program, or by a store that is not this
  one) stops the session before it trades, with a report listing them (fail closed);
* deals already journaled are not reported twice; deals that happened while nothing ran (a stop
  loss hit during the crash) are reported by the next poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nl_trader import mt5
from nl_trader.errors import NlTraderError
from nl_trader.live.executor import MT5Executor
from nl_trader.live.order_ids import client_id_of
from nl_trader.store import JournalEntry, LiveSessionRecord, Store


class ReconciliationError(NlTraderError):
    """The terminal holds orders or positions under the session's magic that it cannot account for."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "reconciliation stopped the session: " + "; ".join(problems) + ". Nothing was sent. "
            "Close or adopt these by hand in the terminal, then start again."
        )


@dataclass
class Reconciliation:
    """What a start found and did: ids adopted, requests never placed, what it cannot explain."""

    earlier_sessions: list[int] = field(default_factory=list)
    adopted_orders: dict[str, int] = field(default_factory=dict)
    not_placed: list[str] = field(default_factory=list)
    adopted_positions: list[int] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "earlier_sessions": self.earlier_sessions,
            "adopted_orders": self.adopted_orders,
            "not_placed": self.not_placed,
            "adopted_positions": self.adopted_positions,
            "unknown": self.unknown,
        }


def earlier_sessions(store: Store, record: LiveSessionRecord) -> list[LiveSessionRecord]:
    """The strategy's earlier sessions on the same account under the same magic."""
    return [
        other
        for other in store.sessions(record.strategy_id)
        if other.id != record.id
        and other.magic == record.magic
        and (other.account_login, other.account_server)
        == (record.account_login, record.account_server)
    ]


def reconcile(
    store: Store, record: LiveSessionRecord, executor: MT5Executor, *, symbol: str
) -> Reconciliation:
    """Reconcile the terminal with the journals of ``record``'s earlier sessions (module doc).

    Raises ``ReconciliationError`` when the terminal holds orders or positions under the magic
    that no journal accounts for."""
    found = Reconciliation()
    intents: dict[str, JournalEntry] = {}
    deals: list[int] = []
    positions: set[int] = set()
    for earlier in earlier_sessions(store, record):
        found.earlier_sessions.append(earlier.id)
        for entry in store.journal(earlier.id):
            if entry.kind == "intent":
                intents[str(entry.order_id)] = entry
            elif entry.kind == "execution":
                if entry.payload.get("deal_id"):
                    deals.append(int(entry.payload["deal_id"]))
                if entry.payload.get("entry") in ("in", "inout") and entry.payload.get(
                    "position_id"
                ):
                    positions.add(int(entry.payload["position_id"]))
    executor.mark_reported(deals)
    for client_id, entry in intents.items():
        request = entry.payload["request"]
        if request.get("action") in (mt5.TRADE_ACTION_SLTP, mt5.TRADE_ACTION_MODIFY):
            continue  # a change makes no order; the next decision sees the book as it is
        since_s = int(entry.payload.get("server_time_s", 0))
        order = executor.find_order(client_id, symbol=str(request["symbol"]), since_s=since_s)
        if order is None:
            found.not_placed.append(client_id)
            continue
        found.adopted_orders[client_id] = int(order["ticket"])
        executor.track(int(order["ticket"]), request)
    magic = record.magic
    for position in executor.terminal.positions_get(symbol=symbol) or ():
        if position.magic != magic:
            continue
        tagged = client_id_of(position.comment)
        if tagged in intents or int(position.identifier) in positions:
            positions.add(int(position.identifier))
            continue
        found.unknown.append(
            f"position {position.ticket} ({_side(position.type)} {position.volume} {position.symbol}"
            f", comment {position.comment!r}) under magic {magic} is in no journal"
        )
    for order in executor.terminal.orders_get(symbol=symbol) or ():
        if order.magic != magic:
            continue
        if client_id_of(order.comment) not in intents:
            found.unknown.append(
                f"pending order {order.ticket} ({order.volume_current} {order.symbol}, comment "
                f"{order.comment!r}) under magic {magic} is in no journal"
            )
    if found.unknown:
        raise ReconciliationError(found.unknown)
    for position_id in sorted(positions):
        executor.adopt_position(position_id)
        found.adopted_positions.append(position_id)
    return found


def _side(position_type: int) -> str:
    return "buy" if position_type == mt5.POSITION_TYPE_BUY else "sell"
