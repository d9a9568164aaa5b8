"""Reference SMTP backends in memory: one that discards, one that keeps.

Both implement :class:`rfcmail.smtp.Backend` with plain (non-async)
methods, so they serve the asyncio and the blocking servers alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..smtp import Mail, PeerInfo, Rcpt, SessionContext, SMTPReplyError

__all__ = ["DiscardBackend", "MemoryBackend", "StoredMessage"]


class _DiscardSession:
    __slots__ = ()

    def mail(self, mail: Mail, context: SessionContext) -> None:
        return None

    def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
        return None

    def data(self, chunk: bytes, context: SessionContext) -> None:
        return None

    def end(self, context: SessionContext) -> str | None:
        return None

    def reset(self, context: SessionContext) -> None:
        return None

    def close(self, context: SessionContext) -> None:
        return None


class DiscardBackend:
    """Accepts every sender, recipient and message and keeps nothing (a benchmark sink)."""

    def session(self, peer: PeerInfo) -> _DiscardSession:
        """A session that accepts everything."""
        return _DiscardSession()


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """A message :class:`MemoryBackend` accepted.

    Attributes:
        mail: the MAIL command (sender and parameters).
        recipients: the accepted RCPT commands.
        content: the message as received (unstuffed DATA or joined BDAT chunks).
        context: the session context at the end of the message.
    """

    mail: Mail
    recipients: tuple[Rcpt, ...]
    content: bytes
    context: SessionContext


class _MemorySession:
    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        self._mail: Mail | None = None
        self._recipients: list[Rcpt] = []
        self._content = bytearray()

    def mail(self, mail: Mail, context: SessionContext) -> None:
        self._mail = mail
        self._recipients = []
        self._content = bytearray()

    def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
        domain = rcpt.forward_path.rpartition("@")[2].lower()
        local = self._backend.local_domains
        if local is not None and domain not in local and rcpt.forward_path.lower() != "postmaster":
            if context.authenticated_as is None:
                raise SMTPReplyError(554, "5.7.1", "Relay access denied")
        self._recipients.append(rcpt)

    def data(self, chunk: bytes, context: SessionContext) -> None:
        self._content += chunk

    def end(self, context: SessionContext) -> str | None:
        assert self._mail is not None
        self._backend.messages.append(
            StoredMessage(mail=self._mail, recipients=tuple(self._recipients),
                          content=bytes(self._content), context=context)
        )
        self._content = bytearray()
        return f"queued as {len(self._backend.messages)}"

    def reset(self, context: SessionContext) -> None:
        self._mail = None
        self._recipients = []
        self._content = bytearray()

    def close(self, context: SessionContext) -> None:
        return None


@dataclass
class MemoryBackend:
    """Keeps every accepted message in :attr:`messages`.

    Attributes:
        local_domains: when set, recipients outside these domains are refused
            with ``554 5.7.1 Relay access denied`` unless the client has
            authenticated (the open-relay test of SECURITY A6.4).
        messages: the accepted messages, in order.
    """

    local_domains: frozenset[str] | None = None
    messages: list[StoredMessage] = field(default_factory=list)

    def session(self, peer: PeerInfo) -> _MemorySession:
        """A session that stores into :attr:`messages`."""
        return _MemorySession(self)
