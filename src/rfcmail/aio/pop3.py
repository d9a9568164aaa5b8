"""asyncio POP3 client and server.

The same behaviour as :mod:`rfcmail.blocking.pop3`, over asyncio: the client
drives the sans-IO procedures of :mod:`rfcmail.pop3`, the server runs a
:class:`rfcmail.pop3.ServerSession` per connection. Both use an
:class:`asyncio.Protocol` of their own rather than streams, so every byte
received goes straight into the machine: plaintext that arrives after STLS
is seen there (discarded by a server, fatal to a client: SECURITY.md A2.1,
A2.2) and never sits in a stream buffer to be read after the TLS handshake.

RFC 1939, RFC 2449, RFC 2595 section 4 (STLS), RFC 5034 (AUTH), RFC 8314
(implicit TLS).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from .. import pop3
from .._tls import TLSMode, client_context
from ..blocking.pop3 import _ServerSettings
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

_log = logging.getLogger("rfcmail.aio.pop3")
T = TypeVar("T")
_HIGH_WATER = 256 * 1024


class _Channel(asyncio.Protocol):
    """A transport's bytes as awaitable chunks, with write flow control."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._eof = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.connected = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        self.connected.set()

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._readable.set()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._readable.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.connected.set()
        self._eof = True
        self._readable.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def take_buffered(self) -> bytes:
        """Every chunk received and not yet taken, without waiting."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data

    async def recv(self) -> bytes:
        """The next received bytes; ``b""`` once the peer has closed."""
        while not self._chunks:
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        if len(self._chunks) == 1:
            return self._chunks.popleft()
        return self.take_buffered()

    async def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            raise ConnectionResetError("connection closed")
        self.transport.write(data)
        await self._writable.wait()

    async def start_tls(self, context: ssl.SSLContext, *, server_side: bool,
                        server_hostname: str | None = None) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(self.transport, self, context, server_side=server_side,
                                         server_hostname=server_hostname)
        assert transport is not None
        self.transport = transport

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class POP3Client:
    """An asyncio POP3 client. Make one with ``await POP3Client.connect(...)``.

    The methods mirror :class:`rfcmail.blocking.pop3.POP3Client`.
    """

    def __init__(self, channel: _Channel, conn: pop3.Connection, *, host: str,
                 context: ssl.SSLContext | None) -> None:
        self._channel = channel
        self.conn = conn
        self.host = host
        self._context = context
        self.capabilities: dict[str, tuple[str, ...]] = {}
        self.greeting: pop3.Greeting | None = None

    @classmethod
    async def connect(cls, host: str, port: int | None = None, *, tls: TLSMode = TLSMode.STARTTLS_REQUIRED,
                      ssl_context: ssl.SSLContext | None = None, timeout: float | None = 60.0,
                      config: pop3.Config | None = None, server_hostname: str | None = None) -> POP3Client:
        """Connect, read the greeting and CAPA, and start TLS as ``tls`` says (see the blocking client)."""
        if port is None:
            port = 995 if tls is TLSMode.IMPLICIT else 110
        context = ssl_context
        if context is None and tls is not TLSMode.NONE:
            context = client_context()
        name = server_hostname or host
        loop = asyncio.get_running_loop()
        _, channel = await asyncio.wait_for(loop.create_connection(
            _Channel, host, port, ssl=context if tls is TLSMode.IMPLICIT else None,
            server_hostname=name if tls is TLSMode.IMPLICIT else None), timeout)
        conn = pop3.Connection(pop3.CLIENT, config, tls_active=tls is TLSMode.IMPLICIT)
        client = cls(channel, conn, host=name, context=context)
        try:
            client.greeting = await client._run(greeting(conn))
            client.capabilities = await client._run(capabilities(conn))
            if tls in (TLSMode.STARTTLS_REQUIRED, TLSMode.STARTTLS_OPPORTUNISTIC):
                if "STLS" in client.capabilities:
                    client.capabilities = await client._run(starttls(conn))
                elif tls is TLSMode.STARTTLS_REQUIRED:
                    raise InsecureAuthError("the server does not offer STLS and TLS is required")
        except BaseException:
            channel.close()
            raise
        return client

    async def _next_event(self) -> pop3.Event:
        while True:
            event = self.conn.next_event()
            if event is pop3.NEED_DATA:
                self.conn.receive_data(await self._channel.recv())
                continue
            if event is pop3.PAUSED:
                raise LocalProtocolError("the client machine is paused (STLS in progress)")
            assert isinstance(event, pop3.Event)
            return event

    async def _start_tls(self) -> None:
        # A2.2: whatever arrived after the +OK goes into the machine, which refuses it.
        leftover = self._channel.take_buffered()
        if leftover:
            self.conn.receive_data(leftover)
        if self.conn.next_event() is not pop3.PAUSED:
            raise RemoteProtocolError("unexpected state before the TLS handshake")
        await self._channel.start_tls(self._context or client_context(), server_side=False,
                                      server_hostname=self.host)
        self.conn.tls_established()

    async def _run(self, procedure: Procedure[T]) -> T:
        reply: pop3.Event | None = None
        try:
            while True:
                request = procedure.send(reply)
                reply = None
                if isinstance(request, bytes):
                    await self._channel.write(request)
                elif request is NEXT:
                    reply = await self._next_event()
                elif request is TLS:
                    await self._start_tls()
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def login(self, user: str, password: str, *, allow_insecure_auth: bool = False,
                    mechanism: str | None = None) -> str:
        """Authenticate with the best method offered; return its name."""
        return await self._run(login(self.conn, user, password, caps=self.capabilities,
                                     allow_insecure_auth=allow_insecure_auth, mechanism=mechanism))

    async def stat(self) -> tuple[int, int]:
        """STAT: (message count, total octets)."""
        return parse_scan((await self._run(command(self.conn, pop3.Stat()))).text, "STAT")

    async def list(self) -> dict[int, int]:
        """LIST: message number -> size."""
        entries = await self._run(listing(self.conn, pop3.List()))
        return {entry.message_number: entry.size for entry in entries if isinstance(entry, pop3.ScanListing)}

    async def uidl(self) -> dict[int, str]:
        """UIDL: message number -> unique id."""
        entries = await self._run(listing(self.conn, pop3.Uidl()))
        return {entry.message_number: entry.unique_id for entry in entries
                if isinstance(entry, pop3.UniqueIdListing)}

    async def retrieve(self, message_number: int) -> bytes:
        """RETR: the message with CRLF line endings."""
        return await self._run(retrieve(self.conn, pop3.Retr(message_number=message_number)))

    async def retrieve_many(self, message_numbers: Sequence[int], *, window: int = 128,
                            sink: Callable[[int, bytes], None] | None = None) -> builtins.list[bytes]:
        """RETR several messages, pipelined (``window`` deep) when the server advertises PIPELINING.

        Returns the messages in order; with ``sink``, calls ``sink(number, data)``
        for each as it arrives instead and returns ``[]``.
        """
        return await self._run(retrieve_many(self.conn, message_numbers, window=window, sink=sink,
                                             pipelining="PIPELINING" in self.capabilities))

    async def retrieve_stream(self, message_number: int) -> AsyncIterator[bytes]:
        """RETR as an async iterator of chunks; consume it fully before the next command."""
        await self._channel.write(self.conn.send(pop3.Retr(message_number=message_number)))
        response = await self._next_event()
        if not isinstance(response, pop3.Response):
            raise RemoteProtocolError(f"expected a response to RETR, got {type(response).__name__}")
        if not response.ok:
            raise pop3.ResponseError(response, "RETR")
        while True:
            event = await self._next_event()
            if isinstance(event, pop3.EndOfMultiline):
                return
            if isinstance(event, pop3.MessageChunk):
                yield bytes(event.data)

    async def retrieve_message(self, message_number: int) -> Any:
        """RETR parsed with :func:`rfcmail.message.parse`."""
        from ..message import parse
        return parse(await self.retrieve(message_number))

    async def top(self, message_number: int, lines: int) -> bytes:
        """TOP: the header and the first ``lines`` body lines."""
        return await self._run(retrieve(self.conn, pop3.Top(message_number=message_number, lines=lines)))

    async def delete(self, message_number: int) -> None:
        """DELE (removed at QUIT)."""
        await self._run(command(self.conn, pop3.Dele(message_number=message_number)))

    async def reset(self) -> None:
        """RSET."""
        await self._run(command(self.conn, pop3.Rset()))

    async def noop(self) -> None:
        """NOOP."""
        await self._run(command(self.conn, pop3.Noop()))

    async def quit(self) -> None:
        """QUIT: commit deletions and close."""
        try:
            await self._run(command(self.conn, pop3.Quit()))
        finally:
            self.close()

    def close(self) -> None:
        """Close without QUIT: the server deletes nothing."""
        self._channel.close()

    async def __aenter__(self) -> POP3Client:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc_type is None and self.conn.state not in (pop3.State.CLOSED, pop3.State.ERROR):
            await self.quit()
        else:
            self.close()


class POP3Server(_ServerSettings):
    """An asyncio POP3 server over a maildrop store (arguments as the blocking server).

    Start it with ``await server.start()`` (or ``async with``); :attr:`port`
    is the bound port.
    """

    def __init__(self, store: pop3.MaildropStore, users: Any, *, host: str = "127.0.0.1", port: int = 0,
                 config: pop3.Config | None = None, ssl_context: ssl.SSLContext | None = None,
                 implicit_tls: bool = False, idle_timeout: float = 600.0) -> None:
        super().__init__(store, users, config=config, ssl_context=ssl_context, implicit_tls=implicit_tls,
                         idle_timeout=idle_timeout)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> POP3Server:
        """Listen; connections are served as tasks."""
        loop = asyncio.get_running_loop()

        def factory() -> _Channel:
            channel = _Channel()
            task = loop.create_task(self._serve(channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return channel

        self._server = await loop.create_server(
            factory, self.host, self.port, ssl=self.ssl_context if self.implicit_tls else None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and end every session (nothing is committed for them)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> POP3Server:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _perform(self, channel: _Channel, actions: Iterable[pop3.Action], conn: pop3.Connection) -> bool:
        for action in actions:
            if isinstance(action, bytes):
                if conn.state is pop3.State.STLS and channel.transport is not None:
                    # The client's ClientHello may follow our +OK at once: stop reading
                    # now so that it stays in the socket for the TLS layer. Whatever was
                    # read before this point is plaintext sent before the +OK: dropped.
                    channel.transport.pause_reading()
                await channel.write(action)
            elif isinstance(action, pop3.Delay):
                await asyncio.sleep(action.seconds)
            elif action is pop3.START_TLS:
                assert self.ssl_context is not None
                # A2.1: plaintext that came with or after STLS goes into the machine, which drops it.
                leftover = channel.take_buffered()
                if leftover:
                    conn.receive_data(leftover)
                await channel.start_tls(self.ssl_context, server_side=True)
                conn.tls_established()
                if conn.discarded_after_tls:
                    _log.warning("discarded %d plaintext bytes sent after STLS (injection attempt?)",
                                 conn.discarded_after_tls)
            elif action is pop3.CLOSE:
                return False
        return True

    async def _serve(self, channel: _Channel) -> None:
        await channel.connected.wait()
        if channel.transport is None:
            return  # the TLS handshake failed
        conn, session = self._new_session()
        try:
            if not await self._perform(channel, session.greeting(), conn):
                return
            while True:
                try:
                    event = conn.next_event()
                except ProtocolError as error:
                    if not await self._perform(channel, session.handle_error(error), conn):
                        return
                    continue
                if event is pop3.NEED_DATA:
                    conn.receive_data(await asyncio.wait_for(channel.recv(), self.idle_timeout))
                    continue
                if event is pop3.PAUSED:  # pragma: no cover - the session always answers
                    return
                assert isinstance(event, pop3.Event)
                if not await self._perform(channel, session.handle(event), conn):
                    return
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as error:
            _log.debug("POP3 connection ended: %s", error)
        except Exception:  # pragma: no cover - a backend bug must not kill the server
            _log.exception("POP3 session failed")
        finally:
            session.connection_lost()
            channel.close()
