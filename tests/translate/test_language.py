"""The language of a text decides the language of every answer to it."""

from __future__ import annotations

import pytest

from nl_trader.strategy.examples import load_examples
from nl_trader.translate.explain import explain
from nl_trader.translate.language import detect_language


@pytest.mark.parametrize("example", load_examples(), ids=lambda example: example.slug)
def test_each_example_is_read_in_the_language_it_was_written_in(example) -> None:
    assert detect_language(example.text) == example.language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Buy EURUSD when RSI(14) < 30", "en"),
        ("EURUSD H1 RSI 低於 30 買入，止損 20 點", "zh-Hant"),
        ("EURUSD H1 RSI 低于 30 买入，止损 20 点", "zh-Hans"),
        ("黃金", "zh-Hant"),
        ("黄金", "zh-Hans"),
        # No character tells the scripts apart: valid Traditional text, read as such.
        ("EMA 上穿", "zh-Hant"),
        # An English text quoting one Chinese word stays English.
        ("Buy gold (黃金) on the daily chart when the close is above the 50 EMA", "en"),
    ],
)
def test_scripts_are_told_apart_by_characters_only_one_of_them_uses(
    text: str, language: str
) -> None:
    assert detect_language(text) == language


def test_the_explain_back_speaks_simplified_chinese() -> None:
    example = next(e for e in load_examples() if e.slug == "usdjpy_ema_risk_percent")
    text = explain(example.spec, "zh-Hans")
    assert "仓位：每笔按止损距离承担净值的 1% 风险（介于 0.01 与 2 手之间）。" in text
    assert "指数移动平均线" in text
    assert "交易日：周一, 周二, 周三, 周四, 周五（交易服务器时间）。" in text
    assert "已填入的默认值（原文未提及）：" in text
    # Nothing Traditional-only slips into the Simplified text.
    assert detect_language(text) == "zh-Hans"
    assert not set(text) & set("損點倉擔與週設爲單時線價")
