"""The indicator registry: hand-computed values, TA-Lib parity, no look-ahead, exact warm-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nl_trader.data.sample import sample_bars
from nl_trader.strategy.indicators import (
    PRICE_FIELDS,
    REGISTRY,
    compute,
    compute_all,
    price,
    sma,
    sma_pair,
)

try:
    import talib
except ImportError:  # pragma: no cover - TA-Lib is an optional reference
    talib = None

needs_talib = pytest.mark.skipif(
    talib is None, reason="TA-Lib (the reference implementation) is not installed"
)
NAN = np.nan


def bars_of(
    close: list[float], high: list[float] | None = None, low: list[float] | None = None
) -> dict[str, np.ndarray]:
    """Bars from closes (high and low default to the close: a bar without a range)."""
    closes = np.asarray(close, dtype="float64")
    highs = closes if high is None else np.asarray(high, dtype="float64")
    lows = closes if low is None else np.asarray(low, dtype="float64")
    return {"open": closes.copy(), "high": highs, "low": lows, "close": closes}


def assert_values(actual: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected), rtol=1e-12, atol=1e-12)


# ---- hand-computed values ----------------------------------------------------------------------
def test_sma_3_averages_the_last_three_closes() -> None:
    out = compute("sma", bars_of([1, 2, 3, 4, 5]), {"period": 3})["value"]
    assert_values(out, [NAN, NAN, 2, 3, 4])


def test_ema_3_is_seeded_with_the_sma_of_the_first_three_closes_then_uses_alpha_one_half() -> None:
    # seed (2+4+6)/3 = 4; then 4 + 0.5*(8-4) = 6; 6 + 0.5*(4-6) = 5; 5 + 0.5*(10-5) = 7.5
    out = compute("ema", bars_of([2, 4, 6, 8, 4, 10]), {"period": 3})["value"]
    assert_values(out, [NAN, NAN, 4, 6, 5, 7.5])


def test_wma_3_weights_the_newest_close_3_the_oldest_1() -> None:
    # (2*1 + 4*2 + 6*3)/6, (4 + 12 + 24)/6, (6 + 16 + 12)/6
    out = compute("wma", bars_of([2, 4, 6, 8, 4]), {"period": 3})["value"]
    assert_values(out, [NAN, NAN, 28 / 6, 40 / 6, 34 / 6])


def test_rsi_2_uses_wilder_averages_of_gains_and_losses() -> None:
    # changes +1, -0.5, +1, -0.5, -1. Seed (bar 2): gain (1+0)/2 = 0.5, loss (0+0.5)/2 = 0.25.
    # bar 3: gain 0.75, loss 0.125; bar 4: gain 0.375, loss 0.3125; bar 5: gain 0.1875,
    # loss 0.65625. RSI = 100 * gain / (gain + loss).
    out = compute("rsi", bars_of([10, 11, 10.5, 11.5, 11, 10]), {"period": 2})["value"]
    assert_values(out, [NAN, NAN, 200 / 3, 600 / 7, 600 / 11, 200 / 9])


def test_rsi_of_a_market_that_only_rises_is_100() -> None:
    out = compute("rsi", bars_of([1, 2, 3, 4, 5, 6]), {"period": 3})["value"]
    assert_values(out, [NAN, NAN, NAN, 100, 100, 100])


def test_atr_3_starts_from_the_second_bar_and_counts_gaps_in_the_true_range() -> None:
    # true ranges: undefined, 0.5, 1.25 (gap up over the 9.75 close), 0.75, 2, 1 (gap down)
    bars = bars_of(
        close=[9.5, 9.75, 10.75, 10.25, 9, 8.25],
        high=[10, 10, 11, 10.75, 10.5, 8.5],
        low=[9, 9.5, 10.5, 10, 8.5, 8],
    )
    out = compute("atr", bars, {"period": 3})["value"]
    # seed mean(0.5, 1.25, 0.75) = 5/6; then Wilder: (2*5/6 + 2)/3 = 11/9; (2*11/9 + 1)/3 = 31/27
    assert_values(out, [NAN, NAN, NAN, 5 / 6, 11 / 9, 31 / 27])


def test_bollinger_bands_use_the_population_standard_deviation() -> None:
    # The textbook set: mean 5, population std 2 (the sample std would be 2.138).
    out = compute("bbands", bars_of([2, 4, 4, 4, 5, 5, 7, 9]), {"period": 8, "deviations": 2.0})
    assert_values(out["middle"], [NAN] * 7 + [5])
    assert_values(out["upper"], [NAN] * 7 + [9])
    assert_values(out["lower"], [NAN] * 7 + [1])


def test_macd_is_the_fast_ema_minus_the_slow_and_its_signal_an_ema_of_the_macd() -> None:
    # EMA2 (alpha 2/3): -, 3, 5, 7, 5, 25/3; EMA3 (alpha 1/2): -, -, 4, 6, 5, 7.5
    # MACD: 1, 1, 0, 5/6; signal EMA2 seeded at bar 3 with (1+1)/2 = 1: 1, 1/3, 2/3
    out = compute("macd", bars_of([2, 4, 6, 8, 4, 10]), {"fast": 2, "slow": 3, "signal": 2})
    assert_values(out["macd"], [NAN, NAN, 1, 1, 0, 5 / 6])
    assert_values(out["signal"], [NAN, NAN, NAN, 1, 1 / 3, 2 / 3])
    assert_values(out["histogram"], [NAN, NAN, NAN, 0, -1 / 3, 1 / 6])


STOCH_BARS = bars_of(
    close=[9, 10, 11, 9.5, 12.5, 11.5],
    high=[10, 11, 12, 11, 13, 12],
    low=[8, 9, 10, 9, 10, 11],
)


def test_stochastic_k_sums_close_minus_lowest_over_sums_of_the_range_as_mt5() -> None:
    # 3-bar lowest low / highest high from bar 2: C-LL = 3, 0.5, 3.5, 2.5; HH-LL = 4, 3, 4, 4.
    # slowing 2: (3+0.5)/(4+3) = 50%, (0.5+3.5)/(3+4) = 4/7, (3.5+2.5)/(4+4) = 75%.
    # (Averaging the raw %K instead, as TA-Lib's STOCH does, would give 45.8% at bar 3.)
    out = compute("stochastic", STOCH_BARS, {"k_period": 3, "slowing": 2, "d_period": 2})
    assert_values(out["k"], [NAN, NAN, NAN, 50, 400 / 7, 75])


def test_stochastic_d_is_the_sma_of_k() -> None:
    out = compute("stochastic", STOCH_BARS, {"k_period": 3, "slowing": 2, "d_period": 2})
    assert_values(out["d"], [NAN, NAN, NAN, NAN, (50 + 400 / 7) / 2, (400 / 7 + 75) / 2])


def test_stochastic_of_a_market_without_range_is_100_as_mt5() -> None:
    out = compute("stochastic", bars_of([5, 5, 5, 5]), {"k_period": 2, "slowing": 1})
    assert_values(out["k"], [NAN, 100, 100, 100])


def test_cci_divides_the_typical_price_deviation_by_0_015_mean_deviations() -> None:
    # typical prices 1, 2, 6, 4, 1 (the closes differ, so the close is not what is used)
    bars = bars_of(
        close=[1, 1.5, 6, 4.5, 1],
        high=[2, 3, 7, 5, 1.5],
        low=[0, 1.5, 5, 2.5, 0.5],
    )
    # [1,2,6]: mean 3, mean deviation 2 -> 3/(0.015*2) = 100; [2,6,4]: 0;
    # [6,4,1]: mean 11/3, mean deviation 16/9 -> (-8/3)/(0.015*16/9) = -100
    out = compute("cci", bars, {"period": 3})["value"]
    assert_values(out, [NAN, NAN, 100, 0, -100])


def test_cci_of_a_market_without_range_is_0() -> None:
    out = compute("cci", bars_of([5, 5, 5, 5]), {"period": 3})["value"]
    assert_values(out, [NAN, NAN, 0, 0])


CHANNEL_BARS = bars_of(
    close=[0.5, 2.5, 1.5, 4.5, 1],
    high=[1, 3, 2, 5, 4],
    low=[0, 2, 1, 4, 0.5],
)


def test_donchian_channel_includes_the_current_bar() -> None:
    out = compute("donchian", CHANNEL_BARS, {"period": 3})
    assert_values(out["upper"], [NAN, NAN, 3, 5, 5])
    assert_values(out["lower"], [NAN, NAN, 0, 1, 0.5])  # bar 4's own low is the lowest
    assert_values(out["middle"], [NAN, NAN, 1.5, 3, 2.75])


def test_highest_and_lowest_include_the_current_bar() -> None:
    highest = compute("highest", CHANNEL_BARS, {"period": 3})["value"]
    lowest = compute("lowest", CHANNEL_BARS, {"period": 3})["value"]
    assert_values(highest, [NAN, NAN, 3, 5, 5])
    assert_values(lowest, [NAN, NAN, 0, 1, 0.5])


def test_highest_and_lowest_of_the_close() -> None:
    highest = compute("highest", CHANNEL_BARS, {"period": 2, "source": "close"})["value"]
    lowest = compute("lowest", CHANNEL_BARS, {"period": 2, "source": "close"})["value"]
    assert_values(highest, [NAN, 2.5, 2.5, 4.5, 4.5])
    assert_values(lowest, [NAN, 0.5, 1.5, 1.5, 1])


def test_typical_price_is_high_low_close_over_3_and_median_is_high_low_over_2() -> None:
    bars = bars_of(close=[1.5, 3], high=[3, 6], low=[0, 1.5])
    assert_values(price(bars, "typical"), [1.5, 3.5])
    assert_values(price(bars, "median"), [1.5, 3.75])
    # the price fields are sources of the averages
    assert_values(compute("sma", bars, {"period": 1, "source": "median"})["value"], [1.5, 3.75])


def test_indicators_read_a_dataframe_and_a_dict_of_arrays_alike() -> None:
    frame = sample_bars("EURUSD", "H1", bars=200)
    columns = {name: frame[name].to_numpy() for name in ("open", "high", "low", "close")}
    for name in REGISTRY:
        from_frame = compute(name, frame, {})
        from_dict = compute(name, columns, {})
        for output, values in from_frame.items():
            np.testing.assert_array_equal(values, from_dict[output], err_msg=f"{name}.{output}")


# ---- TA-Lib parity -----------------------------------------------------------------------------
def _hlc(symbol: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    bars = sample_bars(symbol, "H1", bars=3000)
    return bars, *(bars[name].to_numpy(dtype="float64") for name in ("high", "low", "close"))


def assert_matches(ours: np.ndarray, reference: np.ndarray, *, atol: float = 1e-9) -> None:
    """Same NaN warm-up bars, then the same values within ``atol``."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg="NaN positions")
    valid = ~np.isnan(reference)
    assert valid.sum() > 2000
    np.testing.assert_allclose(ours[valid], reference[valid], rtol=0, atol=atol)


