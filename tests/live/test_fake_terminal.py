"""The fake terminal behaves as the MetaTrader5 package 5.0.6231 does.

Every test cites the rule it checks in /work/shared/reference/mt5_api.md ("ref §n"); section 7 lists
the ten gotchas that make a fake unfaithful, and each of them has a test here.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest

from nl_trader import mt5
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.structs import TradeRequest
from nl_trader.sim.broker import AccountConfig
from nl_trader.symbols import symbol_spec

NO_IPC = (-10004, "No IPC connection")
SUCCESS = (1, "Success")
FAR_FUTURE = 2**31 - 1  # dates are C longs (32-bit on Windows), ref §1.3

# Field names and C types copied from ref §3 (order matters: these are tuples).
REFERENCE_FIELDS = {
    "AccountInfo": "login:u64, trade_mode:u32, leverage:u32, limit_orders:u32, margin_so_mode:u32, trade_allowed:bool, trade_expert:bool, margin_mode:u32, currency_digits:u32, fifo_close:bool, balance:f64, credit:f64, profit:f64, equity:f64, margin:f64, margin_free:f64, margin_level:f64, margin_so_call:f64, margin_so_so:f64, margin_initial:f64, margin_maintenance:f64, assets:f64, liabilities:f64, commission_blocked:f64, name:str, server:str, currency:str, company:str",
    "TerminalInfo": "community_account:bool, community_connection:bool, connected:bool, dlls_allowed:bool, trade_allowed:bool, tradeapi_disabled:bool, email_enabled:bool, ftp_enabled:bool, notifications_enabled:bool, mqid:bool, build:u32, maxbars:u32, codepage:i32, ping_last:i32, community_balance:f64, retransmission:f64, company:str, name:str, language:str, path:str, data_path:str, commondata_path:str",
    "SymbolInfo": "custom:bool, chart_mode:u32, select:bool, visible:bool, session_deals:u64, session_buy_orders:u64, session_sell_orders:u64, volume:u64, volumehigh:u64, volumelow:u64, time:i64, digits:u32, spread:i32, spread_float:bool, ticks_bookdepth:u32, trade_calc_mode:u32, trade_mode:u32, start_time:i64, expiration_time:i64, trade_stops_level:i32, trade_freeze_level:i32, trade_exemode:u32, swap_mode:u32, swap_rollover3days:u32, margin_hedged_use_leg:bool, expiration_mode:i32, filling_mode:i32, order_mode:i32, order_gtc_mode:u32, option_mode:u32, option_right:u32, bid:f64, bidhigh:f64, bidlow:f64, ask:f64, askhigh:f64, asklow:f64, last:f64, lasthigh:f64, lastlow:f64, volume_real:f64, volumehigh_real:f64, volumelow_real:f64, option_strike:f64, point:f64, trade_tick_value:f64, trade_tick_value_profit:f64, trade_tick_value_loss:f64, trade_tick_size:f64, trade_contract_size:f64, trade_accrued_interest:f64, trade_face_value:f64, trade_liquidity_rate:f64, volume_min:f64, volume_max:f64, volume_step:f64, volume_limit:f64, swap_long:f64, swap_short:f64, margin_initial:f64, margin_maintenance:f64, session_volume:f64, session_turnover:f64, session_interest:f64, session_buy_orders_volume:f64, session_sell_orders_volume:f64, session_open:f64, session_close:f64, session_aw:f64, session_price_settlement:f64, session_price_limit_min:f64, session_price_limit_max:f64, margin_hedged:f64, price_change:f64, price_volatility:f64, price_theoretical:f64, price_greeks_delta:f64, price_greeks_theta:f64, price_greeks_gamma:f64, price_greeks_vega:f64, price_greeks_rho:f64, price_greeks_omega:f64, price_sensitivity:f64, basis:str, category:str, currency_base:str, currency_profit:str, currency_margin:str, bank:str, description:str, exchange:str, formula:str, isin:str, name:str, page:str, path:str",
    "Tick": "time:i64, bid:f64, ask:f64, last:f64, volume:u64, time_msc:i64, flags:u32, volume_real:f64",
    "TradeRequest": "action:u32, magic:u64, order:u64, symbol:str, volume:f64, price:f64, stoplimit:f64, sl:f64, tp:f64, deviation:u64, type:u32, type_filling:u32, type_time:u32, expiration:i64, comment:str, position:u64, position_by:u64",
    "OrderSendResult": "retcode:u32, deal:u64, order:u64, volume:f64, price:f64, bid:f64, ask:f64, comment:str, request_id:u32, retcode_external:i32, request:TradeRequest",
    "OrderCheckResult": "retcode:u32, balance:f64, equity:f64, profit:f64, margin:f64, margin_free:f64, margin_level:f64, comment:str, request:TradeRequest",
    "TradePosition": "ticket:u64, time:i64, time_msc:i64, time_update:i64, time_update_msc:i64, type:u32, magic:u64, identifier:u64, reason:u32, volume:f64, price_open:f64, sl:f64, tp:f64, price_current:f64, swap:f64, profit:f64, symbol:str, comment:str, external_id:str",
    "TradeOrder": "ticket:u64, time_setup:i64, time_setup_msc:i64, time_done:i64, time_done_msc:i64, time_expiration:i64, type:u32, type_time:u32, type_filling:u32, state:u32, magic:u64, position_id:u64, position_by_id:u64, reason:u32, volume_initial:f64, volume_current:f64, price_open:f64, sl:f64, tp:f64, price_current:f64, price_stoplimit:f64, symbol:str, comment:str, external_id:str",
    "TradeDeal": "ticket:u64, order:u64, time:i64, time_msc:i64, type:u32, entry:u32, magic:u64, position_id:u64, reason:u32, volume:f64, price:f64, commission:f64, swap:f64, profit:f64, fee:f64, symbol:str, comment:str, external_id:str",
}
EXPECTED_FIELD_COUNTS = {
    "AccountInfo": 28,
    "TerminalInfo": 22,
    "SymbolInfo": 96,
    "Tick": 8,
    "TradeRequest": 17,
    "OrderSendResult": 11,
    "OrderCheckResult": 9,
    "TradePosition": 19,
    "TradeOrder": 24,
    "TradeDeal": 18,
}
PYTHON_TYPE = {"u32": int, "i32": int, "u64": int, "i64": int, "f64": float, "str": str}


def reference_fields(name: str) -> list[tuple[str, str]]:
    return [
        (field.strip(), kind.strip())
        for field, kind in (item.split(":") for item in REFERENCE_FIELDS[name].split(","))
    ]


def market(**overrides: Any) -> dict[str, Any]:
    """A valid market buy of 0.1 lot EURUSD, as a user writes it for order_send."""
    return {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": "EURUSD",
        "volume": 0.1,
        "type": mt5.ORDER_TYPE_BUY,
        "type_filling": mt5.ORDER_FILLING_FOK,
        **overrides,
    }


def buy_limit(terminal: FakeTerminal, distance: float, **overrides: Any) -> dict[str, Any]:
    ask = terminal.symbol_info_tick("EURUSD").ask
    return {
        "action": mt5.TRADE_ACTION_PENDING,
        "symbol": "EURUSD",
        "volume": 0.1,
        "type": mt5.ORDER_TYPE_BUY_LIMIT,
        "price": round(ask - distance, 5),
        "type_filling": mt5.ORDER_FILLING_RETURN,
        **overrides,
    }


def connected(**kwargs: Any) -> FakeTerminal:
    terminal = FakeTerminal.with_sample(**kwargs)
    assert terminal.initialize()
    return terminal


# ---- §1.2, §2.1: connection and last_error -----------------------------------------------------
NOT_CONNECTED_CALLS: list[tuple[str, tuple[Any, ...], Any]] = [
    ("version", (), None),
    ("account_info", (), None),
    ("terminal_info", (), None),
    ("symbols_total", (), None),
    ("symbols_get", (), None),
    ("symbol_info", ("EURUSD",), None),
    ("symbol_info_tick", ("EURUSD",), None),
    ("symbol_select", ("EURUSD", True), False),
    ("copy_rates_from_pos", ("EURUSD", mt5.TIMEFRAME_M5, 0, 10), None),
    ("copy_rates_from", ("EURUSD", mt5.TIMEFRAME_M5, FAR_FUTURE, 10), None),
    ("copy_rates_range", ("EURUSD", mt5.TIMEFRAME_M5, 0, FAR_FUTURE), None),
    ("copy_ticks_from", ("EURUSD", 0, 10, mt5.COPY_TICKS_ALL), None),
    ("positions_total", (), None),
    ("positions_get", (), None),
    ("orders_total", (), None),
    ("orders_get", (), None),
    ("history_orders_total", (0, FAR_FUTURE), None),
    ("history_orders_get", (0, FAR_FUTURE), None),
    ("history_deals_total", (0, FAR_FUTURE), None),
    ("history_deals_get", (0, FAR_FUTURE), None),
    ("order_calc_margin", (mt5.ORDER_TYPE_BUY, "EURUSD", 0.1, 1.1), None),
    ("order_calc_profit", (mt5.ORDER_TYPE_BUY, "EURUSD", 0.1, 1.1, 1.2), None),
    ("order_check", (market(),), None),
    ("order_send", (market(),), None),
    ("login", (5_000_001,), False),
]


@pytest.mark.parametrize(
    ("name", "args", "failure"), NOT_CONNECTED_CALLS, ids=[c[0] for c in NOT_CONNECTED_CALLS]
)
def test_every_call_before_initialize_fails_with_no_ipc_connection(
    name: str, args: tuple[Any, ...], failure: Any
) -> None:
    """ref §1.2/§2: before initialize() every function fails with (-10004, 'No IPC connection'),
    returning None (False for login and symbol_select)."""
    terminal = FakeTerminal.with_sample()
    assert getattr(terminal, name)(*args) is failure
    assert terminal.last_error() == NO_IPC


def test_nothing_reaches_the_trade_server_before_initialize() -> None:
    """ref §4.13/§2.5: order_send before initialize() returns None and places nothing."""
    terminal = FakeTerminal.with_sample()
    assert terminal.order_send(market()) is None
    assert terminal.order_send_calls == 0
    assert not terminal.broker.positions


def test_calls_after_shutdown_fail_with_no_ipc_connection_until_initialize_again(
    fake: FakeTerminal,
) -> None:
    """ref §2.1: after shutdown() every function fails with -10004 until initialize()."""
    assert fake.shutdown() is True
    assert fake.account_info() is None
    assert fake.last_error() == NO_IPC
    assert fake.initialize() is True
    assert fake.account_info() is not None


def test_shutdown_returns_true_even_when_never_connected() -> None:
    """ref §2.1: shutdown() always returns True (the docs say None) and never fails."""
    terminal = FakeTerminal.with_sample()
    assert terminal.shutdown() is True
    assert terminal.shutdown() is True
    assert terminal.last_error() == SUCCESS


def test_initialize_may_be_called_twice() -> None:
    """ref §2.1: initialize() closes any previous connection first, so a second call is fine."""
    terminal = FakeTerminal.with_sample()
    assert terminal.initialize() is True
    assert terminal.initialize() is True


def test_last_error_starts_as_success_and_is_a_two_tuple() -> None:
    """ref §1.2: the initial value is (1, 'Success'), returned as a tuple (int, str)."""
    error = FakeTerminal.with_sample().last_error()
    assert error == SUCCESS
    assert type(error) is tuple


def test_last_error_is_reset_to_success_by_the_next_call(fake: FakeTerminal) -> None:
    """ref §1.2: every call except last_error resets the error on entry, so it must be read at once."""
    assert fake.symbol_info("NOSUCH") is None
    assert fake.last_error()[0] != 1
    assert fake.last_error() != SUCCESS  # last_error() itself does not reset it
    assert fake.symbols_total() is not None
    assert fake.last_error() == SUCCESS


def test_version_is_a_three_tuple_of_version_build_and_date(fake: FakeTerminal) -> None:
    """ref §2.1: version() is built with "(iis)": a tuple (terminal version, build, build date)."""
    version = fake.version()
    assert type(version) is tuple
    assert len(version) == 3
    assert [type(part) for part in version] == [int, int, str]


def test_initialize_with_two_positional_arguments_fails_with_invalid_number_of_arguments() -> None:
    """ref §2.1: at most one positional argument (path); more -> False, (-2, 'Invalid number...')."""
    terminal = FakeTerminal.with_sample()
    assert terminal.initialize("C:\\MT5\\terminal64.exe", 5_000_001) is False
    assert terminal.last_error() == (-2, "Invalid number of arguments")


def test_login_with_the_account_number_as_text_fails_with_invalid_login_argument(
    fake: FakeTerminal,
) -> None:
    """ref §2.1 gotcha: login must be an int; "5000001" -> False, (-2, 'Invalid "login" argument')."""
    assert fake.login("5000001", password="pw", server="nl_trader-Sim") is False
    assert fake.last_error() == (-2, 'Invalid "login" argument')
    assert fake.initialize(login="5000001", password="pw") is False
    assert fake.last_error() == (-2, 'Invalid "login" argument')


def test_wrong_password_fails_with_authorization_failed_and_the_right_one_logs_in() -> None:
    """ref §1.2/§2.1: the terminal refuses bad credentials with (-6, 'Terminal: Authorization failed')."""
    terminal = FakeTerminal.with_sample(credentials={5_000_001: ("pw", "nl_trader-Sim")})
    assert terminal.initialize()
    assert terminal.login(5_000_001, password="wrong", server="nl_trader-Sim") is False
    assert terminal.last_error() == (-6, "Terminal: Authorization failed")
    assert terminal.login(5_000_001, password="pw", server="nl_trader-Sim") is True
    assert terminal.login(5_000_001, "pw", "nl_trader-Sim") is True  # positional form
    assert terminal.last_error() == SUCCESS


def test_initialize_with_credentials_logs_in_and_fails_on_a_wrong_password() -> None:
    """ref §2.1: initialize(login=, password=, server=) performs a login first, as login() does."""
    terminal = FakeTerminal.with_sample(credentials={5_000_001: ("pw", "nl_trader-Sim")})
    assert terminal.initialize(login=5_000_001, password="nope", server="nl_trader-Sim") is False
    assert terminal.last_error() == (-6, "Terminal: Authorization failed")
    assert terminal.initialize(login=5_000_001, password="pw", server="nl_trader-Sim") is True


# ---- §1.4, §3, §5: result shapes -----------------------------------------------------------------
def records(terminal: FakeTerminal) -> dict[str, Any]:
    """One record of every struct type, taken from a terminal with a position and a pending order."""
    sent = terminal.order_send(market())
    terminal.order_send(buy_limit(terminal, 0.0100))
    return {
        "AccountInfo": terminal.account_info(),
        "TerminalInfo": terminal.terminal_info(),
        "SymbolInfo": terminal.symbol_info("EURUSD"),
        "Tick": terminal.symbol_info_tick("EURUSD"),
        "TradeRequest": sent.request,
        "OrderSendResult": sent,
        "OrderCheckResult": terminal.order_check(market()),
        "TradePosition": terminal.positions_get()[0],
        "TradeOrder": terminal.orders_get()[0],
        "TradeDeal": terminal.history_deals_get(ticket=sent.order)[0],
    }


@pytest.mark.parametrize("name", list(REFERENCE_FIELDS))
def test_records_have_the_package_field_names_in_the_package_order(
    fake: FakeTerminal, name: str
) -> None:
    """ref §3: field order and names of 5.0.6231 (e.g. SymbolInfo has 96, TradeOrder 24)."""
    record = records(fake)[name]
    expected = [field for field, _ in reference_fields(name)]
    assert type(record).__name__ == name
    assert list(record._asdict()) == expected
    assert len(record) == EXPECTED_FIELD_COUNTS[name] == len(expected)
    assert record.n_fields == len(expected)
    assert [getattr(record, field) for field in expected] == list(record)


@pytest.mark.parametrize("name", list(REFERENCE_FIELDS))
def test_record_fields_are_plain_python_ints_floats_strings_and_bools(
    fake: FakeTerminal, name: str
) -> None:
    """ref §3 notation: every integer C type arrives as a Python int, f64 as float, never as a numpy
    scalar (the C layer builds the objects itself)."""
    record = records(fake)[name]
    for field, kind in reference_fields(name):
        value = getattr(record, field)
        if kind == "TradeRequest":
            assert type(value).__name__ == "TradeRequest", field
        elif kind == "bool":
            assert type(value) is bool, field
        else:
            assert type(value) is PYTHON_TYPE[kind], f"{name}.{field}: {type(value).__name__}"


def test_records_are_tuples_with_named_attributes_and_a_type_named_repr(fake: FakeTerminal) -> None:
    """ref §1.4: struct sequences are tuples (indexable, comparable) with attribute access and a repr
    like Tick(time=..., bid=...)."""
    tick = fake.symbol_info_tick("EURUSD")
    assert isinstance(tick, tuple)
    assert tick[1] == tick.bid
    assert tuple(tick) == tick
    assert repr(tick).startswith("Tick(time=")
    assert f"bid={tick.bid!r}" in repr(tick)


def test_records_are_immutable(fake: FakeTerminal) -> None:
    """ref §1.4: struct sequences are immutable."""
    tick = fake.symbol_info_tick("EURUSD")
    with pytest.raises(AttributeError):
        tick.bid = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        tick[1] = 1.0  # type: ignore[index]


def test_asdict_is_not_recursive_the_request_stays_a_trade_request(fake: FakeTerminal) -> None:
    """ref §1.4: _asdict() gives a plain dict, but its 'request' stays a TradeRequest (the official
    example calls result_dict['request']._asdict())."""
    result = fake.order_send(market())
    as_dict = result._asdict()
    assert type(as_dict) is dict
    assert isinstance(as_dict["request"], TradeRequest)
    assert as_dict["request"]._asdict()["symbol"] == "EURUSD"


@pytest.mark.parametrize("helper", ["_fields", "_replace", "_make"])
def test_records_are_not_namedtuples(fake: FakeTerminal, helper: str) -> None:
    """ref §1.4/§7.5: no _fields, _replace or _make (they are not collections.namedtuple)."""
    assert not hasattr(fake.account_info(), helper)
    assert not hasattr(fake.order_send(market()), helper)


def test_records_cannot_be_pickled(fake: FakeTerminal) -> None:
    """ref §1.4: the package's struct sequences cannot be pickled (class lookup fails)."""
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(fake.symbol_info_tick("EURUSD"))


