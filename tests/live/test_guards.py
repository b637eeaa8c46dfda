"""Guards refuse risk-adding requests at their limits and never keep a trader in a trade.

Each guard is checked at its limit and just inside it, on plain dicts (as the terminal's records
read through ``_asdict()``) and on the fake terminal, whose fills come from the simulated broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.guards import (
    FOREX_WEEK,
    GuardLimits,
    GuardRefusal,
    GuardSnapshot,
    check,
    from_config,
    snapshot,
)

MAGIC = 7001
OTHER_MAGIC = 7002
WEDNESDAY_NOON_S = int(datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp())


def server_s(text: str, offset_s: int = 0) -> int:
    """A UTC moment 'YYYY-MM-DD HH:MM' as the server's clock writes it (UTC + offset)."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return int(moment.timestamp()) + offset_s


def entry(**overrides: Any) -> dict[str, Any]:
    """A market buy of 0.1 lot EURUSD, as prepare_request writes it."""
    return {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": "EURUSD",
        "volume": 0.1,
        "type": mt5.ORDER_TYPE_BUY,
        "type_filling": mt5.ORDER_FILLING_FOK,
        "magic": MAGIC,
        **overrides,
    }


def position(ticket: int, volume: float, kind: int = mt5.POSITION_TYPE_BUY) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "type": kind,
        "magic": MAGIC,
        "volume": volume,
        "symbol": "EURUSD",
        "profit": 0.0,
    }


def pending(ticket: int, volume: float) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "type": mt5.ORDER_TYPE_BUY_LIMIT,
        "magic": MAGIC,
        "volume_initial": volume,
        "volume_current": volume,
        "symbol": "EURUSD",
    }


def taken(**overrides: Any) -> GuardSnapshot:
    """A hedging USD account with 10,000 and nothing open, EURUSD at 1.10000/1.10012, Wednesday
    noon on a server that runs on UTC."""
    account = {
        "balance": 10_000.0,
        "equity": 10_000.0,
        "margin": 0.0,
        "margin_level": 0.0,
        "margin_mode": mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING,
        "currency": "USD",
        **overrides.pop("account", {}),
    }
    symbol_info = {
        "name": "EURUSD",
        "point": 0.00001,
        "trade_mode": mt5.SYMBOL_TRADE_MODE_FULL,
        **overrides.pop("symbol_info", {}),
    }
    values: dict[str, Any] = {
        "account": account,
        "symbol_info": symbol_info,
        "bid": 1.10000,
        "ask": 1.10012,
        "server_now_s": WEDNESDAY_NOON_S,
        "server_utc_offset_s": 0,
        "positions": [],
        "orders": [],
        "day_start_balance": 10_000.0,
        "recent_sends_s": (),
    }
    values.update(overrides)
    return GuardSnapshot(**values)


def refused_by(refusal: GuardRefusal | None) -> str | None:
    return None if refusal is None else refusal.guard


@pytest.fixture
def fake() -> FakeTerminal:
    terminal = FakeTerminal.with_sample()
    assert terminal.initialize()
    return terminal


def send(terminal: FakeTerminal, request: Mapping[str, Any]) -> Any:
    result = terminal.order_send(dict(request))
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE, result
    return result


def move_to(terminal: FakeTerminal, time_s: int, bid: float, spread_points: int = 12) -> None:
    """The market at ``bid`` at ``time_s`` (server clock)."""
    terminal.broker.set_quote("EURUSD", time_s, bid, round(bid + spread_points * 0.00001, 5))


def close_request(terminal: FakeTerminal, ticket: int) -> dict[str, Any]:
    (held,) = terminal.positions_get(ticket=ticket) or ()
    opposite = mt5.ORDER_TYPE_SELL if held.type == mt5.POSITION_TYPE_BUY else mt5.ORDER_TYPE_BUY
    return entry(type=opposite, volume=held.volume, position=ticket)


# ---- lots ------------------------------------------------------------------------------------
def test_an_order_of_exactly_the_lot_limit_passes_and_one_step_more_is_refused() -> None:
    limits = GuardLimits(max_lots_per_order=1.0)
    assert check(entry(volume=1.0), taken(), limits) is None
    refusal = check(entry(volume=1.01), taken(), limits)
    assert refusal is not None
    assert refusal.guard == "max_lots_per_order"
    assert refusal.figures == {"volume_lots": 1.01, "limit_lots": 1.0}
    assert "1.01 lots is above the limit of 1 lots per order" in refusal.message


