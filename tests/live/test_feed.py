"""The live bar feed decides once per closed bar, never on the forming one, and knows the server's clock.

Most tests run on ``StubTerminal``: a trade server written out by hand whose ticks arrive on a clock
the test moves, so a sleep, a disconnect, a weekend or a daylight-saving switch can be staged
exactly. The fake terminal shows the same on the bundled sample.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from nl_trader import mt5
from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.feed import FOREX_WEEK, BarFeed, ServerClock, TradingSchedule
from nl_trader.live.paper import paper_terminal
from nl_trader.live.structs import RATES_DTYPE, Tick, read_only

TF_S = 300  # M5
SUCCESS = (mt5.RES_S_OK, "Success")
NO_IPC = (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
WEDNESDAY = datetime(2025, 6, 4, 10, 0, 30, tzinfo=UTC)  # inside the forex week


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class ManualClock:
    """This computer's UTC clock, moved by hand; ``skew_s`` makes it wrong (a clock jump)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.skew_s = 0

    def __call__(self) -> datetime:
        return self.now + timedelta(seconds=self.skew_s)

    def monotonic_s(self) -> float:
        """Time as it really passes, whatever the skew."""
        return self.now.timestamp()


class SymbolTradeMode(NamedTuple):
    trade_mode: int


class StubTerminal:
    """EURUSD M5 as a trade server forms it: ticks on the server's wall clock (UTC + ``offset_s``)
    at least every 30 s while ``ticking``; a bar exists once its first tick has arrived, so the
    newest bar (position 0) is the one still forming."""

    def __init__(self, clock: ManualClock, *, offset_s: int = 7200, history_bars: int = 60) -> None:
        self.clock = clock
        self.offset_s = offset_s
        self.connected = True
        self.ticking = True
        self.history_lag_bars = 0  # bars the terminal has not loaded yet (after a reconnect)
        self.trade_mode = mt5.SYMBOL_TRADE_MODE_FULL
        self.rates_calls = 0
        self._error = SUCCESS
        now_s = self._server_s()
        first = now_s // TF_S * TF_S - history_bars * TF_S
        self._bars = [first + k * TF_S for k in range(history_bars)]
        self._tick_s = now_s
        self._tick()

    def _server_s(self) -> int:
        return int(self.clock.now.timestamp()) + self.offset_s

    def _tick(self) -> None:
        self._tick_s = self._server_s()
        open_s = self._tick_s // TF_S * TF_S
        if open_s > self._bars[-1]:
            self._bars.append(open_s)

    def move(self, seconds: int) -> None:
        """Let real time pass (the session asleep or busy); the server keeps ticking."""
        left = seconds
        while left > 0:
            step = min(30, left)
            self.clock.now += timedelta(seconds=step)
            left -= step
            if self.ticking:
                self._tick()

    def bar_times_s(self) -> list[int]:
        return list(self._bars)

    # ---- the MetaTrader5 functions the feed calls --------------------------------------------
    def _begin(self) -> bool:
        self._error = SUCCESS
        if not self.connected:
            self._error = NO_IPC
        return self.connected

    def last_error(self) -> tuple[int, str]:
        return self._error

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int, /
    ) -> Any:
        self.rates_calls += 1
        if not self._begin():
            return None
        bars = self._bars[: len(self._bars) - self.history_lag_bars]
        end = len(bars) - start_pos
        chosen = bars[max(0, end - count) : end]
        array = np.zeros(len(chosen), dtype=RATES_DTYPE)
        array["time"] = chosen
        price = 1.1 + (np.asarray(chosen) // TF_S % 1000) * 1e-5
        array["open"], array["high"], array["low"], array["close"] = (
            price,
            price + 2e-4,
            price - 2e-4,
            price + 1e-4,
        )
        array["spread"] = 12
        return read_only(array)

    def symbol_info(self, symbol: str, /) -> Any:
        return SymbolTradeMode(self.trade_mode) if self._begin() else None

    def symbol_info_tick(self, symbol: str, /) -> Any:
        if not self._begin():
            return None
        return Tick(
            time=self._tick_s,
            bid=1.1,
            ask=1.10012,
            last=0.0,
            volume=0,
            time_msc=self._tick_s * 1000,
            flags=mt5.TICK_FLAG_BID | mt5.TICK_FLAG_ASK,
            volume_real=0.0,
        )

    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool:
        return self._begin()


def stub_feed(
    start: datetime = WEDNESDAY,
    *,
    offset_s: int = 7200,
    configured_offset_s: int | None = None,
    history_bars: int = 20,
    **options: Any,
) -> tuple[StubTerminal, BarFeed, ManualClock]:
    clock = ManualClock(start)
    terminal = StubTerminal(clock, offset_s=offset_s)
    server_clock = ServerClock(
        offset_s if configured_offset_s is None else configured_offset_s,
        utc_now=clock,
        monotonic_s=clock.monotonic_s,
    )
    feed = BarFeed(
        terminal,  # type: ignore[arg-type]
        "EURUSD",
        "M5",
        history_bars=history_bars,
        clock=server_clock,
        **options,
    )
    return terminal, feed, clock


def fake_clock(fake: FakeTerminal, offset_s: int) -> ManualClock:
    """The fake's UTC clock: just after the last tick of the bar it replayed last."""

    class ReplayClock(ManualClock):
        def __call__(self) -> datetime:
            tick_s = int(fake.symbol_info_tick("EURUSD").time)
            return datetime.fromtimestamp(tick_s + 1 - offset_s, UTC)

    return ReplayClock(WEDNESDAY)


# ---- one decision per closed bar -----------------------------------------------------------
def test_each_bar_the_fake_terminal_closes_is_decided_exactly_once(fake: FakeTerminal) -> None:
    """On the fake's sample: the bar that closed before the start is skipped, then each
    replayed bar is decided once, five minutes after the previous one, as the frame's last row."""
    feed = BarFeed(
        fake, "EURUSD", "M5", history_bars=300, clock=ServerClock(0, utc_now=fake_clock(fake, 0))
    )
    first = feed.poll()
    assert first.ok
    assert first.new_bar is None
    assert any("closed before the feed started" in event for event in first.events)
    decided = []
    for _ in range(20):
        fake.advance(1)
        update = feed.poll()
        assert update.new_bar is not None
        assert update.new_bar == update.frame.index[-1]
        assert len(update.frame) == 300
        decided.append(update.new_bar)
        assert feed.poll().new_bar is None  # polling again before the next bar decides nothing
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(decided))
    assert feed.last_decided == decided[-1]


