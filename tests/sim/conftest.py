"""Fixtures for the simulated broker: small accounts on EURUSD (and USDJPY) at a known quote."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nl_trader import mt5
from nl_trader.sim.broker import AccountConfig, SimBroker
from nl_trader.symbols import symbol_spec

# Monday 8 January 2024, 10:00 server time: far from any rollover.
MONDAY_10H = int(datetime(2024, 1, 8, 10, tzinfo=UTC).timestamp())


@pytest.fixture
def hedging() -> SimBroker:
    """A hedging account of $10,000 at 1:100, EURUSD quoted 1.10000 / 1.10010 (1 pip spread)."""
    broker = SimBroker(
        [symbol_spec("EURUSD"), symbol_spec("USDJPY")],
        account=AccountConfig(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING),
    )
    broker.set_quote("EURUSD", MONDAY_10H, 1.10000, 1.10010)
    return broker


@pytest.fixture
def netting() -> SimBroker:
    """A netting account of $10,000 at 1:100, EURUSD quoted 1.10000 / 1.10010 (1 pip spread)."""
    broker = SimBroker(
        [symbol_spec("EURUSD"), symbol_spec("USDJPY")],
        account=AccountConfig(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING),
    )
    broker.set_quote("EURUSD", MONDAY_10H, 1.10000, 1.10010)
    return broker