def test_lots_per_symbol_count_positions_and_pending_orders_up_to_the_limit() -> None:
    """0.3 lot held and 0.2 lot resting: 0.5 more reaches 1.0 exactly (float sums included)."""
    book = taken(positions=[position(1, 0.3)], orders=[pending(2, 0.2)])
    limits = GuardLimits(max_lots_per_symbol=1.0)
    assert check(entry(volume=0.5), book, limits) is None
    refusal = check(entry(volume=0.51), book, limits)
    assert refusal is not None
    assert refusal.guard == "max_lots_per_symbol"
    assert refusal.figures["after_lots"] == pytest.approx(1.01)
    assert refusal.figures["pending_lots"] == pytest.approx(0.2)


def test_lots_per_symbol_on_the_fake_terminal_ignore_another_strategys_positions(
    fake: FakeTerminal,
) -> None:
    send(fake, entry(volume=0.5, magic=OTHER_MAGIC))
    send(fake, entry(volume=0.4))
    limits = GuardLimits(max_lots_per_symbol=0.5)
    book = snapshot(fake, "EURUSD", MAGIC)
    assert [p["volume"] for p in book.positions] == [0.4]
    assert check(entry(volume=0.1), book, limits) is None
    assert refused_by(check(entry(volume=0.11), book, limits)) == "max_lots_per_symbol"


# ---- positions and rate ----------------------------------------------------------------------
def test_a_new_position_is_refused_once_positions_and_pending_orders_reach_the_limit() -> None:
    limits = GuardLimits(max_open_positions=2)
    assert check(entry(), taken(positions=[position(1, 0.1)]), limits) is None
    full = taken(positions=[position(1, 0.1)], orders=[pending(2, 0.1)])
    refusal = check(entry(), full, limits)
    assert refusal is not None
    assert refusal.guard == "max_open_positions"
    assert refusal.figures == {"positions": 1, "pending_orders": 1, "limit": 2}
    pending_entry = entry(action=mt5.TRADE_ACTION_PENDING, type=mt5.ORDER_TYPE_BUY_LIMIT)
    assert refused_by(check(pending_entry, full, limits)) == "max_open_positions"


def test_open_positions_on_the_fake_terminal_count_only_this_strategys(fake: FakeTerminal) -> None:
    send(fake, entry(magic=OTHER_MAGIC))
    send(fake, entry())
    limits = GuardLimits(max_open_positions=2)
    assert check(entry(), snapshot(fake, "EURUSD", MAGIC), limits) is None
    send(fake, entry())
    assert refused_by(check(entry(), snapshot(fake, "EURUSD", MAGIC), limits)) == (
        "max_open_positions"
    )


def test_on_a_netting_account_adding_to_the_position_opens_no_new_one() -> None:
    netting = taken(
        account={"margin_mode": mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING},
        positions=[position(1, 0.1)],
    )
    assert check(entry(), netting, GuardLimits(max_open_positions=1)) is None


def test_the_order_that_would_exceed_the_orders_per_minute_is_refused() -> None:
    now = WEDNESDAY_NOON_S
    limits = GuardLimits(max_orders_per_minute=3)
    busy = taken(recent_sends_s=(now - 59, now - 30, now - 1))
    refusal = check(entry(), busy, limits)
    assert refusal is not None
    assert refusal.guard == "max_orders_per_minute"
    assert refusal.figures == {"orders_last_minute": 3, "limit": 3}
    # A send exactly 60 s ago has left the minute.
    assert check(entry(), taken(recent_sends_s=(now - 60, now - 30, now - 1)), limits) is None


# ---- daily loss ------------------------------------------------------------------------------
def test_a_floating_loss_that_reaches_the_daily_limit_refuses_new_entries(
    fake: FakeTerminal,
) -> None:
    """A 1-lot EURUSD buy 50 pips under water is a 512 USD loss on the day, not yet realised."""
    tick = fake.symbol_info_tick("EURUSD")
    send(fake, entry(volume=1.0))
    move_to(fake, tick.time + 60, round(tick.bid - 0.0050, 5))
    book = snapshot(fake, "EURUSD", MAGIC)
    assert book.account["balance"] == 10_000.0
    assert book.account["equity"] == 9_488.0
    assert check(entry(), book, GuardLimits(daily_loss_limit=512.01)) is None
    refusal = check(entry(), book, GuardLimits(daily_loss_limit=512.0))
    assert refusal is not None
    assert refusal.guard == "daily_loss_limit"
    assert refusal.figures["loss"] == 512.0
    assert refusal.figures["day_start_balance"] == 10_000.0
    assert refusal.message == (
        "daily loss 512.00 USD since the server day began 2025-06-04 00:00 (server time) "
        "reaches the limit 512.00 USD"
    )


