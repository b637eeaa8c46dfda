"""Text -> StrategySpec: prompts, the LLM port, the OpenAI adapter, the scripted LLM, the
ask-again loop, and the explain-back.

- ``translate.py``: ``translate(text, llm)`` -> ``Translation`` (a spec, questions or a refusal);
- ``envelope.py``: the model's answer, parsed and validated in one place;
- ``grounding.py``: no silent guesses (symbol, timeframe, waived stop) the text does not give;
- ``prompts.py``: the templates of ``prompts/``, rendered, versioned and hashed;
- ``port.py``: the LLM port: ``LLMConfig``, the ``ALLOW_MODEL_REQUESTS`` switch, model errors;
- ``llm.py``: ``make_llm("scripted:PATH" | "openai")``, the factory over the adapters;
- ``openai_adapter.py``: ``ChatOpenAI`` with structured output (the only ``langchain_openai`` user);
- ``scripted.py``: the scripted chat model and the scripted OpenAI-compatible HTTP server;
- ``language.py``: en / zh-Hant / zh-Hans detection; ``explain.py``: the explain-back.

Nothing is imported here, so that ``explain`` stays cheap to import for reports.
"""
