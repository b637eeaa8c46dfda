"""The strategy lifecycle: from a sentence to live trading only through records a person can audit.

States (``State``): draft -> backtested -> approved -> paper / live -> stopped, and retired.

* ``register`` stores a strategy (its text, spec and hash) as version 1, in draft; ``edit`` makes a
  new version whose parent is the current one, back in draft.
* ``backtest`` tests the current version on the first part of the data and keeps the last part
  (``PromotionCriteria.oos_fraction``) out of it: the out-of-sample period, tested on its own for
  the out-of-sample criterion and replayed by the paper session. It writes the HTML and JSON
  reports and records their hashes with the figures and the criteria result.
* ``approve`` binds a person to one version (spec hash) AND one report (report hash), with a note
  and an expiry. A run that misses the promotion criteria needs an override with its reason, and
  the override is recorded.
* ``check_can_go_live`` is the gate: it lists every reason a session may not start (no approval,
  revoked, expired, spec changed, another report, report changed or missing, criteria missed
  without override, a record that no longer matches its audit entry, a retired strategy, a session
  already running, a real-money account without its confirmation). ``revoke`` and ``retire``
  close the way again.

Every change is one transaction with its audit entry (``nl_trader.store``), and the audited
action moves the strategy's state through one table of allowed transitions (``states``).

The package, by part: ``criteria`` (promotion criteria, pure), ``states`` (the transition table,
the state the audit log says), ``steps`` (register, edit, backtest, approve, revoke, retire),
``gate`` (may a session start, every reason), ``sessions`` (a session's record: open, stop,
close), ``integrity`` (records and report files against the audit log), ``common`` (errors and
small helpers). Configuration and the current actor are in ``nl_trader.config``.
"""

from nl_trader.config import current_actor, read_config
from nl_trader.lifecycle.common import (
    DEFAULT_APPROVAL_DAYS,
    MAX_APPROVAL_DAYS,
    TRADE_MODES,
    GateRefusedError,
    LifecycleError,
    file_sha256,
    require_actor,
    stored_spec_json,
)
from nl_trader.lifecycle.criteria import (
    CriteriaResult,
    CriterionCheck,
    PromotionCriteria,
    evaluate_criteria,
    figures_summary,
    load_criteria,
)
from nl_trader.lifecycle.gate import (
    AccountFacts,
    GateDecision,
    check_can_go_live,
    record_refusal,
)
from nl_trader.lifecycle.integrity import (
    Verification,
    approval_audit_problems,
    chain_problems,
    journal_digest,
    journal_problems,
    report_file,
    report_problems,
    run_audit_problems,
    run_coverage,
    run_criteria,
    trust_problems,
    verify_records,
    verify_store,
)
from nl_trader.lifecycle.sessions import (
    SessionPlan,
    close_session,
    open_session,
    request_stop,
)
from nl_trader.lifecycle.states import (
    TRANSITIONS,
    Transition,
    audit_state,
    next_state,
    state_problems,
)
from nl_trader.lifecycle.steps import (
    LLMFactory,
    NewStrategy,
    approve,
    backtest,
    backtest_from,
    edit,
    new_strategy,
    register,
    register_translation,
    retire,
    revoke,
    split_out_of_sample,
    with_answers,
)

__all__ = [
    "DEFAULT_APPROVAL_DAYS",
    "MAX_APPROVAL_DAYS",
    "TRADE_MODES",
    "TRANSITIONS",
    "AccountFacts",
    "CriteriaResult",
    "CriterionCheck",
    "GateDecision",
    "GateRefusedError",
    "LLMFactory",
    "LifecycleError",
    "NewStrategy",
    "PromotionCriteria",
    "SessionPlan",
    "Transition",
    "Verification",
    "approval_audit_problems",
    "approve",
    "audit_state",
    "backtest",
    "backtest_from",
    "chain_problems",
    "check_can_go_live",
    "close_session",
    "current_actor",
    "edit",
    "evaluate_criteria",
    "figures_summary",
    "file_sha256",
    "journal_digest",
    "journal_problems",
    "load_criteria",
    "new_strategy",
    "next_state",
    "open_session",
    "read_config",
    "record_refusal",
    "register",
    "register_translation",
    "report_file",
    "report_problems",
    "request_stop",
    "require_actor",
    "retire",
    "revoke",
    "run_audit_problems",
    "run_coverage",
    "run_criteria",
    "split_out_of_sample",
    "state_problems",
    "stored_spec_json",
    "trust_problems",
    "verify_records",
    "verify_store",
    "with_answers",
]
