"""The ``send_order`` params dict of the seed contract, and the MT5 trade request it builds.

``OrderParams`` is the seed's table as a model: every key with its type, required flag and default
(deviation 10, magic 123456, comment "MAS Order", GTC, FOK). ``parse_order_params`` validates a raw
dict and names each bad field; what a user naturally types (volume ``1``, ``"0.1"``, a ``datetime``
expiration, ``"IOC"``) is normalised to what MT5 needs (a float volume, an integer epoch, the enum
value) where the meaning is unambiguous.

Order types are the seed's eight (buy, sell, buy_limit, sell_limit, buy_stop, sell_stop,
buy_stop_limit, sell_stop_limit) and, as MT5 does:
    * a ``buy``/``sell`` with ``position`` closes (or reduces) that position;
    * ``position`` with ``position_by`` closes a position by an opposite one (hedging, CLOSE_BY);
    * ``modify`` with ``position`` moves its SL/TP (SLTP); with ``order`` it changes a pending order
      (MODIFY); ``cancel`` with ``order`` deletes a pending order (REMOVE). ``order`` is the MT5
      request's own field (the seed makes every request field available).

Times: MT5 counts ``expiration`` in seconds of the trade server's clock. A naive ``datetime`` is
read as that clock (what the terminal shows); an aware one is converted with the server's UTC offset.
"""

from __future__ import annotations

import calendar
import difflib
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nl_trader import mt5
from nl_trader.errors import OrderParamsError
from nl_trader.symbols import snap_volume

PLACING_TYPES = (
    "buy",
    "sell",
    "buy_limit",
    "sell_limit",
    "buy_stop",
    "sell_stop",
    "buy_stop_limit",
    "sell_stop_limit",
)
ORDER_TYPES = (*PLACING_TYPES, "close_by", "modify", "cancel")
OrderTypeName = Literal[
    "buy",
    "sell",
    "buy_limit",
    "sell_limit",
    "buy_stop",
    "sell_stop",
    "buy_stop_limit",
    "sell_stop_limit",
    "close_by",
    "modify",
    "cancel",
]
MARKET_TYPES = frozenset({"buy", "sell"})
PENDING_TYPES = frozenset(PLACING_TYPES) - MARKET_TYPES
STOP_LIMIT_TYPES = frozenset({"buy_stop_limit", "sell_stop_limit"})
BUY_SIDE_TYPES = frozenset({"buy", "buy_limit", "buy_stop", "buy_stop_limit"})

ORDER_TYPE_CODE: dict[str, int] = {
    "buy": mt5.ORDER_TYPE_BUY,
    "sell": mt5.ORDER_TYPE_SELL,
    "buy_limit": mt5.ORDER_TYPE_BUY_LIMIT,
    "sell_limit": mt5.ORDER_TYPE_SELL_LIMIT,
    "buy_stop": mt5.ORDER_TYPE_BUY_STOP,
    "sell_stop": mt5.ORDER_TYPE_SELL_STOP,
    "buy_stop_limit": mt5.ORDER_TYPE_BUY_STOP_LIMIT,
    "sell_stop_limit": mt5.ORDER_TYPE_SELL_STOP_LIMIT,
    "close_by": mt5.ORDER_TYPE_CLOSE_BY,
}
_TYPE_BY_CODE = {code: name for name, code in ORDER_TYPE_CODE.items()}

TYPE_TIME_NAMES = {
    "GTC": mt5.ORDER_TIME_GTC,
    "DAY": mt5.ORDER_TIME_DAY,
    "SPECIFIED": mt5.ORDER_TIME_SPECIFIED,
    "SPECIFIED_DAY": mt5.ORDER_TIME_SPECIFIED_DAY,
}
TYPE_FILLING_NAMES = {
    "FOK": mt5.ORDER_FILLING_FOK,
    "IOC": mt5.ORDER_FILLING_IOC,
    "RETURN": mt5.ORDER_FILLING_RETURN,
    "BOC": mt5.ORDER_FILLING_BOC,
}
# The MetaTrader5 package copies symbol and comment into a 32-wchar buffer and accepts at most 29
# UTF-16 code units (mt5_api.md 1.3); longer values make order_send return None.
MT5_TEXT_LIMIT = 29
_UINT64_MAX = 2**64 - 1
_INT64_MAX = 2**63 - 1


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---- free text --------------------------------------------------------------------------------
# Refused in every free-text field (an order's comment and symbol, a strategy's name,
# description and comment): C0 controls (tab and line breaks included), DEL and C1 controls (ESC
# and CSI open the terminal escape sequences that recolour, move or clear a screen), and the
# bidirectional embeddings, overrides and isolates, which make text display in another order
# than it is stored. The marks U+200E/U+200F are kept: Arabic and Hebrew text carries them.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be free text (its first control character, named), or None."""
    found = _CONTROL_CHARACTER.search(text)
    if found is None:
        return None
    character = found.group()
    why = ""
    if character in "\x1b\x9b":
        kind, why = "an escape character", ", which starts a terminal escape sequence"
    elif character >= "\u202a":
        kind, why = "a bidirectional-text control", ", which reorders the text as displayed"
    else:
        kind = "a control character"
    return (
        f"contains {kind}, U+{ord(character):04X}, at position {found.start()}{why}; "
        "free text takes printable characters only"
    )


