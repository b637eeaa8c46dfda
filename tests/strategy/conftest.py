"""Running a compiled strategy bar by bar against the simulated broker (the same fill engine as
the product), recording every params dict it emits and what the broker answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from nl_trader.orders import parse_order_params
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.sim.route import SimulatedRoute
from nl_trader.spec import StrategySpec, parse_spec
from nl_trader.strategy.compile import CompiledStrategy, book_from_records, compile_strategy


@dataclass
class StrategyRun:
    strategy: CompiledStrategy
    broker: SimBroker
    emitted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (bar index, params)
    replies: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> list[str]:
        return [reply for reply in self.replies if not reply.isdigit()]


def run_strategy(
    spec: StrategySpec | dict[str, Any],
    bars: pd.DataFrame,
    *,
    symbol: str | None = None,
    account: AccountConfig | None = None,
) -> StrategyRun:
    """Replay ``bars`` (UTC index) into a SimBroker; at each bar's close, send what the strategy
    decides. Every emitted dict must be valid OrderParams (parse_order_params raises otherwise)."""
    parsed = parse_spec(spec) if isinstance(spec, dict) else spec
    strategy = compile_strategy(parsed, symbol)
    name = strategy.symbol
    broker = SimBroker(account=account)
    route = SimulatedRoute(broker, replay=None)
    signals = strategy.prepare(bars)
    duration = strategy.timeframe_s
    run = StrategyRun(strategy, broker)
    opens = bars["open"].to_numpy()
    highs = bars["high"].to_numpy()
    lows = bars["low"].to_numpy()
    closes = bars["close"].to_numpy()
    spreads = signals.spread_points
    for i in range(len(bars)):
        broker.on_bar(
            name,
            float(signals.time_s[i]),
            duration,
            opens[i],
            highs[i],
            lows[i],
            closes[i],
            float(spreads[i]),
        )
        book = book_from_records(
            equity=broker.equity,
            positions=[p.as_dict() for p in broker.positions.values()],
            orders=[o.as_dict() for o in broker.orders.values()],
            symbol=name,
            magic=parsed.magic,
            # What a 1.0 price move is worth for 1 lot now (USDJPY's changes with the rate).
            value_per_price=broker.calc_profit(0, name, 1.0, 1.0, 2.0),
        )
        for params in strategy.decide(i, signals, book):
            run.emitted.append((i, params))
            run.replies.append(route.submit(parse_order_params(params)))
    return run


@pytest.fixture
def run() -> Any:
    return run_strategy
