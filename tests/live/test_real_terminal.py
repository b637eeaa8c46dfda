"""Against a real MetaTrader 5 terminal (Windows, demo account): opt-in with ``pytest -m mt5``.

Set ``NL_TRADER_MT5_LOGIN``, ``NL_TRADER_MT5_PASSWORD`` and ``NL_TRADER_MT5_SERVER`` for a DEMO
account. These tests only read and check; the one order they send is an ``order_check``.
"""

from __future__ import annotations

import os

import pytest

from nl_trader import mt5
from nl_trader.live.executor import Credentials, MT5Executor
from nl_trader.live.mt5_adapter import constant_mismatches, find_metatrader5, load_metatrader5
from nl_trader.orders import parse_order_params, prepare_request

pytestmark = pytest.mark.mt5

needs_terminal = pytest.mark.skipif(
    find_metatrader5() is None or "NL_TRADER_MT5_LOGIN" not in os.environ,
    reason="needs the MetaTrader5 package (Windows) and NL_TRADER_MT5_* demo credentials",
)


@needs_terminal
def test_real_package_constants_equal_nl_traders_mirror() -> None:
    assert constant_mismatches(find_metatrader5()) == []


@needs_terminal
def test_demo_login_and_order_check_of_a_prepared_request() -> None:
    terminal = load_metatrader5()
    executor = MT5Executor(terminal)
    account = executor.connect(
        Credentials.parse(
            {
                "account": os.environ["NL_TRADER_MT5_LOGIN"],
                "password": os.environ["NL_TRADER_MT5_PASSWORD"],
                "server": os.environ["NL_TRADER_MT5_SERVER"],
            }
        )
    )
    assert account["trade_mode"] == mt5.ACCOUNT_TRADE_MODE_DEMO, "use a demo account"
    info = terminal.symbol_info("EURUSD")._asdict()
    tick = terminal.symbol_info_tick("EURUSD")
    params = parse_order_params(
        {"symbol": "EURUSD", "order_type": "buy", "volume": 0.01, "backtest_toggle": False}
    )
    request, _ = prepare_request(params, info, bid=tick.bid, ask=tick.ask)
    check = terminal.order_check(request)
    assert check is not None, terminal.last_error()
    assert check.retcode == 0, check.comment
    executor.shutdown()
