"""What an SMTP server adapter asks of the application: the Backend and Session Protocols.

DESIGN.md "Servers": an adapter asks a :class:`Backend` for a
:class:`Session` per connection and calls it with typed arguments; the
session refuses by raising :class:`SMTPReplyError`, which goes out as it is;
any other exception becomes ``451 4.3.0`` and the connection goes on.
Methods may be plain or ``async``: an adapter awaits whatever is awaitable
(:data:`MaybeAwaitable`), so one backend serves the asyncio and the blocking
servers alike (a blocking server runs a coroutine to completion).

Every call gets a :class:`SessionContext`: the peer's address, the HELO
name, whether TLS is active and who authenticated. The server machine has
no relay policy of its own (RFC 5321 section 3.6, SECURITY A6.4): the
session decides, for example refusing a recipient with
``SMTPReplyError(554, "5.7.1", "Relay access denied")``.

Optional abilities are separate runtime-checkable Protocols:
:class:`AuthBackend` (SASL credentials for AUTH, RFC 4954) and
:class:`LMTPSession` (one result per recipient, RFC 2033 section 4.2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, Union, runtime_checkable

from ._events import Mail, Rcpt, Reply
from ._replies import EnhancedStatus

__all__ = [
    "AuthBackend",
    "Backend",
    "LMTPSession",
    "MaybeAwaitable",
    "PeerInfo",
    "SMTPReplyError",
    "Session",
    "SessionContext",
]

T = TypeVar("T")
MaybeAwaitable = Union[T, Awaitable[T]]
"""A plain value or something to await for it."""


class SMTPReplyError(Exception):
    """A refusal from the backend, sent to the client as this reply.

    Args:
        code: the reply code, 400 to 599.
        enhanced: the enhanced status code (``"5.7.1"``) or ``None``.
        text: the reply text; LF separates the lines of a multi-line reply.

    Raises:
        ValueError: a code outside 400..599, or an enhanced code that does not
            match it.
    """

    def __init__(self, code: int, enhanced: str | None, text: str) -> None:
        if not 400 <= code <= 599:
            raise ValueError(f"SMTPReplyError code must be 400..599, not {code}")
        super().__init__(f"{code} {enhanced or ''} {text}".replace("  ", " "))
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.reply = Reply(
            code=code,
            lines=tuple(text.split("\n")),
            enhanced=EnhancedStatus.parse(enhanced) if enhanced else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerInfo:
    """Who connected.

    Attributes:
        address: the peer's address as the socket gives it (host, port[, ...]).
        local_address: our address on that connection.
        tls: the connection started with TLS (implicit TLS, RFC 8314).
    """

    address: tuple[str, int] | tuple[str, int, int, int] | None = None
    local_address: tuple[str, int] | tuple[str, int, int, int] | None = None
    tls: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionContext:
    """What a session knows when it decides.

    Attributes:
        peer: the connection's :class:`PeerInfo`.
        helo: the EHLO/HELO/LHLO name, if given.
        tls: TLS is active now (implicit or after STARTTLS).
        tls_version: the TLS protocol version, when the adapter knows it.
        authenticated_as: the SASL authorization identity, if AUTH succeeded.
        lmtp: the server speaks LMTP.
    """

    peer: PeerInfo
    helo: str | None = None
    tls: bool = False
    tls_version: str | None = None
    authenticated_as: str | None = None
    lmtp: bool = False


@runtime_checkable
class Session(Protocol):
    """One connection's conversation with the application.

    Each method may be ``async``. Raising :class:`SMTPReplyError` refuses
    the command with that reply; returning accepts it with the standard
    reply.
    """

    def mail(self, mail: Mail, context: SessionContext) -> MaybeAwaitable[None]:
        """A sender (``MAIL FROM``); ``mail.params`` carries SIZE, BODY, SMTPUTF8, RET, ENVID."""

    def rcpt(self, rcpt: Rcpt, context: SessionContext) -> MaybeAwaitable[None]:
        """A recipient (``RCPT TO``); ``rcpt.params`` carries NOTIFY and ORCPT."""

    def data(self, chunk: bytes, context: SessionContext) -> MaybeAwaitable[None]:
        """A piece of the message content, in order; never the whole message at once."""

    def end(self, context: SessionContext) -> MaybeAwaitable[str | None]:
        """The message is complete: store it. Return text for the 250 reply (a queue id) or None."""

    def reset(self, context: SessionContext) -> MaybeAwaitable[None]:
        """The transaction was aborted (RSET, a new EHLO, a refused message, the connection closed)."""

    def close(self, context: SessionContext) -> MaybeAwaitable[None]:
        """The connection ended."""


@runtime_checkable
class LMTPSession(Protocol):
    """An LMTP session: one result per accepted recipient (RFC 2033 section 4.2)."""

    def end_lmtp(self, context: SessionContext) -> MaybeAwaitable[Sequence[SMTPReplyError | None]]:
        """Deliver the message; return, per accepted recipient in order, None (delivered) or the refusal."""


@runtime_checkable
class AuthBackend(Protocol):
    """A backend that authenticates AUTH exchanges (RFC 4954) through ``rfcmail.sasl``."""

    def sasl_credentials(self) -> object:
        """The credentials store handed to ``rfcmail.sasl.create_server``."""


@runtime_checkable
class Backend(Protocol):
    """The application behind an SMTP/LMTP server."""

    def session(self, peer: PeerInfo) -> MaybeAwaitable[Session]:
        """A new session for a connection from ``peer``; raise SMTPReplyError to refuse the connection (554)."""
