"""Accounting invariants of the simulated broker over random trading sessions.

Hypothesis drives a broker with random quotes, bars, market and pending orders, closes, close-bys,
SL/TP changes and cancellations, on netting and hedging accounts, and after every step checks that
the books balance the way an MT5 account's do:

* equity = balance + floating profit and swap of the open positions;
* balance = the sum of every deal's profit, commission and swap (the deposit is a deal);
* every filled order has exactly one deal (a close-by order two), other finished orders none;
* every position's volume is the net of its deals, every closed position's deals net to zero;
* each open position is valued at its exit side of the current quote.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nl_trader import mt5
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.symbols import symbol_spec

START_S = int(datetime(2024, 1, 8, 10, tzinfo=UTC).timestamp())  # a Monday
SYMBOLS = ("EURUSD", "USDJPY")
BASE_PRICE = {"EURUSD": 1.10000, "USDJPY": 150.000}
POINT = {"EURUSD": 0.00001, "USDJPY": 0.001}
DIGITS = {"EURUSD": 5, "USDJPY": 3}
PENDING_TYPES = (
    mt5.ORDER_TYPE_BUY_LIMIT,
    mt5.ORDER_TYPE_SELL_LIMIT,
    mt5.ORDER_TYPE_BUY_STOP,
    mt5.ORDER_TYPE_SELL_STOP,
    mt5.ORDER_TYPE_BUY_STOP_LIMIT,
    mt5.ORDER_TYPE_SELL_STOP_LIMIT,
)
BUY_SIDE = {
    mt5.ORDER_TYPE_BUY_LIMIT,
    mt5.ORDER_TYPE_BUY_STOP,
    mt5.ORDER_TYPE_BUY_STOP_LIMIT,
}

symbols = st.sampled_from(SYMBOLS)
lots = st.integers(1, 200).map(lambda steps: round(steps * 0.01, 2))
no_stop_or_points = st.one_of(st.just(0), st.integers(1, 800))  # 0 = no SL / TP

quote_moves = st.tuples(
    st.just("quote"),
    symbols,
    st.integers(-1500, 1500),  # move of the bid, points
    st.integers(0, 30),  # spread, points
    st.sampled_from([1, 60, 3_600, 8 * 3_600, 26 * 3_600]),  # seconds later (some cross midnight)
)
bars = st.tuples(
    st.just("bar"),
    symbols,
    st.integers(-300, 300),  # open from the last bid, points
    st.integers(-600, 600),  # close from the open, points
    st.integers(0, 600),  # high above max(open, close)
    st.integers(0, 600),  # low below min(open, close)
    st.integers(0, 30),  # spread, points
    st.sampled_from([60, 300, 3_600, 4 * 3_600]),  # bar length
)
market_orders = st.tuples(
    st.just("market"),
    symbols,
    st.sampled_from([mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL]),
    lots,
    no_stop_or_points,  # SL distance from the exit price
    no_stop_or_points,  # TP distance
)
pending_orders = st.tuples(
    st.just("pending"),
    symbols,
    st.sampled_from(PENDING_TYPES),
    lots,
    st.integers(-20, 300),  # trigger distance from the market, points (<= 0 is refused)
    st.integers(0, 300),  # stop-limit: limit distance back from the trigger
    no_stop_or_points,  # SL distance from the entry
    no_stop_or_points,  # TP distance from the entry
    st.sampled_from([mt5.ORDER_TIME_GTC, mt5.ORDER_TIME_DAY, mt5.ORDER_TIME_SPECIFIED]),
)
closes = st.tuples(
    st.just("close"),
    st.integers(0, 20),  # which open position
    st.integers(1, 100),  # percent of its volume
    st.booleans(),  # name the position ticket (netting can close by symbol)
)
close_bys = st.tuples(st.just("close_by"), st.integers(0, 3), st.integers(0, 3))
removals = st.tuples(st.just("remove"), st.integers(0, 20))
sltp_changes = st.tuples(
    st.just("sltp"), st.integers(0, 20), st.integers(-100, 800), st.integers(-100, 800)
)
actions = st.one_of(
    quote_moves,
    quote_moves,
    bars,
    bars,
    market_orders,
    market_orders,
    pending_orders,
    pending_orders,
    closes,
    close_bys,
    removals,
    sltp_changes,
)


@dataclass
class Session:
    """The broker under test and the market the random actions move."""

    broker: SimBroker
    now_s: int = START_S
    bid: dict[str, float] = field(default_factory=lambda: dict(BASE_PRICE))


def new_session(margin_mode: int, balance: float, leverage: int) -> Session:
    specs = [symbol_spec("EURUSD", {"commission_per_lot": 3.5}), symbol_spec("USDJPY")]
    account = AccountConfig(margin_mode=margin_mode, balance=balance, leverage=leverage)
    session = Session(SimBroker(specs, account=account))
    for symbol in SYMBOLS:
        spread = 10 * POINT[symbol]
        session.broker.set_quote(symbol, START_S, BASE_PRICE[symbol], BASE_PRICE[symbol] + spread)
    return session


def price(symbol: str, value: float) -> float:
    """Keep a random walk within +-20 % of the base price, on the symbol's grid."""
    base = BASE_PRICE[symbol]
    return round(min(max(value, base * 0.8), base * 1.2), DIGITS[symbol])


