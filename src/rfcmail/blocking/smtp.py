"""Blocking SMTP and LMTP over plain sockets: a client and a threaded server.

Both drive the sans-IO machine :class:`rfcmail.smtp.Connection`; nothing
here parses SMTP. RFC 5321 (timeouts of section 4.5.3.2), RFC 3207
(STARTTLS), RFC 8314 (implicit TLS), RFC 4954 (AUTH, through
:mod:`rfcmail.sasl`), RFC 2920 (PIPELINING), RFC 3030 (CHUNKING) and RFC
2033 (LMTP).

The logic that both the blocking and the asyncio adapters need lives here
too, written without I/O so that each adapter only moves bytes:

* the client's conversations (EHLO, STARTTLS, AUTH, a whole pipelined mail
  transaction) are generators that yield I/O requests
  (:class:`_Write`, :class:`_Read`, :class:`_StartTLS`, :class:`_NextChunk`)
  and receive their results;
* the server's handling of one event is a generator that yields each value a
  :class:`~rfcmail.smtp.Session` method returned, so that the adapter can
  await it (asyncio) or run it to completion (threads), and throws the
  session's exceptions back in.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterable, Awaitable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Union

from .. import sasl, smtp
from .._tls import TLSMode
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RfcmailError
from ..smtp import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    Auth,
    AuthBackend,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    BadCommand,
    Backend,
    Bdat,
    Config,
    Connection,
    ConnectionClosed,
    Data,
    DiscardedPlaintext,
    Ehlo,
    EndOfChunk,
    EndOfMessage,
    EnhancedStatus,
    Event,
    Extensions,
    Expn,
    Helo,
    Lhlo,
    LMTPSession,
    Mail,
    MessageChunk,
    MessageRejected,
    OriginalRecipient,
    PeerInfo,
    Quit,
    Rcpt,
    Reply,
    Rset,
    Session,
    SessionContext,
    SMTPReplyError,
    StartTLS,
    State,
    mail_params_for,
    rcpt_params_for,
)

__all__ = [
    "ClientTimeouts",
    "InsecureConnectionError",
    "MessageSource",
    "RecipientResult",
    "SMTPClient",
    "SMTPClientError",
    "SMTPResponseError",
    "SMTPTimeoutError",
    "SendResult",
    "ServerSettings",
    "ThreadedSMTPServer",
]

log = logging.getLogger("rfcmail.smtp")

CHUNK_SIZE = 64 * 1024
"""Octets read from a message source, or from a socket, at a time."""

MessageSource = Union[bytes, bytearray, memoryview, BinaryIO, Iterable[bytes], AsyncIterable[bytes], Any]
"""What ``send_message`` takes: bytes, a binary file, an iterable or async
iterable of bytes, or a message object that ``bytes()`` renders
(:class:`rfcmail.message` messages, :class:`email.message.Message`)."""


# =============================================================== errors and results


class SMTPClientError(RfcmailError):
    """Base class of the errors the SMTP clients raise (besides protocol errors)."""


class SMTPResponseError(SMTPClientError):
    """The server refused a command the client cannot go on without.

    Attributes:
        reply: the server's reply.
    """

    def __init__(self, message: str, reply: Reply) -> None:
        super().__init__(f"{message}: {reply}")
        self.reply = reply


class SMTPTimeoutError(SMTPClientError, TimeoutError):
    """The server did not answer (or accept data) within the RFC 5321 section 4.5.3.2 timeout."""


class InsecureConnectionError(SMTPClientError):
    """TLS was required and is not available, or credentials would go out in plaintext.

    Raised before anything sensitive is sent (SECURITY A2.3, A6.1).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientResult:
    """What happened to one recipient.

    Attributes:
        address: the forward path given.
        reply: the server's reply to ``RCPT TO``.
        data_reply: the reply that settled the message for this recipient:
            the one end-of-data reply in SMTP, this recipient's own reply in
            LMTP (RFC 2033 section 4.2); ``None`` when the recipient was
            refused at RCPT or the data never went out.
    """

    address: str
    reply: Reply
    data_reply: Reply | None = None

    @property
    def accepted(self) -> bool:
        """The server took responsibility for this recipient (2xx to RCPT and to the data)."""
        return self.reply.is_completion and self.data_reply is not None and self.data_reply.is_completion


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """The outcome of one mail transaction.

    Attributes:
        mail_reply: the reply to ``MAIL FROM``.
        recipients: one result per recipient, in the order given.
        data_reply: the final reply to the content (SMTP), the last
            per-recipient reply (LMTP), or ``None`` when no content was sent.
    """

    mail_reply: Reply
    recipients: tuple[RecipientResult, ...]
    data_reply: Reply | None = None

    @property
    def accepted(self) -> tuple[str, ...]:
        """The recipients the server accepted the message for."""
        return tuple(r.address for r in self.recipients if r.accepted)

    @property
    def refused(self) -> tuple[RecipientResult, ...]:
        """The recipients the message was not accepted for, with the reply that said so."""
        return tuple(r for r in self.recipients if not r.accepted)

    @property
    def ok(self) -> bool:
        """Every recipient was accepted."""
        return bool(self.recipients) and all(r.accepted for r in self.recipients)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientTimeouts:
    """Client timeouts in seconds, defaults from RFC 5321 section 4.5.3.2.

    Attributes:
        connect: opening the TCP connection (and the implicit TLS handshake).
        greeting: the 220 greeting (4.5.3.2.1: 5 minutes).
        command: replies to MAIL, RCPT and other commands (4.5.3.2.2-3: 5 minutes).
        data_initiation: the 354 reply to DATA (4.5.3.2.4: 2 minutes).
        data_block: each write of message content (4.5.3.2.5: 3 minutes).
        data_termination: the reply after the content (4.5.3.2.6: 10 minutes).
    """

    connect: float = 30.0
    greeting: float = 300.0
    command: float = 300.0
    data_initiation: float = 120.0
    data_block: float = 180.0
    data_termination: float = 600.0


# ========================================================= the client, without I/O


@dataclass(slots=True)
class _Write:
    """Write ``data``; ``timeout`` bounds how long the write may block."""

    data: bytes
    timeout: float


@dataclass(slots=True)
class _Read:
    """Read some bytes (``b""`` at end of stream) within ``timeout``."""

    timeout: float


@dataclass(slots=True)
class _StartTLS:
    """Run the TLS handshake on the connection now."""

    context: ssl.SSLContext


