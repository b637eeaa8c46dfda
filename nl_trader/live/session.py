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

Paper trading is the same session on the fake terminal (``paper_terminal``): the same fill engine
as the backtester, replaying the bars the backtest did not see, one bar per step.

``start_session`` is the only way in: it asks the gate (``check_can_go_live``) before it connects
and again with the account's facts (a REAL account needs its confirmation), records a refusal with
its reasons, and records the session as running only when everything holds.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from nl_trader import mt5
from nl_trader.backtest.engine import BacktestSettings
from nl_trader.client import MAS
from nl_trader.data.timezones import zone_from_offset
from nl_trader.errors import NlTraderError, TerminalError
from nl_trader.lifecycle import (
    AccountFacts,
    GateRefusedError,
    check_can_go_live,
    close_session,
    open_session,
    record_refusal,
    require_actor,
    trust_problems,
)
from nl_trader.live.accounts import AccountProfile
from nl_trader.live.executor import Credentials
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.terminal import TerminalPort
from nl_trader.sim.broker import SimBroker
from nl_trader.sim.feed import BarReplay
from nl_trader.spec import StrategySpec
from nl_trader.store import Store, to_json
from nl_trader.strategy.compile import Book, CompiledStrategy, book_from_records
from nl_trader.symbols import symbol_spec
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


