"""The strategy lifecycle commands: new, list, show, approve, revoke, live, audit."""

from __future__ import annotations

from nl_trader.cli.common import app, console  # noqa: F401
