"""The broker symbol map: which of a terminal's symbols trades each symbol a strategy names.

Brokers rename symbols: ``EURUSD.sml``, ``EURUSDm``, ``EURUSD.pro``, ``EURUSD-ECN``, ``m.EURUSD``,
and gold as ``GOLD``. A profile may name them in its configuration::

    [accounts.icm-demo.symbols]
    EURUSD = "EURUSD.sml"
    XAUUSD = "GOLD"

and what it does not name is found in the terminal's symbol list (``symbols_get()``): the exact
name first, else a name that is the symbol with a short broker prefix or suffix, or a metal's
other name (GOLD, SILVER), confirmed by the symbol's own currencies (EURUSD: base EUR, profit USD).
The contract (lot size, digits, volume steps) is read from ``symbol_info`` under the broker's name
and compared with what the backtest assumed.
"""

from __future__ import annotations

import difflib
import math
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, TerminalError
from nl_trader.orders import MT5_TEXT_LIMIT, text_problem, utf16_length
from nl_trader.symbols import DEFAULT_SYMBOLS, SymbolSpec, spec_from_symbol_info

# Broker affixes are short (".m", "-ECN", ".micro", "m."); longer ones are other instruments.
_PREFIX_MAX = 4
_SUFFIX_MAX = 8
# A metal's other names, and the word its description carries when the base currency is not XAU.
_METAL_NAMES: dict[str, tuple[str, str]] = {"XAU": ("GOLD", "gold"), "XAG": ("SILVER", "silver")}
# Shares are no metal, whatever their name: Barrick Gold trades as GOLD on stock CFD brokers.
_SHARE_CALC_MODES = frozenset(
    {mt5.SYMBOL_CALC_MODE_EXCH_STOCKS, mt5.SYMBOL_CALC_MODE_EXCH_STOCKS_MOEX}
)
_SHARE_PATH_WORDS = ("stock", "share", "equit")
_TRADE_MODES = {
    mt5.SYMBOL_TRADE_MODE_DISABLED: "trading disabled",
    mt5.SYMBOL_TRADE_MODE_LONGONLY: "buys only",
    mt5.SYMBOL_TRADE_MODE_SHORTONLY: "sells only",
    mt5.SYMBOL_TRADE_MODE_CLOSEONLY: "closing positions only",
    mt5.SYMBOL_TRADE_MODE_FULL: "full trading",
}
_CALC_MODES = {
    value: name.removeprefix("SYMBOL_CALC_MODE_")
    for name, value in vars(mt5).items()
    if name.startswith("SYMBOL_CALC_MODE_") and isinstance(value, int)
}


class SymbolSource(Protocol):
    """The terminal functions the map reads: ``MetaTrader5``, an mt5linux bridge, ``FakeTerminal``
    (``TerminalPort`` without ``symbols_get`` does not declare the list)."""

    def last_error(self) -> tuple[int, str]: ...
    def symbol_info(self, symbol: str, /) -> Any: ...
    def symbols_get(self, *args: Any, **kwargs: Any) -> Any: ...


def _table_name(profile: str | None) -> str:
    return f"accounts.{profile or 'NAME'}.symbols"


def _one_to_one_problems(entries: Mapping[str, str], where: str) -> list[str]:
    by_broker: dict[str, list[str]] = {}
    for canonical, broker in entries.items():
        by_broker.setdefault(broker, []).append(canonical)
    return [
        f"{where}: {', '.join(names[:-1])} and {names[-1]} name the same broker symbol "
        f"{broker!r}; one broker symbol trades for one symbol only"
        for broker, names in by_broker.items()
        if len(names) > 1
    ]


