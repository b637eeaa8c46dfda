"""Bar replay into the simulated broker, whole bars or (``open_next``) as a live terminal sees
them: a bar's first tick opens it, and it closes when the next bar opens."""

from __future__ import annotations

import pandas as pd
import pytest

from nl_trader.sim.broker import SimBroker
from nl_trader.sim.feed import BarReplay


def _bars() -> pd.DataFrame:
    index = pd.date_range("2025-06-02 10:00", periods=3, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "open": [1.1000, 1.1010, 1.1020],
            "high": [1.1015, 1.1030, 1.1025],
            "low": [1.0990, 1.1005, 1.1000],
            "close": [1.1010, 1.1020, 1.1005],
            "spread": [10, 10, 10],
        },
        index=index,
    )


def test_whole_bar_steps_leave_the_quote_at_the_close() -> None:
    broker, replay = SimBroker(), BarReplay({"EURUSD": _bars()}, "H1")
    assert replay.step(broker, 1) == 1
    assert broker.quote("EURUSD").bid == pytest.approx(1.1010)
    assert len(replay.replayed_bars("EURUSD")) == 1


def test_an_opening_step_quotes_the_next_open_and_shows_it_as_a_forming_bar() -> None:
    broker = SimBroker()
    replay = BarReplay({"EURUSD": _bars()}, "H1", open_next=True)
    assert replay.step(broker, 2) == 2  # bar 1 closed, bar 2 open at its first tick
    quote = broker.quote("EURUSD")
    assert (quote.bid, quote.ask) == pytest.approx((1.1010, 1.1011))
    history = replay.replayed_bars("EURUSD")
    assert len(history) == 2 == len(replay.server_times("EURUSD"))
    forming = history.iloc[-1]
    assert (forming["open"], forming["high"], forming["low"], forming["close"]) == (1.1010,) * 4
    assert history.iloc[0]["close"] == 1.1010  # the closed bar whole


def test_the_last_opening_step_finishes_the_last_bar_and_opens_nothing() -> None:
    broker = SimBroker()
    replay = BarReplay({"EURUSD": _bars()}, "H1", open_next=True)
    assert replay.step(broker, 3) == 3
    assert replay.step(broker, 1) == 0
    assert broker.quote("EURUSD").bid == pytest.approx(1.1005)  # the last close
    assert replay.replayed_bars("EURUSD")["close"].tolist() == [1.1010, 1.1020, 1.1005]
