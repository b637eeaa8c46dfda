"""The strategy lifecycle commands: new, edit, list, show, backtest-strategy, report, approve,
revoke, retire, live start / status / stop, audit.

Every command takes ``--db`` (default: ``$NL_TRADER_DB``, else ``~/.nl_trader/nl_trader.db``).
Exit codes: 0 done; 1 refused (a lifecycle rule, the gate, a broken audit chain), with every
reason; 2 bad input (a field and its problem) or an unreadable file. ``new`` exits as
``translate`` does: 0 a spec (stored), 3 clarifying questions, 4 a refusal (nothing stored as a
strategy), 2 an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from nl_trader.backtest.engine import BacktestSettings
from nl_trader.cli.common import app, console, load_spec
from nl_trader.cli.options import (
    DATA_OPTIONS,
    AccountModeOption,
    CommissionOption,
    ConvertOption,
    CurrencyOption,
    DataOption,
    DepositOption,
    FromOption,
    LeverageOption,
    ServerTimezoneOption,
    SpreadOption,
    SymbolOption,
    TimezoneOption,
    ToOption,
    settings_problems,
)
from nl_trader.cli.screen import cell, explained, markup_safe, screened
from nl_trader.config import current_actor
from nl_trader.data.run_data import DEFAULT_SAMPLE_BARS, RunData
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.lifecycle import (
    MAX_APPROVAL_DAYS,
    GateRefusedError,
    LifecycleError,
    approve,
    backtest_from,
    check_can_go_live,
    edit,
    load_criteria,
    register,
    register_translation,
    report_file,
    report_problems,
    request_stop,
    retire,
    revoke,
    run_criteria,
    verify_store,
)
from nl_trader.live.accounts import get_profile
from nl_trader.live.paper import paper_session_terminal
from nl_trader.live.session import (
    LiveSession,
    run_sessions,
    start_session,
)
from nl_trader.live.terminals import open_terminal
from nl_trader.spec import StrategySpec, spec_hash
from nl_trader.store import BacktestRun, Store

if TYPE_CHECKING:  # translating loads langchain: only `new` imports it, when it runs
    from nl_trader.translate.translate import Translation

EXIT_REFUSED, EXIT_INPUT = 1, 2
EXIT_CLARIFY, EXIT_REFUSE = 3, 4

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The store's SQLite file (default: $NL_TRADER_DB, else ~/.nl_trader/nl_trader.db).",
    ),
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who acts (default: $NL_TRADER_USER, else your login name)."),
]
StrategyId = Annotated[int, typer.Argument(help="The strategy's id (see `nl-trader list`).")]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Configuration TOML (\\[promotion], \\[accounts.NAME]); default: $NL_TRADER_CONFIG, "
        "else ~/.nl_trader/config.toml.",
    ),
]

live_app = typer.Typer(
    help="Paper and live sessions: start (through the gate), status, stop.",
    no_args_is_help=True,
)
app.add_typer(live_app, name="live")


@contextmanager
def reported() -> Iterator[None]:
    """Lifecycle errors as messages and exit codes: 1 refused (with every reason), 2 bad input."""
    try:
        yield
    except GateRefusedError as error:
        console.print(f"[red]refused: strategy {error.strategy_id} may not go live:[/red]")
        for reason in error.reasons:
            console.print(f"  - {reason}", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    except LifecycleError as error:
        console.print("[red]refused:[/red]")
        for problem in error.problems:
            console.print(f"  - {problem}", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    except InvalidInputError as error:
        console.print(f"[red]invalid {error.what}:[/red]")
        for problem in error.problems:
            console.print(f"  - {problem}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except NlTraderError as error:
        # A TranslationError (from `new`) quotes the model's answer: screened, never markup.
        console.print(screened(error, lines=True), style="red", markup=False, highlight=False)
        for problem in getattr(error, "problems", ()):  # a TranslationError's last problems
            console.print(f"  - {screened(problem)}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INPUT) from None


@contextmanager
def open_store(db: Path | None) -> Iterator[Store]:
    """The store, with lifecycle errors turned into messages and exit codes (``reported``)."""
    with reported():
        store = Store(db)
        try:
            yield store
        finally:
            store.close()


def _actor(by: str | None) -> str:
    return (by or current_actor()).strip()


def format_pf(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# ---- new, edit -----------------------------------------------------------------------------------
@app.command()
def new(
    text: Annotated[str, typer.Argument(help="The strategy in plain words (English or Chinese).")],
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help="The model: scripted:PATH (scripted:examples answers the bundled example texts) "
            "or openai. Default: $NL_TRADER_LLM, else openai when OPENAI_API_KEY or "
            "OPENAI_BASE_URL is set, else scripted:examples.",
        ),
    ] = None,
    spec_file: Annotated[
        Path | None,
        typer.Option("--spec", help="Store this spec file for TEXT instead of translating TEXT."),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, max=10, help="Answers to ask for at most.")
    ] = 3,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Translate a strategy text and store it as a new strategy, in draft.

    Stored: the text, the spec and its hash as version 1, and the translation's record (model,
    prompt version and hash, tokens). A clarification or a refusal stores the translation attempt
    only, prints the questions or the reason, and exits 3 or 4.
    """
    actor = _actor(by)
    if spec_file is not None:
        spec = load_spec(spec_file)
        with open_store(db) as store:
            stored = register(store, spec, text=text, by=actor, language=_language(text))
            _print_registered(stored.strategy_id, spec, None)
        return
    from nl_trader.translate.llm import default_llm_choice, make_llm
    from nl_trader.translate.translate import translate

    choice = llm or default_llm_choice()
    if choice is None:
        choice = "scripted:examples"
        console.print(
            "[dim]no model configured (OPENAI_API_KEY, NL_TRADER_LLM): using the bundled "
            "scripted model, which answers the example texts of strategies/ only[/dim]"
        )
    with reported():
        result = translate(text, make_llm(choice), max_attempts=max_attempts)
    with open_store(db) as store:
        translation_id, version = register_translation(store, result, by=actor)
        console.print(screened(result.message, lines=True), markup=False, highlight=False)
        _print_usage(result)
        if result.spec is None or version is None:
            for question in result.questions:
                console.print(f"  ? {screened(question)}", markup=False, highlight=False)
            for item in result.unsupported:
                console.print(f"  - unsupported: {screened(item)}", markup=False, highlight=False)
            console.print(
                f"nothing stored as a strategy (translation {translation_id} recorded)",
                markup=False,
            )
            raise typer.Exit(EXIT_CLARIFY if result.outcome == "clarify" else EXIT_REFUSE)
        _print_registered(version.strategy_id, result.spec, explained(result.spec, result.language))