@dataclass(frozen=True)
class SymbolMap:
    """Each symbol a strategy names (``EURUSD``) and the broker's symbol that trades it
    (``EURUSD.sml``), one to one in both directions."""

    entries: Mapping[str, str]

    def __post_init__(self) -> None:
        entries = dict(self.entries)
        problems = _one_to_one_problems(entries, "symbols")
        if problems:
            raise InvalidInputError(problems, what="symbol map")
        object.__setattr__(self, "entries", MappingProxyType(entries))

    def __hash__(self) -> int:
        return hash(tuple(self.entries.items()))

    def broker(self, canonical: str) -> str:
        """The broker's name to send orders under for ``canonical`` (``EURUSD`` -> ``EURUSD.sml``)."""
        try:
            return self.entries[canonical]
        except KeyError:
            known = ", ".join(self.entries) or "none"
            raise InvalidInputError(
                [f"symbols.{canonical}: not in the symbol map (it maps {known})"],
                what="symbol map",
            ) from None

    def canonical(self, broker: str) -> str | None:
        """The strategy's symbol a broker symbol trades for, or None for a symbol the map does not
        hold (a position on it is not one of this map's)."""
        for canonical, name in self.entries.items():
            if name == broker:
                return canonical
        return None

    def to_dict(self) -> dict[str, str]:
        """The map as a ``[accounts.NAME.symbols]`` table: ``{"EURUSD": "EURUSD.sml"}``."""
        return dict(self.entries)


def parse_symbol_map(table: Any, *, profile: str | None = None) -> dict[str, str]:
    """Check a profile's ``[accounts.NAME.symbols]`` table: symbol -> the broker's name for it.

    A broker name must fit MT5's 29 UTF-16 code units (longer names cannot reach ``symbol_info``
    or ``order_send``) and two symbols may not name one broker symbol.
    """
    where = _table_name(profile)
    if not isinstance(table, Mapping):
        raise InvalidInputError(
            [f'{where}: expected a table of SYMBOL = "BROKER NAME", got {type(table).__name__}'],
            what="symbol map",
        )
    problems: list[str] = []
    entries: dict[str, str] = {}
    for canonical, broker in table.items():
        field = f"{where}.{canonical}"
        if not isinstance(canonical, str) or not _symbol_name_ok(canonical):
            problems.append(f"{field}: {canonical!r} is not a symbol name (e.g. 'EURUSD')")
            continue
        problem = _broker_name_problem(broker)
        if problem:
            problems.append(f"{field}: {problem}")
            continue
        entries[canonical] = broker
    problems.extend(_one_to_one_problems(entries, where))
    if problems:
        raise InvalidInputError(problems, what="symbol map")
    return entries


def _symbol_name_ok(name: str) -> bool:
    allowed = set(string.ascii_letters + string.digits + "._#+-")
    return 0 < len(name) <= MT5_TEXT_LIMIT and set(name) <= allowed


def _broker_name_problem(broker: Any) -> str | None:
    if not isinstance(broker, str) or not broker.strip():
        return f"expected the broker's symbol name as text, got {broker!r}"
    if broker != broker.strip():
        return f"{broker!r} has spaces around it"
    problem = text_problem(broker)
    if problem:
        return problem
    if utf16_length(broker) > MT5_TEXT_LIMIT:
        return (
            f"{broker!r} is {utf16_length(broker)} UTF-16 code units; MT5 takes symbol names of "
            f"at most {MT5_TEXT_LIMIT}"
        )
    return None


def _core(canonical: str) -> str:
    """The six letters a strategy's symbol stands for: ``EURUSD`` for ``EURUSD.sml``."""
    head = canonical[:6]
    rest = canonical[6:]
    letters = len(head) == 6 and head.isascii() and head.isalpha() and head.isupper()
    if letters and (not rest or rest[0] not in string.ascii_uppercase):
        return head
    return canonical.upper()


def _pair(core: str) -> tuple[str, str] | None:
    if len(core) == 6 and core.isalpha():
        return core[:3], core[3:]
    return None


def _names_for(core: str) -> tuple[str, ...]:
    pair = _pair(core)
    if pair and pair[0] in _METAL_NAMES and pair[1] == "USD":
        return (core, _METAL_NAMES[pair[0]][0])
    return (core,)


def _affixed(name: str, core: str) -> bool:
    """Whether ``name`` is ``core`` with only a short broker prefix or suffix around it."""
    upper = name.upper()
    start = upper.find(core)
    while start >= 0:
        prefix, suffix = name[:start], name[start + len(core) :]
        if (
            len(prefix) <= _PREFIX_MAX
            and len(suffix) <= _SUFFIX_MAX
            and not (prefix and prefix[-1] in string.ascii_uppercase)
            and not (suffix and suffix[0] in string.ascii_uppercase)
        ):
            return True
        start = upper.find(core, start + 1)
    return False


