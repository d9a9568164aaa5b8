"""asyncio SMTP and LMTP: a server with a Backend/Session, and a client.

Both drive the sans-IO machine :class:`rfcmail.smtp.Connection`. RFC 5321
(timeouts of section 4.5.3.2), RFC 3207 (STARTTLS, with asyncio's
``start_tls``), RFC 8314 (implicit TLS), RFC 4954 (AUTH through
:mod:`rfcmail.sasl`), RFC 2920 (PIPELINING: replies are written in one batch
per read), RFC 3030 (CHUNKING) and RFC 2033 (LMTP).

The server is an :class:`asyncio.Protocol` rather than a stream reader: the
machine is fed straight from ``data_received`` and a session method that
finishes without suspending (the common case for an in-memory or discarding
backend) runs without a task. When one does suspend, reading pauses until
it has finished, so replies keep their order and memory stays bounded.

The conversation logic (what to call on the session, how AUTH proceeds,
which reply goes out) is shared with the blocking adapters in
:mod:`rfcmail.blocking.smtp`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator, Iterable, Sequence
from typing import Any

from .._tls import TLSMode
from ..blocking.smtp import (
    SHUTTING_DOWN,
    TOO_MANY_CONNECTIONS,
    ClientTimeouts,
    InsecureConnectionError,
    MessageSource,
    RecipientResult,
    SendResult,
    ServerSettings,
    SMTPClientError,
    SMTPResponseError,
    SMTPTimeoutError,
    _ClientFront,
    _ConnectionLimiter,
    _fatal_reply,
    _Handling,
    _NextChunk,
    _Op,
    _Read,
    _render_message,
    _resolve_credentials,
    _server_config,
    _ServerDriver,
    _StartTLS,
    _Write,
)
from .. import smtp
from ..errors import ProtocolError, RemoteProtocolError
from ..smtp import NEED_DATA, PAUSED, Config, Event, Noop, OriginalRecipient, PeerInfo, Reply, Rset

__all__ = [
    "ClientTimeouts",
    "InsecureConnectionError",
    "RecipientResult",
    "SMTPClient",
    "SMTPClientError",
    "SMTPResponseError",
    "SMTPServer",
    "SMTPTimeoutError",
    "SendResult",
    "ServerSettings",
]

log = logging.getLogger("rfcmail.smtp")

#: The most one read from a connection returns (asyncio's own default).
_READ_SIZE = 256 * 1024


class _Resume:
    """Await the rest of a coroutine that has already been stepped once and suspended on ``first``."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: object) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        pending = self.first
        while True:
            try:
                sent = yield pending
            except BaseException as error:  # forwarded into the coroutine, as ``await`` would
                try:
                    pending = coro.throw(error)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class _ServerProtocol(asyncio.BufferedProtocol):
    """One server connection: bytes to the machine, events to the driver, replies back in batches.

    It reads into one buffer that all connections of the server share, and
    copies out what a read brought. With a plain :class:`asyncio.Protocol`
    every read would allocate a fresh 256 KiB object and shrink it to the
    few octets of a command; glibc serves such allocations with ``mmap``, so
    each command could cost an ``mmap``, an ``mremap`` and a ``munmap`` plus
    page faults, depending on the allocator's state. Sharing is safe because
    asyncio calls :meth:`buffer_updated` right after filling the buffer, on
    the loop's thread, before any other read.
    """

    def __init__(self, server: SMTPServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.driver: _ServerDriver | None = None
        self.ip = ""
        self.counted = False
        self.busy = False
        self.closed = False
        self.last_activity = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.writing_paused = False
        # Reading stops only when a handler runs and the unprocessed input
        # passes settings.read_ahead (or the peer does not read its replies): most
        # clients wait for the reply, so pausing for every handler would
        # cost two epoll_ctl calls per command for nothing.
        self.reading_paused = False
        # Decrypted bytes that arrive while start_tls() has not returned yet.
        self.tls_handshaking = False
        self.early_tls_data = bytearray()

    # -- asyncio callbacks

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.server._read_view[:nbytes]))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        server = self.server
        settings = server.settings
        peername = transport.get_extra_info("peername")
        self.ip = str(peername[0]) if peername else ""
        if not server._limiter.acquire(self.ip):
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        self.counted = True
        server._protocols.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        peer = PeerInfo(address=tuple(peername) if peername else None,
                        local_address=tuple(transport.get_extra_info("sockname") or ()) or None,
                        tls=settings.implicit_tls)
        self.driver = _ServerDriver(server.backend, server.config, server.credentials, peer,
                                    implicit_tls=settings.implicit_tls)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.driver.context = dataclasses.replace(self.driver.context, tls_version=ssl_object.version())
        self.last_activity = self.loop.time()
        self.timer = self.loop.call_later(settings.command_timeout, self._check_idle)
        self._run(self.driver.open())
        self._pump()

    def data_received(self, data: bytes) -> None:
        driver = self.driver
        if driver is None or self.closed:
            return
        self.last_activity = self.loop.time()
        if self.tls_handshaking:
            self.early_tls_data += data
            return
        driver.conn.receive_data(data)
        if not self.busy:
            self._pump()
        elif driver.conn.buffered > self.server.settings.read_ahead and not self.reading_paused:
            self._pause_reading()

    def eof_received(self) -> bool:
        driver = self.driver
        if driver is not None and not self.closed:
            driver.conn.receive_data(b"")
            if not self.busy:
                self._pump()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.counted:
            self.counted = False
            self.server._limiter.release(self.ip)
            self.server._protocols.discard(self)
        self.closed = True
        driver = self.driver
        if driver is not None and driver.session is not None and not self.busy:
            # A handler still running (busy) tells the session itself when it is done.
            self._run(driver.close(), resume=False)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if not self.busy:
            self._resume_reading()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and self.reading_paused and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    # -- the work

    def _flush(self) -> None:
        driver = self.driver
        assert driver is not None and self.transport is not None
        if driver.outbox:
            self.transport.write(bytes(driver.outbox))
            driver.outbox.clear()

    def _close(self) -> None:
        self._flush()
        self.closed = True
        assert self.transport is not None
        self.transport.close()

    def _pump(self) -> None:
        """Take events from the machine and handle them until it needs data or a handler suspends."""
        driver = self.driver
        assert driver is not None
        conn = driver.conn
        while not self.busy and not self.closed:
            if driver.closing:
                self._close()
                return
            try:
                event = conn.next_event()
            except ProtocolError as error:
                driver.outbox += _fatal_reply(driver, error)
                self._close()
                return
            if event is NEED_DATA:
                self._flush()
                return
            if event is PAUSED:
                if driver.start_tls:
                    self._flush()
                    assert self.transport is not None
                    self._pause_reading()
                    self.busy = True
                    self.tls_handshaking = True
                    self.loop.create_task(self._start_tls())
                    return
                raise RuntimeError("the server machine waits for a reply the driver did not send")
            assert isinstance(event, Event)
            self._run(driver.handle(event))

    def _run(self, handling: _Handling, *, resume: bool = True) -> None:
        """Step a driver generator; session calls that finish at once need no task."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                request = handling.throw(error) if error is not None else handling.send(value)
            except StopIteration:
                return
            value, error = None, None
            if inspect.iscoroutine(request):
                try:
                    first = request.send(None)
                except StopIteration as stop:
                    value = stop.value
                    continue
                except Exception as exc:  # noqa: BLE001 - thrown back into the driver
                    error = exc
                    continue
                awaitable: Awaitable[Any] = _Resume(request, first)
            else:
                awaitable = request  # type: ignore[assignment]
            self.busy = True
            self.loop.create_task(self._finish(handling, awaitable, resume))
            return

    async def _finish(self, handling: _Handling, awaitable: Awaitable[Any], resume: bool) -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = await awaitable
        except Exception as exc:  # noqa: BLE001
            error = exc
        while True:
            try:
                request = handling.throw(error) if error is not None else handling.send(value)
            except StopIteration:
                break
            except Exception:  # a bug in the driver: drop the connection, keep the server
                log.exception("SMTP server connection failed")
                if self.transport is not None:
                    self.transport.abort()
                return
            value, error = None, None
            try:
                value = await request  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001
                error = exc
        self.busy = False
        if not resume:
            return
        if self.closed:
            driver = self.driver
            if driver is not None and driver.session is not None:
                self._run(driver.close(), resume=False)
            return
        if not self.writing_paused:
            self._resume_reading()
        self._pump()

    async def _start_tls(self) -> None:
        driver = self.driver
        settings = self.server.settings
        assert driver is not None and self.transport is not None and settings.tls_context is not None
        try:
            transport = await asyncio.wait_for(
                self.loop.start_tls(self.transport, self, settings.tls_context, server_side=True),
                settings.tls_handshake_timeout,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as error:
            log.info("STARTTLS handshake with %s failed: %s", driver.context.peer.address, error)
            self._handshake_failed(error)
            return
        if transport is None:
            self._handshake_failed(None)
            return
        self.transport = transport
        self.reading_paused = False  # a new transport, reading
        ssl_object = transport.get_extra_info("ssl_object")
        driver.tls_started(ssl_object.version() if ssl_object is not None else None)
        self.tls_handshaking = False
        if self.early_tls_data:
            driver.conn.receive_data(bytes(self.early_tls_data))
            self.early_tls_data.clear()
        self.busy = False
        self.last_activity = self.loop.time()
        self._pump()

    def _handshake_failed(self, error: BaseException | None) -> None:
        # asyncio never reports connection_lost to a protocol whose TLS handshake
        # did not finish: release the connection slot and close the session here.
        self.busy = False
        self.tls_handshaking = False
        if self.transport is not None:
            self.transport.abort()
        self.connection_lost(error if isinstance(error, Exception) else None)

    def shut_down(self) -> None:
        """The server is going away: say 421 unless the connection is closing anyway, then close."""
        if self.transport is None or self.transport.is_closing():
            return
        if not self.closed and not self.tls_handshaking:
            self.transport.write(SHUTTING_DOWN)
        self.closed = True
        self.transport.close()

    def _check_idle(self) -> None:
        """RFC 5321 section 4.5.3.2.7: give up on a client that sends nothing for too long."""
        if self.closed or self.transport is None:
            return
        timeout = self.server.settings.command_timeout
        idle = self.loop.time() - self.last_activity
        if self.busy or idle < timeout:
            self.timer = self.loop.call_later(max(timeout - idle, 0.05) if not self.busy else timeout,
                                              self._check_idle)
            return
        log.info("SMTP client %s idle for %.0f s, closing", self.ip, idle)
        self.transport.write(b"421 4.4.2 Timeout waiting for the client, closing connection\r\n")
        self.closed = True
        self.transport.close()


class SMTPServer:
    """An asyncio SMTP/LMTP server over a :class:`rfcmail.smtp.Backend`.

    Args:
        backend: asked for one :class:`~rfcmail.smtp.Session` per connection;
            session methods may be plain or ``async``. A session refuses with
            :class:`~rfcmail.smtp.SMTPReplyError` (sent as it is); any other
            exception is logged and answered ``451 4.3.0``, and the
            connection goes on.
        config: the machine's :class:`~rfcmail.smtp.Config` (hostname,
            limits, extensions, LMTP, bare CR/LF policy ...).
        settings: TLS, credentials, connection limits and timeouts
            (:class:`ServerSettings`).

    Example::

        server = SMTPServer(backend, config=Config(hostname="mx.example"))
        await server.listen("127.0.0.1", 2525)
        await server.serve_forever()
    """

    def __init__(self, backend: smtp.Backend, *, config: smtp.Config | None = None,
                 settings: ServerSettings = ServerSettings()) -> None:
        self.backend = backend
        self.settings = settings
        self.credentials = _resolve_credentials(backend, settings)
        self.config = _server_config(config or Config(), settings, self.credentials)
        self._limiter = _ConnectionLimiter(settings.max_connections, settings.max_connections_per_ip)
        self._servers: list[asyncio.Server] = []
        self._protocols: set[_ServerProtocol] = set()
        # The read buffer every connection shares (see _ServerProtocol).
        self._read_view = memoryview(bytearray(_READ_SIZE))

    async def listen(self, host: str | Sequence[str] | None = "127.0.0.1", port: int | None = 0,
                     **kwargs: Any) -> None:
        """Start listening on ``host``:``port`` (0: a free port, see :attr:`port`); may be called again.

        Extra keyword arguments go to :meth:`asyncio.loop.create_server` (``sock``, ``backlog`` ...);
        with ``sock``, give ``None`` for both ``host`` and ``port``.
        """
        loop = asyncio.get_running_loop()
        settings = self.settings
        server = await loop.create_server(
            lambda: _ServerProtocol(self), host, port,
            ssl=settings.tls_context if settings.implicit_tls else None,
            ssl_handshake_timeout=settings.tls_handshake_timeout if settings.implicit_tls else None,
            **kwargs,
        )
        self._servers.append(server)

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets."""
        return [sock for server in self._servers for sock in server.sockets]

    @property
    def port(self) -> int:
        """The port of the first listening socket."""
        port: int = self.sockets[0].getsockname()[1]
        return port

    @property
    def connection_count(self) -> int:
        """Connections being served now."""
        return self._limiter.count

    async def serve_forever(self) -> None:
        """Serve until cancelled or closed."""
        if not self._servers:
            raise RuntimeError("call listen() first")
        await asyncio.gather(*(server.serve_forever() for server in self._servers))

    def close(self) -> None:
        """Stop listening and close every connection, telling each client ``421 4.3.2`` (RFC 5321 section 3.8)."""
        for server in self._servers:
            server.close()
        for protocol in list(self._protocols):
            protocol.shut_down()

    async def wait_closed(self) -> None:
        """Wait until the listeners are closed."""
        for server in self._servers:
            await server.wait_closed()

    async def __aenter__(self) -> SMTPServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _ClientProtocol(asyncio.Protocol):
    """The client's transport end: received bytes wait in a buffer; a timer runs only while waiting.

    Lighter than a StreamReader/StreamWriter pair with ``asyncio.timeout``
    around every read: a reply that is already here costs no future and no
    timer, which matters for the replies of a pipelined group.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.paused = False
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def _wait(self, waiter: asyncio.Future[None], timeout: float) -> None:
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()

    async def read(self, timeout: float) -> bytes:
        """What has arrived, waiting up to ``timeout`` for something; ``b""`` at the end of the stream."""
        if not self.buffer and not self.eof:
            self.waiter = self.loop.create_future()
            await self._wait(self.waiter, timeout)
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            return data
        if self.error is not None:
            raise self.error
        return b""

    async def write(self, data: bytes, timeout: float) -> None:
        """Write ``data``; wait (up to ``timeout``) while the transport's buffer is over its high mark."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)
        if self.paused:
            self.writable = self.loop.create_future()
            await self._wait(self.writable, timeout)

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str, timeout: float) -> None:
        """Run the TLS handshake on this connection (after the 220 to STARTTLS)."""
        assert self.transport is not None
        if self.buffer:
            # Plaintext that came after the 220 and was not read yet: never let it pass as
            # TLS-protected (response injection, SECURITY A2.2).
            raise RemoteProtocolError("the server sent data after its 220 to STARTTLS, before the TLS handshake")
        async with asyncio.timeout(timeout):
            transport = await self.loop.start_tls(self.transport, self, context, server_hostname=server_hostname)
        if transport is None:
            raise ConnectionResetError("the connection closed during the TLS handshake")
        self.transport = transport


