"""The audit log: append-only, and tamper-evident through a keyed chain.

Each entry's ``hash`` is an HMAC-SHA256, under the user's audit key (``audit_key``: a file outside
the database), of its canonical form (sequence number, time, actor, action, subject, payload and
the previous entry's hash). Changing, removing or reordering any entry breaks the chain at it, and
without the key no one can write a consistent replacement or append a forged entry.
``verify_chain`` recomputes the chain and names the first entry that does not hold. The database
also refuses UPDATE and DELETE on the table (triggers); the chain is what shows a change made around
them, e.g. by editing the file.

The keying record (table ``audit_keying``: the store's id, the key's id, and where keyed entries
begin) is written when a store is created, under the same key. A store made before logs were keyed
holds plain SHA-256 entries up to it; the first keyed entry links to the last of them, so they
cannot be rewritten either once keyed. Such a store is keyed when first opened, only if its chain
holds and no head log was ever kept for a keyed log at its path (one whose keyed entries were cut
off is not keyed afresh).

A chain cannot show its own tail cut off: the head log beside the key records every committed
head, and ``verify_chain`` checks the chain still holds each; a head kept elsewhere (a ticket, an
e-mail) can be passed as ``expected_head`` too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from nl_trader.store.audit_key import AuditKey, read_heads
from nl_trader.store.db import StoreError

GENESIS_HASH = "0" * 64


class AuditNotKeyedError(StoreError):
    """An entry was to be appended to a log that is not keyed (its keying record is missing)."""


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log; ``payload`` is the decoded JSON of what was recorded."""

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditCheck:
    """What ``verify_chain`` found: ``ok``, the entries checked, the head, and the first break."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None
    key_id: str = ""


@dataclass(frozen=True)
class Keying:
    """Where a store's log became keyed, and under which key (its record is itself MAC'd)."""

    store_id: str
    key_id: str
    first_seq: int
    prev_hash: str
    keyed_at: str
    mac: str

    def canonical(self) -> str:
        return json.dumps(
            ["keying", self.store_id, self.key_id, self.first_seq, self.prev_hash, self.keyed_at],
            separators=(",", ":"),
        )


def canonical_payload(payload: dict[str, Any]) -> str:
    """The payload's stored text: JSON with sorted keys and no whitespace."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(
    seq: int, time: str, actor: str, action: str, subject: str, payload: str, prev_hash: str
) -> str:
    return json.dumps(
        [seq, time, actor, action, subject, payload, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def entry_hash(
    seq: int, time: str, actor: str, action: str, subject: str, payload: str, prev_hash: str
) -> str:
    """Plain SHA-256 of an entry's canonical form: entries written before logs were keyed."""
    canonical = _canonical(seq, time, actor, action, subject, payload, prev_hash)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_mac(
    key: AuditKey,
    seq: int,
    time: str,
    actor: str,
    action: str,
    subject: str,
    payload: str,
    prev_hash: str,
) -> str:
    """HMAC-SHA256 under ``key`` of an entry's canonical form (the payload as its stored text)."""
    return key.mac(_canonical(seq, time, actor, action, subject, payload, prev_hash))


def read_keying(connection: sqlite3.Connection) -> Keying | None:
    row = connection.execute("SELECT * FROM audit_keying WHERE id = 1").fetchone()
    if row is None:
        return None
    return Keying(
        store_id=str(row["store_id"]),
        key_id=str(row["key_id"]),
        first_seq=int(row["first_seq"]),
        prev_hash=str(row["prev_hash"]),
        keyed_at=str(row["keyed_at"]),
        mac=str(row["mac"]),
    )


def key_log(
    connection: sqlite3.Connection, key: AuditKey, *, time: datetime, db_path: Path | None
) -> Keying | None:
    """Key this store's log from its next entry on (a new store, or one made before logs were
    keyed whose chain holds); return its keying, or None where it may not be keyed afresh."""
    if not connection.in_transaction:
        raise RuntimeError("audit: key the log inside a transaction")
    existing = read_keying(connection)
    if existing is not None:
        return existing
    head = connection.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    if head is not None:  # entries made before logs were keyed (an empty log has nothing to trust)
        if db_path is not None and key.head_logs_of(db_path):
            return None  # a keyed log was kept here before: its keyed entries were removed
        if not _legacy_chain_holds(connection):
            return None
    unsigned = Keying(
        store_id=uuid.uuid4().hex,
        key_id=key.key_id,
        first_seq=int(head["seq"]) + 1 if head else 1,
        prev_hash=str(head["hash"]) if head else GENESIS_HASH,
        keyed_at=time.isoformat(),
        mac="",
    )
    keying = replace(unsigned, mac=key.mac(unsigned.canonical()))
    connection.execute(
        "INSERT INTO audit_keying (id, store_id, key_id, first_seq, prev_hash, keyed_at, mac) "
        "VALUES (1, ?, ?, ?, ?, ?, ?)",
        (
            keying.store_id,
            keying.key_id,
            keying.first_seq,
            keying.prev_hash,
            keying.keyed_at,
            keying.mac,
        ),
    )
    return keying


def _legacy_chain_holds(connection: sqlite3.Connection) -> bool:
    previous = GENESIS_HASH
    for count, row in enumerate(connection.execute("SELECT * FROM audit ORDER BY seq"), start=1):
        fields = (row["time"], row["actor"], row["action"], row["subject"], row["payload"])
        if int(row["seq"]) != count or row["prev_hash"] != previous:
            return False
        if entry_hash(count, *fields, row["prev_hash"]) != row["hash"]:
            return False
        previous = str(row["hash"])
    return True


def append_entry(
    connection: sqlite3.Connection,
    key: AuditKey,
    *,
    time: datetime,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
) -> AuditEntry:
    """Append one entry. Call it inside the transaction that makes the change it records."""
    if not connection.in_transaction:
        raise RuntimeError("audit: append inside the transaction of the change it records")
    if read_keying(connection) is None:
        raise AuditNotKeyedError(
            "audit: the log is not keyed (its keying record is missing, or its chain did not hold "
            "when it was to be keyed): nothing is recorded until `nl-trader audit --verify` passes"
        )
    head = connection.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq = int(head["seq"]) + 1 if head else 1
    prev_hash = str(head["hash"]) if head else GENESIS_HASH
    stamp = time.isoformat()
    text = canonical_payload(payload)
    digest = entry_mac(key, seq, stamp, actor, action, subject, text, prev_hash)
    connection.execute(
        "INSERT INTO audit (seq, time, actor, action, subject, payload, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, stamp, actor, action, subject, text, prev_hash, digest),
    )
    return AuditEntry(seq, stamp, actor, action, subject, json.loads(text), prev_hash, digest)


def read_entries(
    connection: sqlite3.Connection, *, subject: str | None = None, limit: int | None = None
) -> list[AuditEntry]:
    """Entries oldest first (the newest ``limit`` of them), optionally about one subject."""
    query = "SELECT * FROM audit"
    args: list[Any] = []
    if subject is not None:
        query += " WHERE subject = ?"
        args.append(subject)
    query += " ORDER BY seq DESC"
    if limit is not None:
        query += " LIMIT ?"
        args.append(limit)
    rows = connection.execute(query, args).fetchall()
    return [_entry(row) for row in reversed(rows)]


def verify_chain(
    connection: sqlite3.Connection,
    key: AuditKey,
    *,
    expected_head: str | None = None,
    head_log: Path | None = None,
) -> AuditCheck:
    """Recompute every entry's hash (its MAC under ``key`` from the keying on) in order; report
    the first entry that breaks the chain.

    ``head_log`` (the store's head log) and ``expected_head`` (a hash recorded earlier) are
    heads the chain must still hold: one it no longer holds means entries were removed or
    rewritten after it was recorded.
    """
    keying = read_keying(connection)
    if keying is None:
        return AuditCheck(
            False,
            0,
            0,
            GENESIS_HASH,
            problem="the log is not keyed: its keying record is missing (removed, or the store "
            "predates keyed logs and its chain did not hold)",
            key_id=key.key_id,
        )
    if key.mac(keying.canonical()) != keying.mac:
        problem = (
            f"its keying record does not verify under this user's audit key {key.path} (key id "
            f"{key.key_id}; the record names key {keying.key_id}): another key, or a forged record"
        )
        return AuditCheck(False, 0, 0, GENESIS_HASH, problem=problem, key_id=key.key_id)
    previous = GENESIS_HASH
    count = 0
    held: dict[int, str] = {}
    cursor = connection.execute(
        "SELECT seq, time, actor, action, subject, payload, prev_hash, hash FROM audit ORDER BY seq"
    )
    for row in cursor:
        count += 1
        seq = int(row["seq"])
        fields = (row["time"], row["actor"], row["action"], row["subject"], row["payload"])
        broken = None
        if seq != count:
            broken = f"sequence number {seq} where {count} was expected: an entry was removed"
        elif row["prev_hash"] != previous:
            broken = "its previous-hash does not match the entry before it"
        elif seq == keying.first_seq and previous != keying.prev_hash:
            broken = "the entries before it are not the ones the log was keyed after"
        elif seq >= keying.first_seq:
            if entry_mac(key, seq, *fields, row["prev_hash"]) != row["hash"]:
                broken = (
                    "its content does not match its keyed hash: it was changed after it was "
                    "written (or forged without the key)"
                )
        elif entry_hash(seq, *fields, row["prev_hash"]) != row["hash"]:
            broken = "its content does not match its hash: it was changed after it was written"
        if broken is not None:
            return AuditCheck(
                False, count, count - 1, previous, seq, problem=broken, key_id=key.key_id
            )
        previous = str(row["hash"])
        held[seq] = previous
    if count < keying.first_seq - 1:
        problem = (
            f"the log holds {count} entries, but it was keyed after entry {keying.first_seq - 1}: "
            "entries were removed"
        )
        return AuditCheck(False, count, count, previous, problem=problem, key_id=key.key_id)
    heads, problems = read_heads(head_log) if head_log is not None else ([], [])
    if expected_head is not None and expected_head not in held.values():
        problems.append(
            f"the recorded head {expected_head} is not in the chain: entries were removed"
        )
    for seq, digest in heads:
        if held.get(seq) != digest:
            cut = seq > count
            problems.append(
                f"the head log {head_log} records entry {seq} (hash {digest[:12]}), which the "
                + (
                    f"chain no longer holds (it ends at entry {count}): entries were removed"
                    if cut
                    else "chain holds with other content: the log was rewritten"
                )
            )
            break
    if problems:
        return AuditCheck(False, count, count, previous, problem=problems[0], key_id=key.key_id)
    return AuditCheck(True, count, count, previous, key_id=key.key_id)


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]),
        time=str(row["time"]),
        actor=str(row["actor"]),
        action=str(row["action"]),
        subject=str(row["subject"]),
        payload=json.loads(row["payload"]),
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )
