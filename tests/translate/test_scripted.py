"""The scripted model: replies keyed by the text or in order, a clear error when it runs dry, and
the bundled examples script kept in sync with strategies/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from nl_trader.strategy.examples import load_examples
from nl_trader.translate.llm import make_llm
from nl_trader.translate.port import LLMConfigError
from nl_trader.translate.scripted import (
    EXAMPLES_SCRIPT,
    Script,
    ScriptedChatModel,
    ScriptError,
    ScriptExhaustedError,
    examples_script,
)
from nl_trader.translate.translate import translate


def ask(model: ScriptedChatModel, text: str) -> str:
    reply = model.invoke([SystemMessage("rules"), HumanMessage(f"<<<{text}>>>")])
    return str(reply.text)


def test_keyed_replies_answer_their_text_in_order_and_others_take_the_unkeyed_ones() -> None:
    model = ScriptedChatModel.from_replies(
        [
            {"match": "EURUSD", "content": "eur 1"},
            {"content": "any 1"},
            {"match": "EURUSD", "content": "eur 2"},
            {"content": "any 2"},
        ]
    )
    assert ask(model, "buy EURUSD") == "eur 1"
    assert ask(model, "buy GBPUSD") == "any 1"
    assert ask(model, "sell EURUSD") == "eur 2"
    assert ask(model, "buy gold") == "any 2"


def test_the_longest_matching_key_answers() -> None:
    model = ScriptedChatModel.from_replies(
        [{"match": "EURUSD", "content": "short"}, {"match": "EURUSD on H1", "content": "long"}]
    )
    assert ask(model, "buy EURUSD on H1") == "long"


def test_a_conversation_with_nothing_left_gets_an_error_naming_its_text() -> None:
    model = ScriptedChatModel.from_replies([{"match": "EURUSD", "content": "once"}])
    ask(model, "buy EURUSD")
    with pytest.raises(ScriptExhaustedError, match=r"buy EURUSD.*are all used"):
        ask(model, "buy EURUSD")
    with pytest.raises(ScriptExhaustedError, match=r"buy gold.*no reply matches it"):
        ask(model, "buy gold")


def test_usage_is_reported_only_when_scripted() -> None:
    model = ScriptedChatModel.from_replies(
        [{"content": "a", "usage": {"input_tokens": 10, "output_tokens": 2}}, {"content": "b"}]
    )
    first = model.invoke([HumanMessage("x")])
    second = model.invoke([HumanMessage("x")])
    assert first.usage_metadata == {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
    assert second.usage_metadata is None


def test_a_malformed_script_names_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"version": 1, "replies": [{"content": "x", "colour": "red"}]}))
    with pytest.raises(ScriptError, match=r"replies\.0\.colour: Extra inputs are not permitted"):
        make_llm(f"scripted:{path}")
    with pytest.raises(ScriptError, match="cannot read"):
        make_llm(f"scripted:{tmp_path / 'missing.json'}")
    with pytest.raises(ScriptError, match="version: 2 is not supported"):
        Script.parse({"version": 2})


@pytest.mark.parametrize("choice", ["scripted", "scripted:", "gpt", "openai:gpt-4o"])
def test_an_unknown_model_choice_says_what_exists(choice: str) -> None:
    with pytest.raises(LLMConfigError, match="llm: "):
        make_llm(choice)


def test_the_bundled_examples_script_is_in_sync_with_strategies() -> None:
    # Regenerate with: python -m nl_trader.translate.scripted
    on_disk = json.loads(EXAMPLES_SCRIPT.read_text(encoding="utf-8"))
    assert on_disk == examples_script()


def test_the_examples_script_translates_every_example_to_its_spec_again_and_again() -> None:
    model = make_llm("scripted:examples")
    for _ in range(2):
        for example in load_examples():
            result = translate(example.text, model)
            assert result.spec == example.spec, example.slug
            assert result.language == example.language, example.slug


def test_once_the_longest_match_is_used_up_a_shorter_keys_replies_do_not_stand_in() -> None:
    model = ScriptedChatModel.from_replies(
        [{"match": "EURUSD", "content": "short"}, {"match": "EURUSD on H1", "content": "long"}]
    )
    assert ask(model, "buy EURUSD on H1") == "long"
    with pytest.raises(ScriptExhaustedError, match=r"'EURUSD on H1' are all used"):
        ask(model, "buy EURUSD on H1")
    assert ask(model, "buy EURUSD on D1") == "short"
