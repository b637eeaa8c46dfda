"""What a trader's text states: every amount it gives, with its unit and what it is about.

``read_amounts(text)`` finds ``30 pips``, ``止损30点``, ``0.1手``, ``half a lot``, ``two micro lots``,
``$8``, ``0.40 yen``, ``250 points``, ``1.5 ATR(14)``, ``2 倍 ATR``, ``risk 1%``, ``2R``, ``2:1``,
``twice the risk``, ``3 bars``, ``3 根 K 线``, ``2 positions``, ``3 笔``. The text is read after NFKC
normalisation (full-width digits, ``％`` and ``：`` read as ASCII) and case folding.

Each amount carries:

- ``unit``: ``pips``; ``points`` (MetaTrader points, a tenth of a pip, as the prompt defines English
  "points"; Chinese 点 / 點 are pips); ``money`` (a price distance or an amount of money, with its
  ``currency``: ``$8``, ``10 美元``, ``0.40 yen``); ``percent``; ``lots`` (mini, micro and nano lots
  converted: ``one mini lot`` is 0.1); ``atr`` (a multiple of the ATR); ``ratio`` (a reward:risk
  ratio); ``bars``; ``count`` (positions, trades, 笔 / 筆); ``number`` (a bare number right after a
  stop or target keyword: ``SL 10``);
- ``role``: the keyword right beside it (only filler words between): ``stop_loss`` ("stop",
  "SL", 止损), ``take_profit`` ("target", "TP", 止盈), ``trailing`` ("trail the stop", 移动止损),
  ``break_even`` (保本), ``entry`` ("buy stop", "stop-limit", 挂单): ``40-pip stop`` and
  ``止损 40 点`` are a stop, ``once the trade is 30 pips in profit`` is no one's;
- ``risk``: its clause speaks of risk (risk, lose, equity, 风险, 亏, 净值);
- ``limit``: ``max`` or ``min`` when its clause caps it ("never more than 2 lots", 最多 2 手).

The grounding check (``grounding.py``) compares a spec's values with these.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Unit = Literal[
    "pips", "points", "money", "percent", "lots", "atr", "ratio", "bars", "count", "number"
]
Role = Literal["stop_loss", "take_profit", "trailing", "break_even", "entry"]

__all__ = ["Amount", "Role", "Unit", "normalise", "read_amounts"]


@dataclass(frozen=True)
class Amount:
    """One amount the text gives; ``written`` is how it reads (normalised), for messages."""

    value: float
    unit: Unit
    written: str
    role: Role | None = None
    risk: bool = False
    limit: Literal["max", "min"] | None = None
    currency: str | None = None
    clause: str = ""


def normalise(text: str) -> str:
    """``text`` as the checks read it: NFKC (full-width forms as ASCII), case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


