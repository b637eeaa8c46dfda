"""``nl-trader eval``: translation quality on the cases of evals/."""

from __future__ import annotations

from nl_trader.cli.common import app, console  # noqa: F401
