"""The seed's send_order params dict (nl_trader.orders): validation, normalisation, the MT5 request.

Every refusal is an ``OrderParamsError`` whose ``problems`` hold one ``field: problem`` line each;
the tests check that the line names the field and says what is wrong, and that ``str(error)``
carries it too, because that string is what ``send_order`` returns to the user.
"""

from __future__ import annotations

import calendar
import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from nl_trader import mt5
from nl_trader.errors import NlTraderError, OrderParamsError
from nl_trader.orders import OrderParams, parse_order_params, prepare_request

CONSTANTS_FILE = Path(
    os.environ.get("NL_TRADER_MT5_CONSTANTS", "/work/shared/reference/mt5_constants.json")
)
_MISSING = object()

# EURUSD as a Market-execution symbol on a 5-digit quote: FOK and IOC allowed (filling_mode 3).
EURUSD_INFO: dict[str, Any] = {
    "name": "EURUSD",
    "digits": 5,
    "volume_min": 0.01,
    "volume_max": 100.0,
    "volume_step": 0.01,
    "filling_mode": 3,
    "trade_exemode": mt5.SYMBOL_TRADE_EXECUTION_MARKET,
}
BID, ASK = 1.10001, 1.10012


def order(**fields: Any) -> dict[str, Any]:
    """A valid market buy of 0.1 lot EURUSD in backtest mode, with ``fields`` changed.

    A field set to ``_MISSING`` is left out of the dict.
    """
    params: dict[str, Any] = {
        "backtest_toggle": True,
        "symbol": "EURUSD",
        "order_type": "buy",
        "volume": 0.1,
    }
    params.update(fields)
    return {key: value for key, value in params.items() if value is not _MISSING}


def refused(raw: object, field: str, *fragments: str, **options: Any) -> OrderParamsError:
    """Parse ``raw``; check it is refused with a problem line on ``field`` containing ``fragments``."""
    with pytest.raises(OrderParamsError) as caught:
        parse_order_params(raw, **options)
    error = caught.value
    lines = [line for line in error.problems if line.startswith(f"{field}:")]
    assert lines, f"no problem names {field!r}: {error.problems}"
    matching = [line for line in lines if all(part in line for part in fragments)]
    assert matching, f"no {field!r} problem says {fragments}: {lines}"
    assert matching[0] in str(error)
    return error


def request_of(raw: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    return parse_order_params(raw, **options).to_mt5_request()


# ---- required keys, unknown keys, the params object itself ------------------------------------
@pytest.mark.parametrize("key", ["backtest_toggle", "symbol", "order_type"])
def test_params_without_a_required_key_are_refused_naming_the_key(key: str) -> None:
    refused(order(**{key: _MISSING}), key, "required key is missing")


def test_empty_params_name_all_three_required_keys_in_one_error() -> None:
    error = refused({}, "backtest_toggle", "required key is missing")
    assert error.problems == (
        "backtest_toggle: required key is missing",
        "symbol: required key is missing",
        "order_type: required key is missing",
    )


@pytest.mark.parametrize("order_type", ["buy", "sell", "buy_limit", "sell_stop", "sell_stop_limit"])
def test_an_order_that_opens_exposure_without_volume_is_refused_naming_volume(
    order_type: str,
) -> None:
    raw = order(
        order_type=order_type,
        volume=_MISSING,
        price=1.1 if order_type not in ("buy", "sell") else _MISSING,
        stoplimit=1.11 if order_type == "sell_stop_limit" else _MISSING,
    )
    refused(raw, "volume", "required", "lots")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("stop_loss", "sl"),
        ("stoploss", "sl"),
        ("take_profit", "tp"),
        ("lots", "volume"),
        ("expiry", "expiration"),
        ("slippage", "deviation"),
        ("stop_limit", "stoplimit"),
        ("filling", "type_filling"),
        ("backtest", "backtest_toggle"),
        ("ticket", "position"),
        ("symbl", "symbol"),
        ("magik", "magic"),
        ("comments", "comment"),
    ],
)
def test_unknown_key_is_refused_with_a_did_you_mean_hint(key: str, suggestion: str) -> None:
    refused(order(**{key: 1.0}), key, "unknown key", f"did you mean {suggestion!r}?")


def test_unknown_key_with_no_close_name_is_refused_without_a_hint() -> None:
    error = refused(order(zzzzqq=1), "zzzzqq", "unknown key")
    assert "did you mean" not in str(error)


def test_a_non_text_key_is_refused_naming_the_key() -> None:
    raw: dict[Any, Any] = {**order(), 7: "x"}
    refused(raw, "7", "keys must be text")


@pytest.mark.parametrize(
    "raw", [None, [("symbol", "EURUSD")], "buy EURUSD 0.1", 5, (("volume", 0.1),)]
)
def test_params_that_are_not_a_dict_are_refused_naming_params(raw: object) -> None:
    refused(raw, "params", "expected a dict", type(raw).__name__)


def test_a_read_only_mapping_is_accepted_as_params() -> None:
    parsed = parse_order_params(MappingProxyType(order()))
    assert parsed.volume == 0.1


def test_already_parsed_params_pass_through_unchanged() -> None:
    parsed = parse_order_params(order())
    assert parse_order_params(parsed) is parsed


def test_the_error_is_an_nl_trader_value_error_listing_every_bad_field() -> None:
    with pytest.raises(OrderParamsError) as caught:
        parse_order_params(order(volume=-1, symbol=5, magic=-2, comment=b"x"))
    error = caught.value
    assert isinstance(error, NlTraderError)
    assert isinstance(error, ValueError)
    fields = sorted(line.split(":", 1)[0] for line in error.problems)
    assert fields == ["comment", "magic", "symbol", "volume"]
    assert str(error) == "invalid order params: " + "; ".join(error.problems)


# ---- order_type ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [("buy_limt", "buy_limit"), ("sel", "sell"), ("sell_stoplimit", "sell_stop_limit")],
)
def test_misspelt_order_type_is_refused_with_a_suggestion(typed: str, suggestion: str) -> None:
    refused(
        order(order_type=typed),
        "order_type",
        f"unknown order type {typed!r}",
        f"did you mean {suggestion!r}?",
    )


