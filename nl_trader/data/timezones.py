"""The clocks bar files are written in, and their conversion to UTC.

Inside the program every bar time is timezone-aware UTC; files and MT5 servers speak wall-clock
time of some zone. A zone here is an IANA zone plus a fixed shift of its wall clock, which covers
the clocks forex data actually uses:

* ``"UTC"`` (also ``"GMT"``), and fixed offsets such as ``"UTC+2"`` or ``"UTC-05:00"``;
* any IANA name: ``"America/New_York"`` (raw HistData), ``"Europe/London"``;
* ``"broker"``: the usual MetaTrader server clock, New York time + 7 h, i.e. UTC+2 in northern
  winter and UTC+3 while the US is on daylight time, so that 17:00 New York (the forex day's
  roll) is 00:00 on the server and the week opens Monday 00:00;
* ``"ny+N"`` (``"ny+5"``, ``"ny+7"``, ``"ny"``): New York time shifted by N hours. ``"ny+5"`` is
  the clock of the "normalised" HistData files: UTC in northern winter, UTC+1 in US summer time;
* any IANA name shifted by whole hours, ``"Europe/London-5"``: for clocks that change on the
  European dates (last Sundays of March and October) rather than the US ones. ``"EET"`` is the
  MetaTrader server clock that does so (UTC+2, UTC+3 in European summer time).

US and European clocks change two to three weeks apart in March and one week apart around the
start of November; a file written in one and read as the other is an hour off in those weeks only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from nl_trader.errors import InvalidInputError

NEW_YORK = "America/New_York"

_NY_SHIFT = re.compile(r"^ny(?:(?P<sign>[+-])(?P<hours>\d{1,2}))?$")
_SHIFTED = re.compile(r"^(?P<base>.+?)(?P<sign>[+-])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?$")
_FIXED = re.compile(r"^(?:utc|gmt)(?P<sign>[+-])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?$")


@dataclass(frozen=True)
class SourceZone:
    """A wall clock: the local time of IANA zone ``base`` plus ``shift_minutes``."""

    name: str
    base: str
    shift_minutes: int
    description: str

    @property
    def is_utc(self) -> bool:
        return self.base == "UTC" and self.shift_minutes == 0


UTC_ZONE = SourceZone("UTC", "UTC", 0, "UTC")
BROKER_ZONE = SourceZone(
    "broker",
    NEW_YORK,
    7 * 60,
    "broker server time (New York + 7 h: UTC+2 in northern winter, UTC+3 in US summer time)",
)


def _fixed_offset(minutes: int) -> SourceZone:
    if minutes == 0:
        return UTC_ZONE
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    name = f"UTC{sign}{hours:02d}:{rest:02d}"
    return SourceZone(name, "UTC", minutes, f"fixed offset {name} (no daylight saving)")


def parse_zone(zone: str | SourceZone, *, field: str = "timezone") -> SourceZone:
    """Return the ``SourceZone`` named by ``zone``; an unknown name is an ``InvalidInputError``."""
    if isinstance(zone, SourceZone):
        return zone
    if not isinstance(zone, str) or not zone.strip():
        raise InvalidInputError([f"{field}: expected a zone name, got {zone!r}"], what="time zone")
    text = zone.strip()
    lowered = text.lower().replace(" ", "")
    if lowered in {"utc", "gmt", "z", "etc/utc", "utc+0", "gmt+0"}:
        return UTC_ZONE
    if lowered in {"broker", "server", "mt5", "ny+7"}:
        return BROKER_ZONE
    match = _NY_SHIFT.match(lowered)
    if match:
        hours = int(match.group("hours") or 0)
        if hours > 14:
            raise InvalidInputError(
                [f"{field}: {text!r} shifts New York time by {hours} h; at most 14 h"],
                what="time zone",
            )
        shift = hours * 60 * (-1 if match.group("sign") == "-" else 1)
        if shift == 0:
            return SourceZone("America/New_York", NEW_YORK, 0, "New York time (EST/EDT)")
        name = f"ny{match.group('sign')}{hours}"
        return SourceZone(name, NEW_YORK, shift, f"New York time {match.group('sign')} {hours} h")
    match = _FIXED.match(lowered)
    if match:
        minutes = int(match.group("hours")) * 60 + int(match.group("minutes") or 0)
        if minutes > 14 * 60:
            raise InvalidInputError(
                [f"{field}: {text!r} is more than 14 h from UTC"], what="time zone"
            )
        return _fixed_offset(-minutes if match.group("sign") == "-" else minutes)
    if _is_iana(text):
        return SourceZone(text, text, 0, text)
    match = _SHIFTED.match(text)
    if match and _is_iana(match.group("base")):
        base, sign = match.group("base"), match.group("sign")
        minutes = int(match.group("hours")) * 60 + int(match.group("minutes") or 0)
        if minutes > 14 * 60:
            raise InvalidInputError(
                [f"{field}: {text!r} shifts {base} time by more than 14 h"], what="time zone"
            )
        shift = -minutes if sign == "-" else minutes
        hours, rest = divmod(minutes, 60)
        amount = f"{hours}" + (f":{rest:02d}" if rest else "")
        return SourceZone(f"{base}{sign}{amount}", base, shift, f"{base} time {sign} {amount} h")
    raise InvalidInputError(
        [
            f"{field}: {text!r} is not a known zone; use 'UTC', 'broker' (New York + 7 h), "
            "'ny+5', a fixed offset such as 'UTC+2', an IANA name such as 'America/New_York' "
            "or 'EET', or an IANA name shifted by whole hours such as 'Europe/London-5'"
        ],
        what="time zone",
    )


def _is_iana(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_from_offset(offset_s: int, *, field: str = "server_utc_offset") -> SourceZone:
    """Return the fixed zone ``offset_s`` seconds east of UTC (7200 for a GMT+2 server)."""
    if isinstance(offset_s, bool) or offset_s % 900 != 0 or abs(offset_s) > 14 * 3600:
        raise InvalidInputError(
            [
                f"{field}: {offset_s!r} is not an offset in seconds that is a whole number of "
                f"quarter hours within ±14 h (a GMT+2 server is 7200)"
            ],
            what="time zone",
        )
    return _fixed_offset(offset_s // 60)


@dataclass(frozen=True)
class Conversion:
    """UTC times of wall-clock times, with the wall times that needed a choice."""

    utc: pd.DatetimeIndex
    ambiguous: np.ndarray  # positions of wall times that occur twice (clocks went back)
    nonexistent: np.ndarray  # positions of wall times that never occur (clocks went forward)


def wall_to_utc(wall: pd.DatetimeIndex, zone: SourceZone) -> Conversion:
    """Convert naive wall-clock times of ``zone`` to UTC.

    A wall time in the hour repeated when clocks go back is read as its first (daylight-time)
    occurrence; one in the hour skipped when clocks go forward is read as if the clock had not
    gone forward yet (02:30 becomes 03:30 summer time), which keeps the bars' spacing. Their
    positions are returned so the caller can say so.
    """
    local = wall - pd.Timedelta(minutes=zone.shift_minutes)
    empty = np.zeros(0, dtype=np.int64)
    if zone.base == "UTC":
        return Conversion(local.tz_localize("UTC"), empty, empty)
    strict = local.tz_localize(zone.base, ambiguous="NaT", nonexistent="NaT")
    unresolved = np.asarray(strict.isna()) & ~np.asarray(local.isna())
    if not unresolved.any():
        return Conversion(strict.tz_convert("UTC"), empty, empty)
    forward = local.tz_localize(
        zone.base, ambiguous=np.zeros(len(local), dtype=bool), nonexistent="NaT"
    )
    nonexistent = np.flatnonzero(np.asarray(forward.isna()) & unresolved)
    ambiguous = np.flatnonzero(unresolved & ~np.asarray(forward.isna()))
    resolved = local.tz_localize(
        zone.base, ambiguous=np.ones(len(local), dtype=bool), nonexistent=pd.Timedelta(hours=1)
    )
    return Conversion(resolved.tz_convert("UTC"), ambiguous, nonexistent)


def utc_to_wall(utc: pd.DatetimeIndex, zone: SourceZone) -> pd.DatetimeIndex:
    """Return the naive wall-clock times of ``zone`` for UTC times ``utc``."""
    local = utc.tz_convert(zone.base).tz_localize(None)
    return local + pd.Timedelta(minutes=zone.shift_minutes)


# ---- a clock's UTC offsets, as tables the compiled code reads --------------------------------
_DAY_S = 86_400
BEGINNING_S = -(2**62)  # the first row of an offset table starts here


def offset_at(zone: SourceZone, utc_s: int) -> int:
    """Seconds ``zone``'s wall clock is ahead of UTC at the instant ``utc_s``."""
    if zone.base == "UTC":
        return zone.shift_minutes * 60
    moment = datetime.fromtimestamp(utc_s, tz=ZoneInfo(zone.base))
    offset = moment.utcoffset()
    return int(offset.total_seconds() if offset is not None else 0) + zone.shift_minutes * 60


