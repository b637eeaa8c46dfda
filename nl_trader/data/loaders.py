"""Bars from files and from MT5: the product's one way to turn market history into ``Bars``.

``Bars`` is the shape every stage after this one reads (the bundled sample has it too): a
DataFrame indexed by the bar OPEN time, timezone-aware UTC, named ``time``, ascending and unique;
float64 ``open``/``high``/``low``/``close`` (bid prices); int64 ``tick_volume``; int32 ``spread``
in points (0 when unknown); int64 ``real_volume``; and float64 ``ask_open``/``ask_high``/
``ask_low``/``ask_close`` when the source has ask prices (then ``spread`` is
``round((ask_close - close) / point)``). ``attrs`` holds ``symbol``, ``timeframe``, ``format``,
``source_timezone``, ``spread_source`` ("column", "ask" or "none": a file without spreads, its
``spread`` filled with 0) and where the bars came from.

Files are read in chunks, gzip unpacked as it comes, each chunk counted against the limits on
what a file may hold (``DEFAULT_MAX_DATA_BYTES``, ``DEFAULT_MAX_DATA_ROWS``; ``max_bytes=`` /
``max_rows=`` or NL_TRADER_MAX_DATA_BYTES / NL_TRADER_MAX_DATA_ROWS raise them), so a gzip bomb or
an endless stream stops at the limit; rows are parsed vectorised, a million at a time (a year of
M1 bars in a fraction of a second). Broken input raises ``InvalidInputError`` naming the file,
the line or column and the problem; integers too large for their column are refused, never
wrapped; data-quality findings (duplicates, holes, placeholder spreads, ...) come back as
warnings, see ``nl_trader.data.checks``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import stat
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from numbers import Integral
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from nl_trader.data import checks
from nl_trader.data.timezones import (
    BROKER_ZONE,
    UTC_ZONE,
    SourceZone,
    parse_zone,
    utc_to_wall,
    wall_to_utc,
    zone_from_offset,
)
from nl_trader.errors import InvalidInputError
from nl_trader.symbols import DEFAULT_SYMBOLS, symbol_spec
from nl_trader.timeframes import TIMEFRAME_MINUTES

BAR_COLUMNS = ("open", "high", "low", "close", "tick_volume", "spread", "real_volume")
ASK_COLUMNS = checks.ASK_COLUMNS
_DTYPES = {
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "tick_volume": "int64",
    "spread": "int32",
    "real_volume": "int64",
    **dict.fromkeys(ASK_COLUMNS, "float64"),
}

#: Every MT5 timeframe and its length in minutes (MN1 nominally 30 days).
TIMEFRAMES: dict[str, int] = TIMEFRAME_MINUTES

#: The formats ``load_bars`` reads, each with the clock its files are written in.
FORMATS: dict[str, str] = {
    "mt5": "MetaTrader 5 'Export bars' (<DATE> <TIME> <OPEN> ... <SPREAD>, tab or comma)",
    "mt5_unix": "MetaTrader5 Python rates saved as CSV (time,open,...,tick_volume,spread; Unix s)",
    "mt4": "MetaTrader 4 history CSV, no header (2021.01.04,00:00,open,high,low,close,volume)",
    "histdata": "HistData Generic ASCII M1, no header (20250101 170000;open;high;low;close;vol)",
    "histdata_prepared": "normalised HistData M1 with header (datetime;open;high;low;close;volume)",
    "lean_bidask": "QuantConnect Lean quote bars, no header (20070101 21:00,bid OHLC,size,ask OHLC,size)",
    "generic": "any CSV with a date/time column and open/high/low/close (comma, semicolon, tab)",
}
DEFAULT_TIMEZONES: dict[str, SourceZone] = {
    "mt5": BROKER_ZONE,
    "mt5_unix": BROKER_ZONE,
    "mt4": BROKER_ZONE,
    "histdata": parse_zone("America/New_York"),
    "histdata_prepared": parse_zone("ny+5"),
    "lean_bidask": UTC_ZONE,
    "generic": UTC_ZONE,
}
# MetaTrader servers start the week at server midnight whatever the market does, so the hour
# their weeks open says nothing about the dates their clocks change on.
_SERVER_FORMATS = frozenset({"mt5", "mt5_unix", "mt4"})


@dataclass(frozen=True)
class LoadResult:
    """Bars read from one file, what was found wrong with them, and how they were read."""

    bars: pd.DataFrame
    warnings: list[str]
    format: str
    fingerprint: str  # sha256 of the file's bytes as stored (compressed if gzip), hex
    source_timezone: str
    path: Path | None = None


# ---------------------------------------------------------------------------------------------
# Limits: how much text a bar file may hold

#: The most bytes of text a bar file may hold, unpacked (512 MiB; a year of EURUSD M1 bars is
#: about 20 MB), unless ``max_bytes=`` or the environment variable NL_TRADER_MAX_DATA_BYTES
#: ("8GB", "500MB", "3000000000") says otherwise. A 3 MB gzip that unpacks to 1 GB stops here.
DEFAULT_MAX_DATA_BYTES = 512 * 1024**2
#: The most bar rows a file may hold (10 million: some 27 years of M1 bars, a year being about
#: 372,000), unless ``max_rows=`` or NL_TRADER_MAX_DATA_ROWS ("50000000", "50M") says otherwise.
DEFAULT_MAX_DATA_ROWS = 10_000_000
MAX_BYTES_VARIABLE = "NL_TRADER_MAX_DATA_BYTES"
MAX_ROWS_VARIABLE = "NL_TRADER_MAX_DATA_ROWS"

_BYTE_UNITS = {
    "": 1,
    "b": 1,
    **{f"{prefix}b": 1000**power for power, prefix in enumerate("kmgt", start=1)},
    **{f"{prefix}ib": 1024**power for power, prefix in enumerate("kmgt", start=1)},
}
_ROW_UNITS = {"": 1, "k": 1000, "m": 1000**2}


@dataclass(frozen=True)
class _Limits:
    """The most a bar file may hold, and who set each limit (the messages say it)."""

    max_bytes: int
    max_rows: int
    bytes_set_by: str
    rows_set_by: str

    def too_big(self, path: Path, size: str) -> InvalidInputError:
        suggestion = _byte_text(4 * self.max_bytes)
        return _fail(
            path,
            f"file: {size} {self.max_bytes:,} bytes ({_size_text(self.max_bytes)}), "
            f"{self.bytes_set_by}; raise it with max_bytes= (load_bars) or the environment "
            f"variable {MAX_BYTES_VARIABLE} (e.g. {MAX_BYTES_VARIABLE}={suggestion})",
        )

    def too_many_rows(self, path: Path) -> InvalidInputError:
        return _fail(
            path,
            f"file: holds more than {self.max_rows:,} rows, {self.rows_set_by}; raise it with "
            f"max_rows= (load_bars) or the environment variable {MAX_ROWS_VARIABLE} (e.g. "
            f"{MAX_ROWS_VARIABLE}={4 * self.max_rows})",
        )


def _size_text(size: int) -> str:
    """'2 GiB', '1.5 MiB', '900 bytes'."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


