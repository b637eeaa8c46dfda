"""MT5 timeframes: their names, nominal lengths and MetaTrader5 constants, in one place.

W1 and MN1 have nominal lengths (7 days; a month counted as 30 days) where a length is needed;
weekly and monthly bars themselves follow the calendar (see ``nl_trader.data.loaders.resample``).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from nl_trader import mt5
from nl_trader.errors import InvalidInputError
from nl_trader.numeric import whole_units

TIMEFRAME_MINUTES: dict[str, int] = {
    "M1": 1, "M2": 2, "M3": 3, "M4": 4, "M5": 5, "M6": 6, "M10": 10, "M12": 12, "M15": 15,
    "M20": 20, "M30": 30, "H1": 60, "H2": 120, "H3": 180, "H4": 240, "H6": 360, "H8": 480,
    "H12": 720, "D1": 1440, "W1": 7 * 1440, "MN1": 30 * 1440,
}  # fmt: skip
TIMEFRAME_CODES: dict[str, int] = {
    name: getattr(mt5, f"TIMEFRAME_{name}") for name in TIMEFRAME_MINUTES
}


def timeframe_seconds(name: str) -> int:
    """The nominal length of a bar of ``name`` in seconds (3600 for H1)."""
    return TIMEFRAME_MINUTES[name] * 60


def timeframe_delta(name: str) -> timedelta:
    return timedelta(minutes=TIMEFRAME_MINUTES[name])


def epoch_seconds(index: pd.Index) -> np.ndarray:
    """Unix seconds of a timezone-aware bar index, whatever its resolution (ns, us, s)."""
    times = pd.DatetimeIndex(index)
    if times.tz is None:
        raise InvalidInputError(["bars: the index must be timezone-aware (UTC)"], what="bars")
    per_second = _TICKS_PER_SECOND.get(times.unit, 1)
    if per_second == 1:
        return times.asi8.astype("int64")
    seconds = np.empty(len(times), dtype=np.int64)
    if whole_units(times.asi8, per_second, seconds):  # whole seconds: the usual bars
        return seconds
    return times.as_unit("s").asi8.astype("int64")


_TICKS_PER_SECOND = {"ns": 1_000_000_000, "us": 1_000_000, "ms": 1_000}