def test_empty_collections_are_empty_tuples_not_none(fake: FakeTerminal) -> None:
    """ref §1.4/§7.5: an empty result is (), not None; an unknown ticket is () too."""
    assert fake.positions_get() == ()
    assert fake.orders_get() == ()
    assert fake.positions_get(ticket=123_456) == ()
    assert fake.orders_get(symbol="GBPUSD") == ()
    assert fake.history_deals_get(ticket=123_456) == ()
    assert fake.history_orders_get(position=123_456) == ()
    assert fake.symbols_get(group="XYZ*") == ()
    assert type(fake.positions_get()) is tuple


def test_the_module_has_no_symbol_filling_constants_but_has_order_filling(
    fake: FakeTerminal,
) -> None:
    """ref §4.6/§5.2: SYMBOL_FILLING_* are NOT in the package (AttributeError); ORDER_FILLING_* are."""
    with pytest.raises(AttributeError):
        _ = fake.SYMBOL_FILLING_FOK
    with pytest.raises(AttributeError):
        _ = fake.SYMBOL_FILLING_IOC
    with pytest.raises(AttributeError):
        _ = fake.SYMBOL_EXPIRATION_GTC
    assert fake.ORDER_FILLING_FOK == 0
    assert fake.ORDER_FILLING_IOC == 1
    assert fake.ORDER_FILLING_RETURN == 2


