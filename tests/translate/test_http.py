"""The real ChatOpenAI -> HTTP -> parsing path, against the scripted OpenAI-compatible server on
localhost; and the switch that keeps tests away from real models."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from nl_trader.translate import llm, port
from nl_trader.translate.llm import make_llm
from nl_trader.translate.port import LLMConfig, LLMConfigError, ModelRequestsForbiddenError
from nl_trader.translate.scripted import Script, ScriptedServer
from nl_trader.translate.translate import TokenUsage, TranslationError, translate

from .conftest import MA_TEXT, Sleeps, spec_answer

KEY = "sk-test-0123456789abcdef"


def serve(replies: list[dict[str, Any]], model: str = "scripted-http") -> ScriptedServer:
    return ScriptedServer(Script.parse({"version": 1, "model": model, "replies": replies}))


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("NL_TRADER_MODEL", "gpt-test")
    return monkeypatch


def test_a_spec_comes_back_through_chat_openai_with_usage_and_model_name(
    openai_env: pytest.MonkeyPatch,
) -> None:
    usage = {"input_tokens": 1500, "output_tokens": 250}
    with serve([{"match": MA_TEXT, "content": spec_answer(), "usage": usage}]) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        result = translate(MA_TEXT, make_llm("openai"))
    assert result.outcome == "spec"
    assert result.usage == TokenUsage(1500, 250)
    assert result.model == "scripted-http"
    (request,) = server.requests
    assert request["model"] == "gpt-test"
    assert request["temperature"] == 0
    assert [message["role"] for message in request["messages"]] == ["system", "user"]
    assert MA_TEXT in request["messages"][1]["content"]
    assert server.authorized == [True]


def test_the_request_asks_for_the_envelope_json_schema(openai_env: pytest.MonkeyPatch) -> None:
    with serve([{"content": spec_answer()}]) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        translate(MA_TEXT, make_llm("openai"))
    response_format = server.requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]["schema"]
    assert schema["properties"]["outcome"]["enum"] == ["spec", "clarify", "refuse"]
    assert schema["properties"]["spec"] == {"$ref": "#/$defs/StrategySpec"}
    assert schema["additionalProperties"] is False
    assert "StrategySpec" in schema["$defs"]


def test_json_mode_is_asked_for_when_configured(openai_env: pytest.MonkeyPatch) -> None:
    openai_env.setenv("NL_TRADER_LLM_MODE", "json_mode")
    with serve([{"content": spec_answer()}]) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        translate(MA_TEXT, make_llm("openai"))
    assert server.requests[0]["response_format"] == {"type": "json_object"}


def test_a_server_rejecting_the_schema_is_asked_again_in_json_mode(
    openai_env: pytest.MonkeyPatch,
) -> None:
    rejection = {
        "status": 400,
        "error": "Invalid parameter: 'response_format' of type 'json_schema' is not supported",
    }
    with serve([rejection, {"content": spec_answer()}, {"content": spec_answer()}]) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        model = make_llm("openai")
        assert translate(MA_TEXT, model).outcome == "spec"
        assert translate(MA_TEXT, model).outcome == "spec"
    kinds = [request["response_format"]["type"] for request in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]


def test_a_429_then_a_200_is_retried_and_reported(
    openai_env: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    replies = [{"status": 429, "error": "Rate limit reached"}, {"content": spec_answer()}]
    with serve(replies) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        result = translate(MA_TEXT, make_llm("openai"), backoff_s=0.25, sleep=sleeps)
    assert result.outcome == "spec"
    assert len(server.requests) == 2
    assert sleeps == [0.25]
    assert result.transient_errors == ("attempt 1: rate limited (HTTP 429): Rate limit reached",)


def test_server_errors_until_retries_run_out_end_in_a_clear_error(
    openai_env: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    with serve([{"status": 500, "error": "boom"}] * 3) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        with pytest.raises(TranslationError) as caught:
            translate(MA_TEXT, make_llm("openai"), max_retries=2, sleep=sleeps)
    assert len(server.requests) == 3
    assert caught.value.problems == ["model: attempt 1: server error (HTTP 500): boom"] * 3


def test_a_timeout_is_retried_and_the_next_answer_used(
    openai_env: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    openai_env.setenv("NL_TRADER_LLM_TIMEOUT_S", "0.2")
    replies = [{"content": spec_answer(), "delay_s": 1.0}, {"content": spec_answer()}]
    with serve(replies) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        result = translate(MA_TEXT, make_llm("openai"), sleep=sleeps)
    assert result.outcome == "spec"
    assert result.transient_errors == ("attempt 1: timed out",)


def test_an_invalid_answer_over_http_is_repaired_in_the_same_conversation(
    openai_env: pytest.MonkeyPatch,
) -> None:
    replies = [
        {"match": MA_TEXT, "content": "not json"},
        {"match": MA_TEXT, "content": spec_answer()},
    ]
    with serve(replies) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        result = translate(MA_TEXT, make_llm("openai"))
    assert result.attempts == 2
    second = server.requests[1]["messages"]
    assert [message["role"] for message in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == "not json"
    assert "answer: not valid JSON" in second[3]["content"]


def test_the_key_never_appears_in_an_error(openai_env: pytest.MonkeyPatch) -> None:
    with serve([{"status": 401, "error": f"Incorrect API key provided: {KEY}"}]) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        with pytest.raises(TranslationError) as caught:
            translate(MA_TEXT, make_llm("openai"))
    assert KEY not in str(caught.value)
    assert KEY not in json.dumps(caught.value.problems)
    assert "refused (HTTP 401)" in str(caught.value)


def test_under_tests_a_real_model_cannot_be_made(openai_env: pytest.MonkeyPatch) -> None:
    openai_env.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    with pytest.raises(ModelRequestsForbiddenError, match="ALLOW_MODEL_REQUESTS is False"):
        make_llm("openai")
    openai_env.delenv("OPENAI_BASE_URL")
    with pytest.raises(ModelRequestsForbiddenError):
        make_llm("openai")


def test_a_model_made_before_the_switch_is_stopped_at_its_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(port, "ALLOW_MODEL_REQUESTS", True)
    # 192.0.2.1 is TEST-NET-1: nothing answers there, and the guard refuses before connecting.
    model = llm.make_openai_llm(LLMConfig(base_url="http://192.0.2.1/v1", api_key=KEY))
    monkeypatch.setattr(port, "ALLOW_MODEL_REQUESTS", False)
    with pytest.raises(ModelRequestsForbiddenError, match=re.escape("http://192.0.2.1")):
        translate(MA_TEXT, model)


def test_without_a_key_the_openai_model_says_what_to_set() -> None:
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY: not set"):
        make_llm("openai")


def test_a_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve([{"content": spec_answer()}]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        assert translate(MA_TEXT, make_llm("openai")).outcome == "spec"


def test_a_server_script_that_ran_dry_fails_at_once_naming_the_text(
    openai_env: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    with serve([]) as server:
        openai_env.setenv("OPENAI_BASE_URL", server.base_url)
        with pytest.raises(TranslationError, match="nothing left to answer 'Buy EURUSD"):
            translate(MA_TEXT, make_llm("openai"), sleep=sleeps)
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("value", ["nan", "-0.5", "2.5", "warm"])
def test_a_temperature_outside_0_to_2_is_refused_naming_the_setting(value: str) -> None:
    environ = {"OPENAI_API_KEY": KEY, "NL_TRADER_LLM_TEMPERATURE": value}
    with pytest.raises(LLMConfigError, match=f"NL_TRADER_LLM_TEMPERATURE: '{value}' is not"):
        LLMConfig.from_env(environ)
    assert LLMConfig.from_env({**environ, "NL_TRADER_LLM_TEMPERATURE": "0.7"}).temperature == 0.7


@pytest.mark.parametrize("url", ["notaurl", "localhost:11434/v1", "ftp://models.example/v1"])
def test_a_base_url_that_is_not_an_http_server_is_refused_before_any_request(url: str) -> None:
    environ = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url}
    with pytest.raises(LLMConfigError, match="OPENAI_BASE_URL: not an http"):
        LLMConfig.from_env(environ)