def request(action: int, **fields: Any) -> dict[str, Any]:
    return {"action": action, **fields}


def apply(session: Session, step: tuple[Any, ...]) -> None:
    """Play one random action; refused requests are fine, exceptions are not."""
    broker = session.broker
    kind = step[0]
    positions = sorted(broker.positions)
    if kind == "quote":
        _, symbol, move, spread, later = step
        session.now_s += later
        bid = price(symbol, session.bid[symbol] + move * POINT[symbol])
        session.bid[symbol] = bid
        broker.set_quote(symbol, session.now_s, bid, bid + spread * POINT[symbol])
    elif kind == "bar":
        _, symbol, gap, body, up, down, spread, length = step
        point = POINT[symbol]
        open_ = price(symbol, session.bid[symbol] + gap * point)
        close = price(symbol, open_ + body * point)
        high = price(symbol, max(open_, close) + up * point)
        low = price(symbol, min(open_, close) - down * point)
        high, low = max(high, open_, close), min(low, open_, close)
        session.now_s += length
        broker.on_bar(symbol, session.now_s, length, open_, high, low, close, spread)
        session.now_s += length
        session.bid[symbol] = close
    elif kind == "market":
        _, symbol, order_type, volume, sl_points, tp_points = step
        quote = broker.quote(symbol)
        assert quote is not None
        is_buy = order_type == mt5.ORDER_TYPE_BUY
        exit_price = quote.bid if is_buy else quote.ask
        direction = 1 if is_buy else -1
        point = POINT[symbol]
        sl = round(exit_price - direction * sl_points * point, DIGITS[symbol]) if sl_points else 0.0
        tp = round(exit_price + direction * tp_points * point, DIGITS[symbol]) if tp_points else 0.0
        broker.send(
            request(
                mt5.TRADE_ACTION_DEAL,
                symbol=symbol,
                volume=volume,
                type=order_type,
                type_filling=mt5.ORDER_FILLING_FOK,
                sl=sl,
                tp=tp,
            )
        )
    elif kind == "pending":
        _, symbol, order_type, volume, distance, back, sl_points, tp_points, type_time = step
        quote = broker.quote(symbol)
        assert quote is not None
        point, digits = POINT[symbol], DIGITS[symbol]
        is_buy = order_type in BUY_SIDE
        reference = quote.ask if is_buy else quote.bid
        below = order_type in (
            mt5.ORDER_TYPE_BUY_LIMIT,
            mt5.ORDER_TYPE_SELL_STOP,
            mt5.ORDER_TYPE_SELL_STOP_LIMIT,
        )
        trigger = round(reference + (-distance if below else distance) * point, digits)
        stoplimit = 0.0
        entry = trigger
        if order_type == mt5.ORDER_TYPE_BUY_STOP_LIMIT:
            stoplimit = entry = round(trigger - back * point, digits)
        elif order_type == mt5.ORDER_TYPE_SELL_STOP_LIMIT:
            stoplimit = entry = round(trigger + back * point, digits)
        direction = 1 if is_buy else -1
        sl = round(entry - direction * sl_points * point, digits) if sl_points else 0.0
        tp = round(entry + direction * tp_points * point, digits) if tp_points else 0.0
        broker.send(
            request(
                mt5.TRADE_ACTION_PENDING,
                symbol=symbol,
                volume=volume,
                type=order_type,
                price=max(trigger, point),
                stoplimit=max(stoplimit, 0.0),
                sl=max(sl, 0.0),
                tp=max(tp, 0.0),
                type_filling=mt5.ORDER_FILLING_RETURN,
                type_time=type_time,
                expiration=session.now_s + 2 * 3_600,
            )
        )
    elif kind == "close" and positions:
        _, index, percent, by_ticket = step
        position = broker.positions[positions[index % len(positions)]]
        volume = max(0.01, round(position.volume * percent / 100, 2))
        closing_type = (
            mt5.ORDER_TYPE_SELL if position.type == mt5.POSITION_TYPE_BUY else mt5.ORDER_TYPE_BUY
        )
        fields: dict[str, Any] = {
            "symbol": position.symbol,
            "volume": volume,
            "type": closing_type,
            "type_filling": mt5.ORDER_FILLING_FOK,
        }
        if by_ticket or broker.account.hedging:
            fields["position"] = position.ticket
        broker.send(request(mt5.TRADE_ACTION_DEAL, **fields))
    elif kind == "close_by" and positions:
        _, first, second = step
        result = broker.send(
            request(
                mt5.TRADE_ACTION_CLOSE_BY,
                position=positions[first % len(positions)],
                position_by=positions[second % len(positions)],
            )
        )
        if not broker.account.hedging:
            assert result.retcode == mt5.TRADE_RETCODE_INVALID
    elif kind == "remove" and broker.orders:
        tickets = sorted(broker.orders)
        broker.send(request(mt5.TRADE_ACTION_REMOVE, order=tickets[step[1] % len(tickets)]))
    elif kind == "sltp" and positions:
        _, index, sl_points, tp_points = step
        position = broker.positions[positions[index % len(positions)]]
        quote = broker.quote(position.symbol)
        assert quote is not None
        point, digits = POINT[position.symbol], DIGITS[position.symbol]
        is_buy = position.type == mt5.POSITION_TYPE_BUY
        exit_price = quote.bid if is_buy else quote.ask
        direction = 1 if is_buy else -1
        broker.send(
            request(
                mt5.TRADE_ACTION_SLTP,
                symbol=position.symbol,
                position=position.ticket,
                sl=round(exit_price - direction * sl_points * point, digits),
                tp=round(exit_price + direction * tp_points * point, digits),
            )
        )


