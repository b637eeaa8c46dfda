"""Profits in the account currency when the traded pair does not quote it."""

from __future__ import annotations

import pytest

from nl_trader.backtest.engine import BacktestSettings, run_backtest
from nl_trader.data.sample import sample_bars
from nl_trader.errors import NlTraderError
from nl_trader.strategy.examples import load_examples

GOLD = next(e for e in load_examples() if e.slug == "gold_wma_fixed_risk").spec


def test_gold_on_a_eur_account_converts_each_dollar_profit_at_that_times_eurusd() -> None:
    gold = sample_bars("XAUUSD", "H1", bars=1500)
    eurusd = sample_bars("EURUSD", "H1", bars=1500)
    result = run_backtest(
        GOLD,
        gold,
        settings=BacktestSettings(currency="EUR", deposit=100_000, swaps=False),
        conversion_bars={"EURUSD": eurusd},
    )
    entries = {d["position_id"]: d for d in result.deals[1:] if d["entry"] == 0}
    closing = [d for d in result.deals[1:] if d["entry"] == 1 and d["comment"] != "end of test"]
    assert len(closing) >= 10
    eur_open = eurusd.index.as_unit("s").asi8
    for deal in closing:
        entry = entries[deal["position_id"]]
        sign = 1.0 if entry["type"] == 0 else -1.0  # a long gains when the price rises
        usd = sign * (deal["price"] - entry["price"]) * deal["volume"] * 100.0  # 100 oz a lot
        bar_open = deal["time"] // 3600 * 3600
        row = eur_open.searchsorted(bar_open, side="right") - 1
        ask = eurusd["close"].iloc[row] + eurusd["spread"].iloc[row] * 0.00001
        assert deal["profit"] == pytest.approx(usd / ask, abs=0.006)  # USD -> EUR at the ask
    assert result.equity.iloc[-1] == pytest.approx(result.balance.iloc[-1])


def test_gold_on_a_eur_account_without_a_conversion_pair_is_refused_clearly() -> None:
    with pytest.raises(NlTraderError, match="no quote to convert USD to EUR"):
        run_backtest(
            GOLD, sample_bars("XAUUSD", "H1", bars=1500), settings=BacktestSettings(currency="EUR")
        )
