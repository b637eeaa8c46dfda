"""Text to a StrategySpec, clarifying questions, or a refusal: ``translate`` and its ask-again loop.

The model answers with an envelope (``envelope.py``). Each answer is checked: the envelope and the
spec by ``parse_answer`` (pydantic's checks and ``parse_spec``'s semantic ones; an answer nested too
deep or with an endless number is a problem too, never a crash), then against the text
(``grounding.py``: no symbol, timeframe or waived stop the text does not give, and no symbol,
size, distance or count the text contradicts or states nowhere unless it is the documented
default; questions and refusals in the trader's language; no refusal of an indicator the registry
has). Problems go back to the model as a message, up to ``max_attempts`` answers; when they run out
the error carries the attempts, the last raw output (secrets redacted) and the token usage (as
instructor does); a spec the text still does not bear out is refused, each line naming the field,
what the answer says and what the text says.

Failures of the call itself (timeouts, rate limits, server errors, a lost connection) are retried
with exponential backoff, up to ``max_retries`` times per answer, and each one is reported in the
result (``transient_errors``) or in the final error. Other failures (a refused key, a bad request)
end the translation at once with a ``TranslationError`` that says what happened.

Nothing in a translation starts trading: the result is a spec, which is backtested and approved by
a person later; the envelope has no field for anything else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.spec import StrategySpec, canonical_json, defaults_filled, spec_hash
from nl_trader.strategy.indicators import REGISTRY
from nl_trader.translate.envelope import (
    Answer,
    AnswerError,
    ClarifyAnswer,
    RefuseAnswer,
    SpecAnswer,
    parse_answer,
)
from nl_trader.translate.explain import explain
from nl_trader.translate.grounding import grounding_problems
from nl_trader.translate.language import Language, chinese_script, detect_language, is_chinese
from nl_trader.translate.port import (
    ModelRequestsForbiddenError,
    causes,
    describe_model_error,
    is_transient,
    known_secrets,
    redact,
)
from nl_trader.translate.prompts import Prompts, load_prompts

__all__ = [
    "MAX_TEXT_CHARS",
    "Outcome",
    "TokenUsage",
    "Translation",
    "TranslationError",
    "translate",
    "translation_to_dict",
]

Outcome = Literal["spec", "clarify", "refuse"]
MAX_TEXT_CHARS = 8000
_LANGUAGE_NAMES = {
    "en": "English",
    "zh-Hant": "Traditional Chinese",
    "zh-Hans": "Simplified Chinese",
}
_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "spec": "Translated into the strategy below. Read it, and the defaults filled in, "
        "before you backtest it.",
        "clarify": "I need a few answers before I can write this strategy:",
        "refuse": "This strategy cannot be built: {items} {verb} not supported.",
    },
    "zh-Hant": {
        "spec": "已轉換為以下策略。回測之前，請先閱讀它以及已填入的預設值。",
        "clarify": "在寫出這個策略之前，需要您先回答：",
        "refuse": "無法建立這個策略：不支援 {items}。",
    },
    "zh-Hans": {
        "spec": "已转换为以下策略。回测之前，请先阅读它以及已填入的默认值。",
        "clarify": "在写出这个策略之前，需要您先回答：",
        "refuse": "无法建立这个策略：不支持 {items}。",
    },
}


@dataclass(frozen=True)
class TokenUsage:
    """Tokens a model reported for one or more calls (0 where it reported none)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )


@dataclass(frozen=True)
class Translation:
    """What ``translate`` made of a text: a spec, questions to answer, or a refusal.

    ``defaults_filled`` lists each default the spec relies on as ``path = value`` (e.g.
    ``sizing.max_lots = 10.0``). ``attempts`` counts the answers asked for (1: the first was
    valid); ``transient_errors`` lists the calls that failed and were retried.
    """

    text: str
    outcome: Outcome
    spec: StrategySpec | None
    questions: tuple[str, ...]
    missing: tuple[str, ...]
    unsupported: tuple[str, ...]
    message: str
    language: str
    defaults_filled: tuple[str, ...]
    explanation: str | None
    attempts: int
    usage: TokenUsage
    latency_s: float
    model: str
    prompt_version: str
    prompt_hash: str
    transient_errors: tuple[str, ...] = field(default=())


