"""Users and roles: argon2 hashes only, sign-ins throttled on the store's clock, the role table,
the four-eyes rule, every change audited, and existing stores migrated to hold users."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from nl_trader import users
from nl_trader.lifecycle import register
from nl_trader.store import Store
from nl_trader.store.schema import MIGRATIONS
from nl_trader.users import (
    ACTIONS,
    ROLES,
    AuthenticationError,
    LoginThrottledError,
    PermissionDeniedError,
    UserError,
    add_user,
    authenticate,
    disable_user,
    four_eyes_required,
    may,
    require,
    require_other_author,
)
from tests.store.builders import Clock, example_spec

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(tmp_path / "nl.db", clock=clock) as opened:
        yield opened


def test_a_password_is_stored_as_its_argon2_hash_only(store: Store) -> None:
    user = add_user(store, "Ana Lee", PASSWORD, "approver", by="root")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert PASSWORD not in repr(user)
    assert user.password_hash not in repr(user)
    assert PASSWORD not in "\n".join(store.connection.iterdump())


def test_the_right_password_signs_in_whatever_the_names_case(store: Store) -> None:
    add_user(store, "Ana Lee", PASSWORD, "approver", by="root")
    assert authenticate(store, "ana lee", PASSWORD).name == "Ana Lee"


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(store: Store) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    with pytest.raises(AuthenticationError) as wrong:
        authenticate(store, "ana", "not it at all")
    with pytest.raises(AuthenticationError) as unknown:
        authenticate(store, "nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == "the name or the password is wrong"


def test_five_failures_in_fifteen_minutes_lock_the_name_until_the_window_has_passed(
    store: Store, clock: Clock
) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        with pytest.raises(AuthenticationError):
            authenticate(store, "ana", "guess guess")
    first_failure = clock.now - timedelta(minutes=4)
    with pytest.raises(LoginThrottledError) as locked:
        authenticate(store, "ana", PASSWORD)
    assert locked.value.until == first_failure + timedelta(minutes=15)
    assert "try again after" in str(locked.value)
    clock.now = locked.value.until - timedelta(seconds=1)
    with pytest.raises(LoginThrottledError):
        authenticate(store, "ana", PASSWORD)
    clock.now = locked.value.until + timedelta(seconds=1)
    assert authenticate(store, "ana", PASSWORD).name == "ana"
    actions = [entry.action for entry in store.audit_entries(subject="user/ana")]
    assert "user.login_throttled" in actions


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(
    store: Store, clock: Clock
) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    for _ in range(6):
        clock.advance(timedelta(minutes=4))
        with pytest.raises(AuthenticationError) as refused:
            authenticate(store, "ana", "guess guess")
        assert not isinstance(refused.value, LoginThrottledError)
    assert authenticate(store, "ana", PASSWORD).name == "ana"


def test_a_success_clears_the_earlier_failures(store: Store) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            authenticate(store, "ana", "guess guess")
    authenticate(store, "ana", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            authenticate(store, "ana", "guess guess")
    assert authenticate(store, "ana", PASSWORD).name == "ana"


def test_each_role_may_do_what_the_table_says_and_admin_everything(store: Store) -> None:
    made = {role: add_user(store, f"u-{role}", PASSWORD, role, by="root") for role in ROLES}
    assert all(roles <= set(ROLES) for roles in ACTIONS.values())
    for action, roles in ACTIONS.items():
        for role, user in made.items():
            assert may(user, action) == (role in roles), (action, role)
        assert may(made["admin"], action)
    assert may(made["author"], "strategy.new")
    assert not may(made["author"], "strategy.approve")
    assert may(made["operator"], "session.kill")
    assert not may(made["approver"], "session.start")


def test_require_refuses_naming_the_role_needed_and_the_users_role(store: Store) -> None:
    author = add_user(store, "ana", PASSWORD, "author", by="root")
    with pytest.raises(PermissionDeniedError) as refused:
        require(author, "strategy.approve")
    assert str(refused.value) == (
        "strategy.approve: it needs the role approver or admin; ana is an author"
    )
    with pytest.raises(PermissionDeniedError, match=r"user\.manage: it needs the role admin"):
        require(author, "user.manage")


def test_an_unknown_action_is_named(store: Store) -> None:
    author = add_user(store, "ana", PASSWORD, "author", by="root")
    with pytest.raises(ValueError, match=r"action: 'strategy\.fly' is not one of"):
        require(author, "strategy.fly")


def test_bad_user_input_names_each_field_and_its_problem(store: Store) -> None:
    with pytest.raises(UserError) as refused:
        add_user(store, "a\x1b[2Jb", "short", "boss", by=" ", language="fr")
    problems = refused.value.problems
    assert any(p.startswith("name: '\\x1b'") for p in problems)
    assert "role: 'boss' is not one of author, approver, operator, admin" in problems
    assert "password: at least 8 characters" in problems
    assert "language: 'fr' is not one of en, zh-Hant, zh-Hans" in problems
    assert "by: name the person who makes the change" in problems
    add_user(store, "ana", PASSWORD, "author", by="root")
    with pytest.raises(UserError, match="name: a user named 'ANA' exists already"):
        add_user(store, "ANA", PASSWORD, "author", by="root")
    with pytest.raises(UserError, match="password: not the user's name"):
        add_user(store, "bartholomew", "Bartholomew", "author", by="root")


def test_chinese_names_are_welcome(store: Store) -> None:
    assert add_user(store, "陳大文", PASSWORD, "approver", by="root").name == "陳大文"


def test_every_user_change_is_audited_with_who_made_it_and_never_the_password(
    store: Store,
) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    authenticate(store, "ana", PASSWORD)
    disable_user(store, "ana", by="root")
    entries = store.audit_entries(subject="user/ana")
    assert [(e.action, e.actor) for e in entries] == [
        ("user.created", "root"),
        ("user.signed_in", "ana"),
        ("user.disabled", "root"),
    ]
    user = store.user_named("ana")
    assert user is not None
    for entry in entries:
        assert PASSWORD not in str(entry.payload)
        assert user.password_hash not in str(entry.payload)
    assert store.verify_audit().ok


def test_a_disabled_user_cannot_sign_in(store: Store) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    disable_user(store, "ana", by="root")
    with pytest.raises(AuthenticationError, match="ana is disabled"):
        authenticate(store, "ana", PASSWORD)


@pytest.mark.parametrize(
    ("column", "value"),
    [("role", "'admin'"), ("disabled", "0"), ("password_hash", "'$argon2id$forged'")],
)
def test_a_user_record_changed_behind_the_audit_log_is_refused_at_sign_in(
    store: Store, column: str, value: str
) -> None:
    add_user(store, "ana", PASSWORD, "author", by="root")
    if column == "disabled":
        disable_user(store, "ana", by="root")
    store.connection.execute(f"UPDATE users SET {column} = {value} WHERE name = 'ana'")
    with pytest.raises(AuthenticationError) as refused:
        authenticate(store, "ana", PASSWORD)
    if column != "password_hash":  # a forged hash does not verify: refused as a wrong password
        assert f"{column} changed outside nl_trader" in str(refused.value)


def test_under_four_eyes_the_author_of_a_version_may_not_approve_it(store: Store) -> None:
    register(store, example_spec(), text="SMA crossover", by="Ana")
    ana = add_user(store, "ana", PASSWORD, "approver", by="root")
    bo = add_user(store, "bo", PASSWORD, "approver", by="root")
    with pytest.raises(PermissionDeniedError, match="ana authored version 1 of strategy 1"):
        require_other_author(store, ana, 1)
    require_other_author(store, bo, 1)


def test_the_four_eyes_flag_comes_from_the_users_table_of_the_config() -> None:
    assert four_eyes_required({}) is False
    assert four_eyes_required({"users": {"four_eyes": True}}) is True
    with pytest.raises(ValueError, match=r"users.four_eyes: 'yes' is not true or false"):
        four_eyes_required({"users": {"four_eyes": "yes"}})


def test_a_store_made_before_users_is_migrated_and_keeps_its_records(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    for script in MIGRATIONS[:3]:
        raw.executescript(script)
    raw.execute("PRAGMA user_version = 3")
    raw.execute(
        "INSERT INTO strategies (name, state, created_at, created_by, updated_at) VALUES "
        "('kept', 'draft', '2026-01-01T00:00:00+00:00', 'ana', '2026-01-01T00:00:00+00:00')"
    )
    raw.commit()
    raw.close()
    with Store(db) as store:
        assert store.db.schema_version == len(MIGRATIONS)
        assert [s.name for s in store.strategies()] == ["kept"]
        assert add_user(store, "ana", PASSWORD, "admin", by="root").id == 1


def test_the_last_admin_cannot_be_disabled(store: Store) -> None:
    add_user(store, "root", PASSWORD, "admin", by="setup")
    with pytest.raises(UserError, match="root is the last admin; add another admin first"):
        disable_user(store, "root", by="root")
    add_user(store, "second", PASSWORD, "admin", by="root")
    assert disable_user(store, "root", by="second").disabled