def test_the_forming_bar_is_in_the_terminals_answer_but_never_decided() -> None:
    """Position 0 is the bar still forming: it is neither in the frame nor decided on until its
    five minutes are over, and then it is decided once."""
    terminal, feed, _ = stub_feed()
    feed.poll()
    forming_utc = utc(2025, 6, 4, 10, 0)
    terminal.move(240)  # 10:04:30, the 10:00 bar still forming
    update = feed.poll()
    assert terminal.bar_times_s()[-1] - 7200 == int(forming_utc.timestamp())
    assert update.new_bar is None
    assert update.frame.index[-1] == forming_utc - timedelta(minutes=5)
    terminal.move(60)  # 10:05:30: the 10:00 bar closed, the 10:05 bar forming
    update = feed.poll()
    assert update.new_bar == forming_utc
    assert update.frame.index[-1] == forming_utc


def test_after_a_sleep_of_seven_bars_history_is_backfilled_six_missed_and_the_newest_decided() -> (
    None
):
    """Asleep for 35 minutes: the frame holds every bar again (indicators are right), the six
    older bars are reported missed, and only the newest, closed 30 s ago, is decided on."""
    terminal, feed, _ = stub_feed(history_bars=20)
    feed.poll()
    terminal.move(7 * TF_S)  # 10:35:30
    update = feed.poll()
    assert update.new_bar == utc(2025, 6, 4, 10, 30)
    assert update.missed == tuple(utc(2025, 6, 4, 10, minute) for minute in range(0, 30, 5))
    assert any("backfilled 7 bars" in event for event in update.events)
    assert len(update.frame) == 20
    assert set(np.diff(update.frame.index)) == {pd.Timedelta(minutes=5)}  # no gap in the history
    assert feed.poll().new_bar is None


