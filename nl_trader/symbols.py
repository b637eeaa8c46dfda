"""Symbol specifications as MT5 gives them (``symbol_info()``), with defaults for the majors and XAUUSD.

Field names are MT5's own (``trade_contract_size``, ``volume_step``, ``trade_stops_level``, ...), so a
spec read from a terminal and a default spec are the same object. Broker suffixes are understood:
``symbol_spec("EURUSD.sml")`` is EURUSD's spec under the name the broker uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nl_trader import mt5
from nl_trader.errors import InvalidInputError
from nl_trader.numeric import snap_to_step

# MQL5 symbol bitmask flags that the MetaTrader5 package does not define (mt5_api.md 5.2).
SYMBOL_FILLING_FOK = 1
SYMBOL_FILLING_IOC = 2
SYMBOL_FILLING_BOC = 4
SYMBOL_EXPIRATION_GTC = 1
SYMBOL_EXPIRATION_DAY = 2
SYMBOL_EXPIRATION_SPECIFIED = 4
SYMBOL_EXPIRATION_SPECIFIED_DAY = 8
SYMBOL_ORDER_MARKET = 1
SYMBOL_ORDER_LIMIT = 2
SYMBOL_ORDER_STOP = 4
SYMBOL_ORDER_STOP_LIMIT = 8
SYMBOL_ORDER_SL = 16
SYMBOL_ORDER_TP = 32
SYMBOL_ORDER_CLOSEBY = 64


class SymbolSpec(BaseModel):
    """The trading properties of one symbol, in MT5's names and units.

    ``trade_stops_level`` and ``spread_points`` are in points (``point`` = 10**-digits: 0.00001 on
    EURUSD). ``swap_long``/``swap_short`` are in points per lot per night for ``swap_mode`` POINTS.
    ``commission_per_lot`` is the broker's commission per lot and side in account currency (MT5 keeps
    it in the group settings, not on the symbol).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    path: str = ""
    currency_base: str
    currency_profit: str
    currency_margin: str
    digits: int = Field(ge=0, le=10)
    pip_size: float = Field(gt=0)
    trade_contract_size: float = Field(gt=0)
    volume_min: float = Field(default=0.01, gt=0)
    volume_max: float = Field(default=100.0, gt=0)
    volume_step: float = Field(default=0.01, gt=0)
    volume_limit: float = Field(default=0.0, ge=0)
    trade_stops_level: int = Field(default=0, ge=0)
    trade_freeze_level: int = Field(default=0, ge=0)
    trade_calc_mode: int = mt5.SYMBOL_CALC_MODE_FOREX
    trade_mode: int = mt5.SYMBOL_TRADE_MODE_FULL
    trade_exemode: int = mt5.SYMBOL_TRADE_EXECUTION_MARKET
    filling_mode: int = SYMBOL_FILLING_FOK | SYMBOL_FILLING_IOC
    expiration_mode: int = (
        SYMBOL_EXPIRATION_GTC
        | SYMBOL_EXPIRATION_DAY
        | SYMBOL_EXPIRATION_SPECIFIED
        | SYMBOL_EXPIRATION_SPECIFIED_DAY
    )
    order_mode: int = 127
    order_gtc_mode: int = mt5.SYMBOL_ORDERS_GTC
    swap_mode: int = mt5.SYMBOL_SWAP_MODE_POINTS
    swap_long: float = 0.0
    swap_short: float = 0.0
    swap_rollover3days: int = mt5.DAY_OF_WEEK_WEDNESDAY
    margin_initial: float = 0.0
    margin_hedged: float = 0.0
    spread_points: int = Field(default=10, ge=0)
    commission_per_lot: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _check_volumes(self) -> SymbolSpec:
        if self.volume_min > self.volume_max:
            raise ValueError(f"volume_min: {self.volume_min} is above volume_max {self.volume_max}")
        return self

    @property
    def point(self) -> float:
        """Smallest price change: 0.00001 on a 5-digit EURUSD quote."""
        return 10.0**-self.digits

    @property
    def trade_tick_size(self) -> float:
        return self.point

    def round_price(self, price: float) -> float:
        """Round a price to the symbol's digits."""
        return round(price, self.digits)

    def with_name(self, name: str) -> SymbolSpec:
        return self.model_copy(update={"name": name})

    def as_symbol_info(
        self, *, bid: float = 0.0, ask: float = 0.0, time_s: int = 0
    ) -> dict[str, Any]:
        """Return the fields an MT5 ``SymbolInfo`` carries, as ``symbol_info()._asdict()`` would."""
        spread = round((ask - bid) / self.point) if bid and ask else self.spread_points
        return {
            "custom": False,
            "chart_mode": mt5.SYMBOL_CHART_MODE_BID,
            "select": True,
            "visible": True,
            "time": int(time_s),
            "digits": self.digits,
            "spread": int(spread),
            "spread_float": True,
            "trade_calc_mode": self.trade_calc_mode,
            "trade_mode": self.trade_mode,
            "trade_stops_level": self.trade_stops_level,
            "trade_freeze_level": self.trade_freeze_level,
            "trade_exemode": self.trade_exemode,
            "swap_mode": self.swap_mode,
            "swap_rollover3days": self.swap_rollover3days,
            "expiration_mode": self.expiration_mode,
            "filling_mode": self.filling_mode,
            "order_mode": self.order_mode,
            "order_gtc_mode": self.order_gtc_mode,
            "bid": float(bid),
            "ask": float(ask),
            "point": self.point,
            "trade_tick_size": self.trade_tick_size,
            "trade_contract_size": self.trade_contract_size,
            "volume_min": self.volume_min,
            "volume_max": self.volume_max,
            "volume_step": self.volume_step,
            "volume_limit": self.volume_limit,
            "swap_long": self.swap_long,
            "swap_short": self.swap_short,
            "margin_initial": self.margin_initial,
            "margin_hedged": self.margin_hedged,
            "currency_base": self.currency_base,
            "currency_profit": self.currency_profit,
            "currency_margin": self.currency_margin,
            "description": self.description,
            "name": self.name,
            "path": self.path,
        }


