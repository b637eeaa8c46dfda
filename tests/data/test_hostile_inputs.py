"""Hostile bar files (issue 15): bombs and endless streams stop at a limit, integers too large
for their column are refused instead of wrapping, and every refusal says where and what to do.

Each test builds its hostile file in ``tmp_path`` in a fraction of a second. The tests that feed
gigabytes run under ``memory_cap``: a loader that inflated its input instead of stopping would
die there of a MemoryError instead of eating the machine.
"""

from __future__ import annotations

import gzip
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nl_trader.data import loaders
from nl_trader.data.loaders import bars_from_rates, load_bars, resample
from nl_trader.errors import InvalidInputError, NlTraderError

FX = Path(
    os.environ.get("NL_TRADER_FX_DATA")
    or Path(__file__).resolve().parents[3] / "shared" / "data" / "fx"
)
STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
MT5_LINE = b"2024.03.04\t10:00:00\t1.08500\t1.08600\t1.08400\t1.08550\t42\t0\t8\n"
MIB = 1 << 20


@pytest.fixture(autouse=True)
def _no_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own limits must not change what these tests see.
    monkeypatch.delenv("NL_TRADER_MAX_DATA_BYTES", raising=False)
    monkeypatch.delenv("NL_TRADER_MAX_DATA_ROWS", raising=False)


