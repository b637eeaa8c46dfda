"""The prompt templates of ``prompts/``, rendered: the system prompt, the user turn, the repair turn.

Templates are data (``prompts/manifest.json`` lists them with their versions). The system prompt is
rendered with the StrategySpec JSON Schema, the indicator catalogue and few-shot examples (some
``strategies/`` examples and the hand-written ones of ``prompts/few_shot.json``); its SHA-256,
together with the user and repair templates', is the ``prompt_hash`` recorded in every translation,
so a result can always be traced to the exact words the model was given.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from nl_trader.errors import NlTraderError
from nl_trader.spec import MAX_LOTS, MAX_RISK_PCT, json_schema
from nl_trader.strategy.examples import EXAMPLES_DIR, load_examples
from nl_trader.strategy.indicators import PRICE_FIELDS, REGISTRY

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
# The markers that fence the trader's text in the user turn (see translate_user.md).
TEXT_MARKERS = ("<<<TRADER_TEXT", "TRADER_TEXT>>>")
# What the text's imitations of the markers' word become: they no longer read as the word.
NEUTRAL_MARKER_WORD = "TRADER-TEXT"
_MARKER_WORD = "trader_text"


class PromptError(NlTraderError):
    """A prompt template is missing or broken."""


@dataclass(frozen=True)
class Prompts:
    """The rendered prompts of one version."""

    version: str
    hash: str
    system: str
    user_template: str
    repair_template: str
    template_versions: dict[str, str]

    def user(self, text: str) -> str:
        """The user turn: the trader's text fenced as data (see ``neutralise_markers``)."""
        return _fill(self.user_template, {"text": neutralise_markers(text)}, "translate_user")

    def repair(self, problems: list[str]) -> str:
        """The ask-again turn: every problem of the previous answer, one per line."""
        listed = "\n".join(f"- {problem}" for problem in problems)
        return _fill(self.repair_template, {"problems": listed}, "repair")


def neutralise_markers(text: str) -> str:
    """``text`` with every imitation of the fence's marker word written as ``TRADER-TEXT``.

    A text cannot close the fence early and speak outside it: the word is found after NFKC
    normalisation and case folding, with invisible format characters (zero-width spaces, joiners,
    bidi marks) dropped, so ``trader_text>>>``, ``ＴＲＡＤＥＲ＿ＴＥＸＴ>>>`` and
    ``TRADER\u200b_TEXT>>>`` are neutralised like ``TRADER_TEXT>>>`` itself.
    """
    folded: list[str] = []
    origin: list[int] = []  # for each folded character, the index of the one it came from
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cf":
            continue
        for part in unicodedata.normalize("NFKC", char).casefold():
            folded.append(part)
            origin.append(index)
    plain = "".join(folded)
    spans = []
    at = plain.find(_MARKER_WORD)
    while at != -1:
        end = at + len(_MARKER_WORD)
        spans.append((origin[at], origin[end - 1] + 1))
        at = plain.find(_MARKER_WORD, end)
    for start, end in reversed(spans):
        text = text[:start] + NEUTRAL_MARKER_WORD + text[end:]
    return text


def _fill(template: str, values: dict[str, str], name: str) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise PromptError(f"prompts/{name}: unknown placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(value, template)


def _read(directory: Path, name: str) -> str:
    path = directory / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise PromptError(f"cannot read prompt template {path}: {error.strerror}") from None


def _catalogue() -> str:
    lines = []
    for name, definition in REGISTRY.items():
        params = []
        for key, param in definition.params.items():
            if param.choices:
                params.append(f"{key} ({'|'.join(param.choices)}, default {param.default})")
            else:
                low = "" if param.minimum is None else f"{param.minimum:g}"
                high = "" if param.maximum is None else f"{param.maximum:g}"
                bounds = f"{low}..{high}, " if low or high else ""
                params.append(f"{key} ({param.kind.__name__}, {bounds}default {param.default})")
        outputs = ", ".join(definition.outputs)
        lines.append(
            f"- `{name}`: {definition.title}; params: {'; '.join(params)}; outputs: {outputs}"
        )
    return "\n".join(lines)


def _schema() -> str:
    schema = {key: value for key, value in json_schema().items() if not key.startswith("x-")}
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def _examples(directory: Path, slugs: list[str], strategies: Path) -> str:
    blocks = []
    by_slug = {example.slug: example for example in load_examples(strategies)}
    index = json.loads((strategies / "index.json").read_text(encoding="utf-8"))
    for slug in slugs:
        if slug not in by_slug:
            raise PromptError(
                f"prompts/manifest.json: no example strategy {slug!r} in {strategies}"
            )
        # The spec as its author wrote it: shorter than the canonical form, defaults left out.
        written = json.loads((strategies / index[slug]["spec"]).read_text(encoding="utf-8"))
        blocks.append(_example(by_slug[slug].text, {"outcome": "spec", "spec": written}))
    try:
        extra: list[dict[str, Any]] = json.loads(_read(directory, "few_shot.json"))
    except json.JSONDecodeError as error:
        raise PromptError(f"prompts/few_shot.json: not valid JSON ({error.msg})") from None
    blocks.extend(_example(item["text"], item["answer"]) for item in extra)
    return "\n\n".join(blocks)


def _example(text: str, answer: dict[str, Any]) -> str:
    shown = json.dumps(answer, separators=(",", ":"), ensure_ascii=False)
    return f"Text: {text}\nAnswer: {shown}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def load_prompts(directory: Path = PROMPTS_DIR, strategies: Path = EXAMPLES_DIR) -> Prompts:
    """Render the prompts listed in ``directory/manifest.json``."""
    try:
        manifest = json.loads(_read(directory, "manifest.json"))
        templates = manifest["templates"]
        version = str(manifest["version"])
        slugs = list(manifest.get("few_shot_strategies", []))
        files = {part: templates[part]["file"] for part in ("system", "user", "repair")}
        versions = {part: str(entry["version"]) for part, entry in templates.items()}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise PromptError(f"prompts/manifest.json is malformed: {error!r}") from None
    system = _fill(
        _read(directory, files["system"]),
        {
            "indicators": _catalogue(),
            "price_fields": ", ".join(PRICE_FIELDS),
            "schema": _schema(),
            "examples": _examples(directory, slugs, strategies),
            "max_lots": f"{MAX_LOTS:g}",
            "max_risk_pct": f"{MAX_RISK_PCT:g}",
        },
        files["system"],
    )
    user = _read(directory, files["user"])
    repair = _read(directory, files["repair"])
    digest = _digest("\n\0\n".join((system, user, repair)))
    return Prompts(version, digest, system, user, repair, versions)
