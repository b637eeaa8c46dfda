"""Users and roles: who may sign in to the web app, and what each role may do.

Roles (``ROLES``): an *author* types strategies and backtests them; an *approver* approves,
revokes and retires; an *operator* starts, stops and kills sessions; an *admin* may do all of it
and manage users. ``ACTIONS`` is the one table of which role may do which action; ``require``
checks it and names the role needed when it refuses.

Passwords are hashed with argon2id (``argon2-cffi``); only the hash is stored, and no function
here logs, returns or audits a password. Sign-ins are throttled per name on the store's clock:
after ``MAX_FAILED_LOGINS`` failed attempts within ``LOGIN_WINDOW`` (since the last success), the
name is refused until the oldest of them is ``LOGIN_WINDOW`` old, even with the right password.

Every change of a user is one transaction with its audit entry (subject ``user/NAME``). The entry
records the role, the disabled flag and a SHA-256 of the password hash, so ``authenticate``
refuses a user whose record was changed behind the log (a role raised to admin in the database).

The optional four-eyes rule (``[users] four_eyes = true`` in the configuration) forbids approving
a version one authored (its ``created_by``): ``require_other_author``.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.store import Store, User

__all__ = [
    "ACTIONS",
    "LANGUAGES",
    "LOGIN_WINDOW",
    "MAX_FAILED_LOGINS",
    "ROLES",
    "AuthenticationError",
    "LoginThrottledError",
    "PermissionDeniedError",
    "UserError",
    "add_user",
    "authenticate",
    "disable_user",
    "four_eyes_required",
    "may",
    "require",
    "require_other_author",
    "roles_for",
    "session_ended",
    "set_language",
    "sign_out",
    "user_audit_problems",
]

ROLES: Final = ("author", "approver", "operator", "admin")
LANGUAGES: Final = ("en", "zh-Hant", "zh-Hans")

_EVERYONE = frozenset(ROLES)
# Which role may do which action. Reading (strategies, reports, the audit log) is for everyone
# signed in; admin may do everything.
ACTIONS: Final[Mapping[str, frozenset[str]]] = {
    "strategy.view": _EVERYONE,
    "strategy.new": frozenset({"author", "admin"}),
    "strategy.edit": frozenset({"author", "admin"}),
    "strategy.backtest": frozenset({"author", "admin"}),
    "strategy.approve": frozenset({"approver", "admin"}),
    "strategy.revoke": frozenset({"approver", "admin"}),
    "strategy.retire": frozenset({"approver", "admin"}),
    "session.start": frozenset({"operator", "admin"}),
    "session.stop": frozenset({"operator", "admin"}),
    "session.kill": frozenset({"operator", "admin"}),
    "audit.view": _EVERYONE,
    "audit.verify": _EVERYONE,
    "user.manage": frozenset({"admin"}),
}

MAX_FAILED_LOGINS: Final = 5
LOGIN_WINDOW: Final = timedelta(minutes=15)
MIN_PASSWORD_CHARS: Final = 8
# argon2 hashes whatever it is given; a megabyte of "password" is a denial of service, not a secret.
MAX_PASSWORD_CHARS: Final = 256
MAX_NAME_CHARS: Final = 64
# The actor of an audit entry written before anyone is signed in (a name locked out).
SIGN_IN_ACTOR: Final = "sign-in"
_NAME_PUNCTUATION = frozenset(" .-_@'")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so that an unknown name takes as long as a
    known one (made on first use: hashing costs a tenth of a second, not worth paying on import)."""
    return _hasher.hash("nl_trader: no such user")


