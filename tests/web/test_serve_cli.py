"""``nl-trader serve`` and ``nl-trader user add / list`` on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from nl_trader.cli import app
from nl_trader.store import Store
from nl_trader.users import authenticate

runner = CliRunner()
PASSWORD = "a long passphrase"


class UvicornSpy:
    """Stands in for ``uvicorn.run``: records what it was asked to serve."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, web_app: Any, **options: Any) -> None:
        self.calls.append({"app": web_app, **options})


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> UvicornSpy:
    recorder = UvicornSpy()
    monkeypatch.setattr(uvicorn, "run", recorder)
    monkeypatch.setenv("NL_TRADER_USER", "root")
    return recorder


def test_a_user_is_added_with_the_password_from_the_named_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy: UvicornSpy
) -> None:
    db = str(tmp_path / "nl.db")
    monkeypatch.setenv("ANA_PASSWORD", PASSWORD)
    added = runner.invoke(
        app,
        ["user", "add", "ana", "--role", "approver", "--password-env", "ANA_PASSWORD", "--db", db],
    )
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    listed = runner.invoke(app, ["user", "list", "--db", db])
    assert "ana" in listed.output
    assert "approver" in listed.output
    with Store(db) as store:
        assert authenticate(store, "ana", PASSWORD).role == "approver"
        assert store.audit_entries(subject="user/ana")[0].actor == "root"


def test_without_an_environment_variable_the_password_is_asked_for_hidden_twice(
    tmp_path: Path, spy: UvicornSpy
) -> None:
    db = str(tmp_path / "nl.db")
    added = runner.invoke(
        app,
        ["user", "add", "bo", "--role", "author", "--db", db],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output  # the prompt does not echo it


def test_there_is_no_password_flag_and_a_missing_variable_is_named(
    tmp_path: Path, spy: UvicornSpy
) -> None:
    db = str(tmp_path / "nl.db")
    flagged = runner.invoke(app, ["user", "add", "bo", "--role", "author", "--password", "x"])
    assert flagged.exit_code == 2
    missing = runner.invoke(
        app, ["user", "add", "bo", "--role", "author", "--password-env", "NOPE_X", "--db", db]
    )
    assert missing.exit_code == 2
    assert "the environment variable NOPE_X is not set" in missing.output
    bad = runner.invoke(
        app, ["user", "add", "bo", "--role", "boss", "--password-env", "PATH", "--db", db]
    )
    assert bad.exit_code == 2
    assert "role: 'boss' is not one of" in bad.output


def test_serve_binds_to_this_machine_by_default(tmp_path: Path, spy: UvicornSpy) -> None:
    served = runner.invoke(app, ["serve", "--db", str(tmp_path / "nl.db"), "--port", "8123"])
    assert served.exit_code == 0, served.output
    (call,) = spy.calls
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)
    assert call["ssl_certfile"] is None


def test_serving_on_another_address_needs_public_and_warns_without_tls(
    tmp_path: Path, spy: UvicornSpy
) -> None:
    db = str(tmp_path / "nl.db")
    refused = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--db", db])
    assert refused.exit_code == 2
    assert "add --public" in refused.output
    assert spy.calls == []
    warned = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--public", "--db", db])
    assert warned.exit_code == 0, warned.output
    assert "warning: serving plain HTTP" in warned.output
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert")
    key.write_text("key")
    tls = runner.invoke(
        app,
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--public",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--db",
            db,
        ],
    )
    assert tls.exit_code == 0, tls.output
    assert "warning" not in tls.output
    assert spy.calls[-1]["ssl_certfile"] == str(cert)
    assert spy.calls[-1]["app"].state.web.secure_cookies is True  # cookies over HTTPS only
    half = runner.invoke(app, ["serve", "--tls-cert", str(cert), "--db", db])
    assert half.exit_code == 2
    assert "give both, or neither" in half.output
