"""The bundled sample: realistic forex bars generated deterministically, so the product runs offline.

The path is a minute-by-minute random walk with the features that matter to a backtest: the forex
week (Sunday 22:00 to Friday 22:00 UTC), quieter Asian hours and busier London/New York hours,
volatility that clusters, and a spread that widens around the 22:00 UTC rollover. Minutes are
aggregated to the asked timeframe, so highs and lows are the real extremes of the path. The same
arguments always give the same bars (the seed is derived from the symbol and start).

It is a stand-in for market data, not market data: use it for demos and tests, never to judge a
strategy.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from nl_trader.errors import InvalidInputError
from nl_trader.symbols import symbol_spec
from nl_trader.timeframes import TIMEFRAME_MINUTES

SAMPLE_START = datetime(2025, 6, 2, tzinfo=UTC)  # a Monday


# Levels of early June 2025, so the sample looks like the market a trader remembers.
_START_PRICE = {
    "EURUSD": 1.1420,
    "GBPUSD": 1.3540,
    "USDJPY": 143.50,
    "USDCHF": 0.8210,
    "USDCAD": 1.3720,
    "AUDUSD": 0.6450,
    "NZDUSD": 0.6000,
    "EURGBP": 0.8430,
    "EURJPY": 163.80,
    "GBPJPY": 194.30,
    "XAUUSD": 3380.0,
}
_ANNUAL_VOLATILITY = {"USDJPY": 0.09, "EURJPY": 0.09, "GBPJPY": 0.10, "XAUUSD": 0.14}
_MINUTES_PER_YEAR = 260 * 1440


def _is_open(minutes_utc: np.ndarray, start: datetime) -> np.ndarray:
    """Forex is open from Sunday 22:00 to Friday 22:00 UTC."""
    moments = pd.DatetimeIndex(start + pd.to_timedelta(minutes_utc, unit="m"))
    weekday = moments.day_of_week.to_numpy()
    hour = moments.hour.to_numpy()
    closed = (weekday == 5) | ((weekday == 4) & (hour >= 22)) | ((weekday == 6) & (hour < 22))
    return np.asarray(~closed)


def _session_factor(hours: np.ndarray) -> np.ndarray:
    factor = np.full(hours.shape, 0.55)  # Asia
    factor[(hours >= 7) & (hours < 12)] = 1.25  # London
    factor[(hours >= 12) & (hours < 17)] = 1.45  # London / New York overlap
    factor[(hours >= 17) & (hours < 21)] = 0.8
    return factor


@lru_cache(maxsize=32)
def _generate(symbol: str, timeframe: str, start: datetime, bars: int) -> pd.DataFrame:
    spec = symbol_spec(symbol)
    core = next((name for name in _START_PRICE if symbol.startswith(name)), "EURUSD")
    # One stream per component, each drawn in time order: the first N bars are the same whatever
    # `bars` is, so a short and a long replay of the sample show the same market.
    seed = zlib.crc32(f"{symbol}|{timeframe}|{start.isoformat()}".encode())
    rng_regime, rng_noise, rng_spread, rng_volume = (
        np.random.default_rng([seed, part]) for part in range(4)
    )
    step = TIMEFRAME_MINUTES[timeframe]
    # Enough calendar minutes for `bars` open bars: open time is 120/168 of the week.
    calendar_minutes = int(bars * step * 168 / 118) + 3 * 1440
    minutes = np.arange(calendar_minutes)
    minutes = minutes[_is_open(minutes, start)]
    hours = ((minutes // 60) + start.hour) % 24
    sigma = _ANNUAL_VOLATILITY.get(core, 0.07) / np.sqrt(_MINUTES_PER_YEAR)
    # Volatility clustering: a slow log-normal regime around 1.
    regime = np.exp(np.cumsum(rng_regime.normal(0.0, 0.004, minutes.size)) * 0.5)
    regime = regime / np.exp(
        pd.Series(np.log(regime)).rolling(5000, min_periods=1).mean().to_numpy()
    )
    noise = rng_noise.standard_t(df=4, size=minutes.size) / np.sqrt(2.0)
    returns = sigma * _session_factor(hours) * np.clip(regime, 0.4, 2.5) * noise
    mid = _START_PRICE[core] * np.exp(np.cumsum(returns))
    bucket = minutes // step
    frame = pd.DataFrame({"bucket": bucket, "price": mid})
    grouped = frame.groupby("bucket", sort=True)["price"]
    ohlc = grouped.agg(["first", "max", "min", "last", "size"]).iloc[:bars]
    if len(ohlc) < bars:
        raise InvalidInputError(
            [f"bars: could not generate {bars} {timeframe} bars"], what="sample"
        )
    times = pd.DatetimeIndex(start + pd.to_timedelta(ohlc.index.to_numpy() * step, unit="m"))
    bar_hours = times.hour.to_numpy()
    widen = np.where((bar_hours >= 21) & (bar_hours < 23), 3.0, np.where(bar_hours < 7, 1.4, 1.0))
    spread = np.round(
        spec.spread_points * widen * rng_spread.uniform(0.85, 1.25, len(ohlc))
    ).astype("int32")
    digits = spec.digits
    open_ = np.round(ohlc["first"].to_numpy(), digits)
    close = np.round(ohlc["last"].to_numpy(), digits)
    high = np.maximum(np.round(ohlc["max"].to_numpy(), digits), np.maximum(open_, close))
    low = np.minimum(np.round(ohlc["min"].to_numpy(), digits), np.minimum(open_, close))
    volume = (ohlc["size"].to_numpy() * rng_volume.integers(8, 40, len(ohlc))).astype("int64")
    result = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "tick_volume": volume,
            "spread": spread,
            "real_volume": np.zeros(len(ohlc), "int64"),
        },
        index=pd.DatetimeIndex(times, name="time"),
    )
    result.attrs.update(symbol=symbol, timeframe=timeframe, source="nl_trader generated sample")
    return result


def sample_bars(
    symbol: str = "EURUSD",
    timeframe: str = "M5",
    *,
    start: datetime = SAMPLE_START,
    bars: int = 5_000,
) -> pd.DataFrame:
    """Return ``bars`` deterministic bid bars of ``symbol`` from ``start`` (UTC), oldest first.

    Columns: open, high, low, close (bid), tick_volume, spread (points), real_volume; the index is
    the bar open time in UTC.
    """
    if timeframe not in TIMEFRAME_MINUTES:
        raise InvalidInputError(
            [f"timeframe: {timeframe!r} is not one of {', '.join(TIMEFRAME_MINUTES)}"],
            what="sample",
        )
    if bars <= 0:
        raise InvalidInputError([f"bars: must be more than 0, got {bars}"], what="sample")
    if start.tzinfo is None:
        raise InvalidInputError(["start: must be timezone-aware (UTC)"], what="sample")
    start = start.astimezone(UTC)
    return _generate(symbol, timeframe, start, bars).copy()