def test_the_module_exposes_every_package_constant_and_version(fake: FakeTerminal) -> None:
    """ref §5.1: the module defines exactly the package's constants, plus __version__ '5.0.6231'."""
    for name in mt5.CONSTANT_NAMES:
        assert getattr(fake, name) == getattr(mt5, name), name
    assert fake.TIMEFRAME_H1 == 16385
    assert fake.__version__ == "5.0.6231"
    assert fake.__author__ == "MetaQuotes Ltd."


def test_account_info_reports_netting_or_hedging_from_the_account_config() -> None:
    """ref §2.2/§3.1: account_info().margin_mode is 0 for netting, 2 for hedging."""
    netting = AccountConfig(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
    assert connected(account=netting).account_info().margin_mode == 0
    assert connected().account_info().margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING == 2


# ---- §2.3, §3.12: bars ---------------------------------------------------------------------------
def test_copy_rates_return_a_read_only_packed_array_of_60_byte_rows(fake: FakeTerminal) -> None:
    """ref §3.12/§7.6: packed dtype (spread int32, volumes uint64), itemsize 60, read-only, 1-D."""
    rates = fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 50)
    assert isinstance(rates, np.ndarray)
    assert rates.dtype.itemsize == 60
    assert rates.dtype.names == (
        "time",
        "open",
        "high",
        "low",
        "close",
        "tick_volume",
        "spread",
        "real_volume",
    )
    assert [rates.dtype[name].str for name in rates.dtype.names] == [
        "<i8",
        "<f8",
        "<f8",
        "<f8",
        "<f8",
        "<u8",
        "<i4",
        "<u8",
    ]
    assert [rates.dtype.fields[name][1] for name in rates.dtype.names] == [
        0,
        8,
        16,
        24,
        32,
        40,
        48,
        52,
    ]
    assert rates.ndim == 1
    assert rates.flags.c_contiguous
    assert not rates.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        rates["close"][0] = 1.0


