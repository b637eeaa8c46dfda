"""The compiled loop sends each order row as the MT5 request the simulated route builds from the
row's send_order dict (decode -> OrderParams -> prepare_request), field for field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from nl_trader import mt5
from nl_trader.backtest import loop
from nl_trader.backtest.engine import refusal_message
from nl_trader.errors import OrderParamsError
from nl_trader.orders import parse_order_params, prepare_request
from nl_trader.sim import kernel
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.strategy import decide
from nl_trader.symbols import SYMBOL_FILLING_IOC, symbol_spec

T0 = 1_717_400_000.0  # 2024-06-03 07:33:20 UTC, a Monday
NAN = math.nan
BASE = {"backtest_toggle": True, "symbol": "EURUSD", "magic": 77, "comment": "sma cross"}


def broker_with_a_book(*, filling_mode: int | None = None) -> tuple[SimBroker, int, int]:
    spec = symbol_spec("EURUSD")
    if filling_mode is not None:
        spec = spec.model_copy(update={"filling_mode": filling_mode})
    broker = SimBroker([spec], account=AccountConfig(balance=10_000))
    broker.set_quote("EURUSD", T0, 1.10000, 1.10012)
    bought = broker.send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "type": mt5.ORDER_TYPE_BUY,
            "volume": 0.1,
            "type_filling": spec_filling(filling_mode),
            "magic": 77,
            "sl": 1.095,
            "tp": 1.11,
        }
    )
    waiting = broker.send(
        {
            "action": mt5.TRADE_ACTION_PENDING,
            "symbol": "EURUSD",
            "type": mt5.ORDER_TYPE_BUY_LIMIT,
            "volume": 0.1,
            "price": 1.098,
            "type_filling": mt5.ORDER_FILLING_RETURN,
            "magic": 77,
        }
    )
    assert bought.retcode == mt5.TRADE_RETCODE_DONE
    assert waiting.retcode == mt5.TRADE_RETCODE_DONE
    return broker, bought.order, waiting.order


def spec_filling(filling_mode: int | None) -> int:
    return mt5.ORDER_FILLING_IOC if filling_mode == SYMBOL_FILLING_IOC else mt5.ORDER_FILLING_FOK


def row(
    kind: int,
    *,
    position: int = 0,
    order: int = 0,
    expiration_s: int = 0,
    volume: float = NAN,
    price: float = NAN,
    stoplimit: float = NAN,
    sl: float = NAN,
    tp: float = NAN,
) -> tuple[np.ndarray, np.ndarray]:
    row_i = np.array([kind, position, order, expiration_s], dtype=np.int64)
    row_f = np.array([volume, price, stoplimit, sl, tp])
    return row_i, row_f


def settings_for(broker: SimBroker) -> np.ndarray:
    cfg = np.zeros(loop.G_COUNT, dtype=np.int64)
    cfg[loop.G_SYMBOL] = broker.symbol_index("EURUSD")
    cfg[loop.G_MAGIC] = BASE["magic"]
    cfg[loop.G_COMMENT] = broker.text_id(str(BASE["comment"]))
    cfg[loop.G_NO_COMMENT] = broker.text_id("")
    return cfg


def route_request(broker: SimBroker, row_i: np.ndarray, row_f: np.ndarray) -> dict[str, Any]:
    """What the simulated route sends for the row's send_order dict."""
    (params,) = decide.decode_rows(BASE, row_i[None, :], row_f[None, :], 1)
    validated = parse_order_params(params)
    quote = broker.quote("EURUSD")
    assert quote is not None
    position = broker.positions.get(validated.position or 0)
    order = broker.orders.get(validated.order or 0)
    request, _ = prepare_request(
        validated,
        broker.spec("EURUSD").as_symbol_info(),
        bid=quote.bid,
        ask=quote.ask,
        position=position.as_dict() if position else None,
        order=order.as_dict() if order else None,
    )
    return request


