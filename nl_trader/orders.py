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
import numbers
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

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


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _to_float(value: object, field: str) -> float:
    """Accept int, float, numpy numbers and numeric strings; refuse bools, NaN and infinities."""
    if _is_bool(value):
        raise ValueError(f"expected a number, got the bool {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got the text {value!r}") from None
    elif isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range (10**400)
            raise ValueError(
                "must be a finite number, got an integer too large for a float"
            ) from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {number!r}")
    return number


def _to_int(value: object, field: str) -> int:
    """Accept ints, whole floats (10.0) and digit strings; refuse bools and fractions."""
    if _is_bool(value):
        raise ValueError(f"expected an integer, got the bool {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    number = _to_float(value, field)
    if not number.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(number)


def _enum_value(value: object, names: Mapping[str, int], prefix: str, field: str) -> int:
    if isinstance(value, str):
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
        if not isinstance(value, bool):
            raise ValueError(f"expected True or False, got {type(value).__name__} {value!r}")
        return value

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a symbol name (text), got {type(value).__name__} {value!r}")
        text = value.strip()
        if not text:
            raise ValueError("must not be empty")
        if utf16_length(text) > MT5_TEXT_LIMIT:
            raise ValueError(
                f"{text!r} is {utf16_length(text)} characters; MT5 accepts at most {MT5_TEXT_LIMIT}"
            )
        return text

    @field_validator("order_type", mode="before")
    @classmethod
    def _order_type(cls, value: object) -> str:
        if isinstance(value, numbers.Integral) and not _is_bool(value):
            if int(value) in _TYPE_BY_CODE:
                return _TYPE_BY_CODE[int(value)]
            raise ValueError(f"unknown MT5 order type code {value!r}")
        if not isinstance(value, str):
            raise ValueError(f"expected an order type name, got {type(value).__name__} {value!r}")
        name = value.strip().lower().removeprefix("order_type_").replace("-", "_").replace(" ", "_")
        if name not in ORDER_TYPES:
            close = difflib.get_close_matches(name, ORDER_TYPES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown order type {value!r}{hint} (one of {', '.join(ORDER_TYPES)})"
            )
        return name

    @field_validator("volume", "price", "sl", "tp", "stoplimit", mode="before")
    @classmethod
    def _price_like(cls, value: object, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        number = _to_float(value, info.field_name or "")
        if info.field_name == "volume" and number <= 0:
            raise ValueError(f"must be more than 0 lots, got {number!r}")
        if info.field_name in ("price", "stoplimit") and number <= 0:
            raise ValueError(f"must be a price above 0, got {number!r}")
        if info.field_name in ("sl", "tp") and number < 0:
            raise ValueError(f"must be a price, or 0 for none; got {number!r}")
        return number

    @field_validator("deviation", "magic", "position", "position_by", "order", mode="before")
    @classmethod
    def _unsigned(cls, value: object, info: ValidationInfo) -> int | None:
        if value is None and info.field_name in ("position", "position_by", "order"):
            return None
        number = _to_int(value, info.field_name or "")
        if number < 0 or number > _UINT64_MAX:
            raise ValueError(f"must be between 0 and 2**64-1, got {number}")
        if info.field_name in ("position", "position_by", "order") and number == 0:
            raise ValueError("must be a ticket above 0")
        return number

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__} {value!r}")
        if utf16_length(value) > MT5_TEXT_LIMIT:
            raise ValueError(
                f"is {utf16_length(value)} characters; MT5 accepts at most {MT5_TEXT_LIMIT}"
            )
        return value

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
        offset = int((info.context or {}).get("server_utc_offset_s", 0))
        if isinstance(value, datetime):
            seconds = datetime_to_server_epoch(value, offset)
        elif isinstance(value, date):
            raise ValueError(f"expected a datetime with a time of day, got the date {value!r}")
        elif isinstance(value, str) and value.strip().isdigit():
            seconds = int(value.strip())
        elif isinstance(value, str):
            try:
                seconds = datetime_to_server_epoch(datetime.fromisoformat(value.strip()), offset)
            except ValueError:
                raise ValueError(
                    f"expected a datetime or epoch seconds, got the text {value!r}"
                ) from None
        else:
            seconds = _to_int(value, "expiration")
        # MT5 keeps expiration as signed 64-bit server seconds (mt5_api.md 3.6, TradeRequest).
        if seconds <= 0:
            raise ValueError(f"must be a time after 1970, got {seconds}")
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
        close = (
            [KEY_ALIASES[location]]
            if location in KEY_ALIASES
            else difflib.get_close_matches(location, OrderParams.model_fields, n=1)
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [f"{location}: unknown key{hint}"]
    if kind == "value_error":
        message = str(error["ctx"]["error"]) if "ctx" in error else error.get("msg", "")
        lines = [line for line in message.split("\n") if line]
        if location == "params":  # model-level rules already start with the field name
            return lines
        return [f"{location}: {line}" for line in lines]
    return [f"{location}: {error.get('msg', kind)}"]


def parse_order_params(
    raw: object, *, strict: bool = False, server_utc_offset_s: int = 0
) -> OrderParams:
    """Validate a send_order params dict; raise ``OrderParamsError`` naming every bad field.

    ``strict`` turns warnings (an expiration given with GTC) into errors.
    """
    if isinstance(raw, OrderParams):
        return raw
    if not isinstance(raw, Mapping):
        raise OrderParamsError([f"params: expected a dict, got {type(raw).__name__}"])
    fields = _canonical_fields(raw)
    if fields is not None:
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
    bad_keys = [key for key in raw if not isinstance(key, str)]
    if bad_keys:
        raise OrderParamsError([f"{key!r}: keys must be text" for key in bad_keys])
    try:
        return OrderParams.model_validate(
            dict(raw),
            context={"strict": strict, "server_utc_offset_s": server_utc_offset_s},
        )
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_url=False):
            problems.extend(_format_error(error))
        raise OrderParamsError(problems) from None


def _canonical_fields(raw: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The fields of ``raw`` when each one already has the value validation would give it.

    Strategies emit such dicts thousands of times per backtest: for them the field validators
    would only copy values, so they are skipped (the rules across fields still run). Any other
    input returns None and goes through full validation, which also names the problems. A
    property test checks that both ways agree.
    """
    fields: dict[str, Any] = {}
    for key, value in raw.items():
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
            if type(value) is not str or not value.isascii() or len(value) > MT5_TEXT_LIMIT:
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
