"""Replaying bars into the simulated broker, in time order across symbols.

The simulated route and the fake terminal both keep their market moving with a ``BarReplay``: it
walks the union of the symbols' bar times and hands each bar to ``SimBroker.on_bar``. The bars it
has replayed are the history a terminal can return (``copy_rates_*``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError
from nl_trader.sim.broker import SimBroker
from nl_trader.symbols import DEFAULT_SYMBOLS
from nl_trader.timeframes import TIMEFRAME_MINUTES, epoch_seconds

_COLUMNS = ("open", "high", "low", "close", "spread")


class BarReplay:
    """Feed bars of one timeframe for several symbols into a broker, bar time by bar time.

    ``time_offset_s`` shifts UTC bar times to the trade server's clock (7200 for a GMT+2 broker):
    MT5 reports server wall-clock time encoded as if it were UTC.

    ``open_next``: each step finishes the bar in progress and opens the next one (its first tick,
    the open), as a live terminal sees time pass: a bar closes when the next one's first tick
    arrives, so an order sent on a closed bar fills at the next bar's open, as in a backtest. The
    bar in progress is in the history as MT5 shows a forming bar (open = high = low = close).
    """

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame],
        timeframe: str,
        *,
        time_offset_s: int = 0,
        open_next: bool = False,
    ) -> None:
        if timeframe not in TIMEFRAME_MINUTES:
            raise InvalidInputError([f"timeframe: unknown timeframe {timeframe!r}"], what="replay")
        if not bars:
            raise InvalidInputError(["bars: give at least one symbol's bars"], what="replay")
        self.timeframe = timeframe
        self.duration_s = TIMEFRAME_MINUTES[timeframe] * 60
        self.time_offset_s = time_offset_s
        self.frames: dict[str, pd.DataFrame] = {}
        self._times: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}
        for symbol, frame in bars.items():
            missing = [column for column in ("open", "high", "low", "close") if column not in frame]
            if missing:
                raise InvalidInputError(
                    [f"bars[{symbol}]: missing column {column!r}" for column in missing],
                    what="replay",
                )
            frame = frame if "spread" in frame else frame.assign(spread=0)
            self.frames[symbol] = frame
            self._times[symbol] = epoch_seconds(frame.index) + time_offset_s
            self._values[symbol] = frame.loc[:, list(_COLUMNS)].to_numpy(dtype="float64")
        self.times = np.unique(np.concatenate(list(self._times.values())))
        self.cursor = 0  # bar times replayed (or, with open_next, opened) so far
        self._next_row = dict.fromkeys(self.frames, 0)
        self.open_next = open_next
        self._forming: dict[str, int] = {}  # open_next: symbol -> row of its bar in progress

    @classmethod
    def sample(
        cls,
        symbols: tuple[str, ...] | None = None,
        timeframe: str = "M5",
        bars: int = 3_000,
        *,
        time_offset_s: int = 0,
    ) -> BarReplay:
        """A replay of the bundled sample for ``symbols`` (default: every default symbol)."""
        names = symbols or tuple(DEFAULT_SYMBOLS)
        frames = {name: sample_bars(name, timeframe, bars=bars) for name in names}
        return cls(frames, timeframe, time_offset_s=time_offset_s)

    @property
    def done(self) -> bool:
        return self.cursor >= len(self.times)

    @property
    def current_time_s(self) -> int:
        """Server time of the last bar replayed (its open time), 0 before the first."""
        return int(self.times[self.cursor - 1]) if self.cursor else 0

    def step(self, broker: SimBroker, count: int = 1) -> int:
        """Replay the next ``count`` bar times into ``broker``; return how many were replayed
        (with ``open_next``: how many were opened, the bar in progress finished first)."""
        if self.open_next:
            return self._step_opening(broker, count)
        replayed = 0
        duration = self.duration_s
        while replayed < count and self.cursor < len(self.times):
            moment = self.times[self.cursor]
            for symbol, times in self._times.items():
                row = self._next_row[symbol]
                if row < len(times) and times[row] == moment:
                    o, h, low, c, spread = self._values[symbol][row]
                    broker.on_bar(symbol, float(moment), duration, o, h, low, c, spread)
                    self._next_row[symbol] = row + 1
            self.cursor += 1
            replayed += 1
        return replayed

    def _step_opening(self, broker: SimBroker, count: int) -> int:
        opened = 0
        duration = self.duration_s
        while opened < count:
            for symbol, row in self._forming.items():
                o, h, low, c, spread = self._values[symbol][row]
                moment = float(self._times[symbol][row])
                broker.finish_bar(symbol, moment, duration, o, h, low, c, spread)
                self._next_row[symbol] = row + 1
            self._forming = {}
            if self.cursor >= len(self.times):
                break
            moment = self.times[self.cursor]
            for symbol, times in self._times.items():
                row = self._next_row[symbol]
                if row < len(times) and times[row] == moment:
                    o, _, _, _, spread = self._values[symbol][row]
                    broker.open_bar(symbol, float(moment), o, spread)
                    self._forming[symbol] = row
            self.cursor += 1
            opened += 1
        return opened

    def replayed_bars(self, symbol: str) -> pd.DataFrame:
        """The bars of ``symbol`` replayed so far (oldest first), times in server clock; with
        ``open_next`` the bar in progress last, as its open so far."""
        frame = self.frames.get(symbol)
        if frame is None:
            return pd.DataFrame(columns=list(_COLUMNS))
        done = frame.iloc[: self._next_row[symbol]]
        row = self._forming.get(symbol)
        if row is None:
            return done
        forming = frame.iloc[row : row + 1].copy()
        price = float(forming["open"].iloc[0])
        forming.loc[:, ["high", "low", "close"]] = price
        return pd.concat([done, forming])

    def server_times(self, symbol: str) -> np.ndarray:
        done = self._next_row.get(symbol, 0)
        row = self._forming.get(symbol)
        return self._times[symbol][: done if row is None else row + 1]