def test_copy_rates_from_pos_counts_back_from_the_newest_bar_and_returns_oldest_first(
    fake: FakeTerminal,
) -> None:
    """ref §2.3: index 0 is the current bar; the result is ordered oldest -> newest."""
    rates = fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 20)
    assert len(rates) == 20
    assert (np.diff(rates["time"]) > 0).all()
    tick = fake.symbol_info_tick("EURUSD")
    assert rates["time"][-1] <= tick.time < rates["time"][-1] + 300
    assert rates["close"][-1] == pytest.approx(tick.bid)
    older = fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 1, 3)
    assert list(older["time"]) == list(rates["time"][-4:-1])


def test_copy_rates_from_returns_bars_opened_at_or_before_the_date_oldest_first(
    fake: FakeTerminal,
) -> None:
    """ref §2.3: copy_rates_from gives `count` bars with open time <= date_from, oldest -> newest."""
    recent = fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 10)
    moment = int(recent["time"][5])
    rates = fake.copy_rates_from("EURUSD", mt5.TIMEFRAME_M5, moment + 1, 4)
    assert list(rates["time"]) == list(recent["time"][2:6])


def test_copy_rates_range_includes_bars_opened_at_both_ends(fake: FakeTerminal) -> None:
    """ref §2.3: copy_rates_range gives the bars with date_from <= time <= date_to."""
    recent = fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 10)
    start, end = int(recent["time"][2]), int(recent["time"][6])
    rates = fake.copy_rates_range("EURUSD", mt5.TIMEFRAME_M5, start, end)
    assert list(rates["time"]) == list(recent["time"][2:7])


def test_h1_is_16385_and_its_bars_aggregate_the_m5_bars_of_the_hour(fake: FakeTerminal) -> None:
    """ref §2.3/§5.1: TIMEFRAME_H1 = 16385 (hours | 0x4000, not minutes); an H1 bar is the hour's
    first open, highest high, lowest low and last close."""
    assert mt5.TIMEFRAME_H1 == 16385
    hours = fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_H1, 1, 3)  # finished hours
    assert (hours["time"] % 3600 == 0).all()
    for hour in hours:
        start = int(hour["time"])
        minutes = fake.copy_rates_range("EURUSD", mt5.TIMEFRAME_M5, start, start + 3599)
        assert len(minutes) == 12
        assert hour["open"] == minutes["open"][0]
        assert hour["high"] == minutes["high"].max()
        assert hour["low"] == minutes["low"].min()
        assert hour["close"] == minutes["close"][-1]
        assert hour["tick_volume"] == minutes["tick_volume"].sum()


def test_a_timeframe_given_in_minutes_is_not_a_timeframe(fake: FakeTerminal) -> None:
    """ref §2.3: timeframe must be a TIMEFRAME_* value; 60 (minutes) is not H1."""
    assert fake.copy_rates_from_pos("EURUSD", 60, 0, 10) is None
    assert fake.last_error()[0] == -2


@pytest.mark.parametrize(
    "moment",
    [FAR_FUTURE, float(FAR_FUTURE), datetime(2037, 1, 1, tzinfo=UTC)],
    ids=["int", "float", "datetime"],
)
def test_date_arguments_accept_int_float_and_datetime(fake: FakeTerminal, moment: Any) -> None:
    """ref §1.3: dates may be int, float (truncated) or datetime (via .timestamp())."""
    rates = fake.copy_rates_from("EURUSD", mt5.TIMEFRAME_M5, moment, 5)
    assert len(rates) == 5
    assert len(fake.history_deals_get(0, moment)) >= 1


@pytest.mark.parametrize(
    "moment",
    [date(2037, 1, 1), np.datetime64("2037-01-01"), "2037-01-01"],
    ids=["date", "numpy-datetime64", "text"],
)
def test_date_arguments_refuse_dates_numpy_datetimes_and_text(
    fake: FakeTerminal, moment: Any
) -> None:
    """ref §1.3: datetime.date, numpy.datetime64 and strings -> None, (-2, 'Invalid arguments')."""
    assert fake.copy_rates_from("EURUSD", mt5.TIMEFRAME_M5, moment, 5) is None
    assert fake.last_error() == (-2, "Invalid arguments")
    assert fake.history_deals_get(0, moment) is None
    assert fake.last_error() == (-2, "Invalid arguments")


def test_tick_arrays_have_the_packed_tick_dtype(fake: FakeTerminal) -> None:
    """ref §3.12: copy_ticks_* arrays use the 60-byte tick dtype and are read-only."""
    ticks = fake.copy_ticks_from("EURUSD", 0, 10, mt5.COPY_TICKS_ALL)
    assert ticks.dtype.itemsize == 60
    assert ticks.dtype.names == (
        "time",
        "bid",
        "ask",
        "last",
        "volume",
        "time_msc",
        "flags",
        "volume_real",
    )
    assert not ticks.flags.writeable


