"""The live bar feed: closed bars as they form on the terminal, and the trade server's clock.

MT5 pushes nothing: a session polls. Each ``BarFeed.poll()`` reads the terminal's newest bars
(``copy_rates_from_pos``, position 0 being the bar still forming) and answers what a strategy may
act on: the closed bars as a UTC frame (the whole window, re-read on every poll, so after a
disconnect or a sleep the indicators see every bar before anything is decided), at most one new
closed bar to decide on, the bars that closed while the session was away and will not be decided
on, and why trading must pause (terminal not connected, symbol disabled, market closed, no tick
for too long inside the session).

Bar and tick times are the trade server's wall clock encoded as if it were UTC. ``ServerClock``
finds the server's UTC offset from the terminal itself: a fresh tick's time against this
computer's UTC clock, rounded to a quarter hour, re-measured on every poll so a daylight-saving
switch (7200 -> 10800 for a New York + 7 h server) is seen and reported. The profile's offset is
only the first guess; when the ticks disagree the measured offset wins and the disagreement is
reported.

Decisions are keyed on the server's own bar times, never on this computer's clock: a bar is
decided at most once, never one older than the last decided, whatever the clocks do.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from nl_trader import mt5
from nl_trader.errors import InvalidInputError
from nl_trader.live.terminal import TerminalPort
from nl_trader.timeframes import TIMEFRAME_CODES, timeframe_seconds

UtcClock = Callable[[], datetime]
"""Returns the current moment as a timezone-aware UTC datetime."""

FeedStatus = Literal["ok", "disconnected", "disabled", "market_closed", "stale"]

FRAME_COLUMNS = ("open", "high", "low", "close", "spread")
_QUARTER_HOUR_S = 900
_WEEK_S = 7 * 86_400
_BEGINNING_S = -(2**62)
_IPC_CODES = frozenset(
    {
        mt5.RES_E_INTERNAL_FAIL,
        mt5.RES_E_INTERNAL_FAIL_SEND,
        mt5.RES_E_INTERNAL_FAIL_RECEIVE,
        mt5.RES_E_INTERNAL_FAIL_INIT,
        mt5.RES_E_INTERNAL_FAIL_CONNECT,
        mt5.RES_E_INTERNAL_FAIL_TIMEOUT,
    }
)
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WEEK_TIME = re.compile(r"^(?P<day>[a-z]{3})[a-z]*\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})$")


def system_utc_now() -> datetime:
    """This computer's clock in UTC: the live default of ``ServerClock``."""
    return datetime.now(UTC)


