"""A fake MetaTrader 5 terminal that behaves as the MetaTrader5 package does, filling through SimBroker.

It exposes the package's functions and constants, so code written for ``import MetaTrader5 as mt5``
runs against it unchanged. What it reproduces (mt5_api.md, "the ten gotchas"):

* ``last_error()`` is reset to ``(1, 'Success')`` by every call; before ``initialize()`` every call
  fails with ``(-10004, 'No IPC connection')``; ``shutdown()`` always returns True.
* Results are struct sequences with ``_asdict()`` (no ``_fields``); collections are tuples, empty as
  ``()``; bars are read-only numpy arrays with the package's packed dtype.
* Calling conventions: symbol/copy/calc functions are positional-only (keywords raise TypeError);
  ``positions_get``/``orders_get`` are keyword-only (``None`` + "Unnamed arguments not allowed");
  ``ticket=`` beats ``symbol=`` beats ``group=``; ``history_deals_get(ticket=)`` takes an order ticket.
* Strict request typing: float fields must be float (``{"volume": 1}`` -> ``None``, ``Invalid
  "volume" argument``), int fields int (``numpy.int64`` fails), ``expiration`` an int, symbol and
  comment at most 29 characters; unknown keys ignored; missing keys read as 0.
* Rejections are results with a retcode (10030 'Unsupported filling mode', 10016, 10014, ...),
  never ``None``; the Algo Trading button off gives 10027; the API switch off gives ``None`` + -8.
* Netting and hedging accounts, stops level, requotes on Instant-execution symbols, all from the
  simulated broker that also runs backtests.

Faults can be injected to test the executor: see ``inject_fault``.
"""

from __future__ import annotations

import fnmatch
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from nl_trader import mt5
from nl_trader.data.loaders import resample
from nl_trader.data.timezones import SourceZone
from nl_trader.live.structs import (
    RATES_DTYPE,
    TICKS_DTYPE,
    AccountInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
    read_only,
)
from nl_trader.sim.broker import AccountConfig, ExecutionModel, SimBroker
from nl_trader.sim.feed import BarReplay
from nl_trader.symbols import DEFAULT_SYMBOLS, SymbolSpec
from nl_trader.timeframes import TIMEFRAME_CODES, TIMEFRAME_MINUTES, epoch_seconds