def test_a_close_is_never_refused_even_past_the_daily_loss_limit(fake: FakeTerminal) -> None:
    tick = fake.symbol_info_tick("EURUSD")
    opened = send(fake, entry(volume=1.0))
    move_to(fake, tick.time + 60, round(tick.bid - 0.0100, 5))
    book = snapshot(fake, "EURUSD", MAGIC)
    limits = GuardLimits(daily_loss_limit=100.0, max_lots_per_order=0.01, max_open_positions=0)
    assert refused_by(check(entry(), book, limits)) == "max_lots_per_order"
    close = close_request(fake, opened.order)
    assert check(close, book, limits) is None
    send(fake, close)  # and the terminal takes it
    assert fake.positions_get(symbol="EURUSD") == ()


def test_a_loss_before_the_server_days_start_does_not_count() -> None:
    """On a GMT+2 server, a loss at 23:30 server time (21:30 UTC) belongs to that server day: at
    00:30 the next server day (still the same UTC day) the day's loss is zero."""
    fake = FakeTerminal.with_sample(server_utc_offset_s=7200)
    assert fake.initialize()
    late = server_s("2025-06-04 21:30", 7200)  # 23:30 on the server's clock
    move_to(fake, late, 1.14000)
    opened = send(fake, entry(volume=1.0))
    move_to(fake, late + 60, 1.13500)
    send(fake, close_request(fake, opened.order))
    assert fake.account_info().balance == pytest.approx(10_000.0 - 512.0)
    limits = GuardLimits(daily_loss_limit=100.0)

    same_server_day = snapshot(fake, "EURUSD", MAGIC, server_utc_offset_s=7200)
    assert refused_by(check(entry(), same_server_day, limits)) == "daily_loss_limit"

    move_to(fake, server_s("2025-06-04 22:30", 7200), 1.13500)  # 00:30 the next server day
    next_day = snapshot(fake, "EURUSD", MAGIC, server_utc_offset_s=7200)
    assert next_day.day_start_balance == pytest.approx(9_488.0)
    assert check(entry(), next_day, limits) is None


def test_a_withdrawal_of_the_day_is_not_a_trading_loss(fake: FakeTerminal) -> None:
    """A 512 USD realised loss, then 1,000 withdrawn: the day's loss is 512, not 1,512."""
    tick = fake.symbol_info_tick("EURUSD")
    opened = send(fake, entry(volume=1.0))
    move_to(fake, tick.time + 60, round(tick.bid - 0.0050, 5))
    send(fake, close_request(fake, opened.order))
    withdrawn = WithdrawalTerminal(fake, amount=1_000.0, time_s=tick.time + 120)
    book = snapshot(withdrawn, "EURUSD", MAGIC)
    assert book.account["balance"] == pytest.approx(8_488.0)
    assert book.day_start_balance == pytest.approx(9_000.0)
    assert check(entry(), book, GuardLimits(daily_loss_limit=512.01)) is None
    assert refused_by(check(entry(), book, GuardLimits(daily_loss_limit=512.0))) == (
        "daily_loss_limit"
    )


class WithdrawalTerminal:
    """A fake terminal whose account had ``amount`` withdrawn at ``time_s`` (a balance deal)."""

    def __init__(self, terminal: FakeTerminal, *, amount: float, time_s: int) -> None:
        self.terminal = terminal
        self.amount = amount
        self.time_s = time_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.terminal, name)

    def account_info(self) -> Any:
        info = self.terminal.account_info()._asdict()
        info["balance"] -= self.amount
        info["equity"] -= self.amount
        return Record(info)

    def history_deals_get(self, *args: Any, **kwargs: Any) -> Any:
        deals = self.terminal.history_deals_get(*args, **kwargs) or ()
        deposit, *_ = self.terminal.history_deals_get(0, 2**31 - 1) or ()  # the first deposit
        withdrawal = {
            **deposit._asdict(),
            "ticket": 99,
            "time": self.time_s,
            "profit": -self.amount,
            "comment": "withdrawal",
        }
        return (*deals, Record(withdrawal))


