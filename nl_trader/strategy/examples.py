"""The example strategies of ``strategies/``: each a trader's text and its StrategySpec."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nl_trader.errors import NlTraderError
from nl_trader.spec import StrategySpec, parse_spec

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "strategies"


@dataclass(frozen=True)
class Example:
    slug: str
    language: str  # en, zh-Hant or zh-Hans
    text: str
    spec: StrategySpec


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """Every example listed in ``strategies/index.json``, validated."""
    index = directory / "index.json"
    if not index.is_file():
        raise NlTraderError(f"no example strategies at {directory} (index.json is missing)")
    examples = []
    for slug, entry in json.loads(index.read_text(encoding="utf-8")).items():
        text = (directory / entry["text"]).read_text(encoding="utf-8").strip()
        spec = parse_spec((directory / entry["spec"]).read_text(encoding="utf-8"))
        examples.append(Example(slug, entry["language"], text, spec))
    return examples