ALL_SYMBOLS = ["EURUSD", "XAUUSD", "USDJPY"]
PERIODS = [3, 14, 50]


@needs_talib
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY"])
def test_sma_equals_talib(symbol: str, period: int) -> None:
    bars, _, _, close = _hlc(symbol)
    assert_matches(compute("sma", bars, {"period": period})["value"], talib.SMA(close, period))


@needs_talib
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_ema_equals_talib(symbol: str, period: int) -> None:
    bars, _, _, close = _hlc(symbol)
    assert_matches(compute("ema", bars, {"period": period})["value"], talib.EMA(close, period))


@needs_talib
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_wma_equals_talib(symbol: str, period: int) -> None:
    bars, _, _, close = _hlc(symbol)
    assert_matches(compute("wma", bars, {"period": period})["value"], talib.WMA(close, period))


@needs_talib
@pytest.mark.parametrize("period", [2, 14, 50])
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_rsi_equals_talib(symbol: str, period: int) -> None:
    bars, _, _, close = _hlc(symbol)
    assert_matches(compute("rsi", bars, {"period": period})["value"], talib.RSI(close, period))


@needs_talib
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_atr_equals_talib(symbol: str, period: int) -> None:
    bars, high, low, close = _hlc(symbol)
    ours = compute("atr", bars, {"period": period})["value"]
    assert_matches(ours, talib.ATR(high, low, close, period))


