"""An in-memory maildrop store for tests and :mod:`rfcmail.testing`.

It implements the POP3 backend Protocols of :mod:`rfcmail.pop3.backend`
(RFC 1939 sections 4-7): one exclusive lock per mailbox ([IN-USE] for a
second session, RFC 2449 section 8.1.1), unique ids stable for the life of
the store, sizes counted with CRLF line endings.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence, Set

from ..pop3.backend import MessageInfo, POP3Error

__all__ = ["MemoryMaildrop", "MemoryStore", "wire_size"]

_CHUNK = 64 * 1024


def wire_size(data: bytes) -> int:
    """Octets of ``data`` on the wire: every line ending counted as CRLF (RFC 1939 section 5)."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


class MemoryStore:
    """Mailboxes held in memory: ``{user: [(unique_id, message bytes), ...]}``.

    Safe to share between threads (the blocking server runs one per session).
    """

    def __init__(self) -> None:
        self._mailboxes: dict[str, list[tuple[str, bytes]]] = {}
        self._locked: set[str] = set()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def deliver(self, user: str, message: bytes) -> str:
        """Add a message to ``user``'s mailbox; return its unique id."""
        with self._lock:
            unique_id = f"m{next(self._counter)}"
            self._mailboxes.setdefault(user, []).append((unique_id, bytes(message)))
            return unique_id

    def messages(self, user: str) -> list[bytes]:
        """The messages in ``user``'s mailbox now, oldest first."""
        with self._lock:
            return [data for _, data in self._mailboxes.get(user, [])]

    def open_maildrop(self, user: str) -> MemoryMaildrop:
        """Lock ``user``'s mailbox for one session."""
        with self._lock:
            if user in self._locked:
                raise POP3Error("maildrop already locked by another session", code="IN-USE")
            self._locked.add(user)
            snapshot = list(self._mailboxes.get(user, []))
        return MemoryMaildrop(self, user, snapshot)

    def _remove(self, user: str, unique_ids: Set[str]) -> None:
        with self._lock:
            self._mailboxes[user] = [item for item in self._mailboxes.get(user, [])
                                     if item[0] not in unique_ids]

    def _release(self, user: str) -> None:
        with self._lock:
            self._locked.discard(user)


class MemoryMaildrop:
    """A locked snapshot of one mailbox of a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore, user: str, snapshot: list[tuple[str, bytes]]) -> None:
        self._store = store
        self._user = user
        self._snapshot = snapshot
        self._infos = [MessageInfo(size=wire_size(data), unique_id=uid) for uid, data in snapshot]
        self._closed = False

    def messages(self) -> Sequence[MessageInfo]:
        return self._infos

    def read(self, index: int) -> Iterator[bytes]:
        data = self._snapshot[index][1]
        for start in range(0, len(data), _CHUNK):
            yield data[start:start + _CHUNK]

    def commit(self, deleted: Set[int]) -> None:
        self._store._remove(self._user, {self._snapshot[index][0] for index in deleted})

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store._release(self._user)
