"""``nl-trader kill`` and ``nl-trader live assign / unassign``: the kill switch and the accounts a
strategy may trade on. Thin: each command is one call of ``nl_trader.live.control``."""

from __future__ import annotations

from typing import Annotated

import typer

from nl_trader.cli.common import app, console
from nl_trader.cli.lifecycle import ByOption, DbOption, StrategyId, _actor, live_app, open_store
from nl_trader.errors import InvalidInputError
from nl_trader.live.control import assign_account, kill, kill_file, remove_account

AccountOption = Annotated[
    str, typer.Option("--account", help="The account profile (\\[accounts.NAME] in the config).")
]


@app.command(name="kill")
def kill_command(
    strategy_id: Annotated[
        int | None,
        typer.Argument(help="The strategy whose sessions to kill (see `nl-trader live status`)."),
    ] = None,
    all_sessions: Annotated[
        bool, typer.Option("--all", help="Kill every running session.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")] = "",
    keep_positions: Annotated[
        bool,
        typer.Option("--keep-positions", help="Cancel pending orders but leave positions open."),
    ] = False,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Kill switch: within one poll the sessions send no new order, cancel their pending orders
    and close their positions (unless --keep-positions), then stop. A killed strategy trades
    again only through a new `live start`. From outside any program, creating the kill file
    (NL_TRADER_KILL_FILE, default ~/.nl_trader/KILL) does the same for every session."""
    if (strategy_id is None) == (not all_sessions):
        raise InvalidInputError(["kill: name one strategy ID or give --all"], what="kill")
    with open_store(db) as store:
        killed = kill(
            store,
            None if all_sessions else [int(strategy_id or 0)],
            by=_actor(by),
            reason=reason or "kill switch",
            close_positions=not keep_positions,
        )
    if not killed:
        console.print("no session is running", markup=False)
        return
    for session in killed:
        console.print(
            f"session {session.id} (strategy {session.strategy_id} on "
            f"{session.account_profile}) killed: it stops at its next poll",
            markup=False,
        )
    console.print(f"(the kill file for every session is {kill_file()})", markup=False)


@live_app.command("assign")
def live_assign(
    strategy_id: StrategyId,
    account: AccountOption,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Let a strategy trade on an account profile (a recorded change the gate checks)."""
    with open_store(db) as store:
        assign_account(store, strategy_id, account, by=_actor(by))
    console.print(f"strategy {strategy_id} may trade on {account}", markup=False)


@live_app.command("unassign")
def live_unassign(
    strategy_id: StrategyId,
    account: AccountOption,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Take an account profile off a strategy's accounts."""
    with open_store(db) as store:
        remove_account(store, strategy_id, account, by=_actor(by))
    console.print(f"strategy {strategy_id} no longer trades on {account}", markup=False)
