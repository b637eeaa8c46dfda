"""StrategySpec: the validated, declarative strategy object. Data, never code.

The LLM writes one, the backtester runs it, the live executor trades it, and a person approves it by
its hash. Every part is a frozen pydantic model with extra keys forbidden; ``parse_spec`` adds the
semantic checks (references resolve, rules do not contradict, a stop loss exists unless waived,
sizing is possible) and reports each problem as ``path: problem`` so that a person, or the LLM in
its ask-again loop, can act on it.

Units are in the names: ``offset_pips``, ``risk_pct``, ``lots``, ``max_spread_pips``. A pip is the
symbol's pip (0.0001 on EURUSD, 0.01 on USDJPY, 0.1 on XAUUSD).

Times of day and weekdays are read on the trade server's clock (``"server"``, the zone every
``timezone`` defaults to: the run's, see ``backtest.engine``; a live account's) unless a field
names an IANA zone (``"Europe/London"``, ``"UTC"``).

Series are named by text: a price field (``close``, ``open``, ``high``, ``low``, ``typical``,
``median``), an indicator id (``fast``), or an indicator output (``macd.signal``, ``bb.lower``).
An operand is a number, such a name, or a ``Ref`` with ``bars_ago`` and a pips or ATR offset.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nl_trader.errors import InvalidInputError
from nl_trader.orders import MT5_TEXT_LIMIT, text_problem, utf16_length
from nl_trader.strategy.indicators import PRICE_FIELDS, REGISTRY
from nl_trader.symbols import distance_limit

SCHEMA_VERSION = 1
TIMEFRAMES = (
    "M1", "M2", "M3", "M4", "M5", "M6", "M10", "M12", "M15", "M20", "M30",
    "H1", "H2", "H3", "H4", "H6", "H8", "H12", "D1", "W1", "MN1",
)  # fmt: skip
Timeframe = Literal[
    "M1", "M2", "M3", "M4", "M5", "M6", "M10", "M12", "M15", "M20", "M30",
    "H1", "H2", "H3", "H4", "H6", "H8", "H12", "D1", "W1", "MN1",
]  # fmt: skip
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
SERVER_CLOCK = "server"  # a timezone meaning the trade server's clock
MAX_LOTS = 100.0
MAX_RISK_PCT = 10.0
# Distances: no field takes more pips than this, whatever the symbol (100,000 pips is 10.0 on
# EURUSD); ``symbols.distance_limit`` bounds them by each known symbol's prices, far tighter.
MAX_DISTANCE_PIPS = 100_000.0
MAX_ATR_MULTIPLE = 100.0  # stops, targets, trails and offsets in ATRs
MAX_RISK_REWARD = 100.0  # a target at most 100 times the stop's distance
MAX_PERCENT = 50.0  # a stop or target 50 % away from the price is not one
# Limits on a spec's form, checked on the raw input before any validation, so that a huge or
# hostile spec is refused in time proportional to its size (pydantic and the semantic checks
# recurse and compare, and would take minutes and gigabytes on 20,000 indicators).
MAX_SPEC_BYTES = 256 * 1024  # JSON text of a spec (the examples are under 2 KB)
MAX_NESTING_DEPTH = 32  # objects and arrays inside one another (an all/any level takes two)
MAX_VALUES = 5_000  # JSON values in all: objects, arrays, texts, numbers, true/false, null
MAX_INDICATORS = 64
MAX_CONDITIONS = 64  # in one all/any
MAX_NUMBER_DIGITS = 40  # digits of one number (a float needs 17)
MAX_TEXT_CHARS = 2_000  # one text (the description's own limit; names are far shorter)
MAX_KEY_CHARS = 64  # one key of an object (the longest field name has 20)
_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class SpecError(InvalidInputError):
    """A strategy spec that cannot be used; ``problems`` lists ``path: problem`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, what="strategy spec")


class _Model(BaseModel):
    # No NaN or infinity anywhere: JSON has no such numbers, and a NaN level never compares true.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# ---- operands ------------------------------------------------------------------------------------
class Ref(_Model):
    """A series value: ``series`` at ``bars_ago`` bars back, shifted by pips or by ATR multiples.

    ``{"series": "close", "offset_pips": 10}`` is the close plus 10 pips;
    ``{"series": "bb.lower", "offset_atr": -0.5, "atr": "atr14"}`` is the lower band minus half an
    ATR (``atr`` names an ATR indicator of the spec).
    """

    series: str
    bars_ago: int = Field(default=0, ge=0, le=1000)
    offset_pips: float = Field(default=0.0, ge=-MAX_DISTANCE_PIPS, le=MAX_DISTANCE_PIPS)
    offset_atr: float = Field(default=0.0, ge=-MAX_ATR_MULTIPLE, le=MAX_ATR_MULTIPLE)
    atr: str | None = None

    @field_validator("series")
    @classmethod
    def _series(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("must name a price field or an indicator")
        return text


def _operand(value: object) -> object:
    if isinstance(value, str):
        return Ref(series=value)
    if isinstance(value, bool):
        raise ValueError("expected a number or a series name, got a bool")
    return value


# A name is accepted wherever a Ref is: the JSON Schema must say so too.
Operand = Annotated[
    float | Ref, BeforeValidator(_operand, json_schema_input_type=float | str | Ref)
]
SeriesRef = Annotated[Ref, BeforeValidator(_operand, json_schema_input_type=str | Ref)]


# ---- conditions ----------------------------------------------------------------------------------
class CrossesAbove(_Model):
    """``left`` closes above ``right`` on this bar after being at or below it on the previous one."""

    op: Literal["crosses_above"]
    left: Operand
    right: Operand


class CrossesBelow(_Model):
    """``left`` closes below ``right`` on this bar after being at or above it on the previous one."""

    op: Literal["crosses_below"]
    left: Operand
    right: Operand


class Greater(_Model):
    op: Literal["gt"]
    left: Operand
    right: Operand


class Less(_Model):
    op: Literal["lt"]
    left: Operand
    right: Operand


class Between(_Model):
    """``low <= value <= high``."""

    op: Literal["between"]
    value: Operand
    low: Operand
    high: Operand


class Rising(_Model):
    """``series`` rose on each of the last ``bars`` bars."""

    op: Literal["rising"]
    series: SeriesRef
    bars: int = Field(default=1, ge=1, le=100)


class Falling(_Model):
    """``series`` fell on each of the last ``bars`` bars."""

    op: Literal["falling"]
    series: SeriesRef
    bars: int = Field(default=1, ge=1, le=100)


class AllOf(_Model):
    op: Literal["all"]
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=MAX_CONDITIONS)


class AnyOf(_Model):
    op: Literal["any"]
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=MAX_CONDITIONS)


class Not(_Model):
    op: Literal["not"]
    condition: Condition


Condition = Annotated[
    CrossesAbove | CrossesBelow | Greater | Less | Between | Rising | Falling | AllOf | AnyOf | Not,
    Field(discriminator="op"),
]
for _model in (AllOf, AnyOf, Not):
    _model.model_rebuild()


# ---- parts ---------------------------------------------------------------------------------------
class Indicator(_Model):
    """One indicator of the registry under an id: ``{"id": "fast", "kind": "sma",
    "params": {"period": 20}}``. Unspecified parameters take the registry's defaults."""

    id: str
    kind: str
    # bool is listed so that true/false reaches _params and is refused there, not read as 1/0.
    params: dict[str, bool | int | float | str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(
                f"{value!r} is not an id: use lower-case letters, digits and _ (e.g. 'fast_ma')"
            )
        if value in PRICE_FIELDS:
            raise ValueError(f"{value!r} is a price field; choose another id")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        kind = value.strip().lower()
        if kind not in REGISTRY:
            raise ValueError(
                f"unknown indicator {value!r}; available: {', '.join(sorted(REGISTRY))}"
            )
        return kind

    @model_validator(mode="after")
    def _params(self) -> Indicator:
        definition = REGISTRY[self.kind]
        problems = []
        normalised: dict[str, int | float | str] = {}
        for key, value in self.params.items():
            spec = definition.params.get(key)
            if spec is None:
                allowed = ", ".join(definition.params)
                problems.append(f"params.{key}: unknown parameter of {self.kind} (takes {allowed})")
                continue
            if spec.kind is str:
                if not isinstance(value, str) or value not in spec.choices:
                    problems.append(
                        f"params.{key}: {value!r} is not one of {', '.join(spec.choices)}"
                    )
                    continue
                normalised[key] = value
                continue
            if isinstance(value, str | bool) or (spec.kind is int and float(value) % 1):
                problems.append(f"params.{key}: expected {spec.kind.__name__}, got {value!r}")
                continue
            number = spec.kind(value)
            if (spec.minimum is not None and number < spec.minimum) or (
                spec.maximum is not None and number > spec.maximum
            ):
                problems.append(
                    f"params.{key}: {number} is out of range {spec.minimum}..{spec.maximum}"
                )
                continue
            normalised[key] = number
        if self.kind == "macd":
            fast = normalised.get("fast", definition.params["fast"].default)
            slow = normalised.get("slow", definition.params["slow"].default)
            if fast >= slow:
                problems.append(f"params.fast: the fast period {fast} must be below slow {slow}")
        if problems:
            raise ValueError("\n".join(problems))
        object.__setattr__(self, "params", normalised)
        return self

    def resolved_params(self) -> dict[str, Any]:
        """Every parameter, defaults filled in."""
        definition = REGISTRY[self.kind]
        return {key: self.params.get(key, spec.default) for key, spec in definition.params.items()}


class StopLoss(_Model):
    """Distance of the stop from the entry: pips, percent of price, or ATR multiples."""

    kind: Literal["pips", "percent", "atr"]
    value: float = Field(gt=0, le=MAX_DISTANCE_PIPS)
    atr: str | None = None


class TakeProfit(_Model):
    """Distance of the target: pips, percent, ATR multiples, or a risk:reward ratio of the stop."""

    kind: Literal["pips", "percent", "atr", "risk_reward"]
    value: float = Field(gt=0, le=MAX_DISTANCE_PIPS)
    atr: str | None = None


class TrailingStop(_Model):
    """Trail the stop ``distance`` behind the best close, once the trade is ``activate_after_pips``
    in profit."""

    kind: Literal["pips", "atr"] = "pips"
    distance: float = Field(gt=0, le=MAX_DISTANCE_PIPS)
    atr: str | None = None
    activate_after_pips: float = Field(default=0.0, ge=0, le=MAX_DISTANCE_PIPS)


class BreakEven(_Model):
    """Move the stop to entry plus ``lock_pips`` once the trade is ``trigger_pips`` in profit."""

    trigger_pips: float = Field(gt=0, le=MAX_DISTANCE_PIPS)
    lock_pips: float = Field(default=0.0, ge=0, le=MAX_DISTANCE_PIPS)


class Exits(_Model):
    stop_loss: StopLoss | None = None
    take_profit: TakeProfit | None = None
    trailing_stop: TrailingStop | None = None
    break_even: BreakEven | None = None
    on_opposite_signal: bool = True
    long_exit: Condition | None = None
    short_exit: Condition | None = None
    max_bars: int | None = Field(default=None, ge=1, le=100_000)
    close_at: str | None = None
    close_before_weekend: str | None = None
    timezone: str = SERVER_CLOCK
    no_stop_loss: bool = False
    # Where a market entry's stop and target are measured from: the quote at the decision (the
    # signal bar's close), or the quote the entry fills at (the next bar's open in a backtest,
    # as a trader placing the order by hand would). Pending entries: from their order price.
    stops_from: Literal["decision", "fill"] = "decision"

    @field_validator("close_at", "close_before_weekend")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        return _check_hhmm(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class Entry(_Model):
    """How an entry is placed. ``anchor`` is the price the offset applies to (default: the close);
    ``short_anchor``, when given, is the one for short entries (a channel's lower band while
    ``anchor`` is its upper band).

    market: at once. limit: ``offset_pips`` better than the anchor (below it for a long).
    stop: ``offset_pips`` beyond the anchor (above it for a long). stop_limit: a stop like
    ``stop``, whose limit is placed ``limit_offset_pips`` back from the stop (below it for a long).
    Pending entries expire after ``expiry_bars`` bars or at ``expiry_time`` (HH:MM, in the exits'
    time zone), whichever is given.
    """

    order: Literal["market", "limit", "stop", "stop_limit"] = "market"
    anchor: SeriesRef | None = None
    short_anchor: SeriesRef | None = None
    offset_pips: float = Field(default=0.0, ge=0, le=MAX_DISTANCE_PIPS)
    limit_offset_pips: float = Field(default=0.0, ge=0, le=MAX_DISTANCE_PIPS)
    expiry_bars: int | None = Field(default=None, ge=1, le=10_000)
    expiry_time: str | None = None

    @field_validator("expiry_time")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        return _check_hhmm(value)


class Sizing(_Model):
    """fixed_lots: ``lots`` per trade. risk_percent: lose ``risk_pct`` % of equity at the stop.
    risk_money: lose ``risk_money`` (account currency) at the stop. Volumes are kept within
    ``min_lots``..``max_lots`` and on the symbol's volume step."""

    method: Literal["fixed_lots", "risk_percent", "risk_money"] = "fixed_lots"
    lots: float | None = Field(default=0.1, gt=0, le=MAX_LOTS)
    risk_pct: float | None = Field(default=None, gt=0, le=MAX_RISK_PCT)
    risk_money: float | None = Field(default=None, gt=0)
    min_lots: float = Field(default=0.01, gt=0, le=MAX_LOTS)
    max_lots: float = Field(default=10.0, gt=0, le=MAX_LOTS)


class Session(_Model):
    """Trade only between ``start`` and ``end`` (HH:MM) in ``timezone`` (the trade server's clock
    unless the spec names a zone); may wrap past midnight."""

    start: str
    end: str
    timezone: str = SERVER_CLOCK

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM (e.g. '08:00')")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class Filters(_Model):
    sessions: tuple[Session, ...] = ()
    weekdays: tuple[Weekday, ...] = _WORKDAYS
    max_spread_pips: float | None = Field(default=None, gt=0, le=MAX_DISTANCE_PIPS)

    @field_validator("weekdays")
    @classmethod
    def _week_order(cls, values: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        # The order days are listed in means nothing: keep week order, so the hash ignores it.
        return tuple(sorted(set(values), key=WEEKDAYS.index))


class StrategySpec(_Model):
    """A complete, validated strategy. See the module docstring for units and series names."""

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=2000)
    symbols: tuple[str, ...] = Field(min_length=1, max_length=20)
    timeframe: Timeframe
    indicators: tuple[Indicator, ...] = Field(default=(), max_length=MAX_INDICATORS)
    long_entry: Condition | None = None
    short_entry: Condition | None = None
    entry: Entry = Field(default_factory=Entry)
    exits: Exits = Field(default_factory=Exits)
    sizing: Sizing = Field(default_factory=Sizing)
    max_open_positions: int = Field(default=1, ge=1, le=100)
    pyramiding: int = Field(default=1, ge=1, le=100)
    filters: Filters = Field(default_factory=Filters)
    magic: int = Field(default=123456, ge=0, le=2**63 - 1)
    comment: str = Field(default="nl_trader", max_length=29)

    @field_validator("name", "description", "comment")
    @classmethod
    def _free_text(cls, value: str, info: ValidationInfo) -> str:
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        if info.field_name == "comment" and utf16_length(value) > MT5_TEXT_LIMIT:
            # Every order carries it: send_order's own limit (UTF-16 code units, as MT5 counts).
            raise ValueError(
                f"is {utf16_length(value)} UTF-16 code units; MT5 accepts at most {MT5_TEXT_LIMIT}"
            )
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not re.match(r"^[A-Za-z0-9._#+-]{1,29}$", value):
                raise ValueError(f"{value!r} is not a symbol name (e.g. 'EURUSD')")
        if len(set(values)) != len(values):
            raise ValueError("a symbol is listed twice")
        return values

    @model_validator(mode="after")
    def _semantics(self) -> StrategySpec:
        problems = list(_semantic_problems(self))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def indicator(self, ident: str) -> Indicator | None:
        return next((item for item in self.indicators if item.id == ident), None)


def _check_hhmm(value: str | None) -> str | None:
    if value is None:
        return None
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day as HH:MM (e.g. '16:30')")
    return value


def _check_zone(value: str) -> str:
    if value == SERVER_CLOCK:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone name (e.g. 'Europe/London', 'America/New_York', "
            f"'UTC', or {SERVER_CLOCK!r} for the trade server's clock)"
        ) from None
    return value


# ---- semantic checks -----------------------------------------------------------------------------
def _walk(condition: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (path, node) for every condition node under ``condition``."""
    yield path, condition
    if isinstance(condition, AllOf | AnyOf):
        for index, child in enumerate(condition.conditions):
            yield from _walk(child, f"{path}.conditions[{index}]")
    elif isinstance(condition, Not):
        yield from _walk(condition.condition, f"{path}.condition")


def _operands(node: Any) -> Iterator[tuple[str, Any]]:
    for name in ("left", "right", "value", "low", "high", "series"):
        if hasattr(node, name):
            yield name, getattr(node, name)


def _check_series(spec: StrategySpec, path: str, name: str) -> str | None:
    if name in PRICE_FIELDS:
        return None
    ident, _, output = name.partition(".")
    indicator = spec.indicator(ident)
    if indicator is None:
        known = [item.id for item in spec.indicators]
        hint = f" (indicators: {', '.join(known)})" if known else " (no indicators are defined)"
        return f"{path}: {name!r} is neither a price field ({', '.join(PRICE_FIELDS)}) nor an indicator id{hint}"
    outputs = REGISTRY[indicator.kind].outputs
    if output and output not in outputs:
        return f"{path}: {indicator.kind} {ident!r} has no output {output!r} (outputs: {', '.join(outputs)})"
    if not output and len(outputs) > 1:
        choices = ", ".join(f"{ident}.{item}" for item in outputs)
        return f"{path}: {indicator.kind} {ident!r} has several outputs; name one: {choices}"
    return None


def _check_atr(spec: StrategySpec, path: str, atr: str | None) -> str | None:
    if atr is None:
        return f"{path}: ATR-based values need 'atr', the id of an atr indicator of the spec"
    indicator = spec.indicator(atr)
    if indicator is None or indicator.kind != "atr":
        return f"{path}: {atr!r} is not an atr indicator of the spec"
    return None


def _check_ref(spec: StrategySpec, path: str, ref: Ref) -> Iterator[str]:
    problem = _check_series(spec, f"{path}.series", ref.series)
    if problem:
        yield problem
    if ref.offset_atr:
        problem = _check_atr(spec, f"{path}.atr", ref.atr)
        if problem:
            yield problem
    if ref.offset_pips and ref.offset_atr:
        yield f"{path}: give offset_pips or offset_atr, not both"


def _semantic_problems(spec: StrategySpec) -> Iterator[str]:
    ids = [item.id for item in spec.indicators]
    for ident in sorted({i for i in ids if ids.count(i) > 1}):
        yield f"indicators: the id {ident!r} is used twice"
    if spec.long_entry is None and spec.short_entry is None:
        yield "long_entry: the strategy has no entry rule (give long_entry, short_entry or both)"
    if spec.long_entry is not None and spec.long_entry == spec.short_entry:
        yield "short_entry: the same rule as long_entry would open both ways at once"
    exits = spec.exits
    for rule, exit_rule in (("long", exits.long_exit), ("short", exits.short_exit)):
        entry_rule = spec.long_entry if rule == "long" else spec.short_entry
        if exit_rule is not None and exit_rule == entry_rule:
            yield f"exits.{rule}_exit: the same rule as {rule}_entry would close every trade at once"
    for name in ("long_entry", "short_entry"):
        condition = getattr(spec, name)
        if condition is not None:
            yield from _condition_problems(spec, name, condition)
    for name in ("long_exit", "short_exit"):
        condition = getattr(exits, name)
        if condition is not None:
            yield from _condition_problems(spec, f"exits.{name}", condition)
    yield from _exit_problems(spec)
    yield from _distance_problems(spec)
    yield from _entry_problems(spec)
    yield from _sizing_problems(spec)
    if spec.pyramiding > spec.max_open_positions:
        yield (
            f"pyramiding: {spec.pyramiding} entries in one direction cannot fit in "
            f"max_open_positions {spec.max_open_positions}"
        )
    for index, session in enumerate(spec.filters.sessions):
        if session.start == session.end:
            yield f"filters.sessions[{index}]: start and end are both {session.start}: an empty session"
    if not spec.filters.weekdays:
        yield "filters.weekdays: no weekday left to trade on"


def _condition_problems(spec: StrategySpec, root: str, condition: Any) -> Iterator[str]:
    for path, node in _walk(condition, root):
        for name, operand in _operands(node):
            if isinstance(operand, Ref):
                yield from _check_ref(spec, f"{path}.{name}", operand)
        if isinstance(node, CrossesAbove | CrossesBelow | Greater | Less):
            if node.left == node.right:
                yield f"{path}: compares {_describe(node.left)} with itself: never true"
            elif not isinstance(node.left, Ref) and not isinstance(node.right, Ref):
                yield f"{path}: compares two numbers: always or never true"
        if isinstance(node, Between):
            low, high = node.low, node.high
            if not isinstance(low, Ref) and not isinstance(high, Ref) and low > high:
                yield f"{path}: low {low} is above high {high}: never true"


def _describe(operand: Any) -> str:
    return repr(operand.series) if isinstance(operand, Ref) else repr(operand)


def _exit_problems(spec: StrategySpec) -> Iterator[str]:
    exits = spec.exits
    if exits.stop_loss is None and not exits.no_stop_loss:
        yield (
            "exits.stop_loss: a stop loss is required (pips, percent or ATR); to trade without "
            "one, set exits.no_stop_loss to true explicitly"
        )
    if exits.stop_loss is not None and exits.no_stop_loss:
        yield "exits.no_stop_loss: true, yet a stop loss is given; keep one of the two"
    if exits.stop_loss is not None and exits.stop_loss.kind == "atr":
        problem = _check_atr(spec, "exits.stop_loss.atr", exits.stop_loss.atr)
        if problem:
            yield problem
    take_profit = exits.take_profit
    if take_profit is not None:
        if take_profit.kind == "atr":
            problem = _check_atr(spec, "exits.take_profit.atr", take_profit.atr)
            if problem:
                yield problem
        if take_profit.kind == "risk_reward" and exits.stop_loss is None:
            yield "exits.take_profit: a risk:reward target needs a stop loss to measure the risk"
    trailing = exits.trailing_stop
    if trailing is not None and trailing.kind == "atr":
        problem = _check_atr(spec, "exits.trailing_stop.atr", trailing.atr)
        if problem:
            yield problem
    break_even = exits.break_even
    if break_even is not None and break_even.lock_pips >= break_even.trigger_pips:
        yield (
            f"exits.break_even.lock_pips: locking {break_even.lock_pips} pips needs a trigger "
            f"above it (trigger_pips is {break_even.trigger_pips})"
        )


def _distances(spec: StrategySpec) -> Iterator[tuple[str, str, float]]:
    """Every distance of the spec as ``(path, unit, value)``; unit is pips, atr, percent or
    risk_reward."""
    exits, entry = spec.exits, spec.entry
    for name, level in (("stop_loss", exits.stop_loss), ("take_profit", exits.take_profit)):
        if level is not None:
            yield f"exits.{name}.value", level.kind, level.value
    trailing = exits.trailing_stop
    if trailing is not None:
        yield "exits.trailing_stop.distance", trailing.kind, trailing.distance
        yield "exits.trailing_stop.activate_after_pips", "pips", trailing.activate_after_pips
    if exits.break_even is not None:
        yield "exits.break_even.trigger_pips", "pips", exits.break_even.trigger_pips
        yield "exits.break_even.lock_pips", "pips", exits.break_even.lock_pips
    yield "entry.offset_pips", "pips", entry.offset_pips
    yield "entry.limit_offset_pips", "pips", entry.limit_offset_pips
    if spec.filters.max_spread_pips is not None:
        yield "filters.max_spread_pips", "pips", spec.filters.max_spread_pips
    for path, ref in _refs(spec):
        yield f"{path}.offset_pips", "pips", ref.offset_pips
        yield f"{path}.offset_atr", "atr", ref.offset_atr


def _refs(spec: StrategySpec) -> Iterator[tuple[str, Ref]]:
    """Every series reference of the spec's rules and entry, with its path."""
    roots = [
        ("long_entry", spec.long_entry),
        ("short_entry", spec.short_entry),
        ("exits.long_exit", spec.exits.long_exit),
        ("exits.short_exit", spec.exits.short_exit),
    ]
    for root, condition in roots:
        if condition is None:
            continue
        for path, node in _walk(condition, root):
            for name, operand in _operands(node):
                if isinstance(operand, Ref):
                    yield f"{path}.{name}", operand
    for name in ("anchor", "short_anchor"):
        ref = getattr(spec.entry, name)
        if ref is not None:
            yield f"entry.{name}", ref


def _distance_problems(spec: StrategySpec) -> Iterator[str]:
    """Distances bounded by the symbols' prices: none may reach zero price (module limits)."""
    limits = [(limit, symbol) for symbol in spec.symbols if (limit := distance_limit(symbol))]
    tightest = min(limits, default=None)
    for path, unit, value in _distances(spec):
        size = abs(value)
        if unit == "pips" and tightest is not None and size >= tightest[0][0]:
            (pips, lowest), symbol = tightest
            yield (
                f"{path}: {value:g} pips reaches zero price on {symbol}: its lowest price since "
                f"2000, {lowest:g}, is {pips:g} pips; give less than {pips:g} pips"
            )
        elif unit == "atr" and size > MAX_ATR_MULTIPLE:
            yield f"{path}: {value:g} ATRs is too far; at most {MAX_ATR_MULTIPLE:g} ATRs"
        elif unit == "percent" and size >= MAX_PERCENT:
            what = "stop" if "stop_loss" in path else "target"
            yield (
                f"{path}: a {what} {value}% away is not a {what}; give less than {MAX_PERCENT:g}%"
            )
        elif unit == "risk_reward" and size > MAX_RISK_REWARD:
            yield (
                f"{path}: a target {value:g} times the stop's distance is too far; at most "
                f"{MAX_RISK_REWARD:g}"
            )


def _entry_problems(spec: StrategySpec) -> Iterator[str]:
    entry = spec.entry
    for name in ("anchor", "short_anchor"):
        ref = getattr(entry, name)
        if ref is not None:
            yield from _check_ref(spec, f"entry.{name}", ref)
    if entry.order == "market":
        for name in (
            "anchor",
            "short_anchor",
            "offset_pips",
            "limit_offset_pips",
            "expiry_bars",
            "expiry_time",
        ):
            value = getattr(entry, name)
            if value:
                yield f"entry.{name}: a market entry has no {name.replace('_', ' ')}"
        return
    if (
        entry.order == "limit"
        and not entry.offset_pips
        and entry.anchor is None
        and (entry.short_anchor is None)
    ):
        yield "entry.offset_pips: a limit at the current price is a market order; give an offset above 0"
    if entry.order != "stop_limit" and entry.limit_offset_pips:
        yield "entry.limit_offset_pips: only a stop_limit entry has a limit offset"
    if entry.expiry_bars is not None and entry.expiry_time is not None:
        yield "entry.expiry_time: give expiry_bars or expiry_time, not both"


def _sizing_problems(spec: StrategySpec) -> Iterator[str]:
    sizing = spec.sizing
    if sizing.min_lots > sizing.max_lots:
        yield f"sizing.min_lots: {sizing.min_lots} is above max_lots {sizing.max_lots}"
    if sizing.method == "fixed_lots":
        if sizing.lots is None:
            yield "sizing.lots: fixed_lots sizing needs lots"
        elif sizing.lots > sizing.max_lots:
            yield f"sizing.lots: {sizing.lots} lots is above max_lots {sizing.max_lots}"
        elif sizing.lots < sizing.min_lots:
            yield f"sizing.lots: {sizing.lots} lots is below min_lots {sizing.min_lots}"
    else:
        needed = "risk_pct" if sizing.method == "risk_percent" else "risk_money"
        if getattr(sizing, needed) is None:
            yield f"sizing.{needed}: {sizing.method} sizing needs {needed}"
        if spec.exits.stop_loss is None:
            yield (
                f"sizing.method: {sizing.method} sizes a trade from its stop distance, and the "
                "strategy has no stop loss"
            )


# ---- parsing, identity, schema -------------------------------------------------------------------
def _location(parts: tuple[Any, ...]) -> str:
    """A field path as the semantic checks write it: ``filters.sessions[0].start``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _format(error: dict[str, Any]) -> list[str]:
    location = _location(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    if kind == "missing":
        return [f"{location}: required field is missing"]
    if kind == "extra_forbidden":
        return [f"{location}: unknown field"]
    if kind == "union_tag_invalid":
        ops = "crosses_above, crosses_below, gt, lt, between, rising, falling, all, any, not"
        return [
            f"{location}: unknown condition op {error.get('input', {}).get('op')!r} (one of {ops})"
        ]
    if kind == "union_tag_not_found":
        return [f"{location}: a condition needs an 'op'"]
    message = (
        str(error["ctx"]["error"])
        if kind == "value_error" and "ctx" in error
        else error.get("msg", kind)
    )
    lines = [line for line in message.split("\n") if line]
    # Indicator-level problems already carry a relative path (params.period: ...).
    prefix = (
        f"{location}."
        if location and lines and lines[0].startswith("params.")
        else (f"{location}: " if location else "")
    )
    return [f"{prefix}{line}" for line in lines]


def parse_spec(data: object) -> StrategySpec:
    """Validate a spec given as a dict, JSON text or JSON bytes; raise ``SpecError`` naming
    every problem.

    The raw input is first held to the form limits of this module (size, nesting, counts,
    digits, free text without control characters), cheaply and before anything else; bytes
    may be UTF-8 (with or without a byte-order mark), or UTF-16 or UTF-32 with one.
    """
    if isinstance(data, StrategySpec):
        return data
    if type(data) is bytes or type(data) is bytearray:
        data = decode_spec_text(bytes(data))
    if type(data) is str:
        data = _load_json(data)
    plain = _plain_json(data)
    if type(plain) is not dict:
        raise SpecError([f"spec: expected a JSON object, got {type(plain).__name__}"])
    version = plain.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SpecError(
            [f"schema_version: {version!r} is not supported (this is version {SCHEMA_VERSION})"]
        )
    try:
        return StrategySpec.model_validate(plain)
    except ValidationError as exc:
        problems: list[str] = []
        for detail in _closest_alternatives(
            [dict(d) for d in exc.errors(include_url=False)], plain
        ):
            for problem in _format(detail):
                if problem not in problems:
                    problems.append(problem)
        raise SpecError(problems) from None


# ---- the raw input's form: size, encoding, nesting, counts, digits, free text ---------------------
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with a byte-order mark)",
    "utf-16": "UTF-16 (with a byte-order mark)",
    "utf-16-le": "UTF-16 little-endian (without a byte-order mark)",
    "utf-16-be": "UTF-16 big-endian (without a byte-order mark)",
    "utf-32": "UTF-32 (with a byte-order mark)",
    "utf-32-le": "UTF-32 little-endian (without a byte-order mark)",
    "utf-32-be": "UTF-32 big-endian (without a byte-order mark)",
}


def decode_spec_text(raw: bytes) -> str:
    """The text of a spec file's bytes, or the ``SpecError`` naming the size or the encoding.

    UTF-8 is expected (a byte-order mark is skipped); UTF-16 and UTF-32, which Windows editors
    save, are read from their byte-order mark, or from the zero bytes of JSON's first
    characters (RFC 8259 section 8.1, as ``json.loads`` reads bytes).
    """
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([_size_problem(len(raw))])
    encoding = json.detect_encoding(raw)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        name = _ENCODING_NAMES.get(encoding, encoding)
        raise SpecError(
            [
                f"encoding: the text is not valid {name}: {error.reason} at byte {error.start}; "
                "save the spec as UTF-8"
            ]
        ) from None


def _size_problem(size: int, unit: str = "bytes") -> str:
    return f"spec: {size} {unit} is more than a spec may be (at most {MAX_SPEC_BYTES} {unit})"


class _LongNumber:
    """A JSON number with more digits than ``MAX_NUMBER_DIGITS``, left unconverted."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _json_int(text: str) -> int | _LongNumber:
    digits = len(text) - text.startswith("-")
    return _LongNumber(digits) if digits > MAX_NUMBER_DIGITS else int(text)


def _json_float(text: str) -> float | _LongNumber:
    digits = sum(character.isdigit() for character in text)
    return _LongNumber(digits) if digits > MAX_NUMBER_DIGITS else float(text)


def _load_json(text: str) -> Any:
    # The size first: len() is characters, each at least one byte in UTF-8.
    if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError([_size_problem(len(text.encode("utf-8", "surrogatepass")))])
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float)
    except json.JSONDecodeError as error:
        raise SpecError(
            [f"json: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"]
        ) from None
    except RecursionError:  # nested deeper than the parser's stack
        raise SpecError(
            [f"spec: nested more than {MAX_NESTING_DEPTH} levels deep (objects and arrays)"]
        ) from None


_NUMPY_JSON = frozenset(
    {np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8}
    | {np.uint16, np.uint32, np.uint64, np.bool_}
)


def _json_kind(value: object) -> str:
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true/false"
    if kind is int or kind is float:
        return "a number"
    if kind is str:
        return "a text"
    if kind is dict:
        return "an object"
    if kind is list:
        return "an array"
    return str(type.__dict__["__name__"].__get__(kind))


def _plain_json(data: object) -> Any:
    """``data`` copied into plain JSON values (dicts with text keys, lists, texts, numbers,
    true/false, None), or the ``SpecError`` naming each form limit it breaks.

    Iterative, one visit per value, stopping at the first limit a container breaks: its cost is
    bounded by the limits, whatever the input. Subclasses of dict, list, str, int and float are
    read by the base type's own methods; a value of any other type is refused.
    """
    problems: list[str] = []
    root: list[Any] = [None]
    # (value, the container to put its copy in, the key or index there, path, depth)
    stack: list[tuple[Any, Any, Any, tuple[Any, ...], int]] = [(data, root, 0, (), 0)]
    values = 1
    text_chars = 0
    while stack and len(problems) < 20:
        value, into, slot, path, depth = stack.pop()
        kind = type(value)
        copy: Any
        if kind is dict or kind is list or kind is tuple or issubclass(kind, dict | list | tuple):
            if depth >= MAX_NESTING_DEPTH:
                problems.append(
                    f"{_location(path) or 'spec'}: nested more than {MAX_NESTING_DEPTH} levels "
                    "deep (objects and arrays)"
                )
                continue
            if issubclass(kind, dict):
                items: list[tuple[Any, Any]] = list(dict.items(value))
            else:
                base = list if issubclass(kind, list) else tuple
                items = list(enumerate(base.__iter__(value)))
            problem = _count_problem(path, len(items), issubclass(kind, dict))
            if problem:
                problems.append(problem)
                continue
            values += len(items)
            if values > MAX_VALUES:
                problems.append(
                    f"spec: more than {MAX_VALUES} values in all (objects, arrays, texts, numbers)"
                )
                break
            copy = {} if issubclass(kind, dict) else [None] * len(items)
            for key, item in reversed(items):
                if not issubclass(kind, dict):
                    stack.append((item, copy, key, (*path, key), depth + 1))
                    continue
                if not issubclass(type(key), str):
                    problems.append(
                        f"{_location(path) or 'spec'}: keys must be text, got {_json_kind(key)}"
                    )
                    continue
                key = str.__str__(key)
                problem = _text_problem(key, MAX_KEY_CHARS, "key")
                if problem:
                    problems.append(
                        f"{_location(path) or 'spec'}: the key {key[:MAX_KEY_CHARS]!r} {problem}"
                    )
                    continue
                copy[key] = None
                stack.append((item, copy, key, (*path, key), depth + 1))
        elif kind is str or issubclass(kind, str):
            copy = str.__str__(value)
            text_chars += len(copy)
            problem = _text_problem(copy, MAX_TEXT_CHARS, "text")
            if problem:
                problems.append(f"{_location(path) or 'spec'}: {problem}")
                continue
        elif value is None or kind is bool:
            copy = value
        elif kind is int or issubclass(kind, int):
            copy = int.__index__(value)
            if abs(copy) >= 10**MAX_NUMBER_DIGITS:
                problems.append(
                    f"{_location(path) or 'spec'}: a number of more than {MAX_NUMBER_DIGITS} "
                    f"digits; at most {MAX_NUMBER_DIGITS} digits"
                )
                continue
        elif kind is float or issubclass(kind, float):
            copy = float.__float__(value)
        elif kind is _LongNumber:
            problems.append(
                f"{_location(path) or 'spec'}: a number of {value.digits} digits; at most "
                f"{MAX_NUMBER_DIGITS} digits"
            )
            continue
        elif kind in _NUMPY_JSON:
            copy = value.item()
        else:
            problems.append(
                f"{_location(path) or 'spec'}: {_json_kind(value)} is not JSON data (an object, "
                "array, text, number, true/false or null)"
            )
            continue
        into[slot] = copy
    if text_chars > MAX_SPEC_BYTES:
        problems.append(_size_problem(text_chars, "characters of text"))
    if problems:
        raise SpecError(problems)
    return root[0]


def _count_problem(path: tuple[Any, ...], count: int, is_object: bool) -> str | None:
    """The limit a container of ``count`` items at ``path`` breaks, if any."""
    where = _location(path) or "spec"
    if path == ("indicators",) and count > MAX_INDICATORS:
        return f"indicators: {count} indicators; at most {MAX_INDICATORS}"
    if path and path[-1] == "conditions" and not is_object and count > MAX_CONDITIONS:
        return f"{where}: {count} conditions in one all/any; at most {MAX_CONDITIONS}"
    if count > MAX_VALUES:
        return f"{where}: {count} items; a spec has at most {MAX_VALUES} values in all"
    return None


def _text_problem(text: str, limit: int, what: str) -> str | None:
    if len(text) > limit:
        return f"is a {what} of {len(text)} characters; at most {limit}"
    return text_problem(text)


# ---- choosing among a union's alternatives ---------------------------------------------------------
# An operand is a number or a series (``float | Ref``), an indicator parameter a number or a
# choice (``bool | int | float | str``). Pydantic reports every alternative that failed, each
# under its own name (``left.float``, ``left.Ref.bars_ago``); the one the input meant is the
# one whose type it has: an object meant a series, a number a number.
_UNION_FIELDS = frozenset({"left", "right", "value", "low", "high"})
_MEMBERS = frozenset({"float", "int", "bool", "str", "Ref"})
_MEANT = {
    "true/false": ("bool",),
    "a number": ("float", "int"),
    "a text": ("str", "Ref"),
    "an object": ("Ref",),
}
_MEMBER_WORDS = {
    "float": "a number",
    "int": "a number",
    "str": "a text choice",
    "Ref": 'a series (a name such as "close", or an object such as {"series": "close"})',
}
_MISSING = object()


def _union_member(loc: tuple[Any, ...], data: Any) -> tuple[int, Any] | None:
    """Where ``loc`` names a union's alternative: (its index in ``loc``, the input there)."""
    node = data
    tag_read = False
    for index, part in enumerate(loc):
        previous = loc[index - 1] if index else None
        in_union = previous in _UNION_FIELDS or (index >= 2 and loc[index - 2] == "params")
        if in_union and part in _MEMBERS:
            return index, node
        if type(node) is dict:
            if not tag_read and part == node.get("op"):  # a condition's op names its model
                tag_read = True
                continue
            node = node.get(part, _MISSING)
        elif type(node) is list and type(part) is int and 0 <= part < len(node):
            node = node[part]
        else:
            node = _MISSING
        tag_read = False
    return None


def _closest_alternatives(details: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """``details`` with each union's failures reduced to the alternative the input meant, or to
    one line naming what the union takes when the input is of no alternative's type; and
    without the "too short" of a list whose items were refused (they are reported)."""
    groups: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
    inputs: dict[tuple[Any, ...], Any] = {}
    keep: list[tuple[Any, dict[str, Any]]] = []
    for detail in details:
        loc = tuple(detail.get("loc", ()))
        found = _union_member(loc, data)
        if found is None:
            keep.append((None, detail))
            continue
        index, node = found
        point = loc[:index]
        if point not in groups:
            groups[point] = {}
            inputs[point] = node
            keep.append((point, {}))
        groups[point].setdefault(str(loc[index]), []).append(detail)
    chosen: list[dict[str, Any]] = []
    for point, detail in keep:
        if point is None:
            chosen.append(detail)
            continue
        members = groups[point]
        kind = _json_kind(inputs[point])
        meant = next((m for m in _MEANT.get(kind, ()) if m in members), None)
        if meant is not None:
            chosen.extend(members[meant])
            continue
        words = list(dict.fromkeys(_MEMBER_WORDS[m] for m in members if m in _MEMBER_WORDS))
        chosen.append(
            {"loc": point, "type": "union", "msg": f"expected {' or '.join(words)}, got {kind}"}
        )
    locations = [tuple(d.get("loc", ())) for d in chosen]
    return [
        detail
        for detail, loc in zip(chosen, locations, strict=True)
        if not (
            detail.get("type") == "too_short"
            and any(len(o) > len(loc) and o[: len(loc)] == loc for o in locations)
        )
    ]


def canonical_json(spec: StrategySpec) -> str:
    """The spec's canonical text: every field (defaults included), keys sorted, no whitespace.

    Two specs that mean the same thing have the same canonical text, whatever the key order or
    number formatting they were written with (``10`` and ``10.0`` pips are the same).
    """
    data = spec.model_dump(mode="json")
    # An indicator parameter left at its default means the same as the default written out.
    for item, indicator in zip(data["indicators"], spec.indicators, strict=True):
        item["params"] = indicator.resolved_params()
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(spec: StrategySpec) -> str:
    """The strategy's identity: SHA-256 of its canonical JSON, in hex."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of StrategySpec, with the indicator registry spelled out for an LLM."""
    schema = StrategySpec.model_json_schema()
    catalogue = {
        name: {
            "params": {
                key: {
                    "type": param.kind.__name__,
                    "default": param.default,
                    **({"minimum": param.minimum} if param.minimum is not None else {}),
                    **({"maximum": param.maximum} if param.maximum is not None else {}),
                    **({"enum": list(param.choices)} if param.choices else {}),
                }
                for key, param in definition.params.items()
            },
            "outputs": list(definition.outputs),
        }
        for name, definition in REGISTRY.items()
    }
    schema["x-indicators"] = catalogue
    schema["x-price-fields"] = list(PRICE_FIELDS)
    return schema


def _relevant(spec: StrategySpec, path: str) -> bool:
    """Whether a default can change what this spec does."""
    if path == "sizing.lots":
        return spec.sizing.method == "fixed_lots"
    if path == "exits.timezone":
        exits = spec.exits
        return bool(exits.close_at or exits.close_before_weekend or spec.entry.expiry_time)
    return True


# Defaults that say nothing about behaviour when left out: unused options and free text.
_SILENT_DEFAULTS = frozenset(
    {
        "schema_version",
        "description",
        "no_stop_loss",
        "anchor",
        "offset_pips",
        "limit_offset_pips",
        "expiry_bars",
        "expiry_time",
        "risk_pct",
        "risk_money",
    }
)


def defaults_filled(
    model: BaseModel, path: str = "", *, given: bool = True
) -> list[tuple[str, Any]]:
    """The defaults that decide behaviour and that the author did not give: (path, value).

    Parts left out entirely (no ``sizing`` at all) are reported leaf by leaf; options that are
    simply unused (no trailing stop) are not defaults and are not listed.
    """
    filled: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        where = f"{path}{name}"
        was_given = given and name in model.model_fields_set
        if isinstance(value, Entry | Exits | Sizing | Filters):
            filled.extend(defaults_filled(value, f"{where}.", given=was_given))
            continue
        if was_given or name in _SILENT_DEFAULTS or value in (None, "", [], ()):
            continue
        filled.append((where, value))
    if isinstance(model, StrategySpec):
        filled = [item for item in filled if _relevant(model, item[0])]
    for index, indicator in enumerate(getattr(model, "indicators", None) or []):
        for key, default in indicator.resolved_params().items():
            if key not in indicator.params:
                filled.append((f"indicators[{index}].params.{key}", default))
    return filled