def offset_table(zone: SourceZone, start_s: int, end_s: int) -> np.ndarray:
    """The UTC offset of ``zone`` over ``start_s``..``end_s`` (UTC seconds) as int64 rows
    (from_utc_s, offset_s), each offset holding from its instant until the next row's; the first
    row starts at ``BEGINNING_S``. A fixed clock is one row; New York + 7 h over 2015-2023 is 19."""
    first = offset_at(zone, int(start_s))
    rows = [(BEGINNING_S, first)]
    if zone.base != "UTC":
        days = np.arange(int(start_s) // _DAY_S, int(end_s) // _DAY_S + 2, dtype=np.int64)
        utc = pd.DatetimeIndex(pd.to_datetime(days * _DAY_S, unit="s", utc=True))
        wall = utc_to_wall(utc, zone)
        offsets = wall.as_unit("s").asi8 - utc.tz_localize(None).as_unit("s").asi8
        for k in np.flatnonzero(offsets[1:] != offsets[:-1]).tolist():
            low, high = int(days[k]) * _DAY_S, int(days[k + 1]) * _DAY_S  # changes in (low, high]
            before = int(offsets[k])
            while high - low > 1:
                middle = (low + high) // 2
                if offset_at(zone, middle) == before:
                    low = middle
                else:
                    high = middle
            rows.append((high, int(offsets[k + 1])))
    return np.array(rows, dtype=np.int64)
