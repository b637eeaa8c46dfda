"""Walk-forward windows: where each optimisation may look, and where its choice is then tested.

Bars are addressed by position (0 .. n-1). A ``Window`` has an in-sample part, where the
parameters are optimised, and the out-of-sample part right after it, where the chosen set is
tested on bars the optimisation never saw. By construction the out-of-sample part starts after the
in-sample part ends, and the out-of-sample parts of successive windows follow each other without
overlap, so stitched together they are one out-of-sample run.

* ``rolling``: the in-sample part has a fixed length and moves forward by the out-of-sample length;
* ``anchored``: the in-sample part always starts at bar 0 and grows;
* ``forward_split``: MT5's forward period, one window: the last 1/2, 1/3 or 1/4 of the bars (or
  the bars from a date on) out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import pandas as pd

from nl_trader.errors import InvalidInputError

Kind = Literal["rolling", "anchored"]
FORWARD_FRACTIONS = {"1/2": Fraction(1, 2), "1/3": Fraction(1, 3), "1/4": Fraction(1, 4)}


@dataclass(frozen=True)
class Window:
    """Bars ``[in_start, in_end)`` optimised on, then ``[out_start, out_end)`` tested on."""

    number: int
    in_start: int
    in_end: int
    out_start: int
    out_end: int

    def __post_init__(self) -> None:
        if not 0 <= self.in_start < self.in_end <= self.out_start < self.out_end:
            raise InvalidInputError(
                [f"window {self.number}: out-of-sample bars must follow in-sample bars"],
                what="walk-forward",
            )

    @property
    def in_sample(self) -> slice:
        return slice(self.in_start, self.in_end)

    @property
    def out_of_sample(self) -> slice:
        return slice(self.out_start, self.out_end)


def walk_forward_windows(
    bars: int,
    *,
    in_sample_bars: int,
    out_of_sample_bars: int,
    kind: Kind = "rolling",
) -> list[Window]:
    """The windows over ``bars`` bars (module docstring). The last window's out-of-sample part
    may be shorter, down to half its length; a shorter remainder is left untested."""
    problems = []
    for name, value in (
        ("bars", bars),
        ("in_sample_bars", in_sample_bars),
        ("out_of_sample_bars", out_of_sample_bars),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name}: {value!r} must be a whole number of bars, at least 1")
    if kind not in ("rolling", "anchored"):
        problems.append(f"kind: {kind!r} is not 'rolling' or 'anchored'")
    if problems:
        raise InvalidInputError(problems, what="walk-forward")
    if in_sample_bars + out_of_sample_bars > bars:
        raise InvalidInputError(
            [
                f"in_sample_bars + out_of_sample_bars: {in_sample_bars} + {out_of_sample_bars} "
                f"bars do not fit in {bars} bars"
            ],
            what="walk-forward",
        )
    windows: list[Window] = []
    out_start = in_sample_bars
    while bars - out_start >= max(1, out_of_sample_bars // 2):
        out_end = min(out_start + out_of_sample_bars, bars)
        in_start = 0 if kind == "anchored" else out_start - in_sample_bars
        windows.append(Window(len(windows) + 1, in_start, out_start, out_start, out_end))
        out_start = out_end
    return windows


def forward_split(index: pd.DatetimeIndex, forward: str) -> Window:
    """MT5's forward period: ``1/2``, ``1/3``, ``1/4`` of the bars at the end, or the bars from a
    day (``YYYY-MM-DD``, UTC) on, out of sample."""
    bars = len(index)
    if forward in FORWARD_FRACTIONS:
        out_start = bars - int(bars * FORWARD_FRACTIONS[forward])
    else:
        try:
            day = pd.Timestamp(forward, tz="UTC")
        except ValueError:
            raise InvalidInputError(
                [f"forward: {forward!r} is not 1/2, 1/3, 1/4 or a day (YYYY-MM-DD)"],
                what="walk-forward",
            ) from None
        out_start = int(index.searchsorted(day))
    if not 0 < out_start < bars:
        raise InvalidInputError(
            [f"forward: {forward!r} leaves no bars on one side of the split ({bars} bars)"],
            what="walk-forward",
        )
    return Window(1, 0, out_start, out_start, bars)
