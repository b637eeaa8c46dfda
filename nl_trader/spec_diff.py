"""What changed between two versions of a strategy: each field that differs, old and new.

``spec_diff(old, new)`` compares the specs' canonical JSON (``spec.canonical_json``: every field,
defaults written out, so ``10`` and ``10.0`` pips are no change) and lists each leaf that differs
as a ``Change(path, old, new)``, in the order the fields are written. A path reads like the JSON:
``exits.stop_loss.value``, ``symbols[0]``; indicators (and any list whose items all carry an
``id``) are matched by their id, so inserting one is one change, not a shifted list:
``indicators[slow].params.period``. A field on one side only has ``ABSENT`` on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

from nl_trader.spec import StrategySpec, canonical_json


class _Absent:
    """The value of a field that one side does not have."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent()


class Change(NamedTuple):
    """One field that differs: where (``exits.stop_loss.value``), what it was, what it is."""

    path: str
    old: Any
    new: Any


def spec_diff(
    old: StrategySpec | Mapping[str, Any], new: StrategySpec | Mapping[str, Any]
) -> list[Change]:
    """Every field that differs between ``old`` and ``new`` (module docstring); [] when the
    two mean the same strategy."""
    return list(_walk("", _plain(old), _plain(new)))


def _plain(spec: StrategySpec | Mapping[str, Any]) -> Any:
    if isinstance(spec, StrategySpec):
        return json.loads(canonical_json(spec))
    return json.loads(json.dumps(dict(spec), sort_keys=True))


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects that each carry a distinct ``id``, by id (else None)."""
    if not items or not all(isinstance(item, dict) and "id" in item for item in items):
        return None
    ids = [str(item["id"]) for item in items]
    return dict(zip(ids, items, strict=True)) if len(set(ids)) == len(ids) else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(path: str, old: Any, new: Any) -> Iterator[Change]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            yield from _walk(_join(path, key), old.get(key, ABSENT), new.get(key, ABSENT))
        return
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            for key in [*old_keyed, *(k for k in new_keyed if k not in old_keyed)]:
                yield from _walk(
                    f"{path}[{key}]", old_keyed.get(key, ABSENT), new_keyed.get(key, ABSENT)
                )
            return
        for index in range(max(len(old), len(new))):
            yield from _walk(
                f"{path}[{index}]",
                old[index] if index < len(old) else ABSENT,
                new[index] if index < len(new) else ABSENT,
            )
        return
    if old != new or (type(old) is not type(new) and not _same_number(old, new)):
        yield Change(path, old, new)


def _same_number(old: Any, new: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(old, numbers)
        and isinstance(new, numbers)
        and not isinstance(old, bool)
        and not isinstance(new, bool)
        and old == new
    )
