"""The broker symbol map: a strategy's symbols found among a terminal's broker-named symbols, and
the broker's contract compared with the backtest's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalError
from nl_trader.live.structs import SymbolInfo
from nl_trader.live.symbol_map import (
    SymbolMap,
    contract_spec,
    discover,
    parse_symbol_map,
    resolve_symbols,
)
from nl_trader.symbols import DEFAULT_SYMBOLS


def info(
    name: str, like: str = "EURUSD", *, selected: bool = False, **fields: Any
) -> dict[str, Any]:
    """A broker's ``symbol_info`` record: ``like``'s contract under the broker's ``name``."""
    record = DEFAULT_SYMBOLS[like].with_name(name).as_symbol_info()
    record.update(select=selected, visible=selected, **fields)
    return record


def gold(name: str = "GOLD", **fields: Any) -> dict[str, Any]:
    return info(name, "XAUUSD", description="Gold Spot", **fields)


class StubTerminal:
    """A terminal that only lists symbols, as ``MetaTrader5`` does; it records the calls it gets."""

    def __init__(self, *records: dict[str, Any], listing_fails: bool = False) -> None:
        self.records = {record["name"]: SymbolInfo(**record) for record in records}
        self.listing_fails = listing_fails
        self.calls: list[str] = []
        self.error = (1, "Success")

    def last_error(self) -> tuple[int, str]:
        return self.error

    def symbols_get(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("symbols_get")
        if self.listing_fails:
            self.error = (mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
            return None
        self.error = (1, "Success")
        return tuple(self.records.values())

    def symbol_info(self, symbol: str, /) -> Any:
        self.calls.append(f"symbol_info {symbol}")
        found = self.records.get(symbol)
        self.error = (1, "Success") if found else (mt5.RES_E_FAIL, "Terminal: Call failed")
        return found


SML = StubTerminal(
    info("EURUSD.sml"),
    info("GBPUSD.sml", "GBPUSD"),
    info("USDJPY.sml", "USDJPY"),
    info("EURGBP.sml", "EURGBP"),
    gold(),
)


def listed(terminal: StubTerminal) -> list[dict[str, Any]]:
    return [record._asdict() for record in terminal.records.values()]


def test_a_suffixed_broker_maps_each_pair_and_gold_to_its_own_names() -> None:
    """The seed's broker trades EURUSD as EURUSD.sml and gold as GOLD: both directions map."""
    found = discover(SML, ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD"])
    assert found.to_dict() == {
        "EURUSD": "EURUSD.sml",
        "GBPUSD": "GBPUSD.sml",
        "USDJPY": "USDJPY.sml",
        "XAUUSD": "GOLD",
    }
    assert found.broker("XAUUSD") == "GOLD"
    assert found.canonical("EURUSD.sml") == "EURUSD"
    assert found.canonical("EURGBP.sml") is None  # listed, but no strategy here trades it


@pytest.mark.parametrize(
    "name", ["m.EURUSD", "EURUSD-ECN", "EURUSDm", "EURUSD.pro", "EURUSD_i", "EURUSD#"]
)
def test_a_broker_prefix_or_suffix_around_the_pair_is_found(name: str) -> None:
    available = [info(name), info(name.replace("EURUSD", "GBPUSD"), "GBPUSD")]
    assert resolve_symbols(["EURUSD"], available).broker("EURUSD") == name


def test_a_strategy_written_for_one_broker_runs_on_another_brokers_suffix() -> None:
    """A spec that names EURUSD.sml trades EURUSD.m on a broker that has no .sml symbols."""
    found = resolve_symbols(["EURUSD.sml"], [info("EURUSD.m"), info("GBPUSD.m", "GBPUSD")])
    assert found.broker("EURUSD.sml") == "EURUSD.m"


def test_silver_is_found_under_its_broker_name() -> None:
    silver = info(
        "SILVER", "XAUUSD", currency_base="XAG", currency_margin="XAG", description="Silver"
    )
    assert resolve_symbols(["XAGUSD"], [gold(), silver]).broker("XAGUSD") == "SILVER"


def test_gold_quoted_as_a_dollar_cfd_is_found_by_its_description() -> None:
    cfd = gold(currency_base="USD", currency_margin="USD", trade_calc_mode=mt5.SYMBOL_CALC_MODE_CFD)
    assert resolve_symbols(["XAUUSD"], [cfd]).broker("XAUUSD") == "GOLD"


def test_a_gold_miners_share_is_not_taken_for_gold() -> None:
    """Stock CFD brokers list Barrick Gold as GOLD: a share, whatever its description says."""
    barrick = info(
        "GOLD",
        "XAUUSD",
        description="Barrick Gold Corp",
        currency_base="USD",
        currency_margin="USD",
        path="Stocks\\US\\GOLD",
        trade_calc_mode=mt5.SYMBOL_CALC_MODE_EXCH_STOCKS,
    )
    with pytest.raises(InvalidInputError, match=r"GOLD is a share") as error:
        resolve_symbols(["XAUUSD"], [barrick, info("EURUSD")])
    assert "none of the terminal's 2 symbols trades XAU/USD" in str(error.value)


def test_a_name_that_contains_the_pair_but_trades_other_currencies_is_refused() -> None:
    """EURUSDT is a euro-tether crypto pair, and EURUSD.x here settles in pounds: neither is EURUSD."""
    available = [
        info("EURUSDT", currency_profit="USDT"),
        info("EURUSD.x", currency_profit="GBP"),
        info("GBPUSD"),
    ]
    with pytest.raises(
        InvalidInputError, match="none of the terminal's 3 symbols trades EUR/USD"
    ) as error:
        resolve_symbols(["EURUSD"], available)
    message = str(error.value)
    assert "EURUSD.x trades EUR/GBP" in message
    assert "EURUSDT" in message  # what the terminal has that is close
    assert '[accounts.NAME.symbols] as EURUSD = "..."' in message


def test_two_account_types_on_one_terminal_take_the_one_in_market_watch() -> None:
    available = [info("EURUSD.m"), info("EURUSD.pro", selected=True)]
    assert resolve_symbols(["EURUSD"], available).broker("EURUSD") == "EURUSD.pro"


def test_two_account_types_neither_in_market_watch_must_be_configured() -> None:
    available = [info("EURUSD.m"), info("EURUSD.pro")]
    with pytest.raises(InvalidInputError) as error:
        resolve_symbols(["EURUSD"], available, profile="icm-live")
    (problem,) = error.value.problems
    assert problem.startswith("accounts.icm-live.symbols.EURUSD: 2 of the terminal's symbols")
    assert "EURUSD.m (not in Market Watch), EURUSD.pro (not in Market Watch)" in problem
    assert "[accounts.icm-live.symbols]" in problem


def test_a_symbol_whose_trading_is_disabled_gives_way_to_a_tradeable_one() -> None:
    """Brokers list the other account type's symbols with trading disabled."""
    available = [
        info("EURUSD", selected=True, trade_mode=mt5.SYMBOL_TRADE_MODE_DISABLED),
        info("EURUSD.ecn"),
    ]
    assert resolve_symbols(["EURUSD"], available).broker("EURUSD") == "EURUSD.ecn"


def test_the_exact_name_wins_over_a_suffixed_one() -> None:
    available = [info("EURUSD.pro", selected=True), info("EURUSD")]
    assert resolve_symbols(["EURUSD"], available).broker("EURUSD") == "EURUSD"


def test_a_configured_name_overrides_the_search() -> None:
    available = [info("EURUSD.m", selected=True), info("EURUSD.pro")]
    found = resolve_symbols(["EURUSD"], available, {"EURUSD": "EURUSD.pro"})
    assert found.broker("EURUSD") == "EURUSD.pro"


def test_a_configured_name_the_terminal_lacks_is_named_with_what_it_has() -> None:
    with pytest.raises(InvalidInputError) as error:
        resolve_symbols(["EURUSD"], listed(SML), {"EURUSD": "EURUSD.ecn"}, profile="demo")
    (problem,) = error.value.problems
    assert problem == (
        "accounts.demo.symbols.EURUSD: the terminal has no symbol 'EURUSD.ecn'; it has EURUSD.sml"
    )


def test_a_configured_name_that_trades_another_pair_is_refused() -> None:
    with pytest.raises(
        InvalidInputError, match=re.escape("'GBPUSD.sml' trades GBP/USD, not EUR/USD")
    ):
        resolve_symbols(["EURUSD"], listed(SML), {"EURUSD": "GBPUSD.sml"})


def test_two_strategy_symbols_that_find_one_broker_symbol_are_refused_naming_both() -> None:
    with pytest.raises(
        InvalidInputError,
        match=re.escape("EURUSD and EURUSD.sml name the same broker symbol 'EURUSD.sml'"),
    ):
        resolve_symbols(["EURUSD", "EURUSD.sml"], listed(SML))


def test_a_configured_table_mapping_two_symbols_onto_one_broker_symbol_is_refused() -> None:
    with pytest.raises(InvalidInputError) as error:
        parse_symbol_map({"EURUSD": "EURUSD.sml", "EURUSDm": "EURUSD.sml"}, profile="demo")
    assert error.value.problems == (
        "accounts.demo.symbols: EURUSD and EURUSDm name the same broker symbol 'EURUSD.sml'; "
        "one broker symbol trades for one symbol only",
    )


def test_a_configured_table_names_each_bad_entry_and_its_problem() -> None:
    table = {
        "EURUSD": "",
        "GBPUSD": 7,
        "USDJPY": "USDJPY.micro.account.standard.x",
        "XAU USD": "GOLD",
    }
    with pytest.raises(InvalidInputError) as error:
        parse_symbol_map(table)
    problems = error.value.problems
    assert problems[0].startswith("accounts.NAME.symbols.EURUSD: expected the broker's symbol name")
    assert problems[1].startswith("accounts.NAME.symbols.GBPUSD: expected the broker's symbol name")
    assert problems[2].endswith("is 31 UTF-16 code units; MT5 takes symbol names of at most 29")
    assert (
        problems[3]
        == "accounts.NAME.symbols.XAU USD: 'XAU USD' is not a symbol name (e.g. 'EURUSD')"
    )


def test_a_configured_table_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(
        InvalidInputError, match=r'expected a table of SYMBOL = "BROKER NAME", got str'
    ):
        parse_symbol_map("EURUSD.sml")


def test_a_good_configured_table_comes_back_as_given() -> None:
    assert parse_symbol_map({"EURUSD": "EURUSD.sml", "XAUUSD": "GOLD"}) == {
        "EURUSD": "EURUSD.sml",
        "XAUUSD": "GOLD",
    }


def test_a_symbol_map_is_one_to_one_and_names_what_it_lacks() -> None:
    with pytest.raises(InvalidInputError, match="EURUSD and EURUSDm name the same broker symbol"):
        SymbolMap({"EURUSD": "EURUSD.sml", "EURUSDm": "EURUSD.sml"})
    with pytest.raises(
        InvalidInputError, match=r"symbols.GBPUSD: not in the symbol map \(it maps EURUSD\)"
    ):
        SymbolMap({"EURUSD": "EURUSD.sml"}).broker("GBPUSD")


def test_a_failed_symbol_list_is_a_terminal_error_with_the_terminals_code() -> None:
    with pytest.raises(TerminalError) as error:
        discover(StubTerminal(info("EURUSD"), listing_fails=True), ["EURUSD"])
    assert (error.value.call, error.value.code) == ("symbols_get", mt5.RES_E_INTERNAL_FAIL_TIMEOUT)


def test_a_fully_configured_profile_reads_only_its_own_symbols() -> None:
    """A bridge to a terminal with thousands of symbols is spared the whole list."""
    terminal = StubTerminal(*(record._asdict() for record in SML.records.values()))
    found = discover(terminal, ["EURUSD", "XAUUSD"], {"EURUSD": "EURUSD.sml", "XAUUSD": "GOLD"})
    assert found.to_dict() == {"EURUSD": "EURUSD.sml", "XAUUSD": "GOLD"}
    assert terminal.calls == ["symbol_info EURUSD.sml", "symbol_info GOLD"]


def test_a_configured_symbol_the_terminal_lacks_reads_the_list_to_say_what_it_has() -> None:
    terminal = StubTerminal(info("EURUSD.sml"))
    with pytest.raises(
        InvalidInputError, match=re.escape("no symbol 'EURUSD.m'; it has EURUSD.sml")
    ):
        discover(terminal, ["EURUSD"], {"EURUSD": "EURUSD.m"})
    assert terminal.calls[-1] == "symbols_get"


def test_the_broker_contract_carries_the_broker_name_and_the_backtests_pip() -> None:
    contract = contract_spec(SML, "GOLD", "XAUUSD")
    assert contract.spec.name == "GOLD"
    assert contract.spec.pip_size == 0.1  # 20 pips of gold are $2 at every broker
    assert (contract.spec.trade_contract_size, contract.spec.digits) == (100.0, 2)
    assert contract.differences == ()


def test_a_contract_of_another_size_and_digit_count_is_reported_not_raised() -> None:
    """A broker whose gold lot is 1 oz at 3 digits: the backtest's lots would be 100x too small."""
    terminal = StubTerminal(gold("XAUUSD.x", trade_contract_size=1.0, digits=3, volume_step=0.1))
    contract = contract_spec(terminal, "XAUUSD.x", "XAUUSD")
    assert contract.spec.pip_size == 0.1
    fields = [line.split(":")[0] for line in contract.differences]
    assert fields == ["trade_contract_size", "digits", "volume_step"]
    assert "the same lots carry 0.01 times the exposure and P/L" in contract.differences[0]


def test_a_close_only_symbol_and_a_wider_stop_level_are_reported() -> None:
    terminal = StubTerminal(
        info("EURUSD.sml", trade_mode=mt5.SYMBOL_TRADE_MODE_CLOSEONLY, trade_stops_level=30)
    )
    contract = contract_spec(terminal, "EURUSD.sml", "EURUSD")
    assert contract.differences == (
        "trade_stops_level: stops and targets must be at least 30 points of the price at the "
        "broker, 0 in the backtest",
        "trade_mode: the broker allows closing positions only on EURUSD.sml",
    )


def test_a_contract_is_compared_with_the_spec_the_backtest_ran_on() -> None:
    assumed = DEFAULT_SYMBOLS["EURUSD"].model_copy(update={"volume_min": 0.1, "volume_step": 0.1})
    contract = contract_spec(SML, "EURUSD.sml", "EURUSD", assumed=assumed)
    assert contract.differences == ()  # finer broker steps still take the backtest's sizes


def test_the_contract_of_a_symbol_the_terminal_lacks_is_a_terminal_error() -> None:
    with pytest.raises(TerminalError, match=r"symbol_info\('EURUSD.m'\) failed: \(-1"):
        contract_spec(SML, "EURUSD.m", "EURUSD")
