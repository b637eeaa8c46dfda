"""The gate: may a session of this strategy start now, on this account? Every reason it may not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nl_trader import mt5
from nl_trader.lifecycle.common import TRADE_MODES, GateRefusedError, _subject, require_actor
from nl_trader.lifecycle.integrity import (
    approval_audit_problems,
    chain_problems,
    report_problems,
    run_audit_problems,
)
from nl_trader.lifecycle.states import audit_state, state_problems
from nl_trader.spec import spec_hash
from nl_trader.store import (
    Approval,
    State,
    Store,
    Version,
)


@dataclass(frozen=True)
class AccountFacts:
    """The trading account a session would use, as ``account_info()`` reports it."""

    login: int | None
    server: str
    trade_mode: int
    company: str = ""

    @classmethod
    def from_account_info(cls, info: Mapping[str, Any]) -> AccountFacts:
        """The facts of ``account_info()``; an account that does not say its trade mode is taken
        for a REAL-money one (it then needs the confirmation), never for a demo."""
        login = info.get("login")
        trade_mode = info.get("trade_mode")
        return cls(
            login=int(login) if login else None,
            server=str(info.get("server", "")),
            trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL if trade_mode is None else int(trade_mode),
            company=str(info.get("company", "")),
        )

    @property
    def real_money(self) -> bool:
        return self.trade_mode == mt5.ACCOUNT_TRADE_MODE_REAL

    @property
    def trade_mode_name(self) -> str:
        return TRADE_MODES.get(self.trade_mode, str(self.trade_mode))


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer: allowed, or every reason it is not."""

    strategy_id: int
    allowed: bool
    reasons: tuple[str, ...]
    approval: Approval | None
    version: Version

    def raise_if_refused(self) -> None:
        if not self.allowed:
            raise GateRefusedError(self.strategy_id, self.reasons)


def check_can_go_live(
    store: Store,
    strategy_id: int,
    *,
    account: AccountFacts | None = None,
    confirm_real: int | None = None,
    profile: str | None = None,
    needs_assignment: bool = False,
    magic: int | None = None,
    taking_over: int | None = None,
) -> GateDecision:
    """May a session of this strategy start now, on this account? Every reason it may not.

    A real-money account (``trade_mode`` REAL) also needs ``confirm_real`` equal to its login
    number: the person typed which real account they mean. ``profile`` is the account profile
    (one running session per strategy and profile; with ``needs_assignment`` it must be one a
    person assigned to the strategy); ``magic`` the number the session would trade under (no
    other running session on the account may use it); ``taking_over`` a crashed session of the
    strategy that the new one replaces (it does not count as running).
    """
    from nl_trader.live.control import account_assigned, kill_file_reason

    strategy = store.strategy(strategy_id)
    version = store.current_version(strategy_id)
    reasons: list[str] = chain_problems(store) + state_problems(store, strategy_id)
    if State.RETIRED in (strategy.state, audit_state(store, strategy_id)[0]):
        reasons.append(f"strategy {strategy_id} is retired")
    killed = kill_file_reason()
    if killed is not None:
        reasons.append(f"{killed}: no session starts until it is removed")
    for running in store.running_sessions(strategy_id):
        if running.id == taking_over or profile not in (None, running.account_profile):
            continue
        reasons.append(
            f"session {running.id} of strategy {strategy_id} is already running on "
            f"{running.account_profile} (since {running.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    if (
        profile is not None
        and needs_assignment
        and not account_assigned(store, strategy_id, profile)
    ):
        reasons.append(
            f"strategy {strategy_id} is not assigned to account profile {profile!r}: a person "
            f"assigns it first (nl-trader live assign {strategy_id} --account {profile} --by NAME)"
        )
    if account is not None and magic is not None:
        for other in store.running_sessions():
            same_account = (other.account_login, other.account_server) == (
                account.login,
                account.server,
            )
            if other.id != taking_over and same_account and other.magic == magic:
                reasons.append(
                    f"session {other.id} (strategy {other.strategy_id}) already trades under "
                    f"magic {magic} on account {account.login}: two books may not share one"
                )
    approval = store.latest_approval(strategy_id)
    if approval is None:
        reasons.append(
            f"strategy {strategy_id} has no approval: backtest it and approve its report "
            f"(nl-trader approve {strategy_id} --report RUN --by NAME)"
        )
    else:
        reasons.extend(_approval_problems(store, approval, version))
    if account is not None and account.real_money:
        if confirm_real is None:
            reasons.append(
                f"account {account.login} on {account.server} is a REAL-money account: confirm "
                f"with --confirm-real {account.login}"
            )
        elif confirm_real != account.login:
            reasons.append(
                f"account {account.login} on {account.server} is a REAL-money account, and the "
                f"confirmation names account {confirm_real}"
            )
    return GateDecision(strategy_id, not reasons, tuple(reasons), approval, version)


def _approval_problems(store: Store, approval: Approval, version: Version) -> list[str]:
    problems: list[str] = []
    name = f"approval {approval.id}"
    if spec_hash(version.spec) != version.spec_hash:
        problems.append(
            f"version {version.number}'s spec does not hash to its recorded sha256 "
            f"{version.spec_hash[:12]}: it was changed outside nl_trader"
        )
    if approval.version_id != version.id or approval.spec_hash != version.spec_hash:
        approved = store.version(approval.version_id)
        problems.append(
            f"the spec changed since {name} (it approved version {approved.number}, sha256 "
            f"{approval.spec_hash[:12]}; the strategy is at version {version.number}, sha256 "
            f"{version.spec_hash[:12]}): backtest and approve version {version.number}"
        )
    if approval.revoked:
        at = approval.revoked_at.strftime("%Y-%m-%d %H:%M") if approval.revoked_at else "?"
        problems.append(
            f"{name} was revoked by {approval.revoked_by} at {at} UTC: {approval.revoke_reason}"
        )
    if store.now() >= approval.expires_at:
        problems.append(f"{name} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC")
    run = store.run(approval.run_id)
    if run.version_id != approval.version_id or run.spec_hash != approval.spec_hash:
        problems.append(f"{name} binds run {run.id}, which tested another version")
    latest = store.latest_run(approval.version_id)
    if latest is not None and latest.id != run.id:
        problems.append(
            f"a newer backtest (run {latest.id}) replaced the report {name} approved (run "
            f"{run.id}): approve run {latest.id}"
        )
    if approval.report_hash != run.report_hash:
        problems.append(f"{name} binds a report hash that run {run.id} did not record")
    problems.extend(report_problems(store, run, approval.report_hash))
    if not approval.criteria_met and not approval.override_reason:
        problems.append(f"{name} does not meet the promotion criteria and records no override")
    problems.extend(approval_audit_problems(store, approval))
    problems.extend(run_audit_problems(store, run))
    return problems


def record_refusal(
    store: Store, decision: GateDecision, *, by: str, account: AccountFacts | None
) -> None:
    """Put a refused start in the audit log, with its reasons."""
    require_actor(by, "asked to start the session")
    with store.transaction():
        store.audit(
            by,
            "live.refused",
            _subject(decision.strategy_id),
            {
                "reasons": list(decision.reasons),
                "approval_id": decision.approval.id if decision.approval else None,
                "account_login": account.login if account else None,
                "account_server": account.server if account else None,
                "trade_mode": account.trade_mode_name if account else None,
            },
        )
