"""The model's answer: one JSON object with an ``outcome`` and what that outcome carries.

    {"outcome": "spec", "spec": {...StrategySpec...}}
    {"outcome": "clarify", "questions": ["..."], "missing": ["symbols", ...]}
    {"outcome": "refuse", "unsupported": ["indicator ichimoku"], "reason": "..."}

The raw text is parsed here, in one place, so that every problem (broken JSON, an unknown field, a
spec that does not validate) comes back as ``path: problem`` lines the ask-again loop can send to
the model. The envelope has no field for going live, approving, or choosing an account: a model
that writes one has written an unknown field, which is a problem, not an instruction.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from nl_trader.spec import SpecError, StrategySpec, json_schema, parse_spec

ENVELOPE_FIELDS = ("outcome", "spec", "questions", "missing", "unsupported", "reason")
# What a clarification may say is missing: a spec field, or a path into one ("exits.stop_loss").
SPEC_FIELDS = tuple(StrategySpec.model_fields)
_MAX_ITEMS = 20
_MAX_TEXT = 1000
# A spec nests a few levels deep (the examples: 5); a deeper answer is refused before it is read,
# so neither json nor pydantic nor the checks after them recurse past Python's limit.
MAX_DEPTH = 32
# No number in a spec needs more digits (magic, the longest, has 19); Python refuses to read an
# integer of more than 4,300 digits with a ValueError, and a float of 400 digits is infinite.
MAX_NUMBER_CHARS = 40
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class SpecAnswer:
    spec: StrategySpec


@dataclass(frozen=True)
class ClarifyAnswer:
    questions: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class RefuseAnswer:
    unsupported: tuple[str, ...]
    reason: str


Answer = SpecAnswer | ClarifyAnswer | RefuseAnswer


class AnswerError(Exception):
    """An answer that cannot be used; ``problems`` are ``path: problem`` lines for the model."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_answer(raw: str) -> Answer:
    """Read the model's raw text as an envelope, or raise ``AnswerError`` naming every problem."""
    data = _load_json(raw)
    unknown = [key for key in data if key not in ENVELOPE_FIELDS]
    problems = [
        f"{key}: unknown field (an answer has only {', '.join(ENVELOPE_FIELDS)})" for key in unknown
    ]
    outcome = data.get("outcome")
    if outcome not in ("spec", "clarify", "refuse"):
        problems.append(f"outcome: {outcome!r} is not one of spec, clarify, refuse")
        raise AnswerError(problems)
    used = {
        "spec": ("spec",),
        "clarify": ("questions", "missing"),
        "refuse": ("unsupported", "reason"),
    }
    for key in ENVELOPE_FIELDS[1:]:
        if key not in used[outcome] and key in data and data[key] not in (None, [], "", {}):
            problems.append(f"{key}: a {outcome} answer carries no {key}")
    if outcome == "spec":
        answer: Answer | None = _spec_answer(data, problems)
    elif outcome == "clarify":
        answer = _clarify_answer(data, problems)
    else:
        answer = _refuse_answer(data, problems)
    if problems or answer is None:
        raise AnswerError(problems)
    return answer


def _load_json(raw: str) -> dict[str, Any]:
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:
        # Some servers in JSON mode still wrap the object in a Markdown fence; the object is intact.
        text = fenced.group(1)
    if not text:
        raise AnswerError(["answer: empty; reply with one JSON object"])
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise AnswerError(
            [
                f"answer: nested more than {MAX_DEPTH} levels deep; a spec needs a few levels: "
                "write the conditions flat (all / any of plain comparisons)"
            ]
        )
    try:
        data = json.loads(
            text, parse_constant=_no_constant, parse_int=_integer, parse_float=_finite_float
        )
    except json.JSONDecodeError as error:
        raise AnswerError(
            [
                f"answer: not valid JSON ({error.msg} at line {error.lineno}, column "
                f"{error.colno}); reply with one JSON object and nothing else"
            ]
        ) from None
    except (RecursionError, ValueError, OverflowError) as error:
        # Past the checks above these should not happen; if they do, the model hears of it.
        raise AnswerError(
            [f"answer: cannot be read ({type(error).__name__}); reply with one plain JSON object"]
        ) from None
    if not isinstance(data, dict):
        raise AnswerError([f"answer: expected a JSON object, got {type(data).__name__}"])
    return data