def _text(info: Mapping[str, Any], key: str) -> str:
    value = info.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _currency_problem(core: str, info: Mapping[str, Any]) -> str | None:
    """Why the symbol ``info`` describes does not trade ``core``, from its own currencies."""
    pair = _pair(core)
    if pair is None:
        return None
    base, profit = _text(info, "currency_base").upper(), _text(info, "currency_profit").upper()
    trades = f"trades {base or '?'}/{profit or '?'}"
    if profit and profit != pair[1]:
        return trades
    if not base or base == pair[0]:
        return None
    metal = _METAL_NAMES.get(pair[0])
    if metal is None:
        return trades
    path = _text(info, "path").lower()
    if info.get("trade_calc_mode") in _SHARE_CALC_MODES or any(
        word in path for word in _SHARE_PATH_WORDS
    ):
        return f"is a share ({_text(info, 'path') or 'exchange stock'}), not {metal[1]}"
    if metal[1] not in _text(info, "description").lower():
        return f"{trades} and its description does not say {metal[1]}"
    return None


def _label(core: str) -> str:
    pair = _pair(core)
    return f"{pair[0]}/{pair[1]}" if pair else core


def _in_market_watch(info: Mapping[str, Any]) -> bool:
    return bool(info.get("select")) or bool(info.get("visible"))


def _tradeable(info: Mapping[str, Any]) -> bool:
    return bool(
        info.get("trade_mode", mt5.SYMBOL_TRADE_MODE_FULL) != mt5.SYMBOL_TRADE_MODE_DISABLED
    )


def _describe(info: Mapping[str, Any]) -> str:
    notes = ["in Market Watch" if _in_market_watch(info) else "not in Market Watch"]
    if not _tradeable(info):
        notes.append("trading disabled")
    return f"{info['name']} ({', '.join(notes)})"


@dataclass(frozen=True)
class _Search:
    """One strategy symbol's candidates among the terminal's symbols."""

    canonical: str
    found: tuple[Mapping[str, Any], ...]
    refused: tuple[str, ...]

    @classmethod
    def run(cls, canonical: str, available: Sequence[Mapping[str, Any]]) -> _Search:
        core = _core(canonical)
        found: list[Mapping[str, Any]] = []
        refused: list[str] = []
        for info in available:
            name = info["name"]
            if name != canonical and not any(_affixed(name, each) for each in _names_for(core)):
                continue
            problem = _currency_problem(core, info)
            if problem:
                refused.append(f"{name} {problem}")
            else:
                found.append(info)
        return cls(canonical, tuple(found), tuple(refused))

    def choose(self) -> list[Mapping[str, Any]]:
        """The candidates left after each preference: tradeable, the exact name, in Market Watch."""
        left = list(self.found)
        for preferred in (
            _tradeable,
            lambda info: info["name"] == self.canonical,
            _in_market_watch,
        ):
            narrowed = [info for info in left if preferred(info)]
            if narrowed:
                left = narrowed
        return left

    def near(self, names: Sequence[str]) -> list[str]:
        """What the terminal has that looks like this symbol, for an error message."""
        close = [info["name"] for info in self.found] + list(self.refused)
        by_upper: dict[str, str] = {}
        for name in names:
            by_upper.setdefault(name.upper(), name)
        for each in _names_for(_core(self.canonical)):
            for match in difflib.get_close_matches(each, list(by_upper), n=5, cutoff=0.6):
                name = by_upper[match]
                if not any(item.split(" ")[0] == name for item in close):
                    close.append(name)
        return close[:8]


