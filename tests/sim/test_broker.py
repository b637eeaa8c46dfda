"""The simulated broker answers MT5 trade requests as an MT5 trade server does.

Every figure is worked by hand on EURUSD (5 digits, point 0.00001, 100,000 units a lot): a quote of
1.10000 / 1.10010 is a 1-pip spread, and 0.1 lot moves $1 per pip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.events import OrderState
from nl_trader.orders import parse_order_params
from nl_trader.sim.broker import (
    AccountConfig,
    BrokerEvent,
    ExecutionModel,
    SimBroker,
)
from nl_trader.symbols import (
    SYMBOL_EXPIRATION_GTC,
    SYMBOL_EXPIRATION_SPECIFIED,
    SYMBOL_FILLING_IOC,
    symbol_spec,
)

HOUR = 3_600
DAY = 86_400
MONDAY_10H = int(datetime(2024, 1, 8, 10, tzinfo=UTC).timestamp())
MONDAY_END = int(datetime(2024, 1, 8, 23, 59, 59, tzinfo=UTC).timestamp())
TUESDAY_0H = MONDAY_END + 1
WEDNESDAY_10H = MONDAY_10H + 2 * DAY
FRIDAY_10H = MONDAY_10H + 4 * DAY

BUY, SELL = mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL


def market(order_type: int, volume: float, symbol: str = "EURUSD", **extra: Any) -> dict[str, Any]:
    """A raw MT5 market request (FOK, as the seed's default)."""
    return {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": symbol,
        "volume": volume,
        "type": order_type,
        "type_filling": mt5.ORDER_FILLING_FOK,
        **extra,
    }


def pending(
    order_type: int, volume: float, price: float, symbol: str = "EURUSD", **extra: Any
) -> dict[str, Any]:
    """A raw MT5 pending request (RETURN, GTC unless ``extra`` says otherwise)."""
    return {
        "action": mt5.TRADE_ACTION_PENDING,
        "symbol": symbol,
        "volume": volume,
        "type": order_type,
        "price": price,
        "type_filling": mt5.ORDER_FILLING_RETURN,
        "type_time": mt5.ORDER_TIME_GTC,
        **extra,
    }


def broker_with(
    *overrides: dict[str, Any],
    account: AccountConfig | None = None,
    execution: ExecutionModel | None = None,
    bid: float = 1.10000,
    ask: float = 1.10010,
) -> SimBroker:
    """A broker on EURUSD with ``overrides`` applied to its spec, quoted at ``bid`` / ``ask``."""
    spec = symbol_spec("EURUSD", {k: v for o in overrides for k, v in o.items()} or None)
    broker = SimBroker([spec], account=account, execution=execution)
    broker.set_quote("EURUSD", MONDAY_10H, bid, ask)
    return broker


def only_position(broker: SimBroker) -> Any:
    (position,) = broker.positions.values()
    return position


def last_deal(broker: SimBroker) -> Any:
    return broker.deals[-1]


def nothing_traded(broker: SimBroker) -> bool:
    return not broker.orders and not broker.positions and len(broker.deals) == 1


# ---- market orders -------------------------------------------------------------------------


def test_market_buy_fills_at_ask_and_sell_at_bid(hedging: SimBroker) -> None:
    bought = hedging.send(market(BUY, 0.1))
    sold = hedging.send(market(SELL, 0.1))

    assert (bought.retcode, bought.price, bought.volume) == (mt5.TRADE_RETCODE_DONE, 1.1001, 0.1)
    assert (sold.retcode, sold.price) == (mt5.TRADE_RETCODE_DONE, 1.1)
    assert (bought.bid, bought.ask) == (1.1, 1.1001)
    assert hedging.positions[bought.order].price_open == 1.1001
    assert hedging.positions[sold.order].price_open == 1.1


def test_slippage_moves_market_fills_against_the_trader() -> None:
    broker = broker_with(execution=ExecutionModel(slippage_points=3))

    bought = broker.send(market(BUY, 0.1))
    sold = broker.send(market(SELL, 0.1))

    assert bought.price == 1.10013  # ask 1.10010 + 3 points
    assert sold.price == 1.09997  # bid 1.10000 - 3 points


def test_order_params_request_is_accepted_by_the_broker(hedging: SimBroker) -> None:
    params = parse_order_params(
        {"backtest_toggle": True, "symbol": "EURUSD", "order_type": "buy", "volume": 0.1}
    )

    result = hedging.send(params.to_mt5_request())

    assert result.retcode == mt5.TRADE_RETCODE_DONE
    position = hedging.positions[result.order]
    assert (position.magic, position.comment, position.price_open) == (123456, "MAS Order", 1.1001)


# ---- pending orders triggered by quotes ----------------------------------------------------


def test_buy_limit_triggers_on_ask_not_on_bid(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09950)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09945, 1.09955)  # bid below, ask above
    assert ticket in hedging.orders
    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.09940, 1.09950)  # ask reaches the level

    assert ticket not in hedging.orders
    assert hedging.positions[ticket].price_open == 1.0995
    assert hedging.history_orders[ticket].state == mt5.ORDER_STATE_FILLED


def test_sell_limit_triggers_on_bid_not_on_ask(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_SELL_LIMIT, 0.1, 1.10050)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10045, 1.10055)  # ask above, bid below
    assert ticket in hedging.orders
    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.10050, 1.10060)

    position = hedging.positions[ticket]
    assert (position.type, position.price_open) == (mt5.POSITION_TYPE_SELL, 1.1005)


def test_buy_stop_triggers_when_ask_reaches_it_while_bid_is_below(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10050)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10040, 1.10050)

    assert hedging.positions[ticket].price_open == 1.1005


def test_sell_stop_triggers_when_bid_reaches_it_while_ask_is_above(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_SELL_STOP, 0.1, 1.09950)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09950, 1.09960)

    assert hedging.positions[ticket].price_open == 1.0995


def test_buy_stop_fills_at_ask_when_price_gaps_over_it(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10050)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10100, 1.10110)

    assert hedging.positions[ticket].price_open == 1.1011
    assert last_deal(hedging).price == 1.1011


def test_sell_stop_fills_at_bid_when_price_gaps_under_it(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_SELL_STOP, 0.1, 1.09950)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09900, 1.09910)

    assert hedging.positions[ticket].price_open == 1.099


def test_buy_limit_fills_at_the_better_ask_after_a_gap_down(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09950)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09900, 1.09910)

    assert hedging.positions[ticket].price_open == 1.0991


def test_triggered_buy_stop_is_slipped_against_the_trader() -> None:
    broker = broker_with(execution=ExecutionModel(slippage_points=2))
    ticket = broker.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10050)).order

    broker.set_quote("EURUSD", MONDAY_10H + 1, 1.10040, 1.10050)

    assert broker.positions[ticket].price_open == 1.10052


# ---- pending orders triggered inside bars --------------------------------------------------


def test_buy_stop_crossed_inside_a_bar_fills_exactly_at_its_level(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10100)).order

    # Up bar O-L-H-C, spread 10 points: ask reaches 1.10100 when bid is 1.10000 on the way up.
    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10200, 1.09950, 1.10150, 10)

    assert hedging.positions[ticket].price_open == 1.101


def test_buy_limit_crossed_inside_a_bar_fills_exactly_at_its_level_on_ask(
    hedging: SimBroker,
) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09900)).order

    # Down bar O-H-L-C: on the way down the ask is 1.09900 when the bid is 1.09890.
    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10050, 1.09800, 1.09850, 10)

    assert hedging.positions[ticket].price_open == 1.099


def test_sell_limit_crossed_inside_a_bar_fills_exactly_at_its_level_on_bid(
    hedging: SimBroker,
) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_SELL_LIMIT, 0.1, 1.10100)).order

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10200, 1.09950, 1.10150, 10)

    assert hedging.positions[ticket].price_open == 1.101