def _depth(text: str) -> int:
    """How deep brackets nest in ``text``, strings aside (not checking that they pair up)."""
    deepest = level = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        level += 1 if bracket.group() in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _too_long(number: str) -> AnswerError:
    return AnswerError(
        [
            f"answer: a number {len(number)} characters long ({number[:12]}...); numbers in a "
            f"spec are short (at most {MAX_NUMBER_CHARS} characters)"
        ]
    )


def _integer(number: str) -> int:
    if len(number) > MAX_NUMBER_CHARS:
        raise _too_long(number)
    return int(number)


def _finite_float(number: str) -> float:
    if len(number) > MAX_NUMBER_CHARS:
        raise _too_long(number)
    value = float(number)
    if not math.isfinite(value):
        raise AnswerError(
            [f"answer: {number} is not a finite number; write a finite number or leave it out"]
        )
    return value


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON has not: a stop "NaN pips" away, or a
    # level of Infinity, would pass range checks that compare with it.
    raise AnswerError(
        [f"answer: {name} is not a JSON number; write a finite number or leave the field out"]
    )


def _spec_answer(data: dict[str, Any], problems: list[str]) -> SpecAnswer | None:
    if "spec" not in data or data["spec"] is None:
        problems.append("spec: required for outcome spec")
        return None
    if not isinstance(data["spec"], dict):
        # parse_spec would say "spec: ...", which reads as spec.spec once placed in the answer.
        kind = type(data["spec"]).__name__
        problems.append(f"spec: expected a JSON object (the StrategySpec itself), got {kind}")
        return None
    try:
        spec = parse_spec(data["spec"])
    except SpecError as error:
        problems.extend(f"spec.{problem}" for problem in error.problems)
        return None
    except (RecursionError, ValueError, OverflowError) as error:
        problems.append(
            f"spec: cannot be read ({type(error).__name__}); write a plain StrategySpec"
        )
        return None
    return SpecAnswer(spec)


def _texts(
    data: dict[str, Any], key: str, problems: list[str], *, required: bool
) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        value = []
    if not isinstance(value, list):
        problems.append(f"{key}: expected a list of strings, got {type(value).__name__}")
        return ()
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.append(f"{key}[{index}]: expected a non-empty string, got {item!r}")
        elif len(item) > _MAX_TEXT:
            problems.append(f"{key}[{index}]: longer than {_MAX_TEXT} characters")
        else:
            items.append(item.strip())
    if required and not value:
        problems.append(f"{key}: give at least one")
    if len(value) > _MAX_ITEMS:
        problems.append(f"{key}: at most {_MAX_ITEMS} items")
    return tuple(items)


def _clarify_answer(data: dict[str, Any], problems: list[str]) -> ClarifyAnswer:
    questions = _texts(data, "questions", problems, required=True)
    missing = _texts(data, "missing", problems, required=True)
    for index, path in enumerate(missing):
        if path.split(".")[0].split("[")[0] not in SPEC_FIELDS:
            problems.append(
                f"missing[{index}]: {path!r} is not a spec field (use one of "
                f"{', '.join(SPEC_FIELDS)}, or a path into one such as exits.stop_loss)"
            )
    return ClarifyAnswer(questions, missing)


def _refuse_answer(data: dict[str, Any], problems: list[str]) -> RefuseAnswer:
    unsupported = _texts(data, "unsupported", problems, required=True)
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        problems.append(f"reason: expected a string, got {type(reason).__name__}")
        reason = ""
    return RefuseAnswer(unsupported, reason.strip())


def envelope_json_schema() -> dict[str, Any]:
    """The answer's JSON Schema, for servers that constrain output to one (``response_format``).

    One flat object rather than a union at the root, which most OpenAI-compatible servers accept;
    the rules that tie fields to the outcome are checked by ``parse_answer``.
    """
    spec_schema = copy.deepcopy(json_schema())
    definitions = spec_schema.pop("$defs", {})
    for key in [key for key in spec_schema if key.startswith("x-")]:
        del spec_schema[key]
    definitions["StrategySpec"] = spec_schema
    texts = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "outcome": {"type": "string", "enum": ["spec", "clarify", "refuse"]},
            "spec": {"$ref": "#/$defs/StrategySpec"},
            "questions": texts,
            "missing": texts,
            "unsupported": texts,
            "reason": {"type": "string"},
        },
        "required": ["outcome"],
        "additionalProperties": False,
        "$defs": definitions,
    }
