"""The Connection surface, server and client, and ConnectionPair scenarios in both directions."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.smtp import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    BadCommand,
    Config,
    Connection,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfMessage,
    Helo,
    Mail,
    MessageChunk,
    Noop,
    Quit,
    Rcpt,
    Reply,
    Rset,
    State,
)
from rfcmail.testing import ConnectionPair

from . import codes, content_of, drain, greeted_server, of_type, our, run_server, their

TRANSACTION = (
    b"EHLO client.example\r\n"
    b"MAIL FROM:<alice@example.org>\r\n"
    b"RCPT TO:<bob@example.net>\r\n"
    b"DATA\r\n"
    b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n"
    b"QUIT\r\n"
)


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 5, 7])
def test_server_full_transaction(chunk: int | None) -> None:
    conn = greeted_server()
    events, out = run_server(conn, TRANSACTION, chunk=chunk)
    kinds = [type(e).__name__ for e in events if not isinstance(e, MessageChunk)]
    assert kinds == ["Ehlo", "Mail", "Rcpt", "Data", "EndOfMessage", "Quit"]
    assert content_of(events) == b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n"
    assert codes(out) == [250, 250, 250, 354, 250, 221]
    assert our(conn) is State.CLOSED


def test_server_greeting_first() -> None:
    conn = Connection(SERVER, Config(hostname="mx.example"))
    assert conn.next_event() is PAUSED
    assert conn.send(conn.greeting()) == b"220 mx.example ESMTP\r\n"
    assert our(conn) is State.HELLO
    assert conn.next_event() is NEED_DATA


def test_server_early_talker_before_greeting() -> None:
    conn = Connection(SERVER)
    conn.receive_data(b"EHLO x\r\n")
    assert conn.early_talker
    assert conn.next_event() is PAUSED
    conn.send(conn.greeting())
    assert isinstance(conn.next_event(), Ehlo)


def test_server_pauses_until_reply() -> None:
    conn = greeted_server()
    conn.receive_data(b"EHLO a\r\nNOOP\r\n")
    assert isinstance(conn.next_event(), Ehlo)
    assert conn.next_event() is PAUSED
    assert their(conn) is State.READY and our(conn) is State.HELLO
    conn.send(conn.default_reply(Ehlo(domain="a")))
    assert our(conn) is State.READY
    assert isinstance(conn.next_event(), Noop)


def test_server_rejects_wrong_reply() -> None:
    conn = greeted_server()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("nothing asked",)))
    with pytest.raises(LocalProtocolError):
        conn.send(Ehlo(domain="x"))
    conn.receive_data(b"EHLO a\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=354, lines=("not for EHLO",)))
    assert our(conn) is State.HELLO


def test_server_refused_mail_keeps_state() -> None:
    conn = greeted_server()
    replies: dict[type[smtp.Event], Reply] = {
        Mail: Reply(code=550, lines=("no",), enhanced=smtp.EnhancedStatus.parse("5.7.1"))
    }
    events, out = run_server(
        conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
        replier=lambda c, e: replies.get(type(e), c.default_reply(e)),
    )
    assert codes(out) == [250, 550, 503]
    assert b"550 5.7.1 no\r\n" in out
    bad = of_type(events, BadCommand)
    assert len(bad) == 1 and bad[0].reply_hint.code == 503  # type: ignore[attr-defined]
    assert our(conn) is State.READY


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"FOO\r\n", 500),
        (b"TURN\r\n", 502),
        (b"EXPN staff\r\n", 502),
        (b"MAIL FROM:<a@b.example>\r\n", 503),
        (b"DATA\r\n", 503),
        (b"EHLO\r\n", 501),
        (b"MAIL FROM:alice\r\n", 501),
        (b"HELO a b\r\n", 501),
        (b"\r\n", 500),
        (b"RSET now\r\n", 501),
        (b"VRFY\r\n", 501),
        (b"STARTTLS\r\n", 502),
        (b"AUTH PLAIN\r\n", 502),
        (b"LHLO x\r\n", 500),
    ],
)
def test_server_bad_commands_before_ehlo(line: bytes, code: int) -> None:
    conn = greeted_server()
    events, out = run_server(conn, line)
    assert codes(out) == [code]
    assert isinstance(events[0], BadCommand)


@pytest.mark.parametrize(
    ("line", "code", "enhanced"),
    [
        (b"MAIL FROM:alice\r\n", 501, "5.5.4"),
        (b"MAIL TO:<a@b.example>\r\n", 501, "5.5.4"),
        (b"MAIL FROM:<a@b.example> FOO=BAR\r\n", 555, "5.5.4"),
        (b"MAIL FROM:<a@b.example> SIZE=abc\r\n", 501, "5.5.4"),
        (b"MAIL FROM:<a@b.example> BODY=9BIT\r\n", 501, "5.5.4"),
        (b"MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n", 501, "5.5.4"),
        (b"MAIL FROM:<j\xc3\xb6@b.example>\r\n", 553, "5.6.7"),
        (b"RCPT TO:<a@b.example>\r\n", 503, "5.5.1"),
        (b"DATA\r\n", 503, "5.5.1"),
        (b"BDAT 0 LAST\r\n", 503, "5.5.1"),
        (b"NOOP\x00\r\n", 500, "5.5.2"),
        (b"NOOP \xff\r\n", 500, "5.5.2"),
    ],
)
def test_server_bad_commands_after_ehlo(line: bytes, code: int, enhanced: str) -> None:
    conn = greeted_server()
    events, out = run_server(conn, b"EHLO a\r\n" + line)
    assert codes(out) == [250, code]
    assert out.endswith(f"{code} {enhanced} ".encode() + out.split(f"{code} {enhanced} ".encode())[-1])
    assert isinstance(events[-1], BadCommand)
    assert events[-1].reply_hint.enhanced == smtp.EnhancedStatus.parse(enhanced)


def test_server_accepts_common_variants() -> None:
    conn = greeted_server()
    events, out = run_server(
        conn,
        b"ehlo a\r\nmail from: <a@b.example>\r\nrcpt to:<Postmaster>\r\n"
        b"rcpt to:<@relay.example,@other.example:c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d.example\r\n"
        b"data \r\n.\r\n",
    )
    assert codes(out) == [250, 250, 250, 250, 354, 250]
    rcpts = of_type(events, Rcpt)
    assert [r.forward_path for r in rcpts] == ["Postmaster", "c@d.example"]  # type: ignore[attr-defined]
    assert of_type(events, EndOfMessage)


def test_server_null_sender_and_params() -> None:
    conn = greeted_server()
    events, _ = run_server(conn, b"EHLO a\r\nMAIL FROM:<> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2Bd\r\n")
    mail = of_type(events, Mail)[0]
    assert isinstance(mail, Mail)
    assert mail.reverse_path == "" and mail.size == 100 and mail.body == "8BITMIME" and mail.smtputf8
    assert mail.param("ENVID") == "abc+2Bd" and smtp.parse_envid(mail.param("ENVID") or "") == "abc+d"


def test_server_utf8_with_smtputf8() -> None:
    conn = greeted_server()
    data = "EHLO a\r\nMAIL FROM:<jöe@bücher.example> SMTPUTF8\r\nRCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\n".encode()
    events, out = run_server(conn, data)
    assert codes(out) == [250, 250, 250]
    rcpt = of_type(events, Rcpt)[0]
    assert rcpt.forward_path == "δοκιμή@παράδειγμα.δοκιμή"  # type: ignore[attr-defined]


def test_server_rset_and_ehlo_reset_transaction() -> None:
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
    assert our(conn) is State.RCPT and len(list(conn.recipients)) == 1
    run_server(conn, b"RSET\r\n")
    assert our(conn) is State.READY and not conn.recipients
    assert conn.mail is None
    run_server(conn, b"MAIL FROM:<a@b.example>\r\nEHLO again\r\n")
    assert our(conn) is State.READY and conn.mail is None


def test_server_vrfy_default_252_and_help() -> None:
    conn = greeted_server()
    _, out = run_server(conn, b"VRFY bob\r\nHELP\r\nNOOP hello\r\n")
    assert codes(out) == [252, 214, 250]


def test_server_helo_no_extensions_no_enhanced_codes() -> None:
    conn = greeted_server()
    _, out = run_server(conn, b"HELO a\r\nMAIL FROM:<a@b.example>\r\n")
    assert out == b"250 mx.example Hello a\r\n250 Sender ok\r\n"


def test_server_greeting_554_only_quit() -> None:
    conn = Connection(SERVER)
    conn.send(Reply(code=554, lines=("no service",)))
    assert our(conn) is State.REFUSED
    _, out = run_server(conn, b"EHLO a\r\nQUIT\r\n")
    assert codes(out) == [503, 221]


def test_server_peer_close() -> None:
    conn = greeted_server()
    events, _ = run_server(conn, b"EHLO a\r\nMAIL FR", close=True)
    assert isinstance(events[-1], ConnectionClosed)
    assert their(conn) is State.CLOSED
    assert isinstance(conn.next_event(), ConnectionClosed)
    with pytest.raises(RuntimeError):
        conn.receive_data(b"more")


def test_server_421_anytime_closes() -> None:
    conn = greeted_server()
    assert conn.send(Reply(code=421, lines=("shutting down",))) == b"421 shutting down\r\n"
    assert our(conn) is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("x",)))


def test_server_message_rejected_needs_failure_reply() -> None:
    conn = greeted_server()
    events, _ = run_server(
        conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nbad\nline\r\n.\r\n",
        replier=lambda c, e: None if isinstance(e, smtp.MessageRejected) else c.default_reply(e),
    )
    rejected = events[-1]
    assert isinstance(rejected, smtp.MessageRejected)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("ok",)))
    assert conn.send(rejected.reply_hint).startswith(b"550 5.6.11 ")
    assert our(conn) is State.READY


def test_server_trailing_data_and_state_names() -> None:
    conn = greeted_server()
    conn.receive_data(b"EHLO a\r\nNOOP")
    assert isinstance(conn.next_event(), Ehlo)
    assert conn.trailing_data == (b"NOOP", False)


# --------------------------------------------------------------------------- client


def test_client_full_transaction_bytes() -> None:
    conn = Connection(CLIENT)
    with pytest.raises(LocalProtocolError):
        conn.send(Ehlo(domain="c.example"))  # before the greeting
    conn.receive_data(b"220 mx ESMTP\r\n")
    greeting = conn.next_event()
    assert isinstance(greeting, Reply) and greeting.code == 220 and greeting.command is None
    out = conn.send(Ehlo(domain="c.example"))
    assert out == b"EHLO c.example\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send(Mail(reverse_path="a@b.example"))  # EHLO ends a group
    conn.receive_data(b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    reply = conn.next_event()
    assert isinstance(reply, Reply) and reply.command == Ehlo(domain="c.example")
    assert conn.extensions.pipelining and conn.extensions.eightbitmime
    wire = b"".join(
        conn.send(e)
        for e in (Mail(reverse_path="a@b.example"), Rcpt(forward_path="c@d.example"), Rcpt(forward_path="e@f.example"), Data())
    )
    assert wire == b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n"
    assert our(conn) is State.DATA and their(conn) is State.READY
    with pytest.raises(LocalProtocolError):
        conn.send(MessageChunk(data=b"too early"))
    conn.receive_data(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n")
    replies = drain(conn)
    assert [r.command for r in replies] == [  # type: ignore[attr-defined]
        Mail(reverse_path="a@b.example"), Rcpt(forward_path="c@d.example"), Rcpt(forward_path="e@f.example"), Data()
    ]
    assert replies[2].enhanced == smtp.EnhancedStatus.parse("5.1.1")  # type: ignore[attr-defined]
    assert replies[2].lines == ("no such user",)  # type: ignore[attr-defined]
    assert their(conn) is State.DATA
    body = conn.send(MessageChunk(data=b"a\rb\nc\r\n.x")) + conn.send(EndOfMessage())
    assert body == b"a\r\nb\r\nc\r\n..x\r\n.\r\n"
    conn.receive_data(b"250 queued\r\n")
    assert isinstance(conn.next_event(), Reply)
    assert our(conn) is State.READY
    conn.send(Quit())
    conn.receive_data(b"221 bye\r\n")
    assert isinstance(conn.next_event(), Reply)
    assert our(conn) is State.CLOSED


def test_client_without_pipelining_waits() -> None:
    conn = Connection(CLIENT)
    conn.receive_data(b"220 mx\r\n")
    conn.next_event()
    conn.send(Ehlo(domain="c"))
    conn.receive_data(b"250 mx\r\n")
    conn.next_event()
    conn.send(Mail(reverse_path="a@b.example"))
    with pytest.raises(LocalProtocolError):
        conn.send(Rcpt(forward_path="c@d.example"))
    conn.receive_data(b"250 ok\r\n")
    conn.next_event()
    conn.send(Rcpt(forward_path="c@d.example"))


def test_client_failed_mail_rolls_back() -> None:
    from . import ready_client

    conn = ready_client()
    conn.send(Mail(reverse_path="a@b.example"))
    conn.send(Rcpt(forward_path="c@d.example"))
    conn.receive_data(b"550 no\r\n")
    drain(conn)
    assert their(conn) is State.READY
    # The RCPT still pending is doomed: replayed from READY it leads nowhere.
    assert our(conn) is State.READY
    assert conn.pending_commands == (Rcpt(forward_path="c@d.example"),)
    conn.receive_data(b"503 bad sequence\r\n")
    drain(conn)
    assert our(conn) is State.READY


def test_client_helo_clears_extensions() -> None:
    conn = Connection(CLIENT)
    conn.receive_data(b"220 mx\r\n")
    conn.next_event()
    conn.send(Helo(domain="c"))
    conn.receive_data(b"250 mx\r\n")
    conn.next_event()
    assert conn.extensions == smtp.Extensions()


def test_client_unexpected_reply_is_error() -> None:
    from . import ready_client

    conn = ready_client()
    conn.receive_data(b"250 unsolicited\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert their(conn) is State.ERROR


def test_client_421_anytime() -> None:
    from . import ready_client

    conn = ready_client()
    conn.receive_data(b"421 4.4.2 timeout\r\n")
    reply = conn.next_event()
    assert isinstance(reply, Reply) and reply.code == 421
    assert their(conn) is State.CLOSED


def test_client_bad_reply_lines() -> None:
    for wire in (b"hello\r\n", b"250-a\r\n251 b\r\n", b"600 x\r\n", b"25\r\n"):
        conn = Connection(CLIENT)
        conn.receive_data(wire)
        with pytest.raises(RemoteProtocolError):
            drain(conn)


def test_client_peer_close() -> None:
    conn = Connection(CLIENT)
    conn.receive_data(b"220 partial")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_client_cannot_send_replies() -> None:
    from . import ready_client

    conn = ready_client()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("x",)))
    with pytest.raises(LocalProtocolError):
        conn.send(EndOfMessage())


# --------------------------------------------------------------------------- pairs


@pytest.mark.parametrize("chunk_size", [None, 1, 4])
def test_pair_roundtrip_data(chunk_size: int | None) -> None:
    client = Connection(CLIENT)
    server = Connection(SERVER, Config(hostname="mx.example"))
    pair = ConnectionPair(client, server, chunk_size=chunk_size)
    pair.server_send(server.greeting())
    (ehlo,) = pair.client_send(Ehlo(domain="c.example"))
    pair.server_send(server.default_reply(ehlo))
    body = b".starts with a dot\n..two\r\n.\r\nnot the end\rbare cr\r\n.\n"
    events = pair.client_send(
        Mail(reverse_path="a@b.example", params=smtp.mail_params_for(client.extensions, size=len(body))),
        Rcpt(forward_path="c@d.example"),
        Data(),
    )
    assert [type(e) for e in events] == [Mail]
    for _ in range(3):
        pending = server.pending_reply_to
        assert pending is not None
        pair.server_send(server.default_reply(pending))
        pair.server_events_now()
    assert their(client) is State.DATA
    events = pair.client_send(MessageChunk(data=body[:7]), MessageChunk(data=body[7:]), EndOfMessage())
    received = content_of(pair.server_events)
    assert received == body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    assert isinstance(pair.server_events[-1], EndOfMessage)
    pair.server_send(server.default_reply(pair.server_events[-1]))
    assert our(client) is State.READY and our(server) is State.READY
    (quit_,) = pair.client_send(Quit())
    pair.server_send(server.default_reply(quit_))
    assert their(client) is State.CLOSED and our(server) is State.CLOSED


def test_pair_server_driven_refusals() -> None:
    client = Connection(CLIENT)
    server = Connection(SERVER)
    pair = ConnectionPair(client, server)
    pair.server_send(server.greeting())
    (ehlo,) = pair.client_send(Ehlo(domain="c.example"))
    pair.server_send(server.default_reply(ehlo))
    (mail,) = pair.client_send(Mail(reverse_path="spam@example.com"), Rcpt(forward_path="x@example.net"))
    (reply,) = pair.server_send(Reply(code=550, lines=("go away",), enhanced=smtp.EnhancedStatus.parse("5.7.1")))
    assert isinstance(reply, Reply) and reply.command == mail and reply.enhanced is not None
    bad = pair.server_events_now()
    assert isinstance(bad[0], BadCommand)
    (r2,) = pair.server_send(bad[0].reply_hint)
    assert isinstance(r2, Reply) and r2.code == 503 and isinstance(r2.command, Rcpt)
    assert our(client) is State.READY and their(client) is State.READY


def test_pair_rset_noop_in_both_directions() -> None:
    client = Connection(CLIENT)
    server = Connection(SERVER)
    pair = ConnectionPair(client, server, chunk_size=1)
    pair.server_send(server.greeting())
    for event in (Ehlo(domain="c"), Noop(), Rset(), smtp.Vrfy(argument="bob"), smtp.Help(argument="MAIL")):
        (received,) = pair.client_send(event)
        assert received == event
        (reply,) = pair.server_send(server.default_reply(received))
        assert isinstance(reply, Reply) and reply.command == event
    assert pair.client_wire.startswith(b"EHLO c\r\nNOOP\r\nRSET\r\nVRFY bob\r\nHELP MAIL\r\n")


# --------------------------------------------------------------------------- odds and ends


def test_constructor_and_error_states() -> None:
    with pytest.raises(ValueError):
        Connection("server")  # type: ignore[arg-type]
    conn = greeted_server()
    conn.receive_data(b"BDAT x\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    with pytest.raises(RemoteProtocolError):
        conn.next_event()  # stays in ERROR
    conn.send_failed()
    assert conn.our_state is State.ERROR
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=421, lines=("bye",)))


def test_default_replies_and_hello_property() -> None:
    conn = greeted_server()
    assert conn.default_reply(smtp.Bdat(size=1)).lines == ("Ok: chunk received",)
    assert conn.default_reply(smtp.Bdat(size=1, last=True)).lines == ("Ok: message accepted",)
    with pytest.raises(LocalProtocolError):
        conn.default_reply(MessageChunk(data=b"x"))
    assert conn.hello is None
    run_server(conn, b"EHLO client.example\r\n")
    assert conn.hello == Ehlo(domain="client.example")


def test_server_reply_code_checks() -> None:
    conn = Connection(SERVER, Config(starttls=True))
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("not a greeting",)))
    conn.send(conn.greeting())
    conn.receive_data(b"EHLO a\r\nSTARTTLS\r\n")
    conn.send(conn.default_reply(conn.next_event()))  # type: ignore[arg-type]
    assert isinstance(conn.next_event(), smtp.StartTLS)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, lines=("STARTTLS is accepted with 220",)))
    conn.send(Reply(code=220, lines=("go",)))
    assert conn.our_state is State.STARTTLS


@pytest.mark.parametrize(
    ("config", "line", "code"),
    [
        (Config(help=False), b"HELP\r\n", 502),
        (Config(), b"MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n", 501),
        (Config(), b"MAIL FROM:<a@b.example> BODY\r\n", 501),
        (Config(auth_mechanisms=("PLAIN",), require_tls_for_auth=False), b"MAIL FROM:<a@b.example> AUTH=a+zz\r\n", 501),
        (Config(auth_mechanisms=("PLAIN",), require_tls_for_auth=False), b"MAIL FROM:<a@b.example> AUTH=<>\r\n", 250),
        (Config(auth_mechanisms=("PLAIN",), require_tls_for_auth=False), b"MAIL FROM:<a@b.example> AUTH=a+2Bb@c\r\n", 250),
        (Config(), b"MAIL FROM:<a@b.example> AUTH=<>\r\n", 555),
        (Config(smtputf8=False), b"MAIL FROM:<a@b.example> SMTPUTF8\r\n", 555),
        (Config(eightbitmime=False, binarymime=False), b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n", 555),
        (Config(), b"VRFY a\x01b\r\n", 501),
    ],
)
def test_server_parameter_checks(config: Config, line: bytes, code: int) -> None:
    conn = greeted_server(config)
    _, out = run_server(conn, b"EHLO a\r\n" + line)
    assert codes(out) == [250, code]


def test_server_non_ascii_rcpt_needs_smtputf8() -> None:
    conn = greeted_server()
    _, out = run_server(conn, "EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<jöe@b.example>\r\n".encode())
    assert codes(out) == [250, 250, 553]


def test_client_sasl_response_only_after_challenge() -> None:
    from . import ready_client

    conn = ready_client("AUTH LOGIN")
    conn.send(smtp.Auth(mechanism="LOGIN"))
    with pytest.raises(LocalProtocolError):
        conn.send(smtp.AuthResponse(data=b"x"))
    with pytest.raises(LocalProtocolError):
        conn.send(smtp.AuthCancel())


def test_event_validation_edges() -> None:
    with pytest.raises(LocalProtocolError):
        Ehlo(domain=5)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        Mail(reverse_path="a@b.example", params="SIZE=5")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        Mail(reverse_path="a@b.example", params=(("SIZE",),))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        Mail(reverse_path="a@b.example", params=(("SIZE", "1"), ("size", "2")))
    with pytest.raises(LocalProtocolError):
        smtp.Bdat(size=-1)
    with pytest.raises(LocalProtocolError):
        smtp.Bdat(size=True)
    with pytest.raises(LocalProtocolError):
        smtp.Bdat(size=10**20)
    with pytest.raises(LocalProtocolError):
        Noop(argument=" padded")
    with pytest.raises(LocalProtocolError):
        smtp.AuthChallenge(data="x")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        Reply(code=250, lines=5)  # type: ignore[arg-type]
    assert Reply(code=250, lines="one").lines == ("one",)  # type: ignore[arg-type]
    assert Reply(code=250, lines=["a", "b"]).text == "a\nb"  # type: ignore[arg-type]
    assert Mail(reverse_path="a@b.example", params=(("SIZE", "x1"),)).size is None
    assert Mail(reverse_path="a@b.example").body is None
    reply = Reply(code=451, lines=("later",))
    assert reply.is_transient and not reply.is_permanent and not reply.is_positive
    assert Reply(code=354).is_intermediate and Reply(code=250).is_completion
    assert str(Reply(code=550, lines=("a", "b"), enhanced=smtp.EnhancedStatus.parse("5.1.1"))) == "550 5.1.1 a / b"


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        Config(hostname="bad host")
    with pytest.raises(TypeError):
        Config(limits=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Config(bare_lf="allow")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Config(auth_mechanisms=("BAD MECH",))
    with pytest.raises(ValueError):
        Config(max_reply_lines=0)
    assert Config(auth_mechanisms=("plain",)).auth_mechanisms == ("PLAIN",)
    assert Config().clone(lmtp=True).lmtp


def test_smtp_reply_error() -> None:
    error = smtp.SMTPReplyError(554, "5.7.1", "Relay access denied")
    assert error.reply == Reply(code=554, lines=("Relay access denied",), enhanced=smtp.EnhancedStatus.parse("5.7.1"))
    assert smtp.SMTPReplyError(450, None, "a\nb").reply.lines == ("a", "b")
    with pytest.raises(ValueError):
        smtp.SMTPReplyError(250, None, "not an error")


def test_recommended_timeouts() -> None:
    from . import ready_client

    server = greeted_server()
    assert server.recommended_timeout == 300.0
    run_server(server, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
    assert server.recommended_timeout == 180.0  # each block of content
    client = Connection(CLIENT)
    assert client.recommended_timeout == 300.0  # the greeting
    client = ready_client()
    client.send(Mail(reverse_path="a@b.example"))
    assert client.recommended_timeout == 300.0
    client.send(Rcpt(forward_path="c@d.example"))
    client.receive_data(b"250 ok\r\n250 ok\r\n")
    drain(client)
    client.send(Data())
    assert client.recommended_timeout == 120.0
    client.receive_data(b"354 go\r\n")
    drain(client)
    assert client.recommended_timeout == 180.0
    client.send(EndOfMessage())
    assert client.recommended_timeout == 600.0


def test_connection_pair_is_generic() -> None:
    """The pair drives any machine with the DESIGN.md surface: here POP3's, with its own sentinels."""
    from rfcmail import pop3

    client = pop3.Connection(pop3.CLIENT)
    server = pop3.Connection(pop3.SERVER)
    pair = ConnectionPair(client, server, stop=(pop3.NEED_DATA, pop3.PAUSED), chunk_size=1)
    received = pair.server_send(pop3.Greeting(text="POP3 ready"))
    assert received and type(received[0]).__name__ in ("Greeting", "Response")
    assert pair.server_wire.startswith(b"+OK")
