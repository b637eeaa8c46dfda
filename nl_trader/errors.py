"""One exception hierarchy for the whole product.

Every error raised for bad input names the field and the problem, so that a person (or the LLM in
its ask-again loop) can act on it: ``volume: 0.013 is not a multiple of the symbol's volume step 0.01``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class NlTraderError(Exception):
    """Base class of every error nl_trader raises on purpose."""


class InvalidInputError(NlTraderError, ValueError):
    """Input that cannot be used as given; ``problems`` holds one ``field: problem`` line each."""

    def __init__(self, problems: Sequence[str], *, what: str = "input") -> None:
        self.problems = tuple(problems)
        self.what = what
        super().__init__(f"invalid {what}: " + "; ".join(self.problems))

    @classmethod
    def from_validation(cls, error: Any, *, where: str, what: str) -> InvalidInputError:
        """A pydantic ``ValidationError`` as problems named ``where.field``."""
        return cls(
            [
                f"{where}.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                for item in error.errors(include_url=False)
            ],
            what=what,
        )


class OrderParamsError(InvalidInputError):
    """A send_order params dict that breaks the seed contract."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(problems, what="order params")


class LoginError(NlTraderError):
    """Login params missing or refused. Never carries the password."""


class TerminalError(NlTraderError):
    """The MT5 terminal (real or fake) failed a call: ``code`` and ``message`` from ``last_error()``."""

    def __init__(self, call: str, code: int, message: str) -> None:
        self.call = call
        self.code = code
        self.message = message
        super().__init__(f"{call} failed: ({code}, {message!r})")


class TerminalUnavailableError(NlTraderError):
    """No terminal can be reached: the MetaTrader5 package is missing or not configured."""