# ---- disconnects and reloads -------------------------------------------------------------------
def test_a_disconnect_is_reported_not_decided_on_and_no_bar_is_decided_twice_after() -> None:
    """copy_rates_from_pos answers None with (-10004, 'No IPC connection'): the feed says so and
    decides nothing; after the reconnect the bars that closed meanwhile are backfilled, the newest
    decided once, and a history reload that goes back in time decides nothing again."""
    terminal, feed, _ = stub_feed()
    feed.poll()
    terminal.move(TF_S)
    decided = [feed.poll().new_bar]
    terminal.connected = False
    terminal.move(3 * TF_S)
    down = feed.poll()
    assert down.status == "disconnected"
    assert down.stale == "terminal not connected: (-10004, 'No IPC connection')"
    assert down.new_bar is None
    terminal.connected = True
    back = feed.poll()
    assert back.ok
    assert back.missed == (utc(2025, 6, 4, 10, 5), utc(2025, 6, 4, 10, 10))
    decided.append(back.new_bar)
    assert decided == [utc(2025, 6, 4, 10, 0), utc(2025, 6, 4, 10, 15)]
    terminal.history_lag_bars = 3  # the terminal reloads its history and lags behind
    reloaded = feed.poll()
    assert reloaded.new_bar is None
    assert any("older than one already seen" in event for event in reloaded.events)
    terminal.history_lag_bars = 0
    assert feed.poll().new_bar is None  # the 10:15 bar again: already decided


def test_after_a_reconnect_a_history_still_loading_is_not_traded_on() -> None:
    """Right after a reconnect the terminal's newest closed bar may be one that closed 15 minutes
    ago: its signal is stale, so it is reported missed; the next bar is decided when it closes."""
    terminal, feed, _ = stub_feed()
    feed.poll()
    terminal.connected = False
    terminal.move(4 * TF_S)  # 10:20:30
    feed.poll()
    terminal.connected = True
    terminal.history_lag_bars = 3  # newest loaded bar: 10:05 (closed 10:10)
    update = feed.poll()
    assert update.new_bar is None
    assert update.missed[-1] == utc(2025, 6, 4, 10, 5)
    terminal.history_lag_bars = 0
    update = feed.poll()
    assert update.new_bar == utc(2025, 6, 4, 10, 15)
    assert update.missed == (utc(2025, 6, 4, 10, 10),)


def test_a_restarted_session_never_decides_again_the_bar_decided_before_the_crash() -> None:
    """``decided_through`` is the store's last bar time: even with ``decide_first`` that bar is
    not decided again, and the next one is."""
    terminal, feed, clock = stub_feed()
    terminal.move(TF_S)
    feed.poll()
    terminal.move(TF_S)  # 10:10:30: the 10:05 bar decided
    last = feed.poll().new_bar
    assert last == utc(2025, 6, 4, 10, 5)
    restarted = BarFeed(
        terminal,  # type: ignore[arg-type]
        "EURUSD",
        "M5",
        history_bars=20,
        clock=ServerClock(7200, utc_now=clock, monotonic_s=clock.monotonic_s),
        decide_first=True,
        decided_through=last,
    )
    assert restarted.poll().new_bar is None
    terminal.move(TF_S)
    assert restarted.poll().new_bar == utc(2025, 6, 4, 10, 10)


def test_decide_first_takes_a_bar_that_just_closed_but_not_one_that_closed_long_ago() -> None:
    """A restart at 10:00:30 may still act on the 09:55 bar (closed 30 s ago); one whose terminal
    has loaded bars only up to 09:50 (closed 5.5 min ago) may not: that signal is stale."""
    _, feed, _ = stub_feed(decide_first=True)
    assert feed.poll().new_bar == utc(2025, 6, 4, 9, 55)
    terminal, feed, _ = stub_feed(decide_first=True)
    terminal.history_lag_bars = 2  # the forming 10:00 bar and the 09:55 bar not loaded yet
    update = feed.poll()
    assert update.new_bar is None
    assert update.missed == (utc(2025, 6, 4, 9, 50),)


