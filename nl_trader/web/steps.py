"""The use cases the web app runs that have no single library function yet.

``new_strategy`` is the path of ``nl-trader new`` (``translate``, then
``lifecycle.register_translation``), with the trader's answers to clarifying questions added to
the text first. It belongs beside ``register_translation`` in the lifecycle's steps, and
``with_answers`` beside ``translate``, once those modules are reorganised; the web app calls them
from here until then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import register_translation
from nl_trader.store import Store, Version

if TYPE_CHECKING:  # translating loads langchain: imported when a strategy is translated
    from langchain_core.language_models import BaseChatModel

    from nl_trader.translate.translate import Translation

LLMFactory = Callable[[], "BaseChatModel"]
MAX_ANSWER_CHARS = 1_000


def with_answers(text: str, questions: Sequence[str], answers: Sequence[str]) -> str:
    """The strategy text followed by each clarifying question and the trader's answer to it, so
    the next translation reads the answers as part of the trader's words."""
    if len(questions) != len(answers):
        raise InvalidInputError(
            [f"answers: {len(answers)} given for {len(questions)} question(s)"], what="answers"
        )
    problems = [
        f"answers.{index}: {len(answer)} characters; at most {MAX_ANSWER_CHARS}"
        for index, answer in enumerate(answers)
        if len(answer) > MAX_ANSWER_CHARS
    ]
    if problems:
        raise InvalidInputError(problems, what="answers")
    pairs = [(q.strip(), a.strip()) for q, a in zip(questions, answers, strict=True)]
    answered = [f"{q}\n{a}" for q, a in pairs if a]
    if not answered:
        return text.strip()
    return text.strip() + "\n\n" + "\n\n".join(answered)


@dataclass(frozen=True)
class NewStrategy:
    """A translation's outcome as stored: the strategy's version 1 when it gave a spec."""

    translation: Translation
    translation_id: int
    version: Version | None


def new_strategy(
    store: Store,
    text: str,
    *,
    llm: LLMFactory,
    by: str,
    questions: Sequence[str] = (),
    answers: Sequence[str] = (),
    max_attempts: int = 3,
) -> NewStrategy:
    """Translate a strategy text (with any answers to the model's questions) and store it: a
    spec becomes a new strategy in draft; a question or a refusal is stored as the attempt only."""
    from nl_trader.translate.translate import translate

    full_text = with_answers(text, questions, answers)
    result = translate(full_text, llm(), max_attempts=max_attempts)
    translation_id, version = register_translation(store, result, by=by)
    return NewStrategy(result, translation_id, version)
