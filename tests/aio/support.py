"""Test helpers for the SMTP adapters: recording backends and a server running in a thread.

The interop tests (tests/interop/test_smtp_*.py) and the adapter tests use
them: :class:`ServerThread` runs rfcmail's asyncio server (in its own event
loop thread) or the threaded server on a free loopback port, and the
backends record every message with the session facts the backend saw.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rfcmail.aio.smtp import SMTPServer
from rfcmail.blocking.smtp import ServerSettings, ThreadedSMTPServer
from rfcmail.sasl import InMemoryCredentialStore
from rfcmail.smtp import Mail, PeerInfo, Rcpt, SessionContext, SMTPReplyError
from rfcmail.smtp import Config

MESSAGE = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: Bob <bob@example.test>\r\n"
    b"Subject: interop\r\n"
    b"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <interop@example.test>\r\n"
    b"\r\n"
    b"First line.\r\n"
    b".A line that starts with a dot (stuffed on the wire).\r\n"
    b"..Two dots.\r\n"
    b".\r\n"
    b"\r\n"
    b"Last line.\r\n"
)
"""A message in canonical form (CRLF, a final CRLF) with dot lines that test transparency."""


def dot_stuffed(content: bytes) -> bytes:
    """``content`` as DATA puts it on the wire, terminator included (RFC 5321 section 4.5.2)."""
    return re.sub(rb"(?m)^\.", b"..", content) + b".\r\n"


def unique_message(tag: str) -> tuple[bytes, bytes]:
    """A message with a unique Message-ID; returns (marker, message)."""
    marker = f"{tag}-{time.time_ns()}-{os.getpid()}".encode()
    message = (
        b"From: Bob <bob@example.test>\r\n"
        b"To: Alice <alice@example.test>\r\n"
        b"Subject: " + marker + b"\r\n"
        b"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
        b"Message-ID: <" + marker + b"@example.test>\r\n"
        b"\r\n"
        b"Hello.\r\n"
        b".dot line\r\n"
        b"Bye.\r\n"
    )
    return marker, message


def credentials() -> InMemoryCredentialStore:
    """alice / secret, bob / secret (plain passwords kept, so CRAM-MD5 works)."""
    return InMemoryCredentialStore({"alice": "secret", "bob": "secret"}, iterations=4096)


@dataclass
class Received:
    """One message a recording backend accepted, with the facts its session saw."""

    sender: str
    recipients: list[str]
    content: bytes
    peer: PeerInfo
    helo: str | None
    tls: bool
    authenticated: str | None
    smtputf8: bool
    chunks: int
    lmtp_replies: dict[str, int] = field(default_factory=dict)
    tls_version: str | None = None
    mail_params: tuple[tuple[str, str | None], ...] = ()
    rcpt_params: tuple[tuple[tuple[str, str | None], ...], ...] = ()


class RecordingSession:
    """Keeps each message in memory (tests only) and records it at the end."""

    def __init__(self, backend: RecordingBackend) -> None:
        self.backend = backend
        self.sender: Mail | None = None
        self.recipients: list[Rcpt] = []
        self.content = bytearray()
        self.chunks = 0

    def mail(self, mail: Mail, context: SessionContext) -> None:
        if self.backend.require_auth and context.authenticated_as is None:
            raise SMTPReplyError(530, "5.7.0", "Authentication required")
        self.sender = mail
        self.recipients = []
        self.content.clear()
        self.chunks = 0

    def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
        self.recipients.append(rcpt)

    def data(self, chunk: bytes, context: SessionContext) -> None:
        self.content += chunk
        self.chunks += 1

    def _record(self, context: SessionContext, lmtp_replies: dict[str, int] | None = None) -> None:
        assert self.sender is not None
        self.backend.record(Received(
            sender=self.sender.reverse_path,
            recipients=[r.forward_path for r in self.recipients],
            content=bytes(self.content),
            peer=context.peer,
            helo=context.helo,
            tls=context.tls,
            authenticated=context.authenticated_as,
            smtputf8=self.sender.smtputf8,
            chunks=self.chunks,
            lmtp_replies=lmtp_replies or {},
            tls_version=context.tls_version,
            mail_params=self.sender.params,
            rcpt_params=tuple(r.params for r in self.recipients),
        ))

    def end(self, context: SessionContext) -> str | None:
        self._record(context)
        return "queued as test"

    def end_lmtp(self, context: SessionContext) -> Sequence[SMTPReplyError | None]:
        results: list[SMTPReplyError | None] = []
        codes: dict[str, int] = {}
        for rcpt in self.recipients:
            if rcpt.forward_path in self.backend.refuse_at_data:
                results.append(SMTPReplyError(452, "4.2.2", "Mailbox full"))
                codes[rcpt.forward_path] = 452
            else:
                results.append(None)
                codes[rcpt.forward_path] = 250
        self._record(context, codes)
        return results

    def reset(self, context: SessionContext) -> None:
        self.sender = None
        self.recipients = []
        self.content.clear()

    def close(self, context: SessionContext) -> None:
        self.backend.closed_sessions += 1


class RecordingBackend:
    """Accepts everything and records each message (thread-safe)."""

    def __init__(self, *, refuse_at_data: set[str] | None = None, require_auth: bool = False,
                 session_type: Callable[[RecordingBackend], RecordingSession] | None = None) -> None:
        self.messages: list[Received] = []
        # What session() makes: a test's own RecordingSession subclass.
        self.session_type = session_type or RecordingSession
        self.refuse_at_data = refuse_at_data or set()
        self.require_auth = require_auth
        self.closed_sessions = 0
        self._condition = threading.Condition()

    def session(self, peer: PeerInfo) -> RecordingSession:
        return self.session_type(self)

    def record(self, message: Received) -> None:
        with self._condition:
            self.messages.append(message)
            self._condition.notify_all()

    def only_message(self) -> Received:
        assert len(self.messages) == 1, f"expected one message, got {len(self.messages)}"
        return self.messages[0]

    def wait_for(self, predicate: Callable[[Received], bool], *, timeout: float,
                 describe: Callable[[], str] = lambda: "") -> Received:
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message within {timeout} s "
                                         f"({len(self.messages)} received)\n{describe()}")
                self._condition.wait(left)


class RelayPolicyBackend(RecordingBackend):
    """Refuses relaying (recipients outside ``local_domains``) unless the client authenticated.

    Each RCPT decision is kept in :attr:`decisions` as (recipient, peer IP,
    TLS, authenticated identity, HELO name).
    """

    def __init__(self, local_domains: set[str]) -> None:
        super().__init__()
        self.local_domains = local_domains
        self.decisions: list[tuple[str, str | None, bool, str | None, str | None]] = []

    def session(self, peer: PeerInfo) -> RecordingSession:
        backend = self

        class PolicySession(RecordingSession):
            def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
                address = context.peer.address[0] if context.peer.address else None
                backend.decisions.append((rcpt.forward_path, address, context.tls,
                                          context.authenticated_as, context.helo))
                domain = rcpt.forward_path.rpartition("@")[2].lower()
                if domain not in backend.local_domains and context.authenticated_as is None:
                    raise SMTPReplyError(554, "5.7.1", f"Relay access denied for {domain}")
                super().rcpt(rcpt, context)

        return PolicySession(self)


class CrashingBackend(RecordingBackend):
    """A backend whose ``crash_on`` method raises a plain exception for recipients starting with 'boom'."""

    def __init__(self, crash_on: str) -> None:
        super().__init__()
        self.crash_on = crash_on

    def session(self, peer: PeerInfo) -> RecordingSession:
        backend = self

        class CrashingSession(RecordingSession):
            async def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:  # type: ignore[override]
                await asyncio.sleep(0)
                if backend.crash_on == "rcpt" and rcpt.forward_path.startswith("boom"):
                    raise RuntimeError("backend bug")
                super().rcpt(rcpt, context)

        return CrashingSession(self)


@dataclass(frozen=True)
class TLSFiles:
    """A certificate chain and key for a server context."""

    chain: Path
    key: Path


def server_context(tls: Any) -> ssl.SSLContext:
    """A server context from anything with ``chain`` and ``key`` paths."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.chain), str(tls.key))
    return context


