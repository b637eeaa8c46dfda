"""A run's data: where its bars come from, recorded with the run and replayed from it.

``RunData`` describes the bars a backtest runs on: the bundled sample (``source="sample"``, with
its size in ``bars``) or a file (MT5, MT4, HistData, CSV, bid/ask; ``timezone`` of its times,
``timeframe`` of its bars when their spacing does not show it), the symbol, the first and last day
(UTC) and the files of the pairs that convert a cross pair's money to the account currency
(``convert``: ``PAIR=FILE``). A run stores it (``to_record``) and everything that replays the
run reads it back (``RunData.from_record``): a report's re-check, a paper session, an optimiser.

``load_run_data`` is the one loader: the bars at the strategy's timeframe (resampled from a lower
one), the M1 bars when the file holds M1 (for the path inside a bar), the conversion bars, and
the data's provenance (``DataInfo``), with every check on every path: a known timeframe, a file
of the strategy's timeframe or lower, conversion bars for every pair the account needs that cover
the first bar tested.

Errors name the field as the face that asked calls it (``names``: the CLI's ``--from``, a form's
field), ``data.FIELD`` by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError
from nl_trader.symbols import conversion_pairs
from nl_trader.timeframes import TIMEFRAME_MINUTES

SAMPLE = "sample"
DEFAULT_SAMPLE_BARS = 6_000  # bars of the bundled sample when a run does not say


class RunData(BaseModel):
    """Where a run's bars come from (module docstring). ``start``/``end`` are days, UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    source: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    start: str | None = Field(default=None, alias="from")
    end: str | None = Field(default=None, alias="to")
    bars: int | None = Field(default=None, ge=500)
    timezone: str | None = None
    timeframe: str | None = None
    convert: tuple[str, ...] = ()

    @property
    def is_sample(self) -> bool:
        return self.source == SAMPLE

    @classmethod
    def of(
        cls,
        source: str,
        symbol: str,
        *,
        start: str | None = None,
        end: str | None = None,
        sample_size: int | None = None,
        timezone: str | None = None,
        timeframe: str | None = None,
        convert: tuple[str, ...] | list[str] = (),
        names: Mapping[str, str] | None = None,
    ) -> RunData:
        """The description of a new run's data: a file's path (and each ``convert`` file's)
        made absolute, so the run replays from anywhere; the sample's size recorded."""
        values: dict[str, Any] = {"symbol": symbol, "from": start, "to": end}
        if source == SAMPLE:
            # A timeframe is kept only to be refused: the sample is made at the strategy's.
            values.update(
                source=SAMPLE, bars=sample_size or DEFAULT_SAMPLE_BARS, timeframe=timeframe
            )
        else:
            values.update(
                source=str(Path(source).resolve()),
                timezone=timezone,
                timeframe=timeframe,
                convert=tuple(_absolute_pair_file(item) for item in convert),
            )
        return cls.from_record(values, names=names)

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], *, names: Mapping[str, str] | None = None
    ) -> RunData:
        """A run's ``data`` as stored (``to_record``), checked; errors name each field."""
        try:
            data = cls.model_validate(dict(record))
        except ValidationError as error:
            problems = [
                f"{_name(names, '.'.join(str(p) for p in item['loc']))}: {item['msg']}"
                for item in error.errors(include_url=False)
            ]
            raise InvalidInputError(problems, what="run data") from None
        problems = data._problems(names)
        if problems:
            raise InvalidInputError(problems, what="run data")
        return data

    def to_record(self) -> dict[str, Any]:
        """The description as a run stores it (the keys earlier runs were recorded with)."""
        record: dict[str, Any] = {"source": self.source, "symbol": self.symbol}
        record.update({"from": self.start, "to": self.end})
        if self.is_sample:
            record["bars"] = self.bars or DEFAULT_SAMPLE_BARS
            return record
        record.update(timezone=self.timezone, convert=list(self.convert))
        if self.timeframe is not None:
            record["timeframe"] = self.timeframe
        return record

    def _problems(self, names: Mapping[str, str] | None) -> list[str]:
        problems = []
        if self.is_sample and self.timeframe is not None:
            problems.append(
                f"{_name(names, 'timeframe')}: the sample is made at the strategy's timeframe; "
                "give a bars file"
            )
        if self.timeframe is not None and self.timeframe.strip().upper() not in TIMEFRAME_MINUTES:
            problems.append(
                f"{_name(names, 'timeframe')}: {self.timeframe!r} is not an MT5 timeframe "
                f"({', '.join(TIMEFRAME_MINUTES)})"
            )
        for key, day in (("from", self.start), ("to", self.end)):
            if day:
                try:
                    pd.Timestamp(day, tz="UTC")
                except ValueError as error:
                    problems.append(f"{_name(names, key)}: {day!r} is not a day ({error})")
        for item in self.convert:
            pair, _, path = item.partition("=")
            if not pair.strip() or not path:
                problems.append(
                    f"{_name(names, 'convert')}: expected PAIR=FILE (e.g. "
                    f"USDJPY=usdjpy_h1.csv), got {item!r}"
                )
        return problems


@dataclass(frozen=True)
class DataInfo:
    """Where the bars came from, for provenance and the data section."""

    source: str
    format: str
    fingerprint: str
    rows: int
    timezone: str = "UTC"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedData:
    """A run's bars, ready to test: at the strategy's timeframe, M1 when the file held M1, the
    conversion pairs', and where they came from."""

    bars: pd.DataFrame
    m1_bars: pd.DataFrame | None
    conversion_bars: dict[str, pd.DataFrame]
    info: DataInfo
    warnings: tuple[str, ...] = field(default=())


def load_run_data(
    data: RunData,
    timeframe: str,
    account_currency: str,
    *,
    names: Mapping[str, str] | None = None,
) -> LoadedData:
    """The bars ``data`` describes for a strategy on ``timeframe`` with an account in
    ``account_currency``, each check applied (module docstring). A file that cannot be read is an
    ``OSError``; bad contents an ``InvalidInputError`` naming the field."""
    if data.is_sample:
        count = data.bars or DEFAULT_SAMPLE_BARS
        bars = window(
            sample_bars(data.symbol, timeframe, bars=count), data.start, data.end, names=names
        )
        digest = pd.util.hash_pandas_object(bars, index=True).to_numpy().tobytes()
        info = DataInfo(
            source=f"nl_trader generated sample ({data.symbol} {timeframe}, {count} bars)",
            format="sample",
            fingerprint=hashlib.sha256(digest).hexdigest(),
            rows=len(bars),
        )
        m1 = None
    else:
        bars, m1, info = _file_bars(data, timeframe, names)
        bars = window(bars, data.start, data.end, names=names)
        if m1 is not None:
            m1 = window(m1, data.start, data.end, names=names)
    conversions = {
        pair: window(frame, data.start, data.end, names=names)
        for pair, frame in _conversion_bars(data, timeframe, account_currency, names).items()
    }
    _check_coverage(bars, conversions, names)
    return LoadedData(bars, m1, conversions, info, info.warnings)


def window(
    bars: pd.DataFrame,
    start: str | None,
    end: str | None,
    *,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The bars from day ``start`` through day ``end`` (UTC), both included."""
    try:
        if start:
            bars = bars[bars.index >= pd.Timestamp(start, tz="UTC")]
        if end:
            bars = bars[bars.index < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]
    except ValueError as error:
        where = f"{_name(names, 'from')}/{_name(names, 'to')}"
        raise InvalidInputError([f"{where}: {error}"], what="run data") from None
    return bars


def _file_bars(
    data: RunData, timeframe: str, names: Mapping[str, str] | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, DataInfo]:
    from nl_trader.data.loaders import load_bars, resample

    loaded = load_bars(
        Path(data.source),
        symbol=data.symbol,
        timezone=data.timezone,
        timeframe=data.timeframe.strip().upper() if data.timeframe else None,
    )
    bars = loaded.bars
    info = DataInfo(
        source=data.source,
        format=loaded.format,
        fingerprint=loaded.fingerprint,
        rows=len(bars),
        timezone=str(loaded.source_timezone),
        warnings=tuple(loaded.warnings),
    )
    have = str(bars.attrs.get("timeframe", ""))
    if have == timeframe:
        return bars, None, info
    if have and TIMEFRAME_MINUTES.get(have, 10**9) < TIMEFRAME_MINUTES.get(timeframe, 0):
        return resample(bars, timeframe), (bars if have == "M1" else None), info
    raise InvalidInputError(
        [
            f"{_name(names, 'source')}: the strategy runs on {timeframe} bars but {data.source} "
            f"holds {have or 'unknown'} bars; give bars of that timeframe or lower"
        ],
        what="run data",
    )


def _conversion_bars(
    data: RunData, timeframe: str, account_currency: str, names: Mapping[str, str] | None
) -> dict[str, pd.DataFrame]:
    """Bars of the pairs that turn the symbol's money into the account currency: the sample's
    with the sample, else the ``convert`` files; a pair still missing is refused, named."""
    needed = conversion_pairs(data.symbol, account_currency)
    if not needed:
        return {}
    if data.is_sample:
        count = data.bars or DEFAULT_SAMPLE_BARS
        return {pair: sample_bars(pair, timeframe, bars=count) for pair in needed}
    from nl_trader.data.loaders import load_bars, resample

    frames: dict[str, pd.DataFrame] = {}
    for item in data.convert:
        pair, _, path = item.partition("=")
        pair = pair.strip().upper()
        bars = load_bars(Path(path), symbol=pair).bars
        have = str(bars.attrs.get("timeframe", ""))
        if (
            have
            and have != timeframe
            and TIMEFRAME_MINUTES.get(have, 0) < TIMEFRAME_MINUTES[timeframe]
        ):
            bars = resample(bars, timeframe)
        frames[pair] = bars
    missing = [pair for pair in needed if pair not in frames]
    if missing:
        flag = _name(names, "convert")
        raise InvalidInputError(
            [
                f"{flag}: {data.symbol}'s money converts to {account_currency} through "
                f"{', '.join(missing)}; give " + " ".join(f"{flag} {pair}=FILE" for pair in missing)
            ],
            what="run data",
        )
    return frames


def _check_coverage(
    bars: pd.DataFrame, conversions: Mapping[str, pd.DataFrame], names: Mapping[str, str] | None
) -> None:
    """Each conversion pair has bars from the first bar tested on: money is never converted at
    a price the pair did not have yet."""
    for pair, frame in conversions.items():
        if not len(bars):
            return
        if len(frame) and frame.index[0] <= bars.index[0]:
            continue
        flag = _name(names, "convert")
        if len(frame):
            first = f"{frame.index[0]:%Y-%m-%d}"
            problem = (
                f"{flag}: {pair}'s bars start {first}, after the first bar to test "
                f"({bars.index[0]:%Y-%m-%d}); pass {_name(names, 'from')} {first} or a longer file"
            )
        else:
            problem = f"{flag}: {pair} has no bars between {_name(names, 'from')} and {_name(names, 'to')}"
        raise InvalidInputError([problem], what="run data")


def _absolute_pair_file(item: str) -> str:
    pair, _, path = item.partition("=")
    return f"{pair}={Path(path).resolve()}" if path else item


def _name(names: Mapping[str, str] | None, key: str) -> str:
    return (names or {}).get(key, f"data.{key}")