@dataclass(slots=True)
class _NextChunk:
    """Take the next piece of the message source (``b""`` when it is exhausted)."""


_IO = Union[_Write, _Read, _StartTLS, _NextChunk]
_Op = Generator[_IO, Any, Any]

_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")


def _normalise_line_ends(data: bytes, held_cr: bool) -> tuple[bytes, bool]:
    """Turn every CR, LF and CRLF into CRLF for BDAT (RFC 3030 sends octets as they are).

    Returns the converted piece and whether a final CR is held back for the
    next piece (it may be the first half of a CRLF).
    """
    if held_cr:
        data = b"\r" + data
    held = data.endswith(b"\r")
    if held:
        data = data[:-1]
    if data.count(b"\r") != data.count(b"\n") or data.count(b"\r\n") != data.count(b"\n"):
        data = _ANY_LINE_END.sub(b"\r\n", data)
    return data, held


def _source_size(message: object) -> int | None:
    if isinstance(message, (bytes, bytearray)):
        return len(message)
    if isinstance(message, memoryview):
        return message.nbytes
    if isinstance(message, io.IOBase):
        try:
            if message.seekable():
                position = message.tell()
                end = message.seek(0, os.SEEK_END)
                message.seek(position)
                return int(end - position)
        except (OSError, ValueError):
            return None
    return None


def _render_message(message: object) -> object:
    """Message objects become bytes; bytes, streams and iterables pass through."""
    if isinstance(message, (bytes, bytearray, memoryview, io.IOBase)) or hasattr(message, "read"):
        return message
    as_bytes = getattr(message, "as_bytes", None)
    if callable(as_bytes):
        # email.message.Message: RFC 5321 line ends; the machine stuffs the dots.
        try:
            from email.policy import SMTP

            return as_bytes(policy=getattr(message, "policy", SMTP).clone(linesep="\r\n"))
        except TypeError:
            return as_bytes()
    if hasattr(message, "__bytes__"):
        return bytes(message)
    return message


def _sync_chunks(message: object) -> Iterator[bytes] | None:
    """An iterator of pieces for synchronous sources, ``None`` for async iterables."""
    if isinstance(message, (bytes, bytearray)):
        view = memoryview(message)
        return (bytes(view[i:i + CHUNK_SIZE]) for i in range(0, len(view), CHUNK_SIZE))
    if isinstance(message, memoryview):
        return (bytes(message[i:i + CHUNK_SIZE]) for i in range(0, message.nbytes, CHUNK_SIZE))
    read = getattr(message, "read", None)
    if callable(read):
        return iter(lambda: bytes(read(CHUNK_SIZE)), b"")
    if hasattr(message, "__aiter__"):
        return None
    if isinstance(message, Iterable):
        return (bytes(piece) for piece in message)
    raise TypeError(f"cannot send a {type(message).__name__} as a message")


