"""Optimisations in the lifecycle: recorded with what they searched, and adopted as a new version.

``record`` stores an optimisation (or a walk-forward) of a strategy's current version with its
space, objectives, data, settings, trial count, chosen set, overfitting figures and, for a
walk-forward, the stitched out-of-sample result; it is audited (``optimisation.recorded``) and
moves no state. ``adopt`` makes the chosen set (or another trial's set) a new version whose
parent is the optimised one and which names the optimisation: like any edit it is back in draft,
and needs its own backtest report and a person's approval before it trades.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nl_trader.lifecycle.common import _require, _subject, require_actor
from nl_trader.lifecycle.steps import edit
from nl_trader.optimise.space import Number, SearchSpace
from nl_trader.store import Optimisation, Store, Version


def record(
    store: Store,
    strategy_id: int,
    *,
    kind: str,
    method: str,
    engine: str,
    params: list[str],
    constraints: list[str],
    objectives: list[str],
    data: Mapping[str, Any],
    settings: Mapping[str, Any],
    trials: int,
    best: Mapping[str, Any] | None,
    overfitting: Mapping[str, Any] | None,
    out_of_sample: Mapping[str, Any] | None,
    study_name: str | None,
    elapsed_s: float,
    by: str,
) -> Optimisation:
    """Store an optimisation of the strategy's current version (module docstring)."""
    require_actor(by, "records the optimisation")
    version = store.current_version(strategy_id)
    with store.transaction():
        ident = store.insert_optimisation(
            {
                "strategy_id": strategy_id,
                "version_id": version.id,
                "spec_hash": version.spec_hash,
                "kind": kind,
                "method": method,
                "engine": engine,
                "space": {"params": list(params), "constraints": list(constraints)},
                "objectives": list(objectives),
                "data": dict(data),
                "settings": dict(settings),
                "trials": trials,
                "best": None if best is None else dict(best),
                "overfitting": None if overfitting is None else dict(overfitting),
                "out_of_sample": None if out_of_sample is None else dict(out_of_sample),
                "study_name": study_name,
                "elapsed_s": elapsed_s,
                "created_by": by,
            }
        )
        store.audit(
            by,
            "optimisation.recorded",
            _subject(strategy_id),
            {
                "optimisation_id": ident,
                "version_id": version.id,
                "spec_hash": version.spec_hash,
                "kind": kind,
                "trials": trials,
                "chosen": None if best is None else best.get("values"),
            },
        )
    return store.optimisation(ident)


def adopt(
    store: Store,
    optimisation_id: int,
    *,
    by: str,
    values: Mapping[str, Number] | None = None,
    note: str = "",
) -> Version:
    """A new version of the optimised strategy with the chosen set (or ``values``), its parent
    the optimised version, naming the optimisation (module docstring)."""
    require_actor(by, "adopts the optimised set")
    found = store.optimisation(optimisation_id)
    chosen = dict(values) if values is not None else dict((found.best or {}).get("values") or {})
    _require(bool(chosen), f"optimisation {optimisation_id}: no chosen set to adopt")
    current = store.current_version(found.strategy_id)
    _require(
        current.id == found.version_id,
        f"optimisation {optimisation_id}: it optimised version {store.version(found.version_id).number}"
        f", but the strategy is at version {current.number} now; optimise that one",
    )
    space = SearchSpace.parse(found.space["params"], found.space.get("constraints") or [])
    spec = space.apply(current.spec, chosen)
    words = ", ".join(f"{path}={value:g}" for path, value in chosen.items())
    return edit(
        store,
        found.strategy_id,
        spec,
        by=by,
        note=note or f"from optimisation {optimisation_id} ({found.trials} trials): {words}",
        optimisation_id=optimisation_id,
    )
