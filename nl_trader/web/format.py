"""How pages show figures, times, hashes, payloads and the library's reasons: Jinja filters, in
one place (``register``), so every page rounds and writes them the same way.

Money has 2 decimals and thousands separators (``-1,234.50``), ratios 2 decimals (``0.87``),
percentages 2 decimals and a sign (``2.78 %``); times are UTC to the minute
(``2026-12-03 07:37 UTC``); an audit payload is JSON (``null``, ``true``, ``{"filled": 2}``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2

MISSING = "-"
SHORT_HASH_CHARS = 12
# A float's last-digit noise (-6.2700000000000005) goes; a price's fifth decimal stays.
_PAYLOAD_DECIMALS = 8
# The library ends some reasons with the command that fixes them, for the terminal's user:
# "... approve its report (nl-trader approve 1 --report RUN --by NAME)".
_COMMAND_HINT = re.compile(r"\s*\((nl-trader\s+[a-z][^()]*)\)\s*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def money(value: Any) -> str:
    """An amount of money: 2 decimals, thousands separated (``12,345.60``); ``-`` when absent."""
    if not _is_number(value) or not math.isfinite(value):
        return MISSING if value is None else str(value)
    return f"{value:,.2f}"


def ratio(value: Any) -> str:
    """A ratio (profit factor, Sharpe): 2 decimals; ``-`` when absent (no losing trade)."""
    if not _is_number(value) or not math.isfinite(value):
        return MISSING if value is None else str(value)
    return f"{value:,.2f}"


def pct(value: Any) -> str:
    """A percentage: 2 decimals and the sign (``2.78 %``); ``-`` when absent."""
    if not _is_number(value) or not math.isfinite(value):
        return MISSING if value is None else str(value)
    return f"{value:,.2f} %"


def figure(value: Any, digits: int = 2) -> Any:
    """A figure of unknown kind: a float to ``digits`` decimals (thousands separated), a whole
    number with thousands separated, ``-`` when absent, anything else as it is."""
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if math.isfinite(value) else str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return MISSING if value is None else value


def plain(value: Any) -> str:
    """A price or a volume as recorded, without float noise (``1.08123``, ``0.1``); blank when
    absent."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return repr(round(value, _PAYLOAD_DECIMALS))
    return str(value)


_KINDS = {"money": money, "ratio": ratio, "pct": pct, "num": figure}


def figure_as(value: Any, kind: str) -> Any:
    """``value`` written as a ``kind`` of figure: ``money``, ``ratio``, ``pct`` or ``num``."""
    return _KINDS[kind](value)


def utc(value: Any) -> str:
    """A moment as pages show it: ``2026-12-03 07:37 UTC`` (from a datetime or ISO text)."""
    if value is None or value == "":
        return ""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(moment, datetime):
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def utc_seconds(value: Any) -> str:
    """``utc`` to the second, for a journal where several things happen in one minute."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def short_hash(value: Any) -> str:
    """A hash's first characters (the page keeps the whole one in a tooltip)."""
    text = "" if value is None else str(value)
    return text if len(text) <= SHORT_HASH_CHARS else text[:SHORT_HASH_CHARS] + "…"


def _tidy(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, _PAYLOAD_DECIMALS) if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(key): _tidy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tidy(item) for item in value]
    return value


def as_json(value: Any) -> str:
    """A recorded value as JSON text (``null``, ``true``, ``{"filled": 2}``), floats without
    their last-digit noise."""
    return json.dumps(_tidy(value), ensure_ascii=False, sort_keys=True, default=str)


# Commands a web page does itself (or links to); any other keeps its command line, labelled.
WEB_COMMANDS = frozenset({"approve", "live stop"})


@dataclass(frozen=True)
class WebReason:
    """A library reason as a web page shows it: without the trailing command-line hint, the
    command's name (``approve``, ``live assign``) so the page can link to where it does that, and
    the command line itself for a command the web app has no page for."""

    text: str
    command: str | None = None
    command_line: str | None = None


def web_reason(reason: str) -> WebReason:
    """``... approve its report (nl-trader approve 1 --report RUN --by NAME)`` -> the sentence
    before the hint and ``approve``. A reason without such a hint is kept as it is."""
    found = _COMMAND_HINT.search(reason)
    if found is None:
        return WebReason(reason)
    words = []
    for word in found.group(1).split()[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        words.append(word)
    command = " ".join(words) or None
    line = None if command in WEB_COMMANDS else found.group(1)
    return WebReason(reason[: found.start()].rstrip(), command, line)


def register(environment: jinja2.Environment) -> None:
    """Give the pages' templates these filters."""
    environment.filters.update(
        num=figure,
        money=money,
        ratio=ratio,
        pct=pct,
        plain=plain,
        figure_as=figure_as,
        utc=utc,
        utc_seconds=utc_seconds,
        short_hash=short_hash,
        as_json=as_json,
        web_reason=web_reason,
    )