class TranslationError(NlTraderError):
    """The model gave no usable answer: retries ran out, or it failed for good.

    ``attempts``: answers asked for; ``last_raw_output``: the model's last answer, verbatim (None
    if none came); ``usage``: tokens over every attempt; ``problems``: what was wrong with the last
    answer, or how the call failed; ``transient_errors``: every retried failure.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        last_raw_output: str | None,
        usage: TokenUsage,
        problems: list[str],
        transient_errors: tuple[str, ...] = (),
    ) -> None:
        self.attempts = attempts
        self.last_raw_output = last_raw_output
        self.usage = usage
        self.problems = problems
        self.transient_errors = transient_errors
        super().__init__(message)


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _language_problems(key: str, texts: tuple[str, ...], language: Language) -> list[str]:
    name = _LANGUAGE_NAMES[language]
    wrong = [
        index
        for index, item in enumerate(texts)
        if item.strip()
        and (
            is_chinese(item) != (language != "en")
            # Chinese in the other script: only when its characters say so (many are shared).
            or (language != "en" and chinese_script(item) not in (None, language))
        )
    ]
    return [f"{key}[{index}]: write it in {name}, the language of the text" for index in wrong]


# Each catalogue indicator by its kind and by its title: "bbands" and "Bollinger bands" alike.
_CATALOGUE = {
    name: kind
    for kind, definition in REGISTRY.items()
    for name in (kind, definition.title.lower(), definition.title.lower().removesuffix("s"))
}


def _catalogue_kind(item: str) -> str | None:
    """The catalogue's kind when ``item`` ("indicator NAME") names an indicator we have."""
    words = item.lower().split()
    if len(words) < 2 or words[0] != "indicator":
        return None
    return _CATALOGUE.get(" ".join(words[1:]))


def _check(answer: Answer, text: str, language: Language) -> list[str]:
    """Problems of a well-formed answer, judged against the text."""
    if isinstance(answer, SpecAnswer):
        return grounding_problems(answer.spec, text)
    if isinstance(answer, ClarifyAnswer):
        return _language_problems("questions", answer.questions, language)
    problems = []
    for index, item in enumerate(answer.unsupported):
        kind = _catalogue_kind(item)
        if kind is not None:
            problems.append(
                f"unsupported[{index}]: {kind} is in the indicator catalogue; use it, or "
                "name what is really unsupported"
            )
    if answer.reason:
        problems.extend(
            item.replace("[0]", "", 1)
            for item in _language_problems("reason", (answer.reason,), language)
        )
    return problems


def _message(answer: Answer, language: Language) -> str:
    words = _MESSAGES[language]
    if isinstance(answer, SpecAnswer):
        return words["spec"]
    if isinstance(answer, ClarifyAnswer):
        return "\n".join([words["clarify"], *(f"- {question}" for question in answer.questions)])
    joiner = ", " if language == "en" else "、"
    verb = "is" if len(answer.unsupported) == 1 else "are"
    header = words["refuse"].format(items=joiner.join(answer.unsupported), verb=verb)
    return f"{header}\n{answer.reason}" if answer.reason else header


@dataclass
class _Run:
    """The state of one translation, for its result or its error."""

    attempts: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str = ""
    transient: list[str] = field(default_factory=list)
    last_raw: str | None = None
    problems: list[str] = field(default_factory=list)
    # The last answer was a well-formed spec that the text does not bear out (grounding.py).
    ungrounded: bool = False
    secrets: list[str] = field(default_factory=list, repr=False)  # never in a repr or a log

    def error(self, message: str, problems: list[str]) -> TranslationError:
        return TranslationError(
            message,
            attempts=self.attempts,
            last_raw_output=self.last_raw,
            usage=self.usage,
            problems=problems,
            transient_errors=tuple(self.transient),
        )


def _retry_after_s(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _ask(
    llm: BaseChatModel,
    messages: list[BaseMessage],
    run: _Run,
    *,
    max_retries: int,
    backoff_s: float,
    max_backoff_s: float,
    sleep: Callable[[float], None],
) -> AIMessage:
    """One answer from the model, retrying transient failures with exponential backoff."""
    for retry in range(max_retries + 1):
        try:
            return llm.invoke(messages)
        except Exception as error:
            for cause in causes(error):
                if isinstance(cause, ModelRequestsForbiddenError):
                    raise cause from None
            description = describe_model_error(error, run.secrets)
            if not is_transient(error):
                raise run.error(
                    f"the model call failed (attempt {run.attempts}): {description}",
                    [f"model: {description}"],
                ) from error
            run.transient.append(f"attempt {run.attempts}: {description}")
            if retry == max_retries:
                raise run.error(
                    f"the model failed {max_retries + 1} times in a row (attempt "
                    f"{run.attempts}), giving up; last: {description}",
                    [f"model: {item}" for item in run.transient],
                ) from error
            delay_s = min(backoff_s * 2**retry, max_backoff_s)
            hinted = _retry_after_s(error)
            if hinted is not None and hinted <= max_backoff_s:
                delay_s = max(delay_s, hinted)
            sleep(delay_s)
    raise AssertionError("unreachable")  # pragma: no cover


def _reply_usage(reply: AIMessage) -> TokenUsage:
    usage = reply.usage_metadata
    if not usage:
        return TokenUsage()
    return TokenUsage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))


def _model_name(llm: BaseChatModel, reply: AIMessage | None = None) -> str:
    if reply is not None:
        metadata = reply.response_metadata
        name = metadata.get("model_name") or metadata.get("model")
        if name:
            return str(name)
    for attribute in ("model_name", "model"):
        value = getattr(llm, attribute, None)
        if isinstance(value, str) and value:
            return value
    script = getattr(llm, "script", None)
    return str(getattr(script, "model", None) or type(llm).__name__)


