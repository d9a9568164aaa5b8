"""Blocking POP3 client and server over sockets and threads.

:class:`POP3Client` drives the sans-IO client procedures of
:mod:`rfcmail.pop3` over a socket: implicit TLS (port 995, RFC 8314), STLS
(RFC 2595 section 4) required or opportunistic, or none; login with the best
mechanism offered; STAT, LIST, UIDL, RETR (as bytes, a stream of chunks or a
parsed message), TOP, DELE, RSET, NOOP and QUIT; pipelined retrieval when the
server advertises PIPELINING (RFC 2449 section 6.6).

:class:`POP3Server` serves a :class:`~rfcmail.pop3.MaildropStore` (a
:class:`~rfcmail.store.MaildirStore` for instance) with one thread per
connection, implicit TLS or STLS, USER/PASS, APOP, and SASL AUTH through
:mod:`rfcmail.sasl`. The protocol decisions are all in
:class:`rfcmail.pop3.ServerSession`; this module only moves bytes.
"""

from __future__ import annotations

import builtins
import logging
import os
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from .. import pop3
from .._tls import TLSMode, client_context
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ..pop3._client import (
    NEXT,
    TLS,
    InsecureAuthError,
    Procedure,
    capabilities,
    command,
    greeting,
    listing,
    login,
    parse_scan,
    retrieve,
    retrieve_many,
    starttls,
)

__all__ = ["InsecureAuthError", "POP3Client", "POP3Server"]

_log = logging.getLogger("rfcmail.blocking.pop3")
_RECV_SIZE = 256 * 1024
_FLUSH_AT = 256 * 1024

T = TypeVar("T")


