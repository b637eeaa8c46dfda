"""What a person controls about running sessions: the kill switch, the accounts a strategy may
trade on, and the magic number each strategy version trades under on an account.

Kill switch. ``kill`` (``nl-trader kill STRATEGY`` / ``--all``) marks running sessions killed with the
person and the reason, in one audited transaction; a session sees it at its next poll, sends no new
order, cancels its pending orders and (unless told to keep them) closes its positions, then stops.
The file sentinel does the same from outside any program: while the file ``kill_file()`` exists
(``NL_TRADER_KILL_FILE``, default ``~/.nl_trader/KILL``), every session stops so at its next poll and
the gate lets none start. A killed strategy trades again only through a new ``live start``.

Accounts. A strategy trades a real or demo broker account only on profiles a person assigned to it
(``assign_account``, audited); switching a strategy to another broker is that recorded change, and
the gate checks it. The built-in ``paper`` profile needs none.

Magic numbers. MT5 tells one expert's orders from another's by the request's ``magic``. Each
strategy version gets its own on each account (``session_magic``): two strategies on one account
never take each other's positions, and two running sessions never share one (the gate refuses it,
and a unique index in the store makes it impossible).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from nl_trader.errors import InvalidInputError
from nl_trader.store import LiveSessionRecord, Store

KILL_FILE_ENV = "NL_TRADER_KILL_FILE"
MAGIC_BASE = 16_000_000
"""Allocated magics start here (an EA's usual hand-picked numbers stay below it)."""
SPEC_DEFAULT_MAGIC = 123456
"""The spec's default magic: a strategy that keeps it gets an allocated one."""


def kill_file() -> Path:
    """The kill sentinel: ``NL_TRADER_KILL_FILE``, else ``~/.nl_trader/KILL``."""
    configured = os.environ.get(KILL_FILE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".nl_trader" / "KILL"


def kill_file_reason() -> str | None:
    """Why the kill file stops everything (its first line, if any), or None when it is absent."""
    path = kill_file()
    if not path.exists():
        return None
    try:
        first = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        first = []
    said = first[0][:200] if first else ""
    return f"kill file {path} exists" + (f": {said}" if said else "")


def kill(
    store: Store,
    strategy_ids: list[int] | None,
    *,
    by: str,
    reason: str,
    close_positions: bool = True,
) -> list[LiveSessionRecord]:
    """Kill the running sessions of the strategies named (``None``: every running session);
    return the sessions marked.

    Audited per session with the person and the reason. Each stops at its next poll: no new
    orders, pending orders cancelled, positions closed unless ``close_positions`` is False.
    """
    if not by.strip():
        raise InvalidInputError(["by: name the person who pulls the kill switch"], what="kill")
    if not reason.strip():
        raise InvalidInputError(["reason: say why the sessions are killed"], what="kill")
    with store.transaction():
        running = store.running_sessions()
        if strategy_ids is not None:
            for ident in strategy_ids:
                store.strategy(ident)  # an unknown id is named as such
            idle = sorted(set(strategy_ids) - {s.strategy_id for s in running})
            if idle:
                raise InvalidInputError(
                    [f"strategy {ident}: no session is running" for ident in idle], what="kill"
                )
            running = [s for s in running if s.strategy_id in strategy_ids]
        for session in running:
            store.update_session(
                session.id,
                {
                    "stop_requested_at": store.now(),
                    "stop_requested_by": by,
                    "kill_requested": True,
                    "close_positions": close_positions,
                },
            )
            store.audit(
                by,
                "live.killed",
                f"strategy:{session.strategy_id}",
                {
                    "session_id": session.id,
                    "reason": reason,
                    "close_positions": close_positions,
                },
            )
    return [store.session(s.id) for s in running]


# ---- accounts a strategy may trade on ------------------------------------------------------------
def assign_account(store: Store, strategy_id: int, profile: str, *, by: str) -> None:
    """Let the strategy trade on the account profile ``profile`` (a recorded change)."""
    _check_person(by, profile)
    store.strategy(strategy_id)
    with store.transaction():
        if any(a.account_profile == profile for a in store.strategy_accounts(strategy_id)):
            raise InvalidInputError(
                [f"account: strategy {strategy_id} may already trade on profile {profile!r}"],
                what="account assignment",
            )
        store.insert_strategy_account(strategy_id, profile, by=by)
        store.audit(
            by, "live.account_assigned", f"strategy:{strategy_id}", {"account_profile": profile}
        )


def remove_account(store: Store, strategy_id: int, profile: str, *, by: str) -> None:
    """Take the profile off the strategy's accounts (a running session on it is not stopped)."""
    _check_person(by, profile)
    with store.transaction():
        found = [a for a in store.strategy_accounts(strategy_id) if a.account_profile == profile]
        if not found:
            raise InvalidInputError(
                [f"account: strategy {strategy_id} is not assigned to profile {profile!r}"],
                what="account assignment",
            )
        store.remove_strategy_account(found[0].id, by=by)
        store.audit(
            by, "live.account_removed", f"strategy:{strategy_id}", {"account_profile": profile}
        )


def _check_person(by: str, profile: str) -> None:
    problems = []
    if not by.strip():
        problems.append("by: name the person who changes the strategy's accounts")
    if not profile.strip():
        problems.append("account: name the account profile")
    if problems:
        raise InvalidInputError(problems, what="account assignment")


def account_assigned(store: Store, strategy_id: int, profile: str) -> bool:
    return any(a.account_profile == profile for a in store.strategy_accounts(strategy_id))


# ---- magic numbers ------------------------------------------------------------------------------
def session_magic(
    store: Store,
    strategy_id: int,
    version_id: int,
    spec_magic: int,
    *,
    login: int | None,
    server: str,
    allocate: bool,
    taken: Collection[int] = (),
) -> int:
    """The magic this strategy version trades under on this account.

    A spec that names its own magic (not the default 123456) keeps it. Otherwise the one allocated
    to the version on the account, or with ``allocate`` a new one: the next free number from
    ``MAGIC_BASE``, skipping ``taken`` (magics the terminal already shows from elsewhere).
    """
    if spec_magic != SPEC_DEFAULT_MAGIC:
        return spec_magic
    known = store.magic_number(login, server, strategy_id, version_id)
    if known is not None:
        return known
    used = store.magic_numbers(login, server) | set(taken)
    magic = MAGIC_BASE + strategy_id * 1_000
    while magic in used:
        magic += 1
    if allocate:
        store.insert_magic(login, server, strategy_id, version_id, magic)
    return magic
