"""Properties of ``MAS.send_order`` over generated params (hypothesis).

* Malformed params never raise: ``send_order`` returns the error text, and nothing reaches the
  terminal (no ``order_check``, no ``order_send``) or the simulated broker (no new order).
* Valid params for any placing order type, priced from the current quote, never raise either, and
  backtest mode never touches the terminal.

The terminal double is ``SpyTerminal``: the package's ``FakeTerminal`` with the two trade calls
counted, every other attribute forwarded as is.
"""

from __future__ import annotations

import math
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nl_trader import mt5
from nl_trader.client import MAS
from nl_trader.errors import OrderParamsError
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.orders import PLACING_TYPES, OrderParams, parse_order_params

LOGIN = {"account": 5000001, "password": "x", "server": "nl_trader-Sim"}
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
FIELDS = tuple(OrderParams.model_fields)
REQUIRED = ("backtest_toggle", "symbol", "order_type")


class SpyTerminal:
    """A FakeTerminal whose ``order_check``/``order_send`` calls are recorded."""

    def __init__(self, terminal: FakeTerminal) -> None:
        self.terminal = terminal
        self.checked: list[Any] = []
        self.sent: list[Any] = []

    def order_check(self, *args: Any, **kwargs: Any) -> Any:
        self.checked.append(args[0] if args else kwargs.get("request"))
        return self.terminal.order_check(*args, **kwargs)

    def order_send(self, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(args[0] if args else kwargs.get("request"))
        return self.terminal.order_send(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.terminal, name)

    @property
    def trade_calls(self) -> int:
        return len(self.checked) + len(self.sent)


def logged_in_client() -> tuple[MAS, SpyTerminal]:
    """A MAS client on a spied fake terminal, logged in, with its simulator already made."""
    spy = SpyTerminal(FakeTerminal.with_sample())
    client = MAS(terminal=spy)
    client.login(LOGIN)
    assert client.simulator.broker.quote("EURUSD") is not None
    return client, spy


def broker_activity(client: MAS) -> tuple[int, int, int]:
    broker = client.simulator.broker
    return len(broker.orders), len(broker.history_orders), len(broker.positions)


# ---- strategies: values that break the contract whatever the other fields say --------------------
# Every field refuses each of these: no field takes a non-finite or negative number, a number
# beyond float range, bytes, a container, or a long run of letters (no number, name or date).
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
negative = st.integers(max_value=-1) | st.floats(max_value=-1e-6, allow_infinity=False)
beyond_float = st.integers(min_value=10**309, max_value=10**320).flatmap(
    lambda n: st.sampled_from([n, -n])
)
containers = (
    st.lists(st.integers(0, 5), max_size=3)
    | st.dictionaries(st.text(max_size=4), st.integers(0, 5), max_size=2)
    | st.tuples(st.floats(0.01, 1.0))
    | st.frozensets(st.integers(0, 3), max_size=2)
)
letters = st.text(alphabet="abcdgjkqwxyz", min_size=30, max_size=300)
always_bad = non_finite | negative | beyond_float | st.binary(max_size=8) | containers | letters

# Values a field refuses on its own account (in addition to ``always_bad``).
_NOT_BOOL = always_bad | st.none() | st.integers(0, 1) | st.text(max_size=5)
_TEXT_CODES = st.integers(min_value=0, max_value=2**40) | st.floats(0, 1e6, allow_nan=False)
BAD_VALUE: dict[str, st.SearchStrategy[Any]] = {
    "backtest_toggle": _NOT_BOOL,
    "symbol": always_bad
    | st.none()
    | st.booleans()
    | _TEXT_CODES
    | st.sampled_from(["", "   ", "\t"])
    | st.text(alphabet="ABCDEFXYZ.", min_size=30, max_size=80),
    "order_type": always_bad
    | st.none()
    | st.booleans()
    | st.integers(min_value=9, max_value=2**70)
    | st.floats(0, 8)
    | st.sampled_from(["buy_limt", "purchase", "market", "BUYY", "short", ""]),
    "volume": always_bad | st.booleans() | st.just(0) | st.just(0.0) | st.just("0"),
    "price": always_bad | st.booleans() | st.just(0) | st.just(0.0),
    "stoplimit": always_bad | st.booleans() | st.just(0.0),
    "sl": always_bad | st.booleans() | st.just("tight"),
    "tp": always_bad | st.booleans() | st.just("wide"),
    "deviation": always_bad
    | st.none()
    | st.booleans()
    | st.integers(min_value=2**64, max_value=2**80)
    | st.floats(0.1, 0.9),
    "magic": always_bad | st.none() | st.booleans() | st.integers(min_value=2**64),
    "comment": always_bad
    | st.none()
    | st.booleans()
    | _TEXT_CODES
    | st.text(min_size=30, max_size=60)
    | st.text(min_size=15, max_size=20).map(lambda text: text + "\U0001f4c8" * 8),
    "type_time": always_bad
    | st.none()
    | st.booleans()
    | st.integers(min_value=4, max_value=2**40)
    | st.sampled_from(["NEVER", "ORDER_TIME_WEEK", "GTD"]),
    "type_filling": always_bad
    | st.none()
    | st.booleans()
    | st.integers(min_value=4, max_value=2**40)
    | st.sampled_from(["ALL", "ORDER_FILLING_ANY", "FAK"]),
    "expiration": always_bad
    | st.booleans()
    | st.just(0)
    | st.integers(min_value=2**63, max_value=2**70)
    | st.sampled_from(["tomorrow", "31/12/2030", "2030-13-01"])
    | st.dates(),
    "position": always_bad | st.booleans() | st.just(0) | st.floats(0.1, 0.9),
    "position_by": always_bad | st.booleans() | st.just(0) | st.integers(min_value=2**64),
    "order": always_bad | st.booleans() | st.just(0) | st.floats(1.1, 1.9),
}
assert set(BAD_VALUE) == set(FIELDS)

# Anything at all: may happen to be valid for a field, or not.
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**60, max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=8)
    | st.datetimes()
    | st.dates()
    | st.sampled_from(["buy", "sell_stop_limit", "EURUSD", "IOC", "SPECIFIED", "0.1", "1e9"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
unknown_keys = st.text(min_size=1, max_size=20).filter(
    lambda key: key not in FIELDS
) | st.sampled_from(
    ["stop_loss", "take_profit", "lots", "type", "expiry", "ticket", "Symbol", "VOLUME"]
)
non_text_keys = st.integers() | st.tuples(st.integers(), st.integers()) | st.none() | st.floats()


@st.composite
def malformed_params(draw: st.DrawFn, backtest_toggle: bool | None = None) -> dict[Any, Any]:
    """A sensible order plus random noise, then at least one change that breaks the contract.

    With ``backtest_toggle`` given, the noise leaves that key alone (a break may still drop it).
    """
    params: dict[Any, Any] = {
        "backtest_toggle": draw(st.booleans()) if backtest_toggle is None else backtest_toggle,
        "symbol": "EURUSD",
        "order_type": draw(st.sampled_from(PLACING_TYPES)),
        "volume": 0.1,
    }
    noisy = FIELDS if backtest_toggle is None else FIELDS[1:]
    for field in draw(st.lists(st.sampled_from(noisy), max_size=4, unique=True)):
        params[field] = draw(anything)
    breaks = draw(
        st.lists(
            st.sampled_from(["missing", "unknown_key", "non_text_key", "bad_value"]),
            min_size=1,
            max_size=3,
        )
    )
    for kind in breaks:
        if kind == "missing":
            params.pop(draw(st.sampled_from(REQUIRED)), None)
        elif kind == "unknown_key":
            params[draw(unknown_keys)] = draw(anything)
        elif kind == "non_text_key":
            params[draw(non_text_keys)] = draw(anything)
        else:
            field = draw(st.sampled_from(FIELDS))
            params[field] = draw(BAD_VALUE[field])
    return params


arbitrary_params = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=12) | non_text_keys, anything, max_size=10
)
not_a_dict = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.lists(st.tuples(st.sampled_from(FIELDS), anything), max_size=4)
    | st.tuples(st.text(max_size=5))
    | st.binary(max_size=5)
)