def test_sell_stop_gapped_at_the_bar_open_fills_at_the_open_not_at_the_stop(
    hedging: SimBroker,
) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_SELL_STOP, 0.1, 1.09900)).order

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.09800, 1.09850, 1.09700, 1.09750, 10)

    assert hedging.positions[ticket].price_open == 1.098


def test_buy_stop_gapped_at_the_bar_open_fills_at_the_open_ask(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10100)).order

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10300, 1.10400, 1.10250, 1.10350, 10)

    assert hedging.positions[ticket].price_open == 1.1031  # open bid 1.10300 + 10 points


def test_take_profit_of_an_order_filled_inside_a_bar_fills_at_its_level_later_in_the_same_leg(
    hedging: SimBroker,
) -> None:
    # Sell stop at 1.09900 with TP 1.09700; a down bar O-H-L-C falls from 1.10050 to 1.09500,
    # crossing the entry and then the TP on the same leg: the TP fills at 1.09700, not at the low.
    ticket = hedging.send(
        pending(mt5.ORDER_TYPE_SELL_STOP, 0.1, 1.09900, tp=1.09700, sl=1.10500)
    ).order

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10050, 1.09500, 1.09600, 0)

    closing = last_deal(hedging)
    assert (closing.position_id, closing.reason) == (ticket, mt5.DEAL_REASON_TP)
    assert closing.price == 1.097
    assert closing.profit == 20.0  # (1.09900 - 1.09700) * 0.1 lot * 100,000


def test_stop_limit_activated_inside_a_bar_fills_at_its_limit_when_the_bar_turns_back(
    hedging: SimBroker,
) -> None:
    # Sell stop-limit: stop 1.09900, limit 1.09950. An up bar O-L-H-C drops to 1.09800 (stop
    # triggers at 1.09900 and places the sell limit) and then rises to 1.10100, crossing 1.09950.
    ticket = hedging.send(
        pending(mt5.ORDER_TYPE_SELL_STOP_LIMIT, 0.1, 1.09900, stoplimit=1.09950)
    ).order

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10100, 1.09800, 1.10050, 0)

    assert hedging.positions[ticket].price_open == 1.0995


# ---- intrabar order of SL and TP ----------------------------------------------------------


def _buy_with_stops(broker: SimBroker) -> int:
    return broker.send(market(BUY, 0.1, sl=1.09900, tp=1.10100)).order


def test_up_bar_walks_low_before_high_so_buy_stop_loss_is_hit_first(hedging: SimBroker) -> None:
    ticket = _buy_with_stops(hedging)

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10150, 1.09850, 1.10120, 10)

    closing = last_deal(hedging)
    assert ticket not in hedging.positions
    assert (closing.reason, closing.price, closing.entry) == (
        mt5.DEAL_REASON_SL,
        1.099,
        mt5.DEAL_ENTRY_OUT,
    )
    assert closing.profit == -11.0  # (1.09900 - 1.10010) * 10,000


def test_down_bar_walks_high_before_low_so_buy_take_profit_is_hit_first(
    hedging: SimBroker,
) -> None:
    _buy_with_stops(hedging)

    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10150, 1.09850, 1.09900, 10)

    closing = last_deal(hedging)
    assert (closing.reason, closing.price, closing.profit) == (mt5.DEAL_REASON_TP, 1.101, 9.0)


def test_sell_stop_loss_inside_a_bar_fills_at_its_level_on_ask(hedging: SimBroker) -> None:
    hedging.send(market(SELL, 0.1, sl=1.10100, tp=1.09800))

    # Up bar: ask = bid + 10 points reaches 1.10100 when bid is 1.10090, before the high 1.10150.
    hedging.on_bar("EURUSD", MONDAY_10H + 60, 60, 1.10000, 1.10150, 1.09950, 1.10120, 10)

    closing = last_deal(hedging)
    assert (closing.reason, closing.price, closing.profit) == (mt5.DEAL_REASON_SL, 1.101, -10.0)


# ---- SL and TP triggered by quotes --------------------------------------------------------


def test_buy_take_profit_triggers_on_bid_and_closes_with_reason_tp(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1, tp=1.10100)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10095, 1.10105)  # ask past TP, bid not
    assert ticket in hedging.positions
    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.10100, 1.10110)

    closing = last_deal(hedging)
    assert ticket not in hedging.positions
    assert (closing.reason, closing.price, closing.profit) == (mt5.DEAL_REASON_TP, 1.101, 9.0)
    closing_order = hedging.history_orders[closing.order]
    assert (closing_order.reason, closing_order.state) == (
        mt5.ORDER_REASON_TP,
        mt5.ORDER_STATE_FILLED,
    )


def test_buy_stop_loss_triggers_on_bid(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1, sl=1.09900)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09900, 1.09910)

    closing = last_deal(hedging)
    assert ticket not in hedging.positions
    assert (closing.reason, closing.price, closing.profit) == (mt5.DEAL_REASON_SL, 1.099, -11.0)
    assert hedging.history_orders[closing.order].reason == mt5.ORDER_REASON_SL


def test_sell_stop_loss_triggers_when_ask_reaches_it_while_bid_is_below(hedging: SimBroker) -> None:
    ticket = hedging.send(market(SELL, 0.1, sl=1.10100)).order  # sold at bid 1.10000

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10085, 1.10095)
    assert ticket in hedging.positions
    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.10090, 1.10100)

    closing = last_deal(hedging)
    assert (closing.reason, closing.price, closing.profit) == (mt5.DEAL_REASON_SL, 1.101, -10.0)


def test_sell_take_profit_triggers_on_ask(hedging: SimBroker) -> None:
    hedging.send(market(SELL, 0.1, tp=1.09900))

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09900, 1.09910)  # bid at TP, ask not yet
    assert hedging.positions
    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.09890, 1.09900)

    closing = last_deal(hedging)
    assert (closing.reason, closing.price, closing.profit) == (mt5.DEAL_REASON_TP, 1.099, 10.0)


def test_stop_loss_gapped_over_closes_at_the_worse_market_price(hedging: SimBroker) -> None:
    hedging.send(market(BUY, 0.1, sl=1.09900))

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09800, 1.09810)

    assert last_deal(hedging).price == 1.098


# ---- stop-limit ------------------------------------------------------------------------------


def test_buy_stop_limit_becomes_a_buy_limit_at_stoplimit_with_the_same_ticket(
    hedging: SimBroker,
) -> None:
    ticket = hedging.send(
        pending(mt5.ORDER_TYPE_BUY_STOP_LIMIT, 0.1, 1.10100, stoplimit=1.10050)
    ).order
    assert hedging.orders[ticket].price_stoplimit == 1.1005

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10095, 1.10105)  # ask reaches the stop

    order = hedging.orders[ticket]
    assert (order.type, order.price_open, order.type_filling) == (
        mt5.ORDER_TYPE_BUY_LIMIT,
        1.1005,
        mt5.ORDER_FILLING_RETURN,
    )
    assert not hedging.positions

    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.10040, 1.10050)  # ask back down to the limit

    assert ticket not in hedging.orders
    assert hedging.positions[ticket].price_open == 1.1005
    assert hedging.history_orders[ticket].state == mt5.ORDER_STATE_FILLED