def journal_digest(store: Store, session_id: int) -> str:
    """SHA-256 over a session's journal, in order: recorded when it stops, to show later edits."""
    digest = hashlib.sha256()
    for entry in store.journal(session_id):
        line = to_json([entry.id, entry.kind, entry.order_id, entry.state, entry.payload])
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def paper_terminal(
    bars: pd.DataFrame,
    *,
    symbol: str,
    timeframe: str,
    start: datetime,
    settings: BacktestSettings | None = None,
    conversion_bars: Mapping[str, pd.DataFrame] | None = None,
    history_bars: int = 2_000,
) -> FakeTerminal:
    """A fake terminal on ``bars``: up to ``history_bars`` bars before ``start`` already replayed
    (the history a terminal holds), the rest replayed one per session step. The account and costs are the
    backtest's (``settings``), on the same fill engine; ``conversion_bars`` move the pairs that
    convert the symbol's money to the account currency."""
    settings = settings or BacktestSettings()
    conversions = dict(conversion_bars or {})
    specs = [
        settings.apply_costs(symbol_spec(symbol)),
        *(symbol_spec(name) for name in conversions),
    ]
    # The backtest's account, costs and path inside a bar: a bar that spans both stop and target
    # closes at the same one in the paper session as in the report.
    broker = SimBroker(
        specs, account=settings.account_config(), execution=settings.execution_model()
    )
    frame = bars if settings.spread_points is None else bars.assign(spread=settings.spread_points)
    # The terminal's history: enough bars before ``start`` for the indicators, not the whole file.
    first = max(0, int((frame.index < pd.Timestamp(start)).sum()) - history_bars)
    frame = frame.iloc[first:]
    if len(frame):
        conversions = {name: c[c.index >= frame.index[0]] for name, c in conversions.items()}
    # Bars open with their first tick (open_next): a decision on a closed bar fills at the next
    # bar's open, as on a live terminal and in the backtest.
    replay = BarReplay({symbol: frame, **conversions}, timeframe, open_next=True)
    history = int((replay.times < int(pd.Timestamp(start).timestamp())).sum())
    replay.step(broker, history + 1)  # the history closed, the first bar from ``start`` open
    return FakeTerminal(broker, replay)


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
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.spec = spec
        self.client = client
        self.by = by
        self.listener = listener
        self.flatten_on_stop = flatten_on_stop
        self.offset_s = server_utc_offset_s
        self.strategy = CompiledStrategy(
            spec, spec.symbols[0], server_zone=zone_from_offset(server_utc_offset_s)
        )
        self.symbol = self.strategy.symbol
        self.timeframe_code = TIMEFRAME_CODES[spec.timeframe]
        self.timeframe_s = timeframe_seconds(spec.timeframe)
        self.history_bars = max(2 * self.strategy.warmup_bars, 300)
        self.summary = SessionSummary(session_id=session_id, mode=mode)
        self._last_bar_s: int | None = None
        self._ended = False
        self._checked_version: int | None = None  # the store's data_version last re-checked
        client.sink = self._on_event
        account = self.terminal.account_info()
        if account is not None:
            self.summary.balance_start = float(account.balance)
            self.summary.currency = str(account.currency)

    @property
    def terminal(self) -> TerminalPort:
        return self.client.executor.terminal

    @property
    def replaying(self) -> bool:
        """Whether time passes by replaying bars (the fake terminal) rather than by waiting."""
        return callable(getattr(self.terminal, "advance", None))

    # ---- the loop ----------------------------------------------------------------------------
    def run(
        self,
        *,
        max_bars: int | None = None,
        poll_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SessionSummary:
        """Trade bar by bar until stopped: the stop flag, the end of the replay, ``max_bars``
        new bars, Ctrl-C, or an error (recorded as the reason, then raised)."""
        reason: str | None = None
        try:
            while reason is None:
                reason = self._stop_requested()
                if reason is not None:
                    break
                decided = self.step()
                if max_bars is not None and self.summary.bars_processed >= max_bars and decided:
                    reason = f"bar limit reached ({max_bars} bars)"
                    break
                if self.replaying:
                    if self.terminal.advance(1) == 0:  # type: ignore[attr-defined]
                        reason = "replay finished: no more bars"
                else:
                    sleep(poll_interval_s)
                self.client.poll()
        except KeyboardInterrupt:
            reason = "interrupted (Ctrl-C)"
        except BaseException as error:
            self.stop(f"failed: {error}")
            raise
        return self.stop(reason)

    def step(self) -> bool:
        """Decide on the newest closed bar if it is new; return whether a decision was made."""
        frame = self._closed_bars()
        if frame is None or frame.empty:
            return False
        bar_s = int(frame.index[-1].timestamp())
        if self._last_bar_s is not None and bar_s <= self._last_bar_s:
            return False
        first = self._last_bar_s is None
        self._last_bar_s = bar_s
        if first and not self.replaying:
            # On a real terminal the newest closed bar may have closed long before the session
            # started: its signal is stale. Decide from the next bar that closes while running.
            return False
        signals = self.strategy.prepare(frame)
        orders = self.strategy.decide(len(frame) - 1, signals, self._book(), backtest=False)
        stamp = frame.index[-1].to_pydatetime()
        for params in orders:
            self._send(params, stamp)
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
                },
            )
        return True

    def stop(self, reason: str) -> SessionSummary:
        """End the session: flatten if asked, record the summary and the reason. Idempotent."""
        if self._ended:
            return self.summary
        self._ended = True
        if self.flatten_on_stop:
            try:
                self._flatten()
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
        summary.open_positions = sum(1 for p in positions if p.magic == self.spec.magic)
        summary.journal_sha256 = journal_digest(self.store, self.session_id)
        close_session(
            self.store, self.session_id, by=self.by, reason=reason, summary=summary.to_dict()
        )
        return summary

    # ---- helpers -----------------------------------------------------------------------------
    def _stop_requested(self) -> str | None:
        """Why the session must stop now: a stop was asked for, its approval ran out (an
        expired approval is no approval: the session may not trade on after it), or the records
        it started on no longer hold (the audit chain, the state, the approval and its run, as
        the gate checked them: re-checked whenever another connection wrote to the store)."""
        record = self.store.session(self.session_id)
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

    def _closed_bars(self) -> pd.DataFrame | None:
        rates = self.terminal.copy_rates_from_pos(
            self.symbol, self.timeframe_code, 0, self.history_bars + 1
        )
        if rates is None or len(rates) == 0:
            return None
        tick = self.terminal.symbol_info_tick(self.symbol)
        server_now = int(tick.time) if tick is not None else int(rates["time"][-1])
        # Position 0 is the bar still forming on a real terminal: decide on closed bars only.
        if int(rates["time"][-1]) + self.timeframe_s - 1 > server_now:
            rates = rates[:-1]
        rates = rates[-self.history_bars :]
        times = pd.to_datetime(
            np.asarray(rates["time"], dtype="int64") - self.offset_s, unit="s", utc=True
        )
        return pd.DataFrame(
            {
                "open": np.asarray(rates["open"], dtype="float64"),
                "high": np.asarray(rates["high"], dtype="float64"),
                "low": np.asarray(rates["low"], dtype="float64"),
                "close": np.asarray(rates["close"], dtype="float64"),
                "spread": np.asarray(rates["spread"], dtype="float64"),
            },
            index=times,
        )

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
            magic=self.spec.magic,
            value_per_price=value,
            netting=account_data.get("margin_mode") != mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING,
        )

    def _flatten(self) -> None:
        """Cancel the strategy's pending orders and close its positions, as the tester does."""
        book = self._book()
        base = {
            "backtest_toggle": False,
            "symbol": self.symbol,
            "magic": self.spec.magic,
            "comment": "session stop",
        }
        orders: list[dict[str, Any]] = [
            {**base, "order_type": "cancel", "order": pending.ticket} for pending in book.orders
        ]
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
        self.store.add_journal(
            self.session_id,
            kind=kind,
            order_id=order_id,
            state=state,
            payload=payload,
            event_time=moment,
        )
        if self.listener is not None:
            self.listener(kind, order_id, payload)


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
) -> LiveSession:
    """Start a session of the strategy's approved version on ``terminal``, or refuse.

    The gate is asked first (``terminal`` may be a factory: no terminal is opened for a strategy
    that may not trade), then again with the account's facts once logged in. A refusal is recorded in the audit log and
    raised as ``GateRefusedError`` with every reason.
    """
    require_actor(by, "starts the session")
    first = check_can_go_live(store, strategy_id)
    if not first.allowed:
        record_refusal(store, first, by=by, account=None)
        raise GateRefusedError(strategy_id, first.reasons)
    paper_account = profile.paper and profile.login is None
    # The password is read (and its absence reported) before any terminal is opened.
    credentials = None if paper_account else profile.credentials()
    if not isinstance(terminal, TerminalPort):
        terminal = terminal()
    if credentials is None:
        credentials = _paper_credentials(terminal)
    client = _JournalingClient(terminal=terminal, server_utc_offset_s=profile.server_utc_offset_s)
    client.login(
        {
            "account": credentials.account,
            "password": credentials.password.get_secret_value(),
            "server": credentials.server,
        }
    )
    account = AccountFacts.from_account_info(client.executor.account)
    decision = check_can_go_live(store, strategy_id, account=account, confirm_real=confirm_real)
    if not decision.allowed:
        record_refusal(store, decision, by=by, account=account)
        terminal.shutdown()
        raise GateRefusedError(strategy_id, decision.reasons)
    mode = "paper" if profile.paper else "live"
    session_id = open_session(
        store,
        decision,
        by=by,
        mode=mode,
        account_profile=profile.name,
        terminal=profile.terminal,
        account=account,
        confirm_real=confirm_real,
    )
    return LiveSession(
        store,
        session_id,
        decision.version.spec,
        client,
        mode=mode,
        by=by,
        listener=listener,
        flatten_on_stop=flatten_on_stop,
        server_utc_offset_s=profile.server_utc_offset_s,
    )


def journal_problems(store: Store) -> list[str]:
    """Sessions whose journal no longer hashes to the digest recorded when they stopped."""
    problems = []
    for entry in store.audit_entries():
        if entry.action != "live.stopped":
            continue
        session_id = int(entry.payload.get("session_id", 0))
        recorded = str(entry.payload.get("journal_sha256", ""))
        if recorded and journal_digest(store, session_id) != recorded:
            problems.append(
                f"session {session_id}: its journal changed after it stopped (audit entry "
                f"{entry.seq} recorded sha256 {recorded[:12]})"
            )
    return problems
