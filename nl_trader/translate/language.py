"""Which language a strategy text is written in: English, Traditional or Simplified Chinese.

A small, honest heuristic over characters. A text is Chinese when it holds at least as many CJK
characters as Latin words (a Chinese text quotes "EURUSD" and "EMA(20)", an English one rarely
quotes a Chinese word). Traditional and Simplified are told apart by characters that exist in one
script only (買/买, 點/点, 損/损, ...); common characters written alike in both say nothing. A
Chinese text without any telling character is read as Traditional (it is valid Traditional text).
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "zh-Hant", "zh-Hans"]
LANGUAGES: tuple[Language, ...] = ("en", "zh-Hant", "zh-Hans")

# Characters of trading texts that only one script uses. Pairs like 周/週, 准/準, 注/註 or 里/裡 are
# left out: the Simplified form is also an ordinary Traditional character.
_TRADITIONAL_ONLY = frozenset(
    "買賣單損點時線價開關標進場當於倉設為個與過會這們來對說獲離壓區幣歐鎊圓見現動號週勢據漲額錢"
    "帳戶貨長張內後條筆網紐兌圖計隨機權數強軌帶變間從讓將應盤檔續連結減較邊頭觸達確認還沒無剛嗎"
    "麼義轉經濟聞選擇黃銀趨億萬總風險淨參預術碼穩虧賺掛銷雙訊"
)
_SIMPLIFIED_ONLY = frozenset(
    "买卖单损点时线价开关标进场当仓设为个与过会这们来对说获离压区币欧镑圆见现动号势据涨额钱"
    "账户货长张内条笔网纽兑图计随机权数强轨带变间从让将应盘档续连结减较边头触达确认还没无刚吗"
    "么义转经济闻选择黄银趋亿万总风险净参预术码稳亏赚挂销双讯"
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def is_chinese(text: str) -> bool:
    """Whether ``text`` is written in Chinese (either script)."""
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= len(_LATIN_WORD.findall(text))


def detect_language(text: str) -> Language:
    """ "en", "zh-Hant" or "zh-Hans" for a strategy text."""
    if not is_chinese(text):
        return "en"
    return "zh-Hans" if chinese_script(text) == "zh-Hans" else "zh-Hant"


def chinese_script(text: str) -> Language | None:
    """ "zh-Hant" or "zh-Hans" when characters of one script only outnumber the other's; None when
    nothing tells them apart."""
    traditional = sum(char in _TRADITIONAL_ONLY for char in text)
    simplified = sum(char in _SIMPLIFIED_ONLY for char in text)
    if traditional == simplified:
        return None
    return "zh-Hans" if simplified > traditional else "zh-Hant"


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds any Chinese character."""
    return _CJK.search(text) is not None