class _ClientCore:
    """The client's conversations as generators of I/O requests (shared by both clients)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls_mode: TLSMode,
        tls_context: ssl.SSLContext | None,
        server_hostname: str | None,
        local_hostname: str | None,
        lmtp: bool,
        config: Config | None,
        timeouts: ClientTimeouts,
        allow_insecure_auth: bool,
        pipelining: bool,
        chunking: bool,
    ) -> None:
        if tls_mode is not TLSMode.NONE and tls_context is None:
            from .._tls import client_context

            tls_context = client_context()
        self.host = host
        self.port = port
        self.tls_mode = tls_mode
        self.tls_context = tls_context
        self.server_hostname = server_hostname or host
        base = config if config is not None else Config()
        if lmtp and not base.lmtp:
            base = base.clone(lmtp=True)
        self.config = base
        self.local_hostname = local_hostname or _default_local_hostname()
        Ehlo(domain=self.local_hostname)  # refuse CR/LF/NUL now, before connecting
        self.timeouts = timeouts
        self.allow_insecure_auth = allow_insecure_auth
        self.use_pipelining = pipelining
        self.use_chunking = chunking
        self.conn = Connection(CLIENT, self.config, implicit_tls=tls_mode is TLSMode.IMPLICIT)
        self.greeting: Reply | None = None
        self.hello_reply: Reply | None = None
        self.authenticated_as: str | None = None

    # -- basic moves ---------------------------------------------------------

    def _next(self, timeout: float) -> _Op:
        """The next event from the server, reading as needed."""
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                data = yield _Read(timeout)
                conn.receive_data(data)
                continue
            if event is PAUSED:
                raise LocalProtocolError("the client machine is paused (STARTTLS handshake pending)")
            if isinstance(event, ConnectionClosed):
                raise RemoteProtocolError("the server closed the connection")
            return event

    def _reply(self, timeout: float) -> _Op:
        event = yield from self._next(timeout)
        if isinstance(event, AuthChallenge):
            return event
        if not isinstance(event, Reply):
            raise RemoteProtocolError(f"expected a reply, got {type(event).__name__}")
        if event.code == 421 and self.conn.our_state is State.CLOSED:
            raise SMTPResponseError("the server is closing the connection", event)
        return event

    def _command(self, event: Event, timeout: float | None = None) -> _Op:
        yield _Write(self.conn.send(event), self.timeouts.command)
        reply = yield from self._reply(timeout if timeout is not None else self.timeouts.command)
        return reply

    # -- conversations -------------------------------------------------------

    def open(self) -> _Op:
        """Read the greeting, say EHLO, and upgrade to TLS as ``tls_mode`` says."""
        greeting = yield from self._reply(self.timeouts.greeting)
        self.greeting = greeting
        if not greeting.is_completion:
            raise SMTPResponseError("the server refused service", greeting)
        yield from self.ehlo()
        if self.tls_mode in (TLSMode.STARTTLS_REQUIRED, TLSMode.STARTTLS_OPPORTUNISTIC):
            if self.conn.extensions.starttls:
                yield from self.starttls()
            elif self.tls_mode is TLSMode.STARTTLS_REQUIRED:
                raise InsecureConnectionError(
                    f"{self.host}:{self.port} does not offer STARTTLS and TLS is required (RFC 3207)"
                )
            else:
                log.info("%s:%s offers no STARTTLS; going on in plaintext (opportunistic)", self.host, self.port)
        return greeting

    def ehlo(self, name: str | None = None) -> _Op:
        domain = name or self.local_hostname
        if self.config.lmtp:
            hello: Event = Lhlo(domain=domain)
        else:
            hello = Ehlo(domain=domain)
        reply = yield from self._command(hello)
        if not reply.is_completion and not self.config.lmtp and reply.code in (500, 502, 504, 550):
            # RFC 5321 section 3.2: fall back to HELO for an old server.
            reply = yield from self._command(Helo(domain=domain))
        if not reply.is_completion:
            raise SMTPResponseError("the server refused our hello", reply)
        self.hello_reply = reply
        return reply

    def starttls(self, context: ssl.SSLContext | None = None) -> _Op:
        context = context or self.tls_context
        if context is None:
            from .._tls import client_context

            context = client_context()
        reply = yield from self._command(StartTLS())
        if reply.code != 220:
            raise InsecureConnectionError(f"STARTTLS refused: {reply}")
        # The machine fails here if the server sent anything after its 220 (SECURITY A2.2).
        yield _StartTLS(context)
        self.conn.tls_established()
        yield from self.ehlo()

    def login(self, username: str, password: str, mechanism: str | None, authzid: str) -> _Op:
        conn = self.conn
        tls = conn.tls_active
        if not tls and not self.allow_insecure_auth:
            raise InsecureConnectionError(
                "refusing to send credentials over a connection without TLS "
                "(pass allow_insecure_auth=True to override; SECURITY A6.1)"
            )
        offered = conn.extensions.auth_mechanisms
        if mechanism is None:
            chosen = sasl.choose_mechanism(offered, tls=tls, allow_plaintext=self.allow_insecure_auth)
            if chosen is None:
                raise SMTPClientError(f"no usable SASL mechanism among those offered: {' '.join(offered) or 'none'}")
        else:
            chosen = mechanism.upper()
        client = sasl.create_client(chosen, username=username, password=password, authzid=authzid,
                                    host=self.server_hostname, port=self.port)
        initial = client.initial_response() if client.has_initial_response else None
        event = yield from self._command(Auth(mechanism=chosen, initial_response=initial))
        while isinstance(event, AuthChallenge):
            try:
                answer = client.respond(event.data)
            except sasl.SASLError:
                yield _Write(conn.send(AuthCancel()), self.timeouts.command)
                yield from self._reply(self.timeouts.command)
                raise
            event = yield from self._command(AuthResponse(data=answer))
        if not event.is_completion:
            raise SMTPResponseError(f"authentication with {chosen} failed", event)
        client.verify_success(None)
        self.authenticated_as = authzid or username
        return chosen

    def simple(self, event: Event) -> _Op:
        reply = yield from self._command(event)
        return reply

    def quit(self) -> _Op:
        reply = yield from self._command(Quit())
        return reply

    def send_message(
        self,
        message: object,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool | None,
        body: str | None,
        size: int | None,
        notify: Iterable[str] | None,
        ret: str | None,
        envid: str | None,
        orcpt: Sequence[OriginalRecipient | None] | None,
    ) -> _Op:
        conn = self.conn
        if isinstance(recipients, str):
            recipients = [recipients]
        if not recipients:
            raise LocalProtocolError("send_message needs at least one recipient")
        if orcpt is not None and len(orcpt) != len(recipients):
            raise LocalProtocolError("orcpt must have one entry per recipient")
        extensions = conn.extensions
        source = _render_message(message)
        if size is None:
            size = _source_size(source)
        if smtputf8 is None:
            smtputf8 = not sender.isascii() or any(not r.isascii() for r in recipients)
        if body is None and isinstance(source, (bytes, bytearray)) and not source.isascii() and extensions.eightbitmime:
            body = "8BITMIME"
        mail = Mail(reverse_path=sender, params=mail_params_for(
            extensions, size=size, smtputf8=smtputf8, body=body, ret=ret, envid=envid))
        rcpts = [
            Rcpt(forward_path=address, params=rcpt_params_for(
                extensions, notify=notify, orcpt=None if orcpt is None else orcpt[index]))
            for index, address in enumerate(recipients)
        ]
        chunks = _sync_chunks(source)
        binary = body is not None and body.upper() == "BINARYMIME"
        use_bdat = (self.use_chunking and extensions.chunking) or binary
        pipelining = self.use_pipelining and extensions.pipelining
        timeouts = self.timeouts

        # Envelope: one write with PIPELINING (RFC 2920 section 3.1), else one command at a time.
        rcpt_replies: list[Reply] = []
        data_reply: Reply | None = None
        if pipelining:
            batch = bytearray(conn.send(mail))
            for rcpt in rcpts:
                batch += conn.send(rcpt)
            if not use_bdat:
                batch += conn.send(Data())
            yield _Write(bytes(batch), timeouts.command)
            mail_reply = yield from self._reply(timeouts.command)
            for _ in rcpts:
                reply = yield from self._reply(timeouts.command)
                rcpt_replies.append(reply)
            if not use_bdat:
                data_reply = yield from self._reply(timeouts.data_initiation)
        else:
            mail_reply = yield from self._command(mail)
            if not mail_reply.is_completion:
                return SendResult(mail_reply=mail_reply, recipients=tuple(
                    RecipientResult(address=a, reply=mail_reply) for a in recipients))
            for rcpt in rcpts:
                reply = yield from self._command(rcpt)
                rcpt_replies.append(reply)
            if not use_bdat and any(r.is_completion for r in rcpt_replies):
                data_reply = yield from self._command(Data(), timeouts.data_initiation)

        def result(final: Reply | None, per_recipient: dict[int, Reply] | None = None) -> SendResult:
            results = []
            for index, address in enumerate(recipients):
                reply = rcpt_replies[index] if index < len(rcpt_replies) else mail_reply
                settled: Reply | None = None
                if reply.is_completion:
                    settled = per_recipient.get(index) if per_recipient is not None else final
                results.append(RecipientResult(address=address, reply=reply, data_reply=settled))
            return SendResult(mail_reply=mail_reply, recipients=tuple(results), data_reply=final)

        accepted = [i for i, r in enumerate(rcpt_replies) if r.is_completion]
        if not mail_reply.is_completion or not accepted:
            if data_reply is not None and data_reply.code == 354:
                # The server wants content although nobody will get it: end it at once.
                yield _Write(conn.send(EndOfMessage()), timeouts.data_block)
                yield from self._reply(timeouts.data_termination)
            elif conn.our_state in (State.MAIL, State.RCPT):
                yield from self._command(Rset())
            return result(None)
        if not use_bdat:
            assert data_reply is not None
            if data_reply.code != 354:
                if conn.our_state in (State.MAIL, State.RCPT):
                    yield from self._command(Rset())
                return result(data_reply)

        # Content: streamed piece by piece, never held whole.
        held_cr = False
        ends_with_lf = True
        held: bytes | None = None
        while True:
            if chunks is not None:
                piece = next(chunks, None)
            else:
                piece = yield _NextChunk()
            if piece is None:
                break
            if not piece:
                continue
            piece = bytes(piece)
            if use_bdat:
                if binary:
                    data = piece  # RFC 3030 section 3: BINARYMIME octets go as they are
                else:
                    data, held_cr = _normalise_line_ends(piece, held_cr)
                if not data:
                    continue
                ends_with_lf = data.endswith(b"\n")
                yield _Write(conn.send(Bdat(size=len(data))) + conn.send(MessageChunk(data=data)),
                             timeouts.data_block)
                if not pipelining:
                    reply = yield from self._reply(timeouts.command)
                    if not reply.is_completion:
                        return result(reply)
            else:
                # Each piece goes out when the next is known, so the last one and the
                # terminator share one write (one segment for a small message).
                if held is not None:
                    yield _Write(held, timeouts.data_block)
                held = conn.send(MessageChunk(data=piece))
        if use_bdat:
            # The last line ends with CRLF, as DATA's dot-stuffer makes it (RFC 5322 section 2.1).
            tail = b"\r\n" if not binary and (held_cr or not ends_with_lf) else b""
            last = conn.send(Bdat(size=len(tail), last=True))
            if tail:
                last += conn.send(MessageChunk(data=tail))
            conn.send(EndOfMessage())
            yield _Write(last, timeouts.data_block)
            chunk_failure: Reply | None = None
            for _ in range(sum(1 for e in conn.pending_commands if isinstance(e, Bdat))):
                reply = yield from self._reply(timeouts.command)
                if not reply.is_completion and chunk_failure is None:
                    chunk_failure = reply
            if chunk_failure is not None:
                yield from self._reply(timeouts.data_termination)
                return result(chunk_failure)
        else:
            yield _Write((held or b"") + conn.send(EndOfMessage()), timeouts.data_block)
        if self.config.lmtp:
            per_recipient: dict[int, Reply] = {}
            final = None
            for index in accepted:
                final = yield from self._reply(timeouts.data_termination)
                per_recipient[index] = final
            return result(final, per_recipient)
        final = yield from self._reply(timeouts.data_termination)
        return result(final)


def _default_local_hostname() -> str:
    name = socket.getfqdn()
    return name if re.fullmatch(r"[A-Za-z0-9.-]{1,255}", name) else "localhost"


# ====================================================== the blocking client


class _ClientFront:
    """What both clients share: their arguments, the conversation core and its facts."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        tls_mode: TLSMode = TLSMode.NONE,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        local_hostname: str | None = None,
        lmtp: bool = False,
        config: smtp.Config | None = None,
        timeouts: ClientTimeouts = ClientTimeouts(),
        allow_insecure_auth: bool = False,
        pipelining: bool = True,
        chunking: bool = True,
        source_address: tuple[str, int] | None = None,
    ) -> None:
        self._core = _ClientCore(
            host, port, tls_mode=tls_mode, tls_context=tls_context, server_hostname=server_hostname,
            local_hostname=local_hostname, lmtp=lmtp, config=config, timeouts=timeouts,
            allow_insecure_auth=allow_insecure_auth, pipelining=pipelining, chunking=chunking,
        )
        self._source_address = source_address

    # -- properties

    @property
    def tls_active(self) -> bool:
        """The connection is protected by TLS."""
        return self._core.conn.tls_active

    @property
    def greeting(self) -> Reply | None:
        """The server's 220 greeting."""
        return self._core.greeting

    @property
    def authenticated_as(self) -> str | None:
        """The identity :meth:`login` authenticated, if any."""
        return self._core.authenticated_as

    @property
    def extensions(self) -> Extensions:
        """The server's EHLO extensions; after STARTTLS, those of the new EHLO (RFC 3207 section 4.2)."""
        return self._core.conn.extensions


