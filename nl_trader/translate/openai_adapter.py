"""The OpenAI adapter: ``ChatOpenAI`` asking for the answer envelope as structured output.

The only module that imports ``langchain_openai``. The request asks for the envelope's JSON
Schema (``response_format`` ``json_schema``, not strict: our schema uses unions and optional
fields that strict mode refuses), or for JSON mode (``json_object``) where a server has no schema
support. In ``auto`` mode a server that rejects the schema with HTTP 400 is asked again, once, in
JSON mode, and JSON mode is kept for that model from then on. Either way the answer is parsed and
validated by ``envelope.parse_answer``, the one place that reads it.

The openai client does no retries of its own (``max_retries=0``): the ask-again loop retries
timeouts, rate limits and server errors with backoff, and reports each one. Every request first
passes ``llm.check_request_allowed``, so the tests' switch holds even for a model made before it
was turned off.
"""

from __future__ import annotations

from typing import Any

import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from nl_trader.translate import port
from nl_trader.translate.envelope import envelope_json_schema

JSON_MODE: dict[str, Any] = {"type": "json_object"}
# Local servers (Ollama, LM Studio, vLLM) accept any key; the client insists on one.
_NO_KEY = "not-needed"


def json_schema_format() -> dict[str, Any]:
    """The ``response_format`` asking for the answer envelope's JSON Schema."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "nl_trader_translation",
            "description": "A StrategySpec, clarifying questions, or a refusal.",
            "schema": envelope_json_schema(),
            "strict": False,
        },
    }


def _rejects_schema(error: openai.BadRequestError) -> bool:
    text = f"{error.message} {error.body}".lower()
    return "response_format" in text or "json_schema" in text


class EnvelopeChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that falls back to JSON mode when the server refuses a JSON Schema."""

    fall_back_to_json_mode: bool = False

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except openai.BadRequestError as error:
            if not (self.fall_back_to_json_mode and _rejects_schema(error)):
                raise
        self.model_kwargs["response_format"] = dict(JSON_MODE)
        self.fall_back_to_json_mode = False
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    @property
    def response_format_type(self) -> str:
        """``json_schema`` or ``json_object``: what the next request asks for."""
        return str(self.model_kwargs.get("response_format", {}).get("type", ""))


def _guard(request: Any) -> None:
    port.check_request_allowed(str(request.url))


def make_chat_openai(config: port.LLMConfig) -> BaseChatModel:
    """``ChatOpenAI`` for ``config``, asking for the envelope as structured output."""
    response_format = JSON_MODE if config.mode == "json_mode" else json_schema_format()
    http_client = openai.DefaultHttpxClient(event_hooks={"request": [_guard]})
    extra: dict[str, Any] = {}
    if config.temperature is not None:
        extra["temperature"] = config.temperature
    return EnvelopeChatOpenAI(
        model=config.model,
        base_url=config.base_url,
        api_key=SecretStr(config.api_key or _NO_KEY),
        timeout=config.timeout_s,
        max_retries=0,
        use_responses_api=False,
        http_client=http_client,
        model_kwargs={"response_format": dict(response_format)},
        fall_back_to_json_mode=config.mode == "auto",
        **extra,
    )
