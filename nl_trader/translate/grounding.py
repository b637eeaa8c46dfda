"""Checks that a spec rests on the trader's text, not on a guess or on an instruction of its own.

A model asked to translate "buy when RSI is below 30" may answer with EURUSD on H1: a complete,
valid spec the trader never asked for. A model steered by a hostile text, or by a hostile server,
may answer "EURUSD, 0.1 lots, a 30-pip stop" with XAUUSD, 100 lots, a 5,000-pip stop and 100
positions. These checks compare the spec with the text; every problem goes back to the model in
the ask-again loop (which then fixes its answer or asks the trader), and one that persists ends
the translation with the field, what the text says and what the answer says.

What is checked (the text read by ``quantities.read_amounts``: English and Chinese, NFKC):

- Presence: the text names some instrument, some bar size, some stop (when the spec sets one), and
  waives the stop loss when the spec does without one.
- Symbols: each symbol of the spec is named by the text: as itself (``EURUSD``, ``eur/usd``), by
  its two currencies (``歐元兌美元``, "euro" and "dollar"), or by a nickname (cable, fiber,
  loonie, aussie, kiwi, swissy, gopher, guppy, gold, 欧美, 镑美, 美日, 黄金 ...). A symbol this check
  cannot read (an index, a future) passes only when the text names an instrument it cannot read
  either (oil, Nasdaq, US30).
- Sizes: fixed lots are a per-trade lot size the text gives (``0.1 lots``, ``0.1手``, ``half a
  lot``, ``two micro lots``, 半手); ``max_lots`` / ``min_lots`` a lot amount the text gives;
  ``risk_pct`` a percentage the text gives with risk, equity or account words (``risk 1%``,
  ``每笔风险 1%``), ``risk_money`` an amount of money in such a clause (``lose at most $100``,
  ``每笔最多亏 200 美元``). A text that sizes by risk is not traded in fixed lots, nor a text that
  gives a lot size per trade sized by risk; a text that gives both is asked about.
- Distances: the stop loss, take profit and trailing stop are the ones the text gives beside their
  keyword (``stop loss 30 pips``, ``30-pip stop``, ``止损30点``, ``SL 10``, ``target $16`` on
  gold, ``trail the stop 20 pips``); where the text gives none beside its keyword, a distance the
  text gives anywhere. So are the trailing stop's activation, the break-even trigger and lock,
  the pending entry's offsets, a level's pip or ATR offset and the spread filter. Pips are read as
  the prompt defines them: English "points" are a tenth of a pip, Chinese 点 / 點 are pips, money
  on a symbol quoted in that currency is price (``$8`` on XAUUSD is 80 pips, ``0.40 yen`` on
  USDJPY 40 pips). Percent, ATR and risk:reward distances are read as such (``1%``, ``2 ATR``,
  ``2 倍 ATR``, ``2R``, ``2:1``, ``twice the risk``).
- Counts: ``max_open_positions`` and ``pyramiding`` are a count the text gives (``2 positions``,
  ``3 笔``); ``exits.max_bars`` and ``entry.expiry_bars`` a number of bars it gives (``24 bars``,
  ``5 根 K 线``, ``one bar``).

A value the text does not state must be the schema's documented default: 0.1 lots, ``min_lots``
0.01, ``max_lots`` 10, one position, no pyramiding, no offsets (0 pips), no activation distance, no
lock; the stop loss, take profit, trailing stop, break-even, spread filter, bar limits and risk
amounts have no default, so the text must give them. Mapping a stated value right (250 points as
25 pips) is checked only as far as these rules go; the rest is the evals' job.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from nl_trader.spec import Entry, Ref, Sizing, StrategySpec
from nl_trader.symbols import core_symbol, symbol_spec
from nl_trader.translate.quantities import Amount, normalise, read_amounts

_CURRENCIES = (
    "EUR", "USD", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNH", "CNY", "HKD", "SGD", "SEK",
    "NOK", "DKK", "PLN", "HUF", "CZK", "TRY", "ZAR", "MXN", "XAU", "XAG", "BTC", "ETH",
)  # fmt: skip
# "index" / 指數 are left out: they name indicators too (the Relative Strength Index, 相對強弱指數),
# and "the index" alone does not say which one.
_INSTRUMENT_WORDS = (
    r"euro|dollar|pound|sterling|yen|franc|loonie|aussie|kiwi|swissy|cable|fiber|fibre|gopher"
    r"|guppy|geppy|yuppy|chunnel|ninja|gold|silver|bitcoin|ether|oil|nasdaq|dow|s&p|dax|ftse"
    r"|nikkei"
)
_INSTRUMENT_ZH = (
    "歐元|欧元|美元|英鎊|英镑|日圓|日元|日圆|澳元|澳幣|澳币|紐元|纽元|加元|加幣|加币|瑞郎|人民幣|人民币"
    "|黃金|黄金|白銀|白银|原油|比特幣|比特币|歐美|欧美|鎊美|镑美|美日|澳美|紐美|纽美|美加|美瑞"
)
_CODE = f"(?:{'|'.join(_CURRENCIES)})"
# Codes and tickers count in capitals only ("TRY", "SIGNAL" aside, "try" and "signal" are words);
# a pair of known codes counts in any case ("eurusd", "xau/usd").
_INSTRUMENT = re.compile(
    rf"(?-i:\b{_CODE}\b|\b[A-Z]{{6}}\b|\b[A-Z]{{3}}/[A-Z]{{3}}\b)|\b{_CODE}/?{_CODE}\b"
    rf"|\b(?:{_INSTRUMENT_WORDS})s?\b|{_INSTRUMENT_ZH}",
    re.IGNORECASE,
)
_UNIT = r"(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?)"
# A bare "hours" or "day" is not a bar size ("London trading hours", "the end of the day"): a unit
# counts with a number ("4-hour", "fifteen minute") or with a chart word ("the hour chart").
_TIMEFRAME = re.compile(
    r"\b(?:M|H|D|W|MN)\d{1,2}\b|\b\d{1,2}\s*-?\s*(?:m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w"
    r"|weeks?)\b|\b(?:hourly|daily|weekly|monthly)\b"
    r"|\b(?:one|two|three|four|five|ten|fifteen|twenty|thirty|sixty)[\s-]*" + _UNIT + r"\b"
    r"|\b" + _UNIT + r"[\s-]*(?:charts?|bars?|candles?|candlesticks?|time\s*frames?)\b"
    r"|分鐘|分钟|分線|分线|小時|小时|時線|时线|鐘頭|钟头|日線|日线|日K|週線|周线|週K|周K|月線|月线"
    r"|日圖|日图|周圖|周图|週圖",
    re.IGNORECASE,
)
_NO_STOP = re.compile(
    r"\bno\s+(?:stop|sl)\b|\bwithout\s+(?:a\s+|any\s+)?stop|\bstop\s*-?\s*less\b|\bno\s+stop[-\s]?loss"
    r"|不(?:設|设|用|要|帶|带|下|放)?止(?:損|损)|無止(?:損|损)|无止(?:損|损)|沒有止(?:損|损)|没有止(?:損|损)",
    re.IGNORECASE,
)


_STOP = re.compile(
    r"stop|\bs/?l\b|cut\s*loss|止損|止损|停損|停损|止蝕|止蚀|砍倉|砍仓",
    re.IGNORECASE,
)


def _names_symbol(text: str, symbol: str) -> bool:
    plain = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    return symbol.upper().replace(".", "") in plain


def grounding_problems(spec: StrategySpec, text: str) -> list[str]:
    """``path: problem`` lines for parts of ``spec`` that the text gives no ground for, or that
    the text contradicts."""
    problems = []
    text = unicodedata.normalize("NFKC", text)  # full-width letters and digits read as ASCII
    names_instrument = bool(_INSTRUMENT.search(text)) or any(
        _names_symbol(text, s) for s in spec.symbols
    )
    if not names_instrument:
        problems.append(
            f"spec.symbols: the text names no symbol, yet the spec trades {', '.join(spec.symbols)}; "
            "do not guess: ask which symbol (outcome clarify, missing symbols)"
        )
    if not _TIMEFRAME.search(text) and spec.timeframe not in text.upper():
        problems.append(
            f"spec.timeframe: the text names no timeframe, yet the spec uses {spec.timeframe}; "
            "do not guess: ask which timeframe (outcome clarify, missing timeframe)"
        )
    if spec.exits.stop_loss is not None and not _STOP.search(text):
        problems.append(
            "spec.exits.stop_loss: the text gives no stop loss, yet the spec sets one; do not "
            "guess: ask for it (outcome clarify, missing exits.stop_loss)"
        )
    if spec.exits.no_stop_loss and not _NO_STOP.search(text):
        problems.append(
            "spec.exits.no_stop_loss: the text does not say to trade without a stop loss; "
            "ask for one (outcome clarify, missing exits.stop_loss)"
        )
    if names_instrument:
        problems.extend(_symbol_problems(spec, text))
    amounts = read_amounts(text)
    problems.extend(_sizing_problems(spec.sizing, amounts))
    problems.extend(_distance_problems(spec, amounts))
    problems.extend(_count_problems(spec, amounts, text))
    return problems


# ---- symbols ------------------------------------------------------------------------------------
_NICKNAMES = {
    "cable": "GBPUSD", "fiber": "EURUSD", "fibre": "EURUSD", "loonie": "USDCAD",
    "aussie": "AUDUSD", "kiwi": "NZDUSD", "swissy": "USDCHF", "gopher": "USDJPY",
    "ninja": "USDJPY", "guppy": "GBPJPY", "geppy": "GBPJPY", "yuppy": "EURJPY",
    "chunnel": "EURGBP", "gold": "XAUUSD", "silver": "XAGUSD", "bitcoin": "BTCUSD",
    "ether": "ETHUSD",
}  # fmt: skip
_NICKNAMES_ZH = {
    "歐美": "EURUSD", "欧美": "EURUSD", "鎊美": "GBPUSD", "镑美": "GBPUSD", "美日": "USDJPY",
    "澳美": "AUDUSD", "紐美": "NZDUSD", "纽美": "NZDUSD", "美加": "USDCAD", "美瑞": "USDCHF",
    "歐日": "EURJPY", "欧日": "EURJPY", "鎊日": "GBPJPY", "镑日": "GBPJPY", "歐鎊": "EURGBP",
    "欧镑": "EURGBP", "黃金": "XAUUSD", "黄金": "XAUUSD", "白銀": "XAGUSD", "白银": "XAGUSD",
    "比特幣": "BTCUSD", "比特币": "BTCUSD",
}  # fmt: skip
_CURRENCY_NAMES = {
    "EUR": r"euros?|歐元|欧元",
    "USD": r"dollars?|greenback|buck|美元|美金",
    "GBP": r"pounds?|sterling|quid|英鎊|英镑",
    "JPY": r"yen|日圓|日元|日圆",
    "CHF": r"francs?|swiss|swissy|瑞郎|瑞士法郎",
    "CAD": r"canadian|loonie|加元|加幣|加币",
    "AUD": r"australian|aussie|澳元|澳幣|澳币",
    "NZD": r"new\s+zealand|kiwi|紐元|纽元|紐幣|纽币",
    "CNH": r"yuan|renminbi|人民幣|人民币",
    "XAU": r"gold|黃金|黄金",
    "XAG": r"silver|白銀|白银",
}
_LATIN_WORD = re.compile(r"[a-z]")
# Instruments the checks cannot map to a symbol: an unknown symbol is left to the evals there.
_OTHER_INSTRUMENTS = re.compile(
    r"\b(?:oil|crude|wti|brent|nasdaq|dow|s&p|dax|ftse|nikkei|hang\s+seng|stocks?|shares?)\b"
    r"|原油|納指|纳指|道指|恒指|股票|(?-i:\b[A-Z]{2,6}\d{2,4}\b)",
    re.IGNORECASE,
)
_PAIR = re.compile(rf"(?<![A-Z0-9])({_CODE})\s*[/\-_.]?\s*({_CODE})(?![A-Z0-9])")


def _currency_words(low: str) -> set[str]:
    found = set()
    for code, words in _CURRENCY_NAMES.items():
        for word in words.split("|"):
            pattern = rf"\b{word}\b" if _LATIN_WORD.match(word) else word
            if re.search(pattern, low):
                found.add(code)
                break
    return found


def _named_instruments(text: str) -> tuple[set[str], set[str]]:
    """(pairs the text names, currencies it names on their own)."""
    plain = normalise(text).upper()
    pairs = {a + b for a, b in _PAIR.findall(plain)}
    rest = _PAIR.sub(" ", plain)
    low = rest.lower()
    pairs |= {pair for word, pair in _NICKNAMES.items() if re.search(rf"\b{word}s?\b", low)}
    pairs |= {pair for word, pair in _NICKNAMES_ZH.items() if word in low}
    # Codes count in capitals only, as for _INSTRUMENT ("try" is a word, "TRY" the lira).
    original = _PAIR.sub(" ", unicodedata.normalize("NFKC", text))
    currencies = set(re.findall(rf"(?<![A-Za-z0-9]){_CODE}(?![A-Za-z0-9])", original))
    currencies |= _currency_words(low)
    return pairs, currencies


def _names_directly(text: str, symbol: str) -> bool:
    core = re.sub(r"[^A-Z0-9]", "", symbol.upper())
    if not core:
        return False
    spaced = r"[\s/._\-]?".join(re.escape(char) for char in core)
    return re.search(rf"(?<![A-Z0-9]){spaced}(?![A-Z0-9])", normalise(text).upper()) is not None


def _symbol_pair(symbol: str) -> tuple[str, str] | None:
    """The two currencies of a forex or metal symbol (``EURUSD.m``: EUR, USD), else None."""
    match = re.match(rf"^({_CODE})({_CODE})", symbol.upper())
    return (match.group(1), match.group(2)) if match else None


def _symbol_problems(spec: StrategySpec, text: str) -> list[str]:
    pairs, currencies = _named_instruments(text)
    named = sorted(pairs) + sorted(
        code for code in currencies if not any(code in pair for pair in pairs)
    )
    problems = []
    for index, symbol in enumerate(spec.symbols):
        if _names_directly(text, symbol):
            continue
        pair = _symbol_pair(symbol)
        if pair is None:
            if _OTHER_INSTRUMENTS.search(normalise(text)) or not named:
                continue
        elif {pair[0] + pair[1], pair[1] + pair[0]} & pairs or set(pair) <= currencies:
            continue
        said = ", ".join(named) if named else "no symbol this check can read"
        problems.append(
            f"spec.symbols[{index}]: the answer trades {symbol}, the text names {said}; trade "
            "what the text names, or ask (outcome clarify, missing symbols)"
        )
    return problems


# ---- values against amounts ---------------------------------------------------------------------
def _same(left: float, right: float) -> bool:
    return math.isclose(left, right, rel_tol=1e-6, abs_tol=1e-9)


def _listed(amounts: Iterable[Amount]) -> str:
    seen: list[str] = []
    for amount in amounts:
        if amount.written not in seen:
            seen.append(amount.written)
    return ", ".join(seen)


def _default(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].default


def _sizing_problems(sizing: Sizing, amounts: list[Amount]) -> list[str]:
    lots = [a for a in amounts if a.unit == "lots"]
    per_trade = [a for a in lots if a.limit is None]
    risk_pcts = [a for a in amounts if a.unit == "percent" and a.risk and a.role is None]
    risk_money = [a for a in amounts if a.unit == "money" and a.risk and a.role is None]
    problems = []
    by_risk = risk_pcts or risk_money
    if by_risk and per_trade:
        problems.append(
            f"spec.sizing: the text gives both a risk ({_listed(by_risk)}) and a lot size "
            f"({_listed(per_trade)}); ask which it is (outcome clarify, missing sizing)"
        )
    elif sizing.method == "fixed_lots" and by_risk:
        method = "risk_percent" if risk_pcts else "risk_money"
        problems.append(
            f"spec.sizing.method: the text sizes by risk ({_listed(by_risk)}), the answer trades "
            f"fixed lots; use {method}"
        )
    elif sizing.method != "fixed_lots" and per_trade:
        problems.append(
            f"spec.sizing.method: the text gives a lot size per trade ({_listed(per_trade)}), the "
            f"answer sizes by risk ({sizing.method}); use fixed_lots"
        )
    default_lots = _default(Sizing, "lots")
    if sizing.lots is not None:
        if sizing.method == "fixed_lots":
            problems += _value_problem(
                "spec.sizing.lots", sizing.lots, "lots", per_trade, default=default_lots
            )
        else:  # unused when sizing by risk, but shown: the default or a size the text gives
            problems += _value_problem(
                "spec.sizing.lots",
                sizing.lots,
                "lots",
                lots,
                default=default_lots,
                default_always=True,
            )
    for name in ("max_lots", "min_lots"):
        problems += _value_problem(
            f"spec.sizing.{name}",
            getattr(sizing, name),
            "lots",
            lots,
            default=_default(Sizing, name),
            default_always=True,
        )
    if sizing.risk_pct is not None:
        problems.extend(_value_problem("spec.sizing.risk_pct", sizing.risk_pct, "%", risk_pcts))
    if sizing.risk_money is not None:
        problems.extend(_value_problem("spec.sizing.risk_money", sizing.risk_money, "", risk_money))
    return problems


def _value_problem(
    path: str,
    value: float,
    unit: str,
    stated: list[Amount],
    *,
    default: float | None = None,
    default_always: bool = False,
) -> list[str]:
    """A problem unless ``value`` is one of the ``stated`` amounts, or the ``default`` where the
    text states none (or always, with ``default_always``: a cap the text need not give)."""
    if any(_same(value, amount.value) for amount in stated):
        return []
    if default is not None and _same(value, default) and (default_always or not stated):
        return []
    gap = " " if unit and unit != "%" else ""
    said = f"{value:g}{gap}{unit}"
    if stated:
        return [
            f"{path}: the answer says {said}, the text says {_listed(stated)}; use the text's value"
        ]
    if default is not None:
        return [
            f"{path}: the answer says {said}, the text states none, so it is the default "
            f"{default:g}{gap}{unit}; leave it at the default, or ask (outcome clarify)"
        ]
    return [
        f"{path}: the answer says {said}, which the text states nowhere; use what the text says, "
        "or ask (outcome clarify)"
    ]


# ---- distances ----------------------------------------------------------------------------------
def _pip_size(symbol: str) -> float:
    core = core_symbol(symbol)
    if core is not None:
        return symbol_spec(core).pip_size
    upper = symbol.upper()
    if upper.startswith("XAU"):
        return 0.1
    return 0.01 if upper[3:6] == "JPY" else 0.0001


def _in_pips(amount: Amount, symbols: tuple[str, ...]) -> list[float]:
    """What ``amount`` is in pips on each of ``symbols`` (none if it is not a distance)."""
    if amount.unit in ("pips", "number"):
        return [amount.value]
    if amount.unit == "points":
        return [amount.value / 10]  # MetaTrader points: a tenth of a pip
    if amount.unit == "money" and not (amount.risk and amount.role is None):
        # Money on a symbol quoted in it is a price distance: $8 on XAUUSD, 0.40 yen on USDJPY.
        return [
            amount.value / _pip_size(symbol)
            for symbol in symbols
            if (_symbol_pair(symbol) or ("", ""))[1] == amount.currency
        ]
    return []


_KIND_UNITS = {"percent": ("percent",), "atr": ("atr",), "risk_reward": ("ratio",)}
_KIND_SHOWN = {"pips": " pips", "percent": "%", "atr": " ATR", "risk_reward": "R"}


def _distance_values(kind: str, amounts: list[Amount], symbols: tuple[str, ...]) -> list[float]:
    if kind == "pips":
        return [pips for amount in amounts for pips in _in_pips(amount, symbols)]
    return [a.value for a in amounts if a.unit in _KIND_UNITS.get(kind, ())]


def _distance_problem(
    path: str,
    kind: str,
    value: float,
    role: str | None,
    amounts: list[Amount],
    symbols: tuple[str, ...],
    *,
    default: float | None = None,
) -> list[str]:
    """The distance at ``path`` against the text: the ones beside its keyword (``role``) where
    the text gives some, else any the text gives of that kind; else the default."""
    said = f"{value:g}{_KIND_SHOWN.get(kind, '')}"
    beside = [a for a in amounts if role is not None and a.role == role]
    if beside:
        if any(_same(value, v) for v in _distance_values(kind, beside, symbols)):
            return []
        hint = (
            " (English points are a tenth of a pip; money on gold or yen is a price distance)"
            if any(a.unit in ("points", "money") for a in beside)
            else ""
        )
        stated = _listed(beside)
        return [
            f"{path}: the answer says {said}, the text says {stated}; use the text's value{hint}"
        ]
    values = _distance_values(kind, amounts, symbols)
    if any(_same(value, v) for v in values):
        return []
    if default is not None and _same(value, default):
        return []
    known = [a for a in amounts if _distance_values(kind, [a], symbols)]
    stated = f" (it gives {_listed(known)})" if known else ""
    return [
        f"{path}: the answer says {said}, which the text states nowhere{stated}; use what the "
        "text says, or ask (outcome clarify)"
    ]


def _refs(node: Any) -> Iterator[Ref]:
    if isinstance(node, Ref):
        yield node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _refs(getattr(node, name))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _refs(item)


def _distance_problems(spec: StrategySpec, amounts: list[Amount]) -> list[str]:
    symbols = spec.symbols
    exits, entry = spec.exits, spec.entry
    problems = []
    if exits.stop_loss is not None:
        stop = exits.stop_loss
        problems += _distance_problem(
            "spec.exits.stop_loss.value", stop.kind, stop.value, "stop_loss", amounts, symbols
        )
    target = exits.take_profit
    if target is not None:
        problems += _distance_problem(
            "spec.exits.take_profit.value",
            target.kind,
            target.value,
            "take_profit",
            amounts,
            symbols,
        )
    else:
        stated = [a for a in amounts if a.role == "take_profit"]
        if stated:
            problems.append(
                f"spec.exits.take_profit: the answer sets none, the text says {_listed(stated)}; "
                "use the text's take profit"
            )
    trailing = exits.trailing_stop
    if trailing is not None:
        problems += _distance_problem(
            "spec.exits.trailing_stop.distance",
            trailing.kind,
            trailing.distance,
            "trailing",
            amounts,
            symbols,
        )
        problems += _distance_problem(
            "spec.exits.trailing_stop.activate_after_pips",
            "pips",
            trailing.activate_after_pips,
            None,
            amounts,
            symbols,
            default=0.0,
        )
    if exits.break_even is not None:
        problems += _distance_problem(
            "spec.exits.break_even.trigger_pips",
            "pips",
            exits.break_even.trigger_pips,
            None,
            amounts,
            symbols,
        )
        problems += _distance_problem(
            "spec.exits.break_even.lock_pips",
            "pips",
            exits.break_even.lock_pips,
            None,
            amounts,
            symbols,
            default=0.0,
        )
    for name in ("offset_pips", "limit_offset_pips"):
        problems += _distance_problem(
            f"spec.entry.{name}",
            "pips",
            getattr(entry, name),
            None,
            amounts,
            symbols,
            default=_default(Entry, name),
        )
    if spec.filters.max_spread_pips is not None:
        problems += _distance_problem(
            "spec.filters.max_spread_pips",
            "pips",
            spec.filters.max_spread_pips,
            None,
            amounts,
            symbols,
        )
    offsets = {(ref.offset_pips, ref.offset_atr) for ref in _refs(spec)}
    for pips, atr in sorted(offsets):
        problems += _distance_problem(
            "spec: a level's offset_pips", "pips", abs(pips), None, amounts, symbols, default=0.0
        )
        problems += _distance_problem(
            "spec: a level's offset_atr", "atr", abs(atr), None, amounts, symbols, default=0.0
        )
    return problems


# ---- counts -------------------------------------------------------------------------------------
_BUY_PENDING = re.compile(
    r"buy[\s-]*(?:stop|limit)|(?:买入|買入|买|買)(?:止损|止損|限价|限價)?单|掛買|挂买"
)
_SELL_PENDING = re.compile(
    r"sell[\s-]*(?:stop|limit)|(?:卖出|賣出|卖|賣)(?:止损|止損|限价|限價)?单|掛賣|挂卖"
)


def _both_sides_pending(text: str) -> bool:
    low = normalise(text)
    return bool(_BUY_PENDING.search(low) and _SELL_PENDING.search(low))


def _count_problems(spec: StrategySpec, amounts: list[Amount], text: str) -> list[str]:
    counts = [a for a in amounts if a.unit == "count"]
    bars = [a for a in amounts if a.unit == "bars"]
    problems = []
    for name in ("max_open_positions", "pyramiding"):
        value = getattr(spec, name)
        if name == "max_open_positions" and value == 2 and _both_sides_pending(text):
            continue  # a buy and a sell order placed together: one position for each
        problems += _value_problem(
            f"spec.{name}",
            value,
            "",
            counts,
            default=_default(StrategySpec, name),
            default_always=True,
        )
    if spec.exits.max_bars is not None:
        problems += _value_problem("spec.exits.max_bars", spec.exits.max_bars, "bars", bars)
    if spec.entry.expiry_bars is not None:
        problems += _value_problem("spec.entry.expiry_bars", spec.entry.expiry_bars, "bars", bars)
    return problems
