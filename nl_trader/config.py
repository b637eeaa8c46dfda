"""Configuration and who acts: the TOML file (``[promotion]``, ``[accounts.NAME]``) and the
current actor, read without loading the engine or the store.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any

from nl_trader.errors import InvalidInputError

ACTOR_ENV = "NL_TRADER_USER"


CONFIG_ENV = "NL_TRADER_CONFIG"


def current_actor() -> str:
    """Who acts: ``NL_TRADER_USER``, else the login name."""
    configured = os.environ.get(ACTOR_ENV, "").strip()
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def config_path() -> Path:
    """``NL_TRADER_CONFIG`` if set, else ``~/.nl_trader/config.toml``."""
    configured = os.environ.get(CONFIG_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".nl_trader" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The TOML configuration (``[promotion]``, ``[accounts.NAME]``); empty when there is none."""
    target = path or config_path()
    if not target.is_file():
        if path is not None:
            raise InvalidInputError([f"config: no file at {target}"], what="configuration")
        return {}
    try:
        return tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInputError([f"config: {target}: {error}"], what="configuration") from None