def test_an_mt5_order_type_code_that_does_not_exist_is_refused() -> None:
    refused(order(order_type=99), "order_type", "unknown MT5 order type code 99")


@pytest.mark.parametrize("value", [True, 1.0, None, ["buy"]])
def test_an_order_type_that_is_not_a_name_or_code_is_refused(value: object) -> None:
    refused(order(order_type=value), "order_type", "expected an order type name")


@pytest.mark.parametrize(
    "spelling",
    ["buy_limit", "BUY_LIMIT", "ORDER_TYPE_BUY_LIMIT", " Buy Limit ", "buy-limit", 2],
)
def test_buy_limit_spelt_any_usual_way_is_mt5_order_type_buy_limit(spelling: object) -> None:
    if spelling == 2:
        spelling = mt5.ORDER_TYPE_BUY_LIMIT
    parsed = parse_order_params(order(order_type=spelling, price=1.09))
    assert parsed.order_type == "buy_limit"
    assert parsed.to_mt5_request()["type"] == mt5.ORDER_TYPE_BUY_LIMIT


# ---- volume -------------------------------------------------------------------------------------
@pytest.mark.parametrize("volume", [0, 0.0, -0.1, "-1"])
def test_volume_of_zero_or_less_is_refused_naming_volume(volume: object) -> None:
    refused(order(volume=volume), "volume", "must be more than 0 lots")


@pytest.mark.parametrize(
    ("volume", "fragment"),
    [
        (True, "got the bool True"),
        (False, "got the bool False"),
        ("a lot", "got the text 'a lot'"),
        ([0.1], "expected a number, got list"),
        ({"lots": 0.1}, "expected a number, got dict"),
        (b"0.1", "expected a number, got bytes"),
        pytest.param(10**400, "finite", id="beyond-float-range"),
    ],
)
def test_volume_that_is_not_a_number_is_refused_naming_volume(
    volume: object, fragment: str
) -> None:
    refused(order(volume=volume), "volume", fragment)


def test_integer_volume_becomes_a_float_lot_size() -> None:
    parsed = parse_order_params(order(volume=1))
    assert parsed.volume == 1.0
    assert type(parsed.volume) is float
    assert type(parsed.to_mt5_request()["volume"]) is float


@pytest.mark.parametrize(("text", "lots"), [("0.1", 0.1), (" 2 ", 2.0), ("1e-2", 0.01)])
def test_volume_given_as_text_becomes_a_float_lot_size(text: str, lots: float) -> None:
    parsed = parse_order_params(order(volume=text))
    assert parsed.volume == lots
    assert type(parsed.volume) is float


def test_numpy_volume_becomes_a_plain_float() -> None:
    request = request_of(order(volume=np.float64(0.2)))
    assert request["volume"] == 0.2
    assert type(request["volume"]) is float