# ---- §1.1, §2.4, §7.4: calling conventions and selection --------------------------------------------
POSITIONAL_ONLY: list[tuple[str, dict[str, Any]]] = [
    ("symbol_info", {"symbol": "EURUSD"}),
    ("symbol_info_tick", {"symbol": "EURUSD"}),
    ("symbol_select", {"symbol": "EURUSD", "enable": True}),
    (
        "copy_rates_from_pos",
        {"symbol": "EURUSD", "timeframe": 5, "start_pos": 0, "count": 5},
    ),
    ("order_calc_margin", {"action": 0, "symbol": "EURUSD", "volume": 0.1, "price": 1.1}),
    ("history_orders_total", {"date_from": 0, "date_to": FAR_FUTURE}),
]


@pytest.mark.parametrize(("name", "kwargs"), POSITIONAL_ONLY, ids=[c[0] for c in POSITIONAL_ONLY])
def test_positional_only_functions_raise_type_error_for_keywords(
    fake: FakeTerminal, name: str, kwargs: dict[str, Any]
) -> None:
    """ref §1.1/§7.4: METH_VARARGS functions take no keyword arguments: symbol_info(symbol=...)
    raises TypeError."""
    with pytest.raises(TypeError):
        getattr(fake, name)(**kwargs)


def test_functions_without_arguments_raise_type_error_when_given_one(fake: FakeTerminal) -> None:
    """ref §1.1: METH_NOARGS functions (account_info, ...) raise TypeError for any argument."""
    with pytest.raises(TypeError):
        fake.account_info(5_000_001)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        fake.positions_total("EURUSD")  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["positions_get", "orders_get"])
def test_positions_and_orders_get_refuse_a_positional_argument(
    fake: FakeTerminal, name: str
) -> None:
    """ref §2.4/§7.4: keywords only; positions_get("EURUSD") -> None, 'Unnamed arguments not allowed'."""
    assert getattr(fake, name)("EURUSD") is None
    assert fake.last_error() == (-2, "Unnamed arguments not allowed")


def test_positions_get_ticket_beats_symbol(fake: FakeTerminal) -> None:
    """ref §2.4: in 5.0.6231 ticket= wins over symbol= (the binary checks ticket first)."""
    eurusd = fake.order_send(market())
    fake.order_send(market(symbol="GBPUSD"))
    found = fake.positions_get(ticket=eurusd.order, symbol="GBPUSD")
    assert [p.symbol for p in found] == ["EURUSD"]
    assert [p.symbol for p in fake.positions_get(symbol="GBPUSD")] == ["GBPUSD"]


def test_positions_get_ticket_must_be_a_python_int(fake: FakeTerminal) -> None:
    """ref §1.3: ticket= must be an int (a numpy.int64 fails with Invalid "ticket" argument)."""
    sent = fake.order_send(market())
    assert fake.positions_get(ticket=np.int64(sent.order)) is None
    assert fake.last_error() == (-2, 'Invalid "ticket" argument')


def test_group_mask_with_wildcards_selects_names_containing_usd(fake: FakeTerminal) -> None:
    """ref §2.3: group masks use * as wildcard: "*USD*" selects every symbol with USD in its name."""
    names = [info.name for info in fake.symbols_get(group="*USD*")]
    assert names
    assert all("USD" in name for name in names)
    assert "EURGBP" not in names
    assert len(names) == sum("USD" in info.name for info in fake.symbols_get())


def test_group_masks_apply_in_order_all_then_drop_eur(fake: FakeTerminal) -> None:
    """ref §2.3: masks apply in order: "*,!EUR" is all symbols, then drop those containing EUR;
    "!EUR,*" drops nothing because the later "*" selects everything again."""
    everything = [info.name for info in fake.symbols_get()]
    without_eur = [info.name for info in fake.symbols_get(group="*,!EUR")]
    assert without_eur == [name for name in everything if "EUR" not in name]
    assert "GBPUSD" in without_eur
    assert [info.name for info in fake.symbols_get(group="!EUR,*")] == everything
    assert len(everything) == fake.symbols_total()


def test_positions_get_group_filters_by_symbol_mask(fake: FakeTerminal) -> None:
    """ref §2.4: group filtering is done on the symbol name."""
    fake.order_send(market())
    fake.order_send(market(symbol="USDJPY"))
    assert [p.symbol for p in fake.positions_get(group="*JPY*")] == ["USDJPY"]


def test_history_deals_get_ticket_is_the_order_ticket(fake: FakeTerminal) -> None:
    """ref §2.4/§7.4: history_deals_get(ticket=) selects deals whose order is that ORDER ticket."""
    sent = fake.order_send(market())
    deals = fake.history_deals_get(ticket=sent.order)
    assert len(deals) == 1
    assert deals[0].order == sent.order
    assert deals[0].ticket == sent.deal != sent.order
    assert fake.history_deals_get(ticket=sent.deal) == ()


def test_history_by_position_holds_the_opening_and_the_closing_deal(fake: FakeTerminal) -> None:
    """ref §2.4/§4.1: position= filters by position id; closing deals carry the same position_id."""
    opened = fake.order_send(market())
    closed = fake.order_send(
        market(type=mt5.ORDER_TYPE_SELL, position=opened.order, comment="close")
    )
    deals = fake.history_deals_get(position=opened.order)
    assert [(d.order, d.entry) for d in deals] == [
        (opened.order, mt5.DEAL_ENTRY_IN),
        (closed.order, mt5.DEAL_ENTRY_OUT),
    ]
    orders = fake.history_orders_get(position=opened.order)
    assert {o.ticket for o in orders} == {opened.order, closed.order}


def test_history_by_dates_accepts_datetimes_and_a_group(fake: FakeTerminal) -> None:
    """ref §2.4: history_*_get(date_from, date_to, group=) selects by time and symbol mask."""
    fake.order_send(market())
    fake.order_send(market(symbol="GBPUSD"))
    now = fake.symbol_info_tick("EURUSD").time
    start = datetime.fromtimestamp(now - 60, tz=UTC)
    end = datetime.fromtimestamp(now + 60, tz=UTC)
    assert len(fake.history_orders_get(start, end)) == 2
    assert [o.symbol for o in fake.history_orders_get(start, end, group="*GBP*")] == ["GBPUSD"]
    assert len(fake.history_deals_get(start, end)) == 2
    assert fake.history_orders_total(now - 60, now + 60) == 2
    assert fake.history_orders_get(now + 3600, now + 7200) == ()


def test_history_with_dates_and_a_ticket_is_refused(fake: FakeTerminal) -> None:
    """ref §2.4: positional dates plus ticket= -> 'Unnamed arguments not allowed'; one date alone ->
    'Invalid arguments'."""
    assert fake.history_deals_get(0, FAR_FUTURE, ticket=1) is None
    assert fake.last_error() == (-2, "Unnamed arguments not allowed")
    assert fake.history_deals_get(0) is None
    assert fake.last_error() == (-2, "Invalid arguments")


