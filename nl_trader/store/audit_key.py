"""The audit log's key and head log: what lies outside the database file.

The audit chain is keyed: each entry carries an HMAC-SHA256 under a secret kept in a file only
the user can read (``$NL_TRADER_AUDIT_KEY``, else ``~/.config/nl_trader/audit.key``; made on
first use, mode 600). Whoever can write the database file but lacks the key can neither forge an
entry nor rewrite the chain consistently.

Each entry's (sequence number, MAC) is also appended, once its transaction commits, to a head log
beside the key (``audit-heads/<store id>-<path digest>.jsonl``): a chain cut off at its end, which
no chain can show by itself, no longer holds the heads recorded there.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nl_trader.errors import NlTraderError

KEY_ENV = "NL_TRADER_AUDIT_KEY"
_KEY_BYTES = 32


class AuditKeyError(NlTraderError):
    """The audit key cannot be made, read, or trusted."""


def key_path() -> Path:
    """``$NL_TRADER_AUDIT_KEY``, else the user's config folder's ``nl_trader/audit.key``."""
    chosen = os.environ.get(KEY_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "nl_trader" / "audit.key"


@dataclass(frozen=True)
class AuditKey:
    """The secret (never shown: ``repr`` leaves it out) and where it was read from."""

    path: Path
    secret: bytes = field(repr=False)

    def mac(self, text: str) -> str:
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

    @property
    def key_id(self) -> str:
        """A public name for the key (an HMAC of a fixed text): which key wrote a log."""
        return self.mac("nl_trader audit key id")[:16]

    def head_log(self, store_id: str, db_path: Path) -> Path:
        """The head log of one store at one path (a copy elsewhere keeps its own)."""
        where = hashlib.sha256(str(db_path.resolve()).encode("utf-8")).hexdigest()[:12]
        return self.path.parent / "audit-heads" / f"{store_id}-{where}.jsonl"

    def head_logs_of(self, db_path: Path) -> list[Path]:
        """Head logs kept for any store at ``db_path``: a keyed log was kept there before."""
        where = hashlib.sha256(str(db_path.resolve()).encode("utf-8")).hexdigest()[:12]
        return sorted((self.path.parent / "audit-heads").glob(f"*-{where}.jsonl"))


def load_key(path: Path | None = None) -> AuditKey:
    """The user's audit key, made on first use; refused if other users can read it."""
    path = key_path() if path is None else path
    if not path.exists():
        _create(path)
    if os.name == "posix":
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuditKeyError(
                f"audit key {path}: other users can read it (mode {mode:o}); "
                f"make it yours alone: chmod 600 {path}"
            )
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise AuditKeyError(f"audit key {path}: not a readable key ({error})") from None
    if len(secret) < _KEY_BYTES:
        raise AuditKeyError(f"audit key {path}: {len(secret)} bytes, fewer than {_KEY_BYTES}")
    return AuditKey(path, secret)


def _create(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use that one
        return
    except OSError as error:
        raise AuditKeyError(
            f"audit key {path}: cannot create it ({error}); set {KEY_ENV} to a file only you "
            "can read"
        ) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(_KEY_BYTES) + "\n")


def append_head(log: Path, seq: int, digest: str) -> None:
    """Record one committed entry's head (one line, appended: writers never interleave)."""
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps({"seq": seq, "hash": digest}, separators=(",", ":")) + "\n"
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode("ascii"))
    finally:
        os.close(descriptor)


def read_heads(log: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """The heads a log records, and a problem for each line that is not a head."""
    heads: list[tuple[int, str]] = []
    problems: list[str] = []
    text = ""
    with contextlib.suppress(FileNotFoundError):
        text = log.read_text(encoding="ascii", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            record = json.loads(line)
            heads.append((int(record["seq"]), str(record["hash"])))
        except (ValueError, KeyError, TypeError):
            problems.append(f"head log {log} line {number} is not a head record")
    return heads, problems