def _byte_text(size: int) -> str:
    """A size as the environment variable takes it: '8GiB', '400MB', '4000'."""
    for unit in ("TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "KB"):
        scale = _BYTE_UNITS[unit.lower()]
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def _parse_count(text: str, units: Mapping[str, int]) -> int | None:
    """'8GB', '1.5GiB', '20_000_000', '50M' as a whole number; None when it is none."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text.strip().lower().replace("_", ""))
    if match is None or match[2] not in units:
        return None
    return int(Decimal(match[1]) * units[match[2]])


def _limit(
    given: int | None, name: str, variable: str, default: int, units: Mapping[str, int]
) -> tuple[int, str]:
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, Integral) or given < 1:
            raise InvalidInputError(
                [f"{name}: {given!r} is not a whole number of at least 1"], what="load_bars"
            )
        return int(given), f"the limit set by {name}="
    text = os.environ.get(variable, "").strip()
    if not text:
        return default, "the default limit"
    value = _parse_count(text, units)
    if value is None or value < 1:
        example = "8GB" if units is _BYTE_UNITS else "50000000"
        raise InvalidInputError(
            [f"{variable}: {text!r} is not a positive whole number (e.g. {variable}={example})"],
            what="environment",
        )
    return value, f"the limit set by {variable}={text}"


def _limits(max_bytes: int | None, max_rows: int | None) -> _Limits:
    """The limits of one read: the arguments, else the environment, else the defaults."""
    bytes_, bytes_by = _limit(
        max_bytes, "max_bytes", MAX_BYTES_VARIABLE, DEFAULT_MAX_DATA_BYTES, _BYTE_UNITS
    )
    rows, rows_by = _limit(
        max_rows, "max_rows", MAX_ROWS_VARIABLE, DEFAULT_MAX_DATA_ROWS, _ROW_UNITS
    )
    return _Limits(bytes_, rows, bytes_by, rows_by)


# ---------------------------------------------------------------------------------------------
# Reading bytes: in chunks, each counted before it is kept, so that a file past a limit stops at
# the first chunk beyond it (a gzip bomb inflates no further than the limit, /dev/zero stops at
# its first chunk)

_READ_BYTES = 1 << 20  # read from the file at a time; also the most one inflation step gives
_HEAD_BYTES = 4096  # the first bytes, that show a zip, a binary file or UTF-16 text
_SCAN_BYTES = 1 << 26  # scanned at a time for newlines and for bytes that are not UTF-8
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"


def _fail(path: Path | str, *problems: str) -> InvalidInputError:
    return InvalidInputError(list(problems), what=f"bar file {str(path)!r}")


def _read_text(path: Path, limits: _Limits) -> tuple[bytes, str]:
    """The file's text as UTF-8 bytes (gunzipped, without a byte-order mark) and the sha256 of
    its bytes as stored."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            chunk = stream.read(_READ_BYTES)
            inflater = _Inflater(path) if chunk[:2] == _GZIP_MAGIC else None
            if inflater is None:
                status = os.fstat(stream.fileno())
                if stat.S_ISREG(status.st_mode) and status.st_size > limits.max_bytes:
                    raise limits.too_big(path, f"is {status.st_size:,} bytes, more than")
            sink = _Sink(path, limits, "unpacks to more than" if inflater else "holds more than")
            while chunk:
                digest.update(chunk)
                for piece in inflater.feed(chunk) if inflater else (chunk,):
                    sink.add(piece)
                chunk = stream.read(_READ_BYTES)
            if inflater is not None:
                inflater.finish()
    except FileNotFoundError:
        raise _fail(path, "path: no such file") from None
    except IsADirectoryError:
        raise _fail(path, "path: is a directory, not a file") from None
    except OSError as error:
        raise _fail(path, f"path: cannot be read ({error.strerror or error})") from None
    return _transcode(sink.text(), path), digest.hexdigest()


class _Inflater:
    """Gunzip in pieces of at most ``_READ_BYTES``, member after member (as ``gzip.decompress``
    does, zero padding between members allowed); zlib checks each member's CRC and length."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._member: Any = None  # the zlib decompressor of the member being read

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            if self._member is None:
                data = data.lstrip(b"\x00")
                if not data:
                    return
                self._member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            try:
                piece = self._member.decompress(data, _READ_BYTES)
            except zlib.error as error:
                raise self._broken(str(error)) from None
            if piece:
                yield piece
            if self._member.eof:
                data, self._member = self._member.unused_data, None
            else:
                data = self._member.unconsumed_tail
                if not data and len(piece) < _READ_BYTES:
                    return  # the member wants more input (a full piece may leave output behind)

    def finish(self) -> None:
        if self._member is not None:
            raise self._broken("it ends before the end of the compressed stream")

    def _broken(self, why: str) -> InvalidInputError:
        return _fail(self._path, f"gzip: the compressed data is broken or truncated ({why})")


class _Sink:
    """The text pieces, each counted against the limits before it is kept. The first bytes are
    held until the checks on them (zip, binary) have passed."""

    def __init__(self, path: Path, limits: _Limits, size_words: str) -> None:
        self._path = path
        self._limits = limits
        self._size_words = size_words
        self._size = 0
        self._lines = 0
        self._head = bytearray()
        self._body: BytesIO | None = None

    def add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self._limits.max_bytes:
            raise self._limits.too_big(self._path, self._size_words)
        self._lines += piece.count(b"\n")
        if self._lines > self._limits.max_rows + 1:  # one line more for a header
            raise self._limits.too_many_rows(self._path)
        if self._body is not None:
            self._body.write(piece)
            return
        self._head += piece
        if len(self._head) >= _HEAD_BYTES:
            self._start_body()

    def _start_body(self) -> BytesIO:
        head = bytes(self._head)
        _check_head(head, self._path)
        self._body = BytesIO()
        self._body.write(head[len(_UTF8_BOM) :] if head.startswith(_UTF8_BOM) else head)
        self._head = bytearray()
        return self._body

    def text(self) -> bytes:
        body = self._body if self._body is not None else self._start_body()
        return body.getvalue()  # the buffer itself, not a copy, once nothing else holds it


def _utf16_codec(data: bytes) -> str | None:
    """The codec of UTF-16 text, which MetaTrader writes when a script does not ask for ANSI."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if len(data) > 3 and data[1:80:2].count(0) > 30:
        return "utf-16-le"
    return None


def _check_head(head: bytes, path: Path) -> None:
    """Refuse, on its first bytes, a file that is no text at all."""
    if head[:4] == b"PK\x03\x04":
        raise _fail(path, "file: is a zip archive; extract the CSV inside it first")
    sample = head[:_HEAD_BYTES]
    codec = _utf16_codec(head)
    if codec is not None:
        sample = sample[: len(sample) // 2 * 2].decode(codec, errors="ignore").encode()
    if b"\x00" in sample:
        raise _fail(path, "file: is binary, not a text bar file (an MT4 .hst file?)")


def _transcode(data: bytes, path: Path) -> bytes:
    """UTF-16 text as UTF-8; refuse text that holds nothing."""
    codec = _utf16_codec(data)
    if codec is not None:
        try:
            data = data.decode(codec).encode("utf-8")
        except UnicodeDecodeError:
            raise _fail(path, "file: looks like UTF-16 text but does not decode as it") from None
    if not data or data.isspace():
        raise _fail(path, "file: is empty")
    return data


def _newline_offsets(data: bytes) -> np.ndarray:
    """Offsets of the newline bytes of ``data``, found a slice at a time."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    found = [
        np.flatnonzero(buffer[start : start + _SCAN_BYTES] == 10) + start
        for start in range(0, buffer.size, _SCAN_BYTES)
    ]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _physical_lines(data: bytes, newlines: np.ndarray) -> np.ndarray:
    """1-based numbers of the non-blank lines of ``data`` (its ``newlines`` at these offsets),
    the lines the CSV parser reads."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [buffer.size]))
    lengths = ends - starts
    carriage = np.zeros(starts.size, dtype=bool)
    single = np.flatnonzero(lengths == 1)
    carriage[single] = buffer[starts[single]] == 13
    blank = (lengths == 0) | carriage
    return np.flatnonzero(~blank) + 1


def _line_text(data: bytes, line: int) -> str:
    """The text of physical line ``line`` (1-based), for a message."""
    newlines = _newline_offsets(data)
    start = 0 if line == 1 else int(newlines[line - 2]) + 1
    end = int(newlines[line - 1]) if line - 1 < newlines.size else len(data)
    return data[start:end].decode("utf-8", errors="replace").rstrip("\r")


def _first_not_utf8(data: bytes) -> int | None:
    """The offset of the first byte of ``data`` that is not UTF-8, or None."""
    start = 0
    while start < len(data):
        # Cut after a newline: no UTF-8 sequence spans one.
        cut = data.find(b"\n", min(start + _SCAN_BYTES, len(data)))
        end = len(data) if cut < 0 else cut + 1
        try:
            data[start:end].decode("utf-8")
        except UnicodeDecodeError as error:
            return start + error.start
        start = end
    return None


# ---------------------------------------------------------------------------------------------
# Layout: separator, header, which field is what, and the time format


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "bidopen", "openbid", "openprice"),
    "high": ("high", "h", "bidhigh", "highbid", "highprice"),
    "low": ("low", "l", "bidlow", "lowbid", "lowprice"),
    "close": ("close", "c", "bidclose", "closebid", "closeprice"),
    "ask_open": ("askopen", "openask"),
    "ask_high": ("askhigh", "highask"),
    "ask_low": ("asklow", "lowask"),
    "ask_close": ("askclose", "closeask"),
    "tick_volume": ("tickvol", "tickvolume", "ticks", "tickcount"),
    "real_volume": ("realvolume", "realvol"),
    "volume": ("volume", "vol", "v"),
    "spread": ("spread", "spreadpoints"),
}
_TIME_ALIASES = (
    "datetime",
    "timestamp",
    "time",
    "date",
    "gmttime",
    "localtime",
    "opentime",
    "timeopen",
    "datetimeutc",
    "timeutc",
    "timestamputc",
    "bartime",
    "dt",
)

