"""nl_trader: plain-language forex strategies, backtested, then promoted by a person to MetaTrader 5."""

from nl_trader import mt5
from nl_trader.errors import NlTraderError, OrderParamsError
from nl_trader.events import OrderEvent, OrderState
from nl_trader.orders import OrderParams, parse_order_params

__version__ = "0.1.0"

__all__ = [
    "MAS",
    "NlTraderError",
    "OrderEvent",
    "OrderParams",
    "OrderParamsError",
    "OrderState",
    "mt5",
    "parse_order_params",
]


def __getattr__(name: str) -> object:
    # The client pulls in the simulator and the executor; load it only when asked for.
    if name == "MAS":
        from nl_trader.client import MAS

        return MAS
    raise AttributeError(f"module 'nl_trader' has no attribute {name!r}")