@contextmanager
def memory_cap(megabytes: int) -> Iterator[None]:
    """Let the process map at most ``megabytes`` more while the block runs."""
    resource = pytest.importorskip("resource")
    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("memory cap: needs /proc/self/status (Linux)")
    mapped_kb = next(
        int(line.split()[1]) for line in status.read_text().splitlines() if line[:7] == "VmSize:"
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = mapped_kb * 1024 + megabytes * MIB
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def problems(error: pytest.ExceptionInfo[InvalidInputError]) -> str:
    return "; ".join(error.value.problems)


def minutes(count: int, *, spread: str = "8", start: str = "2024-03-04 00:00") -> list[str]:
    """``count`` MT5 export lines of consecutive M1 bars from Monday midnight."""
    times = pd.date_range(start, periods=count, freq="1min")
    return [
        f"{moment:%Y.%m.%d}\t{moment:%H:%M:%S}\t1.08500\t1.08600\t1.08400\t1.08550\t42\t0\t{spread}\n"
        for moment in times
    ]


def mt5_file(directory: Path, lines: list[str], name: str = "EURUSD_M1.csv") -> Path:
    path = directory / name
    path.write_text(MT5_HEADER + "".join(lines), encoding="utf-8", newline="")
    return path


def with_field(lines: list[str], line: int, field: int, value: str) -> list[str]:
    """``lines`` with field ``field`` of file line ``line`` (the header is line 1) replaced."""
    changed = list(lines)
    fields = changed[line - 2].rstrip("\n").split("\t")
    fields[field] = value
    changed[line - 2] = "\t".join(fields) + "\n"
    return changed


# ---------------------------------------------------------------------------------------------
# Finding 1: what a file may unpack to, and the rows it may hold


def one_member_bomb(path: Path, mib: int) -> Path:
    """A gzip of one member that unpacks to ``mib`` MiB of one MT5 bar line, built in a blink:
    after a full flush deflate starts afresh, so the compressed MiB repeats as it is."""
    block = MT5_LINE * (MIB // len(MT5_LINE))
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    end = b"\x03\x00" + struct.pack("<II", crc, (len(block) * mib) & 0xFFFFFFFF)
    path.write_bytes(first + again * (mib - 1) + end)
    return path


def many_member_bomb(path: Path, mib: int) -> Path:
    """A gzip of ``mib`` members, each one MiB of one MT5 bar line."""
    path.write_bytes(gzip.compress(MT5_LINE * (MIB // len(MT5_LINE))) * mib)
    return path


@pytest.mark.parametrize("bomb", [one_member_bomb, many_member_bomb])
def test_a_3_mb_gzip_that_unpacks_to_1_gib_stops_at_the_size_limit_having_inflated_no_more(
    tmp_path: Path, bomb: Callable[[Path, int], Path]
) -> None:
    path = bomb(tmp_path / "EURUSD_M1.csv.gz", 1024)
    assert path.stat().st_size < 4 * MIB
    with memory_cap(256), pytest.raises(InvalidInputError) as error:
        load_bars(path, max_bytes=8 * MIB)
    assert str(path) in str(error.value)
    assert (
        "file: unpacks to more than 8,388,608 bytes (8 MiB), the limit set by max_bytes=; raise "
        "it with max_bytes= (load_bars) or the environment variable NL_TRADER_MAX_DATA_BYTES "
        "(e.g. NL_TRADER_MAX_DATA_BYTES=32MiB)"
    ) in problems(error)


def test_a_file_within_the_limits_but_beyond_the_memory_at_hand_is_refused_not_a_traceback(
    tmp_path: Path,
) -> None:
    path = one_member_bomb(tmp_path / "EURUSD_M1.csv.gz", 256)  # 256 MiB, under the 512 MiB default
    with memory_cap(64), pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert str(path) in str(error.value)
    assert "file: this machine ran out of memory reading it; split it into shorter spans" in (
        problems(error)
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_dev_zero_is_refused_at_its_first_chunk_as_binary_not_read_until_memory_runs_out() -> None:
    with memory_cap(256), pytest.raises(InvalidInputError) as error:
        load_bars("/dev/zero")
    assert "bar file '/dev/zero'" in str(error.value)
    assert "file: is binary, not a text bar file" in problems(error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_an_endless_stream_of_bar_lines_stops_at_the_size_limit(tmp_path: Path) -> None:
    pipe = tmp_path / "EURUSD_M1.csv"
    os.mkfifo(pipe)
    stop = threading.Event()
    block = MT5_HEADER.encode() + MT5_LINE * 1000

    def write_forever() -> None:
        try:
            with pipe.open("wb") as out:
                while not stop.is_set():
                    out.write(block)
        except OSError:
            pass  # the reader hung up: the end of the stream

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        with memory_cap(256), pytest.raises(InvalidInputError) as error:
            load_bars(pipe, max_bytes=4 * MIB)
    finally:
        stop.set()
        # Open and close the reading end, so that a writer still waiting for a reader ends.
        os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=10)
    assert str(pipe) in str(error.value)
    assert "file: holds more than 4,194,304 bytes (4 MiB), the limit set by max_bytes=" in (
        problems(error)
    )


def test_a_10_gib_plain_file_is_refused_by_its_size_under_the_default_limit_without_reading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "EURUSD_M1.csv"
    with path.open("wb") as sparse:
        try:
            sparse.truncate(10 * 1024 * MIB)  # a hole: no disk used
        except OSError:
            pytest.skip("this file system cannot hold a sparse 10 GiB file")
    with memory_cap(256), pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert (
        "file: is 10,737,418,240 bytes, more than 536,870,912 bytes (512 MiB), the default limit; "
        "raise it with max_bytes= (load_bars) or the environment variable "
        "NL_TRADER_MAX_DATA_BYTES (e.g. NL_TRADER_MAX_DATA_BYTES=2GiB)"
    ) in problems(error)


@pytest.mark.parametrize("header", [True, False], ids=["mt5 with header", "mt4 without"])
def test_a_file_of_one_row_more_than_the_row_limit_is_refused_and_the_limit_itself_admitted(
    tmp_path: Path, header: bool
) -> None:
    def file(rows: int) -> Path:
        times = pd.date_range("2024-03-04 00:00", periods=rows, freq="1min")
        if header:
            return mt5_file(tmp_path, minutes(rows), name=f"EURUSD_M1_{rows}.csv")
        path = tmp_path / f"GBPUSD_M1_{rows}.csv"
        lines = (f"{t:%Y.%m.%d},{t:%H:%M},1.285,1.286,1.284,1.2855,42\n" for t in times)
        path.write_text("".join(lines), encoding="utf-8")
        return path

    assert len(load_bars(file(1000), max_rows=1000).bars) == 1000
    with pytest.raises(InvalidInputError) as error:
        load_bars(file(1001), max_rows=1000)
    assert (
        "file: holds more than 1,000 rows, the limit set by max_rows=; raise it with max_rows= "
        "(load_bars) or the environment variable NL_TRADER_MAX_DATA_ROWS (e.g. "
        "NL_TRADER_MAX_DATA_ROWS=4000)"
    ) in problems(error)


def test_the_environment_sets_the_limits_and_the_loader_arguments_override_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = mt5_file(tmp_path, minutes(1200))  # 1,200 rows, 70,867 bytes
    monkeypatch.setenv("NL_TRADER_MAX_DATA_BYTES", "64KB")
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert (
        "file: is 70,867 bytes, more than 64,000 bytes (62.5 KiB), the limit set by "
        "NL_TRADER_MAX_DATA_BYTES=64KB; raise it"
    ) in problems(error)
    assert len(load_bars(path, max_bytes=1_000_000).bars) == 1200
    monkeypatch.setenv("NL_TRADER_MAX_DATA_BYTES", "1GiB")
    monkeypatch.setenv("NL_TRADER_MAX_DATA_ROWS", "1k")
    with pytest.raises(InvalidInputError, match=r"more than 1,000 rows, the limit set by NL_"):
        load_bars(path)
    assert len(load_bars(path, max_rows=1200).bars) == 1200


@pytest.mark.parametrize(
    ("variable", "value", "arguments", "message"),
    [
        ("NL_TRADER_MAX_DATA_BYTES", "lots", {}, "NL_TRADER_MAX_DATA_BYTES: 'lots' is not a"),
        ("NL_TRADER_MAX_DATA_BYTES", "0", {}, "NL_TRADER_MAX_DATA_BYTES: '0' is not a positive"),
        ("NL_TRADER_MAX_DATA_ROWS", "2GB", {}, "NL_TRADER_MAX_DATA_ROWS: '2GB' is not a"),
        (None, None, {"max_bytes": 0}, "max_bytes: 0 is not a whole number of at least 1"),
        (None, None, {"max_bytes": True}, "max_bytes: True is not a whole number of at least 1"),
        (None, None, {"max_rows": 2.5}, "max_rows: 2.5 is not a whole number of at least 1"),
    ],
)
def test_a_limit_that_is_no_positive_whole_number_is_refused_naming_where_it_was_set(
    monkeypatch: pytest.MonkeyPatch,
    variable: str | None,
    value: str | None,
    arguments: dict[str, object],
    message: str,
) -> None:
    if variable is not None and value is not None:
        monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInputError) as error:
        load_bars(Path(__file__).parent / "fixtures" / "EURUSD_H1_mt5.csv", **arguments)  # type: ignore[arg-type]
    assert message in problems(error)


@pytest.mark.skipif(
    not (FX / "README.md").is_file(),
    reason="real FX data not found: set NL_TRADER_FX_DATA or put shared/data/fx beside the repo",
)
def test_the_default_limits_admit_the_largest_real_file_twenty_times_over() -> None:
    sizes = {}
    for path in FX.glob("*.csv.gz"):
        with path.open("rb") as packed:
            packed.seek(-4, os.SEEK_END)
            sizes[path] = struct.unpack("<I", packed.read(4))[0]  # gzip's own unpacked size
    largest = max(sizes, key=sizes.__getitem__)
    with gzip.open(largest, "rb") as text:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: text.read(MIB), b""))
    assert sizes[largest] > 10 * MIB  # a year of M1 bars
    assert lines > 300_000
    assert 20 * sizes[largest] <= loaders.DEFAULT_MAX_DATA_BYTES
    assert 20 * lines <= loaders.DEFAULT_MAX_DATA_ROWS


# ---------------------------------------------------------------------------------------------
# Finding 2: integers range-checked before they are narrowed to their column


def test_a_spread_of_10_to_the_12_points_is_refused_not_stored_as_a_negative_spread(
    tmp_path: Path,
) -> None:
    path = mt5_file(tmp_path, with_field(minutes(5), 4, 8, "1000000000000"))
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert str(path) in str(error.value)
    assert (
        "line 4, column 'SPREAD': 1000000000000 is more than the 2,147,483,647 points a spread "
        "can hold"
    ) in problems(error)
    largest = load_bars(mt5_file(tmp_path, with_field(minutes(5), 4, 8, "2147483647")))
    assert largest.bars["spread"].iloc[2] == 2_147_483_647


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            6,
            "100000000000000000000",
            "line 3, column 'TICKVOL': 100000000000000000000 is more than 9,007,199,254,740,992, "
            "the largest tick volume read exactly",
        ),
        (
            7,
            "9223372036854775808",
            "line 3, column 'VOL': 9223372036854775808 is more than 9,007,199,254,740,992, the "
            "largest real volume read exactly",
        ),
    ],
)
def test_a_volume_too_large_to_hold_is_refused_not_wrapped_to_minus_2_to_the_63(
    tmp_path: Path, field: int, value: str, message: str
) -> None:
    path = mt5_file(tmp_path, with_field(minutes(5), 3, field, value))
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert str(path) in str(error.value)
    assert message in problems(error)