def spec_from_symbol_info(
    info: Mapping[str, Any], *, pip_size: float | None = None, commission_per_lot: float = 0.0
) -> SymbolSpec:
    """A SymbolSpec from a terminal's ``symbol_info(name)._asdict()``.

    MT5 has no pip: it is taken as 10 points on 3- and 5-digit quotes, 0.1 on gold-like 2-digit
    metals, else one point, unless ``pip_size`` is given. Commission is not a symbol property in
    MT5 (it lives in the account's group): pass the broker's.
    """
    missing = [key for key in ("name", "digits", "trade_contract_size") if key not in info]
    if missing:
        raise InvalidInputError([f"symbol_info: missing {key}" for key in missing], what="symbol")
    digits = int(info["digits"])
    name = str(info["name"])
    if pip_size is None:
        if digits in (3, 5):
            pip_size = 10.0 ** -(digits - 1)
        elif name.upper().startswith(("XAU", "XAG")):
            pip_size = 0.1 if digits <= 2 else 10.0 ** -(digits - 1)
        else:
            pip_size = 10.0**-digits
    fields = set(SymbolSpec.model_fields) - {"pip_size", "commission_per_lot", "spread_points"}
    data = {key: info[key] for key in fields if key in info}
    spread = int(info.get("spread", 0) or 0)
    try:
        return SymbolSpec.model_validate(
            {
                **data,
                "pip_size": pip_size,
                "commission_per_lot": commission_per_lot,
                "spread_points": max(spread, 0),
            }
        )
    except ValidationError as error:
        problems = [
            f"symbol_info.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
        ]
        raise InvalidInputError(problems, what="symbol") from None


def _forex(
    name: str,
    description: str,
    *,
    digits: int = 5,
    swap_long: float,
    swap_short: float,
    spread_points: int,
) -> SymbolSpec:
    base, quote = name[:3], name[3:]
    return SymbolSpec(
        name=name,
        description=description,
        path=f"Forex\\{name}",
        currency_base=base,
        currency_profit=quote,
        currency_margin=base,
        digits=digits,
        pip_size=10.0 ** -(digits - 1),
        trade_contract_size=100_000.0,
        swap_long=swap_long,
        swap_short=swap_short,
        margin_hedged=50_000.0,
        spread_points=spread_points,
    )


DEFAULT_SYMBOLS: dict[str, SymbolSpec] = {
    spec.name: spec
    for spec in (
        _forex("EURUSD", "Euro vs US Dollar", swap_long=-7.2, swap_short=2.1, spread_points=8),
        _forex(
            "GBPUSD",
            "Great Britain Pound vs US Dollar",
            swap_long=-4.1,
            swap_short=-1.2,
            spread_points=10,
        ),
        _forex(
            "USDJPY",
            "US Dollar vs Japanese Yen",
            digits=3,
            swap_long=14.5,
            swap_short=-26.3,
            spread_points=9,
        ),
        _forex(
            "USDCHF", "US Dollar vs Swiss Franc", swap_long=6.5, swap_short=-14.0, spread_points=12
        ),
        _forex(
            "USDCAD",
            "US Dollar vs Canadian Dollar",
            swap_long=1.2,
            swap_short=-8.9,
            spread_points=13,
        ),
        _forex(
            "AUDUSD",
            "Australian Dollar vs US Dollar",
            swap_long=-3.9,
            swap_short=-0.6,
            spread_points=9,
        ),
        _forex(
            "NZDUSD",
            "New Zealand Dollar vs US Dollar",
            swap_long=-2.8,
            swap_short=-1.1,
            spread_points=14,
        ),
        _forex(
            "EURGBP",
            "Euro vs Great Britain Pound",
            swap_long=-6.0,
            swap_short=1.3,
            spread_points=12,
        ),
        _forex(
            "EURJPY",
            "Euro vs Japanese Yen",
            digits=3,
            swap_long=5.1,
            swap_short=-17.5,
            spread_points=15,
        ),
        _forex(
            "GBPJPY",
            "Great Britain Pound vs Japanese Yen",
            digits=3,
            swap_long=9.6,
            swap_short=-31.0,
            spread_points=22,
        ),
        SymbolSpec(
            name="XAUUSD",
            description="Gold vs US Dollar",
            path="Metals\\XAUUSD",
            currency_base="XAU",
            currency_profit="USD",
            currency_margin="XAU",
            digits=2,
            pip_size=0.1,
            trade_contract_size=100.0,
            swap_long=-45.0,
            swap_short=18.0,
            margin_hedged=50.0,
            spread_points=25,
        ),
    )
}

