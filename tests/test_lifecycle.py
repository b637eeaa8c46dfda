"""The lifecycle: versions, promotion criteria, approvals bound to a spec and a report, the gate.

Every refusal of the gate is tested on its own: no approval, revoked, expired, the spec edited
since, a newer report since, the report file changed or missing, a retired strategy, a session
already running, a REAL-money account without its confirmation, and an approval record edited
behind the audit log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from nl_trader import mt5
from nl_trader.backtest.report import sample_data_info
from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import (
    AccountFacts,
    GateDecision,
    GateRefusedError,
    LifecycleError,
    PromotionCriteria,
    SessionPlan,
    approve,
    backtest,
    check_can_go_live,
    edit,
    evaluate_criteria,
    load_criteria,
    open_session,
    register,
    report_file,
    retire,
    revoke,
    split_out_of_sample,
    verify_records,
)
from nl_trader.spec import spec_hash
from nl_trader.store import State, Store
from tests.store.builders import (
    MISSED,
    PASSED,
    SAMPLE_BARS,
    StoreCopy,
    copy_template,
    example_spec,
    run_backtest_of,
    sample,
)

DEMO_ACCOUNT = AccountFacts(login=5_000_001, server="Sim", trade_mode=mt5.ACCOUNT_TRADE_MODE_DEMO)
REAL_ACCOUNT = AccountFacts(login=7_700_001, server="Live", trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL)


@pytest.fixture
def copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> StoreCopy:
    return copy_template(tmp_path_factory, tmp_path)


@pytest.fixture
def store(copy: StoreCopy) -> Iterator[Store]:
    with copy.open() as opened:
        yield opened


def _approved(store: Store) -> int:
    return approve(store, PASSED, run_id=1, by="risk officer", note="looks sane").id


def _reasons(store: Store, **kwargs: object) -> tuple[str, ...]:
    decision = check_can_go_live(store, PASSED, **kwargs)  # type: ignore[arg-type]
    assert not decision.allowed
    return decision.reasons


def _open_paper_session(store: Store, decision: GateDecision) -> int:
    """Record a paper session on the demo account, as ``start_session`` does once logged in."""
    return open_session(
        store,
        decision,
        by="trader",
        plan=SessionPlan(
            mode="paper", account_profile="paper", terminal="fake", account=DEMO_ACCOUNT
        ),
    )


def _raw(copy: StoreCopy, statement: str) -> None:
    raw = sqlite3.connect(copy.db)
    raw.execute(statement)
    raw.commit()
    raw.close()


# ---- registering and versions -------------------------------------------------------------------
def test_register_stores_the_text_and_spec_hash_as_version_one_in_draft(tmp_path: Path) -> None:
    spec = example_spec()
    with Store(tmp_path / "nl.db") as store:
        version = register(store, spec, text="Buy EURUSD when...", by="trader")
        assert (version.number, version.parent_id, version.spec_hash) == (1, None, spec_hash(spec))
        assert version.spec == spec
        assert store.strategy(version.strategy_id).state == State.DRAFT
        entry = store.audit_entries()[-1]
        assert (entry.action, entry.payload["spec_hash"]) == ("strategy.created", spec_hash(spec))


def test_an_edit_is_a_new_version_with_its_parent_and_goes_back_to_draft(store: Store) -> None:
    before = store.current_version(PASSED)
    changed = example_spec().model_copy(update={"magic": 777})
    version = edit(store, PASSED, changed, by="trader", note="own magic number")
    assert (version.number, version.parent_id) == (2, before.id)
    assert version.spec_hash != before.spec_hash
    assert store.strategy(PASSED).state == State.DRAFT
    assert store.audit_entries()[-1].payload["parent_spec_hash"] == before.spec_hash


def test_an_edit_that_changes_nothing_is_refused(store: Store) -> None:
    with pytest.raises(LifecycleError, match="identical to version 1"):
        edit(store, PASSED, example_spec(), by="trader")


# ---- promotion criteria ----------------------------------------------------------------------------
def _figures(trades: int, factor: float | None, drawdown: float = 5.0) -> dict[str, object]:
    return {"total_trades": trades, "profit_factor": factor, "equity_drawdown_pct": drawdown}


def test_criteria_report_each_requirement_beside_what_the_run_showed() -> None:
    result = evaluate_criteria(_figures(40, 1.3, 31.0), _figures(9, 0.8), PromotionCriteria())
    assert not result.met
    assert result.failures() == [
        "max equity drawdown: 31.00 % (required <= 25.00 %)",
        "out-of-sample profit factor: 0.80 (required >= 1.00)",
    ]
    assert evaluate_criteria(_figures(40, 1.3), _figures(9, 1.2), PromotionCriteria()).met


def test_a_run_without_trades_fails_the_profit_factor_and_one_without_losses_passes_it() -> None:
    criteria = PromotionCriteria(min_trades=0)
    no_trades = evaluate_criteria(_figures(0, None), _figures(3, None), criteria)
    assert no_trades.failures() == ["profit factor: no trades (required >= 1.10)"]
    no_losses = evaluate_criteria(_figures(5, None), _figures(3, None), criteria)
    assert no_losses.met


def test_the_out_of_sample_check_fails_when_nothing_was_held_out() -> None:
    result = evaluate_criteria(_figures(40, 1.5), None, PromotionCriteria())
    assert result.failures() == [
        "out-of-sample profit factor: no out-of-sample period (required >= 1.00)"
    ]


def test_criteria_come_from_the_config_file_then_the_options(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[promotion]\nmin_trades = 50\nmax_drawdown_pct = 12.5\n")
    criteria = load_criteria(config, {"min_trades": 80, "min_profit_factor": None})
    assert (criteria.min_trades, criteria.max_drawdown_pct, criteria.min_profit_factor) == (
        80,
        12.5,
        1.1,
    )


def test_a_bad_criterion_in_the_config_names_its_field(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[promotion]\noos_fraction = 0.95\n")
    with pytest.raises(InvalidInputError, match=r"promotion\.oos_fraction"):
        load_criteria(config)


# ---- backtests ---------------------------------------------------------------------------------------
def test_the_last_fifth_of_the_data_is_held_out_of_the_report(store: Store) -> None:
    run = store.run(1)
    assert run.bars + run.oos_bars == SAMPLE_BARS
    assert run.oos_bars == SAMPLE_BARS // 5
    assert run.oos_start is not None
    assert run.oos_start > run.period_end
    assert run.oos_figures is not None
    in_sample, held_out = split_out_of_sample(sample(example_spec()), 0.2)
    assert (len(in_sample), len(held_out)) == (run.bars, run.oos_bars)
    assert report_file(store, run).is_file()
    assert store.strategy(PASSED).state == State.BACKTESTED


# ---- approval --------------------------------------------------------------------------------------------
def test_an_approval_binds_the_person_the_spec_hash_and_the_report_hash(store: Store) -> None:
    approval = approve(
        store, PASSED, run_id=1, by="risk officer", note="ok", expires_in=timedelta(days=7)
    )
    run, version = store.run(1), store.current_version(PASSED)
    assert (approval.spec_hash, approval.report_hash) == (version.spec_hash, run.report_hash)
    assert approval.expires_at - approval.approved_at == timedelta(days=7)
    assert approval.criteria_met
    assert approval.override_reason is None
    assert store.strategy(PASSED).state == State.APPROVED
    entry = store.audit_entries()[-1]
    assert (entry.action, entry.actor) == ("approval.granted", "risk officer")
    assert entry.payload["report_hash"] == run.report_hash


def test_a_report_that_misses_the_criteria_needs_an_override_which_is_recorded(
    store: Store,
) -> None:
    with pytest.raises(LifecycleError, match=r"criteria are not met \(trades: \d+ \(required"):
        approve(store, MISSED, run_id=2, by="risk officer")
    assert store.approvals(MISSED) == []
    approval = approve(
        store, MISSED, run_id=2, by="risk officer", override_reason="paper only, small size"
    )
    assert not approval.criteria_met
    assert approval.override_reason == "paper only, small size"
    entry = store.audit_entries()[-1]
    assert entry.payload["override_reason"] == "paper only, small size"
    assert entry.payload["criteria_failures"][0].startswith("trades:")


def test_an_approval_with_unmet_criteria_and_no_override_cannot_even_be_stored(
    copy: StoreCopy,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        _raw(
            copy,
            "INSERT INTO approvals (strategy_id, version_id, spec_hash, run_id, report_hash, "
            "approved_by, approved_at, note, expires_at, criteria_met, criteria) VALUES "
            "(2, 2, 'h', 2, 'h', 'x', 't', '', 't', 0, '{}')",
        )


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"by": " "}, "by: name the person who approves"),
        ({"expires_in": timedelta(days=400)}, "at most 365 days"),
        ({"expires_in": timedelta(0)}, "more than 0"),
        ({"override_reason": " "}, "override: give the reason"),
    ],
)
def test_an_approval_without_a_name_a_sane_expiry_or_an_override_reason_is_refused(
    store: Store, kwargs: dict[str, object], problem: str
) -> None:
    arguments: dict[str, object] = {"run_id": 1, "by": "risk officer", **kwargs}
    with pytest.raises(LifecycleError, match=problem):
        approve(store, PASSED, **arguments)  # type: ignore[arg-type]


def test_approving_a_backtest_of_another_strategy_is_refused(store: Store) -> None:
    with pytest.raises(LifecycleError, match="run 2: it is a backtest of strategy 2, not 1"):
        approve(store, PASSED, run_id=2, by="risk officer")


def test_approving_a_report_of_an_older_version_is_refused(store: Store) -> None:
    edit(store, PASSED, example_spec().model_copy(update={"magic": 9}), by="trader")
    with pytest.raises(LifecycleError, match="it tested version 1, but strategy 1 is at version 2"):
        approve(store, PASSED, run_id=1, by="risk officer")


def test_approving_a_report_that_changed_since_the_backtest_is_refused(store: Store) -> None:
    path = report_file(store, store.run(1))
    path.write_text(path.read_text().replace("Total net profit", "Total net PROFIT"))
    with pytest.raises(LifecycleError, match="the report of run 1 changed since it was recorded"):
        approve(store, PASSED, run_id=1, by="risk officer")


# ---- the gate -------------------------------------------------------------------------------------------
def test_the_gate_allows_a_strategy_with_a_valid_approval(store: Store) -> None:
    approval_id = _approved(store)
    decision = check_can_go_live(store, PASSED, account=DEMO_ACCOUNT)
    assert decision.allowed
    assert decision.reasons == ()
    assert decision.approval is not None
    assert decision.approval.id == approval_id


def test_the_gate_refuses_a_strategy_without_approval(store: Store) -> None:
    (reason,) = _reasons(store)
    assert reason.startswith("strategy 1 has no approval")


def test_the_gate_refuses_a_revoked_approval(store: Store) -> None:
    _approved(store)
    revoke(store, PASSED, by="risk officer", reason="drawdown too deep in live")
    (reason,) = _reasons(store)
    assert "was revoked by risk officer" in reason
    assert reason.endswith("drawdown too deep in live")
    assert store.strategy(PASSED).state == State.BACKTESTED


def test_the_gate_refuses_an_expired_approval(store: Store, copy: StoreCopy) -> None:
    approve(store, PASSED, run_id=1, by="risk officer", expires_in=timedelta(days=2))
    assert check_can_go_live(store, PASSED).allowed
    copy.clock.advance(timedelta(days=2, seconds=1))
    (reason,) = _reasons(store)
    assert reason.startswith("approval 1 expired at")


def test_an_edited_spec_needs_a_new_approval(store: Store) -> None:
    _approved(store)
    edit(store, PASSED, example_spec().model_copy(update={"magic": 4242}), by="trader")
    (reason,) = _reasons(store)
    assert reason.startswith("the spec changed since approval 1 (it approved version 1")
    assert "backtest and approve version 2" in reason


def test_a_new_report_needs_a_new_approval(store: Store) -> None:
    _approved(store)
    newer = run_backtest_of(store, PASSED)
    (reason,) = _reasons(store)
    assert reason == (
        f"a newer backtest (run {newer}) replaced the report approval 1 approved (run 1): "
        f"approve run {newer}"
    )
    approve(store, PASSED, run_id=newer, by="risk officer")
    assert check_can_go_live(store, PASSED).allowed


def test_the_gate_refuses_when_the_approved_report_file_changed(store: Store) -> None:
    _approved(store)
    path = report_file(store, store.run(1))
    path.write_bytes(path.read_bytes() + b"\n<!-- edited -->")
    (reason,) = _reasons(store)
    assert reason.startswith("the report of run 1 changed since it was recorded")


def test_the_gate_refuses_when_the_approved_report_file_is_missing(store: Store) -> None:
    _approved(store)
    report_file(store, store.run(1)).unlink()
    (reason,) = _reasons(store)
    assert reason.startswith("the report of run 1 is missing")


def test_the_gate_refuses_a_retired_strategy(store: Store) -> None:
    _approved(store)
    retire(store, PASSED, by="trader", reason="superseded")
    assert _reasons(store) == ("strategy 1 is retired",)


def test_the_gate_refuses_a_second_session_of_a_running_strategy(store: Store) -> None:
    _approved(store)
    decision = check_can_go_live(store, PASSED, account=DEMO_ACCOUNT)
    session_id = _open_paper_session(store, decision)
    (reason,) = _reasons(store)
    assert reason.startswith(f"session {session_id} of strategy 1 is already running")
    assert store.strategy(PASSED).state == State.PAPER


def test_a_real_money_account_needs_its_login_typed_as_confirmation(store: Store) -> None:
    _approved(store)
    (reason,) = _reasons(store, account=REAL_ACCOUNT)
    assert reason == (
        "account 7700001 on Live is a REAL-money account: confirm with --confirm-real 7700001"
    )
    (wrong,) = _reasons(store, account=REAL_ACCOUNT, confirm_real=7_700_002)
    assert "the confirmation names account 7700002" in wrong
    assert check_can_go_live(store, PASSED, account=REAL_ACCOUNT, confirm_real=7_700_001).allowed
    assert check_can_go_live(store, PASSED, account=DEMO_ACCOUNT).allowed


def test_an_account_that_does_not_say_its_trade_mode_is_taken_for_real_money(
    store: Store,
) -> None:
    _approved(store)
    silent = AccountFacts.from_account_info({"login": 7_700_003, "server": "Unknown"})
    assert silent.real_money
    (reason,) = _reasons(store, account=silent)
    assert reason.startswith("account 7700003 on Unknown is a REAL-money account: confirm")
    demo = AccountFacts.from_account_info(
        {"login": 5_000_001, "server": "Sim", "trade_mode": mt5.ACCOUNT_TRADE_MODE_DEMO}
    )
    assert check_can_go_live(store, PASSED, account=demo).allowed


def test_an_approval_edited_behind_the_audit_log_is_refused(store: Store, copy: StoreCopy) -> None:
    approve(store, PASSED, run_id=1, by="junior", expires_in=timedelta(days=1))
    _raw(
        copy,
        "UPDATE approvals SET approved_by = 'head of risk', expires_at = '2099-01-01T00:00:00+00:00'",
    )
    (reason,) = _reasons(store)
    assert reason == (
        "approval 1 does not match its audit entry 5 (approved_by, expires_at changed outside "
        "nl_trader)"
    )
    assert verify_records(store) == [reason]


def test_a_revocation_undone_behind_the_audit_log_is_refused(store: Store, copy: StoreCopy) -> None:
    _approved(store)
    revoke(store, PASSED, by="risk officer", reason="limits breached")
    _raw(copy, "UPDATE approvals SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL")
    assert not store.approval(1).revoked
    (reason,) = _reasons(store)
    assert reason == "approval 1 was revoked (audit log) but its record says it is not"
    assert verify_records(store) == [reason]


def test_an_approval_inserted_behind_the_audit_log_is_refused(copy: StoreCopy) -> None:
    with copy.open() as store:
        run = store.run(1)
        version = store.current_version(PASSED)
    _raw(
        copy,
        "INSERT INTO approvals (strategy_id, version_id, spec_hash, run_id, report_hash, "
        "approved_by, approved_at, note, expires_at, criteria_met, criteria) VALUES "
        f"(1, 1, '{version.spec_hash}', 1, '{run.report_hash}', 'nobody', "
        "'2026-01-01T00:00:00+00:00', '', '2099-01-01T00:00:00+00:00', 1, '{}')",
    )
    with copy.open() as store:
        (reason,) = _reasons(store)
    assert reason == "approval 1 has no audit entry: it was not made by nl_trader"


def test_a_session_cannot_open_on_a_decision_made_before_a_revocation(store: Store) -> None:
    """The gate is asked again when the session is recorded: a stale 'allowed' starts nothing."""
    _approved(store)
    decision = check_can_go_live(store, PASSED, account=DEMO_ACCOUNT)
    assert decision.allowed
    revoke(store, PASSED, by="risk officer", reason="limits breached")
    with pytest.raises(GateRefusedError, match="approval 1 was revoked by risk officer"):
        _open_paper_session(store, decision)
    assert store.sessions() == []
    assert store.strategy(PASSED).state == State.BACKTESTED


def test_every_reason_is_given_at_once(store: Store, copy: StoreCopy) -> None:
    approve(store, PASSED, run_id=1, by="risk officer", expires_in=timedelta(days=1))
    revoke(store, PASSED, by="risk officer", reason="no longer wanted")
    copy.clock.advance(timedelta(days=3))
    reasons = _reasons(store, account=REAL_ACCOUNT)
    assert [reason.split(" ")[2] for reason in reasons[:2]] == ["was", "expired"]
    assert reasons[-1].startswith("account 7700001 on Live is a REAL-money account")


# ---- revoke and retire --------------------------------------------------------------------------------
def test_revoking_needs_a_reason_and_an_approval_in_force(store: Store) -> None:
    with pytest.raises(LifecycleError, match="no approval in force"):
        revoke(store, PASSED, by="risk officer", reason="x")
    _approved(store)
    with pytest.raises(LifecycleError, match="reason: say why"):
        revoke(store, PASSED, by="risk officer", reason="")


def test_a_retired_strategy_cannot_be_edited_backtested_approved_or_retired_again(
    store: Store,
) -> None:
    retire(store, PASSED, by="trader", reason="superseded by strategy 2")
    assert store.strategy(PASSED).state == State.RETIRED
    with pytest.raises(LifecycleError, match="retired; a retired strategy cannot be edited"):
        edit(store, PASSED, example_spec().model_copy(update={"magic": 1}), by="trader")
    with pytest.raises(LifecycleError, match="cannot be backtested"):
        run_backtest_of(store, PASSED)
    with pytest.raises(LifecycleError, match="it is retired; it cannot be approved"):
        approve(store, PASSED, run_id=1, by="risk officer")
    with pytest.raises(LifecycleError, match="retired again"):
        retire(store, PASSED, by="trader", reason="again")
    assert store.audit_entries()[-1].payload == {"reason": "superseded by strategy 2"}


def test_revoking_for_an_unknown_strategy_names_the_strategy(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="strategy: no strategy 99"):
        revoke(store, 99, by="risk officer", reason="x")


def test_every_change_names_its_person_so_no_audit_entry_has_a_blank_actor(store: Store) -> None:
    entries = len(store.audit_entries())
    changed = example_spec().model_copy(update={"magic": 31})
    with pytest.raises(LifecycleError, match="by: name the person who edits the strategy"):
        edit(store, PASSED, changed, by=" ")
    with pytest.raises(LifecycleError, match="by: name the person who runs the backtest"):
        backtest(
            store,
            PASSED,
            sample(example_spec()),
            data={"source": "sample", "symbol": "EURUSD", "bars": SAMPLE_BARS},
            data_info=sample_data_info(sample(example_spec())),
            report_dir=store.path.parent / "reports",
            by="",
        )
    with pytest.raises(LifecycleError, match="by: name the person who retires the strategy"):
        retire(store, PASSED, by=" ", reason="superseded")
    assert len(store.audit_entries()) == entries
    assert store.current_version(PASSED).number == 1
    assert store.strategy(PASSED).state == State.BACKTESTED


def test_a_backtest_on_an_empty_window_of_data_is_bad_input(store: Store) -> None:
    empty = sample(example_spec()).iloc[:0]
    with pytest.raises(InvalidInputError, match="data: no bars to backtest on"):
        backtest(
            store,
            PASSED,
            empty,
            data={"source": "sample", "symbol": "EURUSD", "bars": SAMPLE_BARS},
            data_info=sample_data_info(sample(example_spec())),
            report_dir=store.path.parent / "reports",
            by="quant",
        )
    assert [run.id for run in store.runs(PASSED)] == [1]


def test_revoking_the_approval_of_a_retired_strategy_keeps_it_retired(store: Store) -> None:
    _approved(store)
    retire(store, PASSED, by="trader", reason="superseded")
    revoke(store, PASSED, by="risk officer", reason="clean up")
    assert store.strategy(PASSED).state == State.RETIRED


def test_a_spec_edited_behind_the_log_no_longer_matches_its_hash(copy: StoreCopy) -> None:
    with copy.open() as store:
        _approved(store)
    _raw(copy, "UPDATE versions SET spec_json = replace(spec_json, '\"lots\":0.1', '\"lots\":5.0')")
    with copy.open() as store:
        (reason,) = _reasons(store)
    assert reason.startswith("version 1's spec does not hash to its recorded sha256")