class POP3Client:
    """A blocking POP3 client. Make one with :meth:`connect`.

    Attributes:
        conn: the sans-IO :class:`~rfcmail.pop3.Connection`.
        capabilities: what the last CAPA listed (after STLS, what it listed
            under TLS), upper-case names to arguments.
        greeting: the server's greeting.
    """

    def __init__(self, sock: socket.socket, conn: pop3.Connection, *, host: str,
                 context: ssl.SSLContext | None) -> None:
        self.sock = sock
        self.conn = conn
        self.host = host
        self._context = context
        self.capabilities: dict[str, tuple[str, ...]] = {}
        self.greeting: pop3.Greeting | None = None

    @classmethod
    def connect(cls, host: str, port: int | None = None, *, tls: TLSMode = TLSMode.STARTTLS_REQUIRED,
                ssl_context: ssl.SSLContext | None = None, timeout: float | None = 60.0,
                config: pop3.Config | None = None, server_hostname: str | None = None) -> POP3Client:
        """Connect, read the greeting, read CAPA and start TLS as ``tls`` says.

        Args:
            host: the server's name or address.
            port: the port; 995 for implicit TLS, 110 otherwise, by default.
            tls: :class:`~rfcmail._tls.TLSMode`. ``STARTTLS_REQUIRED`` (the
                default) fails before any credential when STLS is not
                offered or fails (SECURITY.md A2.3).
            ssl_context: the client context; :func:`rfcmail._tls.client_context`
                (system trust, hostname checks) by default.
            timeout: socket timeout in seconds.
            config: the machine's config (only its limits are used).
            server_hostname: the name to verify in the certificate (``host``).

        Raises:
            ResponseError: the greeting was ``-ERR``, or STLS was refused
                while required.
            InsecureAuthError: STLS is required and not offered.
            OSError, ssl.SSLError: network or TLS failures.
        """
        if port is None:
            port = 995 if tls is TLSMode.IMPLICIT else 110
        context = ssl_context
        if context is None and tls is not TLSMode.NONE:
            context = client_context()
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        name = server_hostname or host
        try:
            if tls is TLSMode.IMPLICIT:
                assert context is not None
                sock = context.wrap_socket(sock, server_hostname=name)
            conn = pop3.Connection(pop3.CLIENT, config, tls_active=tls is TLSMode.IMPLICIT)
            client = cls(sock, conn, host=name, context=context)
            client.greeting = client._run(greeting(conn))
            client.capabilities = client._run(capabilities(conn))
            if tls in (TLSMode.STARTTLS_REQUIRED, TLSMode.STARTTLS_OPPORTUNISTIC):
                if "STLS" in client.capabilities:
                    client.capabilities = client._run(starttls(conn))
                elif tls is TLSMode.STARTTLS_REQUIRED:
                    raise InsecureAuthError("the server does not offer STLS and TLS is required")
        except BaseException:
            sock.close()
            raise
        return client

    # -- plumbing ------------------------------------------------------------------

    def _next_event(self) -> pop3.Event:
        while True:
            event = self.conn.next_event()
            if event is pop3.NEED_DATA:
                self.conn.receive_data(self.sock.recv(_RECV_SIZE))
                continue
            if event is pop3.PAUSED:
                raise LocalProtocolError("the client machine is paused (STLS in progress)")
            assert isinstance(event, pop3.Event)
            return event

    def _start_tls(self) -> None:
        # A2.2: the machine has already refused bytes that arrived with the +OK.
        event = self.conn.next_event()
        if event is not pop3.PAUSED:
            raise RemoteProtocolError("unexpected state before the TLS handshake")
        context = self._context or client_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.conn.tls_established()

    def _run(self, procedure: Procedure[T]) -> T:
        reply: pop3.Event | None = None
        try:
            while True:
                request = procedure.send(reply)
                reply = None
                if isinstance(request, bytes):
                    self.sock.sendall(request)
                elif request is NEXT:
                    reply = self._next_event()
                elif request is TLS:
                    self._start_tls()
        except StopIteration as stop:
            result: T = stop.value
            return result

    # -- commands --------------------------------------------------------------------

    def login(self, user: str, password: str, *, allow_insecure_auth: bool = False,
              mechanism: str | None = None) -> str:
        """Authenticate with the best method offered; return the method (``"SCRAM-SHA-256"``, ``"USER"``...).

        Raises:
            InsecureAuthError: only plaintext methods are available without
                TLS and ``allow_insecure_auth`` is False (nothing was sent).
            ResponseError: the server refused (``response.code`` may be
                ``"AUTH"``, ``"IN-USE"``, ``"SYS/TEMP"``...).
        """
        return self._run(login(self.conn, user, password, caps=self.capabilities,
                               allow_insecure_auth=allow_insecure_auth, mechanism=mechanism))

    def stat(self) -> tuple[int, int]:
        """STAT: (message count, total octets)."""
        return parse_scan(self._run(command(self.conn, pop3.Stat())).text, "STAT")

    def list(self) -> dict[int, int]:
        """LIST: message number -> size in octets."""
        entries = self._run(listing(self.conn, pop3.List()))
        return {entry.message_number: entry.size for entry in entries if isinstance(entry, pop3.ScanListing)}

    def size(self, message_number: int) -> int:
        """LIST n: the size of one message."""
        return parse_scan(self._run(command(self.conn, pop3.List(message_number=message_number))).text,
                          "LIST")[1]

    def uidl(self) -> dict[int, str]:
        """UIDL: message number -> unique id."""
        entries = self._run(listing(self.conn, pop3.Uidl()))
        return {entry.message_number: entry.unique_id for entry in entries
                if isinstance(entry, pop3.UniqueIdListing)}

    def retrieve(self, message_number: int) -> bytes:
        """RETR: the message, unstuffed, with CRLF line endings."""
        return self._run(retrieve(self.conn, pop3.Retr(message_number=message_number)))

    def retrieve_many(self, message_numbers: Sequence[int], *, window: int = 128,
                      sink: Callable[[int, bytes], None] | None = None) -> builtins.list[bytes]:
        """RETR several messages, pipelined (``window`` deep) when the server advertises PIPELINING.

        Returns the messages in order; with ``sink``, calls ``sink(number, data)``
        for each as it arrives instead and returns ``[]``.
        """
        return self._run(retrieve_many(self.conn, message_numbers, window=window, sink=sink,
                                       pipelining="PIPELINING" in self.capabilities))

    def retrieve_stream(self, message_number: int) -> Iterator[bytes]:
        """RETR as an iterator of chunks; consume it fully before the next command."""
        self.sock.sendall(self.conn.send(pop3.Retr(message_number=message_number)))
        response = self._next_event()
        if not isinstance(response, pop3.Response):
            raise RemoteProtocolError(f"expected a response to RETR, got {type(response).__name__}")
        if not response.ok:
            raise pop3.ResponseError(response, "RETR")
        return self._stream()

    def _stream(self) -> Iterator[bytes]:
        while True:
            event = self._next_event()
            if isinstance(event, pop3.EndOfMultiline):
                return
            if isinstance(event, pop3.MessageChunk):
                yield bytes(event.data)

    def retrieve_message(self, message_number: int) -> Any:
        """RETR parsed with :func:`rfcmail.message.parse`."""
        from ..message import parse
        return parse(self.retrieve(message_number))

    def top(self, message_number: int, lines: int) -> bytes:
        """TOP: the header and the first ``lines`` body lines."""
        return self._run(retrieve(self.conn, pop3.Top(message_number=message_number, lines=lines)))

    def delete(self, message_number: int) -> None:
        """DELE: mark a message deleted; it goes at QUIT (RFC 1939 section 6)."""
        self._run(command(self.conn, pop3.Dele(message_number=message_number)))

    def reset(self) -> None:
        """RSET: unmark every deleted message."""
        self._run(command(self.conn, pop3.Rset()))

    def noop(self) -> None:
        """NOOP."""
        self._run(command(self.conn, pop3.Noop()))

    def quit(self) -> None:
        """QUIT: commit deletions (UPDATE) and close."""
        try:
            self._run(command(self.conn, pop3.Quit()))
        finally:
            self.close()

    def close(self) -> None:
        """Close the socket without QUIT: the server deletes nothing."""
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass

    def __enter__(self) -> POP3Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None and self.conn.state not in (pop3.State.CLOSED, pop3.State.ERROR):
            self.quit()
        else:
            self.close()