def test_the_computers_clock_jumping_back_decides_no_bar_twice() -> None:
    """This computer's clock goes back an hour and is put right again: decisions follow the
    server's bar times, so nothing is decided again and the next bar is decided once."""
    terminal, feed, clock = stub_feed()
    feed.poll()
    terminal.move(TF_S)
    decided = [feed.poll().new_bar]
    clock.skew_s = -3600
    terminal.move(30)
    jumped = feed.poll()
    assert jumped.new_bar is None
    assert any("this computer's clock jumped by -60 min" in event for event in jumped.events)
    clock.skew_s = 0
    terminal.move(30)
    repaired = feed.poll()
    assert repaired.new_bar is None
    assert feed.clock.offset_s == 7200
    assert any("jumped by +60 min" in event for event in repaired.events)
    terminal.move(TF_S)
    decided.append(feed.poll().new_bar)
    assert decided == [utc(2025, 6, 4, 10, 0), utc(2025, 6, 4, 10, 5)]


# ---- the server's clock ------------------------------------------------------------------------
def test_a_daylight_saving_switch_is_found_from_tick_time_against_utc() -> None:
    """A New York + 7 h server runs at UTC+2 on Friday 7 March 2025 and UTC+3 when the market
    reopens on Sunday 9 March: the switch is reported, bars on both sides of it are at their true
    UTC times, and Friday's last bar (closed with the market) is decided at the week's first tick,
    as the backtest fills it at Sunday's open."""
    terminal, feed, clock = stub_feed(utc(2025, 3, 7, 21, 40, 30), offset_s=7200)
    feed.poll()
    terminal.move(19 * 60)  # 21:59:30, the last tick of the week
    assert feed.poll().new_bar == utc(2025, 3, 7, 21, 50)
    terminal.ticking = False
    terminal.move(60)
    closed = feed.poll()
    assert closed.status == "market_closed"
    assert closed.new_bar is None
    clock.now = utc(2025, 3, 9, 21, 0, 0)
    terminal.offset_s = 10800
    terminal.ticking = True
    terminal.move(30)
    reopened = feed.poll()
    assert feed.clock.offset_s == 10800
    assert any(
        "from UTC+02:00 to UTC+03:00 (a daylight-saving switch)" in event
        for event in reopened.events
    )
    assert reopened.ok
    assert reopened.new_bar == utc(2025, 3, 7, 21, 55)
    assert reopened.missed == ()
    terminal.move(TF_S)
    update = feed.poll()
    assert update.new_bar == utc(2025, 3, 9, 21, 0)  # 00:00 Monday on the server's clock
    assert list(update.frame.index[-3:]) == [
        utc(2025, 3, 7, 21, 50),
        utc(2025, 3, 7, 21, 55),
        utc(2025, 3, 9, 21, 0),
    ]


def test_a_profile_offset_the_ticks_contradict_is_reported_and_the_measured_one_wins() -> None:
    """The profile says UTC+0, the server's ticks say UTC+2: the feed uses UTC+2, says so, and
    the frame's times are UTC."""
    _, feed, _ = stub_feed(offset_s=7200, configured_offset_s=0)
    update = feed.poll()
    assert feed.clock.offset_s == 7200
    assert feed.clock.measured
    assert any(
        "profile says the trade server runs at UTC+00:00 but its ticks say UTC+02:00" in event
        for event in update.events
    )
    assert update.frame.index[-1] == utc(2025, 6, 4, 9, 55)


