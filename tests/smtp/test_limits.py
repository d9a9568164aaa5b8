"""Every limit at N-1, N and N+1 (SECURITY A1.6, A1.7, A1.9, A6.3)."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LimitExceeded
from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.smtp import (
    CLIENT,
    NEED_DATA,
    Auth,
    BadCommand,
    Config,
    Connection,
    EndOfMessage,
    MessageChunk,
    MessageRejected,
    Reply,
)

from . import codes, content_of, greeted_server, of_type, run_server, their

PROLOGUE = b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"


def padded(prefix: bytes, total: int) -> bytes:
    """``prefix`` padded with 'x' to a line of ``total`` octets, CRLF included."""
    return prefix + b"x" * (total - len(prefix) - 2) + b"\r\n"


@pytest.mark.parametrize("chunk", [None, 1])
@pytest.mark.parametrize(("delta", "code"), [(-1, 250), (0, 250), (1, 500)])
def test_command_line_512(delta: int, code: int, chunk: int | None) -> None:
    conn = greeted_server()
    _, out = run_server(conn, padded(b"NOOP ", 512 + delta) + b"NOOP\r\n", chunk=chunk)
    assert codes(out) == [code, 250]


@pytest.mark.parametrize(("delta", "code"), [(-1, 555), (0, 555), (1, 500)])
def test_mail_line_with_extension_allowances(delta: int, code: int) -> None:
    # SIZE 26 + DSN 120 + SMTPUTF8 10 + BINARYMIME 16 with the default config.
    limit = 512 + 26 + 120 + 10 + 16
    conn = greeted_server()
    _, out = run_server(conn, b"EHLO a\r\n" + padded(b"MAIL FROM:<a@b.example> X-PAD=", limit + delta))
    assert codes(out) == [250, code]


def test_mail_line_allowance_with_auth() -> None:
    config = Config(auth_mechanisms=("PLAIN",), require_tls_for_auth=False)
    limit = 512 + 26 + 500 + 120 + 10 + 16
    for delta, code in ((0, 555), (1, 500)):
        conn = greeted_server(config)
        _, out = run_server(conn, b"EHLO a\r\n" + padded(b"MAIL FROM:<a@b.example> X-PAD=", limit + delta))
        assert codes(out) == [250, code]


@pytest.mark.parametrize(("delta", "code"), [(-1, 555), (0, 555), (1, 500)])
def test_rcpt_line_with_dsn_allowance(delta: int, code: int) -> None:
    conn = greeted_server()
    data = b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n" + padded(b"RCPT TO:<c@d.example> X-PAD=", 512 + 530 + delta)
    _, out = run_server(conn, data)
    assert codes(out) == [250, 250, code]


def test_rcpt_line_without_dsn_is_512() -> None:
    conn = greeted_server(Config(dsn=False))
    data = b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n" + padded(b"RCPT TO:<c@d.example> X-PAD=", 513)
    _, out = run_server(conn, data)
    assert codes(out) == [250, 250, 500]


@pytest.mark.parametrize(("delta", "code"), [(-1, 235), (0, 235), (1, 500)])
def test_auth_line_12288(delta: int, code: int) -> None:
    config = Config(auth_mechanisms=("PLAIN",), require_tls_for_auth=False)
    conn = greeted_server(config)
    # A base64 response line of exactly 12288 + delta octets with CRLF (multiple of 4 content).
    total = 12288 + delta
    content = total - 2
    b64 = b"QUFB" * (content // 4) + b"QQ=="[: content % 4]
    if content % 4:
        b64 = b"QUFB" * (content // 4 - 1) + {1: b"QUFBQ", 2: b"QUFBQQ", 3: b"QUFBQ=="[:7]}[content % 4]
    replier = lambda c, e: (smtp.AuthChallenge(data=b"") if isinstance(e, Auth) else  # noqa: E731
                            Reply.standard("auth_ok") if isinstance(e, smtp.AuthResponse) else c.default_reply(e))
    _, out = run_server(conn, b"EHLO a\r\nAUTH PLAIN\r\n" + b64 + b"\r\n", replier=replier)
    assert codes(out)[:2] == [250, 334]
    if code == 500:
        assert b"500 5.5.6" in out
    else:
        # 12287 is not base64-aligned: the content decides 235 or 501, never the length.
        assert codes(out)[-1] in (235, 501)


def test_unbounded_line_keeps_memory_bounded() -> None:
    conn = greeted_server()
    conn.receive_data(b"EHLO a\r\n")
    assert isinstance(conn.next_event(), smtp.Ehlo)
    conn.send(conn.default_reply(smtp.Ehlo(domain="a")))
    events = []
    for _ in range(1000):
        conn.receive_data(b"A" * 10_000)  # 10 MB, no LF
        while (event := conn.next_event()) is not NEED_DATA:
            if isinstance(event, BadCommand):
                conn.send(event.reply_hint)
            events.append(event)
        assert len(conn.trailing_data[0]) <= 20_000
    assert len(events) == 1 and isinstance(events[0], BadCommand)
    assert events[0].reply_hint.code == 500
    conn.receive_data(b"tail of the long line\r\nNOOP\r\n")
    assert isinstance(conn.next_event(), smtp.Noop)


@pytest.mark.parametrize("chunk", [None, 1, 999])
@pytest.mark.parametrize(("delta", "ok"), [(-1, True), (0, True), (1, False)])
def test_text_line_1000(delta: int, ok: bool, chunk: int | None) -> None:
    conn = greeted_server()
    body = b"first\r\n" + padded(b"", 1000 + delta) + b"last\r\n.\r\n"
    events, out = run_server(conn, PROLOGUE + body, chunk=chunk)
    end = events[-1]
    if ok:
        assert isinstance(end, EndOfMessage)
        assert len(content_of(events)) == len(body) - 3
    else:
        assert isinstance(end, MessageRejected) and end.reply_hint.code == 500
        assert codes(out)[-1] == 500


def test_text_line_first_line_and_stuffed_dot() -> None:
    # The stuffed dot counts: it is on the wire.
    for line_len, ok in ((1000, True), (1001, False)):
        conn = greeted_server()
        events, _ = run_server(conn, PROLOGUE + padded(b"..", line_len) + b".\r\n")
        assert isinstance(events[-1], EndOfMessage if ok else MessageRejected)


@pytest.mark.parametrize(("count", "last_code"), [(2, 250), (3, 250), (4, 452)])
def test_recipients(count: int, last_code: int) -> None:
    config = Config(limits=DEFAULT_LIMITS.clone(max_recipients=3))
    conn = greeted_server(config)
    rcpts = b"".join(f"RCPT TO:<r{i}@d.example>\r\n".encode() for i in range(count))
    events, out = run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n" + rcpts)
    assert codes(out)[-1] == last_code
    if last_code == 452:
        assert b"452 4.5.3 " in out
        assert len(conn.recipients) == 3


def test_recipient_refusals_do_not_count_as_bad_commands() -> None:
    config = Config(limits=DEFAULT_LIMITS.clone(max_recipients=1, max_bad_commands=2))
    conn = greeted_server(config)
    rcpts = b"".join(f"RCPT TO:<r{i}@d.example>\r\n".encode() for i in range(10))
    _, out = run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n" + rcpts)
    assert codes(out) == [250, 250, 250] + [452] * 9


@pytest.mark.parametrize("chunk", [None, 1000])
@pytest.mark.parametrize(("delta", "ok"), [(-1, True), (0, True), (1, False)])
def test_message_size_while_streaming_without_size(delta: int, ok: bool, chunk: int | None) -> None:
    limit = 5000
    config = Config(limits=DEFAULT_LIMITS.clone(max_message_size=limit))
    conn = greeted_server(config)
    line = b"y" * 98 + b"\r\n"
    body = line * (limit // 100 - 1) + b"y" * (98 + delta) + b"\r\n"
    assert len(body) == limit + delta
    events, out = run_server(conn, PROLOGUE + body + b".\r\n", chunk=chunk)
    if ok:
        assert isinstance(events[-1], EndOfMessage) and len(content_of(events)) == limit + delta
    else:
        assert isinstance(events[-1], MessageRejected)
        assert b"552 5.3.4 " in out
        assert len(content_of(events)) <= limit


def test_lying_size_50mb_streamed_not_buffered() -> None:
    limit = 1_000_000
    conn = greeted_server(Config(limits=DEFAULT_LIMITS.clone(max_message_size=limit)))
    run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example> SIZE=1000\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
    block = (b"z" * 998 + b"\r\n") * 64
    passed = 0
    for _ in range(50_000_000 // len(block)):
        conn.receive_data(block)
        while (event := conn.next_event()) is not NEED_DATA:
            assert isinstance(event, MessageChunk)
            passed += len(event.data)
        assert len(conn.trailing_data[0]) < 8
    conn.receive_data(b".\r\n")
    end = conn.next_event()
    assert isinstance(end, MessageRejected) and end.reply_hint.code == 552
    assert passed <= limit
    assert conn.message_size > 49_000_000


@pytest.mark.parametrize(("declared", "code"), [(4999, 250), (5000, 250), (5001, 552)])
def test_declared_size(declared: int, code: int) -> None:
    conn = greeted_server(Config(limits=DEFAULT_LIMITS.clone(max_message_size=5000)))
    _, out = run_server(conn, f"EHLO a\r\nMAIL FROM:<a@b.example> SIZE={declared}\r\n".encode())
    assert codes(out) == [250, code]
    assert b"250-SIZE 5000\r\n" in out


@pytest.mark.parametrize(("total", "ok"), [(4999, True), (5000, True), (5001, False)])
def test_bdat_size(total: int, ok: bool) -> None:
    conn = greeted_server(Config(limits=DEFAULT_LIMITS.clone(max_message_size=5000)))
    first = 3000
    data = (b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
            + f"BDAT {first}\r\n".encode() + b"q" * first
            + f"BDAT {total - first} LAST\r\n".encode() + b"r" * (total - first) + b"NOOP\r\n")
    events, out = run_server(conn, data)
    if ok:
        assert codes(out) == [250, 250, 250, 250, 250, 250]
        assert len(content_of(events)) == total
    else:
        assert codes(out) == [250, 250, 250, 250, 552, 250]
        assert len(content_of(events)) == first


def test_huge_bdat_no_preallocation() -> None:
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
    events, out = run_server(conn, b"BDAT 99999999999\r\nonly a few bytes")
    # Refused (over the size limit) and its declared chunk is being discarded.
    assert events == [] and out == b""
    assert conn.trailing_data[0] == b""


@pytest.mark.parametrize(("count", "fails"), [(4, False), (5, False), (6, True)])
def test_commands_per_connection(count: int, fails: bool) -> None:
    conn = greeted_server(Config(limits=DEFAULT_LIMITS.clone(max_commands=5)))
    data = b"NOOP\r\n" * count
    if fails:
        with pytest.raises(LimitExceeded) as info:
            run_server(conn, data)
        assert info.value.limit_name == "max_commands"
        assert info.value.reply_hint is not None and info.value.reply_hint.startswith("421 4.7.0")
        assert their(conn) is smtp.State.ERROR
        out = conn.send(Reply.from_text(info.value.reply_hint))
        assert out.startswith(b"421 ")  # no EHLO yet: no enhanced code (RFC 2034)
        assert conn.our_state is smtp.State.CLOSED
    else:
        _, out = run_server(conn, data)
        assert codes(out) == [250] * count


@pytest.mark.parametrize(("count", "fails"), [(2, False), (3, False), (4, True)])
def test_bad_commands_before_421(count: int, fails: bool) -> None:
    conn = greeted_server(Config(limits=DEFAULT_LIMITS.clone(max_bad_commands=3)))
    data = b"BOGUS\r\n" * count
    if fails:
        with pytest.raises(LimitExceeded) as info:
            run_server(conn, data)
        assert info.value.limit_name == "max_bad_commands"
        assert info.value.reply_hint == "421 4.7.0 Too many errors, closing connection"
    else:
        _, out = run_server(conn, data)
        assert codes(out) == [500] * count


@pytest.mark.parametrize(("failures", "fails"), [(1, False), (2, False), (3, True)])
def test_auth_failures(failures: int, fails: bool) -> None:
    config = Config(auth_mechanisms=("PLAIN",), require_tls_for_auth=False,
                    limits=DEFAULT_LIMITS.clone(max_auth_failures=2))
    conn = greeted_server(config)
    replier = lambda c, e: Reply.standard("auth_failed") if isinstance(e, Auth) else c.default_reply(e)  # noqa: E731
    data = b"EHLO a\r\n" + b"AUTH PLAIN AGEAYg==\r\n" * failures
    if fails:
        with pytest.raises(LimitExceeded) as info:
            run_server(conn, data, replier=replier)
        assert info.value.limit_name == "max_auth_failures"
    else:
        _, out = run_server(conn, data, replier=replier)
        assert codes(out) == [250] + [535] * failures


# --------------------------------------------------------------------------- client


@pytest.mark.parametrize(("delta", "fails"), [(-1, False), (0, False), (1, True)])
def test_reply_line_512(delta: int, fails: bool) -> None:
    conn = Connection(CLIENT)
    conn.receive_data(padded(b"220 ", 512 + delta))
    if fails:
        with pytest.raises(LimitExceeded) as info:
            conn.next_event()
        assert info.value.limit_name == "max_reply_line"
    else:
        assert isinstance(conn.next_event(), Reply)


@pytest.mark.parametrize(("lines", "fails"), [(9, False), (10, False), (11, True)])
def test_reply_line_count(lines: int, fails: bool) -> None:
    conn = Connection(CLIENT, Config(max_reply_lines=10))
    conn.receive_data(b"220-x\r\n" * (lines - 1) + b"220 end\r\n")
    if fails:
        with pytest.raises(LimitExceeded):
            conn.next_event()
    else:
        reply = conn.next_event()
        assert isinstance(reply, Reply) and len(reply.lines) == lines


def test_client_unbounded_reply_line() -> None:
    conn = Connection(CLIENT)
    conn.receive_data(b"220 " + b"x" * 100_000)
    with pytest.raises(LimitExceeded):
        conn.next_event()