def test_sell_stop_limit_becomes_a_sell_limit_at_stoplimit_and_fills_on_bid(
    hedging: SimBroker,
) -> None:
    ticket = hedging.send(
        pending(mt5.ORDER_TYPE_SELL_STOP_LIMIT, 0.1, 1.09900, stoplimit=1.09950)
    ).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09900, 1.09910)
    assert hedging.orders[ticket].type == mt5.ORDER_TYPE_SELL_LIMIT
    hedging.set_quote("EURUSD", MONDAY_10H + 2, 1.09950, 1.09960)

    position = hedging.positions[ticket]
    assert (position.type, position.price_open) == (mt5.POSITION_TYPE_SELL, 1.0995)


def test_buy_stop_limit_with_limit_above_stop_is_refused(hedging: SimBroker) -> None:
    result = hedging.send(pending(mt5.ORDER_TYPE_BUY_STOP_LIMIT, 0.1, 1.10100, stoplimit=1.10200))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_PRICE


# ---- expiration ----------------------------------------------------------------------------


def test_gtc_order_never_expires_and_keeps_time_expiration_as_sent(hedging: SimBroker) -> None:
    ticket = hedging.send(
        pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000, expiration=MONDAY_10H + HOUR)
    ).order

    hedging.set_quote("EURUSD", MONDAY_10H + 30 * DAY, 1.10000, 1.10010)

    assert hedging.orders[ticket].time_expiration == MONDAY_10H + HOUR
    assert hedging.orders[ticket].state == mt5.ORDER_STATE_PLACED


def test_day_order_expires_at_the_end_of_the_server_day(hedging: SimBroker) -> None:
    ticket = hedging.send(
        pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000, type_time=mt5.ORDER_TIME_DAY)
    ).order
    assert hedging.orders[ticket].time_expiration == MONDAY_END

    hedging.set_quote("EURUSD", MONDAY_END, 1.10000, 1.10010)
    assert ticket in hedging.orders
    hedging.set_quote("EURUSD", TUESDAY_0H, 1.10000, 1.10010)

    assert ticket not in hedging.orders
    assert hedging.history_orders[ticket].state == mt5.ORDER_STATE_EXPIRED


def test_specified_order_expires_at_its_expiration_time(hedging: SimBroker) -> None:
    expiration = MONDAY_10H + HOUR
    ticket = hedging.send(
        pending(
            mt5.ORDER_TYPE_SELL_LIMIT,
            0.1,
            1.11000,
            type_time=mt5.ORDER_TIME_SPECIFIED,
            expiration=expiration,
        )
    ).order
    assert hedging.orders[ticket].time_expiration == expiration

    hedging.set_quote("EURUSD", expiration - 1, 1.10000, 1.10010)
    assert ticket in hedging.orders
    hedging.set_quote("EURUSD", expiration, 1.10000, 1.10010)

    assert hedging.history_orders[ticket].state == mt5.ORDER_STATE_EXPIRED


def test_specified_day_order_lasts_until_235959_of_its_expiration_day(hedging: SimBroker) -> None:
    ticket = hedging.send(
        pending(
            mt5.ORDER_TYPE_SELL_STOP,
            0.1,
            1.09000,
            type_time=mt5.ORDER_TIME_SPECIFIED_DAY,
            expiration=MONDAY_10H + 2 * HOUR,
        )
    ).order
    assert hedging.orders[ticket].time_expiration == MONDAY_END

    hedging.set_quote("EURUSD", MONDAY_10H + 3 * HOUR, 1.10000, 1.10010)
    assert ticket in hedging.orders
    hedging.set_quote("EURUSD", TUESDAY_0H, 1.10000, 1.10010)

    assert hedging.history_orders[ticket].state == mt5.ORDER_STATE_EXPIRED


@pytest.mark.parametrize(
    ("type_time", "expiration"),
    [
        (mt5.ORDER_TIME_SPECIFIED, MONDAY_10H - HOUR),
        (mt5.ORDER_TIME_SPECIFIED, MONDAY_10H),
        (mt5.ORDER_TIME_SPECIFIED, 0),
        (mt5.ORDER_TIME_SPECIFIED_DAY, MONDAY_10H - DAY),
    ],
    ids=["an-hour-ago", "now", "zero", "yesterday"],
)
def test_specified_expiration_in_the_past_is_refused_with_10022(
    hedging: SimBroker, type_time: int, expiration: int
) -> None:
    result = hedging.send(
        pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000, type_time=type_time, expiration=expiration)
    )

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_EXPIRATION
    assert nothing_traded(hedging)


def test_expiration_mode_the_symbol_does_not_allow_is_refused_with_10022() -> None:
    broker = broker_with({"expiration_mode": SYMBOL_EXPIRATION_GTC | SYMBOL_EXPIRATION_SPECIFIED})

    result = broker.send(
        pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000, type_time=mt5.ORDER_TIME_DAY)
    )

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_EXPIRATION
    assert nothing_traded(broker)


# ---- rejections are retcodes ---------------------------------------------------------------


@pytest.mark.parametrize("action", [0, 3, 99])
def test_unknown_action_is_refused_with_10013(hedging: SimBroker, action: int) -> None:
    result = hedging.send({**market(BUY, 0.1), "action": action})

    assert result.retcode == mt5.TRADE_RETCODE_INVALID
    assert nothing_traded(hedging)


def test_symbol_without_a_quote_is_refused_with_10021(hedging: SimBroker) -> None:
    result = hedging.send(market(BUY, 0.1, symbol="USDJPY"))

    assert (result.retcode, result.comment) == (mt5.TRADE_RETCODE_PRICE_OFF, "No prices")


@pytest.mark.parametrize(
    "volume",
    [0.001, 0.0, -0.1, 100.01, 150.0, 0.015],
    ids=["below-min", "zero", "negative", "above-max", "far-above-max", "off-step"],
)
def test_volume_outside_min_max_or_step_is_refused_with_10014(
    hedging: SimBroker, volume: float
) -> None:
    assert hedging.send(market(BUY, volume)).retcode == mt5.TRADE_RETCODE_INVALID_VOLUME
    assert nothing_traded(hedging)


def test_volume_on_the_step_after_float_arithmetic_is_accepted(hedging: SimBroker) -> None:
    result = hedging.send(market(BUY, 0.1 + 0.2))  # 0.30000000000000004

    assert (result.retcode, result.volume) == (mt5.TRADE_RETCODE_DONE, 0.3)


def test_fok_on_a_symbol_that_only_allows_ioc_is_refused_with_10030() -> None:
    broker = broker_with({"filling_mode": SYMBOL_FILLING_IOC})

    refused = broker.send(market(BUY, 0.1))
    accepted = broker.send(market(BUY, 0.1, type_filling=mt5.ORDER_FILLING_IOC))

    assert (refused.retcode, refused.comment) == (
        mt5.TRADE_RETCODE_INVALID_FILL,
        "Unsupported filling mode",
    )
    assert accepted.retcode == mt5.TRADE_RETCODE_DONE


def test_return_filling_on_a_market_order_is_refused_with_10030(hedging: SimBroker) -> None:
    result = hedging.send(market(BUY, 0.1, type_filling=mt5.ORDER_FILLING_RETURN))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_FILL


def test_return_filling_on_a_pending_order_is_accepted(hedging: SimBroker) -> None:
    result = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000))

    assert result.retcode == mt5.TRADE_RETCODE_DONE


@pytest.mark.parametrize(
    ("order_type", "price"),
    [
        (mt5.ORDER_TYPE_BUY_LIMIT, 1.10020),  # above ask
        (mt5.ORDER_TYPE_BUY_LIMIT, 1.10010),  # at ask
        (mt5.ORDER_TYPE_SELL_LIMIT, 1.09990),  # below bid
        (mt5.ORDER_TYPE_BUY_STOP, 1.10000),  # below ask
        (mt5.ORDER_TYPE_SELL_STOP, 1.10005),  # above bid
        (mt5.ORDER_TYPE_BUY_STOP_LIMIT, 1.10000),  # trigger below ask
    ],
)
def test_pending_price_on_the_wrong_side_of_the_market_is_refused_with_10015(
    hedging: SimBroker, order_type: int, price: float
) -> None:
    result = hedging.send(pending(order_type, 0.1, price, stoplimit=price))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_PRICE
    assert nothing_traded(hedging)


