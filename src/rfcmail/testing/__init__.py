"""Test tooling for users of rfcmail: machines joined in memory.

:class:`ConnectionPair` joins a client and a server sans-IO machine (SMTP
now, POP3 and IMAP later) and collects what each side reads.
:class:`DiscardBackend` and :class:`MemoryBackend` are reference SMTP server
backends (:class:`rfcmail.smtp.Backend`).
"""

from __future__ import annotations

from ._backends import DiscardBackend, MemoryBackend, StoredMessage
from ._pair import ConnectionPair, SansIOConnection

__all__ = ["ConnectionPair", "DiscardBackend", "MemoryBackend", "SansIOConnection", "StoredMessage"]
