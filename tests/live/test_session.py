"""Paper and live sessions: through the gate, journaled as events arrive, stopped by the store.

A session trades an approved version on the MT5 route (MAS client -> MT5 executor -> terminal);
here the terminal is the fake one replaying the bars the backtest held out, on the same fill engine
as the backtester.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nl_trader import mt5
from nl_trader.backtest.engine import BacktestSettings
from nl_trader.client import MAS
from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import (
    GateRefusedError,
    LifecycleError,
    journal_digest,
    journal_problems,
    request_stop,
    revoke,
)
from nl_trader.live.accounts import PAPER_PROFILE, AccountProfile, get_profile, load_profiles
from nl_trader.live.control import assign_account
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.paper import paper_terminal
from nl_trader.live.session import (
    Listener,
    LiveSession,
    SessionSummary,
    start_session,
)
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.sim.feed import BarReplay
from nl_trader.store import State, Store
from nl_trader.symbols import symbol_spec
from tests.store.builders import PASSED, StoreCopy, example_spec, sample

PASSWORD = "s3cret-Pa55word"


def _paper(store: Store) -> FakeTerminal:
    run = store.run(1)
    assert run.oos_start is not None
    return paper_terminal(
        sample(example_spec()), symbol="EURUSD", timeframe="H1", start=run.oos_start
    )


def _run_paper(store: Store, listener: Listener) -> tuple[LiveSession, SessionSummary]:
    """Start a paper session of strategy 1 and run it until something stops it."""
    session = start_session(
        store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="trader", listener=listener
    )
    return session, session.run()


class Recorder:
    """The session's listener: every (kind, order id, state) in arrival order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, Any]] = []

    def __call__(self, kind: str, order_id: str | None, payload: dict[str, Any]) -> None:
        self.events.append((kind, order_id, payload.get("state")))


def test_a_paper_session_journals_each_status_and_execution_as_it_arrives(store: Store) -> None:
    heard = Recorder()
    session = start_session(
        store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="ops", listener=heard
    )
    assert store.strategy(PASSED).state == State.PAPER
    summary = session.run(max_bars=120)

    journal = store.journal(session.session_id)
    assert [(e.kind, e.order_id, e.payload.get("state")) for e in journal] == heard.events
    kinds = [entry.kind for entry in journal]
    assert kinds.count("execution") == summary.executions > 0
    assert kinds.count("status") == summary.statuses
    assert kinds.count("sent") == summary.orders_sent
    # Each fill is reported as a filled status, then its execution, with the deal's price.
    first_fill = next(i for i, e in enumerate(journal) if e.kind == "execution")
    assert journal[first_fill - 1].state == "filled"
    assert journal[first_fill].payload["fill_price"] > 0
    realised = sum(
        e.payload["profit"] + e.payload["commission"] + e.payload["swap"]
        for e in journal
        if e.kind == "execution"
    )
    assert summary.realised_profit == pytest.approx(realised)
    assert summary.balance_end == pytest.approx(summary.balance_start + realised)
    assert summary.bars_processed == 120
    record = store.session(session.session_id)
    assert (record.status, record.stop_reason) == ("stopped", "bar limit reached (120 bars)")
    assert (record.mode, record.trade_mode, record.bars_processed) == ("paper", "demo", 120)
    assert store.strategy(PASSED).state == State.STOPPED
    stopped = store.audit_entries()[-1]
    assert stopped.action == "live.stopped"
    assert stopped.payload["journal_sha256"] == journal_digest(store, session.session_id)
    # One clock for the whole journal: the replay's, intents included (never this machine's).
    times = [entry.event_time for entry in journal]
    assert all(moment is not None for moment in times)
    first_bar, last_bar = summary.first_bar, summary.last_bar
    assert first_bar is not None
    assert last_bar is not None
    within = [
        datetime.fromisoformat(first_bar)
        <= moment
        <= datetime.fromisoformat(last_bar) + timedelta(days=3)
        for moment in times
        if moment is not None
    ]
    assert all(within)


def test_a_paper_session_trades_only_bars_the_backtest_did_not_see(store: Store) -> None:
    run = store.run(1)
    session = start_session(store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="ops")
    summary = session.run(max_bars=60)
    assert run.oos_start is not None
    assert summary.first_bar is not None
    # The first decision is at the close of the last bar already known: nothing fills before the
    # held-out period starts.
    assert summary.first_bar == run.period_end.isoformat()
    fills = [e for e in store.journal(session.session_id) if e.kind == "execution"]
    assert fills
    assert all(e.event_time is not None and e.event_time >= run.oos_start for e in fills)