def test_pending_price_closer_than_the_stops_level_is_refused_with_10015() -> None:
    broker = broker_with({"trade_stops_level": 20})  # 20 points = 2 pips

    too_close = broker.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10029))  # ask + 19 points
    far_enough = broker.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10030))  # ask + 20 points
    sell_limit_too_close = broker.send(pending(mt5.ORDER_TYPE_SELL_LIMIT, 0.1, 1.10019))

    assert too_close.retcode == mt5.TRADE_RETCODE_INVALID_PRICE
    assert far_enough.retcode == mt5.TRADE_RETCODE_DONE
    assert sell_limit_too_close.retcode == mt5.TRADE_RETCODE_INVALID_PRICE


@pytest.mark.parametrize(
    "stops",
    [{"sl": 1.10005}, {"tp": 1.09990}, {"sl": 1.10000}],
    ids=["sl-above-bid", "tp-below-bid", "sl-at-bid"],
)
def test_buy_sl_or_tp_on_the_wrong_side_of_bid_is_refused_with_10016(
    hedging: SimBroker, stops: dict[str, float]
) -> None:
    result = hedging.send(market(BUY, 0.1, **stops))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    assert nothing_traded(hedging)


def test_sell_sl_below_ask_is_refused_with_10016(hedging: SimBroker) -> None:
    # A sell's SL is checked against the ask 1.10010, so 1.10005 is on the wrong side.
    assert hedging.send(market(SELL, 0.1, sl=1.10005)).retcode == mt5.TRADE_RETCODE_INVALID_STOPS


def test_sl_within_the_stops_level_is_refused_with_10016() -> None:
    broker = broker_with({"trade_stops_level": 20})

    too_close = broker.send(market(BUY, 0.1, sl=1.09990))  # bid - 10 points
    far_enough = broker.send(market(BUY, 0.1, sl=1.09980))  # bid - 20 points

    assert too_close.retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    assert far_enough.retcode == mt5.TRADE_RETCODE_DONE


def test_pending_sl_above_a_buy_limit_price_is_refused_with_10016(hedging: SimBroker) -> None:
    result = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000, sl=1.09100))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_STOPS


def test_order_needing_more_margin_than_free_is_refused_with_10019() -> None:
    broker = broker_with(account=AccountConfig(balance=100.0))

    result = broker.send(market(BUY, 1.0))  # 1 lot needs about $1,100 at 1:100

    assert (result.retcode, result.comment) == (mt5.TRADE_RETCODE_NO_MONEY, "No money")
    assert nothing_traded(broker)
    assert broker.balance == 100.0


@pytest.mark.parametrize(
    ("trade_mode", "order_type", "retcode"),
    [
        (mt5.SYMBOL_TRADE_MODE_DISABLED, BUY, mt5.TRADE_RETCODE_TRADE_DISABLED),
        (mt5.SYMBOL_TRADE_MODE_LONGONLY, SELL, mt5.TRADE_RETCODE_LONG_ONLY),
        (mt5.SYMBOL_TRADE_MODE_SHORTONLY, BUY, mt5.TRADE_RETCODE_SHORT_ONLY),
        (mt5.SYMBOL_TRADE_MODE_CLOSEONLY, BUY, mt5.TRADE_RETCODE_CLOSE_ONLY),
        (mt5.SYMBOL_TRADE_MODE_CLOSEONLY, SELL, mt5.TRADE_RETCODE_CLOSE_ONLY),
    ],
)
def test_symbol_trade_mode_refuses_orders_that_open_the_forbidden_side(
    trade_mode: int, order_type: int, retcode: int
) -> None:
    broker = broker_with({"trade_mode": trade_mode})

    assert broker.send(market(order_type, 0.1)).retcode == retcode
    assert nothing_traded(broker)


@pytest.mark.parametrize(
    ("trade_mode", "order_type"),
    [
        (mt5.SYMBOL_TRADE_MODE_LONGONLY, BUY),
        (mt5.SYMBOL_TRADE_MODE_SHORTONLY, SELL),
    ],
)
def test_symbol_trade_mode_lets_the_allowed_side_open(trade_mode: int, order_type: int) -> None:
    broker = broker_with({"trade_mode": trade_mode})

    assert broker.send(market(order_type, 0.1)).retcode == mt5.TRADE_RETCODE_DONE


def test_pending_sell_limit_on_a_long_only_symbol_is_refused_with_10042() -> None:
    broker = broker_with({"trade_mode": mt5.SYMBOL_TRADE_MODE_LONGONLY})

    result = broker.send(pending(mt5.ORDER_TYPE_SELL_LIMIT, 0.1, 1.11000))

    assert result.retcode == mt5.TRADE_RETCODE_LONG_ONLY


def test_close_only_symbol_still_closes_a_hedging_position(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1)).order
    hedging.add_symbol(symbol_spec("EURUSD", {"trade_mode": mt5.SYMBOL_TRADE_MODE_CLOSEONLY}))

    result = hedging.send(market(SELL, 0.1, position=ticket))

    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert not hedging.positions


def test_close_only_symbol_still_closes_a_netting_position_by_symbol(netting: SimBroker) -> None:
    netting.send(market(BUY, 0.2))
    netting.add_symbol(symbol_spec("EURUSD", {"trade_mode": mt5.SYMBOL_TRADE_MODE_CLOSEONLY}))

    reversing = netting.send(market(SELL, 0.3))
    reducing = netting.send(market(SELL, 0.1))
    closing = netting.send(market(SELL, 0.1))

    assert reversing.retcode == mt5.TRADE_RETCODE_CLOSE_ONLY
    assert (reducing.retcode, closing.retcode) == (mt5.TRADE_RETCODE_DONE,) * 2
    assert not netting.positions


def test_long_only_symbol_lets_a_netting_long_be_closed_by_a_sell() -> None:
    broker = broker_with(
        {"trade_mode": mt5.SYMBOL_TRADE_MODE_LONGONLY},
        account=AccountConfig(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING),
    )
    broker.send(market(BUY, 0.1))

    assert broker.send(market(SELL, 0.2)).retcode == mt5.TRADE_RETCODE_LONG_ONLY  # would reverse
    assert broker.send(market(SELL, 0.1)).retcode == mt5.TRADE_RETCODE_DONE
    assert not broker.positions


def test_pending_order_beyond_the_account_limit_is_refused_with_10033() -> None:
    broker = broker_with(account=AccountConfig(limit_orders=2))
    broker.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000))
    broker.send(pending(mt5.ORDER_TYPE_SELL_LIMIT, 0.1, 1.11000))

    result = broker.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.11000))

    assert result.retcode == mt5.TRADE_RETCODE_LIMIT_ORDERS
    assert len(broker.orders) == 2


def test_sltp_with_the_current_values_is_refused_with_10025(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1, sl=1.09000, tp=1.11000)).order
    sltp = {"action": mt5.TRADE_ACTION_SLTP, "symbol": "EURUSD", "position": ticket}

    same = hedging.send({**sltp, "sl": 1.09000, "tp": 1.11000})
    moved = hedging.send({**sltp, "sl": 1.09500, "tp": 1.11000})

    assert same.retcode == mt5.TRADE_RETCODE_NO_CHANGES
    assert moved.retcode == mt5.TRADE_RETCODE_DONE
    assert hedging.positions[ticket].sl == 1.095


