"""The ``nl-trader`` command line: one module per group of commands, all on one Typer app."""

from __future__ import annotations

from nl_trader import __version__
from nl_trader.cli import (  # noqa: F401  (each module registers its commands)
    backtest,
    demo,
    evals,
    lifecycle,
    live,
    optimise,
    specs,
    translate,
    web,
)
from nl_trader.cli.common import app, console

__all__ = ["app"]


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)
