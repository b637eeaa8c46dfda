"""The web app's session cookie and CSRF tokens, signed with a key kept beside the database.

The session is a cookie signed with ``itsdangerous`` under a secret in ``<db>.session-key`` (made
on first use, mode 600, refused when others can read it), never in the database: whoever can read
the store cannot forge a session. The cookie holds the user's id, an expiry on the store's clock
and a CSRF token; it is HttpOnly (scripts cannot read it) and SameSite=Lax (other sites cannot
send it with their forms), and Secure when the app is served over TLS.

Every POST carries the session's CSRF token, in a form field or the ``X-CSRF-Token`` header; a
request without it, or with another, is refused before its route runs. A sign-in issues a new
token, so a token seen before signing in is worth nothing after. Signing out ends every session of
the user issued until then (``users.sign_out``), so a copied cookie is worth nothing either.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from nl_trader.errors import NlTraderError

COOKIE_NAME = "nl_trader_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=12)
_KEY_BYTES = 32
_SALT = "nl_trader.web.session"


class SessionKeyError(NlTraderError):
    """The session key cannot be made, read, or trusted."""


def session_key_path(db_path: Path) -> Path:
    """Where the web app's session key lives: beside the database, never inside it."""
    return db_path.with_name(db_path.name + ".session-key")


def load_session_key(path: Path) -> bytes:
    """The secret the session cookies are signed with (made on first use, mode 600)."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(secrets.token_hex(_KEY_BYTES) + "\n")
        if sys.platform != "win32":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise SessionKeyError(
                    f"session key {path}: other users can read it (mode {mode:o}); chmod 600 {path}"
                )
        text = path.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except FileExistsError:  # another process made it first
        return load_session_key(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise SessionKeyError(f"session key {path}: cannot be read ({error})") from None
    if len(secret) < _KEY_BYTES:
        raise SessionKeyError(f"session key {path}: shorter than {_KEY_BYTES} bytes")
    return secret


@dataclass(frozen=True)
class Session:
    """What the session cookie says: the signed-in user (None before signing in), the CSRF token,
    and when the session began and ends."""

    user_id: int | None
    csrf_token: str
    issued_at: datetime
    expires_at: datetime

    @classmethod
    def new(cls, now: datetime, user_id: int | None = None) -> Session:
        return cls(user_id, secrets.token_urlsafe(32), now, now + SESSION_LIFETIME)

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token)


class SessionSigner:
    """Signs sessions into cookie values and reads them back (None when forged or expired)."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)

    def dumps(self, session: Session) -> str:
        return str(
            self._serializer.dumps(
                {
                    "uid": session.user_id,
                    "csrf": session.csrf_token,
                    "iat": session.issued_at.isoformat(),
                    "exp": session.expires_at.isoformat(),
                }
            )
        )

    def loads(self, value: str | None, now: datetime) -> Session | None:
        if not value:
            return None
        try:
            data: Any = self._serializer.loads(value)
            session = Session(
                user_id=None if data["uid"] is None else int(data["uid"]),
                csrf_token=str(data["csrf"]),
                issued_at=datetime.fromisoformat(str(data["iat"])),
                expires_at=datetime.fromisoformat(str(data["exp"])),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return session if session.expires_at > now else None