# ---- NaN, infinities and wrong types across fields ---------------------------------------------
@pytest.mark.parametrize(
    "field", ["volume", "price", "sl", "tp", "stoplimit", "deviation", "magic", "position"]
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf"])
def test_nan_or_infinite_number_is_refused_naming_the_field(field: str, value: object) -> None:
    refused(order(**{field: value}), field, "finite number")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("symbol", 1234, "expected a symbol name (text), got int 1234"),
        ("symbol", None, "expected a symbol name (text), got NoneType"),
        ("symbol", b"EURUSD", "got bytes"),
        ("volume", True, "got the bool True"),
        ("price", [1.1], "expected a number, got list [1.1]"),
        ("price", True, "got the bool True"),
        ("sl", "low", "got the text 'low'"),
        ("comment", b"hello", "expected text, got bytes"),
        ("comment", None, "expected text, got NoneType"),
        ("comment", 42, "expected text, got int"),
        ("backtest_toggle", "yes", "expected True or False, got str 'yes'"),
        ("backtest_toggle", 1, "expected True or False, got int 1"),
        ("backtest_toggle", None, "expected True or False"),
        ("magic", "abc", "got the text 'abc'"),
        ("magic", True, "got the bool True"),
        ("deviation", 1.5, "expected an integer, got 1.5"),
        ("deviation", None, "expected a number"),
        ("position", 2.5, "expected an integer, got 2.5"),
        ("position", False, "got the bool False"),
        ("type_time", "NEVER", "unknown value 'NEVER'; expected one of ORDER_TIME_GTC"),
        ("type_time", 9, "unknown value 9"),
        ("type_filling", "ALL_OR_NOTHING", "expected one of ORDER_FILLING_FOK"),
        ("type_filling", 7, "unknown value 7"),
        ("type_filling", None, "expected a number"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field_and_what_came(
    field: str, value: object, fragment: str
) -> None:
    refused(order(**{field: value}), field, fragment)


# ---- integers: deviation, magic, tickets --------------------------------------------------------
@pytest.mark.parametrize("field", ["magic", "deviation"])
def test_negative_magic_or_deviation_is_refused(field: str) -> None:
    refused(order(**{field: -1}), field, "between 0 and 2**64-1", "got -1")


@pytest.mark.parametrize("field", ["magic", "deviation", "position"])
def test_an_integer_beyond_mt5_uint64_is_refused(field: str) -> None:
    refused(order(**{field: 2**64}), field, "between 0 and 2**64-1")


def test_the_largest_uint64_magic_is_accepted() -> None:
    assert request_of(order(magic=2**64 - 1))["magic"] == 2**64 - 1


@pytest.mark.parametrize("field", ["position", "position_by", "order"])
@pytest.mark.parametrize("ticket", [0, -5])
def test_a_ticket_of_zero_or_less_is_refused_naming_the_ticket_field(
    field: str, ticket: int
) -> None:
    raw = order(order_type="close_by", position=11, position_by=12)
    if field == "order":
        raw = order(order_type="cancel", order=11)
    raw[field] = ticket
    fragment = "must be a ticket above 0" if ticket == 0 else "between 0 and 2**64-1"
    refused(raw, field, fragment)


@pytest.mark.parametrize(("given", "expected"), [(10.0, 10), ("25", 25), (np.int64(7), 7)])
def test_deviation_is_normalised_to_a_plain_int_of_points(given: object, expected: int) -> None:
    request = request_of(order(deviation=given))
    assert request["deviation"] == expected
    assert type(request["deviation"]) is int


def test_numpy_int_magic_becomes_a_plain_int_because_mt5_refuses_numpy_ints() -> None:
    request = request_of(order(magic=np.int64(888888)))
    assert request["magic"] == 888888
    assert type(request["magic"]) is int


# ---- pending prices and stoplimit ---------------------------------------------------------------
@pytest.mark.parametrize(
    "order_type",
    ["buy_limit", "sell_limit", "buy_stop", "sell_stop", "buy_stop_limit", "sell_stop_limit"],
)
def test_a_pending_order_without_price_is_refused_naming_price(order_type: str) -> None:
    stoplimit = 1.1 if "stop_limit" in order_type else _MISSING
    refused(
        order(order_type=order_type, stoplimit=stoplimit),
        "price",
        f"required for a {order_type} order",
    )


@pytest.mark.parametrize("price", [0, -1.1])
def test_a_price_of_zero_or_less_is_refused(price: float) -> None:
    refused(order(order_type="buy_limit", price=price), "price", "must be a price above 0")


@pytest.mark.parametrize("order_type", ["buy_stop_limit", "sell_stop_limit"])
def test_a_stop_limit_without_stoplimit_is_refused_naming_stoplimit(order_type: str) -> None:
    refused(
        order(order_type=order_type, price=1.1),
        "stoplimit",
        f"required for a {order_type} order",
    )


def test_buy_stop_limit_with_limit_price_above_its_stop_price_is_refused_naming_stoplimit() -> None:
    refused(
        order(order_type="buy_stop_limit", price=1.12, stoplimit=1.13),
        "stoplimit",
        "buy_stop_limit's limit price 1.13 must be at or below its stop price 1.12",
    )


def test_sell_stop_limit_with_limit_price_below_its_stop_price_is_refused_naming_stoplimit() -> (
    None
):
    refused(
        order(order_type="sell_stop_limit", price=1.08, stoplimit=1.07),
        "stoplimit",
        "sell_stop_limit's limit price 1.07 must be at or above its stop price 1.08",
    )


@pytest.mark.parametrize(
    ("order_type", "price", "stoplimit"),
    [
        ("buy_stop_limit", 1.12, 1.12),
        ("buy_stop_limit", 1.12, 1.11),
        ("sell_stop_limit", 1.08, 1.08),
        ("sell_stop_limit", 1.08, 1.09),
    ],
)
def test_stop_limit_with_limit_price_at_or_on_the_right_side_of_its_stop_is_accepted(
    order_type: str, price: float, stoplimit: float
) -> None:
    request = request_of(order(order_type=order_type, price=price, stoplimit=stoplimit))
    assert request["stoplimit"] == stoplimit


@pytest.mark.parametrize("order_type", ["buy", "sell", "buy_limit", "sell_limit", "buy_stop"])
def test_stoplimit_given_for_an_order_that_is_not_a_stop_limit_is_refused(order_type: str) -> None:
    price = _MISSING if order_type in ("buy", "sell") else 1.1
    refused(
        order(order_type=order_type, price=price, stoplimit=1.1),
        "stoplimit",
        "only buy_stop_limit and sell_stop_limit orders take a limit price",
    )


# ---- stop loss and take profit sides ------------------------------------------------------------
@pytest.mark.parametrize(
    ("order_type", "price", "stoplimit", "field", "level", "fragment"),
    [
        (
            "buy_limit",
            1.1,
            None,
            "sl",
            1.2,
            "buy_limit's stop loss 1.2 must be below its price 1.1",
        ),
        ("buy_limit", 1.1, None, "tp", 1.0, "take profit 1.0 must be above its price 1.1"),
        ("buy_limit", 1.1, None, "sl", 1.1, "must be below its price 1.1"),
        ("buy_stop", 1.1, None, "sl", 1.15, "buy_stop's stop loss 1.15 must be below"),
        ("buy_stop", 1.1, None, "tp", 1.05, "buy_stop's take profit 1.05 must be above"),
        ("buy", 1.1, None, "sl", 1.2, "buy's stop loss 1.2 must be below its price 1.1"),
        ("sell_limit", 1.1, None, "sl", 1.0, "sell_limit's stop loss 1.0 must be above"),
        ("sell_limit", 1.1, None, "tp", 1.2, "sell_limit's take profit 1.2 must be below"),
        ("sell_limit", 1.1, None, "tp", 1.1, "must be below its price 1.1"),
        ("sell_stop", 1.1, None, "sl", 1.05, "sell_stop's stop loss 1.05 must be above"),
        ("sell_stop", 1.1, None, "tp", 1.15, "sell_stop's take profit 1.15 must be below"),
        ("sell", 1.1, None, "tp", 1.2, "sell's take profit 1.2 must be below its price 1.1"),
        # Stop-limits: the position opens at the limit price, so SL/TP are checked against it.
        ("buy_stop_limit", 1.2, 1.15, "sl", 1.16, "stop loss 1.16 must be below its limit price"),
        ("buy_stop_limit", 1.2, 1.15, "tp", 1.14, "take profit 1.14 must be above its limit price"),
        ("sell_stop_limit", 1.1, 1.15, "sl", 1.14, "stop loss 1.14 must be above its limit price"),
        ("sell_stop_limit", 1.1, 1.15, "tp", 1.16, "take profit 1.16 must be below its limit"),
    ],
)
def test_sl_or_tp_on_the_wrong_side_of_the_entry_is_refused_naming_the_level(
    order_type: str,
    price: float,
    stoplimit: float | None,
    field: str,
    level: float,
    fragment: str,
) -> None:
    raw = order(
        order_type=order_type,
        price=price,
        stoplimit=_MISSING if stoplimit is None else stoplimit,
        **{field: level},
    )
    refused(raw, field, fragment)


@pytest.mark.parametrize(
    ("order_type", "price", "stoplimit", "sl", "tp"),
    [
        ("buy_limit", 1.1, None, 1.09, 1.12),
        ("buy_stop", 1.1, None, 1.09, 1.12),
        ("sell_limit", 1.1, None, 1.12, 1.09),
        ("sell_stop", 1.1, None, 1.12, 1.09),
        # Between the stop and the limit price: fine, the limit price is what counts.
        ("buy_stop_limit", 1.2, 1.15, 1.14, 1.17),
        ("sell_stop_limit", 1.1, 1.15, 1.16, 1.12),
    ],
)
def test_sl_and_tp_on_the_right_side_of_the_entry_are_accepted(
    order_type: str, price: float, stoplimit: float | None, sl: float, tp: float
) -> None:
    raw = order(
        order_type=order_type,
        price=price,
        stoplimit=_MISSING if stoplimit is None else stoplimit,
        sl=sl,
        tp=tp,
    )
    request = request_of(raw)
    assert (request["sl"], request["tp"]) == (sl, tp)


def test_sl_of_zero_means_no_stop_loss_and_is_not_side_checked() -> None:
    request = request_of(order(order_type="buy_limit", price=1.1, sl=0, tp=1.2))
    assert request["sl"] == 0.0


@pytest.mark.parametrize("field", ["sl", "tp"])
def test_a_negative_sl_or_tp_is_refused(field: str) -> None:
    refused(order(**{field: -0.5}), field, "must be a price, or 0 for none")


def test_a_market_buy_without_price_leaves_sides_to_the_quote() -> None:
    # No entry price is known before the quote: prepare_request/the broker judge the levels.
    request = request_of(order(sl=1.2, tp=1.0))
    assert (request["sl"], request["tp"]) == (1.2, 1.0)


# ---- time in force and expiration ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_time", "name"),
    [
        (mt5.ORDER_TIME_SPECIFIED, "ORDER_TIME_SPECIFIED"),
        (mt5.ORDER_TIME_SPECIFIED_DAY, "ORDER_TIME_SPECIFIED_DAY"),
        ("SPECIFIED", "ORDER_TIME_SPECIFIED"),
    ],
)
def test_a_specified_time_order_without_expiration_is_refused_naming_expiration(
    type_time: object, name: str
) -> None:
    refused(
        order(order_type="buy_limit", price=1.1, type_time=type_time),
        "expiration",
        f"required when type_time is {name}",
    )


@pytest.mark.parametrize(
    ("type_time", "name"), [(mt5.ORDER_TIME_GTC, "ORDER_TIME_GTC"), ("DAY", "ORDER_TIME_DAY")]
)
def test_expiration_with_a_time_in_force_that_never_uses_it_is_a_warning_by_default(
    type_time: object, name: str
) -> None:
    parsed = parse_order_params(
        order(order_type="buy_limit", price=1.1, type_time=type_time, expiration=1_900_000_000)
    )
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith(f"expiration: given with type_time {name}")
    assert "ORDER_TIME_SPECIFIED" in parsed.warnings[0]
    # MT5 keeps the value, so the request carries it as given.
    assert parsed.to_mt5_request()["expiration"] == 1_900_000_000


def test_expiration_with_gtc_is_refused_in_strict_mode() -> None:
    refused(
        order(order_type="buy_limit", price=1.1, expiration=datetime(2030, 1, 1)),
        "expiration",
        "given with type_time ORDER_TIME_GTC",
        strict=True,
    )


def test_params_without_doubtful_input_have_no_warnings() -> None:
    assert parse_order_params(order()).warnings == ()


def test_naive_datetime_expiration_is_read_as_server_time_in_epoch_seconds() -> None:
    moment = datetime(2030, 6, 1, 23, 59, 30)
    parsed = parse_order_params(
        order(order_type="buy_limit", price=1.1, type_time="SPECIFIED", expiration=moment),
        server_utc_offset_s=7200,  # ignored: a naive datetime is already server wall-clock time
    )
    assert parsed.expiration == calendar.timegm(moment.timetuple())
    assert type(parsed.expiration) is int


def test_aware_datetime_expiration_is_shifted_to_the_server_clock() -> None:
    moment = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    parsed = parse_order_params(
        order(order_type="buy_limit", price=1.1, type_time="SPECIFIED", expiration=moment),
        server_utc_offset_s=7200,
    )
    # 12:00 UTC is 14:00 on a GMT+2 server.
    assert parsed.expiration == calendar.timegm(datetime(2030, 6, 1, 14, 0).timetuple())


def test_aware_datetime_in_another_zone_is_the_same_instant_on_the_server_clock() -> None:
    new_york = timezone(timedelta(hours=-4))
    parsed = parse_order_params(
        order(
            order_type="buy_limit",
            price=1.1,
            type_time="SPECIFIED",
            expiration=datetime(2030, 6, 1, 8, 0, tzinfo=new_york),
        )
    )
    assert parsed.expiration == calendar.timegm(datetime(2030, 6, 1, 12, 0).timetuple())


@pytest.mark.parametrize(
    ("text", "offset_s", "server_time"),
    [
        ("2030-06-01T12:00:00", 7200, datetime(2030, 6, 1, 12, 0)),
        ("2030-06-01 12:00", 0, datetime(2030, 6, 1, 12, 0)),
        ("2030-06-01T12:00:00+00:00", 3600, datetime(2030, 6, 1, 13, 0)),
    ],
)
def test_iso_text_expiration_is_converted_like_a_datetime(
    text: str, offset_s: int, server_time: datetime
) -> None:
    parsed = parse_order_params(
        order(order_type="buy_limit", price=1.1, type_time="SPECIFIED", expiration=text),
        server_utc_offset_s=offset_s,
    )
    assert parsed.expiration == calendar.timegm(server_time.timetuple())


@pytest.mark.parametrize("seconds", [1_900_000_000, 1_900_000_000.0, np.int64(1_900_000_000)])
def test_epoch_seconds_expiration_stays_an_int(seconds: object) -> None:
    parsed = parse_order_params(
        order(order_type="buy_limit", price=1.1, type_time="SPECIFIED", expiration=seconds)
    )
    assert parsed.expiration == 1_900_000_000
    assert type(parsed.expiration) is int


@pytest.mark.parametrize(
    ("expiration", "fragment"),
    [
        (date(2030, 1, 1), "expected a datetime with a time of day"),
        ("next friday", "expected a datetime or epoch seconds, got the text 'next friday'"),
        (0, "must be a time after 1970"),
        (-60, "must be a time after 1970"),
        (1.5e9 + 0.5, "expected an integer"),
        (True, "got the bool True"),
        ([2030, 1, 1], "expected a number, got list"),
        (datetime(1969, 12, 31, 23, 0), "must be a time after 1970"),
        ("1960-01-01T00:00:00", "must be a time after 1970"),
        (2**63, "seconds below 2**63"),
    ],
)
def test_an_unusable_expiration_is_refused_naming_expiration(
    expiration: object, fragment: str
) -> None:
    raw = order(order_type="buy_limit", price=1.1, type_time="SPECIFIED", expiration=expiration)
    refused(raw, "expiration", fragment)


# ---- text limits: comment and symbol ------------------------------------------------------------
def test_a_comment_of_29_characters_is_accepted() -> None:
    assert request_of(order(comment="c" * 29))["comment"] == "c" * 29


def test_a_comment_of_30_characters_is_refused_because_mt5_holds_29() -> None:
    refused(order(comment="c" * 30), "comment", "is 30 characters; MT5 accepts at most 29")


def test_an_emoji_outside_the_bmp_counts_two_utf16_units_in_a_comment() -> None:
    assert request_of(order(comment="c" * 27 + "\U0001f680"))["comment"].endswith("\U0001f680")
    refused(order(comment="c" * 28 + "\U0001f680"), "comment", "is 30 characters")


def test_a_symbol_of_29_characters_is_accepted() -> None:
    assert request_of(order(symbol="S" * 29))["symbol"] == "S" * 29


def test_a_symbol_of_30_characters_is_refused_because_mt5_holds_29() -> None:
    refused(order(symbol="S" * 30), "symbol", "is 30 characters; MT5 accepts at most 29")


@pytest.mark.parametrize("symbol", ["", "   "])
def test_an_empty_symbol_is_refused(symbol: str) -> None:
    refused(order(symbol=symbol), "symbol", "must not be empty")


def test_a_symbol_with_a_broker_suffix_is_kept_and_stripped_of_spaces() -> None:
    assert request_of(order(symbol=" EURUSD.sml "))["symbol"] == "EURUSD.sml"


# ---- what the order targets: position, position_by, order ---------------------------------------
@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        (
            order(order_type="modify", sl=1.0),
            "position",
            "modify needs exactly one of position",
        ),
        (
            order(order_type="modify", position=3, order=4, sl=1.0),
            "position",
            "modify needs exactly one of position",
        ),
        (order(order_type="cancel"), "order", "cancel needs the ticket of the pending order"),
        (order(order_type="cancel", position=3), "order", "cancel needs the ticket"),
        (order(order=4), "order", "only modify and cancel take a pending order ticket"),
        (
            order(order_type="buy_limit", price=1.1, order=4),
            "order",
            "only modify and cancel take",
        ),
        (
            order(order_type="buy_limit", price=1.1, position=3),
            "position",
            "a buy_limit order opens a new order; it cannot target one",
        ),
        (order(position_by=5), "position_by", "needs position, the ticket of the position"),
        (order(order_type="close_by"), "position_by", "close_by needs both position and"),
        (order(order_type="close_by", position=3), "position_by", "close_by needs both"),
        (order(position=3, sl=1.05), "sl", "an order that closes a position takes no SL/TP"),
        (order(order_type="sell", position=3, tp=1.0), "tp", "closes a position takes no SL/TP"),
        # position_by turns a request into CLOSE_BY: a modify or cancel must never close positions.
        (
            order(order_type="modify", position=3, position_by=5, sl=1.0),
            "position_by",
            "a modify takes no position_by",
        ),
        (
            order(order_type="cancel", order=4, position=3, position_by=5),
            "position_by",
            "a cancel takes no position_by",
        ),
    ],
)
def test_an_order_that_targets_the_wrong_thing_is_refused_naming_the_ticket(
    raw: dict[str, Any], field: str, fragment: str
) -> None:
    refused(raw, field, fragment)