def test_sltp_with_sl_on_the_wrong_side_is_refused_with_10016(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1)).order

    result = hedging.send(
        {"action": mt5.TRADE_ACTION_SLTP, "symbol": "EURUSD", "position": ticket, "sl": 1.10050}
    )

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_STOPS


def test_instant_execution_market_order_without_price_is_refused_with_10015() -> None:
    broker = broker_with({"trade_exemode": mt5.SYMBOL_TRADE_EXECUTION_INSTANT})

    result = broker.send(market(BUY, 0.1))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_PRICE


def test_instant_execution_price_moved_beyond_deviation_is_requoted_with_the_new_prices() -> None:
    broker = broker_with({"trade_exemode": mt5.SYMBOL_TRADE_EXECUTION_INSTANT})

    # Ask is 1.10010; a price 11 points away with deviation 10 is a requote, 10 points is a fill.
    requoted = broker.send(market(BUY, 0.1, price=1.09999, deviation=10))
    filled = broker.send(market(BUY, 0.1, price=1.10000, deviation=10))

    assert (requoted.retcode, requoted.bid, requoted.ask) == (
        mt5.TRADE_RETCODE_REQUOTE,
        1.1,
        1.1001,
    )
    assert filled.retcode == mt5.TRADE_RETCODE_DONE
    assert len(broker.positions) == 1


def test_instant_execution_refuses_ioc_filling_with_10030() -> None:
    broker = broker_with({"trade_exemode": mt5.SYMBOL_TRADE_EXECUTION_INSTANT})

    result = broker.send(market(BUY, 0.1, price=1.10010, type_filling=mt5.ORDER_FILLING_IOC))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_FILL


def test_fok_order_larger_than_the_liquidity_is_rejected_with_10006() -> None:
    broker = broker_with(execution=ExecutionModel(liquidity_lots=0.5))

    result = broker.send(market(BUY, 1.0))

    assert result.retcode == mt5.TRADE_RETCODE_REJECT
    assert nothing_traded(broker)


@pytest.mark.parametrize("liquidity_lots", [0.5, 0.29, 0.57])
def test_ioc_order_larger_than_the_liquidity_fills_what_is_there_with_10010(
    liquidity_lots: float,
) -> None:
    broker = broker_with(execution=ExecutionModel(liquidity_lots=liquidity_lots))

    result = broker.send(market(BUY, 1.0, type_filling=mt5.ORDER_FILLING_IOC))

    assert (result.retcode, result.volume) == (mt5.TRADE_RETCODE_DONE_PARTIAL, liquidity_lots)
    assert only_position(broker).volume == liquidity_lots
    order = broker.history_orders[result.order]
    assert (order.volume_initial, order.volume_current) == (1.0, round(1.0 - liquidity_lots, 2))


def test_rejections_never_raise_for_garbage_requests(hedging: SimBroker) -> None:
    for request in (
        {},
        {"action": mt5.TRADE_ACTION_DEAL, "symbol": "NOPE", "volume": 0.1},
        {"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1, "type": 5},
        {"action": mt5.TRADE_ACTION_REMOVE, "order": 123},
        {"action": mt5.TRADE_ACTION_SLTP, "position": 123, "sl": 1.0},
        {"action": mt5.TRADE_ACTION_CLOSE_BY, "position": 1, "position_by": 2},
    ):
        assert hedging.send(request).retcode != mt5.TRADE_RETCODE_DONE
    assert nothing_traded(hedging)


# ---- tickets ---------------------------------------------------------------------------------


def test_market_order_ticket_is_the_new_position_ticket_and_identifier(hedging: SimBroker) -> None:
    result = hedging.send(market(BUY, 0.1))

    position = hedging.positions[result.order]
    deal = last_deal(hedging)
    assert position.ticket == position.identifier == result.order
    assert (deal.ticket, deal.order, deal.position_id) == (result.deal, result.order, result.order)
    assert (deal.type, deal.entry, deal.reason) == (
        mt5.DEAL_TYPE_BUY,
        mt5.DEAL_ENTRY_IN,
        mt5.DEAL_REASON_EXPERT,  # orders sent through the API are the expert's, as their orders
    )
    assert hedging.history_orders[result.order].reason == mt5.ORDER_REASON_EXPERT


def test_order_and_deal_tickets_are_separate_increasing_sequences(hedging: SimBroker) -> None:
    first = hedging.send(market(BUY, 0.1))
    second = hedging.send(market(SELL, 0.1))

    assert second.order > first.order
    assert second.deal > first.deal
    assert {first.order, second.order}.isdisjoint({first.deal, second.deal})


def test_executed_market_order_is_only_in_history_as_filled(hedging: SimBroker) -> None:
    result = hedging.send(market(BUY, 0.1))

    assert result.order not in hedging.orders
    order = hedging.history_orders[result.order]
    assert (order.state, order.position_id, order.volume_current) == (
        mt5.ORDER_STATE_FILLED,
        result.order,
        0.0,
    )


def test_pending_order_rests_in_orders_as_placed_until_removed_as_canceled(
    hedging: SimBroker,
) -> None:
    result = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000))
    assert (result.retcode, result.deal) == (mt5.TRADE_RETCODE_DONE, 0)
    assert hedging.orders[result.order].state == mt5.ORDER_STATE_PLACED
    assert result.order not in hedging.history_orders

    removed = hedging.send({"action": mt5.TRADE_ACTION_REMOVE, "order": result.order})

    assert removed.retcode == mt5.TRADE_RETCODE_DONE
    assert result.order not in hedging.orders
    assert hedging.history_orders[result.order].state == mt5.ORDER_STATE_CANCELED
    assert nothing_traded(hedging)


def test_removing_an_unknown_order_is_refused_with_10013(hedging: SimBroker) -> None:
    result = hedging.send({"action": mt5.TRADE_ACTION_REMOVE, "order": 42})

    assert result.retcode == mt5.TRADE_RETCODE_INVALID


def test_filled_pending_order_moves_to_history_with_its_position_id(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_STOP, 0.1, 1.10050)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10100, 1.10110)

    order = hedging.history_orders[ticket]
    assert (order.state, order.position_id) == (mt5.ORDER_STATE_FILLED, ticket)
    assert last_deal(hedging).order == ticket


def test_first_deal_is_the_balance_deposit(hedging: SimBroker) -> None:
    deposit = hedging.deals[0]

    assert (deposit.type, deposit.profit, deposit.order) == (mt5.DEAL_TYPE_BALANCE, 10_000.0, 0)


def test_modify_moves_a_pending_order_price_and_sl(hedging: SimBroker) -> None:
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000)).order

    result = hedging.send(
        {"action": mt5.TRADE_ACTION_MODIFY, "order": ticket, "price": 1.09500, "sl": 1.09000}
    )

    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert (hedging.orders[ticket].price_open, hedging.orders[ticket].sl) == (1.095, 1.09)


# ---- netting ---------------------------------------------------------------------------------


def test_netting_same_direction_deal_adds_to_the_position_at_the_average_price(
    netting: SimBroker,
) -> None:
    first = netting.send(market(BUY, 0.1))  # at 1.10010
    netting.set_quote("EURUSD", MONDAY_10H + 1, 1.10020, 1.10030)
    second = netting.send(market(BUY, 0.3))  # at 1.10030

    position = only_position(netting)
    assert (position.ticket, position.identifier, position.volume) == (
        first.order,
        first.order,
        0.4,
    )
    assert position.price_open == 1.10025  # (1.10010 * 0.1 + 1.10030 * 0.3) / 0.4
    deal = last_deal(netting)
    assert (deal.entry, deal.position_id, deal.order) == (
        mt5.DEAL_ENTRY_IN,
        first.order,
        second.order,
    )