def resolve_symbols(
    canonicals: Iterable[str],
    available: Sequence[Mapping[str, Any]],
    configured: Mapping[str, str] | None = None,
    *,
    profile: str | None = None,
) -> SymbolMap:
    """Map each of a strategy's symbols to the terminal's symbol that trades it.

    ``available`` is the terminal's list, ``symbol_info`` records as dicts (``symbols_get()`` read
    with ``_asdict()``); ``configured`` is the profile's table (``parse_symbol_map``). A configured
    name must be in the list and trade the symbol's currencies. Otherwise the terminal's symbols are
    searched: the exact name or the symbol with a broker prefix or suffix (``EURUSD.sml``,
    ``m.EURUSD``, ``EURUSD-ECN``), or gold as ``GOLD`` and silver as ``SILVER``, confirmed by
    ``currency_base``/``currency_profit``. Of several, a tradeable one, then the exact name, then the
    one in Market Watch is taken; still several, or none, is an error that lists what the terminal
    has and says to name the symbol in ``[accounts.NAME.symbols]``.
    """
    configured = dict(configured or {})
    where = _table_name(profile)
    by_name = {info["name"]: info for info in available if isinstance(info.get("name"), str)}
    names = list(by_name)
    problems: list[str] = []
    entries: dict[str, str] = {}
    for canonical in dict.fromkeys(canonicals):
        field = f"{where}.{canonical}"
        broker = configured.get(canonical)
        if broker is not None:
            info = by_name.get(broker)
            if info is None:
                near = _Search.run(canonical, list(by_name.values())).near(names)
                has = f"; it has {', '.join(near)}" if near else ""
                problems.append(f"{field}: the terminal has no symbol {broker!r}{has}")
                continue
            problem = _currency_problem(_core(canonical), info)
            if problem:
                problems.append(f"{field}: {broker!r} {problem}, not {_label(_core(canonical))}")
                continue
            entries[canonical] = broker
            continue
        search = _Search.run(canonical, list(by_name.values()))
        chosen = search.choose()
        hint = f'name the broker\'s symbol in [{where}] as {canonical} = "..."'
        if len(chosen) == 1:
            entries[canonical] = chosen[0]["name"]
        elif chosen:
            listed = ", ".join(_describe(info) for info in chosen)
            problems.append(
                f"{field}: {len(chosen)} of the terminal's symbols trade "
                f"{_label(_core(canonical))}: {listed}; {hint}"
            )
        else:
            near = search.near(names)
            has = f"; close: {', '.join(near)}" if near else ""
            problems.append(
                f"{field}: none of the terminal's {len(names)} symbols trades "
                f"{_label(_core(canonical))}{has}; {hint}"
            )
    problems.extend(_one_to_one_problems(entries, where))
    if problems:
        raise InvalidInputError(problems, what="symbol map")
    return SymbolMap(entries)


def _record(item: Any) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item
    record: Mapping[str, Any] = item._asdict()
    return record


def discover(
    terminal: SymbolSource,
    canonicals: Iterable[str],
    configured: Mapping[str, str] | None = None,
    *,
    profile: str | None = None,
) -> SymbolMap:
    """Map a strategy's symbols to the connected terminal's (``resolve_symbols`` on its list).

    When every symbol is configured, only those are read (``symbol_info``), which spares a bridge
    the whole list; the list (``symbols_get``) is read to find the rest, or to say what a configured
    name should have been. A failed ``symbols_get`` is a ``TerminalError``.
    """
    wanted = list(dict.fromkeys(canonicals))
    configured = dict(configured or {})
    if all(canonical in configured for canonical in wanted):
        infos = [terminal.symbol_info(configured[canonical]) for canonical in wanted]
        if all(info is not None for info in infos):
            return resolve_symbols(
                wanted, [_record(info) for info in infos], configured, profile=profile
            )
    listed = terminal.symbols_get()
    if listed is None:
        code, message = terminal.last_error()
        raise TerminalError("symbols_get", code, message)
    return resolve_symbols(wanted, [_record(item) for item in listed], configured, profile=profile)


@dataclass(frozen=True)
class BrokerContract:
    """A symbol's contract as the broker trades it, and how it differs from the backtest's.

    ``spec`` carries the broker's name (orders go out under it) and the backtest's pip, so a
    strategy's ``sl_pips`` keep their price meaning; ``differences`` says, one line each, what will
    trade differently from the backtest (lot size, digits, currencies, volumes, stops, trade mode).
    """

    canonical: str
    spec: SymbolSpec
    differences: tuple[str, ...]