@needs_talib
@pytest.mark.parametrize("period", [2, 14, 50])
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_adx_and_directional_indicators_equal_talib(symbol: str, period: int) -> None:
    bars, high, low, close = _hlc(symbol)
    ours = compute("adx", bars, {"period": period})
    assert_matches(ours["adx"], talib.ADX(high, low, close, period))
    assert_matches(ours["plus_di"], talib.PLUS_DI(high, low, close, period))
    assert_matches(ours["minus_di"], talib.MINUS_DI(high, low, close, period))


@needs_talib
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_cci_equals_talib_within_a_millionth(symbol: str, period: int) -> None:
    bars, high, low, close = _hlc(symbol)
    ours = compute("cci", bars, {"period": period})["value"]
    reference = talib.CCI(high, low, close, period)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    valid = ~np.isnan(reference)
    np.testing.assert_allclose(ours[valid], reference[valid], rtol=1e-6, atol=1e-6)


@needs_talib
@pytest.mark.parametrize(("period", "deviations"), [(3, 2.0), (20, 2.0), (50, 2.5)])
def test_bollinger_bands_equal_talib(period: int, deviations: float) -> None:
    # EURUSD only: on gold-sized prices the two rolling sums drift apart by ~1e-8 (see the report).
    bars, _, _, close = _hlc("EURUSD")
    ours = compute("bbands", bars, {"period": period, "deviations": deviations})
    upper, middle, lower = talib.BBANDS(close, period, deviations, deviations, 0)
    assert_matches(ours["upper"], upper)
    assert_matches(ours["middle"], middle)
    assert_matches(ours["lower"], lower)