# ---- (a) malformed params ----------------------------------------------------------------------
def test_malformed_params_return_the_error_text_and_reach_neither_terminal_nor_simulator() -> None:
    client, spy = logged_in_client()

    @PROPERTY_SETTINGS
    @given(params=malformed_params())
    def check(params: dict[Any, Any]) -> None:
        with pytest.raises(OrderParamsError) as caught:
            parse_order_params(params)
        result = client.send_order(params)
        assert isinstance(result, str)
        assert result == str(caught.value)
        assert result.startswith("invalid order params: ")
        assert spy.checked == []
        assert spy.sent == []
        assert broker_activity(client) == (0, 0, 0)

    check()


def test_malformed_backtest_params_never_give_the_simulated_broker_an_order() -> None:
    client, spy = logged_in_client()

    @PROPERTY_SETTINGS
    @given(params=malformed_params(backtest_toggle=True))
    def check(params: dict[Any, Any]) -> None:
        result = client.send_order(params)
        assert isinstance(result, str)
        assert result.startswith("invalid order params: ")
        assert client.simulator.broker.orders == {}
        assert client.simulator.broker.history_orders == {}
        assert spy.trade_calls == 0

    check()


def test_params_that_are_not_a_dict_are_answered_with_text_and_never_sent() -> None:
    client, spy = logged_in_client()

    @PROPERTY_SETTINGS
    @given(params=not_a_dict)
    def check(params: Any) -> None:
        result = client.send_order(params)
        assert isinstance(result, str)
        assert result.startswith("invalid order params: params: expected a dict")
        assert spy.trade_calls == 0
        assert broker_activity(client) == (0, 0, 0)

    check()


