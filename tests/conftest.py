"""Shared fixtures: the seed's client doubles and the path of the shared reference material."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nl_trader.client import MAS

SHARED = Path(__file__).resolve().parents[2] / "shared"


class RecordingClient(MAS):
    """A seed-style client that records every callback as (kind, order_id, payload)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def receive_order_status(self, order_id: str, status_data: dict[str, Any]) -> None:
        self.events.append(("status", order_id, status_data))

    def receive_order_execution(self, order_id: str, execution_data: dict[str, Any]) -> None:
        self.events.append(("execution", order_id, execution_data))

    def states(self, order_id: str | None = None) -> list[tuple[str, str]]:
        """(callback kind, state) in arrival order, for one order or all."""
        return [
            (kind, payload["state"])
            for kind, oid, payload in self.events
            if order_id is None or oid == order_id
        ]


@pytest.fixture(autouse=True)
def _audit_key_of_the_test_run(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One audit key (and head logs beside it) for the whole run, never the developer's own.
    monkeypatch.setenv("NL_TRADER_AUDIT_KEY", str(tmp_path_factory.getbasetemp() / "audit.key"))


@pytest.fixture(autouse=True)
def _no_kill_file_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kill switch's file sentinel: each test's own, never the developer's ~/.nl_trader/KILL.
    monkeypatch.setenv("NL_TRADER_KILL_FILE", str(tmp_path / "KILL"))


@pytest.fixture(autouse=True)
def _no_terminal_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests choose their terminal explicitly; a developer's NL_TRADER_TERMINAL must not leak in.
    monkeypatch.delenv("NL_TRADER_TERMINAL", raising=False)


_MODEL_ENVIRONMENT = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "NL_TRADER_LLM",
    "NL_TRADER_MODEL",
    "NL_TRADER_LLM_MODE",
    "NL_TRADER_LLM_TIMEOUT_S",
    "NL_TRADER_LLM_TEMPERATURE",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_TRACING",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_API_KEY",
)


@pytest.fixture(autouse=True)
def _no_real_model_requests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only tests marked `llm` (opt-in: pytest -m llm) may reach a real model. Everything else uses
    # the scripted model or the scripted server on localhost, and a developer's keys or tracing
    # settings must not leak in.
    if request.node.get_closest_marker("llm") is not None:
        return
    from nl_trader.translate import port

    monkeypatch.setattr(port, "ALLOW_MODEL_REQUESTS", False)
    for name in _MODEL_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