def test_netting_opposite_deal_reduces_the_position_with_entry_out(netting: SimBroker) -> None:
    first = netting.send(market(BUY, 0.3))  # at 1.10010
    netting.set_quote("EURUSD", MONDAY_10H + 1, 1.10100, 1.10110)

    netting.send(market(SELL, 0.1))  # at 1.10100

    position = only_position(netting)
    assert (position.ticket, position.volume, position.type) == (
        first.order,
        0.2,
        mt5.POSITION_TYPE_BUY,
    )
    deal = last_deal(netting)
    assert (deal.entry, deal.position_id, deal.profit) == (mt5.DEAL_ENTRY_OUT, first.order, 9.0)
    assert netting.balance == 10_009.0


def test_netting_equal_opposite_deal_closes_the_position(netting: SimBroker) -> None:
    netting.send(market(BUY, 0.1))

    netting.send(market(SELL, 0.1))

    assert not netting.positions
    assert last_deal(netting).entry == mt5.DEAL_ENTRY_OUT
    assert netting.balance == 9_999.0  # the spread: (1.10000 - 1.10010) * 10,000


def test_netting_larger_opposite_deal_reverses_keeping_the_identifier(netting: SimBroker) -> None:
    first = netting.send(market(BUY, 0.1))  # at 1.10010
    netting.set_quote("EURUSD", MONDAY_10H + 1, 1.10100, 1.10110)

    second = netting.send(market(SELL, 0.3))  # at 1.10100

    position = only_position(netting)
    assert (position.ticket, position.identifier) == (second.order, first.order)
    assert (position.type, position.volume, position.price_open) == (
        mt5.POSITION_TYPE_SELL,
        0.2,
        1.101,
    )
    deal = last_deal(netting)
    assert (deal.entry, deal.volume, deal.profit, deal.position_id) == (
        mt5.DEAL_ENTRY_INOUT,
        0.3,
        9.0,
        first.order,
    )


def test_netting_close_with_position_ticket_closes_it(netting: SimBroker) -> None:
    ticket = netting.send(market(SELL, 0.2)).order

    netting.send(market(BUY, 0.2, position=ticket))

    assert not netting.positions
    assert last_deal(netting).entry == mt5.DEAL_ENTRY_OUT


def test_netting_pending_buy_adding_to_a_long_is_rejected_without_margin() -> None:
    # $150 at 1:100 on a zero-spread 1.10000 quote: 0.1 lot long needs $110. At 1.09900 the long
    # is $10 down (equity $140), and 0.2 lot would need $219.80: the buy limit cannot fill.
    broker = broker_with(
        account=AccountConfig(balance=150.0, margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING),
        bid=1.10000,
        ask=1.10000,
    )
    broker.send(market(BUY, 0.1))
    ticket = broker.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09900)).order

    broker.set_quote("EURUSD", MONDAY_10H + 1, 1.09900, 1.09900)

    assert broker.history_orders[ticket].state == mt5.ORDER_STATE_REJECTED
    assert only_position(broker).volume == 0.1


# ---- hedging ---------------------------------------------------------------------------------


def test_hedging_opposite_deal_without_position_opens_a_second_position(
    hedging: SimBroker,
) -> None:
    bought = hedging.send(market(BUY, 0.1))
    sold = hedging.send(market(SELL, 0.1))

    assert set(hedging.positions) == {bought.order, sold.order}
    assert last_deal(hedging).entry == mt5.DEAL_ENTRY_IN


def test_hedging_close_with_the_same_type_as_the_position_is_refused(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1)).order

    result = hedging.send(market(BUY, 0.1, position=ticket))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID
    assert hedging.positions[ticket].volume == 0.1


def test_hedging_close_of_an_unknown_position_is_refused(hedging: SimBroker) -> None:
    assert (
        hedging.send(market(SELL, 0.1, position=999)).retcode == mt5.TRADE_RETCODE_POSITION_CLOSED
    )


def test_hedging_close_larger_than_the_position_is_refused_with_10038(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1)).order

    result = hedging.send(market(SELL, 0.2, position=ticket))

    assert result.retcode == mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME


def test_hedging_partial_close_keeps_the_position_ticket(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.3)).order  # at 1.10010
    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10110, 1.10120)

    result = hedging.send(market(SELL, 0.1, position=ticket))  # at 1.10110

    assert hedging.positions[ticket].volume == 0.2
    deal = last_deal(hedging)
    assert (deal.entry, deal.position_id, deal.profit) == (mt5.DEAL_ENTRY_OUT, ticket, 10.0)
    assert hedging.history_orders[result.order].position_id == ticket


def test_close_by_closes_both_positions_at_the_open_price_of_position_by(
    hedging: SimBroker,
) -> None:
    buy = hedging.send(market(BUY, 0.1)).order  # at 1.10010
    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10100, 1.10120)
    sell = hedging.send(market(SELL, 0.1)).order  # at 1.10100

    result = hedging.send(
        {"action": mt5.TRADE_ACTION_CLOSE_BY, "position": buy, "position_by": sell}
    )

    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert not hedging.positions
    closing = [deal for deal in hedging.deals if deal.order == result.order]
    assert [(d.position_id, d.entry, d.price, d.profit) for d in closing] == [
        (buy, mt5.DEAL_ENTRY_OUT_BY, 1.101, 9.0),
        (sell, mt5.DEAL_ENTRY_OUT_BY, 1.101, 0.0),
    ]
    order = hedging.history_orders[result.order]
    assert (order.type, order.state) == (mt5.ORDER_TYPE_CLOSE_BY, mt5.ORDER_STATE_FILLED)
    assert (order.position_id, order.position_by_id) == (buy, sell)
    assert hedging.balance == 10_009.0  # no spread paid on the close


def test_close_by_with_unequal_volumes_leaves_the_rest_of_the_larger_one(
    hedging: SimBroker,
) -> None:
    buy = hedging.send(market(BUY, 0.3)).order
    sell = hedging.send(market(SELL, 0.1)).order

    hedging.send({"action": mt5.TRADE_ACTION_CLOSE_BY, "position": buy, "position_by": sell})

    assert list(hedging.positions) == [buy]
    assert hedging.positions[buy].volume == 0.2


def test_close_by_two_positions_of_the_same_type_is_refused(hedging: SimBroker) -> None:
    first = hedging.send(market(BUY, 0.1)).order
    second = hedging.send(market(BUY, 0.1)).order

    result = hedging.send(
        {"action": mt5.TRADE_ACTION_CLOSE_BY, "position": first, "position_by": second}
    )

    assert result.retcode == mt5.TRADE_RETCODE_INVALID
    assert len(hedging.positions) == 2


def test_close_by_on_a_netting_account_is_refused(netting: SimBroker) -> None:
    ticket = netting.send(market(BUY, 0.1)).order

    result = netting.send(
        {"action": mt5.TRADE_ACTION_CLOSE_BY, "position": ticket, "position_by": ticket}
    )

    assert result.retcode == mt5.TRADE_RETCODE_INVALID
    assert netting.positions[ticket].volume == 0.1


# ---- money -----------------------------------------------------------------------------------


def test_eurusd_profit_of_ten_pips_on_a_tenth_of_a_lot_is_ten_dollars(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1)).order  # at ask 1.10010

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10110, 1.10120)  # bid 10 pips higher

    assert hedging.positions[ticket].profit == 10.0
    assert hedging.account_info()["equity"] == 10_010.0
    hedging.send(market(SELL, 0.1, position=ticket))
    assert last_deal(hedging).profit == 10.0
    assert hedging.balance == 10_010.0


