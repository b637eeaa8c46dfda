"""Sessions in the background of a long-running process (the web server): start, track, stop.

``SessionRunner.start`` starts a session through the gate (``start_session``) in a worker thread
of its own, with its own ``Store`` connection (SQLite connections belong to the thread that made
them; the store is WAL, so the server's requests and the sessions write it at once), and answers
once the session is recorded as running, or raises the gate's ``GateRefusedError`` with every
reason. ``stop`` asks a session to stop (``request_stop``: the session sees the flag at its next
poll), ``kill`` pulls the kill switch (``control.kill``); either also wakes a waiting worker, so the
session notices at once rather than after its pause.

A paper session replays bars as fast as it can; ``bar_interval_s`` paces its replay (0.3 s a bar
lets a person watch executions arrive; tests pass 0). A broker session waits for new bars, polling
every ``poll_interval_s``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.lifecycle import request_stop
from nl_trader.live.accounts import AccountProfile, get_profile
from nl_trader.live.control import kill
from nl_trader.live.paper import paper_session_terminal
from nl_trader.live.session import LiveSession, SessionSummary, start_session
from nl_trader.live.terminal import TerminalPort
from nl_trader.live.terminals import open_terminal
from nl_trader.store import LiveSessionRecord, Store, utc_now
from nl_trader.store.store import Clock

log = logging.getLogger(__name__)

TerminalFactory = Callable[[Store, int, AccountProfile], TerminalPort]
"""Makes the terminal a session trades on: (the worker's store, the strategy id, the profile)."""


def default_terminal(store: Store, strategy_id: int, profile: AccountProfile) -> TerminalPort:
    """A paper profile's fake terminal replaying the approved run's held-out bars, else the
    profile's terminal (``open_terminal``)."""
    if profile.paper:
        return paper_session_terminal(store, strategy_id)
    return open_terminal(profile.terminal)


class _PacedReplay:
    """A replaying terminal whose bars arrive no faster than one per ``interval_s``: every other
    call goes to the terminal itself."""

    def __init__(self, terminal: Any, interval_s: float, wait: Callable[[float], Any]) -> None:
        self._terminal = terminal
        self._interval_s = interval_s
        self._wait = wait

    def advance(self, bars: int = 1) -> int:
        self._wait(self._interval_s * bars)
        replayed: int = self._terminal.advance(bars)
        return replayed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._terminal, name)


@dataclass
class RunningSession:
    """A session this runner started: its worker thread, and how it ended (``summary`` when it
    stopped, ``error`` when it failed)."""

    strategy_id: int
    profile: str
    session_id: int | None = None
    thread: threading.Thread = field(default_factory=threading.Thread)
    wake: threading.Event = field(default_factory=threading.Event)
    summary: SessionSummary | None = None
    error: str | None = None

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