# ---- defaults and enum spellings ----------------------------------------------------------------
def test_the_seed_defaults_are_deviation_10_magic_123456_mas_order_gtc_fok() -> None:
    parsed = parse_order_params(order())
    assert parsed.deviation == 10
    assert parsed.magic == 123456
    assert parsed.comment == "MAS Order"
    assert parsed.type_time == mt5.ORDER_TIME_GTC == 0
    assert parsed.type_filling == mt5.ORDER_FILLING_FOK == 0
    assert (parsed.price, parsed.sl, parsed.tp, parsed.stoplimit) == (None, None, None, None)
    assert (parsed.expiration, parsed.position, parsed.position_by, parsed.order) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "spelling", ["IOC", "ORDER_FILLING_IOC", "ioc", " order_filling_ioc ", mt5.ORDER_FILLING_IOC]
)
def test_immediate_or_cancel_filling_spelt_any_usual_way_is_order_filling_ioc(
    spelling: object,
) -> None:
    request = request_of(order(type_filling=spelling))
    assert request["type_filling"] == mt5.ORDER_FILLING_IOC == 1


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("GTC", mt5.ORDER_TIME_GTC),
        ("ORDER_TIME_DAY", mt5.ORDER_TIME_DAY),
        ("specified", mt5.ORDER_TIME_SPECIFIED),
        (mt5.ORDER_TIME_SPECIFIED_DAY, mt5.ORDER_TIME_SPECIFIED_DAY),
        (3.0, mt5.ORDER_TIME_SPECIFIED_DAY),
    ],
)
def test_time_in_force_spelt_any_usual_way_is_its_mt5_code(spelling: object, code: int) -> None:
    raw = order(order_type="buy_limit", price=1.1, type_time=spelling, expiration=1_900_000_000)
    parsed = parse_order_params(raw)
    assert parsed.type_time == code
    assert type(parsed.type_time) is int