class UserError(InvalidInputError):
    """A user change refused: each problem names the field and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, what="user")


class AuthenticationError(NlTraderError):
    """A sign-in refused. The message never says which of the name and password was wrong."""


class LoginThrottledError(AuthenticationError):
    """Too many failed sign-ins for a name: refused until ``until`` (UTC, on the store's clock)."""

    def __init__(self, name: str, until: datetime) -> None:
        self.name = name
        self.until = until
        super().__init__(
            f"{name}: too many failed sign-ins ({MAX_FAILED_LOGINS} within "
            f"{int(LOGIN_WINDOW.total_seconds() // 60)} minutes); try again after "
            f"{until:%Y-%m-%d %H:%M} UTC"
        )


class PermissionDeniedError(NlTraderError):
    """The user's role may not do the action; ``roles`` are the roles that may."""

    def __init__(self, user: User, action: str, roles: frozenset[str], why: str = "") -> None:
        self.user_name = user.name
        self.action = action
        self.roles = roles
        needed = " or ".join(role for role in ROLES if role in roles)
        reason = why or f"it needs the role {needed}; {user.name} is {_article(user.role)}"
        super().__init__(f"{action}: {reason}")


def _article(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


# ---- roles -----------------------------------------------------------------------------------------
def roles_for(action: str) -> frozenset[str]:
    """The roles that may do ``action`` (one of ``ACTIONS``)."""
    try:
        return ACTIONS[action]
    except KeyError:
        raise InvalidInputError(
            [f"action: {action!r} is not one of {', '.join(sorted(ACTIONS))}"], what="permission"
        ) from None


def may(user: User, action: str) -> bool:
    """Whether the user's role may do ``action``."""
    return not user.disabled and user.role in roles_for(action)


def require(user: User, action: str) -> None:
    """Refuse unless the user's role may do ``action``, naming the role needed."""
    roles = roles_for(action)
    if user.disabled:
        raise PermissionDeniedError(user, action, roles, f"{user.name} is disabled")
    if user.role not in roles:
        raise PermissionDeniedError(user, action, roles)


def four_eyes_required(config: Mapping[str, Any]) -> bool:
    """The four-eyes rule's flag: ``[users] four_eyes`` of the configuration (default off)."""
    section = config.get("users", {})
    if not isinstance(section, Mapping):
        raise InvalidInputError(["users: expected a table ([users])"], what="configuration")
    value = section.get("four_eyes", False)
    if not isinstance(value, bool):
        raise InvalidInputError(
            [f"users.four_eyes: {value!r} is not true or false"], what="configuration"
        )
    return value


def require_other_author(store: Store, user: User, strategy_id: int) -> None:
    """The four-eyes rule: refuse when the user authored the strategy's current version."""
    version = store.current_version(strategy_id)
    if version.created_by.strip().casefold() == user.name.strip().casefold():
        raise PermissionDeniedError(
            user,
            "strategy.approve",
            ACTIONS["strategy.approve"],
            f"{user.name} authored version {version.number} of strategy {strategy_id}; under the "
            "four-eyes rule another approver approves it",
        )


# ---- users -------------------------------------------------------------------------------------------
def _name_problems(name: str) -> list[str]:
    if not name:
        return ["name: give the user's name"]
    if len(name) > MAX_NAME_CHARS:
        return [f"name: {len(name)} characters; at most {MAX_NAME_CHARS}"]
    odd = sorted(
        {c for c in name if not (c.isalnum() or c in _NAME_PUNCTUATION)}
        | {c for c in name if unicodedata.category(c).startswith("C")}
    )
    if odd:
        shown = ", ".join(repr(c) for c in odd)
        return [f"name: {shown} not allowed (letters, digits, spaces and . - _ @ ' only)"]
    return []


def _password_problems(password: str, name: str) -> list[str]:
    if len(password) < MIN_PASSWORD_CHARS:
        return [f"password: at least {MIN_PASSWORD_CHARS} characters"]
    if len(password) > MAX_PASSWORD_CHARS:
        return [f"password: at most {MAX_PASSWORD_CHARS} characters"]
    if password.strip().casefold() == name.strip().casefold():
        return ["password: not the user's name"]
    return []


def _role_problems(role: str) -> list[str]:
    if role not in ROLES:
        return [f"role: {role!r} is not one of {', '.join(ROLES)}"]
    return []


def _language_problems(language: str) -> list[str]:
    if language not in LANGUAGES:
        return [f"language: {language!r} is not one of {', '.join(LANGUAGES)}"]
    return []


def _by_problems(by: str) -> list[str]:
    return [] if by.strip() else ["by: name the person who makes the change"]


def _subject(name: str) -> str:
    return f"user/{name}"


def _hash_digest(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()


def _covers(user: User) -> dict[str, Any]:
    """What a user's audit entry records of the record (never the password nor its hash)."""
    return {
        "user_id": user.id,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "password_hash_sha256": _hash_digest(user.password_hash),
    }


def _audit_user(store: Store, by: str, action: str, user: User, **extra: Any) -> None:
    store.audit(by, action, _subject(user.name), {**_covers(user), **extra})


def add_user(
    store: Store, name: str, password: str, role: str, *, by: str, language: str = "en"
) -> User:
    """Add a user with a role; the password is stored as its argon2 hash only."""
    name = name.strip()
    problems = (
        _name_problems(name)
        + _role_problems(role)
        + _password_problems(password, name)
        + _language_problems(language)
        + _by_problems(by)
    )
    if not problems and store.user_named(name) is not None:
        problems.append(f"name: a user named {name!r} exists already")
    if problems:
        raise UserError(problems)
    with store.transaction():
        user_id = store.insert_user(
            {
                "name": name,
                "role": role,
                "password_hash": _hasher.hash(password),
                "language": language,
                "created_by": by.strip(),
                "disabled": False,
            }
        )
        user = store.user(user_id)
        _audit_user(store, by.strip(), "user.created", user, language=language)
    return user


def _named(store: Store, name: str) -> User:
    user = store.user_named(name.strip())
    if user is None:
        raise UserError([f"name: no user named {name.strip()!r}"])
    return user


def disable_user(store: Store, name: str, *, by: str) -> User:
    """Disable a user for good: they can no longer sign in, and a signed-in session ends."""
    problems = _by_problems(by)
    if problems:
        raise UserError(problems)
    user = _named(store, name)
    if user.disabled:
        raise UserError([f"name: {user.name} is disabled already"])
    admins = [u for u in store.users() if u.role == "admin" and not u.disabled]
    if user.role == "admin" and len(admins) == 1:
        raise UserError([f"name: {user.name} is the last admin; add another admin first"])
    with store.transaction():
        store.update_user(user.id, {"disabled": True})
        user = store.user(user.id)
        _audit_user(store, by.strip(), "user.disabled", user)
    return user


def set_language(store: Store, user: User, language: str) -> User:
    """The language the web app speaks to this user (``LANGUAGES``), chosen by themselves."""
    problems = _language_problems(language)
    if problems:
        raise UserError(problems)
    if language == user.language:
        return user
    with store.transaction():
        store.update_user(user.id, {"language": language})
        changed = store.user(user.id)
        _audit_user(store, user.name, "user.language_set", changed, language=language)
    return changed


def sign_out(store: Store, user: User) -> None:
    """End every session of the user issued until now (a copied cookie included)."""
    with store.transaction():
        store.update_user(user.id, {"signed_out_at": store.now()})
        store.audit(user.name, "user.signed_out", _subject(user.name), {"user_id": user.id})


def session_ended(user: User, issued_at: datetime) -> bool:
    """Whether a session issued at ``issued_at`` ended when the user last signed out."""
    return user.signed_out_at is not None and issued_at <= user.signed_out_at


def user_audit_problems(store: Store, user: User) -> list[str]:
    """Why the user's record cannot be trusted: it does not read as its latest audit entry
    recorded it (its role, disabled flag or password hash changed outside nl_trader)."""
    entries = [
        entry
        for entry in store.audit_entries(subject=_subject(user.name))
        if "role" in entry.payload and entry.payload.get("user_id") == user.id
    ]
    if not entries:
        return [f"user {user.name} has no audit entry: not added by nl_trader"]
    recorded = entries[-1].payload
    changed = sorted(
        key for key, value in _covers(user).items() if key != "name" and recorded.get(key) != value
    )
    if changed:
        return [
            f"user {user.name} does not match audit entry {entries[-1].seq} "
            f"({', '.join(changed)} changed outside nl_trader)"
        ]
    return []


# ---- signing in ----------------------------------------------------------------------------------------
def _throttled_until(store: Store, name: str) -> datetime | None:
    now = store.now()
    failures = store.failed_logins(name, since=now - LOGIN_WINDOW)
    if len(failures) < MAX_FAILED_LOGINS:
        return None
    return failures[-MAX_FAILED_LOGINS] + LOGIN_WINDOW


def authenticate(store: Store, name: str, password: str) -> User:
    """The user whose name and password these are; ``AuthenticationError`` otherwise.

    Refused without checking the password (``LoginThrottledError``) while the name has
    ``MAX_FAILED_LOGINS`` failed attempts within ``LOGIN_WINDOW``; a disabled user, or one whose
    record disagrees with its audit log, is refused even with the right password.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise AuthenticationError("the name or the password is wrong")
    until = _throttled_until(store, name)
    if until is not None:
        store.add_login_attempt(name, "throttled")
        raise LoginThrottledError(name, until)
    user = store.user_named(name)
    try:
        _hasher.verify(user.password_hash if user is not None else _dummy_hash(), password)
        verified = user is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if user is None or not verified:
        store.add_login_attempt(name, "failed")
        until = _throttled_until(store, name)
        if until is not None:
            with store.transaction():
                store.audit(SIGN_IN_ACTOR, "user.login_throttled", _subject(name), {"until": until})
        raise AuthenticationError("the name or the password is wrong")
    if user.disabled:
        store.add_login_attempt(name, "failed")
        raise AuthenticationError(f"{user.name} is disabled")
    problems = user_audit_problems(store, user)
    if problems:
        store.add_login_attempt(name, "failed")
        raise AuthenticationError("; ".join(problems))
    store.add_login_attempt(name, "ok")
    with store.transaction():
        if _hasher.check_needs_rehash(user.password_hash):
            store.update_user(user.id, {"password_hash": _hasher.hash(password)})
            user = store.user(user.id)
            _audit_user(store, user.name, "user.password_rehashed", user)
        store.audit(user.name, "user.signed_in", _subject(user.name), {"user_id": user.id})
    return user
