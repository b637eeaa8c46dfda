"""Backtests started from the web app, run in a background thread so the page can show progress.

``BacktestJobs.start`` runs ``lifecycle.backtest_from`` in a thread with its own store
connection; the job's page (``/backtests/{job_id}``) reads ``BacktestJob`` (the share of bars
tested, then the run, or every problem naming the form's fields) and refreshes itself until the
job ends. Jobs live in the server's memory (the runs they record live in the store); the newest
``KEEP_JOBS`` are kept.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nl_trader.backtest.engine import BacktestSettings
from nl_trader.data.run_data import RunData
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.lifecycle import LifecycleError, PromotionCriteria, backtest_from
from nl_trader.store import Store
from nl_trader.store.store import Clock

log = logging.getLogger(__name__)

KEEP_JOBS = 200


class NoSuchJobError(InvalidInputError):
    """A job id this server does not know (never started, or forgotten after a restart)."""

    def __init__(self, job_id: str) -> None:
        super().__init__([f"backtest: no backtest job {job_id!r} on this server"], what="reference")


@dataclass
class BacktestJob:
    """One backtest in progress or ended: ``status`` running, done (``run_id``) or failed
    (``problems``, each naming the form's field)."""

    id: str
    strategy_id: int
    by: str
    started_at: datetime
    source: str
    done: int = 0
    total: int = 0
    status: str = "running"
    run_id: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "strategy_id": self.strategy_id,
            "by": self.by,
            "started_at": self.started_at.isoformat(),
            "source": self.source,
            "status": self.status,
            "percent": self.percent,
            "run_id": self.run_id,
            "problems": list(self.problems),
        }


class BacktestJobs:
    """The server's backtest jobs (module docstring)."""

    def __init__(self, db_path: Path, clock: Clock) -> None:
        self.db_path = db_path
        self.clock = clock
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, BacktestJob] = OrderedDict()

    def get(self, job_id: str) -> BacktestJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NoSuchJobError(job_id)
        return job

    def start(
        self,
        strategy_id: int,
        data: RunData,
        *,
        by: str,
        settings: BacktestSettings,
        criteria: PromotionCriteria,
        names: dict[str, str],
        source_label: str,
    ) -> BacktestJob:
        """Start backtesting the strategy's current version on ``data``; return the job."""
        job = BacktestJob(
            id=secrets.token_hex(8),
            strategy_id=strategy_id,
            by=by,
            started_at=self.clock(),
            source=source_label,
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.popitem(last=False)

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def work() -> None:
            try:
                with Store(self.db_path, clock=self.clock) as store:
                    run = backtest_from(
                        store,
                        strategy_id,
                        data,
                        by=by,
                        settings=settings,
                        criteria=criteria,
                        progress=progress,
                        names=names,
                    )
                job.run_id = run.id
                job.status = "done"
            except LifecycleError as error:
                job.problems, job.status = list(error.problems), "failed"
            except InvalidInputError as error:  # the data: each problem named by its field
                job.problems, job.status = _named(error.problems, names), "failed"
            except OSError as error:
                job.problems = [f"{names['source']}: cannot be read ({error.strerror or error})"]
                job.status = "failed"
            except NlTraderError as error:
                job.problems, job.status = (
                    list(getattr(error, "problems", ())) or [str(error)],
                    "failed",
                )
            except Exception as error:  # said on the page, never a traceback; logged for the admin
                log.exception("backtest job %s failed", job.id)
                job.problems, job.status = [f"the backtest failed: {error}"], "failed"

        threading.Thread(target=work, name=f"nl_trader backtest {job.id}", daemon=True).start()
        return job


def _named(problems: tuple[str, ...], names: dict[str, str]) -> list[str]:
    """Problems with the form's field first: a loader's own (``header: ...``, about the file's
    contents) under the field that chose the file."""
    fields = set(names.values())
    return [
        problem if problem.split(":", 1)[0].strip() in fields else f"{names['source']}: {problem}"
        for problem in problems
    ]