# Where each symbol's price has traded since 2000 (bid), rounded outwards: a file whose prices lie
# far outside holds another symbol's quotes (data.checks.symbol_fit).
PRICE_RANGES: dict[str, tuple[float, float]] = {
    "EURUSD": (0.82, 1.60),
    "GBPUSD": (1.03, 2.12),
    "USDJPY": (75.0, 162.0),
    "USDCHF": (0.70, 1.83),
    "USDCAD": (0.91, 1.62),
    "AUDUSD": (0.47, 1.11),
    "NZDUSD": (0.39, 0.89),
    "EURGBP": (0.56, 0.98),
    "EURJPY": (88.0, 176.0),
    "GBPJPY": (116.0, 252.0),
    "XAUUSD": (250.0, 4500.0),
}

_SUFFIXED = re.compile(r"^(?P<core>[A-Z]{6})(?P<suffix>[^A-Z].*|[a-z].*|)$")


def distance_limit(name: str) -> tuple[float, float] | None:
    """``(limit_pips, lowest_price)`` for ``name``: the symbol's lowest price since 2000
    (``PRICE_RANGES``) and that price in pips. A stop, target or offset this far from a price
    would put a long's stop at or below zero had it been placed at that low, so a distance must
    stay below ``limit_pips``: 8,200 pips on EURUSD, 7,500 on USDJPY, 2,500 on XAUUSD. None for
    a symbol without a default specification (broker suffixes are understood)."""
    core = core_symbol(name) if isinstance(name, str) and name else None
    if core is None or core not in PRICE_RANGES:
        return None
    lowest = PRICE_RANGES[core][0]
    return round(lowest / DEFAULT_SYMBOLS[core].pip_size, 6), lowest


def symbol_spec(name: str, overrides: dict[str, Any] | None = None) -> SymbolSpec:
    """Return the default spec for ``name``, understanding broker suffixes (``EURUSD.sml``, ``EURUSDm``).

    ``overrides`` replaces fields (``{"trade_stops_level": 20}``); an unknown symbol or field is an
    ``InvalidInputError`` naming it.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError([f"symbol: expected a symbol name, got {name!r}"], what="symbol")
    spec = DEFAULT_SYMBOLS.get(name)
    if spec is None:
        match = _SUFFIXED.match(name)
        core = match.group("core") if match else name.upper()
        base = DEFAULT_SYMBOLS.get(core)
        if base is None:
            known = ", ".join(sorted(DEFAULT_SYMBOLS))
            raise InvalidInputError(
                [
                    f"symbol: no specification for {name!r} (defaults exist for {known}); "
                    "pass one or read it from the terminal"
                ],
                what="symbol",
            )
        spec = base.with_name(name)
    if overrides:
        unknown = sorted(set(overrides) - set(SymbolSpec.model_fields))
        if unknown:
            raise InvalidInputError(
                [f"{key}: not a symbol property" for key in unknown], what="symbol spec"
            )
        spec = SymbolSpec.model_validate({**spec.model_dump(), **overrides})
    return spec


def snap_volume(volume: float, spec_min: float, spec_step: float) -> float | None:
    """Snap a volume that is a multiple of the step up to float noise; None if it is not one
    (the rule the simulated broker applies: ``numeric.snap_to_step``)."""
    snapped = snap_to_step(float(volume), float(spec_min), float(spec_step))
    return None if math.isnan(snapped) else float(snapped)


def core_symbol(name: str) -> str | None:
    """The default symbol a broker's name stands for (``EURUSD`` for ``EURUSD.sml``), or None."""
    if name in DEFAULT_SYMBOLS:
        return name
    match = _SUFFIXED.match(name)
    core = match.group("core") if match else name.upper()
    return core if core in DEFAULT_SYMBOLS else None


def conversion_pairs(symbol: str, account_currency: str) -> tuple[str, ...]:
    """The pairs whose quotes turn ``symbol``'s profit and margin into ``account_currency``.

    GBPJPY on a USD account needs GBPUSD (its margin, in pounds) and USDJPY (its profit, in yen);
    EURUSD needs none. Only pairs with a default specification are named; a currency none of them
    converts is left to ``fallback_rates``.
    """
    info = symbol_spec(symbol)
    pairs: list[str] = []
    for currency in dict.fromkeys((info.currency_margin, info.currency_profit)):
        if currency == account_currency:
            continue
        for pair in (f"{currency}{account_currency}", f"{account_currency}{currency}"):
            if pair in DEFAULT_SYMBOLS and pair != info.name and pair not in pairs:
                pairs.append(pair)
                break
    return tuple(pairs)
