"""The indicator registry: what a strategy may use, with its parameters, ranges and outputs.

Every indicator is computed vectorised over a whole bar array and is causal: the value at bar i uses
bars 0..i only. Warm-up bars are NaN. The formulas are the reference ones:

* SMA, WMA (linear weights), EMA (alpha 2/(n+1), seeded with the SMA of the first n values, as
  TA-Lib does);
* RSI, ATR and ADX with Wilder smoothing (alpha 1/n, seeded with the simple average of the first n
  values), as MT5 and TA-Lib compute them; RSI = 100 * avg gain / (avg gain + avg loss);
* MACD = EMA(fast) - EMA(slow), signal = EMA(signal) of MACD, histogram = MACD - signal;
* Bollinger bands: SMA +/- k population standard deviations;
* Stochastic as MT5 computes it: %K = 100 * sum(close - lowest low) / sum(highest high - lowest
  low) over ``slowing`` bars, %D = SMA of %K (TA-Lib's STOCH averages %K instead: the same for
  slowing 1);
* CCI = (typical - SMA(typical)) / (0.015 * mean absolute deviation);
* Donchian channel and highest / lowest of N bars include the current bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nl_trader.jit import compiled, compiled_inline, python_callable

PRICE_FIELDS = ("open", "high", "low", "close", "typical", "median")
Array = np.ndarray


@dataclass(frozen=True)
class ParamDef:
    """One parameter of an indicator: its kind, default and allowed range."""

    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class IndicatorDef:
    """An indicator of the registry."""

    name: str
    title: str
    title_zh: str
    params: Mapping[str, ParamDef]
    outputs: tuple[str, ...]
    compute: Callable[..., dict[str, Array]] = field(repr=False)

    @property
    def default_output(self) -> str:
        return self.outputs[0]


Bars = Mapping[str, Any] | pd.DataFrame


def price(bars: Bars, name: str) -> Array:
    """One price field of bid bars as float64: open, high, low, close, typical or median."""
    if name == "typical":
        return (_col(bars, "high") + _col(bars, "low") + _col(bars, "close")) / 3.0
    if name == "median":
        return (_col(bars, "high") + _col(bars, "low")) / 2.0
    return _col(bars, name)


def _col(bars: Bars, name: str) -> Array:
    values = bars[name]
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    return np.asarray(values, dtype="float64")


# ---- building blocks ---------------------------------------------------------------------------
def sma(values: Array, period: int) -> Array:
    """The mean of the last ``period`` values (NaN until there are that many)."""
    return sma_pair(values, period, 0)[0]


def sma_pair(values: Array, period: int, second_period: int) -> tuple[Array, Array]:
    """``sma(values, period)`` and ``sma(values, second_period)`` in one pass over ``values``:
    the two running sums are independent, so the processor adds them side by side (a fast and a
    slow average of one price cost about one). ``second_period`` 0: the first only."""
    out = np.empty(len(values))
    second_out = np.empty(len(values) if second_period else 0)
    _rolling_means(
        np.ascontiguousarray(values, dtype="float64"), period, out, second_period, second_out
    )
    return out, second_out


@compiled
@python_callable
def _rolling_means(
    values: Array, period: int, out: Array, second_period: int, second_out: Array
) -> None:
    """pandas' rolling mean (``rolling(period).mean()``), number for number, over one window or
    two (``second_period`` > 0): a running sum with Kahan compensation, which keeps long series
    exact to ~1e-12 where a cumulative sum drifts (gold), a window of one repeated value giving
    that value, and a mean of only positive (or only negative) values never crossing zero. NaNs
    are left out of a window."""
    previous = values[0] if values.shape[0] else math.nan
    # (observed, negatives, repeated, total, added error, removed error, previous): a window's
    # running state, in values kept in registers.
    first = second = (0, 0, 0, 0.0, 0.0, 0.0, previous)
    for i in range(values.shape[0]):
        first = _window_mean(values, i, period, out, first)
        if second_period:
            second = _window_mean(values, i, second_period, second_out, second)


_Window = tuple[int, int, int, float, float, float, float]


@compiled_inline
def _window_mean(values: Array, i: int, period: int, out: Array, window: _Window) -> _Window:
    """One bar of a rolling mean: value i enters the window, value i - period leaves it."""
    observed, negatives, repeated, total, added_error, removed_error, previous = window
    if i >= period:  # the value leaving the window
        value = values[i - period]
        if not math.isnan(value):
            observed -= 1
            step = -value - removed_error
            moved = total + step
            removed_error = moved - total - step
            total = moved
            if value < 0:
                negatives -= 1
    value = values[i]
    if not math.isnan(value):
        observed += 1
        step = value - added_error
        moved = total + step
        added_error = moved - total - step
        total = moved
        if value < 0:
            negatives += 1
        repeated = repeated + 1 if value == previous else 1
        previous = value
    if observed >= period and observed > 0:
        mean = total / observed
        if repeated >= observed:
            mean = previous
        elif (negatives == 0 and mean < 0) or (negatives == observed and mean > 0):
            mean = 0.0
        out[i] = mean
    else:
        out[i] = math.nan
    return observed, negatives, repeated, total, added_error, removed_error, previous


def _seeded_smoothing(values: Array, period: int, alpha: float, first: int = 0) -> Array:
    """Exponential smoothing seeded with the SMA of ``period`` values starting at ``first``.

    out[first + period - 1] = mean(values[first : first + period]); after it
    out[i] = out[i-1] + alpha * (values[i] - out[i-1]). Leading NaNs in ``values`` before
    ``first`` are allowed.
    """
    out = np.full(values.shape, np.nan)
    start = first + period - 1
    if start >= len(values):
        return out
    seeded = values.copy()
    seeded[:start] = np.nan
    seeded[start] = values[first : start + 1].mean()
    out[start:] = pd.Series(seeded[start:]).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def ema(values: Array, period: int, first: int = 0) -> Array:
    return _seeded_smoothing(values, period, 2.0 / (period + 1), first)


def wilder(values: Array, period: int, first: int = 0) -> Array:
    return _seeded_smoothing(values, period, 1.0 / period, first)


def wma(values: Array, period: int) -> Array:
    out = np.full(values.shape, np.nan)
    if period > len(values):
        return out
    weights = np.arange(1, period + 1, dtype="float64")
    out[period - 1 :] = np.convolve(values, weights[::-1], mode="valid") / weights.sum()
    return out


def rolling_max(values: Array, period: int) -> Array:
    return np.asarray(pd.Series(values).rolling(period, min_periods=period).max(), dtype="float64")


def rolling_min(values: Array, period: int) -> Array:
    return np.asarray(pd.Series(values).rolling(period, min_periods=period).min(), dtype="float64")


def true_range(high: Array, low: Array, close: Array) -> Array:
    """True range; NaN on the first bar, which has no previous close (as TA-Lib)."""
    previous = np.roll(close, 1)
    tr = np.maximum(high - low, np.maximum(np.abs(high - previous), np.abs(low - previous)))
    tr[:1] = np.nan  # a slice, so that no bars give no true range instead of an IndexError
    return tr


# ---- the indicators ----------------------------------------------------------------------------
def _sma(bars: Mapping[str, Any], period: int, source: str) -> dict[str, Array]:
    return {"value": sma(price(bars, source), period)}


def _ema(bars: Mapping[str, Any], period: int, source: str) -> dict[str, Array]:
    return {"value": ema(price(bars, source), period)}


def _wma(bars: Mapping[str, Any], period: int, source: str) -> dict[str, Array]:
    return {"value": wma(price(bars, source), period)}


def _rsi(bars: Mapping[str, Any], period: int, source: str) -> dict[str, Array]:
    values = price(bars, source)
    change = np.diff(values, prepend=np.nan)
    gain = wilder(np.where(change > 0, change, 0.0), period, first=1)
    loss = wilder(np.where(change < 0, -change, 0.0), period, first=1)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = np.where(total > 0, 100.0 * gain / total, 0.0)
    rsi[np.isnan(gain)] = np.nan
    return {"value": rsi}


def _macd(
    bars: Mapping[str, Any], fast: int, slow: int, signal: int, source: str
) -> dict[str, Array]:
    values = price(bars, source)
    line = ema(values, fast) - ema(values, slow)
    start = int(np.argmax(~np.isnan(line))) if np.any(~np.isnan(line)) else len(line)
    signal_line = ema(np.nan_to_num(line), signal, first=start)
    return {"macd": line, "signal": signal_line, "histogram": line - signal_line}


def _bbands(
    bars: Mapping[str, Any], period: int, deviations: float, source: str
) -> dict[str, Array]:
    values = price(bars, source)
    middle = sma(values, period)
    spread = pd.Series(values).rolling(period, min_periods=period).std(ddof=0).to_numpy()
    return {
        "upper": middle + deviations * spread,
        "middle": middle,
        "lower": middle - deviations * spread,
    }


def _atr(bars: Mapping[str, Any], period: int) -> dict[str, Array]:
    tr = true_range(price(bars, "high"), price(bars, "low"), price(bars, "close"))
    return {"value": wilder(tr, period, first=1)}


def _stochastic(
    bars: Mapping[str, Any], k_period: int, d_period: int, slowing: int
) -> dict[str, Array]:
    high, low, close = price(bars, "high"), price(bars, "low"), price(bars, "close")
    lowest = rolling_min(low, k_period)
    highest = rolling_max(high, k_period)
    numerator = pd.Series(close - lowest).rolling(slowing, min_periods=slowing).sum().to_numpy()
    denominator = pd.Series(highest - lowest).rolling(slowing, min_periods=slowing).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(denominator > 0, 100.0 * numerator / denominator.to_numpy(), 100.0)
    k[np.isnan(numerator)] = np.nan
    return {"k": k, "d": sma_nan(k, d_period)}


def sma_nan(values: Array, period: int) -> Array:
    """SMA of a series with a NaN warm-up: the first value once ``period`` real values exist."""
    return np.asarray(pd.Series(values).rolling(period, min_periods=period).mean(), dtype="float64")


def _adx(bars: Mapping[str, Any], period: int) -> dict[str, Array]:
    high, low, close = price(bars, "high"), price(bars, "low"), price(bars, "close")
    up = np.diff(high, prepend=np.nan)
    down = -np.diff(low, prepend=np.nan)
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    tr = true_range(high, low, close)
    # TA-Lib's Wilder sums start from the first n-1 moves, then add one smoothing step.
    smooth_plus = _wilder_sum(plus_dm, period)
    smooth_minus = _wilder_sum(minus_dm, period)
    smooth_tr = _wilder_sum(np.nan_to_num(tr), period)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_di = np.where(smooth_tr > 0, 100.0 * smooth_plus / smooth_tr, 0.0)
        minus_di = np.where(smooth_tr > 0, 100.0 * smooth_minus / smooth_tr, 0.0)
        total = plus_di + minus_di
        dx = np.where(total > 0, 100.0 * np.abs(plus_di - minus_di) / total, 0.0)
    missing = np.isnan(smooth_tr)
    plus_di[missing] = minus_di[missing] = dx[missing] = np.nan
    adx = wilder(dx, period, first=period)
    return {"adx": adx, "plus_di": plus_di, "minus_di": minus_di}


def _wilder_sum(values: Array, period: int) -> Array:
    """TA-Lib's smoothed sum: S[n] = sum(x[1..n-1]) * (n-1)/n + x[n], then S[i] = S[i-1] * (n-1)/n
    + x[i]. That is n times an exponential smoothing of x with alpha 1/n."""
    out = np.full(values.shape, np.nan)
    if period + 1 > len(values):
        return out
    seed = values[1:period].sum()
    rest = values[period:].copy()
    rest[0] = (seed - seed / period + values[period]) / period
    out[period:] = pd.Series(rest).ewm(alpha=1.0 / period, adjust=False).mean().to_numpy() * period
    return out


def _cci(bars: Mapping[str, Any], period: int) -> dict[str, Array]:
    typical = price(bars, "typical")
    mean = sma(typical, period)
    deviation = np.full(typical.shape, np.nan)
    if period <= len(typical):  # sliding_window_view refuses a window longer than the bars
        windows = np.lib.stride_tricks.sliding_window_view(typical, period)
        deviation[period - 1 :] = np.abs(windows - windows.mean(axis=1, keepdims=True)).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cci = np.where(deviation > 0, (typical - mean) / (0.015 * deviation), 0.0)
    cci[np.isnan(mean)] = np.nan
    return {"value": cci}


def _donchian(bars: Mapping[str, Any], period: int) -> dict[str, Array]:
    upper = rolling_max(price(bars, "high"), period)
    lower = rolling_min(price(bars, "low"), period)
    return {"upper": upper, "middle": (upper + lower) / 2.0, "lower": lower}


def _highest(bars: Mapping[str, Any], period: int, source: str) -> dict[str, Array]:
    return {"value": rolling_max(price(bars, source), period)}


def _lowest(bars: Mapping[str, Any], period: int, source: str) -> dict[str, Array]:
    return {"value": rolling_min(price(bars, source), period)}


def _period(default: int, minimum: int = 1, maximum: int = 1000) -> ParamDef:
    return ParamDef(int, default, minimum, maximum, description="bars")


def _source(default: str = "close") -> ParamDef:
    return ParamDef(str, default, choices=PRICE_FIELDS, description="price field")


REGISTRY: dict[str, IndicatorDef] = {
    definition.name: definition
    for definition in (
        IndicatorDef(
            "sma",
            "simple moving average",
            "簡單移動平均線",
            {"period": _period(20), "source": _source()},
            ("value",),
            _sma,
        ),
        IndicatorDef(
            "ema",
            "exponential moving average",
            "指數移動平均線",
            {"period": _period(20), "source": _source()},
            ("value",),
            _ema,
        ),
        IndicatorDef(
            "wma",
            "weighted moving average",
            "加權移動平均線",
            {"period": _period(20), "source": _source()},
            ("value",),
            _wma,
        ),
        IndicatorDef(
            "rsi",
            "RSI",
            "相對強弱指數 (RSI)",
            {"period": _period(14, 2, 500), "source": _source()},
            ("value",),
            _rsi,
        ),
        IndicatorDef(
            "macd",
            "MACD",
            "MACD",
            {
                "fast": _period(12, 2, 500),
                "slow": _period(26, 2, 1000),
                "signal": _period(9, 1, 500),
                "source": _source(),
            },
            ("macd", "signal", "histogram"),
            _macd,
        ),
        IndicatorDef(
            "bbands",
            "Bollinger bands",
            "布林通道",
            {
                "period": _period(20, 2, 1000),
                "deviations": ParamDef(float, 2.0, 0.1, 10.0),
                "source": _source(),
            },
            ("upper", "middle", "lower"),
            _bbands,
        ),
        IndicatorDef("atr", "ATR", "平均真實波幅 (ATR)", {"period": _period(14)}, ("value",), _atr),
        IndicatorDef(
            "stochastic",
            "stochastic oscillator",
            "隨機指標",
            {"k_period": _period(5), "d_period": _period(3, 1, 100), "slowing": _period(3, 1, 100)},
            ("k", "d"),
            _stochastic,
        ),
        IndicatorDef(
            "adx",
            "ADX",
            "平均趨向指數 (ADX)",
            {"period": _period(14, 2, 500)},
            ("adx", "plus_di", "minus_di"),
            _adx,
        ),
        IndicatorDef(
            "cci", "CCI", "順勢指標 (CCI)", {"period": _period(14, 2, 1000)}, ("value",), _cci
        ),
        IndicatorDef(
            "donchian",
            "Donchian channel",
            "唐奇安通道",
            {"period": _period(20)},
            ("upper", "middle", "lower"),
            _donchian,
        ),
        IndicatorDef(
            "highest",
            "highest",
            "最高值",
            {"period": _period(20), "source": _source("high")},
            ("value",),
            _highest,
        ),
        IndicatorDef(
            "lowest",
            "lowest",
            "最低值",
            {"period": _period(20), "source": _source("low")},
            ("value",),
            _lowest,
        ),
    )
}


def compute(name: str, bars: Bars, params: Mapping[str, Any]) -> dict[str, Array]:
    """Compute indicator ``name`` over ``bars`` with ``params`` (defaults filled in)."""
    return REGISTRY[name].compute(bars, **_arguments(name, params))


def compute_all(
    bars: Bars, requests: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[dict[str, Array]]:
    """``compute`` for each (name, params) of ``requests``, in their order; simple moving
    averages of one price two at a time (``sma_pair``: a crossover's two cost about one)."""
    results: dict[int, dict[str, Array]] = {}
    averages: dict[str, list[tuple[int, int]]] = {}  # price: (request, period) of its SMAs
    for k, (name, params) in enumerate(requests):
        if name == "sma":
            arguments = _arguments(name, params)
            averages.setdefault(arguments["source"], []).append((k, arguments["period"]))
        else:
            results[k] = compute(name, bars, params)
    for source, wanted in averages.items():
        values = price(bars, source)
        for start in range(0, len(wanted), 2):
            (k, period), *partner = wanted[start : start + 2]
            first, second = sma_pair(values, period, partner[0][1] if partner else 0)
            results[k] = {"value": first}
            if partner:
                results[partner[0][0]] = {"value": second}
    return [results[k] for k in range(len(requests))]


def _arguments(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: params.get(key, spec.default) for key, spec in REGISTRY[name].params.items()}