def _language(text: str) -> str:
    from nl_trader.translate.language import detect_language

    return detect_language(text)


def _print_usage(result: Translation) -> None:
    # The model's name comes from its server: screened, never markup.
    console.print(
        f"{screened(result.model)}, {result.attempts} attempt(s), {result.usage.input_tokens} + "
        f"{result.usage.output_tokens} tokens, {result.latency_s:.2f} s, prompt "
        f"{result.prompt_version} ({result.prompt_hash[:12]})",
        style="dim",
        markup=False,
        highlight=False,
    )


def _print_registered(strategy_id: int, spec: StrategySpec, explanation: str | None) -> None:
    console.print("")
    shown = screened(explanation, lines=True) if explanation else explained(spec, "en")
    console.print(shown, markup=False, highlight=False)
    console.print("")
    console.print(
        f"stored as strategy {strategy_id} version 1 (sha256 {spec_hash(spec)}), state draft",
        markup=False,
    )
    console.print(f"next: nl-trader backtest {strategy_id} --data sample", markup=False)


@app.command(name="edit")
def edit_command(
    strategy_id: StrategyId,
    spec_file: Annotated[Path, typer.Argument(help="The new StrategySpec JSON file.")],
    note: Annotated[str, typer.Option(help="What changed, and why.")] = "",
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Store a new version of a strategy's spec (its parent: the current version).

    The new version is a draft: it needs its own backtest and approval before it can trade.
    """
    spec = load_spec(spec_file)
    with open_store(db) as store:
        version = edit(store, strategy_id, spec, by=_actor(by), note=note)
        console.print(
            f"strategy {strategy_id} version {version.number} (sha256 {version.spec_hash}), "
            f"parent version {version.number - 1}; state draft: backtest and approve it again",
            markup=False,
        )


# ---- list, show ------------------------------------------------------------------------------------
@app.command(name="list")
def list_command(db: DbOption = None) -> None:
    """List the stored strategies with their state, version, latest run and approval."""
    with open_store(db) as store:
        table = Table(title=f"Strategies in {store.path}", title_justify="left")
        for column in ("id", "name", "state", "version", "spec sha256", "latest run", "approval"):
            table.add_column(column)
        now = store.now()
        for strategy in store.strategies():
            version = store.current_version(strategy.id)
            run = store.latest_run(version.id)
            approval = store.latest_approval(strategy.id)
            table.add_row(
                str(strategy.id),
                cell(strategy.name),
                strategy.state.value,
                str(version.number),
                version.spec_hash[:12],
                f"{run.id}: PF {format_pf(run.figures['profit_factor'])}, "
                f"{run.figures['total_trades']} trades"
                if run
                else "-",
                _approval_status(approval, now) if approval else "-",
            )
        console.print(table)


def _approval_status(approval: Any, now: datetime) -> str:
    if approval.revoked:
        return f"{approval.id}: revoked"
    if now >= approval.expires_at:
        return f"{approval.id}: expired"
    return (
        f"{approval.id}: by {markup_safe(approval.approved_by)}, until {_when(approval.expires_at)}"
    )


@app.command()
def show(
    strategy_id: StrategyId,
    lang: Annotated[str, typer.Option("--lang", help="Explain-back language: en or zh-Hant.")] = "",
    db: DbOption = None,
) -> None:
    """Show a strategy: text, explain-back, versions, backtests, approvals, sessions, gate.

    Each backtest is shown with its promotion criteria (required and actual); the gate line says
    whether a session may start now, or every reason it may not."""
    with open_store(db) as store:
        strategy = store.strategy(strategy_id)
        version = store.current_version(strategy_id)
        console.print(
            f"[bold]strategy {strategy.id}: {markup_safe(strategy.name)}[/bold] - state "
            f"{strategy.state.value}, "
            f"version {version.number}",
            highlight=False,
        )
        console.print(f"text: {screened(version.text, lines=True)}", markup=False, highlight=False)
        language = lang or ("zh-Hant" if version.language.startswith("zh") else "en")
        console.print("")
        console.print(explained(version.spec, language), markup=False, highlight=False)
        console.print("")
        versions = Table(title="Versions", title_justify="left")
        for column in ("version", "id", "parent", "spec sha256", "created", "by", "from", "note"):
            versions.add_column(column)
        for item in store.versions(strategy_id):
            origin = "-"
            if item.optimisation_id is not None:
                found = store.optimisation(item.optimisation_id)
                origin = f"optimisation {found.id} of {found.trials} trials"
            versions.add_row(
                str(item.number),
                str(item.id),
                str(item.parent_id or "-"),
                item.spec_hash[:16],
                _when(item.created_at),
                cell(item.created_by),
                origin,
                cell(item.note),
            )
        console.print(versions)
        runs = store.runs(strategy_id)
        if runs:
            console.print(_runs_table(store, runs))
            _print_criteria(runs[-1])
        approvals = store.approvals(strategy_id)
        if approvals:
            table = Table(title="Approvals", title_justify="left")
            for column in ("id", "version", "run", "by", "at", "expires", "criteria", "status"):
                table.add_column(column)
            for approval in approvals:
                table.add_row(
                    str(approval.id),
                    str(store.version(approval.version_id).number),
                    str(approval.run_id),
                    cell(approval.approved_by),
                    _when(approval.approved_at),
                    _when(approval.expires_at),
                    "met"
                    if approval.criteria_met
                    else cell(f"override: {approval.override_reason}"),
                    _approval_status(approval, store.now()).split(": ", 1)[1],
                )
            console.print(table)
        sessions = store.sessions(strategy_id)
        if sessions:
            console.print(_sessions_table(sessions))
        decision = check_can_go_live(store, strategy_id)
        if decision.allowed:
            console.print(
                f"gate: may go live (approval {decision.approval.id if decision.approval else ''})",
                markup=False,
            )
        else:
            console.print("gate: may not go live:", markup=False)
            for reason in decision.reasons:
                console.print(f"  - {reason}", markup=False)


def _runs_table(store: Store, runs: list[BacktestRun]) -> Table:
    table = Table(title="Backtests", title_justify="left")
    for column in (
        "run",
        "version",
        "period (UTC)",
        "trades",
        "net profit",
        "PF",
        "max DD %",
        "OOS PF",
        "criteria",
        "report",
    ):
        table.add_column(column)
    for run in runs:
        oos = run.oos_figures
        table.add_row(
            str(run.id),
            str(store.version(run.version_id).number),
            f"{run.period_start:%Y-%m-%d} .. {run.period_end:%Y-%m-%d}",
            str(run.figures["total_trades"]),
            f"{run.figures['total_net_profit']:,.2f}",
            format_pf(run.figures["profit_factor"]),
            f"{run.figures['equity_drawdown_pct']:.2f}",
            format_pf(oos["profit_factor"]) if oos else "-",
            "met" if run.criteria["met"] else "not met",
            cell(report_file(store, run)),
        )
    return table


def _print_criteria(run: BacktestRun) -> None:
    verdict = run_criteria(run)
    table = Table(
        title=f"Promotion criteria, run {run.id}: {'met' if verdict.met else 'NOT met'}",
        title_justify="left",
    )
    for column in ("criterion", "required", "run", "passed"):
        table.add_column(column)
    for check in verdict.checks:
        table.add_row(
            check.name, check.required, check.actual, "yes" if check.passed else "[red]no[/red]"
        )
    console.print(table)


def _sessions_table(sessions: list[Any]) -> Table:
    table = Table(title="Sessions", title_justify="left")
    for column in (
        "session",
        "strategy",
        "mode",
        "account",
        "magic",
        "status",
        "started",
        "bars",
        "last bar",
        "drift",
        "stop reason",
    ):
        table.add_column(column)
    for session in sessions:
        table.add_row(
            str(session.id),
            str(session.strategy_id),
            session.mode,
            markup_safe(
                f"{session.account_profile} ({session.trade_mode}"
                + (f" {session.account_login}" if session.account_login else "")
                + ")"
            ),
            str(session.magic or ""),
            session.status
            + (" (killed)" if session.kill_requested else "")
            + (" (stop requested)" if session.running and session.stop_requested_at else ""),
            _when(session.started_at),
            str(session.bars_processed),
            _when(session.last_bar_time),
            markup_safe(str((session.drift or {}).get("summary", ""))),
            markup_safe(session.stop_reason or ""),
        )
    return table


# ---- backtest, report ------------------------------------------------------------------------------
@app.command(name="backtest-strategy")
def backtest_strategy(
    strategy_id: StrategyId,
    data: DataOption,
    sample_size: Annotated[
        int,
        typer.Option("--bars", min=500, help="Bars of the bundled sample (with --data sample)."),
    ] = DEFAULT_SAMPLE_BARS,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir", help="Where the reports go (default: reports/ beside the db)."
        ),
    ] = None,
    symbol: SymbolOption = None,
    start: FromOption = None,
    end: ToOption = None,
    spread: SpreadOption = None,
    commission: CommissionOption = None,
    deposit: DepositOption = 10_000.0,
    currency: CurrencyOption = "USD",
    leverage: LeverageOption = 100,
    account: AccountModeOption = "hedging",
    timezone: TimezoneOption = None,
    server_timezone: ServerTimezoneOption = None,
    convert: ConvertOption = None,
    min_trades: Annotated[int | None, typer.Option(help="Criterion: minimum trades.")] = None,
    max_drawdown: Annotated[
        float | None, typer.Option(help="Criterion: maximum equity drawdown, percent.")
    ] = None,
    min_profit_factor: Annotated[
        float | None, typer.Option(help="Criterion: minimum profit factor.")
    ] = None,
    oos_fraction: Annotated[
        float | None,
        typer.Option(help="Share of the data at its end held out of the backtest (0.2 = 20 %)."),
    ] = None,
    min_oos_profit_factor: Annotated[
        float | None, typer.Option(help="Criterion: minimum profit factor out of sample.")
    ] = None,
    config: ConfigOption = None,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Backtest a stored strategy's current version; write and record its report.

    The last part of the data (--oos-fraction, default 0.2) is held out of the report's backtest:
    it is tested on its own for the out-of-sample criterion, and a paper session replays it.
    Criteria defaults come from the config's \\[promotion] table, then these options.
    """
    with open_store(db) as store:
        version = store.current_version(strategy_id)
        spec = version.spec
        name = symbol or spec.symbols[0]
        description = RunData.of(
            data,
            name,
            start=start,
            end=end,
            sample_size=sample_size,
            timezone=timezone,
            convert=convert or [],
            names=DATA_OPTIONS,
        )
        criteria = load_criteria(
            config,
            {
                "min_trades": min_trades,
                "max_drawdown_pct": max_drawdown,
                "min_profit_factor": min_profit_factor,
                "oos_fraction": oos_fraction,
                "min_oos_profit_factor": min_oos_profit_factor,
            },
        )
        try:
            settings = BacktestSettings(
                deposit=deposit,
                currency=currency.upper(),
                leverage=leverage,
                account_mode=account,
                spread_points=spread,
                commission_per_lot=commission,
                server_timezone=server_timezone,
            )
            run = backtest_from(
                store,
                strategy_id,
                description,
                by=_actor(by),
                settings=settings,
                criteria=criteria,
                report_dir=report_dir,
                names=DATA_OPTIONS,
            )
        except ValidationError as error:
            raise InvalidInputError(settings_problems(error), what="backtest settings") from None
        except OSError as error:
            console.print(f"cannot backtest: {error}", style="red", markup=False)
            raise typer.Exit(EXIT_INPUT) from None
        print_run(store, run)
        console.print(
            f"next: nl-trader approve {strategy_id} --report {run.id} --by NAME", markup=False
        )


def print_run(store: Store, run: BacktestRun) -> None:
    """A run's figures, its criteria beside them, and the report's path."""
    figures = run.figures
    console.print(
        f"run {run.id}: {run.symbol} {run.period_start:%Y-%m-%d} .. {run.period_end:%Y-%m-%d} "
        f"({run.bars:,} bars): net profit {figures['total_net_profit']:,.2f}, "
        f"{figures['total_trades']} trades, profit factor {format_pf(figures['profit_factor'])}, "
        f"max equity drawdown {figures['equity_drawdown_pct']:.2f} %",
        markup=False,
    )
    if run.oos_figures is not None and run.oos_start is not None and run.oos_end is not None:
        oos = run.oos_figures
        console.print(
            f"out of sample {run.oos_start:%Y-%m-%d} .. {run.oos_end:%Y-%m-%d} "
            f"({run.oos_bars:,} bars, not in the report): net profit "
            f"{oos['total_net_profit']:,.2f}, {oos['total_trades']} trades, profit factor "
            f"{format_pf(oos['profit_factor'])}",
            markup=False,
        )
    _print_criteria(run)
    # Paths and hashes are printed whole (soft wrap): a person copies them.
    console.print(f"report: {report_file(store, run)}", markup=False, soft_wrap=True)
    console.print(f"report sha256: {run.report_hash}", markup=False, soft_wrap=True)


@app.command()
def report(
    strategy_id: StrategyId,
    run_id: Annotated[
        int | None,
        typer.Option("--run", help="The run (default: the latest of the current version)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Show a backtest's report: path, figures, promotion criteria, and its integrity.

    Exits 1 when the report files no longer hash to what was recorded (changed or missing)."""
    with open_store(db) as store:
        if run_id is None:
            latest = store.latest_run(store.current_version(strategy_id).id)
            if latest is None:
                raise LifecycleError(
                    [f"strategy {strategy_id}: no backtest of its current version yet"]
                )
            run = latest
        else:
            run = store.run(run_id)
            if run.strategy_id != strategy_id:
                raise LifecycleError([f"run {run_id}: a backtest of strategy {run.strategy_id}"])
        print_run(store, run)
        problems = report_problems(store, run)
        if problems:
            for problem in problems:
                console.print(f"{problem}", style="red", markup=False)
            raise typer.Exit(EXIT_REFUSED)
        console.print("report files: unchanged since the backtest", markup=False)


# ---- approve, revoke, retire ---------------------------------------------------------------------------
@app.command(name="approve")
def approve_command(
    strategy_id: StrategyId,
    run_id: Annotated[
        int, typer.Option("--report", help="The backtest run whose report you approve.")
    ],
    by: Annotated[str, typer.Option("--by", help="Your name: the person who approves.")],
    note: Annotated[str, typer.Option(help="Why, and anything to watch.")] = "",
    expires_days: Annotated[
        float, typer.Option("--expires-days", help="Days the approval lasts (at most 365).")
    ] = 30.0,
    override: Annotated[
        str | None,
        typer.Option(
            "--override", help="Approve although the promotion criteria are not met: the reason."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Approve a strategy's current version on one backtest report (both hashes are bound).

    Editing the spec or a new backtest needs a new approval. A report that misses the promotion
    criteria needs --override with a reason, which is recorded.
    """
    with open_store(db) as store:
        approval = approve(
            store,
            strategy_id,
            run_id=run_id,
            by=by,
            note=note,
            expires_in=_approval_days(expires_days),
            override_reason=override,
        )
        print_approval(approval)


def _approval_days(days: float) -> timedelta:
    """``--expires-days`` as a duration (``approve`` judges its range with the other problems); a
    value no duration can hold (nan, inf, 1e308) is named here."""
    try:
        return timedelta(days=days)
    except (ValueError, OverflowError):
        raise InvalidInputError(
            [
                f"--expires-days: {days} is not a number of days (more than 0, at most "
                f"{MAX_APPROVAL_DAYS})"
            ],
            what="approval",
        ) from None


def print_approval(approval: Any) -> None:
    console.print(
        f"approval {approval.id}: {approval.approved_by} approved strategy {approval.strategy_id} "
        f"(spec sha256 {approval.spec_hash[:16]}) on run {approval.run_id} (report sha256 "
        f"{approval.report_hash[:16]}), until {_when(approval.expires_at)} UTC",
        markup=False,
    )
    if not approval.criteria_met:
        console.print(
            f"[yellow]override recorded: the promotion criteria were not met; reason: "
            f"{escape(approval.override_reason or '')}[/yellow]",
            highlight=False,
        )


@app.command(name="revoke")
def revoke_command(
    strategy_id: StrategyId,
    by: Annotated[str, typer.Option("--by", help="Your name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the approval is revoked.")],
    db: DbOption = None,
) -> None:
    """Revoke a strategy's approval; a running session is asked to stop."""
    with open_store(db) as store:
        revoked = revoke(store, strategy_id, by=by, reason=reason)
        console.print(
            "revoked approval "
            + ", ".join(str(a.id) for a in revoked)
            + f" of strategy {strategy_id}",
            markup=False,
        )


@app.command(name="retire")
def retire_command(
    strategy_id: StrategyId,
    reason: Annotated[str, typer.Option("--reason", help="Why the strategy is retired.")],
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Retire a strategy for good: no more backtests, approvals or sessions."""
    with open_store(db) as store:
        retire(store, strategy_id, by=_actor(by), reason=reason)
        console.print(f"strategy {strategy_id} retired", markup=False)


# ---- live ------------------------------------------------------------------------------------------
EventPrinter = Callable[[str, str | None, dict[str, Any]], None]


def event_printer() -> EventPrinter:
    """Print order statuses and executions as they arrive, one aligned row each."""
    header = (
        f"{'callback':<10} {'order':<9} {'type':<11} {'state':<10} {'reason':<8} "
        f"{'fill':<22} {'retcode':<26} {'time (UTC)':<16}"
    )
    printed = False

    def show(kind: str, order_id: str | None, payload: dict[str, Any]) -> None:
        nonlocal printed
        if kind == "sent":
            return
        if not printed:
            console.print(f"[bold]{header}[/bold]", highlight=False)
            printed = True
        fill = ""
        if payload.get("fill_price") is not None:
            fill = f"{payload['fill_volume']} @ {payload['fill_price']}"
            if payload.get("profit"):
                fill += f" {payload['profit']:+.2f}"
        moment = payload.get("time")
        stamp = moment.strftime("%Y-%m-%d %H:%M") if isinstance(moment, datetime) else ""
        retcode = f"{payload.get('retcode')} {payload.get('retcode_meaning', '')}"[:26]
        color = "green" if kind == "execution" else "cyan"
        console.print(
            f"[{color}]{kind:<10}[/{color}] {order_id or '':<9} {payload.get('type', ''):<11} "
            f"{payload.get('state', ''):<10} {payload.get('reason', '') or '':<8} {fill:<22} "
            f"{retcode:<26} {stamp:<16}",
            highlight=False,
        )

    return show


def print_summary(summary: Any) -> None:
    table = Table(title=f"Session {summary.session_id} ({summary.mode})", title_justify="left")
    table.add_column("")
    table.add_column("")
    rows = [
        (
            "bars decided on",
            f"{summary.bars_processed} ({summary.first_bar or '-'} .. {summary.last_bar or '-'})",
        ),
        ("orders sent", f"{summary.orders_sent} ({summary.orders_refused} refused)"),
        ("order statuses", ", ".join(f"{k} {v}" for k, v in sorted(summary.states.items())) or "0"),
        ("executions", str(summary.executions)),
        ("realised P/L", f"{summary.realised_profit:+,.2f} {summary.currency}"),
        (
            "balance",
            f"{summary.balance_start:,.2f} -> {summary.balance_end:,.2f} {summary.currency}",
        ),
        ("open positions left", str(summary.open_positions)),
        ("stopped because", summary.stop_reason),
        *([("against the backtest", summary.drift)] if summary.drift else []),
        ("journal sha256", summary.journal_sha256),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@live_app.command("start")
def live_start(
    strategy_ids: Annotated[
        list[int],
        typer.Argument(
            help="The strategies to run (see `nl-trader list`): several run in one process, "
            "each with its own feed and journal."
        ),
    ],
    account: Annotated[
        str,
        typer.Option(
            "--account",
            help="Account profile from the config's \\[accounts.NAME] (default: paper, the fake "
            "terminal replaying the bars the backtest did not see).",
        ),
    ] = "paper",
    confirm_real: Annotated[
        int | None,
        typer.Option(
            "--confirm-real",
            help="A REAL-money account also needs its login number typed here.",
        ),
    ] = None,
    max_bars: Annotated[
        int | None, typer.Option("--bars", min=1, help="Stop after this many new bars.")
    ] = None,
    poll_s: Annotated[
        float, typer.Option("--poll-s", min=0.1, help="Seconds between polls (real terminals).")
    ] = 1.0,
    keep_positions: Annotated[
        bool,
        typer.Option(
            "--keep-positions", help="Leave positions and orders open when the session stops."
        ),
    ] = False,
    config: ConfigOption = None,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Start a session of an approved strategy (through the gate) and trade until stopped.

    The gate refuses with every reason: no approval, revoked, expired, the spec edited or a newer
    report since the approval, the report file changed or missing, a retired strategy, a session
    already running, a REAL account without --confirm-real LOGIN. Order statuses and executions
    are printed and journaled as they arrive. Stop it with Ctrl-C or `nl-trader live stop ID`;
    it also stops when its approval is revoked or expires.
    """
    with open_store(db) as store:
        profile = get_profile(account, config)
        shared: list[Any] = []  # one terminal connection per process for a broker profile
        sessions: list[LiveSession] = []
        for strategy_id in dict.fromkeys(strategy_ids):

            def terminal(strategy_id: int = strategy_id) -> Any:
                if profile.paper:
                    return paper_session_terminal(store, strategy_id)
                if not shared:
                    shared.append(open_terminal(profile.terminal))
                return shared[0]

            try:
                session = start_session(
                    store,
                    strategy_id,
                    profile=profile,
                    terminal=terminal,
                    by=_actor(by),
                    confirm_real=confirm_real,
                    listener=event_printer(),
                    flatten_on_stop=not keep_positions,
                )
            except BaseException:
                for started in sessions:  # all or none of the command's strategies run
                    started.stop(f"strategy {strategy_id} of the same start was refused")
                raise
            _announce(session)
            sessions.append(session)
        for summary in run_sessions(sessions, max_bars=max_bars, poll_interval_s=poll_s):
            print_summary(summary)


def _announce(session: LiveSession) -> None:
    record = session.store.session(session.session_id)
    console.print(
        f"session {record.id} started: strategy {record.strategy_id} version "
        f"{session.store.version(record.version_id).number} under approval {record.approval_id}, "
        f"{record.mode} on {record.account_profile} ({record.trade_mode} account "
        f"{record.account_login or ''} on {record.account_server})",
        markup=False,
    )


@live_app.command("status")
def live_status(
    strategy_id: Annotated[
        int | None, typer.Argument(help="Only this strategy's sessions.")
    ] = None,
    db: DbOption = None,
) -> None:
    """List sessions: running or stopped, bars, last bar, drift, why they stopped; with a
    strategy, each session's trades against the backtest's (the drift monitor's table)."""
    with open_store(db) as store:
        sessions = store.sessions(strategy_id)
        if not sessions:
            console.print("no sessions", markup=False)
            return
        console.print(_sessions_table(sessions))
        if strategy_id is None:
            return
        for session in sessions:
            text = (session.drift or {}).get("text")
            if text:
                console.print(f"\nsession {session.id}, trade by trade:", markup=False)
                console.print(str(text), markup=False, highlight=False, soft_wrap=True)


@live_app.command("stop")
def live_stop(
    strategy_id: StrategyId,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Mark the session stopped now (its process is gone); it sends nothing more.",
        ),
    ] = False,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Ask the strategy's running session to stop (it sees the flag at its next poll)."""
    from nl_trader.lifecycle import close_session

    with open_store(db) as store:
        store.strategy(strategy_id)  # an unknown id is named as such
        running = store.running_session(strategy_id)
        if running is None:
            raise LifecycleError([f"strategy {strategy_id}: no session is running"])
        actor = _actor(by)
        request_stop(store, running.id, by=actor, reason=reason)
        if force:
            close_session(
                store,
                running.id,
                by=actor,
                reason=f"forced stop by {actor}" + (f": {reason}" if reason else ""),
                summary={"forced": True},
            )
            console.print(f"session {running.id} marked stopped", markup=False)
            return
        console.print(f"session {running.id}: stop requested", markup=False)


# ---- audit -------------------------------------------------------------------------------------------
@app.command()
def audit(
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Recompute the keyed chain and check it against its head log; check states, "
            "approvals, runs and session journals against it.",
        ),
    ] = False,
    head: Annotated[
        str | None,
        typer.Option("--head", help="A head hash recorded earlier: fail if it is gone."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Entries to list (newest).")] = 30,
    db: DbOption = None,
) -> None:
    """Show the audit log; with --verify, check that nothing in it was changed or removed."""
    with open_store(db) as store:
        if not verify:
            table = Table(title=f"Audit log of {store.path}", title_justify="left")
            for column in ("seq", "time (UTC)", "actor", "action", "subject", "payload", "hash"):
                table.add_column(column)
            for entry in store.audit_entries(limit=limit):
                payload = ", ".join(f"{k}={v}" for k, v in sorted(entry.payload.items()))
                table.add_row(
                    str(entry.seq),
                    entry.time[:19].replace("T", " "),
                    escape(entry.actor),
                    entry.action,
                    escape(entry.subject),
                    escape(payload[:80] + ("..." if len(payload) > 80 else "")),
                    entry.hash[:12],
                )
            console.print(table)
            return
        verification = verify_store(store, expected_head=head)
        check, problems = verification.chain, verification.problems
        if not check.ok:
            where = f"entry {check.broken_seq}" if check.broken_seq is not None else "the chain"
            console.print(
                f"audit chain BROKEN at {where}: {check.problem}", style="red", markup=False
            )
            console.print(
                f"the first {check.head_seq} entries hold (last good hash {check.head_hash})",
                markup=False,
            )
            raise typer.Exit(EXIT_REFUSED)
        if problems:
            console.print("[red]audit chain holds, but records disagree with it:[/red]")
            for problem in problems:
                console.print(f"  - {problem}", markup=False)
            raise typer.Exit(EXIT_REFUSED)
        console.print(
            f"audit chain verified: {check.entries} entries, head {check.head_seq} "
            f"{check.head_hash}, under audit key {check.key_id} ({store.audit_key.path})",
            markup=False,
        )
        console.print(
            "states, approvals, backtest runs and session journals match their audit entries; "
            f"every head in {store.head_log} holds; a head kept elsewhere can be passed with "
            "--head",
            markup=False,
        )
