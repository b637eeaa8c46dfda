"""Builders for lifecycle tests: a store with backtested strategies, made once, copied per test.

Backtests write plotly reports (the slow part), so the template is built once per test session
and each test gets its own copy of the folder (recorded report paths are relative to it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from nl_trader.backtest.report import sample_data_info
from nl_trader.data.sample import sample_bars
from nl_trader.lifecycle import PromotionCriteria, backtest, register
from nl_trader.spec import StrategySpec
from nl_trader.store import Store
from nl_trader.strategy.examples import load_examples

SAMPLE_BARS = 1_500
# Criteria the sample's SMA crossover meets, and criteria it cannot meet.
LOOSE = PromotionCriteria(
    min_trades=1, max_drawdown_pct=100, min_profit_factor=0, min_oos_profit_factor=0
)
STRICT = PromotionCriteria(min_trades=10_000)
PASSED = 1  # strategy 1: its run 1 meets LOOSE
MISSED = 2  # strategy 2: its run 2 misses STRICT
DB_NAME = "store.db"

_template: Path | None = None


class Clock:
    """A clock a test can move forward (approvals expire)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def example_spec(slug: str = "ma_crossover") -> StrategySpec:
    return next(example.spec for example in load_examples() if example.slug == slug)


def sample(spec: StrategySpec, bars: int = SAMPLE_BARS) -> pd.DataFrame:
    return sample_bars(spec.symbols[0], spec.timeframe, bars=bars)


def run_backtest_of(store: Store, strategy_id: int, criteria: PromotionCriteria = LOOSE) -> int:
    """Backtest the strategy's current version on the sample; return the run id."""
    spec = store.current_version(strategy_id).spec
    bars = sample(spec)
    run = backtest(
        store,
        strategy_id,
        bars,
        data={"source": "sample", "symbol": spec.symbols[0], "bars": SAMPLE_BARS},
        data_info=sample_data_info(bars),
        report_dir=store.path.parent / "reports",
        by="quant",
        criteria=criteria,
    )
    return run.id


def _build(folder: Path) -> None:
    spec = example_spec()
    with Store(folder / DB_NAME) as store:
        register(store, spec, text="SMA 20/50 crossover on EURUSD H1", by="trader")
        run_backtest_of(store, PASSED, LOOSE)
        register(store, spec, text="the same, judged strictly", by="trader")
        run_backtest_of(store, MISSED, STRICT)


def template(factory: pytest.TempPathFactory) -> Path:
    """The folder of the template store (built on first use)."""
    global _template
    if _template is None:
        folder = factory.mktemp("lifecycle-template")
        _build(folder)
        _template = folder
    return _template


@dataclass
class StoreCopy:
    folder: Path
    clock: Clock

    @property
    def db(self) -> Path:
        return self.folder / DB_NAME

    def open(self) -> Store:
        return Store(self.db, clock=self.clock)


def copy_template(factory: pytest.TempPathFactory, destination: Path) -> StoreCopy:
    """A private copy of the template store and its reports."""
    folder = destination / "store"
    shutil.copytree(template(factory), folder)
    return StoreCopy(folder, Clock())
