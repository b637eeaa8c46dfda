"""Loading bars: every file format with its clock, every broken input, every quality finding,
resampling, MT5 rates; then the real FX files of shared/data/fx (skipped when absent).

The hand-made fixtures straddle the US clock change of Sunday 10 March 2024, so each format's
conversion to UTC is checked in winter and in summer time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nl_trader.data import checks, loaders
from nl_trader.data.loaders import (
    DEFAULT_TIMEZONES,
    FORMATS,
    LoadResult,
    bars_from_rates,
    check_bars,
    infer_timeframe,
    load_bars,
    resample,
)
from nl_trader.data.sample import sample_bars
from nl_trader.data.timezones import parse_zone, utc_to_wall, wall_to_utc
from nl_trader.errors import InvalidInputError

FIXTURES = Path(__file__).parent / "fixtures"
BAR_DTYPES = {
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "tick_volume": "int64",
    "spread": "int32",
    "real_volume": "int64",
}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def expected(
    times: list[str], rows: Sequence[tuple[float, ...]], *, ask: bool = False
) -> pd.DataFrame:
    """Bars from (open, high, low, close, tick_volume, spread[, ask o, h, l, c]) rows."""
    names = [*BAR_DTYPES]
    if ask:
        names += ["ask_open", "ask_high", "ask_low", "ask_close"]
    data: dict[str, list[float]] = {name: [] for name in names}
    for row in rows:
        open_, high, low, close, ticks, spread, *asks = row
        values = [open_, high, low, close, ticks, spread, 0, *asks]
        for name, value in zip(names, values, strict=True):
            data[name].append(value)
    frame = pd.DataFrame(data, index=pd.DatetimeIndex([utc(t) for t in times], name="time"))
    frame.index = pd.DatetimeIndex(frame.index).as_unit("us")
    return frame.astype({**BAR_DTYPES, **dict.fromkeys(names[7:], "float64")})


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def warning(result: LoadResult, prefix: str) -> str:
    """The one warning that starts with ``prefix``."""
    found = [line for line in result.warnings if line.startswith(prefix)]
    assert len(found) == 1, result.warnings
    return found[0]


def no_warning(result: LoadResult, prefix: str) -> None:
    assert not [line for line in result.warnings if line.startswith(prefix)], result.warnings


def problems(error: pytest.ExceptionInfo[InvalidInputError]) -> str:
    return "; ".join(error.value.problems)


# The four hours around the weekend of the US clock change, in UTC, for the hourly fixtures.
HOURLY_UTC = [
    "2024-03-08 20:00",  # Friday 22:00 broker time, UTC+2 (US winter)
    "2024-03-08 21:00",
    "2024-03-10 21:00",  # Monday 00:00 broker time, UTC+3 (US summer time since Sunday)
    "2024-03-10 22:00",
]
EURUSD_HOURS = [
    (1.09412, 1.09440, 1.09380, 1.09401, 1520, 8),
    (1.09401, 1.09425, 1.09360, 1.09372, 980, 12),
    (1.09365, 1.09390, 1.09310, 1.09322, 410, 35),
    (1.09322, 1.09351, 1.09300, 1.09345, 760, 9),
]
# The minutes around the same weekend: Friday's close (16:57 New York, EST) and Sunday's open
# (17:00 New York, EDT): 21:57 UTC and 21:00 UTC.
MINUTES_UTC = ["2024-03-08 21:57", "2024-03-08 21:58", "2024-03-10 21:00", "2024-03-10 21:01"]
EURUSD_MINUTES = [
    (1.09395, 1.09398, 1.09390, 1.09392, 0, 0),
    (1.09392, 1.09396, 1.09388, 1.09391, 0, 0),
    (1.09415, 1.09421, 1.09410, 1.09418, 0, 0),
    (1.09418, 1.09420, 1.09412, 1.09414, 0, 0),
]


# ---------------------------------------------------------------------------------------------
# Formats


def test_mt5_export_is_broker_time_utc2_in_winter_and_utc3_after_the_us_clock_change() -> None:
    result = load_bars(FIXTURES / "EURUSD_H1_mt5.csv")
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, EURUSD_HOURS))
    assert result.format == "mt5"
    assert result.source_timezone == "broker"
    assert result.bars.attrs == {
        "symbol": "EURUSD",
        "timeframe": "H1",
        "format": "mt5",
        "source_timezone": "broker",
        "source": str(FIXTURES / "EURUSD_H1_mt5.csv"),
        "fingerprint": result.fingerprint,
        "spread_source": "column",
    }


def test_mt5_export_without_angle_brackets_and_with_lf_line_ends_reads_the_same(
    tmp_path: Path,
) -> None:
    text = (FIXTURES / "EURUSD_H1_mt5.csv").read_text().replace("<", "").replace(">", "")
    path = write(tmp_path, "EURUSD_H1.csv", text.replace("\r\n", "\n"))
    result = load_bars(path)
    assert result.format == "mt5"
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, EURUSD_HOURS))


def test_mt5_export_written_as_utf16_by_the_terminal_is_read(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD_H1.csv"
    path.write_bytes((FIXTURES / "EURUSD_H1_mt5.csv").read_text().encode("utf-16"))
    pd.testing.assert_frame_equal(load_bars(path).bars, expected(HOURLY_UTC, EURUSD_HOURS))


def test_mt5_comma_export_with_one_datetime_column_is_broker_time() -> None:
    result = load_bars(FIXTURES / "USDJPY_H1_mt5_comma.csv")
    assert result.format == "mt5"
    rows = [
        (147.041, 147.092, 146.998, 147.062, 1834, 3),
        (147.062, 147.110, 147.011, 147.080, 1201, 5),
        (147.012, 147.070, 146.950, 146.981, 402, 21),
        (146.981, 147.025, 146.902, 146.944, 977, 4),
    ]
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, rows))


def test_mt5_unix_seconds_are_the_server_wall_clock_not_utc() -> None:
    # 1709935200 reads as 2024-03-08 22:00: server time, 20:00 UTC.
    result = load_bars(FIXTURES / "EURUSD_H1_mt5_unix.csv")
    assert result.format == "mt5_unix"
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, EURUSD_HOURS))


def test_mt4_history_csv_without_header_is_broker_time() -> None:
    result = load_bars(FIXTURES / "GBPUSD_H1_mt4.csv")
    assert result.format == "mt4"
    assert result.bars.attrs["symbol"] == "GBPUSD"
    rows = [
        (1.28560, 1.28602, 1.28511, 1.28530, 2210, 0),
        (1.28530, 1.28575, 1.28470, 1.28492, 1475, 0),
        (1.28480, 1.28533, 1.28441, 1.28505, 633, 0),
        (1.28505, 1.28560, 1.28490, 1.28551, 1189, 0),
    ]
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, rows))


def test_histdata_raw_minutes_are_new_york_time_with_daylight_saving() -> None:
    result = load_bars(FIXTURES / "DAT_ASCII_EURUSD_M1_202403.csv")
    assert result.format == "histdata"
    assert result.source_timezone == "America/New_York"
    pd.testing.assert_frame_equal(result.bars, expected(MINUTES_UTC, EURUSD_MINUTES))


def test_prepared_histdata_minutes_are_new_york_plus_5_hours() -> None:
    # File time 22:00 on Sunday is 17:00 New York: 21:00 UTC once the US is on summer time.
    result = load_bars(FIXTURES / "EURUSD_M1_prepared.csv")
    assert result.format == "histdata_prepared"
    assert result.source_timezone == "ny+5"
    assert result.bars.attrs["timeframe"] == "M1"
    pd.testing.assert_frame_equal(result.bars, expected(MINUTES_UTC, EURUSD_MINUTES))


def test_lean_quote_bars_keep_the_ask_and_give_the_spread_in_points() -> None:
    result = load_bars(FIXTURES / "eurusd_lean_hour.csv")
    assert result.format == "lean_bidask"
    assert result.source_timezone == "UTC"
    rows = [
        (1.09412, 1.09440, 1.09380, 1.09401, 0, 13, 1.09425, 1.09452, 1.09392, 1.09414),
        (1.09401, 1.09425, 1.09360, 1.09372, 0, 18, 1.09416, 1.09441, 1.09377, 1.09390),
        (1.09365, 1.09390, 1.09310, 1.09322, 0, 27, 1.09391, 1.09421, 1.09338, 1.09349),
        (1.09322, 1.09351, 1.09300, 1.09345, 0, 14, 1.09337, 1.09366, 1.09315, 1.09359),
    ]
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, rows, ask=True))


def test_ask_spread_uses_the_point_given_when_the_symbol_is_unknown(tmp_path: Path) -> None:
    text = (FIXTURES / "eurusd_lean_hour.csv").read_text()
    path = write(tmp_path, "quotes.csv", text)
    guessed = load_bars(path)
    assert "spread: point 1e-05 taken from the decimals of the prices" in warning(
        guessed, "spread:"
    )
    assert guessed.bars.attrs["symbol"] is None
    assert list(guessed.bars["spread"]) == [13, 18, 27, 14]
    pipettes = load_bars(path, point=0.0001)
    assert list(pipettes.bars["spread"]) == [1, 2, 3, 1]


def test_generic_csv_is_utc_unless_told_otherwise() -> None:
    result = load_bars(FIXTURES / "GBPUSD_H1_generic.csv")
    assert result.format == "generic"
    rows = [
        (1.28560, 1.28602, 1.28511, 1.28530, 2210, 0),
        (1.28530, 1.28575, 1.28470, 1.28492, 1475, 0),
        (1.28480, 1.28533, 1.28441, 1.28505, 633, 0),
        (1.28505, 1.28560, 1.28490, 1.28551, 1189, 0),
    ]
    pd.testing.assert_frame_equal(result.bars, expected(HOURLY_UTC, rows))


@pytest.mark.parametrize(
    ("header", "sep", "stamp"),
    [
        ("Date,Time,Open,High,Low,Close,Volume", ",", "2024-03-04,10:00"),
        ("DATE;TIME;OPEN;HIGH;LOW;CLOSE;TICKVOL", ";", "2024-03-04;10:00:00"),
        ("timestamp\topen\thigh\tlow\tclose\tvolume", "\t", "2024-03-04T10:00:00"),
        ("Gmt time,Open,High,Low,Close,Volume", ",", "04.03.2024 10:00:00.000"),
        ('"Date Time","O","H","L","C","Ticks"', ",", "2024/03/04 10:00"),
        ("time,bid_open,bid_high,bid_low,bid_close,tick_volume", ",", "20240304 10:00"),
    ],
)
def test_generic_csv_finds_columns_by_common_names_in_any_case(
    tmp_path: Path, header: str, sep: str, stamp: str
) -> None:
    def line(hour: int) -> str:
        moment = stamp.replace("10:", f"{hour:02d}:")
        return sep.join([moment, "1.085", "1.086", "1.084", "1.0855", "42"])

    path = write(tmp_path, "EURUSD.csv", "\n".join([header, line(10), line(11)]) + "\n")
    result = load_bars(path)
    assert result.format == "generic"
    rows = [(1.085, 1.086, 1.084, 1.0855, 42, 0)] * 2
    pd.testing.assert_frame_equal(
        result.bars, expected(["2024-03-04 10:00", "2024-03-04 11:00"], rows)
    )


def test_generic_timestamps_with_utc_offsets_are_taken_as_written(tmp_path: Path) -> None:
    text = (
        "time,open,high,low,close\n"
        "2024-07-01T12:00:00+03:00,1.07,1.08,1.06,1.075\n"
        "2024-07-01T13:00:00+03:00,1.075,1.08,1.07,1.078\n"
    )
    result = load_bars(write(tmp_path, "EURUSD.csv", text), timezone="America/New_York")
    assert list(result.bars.index) == [utc("2024-07-01 09:00"), utc("2024-07-01 10:00")]
    assert result.source_timezone == "UTC (offsets in the file)"
    assert "timezone='America/New_York' was not used" in warning(result, "time zone")


def test_gzip_files_are_read_transparently_and_fingerprinted_as_stored(tmp_path: Path) -> None:
    plain = FIXTURES / "EURUSD_H1_mt5.csv"
    packed = tmp_path / "EURUSD_H1_mt5.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    result = load_bars(packed)
    pd.testing.assert_frame_equal(result.bars, load_bars(plain).bars)
    assert result.fingerprint == hashlib.sha256(packed.read_bytes()).hexdigest()
    assert result.fingerprint != load_bars(plain).fingerprint


def test_a_gzip_of_several_members_padded_with_zeros_reads_as_their_text_joined(
    tmp_path: Path,
) -> None:
    plain = FIXTURES / "EURUSD_H1_mt5.csv"
    text = plain.read_bytes()
    packed = tmp_path / "EURUSD_H1_mt5.csv.gz"
    # Split inside a line: the members join into one text, as gzip itself reads them.
    packed.write_bytes(gzip.compress(text[:100]) + bytes(16) + gzip.compress(text[100:]) + bytes(8))
    pd.testing.assert_frame_equal(load_bars(packed).bars, load_bars(plain).bars)


def test_a_utf8_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    plain = FIXTURES / "GBPUSD_H1_generic.csv"
    marked = tmp_path / "GBPUSD_H1_generic.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    pd.testing.assert_frame_equal(load_bars(marked).bars, load_bars(plain).bars)


def test_lines_ended_by_carriage_returns_alone_read_as_the_same_bars(tmp_path: Path) -> None:
    plain = FIXTURES / "GBPUSD_H1_generic.csv"
    old_mac = tmp_path / "GBPUSD_H1_generic.csv"
    old_mac.write_bytes(plain.read_bytes().replace(b"\n", b"\r"))
    pd.testing.assert_frame_equal(load_bars(old_mac).bars, load_bars(plain).bars)


def test_rows_parsed_a_chunk_at_a_time_give_the_same_bars_and_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = sorted(path.name for path in FIXTURES.iterdir())
    whole = {name: load_bars(FIXTURES / name) for name in names}
    text = GOOD_HEADER + GOOD_ROW * 4 + "\n" + "2024-03-04 1l:00:00,1.085,1.086,1.084,1.0855,42\n"
    # Two rows a chunk instead of a million, so that every file spans several chunks.
    monkeypatch.setattr(loaders, "_CHUNK_ROWS", 2)
    for name, result in whole.items():
        chunked = load_bars(FIXTURES / name)
        pd.testing.assert_frame_equal(chunked.bars, result.bars)
        assert chunked.warnings == result.warnings
    with pytest.raises(InvalidInputError) as error:
        load_bars(write(tmp_path, "EURUSD_H1.csv", text), timeframe="H1")
    assert (
        "line 7, column 'Timestamp': '2024-03-04 1l:00:00' is not a date and time like "
        "'2024-03-04 10:00:00'"
    ) in problems(error)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("EURUSD_H1_mt5.csv", "mt5"),
        ("USDJPY_H1_mt5_comma.csv", "mt5"),
        ("EURUSD_H1_mt5_unix.csv", "mt5_unix"),
        ("GBPUSD_H1_mt4.csv", "mt4"),
        ("DAT_ASCII_EURUSD_M1_202403.csv", "histdata"),
        ("EURUSD_M1_prepared.csv", "histdata_prepared"),
        ("eurusd_lean_hour.csv", "lean_bidask"),
        ("GBPUSD_H1_generic.csv", "generic"),
    ],
)
def test_format_is_detected_from_the_content(name: str, fmt: str) -> None:
    result = load_bars(FIXTURES / name)
    assert result.format == fmt
    assert result.bars.attrs["format"] == fmt
    assert load_bars(FIXTURES / name, format=fmt).bars.equals(result.bars)


def test_every_format_has_a_default_clock() -> None:
    assert set(DEFAULT_TIMEZONES) == set(FORMATS)


def test_a_headed_file_can_be_read_as_generic_to_change_its_default_clock() -> None:
    result = load_bars(FIXTURES / "EURUSD_M1_prepared.csv", format="generic")
    assert result.format == "generic"
    assert result.source_timezone == "UTC"
    assert result.bars.index[2] == utc("2024-03-10 22:00")


def test_bars_have_the_product_shape_of_the_sample() -> None:
    bars = load_bars(FIXTURES / "EURUSD_H1_mt5.csv").bars
    sample = sample_bars("EURUSD", "H1", bars=10)
    assert bars.dtypes.to_dict() == sample.dtypes.to_dict()
    assert bars.index.dtype == sample.index.dtype
    assert bars.index.name == "time"
    assert bars.index.is_monotonic_increasing
    assert bars.index.is_unique


# ---------------------------------------------------------------------------------------------
# Time zones


def test_timezone_override_reads_the_same_file_in_another_clock() -> None:
    result = load_bars(FIXTURES / "EURUSD_H1_mt5.csv", timezone="UTC")
    assert list(result.bars.index) == [
        utc("2024-03-08 22:00"),
        utc("2024-03-08 23:00"),
        utc("2024-03-11 00:00"),
        utc("2024-03-11 01:00"),
    ]
    assert result.source_timezone == "UTC"
    no_warning(result, "time zone: assumed")


def test_a_default_clock_is_said_in_the_warnings_and_attrs() -> None:
    result = load_bars(FIXTURES / "GBPUSD_H1_mt4.csv")
    assert warning(result, "time zone").startswith(
        "time zone: assumed broker server time (New York + 7 h: UTC+2 in northern winter, "
        "UTC+3 in US summer time), the default for mt4 files"
    )
    assert result.bars.attrs["source_timezone"] == "broker"


@pytest.mark.parametrize(
    ("zone", "wall", "moment"),
    [
        ("broker", "2024-01-15 00:00", "2024-01-14 22:00"),  # UTC+2 in winter
        ("broker", "2024-07-15 00:00", "2024-07-14 21:00"),  # UTC+3 in US summer time
        ("broker", "2024-03-11 00:00", "2024-03-10 21:00"),  # US summer, Europe still winter
        ("EET", "2024-03-11 00:00", "2024-03-10 22:00"),  # European dates: still UTC+2
        ("ny+5", "2024-01-15 12:00", "2024-01-15 12:00"),  # UTC in winter
        ("ny+5", "2024-07-15 12:00", "2024-07-15 11:00"),  # UTC+1 in US summer time
        ("America/New_York", "2024-07-15 12:00", "2024-07-15 16:00"),
        ("Europe/London-5", "2024-03-11 12:00", "2024-03-11 17:00"),
        ("UTC+2", "2024-07-15 12:00", "2024-07-15 10:00"),
        ("utc-05:30", "2024-07-15 12:00", "2024-07-15 17:30"),
        ("GMT", "2024-07-15 12:00", "2024-07-15 12:00"),
    ],
)
def test_wall_clock_times_convert_to_utc(zone: str, wall: str, moment: str) -> None:
    conversion = wall_to_utc(pd.DatetimeIndex([pd.Timestamp(wall)]), parse_zone(zone))
    assert conversion.utc[0] == utc(moment)
    assert utc_to_wall(conversion.utc, parse_zone(zone))[0] == pd.Timestamp(wall)


def test_unknown_zone_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(InvalidInputError, match="timezone: 'Mars/Olympus' is not a known zone"):
        load_bars(FIXTURES / "EURUSD_H1_mt5.csv", timezone="Mars/Olympus")


def test_times_in_the_hour_clocks_repeat_or_skip_are_read_and_reported(tmp_path: Path) -> None:
    text = (
        "20241103 013000;1.08;1.09;1.07;1.085;0\n"  # New York repeats 01:00-02:00 this night
        "20241103 013100;1.08;1.09;1.07;1.085;0\n"
        "20241103 013200;1.08;1.09;1.07;1.085;0\n"
        "20240310 023000;1.08;1.09;1.07;1.085;0\n"  # and skipped 02:00-03:00 in March
    )
    result = load_bars(write(tmp_path, "EURUSD.csv", text), timeframe="M1")
    messages = [line for line in result.warnings if "clocks" in line]
    assert messages == [
        "time zone: 3 bar times in the hour that America/New_York clocks repeat when they go "
        "back; read as the first (summer-time) pass; first 2024-11-03 01:30 on line 1",
        "time zone: 1 bar time in the hour that America/New_York clocks skip when they go "
        "forward; read as if they had not gone forward; first 2024-03-10 02:30 on line 4",
    ]
    assert result.bars.index[0] == utc("2024-03-10 07:30")
    assert result.bars.index[1] == utc("2024-11-03 05:30")


# ---------------------------------------------------------------------------------------------
# Broken input: an InvalidInputError naming the file, the line or column and the problem


GOOD_HEADER = "Timestamp,Open,High,Low,Close,Volume\n"
GOOD_ROW = "2024-03-04 10:00:00,1.085,1.086,1.084,1.0855,42\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file: is empty"),
        ("\n\n", "file: is empty"),
        (
            GOOD_HEADER,
            "file: has a header line ('Timestamp,Open,High,Low,Close,Volume') but no bars",
        ),
        (
            GOOD_HEADER + GOOD_ROW + "2024-03-04 11:00:00,1.085,1.086,1.084,x1.09,42\n",
            "line 3, column 'Close': 'x1.09' is not a number",
        ),
        (
            GOOD_HEADER + GOOD_ROW + "2024-03-04 11:00:00,1.085,1.086,1.084,,42\n",
            "line 3, column 'Close': missing value",
        ),
        (
            GOOD_HEADER + GOOD_ROW + "\n2024-03-04 11:00:00,1.085,1.086,1.084,1.0855,42,7\n",
            "line 4: 7 fields, expected 6",
        ),
        (
            GOOD_HEADER + GOOD_ROW + "2024-03-04 11:00:00,1.085,1.086,1.084,1.0855\n",
            "line 3, column 'Volume': missing value",
        ),
        (
            GOOD_HEADER + GOOD_ROW + "2024-03-04 1l:00:00,1.085,1.086,1.084,1.0855,42\n",
            "line 3, column 'Timestamp': '2024-03-04 1l:00:00' is not a date and time like "
            "'2024-03-04 10:00:00'",
        ),
        (
            GOOD_HEADER + GOOD_ROW + "2024-02-30 11:00:00,1.085,1.086,1.084,1.0855,42\n",
            "line 3, column 'Timestamp': '2024-02-30 11:00:00' is not a date and time",
        ),
        (
            GOOD_HEADER + "Mar 4 2024 10:00,1.085,1.086,1.084,1.0855,42\n",
            "line 2, column 'Timestamp': 'Mar 4 2024 10:00' is not a date and time this loader "
            "knows",
        ),
        (
            "Timestamp,Open,High,Low,Volume\n2024-03-04 10:00:00,1.085,1.086,1.084,42\n",
            "column 'close': not found in the header ('Timestamp', 'Open', 'High', 'Low', "
            "'Volume')",
        ),
        (
            "Open,High,Low,Close\n1.085,1.086,1.084,1.0855\n",
            "header: no date/time column among 'Open', 'High', 'Low', 'Close'",
        ),
        (
            "time,close,Close,open,high,low\n2024-03-04 10:00:00,1,1,1,1,1\n",
            "header: columns 'close', 'Close' all look like 'close'",
        ),
        (
            "time,open,high,low,close,ask_open,ask_high\n2024-03-04 10:00:00,1,1,1,1,1,1\n",
            "header: has some ask columns but not ask_low, ask_close",
        ),
        (
            GOOD_HEADER + "2024-03-04 10:00:00,1.085,1.086,1.084,1.0855,-5\n",
            "line 2, column 'Volume': -5 is negative",
        ),
        (
            "time,open,high,low,close,spread\n2024-03-04 10:00:00,1.085,1.086,1.084,1.0855,1.5\n",
            "line 2, column 'spread': 1.5 is not a whole number of points",
        ),
        (
            GOOD_HEADER + "2024-03-04 10:00:00,1.085,inf,1.084,1.0855,42\n",
            "line 2, column 'High': inf is not finite",
        ),
        (
            GOOD_HEADER + "2024-03-04 10:00:00,1.085,1.083,1.084,1.0855,42\n",
            "prices: no row has usable prices",
        ),
        ("1.085|1.086|1.084\n", "format: cannot tell the format from the first line '1.085|1.086"),
    ],
)
def test_broken_file_is_refused_naming_the_file_line_column_and_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "EURUSD_H1.csv", text)
    with pytest.raises(InvalidInputError) as error:
        load_bars(path, timeframe="H1")
    assert message in problems(error)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        (
            "DAT_ASCII_EURUSD_M1_202403.csv",
            "20240230 170000;1.09;1.1;1.08;1.095;0",
            "line 3, column 'datetime': '20240230 170000' is not a date and time like "
            "'20240308 165700'",
        ),
        (
            "DAT_ASCII_EURUSD_M1_202403.csv",
            "2024030 170000;1.09;1.1;1.08;1.095;0",
            "line 3, column 'datetime': '2024030 170000' is not a date and time",
        ),
        (
            "GBPUSD_H1_mt4.csv",
            "2024.03.08,22:00,1.28560,1.28602,1.28511,1,28530,2210",
            "line 3: 8 fields, expected 7",
        ),
        (
            "GBPUSD_H1_mt4.csv",
            "2024.03.08,22:00,1.28560,1.28602,1.28511,n/a,2210",
            "line 3, column 'close': 'n/a' is not a number",
        ),
        (
            "EURUSD_H1_mt5.csv",
            "2024.03.08\t24:00:00\t1.09412\t1.09440\t1.09380\t1.09401\t1520\t0\t8",
            "line 3, column 'DATE' + 'TIME': '2024.03.08 24:00:00' is not a date and time",
        ),
    ],
)
def test_a_bad_line_in_a_headerless_or_mt5_file_is_named(
    tmp_path: Path, name: str, line: str, message: str
) -> None:
    lines = (FIXTURES / name).read_text().splitlines()
    lines.insert(2, line.replace("\\t", "\t"))
    path = write(tmp_path, name, "\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert message in problems(error)


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="path: no such file"):
        load_bars(tmp_path / "nothing.csv")
    with pytest.raises(InvalidInputError, match="path: is a directory"):
        load_bars(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(GOOD_ROW.encode())[:-9], "gzip: the compressed data is broken or truncated"),
        (b"PK\x03\x04" + b"\x00" * 40, "file: is a zip archive; extract the CSV inside it first"),
        (bytes(range(256)) * 4, "file: is binary, not a text bar file"),
        ((GOOD_HEADER + GOOD_ROW).encode() + b"2024-03-04 11:00:00,1.0\xff,1,1,1,1\n", "UTF-8"),
    ],
)
def test_unreadable_bytes_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "EURUSD_H1.csv.gz"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        load_bars(path)


def test_a_named_format_that_does_not_match_the_file_is_refused() -> None:
    with pytest.raises(InvalidInputError) as error:
        load_bars(FIXTURES / "GBPUSD_H1_mt4.csv", format="histdata")
    assert "format: the file does not look like histdata (20250101 170000;open;" in problems(error)
    assert "its first line is '2024.03.08,22:00,1.28560" in problems(error)
    with pytest.raises(InvalidInputError, match="format: generic files start with a header line"):
        load_bars(FIXTURES / "GBPUSD_H1_mt4.csv", format="generic")
    with pytest.raises(InvalidInputError, match="format: mt5_unix files hold Unix seconds"):
        load_bars(FIXTURES / "GBPUSD_H1_generic.csv", format="mt5_unix")


def test_unix_time_that_is_not_whole_seconds_is_refused(tmp_path: Path) -> None:
    text = "time,open,high,low,close,tick_volume,spread\n"
    text += "1709935200,1.09,1.1,1.08,1.095,5,1\n1709938800.5,1.09,1.1,1.08,1.095,5,1\n"
    with pytest.raises(InvalidInputError) as error:
        load_bars(write(tmp_path, "EURUSD.csv", text))
    assert "line 3, column 'time': '1709938800.5' is not a whole number of Unix seconds" in (
        problems(error)
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "mt6"}, "format: 'mt6' is not one of mt5, mt5_unix, mt4, histdata"),
        ({"timeframe": "H5"}, "timeframe: 'H5' is not an MT5 timeframe"),
        ({"point": -1.0}, "point: -1.0 is not a positive price step"),
        ({"timezone": ""}, "timezone: expected a zone name"),
    ],
)
def test_bad_options_are_refused_before_reading(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_bars(FIXTURES / "EURUSD_H1_mt5.csv", **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Quality checks: warnings with counts and first examples


Row = tuple[str, float, float, float, float, int]  # time, open, high, low, close, spread


def hourly_csv(
    directory: Path,
    rows: list[Row],
    *,
    name: str = "EURUSD_H1.csv",
) -> Path:
    """A UTC file of (time, open, high, low, close, spread) rows."""
    lines = ["time,open,high,low,close,tick_volume,spread"]
    lines += [f"{t},{o},{h},{lo},{c},10,{s}" for t, o, h, lo, c, s in rows]
    return write(directory, name, "\n".join(lines) + "\n")


def monday(hour: int, price: float = 1.085, spread: int = 8) -> Row:
    return (f"2024-03-04 {hour:02d}:00", price, price + 0.001, price - 0.001, price, spread)


def test_repeated_times_keep_the_first_row_and_say_whether_they_were_copies(
    tmp_path: Path,
) -> None:
    copy = hourly_csv(tmp_path, [monday(0), monday(1), monday(1), monday(2)])
    result = load_bars(copy)
    assert warning(result, "duplicates") == (
        "duplicates: dropped 1 row whose time repeats an earlier row (all exact copies), "
        "keeping the first; first at line 4 (2024-03-04 01:00 UTC), a repeat of line 3"
    )
    assert len(result.bars) == 3
    differ = hourly_csv(tmp_path, [monday(0), monday(1, 1.2), monday(1, 1.3), monday(2)])
    result = load_bars(differ)
    assert "(1 row with different values)" in warning(result, "duplicates")
    assert result.bars["close"].iloc[1] == 1.2


def test_rows_out_of_time_order_are_sorted(tmp_path: Path) -> None:
    result = load_bars(hourly_csv(tmp_path, [monday(0), monday(2, 1.2), monday(1, 1.1)]))
    assert warning(result, "order") == (
        "order: 1 row came earlier in time than the row before; the bars were sorted by time; "
        "first at line 4 (2024-03-04 01:00 UTC)"
    )
    assert list(result.bars["close"]) == [1.085, 1.1, 1.2]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ("2024-03-04 01:00", 1.085, 1.084, 1.086, 1.085, 8),
            "prices: dropped 1 row with an impossible range (high below low, or open/close "
            "outside [low, high]); first at line 3 (2024-03-04 01:00 UTC): open 1.085, "
            "high 1.084, low 1.086, close 1.085",
        ),
        (
            ("2024-03-04 01:00", 1.09, 1.086, 1.084, 1.085, 8),
            "prices: dropped 1 row with an impossible range",
        ),
        (
            ("2024-03-04 01:00", 1.085, 1.086, 1.084, 1.087, 8),
            "prices: dropped 1 row with an impossible range",
        ),
        (
            ("2024-03-04 01:00", 0.0, 1.086, 0.0, 1.085, 8),
            "prices: dropped 1 row with a price of zero or less; first at line 3",
        ),
    ],
)
def test_bars_that_cannot_have_traded_are_dropped(tmp_path: Path, row: Row, message: str) -> None:
    result = load_bars(hourly_csv(tmp_path, [monday(0), row, monday(2)]), timeframe="H1")
    assert warning(result, "prices").startswith(message)
    assert list(pd.DatetimeIndex(result.bars.index).hour) == [0, 2]


def test_saturday_bars_are_reported_and_kept(tmp_path: Path) -> None:
    rows = [monday(0), monday(1), ("2024-03-09 10:00", 1.085, 1.086, 1.084, 1.085, 8)]
    result = load_bars(hourly_csv(tmp_path, rows), timeframe="H1")
    assert warning(result, "weekend") == (
        "weekend: 1 bar on a Saturday (UTC), when forex is closed (kept; check the time "
        "zone); first at line 4 (2024-03-09 10:00 UTC)"
    )
    assert len(result.bars) == 3


def test_holes_inside_the_trading_week_are_counted_but_the_weekend_is_not(
    tmp_path: Path,
) -> None:
    rows = [monday(0), monday(1), monday(4), monday(5), monday(6)]
    rows += [("2024-03-08 21:00", 1.085, 1.086, 1.084, 1.085, 8)]  # Friday close
    rows += [("2024-03-10 21:00", 1.085, 1.086, 1.084, 1.085, 8)]  # Sunday open
    result = load_bars(hourly_csv(tmp_path, rows), timeframe="H1")
    assert warning(result, "gaps") == (
        "gaps: 2 holes inside the trading week (112 missing bars), 2 of them missing more than "
        "1 h; largest: 111 h from the bar at line 6 (2024-03-04 06:00 UTC) to the next at line 7 "
        "(2024-03-08 21:00 UTC)"
    )


def hours_of_week(count: int, spread: Callable[[int], int]) -> list[Row]:
    start = pd.Timestamp("2024-03-04 00:00")
    return [
        (f"{start + pd.Timedelta(hours=i):%Y-%m-%d %H:%M}", 1.085, 1.086, 1.084, 1.085, spread(i))
        for i in range(count)
    ]


def test_a_placeholder_spread_value_is_reported(tmp_path: Path) -> None:
    rows = hours_of_week(100, lambda i: 50 if i % 5 < 3 else 1 + i % 2)
    result = load_bars(hourly_csv(tmp_path, rows))
    assert warning(result, "spread") == (
        "spread: 60 bars (60.0 %) carry exactly 50 points while 49 and 51 occur on 0 bars: a "
        "placeholder, not a quote (median of the other bars 1.5); first at line 2 "
        "(2024-03-04 00:00 UTC), last at line 99 (2024-03-08 01:00 UTC)"
    )


def test_one_spread_on_every_bar_is_reported_as_fixed(tmp_path: Path) -> None:
    result = load_bars(hourly_csv(tmp_path, hours_of_week(30, lambda i: 10)))
    assert warning(result, "spread") == (
        "spread: every bar has the same spread, 10 points: a fixed value, not the market's; a "
        "backtest will not see spreads widen"
    )


def test_varying_spreads_are_not_reported(tmp_path: Path) -> None:
    result = load_bars(hourly_csv(tmp_path, hours_of_week(100, lambda i: i % 7)))
    no_warning(result, "spread")


def test_ask_below_bid_is_reported(tmp_path: Path) -> None:
    text = (
        "time,bid_open,bid_high,bid_low,bid_close,ask_open,ask_high,ask_low,ask_close\n"
        "2024-03-04 10:00,1.085,1.086,1.084,1.0855,1.0851,1.0861,1.0841,1.0856\n"
        "2024-03-04 11:00,1.085,1.086,1.084,1.0855,1.0851,1.0861,1.0841,1.0853\n"
    )
    result = load_bars(write(tmp_path, "EURUSD_H1.csv", text))
    assert warning(result, "ask") == (
        "ask: 1 bar with an ask price below the bid (kept, with a negative spread); first at "
        "line 3 (2024-03-04 11:00 UTC): bid close 1.0855, ask close 1.0853"
    )
    assert list(result.bars["spread"]) == [10, -20]


def test_fractional_volumes_are_rounded_with_a_warning(tmp_path: Path) -> None:
    text = GOOD_HEADER + "2024-03-04 10:00:00,1.085,1.086,1.084,1.0855,42.6\n"
    result = load_bars(write(tmp_path, "EURUSD.csv", text), timeframe="H1")
    assert warning(result, "Volume") == (
        "Volume: rounded 1 value with a fractional part; first 42.6 on line 2"
    )
    assert result.bars["tick_volume"].iloc[0] == 43


def broker_week_rows(weeks: int) -> list[Row]:
    """Hourly bars Monday 00:00 to Friday 23:00 of a broker server, from 3 June 2024."""
    rows: list[Row] = []
    for week in range(weeks):
        monday_start = pd.Timestamp("2024-06-03") + pd.Timedelta(weeks=week)
        for hour in range(5 * 24):
            moment = monday_start + pd.Timedelta(hours=hour)
            rows.append((f"{moment:%Y-%m-%d %H:%M}", 1.085, 1.086, 1.084, 1.085, 1 + hour % 3))
    return rows


def test_weeks_opening_at_an_odd_new_york_hour_say_the_clock_is_wrong(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path, broker_week_rows(5))
    read_as_utc = load_bars(path)
    assert warning(read_as_utc, "time zone: after conversion") == (
        "time zone: after conversion most weeks open on Sunday 20:00 New York time, but forex "
        "weeks open on Sunday around 17:00 New York time; the file's clock is probably not the "
        "one assumed: pass timezone="
    )
    no_warning(load_bars(path, timezone="broker"), "time zone: after conversion")


def test_weeks_an_hour_off_between_the_us_and_european_clock_changes_are_reported() -> None:
    # A feed that opens at 17:00 New York all summer but at 16:00 in the weeks when the US is
    # already on summer time and Europe is not: its clock changes on European dates.
    times: list[pd.Timestamp] = []
    for sunday in pd.date_range("2024-03-03", "2024-05-26", freq="7D"):
        between = pd.Timestamp("2024-03-10") <= sunday < pd.Timestamp("2024-03-31")
        start = (sunday + pd.Timedelta(hours=16 if between else 17)).tz_localize("America/New_York")
        times += list(pd.date_range(start, periods=24 * 4 + 20, freq="h"))
    index = pd.DatetimeIndex(times).tz_convert("UTC")
    frame = pd.DataFrame({"close": np.ones(len(index))}, index=index)
    assert checks.report_clock_change_dates(frame, 60, "ny+5") == [
        "time zone: in 3 weeks between the US and European clock changes the week opens at "
        "16:00 New York time after conversion, in the other summer weeks at 17:00 (first such "
        "week 2024-03-10): the file's clock changes on other dates than ny+5, so those weeks are "
        "an hour off; pass the zone that matches (e.g. 'Europe/London' instead of 'ny+5', 'EET' "
        "instead of 'broker')"
    ]


def test_the_sample_passes_every_check() -> None:
    assert check_bars(sample_bars("EURUSD", "M5", bars=3000)) == []


# ---------------------------------------------------------------------------------------------
# Timeframe


@pytest.mark.parametrize(
    ("spacing", "timeframe"),
    [("1min", "M1"), ("15min", "M15"), ("1h", "H1"), ("4h", "H4"), ("1D", "D1"), ("7D", "W1")],
)
def test_timeframe_is_the_median_bar_spacing(spacing: str, timeframe: str) -> None:
    times = pd.date_range("2024-03-04", periods=30, freq=spacing, tz="UTC")
    # a hole does not change the answer
    assert infer_timeframe(times.delete([5, 6, 7])) == timeframe


def test_monthly_bars_are_mn1() -> None:
    assert infer_timeframe(pd.date_range("2024-01-01", periods=12, freq="MS", tz="UTC")) == "MN1"


def test_spacing_that_is_no_mt5_timeframe_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="bars are a median 7 minutes apart"):
        infer_timeframe(pd.date_range("2024-03-04", periods=10, freq="7min", tz="UTC"))
    with pytest.raises(InvalidInputError, match="cannot be inferred from fewer than two bars"):
        infer_timeframe(pd.date_range("2024-03-04", periods=1, freq="1min", tz="UTC"))


def test_a_given_timeframe_that_the_spacing_contradicts_is_reported() -> None:
    result = load_bars(FIXTURES / "EURUSD_H1_mt5.csv", timeframe="M15")
    assert result.bars.attrs["timeframe"] == "M15"
    assert warning(result, "timeframe") == "timeframe: given M15, but the bars are spaced like H1"


# ---------------------------------------------------------------------------------------------
# Resampling


def minute_bars() -> pd.DataFrame:
    times = pd.date_range("2024-03-04 10:00", periods=10, freq="min", tz="UTC")
    frame = pd.DataFrame(
        {
            "open": [1.0, 1.1, 1.2, 1.3, 1.4, 2.0, 2.1, 2.2, 2.3, 2.4],
            "high": [1.5, 1.6, 1.9, 1.5, 1.5, 2.5, 2.9, 2.5, 2.5, 2.5],
            "low": [0.9, 0.8, 1.0, 1.1, 1.2, 1.9, 2.0, 1.7, 2.1, 2.2],
            "close": [1.1, 1.2, 1.3, 1.4, 1.45, 2.1, 2.2, 2.3, 2.4, 2.45],
            "tick_volume": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "spread": [5, 3, 4, 6, 7, 9, 8, 2, 9, 9],
            "real_volume": [0] * 10,
        },
        index=pd.DatetimeIndex(times, name="time").as_unit("us"),
    ).astype(BAR_DTYPES)
    frame.attrs.update(symbol="EURUSD", timeframe="M1")
    return frame


def test_m1_to_m5_takes_first_open_extreme_high_low_last_close_summed_ticks_min_spread() -> None:
    bars = resample(minute_bars(), "M5")
    rows = [(1.0, 1.9, 0.8, 1.45, 15, 3), (2.0, 2.9, 1.7, 2.45, 40, 2)]
    pd.testing.assert_frame_equal(bars, expected(["2024-03-04 10:00", "2024-03-04 10:05"], rows))
    assert bars.attrs["timeframe"] == "M5"
    assert bars.attrs["resampled_from"] == "M1"
    assert bars.attrs["symbol"] == "EURUSD"


def test_ask_columns_are_resampled_like_the_bid() -> None:
    bars = load_bars(FIXTURES / "eurusd_lean_hour.csv").bars
    daily = resample(bars, "D1")
    assert list(daily["ask_open"]) == [1.09425, 1.09391]
    assert list(daily["ask_high"]) == [1.09452, 1.09421]
    assert list(daily["ask_low"]) == [1.09377, 1.09315]
    assert list(daily["ask_close"]) == [1.0939, 1.09359]
    assert list(daily["spread"]) == [13, 14]


def sunday_evening_hours() -> pd.DataFrame:
    """H1 bars from the Sunday 21:00 UTC open (summer) to Tuesday 02:00 UTC."""
    times = pd.date_range("2024-07-14 21:00", "2024-07-16 02:00", freq="h", tz="UTC")
    frame = pd.DataFrame(
        {name: np.arange(len(times), dtype=float) + 1 for name in ("open", "close")}
        | {"high": np.arange(len(times)) + 2.0, "low": np.arange(len(times)) + 0.5},
        index=pd.DatetimeIndex(times, name="time"),
    )
    frame.attrs["timeframe"] = "H1"
    return frame


def test_daily_bars_in_utc_have_a_sunday_stub_and_broker_days_do_not() -> None:
    in_utc = resample(sunday_evening_hours(), "D1")
    assert list(in_utc.index) == [utc("2024-07-14"), utc("2024-07-15"), utc("2024-07-16")]
    assert list(in_utc["open"]) == [1.0, 4.0, 28.0]
    broker = resample(sunday_evening_hours(), "D1", timezone="broker")
    # The broker day starts at 00:00 server time = 17:00 New York = 21:00 UTC in summer.
    assert list(broker.index) == [utc("2024-07-14 21:00"), utc("2024-07-15 21:00")]
    assert list(broker["open"]) == [1.0, 25.0]
    assert list(broker["close"]) == [24.0, 30.0]
    assert broker.attrs["resample_timezone"] == "broker"


def test_weekly_bars_start_on_monday_so_a_utc_sunday_open_belongs_to_the_week_before() -> None:
    in_utc = resample(sunday_evening_hours(), "W1")
    assert list(in_utc.index) == [utc("2024-07-08"), utc("2024-07-15")]
    broker = resample(sunday_evening_hours(), "W1", timezone="broker")
    assert list(broker.index) == [utc("2024-07-14 21:00")]


def test_monthly_bars_start_on_the_first() -> None:
    times = pd.DatetimeIndex([utc("2024-01-31 10:00"), utc("2024-02-01 10:00")], name="time")
    bars = pd.DataFrame({"open": [1.0, 2.0], "high": [1.0, 2.0], "low": [1.0, 2.0]}, index=times)
    bars["close"] = bars["open"]
    bars.attrs["timeframe"] = "H1"
    monthly = resample(bars, "MN1")
    assert list(monthly.index) == [utc("2024-01-01"), utc("2024-02-01")]


@pytest.mark.parametrize(
    ("timeframe", "message"),
    [
        ("M1", "cannot build M1 bars from M5 bars"),
        ("M3", "cannot build M3 bars from M5 bars"),
        ("H5", "'H5' is not an MT5 timeframe"),
    ],
)
def test_resampling_to_a_timeframe_that_m5_bars_cannot_fill_is_refused(
    timeframe: str, message: str
) -> None:
    five = resample(minute_bars(), "M5")
    with pytest.raises(InvalidInputError, match=message):
        resample(five, timeframe)


def test_resampling_needs_sorted_utc_bars() -> None:
    bars = minute_bars()
    with pytest.raises(InvalidInputError, match="sorted and unique"):
        resample(bars.iloc[::-1], "M5")
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        resample(bars.tz_localize(None), "M5")
    with pytest.raises(InvalidInputError, match="missing column 'close'"):
        resample(bars.drop(columns="close"), "M5")


# ---------------------------------------------------------------------------------------------
# MT5 rates

RATES = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)


def rates(*walls: str) -> np.ndarray:
    array = np.zeros(len(walls), dtype=RATES)
    array["time"] = [int(pd.Timestamp(wall, tz="UTC").timestamp()) for wall in walls]
    array["open"] = array["close"] = 1.085
    array["high"], array["low"] = 1.086, 1.084
    array["tick_volume"], array["spread"] = 120, 7
    return array


def test_rates_times_are_server_wall_clock_shifted_to_utc() -> None:
    bars = bars_from_rates(
        rates("2024-01-08 12:00", "2024-01-08 13:00"),
        symbol="EURUSD",
        timeframe="H1",
        server_utc_offset=7200,
    )
    rows = [(1.085, 1.086, 1.084, 1.085, 120, 7)] * 2
    pd.testing.assert_frame_equal(bars, expected(["2024-01-08 10:00", "2024-01-08 11:00"], rows))
    assert bars.attrs["source_timezone"] == "UTC+02:00"


def test_rates_of_a_server_with_daylight_saving_take_a_zone_name() -> None:
    walls = ("2024-01-08 12:00", "2024-07-08 12:00")
    bars = bars_from_rates(
        rates(*walls), symbol="EURUSD", timeframe="H1", server_utc_offset="broker"
    )
    assert list(bars.index) == [utc("2024-01-08 10:00"), utc("2024-07-08 09:00")]
    as_frame = bars_from_rates(
        pd.DataFrame(rates(*walls)), symbol="EURUSD", timeframe="H1", server_utc_offset="broker"
    )
    pd.testing.assert_frame_equal(as_frame, bars)


@pytest.mark.parametrize(
    ("array", "offset", "message"),
    [
        (None, 7200, "rates: got None, so copy_rates_\\* failed"),
        (rates("2024-01-08 12:00")[["time", "open", "high", "low"]], 7200, "missing field 'close'"),
        (rates("2024-01-08 12:00"), 2, "server_utc_offset: 2 is not an offset in seconds"),
        ([1, 2], 7200, "expected the structured array copy_rates_\\* returns, got list"),
    ],
)
def test_bad_rates_are_refused(array: object, offset: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        bars_from_rates(array, symbol="EURUSD", timeframe="H1", server_utc_offset=offset)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The real files (README of shared/data/fx): formats, row counts, known defects, clocks


def _fx_data() -> Path | None:
    configured = os.environ.get("NL_TRADER_FX_DATA")
    folder = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[3] / "shared" / "data" / "fx"
    )
    return folder if (folder / "README.md").is_file() else None


FX = _fx_data()
real_data = pytest.mark.skipif(
    FX is None,
    reason="real FX data not found: set NL_TRADER_FX_DATA or put shared/data/fx beside the repo",
)


@cache
def real(name: str, timezone: str | None = None) -> LoadResult:
    """An hourly real file, read once per test session."""
    assert FX is not None
    return load_bars(FX / name, timezone=timezone)


@dataclass(frozen=True)
class Timed:
    result: LoadResult
    seconds: float


def _timed(name: str) -> Timed:
    assert FX is not None
    started = time.perf_counter()
    result = load_bars(FX / name)
    return Timed(result, time.perf_counter() - started)


# The three big minute files, each read once.
@pytest.fixture(scope="module")
def m1_2024() -> Timed:
    return _timed("EURUSD_M1_2024.csv.gz")


@pytest.fixture(scope="module")
def m1_2020() -> Timed:
    return _timed("EURUSD_M1_2020.csv.gz")


@pytest.fixture(scope="module")
def raw_2025() -> Timed:
    return _timed("EURUSD_M1_2025_JanJul_HISTDATA_RAW.csv.gz")


def agreement(a: pd.DataFrame, b: pd.DataFrame, pips: float, pip: float = 0.0001) -> float:
    """Share of the common bar times whose closes are within ``pips``."""
    joined = pd.concat([a["close"], b["close"]], axis=1, join="inner", keys=["a", "b"])
    assert len(joined) > 100
    return float(((joined["a"] - joined["b"]).abs() <= pips * pip + 1e-9).mean())


@real_data
@pytest.mark.parametrize(
    ("name", "fmt", "rows", "first", "last"),
    [
        ("EURUSD_H1_MT5_2015-2023.csv.gz", "mt5", 54_614, "2015-01-01 22:00", "2023-10-12 08:00"),
        ("GBPUSD_H1_MT5_2015-2023.csv.gz", "mt5", 48_232, "2015-01-01 22:00", "2023-10-12 08:00"),
        ("EURUSD_H1_MT5_2018-2026.csv.gz", "mt5_unix", 53_116, "2018-01-01 22:00", "2026-07-20 21:00"),
        ("USDJPY_H1_MT5_2016-2026.csv.gz", "mt5", 62_158, "2016-03-20 21:00", "2026-03-20 04:00"),
        ("XAUUSD_H1_MT5_2016-2026.csv.gz", "mt5", 58_958, "2016-03-20 22:00", "2026-03-20 04:00"),
        ("GBPUSD_H1_2012-2020.csv.gz", "generic", 50_000, "2012-12-17 04:00", "2020-12-25 06:00"),
        ("GBPUSD_H1_MT4_2021-2026.csv.gz", "mt4", 32_723, "2021-01-03 22:00", "2026-04-08 07:00"),
        ("EURUSD_H1_OANDA_BIDASK_2007-2018.csv.gz", "lean_bidask", 74_439, "2007-01-01 21:00", "2018-12-31 21:00"),
        ("XAUUSD_H1_OANDA_BIDASK_2006-2019.csv.gz", "lean_bidask", 76_499, "2006-03-20 00:00", "2019-02-25 23:00"),
    ],
)  # fmt: skip
def test_real_hourly_file_loads_whole_in_utc(
    name: str, fmt: str, rows: int, first: str, last: str
) -> None:
    result = real(name)
    assert result.format == fmt
    assert len(result.bars) == rows  # README: no duplicates, disorder or impossible bars
    assert result.bars.attrs["timeframe"] == "H1"
    assert result.bars.attrs["symbol"] == name[:6]
    assert (result.bars.index[0], result.bars.index[-1]) == (utc(first), utc(last))
    for finding in ("duplicates", "order", "prices", "weekend", "time zone: after"):
        no_warning(result, finding)


@real_data
def test_real_m1_year_is_read_as_histdata_prepared_with_every_row(m1_2024: Timed) -> None:
    # Load speed is measured by benchmarks/, never asserted in a unit test.
    assert m1_2024.result.format == "histdata_prepared"
    assert len(m1_2024.result.bars) == 372_379


@real_data
def test_real_2020_minutes_drop_the_60_repeated_minutes_and_report_the_19_hour_hole(
    m1_2020: Timed,
) -> None:
    result = m1_2020.result
    assert len(result.bars) == 372_335 - 60
    assert warning(result, "duplicates").startswith(
        "duplicates: dropped 60 rows whose time repeats an earlier row (all exact copies)"
    )
    # The repeats are the Monday 00:00-00:59 after the last Sunday of October (file clock).
    assert "(2020-10-25 23:00 UTC)" in warning(result, "duplicates")
    assert "1,031 holes inside the trading week (2,694 missing bars)" in warning(result, "gaps")
    assert "largest: 19 h from the bar at line 340,420 (2020-11-30 04:59 UTC)" in warning(
        result, "gaps"
    )


@real_data
def test_real_raw_histdata_2025_is_read_in_new_york_time(raw_2025: Timed) -> None:
    result = raw_2025.result
    assert result.format == "histdata"
    assert len(result.bars) == 211_144
    # 2025-01-01 17:00 New York (EST) is 22:00 UTC.
    assert result.bars.index[0] == utc("2025-01-01 22:00")


@real_data
def test_real_oanda_file_reports_the_missing_week_of_december_2016() -> None:
    result = real("EURUSD_H1_OANDA_BIDASK_2007-2018.csv.gz")
    assert warning(result, "gaps") == (
        "gaps: 16 holes inside the trading week (482 missing bars), 15 of them missing more "
        "than 1 h; largest: 152 h from the bar at line 61,887 (2016-12-09 21:00 UTC) to the "
        "next at line 61,888 (2016-12-16 05:00 UTC)"
    )
    spread = result.bars["spread"]
    # README: ask - bid close from 0.4 pip, median 1.3 pips, never <= 0.
    assert spread.min() == 4
    assert 12 <= spread.median() <= 14
    no_warning(result, "ask")


@real_data
@pytest.mark.parametrize(
    ("name", "count"),
    [("EURUSD_H1_MT5_2015-2023.csv.gz", 6_009), ("GBPUSD_H1_MT5_2015-2023.csv.gz", 3_007)],
)
def test_real_mt5_2015_files_report_the_spread_50_placeholder(name: str, count: int) -> None:
    assert warning(real(name), "spread").startswith(
        f"spread: {count:,} bars ({100 * count / len(real(name).bars):.1f} %) carry exactly 50 "
        "points"
    )


@real_data
def test_real_gbpusd_2015_file_reports_the_missing_year_2018() -> None:
    assert (
        "largest: 8,832 h from the bar at line 18,636 (2017-12-29 21:00 UTC) to the next at "
        "line 18,637 (2019-01-01 21:00 UTC)"
    ) in warning(real("GBPUSD_H1_MT5_2015-2023.csv.gz"), "gaps")


@real_data
def test_real_broker_feed_and_oanda_agree_within_1_5_pips_after_conversion() -> None:
    broker = real("EURUSD_H1_MT5_2018-2026.csv.gz").bars
    oanda = real("EURUSD_H1_OANDA_BIDASK_2007-2018.csv.gz").bars
    # README: 95-99 % of hourly closes within 1.5 pips in months without a clock change.
    calm = broker[~pd.DatetimeIndex(broker.index).month.isin([3, 10, 11])]
    assert agreement(calm, oanda, 1.5) >= 0.95
    # Read with a fixed UTC+2 the summer months are an hour off and mostly disagree.
    fixed = real("EURUSD_H1_MT5_2018-2026.csv.gz", "UTC+2").bars
    summer = pd.DatetimeIndex(fixed.index).month.isin([6, 7, 8])
    assert agreement(fixed[summer], oanda, 1.5) < 0.5


@real_data
def test_real_broker_feed_changed_clocks_on_european_dates_in_march_2018() -> None:
    # Not in the README: between the US (11 March) and European (25 March) clock changes of
    # 2018 the broker server was still on UTC+2, so New York + 7 h is an hour off there.
    oanda = real("EURUSD_H1_OANDA_BIDASK_2007-2018.csv.gz").bars
    for zone, low, high in (("broker", 0.0, 0.75), ("EET", 0.95, 1.0)):
        bars = real("EURUSD_H1_MT5_2018-2026.csv.gz", zone).bars
        times = pd.DatetimeIndex(bars.index)
        march = bars[(times.year == 2018) & (times.month == 3)]
        assert low <= agreement(march, oanda, 1.5) <= high, zone


@real_data
def test_real_m1_resampled_to_h1_matches_the_broker_hours(m1_2024: Timed) -> None:
    hourly = resample(m1_2024.result.bars, "H1")
    broker = real("EURUSD_H1_MT5_2018-2026.csv.gz").bars
    # README: HistData and the broker feed agree at -2 h on their own clocks: 0 h in UTC.
    assert agreement(hourly, broker, 2.0) >= 0.98
    shifted = hourly.shift(freq="1h")
    assert agreement(shifted, broker, 2.0) < 0.5


@real_data
def test_real_raw_histdata_2025_matches_the_broker_hours(raw_2025: Timed) -> None:
    hourly = resample(raw_2025.result.bars, "H1")
    assert agreement(hourly, real("EURUSD_H1_MT5_2018-2026.csv.gz").bars, 2.0) >= 0.97


@real_data
def test_real_prepared_minutes_of_2024_change_clocks_on_european_dates(
    m1_2024: Timed, raw_2025: Timed
) -> None:
    # Not in the README: from 2019 the prepared files open the week at 21:00 file time in the
    # weeks between the US and European clock changes, so their clock is London time there, not
    # New York + 5 h; the same holds for the raw 2025 file (London - 5 h, not New York time).
    assert "in 4 weeks between the US and European clock changes" in warning(
        m1_2024.result, "time zone: in"
    )
    assert "the file's clock changes on other dates than America/New_York" in warning(
        raw_2025.result, "time zone: in"
    )
    # Read as London time (the file clock re-read, not the file), the finding disappears and
    # those weeks agree with the broker feed read on European dates (EET).
    as_file = utc_to_wall(pd.DatetimeIndex(m1_2024.result.bars.index), parse_zone("ny+5"))
    london = m1_2024.result.bars.set_axis(
        wall_to_utc(as_file, parse_zone("Europe/London")).utc.rename("time")
    )
    assert checks.report_clock_change_dates(london, 1, "Europe/London") == []
    broker = real("EURUSD_H1_MT5_2018-2026.csv.gz", "EET").bars
    weeks = (utc("2024-03-10"), utc("2024-03-30"))
    for bars, low, high in ((m1_2024.result.bars, 0.0, 0.5), (london, 0.97, 1.0)):
        hourly = resample(bars, "H1")
        between = hourly[(hourly.index >= weeks[0]) & (hourly.index < weeks[1])]
        assert low <= agreement(between, broker, 2.0) <= high


@real_data
def test_real_broker_daily_bars_have_no_sunday_stub() -> None:
    daily = resample(real("EURUSD_H1_MT5_2018-2026.csv.gz").bars, "D1", timezone="broker")
    server_days = utc_to_wall(pd.DatetimeIndex(daily.index), parse_zone("broker")).day_of_week
    assert set(server_days) == {0, 1, 2, 3, 4}
    in_utc = resample(real("EURUSD_H1_MT5_2018-2026.csv.gz").bars, "D1")
    assert 6 in set(pd.DatetimeIndex(in_utc.index).day_of_week)