def test_params_are_frozen_once_validated() -> None:
    parsed = parse_order_params(order())
    with pytest.raises(ValueError, match="frozen"):
        parsed.volume = 5.0  # type: ignore[misc]


def test_order_params_model_lists_every_seed_key() -> None:
    seed_keys = {
        "backtest_toggle",
        "symbol",
        "order_type",
        "volume",
        "price",
        "sl",
        "tp",
        "stoplimit",
        "deviation",
        "magic",
        "comment",
        "type_time",
        "expiration",
        "type_filling",
        "position",
        "position_by",
    }
    assert seed_keys <= set(OrderParams.model_fields)


# ---- the MT5 request ----------------------------------------------------------------------------
def test_mt5_action_codes_are_the_real_values() -> None:
    assert mt5.TRADE_ACTION_DEAL == 1
    assert mt5.TRADE_ACTION_PENDING == 5
    assert mt5.TRADE_ACTION_SLTP == 6
    assert mt5.TRADE_ACTION_MODIFY == 7
    assert mt5.TRADE_ACTION_REMOVE == 8
    assert mt5.TRADE_ACTION_CLOSE_BY == 10


def test_order_constants_match_the_reference_metatrader5_package_values() -> None:
    if not CONSTANTS_FILE.is_file():
        pytest.skip(f"{CONSTANTS_FILE} (the MetaTrader5 5.0.6231 constant dump) is not here")
    reference = json.loads(CONSTANTS_FILE.read_text(encoding="utf-8"))
    prefixes = ("TRADE_ACTION_", "ORDER_TYPE_", "ORDER_FILLING_", "ORDER_TIME_", "TRADE_RETCODE_")
    names = [name for name in reference if name.startswith(prefixes)]
    assert len(names) > 30
    assert {name: getattr(mt5, name) for name in names} == {name: reference[name] for name in names}


