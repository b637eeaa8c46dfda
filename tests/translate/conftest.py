"""Doubles for translation tests: scripted replies built from a real example strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nl_trader.translate.scripted import ScriptedChatModel

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
MA_TEXT = (STRATEGIES / "ma_crossover.txt").read_text(encoding="utf-8").strip()
MA_SPEC: dict[str, Any] = json.loads((STRATEGIES / "ma_crossover.json").read_text("utf-8"))


def spec_answer(spec: dict[str, Any] | None = None, **extra: Any) -> str:
    """The raw text of a spec answer (the ma_crossover spec unless given), plus any extra keys."""
    return json.dumps({"outcome": "spec", "spec": spec or MA_SPEC, **extra}, ensure_ascii=False)


def with_changes(**changes: Any) -> dict[str, Any]:
    """The ma_crossover spec with top-level fields replaced."""
    return {**json.loads(json.dumps(MA_SPEC)), **changes}


def scripted(*contents: str, usage: dict[str, int] | None = None) -> ScriptedChatModel:
    """A model answering with ``contents`` in order, whatever it is asked."""
    replies = [{"content": content, **({"usage": usage} if usage else {})} for content in contents]
    return ScriptedChatModel.from_replies(replies)


class Sleeps(list[float]):
    """A ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
