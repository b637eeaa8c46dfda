"""Hostile input at the order boundary and in strategy specs (issue 15, a hostile review).

1. send_order reads numbers from plain ASCII decimal text only ("0_1" is not 1 lot, "１" is not 1).
2. Objects whose methods raise (str, int, float and dict subclasses, zones, odd objects) are
   copied into plain values or refused; send_order never raises.
3. A spec is held to limits on its size, nesting, counts and digits, checked before validation,
   and a spec file may be UTF-16; the CLI answers with the problem, never a traceback.
4. Distances are bounded by the symbol's prices, and the backtest refuses exactly the orders
   send_order refuses (a long's stop below zero price included).
5. A union's problem is reported for the alternative the input meant.
6. Control characters, escape sequences and bidirectional overrides are refused in free text.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nl_trader import mt5
from nl_trader.backtest import loop
from nl_trader.backtest.engine import BacktestSettings, refusal_message, run_backtest
from nl_trader.cli import app
from nl_trader.errors import OrderParamsError
from nl_trader.orders import parse_order_params
from nl_trader.sim import kernel
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.sim.route import SimulatedRoute
from nl_trader.spec import SpecError, StrategySpec, parse_spec
from nl_trader.strategy import decide
from nl_trader.strategy.compile import book_from_records, compile_strategy
from nl_trader.symbols import symbol_spec
from tests.test_send_order_properties import broker_activity, logged_in_client

EXAMPLES = Path(__file__).resolve().parents[1] / "strategies"
MA_CROSS: dict[str, Any] = json.loads((EXAMPLES / "ma_crossover.json").read_text("utf-8"))
ORDER: dict[str, Any] = {
    "backtest_toggle": True,
    "symbol": "EURUSD",
    "order_type": "buy",
    "volume": 0.1,
}
runner = CliRunner()


def spec_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MA_CROSS)
    data.update(changes)
    return data


def spec_problems(data: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return list(caught.value.problems)


def order_problems(raw: object) -> list[str]:
    with pytest.raises(OrderParamsError) as caught:
        parse_order_params(raw)
    return list(caught.value.problems)


# ---- hostile objects ------------------------------------------------------------------------------
class Hostile(Exception):
    """What a hostile object's methods raise once armed."""


_ARMED = [False]


@contextmanager
def armed() -> Iterator[None]:
    """Hostile objects behave while they are built (a dict must hash its keys), then raise."""
    _ARMED[0] = True
    try:
        yield
    finally:
        _ARMED[0] = False