def assert_books_balance(broker: SimBroker) -> None:
    positions = list(broker.positions.values())

    # Equity is balance plus the open positions' floating profit and swap.
    info = broker.account_info()
    floating = sum(p.profit + p.swap for p in positions)
    assert abs(info["equity"] - (info["balance"] + floating)) <= 0.01
    assert abs(broker.equity - (broker.balance + floating)) <= 1e-6

    # Each open position is valued at the exit side of its symbol's current quote.
    for position in positions:
        quote = broker.quote(position.symbol)
        assert quote is not None
        is_buy = position.type == mt5.POSITION_TYPE_BUY
        exit_price = quote.bid if is_buy else quote.ask
        assert position.price_current == exit_price
        move = (exit_price - position.price_open) * (1 if is_buy else -1)
        in_quote_currency = move * position.volume * 100_000
        # USDJPY profit is in yen: one dollar buys `ask` yen.
        expected = (
            in_quote_currency / quote.ask if position.symbol == "USDJPY" else in_quote_currency
        )
        assert abs(position.profit - expected) <= 0.006

    # Balance is the sum of every deal's money, the deposit included.
    booked = sum(d.profit + d.commission + d.swap for d in broker.deals)
    assert abs(broker.balance - booked) <= 1e-6
    assert broker.deals[0].type == mt5.DEAL_TYPE_BALANCE

    # A filled order has exactly one deal (a close-by two); other finished orders have none.
    deals_of: dict[int, int] = defaultdict(int)
    for deal in broker.deals[1:]:
        deals_of[deal.order] += 1
        assert deal.order in broker.history_orders
    for ticket, order in broker.history_orders.items():
        if order.state == mt5.ORDER_STATE_FILLED:
            expected_deals = 2 if order.type == mt5.ORDER_TYPE_CLOSE_BY else 1
        else:
            expected_deals = 0
        assert deals_of[ticket] == expected_deals, order
    for ticket in broker.orders:
        assert deals_of[ticket] == 0
        assert broker.orders[ticket].state == mt5.ORDER_STATE_PLACED

    # Each position's volume is the net of its deals; closed positions' deals net to zero.
    net: dict[int, float] = defaultdict(float)
    for deal in broker.deals[1:]:
        net[deal.position_id] += deal.volume if deal.type == mt5.DEAL_TYPE_BUY else -deal.volume
    open_ids = {p.identifier: p for p in positions}
    for identifier, volume in net.items():
        position = open_ids.get(identifier)
        if position is None:
            assert abs(volume) < 1e-6, identifier
        else:
            signed = position.volume if position.type == mt5.POSITION_TYPE_BUY else -position.volume
            assert abs(volume - signed) < 1e-6, position
    for position in positions:
        assert position.volume > 0
        assert position.identifier in net

    if not broker.account.hedging:
        symbols_held = [p.symbol for p in positions]
        assert len(symbols_held) == len(set(symbols_held))


@pytest.mark.parametrize(
    "margin_mode",
    [mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING, mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING],
    ids=["netting", "hedging"],
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(actions, min_size=10, max_size=60),
    balance=st.sampled_from([300.0, 2_000.0, 10_000.0]),
    leverage=st.sampled_from([30, 100, 500]),
)
def test_books_balance_after_every_step_of_a_random_session(
    margin_mode: int, steps: list[tuple[Any, ...]], balance: float, leverage: int
) -> None:
    session = new_session(margin_mode, balance, leverage)
    assert_books_balance(session.broker)
    for step in steps:
        apply(session, step)
        assert_books_balance(session.broker)