class ServerThread:
    """rfcmail's asyncio server in its own loop thread (or the threaded server), on loopback.

    Args:
        backend: the backend.
        config: the machine's Config.
        tls: certificate files (``chain``, ``key``); STARTTLS is offered, or
            implicit TLS with ``implicit_tls``.
        credentials: a credential store for AUTH.
        blocking: run :class:`ThreadedSMTPServer` instead of the asyncio server.
        port: the port (0: a free one).
        settings: more ServerSettings fields.
    """

    def __init__(self, backend: Any, *, config: Config | None = None, tls: Any = None,
                 implicit_tls: bool = False, credentials: Any = None, blocking: bool = False,
                 port: int = 0, host: str = "127.0.0.1", **settings: Any) -> None:
        context = server_context(tls) if tls is not None else None
        self.settings = ServerSettings(tls_context=context, implicit_tls=implicit_tls,
                                       credentials=credentials, **settings)
        self.backend = backend
        self.config = config
        self.blocking = blocking
        self.host = host
        self.requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._threaded: ThreadedSMTPServer | None = None
        self.server: SMTPServer | None = None

    def __enter__(self) -> ServerThread:
        if self.blocking:
            self._threaded = ThreadedSMTPServer(self.backend, config=self.config, settings=self.settings,
                                                host=self.host, port=self.requested_port)
            self._threaded.start()
            self.port = self._threaded.server_address[1]
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self.server = SMTPServer(self.backend, config=self.config, settings=self.settings)
                loop.run_until_complete(self.server.listen(self.host, self.requested_port))
                self.port = self.server.port
            except BaseException as error:  # reported to the test thread
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                self.server.close()
                loop.run_until_complete(self.server.wait_closed())
                loop.run_until_complete(asyncio.sleep(0.05))
                loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="smtp-test-server")
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` in the server's loop thread and return its result."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._wrap(function), self._loop)
        return future.result(10)

    @staticmethod
    async def _wrap(function: Callable[[], Any]) -> Any:
        return function()

    def __exit__(self, *exc_info: object) -> None:
        if self._threaded is not None:
            self._threaded.shutdown()
            return
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
