"""Fixtures of the live tests: a connected fake terminal on the bundled sample, and stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nl_trader.lifecycle import approve
from nl_trader.live.fake_terminal import FakeTerminal
from nl_trader.store import Store
from tests.store.builders import PASSED, StoreCopy, copy_template


@pytest.fixture
def fake() -> FakeTerminal:
    """A fake terminal on the sample, warmed up and initialised, as after ``mt5.initialize()``."""
    terminal = FakeTerminal.with_sample()
    assert terminal.initialize()
    return terminal


@pytest.fixture
def copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> StoreCopy:
    """A private copy of the template store: strategies 1 and 2 backtested."""
    return copy_template(tmp_path_factory, tmp_path)


@pytest.fixture
def store(copy: StoreCopy) -> Iterator[Store]:
    """The copy, open, with strategy 1 approved on its report."""
    with copy.open() as opened:
        approve(opened, PASSED, run_id=1, by="risk officer")
        yield opened
