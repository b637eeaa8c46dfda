"""Choosing the terminal (NL_TRADER_TERMINAL) and the MetaTrader5 constants mirror."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalUnavailableError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.mt5_adapter import find_metatrader5
from nl_trader.live.terminal import TerminalPort
from nl_trader.live.terminals import TERMINAL_ENV, configured_terminal_name, open_terminal

CONSTANTS_FILE = Path("/work/shared/reference/mt5_constants.json")
METATRADER5_INSTALLED = importlib.util.find_spec("MetaTrader5") is not None
MT5LINUX_INSTALLED = importlib.util.find_spec("mt5linux") is not None


@pytest.fixture(autouse=True)
def _no_configured_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without NL_TRADER_TERMINAL, whatever the shell running the tests has."""
    monkeypatch.delenv(TERMINAL_ENV, raising=False)


def test_the_fake_terminal_is_chosen_by_name() -> None:
    """open_terminal("fake") gives the fake terminal on the bundled sample, ready to initialize."""
    terminal = open_terminal("fake")
    assert isinstance(terminal, FakeTerminal)
    assert isinstance(terminal, TerminalPort)
    assert terminal.initialize()
    assert terminal.symbol_info_tick("EURUSD") is not None


def test_the_fake_terminal_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """NL_TRADER_TERMINAL=fake makes open_terminal() give the fake terminal."""
    monkeypatch.setenv(TERMINAL_ENV, "fake")
    assert configured_terminal_name() == "fake"
    assert isinstance(open_terminal(), FakeTerminal)


def test_an_empty_setting_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blank NL_TRADER_TERMINAL is no choice (the default, the real package, applies)."""
    monkeypatch.setenv(TERMINAL_ENV, "   ")
    assert configured_terminal_name() is None


def test_an_unknown_terminal_name_is_invalid_input_naming_the_setting() -> None:
    """An unknown name is refused, naming NL_TRADER_TERMINAL and the names that work."""
    with pytest.raises(InvalidInputError) as refused:
        open_terminal("metatrader")
    message = str(refused.value)
    assert "NL_TRADER_TERMINAL" in message
    assert "'metatrader'" in message
    assert "fake" in message
    assert "mt5linux://HOST:PORT" in message


def test_an_unknown_terminal_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """NL_TRADER_TERMINAL=demo is refused the same way as a bad name."""
    monkeypatch.setenv(TERMINAL_ENV, "demo")
    with pytest.raises(InvalidInputError, match=TERMINAL_ENV):
        open_terminal()


@pytest.mark.skipif(METATRADER5_INSTALLED, reason="the MetaTrader5 package is installed here")
def test_the_real_package_is_absent_here() -> None:
    """On Linux CI the MetaTrader5 package (a Windows wheel) is not installed."""
    assert find_metatrader5() is None


@pytest.mark.skipif(METATRADER5_INSTALLED, reason="the MetaTrader5 package is installed here")
@pytest.mark.parametrize("name", ["mt5", None], ids=["by-name", "default"])
def test_mt5_without_the_package_explains_how_to_install_it(name: str | None) -> None:
    """ "mt5" (also the default) without the package: TerminalUnavailableError that says how to
    install it on Windows and mentions the mt5linux bridge for Linux/macOS."""
    with pytest.raises(TerminalUnavailableError) as missing:
        open_terminal(name)
    message = str(missing.value)
    assert "Windows" in message
    assert "pip install" in message
    assert "mt5linux" in message
    assert "NL_TRADER_TERMINAL=fake" in message


@pytest.mark.parametrize(
    "url", ["mt5linux://localhost", "mt5linux://:18812", "mt5linux://"], ids=repr
)
def test_a_bridge_address_without_host_or_port_is_invalid_input(url: str) -> None:
    """mt5linux://HOST:PORT needs both parts; "mt5linux://localhost" (no port) is refused."""
    with pytest.raises(InvalidInputError, match="HOST:PORT"):
        open_terminal(url)


@pytest.mark.skipif(MT5LINUX_INSTALLED, reason="mt5linux is installed here")
def test_a_bridge_without_mt5linux_installed_says_how_to_install_it() -> None:
    """A well-formed bridge address without the mt5linux package: TerminalUnavailableError."""
    with pytest.raises(TerminalUnavailableError, match="pip install mt5linux"):
        open_terminal("mt5linux://localhost:18812")


# ---- the constants mirror ----------------------------------------------------------------------------
def reference_constants() -> dict[str, int]:
    if not CONSTANTS_FILE.exists():
        pytest.skip(f"{CONSTANTS_FILE} (the package's 223 constants) is not available here")
    constants: dict[str, int] = json.loads(CONSTANTS_FILE.read_text())
    return constants


def test_nl_trader_mt5_has_every_constant_of_the_package_with_its_value() -> None:
    """`from nl_trader import mt5` defines all 223 names of MetaTrader5 5.0.6231 with equal values."""
    constants = reference_constants()
    assert len(constants) == 223
    missing = [name for name in constants if not hasattr(mt5, name)]
    assert missing == []
    different = {
        name: (getattr(mt5, name), value)
        for name, value in constants.items()
        if getattr(mt5, name) != value
    }
    assert different == {}


def test_the_mirror_lists_the_constants_in_the_packages_order_and_nothing_more() -> None:
    """CONSTANT_NAMES is the package's list, in its source order; no extra uppercase names."""
    constants = reference_constants()
    assert list(mt5.CONSTANT_NAMES) == list(constants)
    extra = [
        name
        for name in vars(mt5)
        if name.isupper() and name not in constants and name != "CONSTANT_NAMES"
    ]
    assert extra == []


def test_the_mirror_does_not_define_the_mql5_only_symbol_flags() -> None:
    """SYMBOL_FILLING_* and friends are MQL5 values the package lacks (ref §5.2): not here either."""
    for name in ("SYMBOL_FILLING_FOK", "SYMBOL_FILLING_IOC", "SYMBOL_EXPIRATION_GTC"):
        assert not hasattr(mt5, name)


def test_the_mirror_is_of_package_version_5_0_6231() -> None:
    """The mirror states the package version its values come from."""
    assert mt5.__version__ == "5.0.6231"
    assert mt5.__author__ == "MetaQuotes Ltd."


def test_timeframes_are_the_packages_codes_not_minutes() -> None:
    """H1 = 16385, H4 = 16388, D1 = 16408, W1 = 32769, MN1 = 49153 (ref §5.1)."""
    assert (mt5.TIMEFRAME_M5, mt5.TIMEFRAME_H1, mt5.TIMEFRAME_H4) == (5, 16385, 16388)
    assert (mt5.TIMEFRAME_D1, mt5.TIMEFRAME_W1, mt5.TIMEFRAME_MN1) == (16408, 32769, 49153)