@needs_talib
def test_macd_equals_talib_once_the_seeds_have_faded() -> None:
    # TA-Lib seeds the fast EMA later (at the slow one's start), so the two agree only after the
    # seeds have faded; the signal line's warm-up is the same.
    bars, _, _, close = _hlc("EURUSD")
    ours = compute("macd", bars, {"fast": 12, "slow": 26, "signal": 9})
    references = dict(
        zip(("macd", "signal", "histogram"), talib.MACD(close, 12, 26, 9), strict=True)
    )
    for output in ("signal", "histogram"):
        np.testing.assert_array_equal(np.isnan(ours[output]), np.isnan(references[output]))
    assert int(np.isnan(ours["macd"]).sum()) == 25  # EMA(26)'s warm-up
    for output, reference in references.items():
        np.testing.assert_allclose(ours[output][100:], reference[100:], rtol=0, atol=1e-9)


@needs_talib
@pytest.mark.parametrize("k_period", [3, 5, 14])
@pytest.mark.parametrize("symbol", ALL_SYMBOLS)
def test_stochastic_without_slowing_equals_talib_fast_stochastic(
    symbol: str, k_period: int
) -> None:
    bars, high, low, close = _hlc(symbol)
    ours = compute("stochastic", bars, {"k_period": k_period, "slowing": 1, "d_period": 3})
    fast_k, _ = talib.STOCHF(high, low, close, k_period, 1, 0)
    _, fast_d = talib.STOCHF(high, low, close, k_period, 3, 0)
    assert_matches(ours["k"], fast_k)
    assert_matches(ours["d"], fast_d)