class SMTPClient(_ClientFront):
    """An asyncio SMTP or LMTP client.

    ``async with`` connects, reads the greeting, says EHLO (LHLO) and applies
    ``tls_mode``; leaving says QUIT::

        async with SMTPClient("mx.example", 25, tls_mode=TLSMode.STARTTLS_REQUIRED) as client:
            await client.login("user", "password")
            result = await client.send_message(data, "me@example.org", ["you@example.net"])

    The arguments and the attributes (``extensions``, ``tls_active``,
    ``greeting``, ``authenticated_as``) are those of
    :class:`rfcmail.blocking.smtp.SMTPClient`.
    PIPELINING is used when offered (MAIL, every RCPT and DATA go out in one
    write), BDAT when CHUNKING is offered; the message is streamed.
    """

    _protocol: _ClientProtocol | None = None

    async def _run(self, operation: _Op, source: AsyncIterator[bytes] | None = None) -> Any:
        protocol = self._protocol
        if protocol is None:
            raise SMTPClientError("not connected")
        core = self._core
        result: Any = None
        try:
            request = next(operation)
            while True:
                if isinstance(request, _Write):
                    await protocol.write(request.data, request.timeout)
                    result = None
                elif isinstance(request, _Read):
                    result = await protocol.read(request.timeout)
                elif isinstance(request, _StartTLS):
                    await protocol.start_tls(request.context, core.server_hostname, core.timeouts.connect)
                    result = None
                elif isinstance(request, _NextChunk):
                    if source is None:
                        result = None
                    else:
                        try:
                            result = await source.__anext__()
                        except StopAsyncIteration:
                            result = None
                else:
                    raise TypeError(f"{type(request).__name__} is not an I/O request")
                request = operation.send(result)
        except StopIteration as stop:
            return stop.value
        except TimeoutError as exc:
            operation.close()
            self.close()
            raise SMTPTimeoutError(f"{core.host}:{core.port} did not answer in time") from exc
        except BaseException:
            operation.close()
            raise

    async def connect(self) -> Reply:
        """Connect, read the greeting, say EHLO and apply the TLS mode; return the greeting.

        Raises:
            InsecureConnectionError: ``STARTTLS_REQUIRED`` and no STARTTLS offered.
            SMTPResponseError: the server refused service or our hello.
        """
        core = self._core
        implicit = core.tls_mode is TLSMode.IMPLICIT
        loop = asyncio.get_running_loop()
        protocol = _ClientProtocol(loop)
        try:
            async with asyncio.timeout(core.timeouts.connect):
                await loop.create_connection(
                    lambda: protocol, core.host, core.port, ssl=core.tls_context if implicit else None,
                    server_hostname=core.server_hostname if implicit else None,
                    local_addr=self._source_address)
        except TimeoutError as exc:
            raise SMTPTimeoutError(f"connecting to {core.host}:{core.port} timed out") from exc
        self._protocol = protocol
        try:
            greeting: Reply = await self._run(core.open())
        except BaseException:
            self.close()
            raise
        return greeting

    async def ehlo(self, name: str | None = None) -> Reply:
        """Say EHLO again (LHLO for LMTP); the extensions are refreshed."""
        reply: Reply = await self._run(self._core.ehlo(name))
        return reply

    async def starttls(self, context: ssl.SSLContext | None = None) -> None:
        """Upgrade to TLS now (RFC 3207), then say EHLO again.

        Raises:
            InsecureConnectionError: the server refused STARTTLS.
            RemoteProtocolError: the server sent data after its 220 (SECURITY A2.2).
        """
        await self._run(self._core.starttls(context))

    async def login(self, username: str, password: str, *, mechanism: str | None = None, authzid: str = "") -> str:
        """Authenticate with the strongest offered SASL mechanism (or ``mechanism``); return its name.

        Raises:
            InsecureConnectionError: no TLS and ``allow_insecure_auth`` is False.
            SMTPResponseError: the server refused the credentials.
            rfcmail.sasl.SASLError: the server broke the mechanism.
        """
        chosen: str = await self._run(self._core.login(username, password, mechanism, authzid))
        return chosen

    async def send_message(
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
        """Send one message; see :meth:`rfcmail.blocking.smtp.SMTPClient.send_message`.

        ``message`` may also be an async iterator of bytes.
        """
        source: AsyncIterator[bytes] | None = None
        rendered = _render_message(message)
        if hasattr(rendered, "__aiter__"):
            source = rendered.__aiter__()
        result: SendResult = await self._run(self._core.send_message(
            rendered, sender, recipients, smtputf8=smtputf8, body=body, size=size,
            notify=notify, ret=ret, envid=envid, orcpt=orcpt), source)
        return result

    async def noop(self) -> Reply:
        """Send NOOP."""
        reply: Reply = await self._run(self._core.simple(Noop()))
        return reply

    async def rset(self) -> Reply:
        """Send RSET."""
        reply: Reply = await self._run(self._core.simple(Rset()))
        return reply

    async def quit(self) -> Reply | None:
        """Say QUIT and close (the reply, or None if the connection was gone)."""
        if self._protocol is None:
            return None
        reply: Reply | None = None
        try:
            reply = await self._run(self._core.quit())
        except (OSError, ProtocolError, SMTPClientError):
            pass
        finally:
            self.close()
        return reply

    def close(self) -> None:
        """Close the connection without QUIT."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    async def __aenter__(self) -> SMTPClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            await self.quit()
        else:
            self.close()
