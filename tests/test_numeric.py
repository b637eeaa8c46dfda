"""The compiled rounding gives exactly what Python's round gives (prices, money, volumes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nl_trader.numeric import round_to


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
    st.integers(min_value=0, max_value=8),
)
def test_round_to_equals_python_round(value: float, digits: int) -> None:
    assert round_to(value, digits) == round(value, digits)


def test_round_to_equals_python_round_on_half_way_prices() -> None:
    rng = np.random.default_rng(7)
    for digits in (2, 3, 5):
        values = np.round(rng.uniform(0.5, 200.0, 20_000), digits) + 0.5 * 10.0**-digits
        assert all(round_to(v, digits) == round(v, digits) for v in values.tolist())