def test_usdjpy_profit_is_converted_to_usd_at_the_usdjpy_quote(hedging: SimBroker) -> None:
    hedging.set_quote("USDJPY", MONDAY_10H, 150.000, 150.000)
    ticket = hedging.send(market(BUY, 0.1, symbol="USDJPY")).order

    hedging.set_quote("USDJPY", MONDAY_10H + 1, 151.000, 151.000)

    # 1 yen * 0.1 lot * 100,000 = 10,000 JPY, worth 10,000 / 151 = $66.23
    assert hedging.positions[ticket].profit == 66.23
    assert hedging.calc_profit(BUY, "USDJPY", 0.1, 150.0, 151.0) == 66.23


def test_commission_per_lot_and_side_is_charged_on_each_deal() -> None:
    broker = broker_with({"commission_per_lot": 3.5})

    ticket = broker.send(market(BUY, 2.0)).order
    assert last_deal(broker).commission == -7.0
    broker.send(market(SELL, 2.0, position=ticket))

    assert last_deal(broker).commission == -7.0
    assert last_deal(broker).profit == -20.0  # the spread: 1 pip on 2 lots
    assert broker.balance == 10_000.0 - 7.0 - 7.0 - 20.0


def _hold_one_lot_long(broker: SimBroker, opened_at: int, until: int) -> float:
    broker.set_quote("EURUSD", opened_at, 1.10000, 1.10010)
    ticket = broker.send(market(BUY, 1.0)).order
    broker.set_quote("EURUSD", until, 1.10000, 1.10010)
    return broker.positions[ticket].swap


def test_swap_is_charged_at_server_midnight() -> None:
    broker = broker_with()

    # swap_long -7.2 points: -7.2 * 0.00001 * 100,000 = -$7.20 a lot a night
    assert _hold_one_lot_long(broker, MONDAY_10H, TUESDAY_0H - 1) == 0.0
    broker.set_quote("EURUSD", TUESDAY_0H, 1.10000, 1.10010)
    assert only_position(broker).swap == -7.2


def test_swap_is_tripled_at_the_rollover_after_wednesday() -> None:
    swap = _hold_one_lot_long(broker_with(), WEDNESDAY_10H, WEDNESDAY_10H + DAY)

    assert swap == -21.6


def test_no_swap_is_charged_at_the_rollovers_after_saturday_and_sunday() -> None:
    # Friday 10:00 to Monday 10:00: only the Friday night is charged.
    swap = _hold_one_lot_long(broker_with(), FRIDAY_10H, FRIDAY_10H + 3 * DAY)

    assert swap == -7.2


def test_a_week_of_swaps_is_seven_nights() -> None:
    # Mon, Tue, Wed (x3), Thu, Fri nights: 7 * -7.20
    swap = _hold_one_lot_long(broker_with(), MONDAY_10H, MONDAY_10H + 7 * DAY)

    assert swap == pytest.approx(-50.4)


def test_swap_of_a_sell_uses_swap_short_and_reaches_the_balance_on_close(
    hedging: SimBroker,
) -> None:
    ticket = hedging.send(market(SELL, 1.0)).order  # at 1.10000
    hedging.set_quote("EURUSD", TUESDAY_0H, 1.10000, 1.10010)
    assert hedging.positions[ticket].swap == 2.1  # swap_short 2.1 points a lot

    hedging.send(market(BUY, 1.0, position=ticket))  # at 1.10010

    deal = last_deal(hedging)
    assert (deal.swap, deal.profit) == (2.1, -10.0)
    assert hedging.balance == pytest.approx(10_000.0 + 2.1 - 10.0)


def test_margin_of_one_eurusd_lot_at_1_10_and_leverage_100_is_1100_dollars() -> None:
    broker = broker_with(bid=1.10000, ask=1.10000)

    broker.send(market(BUY, 1.0))

    assert broker.margin == pytest.approx(1_100.0)
    assert broker.account_info()["margin"] == 1_100.0
    assert broker.calc_margin(BUY, "EURUSD", 1.0, 1.1) == 1_100.0


def test_hedged_eurusd_lots_need_margin_for_one_side_only(hedging: SimBroker) -> None:
    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.10000, 1.10000)
    hedging.send(market(BUY, 1.0))
    hedging.send(market(SELL, 1.0))

    # margin_hedged 50,000 of a 100,000 contract: each hedged lot counts half.
    assert hedging.margin == pytest.approx(1_100.0)


def test_stop_out_closes_the_most_losing_position_at_the_stop_out_level() -> None:
    # $1,000 at 1:100, zero spread. A: 0.2 lot long at 1.10000. B: 0.2 lot long at 1.09000.
    broker = broker_with(account=AccountConfig(balance=1_000.0), bid=1.10000, ask=1.10000)
    a = broker.send(market(BUY, 0.2)).order
    broker.set_quote("EURUSD", MONDAY_10H + 1, 1.09000, 1.09000)
    b = broker.send(market(BUY, 0.2)).order

    # At 1.07600: equity 1000 - 480 - 280 = 240, margin 0.4 * 1000 * 1.076 = 430.40 -> 55.8 %
    broker.set_quote("EURUSD", MONDAY_10H + 2, 1.07600, 1.07600)
    assert set(broker.positions) == {a, b}
    # At 1.07500: equity 1000 - 500 - 300 = 200, margin 430 -> 46.5 %: A (-$500) goes.
    broker.set_quote("EURUSD", MONDAY_10H + 3, 1.07500, 1.07500)

    assert set(broker.positions) == {b}
    closing = last_deal(broker)
    assert (closing.position_id, closing.reason, closing.price, closing.profit) == (
        a,
        mt5.DEAL_REASON_SO,
        1.075,
        -500.0,
    )
    assert broker.history_orders[closing.order].reason == mt5.ORDER_REASON_SO
    assert broker.balance == 500.0


# ---- check() ---------------------------------------------------------------------------------


def test_check_reports_done_and_the_projected_margin_without_trading() -> None:
    broker = broker_with(bid=1.10000, ask=1.10000)

    checked = broker.check(market(BUY, 1.0))

    assert (checked.retcode, checked.comment) == (0, "Done")
    assert (checked.balance, checked.equity, checked.margin, checked.margin_free) == (
        10_000.0,
        10_000.0,
        1_100.0,
        8_900.0,
    )
    assert checked.margin_level == pytest.approx(909.09)
    assert nothing_traded(broker)
    assert not broker.history_orders
    assert broker.send(market(BUY, 1.0)).order == 10_000_001  # no ticket was used up


@pytest.mark.parametrize(
    ("request_", "retcode"),
    [
        (market(BUY, 0.001), mt5.TRADE_RETCODE_INVALID_VOLUME),
        (market(BUY, 0.1, sl=1.2), mt5.TRADE_RETCODE_INVALID_STOPS),
        (market(BUY, 500.0), mt5.TRADE_RETCODE_INVALID_VOLUME),
        (market(BUY, 50.0), mt5.TRADE_RETCODE_NO_MONEY),
        (pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.2), mt5.TRADE_RETCODE_INVALID_PRICE),
    ],
)
def test_check_reports_the_retcode_send_would_give_without_trading(
    hedging: SimBroker, request_: dict[str, Any], retcode: int
) -> None:
    checked = hedging.check(request_)

    assert checked.retcode == retcode
    assert checked.balance == 10_000.0
    assert nothing_traded(hedging)
    assert hedging.send(request_).retcode == retcode


def test_check_of_a_close_leaves_the_position_open(hedging: SimBroker) -> None:
    ticket = hedging.send(market(BUY, 0.1)).order

    checked = hedging.check(market(SELL, 0.1, position=ticket))

    assert checked.retcode == 0
    assert hedging.positions[ticket].volume == 0.1


# ---- events ----------------------------------------------------------------------------------


def _record(broker: SimBroker) -> list[BrokerEvent]:
    events: list[BrokerEvent] = []
    broker.subscribe(events.append)
    return events