_SUCCESS = (mt5.RES_S_OK, "Success")
_NO_IPC = (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
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
_TEXT_LIMIT = 29
_TIMEFRAME_NAMES = {code: name for name, code in TIMEFRAME_CODES.items()}
FAULTS = (
    "no_connection",
    "timeout_before_send",
    "timeout_after_send",
    "disconnect_after_reply",
    "autotrading_api_disabled",
    "requote",
    "price_changed",
    "partial_fill",
    "server_reject",
    "market_closed",
    "terminal_restart",
)
RANDOM_FAULTS = tuple(kind for kind in FAULTS if kind != "autotrading_api_disabled")
"""Faults a real link and trade server produce on their own (the API switch is the user's)."""


def _text_ok(value: object) -> bool:
    return isinstance(value, str) and len(value.encode("utf-16-le")) // 2 <= _TEXT_LIMIT


def _date_arg(value: object) -> int | None:
    """Date arguments: int, float (truncated) or datetime (via .timestamp()), as the package does."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, datetime):
        return int(value.timestamp())
    return None


class FakeTerminal:
    """The MetaTrader5 module's functions over a simulated broker and a bar replay.

    ``advance(bars)`` replays more bars, which is how time passes for a paper session. Its times
    are the trade server's, ``server_utc_offset_s`` ahead of UTC, as a terminal's are;
    ``server_zone``, when set, is the clock a backtest read these bars on (a paper session reads
    weekdays and hours on it, as the backtest did, daylight saving included).
    """

    __version__ = "5.0.6231"
    __author__ = "MetaQuotes Ltd."

    def __init__(
        self,
        broker: SimBroker,
        replay: BarReplay | None = None,
        *,
        credentials: Mapping[int, tuple[str, str]] | None = None,
        build: int = 4755,
        trade_allowed: bool = True,
        tradeapi_disabled: bool = False,
        server_utc_offset_s: int = 0,
    ) -> None:
        self.broker = broker
        self.replay = replay
        self.build = build
        self.trade_allowed = trade_allowed
        self.tradeapi_disabled = tradeapi_disabled
        self.server_utc_offset_s = server_utc_offset_s
        self.server_zone: SourceZone | None = None
        self._credentials = dict(credentials or {})
        self._connected = False
        self._logged_in = False
        self._error: tuple[int, str] = _SUCCESS
        self._selected = set(broker.symbols)
        self._faults: deque[str] = deque()
        self._random: tuple[random.Random, float, tuple[str, ...]] | None = None
        self.fault_counts: dict[str, int] = {}
        self.order_send_calls = 0  # how many requests reached the trade server (for fault tests)

    @classmethod
    def with_sample(
        cls,
        *,
        symbols: Iterable[SymbolSpec] | None = None,
        account: AccountConfig | None = None,
        execution: ExecutionModel | None = None,
        timeframe: str = "M5",
        warmup_bars: int = 600,
        bars: int = 5_000,
        server_utc_offset_s: int = 0,
        credentials: Mapping[int, tuple[str, str]] | None = None,
    ) -> FakeTerminal:
        """A fake terminal on the bundled sample, ``warmup_bars`` already replayed."""
        specs = list(symbols) if symbols is not None else list(DEFAULT_SYMBOLS.values())
        broker = SimBroker(specs, account=account, execution=execution)
        replay = BarReplay.sample(
            tuple(spec.name for spec in specs), timeframe, bars, time_offset_s=server_utc_offset_s
        )
        replay.step(broker, warmup_bars)
        return cls(broker, replay, credentials=credentials, server_utc_offset_s=server_utc_offset_s)

    # ---- the fake's own controls (not part of the MetaTrader5 API) --------------------------
    def advance(self, bars: int = 1) -> int:
        """Replay ``bars`` more bars into the broker; return how many were replayed."""
        return self.replay.step(self.broker, bars) if self.replay is not None else 0

    def inject_fault(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` ``order_send`` calls fail as a real connection can.

        ``no_connection``: the request never leaves and the connection is lost (None, -10004;
        every call fails so until ``initialize()``). ``timeout_before_send``: None, -10005, and
        the server never got it. ``timeout_after_send``: the server executes it but the reply is
        lost (None, -10005). ``disconnect_after_reply``: executed and answered, then the link
        drops (-10004 until ``initialize()``). ``autotrading_api_disabled``: (None, -8).
        ``requote`` / ``price_changed``: 10004 / 10020 with the current prices, nothing done.
        ``partial_fill``: an IOC market order fills about half its volume (10010), the rest is
        cancelled; FOK is refused whole (10006). ``server_reject``: 10006. ``market_closed``:
        10018. ``terminal_restart``: the terminal restarts before the request leaves: the link
        drops and Market Watch keeps only symbols with positions or orders.
        """
        if kind not in FAULTS:
            raise ValueError(f"kind: unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        self._faults.extend([kind] * times)

    def inject_random_faults(
        self, rng: random.Random, probability: float, kinds: Sequence[str] = RANDOM_FAULTS
    ) -> None:
        """From now on each ``order_send`` fails, with ``probability``, by one of ``kinds``
        drawn from ``rng``; ``fault_counts`` counts them by kind."""
        unknown = [kind for kind in kinds if kind not in FAULTS]
        if unknown or not 0 <= probability <= 1:
            raise ValueError(f"kinds {unknown} unknown or probability {probability} not in [0, 1]")
        self._random = (rng, probability, tuple(kinds))

    def stop_random_faults(self) -> None:
        self._random = None

    def restart(self) -> None:
        """The terminal restarts: the link drops until ``initialize()``; Market Watch keeps only
        the symbols with positions or orders; the trade server's state is untouched."""
        self._connected = False
        held = {p.symbol for p in self.broker.positions.values()}
        held |= {o.symbol for o in self.broker.orders.values()}
        self._selected = held

    def _next_fault(self) -> str | None:
        fault = self._faults.popleft() if self._faults else None
        if fault is None and self._random is not None:
            rng, probability, kinds = self._random
            if rng.random() < probability:
                fault = rng.choice(kinds)
        if fault is not None:
            self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
        return fault

    # ---- plumbing ----------------------------------------------------------------------------
    def _begin(self) -> bool:
        self._error = _SUCCESS
        if not self._connected:
            self._error = _NO_IPC
            return False
        return True

    def _fail(self, code: int, message: str) -> None:
        self._error = (code, message)

    def __getattr__(self, name: str) -> Any:
        # Constants: exactly the package's names (SYMBOL_FILLING_* are absent there, so here too).
        if name in mt5.CONSTANT_NAMES:
            return getattr(mt5, name)
        raise AttributeError(f"module 'MetaTrader5' has no attribute {name!r}")

    # ---- connection --------------------------------------------------------------------------
    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        self._error = _SUCCESS
        if len(args) > 1:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid number of arguments")
            return False
        path = args[0] if args else kwargs.get("path")
        if path is not None and not isinstance(path, str):
            self._fail(mt5.RES_E_INVALID_PARAMS, 'Invalid "path" argument')
            return False
        self._connected = True
        login = kwargs.get("login")
        if login:
            return self.login(login, kwargs.get("password"), kwargs.get("server"))
        return True

    def login(self, *args: Any, **kwargs: Any) -> bool:
        if not self._begin():
            return False
        names = ("login", "password", "server")
        values = dict(zip(names, args, strict=False))
        values.update({key: kwargs[key] for key in names if key in kwargs})
        login = values.get("login")
        if not isinstance(login, int):
            self._fail(mt5.RES_E_INVALID_PARAMS, 'Invalid "login" argument')
            return False
        for field in ("password", "server"):
            value = values.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > 254):
                self._fail(mt5.RES_E_INVALID_PARAMS, f'Invalid "{field}" argument')
                return False
        if self._credentials:
            expected = self._credentials.get(login)
            if (
                expected is None
                or expected[0] != values.get("password")
                or (values.get("server") not in (None, expected[1]))
            ):
                self._fail(mt5.RES_E_AUTH_FAILED, "Terminal: Authorization failed")
                return False
        self._logged_in = True
        return True

    def shutdown(self) -> bool:
        self._error = _SUCCESS
        self._connected = False
        return True

    def version(self) -> tuple[int, int, str] | None:
        if not self._begin():
            return None
        return (500, self.build, "13 Feb 2025")

    def last_error(self) -> tuple[int, str]:
        return self._error

    # ---- account and terminal ----------------------------------------------------------------
    def account_info(self) -> Any:
        if not self._begin():
            return None
        return AccountInfo.from_mapping(self.broker.account_info())

    def terminal_info(self) -> Any:
        if not self._begin():
            return None
        return TerminalInfo(
            connected=True,
            dlls_allowed=False,
            trade_allowed=self.trade_allowed,
            tradeapi_disabled=self.tradeapi_disabled,
            build=self.build,
            maxbars=100_000,
            codepage=0,
            ping_last=35_000,
            company=self.broker.account.company,
            name="MetaTrader 5",
            language="English",
            path="C:\\Program Files\\MetaTrader 5",
            data_path="C:\\Users\\trader\\AppData\\Roaming\\MetaQuotes\\Terminal\\FAKE",
            commondata_path="C:\\Users\\trader\\AppData\\Roaming\\MetaQuotes\\Terminal\\Common",
        )

    # ---- symbols -----------------------------------------------------------------------------
    def symbols_total(self) -> int | None:
        if not self._begin():
            return None
        return len(self.broker.symbols)

    def symbols_get(self, *args: Any, **kwargs: Any) -> tuple[Any, ...] | None:
        if not self._begin():
            return None
        group = args[0] if args else kwargs.get("group")
        names = list(self.broker.symbols)
        if group is not None:
            if not isinstance(group, str) or len(group) > 1998:
                self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
                return None
            names = [name for name in names if _group_match(name, group)]
        return tuple(self._symbol_info(name) for name in names)

    def _symbol_info(self, name: str) -> Any:
        spec = self.broker.symbols[name]
        quote = self.broker.quote(name)
        info = spec.as_symbol_info(
            bid=quote.bid if quote else 0.0,
            ask=quote.ask if quote else 0.0,
            time_s=int(quote.time_s) if quote else 0,
        )
        info["select"] = info["visible"] = name in self._selected
        tick_value = self._tick_value(spec)
        info.update(
            trade_tick_value=tick_value,
            trade_tick_value_profit=tick_value,
            trade_tick_value_loss=tick_value,
        )
        return SymbolInfo.from_mapping(info)

    def _tick_value(self, spec: SymbolSpec) -> float:
        try:
            return abs(
                self.broker.calc_profit(
                    mt5.ORDER_TYPE_BUY, spec.name, 1.0, 1.0, 1.0 + spec.trade_tick_size
                )
            )
        except Exception:
            return 0.0

    def symbol_info(self, symbol: str, /) -> Any:
        if not self._begin():
            return None
        if not _text_ok(symbol):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        if symbol not in self.broker.symbols:
            self._fail(mt5.RES_E_FAIL, "Terminal: Call failed")
            return None
        return self._symbol_info(symbol)

    def symbol_info_tick(self, symbol: str, /) -> Any:
        if not self._begin():
            return None
        if not _text_ok(symbol):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        quote = self.broker.quote(symbol)
        if symbol not in self._selected or quote is None:
            self._fail(mt5.RES_E_FAIL, "Terminal: Call failed")
            return None
        time_s = int(quote.time_s)
        return Tick(
            time=time_s,
            bid=quote.bid,
            ask=quote.ask,
            last=0.0,
            volume=0,
            time_msc=int(quote.time_s * 1000),
            flags=mt5.TICK_FLAG_BID | mt5.TICK_FLAG_ASK,
            volume_real=0.0,
        )

    def symbol_select(self, symbol: str, enable: bool = True, /) -> bool:
        if not self._begin():
            return False
        if not _text_ok(symbol):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return False
        if symbol not in self.broker.symbols:
            self._fail(mt5.RES_E_FAIL, "Terminal: Call failed")
            return False
        if enable:
            self._selected.add(symbol)
            return True
        if any(p.symbol == symbol for p in self.broker.positions.values()):
            self._fail(mt5.RES_E_FAIL, "Terminal: Call failed")
            return False
        self._selected.discard(symbol)
        return True

    def market_book_add(self, symbol: str, /) -> bool | None:
        # Terminal or IPC failures give False without setting last_error (mt5_api.md 2.3).
        self._error = _SUCCESS
        if not self._connected:
            return False
        return symbol in self.broker.symbols

    def market_book_release(self, symbol: str, /) -> bool | None:
        # Terminal or IPC failures give False without setting last_error (mt5_api.md 2.3).
        self._error = _SUCCESS
        if not self._connected:
            return False
        return symbol in self.broker.symbols

    def market_book_get(self, symbol: str, /) -> tuple[Any, ...] | None:
        if not self._begin():
            return None
        return ()

    # ---- bars and ticks ----------------------------------------------------------------------
    def _rates(self, symbol: object, timeframe: object) -> pd.DataFrame | None:
        if not isinstance(symbol, str) or not _text_ok(symbol) or not isinstance(timeframe, int):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        name = _TIMEFRAME_NAMES.get(timeframe)
        if name is None or self.replay is None or symbol not in self.replay.frames:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        frame = self.replay.replayed_bars(symbol).copy()
        # Server wall-clock times encoded as UTC, as the package gives them.
        frame.index = pd.to_datetime(self.replay.server_times(symbol), unit="s", utc=True)
        frame.attrs["timeframe"] = self.replay.timeframe
        if name == self.replay.timeframe:
            return frame
        base = TIMEFRAME_MINUTES[self.replay.timeframe]
        if TIMEFRAME_MINUTES[name] < base or (TIMEFRAME_MINUTES[name] % base and name != "MN1"):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        return resample(frame, name)

    def _to_array(self, frame: pd.DataFrame) -> np.ndarray:
        array = np.zeros(len(frame), dtype=RATES_DTYPE)
        array["time"] = epoch_seconds(frame.index)
        for column in ("open", "high", "low", "close"):
            array[column] = frame[column].to_numpy()
        array["tick_volume"] = frame["tick_volume"].to_numpy() if "tick_volume" in frame else 0
        array["spread"] = frame["spread"].to_numpy() if "spread" in frame else 0
        return read_only(array)

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: Any, count: int, /) -> Any:
        if not self._begin():
            return None
        frame = self._rates(symbol, timeframe)
        moment = _date_arg(date_from)
        if frame is None or moment is None or not isinstance(count, int):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        times = epoch_seconds(frame.index)
        frame = frame[times <= moment]
        return self._to_array(frame.iloc[-count:] if count > 0 else frame.iloc[:0])

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int, /
    ) -> Any:
        if not self._begin():
            return None
        frame = self._rates(symbol, timeframe)
        if frame is None or not isinstance(start_pos, int) or not isinstance(count, int):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        end = len(frame) - start_pos  # position 0 is the newest bar
        begin = max(0, end - count)
        return self._to_array(frame.iloc[begin : max(end, 0)])

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: Any, date_to: Any, /) -> Any:
        if not self._begin():
            return None
        frame = self._rates(symbol, timeframe)
        start, end = _date_arg(date_from), _date_arg(date_to)
        if frame is None or start is None or end is None:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        times = epoch_seconds(frame.index)
        return self._to_array(frame[(times >= start) & (times <= end)])

    def copy_ticks_from(self, symbol: str, date_from: Any, count: int, flags: int, /) -> Any:
        if not self._begin():
            return None
        # The replay holds bars, not ticks: an empty tick array of the package's dtype.
        return read_only(np.zeros(0, dtype=TICKS_DTYPE))

    def copy_ticks_range(self, symbol: str, date_from: Any, date_to: Any, flags: int, /) -> Any:
        if not self._begin():
            return None
        return read_only(np.zeros(0, dtype=TICKS_DTYPE))

    # ---- orders, positions, history ----------------------------------------------------------
    def orders_total(self) -> int | None:
        if not self._begin():
            return None
        return len(self.broker.orders)

    def positions_total(self) -> int | None:
        if not self._begin():
            return None
        return len(self.broker.positions)

    def _select(
        self,
        records: Iterable[Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        make: Callable[[Mapping[str, Any]], Any],
        ticket_field: str = "ticket",
    ) -> tuple[Any, ...] | None:
        if args:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Unnamed arguments not allowed")
            return None
        items = list(records)
        ticket, symbol, group = kwargs.get("ticket"), kwargs.get("symbol"), kwargs.get("group")
        if ticket is not None:
            if not isinstance(ticket, int):
                self._fail(mt5.RES_E_INVALID_PARAMS, 'Invalid "ticket" argument')
                return None
            items = [item for item in items if getattr(item, ticket_field) == ticket]
        elif symbol is not None:
            if not _text_ok(symbol):
                self._fail(mt5.RES_E_INVALID_PARAMS, 'Invalid "symbol" argument')
                return None
            items = [item for item in items if item.symbol == symbol]
        elif group is not None:
            if not isinstance(group, str):
                self._fail(mt5.RES_E_INVALID_PARAMS, 'Invalid "group" argument')
                return None
            items = [item for item in items if _group_match(item.symbol, group)]
        return tuple(make(item.as_dict()) for item in items)

    def positions_get(self, *args: Any, **kwargs: Any) -> tuple[Any, ...] | None:
        if not self._begin():
            return None
        return self._select(
            self.broker.positions.values(), args, kwargs, TradePosition.from_mapping
        )

    def orders_get(self, *args: Any, **kwargs: Any) -> tuple[Any, ...] | None:
        if not self._begin():
            return None
        return self._select(self.broker.orders.values(), args, kwargs, TradeOrder.from_mapping)

    def _history(
        self,
        records: list[Any],
        time_field: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        make: Callable[[Mapping[str, Any]], Any],
        ticket_field: str,
    ) -> tuple[Any, ...] | None:
        keyed = {key: kwargs[key] for key in ("ticket", "position") if key in kwargs}
        if args and keyed:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Unnamed arguments not allowed")
            return None
        if keyed:
            key, value = next(iter(keyed.items()))
            if not isinstance(value, int):
                self._fail(mt5.RES_E_INVALID_PARAMS, f'Invalid "{key}" argument')
                return None
            field = ticket_field if key == "ticket" else "position_id"
            return tuple(make(r.as_dict()) for r in records if getattr(r, field) == value)
        if len(args) != 2:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        start, end = _date_arg(args[0]), _date_arg(args[1])
        if start is None or end is None:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        chosen = [r for r in records if start <= getattr(r, time_field) <= end]
        group = kwargs.get("group")
        if isinstance(group, str):
            chosen = [r for r in chosen if _group_match(r.symbol, group)]
        return tuple(make(r.as_dict()) for r in chosen)

    def history_orders_get(self, *args: Any, **kwargs: Any) -> tuple[Any, ...] | None:
        if not self._begin():
            return None
        records = list(self.broker.history_orders.values())
        return self._history(records, "time_setup", args, kwargs, TradeOrder.from_mapping, "ticket")

    def history_deals_get(self, *args: Any, **kwargs: Any) -> tuple[Any, ...] | None:
        if not self._begin():
            return None
        # ticket= selects deals by the ORDER that produced them, as the real package does.
        return self._history(
            self.broker.deals, "time", args, kwargs, TradeDeal.from_mapping, "order"
        )

    def history_orders_total(self, date_from: Any, date_to: Any, /) -> int | None:
        found = self.history_orders_get(date_from, date_to)
        return None if found is None else len(found)

    def history_deals_total(self, date_from: Any, date_to: Any, /) -> int | None:
        found = self.history_deals_get(date_from, date_to)
        return None if found is None else len(found)

    # ---- calculations and trading ------------------------------------------------------------
    def order_calc_margin(
        self, action: int, symbol: str, volume: float, price: float, /
    ) -> float | None:
        if not self._begin():
            return None
        if symbol not in self.broker.symbols:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        return self.broker.calc_margin(action, symbol, float(volume), float(price))

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float, /
    ) -> float | None:
        if not self._begin():
            return None
        if symbol not in self.broker.symbols or action not in (0, 1):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        return self.broker.calc_profit(
            action, symbol, float(volume), float(price_open), float(price_close)
        )

    def _request(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """Apply the package's Python-side checks; return the normalised request or None."""
        if args and kwargs:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Unnamed arguments not allowed")
            return None
        if args:
            if len(args) != 1:
                self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid number of arguments")
                return None
            raw = args[0]
        elif kwargs:
            raw = dict(kwargs)
        else:
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid number of arguments")
            return None
        if not isinstance(raw, dict):
            self._fail(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        request: dict[str, Any] = dict(TradeRequest()._asdict())
        for field in _FLOAT_FIELDS:
            if field in raw:
                if not isinstance(raw[field], float):
                    self._fail(mt5.RES_E_INVALID_PARAMS, f'Invalid "{field}" argument')
                    return None
                request[field] = float(raw[field])
        for field in _INT_FIELDS:
            if field in raw:
                value = raw[field]
                if not isinstance(value, int):
                    self._fail(mt5.RES_E_INVALID_PARAMS, f'Invalid "{field}" argument')
                    return None
                if value < 0 and field != "expiration":
                    # The C layer's unsigned conversion overflows and leaves the error set.
                    raise SystemError(
                        "<built-in function order_send> returned a result with an exception set"
                    )
                request[field] = int(value)
        for field in ("symbol", "comment"):
            if field in raw:
                if not _text_ok(raw[field]):
                    self._fail(mt5.RES_E_INVALID_PARAMS, f'Invalid "{field}" argument')
                    return None
                request[field] = raw[field]
        return request

    def order_check(self, *args: Any, **kwargs: Any) -> Any:
        if not self._begin():
            return None
        request = self._request(args, kwargs)
        if request is None:
            return None
        result = self.broker.check(request)
        return OrderCheckResult(
            retcode=result.retcode,
            balance=result.balance,
            equity=result.equity,
            profit=result.profit,
            margin=result.margin,
            margin_free=result.margin_free,
            margin_level=result.margin_level,
            comment=result.comment,
            request=TradeRequest.from_mapping(request),
        )

    def order_send(self, *args: Any, **kwargs: Any) -> Any:
        if not self._begin():
            return None
        request = self._request(args, kwargs)
        if request is None:
            return None
        echo = TradeRequest.from_mapping(request)
        fault = self._next_fault()
        if self.tradeapi_disabled or fault == "autotrading_api_disabled":
            self._fail(
                mt5.RES_E_AUTO_TRADING_DISABLED,
                "Auto-Trading using Python API disabled in Terminal",
            )
            return None
        if fault in ("no_connection", "terminal_restart"):
            # The pipe is gone: like the package, every call fails with -10004 until initialize().
            if fault == "terminal_restart":
                self.restart()
            self._connected = False
            self._fail(mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
            return None
        if fault == "timeout_before_send":
            self._fail(mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
            return None
        if not self.trade_allowed:
            return OrderSendResult(
                retcode=mt5.TRADE_RETCODE_CLIENT_DISABLES_AT,
                comment="AutoTrading disabled by client",
                request=echo,
            )
        refused = {
            "requote": (mt5.TRADE_RETCODE_REQUOTE, "Requote"),
            "price_changed": (mt5.TRADE_RETCODE_PRICE_CHANGED, "Prices changed"),
            "server_reject": (mt5.TRADE_RETCODE_REJECT, "Request rejected"),
            "market_closed": (mt5.TRADE_RETCODE_MARKET_CLOSED, "Market closed"),
        }
        partial = fault == "partial_fill" and request["action"] == mt5.TRADE_ACTION_DEAL
        if partial and request["type_filling"] != mt5.ORDER_FILLING_IOC:
            fault, partial = "server_reject", False  # FOK: all or nothing, so nothing
        if fault in refused:
            retcode, comment = refused[fault]
            quote = self.broker.quote(request["symbol"])
            self.order_send_calls += fault in ("server_reject", "market_closed")
            return OrderSendResult(
                retcode=retcode,
                bid=quote.bid if quote else 0.0,
                ask=quote.ask if quote else 0.0,
                comment=comment,
                request=echo,
            )
        self.order_send_calls += 1
        if partial:
            request = {**request, "volume": self._part_of(request)}
        result = self.broker.send(request)
        if fault == "timeout_after_send":
            self._fail(mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
            return None
        answer = OrderSendResult(
            retcode=mt5.TRADE_RETCODE_DONE_PARTIAL
            if partial and result.retcode == mt5.TRADE_RETCODE_DONE
            else result.retcode,
            deal=result.deal,
            order=result.order,
            volume=result.volume,
            price=result.price,
            bid=result.bid,
            ask=result.ask,
            comment="Request executed partially" if partial else result.comment,
            request_id=result.request_id,
            retcode_external=result.retcode_external,
            request=echo,
        )
        if fault == "disconnect_after_reply":
            self._connected = False
        return answer

    def _part_of(self, request: Mapping[str, Any]) -> float:
        """About half the volume on the symbol's step (at least one step): what the book had."""
        spec = self.broker.symbols[request["symbol"]]
        step = spec.volume_step
        steps = max(1, round(float(request["volume"]) / step) // 2)
        return round(max(spec.volume_min, steps * step), 8)


def _group_match(name: str, group: str) -> bool:
    """MT5 group masks: comma-separated, ``*`` wildcard, ``!`` negation, applied in order."""
    selected = False
    for raw in group.split(","):
        mask = raw.strip()
        if not mask:
            continue
        if mask.startswith("!"):
            pattern = mask[1:]
            if fnmatch.fnmatchcase(name, pattern if "*" in pattern else f"*{pattern}*"):
                selected = False
        elif fnmatch.fnmatchcase(name, mask):
            selected = True
    return selected
