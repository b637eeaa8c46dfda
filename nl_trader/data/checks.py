"""Data-quality checks on bars, reported as plain sentences with counts and first examples.

Two kinds: repairs (rows that cannot be traded on are dropped, rows out of order are sorted,
repeated times keep their first row) and reports (weekend bars, holes inside the trading week,
placeholder spreads, ask below bid, a week that opens at an odd hour), which change nothing.
Every check works on the UTC index; the optional ``_line`` column carries the file line of each
row so a warning can point at it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nl_trader.data.timezones import NEW_YORK
from nl_trader.errors import InvalidInputError
from nl_trader.symbols import PRICE_RANGES, SymbolSpec, core_symbol

LINE = "_line"
PRICE_COLUMNS = ("open", "high", "low", "close")
ASK_COLUMNS = ("ask_open", "ask_high", "ask_low", "ask_close")
_DAY_S = 86_400
_WEEKEND_GAP_MAX_S = int(4.5 * _DAY_S)  # Friday close to Sunday/Monday open, plus a holiday


def count(n: int, word: str) -> str:
    """'1 bar', '2,000 bars'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _stamp(moment: pd.Timestamp) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _where(frame: pd.DataFrame, position: int) -> str:
    """'line 12 (2024-01-02 10:00 UTC)' for the row at ``position``."""
    moment = _stamp(frame.index[position])
    if LINE in frame.columns:
        return f"line {_line(frame, position):,} ({moment})"
    return moment


def _line(frame: pd.DataFrame, position: int) -> int:
    return int(frame[LINE].to_numpy()[position])


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    """Unix seconds of the bar times."""
    return pd.DatetimeIndex(frame.index).as_unit("s").asi8


def _utc_offset_hours(moments: pd.DatetimeIndex, zone: str) -> np.ndarray:
    local = moments.tz_convert(zone).tz_localize(None)
    return np.asarray((local - moments.tz_convert("UTC").tz_localize(None)).total_seconds()) / 3600


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:,.0f} h" if hours >= 10 else f"{hours:,.1f} h"


