"""The main job on one text, offline: a sentence to paper trading, through every lifecycle step.

``run_demo`` translates the text with the scripted model, stores the strategy, backtests it on the
bundled sample (the last part held out), approves the run (an override with its reason when the
promotion criteria are not met), asks the gate (and shows a REAL-money account refused without
its confirmation) and trades a paper session on the held-out bars. The CLI's ``demo`` prints each
stage as ``on_stage`` announces it; the web app or a test can run the same steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nl_trader import mt5
from nl_trader.data.run_data import RunData, load_run_data
from nl_trader.errors import NlTraderError
from nl_trader.lifecycle import (
    AccountFacts,
    CriteriaResult,
    GateDecision,
    approve,
    backtest,
    check_can_go_live,
    register_translation,
    run_criteria,
)
from nl_trader.live.accounts import PAPER_PROFILE
from nl_trader.live.paper import paper_session_terminal
from nl_trader.live.session import Listener, SessionSummary, start_session
from nl_trader.store import Approval, BacktestRun, Store, Version

if TYPE_CHECKING:  # translating loads langchain: imported when the demo runs
    from nl_trader.translate.translate import Translation

DEMO_OVERRIDE = "demo on the bundled synthetic sample: the criteria are shown above, not met"
_REAL_ACCOUNT = AccountFacts(
    login=51234567, server="Broker-Live", trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL
)


@dataclass(frozen=True)
class DemoResult:
    """What each stage gave: the translation, the stored version, the run and its verdict, the
    approval, the gate's answers (paper, and a REAL account without confirmation), the session."""

    translation: Translation
    version: Version
    run: BacktestRun
    verdict: CriteriaResult
    approval: Approval
    override: str | None
    paper_gate: GateDecision
    real_gate: GateDecision
    summary: SessionSummary


def run_demo(
    store: Store,
    text: str,
    actor: str,
    *,
    sample_size: int,
    paper_bars: int,
    on_stage: Callable[[str, object], None] | None = None,
    listener: Listener | None = None,
) -> DemoResult:
    """Run every stage on ``text`` (module docstring). ``on_stage(name, value)`` is called as each
    stage ends: ``translated`` (the Translation and the stored Version), ``backtested`` (the run), ``approved`` (the
    approval), ``gated`` (the paper gate's decision), ``session`` (before it trades: the session
    id); ``listener`` sees the paper session's order statuses and executions."""
    announce = on_stage or (lambda _name, _value: None)
    # Loaded here: langchain and openai cost a second to import, and only translating needs them.
    from nl_trader.translate.llm import make_llm
    from nl_trader.translate.translate import translate

    translation = translate(text, make_llm("scripted:examples"))
    _, version = register_translation(store, translation, by=actor)
    if translation.spec is None or version is None:
        raise NlTraderError(f"the scripted model did not give a spec: {translation.message}")
    announce("translated", (translation, version))
    strategy_id = version.strategy_id
    spec = translation.spec

    data = RunData.of("sample", spec.symbols[0], sample_size=sample_size)
    loaded = load_run_data(data, spec.timeframe, "USD")
    run = backtest(
        store,
        strategy_id,
        loaded.bars,
        data=data.to_record(),
        data_info=loaded.info,
        report_dir=store.path.parent / "reports",
        by=actor,
    )
    announce("backtested", run)

    verdict = run_criteria(run)
    override = None if verdict.met else DEMO_OVERRIDE
    approval = approve(
        store,
        strategy_id,
        run_id=run.id,
        by=actor,
        note="nl-trader demo",
        override_reason=override,
    )
    announce("approved", approval)
    paper_gate = check_can_go_live(store, strategy_id)
    real_gate = check_can_go_live(store, strategy_id, account=_REAL_ACCOUNT)
    announce("gated", (paper_gate, real_gate))

    session = start_session(
        store,
        strategy_id,
        profile=PAPER_PROFILE,
        terminal=lambda: paper_session_terminal(store, strategy_id),
        by=actor,
        listener=listener,
    )
    announce("session", session.session_id)
    summary = session.run(max_bars=paper_bars)
    return DemoResult(
        translation=translation,
        version=version,
        run=run,
        verdict=verdict,
        approval=approval,
        override=override,
        paper_gate=paper_gate,
        real_gate=real_gate,
        summary=summary,
    )
