"""Symbol specifications: defaults, broker suffixes, and specs read from a terminal."""

from __future__ import annotations

import pytest

from nl_trader.errors import InvalidInputError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.symbols import conversion_pairs, spec_from_symbol_info, symbol_spec


@pytest.mark.parametrize(("name", "pip"), [("EURUSD", 0.0001), ("USDJPY", 0.01), ("XAUUSD", 0.1)])
def test_a_terminal_symbol_info_gives_back_the_same_spec(name: str, pip: float) -> None:
    terminal = FakeTerminal.with_sample()
    terminal.initialize()
    read = spec_from_symbol_info(terminal.symbol_info(name)._asdict())
    expected = symbol_spec(name)
    assert read.pip_size == pip
    assert read.model_copy(update={"spread_points": expected.spread_points}) == expected


def test_a_suffixed_broker_symbol_keeps_its_name_and_the_majors_properties() -> None:
    spec = symbol_spec("EURUSD.sml")
    assert spec.name == "EURUSD.sml"
    assert (spec.digits, spec.trade_contract_size, spec.pip_size) == (5, 100_000.0, 0.0001)


def test_symbol_info_without_its_digits_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError, match="symbol_info: missing digits"):
        spec_from_symbol_info({"name": "EURUSD", "trade_contract_size": 100_000.0})


def test_an_unknown_symbol_has_no_default_spec() -> None:
    with pytest.raises(InvalidInputError, match="no specification for 'BTCUSD'"):
        symbol_spec("BTCUSD")


def test_the_spec_and_the_timeframe_table_know_the_same_mt5_timeframes() -> None:
    from nl_trader import mt5
    from nl_trader.spec import TIMEFRAMES
    from nl_trader.timeframes import TIMEFRAME_CODES, timeframe_seconds

    assert tuple(TIMEFRAME_CODES) == TIMEFRAMES
    assert TIMEFRAME_CODES["H1"] == mt5.TIMEFRAME_H1 == 16385
    assert timeframe_seconds("H4") == 4 * 3600


def test_a_yen_cross_converts_its_margin_and_profit_through_two_dollar_pairs() -> None:
    """GBPJPY on a USD account: margin in pounds (GBPUSD), profit in yen (USDJPY)."""
    assert conversion_pairs("GBPJPY", "USD") == ("GBPUSD", "USDJPY")


def test_a_pair_quoting_the_account_currency_needs_no_conversion() -> None:
    assert conversion_pairs("EURUSD", "USD") == ()
    assert conversion_pairs("EURUSD", "EUR") == ()  # its own quote converts the dollars


def test_gold_on_a_euro_account_converts_through_eurusd() -> None:
    assert conversion_pairs("XAUUSD", "EUR") == ("EURUSD",)