def test_a_unix_time_beyond_the_bar_clock_is_refused_not_read_as_a_missing_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "EURUSD_H1.csv"
    path.write_text(
        "time,open,high,low,close,tick_volume,spread\n"
        "1709935200,1.09412,1.0944,1.0938,1.09401,1520,8\n"
        "100000000000000000000,1.09401,1.09425,1.0936,1.09372,980,12\n"
    )
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert (
        "line 3, column 'time': '100000000000000000000' is beyond the 9,223,372,036 Unix seconds "
        "of a bar time (years 1677 to 2262)"
    ) in problems(error)


def test_ask_prices_that_put_the_spread_beyond_the_column_are_refused_naming_both_columns(
    tmp_path: Path,
) -> None:
    lines = (Path(__file__).parent / "fixtures" / "eurusd_lean_hour.csv").read_text().splitlines()
    fields = lines[1].split(",")
    fields[6:10] = ["10000000"] * 4  # an ask of 10,000,000 over a bid of 1.09: 10^12 points
    lines[1] = ",".join(fields)
    path = tmp_path / "eurusd_lean_hour.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert str(path) in str(error.value)
    assert (
        "line 2, columns 'ask_close' and 'close': ask 1e+07 and bid 1.09372 are "
        "999,999,890,628 points of 1e-05 apart, more than the 2,147,483,647 a spread can hold"
    ) in problems(error)


