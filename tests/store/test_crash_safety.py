"""A process killed in the middle of a write leaves a consistent store: no half record.

The child process approves a strategy and is stopped (SIGKILL) just before one statement of the
approval's transaction runs: after the approval row is written but before its audit entry, or
after both but before COMMIT. Reopened, the store holds neither, the chain verifies, and the
approval can then be made.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nl_trader.lifecycle import approve
from nl_trader.store import State
from tests.store.builders import PASSED, copy_template

_CHILD = """
import sys, time
from nl_trader.lifecycle import approve
from nl_trader.store import Store

db, marker = sys.argv[1], sys.argv[2]
store = Store(db)

def pause(statement):
    if statement.startswith(marker):
        print("paused", flush=True)
        time.sleep(60)

store.connection.set_trace_callback(pause)
approve(store, 1, run_id=1, by="ana", note="killed half way")
print("committed", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("marker", ["INSERT INTO audit", "COMMIT"])
def test_an_approval_killed_mid_transaction_leaves_no_half_record(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, marker: str
) -> None:
    copy = copy_template(tmp_path_factory, tmp_path)
    with copy.open() as store:
        entries_before = len(store.audit_entries())
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(copy.db), marker],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "the child never reached the statement"
        assert child.stdout.readline().strip() == "paused"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with copy.open() as store:
        assert store.approvals(PASSED) == []
        assert store.strategy(PASSED).state == State.BACKTESTED
        assert len(store.audit_entries()) == entries_before
        assert store.verify_audit().ok
        # Nothing is left locked or half done: the approval can now be made.
        approval = approve(store, PASSED, run_id=1, by="ana")
        assert store.strategy(PASSED).state == State.APPROVED
        assert store.audit_entries()[-1].payload["approval_id"] == approval.id
        assert store.verify_audit().ok