def test_a_paper_order_fills_at_the_next_bar_open_as_the_backtest_fills(store: Store) -> None:
    """A bar closes when the next one's first tick comes: the strategy's orders, decided on the
    closed bar, fill at that open (asks for buys), the backtest's default rule."""
    bars = sample(example_spec())
    point = symbol_spec("EURUSD").point
    session = start_session(store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="ops")
    session.run()
    fills = [
        e.payload
        for e in store.journal(session.session_id)
        if e.kind == "execution" and e.payload["entry"] == "in"  # entries: all the strategy's
    ]
    assert len(fills) >= 4
    for fill in fills:
        bar = bars.loc[pd.Timestamp(fill["time"])]  # filled at a bar's open time...
        spread = bar["spread"] * point if fill["type"] == "buy" else 0.0
        assert fill["fill_price"] == pytest.approx(bar["open"] + spread)  # ...at its open


def test_a_stop_requested_from_another_process_ends_the_session_and_flattens(
    store: Store, copy: StoreCopy
) -> None:
    other = copy.open()  # the `nl-trader live stop` of another shell

    def stop_after_first_fill(kind: str, order_id: str | None, payload: dict[str, Any]) -> None:
        if kind == "execution" and not other.session(session.session_id).stop_requested_at:
            request_stop(other, session.session_id, by="ops", reason="end of test")

    session = start_session(
        store,
        PASSED,
        profile=PAPER_PROFILE,
        terminal=_paper(store),
        by="trader",
        listener=stop_after_first_fill,
    )
    summary = session.run()
    other.close()
    assert summary.stop_reason == "stop requested by ops"
    assert summary.open_positions == 0
    sent = [e for e in store.journal(session.session_id) if e.kind == "sent"]
    assert sent[-1].payload["params"]["comment"] == "session stop"
    assert store.session(session.session_id).status == "stopped"
    assert [e.action for e in store.audit_entries()[-2:]] == ["live.stop_requested", "live.stopped"]


def test_revoking_the_approval_stops_a_running_session(store: Store, copy: StoreCopy) -> None:
    other = copy.open()

    def revoke_on_first_fill(kind: str, order_id: str | None, payload: dict[str, Any]) -> None:
        if kind == "execution" and other.approvals(PASSED)[-1].revoked_at is None:
            revoke(other, PASSED, by="risk officer", reason="limits breached")

    _, summary = _run_paper(store, revoke_on_first_fill)
    other.close()
    assert summary.stop_reason == "stop requested by risk officer"
    assert summary.bars_processed < 300
    assert store.strategy(PASSED).state == State.BACKTESTED