class SessionRunner:
    """Runs sessions in worker threads of this process (module docstring).

    ``db_path``: the store (each worker opens its own connection, on ``clock``). ``config``: the
    configuration file with the account profiles. ``bar_interval_s``: the pace of a paper replay.
    ``paper_max_bars``: a paper session stops after this many bars (None: at the replay's end).
    ``terminal``: makes each session's terminal (default: ``default_terminal``).
    """

    def __init__(
        self,
        db_path: Path | str,
        *,
        clock: Clock = utc_now,
        config: Path | None = None,
        bar_interval_s: float = 0.0,
        poll_interval_s: float = 1.0,
        paper_max_bars: int | None = None,
        terminal: TerminalFactory = default_terminal,
    ) -> None:
        if bar_interval_s < 0 or poll_interval_s < 0:
            raise ValueError("bar_interval_s and poll_interval_s are seconds, 0 or more")
        self.db_path = Path(db_path)
        self.clock = clock
        self.config = config
        self.bar_interval_s = bar_interval_s
        self.poll_interval_s = poll_interval_s
        self.paper_max_bars = paper_max_bars
        self._terminal = terminal
        self._lock = threading.Lock()
        self._sessions: dict[int, RunningSession] = {}

    def _open(self) -> Store:
        return Store(self.db_path, clock=self.clock)

    # ---- starting ----------------------------------------------------------------------------
    def profile(self, account: str) -> AccountProfile:
        """The account profile ``account`` of the configuration (``paper`` built in)."""
        return get_profile(account, self.config)

    def start(
        self,
        strategy_id: int,
        *,
        account: str = "paper",
        by: str,
        confirm_real: int | None = None,
        max_bars: int | None = None,
    ) -> int:
        """Start a session of the strategy on the profile ``account`` and return its id once it
        is recorded as running; it then trades in its worker thread until it stops.

        Refused as ``start_session`` refuses (``GateRefusedError`` with every reason; an unknown
        profile, a missing password variable: ``InvalidInputError``), with nothing left running.
        ``max_bars``: stop after that many bars (a paper session: at most ``paper_max_bars``)."""
        profile = self.profile(account)
        limit = max_bars
        if profile.paper and self.paper_max_bars is not None:
            limit = min(limit or self.paper_max_bars, self.paper_max_bars)
        handle = RunningSession(strategy_id, profile.name)
        ready = threading.Event()
        outcome: list[BaseException] = []

        def work() -> None:
            try:
                with self._open() as store:
                    session = self._start(store, strategy_id, profile, by, confirm_real, handle)
                    ready.set()
                    self._trade(session, handle, limit)
            except BaseException as error:  # before the start: the caller raises it
                if not ready.is_set():
                    outcome.append(error)
                    ready.set()
                else:  # after it: run_sessions recorded it as the session's stop reason
                    handle.error = str(error)
                    log.warning("session %s failed: %s", handle.session_id, error)

        handle.thread = threading.Thread(
            target=work, name=f"nl_trader session of strategy {strategy_id}", daemon=True
        )
        handle.thread.start()
        ready.wait()
        if outcome:
            handle.thread.join()
            raise outcome[0]
        session_id = handle.session_id
        if session_id is None:  # set before ready unless the start failed, which raised above
            raise NlTraderError(f"strategy {strategy_id}: the session did not start")
        with self._lock:
            self._sessions[session_id] = handle
        return session_id

    def _start(
        self,
        store: Store,
        strategy_id: int,
        profile: AccountProfile,
        by: str,
        confirm_real: int | None,
        handle: RunningSession,
    ) -> LiveSession:
        """Start through the gate, on the worker's own store, on a paced replay for paper."""

        def terminal() -> TerminalPort:
            made = self._terminal(store, strategy_id, profile)
            if callable(getattr(made, "advance", None)) and self.bar_interval_s > 0:
                paced: Any = _PacedReplay(made, self.bar_interval_s, handle.wake.wait)
                return cast(TerminalPort, paced)
            return made

        session = start_session(
            store, strategy_id, profile=profile, terminal=terminal, by=by, confirm_real=confirm_real
        )
        handle.session_id = session.session_id
        return session

    def _trade(self, session: LiveSession, handle: RunningSession, max_bars: int | None) -> None:
        def pause(seconds: float) -> None:  # a stop or a kill from this runner cuts it short
            handle.wake.wait(seconds)

        handle.summary = session.run(
            max_bars=max_bars, poll_interval_s=self.poll_interval_s, sleep=pause
        )

    # ---- tracking and stopping -----------------------------------------------------------------
    def sessions(self) -> list[RunningSession]:
        """The sessions this runner started, oldest first (running or ended)."""
        with self._lock:
            return list(self._sessions.values())

    def running(self) -> list[int]:
        """Ids of this runner's sessions whose worker still runs."""
        return [item.session_id for item in self.sessions() if item.alive and item.session_id]

    def handle(self, session_id: int) -> RunningSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def _wake(self, session_id: int) -> None:
        handle = self.handle(session_id)
        if handle is not None:
            handle.wake.set()

    def stop(
        self, store: Store, session_id: int, *, by: str, reason: str = ""
    ) -> LiveSessionRecord:
        """Ask the session to stop (``request_stop``, audited, on the caller's ``store``); it
        stops at its next poll, its positions closed as it was started to."""
        request_stop(store, session_id, by=by, reason=reason)
        self._wake(session_id)
        return store.session(session_id)

    def kill(
        self,
        store: Store,
        session_id: int,
        *,
        by: str,
        reason: str,
        close_positions: bool = True,
    ) -> list[LiveSessionRecord]:
        """Pull the kill switch on the session's strategy (``control.kill``: every running
        session of it): no new orders, pending ones cancelled, positions closed unless
        ``close_positions`` is False. Returns the sessions marked."""
        record = store.session(session_id)
        if not record.running:
            raise InvalidInputError(
                [f"session {session_id}: not running ({record.stop_reason})"], what="kill"
            )
        marked = kill(
            store, [record.strategy_id], by=by, reason=reason, close_positions=close_positions
        )
        for item in marked:
            self._wake(item.id)
        return marked

    def wait(self, session_id: int, timeout: float | None = None) -> bool:
        """Wait for the session's worker to end; return whether it has."""
        handle = self.handle(session_id)
        if handle is None:
            return True
        handle.thread.join(timeout)
        return not handle.alive

    def close(
        self, *, by: str, reason: str = "the server is stopping", timeout: float = 30.0
    ) -> None:
        """Stop every session this runner still runs and wait for them (a server's shutdown)."""
        alive = [item for item in self.sessions() if item.alive]
        if not alive:
            return
        with self._open() as store:
            for item in alive:
                if item.session_id is None:
                    continue
                try:
                    request_stop(store, item.session_id, by=by, reason=reason)
                except NlTraderError as error:  # it stopped meanwhile
                    log.info("session %s: %s", item.session_id, error)
                item.wake.set()
        for item in alive:
            item.thread.join(timeout)
