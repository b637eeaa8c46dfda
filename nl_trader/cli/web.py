"""``nl-trader serve`` (the web app) and ``nl-trader user add / list`` (who may sign in to it).

``serve`` binds to 127.0.0.1 unless told otherwise: another address needs ``--public``, and
warns unless TLS is configured (``--tls-cert`` and ``--tls-key``). A password is never a flag
value (it would sit in the shell's history and the process list): ``user add`` asks for it with a
hidden prompt, or reads it from the environment variable named by ``--password-env``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nl_trader.cli.common import LLM_HELP, app, console
from nl_trader.cli.lifecycle import EXIT_INPUT, ConfigOption, DbOption, open_store
from nl_trader.cli.screen import cell
from nl_trader.lifecycle import current_actor
from nl_trader.users import ROLES, add_user

user_app = typer.Typer(help="Users of the web app: add, list.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def is_local_host(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65_535, help="Port to listen on.")] = 8000,
    public: Annotated[
        bool,
        typer.Option("--public", help="Allow an address other machines can reach (--host)."),
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM) to serve HTTPS.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="TLS private key (PEM) of --tls-cert.")
    ] = None,
    four_eyes: Annotated[
        bool | None,
        typer.Option(
            "--four-eyes/--no-four-eyes",
            help="Nobody approves a version they authored (default: [users] four_eyes of the "
            "config).",
        ),
    ] = None,
    llm: Annotated[str | None, typer.Option("--llm", help=LLM_HELP)] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Run the web app: sign in, type strategies, review their reports, approve, audit."""
    problems = []
    if not is_local_host(host) and not public:
        problems.append(
            f"--host: {host} can be reached from other machines; add --public to mean it"
        )
    if (tls_cert is None) != (tls_key is None):
        problems.append("--tls-cert, --tls-key: give both, or neither")
    for name, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            problems.append(f"{name}: no file at {path}")
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]", highlight=False)
        raise typer.Exit(EXIT_INPUT)
    tls = tls_cert is not None and tls_key is not None
    if not is_local_host(host) and not tls:
        console.print(
            f"[yellow]warning: serving plain HTTP on {host}: passwords and session cookies "
            "cross the network unencrypted; give --tls-cert and --tls-key, or put a TLS proxy "
            "in front[/yellow]",
            highlight=False,
        )
    import uvicorn

    from nl_trader.web import create_app

    with open_store(db) as store:  # errors (an unusable store, a bad key) said as the CLI says them
        path = store.path
        web = create_app(path, llm=llm, four_eyes=four_eyes, secure_cookies=tls, config=config)
    scheme = "https" if tls else "http"
    console.print(f"nl_trader web app on {scheme}://{host}:{port}/ (store {path})", markup=False)
    uvicorn.run(
        web,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="info",
    )


def _password(env_name: str | None) -> str:
    if env_name is not None:
        value = os.environ.get(env_name)
        if not value:
            console.print(
                f"[red]--password-env: the environment variable {env_name} is not set[/red]",
                highlight=False,
            )
            raise typer.Exit(EXIT_INPUT)
        return value
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's name (shown as who acts).")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            help="Read the password from this environment variable (else a hidden prompt).",
        ),
    ] = None,
    language: Annotated[
        str, typer.Option("--language", help="The web app's language: en, zh-Hant or zh-Hans.")
    ] = "en",
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who adds the user (default: $NL_TRADER_USER, else you)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Add a user of the web app with a role (the password is stored as its argon2 hash only)."""
    password = _password(password_env)
    with open_store(db) as store:
        user = add_user(
            store, name, password, role, by=(by or current_actor()).strip(), language=language
        )
    console.print(f"user {user.name} added, role {user.role}", markup=False)


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """List the web app's users, their roles and whether they are disabled."""
    with open_store(db) as store:
        table = Table(title=f"Users in {store.path}", title_justify="left")
        for column in ("id", "name", "role", "language", "created", "by", "disabled"):
            table.add_column(column)
        for user in store.users():
            table.add_row(
                str(user.id),
                cell(user.name),
                user.role,
                user.language,
                f"{user.created_at:%Y-%m-%d %H:%M}",
                cell(user.created_by),
                "yes" if user.disabled else "no",
            )
        console.print(table)
