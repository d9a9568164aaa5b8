"""LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the data (section 4.2)."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError
from rfcmail.smtp import (
    PAUSED,
    Bdat,
    Config,
    Connection,
    Data,
    EndOfMessage,
    Lhlo,
    Mail,
    MessageChunk,
    Rcpt,
    Reply,
    State,
)
from rfcmail.testing import ConnectionPair

from . import codes, greeted_server, our, ready_client, run_server

LMTP = Config(hostname="lmtp.example", lmtp=True)


def test_server_lhlo_only() -> None:
    conn = greeted_server(LMTP)
    _, out = run_server(conn, b"EHLO a\r\nHELO a\r\nLHLO a\r\n")
    assert codes(out) == [500, 500, 250]
    assert out.startswith(b"500 This is an LMTP server: use LHLO\r\n")
    assert conn.greeting() == Reply(code=220, lines=("lmtp.example LMTP",))


@pytest.mark.parametrize("chunk", [None, 1])
def test_server_one_reply_per_recipient(chunk: int | None) -> None:
    conn = greeted_server(LMTP)
    replier = lambda c, e: (Reply(code=550, lines=("no such user",)) if isinstance(e, Rcpt)  # noqa: E731
                            and e.forward_path.startswith("nobody")
                            else None if isinstance(e, EndOfMessage) else c.default_reply(e))
    data = (b"LHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@d.example>\r\nRCPT TO:<nobody@d.example>\r\n"
            b"RCPT TO:<carol@d.example>\r\nDATA\r\nhello\r\n.\r\n")
    events, out = run_server(conn, data, chunk=chunk, replier=replier)
    assert isinstance(events[-1], EndOfMessage)
    assert [r.forward_path for r in conn.recipients] == ["bob@d.example", "carol@d.example"]
    end = events[-1]
    assert conn.send(Reply(code=250, lines=("2.0.0 bob delivered",))) == b"250 2.0.0 bob delivered\r\n"
    assert conn.next_event() is PAUSED  # one more reply owed
    assert our(conn) is State.DATA
    conn.send(Reply(code=452, lines=("carol over quota",), enhanced=smtp.EnhancedStatus.parse("4.2.2")))
    assert our(conn) is State.READY
    assert conn.next_event() is smtp.NEED_DATA
    assert isinstance(end, EndOfMessage)


def test_server_lmtp_bdat_last_per_recipient() -> None:
    conn = greeted_server(LMTP)
    data = (b"LHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@d.example>\r\nRCPT TO:<carol@d.example>\r\n"
            b"BDAT 3 LAST\r\nabc")
    events, out = run_server(conn, data)
    assert codes(out) == [250, 250, 250, 250, 250, 250]
    assert our(conn) is State.READY


def test_client_lmtp_attributes_replies_to_recipients() -> None:
    conn = ready_client("PIPELINING\r\n250 ENHANCEDSTATUSCODES", config=Config(lmtp=True))
    bob, carol, dave = (Rcpt(forward_path=f"{n}@d.example") for n in ("bob", "carol", "dave"))
    for event in (Mail(reverse_path="a@b.example"), bob, carol, dave, Data()):
        conn.send(event)
    conn.receive_data(b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n")
    while isinstance(conn.next_event(), Reply):
        pass
    conn.send(MessageChunk(data=b"hi\r\n"))
    conn.send(EndOfMessage())
    conn.receive_data(b"250 2.0.0 bob ok\r\n452 4.2.2 dave over quota\r\n")
    first = conn.next_event()
    second = conn.next_event()
    assert isinstance(first, Reply) and first.command == bob and first.code == 250
    assert isinstance(second, Reply) and second.command == dave and second.code == 452
    assert our(conn) is State.READY


def test_client_lmtp_sends_lhlo_only() -> None:
    conn = Connection(smtp.CLIENT, Config(lmtp=True))
    conn.receive_data(b"220 lmtp\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(smtp.Ehlo(domain="c"))
    assert conn.send(Lhlo(domain="c")) == b"LHLO c\r\n"
    smtp_client = Connection(smtp.CLIENT)
    smtp_client.receive_data(b"220 mx\r\n")
    smtp_client.next_event()
    with pytest.raises(LocalProtocolError):
        smtp_client.send(Lhlo(domain="c"))


def test_pair_lmtp_bdat() -> None:
    client = Connection(smtp.CLIENT, Config(lmtp=True))
    server = Connection(smtp.SERVER, LMTP)
    pair = ConnectionPair(client, server)
    pair.server_send(server.greeting())
    (lhlo,) = pair.client_send(Lhlo(domain="c"))
    pair.server_send(server.default_reply(lhlo))
    assert client.extensions.chunking
    rcpts = [Rcpt(forward_path=f"u{i}@d.example") for i in range(3)]
    for event in (Mail(reverse_path="a@b.example"), *rcpts):
        (received,) = pair.client_send(event)
        pair.server_send(server.default_reply(received))
    pair.client_send(Bdat(size=4, last=True), MessageChunk(data=b"body"))
    assert isinstance(pair.server_events[-1], EndOfMessage)
    replies = pair.server_send(*(Reply(code=250, lines=(f"{r.forward_path} ok",)) for r in rcpts))
    assert [r.command for r in replies if isinstance(r, Reply)] == rcpts
    assert our(client) is State.READY and our(server) is State.READY


def test_rejected_message_gets_one_refusal_per_recipient() -> None:
    # RFC 2033 section 4.2: the LMTP client waits for as many replies as it
    # had recipients accepted, even when the message itself is refused.
    server = greeted_server(LMTP)
    data = (b"LHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@d.example>\r\nRCPT TO:<carol@d.example>\r\n"
            b"DATA\r\nbare\nline\r\n.\r\n")
    events, out = run_server(server, data)
    assert isinstance(events[-1], smtp.MessageRejected)
    assert codes(out)[-2:] == [550, 550]
    assert our(server) is State.READY
    client = ready_client("PIPELINING", config=Config(lmtp=True))
    for event in (Mail(reverse_path="a@b.example"), Rcpt(forward_path="bob@d.example"),
                  Rcpt(forward_path="carol@d.example"), Data()):
        client.send(event)
    client.receive_data(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    while isinstance(client.next_event(), Reply):
        pass
    client.send(MessageChunk(data=b"bare\nline"))
    client.send(EndOfMessage())
    client.receive_data(out.split(b"354 End data with <CR><LF>.<CR><LF>\r\n")[1])
    replies = [client.next_event(), client.next_event()]
    assert [r.command.forward_path for r in replies if isinstance(r, Reply) and isinstance(r.command, Rcpt)] == [
        "bob@d.example", "carol@d.example"]
    assert our(client) is State.READY
