"""First run: how long a new user waits for the first demo, backtest and simulated order.

Each job runs in a fresh process with a fresh, empty compile cache (cold), then again with the
cache it left (warm). The jobs are the README's main job (``nl-trader demo``), a first
``nl-trader backtest`` of an example strategy on the bundled sample, and the seed's own simulated
example (``import mas`` ... ``send_order({... "backtest_toggle": True})``). For each cold run it
prints every compiled function's compile time from numba's compile events (its own time, the time
of the functions it compiled on the way taken out), largest first, with its number of compiled
versions (signatures).

    python benchmarks/first_run.py [--jobs demo,backtest,order] [--top 25] [--repo PATH]

``--repo`` measures another checkout of nl_trader (for a before/after table): its package is
put first on the path of the jobs' processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBE = HERE / "_first_run_probe.py"
JOBS = ("demo", "backtest", "order")
TARGETS_S = {"demo": 60.0, "backtest": 60.0, "order": 30.0}
WARM_TARGETS_S = {"order": 2.0}


def _run(job: str, repo: Path, cache: Path, events: Path, workdir: Path) -> float:
    env = dict(os.environ)
    env["NL_TRADER_CACHE_DIR"] = str(cache)
    env["NUMBA_CACHE_DIR"] = str(cache)  # checkouts that keep numba's own cache locations
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")])
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(PROBE), "--events", str(events), "--workdir", str(workdir), job],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed_s = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{job} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed_s


def _table(events: Path, top: int) -> list[str]:
    records = json.loads(events.read_text())
    total_s = sum(r["self_s"] for r in records)
    lines = [
        f"  compiled functions: {len(records)}, versions: {sum(r['versions'] for r in records)},"
        f" compile time {total_s:.1f} s",
        f"  {'function':<58} {'versions':>8} {'self s':>8}",
    ]
    for record in records[:top]:
        lines.append(f"  {record['function']:<58} {record['versions']:>8} {record['self_s']:>8.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--repo", type=Path, default=HERE.parent)
    args = parser.parse_args()
    repo = args.repo.resolve()
    print(f"nl_trader at {repo}; {os.cpu_count()} cores; python {sys.version.split()[0]}")
    results = []
    for job in args.jobs.split(","):
        with tempfile.TemporaryDirectory(prefix="nl-first-run-") as scratch:
            root = Path(scratch)
            cache = root / "cache"
            cold_s = _run(job, repo, cache, root / "cold.json", root / "cold")
            warm_s = _run(job, repo, cache, root / "warm.json", root / "warm")
            print(f"\n{job}: cold {cold_s:.1f} s, warm {warm_s:.1f} s")
            print("\n".join(_table(root / "cold.json", args.top)))
            results.append((job, cold_s, warm_s))
    print(f"\n{'job':<10} {'cold s':>8} {'target':>8} {'warm s':>8} {'target':>8}")
    for job, cold_s, warm_s in results:
        warm_target = WARM_TARGETS_S.get(job)
        print(
            f"{job:<10} {cold_s:>8.1f} {TARGETS_S[job]:>8.0f} {warm_s:>8.1f}"
            f" {(f'{warm_target:.0f}' if warm_target else '-'):>8}"
        )


if __name__ == "__main__":
    main()
