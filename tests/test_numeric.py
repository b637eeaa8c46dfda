"""The compiled helpers: rounding exactly as Python's round (prices, money, volumes), bar times in
whole seconds, and a prefetch that changes no result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from nl_trader.numeric import prefetch, round_to
from nl_trader.timeframes import epoch_seconds


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (1.005, 2, 1.0),  # 1.005 is 1.00499999... in binary: Python rounds it down
        (1.015, 2, 1.01),
        (0.125, 2, 0.12),  # an exact tie goes to the even neighbour
        (0.375, 2, 0.38),
        (1.368165, 5, 1.36817),  # numba's own round gives 1.36816 here
        (-1.005, 2, -1.0),
        (2.5, 0, 2.0),
        (1e20, 5, 1e20),
    ],
)
def test_round_to_matches_python_on_near_ties(value: float, digits: int, expected: float) -> None:
    assert round_to(value, digits) == expected == round(value, digits)


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=22),  # past 22 no power of ten is a double exactly
)
def test_round_to_equals_python_round(value: float, digits: int) -> None:
    assert round_to(value, digits) == round(value, digits)


def test_round_to_equals_python_round_where_the_scaled_value_is_past_2_to_the_52() -> None:
    # 450360.42934592115 * 1e10 is a whole double; the exact product is not, and rounds down.
    assert round_to(450360.42934592115, 10) == round(450360.42934592115, 10) == 450360.4293459211


def test_round_to_equals_python_round_on_half_way_prices() -> None:
    rng = np.random.default_rng(7)
    for digits in (2, 3, 5):
        values = np.round(rng.uniform(0.5, 200.0, 20_000), digits) + 0.5 * 10.0**-digits
        assert all(round_to(v, digits) == round(v, digits) for v in values.tolist())


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_bar_times_read_as_the_same_unix_seconds_whatever_the_index_resolution(unit: str) -> None:
    # Loaders give microsecond indexes, MT5 arrays seconds, pandas' default is nanoseconds.
    times = pd.DatetimeIndex(["1969-12-31 23:59:00", "2024-03-10 07:00:00"], tz="UTC")
    assert epoch_seconds(times.as_unit(unit)).tolist() == [-60, 1_710_054_000]


def test_a_bar_time_between_seconds_is_read_as_pandas_reads_it_in_seconds() -> None:
    times = pd.DatetimeIndex(["2024-03-10 07:00:00.75", "1969-12-31 23:59:59.25"], tz="UTC")
    seconds = epoch_seconds(times)
    assert seconds.tolist() == times.as_unit("s").asi8.tolist()
    assert seconds.dtype == np.int64


def test_prefetching_any_index_changes_nothing_and_never_faults() -> None:
    @njit(_nrt=False)
    def read_after_prefetch(values: np.ndarray, ahead: int) -> float:
        total = 0.0
        for i in range(values.shape[0]):
            prefetch(values, i + ahead)  # far past the end too: a hint, not a read
            total += values[i]
        return total

    values = np.arange(1000.0)
    assert read_after_prefetch(values, 1 << 40) == read_after_prefetch(values, 0) == 499_500.0
