"""Result types of the MetaTrader5 package, reproduced: struct sequences with ``_asdict()``.

The real package returns C ``PyStructSequence`` records (like ``os.stat_result``): tuples with named
attributes, a ``repr`` like ``Tick(time=..., bid=...)``, an ``_asdict()`` the module adds (not
recursive), and no ``_fields``/``_replace``/``_make``. Field names and order are those of 5.0.6231
(mt5_api.md section 3); missing values default to the zero of the field's type, as the terminal's
zero-initialised C structs do.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np


class StructSequence(tuple):  # type: ignore[type-arg]
    """A tuple with named fields, as CPython's struct sequences are."""

    __slots__ = ()
    _field_names: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[tuple[Any, ...]] = ()
    _converters: ClassVar[tuple[Any, ...]] = ()
    n_fields: ClassVar[int] = 0
    n_sequence_fields: ClassVar[int] = 0
    n_unnamed_fields: ClassVar[int] = 0

    def __new__(cls, values: Any = None, **fields: Any) -> StructSequence:
        if values is not None and not fields:
            items = tuple(values)
            if len(items) != cls.n_fields:
                raise TypeError(
                    f"{cls.__name__}() takes a {cls.n_fields}-sequence ({len(items)}-sequence given)"
                )
            return super().__new__(cls, cls._convert(items))
        unknown = set(fields) - set(cls._field_names)
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
        return super().__new__(
            cls,
            cls._convert(
                fields.get(name, default)
                for name, default in zip(cls._field_names, cls._defaults, strict=True)
            ),
        )

    @classmethod
    def _convert(cls, values: Any) -> tuple[Any, ...]:
        # The C layer builds plain int/float/str/bool objects (PyLong_From*, PyFloat_FromDouble),
        # never numpy scalars, whatever the fake's broker computed with.
        return tuple(
            value if convert is None else convert(value)
            for convert, value in zip(cls._converters, values, strict=True)
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StructSequence:
        return cls(**{name: data[name] for name in cls._field_names if name in data})

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._field_names, self, strict=True))

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._field_names, self, strict=True)
        )
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> Any:
        # Real struct sequences of the package cannot be pickled (their class lookup fails).
        import pickle

        raise pickle.PicklingError(f"Can't pickle {type(self).__name__}: attribute lookup failed")


_ZERO = {"u32": 0, "i32": 0, "u64": 0, "i64": 0, "f64": 0.0, "str": "", "bool": False, "req": None}
_CONVERTERS = {
    "u32": int,
    "i32": int,
    "u64": int,
    "i64": int,
    "f64": float,
    "str": str,
    "bool": bool,
}


def _struct(name: str, spec: str) -> type[StructSequence]:
    fields = [item.strip().split(":") for item in spec.split(",")]
    names = tuple(field for field, _ in fields)
    defaults = tuple(_ZERO[kind] for _, kind in fields)
    namespace: dict[str, Any] = {
        "__slots__": (),
        "_field_names": names,
        "_defaults": defaults,
        "_converters": tuple(_CONVERTERS.get(kind) for _, kind in fields),
        "n_fields": len(names),
        "n_sequence_fields": len(names),
        "__match_args__": names,
    }
    for index, field in enumerate(names):
        namespace[field] = property(operator.itemgetter(index))
    return type(name, (StructSequence,), namespace)