def _make_server_parts(users: Any, *, sasl_allowed: bool = True
                      ) -> tuple[pop3.Authenticator, Any, tuple[str, ...]]:
    """The authenticator, the SASL factory and the mechanism names for a users argument.

    ``users`` is a ``{user: password}`` mapping, an
    :class:`rfcmail.sasl.CredentialStore` (``get_password``/``get_scram``),
    or an :class:`~rfcmail.pop3.Authenticator` (USER/PASS only).
    """
    try:
        import importlib
        sasl: Any = importlib.import_module("rfcmail.sasl")
    except ImportError:  # pragma: no cover
        sasl = None
    if isinstance(users, Mapping):
        authenticator: pop3.Authenticator = pop3.PasswordMap(users)
        credentials = sasl.InMemoryCredentialStore(users) if sasl is not None else None
    elif hasattr(users, "get_scram"):
        credentials = users
        authenticator = _CredentialAuthenticator(users, sasl)
    else:
        authenticator = users
        credentials = None
    if credentials is None or sasl is None or not sasl_allowed:
        return authenticator, None, ()
    names = tuple(sasl.server_mechanisms(credentials, tls=True))

    def factory(name: str) -> Any:
        return sasl.create_server(name, credentials)

    return authenticator, factory, names


class _CredentialAuthenticator:
    """USER/PASS and APOP over an rfcmail.sasl CredentialStore."""

    def __init__(self, credentials: Any, sasl: Any) -> None:
        self._credentials = credentials
        self._sasl = sasl

    def check_password(self, user: str, password: str) -> bool:
        return isinstance(self._sasl.check_credentials(self._credentials, user, password, mechanism="USER"),
                          self._sasl.Success)

    def shared_secret(self, user: str) -> str | None:
        secret: str | None = self._credentials.get_password(user)
        return secret


def _apop_timestamp(hostname: str) -> str:
    """A fresh APOP timestamp ``<pid.random.time@host>`` (RFC 1939 section 7: unique per greeting)."""
    return f"<{os.getpid()}.{secrets.token_hex(8)}.{int(time.time())}@{hostname}>"


class _ServerSettings:
    """What the blocking and asyncio servers share: users, config, TLS, and a session per connection."""

    def __init__(self, store: pop3.MaildropStore, users: Any, *, config: pop3.Config | None,
                 ssl_context: ssl.SSLContext | None, implicit_tls: bool, idle_timeout: float) -> None:
        authenticator, sasl_factory, mechanisms = _make_server_parts(users)
        config = config or pop3.Config()
        if ssl_context is None and (config.stls or implicit_tls):
            raise ValueError("STLS and implicit TLS need an ssl_context")
        if ssl_context is not None and not implicit_tls and not config.stls:
            config = config.clone(stls=True)
        if not config.sasl_mechanisms and mechanisms:
            config = config.clone(sasl_mechanisms=mechanisms)
        self.store = store
        self.authenticator = authenticator
        self.sasl_factory = sasl_factory
        self.config = config
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.idle_timeout = idle_timeout

    def _new_session(self) -> tuple[pop3.Connection, pop3.ServerSession]:
        conn = pop3.Connection(pop3.SERVER, self.config, tls_active=self.implicit_tls)
        session = pop3.ServerSession(conn, self.store, self.authenticator, sasl=self.sasl_factory,
                                     apop_timestamp=_apop_timestamp(self.config.hostname))
        return conn, session