def test_market_order_emits_placed_then_filled_with_its_deal(hedging: SimBroker) -> None:
    events = _record(hedging)

    result = hedging.send(market(BUY, 0.1))

    assert [e.state for e in events] == [OrderState.PLACED, OrderState.FILLED]
    assert all(e.order["ticket"] == result.order for e in events)
    filled = events[-1]
    assert filled.deal is not None
    assert (filled.deal["ticket"], filled.retcode) == (result.deal, mt5.TRADE_RETCODE_DONE)


def test_an_order_sent_from_a_callback_does_not_lose_the_events_still_to_come(
    hedging: SimBroker,
) -> None:
    # Two buy limits fill on one quote; the client reacts to the first fill by selling. Every
    # event of the quote and of the sale reaches the client, each once, in order.
    first = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.0990)).order
    second = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.2, 1.0980)).order
    seen: list[tuple[int, OrderState]] = []

    def react(event: BrokerEvent) -> None:
        seen.append((event.order["ticket"], event.state))
        if event.order["ticket"] == first and event.state == OrderState.FILLED:
            sold = hedging.send(market(SELL, 0.1))
            assert sold.retcode == mt5.TRADE_RETCODE_DONE

    hedging.subscribe(react)
    hedging.set_quote("EURUSD", MONDAY_10H + 60, 1.0970, 1.0971)

    sale = first + 2  # the next order ticket after the two pending orders
    assert seen == [
        (first, OrderState.FILLED),
        (sale, OrderState.PLACED),
        (sale, OrderState.FILLED),
        (second, OrderState.FILLED),
    ]


def test_expiring_pending_order_emits_placed_then_expired(hedging: SimBroker) -> None:
    events = _record(hedging)
    expiration = MONDAY_10H + HOUR
    hedging.send(
        pending(
            mt5.ORDER_TYPE_BUY_LIMIT,
            0.1,
            1.09000,
            type_time=mt5.ORDER_TIME_SPECIFIED,
            expiration=expiration,
        )
    )

    hedging.set_quote("EURUSD", expiration, 1.10000, 1.10010)

    assert [e.state for e in events] == [OrderState.PLACED, OrderState.EXPIRED]
    assert (events[-1].time_s, events[-1].deal) == (expiration, None)
    assert events[-1].order["state"] == mt5.ORDER_STATE_EXPIRED


def test_triggered_pending_order_emits_placed_then_filled_with_its_deal(
    hedging: SimBroker,
) -> None:
    events = _record(hedging)
    ticket = hedging.send(pending(mt5.ORDER_TYPE_SELL_STOP, 0.1, 1.09950)).order

    hedging.set_quote("EURUSD", MONDAY_10H + 1, 1.09940, 1.09950)

    assert [e.state for e in events] == [OrderState.PLACED, OrderState.FILLED]
    filled = events[-1]
    assert filled.deal is not None
    assert (filled.deal["order"], filled.deal["price"]) == (ticket, 1.0994)


def test_cancelled_pending_order_emits_placed_then_cancelled(hedging: SimBroker) -> None:
    events = _record(hedging)
    ticket = hedging.send(pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.1, 1.09000)).order

    hedging.send({"action": mt5.TRADE_ACTION_REMOVE, "order": ticket})

    assert [e.state for e in events] == [OrderState.PLACED, OrderState.CANCELLED]


# ---- server permissions, volume limit, cross-currency valuation ------------------------------


def test_server_that_forbids_expert_trading_answers_10026() -> None:
    broker = broker_with(account=AccountConfig(trade_expert=False))
    result = broker.send(market(mt5.ORDER_TYPE_BUY, 0.1))
    assert result.retcode == mt5.TRADE_RETCODE_SERVER_DISABLES_AT
    assert nothing_traded(broker)


def test_volume_limit_counts_open_and_pending_volume_of_one_direction() -> None:
    broker = broker_with({"volume_limit": 1.0})
    assert broker.send(market(mt5.ORDER_TYPE_BUY, 0.6)).retcode == mt5.TRADE_RETCODE_DONE
    waiting = pending(mt5.ORDER_TYPE_BUY_LIMIT, 0.3, 1.09000)
    assert broker.send(waiting).retcode == mt5.TRADE_RETCODE_DONE
    refused = broker.send(market(mt5.ORDER_TYPE_BUY, 0.2))  # 0.6 + 0.3 + 0.2 > 1.0
    assert refused.retcode == mt5.TRADE_RETCODE_LIMIT_VOLUME
    assert broker.send(market(mt5.ORDER_TYPE_SELL, 0.9)).retcode == mt5.TRADE_RETCODE_DONE


def test_eurjpy_position_is_revalued_in_usd_when_only_usdjpy_moves() -> None:
    broker = SimBroker([symbol_spec("EURJPY"), symbol_spec("USDJPY")])
    broker.set_quote("USDJPY", MONDAY_10H, 150.000, 150.000)
    broker.set_quote("EURJPY", MONDAY_10H, 160.000, 160.000)
    broker.send(market(mt5.ORDER_TYPE_BUY, 1.0, "EURJPY"))
    broker.set_quote("EURJPY", MONDAY_10H + 1, 160.150, 160.150)  # +15 pips = 15,000 JPY
    assert only_position(broker).profit == pytest.approx(100.00)  # at 150 JPY per USD
    broker.set_quote("USDJPY", MONDAY_10H + 2, 125.000, 125.000)
    assert only_position(broker).profit == pytest.approx(120.00)  # now 125 JPY per USD


# ---- bars whose path cannot reach any level (walked without searching for levels) ------------------
def test_an_order_expiring_inside_a_bar_is_gone_by_the_bars_close(hedging: SimBroker) -> None:
    """The bar never comes near the limit, but the order's time ends inside it."""
    ticket = hedging.send(
        pending(
            mt5.ORDER_TYPE_BUY_LIMIT,
            0.1,
            1.09000,
            type_time=mt5.ORDER_TIME_SPECIFIED,
            expiration=MONDAY_10H + HOUR + 1_800,
        )
    ).order
    hedging.on_bar("EURUSD", MONDAY_10H + HOUR, HOUR, 1.10000, 1.10020, 1.09980, 1.10010, 10)

    assert ticket not in hedging.orders
    assert hedging.history_orders[ticket].state == mt5.ORDER_STATE_EXPIRED
    assert hedging.history_orders[ticket].time_done < MONDAY_10H + 2 * HOUR


def test_swaps_charged_inside_a_weekly_bar_can_stop_the_account_out_in_it() -> None:
    """Price stays flat, but seven nights of a -100-point swap on one lot ($700) take a $1,200
    account's margin level (1 lot of EURUSD: $1,100) below the 50 % stop-out inside the bar."""
    spec = symbol_spec("EURUSD", {"swap_long": -100.0, "swap_mode": mt5.SYMBOL_SWAP_MODE_POINTS})
    broker = SimBroker([spec], account=AccountConfig(balance=1_200.0))
    monday = MONDAY_10H - 10 * HOUR
    broker.open_bar("EURUSD", monday - 3 * DAY, 1.10000, 10)  # the Friday before
    assert broker.send(market(BUY, 1.0)).retcode == mt5.TRADE_RETCODE_DONE
    broker.open_bar("EURUSD", monday, 1.10000, 10)
    broker.finish_bar("EURUSD", monday, 7 * DAY, 1.10000, 1.10020, 1.09980, 1.10000, 10)

    assert not broker.positions
    (closing,) = [deal for deal in broker.deals if deal.entry == mt5.DEAL_ENTRY_OUT]
    assert closing.reason == mt5.DEAL_REASON_SO
    assert closing.time < monday + 7 * DAY - 1
