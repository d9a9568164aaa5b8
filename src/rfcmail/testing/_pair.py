"""ConnectionPair: a client and a server machine joined in memory.

Any pair of sans-IO machines with the DESIGN.md surface (``send(event) ->
bytes``, ``receive_data(bytes)``, ``next_event()``) can be joined: SMTP
today, POP3 and IMAP with the same class. Bytes written by one side are fed
to the other (whole, or in pieces of ``chunk_size`` bytes to exercise the
readers at every boundary), and the events each side reads are collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["ConnectionPair", "SansIOConnection"]


class SansIOConnection(Protocol):
    """The surface of every rfcmail protocol machine that the pair needs."""

    def send(self, event: Any, /) -> bytes:
        """Return the bytes that send ``event``."""

    def receive_data(self, data: Any, /) -> None:
        """Feed received bytes (``b""`` = closed)."""

    def next_event(self) -> Any:
        """The next event, or a NEED_DATA / PAUSED sentinel."""


C = TypeVar("C", bound=SansIOConnection)
S = TypeVar("S", bound=SansIOConnection)


class ConnectionPair(Generic[C, S]):
    """A client and a server machine talking through memory.

    Args:
        client: the client-role machine.
        server: the server-role machine.
        stop: the sentinels ``next_event()`` returns when it has nothing more
            (``NEED_DATA`` and ``PAUSED`` of the protocol); defaults to SMTP's.
        chunk_size: deliver written bytes in pieces of this size (1 feeds
            one byte at a time); ``None`` delivers each write whole.

    Attributes:
        client_events: every event the client has read, in order.
        server_events: every event the server has read, in order.
        client_wire: every byte the client wrote.
        server_wire: every byte the server wrote.
    """

    def __init__(
        self,
        client: C,
        server: S,
        *,
        stop: Iterable[object] | None = None,
        chunk_size: int | None = None,
    ) -> None:
        if stop is None:
            from ..smtp import NEED_DATA, PAUSED

            stop = (NEED_DATA, PAUSED)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.client = client
        self.server = server
        self._stop = tuple(stop)
        self.chunk_size = chunk_size
        self.client_events: list[Any] = []
        self.server_events: list[Any] = []
        self.client_wire = bytearray()
        self.server_wire = bytearray()

    def _is_stop(self, event: object) -> bool:
        return any(event is sentinel for sentinel in self._stop)

    def _deliver(self, data: bytes, to: SansIOConnection, events: list[Any]) -> list[Any]:
        received: list[Any] = []
        if not data:
            return received
        size = self.chunk_size or len(data)
        for start in range(0, len(data), size):
            to.receive_data(data[start : start + size])
            received.extend(self._drain(to))
        events.extend(received)
        return received

    def _drain(self, conn: SansIOConnection) -> list[Any]:
        out: list[Any] = []
        while True:
            event = conn.next_event()
            if self._is_stop(event):
                return out
            out.append(event)
            if type(event).__name__ == "ConnectionClosed":
                return out

    def _send(self, sender: SansIOConnection, events: tuple[Any, ...]) -> bytes:
        out = bytearray()
        try:
            for event in events:
                out += sender.send(event)
        except Exception:
            # What was sent before the refused event is on the wire: deliver it.
            if sender is self.client:
                self.client_write(bytes(out))
            else:
                self.server_write(bytes(out))
            raise
        return bytes(out)

    def client_send(self, *events: Any) -> list[Any]:
        """The client sends ``events``; return the events the server reads from them.

        If the machine refuses one of them, the bytes of those before it are
        still delivered, then the error propagates.
        """
        data = self._send(self.client, events)
        self.client_wire += data
        return self._deliver(data, self.server, self.server_events)

    def server_send(self, *events: Any) -> list[Any]:
        """The server sends ``events``; return the events the client reads from them (see :meth:`client_send`)."""
        data = self._send(self.server, events)
        self.server_wire += data
        return self._deliver(data, self.client, self.client_events)

    def client_write(self, data: bytes) -> list[Any]:
        """Raw bytes from the client side (bypassing its machine); return the server's events."""
        self.client_wire += data
        return self._deliver(data, self.server, self.server_events)

    def server_write(self, data: bytes) -> list[Any]:
        """Raw bytes from the server side (bypassing its machine); return the client's events."""
        self.server_wire += data
        return self._deliver(data, self.client, self.client_events)

    def close_client(self) -> list[Any]:
        """The client closes; return the server's events."""
        self.server.receive_data(b"")
        received = self._drain(self.server)
        self.server_events.extend(received)
        return received

    def close_server(self) -> list[Any]:
        """The server closes; return the client's events."""
        self.client.receive_data(b"")
        received = self._drain(self.client)
        self.client_events.extend(received)
        return received

    def server_events_now(self) -> list[Any]:
        """Drain the server's pending events (after it sent a reply that unblocks it)."""
        received = self._drain(self.server)
        self.server_events.extend(received)
        return received

    def client_events_now(self) -> list[Any]:
        """Drain the client's pending events."""
        received = self._drain(self.client)
        self.client_events.extend(received)
        return received
