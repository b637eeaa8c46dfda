"""``nl-trader translate``: text to a StrategySpec, a question, or a refusal."""

from __future__ import annotations

from nl_trader.cli.common import app, console  # noqa: F401
