"""Fixtures of the live tests: a connected fake terminal on the bundled sample."""

from __future__ import annotations

import pytest

from nl_trader.live.fake_terminal import FakeTerminal


@pytest.fixture
def fake() -> FakeTerminal:
    """A fake terminal on the sample, warmed up and initialised, as after ``mt5.initialize()``."""
    terminal = FakeTerminal.with_sample()
    assert terminal.initialize()
    return terminal