class SMTPClient(_ClientFront):
    """A blocking SMTP or LMTP client over a socket.

    Use it as a context manager: entering connects, reads the greeting, says
    EHLO (LHLO for LMTP) and applies ``tls_mode``; leaving says QUIT::

        with SMTPClient("mx.example", 25, tls_mode=TLSMode.STARTTLS_REQUIRED) as client:
            client.login("user", "password")
            result = client.send_message(data, "me@example.org", ["you@example.net"])

    Args:
        host: the server's name or address.
        port: the server's port (25, 587, 465 with ``TLSMode.IMPLICIT``, 24 for LMTP).
        tls_mode: ``NONE``, ``STARTTLS_OPPORTUNISTIC`` (upgrade when offered;
            an attacker on the path can strip the offer), ``STARTTLS_REQUIRED``
            (fail before any AUTH or MAIL without TLS) or ``IMPLICIT``.
        tls_context: the client context; by default system trust with
            hostname checks (:func:`rfcmail._tls.client_context`).
        server_hostname: the name to verify in the certificate (default ``host``).
        local_hostname: our EHLO name (default: the FQDN of this host).
        lmtp: speak LMTP (RFC 2033).
        config: the machine's :class:`~rfcmail.smtp.Config` (limits ...).
        timeouts: the RFC 5321 section 4.5.3.2 timeouts.
        allow_insecure_auth: allow :meth:`login` without TLS.
        pipelining: use PIPELINING when the server offers it.
        chunking: use BDAT when the server offers CHUNKING.
        source_address: a local ``(host, port)`` to bind to.

    Attributes:
        extensions: the server's EHLO extensions (:class:`rfcmail.smtp.Extensions`);
            after STARTTLS, those of the new EHLO.
        tls_active: the connection is protected by TLS.
        greeting: the server's 220 greeting.
        authenticated_as: the identity :meth:`login` authenticated, if any.
    """

    _socket: socket.socket | None = None

    # -- I/O

    def _run(self, operation: _Op) -> Any:
        sock = self._socket
        if sock is None:
            raise SMTPClientError("not connected")
        result: Any = None
        try:
            request = next(operation)
            while True:
                if isinstance(request, _Write):
                    sock.settimeout(request.timeout)
                    try:
                        sock.sendall(request.data)
                    except OSError:
                        self._core.conn.send_failed()
                        raise
                    result = None
                elif isinstance(request, _Read):
                    sock.settimeout(request.timeout)
                    result = sock.recv(CHUNK_SIZE)
                elif isinstance(request, _StartTLS):
                    sock.settimeout(self._core.timeouts.connect)
                    sock = request.context.wrap_socket(sock, server_hostname=self._core.server_hostname)
                    self._socket = sock
                    result = None
                else:
                    raise TypeError(f"{type(request).__name__} is not a blocking I/O request")
                request = operation.send(result)
        except StopIteration as stop:
            return stop.value
        except socket.timeout as exc:
            self.close()
            raise SMTPTimeoutError(f"{self._core.host}:{self._core.port} did not answer in time") from exc
        except BaseException:
            operation.close()
            raise

    def connect(self) -> Reply:
        """Connect, read the greeting, say EHLO and apply the TLS mode; return the greeting.

        Raises:
            InsecureConnectionError: ``STARTTLS_REQUIRED`` and no STARTTLS offered.
            SMTPResponseError: the server refused service or our hello.
        """
        core = self._core
        sock = socket.create_connection((core.host, core.port), timeout=core.timeouts.connect,
                                        source_address=self._source_address)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if core.tls_mode is TLSMode.IMPLICIT:
                assert core.tls_context is not None
                sock = core.tls_context.wrap_socket(sock, server_hostname=core.server_hostname)
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        try:
            greeting: Reply = self._run(core.open())
        except BaseException:
            self.close()
            raise
        return greeting

    def ehlo(self, name: str | None = None) -> Reply:
        """Say EHLO again (LHLO for LMTP); the extensions are refreshed."""
        reply: Reply = self._run(self._core.ehlo(name))
        return reply

    def starttls(self, context: ssl.SSLContext | None = None) -> None:
        """Upgrade to TLS now (RFC 3207), then say EHLO again.

        Raises:
            InsecureConnectionError: the server refused STARTTLS.
            RemoteProtocolError: the server sent data after its 220 (SECURITY A2.2).
        """
        self._run(self._core.starttls(context))

    def login(self, username: str, password: str, *, mechanism: str | None = None, authzid: str = "") -> str:
        """Authenticate with the strongest offered SASL mechanism (or ``mechanism``); return its name.

        Raises:
            InsecureConnectionError: no TLS and ``allow_insecure_auth`` is False.
            SMTPResponseError: the server refused the credentials.
            rfcmail.sasl.SASLError: the server broke the mechanism (a bad SCRAM signature).
        """
        chosen: str = self._run(self._core.login(username, password, mechanism, authzid))
        return chosen

    def send_message(
        self,
        message: MessageSource,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool | None = None,
        body: str | None = None,
        size: int | None = None,
        notify: Iterable[str] | None = None,
        ret: str | None = None,
        envid: str | None = None,
        orcpt: Sequence[OriginalRecipient | None] | None = None,
    ) -> SendResult:
        """Send one message to ``recipients``; return what happened to each.

        The message is streamed (a file is read 64 KiB at a time), line ends
        are made CRLF (and dots stuffed in DATA), except that
        ``body="BINARYMIME"`` content goes over BDAT exactly as given.
        Pipelining is used when offered, BDAT when CHUNKING is offered.

        Args:
            message: bytes, a binary file, an iterable of bytes, or a message
                object that ``bytes()`` (or ``as_bytes()``) renders.
            sender: the reverse path (``""`` for the null sender ``<>``).
            recipients: the forward paths.
            smtputf8: ask for SMTPUTF8 (default: when an address is not ASCII).
            body: ``7BIT``, ``8BITMIME`` or ``BINARYMIME`` (default: 8BITMIME
                for 8-bit bytes when offered).
            size: the size for ``SIZE=`` (default: known for bytes and files).
            notify: DSN NOTIFY values for every recipient (RFC 3461).
            ret: DSN RET (``FULL`` or ``HDRS``).
            envid: DSN ENVID.
            orcpt: DSN ORCPT per recipient.

        Raises:
            LocalProtocolError: an address or parameter would break the
                protocol (CR, LF, NUL ...); nothing was sent.
        """
        result: SendResult = self._run(self._core.send_message(
            message, sender, recipients, smtputf8=smtputf8, body=body, size=size,
            notify=notify, ret=ret, envid=envid, orcpt=orcpt))
        return result

    def noop(self) -> Reply:
        """Send NOOP."""
        from ..smtp import Noop

        reply: Reply = self._run(self._core.simple(Noop()))
        return reply

    def rset(self) -> Reply:
        """Send RSET."""
        reply: Reply = self._run(self._core.simple(Rset()))
        return reply

    def quit(self) -> Reply | None:
        """Say QUIT and close the connection (the reply, or None if the connection was gone)."""
        if self._socket is None:
            return None
        reply: Reply | None = None
        try:
            reply = self._run(self._core.quit())
        except (OSError, ProtocolError, SMTPClientError):
            pass
        finally:
            self.close()
        return reply

    def close(self) -> None:
        """Close the socket without QUIT."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> SMTPClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self.quit()
        else:
            self.close()


# ====================================================== the server, without I/O


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How a server adapter runs (the protocol itself is the machine's :class:`~rfcmail.smtp.Config`).

    Attributes:
        tls_context: the server context; with it STARTTLS is offered (or,
            with ``implicit_tls``, every connection starts with TLS).
        implicit_tls: TLS from the first byte (port 465, RFC 8314).
        credentials: where AUTH looks users up; by default the backend's
            ``sasl_credentials()`` when it is an :class:`~rfcmail.smtp.AuthBackend`.
            With credentials and no ``Config.auth_mechanisms``, the mechanisms
            :func:`rfcmail.sasl.server_mechanisms` lists are advertised, after
            TLS only unless ``Config.require_tls_for_auth`` is False.
        max_connections: connections served at once; more get ``421 4.7.0``.
        max_connections_per_ip: connections from one address at once.
        command_timeout: seconds to wait for the next command or data block
            (RFC 5321 section 4.5.3.2.7: at least 5 minutes).
        tls_handshake_timeout: seconds for a TLS handshake.
        read_size: octets the threaded server reads from a socket at a time
            (the asyncio server takes what its transport delivers).
        read_ahead: octets of received, unprocessed input the asyncio
            server holds for a connection while one of its handlers is
            suspended; past it the server stops reading from that socket
            until the handler is done (one read more may arrive first).
    """

    tls_context: ssl.SSLContext | None = None
    implicit_tls: bool = False
    credentials: sasl.CredentialStore | None = None
    max_connections: int = 1000
    max_connections_per_ip: int = 50
    command_timeout: float = 300.0
    tls_handshake_timeout: float = 60.0
    read_size: int = CHUNK_SIZE
    read_ahead: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.implicit_tls and self.tls_context is None:
            raise ValueError("ServerSettings.implicit_tls needs a tls_context")
        for name in ("max_connections", "max_connections_per_ip", "read_size", "read_ahead"):
            if getattr(self, name) < 1:
                raise ValueError(f"ServerSettings.{name} must be at least 1")
        for name in ("command_timeout", "tls_handshake_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ServerSettings.{name} must be positive")