# (pattern of the first timestamp, strptime format or "unix_s"/"unix_ms", carries its offset)
_TIME_STYLES: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(pattern + r"$"), style, aware)
    for pattern, style, aware in (
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "%Y-%m-%d %H:%M:%S", False),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", "%Y-%m-%dT%H:%M:%S", False),
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "%Y-%m-%d %H:%M", False),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", "%Y-%m-%dT%H:%M", False),
        (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d{1,9}", "ISO8601", False),
        (
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})",
            "ISO8601",
            True,
        ),
        (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d", False),
        (r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}", "%Y.%m.%d %H:%M:%S", False),
        (r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}", "%Y.%m.%d %H:%M", False),
        (r"\d{4}\.\d{2}\.\d{2}", "%Y.%m.%d", False),
        (r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}", "%Y/%m/%d %H:%M:%S", False),
        (r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}", "%Y/%m/%d %H:%M", False),
        (r"\d{8} \d{6}", "%Y%m%d %H%M%S", False),
        (r"\d{8} \d{2}:\d{2}:\d{2}", "%Y%m%d %H:%M:%S", False),
        (r"\d{8} \d{2}:\d{2}", "%Y%m%d %H:%M", False),
        (r"\d{8}", "%Y%m%d", False),
        (
            r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}\.\d{3} GMT[+-]\d{4}",
            "%d.%m.%Y %H:%M:%S.%f GMT%z",
            True,
        ),
        (r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}\.\d{3}", "%d.%m.%Y %H:%M:%S.%f", False),
        (r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}", "%d.%m.%Y %H:%M:%S", False),
        (r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}", "%d.%m.%Y %H:%M", False),
        (r"\d{9,10}", "unix_s", False),
        (r"\d{12,13}", "unix_ms", False),
    )
)
_EXAMPLES = (
    "2024-01-02 10:00:00, 2024.01.02 10:00, 20240102 100000, 02.01.2024 10:00:00, Unix seconds"
)


def _time_style(text: str) -> tuple[str, bool] | None:
    for pattern, style, aware in _TIME_STYLES:
        if pattern.match(text):
            return style, aware
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Sniff:
    """What the first lines of a file show."""

    sep: str
    header: tuple[str, ...] | None
    first_row: tuple[str, ...]
    header_line: int  # 0-based index of the header (or first data) line among physical lines

    @property
    def first_line(self) -> str:
        return self.sep.join(self.header if self.header is not None else self.first_row)


def _sniff(data: bytes, path: Path) -> _Sniff:
    head = data[:65_536].decode("utf-8", errors="replace").splitlines()
    numbered = [(number, line) for number, line in enumerate(head) if line.strip()]
    if not numbered:
        raise _fail(path, "file: is empty")
    first = numbered[0][1]
    sep = "\t" if "\t" in first else ";" if ";" in first else ","
    fields = tuple(field.strip() for field in next(csv.reader([first], delimiter=sep)))
    fields = tuple(
        field.strip("<>").strip() if field.startswith("<") else field for field in fields
    )
    if len(fields) > 1 and not any(_is_number(field) for field in fields[1:]):
        if len(numbered) < 2:
            raise _fail(path, f"file: has a header line ({first.strip()!r}) but no bars")
        row = tuple(field.strip() for field in next(csv.reader([numbered[1][1]], delimiter=sep)))
        return _Sniff(sep, fields, row, numbered[0][0])
    return _Sniff(sep, None, fields, numbered[0][0])


@dataclass(frozen=True)
class _Layout:
    sep: str
    has_header: bool
    skip_lines: int
    names: tuple[str, ...]  # display name of each field, for messages
    time_fields: tuple[int, ...]
    columns: dict[str, int]  # canonical column -> field position
    time_style: str
    aware: bool


def _time_text(row: tuple[str, ...], fields: tuple[int, ...]) -> str:
    return " ".join(row[i].strip() for i in fields if i < len(row))


def _header_layout(sniff: _Sniff, names: tuple[str, ...], path: Path) -> _Layout:
    normalised = [_normalise(name) for name in names]
    columns: dict[str, int] = {}
    for role, aliases in _ALIASES.items():
        found = [i for i, name in enumerate(normalised) if name in aliases]
        if len(found) > 1:
            duplicates = ", ".join(repr(names[i]) for i in found)
            raise _fail(path, f"header: columns {duplicates} all look like {role!r}")
        if found:
            columns[role] = found[0]
    if "volume" in columns:
        volume = columns.pop("volume")
        if "tick_volume" not in columns:
            columns["tick_volume"] = volume
        elif "real_volume" not in columns:
            columns["real_volume"] = volume
    if "date" in normalised and "time" in normalised:
        time_fields: tuple[int, ...] = (normalised.index("date"), normalised.index("time"))
    else:
        found_time = next((alias for alias in _TIME_ALIASES if alias in normalised), None)
        if found_time is None:
            raise _fail(
                path,
                f"header: no date/time column among {', '.join(repr(n) for n in names)} "
                f"(expected one named like {', '.join(_TIME_ALIASES[:5])})",
            )
        time_fields = (normalised.index(found_time),)
    missing = [role for role in checks.PRICE_COLUMNS if role not in columns]
    if missing:
        raise _fail(
            path,
            *(
                f"column {role!r}: not found in the header ({', '.join(repr(n) for n in names)})"
                for role in missing
            ),
        )
    asks = [role for role in ASK_COLUMNS if role in columns]
    if asks and len(asks) < len(ASK_COLUMNS):
        lacking = ", ".join(role for role in ASK_COLUMNS if role not in columns)
        raise _fail(path, f"header: has some ask columns but not {lacking}")
    return _finish_layout(sniff, names, time_fields, columns, path, has_header=True)


def _finish_layout(
    sniff: _Sniff,
    names: tuple[str, ...],
    time_fields: tuple[int, ...],
    columns: dict[str, int],
    path: Path,
    *,
    has_header: bool,
) -> _Layout:
    sample = _time_text(sniff.first_row, time_fields)
    style = _time_style(sample)
    if style is None:
        field = " + ".join(repr(names[i]) for i in time_fields)
        line = sniff.header_line + (2 if has_header else 1)
        raise _fail(
            path,
            f"line {line}, column {field}: {sample!r} is not a date and time this loader knows "
            f"(examples it reads: {_EXAMPLES})",
        )
    return _Layout(
        sep=sniff.sep,
        has_header=has_header,
        skip_lines=sniff.header_line + (1 if has_header else 0),
        names=names,
        time_fields=time_fields,
        columns=columns,
        time_style=style[0],
        aware=style[1],
    )


