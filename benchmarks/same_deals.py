"""Same deals: two checkouts of nl_trader give the same deals, deal for deal, on the same runs.

A change to the compiled core (sim/kernel, backtest/loop, strategy/decide) must not change what
a backtest trades. This runs, in each checkout, the 15 example strategies of ``strategies/`` on
the bundled sample (default costs), and the speed benchmark's SMA 20/50 reversal on 1,000,000
real EURUSD M1 bars when ../shared/data/fx is present (zero costs), then compares every deal's
time, type, entry, volume, price, commission, swap, profit and reason.

    python benchmarks/same_deals.py --before PATH [--after PATH] [--bars 1000000]

``--before``: another checkout (a ``git worktree`` of the commit before the change).
``--after``: this checkout by default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ("time_msc", "type", "entry", "volume", "price", "commission", "swap", "profit", "reason")

_RUN = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from nl_trader.backtest.engine import run_backtest
try:  # the tree under test, or an older revision (before data.run_data)
    from nl_trader.data.run_data import RunData, load_run_data
except ImportError:
    RunData = None
    from nl_trader.cli.backtest import bars_for, conversion_bars_for
from nl_trader.spec import parse_spec
from backtest_speed import load_bars, spec as sma_spec
from nl_trader.backtest.engine import BacktestSettings

fields = sys.argv[2].split(",")
out = {}
for path in sorted(Path("strategies").glob("*.json")):
    if path.name == "index.json":
        continue
    spec = parse_spec(path.read_text(encoding="utf-8"))
    symbol = spec.symbols[0]
    if RunData is not None:
        loaded = load_run_data(RunData.of("sample", symbol, sample_size=20_000), spec.timeframe, "USD")
        bars, m1, conversions = loaded.bars, loaded.m1_bars, loaded.conversion_bars
    else:
        bars, m1, _ = bars_for(spec, "sample", symbol, None)
        conversions = conversion_bars_for(symbol, spec.timeframe, "sample", [], "USD")
    result = run_backtest(spec, bars, symbol=symbol, m1_bars=m1, conversion_bars=conversions)
    out[path.stem] = [[deal[f] for f in fields] for deal in result.deals]
count = int(sys.argv[4])
if count:
    bars, label = load_bars(count)
    if label.startswith("real"):
        settings = BacktestSettings(spread_points=0, commission_per_lot=0)
        result = run_backtest(sma_spec(), bars, symbol="EURUSD", settings=settings)
        out[f"sma_reversal_{len(bars)}_{label}"] = [[d[f] for f in fields] for d in result.deals]
Path(sys.argv[1]).write_text(json.dumps(out))
"""


def _deals(repo: Path, out: Path, bars: int) -> dict[str, list[list[object]]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(out), ",".join(FIELDS), str(HERE), str(bars)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{repo}: the runs failed:\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=HERE.parent)
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        before = _deals(args.before.resolve(), Path(scratch) / "before.json", args.bars)
        after = _deals(args.after.resolve(), Path(scratch) / "after.json", args.bars)
    differ = 0
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        same = old == new
        differ += not same
        count = len(new or [])
        first = ""
        if not same and old is not None and new is not None:
            k = next((k for k, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), None)
            first = f", first difference at deal {k}" if k is not None else ", counts differ"
        print(f"{'same' if same else 'DIFFERENT':<9} {name}: {count} deals{first}")
    print(f"\n{len(before)} runs, {differ} with different deals")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
