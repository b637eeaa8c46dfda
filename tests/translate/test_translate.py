"""translate(): a spec, a question or a refusal; the ask-again loop; retries of failed calls."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from nl_trader.errors import InvalidInputError
from nl_trader.spec import parse_spec
from nl_trader.translate.prompts import load_prompts
from nl_trader.translate.scripted import ScriptedChatModel
from nl_trader.translate.translate import TokenUsage, TranslationError, translate

from .conftest import MA_SPEC, MA_TEXT, Sleeps, scripted, spec_answer, with_changes

USAGE = {"input_tokens": 1000, "output_tokens": 200}


def test_a_valid_first_answer_gives_the_spec_with_its_explanation_and_defaults() -> None:
    result = translate(MA_TEXT, scripted(spec_answer(), usage=USAGE))
    assert result.outcome == "spec"
    assert result.spec == parse_spec(MA_SPEC)
    assert result.attempts == 1
    assert result.usage == TokenUsage(1000, 200)
    assert result.language == "en"
    assert result.explanation is not None
    assert "Stop loss 30 pips from the entry." in result.explanation
    # The text gives no max lots and no weekdays: the defaults are listed, with their values.
    assert "sizing.max_lots = 10.0" in result.defaults_filled
    assert "filters.weekdays = mon, tue, wed, thu, fri" in result.defaults_filled
    assert result.questions == result.missing == result.unsupported == ()
    assert result.model == "scripted"
    prompts = load_prompts()
    assert (result.prompt_version, result.prompt_hash) == (prompts.version, prompts.hash)
    assert result.latency_s >= 0


def test_broken_json_is_sent_back_and_the_fixed_second_answer_is_used() -> None:
    model = scripted('{"outcome": "spec", "spec": {"name": ', spec_answer(), usage=USAGE)
    result = translate(MA_TEXT, model)
    assert result.outcome == "spec"
    assert result.attempts == 2
    assert result.usage == TokenUsage(2000, 400)
    second = model.calls[1]
    # The model sees its own broken answer, then the problem with it.
    assert isinstance(second[-2], AIMessage)
    assert second[-2].text == '{"outcome": "spec", "spec": {"name": '
    assert isinstance(second[-1], HumanMessage)
    assert "answer: not valid JSON" in second[-1].text


def test_an_invalid_spec_goes_back_with_every_problem_path_and_the_fix_is_used() -> None:
    # pydantic's field checks and parse_spec's semantic ones both go back as "path: problem".
    broken = with_changes(sizing={"method": "fixed_lots", "lots": -1}, timeframe="H7")
    model = scripted(spec_answer(broken), spec_answer())
    result = translate(MA_TEXT, model)
    assert result.outcome == "spec"
    assert result.attempts == 2
    repair = model.calls[1][-1].text
    assert "spec.timeframe:" in repair
    assert "spec.sizing.lots: Input should be greater than 0" in repair


def test_when_retries_run_out_the_error_carries_attempts_last_output_and_usage() -> None:
    answers = [spec_answer(with_changes(timeframe=f"X{n}")) for n in range(3)]
    with pytest.raises(TranslationError) as caught:
        translate(MA_TEXT, scripted(*answers, usage=USAGE), max_attempts=3)
    error = caught.value
    assert error.attempts == 3
    assert error.last_raw_output == answers[2]
    assert error.usage == TokenUsage(3000, 600)
    assert any(problem.startswith("spec.timeframe:") for problem in error.problems)
    assert "no valid answer after 3 attempt(s)" in str(error)


def test_a_clarification_lists_the_questions_and_the_fields_at_stake() -> None:
    answer = {
        "outcome": "clarify",
        "questions": ["Which symbol?", "Which timeframe?", "Where is the stop loss?"],
        "missing": ["symbols", "timeframe", "exits.stop_loss"],
    }
    result = translate("Buy when it's cheap.", scripted(json.dumps(answer)))
    assert result.outcome == "clarify"
    assert result.spec is None
    assert result.explanation is None
    assert result.questions == ("Which symbol?", "Which timeframe?", "Where is the stop loss?")
    assert result.missing == ("symbols", "timeframe", "exits.stop_loss")
    assert result.message.splitlines() == [
        "I need a few answers before I can write this strategy:",
        "- Which symbol?",
        "- Which timeframe?",
        "- Where is the stop loss?",
    ]


def test_a_clarification_without_questions_or_naming_no_spec_field_is_asked_again() -> None:
    empty = json.dumps({"outcome": "clarify", "questions": [], "missing": ["mood"]})
    fixed = json.dumps(
        {"outcome": "clarify", "questions": ["Which symbol?"], "missing": ["symbols"]}
    )
    model = scripted(empty, fixed)
    result = translate("Buy when it's cheap.", model)
    assert result.attempts == 2
    repair = model.calls[1][-1].text
    assert "questions: give at least one" in repair
    assert "missing[0]: 'mood' is not a spec field" in repair


def test_a_refusal_names_what_is_unsupported() -> None:
    answer = {
        "outcome": "refuse",
        "unsupported": ["indicator ichimoku", "news events"],
        "reason": "Ichimoku is not in the catalogue and news events are not data the strategy sees.",
    }
    text = "Buy EURUSD H1 above the Ichimoku cloud, but never before NFP. Stop 30 pips."
    result = translate(text, scripted(json.dumps(answer)))
    assert result.outcome == "refuse"
    assert result.unsupported == ("indicator ichimoku", "news events")
    assert result.spec is None
    assert result.message.startswith(
        "This strategy cannot be built: indicator ichimoku, news events are not supported."
    )


def test_a_refusal_must_name_something_and_never_refuses_an_indicator_we_have() -> None:
    nothing = json.dumps({"outcome": "refuse", "unsupported": [], "reason": "no"})
    wrong = json.dumps({"outcome": "refuse", "unsupported": ["indicator rsi"], "reason": "no"})
    model = scripted(nothing, wrong, spec_answer())
    result = translate(MA_TEXT, model)
    assert result.outcome == "spec"
    assert result.attempts == 3
    assert "unsupported: give at least one" in model.calls[1][-1].text
    assert "unsupported[0]: rsi is in the indicator catalogue" in model.calls[2][-1].text


def test_a_symbol_and_timeframe_the_text_never_gave_are_not_accepted_as_a_guess() -> None:
    text = "Buy when RSI(14) drops below 30, stop loss 20 pips, 0.1 lots."
    ask = json.dumps(
        {
            "outcome": "clarify",
            "questions": ["Which symbol?", "Which timeframe?"],
            "missing": ["symbols", "timeframe"],
        }
    )
    model = scripted(spec_answer(), ask)
    result = translate(text, model)
    assert result.outcome == "clarify"
    repair = model.calls[1][-1].text
    assert "spec.symbols: the text names no symbol, yet the spec trades EURUSD" in repair
    assert "spec.timeframe: the text names no timeframe, yet the spec uses H1" in repair


def test_a_stop_loss_the_text_never_gave_is_not_accepted_as_a_guess() -> None:
    text = "Buy GBPUSD on the 1-hour chart when the 9 EMA crosses above the 21 EMA, 0.1 lots."
    ask = json.dumps(
        {
            "outcome": "clarify",
            "questions": ["Where is the stop loss?"],
            "missing": ["exits.stop_loss"],
        }
    )
    model = scripted(spec_answer(), ask)
    result = translate(text, model)
    assert result.outcome == "clarify"
    assert "spec.exits.stop_loss: the text gives no stop loss, yet the spec sets one" in (
        model.calls[1][-1].text
    )


def test_a_spec_without_a_stop_loss_goes_back_with_the_semantic_problem() -> None:
    no_stop = with_changes(exits={"take_profit": {"kind": "pips", "value": 60}})
    model = scripted(spec_answer(no_stop), spec_answer())
    assert translate(MA_TEXT, model).attempts == 2
    assert "spec.exits.stop_loss: a stop loss is required" in model.calls[1][-1].text


def test_a_waived_stop_loss_the_text_never_waived_is_sent_back() -> None:
    waived = with_changes(
        exits={"no_stop_loss": True, "take_profit": {"kind": "pips", "value": 60}}
    )
    model = scripted(spec_answer(waived), spec_answer())
    result = translate(MA_TEXT, model)
    assert result.attempts == 2
    assert "spec.exits.no_stop_loss: the text does not say to trade without a stop loss" in (
        model.calls[1][-1].text
    )


def test_traditional_chinese_text_gets_its_explanation_and_messages_in_traditional() -> None:
    text = "歐元兌美元 1 小時圖：20 期 SMA 上穿 50 期 SMA 時買入，下穿時賣出。止損 30 點，止盈 60 點，每筆 0.1 手。"
    result = translate(text, scripted(spec_answer()))
    assert result.language == "zh-Hant"
    assert result.explanation is not None
    assert "止損：距進場價 30 點。" in result.explanation
    assert result.message.startswith("已轉換為以下策略")


def test_simplified_chinese_text_gets_its_explanation_and_messages_in_simplified() -> None:
    text = "欧元兑美元 1 小时图：20 期 SMA 上穿 50 期 SMA 时买入，下穿时卖出。止损 30 点，止盈 60 点，每笔 0.1 手。"
    result = translate(text, scripted(spec_answer()))
    assert result.language == "zh-Hans"
    assert result.explanation is not None
    assert "止损：距进场价 30 点。" in result.explanation
    assert "仓位：每笔 0.1 手" in result.explanation
    assert result.message.startswith("已转换为以下策略")


def test_questions_to_a_chinese_text_must_be_in_chinese() -> None:
    text = "買入黃金，當它便宜的時候。"
    english = json.dumps(
        {"outcome": "clarify", "questions": ["Which timeframe?"], "missing": ["timeframe"]}
    )
    chinese = json.dumps(
        {"outcome": "clarify", "questions": ["用哪個週期？"], "missing": ["timeframe"]}
    )
    model = scripted(english, chinese)
    result = translate(text, model)
    assert result.questions == ("用哪個週期？",)
    assert "questions[0]: write it in Traditional Chinese" in model.calls[1][-1].text
    assert result.message.startswith("在寫出這個策略之前")


def test_a_rate_limited_call_is_retried_with_growing_backoff(sleeps: Sleeps) -> None:
    model = ScriptedChatModel.from_replies(
        [
            {"status": 429, "error": "slow down"},
            {"status": 503, "error": "overloaded"},
            {"content": spec_answer()},
        ]
    )
    result = translate(MA_TEXT, model, backoff_s=0.5, sleep=sleeps)
    assert result.outcome == "spec"
    assert result.attempts == 1  # one answer was asked for; its call failed twice first
    assert sleeps == [0.5, 1.0]
    assert result.transient_errors == (
        "attempt 1: rate limited (HTTP 429): scripted model error 429: slow down",
        "attempt 1: server error (HTTP 503): scripted model error 503: overloaded",
    )


def test_a_model_that_keeps_failing_ends_with_every_failure_reported(sleeps: Sleeps) -> None:
    model = ScriptedChatModel.from_replies([{"status": 500, "error": "down"}] * 3)
    with pytest.raises(TranslationError) as caught:
        translate(MA_TEXT, model, max_retries=2, backoff_s=1.0, max_backoff_s=1.5, sleep=sleeps)
    assert sleeps == [1.0, 1.5]
    error = caught.value
    assert error.attempts == 1
    assert error.last_raw_output is None
    assert len(error.problems) == 3
    assert "the model failed 3 times in a row" in str(error)


def test_a_refused_request_is_not_retried(sleeps: Sleeps) -> None:
    model = ScriptedChatModel.from_replies([{"status": 401, "error": "bad key"}, {"content": "{}"}])
    with pytest.raises(TranslationError) as caught:
        translate(MA_TEXT, model, sleep=sleeps)
    assert sleeps == []
    assert caught.value.problems == ["model: refused (HTTP 401): scripted model error 401: bad key"]


def test_a_script_with_nothing_left_fails_naming_the_text() -> None:
    with pytest.raises(TranslationError, match=r"nothing left to answer .*Buy EURUSD"):
        translate(MA_TEXT, ScriptedChatModel.from_replies([]))


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "text: empty"), ("   ", "text: empty"), ("x" * 8001, "text: 8001 characters")],
)
def test_an_empty_or_huge_text_is_refused_before_any_model_call(text: str, problem: str) -> None:
    model = scripted(spec_answer())
    with pytest.raises(InvalidInputError, match=problem):
        translate(text, model)
    assert model.calls == []


def test_the_text_reaches_the_model_fenced_as_data_after_the_system_prompt() -> None:
    model = scripted(spec_answer())
    translate(MA_TEXT, model)
    system, user = model.calls[0]
    assert "StrategySpec" in system.text
    assert f"<<<TRADER_TEXT\n{MA_TEXT}\nTRADER_TEXT>>>" in user.text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_level_of_nan_or_infinity_is_sent_back_not_accepted(constant: str) -> None:
    # Python's json reads these, JSON has no such numbers; "close > NaN" would never trade.
    never = with_changes(long_entry={"op": "gt", "left": "close", "right": 1.0})
    broken = spec_answer(never).replace("1.0", constant, 1)
    model = scripted(broken, spec_answer())
    result = translate(MA_TEXT, model)
    assert result.attempts == 2
    assert f"answer: {constant} is not a JSON number" in model.calls[1][-1].text


def test_questions_to_a_traditional_text_in_simplified_characters_are_sent_back() -> None:
    text = "買入黃金，當它便宜的時候。"
    simplified = json.dumps(
        {
            "outcome": "clarify",
            "questions": ["用哪个周期？止损设在哪里？"],
            "missing": ["timeframe"],
        }
    )
    # No character of one script only: as good in either, so accepted.
    shared = json.dumps(
        {"outcome": "clarify", "questions": ["你想用 H1 或者 H4？"], "missing": ["timeframe"]}
    )
    model = scripted(simplified, shared)
    result = translate(text, model)
    assert result.questions == ("你想用 H1 或者 H4？",)
    assert "questions[0]: write it in Traditional Chinese" in model.calls[1][-1].text


def test_a_refusal_of_a_catalogue_indicator_by_its_title_is_sent_back() -> None:
    bollinger = json.dumps(
        {"outcome": "refuse", "unsupported": ["indicator Bollinger Bands"], "reason": "no"}
    )
    # Stochastic RSI is not the stochastic oscillator: refusing it is right.
    stoch_rsi = json.dumps(
        {"outcome": "refuse", "unsupported": ["indicator stochastic rsi"], "reason": "No StochRSI."}
    )
    model = scripted(bollinger, stoch_rsi)
    result = translate("EURUSD H1: buy when the StochRSI crosses 20, stop 20 pips.", model)
    assert result.unsupported == ("indicator stochastic rsi",)
    assert "unsupported[0]: bbands is in the indicator catalogue" in model.calls[1][-1].text


def test_a_spec_sent_as_a_string_is_sent_back_saying_it_must_be_the_object() -> None:
    as_text = json.dumps({"outcome": "spec", "spec": json.dumps(MA_SPEC)})
    model = scripted(as_text, spec_answer())
    assert translate(MA_TEXT, model).attempts == 2
    repair = model.calls[1][-1].text
    assert "- spec: expected a JSON object (the StrategySpec itself), got str" in repair
    assert "spec.spec" not in repair