# ---- numbers ------------------------------------------------------------------------------------
_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "twice": 2, "double": 2,
}  # fmt: skip
_ZH_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
}
_ZH_DIGITS |= {"八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
# Digits not glued to a Latin letter or digit ("H1", "M15" are timeframes, not amounts); CJK
# before them is fine ("止损30点").
_NUMBER = re.compile(
    r"(?P<digits>(?<![a-z0-9.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?<![a-z0-9.])\.\d+)"
    r"|(?P<word>\bhalf(?:\s+an?\b)?|\ban?(?=\s+(?:standard|mini|micro|nano)[\s-]*lots?\b)"
    rf"|\b(?:{'|'.join(_WORDS)})\b)"
    r"|(?P<zh>[零一二两兩三四五六七八九十百千半]+)"
)


def _zh_number(text: str) -> float | None:
    if text == "半":
        return 0.5
    total, current = 0, 0
    for char in text:
        if char in _ZH_DIGITS:
            current = _ZH_DIGITS[char]
        elif char in _ZH_UNITS:
            total += (current or 1) * _ZH_UNITS[char]
            current = 0
        else:
            return None  # 半 inside a longer run: not a number we read
    return float(total + current)


def _number_value(match: re.Match[str]) -> float | None:
    if match.group("digits"):
        return float(match.group("digits").replace(",", ""))
    if match.group("word"):
        word = match.group("word")
        if word.startswith("half"):
            return 0.5
        if word in ("a", "an"):
            return 1.0
        return float(_WORDS[word])
    return _zh_number(match.group("zh"))


# ---- units --------------------------------------------------------------------------------------
_LOT_SIZES = {"standard": 1.0, "mini": 0.1, "micro": 0.01, "nano": 0.001}
_LOT_SIZES |= {"標準": 1.0, "标准": 1.0, "迷你": 0.1, "微型": 0.01}
_CURRENCY_WORDS = (
    ("USD", r"usd|us\s*dollars?|dollars?|bucks|美元|美金"),
    ("EUR", r"eur|euros?|欧元|歐元"),
    ("GBP", r"gbp|pounds?|英镑|英鎊"),
    ("JPY", r"jpy|yen|日圓|日元|日圆|円"),
    ("CHF", r"chf|francs?|瑞郎"),
    ("CAD", r"cad|加元|加幣|加币"),
    ("AUD", r"aud|澳元|澳幣|澳币"),
)
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_RISK_OBJECT = r"(?:the\s+)?(?:risk|stop|sl|风险|風險|止损|止損)"
# (unit, pattern right after the number); the first that matches wins.
_UNITS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (unit, re.compile(pattern))
    for unit, pattern in (
        ("lots", r"\s*-?\s*(?:(?P<size>standard|mini|micro|nano)[\s-]*)?lots?\b"),
        ("lots", r"\s*(?:个|個)?\s*(?P<size>标准|標準|迷你|微型)?手(?![续續数數])"),
        ("pips", r"\s*-?\s*(?:个|個)?\s*pips?\b"),
        ("pips", r"\s*(?:个|個)?\s*(?:点|點)(?!差)"),
        ("points", r"\s*-?\s*(?:points?|pts?)\b"),
        ("percent", r"\s*(?:%|percent\b|per\s*cent\b|pct\b)"),
        ("atr", r"\s*(?:x|×|\*|times|倍)?\s*(?:the\s+|of\s+)?atrs?\b"),
        ("ratio", r"\s*r\b(?!\s*:)"),
        ("ratio", rf"\s*(?:x|×|times|倍)\s*{_RISK_OBJECT}"),
        ("ratio", r"\s*[:：]\s*(?P<den>\d+(?:\.\d+)?)(?!\d*\s*(?:am|pm)\b)"),
        ("bars", r"\s*-?\s*(?:bars?|candles?|candlesticks?)\b"),
        ("bars", r"\s*根\s*(?:k\s*[线線]|[线線]|蜡烛|蠟燭|阳线|陽線|阴线|陰線)?"),
        ("count", r"\s*(?:positions?|trades?|orders?|entries|layers?)\b"),
        ("count", r"\s*(?:笔|筆|单|單|张|張)"),
        *((f"money:{code}", rf"\s*(?:{words})(?![a-z])") for code, words in _CURRENCY_WORDS),
    )
)
_IMPLIED_RATIO = re.compile(rf"\s*{_RISK_OBJECT}")
_MONEY_SIGN = re.compile(r"([$€£¥])\s*$")
_PERCENT_BEFORE = re.compile(r"百分之\s*$")
_LOTS_BEFORE = re.compile(
    r"(?:lot\s*size|lots?|volume|position\s*size|手数|手數|仓位|倉位)\s*(?:of|is|:|=|为|為|是)?\s*$"
)
_COUNT_BEFORE = re.compile(
    r"(?:pyramid(?:ing)?|add(?:ing)?|positions?|加仓|加倉|持仓|持倉)\s*(?:up\s+to|to|of|:|=|到)?\s*$"
)
_RATIO_BEFORE = re.compile(r"(?:风险|風險|止损|止損|risk)\s*的?\s*$")
_TIMES_AFTER = re.compile(r"\s*倍")

# ---- roles, risk and limits ---------------------------------------------------------------------
# Alternatives in this order: at one place the first wins ("trail the stop" is a trailing stop,
# "buy stop" and "stop-limit" are entries, "止损单" a pending order, not the stop loss).
_KEYWORDS = re.compile(
    r"(?P<trailing>trail(?:ing)?(?:\s+(?:the\s+)?stop(?:[\s-]*loss)?)?"
    r"|移动止损|移動止損|追踪止损|追蹤止損|跟踪止损|跟蹤止損|跟随距离|跟隨距離)"
    r"|(?P<break_even>break[\s-]*even|保本)"
    r"|(?P<entry>(?:buy|sell)[\s-]*(?:stop|limit)(?:[\s-]*limit)?|stop[\s-]*limit|stop\s+orders?"
    r"|limit\s+orders?|止损单|止損單|挂单|掛單|限价|限價)"
    r"|(?P<take_profit>take[\s-]*profit|profit\s+target|targets?|\bt/?p\b|止盈|目标|目標)"
    r"|(?P<stop_loss>stop(?:[\s-]*loss)?|\bs/?l\b|cut\s*loss|止损|止損|停损|停損|止蚀|止蝕)"
)
_FILLER_BEFORE = re.compile(
    r"(?:\s|[-=:]|\b(?:loss|of|at|is|to|be|about|around|only|the|a|an|my|its|set)\b"
    r"|设|設|在|为|為|是|放|于|於|定|到)*"
)
_FILLER_AFTER = re.compile(r"\s*-?\s*")
_RISK_WORDS = re.compile(
    r"\brisk|\blos(?:e|ing)\b|\bequity\b|\baccount\b|\bbalance\b"
    r"|风险|風險|亏|虧|净值|淨值|账户|賬戶|帳戶|资金|資金|本金"
)
_MAX_WORDS = re.compile(
    r"never\s+more\s+than|no\s+more\s+than|not\s+more\s+than|at\s+most|up\s+to|\bmax(?:imum)?\b"
    r"|\bcap(?:ped)?\b|最多|不超过|不超過|上限|最大|封顶|封頂"
)
_MIN_WORDS = re.compile(r"at\s+least|\bmin(?:imum)?\b|最少|至少|最小")
_CLAUSE_END = re.compile(r"[;!?\n。；！？()\[\]{}、]|[,，](?!\d{3}(?!\d))|\.(?!\d)|[:：](?!\s*\d)")