def test_mt5_rates_with_a_tick_volume_beyond_int64_are_refused_not_wrapped_to_minus_1() -> None:
    rates = np.zeros(2, dtype=[("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"),
                               ("close", "<f8"), ("tick_volume", "<u8"), ("spread", "<i4"),
                               ("real_volume", "<u8")])  # fmt: skip
    rates["time"] = [1704715200, 1704718800]
    rates["open"] = rates["high"] = rates["low"] = rates["close"] = 1.085
    rates["tick_volume"] = [120, 2**64 - 1]
    with pytest.raises(InvalidInputError) as error:
        bars_from_rates(rates, symbol="EURUSD", timeframe="H1", server_utc_offset=7200)
    assert (
        "tick_volume: 18446744073709551615 on row 2 (2024-01-08 11:00 UTC) does not fit the "
        "column (-9,223,372,036,854,775,808 to 9,223,372,036,854,775,807)"
    ) in problems(error)


def test_volumes_whose_sum_over_a_bar_an_int64_cannot_hold_are_refused_when_resampled() -> None:
    times = pd.date_range("2024-03-04 10:00", periods=5, freq="1min", tz="UTC")
    bars = pd.DataFrame(
        {
            "open": 1.085,
            "high": 1.086,
            "low": 1.084,
            "close": 1.0855,
            "tick_volume": np.full(5, 2**62, dtype=np.int64),
        },
        index=pd.DatetimeIndex(times.as_unit("us"), name="time"),
    )
    bars.attrs["timeframe"] = "M1"
    with pytest.raises(InvalidInputError) as error:
        resample(bars, "M5")
    assert "tick_volume: the bar of 2024-03-04 10:00 (UTC) sums to 2.31e+19, more than" in (
        problems(error)
    )


# ---------------------------------------------------------------------------------------------
# Finding 3: refusals that say where, and hints a person can act on


def test_a_negative_spread_is_refused_naming_the_file_line_and_column(tmp_path: Path) -> None:
    path = mt5_file(tmp_path, with_field(minutes(5), 4, 8, "-5"))
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert str(path) in str(error.value)
    assert "line 4, column 'SPREAD': -5 is negative; a spread is 0 points or more" in problems(
        error
    )


