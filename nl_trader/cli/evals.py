"""``nl-trader eval``: translation quality on the cases of evals/, as a table and a JSON report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nl_trader.cli.common import app, console
from nl_trader.errors import InvalidInputError

if TYPE_CHECKING:
    from nl_trader.translate.evaluate import CaseResult, EvalCase, EvalReport

# Where the cases and the recorded answers live (a checkout's evals/, like strategies/ and prompts/).
EVALS_DIR = Path(__file__).resolve().parents[2] / "evals"

EXIT_BELOW_THRESHOLD, EXIT_UNUSABLE = 1, 2
RECORDED = "recorded"
# The tags of the hard cases the issue names, shown in their own table.
_HARD_TAGS = (
    "pips-vs-points",
    "percent",
    "risk-pct",
    "session-tz",
    "jpy",
    "gold",
    "slang",
    "conflicting",
    "injection",
    "missing-info",
    "vague",
)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _show(report: EvalReport) -> None:
    from nl_trader.translate.evaluate import OUTCOMES, SPEC_FIELDS

    summary = report.summary
    languages = ", ".join(f"{count} {name}" for name, count in sorted(summary.languages.items()))
    # Case ids, tags, the model's name and its words are data, never markup: escaped or Text.
    console.print(
        f"[bold]Translation eval[/bold]: {summary.cases} cases ({escape(languages)}); model "
        f"{escape(report.model)} via {escape(report.llm)}; prompt "
        f"{escape(report.prompt_version)} ({report.prompt_hash[:12]}); {report.elapsed_s:.1f} s",
        highlight=False,
    )
    table = Table(title="Summary", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("over", justify="right")
    spec_cases = f"{summary.spec_cases} spec cases"
    clarify_cases = sum(summary.confusion["clarify"].values())
    refuse_cases = sum(summary.confusion["refuse"].values())
    rows = [
        ("pass (right outcome; spec: exact match)", _pct(summary.pass_rate), f"{summary.cases}"),
        ("outcome accuracy", _pct(summary.outcome_accuracy), f"{summary.cases}"),
        ("spec exact match (semantic)", _pct(summary.exact_match_rate), spec_cases),
        ("spec backtest-equivalent", _pct(summary.backtest_equivalent_rate), spec_cases),
        ("spec precision / recall", _pair(summary.spec_precision, summary.spec_recall), ""),
        (
            "clarify precision / recall",
            _pair(summary.clarify_precision, summary.clarify_recall),
            f"{clarify_cases} clarify cases",
        ),
        ("clarify: fields at stake named", _pct(summary.missing_recall), ""),
        (
            "refuse precision / recall",
            _pair(summary.refuse_precision, summary.refuse_recall),
            f"{refuse_cases} refuse cases",
        ),
        ("refuse: unsupported thing named", _pct(summary.unsupported_named_rate), ""),
        ("language detected", _pct(summary.language_accuracy), ""),
        ("errors (no usable answer)", str(summary.errors), ""),
        ("right after an ask-again", str(summary.repaired), ""),
        ("mean attempts", _number(summary.mean_attempts, ".2f"), ""),
        ("tokens in / out", f"{summary.input_tokens:,} / {summary.output_tokens:,}", ""),
        ("tokens per case", _number(summary.mean_tokens_per_case, ",.0f"), ""),
        (
            "latency mean / p95",
            f"{_number(summary.latency_mean_s, '.3f')} / {_number(summary.latency_p95_s, '.3f')} s",
            "",
        ),
    ]
    for cells in rows:
        table.add_row(*cells)
    console.print(table)

    fields = Table(title=f"Per-field accuracy ({summary.spec_pairs} spec answers to spec cases)")
    fields.add_column("field")
    fields.add_column("accuracy", justify="right")
    for name in SPEC_FIELDS:
        fields.add_row(name, _pct(summary.field_accuracy[name]))
    confusion = Table(title="Outcomes: expected (rows) vs got (columns)")
    confusion.add_column("expected")
    for got in (*OUTCOMES, "error"):
        confusion.add_column(got, justify="right")
    for expected in OUTCOMES:
        confusion.add_row(expected, *(str(n) for n in summary.confusion[expected].values()))
    groups = Table(title="By language and hard-case tag")
    for column in ("group", "cases", "pass", "outcome", "exact"):
        groups.add_column(column, justify="left" if column == "group" else "right")
    for name, figures in [
        *summary.by_language.items(),
        *((f"#{tag}", summary.by_tag[tag]) for tag in _HARD_TAGS if tag in summary.by_tag),
    ]:
        groups.add_row(
            Text(name),
            str(figures["cases"]),
            _pct(figures["pass_rate"]),
            _pct(figures["outcome_accuracy"]),
            _pct(figures["exact_match_rate"]),
        )
    console.print(fields)
    console.print(confusion)
    console.print(groups)
    failed = [row for row in report.rows if not row.passed]
    if failed:
        failures = Table(title=f"Cases that did not pass ({len(failed)})")
        failures.add_column("case")
        failures.add_column("expected")
        failures.add_column("got")
        failures.add_column("what", overflow="fold")
        failures.add_column("backtest", overflow="fold")
        for row in failed:
            failures.add_row(
                Text(row.id),
                row.expected,
                row.got,
                Text(_cut(row.summary_line)),
                Text(_cut(_backtest(row))),
            )
        console.print(failures)


def _pair(precision: float | None, recall: float | None) -> str:
    return f"{_pct(precision)} / {_pct(recall)}"


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _backtest(row: CaseResult) -> str:
    if row.backtest_equivalent is None or not row.backtest_note:
        return ""
    return "same orders" if row.backtest_equivalent else row.backtest_note


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unusable(message: str, problems: Sequence[str]) -> typer.Exit:
    console.print(message, style="red", markup=False, highlight=False)
    for problem in problems:
        console.print(f"  - {problem}", markup=False)
    return typer.Exit(EXIT_UNUSABLE)


@app.command(name="eval")
def eval_command(
    llm: Annotated[
        str,
        typer.Option(
            "--llm",
            help=f"'{RECORDED}' (the recorded answers of evals/recorded/scripted.json), "
            "scripted:PATH (a script file, e.g. one written by --record) or openai (configured "
            "from OPENAI_API_KEY, OPENAI_BASE_URL and NL_TRADER_MODEL).",
        ),
    ] = RECORDED,
    cases_dir: Annotated[
        Path, typer.Option("--cases", help="Folder of *.jsonl case files.")
    ] = EVALS_DIR / "cases",
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON report.")] = EVALS_DIR
    / "results"
    / "latest.json",
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Also write the model's raw replies as a script file, to replay later with "
            "--llm scripted:FILE.",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Only the cases whose id contains this, or with this tag."),
    ] = None,
    bars: Annotated[
        int | None,
        typer.Option(
            "--bars", min=100, help="Sample bars per backtest-equivalence check (default 3000)."
        ),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, help="Answers asked per case (ask-again).")
    ] = 3,
    fail_under: Annotated[
        float | None,
        typer.Option(
            "--fail-under", min=0, max=1, help="Exit 1 when the pass rate is below this (0..1)."
        ),
    ] = None,
) -> None:
    """Translate every eval case, score the answers, print the table and write the JSON report."""
    # langchain, openai and the backtester load here, not when the CLI starts.
    from nl_trader.translate.evaluate import (
        DEFAULT_SAMPLE_BARS,
        RECORDED_SCRIPT,
        RecordingChatModel,
        load_cases,
        output_problems,
        run_eval,
        select_cases,
    )
    from nl_trader.translate.llm import make_llm

    choice = f"scripted:{RECORDED_SCRIPT}" if llm == RECORDED else llm
    # Checked before the run: a real model's run costs time and tokens, and must not be lost.
    paths = output_problems(out, "--out")
    if record is not None:
        paths += output_problems(record, "--record")
        if record.resolve() == out.resolve():
            paths.append(f"--record: {record} is the --out file too; name another file")
    if paths:
        raise _unusable("cannot run the eval: invalid output files", paths)
    try:
        cases = select_cases(load_cases(cases_dir), only or ())
        model = make_llm(choice)
    except InvalidInputError as error:
        raise _unusable(f"cannot run the eval: invalid {error.what}", error.problems) from None
    if not cases:
        console.print(
            f"no case matches --only {' '.join(only or ())}",
            style="red",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_UNUSABLE)
    recorder = RecordingChatModel(inner=model) if record else None
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("translating", total=len(cases))

        def done(case: EvalCase, row: CaseResult) -> None:
            progress.update(task, advance=1, description=escape(case.id))

        report = run_eval(
            cases,
            recorder or model,
            llm_name=llm,
            max_attempts=max_attempts,
            bars=bars or DEFAULT_SAMPLE_BARS,
            cases_dir=cases_dir,
            on_case=done,
        )
    # The files are written before the tables are shown: nothing shown can lose a paid-for run.
    written: list[str] = []
    unwritten: list[str] = []
    try:
        report.write_json(out)
        written.append(f"report: {out}")
    except OSError as error:
        unwritten.append(f"--out: cannot write {out}: {error.strerror or error}")
    if recorder is not None and record is not None:
        # Written even when the report cannot be: the recording is what costs tokens to redo.
        try:
            recorder.write_script(record, report.model)
            written.append(f"recorded replies: {record} (replay with --llm scripted:{record})")
        except OSError as error:
            unwritten.append(f"--record: cannot write {record}: {error.strerror or error}")
    _show(report)
    for line in written:
        console.print(line, markup=False, highlight=False)
    if unwritten:
        raise _unusable("the eval ran, but not all of its files were written", unwritten)
    rate = report.summary.pass_rate
    if fail_under is not None and (rate is None or rate < fail_under):
        console.print(
            f"[red]pass rate {_pct(rate)} is below --fail-under {_pct(fail_under)}[/red]",
            highlight=False,
        )
        raise typer.Exit(EXIT_BELOW_THRESHOLD)
