"""Opt-in (pytest -m llm): a real model, configured from the environment, translates an example."""

from __future__ import annotations

import os

import pytest

from nl_trader.strategy.examples import load_examples
from nl_trader.translate.llm import make_llm
from nl_trader.translate.translate import translate

pytestmark = pytest.mark.llm


@pytest.mark.skipif(
    not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")),
    reason="set OPENAI_API_KEY (and OPENAI_BASE_URL / NL_TRADER_MODEL) to run",
)
def test_a_real_model_translates_the_crossover_example_and_asks_about_a_vague_one() -> None:
    model = make_llm("openai")
    example = next(e for e in load_examples() if e.slug == "ma_crossover")
    result = translate(example.text, model)
    assert result.outcome == "spec"
    assert result.spec is not None
    assert result.spec.symbols == ("EURUSD",)
    assert result.spec.timeframe == "H1"
    assert result.usage.total_tokens > 0
    vague = translate("Buy when it's cheap, sell when it's expensive.", model)
    assert vague.outcome == "clarify"
    assert "symbols" in vague.missing