def test_arbitrary_dicts_never_raise_and_invalid_ones_change_nothing() -> None:
    client, spy = logged_in_client()

    @PROPERTY_SETTINGS
    @given(params=arbitrary_params)
    def check(params: dict[Any, Any]) -> None:
        try:
            parse_order_params(params)
        except OrderParamsError:
            valid = False
        else:
            valid = True
        calls_before, activity_before = spy.trade_calls, broker_activity(client)
        result = client.send_order(params)
        assert isinstance(result, str)
        if not valid:
            assert result.startswith("invalid order params: ")
            assert spy.trade_calls == calls_before
            assert broker_activity(client) == activity_before

    check()


# ---- (b) valid params ----------------------------------------------------------------------------
PIP = 0.0001


@st.composite
def valid_eurusd_params(draw: st.DrawFn, bid: float, ask: float, now: datetime) -> dict[str, Any]:
    """A placing order on EURUSD whose prices sit on the right sides of the current quote."""
    order_type = draw(st.sampled_from(PLACING_TYPES))
    distance = draw(st.integers(5, 300)) * PIP
    is_buy = order_type.startswith("buy")
    params: dict[str, Any] = {
        "backtest_toggle": draw(st.booleans()),
        "symbol": "EURUSD",
        "order_type": draw(
            st.sampled_from([order_type, order_type.upper(), f"ORDER_TYPE_{order_type.upper()}"])
        ),
        "volume": draw(st.integers(1, 20)) / 100,
    }
    entry = ask if is_buy else bid
    if order_type in ("buy_limit", "sell_stop"):
        entry = (ask if is_buy else bid) - distance
    elif order_type in ("sell_limit", "buy_stop"):
        entry = (ask if is_buy else bid) + distance
    elif order_type == "buy_stop_limit":
        params["price"] = round(ask + distance, 5)
        entry = params["price"] - draw(st.integers(0, 50)) * PIP
    elif order_type == "sell_stop_limit":
        params["price"] = round(bid - distance, 5)
        entry = params["price"] + draw(st.integers(0, 50)) * PIP
    entry = round(entry, 5)
    if order_type.endswith("stop_limit"):
        params["stoplimit"] = entry
    elif order_type not in ("buy", "sell"):
        params["price"] = entry
    # Levels: measured from the entry, and from the far side of the spread for market orders.
    sl_distance = draw(st.integers(10, 400)) * PIP + (ask - bid)
    tp_distance = draw(st.integers(10, 400)) * PIP + (ask - bid)
    sign = -1 if is_buy else 1
    if draw(st.booleans()):
        params["sl"] = round(entry + sign * sl_distance, 5)
    if draw(st.booleans()):
        params["tp"] = round(entry - sign * tp_distance, 5)
    if draw(st.booleans()):
        params["deviation"] = draw(st.integers(0, 1000))
    if draw(st.booleans()):
        params["magic"] = draw(st.integers(0, 2**64 - 1))
    if draw(st.booleans()):
        params["comment"] = draw(st.text(alphabet=string.ascii_letters + " -_", max_size=29))
    if draw(st.booleans()):
        params["type_filling"] = draw(
            st.sampled_from(["FOK", "IOC", "RETURN", mt5.ORDER_FILLING_FOK, "ORDER_FILLING_IOC"])
        )
    if order_type not in ("buy", "sell") and draw(st.booleans()):
        params["type_time"] = draw(st.sampled_from(["SPECIFIED", mt5.ORDER_TIME_SPECIFIED_DAY]))
        params["expiration"] = now + timedelta(hours=draw(st.integers(1, 24 * 30)))
    return params


