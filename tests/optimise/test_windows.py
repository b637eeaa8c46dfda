"""Walk-forward windows: out-of-sample bars never reach the in-sample optimisation, by construction."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nl_trader.errors import InvalidInputError
from nl_trader.optimise.windows import Window, forward_split, walk_forward_windows


def test_rolling_windows_move_by_the_out_of_sample_length() -> None:
    windows = walk_forward_windows(1_000, in_sample_bars=400, out_of_sample_bars=200)
    assert [(w.in_start, w.in_end, w.out_start, w.out_end) for w in windows] == [
        (0, 400, 400, 600),
        (200, 600, 600, 800),
        (400, 800, 800, 1_000),
    ]


def test_anchored_windows_always_start_at_the_first_bar() -> None:
    windows = walk_forward_windows(
        1_000, in_sample_bars=400, out_of_sample_bars=240, kind="anchored"
    )
    assert [(w.in_start, w.in_end, w.out_end) for w in windows] == [
        (0, 400, 640),
        (0, 640, 880),
        (0, 880, 1_000),  # a last part of 120 bars: half the length, still tested
    ]
    shorter = walk_forward_windows(1_000, in_sample_bars=400, out_of_sample_bars=250)
    assert shorter[-1].out_end == 900  # 100 bars left, under half of 250: not tested


@given(
    bars=st.integers(10, 5_000),
    in_sample=st.integers(1, 2_000),
    out_sample=st.integers(1, 2_000),
    anchored=st.booleans(),
)
def test_no_window_ever_optimises_on_a_bar_it_then_tests_on(
    bars: int, in_sample: int, out_sample: int, anchored: bool
) -> None:
    if in_sample + out_sample > bars:
        return
    windows = walk_forward_windows(
        bars,
        in_sample_bars=in_sample,
        out_of_sample_bars=out_sample,
        kind="anchored" if anchored else "rolling",
    )
    assert windows
    for window in windows:
        assert window.in_end <= window.out_start  # nothing tested was seen
        assert window.in_end - window.in_start == (window.in_end if anchored else in_sample)
    for before, after in itertools.pairwise(windows):
        assert before.out_end == after.out_start  # stitched: no gap, no overlap
    assert windows[0].out_start == in_sample
    assert bars - windows[-1].out_end < max(1, out_sample // 2)


def test_windows_that_do_not_fit_or_make_no_sense_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError, match="do not fit in 500 bars"):
        walk_forward_windows(500, in_sample_bars=400, out_of_sample_bars=200)
    with pytest.raises(InvalidInputError, match="out_of_sample_bars: 0 must be"):
        walk_forward_windows(500, in_sample_bars=400, out_of_sample_bars=0)
    with pytest.raises(InvalidInputError, match="out-of-sample bars must follow"):
        Window(1, 0, 300, 200, 400)


def test_mt5s_forward_split_holds_out_the_last_third_or_the_bars_from_a_day() -> None:
    index = pd.date_range("2024-01-01", periods=900, freq="h", tz="UTC")
    third = forward_split(index, "1/3")
    assert (third.in_end, third.out_start, third.out_end) == (600, 600, 900)
    dated = forward_split(index, "2024-01-20")
    assert index[dated.out_start] == pd.Timestamp("2024-01-20", tz="UTC")
    with pytest.raises(InvalidInputError, match="not 1/2, 1/3, 1/4 or a day"):
        forward_split(index, "a third")
    with pytest.raises(InvalidInputError, match="leaves no bars on one side"):
        forward_split(index, "2030-01-01")
