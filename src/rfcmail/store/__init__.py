"""Mailbox storage: a Maildir store and an in-memory store.

Both implement the POP3 maildrop Protocols of :mod:`rfcmail.pop3.backend`
(RFC 1939); the Maildir store is shared with the MTA's local delivery.
"""

from __future__ import annotations

from .maildir import Maildir, MaildirEntry, MaildirMaildrop, MaildirStore, unique_id_for
from .memory import MemoryMaildrop, MemoryStore, wire_size

__all__ = [
    "Maildir",
    "MaildirEntry",
    "MaildirMaildrop",
    "MaildirStore",
    "MemoryMaildrop",
    "MemoryStore",
    "unique_id_for",
    "wire_size",
]