_HEADERLESS: dict[str, tuple[re.Pattern[str], tuple[str, ...], str]] = {
    # format: (pattern of the first line, roles of the fields in order, the layout in words)
    "mt4": (
        re.compile(r"^\d{4}\.\d{2}\.\d{2},\d{2}:\d{2}(:\d{2})?,"),
        ("date", "time", "open", "high", "low", "close", "tick_volume"),
        "2021.01.04,00:00,open,high,low,close,volume with commas and no header",
    ),
    "histdata": (
        re.compile(r"^\d{8} \d{6};"),
        ("datetime", "open", "high", "low", "close", "tick_volume"),
        "20250101 170000;open;high;low;close;volume with semicolons and no header",
    ),
    "lean_bidask": (
        re.compile(r"^\d{8} \d{2}:\d{2},([^,]*,){9}[^,]*$"),
        ("datetime", "open", "high", "low", "close", "bid_size", *ASK_COLUMNS, "ask_size"),
        "20070101 21:00, bid open, high, low, close, size, ask open, high, low, close, size",
    ),
}


def _headerless_layout(fmt: str, sniff: _Sniff, path: Path) -> _Layout:
    pattern, roles, words = _HEADERLESS[fmt]
    if sniff.header is not None or not pattern.match(sniff.first_line.strip()):
        raise _fail(
            path,
            f"format: the file does not look like {fmt} ({words}); its first line is "
            f"{sniff.first_line.strip()[:120]!r}",
        )
    count = len(sniff.first_row)
    minimum = roles.index("close") + 1
    if count < minimum:
        raise _fail(path, f"line {sniff.header_line + 1}: {count} fields, {fmt} needs {minimum}")
    names = tuple(roles[i] if i < len(roles) else f"field {i + 1}" for i in range(count))
    time_fields = (0, 1) if names[1] == "time" else (0,)
    columns = {
        role: i
        for i, role in enumerate(names)
        if role in checks.PRICE_COLUMNS or role in ASK_COLUMNS or role == "tick_volume"
    }
    return _finish_layout(sniff, names, time_fields, columns, path, has_header=False)


def _detect(sniff: _Sniff) -> str | None:
    if sniff.header is None:
        line = sniff.first_line.strip()
        return next(
            (fmt for fmt, (pattern, _, _) in _HEADERLESS.items() if pattern.match(line)), None
        )
    normalised = [_normalise(name) for name in sniff.header]
    if sniff.sep == ";" and normalised == ["datetime", "open", "high", "low", "close", "volume"]:
        return "histdata_prepared"
    if "time" in normalised and "tickvolume" in normalised:
        position = normalised.index("time")
        if position < len(sniff.first_row) and re.fullmatch(r"\d{9,10}", sniff.first_row[position]):
            return "mt5_unix"
    if "date" in normalised and "time" in normalised and sniff.sep == "\t":
        return "mt5"
    if any(re.match(r"\d{4}\.\d{2}\.\d{2}( |$)", field) for field in sniff.first_row[:2]):
        # MetaTrader writes dates as 2024.01.02; a headed file with them is a terminal export.
        return "mt5"
    return "generic"


def _layout(fmt: str | None, sniff: _Sniff, path: Path) -> tuple[str, _Layout]:
    if fmt is None:
        detected = _detect(sniff)
        if detected is None:
            raise _fail(
                path,
                f"format: cannot tell the format from the first line "
                f"{sniff.first_line.strip()[:120]!r}; give the file a header line naming its "
                "columns (time,open,high,low,close,...), which reads as generic CSV, or pass "
                f"format= to load_bars (one of {', '.join(FORMATS)})",
            )
        fmt = detected
    if fmt in _HEADERLESS:
        return fmt, _headerless_layout(fmt, sniff, path)
    if sniff.header is None:
        raise _fail(
            path,
            f"format: {fmt} files start with a header line, this one starts with "
            f"{sniff.first_line.strip()[:120]!r}",
        )
    layout = _header_layout(sniff, sniff.header, path)
    if fmt == "mt5_unix" and not layout.time_style.startswith("unix"):
        raise _fail(
            path,
            f"format: mt5_unix files hold Unix seconds in 'time', this one holds "
            f"{_time_text(sniff.first_row, layout.time_fields)!r}",
        )
    return fmt, layout


# ---------------------------------------------------------------------------------------------
# Parsing


_CHUNK_ROWS = 1_000_000  # rows parsed at a time: their time text is freed before the next


@dataclass(frozen=True)
class _Rows:
    """The rows of a file as numbers: bar times (the file's clock, or UTC when the file gives
    offsets), each numeric field's values, and the file line of each row."""

    times: pd.DatetimeIndex
    values: dict[str, np.ndarray]  # canonical column -> float64 values
    lines: np.ndarray


def _csv_options(layout: _Layout) -> dict[str, Any]:
    return {
        "sep": layout.sep,
        "header": None,
        "names": [f"f{i}" for i in range(len(layout.names))],
        "skiprows": layout.skip_lines,
        "index_col": False,
        "engine": "c",
        "skipinitialspace": True,
        "encoding": "utf-8",
        "chunksize": _CHUNK_ROWS,
    }


def _chunk_lines(lines: np.ndarray, done: int, size: int, layout: _Layout) -> np.ndarray:
    """The file lines of the ``size`` rows after the first ``done``."""
    if done + size <= lines.size:
        return lines[done : done + size]
    return np.arange(done, done + size, dtype=np.int64) + layout.skip_lines + 1


def _read_rows(data: bytes, layout: _Layout, path: Path, limits: _Limits) -> _Rows:
    """Parse the rows, a chunk at a time, into times and numbers."""
    numeric = set(layout.columns.values())
    options = _csv_options(layout)
    dtypes = {
        label: ("float64" if i in numeric else "str") for i, label in enumerate(options["names"])
    }
    newlines = _newline_offsets(data)
    lines = _physical_lines(data, newlines)
    lines = lines[lines > layout.skip_lines]
    # A row a line: room for every line, reserved by np.empty without touching the memory.
    capacity = newlines.size + 1
    del newlines
    stamps = np.empty(capacity, dtype=np.int64)
    values = {role: np.empty(capacity, dtype=np.float64) for role in layout.columns}
    done = 0
    example: str | None = None
    # Only an empty field is missing; 'NA' or 'nan' in a price column is reported as written.
    missing: dict[str, Any] = {"keep_default_na": False, "na_values": [""]}
    try:
        with pd.read_csv(BytesIO(data), dtype=dtypes, **options, **missing) as reader:
            for chunk in reader:
                size = len(chunk)
                if done + size > limits.max_rows:
                    raise limits.too_many_rows(path)
                if done + size > stamps.size:  # lines that end in a carriage return alone
                    stamps = np.concatenate((stamps[:done], np.empty(2 * size, np.int64)))
                    values = {
                        role: np.concatenate((array[:done], np.empty(2 * size)))
                        for role, array in values.items()
                    }
                at = _chunk_lines(lines, done, size, layout)
                times = _parse_times(chunk, layout, at, path, example)
                stamps[done : done + size] = times.asi8
                for role, position in layout.columns.items():
                    values[role][done : done + size] = chunk[f"f{position}"].to_numpy(np.float64)
                if example is None and size:
                    example = " ".join(str(chunk[f"f{i}"].iat[0]) for i in layout.time_fields)
                done += size
    except InvalidInputError:
        raise
    except pd.errors.EmptyDataError:
        pass  # no rows: said by the caller
    except pd.errors.ParserError as error:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if match:
            expected, line, found = match.groups()
            raise _fail(path, f"line {int(line):,}: {found} fields, expected {expected}") from None
        raise _fail(path, f"file: cannot be parsed as CSV ({error})") from None
    except UnicodeDecodeError:
        raise _fail(path, _not_utf8(data, layout)) from None
    except ValueError:
        raise _not_a_number(data, layout, lines, path) from None
    times = pd.DatetimeIndex(stamps[:done].view("datetime64[us]"))
    if layout.aware:
        times = times.tz_localize("UTC")
    final = lines if lines.size == done else _chunk_lines(lines[:0], 0, done, layout)
    return _Rows(times, {role: array[:done] for role, array in values.items()}, final)


