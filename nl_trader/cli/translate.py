"""``nl-trader translate``: text to a StrategySpec, a question, or a refusal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nl_trader.cli.common import LLM_HELP, app, console
from nl_trader.cli.screen import explained, json_text, screened
from nl_trader.errors import InvalidInputError, NlTraderError

if TYPE_CHECKING:
    from nl_trader.translate.translate import Translation

EXIT_SPEC, EXIT_ERROR, EXIT_CLARIFY, EXIT_REFUSE = 0, 2, 3, 4
_EXIT_CODES = {"spec": EXIT_SPEC, "clarify": EXIT_CLARIFY, "refuse": EXIT_REFUSE}
_RAW_SHOWN = 2000


def _fail(as_json: bool, message: str, problems: list[str], **extra: Any) -> typer.Exit:
    if as_json:
        print(json_text({"outcome": "error", "error": message, "problems": problems, **extra}))
    else:
        # The message quotes the trader's text and the model's words: screened, never markup.
        console.print(screened(message, lines=True), style="red", markup=False, highlight=False)
        for problem in problems:
            console.print(f"  - {screened(problem)}", markup=False, highlight=False)
        raw = extra.get("last_raw_output")
        if raw:
            cut = raw if len(raw) <= _RAW_SHOWN else raw[:_RAW_SHOWN] + " ..."
            console.print("last raw output of the model:", markup=False)
            console.print(screened(cut, lines=True), markup=False, highlight=False)
    return typer.Exit(EXIT_ERROR)


def _show(result: Translation) -> None:
    # Everything here but the counts comes from the model or its server: screened, never markup.
    console.print(screened(result.message, lines=True), markup=False, highlight=False)
    if result.spec is not None:
        console.print("", markup=False)
        console.print(explained(result.spec, result.language), markup=False, highlight=False)
        console.print("", markup=False)
        # The spec without its defaults: they are listed in the explain-back; --json prints the
        # canonical form, every default written out.
        written = result.spec.model_dump(mode="json", exclude_defaults=True)
        print(json_text(written, indent=2))
    elif result.missing:
        console.print(f"(missing: {screened(', '.join(result.missing))})", markup=False)
    tokens = result.usage
    console.print(
        f"{screened(result.model)}, {result.attempts} attempt(s), {tokens.input_tokens} + "
        f"{tokens.output_tokens} tokens, {result.latency_s:.2f} s, prompt {result.prompt_version} "
        f"({result.prompt_hash[:12]})",
        style="dim",
        markup=False,
        highlight=False,
    )
    for item in result.transient_errors:
        console.print(f"retried: {screened(item)}", style="dim", markup=False, highlight=False)


@app.command(name="translate")
def translate_command(
    text: Annotated[str, typer.Argument(help='The strategy in plain words; "-" reads stdin.')],
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help=LLM_HELP,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (the spec in canonical form).")
    ] = False,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, max=10, help="Answers to ask for at most.")
    ] = 3,
) -> None:
    """Translate a strategy text into a spec, clarifying questions, or a refusal.

    Prints the explain-back in the text's language and the spec, or the questions, or the refusal.

    Exit codes: 0 a spec; 3 clarifying questions; 4 a refusal; 2 an error (no model configured,
    the model failed, or no valid answer after --max-attempts).

    The openai model reads OPENAI_API_KEY, OPENAI_BASE_URL, NL_TRADER_MODEL and
    NL_TRADER_LLM_MODE (auto, json_schema or json_mode) from the environment.
    """
    # langchain and openai load here, not when the CLI starts (every command would wait for them).
    from nl_trader.translate.llm import default_llm_choice, make_llm
    from nl_trader.translate.translate import TranslationError, translate, translation_to_dict

    if text == "-":
        text = sys.stdin.read()
    choice = llm or default_llm_choice()
    if choice is None:
        raise _fail(
            as_json,
            "no model configured",
            [
                "set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server, "
                "NL_TRADER_MODEL for the model), or pass --llm scripted:FILE "
                "(--llm scripted:examples answers the bundled example texts)"
            ],
        )
    try:
        model = make_llm(choice)
        result = translate(text, model, max_attempts=max_attempts)
    except TranslationError as error:
        usage = {
            "input_tokens": error.usage.input_tokens,
            "output_tokens": error.usage.output_tokens,
        }
        raise _fail(
            as_json,
            str(error),
            error.problems,
            attempts=error.attempts,
            last_raw_output=error.last_raw_output,
            usage=usage,
            transient_errors=list(error.transient_errors),
        ) from None
    except InvalidInputError as error:
        raise _fail(as_json, f"invalid {error.what}", list(error.problems)) from None
    except NlTraderError as error:
        raise _fail(as_json, str(error), []) from None
    if as_json:
        print(json_text(translation_to_dict(result)))
    else:
        _show(result)
    raise typer.Exit(_EXIT_CODES[result.outcome])