@pytest.mark.parametrize("backtest", [True, False], ids=["simulated", "live"])
def test_valid_params_priced_from_the_quote_never_raise(backtest: bool) -> None:
    client, spy = logged_in_client()
    if backtest:
        quote = client.simulator.broker.quote("EURUSD")
        assert quote is not None
        bid, ask, time_s = float(quote.bid), float(quote.ask), float(quote.time_s)
    else:
        tick = spy.symbol_info_tick("EURUSD")
        bid, ask, time_s = float(tick.bid), float(tick.ask), float(tick.time)
    now = datetime.fromtimestamp(time_s, UTC).replace(tzinfo=None)

    @PROPERTY_SETTINGS
    @given(params=valid_eurusd_params(bid, ask, now))
    def check(params: dict[str, Any]) -> None:
        params["backtest_toggle"] = backtest
        parse_order_params(params)  # the generator makes valid params only
        checks_before, sends_before = len(spy.checked), len(spy.sent)
        result = client.send_order(params)
        assert isinstance(result, str)
        assert result.isdigit() or result.startswith("rejected: retcode"), result
        if backtest:  # the simulated route never touches MetaTrader5
            assert (len(spy.checked), len(spy.sent)) == (checks_before, sends_before)
        else:  # every valid live order is checked once before anything is sent
            assert len(spy.checked) == checks_before + 1
            assert len(spy.sent) - sends_before in (0, 1)

    check()


# ---- the canonical fast path of parse_order_params agrees with full validation ------------------
_ODD_VALUES: dict[str, list[Any]] = {
    "backtest_toggle": [1, "yes"],
    "symbol": [" EURUSD", "", "EURUSD" * 6, "歐元"],
    "order_type": ["BUY", "buyy", "close_by", "modify"],
    "volume": [0.0, -0.1, 1, np.float32(0.3), "0.1", True, float("nan"), float("inf")],
    "sl": [-0.5, 1, "1.0", float("inf")],
    "tp": [-0.0, np.float32(1.2), None],
    "price": [0.0, -1.0, 2, float("nan")],
    "deviation": [-1, 2**64, 10.0, True],
    "magic": [2**64, -5, 1.0],
    "comment": ["x" * 30, "訂單", 5],
    "type_time": [9, "GTC", True],
    "type_filling": [3, "IOC", 2.0],
    "position": [0, -1, None],
}