def test_history_holds_the_initial_deposit_as_a_balance_deal(fake: FakeTerminal) -> None:
    """ref §2.4: non-trade deals are in history: a deposit has type BALANCE, order 0, symbol ''."""
    deposits = [d for d in fake.history_deals_get(0, FAR_FUTURE) if d.type == mt5.DEAL_TYPE_BALANCE]
    assert len(deposits) == 1
    assert (deposits[0].order, deposits[0].position_id, deposits[0].symbol) == (0, 0, "")
    assert deposits[0].profit == fake.account_info().balance


# ---- §1.3, §2.5, §7.2: request typing ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"volume": 1}, "volume"),
        ({"price": 1}, "price"),
        ({"magic": np.int64(7)}, "magic"),
        ({"deviation": 10.0}, "deviation"),
        ({"expiration": datetime(2030, 1, 1, tzinfo=UTC)}, "expiration"),
        ({"comment": "x" * 30}, "comment"),
        ({"comment": "x" * 28 + "\N{GRINNING FACE}"}, "comment"),  # 30 UTF-16 units
        ({"symbol": b"EURUSD"}, "symbol"),
    ],
    ids=[
        "int-volume",
        "int-price",
        "numpy-int64-magic",
        "float-deviation",
        "datetime-expiration",
        "30-char-comment",
        "emoji-counts-two-units",
        "bytes-symbol",
    ],
)
def test_badly_typed_request_field_never_reaches_the_server(
    fake: FakeTerminal, overrides: dict[str, Any], field: str
) -> None:
    """ref §1.3/§7.2: float fields must be float, int fields int (numpy.int64 fails), expiration an
    int, text at most 29 UTF-16 units; else None and (-2, 'Invalid "<field>" argument')."""
    assert fake.order_send(market(**overrides)) is None
    assert fake.last_error() == (-2, f'Invalid "{field}" argument')
    assert fake.order_check(market(**overrides)) is None
    assert fake.last_error() == (-2, f'Invalid "{field}" argument')
    assert fake.order_send_calls == 0
    assert fake.positions_get() == ()


def test_numpy_float64_price_is_accepted_because_it_subclasses_float(fake: FakeTerminal) -> None:
    """ref §1.3: float fields accept float subclasses, so numpy.float64 passes."""
    ask = fake.symbol_info_tick("EURUSD").ask
    result = fake.order_send(market(price=np.float64(ask)))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert fake.last_error() == SUCCESS


def test_bool_passes_as_an_int_field(fake: FakeTerminal) -> None:
    """ref §1.3: int fields accept int subclasses; bool passes."""
    result = fake.order_send(market(magic=True))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert result.request.magic == 1


def test_a_29_character_comment_is_accepted(fake: FakeTerminal) -> None:
    """ref §1.3: 29 UTF-16 code units is the longest comment accepted."""
    result = fake.order_send(market(comment="x" * 29))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert fake.history_orders_get(ticket=result.order)[0].comment == "x" * 29


@pytest.mark.parametrize("request_", [[("action", 1)], "buy EURUSD", None], ids=repr)
def test_a_request_that_is_not_a_dict_is_invalid_arguments(
    fake: FakeTerminal, request_: Any
) -> None:
    """ref §1.3: the request must be a real dict; anything else -> None, (-2, 'Invalid arguments')."""
    assert fake.order_send(request_) is None
    assert fake.last_error() == (-2, "Invalid arguments")


def test_unknown_request_keys_are_ignored(fake: FakeTerminal) -> None:
    """ref §2.5: unknown keys are silently ignored."""
    result = fake.order_send(market(stop_loss=1.0, lots=5))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert result.volume == 0.1
    assert result.request.sl == 0.0