def _clauses(text: str) -> list[str]:
    return [part for part in _CLAUSE_END.split(text) if part.strip()]


def _role(clause: str, start: int, end: int) -> Role | None:
    """The keyword right before ``clause[start:]`` (only filler words between), else right after
    ``clause[:end]``."""
    before: tuple[int, str] | None = None
    after: tuple[int, str] | None = None
    for keyword in _KEYWORDS.finditer(clause):
        if keyword.end() <= start:
            before = (keyword.end(), str(keyword.lastgroup))
        elif keyword.start() >= end and after is None:
            after = (keyword.start(), str(keyword.lastgroup))
    if before is not None and _FILLER_BEFORE.fullmatch(clause[before[0] : start]):
        return before[1]  # type: ignore[return-value]
    if after is not None and _FILLER_AFTER.fullmatch(clause[end : after[0]]):
        return after[1]  # type: ignore[return-value]
    return None


def _amount(clause: str, match: re.Match[str]) -> Amount | None:
    value = _number_value(match)
    if value is None:
        return None
    start, end = match.span()
    rest = clause[end:]
    unit: str | None = None
    currency: str | None = None
    word = match.group("word") or ""
    units = _UNITS
    if word in ("twice", "double"):
        # "twice the risk": the multiple is in the word.
        units = (("ratio", _IMPLIED_RATIO), *_UNITS)
    for name, pattern in units:
        found = pattern.match(rest)
        if found is None:
            continue
        if name == "ratio" and found.groupdict().get("den") is not None:
            den = found.group("den")
            # "08:00" is a time of day, not a ratio.
            if len(den.split(".")[0]) == 2 and match.group("digits") and value < 24:
                continue
            value = max(value, float(den)) / max(min(value, float(den)), 1e-12)
        size = found.groupdict().get("size")
        if size:
            value *= _LOT_SIZES[size]
        unit, end = name, end + found.end()
        break
    sign = _MONEY_SIGN.search(clause[:start])
    if sign and unit in (None, "points", "pips"):
        unit, currency, start = "money", _CURRENCY_SIGNS[sign.group(1)], sign.start()
    elif unit is not None and unit.startswith("money:"):
        unit, currency = "money", unit.split(":", 1)[1]
    elif unit is None and _PERCENT_BEFORE.search(clause[:start]):
        unit = "percent"
    elif unit is None and _LOTS_BEFORE.search(clause[:start]):
        unit = "lots"
    elif unit is None and match.group("digits") and _COUNT_BEFORE.search(clause[:start]):
        unit = "count"
    elif unit is None and _RATIO_BEFORE.search(clause[:start]) and _TIMES_AFTER.match(rest):
        unit, end = "ratio", end + _TIMES_AFTER.match(rest).end()  # type: ignore[union-attr]
    role = _role(clause, start, end)
    if unit is None:
        # A bare number counts only where a stop or a target is given in it: "SL 10, TP 15".
        if not match.group("digits") or role not in ("stop_loss", "take_profit"):
            return None
        unit = "number"
    head = clause[:start]
    limit: Literal["max", "min"] | None = None
    if _MAX_WORDS.search(head):
        limit = "max"
    elif _MIN_WORDS.search(head):
        limit = "min"
    return Amount(
        value=value,
        unit=unit,  # type: ignore[arg-type]
        written=" ".join(re.sub(r"(?<=\d)-(?=[a-z])", " ", clause[start:end]).split()),
        role=role,
        risk=bool(_RISK_WORDS.search(clause)),
        limit=limit,
        currency=currency,
        clause=clause.strip(),
    )


def read_amounts(text: str) -> list[Amount]:
    """Every amount ``text`` gives, in order (see the module docstring)."""
    amounts = []
    for clause in _clauses(normalise(text)):
        for match in _NUMBER.finditer(clause):
            amount = _amount(clause, match)
            if amount is not None:
                amounts.append(amount)
    return amounts