def test_a_byte_that_is_not_utf8_is_reported_at_its_line_column_and_byte_in_the_line(
    tmp_path: Path,
) -> None:
    rows = [
        f"{moment:%Y-%m-%d %H:%M:%S},1.085,1.086,1.084,1.0855,42\n".encode()
        for moment in pd.date_range("2024-03-04", periods=600, freq="1min")
    ]
    prefix = rows[499][: rows[499].index(b"1.0855")] + b"1.08"
    rows[499] = prefix + b"\xe95,42\n"  # file line 501: Latin-1 'é' inside the close
    path = tmp_path / "EURUSD_M1.csv"
    path.write_bytes(b"Timestamp,Open,High,Low,Close,Volume\n" + b"".join(rows))
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert len(prefix) + 1 == 43
    assert (
        "line 501, column 'Close', byte 43 of the line: 0xE9 is not UTF-8 text; save the file "
        "as UTF-8"
    ) in problems(error)


def irregular_minutes(directory: Path) -> Path:
    """M1 bars of a thin market: bars at 7-minute steps, so the spacing shows no timeframe."""
    return mt5_file(directory, minutes(200)[::7], name="EURUSD_thin.csv")


def test_bars_whose_spacing_shows_no_timeframe_say_how_to_name_it_in_python_and_the_cli(
    tmp_path: Path,
) -> None:
    path = irregular_minutes(tmp_path)
    with pytest.raises(InvalidInputError) as error:
        load_bars(path)
    assert str(path) in str(error.value)
    assert (
        "timeframe: bars are a median 7 minutes apart, which is no MT5 timeframe; say which it "
        "is: timeframe='M1' to load_bars, --timeframe M1 to nl-trader backtest"
    ) in problems(error)
    named = load_bars(path, timeframe="M1")
    assert named.bars.attrs["timeframe"] == "M1"
    assert "timeframe: given M1, but the bars are spaced like no MT5 timeframe" in named.warnings


class BacktestSpy:
    """Stands in for run_backtest: records the bars it is given and stops the command."""

    def __init__(self) -> None:
        self.bars: list[pd.DataFrame] = []

    def __call__(self, spec: object, bars: pd.DataFrame, **options: object) -> None:
        self.bars.append(bars)
        raise NlTraderError("the spy stops here")


@pytest.fixture
def m1_spec(tmp_path: Path) -> Path:
    spec = (STRATEGIES / "ma_crossover.json").read_text()
    path = tmp_path / "ma_crossover_m1.json"
    path.write_text(spec.replace('"timeframe": "H1"', '"timeframe": "M1"'))
    assert '"timeframe": "M1"' in path.read_text()
    return path


def test_backtest_reads_a_thin_file_as_the_timeframe_given_with_its_timeframe_option(
    tmp_path: Path, m1_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nl_trader.cli import app
    from nl_trader.cli import backtest as command

    data = irregular_minutes(tmp_path)
    runner = CliRunner()
    refused = runner.invoke(app, ["backtest", str(m1_spec), "--data", str(data)])
    assert refused.exit_code == 2
    assert "--timeframe M1 to nl-trader backtest" in " ".join(refused.output.split())
    spy = BacktestSpy()
    monkeypatch.setattr(command, "run_backtest", spy)
    ran = runner.invoke(app, ["backtest", str(m1_spec), "--data", str(data), "--timeframe", "m1"])
    assert "the spy stops here" in ran.output
    assert [(len(bars), bars.attrs["timeframe"]) for bars in spy.bars] == [(29, "M1")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--timeframe", "H7"], "--timeframe: 'H7' is not an MT5 timeframe (M1, M2,"),
        (["--data", "sample", "--timeframe", "M1"], "--timeframe: the sample is made at the"),
    ],
)
def test_backtest_refuses_a_timeframe_option_it_cannot_use(
    tmp_path: Path, m1_spec: Path, arguments: list[str], message: str
) -> None:
    from nl_trader.cli import app

    data = ["--data", str(irregular_minutes(tmp_path))] if "--data" not in arguments else []
    result = CliRunner().invoke(app, ["backtest", str(m1_spec), *data, *arguments])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_backtest_of_a_stored_strategy_refuses_the_timeframe_option_it_cannot_record(
    tmp_path: Path,
) -> None:
    from nl_trader.cli import app

    data = irregular_minutes(tmp_path)
    result = CliRunner().invoke(
        app, ["backtest", "987654", "--data", str(data), "--timeframe", "M1"]
    )
    assert result.exit_code == 2
    assert "--timeframe: works with a spec file only" in " ".join(result.output.split())
