"""Client order ids: the name nl_trader gives each request before it is sent, carried in its comment.

MT5 gives an order its ticket only in the reply; a reply lost to a timeout or a dropped link leaves
the client with nothing to look the order up by. So every request carries an id the product chose,
written to the session's journal before ``order_send``: a lost reply, a reconnect or a restart after
a crash is resolved by finding that id in the terminal's orders, positions and history, never by
matching symbol, type and volume (another client's identical order would match).

The id rides at the end of the request's ``comment`` after a ``#``: ``MAS Order#s1k.2f``. The
package accepts at most 29 characters of comment (mt5_api.md 2.4; 29 is the largest length every
build takes, within MT5's 31-character field), so the trader's comment is shortened to make room;
an id is at most 12 characters. The id is ``PREFIX.SEQ`` in base 36: a session's prefix is ``s``
and its session id (unique in its store), a bare client's is ``c`` and four random characters; the
sequence counts the session's requests. Together with the strategy's magic it names one request.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from nl_trader.orders import MT5_TEXT_LIMIT, utf16_length

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TAGGED = re.compile(r"#(?P<id>[0-9a-z]{2,7}\.[0-9a-z]{1,4})$")


def base36(value: int) -> str:
    """``value`` (>= 0) in base 36, lower case: 46 -> '1a'."""
    if value < 0:
        raise ValueError(f"value: {value} is negative")
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = _DIGITS[digit] + digits
        if value == 0:
            return digits


@dataclass
class ClientIds:
    """Hands out the ids of one session's (or one client's) requests, in order."""

    prefix: str
    next_seq: int = 1

    @classmethod
    def for_session(cls, session_id: int, next_seq: int = 1) -> ClientIds:
        """The ids of store session ``session_id``; ``next_seq`` resumes after a restart."""
        return cls(f"s{base36(session_id)}", next_seq)

    @classmethod
    def random(cls) -> ClientIds:
        """Ids for a client outside any session (the seed's MAS used directly)."""
        return cls("c" + "".join(secrets.choice(_DIGITS) for _ in range(4)))

    def next(self) -> str:
        """The next id: ``s1k.2f``."""
        if self.next_seq >= 36**4:
            raise ValueError(f"client ids: {self.prefix} has used all {36**4 - 1} ids")
        client_id = f"{self.prefix}.{base36(self.next_seq)}"
        self.next_seq += 1
        return client_id


def tag(comment: str, client_id: str) -> str:
    """``comment`` with ``#client_id`` at its end, shortened to fit the package's 29 characters."""
    suffix = f"#{client_id}"
    room = MT5_TEXT_LIMIT - len(suffix)
    kept = comment.split("#", 1)[0] if _TAGGED.search(comment) else comment
    while utf16_length(kept) > room:
        kept = kept[:-1]
    return kept + suffix


def client_id_of(comment: object) -> str | None:
    """The client id a comment carries, or None (an order nl_trader did not tag)."""
    if not isinstance(comment, str):
        return None
    found = _TAGGED.search(comment)
    return found.group("id") if found else None


def sequence_of(client_id: str) -> int:
    """The sequence number of an id: 's1k.2f' -> 87."""
    return int(client_id.rsplit(".", 1)[1], 36)
