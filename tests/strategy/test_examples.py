"""The example strategies a trader would write: each validates, compiles, trades on sample bars
with only valid orders, and is explained back in English and Traditional Chinese."""

from __future__ import annotations

import pytest

from nl_trader.data.sample import sample_bars
from nl_trader.orders import OrderParams, parse_order_params
from nl_trader.sim.broker import AccountConfig
from nl_trader.spec import canonical_json, parse_spec, spec_hash
from nl_trader.strategy.examples import load_examples
from nl_trader.translate.explain import explain
from tests.strategy.conftest import run_strategy

EXAMPLES = load_examples()
BARS_BY_TIMEFRAME = {"M5": 6000, "M15": 6000, "M30": 5000, "H1": 4000, "H4": 2500, "D1": 800}


def test_there_are_at_least_twelve_examples_and_some_are_in_chinese() -> None:
    assert len(EXAMPLES) >= 12
    chinese = [e for e in EXAMPLES if e.language.startswith("zh")]
    assert len(chinese) >= 4
    assert {e.language for e in chinese} == {"zh-Hant", "zh-Hans"}


def test_the_examples_cover_the_features_the_product_promises() -> None:
    specs = [e.spec for e in EXAMPLES]
    assert {s.entry.order for s in specs} == {"market", "limit", "stop", "stop_limit"}
    assert {s.sizing.method for s in specs} == {"fixed_lots", "risk_percent", "risk_money"}
    assert any(s.pyramiding > 1 for s in specs)
    assert any(s.exits.max_bars for s in specs)
    assert any(s.exits.trailing_stop for s in specs)
    assert any(s.exits.break_even for s in specs)
    assert any(s.exits.close_at for s in specs)
    assert any(s.exits.close_before_weekend for s in specs)
    assert any(s.filters.sessions for s in specs)
    assert {sym for s in specs for sym in s.symbols} >= {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.slug)
def test_example_round_trips_through_its_canonical_json(example) -> None:
    again = parse_spec(canonical_json(example.spec))
    assert spec_hash(again) == spec_hash(example.spec)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.slug)
def test_example_trades_on_sample_bars_with_only_valid_accepted_orders(example) -> None:
    spec = example.spec
    symbol = spec.symbols[0]
    bars = sample_bars(symbol, spec.timeframe, bars=BARS_BY_TIMEFRAME[spec.timeframe])
    run = run_strategy(spec, bars, account=AccountConfig(balance=100_000))
    assert run.emitted, f"{example.slug} sent no order in {len(bars)} bars"
    for _, params in run.emitted:
        assert isinstance(parse_order_params(params), OrderParams)
        assert params["symbol"] == symbol
        assert params["magic"] == spec.magic
    assert run.rejected == []
    entries = [
        p
        for _, p in run.emitted
        if p["order_type"] not in ("modify", "cancel") and "position" not in p
    ]
    assert entries, f"{example.slug} never entered"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.slug)
def test_example_is_explained_in_english_and_traditional_chinese(example) -> None:
    spec = example.spec
    english = explain(spec, "en")
    chinese = explain(spec, "zh-Hant")
    for text in (english, chinese):
        assert spec.name in text
        assert spec.timeframe in text
        assert all(symbol in text for symbol in spec.symbols)
    assert "Stop loss" in english or "NO stop loss" in english
    assert "止損" in chinese
    assert "Defaults filled in" in english
    assert "已填入的預設值" in chinese
    assert ("Buy when" in english) == (spec.long_entry is not None)
    assert ("時買入" in chinese) == (spec.long_entry is not None)
