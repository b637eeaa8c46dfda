"""Prompt templates are data with a version and a hash; the system prompt carries the schema, the
whole indicator catalogue and few-shot examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from nl_trader.spec import MAX_LOTS
from nl_trader.strategy.indicators import REGISTRY
from nl_trader.translate.prompts import PROMPTS_DIR, load_prompts
from nl_trader.translate.scripted import ScriptedChatModel
from nl_trader.translate.translate import translate


def test_the_system_prompt_carries_schema_catalogue_limits_and_examples() -> None:
    prompts = load_prompts()
    assert '"title":"StrategySpec"' in prompts.system
    for kind in REGISTRY:
        assert f"- `{kind}`:" in prompts.system
    assert f"more than {MAX_LOTS:g} lots per trade" in prompts.system
    assert "Text: Buy EURUSD on the 1-hour chart" in prompts.system
    assert '"outcome":"refuse","unsupported":["indicator ichimoku"]' in prompts.system
    assert "{{" not in prompts.system


def test_versions_come_from_the_manifest() -> None:
    manifest = json.loads((PROMPTS_DIR / "manifest.json").read_text(encoding="utf-8"))
    prompts = load_prompts()
    assert prompts.version == manifest["version"]
    assert set(prompts.template_versions) == {"system", "user", "repair", "few_shot"}


def test_the_hash_changes_when_a_template_changes_and_only_then(tmp_path: Path) -> None:
    copy = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, copy)
    same = load_prompts(copy)
    assert same.hash == load_prompts().hash
    repair = copy / "repair.md"
    repair.write_text(repair.read_text(encoding="utf-8") + "Be brief.\n", encoding="utf-8")
    load_prompts.cache_clear()
    assert load_prompts(copy).hash != same.hash


def test_every_hand_written_example_answer_is_one_translate_accepts_for_its_text() -> None:
    # An example the ask-again loop would send back teaches the model an answer that fails.
    examples = json.loads((PROMPTS_DIR / "few_shot.json").read_text(encoding="utf-8"))
    for example in examples:
        answer = json.dumps(example["answer"], ensure_ascii=False)
        result = translate(example["text"], ScriptedChatModel.from_replies([{"content": answer}]))
        assert (result.outcome, result.attempts) == (example["answer"]["outcome"], 1)