def _server_config(config: Config, settings: ServerSettings, credentials: sasl.CredentialStore | None) -> Config:
    """The machine's Config with what the adapter can do: STARTTLS when it has a context, AUTH with credentials."""
    changes: dict[str, Any] = {}
    if settings.tls_context is not None and not settings.implicit_tls and not config.starttls:
        changes["starttls"] = True
    if settings.tls_context is None and config.starttls:
        raise ValueError("Config.starttls needs ServerSettings.tls_context")
    if credentials is not None and not config.auth_mechanisms:
        changes["auth_mechanisms"] = sasl.server_mechanisms(
            credentials, tls=True, allow_plaintext=not config.require_tls_for_auth)
    if config.auth_mechanisms and credentials is None:
        raise ValueError("Config.auth_mechanisms needs credentials (ServerSettings.credentials or an AuthBackend)")
    return config.clone(**changes) if changes else config


class _ConnectionLimiter:
    """Counts live connections, in total and per peer address (thread-safe)."""

    def __init__(self, total: int, per_ip: int) -> None:
        self.total = total
        self.per_ip = per_ip
        self._count = 0
        self._by_ip: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, ip: str) -> bool:
        with self._lock:
            if self._count >= self.total or self._by_ip.get(ip, 0) >= self.per_ip:
                return False
            self._count += 1
            self._by_ip[ip] = self._by_ip.get(ip, 0) + 1
            return True

    def release(self, ip: str) -> None:
        with self._lock:
            self._count -= 1
            left = self._by_ip.get(ip, 1) - 1
            if left:
                self._by_ip[ip] = left
            else:
                self._by_ip.pop(ip, None)

    @property
    def count(self) -> int:
        return self._count


TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections, try again later\r\n"
SHUTTING_DOWN = b"421 4.3.2 Service shutting down, closing connection\r\n"

_LOCAL_ERROR = Reply(code=451, lines=("Local error in processing",), enhanced=EnhancedStatus.parse("4.3.0"))
_AUTH_FAILED = Reply(code=535, lines=("Authentication credentials invalid",), enhanced=EnhancedStatus.parse("5.7.8"))
_AUTH_TEMPORARY = Reply(code=454, lines=("Temporary authentication failure",), enhanced=EnhancedStatus.parse("4.7.0"))
_AUTH_MALFORMED = Reply(code=501, lines=("Malformed authentication data",), enhanced=EnhancedStatus.parse("5.5.2"))
_AUTH_OK = Reply(code=235, lines=("Authentication successful",), enhanced=EnhancedStatus.parse("2.7.0"))

_Handling = Generator[object, Any, None]


class _ServerDriver:
    """One server connection's logic: events in, replies out, the Session called in between.

    ``handle(event)`` is a generator: it yields each value a session method
    returned (maybe awaitable) and is sent the result, or thrown the
    exception. Bytes to write gather in :attr:`outbox`; :attr:`closing` says
    the connection must close once they are written, :attr:`start_tls` that
    the TLS handshake must run now.
    """

    def __init__(
        self,
        backend: Backend,
        config: Config,
        credentials: sasl.CredentialStore | None,
        peer: PeerInfo,
        *,
        implicit_tls: bool,
    ) -> None:
        self.backend = backend
        self.credentials = credentials
        self.conn = Connection(SERVER, config, implicit_tls=implicit_tls)
        self.config = config
        self.context = SessionContext(peer=peer, tls=implicit_tls, lmtp=config.lmtp)
        self.session: Session | None = None
        self.outbox = bytearray()
        self.closing = False
        self.start_tls = False
        self._in_transaction = False
        self._message_failure: Reply | None = None
        self._exchange: sasl.ServerExchange | None = None

    def _reply(self, reply: Reply | AuthChallenge) -> None:
        self.outbox += self.conn.send(reply)
        if isinstance(reply, Reply) and self.conn.our_state is State.CLOSED:
            self.closing = True

    def _call(self, value: object) -> Generator[object, Any, Any]:
        """Yield a session method's result for the adapter to await; return what it gave."""
        if value is not None and inspect.isawaitable(value):
            result = yield value
            return result
        return value

    def _refusal(self, error: BaseException, what: str) -> Reply:
        if isinstance(error, SMTPReplyError):
            return error.reply
        log.error("SMTP backend failed in %s for %s", what, self.context.peer.address, exc_info=error)
        return _LOCAL_ERROR

    def _session_call(self, name: str, *args: object) -> Generator[object, Any, Reply | None]:
        """Call ``session.<name>``; return None on success or the reply for its failure."""
        session = self.session
        assert session is not None
        try:
            value = getattr(session, name)(*args, self.context)
            # Most session methods are plain and return None: no awaiting to arrange.
            if value is not None and inspect.isawaitable(value):
                yield value
        except Exception as error:  # noqa: BLE001 - every backend failure becomes a reply
            return self._refusal(error, name)
        return None

    def _reset(self) -> _Handling:
        self._message_failure = None
        if self._in_transaction and self.session is not None:
            self._in_transaction = False
            failure = yield from self._session_call("reset")
            if failure is not None:
                log.warning("session.reset failed; the transaction is dropped anyway")

    # -- the opening

    def open(self) -> _Handling:
        """Ask the backend for a session and greet (or refuse with 554)."""
        try:
            self.session = yield from self._call(self.backend.session(self.context.peer))
        except Exception as error:  # noqa: BLE001
            reply = self._refusal(error, "session")
            refused = Reply(code=554, lines=reply.lines or ("Service refused",), enhanced=None)
            self._reply(refused)
            self.closing = True
            return
        self._reply(self.conn.greeting())

    def close(self) -> _Handling:
        """The connection ended: drop any transaction and tell the session."""
        if self.session is None:
            return
        yield from self._reset()
        failure = yield from self._session_call("close")
        if failure is not None:
            log.warning("session.close failed")
        self.session = None

    # -- events

    def handle(self, event: Event) -> _Handling:
        conn = self.conn
        if isinstance(event, MessageChunk):
            if self._message_failure is None:
                failure = yield from self._session_call("data", event.data)
                if failure is not None:
                    self._message_failure = failure
            return
        if isinstance(event, Mail):
            yield from self._reset()
            failure = yield from self._session_call("mail", event)
            if failure is None:
                self._in_transaction = True
            self._reply(failure or conn.default_reply(event))
            return
        if isinstance(event, Rcpt):
            failure = yield from self._session_call("rcpt", event)
            self._reply(failure or conn.default_reply(event))
            return
        if isinstance(event, (Data, Bdat)):
            if isinstance(event, Data):
                self._reply(conn.default_reply(event))
            return
        if isinstance(event, EndOfChunk):
            if self._message_failure is None:
                self._reply(conn.default_reply(event))
                return
            # A refused chunk ends the transaction (RFC 3030 section 2).
            self._reply(self._message_failure)
            yield from self._reset()
            return
        if isinstance(event, EndOfMessage):
            yield from self._end_of_message(event)
            return
        if isinstance(event, MessageRejected):
            self._reply(event.reply_hint)
            yield from self._reset()
            return
        if isinstance(event, (Ehlo, Helo, Lhlo)):
            yield from self._reset()
            self.context = dataclasses.replace(self.context, helo=event.domain)
            self._reply(conn.default_reply(event))
            return
        if isinstance(event, Rset):
            yield from self._reset()
            self._reply(conn.default_reply(event))
            return
        if isinstance(event, BadCommand):
            self._reply(event.reply_hint)
            return
        if isinstance(event, Quit):
            yield from self._reset()
            self._reply(conn.default_reply(event))
            self.closing = True
            return
        if isinstance(event, StartTLS):
            self._reply(conn.default_reply(event))
            self.start_tls = True
            return
        if isinstance(event, Auth):
            self._start_auth(event)
            return
        if isinstance(event, AuthResponse):
            self._step_auth(event)
            return
        if isinstance(event, AuthCancel):
            if self._exchange is not None:
                self._exchange.cancel()
            self._exchange = None
            self._reply(conn.default_reply(event))
            return
        if isinstance(event, Expn) and not self.config.expn:
            self._reply(Reply.standard("not_implemented"))
            return
        if isinstance(event, DiscardedPlaintext):
            log.warning("discarded %d octets of plaintext sent after STARTTLS by %s (SECURITY A2.1)",
                        len(event.data), self.context.peer.address)
            return
        if isinstance(event, ConnectionClosed):
            self.closing = True
            return
        try:
            answer = conn.default_reply(event)  # NOOP, HELP, VRFY (252), EXPN when enabled
        except LocalProtocolError:
            answer = Reply.standard("not_implemented")
        self._reply(answer)

    def _end_of_message(self, event: EndOfMessage) -> _Handling:
        conn = self.conn
        recipients = len(conn.recipients)
        if self._message_failure is not None:
            failure = self._message_failure
            for _ in range(max(1, recipients) if self.config.lmtp else 1):
                self._reply(failure)
            yield from self._reset()
            return
        session = self.session
        assert session is not None
        self._in_transaction = False
        if self.config.lmtp and isinstance(session, LMTPSession):
            try:
                outcomes = yield from self._call(session.end_lmtp(self.context))
                outcomes = list(outcomes)
                if len(outcomes) != recipients:
                    raise ValueError(f"end_lmtp returned {len(outcomes)} results for {recipients} recipients")
            except Exception as error:  # noqa: BLE001
                refusal = self._refusal(error, "end_lmtp")
                outcomes = [SMTPReplyError(refusal.code, str(refusal.enhanced) if refusal.enhanced else None,
                                           refusal.text)] * recipients
            ok = conn.default_reply(event)
            for outcome in outcomes:
                self._reply(outcome.reply if isinstance(outcome, SMTPReplyError) else ok)
            return
        reply: Reply
        try:
            text = yield from self._call(session.end(self.context))
        except Exception as error:  # noqa: BLE001
            reply = self._refusal(error, "end")
        else:
            reply = conn.default_reply(event)
            if text:
                reply = Reply(code=reply.code, lines=(f"{reply.text}: {text}",), enhanced=reply.enhanced)
        for _ in range(max(1, recipients) if self.config.lmtp else 1):
            self._reply(reply)

    # -- AUTH (RFC 4954 section 4)

    def _start_auth(self, event: Auth) -> None:
        credentials = self.credentials
        if credentials is None:
            self._reply(Reply.standard("not_implemented"))
            return
        try:
            mechanism = sasl.create_server(event.mechanism, credentials, hostname=self.config.hostname)
        except sasl.UnknownMechanismError:
            self._reply(Reply.standard("unknown_mechanism"))
            return
        # SCRAM's server-final data goes out as a last 334 (RFC 4954 section 4).
        self._exchange = sasl.ServerExchange(mechanism)
        self._auth_step(self._exchange.start(event.initial_response))

    def _step_auth(self, event: AuthResponse) -> None:
        if self._exchange is None:
            self._reply(Reply.standard("bad_sequence"))
            return
        self._auth_step(self._exchange.step(event.data))

    def _auth_step(self, step: sasl.Step) -> None:
        if isinstance(step, sasl.Challenge):
            self._reply(AuthChallenge(data=step.data))
            return
        self._exchange = None
        if isinstance(step, sasl.Success):
            self._reply(_AUTH_OK)
            self.context = dataclasses.replace(self.context, authenticated_as=step.authzid or step.authcid)
        else:
            log.info("AUTH failed for %s: %s", self.context.peer.address, step.reason)
            self._reply(_AUTH_TEMPORARY if step.temporary else _AUTH_MALFORMED if step.malformed else _AUTH_FAILED)

    def tls_started(self, version: str | None) -> None:
        """The TLS handshake after STARTTLS finished: the session starts over (RFC 3207 section 4.2)."""
        self.conn.tls_established()
        self.start_tls = False
        self.context = dataclasses.replace(self.context, tls=True, tls_version=version, helo=None,
                                           authenticated_as=None)