def compiled_request(broker: SimBroker, row_i: np.ndarray, row_f: np.ndarray) -> tuple[int, Any]:
    req_i = np.zeros(kernel.RI_COUNT, dtype=np.int64)
    req_f = np.zeros(kernel.RF_COUNT)
    refusal = loop.prepare_row(broker.state, settings_for(broker), row_i, row_f, req_i, req_f)
    return refusal, (req_f, req_i)


def rows_of_every_kind(position: int, order: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    expires = int(T0) + 3_600
    return {
        "market buy with its stops": row(decide.KIND_BUY, volume=0.2, sl=1.095, tp=1.105),
        "market sell without stops": row(decide.KIND_SELL, volume=0.05),
        "close of a position": row(decide.KIND_SELL, position=position, volume=0.1),
        "buy limit expiring": row(
            decide.KIND_BUY_LIMIT,
            volume=0.1,
            price=1.0975,
            sl=1.09,
            tp=1.1,
            expiration_s=expires,
        ),
        "sell stop": row(decide.KIND_SELL_STOP, volume=0.3, price=1.0985, sl=1.1012),
        "buy stop limit": row(
            decide.KIND_BUY_STOP_LIMIT, volume=0.1, price=1.1021, stoplimit=1.1016, sl=1.0995
        ),
        "a stop moved": row(decide.KIND_MODIFY, position=position, sl=1.0965),
        "a pending order cancelled": row(decide.KIND_CANCEL, order=order),
    }


@pytest.mark.parametrize("filling_mode", [None, SYMBOL_FILLING_IOC])
def test_every_order_row_becomes_the_request_the_simulated_route_sends(
    filling_mode: int | None,
) -> None:
    broker, position, order = broker_with_a_book(filling_mode=filling_mode)

    for name, (row_i, row_f) in rows_of_every_kind(position, order).items():
        expected_f, expected_i = (
            a.copy() for a in broker.request_arrays(route_request(broker, row_i, row_f))
        )
        refusal, (req_f, req_i) = compiled_request(broker, row_i, row_f)

        assert refusal == 0, name
        np.testing.assert_array_equal(req_i, expected_i, err_msg=name)
        np.testing.assert_array_equal(req_f, expected_f, err_msg=name)


@pytest.mark.parametrize(
    ("volume", "refusal", "message"),
    [
        (0.015, loop.PREP_VOLUME_STEP, "not a multiple of the symbol's volume step"),
        (0.001, loop.PREP_VOLUME_LOW, "below EURUSD's minimum"),
    ],
)
def test_a_volume_the_symbol_refuses_is_refused_before_the_broker_as_the_route_refuses_it(
    volume: float, refusal: int, message: str
) -> None:
    broker, _, _ = broker_with_a_book()
    row_i, row_f = row(decide.KIND_BUY, volume=volume)

    assert compiled_request(broker, row_i, row_f)[0] == refusal
    with pytest.raises(OrderParamsError, match=message) as refused:
        route_request(broker, row_i, row_f)
    # The run's list of refused orders words it as the route does.
    assert refusal_message(refusal, volume, broker.spec("EURUSD")) == str(refused.value)


def test_the_loop_stops_at_every_bar_a_rule_fires_and_at_the_last_bar() -> None:
    # The search for the next event reads one flag per bar; the test's end follows the last bar.
    fired = np.zeros(8, dtype=bool)
    rules = [fired.copy() for _ in range(5)]
    rules[0][1] = True  # a long entry
    rules[3][4] = True  # a short exit
    rules[4][5] = True  # a time close
    acts = loop.acting_bars(*rules)
    assert np.flatnonzero(acts).tolist() == [1, 4, 5, 7]
    assert not any(rule[7] for rule in rules)  # the inputs are left as they were
    assert loop.acting_bars(*[np.zeros(0, dtype=bool)] * 5).size == 0
