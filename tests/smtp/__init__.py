"""Tests of rfcmail.smtp, and helpers that drive a machine like a small adapter would."""

from __future__ import annotations

from collections.abc import Callable

from rfcmail import smtp
from rfcmail.smtp import (
    NEED_DATA,
    PAUSED,
    Bdat,
    Connection,
    ConnectionClosed,
    DiscardedPlaintext,
    EndOfMessage,
    Event,
    MessageChunk,
    Reply,
)

NO_REPLY = (MessageChunk, Bdat, DiscardedPlaintext, ConnectionClosed)

Replier = Callable[[Connection, Event], "Event | list[Reply] | None"]


def greeted_server(config: smtp.Config | None = None, **kwargs: bool) -> Connection:
    """A server machine that has sent its greeting."""
    conn = Connection(smtp.SERVER, config or smtp.Config(hostname="mx.example"), **kwargs)
    conn.send(conn.greeting())
    return conn


def default_replier(conn: Connection, event: Event) -> Event | list[Reply] | None:
    """Reply as a permissive backend would (LMTP: one 250 per recipient)."""
    if isinstance(event, (EndOfMessage, smtp.MessageRejected)) and conn.config.lmtp:
        return [conn.default_reply(event) for _ in range(max(1, len(conn.recipients)))]
    return conn.default_reply(event)


def pieces(data: bytes, chunk: int | None) -> list[bytes]:
    """``data`` whole (``chunk=None``) or cut into ``chunk``-byte pieces."""
    if not data:
        return []
    if chunk is None:
        return [data]
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def run_server(
    conn: Connection,
    data: bytes,
    *,
    chunk: int | None = None,
    replier: Replier = default_replier,
    close: bool = False,
) -> tuple[list[Event], bytes]:
    """Feed ``data`` to a server machine and answer every command as ``replier`` says.

    Returns the events read and the bytes the server wrote. At a PAUSED that
    no reply resolves (STARTTLS waiting for the handshake, a declined reply)
    it goes on feeding.
    """
    events: list[Event] = []
    out = bytearray()
    feeds = pieces(data, chunk) + ([b""] if close else [])
    for piece in feeds:
        conn.receive_data(piece)
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            if event is PAUSED:
                # STARTTLS waiting for the handshake, or a reply the replier declined.
                break
            assert isinstance(event, Event)
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return events, bytes(out)
            if isinstance(event, NO_REPLY):
                continue
            reply = replier(conn, event)
            if reply is None:
                continue
            for one in reply if isinstance(reply, list) else [reply]:
                out += conn.send(one)
    return events, bytes(out)


def drain(conn: Connection) -> list[Event]:
    """Every event available now (until NEED_DATA or PAUSED)."""
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA or event is PAUSED:
            return events
        assert isinstance(event, Event)
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


def of_type(events: list[Event], kind: type[Event]) -> list[Event]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


def content_of(events: list[Event]) -> bytes:
    """The message content the events carried."""
    return b"".join(e.data for e in events if isinstance(e, MessageChunk))


def codes(wire: bytes) -> list[int]:
    """The reply codes of the final lines of each reply in ``wire``."""
    result = []
    for line in wire.split(b"\r\n"):
        if len(line) >= 4 and line[3:4] == b" " or len(line) == 3:
            result.append(int(line[:3]))
    return result


def ready_client(extensions: str = "PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 ENHANCEDSTATUSCODES",
                 config: smtp.Config | None = None) -> Connection:
    """A client machine that has been greeted and whose EHLO got ``extensions``."""
    conn = Connection(smtp.CLIENT, config or smtp.Config(hostname="client.example"))
    conn.receive_data(b"220 mx.example ESMTP\r\n")
    assert isinstance(conn.next_event(), Reply)
    conn.send(smtp.Lhlo(domain="client.example") if conn.config.lmtp else smtp.Ehlo(domain="client.example"))
    if "\r\n250 " in "\r\n250-" + extensions:
        conn.receive_data(f"250-mx.example\r\n250-{extensions}\r\n".encode())
    else:
        conn.receive_data(f"250-mx.example\r\n250 {extensions}\r\n".encode())
    reply = conn.next_event()
    assert isinstance(reply, Reply) and reply.code == 250, reply
    return conn


def our(conn: Connection) -> smtp.State:
    """``conn.our_state`` (a call, so that type checkers do not narrow it between asserts)."""
    return conn.our_state


def their(conn: Connection) -> smtp.State:
    """``conn.their_state``, likewise."""
    return conn.their_state