@st.composite
def _strategy_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A dict as a strategy emits it (market order, often with stops or a position to close),
    with at most one field made odd."""
    raw: dict[str, Any] = {
        "backtest_toggle": draw(st.booleans()),
        "symbol": draw(st.sampled_from(["EURUSD", "USDJPY.m"])),
        "order_type": draw(st.sampled_from(["buy", "sell"])),
        "volume": draw(st.sampled_from([0.1, 1.0, np.float64(0.2), 0.01])),
    }
    if draw(st.booleans()):
        raw["sl"] = draw(st.sampled_from([0.0, 1.05, np.float64(1.0)]))
        raw["tp"] = draw(st.sampled_from([0.0, 1.2, np.float64(1.3)]))
    elif draw(st.booleans()):
        raw["position"] = draw(st.sampled_from([1, 10000001]))
    for key, values in (
        ("magic", [0, 123456, 2**64 - 1]),
        ("comment", ["", "nl_trader", "x" * 29]),
        ("deviation", [0, 10]),
        ("type_time", [0, 1]),
        ("type_filling", [0, 1, 2]),
    ):
        if draw(st.booleans()):
            raw[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        key = draw(st.sampled_from(sorted(_ODD_VALUES)))
        raw[key] = draw(st.sampled_from(_ODD_VALUES[key]))
    return raw


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        params = run()
    except (OrderParamsError, ValueError):
        return "error", None
    return "ok", (params.model_dump(), params.model_fields_set, params.warnings)


@PROPERTY_SETTINGS
@given(_strategy_dicts(), st.booleans())
def test_fast_path_gives_the_same_params_or_refusal_as_full_validation(
    raw: dict[str, Any], strict: bool
) -> None:
    """Strategies' dicts skip the field validators; they must not change any outcome."""

    def full() -> OrderParams:
        try:
            return OrderParams.model_validate(
                dict(raw), context={"strict": strict, "server_utc_offset_s": 0}
            )
        except ValidationError as error:
            raise ValueError(str(error)) from None

    fast = _outcome(lambda: parse_order_params(raw, strict=strict))
    slow = _outcome(full)
    assert fast[0] == slow[0], (raw, fast, slow)
    if fast[0] == "ok":
        assert fast[1] == slow[1]
        assert all(type(value) is not np.float64 for value in fast[1][0].values())


_BASES: list[dict[str, Any]] = [
    {"backtest_toggle": True, "symbol": "EURUSD", "order_type": "buy", "volume": 0.1},
    {
        "backtest_toggle": True,
        "symbol": "EURUSD",
        "order_type": "sell",
        "volume": 0.1,
        "sl": 1.2,
        "tp": 1.0,
        "magic": 7,
        "comment": "nl_trader",
    },
    {"backtest_toggle": False, "symbol": "EURUSD", "order_type": "buy_limit", "price": 1.1},
]


@pytest.mark.parametrize(
    ("key", "odd"), [(key, odd) for key, values in _ODD_VALUES.items() for odd in values]
)
def test_each_odd_field_value_gets_the_same_outcome_on_both_paths(key: str, odd: Any) -> None:
    for base in _BASES:
        raw = {**base, key: odd}

        def full(raw: dict[str, Any] = raw) -> OrderParams:
            try:
                return OrderParams.model_validate(raw, context={"server_utc_offset_s": 0})
            except ValidationError as error:
                raise ValueError(str(error)) from None

        fast, slow = _outcome(lambda raw=raw: parse_order_params(raw)), _outcome(full)
        assert fast == slow, (raw, fast, slow)


# ---- (c) hostile objects: subclasses whose methods raise --------------------------------------
class HostileError(Exception):
    """What a hostile object's methods raise once armed."""


_ARMED = [False]
HOSTILE_METHODS: dict[type, tuple[str, ...]] = {
    str: (
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
        "isdigit",
        "removeprefix",
        "replace",
        "startswith",
        "partition",
        "split",
    ),
    int: ("__int__", "__index__", "__repr__", "__eq__", "__hash__", "__format__", "__lt__"),
    float: ("__float__", "__repr__", "__eq__", "__hash__", "__format__", "__lt__", "is_integer"),
    dict: ("keys", "get", "items", "values", "__iter__", "__getitem__", "__len__", "__contains__"),
}
_HOSTILE_TYPES: dict[tuple[type, tuple[str, ...]], type] = {}