def format_offset(offset_s: int) -> str:
    """Write a UTC offset as a person reads it: 7200 is ``UTC+02:00``."""
    sign = "-" if offset_s < 0 else "+"
    hours, rest = divmod(abs(int(offset_s)) // 60, 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def _round_quarter_hour(seconds: float) -> int:
    return int((seconds + _QUARTER_HOUR_S / 2) // _QUARTER_HOUR_S) * _QUARTER_HOUR_S


def _utc(moment: datetime, field_name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(
            [f"{field_name}: {moment!r} has no time zone; give a UTC datetime"], what="bar feed"
        )
    return moment.astimezone(UTC)


# ---- the trade server's clock -----------------------------------------------------------------
class ServerClock:
    """The trade server's UTC offset, measured from tick times against UTC.

    ``configured_offset_s`` is the profile's offset (7200 for a GMT+2 server), used until a tick
    says otherwise. A tick counts as evidence only when it is known to be fresh: it is ahead of
    the current offset (a tick cannot come from the future), or it arrived since the last
    observation and that observation is at most ``max_tick_age_s`` old. An old tick (a quiet
    market, the weekend) says nothing about the offset: the last known one stays.

    ``utc_now`` is this computer's clock by default; a paper session on the fake terminal passes
    the fake's clock. ``monotonic_s`` measures the time between observations (it cannot jump when
    someone sets this computer's clock); a test that moves time by hand passes its own.
    ``symbols`` are extra symbols whose ticks are read on every measurement (the freshest
    counts), besides the symbol of the feed that measures.
    """

    def __init__(
        self,
        configured_offset_s: int = 0,
        *,
        utc_now: UtcClock = system_utc_now,
        monotonic_s: Callable[[], float] = time.monotonic,
        symbols: Sequence[str] = (),
        max_tick_age_s: int = 300,
    ) -> None:
        problems = []
        if isinstance(configured_offset_s, bool) or not isinstance(configured_offset_s, int):
            problems.append(f"configured_offset_s: {configured_offset_s!r} is not whole seconds")
        elif configured_offset_s % _QUARTER_HOUR_S or abs(configured_offset_s) > 14 * 3600:
            problems.append(
                f"configured_offset_s: {configured_offset_s} is not a whole number of quarter "
                "hours within ±14 h (a GMT+2 server is 7200)"
            )
        if not 0 < max_tick_age_s < _QUARTER_HOUR_S / 2:
            problems.append(
                f"max_tick_age_s: {max_tick_age_s} must be above 0 and under 450 s, or an old "
                "tick would round to the wrong quarter hour"
            )
        if problems:
            raise InvalidInputError(problems, what="server clock")
        self.configured_offset_s = configured_offset_s
        self.symbols = tuple(symbols)
        self.max_tick_age_s = max_tick_age_s
        self._utc_now = utc_now
        self._monotonic_s = monotonic_s
        self._offset_s = configured_offset_s
        self._measured = False  # an offset has been taken from (or confirmed by) a fresh tick
        self._confirmed = False  # the latest observation agrees with the offset
        self._last_confirmed_server_s: int | None = None
        self._last_msc: dict[str, int] = {}
        self._last_observed: tuple[float, float] | None = None  # (utc_s, monotonic_s)
        self._jump_s = 0.0  # how far this computer's clock jumped since the last observation
        # (from server second, offset): bars before a switch keep the offset they formed under.
        self._segments: list[tuple[int, int]] = [(_BEGINNING_S, configured_offset_s)]

    @property
    def offset_s(self) -> int:
        """Seconds the server's wall clock is ahead of UTC now (7200 for GMT+2)."""
        return self._offset_s

    @property
    def measured(self) -> bool:
        """Whether the offset comes from the terminal's ticks rather than the profile."""
        return self._measured

    @property
    def confirmed(self) -> bool:
        """Whether the latest ticks agree with the offset (False while a switch is in doubt)."""
        return self._confirmed

    def utc_now(self) -> datetime:
        """The current moment in UTC, from the clock this was given."""
        return _utc(self._utc_now(), "utc_now")

    def server_now_s(self) -> int:
        """The server's wall clock now, in epoch seconds as MT5 writes bar and tick times."""
        return int(self.utc_now().timestamp()) + self._offset_s

    def to_utc_s(self, server_s: np.ndarray) -> np.ndarray:
        """UTC epoch seconds of server times, each with the offset in force when it was seen."""
        times = np.asarray(server_s, dtype=np.int64)
        starts = np.array([start for start, _ in self._segments], dtype=np.int64)
        offsets = np.array([offset for _, offset in self._segments], dtype=np.int64)
        return times - offsets[np.searchsorted(starts, times, side="right") - 1]

    def to_utc(self, server_s: int) -> datetime:
        """The UTC moment of a server time (a bar's or a tick's ``time``)."""
        utc_s = int(self.to_utc_s(np.array([server_s]))[0])
        return datetime.fromtimestamp(utc_s, UTC)

    def to_server_s(self, moment: datetime) -> int:
        """The server time of a UTC moment, as MT5 would write it."""
        utc_s = int(_utc(moment, "moment").timestamp())
        for start, offset in reversed(self._segments):
            if utc_s + offset >= start:
                return utc_s + offset
        return utc_s + self._segments[0][1]

    def measure(self, terminal: TerminalPort, ticks: Mapping[str, Any] | None = None) -> list[str]:
        """Read the ticks of ``symbols`` (plus the ``ticks`` already read) and ``observe`` them."""
        readings = dict(ticks or {})
        for symbol in self.symbols:
            if symbol not in readings:
                readings[symbol] = terminal.symbol_info_tick(symbol)
        return self.observe(readings)

    def observe(self, ticks: Mapping[str, Any]) -> list[str]:
        """Re-measure the offset from tick records (``time``, ``time_msc``) by symbol; return
        what changed, in words (a daylight-saving switch, a disagreement with the profile)."""
        now_s, mono_s = self.utc_now().timestamp(), float(self._monotonic_s())
        recent, self._jump_s = False, 0.0
        if self._last_observed is not None:
            elapsed_s = mono_s - self._last_observed[1]
            recent = 0 <= elapsed_s <= self.max_tick_age_s
            self._jump_s = (now_s - self._last_observed[0]) - elapsed_s
        self._last_observed = (now_s, mono_s)
        freshest_s: int | None = None
        arrived_s: int | None = None  # the newest tick that arrived since the last observation
        for symbol, tick in ticks.items():
            if tick is None or int(tick.time) <= 0:
                continue
            tick_s = int(tick.time)
            msc = int(getattr(tick, "time_msc", 0) or tick_s * 1000)
            before = self._last_msc.get(symbol)
            self._last_msc[symbol] = msc
            freshest_s = tick_s if freshest_s is None else max(freshest_s, tick_s)
            if recent and before is not None and msc != before:
                arrived_s = tick_s if arrived_s is None else max(arrived_s, tick_s)
        if freshest_s is None:
            return []
        candidate = _round_quarter_hour(freshest_s - now_s)
        evidence_s = freshest_s
        if candidate < self._offset_s:
            # Behind the known offset: an old tick, or the clock went back. Only a tick that
            # just arrived can tell the two apart.
            if arrived_s is None:
                self._confirmed = False
                return []
            candidate, evidence_s = _round_quarter_hour(arrived_s - now_s), arrived_s
        if candidate == self._offset_s:
            self._agree(evidence_s)
            return []
        return self._switch(candidate, evidence_s)

    def _agree(self, evidence_s: int) -> None:
        self._confirmed = True
        self._last_confirmed_server_s = max(evidence_s, self._last_confirmed_server_s or evidence_s)
        self._measured = True

    def _switch(self, offset_s: int, evidence_s: int) -> list[str]:
        old = self._offset_s
        events = []
        if not self._measured or self._last_confirmed_server_s is None:
            # The profile's guess was never confirmed: every bar is on the measured clock.
            self._segments = [(_BEGINNING_S, offset_s)]
            events.append(
                f"server clock: the profile says the trade server runs at "
                f"{format_offset(self.configured_offset_s)} but its ticks say "
                f"{format_offset(offset_s)}; using {format_offset(offset_s)}"
            )
        else:
            boundary_s = self._last_confirmed_server_s + 1
            self._segments.append((boundary_s, offset_s))
            since = datetime.fromtimestamp(boundary_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
            if abs(self._jump_s) >= 60:
                cause = f"this computer's clock jumped by {round(self._jump_s / 60):+d} min"
            elif abs(offset_s - old) == 3600:
                cause = "a daylight-saving switch"
            else:
                cause = "the server's clock was changed"
            events.append(
                f"server clock: the trade server moved from {format_offset(old)} to "
                f"{format_offset(offset_s)} ({cause}); bars from server time {since} on are "
                "converted with the new offset"
            )
        self._offset_s = offset_s
        self._measured = True
        self._confirmed = True
        self._last_confirmed_server_s = evidence_s
        return events


# ---- when the market trades -----------------------------------------------------------------
@dataclass(frozen=True)
class TradingSchedule:
    """When a symbol trades each week, in UTC: windows of seconds from Monday 00:00 UTC.

    Outside these windows an absence of ticks is "market closed" (pause quietly); inside them it
    is a stale feed. Fresh ticks that arrive after the schedule's close (a broker that opens an
    hour early in US summer time) count as an open market.
    """

    windows: tuple[tuple[int, int], ...]

    @classmethod
    def weekly(cls, *windows: tuple[str, str]) -> TradingSchedule:
        """A schedule from ``("Sun 22:00", "Fri 22:00")``-style UTC windows (start, end)."""
        problems: list[str] = []
        parsed: list[tuple[int, int]] = []
        for k, (start, end) in enumerate(windows):
            begin_s = _week_seconds(start, f"windows[{k}].start", problems)
            end_s = _week_seconds(end, f"windows[{k}].end", problems)
            if begin_s is None or end_s is None:
                continue
            if begin_s == end_s:
                problems.append(f"windows[{k}]: {start!r} to {end!r} is empty")
            parsed.append((begin_s, end_s))
        if not windows:
            problems.append("windows: give at least one (start, end) window")
        if problems:
            raise InvalidInputError(problems, what="trading schedule")
        return cls(tuple(parsed))

    @classmethod
    def always(cls) -> TradingSchedule:
        """A market that never closes (crypto CFDs; a paper replay that only has trading bars)."""
        return cls(((0, _WEEK_S),))

    def is_open(self, moment: datetime) -> bool:
        """Whether the market trades at ``moment`` (UTC)."""
        second = _second_of_week(moment)
        return any(_inside(second, start, end) for start, end in self.windows)

    def last_close(self, moment: datetime) -> datetime | None:
        """The latest window end at or before ``moment``; None for a market that never closes."""
        utc = _utc(moment, "moment")
        week_start = (utc - timedelta(seconds=_second_of_week(utc))).replace(microsecond=0)
        ends = []
        for _, end in self.windows:
            if end >= _WEEK_S:
                continue
            close = week_start + timedelta(seconds=end)
            ends.append(close if close <= utc else close - timedelta(days=7))
        return max(ends) if ends else None


def _week_seconds(text: str, field_name: str, problems: list[str]) -> int | None:
    match = _WEEK_TIME.match(text.strip().lower()) if isinstance(text, str) else None
    day = _DAYS.get(match.group("day")) if match else None
    if match is None or day is None:
        problems.append(f"{field_name}: {text!r} is not a weekday and UTC time like 'Sun 22:00'")
        return None
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        problems.append(f"{field_name}: {text!r} is not a time of day")
        return None
    return (day * 86_400 + hour * 3600 + minute * 60) % _WEEK_S


def _second_of_week(moment: datetime) -> int:
    utc = _utc(moment, "moment")
    return utc.weekday() * 86_400 + utc.hour * 3600 + utc.minute * 60 + utc.second


def _inside(second: int, start: int, end: int) -> bool:
    if start < end:
        return start <= second < end
    return second >= start or second < end  # the window wraps over Monday 00:00


FOREX_WEEK = TradingSchedule.weekly(("Sun 22:00", "Fri 22:00"))
"""The forex week as price files and most brokers give it: Sunday 22:00 to Friday 22:00 UTC."""


# ---- the feed -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedUpdate:
    """What one poll found: the closed bars, at most one bar to decide on, and why not.

    ``frame``: closed bars, oldest first, UTC index, columns open high low close spread.
    ``new_bar``: the UTC open time of the newest closed bar when the strategy should decide on
    it now (it is ``frame``'s last row), else None. ``missed``: UTC open times of bars that closed
    while the session was away (asleep, disconnected, paused) and will never be decided on.
    ``stale``: why trading must pause, in words, or None. ``events``: notes for the journal.
    """

    status: FeedStatus
    frame: pd.DataFrame
    new_bar: datetime | None = None
    missed: tuple[datetime, ...] = ()
    stale: str | None = None
    events: tuple[str, ...] = ()
    checked_at: datetime = field(default_factory=system_utc_now)

    @property
    def ok(self) -> bool:
        """Whether prices are live and the strategy may trade on them."""
        return self.status == "ok"


def empty_frame() -> pd.DataFrame:
    """A frame of no bars, with the feed's columns and a UTC index."""
    return pd.DataFrame(
        {column: pd.Series(dtype="float64") for column in FRAME_COLUMNS},
        index=pd.DatetimeIndex([], tz=UTC),
    )


class BarFeed:
    """Closed bars of one symbol and timeframe as they form on the terminal, decided once each.

    ``history_bars``: how many closed bars each frame holds (enough for the indicators' warm-up).
    ``stale_after_s``: no tick for this long inside the ``schedule`` pauses trading (600: ten
    minutes of silence on EURUSD on a weekday is a broken feed, not a quiet market).
    ``decide_first``: decide on the newest closed bar at the first poll (a paper replay decides on
    every bar; a restart may decide on a bar that closed moments ago). Otherwise the first bar
    seen closed before the feed started and its signal is stale. ``decided_through``: the UTC
    open time of the last bar a previous run decided on (the session's ``last_bar_time``): it and
    every older bar are never decided again.
    """

    def __init__(
        self,
        terminal: TerminalPort,
        symbol: str,
        timeframe: str,
        *,
        history_bars: int,
        clock: ServerClock,
        stale_after_s: int = 600,
        schedule: TradingSchedule = FOREX_WEEK,
        decide_first: bool = False,
        decided_through: datetime | None = None,
    ) -> None:
        problems = []
        if timeframe not in TIMEFRAME_CODES:
            problems.append(
                f"timeframe: {timeframe!r} is not one of {', '.join(TIMEFRAME_CODES)} (e.g. 'M5')"
            )
        if isinstance(history_bars, bool) or not isinstance(history_bars, int) or history_bars < 1:
            problems.append(f"history_bars: {history_bars!r} must be a whole number of bars >= 1")
        if not stale_after_s > 0:
            problems.append(f"stale_after_s: {stale_after_s!r} must be above 0 seconds")
        if not symbol:
            problems.append("symbol: give the terminal's symbol name, e.g. 'EURUSD'")
        if problems:
            raise InvalidInputError(problems, what="bar feed")
        self.terminal = terminal
        self.symbol = symbol
        self.timeframe = timeframe
        self.timeframe_code = TIMEFRAME_CODES[timeframe]
        self.timeframe_s = timeframe_seconds(timeframe)
        self.history_bars = history_bars
        self.clock = clock
        self.stale_after_s = stale_after_s
        self.schedule = schedule
        self.decide_first = decide_first
        self._restored_utc = (
            None if decided_through is None else _utc(decided_through, "decided_through")
        )
        self._seen_server_s: int | None = None  # the newest closed bar already judged
        self._decided_server_s: int | None = None
        self._decided_utc: datetime | None = self._restored_utc
        self._frame = empty_frame()

    @property
    def last_decided(self) -> datetime | None:
        """UTC open time of the last bar handed out to decide on (or restored), else None."""
        return self._decided_utc

    @property
    def frame(self) -> pd.DataFrame:
        """The closed bars of the last poll that reached the terminal."""
        return self._frame

    def poll(self) -> FeedUpdate:
        """Read the terminal once: the closed bars, the bar to decide on if any, and why not."""
        events: list[str] = []
        terminal = self.terminal
        rates = terminal.copy_rates_from_pos(
            self.symbol, self.timeframe_code, 0, self.history_bars + 1
        )
        if rates is None:
            return self._halt(self._failure("copy_rates_from_pos"), events)
        info = terminal.symbol_info(self.symbol)
        if info is None:
            return self._halt(self._failure("symbol_info"), events)
        if int(info.trade_mode) == mt5.SYMBOL_TRADE_MODE_DISABLED:
            return self._halt(
                ("disabled", f"symbol disabled (trade_mode {int(info.trade_mode)})"), events
            )
        tick = terminal.symbol_info_tick(self.symbol)
        if tick is None and terminal.symbol_select(self.symbol, True):
            tick = terminal.symbol_info_tick(self.symbol)  # a tick needs the Market Watch
        tick_error = None if tick is not None else terminal.last_error()
        events += self.clock.measure(terminal, {self.symbol: tick})
        utc_now = self.clock.utc_now()
        server_now_s = self.clock.server_now_s()
        tick_s = int(tick.time) if tick is not None and int(tick.time) > 0 else None

        frame, closed_s, forming_s = self._closed(rates, tick_s, server_now_s)
        self._frame = frame
        if tick_s is None:
            code, message = tick_error or (0, "")
            reason = f"no tick for {self.symbol}: ({code}, {message!r})"
            return self._update("stale", frame, reason, events, utc_now)
        state = self._market(tick_s, server_now_s, utc_now)
        if state is not None:
            return self._update(state[0], frame, state[1], events, utc_now)
        if not len(closed_s):
            return self._update("ok", frame, None, events, utc_now)
        return self._judge(frame, closed_s, forming_s, server_now_s, events, utc_now)

    # ---- helpers ---------------------------------------------------------------------------
    def _failure(self, call: str) -> tuple[FeedStatus, str]:
        code, message = self.terminal.last_error()
        if code in _IPC_CODES:
            return "disconnected", f"terminal not connected: ({code}, {message!r})"
        return "disconnected", f"{call}({self.symbol}) failed: ({code}, {message!r})"

    def _halt(self, state: tuple[FeedStatus, str], events: list[str]) -> FeedUpdate:
        return self._update(state[0], self._frame, state[1], events, self.clock.utc_now())

    def _update(
        self,
        status: FeedStatus,
        frame: pd.DataFrame,
        stale: str | None,
        events: list[str],
        utc_now: datetime,
        *,
        new_bar: datetime | None = None,
        missed: tuple[datetime, ...] = (),
    ) -> FeedUpdate:
        return FeedUpdate(
            status=status,
            frame=frame,
            new_bar=new_bar,
            missed=missed,
            stale=stale,
            events=tuple(events),
            checked_at=utc_now,
        )

    def _bar_end_s(self, open_s: int) -> int:
        if self.timeframe != "MN1":
            return open_s + self.timeframe_s
        start = datetime.fromtimestamp(open_s, UTC)
        days = calendar.monthrange(start.year, start.month)[1]
        return open_s + days * 86_400

    def _closed(
        self, rates: Any, tick_s: int | None, server_now_s: int
    ) -> tuple[pd.DataFrame, np.ndarray, int | None]:
        """The closed bars as a UTC frame, their server open times, and the server open time
        of the bar still forming (None when the newest bar is closed)."""
        if len(rates) == 0:
            return empty_frame(), np.zeros(0, dtype=np.int64), None
        times = np.asarray(rates["time"], dtype=np.int64)
        order = np.argsort(times, kind="stable")
        keep = order[np.concatenate(([True], np.diff(times[order]) > 0))]
        rates, times = rates[keep], times[keep]
        # Every bar but the last has a later one, so it is closed. The last is closed once its
        # period is over on the server's clock: by the tick's own time, or by this computer's
        # clock when the measured offset is not in doubt (a quiet market forms no new bar).
        known_now = max(
            tick_s or _BEGINNING_S, server_now_s if self.clock.confirmed else _BEGINNING_S
        )
        forming_s = None
        if self._bar_end_s(int(times[-1])) > known_now:
            forming_s = int(times[-1])
            rates, times = rates[:-1], times[:-1]
        rates, times = rates[-self.history_bars :], times[-self.history_bars :]
        index = pd.DatetimeIndex(pd.to_datetime(self.clock.to_utc_s(times), unit="s", utc=True))
        frame = pd.DataFrame(
            {column: np.asarray(rates[column], dtype="float64") for column in FRAME_COLUMNS},
            index=index,
        )
        return frame, times, forming_s

    def _market(
        self, tick_s: int, server_now_s: int, utc_now: datetime
    ) -> tuple[FeedStatus, str] | None:
        """Why prices are not live now (market closed, stale), or None."""
        age_s = server_now_s - tick_s
        fresh = age_s <= self.stale_after_s
        if not self.schedule.is_open(utc_now):
            close = self.schedule.last_close(utc_now)
            ticking_since_close = close is not None and self.clock.to_utc(tick_s) > close
            if not (fresh and ticking_since_close):
                return "market_closed", "market closed"
            return None
        if not fresh:
            return "stale", f"no tick for {age_s // 60} min inside the session"
        return None

    def _judge(
        self,
        frame: pd.DataFrame,
        closed_s: np.ndarray,
        forming_s: int | None,
        server_now_s: int,
        events: list[str],
        utc_now: datetime,
    ) -> FeedUpdate:
        """Pick the bar to decide on: the newest closed bar, once, if its signal is fresh.

        Fresh is what an MT5 expert sees at the first tick after a bar: the bar closed less than
        one bar ago, or the bar after it (the first tick after it) opened less than one bar ago.
        So Friday's last bar is decided at Sunday's first tick, as the backtest fills it at
        Sunday's open; a bar the terminal shows only after a reconnect, with ticks long past it,
        is not."""
        newest_s = int(closed_s[-1])
        first = self._seen_server_s is None
        if first:
            unseen = closed_s[-1:] if self.decide_first else closed_s[:0]
            if not self.decide_first:
                events.append(
                    f"the bar of {frame.index[-1].isoformat()} closed before the feed started: "
                    "its signal is stale, not decided on"
                )
        else:
            seen = int(self._seen_server_s or 0)
            if newest_s < seen:
                events.append(
                    f"the terminal's newest closed bar ({frame.index[-1].isoformat()}) is older "
                    "than one already seen (history reloaded or the clock went back): nothing "
                    "is decided until a newer bar closes"
                )
                return self._update("ok", frame, None, events, utc_now)
            unseen = closed_s[closed_s > seen]
        self._seen_server_s = newest_s if first else max(newest_s, int(self._seen_server_s or 0))
        if not len(unseen):
            return self._update("ok", frame, None, events, utc_now)
        utc_of = dict(
            zip(
                closed_s.tolist(),
                pd.DatetimeIndex(frame.index).to_pydatetime().tolist(),
                strict=True,
            )
        )
        candidate_s = int(unseen[-1])
        candidate = utc_of[candidate_s]
        missed = [utc_of[int(s)] for s in unseen[:-1]]
        if len(unseen) > 1:
            events.append(
                f"backfilled {len(unseen)} bars that closed while away "
                f"({missed[0].isoformat()} to {candidate.isoformat()}); only the newest may be "
                "decided on"
            )
        closed_ago_s = server_now_s - self._bar_end_s(candidate_s)
        late_s = closed_ago_s if forming_s is None else server_now_s - forming_s
        already = (
            self._decided_server_s is not None and candidate_s <= self._decided_server_s
        ) or (self._restored_utc is not None and candidate <= self._restored_utc)
        if already or late_s >= self.timeframe_s:
            if not already:
                missed.append(candidate)
                events.append(
                    f"the bar of {candidate.isoformat()} closed {closed_ago_s // 60} min ago, "
                    "more than one bar ago: its signal is stale, not decided on"
                )
            return self._update("ok", frame, None, events, utc_now, missed=tuple(missed))
        self._decided_server_s = candidate_s
        self._decided_utc = candidate
        return self._update(
            "ok", frame, None, events, utc_now, new_bar=candidate, missed=tuple(missed)
        )