def _resolve_credentials(backend: Backend, settings: ServerSettings) -> sasl.CredentialStore | None:
    if settings.credentials is not None:
        return settings.credentials
    if isinstance(backend, AuthBackend):
        store = backend.sasl_credentials()
        return store  # type: ignore[return-value]
    return None


class _ConnectionLoop:
    """Runs the coroutines a backend returns, to completion, in one connection's thread.

    One event loop per connection, made on the first coroutine and closed with
    the connection, so that what a session creates on it (locks, clients)
    stays usable from call to call.
    """

    def __init__(self) -> None:
        self._loop: Any = None

    def run(self, value: Awaitable[Any]) -> Any:
        if self._loop is None:
            import asyncio  # only a backend with coroutine methods needs it

            self._loop = asyncio.new_event_loop()

        async def wait() -> Any:
            return await value

        return self._loop.run_until_complete(wait())

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


# ====================================================== the threaded server


class ThreadedSMTPServer:
    """A blocking SMTP/LMTP server: one thread per connection, bounded.

    Args:
        backend: the application (:class:`rfcmail.smtp.Backend`); session
            methods may be plain or ``async`` (coroutines run to completion
            in the connection's thread, on one event loop per connection).
        config: the machine's configuration (hostname, limits, extensions, LMTP).
        settings: TLS, credentials, connection limits and timeouts.
        host: the address to listen on.
        port: the port (0 picks a free one; see :attr:`server_address`).

    Use ``serve_forever()`` in a thread and ``shutdown()`` from another, or
    the context manager, which does both.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        config: smtp.Config | None = None,
        settings: ServerSettings = ServerSettings(),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.credentials = _resolve_credentials(backend, settings)
        self.config = _server_config(config or Config(), settings, self.credentials)
        self._limiter = _ConnectionLimiter(settings.max_connections, settings.max_connections_per_ip)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def server_address(self) -> tuple[str, int]:
        """The address and port listened on."""
        address = self._listener.getsockname()
        return address[0], address[1]

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown`."""
        self._stopped.clear()
        try:
            while not self._stopping.is_set():
                try:
                    sock, address = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    raise
                ip = address[0]
                if not self._limiter.acquire(ip):
                    try:
                        sock.sendall(TOO_MANY_CONNECTIONS)
                    except OSError:
                        pass
                    sock.close()
                    continue
                thread = threading.Thread(target=self._serve_connection, args=(sock, address), daemon=True,
                                          name=f"smtp-{address[0]}:{address[1]}")
                with self._lock:
                    self._threads.add(thread)
                thread.start()
        finally:
            self._stopped.set()

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name="smtp-accept")
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close the listener and wait for connection threads (up to ``timeout``)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._stopped.wait(timeout)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
            sockets = list(self._sockets)
        for sock in sockets:
            # RFC 5321 section 3.8: a server going away says 421 first (in plaintext only:
            # a TLS session must not be written from two threads); shutting the socket
            # down at the system level wakes the connection's thread from its read.
            if not isinstance(sock, ssl.SSLSocket):
                try:
                    sock.sendall(SHUTTING_DOWN)
                except OSError:
                    pass
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout)

    def __enter__(self) -> ThreadedSMTPServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- one connection

    def _track(self, old: socket.socket | None, new: socket.socket | None) -> None:
        with self._lock:
            if old is not None:
                self._sockets.discard(old)
            if new is not None:
                self._sockets.add(new)

    def _serve_connection(self, sock: socket.socket, address: Any) -> None:
        settings = self.settings
        self._track(None, sock)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if settings.implicit_tls:
                assert settings.tls_context is not None
                sock.settimeout(settings.tls_handshake_timeout)
                wrapped = settings.tls_context.wrap_socket(sock, server_side=True)
                self._track(sock, wrapped)
                sock = wrapped
            peer = PeerInfo(address=tuple(address), local_address=tuple(sock.getsockname()),
                            tls=settings.implicit_tls)
            driver = _ServerDriver(self.backend, self.config, self.credentials, peer,
                                   implicit_tls=settings.implicit_tls)
            if isinstance(sock, ssl.SSLSocket):
                driver.context = dataclasses.replace(driver.context, tls_version=sock.version())
            self._converse(sock, driver)
        except (OSError, ssl.SSLError) as error:
            log.info("SMTP connection from %s ended: %s", address, error)
        finally:
            self._track(sock, None)
            try:
                sock.close()
            finally:
                self._limiter.release(address[0])
                with self._lock:
                    self._threads.discard(threading.current_thread())

    @staticmethod
    def _drive(handling: _Handling, loop: _ConnectionLoop) -> None:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                request = handling.throw(error) if error is not None else handling.send(value)
            except StopIteration:
                return
            value, error = None, None
            try:
                value = loop.run(request)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - thrown back into the driver
                error = exc

    def _converse(self, sock: socket.socket, driver: _ServerDriver) -> None:
        conn = driver.conn
        settings = self.settings
        original = sock
        loop = _ConnectionLoop()
        try:
            self._drive(driver.open(), loop)
            while True:
                if driver.outbox and (driver.closing or driver.start_tls):
                    sock.sendall(driver.outbox)
                    driver.outbox.clear()
                if driver.closing:
                    return
                try:
                    event = conn.next_event()
                except ProtocolError as error:
                    sock.sendall(bytes(driver.outbox) + _fatal_reply(driver, error))
                    driver.outbox.clear()
                    return
                if event is NEED_DATA:
                    if driver.outbox:
                        sock.sendall(driver.outbox)
                        driver.outbox.clear()
                    sock.settimeout(settings.command_timeout)
                    try:
                        data = sock.recv(settings.read_size)
                    except TimeoutError:
                        sock.sendall(b"421 4.4.2 Timeout waiting for the client, closing connection\r\n")
                        return
                    conn.receive_data(data)
                    continue
                if event is PAUSED:
                    if driver.start_tls:
                        assert settings.tls_context is not None
                        sock.settimeout(settings.tls_handshake_timeout)
                        wrapped = settings.tls_context.wrap_socket(sock, server_side=True)
                        self._track(sock, wrapped)
                        sock = wrapped
                        driver.tls_started(wrapped.version())
                        continue
                    raise RuntimeError("the server machine is waiting for a reply the driver did not send")
                assert isinstance(event, Event)
                self._drive(driver.handle(event), loop)
        finally:
            self._drive(driver.close(), loop)
            loop.close()
            if sock is not original:
                self._track(sock, None)
                sock.close()


def _fatal_reply(driver: _ServerDriver, error: ProtocolError) -> bytes:
    """The last words to a peer that broke the protocol beyond recovery (its ``reply_hint``, or a 421)."""
    log.info("closing SMTP connection from %s: %s", driver.context.peer.address, error)
    hint = error.reply_hint or "421 4.7.0 Protocol error, closing connection"
    try:
        return driver.conn.send(Reply.from_text(hint))
    except LocalProtocolError:
        return hint.encode("ascii", "replace") + b"\r\n"