def contract_spec(
    terminal: SymbolSource,
    broker_name: str,
    canonical: str,
    *,
    assumed: SymbolSpec | None = None,
    commission_per_lot: float | None = None,
) -> BrokerContract:
    """Read ``broker_name``'s contract from ``symbol_info`` and compare it with the backtest's.

    ``assumed`` is the spec the backtest ran on (default: nl_trader's default for ``canonical``,
    none for a symbol without one). MT5 does not tell the commission: ``commission_per_lot``
    defaults to the backtest's. A symbol the terminal does not know is a ``TerminalError``.
    """
    if assumed is None:
        assumed = DEFAULT_SYMBOLS.get(_core(canonical))
    record = terminal.symbol_info(broker_name)
    if record is None:
        code, message = terminal.last_error()
        raise TerminalError(f"symbol_info({broker_name!r})", code, message)
    info = dict(_record(record))
    if commission_per_lot is None:
        commission_per_lot = assumed.commission_per_lot if assumed else 0.0
    # The pip is a price distance the strategy was written in; a broker with another digit count
    # (gold at 3 digits) changes its point, not what 20 pips of gold means.
    pip_size = assumed.pip_size if assumed else None
    if pip_size is None:
        # symbols.spec_from_symbol_info infers the pip from the name: use the symbol's, not GOLD.
        inferred = spec_from_symbol_info({**info, "name": _core(canonical)})
        pip_size = inferred.pip_size
    spec = spec_from_symbol_info(info, pip_size=pip_size, commission_per_lot=commission_per_lot)
    differences = _differences(spec, assumed) if assumed else []
    if spec.pip_size < spec.point * (1 - 1e-9):
        differences.append(
            f"digits: the broker's point ({spec.point:g}) is larger than a pip "
            f"({spec.pip_size:g}): pip distances round to whole points"
        )
    if spec.trade_mode != mt5.SYMBOL_TRADE_MODE_FULL and not (
        assumed and assumed.trade_mode == spec.trade_mode
    ):
        differences.append(
            f"trade_mode: the broker allows {_TRADE_MODES.get(spec.trade_mode, spec.trade_mode)} "
            f"on {broker_name}"
        )
    return BrokerContract(canonical=canonical, spec=spec, differences=tuple(differences))


def _differences(broker: SymbolSpec, assumed: SymbolSpec) -> list[str]:
    found: list[str] = []
    size_b, size_a = broker.trade_contract_size, assumed.trade_contract_size
    if not math.isclose(size_b, size_a, rel_tol=1e-9):
        found.append(
            f"trade_contract_size: one lot is {size_b:g} units at the broker and {size_a:g} in "
            f"the backtest: the same lots carry {size_b / size_a:g} times the exposure and P/L"
        )
    if broker.digits != assumed.digits:
        found.append(
            f"digits: the broker quotes {broker.digits} digits (point {broker.point:g}), the "
            f"backtest {assumed.digits} (point {assumed.point:g}): spreads and stop levels in "
            "points mean other prices"
        )
    for key, what in (
        ("currency_base", "the base currency"),
        ("currency_profit", "P/L is settled"),
        ("currency_margin", "margin is held"),
    ):
        value_b, value_a = getattr(broker, key), getattr(assumed, key)
        if value_b != value_a:
            found.append(
                f"{key}: {what} in {value_b or '?'} at the broker, {value_a} in the backtest"
            )
    if broker.volume_min > assumed.volume_min * (1 + 1e-9):
        found.append(
            f"volume_min: the broker's smallest order is {broker.volume_min:g} lots, the "
            f"backtest's {assumed.volume_min:g}: smaller sizes cannot be sent"
        )
    ratio = assumed.volume_step / broker.volume_step
    if not math.isclose(ratio, round(ratio), rel_tol=1e-9) or round(ratio) < 1:
        found.append(
            f"volume_step: the broker sizes in steps of {broker.volume_step:g} lots, the "
            f"backtest in {assumed.volume_step:g}: sizes will be rounded"
        )
    if broker.volume_max < assumed.volume_max * (1 - 1e-9):
        found.append(
            f"volume_max: the broker's largest order is {broker.volume_max:g} lots, the "
            f"backtest's {assumed.volume_max:g}"
        )
    for key, what in (
        ("trade_stops_level", "stops and targets must be at least"),
        ("trade_freeze_level", "orders and stops cannot change within"),
    ):
        value_b, value_a = getattr(broker, key), getattr(assumed, key)
        if value_b > value_a:
            found.append(
                f"{key}: {what} {value_b} points of the price at the broker, {value_a} in the "
                "backtest"
            )
    if broker.trade_calc_mode != assumed.trade_calc_mode:
        found.append(
            "trade_calc_mode: the broker computes margin and profit as "
            f"{_CALC_MODES.get(broker.trade_calc_mode, broker.trade_calc_mode)}, the backtest as "
            f"{_CALC_MODES.get(assumed.trade_calc_mode, assumed.trade_calc_mode)}"
        )
    return found
