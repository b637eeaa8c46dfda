"""Checks that a spec does not rest on a silent guess: what it trades, on which bars, its stop.

A model asked to translate "buy when RSI is below 30" may answer with EURUSD on H1: a complete,
valid spec the trader never asked for. These checks compare the spec with the text, and any
problem goes back to the model in the ask-again loop, which then asks the trader instead.

They are deliberately lenient: a problem is raised only when the text names no instrument at all,
no bar size at all, no stop at all while the spec sets one, or waives the stop loss nowhere. A text that names an instrument the checks do
not know (an index, a crypto pair) passes; deciding whether the model mapped it right is the
evals' job, not a reason to reject a translation.
"""

from __future__ import annotations

import re

from nl_trader.spec import StrategySpec

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
    """``path: problem`` lines for parts of ``spec`` that the text gives no ground for."""
    problems = []
    if not _INSTRUMENT.search(text) and not any(_names_symbol(text, s) for s in spec.symbols):
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
    return problems
