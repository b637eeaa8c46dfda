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
from typing import Any

from rich.markup import escape
from rich.text import Text

from nl_trader.spec import StrategySpec
from nl_trader.text import CONTROL_BUT_LINES, screened
from nl_trader.translate.explain import explain

__all__ = ["cell", "explained", "json_text", "markup_safe", "screened"]


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
    return CONTROL_BUT_LINES.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def explained(spec: StrategySpec, language: str = "en") -> str:
    """The explain-back of ``spec`` for the screen: its name and description screened first (a
    line feed in a name cannot start a line of its own), the whole screened again."""
    shown = spec.model_copy(
        update={"name": screened(spec.name), "description": screened(spec.description, lines=True)}
    )
    return screened(explain(shown, language), lines=True)
