"""Which terminal a session or a client drives: configuration, not code.

``NL_TRADER_TERMINAL`` (or a profile's ``terminal``) is ``mt5`` (the real package, Windows),
``mt5linux://HOST:PORT`` (a bridge to a terminal under Wine) or ``fake`` (the fake terminal on the
bundled sample). Each satisfies the port (``live.terminal.TerminalPort``).
"""

from __future__ import annotations

import os

from nl_trader.errors import InvalidInputError
from nl_trader.live.mt5_adapter import load_bridge, load_metatrader5
from nl_trader.live.terminal import TerminalPort

TERMINAL_ENV = "NL_TRADER_TERMINAL"


def configured_terminal_name() -> str | None:
    """Return the terminal named by ``NL_TRADER_TERMINAL``, or None when unset."""
    value = os.environ.get(TERMINAL_ENV, "").strip()
    return value or None


def open_terminal(name: str | None = None) -> TerminalPort:
    """Return the terminal called ``name`` (default: ``NL_TRADER_TERMINAL``, else the real package)."""
    chosen = (name or configured_terminal_name() or "mt5").strip()
    if chosen == "fake":
        from nl_trader.live.fake_terminal import FakeTerminal

        return FakeTerminal.with_sample()
    if chosen == "mt5":
        return load_metatrader5()
    if chosen.startswith("mt5linux://"):
        return load_bridge(chosen)
    raise InvalidInputError(
        [
            f"{TERMINAL_ENV}: unknown terminal {chosen!r}; use 'mt5', 'fake' or 'mt5linux://HOST:PORT'"
        ],
        what="configuration",
    )