def translate(
    text: str,
    llm: BaseChatModel,
    *,
    max_attempts: int = 3,
    max_retries: int = 4,
    backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    prompts: Prompts | None = None,
) -> Translation:
    """Translate a strategy text with ``llm`` into a spec, clarifying questions, or a refusal.

    ``max_attempts`` answers at most (the first, then ask-again rounds); ``max_retries`` retries of
    a call that timed out, was rate limited or met a server error, waiting ``backoff_s``, then
    twice as long each time (at most ``max_backoff_s``) with ``sleep``.
    """
    started = time.perf_counter()
    problems = []
    if not isinstance(text, str) or not text.strip():
        problems.append("text: empty; describe a strategy")
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(f"text: {len(text)} characters; at most {MAX_TEXT_CHARS}")
    if max_attempts < 1:
        problems.append(f"max_attempts: {max_attempts}; at least 1")
    if max_retries < 0:
        problems.append(f"max_retries: {max_retries}; at least 0")
    if problems:
        raise InvalidInputError(problems, what="translation request")
    text = text.strip()
    language = detect_language(text)
    prompts = prompts or load_prompts()
    messages: list[BaseMessage] = [SystemMessage(prompts.system), HumanMessage(prompts.user(text))]
    run = _Run(model=_model_name(llm), secrets=known_secrets(llm))
    while run.attempts < max_attempts:
        run.attempts += 1
        reply = _ask(
            llm,
            messages,
            run,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            sleep=sleep,
        )
        run.usage += _reply_usage(reply)
        run.model = _model_name(llm, reply)
        raw = str(reply.text)
        run.ungrounded = False
        try:
            answer = parse_answer(raw)
            answer_problems = _check(answer, text, language)
            run.ungrounded = isinstance(answer, SpecAnswer) and bool(answer_problems)
        except AnswerError as error:
            answer_problems = error.problems
        except (RecursionError, ValueError, OverflowError) as error:
            # What parse_answer does not catch must still go back to the model, not end the run.
            answer_problems = [
                f"answer: cannot be read ({type(error).__name__}); reply with one plain JSON object"
            ]
        if not answer_problems:
            return _translation(text, answer, language, run, prompts, started)
        # Kept for the error and shown to the trader: without any secret a server echoed into it.
        run.last_raw, run.problems = redact(raw, run.secrets), answer_problems
        messages += [AIMessage(raw), HumanMessage(prompts.repair(answer_problems))]
    listed = "; ".join(run.problems[:5]) + (
        f" (and {len(run.problems) - 5} more)" if len(run.problems) > 5 else ""
    )
    if run.ungrounded:
        raise run.error(
            f"refused: after {run.attempts} attempt(s) the model's spec still does not match the "
            f"text (each line: the field, what the answer says, what the text says): {listed}",
            run.problems,
        )
    raise run.error(
        f"no valid answer after {run.attempts} attempt(s); last problems: {listed}", run.problems
    )


def _translation(
    text: str, answer: Answer, language: Language, run: _Run, prompts: Prompts, started: float
) -> Translation:
    spec = answer.spec if isinstance(answer, SpecAnswer) else None
    clarify = answer if isinstance(answer, ClarifyAnswer) else None
    refuse = answer if isinstance(answer, RefuseAnswer) else None
    outcome: Outcome = "spec" if spec else ("clarify" if clarify else "refuse")
    return Translation(
        text=text,
        outcome=outcome,
        spec=spec,
        questions=clarify.questions if clarify else (),
        missing=clarify.missing if clarify else (),
        unsupported=refuse.unsupported if refuse else (),
        message=_message(answer, language),
        language=language,
        defaults_filled=tuple(
            f"{path} = {_shown(value)}" for path, value in (defaults_filled(spec) if spec else [])
        ),
        explanation=explain(spec, language) if spec else None,
        attempts=run.attempts,
        usage=run.usage,
        latency_s=time.perf_counter() - started,
        model=run.model,
        prompt_version=prompts.version,
        prompt_hash=prompts.hash,
        transient_errors=tuple(run.transient),
    )


def translation_to_dict(translation: Translation) -> dict[str, Any]:
    """The translation as JSON-ready data; the spec in canonical form, with its hash."""
    spec = translation.spec
    return {
        "outcome": translation.outcome,
        "text": translation.text,
        "language": translation.language,
        "message": translation.message,
        "spec": json.loads(canonical_json(spec)) if spec else None,
        "spec_hash": spec_hash(spec) if spec else None,
        "questions": list(translation.questions),
        "missing": list(translation.missing),
        "unsupported": list(translation.unsupported),
        "defaults_filled": list(translation.defaults_filled),
        "explanation": translation.explanation,
        "attempts": translation.attempts,
        "usage": {
            "input_tokens": translation.usage.input_tokens,
            "output_tokens": translation.usage.output_tokens,
            "total_tokens": translation.usage.total_tokens,
        },
        "latency_s": round(translation.latency_s, 6),
        "model": translation.model,
        "prompt_version": translation.prompt_version,
        "prompt_hash": translation.prompt_hash,
        "transient_errors": list(translation.transient_errors),
    }