def hostile_type(base: type, names: tuple[str, ...]) -> type:
    """A subclass of ``base`` whose methods ``names`` raise ``HostileError`` while armed (they
    behave while hypothesis builds the params: a dict hashes its keys)."""
    key = (base, names)
    if key not in _HOSTILE_TYPES:

        def raising(name: str) -> Any:
            original = getattr(base, name)

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                if _ARMED[0]:
                    raise HostileError(name)
                return original(self, *args, **kwargs)

            return method

        namespace = {name: raising(name) for name in names}
        namespace.setdefault("__hash__", base.__hash__)  # an __eq__ alone would unset it
        _HOSTILE_TYPES[key] = type(f"Hostile{base.__name__.title()}", (base,), namespace)
    return _HOSTILE_TYPES[key]


_HOSTILE_PAYLOADS: dict[type, st.SearchStrategy[Any]] = {
    str: st.sampled_from(["EURUSD", "buy", "sell_limit", "0.1", "IOC", "SPECIFIED", "", "x"])
    | st.text(max_size=12),
    int: st.integers(-5, 2**66),
    float: st.floats(),
    dict: st.dictionaries(st.text(max_size=3), st.integers(0, 5), max_size=2),
}


@st.composite
def hostile_values(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from(sorted(HOSTILE_METHODS, key=lambda kind: kind.__name__)))
    names = draw(st.lists(st.sampled_from(HOSTILE_METHODS[base]), min_size=1, unique=True))
    return hostile_type(base, tuple(sorted(names)))(draw(_HOSTILE_PAYLOADS[base]))


hostile_or_anything = hostile_values() | anything | st.lists(hostile_values(), max_size=2)
hostile_keys = st.builds(
    lambda kind, text: kind(text),
    st.lists(st.sampled_from(HOSTILE_METHODS[str]), min_size=1, unique=True).map(
        lambda names: hostile_type(str, tuple(sorted(names)))
    ),
    st.sampled_from(FIELDS) | st.text(max_size=8),
)


@st.composite
def hostile_params(draw: st.DrawFn) -> Any:
    """A sensible order, or a random dict, with hostile keys and values mixed in; sometimes
    the dict itself is a hostile subclass."""
    params: dict[Any, Any] = (
        {
            "backtest_toggle": draw(st.booleans() | hostile_values()),
            "symbol": draw(st.just("EURUSD") | hostile_values()),
            "order_type": draw(st.sampled_from(PLACING_TYPES) | hostile_values()),
            "volume": draw(st.just(0.1) | hostile_values()),
        }
        if draw(st.booleans())
        else {}
    )
    extra = draw(
        st.dictionaries(
            st.sampled_from(FIELDS) | hostile_keys | non_text_keys, hostile_or_anything, max_size=6
        )
    )
    for key, value in extra.items():
        params.setdefault(key, value)
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(HOSTILE_METHODS[dict]), min_size=1, unique=True))
        return hostile_type(dict, tuple(sorted(names)))(params)
    return params


FUZZ_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=1_000)


def test_random_params_with_hostile_objects_never_raise_and_invalid_ones_change_nothing(
    record_property: Any,
) -> None:
    client, spy = logged_in_client()
    counts = {"dicts": 0, "raised": 0, "refused": 0}

    @FUZZ_SETTINGS
    @given(params=hostile_params())
    def check(params: Any) -> None:
        counts["dicts"] += 1
        calls_before, activity_before = spy.trade_calls, broker_activity(client)
        _ARMED[0] = True
        try:
            result = client.send_order(params)
        except BaseException:
            counts["raised"] += 1
            raise
        finally:
            _ARMED[0] = False
        assert type(result) is str
        if result.startswith("invalid order params: "):
            counts["refused"] += 1
            assert spy.trade_calls == calls_before
            assert broker_activity(client) == activity_before

    check()
    for name, count in counts.items():
        record_property(f"fuzz_{name}", count)
    assert counts["raised"] == 0
    assert counts["dicts"] >= 1_000
    assert counts["refused"] > counts["dicts"] // 2  # most are refused, and said so