def _not_utf8(data: bytes, layout: _Layout) -> str:
    """Where the first byte that is not UTF-8 sits: its line, column and byte in the line."""
    offset = _first_not_utf8(data)
    if offset is None:
        return "file: is not UTF-8 text"
    start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    field = data.count(layout.sep.encode(), start, offset)
    column = f", column {layout.names[field]!r}" if field < len(layout.names) else ""
    return (
        f"line {line:,}{column}, byte {offset - start + 1:,} of the line: 0x{data[offset]:02X} "
        "is not UTF-8 text; save the file as UTF-8 (a bar file needs only ASCII)"
    )


def _not_a_number(data: bytes, layout: _Layout, lines: np.ndarray, path: Path) -> InvalidInputError:
    """The first numeric field that is not a number, found by reading the fields as text."""
    options = _csv_options(layout)
    numeric = sorted(set(layout.columns.values()))
    done = 0
    with pd.read_csv(BytesIO(data), dtype=str, keep_default_na=False, **options) as reader:
        for chunk in reader:
            at = _chunk_lines(lines, done, len(chunk), layout)
            for position in numeric:
                column = chunk[f"f{position}"]
                text = column.str.strip()
                values = pd.to_numeric(text, errors="coerce")
                bad = np.flatnonzero(values.isna().to_numpy() & (text != "").to_numpy())
                if bad.size:
                    row = int(bad[0])
                    return _fail(
                        path,
                        f"line {at[row]:,}, column {layout.names[position]!r}: "
                        f"{column.iat[row]!r} is not a number",
                    )
            done += len(chunk)
    return _fail(path, "file: a field is not a number (could not locate it)")


# Bar times must fit datetime64[ns] (years 1677 to 2262), which pandas and the engine use.
_MAX_UNIX_S = np.iinfo(np.int64).max // 1_000_000_000


def _parse_times(
    table: pd.DataFrame, layout: _Layout, lines: np.ndarray, path: Path, example: str | None
) -> pd.DatetimeIndex:
    """The times of one chunk of rows; ``example`` is the file's first time text, None when the
    chunk is the file's first."""
    labels = [f"f{i}" for i in layout.time_fields]
    text = table[labels[0]]
    for label in labels[1:]:
        text = text.str.cat(table[label], sep=" ")
    display = " + ".join(repr(layout.names[i]) for i in layout.time_fields)
    missing = np.flatnonzero(text.isna().to_numpy())
    if missing.size:
        raise _fail(path, f"line {lines[int(missing[0])]}, column {display}: missing date/time")
    style = layout.time_style
    if style.startswith("unix"):
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        unit: Literal["s", "ms"] = "s" if style == "unix_s" else "ms"
        words = "seconds" if unit == "s" else "milliseconds"
        if bad.size:
            row = int(bad[0])
            raise _fail(
                path,
                f"line {lines[row]:,}, column {display}: {text.iat[row]!r} is not a whole number "
                f"of Unix {words}",
            )
        bound = _MAX_UNIX_S * (1 if unit == "s" else 1000)
        far = np.flatnonzero(np.abs(numbers) > bound)
        if far.size:
            row = int(far[0])
            raise _fail(
                path,
                f"line {lines[row]:,}, column {display}: {text.iat[row]!r} is beyond the "
                f"{bound:,} Unix {words} of a bar time (years 1677 to 2262)",
            )
        times = pd.DatetimeIndex(pd.to_datetime(numbers.astype(np.int64), unit=unit))
    else:
        fmt = style
        iso = (
            None
            if layout.aware or fmt == _ISO
            else _fixed_width_iso(text.to_numpy(dtype=object), fmt)
        )
        try:
            if iso is not None:
                times = pd.DatetimeIndex(pd.to_datetime(iso, format=_ISO, errors="coerce"))
            else:
                parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=layout.aware)
                times = pd.DatetimeIndex(parsed)
        except (ValueError, TypeError) as error:
            raise _fail(path, f"column {display}: the dates cannot be parsed ({error})") from None
        bad = np.flatnonzero(np.asarray(times.isna()))
        if bad.size:
            row = int(bad[0])
            first = example if example is not None else text.iat[0]
            like = f"like {first!r}" if row or example is not None else f"in the form {fmt!r}"
            raise _fail(
                path,
                f"line {lines[row]:,}, column {display}: {text.iat[row]!r} is not a date and time "
                f"{like}",
            )
    return times.as_unit("us")


_ISO = "%Y-%m-%d %H:%M:%S"
_FIELD_WIDTHS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}


def _fixed_width_iso(values: np.ndarray, fmt: str) -> np.ndarray | None:
    """Rewrite fixed-width stamps such as '20250101 170000' as ISO text, which pandas parses
    many times faster than a general format; None when ``fmt`` or a value does not fit."""
    positions: dict[str, int] = {}
    literals: list[tuple[int, int]] = []
    width, i = 0, 0
    while i < len(fmt):
        if fmt[i] == "%":
            field = fmt[i + 1 : i + 2]
            if field not in _FIELD_WIDTHS:
                return None
            positions[field] = width
            width += _FIELD_WIDTHS[field]
            i += 2
        else:
            literals.append((width, ord(fmt[i])))
            width += 1
            i += 1
    if not {"Y", "m", "d"} <= set(positions) or not values.size:
        return None
    try:
        raw = values.astype(f"S{width + 1}")
    except (UnicodeEncodeError, ValueError, TypeError):
        return None
    grid = np.frombuffer(raw.tobytes(), dtype=np.uint8).reshape(-1, width + 1)
    fits = (grid[:, width] == 0).all() and bool((grid[:, width - 1] != 0).all())
    fits = fits and all(bool((grid[:, at] == code).all()) for at, code in literals)
    digits = [at for field, at in positions.items() for at in range(at, at + _FIELD_WIDTHS[field])]
    if not fits or not bool(((grid[:, digits] >= 48) & (grid[:, digits] <= 57)).all()):
        return None
    iso = np.full((grid.shape[0], 19), ord("0"), dtype=np.uint8)
    for field, start in (("Y", 0), ("m", 5), ("d", 8), ("H", 11), ("M", 14), ("S", 17)):
        if field in positions:
            size = _FIELD_WIDTHS[field]
            iso[:, start : start + size] = grid[:, positions[field] : positions[field] + size]
    for at, code in ((4, "-"), (7, "-"), (10, " "), (13, ":"), (16, ":")):
        iso[:, at] = ord(code)
    return iso.view("S19").ravel().astype("U19")


def symbol_from_name(path: Path | str) -> str | None:
    """The known symbol a file's name carries (``EURUSD`` in ``EURUSD_M1_2024.csv``), or None."""
    tokens = re.split(r"[^A-Z]+", Path(path).name.upper())
    return next((token for token in tokens if token in DEFAULT_SYMBOLS), None)


def server_zone_of(bars: pd.DataFrame) -> SourceZone | None:
    """The trade server's clock ``bars`` were written in, when they come from a MetaTrader
    server (an MT5 or MT4 export, ``copy_rates``); None for other sources."""
    if bars.attrs.get("format") not in _SERVER_FORMATS | {"mt5_rates"}:
        return None
    zone = bars.attrs.get("source_timezone")
    try:
        return parse_zone(str(zone)) if zone else None
    except InvalidInputError:
        return None  # "UTC (offsets in the file)": the server's clock is not in the file


