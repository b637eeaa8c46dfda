"""What every lifecycle step shares: its errors, the approval limits, who acts, the stored spec."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nl_trader import mt5
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.spec import StrategySpec
from nl_trader.store import (
    State,
    Store,
)

DEFAULT_APPROVAL_DAYS = 30


MAX_APPROVAL_DAYS = 365


TRADE_MODES = {
    mt5.ACCOUNT_TRADE_MODE_DEMO: "demo",
    mt5.ACCOUNT_TRADE_MODE_CONTEST: "contest",
    mt5.ACCOUNT_TRADE_MODE_REAL: "real",
}


class LifecycleError(InvalidInputError):
    """A lifecycle step refused: each problem names what is wrong and what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, what="lifecycle step")


class GateRefusedError(NlTraderError):
    """Starting a session was refused by the gate; ``reasons`` holds every reason."""

    def __init__(self, strategy_id: int, reasons: tuple[str, ...]) -> None:
        self.strategy_id = strategy_id
        self.reasons = reasons
        super().__init__(f"strategy {strategy_id} may not go live: " + "; ".join(reasons))


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def stored_spec_json(spec: StrategySpec) -> str:
    """The spec as its author gave it (defaults left out, so the explain-back can still list the
    defaults filled in); its identity is ``spec_hash``, over the canonical form."""
    return spec.model_dump_json(exclude_unset=True)


def _subject(strategy_id: int) -> str:
    return f"strategy/{strategy_id}"


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise LifecycleError([problem])


def require_actor(by: str, doing: str) -> None:
    """Every change names its person: the audit log's actor is never blank."""
    _require(bool(by.strip()), f"by: name the person who {doing}")


def _not_retired(store: Store, strategy_id: int, doing: str) -> None:
    state = store.strategy(strategy_id).state
    _require(
        state != State.RETIRED,
        f"strategy {strategy_id}: it is retired; a retired strategy cannot be {doing}",
    )
    running = store.running_session(strategy_id)
    _require(
        running is None,
        f"strategy {strategy_id}: session {running.id if running else ''} is running; stop it first "
        f"(nl-trader live stop {strategy_id})",
    )