def test_an_offset_guessed_too_high_never_closes_the_forming_bar() -> None:
    """The profile says UTC+3 for a UTC+2 server: by that clock the forming bar ended an hour
    ago, but a tick an hour 'old' proves nothing, so the bar stays open until a fresh tick settles
    the offset at UTC+2."""
    terminal, feed, _ = stub_feed(offset_s=7200, configured_offset_s=10800, decide_first=True)
    first = feed.poll()
    assert not feed.clock.confirmed
    assert first.new_bar is None
    # Server 11:55 read at the guessed UTC+3; the forming 12:00 bar is left out.
    assert first.frame.index[-1] == utc(2025, 6, 4, 8, 55)
    terminal.move(30)
    second = feed.poll()
    assert feed.clock.offset_s == 7200
    assert second.frame.index[-1] == utc(2025, 6, 4, 9, 55)
    assert any("ticks say UTC+02:00" in event for event in second.events)


def test_an_old_tick_says_nothing_about_the_offset() -> None:
    """A tick from Friday evening read on Saturday is two days behind the clock: the last known
    offset stays and nothing is reported."""
    now = utc(2025, 6, 7, 12, 0)
    clock = ServerClock(7200, utc_now=lambda: now)
    friday_s = int(utc(2025, 6, 6, 21, 59, 58).timestamp()) + 7200
    old = Tick(
        time=friday_s,
        bid=1.1,
        ask=1.1001,
        last=0.0,
        volume=0,
        time_msc=friday_s * 1000,
        flags=6,
        volume_real=0.0,
    )
    assert clock.observe({"EURUSD": old}) == []
    assert clock.offset_s == 7200
    assert not clock.confirmed
    assert clock.to_utc(friday_s) == utc(2025, 6, 6, 21, 59, 58)


def test_frame_times_are_utc_on_a_fake_server_two_hours_ahead() -> None:
    """The fake's server runs at UTC+2 and the profile says UTC+0: the measured offset turns the
    server's bar times back into the sample's UTC times."""
    fake = FakeTerminal.with_sample(server_utc_offset_s=7200)
    assert fake.initialize()
    feed = BarFeed(
        fake,
        "EURUSD",
        "M5",
        history_bars=100,
        clock=ServerClock(0, utc_now=fake_clock(fake, 7200)),
    )
    update = feed.poll()
    assert feed.clock.offset_s == 7200
    assert str(pd.DatetimeIndex(update.frame.index).tz) == "UTC"
    sample = fake.replay.frames["EURUSD"].index  # type: ignore[union-attr]
    replayed = sample[: len(fake.replay.replayed_bars("EURUSD"))]  # type: ignore[union-attr]
    assert list(update.frame.index) == list(replayed[-100:])
    assert list(update.frame.columns) == ["open", "high", "low", "close", "spread"]


# ---- stale feeds -------------------------------------------------------------------------------
def test_no_tick_for_twelve_minutes_on_a_wednesday_is_a_stale_feed() -> None:
    """Inside the forex week, twelve minutes without a tick pauses trading as stale, and the bar
    that finished meanwhile is not decided on until ticks come back (then it is, at their first
    tick, as an MT5 expert would)."""
    terminal, feed, _ = stub_feed()
    feed.poll()
    terminal.ticking = False
    terminal.move(12 * 60)
    update = feed.poll()
    assert update.status == "stale"
    assert update.stale == "no tick for 12 min inside the session"
    assert update.new_bar is None
    terminal.ticking = True
    terminal.move(30)
    assert feed.poll().new_bar == utc(2025, 6, 4, 10, 0)


def test_no_tick_on_saturday_is_market_closed_not_stale() -> None:
    """After Friday 22:00 UTC the silence is the weekend: 'market closed', a quiet pause."""
    terminal, feed, _ = stub_feed(utc(2025, 6, 6, 21, 50, 30))
    feed.poll()
    terminal.move(9 * 60)
    terminal.ticking = False
    terminal.move(14 * 3600)  # Saturday noon
    update = feed.poll()
    assert update.status == "market_closed"
    assert update.stale == "market closed"
    assert update.new_bar is None


