"""Paper trading: the fake terminal a paper session trades on, replaying a run's held-out bars.

``paper_terminal`` builds it on any bars; ``paper_session_terminal`` on the bars an approved run
did not see (its out-of-sample period), with the run's account, costs and server clock, after
checking the data is the very data the run was made on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd

from nl_trader.backtest.engine import BacktestSettings, server_clock
from nl_trader.data.run_data import RunData, load_run_data
from nl_trader.data.timezones import offset_at
from nl_trader.lifecycle import LifecycleError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.sim.broker import SimBroker
from nl_trader.sim.feed import BarReplay
from nl_trader.store import Store
from nl_trader.symbols import symbol_spec


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
    # The backtest's server clock: the fake's times are that server's (at its offset when the
    # replay starts), and the session reads weekdays and hours on the backtest's very zone.
    zone, _ = server_clock(settings, bars)
    offset_s = offset_at(zone, int(pd.Timestamp(start).timestamp()))
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
    replay = BarReplay(
        {symbol: frame, **conversions}, timeframe, open_next=True, time_offset_s=offset_s
    )
    history = int((replay.times < int(pd.Timestamp(start).timestamp()) + offset_s).sum())
    replay.step(broker, history + 1)  # the history closed, the first bar from ``start`` open
    terminal = FakeTerminal(broker, replay, server_utc_offset_s=offset_s)
    terminal.server_zone = zone
    return terminal


def paper_session_terminal(store: Store, strategy_id: int) -> FakeTerminal:
    """The fake terminal for a paper session of the strategy: its approved run's held-out bars
    to replay. Refused (``LifecycleError``) without an approval, without a held-out period, or
    when the run's data changed since (its fingerprint differs)."""
    approval = store.latest_approval(strategy_id)
    if approval is None:
        raise LifecycleError([f"strategy {strategy_id}: no approval"])
    run = store.run(approval.run_id)
    spec = store.version(run.version_id).spec
    if run.oos_start is None:
        raise LifecycleError(
            [
                f"run {run.id}: no out-of-sample period to replay; backtest with --oos-fraction "
                "above 0 and approve that run"
            ]
        )
    settings = BacktestSettings.model_validate(run.settings)
    loaded = load_run_data(RunData.from_record(run.data), spec.timeframe, settings.currency)
    if loaded.info.fingerprint != run.data_fingerprint:
        raise LifecycleError(
            [f"data: {run.data['source']} changed since run {run.id} (fingerprint differs)"]
        )
    return paper_terminal(
        loaded.bars,
        symbol=run.symbol,
        timeframe=spec.timeframe,
        start=run.oos_start,
        settings=settings,
        conversion_bars=loaded.conversion_bars,
    )
