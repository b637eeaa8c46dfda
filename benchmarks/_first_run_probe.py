"""One job of ``first_run.py`` in its own process, recording numba's compile events.

Not meant to be run by hand: ``first_run.py`` starts it with a fresh cache directory.
"""

from __future__ import annotations

import argparse
import json
import runpy
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from numba.core import event


class _CompileTimes(event.Listener):  # type: ignore[misc]
    """Each function's own compile time: a compile's duration less the compiles nested in it."""

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []
        self.self_s: dict[str, float] = defaultdict(float)
        self.versions: dict[str, int] = defaultdict(int)

    def on_start(self, ev: Any) -> None:
        function = ev.data["dispatcher"].py_func
        name = f"{function.__module__}.{function.__qualname__}"
        self.stack.append([name, time.perf_counter(), 0.0])

    def on_end(self, ev: Any) -> None:
        name, started, nested = self.stack.pop()
        took = time.perf_counter() - started
        self.self_s[name] += took - nested
        self.versions[name] += 1
        if self.stack:
            self.stack[-1][2] += took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("job", choices=["demo", "backtest", "order"])
    args = parser.parse_args()
    times = _CompileTimes()
    event.register("numba:compile", times)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.job == "order":
            runpy.run_path("tests/seed_examples/simulated_example.py", run_name="__main__")
        else:
            from nl_trader.cli import app

            command = (
                ["demo", "--dir", str(args.workdir / "demo")]
                if args.job == "demo"
                else [
                    "backtest",
                    "strategies/ma_crossover.json",
                    "--data",
                    "sample",
                    "--report",
                    str(args.workdir / "report.html"),
                ]
            )
            try:
                app(command, standalone_mode=False)
            except SystemExit as stop:
                if stop.code:
                    raise
    finally:
        records = [
            {"function": name, "self_s": took, "versions": times.versions[name]}
            for name, took in sorted(times.self_s.items(), key=lambda item: -item[1])
        ]
        args.events.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