# ---- plain values: what crosses the boundary ---------------------------------------------------
# A caller's object is read once, by the built-in types' own methods, into a plain value of an
# exact built-in type; nothing of the caller's (an overridden __str__, __eq__, __hash__, items,
# ...) runs after that, so a hostile or broken object can only be refused.
_PLAIN_TYPES = frozenset({type(None), bool, int, float, str, bytes, date, Decimal, Fraction})
_NUMPY_NUMBERS = frozenset(
    {
        np.float16,
        np.float32,
        np.float64,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
    }
)
_SAFE_ZONES = frozenset({timezone, ZoneInfo})
_SHOWN_TYPES = frozenset({type(None), bool, int, float, str, bytes})
_TYPE_NAME = type.__dict__["__name__"]


class _Opaque:
    """A value of a type no field takes (a list, a set, an object of the caller's), kept only
    as the name of its type, and its repr when it is a small container of plain scalars, so
    that a refusal can say what it was."""

    __slots__ = ("text", "type_name")

    def __init__(self, type_name: str, text: str = "") -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return self.text or f"<{self.type_name}>"


_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def _small_plain(value: object, budget: list[int]) -> bool:
    """Whether ``value`` is exact plain scalars in exact containers, at most 20 of them."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    kind = type(value)
    if kind in _SHOWN_TYPES:
        return kind is not int or cast(int, value).bit_length() <= 64
    if kind is dict:
        return all(
            _small_plain(k, budget) and _small_plain(v, budget)
            for k, v in cast(dict[object, object], value).items()
        )
    if kind in _CONTAINERS:
        return all(_small_plain(item, budget) for item in cast(list[object], value))
    return False


def _type_name(value: object) -> str:
    """The name of ``value``'s type, read without calling anything of the value's."""
    if type(value) is _Opaque:
        return value.type_name
    return str(_TYPE_NAME.__get__(type(value)))


def _shown(value: object) -> str:
    """``value`` for a message: its type, and the repr of a plain scalar, shortened."""
    name = _type_name(value)
    if type(value) is _Opaque and value.text:
        return f"{name} {value.text}"
    if type(value) not in _SHOWN_TYPES:
        return name
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return f"{name} {text if len(text) <= 60 else text[:57] + '...'}"


def _key_shown(key: str) -> str:
    """A key for a message: as is when it is a short name, else its repr, shortened."""
    if key.isidentifier() and key.isascii() and len(key) <= 40:
        return key
    text = repr(key)
    return text if len(text) <= 44 else text[:40] + "...'"


def plain_value(value: object) -> object:
    """``value`` as a plain value of an exact built-in type (see the comment above ``_Opaque``).

    Subclasses of str, int and float are copied by the base type's own method; numpy numbers
    become Python numbers; a datetime is rebuilt from its fields with a fixed-offset zone
    unless its zone is a standard one; anything else becomes an ``_Opaque`` placeholder.
    """
    kind = type(value)
    if kind in _PLAIN_TYPES or kind is _Opaque:
        return value
    if kind is datetime or issubclass(kind, datetime):
        return _plain_datetime(cast(datetime, value))
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, int):  # bool has no subclasses
        return int.__index__(cast(int, value))
    if issubclass(kind, float):
        return float.__float__(cast(float, value))
    if kind in _NUMPY_NUMBERS:
        return cast(np.generic, value).item()
    if issubclass(kind, date):
        return date(date.year.__get__(value), date.month.__get__(value), date.day.__get__(value))
    if kind in _CONTAINERS and _small_plain(value, [20]):
        text = repr(value)
        return _Opaque(_type_name(value), text if len(text) <= 60 else text[:57] + "...")
    return _Opaque(_type_name(value))


def _plain_datetime(value: datetime) -> datetime:
    fields = [
        getter.__get__(value)
        for getter in (
            date.year,
            date.month,
            date.day,
            datetime.hour,
            datetime.minute,
            datetime.second,
            datetime.microsecond,
        )
    ]
    naive = datetime(*fields, fold=datetime.fold.__get__(value))
    zone = datetime.tzinfo.__get__(value)
    if zone is None:
        return naive
    if type(zone) in _SAFE_ZONES:
        return naive.replace(tzinfo=zone)
    offset = zone.utcoffset(naive.replace(tzinfo=zone))  # the caller's zone: may raise
    if offset is None:
        return naive
    if type(offset) is not timedelta:
        raise TypeError("utcoffset() did not return a timedelta")
    return naive.replace(tzinfo=timezone(offset))


# ---- numbers ------------------------------------------------------------------------------------
# Text is read as a number only when it is plain ASCII decimal text: an optional sign, digits
# with at most one '.', and an optional exponent (1e-5). Python's float() and int() would also
# read "0_1" as 1, "1_0" as 10 and full-width or Arabic-Indic digits ("０.１", "٠.١").
_DECIMAL_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE
)  # "nan" and "inf" are read, to be refused as not finite
# Tickets, magic numbers and point counts: digits only (a trailing ".0" tolerated), read exactly
# (a float would round a ticket above 2**53).
_WHOLE_TEXT = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
NUMBER_TEXT_LIMIT = 40  # characters of a number given as text (2**64 has 20 digits)
_PLAIN_DECIMAL = "ASCII digits 0-9, an optional sign, at most one '.' and an optional exponent"


def _number_text(value: str) -> str:
    text = value.strip(" \t")
    if len(text) > NUMBER_TEXT_LIMIT:
        raise ValueError(
            f"expected a number, got a text of {len(text)} characters (at most {NUMBER_TEXT_LIMIT})"
        )
    return text


def _to_float(value: object, field: str) -> float:
    """Accept int, float, numpy numbers and plain decimal text; refuse bools, NaN, infinities."""
    value = plain_value(value)
    if type(value) is bool:
        raise ValueError(f"expected a number, got the bool {value!r}")
    if type(value) is str:
        text = _number_text(value)
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(
                f"expected a number as plain decimal text ({_PLAIN_DECIMAL}), "
                f"got the text {value!r}"
            )
        number = float(text)
    elif type(value) is float:
        number = value
    elif type(value) in (int, Fraction, Decimal):
        try:
            number = float(cast(int | Fraction | Decimal, value))
        except OverflowError:  # an int beyond float's range (10**400)
            raise ValueError(
                "must be a finite number, got an integer too large for a float"
            ) from None
    else:
        raise ValueError(f"expected a number, got {_shown(value)}")
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {number!r}")
    return number


def _to_int(value: object, field: str) -> int:
    """Accept ints, whole floats (10.0) and ASCII digit text; refuse bools and fractions."""
    value = plain_value(value)
    if type(value) is bool:
        raise ValueError(f"expected an integer, got the bool {value!r}")
    if type(value) is int:
        return value
    if type(value) is str:
        text = _number_text(value)
        if text.lstrip("+-").lower() in ("nan", "inf", "infinity"):
            raise ValueError(f"must be a finite number, got the text {value!r}")
        if not _WHOLE_TEXT.fullmatch(text):
            raise ValueError(
                f"expected a whole number as plain ASCII digits (0-9), got the text {value!r}"
            )
        return int(text.partition(".")[0])
    number = _to_float(value, field)
    if not number.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(number)


def price_problem(field: str, number: float) -> str | None:
    """What the order boundary says of ``number`` as the price field ``field``, or None: prices
    are finite, ``price`` and ``stoplimit`` above 0, ``sl`` and ``tp`` 0 (none) or above."""
    if not math.isfinite(number):
        return f"must be a finite number, got {number!r}"
    if field in ("price", "stoplimit") and number <= 0:
        return f"must be a price above 0, got {number!r}"
    if field in ("sl", "tp") and number < 0:
        return f"must be a price, or 0 for none; got {number!r}"
    return None


def _enum_value(value: object, names: Mapping[str, int], prefix: str, field: str) -> int:
    value = plain_value(value)
    if type(value) is str:
        key = value.strip().upper().removeprefix(prefix)
        if key in names:
            return names[key]
        allowed = ", ".join(f"{prefix}{name}" for name in names)
        raise ValueError(f"unknown value {value!r}; expected one of {allowed}")
    code = _to_int(value, field)
    if code not in names.values():
        allowed = ", ".join(f"{prefix}{name}={code}" for name, code in names.items())
        raise ValueError(f"unknown value {code}; expected one of {allowed}")
    return code


def datetime_to_server_epoch(moment: datetime, server_utc_offset_s: int = 0) -> int:
    """Convert a datetime to MT5 server-time seconds (naive = already server wall-clock time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return calendar.timegm(moment.timetuple())
    return int(moment.timestamp()) + server_utc_offset_s


class OrderParams(BaseModel):
    """The seed's ``send_order`` params, validated and normalised to MT5's types.

    Prices are in the symbol's quote currency (1.12345 on EURUSD), ``volume`` in lots, ``deviation``
    in points (10 points = 1 pip on a 5-digit quote). A level of 0 for ``sl``/``tp`` means none, as
    in MT5.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    backtest_toggle: bool
    symbol: str
    order_type: OrderTypeName
    volume: float | None = None
    price: float | None = None
    sl: float | None = None
    tp: float | None = None
    stoplimit: float | None = None
    deviation: int = 10
    magic: int = 123456
    comment: str = "MAS Order"
    type_time: int = mt5.ORDER_TIME_GTC
    expiration: int | None = None
    type_filling: int = mt5.ORDER_FILLING_FOK
    position: int | None = None
    position_by: int | None = None
    order: int | None = None

    _warnings: tuple[str, ...] = PrivateAttr(default=())

    # ---- field normalisation -------------------------------------------------------------
    @field_validator("backtest_toggle", mode="before")
    @classmethod
    def _bool(cls, value: object) -> bool:
        value = plain_value(value)
        if type(value) is not bool:
            raise ValueError(f"expected True or False, got {_shown(value)}")
        return value

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: object) -> str:
        value = plain_value(value)
        if type(value) is not str:
            raise ValueError(f"expected a symbol name (text), got {_shown(value)}")
        text = value.strip()
        if not text:
            raise ValueError("must not be empty")
        problem = text_problem(text)
        if problem:
            raise ValueError(problem)
        if utf16_length(text) > MT5_TEXT_LIMIT:
            raise ValueError(
                f"{text!r} is {utf16_length(text)} characters; MT5 accepts at most {MT5_TEXT_LIMIT}"
            )
        return str(text)

    @field_validator("order_type", mode="before")
    @classmethod
    def _order_type(cls, value: object) -> str:
        value = plain_value(value)
        if type(value) is int:
            if value in _TYPE_BY_CODE:
                return _TYPE_BY_CODE[value]
            raise ValueError(f"unknown MT5 order type code {value!r}")
        if type(value) is not str:
            raise ValueError(f"expected an order type name, got {_shown(value)}")
        text = str(value)
        name = text.strip().lower().removeprefix("order_type_").replace("-", "_").replace(" ", "_")
        if name not in ORDER_TYPES:
            close = difflib.get_close_matches(name, ORDER_TYPES, n=1) if len(name) <= 40 else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown order type {_shown(text).removeprefix('str ')}{hint} "
                f"(one of {', '.join(ORDER_TYPES)})"
            )
        return name

    @field_validator("volume", "price", "sl", "tp", "stoplimit", mode="before")
    @classmethod
    def _price_like(cls, value: object, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        field = info.field_name or ""
        number = _to_float(value, field)
        if field == "volume" and number <= 0:
            raise ValueError(f"must be more than 0 lots, got {number!r}")
        problem = price_problem(field, number)
        if problem:
            raise ValueError(problem)
        return number

    @field_validator("deviation", "magic", "position", "position_by", "order", mode="before")
    @classmethod
    def _unsigned(cls, value: object, info: ValidationInfo) -> int | None:
        if value is None and info.field_name in ("position", "position_by", "order"):
            return None
        number = _to_int(value, info.field_name or "")
        if number < 0 or number > _UINT64_MAX:
            shown = number if abs(number) < 2**70 else _shown(number)
            raise ValueError(f"must be between 0 and 2**64-1, got {shown}")
        if info.field_name in ("position", "position_by", "order") and number == 0:
            raise ValueError("must be a ticket above 0")
        return number

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value: object) -> str:
        value = plain_value(value)
        if type(value) is not str:
            raise ValueError(f"expected text, got {_shown(value)}")
        text = str(value)
        problem = text_problem(text)
        if problem:
            raise ValueError(problem)
        if utf16_length(text) > MT5_TEXT_LIMIT:
            raise ValueError(
                f"is {utf16_length(text)} characters; MT5 accepts at most {MT5_TEXT_LIMIT}"
            )
        return text

    @field_validator("type_time", mode="before")
    @classmethod
    def _type_time(cls, value: object) -> int:
        return _enum_value(value, TYPE_TIME_NAMES, "ORDER_TIME_", "type_time")

    @field_validator("type_filling", mode="before")
    @classmethod
    def _type_filling(cls, value: object) -> int:
        return _enum_value(value, TYPE_FILLING_NAMES, "ORDER_FILLING_", "type_filling")

    @field_validator("expiration", mode="before")
    @classmethod
    def _expiration(cls, value: object, info: ValidationInfo) -> int | None:
        if value is None:
            return None
        value = plain_value(value)
        offset = int((info.context or {}).get("server_utc_offset_s", 0))
        if type(value) is datetime:
            seconds = datetime_to_server_epoch(value, offset)
        elif type(value) is date:
            raise ValueError(f"expected a datetime with a time of day, got the date {value!r}")
        elif type(value) is str:
            text = str(value).strip()
            if len(text) > 64:
                raise ValueError(
                    f"expected a datetime or epoch seconds, got a text of {len(text)} characters"
                )
            if not text.isascii():
                raise ValueError(
                    "expected a datetime or epoch seconds as plain ASCII text, "
                    f"got the text {value!r}"
                )
            if text.isdigit():
                seconds = int(text)
            else:
                try:
                    seconds = datetime_to_server_epoch(datetime.fromisoformat(text), offset)
                except ValueError:
                    raise ValueError(
                        f"expected a datetime or epoch seconds, got the text {value!r}"
                    ) from None
        else:
            seconds = _to_int(value, "expiration")
        # MT5 keeps expiration as signed 64-bit server seconds (mt5_api.md 3.6, TradeRequest).
        if seconds <= 0:
            raise ValueError(
                f"must be a time after 1970, got {_shown(seconds).removeprefix('int ')}"
            )
        if seconds > _INT64_MAX:
            raise ValueError("must be a time MT5 can hold (seconds below 2**63)")
        return seconds

    # ---- rules across fields -------------------------------------------------------------
    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> OrderParams:
        self._check_rules(strict=bool((info.context or {}).get("strict", False)))
        return self

    def _check_rules(self, *, strict: bool) -> None:
        """The rules across fields; raise ValueError with one line per problem."""
        problems: list[str] = []
        warnings: list[str] = []
        kind = self.order_type
        self._check_targets(kind, problems)
        if kind in PLACING_TYPES and self.volume is None:
            problems.append("volume: required for a buy or sell order (lots, e.g. 0.1)")
        if kind in PENDING_TYPES and self.price is None:
            problems.append(f"price: required for a {kind} order (the level it waits for)")
        if kind in STOP_LIMIT_TYPES:
            self._check_stoplimit(kind, problems)
        elif self.stoplimit is not None:
            problems.append(
                "stoplimit: only buy_stop_limit and sell_stop_limit orders take a limit price"
            )
        self._check_stop_sides(kind, problems)
        self._check_time(kind, strict, problems, warnings)
        if problems:
            raise ValueError("\n".join(problems))
        self._warnings = tuple(warnings)

    def _check_targets(self, kind: str, problems: list[str]) -> None:
        if self.position_by is not None and self.position is None:
            problems.append("position_by: needs position, the ticket of the position to close")
        if kind == "close_by" and (self.position is None or self.position_by is None):
            problems.append("position_by: close_by needs both position and position_by tickets")
        if kind in ("modify", "cancel") and self.position_by is not None:
            # position_by makes the request a CLOSE_BY; a modify/cancel must never close positions.
            problems.append(f"position_by: a {kind} takes no position_by (close_by closes by one)")
        if kind == "modify" and (self.position is None) == (self.order is None):
            problems.append(
                "position: modify needs exactly one of position (to move SL/TP) or order "
                "(to change a pending order)"
            )
        if kind == "cancel" and self.order is None:
            problems.append("order: cancel needs the ticket of the pending order to delete")
        if kind in PENDING_TYPES and self.position is not None:
            problems.append(f"position: a {kind} order opens a new order; it cannot target one")
        if self.order is not None and kind not in ("modify", "cancel"):
            problems.append("order: only modify and cancel take a pending order ticket")
        if self.closes_position and (self.sl or self.tp):
            field = "sl" if self.sl else "tp"
            problems.append(f"{field}: an order that closes a position takes no SL/TP")

    def _check_stoplimit(self, kind: str, problems: list[str]) -> None:
        if self.stoplimit is None:
            problems.append(
                f"stoplimit: required for a {kind} order (the limit price placed on trigger)"
            )
        elif self.price is not None:
            if kind == "buy_stop_limit" and self.stoplimit > self.price:
                problems.append(
                    f"stoplimit: a buy_stop_limit's limit price {self.stoplimit} must be at or "
                    f"below its stop price {self.price}"
                )
            if kind == "sell_stop_limit" and self.stoplimit < self.price:
                problems.append(
                    f"stoplimit: a sell_stop_limit's limit price {self.stoplimit} must be at or "
                    f"above its stop price {self.price}"
                )

    def _check_stop_sides(self, kind: str, problems: list[str]) -> None:
        reference = self.stoplimit if kind in STOP_LIMIT_TYPES else self.price
        if kind not in PLACING_TYPES or reference is None or self.closes_position:
            return
        is_buy = kind in BUY_SIDE_TYPES
        entry = "limit price" if kind in STOP_LIMIT_TYPES else "price"
        if self.sl:
            if is_buy and self.sl >= reference:
                problems.append(
                    f"sl: a {kind}'s stop loss {self.sl} must be below its {entry} {reference}"
                )
            if not is_buy and self.sl <= reference:
                problems.append(
                    f"sl: a {kind}'s stop loss {self.sl} must be above its {entry} {reference}"
                )
        if self.tp:
            if is_buy and self.tp <= reference:
                problems.append(
                    f"tp: a {kind}'s take profit {self.tp} must be above its {entry} {reference}"
                )
            if not is_buy and self.tp >= reference:
                problems.append(
                    f"tp: a {kind}'s take profit {self.tp} must be below its {entry} {reference}"
                )

    def _check_time(
        self, kind: str, strict: bool, problems: list[str], warnings: list[str]
    ) -> None:
        specified = self.type_time in (mt5.ORDER_TIME_SPECIFIED, mt5.ORDER_TIME_SPECIFIED_DAY)
        if specified and self.expiration is None:
            name = "ORDER_TIME_SPECIFIED" if self.type_time == 2 else "ORDER_TIME_SPECIFIED_DAY"
            problems.append(f"expiration: required when type_time is {name}")
        # A modify that gives only a new expiration keeps the order's own type_time.
        keeps_type_time = kind == "modify" and "type_time" not in self.model_fields_set
        if not specified and self.expiration is not None and not keeps_type_time:
            name = "ORDER_TIME_GTC" if self.type_time == mt5.ORDER_TIME_GTC else "ORDER_TIME_DAY"
            message = (
                f"expiration: given with type_time {name}, which does not expire at a set time "
                "(MT5 keeps the value but never expires the order by it); use "
                "ORDER_TIME_SPECIFIED to make it expire"
            )
            (problems if strict else warnings).append(message)

    # ---- what the params mean ------------------------------------------------------------
    @property
    def warnings(self) -> tuple[str, ...]:
        """Notes on accepted-but-doubtful input (e.g. an expiration given with GTC)."""
        # Read from pydantic's private store directly: ``self._warnings`` goes through
        # ``__getattr__``, ten times slower, and this is read for every order sent.
        private = self.__pydantic_private__
        return tuple(private.get("_warnings", ())) if private else ()

    @property
    def is_market(self) -> bool:
        return self.order_type in MARKET_TYPES

    @property
    def is_pending(self) -> bool:
        return self.order_type in PENDING_TYPES

    @property
    def is_buy(self) -> bool:
        return self.order_type in BUY_SIDE_TYPES

    @property
    def closes_position(self) -> bool:
        """True for a buy/sell that targets ``position`` (close or reduce it)."""
        return self.order_type in MARKET_TYPES and self.position is not None

    @property
    def action(self) -> int:
        """The MT5 ``TRADE_ACTION_*`` these params call for."""
        kind = self.order_type
        if kind == "close_by" or self.position_by is not None:
            return mt5.TRADE_ACTION_CLOSE_BY
        if kind == "modify":
            return mt5.TRADE_ACTION_SLTP if self.position is not None else mt5.TRADE_ACTION_MODIFY
        if kind == "cancel":
            return mt5.TRADE_ACTION_REMOVE
        if kind in PENDING_TYPES:
            return mt5.TRADE_ACTION_PENDING
        return mt5.TRADE_ACTION_DEAL

    def to_mt5_request(self) -> dict[str, Any]:
        """Return the MT5 ``request`` dict, with MT5's types (float prices, int enums and epoch).

        Only the keys these params call for are present; MT5 reads missing keys as zero.
        """
        action = self.action
        request: dict[str, Any] = {"action": action, "symbol": self.symbol, "magic": self.magic}
        if action == mt5.TRADE_ACTION_DEAL:
            request.update(
                volume=float(self.volume or 0.0),
                type=ORDER_TYPE_CODE[self.order_type],
                deviation=self.deviation,
                type_filling=self.type_filling,
                type_time=self.type_time,
                comment=self.comment,
            )
            self._put(request, "price", "sl", "tp", "position")
        elif action == mt5.TRADE_ACTION_PENDING:
            request.update(
                volume=float(self.volume or 0.0),
                type=ORDER_TYPE_CODE[self.order_type],
                deviation=self.deviation,
                type_filling=self.type_filling,
                type_time=self.type_time,
                comment=self.comment,
            )
            self._put(request, "price", "stoplimit", "sl", "tp", "expiration")
        elif action == mt5.TRADE_ACTION_SLTP:
            request.update(position=self.position)
            self._put(request, "sl", "tp")
        elif action == mt5.TRADE_ACTION_MODIFY:
            request.update(order=self.order, type_time=self.type_time)
            self._put(request, "price", "stoplimit", "sl", "tp", "expiration")
        elif action == mt5.TRADE_ACTION_REMOVE:
            request.update(order=self.order)
        else:  # CLOSE_BY
            request.update(
                type=mt5.ORDER_TYPE_CLOSE_BY,
                position=self.position,
                position_by=self.position_by,
                comment=self.comment,
            )
        return request

    def _put(self, request: dict[str, Any], *fields: str) -> None:
        for field in fields:
            value = getattr(self, field)
            if value is not None:
                request[field] = (
                    float(value) if field in ("price", "stoplimit", "sl", "tp") else value
                )


# Names users reach for that the seed spells differently.
KEY_ALIASES = {
    "stop_loss": "sl",
    "stoploss": "sl",
    "take_profit": "tp",
    "takeprofit": "tp",
    "lots": "volume",
    "lot": "volume",
    "size": "volume",
    "type": "order_type",
    "side": "order_type",
    "filling": "type_filling",
    "expiry": "expiration",
    "expire": "expiration",
    "slippage": "deviation",
    "ticket": "position",
    "stop_limit": "stoplimit",
    "backtest": "backtest_toggle",
}


def _format_error(error: Mapping[str, Any]) -> list[str]:
    location = ".".join(str(part) for part in error.get("loc", ())) or "params"
    kind = error.get("type", "")
    if kind == "missing":
        return [f"{location}: required key is missing"]
    if kind == "extra_forbidden":
        if location in KEY_ALIASES:
            close = [KEY_ALIASES[location]]
        elif len(location) <= 40:
            close = difflib.get_close_matches(location, OrderParams.model_fields, n=1)
        else:
            close = []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [f"{_key_shown(location)}: unknown key{hint}"]
    if kind == "value_error":
        message = str(error["ctx"]["error"]) if "ctx" in error else error.get("msg", "")
        lines = [line for line in message.split("\n") if line]
        if location == "params":  # model-level rules already start with the field name
            return lines
        return [f"{location}: {line}" for line in lines]
    return [f"{location}: {error.get('msg', kind)}"]


# More keys than this cannot be a send_order dict (it has 17, and aliases): refused unread.
_MAX_KEYS = 64


def parse_order_params(
    raw: object, *, strict: bool = False, server_utc_offset_s: int = 0
) -> OrderParams:
    """Validate a send_order params dict; raise ``OrderParamsError`` naming every bad field.

    ``strict`` turns warnings (an expiration given with GTC) into errors. Nothing else is
    raised, whatever ``raw`` is: its keys and values are copied into plain built-in values
    (``plain_value``) before anything reads them, and an object that raises while it is being
    copied is refused, named by its key.
    """
    if type(raw) is OrderParams:
        return raw
    if type(raw) is dict:
        fields = _canonical_fields(raw)
        if fields is not None:
            return _from_canonical(fields, strict)
    try:
        plain = _plain_params(raw)
    except OrderParamsError:
        raise
    except Exception as unreadable:  # the caller's mapping raised while it was read
        raise OrderParamsError([f"params: could not be read ({_type_name(unreadable)})"]) from None
    try:
        return OrderParams.model_validate(
            plain, context={"strict": strict, "server_utc_offset_s": server_utc_offset_s}
        )
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_url=False):
            problems.extend(_format_error(error))
        raise OrderParamsError(problems) from None


def _from_canonical(fields: dict[str, Any], strict: bool) -> OrderParams:
    # A copy of a constructed model with the same keys: model_construct costs 3x more.
    keys = frozenset(fields)
    template = _TEMPLATES.get(keys)
    if template is None:
        template = OrderParams.model_construct(set(keys), **(_DEFAULT_FIELDS | fields))
        _TEMPLATES[keys] = template
    params = template.model_copy(update=fields)
    try:
        params._check_rules(strict=strict)
    except ValueError as exc:
        raise OrderParamsError(str(exc).split("\n")) from None
    return params


def _plain_params(raw: object) -> dict[str, object]:
    """``raw`` as a new dict of text keys and plain values, or the refusal naming bad keys.

    A dict (a subclass too) is read through dict's own methods, so that an overridden
    ``items``, ``keys``, ``get`` or ``__iter__`` never runs; another mapping is read once by its
    ``items()``.
    """
    kind = type(raw)
    if issubclass(kind, dict):
        items: list[tuple[object, object]] = list(dict.items(cast(dict[object, object], raw)))
    elif issubclass(kind, Mapping):
        items = list(cast(Mapping[object, object], raw).items())
    else:
        raise OrderParamsError([f"params: expected a dict, got {_type_name(raw)}"])
    if len(items) > _MAX_KEYS:
        raise OrderParamsError(
            [
                f"params: {len(items)} keys; a send_order dict has at most {len(OrderParams.model_fields)}"
            ]
        )
    plain: dict[str, object] = {}
    problems: list[str] = []
    for key, value in items:
        if type(key) is not str:
            if not issubclass(type(key), str):
                shown = _shown(key)  # "int 7": the key is its repr, "7"
                problems.append(f"{shown.partition(' ')[2] or shown}: keys must be text")
                continue
            key = str.__str__(key)
        if key in plain:  # two subclass keys with the same text
            problems.append(f"{_key_shown(key)}: given twice")
            continue
        try:
            plain[key] = plain_value(value)
        except Exception as error:  # the caller's object raised while it was read
            problems.append(f"{_key_shown(key)}: could not be read ({_type_name(error)})")
    if problems:
        raise OrderParamsError(problems)
    return plain


def _canonical_fields(raw: dict[Any, Any]) -> dict[str, Any] | None:
    """The fields of ``raw`` when each one already has the value validation would give it.

    Strategies emit such dicts thousands of times per backtest: for them the field validators
    would only copy values, so they are skipped (the rules across fields still run). Any other
    input returns None and goes through full validation, which also names the problems. A
    property test checks that both ways agree. Only exact types pass (a key is looked up only
    once it is known to be a str): nothing of a caller's object runs here.
    """
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if type(key) is not str:
            return None
        kind = _CANONICAL.get(key)
        if kind is None:
            return None
        if kind == "float":
            if type(value) is not float and type(value) is not np.float64:
                return None
            number = float(value)
            if not math.isfinite(number) or number < 0:
                return None
            if number == 0 and key not in ("sl", "tp"):
                return None
            fields[key] = number
        elif kind == "count":
            if type(value) is not int or not 0 <= value <= _UINT64_MAX:
                return None
            if value == 0 and key in ("position", "position_by", "order"):
                return None
            fields[key] = value
        elif kind == "text":
            if (
                type(value) is not str
                or not value.isascii()
                or not value.isprintable()
                or len(value) > MT5_TEXT_LIMIT
            ):
                return None
            if key == "symbol" and (not value or value != value.strip()):
                return None
            fields[key] = value
        elif kind == "order_type":
            if type(value) is not str or value not in ORDER_TYPES:
                return None
            fields[key] = value
        elif kind == "bool":
            if type(value) is not bool:
                return None
            fields[key] = value
        elif type(value) is not int or value not in kind:
            return None
        else:
            fields[key] = value
    if "backtest_toggle" not in fields or "symbol" not in fields or "order_type" not in fields:
        return None
    return fields


_CANONICAL: dict[str, Any] = {
    "backtest_toggle": "bool",
    "symbol": "text",
    "order_type": "order_type",
    "volume": "float",
    "price": "float",
    "sl": "float",
    "tp": "float",
    "stoplimit": "float",
    "deviation": "count",
    "magic": "count",
    "comment": "text",
    "type_time": frozenset(TYPE_TIME_NAMES.values()),
    "type_filling": frozenset(TYPE_FILLING_NAMES.values()),
    "position": "count",
    "position_by": "count",
    "order": "count",
}

_TEMPLATES: dict[frozenset[str], OrderParams] = {}  # per set of keys; at most 2**16 of them
_DEFAULT_FIELDS: dict[str, Any] = {
    name: field.default
    for name, field in OrderParams.model_fields.items()
    if not field.is_required()
}


# ---- preparing a request for a symbol (shared by the simulated route and the MT5 executor) --------
_SYMBOL_FILLING_FOK = 1
_SYMBOL_FILLING_IOC = 2
_FILLING_NAMES = {code: f"ORDER_FILLING_{name}" for name, code in TYPE_FILLING_NAMES.items()}


def allowed_fillings(symbol_info: Mapping[str, Any], *, pending: bool) -> list[int]:
    """Filling policies the symbol accepts, in order of preference (MT5 help, "Fill Policy")."""
    exemode = int(symbol_info.get("trade_exemode", mt5.SYMBOL_TRADE_EXECUTION_MARKET))
    if exemode in (mt5.SYMBOL_TRADE_EXECUTION_INSTANT, mt5.SYMBOL_TRADE_EXECUTION_REQUEST):
        return [mt5.ORDER_FILLING_FOK]
    flags = int(symbol_info.get("filling_mode", 0))
    allowed = []
    if flags & _SYMBOL_FILLING_FOK:
        allowed.append(mt5.ORDER_FILLING_FOK)
    if flags & _SYMBOL_FILLING_IOC:
        allowed.append(mt5.ORDER_FILLING_IOC)
    if pending or exemode == mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE:
        allowed.append(mt5.ORDER_FILLING_RETURN)
    return allowed


def snap_request_volume(volume: float, symbol_info: Mapping[str, Any]) -> float:
    """``volume`` on the symbol's step, or the refusal naming the symbol's limit it breaks."""
    step = float(symbol_info.get("volume_step") or 0.01)
    minimum = float(symbol_info.get("volume_min") or step)
    maximum = float(symbol_info.get("volume_max") or 0.0)
    name = symbol_info.get("name", "the symbol")
    if volume < minimum - 1e-9:
        raise OrderParamsError([f"volume: {volume} is below {name}'s minimum of {minimum} lots"])
    if maximum and volume > maximum + 1e-9:
        raise OrderParamsError([f"volume: {volume} is above {name}'s maximum of {maximum} lots"])
    snapped = snap_volume(volume, minimum, step)
    if snapped is None:
        raise OrderParamsError(
            [f"volume: {volume} is not a multiple of the symbol's volume step {step}"]
        )
    return snapped


def prepare_request(
    params: OrderParams,
    symbol_info: Mapping[str, Any],
    *,
    bid: float,
    ask: float,
    position: Mapping[str, Any] | None = None,
    order: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Complete ``params.to_mt5_request()`` for one symbol as a careful client does.

    Volumes are snapped to the symbol's step (float noise only; a real non-multiple is refused),
    prices rounded to its digits, a filling policy the symbol supports is chosen when the asked
    one is not, a market order carries the current quote as its price, and a modification keeps
    the levels it does not mention (MT5 would otherwise reset them to 0). ``position``/``order``
    are the targeted position's or pending order's fields (``_asdict()``), when there is one.
    Returns the request and the notes on what was changed.
    """
    request = params.to_mt5_request()
    notes = list(params.warnings)
    digits = int(symbol_info.get("digits", 5))
    action = request["action"]
    given = params.model_fields_set
    if "volume" in request and params.volume is not None:
        request["volume"] = snap_request_volume(params.volume, symbol_info)
    if action in (mt5.TRADE_ACTION_DEAL, mt5.TRADE_ACTION_PENDING):
        pending = action == mt5.TRADE_ACTION_PENDING
        allowed = allowed_fillings(symbol_info, pending=pending)
        asked = request["type_filling"]
        if asked not in allowed and allowed:
            # A pending order rests in the book: RETURN suits it best when the asked one is refused.
            choice = (
                mt5.ORDER_FILLING_RETURN
                if pending and mt5.ORDER_FILLING_RETURN in allowed
                else allowed[0]
            )
            request["type_filling"] = choice
            notes.append(
                f"type_filling: {_FILLING_NAMES[asked]} is not accepted for "
                f"{symbol_info.get('name', params.symbol)} (filling_mode "
                f"{symbol_info.get('filling_mode')}); sent {_FILLING_NAMES[choice]}"
            )
    if action == mt5.TRADE_ACTION_DEAL and "price" not in request:
        request["price"] = ask if params.is_buy else bid
    if action == mt5.TRADE_ACTION_SLTP and position is not None:
        request.setdefault("sl", float(position.get("sl", 0.0)))
        request.setdefault("tp", float(position.get("tp", 0.0)))
        request["symbol"] = position.get("symbol", request["symbol"])
    if action == mt5.TRADE_ACTION_MODIFY and order is not None:
        request.setdefault("price", float(order.get("price_open", 0.0)))
        request.setdefault("stoplimit", float(order.get("price_stoplimit", 0.0)))
        request.setdefault("sl", float(order.get("sl", 0.0)))
        request.setdefault("tp", float(order.get("tp", 0.0)))
        if "type_time" not in given:
            request["type_time"] = int(order.get("type_time", mt5.ORDER_TIME_GTC))
        if "expiration" not in given and order.get("time_expiration"):
            request["expiration"] = int(order["time_expiration"])
    for field in ("price", "stoplimit", "sl", "tp"):
        if field in request:
            request[field] = round_request_price(field, request[field], digits)
    return request, tuple(notes)


def check_request_price(field: str, price: float, digits: int) -> float:
    """``price`` for the request's ``field`` on the symbol's digits, or the refusal
    ``send_order`` gives: the field's own rule (``price_problem``), then the rounding
    (``round_request_price``). The backtest loop refuses the same prices (``loop.PREP_PRICE``)."""
    problem = price_problem(field, price)
    if problem:
        raise OrderParamsError([f"{field}: {problem}"])
    return round_request_price(field, price, digits)


def round_request_price(field: str, price: float, digits: int) -> float:
    """``price`` on the symbol's digits, refused when a real price would become 0."""
    rounded = round(float(price), digits)
    if price and not rounded:
        raise OrderParamsError(
            [
                f"{field}: {price} is 0 at the symbol's {digits} digits; give a real price, or 0 for none"
            ]
        )
    return rounded
