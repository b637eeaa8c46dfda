"""Exactly once under every fault: 1,000 random fault sequences over multi-day sessions.

Each sequence trades two days of H1 bars on a fresh fake terminal (the fill engine of the
backtester) through the executor, sending random entries, closes, pending orders and cancels while
the terminal fails at random: timeouts before and after the server got the request, a link lost
before the request left or right after its reply, requotes and moved prices, partial IOC fills,
server-side rejections, a closed market and terminal restarts. After each sequence:

* no order lost: every request the trade server executed was reported to the client;
* none duplicated: no client order id appears on two orders in the terminal;
* the journal (what the client was told) equals the terminal's history: the same orders, the same
  deals, each reported once;
* the guards held: the strategy's open volume never exceeded its limit.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from nl_trader import mt5
from nl_trader.live.executor import Credentials, MT5Executor
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.live.guards import GuardLimits, check, snapshot
from nl_trader.live.order_ids import client_id_of
from nl_trader.orders import parse_order_params
from nl_trader.symbols import symbol_spec
from tests.live.test_executor import CREDENTIALS, RecordingNotify

SEQUENCES = int(__import__("os").environ.get("NL_TRADER_FAULT_SEQUENCES", "1000"))
BARS = 48  # two days of H1 bars
MAGIC = 16_001_000
MAX_LOTS = 0.3
FAR_FUTURE = 2**31 - 1
LIMITS = GuardLimits(max_lots_per_symbol=MAX_LOTS)


def _session(seed: int) -> tuple[FakeTerminal, MT5Executor, RecordingNotify, random.Random]:
    rng = random.Random(seed)
    # Each sequence starts somewhere else in the sample (a different two days).
    fake = FakeTerminal.with_sample(
        symbols=[symbol_spec("EURUSD")], timeframe="H1", warmup_bars=20 + seed % 400, bars=480
    )
    executor = MT5Executor(fake, sleep=lambda _s: None)
    notify = RecordingNotify()
    executor.attach(notify)
    executor.connect(Credentials.parse(dict(CREDENTIALS)))
    executor.guard = lambda request: check(request, snapshot(fake, "EURUSD", MAGIC), LIMITS)
    fake.inject_random_faults(rng, probability=0.35)
    return fake, executor, notify, rng


def _random_order(fake: FakeTerminal, rng: random.Random) -> dict[str, Any]:
    base = {"backtest_toggle": False, "symbol": "EURUSD", "magic": MAGIC}
    mine = [p for p in fake.broker.positions.values() if p.magic == MAGIC]
    resting = [o for o in fake.broker.orders.values() if o.magic == MAGIC]
    roll = rng.random()
    if mine and roll < 0.3:
        position = rng.choice(mine)
        return {
            **base,
            "order_type": "sell" if position.type == mt5.POSITION_TYPE_BUY else "buy",
            "volume": position.volume,
            "position": position.ticket,
        }
    if resting and roll < 0.4:
        return {**base, "order_type": "cancel", "order": rng.choice(resting).ticket}
    quote = fake.broker.quote("EURUSD")  # the server's price, whatever the link is doing
    if roll < 0.55:
        return {
            **base,
            "order_type": "buy_limit",
            "volume": 0.1,
            "price": round(quote.ask - 0.002, 5),
        }
    filling = rng.choice(["ioc", "fok"])
    return {
        **base,
        "order_type": rng.choice(["buy", "sell"]),
        "volume": rng.choice([0.1, 0.2]),
        "type_filling": filling,
    }


def _open_lots(fake: FakeTerminal) -> float:
    return sum(p.volume for p in fake.broker.positions.values() if p.magic == MAGIC)


def _run(seed: int, counts: Counter[str]) -> None:
    fake, executor, notify, rng = _session(seed)
    for _ in range(BARS):
        for _ in range(rng.randint(0, 2)):
            answer = executor.submit(parse_order_params(_random_order(fake, rng)))
            counts["requests"] += 1
            counts["refused by a guard" if "guard" in answer else "sent"] += 1
            # The guards held: never more open than the limit.
            assert _open_lots(fake) <= MAX_LOTS + 1e-9, f"seed {seed}: guard breached"
        fake.advance(1)
        executor.poll()
    fake.stop_random_faults()
    executor.poll()  # a link left down by the last fault is reconnected here
    assert executor.unresolved == (), f"seed {seed}: unresolved {executor.unresolved}"
    orders = [o._asdict() for o in fake.orders_get()] + [
        o._asdict() for o in fake.history_orders_get(0, FAR_FUTURE)
    ]
    ours = [o for o in orders if o["magic"] == MAGIC]
    # None duplicated: one order per client id.
    ids = Counter(
        client_id_of(o["comment"]) for o in ours if o["reason"] == mt5.ORDER_REASON_EXPERT
    )
    ids.pop(None, None)
    assert all(n == 1 for n in ids.values()), f"seed {seed}: duplicated ids {ids}"
    # No order lost, the journal equals the history: every order the server holds for us was
    # reported, and every deal of ours was reported exactly once.
    reported_orders = {event.order_id for _, event in notify.events}
    expert_orders = {str(o["ticket"]) for o in ours if o["reason"] == mt5.ORDER_REASON_EXPERT}
    missing = expert_orders - reported_orders
    assert not missing, f"seed {seed}: orders never reported {missing}"
    deals = [d._asdict() for d in fake.history_deals_get(0, FAR_FUTURE)]
    our_deals = Counter(str(d["ticket"]) for d in deals if d["magic"] == MAGIC)
    told = Counter(event.deal_id for kind, event in notify.events if kind == "execution")
    assert told == our_deals, f"seed {seed}: deals told {told} vs history {our_deals}"
    counts["orders"] += len(expert_orders)
    counts["deals"] += sum(our_deals.values())
    counts["reconnections"] += executor.reconnections
    for kind, n in fake.fault_counts.items():
        counts[f"fault {kind}"] += n


def test_a_thousand_random_fault_sequences_lose_nothing_and_duplicate_nothing() -> None:
    counts: Counter[str] = Counter()
    for seed in range(SEQUENCES):
        _run(seed, counts)
    counts["sequences"] = SEQUENCES
    print("\nfault property test:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert counts["orders"] > SEQUENCES
    assert all(counts[f"fault {kind}"] > 0 for kind in ("timeout_after_send", "terminal_restart"))