def test_a_market_buy_is_a_deal_request_with_mt5_types() -> None:
    request = request_of(order(volume=1, magic=888888, comment="Test Order"))
    assert request == {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": "EURUSD",
        "magic": 888888,
        "volume": 1.0,
        "type": mt5.ORDER_TYPE_BUY,
        "deviation": 10,
        "type_filling": mt5.ORDER_FILLING_FOK,
        "type_time": mt5.ORDER_TIME_GTC,
        "comment": "Test Order",
    }
    assert type(request["volume"]) is float


def test_a_market_sell_with_levels_is_a_deal_with_float_sl_and_tp() -> None:
    request = request_of(order(order_type="sell", sl=2, tp=1))
    assert request["action"] == mt5.TRADE_ACTION_DEAL
    assert request["type"] == mt5.ORDER_TYPE_SELL
    assert (request["sl"], request["tp"]) == (2.0, 1.0)
    assert type(request["sl"]) is float
    assert type(request["tp"]) is float


def test_a_buy_that_targets_a_position_is_a_deal_that_closes_it() -> None:
    request = request_of(order(position=77))
    assert request["action"] == mt5.TRADE_ACTION_DEAL
    assert request["position"] == 77


@pytest.mark.parametrize(
    ("order_type", "code"),
    [
        ("buy_limit", mt5.ORDER_TYPE_BUY_LIMIT),
        ("sell_limit", mt5.ORDER_TYPE_SELL_LIMIT),
        ("buy_stop", mt5.ORDER_TYPE_BUY_STOP),
        ("sell_stop", mt5.ORDER_TYPE_SELL_STOP),
    ],
)
def test_a_limit_or_stop_order_is_a_pending_request_of_its_type(order_type: str, code: int) -> None:
    request = request_of(order(order_type=order_type, price=1))
    assert request["action"] == mt5.TRADE_ACTION_PENDING
    assert request["type"] == code
    assert request["price"] == 1.0
    assert type(request["price"]) is float
    assert "stoplimit" not in request
    assert "expiration" not in request


def test_the_seed_live_example_builds_the_pending_request_mt5_expects() -> None:
    raw = {
        "symbol": "EURUSD",
        "order_type": "buy_limit",
        "volume": 0.1,
        "price": 1.12345,
        "sl": 1.12000,
        "tp": 1.13000,
        "deviation": 10,
        "magic": 888888,
        "comment": "Test Order",
        "type_time": mt5.ORDER_TIME_GTC,
        "expiration": datetime(2025, 12, 31, 23, 59),
        "type_filling": mt5.ORDER_FILLING_IOC,
        "backtest_toggle": False,
    }
    parsed = parse_order_params(raw)
    assert parsed.warnings  # expiration with GTC never expires the order
    assert parsed.to_mt5_request() == {
        "action": mt5.TRADE_ACTION_PENDING,
        "symbol": "EURUSD",
        "magic": 888888,
        "volume": 0.1,
        "type": mt5.ORDER_TYPE_BUY_LIMIT,
        "deviation": 10,
        "type_filling": mt5.ORDER_FILLING_IOC,
        "type_time": mt5.ORDER_TIME_GTC,
        "comment": "Test Order",
        "price": 1.12345,
        "sl": 1.12,
        "tp": 1.13,
        "expiration": calendar.timegm(datetime(2025, 12, 31, 23, 59).timetuple()),
    }


@pytest.mark.parametrize(
    ("order_type", "price", "stoplimit", "code"),
    [
        ("buy_stop_limit", 1.2, 1.19, mt5.ORDER_TYPE_BUY_STOP_LIMIT),
        ("sell_stop_limit", 1.0, 1.01, mt5.ORDER_TYPE_SELL_STOP_LIMIT),
    ],
)
def test_a_stop_limit_with_expiry_is_a_pending_request_with_stoplimit_and_int_expiration(
    order_type: str, price: float, stoplimit: float, code: int
) -> None:
    request = request_of(
        order(
            order_type=order_type,
            price=price,
            stoplimit=stoplimit,
            type_time="SPECIFIED",
            expiration=datetime(2030, 1, 1, 0, 0),
            type_filling="RETURN",
        )
    )
    assert request["action"] == mt5.TRADE_ACTION_PENDING
    assert request["type"] == code
    assert (request["price"], request["stoplimit"]) == (price, stoplimit)
    assert request["type_time"] == mt5.ORDER_TIME_SPECIFIED
    assert request["type_filling"] == mt5.ORDER_FILLING_RETURN
    assert request["expiration"] == calendar.timegm((2030, 1, 1, 0, 0, 0))
    assert type(request["expiration"]) is int