class Record:
    """A terminal record as the package returns it: attributes and ``_asdict()``."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = dict(fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def _asdict(self) -> dict[str, Any]:
        return dict(self._fields)


# ---- margin, spread --------------------------------------------------------------------------
def test_an_entry_is_refused_while_the_margin_level_is_under_the_floor(
    fake: FakeTerminal,
) -> None:
    send(fake, entry(volume=1.0))
    book = snapshot(fake, "EURUSD", MAGIC)
    level = book.account["margin_level"]
    assert level > 0
    assert check(entry(), book, GuardLimits(min_margin_level_pct=level)) is None
    refusal = check(entry(), book, GuardLimits(min_margin_level_pct=level + 0.01))
    assert refusal is not None
    assert refusal.guard == "min_margin_level_pct"
    assert refusal.figures["margin_level_pct"] == level


def test_with_no_margin_in_use_the_margin_floor_does_not_apply(fake: FakeTerminal) -> None:
    book = snapshot(fake, "EURUSD", MAGIC)
    assert book.account["margin"] == 0.0
    assert book.account["margin_level"] == 0.0
    assert check(entry(), book, GuardLimits(min_margin_level_pct=1_000.0)) is None


def test_a_spread_above_the_limit_at_send_is_refused(fake: FakeTerminal) -> None:
    tick = fake.symbol_info_tick("EURUSD")
    move_to(fake, tick.time + 60, 1.14000, spread_points=15)
    book = snapshot(fake, "EURUSD", MAGIC)
    assert check(entry(), book, GuardLimits(max_spread_points=15)) is None
    refusal = check(entry(), book, GuardLimits(max_spread_points=14.9))
    assert refusal is not None
    assert refusal.guard == "max_spread_points"
    assert refusal.figures["spread_points"] == 15.0


# ---- session and trade mode ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("utc", "allowed"),
    [
        ("2026-12-04 21:59", True),  # Friday, a minute before the close
        ("2026-12-04 22:00", False),  # Friday close
        ("2026-12-05 12:00", False),  # Saturday
        ("2026-12-06 21:59", False),  # Sunday before the open
        ("2026-12-06 22:00", True),  # Sunday open
    ],
)
def test_the_forex_week_applies_when_no_hours_are_set(utc: str, allowed: bool) -> None:
    refusal = check(entry(), taken(server_now_s=server_s(utc)), GuardLimits())
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.guard == "trading_hours"
        assert refusal.figures["windows"] == list(FOREX_WEEK)


def test_trading_hours_are_read_in_utc_from_the_servers_clock() -> None:
    """16:30 on a GMT+2 server is 14:30 UTC: inside 'Mon-Fri 07:00-15:00'; 17:30 is not."""
    limits = GuardLimits(trading_hours=("Mon-Fri 07:00-15:00",))
    inside = taken(server_now_s=server_s("2026-12-02 14:30", 7200), server_utc_offset_s=7200)
    outside = taken(server_now_s=server_s("2026-12-02 15:30", 7200), server_utc_offset_s=7200)
    assert check(entry(), inside, limits) is None
    assert refused_by(check(entry(), outside, limits)) == "trading_hours"


def test_a_closed_market_is_found_from_the_sessions_clock_not_the_last_tick(
    fake: FakeTerminal,
) -> None:
    """The last tick stays on its weekday all weekend; the clock passed in says Saturday."""
    tick_s = fake.symbol_info_tick("EURUSD").time
    assert check(entry(), snapshot(fake, "EURUSD", MAGIC), GuardLimits()) is None
    saturday_s = tick_s + 3 * 86_400
    assert datetime.fromtimestamp(saturday_s, UTC).strftime("%a") == "Sat"
    book = snapshot(fake, "EURUSD", MAGIC, server_now_s=saturday_s)
    assert refused_by(check(entry(), book, GuardLimits())) == "trading_hours"


@pytest.mark.parametrize(
    ("mode", "buy_allowed", "sell_allowed"),
    [
        (mt5.SYMBOL_TRADE_MODE_DISABLED, False, False),
        (mt5.SYMBOL_TRADE_MODE_CLOSEONLY, False, False),
        (mt5.SYMBOL_TRADE_MODE_LONGONLY, True, False),
        (mt5.SYMBOL_TRADE_MODE_SHORTONLY, False, True),
        (mt5.SYMBOL_TRADE_MODE_FULL, True, True),
    ],
)
def test_the_symbols_trade_mode_refuses_the_entries_the_server_would(
    mode: int, buy_allowed: bool, sell_allowed: bool
) -> None:
    book = taken(symbol_info={"trade_mode": mode})
    buy = check(entry(), book, GuardLimits())
    sell = check(
        entry(type=mt5.ORDER_TYPE_SELL_STOP, action=mt5.TRADE_ACTION_PENDING), book, GuardLimits()
    )
    assert (buy is None, sell is None) == (buy_allowed, sell_allowed)
    for refusal in (buy, sell):
        assert refusal is None or refusal.figures["trade_mode"] == mode


# ---- risk-reducing requests pass every guard -------------------------------------------------
def test_requests_that_reduce_risk_pass_every_guard_at_once() -> None:
    """Close-only symbol, Saturday, a blown daily limit, a wide spread and a full book: closes,
    close-bys, SL/TP moves and cancels still go out."""
    hostile = taken(
        account={"equity": 5_000.0, "margin": 1_000.0, "margin_level": 50.0},
        symbol_info={"trade_mode": mt5.SYMBOL_TRADE_MODE_CLOSEONLY},
        bid=1.10000,
        ask=1.10500,
        server_now_s=server_s("2026-12-05 12:00"),
        positions=[position(1, 1.0), position(2, 1.0, mt5.POSITION_TYPE_SELL)],
        orders=[pending(3, 1.0)],
        recent_sends_s=(server_s("2026-12-05 11:59"),),
    )
    limits = GuardLimits(
        max_lots_per_order=0.01,
        max_lots_per_symbol=0.01,
        max_open_positions=0,
        max_orders_per_minute=1,
        daily_loss_limit=10.0,
        min_margin_level_pct=500.0,
        max_spread_points=1.0,
    )
    assert check(entry(), hostile, limits) is not None
    reducing = [
        entry(type=mt5.ORDER_TYPE_SELL, volume=1.0, position=1),
        entry(type=mt5.ORDER_TYPE_SELL, volume=0.5, position=1),
        {"action": mt5.TRADE_ACTION_CLOSE_BY, "symbol": "EURUSD", "position": 1, "position_by": 2},
        {"action": mt5.TRADE_ACTION_SLTP, "symbol": "EURUSD", "position": 1, "sl": 1.09, "tp": 0.0},
        {"action": mt5.TRADE_ACTION_MODIFY, "order": 3, "price": 1.09, "sl": 0.0, "tp": 0.0},
        {"action": mt5.TRADE_ACTION_REMOVE, "order": 3},
    ]
    for request in reducing:
        assert check(request, hostile, limits) is None, request


def test_on_a_netting_account_a_deal_against_the_position_is_a_close_but_a_reversal_is_checked() -> (
    None
):
    netting = taken(
        account={"margin_mode": mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING},
        positions=[position(1, 0.5)],
    )
    limits = GuardLimits(max_lots_per_symbol=0.6)
    assert check(entry(type=mt5.ORDER_TYPE_SELL, volume=0.5), netting, limits) is None
    # 1.0 sell against 0.5 long closes 0.5 and opens 0.5 short: within 0.6.
    assert check(entry(type=mt5.ORDER_TYPE_SELL, volume=1.0), netting, limits) is None
    refusal = check(entry(type=mt5.ORDER_TYPE_SELL, volume=1.2), netting, limits)
    assert refusal is not None
    assert refusal.guard == "max_lots_per_symbol"
    assert refusal.figures["after_lots"] == pytest.approx(0.7)


def test_a_deal_naming_the_position_in_its_own_direction_adds_to_it_and_is_checked() -> None:
    netting = taken(
        account={"margin_mode": mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING},
        positions=[position(1, 0.5)],
    )
    request = entry(volume=0.5, position=1)
    assert refused_by(check(request, netting, GuardLimits(max_lots_per_symbol=0.6))) == (
        "max_lots_per_symbol"
    )


# ---- combining and configuring ---------------------------------------------------------------
def test_tightest_takes_the_smaller_maximum_the_higher_floor_and_the_common_hours() -> None:
    account = GuardLimits(
        max_lots_per_order=2.0,
        daily_loss_limit=500.0,
        min_margin_level_pct=200.0,
        trading_hours=("Sun 22:00-Fri 22:00",),
    )
    strategy = GuardLimits(
        max_lots_per_order=0.5,
        max_spread_points=20,
        min_margin_level_pct=300.0,
        trading_hours=("Mon-Fri 07:00-16:00", "Sun 23:00-Mon 01:00"),
    )
    both = GuardLimits.tightest(account, strategy)
    assert both.max_lots_per_order == 0.5
    assert both.daily_loss_limit == 500.0  # set on one side only: kept
    assert both.max_spread_points == 20
    assert both.min_margin_level_pct == 300.0
    assert both.max_open_positions is None
    assert both.trading_hours == (
        "Sun 23:00-Mon 01:00",
        "Mon 07:00-Mon 16:00",
        "Tue 07:00-Tue 16:00",
        "Wed 07:00-Wed 16:00",
        "Thu 07:00-Thu 16:00",
        "Fri 07:00-Fri 16:00",
    )
    assert GuardLimits.tightest(GuardLimits(), GuardLimits()) == GuardLimits()


def test_tightest_of_hours_that_never_overlap_is_a_config_error() -> None:
    with pytest.raises(InvalidInputError, match=r"guards\.trading_hours: .* no minute in common"):
        GuardLimits.tightest(
            GuardLimits(trading_hours=("Mon-Fri 08:00-12:00",)),
            GuardLimits(trading_hours=("Mon-Fri 13:00-17:00",)),
        )


def test_the_whole_week_window_lets_a_weekend_market_trade() -> None:
    """'Mon 00:00-Mon 00:00' is every minute (a crypto CFD on Saturday)."""
    limits = GuardLimits(trading_hours=("Mon 00:00-Mon 00:00",))
    assert check(entry(), taken(server_now_s=server_s("2026-12-05 12:00")), limits) is None


def test_from_config_reads_a_toml_guards_table() -> None:
    limits = from_config(
        {"max_lots_per_order": 1, "daily_loss_limit": 500.0, "trading_hours": "Mon-Fri 07:00-16:00"}
    )
    assert limits.max_lots_per_order == 1.0
    assert limits.daily_loss_limit == 500.0
    assert limits.trading_hours == ("Mon-Fri 07:00-16:00",)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"max_lots_per_order": 0}, r"guards\.max_lots_per_order: Input should be greater than 0"),
        ({"max_lots_per_order": "1"}, r"guards\.max_lots_per_order: Input should be a valid"),
        ({"max_open_positions": 1.5}, r"guards\.max_open_positions: Input should be a valid"),
        ({"max_orders_per_minute": True}, r"guards\.max_orders_per_minute: Input should be"),
        ({"daily_loss_limit": float("inf")}, r"guards\.daily_loss_limit: Input should be a finite"),
        ({"max_lots": 1.0}, r"guards\.max_lots: not a guard; the guards are max_lots_per_order"),
        (
            {"trading_hours": ["Sun 22:00-Fri 25:00"]},
            r"guards\.trading_hours: .*25:00 is not a time",
        ),
        ({"trading_hours": ["weekdays"]}, r"guards\.trading_hours: 'weekdays' is not a window"),
        ({"trading_hours": ["Mon 08:00-Xyz 10:00"]}, r"'Xyz' is not a day"),
        ({"trading_hours": []}, r"guards\.trading_hours: give at least one window"),
    ],
)
def test_config_errors_name_the_field_and_the_problem(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        from_config(table)


def test_config_errors_carry_the_tables_place_in_the_file() -> None:
    with pytest.raises(InvalidInputError) as raised:
        from_config(
            {"max_spread_points": -1, "min_margin_level_pct": 0}, where="strategies.s1.guards"
        )
    assert raised.value.what == "guards"
    assert sorted(raised.value.problems) == [
        "strategies.s1.guards.max_spread_points: Input should be greater than or equal to 0",
        "strategies.s1.guards.min_margin_level_pct: Input should be greater than 0",
    ]
    with pytest.raises(InvalidInputError, match=r"accounts\.x\.guards: expected a table"):
        from_config(5, where="accounts.x.guards")


# ---- the snapshot ----------------------------------------------------------------------------
def test_a_terminal_that_cannot_answer_stops_the_order_instead_of_reading_an_empty_book(
    fake: FakeTerminal,
) -> None:
    fake.shutdown()
    with pytest.raises(TerminalError, match="No IPC connection"):
        snapshot(fake, "EURUSD", MAGIC)


def test_the_refusal_is_a_plain_dict_for_the_journal_and_the_audit() -> None:
    refusal = check(entry(volume=2.0), taken(), GuardLimits(max_lots_per_order=1.0))
    assert refusal is not None
    assert refusal.to_dict() == {
        "guard": "max_lots_per_order",
        "message": "2 lots is above the limit of 1 lots per order",
        "figures": {"volume_lots": 2.0, "limit_lots": 1.0},
    }
