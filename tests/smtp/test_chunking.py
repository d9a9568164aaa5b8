"""CHUNKING and BINARYMIME (RFC 3030), SECURITY A1.8."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.smtp import (
    BadCommand,
    Bdat,
    Config,
    Data,
    EndOfChunk,
    EndOfMessage,
    Mail,
    MessageChunk,
    Rcpt,
    Reply,
    State,
)

from . import codes, content_of, greeted_server, of_type, our, ready_client, run_server, their

ENVELOPE = b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
CHUNK1 = b"Subject: x\r\n\r\n.line\r\n.\r\n"
CHUNK2 = b"\x00\xff binary \r bare\n"


def bdat(chunk: bytes, last: bool = False) -> bytes:
    return f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk


@pytest.mark.parametrize("piece", [None, 1, 3])
def test_server_two_chunks(piece: int | None) -> None:
    conn = greeted_server()
    events, out = run_server(conn, ENVELOPE + bdat(CHUNK1) + bdat(CHUNK2, last=True) + b"QUIT\r\n", chunk=piece)
    kinds = [type(e) for e in events if not isinstance(e, MessageChunk)]
    assert kinds == [smtp.Ehlo, Mail, Rcpt, Bdat, EndOfChunk, Bdat, EndOfMessage, smtp.Quit]
    assert content_of(events) == CHUNK1 + CHUNK2  # no dot handling, no line-ending checks
    assert codes(out) == [250, 250, 250, 250, 250, 221]


def test_server_bdat_zero_last() -> None:
    conn = greeted_server()
    events, out = run_server(conn, ENVELOPE + bdat(b"abc") + b"BDAT 0 LAST\r\n")
    assert isinstance(events[-1], EndOfMessage) and content_of(events) == b"abc"
    assert codes(out)[-2:] == [250, 250]


def test_server_data_after_bdat_is_503() -> None:
    conn = greeted_server()
    events, out = run_server(conn, ENVELOPE + bdat(b"abc") + b"DATA\r\n")
    assert codes(out)[-1] == 503 and isinstance(events[-1], BadCommand)
    assert our(conn) is State.BDAT


def test_server_bdat_after_last_is_503_and_discarded() -> None:
    conn = greeted_server()
    _, out = run_server(conn, ENVELOPE + bdat(b"abc", last=True) + bdat(b"NOOP\r\n") + b"RSET\r\n")
    assert codes(out) == [250, 250, 250, 250, 503, 250]


def test_server_binarymime_needs_bdat() -> None:
    conn = greeted_server()
    env = b"EHLO a\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<c@d.example>\r\n"
    _, out = run_server(conn, env + b"DATA\r\n")
    assert codes(out)[-1] == 503
    _, out = run_server(conn, bdat(CHUNK2, last=True))
    assert codes(out) == [250]


def test_server_without_chunking() -> None:
    conn = greeted_server(Config(chunking=False))
    _, out = run_server(conn, ENVELOPE)
    assert b"CHUNKING" not in out and b"BINARYMIME" not in out
    events, out = run_server(conn, bdat(b"RSET\r\n") + b"NOOP\r\n")
    assert codes(out) == [502, 250]
    _, out = run_server(conn, b"MAIL FROM:<x@y.example> BODY=BINARYMIME\r\n")
    assert codes(out) == [503]  # nested MAIL is a sequence error first


def test_server_failed_chunk_ends_transaction_and_discards_pipeline() -> None:
    conn = greeted_server()
    replier = lambda c, e: (Reply(code=452, lines=("disk full",)) if isinstance(e, EndOfChunk)  # noqa: E731
                            else c.default_reply(e))
    events, out = run_server(conn, ENVELOPE + bdat(b"one") + bdat(b"MAIL FROM:<x@y.example>\r\n")
                             + bdat(b"three", last=True) + b"NOOP\r\n", replier=replier)
    assert codes(out) == [250, 250, 250, 452, 503, 503, 250]
    assert len(of_type(events, Mail)) == 1
    assert our(conn) is State.READY


def test_server_malformed_bdat_is_fatal() -> None:
    for line in (b"BDAT\r\n", b"BDAT x\r\n", b"BDAT -1\r\n", b"BDAT 1 FIRST\r\n", b"BDAT 123456789012345678901\r\n"):
        conn = greeted_server()
        run_server(conn, ENVELOPE)
        with pytest.raises(RemoteProtocolError) as info:
            run_server(conn, line)
        assert info.value.reply_hint is not None and info.value.reply_hint.startswith("421")
        assert their(conn) is State.ERROR


def test_server_reply_only_after_chunk() -> None:
    conn = greeted_server()
    run_server(conn, ENVELOPE)
    conn.receive_data(b"BDAT 10\r\nabc")
    assert isinstance(conn.next_event(), Bdat)
    assert isinstance(conn.next_event(), MessageChunk)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("too early",)))
    conn.receive_data(b"defghij")
    assert conn.next_event() == MessageChunk(data=b"defghij")
    end = conn.next_event()
    assert isinstance(end, EndOfChunk)
    assert conn.send(conn.default_reply(end)).startswith(b"250 2.0.0")


# --------------------------------------------------------------------------- client


def test_client_bdat_sequence() -> None:
    conn = ready_client()
    conn.send(Mail(reverse_path="a@b.example", params=smtp.mail_params_for(conn.extensions, body="BINARYMIME")))
    conn.send(Rcpt(forward_path="c@d.example"))
    wire = conn.send(Bdat(size=5))
    with pytest.raises(LocalProtocolError):
        conn.send(MessageChunk(data=b"123456"))
    with pytest.raises(LocalProtocolError):
        conn.send(Bdat(size=1))
    wire += conn.send(MessageChunk(data=b"12")) + conn.send(MessageChunk(data=b"\r\n."))
    wire += conn.send(Bdat(size=2, last=True)) + conn.send(MessageChunk(data=b"\n\r"))
    assert conn.send(EndOfMessage()) == b""  # optional after BDAT LAST
    assert wire == b"BDAT 5\r\n12\r\n.BDAT 2 LAST\r\n\n\r"
    conn.receive_data(b"250 ok\r\n250 ok\r\n250 chunk\r\n250 2.0.0 queued\r\n")
    replies = []
    while isinstance(event := conn.next_event(), Reply):
        replies.append(event)
    assert [type(r.command).__name__ for r in replies] == ["Mail", "Rcpt", "Bdat", "EndOfMessage"]
    assert our(conn) is State.READY and their(conn) is State.READY


def test_client_binarymime_forbids_data() -> None:
    conn = ready_client()
    conn.send(Mail(reverse_path="a@b.example", params=(("BODY", "BINARYMIME"),)))
    conn.send(Rcpt(forward_path="c@d.example"))
    with pytest.raises(LocalProtocolError):
        conn.send(Data())


def test_client_bdat_needs_chunking() -> None:
    conn = ready_client("PIPELINING\r\n250 8BITMIME")
    conn.send(Mail(reverse_path="a@b.example"))
    conn.send(Rcpt(forward_path="c@d.example"))
    with pytest.raises(LocalProtocolError):
        conn.send(Bdat(size=1, last=True))
    with pytest.raises(LocalProtocolError):
        smtp.mail_params_for(conn.extensions, body="BINARYMIME")


def test_client_failed_bdat_rolls_back() -> None:
    conn = ready_client()
    conn.send(Mail(reverse_path="a@b.example"))
    conn.send(Rcpt(forward_path="c@d.example"))
    conn.receive_data(b"250 ok\r\n250 ok\r\n")
    conn.next_event()
    conn.next_event()
    conn.send(Bdat(size=1))
    conn.send(MessageChunk(data=b"x"))
    conn.receive_data(b"554 5.6.0 no\r\n")
    conn.next_event()
    assert their(conn) is State.READY and our(conn) is State.READY
    with pytest.raises(LocalProtocolError):
        conn.send(Bdat(size=1))


def test_pair_bdat_roundtrip_one_byte() -> None:
    from rfcmail.testing import ConnectionPair

    client = smtp.Connection(smtp.CLIENT)
    server = smtp.Connection(smtp.SERVER)
    pair = ConnectionPair(client, server, chunk_size=1)
    pair.server_send(server.greeting())
    (ehlo,) = pair.client_send(smtp.Ehlo(domain="c"))
    pair.server_send(server.default_reply(ehlo))
    for event in (Mail(reverse_path="a@b.example"), Rcpt(forward_path="c@d.example")):
        (received,) = pair.client_send(event)
        pair.server_send(server.default_reply(received))
    payload = bytes(range(256)) * 4
    pair.client_send(Bdat(size=len(payload), last=True), MessageChunk(data=payload))
    assert content_of(pair.server_events) == payload
    end = pair.server_events[-1]
    assert isinstance(end, EndOfMessage)
    (reply,) = pair.server_send(server.default_reply(end))
    assert isinstance(reply, Reply) and isinstance(reply.command, EndOfMessage)


def test_pipelined_bdat_without_pipelining_is_early_talk() -> None:
    def early(conn: smtp.Connection) -> bool:
        return conn.early_talker

    conn = greeted_server(Config(pipelining=False))
    run_server(conn, b"EHLO a\r\n")
    run_server(conn, b"MAIL FROM:<a@b.example>\r\n")
    run_server(conn, b"RCPT TO:<c@d.example>\r\n")
    assert not early(conn)
    _, out = run_server(conn, bdat(b"abc"))
    assert not early(conn)  # chunk data right after BDAT is the protocol
    _, out = run_server(conn, bdat(b"abc") + bdat(b"def", last=True))
    assert early(conn)  # the second BDAT came before the first one's reply
    assert codes(out) == [250, 250]