def _weekend_gaps(seconds: np.ndarray, step_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the gaps after each bar longer than one bar, and which are the weekend."""
    delta = np.diff(seconds)
    gaps = np.flatnonzero(delta > step_s)
    day_before = seconds[gaps] // _DAY_S
    day_after = seconds[gaps + 1] // _DAY_S
    weekday_before = (day_before + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    next_saturday = day_before + (5 - weekday_before) % 7
    weekend = (next_saturday <= day_after) & (delta[gaps] <= _WEEKEND_GAP_MAX_S)
    return gaps, weekend


def _week_opens(frame: pd.DataFrame, step_minutes: int) -> pd.DatetimeIndex:
    """Times of the first bar after each weekend."""
    gaps, weekend = _weekend_gaps(_seconds(frame), step_minutes * 60)
    return pd.DatetimeIndex(frame.index[gaps[weekend] + 1])


def drop_unusable_prices(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop rows with a price <= 0 or an impossible bar (high < low, open/close outside it)."""
    warnings: list[str] = []
    sides = [PRICE_COLUMNS]
    if all(column in frame.columns for column in ASK_COLUMNS):
        sides.append(ASK_COLUMNS)
    nonpositive = np.zeros(len(frame), dtype=bool)
    impossible = np.zeros(len(frame), dtype=bool)
    for open_, high, low, close in sides:
        o, h, lo, c = (frame[name].to_numpy() for name in (open_, high, low, close))
        nonpositive |= (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        impossible |= (h < lo) | (o < lo) | (o > h) | (c < lo) | (c > h)
    impossible &= ~nonpositive
    for mask, what in (
        (nonpositive, "a price of zero or less"),
        (impossible, "an impossible range (high below low, or open/close outside [low, high])"),
    ):
        positions = np.flatnonzero(mask)
        if positions.size:
            first = int(positions[0])
            row = frame.iloc[first]
            values = ", ".join(f"{name} {row[name]:g}" for name in PRICE_COLUMNS)
            warnings.append(
                f"prices: dropped {count(positions.size, 'row')} with {what}; "
                f"first at {_where(frame, first)}: {values}"
            )
    bad = nonpositive | impossible
    return (frame.loc[~bad] if bad.any() else frame), warnings


def sort_and_drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sort rows by time (stable) and keep the first of rows that share a time."""
    warnings: list[str] = []
    stamps = pd.DatetimeIndex(frame.index).as_unit("us").asi8
    backwards = np.flatnonzero(np.diff(stamps) < 0) + 1
    if backwards.size:
        first = int(backwards[0])
        warnings.append(
            f"order: {count(backwards.size, 'row')} came earlier in time than the row before; "
            f"the bars were sorted by time; first at {_where(frame, first)}"
        )
        order = np.argsort(stamps, kind="stable")
        frame = frame.iloc[order]
        stamps = stamps[order]
    repeated = np.flatnonzero(np.diff(stamps) == 0) + 1
    if repeated.size:
        first = int(repeated[0])
        kept = first - 1
        while kept > 0 and stamps[kept - 1] == stamps[first]:
            kept -= 1
        # A repeat is an exact copy when it equals the row just before it in time order
        # (compared a column at a time, so that a file of repeats is not copied whole).
        same = np.ones(repeated.size, dtype=bool)
        for column in (column for column in frame.columns if column != LINE):
            values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            same &= values[repeated] == values[repeated - 1]
        copies = int(np.sum(same))
        kind = (
            "all exact copies"
            if copies == repeated.size
            else f"{count(repeated.size - copies, 'row')} with different values"
        )
        kept_at = f"line {_line(frame, kept):,}" if LINE in frame.columns else "the first row"
        warnings.append(
            f"duplicates: dropped {count(repeated.size, 'row')} whose time repeats an earlier "
            f"row ({kind}), keeping the first; first at {_where(frame, first)}, "
            f"a repeat of {kept_at}"
        )
        keep = np.ones(len(frame), dtype=bool)
        keep[repeated] = False
        frame = frame.iloc[keep]
    return frame, warnings


def report_weekend_bars(frame: pd.DataFrame) -> list[str]:
    """Count bars on a Saturday (UTC), when the forex market is closed; they are kept."""
    index = pd.DatetimeIndex(frame.index)
    saturday = np.flatnonzero(np.asarray(index.day_of_week) == 5)
    if not saturday.size:
        return []
    return [
        f"weekend: {count(saturday.size, 'bar')} on a Saturday (UTC), when forex is closed "
        f"(kept; check the time zone); first at {_where(frame, int(saturday[0]))}"
    ]


def report_gaps(frame: pd.DataFrame, step_minutes: int) -> list[str]:
    """Count holes inside the trading week: consecutive bars further apart than one bar.

    A hole that spans a Saturday and is at most 4.5 days long is the weekend closure, not a hole.
    """
    if len(frame) < 2 or step_minutes >= 7 * 1440:
        return []
    seconds = _seconds(frame)
    step_s = step_minutes * 60
    delta = np.diff(seconds)
    gaps, weekend = _weekend_gaps(seconds, step_s)
    inside = gaps[~weekend]
    if not inside.size:
        return []
    missing = int(np.sum(delta[inside] // step_s - 1))
    long_ones = int(np.sum(delta[inside] - step_s > 3600))
    largest = int(inside[np.argmax(delta[inside])])
    return [
        f"gaps: {count(inside.size, 'hole')} inside the trading week ({missing:,} missing "
        f"bars), {long_ones:,} of them missing more than 1 h; largest: "
        f"{_hours(delta[largest])} from the bar at {_where(frame, largest)} to the next at "
        f"{_where(frame, largest + 1)}"
    ]


def report_spreads(frame: pd.DataFrame) -> list[str]:
    """Report a spread value that is a placeholder rather than a quote.

    A placeholder shows as one value far more frequent than its neighbours (6,009 bars at
    exactly 50 points while 49 and 51 almost never occur), or as one value on every bar.
    """
    if "spread" not in frame.columns or len(frame) < 20:
        return []
    spread = frame["spread"].to_numpy()
    values, counts = np.unique(spread, return_counts=True)
    if values.size == 1 and values[0] > 0:
        return [
            f"spread: every bar has the same spread, {int(values[0])} points: a fixed value, "
            "not the market's; a backtest will not see spreads widen"
        ]
    frequency = dict(zip(values.tolist(), counts.tolist(), strict=True))
    warnings: list[str] = []
    for value, bars in frequency.items():
        value, bars = int(value), int(bars)
        neighbours = frequency.get(value - 1, 0) + frequency.get(value + 1, 0)
        if value <= 0 or bars < max(20, 0.005 * len(spread)) or bars < 50 * (neighbours + 1):
            continue
        rest = spread[spread != value]
        typical = float(np.median(rest)) if rest.size else 0.0
        positions = np.flatnonzero(spread == value)
        warnings.append(
            f"spread: {count(bars, 'bar')} ({100 * bars / len(spread):.1f} %) carry exactly "
            f"{value} points while {value - 1} and {value + 1} occur on {neighbours:,} bars: a "
            f"placeholder, not a quote (median of the other bars {typical:g}); first at "
            f"{_where(frame, int(positions[0]))}, last at {_where(frame, int(positions[-1]))}"
        )
    return warnings


def report_ask_below_bid(frame: pd.DataFrame) -> list[str]:
    """Count bars whose ask open/high/low/close is below the bid's: impossible quotes."""
    if not all(column in frame.columns for column in ASK_COLUMNS):
        return []
    below = np.zeros(len(frame), dtype=bool)
    for bid, ask in zip(PRICE_COLUMNS, ASK_COLUMNS, strict=True):
        below |= frame[ask].to_numpy() < frame[bid].to_numpy()
    positions = np.flatnonzero(below)
    if not positions.size:
        return []
    first = int(positions[0])
    return [
        f"ask: {count(positions.size, 'bar')} with an ask price below the bid (kept, with a "
        f"negative spread); first at {_where(frame, first)}: bid close "
        f"{frame['close'].iat[first]:g}, ask close {frame['ask_close'].iat[first]:g}"
    ]


def report_week_open(frame: pd.DataFrame, step_minutes: int) -> list[str]:
    """Say when weeks do not open on Sunday evening New York time: a sign of a wrong time zone.

    The forex week opens on Sunday at 17:00 New York, summer and winter alike (gold and some
    feeds an hour or two later), so after a correct conversion most weeks' first bar falls on
    Sunday between 16:00 and 19:59 New York time.
    """
    if len(frame) < 2 or step_minutes > 60:
        return []
    opens = _week_opens(frame, step_minutes)
    if opens.size < 4:
        return []
    local = opens.tz_convert(NEW_YORK)
    hours = np.asarray(local.hour)
    weekdays = np.asarray(local.day_of_week)
    sunday_evening = (weekdays == 6) & (hours >= 16) & (hours <= 19)
    if np.mean(sunday_evening) >= 0.5:
        return []
    labels = pd.Series(
        [f"{day} {hour:02d}:00" for day, hour in zip(local.day_name(), hours, strict=True)]
    )
    common = labels.value_counts().index[0]
    return [
        f"time zone: after conversion most weeks open on {common} New York time, but forex "
        "weeks open on Sunday around 17:00 New York time; the file's clock is probably not the "
        "one assumed: pass timezone="
    ]


def report_clock_change_dates(frame: pd.DataFrame, step_minutes: int, zone_name: str) -> list[str]:
    """Say when the file's clock changes on other dates than the zone it was read in.

    US clocks go forward two to three weeks before European ones and back one week after. In
    those weeks a correctly converted week still opens at the New York hour of the other summer
    weeks; a file whose clock follows the other continent's dates opens an hour off.
    """
    if len(frame) < 2 or step_minutes > 60:
        return []
    opens = _week_opens(frame, step_minutes)
    if opens.size < 6:
        return []
    us_summer = _utc_offset_hours(opens, NEW_YORK) == -4
    eu_summer = _utc_offset_hours(opens, "Europe/London") == 1
    hours = np.asarray(opens.tz_convert(NEW_YORK).hour)
    between = us_summer & ~eu_summer
    summer = us_summer & eu_summer
    if between.sum() < 2 or summer.sum() < 4:
        return []
    usual = int(np.bincount(hours[summer]).argmax())
    if np.mean(hours[between] == usual) >= 0.5:
        return []
    odd = int(np.bincount(hours[between]).argmax())
    first = opens[between][hours[between] != usual][0]
    return [
        f"time zone: in {int(between.sum())} weeks between the US and European clock changes "
        f"the week opens at {odd:02d}:00 New York time after conversion, in the other summer "
        f"weeks at {usual:02d}:00 (first such week {first:%Y-%m-%d}): the file's clock changes "
        f"on other dates than {zone_name}, so those weeks are an hour off; pass the zone that "
        "matches (e.g. 'Europe/London' instead of 'ny+5', 'EET' instead of 'broker')"
    ]


# A median price this many times outside a symbol's range is another symbol's (EURUSD's 1.1 is
# 230 times below gold's lowest); closer to the range it is only doubtful.
_CLEAR_MISMATCH = 2.0


def symbol_fit(bars: pd.DataFrame, info: SymbolSpec, file_symbol: str | None) -> list[str]:
    """Check that ``bars`` can be ``info``'s quotes: by the symbol named in the file's name
    (``file_symbol``), the price scale against the symbol's range and its digits. A clear
    mismatch (gold's strategy on EURUSD's prices) is an ``InvalidInputError``; a doubtful one is
    a warning returned."""
    warnings: list[str] = []
    symbol = core_symbol(info.name)
    named = core_symbol(file_symbol) if file_symbol else None
    close = bars["close"].to_numpy(dtype="float64")
    sample = close[:: max(1, close.size // 10_000)]  # the price scale, not every price
    finite = sample[np.isfinite(sample)]
    if not finite.size:
        return warnings
    median = float(np.median(finite))
    if symbol is not None and symbol in PRICE_RANGES and median > 0:
        low, high = PRICE_RANGES[symbol]
        factor = max(low / median, median / high)
        if factor >= _CLEAR_MISMATCH:
            also = f" (the file's name says {named})" if named and named != symbol else ""
            raise InvalidInputError(
                [
                    f"data: prices around {median:g} are not {info.name}'s, which has traded "
                    f"between {low:g} and {high:g}{also}; give {info.name} bars, or --symbol "
                    "for the symbol these bars are"
                ],
                what="backtest",
            )
        if factor > 1.0:
            warnings.append(
                f"data: prices around {median:g} lie outside {info.name}'s usual "
                f"{low:g}-{high:g}; check that the file holds {info.name}"
            )
    if named is not None and symbol is not None and named != symbol:
        warnings.append(
            f"data: the file's name says {named} but the strategy trades {info.name}; its "
            f"prices are tested as {info.name}'s"
        )
    scaled = finite * 10.0**info.digits
    if np.mean(np.abs(scaled - np.round(scaled)) > 1e-6 * np.maximum(1.0, np.abs(scaled))) > 0.5:
        warnings.append(
            f"data: most prices have more decimals than {info.name}'s {info.digits}; they may be "
            "another symbol's quotes"
        )
    return warnings
