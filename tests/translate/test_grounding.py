"""No silent guesses: a spec's symbol, timeframe and stop must have ground in the trader's text,
and ordinary words ("try", "signal", "trading hours", "Relative Strength Index") are not that
ground."""

from __future__ import annotations

from typing import Any

import pytest

from nl_trader.spec import parse_spec
from nl_trader.translate.evaluate import load_cases
from nl_trader.translate.grounding import grounding_problems

from .conftest import MA_SPEC

EURUSD_H1 = parse_spec(MA_SPEC)  # EURUSD, H1, a 30-pip stop


def fields_at_stake(text: str, spec: Any = EURUSD_H1) -> list[str]:
    """The paths of the problems about what is traded, on which bars, and whether with a stop
    (the values the text gives are checked in test_steering.py)."""
    paths = [problem.split(":", 1)[0] for problem in grounding_problems(spec, text)]
    return [
        path
        for path in paths
        if path.startswith("spec.symbols") or path in ("spec.timeframe", "spec.exits.stop_loss")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Try to buy when RSI(14) is under 30 on the 1-hour chart, stop 20 pips.",
        "Buy when the signal line crosses above the MACD on H1, stop loss 20 pips.",
        "Buy when price breaks the recent high on H1, 20 pip stop.",
        "Buy when the Relative Strength Index drops under 30 on H1, stop 20 pips.",
        "相對強弱指數低於 30 時買入，1 小時圖，止損 20 點。",
    ],
)
def test_ordinary_words_name_no_symbol_so_a_guessed_one_goes_back(text: str) -> None:
    assert fields_at_stake(text) == ["spec.symbols"]


@pytest.mark.parametrize(
    "text",
    [
        "Buy EURUSD when RSI(14) is under 30 during London trading hours, stop 20 pips.",
        "Buy EURUSD when RSI(14) is under 30, close at the end of the day, stop 20 pips.",
    ],
)
def test_hours_and_days_that_are_not_a_bar_size_name_no_timeframe(text: str) -> None:
    assert fields_at_stake(text) == ["spec.timeframe"]


@pytest.mark.parametrize(
    "text",
    [
        "buy eurusd on the four-hour chart when the 20 SMA crosses the 50 SMA, stop 30 pips",
        "Fiber on the hour chart: SMA 20/50 cross, 30 pip stop.",
        "EUR/USD hourly, SMA 20/50 cross, stop 30 pips.",
        "歐元兌美元 1 小時圖，20 期 SMA 上穿 50 期 SMA 買入，止損 30 點。",
    ],
)
def test_pairs_in_any_case_slang_and_spelled_out_timeframes_are_ground(text: str) -> None:
    assert fields_at_stake(text) == []


def test_a_nickname_is_ground_for_its_pair() -> None:
    guppy = parse_spec({**MA_SPEC, "symbols": ["GBPJPY"], "timeframe": "H4"})
    assert fields_at_stake("Guppy on the 4H: SMA 20/50 cross, stop 80 pips.", guppy) == []


def test_every_expected_spec_of_the_evals_has_ground_in_its_text() -> None:
    # The checks send an answer back: one that rejected a right answer would make the model fail.
    ungrounded = {
        case.id: grounding_problems(case.expect.spec, case.text)
        for case in load_cases()
        if case.expect.spec is not None
    }
    assert {case: problems for case, problems in ungrounded.items() if problems} == {}