# ---- no look-ahead -----------------------------------------------------------------------------
CASES: list[tuple[str, dict[str, Any]]] = [
    ("sma", {"period": 20}),
    ("ema", {"period": 20}),
    ("wma", {"period": 20}),
    ("rsi", {"period": 14}),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}),
    ("bbands", {"period": 20, "deviations": 2.0, "source": "typical"}),
    ("atr", {"period": 14}),
    ("stochastic", {"k_period": 5, "d_period": 3, "slowing": 3}),
    ("adx", {"period": 14}),
    ("cci", {"period": 14}),
    ("donchian", {"period": 20}),
    ("highest", {"period": 20, "source": "high"}),
    ("lowest", {"period": 20, "source": "median"}),
]


def test_the_cases_cover_every_registry_indicator() -> None:
    assert {name for name, _ in CASES} == set(REGISTRY)


@pytest.mark.parametrize(("name", "params"), CASES, ids=[name for name, _ in CASES])
def test_an_indicator_at_bar_k_uses_no_bar_after_k(name: str, params: dict[str, Any]) -> None:
    bars = sample_bars("EURUSD", "H1", bars=1500)
    full = compute(name, bars, params)
    cuts = [5, 30, 60, *sorted(np.random.default_rng(7).integers(60, len(bars) - 1, 5).tolist())]
    for k in cuts:
        head = compute(name, bars.iloc[: k + 1], params)
        for output, values in full.items():
            np.testing.assert_allclose(
                head[output],
                values[: k + 1],
                rtol=1e-12,
                atol=0,
                equal_nan=True,
                err_msg=f"{name}.{output} computed up to bar {k}",
            )


# ---- warm-up -----------------------------------------------------------------------------------
WARM_UP: list[tuple[str, dict[str, Any], dict[str, int]]] = [
    ("sma", {"period": 20}, {"value": 19}),
    ("ema", {"period": 20}, {"value": 19}),
    ("wma", {"period": 20}, {"value": 19}),
    ("rsi", {"period": 14}, {"value": 14}),  # 14 changes need 15 closes
    ("macd", {"fast": 12, "slow": 26, "signal": 9}, {"macd": 25, "signal": 33, "histogram": 33}),
    ("bbands", {"period": 20}, {"upper": 19, "middle": 19, "lower": 19}),
    ("atr", {"period": 14}, {"value": 14}),  # the first true range needs a previous close
    ("stochastic", {"k_period": 5, "d_period": 3, "slowing": 3}, {"k": 6, "d": 8}),
    ("adx", {"period": 14}, {"adx": 27, "plus_di": 14, "minus_di": 14}),
    ("cci", {"period": 14}, {"value": 13}),
    ("donchian", {"period": 20}, {"upper": 19, "middle": 19, "lower": 19}),
    ("highest", {"period": 20}, {"value": 19}),
    ("lowest", {"period": 20}, {"value": 19}),
]


@pytest.mark.parametrize(("name", "params", "first"), WARM_UP, ids=[c[0] for c in WARM_UP])
def test_an_indicator_is_nan_exactly_until_its_first_full_window(
    name: str, params: dict[str, Any], first: dict[str, int]
) -> None:
    out = compute(name, sample_bars("USDJPY", "H1", bars=500), params)
    assert set(out) == set(first) == set(REGISTRY[name].outputs)
    for output, index in first.items():
        values = out[output]
        assert np.isnan(values[:index]).all(), f"{name}.{output} has a value before bar {index}"
        assert not np.isnan(values[index:]).any(), f"{name}.{output} is NaN from bar {index} on"


@pytest.mark.parametrize("count", [0, 1, 2, 6])
def test_bars_shorter_than_the_window_give_only_nan(count: int) -> None:
    # A feed that has just started (or an empty one) must not raise: every value is warm-up.
    bars = sample_bars("EURUSD", "H1", bars=10).iloc[:count]
    for name, params in CASES:
        for output, values in compute(name, bars, params).items():
            assert len(values) == count, f"{name}.{output}"
            assert np.isnan(values).all(), f"{name}.{output}"