def test_a_disabled_symbol_pauses_the_feed() -> None:
    """symbol_info(symbol).trade_mode == SYMBOL_TRADE_MODE_DISABLED: no decision on its bars."""
    terminal, feed, _ = stub_feed()
    feed.poll()
    terminal.trade_mode = mt5.SYMBOL_TRADE_MODE_DISABLED
    terminal.move(TF_S)
    update = feed.poll()
    assert update.status == "disabled"
    assert update.stale == "symbol disabled (trade_mode 0)"
    assert update.new_bar is None


# ---- the trading week and bad input ------------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (utc(2025, 6, 4, 12, 0), True),  # Wednesday
        (utc(2025, 6, 6, 21, 59, 59), True),  # Friday, the last second
        (utc(2025, 6, 6, 22, 0), False),  # Friday close
        (utc(2025, 6, 7, 12, 0), False),  # Saturday
        (utc(2025, 6, 8, 21, 59), False),  # Sunday before the open
        (utc(2025, 6, 8, 22, 0), True),  # Sunday open
        (utc(2025, 6, 9, 0, 0), True),  # Monday midnight, inside the wrapped window
    ],
)
def test_the_forex_week_runs_from_sunday_to_friday_22_00_utc(
    moment: datetime, is_open: bool
) -> None:
    assert FOREX_WEEK.is_open(moment) is is_open


def test_a_custom_schedule_closes_where_it_says_and_names_its_last_close() -> None:
    """A symbol trading Monday to Friday 08:00-16:30 UTC is closed at 17:00, last closed 16:30."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri")
    schedule = TradingSchedule.weekly(*((f"{day} 08:00", f"{day} 16:30") for day in days))
    assert schedule.is_open(utc(2025, 6, 4, 9, 0))
    assert not schedule.is_open(utc(2025, 6, 4, 17, 0))
    assert schedule.last_close(utc(2025, 6, 4, 17, 0)) == utc(2025, 6, 4, 16, 30)
    assert TradingSchedule.always().last_close(utc(2025, 6, 4, 17, 0)) is None


def test_a_schedule_with_unreadable_times_is_refused_with_each_problem() -> None:
    with pytest.raises(InvalidInputError) as caught:
        TradingSchedule.weekly(("Funday 22:00", "Fri 25:00"))
    assert len(caught.value.problems) == 2


def test_a_feed_with_an_unknown_timeframe_and_no_history_is_refused() -> None:
    clock = ServerClock(0)
    with pytest.raises(InvalidInputError) as caught:
        BarFeed(StubTerminal(ManualClock(WEDNESDAY)), "EURUSD", "M7", history_bars=0, clock=clock)  # type: ignore[arg-type]
    assert [problem.split(":")[0] for problem in caught.value.problems] == [
        "timeframe",
        "history_bars",
    ]


def test_a_server_clock_offset_that_is_not_quarter_hours_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="quarter"):
        ServerClock(7000)


def test_on_the_paper_terminal_each_step_decides_the_bar_that_just_closed_not_the_open_one() -> (
    None
):
    """The paper terminal shows the bar in progress as its open (MT5's forming bar): with
    ``decide_first`` (a paper replay), every step decides the bar that closed, never that one.
    The paper terminal's times are the backtest's server's (the sample: New York + 7 h, UTC+3 in
    June), the feed's are UTC."""
    bars = sample_bars("EURUSD", "M5", bars=800)
    start = bars.index[600].to_pydatetime()
    paper = paper_terminal(bars, symbol="EURUSD", timeframe="M5", start=start, history_bars=300)
    offset_s = paper.server_utc_offset_s
    assert offset_s == 3 * 3600
    assert paper.initialize()
    feed = BarFeed(
        paper,
        "EURUSD",
        "M5",
        history_bars=200,
        clock=ServerClock(offset_s, utc_now=fake_clock(paper, offset_s)),
        decide_first=True,
    )
    for step in range(10):
        update = feed.poll()
        forming = paper.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 1)
        assert update.new_bar == bars.index[599 + step]
        assert int(forming["time"][0]) == int(bars.index[600 + step].timestamp()) + offset_s
        assert update.frame.index[-1] < bars.index[600 + step]
        paper.advance(1)