def test_a_session_stops_and_flattens_when_its_approval_expires(
    store: Store, copy: StoreCopy
) -> None:
    """An expired approval is no approval: the session may not trade on after it."""
    approval = store.approvals(PASSED)[-1]

    def expire_on_first_fill(kind: str, order_id: str | None, payload: dict[str, Any]) -> None:
        if kind == "execution" and copy.clock.now < approval.expires_at:
            copy.clock.now = approval.expires_at

    session, summary = _run_paper(store, expire_on_first_fill)
    assert summary.stop_reason == (
        f"approval {approval.id} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    assert summary.bars_processed < 300
    assert summary.open_positions == 0
    record = store.session(session.session_id)
    assert (record.status, record.stop_reason) == ("stopped", summary.stop_reason)


def _closing_deal_of_a_long_through_a_bar_spanning_its_stop_and_target(intrabar: str) -> Any:
    """Buy at 1.1001 with SL 1.0950 and TP 1.1050 on a paper terminal; the next-but-one bar is a
    down bar from 1.1000 reaching 1.1100 and 1.0900, so it spans both."""
    times = pd.date_range("2025-06-02 08:00", periods=8, freq="h", tz="UTC")
    flat = {"open": 1.1, "high": 1.1002, "low": 1.0998, "close": 1.1, "spread": 10}
    rows = [dict(flat) for _ in times]
    rows[5] = {**flat, "high": 1.1100, "low": 1.0900, "close": 1.0950}
    bars = pd.DataFrame(rows, index=times)
    terminal = paper_terminal(
        bars,
        symbol="EURUSD",
        timeframe="H1",
        start=times[4].to_pydatetime(),
        settings=BacktestSettings(intrabar=intrabar),  # type: ignore[arg-type]
    )
    assert terminal.initialize()
    client = MAS(terminal=terminal)
    account = terminal.account_info()
    client.login({"account": account.login, "password": "paper", "server": account.server})
    order = {"symbol": "EURUSD", "order_type": "buy", "volume": 0.1, "sl": 1.095, "tp": 1.105}
    assert client.send_order({**order, "backtest_toggle": False}).isdigit()
    client.advance(3)
    deals = terminal.history_deals_get(0, 2**31) or ()
    (closing,) = [deal for deal in deals if deal.entry == mt5.DEAL_ENTRY_OUT]
    return closing


def test_a_paper_terminal_walks_inside_a_bar_as_the_backtest_settings_say() -> None:
    """The backtest's default path is conservative (the stop first when a bar spans stop and
    target); the paper session must fill the same way, or paper and backtest drift apart."""
    conservative = _closing_deal_of_a_long_through_a_bar_spanning_its_stop_and_target(
        BacktestSettings().intrabar
    )
    assert (conservative.reason, conservative.price) == (mt5.DEAL_REASON_SL, 1.095)
    ohlc = _closing_deal_of_a_long_through_a_bar_spanning_its_stop_and_target("ohlc")
    assert (ohlc.reason, ohlc.price) == (mt5.DEAL_REASON_TP, 1.105)


class WallClockTerminal:
    """The fake terminal as a real one looks: no ``advance``; the market moves while the session
    sleeps between polls."""

    def __init__(self, fake: FakeTerminal) -> None:
        self.fake = fake
        self.sleeps: list[float] = []

    def __getattr__(self, name: str) -> Any:
        if name == "advance":
            raise AttributeError(name)
        return getattr(self.fake, name)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.fake.advance(1)


def test_on_a_real_terminal_the_session_polls_and_skips_the_bar_closed_before_it_started(
    store: Store,
) -> None:
    terminal = WallClockTerminal(_paper(store))
    session = start_session(store, PASSED, profile=PAPER_PROFILE, terminal=terminal, by="ops")
    assert not session.replaying
    summary = session.run(max_bars=100, poll_interval_s=0.5, sleep=terminal.sleep)
    run = store.run(1)
    # The last history bar closed before the start: its signal is stale, no decision on it.
    assert summary.first_bar is not None
    assert summary.first_bar > run.period_end.isoformat()
    assert summary.bars_processed == 100
    assert set(terminal.sleeps) == {0.5}
    assert summary.executions > 0


def test_a_refused_start_opens_no_terminal_and_is_audited(copy: StoreCopy) -> None:
    opened: list[str] = []

    def terminal() -> FakeTerminal:
        opened.append("terminal")
        return FakeTerminal.with_sample()

    with copy.open() as store:  # strategy 1 is backtested, not approved
        with pytest.raises(GateRefusedError) as refused:
            start_session(store, PASSED, profile=PAPER_PROFILE, terminal=terminal, by="ops")
        assert refused.value.reasons[0].startswith("strategy 1 has no approval")
        assert opened == []
        assert store.sessions() == []
        entry = store.audit_entries()[-1]
        assert entry.action == "live.refused"
        assert entry.payload["reasons"] == list(refused.value.reasons)


def test_a_start_by_nobody_is_refused_before_any_terminal_opens(store: Store) -> None:
    opened: list[FakeTerminal] = []

    def terminal() -> FakeTerminal:
        opened.append(_paper(store))
        return opened[-1]

    with pytest.raises(LifecycleError, match="by: name the person who starts the session"):
        start_session(store, PASSED, profile=PAPER_PROFILE, terminal=terminal, by=" ")
    assert opened == []
    assert store.sessions() == []
    assert store.audit_entries()[-1].action == "approval.granted"


def test_a_second_session_of_a_running_strategy_is_refused(store: Store) -> None:
    start_session(store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="ops")
    with pytest.raises(GateRefusedError, match="session 1 of strategy 1 is already running"):
        start_session(store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="ops")


def _real_terminal() -> FakeTerminal:
    """A terminal logged in to a REAL-money account (the fake one, with trade_mode REAL)."""
    account = AccountConfig(
        login=7_700_001, server="Broker-Live", trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL
    )
    broker = SimBroker([symbol_spec("EURUSD")], account=account)
    replay = BarReplay({"EURUSD": sample(example_spec())}, "H1")
    replay.step(broker, 1_300)
    return FakeTerminal(broker, replay, credentials={7_700_001: (PASSWORD, "Broker-Live")})


def _real_profile(monkeypatch: pytest.MonkeyPatch, store: Store) -> AccountProfile:
    """The broker's profile, assigned to strategy 1 by a person (as a real account must be)."""
    monkeypatch.setenv("NL_TRADER_TEST_PASSWORD", PASSWORD)
    assign_account(store, PASSED, "live", by="risk officer")
    return AccountProfile(
        name="live",
        terminal="fake",
        login=7_700_001,
        server="Broker-Live",
        password_env="NL_TRADER_TEST_PASSWORD",
    )


def test_a_real_money_account_is_refused_without_its_typed_confirmation(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = _real_profile(monkeypatch, store)
    with pytest.raises(
        GateRefusedError, match="REAL-money account: confirm with --confirm-real 7700001"
    ):
        start_session(store, PASSED, profile=profile, terminal=_real_terminal(), by="ops")
    assert store.audit_entries()[-1].payload["trade_mode"] == "real"
    session = start_session(
        store, PASSED, profile=profile, terminal=_real_terminal(), by="ops", confirm_real=7_700_001
    )
    record = store.session(session.session_id)
    assert (record.trade_mode, record.real_confirmed, record.account_login) == (
        "real",
        True,
        7_700_001,
    )


def test_the_password_is_never_written_to_the_store(
    store: Store, copy: StoreCopy, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = _real_profile(monkeypatch, store)
    session = start_session(
        store, PASSED, profile=profile, terminal=_real_terminal(), by="ops", confirm_real=7_700_001
    )
    session.run(max_bars=30)
    store.close()
    raw = b"".join(path.read_bytes() for path in copy.folder.rglob("*") if path.is_file())
    assert PASSWORD.encode() not in raw


def test_a_journal_edited_after_the_session_stopped_is_found(store: Store, copy: StoreCopy) -> None:
    session = start_session(store, PASSED, profile=PAPER_PROFILE, terminal=_paper(store), by="ops")
    session.run(max_bars=60)
    assert journal_problems(store) == []
    store.connection.execute(
        "DELETE FROM journal WHERE id = (SELECT max(id) FROM journal WHERE kind = 'execution')"
    )
    assert journal_problems(store)[0].startswith(
        f"session {session.session_id}: its journal changed"
    )


# ---- account profiles ----------------------------------------------------------------------------
def test_profiles_come_from_the_config_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[accounts.icm-demo]\nterminal = "mt5"\nlogin = 51234567\nserver = "ICMarkets-Demo"\n'
        'password_env = "ICM_DEMO_PASSWORD"\nserver_utc_offset_s = 7200\n'
    )
    monkeypatch.setenv("ICM_DEMO_PASSWORD", PASSWORD)
    profile = get_profile("icm-demo", config)
    credentials = profile.credentials()
    assert (credentials.account, credentials.server) == (51_234_567, "ICMarkets-Demo")
    assert credentials.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(profile) + repr(credentials)
    assert set(load_profiles(config)) == {"paper", "icm-demo"}


def test_a_password_written_in_the_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[accounts.live]\nlogin = 1\nserver = "X"\npassword = "hunter2"\n')
    with pytest.raises(
        InvalidInputError, match=r"accounts\.live\.password: never write a password"
    ):
        load_profiles(config)


def test_a_missing_password_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_PASSWORD", raising=False)
    profile = AccountProfile(name="x", login=1, server="S", password_env="NOT_SET_PASSWORD")
    with pytest.raises(
        InvalidInputError, match="the environment variable NOT_SET_PASSWORD is not set"
    ):
        profile.credentials()


def test_an_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[accounts.demo]\nlogin = 1\nserver = "S"\npassword_env = "P"\n')
    with pytest.raises(InvalidInputError, match="no profile 'nope'; known: demo, paper"):
        get_profile("nope", config)


def test_a_config_file_named_but_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="config: no file at"):
        load_profiles(tmp_path / "absent.toml")


def test_a_bad_terminal_in_a_profile_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[accounts.x]\nterminal = "metatrader"\n')
    with pytest.raises(InvalidInputError, match=r"accounts\.x\.terminal"):
        load_profiles(config)


def test_a_profiles_drift_table_sets_its_thresholds_and_whether_an_alert_pauses(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[accounts.demo]\nterminal = "fake"\n'
        "[accounts.demo.drift]\nmax_slippage_pips = 0.5\npause_on_alert = true\n"
    )
    profile = get_profile("demo", config)
    assert profile.drift.max_slippage_pips == 0.5
    assert profile.drift.max_entry_delay_bars == 1  # what the table leaves out keeps its default
    assert profile.pause_on_drift
    assert not get_profile("paper", config).pause_on_drift  # by default an alert only alerts


def test_a_bad_drift_threshold_in_a_profile_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[accounts.x]\nterminal = "fake"\n'
        '[accounts.x.drift]\nmax_slippage_pips = -1\npause_on_alert = "yes"\n'
    )
    with pytest.raises(InvalidInputError, match=r"accounts\.x\.drift\.pause_on_alert"):
        load_profiles(config)
    config.write_text('[accounts.x]\nterminal = "fake"\n[accounts.x.drift]\nmax_slipage = 1\n')
    with pytest.raises(InvalidInputError, match=r"accounts\.x\.drift\.max_slipage"):
        load_profiles(config)
