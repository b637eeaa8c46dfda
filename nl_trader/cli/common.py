"""What every ``nl-trader`` command shares: the Typer app, the console and spec loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nl_trader.cli.screen import screened
from nl_trader.jit import preparing
from nl_trader.spec import MAX_SPEC_BYTES, SpecError, StrategySpec, parse_spec

app = typer.Typer(
    help="nl_trader: plain-language forex strategies, backtested, then promoted to MetaTrader 5.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(width=max(Console().width, 120))


@app.callback()
def _every_command(context: typer.Context) -> None:
    # A command that has to compile the engine first (the first one after an install) says so
    # and shows its progress, on stderr.
    context.with_resource(preparing("the simulator"))


SpecPath = Annotated[Path, typer.Argument(help="A StrategySpec JSON file.")]


def load_spec(path: Path, *, invalid_exit: int = 2) -> StrategySpec:
    """Read and validate a spec file, or print every problem and exit: 2 (bad input) when it
    cannot be read, ``invalid_exit`` when it is not a valid strategy (``validate``'s answer is 1).

    The file is read as bytes, at most one byte over the spec size limit (a larger file is
    refused unread): ``parse_spec`` reads its encoding (UTF-8, or UTF-16/32 with a byte-order
    mark) and refuses any other, naming it."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
        return parse_spec(raw)
    except OSError as error:
        shown = screened(f"cannot read {path}: {error.strerror or error}")
        console.print(shown, style="red", markup=False)
        raise typer.Exit(2) from None
    except SpecError as error:
        console.print(screened(f"{path} is not a valid strategy:"), style="red", markup=False)
        for problem in error.problems:  # a problem may quote the file's text: shown inert
            console.print(f"  - {screened(problem)}", markup=False)
        raise typer.Exit(invalid_exit) from None


# The --llm option of the commands that translate (the choices are made in translate/llm.py).
LLM_HELP = (
    "The model: scripted:PATH (scripted:examples for the bundled script) or openai. "
    "Default: $NL_TRADER_LLM, else openai when OPENAI_API_KEY or OPENAI_BASE_URL is set."
)
