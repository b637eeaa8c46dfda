"""The only place that imports ``MetaTrader5`` (lazily), plus the mt5linux bridge.

The official package is Windows-only: it talks to ``terminal64.exe`` through a named pipe. On Linux
or macOS a bridge such as mt5linux runs that package under Wine and forwards each call; its object has
the same function names, so it plugs into the same port.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any, cast
from urllib.parse import urlparse

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalUnavailableError
from nl_trader.live.terminal import TerminalPort

INSTALL_HINT = (
    "the MetaTrader5 package is not installed. On Windows, next to a MetaTrader 5 terminal: "
    "pip install 'nl-trader[mt5]'. On Linux or macOS, run the terminal and the package under Wine "
    "with a bridge (pip install mt5linux; python -m mt5linux <path to the Wine python.exe>) and set "
    "NL_TRADER_TERMINAL=mt5linux://localhost:18812. For paper trading without a terminal set "
    "NL_TRADER_TERMINAL=fake."
)


def find_metatrader5() -> ModuleType | None:
    """Return the real MetaTrader5 module if it is installed, else None (never raises)."""
    try:
        if importlib.util.find_spec("MetaTrader5") is None:
            return None
        return importlib.import_module("MetaTrader5")
    except Exception:  # a broken install (e.g. the .pyd on the wrong OS) counts as absent
        return None


def constant_mismatches(module: object) -> list[str]:
    """Names whose value in ``module`` differs from nl_trader's mirror (missing names count)."""
    problems = []
    for name in mt5.CONSTANT_NAMES:
        expected = getattr(mt5, name)
        actual = getattr(module, name, None)
        if actual != expected:
            problems.append(f"{name}: package has {actual!r}, nl_trader expects {expected!r}")
    return problems


def load_metatrader5() -> TerminalPort:
    """Return the real MetaTrader5 module as a terminal, or explain how to get one.

    The package's constants are checked against ``nl_trader.mt5`` first: a package whose values
    differ would make every request mean something else, so it is refused.
    """
    module = find_metatrader5()
    if module is None:
        raise TerminalUnavailableError(INSTALL_HINT)
    mismatches = constant_mismatches(module)
    if mismatches:
        raise TerminalUnavailableError(
            "the installed MetaTrader5 package disagrees with nl_trader's constants: "
            + "; ".join(mismatches[:5])
        )
    return cast(TerminalPort, module)


def load_bridge(url: str) -> TerminalPort:
    """Connect to an mt5linux bridge given as ``mt5linux://HOST:PORT``."""
    parsed = urlparse(url)
    if not parsed.hostname or not parsed.port:
        raise InvalidInputError(
            [f"NL_TRADER_TERMINAL: {url!r} is not mt5linux://HOST:PORT"], what="configuration"
        )
    try:
        bridge: Any = importlib.import_module("mt5linux")
    except ImportError as exc:
        raise TerminalUnavailableError(
            "the mt5linux bridge is not installed: pip install mt5linux"
        ) from exc
    return cast(TerminalPort, bridge.MetaTrader5(host=parsed.hostname, port=parsed.port))
