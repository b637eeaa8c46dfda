"""Commands on a spec file: ``validate``, ``explain``, ``schema``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from nl_trader.cli.common import SpecPath, app, console, load_spec
from nl_trader.cli.screen import explained, markup_safe, screened
from nl_trader.errors import NlTraderError
from nl_trader.spec import json_schema, spec_hash


@app.command()
def validate(spec: SpecPath) -> None:
    """Check a strategy spec; print its hash, or every problem with its path."""
    parsed = load_spec(spec, invalid_exit=1)
    console.print(f"valid: {screened(parsed.name)} (sha256 {spec_hash(parsed)})", markup=False)


@app.command(name="explain")
def explain_command(
    spec: SpecPath,
    lang: Annotated[str, typer.Option("--lang", help="en, zh-Hant or zh-Hans")] = "en",
) -> None:
    """Describe a strategy in plain words, with the defaults that were filled in."""
    parsed = load_spec(spec)
    try:
        console.print(explained(parsed, lang), markup=False, highlight=False)
    except NlTraderError as error:
        # The error quotes --lang as given.
        console.print(f"[red]{markup_safe(error)}[/red]")
        raise typer.Exit(2) from None


@app.command()
def schema() -> None:
    """Print the JSON Schema of StrategySpec (with the indicator catalogue)."""
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