def test_missing_request_keys_default_to_zero_buy_fok_gtc(fake: FakeTerminal) -> None:
    """ref §2.5/§7.2: missing keys read as zero: type 0 = BUY, type_filling 0 = FOK, type_time 0 = GTC,
    price 0.0, comment '' - visible in the result's request echo."""
    result = fake.order_send({"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1})
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    echo = result.request
    assert echo.type == mt5.ORDER_TYPE_BUY == 0
    assert echo.type_filling == mt5.ORDER_FILLING_FOK == 0
    assert echo.type_time == mt5.ORDER_TIME_GTC == 0
    assert (echo.price, echo.sl, echo.tp, echo.comment, echo.magic) == (0.0, 0.0, 0.0, "", 0)
    assert fake.positions_get()[0].type == mt5.POSITION_TYPE_BUY


def test_a_request_without_action_is_an_invalid_request_result(fake: FakeTerminal) -> None:
    """ref §4.2/§7.1: action=0 (a missing key) is no action: the server answers with a result, not
    None; 10013 INVALID is the reference's best guess ([U] exact code)."""
    result = fake.order_send({"symbol": "EURUSD", "volume": 0.1})
    assert result.retcode == mt5.TRADE_RETCODE_INVALID
    assert result.request.action == 0


def test_order_send_accepts_keywords_but_not_a_mix_or_nothing(fake: FakeTerminal) -> None:
    """ref §2.5: order_send(dict) or order_send(**fields); mixing -> 'Unnamed arguments not allowed',
    no argument -> 'Invalid number of arguments'."""
    assert fake.order_send(**market()).retcode == mt5.TRADE_RETCODE_DONE
    assert fake.order_send(market(), action=mt5.TRADE_ACTION_DEAL) is None
    assert fake.last_error() == (-2, "Unnamed arguments not allowed")
    assert fake.order_send() is None
    assert fake.last_error() == (-2, "Invalid number of arguments")


# ---- §4, §7.1, §7.7, §7.10: rejections are results -------------------------------------------------
def test_fok_on_an_ioc_only_symbol_is_a_10030_result_not_none() -> None:
    """ref §4.6/§7.1/§7.7: an unsupported filling mode -> OrderSendResult(10030, 'Unsupported filling
    mode'), order 0, last_error still (1, 'Success')."""
    terminal = connected(symbols=[symbol_spec("EURUSD", {"filling_mode": 2})])
    result = terminal.order_send(market(type_filling=mt5.ORDER_FILLING_FOK))
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_INVALID_FILL == 10030
    assert result.comment == "Unsupported filling mode"
    assert (result.order, result.deal, result.volume) == (0, 0, 0.0)
    assert terminal.last_error() == SUCCESS
    assert terminal.positions_get() == ()
    ioc = terminal.order_send(market(type_filling=mt5.ORDER_FILLING_IOC))
    assert ioc.retcode == mt5.TRADE_RETCODE_DONE


def test_order_check_reports_the_retcode_order_send_would_give() -> None:
    """ref §2.5: order_check of an invalid request has the trade retcode (10030) and a comment."""
    terminal = connected(symbols=[symbol_spec("EURUSD", {"filling_mode": 2})])
    check = terminal.order_check(market(type_filling=mt5.ORDER_FILLING_FOK))
    assert check.retcode == mt5.TRADE_RETCODE_INVALID_FILL
    assert check.comment == "Unsupported filling mode"
    assert terminal.last_error() == SUCCESS


def test_a_valid_order_check_has_retcode_0_done_and_projects_the_margin(fake: FakeTerminal) -> None:
    """ref §2.5: a valid request checks as retcode 0, comment 'Done', with the projected margin."""
    check = fake.order_check(market())
    assert (check.retcode, check.comment) == (0, "Done")
    assert check.margin > 0
    assert check.margin_free == pytest.approx(check.equity - check.margin)
    assert fake.positions_get() == ()  # nothing executed


def test_return_filling_is_refused_for_a_market_order_on_a_market_execution_symbol(
    fake: FakeTerminal,
) -> None:
    """ref §7.7: RETURN is not valid for market orders on Market-execution symbols (10030)."""
    result = fake.order_send(market(type_filling=mt5.ORDER_FILLING_RETURN))
    assert result.retcode == mt5.TRADE_RETCODE_INVALID_FILL


def test_sl_inside_the_stops_level_is_10016_and_outside_it_is_accepted() -> None:
    """ref §4.9: a buy's SL must be at least trade_stops_level points below Bid, else 10016."""
    terminal = connected(symbols=[symbol_spec("EURUSD", {"trade_stops_level": 50})])
    info = terminal.symbol_info("EURUSD")
    assert info.trade_stops_level == 50
    bid = terminal.symbol_info_tick("EURUSD").bid
    too_close = terminal.order_send(market(sl=round(bid - 20 * info.point, 5)))
    assert too_close.retcode == mt5.TRADE_RETCODE_INVALID_STOPS == 10016
    assert terminal.last_error() == SUCCESS
    far_enough = terminal.order_send(market(sl=round(bid - 60 * info.point, 5)))
    assert far_enough.retcode == mt5.TRADE_RETCODE_DONE


def test_sl_on_the_wrong_side_is_10016_even_without_a_stops_level(fake: FakeTerminal) -> None:
    """ref §4.9: wrong-side levels are rejected even with trade_stops_level 0."""
    bid = fake.symbol_info_tick("EURUSD").bid
    assert fake.order_send(market(sl=round(bid + 0.001, 5))).retcode == 10016


@pytest.mark.parametrize(
    "volume", [0.015, 0.001, 1000.0], ids=["off-step", "below-min", "above-max"]
)
def test_a_volume_off_the_symbols_step_or_limits_is_10014(
    fake: FakeTerminal, volume: float
) -> None:
    """ref §4.10: volume_min <= v <= volume_max and a multiple of volume_step, else 10014."""
    result = fake.order_send(market(volume=volume))
    assert result.retcode == mt5.TRADE_RETCODE_INVALID_VOLUME == 10014
    assert fake.last_error() == SUCCESS


def test_algo_trading_off_gives_a_10027_result_while_order_check_passes(fake: FakeTerminal) -> None:
    """ref §4.11: the Algo Trading button off -> order_send result 10027 'AutoTrading disabled by
    client'; order_check still passes; terminal_info().trade_allowed is False."""
    fake.trade_allowed = False
    assert fake.terminal_info().trade_allowed is False
    assert fake.order_check(market()).retcode == 0
    result = fake.order_send(market())
    assert result.retcode == mt5.TRADE_RETCODE_CLIENT_DISABLES_AT == 10027
    assert result.comment == "AutoTrading disabled by client"
    assert fake.last_error() == SUCCESS
    assert fake.positions_get() == ()


def test_api_trading_disabled_in_the_terminal_gives_none_and_minus_8(fake: FakeTerminal) -> None:
    """ref §4.11/§1.2: the terminal option that disables Python API trading makes order_send return
    None with (-8, 'Auto-Trading using Python API disabled in Terminal')."""
    fake.tradeapi_disabled = True
    assert fake.terminal_info().tradeapi_disabled is True
    assert fake.order_send(market()) is None
    assert fake.last_error() == (-8, "Auto-Trading using Python API disabled in Terminal")
    assert fake.positions_get() == ()


# ---- §4.1, §4.8, §7.8, §7.9: tickets, netting and hedging --------------------------------------------
def test_a_market_orders_result_order_is_the_new_positions_ticket_and_closes_it(
    fake: FakeTerminal,
) -> None:
    """ref §3.7/§4.1/§7.9: result.order == the position's ticket == identifier; the deal has its own
    ticket; position=result.order closes it with an OUT deal of the same position_id."""
    opened = fake.order_send(market())
    (position,) = fake.positions_get()
    assert position.ticket == position.identifier == opened.order
    assert opened.deal != opened.order
    closed = fake.order_send(
        market(type=mt5.ORDER_TYPE_SELL, position=opened.order, price=position.price_current)
    )
    assert closed.retcode == mt5.TRADE_RETCODE_DONE
    assert fake.positions_get() == ()
    (closing_deal,) = fake.history_deals_get(ticket=closed.order)
    assert closing_deal.entry == mt5.DEAL_ENTRY_OUT
    assert closing_deal.position_id == opened.order
    assert closing_deal.profit == pytest.approx(
        fake.order_calc_profit(
            mt5.ORDER_TYPE_BUY, "EURUSD", 0.1, position.price_open, closing_deal.price
        )
    )


def test_an_executed_market_order_is_only_in_history_with_state_filled(fake: FakeTerminal) -> None:
    """ref §2.4/§4.1/§7.9: executed market orders are not in orders_get, only in history (FILLED)."""
    sent = fake.order_send(market())
    assert fake.orders_get() == ()
    assert fake.orders_total() == 0
    (order,) = fake.history_orders_get(ticket=sent.order)
    assert order.state == mt5.ORDER_STATE_FILLED
    assert order.position_id == sent.order


def test_a_pending_order_rests_in_orders_get_as_placed_and_not_in_history(
    fake: FakeTerminal,
) -> None:
    """ref §4.1/§4.3/§7.9: a pending order is active (ORDER_STATE_PLACED) with result.deal 0."""
    sent = fake.order_send(buy_limit(fake, 0.0100))
    assert sent.retcode in (mt5.TRADE_RETCODE_DONE, mt5.TRADE_RETCODE_PLACED)
    assert sent.deal == 0
    (order,) = fake.orders_get()
    assert order.ticket == sent.order
    assert order.state == mt5.ORDER_STATE_PLACED
    assert order.time_done == 0
    assert fake.history_orders_get(ticket=sent.order) == ()
    assert fake.positions_get() == ()


def test_hedging_account_opens_a_second_position_for_an_opposite_deal(fake: FakeTerminal) -> None:
    """ref §4.8/§7.8: on hedging every DEAL without position opens a new position."""
    fake.order_send(market())
    fake.order_send(market(type=mt5.ORDER_TYPE_SELL))
    types = sorted(p.type for p in fake.positions_get())
    assert types == [mt5.POSITION_TYPE_BUY, mt5.POSITION_TYPE_SELL]


def test_netting_account_closes_with_an_opposite_deal_of_equal_volume() -> None:
    """ref §4.8/§7.8: on netting an opposite DEAL of equal volume closes the position (OUT)."""
    netting = AccountConfig(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
    terminal = connected(account=netting)
    terminal.order_send(market())
    closed = terminal.order_send(market(type=mt5.ORDER_TYPE_SELL))
    assert terminal.positions_get() == ()
    assert terminal.history_deals_get(ticket=closed.order)[0].entry == mt5.DEAL_ENTRY_OUT


def test_netting_reversal_keeps_the_identifier_and_takes_the_reversing_orders_ticket() -> None:
    """ref §4.8: a larger opposite DEAL reverses (INOUT); the position keeps its identifier and gets
    the reversing order's ticket."""
    netting = AccountConfig(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
    terminal = connected(account=netting)
    first = terminal.order_send(market())
    reversing = terminal.order_send(market(type=mt5.ORDER_TYPE_SELL, volume=0.3))
    (position,) = terminal.positions_get()
    assert position.type == mt5.POSITION_TYPE_SELL
    assert position.volume == pytest.approx(0.2)
    assert position.identifier == first.order
    assert position.ticket == reversing.order
    assert terminal.history_deals_get(ticket=reversing.order)[0].entry == mt5.DEAL_ENTRY_INOUT


# ---- §4.3, §4.7, §7.10: Instant execution ------------------------------------------------------------
def instant() -> FakeTerminal:
    spec = symbol_spec("EURUSD", {"trade_exemode": mt5.SYMBOL_TRADE_EXECUTION_INSTANT})
    return connected(symbols=[spec])


def test_instant_execution_requotes_when_the_price_is_off_by_more_than_the_deviation() -> None:
    """ref §4.3/§4.7: on an Instant symbol a price moved by more than `deviation` points -> 10004
    REQUOTE with the current bid/ask in the result."""
    terminal = instant()
    tick = terminal.symbol_info_tick("EURUSD")
    stale = round(tick.ask + 50 * 0.00001, 5)
    result = terminal.order_send(market(price=stale, deviation=10))
    assert result.retcode == mt5.TRADE_RETCODE_REQUOTE == 10004
    assert (result.bid, result.ask) == (tick.bid, tick.ask)
    assert terminal.last_error() == SUCCESS
    assert terminal.positions_get() == ()


def test_instant_execution_fills_within_the_deviation() -> None:
    """ref §4.7: a price within `deviation` points of the market executes."""
    terminal = instant()
    tick = terminal.symbol_info_tick("EURUSD")
    result = terminal.order_send(market(price=round(tick.ask + 5 * 0.00001, 5), deviation=10))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert result.price == tick.ask


def test_instant_execution_without_a_price_is_10015_invalid_price() -> None:
    """ref §4.3/§7.10: Instant symbols need a price; price 0 -> 10015 'Invalid price'."""
    result = instant().order_send(market())
    assert result.retcode == mt5.TRADE_RETCODE_INVALID_PRICE == 10015
    assert result.comment == "Invalid price"


def test_market_execution_ignores_the_price_and_deviation(fake: FakeTerminal) -> None:
    """ref §4.3: on Market execution price and deviation are ignored; the fill is at the market."""
    tick = fake.symbol_info_tick("EURUSD")
    result = fake.order_send(market(price=round(tick.ask + 0.01, 5), deviation=0))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert result.price == tick.ask


# ---- the fake's own controls ----------------------------------------------------------------------
def advance_until(terminal: FakeTerminal, done: Callable[[], bool], *, limit: int = 3_000) -> int:
    for bars in range(1, limit + 1):
        if terminal.advance(1) == 0:
            break
        if done():
            return bars
    pytest.fail(f"the condition was not reached within {limit} bars of the sample")


def test_advance_moves_the_clock_and_the_prices(fake: FakeTerminal) -> None:
    """The fake's advance(n) replays n more bars: tick time and bars move forward."""
    before = fake.symbol_info_tick("EURUSD")
    bars_before = len(fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 100_000))
    assert fake.advance(12) == 12
    after = fake.symbol_info_tick("EURUSD")
    assert after.time > before.time
    assert len(fake.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 100_000)) > bars_before


def test_a_resting_buy_limit_fills_when_the_ask_reaches_it(fake: FakeTerminal) -> None:
    """ref §4.3: a BUY_LIMIT triggers on Ask reaching its price; the order goes to history FILLED with
    position_id set, and the fill is at the limit or better."""
    sent = fake.order_send(buy_limit(fake, 0.0003))
    limit_price = sent.request.price
    advance_until(fake, lambda: fake.orders_get() == ())
    (order,) = fake.history_orders_get(ticket=sent.order)
    assert order.state == mt5.ORDER_STATE_FILLED
    (deal,) = fake.history_deals_get(ticket=sent.order)
    assert deal.price <= limit_price
    assert deal.entry == mt5.DEAL_ENTRY_IN
    (position,) = fake.positions_get()
    assert position.ticket == order.position_id == sent.order


def test_a_no_connection_fault_drops_the_connection_until_initialize(fake: FakeTerminal) -> None:
    """ref §1.2: -10004 means no IPC connection: every call fails so until initialize()."""
    fake.inject_fault("no_connection")
    assert fake.order_send(market()) is None
    assert fake.last_error() == NO_IPC
    assert fake.positions_get() is None
    assert fake.last_error() == NO_IPC
    assert fake.initialize()
    assert fake.positions_get() == ()
    assert fake.order_send_calls == 0


def test_a_timeout_fault_executes_the_order_but_loses_the_reply(fake: FakeTerminal) -> None:
    """The fake's timeout_after_send: the server executed the order, the reply is (-10005, 'IPC
    timeout') and None."""
    fake.inject_fault("timeout_after_send")
    assert fake.order_send(market()) is None
    assert fake.last_error() == (-10005, "IPC timeout")
    assert fake.order_send_calls == 1
    assert len(fake.positions_get()) == 1


def test_an_unknown_fault_kind_is_refused(fake: FakeTerminal) -> None:
    """The fake names the faults it can inject."""
    with pytest.raises(ValueError, match="no_connection"):
        fake.inject_fault("power_cut")
