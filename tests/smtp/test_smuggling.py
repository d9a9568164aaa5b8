"""SMTP smuggling (SECURITY A1.1, A1.2, A1.3): the end of data is CRLF.CRLF and nothing else.

Every variant of the 2023 research (SEC Consult; hannob/smtpsmug) is fed
whole, one byte at a time and in odd pieces, followed by a pipelined
second transaction. At most one message may come out, and no second MAIL.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.smtp import (
    CLIENT,
    Config,
    Connection,
    Data,
    EndOfMessage,
    Mail,
    MessageChunk,
    MessageRejected,
    Rcpt,
    State,
)

from . import codes, content_of, greeted_server, of_type, our, ready_client, run_server, their

VARIANTS = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
]

PROLOGUE = b"EHLO attacker.example\r\nMAIL FROM:<user@relay.example>\r\nRCPT TO:<victim@target.example>\r\nDATA\r\n"
SMUGGLED = (
    b"MAIL FROM:<admin@spoofed.example>\r\n"
    b"RCPT TO:<victim@target.example>\r\n"
    b"DATA\r\n"
    b"From: admin@spoofed.example\r\n\r\nspoofed\r\n"
    b".\r\n"
)


def smuggle(variant: bytes) -> bytes:
    return PROLOGUE + b"Subject: hello\r\n\r\nlegit" + variant + SMUGGLED


def check_single_message(events: list[smtp.Event], out: bytes) -> None:
    assert len(of_type(events, Mail)) == 1
    assert len(of_type(events, Data)) == 1
    ends = [e for e in events if isinstance(e, (EndOfMessage, MessageRejected))]
    assert len(ends) == 1
    assert codes(out).count(354) == 1
    assert b"admin@spoofed.example" not in b"".join(
        bytes(str(e), "utf-8") for e in events if not isinstance(e, MessageChunk)
    )


@pytest.mark.parametrize("variant", VARIANTS, ids=[repr(v) for v in VARIANTS])
@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_smuggling_reject_default(variant: bytes, chunk: int | None) -> None:
    conn = greeted_server()
    events, out = run_server(conn, smuggle(variant), chunk=chunk)
    check_single_message(events, out)
    end = [e for e in events if isinstance(e, (EndOfMessage, MessageRejected))][0]
    if variant == b"\r\n\x00.\r\n":
        # No bare CR or LF: the NUL line and the "commands" are content.
        assert isinstance(end, EndOfMessage)
        assert b"MAIL FROM:<admin@spoofed.example>\r\n" in content_of(events)
    else:
        assert isinstance(end, MessageRejected)
        assert end.reply_hint.code == 550 and str(end.reply_hint.enhanced) == "5.6.11"
        # Content with a bare line ending never reached a MessageChunk.
        data = content_of(events)
        assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert our(conn) is State.READY
    # The connection goes on, with exactly one transaction behind it.
    events2, out2 = run_server(conn, b"NOOP\r\n")
    assert codes(out2) == [250]


@pytest.mark.parametrize("variant", VARIANTS, ids=[repr(v) for v in VARIANTS])
@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_smuggling_normalize(variant: bytes, chunk: int | None) -> None:
    conn = greeted_server(Config(bare_lf="normalize", bare_cr="normalize"))
    events, out = run_server(conn, smuggle(variant), chunk=chunk)
    check_single_message(events, out)
    assert isinstance(events[-1], EndOfMessage)
    data = content_of(events)
    # Normalised: only CRLF pairs remain, and the smuggled commands are content.
    assert data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n")
    assert b"MAIL FROM:<admin@spoofed.example>\r\n" in data


@pytest.mark.parametrize("kind", ["bare_lf", "bare_cr"])
def test_mixed_policy(kind: str) -> None:
    conn = greeted_server(Config(**{kind: "normalize"}))  # type: ignore[arg-type]
    body_lf = PROLOGUE + b"a\nb\r\n.\r\n"
    events, _ = run_server(conn, body_lf)
    expected = EndOfMessage if kind == "bare_lf" else MessageRejected
    assert isinstance(events[-1], expected)
    conn = greeted_server(Config(**{kind: "normalize"}))  # type: ignore[arg-type]
    events, _ = run_server(conn, PROLOGUE + b"a\rb\r\n.\r\n")
    expected = EndOfMessage if kind == "bare_cr" else MessageRejected
    assert isinstance(events[-1], expected)


@pytest.mark.parametrize("body", [b"a\nb", b"a\rb", b"trailing\n", b"\n", b"\r", b"x\r\ry\r\n"])
def test_bare_anywhere_in_data_rejected(body: bytes) -> None:
    conn = greeted_server()
    events, out = run_server(conn, PROLOGUE + b"ok line\r\n" + body + b"\r\nmore\r\n.\r\n", chunk=None)
    assert isinstance(events[-1], MessageRejected)
    assert codes(out)[-1] == 550


def test_bdat_content_is_never_commands() -> None:
    conn = greeted_server()
    chunk = b"x\r\n.\r\n" + SMUGGLED
    data = (b"EHLO a\r\nMAIL FROM:<user@relay.example>\r\nRCPT TO:<victim@target.example>\r\n"
            + f"BDAT {len(chunk)} LAST\r\n".encode() + chunk)
    for piece in (None, 1):
        conn = greeted_server()
        events, out = run_server(conn, data, chunk=piece)
        assert len(of_type(events, Mail)) == 1
        assert content_of(events) == chunk
        assert isinstance(events[-1], EndOfMessage)


def test_refused_bdat_chunk_is_discarded_not_executed() -> None:
    # BDAT before any recipient: refused, but its chunk is still consumed
    # (RFC 3030 section 2) so the bytes inside never run as commands.
    chunk = b"MAIL FROM:<evil@spoofed.example>\r\n"
    data = b"EHLO a\r\nMAIL FROM:<u@relay.example>\r\n" + f"BDAT {len(chunk)}\r\n".encode() + chunk + b"NOOP\r\n"
    for piece in (None, 1):
        conn = greeted_server()
        events, out = run_server(conn, data, chunk=piece)
        assert len(of_type(events, Mail)) == 1
        assert isinstance(events[-2], smtp.BadCommand) and isinstance(events[-1], smtp.Noop)
        assert codes(out) == [250, 250, 554, 250]


# --------------------------------------------------------------------------- the client side (A1.3)


def send_body(body_pieces: list[bytes]) -> bytes:
    conn = ready_client()
    conn.send(Mail(reverse_path="a@b.example"))
    conn.send(Rcpt(forward_path="c@d.example"))
    conn.send(Data())
    conn.receive_data(b"250 ok\r\n250 ok\r\n354 go\r\n")
    while conn.next_event() is not smtp.NEED_DATA:
        pass
    out = b"".join(conn.send(MessageChunk(data=p)) for p in body_pieces)
    return out + conn.send(EndOfMessage())


@pytest.mark.parametrize(
    ("body", "wire"),
    [
        (b"a\rb\nc\r\n.x", b"a\r\nb\r\nc\r\n..x\r\n.\r\n"),
        (b"cr\rlf\n", b"cr\r\nlf\r\n.\r\n"),
        (b".\n", b"..\r\n.\r\n"),
        (b"", b".\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b"x\r\n.\r\n", b"x\r\n..\r\n.\r\n"),
        (b"\r\n..\r\n.\r\n", b"\r\n...\r\n..\r\n.\r\n"),
        (b"a\r", b"a\r\n.\r\n"),
        (b"a\r\r\n", b"a\r\n\r\n.\r\n"),
        (b"x" + b"\n.\n" + b"MAIL", b"x\r\n..\r\nMAIL\r\n.\r\n"),
    ],
)
def test_client_stuffing_table(body: bytes, wire: bytes) -> None:
    assert send_body([body]) == wire
    # The same body in one-byte pieces gives the same wire.
    assert send_body([body[i : i + 1] for i in range(len(body))]) == wire


def unstuffed_by_server(wire: bytes) -> bytes:
    conn = greeted_server()
    events, _ = run_server(conn, PROLOGUE + wire)
    assert isinstance(events[-1], EndOfMessage)
    return content_of(events)


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"")), max_size=8))
def test_stuff_then_unstuff_roundtrip(parts: list[bytes]) -> None:
    body = b"".join(parts)
    wire = send_body(parts)
    # The wire never carries a bare CR or LF, and ends with exactly one terminator.
    assert wire.count(b"\r") == wire.count(b"\n") == wire.count(b"\r\n")
    normalized = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if normalized and not normalized.endswith(b"\r\n"):
        normalized += b"\r\n"
    assert unstuffed_by_server(wire) == normalized


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=17))
def test_server_data_any_bytes_one_end(body: bytes, piece: int) -> None:
    """Arbitrary content: exactly one end, content equal whatever the chunking."""
    data = PROLOGUE + body + b"\r\n.\r\n"
    conn_a = greeted_server(Config(bare_lf="normalize", bare_cr="normalize"))
    events_a, _ = run_server(conn_a, data)
    conn_b = greeted_server(Config(bare_lf="normalize", bare_cr="normalize"))
    events_b, _ = run_server(conn_b, data, chunk=piece)
    assert content_of(events_a) == content_of(events_b)
    assert [type(e) for e in events_a if not isinstance(e, MessageChunk)] == [
        type(e) for e in events_b if not isinstance(e, MessageChunk)
    ]