def _point_from_prices(prices: np.ndarray) -> float:
    """The smallest price step the quotes use: 0.00001 for 1.23456."""
    sample = prices[:: max(1, prices.size // 20_000)]
    for digits in range(9):
        scaled = sample * 10.0**digits
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return float(10.0**-digits)
    return 1e-9


def _check_timeframe(timeframe: str, field: str = "timeframe") -> str:
    if timeframe not in TIMEFRAMES:
        raise InvalidInputError(
            [f"{field}: {timeframe!r} is not an MT5 timeframe ({', '.join(TIMEFRAMES)})"],
            what="timeframe",
        )
    return timeframe


def infer_timeframe(times: pd.DatetimeIndex) -> str:
    """Return the MT5 timeframe whose length is the median spacing of ``times`` (sorted)."""
    if len(times) < 2:
        raise InvalidInputError(
            ["timeframe: cannot be inferred from fewer than two bars"], what="timeframe"
        )
    spacing_s = float(np.median(np.diff(times.as_unit("s").asi8)))
    minutes = spacing_s / 60
    for name, length in TIMEFRAMES.items():
        if name != "MN1" and minutes == length:
            return name
    if 28 * 1440 <= minutes <= 31 * 1440:
        return "MN1"
    raise InvalidInputError(
        [f"timeframe: bars are a median {minutes:g} minutes apart, which is no MT5 timeframe"],
        what="timeframe",
    )


# What a person can do when the spacing of the bars does not show their timeframe.
_TIMEFRAME_HINT = (
    "say which it is: timeframe='M1' to load_bars, --timeframe M1 to nl-trader backtest"
)
_ATTRS_TIMEFRAME_HINT = "say which it is: set bars.attrs['timeframe'] (e.g. 'M1')"


def _source_timeframe(index: pd.DatetimeIndex) -> str:
    """The timeframe of bars that do not carry it in their attrs, from their spacing."""
    try:
        return infer_timeframe(index)
    except InvalidInputError as error:
        raise InvalidInputError(
            [f"{problem}; {_ATTRS_TIMEFRAME_HINT}" for problem in error.problems],
            what=error.what,
        ) from None


def _check_fits(values: np.ndarray, name: str, index: pd.DatetimeIndex, what: str) -> None:
    """Refuse values that an integer bar column cannot hold, before they are narrowed to it."""
    dtype = np.dtype(_DTYPES[name])
    if dtype.kind != "i" or values.dtype.kind not in "fiu":
        return
    info = np.iinfo(dtype)
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values < info.min) | (values >= float(info.max) + 1)
    elif values.dtype.kind == "u":
        bad = values > info.max
    elif values.dtype.itemsize > dtype.itemsize:
        bad = (values < info.min) | (values > info.max)
    else:
        return
    positions = np.flatnonzero(bad)
    if positions.size:
        row = int(positions[0])
        moment = f" ({index[row]:%Y-%m-%d %H:%M} UTC)" if row < len(index) else ""
        raise InvalidInputError(
            [
                f"{name}: {values[row].item()} on row {row + 1:,}{moment} does not fit the "
                f"column ({info.min:,} to {info.max:,})"
            ],
            what=what,
        )


def _bars_frame(
    columns: Mapping[str, np.ndarray], index: pd.DatetimeIndex, *, what: str = "bars"
) -> pd.DataFrame:
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    for name, values in arrays.items():
        _check_fits(values, name, index, what)
    frame = pd.DataFrame(
        {name: values.astype(_DTYPES[name]) for name, values in arrays.items()},
        index=pd.DatetimeIndex(index.as_unit("us"), name="time"),
    )
    return frame


def _to_utc(
    times: pd.DatetimeIndex,
    layout: _Layout,
    fmt: str,
    zone_given: SourceZone | None,
    lines: np.ndarray,
    warnings: list[str],
) -> tuple[pd.DatetimeIndex, str]:
    """UTC times of the file's times, and the name of the clock they were read in."""
    if layout.aware:
        if zone_given is not None:
            warnings.append(
                "time zone: the file's times carry their own UTC offsets; "
                f"timezone={zone_given.name!r} was not used"
            )
        return times.tz_convert("UTC"), "UTC (offsets in the file)"
    zone = zone_given or DEFAULT_TIMEZONES[fmt]
    if zone_given is None:
        warnings.append(
            f"time zone: assumed {zone.description}, the default for {fmt} files; if the "
            "file uses another clock, say which: timezone= to load_bars, --timezone to "
            "nl-trader backtest"
        )
    conversion = wall_to_utc(times, zone)
    for positions, what, choice in (
        (conversion.ambiguous, "repeat when they go back", "the first (summer-time) pass"),
        (conversion.nonexistent, "skip when they go forward", "if they had not gone forward"),
    ):
        if positions.size:
            row = int(positions[0])
            warnings.append(
                f"time zone: {checks.count(positions.size, 'bar time')} in the hour that "
                f"{zone.name} clocks {what}; read as {choice}; first "
                f"{times[row]:%Y-%m-%d %H:%M} on line {lines[row]:,}"
            )
    return conversion.utc, zone.name


# A float64 holds every whole number up to 2**53 exactly: a volume read beyond it would not be
# the file's value (and int64 ends soon after).
_MAX_EXACT = 2**53
_MAX_SPREAD_POINTS = int(np.iinfo(np.int32).max)


def _whole_numbers(
    values: np.ndarray, role: str, where: _Where, lines: np.ndarray, warnings: list[str]
) -> np.ndarray:
    negative = np.flatnonzero(values < 0)
    if negative.size:
        raise where(role, int(negative[0]), "is negative")
    large = np.flatnonzero(values > _MAX_EXACT)
    if large.size:
        raise where(
            role,
            int(large[0]),
            f"is more than {_MAX_EXACT:,}, the largest {role.replace('_', ' ')} read exactly",
        )
    rounded = np.round(values)
    fractional = np.flatnonzero(rounded != values)
    if fractional.size:
        row = int(fractional[0])
        warnings.append(
            f"{where.name(role)}: rounded {checks.count(fractional.size, 'value')} with a "
            f"fractional part; first {values[row]:g} on line {lines[row]:,}"
        )
    return rounded.astype(np.int64)


class _Where:
    """Refusals of one field: 'line 4, column 'SPREAD': 1000000000000 is ...', the value as the
    file writes it."""

    def __init__(self, rows: _Rows, layout: _Layout, data: bytes, path: Path) -> None:
        self._rows = rows
        self._layout = layout
        self._data = data
        self._path = path

    def name(self, role: str) -> str:
        return self._layout.names[self._layout.columns[role]]

    def __call__(self, role: str, row: int, problem: str) -> InvalidInputError:
        line = int(self._rows.lines[row])
        value = float(self._rows.values[role][row])
        position = self._layout.columns[role]
        fields = _line_text(self._data, line).split(self._layout.sep)
        written = fields[position].strip() if position < len(fields) else ""
        if not (_is_number(written) and float(written) == value):
            written = f"{value:g}"  # the line holds another value: the numbering is off
        return _fail(self._path, f"line {line:,}, column {self.name(role)!r}: {written} {problem}")


def _numbers(
    rows: _Rows, layout: _Layout, data: bytes, path: Path, warnings: list[str]
) -> tuple[dict[str, np.ndarray], bool]:
    """The price, volume and spread columns, checked; and whether there are ask prices."""
    values, lines = rows.values, rows.lines
    where = _Where(rows, layout, data, path)
    for role, array in values.items():
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            row = int(bad[0])
            name = layout.names[layout.columns[role]]
            problem = "missing value" if np.isnan(array[row]) else f"{array[row]} is not finite"
            raise _fail(path, f"line {lines[row]:,}, column {name!r}: {problem}")
    columns: dict[str, np.ndarray] = {role: values[role] for role in checks.PRICE_COLUMNS}
    has_ask = all(role in values for role in ASK_COLUMNS)
    for role in ("tick_volume", "real_volume"):
        if role in values:
            columns[role] = _whole_numbers(values[role], role, where, lines, warnings)
        else:
            columns[role] = np.zeros(len(lines), dtype=np.int64)
    if has_ask:
        columns.update({role: values[role] for role in ASK_COLUMNS})
    elif "spread" in values:
        spread = values["spread"]
        fractional = np.flatnonzero(spread != np.round(spread))
        if fractional.size:
            raise where(
                "spread",
                int(fractional[0]),
                "is not a whole number of points; give the spread in points (EURUSD: 1 pip = "
                "10 points)",
            )
        negative = np.flatnonzero(spread < 0)
        if negative.size:
            raise where("spread", int(negative[0]), "is negative; a spread is 0 points or more")
        large = np.flatnonzero(spread > _MAX_SPREAD_POINTS)
        if large.size:
            raise where(
                "spread",
                int(large[0]),
                f"is more than the {_MAX_SPREAD_POINTS:,} points a spread can hold; give the "
                "spread in points (EURUSD: 1 pip = 10 points)",
            )
        columns["spread"] = spread.astype(np.int64)
    return columns, has_ask


def load_bars(
    path: str | Path,
    *,
    format: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    timezone: str | None = None,
    point: float | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
) -> LoadResult:
    """Read one bar file (plain or gzip) into ``Bars`` with UTC times, and check its quality.

    ``format`` is detected from the content when None (see ``FORMATS``). ``timezone`` is the clock
    the file's times are written in: "UTC", "broker" (MetaTrader server time, New York + 7 h:
    UTC+2 in winter, UTC+3 in US summer time), "ny+5", a fixed offset ("UTC+2") or an IANA name;
    None takes the format's documented default (``DEFAULT_TIMEZONES``) and says so in the
    warnings. ``symbol`` defaults to a known symbol in the file name (``EURUSD_M1_2024.csv``);
    ``timeframe`` to the one the median bar spacing shows. ``point`` (0.00001 on EURUSD) is only
    needed to turn ask prices into a spread in points when the symbol is unknown.

    ``max_bytes`` is the most text the file may hold once unpacked, ``max_rows`` the most bar
    rows; None takes NL_TRADER_MAX_DATA_BYTES / NL_TRADER_MAX_DATA_ROWS from the environment,
    else ``DEFAULT_MAX_DATA_BYTES`` (512 MiB) / ``DEFAULT_MAX_DATA_ROWS`` (10 million). Both are
    counted while the file is read and unpacked, so a file past them stops there.
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise InvalidInputError(
            [f"format: {format!r} is not one of {', '.join(FORMATS)}"], what="load_bars"
        )
    if timeframe is not None:
        _check_timeframe(timeframe)
    zone_given = parse_zone(timezone) if timezone is not None else None
    if point is not None and not (isinstance(point, int | float) and 0 < point < 1e6):
        raise InvalidInputError(
            [f"point: {point!r} is not a positive price step (EURUSD: 0.00001)"], what="load_bars"
        )
    limits = _limits(max_bytes, max_rows)
    try:
        return _load(path, format, symbol, timeframe, zone_given, point, limits)
    except MemoryError:
        # Within the limits, yet more than this machine holds: say so rather than crash.
        raise _fail(
            path,
            "file: this machine ran out of memory reading it; split it into shorter spans, or "
            "lower the limits (max_bytes=, max_rows=, NL_TRADER_MAX_DATA_BYTES, "
            "NL_TRADER_MAX_DATA_ROWS) so that such files are refused before they are read",
        ) from None


def _load(
    path: Path,
    format: str | None,
    symbol: str | None,
    timeframe: str | None,
    zone_given: SourceZone | None,
    point: float | None,
    limits: _Limits,
) -> LoadResult:
    """``load_bars`` once its options are checked."""
    data, fingerprint = _read_text(path, limits)
    sniff = _sniff(data, path)
    fmt, layout = _layout(format, sniff, path)
    rows = _read_rows(data, layout, path, limits)
    if not len(rows.times):
        raise _fail(path, "file: has no bar rows")
    lines = rows.lines
    warnings: list[str] = []

    utc, zone_name = _to_utc(rows.times, layout, fmt, zone_given, lines, warnings)
    columns, has_ask = _numbers(rows, layout, data, path, warnings)
    del data, rows  # the text is no longer needed, and ``columns`` holds what ``working`` needs
    working = pd.DataFrame(columns, index=utc)
    working[checks.LINE] = lines
    del columns

    # Symbol and point.
    resolved_symbol = symbol or symbol_from_name(path)
    if symbol is None and resolved_symbol is not None:
        warnings.append(f"symbol: {resolved_symbol} read from the file name")
    if symbol is None and resolved_symbol is None:
        warnings.append("symbol: not given and not in the file name; pass symbol=")

    # Repairs, then the timeframe (it needs clean, sorted times), then reports.
    working, found = checks.drop_unusable_prices(working)
    warnings += found
    working, found = checks.sort_and_drop_duplicates(working)
    warnings += found
    if working.empty:
        raise _fail(path, "prices: no row has usable prices")
    index = pd.DatetimeIndex(working.index)
    if timeframe is None:
        try:
            resolved_timeframe = infer_timeframe(index)
        except InvalidInputError as error:
            dropped = len(lines) - len(index)
            detail = (
                f" (of the file's {len(lines):,} rows, {checks.count(dropped, 'row')} repeat an "
                "earlier time or have unusable prices)"
                if dropped
                else ""
            )
            raise _fail(
                path, *(f"{problem}{detail}; {_TIMEFRAME_HINT}" for problem in error.problems)
            ) from None
        warnings.append(f"timeframe: {resolved_timeframe} from the median spacing of the bars")
    else:
        resolved_timeframe = timeframe
        if len(index) > 1:
            try:
                spaced = infer_timeframe(index)
            except InvalidInputError:
                spaced = "no MT5 timeframe"
            if spaced != timeframe:
                warnings.append(
                    f"timeframe: given {timeframe}, but the bars are spaced like {spaced}"
                )
    if has_ask:
        bar_point = point
        if bar_point is None and resolved_symbol is not None:
            try:
                bar_point = symbol_spec(resolved_symbol).point
            except InvalidInputError:
                bar_point = None
        if bar_point is None:
            bar_point = _point_from_prices(working["close"].to_numpy())
            warnings.append(
                f"spread: point {bar_point:g} taken from the decimals of the prices (no known "
                "symbol); pass point= to load_bars to be sure"
            )
        ask_minus_bid = working["ask_close"].to_numpy() - working["close"].to_numpy()
        spread = np.round(ask_minus_bid / bar_point)
        far = np.flatnonzero(np.abs(spread) > _MAX_SPREAD_POINTS)
        if far.size:
            row = int(far[0])
            ask, bid = (layout.names[layout.columns[role]] for role in ("ask_close", "close"))
            raise _fail(
                path,
                f"line {int(working[checks.LINE].to_numpy()[row]):,}, columns {ask!r} and {bid!r}: "
                f"ask {working['ask_close'].iat[row]:g} and bid {working['close'].iat[row]:g} "
                f"are {abs(spread[row]):,.0f} points of {bar_point:g} apart, more than the "
                f"{_MAX_SPREAD_POINTS:,} a spread can hold",
            )
        working["spread"] = spread.astype(np.int64)
    spread_source = "ask" if has_ask else "column" if "spread" in working.columns else "none"
    if spread_source == "none":
        working["spread"] = 0
    step = TIMEFRAMES[resolved_timeframe]
    warnings += checks.report_weekend_bars(working)
    warnings += checks.report_gaps(working, step)
    warnings += checks.report_week_open(working, step)
    if fmt not in _SERVER_FORMATS:
        warnings += checks.report_clock_change_dates(working, step, zone_name)
    if has_ask:
        warnings += checks.report_ask_below_bid(working)
    else:
        warnings += checks.report_spreads(working)

    order = list(BAR_COLUMNS) + (list(ASK_COLUMNS) if has_ask else [])
    bars = _bars_frame({name: working[name].to_numpy() for name in order}, index)
    bars.attrs.update(
        symbol=resolved_symbol,
        timeframe=resolved_timeframe,
        format=fmt,
        source_timezone=zone_name,
        source=str(path),
        fingerprint=fingerprint,
        spread_source=spread_source,  # "column", "ask" (from bid/ask prices) or "none" (0 filled)
    )
    return LoadResult(
        bars=bars,
        warnings=warnings,
        format=fmt,
        fingerprint=fingerprint,
        source_timezone=zone_name,
        path=path,
    )


# ---------------------------------------------------------------------------------------------
# MT5 rates


_RATES_FIELDS = ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume")


def bars_from_rates(
    rates: np.ndarray | pd.DataFrame | None,
    *,
    symbol: str,
    timeframe: str,
    server_utc_offset: int | str,
) -> pd.DataFrame:
    """Turn what MT5's ``copy_rates_*`` returned into ``Bars`` with UTC times.

    MT5 stamps bars with the trade server's wall clock encoded as if it were UTC.
    ``server_utc_offset`` is that clock: seconds east of UTC when it is fixed (7200 for GMT+2),
    or a zone name when it follows daylight saving ("broker": UTC+2 in winter, UTC+3 in US
    summer time, the usual MetaTrader server).
    """
    _check_timeframe(timeframe)
    if rates is None:
        raise InvalidInputError(
            ["rates: got None, so copy_rates_* failed; see the terminal's last_error()"],
            what="MT5 rates",
        )
    zone = (
        parse_zone(server_utc_offset, field="server_utc_offset")
        if isinstance(server_utc_offset, str)
        else zone_from_offset(server_utc_offset)
    )
    if isinstance(rates, pd.DataFrame):
        names = {str(column) for column in rates.columns}
    elif isinstance(rates, np.ndarray):
        names = set(rates.dtype.names or ())
    else:
        raise InvalidInputError(
            [
                f"rates: expected the structured array copy_rates_* returns, got {type(rates).__name__}"
            ],
            what="MT5 rates",
        )
    missing = [field for field in _RATES_FIELDS[:5] if field not in names]
    if missing:
        raise InvalidInputError(
            [f"rates: missing field {field!r}" for field in missing], what="MT5 rates"
        )
    time_raw = np.asarray(rates["time"])
    if isinstance(rates, pd.DataFrame) and np.issubdtype(time_raw.dtype, np.datetime64):
        wall = pd.DatetimeIndex(time_raw)
    else:
        wall = pd.DatetimeIndex(pd.to_datetime(time_raw.astype(np.int64), unit="s"))
    utc = wall_to_utc(wall.tz_localize(None) if wall.tz is not None else wall, zone).utc
    size = len(wall)
    columns = {
        name: (np.asarray(rates[name]) if name in names else np.zeros(size)) for name in BAR_COLUMNS
    }
    bars = _bars_frame(columns, utc, what="MT5 rates")
    if not bars.index.is_monotonic_increasing or not bars.index.is_unique:
        bars = bars.sort_index(kind="stable")
        bars = bars.loc[~bars.index.duplicated(keep="first")]
    bars.attrs.update(
        symbol=symbol,
        timeframe=timeframe,
        format="mt5_rates",
        source_timezone=zone.name,
        source="MT5 copy_rates",
        spread_source="column" if "spread" in names else "none",
    )
    return bars


# ---------------------------------------------------------------------------------------------
# Resampling

_AGGREGATE = {
    "open": "first",
    "high": "max",
    "low": "min",
    "close": "last",
    "tick_volume": "sum",
    "spread": "min",  # MT5 shows the smallest spread seen in the bar
    "real_volume": "sum",
    "ask_open": "first",
    "ask_high": "max",
    "ask_low": "min",
    "ask_close": "last",
}
_US_PER_MINUTE = 60_000_000
_US_PER_DAY = 1440 * _US_PER_MINUTE


def resample(bars: pd.DataFrame, timeframe: str, *, timezone: str = "UTC") -> pd.DataFrame:
    """Aggregate ``bars`` to the higher MT5 ``timeframe``: open first, high max, low min, close
    last, volumes summed, spread the minimum (as MT5 shows it), ask columns likewise.

    Bar boundaries are those of the wall clock of ``timezone``: with "UTC" a D1 bar runs from
    00:00 to 24:00 UTC; with "broker" it is the daily bar of a GMT+2/+3 MetaTrader server (from
    17:00 New York), so that no Sunday stub appears. W1 bars start on Monday 00:00, MN1 on the
    first of the month. Time zones that change their clocks mid-week give the bar that spans
    the change one hour more or less, as a server would.
    """
    target = _check_timeframe(timeframe)
    zone = parse_zone(timezone)
    if not isinstance(bars, pd.DataFrame):
        raise InvalidInputError(
            [f"bars: expected a DataFrame, got {type(bars).__name__}"], what="bars"
        )
    index = bars.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise InvalidInputError(
            ["index: bar times must be a timezone-aware DatetimeIndex"], what="bars"
        )
    missing = [column for column in checks.PRICE_COLUMNS if column not in bars.columns]
    if missing:
        raise InvalidInputError(
            [f"bars: missing column {column!r}" for column in missing], what="bars"
        )
    if not index.is_monotonic_increasing or not index.is_unique:
        raise InvalidInputError(["index: bar times must be sorted and unique"], what="bars")
    source = bars.attrs.get("timeframe")
    if source not in TIMEFRAMES:
        source = _source_timeframe(index) if len(index) > 1 else None
    if source is not None:
        source_minutes, target_minutes = TIMEFRAMES[source], TIMEFRAMES[target]
        fixed = target not in ("W1", "MN1")
        if (
            source in ("W1", "MN1")
            or source_minutes > target_minutes
            or (fixed and target_minutes % source_minutes)
        ):
            raise InvalidInputError(
                [
                    f"timeframe: cannot build {target} bars from {source} bars "
                    f"({target} must be a whole number of {source} bars)"
                ],
                what="resample",
            )
    wall = utc_to_wall(index.tz_convert("UTC"), zone).as_unit("us").asi8
    if target == "MN1":
        keys = wall.astype("datetime64[us]").astype("datetime64[M]").astype("datetime64[us]")
        keys = keys.astype(np.int64)
    elif target == "W1":
        days = wall // _US_PER_DAY
        keys = (days - (days + 3) % 7) * _US_PER_DAY  # back to Monday (1970-01-01 a Thursday)
    else:
        step = TIMEFRAMES[target] * _US_PER_MINUTE
        keys = wall // step * step
    present = {column: how for column, how in _AGGREGATE.items() if column in bars.columns}
    grouped = bars[list(present)].groupby(keys, sort=True).agg(present)
    for column in ("tick_volume", "real_volume"):
        if column in present:
            _check_volume_sums(bars[column].to_numpy(), keys, grouped.index, column, zone)
    labels = pd.DatetimeIndex(grouped.index.to_numpy().astype("datetime64[us]"))
    utc = wall_to_utc(labels, zone).utc
    result = _bars_frame(
        {column: grouped[column].to_numpy() for column in present if column in _DTYPES}, utc
    )
    result.attrs.update(bars.attrs)
    result.attrs.update(timeframe=target, resampled_from=source, resample_timezone=zone.name)
    return result


def _check_volume_sums(
    volumes: np.ndarray, keys: np.ndarray, groups: pd.Index, column: str, zone: SourceZone
) -> None:
    """Refuse volumes whose sum over a bar an int64 cannot hold (it would wrap silently)."""
    if not volumes.size or np.issubdtype(volumes.dtype, np.floating):
        return
    peak = int(np.abs(volumes).max())
    if peak * volumes.size <= np.iinfo(np.int64).max:
        return  # no bar can sum beyond it
    sums = pd.Series(volumes.astype(np.float64)).groupby(keys, sort=True).sum().to_numpy()
    far = np.flatnonzero(np.abs(sums) >= 2.0**63)
    if far.size:
        wall = pd.Timestamp(int(groups[int(far[0])]), unit="us")
        raise InvalidInputError(
            [
                f"{column}: the bar of {wall:%Y-%m-%d %H:%M} ({zone.name}) sums to "
                f"{sums[int(far[0])]:.3g}, more than the {np.iinfo(np.int64).max:,} a volume can "
                "hold"
            ],
            what="resample",
        )


def check_bars(bars: pd.DataFrame) -> list[str]:
    """Report the quality findings ``load_bars`` reports, on bars from anywhere (nothing dropped)."""
    timeframe = bars.attrs.get("timeframe")
    index = pd.DatetimeIndex(bars.index)
    step = TIMEFRAMES[timeframe if timeframe in TIMEFRAMES else _source_timeframe(index)]
    findings = (
        checks.report_weekend_bars(bars)
        + checks.report_gaps(bars, step)
        + checks.report_week_open(bars, step)
        + checks.report_ask_below_bid(bars)
        + (checks.report_spreads(bars) if "ask_close" not in bars.columns else [])
    )
    if bars.attrs.get("format") not in _SERVER_FORMATS | {"mt5_rates"}:
        zone = str(bars.attrs.get("source_timezone", "the assumed zone"))
        findings += checks.report_clock_change_dates(bars, step, zone)
    return findings
