"""The audit log: append-only, and tamper-evident through a chain of hashes.

Each entry's hash is the SHA-256 of its canonical form (sequence number, time, actor, action,
subject, payload and the previous entry's hash), so changing, removing or reordering any entry
breaks every hash after it. ``verify_chain`` recomputes the chain and names the first entry that
does not hold. The database also refuses UPDATE and DELETE on the table (triggers); the chain is
what shows a change made around them, e.g. by editing the file.

A chain cannot show its own tail cut off: keep the head (``AuditCheck.head_hash``) somewhere else
(a ticket, an e-mail) and pass it back as ``expected_head`` to prove nothing after it was removed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


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


def canonical_payload(payload: dict[str, Any]) -> str:
    """The payload's stored text: JSON with sorted keys and no whitespace."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    seq: int, time: str, actor: str, action: str, subject: str, payload: str, prev_hash: str
) -> str:
    """SHA-256 of an entry's canonical form (the payload as its stored text)."""
    canonical = json.dumps(
        [seq, time, actor, action, subject, payload, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append_entry(
    connection: sqlite3.Connection,
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
    head = connection.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq = int(head["seq"]) + 1 if head else 1
    prev_hash = str(head["hash"]) if head else GENESIS_HASH
    stamp = time.isoformat()
    text = canonical_payload(payload)
    digest = entry_hash(seq, stamp, actor, action, subject, text, prev_hash)
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


def verify_chain(connection: sqlite3.Connection, *, expected_head: str | None = None) -> AuditCheck:
    """Recompute every hash in order; report the first entry that breaks the chain.

    ``expected_head`` is a hash recorded earlier; the check fails if the chain no longer holds it
    (entries from it on were removed).
    """
    previous = GENESIS_HASH
    count = 0
    seen_expected = expected_head is None
    cursor = connection.execute(
        "SELECT seq, time, actor, action, subject, payload, prev_hash, hash FROM audit ORDER BY seq"
    )
    for row in cursor:
        count += 1
        seq = int(row["seq"])
        broken = None
        if seq != count:
            broken = f"sequence number {seq} where {count} was expected: an entry was removed"
        elif row["prev_hash"] != previous:
            broken = "its previous-hash does not match the entry before it"
        else:
            digest = entry_hash(
                seq,
                row["time"],
                row["actor"],
                row["action"],
                row["subject"],
                row["payload"],
                row["prev_hash"],
            )
            if digest != row["hash"]:
                broken = "its content does not match its hash: it was changed after it was written"
        if broken is not None:
            return AuditCheck(False, count, count - 1, previous, broken_seq=seq, problem=broken)
        previous = str(row["hash"])
        seen_expected = seen_expected or previous == expected_head
    if not seen_expected:
        return AuditCheck(
            False,
            count,
            count,
            previous,
            problem=f"the recorded head {expected_head} is not in the chain: entries were removed",
        )
    return AuditCheck(True, count, count, previous)


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