def hostile(base: type, *names: str) -> type:
    """A subclass of ``base`` whose methods ``names`` raise ``Hostile`` while armed."""

    def raising(name: str) -> Any:
        original = getattr(base, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _ARMED[0]:
                raise Hostile(name)
            return original(self, *args, **kwargs)

        return method

    return type(f"Hostile{base.__name__.title()}", (base,), {n: raising(n) for n in names})


STR_METHODS = (
    "__str__",
    "__repr__",
    "__eq__",
    "__hash__",
    "__len__",
    "__iter__",
    "__getitem__",
    "__format__",
    "strip",
    "lower",
    "upper",
    "encode",
    "isascii",
    "isprintable",
    "removeprefix",
    "replace",
    "startswith",
    "partition",
)
HostileStr = hostile(str, *STR_METHODS)
HostileDict = hostile(
    dict, "keys", "get", "__iter__", "items", "values", "__getitem__", "__len__", "__contains__"
)
HostileFloat = hostile(float, "__float__", "__repr__", "__eq__", "__hash__", "__format__", "__lt__")
HostileInt = hostile(int, "__int__", "__index__", "__repr__", "__eq__", "__format__", "__lt__")


class HostileZone(tzinfo):
    def utcoffset(self, moment: datetime | None) -> timedelta:
        raise Hostile("utcoffset")


class Unprintable:
    """An object whose repr raises and whose ``__class__`` lies by raising."""

    def __repr__(self) -> str:
        raise Hostile("__repr__")

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise Hostile("__class__")


class RaisingMapping(Mapping[str, Any]):
    """A mapping (not a dict) whose reading raises."""

    def __getitem__(self, key: str) -> Any:
        raise Hostile("__getitem__")

    def __iter__(self) -> Iterator[str]:
        raise Hostile("__iter__")

    def __len__(self) -> int:
        return 4


def _pending(**extra: Any) -> dict[str, Any]:
    return {**ORDER, "order_type": "buy_limit", "price": 1.0, **extra}


HOSTILE_PARAMS: dict[str, Any] = {
    "a dict subclass whose items, keys, get and iteration raise": lambda: HostileDict(ORDER),
    "a symbol whose str methods raise": lambda: {**ORDER, "symbol": HostileStr("EURUSD")},
    "a comment whose str methods raise": lambda: {**ORDER, "comment": HostileStr("mine")},
    "an order type whose str methods raise": lambda: {**ORDER, "order_type": HostileStr("buy")},
    "a filling name whose str methods raise": lambda: {**ORDER, "type_filling": HostileStr("IOC")},
    "a volume text whose str methods raise": lambda: {**ORDER, "volume": HostileStr("0.1")},
    "a key whose hash and equality raise": lambda: {
        HostileStr("symbol"): "EURUSD",
        **{k: v for k, v in ORDER.items() if k != "symbol"},
    },
    "an unknown key whose methods raise": lambda: {**ORDER, HostileStr("lots"): 1},
    "a volume float subclass whose methods raise": lambda: {**ORDER, "volume": HostileFloat(0.1)},
    "a magic int subclass whose methods raise": lambda: {**ORDER, "magic": HostileInt(7)},
    "an expiration in a zone whose utcoffset raises": lambda: _pending(
        type_time="SPECIFIED", expiration=datetime(2030, 1, 1, tzinfo=HostileZone())
    ),
    "a value whose repr and __class__ raise": lambda: {**ORDER, "price": Unprintable()},
    "a key whose repr and __class__ raise": lambda: {**ORDER, Unprintable(): 1},
    "params that are such an object": lambda: Unprintable(),
    "a mapping whose reading raises": lambda: RaisingMapping(),
    "a list holding such an object": lambda: {**ORDER, "volume": [Unprintable()]},
    "a dict subclass value whose methods raise": lambda: {**ORDER, "sl": HostileDict(a=1)},
}


# ---- 1. numbers as text ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["0_1", "1_0", "1_000"])
def test_volume_text_with_an_underscore_is_refused_not_read_as_lots(text: str) -> None:
    client, spy = logged_in_client()

    result = client.send_order({**ORDER, "volume": text})

    assert result.startswith("invalid order params: volume: expected a number as plain decimal")
    assert repr(text) in result
    assert broker_activity(client) == (0, 0, 0)
    assert spy.trade_calls == 0


NON_ASCII_DIGITS = {
    "volume": "０.１",  # full-width
    "price": "١.١",  # Arabic-Indic
    "sl": "۰.۹",  # extended Arabic-Indic (Persian)
    "tp": "１.２",
    "stoplimit": "१.१",  # Devanagari
    "deviation": "１０",
    "magic": "٣٤٥",
    "position": "１２",
    "position_by": "٧",
    "order": "３",
    "expiration": "１７９９９９９９９９",
}


@pytest.mark.parametrize(("field", "text"), NON_ASCII_DIGITS.items(), ids=list(NON_ASCII_DIGITS))
def test_digits_other_than_ascii_are_refused_for_volumes_prices_and_ids(
    field: str, text: str
) -> None:
    problems = order_problems({**ORDER, field: text})

    lines = [line for line in problems if line.startswith(f"{field}: ")]
    assert lines, problems
    assert "ASCII" in lines[0]
    assert repr(text) in lines[0]


def test_a_ticket_given_as_text_keeps_every_digit() -> None:
    # 2**64 - 59: a float would round it to 2**64 and the ticket would be refused or changed.
    params = parse_order_params(
        {
            **ORDER,
            "order_type": "modify",
            "position": "18446744073709551557",
            "sl": 1.05,
            "volume": None,
        }
    )
    assert params.position == 18446744073709551557


@pytest.mark.parametrize(
    ("text", "lots"), [("0.1", 0.1), (" 0.10 ", 0.1), ("+0.5", 0.5), ("1e-1", 0.1), (".2", 0.2)]
)
def test_plain_decimal_text_is_still_read_as_the_number_it_writes(text: str, lots: float) -> None:
    assert parse_order_params({**ORDER, "volume": text}).volume == lots


# ---- 2. hostile objects ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", HOSTILE_PARAMS.values(), ids=list(HOSTILE_PARAMS))
def test_hostile_objects_never_make_send_order_raise_and_reach_no_terminal(make: Any) -> None:
    client, spy = logged_in_client()
    params = make()

    with armed():
        result = client.send_order(params)

    assert type(result) is str
    # Either copied into plain values and sent (the simulated route), or refused unsent.
    if result.isdigit():
        assert broker_activity(client) != (0, 0, 0)
    else:
        assert result.startswith("invalid order params: "), result
        assert broker_activity(client) == (0, 0, 0)
    assert spy.trade_calls == 0  # backtest_toggle=True: MetaTrader5 is never touched


def test_a_hostile_str_is_copied_into_a_plain_str_before_anything_reads_it() -> None:
    raw = {**ORDER, "symbol": HostileStr("EURUSD"), "comment": HostileStr("mine")}
    with armed():
        params = parse_order_params(raw)
    assert type(params.symbol) is str
    assert params.symbol == "EURUSD"
    assert type(params.comment) is str
    assert params.comment == "mine"


def test_a_value_that_raises_while_read_is_refused_naming_its_key() -> None:
    raw = _pending(type_time="SPECIFIED", expiration=datetime(2030, 1, 1, tzinfo=HostileZone()))
    with armed():
        problems = order_problems(raw)
    assert problems == ["expiration: could not be read (Hostile)"]


# ---- 3. the limits of a spec ----------------------------------------------------------------------
def nested(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"op": "gt", "left": "fast", "right": "slow"}
    for _ in range(depth):
        condition = {"op": "not", "condition": condition}
    return condition


@pytest.mark.parametrize("as_text", [False, True], ids=["dict", "json text"])
def test_a_condition_nested_500_deep_is_refused_naming_the_depth_limit(as_text: bool) -> None:
    data = spec_with(long_entry=nested(500))

    problems = spec_problems(json.dumps(data) if as_text else data)

    assert len(problems) == 1
    assert problems[0].startswith("long_entry.condition.condition")
    assert problems[0].endswith("nested more than 32 levels deep (objects and arrays)")


def test_a_condition_nested_within_the_limit_is_valid() -> None:
    assert parse_spec(spec_with(long_entry=nested(12))).long_entry is not None


def test_a_5000_digit_number_is_refused_naming_the_field_and_the_digit_limit() -> None:
    text = json.dumps(spec_with(magic=1)).replace('"magic": 1', '"magic": ' + "7" * 5000)

    assert spec_problems(text) == ["magic: a number of 5000 digits; at most 40 digits"]
    assert spec_problems(spec_with(magic=10**5000)) == [
        "magic: a number of more than 40 digits; at most 40 digits"
    ]


def indicators(count: int) -> list[dict[str, Any]]:
    return [{"id": f"ma{i}", "kind": "sma", "params": {"period": 2 + i % 50}} for i in range(count)]


def test_more_indicators_than_the_limit_are_refused_naming_the_limit() -> None:
    data = spec_with(indicators=[*MA_CROSS["indicators"], *indicators(63)])  # 65

    assert spec_problems(data) == ["indicators: 65 indicators; at most 64"]


def test_more_conditions_in_one_all_than_the_limit_are_refused_naming_the_limit() -> None:
    wide = {
        "op": "all",
        "conditions": [{"op": "gt", "left": "close", "right": i} for i in range(65)],
    }

    assert spec_problems(spec_with(long_entry=wide)) == [
        "long_entry.conditions: 65 conditions in one all/any; at most 64"
    ]


def test_more_values_in_all_than_the_limit_are_refused_naming_the_limit() -> None:
    data = spec_with(filters={"weekdays": ["mon"] * 6000})

    assert spec_problems(data) == [
        "filters.weekdays: 6000 items; a spec has at most 5000 values in all"
    ]


def test_a_spec_text_over_the_size_limit_is_refused_before_it_is_parsed() -> None:
    text = json.dumps(MA_CROSS, indent=300_000)  # valid JSON, nearly all of it spaces

    problems = spec_problems(text)

    assert len(problems) == 1
    assert problems[0].startswith("spec: ")
    assert problems[0].endswith("bytes is more than a spec may be (at most 262144 bytes)")


def test_20000_indicators_and_a_100000_wide_all_are_refused_before_the_model_validates_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Validating them took 44 s and 3.4 GB, and 62 s and 8.2 GB: the form limits come first,
    so the model's validation never sees them (and a generous clock guards the 44 s)."""
    wide = {"op": "all", "conditions": [{"op": "gt", "left": "close", "right": 1.0}] * 100_000}
    huge = [spec_with(indicators=indicators(20_000)), spec_with(long_entry=wide)]

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model validated a spec the form limits should have refused")

    monkeypatch.setattr(StrategySpec, "model_validate", never)
    for data in [*huge, *(json.dumps(d) for d in huge)]:
        started = time.perf_counter()
        problems = spec_problems(data)
        assert time.perf_counter() - started < 10.0
        assert len(problems) == 1
        assert "at most" in problems[0]


def test_a_utf16_spec_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "windows.json"
    path.write_bytes(json.dumps(spec_with(name="Croisement de moyennes, été")).encode("utf-16"))

    result = runner.invoke(app, ["validate", str(path)])

    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0, result.output
    assert "valid: Croisement de moyennes, été" in result.output


def test_a_spec_file_in_latin_1_is_refused_naming_the_file_and_the_encoding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(json.dumps(spec_with(name="été"), ensure_ascii=False).encode("latin-1"))

    result = runner.invoke(app, ["validate", str(path)])

    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert str(path) in output.replace(" ", "") or path.name in output
    assert "encoding: the text is not valid UTF-8" in output
    assert "save the spec as UTF-8" in output


def test_a_spec_file_over_the_size_limit_is_refused_without_reading_it_all(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(MA_CROSS, indent=300_000), encoding="utf-8")

    result = runner.invoke(app, ["validate", str(path)])

    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "at most 262144 bytes" in " ".join(result.output.split())


# ---- 4. distances, and the backtest refusing what send_order refuses ----------------------------
def test_a_stop_of_1e300_pips_is_refused_naming_the_field_and_the_limit() -> None:
    data = spec_with(exits={"stop_loss": {"kind": "pips", "value": 1e300}})

    assert spec_problems(data) == [
        "exits.stop_loss.value: Input should be less than or equal to 100000"
    ]


def _far(pips: float) -> dict[str, dict[str, Any]]:
    """Specs with one distance ``pips`` away, by the path that holds it."""
    stop = {"stop_loss": {"kind": "pips", "value": 30}}
    limit_entry = {"order": "limit", "offset_pips": pips}
    return {
        "exits.stop_loss.value": {"exits": {"stop_loss": {"kind": "pips", "value": pips}}},
        "exits.take_profit.value": {
            "exits": {**stop, "take_profit": {"kind": "pips", "value": pips}}
        },
        "exits.trailing_stop.distance": {"exits": {**stop, "trailing_stop": {"distance": pips}}},
        "exits.trailing_stop.activate_after_pips": {
            "exits": {**stop, "trailing_stop": {"distance": 20, "activate_after_pips": pips}}
        },
        "exits.break_even.trigger_pips": {"exits": {**stop, "break_even": {"trigger_pips": pips}}},
        "entry.offset_pips": {"entry": limit_entry},
        "entry.limit_offset_pips": {
            "entry": {"order": "stop_limit", "offset_pips": 5, "limit_offset_pips": pips}
        },
        "entry.anchor.offset_pips": {
            "entry": {
                **limit_entry,
                "offset_pips": 5,
                "anchor": {"series": "slow", "offset_pips": -pips},
            }
        },
        "long_entry.left.offset_pips": {
            "long_entry": {
                "op": "gt",
                "left": {"series": "close", "offset_pips": pips},
                "right": "slow",
            }
        },
        "filters.max_spread_pips": {"filters": {"max_spread_pips": pips}},
    }


@pytest.mark.parametrize(
    ("symbol", "limit_pips", "lowest"),
    [("EURUSD", 8200, 0.82), ("USDJPY", 7500, 75), ("XAUUSD", 2500, 250), ("GBPJPY.m", 11600, 116)],
)
@pytest.mark.parametrize("path", list(_far(1)))
def test_a_distance_that_reaches_zero_price_is_refused_naming_the_field_and_the_limit(
    path: str, symbol: str, limit_pips: float, lowest: float
) -> None:
    data = spec_with(symbols=[symbol], **_far(limit_pips)[path])

    assert spec_problems(data) == [
        f"{path}: {'-' if 'anchor' in path else ''}{limit_pips} pips reaches zero price on "
        f"{symbol}: its lowest price since 2000, {lowest:g}, is {limit_pips} pips; give less "
        f"than {limit_pips} pips"
    ]


@pytest.mark.parametrize("path", list(_far(1)))
def test_a_distance_just_inside_the_limit_is_valid(path: str) -> None:
    assert isinstance(parse_spec(spec_with(**_far(8199)[path])), StrategySpec)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"exits": {"stop_loss": {"kind": "atr", "value": 101, "atr": "atr14"}}},
            "exits.stop_loss.value: 101 ATRs is too far; at most 100 ATRs",
        ),
        (
            {
                "exits": {
                    "stop_loss": {"kind": "pips", "value": 30},
                    "trailing_stop": {"kind": "atr", "distance": 150, "atr": "atr14"},
                }
            },
            "exits.trailing_stop.distance: 150 ATRs is too far; at most 100 ATRs",
        ),
        (
            {
                "exits": {
                    "stop_loss": {"kind": "pips", "value": 30},
                    "take_profit": {"kind": "risk_reward", "value": 1000},
                }
            },
            "exits.take_profit.value: a target 1000 times the stop's distance is too far; at most 100",
        ),
        (
            {
                "exits": {
                    "stop_loss": {"kind": "pips", "value": 30},
                    "take_profit": {"kind": "percent", "value": 100},
                }
            },
            "exits.take_profit.value: a target 100.0% away is not a target; give less than 50%",
        ),
        (
            {
                "long_entry": {
                    "op": "gt",
                    "left": {"series": "close", "offset_atr": 1000, "atr": "atr14"},
                    "right": "slow",
                }
            },
            "long_entry.gt.left.Ref.offset_atr: Input should be less than or equal to 100",
        ),
    ],
    ids=["atr stop", "atr trail", "risk reward", "percent target", "atr offset"],
)
def test_multiples_of_atr_and_of_the_stop_are_bounded(
    changes: dict[str, Any], problem: str
) -> None:
    data = spec_with(**changes)
    data["indicators"] = [*data["indicators"], {"id": "atr14", "kind": "atr"}]

    assert spec_problems(data) == [problem]


def _book() -> tuple[SimBroker, int]:
    broker = SimBroker([symbol_spec("EURUSD")], account=AccountConfig(balance=10_000))
    broker.set_quote("EURUSD", 1_717_400_000.0, 1.10000, 1.10012)
    bought = broker.send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "type": mt5.ORDER_TYPE_BUY,
            "volume": 0.1,
            "type_filling": mt5.ORDER_FILLING_FOK,
            "magic": 77,
        }
    )
    assert bought.retcode == mt5.TRADE_RETCODE_DONE
    return broker, bought.order


ROWS = {
    "a buy with its stop below zero price": (decide.KIND_BUY, 0, 0.1, math.nan, -0.4, 1.2, "sl"),
    "a sell with its target below zero price": (
        decide.KIND_SELL,
        0,
        0.1,
        math.nan,
        1.2,
        -0.4,
        "tp",
    ),
    "a buy limit at a price below zero": (
        decide.KIND_BUY_LIMIT,
        0,
        0.1,
        -0.5,
        math.nan,
        math.nan,
        "price",
    ),
    "a stop moved below zero price": (
        decide.KIND_MODIFY,
        -1,
        math.nan,
        math.nan,
        -0.7,
        math.nan,
        "sl",
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=list(ROWS))
def test_the_backtest_loop_refuses_a_price_below_zero_as_send_order_refuses_it(row: Any) -> None:
    kind, position, volume, price, sl, tp, field = row
    broker, ticket = _book()
    row_i = np.array([kind, ticket if position else 0, 0, 0], dtype=np.int64)
    row_f = np.array([volume, price, math.nan, sl, tp])
    cfg = np.zeros(loop.G_COUNT, dtype=np.int64)
    cfg[loop.G_SYMBOL] = broker.symbol_index("EURUSD")
    cfg[loop.G_MAGIC] = 77
    cfg[loop.G_COMMENT] = broker.text_id("nl_trader")
    cfg[loop.G_NO_COMMENT] = broker.text_id("")
    req_i, req_f = np.zeros(kernel.RI_COUNT, dtype=np.int64), np.zeros(kernel.RF_COUNT)

    refusal = loop.prepare_row(broker.state, cfg, row_i, row_f, req_i, req_f)
    assert refusal != 0, "the row would reach the broker"

    (params,) = decide.decode_rows(
        {"backtest_toggle": True, "symbol": "EURUSD", "magic": 77, "comment": "nl_trader"},
        row_i[None, :],
        row_f[None, :],
        1,
    )
    with pytest.raises(OrderParamsError) as route:
        parse_order_params(params)
    assert (
        refusal
        == loop.PREP_PRICE - {"price": kernel.R_PRICE, "sl": kernel.R_SL, "tp": kernel.R_TP}[field]
    )
    value = {"price": price, "sl": sl, "tp": tp}[field]
    assert refusal_message(refusal, value, broker.spec("EURUSD")) == str(route.value)


def wide_bars(count: int = 600) -> pd.DataFrame:
    """EURUSD-like H1 bars around 1.10 whose ranges are 0.06 wide: an ATR near 0.06, so a stop
    30 ATRs from a long entry lies below zero price."""
    index = pd.date_range("2024-03-04", periods=count, freq="h", tz="UTC")
    close = 1.10 + 0.12 * np.sin(np.arange(count) / 9.0)
    opens = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame(
        {
            "open": opens.round(5),
            "high": (np.maximum(opens, close) + 0.03).round(5),
            "low": (np.minimum(opens, close) - 0.03).round(5),
            "close": close.round(5),
            "spread": np.full(count, 10.0),
        },
        index=index,
    )


def route_replay(spec: StrategySpec, bars: pd.DataFrame) -> tuple[list[str], list[Any]]:
    """What the send_order route answers to each order the strategy sends, bar by bar (a
    refusal is send_order's answer, as in a paper session), and the broker's deals."""
    strategy = compile_strategy(spec)
    broker = SimBroker(account=AccountConfig(balance=100_000))
    route = SimulatedRoute(broker, replay=None)
    signals = strategy.prepare(bars)
    refused: list[str] = []
    columns = [bars[c].to_numpy() for c in ("open", "high", "low", "close")]
    for i in range(len(bars)):
        broker.on_bar(
            "EURUSD",
            float(signals.time_s[i]),
            strategy.timeframe_s,
            *(c[i] for c in columns),
            float(signals.spread_points[i]),
        )
        book = book_from_records(
            equity=broker.equity,
            positions=[p.as_dict() for p in broker.positions.values()],
            orders=[o.as_dict() for o in broker.orders.values()],
            symbol="EURUSD",
            magic=spec.magic,
            value_per_price=broker.calc_profit(0, "EURUSD", 1.0, 1.0, 2.0),
        )
        for params in strategy.decide(i, signals, book):
            try:
                reply = route.submit(parse_order_params(params))
            except OrderParamsError as error:
                reply = str(error)
            if not reply.isdigit():
                refused.append(reply)
    return refused, [deal.as_dict() for deal in broker.deals[1:]]


def deal_key(deal: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        deal["time"],
        deal["type"],
        deal["entry"],
        deal["volume"],
        deal["price"],
        deal["profit"],
    )


def test_a_backtest_refuses_exactly_the_orders_the_send_order_route_refuses() -> None:
    """A stop 30 ATRs below a long entry lies below zero: send_order refuses every such entry
    (as a paper session does); the backtest must refuse the same ones, not fill them."""
    spec = parse_spec(
        spec_with(
            indicators=[
                {"id": "fast", "kind": "sma", "params": {"period": 5}},
                {"id": "slow", "kind": "sma", "params": {"period": 20}},
                {"id": "atr14", "kind": "atr", "params": {"period": 14}},
            ],
            exits={"stop_loss": {"kind": "atr", "value": 30, "atr": "atr14"}},
            filters={"weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        )
    )
    bars = wide_bars()

    result = run_backtest(
        spec,
        bars,
        settings=BacktestSettings(
            fill="close", intrabar="ohlc", deposit=100_000, server_timezone="UTC"
        ),
    )
    refused, deals = route_replay(spec, bars)

    assert len(refused) >= 5
    assert all(
        r.startswith("invalid order params: sl: must be a price, or 0 for none") for r in refused
    )
    assert result.rejected == refused
    end_of_test = result.end_of_test_deals
    backtest_deals = [d for d in result.deals[1:] if d["ticket"] not in end_of_test]
    assert [deal_key(d) for d in backtest_deals] == [deal_key(d) for d in deals]
    assert all(order["sl"] >= 0 for order in result.orders)


# ---- 5. union errors name the alternative the input meant -------------------------------------
def test_bars_ago_beyond_1000_is_reported_on_bars_ago_not_on_the_number_alternative() -> None:
    data = spec_with(
        long_entry={"op": "gt", "left": {"series": "close", "bars_ago": 1001}, "right": "slow"}
    )

    assert spec_problems(data) == [
        "long_entry.gt.left.Ref.bars_ago: Input should be less than or equal to 1000"
    ]


def test_a_number_operand_that_is_not_finite_is_reported_on_the_number_alternative() -> None:
    data = spec_with(long_entry={"op": "gt", "left": "close", "right": math.inf})

    assert spec_problems(data) == ["long_entry.gt.right.float: Input should be a finite number"]


def test_an_operand_of_no_accepted_type_is_one_problem_saying_what_an_operand_is() -> None:
    data = spec_with(long_entry={"op": "gt", "left": "close", "right": [1.1]})

    assert spec_problems(data) == [
        'long_entry.gt.right: expected a number or a series (a name such as "close", or an '
        'object such as {"series": "close"}), got an array'
    ]


def test_an_indicator_parameter_of_no_accepted_type_is_one_problem() -> None:
    data = spec_with()
    data["indicators"][0]["params"]["period"] = {"value": 20}

    assert spec_problems(data) == [
        "indicators[0].params.period: expected a number or a text choice, got an object"
    ]


def test_a_refused_condition_inside_all_is_not_also_reported_as_an_empty_all() -> None:
    bad = {"op": "gt", "left": {"series": "close", "bars_ago": 5000}, "right": "slow"}
    data = spec_with(long_entry={"op": "all", "conditions": [bad]})

    assert spec_problems(data) == [
        "long_entry.all.conditions[0].gt.left.Ref.bars_ago: Input should be less than or equal "
        "to 1000"
    ]


# ---- 6. control characters in free text -----------------------------------------------------------
CONTROLS = {
    "ANSI colour": ("\x1b[31m", "an escape character", "U+001B"),
    "CSI": ("\x9b2J", "an escape character", "U+009B"),
    "bell": ("\x07", "a control character", "U+0007"),
    "line break": ("\n", "a control character", "U+000A"),
    "NUL": ("\x00", "a control character", "U+0000"),
    "C1 NEL": ("\x85", "a control character", "U+0085"),
    "right-to-left override": ("\u202e", "a bidirectional-text control", "U+202E"),
    "first-strong isolate": ("\u2068", "a bidirectional-text control", "U+2068"),
}
SPEC_TEXTS = {
    "name": lambda bad: spec_with(name=f"SMA{bad}cross"),
    "description": lambda bad: spec_with(description=f"Buy{bad} the cross"),
    "comment": lambda bad: spec_with(comment=f"nl{bad}"),
    "long_entry.left": lambda bad: spec_with(
        long_entry={"op": "crosses_above", "left": f"fast{bad}", "right": "slow"}
    ),
    "exits.timezone": lambda bad: spec_with(
        exits={**MA_CROSS["exits"], "close_at": "21:00", "timezone": f"UTC{bad}"}
    ),
    "exits": lambda bad: spec_with(exits={**MA_CROSS["exits"], f"note{bad}": 1}),
}


@pytest.mark.parametrize("where", list(SPEC_TEXTS))
@pytest.mark.parametrize("control", CONTROLS.values(), ids=list(CONTROLS))
def test_control_characters_in_any_spec_text_are_refused_naming_the_field(
    where: str, control: tuple[str, str, str]
) -> None:
    character, kind, code = control

    problems = spec_problems(SPEC_TEXTS[where](character))

    assert len(problems) == 1
    assert problems[0].startswith(f"{where}: ")
    assert f"contains {kind}, {code}" in problems[0]
    assert character not in problems[0]  # the message never carries it raw


@pytest.mark.parametrize("field", ["comment", "symbol"])
@pytest.mark.parametrize("control", CONTROLS.values(), ids=list(CONTROLS))
def test_control_characters_in_send_order_text_are_refused_naming_the_field(
    field: str, control: tuple[str, str, str]
) -> None:
    character, kind, code = control
    client, spy = logged_in_client()

    result = client.send_order({**ORDER, field: f"EUR{character}USD"})

    assert result.startswith(f"invalid order params: {field}: contains {kind}, {code}")
    assert character not in result
    assert broker_activity(client) == (0, 0, 0)
    assert spy.trade_calls == 0


def test_text_in_any_language_stays_valid_in_specs_and_orders() -> None:
    spec = parse_spec(
        spec_with(name="均線交叉 20/50", description="تقاطع المتوسطات\u200f، شراء", comment="訂單")
    )
    assert spec.name == "均線交叉 20/50"
    assert parse_order_params({**ORDER, "comment": "訂單 ☕ é"}).comment == "訂單 ☕ é"
