"""A paper or live session: one approved strategy version, trading through the MT5 route.

The compiled strategy decides at the close of each new bar, on the bars the terminal has
(``copy_rates_from_pos``), exactly as in a backtest; its ``send_order`` dicts go through the seed's
``MAS`` client to the MT5 executor, and every order sent, order status and execution is written to
the store's journal as it arrives. Between bars the session polls the executor (MT5 pushes
nothing) and the store's stop flag, so ``nl-trader live stop`` (or a revoked approval) from another
process ends it at the next poll, as does the expiry of its approval. It trades the spec's first
symbol, as the backtest does. On a real terminal the bar that closed before the session started is
not acted on (its signal is stale); decisions come at the close of each bar that closes while the
session runs. A stop closes the strategy's positions and cancels its orders (``flatten_on_stop``)
unless asked not to.

The journal keeps, per order: its statuses and executions as they arrive, then a ``sent`` entry
with the params and what ``send_order`` returned (the callbacks of a send fire before it returns).

Paper trading is the same session on the fake terminal (``live.paper``): the same fill engine
as the backtester, replaying the bars the backtest did not see, one bar per step.

``start_session`` is the only way in: it asks the gate (``check_can_go_live``) before it connects
and again with the account's facts (a REAL account needs its confirmation), records a refusal with
its reasons, and records the session as running only when everything holds.

Left running (issue 16):
* Bars come from a ``BarFeed`` on the trade server's clock (``ServerClock``: the offset measured
  from tick time against UTC, DST switches followed): every closed bar is decided at most once,
  the forming bar never, bars missed while asleep or disconnected are backfilled and journaled as
  skipped, and a stale feed (no ticks inside the session, market closed, symbol disabled) pauses
  the session: it decides nothing until prices are live again.
* Each strategy version trades under its own magic on the account (``control.session_magic``) and
  each request carries a client order id, journaled as an ``intent`` before ``order_send``; a start
  reconciles earlier sessions' journals with the terminal (``reconcile``), adopting what is ours
  and stopping, before any order, on what it cannot account for.
* Guards (``guards``) check every request before it is sent; a refusal is a rejected status with
  the guard's name and figures, journaled and audited.
* The kill switch (``control.kill``, the kill file) stops new orders at the next poll, cancels
  pending orders and closes positions unless told to keep them.
* The drift monitor (``drift``), when given, compares each live trade with what the backtest would
  have done on the same bars and pauses the session on an alert when asked to.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pandas as pd

from nl_trader import mt5
from nl_trader.backtest.engine import BacktestSettings
from nl_trader.client import MAS
from nl_trader.data.timezones import SourceZone, zone_from_offset
from nl_trader.errors import NlTraderError, TerminalError
from nl_trader.lifecycle import (
    AccountFacts,
    GateDecision,
    GateRefusedError,
    SessionPlan,
    check_can_go_live,
    close_session,
    open_session,
    record_refusal,
    require_actor,
    trust_problems,
)
from nl_trader.lifecycle.integrity import journal_digest
from nl_trader.live.accounts import AccountProfile
from nl_trader.live.control import kill_file_reason
from nl_trader.live.drift import DriftMonitor
from nl_trader.live.executor import Credentials, Guard, Intent
from nl_trader.live.feed import BarFeed, FeedUpdate, ServerClock
from nl_trader.live.guards import GuardLimits, GuardRefusal
from nl_trader.live.guards import check as check_guards
from nl_trader.live.guards import snapshot as guard_snapshot
from nl_trader.live.order_ids import ClientIds
from nl_trader.live.reconcile import Reconciliation, ReconciliationError, reconcile
from nl_trader.live.symbol_map import SymbolMap, discover
from nl_trader.live.terminal import TerminalPort
from nl_trader.spec import StrategySpec
from nl_trader.store import LiveSessionRecord, Store
from nl_trader.strategy.compile import Book, CompiledStrategy, book_from_records
from nl_trader.symbols import conversion_pairs
from nl_trader.timeframes import TIMEFRAME_CODES, timeframe_seconds

log = logging.getLogger(__name__)

Listener = Callable[[str, str | None, dict[str, Any]], None]
"""Called with (kind, order id, payload) for each journal entry: sent, status or execution."""


@dataclass
class SessionSummary:
    """What a session did, for the person and for its closing audit entry."""

    session_id: int
    mode: str
    bars_processed: int = 0
    orders_sent: int = 0
    orders_refused: int = 0
    statuses: int = 0
    executions: int = 0
    realised_profit: float = 0.0
    balance_start: float = 0.0
    balance_end: float = 0.0
    equity_end: float = 0.0
    currency: str = ""
    open_positions: int = 0
    stop_reason: str = ""
    first_bar: str | None = None
    last_bar: str | None = None
    journal_sha256: str = ""
    states: dict[str, int] = field(default_factory=dict)
    drift: str = ""  # the drift monitor's last summary, when the session had one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _JournalingClient(MAS):
    """The seed's client whose callbacks hand every event to the session's journal."""

    sink: Callable[[str, str, dict[str, Any]], None] | None = None

    def receive_order_status(self, order_id: str, status_data: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink("status", order_id, status_data)

    def receive_order_execution(self, order_id: str, execution_data: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink("execution", order_id, execution_data)


def _broker_name(pair: str, canonical: str, broker: str, symbol_map: SymbolMap | None) -> str:
    """The broker's name of a conversion ``pair``: the map's, else the traded symbol's prefix and
    suffix around it (``EURGBP.m`` -> ``GBPUSD.m``)."""
    if symbol_map is not None and pair in symbol_map.entries:
        return symbol_map.entries[pair]
    at = broker.find(canonical)
    if at < 0:
        return pair
    return broker[:at] + pair + broker[at + len(canonical) :]


class LiveSession:
    """One running session (made by ``start_session``). ``run()`` trades until it must stop."""

    def __init__(
        self,
        store: Store,
        session_id: int,
        spec: StrategySpec,
        client: _JournalingClient,
        *,
        mode: str,
        by: str,
        listener: Listener | None = None,
        flatten_on_stop: bool = True,
        server_utc_offset_s: int = 0,
        symbol_map: SymbolMap | None = None,
        guard: Guard | None = None,
        drift: Any = None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        record = store.session(session_id)
        self.magic = int(record.magic) if record.magic is not None else spec.magic
        # The strategy trades under the session's magic: its book is its own on this account.
        self.spec = spec.model_copy(update={"magic": self.magic})
        self.client = client
        self.by = by
        self.listener = listener
        self.flatten_on_stop = flatten_on_stop
        self.offset_s = server_utc_offset_s
        # Weekdays and hours are read on the server's clock: a paper terminal's backtest zone, else
        # the offset measured from ticks (followed across a daylight-saving switch, see ``step``).
        self.server_zone: SourceZone = getattr(
            client.executor.terminal, "server_zone", None
        ) or zone_from_offset(server_utc_offset_s)
        self.strategy = CompiledStrategy(self.spec, spec.symbols[0], server_zone=self.server_zone)
        canonical = self.strategy.symbol
        self.symbol = symbol_map.broker(canonical) if symbol_map is not None else canonical
        self.timeframe_code = TIMEFRAME_CODES[spec.timeframe]
        self.timeframe_s = timeframe_seconds(spec.timeframe)
        self.history_bars = max(2 * self.strategy.warmup_bars, 300)
        self.summary = SessionSummary(session_id=session_id, mode=mode)
        self.drift = drift
        if drift is not None and drift.server_zone is None:
            drift.server_zone = self.server_zone  # both sides read the session's clock
        self.paused: str | None = None
        self._feed_state: str | None = None
        self.limits = GuardLimits()
        self._sends_s: deque[int] = deque()
        self._ended = False
        self._checked_version: int | None = None  # the store's data_version last re-checked
        client.sink = self._on_event
        executor = client.executor
        executor.client_ids = ClientIds.for_session(session_id)
        executor.before_send = self._on_intent
        executor.on_incident = self._on_incident
        executor.guard = guard
        self.clock = ServerClock(server_utc_offset_s, utc_now=self._utc_clock())
        self.feed = BarFeed(
            self.terminal,
            self.symbol,
            spec.timeframe,
            history_bars=self.history_bars,
            clock=self.clock,
            decide_first=self.replaying,
        )
        account = self.terminal.account_info()
        if account is not None:
            self.summary.balance_start = float(account.balance)
            self.summary.currency = str(account.currency)
        self.conversion_feeds = self._conversion_feeds(symbol_map)
        self.reconciliation = self._reconcile(record)

    def _conversion_feeds(self, symbol_map: SymbolMap | None) -> dict[str, BarFeed]:
        """Feeds of the pairs that convert a cross pair's money to the account currency, for the
        drift monitor's backtest (the session itself trades on the broker's own conversion)."""
        if self.drift is None or not self.summary.currency:
            return {}
        feeds = {}
        for pair in conversion_pairs(self.strategy.symbol, self.summary.currency):
            name = _broker_name(pair, self.strategy.symbol, self.symbol, symbol_map)
            self.terminal.symbol_select(name, True)
            feeds[pair] = BarFeed(
                self.terminal,
                name,
                self.spec.timeframe,
                history_bars=self.history_bars,
                clock=self.clock,
                decide_first=True,
            )
        return feeds

    @property
    def terminal(self) -> TerminalPort:
        return self.client.executor.terminal

    @property
    def replaying(self) -> bool:
        """Whether time passes by replaying bars (the fake terminal) rather than by waiting."""
        return callable(getattr(self.terminal, "advance", None))

    def _utc_clock(self) -> Callable[[], datetime]:
        """UTC now: this machine's clock, or a replaying terminal's own."""
        fake_now = getattr(self.terminal, "utc_now", None)
        if callable(fake_now):
            return cast(Callable[[], datetime], fake_now)
        if self.replaying:
            return self._replay_now
        return lambda: datetime.now(UTC)

    def _replay_now(self) -> datetime:
        tick = self.terminal.symbol_info_tick(self.symbol)
        if tick is None:
            return datetime.now(UTC)
        return datetime.fromtimestamp(int(tick.time) + 1 - self.offset_s, UTC)

    def _reconcile(self, record: LiveSessionRecord) -> Reconciliation:
        """Adopt what earlier sessions under this magic left on the account, or stop (fail closed)."""
        try:
            found = reconcile(self.store, record, self.client.executor, symbol=self.symbol)
        except ReconciliationError as error:
            self._journal("reconciled", None, "refused", {"problems": error.problems}, None)
            self._ended = True
            close_session(
                self.store,
                self.session_id,
                by=self.by,
                reason=str(error),
                summary=self.summary.to_dict(),
            )
            raise
        if found.earlier_sessions:
            self._journal("reconciled", None, "adopted", found.to_dict(), None)
        return found

    # ---- the loop ----------------------------------------------------------------------------
    def run(
        self,
        *,
        max_bars: int | None = None,
        poll_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SessionSummary:
        """Trade bar by bar until stopped: the stop flag or the kill switch, the end of the
        replay, ``max_bars`` new bars, Ctrl-C, or an error (recorded as the reason, then raised)."""
        return run_sessions(
            [self], max_bars=max_bars, poll_interval_s=poll_interval_s, sleep=sleep
        )[0]

    def tick(self, *, max_bars: int | None = None) -> str | None:
        """One poll: why the session must stop now, else decide on a new bar if there is one."""
        reason = self._stop_requested()
        if reason is not None:
            return reason
        decided = self.step()
        if max_bars is not None and self.summary.bars_processed >= max_bars and decided:
            return f"bar limit reached ({max_bars} bars)"
        return None

    def step(self) -> bool:
        """Decide on the newest closed bar if it is new; return whether a decision was made."""
        update = self.feed.poll()
        self._note_feed(update)
        if update.new_bar is None or not update.ok:
            return False
        self._follow_clock()
        drift = self._watch_drift(update.frame)
        if self.paused is not None:
            return False
        frame = update.frame
        signals = self.strategy.prepare(frame)
        orders = self.strategy.decide(len(frame) - 1, signals, self._book(), backtest=False)
        stamp = frame.index[-1].to_pydatetime()
        for params in orders:
            self._send({**params, "symbol": self.symbol}, stamp)
        self.summary.bars_processed += 1
        self.summary.first_bar = self.summary.first_bar or stamp.isoformat()
        self.summary.last_bar = stamp.isoformat()
        with self.store.transaction():
            self.store.update_session(
                self.session_id,
                {
                    "heartbeat_at": self.store.now(),
                    "bars_processed": self.summary.bars_processed,
                    "last_bar_time": stamp,
                    **({"drift": drift} if drift is not None else {}),
                },
            )
        return True

    def _note_feed(self, update: FeedUpdate) -> None:
        """Journal what the feed says, once each: a pause, its end, skipped bars, clock events."""
        notes = list(update.events)
        if update.missed:
            notes.append(
                f"{len(update.missed)} bars closed while the session was away and are not "
                f"decided on ({update.missed[0]:%Y-%m-%d %H:%M} .. {update.missed[-1]:%H:%M} UTC)"
            )
        stale = None if update.ok else (update.stale or update.status)
        if stale != self._feed_state:
            notes.append(f"paused: {stale}" if stale else "prices live again: trading resumes")
            self._feed_state = stale
        for note in notes:
            self._journal("feed", None, update.status, {"note": note}, update.checked_at)

    def guard_with(self, limits: GuardLimits) -> None:
        """Check every request against ``limits`` before it is sent (``guards``); a refusal is a
        rejected status naming the guard, journaled and audited."""
        self.limits = limits
        self.client.executor.guard = self._guard

    def _guard(self, request: Mapping[str, Any]) -> GuardRefusal | None:
        now_s = self.clock.server_now_s()
        minute_ago = now_s - 60
        while self._sends_s and self._sends_s[0] <= minute_ago:
            self._sends_s.popleft()
        taken = guard_snapshot(
            self.terminal,
            str(request.get("symbol", self.symbol)),
            self.magic,
            recent_sends_s=tuple(self._sends_s),
            server_utc_offset_s=self.clock.offset_s,
            server_now_s=now_s,
        )
        refusal = check_guards(request, taken, self.limits)
        if refusal is None:
            if request.get("action") in (mt5.TRADE_ACTION_DEAL, mt5.TRADE_ACTION_PENDING):
                self._sends_s.append(now_s)
            return None
        record = self.store.session(self.session_id)
        with self.store.transaction():
            self._journal("guard", None, refusal.guard, refusal.to_dict(), None)
            self.store.audit(
                self.by,
                "live.guard_refused",
                f"strategy:{record.strategy_id}",
                {"session_id": self.session_id, **refusal.to_dict()},
            )
        return refusal

    def _watch_drift(self, frame: pd.DataFrame) -> dict[str, Any] | None:
        """Compare the session with its backtest up to this bar (``drift``). A monitor that cannot
        compare (a conversion pair's bars missing) is journaled and switched off: it watches the
        session, it never stops it."""
        if self.drift is None:
            return None
        conversions = {pair: feed.poll().frame for pair, feed in self.conversion_feeds.items()}
        try:
            report = self.drift.update(frame, self.store.journal(self.session_id), conversions)
        except NlTraderError as error:
            self.drift = None
            note = f"drift monitor off: it cannot compare this session with its backtest: {error}"
            self._journal("drift", None, "off", {"note": note}, None)
            log.warning("session %s: %s", self.session_id, note)
            return None
        self.summary.drift = report.summary()
        if report.new_alerts:
            self._drift_alert(report.new_alerts)
        if report.alerts and self.drift.pause_on_alert:
            self._pause("drift: " + "; ".join(report.alerts))
        return {"summary": report.summary(), "text": report.text(), **report.to_dict()}

    def _follow_clock(self) -> None:
        """After the server's offset changed (a daylight-saving switch), read weekdays and hours
        on the new one; a paper terminal's backtest zone already includes its switches."""
        if getattr(self.terminal, "server_zone", None) is not None:
            return
        zone = zone_from_offset(self.clock.offset_s)
        if zone != self.server_zone:
            self.server_zone = zone
            self.strategy = CompiledStrategy(self.spec, self.spec.symbols[0], server_zone=zone)

    def _drift_alert(self, alerts: tuple[str, ...]) -> None:
        """Journal and audit drift alerts as they are first raised, and tell the listener."""
        record = self.store.session(self.session_id)
        with self.store.transaction():
            self._journal("drift", None, "alert", {"alerts": list(alerts)}, None)
            self.store.audit(
                self.by,
                "live.drift_alert",
                f"strategy:{record.strategy_id}",
                {"session_id": self.session_id, "alerts": list(alerts)},
            )
        log.warning("session %s: drift: %s", self.session_id, "; ".join(alerts))

    def _pause(self, why: str) -> None:
        if self.paused is None:
            self.paused = why
            self._journal("drift", None, "paused", {"note": f"paused: {why}"}, None)

    def stop(self, reason: str) -> SessionSummary:
        """End the session: flatten if asked, record the summary and the reason. Idempotent.

        A kill cancels pending orders always and closes positions unless the kill said to keep
        them; a plain stop does both or neither (``flatten_on_stop``)."""
        if self._ended:
            return self.summary
        self._ended = True
        record = self.store.session(self.session_id)
        close = self.flatten_on_stop
        if record.close_positions is not None and record.kill_requested:
            close = record.close_positions
        if close or record.kill_requested:
            try:
                self._flatten(close_positions=close)
            except NlTraderError as error:
                log.warning("session %s: could not close everything: %s", self.session_id, error)
                reason += f" (flatten failed: {error})"
        summary = self.summary
        summary.stop_reason = reason
        account = self.terminal.account_info()
        if account is not None:
            summary.balance_end = float(account.balance)
            summary.equity_end = float(account.equity)
        positions = self.terminal.positions_get(symbol=self.symbol) or ()
        summary.open_positions = sum(1 for p in positions if p.magic == self.magic)
        summary.journal_sha256 = journal_digest(self.store, self.session_id)
        close_session(
            self.store, self.session_id, by=self.by, reason=reason, summary=summary.to_dict()
        )
        return summary

    # ---- helpers -----------------------------------------------------------------------------
    def _stop_requested(self) -> str | None:
        """Why the session must stop now: the kill switch (a kill request or the kill file), a
        stop was asked for, its approval ran out (an expired approval is no approval: the
        session may not trade on after it), or the records it started on no longer hold (the
        audit chain, the state, the approval and its run, as the gate checked them: re-checked
        whenever another connection wrote to the store)."""
        killed = kill_file_reason()
        record = self.store.session(self.session_id)
        if killed is not None:
            with self.store.transaction():
                self.store.update_session(
                    self.session_id, {"kill_requested": True, "close_positions": True}
                )
                self.store.audit(
                    self.by,
                    "live.killed",
                    f"strategy:{record.strategy_id}",
                    {"session_id": self.session_id, "reason": killed, "close_positions": True},
                )
            return f"killed: {killed}"
        if record.kill_requested:
            return f"killed by {record.stop_requested_by}"
        if record.stop_requested_at is not None:
            return f"stop requested by {record.stop_requested_by}"
        approval = self.store.approval(record.approval_id)
        if self.store.now() >= approval.expires_at:
            return f"approval {approval.id} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC"
        written = int(self.store.connection.execute("PRAGMA data_version").fetchone()[0])
        if written != self._checked_version:
            problems = trust_problems(self.store, record.strategy_id, approval)
            if problems:
                return "the records it started on no longer hold: " + "; ".join(problems)
            self._checked_version = written
        return None

    def _book(self) -> Book:
        terminal = self.terminal
        account = terminal.account_info()
        info = terminal.symbol_info(self.symbol)
        if account is None or info is None:
            code, message = terminal.last_error()
            raise NlTraderError(
                f"session {self.session_id}: terminal gave no account/symbol ({code}, {message})"
            )
        account_data, symbol_data = account._asdict(), info._asdict()
        tick_size = float(symbol_data.get("trade_tick_size") or 0.0)
        value = float(symbol_data.get("trade_tick_value") or 0.0) / tick_size if tick_size else 0.0
        # Positions carry server-clock times; the strategy's clock is UTC.
        positions = [
            {**p._asdict(), "time": int(p.time) - self.offset_s}
            for p in terminal.positions_get(symbol=self.symbol) or ()
        ]
        orders = [o._asdict() for o in terminal.orders_get(symbol=self.symbol) or ()]
        return book_from_records(
            equity=float(account_data["equity"]),
            positions=positions,
            orders=orders,
            symbol=self.symbol,
            magic=self.magic,
            value_per_price=value,
            netting=account_data.get("margin_mode") != mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING,
        )

    def _flatten(self, *, close_positions: bool = True) -> None:
        """Cancel the strategy's pending orders and close its positions (unless told to keep
        them), as the tester does at its end."""
        book = self._book()
        base = {
            "backtest_toggle": False,
            "symbol": self.symbol,
            "magic": self.magic,
            "comment": "session stop",
        }
        orders: list[dict[str, Any]] = [
            {**base, "order_type": "cancel", "order": pending.ticket} for pending in book.orders
        ]
        if close_positions:
            orders += [
                {
                    **base,
                    "order_type": "sell" if position.is_buy else "buy",
                    "volume": position.volume,
                    "position": position.ticket,
                }
                for position in book.positions
            ]
        last = self.summary.last_bar
        moment = datetime.fromisoformat(last) if last else datetime.now(UTC)
        for params in orders:
            self._send(params, moment)

    def _send(self, params: dict[str, Any], moment: datetime) -> None:
        """Send one order and journal it with what ``send_order`` returned (an id, or why not)."""
        reply = self.client.send_order(params)
        accepted = reply.isdigit()
        self.summary.orders_sent += 1
        self.summary.orders_refused += 0 if accepted else 1
        self._journal(
            "sent",
            reply if accepted else None,
            "sent" if accepted else "refused",
            {"params": params, "reply": reply},
            moment,
        )

    def _on_intent(self, intent: Intent) -> None:
        """Journal a request before it is sent: a crash after this line is reconciled by its id."""
        tick = self.terminal.symbol_info_tick(str(intent.request["symbol"]))
        self._journal(
            "intent",
            intent.client_id,
            "intent",
            {
                "client_id": intent.client_id,
                "request": intent.request,
                "server_time_s": int(tick.time) if tick is not None else 0,
            },
            None,
        )

    def _on_incident(self, text: str) -> None:
        self._journal("incident", None, None, {"note": text}, None)

    def _on_event(self, kind: str, order_id: str, payload: dict[str, Any]) -> None:
        if kind == "execution":
            self.summary.executions += 1
            self.summary.realised_profit += sum(
                float(payload.get(key) or 0.0) for key in ("profit", "commission", "swap")
            )
        else:
            self.summary.statuses += 1
            state = str(payload.get("state"))
            self.summary.states[state] = self.summary.states.get(state, 0) + 1
        moment = payload.get("time")
        self._journal(
            kind,
            order_id,
            str(payload.get("state")),
            payload,
            moment if isinstance(moment, datetime) else None,
        )

    def _journal(
        self,
        kind: str,
        order_id: str | None,
        state: str | None,
        payload: dict[str, Any],
        moment: datetime | None,
    ) -> None:
        """One journal entry; ``moment`` defaults to now on the session's clock (a replay's
        time for a paper session), so every entry of a session is on one clock."""
        self.store.add_journal(
            self.session_id,
            kind=kind,
            order_id=order_id,
            state=state,
            payload=payload,
            event_time=moment if moment is not None else self.clock.utc_now(),
        )
        if self.listener is not None:
            self.listener(kind, order_id, payload)


def run_sessions(
    sessions: list[LiveSession],
    *,
    max_bars: int | None = None,
    poll_interval_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SessionSummary]:
    """Run several sessions in one process (several strategies and symbols, each with its own
    feed and journal) until every one has stopped; return their summaries in order.

    Each poll every running session checks its stop flags and decides on its new bar; replaying
    terminals then move one bar (each terminal once, however many sessions share it), and every
    session polls its executor. An error stops every session with it as the reason, then is
    raised; Ctrl-C stops them all."""
    running = list(sessions)
    try:
        while running:
            for session in list(running):
                reason = session.tick(max_bars=max_bars)
                if reason is not None:
                    session.stop(reason)
                    running.remove(session)
            terminals = {id(s.terminal): s.terminal for s in running if s.replaying}
            for key, terminal in terminals.items():
                if terminal.advance(1) == 0:  # type: ignore[attr-defined]
                    for session in [s for s in running if id(s.terminal) == key]:
                        session.stop("replay finished: no more bars")
                        running.remove(session)
            if running and not terminals:
                sleep(poll_interval_s)
            for session in running:
                session.client.poll()
    except KeyboardInterrupt:
        for session in running:
            session.stop("interrupted (Ctrl-C)")
    except BaseException as error:
        for session in running:
            session.stop(f"failed: {error}")
        raise
    return [session.summary for session in sessions]


def _paper_credentials(terminal: TerminalPort) -> Credentials:
    """A paper profile trades the fake terminal's own demo account: its login, no password."""
    if not terminal.initialize():
        code, message = terminal.last_error()
        raise TerminalError("initialize", code, message)
    info = terminal.account_info()
    if info is None:
        code, message = terminal.last_error()
        raise TerminalError("account_info", code, message)
    return Credentials.parse(
        {"account": int(info.login), "password": "paper", "server": str(info.server)}
    )


def crashed_session(store: Store, strategy_id: int, profile: str) -> LiveSessionRecord | None:
    """The strategy's session on ``profile`` recorded as running whose process is gone (it ran
    on this host and its pid no longer exists): a new start takes it over and reconciles."""
    for record in store.running_sessions(strategy_id):
        if record.account_profile != profile or record.pid is None:
            continue
        if record.host == socket.gethostname() and not _process_alive(record.pid):
            return record
    return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def start_session(
    store: Store,
    strategy_id: int,
    *,
    profile: AccountProfile,
    terminal: TerminalPort | Callable[[], TerminalPort],
    by: str,
    confirm_real: int | None = None,
    listener: Listener | None = None,
    flatten_on_stop: bool = True,
    guards: GuardLimits | None = None,
    drift: DriftMonitor | None = None,
    watch_drift: bool = True,
) -> LiveSession:
    """Start a session of the strategy's approved version on ``terminal``, or refuse.

    The gate is asked first (``terminal`` may be a factory: no terminal is opened for a strategy
    that may not trade), then again with the account's facts once logged in. A refusal is
    recorded in the audit log and raised as ``GateRefusedError`` with every reason. A session
    of the strategy on this profile whose process died is taken over (``crashed_session``); the
    new session reconciles the terminal with the journals before it trades. ``guards`` are the
    strategy's own limits, combined with the profile's (the tighter of each wins).

    Unless ``watch_drift`` is false, a drift monitor (``drift``, else one on the approved run's
    settings and the profile's thresholds, ``approved_run_monitor``) compares each trade with the
    backtest's on the same bars.
    """
    require_actor(by, "starts the session")
    paper_account = profile.paper and profile.login is None
    crashed = crashed_session(store, strategy_id, profile.name)
    taking_over = crashed.id if crashed is not None else None
    ask = {
        "profile": profile.name,
        "needs_assignment": not paper_account,
        "taking_over": taking_over,
    }
    first = check_can_go_live(store, strategy_id, **ask)  # type: ignore[arg-type]
    if not first.allowed:
        record_refusal(store, first, by=by, account=None)
        raise GateRefusedError(strategy_id, first.reasons)
    # The password is read (and its absence reported) before any terminal is opened.
    credentials = None if paper_account else profile.credentials()
    if not isinstance(terminal, TerminalPort):
        terminal = terminal()
    if credentials is None:
        credentials = _paper_credentials(terminal)
    # A paper terminal's clock is the backtest's server's; a broker's is the profile's (checked
    # against its ticks by the session's clock).
    offset_s = int(getattr(terminal, "server_utc_offset_s", 0)) if profile.paper else None
    offset_s = profile.server_utc_offset_s if offset_s is None else offset_s
    client = _JournalingClient(terminal=terminal, server_utc_offset_s=offset_s)
    client.login(
        {
            "account": credentials.account,
            "password": credentials.password.get_secret_value(),
            "server": credentials.server,
        }
    )
    account = AccountFacts.from_account_info(client.executor.account)
    decision = check_can_go_live(
        store,
        strategy_id,
        account=account,
        confirm_real=confirm_real,
        **ask,  # type: ignore[arg-type]
    )
    if not decision.allowed:
        record_refusal(store, decision, by=by, account=account)
        terminal.shutdown()
        raise GateRefusedError(strategy_id, decision.reasons)
    spec = decision.version.spec
    symbol_map = discover(terminal, spec.symbols[:1], profile.symbols, profile=profile.name)
    limits = GuardLimits.tightest(profile.guards, guards or GuardLimits())
    mode = "paper" if profile.paper else "live"
    plan = SessionPlan(
        mode=mode,
        account_profile=profile.name,
        terminal=profile.terminal,
        account=account,
        confirm_real=confirm_real,
        needs_assignment=not paper_account,
        taken_magics=frozenset(_magics_in_use(terminal)),
        taking_over=taking_over,
        close_positions=flatten_on_stop,
    )
    if drift is None and watch_drift:
        drift = approved_run_monitor(store, decision, profile, client.executor.account)
    session_id = open_session(store, decision, by=by, plan=plan)
    session = LiveSession(
        store,
        session_id,
        spec,
        client,
        mode=mode,
        by=by,
        listener=listener,
        flatten_on_stop=flatten_on_stop,
        server_utc_offset_s=offset_s,
        symbol_map=symbol_map,
        drift=drift,
    )
    session.guard_with(limits)
    return session


def approved_run_monitor(
    store: Store,
    decision: GateDecision,
    profile: AccountProfile,
    account: Mapping[str, Any],
) -> DriftMonitor | None:
    """A drift monitor on the approved run's settings (costs, fills, the path inside a bar) with
    the account's balance and currency as the deposit, and ``profile``'s thresholds; None for an
    approval without a run. The weekdays and hours of both sides are read on the session's clock
    (``LiveSession.server_zone``): on a broker that is its server's, as a backtest re-run with that
    server's timezone would read them."""
    if decision.approval is None:
        return None
    run = store.run(decision.approval.run_id)
    settings = BacktestSettings.model_validate(run.settings)
    balance = float(account.get("balance") or 0.0)
    currency = str(account.get("currency") or "")
    settings = settings.model_copy(
        update={
            **({"deposit": balance} if balance > 0 else {}),
            **({"currency": currency} if currency else {}),
        }
    )
    return DriftMonitor(
        decision.version.spec,
        settings,
        profile.drift,
        pause_on_alert=profile.pause_on_drift,
    )


def _magics_in_use(terminal: TerminalPort) -> set[int]:
    """Magics of the orders and positions the terminal holds (another EA's, another store's)."""
    held = list(terminal.positions_get() or ()) + list(terminal.orders_get() or ())
    return {int(item.magic) for item in held}