class POP3Server(_ServerSettings):
    """A threaded POP3 server over a maildrop store.

    Args:
        store: the :class:`~rfcmail.pop3.MaildropStore` (``MaildirStore``,
            ``MemoryStore``).
        users: ``{user: password}``, an :class:`rfcmail.sasl.CredentialStore`
            or an :class:`~rfcmail.pop3.Authenticator`.
        host: the address to listen on.
        port: the port (0 picks a free one; see :attr:`port`).
        config: the machine's :class:`~rfcmail.pop3.Config`; ``stls`` and
            ``sasl_mechanisms`` are filled in from ``ssl_context`` and
            ``users`` when left at their defaults.
        ssl_context: a server context (:func:`rfcmail._tls.server_context`),
            needed for STLS and implicit TLS.
        implicit_tls: TLS from the first byte (port 995 style, RFC 8314).
        idle_timeout: seconds of client silence before the server hangs up
            (RFC 1939 section 3: at least 10 minutes).
    """

    def __init__(self, store: pop3.MaildropStore, users: Any, *, host: str = "127.0.0.1", port: int = 0,
                 config: pop3.Config | None = None, ssl_context: ssl.SSLContext | None = None,
                 implicit_tls: bool = False, idle_timeout: float = 600.0) -> None:
        super().__init__(store, users, config=config, ssl_context=ssl_context, implicit_tls=implicit_tls,
                         idle_timeout=idle_timeout)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def start(self) -> POP3Server:
        """Accept connections in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name=f"pop3-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop`, one thread each."""
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                break
            threading.Thread(target=self._serve_connection, args=(sock,), daemon=True).start()

    def stop(self) -> None:
        """Stop accepting and close every open connection (their sessions commit nothing)."""
        self._stopping = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for sock in list(self._connections):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> POP3Server:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _serve_connection(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)
        session: pop3.ServerSession | None = None
        try:
            # The idle timeout is the kernel's (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking
            # socket: a Python-level timeout would add a poll() before every call.
            sock.settimeout(None)
            interval = struct.pack("ll", int(self.idle_timeout), int(self.idle_timeout % 1 * 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.implicit_tls:
                assert self.ssl_context is not None
                sock = self.ssl_context.wrap_socket(sock, server_side=True)
            conn, session = self._new_session()
            channel = _Channel(sock, self.ssl_context)
            if not channel.perform(session.greeting(), conn):
                return
            while True:
                try:
                    event = conn.next_event()
                except ProtocolError as error:
                    if not channel.perform(session.handle_error(error), conn):
                        return
                    continue
                if event is pop3.NEED_DATA:
                    channel.flush()
                    data = channel.sock.recv(_RECV_SIZE)
                    conn.receive_data(data)
                    continue
                if event is pop3.PAUSED:  # pragma: no cover - the session always answers
                    return
                assert isinstance(event, pop3.Event)
                if not channel.perform(session.handle(event), conn):
                    return
        except (OSError, ssl.SSLError) as error:
            _log.debug("POP3 connection ended: %s", error)
        except Exception:  # pragma: no cover - a backend bug must not kill the server
            _log.exception("POP3 session failed")
        finally:
            if session is not None:
                session.connection_lost()
            with self._lock:
                self._connections.discard(sock)
            try:
                sock.close()
            except OSError:  # pragma: no cover
                pass


class _Channel:
    """Carries out a ServerSession's actions on a socket, coalescing small writes."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext | None) -> None:
        self.sock = sock
        self.context = context
        self._pending: list[bytes] = []
        self._pending_size = 0

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self.sock.sendall(data)

    def perform(self, actions: Iterable[pop3.Action], conn: pop3.Connection) -> bool:
        """Run the actions; False when the connection must end."""
        for action in actions:
            if isinstance(action, bytes):
                self._pending.append(action)
                self._pending_size += len(action)
                if self._pending_size >= _FLUSH_AT:
                    self.flush()
            elif isinstance(action, pop3.Delay):
                self.flush()
                time.sleep(action.seconds)
            elif action is pop3.START_TLS:
                self.flush()
                assert self.context is not None
                self.sock = self.context.wrap_socket(self.sock, server_side=True)
                conn.tls_established()
                if conn.discarded_after_tls:
                    _log.warning("discarded %d plaintext bytes sent after STLS (injection attempt?)",
                                 conn.discarded_after_tls)
            elif action is pop3.CLOSE:
                self.flush()
                return False
        return True