AccountInfo = _struct(
    "AccountInfo",
    "login:u64, trade_mode:u32, leverage:u32, limit_orders:u32, margin_so_mode:u32, "
    "trade_allowed:bool, trade_expert:bool, margin_mode:u32, currency_digits:u32, "
    "fifo_close:bool, balance:f64, credit:f64, profit:f64, equity:f64, margin:f64, "
    "margin_free:f64, margin_level:f64, margin_so_call:f64, margin_so_so:f64, "
    "margin_initial:f64, margin_maintenance:f64, assets:f64, liabilities:f64, "
    "commission_blocked:f64, name:str, server:str, currency:str, company:str",
)
TerminalInfo = _struct(
    "TerminalInfo",
    "community_account:bool, community_connection:bool, connected:bool, dlls_allowed:bool, "
    "trade_allowed:bool, tradeapi_disabled:bool, email_enabled:bool, ftp_enabled:bool, "
    "notifications_enabled:bool, mqid:bool, build:u32, maxbars:u32, codepage:i32, "
    "ping_last:i32, community_balance:f64, retransmission:f64, company:str, name:str, "
    "language:str, path:str, data_path:str, commondata_path:str",
)
SymbolInfo = _struct(
    "SymbolInfo",
    "custom:bool, chart_mode:u32, select:bool, visible:bool, session_deals:u64, "
    "session_buy_orders:u64, session_sell_orders:u64, volume:u64, volumehigh:u64, "
    "volumelow:u64, time:i64, digits:u32, spread:i32, spread_float:bool, ticks_bookdepth:u32, "
    "trade_calc_mode:u32, trade_mode:u32, start_time:i64, expiration_time:i64, "
    "trade_stops_level:i32, trade_freeze_level:i32, trade_exemode:u32, swap_mode:u32, "
    "swap_rollover3days:u32, margin_hedged_use_leg:bool, expiration_mode:i32, "
    "filling_mode:i32, order_mode:i32, order_gtc_mode:u32, option_mode:u32, option_right:u32, "
    "bid:f64, bidhigh:f64, bidlow:f64, ask:f64, askhigh:f64, asklow:f64, last:f64, "
    "lasthigh:f64, lastlow:f64, volume_real:f64, volumehigh_real:f64, volumelow_real:f64, "
    "option_strike:f64, point:f64, trade_tick_value:f64, trade_tick_value_profit:f64, "
    "trade_tick_value_loss:f64, trade_tick_size:f64, trade_contract_size:f64, "
    "trade_accrued_interest:f64, trade_face_value:f64, trade_liquidity_rate:f64, "
    "volume_min:f64, volume_max:f64, volume_step:f64, volume_limit:f64, swap_long:f64, "
    "swap_short:f64, margin_initial:f64, margin_maintenance:f64, session_volume:f64, "
    "session_turnover:f64, session_interest:f64, session_buy_orders_volume:f64, "
    "session_sell_orders_volume:f64, session_open:f64, session_close:f64, session_aw:f64, "
    "session_price_settlement:f64, session_price_limit_min:f64, session_price_limit_max:f64, "
    "margin_hedged:f64, price_change:f64, price_volatility:f64, price_theoretical:f64, "
    "price_greeks_delta:f64, price_greeks_theta:f64, price_greeks_gamma:f64, "
    "price_greeks_vega:f64, price_greeks_rho:f64, price_greeks_omega:f64, "
    "price_sensitivity:f64, basis:str, category:str, currency_base:str, currency_profit:str, "
    "currency_margin:str, bank:str, description:str, exchange:str, formula:str, isin:str, "
    "name:str, page:str, path:str",
)
Tick = _struct(
    "Tick",
    "time:i64, bid:f64, ask:f64, last:f64, volume:u64, time_msc:i64, flags:u32, volume_real:f64",
)
BookInfo = _struct("BookInfo", "type:u32, price:f64, volume:u64, volume_dbl:f64")
TradeRequest = _struct(
    "TradeRequest",
    "action:u32, magic:u64, order:u64, symbol:str, volume:f64, price:f64, stoplimit:f64, "
    "sl:f64, tp:f64, deviation:u64, type:u32, type_filling:u32, type_time:u32, "
    "expiration:i64, comment:str, position:u64, position_by:u64",
)
OrderSendResult = _struct(
    "OrderSendResult",
    "retcode:u32, deal:u64, order:u64, volume:f64, price:f64, bid:f64, ask:f64, comment:str, "
    "request_id:u32, retcode_external:i32, request:req",
)
OrderCheckResult = _struct(
    "OrderCheckResult",
    "retcode:u32, balance:f64, equity:f64, profit:f64, margin:f64, margin_free:f64, "
    "margin_level:f64, comment:str, request:req",
)
TradePosition = _struct(
    "TradePosition",
    "ticket:u64, time:i64, time_msc:i64, time_update:i64, time_update_msc:i64, type:u32, "
    "magic:u64, identifier:u64, reason:u32, volume:f64, price_open:f64, sl:f64, tp:f64, "
    "price_current:f64, swap:f64, profit:f64, symbol:str, comment:str, external_id:str",
)
TradeOrder = _struct(
    "TradeOrder",
    "ticket:u64, time_setup:i64, time_setup_msc:i64, time_done:i64, time_done_msc:i64, "
    "time_expiration:i64, type:u32, type_time:u32, type_filling:u32, state:u32, magic:u64, "
    "position_id:u64, position_by_id:u64, reason:u32, volume_initial:f64, volume_current:f64, "
    "price_open:f64, sl:f64, tp:f64, price_current:f64, price_stoplimit:f64, symbol:str, "
    "comment:str, external_id:str",
)
TradeDeal = _struct(
    "TradeDeal",
    "ticket:u64, order:u64, time:i64, time_msc:i64, type:u32, entry:u32, magic:u64, "
    "position_id:u64, reason:u32, volume:f64, price:f64, commission:f64, swap:f64, "
    "profit:f64, fee:f64, symbol:str, comment:str, external_id:str",
)

RATES_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)
TICKS_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<u8"),
        ("time_msc", "<i8"),
        ("flags", "<u4"),
        ("volume_real", "<f8"),
    ]
)


def read_only(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only, as the package's copy_* results are."""
    array.flags.writeable = False
    return array