def test_modify_with_a_position_is_an_sltp_request_carrying_only_the_levels() -> None:
    request = request_of(order(order_type="modify", volume=_MISSING, position=42, sl=1, tp=2))
    assert request == {
        "action": mt5.TRADE_ACTION_SLTP,
        "symbol": "EURUSD",
        "magic": 123456,
        "position": 42,
        "sl": 1.0,
        "tp": 2.0,
    }


def test_modify_with_an_order_is_a_modify_request_with_price_time_and_expiry() -> None:
    request = request_of(
        order(
            order_type="modify",
            volume=_MISSING,
            order=9,
            price=1.05,
            type_time="SPECIFIED",
            expiration=1_900_000_000,
        )
    )
    assert request == {
        "action": mt5.TRADE_ACTION_MODIFY,
        "symbol": "EURUSD",
        "magic": 123456,
        "order": 9,
        "type_time": mt5.ORDER_TIME_SPECIFIED,
        "price": 1.05,
        "expiration": 1_900_000_000,
    }


def test_cancel_is_a_remove_request_naming_the_pending_order() -> None:
    request = request_of(order(order_type="cancel", volume=_MISSING, order=9))
    assert request == {
        "action": mt5.TRADE_ACTION_REMOVE,
        "symbol": "EURUSD",
        "magic": 123456,
        "order": 9,
    }


@pytest.mark.parametrize("order_type", ["close_by", "buy", "sell"])
def test_position_with_position_by_is_a_close_by_request(order_type: str) -> None:
    request = request_of(order(order_type=order_type, position=3, position_by=4))
    assert request == {
        "action": mt5.TRADE_ACTION_CLOSE_BY,
        "symbol": "EURUSD",
        "magic": 123456,
        "type": mt5.ORDER_TYPE_CLOSE_BY,
        "position": 3,
        "position_by": 4,
        "comment": "MAS Order",
    }


_FLOAT_FIELDS = ("volume", "price", "stoplimit", "sl", "tp")
_INT_FIELDS = (
    "action",
    "magic",
    "order",
    "deviation",
    "type",
    "type_filling",
    "type_time",
    "expiration",
    "position",
    "position_by",
)


@pytest.mark.parametrize(
    "raw",
    [
        order(volume=1, deviation=5.0, magic="7"),
        order(order_type="sell", volume="2", sl=3, tp=1),
        order(order_type="sell", volume=2, position=8),
        order(
            order_type="buy_stop_limit",
            volume=np.float64(1),
            price=2,
            stoplimit=1,
            sl=np.int64(0),
            tp=3,
            type_time="SPECIFIED",
            expiration=np.int64(1_900_000_000),
            type_filling=np.int64(2),
        ),
        order(order_type="modify", order=np.int64(3), price=1, type_time=2.0, expiration=2e9),
        order(order_type="close_by", position=np.int64(5), position_by=6.0),
    ],
)
def test_every_request_field_has_the_exact_python_type_mt5_requires(raw: dict[str, Any]) -> None:
    request = request_of(raw)
    for field, value in request.items():
        if field in _FLOAT_FIELDS:
            assert type(value) is float, (field, value)
        elif field in _INT_FIELDS:
            assert type(value) is int, (field, value)
        else:
            assert type(value) is str, (field, value)


# ---- prepare_request: the request completed for one symbol --------------------------------------
def prepared(
    raw: Mapping[str, Any], info: Mapping[str, Any] = EURUSD_INFO, **targets: Any
) -> tuple[dict[str, Any], tuple[str, ...]]:
    return prepare_request(parse_order_params(raw), info, bid=BID, ask=ASK, **targets)


def test_float_noise_in_volume_is_snapped_to_the_volume_step() -> None:
    request, notes = prepared(order(volume=0.1 + 0.2))  # 0.30000000000000004
    assert request["volume"] == 0.3
    assert notes == ()


def test_a_volume_that_is_not_a_multiple_of_the_step_is_refused_with_the_step() -> None:
    with pytest.raises(OrderParamsError) as caught:
        prepared(order(volume=0.013))
    assert caught.value.problems == (
        "volume: 0.013 is not a multiple of the symbol's volume step 0.01",
    )


def test_a_volume_below_the_symbol_minimum_is_refused() -> None:
    with pytest.raises(OrderParamsError) as caught:
        prepared(order(volume=0.001))
    assert caught.value.problems == ("volume: 0.001 is below EURUSD's minimum of 0.01 lots",)


def test_a_volume_above_the_symbol_maximum_is_refused() -> None:
    with pytest.raises(OrderParamsError) as caught:
        prepared(order(volume=101))
    assert caught.value.problems == ("volume: 101.0 is above EURUSD's maximum of 100.0 lots",)


def test_the_symbol_maximum_volume_itself_is_accepted() -> None:
    request, _ = prepared(order(volume=100))
    assert request["volume"] == 100.0


def test_fok_on_a_symbol_that_only_allows_ioc_is_sent_as_ioc_with_a_note() -> None:
    request, notes = prepared(order(), {**EURUSD_INFO, "filling_mode": 2})
    assert request["type_filling"] == mt5.ORDER_FILLING_IOC
    assert len(notes) == 1
    assert notes[0].startswith("type_filling: ORDER_FILLING_FOK is not accepted for EURUSD")
    assert notes[0].endswith("sent ORDER_FILLING_IOC")


def test_a_filling_the_symbol_allows_is_kept_without_a_note() -> None:
    request, notes = prepared(order(type_filling="IOC"))
    assert request["type_filling"] == mt5.ORDER_FILLING_IOC
    assert notes == ()


def test_a_pending_order_with_an_unsupported_filling_rests_with_return() -> None:
    raw = order(order_type="buy_limit", price=1.09)
    request, notes = prepared(raw, {**EURUSD_INFO, "filling_mode": 2})
    assert request["type_filling"] == mt5.ORDER_FILLING_RETURN
    assert "sent ORDER_FILLING_RETURN" in notes[0]


