"""The drift monitor: a session's trades against the backtest on the very bars it saw.

The product's promise is that paper trading and backtests do not drift apart: the paper terminal
runs the backtester's fill engine. A paper session on the bars its backtest held out must match the
backtest trade for trade; worse execution, or a trade the backtest would not have made, is flagged
naming the trade and the figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from nl_trader.backtest.engine import BacktestSettings, run_backtest
from nl_trader.data.timezones import BROKER_ZONE
from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import approve
from nl_trader.live.accounts import PAPER_PROFILE
from nl_trader.live.drift import (
    DriftMonitor,
    DriftReport,
    RoundTrip,
    compare,
    expected_trades,
    live_trades_from_journal,
)
from nl_trader.live.drift_thresholds import DriftThresholds, thresholds_from_config
from nl_trader.live.paper import paper_terminal
from nl_trader.live.session import LiveSession, start_session
from nl_trader.spec import StrategySpec
from nl_trader.store import JournalEntry, Store
from nl_trader.symbols import symbol_spec
from tests.store.builders import PASSED, copy_template, example_spec, sample

EURUSD = symbol_spec("EURUSD")
PIP = EURUSD.pip_size


@dataclass
class PaperRun:
    """A paper session of strategy 1 on its held-out bars, watched by a drift monitor."""

    session: LiveSession
    monitor: DriftMonitor
    journal: list[JournalEntry]
    frame: pd.DataFrame  # the bars the monitor collected from the session's feed
    report: DriftReport  # after the session stopped
    settings: BacktestSettings
    spec: StrategySpec


def _paper_run(
    factory: pytest.TempPathFactory,
    *,
    terminal_settings: BacktestSettings | None = None,
    pause_on_alert: bool = False,
) -> PaperRun:
    copy = copy_template(factory, factory.mktemp("drift"))
    store = Store(copy.db, clock=copy.clock)
    approve(store, PASSED, run_id=1, by="risk officer")
    run = store.run(1)
    assert run.oos_start is not None
    settings = BacktestSettings(**run.settings)  # the approved run's account and costs
    spec = store.current_version(PASSED).spec
    terminal = paper_terminal(
        sample(example_spec()),
        symbol="EURUSD",
        timeframe="H1",
        start=run.oos_start,
        settings=terminal_settings or settings,
    )
    monitor = DriftMonitor(spec, settings, pause_on_alert=pause_on_alert)
    session = start_session(
        store, PASSED, profile=PAPER_PROFILE, terminal=terminal, by="trader", drift=monitor
    )
    session.run()
    journal = store.journal(session.session_id)
    report = monitor.update(session.feed.frame, journal)
    frame = monitor.bars.copy()
    store.close()
    return PaperRun(session, monitor, journal, frame, report, settings, spec)


def _shared_run(factory: pytest.TempPathFactory, **options: Any) -> PaperRun:
    """A run shared by the module's tests, in the test run's environment (tests/conftest.py's
    autouse fixtures are per test: a module's fixture sets the same things itself)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NL_TRADER_AUDIT_KEY", str(factory.getbasetemp() / "audit.key"))
        env.setenv("NL_TRADER_KILL_FILE", str(factory.mktemp("kill") / "KILL"))
        env.delenv("NL_TRADER_TERMINAL", raising=False)
        return _paper_run(factory, **options)


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> PaperRun:
    return _shared_run(tmp_path_factory)


@pytest.fixture(scope="module")
def slipping(tmp_path_factory: pytest.TempPathFactory) -> PaperRun:
    """The same session on a terminal that fills market orders 20 points (2 pips) worse."""
    return _shared_run(tmp_path_factory, terminal_settings=BacktestSettings(slippage_points=20))


def _compare(
    run: PaperRun,
    journal: list[JournalEntry] | None = None,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """The comparison the monitor makes, on ``journal`` instead of the session's own."""
    monitor = DriftMonitor(run.spec, run.settings, thresholds, start=run.monitor.start)
    return monitor.update(run.frame, run.journal if journal is None else journal)


def _entry(entry_id: int, payload: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        id=entry_id,
        session_id=1,
        kind="execution",
        order_id=payload.get("order_id"),
        state="filled",
        payload=payload,
        event_time=None,
        recorded_at=datetime(2025, 9, 1, tzinfo=UTC),
    )


def _execution(
    entry_id: int,
    moment: datetime | str,
    order_type: str,
    entry: str,
    price: float,
    *,
    volume: float = 0.1,
    position: str = "900",
    profit: float = 0.0,
    reason: str = "expert",
) -> JournalEntry:
    """An execution payload as the session journals it (events.OrderEvent.to_payload)."""
    return _entry(
        entry_id,
        {
            "order_id": str(entry_id),
            "deal_id": str(8_000 + entry_id),
            "type": order_type,
            "entry": entry,
            "fill_price": price,
            "fill_volume": volume,
            "profit": profit,
            "commission": 0.0,
            "swap": 0.0,
            "position_id": position,
            "reason": reason,
            "time": moment.isoformat() if isinstance(moment, datetime) else moment,
        },
    )


# ---- the promise: paper trading does not drift from the backtest ------------------------------
def test_a_paper_session_on_held_out_bars_matches_its_backtest_trade_for_trade(
    paper: PaperRun,
) -> None:
    report = paper.report
    entries = [e for e in paper.journal if e.kind == "execution" and e.payload["entry"] == "in"]
    assert len(entries) >= 4
    assert report.ok, report.text()
    assert len(report.rows) == len(entries)  # every live trade has its backtest counterpart
    assert {row.status for row in report.rows} <= {"matched", "open"}
    assert report.count("matched") >= 3
    for row in report.rows:
        assert row.live is not None
        assert row.expected is not None
        assert row.entry_delay_bars == 0
        assert row.entry_slippage_pips == 0.0
        assert row.volume_diff_lots == 0.0
        assert row.spread_diff_pips == 0.0
        if row.status == "matched":
            assert row.exit_delay_bars == 0
            assert row.exit_slippage_pips == 0.0
            assert row.pnl_diff == 0.0
            assert row.live.exit_reason == row.expected.exit_reason


def test_the_last_position_the_session_closed_at_its_stop_is_open_in_the_backtest(
    paper: PaperRun,
) -> None:
    """The test's end and the session's stop both close what is open: neither is an exit the
    strategy chose, so the last trade is compared on its entry only, without an alert."""
    last = paper.report.rows[-1]
    assert last.status == "open"
    assert last.live is not None
    assert last.live.closed
    assert last.expected is not None
    assert not last.expected.closed
    assert last.alerts == ()


def test_the_monitor_compares_from_the_sessions_first_decided_bar(paper: PaperRun) -> None:
    """The backtest decides from the bar the session decided on first, with the feed's window
    before it as history (the indicators' warm-up)."""
    first_bar = paper.session.summary.first_bar
    assert first_bar is not None
    assert paper.report.compared_from == datetime.fromisoformat(first_bar)
    history = paper.frame[paper.frame.index < pd.Timestamp(first_bar)]
    assert len(history) >= paper.monitor.warmup_bars


# ---- the backtest side -------------------------------------------------------------------------
def test_expected_trades_deciding_from_the_first_bar_are_the_backtests_trades() -> None:
    spec = example_spec()
    bars = sample(spec)[["open", "high", "low", "close", "spread"]]
    result = run_backtest(spec, bars)
    closed = [t for t in result.closed_trades() if t.deal_ticket not in result.end_of_test_deals]
    trips = expected_trades(spec, bars, start=bars.index[0].to_pydatetime())
    done = [trip for trip in trips if trip.closed]
    assert len(done) == len(closed) > 10
    assert [t.exit_time for t in done] == [t.time for t in closed]
    assert [t.net_profit for t in done] == pytest.approx([t.net_profit for t in closed])
    assert [t.side for t in done] == [t.side for t in closed]


def test_the_backtest_starts_flat_at_the_start_even_where_the_full_run_holds_a_position() -> None:
    spec = example_spec()
    bars = sample(spec)[["open", "high", "low", "close", "spread"]]
    full = expected_trades(spec, bars, start=bars.index[0].to_pydatetime())
    held = next(
        t
        for t in full
        if t.exit_time is not None and t.exit_time - t.entry_time > timedelta(hours=6)
    )
    assert held.exit_time is not None
    start = held.entry_time + timedelta(hours=2)  # the full run is in that trade here
    later = expected_trades(spec, bars, start=start)
    # Nothing is entered before the first decision fills, at the open after ``start``.
    assert later[0].entry_time > start
    assert all(t.entry_time != held.entry_time for t in later)
    # After the full run is flat again, the two agree: the start changed nothing else.
    after = [t.entry_time for t in full if t.entry_time > held.exit_time]
    assert after[:3] == [t.entry_time for t in later][-len(after) :][:3]


def test_expected_trades_on_no_bars_is_an_error() -> None:
    empty = sample(example_spec()).iloc[:0]
    with pytest.raises(InvalidInputError, match="bars: no bars"):
        expected_trades(example_spec(), empty, start=datetime(2025, 6, 2, tzinfo=UTC))


# ---- injected drift ----------------------------------------------------------------------------
def test_a_terminal_filling_two_pips_worse_is_flagged_naming_each_trade_and_the_pips(
    slipping: PaperRun,
) -> None:
    report = slipping.report
    assert not report.ok
    slipped = [row for row in report.rows if row.live is not None and row.expected is not None]
    assert len(slipped) >= 4
    for row in slipped:
        assert row.live is not None
        assert row.entry_slippage_pips == 2.0  # against the trader: buys higher, sells lower
        alert = next(a for a in row.alerts if "entry slippage" in a)
        assert f"position {row.live.position_id}" in alert
        assert f"{row.live.entry_time:%Y-%m-%d %H:%M} UTC" in alert
        assert "2.0 pips against the trader (threshold 1 pips)" in alert
        if row.status == "matched":
            # 2 pips on 0.1 lot of EURUSD is 2 USD less.
            assert row.pnl_diff == pytest.approx(-2.0)


def test_slippage_within_the_threshold_is_shown_but_not_an_alert(slipping: PaperRun) -> None:
    report = _compare(slipping, thresholds=DriftThresholds(max_slippage_pips=2.0))
    assert report.ok
    assert {row.entry_slippage_pips for row in report.rows} == {2.0}


def test_a_session_pauses_on_a_drift_alert_when_its_monitor_asks(
    tmp_path_factory: pytest.TempPathFactory, slipping: PaperRun
) -> None:
    paused = _paper_run(
        tmp_path_factory,
        terminal_settings=BacktestSettings(slippage_points=20),
        pause_on_alert=True,
    )
    assert paused.session.paused is not None
    assert paused.session.paused.startswith("drift: ")
    assert "entry slippage 2.0 pips" in paused.session.paused
    notes = [e for e in paused.journal if e.kind == "drift"]
    # The alert is journaled when first raised, then the pause it causes.
    assert [e.state for e in notes[:2]] == ["alert", "paused"]
    assert "entry slippage 2.0 pips" in notes[0].payload["alerts"][0]
    assert {e.state for e in notes} == {"alert", "paused"}
    # Paused, it sent no new entry: the backtest's later trades were not made live.
    assert paused.session.summary.orders_sent < slipping.session.summary.orders_sent
    assert paused.report.count("backtest only") >= 1


def test_one_fill_shifted_in_the_journal_is_flagged_on_that_trade_alone(paper: PaperRun) -> None:
    fills = [e for e in paper.journal if e.kind == "execution" and e.payload["entry"] == "in"]
    target = fills[1]
    shift = 2 * PIP if target.payload["type"] == "buy" else -2 * PIP  # worse for the trader
    moved = replace(
        target, payload={**target.payload, "fill_price": target.payload["fill_price"] + shift}
    )
    journal = [moved if e.id == target.id else e for e in paper.journal]
    report = _compare(paper, journal)
    position = target.payload["position_id"]
    assert len(report.alerts) == 1
    assert f"(position {position}): entry slippage 2.0 pips against the trader" in report.alerts[0]
    (row,) = [r for r in report.rows if r.alerts]
    assert row.live is not None
    assert row.live.position_id == position


def test_an_extra_live_trade_the_backtest_would_not_have_made_is_unmatched(
    paper: PaperRun,
) -> None:
    # A buy and its close on a quiet Tuesday, where the backtest has no trade.
    trades = paper.report.rows
    quiet = trades[0].trade.entry_time - timedelta(hours=20)
    assert paper.report.compared_from is not None
    assert quiet > paper.report.compared_from
    extra = [
        _execution(90_001, quiet, "buy", "in", 1.16, position="777"),
        _execution(90_002, quiet + timedelta(hours=3), "sell", "out", 1.161, position="777"),
    ]
    report = _compare(paper, [*paper.journal, *extra])
    (row,) = [r for r in report.rows if r.status == "live only"]
    assert row.live is not None
    assert row.live.position_id == "777"
    assert row.alerts == (
        f"long 0.1 lots entered {quiet:%Y-%m-%d %H:%M} UTC (position 777): a live trade the "
        "backtest would not have made (no backtest long entry within 1 bar(s))",
    )
    assert report.alerts == row.alerts  # the others still match
    tolerant = _compare(paper, [*paper.journal, *extra], DriftThresholds(max_unmatched_trades=1))
    assert tolerant.ok
    assert tolerant.count("live only") == 1


def test_a_backtest_trade_not_made_live_is_flagged(paper: PaperRun) -> None:
    first = next(e for e in paper.journal if e.kind == "execution" and e.payload["entry"] == "in")
    position = first.payload["position_id"]
    journal = [
        e for e in paper.journal if e.kind != "execution" or e.payload["position_id"] != position
    ]
    report = _compare(paper, journal)
    (row,) = [r for r in report.rows if r.status == "backtest only"]
    assert row.expected is not None
    assert row.expected.entry_time == datetime.fromisoformat(first.payload["time"])
    assert "the backtest's trade was not made live" in row.alerts[0]


# ---- the comparison's rules ------------------------------------------------------------------
_BARS = pd.date_range("2025-06-02 00:00", periods=48, freq="h", tz="UTC")


def _trip(hour: int, side: str = "long", **fields: Any) -> RoundTrip:
    return RoundTrip(
        side=side,  # type: ignore[arg-type]
        volume_lots=0.1,
        entry_time=_BARS[hour].to_pydatetime(),
        entry_price=1.1,
        **fields,
    )


def _closed(trip: RoundTrip, hour: int, price: float, net: float) -> RoundTrip:
    return replace(
        trip,
        exit_time=_BARS[hour].to_pydatetime(),
        exit_price=price,
        net_profit=net,
        exit_reason="tp",
    )


def test_a_trade_entered_one_bar_late_matches_within_the_default_delay() -> None:
    report = compare([_trip(11)], [_trip(10)], pip_size=PIP, bar_times=_BARS[:20], timeframe="H1")
    (row,) = report.rows
    assert (row.status, row.entry_delay_bars, row.entry_slippage_pips) == ("open", 1, None)
    assert report.ok


def test_trades_on_opposite_sides_never_match() -> None:
    report = compare(
        [_trip(10, "short")],
        [_trip(10, "long")],
        pip_size=PIP,
        bar_times=_BARS[:20],
        timeframe="H1",
    )
    assert sorted(row.status for row in report.rows) == ["backtest only", "live only"]
    assert len(report.alerts) == 2


def test_a_trade_at_the_last_bar_awaits_its_counterpart_instead_of_being_unmatched() -> None:
    """With one bar of allowed delay, the live entry may still come at the next bar's open."""
    report = compare([], [_trip(19)], pip_size=PIP, bar_times=_BARS[:20], timeframe="H1")
    assert [row.status for row in report.rows] == ["awaiting"]
    assert report.ok
    later = compare([], [_trip(19)], pip_size=PIP, bar_times=_BARS[:21], timeframe="H1")
    assert [row.status for row in later.rows] == ["backtest only"]


def test_a_live_exit_the_backtest_did_not_make_is_flagged_once_the_delay_has_passed() -> None:
    live = _closed(_trip(10), 12, 1.101, 10.0)
    expected = _trip(10)  # still held by the backtest
    soon = compare([live], [expected], pip_size=PIP, bar_times=_BARS[:13], timeframe="H1")
    assert soon.ok  # the backtest may still close in the next bar
    late = compare([live], [expected], pip_size=PIP, bar_times=_BARS[:14], timeframe="H1")
    assert late.alerts == (
        "long 0.1 lots entered 2025-06-02 10:00 UTC: live closed it at 2025-06-02 12:00 UTC (tp); "
        "the backtest still holds it (threshold 1 bars)",
    )


def test_exit_slippage_and_the_pnl_difference_are_measured_on_the_same_bar() -> None:
    live = _closed(_trip(10, "short"), 14, 1.09805, 13.0)
    expected = _closed(_trip(10, "short"), 14, 1.098, 18.0)
    report = compare([live], [expected], pip_size=PIP, bar_times=_BARS[:30], timeframe="H1")
    (row,) = report.rows
    # A short's exit buys: 5 points higher is half a pip against the trader.
    assert (row.exit_delay_bars, row.exit_slippage_pips, row.pnl_diff) == (0, 0.5, -5.0)
    assert report.ok  # within 1 pip and 10 USD
    strict = DriftThresholds(max_pnl_diff=None, max_pnl_diff_pct=10)
    tight = compare([live], [expected], strict, pip_size=PIP, bar_times=_BARS[:30], timeframe="H1")
    assert tight.alerts == (
        "short 0.1 lots entered 2025-06-02 10:00 UTC: P/L +13.00 against the backtest's +18.00 "
        "(difference -5.00; threshold 10 %)",
    )


def test_a_weekend_counts_as_one_bar_of_delay() -> None:
    friday = pd.date_range("2025-06-06 20:00", periods=2, freq="h", tz="UTC")
    sunday = pd.date_range("2025-06-08 22:00", periods=6, freq="h", tz="UTC")
    bars = pd.DatetimeIndex(friday.append(sunday))
    live = replace(_trip(0), entry_time=sunday[0].to_pydatetime())
    expected = replace(_trip(0), entry_time=friday[1].to_pydatetime())
    report = compare([live], [expected], pip_size=PIP, bar_times=bars, timeframe="H1")
    assert report.rows[0].entry_delay_bars == 1


# ---- the live side -----------------------------------------------------------------------------
def test_a_position_closed_in_two_parts_is_one_trade_with_its_average_exit() -> None:
    journal = [
        _execution(1, "2025-06-02T10:00:00+00:00", "buy", "in", 1.1000, volume=0.2),
        _execution(2, "2025-06-02T12:00:00+00:00", "sell", "out", 1.1010, profit=10.0),
        _execution(3, "2025-06-02T14:00:00+00:00", "sell", "out", 1.1030, profit=30.0, reason="tp"),
    ]
    (trip,) = live_trades_from_journal(journal, EURUSD)
    assert (trip.side, trip.volume_lots, trip.entry_price) == ("long", 0.2, 1.1)
    assert trip.exit_price == pytest.approx(1.1020)
    assert (trip.net_profit, trip.exit_reason) == (40.0, "tp")
    assert trip.exit_time == datetime(2025, 6, 2, 14, tzinfo=UTC)


def test_a_deal_reported_twice_counts_once() -> None:
    opened = _execution(1, "2025-06-02T10:00:00+00:00", "sell", "in", 1.1)
    closed = _execution(2, "2025-06-02T11:00:00+00:00", "buy", "out", 1.099, profit=10.0)
    twice = replace(closed, id=3)
    (trip,) = live_trades_from_journal([opened, closed, twice], EURUSD)
    assert (trip.side, trip.net_profit) == ("short", 10.0)


def test_an_exit_of_a_position_opened_before_the_session_is_not_a_trade() -> None:
    adopted = _execution(1, "2025-06-02T11:00:00+00:00", "buy", "out", 1.099, position="5")
    assert live_trades_from_journal([adopted], EURUSD) == []


def test_the_spread_paid_comes_from_the_terminals_bar_when_the_fill_does_not_say() -> None:
    bars = pd.DataFrame({"spread": [12.0, 15.0]}, index=_BARS[10:12])
    long_in = _execution(1, _BARS[11].to_pydatetime(), "buy", "in", 1.1)
    (trip,) = live_trades_from_journal([long_in], EURUSD, bars=bars)
    assert trip.spread_pips == 1.5  # a long pays the spread at its entry: 15 points
    recorded = replace(long_in, payload={**long_in.payload, "spread_points": 9})
    (trip,) = live_trades_from_journal([recorded], EURUSD, bars=bars)
    assert trip.spread_pips == 0.9


def test_a_journal_time_without_a_zone_is_refused_naming_the_entry() -> None:
    naive = _execution(41, "2025-06-02T10:00:00", "buy", "in", 1.1)
    with pytest.raises(InvalidInputError, match=r"journal entry 41\.time"):
        live_trades_from_journal([naive], EURUSD)


# ---- the report and the monitor ----------------------------------------------------------------
def test_the_report_is_json_and_a_table_with_a_row_per_trade(slipping: PaperRun) -> None:
    report = slipping.report
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert len(data["trades"]) == len(report.rows)
    assert data["alerts"] == list(report.alerts)
    assert data["trades"][0]["entry_slippage_pips"] == 2.0
    text = report.text().splitlines()
    assert text[0].startswith("drift vs backtest to ")
    assert len([line for line in text if line.startswith("alert: ")]) == len(report.alerts)
    assert len(text) == 2 + len(report.rows) + len(report.alerts)  # summary, header, rows


def test_an_alert_is_new_only_in_the_first_report_that_raises_it(slipping: PaperRun) -> None:
    monitor = DriftMonitor(slipping.spec, slipping.settings, start=slipping.monitor.start)
    first = monitor.update(slipping.frame, slipping.journal)
    again = monitor.update(slipping.frame, slipping.journal)
    assert first.new_alerts == first.alerts != ()
    assert again.alerts == first.alerts
    assert again.new_alerts == ()


def test_the_monitor_keeps_the_bars_of_every_frame_as_the_feeds_window_moves(
    paper: PaperRun,
) -> None:
    monitor = DriftMonitor(paper.spec, paper.settings)
    frame = paper.frame
    monitor.update(frame.iloc[:300], [])
    monitor.update(frame.iloc[50:350], [])  # the feed's window moved on by 50 bars
    assert monitor.bars.index.equals(frame.index[:350])
    assert monitor.start == frame.index[299].to_pydatetime()


# ---- thresholds --------------------------------------------------------------------------------
def test_thresholds_from_a_config_table_name_each_bad_field() -> None:
    with pytest.raises(InvalidInputError) as refused:
        thresholds_from_config(
            {"max_slippage_pips": -1, "max_entry_delay_bar": 2, "max_unmatched_trades": 0.5},
            where="accounts.demo.drift",
        )
    problems = refused.value.problems
    assert any(p.startswith("accounts.demo.drift.max_slippage_pips: ") for p in problems)
    assert any(p.startswith("accounts.demo.drift.max_entry_delay_bar: Extra") for p in problems)
    assert any(p.startswith("accounts.demo.drift.max_unmatched_trades: ") for p in problems)
    assert len(problems) == 3


def test_thresholds_from_a_config_table_keep_the_defaults_of_what_it_leaves_out() -> None:
    limits = thresholds_from_config({"max_slippage_pips": 0.5, "max_pnl_diff": None})
    assert (limits.max_slippage_pips, limits.max_pnl_diff) == (0.5, None)
    assert (limits.max_entry_delay_bars, limits.max_unmatched_trades) == (1, 0)
    with pytest.raises(InvalidInputError, match="drift: expected a table"):
        thresholds_from_config([("max_slippage_pips", 1)])


def test_thresholds_are_frozen() -> None:
    limits = DriftThresholds()
    with pytest.raises(ValidationError):
        limits.max_slippage_pips = 5.0  # type: ignore[misc]


# ---- the monitor a session gets by default --------------------------------------------------------
def _started(factory: pytest.TempPathFactory, **options: Any) -> tuple[Store, LiveSession]:
    copy = copy_template(factory, factory.mktemp("default"))
    store = Store(copy.db, clock=copy.clock)
    approve(store, PASSED, run_id=1, by="risk officer")
    run = store.run(1)
    assert run.oos_start is not None
    terminal = paper_terminal(
        sample(example_spec()),
        symbol="EURUSD",
        timeframe="H1",
        start=run.oos_start,
        settings=BacktestSettings(**run.settings),
    )
    session = start_session(
        store, PASSED, profile=PAPER_PROFILE, terminal=terminal, by="trader", **options
    )
    return store, session


def test_a_session_is_watched_against_its_approved_run_unless_told_not_to(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    store, session = _started(tmp_path_factory)
    monitor = session.drift
    assert isinstance(monitor, DriftMonitor)
    assert monitor.settings.model_dump(exclude={"deposit", "currency"}) == BacktestSettings(
        **store.run(1).settings
    ).model_dump(exclude={"deposit", "currency"})
    assert monitor.settings.deposit == session.summary.balance_start  # the account's balance
    assert monitor.thresholds == PAPER_PROFILE.drift
    assert not monitor.pause_on_alert  # a profile asks for pauses; by default an alert alerts
    for _ in range(30):
        session.step()
        session.terminal.advance(1)  # type: ignore[attr-defined]
        session.client.poll()
    stored = store.session(session.session_id).drift
    assert stored is not None
    assert stored["summary"].startswith("drift vs backtest to ")
    assert stored["ok"]
    _, unwatched = _started(tmp_path_factory, watch_drift=False)
    assert unwatched.drift is None


def test_a_paper_session_reads_weekdays_and_hours_on_the_backtests_server_clock(
    paper: PaperRun,
) -> None:
    """The sample is not from a MetaTrader server: its backtest read it on New York + 7 h (UTC+3
    in August). The paper terminal's times are that server's, and the session decides on its
    zone: a bar opening Sunday 21:00 UTC is Monday 00:00 on the server, a workday."""
    session = paper.session
    assert session.server_zone == BROKER_ZONE
    assert session.strategy.server_zone == BROKER_ZONE
    assert session.terminal.server_utc_offset_s == 3 * 3600  # type: ignore[attr-defined]
    tick = session.terminal.symbol_info_tick("EURUSD")
    last_utc = paper.frame.index[-1]
    assert tick is not None
    assert int(tick.time) > last_utc.timestamp() + 3 * 3600  # server time, ahead of UTC


def test_a_monitor_that_cannot_compare_is_switched_off_and_the_session_trades_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    store, session = _started(tmp_path_factory)
    assert session.drift is not None

    def broken(*_args: Any, **_kwargs: Any) -> DriftReport:
        raise InvalidInputError(["bars: no quote to convert GBP to USD"], what="drift")

    session.drift.update = broken  # type: ignore[method-assign]
    for _ in range(3):
        assert session.step()
        session.terminal.advance(1)  # type: ignore[attr-defined]
    assert session.drift is None
    notes = [e for e in store.journal(session.session_id) if e.kind == "drift"]
    assert [e.state for e in notes] == ["off"]
    assert "no quote to convert GBP to USD" in notes[0].payload["note"]
    assert session.summary.bars_processed == 3
