"""The terminal port: the functions of the MetaTrader5 module that nl_trader uses.

The real ``MetaTrader5`` module, an mt5linux bridge object and ``FakeTerminal`` all satisfy it, so the
executor never knows which one it drives. Records come back as struct sequences; the executor reads
them with ``_asdict()``, which all three provide.

Which terminal is used is configuration: ``NL_TRADER_TERMINAL`` is ``mt5`` (the real package,
Windows), ``mt5linux://HOST:PORT`` (a bridge to a terminal under Wine) or ``fake`` (the fake terminal
on the bundled sample).
"""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

from nl_trader.errors import InvalidInputError

TERMINAL_ENV = "NL_TRADER_TERMINAL"


@runtime_checkable
class TerminalPort(Protocol):
    """The MetaTrader5 module's functions, as the real package defines them."""

    def initialize(self, *args: Any, **kwargs: Any) -> bool: ...
    def login(self, *args: Any, **kwargs: Any) -> bool: ...
    def shutdown(self) -> bool: ...
    def last_error(self) -> tuple[int, str]: ...
    def version(self) -> Any: ...
    def account_info(self) -> Any: ...
    def terminal_info(self) -> Any: ...
    def symbols_get(self, *args: Any, **kwargs: Any) -> Any: ...
    def symbol_info(self, symbol: str, /) -> Any: ...
    def symbol_info_tick(self, symbol: str, /) -> Any: ...
    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool: ...
    def order_check(self, *args: Any, **kwargs: Any) -> Any: ...
    def order_send(self, *args: Any, **kwargs: Any) -> Any: ...
    def orders_get(self, *args: Any, **kwargs: Any) -> Any: ...
    def positions_get(self, *args: Any, **kwargs: Any) -> Any: ...
    def history_orders_get(self, *args: Any, **kwargs: Any) -> Any: ...
    def history_deals_get(self, *args: Any, **kwargs: Any) -> Any: ...
    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int, /
    ) -> Any: ...


def configured_terminal_name() -> str | None:
    """Return the terminal named by ``NL_TRADER_TERMINAL``, or None when unset."""
    value = os.environ.get(TERMINAL_ENV, "").strip()
    return value or None


def open_terminal(name: str | None = None) -> TerminalPort:
    """Return the terminal called ``name`` (default: ``NL_TRADER_TERMINAL``, else the real package)."""
    from nl_trader.live.mt5_adapter import load_bridge, load_metatrader5

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