def test_an_instant_execution_symbol_gets_fill_or_kill() -> None:
    info = {**EURUSD_INFO, "trade_exemode": mt5.SYMBOL_TRADE_EXECUTION_INSTANT}
    request, notes = prepared(order(type_filling="IOC"), info)
    assert request["type_filling"] == mt5.ORDER_FILLING_FOK
    assert "sent ORDER_FILLING_FOK" in notes[0]


@pytest.mark.parametrize(("order_type", "quote"), [("buy", ASK), ("sell", BID)])
def test_a_market_order_is_priced_at_ask_for_a_buy_and_bid_for_a_sell(
    order_type: str, quote: float
) -> None:
    request, _ = prepared(order(order_type=order_type))
    assert request["price"] == quote


@pytest.mark.parametrize(("order_type", "quote"), [("buy", ASK), ("sell", BID)])
def test_closing_a_position_takes_the_price_of_the_closing_side(
    order_type: str, quote: float
) -> None:
    # A buy closes a sell position at ask; a sell closes a buy position at bid.
    request, _ = prepared(order(order_type=order_type, position=12))
    assert request["price"] == quote


def test_prices_are_rounded_to_the_symbol_digits() -> None:
    raw = order(order_type="buy_limit", price=1.0912345678, sl=1.08000004, tp=1.1000049)
    request, _ = prepared(raw)
    assert (request["price"], request["sl"], request["tp"]) == (1.09123, 1.08, 1.1)


def test_a_three_digit_yen_quote_rounds_to_three_digits() -> None:
    info = {**EURUSD_INFO, "name": "USDJPY", "digits": 3}
    raw = order(symbol="USDJPY", order_type="sell_limit", price=155.12345)
    request, _ = prepared(raw, info)
    assert request["price"] == 155.123


def test_moving_only_the_stop_loss_keeps_the_position_take_profit() -> None:
    position = {"ticket": 42, "symbol": "EURUSD.sml", "sl": 1.09, "tp": 1.12}
    raw = order(order_type="modify", volume=_MISSING, position=42, sl=1.095)
    request, _ = prepared(raw, position=position)
    assert request["action"] == mt5.TRADE_ACTION_SLTP
    assert (request["sl"], request["tp"]) == (1.095, 1.12)
    assert request["symbol"] == "EURUSD.sml"  # the position's own symbol name


def test_an_explicit_zero_stop_loss_removes_it_and_keeps_the_take_profit() -> None:
    position = {"ticket": 42, "symbol": "EURUSD", "sl": 1.09, "tp": 1.12}
    raw = order(order_type="modify", volume=_MISSING, position=42, sl=0)
    request, _ = prepared(raw, position=position)
    assert (request["sl"], request["tp"]) == (0.0, 1.12)


def test_modifying_only_the_stop_loss_keeps_the_order_price_tp_and_expiry() -> None:
    pending = {
        "ticket": 9,
        "price_open": 1.09,
        "price_stoplimit": 0.0,
        "sl": 1.08,
        "tp": 1.12,
        "type_time": mt5.ORDER_TIME_SPECIFIED,
        "time_expiration": 1_900_000_000,
    }
    raw = order(order_type="modify", volume=_MISSING, order=9, sl=1.085)
    request, _ = prepared(raw, order=pending)
    assert request["action"] == mt5.TRADE_ACTION_MODIFY
    assert request["sl"] == 1.085
    assert (request["price"], request["tp"]) == (1.09, 1.12)
    assert request["type_time"] == mt5.ORDER_TIME_SPECIFIED
    assert request["expiration"] == 1_900_000_000


def test_a_new_price_in_a_modify_replaces_the_order_price() -> None:
    pending = {"ticket": 9, "price_open": 1.09, "sl": 1.08, "tp": 1.12, "type_time": 0}
    raw = order(order_type="modify", volume=_MISSING, order=9, price=1.0950001)
    request, _ = prepared(raw, order=pending)
    assert (request["price"], request["sl"], request["tp"]) == (1.095, 1.08, 1.12)
    assert request["type_time"] == mt5.ORDER_TIME_GTC
    assert "expiration" not in request


def test_a_params_warning_comes_back_in_the_notes() -> None:
    raw = order(order_type="buy_limit", price=1.09, expiration=1_900_000_000)
    _, notes = prepared(raw)
    assert any(note.startswith("expiration: given with type_time ORDER_TIME_GTC") for note in notes)


def test_expiration_given_as_epoch_digits_in_text_is_read_as_seconds() -> None:
    params = parse_order_params(
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "order_type": "buy_limit",
            "volume": 0.1,
            "price": 1.1,
            "type_time": "SPECIFIED",
            "expiration": "1900000000",
        }
    )
    assert params.expiration == 1_900_000_000


def test_modify_with_only_a_new_expiration_keeps_the_orders_time_in_force_without_warning() -> None:
    params = parse_order_params(
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "order_type": "modify",
            "order": 7,
            "expiration": 1_900_000_000,
        },
        strict=True,
    )
    assert params.warnings == ()
    info = {"name": "EURUSD", "digits": 5, "volume_step": 0.01, "volume_min": 0.01}
    order = {
        "price_open": 1.1,
        "price_stoplimit": 0.0,
        "sl": 0.0,
        "tp": 0.0,
        "type_time": mt5.ORDER_TIME_SPECIFIED,
        "time_expiration": 1_800_000_000,
    }
    request, _ = prepare_request(params, info, bid=1.2, ask=1.2001, order=order)
    assert request["type_time"] == mt5.ORDER_TIME_SPECIFIED
    assert request["expiration"] == 1_900_000_000


def test_a_stop_loss_that_rounds_to_zero_is_refused_not_silently_dropped() -> None:
    params = parse_order_params(
        {
            "backtest_toggle": True,
            "symbol": "EURUSD",
            "order_type": "sell",
            "volume": 0.1,
            "sl": 1e-300,
        }
    )
    info = {"name": "EURUSD", "digits": 5, "volume_step": 0.01, "volume_min": 0.01}
    with pytest.raises(OrderParamsError, match=r"^invalid order params: sl: 1e-300 is 0 at"):
        prepare_request(params, info, bid=1.1, ask=1.1001)
