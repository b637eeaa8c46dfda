"""Choosing a model by name: the factory over the LLM port (``translate.port``) and its adapters.

``make_llm("scripted:PATH")`` gives the in-process scripted model replaying a script file
(``scripted:examples`` is the bundled script answering the ``strategies/`` examples);
``make_llm("openai")`` gives ``ChatOpenAI`` configured from the environment (``LLMConfig``), so
any OpenAI-compatible server works (OpenAI, Azure OpenAI's v1 endpoint, vLLM, Ollama, LM Studio).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from nl_trader.translate.port import LLMConfig, LLMConfigError, check_request_allowed
from nl_trader.translate.scripted import EXAMPLES_SCRIPT, ScriptedChatModel

LLM_CHOICES = "scripted:PATH (scripted:examples for the bundled script) or openai"


def make_llm(choice: str) -> BaseChatModel:
    """The chat model named by ``choice``: ``scripted:PATH`` or ``openai``."""
    name, _, argument = choice.partition(":")
    if name == "scripted":
        if not argument:
            raise LLMConfigError([f"llm: {choice!r} names no script file (scripted:PATH)"])
        path = EXAMPLES_SCRIPT if argument == "examples" else Path(argument)
        return ScriptedChatModel.from_file(path)
    if name == "openai" and not argument:
        return make_openai_llm(LLMConfig.from_env())
    raise LLMConfigError([f"llm: {choice!r} is not a model choice ({LLM_CHOICES})"])


def make_openai_llm(config: LLMConfig) -> BaseChatModel:
    """``ChatOpenAI`` for ``config``; refused at once if requests to its server are forbidden."""
    check_request_allowed(config.url)
    from nl_trader.translate.openai_adapter import make_chat_openai

    return make_chat_openai(config)


def default_llm_choice(environ: Mapping[str, str] | None = None) -> str | None:
    """The model to use when none is named: ``NL_TRADER_LLM``, else ``openai`` when a key or a base
    URL is set, else None (the caller asks for ``--llm``)."""
    env = os.environ if environ is None else environ
    named = env.get("NL_TRADER_LLM", "").strip()
    if named:
        return named
    if env.get("OPENAI_API_KEY", "").strip() or env.get("OPENAI_BASE_URL", "").strip():
        return "openai"
    return None
