"""A run's data, described once: what a run records, what replays it, and the one loader's checks.

Every face (the CLI's ``backtest`` and ``backtest-strategy``, the demo, a paper session, the web
app) describes its bars as a ``RunData`` and loads them through ``load_run_data``, so a check made
on one path is made on all.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nl_trader.data.run_data import DEFAULT_SAMPLE_BARS, RunData, load_run_data
from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError

CLI_NAMES = {"from": "--from", "to": "--to", "convert": "--convert", "timeframe": "--timeframe"}


def _csv(path: Path, bars: pd.DataFrame) -> Path:
    """Bars as a generic CSV file (Timestamp, Open, High, Low, Close), UTC."""
    frame = bars[["open", "high", "low", "close"]].copy()
    frame.index = frame.index.tz_convert("UTC").tz_localize(None)
    frame.index.name = "Timestamp"
    frame.columns = ["Open", "High", "Low", "Close"]
    frame.to_csv(path, float_format="%.5f")
    return path


def test_a_sample_run_records_its_size_and_replays_to_the_same_bars() -> None:
    data = RunData.of("sample", "EURUSD", start="2025-03-01", sample_size=2_000)
    record = data.to_record()
    assert record == {
        "source": "sample",
        "symbol": "EURUSD",
        "from": "2025-03-01",
        "to": None,
        "bars": 2_000,
    }
    first = load_run_data(data, "H1", "USD")
    again = load_run_data(RunData.from_record(record), "H1", "USD")
    assert first.info.fingerprint == again.info.fingerprint
    assert first.bars.index[0] >= pd.Timestamp("2025-03-01", tz="UTC")
    assert first.bars.equals(again.bars)


def test_a_run_recorded_before_the_description_existed_still_replays() -> None:
    """Runs store ``data`` with these keys; one without ``bars`` is the 6,000-bar sample."""
    data = RunData.from_record({"source": "sample", "symbol": "EURUSD", "from": None, "to": None})
    assert data.bars is None
    assert len(load_run_data(data, "H1", "USD").bars) == DEFAULT_SAMPLE_BARS


def test_a_file_run_records_absolute_paths_so_it_replays_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "eurgbp.csv", sample_bars("EURGBP", "H1", bars=600))
    _csv(tmp_path / "gbpusd.csv", sample_bars("GBPUSD", "H1", bars=600))
    _csv(tmp_path / "eurusd.csv", sample_bars("EURUSD", "H1", bars=600))
    data = RunData.of("eurgbp.csv", "EURGBP", convert=["GBPUSD=gbpusd.csv", "EURUSD=eurusd.csv"])
    record = data.to_record()
    assert record["source"] == str(tmp_path / "eurgbp.csv")
    assert record["convert"] == [
        f"GBPUSD={tmp_path / 'gbpusd.csv'}",
        f"EURUSD={tmp_path / 'eurusd.csv'}",
    ]
    assert record["timezone"] is None
    assert "timeframe" not in record  # recorded only when the file's spacing needed saying
    loaded = load_run_data(RunData.from_record(record), "H1", "USD")
    # The pound converts the profit, the euro the margin: both pairs' bars, as the backtest needs.
    assert set(loaded.conversion_bars) == {"GBPUSD", "EURUSD"}
    assert loaded.info.format != "sample"


def test_a_cross_pair_without_its_conversion_file_is_refused_naming_the_pair(
    tmp_path: Path,
) -> None:
    source = _csv(tmp_path / "eurjpy.csv", sample_bars("EURJPY", "H1", bars=600))
    with pytest.raises(
        InvalidInputError,
        match=r"--convert: EURJPY's money converts to USD through EURUSD, USDJPY; give --convert EURUSD=FILE --convert USDJPY=FILE",
    ):
        load_run_data(RunData.of(str(source), "EURJPY"), "H1", "USD", names=CLI_NAMES)


def test_conversion_bars_starting_after_the_first_bar_tested_are_refused_on_every_path(
    tmp_path: Path,
) -> None:
    """The check ran only in ``backtest`` before; a stored strategy's run skipped it."""
    source = _csv(tmp_path / "eurgbp.csv", sample_bars("EURGBP", "H1", bars=600))
    late = _csv(tmp_path / "gbpusd.csv", sample_bars("GBPUSD", "H1", bars=600).iloc[100:])
    euro = _csv(tmp_path / "eurusd.csv", sample_bars("EURUSD", "H1", bars=600))
    data = RunData.of(str(source), "EURGBP", convert=[f"GBPUSD={late}", f"EURUSD={euro}"])
    with pytest.raises(
        InvalidInputError, match=r"data\.convert: GBPUSD's bars start .* after the first bar"
    ):
        load_run_data(data, "H1", "USD")


def test_bad_fields_are_each_named_as_the_face_calls_them() -> None:
    with pytest.raises(InvalidInputError) as caught:
        RunData.of(
            "sample",
            "EURUSD",
            start="yesterday-ish",
            timeframe="M1",
            names=CLI_NAMES,
        )
    problems = " | ".join(caught.value.problems)
    assert "--timeframe: the sample is made at the strategy's timeframe" in problems
    assert "--from: 'yesterday-ish' is not a day" in problems
    with pytest.raises(InvalidInputError, match=r"data\.convert: expected PAIR=FILE"):
        RunData.of("bars.csv", "EURJPY", convert=["USDJPY"])
    with pytest.raises(
        InvalidInputError, match=r"data\.bars: Input should be greater than or equal to 500"
    ):
        RunData.from_record({"source": "sample", "symbol": "EURUSD", "bars": 10})


def test_a_file_of_a_higher_timeframe_than_the_strategys_is_refused(tmp_path: Path) -> None:
    source = _csv(tmp_path / "eurusd_h4.csv", sample_bars("EURUSD", "H4", bars=600))
    with pytest.raises(
        InvalidInputError, match=r"the strategy runs on H1 bars but .* holds H4 bars"
    ):
        load_run_data(RunData.of(str(source), "EURUSD"), "H1", "USD")
