"""Text from outside shown as it is: control and bidi characters written as visible escapes.

A strategy's name or text, a model's answer or a file's line holding U+202E (or an ANSI escape)
would show a reviewer something other than what is stored. ``screened`` writes each such
character as its escape (``\\x1b``, ``\\u202e``); the terminal (``cli.screen``) and the web
pages (``web.context.visible``) both show text through it.
"""

from __future__ import annotations

import re

# C0 and DEL, C1 (0x80-0x9f: 0x9b is a one-byte CSI, 0x9d an OSC), the Arabic letter mark, the
# left-to-right and right-to-left marks, the line and paragraph separators, and the bidi
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
CONTROL_BUT_LINES = re.compile(
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
    pattern = CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(_escape, str(value))
