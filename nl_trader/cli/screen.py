"""Text from outside the program (a spec, the model, a file, the database) made safe to print.

A strategy's name or a model's answer may hold terminal control sequences: ``ESC[2J`` clears the
screen, ``ESC[8m`` hides what follows, an OSC sequence retitles the window or writes a link, a
carriage return or a bidi override (U+202E) makes a line read as something else. Printed as they
are, they show a reviewer something other than what is stored. So every such text is printed
through ``screened``: each control character is written as its escape (``\\x1b``, ``\\u202e``),
visible and inert. Rich markup in it (``[bold]``, ``[link=...]``) is never read as markup either:
print the result with ``markup=False``, or as a ``Text`` (``cell``), or escaped (``markup_safe``)
inside a line of our own markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.markup import escape
from rich.text import Text

from nl_trader.spec import StrategySpec
from nl_trader.translate.explain import explain

__all__ = ["cell", "explained", "json_text", "markup_safe", "screened"]

# C0 and DEL, C1 (0x80-0x9f: 0x9b is a one-byte CSI, 0x9d an OSC), the Arabic letter mark, the
# left-to-right and right-to-left marks, the line and paragraph separators, and the bidi
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_CONTROL_BUT_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def screened(value: object, *, lines: bool = False) -> str:
    """``value`` as text with every control character written as its escape (``\\x1b``).

    ``lines=True`` keeps line feeds and tabs (a multi-line explanation, the trader's text); by
    default they are escaped too, so that a one-line field (a name, a model's name) cannot add a
    line of its own to the output.
    """
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(_escape, str(value))


def markup_safe(value: object) -> str:
    """``screened(value)`` for a line of rich markup: its brackets are text, not markup."""
    return escape(screened(value))


def cell(value: object) -> Text:
    """``screened(value)`` as a table cell, never read as markup."""
    return Text(screened(value))


def json_text(data: Any, **options: Any) -> str:
    """``data`` as JSON (``ensure_ascii=False``) with control characters as ``\\u`` escapes.

    ``json.dumps`` escapes C0 controls itself, but writes DEL, C1 controls and bidi overrides as
    they are; written as escapes instead, the JSON reads back to the same data.
    """
    text = json.dumps(data, ensure_ascii=False, **options)
    return _CONTROL_BUT_LINES.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def explained(spec: StrategySpec, language: str = "en") -> str:
    """The explain-back of ``spec`` for the screen: its name and description screened first (a
    line feed in a name cannot start a line of its own), the whole screened again."""
    shown = spec.model_copy(
        update={"name": screened(spec.name), "description": screened(spec.description, lines=True)}
    )
    return screened(explain(shown, language), lines=True)