# ---- defaults ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_compute_fills_the_registry_defaults(name: str) -> None:
    bars = sample_bars("EURUSD", "H1", bars=300)
    defaults = {key: param.default for key, param in REGISTRY[name].params.items()}
    implicit = compute(name, bars, {})
    explicit = compute(name, bars, defaults)
    for output in REGISTRY[name].outputs:
        np.testing.assert_array_equal(implicit[output], explicit[output])


def test_sma_without_params_is_the_20_bar_average_of_the_close() -> None:
    bars = sample_bars("EURUSD", "H1", bars=100)
    out = compute("sma", bars, {})["value"]
    close = bars["close"].to_numpy()
    assert np.isnan(out[:19]).all()
    assert out[19] == pytest.approx(close[:20].mean(), abs=1e-12)
    assert out[-1] == pytest.approx(close[-20:].mean(), abs=1e-12)


def test_a_partial_params_dict_keeps_the_other_defaults() -> None:
    bars = sample_bars("EURUSD", "H1", bars=300)
    slower = compute("macd", bars, {"slow": 40})
    explicit = compute("macd", bars, {"fast": 12, "slow": 40, "signal": 9, "source": "close"})
    np.testing.assert_array_equal(slower["signal"], explicit["signal"])


def test_registry_defaults_lie_in_their_ranges_and_sources_are_price_fields() -> None:
    for name, definition in REGISTRY.items():
        for key, param in definition.params.items():
            if param.choices:
                assert param.default in param.choices, f"{name}.{key}"
                assert set(param.choices) == set(PRICE_FIELDS), f"{name}.{key}"
            else:
                assert param.minimum is not None
                assert param.maximum is not None
                assert param.minimum <= param.default <= param.maximum, f"{name}.{key}"


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False),
            st.just(float("nan")),
            st.sampled_from([1.08512, 1.08513, 0.0, -2.5]),
        ),
        min_size=0,
        max_size=120,
    ),
    period=st.integers(1, 30),
)
def test_sma_equals_pandas_rolling_mean_number_for_number(values: list[float], period: int) -> None:
    # Crossings of two SMAs decide trades: a last-bit difference from pandas would move them.
    array = np.array(values, dtype="float64")
    expected = pd.Series(array).rolling(period, min_periods=period).mean().to_numpy()
    np.testing.assert_array_equal(sma(array, period), expected)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e4, 1e4, allow_nan=False), st.just(float("nan"))),
        min_size=0,
        max_size=120,
    ),
    period=st.integers(1, 30),
    second_period=st.integers(1, 30),
)
def test_two_smas_in_one_pass_are_each_pandas_number_for_number(
    values: list[float], period: int, second_period: int
) -> None:
    # A crossover's fast and slow averages share a pass: neither may differ from pandas by a bit.
    array = np.array(values, dtype="float64")
    fast, slow = sma_pair(array, period, second_period)
    for result, window in ((fast, period), (slow, second_period)):
        expected = pd.Series(array).rolling(window, min_periods=window).mean().to_numpy()
        np.testing.assert_array_equal(result, expected)


def test_compute_all_gives_each_indicator_what_compute_gives_it_in_the_order_asked() -> None:
    bars = sample_bars("EURUSD", "H1", bars=600)
    requests: list[tuple[str, dict[str, Any]]] = [
        ("sma", {"period": 20}),
        ("rsi", {"period": 14}),
        ("sma", {"period": 50}),
        ("sma", {"period": 10, "source": "high"}),
        ("sma", {"period": 100}),  # a third average of the close: computed on its own
        ("ema", {"period": 12}),
    ]
    results = compute_all(bars, requests)
    assert len(results) == len(requests)
    for (name, params), result in zip(requests, results, strict=True):
        expected = compute(name, bars, params)
        assert result.keys() == expected.keys()
        for output, series in expected.items():
            np.testing.assert_array_equal(result[output], series, err_msg=f"{name} {params}")
